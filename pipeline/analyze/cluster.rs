//! The analysis on an Apache Ballista cluster: connecting a session to a scheduler, and
//! what the pipeline's plans carry to the cluster beyond what Ballista's own codecs know: the functions that price with a book (`cost_of`,
//! `cache_read_discount`, sent with the client's book as exact decimal text), small
//! in-memory tables (a run's parameters, pools, economics…, sent as Arrow IPC) and the
//! request logs' reading (`run --cluster`, sent as its JSON job). Every
//! process of a cluster (client, scheduler, executors) uses these codecs; anything else
//! goes to Ballista's.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use crate::analyze::functions::udf::{PricedFunction, PricedKind, priced_function};
use crate::common::error::Error;
use crate::prices::PriceBook;
use crate::read::published::SnapshotTable;
use crate::sources::requests::on_cluster::{IngestExec, IngestTable};

/// `local`'s session (its functions, tables and settings) with its queries run on the
/// cluster whose scheduler is `scheduler` (`df://HOST:PORT`), sending plans with this
/// module's codecs.
pub async fn connect(
    scheduler: &str,
    local: &datafusion::prelude::SessionContext,
) -> crate::common::error::Result<datafusion::prelude::SessionContext> {
    use ballista::prelude::{SessionConfigExt, SessionContextExt};
    use datafusion::execution::SessionStateBuilder;
    // Reachable? (Otherwise the first query would fail with the transport's words.)
    let address = url::Url::parse(scheduler)
        .ok()
        .filter(|u| u.scheme() == "df")
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port().unwrap_or(50050))))
        .ok_or_else(|| {
            Error::Arguments(format!(
                "--cluster {scheduler}: expected df://HOST:PORT, e.g. df://127.0.0.1:50050"
            ))
        })?;
    if let Err(e) = std::net::TcpStream::connect(&address) {
        return Err(Error::Cluster(format!(
            "cannot reach the cluster's scheduler at {scheduler}: {e} (is `inferledger cluster \
             scheduler` running there?)"
        )));
    }
    let config = local
        .copied_config()
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::default()))
        // Ballista's static planner: with its adaptive one (on by default), a step over
        // empty in-memory tables (`vllm_counters` with no vLLM metrics) was planned stage
        // after stage for ever ("plan metrics array size 6 does not equal stage metrics
        // array size 7" in the scheduler's log).
        .with_ballista_adaptive_query_planner(false);
    let state = SessionStateBuilder::new_from_existing(local.state())
        .with_config(config)
        .build();
    let remote = datafusion::prelude::SessionContext::remote_with_state(scheduler, state)
        .await
        .map_err(|e| Error::Cluster(format!("cannot reach the cluster at {scheduler}: {e}")))?;
    // Ballista's session starts from its own function lists: the pipeline's are added
    // back (the cluster's processes know them by name, or from the plan).
    let known = remote.state();
    for function in local.state().scalar_functions().values() {
        if !known.scalar_functions().contains_key(function.name()) {
            remote.register_udf(function.as_ref().clone());
        }
    }
    for function in local.state().window_functions().values() {
        if !known.window_functions().contains_key(function.name()) {
            remote.register_udwf(function.as_ref().clone());
        }
    }
    for function in local.state().aggregate_functions().values() {
        if !known.aggregate_functions().contains_key(function.name()) {
            remote.register_udaf(function.as_ref().clone());
        }
    }
    probe(&remote, scheduler).await?;
    Ok(remote)
}

/// How long a cluster has to run a first task before a run or query gives up on it.
pub const PROBE_SECONDS: u64 = 30;

/// Runs one trivial query on the cluster, within [`PROBE_SECONDS`]: a scheduler with no
/// executor registered queues the job for ever (Ballista fails jobs only when it loses its
/// last executor, not when it never had one), so without this a run waited silently.
async fn probe(
    remote: &datafusion::prelude::SessionContext,
    scheduler: &str,
) -> crate::common::error::Result<()> {
    let query = async { remote.sql("SELECT 1 AS probe").await?.collect().await };
    match tokio::time::timeout(std::time::Duration::from_secs(PROBE_SECONDS), query).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Error::Cluster(format!(
            "the cluster at {scheduler} could not run a first query: {e}"
        ))),
        Err(_) => Err(Error::Cluster(format!(
            "the cluster at {scheduler} ran no task within {PROBE_SECONDS} s: its scheduler \
             answers but no executor has registered with it (start one: `inferledger cluster \
             executor --scheduler HOST:PORT`); nothing was read or published"
        ))),
    }
}

