//! The output folder: one writer at a time, a run's private staging folder, and reading a
//! finished run's tables back.
//!
//! - A run holds an exclusive lock on `OUT/.inferledger.lock` for its whole life (an OS file
//!   lock, released by the kernel when the process dies, so a killed run leaves no stale
//!   lock); a second run fails at once, naming the holder.
//! - A run writes everything aside (`OUT/.staging-…`) and publishes it as Delta commits
//!   (`publish::delta`). Staging folders of killed runs are removed by the next run.
//! - [`register_output`] registers every table of one run (the latest, or `--as-of`'s) for
//!   `sql`, `review`, `export` and `whatif`.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use datafusion::prelude::SessionContext;

use crate::analyze::{INTERNAL_DIR, RUN_TABLES, internal_tables, published_steps};
use crate::common::error::{Error, Result};
use crate::read::published::{AsOf, PublishedRun};

/// The lock file inside the output folder.
pub const LOCK_FILE: &str = ".inferledger.lock";
pub use super::{CRASH_ENV, RUN_FILES};

/// Exclusive right to write an output folder, held until dropped.
#[derive(Debug)]
pub struct OutputLock {
    file: File,
}

impl OutputLock {
    /// Takes the lock on `out` (creating the folder), or says who holds it. Then removes
    /// killed runs' staging folders.
    pub fn acquire(out: &Path) -> Result<OutputLock> {
        // The readers of a run folder list its tables by URL, where these are patterns: a
        // run into such a folder did all its work and then could not read its own tables.
        if out.to_string_lossy().contains(['*', '?', '[']) {
            return Err(Error::Arguments(format!(
                "--out {} holds a glob character (* ? [), which the table readers would take as a pattern; choose a folder name without them",
                out.display()
            )));
        }
        if out.exists() && !out.is_dir() {
            return Err(Error::Arguments(format!(
                "--out {} is a file; expected a folder for the tables (it is created if missing)",
                out.display()
            )));
        }
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let path = out.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(Error::OutputBusy {
                    out: out.to_path_buf(),
                    holder: holder.trim().to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        let holder = format!(
            "pid {}, started {}",
            std::process::id(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        file.set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| file.write_all(holder.as_bytes()))
            .map_err(|e| Error::io(&path, e))?;
        remove_stale_staging(out)?;
        Ok(OutputLock { file })
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// Removes `.staging-*` folders: with the lock held, no run is using them.
fn remove_stale_staging(out: &Path) -> Result<()> {
    for entry in std::fs::read_dir(out)
        .map_err(|e| Error::io(out, e))?
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with(".staging-") && entry.path().is_dir() {
            std::fs::remove_dir_all(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
        }
    }
    Ok(())
}

/// A run's private folder inside the output folder; removed when dropped.
#[derive(Debug)]
pub struct Staging {
    root: PathBuf,
    name: String,
}

impl Staging {
    /// Creates `out/.staging-<pid>-<nanos>/`. The caller holds the [`OutputLock`].
    pub fn create(out: &Path, _lock: &OutputLock) -> Result<Staging> {
        Staging::create_in(out)
    }

    /// Creates `parent/.staging-<pid>-<nanos>/`: for a run whose output folder is on object
    /// storage, in the machine's temporary folder (`TMPDIR`), published from there.
    pub fn create_in(out: &Path) -> Result<Staging> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!(".staging-{}-{nanos}", std::process::id());
        let root = out.join(&name);
        std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        Ok(Staging { root, name })
    }

    /// Removes the `.staging-<pid>-…` folders in `parent` (the temporary folder, shared by
    /// runs into different buckets) whose process is no longer running: what a killed run
    /// staged. A folder whose process id lives on (or where `/proc` cannot tell) is kept.
    pub fn remove_orphans_in(parent: &Path) {
        let proc = Path::new("/proc");
        if !proc.join("self").exists() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(parent) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix(".staging-")
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
            else {
                continue;
            };
            if !proc.join(pid.to_string()).exists() && entry.path().is_dir() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Its name (`.staging-<pid>-<nanos>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where ingest writes staged rows.
    pub fn input_dir(&self) -> PathBuf {
        self.root.join("input")
    }

    /// Where DataFusion spills sorts that exceed the memory limit.
    pub fn spill_dir(&self) -> PathBuf {
        self.root.join("spill")
    }

    /// Where the steps write their tables.
    pub fn tables_dir(&self) -> PathBuf {
        self.root.join("tables")
    }

    /// Where the run's files (report, summary) wait for publication.
    pub fn files_dir(&self) -> PathBuf {
        self.root.join("files")
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Writes a file whole or not at all (write aside, then rename).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, contents).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Registers every table of one run in an output folder by name: the latest run's, or the
/// one `as_of` picks. Returns the table names.
pub async fn register_output(
    ctx: &SessionContext,
    out: &Path,
    as_of: Option<&AsOf>,
) -> Result<Vec<String>> {
    let run = PublishedRun::open(out, as_of).await?;
    let Some(manifest) = &run.manifest else {
        let legacy = crate::publish::convert::is_legacy(&run.folder).await?;
        return Err(Error::NoRun {
            out: out.to_path_buf(),
            advice: if legacy {
                format!(
                    " was written by an earlier inferledger (plain Parquet folders); the next `inferledger run --out {}` converts it to Delta tables in place, keeping every row",
                    out.display()
                )
            } else {
                no_tables_advice(out)
            },
        });
    };
    let mut names = Vec::new();
    let published = published_steps()
        .map(|s| (s.table, s.table))
        .chain(RUN_TABLES.into_iter().map(|t| (t, t)));
    for (name, relative) in published {
        if let Some(version) = manifest.tables.get(relative)
            && run
                .folder
                .register(ctx, name, relative, *version, None)
                .await?
        {
            names.push(name.to_string());
        }
    }
    // The run's internal tables.
    for table in internal_tables() {
        let relative = format!("{INTERNAL_DIR}/{table}");
        if let Some(version) = manifest.tables.get(&relative) {
            run.folder
                .register(ctx, table, &relative, *version, None)
                .await?;
        }
    }
    // The staged requests, for queries/requests.sql: the published requests hold every
    // staged column (duplicates are gone; the dedupe has nothing left to do).
    if names.iter().any(|n| n == "requests") {
        let columns = crate::sources::requests::canonical::staged_requests_schema()
            .fields()
            .iter()
            .map(|f| format!("\"{}\"", f.name()))
            .collect::<Vec<_>>()
            .join(", ");
        let view = ctx.sql(&format!("SELECT {columns} FROM requests")).await?;
        ctx.register_table("requests_staged", view.into_view())?;
        // The requests summed by day that the aggregate steps and the report queries read,
        // and the trailing days' sums of spend_anomalies and spend_forecast: here, both over
        // every request (views, not the latest run's window).
        let daily = crate::analyze::REQUESTS_DAILY;
        for name in [
            daily.table,
            crate::analyze::history::REQUESTS_DAILY_TRAILING,
        ] {
            let view = ctx.sql(daily.sql().expect("an SQL step")).await?;
            ctx.register_table(name, view.into_view())?;
        }
        crate::analyze::register_request_step_views(ctx).await?;
    }
    // The rules' union, which queries/recommendations.sql reads (a folder missing a table
    // a rule reads goes without it).
    if names.iter().any(|n| n == "recommendations") {
        let _ = crate::analyze::register_recommendation_findings_view(ctx).await;
    }
    if names.is_empty() {
        return Err(Error::NoRun {
            out: out.to_path_buf(),
            advice: no_tables_advice(out),
        });
    }
    Ok(names)
}

/// What to say of a folder with no tables: what to run.
fn no_tables_advice(out: &Path) -> String {
    format!(
        " holds no inferledger tables; run `inferledger run --out {}` first",
        out.display()
    )
}
