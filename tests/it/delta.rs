//! The published tables as Delta Lake tables: read by Delta readers that are not ours
//! (DuckDB's delta extension, the Python `deltalake` package), the history of runs and
//! restatements (`history`, `sql --as-of`, the report's restated section), retention, a
//! publication that fails, the conversion of a folder the previous version wrote, and
//! outputs refused among the tables.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::*;

/// DuckDB with its delta extension and the `deltalake` package, pinned, installed into
/// `.venv-delta/` on first use; its python.
fn delta_readers_python() -> PathBuf {
    pinned_venv(
        ".venv-delta",
        &[
            "duckdb==1.4.4",
            "duckdb-ext-delta==1.4.4.20260205",
            "deltalake==1.6.6",
            "arro3-core==0.9.1",
        ],
    )
    .join("bin/python")
}

/// Each table's row count and `expression`, as DuckDB and `deltalake` compute them over
/// the table's latest version: `{table: {"duckdb": [rows, value], "deltalake": [rows,
/// value], "version": v}}`.
pub fn read_with_delta_readers(out: &Path, tables: &[(&str, &str)]) -> serde_json::Value {
    let key = out.to_str().unwrap();
    read_folders_with_delta_readers(&[out], tables)[key].clone()
}

/// [`read_with_delta_readers`] over many folders in one Python process:
/// `{folder: {table: …}}`.
pub fn read_folders_with_delta_readers(
    folders: &[&Path],
    tables: &[(&str, &str)],
) -> serde_json::Value {
    let mut command = Command::new(delta_readers_python());
    command
        .arg(root().join("tests/delta/read_tables.py"))
        .args(folders)
        .arg("--");
    for (table, expression) in tables {
        command.arg(format!("{table}:{expression}"));
    }
    let output = command.output().expect("python runs");
    assert_ok(&output);
    serde_json::from_str(&stdout(&output)).unwrap()
}

/// Reads every folder a kill left with DuckDB's delta extension and the `deltalake`
/// package (in one process) and asserts each published table holds run A's row count or
/// run B's, never a torn table.
pub fn assert_each_table_at_one_run(
    folders: &[std::path::PathBuf],
    tables_a: &std::collections::BTreeMap<String, Vec<Vec<String>>>,
    tables_b: &std::collections::BTreeMap<String, Vec<Vec<String>>>,
) {
    let asked: Vec<(&str, &str)> = inferledger::analyze::published_steps()
        .map(|s| (s.table, "COUNT(*)"))
        .collect();
    let paths: Vec<&Path> = folders.iter().map(|p| p.as_path()).collect();
    let read = read_folders_with_delta_readers(&paths, &asked);
    for folder in folders {
        let read = &read[folder.to_str().unwrap()];
        for (table, _) in &asked {
            let (a, b) = (tables_a[*table].len(), tables_b[*table].len());
            for reader in ["duckdb", "deltalake"] {
                let seen: usize = read[table][reader][0].as_str().unwrap().parse().unwrap();
                assert!(
                    seen == a || seen == b,
                    "{}: {reader} read {seen} rows of {table}",
                    folder.display()
                );
            }
        }
    }
}

/// A decimal's text, normalised (readers print different numbers of trailing zeros).
fn decimal(text: &str) -> rust_decimal::Decimal {
    text.parse::<rust_decimal::Decimal>()
        .map(|d| d.normalize())
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn delta_readers_that_are_not_ours_read_every_table_with_the_totals_sql_gives() {
    // The sample, then a nightly rerun of one day (the tables then hold files that a
    // version removed: a reader of the Delta log must skip them).
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sample_config_with_absolute_paths());
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &["--quiet"]));
    assert_ok(&run(
        &config,
        &out,
        &["--quiet", "--from", "2026-11-18", "--to", "2026-11-18"],
    ));
    let money = [
        ("requests", "SUM(cost_usd)"),
        ("interactions", "SUM(cost_usd)"),
        ("cost_attribution", "SUM(total_cost_usd)"),
        ("gpu_cost_attribution", "SUM(gpu_cost_usd)"),
        ("gpu_billing_hourly", "SUM(cost_usd)"),
        ("hourly_utilization", "SUM(idle_cost_usd)"),
        ("cache_hit_ratio", "SUM(cache_saved_usd)"),
        ("cache_opportunity", "SUM(gap_usd)"),
        ("recommendations", "SUM(est_monthly_savings_usd)"),
        ("selfhost_breakeven", "SUM(monthly_api_cost_usd)"),
    ];
    let mut asked: Vec<(&str, &str)> = money.to_vec();
    let counted: Vec<&str> = inferledger::analyze::published_steps()
        .map(|s| s.table)
        .chain(["quarantine"])
        .filter(|t| !money.iter().any(|(m, _)| m == t))
        .collect();
    asked.extend(counted.iter().map(|t| (*t, "COUNT(*)")));
    let read = read_with_delta_readers(&out, &asked);
    for (table, expression) in asked {
        let ours_rows = scalar(&out, &format!("SELECT COUNT(*) FROM {table}"));
        let ours = scalar(&out, &format!("SELECT {expression} FROM {table}"));
        for reader in ["duckdb", "deltalake"] {
            let theirs = &read[table][reader];
            assert_eq!(
                theirs[0].as_str().unwrap(),
                ours_rows,
                "{reader}: rows of {table}"
            );
            match (theirs[1].as_str(), ours.as_str()) {
                (None, "NULL") => {}
                (Some(value), ours) => assert_eq!(
                    decimal(value),
                    decimal(ours),
                    "{reader}: {expression} of {table}"
                ),
                (None, ours) => panic!("{reader}: {table} {expression} NULL, ours {ours}"),
            }
        }
    }
    // The sample's API total, known since the first session, whichever reader sums it.
    assert_eq!(
        decimal(read["requests"]["duckdb"][1].as_str().unwrap()),
        decimal("2164.86982658")
    );
}

