//! The nightly cost job as a FinOps engineer runs it: `run --from D --to D` every night of a
//! month into one `--out`, over daily log files and a month-to-date bill whose committed
//! charge spans the whole month. Night by night must give exactly the rows of one run over
//! the month, for every table; a rerun of one night touches only that night's partitions.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::helpers::{
    assert_ok, assert_same_tables, files_outside, query, run, summary, tables, write_config,
};

const DAYS: u32 = 30;
/// 2026-11-01T00:00:00Z.
const NOV_1: i64 = 1_793_491_200;

/// A month of inputs, in daily files, made with a seeded generator:
/// - API requests (OpenAI format) every day from four users, including a session that
///   starts at 23:50 and continues after midnight, and quiet days for one user;
/// - a self-hosted pool `chat` (deployment `llama-prod`, one replica) with durations,
///   including requests in flight across midnight and overlapping requests;
/// - one FOCUS bill: node i-commit billed by one $36,000 charge for the month, node
///   i-ondemand billed $40 an hour for six hours a day.
fn write_month(dir: &Path) -> PathBuf {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut rng = fastrand::Rng::with_seed(8);
    let mut id = 0;
    // What OpenAI counts per UTC day: requests, prompt, cached and completion tokens.
    let mut usage: std::collections::BTreeMap<i64, [i64; 4]> = Default::default();
    for day in 0..DAYS {
        let midnight = NOV_1 + i64::from(day) * 86_400;
        let mut lines = Vec::new();
        let mut api = |lines: &mut Vec<String>, ts: i64, user: &str, id: &mut i32| {
            *id += 1;
            let prompt = 500 + i64::from(*id % 7) * 300;
            let cached = if *id % 3 == 0 { prompt / 2 } else { 0 };
            // A runaway agent: on the 20th, dave's requests write 100,000 tokens each.
            let completion = if day == 19 && user == "dave" {
                100_000
            } else {
                40 + i64::from(*id % 50)
            };
            let counts = usage.entry((ts - NOV_1).div_euclid(86_400)).or_default();
            for (total, n) in counts.iter_mut().zip([1, prompt, cached, completion]) {
                *total += n;
            }
            lines.push(format!(
                r#"{{"id":"r{id}","created":{ts},"model":"gpt-4o-mini","usage":{{"prompt_tokens":{prompt},"completion_tokens":{},"prompt_tokens_details":{{"cached_tokens":{cached}}}}},"metadata":{{"team":"team-{}","feature":"chat","user_id":"{user}"}}}}"#,
                completion,
                &user[..1]
            ));
        };
        // A session across midnight: 23:50, 23:58 tonight and (next night) 00:05, 00:20.
        for (offset, user) in [(85_800, "alice"), (86_280, "alice")] {
            api(&mut lines, midnight + offset, user, &mut id);
        }
        if day > 0 {
            for offset in [300, 1_200] {
                api(&mut lines, midnight + offset, "alice", &mut id);
            }
        }
        // Daytime traffic; "carol" is quiet on weekends-ish days.
        for _ in 0..20 {
            let user = ["bob", "carol", "dave"][rng.usize(0..3)];
            if user == "carol" && day % 7 >= 5 {
                continue;
            }
            api(
                &mut lines,
                midnight + rng.i64(8 * 3600..20 * 3600),
                user,
                &mut id,
            );
        }
        // The runaway agent's own 20 requests on the 20th, from 21:00 a minute apart.
        if day == 19 {
            for k in 0..20 {
                api(&mut lines, midnight + 21 * 3600 + k * 60, "dave", &mut id);
            }
        }
        // Self-hosted: overlapping requests in the day, one across midnight (23:55 + 10 min).
        for k in 0..6 {
            id += 1;
            let start = if k == 5 {
                midnight + 86_100
            } else {
                midnight + 10 * 3600 + k * 600 + rng.i64(0..300)
            };
            let duration = if k == 5 {
                600_000
            } else {
                rng.i64(60_000..900_000)
            };
            lines.push(format!(
                r#"{{"id":"s{id}","created":{start},"model":"llama-3.1-70b-instruct","deployment":"llama-prod","duration_ms":{duration},"usage":{{"prompt_tokens":1000,"completion_tokens":300}},"metadata":{{"team":"team-{}","feature":"assist","user_id":"svc{}"}}}}"#,
                ["x", "y"][k as usize % 2],
                k % 2
            ));
        }
        let mut file =
            std::fs::File::create(logs.join(format!("2026-11-{:02}.jsonl", day + 1))).unwrap();
        for line in lines {
            writeln!(file, "{line}").unwrap();
        }
    }
    // vLLM's generation counter on the pool's host, one Prometheus file a day, a sample
    // every 15 minutes from midnight: each night's first increase needs yesterday's last
    // sample, which only the history has.
    let metrics = dir.join("metrics");
    std::fs::create_dir_all(&metrics).unwrap();
    for day in 0..DAYS {
        let mut text = String::from("# TYPE vllm:generation_tokens_total counter\n");
        for k in 0..96 {
            let i = i64::from(day) * 96 + k;
            let ts_ms = (NOV_1 + i * 900) * 1000;
            text.push_str(&format!(
                "vllm:generation_tokens_total{{model_name=\"llama\",instance=\"gpu-chat-1\"}} {} {ts_ms}\n",
                counter_value(i)
            ));
        }
        std::fs::write(metrics.join(format!("2026-11-{:02}.prom", day + 1)), text).unwrap();
    }
    // The month-to-date FOCUS bill.
    let header = "BilledCost,BillingCurrency,ChargeCategory,ChargeDescription,ChargeFrequency,ChargePeriodEnd,ChargePeriodStart,EffectiveCost,ListCost,PricingCategory,ProviderName,RegionId,ResourceId,ResourceName,ServiceCategory,ServiceName";
    let mut bill = vec![header.to_string()];
    bill.push("36000.00,USD,Usage,p5.48xlarge reserved instance month,Recurring,2026-12-01 00:00:00,2026-11-01 00:00:00,36000.00,36000.00,Committed,AWS,us-east-2,i-commit,gpu-commit,Compute,Amazon Elastic Compute Cloud".to_string());
    for day in 0..DAYS {
        for hour in 9..15 {
            let start = format!("2026-11-{:02} {hour:02}:00:00", day + 1);
            let end = format!("2026-11-{:02} {:02}:00:00", day + 1, hour + 1);
            bill.push(format!("40.00,USD,Usage,$40.00 per On Demand Linux p4d.24xlarge Instance Hour,Usage-Based,{end},{start},40.00,40.00,Standard,AWS,us-east-2,i-ondemand,gpu-ondemand,Compute,Amazon Elastic Compute Cloud"));
        }
    }
    std::fs::write(dir.join("focus.csv"), bill.join("\n") + "\n").unwrap();
    // OpenAI's usage and costs exports for the month, one page per line: the usage as
    // logged; the cost at a negotiated 80% of the catalog's gpt-4o-mini price ($0.15 input,
    // $0.075 cached, $0.60 output per million), worked in picodollars, exactly.
    let provider = dir.join("provider");
    std::fs::create_dir_all(&provider).unwrap();
    let (mut usage_pages, mut cost_pages) = (String::new(), String::new());
    for (day, [requests, prompt, cached, completion]) in &usage {
        let start = NOV_1 + day * 86_400;
        let end = start + 86_400;
        usage_pages.push_str(&format!(
            r#"{{"object":"page","data":[{{"object":"bucket","start_time":{start},"end_time":{end},"results":[{{"object":"organization.usage.completions.result","input_tokens":{prompt},"input_cached_tokens":{cached},"output_tokens":{completion},"num_model_requests":{requests},"model":"gpt-4o-mini-2024-07-18","batch":false}}]}}],"has_more":false,"next_page":null}}"#
        ));
        usage_pages.push('\n');
        let picodollars =
            i128::from((prompt - cached) * 150_000 + cached * 75_000 + completion * 600_000);
        let billed = picodollars * 4 / 5;
        cost_pages.push_str(&format!(
            r#"{{"object":"page","data":[{{"object":"bucket","start_time":{start},"end_time":{end},"results":[{{"object":"organization.costs.result","amount":{{"value":{}.{:012},"currency":"usd"}},"line_item":"gpt-4o-mini-2024-07-18, input"}}]}}]}}"#,
            billed / 1_000_000_000_000,
            billed % 1_000_000_000_000
        ));
        cost_pages.push('\n');
    }
    std::fs::write(provider.join("openai_usage.jsonl"), usage_pages).unwrap();
    std::fs::write(provider.join("openai_costs.jsonl"), cost_pages).unwrap();
    write_config(
        dir,
        r#"[[requests]]
name = "gateway"
path = "logs"
format = "openai"
[requests.defaults]
provider = "openai"

[[billing]]
name = "aws"
path = "focus.csv"
format = "focus"
cost_basis = "effective"

[[gpu_metrics]]
name = "vllm"
path = "metrics"
format = "vllm"

[[provider_usage]]
name = "openai"
path = "provider"

[reconcile]
tolerance_usd = 0.0

[[pools]]
name = "chat"
resources = ["i-*"]
deployments = ["llama-prod"]
hosts = ["gpu-chat-*"]
api_model = "gpt-4o"

[interactions]
inactivity_gap = "30m"
"#,
    )
}

