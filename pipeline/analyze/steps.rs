//! The step catalog: every table a run makes, in order, with the query file (embedded from
//! `queries/`) and the Rust work that makes it, which tables are published and which are
//! internal, the recommendation rules, and what each step reads.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::analyze::functions::udf;
use crate::analyze::params::RUN_INPUT_TABLES;
use crate::analyze::{attribution, bound_subqueries, cache_sim};
use crate::common::error::{Error, Result};

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
/// (`pipeline/analyze/history.rs`) instead of the run's window alone.
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

/// The tables ingest stages besides the requests, with their schemas: the bills, the GPU
/// metrics and the providers' own usage exports.
pub fn staged_inputs() -> [(&'static str, SchemaRef); 3] {
    [
        ("billing_staged", crate::sources::billing::staged_schema()),
        ("metrics_staged", crate::sources::metrics::staged_schema()),
        (
            "provider_usage_staged",
            crate::sources::provider_usage::staged_schema(),
        ),
    ]
}

/// What the step queries read besides the published tables: the run's staged bills and
/// metrics ([`staged_inputs`]), its settings and the history it read back
/// ([`RUN_INPUT_TABLES`]), the tables the steps' Rust work registers
/// ([`Prepare::registers`]) and the internal steps' tables. A run publishes them under
/// `out/internal/<table>/` (replaced whole by each run), and `sql` registers them, so that
/// every file in `queries/` pasted into `sql` runs. The staged requests are not copied:
/// `sql` reads them from the published `requests` (every staged column is there), and
/// `requests_daily` is a view summing all of them (`publish::output::register_output`).
pub fn internal_tables() -> Vec<&'static str> {
    let prepared = STEPS
        .iter()
        .filter_map(|step| match step.work {
            Work::Prepared(prepare, _) => Some(prepare.registers()),
            _ => None,
        })
        .flatten()
        .copied();
    let internal_steps = STEPS
        .iter()
        .filter(|step| !step.published && step.table != REQUESTS_DAILY.table)
        .map(|step| step.table);
    staged_inputs()
        .map(|(name, _)| name)
        .into_iter()
        .chain(RUN_INPUT_TABLES)
        .chain(prepared)
        .chain(internal_steps)
        .collect()
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

    /// The tables the Rust work registers besides the step's own, for the step's query
    /// and later ones.
    pub fn registers(self) -> &'static [&'static str] {
        match self {
            // attribution::register_weights
            Prepare::GpuTimeSweep => &["gpu_request_time", "gpu_time_split", "pool_busy"],
            // attribution::register_split
            Prepare::GpuCostSplit => &["gpu_cost_split", "request_gpu_cost_split"],
            // cache_sim::register_ideal
            Prepare::IdealCacheReplay => &["cache_ideal"],
        }
    }
}

/// The tables a step reads, where they are known: its query's, and its Rust work's.
pub(crate) fn step_reads(step: &Step) -> Result<Option<std::collections::BTreeSet<String>>> {
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
