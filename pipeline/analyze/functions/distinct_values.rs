//! The aggregate function `distinct_values(text)`: a group's distinct non-NULL values, as a
//! sorted list. `queries/interactions.sql` takes an interaction's model (when it used one)
//! and how many models it used from it, in the same aggregation as its other figures.
//!
//! `COUNT(DISTINCT model)` keeps a hash set per group, which on the 1M-request bench's
//! 312,000 interactions took 3 s; grouping by model first and then by interaction costs a
//! second aggregation. Nearly every group has one value, so here a group keeps its first
//! value, and a sorted set only once a second one comes.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, ListArray, StringBuilder};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use crate::common::arrow_util::TextColumn;

/// The function's name in SQL.
pub const NAME: &str = "distinct_values";

/// `distinct_values` as DataFusion registers it.
pub fn distinct_values() -> AggregateUDF {
    AggregateUDF::from(DistinctValues {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DistinctValues {
    signature: Signature,
}

/// `List<Utf8>`: the result, and the partial state.
fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

impl AggregateUDFImpl for DistinctValues {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !matches!(
            arg_types.first(),
            Some(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null)
        ) {
            return plan_err!("{NAME}(value) takes text, not {arg_types:?}");
        }
        Ok(list_type())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(Values {
            groups: vec![Seen::Nothing],
            text_bytes: 0,
        })))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[values]", args.name),
            list_type(),
            true,
        ))])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Values::default()))
    }
}

/// What a group has seen.
#[derive(Debug, Clone, Default)]
enum Seen {
    #[default]
    Nothing,
    One(String),
    Several(BTreeSet<String>),
}

impl Seen {
    /// Adds `value`; returns the bytes of text it added.
    fn add(&mut self, value: &str) -> usize {
        match self {
            Seen::Nothing => {
                *self = Seen::One(value.to_string());
                value.len()
            }
            Seen::One(first) if first == value => 0,
            Seen::One(first) => {
                let first = std::mem::take(first);
                *self = Seen::Several(BTreeSet::from([first, value.to_string()]));
                value.len()
            }
            Seen::Several(set) => {
                if set.contains(value) {
                    0
                } else {
                    set.insert(value.to_string());
                    value.len()
                }
            }
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Seen::Nothing => 0,
            Seen::One(value) => value.len(),
            Seen::Several(set) => set.iter().map(String::len).sum(),
        }
    }
}

/// Every group's values.
#[derive(Debug, Default)]
struct Values {
    groups: Vec<Seen>,
    /// Bytes of text held, for [`GroupsAccumulator::size`].
    text_bytes: usize,
}

/// `seen` as the list column: per group, its values in order.
fn list_of(seen: &[Seen]) -> Result<ArrayRef> {
    let mut offsets = Vec::with_capacity(seen.len() + 1);
    let mut values = StringBuilder::new();
    offsets.push(0i32);
    let mut count = 0i32;
    for group in seen {
        match group {
            Seen::Nothing => {}
            Seen::One(value) => {
                values.append_value(value);
                count += 1;
            }
            Seen::Several(set) => {
                for value in set {
                    values.append_value(value);
                    count += 1;
                }
            }
        }
        offsets.push(count);
    }
    Ok(Arc::new(ListArray::try_new(
        Arc::new(Field::new("item", DataType::Utf8, true)),
        OffsetBuffer::new(offsets.into()),
        Arc::new(values.finish()),
        None,
    )?))
}

impl Values {
    fn add_rows(
        &mut self,
        column: &ArrayRef,
        group_indices: &[usize],
        use_row: impl Fn(usize) -> bool,
    ) {
        if column.data_type() == &DataType::Null {
            return;
        }
        let text = TextColumn::of(column);
        for (row, &group) in group_indices.iter().enumerate() {
            if let Some(value) = text.at(row).filter(|_| use_row(row)) {
                self.text_bytes += self.groups[group].add(value);
            }
        }
    }

