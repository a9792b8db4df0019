//! The real binary on `sample-data/`, checked against figures worked out independently:
//! `sample-data/generate.py` wrote the logs and prices them with its own code (Python's
//! decimal module and its own copy of the providers' price pages), and the single
//! requests below were priced by hand.

use crate::helpers::*;

const SAMPLE_CONFIG: &str = "sample-data/inferledger.toml";

#[test]
fn sample_data_run_matches_independent_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = run(&root().join(SAMPLE_CONFIG), &out, &[]);
    assert_ok(&output);

    // From generate.py's output: 4,623 records read (4,615 requests, 2,793 of them
    // self-hosted; 4 duplicates, 4 bad).
    let s = summary(&out);
    let totals = &s["totals"];
    assert_eq!(totals["rows_read"], 4623);
    assert_eq!(totals["rows_kept"], 4615);
    assert_eq!(totals["rows_quarantined"], 4);
    assert_eq!(totals["duplicates"], 4);
    assert_eq!(totals["cost_usd"], "2164.86982658");
    assert_eq!(totals["unpriced_requests"], 33);
    assert_eq!(s["unpriced_models"][0]["model"], "mistral-large-latest");
    assert_eq!(s["unpriced_models"][0]["requests"], 33);
    for source in s["sources"].as_array().unwrap() {
        assert_eq!(source["reconciles"], true, "{source}");
    }
    let duplicates: Vec<(String, u64)> = s["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["duplicates"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        duplicates,
        [
            ("openai", 3),
            ("anthropic", 1),
            ("litellm", 0),
            ("otel", 0),
            ("selfhosted", 0)
        ]
        .map(|(n, d)| (n.to_string(), d))
    );
    // The OTel source was read with format = "auto".
    assert_eq!(s["sources"][3]["files"][0]["format"], "otel");

    // generate.py: 2,893 interactions closed before the end of the last day (5 more are
    // still open then), 2,857 completed; 93,960,113 input tokens of which 2,693,602 read
    // from cache.
    assert_eq!(scalar(&out, "SELECT COUNT(*) FROM interactions"), "2893");
    assert_eq!(
        scalar(
            &out,
            "SELECT SUM(CASE WHEN completed THEN 1 ELSE 0 END) FROM interactions"
        ),
        "2857"
    );
    assert_eq!(s["coverage"]["open_interactions"], 5);
    assert_eq!(
        query(
            &out,
            "SELECT SUM(input_tokens), SUM(cache_read_tokens) FROM cache_hit_ratio"
        ),
        vec![vec!["93960113".to_string(), "2693602".to_string()]]
    );
    // Every table adds up to the same money.
    for table in [
        "requests",
        "cache_hit_ratio",
        "cost_attribution",
        "interactions",
        "interaction_costs",
    ] {
        assert_eq!(
            scalar(
                &out,
                &format!("SELECT CAST(SUM(cost_usd) AS VARCHAR) FROM {table}")
            ),
            "2164.869826580000",
            "{table}"
        );
    }

    // By hand. msg_00001 (Claude Sonnet 4.5): 68 uncached × $3 + 12,000 written with a
    // 1-hour TTL × $6 + 534 out × $15 = 80,214 $/M = $0.080214; all prompt tokens
    // 68 + 12,000 = 12,068; write premium 12,000 × ($6 − $3) = $0.036.
    assert_eq!(
        query(
            &out,
            "SELECT input_tokens, cost_usd, cache_write_premium_usd, price_id FROM requests WHERE request_id = 'msg_00001'"
        ),
        vec![vec![
            "12068".to_string(),
            "0.080214000000".into(),
            "0.036000000000".into(),
            "catalog:claude-sonnet-4-5@2025-09-29".into()
        ]]
    );
    // chatcmpl-00010 (GPT-4.1): 412 uncached × $2 + 2,560 cached × $0.50 + 573 × $8
    // = 6,688 $/M = $0.006688; saved 2,560 × $1.50 = $0.00384.
    assert_eq!(
        query(
            &out,
            "SELECT cost_usd, cache_saved_usd FROM requests WHERE request_id = 'chatcmpl-00010'"
        ),
        vec![vec!["0.006688000000".to_string(), "0.003840000000".into()]]
    );
    // The first OTel span (GPT-4.1 mini): 1,611 × $0.40 + 153 × $1.60 = 889.2 $/M; it ran
    // from 11:51:56.000 to 11:51:58.030, 2,030 ms.
    assert_eq!(
        query(
            &out,
            "SELECT cost_usd, duration_ms, interaction_id FROM requests WHERE request_id = '000000cdcdcdcdcd'"
        ),
        vec![vec![
            "0.000889200000".to_string(),
            "2030".into(),
            "0000abababababababababababababab".into()
        ]]
    );

    // Seven day partitions, and the quarantine names file, line and reason.
    let partitions = std::fs::read_dir(out.join("requests"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("date=")
        })
        .count();
    assert_eq!(partitions, 7);
    assert_eq!(
        query(
            &out,
            "SELECT source, line, reason FROM quarantine ORDER BY source, line"
        ),
        vec![
            vec![
                "anthropic".to_string(),
                "61".into(),
                "missing input_tokens (looked for: usage.input_tokens)".into()
            ],
            vec![
                // The file's own line 52 (it has CRLF endings: `grep -n n/a` says 52).
                "litellm".to_string(),
                "52".into(),
                "input_tokens: expected a whole number of tokens, found text \"n/a\"".into()
            ],
            vec![
                "openai".to_string(),
                "41".into(),
                "invalid JSON at column 63: EOF while parsing an object".into()
            ],
            vec![
                "openai".to_string(),
                "201".into(),
                "input_tokens: negative token count -12".into()
            ],
        ]
    );

    // The report carries the headline figures, with the quoted thresholds.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("**API spend:** $2,164.87 over 1,822 API requests"),
        "{report}"
    );
    // API requests: 2,693,602 of 84,584,204 input tokens read from cache = 3.18%.
    assert!(
        report.contains("3.2% of input tokens (expensive: under 20%"),
        "{report}"
    );
    // generate.py: 2,857 of 2,893 interactions completed; cost is API and GPU together.
    assert!(report.contains("2,857 of 2,893 completed"), "{report}");
    assert!(stderr(&output).contains("4623 rows read"));
    // The sample's seven days (2026-11-16 to 22) are too few to judge a day against 14
    // days of spend before it: said so, not "None".
    assert!(
        report.contains("Not enough history to look for anomalies")
            && report.contains(
                "the spend read starts 2026-11-16, 6 days before the window's last day (2026-11-22)"
            ),
        "{report}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Not enough history to look for anomalies"));
    // The run's last line says what its total is: API and GPU, as the review's November
    // row ($2,164.87 API + $33,847.15 GPU billed = $36,012.02).
    assert!(
        stderr(&output).contains("API $2,164.87 + GPU $33,847.15 billed = $36,012.02"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn reruns_replace_partitions_and_a_window_replaces_only_its_days() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = root().join(SAMPLE_CONFIG);
    assert_ok(&run(&config, &out, &[]));
    let first = query(
        &out,
        "SELECT request_id, cost_usd, interaction_id FROM requests ORDER BY request_id",
    );

    // The same inputs again (this time within a memory limit): the same rows, not twice
    // as many.
    assert_ok(&run(&config, &out, &["--memory-limit", "64M"]));
    let second = query(
        &out,
        "SELECT request_id, cost_usd, interaction_id FROM requests ORDER BY request_id",
    );
    assert_eq!(first, second);
    let untouched_day = listing(&out.join("requests/date=2026-11-17"));
    let every_table = tables(&out);
    let other_days = files_outside(&out, "2026-11-18");

    // One day: only its partition is rewritten; the rows read outside it are counted.
    let output = run(
        &config,
        &out,
        &["--from", "2026-11-18", "--to", "2026-11-18"],
    );
    assert_ok(&output);
    let s = summary(&out);
    let t = &s["totals"];
    let read = t["rows_read"].as_u64().unwrap();
    let accounted = [
        "rows_kept",
        "rows_quarantined",
        "duplicates",
        "rows_outside_window",
    ]
    .iter()
    .map(|k| t[*k].as_u64().unwrap())
    .sum::<u64>();
    assert_eq!(read, accounted);
    let day_rows: u64 = scalar(
        &out,
        "SELECT COUNT(*) FROM requests WHERE date = '2026-11-18'",
    )
    .parse()
    .unwrap();
    assert_eq!(t["rows_kept"].as_u64().unwrap(), day_rows);
    assert!(t["rows_outside_window"].as_u64().unwrap() > 800);
    assert_eq!(scalar(&out, "SELECT COUNT(*) FROM requests"), "4615");
    assert_eq!(
        listing(&out.join("requests/date=2026-11-17")),
        untouched_day
    );
    // Every day-partitioned table: the other days' files are as they were, byte for byte,
    // and the rerun day gives the same rows as the full run did (it read the interactions
    // still open at midnight and the requests in flight from the published history).
    assert_eq!(files_outside(&out, "2026-11-18"), other_days);
    let rerun = tables(&out);
    for step in inferledger::analyze::published_steps().filter(|s| s.partitioned) {
        // The sample's week is too short for an anomaly baseline (14 days); the month in
        // tests/it/nightly.rs checks spend_anomalies night by night.
        let may_be_empty = step.table == "spend_anomalies";
        assert!(
            may_be_empty || !every_table[step.table].is_empty(),
            "{}",
            step.table
        );
        assert_eq!(rerun[step.table], every_table[step.table], "{}", step.table);
    }
}

#[test]
fn a_failed_run_leaves_the_previous_output_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_ok(&run(&root().join(SAMPLE_CONFIG), &out, &[]));
    let before = listing(&out);

    // Anthropic messages read as Gemini responses: no row can be read.
    let config = write_config(
        dir.path(),
        &format!(
            "[[requests]]\nname = \"mislabelled\"\npath = \"{}\"\nformat = \"gemini\"\n",
            root().join("sample-data/requests/anthropic").display()
        ),
    );
    let output = run(&config, &out, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("source mislabelled: 1099 of 1099 rows quarantined"),
        "{message}"
    );
    assert!(message.contains("missing ts"), "{message}");
    assert_eq!(
        listing(&out),
        before,
        "nothing in the output folder changed"
    );
}

