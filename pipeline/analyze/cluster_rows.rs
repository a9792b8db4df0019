//! A step's rows computed on a Ballista cluster (`run --cluster`) and streamed back once,
//! to be written here with the schema this process plans, as an in-process run writes them.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::SessionContext;

use crate::common::error::Result;

/// A frame of this process over the rows `frame`'s query gives when it runs on `cluster`:
/// the query's work (scans, joins, aggregations) is done by the cluster's executors, and
/// its rows stream back here, read once, to be written. The rows take the schema the plan
/// has here (the cluster may send text in another form, and its plan may say a column is
/// nullable where this one knows it is not), so the files are those an in-process run
/// writes.
pub(crate) async fn rows_from_cluster(
    ctx: &SessionContext,
    cluster: &SessionContext,
    frame: datafusion::dataframe::DataFrame,
) -> Result<datafusion::dataframe::DataFrame> {
    use futures::StreamExt;
    // The schema of the plan this process would run (its physical plan: text as views
    // where the scans give views, columns known not to be NULL), what it would write.
    let schema = frame.clone().create_physical_plan().await?.schema();
    let (_, plan) = frame.into_parts();
    let from_cluster = datafusion::dataframe::DataFrame::new(cluster.state(), plan)
        .execute_stream()
        .await?;
    let local = schema.clone();
    let rows = from_cluster.map(move |batch| {
        let batch = batch?;
        let columns = batch
            .columns()
            .iter()
            .zip(local.fields())
            .map(|(column, field)| {
                if column.data_type() == field.data_type() {
                    Ok(column.clone())
                } else {
                    datafusion::arrow::compute::cast(column, field.data_type())
                }
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(datafusion::arrow::array::RecordBatch::try_new(
            local.clone(),
            columns,
        )?)
    });
    let stream: datafusion::execution::SendableRecordBatchStream = Box::pin(
        datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema.clone(), rows),
    );
    let table = datafusion::catalog::streaming::StreamingTable::try_new(
        schema.clone(),
        vec![Arc::new(StreamedOnce {
            schema,
            stream: std::sync::Mutex::new(Some(stream)),
        })],
    )?;
    Ok(ctx.read_table(Arc::new(table))?)
}

/// A stream of rows that can be read once, as a table's one partition.
struct StreamedOnce {
    schema: SchemaRef,
    stream: std::sync::Mutex<Option<datafusion::execution::SendableRecordBatchStream>>,
}

impl std::fmt::Debug for StreamedOnce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamedOnce").finish_non_exhaustive()
    }
}

impl datafusion::physical_plan::streaming::PartitionStream for StreamedOnce {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(
        &self,
        _ctx: Arc<datafusion::execution::TaskContext>,
    ) -> datafusion::execution::SendableRecordBatchStream {
        let taken = self.stream.lock().ok().and_then(|mut s| s.take());
        match taken {
            Some(stream) => stream,
            None => {
                let error = datafusion::error::DataFusionError::Execution(
                    "a step's rows from the cluster were read twice".to_string(),
                );
                Box::pin(
                    datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                        self.schema.clone(),
                        futures::stream::once(async move { Err(error) }),
                    ),
                )
            }
        }
    }
}