/// What starts every buffer these codecs write, then what follows: a price book (JSON) or
/// an in-memory table (Arrow IPC stream).
const PRICE_BOOK: &[u8] = b"inferledger/price-book:";
const MEMORY_TABLE: &[u8] = b"inferledger/memory-table:";
/// The request logs read on the executors (`sources::requests::on_cluster`): the table,
/// then its scan.
const INGEST_TABLE: &[u8] = b"inferledger/ingest-table:";
const INGEST_SCAN: &[u8] = b"inferledger/ingest-scan:";
/// A published table version: its files (JSON, `read::published::SnapshotTable`).
const SNAPSHOT_TABLE: &[u8] = b"inferledger/snapshot-table:";

/// The logical codec: Ballista's, plus priced functions and in-memory tables.
#[derive(Debug, Default)]
pub struct LogicalCodec {
    ballista: BallistaLogicalExtensionCodec,
}

/// The physical codec: Ballista's, plus priced functions.
#[derive(Debug, Default)]
pub struct PhysicalCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

/// Writes a priced function's book; other functions are left to `fallback`.
fn encode_function(node: &ScalarUDF, buf: &mut Vec<u8>) -> Option<()> {
    let priced = node.inner().downcast_ref::<PricedFunction>()?;
    buf.extend_from_slice(PRICE_BOOK);
    buf.extend_from_slice(priced.book().to_json().to_string().as_bytes());
    Some(())
}

/// The priced function `name` with the book in `buf`, if `buf` holds one.
fn decode_function(name: &str, buf: &[u8]) -> Option<Result<Arc<ScalarUDF>>> {
    let json = buf.strip_prefix(PRICE_BOOK)?;
    Some((|| {
        let kind = PricedKind::named(name).ok_or_else(|| {
            DataFusionError::Internal(format!("{name} was sent with a price book"))
        })?;
        let value: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| DataFusionError::Internal(format!("{name}'s price book: {e}")))?;
        let book = PriceBook::from_json(&value).map_err(DataFusionError::Internal)?;
        Ok(Arc::new(priced_function(kind, Arc::new(book))))
    })())
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        if let Some(job) = buf.strip_prefix(INGEST_TABLE) {
            return Ok(Arc::new(IngestTable::decode(job)?));
        }
        if let Some(files) = buf.strip_prefix(SNAPSHOT_TABLE) {
            return Ok(Arc::new(SnapshotTable::decode(files, schema)?));
        }
        match buf.strip_prefix(MEMORY_TABLE) {
            Some(ipc) => {
                let reader = StreamReader::try_new(ipc, None)?;
                let batches = reader.collect::<std::result::Result<Vec<RecordBatch>, _>>()?;
                Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
            }
            None => self
                .ballista
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(table) = node.downcast_ref::<IngestTable>() {
            buf.extend_from_slice(INGEST_TABLE);
            buf.extend_from_slice(&table.encode());
            return Ok(());
        }
        if let Some(table) = node.downcast_ref::<SnapshotTable>() {
            buf.extend_from_slice(SNAPSHOT_TABLE);
            buf.extend_from_slice(&table.encode());
            return Ok(());
        }
        let Some(table) = node.downcast_ref::<MemTable>() else {
            return self
                .ballista
                .try_encode_table_provider(table_ref, node, buf);
        };
        buf.extend_from_slice(MEMORY_TABLE);
        let schema = table.schema();
        let mut writer = StreamWriter::try_new(&mut *buf, &schema)?;
        for partition in &table.batches {
            let batches = partition.try_read().map_err(|_| {
                DataFusionError::Internal(format!(
                    "table {table_ref} is being written while it is sent to the cluster"
                ))
            })?;
            for batch in batches.iter() {
                writer.write(batch)?;
            }
        }
        writer.finish()?;
        Ok(())
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        decode_function(name, buf).unwrap_or_else(|| self.ballista.try_decode_udf(name, buf))
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_function(node, buf).map_or_else(|| self.ballista.try_encode_udf(node, buf), Ok)
    }
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match buf.strip_prefix(INGEST_SCAN) {
            Some(scan) => {
                let [units] = inputs else {
                    return Err(DataFusionError::Internal(
                        "an ingest scan is sent with one input, its units".to_string(),
                    ));
                };
                Ok(Arc::new(IngestExec::decode(scan, Arc::clone(units))?))
            }
            None => self.ballista.try_decode(buf, inputs, ctx, converter),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(scan) = node.downcast_ref::<IngestExec>() {
            buf.extend_from_slice(INGEST_SCAN);
            buf.extend_from_slice(&scan.encode());
            return Ok(());
        }
        self.ballista.try_encode(node, buf, converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        decode_function(name, buf).unwrap_or_else(|| self.ballista.try_decode_udf(name, buf))
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_function(node, buf).map_or_else(|| self.ballista.try_encode_udf(node, buf), Ok)
    }
}
