//! Publishing a run: every table of the output folder is a Delta Lake table, written with
//! delta-rs, locally and on object storage alike.
//!
//! - A run's Parquet files are moved (renamed locally, uploaded to a bucket) into each
//!   table's folder under names of their own (`date=…/part-<run>-<n>.parquet`), where no
//!   reader looks until a commit names them. Then one commit per table: for a day-partitioned
//!   table it removes the files of the window's days and adds the run's (`replaceWhere` on
//!   `date`); a run-scoped table, and each of `internal/`, is overwritten. A Delta commit is
//!   one put-if-absent of the next log entry: atomic for every Delta reader.
//! - Every commit carries the run (id, window, config hash, version) in its commit info;
//!   after the last, the run's manifest (`_runs/<run>.json`, `read::published`) names each
//!   table's version. Our readers read the versions of the latest manifest, so between two
//!   commits, or after a kill, they still see the previous run whole; the next run first
//!   restores any table a killed run committed past its manifest.
//! - Runs beyond `[run] keep_runs` lose their manifests, and files no kept run's version
//!   needs are vacuumed.
//! - Output folders written before (plain hive-partitioned Parquet, or a bucket's
//!   `versions/` and `_current.json`) are converted in place on the first run: every file is
//!   added to a new Delta table as it is, keeping every row.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake_core::kernel::{Action, Add, Remove, StructType, new_metadata};
use deltalake_core::operations::vacuum::VacuumMode;
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::common::error::{Error, Result};
#[cfg(feature = "test-hooks")]
use crate::publish::CRASH_ENV;
use crate::read::published::{DATE_COLUMN, OutputFolder, RUNS_DIR, RunManifest};

/// A table a run publishes: its folder below the output folder, where the run staged its
/// Parquet files, and its columns.
#[derive(Debug, Clone)]
pub struct StagedTable {
    /// `requests`, `quarantine`, `internal/economics`, …
    pub relative: String,
    /// The staged folder (`date=…/` folders for a partitioned table).
    pub staged: PathBuf,
    /// The table's columns (`date` among them when partitioned).
    pub schema: SchemaRef,
    /// Partitioned by `date`: the run replaces its window's days only.
    pub partitioned: bool,
}

/// Counts publication steps for the crash test hook ([`CRASH_ENV`]).
struct CrashHook {
    after: Option<usize>,
    done: usize,
}

impl CrashHook {
    fn from_env() -> CrashHook {
        #[cfg(feature = "test-hooks")]
        let after = std::env::var(CRASH_ENV).ok().and_then(|v| v.parse().ok());
        #[cfg(not(feature = "test-hooks"))]
        let after = None;
        CrashHook { after, done: 0 }
    }

    /// One step done; aborts (as kill -9 would) when the hook says so.
    fn step(&mut self) {
        if self.after == Some(self.done) {
            std::process::abort();
        }
        self.done += 1;
    }
}

/// What a run publishes beyond its tables: its manifest (versions filled in here) and its
/// files (`report.md`, `report.html`, `run_summary.json`).
pub struct Publication<'a> {
    /// The output folder.
    pub folder: &'a OutputFolder,
    /// The version each existing table had when the run started (after
    /// [`restore_unpublished`]): each commit goes on top of it, or fails if another run
    /// committed meanwhile.
    pub base: &'a BTreeMap<String, u64>,
    /// This run's manifest; `tables` is filled in by [`publish`].
    pub manifest: RunManifest,
    /// The run's files, by name, written beside the tables after the manifest.
    pub files: Vec<(String, Vec<u8>)>,
    /// Runs whose manifests (and the versions they name) are kept; older ones are vacuumed.
    pub keep_runs: usize,
}

