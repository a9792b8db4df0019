//! Inputs on object storage: an input path may be a URL (`s3://bucket/prefix/`,
//! `gs://…`, `az://…`, `file:///…`), read through the `object_store` crate DataFusion
//! uses. A URL names one object, a "folder" (every object under the prefix, hidden names
//! skipped, as a local folder is walked) or a glob over keys (`s3://b/logs/*.jsonl`). Objects
//! are streamed, never copied to disk: a reader thread drives the download and hands the
//! bytes over as they come (a Parquet object, which is read from its footer, is fetched
//! whole into memory).
//!
//! Credentials and region come from the store's usual environment variables (`AWS_*`,
//! `GOOGLE_*`, `AZURE_*`) and instance metadata; the config's `[storage]` table may set an
//! `endpoint` (an S3-compatible server), a `region` and `allow_http`. The rest of the
//! reading layer sees a URL as a path whose text is the URL: [`is_url`] tells them apart.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, ObjectStoreScheme};

use crate::common::error::{Error, Result};

/// What the config's `[storage]` table sets for object stores (beside the environment).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StorageSettings {
    /// Endpoint of an S3-compatible server (`http://127.0.0.1:9000`).
    pub endpoint: Option<String>,
    /// Region of the bucket.
    pub region: Option<String>,
    /// Whether plain HTTP is allowed (a local server).
    pub allow_http: bool,
}

/// The settings and the async runtime that object-store requests run on, set once per
/// process by the command before it reads (see [`configure`]).
struct Setup {
    settings: StorageSettings,
    runtime: tokio::runtime::Handle,
}

static SETUP: OnceLock<Mutex<Option<Setup>>> = OnceLock::new();
static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();

/// Whether an input path is an object-store URL rather than a local path.
pub fn is_url(path: &Path) -> bool {
    let text = path.to_string_lossy();
    let Some((scheme, _)) = text.split_once("://") else {
        return false;
    };
    matches!(
        scheme,
        "s3" | "s3a" | "gs" | "az" | "adl" | "azure" | "abfs" | "abfss" | "file"
    )
}

/// Sets the `[storage]` settings and the runtime object-store requests run on (the one it
/// is called from; `Config::from_toml` calls it as a command loads its config).
pub fn configure(settings: &StorageSettings) {
    // Outside a runtime (a config parsed in a synchronous test) there is nothing to set up.
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let setup = SETUP.get_or_init(|| Mutex::new(None));
    *setup.lock().expect("never poisoned") = Some(Setup {
        settings: settings.clone(),
        runtime,
    });
    if let Some(stores) = STORES.get() {
        stores.lock().expect("never poisoned").clear();
    }
}

/// [`configure`] with the environment's settings alone, unless a config set them already
/// (`sql --out s3://…` without `--config`).
pub fn configure_unless_set() {
    let set = SETUP
        .get()
        .is_some_and(|s| s.lock().expect("never poisoned").is_some());
    if !set {
        configure(&StorageSettings::default());
    }
}

/// [`configure`] with `settings`, unless they are the ones set already: a cluster's
/// executor reading a client's inputs, with the settings the client's config gave.
pub fn configure_as(settings: &StorageSettings) {
    let same = SETUP.get().is_some_and(|s| {
        s.lock()
            .expect("never poisoned")
            .as_ref()
            .is_some_and(|s| &s.settings == settings)
    });
    if !same {
        configure(settings);
    }
}

/// An error about the object or store at `url`, with a hint when credentials look missing.
pub fn input_error(url: &str, message: impl Into<String>) -> Error {
    let mut message: String = message.into();
    // The store's own words for missing or refused credentials, with what to do about it.
    let refused = [
        "169.254.169.254",
        "403 Forbidden",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
    ];
    if refused.iter().any(|word| message.contains(word)) {
        message.push_str(
            " (hint: no usable credentials; set the store's variables, e.g. AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, or run where an instance role grants access)",
        );
    }
    Error::Input {
        path: url.into(),
        message,
    }
}

