//! Reconciliation against the providers' own exports: the sample's planted discrepancies
//! found with their reasons and amounts, and hostile export files (bad results, a page saved
//! twice, a file that is not JSON). And `whatif`, which reprices the same history.

use crate::helpers::*;

/// Rows of `reconciliation` as (date, model, reason, logged cost, billed cost) text.
fn rows(out: &std::path::Path, filter: &str) -> Vec<Vec<String>> {
    query(
        out,
        &format!(
            "SELECT date, model, reason, CAST(logged_requests AS VARCHAR), CAST(billed_requests AS VARCHAR), \
             CAST(logged_cost_usd AS VARCHAR), CAST(billed_cost_usd AS VARCHAR) \
             FROM reconciliation WHERE {filter} ORDER BY date, model"
        ),
    )
}

fn decimal(text: &str) -> rust_decimal::Decimal {
    text.parse().unwrap()
}

#[test]
fn the_samples_planted_discrepancies_are_found_with_their_reasons_and_amounts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_ok(&run(
        &root().join("sample-data/inferledger.toml"),
        &out,
        &["--quiet"],
    ));
    // The planted figures are those provider_exports.py wrote (its docstring): each is
    // checked against the logged side by its own relation, not against a printed figure.
    // 1. Missing logs: on 2026-11-18 OpenAI counted 1.5x the logged gpt-4o traffic.
    let missing = rows(&out, "reason = 'missing_logs'");
    assert_eq!(missing.len(), 1, "{missing:?}");
    let [
        date,
        model,
        _,
        logged_requests,
        billed_requests,
        logged,
        billed,
    ] = <[String; 7]>::try_from(missing[0].clone()).unwrap();
    assert_eq!((date.as_str(), model.as_str()), ("2026-11-18", "gpt-4o"));
    let logged_requests: i64 = logged_requests.parse().unwrap();
    assert_eq!(billed_requests, (logged_requests * 3 / 2).to_string());
    let planted = decimal(&logged) * rust_decimal::Decimal::new(15, 1) - decimal(&billed);
    assert!(
        planted.abs() < rust_decimal::Decimal::new(1, 9),
        "{logged} {billed}"
    );
    // 2. An unlogged model: gpt-4.1-nano every day, 40 requests of 1,000 + 200 tokens at
    // $0.10 / $0.40 per million = $0.0040 + $0.0032 = $0.0072 a day.
    let nano = rows(&out, "reason = 'unlogged_model'");
    assert_eq!(nano.len(), 7);
    for row in &nano {
        assert_eq!(row[1], "gpt-4.1-nano");
        assert_eq!(row[5], "NULL");
        assert_eq!(
            decimal(&row[6]),
            rust_decimal::Decimal::new(72, 4),
            "{row:?}"
        );
    }
    // 3. A negotiated discount: claude-opus-4-1 billed at 90% of the catalog every day.
    let discounted = rows(&out, "reason = 'price'");
    assert_eq!(discounted.len(), 7);
    for row in &discounted {
        assert_eq!(row[1], "claude-opus-4-1");
        let off = decimal(&row[5]) * rust_decimal::Decimal::new(9, 1) - decimal(&row[6]);
        assert!(off.abs() < rust_decimal::Decimal::new(1, 9), "{row:?}");
    }
    assert!(
        scalar(
            &out,
            "SELECT MIN(explanation) FROM reconciliation WHERE reason = 'price'"
        )
        .contains("billed -10.0% against the catalog price")
    );
    // Everything else agrees: 7 days × (4 OpenAI + 2 other Anthropic models) − the
    // missing-logs row = 41 rows within tolerance, and no other reason.
    assert_eq!(
        query(
            &out,
            "SELECT reason, COUNT(*) FROM reconciliation GROUP BY reason ORDER BY reason"
        ),
        [
            ("missing_logs", "1"),
            ("ok", "41"),
            ("price", "7"),
            ("unlogged_model", "7")
        ]
        .map(|(r, n)| vec![r.to_string(), n.to_string()])
    );
    // By token type (the exports break each model's cost into input, cached input, cache
    // writes and output): every part agrees but the planted ones, and each opus part is
    // billed at 90% of the logs' part.
    assert_eq!(
        scalar(
            &out,
            "SELECT COUNT(*) FROM reconciliation_token_types WHERE abs(cost_difference_usd) > 0.000000001 \
             AND model NOT IN ('claude-opus-4-1', 'gpt-4.1-nano') AND NOT (model = 'gpt-4o' AND date = '2026-11-18')"
        ),
        "0"
    );
    let parts = query(
        &out,
        "SELECT CAST(logged_cost_usd AS VARCHAR), CAST(billed_cost_usd AS VARCHAR) FROM reconciliation_token_types WHERE model = 'claude-opus-4-1'",
    );
    assert_eq!(parts.len(), 14, "input and output, 7 days");
    for part in &parts {
        let off = decimal(&part[0]) * rust_decimal::Decimal::new(9, 1) - decimal(&part[1]);
        assert!(off.abs() < rust_decimal::Decimal::new(1, 9), "{part:?}");
    }
    // The headline in the run summary: all of each provider's difference is explained;
    // Anthropic's is −10% of its opus spend.
    let s = summary(&out);
    let headline = s["reconciliation"].as_array().unwrap();
    assert_eq!(headline.len(), 2);
    let anthropic = &headline[0];
    assert_eq!(anthropic["provider"], "anthropic");
    assert_eq!(anthropic["explained_share"], "1.0");
    let opus = decimal(&scalar(
        &out,
        "SELECT CAST(SUM(logged_cost_usd) AS VARCHAR) FROM reconciliation WHERE model = 'claude-opus-4-1'",
    ));
    let difference = decimal(anthropic["difference_usd"].as_str().unwrap());
    assert!(
        (difference + opus / rust_decimal::Decimal::TEN).abs() <= rust_decimal::Decimal::new(1, 2),
        "{difference} vs 10% of {opus}"
    );
    // Every result read is accounted for.
    assert_provider_usage_reconciles(&s, "the sample's exports");
    // Both reports show it; nothing is unexplained, so no rule fires.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## Logged vs billed"), "{report}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<h2>Logged vs billed</h2>"));
    assert_eq!(
        scalar(
            &out,
            "SELECT COUNT(*) FROM recommendations WHERE rule = 'billing_variance_unexplained'"
        ),
        "0"
    );
}

