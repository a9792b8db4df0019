//! `inferledger sql`: SQL over a run folder's whole history. Every table is registered by
//! name over all its `date=` partitions (filters on `date` prune the others), with the
//! report queries as views (`report_headline`, …), `[economics]` as a table, and
//! `cost_of(...)`. Runs a query, a file (`-f`), or an interactive prompt. Read-only unless
//! `--allow-write`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use datafusion::arrow::array::RecordBatch;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;

use crate::analyze;
use crate::common::error::{Error, Result};

/// Output format of `sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header.
    Csv,
    /// A JSON array of objects.
    Json,
    /// Parquet (needs --output).
    Parquet,
}

/// Options of `sql`.
#[derive(Debug, Clone, Args)]
pub struct SqlArgs {
    /// The query (several statements separated by ';' run in turn). Without it and
    /// without --file, an interactive prompt opens.
    pub query: Option<String>,
    /// Run the statements of a .sql file.
    #[arg(long, short = 'f', conflicts_with = "query")]
    pub file: Option<PathBuf>,
    /// Output folder of the runs (default: `[run] out` of the config, else `out`).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// How to print results.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Write the (last) result to this file instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Allow statements that write or define tables (COPY, INSERT, CREATE …).
    #[arg(long)]
    pub allow_write: bool,
    /// Memory the queries may use (e.g. 2G); sorts spill to disk beyond it.
    #[arg(long, value_parser = crate::config::parse_memory_size)]
    pub memory_limit: Option<usize>,
    /// Config for the price file `cost_of` uses, [economics] and [run] memory_limit (used when it exists).
    #[arg(long, short, default_value = "inferledger.toml")]
    pub config: PathBuf,
}

/// A session over a run folder, as `sql` sets it up.
pub struct Session {
    ctx: SessionContext,
    tables: Vec<String>,
    options: SQLOptions,
    out: PathBuf,
}

impl Session {
    /// Registers the folder's tables, the report views, economics and `cost_of`.
    pub async fn open(
        out: &Path,
        config: Option<&crate::config::Config>,
        memory_limit: Option<usize>,
        allow_write: bool,
    ) -> Result<Session> {
        let ctx = analyze::new_context_with_limit(memory_limit, None)?;
        let mut tables = crate::publish::output::register_output(&ctx, out).await?;
        // The config's [economics] when one is given (to try other assumptions), else the
        // latest run's, else the defaults.
        match config {
            Some(c) => analyze::register_economics(&ctx, &c.economics)?,
            None if ctx.table_exist("economics")? => {}
            None => analyze::register_economics(&ctx, &Default::default())?,
        }
        tables.push("economics".to_string());
        // The files in queries/review/ read the quarter to review: here, the quarter of the
        // history's latest request.
        if let Ok(frame) = ctx.sql("SELECT MAX(date) FROM requests").await
            && let Ok(batches) = frame.collect().await
            && let Some(latest) = batches
                .first()
                .and_then(|b| crate::common::arrow_util::string_at(b.column(0).as_ref(), 0))
                .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
        {
            use chrono::Datelike;
            super::review::register_review_params(&ctx, (latest.year(), latest.month0() / 3 + 1))?;
            tables.push("review_params".to_string());
        }
        let book = match config {
            Some(c) => super::load_price_book(c)?.0,
            None => crate::prices::PriceBook::builtin(),
        };
        crate::analyze::udf::register_cost_of(&ctx, book);
        for (name, sql) in crate::publish::summary::queries::VIEWS {
            // A view over tables this folder lacks (no GPU bills, say) is left out.
            if ctx
                .sql(&format!("CREATE VIEW report_{name} AS {sql}"))
                .await
                .is_ok()
            {
                tables.push(format!("report_{name}"));
            }
        }
        let options = if allow_write {
            SQLOptions::new()
        } else {
            SQLOptions::new()
                .with_allow_ddl(false)
                .with_allow_dml(false)
                .with_allow_statements(false)
        };
        Ok(Session {
            ctx,
            tables,
            options,
            out: out.to_path_buf(),
        })
    }

