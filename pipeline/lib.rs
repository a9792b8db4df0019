//! inferledger: what AI inference really costs, from request logs to priced tables.
//!
//! The library holds everything; `main.rs` only parses flags and maps errors to exit codes.
//! Where each step lives:
//! - [`config`]: the TOML config (`inferledger.toml`), parsed and checked before any work.
//! - [`ingest`]: reading request logs of every supported source into the canonical
//!   `requests` rows, with bad rows quarantined and every row counted.
//! - [`prices`]: the built-in effective-dated price catalog, LiteLLM price files, and the
//!   exact-decimal cost of one request.
//! - [`billing`]: GPU billing exports (FOCUS, CUR, GCP, generic) spread into hourly GPU
//!   spend and assigned to pools.
//! - [`metrics`]: GPU metrics (DCGM exporter, vLLM counters) as samples per pool.
//! - [`cache_sim`]: replays prompt-prefix identity through an ideal prefix cache.
//! - [`history`]: what a run reads back from the published history (interactions still
//!   open, requests in flight at midnight, the ideal cache's warm state, the decision
//!   tables' lookback), so night-by-night runs equal one run over the period.
//! - [`attribution`]: splits each pool-hour's GPU cost over the requests it served.
//! - [`analysis`]: runs the SQL in `queries/` (embedded in the binary) with DataFusion.
//! - [`output`]: Parquet writing and the atomic replacement of output partitions.
//! - [`summary`]: `run_summary.json` and `report.md`.
//! - [`html`]: `report.html`, self-contained, charts as inline SVG.
//! - [`udf`]: functions registered for users' SQL (`cost_of`).
//! - [`arrow_util`]: one query into batches, batches as a table, a cell as text or decimal.
//! - [`commands`]: one module per subcommand (`run`, `validate`, `sql`, `prices`, `synth`).
#![warn(missing_docs)]

pub mod analysis;
pub mod arrow_util;
pub mod attribution;
pub mod billing;
pub mod cache_sim;
pub mod commands;
pub mod config;
pub mod error;
pub mod history;
pub mod html;
pub mod ingest;
pub mod metrics;
pub mod output;
pub mod prices;
pub mod progress;
pub mod summary;
pub mod udf;

pub use error::{Error, Result};
