//! Functions registered for the steps' and users' SQL. `cost_of(model, input_tokens,
//! cache_read_tokens, cache_write_tokens, output_tokens, ts)` prices a hypothetical request
//! with the price book exactly as `run` prices a logged one (input = all prompt tokens,
//! cache tokens inside it), returning DECIMAL(38, 12), or NULL when the model has no price
//! then. `cache_read_discount(model, provider, ts)` is what one cached prompt token saves
//! against an uncached one (input price − cache-read price, never negative) in the price
//! in force at `ts`, NULL without a price.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Decimal128Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMicrosecondType};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, create_udf,
};
use datafusion::prelude::SessionContext;

use crate::common::money::{money_type, to_money};
use crate::prices::PriceBook;

/// Registers `cost_of` with a price book.
pub fn register_cost_of(ctx: &SessionContext, book: PriceBook) {
    ctx.register_udf(priced_function(PricedKind::CostOf, Arc::new(book)));
}

/// Registers `cache_read_discount` with a price book.
pub fn register_cache_read_discount(ctx: &SessionContext, book: Arc<PriceBook>) {
    ctx.register_udf(priced_function(PricedKind::CacheReadDiscount, book));
}

/// The functions that price with a book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PricedKind {
    /// `cost_of(model, input, cache_read, cache_write, output, ts)`.
    CostOf,
    /// `cache_read_discount(model, provider, ts)`.
    CacheReadDiscount,
}

impl PricedKind {
    /// The function's SQL name.
    pub fn name(self) -> &'static str {
        match self {
            PricedKind::CostOf => "cost_of",
            PricedKind::CacheReadDiscount => "cache_read_discount",
        }
    }

    /// The function named `name`, if it prices with a book.
    pub fn named(name: &str) -> Option<PricedKind> {
        [PricedKind::CostOf, PricedKind::CacheReadDiscount]
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

/// A function that prices with the price book it carries, so a cluster's processes can
/// be sent the book with the function (`analyze::codec`).
#[derive(Debug)]
pub struct PricedFunction {
    kind: PricedKind,
    book: Arc<PriceBook>,
    signature: Signature,
    /// `cache_read_discount`: prices are effective by day, so one lookup per (model,
    /// provider, day).
    discounts: Mutex<HashMap<DiscountKey, Option<i128>>>,
}

/// A `cache_read_discount` lookup: model, provider, day (UTC, days since the epoch).
type DiscountKey = (String, Option<String>, i64);

impl PartialEq for PricedFunction {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && Arc::ptr_eq(&self.book, &other.book)
    }
}

impl Eq for PricedFunction {}

impl std::hash::Hash for PricedFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        Arc::as_ptr(&self.book).hash(state);
    }
}

impl PricedFunction {
    /// The book it prices with.
    pub fn book(&self) -> &Arc<PriceBook> {
        &self.book
    }
}

/// `kind` pricing with `book`, as a function to register.
pub fn priced_function(kind: PricedKind, book: Arc<PriceBook>) -> ScalarUDF {
    let timestamp = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let arguments = match kind {
        PricedKind::CostOf => vec![
            DataType::Utf8,
            DataType::Int64,
            DataType::Int64,
            DataType::Int64,
            DataType::Int64,
            timestamp,
        ],
        PricedKind::CacheReadDiscount => vec![DataType::Utf8, DataType::Utf8, timestamp],
    };
    ScalarUDF::new_from_impl(PricedFunction {
        kind,
        book,
        signature: Signature::exact(arguments, Volatility::Immutable),
        discounts: Mutex::new(HashMap::new()),
    })
}

impl ScalarUDFImpl for PricedFunction {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arguments: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(money_type())
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let arrays = arrays_of(&args.args)?;
        let priced = match self.kind {
            PricedKind::CostOf => cost_of_rows(&self.book, &arrays)?,
            PricedKind::CacheReadDiscount => self.discount_rows(&arrays)?,
        };
        let array = Decimal128Array::from(priced).with_data_type(money_type());
        Ok(ColumnarValue::Array(Arc::new(array)))
    }
}