#[test]
fn validate_checks_everything_and_writes_nothing() {
    let output = inferledger(&["validate", "--config", SAMPLE_CONFIG]);
    assert_ok(&output);
    assert!(stdout(&output).contains("ok: config and inputs are readable"));
    // The GPU metrics sources are listed and their first records read: the DCGM dump
    // starts at 1794787260 s (2026-11-16 00:01:00 UTC) on gpu-chat-1 and gpu-chat-2,
    // which chat-prod's hosts claim (sample-data/metrics/dcgm_chat_prod.csv).
    let listed = stdout(&output);
    assert!(
        listed.contains("gpu_metrics dcgm (dcgm, host label Hostname): 1 file(s)")
            && listed.contains("2026-11-16 00:01:00 to")
            && listed.contains("hosts: gpu-chat-1, gpu-chat-2"),
        "{listed}"
    );
    assert!(!listed.contains("match no"), "{listed}");

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[[requests]]\npath = \"nowhere/\"\nformat = \"openai\"\n\n[[requests]]\npath = \"bad.jsonl\"\nformat = \"openai\"\n",
    );
    std::fs::write(dir.path().join("bad.jsonl"), "not json\nnor this\n").unwrap();
    let output = inferledger(&["validate", "--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("2 problem(s) found"), "{message}");
    assert!(message.contains("nowhere"), "{message}");
    assert!(
        message.contains("bad.jsonl: none of the 2 records checked could be read"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "validate wrote nothing"
    );
}

#[test]
fn sql_and_prices_commands() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_ok(&run(&root().join(SAMPLE_CONFIG), &out, &[]));
    let out_arg = out.to_str().unwrap();

    let csv = inferledger(&[
        "sql",
        "--out",
        out_arg,
        "--format",
        "csv",
        "SELECT COUNT(*) AS n FROM requests",
    ]);
    assert_ok(&csv);
    assert_eq!(stdout(&csv), "n\n4615\n");
    let json = inferledger(&[
        "sql",
        "--out",
        out_arg,
        "--format",
        "json",
        "SELECT team, COUNT(*) AS n FROM requests WHERE team = 'growth' GROUP BY team",
    ]);
    assert_ok(&json);
    let parsed: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(parsed[0]["team"], "growth");

    let unknown = inferledger(&["sql", "--out", out_arg, "SELECT * FROM request"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("tables of"),
        "{}",
        stderr(&unknown)
    );
    assert!(
        stderr(&unknown).contains("cost_attribution"),
        "{}",
        stderr(&unknown)
    );
    let write = inferledger(&["sql", "--out", out_arg, "CREATE TABLE x AS SELECT 1"]);
    assert_eq!(write.status.code(), Some(1));

    // The gpt-4o alias before the October 2024 price change was priced at launch prices;
    // the snapshot gpt-4o-2024-08-06 launched at $2.50/$10 and is priced as itself
    // (openai.com/api/pricing lists the snapshots apart).
    let at_sept_2024 = |model: &str| {
        let output = inferledger(&["prices", model, "--at", "2024-09-01", "--out", out_arg]);
        assert_ok(&output);
        stdout(&output)
    };
    let alias = at_sept_2024("gpt-4o");
    assert!(
        alias.contains("priced on 2024-09-01 by:") && alias.contains("catalog:gpt-4o@2024-05-13"),
        "{alias}"
    );
    let snapshot = at_sept_2024("gpt-4o-2024-08-06");
    let priced_by = snapshot
        .lines()
        .skip_while(|l| !l.starts_with("priced on"))
        .nth(3)
        .unwrap_or_default();
    assert!(
        priced_by.starts_with("catalog:gpt-4o-2024-08-06@2024-08-06")
            && priced_by.contains(" 2.5 "),
        "{snapshot}"
    );
    assert!(snapshot.contains("which entry priced what"), "{snapshot}");
}

#[test]
fn a_litellm_price_file_overrides_the_catalog() {
    // A slice of LiteLLM's real price table (sample_spec, integer costs, nested objects,
    // image and realtime entries, dated snapshot, embedding and Bedrock entries among its 17
    // entries).
    let dir = tempfile::tempdir().unwrap();
    let text = sample_config_with_absolute_paths()
        + &format!(
            "\n[prices]\nfile = \"{}\"\n",
            root()
                .join("tests/fixtures/litellm_1.110.2_prices_slice.json")
                .display()
        );
    let config = write_config(dir.path(), &text);
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &[]));
    let s = summary(&out);
    assert_eq!(s["price_file"]["entries"], 15);
    assert_eq!(s["price_file"]["skipped"], 1);
    // The file prices mistral-large-latest (as mistral/…, the requests' provider): computed
    // from the CSV with Python's decimal module, (uncached × $0.50 + cached × $0.05 +
    // output × $1.50) / 1M over its 33 requests = $0.0563577; the other models' prices
    // in the file equal the catalog's, so the total is $2,164.86982658 + $0.0563577.
    assert_eq!(s["totals"]["unpriced_requests"], 0);
    assert_eq!(s["totals"]["cost_usd"], "2164.92618428");
    assert_eq!(
        scalar(
            &out,
            "SELECT DISTINCT price_id FROM requests WHERE model = 'mistral-large-latest'"
        ),
        "litellm:mistral/mistral-large-latest"
    );
    // The SpendLogs' own `spend` (generate.py, Python's decimal at LiteLLM's rates) equals
    // the cost computed here with LiteLLM's table, request by request.
    assert_eq!(
        query(
            &out,
            "SELECT COUNT(*), CAST(SUM(source_cost_usd) AS VARCHAR) FROM requests WHERE source = 'litellm' AND cost_usd = source_cost_usd"
        ),
        vec![vec!["177".to_string(), "0.284032780000".into()]]
    );
}

