//! The output folder: one writer at a time, and publication that a crash cannot leave
//! half done.
//!
//! - A run holds an exclusive lock on `OUT/.inferledger.lock` for its whole life (an OS file
//!   lock, released by the kernel when the process dies, so a killed run leaves no stale
//!   lock); a second run fails at once, naming the holder.
//! - A run writes everything aside (`OUT/.staging-…`). To publish, it first writes the
//!   list of renames it will make to `OUT/.publish-journal.json`, then makes them, then
//!   deletes the journal. Each rename is idempotent, so a publication that was killed is
//!   rolled forward by the next run, or by `sql`, `review` and `export` before they read:
//!   readers see the old run or the new one, never a mix.
//! - Day-partitioned tables are replaced one partition at a time (the window's days only);
//!   run-scoped tables, `internal/`, the report and the summary are replaced whole.
//! - Staging folders of killed runs are removed by the next run.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use datafusion::prelude::SessionContext;

use crate::analyze::{INTERNAL_DIR, INTERNAL_TABLES, RUN_TABLES, published_steps};
use crate::common::arrow_util::{contains_parquet, register_parquet_dir};
use crate::common::error::{Error, Result};

/// The lock file inside the output folder.
pub const LOCK_FILE: &str = ".inferledger.lock";
/// The publication journal inside the output folder.
pub const JOURNAL_FILE: &str = ".publish-journal.json";
pub use super::{CRASH_ENV, RUN_FILES};

/// Exclusive right to write an output folder, held until dropped.
#[derive(Debug)]
pub struct OutputLock {
    file: File,
}

