//! Inputs on object storage, against a real S3-compatible server: moto's standalone server
//! (from PyPI, installed into `.venv-test/` on first use) started on a free port of
//! 127.0.0.1 for the test. The sample's inputs are uploaded to a bucket laid out like
//! `sample-data/`, and the sample run reading them from `s3://` must give the tables the
//! run reading them from disk gives (the source file columns aside, which name where each
//! row came from), for a whole run and for a windowed rerun of one day.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use object_store::ObjectStoreExt;

use crate::helpers::*;

const BUCKET: &str = "inferledger-sample";

/// moto's server, installed into `.venv-test/` if it is not there yet.
fn moto_server() -> PathBuf {
    pinned_venv(".venv-test", &["moto[server]==5.2.5"]).join("bin/moto_server")
}

/// A moto server on 127.0.0.1, stopped when dropped.
struct S3Server {
    child: Child,
    port: u16,
}

impl S3Server {
    fn start() -> S3Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let server = S3Server { child, port };
        let started = Instant::now();
        while server.request("GET", "/").is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto_server did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        server
    }

    /// A server with the test bucket, empty.
    fn with_empty_bucket() -> S3Server {
        let server = S3Server::start();
        let status = server.request("PUT", &format!("/{BUCKET}")).unwrap();
        assert!(status.contains("200"), "create bucket: {status}");
        server
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One plain HTTP request (moto takes unsigned ones); the status line, if any.
    fn request(&self, method: &str, path: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        answer.lines().next().map(str::to_string)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path, below: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(below).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(dir, &path, found);
        } else {
            found.push(path.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
}

/// Uploads `sample-data/` to the bucket, each file at its path below `sample-data/`.
fn upload_sample(server: &S3Server) {
    let status = server.request("PUT", &format!("/{BUCKET}")).unwrap();
    assert!(status.contains("200"), "create bucket: {status}");
    upload_folder(server, &root().join("sample-data"), "");
}

/// Uploads every file under `folder` to the bucket, at `prefix` + its path below `folder`.
fn upload_folder(server: &S3Server, folder: &Path, prefix: &str) {
    let store = bucket_store(server);
    let mut files = Vec::new();
    files_under(folder, folder, &mut files);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        for file in files {
            let bytes = std::fs::read(folder.join(&file)).unwrap();
            let key = object_store::path::Path::from(format!("{prefix}{}", file.to_string_lossy()));
            store.put(&key, bytes.into()).await.unwrap();
        }
    });
}