#[test]
fn sample_data_gpu_bills_utilisation_and_attribution() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_ok(&run(&root().join(SAMPLE_CONFIG), &out, &[]));
    let s = summary(&out);
    // generate.py: the bills hold $33,847.148 of GPU spend (2 × p5.48xlarge at $98.32 and a
    // g5.xlarge at $1.006 for 168 hours, a −$50 credit, and the spot node's 168 hourly
    // prices), $169.008 of it on the dev box no pool claims, and 22 non-GPU rows.
    let billing: Vec<(u64, u64, u64)> = s["billing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["rows_read"].as_u64().unwrap(),
                b["rows_gpu"].as_u64().unwrap(),
                b["rows_non_gpu"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(billing, vec![(520, 505, 15), (175, 168, 7)]);
    let gpu = &s["gpu_spend"];
    assert_eq!(gpu["billed_usd"], "33847.148");
    assert_eq!(gpu["unassigned_usd"], "169.008");
    assert_eq!(gpu["reconciles"], true);

    // Utilisation over the week, computed independently by generate.py: chat-prod by DCGM
    // (mean of its GPUs' samples per hour, averaged over hours) 0.372468378; batch-pool by
    // the union of its request intervals 0.023478800.
    let utilisation = query(
        &out,
        "SELECT pool, MIN(method) AS method, COUNT(*) AS hours, \
         CAST(round(SUM(busy_gpu_hours) / SUM(gpu_hours_billed), 9) AS VARCHAR) AS u \
         FROM hourly_utilization GROUP BY pool ORDER BY pool",
    );
    assert_eq!(
        utilisation,
        vec![
            vec![
                "batch-pool".to_string(),
                "requests".into(),
                "168".into(),
                "0.0234788".into()
            ],
            vec![
                "chat-prod".to_string(),
                "dcgm".into(),
                "168".into(),
                "0.372468378".into()
            ],
        ]
    );
    // Every pool-hour: attributed + idle = billed, to the last decimal.
    assert_eq!(
        scalar(
            &out,
            "SELECT COUNT(*) FROM (SELECT pool, hour, SUM(gpu_cost_usd) AS a FROM gpu_cost_attribution GROUP BY pool, hour) x \
             JOIN (SELECT pool, hour, SUM(cost_usd) AS b FROM gpu_billing_hourly WHERE pool IS NOT NULL GROUP BY pool, hour) y \
             ON x.pool = y.pool AND x.hour = y.hour WHERE x.a <> y.b"
        ),
        "0"
    );
    // API and GPU spend in one table: its total is the API cost plus every billed GPU
    // dollar, $2,164.86982658 + $33,847.148.
    assert_eq!(
        scalar(
            &out,
            "SELECT CAST(SUM(total_cost_usd) AS VARCHAR) FROM cost_attribution"
        ),
        "36012.017826580000"
    );
    // vLLM: 9,000 generated tokens per 15-minute scrape in the two nightly hours, 56 such
    // hours in the week, through a counter reset on day 4: 504,000 tokens.
    assert_eq!(
        scalar(
            &out,
            "SELECT CAST(SUM(generation_tokens) AS BIGINT) FROM vllm_hourly"
        ),
        "504000"
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("**Self-hosted GPU spend:** $33,847.15 billed"),
        "{report}"
    );
    assert!(report.contains("## Self-hosted pools"), "{report}");
}

#[test]
fn a_slice_of_the_real_focus_sample_is_accounted_for() {
    // 60 rows of FOCUS-Sample-Data (FOCUS 1.0, CC-BY-4.0): its 8 g5.4xlarge GPU rows,
    // credits, negative rows, 'Usage-based' case variants, NULL strings and JSON tags.
    let dir = tempfile::tempdir().unwrap();
    let fixture = root().join("tests/fixtures/focus_1.0_sample_slice60.csv");
    for (basis, gpu_cost) in [("effective", "11"), ("billed", "10.203682944")] {
        let config = write_config(
            dir.path(),
            &format!(
                "[[billing]]\npath = \"{}\"\nformat = \"focus\"\ncost_basis = \"{basis}\"\n",
                fixture.display()
            ),
        );
        let out = dir.path().join(format!("out-{basis}"));
        assert_ok(&run(&config, &out, &[]));
        let s = summary(&out);
        let b = &s["billing"][0];
        // Sums from the CSV with Python's csv and decimal modules.
        let counts = ["rows_read", "rows_gpu", "rows_non_gpu", "rows_quarantined"]
            .map(|k| b[k].as_u64().unwrap());
        assert_eq!(counts, [60, 8, 52, 0]);
        assert_eq!(b["gpu_cost_usd"], gpu_cost);
        assert_eq!(s["gpu_spend"]["unassigned_usd"], gpu_cost);
        // 6.283056 A10G GPU-hours consumed.
        assert_eq!(
            scalar(
                &out,
                "SELECT CAST(round(SUM(gpu_hours), 6) AS VARCHAR) FROM gpu_billing_hourly"
            ),
            "6.283056"
        );
    }
}

#[test]
fn quarterly_review_of_the_sample_history() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_ok(&run(&root().join(SAMPLE_CONFIG), &out, &[]));
    // `review --quarter Q --out OUT` and more arguments.
    let review_of = |quarter: &str, more: &[&str]| {
        inferledger(
            &[
                &[
                    "review",
                    "--quarter",
                    quarter,
                    "--out",
                    out.to_str().unwrap(),
                ],
                more,
            ]
            .concat(),
        )
    };
    let output = review_of("2026Q4", &["--config", SAMPLE_CONFIG]);
    assert_ok(&output);
    let review = std::fs::read_to_string(out.join("review/2026Q4/review.md")).unwrap();
    for section in [
        "## Plan: what to do",
        "## Next quarter",
        "## Spend by month",
        "## Quarter over quarter",
        "## Cost per completed interaction by month",
        "## Utilisation per pool",
        "## Self-host break-even",
        "## What if",
        "## Top recommendations",
    ] {
        assert!(review.contains(section), "{section} missing:\n{review}");
    }
    // November's spend is the whole sample: $2,164.87 API + $33,847.15 GPU = $36,012.02,
    // and it says that is 7 of November's 30 days.
    assert!(
        review.contains("| 2026-11 | 7 | 30 | $2,164.87 | $33,847.15 | $36,012.02 |"),
        "{review}"
    );
    // The assumption shown is the one the break-even used: the bill's $12.29 an H100-hour
    // ($98.32 for an 8-GPU p5 hour), not [economics]' $2.50.
    assert!(
        review.contains(
            "GPU $12.29 an hour for H100 (bills: on-demand H100 GPU-hours in the lookback)"
        ),
        "{review}"
    );
    // The Opus workload ($9,379.60 a month on the API) sized for its busy hours: its p95
    // hour (314 output tokens/s) needs ceil(314 / (1,000 × 0.6)) = 1 GPU, 2 with the spare
    // replica, at the bill's $12.29 an H100-hour: 2 × 12.29 × 730.5 = $17,955.69, plus ops
    // 0.25 × the sample's $2,500 engineer-month = $625: $18,580.69 a month. The API stays
    // cheaper ('api', nothing saved), where a month's average on one GPU ($8,977.85) had
    // said self-host and save $401.75.
    assert!(
        review.contains("| claude-opus-4-1-20250805 | nightly-report | – | $9,379.60 | $18,580.69 | 2 | 314 | 1 | $625.00 | $2,500.00 | – |")
            && review.contains("| 2.0% | – | api | $0.00 |"),
        "{review}"
    );
    // The plan for 2027Q1: chat-prod's sources disagree (DCGM 37% busy, its tokens 0.013%
    // of its GPUs at the assumed 1,000 tokens/s): checked first, and its move to the API
    // waits on that check instead of counting as a saving now.
    assert!(
        review.contains("| check first | pool chat-prod | utilisation\\_sources\\_disagree |")
            && review.contains(
                "| after the check | pool chat-prod | pool\\_costs\\_more\\_than\\_api |"
            ),
        "{review}"
    );
    // Of the total counted once, what the two pools in doubt would save waits on their
    // check, and the headline says how much.
    let doubtful: rust_decimal::Decimal = scalar(
        &out,
        "SELECT CAST(SUM(combined_monthly_savings_usd) AS VARCHAR) FROM savings_by_spend \
         WHERE acts_on IN ('pool chat-prod', 'pool batch-pool')",
    )
    .parse()
    .unwrap();
    assert!(
        review.contains(&format!(
            " {} of it is on pools whose utilisation sources disagree",
            inferledger::publish::summary::money(doubtful, 2)
        )),
        "{doubtful}: {review}"
    );
    // The forecast of 2027Q1 (90 days) if nothing changes: the lookback's API spend over
    // its 7 days with requests × 90, and its GPU bill over its 168 billed hours × 2,160
    // hours, from cost_attribution's sums with Decimal arithmetic here.
    let sum = |column: &str| -> rust_decimal::Decimal {
        scalar(
            &out,
            &format!("SELECT CAST(SUM({column}) AS VARCHAR) FROM cost_attribution"),
        )
        .parse()
        .unwrap()
    };
    let api = (sum("cost_usd") * rust_decimal::Decimal::from(90) / rust_decimal::Decimal::from(7))
        .round_dp(2);
    let gpu = (sum("gpu_cost_usd") * rust_decimal::Decimal::from(2160)
        / rust_decimal::Decimal::from(168))
    .round_dp(2);
    let dollars = |d: rust_decimal::Decimal| inferledger::publish::summary::money(d, 2);
    assert!(
        review.contains(&format!("| API | {} |", dollars(api)))
            && review.contains(&format!("| GPU | {} |", dollars(gpu)))
            && review.contains(&format!(
                "**2027Q1: {} if nothing changes",
                dollars(api + gpu)
            )),
        "API {api}, GPU {gpu}: {review}"
    );
    // gpt-4o-mini breaks even only above 100% of a GPU: said as never, not as 246%.
    assert!(review.contains("| never (246% of a GPU) |"), "{review}");
    // Cost per completed interaction is API and GPU together, as in report.md: for each
    // feature in November, the total cost of its interactions (summed here straight from
    // `interactions`, which the review does not read) over the completed ones. chat runs
    // on the self-hosted pool: without its GPU share it would be cents.
    let by_feature = |rows: Vec<Vec<String>>| -> std::collections::BTreeMap<String, String> {
        rows.into_iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect()
    };
    let expected = by_feature(query(
        &out,
        "SELECT feature, CAST(CAST(CAST(SUM(total_cost_usd) AS DECIMAL(30, 12)) \
         / CAST(SUM(CASE WHEN completed THEN 1 ELSE 0 END) AS DECIMAL(20, 0)) AS DECIMAL(38, 12)) AS VARCHAR) \
         FROM interactions WHERE date LIKE '2026-11%' GROUP BY feature \
         HAVING SUM(CASE WHEN completed THEN 1 ELSE 0 END) > 0",
    ));
    let reviewed = by_feature(parquet_query(
        &out.join("review/2026Q4/cost_per_completed_by_month.parquet"),
        "SELECT feature, CAST(cost_per_completed_interaction AS VARCHAR) FROM t \
         WHERE month = '2026-11' AND cost_per_completed_interaction IS NOT NULL",
    ));
    assert_eq!(reviewed, expected);
    let chat: rust_decimal::Decimal = reviewed["chat"].parse().unwrap();
    assert!(chat > rust_decimal::Decimal::ONE, "chat: {chat}");
    // The assumptions printed are the ones the run recorded with its tables, whatever
    // config the review is given (the sample's target utilisation is the default 60%; a
    // config saying 75% changes nothing here), and the throughput it assumed per model.
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        sample_config_with_absolute_paths()
            .replace("[economics]\n", "[economics]\nselfhost_wins_above = 0.75\n"),
    )
    .unwrap();
    let again = review_of("2026Q4", &["--config", other.to_str().unwrap()]);
    assert_ok(&again);
    let again = std::fs::read_to_string(out.join("review/2026Q4/review.md")).unwrap();
    assert!(
        again.contains("Assumptions the run used (recorded with its tables)")
            && again.contains("target utilisation 60%")
            && !again.contains("target utilisation 75%")
            && again.contains("output tokens per second per GPU: "),
        "{again}"
    );
    // Without --quarter: the quarter of the latest data (2026Q4), whatever today is.
    let default = inferledger(&["review", "--out", out.to_str().unwrap()]);
    assert_ok(&default);
    assert!(
        stdout(&default).contains("review/2026Q4/review.md"),
        "{}",
        stdout(&default)
    );
    // Every scenario of the Opus workload, with the GPU price from the bill ($12.29 an
    // H100-hour, $8,977.845 a GPU-month, 2 GPUs: $17,955.69) and its $625 of ops, which no
    // GPU price moves: +40% → 25,137.966 + 625 = $25,762.97, −40% → 10,773.414 + 625 =
    // $11,398.41. Throughput −50% (500 tokens/s a GPU): ceil(314 / 300) = 2 GPUs, 3 with
    // the spare: 3 × 8,977.845 + 625 = $27,558.54 (…535 rounds half away from zero);
    // +50%: still 1 + 1, $18,580.69.
    let opus = "model claude-opus-4-1-20250805 / feature nightly-report | api\\_workload";
    for (scenario, cost) in [
        ("GPU price +40%", "$25,762.97"),
        ("GPU price -40%", "$11,398.41"),
        ("throughput -50%", "$27,558.54"),
        ("throughput +50%", "$18,580.69"),
    ] {
        assert!(
            review.contains(&format!("| {opus} | {scenario} | {cost} |")),
            "{scenario}: {review}"
        );
    }
    // The tables are written as Parquet too.
    for table in [
        "spend_by_month",
        "scenarios",
        "utilization_distribution",
        "recommendations",
    ] {
        assert!(
            out.join(format!("review/2026Q4/{table}.parquet")).exists(),
            "{table}"
        );
    }
    // A quarter without data says so rather than failing, and shows no decision: the
    // latest run decided over November 2026, not 2025Q1.
    let empty = review_of("2025Q1", &[]);
    assert_ok(&empty);
    let empty = std::fs::read_to_string(out.join("review/2025Q1/review.md")).unwrap();
    assert!(
        empty.contains("**No decisions for 2025Q1.**")
            && empty.contains("outside 2025Q1")
            && !empty.contains("a month together")
            && !empty.contains("| selfhost |"),
        "{empty}"
    );
    let bad = review_of("2026Q7", &[]);
    assert_eq!(
        bad.status.code(),
        Some(64),
        "a bad quarter is an argument error (64), not bad rows (2)"
    );
}

