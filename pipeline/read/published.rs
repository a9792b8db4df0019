//! The tables a run published in an output folder, read as one run left them.
//!
//! Every table of an output folder is a Delta Lake table (`publish::delta` commits them). A
//! run's manifest, `_runs/<run>.json`, written after its last commit, names the version of
//! each table that run left. Readers (`sql`, `review`, `export`, `whatif`, and the next run
//! reading its history) take one manifest (the latest, or the one `--as-of` names) and read
//! every table at the version it names, so a run that is committing, or was killed between
//! two commits, changes nothing they see. A table version is read through
//! [`SnapshotTable`]: a Parquet scan of that version's files, each with the `date` its log
//! entry gives, which a Ballista cluster receives as a file list (`analyze::cluster`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::listing::helpers::{expr_applicable_for_cols, filter_partitioned_file};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::prelude::SessionContext;
use deltalake_core::DeltaTable;
use deltalake_core::logstore::{LogStoreRef, StorageConfig, default_logstore};
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use crate::common::error::{Error, Result};

/// The folder of run manifests inside an output folder.
pub const RUNS_DIR: &str = "_runs";

/// The partition column of day-partitioned tables.
pub const DATE_COLUMN: &str = "date";

/// What a run left: written to `_runs/<run_id>.json` after its last commit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunManifest {
    /// The run's id: when it started (UTC, sortable) and its process id.
    pub run_id: String,
    /// When it started and when it published (UTC, RFC 3339).
    pub started_at: String,
    /// When its last commit was made.
    pub finished_at: String,
    /// The days it replaced, first and last (inclusive).
    pub window: [String; 2],
    /// SHA-256 of the config file's bytes.
    pub config_sha256: String,
    /// The inferledger version that wrote it.
    pub inferledger_version: String,
    /// Each table (its folder below the output folder) and the Delta version the run left.
    pub tables: BTreeMap<String, u64>,
    /// The run's headline figures.
    pub totals: RunTotals,
    /// Days of published history this run replaced with different totals.
    #[serde(default)]
    pub restated: Vec<Restatement>,
}

/// The headline figures of a run (as `run_summary.json` gives them).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunTotals {
    /// Rows read, kept and quarantined over every request source.
    pub rows_read: u64,
    /// Rows kept.
    pub rows_kept: u64,
    /// Rows quarantined.
    pub rows_quarantined: u64,
    /// API cost of the window's requests (exact decimal text).
    pub api_cost_usd: String,
    /// GPU spend billed in the window (exact decimal text).
    pub gpu_billed_usd: String,
}

/// One day of one table whose total a run changed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Restatement {
    /// The day (YYYY-MM-DD).
    pub day: String,
    /// The table and the figure compared (`requests.cost_usd`).
    pub table: String,
    /// The total the earlier run published, and this run's (exact decimal text).
    pub old_total: String,
    /// This run's total.
    pub new_total: String,
}

/// Which run's tables to read: a run id (or its unique prefix), or the last run that had
/// published at a time.
#[derive(Debug, Clone, PartialEq)]
pub enum AsOf {
    /// A run id, or the start of one.
    Run(String),
    /// The last run finished at or before this time.
    Time(chrono::DateTime<chrono::Utc>),
}

impl AsOf {
    /// Parses `--as-of`: an RFC 3339 time, a day (its end, UTC), `YYYY-MM-DD HH:MM[:SS]`
    /// (UTC), or else a run id.
    pub fn parse(text: &str) -> AsOf {
        use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
        if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
            return AsOf::Time(time.with_timezone(&Utc));
        }
        for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
            if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
                return AsOf::Time(Utc.from_utc_datetime(&time));
            }
        }
        if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            let end = day.and_hms_opt(23, 59, 59).expect("a valid time");
            return AsOf::Time(Utc.from_utc_datetime(&end));
        }
        AsOf::Run(text.to_string())
    }
}

/// An output folder (local, or on object storage) as readers and runs address it.
#[derive(Debug, Clone)]
pub struct OutputFolder {
    /// As the user gave it, for messages.
    shown: PathBuf,
    /// Its URL, ending in `/` (`file:///abs/out/`, `s3://bucket/history/`).
    url: url::Url,
    /// The store serving it, rooted at the store's root.
    store: Arc<dyn ObjectStore>,
}

