//! Reading the request logs on a Ballista cluster's executors (`run --cluster`). The
//! client splits the logs into units of work (a whole file, or a line-aligned part of a
//! large JSON-lines file) and sends them, with each source's block, the price book and
//! the run's window, as one table ([`IngestTable`]) whose scan ([`IngestExec`], over an
//! in-memory list of the units: Ballista gives each task its own partitions of such a
//! list) has one partition per unit. An executor reads its unit with the same code a local run uses
//! (extract, window, price, bucket; bad rows quarantined with file, line and reason) and
//! sends back the staged rows, then its quarantined rows and its counts as notes. The
//! client stages the rows as a local run would, so every step after ingest, the counts
//! and the quarantine are the local run's.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StringArray, UInt32Array, new_null_array,
};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::{
    FileReading, FileReport, IngestReport, ResolvedSource, SeenIds, SourceReport, Window,
    bucket_dir, canonical, file_parts, open_file, relative_to, self_hosted_deployments,
};
use crate::common::error::{Error, Result};
use crate::common::progress::Progress;
use crate::common::staged::BATCH_ROWS;
use crate::config::Format;
use crate::config::RequestSource;
use crate::prices::PriceBook;
use crate::read::bad_rows::BadRows;
use crate::read::records::Part;
use crate::read::source_reading::{Counts, QuarantineWriter, SourceReading};

/// Bytes of a JSON-lines file per unit of work: a large log is split into about this many
/// bytes a unit (and at least into as many units as the client has cores), so that every
/// executor gets a share.
const UNIT_BYTES: u64 = 64 * 1024 * 1024;

/// One unit of work: a file, or a part of one.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Unit {
    /// The source, by its place in [`IngestJob::sources`].
    source: usize,
    /// The file, by its place among every file of the job (whose report it counts in).
    file: usize,
    /// Where the executors read it (a path every machine sees, or an object-store URL).
    path: PathBuf,
    /// The file as reports and quarantine name it.
    display: String,
    /// The file as fallback ids name it (relative to the config's folder).
    file_name: String,
    /// Its format (`auto` resolved by the client).
    format: Format,
    /// The part of a split JSON-lines file, or `None` for the whole file.
    part: Option<Part>,
    /// Bytes the unit covers (for progress).
    bytes: u64,
}

/// Everything the executors need to read the request logs, sent inside the plan.
#[derive(Debug, Serialize, Deserialize)]
pub struct IngestJob {
    sources: Vec<RequestSource>,
    units: Vec<Unit>,
    /// The price book (`PriceBook::to_json`).
    book: serde_json::Value,
    /// Deployments served by a self-hosted pool, with the pool's price id.
    self_hosted: BTreeMap<String, String>,
    window: Option<Window>,
    buckets: u32,
    /// The client's `[storage]` settings, for logs on object storage.
    storage: crate::read::remote::StorageSettings,
}

/// A unit's output rows: which unit, and either a staged request (`note` NULL, `bucket`
/// set, the staged columns) or a note (`note` JSON: a quarantined row or the unit's
/// counts; the staged columns NULL).
fn output_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("unit", DataType::UInt32, false),
        Field::new("bucket", DataType::UInt32, true),
        Field::new("note", DataType::Utf8, true),
    ];
    fields.extend(
        canonical::staged_requests_schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true)),
    );
    Arc::new(Schema::new(fields))
}

/// Columns before the staged request's in [`output_schema`].
const LEADING_COLUMNS: usize = 3;

/// A note an executor sends about its unit.
#[derive(Debug, Serialize, Deserialize)]
enum Note {
    /// A row quarantined with its reason.
    Quarantined {
        line: u64,
        reason: String,
        raw: String,
    },
    /// What the unit's rows came to (sent last).
    Counted {
        read: u64,
        kept: u64,
        quarantined: u64,
        outside_window: u64,
        #[serde(default)]
        not_requests: u64,
        rounded_costs: u64,
    },
}

/// The request logs as a table whose scan reads them on the executors.
#[derive(Debug)]
pub struct IngestTable {
    job: Arc<IngestJob>,
}

impl IngestTable {
    /// The job as bytes, for the cluster codecs.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self.job.as_ref()).expect("a job serializes")
    }

    /// The table the bytes of [`IngestTable::encode`] describe.
    pub fn decode(bytes: &[u8]) -> DfResult<IngestTable> {
        Ok(IngestTable {
            job: Arc::new(decode_job(bytes)?),
        })
    }
}

