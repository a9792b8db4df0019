//! `inferledger sql` over a run folder: the prompt, files, output formats, read-only
//! refusals, `cost_of`, report views and partition pruning.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::*;

/// A folder with one gpt-4o-mini request (1,000 prompt, 10 completion tokens) in a.jsonl
/// and a config reading it, with `extra` config lines.
fn one_request_config(extra: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let line = openai_line("r1", 1_794_787_200, 1000, 0, 10);
    std::fs::write(dir.path().join("a.jsonl"), line).unwrap();
    let config = write_config(
        dir.path(),
        &format!("[[requests]]\npath = \"a.jsonl\"\nformat = \"openai\"\n{extra}"),
    );
    (dir, config)
}

fn sample_run() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_ok(&run(
        &root().join("sample-data/inferledger.toml"),
        &out,
        &[],
    ));
    (dir, out)
}

/// Types `input` into the prompt of `sql --out out` (a pipe, as a script would; history
/// goes to a HOME beside `out`; a 100-column terminal).
fn prompt_with(out: &std::path::Path, input: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_inferledger"))
        .args(["sql", "--out", out.to_str().unwrap()])
        .env("HOME", out.parent().unwrap())
        .env("COLUMNS", "100")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn the_prompt_takes_multi_line_statements_and_backslash_commands() {
    let (_dir, out) = sample_run();
    let output = prompt_with(
        &out,
        "\\d\nSELECT COUNT(*) AS n\n  FROM requests\n  WHERE pool IS NULL;\n\\d spot_volatility\nSELECT nonsense;\n\\q\n",
    );
    assert_ok(&output);
    let text = stdout(&output);
    assert!(text.contains("| cost_attribution "), "{text}");
    assert!(text.contains("| report_headline "), "{text}");
    // 1,822 API requests (generate.py: 961 + 861 batch jobs).
    assert!(text.contains("| 1822 |"), "{text}");
    assert!(text.contains("| production_pools "), "{text}");
    assert!(
        stderr(&output).contains("error:"),
        "the bad statement is reported and the prompt goes on"
    );
    assert!(out.parent().unwrap().join(".inferledger_history").exists());
}

#[test]
fn the_prompt_counts_rows_expands_wide_rows_and_says_errors_plainly() {
    let (_dir, out) = sample_run();
    let output = prompt_with(
        &out,
        concat!(
            // A backslash command inside an unfinished statement runs on its own; the
            // statement goes on (before: `\\d economics` was sent as SQL, a syntax error).
            "SELECT COUNT(*) AS n\n\\d economics\nFROM requests;\n",
            "\\d\n",
            "SELEC 1;\n",
            "SELECT nope FROM requests;\n",
            // Expanded layout on demand, and automatically for rows wider than 100 columns.
            "\\x on\nSELECT COUNT(*) AS n FROM requests;\n",
            "\\x auto\nSELECT * FROM requests ORDER BY request_id LIMIT 1;\n",
        ),
    );
    assert_ok(&output);
    let (text, messages) = (stdout(&output), stderr(&output));
    // 4,615 requests in the sample: generate.py's 1,822 API and 2,793 self-hosted requests.
    assert!(text.contains("| lookback_days "), "{text}");
    assert!(text.contains("| 4615 |"), "{text}");
    assert!(messages.contains("still open"), "{messages}");
    // Each result is followed by its row count and time.
    assert!(messages.contains("(1 row in "), "{messages}");
    // \d economics: its 18 assumptions (15, and since the sizing of self-hosting
    // spare_replicas, selfhost_ops_engineer_months and migration_engineer_months).
    assert!(messages.contains("(18 rows in "), "{messages}");
    // Errors in plain words: no ParserError("…") wrapping, no table list, no field list.
    assert!(
        messages.contains("error: syntax error: Expected: an SQL statement, found: SELEC"),
        "{messages}"
    );
    assert!(!messages.contains("ParserError"), "{messages}");
    assert!(!messages.contains("tables of"), "{messages}");
    assert!(
        messages.contains("No field named nope.") && !messages.contains("Valid fields"),
        "{messages}"
    );
    // \\x on: one field per line.
    assert!(text.contains("-[ RECORD 1 ]-\nn | 4615\n"), "{text}");
    // \\x auto: the 33 columns of a request are wider than 100 columns, so expanded.
    assert!(text.contains("request_id              | "), "{text}");
    // The banner lists every table \\d lists (before: not the internal tables such as
    // run_params, nor requests_staged).
    let banner: std::collections::BTreeSet<&str> = messages
        .lines()
        .next()
        .and_then(|l| l.split_once(": "))
        .map(|(_, list)| list.split(", ").collect())
        .unwrap_or_default();
    let listed: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| l.ends_with("| BASE TABLE |") || l.ends_with("| VIEW       |"))
        .filter_map(|l| l.split('|').nth(1).map(str::trim))
        .collect();
    assert!(
        listed.contains("run_params") && listed.contains("report_headline"),
        "{text}"
    );
    assert_eq!(banner, listed);
}

