//! An Apache Ballista cluster on localhost: `inferledger cluster scheduler` and two
//! `inferledger cluster executor` processes on free ports; `sql --cluster` over the sample
//! run's output must answer as `sql` does in-process, and the work must be spread over both
//! executors.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on `port`.
fn wait_for(port: u16, what: &str) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what} did not listen on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The processes of the cluster, killed when dropped.
pub struct Cluster {
    processes: Vec<Child>,
    scheduler_port: u16,
}

impl Cluster {
    /// A scheduler and `executors` executors, their shuffle folders under `work`.
    pub fn start(work: &Path, executors: usize) -> Cluster {
        Cluster::start_with_env(work, executors, &[])
    }

    /// [`Cluster::start`] with more environment variables for every process (an object
    /// store's).
    pub fn start_with_env(work: &Path, executors: usize, env: &[(&str, &str)]) -> Cluster {
        let scheduler_port = free_port();
        // Each process logs what it does (RUST_LOG=info) to `work/<name>.log`.
        let spawn = |args: &[&str], name: &str| {
            let log = std::fs::File::create(work.join(format!("{name}.log"))).unwrap();
            Command::new(env!("CARGO_BIN_EXE_inferledger"))
                .args(args)
                .envs(env.iter().copied())
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("the binary runs")
        };
        let mut processes = vec![spawn(
            &[
                "cluster",
                "scheduler",
                "--port",
                &scheduler_port.to_string(),
            ],
            "scheduler",
        )];
        wait_for(scheduler_port, "the scheduler");
        for n in 0..executors {
            let (port, grpc_port) = (free_port(), free_port());
            let dir = work.join(format!("executor-{n}"));
            std::fs::create_dir_all(&dir).unwrap();
            processes.push(spawn(
                &[
                    "cluster",
                    "executor",
                    "--scheduler",
                    &format!("127.0.0.1:{scheduler_port}"),
                    "--port",
                    &port.to_string(),
                    "--grpc-port",
                    &grpc_port.to_string(),
                    // One task at a time each: a stage of two tasks then runs on both.
                    "--concurrent-tasks",
                    "1",
                    "--work-dir",
                    dir.to_str().unwrap(),
                ],
                &format!("executor-{n}"),
            ));
            wait_for(port, "an executor");
        }
        Cluster {
            processes,
            scheduler_port,
        }
    }

    /// Kills executor `n` as kill -9 would (no goodbye to the scheduler).
    pub fn kill_executor(&mut self, n: usize) {
        let executor = &mut self.processes[n + 1];
        executor.kill().unwrap();
        executor.wait().unwrap();
    }

    /// The `--cluster` URL.
    pub fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.scheduler_port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for process in &mut self.processes {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// Whether executor `n` of a cluster started in `work` ran a task, as its log says.
pub fn ran_tasks(work: &Path, n: usize) -> bool {
    std::fs::read_to_string(work.join(format!("executor-{n}.log")))
        .is_ok_and(|log| log.contains("Execute task"))
}

/// Whether a folder holds a file at any depth.
pub fn holds_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        path.is_file() || (path.is_dir() && holds_files(&path))
    })
}