fn decode_job(bytes: &[u8]) -> DfResult<IngestJob> {
    serde_json::from_slice(bytes)
        .map_err(|e| DataFusionError::Internal(format!("an ingest job that does not read: {e}")))
}

#[async_trait]
impl TableProvider for IngestTable {
    fn schema(&self) -> SchemaRef {
        output_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // The units, one per partition, as an in-memory scan: a scan Ballista knows how to
        // hand each task its own partitions of (a leaf of its own, it would not).
        let schema = Arc::new(Schema::new(vec![Field::new(
            "unit",
            DataType::UInt32,
            false,
        )]));
        let partitions = (0..self.job.units.len() as u32)
            .map(|unit| {
                let units: ArrayRef = Arc::new(UInt32Array::from(vec![unit]));
                RecordBatch::try_new(Arc::clone(&schema), vec![units]).map(|b| vec![b])
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let units = MemorySourceConfig::try_new_exec(&partitions, schema, None)?;
        Ok(Arc::new(IngestExec::new(
            Arc::clone(&self.job),
            projection.cloned(),
            units,
        )?))
    }
}

/// The reading of the request logs: partition `p` reads the units that its input's
/// partition `p` lists.
#[derive(Debug)]
pub struct IngestExec {
    job: Arc<IngestJob>,
    book: Arc<PriceBook>,
    projection: Option<Vec<usize>>,
    units: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

/// What [`IngestExec::encode`] writes: the projection and the job (its input, the units,
/// is sent by DataFusion's own codec).
#[derive(Serialize, Deserialize)]
struct EncodedExec<'a> {
    projection: Option<Vec<usize>>,
    #[serde(borrow)]
    job: &'a serde_json::value::RawValue,
}

impl IngestExec {
    fn new(
        job: Arc<IngestJob>,
        projection: Option<Vec<usize>>,
        units: Arc<dyn ExecutionPlan>,
    ) -> DfResult<Self> {
        let book = PriceBook::from_json(&job.book).map_err(DataFusionError::Internal)?;
        Ok(IngestExec::with_book(
            job,
            Arc::new(book),
            projection,
            units,
        ))
    }

    /// The reading of `job`, whose book is read already, over `units`.
    fn with_book(
        job: Arc<IngestJob>,
        book: Arc<PriceBook>,
        projection: Option<Vec<usize>>,
        units: Arc<dyn ExecutionPlan>,
    ) -> Self {
        let schema = match &projection {
            Some(columns) => Arc::new(
                output_schema()
                    .project(columns)
                    .expect("a projection DataFusion planned over this schema"),
            ),
            None => output_schema(),
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(units.output_partitioning().partition_count()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        IngestExec {
            job,
            book,
            projection,
            units,
            properties: Arc::new(properties),
        }
    }

    /// The reading as bytes, for the cluster codecs.
    pub fn encode(&self) -> Vec<u8> {
        let job = serde_json::to_string(self.job.as_ref()).expect("a job serializes");
        let job = serde_json::value::RawValue::from_string(job).expect("valid JSON");
        serde_json::to_vec(&EncodedExec {
            projection: self.projection.clone(),
            job: &job,
        })
        .expect("a reading serializes")
    }

    /// The reading the bytes of [`IngestExec::encode`] describe, over `units`.
    pub fn decode(bytes: &[u8], units: Arc<dyn ExecutionPlan>) -> DfResult<IngestExec> {
        let encoded: EncodedExec = serde_json::from_slice(bytes).map_err(|e| {
            DataFusionError::Internal(format!("an ingest scan that does not read: {e}"))
        })?;
        let job = decode_job(encoded.job.get().as_bytes())?;
        IngestExec::new(Arc::new(job), encoded.projection, units)
    }
}

impl DisplayAs for IngestExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "IngestExec: units={}", self.job.units.len())
    }
}

impl ExecutionPlan for IngestExec {
    fn name(&self) -> &'static str {
        "IngestExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.units]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        // One unit per partition already; spreading them differently gains nothing.
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let [units] = <[_; 1]>::try_from(children).map_err(|_| {
            DataFusionError::Internal("IngestExec has one input, the units".to_string())
        })?;
        // The scheduler gives each task its own units this way: the book is not read again.
        Ok(Arc::new(IngestExec::with_book(
            Arc::clone(&self.job),
            Arc::clone(&self.book),
            self.projection.clone(),
            units,
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let mut units = self.units.execute(partition, context)?;
        let mut builder = RecordBatchReceiverStreamBuilder::new(self.schema(), 2);
        let tx = builder.tx();
        let (job, book, projection) = (
            Arc::clone(&self.job),
            Arc::clone(&self.book),
            self.projection.clone(),
        );
        builder.spawn(async move {
            let mut listed = Vec::new();
            while let Some(batch) = units.next().await {
                let batch = batch?;
                let column = batch
                    .column(0)
                    .as_primitive::<datafusion::arrow::datatypes::UInt32Type>();
                listed.extend(column.values().iter().map(|&u| u as usize));
            }
            let reading = tokio::task::spawn_blocking(move || {
                let send = |batch: RecordBatch| {
                    let batch = match &projection {
                        Some(columns) => batch.project(columns)?,
                        None => batch,
                    };
                    // A closed channel: the query was cancelled; stop quietly.
                    Ok(tx.blocking_send(Ok(batch)).is_ok())
                };
                let mut send = send;
                for unit in listed {
                    if unit >= job.units.len() {
                        return Err(Error::Cluster(format!(
                            "an ingest job of {} units was asked for unit {unit}",
                            job.units.len()
                        )));
                    }
                    if !read_unit(&job, &book, unit, &mut send)? {
                        break;
                    }
                }
                Ok(())
            });
            reading
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?
                // As text: the client gets the task's error through Ballista, as words.
                .map_err(|e| DataFusionError::Execution(e.to_string()))
        });
        Ok(builder.build())
    }
}

/// Reads unit `index` of `job` and hands its output rows to `send` (which says whether
/// to go on): its staged rows bucket by bucket, then its quarantined rows, then its
/// counts. Says whether to go on.
fn read_unit(
    job: &IngestJob,
    book: &PriceBook,
    index: usize,
    send: &mut impl FnMut(RecordBatch) -> Result<bool>,
) -> Result<bool> {
    let unit = &job.units[index];
    let source = &job.sources[unit.source];
    log::info!(
        "inferledger ingest: reading unit {index} ({}{})",
        unit.display,
        unit.part
            .map(|p| format!(", bytes {}..{}", p.start, p.end))
            .unwrap_or_default()
    );
    crate::read::remote::configure_as(&job.storage);
    let resolved = ResolvedSource::with_files(source, Vec::new());
    let spec = resolved.spec(unit.format);
    let self_hosted: HashMap<&str, String> = job
        .self_hosted
        .iter()
        .map(|(deployment, pool)| (deployment.as_str(), pool.clone()))
        .collect();
    let work = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let quarantine_file = work.path().join("quarantine.parquet");
    let targets: Vec<PathBuf> = (0..job.buckets)
        .map(|bucket| work.path().join(format!("bucket-{bucket:03}.parquet")))
        .collect();
    let mut quarantine = QuarantineWriter::create(&quarantine_file)?;
    let name = source.display_name();
    let reading = SourceReading::new(&name, &mut quarantine);
    // Repeated ids are found by the client, over every unit's rows.
    let seen = Mutex::new(SeenIds::default());
    let counted = FileReading {
        spec: &spec,
        book,
        self_hosted: &self_hosted,
        window: job.window,
        display: &unit.display,
        file_name: unit.file_name.clone(),
        reading: &reading,
        seen: &seen,
    }
    .read_unit(
        &resolved,
        &unit.path,
        unit.part,
        &targets,
        &indicatif::ProgressBar::hidden(),
        None,
    )?;
    drop(reading);
    quarantine.finish()?;

    let schema = output_schema();
    let unit_column =
        |rows: usize| -> ArrayRef { Arc::new(UInt32Array::from(vec![index as u32; rows])) };
    for (bucket, target) in targets.iter().enumerate() {
        for batch in parquet_batches(target)? {
            let batch = batch?;
            let rows = batch.num_rows();
            let mut columns = vec![
                unit_column(rows),
                Arc::new(UInt32Array::from(vec![bucket as u32; rows])) as ArrayRef,
                new_null_array(&DataType::Utf8, rows),
            ];
            columns.extend(batch.columns().iter().cloned());
            if !send(RecordBatch::try_new(Arc::clone(&schema), columns)?)? {
                return Ok(false);
            }
        }
    }
    let mut notes = Vec::new();
    for batch in parquet_batches(&quarantine_file)? {
        let batch = batch?;
        let (lines, reasons, raws) = (
            batch
                .column(2)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>(),
            batch.column(3).as_string::<i32>(),
            batch.column(4).as_string::<i32>(),
        );
        for row in 0..batch.num_rows() {
            notes.push(Note::Quarantined {
                line: lines.value(row) as u64,
                reason: reasons.value(row).to_string(),
                raw: raws.value(row).to_string(),
            });
        }
        if !send(note_batch(&schema, index, notes.drain(..))?)? {
            return Ok(false);
        }
    }
    let counts = counted.counts;
    let counted = Note::Counted {
        read: counts.read,
        kept: counts.kept,
        quarantined: counts.quarantined,
        outside_window: counts.outside_window,
        not_requests: counts.not_requests,
        rounded_costs: counted.rounded_costs,
    };
    send(note_batch(&schema, index, std::iter::once(counted))?)
}

fn parquet_batches(
    path: &Path,
) -> Result<datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReader> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    Ok(ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(BATCH_ROWS)
        .build()?)
}

/// Rows of notes about unit `index`.
fn note_batch(
    schema: &SchemaRef,
    index: usize,
    notes: impl Iterator<Item = Note>,
) -> Result<RecordBatch> {
    let notes: StringArray = notes
        .map(|note| Some(serde_json::to_string(&note).expect("a note serializes")))
        .collect();
    let rows = notes.len();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from(vec![index as u32; rows])),
        new_null_array(&DataType::UInt32, rows),
        Arc::new(notes),
    ];
    columns.extend(
        schema
            .fields()
            .iter()
            .skip(LEADING_COLUMNS)
            .map(|f| new_null_array(f.data_type(), rows)),
    );
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// What the client knows of one file before the executors read it.
struct PlannedFile {
    source: usize,
    report: FileReport,
    counts: Counts,
}

/// [`super::ingest`] with the reading done on the cluster `cluster`: the same staged
/// files (one per session bucket), quarantine, counts and repeated ids.
pub async fn ingest_on_cluster(
    plan: super::IngestPlan<'_>,
    quarantine: &mut QuarantineWriter,
    progress: &Progress,
    cluster: &datafusion::prelude::SessionContext,
) -> Result<IngestReport> {
    let (staged_dir, buckets) = plan.create_bucket_dirs()?;
    let super::IngestPlan {
        config,
        book,
        window,
        ..
    } = plan;
    let mut writers = Vec::new();
    for bucket in 0..buckets {
        let dir = bucket_dir(&staged_dir, bucket);
        writers.push(canonical::staged_request_file(
            &dir.join("cluster.parquet"),
        )?);
    }
    let self_hosted: BTreeMap<String, String> = self_hosted_deployments(config)
        .map(|(deployment, pool)| (deployment.to_string(), pool))
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (mut units, mut files) = (Vec::new(), Vec::new());
    for (source_index, source) in config.requests.iter().enumerate() {
        let resolved = ResolvedSource::resolve(config, source)?;
        for path in &resolved.files {
            let absolute = if crate::read::remote::is_url(path) {
                path.clone()
            } else {
                std::path::absolute(path).map_err(|e| Error::io(path, e))?
            };
            let display = path.to_string_lossy().into_owned();
            let bytes = super::files::size(path);
            // `auto` is told here, from the file's first record, as a local run does.
            let format = match source.format {
                Format::Auto => open_file(&resolved, path, |f| f)?.0,
                format => format,
            };
            let wanted = cores.max(bytes.div_ceil(UNIT_BYTES) as usize);
            let parts = file_parts(path, wanted)?;
            // A file split in parts is a unit per part; any other, one unit read whole.
            let split = parts.len() > 1;
            let pieces: Vec<Option<Part>> = match split {
                true => parts.iter().copied().map(Some).collect(),
                false => vec![None],
            };
            for part in pieces {
                units.push(Unit {
                    source: source_index,
                    file: files.len(),
                    path: absolute.clone(),
                    display: display.clone(),
                    file_name: relative_to(path, config.base_dir()),
                    format,
                    part,
                    bytes: part.map_or(bytes, |p| p.end - p.start),
                });
            }
            files.push(PlannedFile {
                source: source_index,
                report: FileReport {
                    path: display,
                    format: format.name().to_string(),
                    bytes,
                    parts: parts.len().max(1),
                    ..FileReport::default()
                },
                counts: Counts::default(),
            });
        }
    }
    let names: Vec<String> = config
        .requests
        .iter()
        .map(RequestSource::display_name)
        .collect();
    let mut bad_rows: Vec<BadRows> = names.iter().map(|_| BadRows::default()).collect();
    let mut rounded_costs = 0;
    let mut seen = SeenIds::default();
    if !units.is_empty() {
        let bar = progress.file(
            &format!("request logs on the cluster ({} units)", units.len()),
            units.iter().map(|u| u.bytes).sum(),
        );
        let job = IngestJob {
            sources: config.requests.clone(),
            units,
            book: book.to_json(),
            self_hosted,
            window,
            buckets,
            storage: config.storage_settings(),
        };
        let units = job.units.clone();
        let table = IngestTable { job: Arc::new(job) };
        let mut stream = cluster
            .read_table(Arc::new(table))?
            .execute_stream()
            .await?;
        let staged_schema = canonical::staged_requests_schema();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let unit_of = batch
                .column(0)
                .as_primitive::<datafusion::arrow::datatypes::UInt32Type>();
            let notes = batch.column(2).as_string::<i32>();
            if notes.null_count() == batch.num_rows() {
                // Staged requests, of one bucket per executor batch.
                let bucket_of = batch
                    .column(1)
                    .as_primitive::<datafusion::arrow::datatypes::UInt32Type>();
                for (bucket, writer) in writers.iter_mut().enumerate() {
                    let in_bucket: datafusion::arrow::array::BooleanArray = bucket_of
                        .iter()
                        .map(|b| Some(b == Some(bucket as u32)))
                        .collect();
                    let rows = filter_record_batch(&batch, &in_bucket)?;
                    if rows.num_rows() == 0 {
                        continue;
                    }
                    let staged = RecordBatch::try_new(
                        Arc::clone(&staged_schema),
                        rows.columns()[LEADING_COLUMNS..].to_vec(),
                    )?;
                    for id in staged.column(0).as_string::<i32>().iter().flatten() {
                        seen.note(SeenIds::hash(id), id);
                    }
                    writer.write_batch(&staged)?;
                }
                continue;
            }
            for row in 0..batch.num_rows() {
                let unit = &units[unit_of.value(row) as usize];
                let note: Note = serde_json::from_str(notes.value(row)).map_err(|e| {
                    Error::Cluster(format!("the cluster sent a note that does not read: {e}"))
                })?;
                match note {
                    Note::Quarantined { line, reason, raw } => {
                        bad_rows[unit.source].record(&reason);
                        quarantine.push(&names[unit.source], &unit.display, line, &reason, &raw)?;
                    }
                    Note::Counted {
                        read,
                        kept,
                        quarantined,
                        outside_window,
                        not_requests,
                        rounded_costs: rounded,
                    } => {
                        files[unit.file].counts += Counts {
                            read,
                            kept,
                            quarantined,
                            duplicate: 0,
                            outside_window,
                            not_requests,
                        };
                        rounded_costs += rounded;
                        bar.inc(unit.bytes);
                    }
                }
            }
        }
        bar.finish_and_clear();
    }
    for writer in writers {
        writer.finish()?;
    }
    let mut report = IngestReport {
        staged_dir,
        buckets,
        rounded_costs,
        ..IngestReport::default()
    };
    for (source_index, (source, mut bad)) in config.requests.iter().zip(bad_rows).enumerate() {
        let mut source_report = SourceReport {
            name: names[source_index].clone(),
            format: source.format.name().to_string(),
            ..SourceReport::default()
        };
        let mut counts = Counts::default();
        for file in files.iter_mut().filter(|f| f.source == source_index) {
            let mut file_report = std::mem::take(&mut file.report);
            file_report.count(&file.counts);
            counts += file.counts;
            source_report.files.push(file_report);
        }
        source_report.count(&counts);
        let limit = config.bad_row_limit(source.max_bad_fraction);
        source_report.quarantine_reasons = std::mem::take(&mut bad).finish(
            &names[source_index],
            counts.read,
            counts.quarantined,
            limit,
        )?;
        report.sources.push(source_report);
    }
    report.duplicate_ids = seen.repeated();
    Ok(report)
}
