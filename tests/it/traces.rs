//! Public traces and other layouts: a slice of the real Azure LLM inference trace (CSV,
//! 7 fractional digits, no final newline), Mooncake's trace with offsets from an origin,
//! and Parquet input.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;

use crate::helpers::*;

#[test]
fn azure_trace_slice() {
    let dir = tempfile::tempdir().unwrap();
    // The built-in catalog has no price in force in November 2023 for any model, so the
    // trace is priced with a LiteLLM-format price file (its entries are always in force).
    std::fs::write(
        dir.path().join("prices.json"),
        r#"{"azure-conv-model": {"input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07, "litellm_provider": "azure"}}"#,
    )
    .unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[[requests]]\npath = \"{}\"\nformat = \"trace\"\n[requests.defaults]\nmodel = \"azure-conv-model\"\nprovider = \"azure\"\nteam = \"conversation\"\n\n[prices]\nfile = \"prices.json\"\n",
            root()
                .join("tests/fixtures/azure_llm_2023_conv_head1000.csv")
                .display()
        ),
    );
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &[]));
    // Sums computed from the CSV with Python's csv module; cost as if the trace had been
    // served at $0.15/$0.60 per M: (1,014,189 × $0.15 + 247,262 × $0.60) / 1M = $0.30048555.
    assert_eq!(
        query(
            &out,
            "SELECT COUNT(*), SUM(input_tokens), SUM(output_tokens), CAST(SUM(cost_usd) AS VARCHAR) FROM requests"
        ),
        vec![vec![
            "1000".to_string(),
            "1014189".into(),
            "247262".into(),
            "0.300485550000".into()
        ]]
    );
    // First and last rows, seven fractional digits kept to the microsecond; the last line
    // has no newline.
    assert_eq!(
        query(
            &out,
            "SELECT CAST(MIN(ts) AS VARCHAR), CAST(MAX(ts) AS VARCHAR) FROM requests"
        ),
        vec![vec![
            "2023-11-16T18:15:46.680590Z".to_string(),
            "2023-11-16T18:19:22.707983Z".into()
        ]]
    );
    assert_eq!(summary(&out)["totals"]["rows_quarantined"], 0);
}

#[test]
fn mooncake_trace_with_a_time_origin() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[[requests]]\npath = \"{}\"\nformat = \"trace\"\ntime_origin = \"2026-11-16T09:00:00Z\"\n[requests.defaults]\nmodel = \"self-hosted-llama\"\n",
            root()
                .join("tests/fixtures/mooncake_synthetic_trace_head20.jsonl")
                .display()
        ),
    );
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &[]));
    // Sums from the file (Python's json module); the last request is 4,840 ms in.
    assert_eq!(
        query(
            &out,
            "SELECT COUNT(*), SUM(input_tokens), SUM(output_tokens), CAST(MAX(ts) AS VARCHAR) FROM requests"
        ),
        vec![vec![
            "20".to_string(),
            "391904".into(),
            "3367".into(),
            "2026-11-16T09:00:04.840Z".into()
        ]]
    );
    let s = summary(&out);
    assert_eq!(s["unpriced_models"][0]["model"], "self-hosted-llama");
    assert_eq!(s["unpriced_models"][0]["requests"], 20);
    assert_eq!(
        scalar(&out, "SELECT COUNT(*) FROM requests WHERE cost_usd IS NULL"),
        "20"
    );
    // hash_ids with no block size in the config: Mooncake's documented 512 tokens a block,
    // so the ideal cache replays them (nothing left without a block size).
    assert_eq!(
        scalar(
            &out,
            "SELECT COUNT(*) FROM requests WHERE prefix_blocks IS NOT NULL AND prefix_block_tokens = 512"
        ),
        "20"
    );
    assert_eq!(s["coverage"]["prefix_without_block_size"], 0);
}

#[test]
fn a_prefix_hash_without_block_size_is_said_in_the_summary_and_report() {
    // A gateway log with a prefix_hash but no token count for it: it cannot be replayed,
    // and the run says so instead of silently estimating.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("log.jsonl"),
        (0..3)
            .map(|i| format!(r#"{{"id":"p{i}","created":1794787200,"model":"gpt-4o-mini","usage":{{"prompt_tokens":100,"completion_tokens":5}},"metadata":{{"prefix_hash":"abc"}}}}"#))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let config = write_config(
        dir.path(),
        "[[requests]]\npath = \"log.jsonl\"\nformat = \"openai\"\n",
    );
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &[]));
    assert_eq!(summary(&out)["coverage"]["prefix_without_block_size"], 3);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains(
            "3 requests carry prompt-prefix identity (hash_ids or prefix_hash) but no block size"
        ),
        "{report}"
    );
    assert_eq!(
        scalar(&out, "SELECT method FROM cache_opportunity"),
        "target"
    );
}