/// Three OpenAI requests over two days and a config reading them; returns (dir, config,
/// logs file).
fn two_days() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let file = logs.join("log.jsonl");
    std::fs::write(
        &file,
        [
            openai_line("a1", 1_794_787_200, 100, 10, 5),
            openai_line("b1", 1_794_787_260, 2000, 1000, 70),
            openai_line("a2", 1_794_873_600, 300, 0, 9),
        ]
        .join("\n"),
    )
    .unwrap();
    let config = write_config(
        dir.path(),
        "[[requests]]\nname = \"logs\"\npath = \"logs\"\nformat = \"openai\"\n",
    );
    (dir, config, file)
}

#[test]
fn a_restated_night_shows_in_history_as_of_and_the_report() {
    let (dir, config, file) = two_days();
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &["--quiet"]));
    let first_run = latest_manifest(&out)["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    // gpt-4o-mini: $0.15/M input, $0.075/M cached, $0.60/M output. Day 1 (2026-11-16):
    // a1 = 90×0.15 + 10×0.075 + 5×0.6 = 17.25 µ$; b1 = 1000×0.15 + 1000×0.075 + 70×0.6 =
    // 267 µ$; together $0.00028425.
    let day_one = "SELECT SUM(cost_usd) FROM requests WHERE date = '2026-11-16'";
    assert_eq!(decimal(&scalar(&out, day_one)), decimal("0.00028425"));
    // A late log line for day 1: c1 = 400×0.15 + 20×0.6 = 72 µ$. The nightly rerun of day
    // 1 restates it: $0.00035625.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push('\n');
    text.push_str(&openai_line("c1", 1_794_790_800, 400, 0, 20));
    std::fs::write(&file, text).unwrap();
    assert_ok(&run(
        &config,
        &out,
        &["--quiet", "--from", "2026-11-16", "--to", "2026-11-16"],
    ));
    assert_eq!(decimal(&scalar(&out, day_one)), decimal("0.00035625"));
    // The report says what changed.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("## Restated since the last run"),
        "{report}"
    );
    assert!(
        report.contains("| 2026-11-16 | requests.cost\\_usd | 0.00028425 | 0.00035625 |"),
        "{report}"
    );
    assert!(
        report.contains("| 2026-11-16 | requests.rows | 2 | 3 |"),
        "{report}"
    );
    // The manifest and `history` too.
    let manifest = latest_manifest(&out);
    assert_eq!(manifest["window"][0], "2026-11-16");
    assert_eq!(manifest["restated"].as_array().unwrap().len(), 2);
    let history = inferledger(&["history", "--out", out.to_str().unwrap()]);
    assert_ok(&history);
    let listed = stdout(&history);
    assert!(listed.contains(&first_run), "{listed}");
    assert!(
        listed.contains("restated 2026-11-16 requests.cost_usd: 0.00028425 -> 0.00035625"),
        "{listed}"
    );
    let json = inferledger(&["history", "--json", "--out", out.to_str().unwrap()]);
    assert_eq!(stdout(&json).lines().count(), 2);
    // `--as-of` the first run (by a prefix of its id, or by a time before the second
    // run) reads the tables as it left them.
    let as_of = |at: &str| {
        let output = sql_csv(&out, day_one, &["--as-of", at]);
        assert_ok(&output);
        decimal(stdout(&output).lines().nth(1).unwrap())
    };
    assert_eq!(as_of(&first_run[..20]), decimal("0.00028425"));
    let first_finished = latest_manifest_of(&out, &first_run)["finished_at"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(as_of(&first_finished), decimal("0.00028425"));
    // A run that does not exist: exit 64, naming what there is.
    let missing = sql_csv(&out, day_one, &["--as-of", "19990101"]);
    assert_eq!(missing.status.code(), Some(64), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("inferledger history"),
        "{}",
        stderr(&missing)
    );
    // A rerun with nothing new restates nothing.
    assert_ok(&run(
        &config,
        &out,
        &["--quiet", "--from", "2026-11-16", "--to", "2026-11-16"],
    ));
    assert!(
        latest_manifest(&out)["restated"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(!report.contains("Restated since the last run"));
}

/// The manifest of run `run_id`.
fn latest_manifest_of(out: &Path, run_id: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("_runs").join(format!("{run_id}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn keep_runs_drops_older_runs_and_the_files_only_they_needed() {
    let (dir, config, _) = two_days();
    std::fs::write(
        &config,
        "[[requests]]\nname = \"logs\"\npath = \"logs\"\nformat = \"openai\"\n[run]\nkeep_runs = 2\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let day = ["--quiet", "--from", "2026-11-16", "--to", "2026-11-16"];
    let mut runs = Vec::new();
    for _ in 0..3 {
        assert_ok(&run(&config, &out, &day));
        runs.push(
            latest_manifest(&out)["run_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let kept: Vec<String> = {
        let mut names: Vec<String> = std::fs::read_dir(out.join("_runs"))
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .replace(".json", "")
            })
            .collect();
        names.sort();
        names
    };
    assert_eq!(kept, runs[1..].to_vec());
    // Each run replaced day 1 of `requests` with one file: the first run's is gone, the
    // second's stays for `--as-of`, the third's is the current one.
    let files: Vec<String> = std::fs::read_dir(out.join("requests/date=2026-11-16"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    for run_id in &runs[1..] {
        assert!(
            files.iter().any(|f| f.contains(run_id.as_str())),
            "{files:?}"
        );
    }
    let dropped = sql_csv(&out, "SELECT 1", &["--as-of", &runs[0]]);
    assert_eq!(dropped.status.code(), Some(64));
    let kept_run = sql_csv(
        &out,
        "SELECT COUNT(*) FROM requests",
        &["--as-of", &runs[1]],
    );
    assert_ok(&kept_run);
    // Day 1 alone: a1 and b1.
    assert_eq!(stdout(&kept_run).lines().nth(1), Some("2"));
    // keep_runs = 0 is refused.
    std::fs::write(
        &config,
        "[[requests]]\nname = \"logs\"\npath = \"logs\"\nformat = \"openai\"\n[run]\nkeep_runs = 0\n",
    )
    .unwrap();
    let refused = run(&config, &out, &day);
    assert!(
        stderr(&refused).contains("keep_runs"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn a_publication_that_fails_loses_nothing_and_the_next_run_succeeds() {
    let (dir, config, file) = two_days();
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &["--quiet"]));
    let before = tables(&out);
    // The requests table's log made immutable: its commit fails (EPERM).
    let log = out.join("requests/_delta_log");
    let immutable = Command::new("chattr").arg("+i").arg(&log).status();
    if !immutable.is_ok_and(|s| s.success()) {
        eprintln!("chattr +i is not available here (needs root and ext4): not tested");
        return;
    }
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push('\n');
    text.push_str(&openai_line("c1", 1_794_790_800, 400, 0, 20));
    std::fs::write(&file, text).unwrap();
    let failed = run(&config, &out, &["--quiet"]);
    let _ = Command::new("chattr").arg("-i").arg(&log).status();
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(stderr(&failed).contains("requests"), "{}", stderr(&failed));
    // Readers still see the previous run whole.
    assert_eq!(tables(&out), before);
    // The next run restores the tables the failed one committed and publishes.
    assert_ok(&run(&config, &out, &["--quiet"]));
    let fresh = dir.path().join("fresh");
    assert_ok(&run(&config, &fresh, &["--quiet"]));
    assert_eq!(tables(&out), tables(&fresh));
    assert_eq!(
        scalar(&out, "SELECT COUNT(*) FROM requests"),
        "4",
        "the late request is in"
    );
}

#[test]
fn a_folder_the_previous_version_wrote_is_converted_in_place_keeping_every_row() {
    let fixture = root().join("tests/fixtures/legacy_output");
    let dir = tempfile::tempdir().unwrap();
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    copy(&fixture, dir.path());
    let out = dir.path().join("out");
    // Before the first run of this version, readers say what to do.
    let early = sql_csv(&out, "SELECT 1", &[]);
    assert!(!early.status.success());
    assert!(stderr(&early).contains("converts it"), "{}", stderr(&early));
    // A nightly run over a third day, with only that day's log (the history is what the
    // old folder holds): a3 = 500×0.15 + 11×0.6 = 81.6 µ$.
    std::fs::write(
        dir.path().join("logs/log.jsonl"),
        openai_line("a3", 1_794_960_000, 500, 0, 11),
    )
    .unwrap();
    let config = dir.path().join("inferledger.toml");
    let converted = run(
        &config,
        &out,
        &["--quiet", "--from", "2026-11-18", "--to", "2026-11-18"],
    );
    assert_ok(&converted);
    assert!(
        stderr(&converted).contains("converted"),
        "{}",
        stderr(&converted)
    );
    // Every row the old version wrote, with the costs its `sql` gave (and a hand check).
    assert_eq!(
        query(
            &out,
            "SELECT request_id, date, CAST(cost_usd AS VARCHAR) FROM requests ORDER BY request_id"
        )
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), decimal(&r[2])))
        .collect::<Vec<_>>(),
        vec![
            ("a1".into(), "2026-11-16".into(), decimal("0.00001725")),
            ("a2".into(), "2026-11-17".into(), decimal("0.0000504")),
            ("a3".into(), "2026-11-18".into(), decimal("0.0000816")),
            ("b1".into(), "2026-11-16".into(), decimal("0.000267")),
        ]
    );
    // The old days' other tables are kept too: an interaction row per old day and the new.
    assert_eq!(
        scalar(&out, "SELECT COUNT(DISTINCT date) FROM cost_attribution"),
        "3"
    );
    assert!(out.join("requests/_delta_log").is_dir());
    assert!(!out.join("internal/empty").exists());
    // Two runs now: the conversion and the night.
    assert_eq!(std::fs::read_dir(out.join("_runs")).unwrap().count(), 2);
}

#[test]
fn outputs_that_land_among_the_tables_are_refused_after_following_symlinks() {
    let (dir, config, _) = two_days();
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &["--quiet"]));
    let rows_before = scalar(&out, "SELECT COUNT(*) FROM requests");
    // export --output straight into a partition.
    let inside = out.join("requests/date=2026-11-16/f.parquet");
    let export = inferledger(&[
        "export",
        "--focus",
        "--out",
        out.to_str().unwrap(),
        "--output",
        inside.to_str().unwrap(),
    ]);
    assert_eq!(export.status.code(), Some(64), "{}", stderr(&export));
    assert!(!inside.exists());
    // A symlink outside the folder that points into a table's folder.
    let link = dir.path().join("result.parquet");
    std::os::unix::fs::symlink(&inside, &link).unwrap();
    let export = inferledger(&[
        "export",
        "--focus",
        "--out",
        out.to_str().unwrap(),
        "--output",
        link.to_str().unwrap(),
    ]);
    assert_eq!(export.status.code(), Some(64), "{}", stderr(&export));
    let sql = inferledger(&[
        "sql",
        "--out",
        out.to_str().unwrap(),
        "--allow-write",
        "--format",
        "parquet",
        "--output",
        link.to_str().unwrap(),
        "SELECT * FROM requests",
    ]);
    assert_eq!(sql.status.code(), Some(64), "{}", stderr(&sql));
    assert!(!inside.exists());
    assert_eq!(scalar(&out, "SELECT COUNT(*) FROM requests"), rows_before);
    // Beside the tables is fine (the export's default place).
    let beside = out.join("focus_export.csv");
    assert_ok(&inferledger(&[
        "export",
        "--focus",
        "--out",
        out.to_str().unwrap(),
        "--output",
        beside.to_str().unwrap(),
    ]));
}

#[test]
fn an_output_folder_whose_disk_fills_up_loses_nothing_and_the_next_run_succeeds() {
    let (dir, config, file) = two_days();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // A small file system of its own for --out (root only; said and skipped elsewhere).
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&out)
        .status();
    if !mounted.is_ok_and(|s| s.success()) {
        eprintln!("cannot mount a tmpfs here (needs root): not tested");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(out.clone());
    assert_ok(&run(&config, &out, &["--quiet"]));
    let before = tables(&out);
    // Fill the disk, leaving a few kilobytes: the next run fails (ENOSPC) part way.
    let filler = out.join("filler");
    let free = |path: &Path| {
        let output = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(path)
            .output()
            .unwrap();
        stdout(&output)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let room = free(&out).saturating_sub(16 * 1024);
    std::fs::write(&filler, vec![0u8; room as usize]).unwrap();
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push('\n');
    text.push_str(&openai_line("c1", 1_794_790_800, 400, 0, 20));
    std::fs::write(&file, text).unwrap();
    let failed = run(&config, &out, &["--quiet"]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(
        tables(&out),
        before,
        "readers still see the previous run whole"
    );
    assert_ok(&run(&config, &out, &["--quiet"]));
    assert_eq!(scalar(&out, "SELECT COUNT(*) FROM requests"), "4");
}