/// The runtime [`configure`] recorded, for requests about `url`.
fn runtime(url: &str) -> Result<tokio::runtime::Handle> {
    SETUP
        .get()
        .and_then(|s| {
            s.lock()
                .expect("never poisoned")
                .as_ref()
                .map(|s| s.runtime.clone())
        })
        .ok_or_else(|| input_error(url, "object storage is not set up for this command"))
}

/// Runs `work` on the command's runtime from a thread of its own, so it may be called from
/// anywhere (inside async code or a reading thread) and block until done.
pub fn blocking<T: Send>(
    url: &str,
    work: impl std::future::Future<Output = T> + Send,
) -> Result<T> {
    let runtime = runtime(url)?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || runtime.block_on(work))
            .join()
            .map_err(|_| input_error(url, "object-store request panicked"))
    })
}

/// The store serving `url` (one per bucket, built once) and the object path within it.
pub fn store_of(url: &str) -> Result<(Arc<dyn ObjectStore>, ObjectPath)> {
    let parsed = url::Url::parse(url).map_err(|e| input_error(url, format!("not a URL: {e}")))?;
    let (scheme, path) = ObjectStoreScheme::parse(&parsed)
        .map_err(|e| input_error(url, format!("not an object-store URL: {e}")))?;
    let key = format!(
        "{}://{}",
        parsed.scheme(),
        parsed.host_str().unwrap_or_default()
    );
    let settings = SETUP
        .get()
        .and_then(|s| {
            s.lock()
                .expect("never poisoned")
                .as_ref()
                .map(|s| s.settings.clone())
        })
        .unwrap_or_default();
    let stores = STORES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut stores = stores.lock().expect("never poisoned");
    if let Some(store) = stores.get(&key) {
        return Ok((Arc::clone(store), path));
    }
    let cannot = |e: object_store::Error| input_error(url, format!("cannot open the store: {e}"));
    let store: Arc<dyn ObjectStore> = match scheme {
        ObjectStoreScheme::AmazonS3 => {
            let mut builder = object_store::aws::AmazonS3Builder::from_env().with_url(url);
            if let Some(endpoint) = &settings.endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(region) = &settings.region {
                builder = builder.with_region(region);
            }
            if settings.allow_http {
                builder = builder.with_allow_http(true);
            }
            Arc::new(builder.build().map_err(cannot)?)
        }
        ObjectStoreScheme::GoogleCloudStorage => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .build()
                .map_err(cannot)?,
        ),
        ObjectStoreScheme::MicrosoftAzure => {
            let mut builder = object_store::azure::MicrosoftAzureBuilder::from_env().with_url(url);
            if settings.allow_http {
                builder = builder.with_allow_http(true);
            }
            Arc::new(builder.build().map_err(cannot)?)
        }
        ObjectStoreScheme::Local => Arc::new(object_store::local::LocalFileSystem::new()),
        other => {
            return Err(input_error(
                url,
                format!("{other:?} URLs are not supported"),
            ));
        }
    };
    stores.insert(key, Arc::clone(&store));
    Ok((store, path))
}

/// The store serving `url` and its base URL (`s3://bucket`), for DataFusion to register.
pub fn store_and_base(url: &str) -> Result<(Arc<dyn ObjectStore>, url::Url)> {
    let (store, _) = store_of(url)?;
    let parsed = url::Url::parse(url).map_err(|e| input_error(url, format!("not a URL: {e}")))?;
    let base = format!(
        "{}://{}",
        parsed.scheme(),
        parsed.host_str().unwrap_or_default()
    );
    let base = url::Url::parse(&base).map_err(|e| input_error(url, format!("not a URL: {e}")))?;
    Ok((store, base))
}

/// A URL held in a path, as a folder URL: ending in `/` (a prefix, not an object).
pub fn folder_url(path: &Path) -> String {
    let mut url = path.to_string_lossy().into_owned();
    if !url.ends_with('/') {
        url.push('/');
    }
    url
}

/// The URL of object `path` in the store of `url` (same scheme and bucket).
fn object_url(url: &str, path: &ObjectPath) -> String {
    let parsed = url::Url::parse(url).expect("parsed before");
    match parsed.host_str() {
        Some(host) => format!("{}://{host}/{path}", parsed.scheme()),
        None => format!("{}:///{path}", parsed.scheme()),
    }
}

