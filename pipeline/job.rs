//! The nightly job as a library call ([`run_pipeline`]): reads every source, prices each
//! request, runs the SQL steps, writes `run_summary.json`, `report.md` and `report.html`,
//! and publishes the tables as Delta commits, atomically: nothing in the output folder
//! changes unless every step succeeded. `inferledger run` parses its flags and calls it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;

use crate::analyze::history::RunWindow;
use crate::analyze::{self, StepTiming};
use crate::common::arrow_util::{ShareFolder, SharedStaging};
use crate::common::error::{Error, Result};
use crate::common::progress::Progress;
use crate::config::Config;
use crate::publish::bucket::BucketStaging;
use crate::publish::delta::{Publication, StagedTable};
use crate::publish::output::{OutputLock, Staging};
use crate::publish::summary::{self, RunSummary, Totals};
use crate::read::published::{OutputFolder, PublishedRun, Restatement, RunManifest, RunTotals};
use crate::read::source_reading::QuarantineWriter;
use crate::sources::requests::canonical;
use crate::sources::requests::{self, Window};
use crate::sources::{billing, metrics};

/// A run's copy of its staging folder in the output bucket, removed when the run ends,
/// whether it published or failed.
struct RemovedAtEnd(Arc<BucketStaging>);

impl Drop for RemovedAtEnd {
    fn drop(&mut self) {
        // Best effort: a copy left behind is removed by the next publication.
        let _ = self.0.remove();
    }
}

