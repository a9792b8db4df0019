//! Source formats. A format is a preset of field paths plus a token rule, not a parser of
//! its own: every preset, and a user's `[requests.fields]`, goes through the same extractor
//! (extract.rs). `auto` looks at a file's first record and picks a preset.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::Format;
use crate::config::fields::CanonicalField::{self, *};

/// Whether a source counts cache tokens inside its input count or beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheCounting {
    /// Cache reads and writes are part of the input count (OpenAI, Gemini, OTel, LiteLLM).
    InsideInput,
    /// The input count is uncached tokens only (Anthropic): all prompt tokens =
    /// input + cache read + cache write.
    BesideInput,
}

/// Whether reasoning tokens are part of the output count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningCounting {
    /// Output already includes reasoning (OpenAI, Anthropic).
    InsideOutput,
    /// Reasoning is billed as output but counted apart (Gemini `thoughtsTokenCount`).
    BesideOutput,
}

/// How a format's token counts map onto the canonical ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRule {
    /// Cache tokens and the input count.
    pub cache: CacheCounting,
    /// Reasoning tokens and the output count.
    pub reasoning: ReasoningCounting,
}

/// A format's field paths, token rule and default provider.
#[derive(Debug, Clone)]
pub struct Preset {
    /// The format this preset is for.
    pub format: Format,
    /// Candidate paths per canonical field, first present wins.
    pub fields: BTreeMap<CanonicalField, Vec<String>>,
    /// Token counting rule.
    pub token_rule: TokenRule,
    /// Provider when the record names none.
    pub provider: Option<&'static str>,
}

/// Attribution paths shared by the JSON response formats.
const METADATA_PATHS: [(CanonicalField, &[&str]); 15] = [
    (PrefixBlocks, &["prefix_hash", "metadata.prefix_hash"]),
    (
        PrefixBlockTokens,
        &["prefix_tokens", "metadata.prefix_tokens"],
    ),
    (Team, &["metadata.team", "team"]),
    (Feature, &["metadata.feature", "feature"]),
    (
        UserId,
        &["metadata.user_id", "user_id", "metadata.user", "user"],
    ),
    (
        InteractionId,
        &[
            "metadata.interaction_id",
            "metadata.session_id",
            "metadata.conversation_id",
            "interaction_id",
            "session_id",
            "conversation_id",
        ],
    ),
    (Status, &["status", "metadata.status"]),
    (Error, &["error"]),
    (
        DurationMs,
        &["duration_ms", "latency_ms", "metadata.duration_ms"],
    ),
    (Deployment, &["deployment", "metadata.deployment"]),
    (Provider, &["provider", "metadata.provider"]),
    (Completed, &["completed", "metadata.completed"]),
    (Batch, &["batch", "metadata.batch"]),
    (EndTs, &["end_time", "metadata.end_time"]),
    (RequestId, &["id", "request_id"]),
];