#[test]
fn tab_completes_the_run_folders_tables_and_columns() {
    let (_dir, out) = sample_run();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let names = runtime.block_on(async {
        let session = inferledger::commands::session::Session::open(&out, None, None, false, None)
            .await
            .unwrap();
        session.names().await.unwrap()
    });
    assert_eq!(
        names.complete("SELECT source_cost", 17),
        (7, vec!["source_cost_usd".to_string()])
    );
    assert_eq!(
        names.complete("SELECT * FROM report_head", 25),
        (14, vec!["report_headline".to_string()])
    );
    assert_eq!(
        names.complete("SELECT interactions.closes", 26),
        (20, vec!["closes_at".to_string()])
    );
}

#[test]
fn files_output_formats_and_views() {
    let (dir, out) = sample_run();
    let out_arg = out.to_str().unwrap();
    let file = dir.path().join("q.sql");
    std::fs::write(
        &file,
        "-- two statements\nSELECT 1 AS one;\nSELECT requests FROM report_headline;\n",
    )
    .unwrap();
    let output = inferledger(&[
        "sql",
        "--out",
        out_arg,
        "-f",
        file.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert_ok(&output);
    assert_eq!(stdout(&output), "one\n1\nrequests\n1822\n");

    let parquet = dir.path().join("teams.parquet");
    let output = inferledger(&[
        "sql",
        "--out",
        out_arg,
        "--format",
        "parquet",
        "--allow-write",
        "--output",
        parquet.to_str().unwrap(),
        "SELECT team, SUM(total_cost_usd) AS total FROM cost_attribution GROUP BY team",
    ]);
    assert_ok(&output);
    let reader =
        datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&parquet).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    // Teams: search, support, growth, platform, localisation, finance, __idle__, __unassigned__.
    assert_eq!(rows, 8);
    let without_output = inferledger(&["sql", "--out", out_arg, "--format", "parquet", "SELECT 1"]);
    assert_eq!(without_output.status.code(), Some(64), "an argument error");
    assert!(stderr(&without_output).contains("needs --output"));
}

#[test]
fn writes_are_refused_unless_allowed() {
    let (dir, out) = sample_run();
    let out_arg = out.to_str().unwrap();
    let target = dir.path().join("copy.csv");
    let copy = format!("COPY (SELECT 1 AS a) TO '{}'", target.display());
    let refused = inferledger(&["sql", "--out", out_arg, &copy]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("read-only"),
        "{}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains("--allow-write"));
    assert!(!target.exists());
    for statement in [
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO requests SELECT * FROM requests LIMIT 1",
        "CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '/etc/passwd'",
    ] {
        let refused = inferledger(&["sql", "--out", out_arg, statement]);
        assert!(
            stderr(&refused).contains("read-only"),
            "{statement}: {}",
            stderr(&refused)
        );
    }
    assert_ok(&inferledger(&[
        "sql",
        "--out",
        out_arg,
        "--allow-write",
        &copy,
    ]));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "a\n1\n");
}

#[test]
fn cost_of_prices_a_hypothetical_request() {
    let (_dir, out) = sample_run();
    // By hand (catalog.csv): GPT-4o mini, 2,000 prompt tokens of which 1,536 cached, 300 out:
    // 464 × $0.15 + 1,536 × $0.075 + 300 × $0.60 = 364.8 $/M = $0.0003648. GPT-4o on
    // 2024-09-01 (launch price $5/$15): 1,000 × 5 + 100 × 15 = 6,500 → $0.0065.
    let output = inferledger(&[
        "sql",
        "--out",
        out.to_str().unwrap(),
        "--format",
        "csv",
        "SELECT cost_of('gpt-4o-mini', 2000, 1536, 0, 300, TIMESTAMP '2026-11-16T10:00:00Z') AS a, \
         cost_of('gpt-4o', 1000, 0, 0, 100, TIMESTAMP '2024-09-01T00:00:00Z') AS b, \
         cost_of('no-such-model', 1, 0, 0, 1, TIMESTAMP '2026-11-16T10:00:00Z') AS c",
    ]);
    assert_ok(&output);
    assert_eq!(stdout(&output), "a,b,c\n0.000364800000,0.006500000000,\n");
}

#[test]
fn a_query_for_some_days_reads_only_their_partitions() {
    let (_dir, out) = sample_run();
    // The physical plan lists the files it will read: only the four days asked for.
    let output = inferledger(&[
        "sql",
        "--out",
        out.to_str().unwrap(),
        "--memory-limit",
        "256M",
        "--format",
        "csv",
        "EXPLAIN SELECT SUM(input_tokens) FROM requests WHERE date BETWEEN '2026-11-16' AND '2026-11-19'",
    ]);
    assert_ok(&output);
    let plan = stdout(&output);
    let mut days: Vec<&str> = plan
        .match_indices("date=")
        .map(|(i, _)| &plan[i + 5..i + 15])
        .collect();
    days.sort();
    days.dedup();
    assert_eq!(
        days,
        ["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19"],
        "{plan}"
    );
}

#[test]
fn every_query_file_runs_in_sql_after_a_run() {
    // docs/commands.md promises that each file in queries/ pasted into `sql` runs: the run
    // publishes the internal tables the files read (out/internal/).
    let (_dir, out) = sample_run();
    fn sql_files(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sql_files(&path, found);
            } else if path.extension().is_some_and(|x| x == "sql") {
                found.push(path);
            }
        }
    }
    let mut files = Vec::new();
    sql_files(&root().join("queries"), &mut files);
    assert!(files.len() > 30, "{files:?}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let result = runtime.block_on(inferledger::commands::sql::query(&out, &text));
        assert!(result.is_ok(), "{}: {:?}", file.display(), result.err());
    }
    // The step files give the run's own tables: in `sql` the staged requests are the
    // published ones (a view), and requests.sql pasted over them gives the published
    // requests back, row for row: the same ids, costs and interactions (one run over the
    // whole sample here: 4,615 requests kept, sample-data/generate.py).
    let step_sql = std::fs::read_to_string(root().join("queries/requests.sql")).unwrap();
    let pasted = runtime
        .block_on(inferledger::commands::sql::query(&out, &step_sql))
        .unwrap();
    let mut pasted_rows: Vec<Vec<String>> = cells(pasted.last().unwrap()).into_iter().collect();
    let names: Vec<String> = pasted.last().unwrap()[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let column = |name: &str| names.iter().position(|n| n == name).unwrap();
    let (id, cost, interaction) = (
        column("request_id"),
        column("cost_usd"),
        column("interaction_id"),
    );
    let mut pasted_rows: Vec<Vec<String>> = pasted_rows
        .drain(..)
        .map(|r| vec![r[id].clone(), r[cost].clone(), r[interaction].clone()])
        .collect();
    pasted_rows.sort();
    let published = query(
        &out,
        "SELECT request_id, cost_usd, interaction_id FROM requests ORDER BY request_id, cost_usd, interaction_id",
    );
    assert_eq!(published.len(), 4615);
    assert_eq!(pasted_rows, published);
}

