//! Small Arrow and DataFusion helpers every stage uses: running one query into batches,
//! registering batches or a folder of Parquet as a table, reading one cell as text or as an
//! exact decimal. Below the analysis and publishing code, importing only the error type.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use rust_decimal::Decimal;

use std::path::Path;

use crate::common::error::{Error, Result};

/// Runs one query that must be a single statement, for a step or the report.
pub async fn sql_batches(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

/// Registers one record batch of `columns` as the in-memory table `name` (replacing any).
pub fn register_memtable(
    ctx: &SessionContext,
    name: &str,
    schema: SchemaRef,
    columns: Vec<datafusion::arrow::array::ArrayRef>,
) -> Result<()> {
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    ctx.deregister_table(name)?;
    ctx.register_table(
        name,
        Arc::new(MemTable::try_new(schema, vec![vec![batch]])?),
    )?;
    Ok(())
}

/// Reads a `Decimal128` cell as an exact decimal.
pub fn decimal_at(array: &dyn Array, row: usize) -> Option<Decimal> {
    if array.is_null(row) {
        return None;
    }
    match array.data_type() {
        DataType::Decimal128(_, scale) => {
            let value = array.as_primitive::<Decimal128Type>().value(row);
            Decimal::try_from_i128_with_scale(value, *scale as u32).ok()
        }
        _ => None,
    }
}

/// The text of a string cell, whatever the string type (Parquet reads back as Utf8View).
pub fn string_at(array: &dyn Array, row: usize) -> Option<String> {
    if array.is_null(row) {
        return None;
    }
    let cast = datafusion::arrow::compute::cast(&array.slice(row, 1), &DataType::Utf8).ok()?;
    Some(cast.as_string::<i32>().value(0).to_string())
}

/// Registers a folder of Parquet files as a table; partitioned tables get their `date`
/// column from the `date=YYYY-MM-DD` folder names. An empty folder registers an empty
/// table of `empty_schema`, when given.
pub async fn register_parquet_dir(
    ctx: &SessionContext,
    name: &str,
    dir: &Path,
    partitioned: bool,
    empty_schema: Option<SchemaRef>,
) -> Result<()> {
    let has_files = dir.is_dir() && contains_parquet(dir);
    if !has_files {
        let schema = empty_schema
            .ok_or_else(|| Error::Usage(format!("table {name}: no data in {}", dir.display())))?;
        let table = MemTable::try_new(schema, vec![vec![]])?;
        ctx.register_table(name, Arc::new(table))?;
        return Ok(());
    }
    let absolute = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
    let url = ListingTableUrl::parse(format!("{}/", absolute.to_string_lossy()))?;
    let mut options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    if partitioned {
        options = options.with_table_partition_cols(vec![("date".to_string(), DataType::Utf8)]);
    }
    let state = ctx.state();
    let schema = options.infer_schema(&state, &url).await?;
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// Whether a folder holds a `.parquet` file at any depth.
pub fn contains_parquet(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let path = e.path();
        if path.is_dir() {
            contains_parquet(&path)
        } else {
            path.extension().is_some_and(|x| x == "parquet")
        }
    })
}
