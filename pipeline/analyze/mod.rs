//! Runs the analysis: the SQL files in `queries/` (embedded in the binary), one output
//! table per file, in order, each reading the tables written before it. Also registers a
//! finished run's tables by name for `sql` and the report.

pub mod attribution;
pub mod bound_subqueries;
pub mod cache_sim;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod distinct_values;
pub mod first_last;
pub mod history;
pub mod interaction_spans;
#[cfg(test)]
mod test_support;
pub mod udf;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::datasource::MemTable;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::common::arrow_util::{register_memtable, register_parquet_dir};
use crate::common::error::{Error, Result};
use crate::common::progress::Progress;

/// What a step runs.
#[derive(Debug, Clone, Copy)]
pub enum Work {
    /// A query file of `queries/`.
    Sql(&'static str),
    /// Rust work that registers the table the query file reads, then the query.
    Prepared(Prepare, &'static str),
    /// The union of the recommendation rules (`queries/recommendations/`), joined to the
    /// spend each acts on.
    Recommendations,
}

/// The Rust work some steps need before their SQL.
#[derive(Debug, Clone, Copy)]
pub enum Prepare {
    /// The concurrency-share sweep of GPU time (`attribution::register_weights`).
    GpuTimeSweep,
    /// The exact split of pool-hours' cost (`attribution::register_split`).
    GpuCostSplit,
    /// The ideal prefix-cache replay (`cache_sim::register_ideal`).
    IdealCacheReplay,
}

/// One analysis step: a table and what makes it.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// Output table name (and folder name).
    pub table: &'static str,
    /// What runs.
    pub work: Work,
    /// Whether the table is partitioned by `date`.
    pub partitioned: bool,
    /// Whether the table is written to the output folder (internal steps only feed others).
    pub published: bool,
    /// For the session steps: the table they read one session bucket at a time.
    pub per_bucket: Option<BucketInput>,
}

/// What a session step reads one session bucket at a time (see
/// `common::session_buckets`): every interaction lies in one bucket, so a step that
/// sessionises or groups by interaction can run bucket by bucket, each pass holding a
/// share of the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketInput {
    /// `requests_staged`: the bucket's staged request files.
    StagedRequests,
    /// `requests`: the bucket's part of the `requests` step's output.
    Requests,
}

impl Step {
    /// The step's query file as text, when it has one.
    pub fn sql(&self) -> Option<&'static str> {
        match self.work {
            Work::Sql(sql) | Work::Prepared(_, sql) => Some(sql),
            Work::Recommendations => None,
        }
    }
}

/// Published tables are day-partitioned; internal ones are written whole.
const fn step(table: &'static str, sql: &'static str, published: bool) -> Step {
    Step {
        table,
        work: Work::Sql(sql),
        partitioned: published,
        published,
        per_bucket: None,
    }
}

/// A step whose SQL reads what Rust prepared first.
const fn prepared(
    table: &'static str,
    prepare: Prepare,
    sql: &'static str,
    published: bool,
) -> Step {
    Step {
        table,
        work: Work::Prepared(prepare, sql),
        partitioned: published,
        published,
        per_bucket: None,
    }
}

/// The requests summed by day (internal): what the aggregate steps read instead of every
/// request. The decision steps read it over their lookback
/// ([`history::register_lookback_rollups`]).
pub const REQUESTS_DAILY: Step = step(
    "requests_daily",
    include_str!("../../queries/requests_daily.sql"),
    false,
);

/// The first decision step: from here on the steps read the lookback history
/// (pipeline/history.rs) instead of the run's window alone.
pub const FIRST_DECISION_STEP: &str = "month_factor";

/// The steps of a run, in order.
pub const STEPS: [Step; 27] = [
    Step {
        table: "requests",
        work: Work::Sql(include_str!("../../queries/requests.sql")),
        partitioned: true,
        published: true,
        per_bucket: Some(BucketInput::StagedRequests),
    },
    REQUESTS_DAILY,
    step(
        "cache_hit_ratio",
        include_str!("../../queries/cache_hit_ratio.sql"),
        true,
    ),
    step(
        "gpu_billing_hourly",
        include_str!("../../queries/gpu_billing_hourly.sql"),
        true,
    ),
    step(
        "vllm_counters",
        include_str!("../../queries/vllm_counters.sql"),
        true,
    ),
    step(
        "vllm_hourly",
        include_str!("../../queries/vllm_hourly.sql"),
        true,
    ),
    prepared(
        "gpu_request_weights",
        Prepare::GpuTimeSweep,
        include_str!("../../queries/gpu_request_weights.sql"),
        false,
    ),
    step(
        "pool_hours",
        include_str!("../../queries/pool_hours.sql"),
        false,
    ),
    prepared(
        "gpu_cost_attribution",
        Prepare::GpuCostSplit,
        include_str!("../../queries/gpu_cost_attribution.sql"),
        true,
    ),
    step(
        "request_gpu_costs",
        include_str!("../../queries/request_gpu_costs.sql"),
        true,
    ),
    Step {
        table: "interactions",
        work: Work::Sql(include_str!("../../queries/interactions.sql")),
        partitioned: true,
        published: true,
        per_bucket: Some(BucketInput::Requests),
    },
    step(
        "interaction_costs",
        include_str!("../../queries/interaction_costs.sql"),
        true,
    ),
    step(
        "hourly_utilization",
        include_str!("../../queries/hourly_utilization.sql"),
        true,
    ),
    step(
        "cost_attribution",
        include_str!("../../queries/cost_attribution.sql"),
        true,
    ),
    prepared(
        "cache_opportunity",
        Prepare::IdealCacheReplay,
        include_str!("../../queries/cache_opportunity.sql"),
        true,
    ),
    step(
        "month_factor",
        include_str!("../../queries/month_factor.sql"),
        false,
    ),
    step(
        "reconciliation",
        include_str!("../../queries/reconciliation.sql"),
        true,
    ),
    step(
        "reconciliation_token_types",
        include_str!("../../queries/reconciliation_token_types.sql"),
        true,
    ),
    step(
        "api_daily_spend",
        include_str!("../../queries/api_daily_spend.sql"),
        false,
    ),
    step(
        "spend_anomalies",
        include_str!("../../queries/spend_anomalies.sql"),
        true,
    ),
    Step {
        table: "spend_forecast",
        work: Work::Sql(include_str!("../../queries/spend_forecast.sql")),
        partitioned: false,
        published: true,
        per_bucket: None,
    },
    Step {
        table: "selfhost_breakeven",
        work: Work::Sql(include_str!("../../queries/selfhost_breakeven.sql")),
        partitioned: false,
        published: true,
        per_bucket: None,
    },
    Step {
        table: "spot_volatility",
        work: Work::Sql(include_str!("../../queries/spot_volatility.sql")),
        partitioned: false,
        published: true,
        per_bucket: None,
    },
    step(
        "workload_spend",
        include_str!("../../queries/workload_spend.sql"),
        false,
    ),
    Step {
        table: "pool_rightsizing",
        work: Work::Sql(include_str!("../../queries/pool_rightsizing.sql")),
        partitioned: false,
        published: true,
        per_bucket: None,
    },
    Step {
        table: "recommendations",
        work: Work::Recommendations,
        partitioned: false,
        published: true,
        per_bucket: None,
    },
    Step {
        table: "savings_by_spend",
        work: Work::Sql(include_str!("../../queries/savings_by_spend.sql")),
        partitioned: false,
        published: true,
        per_bucket: None,
    },
];