#[test]
fn parquet_input_goes_through_the_same_fields() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("TIMESTAMP", DataType::Utf8, false),
        Field::new("ContextTokens", DataType::Int64, false),
        Field::new("GeneratedTokens", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![
                "2026-11-16 10:00:00",
                "2026-11-16 10:00:01",
                "2026-11-16 10:00:02",
            ])),
            Arc::new(Int64Array::from(vec![1000, 2000, -1])),
            Arc::new(Int64Array::from(vec![Some(100), Some(200), Some(5)])),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(dir.path().join("trace.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let config = write_config(
        dir.path(),
        "[[requests]]\npath = \"trace.parquet\"\nformat = \"trace\"\nmax_bad_fraction = 0.5\n[requests.defaults]\nmodel = \"gpt-4o\"\n",
    );
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &[]));
    // (1000 + 2000) × $2.50 + 300 × $10 = 10,500 $/M; the negative row is quarantined at row 3.
    assert_eq!(
        scalar(&out, "SELECT CAST(SUM(cost_usd) AS VARCHAR) FROM requests"),
        "0.010500000000"
    );
    assert_eq!(
        query(&out, "SELECT line, reason FROM quarantine"),
        vec![vec![
            "3".to_string(),
            "input_tokens: negative token count -1".into()
        ]]
    );
}

#[test]
fn ideal_prefix_cache_on_the_mooncake_trace() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[[requests]]\npath = \"{}\"\nformat = \"trace\"\ntime_origin = \"2026-11-16T09:00:00Z\"\n\
             [requests.defaults]\nmodel = \"claude-haiku-4-5\"\nprefix_block_tokens = \"512\"\n",
            root()
                .join("tests/fixtures/mooncake_synthetic_trace_every8th.jsonl")
                .display()
        ),
    );
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &[]));
    // An independent replay in Python (tuples of leading hash_ids in a dict of last-seen
    // times, 512 tokens a block, capped at input_length): of 7,631,669 prompt tokens an
    // ideal cache serves 1,731,824 with no TTL or a 1-hour TTL (0.2269259843) and
    // 1,244,400 with a 5-minute TTL (0.1630573863). The trace reports no cache reads, so
    // all of it is missed; at Haiku 4.5's $1.00 input and $0.10 cache-read per million,
    // 1,731,824 × $0.0000009 = $1.5586416 and 1,244,400 × $0.0000009 = $1.11996.
    assert_eq!(
        query(
            &out,
            "SELECT method, SUM(input_tokens), SUM(missed_read_tokens), \
             CAST(round(SUM(ideal_hit_ratio * input_tokens) / SUM(input_tokens), 10) AS VARCHAR), \
             CAST(round(SUM(ideal_hit_ratio_5m * input_tokens) / SUM(input_tokens), 10) AS VARCHAR), \
             CAST(SUM(gap_usd) AS VARCHAR), CAST(SUM(gap_usd_5m) AS VARCHAR), CAST(SUM(gap_usd_1h) AS VARCHAR) \
             FROM cache_opportunity GROUP BY method"
        ),
        vec![vec![
            "prefix_identity".to_string(),
            "7631669".into(),
            "1731824".into(),
            "0.2269259843".into(),
            "0.1630573863".into(),
            "1.558641600000".into(),
            "1.119960000000".into(),
            "1.558641600000".into(),
        ]]
    );
}

/// Writes SpendLogs rows as spend.csv with a LiteLLM source over it, runs, returns `out`.
fn run_spend_logs<R: AsRef<str>>(dir: &Path, header: &str, rows: &[R]) -> PathBuf {
    let body: Vec<&str> = rows.iter().map(AsRef::as_ref).collect();
    std::fs::write(
        dir.join("spend.csv"),
        format!("{header}\n{}\n", body.join("\n")),
    )
    .unwrap();
    let config = write_config(
        dir,
        "[[requests]]\nname = \"litellm\"\npath = \"spend.csv\"\nformat = \"litellm\"\n",
    );
    let out = dir.join("out");
    assert_ok(&run(&config, &out, &[]));
    out
}

