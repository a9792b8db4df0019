//! The SQL session over a run folder that `sql`, its prompt, `export` and `prices` share:
//! every table registered by name over all its `date=` partitions, the report queries as
//! views, `[economics]`, `cost_of(...)`; read-only unless asked; results printed as a
//! table, CSV or JSON; DataFusion's errors in plain words.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::ValueEnum;
use datafusion::arrow::array::RecordBatch;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;

use crate::analyze;
use crate::common::error::{Error, Result};
use crate::read::published::AsOf;

/// The names Tab completes: tables and views, and each one's columns.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Table and view names.
    pub tables: Vec<String>,
    /// Column names by table.
    pub columns: BTreeMap<String, Vec<String>>,
}

impl Names {
    /// The completions of the word ending at `pos` in `line`: where the word starts, and
    /// the names it may become, sorted. `table.col` completes that table's columns; a
    /// bare word completes tables, columns and (at the start of a line) backslash
    /// commands.
    pub fn complete(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '\\'))
            .map_or(0, |i| {
                i + before[i..].chars().next().map_or(1, char::len_utf8)
            });
        let word = &before[start..];
        let lower = word.to_ascii_lowercase();
        let mut found: Vec<String> = Vec::new();
        if let Some((table, column)) = word.split_once('.') {
            let column = column.to_ascii_lowercase();
            if let Some(columns) = self.columns.get(table) {
                found.extend(
                    columns
                        .iter()
                        .filter(|c| c.to_ascii_lowercase().starts_with(&column))
                        .cloned(),
                );
            }
            found.sort();
            return (start + table.len() + 1, found);
        }
        if word.starts_with('\\') {
            found.extend(
                ["\\d", "\\x", "\\r", "\\q", "\\?"]
                    .iter()
                    .filter(|c| c.starts_with(word))
                    .map(|c| c.to_string()),
            );
        } else if !word.is_empty() {
            let names = self
                .tables
                .iter()
                .chain(self.columns.values().flatten())
                .filter(|n| n.to_ascii_lowercase().starts_with(&lower));
            found.extend(names.cloned());
        }
        found.sort();
        found.dedup();
        (start, found)
    }
}

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
        as_of: Option<&AsOf>,
    ) -> Result<Session> {
        let ctx = analyze::new_context_with_limit(memory_limit, None)?;
        Session::open_in(ctx, out, config, allow_write, as_of).await
    }

    /// [`Session::open`] with queries run on an Apache Ballista cluster: `scheduler` is its
    /// `df://HOST:PORT`. The tables are read by the cluster's executors, where the folder
    /// names them (a folder every machine sees, or object storage).
    #[cfg(feature = "cluster")]
    pub async fn open_on_cluster(
        scheduler: &str,
        out: &Path,
        config: Option<&crate::config::Config>,
        allow_write: bool,
        as_of: Option<&AsOf>,
    ) -> Result<Session> {
        let ctx = analyze::cluster::connect(scheduler, &analyze::new_context()).await?;
        // Absolute paths: the executors do not share this process's working folder.
        let out = if crate::read::remote::is_url(out) {
            out.to_path_buf()
        } else {
            std::path::absolute(out).map_err(|e| Error::io(out, e))?
        };
        Session::open_in(ctx, &out, config, allow_write, as_of).await
    }

    async fn open_in(
        ctx: SessionContext,
        out: &Path,
        config: Option<&crate::config::Config>,
        allow_write: bool,
        as_of: Option<&AsOf>,
    ) -> Result<Session> {
        crate::publish::output::register_output(&ctx, out, as_of).await?;
        // The config's [economics] when one is given (to try other assumptions), else the
        // latest run's, else the defaults.
        match config {
            Some(c) => analyze::register_economics(&ctx, &c.economics)?,
            None if ctx.table_exist("economics")? => {}
            None => analyze::register_economics(&ctx, &Default::default())?,
        }
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
            // The review's plan, which its next-quarter forecast reads (left out where this
            // folder lacks its tables).
            let plan = super::review::SECTIONS
                .iter()
                .find(|(_, table, _)| *table == "plan")
                .map(|(_, _, sql)| *sql)
                .expect("the review has a plan");
            let _ = ctx.sql(&format!("CREATE VIEW review_plan AS {plan}")).await;
        }
        let book = match config {
            Some(c) => crate::prices::load_price_book(c)?.0,
            None => crate::prices::PriceBook::builtin(),
        };
        crate::analyze::functions::udf::register_cache_read_discount(&ctx, Arc::new(book.clone()));
        crate::analyze::functions::udf::register_cost_of(&ctx, book);
        // What `queries/whatif/reprice.sql` reads: no substitutes, every day.
        analyze::register_whatif_map(&ctx, &[])?;
        analyze::register_whatif_window(&ctx, None, None, 0.0)?;
        for (name, sql) in crate::publish::figures::queries::VIEWS {
            // A view over tables this folder lacks (no GPU bills, say) is left out.
            let _ = ctx
                .sql(&format!("CREATE VIEW report_{name} AS {sql}"))
                .await;
        }
        let options = if allow_write {
            SQLOptions::new()
        } else {
            SQLOptions::new()
                .with_allow_ddl(false)
                .with_allow_dml(false)
                .with_allow_statements(false)
        };
        let mut session = Session {
            ctx,
            tables: Vec::new(),
            options,
            out: out.to_path_buf(),
        };
        // Every name `\d` lists (internal tables and views included), for errors and the
        // prompt's banner.
        session.tables = session.table_names().await?;
        Ok(session)
    }

    /// The session's DataFusion context (commands built on the session register their own
    /// tables and functions in it).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The names of the registered tables and views.
    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    /// Runs every statement of `sql`, returning each result.
    pub async fn run(&self, sql: &str) -> Result<Vec<Vec<RecordBatch>>> {
        refuse_too_many_set_operations(sql)?;
        let statements = DFParser::parse_sql(sql)?;
        if statements.is_empty() {
            return Err(Error::Usage("no SQL statement given".to_string()));
        }
        let mut results = Vec::new();
        let state = self.ctx.state();
        for statement in statements {
            // Planned from the parsed statement (not re-printed SQL), then checked against
            // the read-only options before anything runs.
            let plan = match state.statement_to_plan(statement.clone()).await {
                Ok(plan) => plan,
                Err(e) => return Err(self.planning_error(&statement, e)),
            };
            if self.options.verify_plan(&plan).is_err() {
                // The options refuse only statements that write or define.
                return Err(Error::ReadOnly {
                    kind: writing_kind(&plan),
                });
            }
            let frame = self.ctx.execute_logical_plan(plan).await?;
            results.push(frame.collect().await?);
        }
        Ok(results)
    }

    /// Why a statement did not plan: a table it names that the session lacks (with the
    /// tables it has), else DataFusion's message in plain words.
    fn planning_error(
        &self,
        statement: &datafusion::sql::parser::Statement,
        error: datafusion::error::DataFusionError,
    ) -> Error {
        let state = self.ctx.state();
        if let Ok(references) = state.resolve_table_references(statement) {
            for reference in references {
                if !self.ctx.table_exist(reference.clone()).unwrap_or(true) {
                    return Error::UnknownTable {
                        table: reference.to_string(),
                        out: self.out.clone(),
                        tables: self.tables.clone(),
                    };
                }
            }
        }
        Error::Usage(plain_message(&error))
    }

    /// The run folder.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// An error as the prompt shows it: DataFusion's own message, without its wrapping.
    pub fn explain(&self, error: &Error) -> String {
        match error {
            Error::DataFusion(e) => plain_message(e),
            other => other.to_string(),
        }
    }

    /// Every table and view `\d` lists.
    async fn table_names(&self) -> Result<Vec<String>> {
        let mut tables = Vec::new();
        for batch in self.describe(None).await? {
            for row in 0..batch.num_rows() {
                if let Some(name) =
                    crate::common::arrow_util::string_at(batch.column(0).as_ref(), row)
                {
                    tables.push(name);
                }
            }
        }
        Ok(tables)
    }

    /// Every table and view `\d` lists, with its columns, for the banner and Tab.
    pub async fn names(&self) -> Result<Names> {
        let mut names = Names {
            tables: self.tables.clone(),
            ..Names::default()
        };
        let columns = self
            .ctx
            .sql("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position")
            .await?
            .collect()
            .await?;
        for batch in &columns {
            for row in 0..batch.num_rows() {
                let cell = |i: usize| {
                    crate::common::arrow_util::string_at(batch.column(i).as_ref(), row)
                        .unwrap_or_default()
                };
                names.columns.entry(cell(0)).or_default().push(cell(1));
            }
        }
        Ok(names)
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

/// What a refused plan would have done: DDL, DML (COPY among them) or a statement, and
/// which.
fn writing_kind(plan: &datafusion::logical_expr::LogicalPlan) -> String {
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::logical_expr::LogicalPlan;
    let mut kind = None;
    let _ = plan.apply_with_subqueries(|node| {
        kind = match node {
            LogicalPlan::Ddl(ddl) => Some(format!("DDL ({})", ddl.name())),
            LogicalPlan::Dml(dml) => Some(format!("DML ({})", dml.op)),
            LogicalPlan::Copy(_) => Some("DML (COPY)".to_string()),
            LogicalPlan::Statement(statement) => Some(format!("statement ({})", statement.name())),
            _ => None,
        };
        Ok(if kind.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    kind.unwrap_or_else(|| "writing".to_string())
}

/// The most set operations (`UNION`, `INTERSECT`, `EXCEPT`) one statement may combine.
/// DataFusion's planner takes time in their square (each level of the left-deep union
/// recomputes the spans, names and schemas below it; measured with perf): in a release
/// build 2,000 plan in about 3 s and twice as many in four times that, so 20,000 would
/// take minutes.
pub const MAX_SET_OPERATIONS: usize = 4_096;

/// Refuses, before any parsing or planning, a statement combining more than
/// [`MAX_SET_OPERATIONS`] set operations: counted on the tokens (linear time), so the
/// error comes at once.
fn refuse_too_many_set_operations(sql: &str) -> Result<()> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    // A text the tokenizer cannot read is left for the parser to explain.
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return Ok(());
    };
    let mut statement = 1;
    let mut operations = 0;
    for token in tokens {
        match token {
            Token::SemiColon => {
                statement += 1;
                operations = 0;
            }
            Token::Word(word)
                if matches!(
                    word.keyword,
                    Keyword::UNION | Keyword::INTERSECT | Keyword::EXCEPT
                ) =>
            {
                operations += 1;
                if operations > MAX_SET_OPERATIONS {
                    return Err(Error::Usage(format!(
                        "statement {statement} combines more than {MAX_SET_OPERATIONS} set operations (UNION, INTERSECT, EXCEPT): planning grows with their square, so inferledger refuses it rather than run for minutes; split it into several statements, or put the rows in a file and read it as a table (CREATE EXTERNAL TABLE … STORED AS CSV, with --allow-write)"
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// DataFusion's message for an error, as a user wants it: a syntax error as `syntax
/// error: …` (not `SQL error: ParserError("…")`), no backtrace, and a schema error's
/// first line (the list of every valid field that follows is left to `\d TABLE`).
pub fn plain_message(error: &datafusion::error::DataFusionError) -> String {
    use datafusion::error::DataFusionError;
    use datafusion::sql::sqlparser::parser::ParserError;
    let root = error.find_root();
    if let DataFusionError::SQL(parser_error, _) = root {
        return match parser_error.as_ref() {
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => {
                format!("syntax error: {m}")
            }
            other => format!("syntax error: {other}"),
        };
    }
    let text = root.strip_backtrace();
    match text.split_once("\nValid fields are") {
        Some((first, _)) => format!("{first} (\\d TABLE lists its columns)"),
        None => text,
    }
}

/// Runs every statement of `sql` over the run in `out`, read-only.
pub async fn query(out: &Path, sql: &str) -> Result<Vec<Vec<RecordBatch>>> {
    Session::open(out, None, None, false, None)
        .await?
        .run(sql)
        .await
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