#[test]
fn request_sums_and_report_views_cover_the_whole_history() {
    // The sample over its week, then a rerun of its last night into the same folder: the
    // latest run's window is one day, but `requests_daily` and the report views read from
    // it sum every request of the history. The sample keeps 4,615 requests, 1,822 API and
    // 2,793 self-hosted (sample-data/generate.py prints them).
    let (_dir, out) = sample_run();
    assert_ok(&run(
        &root().join("sample-data/inferledger.toml"),
        &out,
        &["--from", "2026-11-22", "--to", "2026-11-22"],
    ));
    assert_eq!(summary(&out)["window"][0], "2026-11-22");
    assert_eq!(
        scalar(&out, "SELECT SUM(requests) FROM requests_daily"),
        "4615"
    );
    assert_eq!(
        query(
            &out,
            "SELECT requests, self_hosted_requests FROM report_headline"
        ),
        vec![vec!["1822".to_string(), "2793".to_string()]]
    );
}

#[test]
fn reading_commands_find_the_run_through_the_configs_run_out() {
    // `[run] out = "results"`: run writes there, and sql, review, export and prices read
    // it with only --config (before, they looked for ./out and failed).
    let (dir, config) = one_request_config("[run]\nout = \"results\"\n");
    let config_arg = config.to_str().unwrap();
    assert_ok(&inferledger(&["run", "--config", config_arg]));
    assert!(dir.path().join("results/requests").is_dir());
    let sql = inferledger(&[
        "sql",
        "--config",
        config_arg,
        "--format",
        "csv",
        "SELECT COUNT(*) AS n FROM requests",
    ]);
    assert_ok(&sql);
    assert_eq!(stdout(&sql), "n\n1\n");
    assert_ok(&inferledger(&["review", "--config", config_arg]));
    assert!(dir.path().join("results/review/2026Q4/review.md").exists());
    assert_ok(&inferledger(&["export", "--focus", "--config", config_arg]));
    assert!(dir.path().join("results/focus_export.csv").exists());
    let prices = inferledger(&["prices", "gpt-4o-mini", "--config", config_arg]);
    assert_ok(&prices);
    assert!(
        stdout(&prices).contains("which entry priced what"),
        "{}",
        stdout(&prices)
    );
}