/// The vLLM counter at its i-th sample of the month: the sum of increases 100 + (37 j mod
/// 400) for j = 1..=i.
fn counter_value(i: i64) -> i64 {
    (1..=i).map(|j| 100 + (37 * j) % 400).sum()
}

fn day(n: u32) -> String {
    format!("2026-11-{n:02}")
}

#[test]
fn a_month_night_by_night_equals_one_run_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_month(dir.path());
    let full = dir.path().join("full");
    assert_ok(&run(&config, &full, &["--from", &day(1), "--to", &day(30)]));
    // Each night reads only that night's log and metrics files, as a cron job over daily
    // drops does: what it needs of earlier nights must come from the published history.
    // The nights also split their requests into three session buckets (the full run has
    // one), so sessions open across midnight are found in the right bucket's history.
    let nightly = dir.path().join("nightly");
    let month_config = std::fs::read_to_string(&config).unwrap();
    for n in 1..=DAYS {
        let night_config = dir.path().join("night.toml");
        std::fs::write(
            &night_config,
            month_config
                .replace(
                    "path = \"logs\"",
                    &format!("path = \"logs/{}.jsonl\"", day(n)),
                )
                .replace(
                    "path = \"metrics\"",
                    &format!("path = \"metrics/{}.prom\"", day(n)),
                )
                + "\n[run]\nsession_buckets = 3\n",
        )
        .unwrap();
        assert_ok(&run(
            &night_config,
            &nightly,
            &["--quiet", "--from", &day(n), "--to", &day(n)],
        ));
    }
    let (full_tables, nightly_tables) = (tables(&full), tables(&nightly));
    assert_eq!(
        full_tables.keys().collect::<Vec<_>>(),
        nightly_tables.keys().collect::<Vec<_>>()
    );
    for (table, rows) in &full_tables {
        // No spot capacity in this month; every other table has rows.
        assert_eq!(rows.is_empty(), table == "spot_volatility", "{table}");
    }
    assert_same_tables(
        &nightly_tables,
        &full_tables,
        "the full run and the nightly runs",
    );

    // Independent checks of what the month holds (worked by hand from write_month):
    // the committed node costs $36,000 / 720 h = $50 an hour, every hour of the month; the
    // on-demand node $40 × 6 h × 30 days = $7,200. Billed = attributed + idle, exactly.
    assert_eq!(
        query(
            &full,
            "SELECT CAST(SUM(cost_usd) AS VARCHAR), COUNT(DISTINCT hour) FROM gpu_billing_hourly"
        ),
        vec![vec!["43200.000000000000".to_string(), "720".to_string()]]
    );
    assert_eq!(
        query(
            &full,
            "SELECT CAST(SUM(gpu_cost_usd) AS VARCHAR) FROM gpu_cost_attribution"
        ),
        vec![vec!["43200.000000000000".to_string()]]
    );
    // Every increase of the counter is counted once, the first sample of each night's file
    // included: the month's total is the counter's last value (it starts at 0).
    assert_eq!(
        query(
            &nightly,
            "SELECT CAST(SUM(generation_tokens) AS BIGINT) FROM vllm_hourly"
        ),
        vec![vec![counter_value(i64::from(DAYS) * 96 - 1).to_string()]]
    );
    // Every day of the month reconciled, each night from the month's exports: the tokens
    // agree, and the provider billed exactly 4/5 of the catalog price (reason `price`: the
    // config sets no dollar tolerance, for these cents a day).
    assert_eq!(
        query(
            &full,
            "SELECT COUNT(*), SUM(CASE WHEN reason = 'price' AND logged_requests = billed_requests \
             AND billed_cost_usd * 5 = logged_cost_usd * 4 THEN 1 ELSE 0 END) FROM reconciliation"
        ),
        vec![vec!["30".to_string(), "30".to_string()]]
    );
    // The runaway agent is the month's one anomaly: dave's chat spend on gpt-4o-mini on the
    // 20th (20 and more requests of 100,000 output tokens, each 6 cents at $0.60 per
    // million: over $1 above a median of cents, so `low`), found the same night by night.
    // What moved is tokens per request: about 100,000 against a usual 550–2,400 (dozens of
    // times more), beyond requests (27-odd against his usual 6–7: about 4×) and price per
    // token (at most 4×: output's $0.60 a million against a prompt token's $0.15).
    let anomalies = query(
        &nightly,
        "SELECT date, team, feature, model, severity, driver, tokens_per_request_factor > 30 FROM spend_anomalies",
    );
    assert_eq!(
        anomalies,
        vec![
            [
                "2026-11-20",
                "team-d",
                "chat",
                "gpt-4o-mini",
                "low",
                "tokens per request",
                "true"
            ]
            .map(String::from)
            .to_vec()
        ]
    );
    // Alice's session at 23:50 and 23:58 continues at 00:05 and 00:20 the next night: one
    // interaction of four requests, closing at 00:50 and so dated the next day. The last
    // night's 23:50 session is still open at the end of the month: left for a later run.
    let alice = query(
        &full,
        "SELECT date, requests FROM interactions WHERE user_id = 'alice' ORDER BY date",
    );
    assert_eq!(alice.len(), 29);
    assert!(alice.iter().all(|r| r[1] == "4"), "{alice:?}");
    assert_eq!(alice[0][0], day(2));
    // The break-even covers all 30 days of requests and 720 billed hours; the pool's
    // monthly cost is the lookback's $43,200 × 730.5 / 720 = $43,830 exactly.
    assert_eq!(
        query(
            &nightly,
            "SELECT coverage_days, coverage_hours, CAST(monthly_selfhost_cost_usd AS VARCHAR) FROM selfhost_breakeven WHERE kind = 'pool'"
        ),
        vec![vec![
            "30".to_string(),
            "720".to_string(),
            "43830.000000000000".to_string()
        ]]
    );

    // A rerun of one night replaces only that night's partitions: every other file is the
    // same byte for byte, and the tables still equal the full run's.
    let before = files_outside(&nightly, &day(15));
    assert_ok(&run(
        &config,
        &nightly,
        &["--quiet", "--from", &day(15), "--to", &day(15)],
    ));
    assert_eq!(before, files_outside(&nightly, &day(15)));
    let after = tables(&nightly);
    for table in [
        "interactions",
        "gpu_cost_attribution",
        "cost_attribution",
        "requests",
    ] {
        assert_eq!(
            after[table], full_tables[table],
            "{table} after rerunning one night"
        );
    }
    let window = summary(&nightly)["window"].clone();
    assert_eq!(window, serde_json::json!([day(15), day(15)]));
}

