//! The run's settings as tables the step queries read: the config's `[[pools]]`,
//! `[economics]` and `[reconcile]`, the window (`run_params`), the session pass, the
//! duplicated request ids and their copies, and the what-if tables.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::SessionContext;

use crate::common::arrow_util::write_frame;
use crate::common::arrow_util::{register_memtable, register_parquet_dir};
use crate::common::error::Result;

/// What a run registers as tables before its steps, besides what ingest staged: the
/// config's settings, the window, and the history read back. `run` and the SQL tests
/// register them through [`register_run_inputs`], the one sequence both keep.
pub struct RunInputs<'a> {
    /// `[[pools]]`.
    pub pools: &'a [crate::config::PoolConfig],
    /// `[economics]`.
    pub economics: &'a crate::config::Economics,
    /// `[reconcile]`.
    pub reconcile: &'a crate::config::ReconcileConfig,
    /// The prices (the API price each pool stands in for).
    pub book: &'a crate::prices::PriceBook,
    /// The run's window and lookback.
    pub window: &'a crate::analyze::history::RunWindow,
    /// `[interactions] inactivity_gap` in seconds.
    pub inactivity_gap_seconds: i64,
    /// Earlier runs' tables, as the latest run left them.
    pub history: &'a crate::read::published::PublishedRun,
}

/// The tables [`register_run_inputs`] registers (each published under `internal/`).
pub const RUN_INPUT_TABLES: [&str; 15] = [
    "reconcile_settings",
    "pools",
    "pool_deployments",
    "pool_capacity",
    "economics",
    "gpu_hour_prices",
    "gpu_throughput",
    "replica_gpus",
    "pool_api_prices",
    "run_params",
    "requests_neighbour_ids",
    "open_sessions",
    "requests_context",
    "context_gpu_costs",
    "vllm_context",
];

/// Registers [`RUN_INPUT_TABLES`]: the settings, the window, and what the window's steps
/// read of earlier nights (`history::register_requests_context`, which reads the staged
/// requests, so they come first).
pub async fn register_run_inputs(ctx: &SessionContext, inputs: &RunInputs<'_>) -> Result<()> {
    use crate::analyze::history;
    register_reconcile_settings(ctx, inputs.reconcile)?;
    register_pools(ctx, inputs.pools)?;
    register_economics(ctx, inputs.economics)?;
    register_pool_api_prices(
        ctx,
        inputs.pools,
        inputs.book,
        inputs.window.horizon_micros(),
    )?;
    register_run_params(ctx, inputs.inactivity_gap_seconds, inputs.window)?;
    history::register_requests_context(
        ctx,
        inputs.history,
        inputs.window,
        inputs.inactivity_gap_seconds,
    )
    .await?;
    history::register_vllm_context(ctx, inputs.history, inputs.window).await
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
    use crate::common::money::{money_type, to_money};
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
    let money = crate::common::money::money_type;
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
                    .map(|r| crate::common::money::to_money(f(r.2)).0)
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
    use crate::common::money::{money_type, to_money};
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

/// A month's length, as every monthly figure scales to it: 365.25 / 12 days
/// (`days_per_month`, DECIMAL(10, 4)) and 24 times that in hours (`hours_per_month`,
/// DECIMAL(10, 1)). The one place the numbers are written: `run_params` and
/// `review_params` carry them to the queries.
pub fn month_length_columns() -> (Vec<Field>, Vec<datafusion::arrow::array::ArrayRef>) {
    use datafusion::arrow::array::Decimal128Array;
    // 30.4375 days and 730.5 hours, as the decimals' integers at their scales.
    const DAYS_PER_MONTH_AT_SCALE_4: i128 = 304_375;
    const HOURS_PER_MONTH_AT_SCALE_1: i128 = 7_305;
    let decimal = |value: i128, scale: i8| -> datafusion::arrow::array::ArrayRef {
        Arc::new(Decimal128Array::from(vec![value]).with_data_type(DataType::Decimal128(10, scale)))
    };
    (
        vec![
            Field::new("days_per_month", DataType::Decimal128(10, 4), false),
            Field::new("hours_per_month", DataType::Decimal128(10, 1), false),
        ],
        vec![
            decimal(DAYS_PER_MONTH_AT_SCALE_4, 4),
            decimal(HOURS_PER_MONTH_AT_SCALE_1, 1),
        ],
    )
}

/// Registers the one-row `run_params` table the step queries read their settings from:
/// inactivity_gap_seconds, the window (window_from, window_to), horizon_micros (midnight
/// after the window: what closes at or after it is still open), the decision tables'
/// lookback (lookback_from, lookback_to) and a month's length ([`month_length_columns`]).
pub fn register_run_params(
    ctx: &SessionContext,
    inactivity_gap_seconds: i64,
    window: &crate::analyze::history::RunWindow,
) -> Result<()> {
    use datafusion::arrow::array::StringArray;
    let text = |n: &str| Field::new(n, DataType::Utf8, false);
    let (month_fields, month_values) = month_length_columns();
    let mut fields = vec![
        Field::new("inactivity_gap_seconds", DataType::Int64, false),
        text("window_from"),
        text("window_to"),
        Field::new("horizon_micros", DataType::Int64, false),
        text("lookback_from"),
        text("lookback_to"),
    ];
    fields.extend(month_fields);
    let schema = Arc::new(Schema::new(fields));
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
        ]
        .into_iter()
        .chain(month_values)
        .collect(),
    )
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
mod tests {
    use super::*;

    /// The tables `register_run_inputs` adds to a session holding only the staged inputs
    /// are exactly [`RUN_INPUT_TABLES`] (which `internal_tables` publishes): a table added
    /// to the sequence and not to the list, or listed and not registered, fails here.
    #[tokio::test]
    async fn run_inputs_register_exactly_the_listed_tables() {
        let ctx = crate::analyze::new_context();
        let empty = |schema: SchemaRef| {
            Arc::new(datafusion::datasource::MemTable::try_new(schema, vec![vec![]]).unwrap())
        };
        ctx.register_table(
            "requests_staged",
            empty(crate::sources::requests::canonical::staged_requests_schema()),
        )
        .unwrap();
        for (name, schema) in crate::analyze::steps::staged_inputs() {
            ctx.register_table(name, empty(schema)).unwrap();
        }
        register_request_step_views(&ctx).await.unwrap();
        let names = |ctx: &SessionContext| -> std::collections::BTreeSet<String> {
            let catalog = ctx.catalog("datafusion").unwrap();
            catalog
                .schema("public")
                .unwrap()
                .table_names()
                .into_iter()
                .collect()
        };
        let before = names(&ctx);
        let window = crate::analyze::history::RunWindow {
            from: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            to: chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            lookback_days: 30,
        };
        let history = crate::read::published::PublishedRun::nothing(Path::new(
            "/nonexistent/inferledger-history",
        ))
        .unwrap();
        register_run_inputs(
            &ctx,
            &RunInputs {
                pools: &[],
                economics: &Default::default(),
                reconcile: &Default::default(),
                book: &crate::prices::PriceBook::builtin(),
                window: &window,
                inactivity_gap_seconds: 1800,
                history: &history,
            },
        )
        .await
        .unwrap();
        // Besides the listed tables, the history registers the earlier runs' published
        // tables it read (`<table>_published`), which are already published.
        let added: std::collections::BTreeSet<String> = names(&ctx)
            .difference(&before)
            .filter(|name| !name.ends_with("_published"))
            .cloned()
            .collect();
        let listed = RUN_INPUT_TABLES.iter().map(|t| t.to_string()).collect();
        assert_eq!(added, listed);
    }
}
