//! Shared helpers: run the real binary, write configs and inputs into temporary folders,
//! read a run's tables back with SQL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

/// The project's root folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the built `inferledger` binary with arguments, from the project root.
pub fn inferledger(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inferledger"))
        .args(args)
        .current_dir(root())
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the binary runs")
}

/// stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts success, showing stderr otherwise.
pub fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstderr:\n{}\nstdout:\n{}",
        output.status.code(),
        stderr(output),
        stdout(output)
    );
}

/// Runs `inferledger run` on a config into an output folder.
pub fn run(config: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    inferledger(&args)
}

/// The run summary of an output folder.
pub fn summary(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("run_summary.json")).expect("run_summary.json");
    serde_json::from_str(&text).expect("valid JSON")
}

/// Asserts that every `[[provider_usage]]` source of a run summary accounts for every
/// result it read: kept, quarantined, repeated, superseded or outside the window.
pub fn assert_provider_usage_reconciles(summary: &serde_json::Value, what: &str) {
    for source in summary["provider_usage"].as_array().unwrap() {
        let n = |k: &str| source[k].as_u64().unwrap();
        assert_eq!(
            n("rows_read"),
            n("rows_kept")
                + n("rows_quarantined")
                + n("rows_duplicate")
                + n("rows_superseded")
                + n("rows_outside_window"),
            "{what}: {source}"
        );
    }
}

/// Runs one query over a finished run; every cell as text (NULL as "NULL").
pub fn query(out: &Path, sql: &str) -> Vec<Vec<String>> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let results = runtime
        .block_on(inferledger::commands::sql::query(out, sql))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    cells(&results[0])
}

/// `sql` over one Parquet file, registered as `t`, as rows of text cells.
pub fn parquet_query(file: &Path, sql: &str) -> Vec<Vec<String>> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_parquet(
            "t",
            file.to_str().unwrap(),
            datafusion::prelude::ParquetReadOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        cells(&batches)
    })
}

/// Batches as rows of text cells.
pub fn cells(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    rows
}

/// One cell of a one-row query.
pub fn scalar(out: &Path, sql: &str) -> String {
    let rows = query(out, sql);
    assert_eq!(rows.len(), 1, "{sql} gave {rows:?}");
    rows[0][0].clone()
}