#[test]
fn a_committed_pool_saves_only_from_its_renewal_in_the_review() {
    // The sample's chat-prod pool billed under a commitment: the same FOCUS rows with
    // PricingCategory Committed instead of Standard (same costs), and [[pools]]
    // commitment_ends = "2027-02-14". Moving it to the API saves the same each month as on
    // demand, but only from 2027-02-15: nothing now, and in 2027Q1 45 of its 90 days
    // (14 in February, 31 in March), 45 / 30.4375 of a month's saving.
    let dir = tempfile::tempdir().unwrap();
    let on_demand = dir.path().join("on-demand");
    assert_ok(&run(&root().join(SAMPLE_CONFIG), &on_demand, &[]));
    let rule =
        "FROM recommendations WHERE rule = 'pool_costs_more_than_api' AND scope = 'pool chat-prod'";
    let saving: rust_decimal::Decimal = scalar(
        &on_demand,
        &format!("SELECT CAST(est_monthly_savings_usd AS VARCHAR) {rule}"),
    )
    .parse()
    .unwrap();
    assert!(saving > rust_decimal::Decimal::from(100_000), "{saving}");
    let focus =
        std::fs::read_to_string(root().join("sample-data/billing/focus_aws_week.csv")).unwrap();
    let mut flipped = 0;
    let committed: Vec<String> = focus
        .lines()
        .map(|line| {
            if line.contains(",i-0chatprod") && line.contains(",Standard,AWS,") {
                flipped += 1;
                line.replace(",Standard,AWS,", ",Committed,AWS,")
            } else {
                line.to_string()
            }
        })
        .collect();
    assert_eq!(
        flipped, 336,
        "every chat-prod usage row of the sample bill (its one credit has no pricing category)"
    );
    let bill = dir.path().join("focus_committed.csv");
    std::fs::write(&bill, committed.join("\n") + "\n").unwrap();
    let config = dir.path().join("committed.toml");
    let text = sample_config_with_absolute_paths()
        .replace(
            &root()
                .join("sample-data/billing/focus_aws_week.csv")
                .display()
                .to_string(),
            &bill.display().to_string(),
        )
        .replace(
            "api_model = \"gpt-4o\"\n",
            "api_model = \"gpt-4o\"\ncommitment_ends = \"2027-02-14\"\n",
        );
    assert!(text.contains("commitment_ends") && text.contains("focus_committed.csv"));
    std::fs::write(&config, text).unwrap();
    let out = dir.path().join("committed");
    assert_ok(&run(&config, &out, &[]));
    assert_eq!(
        query(
            &out,
            &format!(
                "SELECT realisable, commitment_ends, CAST(est_monthly_savings_usd AS VARCHAR), CAST(saving_at_renewal_usd AS VARCHAR) {rule}"
            )
        ),
        vec![vec![
            "at renewal".to_string(),
            "2027-02-14".to_string(),
            "0.000000000000".to_string(),
            saving.to_string(),
        ]]
    );
    let review = inferledger(&[
        "review",
        "--quarter",
        "2026Q4",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_ok(&review);
    let review = std::fs::read_to_string(out.join("review/2026Q4/review.md")).unwrap();
    let dollars = |d: rust_decimal::Decimal| inferledger::publish::summary::money(d, 2);
    let in_quarter = (saving * rust_decimal::Decimal::from(45)
        / rust_decimal::Decimal::new(304375, 4))
    .round_dp(2);
    assert!(
        review.contains(&format!(
            "| at renewal | pool chat-prod | pool\\_costs\\_more\\_than\\_api | {} | 2027-02-15 | $0.00 | {} |",
            dollars(saving),
            dollars(in_quarter)
        )) && !review.contains("| after the check | pool chat-prod |"),
        "{} from 2027-02-15, {} in 2027Q1: {review}",
        dollars(saving),
        dollars(in_quarter)
    );
    // The GPU line of 2027Q1 keeps the committed pool until its renewal: the GPU bill
    // over the lookback's 168 billed hours × 2,160 hours if nothing changes, and the plan
    // saves only those 45 days (batch-pool's move waits on its check).
    let gpu: rust_decimal::Decimal = scalar(
        &out,
        "SELECT CAST(SUM(gpu_cost_usd) AS VARCHAR) FROM cost_attribution",
    )
    .parse()
    .unwrap();
    let gpu =
        (gpu * rust_decimal::Decimal::from(2160) / rust_decimal::Decimal::from(168)).round_dp(2);
    assert!(
        review.contains(&format!(
            "| GPU | {} | {} |",
            dollars(gpu),
            dollars(in_quarter)
        )),
        "GPU {gpu}: {review}"
    );
}

#[test]
fn focus_export_has_the_mandatory_columns_and_the_run_totals() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_ok(&run(&root().join(SAMPLE_CONFIG), &out, &[]));
    let file = dir.path().join("focus.csv");
    let output = export_focus(&out, &file);
    assert_ok(&output);
    // The row order is total: a second export is the same file, byte for byte.
    let again = dir.path().join("focus-again.csv");
    assert_ok(&export_focus(&out, &again));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(&again).unwrap()
    );
    let (headers, records) = read_csv(&file);
    // FOCUS 1.2's mandatory columns (FinOps Foundation, FOCUS 1.2 specification).
    for column in [
        "BilledCost",
        "BillingAccountId",
        "BillingAccountName",
        "BillingCurrency",
        "BillingPeriodEnd",
        "BillingPeriodStart",
        "ChargeCategory",
        "ChargeClass",
        "ChargeDescription",
        "ChargeFrequency",
        "ChargePeriodEnd",
        "ChargePeriodStart",
        "ContractedCost",
        "EffectiveCost",
        "InvoiceIssuerName",
        "ListCost",
        "PricingQuantity",
        "PricingUnit",
        "ProviderName",
        "PublisherName",
        "ServiceCategory",
        "ServiceName",
        "ServiceSubcategory",
        "ConsumedQuantity",
        "ConsumedUnit",
        "ResourceId",
        "SkuId",
        "SubAccountId",
        "Tags",
        "PricingCategory",
        "ListUnitPrice",
        "ContractedUnitPrice",
    ] {
        assert!(
            headers.iter().any(|h| h == column),
            "{column} missing from {headers:?}"
        );
    }
    let cost = headers.iter().position(|h| h == "BilledCost").unwrap();
    let unit = headers.iter().position(|h| h == "ConsumedUnit").unwrap();
    let tags = headers.iter().position(|h| h == "Tags").unwrap();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (list_cost, quantity, unit_price) = (
        column("ListCost"),
        column("ConsumedQuantity"),
        column("ListUnitPrice"),
    );
    let mut total = rust_decimal::Decimal::ZERO;
    let mut token_rows = 0;
    let mut gpu_rows = 0;
    let mut unpriced_tokens = 0;
    let mut credit = rust_decimal::Decimal::ZERO;
    let mut output_meter_rows = 0;
    let mut pool_day_hours = std::collections::BTreeMap::<(String, String), f64>::new();
    for record in records {
        if &record[column("x_InferledgerKind")] == "api_unpriced" {
            // No price entry: the cost is unknown, so every cost column is empty (NULL).
            for name in ["BilledCost", "EffectiveCost", "ListCost", "ListUnitPrice"] {
                assert_eq!(&record[column(name)], "", "{name} in {record:?}");
            }
            unpriced_tokens += record[quantity].parse::<f64>().unwrap() as i64;
            continue;
        }
        total += record[cost].parse::<rust_decimal::Decimal>().unwrap();
        // Unit prices are decimal: ListCost / ConsumedQuantity, rounded to 12 decimals,
        // recomputed here with rust_decimal (no float in between).
        let amount: rust_decimal::Decimal = record[quantity].parse().unwrap_or_default();
        if amount > rust_decimal::Decimal::ZERO {
            let expected =
                (record[list_cost].parse::<rust_decimal::Decimal>().unwrap() / amount).round_dp(12);
            let actual: rust_decimal::Decimal = record[unit_price].parse().unwrap();
            assert!(
                (expected - actual).abs() <= rust_decimal::Decimal::new(1, 12),
                "{expected} vs {actual} in {record:?}"
            );
        }
        token_rows += (&record[unit] == "Tokens") as usize;
        // Output tokens are their own SkuMeter, so their unit price is the list output
        // price ($ per million tokens in pipeline/prices/catalog.csv; no batch requests in
        // the sample).
        if &record[column("SkuMeter")] == "Output tokens" {
            let per_million = match &record[column("ResourceName")] {
                "claude-haiku-4-5-20251001" => "5",
                "claude-sonnet-4-5-20250929" => "15",
                "claude-opus-4-1-20250805" => "75",
                "gpt-4o-2024-08-06" => "10",
                "gpt-4.1-2025-04-14" => "8",
                "gpt-4o-mini" => "0.6",
                "gpt-4.1-mini" => "1.6",
                "gemini-2.5-flash" => "2.5",
                _ => "",
            };
            if !per_million.is_empty() {
                let expected = per_million.parse::<rust_decimal::Decimal>().unwrap()
                    / rust_decimal::Decimal::new(1_000_000, 0);
                let actual: rust_decimal::Decimal = record[unit_price].parse().unwrap();
                assert_eq!(actual, expected, "{record:?}");
                output_meter_rows += 1;
            }
        }
        // FOCUS allows four PricingCategory values. GPU rows carry what the bills say
        // (sample-data/billing/*.csv): billed by AWS in us-east-2, the batch pool's instance
        // on `USE2-SpotUsage` in the CUR file (Dynamic), the rest Standard; the
        // chat-prod day with a -$50 credit is still Standard (credits do not make a mix).
        let pricing = &record[column("PricingCategory")];
        let is_credit = &record[column("ChargeCategory")] == "Credit";
        assert!(
            if is_credit {
                pricing.is_empty()
            } else {
                ["Standard", "Dynamic", "Committed", "Other"].contains(&pricing)
            },
            "{pricing}"
        );
        if record[column("x_InferledgerKind")].starts_with("gpu_") {
            assert_eq!(&record[column("ProviderName")], "AWS", "{record:?}");
            assert_eq!(&record[column("InvoiceIssuerName")], "AWS", "{record:?}");
            assert_eq!(&record[column("RegionId")], "us-east-2", "{record:?}");
            let expected = if &record[column("ResourceId")] == "batch-pool" {
                "Dynamic"
            } else {
                "Standard"
            };
            if &record[column("x_InferledgerKind")] == "gpu_credit" {
                // The bill's −$50 support credit on a chat-prod instance (line 520 of
                // focus_aws_week.csv) as Credit rows, not folded into usage.
                assert_eq!(&record[column("ChargeCategory")], "Credit");
                assert_eq!(&record[column("ChargeFrequency")], "One-Time");
                assert_eq!(&record[column("ResourceId")], "chat-prod");
                assert!(record[column("ChargePeriodStart")].starts_with("2026-11-19"));
                assert_eq!(&record[quantity], "", "a credit consumes nothing");
                credit += record[cost].parse::<rust_decimal::Decimal>().unwrap();
                continue;
            }
            assert_eq!(pricing, expected, "{record:?}");
            assert_eq!(&record[column("ChargeCategory")], "Usage", "{record:?}");
            assert_eq!(&record[column("ConsumedUnit")], "GPU-Hours", "{record:?}");
            // Per GPU-hour, chat-prod costs what the bill charges: $98.32 an hour for 8
            // GPUs = $12.29 (not on 11-19, whose −$50 credit lowers it).
            if &record[column("ResourceId")] == "chat-prod"
                && !record[column("ChargePeriodStart")].starts_with("2026-11-19")
            {
                let rate: f64 = record[unit_price].parse().unwrap();
                assert!((rate - 12.29).abs() < 1e-5, "{record:?}");
            }
            if record[column("x_InferledgerKind")] != *"gpu_unassigned" {
                let key = (
                    record[column("ChargePeriodStart")].to_string(),
                    record[column("ResourceId")].to_string(),
                );
                *pool_day_hours.entry(key).or_insert(0.0) +=
                    record[quantity].parse::<f64>().unwrap();
            }
            gpu_rows += 1;
        }
        // FOCUS DateTimeFormat: ISO 8601 UTC with the `Z`, e.g. 2026-11-17T00:00:00Z.
        for name in [
            "BillingPeriodStart",
            "BillingPeriodEnd",
            "ChargePeriodStart",
            "ChargePeriodEnd",
        ] {
            assert!(
                is_focus_datetime(&record[column(name)]),
                "{name} = {:?} is not YYYY-MM-DDTHH:MM:SSZ",
                &record[column(name)]
            );
        }
        let parsed: serde_json::Value = serde_json::from_str(&record[tags]).expect("Tags is JSON");
        assert!(parsed.get("team").is_some());
    }
    assert!(token_rows > 0);
    assert!(output_meter_rows > 100, "{output_meter_rows}");
    // 7 days × (batch-pool allocation + idle, chat-prod idle, the dev box) + 14 chat-prod
    // allocation rows (two team/feature slices a day).
    assert_eq!(gpu_rows, 42);
    // The 33 mistral-large-latest requests the sample's price table does not cover are
    // there, with their tokens (a separate query: SUM(input_tokens + output_tokens) of the
    // requests with no cost and no pool = 109,137).
    assert_eq!(unpriced_tokens, 109_137);
    // Split over the credited hour's slices, the credit rows still add up to it exactly.
    assert_eq!(credit, rust_decimal::Decimal::new(-50, 0));
    // A pool's allocated and idle GPU-hours add up to what the bills charge each day:
    // chat-prod is two p5.48xlarge in the FOCUS file (2 × 8 H100 × 24 h = 384), batch-pool
    // one g6e.12xlarge in the CUR file (4 L40S × 24 h = 96).
    assert_eq!(pool_day_hours.len(), 14);
    for ((day, pool), hours) in &pool_day_hours {
        let billed = if pool == "chat-prod" { 384.0 } else { 96.0 };
        assert!((hours - billed).abs() < 1e-4, "{day} {pool}: {hours}");
    }
    // The export adds up to cost_attribution: $2,164.86982658 API + $33,847.148 GPU.
    assert_eq!(
        total,
        "36012.01782658".parse::<rust_decimal::Decimal>().unwrap()
    );
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the shape FOCUS's DateTimeFormat requires.
fn is_focus_datetime(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 20
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            19 => *b == b'Z',
            _ => b.is_ascii_digit(),
        })
}

