//! `inferledger run`: the nightly job. Reads every source, prices each request, runs the
//! SQL steps, and publishes tables, `run_summary.json` and `report.md` atomically.

use std::path::PathBuf;
use std::time::Instant;

use chrono::NaiveDate;
use clap::Args;

use crate::common::error::{Error, Result};
use crate::common::progress::Progress;

/// Options of `run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Config file.
    #[arg(long, short, default_value = "inferledger.toml")]
    pub config: PathBuf,
    /// Output folder (default: `[run] out` of the config, else `out`).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// First day (UTC) to process, YYYY-MM-DD; partitions from here to --to are replaced.
    #[arg(long, value_parser = super::parse_date, requires = "to")]
    pub from: Option<NaiveDate>,
    /// Last day (UTC) to process, inclusive.
    #[arg(long, value_parser = super::parse_date, requires = "from")]
    pub to: Option<NaiveDate>,
    /// Memory the SQL steps may use (e.g. 2G); beyond it sorts spill to disk.
    #[arg(long, value_parser = crate::config::parse_memory_size)]
    pub memory_limit: Option<usize>,
    /// Read the request logs and run the SQL steps on an Apache Ballista cluster
    /// (`inferledger cluster`), given as df://SCHEDULER_HOST:PORT: its executors parse,
    /// price and check the logs (split into parts of about 64 MB) and run every step's
    /// query, reading the logs and the tables where this process names them (a folder
    /// every machine sees, or object storage; with --out on object storage the run's
    /// staged tables are copied there for them), and the rows come back here to be
    /// written and published. Bills and GPU metrics are read here.
    #[cfg(feature = "cluster")]
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,
}

impl RunArgs {
    /// Runs the job and prints a one-line account on stderr.
    pub async fn run(self, progress: &Progress) -> Result<()> {
        let config = super::load_config(&self.config)?;
        let out = super::output_dir(self.out.clone(), Some(&config));
        let window = match (self.from, self.to) {
            (Some(from), Some(to)) if from > to => {
                return Err(Error::Arguments(format!(
                    "--from {from} is after --to {to}"
                )));
            }
            (Some(from), Some(to)) => Some((from, to)),
            _ => None,
        };
        let started = Instant::now();
        let memory_limit = match self.memory_limit {
            Some(limit) => Some(limit),
            None => config.memory_limit()?,
        };
        #[cfg(feature = "cluster")]
        let cluster = self.cluster.as_deref();
        #[cfg(not(feature = "cluster"))]
        let cluster = None;
        let summary =
            crate::job::run_pipeline(&config, &out, window, memory_limit, cluster, progress)
                .await?;
        let seconds = started.elapsed().as_secs_f64().max(1e-9);
        let bytes: u64 = summary
            .sources
            .iter()
            .flat_map(|s| &s.ingest.files)
            .map(|f| f.bytes)
            .sum();
        for warning in &summary.warnings {
            eprintln!("warning: {warning}");
        }
        let exact = |text: &str| text.parse::<rust_decimal::Decimal>().unwrap_or_default();
        let (api, gpu) = (
            exact(&summary.totals.cost_usd),
            exact(&summary.gpu_spend.billed_usd),
        );
        let money = |amount| crate::publish::summary::money(amount, 2);
        eprintln!(
            "inferledger: {} rows read ({:.1} MB) in {:.2} s: {:.0} rows/s, {:.1} MB/s; {} kept, {} quarantined, {} duplicates, {} outside window; API {} + GPU {} billed = {} (GPU bills: {} rows); peak memory {} MiB; published {} tables in {:.2} s; wrote {}",
            summary.totals.rows_read,
            bytes as f64 / 1e6,
            seconds,
            summary.totals.rows_read as f64 / seconds,
            bytes as f64 / 1e6 / seconds,
            summary.totals.rows_kept,
            summary.totals.rows_quarantined,
            summary.totals.duplicates,
            summary.totals.rows_outside_window,
            money(api),
            money(gpu),
            money(api + gpu),
            summary.billing.iter().map(|b| b.rows_read).sum::<u64>(),
            summary.peak_rss_bytes.map_or(0, |b| b / (1024 * 1024)),
            crate::job::published_tables().len(),
            summary.publish_seconds.unwrap_or_default(),
            out.display()
        );
        Ok(())
    }
}
