//! The scheduler: runs the catalog's steps ([`crate::analyze::steps::STEPS`]), at once where
//! the order cannot change what they read, the session steps one session bucket at a time,
//! each writing its table's Parquet (day-partitioned where published) and registering it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::SessionContext;

use crate::analyze::cluster_rows::rows_from_cluster;
use crate::analyze::params::register_session_pass;
use crate::analyze::steps::{
    BucketInput, FIRST_DECISION_STEP, REQUESTS_DAILY, STEPS, Step, published_steps, step_frame,
    step_reads,
};
use crate::common::arrow_util::register_parquet_dir;
use crate::common::error::{Error, Result};
use crate::common::progress::Progress;

/// One session bucket's pass of a session step: the step's query over the bucket's rows,
/// in a session of its own (the run's tables and functions, with the bucket's in place of
/// the whole), so the run's session is never left half swapped.
struct SessionPass {
    bucket: u32,
    buckets: u32,
    /// The folder of the bucket's rows of the table the step reads per bucket.
    input: std::path::PathBuf,
    /// Where the pass writes its part of the table.
    output: std::path::PathBuf,
}

impl SessionPass {
    async fn run(
        &self,
        run: &SessionContext,
        step: &Step,
        book: &crate::prices::PriceBook,
        window: &crate::analyze::history::RunWindow,
        cluster: Option<&SessionContext>,
    ) -> Result<SchemaRef> {
        // Joins collect their build side whole instead of hashing both sides into
        // partitions: in a session step the build sides are the small ones (duplicated
        // ids, pools, interaction spans, GPU costs), and repartitioning the probe side
        // (every request, every column) cost more than the join (requests: 0.95 s vs
        // 0.88 s on the 1M-request bench).
        let config = run
            .copied_config()
            .set_bool("datafusion.optimizer.repartition_joins", false);
        let ctx = SessionContext::new_with_config_rt(config, run.runtime_env());
        for function in run.state().scalar_functions().values() {
            ctx.register_udf(function.as_ref().clone());
        }
        for function in run.state().window_functions().values() {
            ctx.register_udwf(function.as_ref().clone());
        }
        for function in run.state().aggregate_functions().values() {
            ctx.register_udaf(function.as_ref().clone());
        }
        let defaults = run.copied_config().options().catalog.clone();
        let tables = run
            .catalog(&defaults.default_catalog)
            .and_then(|catalog| catalog.schema(&defaults.default_schema))
            .expect("the run's default schema exists");
        for name in tables.table_names() {
            if let Some(table) = tables.table(&name).await? {
                ctx.register_table(name.as_str(), table)?;
            }
        }
        register_session_pass(&ctx, self.bucket, self.buckets)?;
        match step.per_bucket.expect("a session step") {
            BucketInput::StagedRequests => {
                ctx.deregister_table("requests_staged")?;
                register_parquet_dir(
                    &ctx,
                    "requests_staged",
                    &self.input,
                    false,
                    Some(crate::sources::requests::canonical::staged_requests_schema()),
                )
                .await?;
            }
            BucketInput::Requests => {
                let schema = run.table_provider("requests").await?.schema();
                ctx.deregister_table("requests")?;
                register_parquet_dir(&ctx, "requests", &self.input, true, Some(schema)).await?;
            }
        }
        write_step(&ctx, step, book, window, &self.output, cluster).await
    }
}