/// Runs `inferledger run` with the moto credentials in the environment.
fn run_with_credentials(config: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inferledger"))
        .args(["run", "--quiet", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the binary runs")
}

/// The tables with every mention of where the inputs lie taken out of their cells.
fn tables_without_locations(out: &Path, locations: &[&str]) -> BTreeMap<String, Vec<Vec<String>>> {
    tables(out)
        .into_iter()
        .map(|(table, rows)| {
            let mut rows: Vec<Vec<String>> = rows
                .into_iter()
                .map(|row| {
                    row.into_iter()
                        .map(|cell| {
                            locations
                                .iter()
                                .fold(cell, |cell, location| cell.replace(location, ""))
                        })
                        .collect()
                })
                .collect();
            rows.sort();
            (table, rows)
        })
        .collect()
}

#[test]
fn the_sample_read_from_an_s3_bucket_gives_the_tables_read_from_disk() {
    let server = S3Server::start();
    upload_sample(&server);
    let dir = tempfile::tempdir().unwrap();
    // The same config, its inputs in the bucket (folders, a glob, single objects, and a
    // LiteLLM price file) and the server as the endpoint.
    let sample = root().join("sample-data");
    let prices = root().join("tests/fixtures/litellm_1.110.2_prices_slice.json");
    let store = bucket_store(&server);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let key = object_store::path::Path::from("prices/litellm.json");
        let bytes = std::fs::read(&prices).unwrap();
        store.put(&key, bytes.into()).await.unwrap();
    });
    let text = std::fs::read_to_string(sample.join("inferledger.toml")).unwrap();
    let remote = text.replace("path = \"", &format!("path = \"s3://{BUCKET}/"))
        + &format!(
            "\n[prices]\nfile = \"s3://{BUCKET}/prices/litellm.json\"\n\
             \n[storage]\nendpoint = \"{}\"\nregion = \"us-east-1\"\nallow_http = true\n",
            server.endpoint()
        );
    let remote_config = dir.path().join("remote.toml");
    std::fs::write(&remote_config, remote).unwrap();
    let local_config = write_config(
        dir.path(),
        &(sample_config_with_absolute_paths()
            + &format!("\n[prices]\nfile = \"{}\"\n", prices.display())),
    );
    // `validate` reads every input from the bucket, the GPU metrics included.
    let validated = Command::new(env!("CARGO_BIN_EXE_inferledger"))
        .args(["validate", "--config"])
        .arg(&remote_config)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    assert_ok(&validated);
    assert!(stdout(&validated).contains(&format!("s3://{BUCKET}/billing/cur_week.csv")));
    let (from_disk, from_bucket) = (dir.path().join("disk"), dir.path().join("bucket"));
    assert_ok(&run(&local_config, &from_disk, &["--quiet"]));
    assert_ok(&run_with_credentials(&remote_config, &from_bucket, &[]));
    let local_prefix = format!("{}/", sample.display());
    let bucket_prefix = format!("s3://{BUCKET}/");
    let locations = [local_prefix.as_str(), bucket_prefix.as_str()];
    let (disk_tables, bucket_tables) = (
        tables_without_locations(&from_disk, &locations),
        tables_without_locations(&from_bucket, &locations),
    );
    assert!(!disk_tables["requests"].is_empty());
    assert_same_tables(&bucket_tables, &disk_tables, "the bucket's run");
    // Every row read, from the bucket as from disk: the summaries' counts agree; and the
    // bucket's run did read objects.
    let (disk, bucket) = (summary(&from_disk), summary(&from_bucket));
    assert_eq!(disk["totals"], bucket["totals"]);
    // The price file was read from the bucket, every entry of it as from disk.
    assert_eq!(
        bucket["price_file"]["path"],
        format!("s3://{BUCKET}/prices/litellm.json")
    );
    assert_eq!(
        bucket["price_file"]["entries"],
        disk["price_file"]["entries"]
    );
    assert_ne!(bucket["price_file"]["entries"], 0);
    let read_files: Vec<String> = bucket["sources"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|source| source["files"].as_array().unwrap().clone())
        .map(|file| file["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(read_files.len(), 6, "{read_files:?}");
    assert!(
        read_files.iter().all(|f| f.starts_with(&bucket_prefix)),
        "{read_files:?}"
    );
    assert_eq!(
        bucket["billing"][0]["files"][0],
        format!("{bucket_prefix}billing/focus_aws_week.csv")
    );
    // A windowed rerun of one day reads the bucket again and gives the disk's rerun.
    let day = ["--from", "2026-11-18", "--to", "2026-11-18", "--quiet"];
    assert_ok(&run(&local_config, &from_disk, &day));
    assert_ok(&run_with_credentials(
        &remote_config,
        &from_bucket,
        &day[..4],
    ));
    let (disk_tables, bucket_tables) = (
        tables_without_locations(&from_disk, &locations),
        tables_without_locations(&from_bucket, &locations),
    );
    assert_same_tables(&bucket_tables, &disk_tables, "the bucket's rerun");
}

#[test]
fn a_missing_bucket_prefix_is_an_error_naming_the_url() {
    let server = S3Server::start();
    upload_sample(&server);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[[requests]]\npath = \"s3://{BUCKET}/no/such/prefix/\"\nformat = \"openai\"\n\n[storage]\nendpoint = \"{}\"\nallow_http = true\nregion = \"us-east-1\"\n",
            server.endpoint()
        ),
    );
    let output = run_with_credentials(&config, &dir.path().join("out"), &[]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains(&format!("s3://{BUCKET}/no/such/prefix/"))
            && message.contains("no input objects found"),
        "{message}"
    );
}

