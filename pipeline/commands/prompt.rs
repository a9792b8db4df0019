//! The interactive prompt of `inferledger sql`, after datafusion-cli's and DuckDB's shells:
//! statements end with `;` and may span lines; backslash commands (`\d`, `\x`, `\q`, …)
//! work even inside an unfinished statement (they are never sent as SQL); each result is
//! followed by its row count and time; wide rows switch to an expanded, one-field-per-line
//! layout; Tab completes table and column names; errors say what DataFusion said, without
//! its wrapping.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use super::session::{Names, OutputFormat, Session, print_batches};
use crate::common::error::{Error, Result};

const HELP: &str = "Statements end with ';' and may span lines. \\d lists tables, \\d NAME describes one, \\x [on|off|auto] sets the expanded layout (one field per line; auto: when a table is wider than the terminal), \\r clears an unfinished statement, \\q quits, \\? shows this. Tab completes table and column names.";

/// How results are laid out in the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Always one row per line.
    Table,
    /// Always one field per line.
    Expanded,
    /// Expanded when the table would be wider than the terminal.
    Auto,
}

/// rustyline's hook for Tab.
struct PromptHelper {
    names: Names,
}

impl Completer for PromptHelper {
    type Candidate = String;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(self.names.complete(line, pos))
    }
}
impl Hinter for PromptHelper {
    type Hint = String;
}
impl Highlighter for PromptHelper {}
impl Validator for PromptHelper {}
impl Helper for PromptHelper {}

/// Width of the terminal the results go to, in columns: the terminal's, else `COLUMNS`,
/// else 120.
fn terminal_width() -> usize {
    console::Term::stdout()
        .size_checked()
        .map(|(_, cols)| usize::from(cols))
        .or_else(|| std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()))
        .unwrap_or(120)
}

/// Rows as `-[ RECORD n ]-` blocks of `column | value` lines, as psql's `\x` prints them.
pub fn expanded(batches: &[RecordBatch]) -> Result<String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut text = String::new();
    let mut record = 0;
    for batch in batches {
        let schema = batch.schema();
        let width = schema
            .fields()
            .iter()
            .map(|f| f.name().chars().count())
            .max()
            .unwrap_or(0);
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            record += 1;
            text.push_str(&format!("-[ RECORD {record} ]-\n"));
            for (field, formatter) in schema.fields().iter().zip(&formatters) {
                text.push_str(&format!(
                    "{:<width$} | {}\n",
                    field.name(),
                    formatter.value(row)
                ));
            }
        }
    }
    Ok(text)
}

/// Prints one result in the prompt's layout, then its row count and time.
fn show(
    out: &mut impl Write,
    batches: &[RecordBatch],
    format: OutputFormat,
    layout: Layout,
    started: Instant,
) -> Result<()> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let io = |e| Error::io("stdout", e);
    let is_table = format == OutputFormat::Table;
    if is_table && rows > 0 && layout != Layout::Table {
        let table = datafusion::arrow::util::pretty::pretty_format_batches(batches)?.to_string();
        let wide = table.lines().next().map_or(0, |l| l.chars().count()) > terminal_width();
        if layout == Layout::Expanded || wide {
            write!(out, "{}", expanded(batches)?).map_err(io)?;
        } else {
            writeln!(out, "{table}").map_err(io)?;
        }
    } else {
        print_batches(out, batches, format)?;
    }
    out.flush().map_err(io)?;
    eprintln!(
        "({rows} row{} in {:.3} s)",
        if rows == 1 { "" } else { "s" },
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What one line of input did.
enum Step {
    /// Keep reading.
    Continue,
    /// `\q`.
    Quit,
}

/// The prompt's state between lines.
struct Prompt<'a> {
    session: &'a Session,
    format: OutputFormat,
    layout: Layout,
    /// The unfinished statement.
    buffer: String,
}

