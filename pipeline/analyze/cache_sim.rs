//! The ideal prompt cache: replays the requests that carry prompt-prefix identity in time
//! order and counts, for each, the prompt tokens a perfect prefix cache would have served:
//! a block hits when it and every block before it were seen earlier (per model), with no
//! TTL, a 5-minute TTL and a 1-hour TTL (an entry's clock restarts whenever it is used, as
//! providers' caches do). Each request also gets its cache discount per token (input price
//! − cache-read price, from the price book) so the gap can be priced. The result is
//! registered as `cache_ideal` for `queries/cache_opportunity.sql`. The cache starts warm
//! with the prefixes of the published history before the run's window
//! (`requests_context.warms_cache`), as one run over the whole period would have it.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use rust_decimal::Decimal;

use crate::common::error::Result;
use crate::prices::PriceBook;
use crate::sources::requests::canonical::{money_type, to_money};

/// TTLs replayed, in µs (`None` = no expiry).
pub const TTLS: [Option<i64>; 3] = [None, Some(300_000_000), Some(3_600_000_000)];

/// A prefix cache per TTL, keyed by (model, prefix chain).
#[derive(Debug, Default)]
pub struct IdealCache {
    last_seen: [HashMap<u64, i64>; 3],
}

impl IdealCache {
    /// Replays one request; returns the number of leading blocks that hit, per TTL.
    pub fn replay(&mut self, model: &str, blocks: &[&str], ts_micros: i64) -> [usize; 3] {
        let mut hits = [0usize; 3];
        let mut hitting = [true; 3];
        let mut chain = DefaultHasher::new();
        model.hash(&mut chain);
        for block in blocks {
            block.hash(&mut chain);
            let key = chain.finish();
            for (i, ttl) in TTLS.iter().enumerate() {
                let seen = self.last_seen[i].get(&key).copied();
                let fresh = seen.is_some_and(|last| ttl.is_none_or(|t| ts_micros - last <= t));
                if hitting[i] && fresh {
                    hits[i] += 1;
                } else {
                    hitting[i] = false;
                }
                self.last_seen[i].insert(key, ts_micros);
            }
        }
        hits
    }
}

/// The columns of `cache_ideal` as they are filled.
#[derive(Debug, Default)]
struct IdealColumns {
    ids: Vec<String>,
    has: Vec<bool>,
    ideal: [Vec<Option<i64>>; 3],
    discount: Vec<Option<i128>>,
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("request_id", DataType::Utf8, false),
        Field::new("has_prefix", DataType::Boolean, false),
        Field::new("ideal_read_tokens", DataType::Int64, true),
        Field::new("ideal_read_tokens_5m", DataType::Int64, true),
        Field::new("ideal_read_tokens_1h", DataType::Int64, true),
        Field::new("discount_per_token", money_type(), true),
    ]))
}