/// Publishes a run's tables (one commit each), then its manifest, then its files, then
/// vacuums what no kept run needs. Returns the manifest written.
pub async fn publish(tables: &[StagedTable], publication: Publication<'_>) -> Result<RunManifest> {
    let Publication {
        folder,
        base,
        mut manifest,
        files,
        keep_runs,
    } = publication;
    #[cfg(feature = "test-hooks")]
    if let Ok(hold) = std::env::var(crate::publish::HOLD_ENV) {
        let hold = PathBuf::from(hold);
        let _ = std::fs::write(hold.with_extension("waiting"), b"");
        while !hold.exists() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let mut crash = CrashHook::from_env();
    let (first, last) = (manifest.window[0].clone(), manifest.window[1].clone());
    let app_metadata: HashMap<String, serde_json::Value> = HashMap::from([(
        "inferledger".to_string(),
        serde_json::json!({
            "run_id": manifest.run_id,
            "window": [first, last],
            "config_sha256": manifest.config_sha256,
            "version": manifest.inferledger_version,
        }),
    )]);
    crash.step();
    for table in tables {
        let base_version = base.get(&table.relative).copied();
        let version = commit_table(
            folder,
            table,
            base_version,
            &manifest.run_id,
            (&first, &last),
            &app_metadata,
            &mut crash,
        )
        .await?;
        manifest.tables.insert(table.relative.clone(), version);
    }
    manifest.finished_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let path = folder.object_path(&format!("{RUNS_DIR}/{}.json", manifest.run_id));
    folder
        .store()
        .put_opts(
            &path,
            PutPayload::from(serde_json::to_vec_pretty(&manifest)?),
            PutOptions::from(PutMode::Create),
        )
        .await
        .map_err(|e| folder.storage_error(RUNS_DIR, e))?;
    crash.step();
    for (name, contents) in files {
        write_whole(folder, &name, contents).await?;
        crash.step();
    }
    retire_old_runs(folder, keep_runs).await?;
    Ok(manifest)
}

/// Writes a file beside the tables whole or not at all (locally: aside, then renamed; on
/// object storage a put is whole).
async fn write_whole(folder: &OutputFolder, name: &str, contents: Vec<u8>) -> Result<()> {
    if let Ok(local) = folder.url().to_file_path() {
        let path = local.join(name);
        return crate::publish::output::write_atomic(&path, &contents);
    }
    folder
        .store()
        .put(&folder.object_path(name), PutPayload::from(contents))
        .await
        .map_err(|e| folder.storage_error(name, e))?;
    Ok(())
}

/// The staged Parquet files of a table: (path on disk, path below the table's folder to
/// publish it at, its `date`).
fn staged_files(
    table: &StagedTable,
    run_id: &str,
) -> Result<Vec<(PathBuf, String, Option<String>)>> {
    let mut found = Vec::new();
    let mut collect = |dir: &Path, date: Option<String>| -> Result<()> {
        if !dir.is_dir() {
            return Ok(());
        }
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "parquet"))
            .collect();
        names.sort();
        for path in names {
            let n = found.len();
            let name = format!("part-{run_id}-{n:05}.parquet");
            let relative = match &date {
                Some(day) => format!("{DATE_COLUMN}={day}/{name}"),
                None => name,
            };
            found.push((path, relative, date.clone()));
        }
        Ok(())
    };
    if table.partitioned {
        if table.staged.is_dir() {
            let mut days: Vec<(PathBuf, String)> = std::fs::read_dir(&table.staged)
                .map_err(|e| Error::io(&table.staged, e))?
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let day = name.strip_prefix(&format!("{DATE_COLUMN}="))?.to_string();
                    e.path().is_dir().then_some((e.path(), day))
                })
                .collect();
            days.sort();
            for (dir, day) in days {
                collect(&dir, Some(day))?;
            }
        }
    } else {
        collect(&table.staged, None)?;
    }
    Ok(found)
}

/// Moves a staged file to `relative` below the table's folder: a rename on the same disk,
/// else an upload (streamed, in parts).
async fn move_into(folder: &OutputFolder, table: &str, from: &Path, relative: &str) -> Result<i64> {
    let size = std::fs::metadata(from)
        .map_err(|e| Error::io(from, e))?
        .len() as i64;
    if let Ok(local) = folder.url().to_file_path() {
        let to = local.join(table).join(relative);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        if std::fs::rename(from, &to).is_err() {
            // Another file system (the staging folder is elsewhere): copy, then flush.
            std::fs::copy(from, &to).map_err(|e| Error::io(&to, e))?;
        }
        return Ok(size);
    }
    let path = folder.object_path(&format!("{table}/{relative}"));
    upload(folder.store(), from, &path)
        .await
        .map_err(|e| folder.storage_error(&format!("{table}/{relative}"), e))?;
    Ok(size)
}

/// Uploads a local file to `path`, in parts of 16 MiB.
pub async fn upload(
    store: &Arc<dyn ObjectStore>,
    from: &Path,
    path: &ObjectPath,
) -> std::result::Result<(), object_store::Error> {
    use tokio::io::AsyncWriteExt;
    let mut writer = object_store::buffered::BufWriter::new(Arc::clone(store), path.clone());
    let mut file = tokio::fs::File::open(from)
        .await
        .map_err(|e| object_store::Error::Generic {
            store: "local",
            source: Box::new(e),
        })?;
    tokio::io::copy(&mut file, &mut writer)
        .await
        .map_err(|e| object_store::Error::Generic {
            store: "upload",
            source: Box::new(e),
        })?;
    writer
        .shutdown()
        .await
        .map_err(|e| object_store::Error::Generic {
            store: "upload",
            source: Box::new(e),
        })
}

