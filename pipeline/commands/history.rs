//! `inferledger history`: the runs an output folder keeps (`[run] keep_runs`), oldest first:
//! each run's id, window, when it published, its headline totals and the days it restated,
//! as the run manifests record them (`read::published`). `sql --as-of RUN` reads the
//! tables as one of them left them.

use clap::Args;

use crate::common::error::{Error, Result};
use crate::read::published::OutputFolder;

/// Options of `history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// The run folder and config.
    #[command(flatten)]
    pub folder: super::RunFolderArgs,
    /// Print the manifests as JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl HistoryArgs {
    /// Prints the runs.
    pub async fn run(self) -> Result<()> {
        let (_, out) = self.folder.resolve()?;
        let folder = OutputFolder::new(&out)?;
        let manifests = folder.manifests().await?;
        if manifests.is_empty() {
            return Err(Error::NoRun {
                out: out.clone(),
                advice: format!(
                    " holds no runs; run `inferledger run --out {}` first",
                    out.display()
                ),
            });
        }
        let mut stdout = std::io::stdout().lock();
        use std::io::Write;
        let failed = |e| Error::io("stdout", e);
        if self.json {
            for manifest in &manifests {
                writeln!(stdout, "{}", serde_json::to_string(manifest)?).map_err(failed)?;
            }
            return Ok(());
        }
        writeln!(
            stdout,
            "{:<34} {:<23} {:<24} {:>10} {:>10} {:>16} {:>16} {:>9}",
            "run",
            "window",
            "published",
            "rows read",
            "kept",
            "API cost USD",
            "GPU billed USD",
            "restated"
        )
        .map_err(failed)?;
        for m in &manifests {
            let restated_days: std::collections::BTreeSet<&str> =
                m.restated.iter().map(|r| r.day.as_str()).collect();
            writeln!(
                stdout,
                "{:<34} {:<23} {:<24} {:>10} {:>10} {:>16} {:>16} {:>9}",
                m.run_id,
                format!("{} to {}", m.window[0], m.window[1]),
                m.finished_at,
                m.totals.rows_read,
                m.totals.rows_kept,
                m.totals.api_cost_usd,
                m.totals.gpu_billed_usd,
                if restated_days.is_empty() {
                    "-".to_string()
                } else {
                    format!("{} days", restated_days.len())
                }
            )
            .map_err(failed)?;
            for r in &m.restated {
                writeln!(
                    stdout,
                    "    restated {} {}: {} -> {}",
                    r.day, r.table, r.old_total, r.new_total
                )
                .map_err(failed)?;
            }
        }
        Ok(())
    }
}
