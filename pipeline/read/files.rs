//! Finding a source's files (a file, a folder read recursively, or a glob) and opening
//! them as byte streams, decompressing `.gz` and `.zst` on the fly.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::common::error::{Error, Result};

/// How a file's records are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One JSON object per line (`.jsonl`, `.ndjson`, `.json`); a `.json` file holding one
    /// JSON array is read too.
    JsonLines,
    /// CSV with a header row.
    Csv,
    /// Parquet.
    Parquet,
}

/// Compression wrapped around a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain.
    None,
    /// gzip (`.gz`).
    Gzip,
    /// Zstandard (`.zst`).
    Zstd,
}

/// Reads a file's layout and compression from its name, or `None` if it is not an input.
pub fn classify(path: &Path) -> Option<(Layout, Compression)> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let (rest, compression) = if let Some(r) = name.strip_suffix(".gz") {
        (r.to_string(), Compression::Gzip)
    } else if let Some(r) = name.strip_suffix(".zst") {
        (r.to_string(), Compression::Zstd)
    } else {
        (name, Compression::None)
    };
    let layout = match rest.rsplit('.').next()? {
        "jsonl" | "ndjson" | "json" => Layout::JsonLines,
        "csv" => Layout::Csv,
        "parquet" => Layout::Parquet,
        _ => return None,
    };
    if layout == Layout::Parquet && compression != Compression::None {
        return None;
    }
    Some((layout, compression))
}

/// Expands a source path into its input files, sorted, so runs are repeatable. A path
/// that exists is taken as it is, even if its name holds glob characters; folders are
/// walked following each real folder once (symlink loops end), and a file reached by two
/// paths is read once.
pub fn expand(path: &Path) -> Result<Vec<PathBuf>> {
    let text = path.to_string_lossy();
    if super::remote::is_url(path) {
        let mut files: Vec<PathBuf> = super::remote::list(&text)?
            .into_iter()
            .map(|(url, _)| PathBuf::from(url))
            .collect();
        files.retain(|f| classify(f).is_some());
        if files.is_empty() {
            return Err(Error::Input {
                path: path.to_path_buf(),
                message: "no input objects found (expected .jsonl, .ndjson, .json, .csv or .parquet, optionally .gz or .zst)".to_string(),
            });
        }
        return Ok(files);
    }
    let mut files = if text.contains(['*', '?', '[']) && !path.exists() {
        let entries = glob::glob(&text).map_err(|e| Error::Input {
            path: path.to_path_buf(),
            message: format!("bad glob pattern: {e}"),
        })?;
        let mut files = Vec::new();
        for entry in entries {
            let file = entry.map_err(|e| {
                let path = e.path().to_path_buf();
                Error::io(path, e.into())
            })?;
            if file.is_file() {
                files.push(file);
            }
        }
        files
    } else if path.is_dir() {
        let mut files = Vec::new();
        walk(path, &mut files, &mut std::collections::HashSet::new())?;
        files
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        return Err(Error::Input {
            path: path.to_path_buf(),
            message: "no such file or folder".to_string(),
        });
    };
    // Regular files only: a named pipe, socket or device could block a reader for ever
    // (`skipped` names them).
    files.retain(|f| f.is_file() && classify(f).is_some());
    files.sort();
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    if files.is_empty() {
        return Err(Error::Input {
            path: path.to_path_buf(),
            message: "no input files found (expected .jsonl, .ndjson, .json, .csv or .parquet, optionally .gz or .zst)".to_string(),
        });
    }
    Ok(files)
}

/// Every entry below `dir` that is not a folder (hidden ones left out), following each
/// real folder once.
fn walk(
    dir: &Path,
    files: &mut Vec<PathBuf>,
    visited: &mut std::collections::HashSet<PathBuf>,
) -> Result<()> {
    let real = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
    if !visited.insert(real) {
        return Ok(()); // a folder seen already (a symlink loop or a second link to it)
    }
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, files, visited)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// The files a local source path reaches that are not read, each with why: a name that is
/// no input format (`.log`, `.jsonl.bz2`, …) or not a regular file (a named pipe, a
/// socket). Hidden files are not listed (they are never inputs); neither are objects in a
/// bucket (listing them again would cost a request per source).
pub fn skipped(path: &Path) -> Vec<(PathBuf, &'static str)> {
    if super::remote::is_url(path) {
        return Vec::new();
    }
    let text = path.to_string_lossy();
    let mut candidates = Vec::new();
    if text.contains(['*', '?', '[']) && !path.exists() {
        if let Ok(entries) = glob::glob(&text) {
            candidates.extend(entries.flatten().filter(|p| !p.is_dir()));
        }
    } else if path.is_dir() {
        // A folder that cannot be walked fails ingest with its reason; what was found
        // before it is enough to name here.
        let _ = walk(path, &mut candidates, &mut std::collections::HashSet::new());
    } else if path.exists() && !path.is_dir() {
        candidates.push(path.to_path_buf());
    }
    let mut skipped: Vec<(PathBuf, &'static str)> = candidates
        .into_iter()
        .filter_map(|file| {
            if !file.is_file() {
                Some((file, "not a regular file (a named pipe, socket or device)"))
            } else if classify(&file).is_none() {
                Some((
                    file,
                    "not an input format (.jsonl, .ndjson, .json, .csv or .parquet, optionally .gz or .zst)",
                ))
            } else {
                None
            }
        })
        .collect();
    skipped.sort();
    skipped
}

/// A file's bytes as stored (a local file, or an object streamed from object storage).
pub fn open_raw(path: &Path) -> Result<Box<dyn Read + Send>> {
    if super::remote::is_url(path) {
        return super::remote::open(&path.to_string_lossy());
    }
    Ok(Box::new(File::open(path).map_err(|e| Error::io(path, e))?))
}

/// A file's size in bytes as stored (0 when it cannot be known).
pub fn size(path: &Path) -> u64 {
    if super::remote::is_url(path) {
        return super::remote::size(&path.to_string_lossy()).unwrap_or(0);
    }
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Opens a file for line-wise reading, decompressing as its name says. `wrap` sees the raw
/// (compressed) bytes, for progress.
pub fn open_text(
    path: &Path,
    compression: Compression,
    wrap: impl FnOnce(Box<dyn Read + Send>) -> Box<dyn Read + Send>,
) -> Result<Box<dyn BufRead + Send>> {
    let raw = wrap(open_raw(path)?);
    Ok(match compression {
        Compression::None => Box::new(BufReader::with_capacity(1 << 16, raw)),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::read::MultiGzDecoder::new(raw),
        )),
        Compression::Zstd => Box::new(BufReader::with_capacity(
            1 << 16,
            zstd::stream::read::Decoder::new(raw).map_err(|e| Error::io(path, e))?,
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_name() {
        assert_eq!(
            classify(Path::new("a/b.jsonl.gz")),
            Some((Layout::JsonLines, Compression::Gzip))
        );
        assert_eq!(
            classify(Path::new("x.CSV")),
            Some((Layout::Csv, Compression::None))
        );
        assert_eq!(
            classify(Path::new("x.parquet")),
            Some((Layout::Parquet, Compression::None))
        );
        assert_eq!(classify(Path::new("README.md")), None);
    }
}