/// Writes one step's frame (or one session bucket's pass of it) to `dir`, day-partitioned
/// partitions outside the run's window left out; returns the frame's schema. With a
/// `cluster` (`run --cluster`), the frame's query runs there and its rows are written here.
async fn write_step(
    ctx: &SessionContext,
    step: &Step,
    book: &crate::prices::PriceBook,
    window: &crate::analyze::history::RunWindow,
    dir: &Path,
    cluster: Option<&SessionContext>,
) -> Result<SchemaRef> {
    use datafusion::prelude::{col, lit};
    let mut frame = step_frame(ctx, step, book).await?;
    if step.partitioned {
        // `date < the day after`, not `date <= to`: for a one-day window DataFusion 55
        // would read the two bounds as `date = day`, and planning some steps with that
        // constant fails its own sanity check (a sort on the other keys alone, then a merge
        // that wants `date` first). The days kept are the same.
        let day_after = window.to + chrono::Duration::days(1);
        frame = frame.filter(
            col("date")
                .gt_eq(lit(window.from.to_string()))
                .and(col("date").lt(lit(day_after.to_string()))),
        )?;
    }
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    if let Some(cluster) = cluster {
        frame = rows_from_cluster(ctx, cluster, frame).await?;
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut options = DataFrameWriteOptions::new();
    if step.partitioned {
        options = options.with_partition_by(vec!["date".to_string()]);
    }
    frame
        .write_parquet(
            &format!("{}/", dir.to_string_lossy()),
            options,
            Some(published_parquet_options()),
        )
        .await
        .map_err(|source| Error::Query {
            file: format!("queries/{}.sql", step.table),
            hint: if Error::is_memory_exhausted(&source) {
                " (hint: raise --memory-limit or [run] memory_limit, or leave it unset)"
            } else {
                ""
            },
            source,
        })?;
    Ok(schema)
}

/// Links (or, where links fail, copies) every file one bucket's pass wrote into the
/// table's folder, at the same place below it, named apart by the bucket.
fn gather_pass(pass: &Path, table_dir: &Path, bucket: u32) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(pass) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(pass, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            gather_pass(&path, &table_dir.join(&name), bucket)?;
        } else {
            std::fs::create_dir_all(table_dir).map_err(|e| Error::io(table_dir, e))?;
            let target = table_dir.join(format!("b{bucket:03}-{name}"));
            if std::fs::hard_link(&path, &target).is_err() {
                std::fs::copy(&path, &target).map_err(|e| Error::io(&target, e))?;
            }
        }
    }
    Ok(())
}

/// How long each step took and how many rows it wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepTiming {
    /// Table.
    pub table: String,
    /// Milliseconds.
    pub millis: u128,
}

/// How step tables are written: Snappy, and no dictionary for the columns whose values
/// are (nearly) all distinct, where building one costs time and saves nothing.
fn published_parquet_options() -> datafusion::config::TableParquetOptions {
    let mut options = datafusion::config::TableParquetOptions::default();
    // Snappy, DuckDB's default and readable by every Parquet reader: measured on the
    // 1M-request bench, the run took 7% less time and 0.4 CPU-seconds less than with zstd
    // level 1 (the later steps read `requests` back, and parquet-rs makes a zstd context
    // for every column chunk it writes), for tables 1.7 times larger (`requests` 44 MB
    // instead of 25 MB, the size of DuckDB's own output of the same requests).
    options.global.compression = Some("snappy".to_string());
    for column in [
        "request_id",
        "interaction_id",
        "session_key",
        "ts",
        "source_line",
        "interaction_start",
        "start_ts",
        "end_ts",
        "closes_at",
    ] {
        options.column_specific_options.insert(
            column.to_string(),
            datafusion::config::ParquetColumnOptions {
                dictionary_enabled: Some(false),
                ..Default::default()
            },
        );
    }
    options
}

/// Where a run's staged requests are: one folder per session bucket
/// (`common::session_buckets`), in bucket order.
#[derive(Debug, Clone)]
pub struct StagedRequests {
    /// Each bucket's folder.
    pub buckets: Vec<std::path::PathBuf>,
}

/// The folder, inside the tables folder, where the session steps write each bucket's
/// part before the parts are gathered into the table's folder.
const BUCKETS_DIR: &str = ".buckets";