/// The recommendation rules, one SQL file each in `queries/recommendations/`. Each yields
/// rows of `rule, severity, scope, finding, evidence, est_monthly_savings_usd, action,
/// acts_on, combines` (the spend it acts on, and whether it `stacks` with other rules on
/// that spend or is an `alternative` to them); the `recommendations` table is all of
/// them, sorted by savings, with `monthly_spend_usd` of the spend each acts on.
pub const RECOMMENDATION_RULES: [(&str, &str); 14] = [
    (
        "cache_hit_low",
        include_str!("../../queries/recommendations/cache_hit_low.sql"),
    ),
    (
        "cache_writes_outweigh_reads",
        include_str!("../../queries/recommendations/cache_writes_outweigh_reads.sql"),
    ),
    (
        "pool_costs_more_than_api",
        include_str!("../../queries/recommendations/pool_costs_more_than_api.sql"),
    ),
    (
        "pool_right_size",
        include_str!("../../queries/recommendations/pool_right_size.sql"),
    ),
    (
        "consider_selfhosting",
        include_str!("../../queries/recommendations/consider_selfhosting.sql"),
    ),
    (
        "use_idle_capacity",
        include_str!("../../queries/recommendations/use_idle_capacity.sql"),
    ),
    (
        "utilisation_sources_disagree",
        include_str!("../../queries/recommendations/utilisation_sources_disagree.sql"),
    ),
    (
        "spot_risk",
        include_str!("../../queries/recommendations/spot_risk.sql"),
    ),
    (
        "token_diet",
        include_str!("../../queries/recommendations/token_diet.sql"),
    ),
    (
        "batch_api",
        include_str!("../../queries/recommendations/batch_api.sql"),
    ),
    (
        "abandoned_spend",
        include_str!("../../queries/recommendations/abandoned_spend.sql"),
    ),
    (
        "unpriced_models",
        include_str!("../../queries/recommendations/unpriced_models.sql"),
    ),
    (
        "unassigned_gpu_spend",
        include_str!("../../queries/recommendations/unassigned_gpu_spend.sql"),
    ),
    (
        "billing_variance_unexplained",
        include_str!("../../queries/recommendations/billing_variance_unexplained.sql"),
    ),
];

/// Every rule's findings in one frame, sorted by estimated monthly savings.
pub async fn recommendations_frame(
    ctx: &SessionContext,
) -> Result<datafusion::dataframe::DataFrame> {
    let mut all: Option<datafusion::dataframe::DataFrame> = None;
    for (rule, sql) in RECOMMENDATION_RULES {
        let frame = ctx.sql(sql).await.map_err(|source| Error::Query {
            file: format!("queries/recommendations/{rule}.sql"),
            source,
            hint: "",
        })?;
        all = Some(match all {
            None => frame,
            Some(previous) => previous.union(frame)?,
        });
    }
    // The findings are few: materialised before the join and sort (DataFusion 55 mis-plans
    // a sort over a join of this union: "does not satisfy order requirements").
    let findings = all.expect("there are rules");
    let schema: SchemaRef = Arc::new(findings.schema().as_arrow().clone());
    let batches = findings.collect().await?;
    let schema = batches.first().map_or(schema, |b| b.schema());
    ctx.deregister_table("recommendation_findings")?;
    ctx.register_table(
        "recommendation_findings",
        Arc::new(MemTable::try_new(schema, vec![batches])?),
    )?;
    Ok(ctx.sql(RECOMMENDATIONS_SQL).await?)
}

/// Registers `recommendation_findings`, the union of the rules, as a view (for `sql`, where
/// `queries/recommendations.sql` pasted in reads it as the run did).
pub async fn register_recommendation_findings_view(ctx: &SessionContext) -> Result<()> {
    let mut all: Option<datafusion::dataframe::DataFrame> = None;
    for (_, sql) in RECOMMENDATION_RULES {
        let frame = ctx.sql(sql).await?;
        all = Some(match all {
            None => frame,
            Some(previous) => previous.union(frame)?,
        });
    }
    let findings = all.expect("there are rules");
    ctx.deregister_table("recommendation_findings")?;
    ctx.register_table("recommendation_findings", findings.into_view())?;
    Ok(())
}

/// The rules' findings with the spend each acts on and when its saving can be had: a
/// saving that gives back a pool's GPUs or moves its work off them (`pool_right_size`,
/// `pool_costs_more_than_api`) is realisable only at renewal when the pool's capacity is
/// committed (pool_rightsizing: at least half its cost committed); the day is the pool's
/// `[[pools]] commitment_ends`. Sorted by what can be had now, then at renewal.
pub const RECOMMENDATIONS_SQL: &str = include_str!("../../queries/recommendations.sql");

/// The published steps.
pub fn published_steps() -> impl Iterator<Item = Step> {
    STEPS.into_iter().filter(|s| s.published)
}

/// Tables written whole by each run (not partitioned).
pub const RUN_TABLES: [&str; 1] = ["quarantine"];

/// The folder, inside the output folder, of the latest run's internal tables.
pub const INTERNAL_DIR: &str = "internal";

/// What the step queries read besides the published tables: the run's staged bills and
/// metrics, the history it read back, its settings from the config, and the Rust steps'
/// results. A run publishes them under `out/internal/<table>/` (replaced whole by each
/// run), and `sql` registers them, so that every file in `queries/` pasted into `sql` runs.
/// The staged requests are not copied: `sql` reads them from the published `requests`
/// (every staged column is there), and `requests_daily` is a view summing all of them,
/// see [`register_output`].
pub const INTERNAL_TABLES: [&str; 29] = [
    "billing_staged",
    "metrics_staged",
    "provider_usage_staged",
    "reconcile_settings",
    "requests_context",
    "requests_neighbour_ids",
    "open_sessions",
    "vllm_context",
    "run_params",
    "pools",
    "pool_deployments",
    "pool_capacity",
    "economics",
    "gpu_hour_prices",
    "gpu_throughput",
    "replica_gpus",
    "pool_api_prices",
    "gpu_time_split",
    "pool_busy",
    "gpu_request_weights",
    "pool_hours",
    "gpu_cost_split",
    "gpu_request_time",
    "request_gpu_cost_split",
    "context_gpu_costs",
    "cache_ideal",
    "month_factor",
    "workload_spend",
    "api_daily_spend",
];