#[test]
fn output_into_a_pipe_that_closes_ends_quietly() {
    // `inferledger sql … | head -1` on 4,615 rows of CSV (more than a pipe holds): when the
    // reader goes away the command ends by SIGPIPE like other Unix tools, with no "Broken
    // pipe" error or panic on stderr.
    use std::io::BufRead;
    let (_dir, out) = sample_run();
    let mut child = Command::new(env!("CARGO_BIN_EXE_inferledger"))
        .args([
            "sql",
            "--out",
            out.to_str().unwrap(),
            "--format",
            "csv",
            "SELECT * FROM requests",
        ])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.starts_with("request_id,"), "{first}");
    drop(reader);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("Broken pipe") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn focus_export_of_an_api_only_setup() {
    // No bills, no pools: the GPU tables never had a row; the export still works. One
    // gpt-4o-mini request of 1,000 prompt and 10 completion tokens: $0.00015 + $0.000006,
    // one row per SkuMeter (input first: rows sort by description).
    let (dir, config) = one_request_config("");
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &[]));
    let export = inferledger(&["export", "--focus", "--out", out.to_str().unwrap()]);
    assert_ok(&export);
    let text = std::fs::read_to_string(out.join("focus_export.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let cost = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "BilledCost")
        .unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][cost], "0.000150000000");
    assert_eq!(&rows[1][cost], "0.000006000000");
}

#[test]
fn prices_of_a_model_show_the_requests_its_entries_priced() {
    // The sample logs gpt-4o as `gpt-4o-2024-08-06`; `prices gpt-4o` lists the requests
    // the gpt-4o entries and its snapshots' entries priced (before: an empty table).
    // Expected from a separate query.
    let (_dir, out) = sample_run();
    let expected = scalar(
        &out,
        "SELECT COUNT(*) FROM requests WHERE price_id LIKE 'catalog:gpt-4o-2024-08-06@%'",
    );
    assert!(expected.parse::<u64>().unwrap() > 0);
    let output = inferledger(&["prices", "gpt-4o", "--out", out.to_str().unwrap()]);
    assert_ok(&output);
    let text = stdout(&output);
    assert!(
        text.contains(&format!(
            "| catalog:gpt-4o-2024-08-06@2024-08-06 | {expected}"
        )),
        "{text}"
    );
    let none = inferledger(&["prices", "o3", "--out", out.to_str().unwrap()]);
    assert!(stdout(&none).contains("(no requests in this run folder)"));
}

#[test]
fn datafusion_settings_come_from_datafusion_environment_variables() {
    // As datafusion-cli reads them: DATAFUSION_EXECUTION_BATCH_SIZE sets
    // datafusion.execution.batch_size (default 8192); target partitions stay one per
    // core unless DATAFUSION_EXECUTION_TARGET_PARTITIONS sets them.
    let (_dir, out) = sample_run();
    let setting = |name: &str, env: &[(&str, &str)]| {
        let output = Command::new(env!("CARGO_BIN_EXE_inferledger"))
            .args(["sql", "--format", "csv", "--out", out.to_str().unwrap()])
            .arg(format!(
                "SELECT value FROM information_schema.df_settings WHERE name = '{name}'"
            ))
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert_ok(&output);
        stdout(&output)
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    let batch = "datafusion.execution.batch_size";
    assert_eq!(setting(batch, &[]), "8192");
    assert_eq!(
        setting(batch, &[("DATAFUSION_EXECUTION_BATCH_SIZE", "16384")]),
        "16384"
    );
    let partitions = "datafusion.execution.target_partitions";
    let cores = std::thread::available_parallelism()
        .unwrap()
        .get()
        .to_string();
    assert_eq!(setting(partitions, &[]), cores);
    assert_eq!(
        setting(
            partitions,
            &[("DATAFUSION_EXECUTION_TARGET_PARTITIONS", "3")]
        ),
        "3"
    );
}
