//! The aggregate functions `first_by_time(value, ts, request_id)` and
//! `last_by_time(value, ts, request_id)`: a group's `value` on its earliest (latest) row,
//! rows ordered by `ts`, then `request_id` (so ties in time are broken the same way every
//! run). `queries/interactions.sql` takes an interaction's team, feature and user from its
//! first request and its completion from its last with them.
//!
//! They are what `ROW_NUMBER`/`LAG` over one global sort of every request gave before,
//! without that sort: a window over a single order runs on one core, while an aggregate is
//! hashed over every core. DataFusion's own `first_value(… ORDER BY …)` keeps its state per
//! group row by row for text values, which on the 1M-request bench's 312,000 interactions
//! took 8 s where the window took under 1 s. Here the state is three vectors per function (time, id, value), so the
//! grouped aggregation stays columnar; NULL values count (the earliest row's NULL team is
//! the answer, as in the window), rows with a NULL time are left out.

use std::sync::Arc;

use crate::common::arrow_util::{TextColumn, as_int64};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Int64Array, LargeStringBuilder,
    StringBuilder, StringViewBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

/// Both functions.
pub fn functions() -> [AggregateUDF; 2] {
    [first_by_time(), last_by_time()]
}

/// `first_by_time` as DataFusion registers it.
pub fn first_by_time() -> AggregateUDF {
    AggregateUDF::from(ByTime::new(Which::First))
}

/// `last_by_time` as DataFusion registers it.
pub fn last_by_time() -> AggregateUDF {
    AggregateUDF::from(ByTime::new(Which::Last))
}

