//! `inferledger sql`: runs SQL over the tables of a finished run, every table registered
//! by name. Read-only: statements that write or define tables are refused.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use datafusion::arrow::array::RecordBatch;
use datafusion::execution::context::SQLOptions;
use datafusion::sql::parser::DFParser;

use crate::analysis;
use crate::error::{Error, Result};

/// Output format of `sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// Options of `sql`.
#[derive(Debug, Clone, Args)]
pub struct SqlArgs {
    /// The query (several statements separated by ';' run in turn).
    pub query: String,
    /// Output folder of a finished run.
    #[arg(long, short, default_value = "out")]
    pub out: PathBuf,
    /// How to print results.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

impl SqlArgs {
    /// Runs the statements, printing each result on stdout.
    pub async fn run(self) -> Result<()> {
        let batches = query(&self.out, &self.query).await?;
        let mut stdout = std::io::stdout().lock();
        for result in batches {
            print_batches(&mut stdout, &result, self.format)?;
        }
        Ok(())
    }
}

/// Runs every statement of `sql` over the run in `out`, read-only.
pub async fn query(out: &std::path::Path, sql: &str) -> Result<Vec<Vec<RecordBatch>>> {
    let ctx = analysis::new_context();
    let tables = analysis::register_output(&ctx, out).await?;
    let statements = DFParser::parse_sql(sql)?;
    if statements.is_empty() {
        return Err(Error::Usage("no SQL statement given".to_string()));
    }
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let mut results = Vec::new();
    for statement in statements {
        let text = statement.to_string();
        let frame = ctx.sql_with_options(&text, options).await.map_err(|e| {
            Error::Usage(format!(
                "{e}\n  tables of {}: {}",
                out.display(),
                tables.join(", ")
            ))
        })?;
        results.push(frame.collect().await?);
    }
    Ok(results)
}

/// Prints batches in a format.
pub fn print_batches(
    out: &mut impl Write,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> Result<()> {
    let io = |e| Error::io("stdout", e);
    match format {
        OutputFormat::Table => {
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