fn paths(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn with_metadata(own: &[(CanonicalField, &[&str])]) -> BTreeMap<CanonicalField, Vec<String>> {
    let mut fields: BTreeMap<CanonicalField, Vec<String>> =
        METADATA_PATHS.iter().map(|(f, p)| (*f, paths(p))).collect();
    for (f, p) in own {
        fields.insert(*f, paths(p));
    }
    fields
}

const INSIDE: TokenRule = TokenRule {
    cache: CacheCounting::InsideInput,
    reasoning: ReasoningCounting::InsideOutput,
};

impl Preset {
    /// The built-in preset of a format (`Auto` has none: it resolves to another format).
    pub fn of(format: Format) -> Option<Preset> {
        let (fields, token_rule, provider) = match format {
            Format::Openai => (
                with_metadata(&[
                    (Ts, &["created", "created_at", "timestamp"]),
                    (Model, &["model"]),
                    (InputTokens, &["usage.prompt_tokens", "usage.input_tokens"]),
                    (
                        CacheReadTokens,
                        &[
                            "usage.prompt_tokens_details.cached_tokens",
                            "usage.input_tokens_details.cached_tokens",
                        ],
                    ),
                    (
                        OutputTokens,
                        &["usage.completion_tokens", "usage.output_tokens"],
                    ),
                    (
                        ReasoningTokens,
                        &[
                            "usage.completion_tokens_details.reasoning_tokens",
                            "usage.output_tokens_details.reasoning_tokens",
                        ],
                    ),
                    (Operation, &["object"]),
                    (ServiceTier, &["service_tier"]),
                ]),
                INSIDE,
                Some("openai"),
            ),
            Format::Anthropic => (
                with_metadata(&[
                    (Ts, &["created_at", "created", "timestamp"]),
                    (Model, &["model"]),
                    (InputTokens, &["usage.input_tokens"]),
                    (CacheReadTokens, &["usage.cache_read_input_tokens"]),
                    (CacheWriteTokens, &["usage.cache_creation_input_tokens"]),
                    (
                        CacheWrite1hTokens,
                        &["usage.cache_creation.ephemeral_1h_input_tokens"],
                    ),
                    (OutputTokens, &["usage.output_tokens"]),
                ]),
                TokenRule {
                    cache: CacheCounting::BesideInput,
                    reasoning: ReasoningCounting::InsideOutput,
                },
                Some("anthropic"),
            ),
            Format::Gemini => (
                with_metadata(&[
                    // The REST API's camelCase, then google-genai's `model_dump_json()`
                    // snake_case.
                    (
                        RequestId,
                        &["responseId", "response_id", "id", "request_id"],
                    ),
                    (Ts, &["createTime", "create_time", "created", "timestamp"]),
                    (Model, &["modelVersion", "model_version", "model"]),
                    (
                        InputTokens,
                        &[
                            "usageMetadata.promptTokenCount",
                            "usage_metadata.prompt_token_count",
                        ],
                    ),
                    (
                        CacheReadTokens,
                        &[
                            "usageMetadata.cachedContentTokenCount",
                            "usage_metadata.cached_content_token_count",
                        ],
                    ),
                    (
                        OutputTokens,
                        &[
                            "usageMetadata.candidatesTokenCount",
                            "usage_metadata.candidates_token_count",
                        ],
                    ),
                    (
                        ReasoningTokens,
                        &[
                            "usageMetadata.thoughtsTokenCount",
                            "usage_metadata.thoughts_token_count",
                        ],
                    ),
                ]),
                TokenRule {
                    cache: CacheCounting::InsideInput,
                    reasoning: ReasoningCounting::BesideOutput,
                },
                Some("google"),
            ),
            Format::Otel => (
                with_metadata(&[
                    (RequestId, &["span_id", "spanId", "context.span_id"]),
                    (
                        InteractionId,
                        &[
                            "attributes.gen_ai.conversation.id",
                            "attributes.session.id",
                            "trace_id",
                            "traceId",
                            "context.trace_id",
                        ],
                    ),
                    (
                        Ts,
                        &[
                            "start_time",
                            "startTime",
                            "start_time_unix_nano",
                            "startTimeUnixNano",
                        ],
                    ),
                    (
                        EndTs,
                        &[
                            "end_time",
                            "endTime",
                            "end_time_unix_nano",
                            "endTimeUnixNano",
                        ],
                    ),
                    (
                        Model,
                        &[
                            "attributes.gen_ai.response.model",
                            "attributes.gen_ai.request.model",
                        ],
                    ),
                    (
                        Provider,
                        &[
                            "attributes.gen_ai.provider.name",
                            "attributes.gen_ai.system",
                        ],
                    ),
                    (InputTokens, &["attributes.gen_ai.usage.input_tokens"]),
                    (
                        CacheReadTokens,
                        &[
                            "attributes.gen_ai.usage.cache_read.input_tokens",
                            "attributes.gen_ai.usage.cache_read_input_tokens",
                        ],
                    ),
                    (
                        CacheWriteTokens,
                        &[
                            "attributes.gen_ai.usage.cache_creation.input_tokens",
                            "attributes.gen_ai.usage.cache_creation_input_tokens",
                        ],
                    ),
                    (OutputTokens, &["attributes.gen_ai.usage.output_tokens"]),
                    // The semantic conventions' name, then OpenLLMetry's.
                    (
                        ReasoningTokens,
                        &[
                            "attributes.gen_ai.usage.reasoning.output_tokens",
                            "attributes.gen_ai.usage.reasoning_tokens",
                        ],
                    ),
                    // OTLP's `status.code`, the Python console exporter's
                    // `status.status_code`.
                    (
                        Status,
                        &["status.code", "status.status_code", "status_code", "status"],
                    ),
                    (Operation, &["attributes.gen_ai.operation.name"]),
                    (
                        ServiceTier,
                        &[
                            "attributes.openai.response.service_tier",
                            "attributes.gen_ai.openai.response.service_tier",
                            "attributes.openai.request.service_tier",
                        ],
                    ),
                    (Error, &["attributes.error.type"]),
                    (
                        Team,
                        &[
                            "attributes.team",
                            "attributes.app.team",
                            "resource.attributes.team",
                            "resource.team",
                        ],
                    ),
                    (
                        Feature,
                        &[
                            "attributes.feature",
                            "attributes.app.feature",
                            "resource.attributes.feature",
                            "resource.feature",
                        ],
                    ),
                    (UserId, &["attributes.user.id", "attributes.enduser.id"]),
                    (
                        Deployment,
                        &["attributes.deployment", "attributes.server.address"],
                    ),
                ]),
                INSIDE,
                None,
            ),
            Format::Litellm => (
                with_metadata(&[
                    // SpendLogs rows name it `request_id`, the StandardLoggingPayload `id`.
                    (RequestId, &["request_id", "id"]),
                    (Ts, &["startTime", "start_time"]),
                    (EndTs, &["endTime", "end_time"]),
                    (DurationMs, &["request_duration_ms"]),
                    (Model, &["model", "model_group"]),
                    (Provider, &["custom_llm_provider"]),
                    (Deployment, &["model_group", "api_base"]),
                    // The team's name before its id: a full SpendLogs export always has
                    // team_id, a UUID.
                    (
                        Team,
                        &[
                            "metadata.user_api_key_team_alias",
                            "metadata.team",
                            "team_id",
                            "metadata.user_api_key_team_id",
                        ],
                    ),
                    (
                        Feature,
                        &["metadata.feature", "metadata.requester_metadata.feature"],
                    ),
                    (UserId, &["end_user", "user"]),
                    (InteractionId, &["session_id", "metadata.session_id"]),
                    (InputTokens, &["prompt_tokens"]),
                    (
                        CacheReadTokens,
                        &[
                            "metadata.usage_object.prompt_tokens_details.cached_tokens",
                            "metadata.usage_object.cache_read_input_tokens",
                        ],
                    ),
                    // Anthropic through LiteLLM: cache writes, billed above plain input.
                    (
                        CacheWriteTokens,
                        &["metadata.usage_object.cache_creation_input_tokens"],
                    ),
                    // The one-hour part of them (LiteLLM prices it apart).
                    (
                        CacheWrite1hTokens,
                        &[
                            "metadata.usage_object.prompt_tokens_details.cache_creation_token_details.ephemeral_1h_input_tokens",
                        ],
                    ),
                    (OutputTokens, &["completion_tokens"]),
                    (
                        ReasoningTokens,
                        &["metadata.usage_object.completion_tokens_details.reasoning_tokens"],
                    ),
                    (Status, &["status"]),
                    (Error, &["metadata.error_information.error_message"]),
                    (ProxyCacheHit, &["cache_hit"]),
                    // SpendLogs' `spend`, the StandardLoggingPayload's `response_cost`.
                    (SourceCost, &["spend", "response_cost"]),
                    (Operation, &["call_type"]),
                ]),
                INSIDE,
                None,
            ),
            Format::Langfuse => (
                with_metadata(&[
                    (RequestId, &["id"]),
                    (Ts, &["start_time"]),
                    (EndTs, &["end_time"]),
                    (Model, &["provided_model_name"]),
                    (InteractionId, &["trace_id"]),
                    // DEFAULT, DEBUG, WARNING or ERROR.
                    (Status, &["level"]),
                    (Team, &["metadata.team", "metadata.user_api_key_team_alias"]),
                    (Feature, &["metadata.feature"]),
                    (UserId, &["metadata.user_id", "user_id"]),
                    (Deployment, &["metadata.deployment"]),
                    // The usage buckets summed (`langfuse::add_usage_totals`).
                    (InputTokens, &["_usage.input"]),
                    (CacheReadTokens, &["_usage.cache_read"]),
                    (CacheWriteTokens, &["_usage.cache_write"]),
                    (OutputTokens, &["_usage.output"]),
                    (ReasoningTokens, &["_usage.reasoning"]),
                    // Langfuse's own cost of the observation.
                    (SourceCost, &["total_cost"]),
                    (Operation, &["type"]),
                    // Its OpenAI integration keeps a requested tier among the parameters.
                    (ServiceTier, &["model_parameters.service_tier"]),
                ]),
                INSIDE,
                None,
            ),
            Format::Trace => (
                [
                    (RequestId, &["request_id", "id"][..]),
                    (Ts, &["TIMESTAMP", "timestamp", "Timestamp"]),
                    (
                        InputTokens,
                        &["ContextTokens", "input_length", "Request tokens"],
                    ),
                    (
                        OutputTokens,
                        &["GeneratedTokens", "output_length", "Response tokens"],
                    ),
                    (Model, &["Model", "model"]),
                    (InteractionId, &["chat_id", "Session ID", "session_id"]),
                    (Status, &["status"]),
                    (PrefixBlocks, &["hash_ids", "prefix_hash"]),
                    (PrefixBlockTokens, &["block_tokens", "prefix_tokens"]),
                ]
                .iter()
                .map(|(f, p)| (*f, paths(p)))
                .collect(),
                INSIDE,
                None,
            ),
            Format::Auto => return None,
        };
        Some(Preset {
            format,
            fields,
            token_rule,
            provider,
        })
    }
}

/// Picks a format from a file's first record, or says why none fits.
pub fn sniff(record: &Value) -> Result<Format, String> {
    let has = |path: &str| crate::read::json_path::lookup(record, path).is_some();
    let format = if has("usage_details") && has("trace_id") && has("type") {
        Format::Langfuse
    } else if has("usageMetadata") || has("usage_metadata") {
        Format::Gemini
    } else if has("usage.cache_read_input_tokens")
        || has("usage.cache_creation_input_tokens")
        || record.get("type").and_then(Value::as_str) == Some("message")
    {
        Format::Anthropic
    } else if has("usage") {
        Format::Openai
    } else if crate::read::otlp::is_batch(record)
        || has("attributes.gen_ai.usage.input_tokens")
        || has("attributes.gen_ai.system")
        || has("attributes.gen_ai.provider.name")
        || has("attributes.gen_ai.operation.name")
        || has("attributes.gen_ai.request.model")
    {
        Format::Otel
    } else if (has("spend") || has("response_cost")) && (has("startTime") || has("prompt_tokens")) {
        Format::Litellm
    } else if has("ContextTokens") || has("input_length") || has("Request tokens") {
        Format::Trace
    } else {
        let keys = match record {
            Value::Object(map) => map.keys().take(12).cloned().collect::<Vec<_>>().join(", "),
            _ => "not an object".to_string(),
        };
        return Err(format!(
            "cannot tell the format from the first record (keys: {keys}); set format = \"openai\" | \"anthropic\" | \"gemini\" | \"otel\" | \"litellm\" | \"langfuse\" | \"trace\""
        ));
    };
    Ok(format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sniffs_each_provider() {
        assert_eq!(
            sniff(&json!({"usage": {"prompt_tokens": 1}})),
            Ok(Format::Openai)
        );
        assert_eq!(
            sniff(&json!({"type": "message", "usage": {"input_tokens": 1}})),
            Ok(Format::Anthropic)
        );
        assert_eq!(sniff(&json!({"usageMetadata": {}})), Ok(Format::Gemini));
        assert_eq!(sniff(&json!({"usage_metadata": {}})), Ok(Format::Gemini));
        assert_eq!(sniff(&json!({"resourceSpans": []})), Ok(Format::Otel));
        assert_eq!(
            sniff(&json!({"id": "o", "trace_id": "t", "type": "SPAN", "usage_details": {}})),
            Ok(Format::Langfuse)
        );
        assert_eq!(
            sniff(&json!({"response_cost": 0.1, "startTime": 1.5})),
            Ok(Format::Litellm)
        );
        assert_eq!(
            sniff(&json!({"attributes": {"gen_ai.usage.input_tokens": 3}})),
            Ok(Format::Otel)
        );
        assert_eq!(
            sniff(&json!({"spend": "0.1", "startTime": "x"})),
            Ok(Format::Litellm)
        );
        assert_eq!(
            sniff(&json!({"TIMESTAMP": "x", "ContextTokens": "1"})),
            Ok(Format::Trace)
        );
        assert!(sniff(&json!({"foo": 1})).unwrap_err().contains("foo"));
    }
}