/// `inferledger ARGS` with the moto server in the environment (no config: the store's
/// variables alone).
fn with_server_env(server: &S3Server, args: &[&str]) -> Output {
    with_server_env_and(server, args, &[])
}

/// [`with_server_env`] with more environment variables.
fn with_server_env_and(server: &S3Server, args: &[&str], more: &[(&str, &str)]) -> Output {
    server_command(server, args)
        .envs(more.iter().copied())
        .output()
        .expect("the binary runs")
}

/// `inferledger ARGS` with the moto server in the environment, to run.
fn server_command(server: &S3Server, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_inferledger"));
    command
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", server.endpoint())
        .env("AWS_ALLOW_HTTP", "true")
        .env("RUST_BACKTRACE", "0");
    command
}

/// `inferledger sql` over `out` with the moto server in the environment.
fn sql_with_credentials(server: &S3Server, out: &str, query: &str) -> Output {
    with_server_env(server, &["sql", "--format", "csv", "--out", out, query])
}

#[test]
fn sql_queries_an_output_folder_synced_to_a_bucket_in_place() {
    let server = S3Server::start();
    upload_sample(&server);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sample_config_with_absolute_paths());
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &["--quiet"]));
    // What `aws s3 sync out/ s3://bucket/history/` would leave (hidden files aside).
    upload_folder(&server, &out, "history/");
    let remote = format!("s3://{BUCKET}/history/");
    let queries = [
        "SELECT date, COUNT(*) AS n, SUM(cost_usd) AS cost FROM requests GROUP BY date ORDER BY date",
        "SELECT team, SUM(cost_usd) AS cost FROM cost_attribution GROUP BY team ORDER BY team",
        "SELECT COUNT(*) FROM interactions",
        "SELECT rule, scope, est_monthly_savings_usd FROM recommendations ORDER BY rule, scope",
    ];
    for query in queries {
        let local = sql_csv(&out, query, &[]);
        assert_ok(&local);
        let in_bucket = sql_with_credentials(&server, &remote, query);
        assert_ok(&in_bucket);
        assert_eq!(stdout(&in_bucket), stdout(&local), "{query}");
    }
    // The FOCUS export reads the bucket as it reads the folder.
    let (local_csv, bucket_csv) = (dir.path().join("local.csv"), dir.path().join("bucket.csv"));
    let exported = inferledger(&[
        "export",
        "--focus",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--output",
        local_csv.to_str().unwrap(),
    ]);
    assert_ok(&exported);
    let exported = with_server_env(
        &server,
        &[
            "export",
            "--focus",
            "--quiet",
            "--out",
            &remote,
            "--output",
            bucket_csv.to_str().unwrap(),
        ],
    );
    assert_ok(&exported);
    assert_eq!(
        std::fs::read(&local_csv).unwrap(),
        std::fs::read(&bucket_csv).unwrap()
    );
    // `review` and `export` without --output, which write files into --out, refuse a bucket
    // (and leave no `s3:` folder behind).
    for args in [
        vec!["review", "--out", remote.as_str()],
        vec!["export", "--focus", "--out", remote.as_str()],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_inferledger"))
            .args(&args)
            .args(["--config"])
            .arg(&config)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(64),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("must be local"),
            "{}",
            stderr(&output)
        );
    }
    assert!(!dir.path().join("s3:").exists());
    // One day's query lists and reads that day's partition only.
    let plan = sql_with_credentials(
        &server,
        &remote,
        "EXPLAIN SELECT SUM(cost_usd) FROM requests WHERE date = '2026-11-18'",
    );
    assert_ok(&plan);
    let plan = stdout(&plan);
    assert!(plan.contains("date=2026-11-18"), "{plan}");
    assert!(!plan.contains("date=2026-11-17"), "{plan}");
}

/// A store client for the test's bucket.
fn bucket_store(server: &S3Server) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(BUCKET)
        .with_endpoint(server.endpoint())
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap()
}

