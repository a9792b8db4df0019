//! Splits each pool-hour's GPU cost over what it served.
//!
//! First the GPU time: each replica's (deployment's) busy time is swept in time order and
//! every instant of it is split equally among the requests in flight then (r1 10:00–10:30
//! and r2 10:15–10:45 share 10:15–10:30 half each), per hour; the union of in-flight time is
//! the replica's busy time. That gives `gpu_request_weights` (GPU seconds, requests and
//! tokens per pool-hour × team × feature × provider × model × deployment) and `pool_busy`
//! (busy µs per pool-hour, exact).
//!
//! Then the money: where utilisation is measured from requests, a pool-hour's cost is
//! spread over its replica-seconds (cost ÷ (3600 × replicas) per busy replica-second, no
//! rounded utilisation in between); where it is measured otherwise (DCGM, throughput) the
//! busy part, cost × utilisation, is split in proportion to GPU seconds; with no
//! utilisation all of it is. Tokens replace GPU seconds where a request of the pool-hour
//! lacks a duration. Each share is rounded toward zero at 12 decimals and the idle row is
//! the billed cost minus the shares, so for every pool-hour attributed + idle = billed,
//! exactly. The result is registered as `gpu_cost_split` for
//! `queries/gpu_cost_attribution.sql`.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::common::arrow_util::{decimal_at, register_memtable, sql_batches, string_at};
use crate::common::error::Result;
use crate::common::money::{money_type, to_money};

/// µs in an hour.
const HOUR_MICROS: i64 = 3_600_000_000;

/// Team, feature, provider, model, deployment.
pub type Key = [Option<String>; 5];

/// One group of requests served in a pool-hour.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Usage {
    /// Team, feature, provider, model, deployment.
    pub key: Key,
    /// Requests in flight during the hour.
    pub requests: i64,
    /// The group's share of the replicas' busy time in the hour, seconds.
    pub gpu_seconds: Decimal,
    /// Sum of tokens.
    pub tokens: i64,
    /// Requests without a duration.
    pub without_duration: i64,
}

/// One request on one replica, for the sweep.
#[derive(Debug, Clone)]
pub struct Span {
    /// The request.
    pub request_id: String,
    /// Who it was for.
    pub key: Key,
    /// Start, µs since the epoch.
    pub start: i64,
    /// Duration in µs, when the log has one.
    pub duration: Option<i64>,
    /// Input + output tokens.
    pub tokens: i64,
}

/// What one replica did, per hour index (hours since the epoch).
#[derive(Debug, Default)]
pub struct ReplicaHours {
    /// Usage per (hour, key).
    pub usage: BTreeMap<(i64, Key), Usage>,
    /// Busy µs per hour: the union of in-flight time.
    pub busy: BTreeMap<i64, i64>,
    /// Each request's share of the busy time per (hour, index in the spans), µs.
    pub per_request: BTreeMap<(i64, usize), Decimal>,
}

/// The hours a request touches: from its start's hour to its end's (at least one).
fn span_hours(span: &Span) -> std::ops::Range<i64> {
    let end = span.start + span.duration.unwrap_or(0).max(0);
    let first = span.start.div_euclid(HOUR_MICROS);
    let last = (end + HOUR_MICROS - 1)
        .div_euclid(HOUR_MICROS)
        .max(first + 1);
    first..last
}

/// Each request's part of each pool-hour it touched, for `gpu_request_time`.
#[derive(Debug, Default)]
struct RequestTime {
    pool: Vec<String>,
    hour: Vec<i64>,
    request_id: Vec<String>,
    keys: Vec<Key>,
    gpu_seconds: Vec<i128>,
    tokens: Vec<i64>,
}

impl RequestTime {
    fn push(&mut self, pool: &str, hour: i64, span: &Span, seconds: Decimal) {
        self.pool.push(pool.to_string());
        self.hour.push(hour);
        self.request_id.push(span.request_id.clone());
        self.keys.push(span.key.clone());
        self.gpu_seconds.push(to_money(seconds).0);
        self.tokens.push(span.tokens);
    }

