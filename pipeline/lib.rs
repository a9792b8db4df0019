//! inferledger: what AI inference really costs, from request logs to priced tables.
//!
//! The library holds everything; `main.rs` only parses flags and maps errors to exit codes.
//! The folders follow the data: inputs are read (`read`) by the three sources
//! (`sources`), analysed by the SQL steps and their Rust helpers (`analyze`), and published
//! (`publish`) by the nightly job (`job`); the config, prices and shared helpers sit below.
//!
//! Layers: common → read → config → prices → sources → analyze → publish → job → commands.
//! A module imports only from its own layer and the layers before it in that line
//! (`tests/it/layout.rs` reads the line and checks every import).
//! - [`common`]: the error type, money types, progress bars, Arrow helpers.
//! - [`read`]: files (folders, globs, compression), records (JSON lines, CSV, Parquet),
//!   timestamps, JSON paths, bad-row accounting, and a published run's tables read back.
//! - [`config`]: the TOML config (`inferledger.toml`), parsed and checked before any work,
//!   owning the formats and canonical field names it speaks in.
//! - [`prices`]: the built-in effective-dated price catalog, LiteLLM price files, and the
//!   exact-decimal cost of one request's token usage.
//! - [`sources`]: request logs of every supported format into canonical `requests` rows,
//!   GPU bills (FOCUS, CUR, GCP, generic) spread into hourly spend, GPU metrics (DCGM, vLLM),
//!   providers' own usage exports.
//! - [`analyze`]: the step catalog and its SQL in `queries/` (embedded in the binary), the
//!   scheduler, the run's settings as tables, the history a run reads back, the GPU-time
//!   sweep and exact cost split, the ideal-cache replay, the SQL functions.
//! - [`publish`]: the output folder (lock, staging), publication as Delta Lake commits with a
//!   run manifest, the conversion of earlier folders, `run_summary.json`, `report.md` and
//!   `report.html`.
//! - [`job`]: the nightly job from config to published tables, as one call.
//! - [`commands`]: one module per subcommand (`run`, `validate`, `sql`, `history`, `prices`,
//!   `review`, `export`, `whatif`, `synth`, `cluster`).
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
