//! The client-library conformance corpus (`sample-data/clients/corpus/`): logs, spans and
//! LiteLLM rows written by the real libraries (pinned versions from PyPI, driven against a
//! fake provider on 127.0.0.1 by `sample-data/clients/generate.py`), read as they come.
//! Each case's `expected.json` was worked out by the generator independently of this
//! project: tokens from the usage the fake server answered, cost by hand from the pinned
//! LiteLLM's price table (tier and cache keys included) or, for LiteLLM's own rows,
//! LiteLLM's `response_cost`. Every case must run with exit 0 at the default bad-row limit,
//! with token counts, requests per team and per day exact, cost per model within 0.5%, and
//! `auto` must pick the case's format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use std::str::FromStr;

use crate::helpers::*;

fn corpus() -> PathBuf {
    root().join("sample-data/clients/corpus")
}

fn expected(case: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(corpus().join(case).join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A config reading `files` of the corpus as one source in `format`, priced with the
/// corpus's slice of the pinned LiteLLM's price table.
fn config_for(dir: &Path, files: &[&str], format: &str) -> PathBuf {
    let mut text = String::new();
    for (i, file) in files.iter().enumerate() {
        text.push_str(&format!(
            "[[requests]]\nname = \"src{i}\"\npath = \"{}\"\nformat = \"{format}\"\n\n",
            corpus().join(file).display()
        ));
    }
    text.push_str(&format!(
        "[prices]\nfile = \"{}\"\n",
        corpus().join("litellm_prices.json").display()
    ));
    write_config(dir, &text)
}

fn decimal(text: &str) -> Decimal {
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .unwrap_or_else(|_| panic!("not a decimal: {text}"))
}

/// Runs `files` as `format` and checks the run against the case's expected figures;
/// returns the output folder's per-model rows, for comparing runs.
fn check_case(case: &str, files: &[&str], format: &str) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), files, format);
    let out = dir.path().join("out");
    let output = run(&config, &out, &[]);
    assert_ok(&output);
    let want = expected(case);
    let label = format!("{case} {files:?} as {format}");

    // Every row read is kept: nothing quarantined, nothing a duplicate.
    let totals = &summary(&out)["totals"];
    assert_eq!(totals["rows_quarantined"], 0, "{label}: {totals}");
    assert_eq!(
        totals["rows_kept"], want["requests"],
        "{label}: kept {totals}"
    );
    // `auto` resolved each file to the case's format.
    for source in summary(&out)["sources"].as_array().unwrap() {
        for file in source["files"].as_array().unwrap() {
            assert_eq!(file["format"], want["format"], "{label}: {file}");
        }
    }

    let rows = query(
        &out,
        "SELECT model, COUNT(*), SUM(input_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), \
         SUM(output_tokens), SUM(reasoning_tokens), CAST(SUM(cost_usd) AS VARCHAR), \
         CAST(SUM(source_cost_usd) AS VARCHAR) FROM requests GROUP BY model ORDER BY model",
    );
    let by_model = want["by_model"].as_object().unwrap();
    assert_eq!(
        rows.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        by_model.keys().map(String::as_str).collect::<Vec<_>>(),
        "{label}: models"
    );
    for row in &rows {
        let w = &by_model[&row[0]];
        let fields = [
            "requests",
            "input_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "output_tokens",
            "reasoning_tokens",
        ];
        for (i, field) in fields.iter().enumerate() {
            assert_eq!(
                row[i + 1],
                w[field].to_string(),
                "{label}: {} {field}",
                row[0]
            );
        }
        let cost = decimal(&row[7]);
        let want_cost = decimal(w["cost_usd"].as_str().unwrap());
        let off = (cost - want_cost).abs();
        assert!(
            off <= want_cost * Decimal::from_str("0.005").unwrap(),
            "{label}: {} cost {cost} vs {want_cost} by hand",
            row[0]
        );
    }
    let count_by = |column: &str| -> BTreeMap<String, String> {
        query(
            &out,
            &format!("SELECT {column}, COUNT(*) FROM requests GROUP BY 1 ORDER BY 1"),
        )
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
    };
    let as_map = |value: &serde_json::Value| -> BTreeMap<String, String> {
        value
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect()
    };
    assert_eq!(
        count_by("team"),
        as_map(&want["requests_by_team"]),
        "{label}: teams"
    );
    assert_eq!(
        count_by("date"),
        as_map(&want["requests_by_day"]),
        "{label}: days"
    );
    rows
}

/// Runs a case's files with its own format and with `auto`: both exact, both the same;
/// returns the per-model rows.
fn check_case_both_ways(case: &str, files: &[&str]) -> Vec<Vec<String>> {
    let format = expected(case)["format"].as_str().unwrap().to_string();
    let own = check_case(case, files, &format);
    let auto = check_case(case, files, "auto");
    assert_eq!(own, auto, "{case} {files:?}: auto reads as {format} does");
    own
}

#[test]
fn openai_sdk_chat_completions_with_service_tiers_and_reasoning() {
    // Priority gpt-4o and flex o4-mini are priced at their tier's rates (LiteLLM's
    // `…_priority` / `…_flex` keys), the default tier at the standard ones.
    check_case_both_ways("openai_chat", &["openai_chat/chat_completions.jsonl"]);
}