#[test]
fn a_one_day_lookback_decides_on_the_last_day_alone() {
    // [economics] lookback_days = 1: the decision tables read the window's last day only,
    // whether the run covers the month or reruns that one night into the same folder. (A
    // one-day range of days once made DataFusion plan a step that its own check refused.)
    let dir = tempfile::tempdir().unwrap();
    let config = write_month(dir.path());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[economics]\nlookback_days = 1\n");
    std::fs::write(&config, text).unwrap();
    let out = dir.path().join("out");
    assert_ok(&run(
        &config,
        &out,
        &["--from", &day(1), "--to", &day(DAYS)],
    ));
    let decided = |out: &Path| {
        (
            query(
                out,
                "SELECT kind, model, feature, pool, CAST(monthly_api_cost_usd AS VARCHAR), \
                 coverage_days FROM selfhost_breakeven ORDER BY 1, 2, 3, 4",
            ),
            query(
                out,
                "SELECT rule, scope, CAST(est_monthly_savings_usd AS VARCHAR) \
                 FROM recommendations ORDER BY 1, 2",
            ),
        )
    };
    let month = decided(&out);
    assert!(!month.0.is_empty());
    assert!(month.0.iter().all(|row| row[5] == "1"), "{:?}", month.0);
    // The API workloads' monthly cost: the last day's priced API spend × 30.4375 / 1 day,
    // each workload's product rounded to 12 places (so within half a unit of the 12th
    // place per workload of the whole day's product).
    let decimal = |text: &str| text.parse::<rust_decimal::Decimal>().unwrap();
    let last_day = decimal(
        &query(
            &out,
            &format!(
                "SELECT CAST(SUM(cost_usd) AS VARCHAR) FROM requests \
                 WHERE pool IS NULL AND date = '{}'",
                day(DAYS)
            ),
        )[0][0],
    );
    let workloads: Vec<&Vec<String>> = month.0.iter().filter(|r| r[0] == "api_workload").collect();
    let monthly: rust_decimal::Decimal = workloads.iter().map(|r| decimal(&r[4])).sum();
    let expected = last_day * rust_decimal::Decimal::new(304375, 4);
    let slack = rust_decimal::Decimal::new(5, 13) * rust_decimal::Decimal::from(workloads.len());
    assert!(
        (monthly - expected).abs() <= slack,
        "{monthly} vs {expected} ({} workloads)",
        workloads.len()
    );
    // The last night rerun alone decides the same.
    assert_ok(&run(
        &config,
        &out,
        &["--from", &day(DAYS), "--to", &day(DAYS)],
    ));
    assert_eq!(decided(&out), month);
}