/// For each step, the earlier steps it waits for. A step waits for every earlier step
/// whose table it reads, and for every earlier step that reads its table (which read the
/// table as it was before this step wrote it). The first decision step (the lookback is
/// registered before it) and the steps whose Rust work reads tables not listed (the GPU
/// sweeps and the recommendations) wait for every earlier step, and every later step
/// waits for them; tables their Rust work registers are so there before any later step
/// reads them. So steps run at once only where the order cannot change what they read.
fn step_dependencies() -> Result<Vec<Vec<usize>>> {
    let mut reads = Vec::new();
    for step in STEPS {
        reads.push(step_reads(&step)?.filter(|_| step.table != FIRST_DECISION_STEP));
    }
    Ok((0..STEPS.len())
        .map(|i| {
            (0..i)
                .filter(|&j| match (&reads[i], &reads[j]) {
                    (Some(mine), Some(theirs)) => {
                        mine.contains(STEPS[j].table) || theirs.contains(STEPS[i].table)
                    }
                    _ => true,
                })
                .collect()
        })
        .collect())
}

/// What the steps of one run share.
#[derive(Clone, Copy)]
pub struct StepRun<'a> {
    /// The prices (`cost_of`, `cache_read_discount`).
    pub book: &'a crate::prices::PriceBook,
    /// Where the run's tables are written.
    pub tables_dir: &'a Path,
    /// Earlier runs' tables, as the latest run left them.
    pub history: &'a crate::read::published::PublishedRun,
    /// The run's window and lookback.
    pub window: &'a crate::analyze::history::RunWindow,
    /// The staged requests, by session bucket.
    pub staged: &'a StagedRequests,
    /// Progress display.
    pub progress: &'a Progress,
    /// The Ballista cluster the steps' queries run on (`run --cluster`), if any.
    pub cluster: Option<&'a SessionContext>,
}