impl OutputFolder {
    /// The output folder `out`: a local path (made absolute) or a URL.
    pub fn new(out: &Path) -> Result<OutputFolder> {
        let url = if crate::read::remote::is_url(out) {
            crate::read::remote::configure_unless_set();
            crate::read::remote::folder_url(out)
        } else {
            let absolute = std::path::absolute(out).map_err(|e| Error::io(out, e))?;
            url::Url::from_directory_path(&absolute)
                .map_err(|_| Error::Input {
                    path: out.to_path_buf(),
                    message: "not an absolute folder path".into(),
                })?
                .to_string()
        };
        let (store, _) = crate::read::remote::store_of(&url)?;
        let url = url::Url::parse(&url).map_err(|e| Error::Input {
            path: out.to_path_buf(),
            message: format!("not a URL: {e}"),
        })?;
        Ok(OutputFolder {
            shown: out.to_path_buf(),
            url,
            store,
        })
    }

    /// The folder as the user named it.
    pub fn shown(&self) -> &Path {
        &self.shown
    }

    /// The folder's URL, ending in `/`.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// The store serving the folder (rooted at the store's root).
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The object path of `relative` (a `/`-separated path below the folder).
    pub fn object_path(&self, relative: &str) -> ObjectPath {
        let base = ObjectPath::from_url_path(self.url.path()).unwrap_or_default();
        let mut parts: Vec<_> = base.parts().collect();
        let below = ObjectPath::from(relative);
        parts.extend(below.parts());
        ObjectPath::from_iter(parts)
    }

    /// The URL of the folder `relative`, ending in `/`.
    pub fn folder(&self, relative: &str) -> url::Url {
        let relative = relative.trim_end_matches('/');
        self.url
            .join(&format!("{relative}/"))
            .expect("a relative path joins a folder URL")
    }

    /// The Delta log store of the table in folder `relative`.
    pub fn log_store(&self, relative: &str) -> LogStoreRef {
        let location = self.folder(relative);
        let prefix = self.object_path(relative);
        let prefixed: Arc<dyn ObjectStore> =
            Arc::new(PrefixStore::new(Arc::clone(&self.store), prefix));
        default_logstore(
            prefixed,
            Arc::clone(&self.store),
            &location,
            &StorageConfig::default(),
        )
    }

    /// The table in folder `relative` at `version` (the latest when `None`), or `None` when
    /// the folder holds no Delta table.
    pub async fn table(&self, relative: &str, version: Option<u64>) -> Result<Option<DeltaTable>> {
        use futures::StreamExt;
        // No log, no table (delta-rs says so in words that differ by store).
        let log = self.object_path(&format!("{relative}/_delta_log"));
        match self.store.list(Some(&log)).next().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(self.storage_error(relative, e)),
            Some(Ok(_)) => {}
        }
        let mut table = DeltaTable::new(self.log_store(relative));
        let loaded = match version {
            Some(version) => table.load_version(version).await,
            None => table.load().await,
        };
        match loaded {
            Ok(()) => Ok(Some(table)),
            Err(deltalake_core::DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(self.delta_error(relative, e)),
        }
    }

    /// A Delta error about the table in `relative`, naming it.
    pub fn delta_error(&self, relative: &str, e: impl std::fmt::Display) -> Error {
        Error::Input {
            path: self.shown.join(relative),
            message: format!("Delta table: {e}"),
        }
    }