/// Writes each of `tables` to `dir/<table>/part-0.parquet`, streamed, with its schema even
/// when it has no rows.
pub async fn write_tables(ctx: &SessionContext, tables: &[&str], dir: &Path) -> Result<()> {
    for table in tables {
        write_frame(ctx.table(*table).await?, &dir.join(table)).await?;
    }
    Ok(())
}

/// Writes a frame to `folder/part-0.parquet`, streamed, with its schema even when it has
/// no rows.
pub async fn write_frame(frame: datafusion::dataframe::DataFrame, folder: &Path) -> Result<()> {
    use futures::StreamExt;
    std::fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
    let path = folder.join("part-0.parquet");
    let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(file, schema, None)?;
    let mut stream = frame.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        writer.write(&batch?)?;
    }
    writer.close()?;
    Ok(())
}

/// A session context set up the way every command uses it.
pub fn new_context() -> SessionContext {
    let ctx = SessionContext::new_with_config(session_config());
    register_functions(&ctx);
    ctx
}

/// The functions every context has: `session_bucket`, `utc_date`, `interaction_spans`,
/// `distinct_values`, `first_by_time` and `last_by_time`.
fn register_functions(ctx: &SessionContext) {
    udf::register_row_functions(ctx);
    ctx.register_udaf(interaction_spans::interaction_spans());
    ctx.register_udaf(distinct_values::distinct_values());
    for function in first_last::functions() {
        ctx.register_udaf(function);
    }
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

/// One session bucket's pass of a session step: the step's query over the bucket's rows,
/// in a session of its own (the run's tables and functions, with the bucket's in place of
/// the whole), so the run's session is never left half swapped.
struct SessionPass {
    bucket: u32,
    buckets: u32,
    /// The folder of the bucket's rows of the table the step reads per bucket.
    input: std::path::PathBuf,
    /// Where the pass writes its part of the table.
    output: std::path::PathBuf,
}

impl SessionPass {
    async fn run(
        &self,
        run: &SessionContext,
        step: &Step,
        book: &crate::prices::PriceBook,
        window: &crate::analyze::history::RunWindow,
        cluster: Option<&SessionContext>,
    ) -> Result<SchemaRef> {
        // Joins collect their build side whole instead of hashing both sides into
        // partitions: in a session step the build sides are the small ones (duplicated
        // ids, pools, interaction spans, GPU costs), and repartitioning the probe side
        // (every request, every column) cost more than the join (requests: 0.95 s vs
        // 0.88 s on the 1M-request bench).
        let config = run
            .copied_config()
            .set_bool("datafusion.optimizer.repartition_joins", false);
        let ctx = SessionContext::new_with_config_rt(config, run.runtime_env());
        for function in run.state().scalar_functions().values() {
            ctx.register_udf(function.as_ref().clone());
        }
        for function in run.state().window_functions().values() {
            ctx.register_udwf(function.as_ref().clone());
        }
        for function in run.state().aggregate_functions().values() {
            ctx.register_udaf(function.as_ref().clone());
        }
        let defaults = run.copied_config().options().catalog.clone();
        let tables = run
            .catalog(&defaults.default_catalog)
            .and_then(|catalog| catalog.schema(&defaults.default_schema))
            .expect("the run's default schema exists");
        for name in tables.table_names() {
            if let Some(table) = tables.table(&name).await? {
                ctx.register_table(name.as_str(), table)?;
            }
        }
        register_session_pass(&ctx, self.bucket, self.buckets)?;
        match step.per_bucket.expect("a session step") {
            BucketInput::StagedRequests => {
                ctx.deregister_table("requests_staged")?;
                register_parquet_dir(
                    &ctx,
                    "requests_staged",
                    &self.input,
                    false,
                    Some(crate::sources::requests::canonical::staged_requests_schema()),
                )
                .await?;
            }
            BucketInput::Requests => {
                let schema = run.table_provider("requests").await?.schema();
                ctx.deregister_table("requests")?;
                register_parquet_dir(&ctx, "requests", &self.input, true, Some(schema)).await?;
            }
        }
        write_step(&ctx, step, book, window, &self.output, cluster).await
    }
}

/// Writes one step's frame (or one session bucket's pass of it) to `dir`, day-partitioned
/// partitions outside the run's window left out; returns the frame's schema. With a
/// `cluster` (`run --cluster`), the frame's query runs there and its rows are written here.
async fn write_step(
    ctx: &SessionContext,
    step: &Step,
    book: &crate::prices::PriceBook,
    window: &crate::analyze::history::RunWindow,
    dir: &Path,
    cluster: Option<&SessionContext>,
) -> Result<SchemaRef> {
    use datafusion::prelude::{col, lit};
    let mut frame = step_frame(ctx, step, book).await?;
    if step.partitioned {
        // `date < the day after`, not `date <= to`: for a one-day window DataFusion 55
        // would read the two bounds as `date = day`, and planning some steps with that
        // constant fails its own sanity check (a sort on the other keys alone, then a merge
        // that wants `date` first). The days kept are the same.
        let day_after = window.to + chrono::Duration::days(1);
        frame = frame.filter(
            col("date")
                .gt_eq(lit(window.from.to_string()))
                .and(col("date").lt(lit(day_after.to_string()))),
        )?;
    }
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    if let Some(cluster) = cluster {
        frame = rows_from_cluster(ctx, cluster, frame).await?;
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut options = DataFrameWriteOptions::new();
    if step.partitioned {
        options = options.with_partition_by(vec!["date".to_string()]);
    }
    frame
        .write_parquet(
            &format!("{}/", dir.to_string_lossy()),
            options,
            Some(published_parquet_options()),
        )
        .await
        .map_err(|source| Error::Query {
            file: format!("queries/{}.sql", step.table),
            hint: if source.to_string().contains("Failed to allocate") {
                " (hint: raise --memory-limit or [run] memory_limit, or leave it unset)"
            } else {
                ""
            },
            source,
        })?;
    Ok(schema)
}

/// A frame of this process over the rows `frame`'s query gives when it runs on `cluster`:
/// the query's work (scans, joins, aggregations) is done by the cluster's executors, and
/// its rows stream back here, read once, to be written. The rows take the schema the plan
/// has here (the cluster may send text in another form, and its plan may say a column is
/// nullable where this one knows it is not), so the files are those an in-process run
/// writes.
async fn rows_from_cluster(
    ctx: &SessionContext,
    cluster: &SessionContext,
    frame: datafusion::dataframe::DataFrame,
) -> Result<datafusion::dataframe::DataFrame> {
    use futures::StreamExt;
    // The schema of the plan this process would run (its physical plan: text as views
    // where the scans give views, columns known not to be NULL), what it would write.
    let schema = frame.clone().create_physical_plan().await?.schema();
    let (_, plan) = frame.into_parts();
    let from_cluster = datafusion::dataframe::DataFrame::new(cluster.state(), plan)
        .execute_stream()
        .await?;
    let local = schema.clone();
    let rows = from_cluster.map(move |batch| {
        let batch = batch?;
        let columns = batch
            .columns()
            .iter()
            .zip(local.fields())
            .map(|(column, field)| {
                if column.data_type() == field.data_type() {
                    Ok(column.clone())
                } else {
                    datafusion::arrow::compute::cast(column, field.data_type())
                }
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(datafusion::arrow::array::RecordBatch::try_new(
            local.clone(),
            columns,
        )?)
    });
    let stream: datafusion::execution::SendableRecordBatchStream = Box::pin(
        datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema.clone(), rows),
    );
    let table = datafusion::catalog::streaming::StreamingTable::try_new(
        schema.clone(),
        vec![Arc::new(StreamedOnce {
            schema,
            stream: std::sync::Mutex::new(Some(stream)),
        })],
    )?;
    Ok(ctx.read_table(Arc::new(table))?)
}

/// A stream of rows that can be read once, as a table's one partition.
struct StreamedOnce {
    schema: SchemaRef,
    stream: std::sync::Mutex<Option<datafusion::execution::SendableRecordBatchStream>>,
}

impl std::fmt::Debug for StreamedOnce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamedOnce").finish_non_exhaustive()
    }
}

impl datafusion::physical_plan::streaming::PartitionStream for StreamedOnce {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(
        &self,
        _ctx: Arc<datafusion::execution::TaskContext>,
    ) -> datafusion::execution::SendableRecordBatchStream {
        let taken = self.stream.lock().ok().and_then(|mut s| s.take());
        match taken {
            Some(stream) => stream,
            None => {
                let error = datafusion::error::DataFusionError::Execution(
                    "a step's rows from the cluster were read twice".to_string(),
                );
                Box::pin(
                    datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                        self.schema.clone(),
                        futures::stream::once(async move { Err(error) }),
                    ),
                )
            }
        }
    }
}