#[test]
fn html_report_parses_and_draws_one_mark_per_data_point() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_ok(&run(&root().join(SAMPLE_CONFIG), &out, &[]));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    // Self-contained: no scripts, no linked stylesheets, images or fonts.
    for fetch in ["<script", "<link", "src=", "url(", "@import"] {
        assert!(!html.contains(fetch), "{fetch} in the report");
    }
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc =
        roxmltree::Document::parse_with_options(&html, options).expect("the report is well-formed");
    let marks = |id: &str| {
        let svg = doc
            .descendants()
            .find(|n| n.attribute("id") == Some(id))
            .unwrap_or_else(|| panic!("no chart {id}"));
        svg.descendants()
            .filter(|n| n.attribute("class") == Some("mark"))
            .count()
    };
    // Expected counts come from separate queries over the same tables.
    let count = |sql: &str| scalar(&out, sql).parse::<usize>().unwrap();
    assert_eq!(
        marks("chart-daily-spend"),
        count(
            "SELECT COUNT(*) FROM (SELECT date, team, SUM(total_cost_usd) AS c FROM cost_attribution GROUP BY date, team) t WHERE c > 0"
        )
    );
    // 168 billed hours a pool, one cell each.
    assert_eq!(marks("chart-utilization-chat-prod"), 168);
    assert_eq!(marks("chart-utilization-batch-pool"), 168);
    assert_eq!(marks("chart-cache-hit-ratio"), 7);
    assert_eq!(
        marks("chart-cost-per-completed"),
        count(
            "SELECT COUNT(*) FROM (SELECT date, feature FROM interaction_costs WHERE total_cost_usd > 0 GROUP BY date, feature HAVING SUM(completed_interactions) > 0) t"
        )
    );
    assert_eq!(
        marks("chart-tokens-per-interaction"),
        count(
            "SELECT COUNT(DISTINCT CAST(floor(log2(CAST(GREATEST(total_tokens, 1) AS DOUBLE))) AS BIGINT)) FROM interactions"
        )
    );
    // Tick labels of a chart, in order.
    let ticks = |id: &str| -> Vec<String> {
        let svg = doc
            .descendants()
            .find(|n| n.attribute("id") == Some(id))
            .unwrap();
        svg.descendants()
            .filter(|n| n.attribute("class") == Some("tick"))
            .filter_map(|n| n.text().map(str::to_string))
            .collect()
    };
    // The histogram has a slot for every power of two from the smallest bucket to the
    // largest, empty ones included, so equal spacing is an equal ratio.
    let (low, high): (i64, i64) = {
        let row = query(
            &out,
            "SELECT MIN(b), MAX(b) FROM (SELECT CAST(floor(log2(CAST(GREATEST(total_tokens, 1) AS DOUBLE))) AS BIGINT) AS b FROM interactions)",
        );
        (row[0][0].parse().unwrap(), row[0][1].parse().unwrap())
    };
    // Labels are thinned to stay legible (every other one for more than 13 slots): the
    // labelled powers of two start at the smallest bucket, step evenly, and the step
    // reaches past the largest.
    let exponent = |label: &str| -> i64 {
        let t = label.trim_start_matches('≥');
        let (n, shift) = match t.strip_suffix('M') {
            Some(n) => (n, 20),
            None => match t.strip_suffix('k') {
                Some(n) => (n, 10),
                None => (t, 0),
            },
        };
        n.parse::<i64>().unwrap().trailing_zeros() as i64 + shift
    };
    let labelled: Vec<i64> = ticks("chart-tokens-per-interaction")
        .into_iter()
        .filter(|t| t.starts_with('≥'))
        .map(|t| exponent(&t))
        .collect();
    let step = labelled[1] - labelled[0];
    assert!(
        labelled[0] == low
            && labelled.windows(2).all(|w| w[1] - w[0] == step)
            && labelled.last().unwrap() + step > high
            && (step == 1) == (high - low < 13),
        "{labelled:?} for {low}..={high}"
    );
    // Round axis values: the daily spend axis counts in round steps.
    let spend_ticks: Vec<String> = ticks("chart-daily-spend")
        .into_iter()
        .filter(|t| t.starts_with('$'))
        .collect();
    assert!(spend_ticks.len() >= 3, "{spend_ticks:?}");
    let values: Vec<f64> = spend_ticks
        .iter()
        .map(|t| t.trim_start_matches('$').replace(',', "").parse().unwrap())
        .collect();
    let step = values[1] - values[0];
    assert!(
        values.windows(2).all(|w| (w[1] - w[0] - step).abs() < 1e-6)
            && [1.0, 2.0, 2.5, 5.0].iter().any(|m| {
                let k = (step / m).log10();
                (k - k.round()).abs() < 1e-9
            }),
        "{spend_ticks:?}"
    );
    // Cost per completed interaction spans $0.003 to $308: a log axis at powers of ten.
    assert!(
        ticks("chart-cost-per-completed")
            .iter()
            .any(|t| t == "$0.001")
    );
    assert!(
        ticks("chart-cost-per-completed")
            .iter()
            .any(|t| t == "$1000")
    );
    // Each utilisation heatmap has its colour legend, 0% to 100%.
    for pool in [
        "chart-utilization-chat-prod",
        "chart-utilization-batch-pool",
    ] {
        let legend = ticks(pool);
        assert!(
            legend.iter().any(|t| t == "0%") && legend.iter().any(|t| t == "100%"),
            "{legend:?}"
        );
    }
    // Headline figures, and the recommendations with right-aligned money.
    assert!(html.contains("$36,012.02"), "total spend");
    assert!(
        html.contains(r#"<td class="num">$4,689.80</td>"#),
        "batch API saving, right-aligned"
    );
    // Above the recommendations, the total with each dollar counted once (the sum over
    // savings_by_spend's spends), not the column's sum, which adds alternatives on one
    // pool (chat-prod's move to the API and its right-sizing) and more.
    let figure = |sql: &str| -> rust_decimal::Decimal { scalar(&out, sql).parse().unwrap() };
    let once =
        figure("SELECT CAST(SUM(combined_monthly_savings_usd) AS VARCHAR) FROM savings_by_spend");
    let column =
        figure("SELECT CAST(SUM(est_monthly_savings_usd) AS VARCHAR) FROM recommendations");
    assert!(column > once, "{column} {once}");
    assert!(
        html.contains(&format!(
            "<strong>Together {} a month now</strong>",
            inferledger::publish::summary::money(once, 2)
        )),
        "counted once: {once}"
    );
}

