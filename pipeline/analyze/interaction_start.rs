//! The window function `interaction_start(session_key, ts, gap_micros) OVER (ORDER BY
//! session_key, ts, request_id)`: the time of the first request of the interaction each
//! request belongs to. Walking the rows in that order, a request starts an interaction when
//! its key differs from the row before's or it comes more than `gap_micros` after it;
//! every other request takes the start of the one before.
//!
//! It is what `queries/requests.sql` sessionises with: one streaming pass over the sorted
//! rows, where the same rule written as LAG, a running SUM and a running MAX costs three
//! window passes (and two merges between them) over every column of the rows.

use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    LimitEffect, PartitionEvaluator, Signature, Volatility, WindowUDF, WindowUDFImpl,
};
use datafusion::physical_expr::PhysicalExpr;

use crate::common::arrow_util::TextColumn;

/// The function's name in SQL.
pub const NAME: &str = "interaction_start";

/// `interaction_start` as DataFusion registers it.
pub fn interaction_start() -> WindowUDF {
    WindowUDF::from(InteractionStart {
        signature: Signature::any(3, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct InteractionStart {
    signature: Signature,
}

/// The type of the result: a UTC timestamp in microseconds, as `requests.ts`.
fn start_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

impl WindowUDFImpl for InteractionStart {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(StartEvaluator::default()))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        let types: Vec<&DataType> = field_args
            .input_fields()
            .iter()
            .map(|f| f.data_type())
            .collect();
        let key_ok = matches!(
            types.first(),
            Some(DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
        );
        let ts_ok = matches!(
            types.get(1),
            Some(DataType::Timestamp(TimeUnit::Microsecond, _))
        );
        let gap_ok = matches!(types.get(2), Some(DataType::Int64));
        if !(key_ok && ts_ok && gap_ok) {
            return plan_err!(
                "{NAME}(session_key, ts, gap_micros) takes a string, a timestamp in microseconds and a BIGINT, not {types:?}"
            );
        }
        Ok(Arc::new(Field::new(field_args.name(), start_type(), true)))
    }

    fn limit_effect(&self, _args: &[Arc<dyn PhysicalExpr>]) -> LimitEffect {
        LimitEffect::None
    }
}

/// The walk's state: the row before's key and time, and the start of its interaction.
#[derive(Debug)]
struct StartEvaluator {
    /// `None` before the first row.
    previous: Option<Previous>,
    /// The result's time zone, shared by every value.
    utc: Arc<str>,
}

impl Default for StartEvaluator {
    fn default() -> Self {
        Self {
            previous: None,
            utc: Arc::from("UTC"),
        }
    }
}

#[derive(Debug)]
struct Previous {
    key: String,
    ts: i64,
    start: i64,
}

impl PartitionEvaluator for StartEvaluator {
    /// Each row's result depends on the rows before it only.
    fn is_causal(&self) -> bool {
        true
    }

    fn supports_bounded_execution(&self) -> bool {
        true
    }

    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> Result<ScalarValue> {
        let row = range.start;
        let (Some(key), false) = (TextColumn::of(&values[0]).at(row), values[1].is_null(row))
        else {
            return exec_err!("{NAME}: a request without a session key or time");
        };
        let ts = values[1]
            .as_primitive::<TimestampMicrosecondType>()
            .value(row);
        let gap = values[2].as_primitive::<Int64Type>();
        let gap = if gap.is_null(row) {
            i64::MAX
        } else {
            gap.value(row)
        };
        let start = match &mut self.previous {
            Some(previous) if previous.key == key && ts.saturating_sub(previous.ts) <= gap => {
                previous.ts = ts;
                previous.start
            }
            Some(previous) => {
                previous.key.clear();
                previous.key.push_str(key);
                previous.ts = ts;
                previous.start = ts;
                ts
            }
            None => {
                self.previous = Some(Previous {
                    key: key.to_string(),
                    ts,
                    start: ts,
                });
                ts
            }
        };
        Ok(ScalarValue::TimestampMicrosecond(
            Some(start),
            Some(Arc::clone(&self.utc)),
        ))
    }

    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let starts = (0..num_rows)
            .map(|row| match self.evaluate(values, &(row..row + 1))? {
                ScalarValue::TimestampMicrosecond(start, _) => Ok(start),
                other => exec_err!("{NAME}: unexpected {other:?}"),
            })
            .collect::<Result<datafusion::arrow::array::TimestampMicrosecondArray>>()?;
        Ok(Arc::new(starts.with_timezone("UTC")))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{
        Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    };
    use datafusion::arrow::datatypes::Schema;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    use super::*;

    /// Registers `requests(request_id, session_key, ts)` from `rows`, in batches of 7 rows
    /// (so the window's state is carried across many batches), and returns each request's
    /// interaction_start by id, with a gap of `gap` µs.
    async fn starts(rows: &[(String, String, i64)], gap: i64) -> Vec<(String, i64)> {
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_batch_size(7));
        ctx.register_udwf(interaction_start());
        let schema = Arc::new(Schema::new(vec![
            Field::new("request_id", DataType::Utf8, false),
            Field::new("session_key", DataType::Utf8, false),
            Field::new("ts", start_type(), false),
        ]));
        let batches = rows
            .chunks(7)
            .map(|chunk| {
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![
                        Arc::new(StringArray::from_iter_values(chunk.iter().map(|r| &r.0))),
                        Arc::new(StringArray::from_iter_values(chunk.iter().map(|r| &r.1))),
                        Arc::new(
                            TimestampMicrosecondArray::from_iter_values(chunk.iter().map(|r| r.2))
                                .with_timezone("UTC"),
                        ),
                    ],
                )
                .unwrap()
            })
            .collect();
        let table = MemTable::try_new(schema, vec![batches]).unwrap();
        ctx.register_table("requests", Arc::new(table)).unwrap();
        let sql = format!(
            "SELECT request_id, CAST({NAME}(session_key, ts, CAST({gap} AS BIGINT)) \
             OVER (ORDER BY session_key, ts, request_id) AS BIGINT) AS start FROM requests \
             ORDER BY request_id"
        );
        let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let mut out = Vec::new();
        for batch in batches {
            let ids = batch.column(0).as_string::<i32>();
            let starts = batch
                .column(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            for row in 0..batch.num_rows() {
                out.push((ids.value(row).to_string(), starts.value(row)));
            }
        }
        out
    }

    #[tokio::test]
    async fn a_gap_longer_than_the_limit_or_a_new_key_starts_an_interaction() {
        // Worked by hand with a gap of 10: a's requests at 0, 5, 15 (10 after 5: not
        // longer, same interaction) and 26 (11 after 15: new); b's at 5 and 6.
        let rows: Vec<(String, String, i64)> = [
            ("r1", "a", 0),
            ("r2", "a", 5),
            ("r3", "a", 15),
            ("r4", "a", 26),
            ("r5", "b", 5),
            ("r6", "b", 6),
        ]
        .iter()
        .map(|(id, key, ts)| (id.to_string(), key.to_string(), *ts))
        .collect();
        let expected: Vec<(String, i64)> = [
            ("r1", 0),
            ("r2", 0),
            ("r3", 0),
            ("r4", 26),
            ("r5", 5),
            ("r6", 5),
        ]
        .iter()
        .map(|(id, start)| (id.to_string(), *start))
        .collect();
        assert_eq!(starts(&rows, 10).await, expected);
    }

    #[tokio::test]
    async fn many_batches_give_what_a_plain_walk_over_the_sorted_rows_gives() {
        // An independent reference: the rows sorted in Rust and walked with the rule.
        let mut rng = fastrand::Rng::with_seed(7);
        let rows: Vec<(String, String, i64)> = (0..2_000)
            .map(|i| {
                (
                    format!("r{i:05}"),
                    format!("k{}", rng.u32(0..40)),
                    i64::from(rng.u32(0..100_000)),
                )
            })
            .collect();
        let gap = 3_000;
        let mut sorted = rows.clone();
        sorted.sort_by(|x, y| (&x.1, x.2, &x.0).cmp(&(&y.1, y.2, &y.0)));
        let mut expected = Vec::new();
        let mut previous: Option<(&str, i64, i64)> = None;
        for (id, key, ts) in &sorted {
            let start = match previous {
                Some((k, t, s)) if k == key && ts - t <= gap => s,
                _ => *ts,
            };
            previous = Some((key, *ts, start));
            expected.push((id.clone(), start));
        }
        expected.sort();
        assert_eq!(starts(&rows, gap).await, expected);
    }
}
