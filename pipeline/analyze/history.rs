//! What a run reads back from the history already published in `--out`, the system of
//! record, so that a period run night by night gives exactly the tables of one run over it:
//!
//! - `requests_context`: published requests from before the window that this run needs —
//!   those of an interaction still open when the window starts (`in_open_session`: it can
//!   gain requests tonight and closes, and is reported, in the window), self-hosted requests
//!   still in flight at the window's start (`in_flight`: their GPU time after midnight
//!   belongs to the window's pool-hours), and requests with prompt-prefix identity (the
//!   ideal cache's warm state, `warms_cache`).
//! - `requests_neighbour_ids`: the request ids published on the day before the window and
//!   the day after it; a copy of one of them in the window is a duplicate of the published
//!   copy (two copies either side of midnight read by two nightly runs count once).
//! - `context_gpu_costs`: the GPU cost earlier nights attributed to those requests of open
//!   interactions (from the published `request_gpu_costs`).
//! - `vllm_context`: each vLLM counter series' last sample before the window (from the
//!   published `vllm_counters`), the previous sample of the window's first increase.
//! - the lookback views: after the window's tables are made, the decision steps read each
//!   day-partitioned table as published history outside the window plus this run's window,
//!   limited to `[economics] lookback_days` ending on the window's last day.

use std::path::Path;
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::common::arrow_util;
use crate::common::error::Result;
use crate::read::published::PublishedRun;

/// The days a run covers and what it may see of history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunWindow {
    /// First day (UTC), inclusive.
    pub from: NaiveDate,
    /// Last day (UTC), inclusive.
    pub to: NaiveDate,
    /// Days of history the decision tables look back over, ending on `to`.
    pub lookback_days: u32,
}

impl RunWindow {
    /// Midnight at the start of `from`, in µs.
    pub fn from_micros(&self) -> i64 {
        midnight_micros(self.from)
    }

    /// Midnight after `to`, in µs: the horizon. Nothing at or after it is known to the run.
    pub fn horizon_micros(&self) -> i64 {
        midnight_micros(self.to + Duration::days(1))
    }

    /// First day of the decision tables' lookback.
    pub fn lookback_from(&self) -> NaiveDate {
        self.to - Duration::days(i64::from(self.lookback_days.max(1)) - 1)
    }

    /// Whether a `YYYY-MM-DD` partition date is inside the window.
    pub fn contains(&self, date: &str) -> bool {
        date >= self.from.to_string().as_str() && date <= self.to.to_string().as_str()
    }
}

/// Midnight (UTC) at the start of a day, in µs since the epoch.
pub fn midnight_micros(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_micros()
}

/// Runs `sql` and registers its rows as the in-memory table `name` (replacing any): what
/// a run reads back from history is small and read several times.
async fn register_query_result(ctx: &SessionContext, name: &str, sql: &str) -> Result<()> {
    let frame = ctx.sql(sql).await?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame.collect().await?;
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![batches])?))?;
    Ok(())
}

/// Columns of `requests_context` (a subset of the published `requests` table and three
/// flags).
const CONTEXT_COLUMNS: &str = "request_id, ts, duration_ms, provider, model, deployment, team, \
    feature, user_id, interaction_id, session_key, interaction_start, status, completed, \
    input_tokens, cache_read_tokens, output_tokens, cost_usd, pool, source_file, source_line, \
    prefix_blocks, prefix_block_tokens";

/// The published `requests` table's schema where no history exists yet: the staged columns,
/// then what `queries/requests.sql` adds.
fn empty_history_schema() -> SchemaRef {
    let staged = crate::sources::requests::canonical::staged_requests_schema();
    let mut fields: Vec<Field> = staged.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("session_key", DataType::Utf8, true));
    fields.push(crate::common::arrow_util::utc_timestamp_field(
        "interaction_start",
        true,
    ));
    fields.push(Field::new("pool", DataType::Utf8, true));
    fields.push(Field::new("date", DataType::Utf8, true));
    Arc::new(Schema::new(fields))
}

