//! What every stage shares: the error type, progress bars, and small Arrow / DataFusion
//! helpers. It imports nothing of the pipeline's.

pub mod arrow_util;
pub mod error;
pub mod money;
pub mod progress;
pub mod session_buckets;
pub mod staged;