    fn register(self, ctx: &SessionContext) -> Result<()> {
        let text_field = |n: &str, nullable: bool| Field::new(n, DataType::Utf8, nullable);
        let mut fields = vec![
            text_field("pool", false),
            Field::new("hour_index", DataType::Int64, false),
            text_field("request_id", false),
        ];
        fields.extend(KEY_COLUMNS.map(|c| text_field(c, true)));
        fields.push(Field::new("gpu_seconds", money_type(), false));
        fields.push(Field::new("tokens", DataType::Int64, false));
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(self.pool)),
            Arc::new(Int64Array::from(self.hour)),
            Arc::new(StringArray::from(self.request_id)),
        ];
        for i in 0..KEY_COLUMNS.len() {
            columns.push(Arc::new(StringArray::from(
                self.keys
                    .iter()
                    .map(|k| k[i].as_deref())
                    .collect::<Vec<_>>(),
            )));
        }
        columns.push(Arc::new(
            Decimal128Array::from(self.gpu_seconds).with_data_type(money_type()),
        ));
        columns.push(Arc::new(Int64Array::from(self.tokens)));
        register_memtable(
            ctx,
            "gpu_request_time",
            Arc::new(Schema::new(fields)),
            columns,
        )
    }
}

/// Sweeps one replica's requests: each instant of busy time is split equally among the
/// requests in flight then, cut at hour boundaries. Requests count (with their tokens) in
/// every hour they touch.
pub fn sweep(spans: &[Span]) -> ReplicaHours {
    let mut result = ReplicaHours::default();
    for span in spans {
        for hour in span_hours(span) {
            let usage = result
                .usage
                .entry((hour, span.key.clone()))
                .or_insert_with(|| Usage {
                    key: span.key.clone(),
                    ..Usage::default()
                });
            usage.requests += 1;
            usage.tokens += span.tokens;
            usage.without_duration += i64::from(span.duration.is_none());
        }
    }
    // Events: (time, is_start, span); ends sort before starts at the same instant.
    let mut events: Vec<(i64, bool, usize)> = Vec::new();
    for (i, span) in spans.iter().enumerate() {
        if let Some(d) = span.duration.filter(|d| *d > 0) {
            events.push((span.start, true, i));
            events.push((span.start + d, false, i));
        }
    }
    events.sort_unstable();
    let mut active: Vec<usize> = Vec::new();
    let mut previous = i64::MIN;
    for (time, is_start, index) in events {
        if time > previous && !active.is_empty() {
            let mut from = previous;
            while from < time {
                let hour = from.div_euclid(HOUR_MICROS);
                let until = time.min((hour + 1) * HOUR_MICROS);
                let length = until - from;
                *result.busy.entry(hour).or_default() += length;
                let each = Decimal::from(length) / Decimal::from(active.len() as i64);
                for &i in &active {
                    if let Some(usage) = result.usage.get_mut(&(hour, spans[i].key.clone())) {
                        usage.gpu_seconds += each;
                    }
                    *result.per_request.entry((hour, i)).or_default() += each;
                }
                from = until;
            }
        }
        previous = time;
        if is_start {
            active.push(index);
        } else if let Some(position) = active.iter().position(|&i| i == index) {
            active.swap_remove(position);
        }
    }
    for usage in result.usage.values_mut() {
        usage.gpu_seconds /= Decimal::from(1_000_000);
    }
    for seconds in result.per_request.values_mut() {
        *seconds /= Decimal::from(1_000_000);
    }
    result
}

/// One share of a pool-hour's cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    /// Team, feature, provider, model, deployment (team `__idle__` for the idle row).
    pub key: Key,
    /// Requests.
    pub requests: i64,
    /// `gpu_time`, `tokens`, `requests` or `idle`.
    pub basis: &'static str,
    /// Money.
    pub cost: Decimal,
}

/// How busy a pool-hour was, for splitting its cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Busy {
    /// Measured from the requests: the pool's replica-seconds in the hour (3600 × replicas);
    /// each busy replica-second costs cost ÷ replica-seconds.
    ReplicaSeconds(Decimal),
    /// Measured otherwise (DCGM, throughput): the busy share of the hour, 0–1.
    Utilization(Decimal),
    /// Not measurable: all the cost is busy when requests were served.
    Unknown,
}