#[test]
fn decisions_scale_each_figure_by_the_days_its_own_data_covers() {
    // A week of logs and a month of bills, one run: API figures scale by the 7 days with
    // requests, GPU figures by the 720 billed hours (worked by hand below).
    let dir = tempfile::tempdir().unwrap();
    let config = write_month(dir.path());
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("path = \"logs\"", "path = \"logs/2026-11-0[1-7].jsonl\"");
    std::fs::write(&config, text).unwrap();
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &[]));
    let s = summary(&out);
    assert_eq!(s["window"], serde_json::json!([day(1), day(30)]));
    assert_eq!(s["coverage"]["request_days"], 7);
    assert_eq!(s["coverage"]["billed_hours"], 720);
    // API: the week's gpt-4o-mini spend × 30.4375 / 7 (the factor rounded to 10 decimals).
    let week: rust_decimal::Decimal = query(
        &out,
        "SELECT CAST(SUM(cost_usd) AS VARCHAR) FROM requests WHERE pool IS NULL",
    )[0][0]
        .parse()
        .unwrap();
    let factor =
        (rust_decimal::Decimal::new(304375, 4) / rust_decimal::Decimal::from(7)).round_dp(10);
    let monthly: rust_decimal::Decimal = query(
        &out,
        "SELECT CAST(SUM(monthly_api_cost_usd) AS VARCHAR) FROM selfhost_breakeven WHERE kind = 'api_workload'",
    )[0][0]
        .parse()
        .unwrap();
    assert_eq!(monthly, (week * factor).round_dp(12));
    // GPU: the pool's $43,200 over 720 billed hours → × 730.5 / 720 = $43,830 a month, not
    // a month's charge scaled up by the 7 request days.
    assert_eq!(
        query(
            &out,
            "SELECT coverage_days, coverage_hours, CAST(monthly_selfhost_cost_usd AS VARCHAR) FROM selfhost_breakeven WHERE kind = 'pool'"
        ),
        vec![vec![
            "7".to_string(),
            "720".to_string(),
            "43830.000000000000".to_string()
        ]]
    );
}