/// Runs every step, writing table `T` to `tables_dir/T/` and registering it as `T`. Day
/// partitions outside the run's window are not written. The session steps run once per
/// session bucket (`staged.buckets`), each pass reading that bucket's rows. Before the
/// first decision step, the day-partitioned tables are re-registered as the lookback
/// history (published history outside the window + this run's window); after the last, as
/// the window's again.
///
/// Steps that do not depend on one another ([`step_dependencies`]) run at once, as many as
/// there are cores (one at a time under a memory limit, which steps at once would share):
/// a small step keeps one core busy planning and writing while the other waits.
pub async fn run_steps(ctx: &SessionContext, run: StepRun<'_>) -> Result<Vec<StepTiming>> {
    use futures::StreamExt;
    let StepRun {
        tables_dir,
        history,
        window,
        ..
    } = run;
    let dependencies = step_dependencies()?;
    let at_once = match ctx.runtime_env().memory_pool.memory_limit() {
        datafusion::execution::memory_pool::MemoryLimit::Infinite => {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
        _ => 1,
    };
    let mut done = vec![false; STEPS.len()];
    let mut started = vec![false; STEPS.len()];
    let mut timings: Vec<(usize, StepTiming)> = Vec::new();
    let mut running = futures::stream::FuturesUnordered::new();
    loop {
        for i in 0..STEPS.len() {
            if running.len() >= at_once {
                break;
            }
            if started[i] || !dependencies[i].iter().all(|&j| done[j]) {
                continue;
            }
            if STEPS[i].table == FIRST_DECISION_STEP {
                // Every earlier step is done and no later one has started.
                let partitioned: Vec<&str> = published_steps()
                    .filter(|s| s.partitioned)
                    .map(|s| s.table)
                    .collect();
                crate::analyze::history::register_lookback(
                    ctx,
                    history,
                    tables_dir,
                    window,
                    &partitioned,
                )
                .await?;
                crate::analyze::history::register_lookback_rollups(
                    ctx,
                    window,
                    "requests",
                    REQUESTS_DAILY.table,
                    REQUESTS_DAILY.sql().expect("an SQL step"),
                )
                .await?;
            }
            started[i] = true;
            let step = STEPS[i];
            running.push(async move {
                let timing = run_step(ctx, &step, run).await?;
                Ok::<_, Error>((i, timing))
            });
        }
        match running.next().await {
            Some(finished) => {
                let (i, timing) = finished?;
                done[i] = true;
                timings.push((i, timing));
            }
            // Nothing running: every step is done (the first step not done is ready
            // whenever nothing runs, as steps wait only for earlier ones).
            None => break,
        }
    }
    debug_assert!(done.iter().all(|d| *d), "every step ran");
    timings.sort_by_key(|(i, _)| *i);
    let timings = timings.into_iter().map(|(_, timing)| timing).collect();
    let passes = tables_dir.join(BUCKETS_DIR);
    if passes.exists() {
        std::fs::remove_dir_all(&passes).map_err(|e| Error::io(&passes, e))?;
    }
    // The summary and the report describe the window: its tables take their names back.
    let window_rollup = step_dir(tables_dir, &REQUESTS_DAILY);
    let schema = ctx.table_provider(REQUESTS_DAILY.table).await?.schema();
    ctx.deregister_table(REQUESTS_DAILY.table)?;
    register_parquet_dir(
        ctx,
        REQUESTS_DAILY.table,
        &window_rollup,
        false,
        Some(schema),
    )
    .await?;
    for step in published_steps().filter(|s| s.partitioned) {
        let dir = tables_dir.join(step.table);
        let schema = ctx.table_provider(step.table).await?.schema();
        ctx.deregister_table(step.table)?;
        register_parquet_dir(ctx, step.table, &dir, true, Some(schema)).await?;
    }
    Ok(timings)
}

/// Where a step writes its table: published ones under their name, internal ones under
/// `.internal/`.
fn step_dir(tables_dir: &Path, step: &Step) -> PathBuf {
    if step.published {
        tables_dir.join(step.table)
    } else {
        tables_dir.join(".internal").join(step.table)
    }
}

/// Runs one step (each session bucket's pass in turn, for a session step), writes its
/// table and registers it.
async fn run_step(ctx: &SessionContext, step: &Step, run: StepRun<'_>) -> Result<StepTiming> {
    let StepRun {
        book,
        tables_dir,
        window,
        staged,
        progress,
        cluster,
        ..
    } = run;
    let started = Instant::now();
    let buckets = u32::try_from(staged.buckets.len()).expect("few buckets");
    let pass_dir = |bucket: u32, table: &str| {
        tables_dir
            .join(BUCKETS_DIR)
            .join(format!("bucket-{bucket:03}"))
            .join(table)
    };
    let bar = progress.step(step.table);
    let dir = step_dir(tables_dir, step);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let schema = match step.per_bucket {
        None => write_step(ctx, step, book, window, &dir, cluster).await?,
        Some(input) => {
            // One pass at a time: a pass already keeps every core busy (its sorts and
            // its Parquet writer are parallel), so passes at once would only add their
            // memory.
            let mut schemas = Vec::new();
            for bucket in 0..buckets {
                let pass = SessionPass {
                    bucket,
                    buckets,
                    input: match input {
                        BucketInput::StagedRequests => staged.buckets[bucket as usize].clone(),
                        BucketInput::Requests => pass_dir(bucket, "requests"),
                    },
                    output: pass_dir(bucket, step.table),
                };
                schemas.push(pass.run(ctx, step, book, window, cluster).await?);
            }
            for bucket in 0..buckets {
                gather_pass(&pass_dir(bucket, step.table), &dir, bucket)?;
            }
            schemas.into_iter().next().expect("at least one bucket")
        }
    };
    let table_schema = if step.partitioned {
        // Reading back, `date` comes from the folder names, as the last column.
        let mut fields: Vec<Field> = schema
            .fields()
            .iter()
            .filter(|f| f.name() != "date")
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("date", DataType::Utf8, true));
        Arc::new(Schema::new(fields))
    } else {
        schema
    };
    ctx.deregister_table(step.table)?;
    register_parquet_dir(ctx, step.table, &dir, step.partitioned, Some(table_schema)).await?;
    bar.finish_and_clear();
    Ok(StepTiming {
        table: step.table.to_string(),
        millis: started.elapsed().as_millis(),
    })
}