/// Links (or, where links fail, copies) every file one bucket's pass wrote into the
/// table's folder, at the same place below it, named apart by the bucket.
fn gather_pass(pass: &Path, table_dir: &Path, bucket: u32) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(pass) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(pass, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            gather_pass(&path, &table_dir.join(&name), bucket)?;
        } else {
            std::fs::create_dir_all(table_dir).map_err(|e| Error::io(table_dir, e))?;
            let target = table_dir.join(format!("b{bucket:03}-{name}"));
            if std::fs::hard_link(&path, &target).is_err() {
                std::fs::copy(&path, &target).map_err(|e| Error::io(&target, e))?;
            }
        }
    }
    Ok(())
}

/// Registers the one-row `session_pass` table: which session bucket (`session_bucket`, from
/// 0) of how many (`session_buckets`) the session steps are reading now. The `sql` prompt
/// and a run with one bucket read bucket 0 of 1: everything.
pub fn register_session_pass(ctx: &SessionContext, bucket: u32, buckets: u32) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("session_bucket", DataType::Int64, false),
        Field::new("session_buckets", DataType::Int64, false),
    ]));
    register_memtable(
        ctx,
        "session_pass",
        schema,
        vec![
            Arc::new(Int64Array::from(vec![i64::from(bucket)])),
            Arc::new(Int64Array::from(vec![i64::from(buckets)])),
        ],
    )
}

/// A (text key, number) table from a map of the config.
fn register_map(
    ctx: &SessionContext,
    name: &str,
    (key, value): (&str, &str),
    map: &std::collections::BTreeMap<String, f64>,
) -> Result<()> {
    use datafusion::arrow::array::{Float64Array, StringArray};
    let schema = Arc::new(Schema::new(vec![
        Field::new(key, DataType::Utf8, false),
        Field::new(value, DataType::Float64, false),
    ]));
    register_memtable(
        ctx,
        name,
        schema,
        vec![
            Arc::new(StringArray::from(
                map.keys().map(String::as_str).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                map.values().copied().collect::<Vec<_>>(),
            )),
        ],
    )
}

/// Registers the `[[pools]]` config as tables: `pools` (pool, environment, deployments),
/// `pool_deployments` (pool, deployment) and `pool_capacity` (pool, model,
/// tokens_per_second_per_gpu).
pub fn register_pools(ctx: &SessionContext, pools: &[crate::config::PoolConfig]) -> Result<()> {
    use datafusion::arrow::array::{Float64Array, StringArray};
    let text = |n: &str, nullable: bool| Field::new(n, DataType::Utf8, nullable);
    let register =
        |name: &str, schema: SchemaRef, columns| register_memtable(ctx, name, schema, columns);
    register(
        "pools",
        Arc::new(Schema::new(vec![
            text("pool", false),
            text("environment", true),
            Field::new("deployments", DataType::Int64, false),
            text("commitment_ends", true),
        ])),
        vec![
            Arc::new(StringArray::from(
                pools.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                pools
                    .iter()
                    .map(|p| p.environment.as_deref())
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                pools
                    .iter()
                    .map(|p| p.deployments.len().max(1) as i64)
                    .collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                pools
                    .iter()
                    .map(|p| p.commitment_ends.as_deref())
                    .collect::<Vec<_>>(),
            )),
        ],
    )?;
    let deployments: Vec<(&str, &str)> = pools
        .iter()
        .flat_map(|p| {
            p.deployments
                .iter()
                .map(move |d| (p.name.as_str(), d.as_str()))
        })
        .collect();
    register(
        "pool_deployments",
        Arc::new(Schema::new(vec![
            text("pool", false),
            text("deployment", false),
        ])),
        vec![
            Arc::new(StringArray::from(
                deployments.iter().map(|d| d.0).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                deployments.iter().map(|d| d.1).collect::<Vec<_>>(),
            )),
        ],
    )?;
    let capacity: Vec<(&str, &str, f64)> = pools
        .iter()
        .flat_map(|p| {
            p.tokens_per_second_per_gpu
                .iter()
                .map(move |(m, t)| (p.name.as_str(), m.as_str(), *t))
        })
        .collect();
    register(
        "pool_capacity",
        Arc::new(Schema::new(vec![
            text("pool", false),
            text("model", false),
            Field::new("tokens_per_second_per_gpu", DataType::Float64, false),
        ])),
        vec![
            Arc::new(StringArray::from(
                capacity.iter().map(|c| c.0).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                capacity.iter().map(|c| c.1).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                capacity.iter().map(|c| c.2).collect::<Vec<_>>(),
            )),
        ],
    )?;
    Ok(())
}