/// FOCUS 1.2's column rules that a row can be checked against on its own (FinOps
/// Foundation, FOCUS 1.2 specification, "Columns"): types, allowed values, and when a
/// column must or must not be null. Returns one line per broken rule.
fn focus_rule_violations(headers: &[String], record: &csv::StringRecord) -> Vec<String> {
    let get = |name: &str| -> Option<&str> {
        let i = headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{name}"));
        Some(&record[i]).filter(|v| !v.is_empty())
    };
    let mut broken = Vec::new();
    let mut rule = |ok: bool, what: String| {
        if !ok {
            broken.push(what);
        }
    };
    let kind = get("x_InferledgerKind").unwrap_or_default();
    let category = get("ChargeCategory").unwrap_or_default();
    let correction = get("ChargeClass") == Some("Correction");
    let usage_or_purchase = matches!(category, "Usage" | "Purchase") && !correction;
    let decimal = |v: Option<&str>| v.is_none_or(|v| v.parse::<rust_decimal::Decimal>().is_ok());
    // Datetimes: YYYY-MM-DDTHH:mm:ssZ.
    let datetime = |v: &str| {
        chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%SZ").is_ok() && v.len() == 20
    };
    for column in [
        "BillingPeriodStart",
        "BillingPeriodEnd",
        "ChargePeriodStart",
        "ChargePeriodEnd",
    ] {
        rule(
            get(column).is_some_and(datetime),
            format!("{column} not a FOCUS datetime"),
        );
    }
    rule(
        get("ChargePeriodStart") < get("ChargePeriodEnd"),
        "ChargePeriodStart not before ChargePeriodEnd".into(),
    );
    rule(
        get("BillingPeriodStart") <= get("ChargePeriodStart")
            && get("ChargePeriodEnd") <= get("BillingPeriodEnd"),
        "charge period outside the billing period".into(),
    );
    // Costs: decimals, never null, except the rows of tokens no price covers (the export
    // keeps them with cost unknown rather than zero, as the issue asked).
    for column in ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"] {
        rule(decimal(get(column)), format!("{column} not a decimal"));
        rule(
            get(column).is_some() || kind == "api_unpriced",
            format!("{column} null"),
        );
    }
    for column in [
        "BillingAccountId",
        "BillingCurrency",
        "ChargeDescription",
        "InvoiceIssuerName",
        "ProviderName",
        "PublisherName",
        "ServiceName",
        "ServiceCategory",
        "PricingCurrency",
    ] {
        rule(get(column).is_some(), format!("{column} null"));
    }
    rule(
        get("BillingCurrency") == Some("USD") && get("PricingCurrency") == Some("USD"),
        "currency not ISO 4217 USD".into(),
    );
    rule(
        matches!(
            category,
            "Usage" | "Purchase" | "Tax" | "Credit" | "Adjustment"
        ),
        format!("ChargeCategory {category}"),
    );
    rule(
        get("ChargeClass").is_none() || correction,
        "ChargeClass".into(),
    );
    rule(
        matches!(
            get("ChargeFrequency"),
            Some("One-Time" | "Recurring" | "Usage-Based")
        ),
        "ChargeFrequency".into(),
    );
    rule(
        !(category == "Purchase" && get("ChargeFrequency") == Some("Usage-Based")),
        "a purchase billed Usage-Based".into(),
    );
    rule(
        get("PricingCategory")
            .is_none_or(|v| matches!(v, "Standard" | "Dynamic" | "Committed" | "Other")),
        "PricingCategory value".into(),
    );
    rule(
        get("ServiceCategory") == Some("AI and Machine Learning")
            && get("ServiceSubcategory") == Some("Generative AI"),
        "service category".into(),
    );
    // Quantities: consumed for usage only; priced for usage and purchases; a unit beside
    // every quantity.
    rule(
        decimal(get("ConsumedQuantity")) && decimal(get("PricingQuantity")),
        "quantity not a number".into(),
    );
    rule(
        (category == "Usage" && !correction) == get("ConsumedQuantity").is_some(),
        "ConsumedQuantity null exactly when not usage".into(),
    );
    rule(
        get("ConsumedQuantity").is_some() == get("ConsumedUnit").is_some(),
        "ConsumedUnit beside ConsumedQuantity".into(),
    );
    rule(
        !usage_or_purchase || get("PricingQuantity").is_some(),
        "PricingQuantity null on usage".into(),
    );
    rule(
        get("PricingQuantity").is_some() == get("PricingUnit").is_some(),
        "PricingUnit beside PricingQuantity".into(),
    );
    // Unit prices, PricingCategory and the SKU: present on usage (unpriced tokens have no
    // price by definition), absent on credits.
    for column in [
        "ListUnitPrice",
        "ContractedUnitPrice",
        "PricingCategory",
        "SkuId",
        "SkuPriceId",
    ] {
        let priced_column = column.ends_with("UnitPrice") || column == "SkuPriceId";
        rule(
            !usage_or_purchase
                || get(column).is_some()
                || (kind == "api_unpriced" && priced_column),
            format!("{column} null on usage"),
        );
    }
    // List cost = list unit price × pricing quantity, up to the unit price's 12 decimals.
    if let (Some(unit), Some(quantity), Some(cost)) = (
        get("ListUnitPrice"),
        get("PricingQuantity"),
        get("ListCost"),
    ) {
        let (unit, cost): (f64, f64) = (unit.parse().unwrap(), cost.parse().unwrap());
        let quantity: f64 = quantity.parse().unwrap();
        rule(
            (unit * quantity - cost).abs() <= quantity * 1e-12 + 1e-9,
            format!(
                "ListUnitPrice × PricingQuantity = {} ≠ ListCost {cost}",
                unit * quantity
            ),
        );
    }
    rule(
        get("Tags").is_none_or(|t| {
            serde_json::from_str::<serde_json::Value>(t).is_ok_and(|v| v.is_object())
        }),
        "Tags not a JSON object".into(),
    );
    broken
}