#[test]
fn sql_on_a_ballista_cluster_answers_as_sql_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sample_config_with_absolute_paths());
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &["--quiet"]));
    let cluster = Cluster::start(dir.path(), 2);
    // Queries that shuffle (group by, join, window, sort) over the day-partitioned tables.
    let queries = [
        "SELECT date, COUNT(*) AS n, SUM(cost_usd) AS cost FROM requests GROUP BY date ORDER BY date",
        "SELECT team, feature, model, SUM(cost_usd) AS cost, SUM(requests) AS n FROM cost_attribution \
         GROUP BY team, feature, model ORDER BY team, feature, model",
        "SELECT i.team, COUNT(*) AS interactions, SUM(r.n) AS requests FROM interactions i \
         JOIN (SELECT interaction_id, COUNT(*) AS n FROM requests GROUP BY interaction_id) r \
           ON i.interaction_id = r.interaction_id GROUP BY i.team ORDER BY i.team",
        "SELECT request_id, ROW_NUMBER() OVER (PARTITION BY model ORDER BY ts, request_id) AS nth \
         FROM requests ORDER BY model, nth, request_id LIMIT 50",
        // The pipeline's own functions, known to the executors by name.
        "SELECT session_bucket(session_key, 4) AS bucket, COUNT(*) FROM requests GROUP BY 1 ORDER BY 1",
        "SELECT COUNT(*) AS interactions, MIN(span['start']) AS first_start FROM ( \
           SELECT unnest(spans) AS span FROM ( \
             SELECT session_key, interaction_spans(ts, 1800000000) AS spans FROM requests \
             GROUP BY session_key))",
    ];
    for query in queries {
        let local = sql_csv(&out, query, &[]);
        assert_ok(&local);
        let distributed = sql_csv(&out, query, &["--cluster", &cluster.url()]);
        assert_ok(&distributed);
        assert!(stdout(&local).lines().count() > 1, "{query}: no rows");
        assert_eq!(stdout(&distributed), stdout(&local), "{query}");
    }
    // Both executors ran tasks.
    for n in 0..2 {
        assert!(ran_tasks(dir.path(), n), "executor {n} ran no task");
    }
}

#[test]
fn priced_functions_and_a_configs_tables_travel_to_the_cluster() {
    // `cost_of` and `cache_read_discount` carry the client's price book into the plan
    // (the executors price with it, not with a book of their own), `economics` is an
    // in-memory table made from the config: the cluster answers as `sql` in-process.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sample_config_with_absolute_paths());
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &["--quiet"]));
    let cluster = Cluster::start(dir.path(), 2);
    let config_arg = config.to_str().unwrap();
    let queries = [
        // By hand from the catalog: gpt-4o-mini at $0.15 / $0.075 cached / $0.60 per M
        // tokens: 464 × 0.15 + 1536 × 0.075 + 300 × 0.60 = 364.8 per M = $0.0003648.
        "SELECT cost_of('gpt-4o-mini', 2000, 1536, 0, 300, TIMESTAMP '2026-11-16T10:00:00Z') AS one",
        "SELECT model, SUM(cost_of(model, input_tokens, cache_read_tokens, cache_write_tokens,          output_tokens, ts)) AS repriced, SUM(cache_read_discount(model, provider, ts)) AS discount          FROM requests WHERE pool IS NULL GROUP BY model ORDER BY model",
        "SELECT e.lookback_days, e.selfhost_gpu_model, COUNT(*) AS n FROM requests r          CROSS JOIN economics e GROUP BY 1, 2",
    ];
    for query in queries {
        let local = sql_csv(&out, query, &["--config", config_arg]);
        assert_ok(&local);
        let distributed = sql_csv(
            &out,
            query,
            &["--config", config_arg, "--cluster", &cluster.url()],
        );
        assert_ok(&distributed);
        assert!(stdout(&local).lines().count() > 1, "{query}: no rows");
        assert_eq!(stdout(&distributed), stdout(&local), "{query}");
    }
    let one = sql_csv(&out, queries[0], &["--cluster", &cluster.url()]);
    assert_eq!(stdout(&one), "one\n0.000364800000\n");
}

/// Every published table of an output folder as sorted rows of text cells, DOUBLE cells
/// to 12 significant digits (a cluster adds floating-point values in another order, which
/// moves their last digits; decimals and everything else must be equal as they are).
fn tables_to_12_digits(out: &Path) -> std::collections::BTreeMap<String, Vec<Vec<String>>> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{DataType, Float64Type};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut all = std::collections::BTreeMap::new();
    for step in inferledger::analyze::published_steps() {
        let dir = out.join(step.table);
        if !dir.is_dir() || !holds_files(&dir) {
            all.insert(step.table.to_string(), Vec::new());
            continue;
        }
        let sql = format!("SELECT * FROM {}", step.table);
        let batches = runtime
            .block_on(inferledger::commands::session::query(out, &sql))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .remove(0);
        let mut rows = cells(&batches);
        let mut at = 0;
        for batch in &batches {
            for (column, array) in batch.columns().iter().enumerate() {
                if array.data_type() != &DataType::Float64 {
                    continue;
                }
                let floats = array.as_primitive::<Float64Type>();
                for row in 0..batch.num_rows() {
                    if floats.is_valid(row) {
                        rows[at + row][column] = format!("{:.11e}", floats.value(row));
                    }
                }
            }
            at += batch.num_rows();
        }
        rows.sort();
        all.insert(step.table.to_string(), rows);
    }
    all
}