#[test]
fn a_review_over_two_quarters_compares_them() {
    // One gpt-4o-mini request a day (1,000,000 prompt and 100,000 completion tokens:
    // $0.15 + $0.06 = $0.21 at $0.15 / $0.60 per million) on 29 and 30 September and on 2
    // October 2026: the review of 2026Q4 (the default: the latest data) shows October as 1
    // of 31 days, and the quarter before with 2 days and $0.42.
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let days = [1_790_678_400, 1_790_764_800, 1_790_937_600]; // 09-29, 09-30, 10-02 at 10:40
    let lines: Vec<String> = days
        .iter()
        .enumerate()
        .map(|(i, ts)| crate::helpers::openai_line(&format!("q{i}"), *ts, 1_000_000, 0, 100_000))
        .collect();
    std::fs::write(logs.join("log.jsonl"), lines.join("\n")).unwrap();
    let config = write_config(
        dir.path(),
        "[[requests]]\nname = \"api\"\npath = \"logs\"\nformat = \"openai\"\n",
    );
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &[]));
    let review = crate::helpers::inferledger(&["review", "--out", out.to_str().unwrap()]);
    assert_ok(&review);
    let text = std::fs::read_to_string(out.join("review/2026Q4/review.md")).unwrap();
    assert!(text.contains("| 2026-10 | 1 | 31 | $0.21 |"), "{text}");
    assert!(text.contains("| this quarter | 1 | $0.21 |"), "{text}");
    assert!(text.contains("| previous quarter | 2 | $0.42 |"), "{text}");
}