#[test]
fn focus_export_follows_the_spec_rules_and_credits_unassigned_gpus_apart() {
    // The sample with one more billing row: a −$5 credit on the dev box no pool claims.
    // It is a Credit row of its own (before: folded into the box's usage, which then said
    // $19.144 for the day's 24 GPU-hours), and every row of the export keeps FOCUS 1.2's
    // column rules.
    let dir = tempfile::tempdir().unwrap();
    let sample = root().join("sample-data");
    let bill = std::fs::read_to_string(sample.join("billing/focus_aws_week.csv")).unwrap();
    std::fs::create_dir(dir.path().join("billing")).unwrap();
    std::fs::write(
        dir.path().join("billing/focus_aws_week.csv"),
        format!(
            "{bill}-5.00000000,210987654321,USD,2026-12-01 00:00:00,2026-11-01 00:00:00,Credit,NULL,Credit for dev box downtime,One-Time,2026-11-18 10:00:00,2026-11-18 10:00:00,NULL,0,Hours,-5.00000000,-5.00000000,NULL,AWS,us-east-2,i-0devbox42,dev-notebook,Compute,Amazon Elastic Compute Cloud,NULL\n"
        ),
    )
    .unwrap();
    let text = sample_config_with_absolute_paths().replace(
        &format!("{}/billing/focus_aws_week.csv", sample.display()),
        "billing/focus_aws_week.csv",
    );
    let config = write_config(dir.path(), &text);
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &[]));
    let file = dir.path().join("focus.csv");
    assert_ok(&export_focus(&out, &file));
    let (headers, records) = read_csv(&file);
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let mut violations = Vec::new();
    for (i, record) in records.iter().enumerate() {
        for broken in focus_rule_violations(&headers, record) {
            violations.push(format!(
                "row {} ({}): {broken}",
                i + 2,
                &record[column("x_InferledgerKind")]
            ));
        }
    }
    let distinct: std::collections::BTreeSet<String> = violations
        .iter()
        .map(|v| {
            v.split_once(" (")
                .map_or(v.clone(), |(_, rest)| rest.to_string())
        })
        .collect();
    assert!(
        violations.is_empty(),
        "{} violations, first {:?}; of these kinds: {distinct:?}",
        violations.len(),
        violations.first()
    );
    // The dev box on 2026-11-18: 24 GPU-hours at $1.006 = $24.144 of usage, and the credit.
    let devbox: Vec<(String, String, String)> = records
        .iter()
        .filter(|r| {
            &r[column("ResourceId")] == "i-0devbox42"
                && r[column("ChargePeriodStart")].starts_with("2026-11-18")
        })
        .map(|r| {
            (
                r[column("ChargeCategory")].to_string(),
                r[column("BilledCost")].to_string(),
                r[column("ConsumedQuantity")].to_string(),
            )
        })
        .collect();
    assert_eq!(
        devbox,
        vec![
            ("Credit".to_string(), "-5.000000000000".into(), "".into()),
            ("Usage".to_string(), "24.144000000000".into(), "24.0".into()),
        ]
    );
    // The credit names no instance type, but its resource is a GPU instance in the same
    // bill: GPU spend (generate.py: $33,154.528 of GPU rows in this bill, less $5). The
    // −$12 promotional credit with no resource stays non-GPU spend: nothing to charge it to.
    let bill_summary = &summary(&out)["billing"][0];
    assert_eq!(bill_summary["rows_gpu"], 506);
    assert_eq!(bill_summary["rows_non_gpu"], 15);
    assert_eq!(bill_summary["gpu_cost_usd"], "33149.528");
    // The export still sums to the run: $36,012.01782658 for the sample, less the credit.
    let total: rust_decimal::Decimal = records
        .iter()
        .filter_map(|r| {
            r[column("BilledCost")]
                .parse::<rust_decimal::Decimal>()
                .ok()
        })
        .sum();
    assert_eq!(total.normalize().to_string(), "36007.01782658");
}

