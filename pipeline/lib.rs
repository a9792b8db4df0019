//! inferledger: what AI inference really costs, from request logs to priced tables.
//!
//! The library holds everything; `main.rs` only parses flags and maps errors to exit codes.
//! The folders follow the data: inputs are read (`read`) by the three sources
//! (`sources`), analysed by the SQL steps and their Rust helpers (`analyze`), and published
//! (`publish`); the config, prices and shared helpers sit below them all.
//! - [`config`]: the TOML config (`inferledger.toml`), parsed and checked before any work,
//!   owning the formats it names.
//! - [`read`]: files (folders, globs, compression), records (JSON lines, CSV, Parquet),
//!   timestamps, JSON paths, bad-row accounting, and a published run's tables read back.
//! - [`sources`]: request logs of every supported format into canonical `requests` rows,
//!   GPU bills (FOCUS, CUR, GCP, generic) spread into hourly spend, GPU metrics (DCGM, vLLM).
//! - [`prices`]: the built-in effective-dated price catalog, LiteLLM price files, and the
//!   exact-decimal cost of one request.
//! - [`analyze`]: the SQL steps in `queries/` (embedded in the binary), the history a run
//!   reads back, the GPU-time sweep and exact cost split, the ideal-cache replay, `cost_of`.
//! - [`publish`]: the output folder (lock, staging), publication as Delta Lake commits with a
//!   run manifest, the conversion of earlier folders, `run_summary.json`, `report.md` and
//!   `report.html`.
//! - [`common`]: the error type, progress bars, Arrow helpers.
//! - [`commands`]: one module per subcommand (`run`, `validate`, `sql`, `history`, `prices`,
//!   `review`, `export`, `synth`).
#![warn(missing_docs)]

pub mod analyze;
pub mod commands;
pub mod common;
pub mod config;
pub mod job;
pub mod prices;
pub mod publish;
pub mod read;
pub mod sources;

pub use common::error::{Error, Result};