#[cfg(test)]
mod step_order_tests {
    use super::*;

    fn index(table: &str) -> usize {
        STEPS.iter().position(|s| s.table == table).expect(table)
    }

    fn waits(dependencies: &[Vec<usize>], step: &str, on: &str) -> bool {
        dependencies[index(step)].contains(&index(on))
    }

    /// Read off the query files by hand: which steps may run at once and which may not.
    #[test]
    fn steps_wait_for_what_they_read_and_for_the_barriers() {
        let dependencies = step_dependencies().unwrap();
        // interactions reads requests and request_gpu_costs; cost_attribution reads
        // neither interactions nor is read by it, so the two may run at once.
        assert!(waits(&dependencies, "interactions", "requests"));
        assert!(waits(&dependencies, "interactions", "request_gpu_costs"));
        assert!(!waits(&dependencies, "cost_attribution", "interactions"));
        // The aggregate steps read the requests summed by day, which reads requests;
        // interactions reads the requests themselves, so it may run beside the sums.
        assert!(waits(&dependencies, "requests_daily", "requests"));
        assert!(waits(&dependencies, "cache_hit_ratio", "requests_daily"));
        assert!(waits(&dependencies, "cost_attribution", "requests_daily"));
        assert!(!waits(&dependencies, "interactions", "requests_daily"));
        // The billing steps read no request table.
        assert!(!waits(&dependencies, "gpu_billing_hourly", "requests"));
        assert!(!waits(
            &dependencies,
            "gpu_billing_hourly",
            "requests_daily"
        ));
        // The cache replay's Rust work reads requests.
        assert!(waits(&dependencies, "cache_opportunity", "requests"));
        // spend_anomalies reads api_daily_spend.
        assert!(waits(&dependencies, "spend_anomalies", "api_daily_spend"));
        // The first decision step waits for every earlier step, and every later step
        // for it; so do the GPU sweeps and the recommendations.
        for barrier in [
            FIRST_DECISION_STEP,
            "gpu_request_weights",
            "gpu_cost_attribution",
            "recommendations",
        ] {
            let at = index(barrier);
            assert_eq!(dependencies[at], (0..at).collect::<Vec<_>>(), "{barrier}");
            for later in at + 1..STEPS.len() {
                assert!(
                    dependencies[later].contains(&at),
                    "{} after {barrier}",
                    STEPS[later].table
                );
            }
        }
        // Only earlier steps, so the run always finds a step to start.
        for (i, waits_for) in dependencies.iter().enumerate() {
            assert!(waits_for.iter().all(|&j| j < i));
        }
    }
}

#[cfg(test)]
mod memory_tests {
    use crate::common::error::Error;

    /// A query over a memory limit it cannot spill within fails with DataFusion's
    /// resources-exhausted error, which the run recognises by its kind (to advise raising
    /// --memory-limit), not by its text.
    #[tokio::test]
    async fn memory_exhaustion_is_recognised_by_its_kind() {
        let ctx = crate::analyze::new_context_with_limit(Some(64 * 1024), None).unwrap();
        let result = ctx
            .sql(
                "SELECT v % 1000 AS k, array_agg(v) FROM \
                 (SELECT value AS v FROM generate_series(1, 200000)) GROUP BY v % 1000",
            )
            .await
            .unwrap()
            .collect()
            .await;
        let error = result.expect_err("64 KiB cannot hold the groups");
        assert!(Error::is_memory_exhausted(&error), "{error}");
        // And a planning error is not mistaken for it.
        let other = ctx.sql("SELECT * FROM nowhere").await.unwrap_err();
        assert!(!Error::is_memory_exhausted(&other));
    }
}