/// Replays the run's API requests and registers `cache_ideal`. Only requests with prefix
/// identity are replayed, in time order; the others just get their discount (no sort).
pub async fn register_ideal(ctx: &SessionContext, book: &PriceBook) -> Result<()> {
    let replayed = ctx
        .sql(
            "SELECT request_id, CAST(ts AS BIGINT) AS ts_micros, provider, model, input_tokens, \
             prefix_blocks, prefix_block_tokens, false AS warm_only, ts, source_file, source_line \
             FROM requests WHERE pool IS NULL AND prefix_blocks IS NOT NULL \
             UNION ALL \
             SELECT request_id, CAST(ts AS BIGINT), provider, model, input_tokens, \
             prefix_blocks, prefix_block_tokens, true, ts, source_file, source_line \
             FROM requests_context WHERE warms_cache \
             ORDER BY ts, source_file, source_line",
        )
        .await?;
    let plain = ctx
        .sql(
            "SELECT request_id, CAST(ts AS BIGINT) AS ts_micros, provider, model, input_tokens, \
             prefix_blocks, prefix_block_tokens, false AS warm_only \
             FROM requests WHERE pool IS NULL AND prefix_blocks IS NULL",
        )
        .await?;
    let mut cache = IdealCache::default();
    let mut out = IdealColumns::default();
    // The discount of (model, provider, day): prices are effective by day.
    let mut discounts: HashMap<(String, Option<String>, i64), Option<i128>> = HashMap::new();
    let mut discount_of = |model: &str, provider: Option<&str>, ts: i64| {
        *discounts
            .entry((
                model.to_string(),
                provider.map(str::to_string),
                ts.div_euclid(86_400_000_000),
            ))
            .or_insert_with(|| {
                book.lookup(model, provider, ts).map(|p| {
                    let read = p.standard.cache_read.unwrap_or(p.standard.input);
                    to_money((p.standard.input - read).max(Decimal::ZERO)).0
                })
            })
    };
    for frame in [replayed, plain] {
        let mut stream = frame.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let text =
                |i: usize| datafusion::arrow::compute::cast(batch.column(i), &DataType::Utf8);
            let (ids, providers, models, blocks) = (text(0)?, text(2)?, text(3)?, text(5)?);
            let (ids, providers, models, blocks) = (
                ids.as_string::<i32>(),
                providers.as_string::<i32>(),
                models.as_string::<i32>(),
                blocks.as_string::<i32>(),
            );
            let ts = datafusion::arrow::compute::cast(batch.column(1), &DataType::Int64)?;
            let ts = ts.as_primitive::<Int64Type>();
            let input = batch.column(4).as_primitive::<Int64Type>();
            let block_tokens = batch.column(6).as_primitive::<Int64Type>();
            let warm_only = batch.column(7).as_boolean();
            for row in 0..batch.num_rows() {
                let model = if models.is_null(row) {
                    ""
                } else {
                    models.value(row)
                };
                let prefix =
                    (!blocks.is_null(row) && !block_tokens.is_null(row)).then(|| blocks.value(row));
                if warm_only.value(row) {
                    // Earlier nights' requests only warm the cache (history is the system of
                    // record for the replay's state); they are not rows of this run.
                    if let Some(prefix) = prefix {
                        let list: Vec<&str> = prefix.split(' ').collect();
                        cache.replay(model, &list, ts.value(row));
                    }
                    continue;
                }
                let provider = (!providers.is_null(row)).then(|| providers.value(row));
                out.ids.push(ids.value(row).to_string());
                out.discount
                    .push(discount_of(model, provider, ts.value(row)));
                match prefix {
                    Some(prefix) => {
                        let list: Vec<&str> = prefix.split(' ').collect();
                        let hits = cache.replay(model, &list, ts.value(row));
                        for (i, h) in hits.iter().enumerate() {
                            out.ideal[i].push(Some(
                                (*h as i64 * block_tokens.value(row)).min(input.value(row)),
                            ));
                        }
                        out.has.push(true);
                    }
                    None => {
                        for column in out.ideal.iter_mut() {
                            column.push(None);
                        }
                        out.has.push(false);
                    }
                }
            }
        }
    }
    let IdealColumns {
        ids,
        has,
        ideal,
        discount,
    } = out;
    let [unbounded, five, hour] = ideal;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(BooleanArray::from(has)),
        Arc::new(Int64Array::from(unbounded)),
        Arc::new(Int64Array::from(five)),
        Arc::new(Int64Array::from(hour)),
        Arc::new(Decimal128Array::from(discount).with_data_type(money_type())),
    ];
    let batch = RecordBatch::try_new(schema(), columns)?;
    ctx.deregister_table("cache_ideal")?;
    ctx.register_table(
        "cache_ideal",
        Arc::new(MemTable::try_new(schema(), vec![vec![batch]])?),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    // Worked by hand. r1 [a b c] at 0 min: nothing seen, 0 hits. r2 [a b d] at 1 min: a, b
    // hit, d misses: 2. r3 [a x b] at 2 min: a hits, x misses, and b after a miss cannot
    // hit (it is not the same prefix): 1. r4 [a b c] at 10 min: with no TTL a, b, c hit (3);
    // with 5 minutes, a and b were last used at 2 and 1 min (8 and 9 minutes ago): 0; with
    // 1 hour: 3. r5 [a b c] at 12 min: 3 with every TTL (refreshed at 10 min).
    #[test]
    fn leading_blocks_hit_within_their_ttl() {
        let mut cache = IdealCache::default();
        assert_eq!(cache.replay("m", &["a", "b", "c"], 0), [0, 0, 0]);
        assert_eq!(cache.replay("m", &["a", "b", "d"], MIN), [2, 2, 2]);
        assert_eq!(cache.replay("m", &["a", "x", "b"], 2 * MIN), [1, 1, 1]);
        assert_eq!(cache.replay("m", &["a", "b", "c"], 10 * MIN), [3, 0, 3]);
        assert_eq!(cache.replay("m", &["a", "b", "c"], 12 * MIN), [3, 3, 3]);
        // Another model has a cache of its own.
        assert_eq!(cache.replay("other", &["a", "b", "c"], 12 * MIN), [0, 0, 0]);
    }
}
