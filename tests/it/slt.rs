//! Runs the `.slt` (sqllogictest) files in `tests/slt/` against a DataFusion context set up
//! like a run's: an empty `requests_staged` table with the canonical schema and a
//! `run_params` row (a window from 2000 to 2099) and no history. Besides SQL, a file may say
//! `RUN STEP <table>`: that runs the step as `run` does (`analyze::step_frame`: its Rust
//! work, then `queries/<table>.sql`) and registers its result under the table's name; and
//! `RUN REVIEW <section> <quarter>` runs a section of the quarterly review
//! (`queries/review/`, with `review_params` for that quarter) and registers it as
//! `review_<section>`, as `review` does.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use inferledger::analyze::{self, STEPS};
use inferledger::sources::requests::canonical::staged_requests_schema;
use sqllogictest::{DBOutput, DefaultColumnType};

struct Db {
    ctx: SessionContext,
}

#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

#[async_trait]
impl sqllogictest::AsyncDB for Db {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let err = |e: datafusion::error::DataFusionError| SltError(e.to_string());
        if let Some(table) = sql.trim().strip_prefix("RUN STEP ") {
            let step = STEPS
                .iter()
                .find(|s| s.table == table.trim())
                .ok_or_else(|| SltError(format!("no step {table}")))?;
            let frame =
                analyze::step_frame(&self.ctx, step, &inferledger::prices::PriceBook::builtin())
                    .await
                    .map_err(|e| SltError(e.to_string()))?;
            let schema = Arc::new(frame.schema().as_arrow().clone());
            let batches = frame.collect().await.map_err(err)?;
            let schema = batches.first().map(|b| b.schema()).unwrap_or(schema);
            let n = batches.iter().map(|b| b.num_rows() as u64).sum();
            self.ctx.deregister_table(step.table).map_err(err)?;
            let table = MemTable::try_new(schema, vec![batches]).map_err(err)?;
            self.ctx
                .register_table(step.table, Arc::new(table))
                .map_err(err)?;
            return Ok(DBOutput::StatementComplete(n));
        }
        if let Some(args) = sql.trim().strip_prefix("RUN REVIEW ") {
            let (section, quarter) = args
                .trim()
                .split_once(' ')
                .ok_or_else(|| SltError(format!("RUN REVIEW <section> <quarter>: {args}")))?;
            let quarter =
                inferledger::commands::review::parse_quarter(quarter.trim()).map_err(SltError)?;
            let (_, table, query) = inferledger::commands::review::SECTIONS
                .iter()
                .find(|(_, table, _)| *table == section)
                .ok_or_else(|| SltError(format!("no review section {section}")))?;
            if self.ctx.table_exist("review_params").map_err(err)? {
                self.ctx.deregister_table("review_params").map_err(err)?;
            }
            inferledger::commands::review::register_review_params(&self.ctx, quarter)
                .map_err(|e| SltError(e.to_string()))?;
            let frame = self.ctx.sql(query).await.map_err(err)?;
            let schema = Arc::new(frame.schema().as_arrow().clone());
            let batches = frame.collect().await.map_err(err)?;
            let schema = batches.first().map(|b| b.schema()).unwrap_or(schema);
            let n = batches.iter().map(|b| b.num_rows() as u64).sum();
            let name = format!("review_{table}");
            self.ctx.deregister_table(name.as_str()).map_err(err)?;
            let table_data = MemTable::try_new(schema, vec![batches]).map_err(err)?;
            self.ctx
                .register_table(name, Arc::new(table_data))
                .map_err(err)?;
            return Ok(DBOutput::StatementComplete(n));
        }
        let frame = self.ctx.sql(sql).await.map_err(err)?;
        let columns = frame.schema().fields().len();
        let batches = frame.collect().await.map_err(err)?;
        let is_query = sql.trim_start().to_ascii_uppercase().starts_with("SELECT")
            || sql.trim_start().to_ascii_uppercase().starts_with("WITH");
        if is_query {
            Ok(DBOutput::Rows {
                types: vec![DefaultColumnType::Any; columns],
                rows: crate::helpers::cells(&batches),
            })
        } else {
            Ok(DBOutput::StatementComplete(0))
        }
    }

    async fn shutdown(&mut self) {}
}

async fn new_db() -> Result<Db, SltError> {
    let ctx = analyze::new_context();
    let table = MemTable::try_new(staged_requests_schema(), vec![vec![]])
        .map_err(|e| SltError(e.to_string()))?;
    ctx.register_table("requests_staged", Arc::new(table))
        .map_err(|e| SltError(e.to_string()))?;
    analyze::register_request_step_views(&ctx)
        .await
        .map_err(|e| SltError(e.to_string()))?;
    // A window wide enough for every file's data: nothing is still open at its end.
    let window = inferledger::analyze::history::RunWindow {
        from: chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
        to: chrono::NaiveDate::from_ymd_opt(2099, 12, 31).unwrap(),
        lookback_days: 36_500,
    };
    // No GPU cost for requests until a file runs the GPU steps, and nothing staged but
    // what a file inserts.
    let request_gpu_costs = Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
        datafusion::arrow::datatypes::Field::new(
            "request_id",
            datafusion::arrow::datatypes::DataType::Utf8,
            false,
        ),
        datafusion::arrow::datatypes::Field::new(
            "gpu_cost_usd",
            inferledger::common::money::money_type(),
            false,
        ),
    ]));
    for (name, schema) in analyze::staged_inputs()
        .into_iter()
        .chain([("request_gpu_costs", request_gpu_costs)])
    {
        let table = MemTable::try_new(schema, vec![vec![]]).map_err(|e| SltError(e.to_string()))?;
        ctx.register_table(name, Arc::new(table))
            .map_err(|e| SltError(e.to_string()))?;
    }
    // The run's settings and history, as `run` registers them: the config's defaults,
    // no pools, no earlier nights.
    let no_history = inferledger::read::published::PublishedRun::nothing(std::path::Path::new(
        "/nonexistent/inferledger-history",
    ))
    .map_err(|e| SltError(e.to_string()))?;
    analyze::register_run_inputs(
        &ctx,
        &analyze::RunInputs {
            pools: &[],
            economics: &Default::default(),
            reconcile: &Default::default(),
            book: &inferledger::prices::PriceBook::builtin(),
            window: &window,
            inactivity_gap_seconds: 1800,
            history: &no_history,
        },
    )
    .await
    .map_err(|e| SltError(e.to_string()))?;
    Ok(Db { ctx })
}

#[tokio::test]
async fn sql_logic_tests() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    for file in files {
        let mut runner = sqllogictest::Runner::new(new_db);
        if let Err(e) = runner.run_file_async(&file).await {
            panic!("{}: {e}", file.display());
        }
    }
}
