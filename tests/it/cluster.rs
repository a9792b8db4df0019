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
        let spawn = |args: &[&str]| {
            Command::new(env!("CARGO_BIN_EXE_inferledger"))
                .args(args)
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("the binary runs")
        };
        let mut processes = vec![spawn(&[
            "cluster",
            "scheduler",
            "--port",
            &scheduler_port.to_string(),
        ])];
        wait_for(scheduler_port, "the scheduler");
        for n in 0..executors {
            let (port, grpc_port) = (free_port(), free_port());
            let dir = work.join(format!("executor-{n}"));
            std::fs::create_dir_all(&dir).unwrap();
            processes.push(spawn(&[
                "cluster",
                "executor",
                "--scheduler",
                &format!("127.0.0.1:{scheduler_port}"),
                "--port",
                &port.to_string(),
                "--grpc-port",
                &grpc_port.to_string(),
                "--concurrent-tasks",
                "2",
                "--work-dir",
                dir.to_str().unwrap(),
            ]));
            wait_for(port, "an executor");
        }
        Cluster {
            processes,
            scheduler_port,
        }
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
    // Both executors ran tasks: each wrote shuffle output.
    for n in 0..2 {
        assert!(
            holds_files(&dir.path().join(format!("executor-{n}"))),
            "executor {n} ran no task"
        );
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
