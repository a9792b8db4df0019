//! The four kinds of input, each read into staged Parquet rows with its bad rows
//! quarantined and every row counted: request logs (`requests`), GPU bills (`billing`), GPU
//! metrics (`metrics`) and the providers' own usage and cost exports (`provider_usage`).

pub mod billing;
pub mod metrics;
pub mod provider_usage;
pub mod requests;