    fn add_lists(&mut self, lists: &ArrayRef, group_indices: &[usize]) {
        let lists = lists.as_list::<i32>();
        for (row, &group) in group_indices.iter().enumerate() {
            if lists.is_null(row) {
                continue;
            }
            let values = lists.value(row);
            let text = TextColumn::of(&values);
            for item in 0..values.len() {
                if let Some(value) = text.at(item) {
                    self.text_bytes += self.groups[group].add(value);
                }
            }
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = emit_to.take_needed(&mut self.groups);
        let bytes: usize = taken.iter().map(Seen::bytes).sum();
        self.text_bytes = self.text_bytes.saturating_sub(bytes);
        list_of(&taken)
    }
}

impl GroupsAccumulator for Values {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize(total_num_groups, Seen::Nothing);
        self.add_rows(&values[0], group_indices, |row| {
            opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row))
        });
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        self.take(emit_to)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.take(emit_to)?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize(total_num_groups, Seen::Nothing);
        self.add_lists(&values[0], group_indices);
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row is its own state: a list of its value, or an empty one.
        let rows = values[0].len();
        let mut per_row = Values {
            groups: vec![Seen::Nothing; rows],
            text_bytes: 0,
        };
        let indices: Vec<usize> = (0..rows).collect();
        per_row.add_rows(&values[0], &indices, |row| {
            opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row))
        });
        Ok(vec![list_of(&per_row.groups)?])
    }

    fn size(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<Seen>() + self.text_bytes * 2
    }
}

/// The accumulator DataFusion asks for where it does not group: one group's values.
#[derive(Debug)]
struct OneGroup(Values);

impl OneGroup {
    fn list(&self) -> Result<ScalarValue> {
        ScalarValue::try_from_array(&list_of(&self.0.groups)?, 0)
    }
}

impl Accumulator for OneGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = vec![0; values[0].len()];
        self.0.add_rows(&values[0], &rows, |_| true);
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.list()
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.0.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.list()?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = vec![0; states[0].len()];
        self.0.add_lists(&states[0], &rows);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{RecordBatch, StringArray};
    use datafusion::arrow::datatypes::Schema;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use super::*;
    use crate::analyze::functions::test_support::{aggregate_config, result_lines};

    /// `t(grp, value)` in batches of 2 over two partitions (partial states merged), with
    /// the partial aggregation skipped at once when `skip_partial` says so.
    fn context(rows: &[(&str, Option<&str>)], skip_partial: bool) -> SessionContext {
        let ctx = SessionContext::new_with_config(aggregate_config(2, skip_partial));
        ctx.register_udaf(distinct_values());
        let schema = Arc::new(Schema::new(vec![
            Field::new("grp", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
        ]));
        let batch = |chunk: &[(&str, Option<&str>)]| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(StringArray::from_iter_values(chunk.iter().map(|r| r.0))),
                    Arc::new(StringArray::from_iter(chunk.iter().map(|r| r.1))),
                ],
            )
            .unwrap()
        };
        let half = rows.len() / 2;
        let partitions = vec![
            rows[..half].chunks(2).map(batch).collect(),
            rows[half..].chunks(2).map(batch).collect(),
        ];
        ctx.register_table(
            "t",
            Arc::new(MemTable::try_new(schema, partitions).unwrap()),
        )
        .unwrap();
        ctx
    }

    /// Worked out by hand: g1 saw b, a, b, NULL (two values, sorted); g2 saw c twice; g3
    /// only NULL (an empty list, count 0); g4 saw z, a, m, a (three).
    const ROWS: [(&str, Option<&str>); 11] = [
        ("g1", Some("b")),
        ("g2", Some("c")),
        ("g4", Some("z")),
        ("g1", Some("a")),
        ("g3", None),
        ("g4", Some("a")),
        ("g1", Some("b")),
        ("g2", Some("c")),
        ("g4", Some("m")),
        ("g1", None),
        ("g4", Some("a")),
    ];

    #[tokio::test]
    async fn grouped_values_are_distinct_sorted_and_without_null() {
        for skip_partial in [false, true] {
            let ctx = context(&ROWS, skip_partial);
            let got = result_lines(
                &ctx,
                "SELECT grp, distinct_values(value) AS v, cardinality(distinct_values(value)) AS n \
                 FROM t GROUP BY grp ORDER BY grp",
            )
            .await;
            assert_eq!(
                got,
                [
                    "| g1 | [a, b] | 2 |",
                    "| g2 | [c] | 1 |",
                    "| g3 | [] | 0 |",
                    "| g4 | [a, m, z] | 3 |",
                ],
                "skip_partial {skip_partial}"
            );
        }
    }

    #[tokio::test]
    async fn without_group_by_and_with_a_filter() {
        // Every row: a, b, c, m, z. With the filter grp <> 'g4': a, b, c.
        let ctx = context(&ROWS, false);
        let got = result_lines(
            &ctx,
            "SELECT distinct_values(value), distinct_values(value) FILTER (WHERE grp <> 'g4') FROM t",
        )
        .await;
        assert_eq!(got, ["| [a, b, c, m, z] | [a, b, c] |"]);
    }

    #[tokio::test]
    async fn a_non_text_argument_is_a_clear_error() {
        let ctx = context(&ROWS, false);
        let error = ctx
            .sql("SELECT distinct_values(1) FROM t")
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("takes text"), "{error}");
    }
}