/// Splits one pool-hour's `cost`; the shares add up to `cost` exactly.
pub fn split(cost: Decimal, busy: Busy, usage: &[Usage]) -> Vec<Share> {
    let total_int = |f: fn(&Usage) -> i64| usage.iter().map(f).sum::<i64>();
    let seconds: Decimal = usage.iter().map(|u| u.gpu_seconds).sum();
    let (basis, weights): (&'static str, Vec<Decimal>) =
        if total_int(|u| u.without_duration) == 0 && seconds > Decimal::ZERO {
            ("gpu_time", usage.iter().map(|u| u.gpu_seconds).collect())
        } else if total_int(|u| u.tokens) > 0 {
            (
                "tokens",
                usage.iter().map(|u| Decimal::from(u.tokens)).collect(),
            )
        } else {
            (
                "requests",
                usage.iter().map(|u| Decimal::from(u.requests)).collect(),
            )
        };
    let all: Decimal = weights.iter().sum();
    let amount = |weight: Decimal| -> Decimal {
        match busy {
            _ if all.is_zero() => Decimal::ZERO,
            // Each busy replica-second at its price, when the sweep measured it (and the
            // replicas were not busier than the pool has replicas).
            Busy::ReplicaSeconds(replica_seconds)
                if basis == "gpu_time" && all <= replica_seconds =>
            {
                cost * weight / replica_seconds
            }
            Busy::ReplicaSeconds(replica_seconds) => {
                let share = (seconds / replica_seconds).min(Decimal::ONE);
                cost * share * weight / all
            }
            Busy::Utilization(u) => cost * u.clamp(Decimal::ZERO, Decimal::ONE) * weight / all,
            Busy::Unknown => cost * weight / all,
        }
        .round_dp_with_strategy(12, RoundingStrategy::ToZero)
    };
    let mut shares: Vec<Share> = Vec::new();
    let mut attributed = Decimal::ZERO;
    for (u, weight) in usage.iter().zip(&weights) {
        let cost = amount(*weight);
        attributed += cost;
        shares.push(Share {
            key: u.key.clone(),
            requests: u.requests,
            basis,
            cost,
        });
    }
    shares.push(Share {
        key: [Some("__idle__".to_string()), None, None, None, None],
        requests: 0,
        basis: "idle",
        cost: cost - attributed,
    });
    shares
}

fn split_schema() -> SchemaRef {
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        crate::common::arrow_util::utc_timestamp_field("hour", false),
        Field::new("pool", DataType::Utf8, false),
        text("team"),
        text("feature"),
        text("provider"),
        text("model"),
        text("deployment"),
        Field::new("requests", DataType::Int64, false),
        Field::new("basis", DataType::Utf8, false),
        Field::new("gpu_cost_usd", money_type(), false),
        Field::new("date", DataType::Utf8, false),
    ]))
}

fn int(batch: &RecordBatch, name: &str, row: usize) -> i64 {
    batch
        .column_by_name(name)
        .and_then(|a| datafusion::arrow::compute::cast(&a.slice(row, 1), &DataType::Int64).ok())
        .filter(|a| !a.is_null(0))
        .map(|a| a.as_primitive::<Int64Type>().value(0))
        .unwrap_or(0)
}

fn text(batch: &RecordBatch, name: &str, row: usize) -> Option<String> {
    batch
        .column_by_name(name)
        .and_then(|a| string_at(a.as_ref(), row))
}

const KEY_COLUMNS: [&str; 5] = ["team", "feature", "provider", "model", "deployment"];