/// Registers `[economics]` as tables: `economics` (one row: every threshold and cost; money
/// as DECIMAL(38, 12)), `gpu_hour_prices` (gpu_model, gpu_hour_usd decimal) and
/// `gpu_throughput` (model, tokens_per_second).
pub fn register_economics(ctx: &SessionContext, e: &crate::config::Economics) -> Result<()> {
    use crate::sources::requests::canonical::{money_type, to_money};
    use datafusion::arrow::array::{ArrayRef, Decimal128Array, Float64Array, StringArray};
    let money = |v: rust_decimal::Decimal| -> ArrayRef {
        Arc::new(Decimal128Array::from(vec![to_money(v).0]).with_data_type(money_type()))
    };
    let scalars: Vec<(&str, f64)> = vec![
        ("amortisation_months", e.amortisation_months),
        ("lead_time_months", e.lead_time_months),
        ("api_cheaper_below", e.api_cheaper_below),
        ("selfhost_wins_above", e.selfhost_wins_above),
        ("cache_hit_low", e.cache_hit_low),
        ("cache_hit_target", e.cache_hit_target),
        ("spot_swing", e.spot_swing),
        ("batch_discount", e.batch_discount),
        ("material_share", e.material_share),
        ("abandoned_share", e.abandoned_share),
        ("spare_replicas", f64::from(e.spare_replicas)),
        (
            "selfhost_ops_engineer_months",
            e.selfhost_ops_engineer_months,
        ),
        ("migration_engineer_months", e.migration_engineer_months),
    ];
    let amounts = [
        ("owned_gpu_month_usd", e.owned_gpu_month_usd),
        ("gpu_purchase_usd", e.gpu_purchase_usd),
        ("engineer_month_usd", e.engineer_month_usd),
    ];
    let mut fields: Vec<Field> = scalars
        .iter()
        .map(|(n, _)| Field::new(*n, DataType::Float64, false))
        .collect();
    fields.extend(
        amounts
            .iter()
            .map(|(n, _)| Field::new(*n, money_type(), false)),
    );
    fields.push(Field::new("selfhost_gpu_model", DataType::Utf8, false));
    fields.push(Field::new("lookback_days", DataType::Int64, false));
    let mut columns: Vec<ArrayRef> = scalars
        .iter()
        .map(|(_, v)| Arc::new(Float64Array::from(vec![*v])) as ArrayRef)
        .collect();
    columns.extend(amounts.iter().map(|(_, v)| money(*v)));
    columns.push(Arc::new(StringArray::from(vec![
        e.selfhost_gpu_model.as_str(),
    ])));
    columns.push(Arc::new(Int64Array::from(vec![i64::from(e.lookback_days)])));
    register_memtable(ctx, "economics", Arc::new(Schema::new(fields)), columns)?;
    register_memtable(
        ctx,
        "gpu_hour_prices",
        Arc::new(Schema::new(vec![
            Field::new("gpu_model", DataType::Utf8, false),
            Field::new("gpu_hour_usd", money_type(), false),
        ])),
        vec![
            Arc::new(StringArray::from(
                e.gpu_hour_usd
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            )),
            Arc::new(
                Decimal128Array::from(
                    e.gpu_hour_usd
                        .values()
                        .map(|v| to_money(*v).0)
                        .collect::<Vec<_>>(),
                )
                .with_data_type(money_type()),
            ),
        ],
    )?;
    register_map(
        ctx,
        "gpu_throughput",
        ("model", "tokens_per_second"),
        &e.throughput_tokens_per_second,
    )?;
    let replicas: std::collections::BTreeMap<String, f64> = e
        .replica_gpus
        .iter()
        .map(|(model, gpus)| (model.clone(), f64::from(*gpus)))
        .collect();
    register_map(ctx, "replica_gpus", ("model", "gpus"), &replicas)?;
    Ok(())
}

/// Registers `pool_api_prices` (pool, api_model, input_per_token, output_per_token,
/// price_id): the price in force at `at_micros` (the end of the run's window, so a rerun
/// gives the same table whatever day it runs) of the API model each pool stands in for.
pub fn register_pool_api_prices(
    ctx: &SessionContext,
    pools: &[crate::config::PoolConfig],
    book: &crate::prices::PriceBook,
    at_micros: i64,
) -> Result<()> {
    use datafusion::arrow::array::{ArrayRef, Decimal128Array, StringArray};
    let now = at_micros - 1;
    let rows: Vec<(&str, &str, &crate::prices::Price)> = pools
        .iter()
        .filter_map(|p| {
            let model = p.api_model.as_deref()?;
            Some((p.name.as_str(), model, book.lookup(model, None, now)?))
        })
        .collect();
    let money = crate::sources::requests::canonical::money_type;
    let schema = Arc::new(Schema::new(vec![
        Field::new("pool", DataType::Utf8, false),
        Field::new("api_model", DataType::Utf8, false),
        Field::new("input_per_token", money(), false),
        Field::new("output_per_token", money(), false),
        Field::new("price_id", DataType::Utf8, false),
    ]));
    let decimal = |f: fn(&crate::prices::Price) -> rust_decimal::Decimal| -> ArrayRef {
        Arc::new(
            Decimal128Array::from(
                rows.iter()
                    .map(|r| crate::sources::requests::canonical::to_money(f(r.2)).0)
                    .collect::<Vec<_>>(),
            )
            .with_data_type(money()),
        )
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )),
        decimal(|p| p.standard.input),
        decimal(|p| p.standard.output),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.2.id.as_str()).collect::<Vec<_>>(),
        )),
    ];
    register_memtable(ctx, "pool_api_prices", schema, columns)?;
    Ok(())
}

/// Registers `requests_duplicate_ids` (the request ids staged more than once, which
/// `queries/requests.sql` ranks) from the list ingest kept.
pub fn register_duplicate_ids(ctx: &SessionContext, ids: &[String]) -> Result<()> {
    use datafusion::arrow::array::StringArray;
    let schema = Arc::new(Schema::new(vec![Field::new(
        "request_id",
        DataType::Utf8,
        false,
    )]));
    register_memtable(
        ctx,
        "requests_duplicate_ids",
        schema,
        vec![Arc::new(StringArray::from(ids.to_vec()))],
    )
}

/// Registers what `queries/requests.sql` reads besides `requests_staged` in a session
/// without ingest (the `sql` prompt, the SQL tests): `requests_duplicate_ids` and
/// `requests_duplicate_copies` as views that find them in `requests_staged`, and
/// `session_pass` as bucket 0 of 1 (everything in one pass).
pub async fn register_request_step_views(ctx: &SessionContext) -> Result<()> {
    let view = ctx
        .sql("SELECT request_id FROM requests_staged GROUP BY request_id HAVING COUNT(*) > 1")
        .await?;
    ctx.deregister_table("requests_duplicate_ids")?;
    ctx.register_table("requests_duplicate_ids", view.into_view())?;
    let view = ctx.sql(DUPLICATE_COPIES_SQL).await?;
    ctx.deregister_table("requests_duplicate_copies")?;
    ctx.register_table("requests_duplicate_copies", view.into_view())?;
    register_session_pass(ctx, 0, 1)
}

/// The staged copies of every duplicated request id, whichever session bucket each copy
/// is in: `queries/requests.sql` picks the copy to keep among them all, by these columns.
const DUPLICATE_COPIES_SQL: &str = "SELECT request_id, ts, output_tokens, source, source_file, \
     source_line FROM requests_staged \
     WHERE request_id IN (SELECT request_id FROM requests_duplicate_ids)";