/// Registers `requests_context` from the published `requests` (empty when there is no
/// history).
pub async fn register_requests_context(
    ctx: &SessionContext,
    history: &PublishedRun,
    window: &RunWindow,
    inactivity_gap_seconds: i64,
) -> Result<()> {
    history
        .register_or_empty(
            ctx,
            "requests_published",
            "requests",
            empty_history_schema(),
        )
        .await?;
    let from = window.from;
    // In the type the staged rows hold their ids in (Utf8; the published table may read
    // as Utf8View).
    let neighbours_sql = format!(
        "SELECT DISTINCT arrow_cast(request_id, 'Utf8') AS request_id FROM requests_published \
         WHERE date = '{}' OR date = '{}'",
        from - Duration::days(1),
        window.to + Duration::days(1)
    );
    register_query_result(ctx, "requests_neighbour_ids", &neighbours_sql).await?;
    let from_micros = window.from_micros();
    let open_after = from_micros - inactivity_gap_seconds * 1_000_000;
    let recent_from =
        (from - Duration::days(1 + inactivity_gap_seconds.max(0) / 86_400)).to_string();
    // Interactions still open at the window's start: activity (a request's start or end)
    // within the gap of midnight.
    let open_sql = format!(
        "SELECT DISTINCT session_key, interaction_start FROM requests_published \
         WHERE date >= '{recent_from}' AND date < '{from}' \
           AND CAST(ts AS BIGINT) + COALESCE(duration_ms, 0) * 1000 >= {open_after}"
    );
    let open = ctx.sql(&open_sql).await?.collect().await?;
    let open_schema = Arc::new(open.first().map_or_else(
        || {
            Schema::new(vec![
                Field::new("session_key", DataType::Utf8, true),
                crate::common::arrow_util::utc_timestamp_field("interaction_start", true),
            ])
        },
        |b| b.schema().as_ref().clone(),
    ));
    ctx.deregister_table("open_sessions")?;
    ctx.register_table(
        "open_sessions",
        Arc::new(MemTable::try_new(open_schema, vec![open])?),
    )?;
    let context_sql = format!(
        "SELECT {columns}, \
                o.session_key IS NOT NULL AS in_open_session, \
                (h.pool IS NOT NULL AND h.duration_ms > 0 \
                 AND CAST(h.ts AS BIGINT) + h.duration_ms * 1000 > {from_micros}) AS in_flight, \
                (h.pool IS NULL AND h.prefix_blocks IS NOT NULL) AS warms_cache \
         FROM requests_published h \
         LEFT JOIN open_sessions o \
             ON h.session_key = o.session_key AND h.interaction_start = o.interaction_start \
         WHERE h.date < '{from}' \
           AND (o.session_key IS NOT NULL \
                OR (h.date >= '{recent_from}' AND h.pool IS NOT NULL AND h.duration_ms > 0 \
                    AND CAST(h.ts AS BIGINT) + h.duration_ms * 1000 > {from_micros}) \
                OR (h.pool IS NULL AND h.prefix_blocks IS NOT NULL))",
        columns = CONTEXT_COLUMNS
            .split(", ")
            .map(|c| format!("h.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    register_query_result(ctx, "requests_context", &context_sql).await?;
    register_context_gpu_costs(ctx, history, window).await
}

/// Registers `context_gpu_costs` (request_id, gpu_cost_usd): the GPU cost earlier nights
/// published (`request_gpu_costs`) for the requests of interactions still open.
async fn register_context_gpu_costs(
    ctx: &SessionContext,
    history: &PublishedRun,
    window: &RunWindow,
) -> Result<()> {
    let timestamp = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let empty = Arc::new(Schema::new(vec![
        Field::new("hour", timestamp, true),
        Field::new("pool", DataType::Utf8, true),
        Field::new("request_id", DataType::Utf8, true),
        Field::new("gpu_cost_usd", crate::common::money::money_type(), true),
        Field::new("date", DataType::Utf8, true),
    ]));
    history
        .register_or_empty(
            ctx,
            "request_gpu_costs_published",
            "request_gpu_costs",
            empty,
        )
        .await?;
    let sql = format!(
        "SELECT g.request_id, SUM(g.gpu_cost_usd) AS gpu_cost_usd \
         FROM request_gpu_costs_published g \
         JOIN (SELECT DISTINCT request_id FROM requests_context WHERE in_open_session AND pool IS NOT NULL) c \
           ON g.request_id = c.request_id \
         WHERE g.date >= (SELECT COALESCE(MIN(to_char(interaction_start, '%Y-%m-%d')), '{from}') FROM requests_context WHERE in_open_session) \
           AND g.date < '{from}' \
         GROUP BY g.request_id",
        from = window.from
    );
    register_query_result(ctx, "context_gpu_costs", &sql).await?;
    Ok(())
}

/// Registers `vllm_context` (pool, host, model, metric, ts, value): the last published
/// sample of each vLLM counter series before the window.
pub async fn register_vllm_context(
    ctx: &SessionContext,
    history: &PublishedRun,
    window: &RunWindow,
) -> Result<()> {
    let timestamp = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    let empty = Arc::new(Schema::new(vec![
        Field::new("hour", timestamp.clone(), true),
        text("pool"),
        text("host"),
        text("model"),
        text("metric"),
        Field::new("last_ts", timestamp, true),
        Field::new("last_value", DataType::Float64, true),
        text("date"),
    ]));
    history
        .register_or_empty(ctx, "vllm_counters_published", "vllm_counters", empty)
        .await?;
    let sql = format!(
        "SELECT pool, host, model, metric, last_ts AS ts, last_value AS value FROM ( \
             SELECT *, ROW_NUMBER() OVER (PARTITION BY host, model, metric ORDER BY last_ts DESC) AS latest \
             FROM vllm_counters_published WHERE date < '{}') \
         WHERE latest = 1",
        window.from
    );
    register_query_result(ctx, "vllm_context", &sql).await?;
    Ok(())
}

/// Re-registers each day-partitioned table the decision steps read as published history
/// outside the window plus this run's window (`tables_dir`), over the lookback days.
pub async fn register_lookback(
    ctx: &SessionContext,
    history: &PublishedRun,
    tables_dir: &Path,
    window: &RunWindow,
    partitioned_tables: &[&str],
) -> Result<()> {
    let (first, day_after) = (window.lookback_from(), window.to + Duration::days(1));
    for &table in partitioned_tables {
        let Some(schema) = ctx.table_provider(table).await.ok().map(|t| t.schema()) else {
            continue;
        };
        let published = format!("{table}__published");
        let window_part = format!("{table}__window");
        history
            .register_or_empty(ctx, &published, table, schema.clone())
            .await?;
        arrow_util::register_parquet_dir(
            ctx,
            &window_part,
            &tables_dir.join(table),
            true,
            Some(schema.clone()),
        )
        .await?;
        let columns = schema
            .fields()
            .iter()
            .map(|f| format!("\"{}\"", f.name()))
            .collect::<Vec<_>>()
            .join(", ");
        let history_days = history_days(window);
        let view = format!(
            "SELECT {columns} FROM \"{published}\" WHERE {history_days} \
             UNION ALL \
             SELECT {columns} FROM \"{window_part}\" WHERE date >= '{first}' AND date < '{day_after}'"
        );
        let frame = ctx.sql(&view).await?;
        ctx.deregister_table(table)?;
        ctx.register_table(table, frame.into_view())?;
    }
    Ok(())
}

/// The days of the lookback outside the window, the days before it (the lookback ends on
/// the window's last day): what the lookback views read from the published history (the
/// window's days come from this run). Day ranges are written half-open (`date < the day
/// after`): DataFusion 55 reads `date >= d AND date <= d` as the constant `date = d`, with
/// which planning some steps fails its own sanity check (see `analyze::write_step`).
fn history_days(window: &RunWindow) -> String {
    let (first, from) = (window.lookback_from(), window.from);
    format!("date >= '{first}' AND date < '{from}'")
}

/// Registers the sums by day of requests (`rollup`, the table the step `sql` makes from
/// `table`, the window's) that the decision steps read (after [`register_lookback`]), each
/// as the window's sums plus the same sums of published history days: `rollup` over the
/// lookback, and [`REQUESTS_DAILY_TRAILING`] over the trailing days of spend_anomalies and
/// spend_forecast (from the trailing baseline's first day, or the month's if earlier, up
/// to the window, whatever the decision lookback). The history is summed here, once each,
/// rather than read by every step. While it is summed, `table` names the history days
/// alone (the steps' SQL reads `table` by name); nothing else runs then, as the first
/// decision step waits for every earlier step.
pub async fn register_lookback_rollups(
    ctx: &SessionContext,
    window: &RunWindow,
    table: &str,
    rollup: &str,
    sql: &str,
) -> Result<()> {
    let trailing = format!(
        "date >= '{}' AND date < '{}'",
        trailing_from(window),
        window.from
    );
    // The trailing days hold the whole window; the lookback, the window's days from its
    // first (a lookback shorter than the window leaves the window's first days out).
    let lookback_window = format!("date >= '{}'", window.lookback_from());
    // The trailing sums first: both add to the window's sums, which `rollup` names until
    // the lookback's replace them.
    for (days, window_days, target) in [
        (trailing, "true".to_string(), REQUESTS_DAILY_TRAILING),
        (history_days(window), lookback_window, rollup),
    ] {
        let sums = rollup_with_history(ctx, table, rollup, sql, &days, &window_days).await?;
        ctx.deregister_table(target)?;
        ctx.register_table(target, sums)?;
    }
    Ok(())
}

/// The days of `rollup` (the window's sums of `table` by day, made by `sql`) that
/// `window_days` selects, plus the same sums of the published days of `table` that `days`
/// selects, collected.
async fn rollup_with_history(
    ctx: &SessionContext,
    table: &str,
    rollup: &str,
    sql: &str,
    days: &str,
    window_days: &str,
) -> Result<Arc<MemTable>> {
    let lookback = ctx
        .deregister_table(table)?
        .ok_or_else(|| crate::common::error::Error::Internal(format!("table {table} missing")))?;
    let history = async {
        let view = ctx
            .sql(&format!(
                "SELECT * FROM \"{table}__published\" WHERE {days}"
            ))
            .await?;
        ctx.register_table(table, view.into_view())?;
        ctx.sql(sql).await?.collect().await
    }
    .await;
    ctx.deregister_table(table)?;
    ctx.register_table(table, lookback)?;
    let history = history?;
    let history_table = format!("{rollup}__history");
    let history_schema = match history.first() {
        Some(batch) => batch.schema(),
        None => ctx.table_provider(rollup).await?.schema(),
    };
    ctx.deregister_table(&history_table)?;
    ctx.register_table(
        &history_table,
        Arc::new(MemTable::try_new(history_schema, vec![history])?),
    )?;
    let both = ctx
        .sql(&format!(
            "SELECT * FROM \"{rollup}\" WHERE {window_days} \
             UNION ALL SELECT * FROM \"{history_table}\""
        ))
        .await?;
    let schema = Arc::new(both.schema().as_arrow().clone());
    let batches = both.collect().await?;
    Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
}

/// The sums by day of the requests of the trailing days (see [`register_lookback_rollups`]).
pub const REQUESTS_DAILY_TRAILING: &str = "requests_daily_trailing";

/// Days of spend before a day that its anomaly baseline reads.
pub const BASELINE_DAYS: i64 = 28;

/// The first day `requests_daily_trailing` holds: [`BASELINE_DAYS`] before the window, or the
/// first of the window's last month if that is earlier (month-to-date spend).
pub fn trailing_from(window: &RunWindow) -> NaiveDate {
    use chrono::Datelike;
    let baseline = window.from - Duration::days(BASELINE_DAYS);
    let month_start = window.to.with_day(1).expect("day 1 exists");
    baseline.min(month_start)
}