/// `cost_of` over arrays of its arguments.
fn cost_of_rows(
    book: &PriceBook,
    arrays: &[ArrayRef],
) -> datafusion::error::Result<Vec<Option<i128>>> {
    let rows = arrays[0].len();
    let text = cast(&arrays[0], &DataType::Utf8)?;
    let text = text.as_string::<i32>();
    let counts: Vec<ArrayRef> = arrays[1..5]
        .iter()
        .map(|a| cast(a, &DataType::Int64))
        .collect::<Result<_, _>>()?;
    let ts = cast(
        &arrays[5],
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    )?;
    let ts = ts.as_primitive::<TimestampMicrosecondType>();
    let mut out = Vec::with_capacity(rows);
    for row in 0..rows {
        let nulls = text.is_null(row) || ts.is_null(row) || counts.iter().any(|c| c.is_null(row));
        if nulls {
            out.push(None);
            continue;
        }
        let count = |i: usize| counts[i].as_primitive::<Int64Type>().value(row);
        let (input, read, write, output) = (count(0), count(1), count(2), count(3));
        if input < 0 || read < 0 || write < 0 || output < 0 || read + write > input {
            return Err(DataFusionError::Execution(format!(
                "cost_of: token counts must be non-negative and cache_read + cache_write ≤ input (row {})",
                row + 1
            )));
        }
        let usage = crate::prices::TokenUsage {
            input_tokens: input,
            cache_read_tokens: read,
            cache_write_tokens: write,
            output_tokens: output,
            ..Default::default()
        };
        out.push(
            book.lookup(text.value(row), None, ts.value(row))
                .map(|price| to_money(price.cost(&usage).cost_usd).0),
        );
    }
    Ok(out)
}

impl PricedFunction {
    /// `cache_read_discount` over arrays of its arguments.
    fn discount_rows(&self, arrays: &[ArrayRef]) -> datafusion::error::Result<Vec<Option<i128>>> {
        let models = cast(&arrays[0], &DataType::Utf8)?;
        let providers = cast(&arrays[1], &DataType::Utf8)?;
        let (models, providers) = (models.as_string::<i32>(), providers.as_string::<i32>());
        let ts = cast(
            &arrays[2],
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        )?;
        let ts = ts.as_primitive::<TimestampMicrosecondType>();
        let mut memo = self.discounts.lock().expect("no pricing call panicked");
        Ok((0..models.len())
            .map(|row| {
                if models.is_null(row) || ts.is_null(row) {
                    return None;
                }
                let (model, at) = (models.value(row), ts.value(row));
                let provider = (!providers.is_null(row)).then(|| providers.value(row));
                let key = (
                    model.to_string(),
                    provider.map(str::to_string),
                    at.div_euclid(86_400_000_000),
                );
                *memo.entry(key).or_insert_with(|| {
                    self.book.lookup(model, provider, at).map(|p| {
                        let read = p.standard.cache_read.unwrap_or(p.standard.input);
                        to_money((p.standard.input - read).max(rust_decimal::Decimal::ZERO)).0
                    })
                })
            })
            .collect())
    }
}

/// The arguments of a UDF call as arrays of one length.
fn arrays_of(args: &[ColumnarValue]) -> datafusion::error::Result<Vec<ArrayRef>> {
    let rows = args
        .iter()
        .find_map(|a| match a {
            ColumnarValue::Array(array) => Some(array.len()),
            ColumnarValue::Scalar(_) => None,
        })
        .unwrap_or(1);
    args.iter().map(|a| a.clone().into_array(rows)).collect()
}

/// `session_bucket(session_key, buckets)`: the session bucket (from 0) a session key falls
/// in among `buckets` (`common::session_buckets`), the bucket ingest filed the key's
/// requests under; NULL for a NULL key.
pub fn session_bucket() -> datafusion::logical_expr::ScalarUDF {
    use datafusion::arrow::array::Int64Array;
    let fun = Arc::new(
        move |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
            let arrays = arrays_of(args)?;
            let keys = cast(&arrays[0], &DataType::Utf8)?;
            let keys = keys.as_string::<i32>();
            let buckets = cast(&arrays[1], &DataType::Int64)?;
            let buckets = buckets.as_primitive::<Int64Type>();
            let out: Int64Array = (0..keys.len())
                .map(|row| {
                    if keys.is_null(row) || buckets.is_null(row) {
                        return Ok(None);
                    }
                    let count = u32::try_from(buckets.value(row))
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| {
                            DataFusionError::Execution(format!(
                                "session_bucket: buckets must be between 1 and {}, found {}",
                                u32::MAX,
                                buckets.value(row)
                            ))
                        })?;
                    Ok(Some(i64::from(
                        crate::common::session_buckets::bucket_of_key(keys.value(row), count),
                    )))
                })
                .collect::<datafusion::error::Result<_>>()?;
            Ok(ColumnarValue::Array(Arc::new(out)))
        },
    );
    create_udf(
        "session_bucket",
        vec![DataType::Utf8, DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        fun,
    )
}