/// Sweeps every pool replica's requests (the window's, and those of earlier nights still
/// in flight at its start) and registers `gpu_time_split` and `pool_busy`.
pub async fn register_weights(ctx: &SessionContext) -> Result<()> {
    let sql = "SELECT request_id, pool, deployment, team, feature, provider, model, \
                      CAST(ts AS BIGINT) AS start_micros, duration_ms, \
                      input_tokens + output_tokens AS tokens \
               FROM requests WHERE pool IS NOT NULL \
               UNION ALL \
               SELECT request_id, pool, deployment, team, feature, provider, model, \
                      CAST(ts AS BIGINT), duration_ms, input_tokens + output_tokens \
               FROM requests_context WHERE in_flight \
               ORDER BY pool, deployment, start_micros, request_id";
    let mut replicas: BTreeMap<(String, Option<String>), Vec<Span>> = BTreeMap::new();
    for batch in sql_batches(ctx, sql).await? {
        for row in 0..batch.num_rows() {
            let pool = text(&batch, "pool", row).unwrap_or_default();
            let duration = batch
                .column_by_name("duration_ms")
                .filter(|a| !a.is_null(row))
                .map(|_| int(&batch, "duration_ms", row) * 1000);
            replicas
                .entry((pool, text(&batch, "deployment", row)))
                .or_default()
                .push(Span {
                    request_id: text(&batch, "request_id", row).unwrap_or_default(),
                    key: KEY_COLUMNS.map(|c| text(&batch, c, row)),
                    start: int(&batch, "start_micros", row),
                    duration,
                    tokens: int(&batch, "tokens", row),
                });
        }
    }
    let mut usage: BTreeMap<(String, i64, Key), Usage> = BTreeMap::new();
    let mut busy: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut per_request = RequestTime::default();
    for ((pool, _), spans) in &replicas {
        let hours = sweep(spans);
        for (i, span) in spans.iter().enumerate() {
            for hour in span_hours(span) {
                per_request.push(
                    pool,
                    hour,
                    span,
                    hours
                        .per_request
                        .get(&(hour, i))
                        .copied()
                        .unwrap_or_default(),
                );
            }
        }
        for ((hour, key), u) in hours.usage {
            let entry = usage
                .entry((pool.clone(), hour, key.clone()))
                .or_insert_with(|| Usage {
                    key,
                    ..Usage::default()
                });
            entry.requests += u.requests;
            entry.tokens += u.tokens;
            entry.without_duration += u.without_duration;
            entry.gpu_seconds += u.gpu_seconds;
        }
        for (hour, micros) in hours.busy {
            *busy.entry((pool.clone(), hour)).or_default() += micros;
        }
    }
    let text_field = |n: &str, nullable: bool| Field::new(n, DataType::Utf8, nullable);
    let mut fields = vec![
        text_field("pool", false),
        Field::new("hour_index", DataType::Int64, false),
    ];
    fields.extend(KEY_COLUMNS.map(|c| text_field(c, true)));
    fields.extend([
        Field::new("requests", DataType::Int64, false),
        Field::new("gpu_seconds", money_type(), false),
        Field::new("tokens", DataType::Int64, false),
        Field::new("without_duration", DataType::Int64, false),
    ]);
    let rows: Vec<_> = usage.iter().collect();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.0.0.as_str()).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.0.1).collect::<Vec<_>>(),
        )),
    ];
    for i in 0..KEY_COLUMNS.len() {
        columns.push(Arc::new(StringArray::from(
            rows.iter()
                .map(|r| r.1.key[i].as_deref())
                .collect::<Vec<_>>(),
        )));
    }
    columns.extend([
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.1.requests).collect::<Vec<_>>(),
        )) as ArrayRef,
        Arc::new(
            Decimal128Array::from(
                rows.iter()
                    .map(|r| to_money(r.1.gpu_seconds).0)
                    .collect::<Vec<_>>(),
            )
            .with_data_type(money_type()),
        ),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.1.tokens).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter()
                .map(|r| r.1.without_duration)
                .collect::<Vec<_>>(),
        )),
    ]);
    register_memtable(
        ctx,
        "gpu_time_split",
        Arc::new(Schema::new(fields)),
        columns,
    )?;
    per_request.register(ctx)?;
    let busy_rows: Vec<_> = busy.iter().collect();
    register_memtable(
        ctx,
        "pool_busy",
        Arc::new(Schema::new(vec![
            text_field("pool", false),
            Field::new("hour_index", DataType::Int64, false),
            Field::new("busy_micros", DataType::Int64, false),
        ])),
        vec![
            Arc::new(StringArray::from(
                busy_rows.iter().map(|r| r.0.0.as_str()).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                busy_rows.iter().map(|r| r.0.1).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                busy_rows.iter().map(|r| *r.1).collect::<Vec<_>>(),
            )),
        ],
    )
}

/// A request inside a key's share of a pool-hour: its id, GPU seconds and tokens.
type RequestPart = (String, Decimal, i64);

