//! Langfuse's observations export (blob storage; Parquet, CSV or JSON lines): one row per
//! observation of a trace. Generations (and embeddings) are model calls; spans, events,
//! agents, tools and the other observation types are steps of a trace that call no model,
//! and are counted as not requests. A generation's `usage_details` is a map of token
//! buckets that do not overlap (Langfuse's contract: `input` excludes the tokens under the
//! other `input…` keys such as `input_cached_tokens`, `output` excludes
//! `output_reasoning_tokens`, and `total` is their sum): the buckets are summed here into
//! `_usage` (all prompt tokens, cache reads, cache writes, all output tokens, reasoning),
//! which the `langfuse` preset reads.

use serde_json::{Map, Value};

/// The object the bucket sums are written under.
pub const USAGE_TOTALS: &str = "_usage";

/// Whether an observation is a model call: a generation or an embedding, or any
/// observation that records token usage.
pub fn is_request(record: &Value) -> bool {
    let kind = record
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_uppercase();
    matches!(kind.as_str(), "GENERATION" | "EMBEDDING")
        || usage_buckets(record).is_some_and(|buckets| !buckets.is_empty())
}

/// The `usage_details` map (an object, or JSON text in a CSV export).
fn usage_buckets(record: &Value) -> Option<Map<String, Value>> {
    match record.get("usage_details")? {
        Value::Object(map) => Some(map.clone()),
        Value::String(text) => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        },
        _ => None,
    }
}

/// Adds `_usage` to an observation: its usage buckets summed by kind. A bucket that is
/// not a count is left out (the extractor then finds what is missing and says so).
pub fn add_usage_totals(record: &mut Value) {
    let Some(buckets) = usage_buckets(record) else {
        return;
    };
    let (mut input, mut cache_read, mut cache_write) = (0u64, 0u64, 0u64);
    let (mut output, mut reasoning) = (0u64, 0u64);
    let (mut saw_input, mut saw_output) = (false, false);
    for (key, value) in &buckets {
        let Some(count) = value
            .as_u64()
            .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
        else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        if key == "total" || key.starts_with("total_") {
            continue;
        }
        if key.contains("input") || key.starts_with("prompt") {
            saw_input = true;
            input += count;
            if key.contains("cache") && (key.contains("read") || key.contains("cached")) {
                cache_read += count;
            } else if key.contains("cache") && (key.contains("creat") || key.contains("write")) {
                cache_write += count;
            }
        } else if key.contains("output") || key.starts_with("completion") {
            saw_output = true;
            output += count;
            if key.contains("reasoning") {
                reasoning += count;
            }
        }
    }
    let mut totals = Map::new();
    if saw_input {
        totals.insert("input".into(), input.into());
        totals.insert("cache_read".into(), cache_read.into());
        totals.insert("cache_write".into(), cache_write.into());
    }
    if saw_output {
        totals.insert("output".into(), output.into());
        totals.insert("reasoning".into(), reasoning.into());
    }
    if let Value::Object(fields) = record {
        fields.insert(USAGE_TOTALS.to_string(), Value::Object(totals));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Buckets summed by hand: prompt 1,052 + 2,048 cached = 3,100, output 188 + 512
    /// reasoning = 700 (the o4-mini call of the client corpus); Anthropic-style cache
    /// buckets; a span is not a request, a generation without usage is.
    #[test]
    fn buckets_sum_by_kind() {
        let mut generation = json!({"type": "GENERATION", "usage_details": {"input": 1052,
            "output": 188, "total": 3800, "input_cached_tokens": 2048, "output_reasoning_tokens": 512}});
        assert!(is_request(&generation));
        add_usage_totals(&mut generation);
        assert_eq!(
            generation[USAGE_TOTALS],
            json!({"input": 3100, "cache_read": 2048, "cache_write": 0, "output": 700, "reasoning": 512})
        );
        let mut anthropic = json!({"type": "GENERATION", "usage_details":
            "{\"input\": 40, \"input_cache_read\": 5000, \"input_cache_creation\": 300, \"output\": 90}"});
        add_usage_totals(&mut anthropic);
        assert_eq!(
            anthropic[USAGE_TOTALS],
            json!({"input": 5340, "cache_read": 5000, "cache_write": 300, "output": 90, "reasoning": 0})
        );
        assert!(!is_request(&json!({"type": "SPAN", "usage_details": {}})));
        assert!(!is_request(&json!({"type": "EVENT"})));
        assert!(is_request(
            &json!({"type": "GENERATION", "usage_details": {}})
        ));
        assert!(is_request(
            &json!({"type": "AGENT", "usage_details": {"input": 3}})
        ));
    }
}
