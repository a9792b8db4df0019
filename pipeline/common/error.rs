//! The library's error type: one enum, with the layer each error came from, and a
//! `Result` alias. Messages name the file, the line or field, and what was expected.

use std::path::PathBuf;

/// Everything that can stop a library call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is wrong; every problem found is listed.
    #[error("invalid configuration {}:\n{}", .path.display(), .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Config {
        /// The config file.
        path: PathBuf,
        /// One line per problem.
        problems: Vec<String>,
    },
    /// An input could not be read or is not of the shape expected.
    #[error("{}: {message}", .path.display())]
    Input {
        /// The input file or path.
        path: PathBuf,
        /// What went wrong, with the line or column where known.
        message: String,
    },
    /// Too many rows of a source were quarantined: the run writes no tables.
    #[error(
        "source {source_name}: {quarantined} of {read} rows quarantined ({:.2}%), above max_bad_fraction {:.2}%; commonest reasons: {reasons}",
        100.0 * (*.quarantined as f64) / (*.read).max(1) as f64,
        100.0 * .max_bad_fraction
    )]
    TooManyBadRows {
        /// Source name (its path as written in the config).
        source_name: String,
        /// Rows read from the source.
        read: u64,
        /// Rows quarantined.
        quarantined: u64,
        /// The configured limit.
        max_bad_fraction: f64,
        /// The commonest reasons, with counts.
        reasons: String,
    },
    /// A price file could not be used.
    #[error("price file {}: {message}", .path.display())]
    Prices {
        /// The price file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A user's request that cannot be carried out as asked, and says why.
    #[error("{0}")]
    Usage(String),
    /// The config file named does not exist.
    #[error("config file {} not found; pass --config FILE (see docs/configuration.md)", .path.display())]
    ConfigMissing {
        /// The path given.
        path: PathBuf,
    },
    /// Another run holds the output folder's lock.
    #[error("{} is being written by another inferledger run ({holder}); wait for it to finish, or stop it and run again", .out.display())]
    OutputBusy {
        /// The output folder.
        out: PathBuf,
        /// What the lock file says of its holder (pid, start time).
        holder: String,
    },
    /// Another run committed to a table while this one was publishing: this run
    /// published nothing.
    #[error("another run published into {} while this one ran (table {table}); this run published nothing: run it again", .out.display())]
    ConcurrentPublication {
        /// The output folder.
        out: PathBuf,
        /// The table whose commit conflicted.
        table: String,
        /// Delta's conflict.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The output folder holds no run to read (empty, an earlier version's, unfinished),
    /// with what to do.
    #[error("{}{advice}", .out.display())]
    NoRun {
        /// The output folder.
        out: PathBuf,
        /// What the folder holds and what to run, starting with its separator.
        advice: String,
    },
    /// A Ballista cluster could not be reached or failed a job.
    #[error("cluster: {0}")]
    Cluster(String),
    /// `sql` without --allow-write was given a statement that writes or defines.
    #[error(
        "read-only: {kind} statements are not run; `inferledger sql` does not write or define tables unless run with --allow-write"
    )]
    ReadOnly {
        /// What kind of statement (DDL, DML, COPY, SET …).
        kind: String,
    },
    /// A query names a table the session does not have.
    #[error("table '{table}' not found\n  tables of {}: {}", .out.display(), .tables.join(", "))]
    UnknownTable {
        /// The table named.
        table: String,
        /// The run folder.
        out: PathBuf,
        /// The tables it has.
        tables: Vec<String>,
    },
    /// `validate` found problems.
    #[error("{} problem(s) found:\n{}", .problems.len(), .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// One line per problem.
        problems: Vec<String>,
    },
    /// A state the pipeline's own code should never reach (a bug: please report it).
    #[error("internal error (a bug: please report it): {0}")]
    Internal(String),
    /// Command-line arguments that cannot be used together or as given (exit code 64).
    #[error("{0}")]
    Arguments(String),
    /// A step's or rule's query failed to plan or run; the DataFusion error is the cause.
    #[error("query {file} failed{hint}")]
    Query {
        /// The query file.
        file: String,
        /// What DataFusion said.
        source: datafusion::error::DataFusionError,
        /// Advice, when there is some.
        hint: &'static str,
    },
    /// An error from DataFusion while planning or running SQL.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// An error from Arrow while building or converting batches.
    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// An error from the Parquet reader or writer.
    #[error(transparent)]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    /// An I/O error with the path it concerned.
    #[error("{}: {error}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error (also the cause in the chain).
        #[source]
        error: std::io::Error,
    },
    /// JSON written or read by the pipeline itself.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// Wraps an I/O error with the path it concerned.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error: source,
        }
    }

    /// Whether a query ran out of the memory it may use (DataFusion's resources
    /// exhausted, wherever in the chain).
    pub fn is_memory_exhausted(source: &datafusion::error::DataFusionError) -> bool {
        matches!(
            source.find_root(),
            datafusion::error::DataFusionError::ResourcesExhausted(_)
        )
    }

    /// The process exit code for this error: 2 when the data was too bad to publish, 64
    /// for arguments that cannot be used, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::TooManyBadRows { .. } => 2,
            Error::Arguments(_) => 64,
            _ => 1,
        }
    }
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