/// Each request's part of the GPU cost, for `request_gpu_cost_split`.
#[derive(Debug, Default)]
struct RequestCosts {
    hour: Vec<i64>,
    pool: Vec<String>,
    request_id: Vec<String>,
    cost: Vec<i128>,
    date: Vec<String>,
}

impl RequestCosts {
    /// Splits one share over its requests on the share's basis (GPU seconds, tokens or
    /// one each), each part rounded toward zero at 12 decimals.
    fn split(
        &mut self,
        share: &Share,
        requests: &[RequestPart],
        pool: &str,
        hour_micros: i64,
        date: &str,
    ) {
        let weight = |r: &RequestPart| match share.basis {
            "gpu_time" => r.1,
            "tokens" => Decimal::from(r.2),
            _ => Decimal::ONE,
        };
        let total: Decimal = requests.iter().map(weight).sum();
        if total.is_zero() {
            return;
        }
        for request in requests {
            let part = (share.cost * weight(request) / total)
                .round_dp_with_strategy(12, RoundingStrategy::ToZero);
            self.hour.push(hour_micros);
            self.pool.push(pool.to_string());
            self.request_id.push(request.0.clone());
            self.cost.push(to_money(part).0);
            self.date.push(date.to_string());
        }
    }

    fn register(self, ctx: &SessionContext) -> Result<()> {
        let schema = Arc::new(Schema::new(vec![
            crate::common::arrow_util::utc_timestamp_field("hour", false),
            Field::new("pool", DataType::Utf8, false),
            Field::new("request_id", DataType::Utf8, false),
            Field::new("gpu_cost_usd", money_type(), false),
            Field::new("date", DataType::Utf8, false),
        ]));
        register_memtable(
            ctx,
            "request_gpu_cost_split",
            schema,
            vec![
                Arc::new(TimestampMicrosecondArray::from(self.hour).with_timezone("UTC")),
                Arc::new(StringArray::from(self.pool)),
                Arc::new(StringArray::from(self.request_id)),
                Arc::new(Decimal128Array::from(self.cost).with_data_type(money_type())),
                Arc::new(StringArray::from(self.date)),
            ],
        )
    }
}