/// Every object key under `prefix`, sorted.
fn keys_under(server: &S3Server, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    use object_store::ObjectStore;
    let store = bucket_store(server);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut keys: Vec<String> = runtime.block_on(async {
        let prefix = object_store::path::Path::from(prefix);
        store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .unwrap()
    });
    keys.sort();
    keys
}

/// The latest run whose manifest is under `history/_runs/`.
fn latest_run(server: &S3Server) -> String {
    keys_under(server, "history/_runs/")
        .last()
        .expect("a run manifest")
        .rsplit('/')
        .next()
        .unwrap()
        .trim_end_matches(".json")
        .to_string()
}

/// Downloads the objects under `prefix` into `folder`, at their paths below `prefix`.
fn download(server: &S3Server, prefix: &str, folder: &Path) {
    let store = bucket_store(server);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for key in keys_under(server, prefix) {
        let bytes = runtime.block_on(async {
            let path = object_store::path::Path::from(key.as_str());
            store.get(&path).await.unwrap().bytes().await.unwrap()
        });
        let target = folder.join(key.strip_prefix(prefix).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
}

/// A run with `--out` on the bucket: the whole sample, then the nightly rerun of one day,
/// publish exactly the tables the same runs publish into a local folder (Delta tables,
/// compared row for row after downloading the folder); a run killed halfway through its
/// commits changes nothing a reader sees; the next run restores what the killed one
/// committed and publishes.
#[cfg_attr(
    not(feature = "test-hooks"),
    ignore = "needs the test hooks: --features test-hooks (make test)"
)]
#[test]
fn runs_publish_into_a_bucket_what_they_publish_into_a_folder_and_atomically() {
    let server = S3Server::with_empty_bucket();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sample_config_with_absolute_paths());
    let config_text = config.to_str().unwrap();
    let local = dir.path().join("out");
    let remote = format!("s3://{BUCKET}/history/");
    let night = ["--from", "2026-11-18", "--to", "2026-11-18"];
    for extra in [&[][..], &night[..]] {
        assert_ok(&run(&config, &local, &[&["--quiet"][..], extra].concat()));
        let args = [
            &["run", "--quiet", "--config", config_text, "--out", &remote][..],
            extra,
        ]
        .concat();
        assert_ok(&with_server_env(&server, &args));
    }
    let published = dir.path().join("published");
    download(&server, "history/", &published);
    let expected = tables(&local);
    assert!(expected["requests"].len() > 4000, "the sample's requests");
    assert_same_tables(&tables(&published), &expected, "the bucket's tables");
    // Readers of the bucket see the same.
    let query = "SELECT date, COUNT(*) AS n, SUM(cost_usd) AS cost FROM requests GROUP BY date ORDER BY date";
    let before = sql_with_credentials(&server, &remote, query);
    assert_ok(&before);
    let from_local = sql_csv(&local, query, &[]);
    assert_eq!(stdout(&before), stdout(&from_local));
    let published_run = latest_run(&server);

    let args = [
        "run",
        "--quiet",
        "--config",
        config_text,
        "--out",
        &remote,
        "--from",
        "2026-11-17",
        "--to",
        "2026-11-17",
    ];
    // Killed at several steps in turn (before anything, after some files and commits,
    // after most): each time the latest run and every answer stay as they were.
    for step in ["0", "40", "90"] {
        let killed =
            with_server_env_and(&server, &args, &[(inferledger::publish::CRASH_ENV, step)]);
        assert!(
            !killed.status.success(),
            "the run was to be killed at {step}"
        );
        assert_eq!(latest_run(&server), published_run, "killed at {step}");
        let after_kill = sql_with_credentials(&server, &remote, query);
        assert_eq!(stdout(&after_kill), stdout(&before), "killed at {step}");
    }

    // The same night run again: published on top of the restored tables.
    assert_ok(&with_server_env(&server, &args));
    let newest = latest_run(&server);
    assert_ne!(newest, published_run);
    // Rerunning a day that the history already holds changes nothing.
    let after_rerun = sql_with_credentials(&server, &remote, query);
    assert_eq!(stdout(&after_rerun), stdout(&before));

    // An output folder inside an input prefix is refused: the next run would read it.
    std::fs::create_dir_all(dir.path().join("inside")).unwrap();
    let inside = write_config(
        &dir.path().join("inside"),
        &format!("[[requests]]\npath = \"s3://{BUCKET}/\"\nformat = \"openai\"\n"),
    );
    let refused = with_server_env(
        &server,
        &[
            "run",
            "--quiet",
            "--config",
            inside.to_str().unwrap(),
            "--out",
            &remote,
        ],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("is inside the input [[requests]]"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(latest_run(&server), newest);
}

/// Whether the bucket holds an object at `key`.
fn object_exists(server: &S3Server, key: &str) -> bool {
    let store = bucket_store(server);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(store.head(&object_store::path::Path::from(key)))
        .is_ok()
}

/// Copies every object under `from` to `to` inside the bucket (server-side).
fn copy_prefix(server: &S3Server, from: &str, to: &str) {
    let store = bucket_store(server);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for key in keys_under(server, from) {
        let target = format!("{to}{}", key.strip_prefix(from).unwrap());
        runtime.block_on(async {
            store
                .copy(
                    &object_store::path::Path::from(key.as_str()),
                    &object_store::path::Path::from(target.as_str()),
                )
                .await
                .unwrap()
        });
    }
}

/// A run into a bucket killed after each step of its publication in turn (each upload of
/// a file into a table, each commit, the manifest, each of the run's files; the process
/// aborts there, as kill -9 would). Run A published two days; run B adds a request a day.
/// After each kill: `sql` through S3 sees exactly run A (killed before B's manifest) or
/// exactly run B (after); the latest manifest names versions every table has in the
/// bucket; the bucket's tables, downloaded, hold one run's rows table for row, read by us
/// and by two Delta readers that are not ours; and (every tenth kill) the next run
/// publishes run B.
#[cfg_attr(
    not(feature = "test-hooks"),
    ignore = "needs the test hooks: --features test-hooks (make test)"
)]
#[test]
fn a_run_into_a_bucket_killed_at_each_publication_step_leaves_one_whole_run() {
    let server = S3Server::with_empty_bucket();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let write_logs = |extra: bool| write_two_days_of_logs(&logs, extra);
    let config = write_config(
        dir.path(),
        "[[requests]]\nname = \"logs\"\npath = \"logs\"\nformat = \"openai\"\n",
    );
    let url = |prefix: &str| format!("s3://{BUCKET}/{prefix}/");
    let run_into = |prefix: &str, crash_after: Option<usize>| {
        let out = url(prefix);
        let args = [
            "run",
            "--quiet",
            "--config",
            config.to_str().unwrap(),
            "--out",
            &out,
        ];
        match crash_after {
            Some(step) => with_server_env_and(
                &server,
                &args,
                &[(inferledger::publish::CRASH_ENV, &step.to_string())],
            ),
            None => with_server_env(&server, &args),
        }
    };
    // Every table's rows and the API total, in one query through S3.
    let counts: String = inferledger::analyze::published_steps()
        .map(|s| format!("SELECT '{0}' AS t, COUNT(*) AS n FROM {0}", s.table))
        .chain([
            "SELECT 'cost' AS t, CAST(SUM(cost_usd) * 1e9 AS BIGINT) AS n FROM requests"
                .to_string(),
        ])
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
        + " ORDER BY t";
    let seen_through_s3 = |prefix: &str| {
        let answer = sql_with_credentials(&server, &url(prefix), &counts);
        assert_ok(&answer);
        stdout(&answer)
    };
    let downloaded = |prefix: &str| {
        let local = dir.path().join(prefix);
        download(&server, &format!("{prefix}/"), &local);
        local
    };
    write_logs(false);
    assert_ok(&run_into("a", None));
    let (counts_a, tables_a) = (seen_through_s3("a"), tables(&downloaded("a")));
    write_logs(true);
    assert_ok(&run_into("b", None));
    let (counts_b, tables_b) = (seen_through_s3("b"), tables(&downloaded("b")));
    assert_ne!(counts_a, counts_b);
    assert_eq!(tables_b["requests"].len(), 4);

    let mut killed_folders = Vec::new();
    let (mut saw_a, mut saw_b) = (0, 0);
    for step in 0.. {
        let prefix = format!("kill{step}");
        copy_prefix(&server, "a/", &format!("{prefix}/"));
        if run_into(&prefix, Some(step)).status.success() {
            // Past the last step: the run published whole.
            assert_eq!(seen_through_s3(&prefix), counts_b);
            break;
        }
        let runs = keys_under(&server, &format!("{prefix}/_runs/"));
        let local = downloaded(&prefix);
        if runs.len() == 1 {
            assert_eq!(seen_through_s3(&prefix), counts_a, "step {step}: run A");
            assert_eq!(tables(&local), tables_a, "step {step}: run A");
            saw_a += 1;
        } else {
            assert_eq!(seen_through_s3(&prefix), counts_b, "step {step}: run B");
            assert_eq!(tables(&local), tables_b, "step {step}: run B");
            saw_b += 1;
        }
        // The latest manifest names versions every table has in the bucket.
        let manifest = latest_manifest(&local);
        for (table, version) in manifest["tables"].as_object().unwrap() {
            let entry = format!(
                "{prefix}/{table}/_delta_log/{:020}.json",
                version.as_u64().unwrap()
            );
            assert!(
                object_exists(&server, &entry),
                "step {step}: {entry} is missing"
            );
        }
        killed_folders.push(local);
        if step % 10 == 0 {
            assert_ok(&run_into(&prefix, None));
            assert_eq!(
                seen_through_s3(&prefix),
                counts_b,
                "step {step}: the next run"
            );
        }
    }
    assert!(
        saw_a > 40 && saw_b >= 1,
        "every upload and commit is a step: {saw_a} kills before the manifest, {saw_b} after"
    );
    // What each kill left, read by DuckDB's delta extension and the `deltalake` package:
    // every table at run A's rows or run B's.
    crate::delta::assert_each_table_at_one_run(&killed_folders, &tables_a, &tables_b);
}

