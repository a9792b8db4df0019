//! Reading inputs, whatever they hold: a source's files (a file, a folder walked once, a
//! glob; gzip and zstd), their records (JSON lines, CSV, Parquet) with line numbers and raw
//! text, timestamps of every shape, dotted JSON paths, and the count of bad rows against a
//! source's limit. The request, billing and metrics sources are built on it.

pub mod bad_rows;
pub mod files;
pub mod json_path;
pub mod json_slots;
pub mod records;
pub mod time;