#[cfg_attr(
    not(feature = "test-hooks"),
    ignore = "needs the test hooks: --features test-hooks (make test)"
)]
#[test]
fn logs_read_in_parallel_parts_give_the_same_tables() {
    // Every JSON-lines file of the sample split into parts at any size (the sample's files
    // are far under the 32 MiB a split needs by default), read on every core: the same
    // tables, quarantine line numbers and counts as reading each file in one pass. The
    // sample's OpenAI log has duplicates, bad lines and blank lines to land in any part.
    let dir = tempfile::tempdir().unwrap();
    let (whole, split) = (dir.path().join("whole"), dir.path().join("split"));
    let run_with_split = |out: &std::path::Path, split_bytes: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_inferledger"))
            .args([
                "run",
                "--config",
                SAMPLE_CONFIG,
                "--out",
                out.to_str().unwrap(),
            ])
            .current_dir(root())
            .env("INFERLEDGER_SPLIT_BYTES", split_bytes)
            .output()
            .unwrap();
        assert_ok(&output);
    };
    run_with_split(&whole, "1000000000");
    run_with_split(&split, "1");
    // The files' parts, and the summary with them left out.
    let parts_and_rest = |out: &std::path::Path| {
        let mut sources = summary(out)["sources"].clone();
        let mut parts = Vec::new();
        for source in sources.as_array_mut().unwrap() {
            for file in source["files"].as_array_mut().unwrap() {
                parts.push(file["parts"].as_u64().unwrap());
                file.as_object_mut().unwrap().remove("parts");
            }
        }
        (parts, sources)
    };
    let (whole_parts, whole_sources) = parts_and_rest(&whole);
    let (split_parts, split_sources) = parts_and_rest(&split);
    assert!(whole_parts.iter().all(|p| *p == 1), "{whole_parts:?}");
    // This machine has 2 cores (rust.md); the sample's JSON-lines files are read in 2
    // parts each (its CSV, one file, in one).
    assert!(
        split_parts.iter().filter(|p| **p >= 2).count() >= 5,
        "{split_parts:?}"
    );
    assert_eq!(split_sources, whole_sources);
    assert_eq!(summary(&split)["totals"], summary(&whole)["totals"]);
    assert_same_tables(&tables(&split), &tables(&whole), "the split run");
}

/// Runs `export --focus` of the run in `out` into `file`.
fn export_focus(out: &std::path::Path, file: &std::path::Path) -> std::process::Output {
    inferledger(&[
        "export",
        "--focus",
        "--out",
        out.to_str().unwrap(),
        "--output",
        file.to_str().unwrap(),
    ])
}

/// A CSV file's header and records.
fn read_csv(file: &std::path::Path) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_path(file).unwrap();
    let headers = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let records = reader.records().map(Result::unwrap).collect();
    (headers, records)
}