/// The objects a URL names, as URLs with their sizes, sorted: the object itself, every
/// object under it as a prefix (names starting with `.` skipped at any level), or the
/// objects whose keys match its glob (`*` stays within one `/` level).
pub fn list(url: &str) -> Result<Vec<(String, u64)>> {
    let glob_at = url.find(['*', '?', '[']);
    let listed = match glob_at {
        Some(at) => {
            let prefix_end = url[..at].rfind('/').map_or(0, |i| i + 1);
            let (store, prefix) = store_of(&url[..prefix_end])?;
            let (_, pattern_path) = store_of(url)?;
            let pattern = glob::Pattern::new(pattern_path.as_ref())
                .map_err(|e| input_error(url, format!("bad glob pattern: {e}")))?;
            let options = glob::MatchOptions {
                require_literal_separator: true,
                ..glob::MatchOptions::default()
            };
            all_under(url, &store, &prefix)?
                .into_iter()
                .filter(|(path, _)| pattern.matches_with(path.as_ref(), options))
                .collect::<Vec<_>>()
        }
        None => {
            let (store, path) = store_of(url)?;
            let exact = if url.ends_with('/') {
                None
            } else {
                let head_store = Arc::clone(&store);
                let head_path = path.clone();
                blocking(url, async move { head_store.head(&head_path).await })?.ok()
            };
            match exact {
                Some(meta) => vec![(meta.location, meta.size)],
                None => all_under(url, &store, &path)?,
            }
        }
    };
    let mut objects: Vec<(String, u64)> = listed
        .into_iter()
        .map(|(path, size)| (object_url(url, &path), size))
        .collect();
    objects.sort();
    Ok(objects)
}

/// Every object under `prefix` with no hidden part below it.
fn all_under(
    url: &str,
    store: &Arc<dyn ObjectStore>,
    prefix: &ObjectPath,
) -> Result<Vec<(ObjectPath, u64)>> {
    let store = Arc::clone(store);
    let listed = prefix.clone();
    let metas = blocking(url, async move {
        let listed = (!listed.as_ref().is_empty()).then_some(listed);
        store
            .list(listed.as_ref())
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<std::result::Result<Vec<_>, _>>()
    })?
    .map_err(|e| input_error(url, format!("cannot list: {e}")))?;
    Ok(metas
        .into_iter()
        // Hidden below the prefix, as a folder walk skips hidden entries.
        .filter(|meta| {
            meta.location
                .prefix_match(prefix)
                .is_some_and(|mut below| !below.any(|part| part.as_ref().starts_with('.')))
        })
        .map(|meta| (meta.location, meta.size))
        .collect())
}

/// The size of one object in bytes.
pub fn size(url: &str) -> Result<u64> {
    let (store, path) = store_of(url)?;
    let meta = blocking(url, async move { store.head(&path).await })?
        .map_err(|e| input_error(url, format!("cannot read: {e}")))?;
    Ok(meta.size)
}

/// One object's bytes, whole (for Parquet, read from its footer).
pub fn read_all(url: &str) -> Result<bytes::Bytes> {
    let (store, path) = store_of(url)?;
    blocking(url, async move {
        match store.get(&path).await {
            Ok(result) => result.bytes().await,
            Err(e) => Err(e),
        }
    })?
    .map_err(|e| input_error(url, format!("cannot read: {e}")))
}