#[test]
fn hostile_exports_are_quarantined_counted_once_or_refused_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    std::fs::create_dir_all(dir.path().join("exports")).unwrap();
    // 2026-11-02T10:00:00Z: two logged requests of gpt-4o-mini.
    let log = [
        openai_line("a", 1_793_613_600, 1000, 0, 100),
        openai_line("b", 1_793_613_660, 1000, 0, 100),
    ]
    .join("\n");
    std::fs::write(dir.path().join("logs/requests.jsonl"), log + "\n").unwrap();
    // One good page saved twice (an overlapping export), and a page whose second result
    // has more cached than prompt tokens, on line 3.
    let result = |cached: i64| {
        format!(
            r#"{{"object":"organization.usage.completions.result","input_tokens":2000,"input_cached_tokens":{cached},"output_tokens":200,"num_model_requests":2,"model":"gpt-4o-mini-2024-07-18"}}"#
        )
    };
    let page = |results: &str| {
        format!(
            r#"{{"object":"page","data":[{{"start_time":1793577600,"end_time":1793664000,"results":[{results}]}}]}}"#
        )
    };
    let text = [
        page(&result(0)),
        page(&result(0)),
        page(&format!(
            "{},{}",
            result(0).replace("gpt-4o-mini", "gpt-4o"),
            result(2500)
        )),
    ]
    .join("\n");
    std::fs::write(dir.path().join("exports/usage.jsonl"), text + "\n").unwrap();
    let config = write_config(
        dir.path(),
        "[[requests]]\npath = \"logs\"\nformat = \"openai\"\n\n[[provider_usage]]\nname = \"usage\"\npath = \"exports\"\nmax_bad_fraction = 0.5\n",
    );
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &["--quiet"]));
    let source = &summary(&out)["provider_usage"][0];
    // 4 results read: 2 kept (gpt-4o-mini once, gpt-4o), 1 a repeat, 1 quarantined.
    assert_eq!(
        [
            &source["rows_read"],
            &source["rows_kept"],
            &source["rows_duplicate"],
            &source["rows_quarantined"]
        ],
        [4, 2, 1, 1]
    );
    assert_eq!(
        query(
            &out,
            "SELECT line, reason FROM quarantine WHERE source = 'usage'"
        ),
        vec![vec![
            "3".to_string(),
            "bucket 1 result 2: input_cached_tokens (2500) exceed input_tokens (2000), which counts cached tokens inside".to_string()
        ]]
    );
    // The logs agree with the export for gpt-4o-mini; gpt-4o only the provider saw.
    assert_eq!(
        query(
            &out,
            "SELECT model, reason FROM reconciliation ORDER BY model"
        ),
        vec![
            vec!["gpt-4o".to_string(), "unlogged_model".to_string()],
            vec!["gpt-4o-mini".to_string(), "ok".to_string()],
        ]
    );
    // `validate` reads the exports too: configured as Anthropic's usage report, OpenAI's
    // pages cannot be read, and it says so before any run.
    let mislabelled = write_config(
        &dir.path().join("exports"),
        &format!(
            "[[requests]]\npath = \"{}\"\nformat = \"openai\"\n\n[[provider_usage]]\npath = \"{}\"\nformat = \"anthropic_usage\"\n",
            dir.path().join("logs").display(),
            dir.path().join("exports/usage.jsonl").display()
        ),
    );
    let checked = inferledger(&["validate", "--config", mislabelled.to_str().unwrap()]);
    assert!(!checked.status.success());
    let said = stdout(&checked) + &stderr(&checked);
    assert!(
        said.contains("none of its 4 results could be read as anthropic_usage")
            && said.contains("configured as anthropic_usage"),
        "{said}"
    );
    // A file that is not JSON stops the run, naming the file, line and column.
    std::fs::write(
        dir.path().join("exports/broken.json"),
        "{\"data\": [\n  {\"start_time\": 1,}\n]}\n",
    )
    .unwrap();
    let failed = run(&config, &dir.path().join("out2"), &["--quiet"]);
    assert!(!failed.status.success());
    let message = stderr(&failed);
    assert!(
        message.contains("broken.json") && message.contains("line 2, column"),
        "{message}"
    );
}

