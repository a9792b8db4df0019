//! The DataFusion session every command uses: settings (DataFusion's defaults, then
//! `DATAFUSION_*` variables, then ours), an optional memory limit with spilling, and the
//! pipeline's own functions ([`crate::analyze::functions::all`]).

use std::path::Path;

use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::analyze::functions;
use crate::common::error::{Error, Result};

/// A session context set up the way every command uses it.
pub fn new_context() -> SessionContext {
    let ctx = SessionContext::new_with_config(session_config());
    register_functions(&ctx);
    ctx
}

/// The functions every context has ([`functions::all`]).
fn register_functions(ctx: &SessionContext) {
    functions::register_all(ctx);
}

/// The session settings: DataFusion's defaults, then any `DATAFUSION_*` environment
/// variable (as datafusion-cli reads them: `DATAFUSION_EXECUTION_BATCH_SIZE=16384` sets
/// `datafusion.execution.batch_size`), then ours where no variable set them: target
/// partitions = cores, and each Parquet file written by one task rather than its columns
/// encoded in tasks of their own (a step writes a file per day partition at once already:
/// on the 1M-request bench, interleaved runs took the same time within noise, and peak
/// memory was up to 100 MiB lower).
fn session_config() -> SessionConfig {
    let config = SessionConfig::from_env().unwrap_or_else(|e| {
        eprintln!("warning: DATAFUSION_* environment variables ignored: {e}");
        SessionConfig::new()
    });
    let mut config = config.with_information_schema(true);
    let unset = |variable: &str| std::env::var_os(variable).is_none();
    if unset("DATAFUSION_EXECUTION_PARQUET_ALLOW_SINGLE_FILE_PARALLELISM") {
        config = config.set_bool(
            "datafusion.execution.parquet.allow_single_file_parallelism",
            false,
        );
    }
    if unset("DATAFUSION_EXECUTION_TARGET_PARTITIONS") {
        config = config
            .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()));
    }
    config
}

/// A context whose queries use at most `memory_limit` bytes, spilling sorts and
/// aggregations to `spill_dir` (or the system's temporary folder) where DataFusion can.
pub fn new_context_with_limit(
    memory_limit: Option<usize>,
    spill_dir: Option<&Path>,
) -> Result<SessionContext> {
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = memory_limit {
        runtime = runtime.with_memory_limit(limit, 1.0);
    }
    if let Some(dir) = spill_dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        runtime = runtime.with_temp_file_path(dir);
    }
    // Hash joins are kept even within a memory limit: with DataFusion 55, sort-merge joins
    // over wide rows fail in their merge phase (which cannot spill) sooner than hash joins.
    let ctx = SessionContext::new_with_config_rt(session_config(), runtime.build_arc()?);
    register_functions(&ctx);
    Ok(ctx)
}