/// Every file below a folder with its size, sorted: a fingerprint of an output folder
/// (the lock file, which names the last run that held the folder, is not output).
pub fn listing(dir: &Path) -> Vec<(String, u64)> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, u64)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .is_some_and(|n| n == inferledger::publish::output::LOCK_FILE)
            {
                continue;
            }
            if path.is_dir() {
                walk(&path, base, out);
            } else {
                let size = std::fs::metadata(&path).unwrap().len();
                out.push((path.strip_prefix(base).unwrap().display().to_string(), size));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Writes a config file into `dir` and returns its path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("inferledger.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The sample's config with every input path made absolute, for a config written
/// elsewhere.
pub fn sample_config_with_absolute_paths() -> String {
    let sample = root().join("sample-data");
    std::fs::read_to_string(sample.join("inferledger.toml"))
        .unwrap()
        .replace("path = \"", &format!("path = \"{}/", sample.display()))
}

/// One OpenAI chat completion line with the given id, time (epoch s) and token counts.
pub fn openai_line(id: &str, created: i64, prompt: i64, cached: i64, completion: i64) -> String {
    format!(
        r#"{{"id":"{id}","object":"chat.completion","created":{created},"model":"gpt-4o-mini","usage":{{"prompt_tokens":{prompt},"completion_tokens":{completion},"prompt_tokens_details":{{"cached_tokens":{cached}}}}},"metadata":{{"team":"t","feature":"f","user_id":"u"}}}}"#
    )
}

/// Writes `logs/log.jsonl` for the kill-at-every-step tests: run A's one request a day on
/// 2026-11-16 and 17, and with `extra` run B's second request each day.
pub fn write_two_days_of_logs(logs: &Path, extra: bool) {
    let mut lines = Vec::new();
    for (day, created) in [(1, 1_794_787_200), (2, 1_794_873_600)] {
        lines.push(openai_line(&format!("a{day}"), created, 100, 10, 5));
        if extra {
            lines.push(openai_line(&format!("b{day}"), created + 60, 200, 0, 7));
        }
    }
    std::fs::write(logs.join("log.jsonl"), lines.join("\n")).unwrap();
}

/// A virtual environment `root()/<name>` with the pinned `packages` installed from PyPI on
/// first use (one install at a time: tests start in parallel); returns its folder.
pub fn pinned_venv(name: &str, packages: &[&str]) -> PathBuf {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _installing = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let venv = root().join(name);
    let ready = venv.join("installed");
    if !ready.exists() {
        let made = std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs");
        assert!(made.success(), "python3 -m venv {} failed", venv.display());
        let installed = std::process::Command::new(venv.join("bin/pip"))
            .args(["install", "-q"])
            .args(packages)
            .status()
            .expect("pip runs");
        assert!(
            installed.success(),
            "pip install {packages:?} failed (PyPI reachable?)"
        );
        std::fs::write(&ready, b"").unwrap();
    }
    venv
}

/// Every published table of an output folder, each as sorted rows of text cells.
pub fn tables(out: &Path) -> BTreeMap<String, Vec<Vec<String>>> {
    // One session (one read of the run manifest and the Delta logs) for every table.
    let names: Vec<&str> = inferledger::analyze::published_steps()
        .map(|s| s.table)
        .collect();
    let statements: String = names
        .iter()
        .map(|t| format!("SELECT * FROM {t};"))
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let results = runtime
        .block_on(inferledger::commands::sql::query(out, &statements))
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    assert_eq!(results.len(), names.len(), "one result per table");
    names
        .iter()
        .zip(results)
        .map(|(table, batches)| {
            let mut rows = cells(&batches);
            rows.sort();
            (table.to_string(), rows)
        })
        .collect()
}

/// The same tables row for row: exact (money is decimal), but for floating-point ratios,
/// which DataFusion sums in the order partitions finish (a bucket's reads, or another
/// plan's, finish in another order) and which agree to 12 significant digits.
pub fn assert_same_tables(
    seen: &BTreeMap<String, Vec<Vec<String>>>,
    expected: &BTreeMap<String, Vec<Vec<String>>>,
    what: &str,
) {
    for (table, rows) in expected {
        assert_eq!(seen[table].len(), rows.len(), "{what}: {table}");
        for (a, b) in seen[table].iter().zip(rows) {
            for (x, y) in a.iter().zip(b) {
                let close = match (x.parse::<f64>(), y.parse::<f64>()) {
                    (Ok(p), Ok(q)) if x.contains('.') => {
                        p == q || (p - q).abs() <= 1e-12 * p.abs().max(q.abs())
                    }
                    _ => x == y,
                };
                assert!(close, "{what}: {table}: {x} against {y} in {a:?}");
            }
        }
    }
}

/// Every file under `out` except those of one day's partitions, with its bytes.
pub fn files_outside(out: &Path, date: &str) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, skip: &str, found: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // The log grows with every commit; the day's files are what a run may touch.
            if name == skip || name.starts_with(".staging") || name == "_delta_log" {
                continue;
            }
            if path.is_dir() {
                walk(&path, skip, found);
            } else {
                found.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut found = BTreeMap::new();
    for step in inferledger::analyze::published_steps().filter(|s| s.partitioned) {
        let dir = out.join(step.table);
        if dir.is_dir() {
            walk(&dir, &format!("date={date}"), &mut found);
        }
    }
    found
}

/// The latest run manifest of a local output folder (`_runs/<run>.json`).
pub fn latest_manifest(out: &Path) -> serde_json::Value {
    let mut names: Vec<PathBuf> = std::fs::read_dir(out.join("_runs"))
        .expect("_runs/")
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let text = std::fs::read_to_string(names.last().expect("a manifest")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `inferledger sql --format csv --out OUT [EXTRA…] QUERY`, in-process.
pub fn sql_csv(out: &Path, query: &str, extra: &[&str]) -> Output {
    let out = out.to_str().unwrap();
    let args = [
        &["sql", "--format", "csv", "--out", out][..],
        extra,
        &[query],
    ]
    .concat();
    inferledger(&args)
}
