//! The Arrow shape of canonical request rows, and their row buffer
//! for the one staged writer (`common::staged`), which writes them to Parquet as they fill
//! (never the whole input in memory). Money columns are `common::money`'s.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Decimal128Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rust_decimal::Decimal;

use super::extract::RequestRow;
use crate::common::error::Result;
use crate::common::money::{money_type, to_money};
use crate::common::staged::{Kept, StagedFile, StagedRows};
use crate::prices::RequestCost;

/// Rows per record batch.
pub const BATCH_ROWS: usize = crate::common::staged::BATCH_ROWS;

/// Schema of staged request rows (the input of `queries/requests.sql`).
pub fn staged_requests_schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let count = |name: &str| Field::new(name, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        text("request_id", false),
        crate::common::arrow_util::utc_timestamp_field("ts", false),
        Field::new("duration_ms", DataType::Int64, true),
        text("provider", true),
        text("model", true),
        text("deployment", true),
        text("team", true),
        text("feature", true),
        text("user_id", true),
        text("interaction_id", true),
        text("status", false),
        count("input_tokens"),
        count("cache_read_tokens"),
        count("cache_write_tokens"),
        count("cache_write_1h_tokens"),
        count("output_tokens"),
        count("reasoning_tokens"),
        Field::new("completed", DataType::Boolean, true),
        Field::new("batch", DataType::Boolean, false),
        Field::new("cost_usd", money_type(), true),
        Field::new("cache_saved_usd", money_type(), true),
        Field::new("cache_write_premium_usd", money_type(), true),
        Field::new("output_cost_usd", money_type(), true),
        text("price_id", true),
        text("source", false),
        text("source_file", false),
        Field::new("source_line", DataType::Int64, false),
        text("prefix_blocks", true),
        Field::new("prefix_block_tokens", DataType::Int64, true),
        Field::new("source_cost_usd", money_type(), true),
    ]))
}

/// Staged request rows being buffered, one Arrow builder per column.
pub struct RequestColumns {
    schema: SchemaRef,
    rows: usize,
    request_id: StringBuilder,
    ts: TimestampMicrosecondBuilder,
    duration_ms: Int64Builder,
    provider: StringBuilder,
    model: StringBuilder,
    deployment: StringBuilder,
    team: StringBuilder,
    feature: StringBuilder,
    user_id: StringBuilder,
    interaction_id: StringBuilder,
    status: StringBuilder,
    input_tokens: Int64Builder,
    cache_read_tokens: Int64Builder,
    cache_write_tokens: Int64Builder,
    cache_write_1h_tokens: Int64Builder,
    output_tokens: Int64Builder,
    reasoning_tokens: Int64Builder,
    completed: BooleanBuilder,
    batch: BooleanBuilder,
    cost_usd: Decimal128Builder,
    cache_saved_usd: Decimal128Builder,
    cache_write_premium_usd: Decimal128Builder,
    output_cost_usd: Decimal128Builder,
    source_cost_usd: Decimal128Builder,
    price_id: StringBuilder,
    source: StringBuilder,
    source_file: StringBuilder,
    source_line: Int64Builder,
    prefix_blocks: StringBuilder,
    prefix_block_tokens: Int64Builder,
    /// Costs that needed rounding at 12 decimals.
    pub rounded_costs: u64,
}

/// Text bytes a row's string column is expected to hold, for a builder's first allocation.
const TEXT_BYTES_PER_ROW: usize = 24;

fn money_builder() -> Decimal128Builder {
    Decimal128Builder::with_capacity(BATCH_ROWS).with_data_type(money_type())
}

fn text_builder() -> StringBuilder {
    StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * TEXT_BYTES_PER_ROW)
}

fn count_builder() -> Int64Builder {
    Int64Builder::with_capacity(BATCH_ROWS)
}

fn flag_builder() -> BooleanBuilder {
    BooleanBuilder::with_capacity(BATCH_ROWS)
}

/// Empty builders sized for a batch: a builder's `finish` leaves it with no capacity, and
/// growing each of 30 columns from nothing every batch cost ~5% of ingest (1M-request
/// bench, 4 interleaved pairs: 1.05–1.08 s with sized builders, 1.10–1.18 s without).
impl Default for RequestColumns {
    fn default() -> Self {
        RequestColumns {
            schema: staged_requests_schema(),
            rows: 0,
            request_id: text_builder(),
            ts: TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS).with_timezone("UTC"),
            duration_ms: count_builder(),
            provider: text_builder(),
            model: text_builder(),
            deployment: text_builder(),
            team: text_builder(),
            feature: text_builder(),
            user_id: text_builder(),
            interaction_id: text_builder(),
            status: text_builder(),
            input_tokens: count_builder(),
            cache_read_tokens: count_builder(),
            cache_write_tokens: count_builder(),
            cache_write_1h_tokens: count_builder(),
            output_tokens: count_builder(),
            reasoning_tokens: count_builder(),
            completed: flag_builder(),
            batch: flag_builder(),
            cost_usd: money_builder(),
            cache_saved_usd: money_builder(),
            cache_write_premium_usd: money_builder(),
            output_cost_usd: money_builder(),
            source_cost_usd: money_builder(),
            price_id: text_builder(),
            source: text_builder(),
            source_file: text_builder(),
            source_line: count_builder(),
            prefix_blocks: text_builder(),
            prefix_block_tokens: count_builder(),
            rounded_costs: 0,
        }
    }
}