    /// The names of the registered tables and views.
    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    /// Runs every statement of `sql`, returning each result.
    pub async fn run(&self, sql: &str) -> Result<Vec<Vec<RecordBatch>>> {
        let statements = DFParser::parse_sql(sql)?;
        if statements.is_empty() {
            return Err(Error::Usage("no SQL statement given".to_string()));
        }
        let mut results = Vec::new();
        let state = self.ctx.state();
        for statement in statements {
            // Planned from the parsed statement (not re-printed SQL), then checked against
            // the read-only options before anything runs.
            let planned = match state.statement_to_plan(statement).await {
                Ok(plan) => self.options.verify_plan(&plan).map(|_| plan),
                Err(e) => Err(e),
            };
            let plan = planned.map_err(|e| {
                let message = e.to_string();
                if message.contains("not supported") && (message.contains("DDL") || message.contains("DML") || message.contains("Statement")) {
                    Error::Usage(format!(
                        "read-only: {message}; `inferledger sql` does not write or define tables unless run with --allow-write"
                    ))
                } else {
                    Error::Usage(format!(
                        "{message}\n  tables of {}: {}",
                        self.out.display(),
                        self.tables.join(", ")
                    ))
                }
            })?;
            let frame = self.ctx.execute_logical_plan(plan).await?;
            results.push(frame.collect().await?);
        }
        Ok(results)
    }

    /// `\d` and `\d NAME` of the prompt.
    pub async fn describe(&self, name: Option<&str>) -> Result<Vec<RecordBatch>> {
        let sql = match name {
            None => "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name".to_string(),
            Some(table) => format!(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = '{}' ORDER BY ordinal_position",
                table.replace('\'', "''")
            ),
        };
        Ok(self.ctx.sql(&sql).await?.collect().await?)
    }
}

/// Runs every statement of `sql` over the run in `out`, read-only.
pub async fn query(out: &Path, sql: &str) -> Result<Vec<Vec<RecordBatch>>> {
    Session::open(out, None, None, false).await?.run(sql).await
}

impl SqlArgs {
    /// Runs the query, the file, or the prompt.
    pub async fn run(self) -> Result<()> {
        let config = if self.config.exists() {
            Some(super::load_config(&self.config)?)
        } else {
            None
        };
        let out = super::output_dir(self.out.clone(), config.as_ref());
        let memory_limit = match self.memory_limit {
            Some(limit) => Some(limit),
            None => config
                .as_ref()
                .and_then(|c| c.run.memory_limit.as_deref())
                .map(crate::config::parse_memory_size)
                .transpose()
                .map_err(Error::Usage)?,
        };
        if self.format == OutputFormat::Parquet && self.output.is_none() {
            return Err(Error::Arguments(
                "--format parquet needs --output FILE".to_string(),
            ));
        }
        if let Some(path) = &self.output {
            check_output_file(path, &out, self.allow_write)?;
        }
        let session = Session::open(&out, config.as_ref(), memory_limit, self.allow_write).await?;
        let sql = match (&self.query, &self.file) {
            (Some(q), _) => q.clone(),
            (None, Some(file)) => std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?,
            (None, None) => return prompt(&session, self.format),
        };
        let results = session.run(&sql).await?;
        match &self.output {
            Some(path) => {
                let last = results.last().cloned().unwrap_or_default();
                write_file(path, &last, self.format)?;
                eprintln!(
                    "wrote {} rows to {}",
                    last.iter().map(|b| b.num_rows()).sum::<usize>(),
                    path.display()
                );
            }
            None => {
                let mut stdout = std::io::stdout().lock();
                for result in results {
                    print_batches(&mut stdout, &result, self.format)?;
                }
            }
        }
        Ok(())
    }
}