impl OutputLock {
    /// Takes the lock on `out` (creating the folder), or says who holds it. Then finishes
    /// any publication a killed run left, and removes killed runs' staging folders.
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
                return Err(Error::Usage(format!(
                    "{} is being written by another inferledger run ({}); wait for it to finish, or stop it and run again",
                    out.display(),
                    holder.trim()
                )));
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
        recover(out)?;
        remove_stale_staging(out)?;
        Ok(OutputLock { file })
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// Before reading `out`: if a publication was interrupted, roll it forward (taking the
/// lock), or wait for the run that is publishing to finish. Returns whether it recovered.
pub fn settle_for_reading(out: &Path) -> Result<bool> {
    let journal = out.join(JOURNAL_FILE);
    if !journal.exists() {
        return Ok(false);
    }
    let started = std::time::Instant::now();
    loop {
        match OutputLock::acquire(out) {
            Ok(_lock) => return Ok(true),
            Err(Error::Usage(_)) if started.elapsed().as_secs() < 300 => {
                // A run is publishing right now: it takes a moment.
                if !journal.exists() {
                    return Ok(false);
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

/// One rename of a publication, relative to the output folder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Move {
    from: PathBuf,
    to: PathBuf,
}

/// The renames of one publication, in order, and the staging folder they come from.
#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    staging: PathBuf,
    moves: Vec<Move>,
}

impl Move {
    /// Makes the rename unless it is done already: done when its source is gone. A folder
    /// moved aside whose place was filled again stays aside (its destination exists).
    fn apply(&self, out: &Path) -> Result<()> {
        let (from, to) = (out.join(&self.from), out.join(&self.to));
        if !from.exists() || (from.is_dir() && to.exists()) {
            return Ok(());
        }
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::rename(&from, &to).map_err(|e| Error::io(&to, e))
    }
}

/// Finishes a publication a killed run left (its journal), then removes its staging.
fn recover(out: &Path) -> Result<()> {
    let path = out.join(JOURNAL_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let journal: Journal = serde_json::from_str(&text).map_err(|e| Error::Input {
        path: path.clone(),
        message: format!("unreadable publication journal ({e}); remove it by hand to go on"),
    })?;
    for step in &journal.moves {
        step.apply(out)?;
    }
    std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    let _ = std::fs::remove_dir_all(out.join(&journal.staging));
    eprintln!(
        "inferledger: finished the publication a killed run left in {} ({} renames)",
        out.display(),
        journal.moves.len()
    );
    Ok(())
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

    /// Moves the staged tables and files into `out`, through the journal. Partitions of
    /// partitioned tables replace the partitions of the same date; older partitions inside
    /// the window (inclusive first and last day) that this run no longer produced are
    /// removed too. Run-scoped tables, `internal/` and the run's files are replaced whole.
    pub fn publish(&self, out: &Path, (first, last): (String, String)) -> Result<()> {
        let staged = PathBuf::from(&self.name);
        let tables = staged.join("tables");
        let trash = staged.join("replaced");
        let mut moves = Vec::new();
        let replace = |moves: &mut Vec<Move>, new: PathBuf, target: PathBuf| {
            moves.push(Move {
                from: target.clone(),
                to: trash.join(&target),
            });
            moves.push(Move {
                from: new,
                to: target,
            });
        };
        for step in published_steps().filter(|s| !s.partitioned) {
            replace(
                &mut moves,
                tables.join(step.table),
                PathBuf::from(step.table),
            );
        }
        for step in published_steps().filter(|s| s.partitioned) {
            let new_partitions = partitions(&out.join(tables.join(step.table)))?;
            for old in partitions(&out.join(step.table))? {
                let date = old.trim_start_matches("date=");
                if date >= first.as_str() && date <= last.as_str() && !new_partitions.contains(&old)
                {
                    let target = Path::new(step.table).join(&old);
                    moves.push(Move {
                        from: target.clone(),
                        to: trash.join(&target),
                    });
                }
            }
            for partition in &new_partitions {
                replace(
                    &mut moves,
                    tables.join(step.table).join(partition),
                    Path::new(step.table).join(partition),
                );
            }
        }
        for table in RUN_TABLES.into_iter().chain([INTERNAL_DIR]) {
            replace(&mut moves, tables.join(table), PathBuf::from(table));
        }
        for file in RUN_FILES {
            // A file rename replaces the old file at once.
            moves.push(Move {
                from: staged.join("files").join(file),
                to: PathBuf::from(file),
            });
        }
        let journal = Journal {
            staging: staged.clone(),
            moves,
        };
        write_durably(
            &out.join(JOURNAL_FILE),
            serde_json::to_string_pretty(&journal)?.as_bytes(),
        )?;
        let crash_after: Option<usize> = std::env::var(CRASH_ENV).ok().and_then(|v| v.parse().ok());
        for (done, step) in journal.moves.iter().enumerate() {
            if crash_after == Some(done) {
                std::process::abort();
            }
            step.apply(out)?;
        }
        if crash_after == Some(journal.moves.len()) {
            std::process::abort();
        }
        let path = out.join(JOURNAL_FILE);
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn partitions(dir: &Path) -> Result<Vec<String>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("date=") && entry.path().is_dir() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Writes a file whole and flushed to disk before it takes its name.
fn write_durably(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    file.write_all(contents)
        .and_then(|_| file.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    if let Some(parent) = path.parent()
        && let Ok(dir) = File::open(parent)
    {
        let _ = dir.sync_all();
    }
    Ok(())
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

/// Registers every table of a finished run's output folder by name, after finishing a
/// publication a killed run left (or waiting for one under way).
pub async fn register_output(ctx: &SessionContext, out: &Path) -> Result<Vec<String>> {
    let tables = if crate::read::remote::is_url(out) {
        Tables::in_bucket(ctx, out)?
    } else {
        settle_for_reading(out)?;
        Tables::Local(out.to_path_buf())
    };
    let mut names = Vec::new();
    for step in published_steps() {
        if tables.has(step.table) {
            tables
                .register(ctx, step.table, step.table, step.partitioned)
                .await?;
            names.push(step.table.to_string());
        }
    }
    for table in RUN_TABLES {
        if tables.has(table) {
            tables.register(ctx, table, table, false).await?;
            names.push(table.to_string());
        }
    }
    // The latest run's internal tables, and an empty table of the right schema for each
    // published table with no rows anywhere in the history.
    for table in INTERNAL_TABLES {
        let folder = format!("{INTERNAL_DIR}/{table}");
        if tables.has(&folder) {
            tables.register(ctx, table, &folder, false).await?;
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
    for step in published_steps() {
        let folder = format!("{INTERNAL_DIR}/empty/{}", step.table);
        if !names.iter().any(|n| n == step.table) && tables.has(&folder) {
            tables.register(ctx, step.table, &folder, false).await?;
        }
    }
    if names.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds no inferledger tables; run `inferledger run --out {}` first",
            out.display(),
            out.display()
        )));
    }
    Ok(names)
}

/// Where an output folder's tables are read from: a local folder, or one on object storage
/// (the current version of a folder runs publish into, or a copy of a local folder made with
/// `aws s3 sync out/ s3://bucket/out/`), read in place.
enum Tables {
    Local(PathBuf),
    /// The folder's URL (ending in `/`) and the folders below it that hold Parquet objects.
    Bucket {
        url: String,
        folders: std::collections::BTreeSet<String>,
    },
}

impl Tables {
    /// The output folder at `out` on object storage: its store registered with `ctx`, its
    /// objects listed once.
    fn in_bucket(ctx: &SessionContext, out: &Path) -> Result<Tables> {
        let mut url = crate::read::remote::folder_url(out);
        crate::read::remote::configure_unless_set();
        // A folder runs publish into: its current version only (`publish::bucket`).
        if let Some(root) = crate::publish::bucket::Current::read(out)?.root() {
            url = root;
        }
        let (store, base) = crate::read::remote::store_and_base(&url)?;
        ctx.register_object_store(&base, store);
        let mut folders = std::collections::BTreeSet::new();
        for (object, _) in crate::read::remote::list(&url)? {
            let Some(below) = object.strip_prefix(&url) else {
                continue;
            };
            if !below.ends_with(".parquet") {
                continue;
            }
            // Every folder on the object's way down: `requests`, `internal/economics`, …
            let parts: Vec<&str> = below.split('/').collect();
            for depth in 1..parts.len() {
                folders.insert(parts[..depth].join("/"));
            }
        }
        Ok(Tables::Bucket { url, folders })
    }

    /// Whether the folder `relative` (e.g. `requests`, `internal/economics`) holds Parquet.
    fn has(&self, relative: &str) -> bool {
        match self {
            Tables::Local(out) => {
                let dir = out.join(relative);
                dir.is_dir() && contains_parquet(&dir)
            }
            Tables::Bucket { folders, .. } => folders.contains(relative),
        }
    }

    /// Registers the folder `relative` as table `name`.
    async fn register(
        &self,
        ctx: &SessionContext,
        name: &str,
        relative: &str,
        partitioned: bool,
    ) -> Result<()> {
        match self {
            Tables::Local(out) => {
                register_parquet_dir(ctx, name, &out.join(relative), partitioned, None).await
            }
            Tables::Bucket { url, .. } => {
                crate::common::arrow_util::register_parquet_url(
                    ctx,
                    name,
                    &format!("{url}{relative}/"),
                    partitioned,
                    None,
                )
                .await
            }
        }
    }
}