/// What `requests_duplicate_copies` holds of each copy: its id, what ranks it, and where
/// it was read (which identifies it among the staged rows).
const DUPLICATE_COPY_COLUMNS: [&str; 6] = [
    "request_id",
    "ts",
    "output_tokens",
    "source",
    "source_file",
    "source_line",
];

/// Writes `requests_duplicate_copies` (of the staged rows whose id is one of
/// `duplicate_ids`, the ids ingest saw more than once, the columns that rank and identify
/// them) into `folder` (a run: the passes over the buckets read it once each) and
/// registers it.
///
/// The ids are a list the scan tests each staged row's id against before it reads the
/// row's other columns (Parquet filter pushdown): joining the staged rows with the ids
/// instead read all 35 columns of every staged row (on the 1M-request bench, about a
/// thousand copies: 64 ms instead of 88 ms). Of those, only six are read: the whole row
/// of the copy kept comes from the `requests` step's own scan.
pub async fn register_duplicate_copies(
    ctx: &SessionContext,
    duplicate_ids: &[String],
    folder: &Path,
) -> Result<()> {
    use datafusion::prelude::{col, lit};
    let mut state = ctx.state();
    state
        .config_mut()
        .options_mut()
        .execution
        .parquet
        .pushdown_filters = true;
    let reading = SessionContext::new_with_state(state);
    let ids = duplicate_ids.iter().map(|id| lit(id.as_str())).collect();
    let frame = reading
        .table("requests_staged")
        .await?
        .filter(col("request_id").in_list(ids, false))?
        .select_columns(&DUPLICATE_COPY_COLUMNS)?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    write_frame(frame, folder).await?;
    ctx.deregister_table("requests_duplicate_copies")?;
    register_parquet_dir(
        ctx,
        "requests_duplicate_copies",
        folder,
        false,
        Some(schema),
    )
    .await
}

/// Registers the one-row `reconcile_settings` table `queries/reconciliation.sql` reads:
/// tolerance (a share) and tolerance_usd.
pub fn register_reconcile_settings(
    ctx: &SessionContext,
    settings: &crate::config::ReconcileConfig,
) -> Result<()> {
    use crate::sources::requests::canonical::{money_type, to_money};
    use datafusion::arrow::array::{Decimal128Array, Float64Array};
    let schema = Arc::new(Schema::new(vec![
        Field::new("tolerance", DataType::Float64, false),
        Field::new("tolerance_usd", money_type(), false),
    ]));
    register_memtable(
        ctx,
        "reconcile_settings",
        schema,
        vec![
            Arc::new(Float64Array::from(vec![settings.tolerance])),
            Arc::new(
                Decimal128Array::from(vec![to_money(settings.tolerance_usd).0])
                    .with_data_type(money_type()),
            ),
        ],
    )
}

/// Registers the one-row `run_params` table the step queries read their settings from:
/// inactivity_gap_seconds, the window (window_from, window_to), horizon_micros (midnight
/// after the window: what closes at or after it is still open) and the decision tables'
/// lookback (lookback_from, lookback_to).
pub fn register_run_params(
    ctx: &SessionContext,
    inactivity_gap_seconds: i64,
    window: &crate::analyze::history::RunWindow,
) -> Result<()> {
    use datafusion::arrow::array::StringArray;
    let text = |n: &str| Field::new(n, DataType::Utf8, false);
    let schema = Arc::new(Schema::new(vec![
        Field::new("inactivity_gap_seconds", DataType::Int64, false),
        text("window_from"),
        text("window_to"),
        Field::new("horizon_micros", DataType::Int64, false),
        text("lookback_from"),
        text("lookback_to"),
    ]));
    let day = |d: chrono::NaiveDate| -> datafusion::arrow::array::ArrayRef {
        Arc::new(StringArray::from(vec![d.to_string()]))
    };
    register_memtable(
        ctx,
        "run_params",
        schema,
        vec![
            Arc::new(Int64Array::from(vec![inactivity_gap_seconds])),
            day(window.from),
            day(window.to),
            Arc::new(Int64Array::from(vec![window.horizon_micros()])),
            day(window.lookback_from()),
            day(window.to),
        ],
    )
}

/// How long each step took and how many rows it wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepTiming {
    /// Table.
    pub table: String,
    /// Milliseconds.
    pub millis: u128,
}

/// How step tables are written: Snappy, and no dictionary for the columns whose values
/// are (nearly) all distinct, where building one costs time and saves nothing.
fn published_parquet_options() -> datafusion::config::TableParquetOptions {
    let mut options = datafusion::config::TableParquetOptions::default();
    // Snappy, DuckDB's default and readable by every Parquet reader: measured on the
    // 1M-request bench, the run took 7% less time and 0.4 CPU-seconds less than with zstd
    // level 1 (the later steps read `requests` back, and parquet-rs makes a zstd context
    // for every column chunk it writes), for tables 1.7 times larger (`requests` 44 MB
    // instead of 25 MB, the size of DuckDB's own output of the same requests).
    options.global.compression = Some("snappy".to_string());
    for column in [
        "request_id",
        "interaction_id",
        "session_key",
        "ts",
        "source_line",
        "interaction_start",
        "start_ts",
        "end_ts",
        "closes_at",
    ] {
        options.column_specific_options.insert(
            column.to_string(),
            datafusion::config::ParquetColumnOptions {
                dictionary_enabled: Some(false),
                ..Default::default()
            },
        );
    }
    options
}

/// The frame of one step: its SQL, after the Rust work some steps need first (the GPU-time
/// sweep, the cost split, the ideal-cache replay, the union of the recommendation rules).
pub async fn step_frame(
    ctx: &SessionContext,
    step: &Step,
    book: &crate::prices::PriceBook,
) -> Result<datafusion::dataframe::DataFrame> {
    let sql = match step.work {
        Work::Recommendations => return recommendations_frame(ctx).await,
        Work::Sql(sql) => sql,
        Work::Prepared(prepare, sql) => {
            match prepare {
                Prepare::GpuTimeSweep => attribution::register_weights(ctx).await?,
                Prepare::GpuCostSplit => attribution::register_split(ctx).await?,
                Prepare::IdealCacheReplay => {
                    udf::register_cache_read_discount(ctx, Arc::new(book.clone()));
                    cache_sim::register_ideal(ctx).await?
                }
            }
            sql
        }
    };
    let query_error = |source| Error::Query {
        file: format!("queries/{}.sql", step.table),
        source,
        hint: "",
    };
    let frame = ctx.sql(sql).await.map_err(query_error)?;
    bound_subqueries::bind_scalar_subqueries(frame)
        .await
        .map_err(query_error)
}

/// Where a run's staged requests are: one folder per session bucket
/// (`common::session_buckets`), in bucket order.
#[derive(Debug, Clone)]
pub struct StagedRequests {
    /// Each bucket's folder.
    pub buckets: Vec<std::path::PathBuf>,
}

/// The folder, inside the tables folder, where the session steps write each bucket's
/// part before the parts are gathered into the table's folder.
const BUCKETS_DIR: &str = ".buckets";

