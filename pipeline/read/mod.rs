//! Reading inputs, whatever they hold: a source's files (a file, a folder walked once, a
//! glob; gzip and zstd), their records (JSON lines, CSV, Parquet) with line numbers and raw
//! text, timestamps of every shape, dotted JSON paths, and the one read loop every source
//! runs its rows through (counts, quarantine, the bad-row limit). The request, billing and metrics sources are built on it.
//! `published` reads back the tables a run published (a run's manifest, Delta snapshots).

pub mod bad_rows;
pub mod files;
pub mod json_path;
pub mod json_slots;
pub mod otlp;
pub mod published;
pub mod records;
pub mod remote;
pub mod source_reading;
pub mod time;