/// Rewrites every Parquet file under `dir` without `column`, as a run of an older version
/// (before the column existed) left them.
/// Every folder named `name` below `dir`.
fn walkdir_named(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            if entry.file_name() == name {
                found.push(path);
            } else {
                found.extend(walkdir_named(&path, name));
            }
        }
    }
    found
}

fn drop_column_everywhere(dir: &Path, column: &str) -> usize {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let mut rewritten = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rewritten += drop_column_everywhere(&path, column);
            continue;
        }
        if path.extension().is_none_or(|x| x != "parquet") {
            continue;
        }
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<_> = reader.map(Result::unwrap).collect();
        let Some(first) = batches.first() else {
            continue;
        };
        let Ok(index) = first.schema().index_of(column) else {
            continue;
        };
        let mut keep: Vec<usize> = (0..first.num_columns()).collect();
        keep.remove(index);
        let schema = std::sync::Arc::new(first.schema().project(&keep).unwrap());
        let mut writer =
            ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None).unwrap();
        for batch in &batches {
            writer.write(&batch.project(&keep).unwrap()).unwrap();
        }
        writer.close().unwrap();
        rewritten += 1;
    }
    rewritten
}

#[test]
fn a_run_folder_written_before_a_new_column_keeps_working() {
    // A nightly job upgraded to a version whose `requests` has a new column
    // (source_cost_usd) runs on an --out whose published partitions lack it. Before the
    // fix the next night failed ("No field named source_cost_usd") reading its history.
    // The nights must give the same tables as if the column had always been there (the
    // month's logs state no cost, so the column is NULL either way).
    let dir = tempfile::tempdir().unwrap();
    let config = write_month(dir.path());
    let (upgraded, always_new) = (dir.path().join("upgraded"), dir.path().join("new"));
    for out in [&upgraded, &always_new] {
        assert_ok(&run(
            &config,
            out,
            &["--quiet", "--from", &day(1), "--to", &day(2)],
        ));
    }
    // The folder as a version before Delta tables and before the column left it: plain
    // Parquet folders (no log, no run manifest) whose files lack the column. The next run
    // converts it in place and its commits add the column to the table's schema.
    for entry in walkdir_named(&upgraded, "_delta_log") {
        std::fs::remove_dir_all(entry).unwrap();
    }
    std::fs::remove_dir_all(upgraded.join("_runs")).unwrap();
    assert!(drop_column_everywhere(&upgraded.join("requests"), "source_cost_usd") >= 2);
    for out in [&upgraded, &always_new] {
        for n in 3..=4 {
            assert_ok(&run(
                &config,
                out,
                &["--quiet", "--from", &day(n), "--to", &day(n)],
            ));
        }
    }
    let (upgraded_tables, new_tables) = (tables(&upgraded), tables(&always_new));
    assert_same_tables(&upgraded_tables, &new_tables, "the upgraded folder");
    assert_eq!(
        query(
            &upgraded,
            "SELECT COUNT(*), COUNT(source_cost_usd) FROM requests WHERE date <= '2026-11-02'"
        )[0][1],
        "0"
    );
}