/// The tables a query names (in FROM and JOIN, subqueries included; not its CTEs),
/// lower-cased.
fn tables_named(sql: &str) -> Result<std::collections::BTreeSet<String>> {
    let mut names = std::collections::BTreeSet::new();
    for statement in datafusion::sql::parser::DFParser::parse_sql(sql)? {
        let (tables, _ctes) = datafusion::sql::resolve::resolve_table_references(&statement, true)?;
        names.extend(tables.iter().map(|t| t.table().to_lowercase()));
    }
    Ok(names)
}

impl Prepare {
    /// The tables the Rust work reads, where they are known: `None` for work that must run
    /// alone (see [`step_dependencies`]).
    fn reads(self) -> Option<&'static [&'static str]> {
        match self {
            // cache_sim::register_ideal: the requests and the earlier nights' context.
            Prepare::IdealCacheReplay => Some(&["requests", "requests_context"]),
            Prepare::GpuTimeSweep | Prepare::GpuCostSplit => None,
        }
    }
}

/// The tables a step reads, where they are known: its query's, and its Rust work's.
fn step_reads(step: &Step) -> Result<Option<std::collections::BTreeSet<String>>> {
    Ok(match step.work {
        Work::Sql(sql) => Some(tables_named(sql)?),
        Work::Prepared(prepare, sql) => match prepare.reads() {
            Some(reads) => {
                let mut tables = tables_named(sql)?;
                tables.extend(reads.iter().map(|t| t.to_string()));
                Some(tables)
            }
            None => None,
        },
        Work::Recommendations => None,
    })
}

/// For each step, the earlier steps it waits for. A step waits for every earlier step
/// whose table it reads, and for every earlier step that reads its table (which read the
/// table as it was before this step wrote it). The first decision step (the lookback is
/// registered before it) and the steps whose Rust work reads tables not listed (the GPU
/// sweeps and the recommendations) wait for every earlier step, and every later step
/// waits for them; tables their Rust work registers are so there before any later step
/// reads them. So steps run at once only where the order cannot change what they read.
fn step_dependencies() -> Result<Vec<Vec<usize>>> {
    let mut reads = Vec::new();
    for step in STEPS {
        reads.push(step_reads(&step)?.filter(|_| step.table != FIRST_DECISION_STEP));
    }
    Ok((0..STEPS.len())
        .map(|i| {
            (0..i)
                .filter(|&j| match (&reads[i], &reads[j]) {
                    (Some(mine), Some(theirs)) => {
                        mine.contains(STEPS[j].table) || theirs.contains(STEPS[i].table)
                    }
                    _ => true,
                })
                .collect()
        })
        .collect())
}

/// What the steps of one run share.
#[derive(Clone, Copy)]
pub struct StepRun<'a> {
    /// The prices (`cost_of`, `cache_read_discount`).
    pub book: &'a crate::prices::PriceBook,
    /// Where the run's tables are written.
    pub tables_dir: &'a Path,
    /// Earlier runs' tables, as the latest run left them.
    pub history: &'a crate::read::published::PublishedRun,
    /// The run's window and lookback.
    pub window: &'a crate::analyze::history::RunWindow,
    /// The staged requests, by session bucket.
    pub staged: &'a StagedRequests,
    /// Progress display.
    pub progress: &'a Progress,
    /// The Ballista cluster the steps' queries run on (`run --cluster`), if any.
    pub cluster: Option<&'a SessionContext>,
}

/// Runs every step, writing table `T` to `tables_dir/T/` and registering it as `T`. Day
/// partitions outside the run's window are not written. The session steps run once per
/// session bucket (`staged.buckets`), each pass reading that bucket's rows. Before the
/// first decision step, the day-partitioned tables are re-registered as the lookback
/// history (published history outside the window + this run's window); after the last, as
/// the window's again.
///
/// Steps that do not depend on one another ([`step_dependencies`]) run at once, as many as
/// there are cores (one at a time under a memory limit, which steps at once would share):
/// a small step keeps one core busy planning and writing while the other waits.
pub async fn run_steps(ctx: &SessionContext, run: StepRun<'_>) -> Result<Vec<StepTiming>> {
    use futures::StreamExt;
    let StepRun {
        tables_dir,
        history,
        window,
        ..
    } = run;
    let dependencies = step_dependencies()?;
    let at_once = match ctx.runtime_env().memory_pool.memory_limit() {
        datafusion::execution::memory_pool::MemoryLimit::Infinite => {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
        _ => 1,
    };
    let mut done = vec![false; STEPS.len()];
    let mut started = vec![false; STEPS.len()];
    let mut timings: Vec<(usize, StepTiming)> = Vec::new();
    let mut running = futures::stream::FuturesUnordered::new();
    loop {
        for i in 0..STEPS.len() {
            if running.len() >= at_once {
                break;
            }
            if started[i] || !dependencies[i].iter().all(|&j| done[j]) {
                continue;
            }
            if STEPS[i].table == FIRST_DECISION_STEP {
                // Every earlier step is done and no later one has started.
                let partitioned: Vec<&str> = published_steps()
                    .filter(|s| s.partitioned)
                    .map(|s| s.table)
                    .collect();
                crate::analyze::history::register_lookback(
                    ctx,
                    history,
                    tables_dir,
                    window,
                    &partitioned,
                )
                .await?;
                crate::analyze::history::register_lookback_rollups(
                    ctx,
                    window,
                    "requests",
                    REQUESTS_DAILY.table,
                    REQUESTS_DAILY.sql().expect("an SQL step"),
                )
                .await?;
            }
            started[i] = true;
            let step = STEPS[i];
            running.push(async move {
                let timing = run_step(ctx, &step, run).await?;
                Ok::<_, Error>((i, timing))
            });
        }
        match running.next().await {
            Some(finished) => {
                let (i, timing) = finished?;
                done[i] = true;
                timings.push((i, timing));
            }
            // Nothing running: every step is done (the first step not done is ready
            // whenever nothing runs, as steps wait only for earlier ones).
            None => break,
        }
    }
    debug_assert!(done.iter().all(|d| *d), "every step ran");
    timings.sort_by_key(|(i, _)| *i);
    let timings = timings.into_iter().map(|(_, timing)| timing).collect();
    let passes = tables_dir.join(BUCKETS_DIR);
    if passes.exists() {
        std::fs::remove_dir_all(&passes).map_err(|e| Error::io(&passes, e))?;
    }
    // The summary and the report describe the window: its tables take their names back.
    let window_rollup = step_dir(tables_dir, &REQUESTS_DAILY);
    let schema = ctx.table_provider(REQUESTS_DAILY.table).await?.schema();
    ctx.deregister_table(REQUESTS_DAILY.table)?;
    register_parquet_dir(
        ctx,
        REQUESTS_DAILY.table,
        &window_rollup,
        false,
        Some(schema),
    )
    .await?;
    for step in published_steps().filter(|s| s.partitioned) {
        let dir = tables_dir.join(step.table);
        let schema = ctx.table_provider(step.table).await?.schema();
        ctx.deregister_table(step.table)?;
        register_parquet_dir(ctx, step.table, &dir, true, Some(schema)).await?;
    }
    Ok(timings)
}

/// Where a step writes its table: published ones under their name, internal ones under
/// `.internal/`.
fn step_dir(tables_dir: &Path, step: &Step) -> PathBuf {
    if step.published {
        tables_dir.join(step.table)
    } else {
        tables_dir.join(".internal").join(step.table)
    }
}

/// Runs one step (each session bucket's pass in turn, for a session step), writes its
/// table and registers it.
async fn run_step(ctx: &SessionContext, step: &Step, run: StepRun<'_>) -> Result<StepTiming> {
    let StepRun {
        book,
        tables_dir,
        window,
        staged,
        progress,
        cluster,
        ..
    } = run;
    let started = Instant::now();
    let buckets = u32::try_from(staged.buckets.len()).expect("few buckets");
    let pass_dir = |bucket: u32, table: &str| {
        tables_dir
            .join(BUCKETS_DIR)
            .join(format!("bucket-{bucket:03}"))
            .join(table)
    };
    let bar = progress.step(step.table);
    let dir = step_dir(tables_dir, step);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let schema = match step.per_bucket {
        None => write_step(ctx, step, book, window, &dir, cluster).await?,
        Some(input) => {
            // One pass at a time: a pass already keeps every core busy (its sorts and
            // its Parquet writer are parallel), so passes at once would only add their
            // memory.
            let mut schemas = Vec::new();
            for bucket in 0..buckets {
                let pass = SessionPass {
                    bucket,
                    buckets,
                    input: match input {
                        BucketInput::StagedRequests => staged.buckets[bucket as usize].clone(),
                        BucketInput::Requests => pass_dir(bucket, "requests"),
                    },
                    output: pass_dir(bucket, step.table),
                };
                schemas.push(pass.run(ctx, step, book, window, cluster).await?);
            }
            for bucket in 0..buckets {
                gather_pass(&pass_dir(bucket, step.table), &dir, bucket)?;
            }
            schemas.into_iter().next().expect("at least one bucket")
        }
    };
    let table_schema = if step.partitioned {
        // Reading back, `date` comes from the folder names, as the last column.
        let mut fields: Vec<Field> = schema
            .fields()
            .iter()
            .filter(|f| f.name() != "date")
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("date", DataType::Utf8, true));
        Arc::new(Schema::new(fields))
    } else {
        schema
    };
    ctx.deregister_table(step.table)?;
    register_parquet_dir(ctx, step.table, &dir, step.partitioned, Some(table_schema)).await?;
    bar.finish_and_clear();
    Ok(StepTiming {
        table: step.table.to_string(),
        millis: started.elapsed().as_millis(),
    })
}

