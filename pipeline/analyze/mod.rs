//! Runs the analysis: the SQL files in `queries/` (embedded in the binary), one output
//! table per file, in order, each reading the tables written before it.
//! - [`steps`]: the step catalog (tables, query files, Rust work, published or internal).
//! - [`schedule`]: runs the steps, at once where they do not depend on one another, the
//!   session steps one session bucket at a time.
//! - [`params`]: the config and the run's window as the tables the queries read.
//! - [`context`]: the DataFusion session every command uses, with [`functions`].
//! - [`history`]: the earlier runs' tables a run reads back.
//! - the Rust work of some steps: [`attribution`] (the GPU-time sweep and exact cost
//!   split), [`cache_sim`] (the ideal-cache replay), [`bound_subqueries`].
//! - [`cluster`] and [`cluster_rows`]: the steps' queries on a Ballista cluster.

pub mod attribution;
pub mod bound_subqueries;
pub mod cache_sim;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod cluster_rows;
pub mod context;
pub mod functions;
pub mod history;
pub mod params;
pub mod schedule;
pub mod steps;

pub use context::{new_context, new_context_with_limit};
pub use params::*;
pub use schedule::{StagedRequests, StepRun, StepTiming, run_steps};
pub use steps::*;
