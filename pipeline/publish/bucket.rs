//! A run's staging folder copied into its output bucket (`run --cluster --out s3://…`): a
//! run whose output folder is on object storage stages in this machine's temporary folder,
//! which a cluster's executors on other machines do not see, so each staged folder is
//! copied under `OUT/_staging/<run>/` as it is registered, and read there. The copy is
//! removed when the run ends; a killed run's by the next run into the folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::common::error::{Error, Result};
use crate::read::remote;

/// The folder of staging copies inside a bucket output folder.
pub const STAGING_COPIES: &str = "_staging";

/// Requests (uploads) under way at once.
const PARALLEL_REQUESTS: usize = 16;

/// A run's staging folder copied, folder by folder as the run registers them, into the
/// output folder's bucket under `_staging/<name>/`: `run --cluster` with `--out` on object
/// storage stages in this machine's temporary folder, which a cluster's executors on other
/// machines do not see, so they read the copies. [`BucketStaging::remove`] deletes it when
/// the run ends; a killed run's copy goes at the next run ([`BucketStaging::remove_stale`]).
#[derive(Debug)]
pub struct BucketStaging {
    local_root: PathBuf,
    /// The copy's folder URL, ending in `/`.
    url: String,
}

impl BucketStaging {
    /// The copy of the staging folder `local_root` (named `name`) in the output folder `out`.
    pub fn new(out: &Path, local_root: &Path, name: &str) -> BucketStaging {
        let name = name.trim_start_matches('.');
        BucketStaging {
            local_root: std::path::absolute(local_root).unwrap_or_else(|_| local_root.into()),
            url: format!("{}{STAGING_COPIES}/{name}/", remote::folder_url(out)),
        }
    }

    /// Removes what killed runs copied into `out` (no run into `out` is under way).
    pub fn remove_stale(out: &Path) -> Result<()> {
        let url = format!("{}{STAGING_COPIES}/", remote::folder_url(out));
        let (store, base) = remote::store_of(&url)?;
        remote::blocking(&url, delete_under(store, base))?
            .map_err(|e| remote::input_error(&url, format!("cannot remove old copies: {e}")))
    }

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
