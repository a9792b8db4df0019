//! The three kinds of input, each read into staged Parquet rows with its bad rows
//! quarantined and every row counted: request logs (`requests`), GPU bills (`billing`) and
//! GPU metrics (`metrics`).

pub mod billing;
pub mod metrics;
pub mod requests;