/// Two runs publishing into one bucket folder at once: the one that commits second fails,
/// saying so, and writes no manifest; the first one's run stays the latest.
#[cfg_attr(
    not(feature = "test-hooks"),
    ignore = "needs the test hooks: --features test-hooks (make test)"
)]
#[test]
fn of_two_runs_publishing_at_once_the_later_fails_and_changes_nothing() {
    let server = S3Server::with_empty_bucket();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sample_config_with_absolute_paths());
    let remote = format!("s3://{BUCKET}/history/");
    let args = |day: &str| {
        [
            "run",
            "--quiet",
            "--config",
            config.to_str().unwrap(),
            "--out",
            &remote,
            "--from",
            day,
            "--to",
            day,
        ]
        .map(str::to_string)
    };
    assert_ok(&with_server_env(
        &server,
        &args("2026-11-16").each_ref().map(String::as_str),
    ));
    let first = latest_run(&server);
    // Run A reads the latest manifest, does its work, and waits before publishing.
    let hold = dir.path().join("go");
    let waiting = dir.path().join("go.waiting");
    let slow_args = args("2026-11-17");
    let slow = server_command(&server, &slow_args.each_ref().map(String::as_str))
        .env(inferledger::publish::HOLD_ENV, &hold)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !waiting.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "run A never got to its publication"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Run B publishes meanwhile.
    assert_ok(&with_server_env(
        &server,
        &args("2026-11-18").each_ref().map(String::as_str),
    ));
    let second = latest_run(&server);
    assert_ne!(second, first);
    std::fs::write(&hold, b"").unwrap();
    let slow = slow.wait_with_output().unwrap();
    assert!(!slow.status.success(), "run A must fail");
    assert!(
        stderr(&slow).contains("another run published"),
        "{}",
        stderr(&slow)
    );
    // Run B's run stays the latest, and its tables are what readers see.
    assert_eq!(latest_run(&server), second);
    let runs = keys_under(&server, "history/_runs/");
    assert_eq!(runs.len(), 2, "{runs:?}");
}

