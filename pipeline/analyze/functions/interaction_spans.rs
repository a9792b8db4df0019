//! The aggregate function `interaction_spans(ts, gap_micros)`: a session key's requests
//! cut into interactions, as the list of each interaction's time span `{start, end}` (its
//! first and last request's time), in time order. Taken in time order, a request starts a
//! new interaction when it comes more than `gap_micros` after the one before; a NULL gap
//! never cuts. Rows with a NULL time are left out, as SQL aggregates do.
//!
//! It is what `queries/requests.sql` sessionises with: grouped by session key it needs no
//! sort of the requests (a window over one global order sorted every column of every
//! request, then ran on one core), and a request then finds its interaction among its
//! key's spans by an equi-join. The state is the spans found so far: the spans of two
//! partial states merge into those of the union of their rows (a span holds no gap longer
//! than `gap_micros` between its own rows, so joining two sets of rows can only join
//! spans, never cut one), so a partial aggregate sends one span per interaction, not one
//! time per request.

use std::sync::Arc;

use crate::common::arrow_util::as_int64;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, StructArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type, TimeUnit};
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

/// The function's name in SQL.
pub const NAME: &str = "interaction_spans";

/// `interaction_spans` as DataFusion registers it.
pub fn interaction_spans() -> AggregateUDF {
    AggregateUDF::from(InteractionSpans {
        signature: Signature::any(2, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct InteractionSpans {
    signature: Signature,
}

/// The fields of one span, typed as the input's time column.
fn span_fields(time_type: &DataType) -> Fields {
    Fields::from(vec![
        Field::new("start", time_type.clone(), false),
        Field::new("end", time_type.clone(), false),
    ])
}

/// `List<Struct<start, end>>` over the input's time type.
fn result_type(time_type: &DataType) -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(span_fields(time_type)),
        true,
    )))
}

fn list_of_times() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Int64, true)))
}

impl AggregateUDFImpl for InteractionSpans {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let ts_ok = matches!(
            arg_types.first(),
            Some(DataType::Timestamp(TimeUnit::Microsecond, _))
        );
        let gap_ok = matches!(arg_types.get(1), Some(DataType::Int64 | DataType::Null));
        if !(ts_ok && gap_ok) {
            return plan_err!(
                "{NAME}(ts, gap_micros) takes a timestamp in microseconds and a BIGINT, not {arg_types:?}"
            );
        }
        Ok(result_type(&arg_types[0]))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneKey::new(args.return_type().clone())))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let name = args.name;
        Ok(vec![
            Arc::new(Field::new(format!("{name}[starts]"), list_of_times(), true)),
            Arc::new(Field::new(format!("{name}[ends]"), list_of_times(), true)),
            Arc::new(Field::new(format!("{name}[gap]"), DataType::Int64, true)),
        ])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Spans::new(args.return_type().clone())))
    }
}

/// The spans of every group, as found so far: unsorted, not yet merged.
#[derive(Debug)]
struct Spans {
    result_type: DataType,
    /// (group, start, end) in microseconds.
    found: Vec<(usize, i64, i64)>,
    /// The gap every row carried (NULL read as never cutting), once a row was seen.
    gap: Option<i64>,
    /// Groups DataFusion has numbered and not yet taken.
    groups: usize,
}

/// Spans per group, merged and in time order: group `g`'s are
/// `starts[offsets[g]..offsets[g + 1]]` (and `ends` alike).
struct Merged {
    offsets: Vec<i32>,
    starts: Vec<i64>,
    ends: Vec<i64>,
}

impl Spans {
    fn new(result_type: DataType) -> Self {
        Spans {
            result_type,
            found: Vec::new(),
            gap: None,
            groups: 0,
        }
    }