/// Registers `whatif_map(model, substitute)`, what `queries/whatif/reprice.sql` reads.
pub fn register_whatif_map(ctx: &SessionContext, map: &[(String, String)]) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("substitute", DataType::Utf8, false),
    ]));
    register_memtable(
        ctx,
        "whatif_map",
        schema,
        vec![
            Arc::new(datafusion::arrow::array::StringArray::from_iter_values(
                map.iter().map(|(m, _)| m),
            )),
            Arc::new(datafusion::arrow::array::StringArray::from_iter_values(
                map.iter().map(|(_, s)| s),
            )),
        ],
    )
}

/// Registers `whatif_window(date_from, date_to, token_change)`: the days to reprice (all by
/// default) and the share by which a substitute may count tokens differently (0 default).
pub fn register_whatif_window(
    ctx: &SessionContext,
    from: Option<String>,
    to: Option<String>,
    token_change: f64,
) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("date_from", DataType::Utf8, false),
        Field::new("date_to", DataType::Utf8, false),
        Field::new("token_change", DataType::Float64, false),
    ]));
    register_memtable(
        ctx,
        "whatif_window",
        schema,
        vec![
            Arc::new(datafusion::arrow::array::StringArray::from(vec![
                from.unwrap_or_else(|| "0000-01-01".into()),
            ])),
            Arc::new(datafusion::arrow::array::StringArray::from(vec![
                to.unwrap_or_else(|| "9999-12-31".into()),
            ])),
            Arc::new(datafusion::arrow::array::Float64Array::from(vec![
                token_change,
            ])),
        ],
    )
}

#[cfg(test)]
mod step_order_tests {
    use super::*;

    fn index(table: &str) -> usize {
        STEPS.iter().position(|s| s.table == table).expect(table)
    }

    fn waits(dependencies: &[Vec<usize>], step: &str, on: &str) -> bool {
        dependencies[index(step)].contains(&index(on))
    }

    /// Read off the query files by hand: which steps may run at once and which may not.
    #[test]
    fn steps_wait_for_what_they_read_and_for_the_barriers() {
        let dependencies = step_dependencies().unwrap();
        // interactions reads requests and request_gpu_costs; cost_attribution reads
        // neither interactions nor is read by it, so the two may run at once.
        assert!(waits(&dependencies, "interactions", "requests"));
        assert!(waits(&dependencies, "interactions", "request_gpu_costs"));
        assert!(!waits(&dependencies, "cost_attribution", "interactions"));
        // The aggregate steps read the requests summed by day, which reads requests;
        // interactions reads the requests themselves, so it may run beside the sums.
        assert!(waits(&dependencies, "requests_daily", "requests"));
        assert!(waits(&dependencies, "cache_hit_ratio", "requests_daily"));
        assert!(waits(&dependencies, "cost_attribution", "requests_daily"));
        assert!(!waits(&dependencies, "interactions", "requests_daily"));
        // The billing steps read no request table.
        assert!(!waits(&dependencies, "gpu_billing_hourly", "requests"));
        assert!(!waits(
            &dependencies,
            "gpu_billing_hourly",
            "requests_daily"
        ));
        // The cache replay's Rust work reads requests.
        assert!(waits(&dependencies, "cache_opportunity", "requests"));
        // spend_anomalies reads api_daily_spend.
        assert!(waits(&dependencies, "spend_anomalies", "api_daily_spend"));
        // The first decision step waits for every earlier step, and every later step
        // for it; so do the GPU sweeps and the recommendations.
        for barrier in [
            FIRST_DECISION_STEP,
            "gpu_request_weights",
            "gpu_cost_attribution",
            "recommendations",
        ] {
            let at = index(barrier);
            assert_eq!(dependencies[at], (0..at).collect::<Vec<_>>(), "{barrier}");
            for later in at + 1..STEPS.len() {
                assert!(
                    dependencies[later].contains(&at),
                    "{} after {barrier}",
                    STEPS[later].table
                );
            }
        }
        // Only earlier steps, so the run always finds a step to start.
        for (i, waits_for) in dependencies.iter().enumerate() {
            assert!(waits_for.iter().all(|&j| j < i));
        }
    }
}