/// The whole job: ingest, SQL steps, summary, report, publish. Nothing in `out` changes
/// unless every step succeeded.
pub async fn run_pipeline(
    config: &Config,
    out: &Path,
    window: Option<(NaiveDate, NaiveDate)>,
    memory_limit: Option<usize>,
    cluster: Option<&str>,
    progress: &Progress,
) -> Result<RunSummary> {
    let started_at = chrono::Utc::now();
    // Absolute paths when a cluster runs the steps: its executors do not share this
    // process's working folder.
    let absolute_out;
    let out = if cluster.is_some() && !crate::read::remote::is_url(out) {
        absolute_out = std::path::absolute(out).map_err(|e| Error::io(out, e))?;
        absolute_out.as_path()
    } else {
        out
    };
    let (book, price_file) = crate::prices::load_price_book(config)?;
    refuse_output_inside_inputs(config, out)?;
    let run_id = format!(
        "{}-{}",
        started_at.format("%Y%m%dT%H%M%S%.6fZ"),
        std::process::id()
    );
    // A local folder: locked, staged inside. A folder on object storage: staged in the
    // temporary folder. Either way published as Delta commits (`publish::delta`).
    let folder = OutputFolder::new(out)?;
    let (lock, staging) = if crate::read::remote::is_url(out) {
        BucketStaging::remove_stale(out)?;
        Staging::remove_orphans_in(&std::env::temp_dir());
        (None, Staging::create_in(&std::env::temp_dir())?)
    } else {
        let lock = OutputLock::acquire(out)?;
        let staging = Staging::create(out, &lock)?;
        (Some(lock), staging)
    };
    // The history this run reads and replaces: the latest run's tables (an earlier
    // version's folder converted in place first); a table a killed run committed past its
    // manifest goes back to the version the manifest names.
    let tables = published_tables();
    let mut base = folder.manifest(None).await?;
    if base.is_none() {
        base = crate::publish::convert::convert(&folder, &tables, &run_id).await?;
    }
    let names: Vec<String> = tables.iter().map(|(t, _)| t.clone()).collect();
    let base_versions =
        crate::publish::delta::restore_unpublished(&folder, base.as_ref(), &names).await?;
    let history = PublishedRun {
        folder: folder.clone(),
        manifest: base.clone(),
    };
    let mut timings = Vec::new();
    // The session, and the cluster's, before ingest: a cluster that cannot be reached is
    // said at once, not after the logs are read.
    let ctx = analyze::new_context_with_limit(memory_limit, Some(&staging.spill_dir()))?;
    // A cluster's executors on other machines do not see this machine's temporary folder,
    // where a run with `--out` on object storage stages: its staged folders are copied into
    // the bucket as they are registered, and read there (removed when the run ends; a
    // killed run's by the next publication).
    let _staging_copy = match (crate::read::remote::is_url(out), cluster) {
        (true, Some(_)) => {
            let copy = Arc::new(BucketStaging::new(out, staging.root(), staging.name()));
            let (store, base) = crate::read::remote::store_and_base(&out.to_string_lossy())?;
            ctx.register_object_store(&base, store);
            let shared: Arc<dyn ShareFolder> = copy.clone();
            ctx.state_ref()
                .write()
                .config_mut()
                .set_extension(Arc::new(SharedStaging(shared)));
            Some(RemovedAtEnd(copy))
        }
        _ => None,
    };
    let cluster_session = match cluster {
        #[cfg(feature = "cluster")]
        Some(scheduler) => Some(analyze::cluster::connect(scheduler, &ctx).await?),
        #[cfg(not(feature = "cluster"))]
        Some(_) => unreachable!("--cluster exists only with the cluster feature"),
        None => None,
    };

    let clock = Instant::now();
    let micros = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_micros()
    };
    let ingest_window = window.map(|(from, to)| Window {
        from_micros: micros(from),
        to_micros: micros(to.succ_opt().unwrap_or(to)),
    });
    let lookback_days = config.economics.lookback_days;
    let input_dir = staging.input_dir();
    std::fs::create_dir_all(&input_dir).map_err(|e| Error::io(&input_dir, e))?;
    let quarantine_file = input_dir.join("quarantine.parquet");
    let mut quarantine = QuarantineWriter::create(&quarantine_file)?;
    let buckets = match config.run.session_buckets {
        Some(buckets) => buckets,
        None => crate::common::session_buckets::buckets_for_input(requests::input_bytes(config)?),
    };
    // With a cluster, its executors read the request logs (the bills and metrics, small,
    // are read here).
    let plan = requests::IngestPlan {
        config,
        book: &book,
        window: ingest_window,
        staging: &input_dir,
        buckets,
    };
    let ingested = match &cluster_session {
        #[cfg(feature = "cluster")]
        Some(remote) => {
            requests::on_cluster::ingest_on_cluster(plan, &mut quarantine, progress, remote).await?
        }
        _ => requests::ingest(plan, &mut quarantine, progress)?,
    };
    let billing = billing::ingest(
        config,
        &book,
        ingest_window,
        &input_dir,
        &mut quarantine,
        progress,
    )?;
    let metrics = metrics::ingest(config, &input_dir, &mut quarantine)?;
    let provider_usage = crate::sources::provider_usage::ingest(
        config,
        ingest_window,
        &input_dir,
        &mut quarantine,
        progress,
    )?;
    quarantine.finish()?;
    timings.push(StepTiming {
        table: "ingest".to_string(),
        millis: clock.elapsed().as_millis(),
    });

    let clock = Instant::now();
    let staged_requests = analyze::StagedRequests {
        buckets: (0..ingested.buckets)
            .map(|b| ingested.bucket_dir(b))
            .collect(),
    };
    crate::common::arrow_util::register_parquet_dirs(
        &ctx,
        "requests_staged",
        &staged_requests.buckets,
        canonical::staged_requests_schema(),
    )?;
    analyze::register_duplicate_ids(&ctx, &ingested.duplicate_ids)?;
    analyze::register_duplicate_copies(
        &ctx,
        &ingested.duplicate_ids,
        &input_dir.join("requests_duplicate_copies"),
    )
    .await?;
    analyze::register_session_pass(&ctx, 0, 1)?;
    for (table, schema) in analyze::staged_inputs() {
        crate::common::arrow_util::register_parquet_dir(
            &ctx,
            table,
            &input_dir.join(table),
            false,
            Some(schema),
        )
        .await?;
    }
    // Without --from/--to the run covers the days its data covers.
    let (from, to) = match window {
        Some(days) => days,
        None => data_days(&ctx).await?,
    };
    let run_window = RunWindow {
        from,
        to,
        lookback_days,
    };
    analyze::register_run_inputs(
        &ctx,
        &analyze::RunInputs {
            pools: &config.pools,
            economics: &config.economics,
            reconcile: &config.reconcile,
            book: &book,
            window: &run_window,
            inactivity_gap_seconds: config.inactivity_gap_seconds(),
            history: &history,
        },
    )
    .await?;
    timings.push(StepTiming {
        table: "window_and_history".to_string(),
        millis: clock.elapsed().as_millis(),
    });
    timings.extend(
        analyze::run_steps(
            &ctx,
            analyze::StepRun {
                book: &book,
                tables_dir: &staging.tables_dir(),
                history: &history,
                window: &run_window,
                staged: &staged_requests,
                progress,
                cluster: cluster_session.as_ref(),
            },
        )
        .await?,
    );

    let clock = Instant::now();
    let quarantine_dir = staging.tables_dir().join("quarantine");
    std::fs::create_dir_all(&quarantine_dir).map_err(|e| Error::io(&quarantine_dir, e))?;
    let published_quarantine = quarantine_dir.join("part-0.parquet");
    std::fs::rename(&quarantine_file, &published_quarantine)
        .map_err(|e| Error::io(&published_quarantine, e))?;
    // The internal tables are written while the summary's queries run: neither waits for
    // the other.
    let internal_dir = staging.tables_dir().join(analyze::INTERNAL_DIR);
    let internal_tables = async {
        let clock = Instant::now();
        crate::common::arrow_util::write_tables(&ctx, &analyze::internal_tables(), &internal_dir)
            .await?;
        Ok::<_, Error>(StepTiming {
            table: "internal_tables".to_string(),
            millis: clock.elapsed().as_millis(),
        })
    };
    // The summary's queries are independent of one another: they run at once.
    let (
        sources,
        unpriced_models,
        (cost, unpriced_requests),
        coverage,
        billed_pools,
        gpu_spend,
        reconciliation,
        restated,
        internal_timing,
    ) = tokio::try_join!(
        summary::source_summaries(&ctx, &ingested.sources),
        summary::unpriced_models(&ctx),
        summary::cost_totals(&ctx),
        summary::coverage(&ctx),
        pools_billed(&ctx),
        summary::gpu_spend(&ctx),
        summary::reconciliation_headline(&ctx),
        restated_days(&ctx, &history, (from, to)),
        internal_tables,
    )?;
    timings.push(internal_timing);
    let totals = Totals {
        rows_read: sources.iter().map(|s| s.ingest.rows_read).sum(),
        rows_kept: sources.iter().map(|s| s.rows_kept).sum(),
        rows_quarantined: sources.iter().map(|s| s.ingest.rows_quarantined).sum(),
        duplicates: sources.iter().map(|s| s.duplicates).sum(),
        rows_outside_window: sources.iter().map(|s| s.ingest.rows_outside_window).sum(),
        rows_not_requests: sources.iter().map(|s| s.ingest.rows_not_requests).sum(),
        cost_usd: cost.normalize().to_string(),
        unpriced_requests,
    };
    let window_text = Some((from.to_string(), to.to_string()));
    let mut run_summary = RunSummary {
        version: env!("CARGO_PKG_VERSION").to_string(),
        config: config.file.display().to_string(),
        out: out.display().to_string(),
        window: window_text.clone(),
        coverage,
        warnings: summary::skipped_inputs(config)
            .into_iter()
            .chain(price_file.iter().flat_map(|file| {
                file.refused.iter().map(move |entry| {
                    format!(
                        "[prices] file {}: entry refused, the catalog prices its model: {entry}",
                        file.path
                    )
                })
            }))
            .chain(summary::unmatched_pools(config, &billed_pools))
            .chain(summary::unmatched_pool_hosts(config, &metrics))
            .chain(provider_usage.iter().filter(|u| u.rows_superseded > 0).map(|u| {
                format!(
                    "[[provider_usage]] {}: {} result(s) superseded by the same bucket exported later or by finer buckets of the same day (the latest export and the finest buckets count; nothing is added twice)",
                    u.name, u.rows_superseded
                )
            }))
            .collect(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        finished_at: String::new(),
        sources,
        billing,
        gpu_metrics: metrics,
        gpu_spend,
        reconciliation,
        provider_usage,
        restated,
        totals,
        unpriced_models,
        price_file,
        rounded_costs: ingested.rounded_costs,
        timings_ms: timings,
        peak_rss_bytes: None,
        publish_seconds: None,
    };
    run_summary.finished_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let figures = crate::publish::figures::ReportFigures::load(&ctx).await?;
    let report = summary::report_markdown(&figures, &run_summary)?;
    let report_html = crate::publish::html::report_html(&figures, &run_summary)?;
    run_summary.timings_ms.push(StepTiming {
        table: "summary_and_reports".to_string(),
        millis: clock.elapsed().as_millis(),
    });
    run_summary.peak_rss_bytes = summary::peak_rss_bytes();

    let files = staging.files_dir();
    std::fs::create_dir_all(&files).map_err(|e| Error::io(&files, e))?;
    for (name, contents) in [
        ("report.md", report),
        ("report.html", report_html),
        (
            "run_summary.json",
            serde_json::to_string_pretty(&run_summary)?,
        ),
    ] {
        std::fs::write(files.join(name), contents).map_err(|e| Error::io(files.join(name), e))?;
    }
    // The tables to commit: every published step's, the run-scoped ones, `internal/`.
    let mut staged = Vec::new();
    for step in analyze::published_steps() {
        staged.push(StagedTable {
            relative: step.table.to_string(),
            staged: staging.tables_dir().join(step.table),
            schema: ctx.table_provider(step.table).await?.schema(),
            partitioned: step.partitioned,
        });
    }
    staged.push(StagedTable {
        relative: "quarantine".to_string(),
        staged: quarantine_dir.clone(),
        schema: crate::read::source_reading::quarantine_schema(),
        partitioned: false,
    });
    for table in analyze::internal_tables() {
        staged.push(StagedTable {
            relative: format!("{}/{table}", analyze::INTERNAL_DIR),
            staged: internal_dir.join(table),
            schema: ctx.table_provider(table).await?.schema(),
            partitioned: false,
        });
    }
    let manifest = RunManifest {
        run_id,
        started_at: run_summary.started_at.clone(),
        finished_at: String::new(),
        window: [from.to_string(), to.to_string()],
        config_sha256: config_sha256(config),
        inferledger_version: env!("CARGO_PKG_VERSION").to_string(),
        tables: Default::default(),
        totals: RunTotals {
            rows_read: run_summary.totals.rows_read,
            rows_kept: run_summary.totals.rows_kept,
            rows_quarantined: run_summary.totals.rows_quarantined,
            api_cost_usd: run_summary.totals.cost_usd.clone(),
            gpu_billed_usd: run_summary.gpu_spend.billed_usd.clone(),
        },
        restated: run_summary.restated.clone(),
    };
    let mut files = Vec::new();
    for name in crate::publish::RUN_FILES {
        let path = staging.files_dir().join(name);
        files.push((
            name.to_string(),
            std::fs::read(&path).map_err(|e| Error::io(&path, e))?,
        ));
    }
    let publishing = Instant::now();
    crate::publish::delta::publish(
        &staged,
        Publication {
            folder: &folder,
            base: &base_versions,
            manifest,
            files,
            keep_runs: config.run.keep_runs,
        },
    )
    .await?;
    run_summary.publish_seconds = Some(publishing.elapsed().as_secs_f64());
    drop(lock);
    Ok(run_summary)
}