/// Which end of the order a function takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Which {
    First,
    Last,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::First => "first_by_time",
            Which::Last => "last_by_time",
        }
    }

    /// Whether a row at (`ts`, `id`) replaces the one kept at (`kept_ts`, `kept_id`).
    fn replaces(self, ts: i64, id: &str, kept_ts: i64, kept_id: &str) -> bool {
        let order = (ts, id).cmp(&(kept_ts, kept_id));
        match self {
            Which::First => order.is_lt(),
            Which::Last => order.is_gt(),
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ByTime {
    which: Which,
    signature: Signature,
}

impl ByTime {
    fn new(which: Which) -> Self {
        ByTime {
            which,
            signature: Signature::any(3, Volatility::Immutable),
        }
    }
}

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

impl AggregateUDFImpl for ByTime {
    fn name(&self) -> &str {
        self.which.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let value_ok = arg_types
            .first()
            .is_some_and(|t| is_text(t) || *t == DataType::Boolean);
        let ts_ok = arg_types
            .get(1)
            .is_some_and(|t| matches!(t, DataType::Int64 | DataType::Timestamp(_, _)));
        let id_ok = arg_types.get(2).is_some_and(is_text);
        if !(value_ok && ts_ok && id_ok) {
            return plan_err!(
                "{}(value, ts, request_id) takes text or a boolean, a timestamp (or BIGINT) and text, not {arg_types:?}",
                self.name()
            );
        }
        Ok(arg_types[0].clone())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup {
            which: self.which,
            value_type: args.return_type().clone(),
            kept: None,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let name = args.name;
        Ok(vec![
            Arc::new(Field::new(
                format!("{name}[value]"),
                args.return_type().clone(),
                true,
            )),
            Arc::new(Field::new(format!("{name}[ts]"), DataType::Int64, true)),
            Arc::new(Field::new(format!("{name}[id]"), DataType::Utf8, true)),
        ])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Picks::new(
            self.which,
            args.return_type().clone(),
        )?))
    }
}

/// The values kept, one per group.
#[derive(Debug)]
enum Kept {
    Text(Vec<Option<String>>),
    Flag(Vec<Option<bool>>),
}

/// Each group's kept row: its time and id (`has` says whether there is one) and value.
#[derive(Debug)]
struct Picks {
    which: Which,
    value_type: DataType,
    has: Vec<bool>,
    ts: Vec<i64>,
    ids: Vec<String>,
    values: Kept,
    /// Bytes held by the strings, for [`GroupsAccumulator::size`].
    text_bytes: usize,
}

impl Picks {
    fn new(which: Which, value_type: DataType) -> Result<Self> {
        let values = if is_text(&value_type) {
            Kept::Text(Vec::new())
        } else if value_type == DataType::Boolean {
            Kept::Flag(Vec::new())
        } else {
            return exec_err!("{}: unsupported value type {value_type}", which.name());
        };
        Ok(Picks {
            which,
            value_type,
            has: Vec::new(),
            ts: Vec::new(),
            ids: Vec::new(),
            values,
            text_bytes: 0,
        })
    }

    fn resize(&mut self, groups: usize) {
        self.has.resize(groups, false);
        self.ts.resize(groups, 0);
        self.ids.resize(groups, String::new());
        match &mut self.values {
            Kept::Text(v) => v.resize(groups, None),
            Kept::Flag(v) => v.resize(groups, None),
        }
    }

    /// Offers row `row` of (`values`, `ts`, `ids`) to `group`, when `use_row` says so.
    fn offer(
        &mut self,
        columns: (&ArrayRef, &Int64Array, &ArrayRef),
        group_indices: &[usize],
        use_row: impl Fn(usize) -> bool,
    ) -> Result<()> {
        let (values, ts, ids) = columns;
        let ids = TextColumn::of(ids);
        let (texts, flags) = match &self.values {
            Kept::Text(_) => (Some(TextColumn::of(values)), None),
            Kept::Flag(_) => (None, Some(values.as_boolean())),
        };
        for (row, &group) in group_indices.iter().enumerate() {
            if ts.is_null(row) || !use_row(row) {
                continue;
            }
            let (row_ts, row_id) = (ts.value(row), ids.at(row).unwrap_or(""));
            if self.has[group]
                && !self
                    .which
                    .replaces(row_ts, row_id, self.ts[group], &self.ids[group])
            {
                continue;
            }
            self.has[group] = true;
            self.ts[group] = row_ts;
            let kept_id = &mut self.ids[group];
            self.text_bytes = (self.text_bytes + row_id.len()).saturating_sub(kept_id.len());
            kept_id.clear();
            kept_id.push_str(row_id);
            match &mut self.values {
                Kept::Text(kept) => {
                    let value = texts.as_ref().and_then(|t| t.at(row)).map(str::to_string);
                    let (new, old) = (value.as_ref(), kept[group].as_ref());
                    self.text_bytes = (self.text_bytes + new.map_or(0, String::len))
                        .saturating_sub(old.map_or(0, String::len));
                    kept[group] = value;
                }
                Kept::Flag(kept) => {
                    kept[group] = flags.and_then(|f| f.is_valid(row).then(|| f.value(row)));
                }
            }
        }
        Ok(())
    }

    /// The kept values of the groups `emit_to` takes, as the function's result column.
    fn take_values(&mut self, has: &[bool], emit_to: EmitTo) -> Result<ArrayRef> {
        let value_type = self.value_type.clone();
        Ok(match &mut self.values {
            Kept::Text(kept) => {
                let kept = emit_to.take_needed(kept);
                let present = kept
                    .iter()
                    .zip(has)
                    .map(|(v, h)| v.as_deref().filter(|_| *h));
                match value_type {
                    DataType::Utf8View => {
                        let mut builder = StringViewBuilder::with_capacity(kept.len());
                        present.for_each(|v| builder.append_option(v));
                        Arc::new(builder.finish())
                    }
                    DataType::LargeUtf8 => {
                        let mut builder = LargeStringBuilder::new();
                        present.for_each(|v| builder.append_option(v));
                        Arc::new(builder.finish())
                    }
                    _ => {
                        let mut builder = StringBuilder::new();
                        present.for_each(|v| builder.append_option(v));
                        Arc::new(builder.finish())
                    }
                }
            }
            Kept::Flag(kept) => {
                let kept = emit_to.take_needed(kept);
                let mut builder = BooleanBuilder::with_capacity(kept.len());
                for (v, h) in kept.iter().zip(has) {
                    builder.append_option(v.filter(|_| *h));
                }
                Arc::new(builder.finish())
            }
        })
    }

    /// Takes the groups `emit_to` names: their values, times and ids (NULL for a group
    /// without a row).
    fn take(&mut self, emit_to: EmitTo) -> Result<(ArrayRef, Int64Array, ArrayRef)> {
        let has = emit_to.take_needed(&mut self.has);
        let ts = emit_to.take_needed(&mut self.ts);
        let ids = emit_to.take_needed(&mut self.ids);
        let values = self.take_values(&has, emit_to)?;
        let taken_bytes: usize = ids.iter().map(String::len).sum();
        self.text_bytes = self.text_bytes.saturating_sub(taken_bytes);
        let ts = ts
            .iter()
            .zip(&has)
            .map(|(t, h)| h.then_some(*t))
            .collect::<Int64Array>();
        let mut id_column = StringBuilder::new();
        for (id, h) in ids.iter().zip(&has) {
            id_column.append_option(h.then_some(id.as_str()));
        }
        Ok((values, ts, Arc::new(id_column.finish())))
    }
}

impl GroupsAccumulator for Picks {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let ts = as_int64(&values[1])?;
        self.offer((&values[0], &ts, &values[2]), group_indices, |row| {
            opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row))
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(self.take(emit_to)?.0)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (values, ts, ids) = self.take(emit_to)?;
        Ok(vec![values, Arc::new(ts), ids])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let ts = as_int64(&values[1])?;
        self.offer((&values[0], &ts, &values[2]), group_indices, |_| true)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row is its own state; a row the filter leaves out has none (NULL time).
        let ts = as_int64(&values[1])?;
        let ts: Int64Array = match opt_filter {
            None => ts,
            Some(filter) => ts
                .iter()
                .enumerate()
                .map(|(row, t)| t.filter(|_| filter.is_valid(row) && filter.value(row)))
                .collect(),
        };
        let ids = cast(&values[2], &DataType::Utf8)?;
        Ok(vec![Arc::clone(&values[0]), Arc::new(ts), ids])
    }

    fn size(&self) -> usize {
        let value_bytes = match &self.values {
            Kept::Text(v) => v.capacity() * std::mem::size_of::<Option<String>>(),
            Kept::Flag(v) => v.capacity(),
        };
        self.has.capacity()
            + self.ts.capacity() * 8
            + self.ids.capacity() * std::mem::size_of::<String>()
            + value_bytes
            + self.text_bytes * 2
    }
}