impl RequestColumns {
    fn money(&mut self, value: Option<Decimal>) -> Option<i128> {
        value.map(|v| {
            let (m, rounded) = to_money(v);
            self.rounded_costs += rounded as u64;
            m
        })
    }

    /// Appends one row. `self_hosted` is the price id of a
    /// request served by a pool (`self-hosted:<pool>`): it has no per-token cost.
    pub fn push(
        &mut self,
        row: &RequestRow,
        cost: Option<&RequestCost>,
        self_hosted: Option<&str>,
        source: &str,
        source_file: &str,
        source_line: u64,
    ) -> Result<()> {
        self.request_id.append_value(&row.request_id);
        self.ts.append_value(row.ts_micros);
        self.duration_ms.append_option(row.duration_ms);
        self.provider.append_option(row.provider.as_deref());
        self.model.append_option(row.model.as_deref());
        self.deployment.append_option(row.deployment.as_deref());
        self.team.append_option(row.team.as_deref());
        self.feature.append_option(row.feature.as_deref());
        self.user_id.append_option(row.user_id.as_deref());
        self.interaction_id
            .append_option(row.interaction_id.as_deref());
        self.status.append_value(row.status);
        self.input_tokens.append_value(row.input_tokens);
        self.cache_read_tokens.append_value(row.cache_read_tokens);
        self.cache_write_tokens.append_value(row.cache_write_tokens);
        self.cache_write_1h_tokens
            .append_value(row.cache_write_1h_tokens);
        self.output_tokens.append_value(row.output_tokens);
        self.reasoning_tokens.append_value(row.reasoning_tokens);
        self.completed.append_option(row.completed);
        self.batch.append_value(row.batch);
        let cost_usd = self.money(cost.map(|c| c.cost_usd));
        let saved = self.money(cost.map(|c| c.cache_saved_usd));
        let premium = self.money(cost.map(|c| c.cache_write_premium_usd));
        self.cost_usd.append_option(cost_usd);
        self.cache_saved_usd.append_option(saved);
        self.cache_write_premium_usd.append_option(premium);
        let output_cost = self.money(cost.map(|c| c.output_cost_usd));
        self.output_cost_usd.append_option(output_cost);
        self.price_id
            .append_option(cost.map(|c| c.price_id.as_str()).or(self_hosted));
        self.source.append_value(source);
        self.source_file.append_value(source_file);
        self.source_line.append_value(source_line as i64);
        self.prefix_blocks
            .append_option(row.prefix_blocks.as_deref());
        self.prefix_block_tokens
            .append_option(row.prefix_block_tokens);
        let source_cost = self.money(row.source_cost_usd);
        self.source_cost_usd.append_option(source_cost);
        self.rows += 1;
        Ok(())
    }
}

impl StagedRows for RequestColumns {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn buffered(&self) -> usize {
        self.rows
    }

    fn take_columns(&mut self) -> Result<Vec<ArrayRef>> {
        // The full builders are finished; `self` starts again from builders sized for a
        // batch, keeping only its count of rounded costs.
        let rounded_costs = self.rounded_costs;
        let mut full = std::mem::take(self);
        self.rounded_costs = rounded_costs;
        Ok(vec![
            Arc::new(full.request_id.finish()),
            Arc::new(full.ts.finish()),
            Arc::new(full.duration_ms.finish()),
            Arc::new(full.provider.finish()),
            Arc::new(full.model.finish()),
            Arc::new(full.deployment.finish()),
            Arc::new(full.team.finish()),
            Arc::new(full.feature.finish()),
            Arc::new(full.user_id.finish()),
            Arc::new(full.interaction_id.finish()),
            Arc::new(full.status.finish()),
            Arc::new(full.input_tokens.finish()),
            Arc::new(full.cache_read_tokens.finish()),
            Arc::new(full.cache_write_tokens.finish()),
            Arc::new(full.cache_write_1h_tokens.finish()),
            Arc::new(full.output_tokens.finish()),
            Arc::new(full.reasoning_tokens.finish()),
            Arc::new(full.completed.finish()),
            Arc::new(full.batch.finish()),
            Arc::new(full.cost_usd.finish()),
            Arc::new(full.cache_saved_usd.finish()),
            Arc::new(full.cache_write_premium_usd.finish()),
            Arc::new(full.output_cost_usd.finish()),
            Arc::new(full.price_id.finish()),
            Arc::new(full.source.finish()),
            Arc::new(full.source_file.finish()),
            Arc::new(full.source_line.finish()),
            Arc::new(full.prefix_blocks.finish()),
            Arc::new(full.prefix_block_tokens.finish()),
            Arc::new(full.source_cost_usd.finish()),
        ])
    }
}

/// Staged request rows written to one Parquet file as they come: add a row with
/// `rows.push(…)` then `row_added()`; `finish()` returns the buffer, whose
/// `rounded_costs` counts the costs that needed rounding.
pub type StagedRequestWriter = StagedFile<RequestColumns>;

/// A staged request file.
pub fn staged_request_file(path: &Path) -> Result<StagedRequestWriter> {
    StagedFile::create(path, RequestColumns::default(), Kept::ForThisRun)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn money_keeps_twelve_places_exactly() {
        assert_eq!(
            to_money(Decimal::from_str("0.0003648").unwrap()),
            (364_800_000, false)
        );
        assert_eq!(
            to_money(Decimal::from_str("0.0000000000015").unwrap()),
            (2, true)
        );
    }
}
