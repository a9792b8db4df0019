//! An output folder on object storage (`run --out s3://bucket/history/`). S3 and its kin have
//! no rename, so a run never writes where readers look:
//!
//! - Each run writes a whole new version of the folder under `versions/<run>/`: the objects
//!   it made, uploaded, and every other object of the current version, copied inside the
//!   store (no download). Which objects a run replaces follows the local rules
//!   (`output::Staging::publish`): the window's partitions of day-partitioned tables (and any
//!   partition the run made), run-scoped tables, `internal/`, the report and the summary.
//! - Then it replaces the one small object `_current.json`, which names the current version:
//!   one PUT, which a reader sees whole or not at all. Readers (`sql`, `export`, `whatif`,
//!   `prices --propose`, and the next run reading its history) read `_current.json` first
//!   and then only that version's objects, so they never see a half-written partition or a
//!   mix of two runs. A run killed before the PUT changed nothing a reader sees.
//! - The PUT is conditional on `_current.json` being what the run read when it started
//!   (its ETag): of two runs publishing into one folder at once, the later one fails and
//!   changes nothing.
//! - After the PUT, versions other than the new one and the one before it are deleted (the
//!   one before stays readable for a reader that resolved it a moment ago), and with them
//!   what killed runs left.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::analyze::{INTERNAL_DIR, RUN_TABLES, published_steps};
use crate::common::error::{Error, Result};
use crate::publish::{CRASH_ENV, HOLD_ENV, RUN_FILES};
use crate::read::remote;

/// The object naming the current version, inside the output folder.
pub const POINTER: &str = "_current.json";
/// The folder of the versions, inside the output folder.
pub const VERSIONS: &str = "versions";

/// Requests (copies, uploads) under way at once.
const PARALLEL_REQUESTS: usize = 16;

/// What `_current.json` holds.
#[derive(Debug, Serialize, Deserialize)]
struct Pointer {
    /// The current version: its objects are under `versions/<version>/`.
    version: String,
    /// When the run that wrote it published (UTC, RFC 3339).
    published_at: String,
    /// The days that run replaced.
    first_day: String,
    last_day: String,
}

/// An output folder on object storage as a run or a reader found it.
#[derive(Debug, Clone)]
pub struct Current {
    /// The folder's URL, ending in `/`.
    out: String,
    /// The current version, if a run has published here.
    version: Option<String>,
    /// The pointer's ETag as read (what publication is conditional on).
    etag: Option<String>,
}