/// Reads `pool_hours` and `gpu_request_weights`, splits, registers `gpu_cost_split` (and
/// each request's part, `request_gpu_cost_split`).
pub async fn register_split(ctx: &SessionContext) -> Result<()> {
    let mut usage: BTreeMap<(String, i64), Vec<Usage>> = BTreeMap::new();
    for batch in sql_batches(ctx, "SELECT * FROM gpu_request_weights").await? {
        let seconds = batch.column_by_name("gpu_seconds").expect("a column");
        for row in 0..batch.num_rows() {
            let key = (
                text(&batch, "pool", row).unwrap_or_default(),
                int(&batch, "hour_index", row),
            );
            usage.entry(key).or_default().push(Usage {
                key: KEY_COLUMNS.map(|c| text(&batch, c, row)),
                requests: int(&batch, "requests", row),
                gpu_seconds: decimal_at(seconds.as_ref(), row).unwrap_or_default(),
                tokens: int(&batch, "tokens", row),
                without_duration: int(&batch, "without_duration", row),
            });
        }
    }
    // Each request's part of its key's share, for request_gpu_costs.
    let mut requests_of: BTreeMap<(String, i64, Key), Vec<RequestPart>> = BTreeMap::new();
    for batch in sql_batches(ctx, "SELECT * FROM gpu_request_time").await? {
        let seconds = batch.column_by_name("gpu_seconds").expect("a column");
        for row in 0..batch.num_rows() {
            requests_of
                .entry((
                    text(&batch, "pool", row).unwrap_or_default(),
                    int(&batch, "hour_index", row),
                    KEY_COLUMNS.map(|c| text(&batch, c, row)),
                ))
                .or_default()
                .push((
                    text(&batch, "request_id", row).unwrap_or_default(),
                    decimal_at(seconds.as_ref(), row).unwrap_or_default(),
                    int(&batch, "tokens", row),
                ));
        }
    }
    let mut per_request = RequestCosts::default();
    let hours = sql_batches(
        ctx,
        "SELECT pool, hour_index, CAST(date_part('epoch', hour) AS BIGINT) AS hour_seconds, date, \
                cost_usd, utilization, method, replicas FROM pool_hours",
    )
    .await?;
    let (mut hour_col, mut pool_col, mut keys, mut requests, mut basis, mut money, mut dates) = (
        vec![],
        vec![],
        Vec::<Key>::new(),
        vec![],
        vec![],
        vec![],
        vec![],
    );
    for batch in &hours {
        let utilization = batch.column_by_name("utilization").expect("selected");
        let cost = batch.column_by_name("cost_usd").expect("selected");
        for row in 0..batch.num_rows() {
            let pool = text(batch, "pool", row).unwrap_or_default();
            let index = int(batch, "hour_index", row);
            let busy = match text(batch, "method", row).as_deref() {
                Some("requests") => {
                    Busy::ReplicaSeconds(Decimal::from(3600 * int(batch, "replicas", row).max(1)))
                }
                _ if utilization.is_null(row) => Busy::Unknown,
                _ => Busy::Utilization(
                    Decimal::from_f64_retain(utilization.as_primitive::<Float64Type>().value(row))
                        .unwrap_or(Decimal::ZERO),
                ),
            };
            let billed = decimal_at(cost.as_ref(), row).unwrap_or(Decimal::ZERO);
            let served = usage
                .get(&(pool.clone(), index))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let date = text(batch, "date", row).unwrap_or_default();
            for share in split(billed, busy, served) {
                if let Some(requests) = requests_of.get(&(pool.clone(), index, share.key.clone())) {
                    per_request.split(
                        &share,
                        requests,
                        &pool,
                        int(batch, "hour_seconds", row) * 1_000_000,
                        &date,
                    );
                }
                hour_col.push(int(batch, "hour_seconds", row) * 1_000_000);
                pool_col.push(pool.clone());
                keys.push(share.key);
                requests.push(share.requests);
                basis.push(share.basis);
                money.push(to_money(share.cost).0);
                dates.push(text(batch, "date", row).unwrap_or_default());
            }
        }
    }
    let key_col = |i: usize| -> ArrayRef {
        Arc::new(StringArray::from(
            keys.iter().map(|k| k[i].as_deref()).collect::<Vec<_>>(),
        ))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMicrosecondArray::from(hour_col).with_timezone("UTC")),
        Arc::new(StringArray::from(pool_col)),
        key_col(0),
        key_col(1),
        key_col(2),
        key_col(3),
        key_col(4),
        Arc::new(Int64Array::from(requests)),
        Arc::new(StringArray::from(basis)),
        Arc::new(Decimal128Array::from(money).with_data_type(money_type())),
        Arc::new(StringArray::from(dates)),
    ];
    per_request.register(ctx)?;
    let batch = RecordBatch::try_new(split_schema(), columns)?;
    ctx.deregister_table("gpu_cost_split")?;
    ctx.register_table(
        "gpu_cost_split",
        Arc::new(MemTable::try_new(split_schema(), vec![vec![batch]])?),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn usage(team: &str, seconds: i64, tokens: i64, without: i64) -> Usage {
        Usage {
            key: [Some(team.into()), None, None, None, None],
            requests: 1,
            gpu_seconds: Decimal::from(seconds),
            tokens,
            without_duration: without,
        }
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn split_by_gpu_time_with_idle_remainder() {
        // $98.32 at 25% busy: $24.58 busy, split 1:2 by GPU time → 8.193333333333 and
        // 16.386666666666 (rounded toward zero); idle gets the rest, 73.740000000001.
        let shares = split(
            d("98.32"),
            Busy::Utilization(d("0.25")),
            &[usage("a", 1, 5, 0), usage("b", 2, 1, 0)],
        );
        assert_eq!(shares[0].cost, d("8.193333333333"));
        assert_eq!(shares[1].cost, d("16.386666666666"));
        assert_eq!(shares[2].basis, "idle");
        assert_eq!(shares[2].cost, d("73.740000000001"));
        assert_eq!(shares.iter().map(|s| s.cost).sum::<Decimal>(), d("98.32"));
    }

    #[test]
    fn tokens_when_a_duration_is_missing_and_all_idle_without_traffic() {
        let shares = split(
            d("10"),
            Busy::Unknown,
            &[usage("a", 1, 300, 0), usage("b", 0, 100, 1)],
        );
        assert_eq!(
            (
                shares[0].basis,
                shares[0].cost,
                shares[1].cost,
                shares[2].cost
            ),
            ("tokens", d("7.5"), d("2.5"), d("0"))
        );
        let idle = split(d("10"), Busy::Utilization(Decimal::ZERO), &[]);
        assert_eq!((idle.len(), idle[0].cost), (1, d("10")));
    }

    fn span(team: &str, start_minutes: i64, minutes: i64) -> Span {
        Span {
            request_id: format!("{team}{start_minutes}"),
            key: [Some(team.into()), None, None, None, None],
            start: 10 * HOUR_MICROS + start_minutes * 60_000_000,
            duration: Some(minutes * 60_000_000),
            tokens: 1,
        }
    }

    // Worked by hand (issue 8): 8 GPUs at $80/h on one replica; r1 10:00 +30 min (team a),
    // r2 10:15 +30 min (b), r3 10:50 +5 min (a). 10:00–10:15 r1 alone (15 min to a),
    // 10:15–10:30 r1 and r2 (7.5 min each), 10:30–10:45 r2 alone (15 min to b), 10:50–10:55
    // r3 (5 min to a): a 27.5 min = 1650 s, b 22.5 min = 1350 s, busy 50 min. Each busy
    // second costs $80 / 3600: a $36.67, b $30.00, idle $13.33, adding up to $80 exactly.
    #[test]
    fn concurrent_requests_share_each_instant_equally() {
        let hours = sweep(&[span("a", 0, 30), span("b", 15, 30), span("a", 50, 5)]);
        assert_eq!(hours.busy.get(&10), Some(&(50 * 60_000_000)));
        let seconds = |team: &str| {
            hours.usage[&(10, [Some(team.into()), None, None, None, None])].gpu_seconds
        };
        assert_eq!((seconds("a"), seconds("b")), (d("1650"), d("1350")));
        let usage: Vec<Usage> = hours.usage.values().cloned().collect();
        let shares = split(d("80"), Busy::ReplicaSeconds(d("3600")), &usage);
        let costs: Vec<Decimal> = shares.iter().map(|s| s.cost).collect();
        assert_eq!(
            costs,
            [
                d("36.666666666666"),
                d("30.000000000000"),
                d("13.333333333334")
            ]
        );
        assert_eq!(costs.iter().sum::<Decimal>(), d("80"));
    }

    #[test]
    fn a_request_across_an_hour_counts_in_both_hours() {
        // 10:50 for 20 minutes: 10 minutes in hour 10 and 10 in hour 11.
        let hours = sweep(&[span("a", 50, 20)]);
        assert_eq!(hours.busy.get(&10), Some(&600_000_000));
        assert_eq!(hours.busy.get(&11), Some(&600_000_000));
        assert_eq!(hours.usage.len(), 2);
        assert!(
            hours
                .usage
                .values()
                .all(|u| u.requests == 1 && u.gpu_seconds == d("600"))
        );
    }

    #[test]
    fn conservation_holds_for_random_pool_hours() {
        // Property: for any cost (credits included), busy measure and usage, the shares
        // add up to the billed cost exactly and no share is negative for a positive cost.
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..5000 {
            let cost = Decimal::new(rng.i64(-10_000_000..1_000_000_000), rng.u32(0..9));
            let busy = match rng.u8(0..3) {
                0 => Busy::Unknown,
                1 => Busy::ReplicaSeconds(Decimal::from(3600 * rng.i64(1..4))),
                _ => Busy::Utilization(Decimal::from_f64_retain(rng.f64() * 1.2).unwrap()),
            };
            let usage: Vec<Usage> = (0..rng.usize(0..7))
                .map(|i| {
                    usage(
                        &format!("t{i}"),
                        rng.i64(0..4_000),
                        rng.i64(0..200_000),
                        rng.i64(0..2),
                    )
                })
                .collect();
            let shares = split(cost, busy, &usage);
            assert_eq!(
                shares.iter().map(|s| s.cost).sum::<Decimal>(),
                cost,
                "{cost} {busy:?} {usage:?}"
            );
            if cost >= Decimal::ZERO {
                assert!(shares.iter().all(|s| s.cost >= Decimal::ZERO));
            }
        }
    }
}
