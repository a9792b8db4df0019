//! Small Arrow and DataFusion helpers every stage uses: running one query into batches,
//! registering batches or a folder of Parquet as a table, reading one cell as text or as an
//! exact decimal. Below the analysis and publishing code, importing only the error type.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, LargeStringArray, RecordBatch, StringArray, StringViewArray,
};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, FieldRef, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::SessionContext;
use rust_decimal::Decimal;

use std::path::Path;

use crate::common::error::{Error, Result};

/// Runs one query that must be a single statement, for a step or the report.
pub async fn sql_batches(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

/// A timestamp (or BIGINT) column as BIGINT: a timestamp's own integers (microseconds for
/// the request tables' times).
pub fn as_int64(
    column: &ArrayRef,
) -> datafusion::error::Result<datafusion::arrow::array::Int64Array> {
    Ok(datafusion::arrow::compute::cast(column, &DataType::Int64)?
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
        .clone())
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

/// A cell of any type as text (cast to Utf8), or `None` when null or not castable.
pub fn text_at(batch: &RecordBatch, column: usize, row: usize) -> Option<String> {
    let array = datafusion::arrow::compute::cast(batch.column(column), &DataType::Utf8).ok()?;
    string_at(array.as_ref(), row)
}

/// A string column of any of Arrow's three layouts, looked into row by row without a
/// copy (the layout is matched once, not per row).
pub enum TextColumn<'a> {
    /// `Utf8`.
    Utf8(&'a StringArray),
    /// `LargeUtf8`.
    Large(&'a LargeStringArray),
    /// `Utf8View`.
    View(&'a StringViewArray),
}

impl<'a> TextColumn<'a> {
    /// The column as text; it must be one of the three string types.
    pub fn of(column: &'a ArrayRef) -> TextColumn<'a> {
        match column.data_type() {
            DataType::Utf8View => TextColumn::View(column.as_string_view()),
            DataType::LargeUtf8 => TextColumn::Large(column.as_string::<i64>()),
            _ => TextColumn::Utf8(column.as_string::<i32>()),
        }
    }

    /// The text at `row`, `None` for NULL.
    #[inline]
    pub fn at(&self, row: usize) -> Option<&'a str> {
        match self {
            TextColumn::Utf8(a) => a.is_valid(row).then(|| a.value(row)),
            TextColumn::Large(a) => a.is_valid(row).then(|| a.value(row)),
            TextColumn::View(a) => a.is_valid(row).then(|| a.value(row)),
        }
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

/// A place where a run's staged folders are copied for a cluster's executors on other
/// machines to read (`run --cluster` with `--out` on object storage: the run stages in
/// this machine's temporary folder, which they do not see). Set on a session as a config
/// extension ([`SharedStaging`]); [`register_parquet_dir`] and [`register_parquet_dirs`]
/// then register a staged folder where it was copied.
pub trait ShareFolder: Send + Sync {
    /// Copies the files of `dir` (recursively) and returns the copy's folder URL (ending
    /// in `/`), or `None` when `dir` is not a staged folder.
    fn share(&self, dir: &Path) -> Result<Option<String>>;
}

/// The session's [`ShareFolder`], as a config extension.
pub struct SharedStaging(pub Arc<dyn ShareFolder>);

/// Where `dir` was copied for the cluster, if the session shares its staged folders.
fn shared_copy(ctx: &SessionContext, dir: &Path) -> Result<Option<String>> {
    let shared = ctx
        .state_ref()
        .read()
        .config()
        .get_extension::<SharedStaging>();
    match shared {
        Some(shared) => shared.0.share(dir),
        None => Ok(None),
    }
}

/// Registers a folder of Parquet files as a table; partitioned tables get their `date`
/// column from the `date=YYYY-MM-DD` folder names. With `expected_schema` (the table as
/// this version writes it), an empty folder registers an empty table of that schema, and a
/// column the files lack (written by an older version, before the column existed) reads
/// as NULL instead of failing every query that names it.
pub async fn register_parquet_dir(
    ctx: &SessionContext,
    name: &str,
    dir: &Path,
    partitioned: bool,
    expected_schema: Option<SchemaRef>,
) -> Result<()> {
    let has_files = dir.is_dir() && contains_parquet(dir);
    if !has_files {
        let schema = expected_schema.ok_or_else(|| {
            Error::Internal(format!("table {name}: no data in {}", dir.display()))
        })?;
        let table = MemTable::try_new(schema, vec![vec![]])?;
        ctx.register_table(name, Arc::new(table))?;
        return Ok(());
    }
    if let Some(url) = shared_copy(ctx, dir)? {
        return register_parquet_url(ctx, name, &url, partitioned, expected_schema.as_ref()).await;
    }
    let absolute = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
    let url = ListingTableUrl::parse(format!("{}/", absolute.to_string_lossy()))?;
    let mut options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    if partitioned {
        options = options.with_table_partition_cols(vec![("date".to_string(), DataType::Utf8)]);
    }
    let state = ctx.state();
    let inferred = options.infer_schema(&state, &url).await?;
    let schema = column_order_of_today(&inferred, dir, partitioned, expected_schema.as_ref());
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// Registers the Parquet objects under `url` (a folder on object storage whose store is
/// registered with `ctx`) as table `name`, partitioned by `date=` folders if `partitioned`
/// (queries on some days list and read only those days' objects); with `expected`, its
/// columns in that schema's order (as [`column_order_of_today`]).
pub async fn register_parquet_url(
    ctx: &SessionContext,
    name: &str,
    url: &str,
    partitioned: bool,
    expected: Option<&SchemaRef>,
) -> Result<()> {
    let table_url = ListingTableUrl::parse(url)?;
    let mut options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    if partitioned {
        options = options.with_table_partition_cols(vec![("date".to_string(), DataType::Utf8)]);
    }
    let inferred = options.infer_schema(&ctx.state(), &table_url).await?;
    let schema = match expected {
        Some(_) => column_order_of_today(&inferred, Path::new(url), partitioned, expected),
        None => inferred,
    };
    let config = ListingTableConfig::new(table_url)
        .with_listing_options(options)
        .with_schema(schema);
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// Registers the Parquet files of several folders (not their subfolders) as one table of
/// `schema`, written by this version (the staged files of every session bucket).
pub fn register_parquet_dirs(
    ctx: &SessionContext,
    name: &str,
    dirs: &[std::path::PathBuf],
    schema: SchemaRef,
) -> Result<()> {
    let with_files: Vec<&std::path::PathBuf> =
        dirs.iter().filter(|d| contains_parquet(d)).collect();
    if with_files.is_empty() {
        let table = MemTable::try_new(schema, vec![vec![]])?;
        ctx.register_table(name, Arc::new(table))?;
        return Ok(());
    }
    let urls = with_files
        .into_iter()
        .map(|dir| {
            if let Some(url) = shared_copy(ctx, dir)? {
                return Ok(ListingTableUrl::parse(url)?);
            }
            let absolute = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
            Ok(ListingTableUrl::parse(format!(
                "{}/",
                absolute.to_string_lossy()
            ))?)
        })
        .collect::<Result<Vec<_>>>()?;
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// The schema of a table whose files may come from different versions: every column the
/// files hold (types as DataFusion reads them), in the order this version writes them
/// (`expected`, else the newest file's), so `SELECT *` does not change shape with the
/// history; a column of `expected` that no file holds yet is added, nullable, and reads as
/// NULL.
fn column_order_of_today(
    inferred: &SchemaRef,
    dir: &Path,
    partitioned: bool,
    expected: Option<&SchemaRef>,
) -> SchemaRef {
    let order: Vec<FieldRef> = match expected {
        Some(expected) => expected.fields().iter().cloned().collect(),
        None => newest_parquet_file(dir)
            .and_then(|path| std::fs::File::open(path).ok())
            .and_then(|file| ParquetRecordBatchReaderBuilder::try_new(file).ok())
            .map(|reader| reader.schema().fields().iter().cloned().collect())
            .unwrap_or_default(),
    };
    let mut fields: Vec<FieldRef> = Vec::new();
    for field in order {
        if partitioned && field.name() == "date" {
            continue;
        }
        match inferred.field_with_name(field.name()) {
            Ok(present) => fields.push(Arc::new(present.clone())),
            Err(_) if expected.is_some() => {
                fields.push(Arc::new(field.as_ref().clone().with_nullable(true)))
            }
            Err(_) => {}
        }
    }
    for field in inferred.fields() {
        if !fields.iter().any(|f| f.name() == field.name()) {
            fields.push(field.clone());
        }
    }
    Arc::new(Schema::new_with_metadata(
        fields,
        inferred.metadata().clone(),
    ))
}

/// The most recently written `.parquet` file under a folder, at any depth.
fn newest_parquet_file(dir: &Path) -> Option<std::path::PathBuf> {
    let mut newest: Option<(std::time::SystemTime, std::path::PathBuf)> = None;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|x| x == "parquet") {
                let modified = entry.metadata().and_then(|m| m.modified()).ok()?;
                if newest.as_ref().is_none_or(|(t, _)| modified > *t) {
                    newest = Some((modified, path));
                }
            }
        }
    }
    newest.map(|(_, path)| path)
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

/// Writes each of `tables` to `dir/<table>/part-0.parquet`, streamed, with its schema even
/// when it has no rows.
pub async fn write_tables(ctx: &SessionContext, tables: &[&str], dir: &Path) -> Result<()> {
    for table in tables {
        write_frame(ctx.table(*table).await?, &dir.join(table)).await?;
    }
    Ok(())
}

/// Writes a frame to `folder/part-0.parquet`, streamed, with its schema even when it has
/// no rows.
pub async fn write_frame(frame: datafusion::dataframe::DataFrame, folder: &Path) -> Result<()> {
    use futures::StreamExt;
    std::fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
    let path = folder.join("part-0.parquet");
    let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(file, schema, None)?;
    let mut stream = frame.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        writer.write(&batch?)?;
    }
    writer.close()?;
    Ok(())
}

/// A column of UTC instants in microseconds (`TIMESTAMP WITH TIME ZONE 'UTC'`), the type of
/// every time the pipeline's tables hold.
pub fn utc_timestamp_field(name: &str, nullable: bool) -> datafusion::arrow::datatypes::Field {
    datafusion::arrow::datatypes::Field::new(
        name,
        DataType::Timestamp(
            datafusion::arrow::datatypes::TimeUnit::Microsecond,
            Some("UTC".into()),
        ),
        nullable,
    )
}