/// The first and last day of the run's data (requests and GPU billing hours), for a run
/// without --from/--to; 1970-01-01 when there is no data at all.
async fn data_days(ctx: &datafusion::prelude::SessionContext) -> Result<(NaiveDate, NaiveDate)> {
    // One scan of each table (its first and last time together).
    let sql = "SELECT MIN(first_day), MAX(last_day) FROM ( \
                 SELECT to_char(MIN(ts), '%Y-%m-%d') AS first_day, \
                        to_char(MAX(ts), '%Y-%m-%d') AS last_day FROM requests_staged \
                 UNION ALL \
                 SELECT to_char(MIN(hour), '%Y-%m-%d'), to_char(MAX(hour), '%Y-%m-%d') \
                 FROM billing_staged)";
    let batches = crate::common::arrow_util::sql_batches(ctx, sql).await?;
    let day = |column: usize| {
        batches
            .first()
            .and_then(|b| crate::common::arrow_util::string_at(b.column(column).as_ref(), 0))
            .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
            .unwrap_or_default()
    };
    Ok((day(0), day(1)))
}

/// Refuses an output folder inside an input folder: the next run would read its own
/// tables as input.
fn refuse_output_inside_inputs(config: &Config, out: &Path) -> Result<()> {
    let real = |p: &Path| {
        std::fs::canonicalize(p)
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let out_real = real(out);
    let inputs = config
        .requests
        .iter()
        .map(|s| ("[[requests]]", &s.path))
        .chain(config.billing.iter().map(|s| ("[[billing]]", &s.path)))
        .chain(
            config
                .gpu_metrics
                .iter()
                .map(|s| ("[[gpu_metrics]]", &s.path)),
        );
    for (block, path) in inputs {
        let resolved = config.resolve(path);
        if crate::read::remote::is_url(&resolved) {
            // On object storage: never inside a local --out; inside a bucket's --out if the
            // input's prefix (up to a wildcard) holds it.
            let (input, out_text) = (resolved.to_string_lossy(), out.to_string_lossy());
            let prefix = &input[..input.find(['*', '?', '[']).unwrap_or(input.len())];
            let prefix = prefix.trim_end_matches('/');
            if crate::read::remote::is_url(out)
                && (out_text.trim_end_matches('/') == prefix
                    || out_text.starts_with(&format!("{prefix}/")))
            {
                return Err(Error::Arguments(format!(
                    "--out {} is inside the input {block} path = \"{path}\": the next run would read its own tables as input; choose an output folder outside the inputs",
                    out.display()
                )));
            }
            continue;
        }
        // A glob reaches the folder before its first wildcard (`logs/` of `logs/*.jsonl`,
        // `logs/` of `logs/app-*`), and below it only when the rest of the pattern goes
        // down (`logs/*/x.jsonl`, `logs/**`): an --out beside `logs/`, or below it for a
        // one-level pattern, is never read.
        let text = resolved.to_string_lossy();
        let (folder, reaches_below) = if resolved.exists() {
            (resolved.clone(), true)
        } else if !text.contains(['*', '?', '[']) {
            continue; // missing: ingest says so
        } else {
            let cut = text.find(['*', '?', '[']).unwrap_or(text.len());
            let (before, pattern) = text.split_at(cut);
            let folder = match before.rfind(std::path::MAIN_SEPARATOR) {
                Some(at) => PathBuf::from(&before[..=at]),
                None => PathBuf::from("."),
            };
            (folder, pattern.contains(std::path::MAIN_SEPARATOR))
        };
        let folder_real = real(&folder);
        let reached = if reaches_below {
            out_real.starts_with(&folder_real)
        } else {
            out_real == folder_real
        };
        if folder.is_dir() && reached {
            return Err(Error::Arguments(format!(
                "--out {} is inside the input folder {} of {block} path = \"{path}\": the next run would read its own tables as input; choose an output folder outside the inputs",
                out.display(),
                folder.display()
            )));
        }
    }
    Ok(())
}

/// The pools some staged GPU billing row was assigned to.
async fn pools_billed(
    ctx: &datafusion::prelude::SessionContext,
) -> Result<std::collections::BTreeSet<String>> {
    let batches = crate::common::arrow_util::sql_batches(
        ctx,
        "SELECT DISTINCT pool FROM billing_staged WHERE pool IS NOT NULL",
    )
    .await?;
    Ok(batches
        .iter()
        .flat_map(|b| {
            (0..b.num_rows())
                .filter_map(move |r| crate::common::arrow_util::string_at(b.column(0).as_ref(), r))
        })
        .collect())
}

/// Every table a run publishes (its folder below the output folder) and whether it is
/// partitioned by `date`.
pub fn published_tables() -> Vec<(String, bool)> {
    analyze::published_steps()
        .map(|s| (s.table.to_string(), s.partitioned))
        .chain(analyze::RUN_TABLES.map(|t| (t.to_string(), false)))
        .chain(
            analyze::internal_tables()
                .into_iter()
                .map(|t| (format!("{}/{t}", analyze::INTERNAL_DIR), false)),
        )
        .collect()
}

/// SHA-256 of the config file's bytes (hex), recorded with every commit.
fn config_sha256(config: &Config) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(&config.file).unwrap_or_default();
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The days of the window that published history already held, whose totals this run
/// changes: the API cost and row count of `requests`, and the GPU cost of
/// `gpu_cost_attribution`, old (as the latest run left them) against new.
async fn restated_days(
    ctx: &datafusion::prelude::SessionContext,
    history: &PublishedRun,
    (from, to): (NaiveDate, NaiveDate),
) -> Result<Vec<Restatement>> {
    if history.manifest.is_none() {
        return Ok(Vec::new());
    }
    let gpu_schema = ctx.table_provider("gpu_cost_attribution").await?.schema();
    history
        .register_or_empty(
            ctx,
            "gpu_cost_attribution__before",
            "gpu_cost_attribution",
            gpu_schema,
        )
        .await?;
    let window = format!("date >= '{from}' AND date <= '{to}'");
    let sql = format!(
        "WITH old AS ( \
           SELECT date, 'requests.cost_usd' AS figure, CAST(SUM(cost_usd) AS VARCHAR) AS total \
           FROM requests_published WHERE {window} GROUP BY date \
           UNION ALL SELECT date, 'requests.rows', CAST(COUNT(*) AS VARCHAR) \
           FROM requests_published WHERE {window} GROUP BY date \
           UNION ALL SELECT date, 'gpu_cost_attribution.gpu_cost_usd', CAST(SUM(gpu_cost_usd) AS VARCHAR) \
           FROM gpu_cost_attribution__before WHERE {window} GROUP BY date), \
         new AS ( \
           SELECT date, 'requests.cost_usd' AS figure, CAST(SUM(cost_usd) AS VARCHAR) AS total \
           FROM requests WHERE {window} GROUP BY date \
           UNION ALL SELECT date, 'requests.rows', CAST(COUNT(*) AS VARCHAR) \
           FROM requests WHERE {window} GROUP BY date \
           UNION ALL SELECT date, 'gpu_cost_attribution.gpu_cost_usd', CAST(SUM(gpu_cost_usd) AS VARCHAR) \
           FROM gpu_cost_attribution WHERE {window} GROUP BY date) \
         SELECT old.date, old.figure, old.total, COALESCE(new.total, '0') \
         FROM old LEFT JOIN new ON old.date = new.date AND old.figure = new.figure \
         ORDER BY old.date, old.figure"
    );
    let batches = crate::common::arrow_util::sql_batches(ctx, &sql).await?;
    let mut restated = Vec::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let text = |c: usize| {
                crate::common::arrow_util::string_at(batch.column(c).as_ref(), row)
                    .unwrap_or_else(|| "0".to_string())
            };
            let (old_total, new_total) = (decimal_text(&text(2)), decimal_text(&text(3)));
            if old_total != new_total {
                restated.push(Restatement {
                    day: text(0),
                    table: text(1),
                    old_total,
                    new_total,
                });
            }
        }
    }
    Ok(restated)
}

/// A decimal's text without trailing zeros (`12.500000000000` → `12.5`).
fn decimal_text(text: &str) -> String {
    text.parse::<rust_decimal::Decimal>()
        .map(|d| d.normalize().to_string())
        .unwrap_or_else(|_| text.to_string())
}