/// A scheduler and two executors with the moto server's variables (logs in `work`).
#[cfg(feature = "cluster")]
fn cluster_with_server_env(server: &S3Server, work: &Path) -> crate::cluster::Cluster {
    let endpoint = server.endpoint();
    let env = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    crate::cluster::Cluster::start_with_env(work, 2, &env)
}

/// `sql --cluster` over an output folder on object storage: the executors read the bucket
/// (with the store's variables) and answer as `sql` in-process does.
#[cfg(feature = "cluster")]
#[test]
fn a_cluster_queries_an_output_folder_in_a_bucket() {
    let server = S3Server::with_empty_bucket();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sample_config_with_absolute_paths());
    let remote = format!("s3://{BUCKET}/history/");
    let args = [
        "run",
        "--quiet",
        "--config",
        config.to_str().unwrap(),
        "--out",
        &remote,
    ];
    assert_ok(&with_server_env(&server, &args));
    let cluster = cluster_with_server_env(&server, dir.path());
    let query = "SELECT team, model, COUNT(*) AS n, SUM(cost_usd) AS cost FROM requests \
                 GROUP BY team, model ORDER BY team, model";
    let in_process = sql_with_credentials(&server, &remote, query);
    assert_ok(&in_process);
    let url = cluster.url();
    let on_cluster = with_server_env(
        &server,
        &[
            "sql",
            "--format",
            "csv",
            "--cluster",
            &url,
            "--out",
            &remote,
            query,
        ],
    );
    assert_ok(&on_cluster);
    assert!(stdout(&in_process).lines().count() > 2);
    assert_eq!(stdout(&on_cluster), stdout(&in_process));
    // The executors did the reading.
    assert!(
        (0..2).any(|n| crate::cluster::ran_tasks(dir.path(), n)),
        "no executor ran a task"
    );
}