/// The row-at-a-time accumulator DataFusion asks for where it does not group (one group,
/// or the function used as a window): the kept row's time, id and value.
#[derive(Debug)]
struct OneGroup {
    which: Which,
    value_type: DataType,
    kept: Option<(i64, String, ScalarValue)>,
}

impl OneGroup {
    fn offer(&mut self, values: &[ArrayRef]) -> Result<()> {
        let ts = as_int64(&values[1])?;
        let ids = TextColumn::of(&values[2]);
        for row in 0..ts.len() {
            if ts.is_null(row) {
                continue;
            }
            let (row_ts, row_id) = (ts.value(row), ids.at(row).unwrap_or(""));
            let replaces = match &self.kept {
                None => true,
                Some((kept_ts, kept_id, _)) => {
                    self.which.replaces(row_ts, row_id, *kept_ts, kept_id)
                }
            };
            if replaces {
                let value = ScalarValue::try_from_array(&values[0], row)?;
                self.kept = Some((row_ts, row_id.to_string(), value));
            }
        }
        Ok(())
    }
}

impl Accumulator for OneGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.offer(values)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        match &self.kept {
            Some((_, _, value)) => Ok(value.clone()),
            None => ScalarValue::try_from(&self.value_type),
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self
                .kept
                .as_ref()
                .map_or(0, |(_, id, value)| id.capacity() + value.size())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(match &self.kept {
            Some((ts, id, value)) => vec![
                value.clone(),
                ScalarValue::Int64(Some(*ts)),
                ScalarValue::Utf8(Some(id.clone())),
            ],
            None => vec![
                ScalarValue::try_from(&self.value_type)?,
                ScalarValue::Int64(None),
                ScalarValue::Utf8(None),
            ],
        })
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.offer(states)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{
        BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray,
    };
    use datafusion::arrow::datatypes::Schema;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    use super::*;

    /// A row of `t`: group, value, flag, time, id.
    type TestRow = (
        &'static str,
        Option<&'static str>,
        Option<bool>,
        i64,
        &'static str,
    );

    /// `t(grp, value, flag, ts, id)`, two rows a batch in two partitions, so groups are
    /// split across batches and partial states are merged.
    fn context() -> SessionContext {
        context_with(SessionConfig::new())
    }

