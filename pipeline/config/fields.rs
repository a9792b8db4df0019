//! The canonical request columns a source can be mapped onto, with their config names.
//! Presets and a user's `[requests.fields]` both speak in these names.

/// A column of the canonical `requests` table (or an input-only helper such as `end_ts`)
/// that a record can supply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CanonicalField {
    /// Provider's request or response id; duplicates are dropped on it.
    RequestId,
    /// Start (or creation) time of the request.
    Ts,
    /// End time, used for `duration_ms` when no duration is given.
    EndTs,
    /// Wall time of the request in milliseconds.
    DurationMs,
    /// API provider (`openai`, `anthropic`, `google`, `azure`, …).
    Provider,
    /// Model name as the provider reported it.
    Model,
    /// Deployment or endpoint name (self-hosted pools match on it).
    Deployment,
    /// Team to charge.
    Team,
    /// Product feature to charge.
    Feature,
    /// End user.
    UserId,
    /// Conversation, session or trace id grouping requests into one interaction.
    InteractionId,
    /// Status text or HTTP code.
    Status,
    /// Error object or message; any non-empty value marks the request as failed.
    Error,
    /// Prompt tokens as the source counts them (see the format's token rule).
    InputTokens,
    /// Prompt tokens read from the provider's cache.
    CacheReadTokens,
    /// Prompt tokens written to the provider's cache (all TTLs).
    CacheWriteTokens,
    /// The part of the cache writes with a one-hour TTL (priced higher).
    CacheWrite1hTokens,
    /// Output tokens as the source counts them.
    OutputTokens,
    /// Reasoning ("thinking") tokens.
    ReasoningTokens,
    /// Explicit interaction outcome (true = completed, false = abandoned).
    Completed,
    /// Whether the request went through a batch API (discounted).
    Batch,
    /// Whether a gateway answered from its own response cache (LiteLLM's `cache_hit`): the
    /// provider was not called, so the request costs nothing.
    ProxyCacheHit,
    /// What the log itself says the request cost (LiteLLM's `spend`), kept beside the cost
    /// computed here so the two can be compared.
    SourceCost,
    /// Prompt-prefix identity: a list of block ids (Mooncake/Qwen `hash_ids`: equal id =
    /// equal prefix block) or one `prefix_hash`.
    PrefixBlocks,
    /// Tokens per prefix block (or the prefix's length, for a single `prefix_hash`).
    PrefixBlockTokens,
    /// What kind of call it was, where the record says (`object: "list"` of an OpenAI
    /// embedding response, `gen_ai.operation.name`, LiteLLM's `call_type`): an embedding
    /// has no output tokens, so a record without an output count is not short of one.
    Operation,
    /// The provider's service tier (OpenAI's `service_tier`: `default`, `flex`,
    /// `priority`), which selects the tier's prices where the price entry has them.
    ServiceTier,
}

use CanonicalField::*;

const ALL: [CanonicalField; 27] = [
    RequestId,
    Ts,
    EndTs,
    DurationMs,
    Provider,
    Model,
    Deployment,
    Team,
    Feature,
    UserId,
    InteractionId,
    Status,
    Error,
    InputTokens,
    CacheReadTokens,
    CacheWriteTokens,
    CacheWrite1hTokens,
    OutputTokens,
    ReasoningTokens,
    Completed,
    Batch,
    ProxyCacheHit,
    SourceCost,
    PrefixBlocks,
    PrefixBlockTokens,
    Operation,
    ServiceTier,
];

/// The fields `[requests.defaults]` may fill.
pub const DEFAULTABLE_FIELDS: [CanonicalField; 8] = [
    Provider,
    Model,
    Deployment,
    Team,
    Feature,
    UserId,
    Batch,
    PrefixBlockTokens,
];

impl CanonicalField {
    /// The name used in the config and in the table.
    pub fn name(self) -> &'static str {
        match self {
            RequestId => "request_id",
            Ts => "ts",
            EndTs => "end_ts",
            DurationMs => "duration_ms",
            Provider => "provider",
            Model => "model",
            Deployment => "deployment",
            Team => "team",
            Feature => "feature",
            UserId => "user_id",
            InteractionId => "interaction_id",
            Status => "status",
            Error => "error",
            InputTokens => "input_tokens",
            CacheReadTokens => "cache_read_tokens",
            CacheWriteTokens => "cache_write_tokens",
            CacheWrite1hTokens => "cache_write_1h_tokens",
            OutputTokens => "output_tokens",
            ReasoningTokens => "reasoning_tokens",
            Completed => "completed",
            Batch => "batch",
            ProxyCacheHit => "proxy_cache_hit",
            SourceCost => "source_cost_usd",
            PrefixBlocks => "prefix_blocks",
            PrefixBlockTokens => "prefix_block_tokens",
            Operation => "operation",
            ServiceTier => "service_tier",
        }
    }

    /// Looks a field up by its config name.
    pub fn from_name(name: &str) -> Option<Self> {
        ALL.into_iter().find(|f| f.name() == name)
    }

    /// Every field name, for messages.
    pub fn all_names() -> Vec<&'static str> {
        ALL.iter().map(|f| f.name()).collect()
    }

    /// Every field.
    pub fn all() -> &'static [CanonicalField] {
        &ALL
    }
}