/// One object's bytes as a stream: the request is made here (so a missing object fails
/// with its name at once), then a thread reads the body and hands over each chunk as it
/// arrives (at most a few chunks ahead of the reader).
pub fn open(url: &str) -> Result<Box<dyn Read + Send>> {
    let (store, path) = store_of(url)?;
    let runtime = runtime(url)?;
    let body = blocking(url, async move { store.get(&path).await })?
        .map_err(|e| input_error(url, format!("cannot read: {e}")))?
        .into_stream();
    let (sender, chunks) = std::sync::mpsc::sync_channel::<std::io::Result<bytes::Bytes>>(4);
    let name = url.to_string();
    std::thread::Builder::new()
        .name("object-download".to_string())
        .spawn(move || {
            runtime.block_on(async move {
                let mut body = body;
                while let Some(chunk) = body.next().await {
                    let failed = chunk.is_err();
                    let chunk = chunk.map_err(|e| std::io::Error::other(format!("{name}: {e}")));
                    if sender.send(chunk).is_err() || failed {
                        return;
                    }
                }
            })
        })
        .map_err(|e| Error::io(url, e))?;
    Ok(Box::new(ChunkReader {
        chunks,
        current: bytes::Bytes::new(),
    }))
}

/// Reads the chunks a download thread sends, in order.
struct ChunkReader {
    chunks: std::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.recv() {
                Ok(chunk) => self.current = chunk?,
                // The sender is gone after the last chunk: the end of the object.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths() {
        assert!(is_url(Path::new("s3://bucket/logs/")));
        assert!(is_url(Path::new("gs://bucket/a.jsonl")));
        assert!(is_url(Path::new("az://container/x.csv")));
        assert!(is_url(Path::new("file:///tmp/x.csv")));
        assert!(!is_url(Path::new("logs/a.jsonl")));
        assert!(!is_url(Path::new("/abs/path")));
        assert!(!is_url(Path::new("weird://x")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_file_url_lists_globs_and_streams_like_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("logs/.hidden")).unwrap();
        std::fs::write(dir.path().join("logs/a.jsonl"), "{\"x\":1}\n").unwrap();
        std::fs::write(dir.path().join("logs/b.csv"), "x\n1\n").unwrap();
        std::fs::write(dir.path().join("logs/.hidden/c.jsonl"), "{}\n").unwrap();
        configure(&StorageSettings::default());
        let base = format!("file://{}", dir.path().canonicalize().unwrap().display());
        let names = |found: Vec<(String, u64)>| {
            found
                .into_iter()
                .map(|(url, size)| (url.rsplit('/').next().unwrap().to_string(), size))
                .collect::<Vec<_>>()
        };
        let folder = tokio::task::spawn_blocking({
            let base = base.clone();
            move || list(&format!("{base}/logs/")).unwrap()
        })
        .await
        .unwrap();
        assert_eq!(
            names(folder),
            vec![("a.jsonl".to_string(), 8), ("b.csv".to_string(), 4)]
        );
        let globbed = tokio::task::spawn_blocking({
            let base = base.clone();
            move || list(&format!("{base}/logs/*.jsonl")).unwrap()
        })
        .await
        .unwrap();
        assert_eq!(names(globbed), vec![("a.jsonl".to_string(), 8)]);
        let text = tokio::task::spawn_blocking(move || {
            let mut text = String::new();
            open(&format!("{base}/logs/b.csv"))
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            text
        })
        .await
        .unwrap();
        assert_eq!(text, "x\n1\n");
        // Compressed objects go through the same decoders as local .gz and .zst files.
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, b"{\"a\":1}\n{\"a\":2}\n").unwrap();
        let gzip = encoder.finish().unwrap();
        let zstd = zstd::encode_all(&b"{\"b\":3}\n"[..], 3).unwrap();
        use crate::read::files::Compression;
        for (name, bytes, compression, expected) in [
            (
                "d.jsonl.gz",
                gzip,
                Compression::Gzip,
                vec!["{\"a\":1}", "{\"a\":2}"],
            ),
            ("e.jsonl.zst", zstd, Compression::Zstd, vec!["{\"b\":3}"]),
        ] {
            let file = dir.path().join("logs").join(name);
            std::fs::write(&file, bytes).unwrap();
            let url = format!("file://{}", file.canonicalize().unwrap().display());
            let lines = tokio::task::spawn_blocking(move || {
                use std::io::BufRead;
                let reader =
                    crate::read::files::open_text(Path::new(&url), compression, |raw| raw).unwrap();
                reader.lines().map(|l| l.unwrap()).collect::<Vec<_>>()
            })
            .await
            .unwrap();
            assert_eq!(lines, expected, "{name}");
        }
    }
}