/// How every run commits: its metadata in the commit info; no retry on top of a commit
/// another run made meanwhile (a conflict fails the run); log entries kept as long as a
/// kept run may name their versions (delta-rs would drop those older than 30 days at a
/// checkpoint, breaking `--as-of` of an older kept run).
fn commit_properties(app_metadata: &HashMap<String, serde_json::Value>) -> CommitProperties {
    CommitProperties::default()
        .with_metadata(app_metadata.clone())
        .with_max_retries(0)
        .with_cleanup_expired_logs(Some(false))
}

/// Commits one table: the run's files added, the files they replace removed. Returns the
/// version committed.
async fn commit_table(
    folder: &OutputFolder,
    table: &StagedTable,
    base_version: Option<u64>,
    run_id: &str,
    (first, last): (&str, &str),
    app_metadata: &HashMap<String, serde_json::Value>,
    crash: &mut CrashHook,
) -> Result<u64> {
    let relative = table.relative.as_str();
    let delta_error = |e: deltalake_core::DeltaTableError| folder.delta_error(relative, e);
    let now = chrono::Utc::now().timestamp_millis();
    let mut adds = Vec::new();
    let mut new_days = BTreeSet::new();
    for (from, target, date) in staged_files(table, run_id)? {
        let size = move_into(folder, relative, &from, &target).await?;
        crash.step();
        if let Some(day) = &date {
            new_days.insert(day.clone());
        }
        adds.push(Action::Add(Add {
            path: target,
            partition_values: date
                .map(|d| HashMap::from([(DATE_COLUMN.to_string(), Some(d))]))
                .unwrap_or_default(),
            size,
            modification_time: now,
            data_change: true,
            ..Default::default()
        }));
    }
    let schema: StructType = table
        .schema
        .as_ref()
        .try_into_kernel()
        .map_err(|e| folder.delta_error(relative, e))?;
    let partition_columns: Vec<String> = if table.partitioned {
        vec![DATE_COLUMN.to_string()]
    } else {
        Vec::new()
    };
    let existing = match base_version {
        Some(version) => folder.table(relative, Some(version)).await?,
        None => None,
    };
    let Some(existing) = existing else {
        let created = deltalake_core::operations::create::CreateBuilder::new()
            .with_log_store(folder.log_store(relative))
            .with_columns(schema.fields().cloned())
            .with_partition_columns(partition_columns)
            .with_actions(adds)
            .with_commit_properties(commit_properties(app_metadata))
            .await
            .map_err(delta_error)?;
        crash.step();
        return created
            .version()
            .ok_or_else(|| folder.delta_error(relative, "created, but the log shows no version"));
    };
    let snapshot = existing.snapshot().map_err(delta_error)?;
    let replaced = |date: Option<&String>| match date {
        _ if !table.partitioned => true,
        Some(day) => (day.as_str() >= first && day.as_str() <= last) || new_days.contains(day),
        None => true,
    };
    let mut actions = adds;
    for file in folder.files_of(relative, &existing)? {
        if replaced(file.date.as_ref()) {
            actions.push(Action::Remove(Remove {
                path: file.relative.clone(),
                data_change: true,
                deletion_timestamp: Some(now),
                extended_file_metadata: Some(true),
                partition_values: Some(
                    file.date
                        .clone()
                        .map(|d| HashMap::from([(DATE_COLUMN.to_string(), Some(d))]))
                        .unwrap_or_default(),
                ),
                size: Some(file.size as i64),
                ..Default::default()
            }));
        }
    }
    let current_schema = snapshot.schema();
    if current_schema.as_ref() != &schema {
        // Columns changed (a newer inferledger): the table takes this run's columns.
        let metadata = new_metadata(
            &schema,
            partition_columns.iter(),
            snapshot.metadata().configuration().clone(),
        )
        .map_err(|e| folder.delta_error(relative, e))?;
        actions.push(Action::Metadata(metadata));
    }
    let predicate = table
        .partitioned
        .then(|| format!("{DATE_COLUMN} >= '{first}' AND {DATE_COLUMN} <= '{last}'"));
    let committed = CommitBuilder::from(commit_properties(app_metadata))
        .with_actions(actions)
        .build(
            Some(snapshot),
            existing.log_store(),
            DeltaOperation::Write {
                mode: SaveMode::Overwrite,
                partition_by: table.partitioned.then(|| vec![DATE_COLUMN.to_string()]),
                predicate,
            },
        )
        .await
        .map_err(|e| match e {
            deltalake_core::DeltaTableError::Transaction { .. } => Error::ConcurrentPublication {
                out: folder.shown().to_path_buf(),
                table: relative.to_string(),
                source: Box::new(e),
            },
            e => delta_error(e),
        })?;
    crash.step();
    Ok(committed.version)
}