#[test]
fn litellm_spend_logs_team_alias_cache_writes_and_proxy_cache_hits() {
    // Three SpendLogs rows, figures by hand at the catalog's prices:
    // - gpt-4o-mini, 1,000 prompt + 100 completion tokens, team_id a UUID but the team's
    //   alias in metadata: team "search", $0.00015 + $0.00006 = $0.00021;
    // - the same answered by LiteLLM's own cache (cache_hit True): the provider billed $0;
    // - claude-sonnet-4-5, 3,000 prompt tokens of which 1,000 written to the cache and
    //   1,000 read from it, 100 completion: 1,000 × $3/M + 1,000 × $3.75/M + 1,000 ×
    //   $0.30/M + 100 × $15/M = $0.00855 (before, the writes were billed as plain input).
    let dir = tempfile::tempdir().unwrap();
    let header = "request_id,call_type,api_key,spend,total_tokens,prompt_tokens,completion_tokens,startTime,endTime,model,model_group,custom_llm_provider,user,team_id,end_user,session_id,status,metadata,request_tags,cache_hit";
    let meta =
        |extra: &str| format!("\"{{\"\"user_api_key_team_alias\"\": \"\"search\"\"{extra}}}\"");
    let rows = [
        format!(
            "l1,acompletion,k,0.00021,1100,1000,100,2026-11-16 10:00:00,2026-11-16 10:00:01,gpt-4o-mini,g,openai,,5f3c2a9e-team,u1,s1,success,{},[],False",
            meta("")
        ),
        format!(
            "l2,acompletion,k,0,1100,1000,100,2026-11-16 10:05:00,2026-11-16 10:05:00,gpt-4o-mini,g,openai,,5f3c2a9e-team,u1,s1,success,{},[],True",
            meta("")
        ),
        format!(
            "l3,acompletion,k,0.00855,3100,3000,100,2026-11-16 10:10:00,2026-11-16 10:10:02,claude-sonnet-4-5,g,anthropic,,5f3c2a9e-team,u1,s1,success,{},[],False",
            meta(
                ", \"\"usage_object\"\": {\"\"cache_creation_input_tokens\"\": 1000, \"\"cache_read_input_tokens\"\": 1000}"
            )
        ),
    ];
    let out = run_spend_logs(dir.path(), header, &rows);
    assert_eq!(
        query(
            &out,
            "SELECT request_id, team, cache_write_tokens, CAST(cost_usd AS VARCHAR), price_id FROM requests ORDER BY request_id"
        ),
        vec![
            vec![
                "l1".to_string(),
                "search".into(),
                "0".into(),
                "0.000210000000".into(),
                "catalog:gpt-4o-mini@2024-07-18".into()
            ],
            vec![
                "l2".to_string(),
                "search".into(),
                "0".into(),
                "0.000000000000".into(),
                "proxy-cache-hit".into()
            ],
            vec![
                "l3".to_string(),
                "search".into(),
                "1000".into(),
                "0.008550000000".into(),
                "catalog:claude-sonnet-4-5@2025-09-29".into()
            ],
        ]
    );
}

#[test]
fn litellm_feature_from_request_tags() {
    // No feature field, a `feature:qa` request tag (LiteLLM's request_tags column, a JSON
    // list in CSV text): the feature is qa. A row with neither has none.
    let dir = tempfile::tempdir().unwrap();
    let header = "request_id,startTime,endTime,model,custom_llm_provider,prompt_tokens,completion_tokens,status,metadata,request_tags";
    let rows = [
        "t1,2026-11-16 10:00:00,2026-11-16 10:00:01,gpt-4o-mini,openai,10,1,success,{},\"[\"\"env:prod\"\", \"\"feature:qa\"\"]\"",
        "t2,2026-11-16 10:01:00,2026-11-16 10:01:01,gpt-4o-mini,openai,10,1,success,{},[]",
    ];
    let out = run_spend_logs(dir.path(), header, &rows);
    assert_eq!(
        query(
            &out,
            "SELECT request_id, feature FROM requests ORDER BY request_id"
        ),
        vec![
            vec!["t1".to_string(), "qa".into()],
            vec!["t2".to_string(), "NULL".into()]
        ]
    );
}