    fn context_with(config: SessionConfig) -> SessionContext {
        let rows: [TestRow; 7] = [
            ("g1", Some("a"), Some(true), 10, "r2"),
            ("g2", Some("x"), Some(false), 7, "b"),
            ("g1", None, None, 5, "r9"),
            ("g3", None, None, 1, "z"),
            ("g1", Some("c"), Some(false), 5, "r3"),
            ("g2", Some("y"), Some(true), 7, "a"),
            ("g3", Some("q"), None, 2, "y"),
        ];
        let schema = Arc::new(Schema::new(vec![
            Field::new("grp", DataType::Utf8, false),
            Field::new("value", DataType::Utf8View, true),
            Field::new("flag", DataType::Boolean, true),
            crate::common::arrow_util::utc_timestamp_field("ts", false),
            Field::new("id", DataType::Utf8, false),
        ]));
        let batch = |rows: &[TestRow]| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                    Arc::new(
                        rows.iter()
                            .map(|r| r.1)
                            .collect::<datafusion::arrow::array::StringViewArray>(),
                    ),
                    Arc::new(rows.iter().map(|r| r.2).collect::<BooleanArray>()),
                    Arc::new(
                        TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.3))
                            .with_timezone("UTC"),
                    ),
                    Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.4))),
                ],
            )
            .unwrap()
        };
        let partitions = vec![
            rows[..4].chunks(2).map(batch).collect(),
            rows[4..].chunks(2).map(batch).collect(),
        ];
        let ctx =
            SessionContext::new_with_config(config.with_batch_size(2).with_target_partitions(2));
        for function in functions() {
            ctx.register_udaf(function);
        }
        ctx.register_table(
            "t",
            Arc::new(MemTable::try_new(schema, partitions).unwrap()),
        )
        .unwrap();
        ctx
    }

    use crate::analyze::functions::test_support::result_lines as rows;

    /// Worked out by hand from the rows above, ordered by (ts, id) within each group:
    /// g1: (5,r3) c/false, (5,r9) NULL/NULL, (10,r2) a/true; g2: (7,a) y/true, (7,b)
    /// x/false; g3: (1,z) NULL/NULL, (2,y) q/NULL. A NULL value on the first row is the
    /// answer (g3's first); the filter leaves g3 no row with a flag.
    #[tokio::test]
    async fn grouped_picks_follow_time_then_id() {
        // Also with the partial aggregation skipped at once (each row passed on as its own
        // state, `convert_to_state`), as DataFusion does when groups are nearly all distinct.
        let skipping = crate::analyze::functions::test_support::aggregate_config(2, true);
        for ctx in [context(), context_with(skipping)] {
            grouped_picks(&ctx).await;
        }
    }

    async fn grouped_picks(ctx: &SessionContext) {
        let got = rows(
            ctx,
            "SELECT grp, first_by_time(value, ts, id), last_by_time(value, ts, id), \
                    first_by_time(flag, ts, id), \
                    last_by_time(flag, ts, id) FILTER (WHERE flag IS NOT NULL) \
             FROM t GROUP BY grp ORDER BY grp",
        )
        .await;
        assert_eq!(
            got,
            [
                "| g1 | c | a | false | true |",
                "| g2 | y | x | true | false |",
                "| g3 | | q | | |",
            ]
        );
    }

    /// Without GROUP BY (the row-at-a-time accumulator): the earliest row of all is g3's
    /// (1,z), NULL; the latest is g1's (10,r2), `a`; with a filter, the earliest row with
    /// a flag is g1's (5,r3), false.
    #[tokio::test]
    async fn ungrouped_picks_take_the_whole_table() {
        let ctx = context();
        let got = rows(
            &ctx,
            "SELECT first_by_time(value, ts, id) IS NULL, last_by_time(value, ts, id), \
                    first_by_time(flag, ts, id) FILTER (WHERE flag IS NOT NULL) FROM t",
        )
        .await;
        assert_eq!(got, ["| true | a | false |"]);
    }

    #[tokio::test]
    async fn other_value_types_are_refused_when_planned() {
        let ctx = context();
        let error = ctx
            .sql("SELECT first_by_time(ts, ts, id) FROM t")
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("takes text or a boolean"),
            "{error}"
        );
    }
}