/// Issue: two copies of one request id either side of midnight (23:59:59 with 100 output
/// tokens, 00:00:01 with 200) were kept once by a run over both days and twice by two
/// nightly runs. The earliest day's copy stands (a night cannot rewrite a published day),
/// and a night's copy of an id published on a neighbouring day is a duplicate of it.
#[test]
fn a_request_id_either_side_of_midnight_counts_once_night_by_night() {
    use crate::helpers::openai_line;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    // 2026-11-16 and 17 (UTC), one ordinary request each and the id "x" either side of
    // midnight.
    let nov_16 = 1_794_787_200;
    std::fs::write(
        logs.join("2026-11-16.jsonl"),
        [
            openai_line("a1", nov_16 + 3_600, 1_000, 0, 5),
            openai_line("x", nov_16 + 86_399, 1_000, 0, 100),
        ]
        .join("\n"),
    )
    .unwrap();
    std::fs::write(
        logs.join("2026-11-17.jsonl"),
        [
            openai_line("x", nov_16 + 86_401, 1_000, 0, 200),
            openai_line("a2", nov_16 + 90_000, 1_000, 0, 7),
        ]
        .join("\n"),
    )
    .unwrap();
    let config_for = |path: &str| {
        let config = dir.path().join(format!("{}.toml", path.replace('/', "_")));
        std::fs::write(
            &config,
            format!(
                "[[requests]]\nname = \"logs\"\npath = \"{}\"\nformat = \"openai\"\n",
                dir.path().join(path).display()
            ),
        )
        .unwrap();
        config
    };
    let both = config_for("logs");
    let night = |n: u32| config_for(&format!("logs/2026-11-{n}.jsonl"));
    let days = |from: &str, to: &str| -> Vec<String> {
        ["--from", from, "--to", to].map(str::to_string).to_vec()
    };
    let run_days = |config: &Path, out: &Path, from: &str, to: &str| {
        let args = days(from, to);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_ok(&run(config, out, &args));
    };
    // (requests, output tokens, x's day and tokens), by hand: x once, from the 16th with
    // its 100 tokens, beside a1's 5 and a2's 7: 3 requests, 112 output tokens.
    let expected = vec![vec![
        "3".to_string(),
        "112".to_string(),
        "2026-11-16 100".to_string(),
    ]];
    let counted = |out: &Path| {
        query(
            out,
            "SELECT COUNT(*), SUM(output_tokens), \
             MAX(CASE WHEN request_id = 'x' THEN date || ' ' || CAST(output_tokens AS VARCHAR) END) \
             FROM requests",
        )
    };
    let full = dir.path().join("full");
    run_days(&both, &full, "2026-11-16", "2026-11-17");
    assert_eq!(counted(&full), expected);
    assert_eq!(summary(&full)["totals"]["duplicates"], 1);
    // Night by night: the 17th's copy is a duplicate of the one the 16th published.
    let nightly = dir.path().join("nightly");
    run_days(&night(16), &nightly, "2026-11-16", "2026-11-16");
    run_days(&night(17), &nightly, "2026-11-17", "2026-11-17");
    assert_eq!(counted(&nightly), expected);
    let second_night = summary(&nightly);
    assert_eq!(
        (
            &second_night["totals"]["rows_kept"],
            &second_night["totals"]["duplicates"]
        ),
        (&serde_json::json!(1), &serde_json::json!(1)),
        "{second_night}"
    );
    assert_same_tables(&tables(&nightly), &tables(&full), "night by night");
    // A rerun of the 16th after the 17th changes nothing.
    run_days(&night(16), &nightly, "2026-11-16", "2026-11-16");
    assert_eq!(counted(&nightly), expected);
    // Nights run out of order (the 17th first): the 16th's copy defers to the published
    // one of the 17th; x still counts once (there, with its 200 tokens).
    let backfilled = dir.path().join("backfilled");
    run_days(&night(17), &backfilled, "2026-11-17", "2026-11-17");
    run_days(&night(16), &backfilled, "2026-11-16", "2026-11-16");
    assert_eq!(
        counted(&backfilled),
        vec![vec![
            "3".to_string(),
            "212".to_string(),
            "2026-11-17 200".to_string()
        ]]
    );
}