#[test]
fn whatif_reprices_with_substitutes_and_states_the_cache_range() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = root().join("sample-data/inferledger.toml");
    assert_ok(&run(&config, &out, &["--quiet"]));
    let whatif = |map: &[&str]| {
        let mut args = vec![
            "whatif",
            "--out",
            out.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--format",
            "csv",
        ];
        if map.first() == Some(&"--token-change") {
            args.extend(&map[..2]);
        }
        let map = if map.first() == Some(&"--token-change") {
            &map[2..]
        } else {
            map
        };
        for m in map {
            args.extend(["--map", m]);
        }
        let output = inferledger(&args);
        assert_ok(&output);
        let text = stdout(&output);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().unwrap().clone();
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                headers
                    .iter()
                    .zip(r.iter())
                    .map(|(h, v)| (h.to_string(), v.to_string()))
                    .collect::<std::collections::BTreeMap<_, _>>()
            })
            .collect::<Vec<_>>()
    };
    // claude-opus-4-1 → claude-sonnet-4-5: every catalog price of sonnet is a fifth of
    // opus's ($3/$15/$0.30/$3.75 against $15/$75/$1.50/$18.75 per million) and no sample
    // prompt reaches the 200k long-context tier, so the what-if is exactly a fifth.
    let opus = whatif(&["claude-opus-4-1-20250805=claude-sonnet-4-5-20250929"]);
    assert_eq!(opus.len(), 1, "{opus:?}");
    let current = decimal(&opus[0]["current_cost_usd"]);
    assert_eq!(
        decimal(&opus[0]["whatif_cost_usd"]) * rust_decimal::Decimal::from(5),
        current
    );
    assert_eq!(opus[0]["requests"], "805");
    // gpt-4o → gpt-4o-mini ($0.15 input, $0.075 cached, $0.60 output per million): from the
    // token sums of the requests table, cache kept = (uncached × 0.15 + cached × 0.075 +
    // output × 0.60) / 10^6; cache lost = (every prompt token × 0.15 + output × 0.60) / 10^6.
    let mini = whatif(&["gpt-4o-2024-08-06=gpt-4o-mini"]);
    let sums = query(
        &out,
        "SELECT CAST(SUM(input_tokens - cache_read_tokens) AS VARCHAR), CAST(SUM(cache_read_tokens) AS VARCHAR), \
         CAST(SUM(input_tokens) AS VARCHAR), CAST(SUM(output_tokens) AS VARCHAR) \
         FROM requests WHERE model = 'gpt-4o-2024-08-06' AND pool IS NULL",
    );
    let n = |i: usize| decimal(&sums[0][i]);
    let per_million = |price: &str| decimal(price) / rust_decimal::Decimal::from(1_000_000);
    let kept =
        n(0) * per_million("0.15") + n(1) * per_million("0.075") + n(3) * per_million("0.60");
    let lost = n(2) * per_million("0.15") + n(3) * per_million("0.60");
    let total = |key: &str| {
        mini.iter()
            .map(|r| decimal(&r[key]))
            .sum::<rust_decimal::Decimal>()
    };
    assert_eq!(total("whatif_cost_usd"), kept);
    assert_eq!(total("whatif_cold_cache_usd"), lost);
    assert!(lost > kept, "losing the cache must cost more");
    assert_eq!(
        total("difference_high_usd") - total("difference_low_usd"),
        lost - kept
    );
    // A tokenizer that may count 10% more or fewer tokens widens the range: the low end is
    // the cheaper what-if at 90% of the tokens, the high end the dearer at 110%.
    let widened = whatif(&["--token-change", "0.1", "gpt-4o-2024-08-06=gpt-4o-mini"]);
    let total_of = |rows: &[std::collections::BTreeMap<String, String>], key: &str| {
        rows.iter()
            .map(|r| decimal(&r[key]))
            .sum::<rust_decimal::Decimal>()
    };
    let current = total_of(&widened, "current_cost_usd");
    assert_eq!(
        total_of(&widened, "difference_low_usd"),
        kept * decimal("0.9") - current
    );
    assert_eq!(
        total_of(&widened, "difference_high_usd"),
        lost * decimal("1.1") - current
    );
    // The logs name the dated snapshot (gpt-4o-2024-08-06); `--map gpt-4o=…` names the
    // model as `prices` and the catalog do, and reprices the same requests.
    let by_alias = whatif(&["gpt-4o=gpt-4o-mini"]);
    assert_eq!(total_of(&by_alias, "whatif_cost_usd"), kept);
    assert!(by_alias.iter().all(|r| r["model"] == "gpt-4o-2024-08-06"));
    // A model no request names is an error listing the logged models with close names,
    // not an empty table and exit 0; so is a period that ends before it starts.
    let args = |extra: &[&str]| {
        let mut args = vec![
            "whatif",
            "--out",
            out.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ];
        args.extend(extra);
        inferledger(&args)
    };
    let unmatched = args(&["--map", "gpt-4=gpt-4o-mini"]);
    assert!(!unmatched.status.success());
    let message = stderr(&unmatched);
    assert!(
        message.contains("no request names gpt-4") && message.contains("gpt-4o-2024-08-06"),
        "{message}"
    );
    let reversed = args(&[
        "--map",
        "gpt-4o=gpt-4o-mini",
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-10",
    ]);
    assert!(!reversed.status.success());
    assert!(
        stderr(&reversed).contains("--from 2026-11-20 is after --to 2026-11-10"),
        "{}",
        stderr(&reversed)
    );
    // A mapping to an unknown model says so rather than pricing it at zero.
    let unknown = whatif(&["gpt-4o-mini=no-such-model"]);
    assert!(
        unknown
            .iter()
            .all(|r| r["unpriced_requests"] == r["requests"])
    );
}