#[test]
fn openai_sdk_responses_api() {
    check_case_both_ways("openai_responses", &["openai_responses/responses.jsonl"]);
}

#[test]
fn openai_sdk_embeddings_have_no_output_tokens() {
    check_case_both_ways("openai_embeddings", &["openai_embeddings/embeddings.jsonl"]);
}

#[test]
fn anthropic_sdk_messages_with_five_minute_and_one_hour_cache_writes() {
    check_case_both_ways("anthropic_messages", &["anthropic_messages/messages.jsonl"]);
}

#[test]
fn an_anthropic_message_dumped_as_it_is_has_no_time_and_the_error_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(
        dir.path(),
        &["anthropic_no_time/messages_as_dumped.jsonl"],
        "anthropic",
    );
    let output = run(&config, &dir.path().join("out"), &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("missing ts"), "{text}");
    assert!(text.contains("[requests.fields] ts"), "{text}");
    assert!(text.contains("\"timestamp\""), "{text}");
    assert!(text.contains("5 of 5 rows quarantined"), "{text}");
}

#[test]
fn google_genai_model_dump_json_in_snake_case() {
    check_case_both_ways("google_genai", &["google_genai/generate_content.jsonl"]);
}

#[test]
fn litellm_standard_logging_payload_spend_logs_and_their_csv_export() {
    // Three files LiteLLM's own code wrote from the same seven calls: the callback payload,
    // the SpendLogs rows (`cache_hit` is the text "None" on ordinary rows) and those rows
    // as a CSV table export. Each reads the same; the row LiteLLM's cache answered costs
    // $0 and shows under the provider's model name.
    let mut runs = Vec::new();
    for file in [
        "litellm/standard_logging_payload.jsonl",
        "litellm/spend_logs.jsonl",
        "litellm/spend_logs.csv",
    ] {
        let rows = check_case_both_ways("litellm", &[file]);
        // LiteLLM's own figure is kept beside ours: per model, the sum of its
        // `response_cost` (= `spend`).
        let want = expected("litellm");
        for row in &rows {
            // (to the money columns' 12 places: LiteLLM's floats carry noise beyond them,
            // 0.0048400000000000006)
            assert_eq!(
                decimal(&row[8]),
                decimal(want["by_model"][&row[0]]["cost_usd"].as_str().unwrap()).round_dp(12),
                "{file}: {} source_cost_usd",
                row[0]
            );
        }
        runs.push(rows);
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[1], runs[2]);
}

#[test]
fn opentelemetry_openai_v2_spans_from_the_console_and_otlp_json_exporters() {
    // The console exporter's pretty-printed objects and the OTLP/JSON file's batches (up to
    // four spans a line) hold the same spans; read together, each span is kept once (the
    // console's `0x…` ids are the OTLP file's hex). The openai-v2 instrumentation records
    // no cached or reasoning tokens: expected.json leaves them out.
    let case = "otel_openai_v2";
    let console = check_case_both_ways(case, &["otel_openai_v2/console_spans.json"]);
    let otlp = check_case_both_ways(case, &["otel_openai_v2/otlp_spans.jsonl"]);
    assert_eq!(console, otlp);
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(
        dir.path(),
        &[
            "otel_openai_v2/console_spans.json",
            "otel_openai_v2/otlp_spans.jsonl",
        ],
        "auto",
    );
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &[]));
    let totals = &summary(&out)["totals"];
    let spans = expected(case)["requests"].as_u64().unwrap();
    assert_eq!(totals["rows_read"], 2 * spans);
    assert_eq!(totals["duplicates"], spans);
}

#[test]
fn openllmetry_spans_with_cached_reasoning_and_embedding_tokens() {
    let case = "openllmetry";
    let console = check_case_both_ways(case, &["openllmetry/console_spans.json"]);
    let otlp = check_case_both_ways(case, &["openllmetry/otlp_spans.jsonl"]);
    assert_eq!(console, otlp);
}

#[test]
fn langfuse_observations_export_in_parquet_as_clickhouse_writes_it() {
    // Langfuse's own ClickHouse table and export query (FORMAT Parquet, run by chdb): maps
    // of byte-string keys, Decimal64 costs, millisecond timestamps. Its six generations are
    // requests; the six spans and six events of their traces are not, and are counted so.
    let case = "langfuse";
    let rows = check_case_both_ways(case, &["langfuse/observations.parquet"]);
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &["langfuse/observations.parquet"], "langfuse");
    let out = dir.path().join("out");
    assert_ok(&run(&config, &out, &[]));
    let totals = &summary(&out)["totals"];
    assert_eq!(totals["rows_read"], 18, "{totals}");
    assert_eq!(
        totals["rows_not_requests"],
        expected(case)["not_requests"],
        "{totals}"
    );
    // Langfuse's total_cost, kept as source_cost_usd, is the hand-priced figure.
    let want = expected(case);
    for row in &rows {
        assert_eq!(
            decimal(&row[8]),
            decimal(want["by_model"][&row[0]]["cost_usd"].as_str().unwrap()),
            "{}",
            row[0]
        );
    }
}
