//! The canonical request columns a source can be mapped onto, with their config names.
//! Presets and a user's `[requests.fields]` both speak in these names.

/// Declares [`CanonicalField`], its variants each with its config and column name, once:
/// the enum, [`CanonicalField::name`] and the list of every field come from the one list.
macro_rules! canonical_fields {
    ($( $(#[doc = $doc:literal])* $variant:ident => $name:literal, )*) => {
        /// A column of the canonical `requests` table (or an input-only helper such as
        /// `end_ts`) that a record can supply.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum CanonicalField {
            $( $(#[doc = $doc])* $variant, )*
        }

        /// Every field, in declaration order.
        const ALL: &[CanonicalField] = &[$(CanonicalField::$variant),*];

        impl CanonicalField {
            /// The name used in the config and in the table.
            pub fn name(self) -> &'static str {
                match self {
                    $( CanonicalField::$variant => $name, )*
                }
            }
        }
    };
}

canonical_fields! {
    /// Provider's request or response id; duplicates are dropped on it.
    RequestId => "request_id",
    /// Start (or creation) time of the request.
    Ts => "ts",
    /// End time, used for `duration_ms` when no duration is given.
    EndTs => "end_ts",
    /// Wall time of the request in milliseconds.
    DurationMs => "duration_ms",
    /// API provider (`openai`, `anthropic`, `google`, `azure`, …).
    Provider => "provider",
    /// Model name as the provider reported it.
    Model => "model",
    /// Deployment or endpoint name (self-hosted pools match on it).
    Deployment => "deployment",
    /// Team to charge.
    Team => "team",
    /// Product feature to charge.
    Feature => "feature",
    /// End user.
    UserId => "user_id",
    /// Conversation, session or trace id grouping requests into one interaction.
    InteractionId => "interaction_id",
    /// Status text or HTTP code.
    Status => "status",
    /// Error object or message; any non-empty value marks the request as failed.
    Error => "error",
    /// Prompt tokens as the source counts them (see the format's token rule).
    InputTokens => "input_tokens",
    /// Prompt tokens read from the provider's cache.
    CacheReadTokens => "cache_read_tokens",
    /// Prompt tokens written to the provider's cache (all TTLs).
    CacheWriteTokens => "cache_write_tokens",
    /// The part of the cache writes with a one-hour TTL (priced higher).
    CacheWrite1hTokens => "cache_write_1h_tokens",
    /// Output tokens as the source counts them.
    OutputTokens => "output_tokens",
    /// Reasoning ("thinking") tokens.
    ReasoningTokens => "reasoning_tokens",
    /// Explicit interaction outcome (true = completed, false = abandoned).
    Completed => "completed",
    /// Whether the request went through a batch API (discounted).
    Batch => "batch",
    /// Whether a gateway answered from its own response cache (LiteLLM's `cache_hit`): the
    /// provider was not called, so the request costs nothing.
    ProxyCacheHit => "proxy_cache_hit",
    /// What the log itself says the request cost (LiteLLM's `spend`), kept beside the cost
    /// computed here so the two can be compared.
    SourceCost => "source_cost_usd",
    /// Prompt-prefix identity: a list of block ids (Mooncake/Qwen `hash_ids`: equal id =
    /// equal prefix block) or one `prefix_hash`.
    PrefixBlocks => "prefix_blocks",
    /// Tokens per prefix block (or the prefix's length, for a single `prefix_hash`).
    PrefixBlockTokens => "prefix_block_tokens",
    /// What kind of call it was, where the record says (`object: "list"` of an OpenAI
    /// embedding response, `gen_ai.operation.name`, LiteLLM's `call_type`): an embedding
    /// has no output tokens, so a record without an output count is not short of one.
    Operation => "operation",
    /// The provider's service tier (OpenAI's `service_tier`: `default`, `flex`,
    /// `priority`), which selects the tier's prices where the price entry has them.
    ServiceTier => "service_tier",
}

use CanonicalField::*;

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
    /// Looks a field up by its config name.
    pub fn from_name(name: &str) -> Option<Self> {
        ALL.iter().copied().find(|f| f.name() == name)
    }

    /// Every field name, for messages.
    pub fn all_names() -> Vec<&'static str> {
        ALL.iter().map(|f| f.name()).collect()
    }

    /// Every field.
    pub fn all() -> &'static [CanonicalField] {
        ALL
    }
}