    /// Every run manifest in the folder, oldest first.
    pub async fn manifests(&self) -> Result<Vec<RunManifest>> {
        use futures::TryStreamExt;
        let prefix = self.object_path(RUNS_DIR);
        let listed: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.storage_error(RUNS_DIR, e))?;
        let mut manifests = Vec::new();
        for object in listed {
            if !object.location.as_ref().ends_with(".json") {
                continue;
            }
            let failed = |e| self.storage_error(object.location.as_ref(), e);
            let bytes = self
                .store
                .get(&object.location)
                .await
                .map_err(failed)?
                .bytes()
                .await
                .map_err(failed)?;
            let manifest: RunManifest =
                serde_json::from_slice(&bytes).map_err(|e| Error::Input {
                    path: self.shown.join(object.location.as_ref()),
                    message: format!("not an inferledger run manifest ({e})"),
                })?;
            manifests.push(manifest);
        }
        manifests.sort_by(|a, b| a.run_id.cmp(&b.run_id));
        Ok(manifests)
    }

    /// The manifest of the run to read: the latest, or the one `as_of` picks (an error
    /// naming the runs there are when it picks none).
    pub async fn manifest(&self, as_of: Option<&AsOf>) -> Result<Option<RunManifest>> {
        let manifests = self.manifests().await?;
        let Some(as_of) = as_of else {
            return Ok(manifests.into_iter().next_back());
        };
        let picked = match as_of {
            AsOf::Run(id) => {
                let matching: Vec<&RunManifest> = manifests
                    .iter()
                    .filter(|m| m.run_id.starts_with(id.as_str()))
                    .collect();
                match matching.as_slice() {
                    [one] => Some((*one).clone()),
                    [] => None,
                    many => {
                        return Err(Error::Arguments(format!(
                            "--as-of {id} matches {} runs ({}); give more of the run id",
                            many.len(),
                            many.iter()
                                .map(|m| m.run_id.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                }
            }
            AsOf::Time(time) => manifests
                .iter()
                .rfind(|m| {
                    chrono::DateTime::parse_from_rfc3339(&m.finished_at)
                        .is_ok_and(|finished| finished <= *time)
                })
                .cloned(),
        };
        match picked {
            Some(manifest) => Ok(Some(manifest)),
            None => Err(Error::Arguments(format!(
                "--as-of {}: no such run in {}; `inferledger history --out {}` lists them ({})",
                match as_of {
                    AsOf::Run(id) => id.clone(),
                    AsOf::Time(t) => t.to_rfc3339(),
                },
                self.shown.display(),
                self.shown.display(),
                if manifests.is_empty() {
                    "none yet".to_string()
                } else {
                    format!(
                        "{} to {}",
                        manifests[0].run_id,
                        manifests[manifests.len() - 1].run_id
                    )
                }
            ))),
        }
    }

    /// A storage error about `relative`, naming it.
    pub fn storage_error(&self, relative: &str, e: impl std::fmt::Display) -> Error {
        Error::Input {
            path: self.shown.join(relative),
            message: format!("cannot read or write: {e}"),
        }
    }

    /// The files of a table version, with their `date` partition if any.
    pub fn files_of(&self, relative: &str, table: &DeltaTable) -> Result<Vec<SnapshotFile>> {
        let snapshot = table
            .snapshot()
            .map_err(|e| self.delta_error(relative, e))?;
        let folder = self.object_path(relative);
        let mut files: Vec<SnapshotFile> = snapshot
            .log_data()
            .iter()
            .map(|file| {
                let below = file.object_store_path();
                let mut parts: Vec<_> = folder.parts().collect();
                parts.extend(below.parts());
                SnapshotFile {
                    location: ObjectPath::from_iter(parts).to_string(),
                    relative: file.path().into_owned(),
                    size: file.size().max(0) as u64,
                    date: file
                        .partition_values_map()
                        .get(DATE_COLUMN)
                        .cloned()
                        .flatten(),
                }
            })
            .collect();
        files.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(files)
    }

    /// Registers the table in folder `relative` at `version` as `name`, read through
    /// [`SnapshotTable`]; with `expected` (the schema of today's table) when it has no file.
    /// Returns whether a table was there.
    pub async fn register(
        &self,
        ctx: &SessionContext,
        name: &str,
        relative: &str,
        version: u64,
        expected: Option<SchemaRef>,
    ) -> Result<bool> {
        let Some(table) = self.table(relative, Some(version)).await? else {
            return Ok(false);
        };
        let partitioned = table
            .snapshot()
            .map_err(|e| self.delta_error(relative, e))?
            .metadata()
            .partition_columns()
            .iter()
            .any(|c| c == DATE_COLUMN);
        let files = self.files_of(relative, &table)?;
        let store_url = self.store_url();
        ctx.register_object_store(store_url.as_ref(), Arc::clone(&self.store));
        // Today's columns: the caller's, else the table's own (its last commit's, in the
        // order today's runs write them).
        let expected = match expected {
            Some(schema) => schema,
            None => table_arrow_schema(&table).map_err(|e| self.delta_error(relative, e))?,
        };
        let schema = if files.is_empty() {
            expected
        } else {
            infer_schema(ctx, &self.store, &files, partitioned, Some(&expected)).await?
        };
        let provider = SnapshotTable {
            schema,
            files,
            store_url: store_url.as_str().to_string(),
            partitioned,
        };
        ctx.deregister_table(name)?;
        ctx.register_table(name, Arc::new(provider))?;
        Ok(true)
    }

    /// The object store URL DataFusion knows the folder's store by (`file:///`, `s3://bucket`).
    pub fn store_url(&self) -> ObjectStoreUrl {
        let base = &self.url[url::Position::BeforeScheme..url::Position::BeforePath];
        ObjectStoreUrl::parse(base).expect("a URL's scheme and host")
    }
}

/// The Arrow schema of a Delta table's metadata (for a version with no file).
fn table_arrow_schema(table: &DeltaTable) -> deltalake_core::DeltaResult<SchemaRef> {
    let snapshot = table.snapshot()?;
    let schema = snapshot.snapshot().arrow_schema();
    let partition_columns = snapshot.metadata().partition_columns().to_vec();
    // Partition columns last, as a hive-partitioned scan gives them.
    let mut fields: Vec<Field> = schema
        .fields()
        .iter()
        .filter(|f| !partition_columns.contains(f.name()))
        .map(|f| f.as_ref().clone())
        .collect();
    for column in &partition_columns {
        fields.push(Field::new(column, DataType::Utf8, true));
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// The schema of a table version's files (their footers, merged as a listing scan merges
/// them), in today's column order when `expected` is given, with `date` last.
async fn infer_schema(
    ctx: &SessionContext,
    store: &Arc<dyn ObjectStore>,
    files: &[SnapshotFile],
    partitioned: bool,
    expected: Option<&SchemaRef>,
) -> Result<SchemaRef> {
    let state = ctx.state();
    let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
    let objects: Vec<object_store::ObjectMeta> = files
        .iter()
        .map(|f| object_store::ObjectMeta {
            location: ObjectPath::from(f.location.as_str()),
            last_modified: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            size: f.size,
            e_tag: None,
            version: None,
        })
        .collect();
    let inferred = format.infer_schema(&state, store, &objects).await?;
    let mut fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    if let Some(expected) = expected {
        // Today's columns that files of an earlier version lack read as NULL.
        for field in expected.fields() {
            let partition = partitioned && field.name() == DATE_COLUMN;
            if !partition && !fields.iter().any(|f| f.name() == field.name()) {
                fields.push(field.as_ref().clone().with_nullable(true));
            }
        }
        // Today's columns in today's order, then any the files hold beyond them.
        let position = |name: &str| {
            expected
                .fields()
                .iter()
                .position(|f| f.name() == name)
                .unwrap_or(usize::MAX)
        };
        fields.sort_by_key(|f| position(f.name()));
    }
    if partitioned {
        fields.retain(|f| f.name() != DATE_COLUMN);
        fields.push(Field::new(DATE_COLUMN, DataType::Utf8, false));
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// One Parquet file of a table version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotFile {
    /// Its path in the store (`abs/out/requests/date=…/part-….parquet`).
    pub location: String,
    /// Its path below the table's folder, as the log gives it.
    pub relative: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its `date` partition, for a day-partitioned table.
    pub date: Option<String>,
}

/// A table version read as Parquet: the files a Delta snapshot names, each with its `date`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotTable {
    /// The table's columns (`date` last when partitioned).
    #[serde(skip, default = "empty_schema")]
    pub schema: SchemaRef,
    /// The version's files.
    pub files: Vec<SnapshotFile>,
    /// The object store URL of the files (`file:///`, `s3://bucket`).
    pub store_url: String,
    /// Whether the table is partitioned by `date`.
    pub partitioned: bool,
}

fn empty_schema() -> SchemaRef {
    Arc::new(Schema::empty())
}

impl SnapshotTable {
    /// The table as sent to a cluster (its schema travels beside it).
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a snapshot table serialises")
    }

    /// The table a cluster received, with the schema sent beside it.
    pub fn decode(bytes: &[u8], schema: SchemaRef) -> datafusion::common::Result<SnapshotTable> {
        let mut table: SnapshotTable = serde_json::from_slice(bytes).map_err(|e| {
            datafusion::common::DataFusionError::Internal(format!("a snapshot table: {e}"))
        })?;
        table.schema = schema;
        Ok(table)
    }

    fn date_field(&self) -> Option<Arc<Field>> {
        if !self.partitioned {
            return None;
        }
        self.schema
            .field_with_name(DATE_COLUMN)
            .ok()
            .map(|f| Arc::new(f.clone()))
    }
}

#[async_trait::async_trait]
impl TableProvider for SnapshotTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::common::Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|filter| {
                if self.partitioned && expr_applicable_for_cols(&[DATE_COLUMN], filter) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let date_field = self.date_field();
        let (date_filters, _): (Vec<Expr>, Vec<Expr>) = filters
            .iter()
            .cloned()
            .partition(|f| date_field.is_some() && expr_applicable_for_cols(&[DATE_COLUMN], f));
        let date_schema = match &date_field {
            Some(field) => DFSchema::try_from(Schema::new(vec![field.as_ref().clone()]))?,
            None => DFSchema::empty(),
        };
        let mut kept = Vec::new();
        for file in &self.files {
            let mut partitioned = PartitionedFile::new(file.location.clone(), file.size);
            if date_field.is_some() {
                partitioned =
                    partitioned.with_partition_values(vec![ScalarValue::Utf8(file.date.clone())]);
                match filter_partitioned_file(partitioned, &date_filters, &date_schema)? {
                    Some(file) => kept.push(file),
                    None => continue,
                }
            } else {
                kept.push(partitioned);
            }
        }
        if kept.is_empty() {
            let projected = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => Arc::clone(&self.schema),
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let file_schema: SchemaRef = Arc::new(Schema::new(
            self.schema
                .fields()
                .iter()
                .filter(|f| date_field.is_none() || f.name() != DATE_COLUMN)
                .map(|f| f.as_ref().clone())
                .collect::<Vec<_>>(),
        ));
        let table_schema = TableSchema::builder(file_schema)
            .with_table_partition_cols(date_field.into_iter().collect::<Vec<_>>())
            .build();
        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        // Contiguous runs of files (in path order: by day), one per target partition, as a
        // listing scan groups them.
        let groups = state.config().target_partitions().max(1);
        let chunk = kept.len().div_ceil(groups);
        let mut file_groups: Vec<Vec<PartitionedFile>> = Vec::new();
        for file in kept {
            match file_groups.last_mut() {
                Some(group) if group.len() < chunk => group.push(file),
                _ => file_groups.push(vec![file]),
            }
        }
        let config = FileScanConfigBuilder::new(
            ObjectStoreUrl::parse(&self.store_url)?,
            format.file_source(table_schema),
        )
        .with_file_groups(file_groups.into_iter().map(FileGroup::new).collect())
        .with_projection_indices(projection.cloned())?
        .with_limit(limit)
        .build();
        format.create_physical_plan(state, config).await
    }
}

/// The tables one run left in an output folder: the folder and the manifest read (none
/// when no run has published there yet).
#[derive(Debug, Clone)]
pub struct PublishedRun {
    /// The output folder.
    pub folder: OutputFolder,
    /// The run's manifest.
    pub manifest: Option<RunManifest>,
}

impl PublishedRun {
    /// The latest run in `out`, or the one `as_of` picks.
    pub async fn open(out: &Path, as_of: Option<&AsOf>) -> Result<PublishedRun> {
        let folder = OutputFolder::new(out)?;
        let manifest = folder.manifest(as_of).await?;
        Ok(PublishedRun { folder, manifest })
    }

    /// No run at all: the history of a folder nothing has been published in.
    pub fn nothing(out: &Path) -> Result<PublishedRun> {
        Ok(PublishedRun {
            folder: OutputFolder::new(out)?,
            manifest: None,
        })
    }

    /// The version of table `relative` the run left, if it published that table.
    pub fn version_of(&self, relative: &str) -> Option<u64> {
        self.manifest.as_ref()?.tables.get(relative).copied()
    }

    /// Registers table `relative` as the run left it as `name`; an empty table of
    /// `expected` when the run did not publish it. Returns whether the run published it.
    pub async fn register_or_empty(
        &self,
        ctx: &SessionContext,
        name: &str,
        relative: &str,
        expected: SchemaRef,
    ) -> Result<bool> {
        if let Some(version) = self.version_of(relative)
            && self
                .folder
                .register(ctx, name, relative, version, Some(Arc::clone(&expected)))
                .await?
        {
            return Ok(true);
        }
        ctx.deregister_table(name)?;
        ctx.register_table(
            name,
            Arc::new(datafusion::datasource::MemTable::try_new(
                expected,
                vec![vec![]],
            )?),
        )?;
        Ok(false)
    }
}