/// The Arrow schema (names, types, nullability) of the Parquet files in each published
/// table's folders, by folder below `out` (one file per folder: a folder's files share it).
fn file_schemas(out: &Path) -> std::collections::BTreeMap<String, Vec<String>> {
    fn walk(dir: &Path, out: &Path, all: &mut std::collections::BTreeMap<String, Vec<String>>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out, all);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                let folder = dir.strip_prefix(out).unwrap().display().to_string();
                let file = std::fs::File::open(&path).unwrap();
                let reader =
                    datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                        .unwrap();
                let fields = reader
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| format!("{} {} {}", f.name(), f.data_type(), f.is_nullable()))
                    .collect();
                all.entry(folder).or_insert(fields);
            }
        }
    }
    let mut all = std::collections::BTreeMap::new();
    for step in inferledger::analyze::published_steps() {
        let dir = out.join(step.table);
        if dir.is_dir() {
            walk(&dir, out, &mut all);
        }
    }
    all
}

/// A run's per-source report (rows read, quarantined, staged, outside the window; the
/// commonest quarantine reasons; per file the same and its format), without what depends
/// on how the files were split (`parts`).
fn sources_without_parts(out: &Path) -> serde_json::Value {
    let mut sources = summary(out)["sources"].clone();
    for source in sources.as_array_mut().unwrap() {
        for file in source["files"].as_array_mut().unwrap() {
            file.as_object_mut().unwrap().remove("parts");
        }
    }
    sources
}

/// Whether executor `n` of a [`Cluster`] in `work` read a unit of the request logs.
pub fn read_logs(work: &Path, n: usize) -> bool {
    std::fs::read_to_string(work.join(format!("executor-{n}.log")))
        .is_ok_and(|log| log.contains("inferledger ingest: reading unit"))
}

#[cfg_attr(
    not(feature = "test-hooks"),
    ignore = "needs the test hooks: --features test-hooks (make test)"
)]
#[test]
fn a_run_on_a_ballista_cluster_reads_the_logs_and_runs_its_steps_there_with_the_tables_of_a_local_run()
 {
    // The sample run, then a rerun of one night, each in-process and on a cluster of two
    // executors, which read the request logs (split into parts, so that both get some)
    // and run every step: every published table the same, row for row, the quarantine the
    // same, and the summary's totals (rows, duplicates, exact cost) and per-source counts
    // the same.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sample_config_with_absolute_paths());
    let (local, remote) = (dir.path().join("local"), dir.path().join("remote"));
    let cluster = Cluster::start(dir.path(), 2);
    let url = cluster.url();
    let quarantine = |out: &Path| {
        query(
            out,
            "SELECT source, source_file, line, reason, raw FROM quarantine ORDER BY source, source_file, line",
        )
    };
    for window in [&[][..], &["--from", "2026-11-20", "--to", "2026-11-20"][..]] {
        let mut args = vec!["--quiet"];
        args.extend_from_slice(window);
        assert_ok(&run(&config, &local, &args));
        args.extend_from_slice(&["--cluster", &url]);
        let mut command = vec!["run", "--config", config.to_str().unwrap()];
        command.extend_from_slice(&["--out", remote.to_str().unwrap()]);
        command.extend_from_slice(&args);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_inferledger"))
            .args(&command)
            // Parts of 20 kB: the sample's logs of 50-300 kB are read in two parts each.
            .env("INFERLEDGER_SPLIT_BYTES", "20000")
            .output()
            .unwrap();
        assert_ok(&output);
        let (expected, on_cluster) = (tables_to_12_digits(&local), tables_to_12_digits(&remote));
        for (table, rows) in &expected {
            assert_eq!(&on_cluster[table], rows, "{table} ({window:?})");
        }
        assert_eq!(summary(&remote)["totals"], summary(&local)["totals"]);
        assert_eq!(
            sources_without_parts(&remote),
            sources_without_parts(&local)
        );
        assert_eq!(
            summary(&remote)["rounded_costs"],
            summary(&local)["rounded_costs"]
        );
        assert_eq!(quarantine(&remote), quarantine(&local), "{window:?}");
        // The files' schemas too, nullability included, partition by partition.
        assert_eq!(file_schemas(&remote), file_schemas(&local), "{window:?}");
        if window.is_empty() {
            // The sample's figures (sample-data/README.md), its duplicates dropped on the cluster too.
            assert_eq!(summary(&remote)["totals"]["cost_usd"], "2164.86982658");
            assert_eq!(on_cluster["requests"].len(), 4_615);
        }
    }
    for n in 0..2 {
        assert!(ran_tasks(dir.path(), n), "executor {n} ran no task");
        assert!(read_logs(dir.path(), n), "executor {n} read no request log");
    }
}

