//! `inferledger sql`: SQL over a run folder's whole history (see [`super::session`]).
//! Runs a query, a file (`-f`), or the interactive prompt ([`super::prompt`]); writes the
//! last result to a file with `--output`. Read-only unless `--allow-write`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use datafusion::arrow::array::RecordBatch;

pub use super::session::{OutputFormat, Session, plain_message, print_batches, query};
use crate::common::error::{Error, Result};
use crate::read::published::AsOf;

/// Options of `sql`.
#[derive(Debug, Clone, Args)]
pub struct SqlArgs {
    /// The query (several statements separated by ';' run in turn). Without it and
    /// without --file, an interactive prompt opens.
    pub query: Option<String>,
    /// Run the statements of a .sql file.
    #[arg(long, short = 'f', conflicts_with = "query")]
    pub file: Option<PathBuf>,
    /// The run folder and config.
    #[command(flatten)]
    pub folder: super::RunFolderArgs,
    /// How to print results.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Write the (last) result to this file instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Allow statements that write or define tables (COPY, INSERT, CREATE …).
    #[arg(long)]
    pub allow_write: bool,
    /// Read the tables as an earlier run left them: a run id (or its start) from
    /// `inferledger history`, or a time (RFC 3339, `YYYY-MM-DD HH:MM`, or a day: its end),
    /// for the last run published by then.
    #[arg(long, value_name = "RUN|TIME")]
    pub as_of: Option<String>,
    /// Memory the queries may use (e.g. 2G); sorts spill to disk beyond it.
    #[arg(long, value_parser = crate::config::parse_memory_size)]
    pub memory_limit: Option<usize>,
    /// Run the queries on an Apache Ballista cluster (`inferledger cluster`), given as
    /// df://SCHEDULER_HOST:PORT; its executors read the tables where --out names them.
    #[cfg(feature = "cluster")]
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,
}

impl SqlArgs {
    /// Runs the query, the file, or the prompt.
    pub async fn run(self) -> Result<()> {
        let (config, out) = self.folder.resolve()?;
        let memory_limit = match self.memory_limit {
            Some(limit) => Some(limit),
            None => match &config {
                Some(config) => config.memory_limit()?,
                None => None,
            },
        };
        if self.format == OutputFormat::Parquet && self.output.is_none() {
            return Err(Error::Arguments(
                "--format parquet needs --output FILE".to_string(),
            ));
        }
        if let Some(path) = &self.output {
            check_output_file(path, &out, self.allow_write)?;
        }
        let as_of = self.as_of.as_deref().map(AsOf::parse);
        #[cfg(feature = "cluster")]
        let session = match &self.cluster {
            Some(scheduler) => {
                Session::open_on_cluster(
                    scheduler,
                    &out,
                    config.as_ref(),
                    self.allow_write,
                    as_of.as_ref(),
                )
                .await?
            }
            None => {
                Session::open(
                    &out,
                    config.as_ref(),
                    memory_limit,
                    self.allow_write,
                    as_of.as_ref(),
                )
                .await?
            }
        };
        #[cfg(not(feature = "cluster"))]
        let session = Session::open(
            &out,
            config.as_ref(),
            memory_limit,
            self.allow_write,
            as_of.as_ref(),
        )
        .await?;
        let sql = match (&self.query, &self.file) {
            (Some(q), _) => q.clone(),
            (None, Some(file)) => std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?,
            (None, None) => return super::prompt::run(&session, self.format),
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
    if super::real_destination(path).starts_with(super::real_destination(out)) {
        return Err(Error::Arguments(format!(
            "--output {} is inside the run folder {} (after following links): write results outside it",
            path.display(),
            out.display()
        )));
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