impl Current {
    /// Reads the pointer of the output folder `out` (a URL).
    pub fn read(out: &Path) -> Result<Current> {
        let out = remote::folder_url(out);
        let pointer_url = format!("{out}{POINTER}");
        let (store, path) = remote::store_of(&pointer_url)?;
        let found = remote::blocking(&pointer_url, async move {
            match store.get(&path).await {
                Ok(result) => {
                    let etag = result.meta.e_tag.clone();
                    result.bytes().await.map(|bytes| Some((bytes, etag)))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })?
        .map_err(|e| remote::input_error(&pointer_url, format!("cannot read: {e}")))?;
        let Some((bytes, etag)) = found else {
            return Ok(Current {
                out,
                version: None,
                etag: None,
            });
        };
        let pointer: Pointer = serde_json::from_slice(&bytes).map_err(|e| Error::Input {
            path: PathBuf::from(&pointer_url),
            message: format!("not an inferledger version pointer ({e})"),
        })?;
        Ok(Current {
            out,
            version: Some(pointer.version),
            etag,
        })
    }

    /// The URL of the current version's folder (ending in `/`), if a run has published.
    pub fn root(&self) -> Option<String> {
        self.version
            .as_ref()
            .map(|v| format!("{}{VERSIONS}/{v}/", self.out))
    }

    /// Publishes a run: `tables_dir` and `files_dir` as a run's staging holds them, replacing
    /// the days `first..=last` (YYYY-MM-DD). Returns the new version's name.
    pub fn publish(
        &self,
        tables_dir: &Path,
        files_dir: &Path,
        first: &str,
        last: &str,
    ) -> Result<String> {
        let version = format!(
            "{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
            std::process::id()
        );
        let uploads = run_objects(tables_dir, files_dir)?;
        let made: BTreeSet<String> = uploads.iter().map(|(rel, _)| partition_of(rel)).collect();
        let pointer = Pointer {
            version: version.clone(),
            published_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            first_day: first.to_string(),
            last_day: last.to_string(),
        };
        let (store, base) = remote::store_of(&self.out)?;
        let work = Publication {
            store,
            base,
            current: self.version.clone(),
            etag: self.etag.clone(),
            version: version.clone(),
            crash_after: std::env::var(CRASH_ENV).ok().and_then(|v| v.parse().ok()),
        };
        let (first, last) = (first.to_string(), last.to_string());
        let pointer = serde_json::to_vec_pretty(&pointer)?;
        let out = self.out.clone();
        remote::blocking(&self.out, async move {
            work.run(&out, uploads, made, &first, &last, pointer).await
        })??;
        Ok(version)
    }
}

/// A run's staging folder copied, folder by folder as the run registers them, into the
/// output folder's bucket under `versions/staging-<name>/`: `run --cluster` with `--out`
/// on object storage stages in this machine's temporary folder, which a cluster's
/// executors on other machines do not see, so they read the copies. Publication deletes
/// it with the superseded versions (a killed run's too, at the next publication), and
/// [`BucketStaging::remove`] at once.
#[derive(Debug)]
pub struct BucketStaging {
    local_root: PathBuf,
    /// The copy's folder URL, ending in `/`.
    url: String,
}

impl Current {
    /// The copy of the staging folder `local_root` (named `name`) in this output folder.
    pub fn staging_copy(&self, local_root: &Path, name: &str) -> BucketStaging {
        let name = name.trim_start_matches('.');
        BucketStaging {
            local_root: std::path::absolute(local_root).unwrap_or_else(|_| local_root.into()),
            url: format!("{}{VERSIONS}/{name}/", self.out),
        }
    }
}

impl BucketStaging {
    /// Deletes every object of the copy.
    pub fn remove(&self) -> Result<()> {
        let (store, base) = remote::store_of(&self.url)?;
        remote::blocking(&self.url, delete_under(store, base))?
            .map_err(|e| remote::input_error(&self.url, format!("cannot remove the copy: {e}")))
    }
}

/// Deletes every object under `prefix`.
async fn delete_under(store: Arc<dyn ObjectStore>, prefix: ObjectPath) -> object_store::Result<()> {
    use futures::TryStreamExt;
    let objects: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
    for object in objects {
        store.delete(&object.location).await?;
    }
    Ok(())
}

impl crate::common::arrow_util::ShareFolder for BucketStaging {
    fn share(&self, dir: &Path) -> Result<Option<String>> {
        let absolute = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
        let Ok(relative) = absolute.strip_prefix(&self.local_root) else {
            return Ok(None);
        };
        let relative = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let url = format!("{}{relative}/", self.url);
        let mut files = Vec::new();
        walk(dir, "", &mut files)?;
        let (store, base) = remote::store_of(&url)?;
        let failed =
            |e: object_store::Error| remote::input_error(&url, format!("cannot copy: {e}"));
        remote::blocking(&url, async {
            use futures::{StreamExt, TryStreamExt};
            // What an earlier copy of the folder held goes first.
            delete_under(Arc::clone(&store), base.clone())
                .await
                .map_err(failed)?;
            futures::stream::iter(files)
                .map(|(name, file)| {
                    let key = ObjectPath::from(format!("{}{name}", base.as_ref()));
                    let store = Arc::clone(&store);
                    async move {
                        let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
                        store
                            .put(&key, PutPayload::from(bytes))
                            .await
                            .map_err(failed)?;
                        Ok::<(), Error>(())
                    }
                })
                .buffer_unordered(PARALLEL_REQUESTS)
                .try_collect::<Vec<()>>()
                .await
        })??;
        Ok(Some(url))
    }
}

/// One publication under way.
struct Publication {
    store: Arc<dyn ObjectStore>,
    /// The output folder's path in the store.
    base: ObjectPath,
    /// The version published before, if any.
    current: Option<String>,
    etag: Option<String>,
    /// The version being written.
    version: String,
    /// Test hook: abort the process after this many objects are written.
    crash_after: Option<usize>,
}

impl Publication {
    fn key(&self, relative: &str) -> ObjectPath {
        ObjectPath::from(format!("{}/{relative}", self.base.as_ref()).trim_start_matches('/'))
    }

    fn version_key(&self, version: &str, relative: &str) -> ObjectPath {
        self.key(&format!("{VERSIONS}/{version}/{relative}"))
    }

    async fn run(
        &self,
        out: &str,
        uploads: Vec<(String, PathBuf)>,
        made: BTreeSet<String>,
        first: &str,
        last: &str,
        pointer: Vec<u8>,
    ) -> Result<()> {
        let failed =
            |e: object_store::Error| remote::input_error(out, format!("cannot publish: {e}"));
        use futures::{StreamExt, TryStreamExt};
        let written = std::sync::atomic::AtomicUsize::new(0);
        // Counts an object written (the test hook aborts once `crash_after` of them are).
        let step = || {
            let done = written.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if self.crash_after == Some(done) {
                std::process::abort();
            }
        };
        // What stays of the current version: copied inside the store, several at once.
        if let Some(current) = &self.current {
            let prefix = self.version_key(current, "");
            let kept: Vec<String> = self
                .list(&prefix)
                .await
                .map_err(failed)?
                .into_iter()
                .filter(|rel| !replaced(rel, &made, first, last))
                .collect();
            futures::stream::iter(kept)
                .map(|rel| {
                    let (from, to) = (
                        self.version_key(current, &rel),
                        self.version_key(&self.version, &rel),
                    );
                    async move {
                        self.store.copy(&from, &to).await?;
                        step();
                        Ok(())
                    }
                })
                .buffer_unordered(PARALLEL_REQUESTS)
                .try_collect::<Vec<()>>()
                .await
                .map_err(failed)?;
        }
        // What this run made: uploaded, several at once (each file read whole: a
        // partition's file of one session bucket).
        futures::stream::iter(uploads)
            .map(|(rel, file)| {
                let key = self.version_key(&self.version, &rel);
                async move {
                    let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
                    self.store
                        .put(&key, PutPayload::from(bytes))
                        .await
                        .map_err(failed)?;
                    step();
                    Ok::<(), Error>(())
                }
            })
            .buffer_unordered(PARALLEL_REQUESTS)
            .try_collect::<Vec<()>>()
            .await?;
        let written = written.load(std::sync::atomic::Ordering::SeqCst);
        if self.crash_after == Some(written) {
            std::process::abort();
        }
        if let Ok(hold) = std::env::var(HOLD_ENV) {
            let waiting = format!("{hold}.waiting");
            std::fs::write(&waiting, b"").map_err(|e| Error::io(&waiting, e))?;
            while !Path::new(&hold).exists() {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        // The switch: readers see the new version from here on.
        let mode = match &self.etag {
            Some(etag) => PutMode::Update(UpdateVersion {
                e_tag: Some(etag.clone()),
                version: None,
            }),
            None => PutMode::Create,
        };
        let pointer_key = self.key(POINTER);
        let put = self
            .store
            .put_opts(
                &pointer_key,
                PutPayload::from(pointer.clone()),
                PutOptions {
                    mode,
                    ..PutOptions::default()
                },
            )
            .await;
        match put {
            Ok(_) => {}
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => {
                self.remove_versions(|v| v == self.version)
                    .await
                    .map_err(failed)?;
                return Err(Error::Usage(format!(
                    "another run published into {out} while this one ran; nothing of this run \
                     was published: run it again"
                )));
            }
            // A store without conditional writes: the last run to publish wins.
            Err(object_store::Error::NotImplemented { .. }) => {
                self.store
                    .put(&pointer_key, PutPayload::from(pointer))
                    .await
                    .map_err(failed)?;
            }
            Err(e) => return Err(failed(e)),
        }
        if self.crash_after == Some(written + 1) {
            std::process::abort();
        }
        // Versions but this one and the one before it: superseded, or left by killed runs.
        let keep = [Some(self.version.clone()), self.current.clone()];
        self.remove_versions(|v| !keep.iter().flatten().any(|k| k == v))
            .await
            .map_err(failed)
    }

    /// Every object under `prefix`, relative to it.
    async fn list(&self, prefix: &ObjectPath) -> object_store::Result<Vec<String>> {
        use futures::TryStreamExt;
        let metas: Vec<_> = self.store.list(Some(prefix)).try_collect().await?;
        Ok(metas
            .into_iter()
            .filter_map(|meta| {
                meta.location.prefix_match(prefix).map(|parts| {
                    parts
                        .map(|p| p.as_ref().to_string())
                        .collect::<Vec<_>>()
                        .join("/")
                })
            })
            .collect())
    }

    /// Deletes the objects of every version `doomed` says yes to.
    async fn remove_versions(&self, doomed: impl Fn(&str) -> bool) -> object_store::Result<()> {
        let prefix = self.key(VERSIONS);
        for rel in self.list(&prefix).await? {
            let version = rel.split('/').next().unwrap_or_default();
            if doomed(version) {
                self.store
                    .delete(&self.key(&format!("{VERSIONS}/{rel}")))
                    .await?;
            }
        }
        Ok(())
    }
}

/// The partition (or table, or file) an object belongs to: `requests/date=2026-11-18`,
/// `quarantine`, `report.md`.
fn partition_of(relative: &str) -> String {
    let mut parts = relative.split('/');
    let top = parts.next().unwrap_or_default();
    match parts.next() {
        Some(part) if part.starts_with("date=") => format!("{top}/{part}"),
        _ => top.to_string(),
    }
}

/// Whether an object of the current version (path relative to it) is replaced by the run:
/// as locally, the partitions of the days `first..=last` and those the run `made`, and
/// run-scoped tables, `internal/`, the report and the summary whole.
fn replaced(relative: &str, made: &BTreeSet<String>, first: &str, last: &str) -> bool {
    let top = relative.split('/').next().unwrap_or_default();
    if RUN_FILES.contains(&top) || RUN_TABLES.contains(&top) || top == INTERNAL_DIR {
        return true;
    }
    match published_steps().find(|s| s.table == top) {
        Some(step) if step.partitioned => {
            let partition = partition_of(relative);
            let in_window = partition
                .split_once("/date=")
                .is_some_and(|(_, date)| date >= first && date <= last);
            in_window || made.contains(&partition)
        }
        Some(_) => true,
        None => false,
    }
}

/// The objects a run publishes: (path relative to the version, local file), for every
/// published table, run-scoped table, `internal/` and run file its staging holds.
fn run_objects(tables_dir: &Path, files_dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut objects = Vec::new();
    let tables = published_steps()
        .map(|s| s.table)
        .chain(RUN_TABLES)
        .chain([INTERNAL_DIR]);
    for table in tables {
        walk(&tables_dir.join(table), table, &mut objects)?;
    }
    for file in RUN_FILES {
        let path = files_dir.join(file);
        if path.is_file() {
            objects.push((file.to_string(), path));
        }
    }
    Ok(objects)
}

/// Every file below `dir` (hidden ones skipped), named `prefix/…`.
fn walk(dir: &Path, prefix: &str, objects: &mut Vec<(String, PathBuf)>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let relative = format!("{prefix}/{name}");
        if path.is_dir() {
            walk(&path, &relative, objects)?;
        } else {
            objects.push((relative, path));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The replacement rules, case by case as the local publication applies them.
    #[test]
    fn a_run_replaces_its_window_and_its_run_scoped_objects_only() {
        let made: BTreeSet<String> = ["requests/date=2026-11-18".to_string()].into();
        let (first, last) = ("2026-11-18", "2026-11-19");
        let is_replaced = |rel: &str| replaced(rel, &made, first, last);
        assert!(is_replaced("requests/date=2026-11-18/b000-x.parquet"));
        // In the window but no longer made: removed, as locally.
        assert!(is_replaced("requests/date=2026-11-19/b000-x.parquet"));
        assert!(!is_replaced("requests/date=2026-11-17/b000-x.parquet"));
        assert!(!is_replaced("requests/date=2026-11-20/b000-x.parquet"));
        assert!(is_replaced("quarantine/part-0.parquet"));
        assert!(is_replaced("internal/economics/part-0.parquet"));
        assert!(is_replaced("run_summary.json"));
        assert!(is_replaced("report.md"));
        // Something not ours: kept.
        assert!(!is_replaced("notes/readme.txt"));
        assert_eq!(
            partition_of("requests/date=2026-11-18/b000-x.parquet"),
            "requests/date=2026-11-18"
        );
        assert_eq!(partition_of("report.md"), "report.md");
    }
}