/// `run --cluster` with everything on object storage, as on a cluster of machines that
/// share only a bucket: the logs, bills and metrics in the bucket, `--out` in the bucket.
/// The executors read the logs from the bucket and the run's staged folders from their
/// copy in the bucket (the client stages in its temporary folder, which executors on
/// other machines would not see: no plan the scheduler was given names it), and the run
/// publishes the tables the same run publishes in-process; the copy is gone afterwards.
#[cfg(feature = "cluster")]
#[cfg_attr(
    not(feature = "test-hooks"),
    ignore = "needs the test hooks: --features test-hooks (make test)"
)]
#[test]
fn a_run_on_a_cluster_with_its_inputs_and_output_in_a_bucket_reads_nothing_from_the_client_s_disk()
{
    let server = S3Server::start();
    upload_sample(&server);
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(root().join("sample-data").join("inferledger.toml")).unwrap();
    let config = dir.path().join("remote.toml");
    std::fs::write(
        &config,
        text.replace("path = \"", &format!("path = \"s3://{BUCKET}/")),
    )
    .unwrap();
    let cluster = cluster_with_server_env(&server, dir.path());
    let url = cluster.url();
    // The client's temporary folder, where it stages.
    let client_tmp = dir.path().join("client-tmp");
    std::fs::create_dir(&client_tmp).unwrap();
    let remote_out = format!("s3://{BUCKET}/history/");
    let config_arg = config.to_str().unwrap();
    let on_cluster = with_server_env_and(
        &server,
        &[
            "run",
            "--quiet",
            "--config",
            config_arg,
            "--out",
            &remote_out,
            "--cluster",
            &url,
        ],
        &[
            ("TMPDIR", client_tmp.to_str().unwrap()),
            // The logs in parts, so that both executors read some.
            ("INFERLEDGER_SPLIT_BYTES", "20000"),
        ],
    );
    assert_ok(&on_cluster);
    let in_process = dir.path().join("in-process");
    assert_ok(&with_server_env(
        &server,
        &[
            "run",
            "--quiet",
            "--config",
            config_arg,
            "--out",
            in_process.to_str().unwrap(),
        ],
    ));
    let published = dir.path().join("published");
    download(&server, "history/", &published);
    assert_same_tables(&tables(&published), &tables(&in_process), "the cluster run");
    assert_eq!(
        summary(&published)["totals"],
        summary(&in_process)["totals"]
    );
    assert_eq!(summary(&published)["totals"]["cost_usd"], "2164.86982658");
    // Every scan the scheduler planned read the bucket: the staged inputs and the steps'
    // tables from the copy, never from the client's temporary folder.
    let plans = std::fs::read_to_string(dir.path().join("scheduler.log")).unwrap();
    let client_folder = client_tmp.to_string_lossy();
    assert!(!plans.contains(client_folder.trim_start_matches('/')));
    assert!(plans.contains("_staging/staging-"), "no scan of the copy");
    assert!(
        plans.contains("input/requests_staged"),
        "no scan of the staged requests"
    );
    for n in 0..2 {
        assert!(
            crate::cluster::read_logs(dir.path(), n),
            "executor {n} read no request log"
        );
    }
    // The copy is gone.
    assert!(keys_under(&server, "history/_staging/").is_empty());
}