/// Before a run: every table back at the version the latest manifest names (a run killed
/// between its commits left later versions no manifest names), and tables no manifest
/// names emptied. Returns each existing table's version after that: what the run's
/// commits go on top of.
pub async fn restore_unpublished(
    folder: &OutputFolder,
    manifest: Option<&RunManifest>,
    tables: &[String],
) -> Result<BTreeMap<String, u64>> {
    let mut versions = BTreeMap::new();
    for relative in tables {
        let Some(latest) = folder.table(relative, None).await? else {
            continue;
        };
        if let Some(version) = restore_table(folder, manifest, relative, latest).await? {
            versions.insert(relative.clone(), version);
        }
    }
    Ok(versions)
}

/// [`restore_unpublished`] for one table; its version afterwards.
async fn restore_table(
    folder: &OutputFolder,
    manifest: Option<&RunManifest>,
    relative: &str,
    latest: deltalake_core::DeltaTable,
) -> Result<Option<u64>> {
    let failed = |e: deltalake_core::DeltaTableError| folder.delta_error(relative, e);
    let latest_version = latest.version();
    let named = manifest.and_then(|m| m.tables.get(relative).copied());
    match named {
        Some(version) if Some(version) >= latest_version => Ok(latest_version),
        // Later versions that add and remove nothing (a vacuum's commits) need no undoing.
        Some(version) if same_files(folder, relative, &latest, version).await? => {
            Ok(latest_version)
        }
        Some(version) => {
            let (restored, _) = latest
                .restore()
                .with_version_to_restore(version)
                .with_commit_properties(CommitProperties::default().with_metadata([(
                    "inferledger".to_string(),
                    serde_json::json!({"restored_to_run": manifest.map(|m| m.run_id.clone())}),
                )]))
                .await
                .map_err(failed)?;
            Ok(restored.version())
        }
        None => {
            // Created by a run that never wrote its manifest: no reader has seen it.
            let files = folder.files_of(relative, &latest)?;
            if files.is_empty() {
                return Ok(latest_version);
            }
            let now = chrono::Utc::now().timestamp_millis();
            let actions = files
                .into_iter()
                .map(|file| {
                    Action::Remove(Remove {
                        path: file.relative,
                        data_change: true,
                        deletion_timestamp: Some(now),
                        size: Some(file.size as i64),
                        ..Default::default()
                    })
                })
                .collect();
            let snapshot = latest.snapshot().map_err(failed)?;
            let emptied = CommitBuilder::default()
                .with_actions(actions)
                .build(
                    Some(snapshot),
                    latest.log_store(),
                    DeltaOperation::Delete { predicate: None },
                )
                .await
                .map_err(failed)?;
            Ok(Some(emptied.version))
        }
    }
}

/// Whether the table's `latest` version holds the same files as its version `version`.
async fn same_files(
    folder: &OutputFolder,
    relative: &str,
    latest: &deltalake_core::DeltaTable,
    version: u64,
) -> Result<bool> {
    let Some(then) = folder.table(relative, Some(version)).await? else {
        return Ok(false);
    };
    let paths = |table: &deltalake_core::DeltaTable| -> Result<BTreeSet<String>> {
        Ok(folder
            .files_of(relative, table)?
            .into_iter()
            .map(|f| f.relative)
            .collect())
    };
    Ok(paths(latest)? == paths(&then)?)
}

/// Drops the manifests of runs beyond the newest `keep_runs`, then vacuums each table of
/// the files no kept run's version needs.
async fn retire_old_runs(folder: &OutputFolder, keep_runs: usize) -> Result<()> {
    let manifests = folder.manifests().await?;
    if manifests.len() <= keep_runs {
        return Ok(());
    }
    let (retired, kept) = manifests.split_at(manifests.len() - keep_runs);
    for manifest in retired {
        let path = folder.object_path(&format!("{RUNS_DIR}/{}.json", manifest.run_id));
        folder
            .store()
            .delete(&path)
            .await
            .map_err(|e| folder.storage_error(RUNS_DIR, e))?;
    }
    let mut kept_versions: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for manifest in kept {
        for (table, version) in &manifest.tables {
            kept_versions.entry(table).or_default().push(*version);
        }
    }
    for (table, versions) in kept_versions {
        // Files replaced before the oldest kept run (at once), then files no version names,
        // that a killed run moved in and never committed (an hour old at least, so that a
        // run publishing into a bucket at this moment keeps the files it is committing).
        for (mode, retention) in [
            (VacuumMode::Lite, chrono::Duration::zero()),
            (VacuumMode::Full, chrono::Duration::hours(1)),
        ] {
            let Some(latest) = folder.table(table, None).await? else {
                break;
            };
            latest
                .vacuum()
                .with_mode(mode)
                .with_retention_period(retention)
                .with_enforce_retention_duration(false)
                .with_keep_versions(&versions)
                .with_commit_properties(
                    CommitProperties::default().with_cleanup_expired_logs(Some(false)),
                )
                .await
                .map_err(|e| folder.delta_error(table, e))?;
        }
    }
    Ok(())
}
