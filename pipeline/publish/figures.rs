//! The reports' figures, loaded once: every query of `queries/report/` that report.md and
//! report.html read ([`queries::figures`]) runs one time over the run's tables, all at
//! once, and both reports render from the same rows (so they cannot disagree, and no
//! query runs twice).

use std::collections::HashMap;

use datafusion::arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;

use crate::common::arrow_util::sql_batches;
use crate::common::error::{Error, Result};
use crate::publish::summary::queries;

/// The rows of every report query, by its SQL.
pub struct ReportFigures {
    rows: HashMap<&'static str, Vec<RecordBatch>>,
}

impl ReportFigures {
    /// Runs every report query over `ctx`'s tables, at once; a query that fails names its
    /// file.
    pub async fn load(ctx: &SessionContext) -> Result<ReportFigures> {
        let runs = queries::figures().map(|(name, sql)| async move {
            let batches = sql_batches(ctx, sql).await.map_err(|e| match e {
                Error::DataFusion(source) => Error::Query {
                    file: format!("queries/report/{name}.sql"),
                    source,
                    hint: "",
                },
                other => other,
            })?;
            Ok::<_, Error>((*sql, batches))
        });
        Ok(ReportFigures {
            rows: futures::future::try_join_all(runs)
                .await?
                .into_iter()
                .collect(),
        })
    }

    /// The rows of one report query (one of [`queries::figures`]).
    pub fn rows(&self, sql: &'static str) -> &[RecordBatch] {
        self.rows
            .get(sql)
            .map(Vec::as_slice)
            .expect("every report query is in queries::figures()")
    }
}