impl Prompt<'_> {
    fn block_on<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        let runtime = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| runtime.block_on(work))
    }

    /// A backslash command, whether or not a statement is open (it stays open).
    fn command(&mut self, line: &str) -> Result<Step> {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("\\q"), _) => return Ok(Step::Quit),
            (Some("\\?"), _) => eprintln!("{HELP}"),
            (Some("\\r"), _) => {
                self.buffer.clear();
                eprintln!("(statement cleared)");
            }
            (Some("\\x"), mode) => {
                self.layout = match mode {
                    Some("on") => Layout::Expanded,
                    Some("off") => Layout::Table,
                    Some("auto") => Layout::Auto,
                    None if self.layout == Layout::Expanded => Layout::Table,
                    None => Layout::Expanded,
                    Some(other) => {
                        eprintln!("\\x takes on, off or auto, not {other}");
                        return Ok(Step::Continue);
                    }
                };
                eprintln!(
                    "expanded layout {}",
                    match self.layout {
                        Layout::Expanded => "on",
                        Layout::Table => "off",
                        Layout::Auto => "auto (when wider than the terminal)",
                    }
                );
            }
            (Some("\\d"), name) => {
                let started = Instant::now();
                match self.block_on(self.session.describe(name)) {
                    Ok(batches) if name.is_some() && batches.iter().all(|b| b.num_rows() == 0) => {
                        eprintln!(
                            "error: no table named {}; \\d lists them",
                            name.unwrap_or_default()
                        )
                    }
                    Ok(batches) => show(
                        &mut std::io::stdout().lock(),
                        &batches,
                        OutputFormat::Table,
                        Layout::Table,
                        started,
                    )?,
                    Err(e) => eprintln!("error: {}", self.session.explain(&e)),
                }
            }
            _ => eprintln!("unknown command {line}; {HELP}"),
        }
        if !self.buffer.is_empty() {
            eprintln!(
                "(the statement you started is still open: end it with ';', or \\r clears it)"
            );
        }
        Ok(Step::Continue)
    }

    fn line(&mut self, line: &str) -> Result<Step> {
        let trimmed = line.trim();
        if trimmed.starts_with('\\') {
            return self.command(trimmed);
        }
        if trimmed.is_empty() && self.buffer.is_empty() {
            return Ok(Step::Continue);
        }
        self.buffer.push_str(line);
        self.buffer.push('\n');
        if !trimmed.ends_with(';') {
            return Ok(Step::Continue);
        }
        let statement = std::mem::take(&mut self.buffer);
        let started = Instant::now();
        match self.block_on(self.session.run(&statement)) {
            Ok(results) => {
                let mut stdout = std::io::stdout().lock();
                for result in results {
                    show(&mut stdout, &result, self.format, self.layout, started)?;
                }
            }
            Err(e) => eprintln!("error: {}", self.session.explain(&e)),
        }
        Ok(Step::Continue)
    }
}

/// Runs the prompt until `\q` or end of input.
pub fn run(session: &Session, format: OutputFormat) -> Result<()> {
    let runtime = tokio::runtime::Handle::current();
    let names = tokio::task::block_in_place(|| runtime.block_on(session.names()))?;
    let mut editor: Editor<PromptHelper, DefaultHistory> =
        Editor::new().map_err(|e| Error::Usage(format!("cannot open the prompt: {e}")))?;
    let tables = names.tables.join(", ");
    editor.set_helper(Some(PromptHelper { names }));
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".inferledger_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    eprintln!(
        "inferledger sql over {}: {tables}\n{HELP}",
        session.out().display()
    );
    let mut prompt = Prompt {
        session,
        format,
        layout: Layout::Auto,
        buffer: String::new(),
    };
    loop {
        let line = match editor.readline(if prompt.buffer.is_empty() {
            "inferledger> "
        } else {
            "         ...> "
        }) {
            Ok(line) => line,
            Err(rustyline::error::ReadlineError::Interrupted) => {
                prompt.buffer.clear();
                continue;
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(Error::Usage(format!("prompt: {e}"))),
        };
        let trimmed = line.trim();
        if trimmed.starts_with('\\') {
            let _ = editor.add_history_entry(trimmed);
        }
        let buffered = !prompt.buffer.is_empty() || !trimmed.starts_with('\\');
        if let Step::Quit = prompt.line(&line)? {
            break;
        }
        if buffered && prompt.buffer.is_empty() && !trimmed.is_empty() && !trimmed.starts_with('\\')
        {
            // A statement just ran: the whole of it is one history entry.
            let _ = editor.add_history_entry(trimmed);
        }
    }
    if !prompt.buffer.trim().is_empty() {
        eprintln!("(an unfinished statement was not run: it lacks its ';')");
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn names() -> Names {
        Names {
            tables: vec![
                "requests".into(),
                "report_headline".into(),
                "run_params".into(),
            ],
            columns: BTreeMap::from([(
                "requests".to_string(),
                vec![
                    "request_id".into(),
                    "cost_usd".into(),
                    "cache_read_tokens".into(),
                ],
            )]),
        }
    }

    #[test]
    fn completes_tables_columns_and_commands() {
        let n = names();
        // "SELECT * FROM re|" → the tables and columns starting with "re".
        assert_eq!(
            n.complete("SELECT * FROM re", 16),
            (
                14,
                vec![
                    "report_headline".to_string(),
                    "request_id".into(),
                    "requests".into()
                ]
            )
        );
        // "requests.ca|" → that table's columns after the dot.
        assert_eq!(
            n.complete("SELECT requests.ca", 18),
            (16, vec!["cache_read_tokens".to_string()])
        );
        assert_eq!(
            n.complete("\\", 1),
            (
                0,
                vec![
                    "\\?".to_string(),
                    "\\d".into(),
                    "\\q".into(),
                    "\\r".into(),
                    "\\x".into()
                ]
            )
        );
        assert_eq!(n.complete("SELECT ", 7), (7, Vec::<String>::new()));
    }

    #[test]
    fn expanded_layout_is_one_field_per_line() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("model", DataType::Utf8, true),
            Field::new("requests", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("gpt-4o"), None])),
                Arc::new(Int64Array::from(vec![3, 4])),
            ],
        )
        .unwrap();
        assert_eq!(
            expanded(&[batch]).unwrap(),
            "-[ RECORD 1 ]-\nmodel    | gpt-4o\nrequests | 3\n-[ RECORD 2 ]-\nmodel    | NULL\nrequests | 4\n"
        );
    }
}