#[test]
fn a_run_whose_cluster_cannot_be_reached_says_so_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sample_config_with_absolute_paths());
    let out = dir.path().join("out");
    // A free port: nothing listens there.
    let url = format!("df://127.0.0.1:{}", free_port());
    let output = run(&config, &out, &["--quiet", "--cluster", &url]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains(&format!("cannot reach the cluster's scheduler at {url}")),
        "{message}"
    );
    assert!(!out.join("requests").exists() && !out.join("run_summary.json").exists());
}

#[test]
fn logs_read_on_a_cluster_are_quarantined_and_refused_as_a_local_run_does() {
    // Hostile logs read by the executors: a file of good lines, one with bad lines
    // (invalid JSON, a negative count, a missing model) and a repeated id, and a gzip cut
    // short. Within the bad-row limit the quarantine, the counts and the tables are the
    // local run's; over it, both refuse the run with the same message and exit code 2.
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let good: Vec<String> = (0..8)
        .map(|i| openai_line(&format!("g{i}"), 1_794_787_200 + i * 60, 100, 20, 5))
        .collect();
    std::fs::write(logs.join("good.jsonl"), good.join("\n")).unwrap();
    let bad = [
        openai_line("b0", 1_794_787_200, 50, 0, 5),
        "{\"id\": \"b1\", \"created\": ".to_string(),
        openai_line("b2", 1_794_787_260, -4, 0, 5),
        openai_line("b3", 1_794_787_320, 50, 0, 5).replace("\"model\":\"gpt-4o-mini\",", ""),
        openai_line("g3", 1_794_787_380, 100, 20, 9),
    ];
    std::fs::write(logs.join("bad.jsonl"), bad.join("\n")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let cut: Vec<String> = (0..300)
        .map(|i| openai_line(&format!("c{i}"), 1_794_787_200 + i, 100, 0, 5))
        .collect();
    std::io::Write::write_all(&mut gz, cut.join("\n").as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    std::fs::write(logs.join("cut.jsonl.gz"), &bytes[..bytes.len() / 2]).unwrap();
    let cluster = Cluster::start(dir.path(), 2);
    let url = cluster.url();
    let config = |limit: &str| {
        let text = format!(
            "[[requests]]\nname = \"logs\"\npath = \"{}\"\nformat = \"openai\"\nmax_bad_fraction = {limit}\n",
            logs.display()
        );
        let path = dir.path().join(format!("limit-{limit}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    };
    let within = config("0.5");
    let (local, remote) = (dir.path().join("local"), dir.path().join("remote"));
    assert_ok(&run(&within, &local, &["--quiet"]));
    assert_ok(&run(&within, &remote, &["--quiet", "--cluster", &url]));
    let quarantine = |out: &Path| {
        query(
            out,
            "SELECT regexp_replace(source_file, '.*/', ''), line, reason FROM quarantine ORDER BY 1, 2",
        )
    };
    assert_eq!(quarantine(&remote), quarantine(&local));
    // By hand: bad.jsonl lines 2, 3 and 4 (the cut gzip adds its own), and g3 again.
    let bad_lines: Vec<String> = quarantine(&local)
        .into_iter()
        .filter(|row| row[0] == "bad.jsonl")
        .map(|row| row[1].clone())
        .collect();
    assert_eq!(bad_lines, ["2", "3", "4"]);
    assert_eq!(summary(&remote)["totals"], summary(&local)["totals"]);
    assert_eq!(summary(&remote)["totals"]["duplicates"], 1);
    assert_eq!(
        sources_without_parts(&remote),
        sources_without_parts(&local)
    );
    assert_same_tables(&tables(&remote), &tables(&local), "the cluster run");
    // Over the limit: 3 bad rows of bad.jsonl's 5, and the cut gzip's, of at least 13.
    let over = config("0.01");
    let refused_locally = run(&over, &dir.path().join("local-over"), &["--quiet"]);
    let refused_on_cluster = run(
        &over,
        &dir.path().join("remote-over"),
        &["--quiet", "--cluster", &url],
    );
    assert_eq!(refused_locally.status.code(), Some(2));
    assert_eq!(refused_on_cluster.status.code(), Some(2));
    assert_eq!(stderr(&refused_on_cluster), stderr(&refused_locally));
    assert!(!dir.path().join("remote-over").join("requests").exists());
}

/// `run --cluster`, started now; its output once it ends, or a failure if it has not
/// ended within `limit` (a hang: the run is killed). Not a timing assertion: the bound is
/// several times what the run may take.
fn run_on_cluster_within(
    config: &Path,
    out: &Path,
    url: &str,
    limit: Duration,
    while_running: impl FnOnce(),
) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_inferledger"))
        .args([
            "run",
            "--quiet",
            "--config",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--cluster",
            url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while_running();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("run --cluster did not end within {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child.wait_with_output().unwrap()
}

/// Issue 30: a scheduler with no executor made `run --cluster` wait for ever, silently; an
/// executor killed mid-run hung the run (killed at 1.5 s or 7 s; at 4 s it failed). Each
/// now fails within a stated time (the probe's 30 s; the scheduler's 20 s executor timeout
/// plus its 10 s grace), names the step and why, and publishes nothing.
#[test]
fn a_cluster_without_its_executor_fails_in_bounded_time_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sample_config_with_absolute_paths());
    let nothing_published = |out: &Path| {
        !out.join("run_summary.json").exists()
            && !out.join("_runs").exists()
            && !out.join("requests").exists()
    };
    // A scheduler and no executor: the probe's first query runs nowhere.
    let work = dir.path().join("no-executor");
    std::fs::create_dir_all(&work).unwrap();
    let cluster = Cluster::start(&work, 0);
    let out = dir.path().join("out-none");
    let output = run_on_cluster_within(
        &config,
        &out,
        &cluster.url(),
        Duration::from_secs(180),
        || {},
    );
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        message.contains(&format!(
            "the cluster at {} ran no task within 30 s",
            cluster.url()
        )) && message.contains("no executor has registered"),
        "{message}"
    );
    assert!(nothing_published(&out));
    drop(cluster);
    // Its only executor killed early, midway and late in a run: once it has started its
    // 2nd, 100th and 300th task (of about 400 a run of the sample gives it: the probe, the
    // logs read on it, then the steps), as its log says.
    let tasks_started = |work: &Path| {
        std::fs::read_to_string(work.join("executor-0.log"))
            .map_or(0, |log| log.matches("Execute task").count())
    };
    for task in [2, 100, 300] {
        let work = dir.path().join(format!("killed-{task}"));
        std::fs::create_dir_all(&work).unwrap();
        let mut cluster = Cluster::start(&work, 1);
        let out = dir.path().join(format!("out-{task}"));
        let output = run_on_cluster_within(
            &config,
            &out,
            &cluster.url(),
            Duration::from_secs(240),
            || {
                let started = Instant::now();
                while tasks_started(&work) < task {
                    assert!(
                        started.elapsed() < Duration::from_secs(120),
                        "the executor never started task {task}"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
                cluster.kill_executor(0);
            },
        );
        let message = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(!output.status.success(), "killed at task {task}: {message}");
        assert!(
            message.contains("failed") && message.contains("executor"),
            "killed at task {task}: {message}"
        );
        assert!(nothing_published(&out), "killed at task {task}");
    }
}
