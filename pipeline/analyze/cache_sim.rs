//! The ideal prompt cache: replays the requests that carry prompt-prefix identity in time
//! order and counts, for each, the prompt tokens a perfect prefix cache would have served:
//! a block hits when it and every block before it were seen earlier (per model), with no
//! TTL, a 5-minute TTL and a 1-hour TTL (an entry's clock restarts whenever it is used, as
//! providers' caches do). The result is registered as `cache_ideal` for
//! `queries/cache_opportunity.sql` (which prices the gap with `cache_read_discount`). The cache starts warm
//! with the prefixes of the published history before the run's window
//! (`requests_context.warms_cache`), as one run over the whole period would have it.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use crate::common::error::Result;

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
    ideal: [Vec<i64>; 3],
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("request_id", DataType::Utf8, false),
        Field::new("ideal_read_tokens", DataType::Int64, false),
        Field::new("ideal_read_tokens_5m", DataType::Int64, false),
        Field::new("ideal_read_tokens_1h", DataType::Int64, false),
    ]))
}

/// Replays the run's API requests that carry prompt-prefix identity, in time order, and
/// registers `cache_ideal`: one row per replayed request. Requests without prefix identity
/// are not in it (cache_opportunity.sql estimates them against the target hit ratio), so
/// it holds nothing for a log without prefix identity, however long.
pub async fn register_ideal(ctx: &SessionContext) -> Result<()> {
    let replayed = ctx
        .sql(
            "SELECT request_id, CAST(ts AS BIGINT) AS ts_micros, model, input_tokens, \
             prefix_blocks, prefix_block_tokens, false AS warm_only, ts, source_file, source_line \
             FROM requests \
             WHERE pool IS NULL AND prefix_blocks IS NOT NULL AND prefix_block_tokens IS NOT NULL \
             UNION ALL \
             SELECT request_id, CAST(ts AS BIGINT), model, input_tokens, \
             prefix_blocks, prefix_block_tokens, true, ts, source_file, source_line \
             FROM requests_context \
             WHERE warms_cache AND prefix_blocks IS NOT NULL AND prefix_block_tokens IS NOT NULL \
             ORDER BY ts, source_file, source_line",
        )
        .await?;
    let mut cache = IdealCache::default();
    let mut out = IdealColumns::default();
    let mut stream = replayed.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let text = |i: usize| datafusion::arrow::compute::cast(batch.column(i), &DataType::Utf8);
        let (ids, models, blocks) = (text(0)?, text(2)?, text(4)?);
        let (ids, models, blocks) = (
            ids.as_string::<i32>(),
            models.as_string::<i32>(),
            blocks.as_string::<i32>(),
        );
        let ts = datafusion::arrow::compute::cast(batch.column(1), &DataType::Int64)?;
        let ts = ts.as_primitive::<Int64Type>();
        let input = batch.column(3).as_primitive::<Int64Type>();
        let block_tokens = batch.column(5).as_primitive::<Int64Type>();
        let warm_only = batch.column(6).as_boolean();
        for row in 0..batch.num_rows() {
            let model = if models.is_null(row) {
                ""
            } else {
                models.value(row)
            };
            let list: Vec<&str> = blocks.value(row).split(' ').collect();
            let hits = cache.replay(model, &list, ts.value(row));
            // Earlier nights' requests only warm the cache (history is the system of
            // record for the replay's state); they are not rows of this run.
            if warm_only.value(row) {
                continue;
            }
            out.ids.push(ids.value(row).to_string());
            for (i, h) in hits.iter().enumerate() {
                out.ideal[i].push((*h as i64 * block_tokens.value(row)).min(input.value(row)));
            }
        }
    }
    let IdealColumns { ids, ideal } = out;
    let [unbounded, five, hour] = ideal;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(Int64Array::from(unbounded)),
        Arc::new(Int64Array::from(five)),
        Arc::new(Int64Array::from(hour)),
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