    /// Checks the rows' gap (`gaps`, one per row, at `rows`) against the one seen before.
    fn note_gap(&mut self, gaps: &ArrayRef, row: usize) -> Result<()> {
        let gap = if gaps.data_type() == &DataType::Null || gaps.is_null(row) {
            i64::MAX
        } else {
            gaps.as_primitive::<Int64Type>().value(row)
        };
        match self.gap {
            None => self.gap = Some(gap),
            Some(seen) if seen != gap => {
                return exec_err!(
                    "{NAME}: gap_micros must be the same on every row (saw {seen} and {gap})"
                );
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Takes the spans of the groups `emit_to` names, merged; the others stay,
    /// renumbered as DataFusion renumbers them.
    fn take_merged(&mut self, emit_to: EmitTo) -> Merged {
        let emitted = match emit_to {
            EmitTo::All => self.groups,
            EmitTo::First(n) => n.min(self.groups),
        };
        self.groups -= emitted;
        let gap = self.gap.unwrap_or(i64::MAX);
        // Counting sort by group, then each group's few spans by time.
        let mut counts = vec![0usize; emitted + 1];
        for &(group, _, _) in &self.found {
            if group < emitted {
                counts[group + 1] += 1;
            }
        }
        for g in 0..emitted {
            counts[g + 1] += counts[g];
        }
        let mut placed = vec![(0i64, 0i64); counts[emitted]];
        let mut next = counts.clone();
        let mut kept = Vec::new();
        for &(group, start, end) in &self.found {
            if group < emitted {
                placed[next[group]] = (start, end);
                next[group] += 1;
            } else {
                kept.push((group - emitted, start, end));
            }
        }
        self.found = kept;
        let mut merged = Merged {
            offsets: Vec::with_capacity(emitted + 1),
            starts: Vec::new(),
            ends: Vec::new(),
        };
        merged.offsets.push(0);
        for g in 0..emitted {
            let spans = &mut placed[counts[g]..counts[g + 1]];
            spans.sort_unstable();
            let mut current: Option<(i64, i64)> = None;
            for &(start, end) in spans.iter() {
                current = match current {
                    Some((s, e)) if start.saturating_sub(e) <= gap => Some((s, e.max(end))),
                    Some((s, e)) => {
                        merged.starts.push(s);
                        merged.ends.push(e);
                        Some((start, end))
                    }
                    None => Some((start, end)),
                };
            }
            if let Some((s, e)) = current {
                merged.starts.push(s);
                merged.ends.push(e);
            }
            let offset = i32::try_from(merged.starts.len()).expect("fewer spans than i32::MAX");
            merged.offsets.push(offset);
        }
        merged
    }

    /// Adds rows of (`ts`, `gap`) to `group_indices`, where `use_row` says so.
    fn add_rows(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        use_row: impl Fn(usize) -> bool,
    ) -> Result<()> {
        let ts = as_int64(&values[0])?;
        self.found.reserve(group_indices.len());
        for (row, &group) in group_indices.iter().enumerate() {
            if ts.is_null(row) || !use_row(row) {
                continue;
            }
            self.note_gap(&values[1], row)?;
            let t = ts.value(row);
            self.found.push((group, t, t));
        }
        Ok(())
    }

    /// Adds partial states (lists of starts and ends, and the gap) to `group_indices`.
    fn add_states(&mut self, states: &[ArrayRef], group_indices: &[usize]) -> Result<()> {
        let (starts, ends) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for (row, &group) in group_indices.iter().enumerate() {
            if starts.is_null(row) || starts.value_length(row) == 0 {
                continue;
            }
            self.note_gap(&states[2], row)?;
            let (row_starts, row_ends) = (starts.value(row), ends.value(row));
            let (row_starts, row_ends) = (
                row_starts.as_primitive::<Int64Type>(),
                row_ends.as_primitive::<Int64Type>(),
            );
            for (start, end) in row_starts.values().iter().zip(row_ends.values()) {
                self.found.push((group, *start, *end));
            }
        }
        Ok(())
    }

    /// The result column: per group, its spans as a list of structs.
    fn result(&self, merged: Merged) -> Result<ArrayRef> {
        let DataType::List(item) = &self.result_type else {
            return exec_err!("{NAME}: unexpected result type {}", self.result_type);
        };
        let DataType::Struct(fields) = item.data_type() else {
            return exec_err!("{NAME}: unexpected result type {}", self.result_type);
        };
        let time_type = fields[0].data_type();
        let column = |values: Vec<i64>| -> Result<ArrayRef> {
            Ok(cast(&TimestampMicrosecondArray::from(values), time_type)?)
        };
        let spans = StructArray::try_new(
            fields.clone(),
            vec![column(merged.starts)?, column(merged.ends)?],
            None,
        )?;
        Ok(Arc::new(ListArray::try_new(
            Arc::clone(item),
            OffsetBuffer::new(merged.offsets.into()),
            Arc::new(spans),
            None,
        )?))
    }

    /// The partial state: per group, its merged spans' starts and ends, and the gap.
    fn state_columns(&self, merged: Merged) -> Result<Vec<ArrayRef>> {
        let groups = merged.offsets.len() - 1;
        let offsets = OffsetBuffer::new(merged.offsets.into());
        let item = Arc::new(Field::new("item", DataType::Int64, true));
        let list = |values: Vec<i64>| -> Result<ArrayRef> {
            Ok(Arc::new(ListArray::try_new(
                Arc::clone(&item),
                offsets.clone(),
                Arc::new(Int64Array::from(values)),
                None,
            )?))
        };
        let gap = self.gap.filter(|g| *g != i64::MAX);
        Ok(vec![
            list(merged.starts)?,
            list(merged.ends)?,
            Arc::new(Int64Array::from(vec![gap; groups])),
        ])
    }
}

impl GroupsAccumulator for Spans {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups = self.groups.max(total_num_groups);
        self.add_rows(values, group_indices, |row| {
            opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row))
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let merged = self.take_merged(emit_to);
        self.result(merged)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let merged = self.take_merged(emit_to);
        self.state_columns(merged)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups = self.groups.max(total_num_groups);
        self.add_states(values, group_indices)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row is its own state: one span of its own time, or none (a NULL time, or
        // a row the filter leaves out).
        let ts = as_int64(&values[0])?;
        let mut offsets = Vec::with_capacity(ts.len() + 1);
        let mut found = Vec::with_capacity(ts.len());
        offsets.push(0i32);
        for row in 0..ts.len() {
            let used =
                ts.is_valid(row) && opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            if used {
                found.push(ts.value(row));
            }
            offsets.push(i32::try_from(found.len()).expect("a batch has fewer than i32::MAX rows"));
        }
        let offsets = OffsetBuffer::new(offsets.into());
        let item = Arc::new(Field::new("item", DataType::Int64, true));
        let times = Arc::new(Int64Array::from(found));
        let starts = ListArray::try_new(Arc::clone(&item), offsets.clone(), times.clone(), None)?;
        let ends = ListArray::try_new(item, offsets, times, None)?;
        let gaps = if values[1].data_type() == &DataType::Null {
            Arc::new(Int64Array::new_null(ts.len())) as ArrayRef
        } else {
            Arc::clone(&values[1])
        };
        Ok(vec![Arc::new(starts), Arc::new(ends), gaps])
    }

    fn size(&self) -> usize {
        self.found.capacity() * std::mem::size_of::<(usize, i64, i64)>()
    }
}

/// The accumulator DataFusion asks for where it does not group (one key, or the
/// function used as a window): the same spans, of one group.
#[derive(Debug)]
struct OneKey {
    spans: Spans,
}

impl OneKey {
    fn new(result_type: DataType) -> Self {
        let mut spans = Spans::new(result_type);
        spans.groups = 1;
        OneKey { spans }
    }

    /// The spans so far, merged; they stay the one group's (taken and put back).
    fn merged(&mut self) -> Merged {
        let merged = self.spans.take_merged(EmitTo::All);
        self.spans.groups = 1;
        for (start, end) in merged.starts.iter().zip(&merged.ends) {
            self.spans.found.push((0, *start, *end));
        }
        merged
    }
}

impl Accumulator for OneKey {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.spans
            .add_rows(values, &vec![0; values[0].len()], |_| true)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let merged = self.merged();
        let column = self.spans.result(merged)?;
        ScalarValue::try_from_array(&column, 0)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.spans.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let merged = self.merged();
        self.spans
            .state_columns(merged)?
            .iter()
            .map(|column| ScalarValue::try_from_array(column, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.spans.add_states(states, &vec![0; states[0].len()])
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{RecordBatch, StringArray};
    use datafusion::arrow::datatypes::Schema;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use super::*;
    use crate::analyze::functions::test_support::aggregate_config;

    fn utc() -> DataType {
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    }

    /// A context with `t(session_key, ts)` holding `rows` in batches of 7 over two
    /// partitions (so partial states are merged), with the partial aggregation skipped at
    /// once (each row passed on as its own state) when `skip_partial` says so.
    fn context(rows: &[(String, i64)], skip_partial: bool) -> SessionContext {
        let ctx = SessionContext::new_with_config(aggregate_config(7, skip_partial));
        ctx.register_udaf(interaction_spans());
        let schema = Arc::new(Schema::new(vec![
            Field::new("session_key", DataType::Utf8, false),
            Field::new("ts", utc(), false),
        ]));
        let batch = |chunk: &[(String, i64)]| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(StringArray::from_iter_values(chunk.iter().map(|r| &r.0))),
                    Arc::new(
                        TimestampMicrosecondArray::from_iter_values(chunk.iter().map(|r| r.1))
                            .with_timezone("UTC"),
                    ),
                ],
            )
            .unwrap()
        };
        let half = rows.len() / 2;
        let partitions = vec![
            rows[..half].chunks(7).map(batch).collect(),
            rows[half..].chunks(7).map(batch).collect(),
        ];
        ctx.register_table(
            "t",
            Arc::new(MemTable::try_new(schema, partitions).unwrap()),
        )
        .unwrap();
        ctx
    }

    /// Each key's spans as (key, start, end), in key and time order, from `sql`, which
    /// names its columns `session_key` and `spans`. (Sorted here: DataFusion 55 still takes
    /// the group key as unique after the unnest, and drops the later keys of an ORDER BY.)
    async fn spans_of(ctx: &SessionContext, sql: &str) -> Vec<(String, i64, i64)> {
        let sql = format!(
            "SELECT session_key, CAST(span['start'] AS BIGINT), CAST(span['end'] AS BIGINT) \
             FROM (SELECT session_key, unnest(spans) AS span FROM ({sql}))"
        );
        let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let mut out = Vec::new();
        for batch in batches {
            let keys = batch.column(0).as_string::<i32>();
            let starts = batch.column(1).as_primitive::<Int64Type>();
            let ends = batch.column(2).as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                out.push((
                    keys.value(row).to_string(),
                    starts.value(row),
                    ends.value(row),
                ));
            }
        }
        out.sort();
        out
    }

    fn rows(rows: &[(&str, i64)]) -> Vec<(String, i64)> {
        rows.iter().map(|(k, t)| (k.to_string(), *t)).collect()
    }

    #[tokio::test]
    async fn a_gap_longer_than_the_limit_starts_a_new_span() {
        // Worked by hand with a gap of 10: a's requests at 26, 0, 15, 5 (in time order 0, 5,
        // 15: 10 after 5 is not longer, one span; 26 is 11 after 15: a new one); b's at
        // 6, 5 and 6 again.
        let input = rows(&[
            ("a", 26),
            ("b", 6),
            ("a", 0),
            ("a", 15),
            ("b", 5),
            ("a", 5),
            ("b", 6),
        ]);
        let expected = vec![
            ("a".to_string(), 0, 15),
            ("a".to_string(), 26, 26),
            ("b".to_string(), 5, 6),
        ];
        for skip_partial in [false, true] {
            let ctx = context(&input, skip_partial);
            let got = spans_of(
                &ctx,
                "SELECT session_key, interaction_spans(ts, 10) AS spans FROM t GROUP BY session_key",
            )
            .await;
            assert_eq!(got, expected, "skip_partial {skip_partial}");
        }
    }

    #[tokio::test]
    async fn many_batches_and_partitions_give_what_a_walk_over_the_sorted_times_gives() {
        // An independent reference: each key's times sorted in Rust and walked with the
        // rule (a time more than `gap` after the one before starts a span).
        let mut rng = fastrand::Rng::with_seed(11);
        let input: Vec<(String, i64)> = (0..3_000)
            .map(|_| {
                (
                    format!("k{}", rng.u32(0..60)),
                    i64::from(rng.u32(0..200_000)) - 50_000,
                )
            })
            .collect();
        let gap = 2_500;
        let mut sorted = input.clone();
        sorted.sort();
        let mut expected: Vec<(String, i64, i64)> = Vec::new();
        for (key, ts) in &sorted {
            match expected.last_mut() {
                Some((k, _, end)) if k == key && ts - *end <= gap => *end = *ts,
                _ => expected.push((key.clone(), *ts, *ts)),
            }
        }
        assert!(expected.len() > 200, "a test of many spans");
        for skip_partial in [false, true] {
            let ctx = context(&input, skip_partial);
            let got = spans_of(
                &ctx,
                &format!(
                    "SELECT session_key, interaction_spans(ts, {gap}) AS spans FROM t GROUP BY session_key"
                ),
            )
            .await;
            assert_eq!(got, expected, "skip_partial {skip_partial}");
        }
    }

    #[tokio::test]
    async fn without_group_by_and_with_a_null_gap() {
        // One group of every row: gap 10 gives a's and b's times together, 0 5 5 6 6 15
        // 26, in two spans; a NULL gap never cuts (one span from 0 to 26); a FILTER keeps
        // b's rows only (with a gap of 0, 5 and 6 are two spans; a's group has none).
        let input = rows(&[("a", 26), ("b", 6), ("a", 0), ("a", 15), ("b", 5), ("a", 5)]);
        let ctx = context(&input, false);
        let got = spans_of(
            &ctx,
            "SELECT 'all' AS session_key, interaction_spans(ts, 10) AS spans FROM t",
        )
        .await;
        assert_eq!(
            got,
            [("all".to_string(), 0, 15), ("all".to_string(), 26, 26)]
        );
        let got = spans_of(
            &ctx,
            "SELECT 'all' AS session_key, interaction_spans(ts, CAST(NULL AS BIGINT)) AS spans FROM t",
        )
        .await;
        assert_eq!(got, [("all".to_string(), 0, 26)]);
        let got = spans_of(
            &ctx,
            "SELECT session_key, interaction_spans(ts, 0) FILTER (WHERE session_key = 'b') AS spans \
             FROM t GROUP BY session_key",
        )
        .await;
        assert_eq!(got, [("b".to_string(), 5, 5), ("b".to_string(), 6, 6)]);
    }

    #[tokio::test]
    async fn wrong_arguments_are_clear_errors() {
        let ctx = context(&rows(&[("a", 1), ("a", 2)]), false);
        let error = ctx
            .sql("SELECT interaction_spans(session_key, 10) FROM t")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("takes a timestamp in microseconds and a BIGINT"),
            "{error}"
        );
        let error = ctx
            .sql("SELECT interaction_spans(ts, CAST(ts AS BIGINT)) FROM t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("gap_micros must be the same on every row"),
            "{error}"
        );
    }
}