/// A bucket folder the previous version published into (`versions/<v>/` and
/// `_current.json` naming it) is converted in place by the first run of this version:
/// every row of the current version is kept, the old layout is gone, and the night's rows
/// are added beside them.
#[test]
fn a_bucket_folder_of_the_previous_version_is_converted_in_place() {
    let server = S3Server::with_empty_bucket();
    let fixture = root().join("tests/fixtures/legacy_output");
    // What the previous version left: the current version's objects, and the pointer.
    upload_folder(&server, &fixture.join("out"), "history/versions/v1/");
    let store = bucket_store(&server);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let pointer = br#"{"version":"v1","published_at":"2026-11-18T02:30:00Z","first_day":"2026-11-16","last_day":"2026-11-17"}"#;
        store
            .put(
                &object_store::path::Path::from("history/_current.json"),
                pointer.to_vec().into(),
            )
            .await
            .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    // The night of 2026-11-18: a3 = 500×0.15 + 11×0.6 = 81.6 µ$ (gpt-4o-mini).
    std::fs::write(
        dir.path().join("logs/log.jsonl"),
        openai_line("a3", 1_794_960_000, 500, 0, 11),
    )
    .unwrap();
    let config = write_config(
        dir.path(),
        "[[requests]]\nname = \"logs\"\npath = \"logs\"\nformat = \"openai\"\n",
    );
    let remote = format!("s3://{BUCKET}/history/");
    let converted = with_server_env(
        &server,
        &[
            "run",
            "--quiet",
            "--config",
            config.to_str().unwrap(),
            "--out",
            &remote,
            "--from",
            "2026-11-18",
            "--to",
            "2026-11-18",
        ],
    );
    assert_ok(&converted);
    assert!(
        stderr(&converted).contains("converted"),
        "{}",
        stderr(&converted)
    );
    // The costs the previous version's `sql` gave, and the night's.
    let costs = sql_with_credentials(
        &server,
        &remote,
        "SELECT request_id, date, cost_usd FROM requests ORDER BY request_id",
    );
    assert_ok(&costs);
    assert_eq!(
        stdout(&costs),
        "request_id,date,cost_usd\n\
         a1,2026-11-16,0.000017250000\n\
         a2,2026-11-17,0.000050400000\n\
         a3,2026-11-18,0.000081600000\n\
         b1,2026-11-16,0.000267000000\n"
    );
    assert!(keys_under(&server, "history/versions/").is_empty());
    assert!(keys_under(&server, "history/_current.json").is_empty());
    assert!(!keys_under(&server, "history/requests/_delta_log/").is_empty());
}