#[test]
fn litellm_spend_logs_bedrock_embeddings_snapshots_and_logged_cost() {
    // A SpendLogs slice without the custom_llm_provider column. Every `spend` is worked
    // out by hand from LiteLLM 1.110.2's price table (tests/fixtures, same entries as the
    // full file) and the catalog agrees with it:
    // - s1 gpt-4o-2024-05-13, 1,000 + 100 tokens: 1,000 × $5e-6 + 100 × $1.5e-5 = $0.0065
    //   (before: priced as the gpt-4o alias at $2.50/$10, $0.0035);
    // - e1 text-embedding-3-small, 5,000 prompt tokens: 5,000 × $2e-8 = $0.0001;
    // - b1 anthropic.claude-3-5-sonnet-20240620-v1:0 (Bedrock), 2,000 + 200:
    //   2,000 × $3e-6 + 200 × $1.5e-5 = $0.009;
    // - b2 bedrock/us.anthropic.claude-3-5-sonnet-20240620-v1:0, 1,000 + 100: $0.0045;
    // - m1 gpt-4o-mini, 1,000 + 100, whose log says $0.000105 (a rate set in the proxy at
    //   half the list price): computed $0.00021, difference +$0.000105.
    // Before: b1, b2 and e1 unpriced and every provider NULL.
    let header = "request_id,call_type,spend,prompt_tokens,completion_tokens,startTime,endTime,model,status,metadata,request_tags";
    let rows = [
        "s1,acompletion,0.0065,1000,100,2026-11-16 10:00:00.000+00,2026-11-16 10:00:02.000+00,gpt-4o-2024-05-13,success,{},[]",
        "e1,aembedding,0.0001,5000,0,2026-11-16 10:01:00.000+00,2026-11-16 10:01:00.200+00,text-embedding-3-small,success,{},[]",
        "b1,acompletion,0.009,2000,200,2026-11-16 10:02:00.000+00,2026-11-16 10:02:03.000+00,anthropic.claude-3-5-sonnet-20240620-v1:0,success,{},[]",
        "b2,acompletion,0.0045,1000,100,2026-11-16 10:03:00.000+00,2026-11-16 10:03:03.000+00,bedrock/us.anthropic.claude-3-5-sonnet-20240620-v1:0,success,{},[]",
        "m1,acompletion,0.000105,1000,100,2026-11-16 10:04:00.000+00,2026-11-16 10:04:01.000+00,gpt-4o-mini,success,{},[]",
    ];
    let expected = |price_ids: [&str; 5]| -> Vec<Vec<String>> {
        let fixed = [
            ("b1", "bedrock", "0.009000000000", "0.009000000000"),
            ("b2", "bedrock", "0.004500000000", "0.004500000000"),
            ("e1", "openai", "0.000100000000", "0.000100000000"),
            ("m1", "openai", "0.000210000000", "0.000105000000"),
            ("s1", "openai", "0.006500000000", "0.006500000000"),
        ];
        fixed
            .iter()
            .zip(price_ids)
            .map(|((id, provider, cost, logged), price)| {
                vec![
                    id.to_string(),
                    provider.to_string(),
                    cost.to_string(),
                    logged.to_string(),
                    price.to_string(),
                ]
            })
            .collect()
    };
    let sql = "SELECT request_id, provider, CAST(cost_usd AS VARCHAR), CAST(source_cost_usd AS VARCHAR), price_id FROM requests ORDER BY request_id";

    // The built-in catalog alone.
    let dir = tempfile::tempdir().unwrap();
    let out = run_spend_logs(dir.path(), header, &rows);
    assert_eq!(
        query(&out, sql),
        expected([
            "catalog:claude-3-5-sonnet@2024-06-20",
            "catalog:claude-3-5-sonnet@2024-06-20",
            "catalog:text-embedding-3-small@2024-01-25",
            "catalog:gpt-4o-mini@2024-07-18",
            "catalog:gpt-4o-2024-05-13@2024-05-13",
        ])
    );
    // The report states the difference per model: only gpt-4o-mini differs.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let section = report
        .split("## Computed cost vs the logs' own cost")
        .nth(1)
        .expect("a logged-cost section");
    let mini = section
        .lines()
        .find(|l| l.contains("gpt-4o-mini"))
        .unwrap_or_default();
    // Computed $0.00021 is 100% above the logged $0.000105; the others agree.
    assert!(mini.ends_with("| 100.0% |"), "{section}");
    assert_eq!(section.matches("| 0.0% |").count(), 4, "{section}");
    assert_eq!(
        scalar(
            &out,
            "SELECT CAST(SUM(difference_usd) AS VARCHAR) FROM report_logged_cost_by_model"
        ),
        "0.000105000000"
    );

    // LiteLLM's own price table: the Bedrock ids resolve to its Bedrock keys (the region
    // prefix dropped for b2's, which the table also has as its own key, so b2 takes that).
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("tests/fixtures/litellm_1.110.2_prices_slice.json"),
        dir.path().join("prices.json"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("spend.csv"),
        format!("{header}\n{}\n", rows.join("\n")),
    )
    .unwrap();
    let config = write_config(
        dir.path(),
        "[[requests]]\nname = \"litellm\"\npath = \"spend.csv\"\nformat = \"litellm\"\n\n[prices]\nfile = \"prices.json\"\n",
    );
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &[]));
    assert_eq!(
        query(&out, sql),
        expected([
            "litellm:anthropic.claude-3-5-sonnet-20240620-v1:0",
            "litellm:us.anthropic.claude-3-5-sonnet-20240620-v1:0",
            "litellm:text-embedding-3-small",
            "litellm:gpt-4o-mini",
            "litellm:gpt-4o-2024-05-13",
        ])
    );
}