#[test]
fn a_proposed_negotiated_rate_closes_the_price_difference() {
    // The sample's planted 10% discount on claude-opus-4-1: `prices --propose` turns it into
    // a price file entry (90% of each catalog price, from the first day it was seen); run
    // again with that file, the opus rows agree with the bill.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = root().join("sample-data/inferledger.toml");
    assert_ok(&run(&config, &out, &["--quiet"]));
    let proposed = inferledger(&[
        "prices",
        "--propose",
        "--out",
        out.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_ok(&proposed);
    let file: serde_json::Value = serde_json::from_str(&stdout(&proposed)).unwrap();
    let entry = &file["claude-opus-4-1"];
    // 90% of $15 / $75 / $1.50 / $18.75 / $30 per million.
    assert_eq!(entry["input_cost_per_token"], serde_json::json!(0.0000135));
    assert_eq!(entry["output_cost_per_token"], serde_json::json!(0.0000675));
    assert_eq!(
        entry["cache_read_input_token_cost"],
        serde_json::json!(0.00000135)
    );
    assert_eq!(entry["effective_from"], "2026-11-16");
    assert_eq!(file.as_object().unwrap().len(), 1, "{file}");
    let prices = dir.path().join("negotiated.json");
    std::fs::write(&prices, stdout(&proposed)).unwrap();
    let text = sample_config_with_absolute_paths()
        + &format!("\n[prices]\nfile = \"{}\"\n", prices.display());
    let again = dir.path().join("again");
    std::fs::create_dir_all(&again).unwrap();
    let config = write_config(&again, &text);
    let out = again.join("out");
    assert_ok(&run(&config, &out, &["--quiet"]));
    assert_eq!(
        query(
            &out,
            "SELECT reason, COUNT(*) FROM reconciliation WHERE model = 'claude-opus-4-1' GROUP BY reason"
        ),
        vec![vec!["ok".to_string(), "7".to_string()]]
    );
}

#[test]
fn bedrock_lines_of_focus_and_cur_bills_are_the_providers_cost() {
    // Ten Bedrock requests a day (Claude 3.5 Sonnet, 100,000 prompt and 1,000 output tokens:
    // $0.30 + $0.015 at the catalog's $3 / $15 per million) on 2026-11-02 and -03; the AWS
    // FOCUS bill's Bedrock lines: $3.00 + $0.15 the first day (as logged), 90% of that the
    // second; a Titan line no catalog entry names, and an EC2 line, are not AI API cost.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let mut lines = Vec::new();
    for (day, midnight) in [
        (2, 1_793_577_600i64),
        (3, 1_793_664_000),
        (4, 1_793_750_400),
    ] {
        for k in 0..10 {
            lines.push(format!(
                r#"{{"id":"d{day}-{k}","created":{},"model":"us.anthropic.claude-3-5-sonnet-20240620-v1:0","usage":{{"prompt_tokens":100000,"completion_tokens":1000}},"metadata":{{"team":"t","feature":"f","user_id":"u{k}"}}}}"#,
                midnight + 36_000 + k * 60
            ));
        }
    }
    std::fs::write(
        dir.path().join("logs/bedrock.jsonl"),
        lines.join("\n") + "\n",
    )
    .unwrap();
    let header = "BilledCost,BillingCurrency,ChargeCategory,ChargeDescription,ChargeFrequency,ChargePeriodEnd,ChargePeriodStart,EffectiveCost,ListCost,PricingCategory,ProviderName,RegionId,ResourceId,ResourceName,ServiceCategory,ServiceName,SkuId";
    let line = |cost: &str, description: &str, day: u32, service: &str| {
        format!(
            "{cost},USD,Usage,{description},Usage-Based,2026-11-{:02} 00:00:00,2026-11-{day:02} 00:00:00,{cost},{cost},Standard,AWS,us-east-1,,,AI and Machine Learning,{service},SKU-{day}",
            day + 1
        )
    };
    let bill = [
        header.to_string(),
        line(
            "3.00",
            "Claude 3.5 Sonnet input tokens",
            2,
            "Amazon Bedrock",
        ),
        line(
            "0.15",
            "Claude 3.5 Sonnet output tokens",
            2,
            "Amazon Bedrock",
        ),
        line(
            "2.70",
            "Claude 3.5 Sonnet input tokens",
            3,
            "Amazon Bedrock",
        ),
        line(
            "0.135",
            "Claude 3.5 Sonnet output tokens",
            3,
            "Amazon Bedrock",
        ),
        line(
            "0.50",
            "Titan Text Embeddings V2 input tokens",
            3,
            "Amazon Bedrock",
        ),
        line(
            "1.00",
            "Data transfer out",
            3,
            "Amazon Elastic Compute Cloud",
        ),
    ]
    .join("\n");
    std::fs::write(dir.path().join("focus.csv"), bill + "\n").unwrap();
    // The 4th as AWS CUR 2.0 writes Bedrock: product code and usage type, as logged.
    let cur = [
        "line_item_usage_start_date,line_item_usage_end_date,line_item_resource_id,line_item_usage_type,line_item_line_item_type,line_item_unblended_cost,line_item_net_unblended_cost,line_item_usage_amount,line_item_product_code,product_region_code,bill_billing_entity",
        "2026-11-04T00:00:00.000Z,2026-11-05T00:00:00.000Z,,USE1-Claude3.5Sonnet-input-tokens,Usage,3.00,3.00,1000,AmazonBedrock,us-east-1,AWS",
        "2026-11-04T00:00:00.000Z,2026-11-05T00:00:00.000Z,,USE1-Claude3.5Sonnet-output-tokens,Usage,0.15,0.15,10,AmazonBedrock,us-east-1,AWS",
    ]
    .join("\n");
    std::fs::write(dir.path().join("cur.csv"), cur + "\n").unwrap();
    let config = write_config(
        dir.path(),
        "[[requests]]\npath = \"logs\"\nformat = \"openai\"\n[requests.defaults]\nprovider = \"bedrock\"\n\n[[billing]]\nname = \"aws\"\npath = \"focus.csv\"\nformat = \"focus\"\n\n[[billing]]\nname = \"cur\"\npath = \"cur.csv\"\nformat = \"aws_cur\"\n",
    );
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &["--quiet"]));
    assert_eq!(summary(&out)["billing"][0]["rows_ai_api"], 4);
    assert_eq!(summary(&out)["billing"][1]["rows_ai_api"], 2);
    assert_eq!(
        query(
            &out,
            "SELECT date, provider, model, reason, CAST(logged_cost_usd AS VARCHAR), CAST(billed_cost_usd AS VARCHAR) FROM reconciliation ORDER BY date"
        ),
        [
            [
                "2026-11-02",
                "bedrock",
                "claude-3-5-sonnet",
                "ok",
                "3.150000000000",
                "3.150000000000"
            ],
            [
                "2026-11-03",
                "bedrock",
                "claude-3-5-sonnet",
                "price",
                "3.150000000000",
                "2.835000000000"
            ],
            [
                "2026-11-04",
                "bedrock",
                "claude-3-5-sonnet",
                "ok",
                "3.150000000000",
                "3.150000000000"
            ],
        ]
        .map(|r| r.map(String::from).to_vec())
    );
}

