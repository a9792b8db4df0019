//! Splits each pool-hour's GPU cost over what it served. The busy part of the cost
//! (cost × utilization, utilization rounded to 6 decimals; all of the cost when utilization
//! cannot be measured but requests were served) is divided in proportion to GPU time
//! (request durations), or tokens where any duration is missing; each share is rounded
//! toward zero at 12 decimals; the idle row is the billed cost minus the shares. So for
//! every pool-hour, attributed + idle = billed, exactly. The result is registered as
//! `gpu_cost_split` for `queries/gpu_cost_attribution.sql`.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit,
};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::analysis::sql_batches;
use crate::error::Result;
use crate::ingest::canonical::{money_type, to_money};
use crate::summary::{decimal_at, string_at};

/// One group of requests served in a pool-hour.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// Team, feature, provider, model, deployment.
    pub key: [Option<String>; 5],
    /// Requests.
    pub requests: i64,
    /// Sum of request durations, ms.
    pub gpu_time_ms: i64,
    /// Sum of tokens.
    pub tokens: i64,
    /// Requests without a duration.
    pub without_duration: i64,
}

/// One share of a pool-hour's cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    /// Team, feature, provider, model, deployment (team `__idle__` for the idle row).
    pub key: [Option<String>; 5],
    /// Requests.
    pub requests: i64,
    /// `gpu_time`, `tokens`, `requests` or `idle`.
    pub basis: &'static str,
    /// Money.
    pub cost: Decimal,
}

/// Splits one pool-hour's `cost`; the shares add up to `cost` exactly.
pub fn split(cost: Decimal, utilization: Option<f64>, usage: &[Usage]) -> Vec<Share> {
    let total = |f: fn(&Usage) -> i64| usage.iter().map(f).sum::<i64>();
    let (basis, weight): (&'static str, fn(&Usage) -> i64) =
        if total(|u| u.without_duration) == 0 && total(|u| u.gpu_time_ms) > 0 {
            ("gpu_time", |u| u.gpu_time_ms)
        } else if total(|u| u.tokens) > 0 {
            ("tokens", |u| u.tokens)
        } else {
            ("requests", |u| u.requests)
        };
    let all = total(weight);
    let busy_share = match utilization {
        _ if all == 0 => Decimal::ZERO,
        Some(u) => Decimal::try_from(u.clamp(0.0, 1.0))
            .unwrap_or(Decimal::ZERO)
            .round_dp(6),
        None => Decimal::ONE,
    };
    let busy = cost * busy_share;
    let mut shares: Vec<Share> = Vec::new();
    let mut attributed = Decimal::ZERO;
    if all > 0 {
        for u in usage {
            let amount = (busy * Decimal::from(weight(u)) / Decimal::from(all))
                .round_dp_with_strategy(12, RoundingStrategy::ToZero);
            attributed += amount;
            shares.push(Share {
                key: u.key.clone(),
                requests: u.requests,
                basis,
                cost: amount,
            });
        }
    }
    shares.push(Share {
        key: [Some("__idle__".to_string()), None, None, None, None],
        requests: 0,
        basis: "idle",
        cost: cost - attributed,
    });
    shares
}

fn schema() -> SchemaRef {
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        Field::new(
            "hour",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
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

/// Reads `pool_hours` and `gpu_request_weights`, splits, registers `gpu_cost_split`.
pub async fn register_split(ctx: &SessionContext) -> Result<()> {
    let mut usage: BTreeMap<(String, i64), Vec<Usage>> = BTreeMap::new();
    for batch in sql_batches(ctx, "SELECT * FROM gpu_request_weights").await? {
        for row in 0..batch.num_rows() {
            let key = (
                text(&batch, "pool", row).unwrap_or_default(),
                int(&batch, "hour_index", row),
            );
            usage.entry(key).or_default().push(Usage {
                key: ["team", "feature", "provider", "model", "deployment"]
                    .map(|c| text(&batch, c, row)),
                requests: int(&batch, "requests", row),
                gpu_time_ms: int(&batch, "gpu_time_ms", row),
                tokens: int(&batch, "tokens", row),
                without_duration: int(&batch, "without_duration", row),
            });
        }
    }
    let hours = sql_batches(
        ctx,
        "SELECT pool, hour_index, CAST(date_part('epoch', hour) AS BIGINT) AS hour_seconds, date, cost_usd, utilization FROM pool_hours",
    )
    .await?;
    let (mut hour_col, mut pool_col, mut keys, mut requests, mut basis, mut money, mut dates) = (
        vec![],
        vec![],
        vec![[None, None, None, None, None]; 0],
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
            let util = (!utilization.is_null(row))
                .then(|| utilization.as_primitive::<Float64Type>().value(row));
            let billed = decimal_at(cost.as_ref(), row).unwrap_or(Decimal::ZERO);
            let served = usage
                .get(&(pool.clone(), index))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for share in split(billed, util, served) {
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
    let batch = RecordBatch::try_new(schema(), columns)?;
    ctx.deregister_table("gpu_cost_split")?;
    ctx.register_table(
        "gpu_cost_split",
        Arc::new(MemTable::try_new(schema(), vec![vec![batch]])?),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn usage(team: &str, ms: i64, tokens: i64, without: i64) -> Usage {
        Usage {
            key: [Some(team.into()), None, None, None, None],
            requests: 1,
            gpu_time_ms: ms,
            tokens,
            without_duration: without,
        }
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn split_by_gpu_time_with_idle_remainder() {
        // $98.32 at 25% busy: $24.58 busy, split 1:2 by duration → 8.193333333333 and
        // 16.386666666666 (rounded toward zero); idle gets the rest, 73.740000000001.
        let shares = split(
            d("98.32"),
            Some(0.25),
            &[usage("a", 1000, 5, 0), usage("b", 2000, 1, 0)],
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
            None,
            &[usage("a", 1000, 300, 0), usage("b", 0, 100, 1)],
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
        let idle = split(d("10"), Some(0.0), &[]);
        assert_eq!((idle.len(), idle[0].cost), (1, d("10")));
    }

    #[test]
    fn conservation_holds_for_random_pool_hours() {
        // Property: for any cost (credits included), utilization and usage, the shares
        // add up to the billed cost exactly and no share is negative for a positive cost.
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..5000 {
            let cost = Decimal::new(rng.i64(-10_000_000..1_000_000_000), rng.u32(0..9));
            let utilization = match rng.u8(0..4) {
                0 => None,
                _ => Some(rng.f64() * 1.2),
            };
            let usage: Vec<Usage> = (0..rng.usize(0..7))
                .map(|i| {
                    usage(
                        &format!("t{i}"),
                        rng.i64(0..4_000_000),
                        rng.i64(0..200_000),
                        rng.i64(0..2),
                    )
                })
                .collect();
            let shares = split(cost, utilization, &usage);
            assert_eq!(
                shares.iter().map(|s| s.cost).sum::<Decimal>(),
                cost,
                "{cost} {utilization:?} {usage:?}"
            );
            if cost >= Decimal::ZERO {
                assert!(shares.iter().all(|s| s.cost >= Decimal::ZERO));
            }
        }
    }
}