/// `--output` writes a file, so it needs `--allow-write`, and never inside the run folder
/// (a stray file in a table's folder would be read as part of the table).
fn check_output_file(path: &Path, out: &Path, allow_write: bool) -> Result<()> {
    if !allow_write {
        return Err(Error::Arguments(format!(
            "--output {} writes a file: add --allow-write (sql is read-only without it)",
            path.display()
        )));
    }
    let absolute = |p: &Path| {
        std::fs::canonicalize(p)
            .or_else(|_| {
                // A file not yet written: its folder's real path and its name.
                let parent = p.parent().filter(|d| !d.as_os_str().is_empty());
                let dir = std::fs::canonicalize(parent.unwrap_or(Path::new(".")))?;
                Ok::<_, std::io::Error>(dir.join(p.file_name().unwrap_or_default()))
            })
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    if absolute(path).starts_with(absolute(out)) {
        return Err(Error::Arguments(format!(
            "--output {} is inside the run folder {}: write results outside it",
            path.display(),
            out.display()
        )));
    }
    Ok(())
}

const HELP: &str = "Statements end with ';' and may span lines. \\d lists tables, \\d NAME describes one, \\q quits, \\? shows this.";

/// The interactive prompt: history, multi-line statements, `\d`, `\q`.
fn prompt(session: &Session, format: OutputFormat) -> Result<()> {
    let runtime = tokio::runtime::Handle::current();
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|e| Error::Usage(format!("cannot open the prompt: {e}")))?;
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".inferledger_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    eprintln!(
        "inferledger sql over {}: {}\n{HELP}",
        session.out.display(),
        session.tables().join(", ")
    );
    let mut buffer = String::new();
    loop {
        let line = match editor.readline(if buffer.is_empty() {
            "inferledger> "
        } else {
            "         ...> "
        }) {
            Ok(line) => line,
            Err(rustyline::error::ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(Error::Usage(format!("prompt: {e}"))),
        };
        let trimmed = line.trim();
        if buffer.is_empty() && trimmed.starts_with('\\') {
            let _ = editor.add_history_entry(trimmed);
            let mut words = trimmed.split_whitespace();
            let result = match (words.next(), words.next()) {
                (Some("\\q"), _) => break,
                (Some("\\?"), _) => {
                    eprintln!("{HELP}");
                    continue;
                }
                (Some("\\d"), name) => {
                    tokio::task::block_in_place(|| runtime.block_on(session.describe(name)))
                }
                _ => {
                    eprintln!("unknown command {trimmed}; {HELP}");
                    continue;
                }
            };
            match result {
                Ok(batches) => {
                    print_batches(&mut std::io::stdout().lock(), &batches, OutputFormat::Table)?
                }
                Err(e) => eprintln!("error: {e}"),
            }
            continue;
        }
        if trimmed.is_empty() && buffer.is_empty() {
            continue;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if !trimmed.ends_with(';') {
            continue;
        }
        let statement = std::mem::take(&mut buffer);
        let _ = editor.add_history_entry(statement.trim());
        match tokio::task::block_in_place(|| runtime.block_on(session.run(&statement))) {
            Ok(results) => {
                let mut stdout = std::io::stdout().lock();
                for result in results {
                    print_batches(&mut stdout, &result, format)?;
                }
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

fn write_file(path: &Path, batches: &[RecordBatch], format: OutputFormat) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    if format == OutputFormat::Parquet {
        let schema = batches
            .first()
            .map(|b| b.schema())
            .ok_or_else(|| Error::Usage("the query returned no batches to write".to_string()))?;
        let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(file, schema, None)?;
        for batch in batches {
            writer.write(batch)?;
        }
        writer.close()?;
        return Ok(());
    }
    let mut writer = std::io::BufWriter::new(file);
    print_batches(&mut writer, batches, format)?;
    writer.flush().map_err(|e| Error::io(path, e))
}

/// Prints batches in a format.
pub fn print_batches(
    out: &mut impl Write,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> Result<()> {
    let io = |e| Error::io("stdout", e);
    match format {
        OutputFormat::Table | OutputFormat::Parquet => {
            let text = datafusion::arrow::util::pretty::pretty_format_batches(batches)?;
            writeln!(out, "{text}").map_err(io)?;
        }
        OutputFormat::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = datafusion::arrow::json::ArrayWriter::new(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            writeln!(out).map_err(io)?;
        }
    }
    Ok(())
}