#[test]
fn hourly_usage_buckets_are_summed_to_the_day() {
    // Two gpt-4o-mini requests on 2026-11-02 (10:00 and 11:00 UTC), and OpenAI's usage
    // export in 1-hour buckets: one request of 1,000 + 100 tokens in each hour.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    std::fs::create_dir_all(dir.path().join("exports")).unwrap();
    let log = [
        openai_line("a", 1_793_613_600, 1000, 0, 100),
        openai_line("b", 1_793_617_200, 1000, 0, 100),
    ]
    .join("\n");
    std::fs::write(dir.path().join("logs/requests.jsonl"), log + "\n").unwrap();
    let bucket = |start: i64| {
        format!(
            r#"{{"start_time":{start},"end_time":{},"results":[{{"object":"organization.usage.completions.result","input_tokens":1000,"output_tokens":100,"num_model_requests":1,"model":"gpt-4o-mini-2024-07-18"}}]}}"#,
            start + 3600
        )
    };
    let page = format!(
        r#"{{"object":"page","data":[{},{}]}}"#,
        bucket(1_793_613_600),
        bucket(1_793_617_200)
    );
    std::fs::write(dir.path().join("exports/usage.json"), page + "\n").unwrap();
    let config = write_config(
        dir.path(),
        "[[requests]]\npath = \"logs\"\nformat = \"openai\"\n\n[[provider_usage]]\npath = \"exports\"\n",
    );
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &["--quiet"]));
    assert_eq!(
        query(
            &out,
            "SELECT date, model, reason, logged_requests, billed_requests, billed_input_tokens, billed_output_tokens FROM reconciliation"
        ),
        vec![
            ["2026-11-02", "gpt-4o-mini", "ok", "2", "2", "2000", "200"]
                .map(String::from)
                .to_vec()
        ]
    );
}