/// `utc_date(ts)`: the UTC day of a timestamp as `YYYY-MM-DD` text, the same text as
/// `CAST(CAST(ts AS DATE) AS VARCHAR)` of a UTC (or zone-less) timestamp. The `date`
/// column every day-partitioned table is written by: the cast formats a date per row
/// (4% of a 1M-request run's CPU, mostly time-zone lookups), where the day only changes
/// every few thousand rows, so each run of rows of one day reuses its text.
pub fn utc_date() -> datafusion::logical_expr::ScalarUDF {
    use datafusion::arrow::array::{Date32Array, StringBuilder};
    const MICROS_PER_DAY: i64 = 86_400_000_000;
    let fun = Arc::new(
        move |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
            let arrays = arrays_of(args)?;
            let times = arrays[0].as_primitive::<TimestampMicrosecondType>();
            let mut out = StringBuilder::with_capacity(times.len(), times.len() * 10);
            let mut day_text: Option<(i64, String)> = None;
            for row in 0..times.len() {
                if times.is_null(row) {
                    out.append_null();
                    continue;
                }
                let day = times.value(row).div_euclid(MICROS_PER_DAY);
                if day_text.as_ref().is_none_or(|(d, _)| *d != day) {
                    // DataFusion's own cast makes the text, so the two never differ.
                    let days = i32::try_from(day).map_err(|_| {
                        DataFusionError::Execution(format!("utc_date: day {day} out of range"))
                    })?;
                    let date: ArrayRef = Arc::new(Date32Array::from(vec![days]));
                    let text = cast(&date, &DataType::Utf8)?;
                    day_text = Some((day, text.as_string::<i32>().value(0).to_string()));
                }
                out.append_value(&day_text.as_ref().expect("set above").1);
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish())))
        },
    );
    create_udf(
        "utc_date",
        vec![DataType::Timestamp(
            TimeUnit::Microsecond,
            Some("UTC".into()),
        )],
        DataType::Utf8,
        Volatility::Immutable,
        fun,
    )
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{RecordBatch, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::datasource::MemTable;

    use super::*;

    /// `utc_date` gives the cast's own text on every row, for UTC and zone-less timestamps:
    /// days before 1970, across midnight, days alternating row by row, year 10000, NULL.
    #[tokio::test]
    async fn utc_date_is_the_date_cast_as_text() {
        let micros: Vec<Option<i64>> = [
            Some(-1),
            Some(0),
            Some(86_399_999_999),
            Some(86_400_000_000),
            Some(-86_400_000_001),
            None,
            Some(1_794_787_201_000_000),
            Some(0),
            Some(1_794_787_201_000_000),
            Some(253_402_300_800_000_000), // 10000-01-01
        ]
        .into();
        let utc = Arc::new(TimestampMicrosecondArray::from(micros.clone()).with_timezone("UTC"));
        let naive = Arc::new(TimestampMicrosecondArray::from(micros));
        let schema = Arc::new(Schema::new(vec![
            Field::new("utc", utc.data_type().clone(), true),
            Field::new("naive", naive.data_type().clone(), true),
        ]));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![utc, naive]).unwrap();
        let ctx = SessionContext::new();
        crate::analyze::functions::register_all(&ctx);
        ctx.register_table(
            "t",
            Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()),
        )
        .unwrap();
        let sql = "SELECT utc_date(utc), CAST(CAST(utc AS DATE) AS VARCHAR), \
                          utc_date(naive), CAST(CAST(naive AS DATE) AS VARCHAR) FROM t";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let batch = &batches[0];
        let text = |c: usize| -> Vec<Option<String>> {
            let column = cast(batch.column(c), &DataType::Utf8).unwrap();
            column
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_string))
                .collect()
        };
        assert_eq!(text(0), text(1));
        assert_eq!(text(2), text(3));
        assert_eq!(text(0), text(2));
        assert_eq!(text(0)[0].as_deref(), Some("1969-12-31"));
        assert_eq!(text(0)[3].as_deref(), Some("1970-01-02"));
        assert_eq!(text(0)[5], None);
    }
}
