//! The command line: one subcommand, one module, each with its own options struct and an
//! async `run`. `main.rs` only parses and maps errors to exit codes.

#[cfg(feature = "cluster")]
pub mod cluster;
pub mod export;
pub mod history;
pub mod prices;
pub mod prompt;
pub mod review;
pub mod run;
pub mod session;
pub mod sql;
pub mod synth;
pub mod validate;
pub mod whatif;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clap::{Parser, Subcommand};

use crate::common::error::{Error, Result};
use crate::common::progress::Progress;
use crate::config::Config;

/// inferledger: what your AI inference really costs, and what to change.
#[derive(Debug, Parser)]
#[command(name = "inferledger", version, about, long_about = None)]
pub struct Cli {
    /// Hide progress bars (they are hidden anyway when stderr is not a terminal).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the nightly job: read request logs, price them, write the tables and the report.
    Run(run::RunArgs),
    /// Check the config and every input (readable, right columns); write nothing.
    Validate(validate::ValidateArgs),
    /// Run SQL over the tables of a finished run.
    Sql(sql::SqlArgs),
    /// Show the price catalog, how a model name is priced, and which entry priced what.
    Prices(prices::PricesArgs),
    /// List the runs an output folder keeps: window, when, totals, restated days.
    History(history::HistoryArgs),
    /// Export the run folder's AI spend as FOCUS 1.2 rows (CSV or Parquet).
    Export(export::ExportArgs),
    /// Write the quarterly self-host review (review.md and its tables) from a run folder's history.
    Review(review::ReviewArgs),
    /// Write a synthetic request log (OpenAI JSONL) for benchmarks and demos.
    Synth(synth::SynthArgs),
    /// Reprice a run folder's API requests with substitute models or another price file.
    Whatif(whatif::WhatifArgs),
    /// Run a process of an Apache Ballista cluster (scheduler or executor) that `sql
    /// --cluster` queries run on.
    #[cfg(feature = "cluster")]
    Cluster(cluster::ClusterArgs),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub async fn run(self) -> Result<()> {
        let progress = Progress::new(self.quiet);
        match self.command {
            Command::Run(args) => args.run(&progress).await,
            Command::Validate(args) => args.run(&progress).await,
            Command::Sql(args) => args.run().await,
            Command::Prices(args) => args.run().await,
            Command::Review(args) => args.run().await,
            Command::Export(args) => args.run().await,
            Command::History(args) => args.run().await,
            Command::Synth(args) => args.run(&progress),
            Command::Whatif(args) => args.run().await,
            #[cfg(feature = "cluster")]
            Command::Cluster(args) => args.run().await,
        }
    }
}

/// Parses a `YYYY-MM-DD` flag.
pub fn parse_date(text: &str) -> std::result::Result<NaiveDate, String> {
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("'{text}' is not a date; expected YYYY-MM-DD"))?;
    // The days a request's time may fall on (read::time's one rule for every source).
    if !(1970..=LATEST_YEAR).contains(&chrono::Datelike::year(&day)) {
        return Err(format!(
            "'{text}' is outside the days inferledger reads, 1970-01-01 to {LATEST_YEAR}-12-31"
        ));
    }
    Ok(day)
}

/// The last year a timestamp may fall in (`read::time::LATEST_MICROS` is the start of the
/// next one).
pub const LATEST_YEAR: i32 = 2095;

/// Loads the config, saying clearly when the file is missing.
pub fn load_config(path: &Path) -> Result<Config> {
    if !path.exists() {
        return Err(Error::ConfigMissing {
            path: path.to_path_buf(),
        });
    }
    Config::load(path)
}

/// Refuses an output folder on object storage for a command that writes into it (`run`,
/// `review`, `export` without `--output`); `sql` and the other readers take one, read-only.
pub fn local_output_dir(out: &std::path::Path, command: &str) -> crate::common::error::Result<()> {
    if crate::read::remote::is_url(out) {
        return Err(crate::common::error::Error::Arguments(format!(
            "--out {}: `{command}` writes files into its output folder, which must be local \
             (`run` publishes into a folder on object storage, and `sql`, `whatif`, `prices \
             --propose` and `export --output FILE` read one there)",
            out.display()
        )));
    }
    Ok(())
}

/// How a command that reads a run folder finds it, and the config it uses when there is
/// one: `--out`, else the config's `[run] out`, else `out`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunFolderArgs {
    /// Output folder of the runs (default: `[run] out` of the config, else `out`).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Config, used when the file exists: its `[run] out` is the default output folder, and
    /// its `[prices] file`, `[economics]` and `[run] memory_limit` are used where the
    /// command needs them (a run's own recorded assumptions always win in `review`).
    #[arg(long, short, default_value = "inferledger.toml")]
    pub config: PathBuf,
}

impl RunFolderArgs {
    /// The config (when its file exists) and the output folder.
    pub fn resolve(&self) -> Result<(Option<Config>, PathBuf)> {
        let config = if self.config.exists() {
            Some(load_config(&self.config)?)
        } else {
            None
        };
        let out = output_dir(self.out.clone(), config.as_ref());
        Ok((config, out))
    }
}

/// The output folder: the flag, else `[run] out` (relative to the config), else `out`.
pub fn output_dir(flag: Option<PathBuf>, config: Option<&Config>) -> PathBuf {
    flag.or_else(|| config.and_then(|c| c.run.out.as_deref().map(|o| c.resolve(o))))
        .unwrap_or_else(|| PathBuf::from("out"))
}

/// Where a file written at `path` really lands: symlinks followed (a dangling one too, to
/// where it points), made absolute.
pub fn real_destination(path: &std::path::Path) -> PathBuf {
    let mut path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    for _ in 0..40 {
        match std::fs::read_link(&path) {
            Ok(target) => {
                let base = path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
                path = std::path::absolute(base.join(target)).unwrap_or_default();
            }
            Err(_) => break,
        }
    }
    if let Ok(real) = std::fs::canonicalize(&path) {
        return real;
    }
    // Not there yet: its folder's real path and its name.
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => real_destination(parent).join(name),
        _ => path,
    }
}

/// Refuses a file or folder a command would write (`flag` names it) that lands, after
/// symlinks, among what runs publish in `out`: a table's folder, `internal/`, the run
/// manifests, staging, or a run's own files. Readers never see such a file (Delta readers
/// read what the log names), but it would sit among the tables and be vacuumed away.
pub fn refuse_inside_tables(
    flag: &str,
    path: &std::path::Path,
    out: &std::path::Path,
) -> crate::common::error::Result<()> {
    if crate::read::remote::is_url(out) || crate::read::remote::is_url(path) {
        return Ok(());
    }
    let (real, out_real) = (real_destination(path), real_destination(out));
    let Ok(below) = real.strip_prefix(&out_real) else {
        return Ok(());
    };
    let first = below
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    let published = crate::analyze::published_steps()
        .map(|s| s.table)
        .chain(crate::analyze::RUN_TABLES)
        .chain([
            crate::analyze::INTERNAL_DIR,
            crate::read::published::RUNS_DIR,
            crate::publish::bucket::STAGING_COPIES,
        ])
        .any(|t| t == first);
    let run_file =
        below.components().count() == 1 && crate::publish::RUN_FILES.contains(&first.as_str());
    if published || run_file || first.is_empty() || first.starts_with('.') {
        return Err(crate::common::error::Error::Arguments(format!(
            "{flag} {} lands in {} inside the run folder {}, among the tables runs publish: write it outside the tables (e.g. beside {})",
            path.display(),
            real.display(),
            out.display(),
            out.display()
        )));
    }
    Ok(())
}