/// Overlapping exports were summed twice (billed = 2 × logged, "missing_logs"): a re-export
/// of a day with updated figures, daily and hourly buckets of the same day, and one file
/// named by two `[[provider_usage]]` blocks. The latest export of a bucket and the finest
/// buckets of a day stand; the rest are counted as superseded or repeated.
#[test]
fn overlapping_provider_exports_are_not_summed_twice() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let exports = dir.path().join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    // 2026-11-02T10:00Z: two requests of gpt-4o-mini; 2026-11-03T10:00Z: one.
    let nov_2 = 1_793_577_600;
    let day = 86_400;
    let log = [
        openai_line("a", nov_2 + 36_000, 1000, 0, 100),
        openai_line("b", nov_2 + 36_060, 1000, 0, 100),
        openai_line("c", nov_2 + day + 36_000, 1000, 0, 100),
    ]
    .join("\n");
    std::fs::write(dir.path().join("logs/requests.jsonl"), log + "\n").unwrap();
    let result = |requests: i64| {
        format!(
            r#"{{"object":"organization.usage.completions.result","input_tokens":{},"input_cached_tokens":0,"output_tokens":{},"num_model_requests":{requests},"model":"gpt-4o-mini-2024-07-18"}}"#,
            1000 * requests,
            100 * requests
        )
    };
    let page = |start: i64, end: i64, requests: i64| {
        format!(
            r#"{{"object":"page","data":[{{"start_time":{start},"end_time":{end},"results":[{}]}}]}}"#,
            result(requests)
        )
    };
    // The day of 2026-11-02 exported twice: first with 1 request (the day was not over),
    // then again with the final 2. The stale export's file sorts last but was written an
    // hour earlier: the later export wins, not the later name.
    std::fs::write(
        exports.join("b_final.jsonl"),
        page(nov_2, nov_2 + day, 2) + "\n",
    )
    .unwrap();
    let stale = exports.join("z_stale.jsonl");
    std::fs::write(&stale, page(nov_2, nov_2 + day, 1) + "\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    // 2026-11-03 exported daily and hourly (its 10:00 hour): the hour counts, not both.
    let nov_3 = nov_2 + day;
    std::fs::write(
        exports.join("c_daily_and_hourly.jsonl"),
        [
            page(nov_3, nov_3 + day, 1),
            page(nov_3 + 36_000, nov_3 + 39_600, 1),
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    // And the final export named again by a second block.
    let config = write_config(
        dir.path(),
        &format!(
            "[[requests]]\npath = \"logs\"\nformat = \"openai\"\n\n[[provider_usage]]\nname = \"usage\"\npath = \"exports\"\n\n[[provider_usage]]\nname = \"again\"\npath = \"{}\"\n",
            exports.join("b_final.jsonl").display()
        ),
    );
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &["--quiet"]));
    // By hand: 2 requests logged and 2 billed on the 2nd, 1 and 1 on the 3rd.
    assert_eq!(
        query(
            &out,
            "SELECT date, model, reason, CAST(logged_requests AS VARCHAR), CAST(billed_requests AS VARCHAR) \
             FROM reconciliation ORDER BY date"
        ),
        vec![
            ["2026-11-02", "gpt-4o-mini", "ok", "2", "2"]
                .map(str::to_string)
                .to_vec(),
            ["2026-11-03", "gpt-4o-mini", "ok", "1", "1"]
                .map(str::to_string)
                .to_vec(),
        ]
    );
    // "usage" read 4 results (the final, the stale, the daily and the hourly): 2 stand and
    // 2 are superseded; "again" read the final once more: a repeat.
    let s = summary(&out);
    let counts = |i: usize| {
        let source = &s["provider_usage"][i];
        [
            "rows_read",
            "rows_kept",
            "rows_superseded",
            "rows_duplicate",
        ]
        .map(|k| source[k].as_u64().unwrap())
    };
    assert_eq!(counts(0), [4, 2, 2, 0]);
    assert_eq!(counts(1), [1, 0, 0, 1]);
    // The summary says so.
    assert!(
        s["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("[[provider_usage]] usage: 2 result(s) superseded")),
        "{}",
        s["warnings"]
    );
}
