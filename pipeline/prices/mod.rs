//! Prices and the exact cost of a request. The built-in catalog (`catalog.csv`, compiled
//! in: one row per model and `effective_from` date, prices per million tokens) is
//! effective-dated, so a request is priced with the price in force at its timestamp. A
//! LiteLLM price file overrides the catalog for the models it names. All money is
//! `rust_decimal::Decimal`: no binary floats touch a price or a cost.

pub mod litellm;

use std::collections::HashMap;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::common::error::{Error, Result};

/// The built-in catalog, as shipped.
pub const CATALOG_CSV: &str = include_str!("catalog.csv");

/// Prompts longer than this many tokens use a model's long-context prices, where it has them.
pub const LONG_CONTEXT_THRESHOLD: i64 = 200_000;

/// Per-token prices of one tier (standard, or prompts above 200k tokens).
#[derive(Debug, Clone, PartialEq)]
pub struct TierPrices {
    /// Uncached input.
    pub input: Decimal,
    /// Output (reasoning included).
    pub output: Decimal,
    /// Cache read; `None` means no discount (billed as input).
    pub cache_read: Option<Decimal>,
    /// Cache write, 5-minute TTL; `None` means writes are billed as plain input.
    pub cache_write_5m: Option<Decimal>,
    /// Cache write, 1-hour TTL; `None` falls back to the 5-minute price.
    pub cache_write_1h: Option<Decimal>,
}

/// One price entry: a model's prices from a date on.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    /// Stable id written on every request it priced, e.g. `catalog:gpt-4o@2024-10-01`.
    pub id: String,
    /// Model name as the entry gives it.
    pub model: String,
    /// Provider, where known.
    pub provider: Option<String>,
    /// First day (UTC) the entry is in force; `None` for an override always in force.
    pub effective_from: Option<NaiveDate>,
    /// Standard prices.
    pub standard: TierPrices,
    /// Prices for prompts above [`LONG_CONTEXT_THRESHOLD`] tokens.
    pub long_context: Option<TierPrices>,
    /// Share taken off through a batch API (0.5 = half price).
    pub batch_discount: Option<Decimal>,
    /// Prices of the provider's named service tiers (OpenAI's `priority` and `flex`), for
    /// requests whose log names the tier; sorted by name.
    pub service_tiers: Vec<(String, TierPrices)>,
}

/// The service tiers a price entry can name prices for (OpenAI's; LiteLLM's price table
/// keys them `input_cost_per_token_priority`, `…_flex`).
pub const SERVICE_TIERS: [&str; 2] = ["flex", "priority"];

/// The money one request cost, and what caching did to it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestCost {
    /// What was billed.
    pub cost_usd: Decimal,
    /// Cache reads × (input price − cache-read price): what caching saved.
    pub cache_saved_usd: Decimal,
    /// Cache writes × (write price − input price): the premium paid to write the cache.
    pub cache_write_premium_usd: Decimal,
    /// The part of `cost_usd` paid for output tokens (the rest paid for input, cached or
    /// not).
    pub output_cost_usd: Decimal,
    /// The price entry used, with `+long_context` / `+batch` when those applied.
    pub price_id: String,
}

impl TierPrices {
    fn to_json(&self) -> serde_json::Value {
        let text = |d: &Option<Decimal>| d.map(|d| d.to_string());
        serde_json::json!({
            "input": self.input.to_string(),
            "output": self.output.to_string(),
            "cache_read": text(&self.cache_read),
            "cache_write_5m": text(&self.cache_write_5m),
            "cache_write_1h": text(&self.cache_write_1h),
        })
    }

    fn from_json(value: &serde_json::Value) -> std::result::Result<TierPrices, String> {
        Ok(TierPrices {
            input: json_decimal(value, "input")?.ok_or("price book: a tier without input")?,
            output: json_decimal(value, "output")?.ok_or("price book: a tier without output")?,
            cache_read: json_decimal(value, "cache_read")?,
            cache_write_5m: json_decimal(value, "cache_write_5m")?,
            cache_write_1h: json_decimal(value, "cache_write_1h")?,
        })
    }
}

/// The exact decimal written as text at `value[name]`; `None` when null or absent.
fn json_decimal(
    value: &serde_json::Value,
    name: &str,
) -> std::result::Result<Option<Decimal>, String> {
    match value.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => Decimal::from_str(text)
            .map(Some)
            .map_err(|e| format!("price book: {name} = {text:?}: {e}")),
        Some(other) => Err(format!(
            "price book: {name} = {other}: expected decimal text"
        )),
    }
}

impl Price {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "model": self.model,
            "provider": self.provider,
            "effective_from": self.effective_from.map(|d| d.to_string()),
            "standard": self.standard.to_json(),
            "long_context": self.long_context.as_ref().map(TierPrices::to_json),
            "batch_discount": self.batch_discount.map(|d| d.to_string()),
            "service_tiers": self
                .service_tiers
                .iter()
                .map(|(name, tier)| (name.clone(), tier.to_json()))
                .collect::<serde_json::Map<_, _>>(),
        })
    }

    fn from_json(value: &serde_json::Value) -> std::result::Result<Price, String> {
        let text = |name: &str| value.get(name).and_then(serde_json::Value::as_str);
        Ok(Price {
            id: text("id")
                .ok_or("price book: an entry without id")?
                .to_string(),
            model: text("model")
                .ok_or("price book: an entry without model")?
                .to_string(),
            provider: text("provider").map(str::to_string),
            effective_from: text("effective_from")
                .map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d"))
                .transpose()
                .map_err(|e| format!("price book: effective_from: {e}"))?,
            standard: TierPrices::from_json(
                value.get("standard").unwrap_or(&serde_json::Value::Null),
            )?,
            long_context: match value.get("long_context") {
                None | Some(serde_json::Value::Null) => None,
                Some(tier) => Some(TierPrices::from_json(tier)?),
            },
            batch_discount: json_decimal(value, "batch_discount")?,
            service_tiers: match value.get("service_tiers") {
                Some(serde_json::Value::Object(tiers)) => tiers
                    .iter()
                    .map(|(name, tier)| Ok((name.clone(), TierPrices::from_json(tier)?)))
                    .collect::<std::result::Result<_, String>>()?,
                _ => Vec::new(),
            },
        })
    }
}

/// What a request's price depends on besides its model and time: its token counts (cache
/// tokens counted inside `input_tokens`, 1-hour cache writes inside `cache_write_tokens`),
/// its service tier and whether it went through a batch API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage<'a> {
    /// Every prompt token, cached or not.
    pub input_tokens: i64,
    /// Prompt tokens read from the cache.
    pub cache_read_tokens: i64,
    /// Prompt tokens written to the cache (5-minute and 1-hour).
    pub cache_write_tokens: i64,
    /// Of those, the 1-hour writes.
    pub cache_write_1h_tokens: i64,
    /// Completion tokens (reasoning included).
    pub output_tokens: i64,
    /// The service tier the provider reported (`priority`, `flex`, …).
    pub service_tier: Option<&'a str>,
    /// Sent through a batch API.
    pub batch: bool,
}

impl Price {
    /// Prices a request's usage with this entry.
    pub fn cost(&self, row: &TokenUsage<'_>) -> RequestCost {
        let long = row.input_tokens > LONG_CONTEXT_THRESHOLD && self.long_context.is_some();
        // A named service tier's prices where the entry has them (a tier it does not
        // price, such as `default`, is the standard one).
        let service_tier = (!long)
            .then(|| {
                let name = row.service_tier?;
                self.service_tiers.iter().find(|(tier, _)| tier == name)
            })
            .flatten();
        let tier = if long {
            self.long_context.as_ref().expect("checked above")
        } else if let Some((_, prices)) = service_tier {
            prices
        } else {
            &self.standard
        };
        let tokens = |n: i64| Decimal::from(n);
        let read_price = tier.cache_read.unwrap_or(tier.input);
        let write_5m_price = tier.cache_write_5m.unwrap_or(tier.input);
        let write_1h_price = tier.cache_write_1h.unwrap_or(write_5m_price);
        let uncached = row.input_tokens - row.cache_read_tokens - row.cache_write_tokens;
        let write_5m = row.cache_write_tokens - row.cache_write_1h_tokens;
        let write_1h = row.cache_write_1h_tokens;

        // Each product once: the output cost is part of the cost.
        let mut output = tokens(row.output_tokens) * tier.output;
        let read = tokens(row.cache_read_tokens);
        let mut cost = tokens(uncached) * tier.input
            + read * read_price
            + tokens(write_5m) * write_5m_price
            + tokens(write_1h) * write_1h_price
            + output;
        let mut saved = read * (tier.input - read_price);
        let mut premium = tokens(write_5m) * (write_5m_price - tier.input)
            + tokens(write_1h) * (write_1h_price - tier.input);
        let mut price_id = self.id.clone();
        if long {
            price_id.push_str("+long_context");
        }
        if let Some((name, _)) = service_tier {
            price_id.push('+');
            price_id.push_str(name);
        }
        if row.batch
            && let Some(discount) = self.batch_discount
        {
            let keep = Decimal::ONE - discount;
            cost *= keep;
            saved *= keep;
            premium *= keep;
            output *= keep;
            price_id.push_str("+batch");
        }
        // Not normalised: the staged money columns take any scale (`to_money`).
        RequestCost {
            cost_usd: cost,
            cache_saved_usd: saved,
            cache_write_premium_usd: premium,
            output_cost_usd: output,
            price_id,
        }
    }
}

/// The catalog plus any overrides, with lookup by model name and time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceBook {
    /// Built-in entries by normalised model name, oldest first.
    catalog: HashMap<String, Vec<Price>>,
    /// Overrides (LiteLLM file) by model name as the file gives it, lower-cased.
    overrides: HashMap<String, Price>,
}

impl PriceBook {
    /// The built-in catalog alone.
    pub fn builtin() -> PriceBook {
        PriceBook::with_catalog(
            parse_catalog(CATALOG_CSV).expect("the built-in catalog is valid (tested)"),
        )
    }

    /// A book of catalog entries (filed by model name, oldest first) and no overrides.
    fn with_catalog(prices: Vec<Price>) -> PriceBook {
        let mut book = PriceBook::default();
        for price in prices {
            book.catalog
                .entry(price.model.to_ascii_lowercase())
                .or_default()
                .push(price);
        }
        for entries in book.catalog.values_mut() {
            entries.sort_by_key(|p| p.effective_from);
        }
        book
    }

    /// A memo of [`PriceBook::lookup`] for one reader of many requests.
    pub fn memo(&self) -> PriceMemo<'_> {
        PriceMemo {
            book: self,
            found: HashMap::default(),
        }
    }

    /// Adds override entries (replacing earlier ones of the same name).
    pub fn add_overrides(&mut self, prices: Vec<Price>) {
        for price in prices {
            self.overrides
                .insert(price.model.to_ascii_lowercase(), price);
        }
    }

    /// Number of override entries.
    pub fn override_count(&self) -> usize {
        self.overrides.len()
    }

    /// The whole book as JSON, every price as exact decimal text, for a cluster's
    /// processes to price with the client's book (`analyze::codec`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut catalog: Vec<&Price> = self.catalog.values().flatten().collect();
        catalog.sort_by(|a, b| (&a.model, a.effective_from).cmp(&(&b.model, b.effective_from)));
        let mut overrides: Vec<(&String, &Price)> = self.overrides.iter().collect();
        overrides.sort_by_key(|(key, _)| *key);
        serde_json::json!({
            "catalog": catalog.into_iter().map(Price::to_json).collect::<Vec<_>>(),
            "overrides": overrides
                .into_iter()
                .map(|(key, price)| serde_json::json!({"key": key, "price": price.to_json()}))
                .collect::<Vec<_>>(),
        })
    }

    /// The book [`PriceBook::to_json`] wrote.
    pub fn from_json(value: &serde_json::Value) -> std::result::Result<PriceBook, String> {
        let list = |name: &str| {
            value
                .get(name)
                .and_then(serde_json::Value::as_array)
                .ok_or_else(|| format!("price book: no `{name}` list"))
        };
        let catalog = list("catalog")?
            .iter()
            .map(Price::from_json)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut book = PriceBook::with_catalog(catalog);
        for entry in list("overrides")? {
            let key = entry
                .get("key")
                .and_then(serde_json::Value::as_str)
                .ok_or("price book: an override without its key")?;
            let price = Price::from_json(entry.get("price").unwrap_or(&serde_json::Value::Null))?;
            book.overrides.insert(key.to_string(), price);
        }
        Ok(book)
    }

    /// The entry pricing `model` at `ts_micros`, trying the name as given, without a
    /// `provider/` prefix, and without a date or `-latest` suffix; a price file's
    /// `provider/model` keys are tried with the request's provider. Overrides win over the
    /// catalog for every name they hold.
    pub fn lookup(&self, model: &str, provider: Option<&str>, ts_micros: i64) -> Option<&Price> {
        let day = chrono::DateTime::from_timestamp_micros(ts_micros)?.date_naive();
        // An override dated after the day (a rate negotiated later) leaves it to the catalog.
        let in_force = |p: &&Price| p.effective_from.is_none_or(|from| from <= day);
        for name in name_candidates(model) {
            if let Some(price) = provider
                .and_then(|p| {
                    self.overrides
                        .get(&format!("{}/{name}", p.to_ascii_lowercase()))
                })
                .filter(in_force)
            {
                return Some(price);
            }
            if let Some(price) = self.overrides.get(&name).filter(in_force) {
                return Some(price);
            }
            if let Some(entries) = self.catalog.get(&name) {
                return entries
                    .iter()
                    .rev()
                    .find(|p| p.effective_from.is_none_or(|from| from <= day));
            }
        }
        None
    }

    /// The entry whose model a bill line names (`Claude 3.5 Sonnet input tokens`,
    /// `USE1-Claude3.5Sonnet-input-tokens`): names are compared by their letters and digits
    /// only, the longest found wins, and names under 5 of them are not looked for.
    pub fn model_named_in(&self, text: &str) -> Option<&Price> {
        fn squeeze(text: &str) -> String {
            text.chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase())
                .collect()
        }
        let line = squeeze(text);
        self.entries()
            .into_iter()
            .map(|price| (squeeze(&price.model), price))
            .filter(|(name, _)| name.len() >= 5 && line.contains(name.as_str()))
            .max_by_key(|(name, _)| name.len())
            .map(|(_, price)| price)
    }

    /// Every entry, catalog first (by model, then date), then overrides by name.
    pub fn entries(&self) -> Vec<&Price> {
        let mut catalog: Vec<&Price> = self.catalog.values().flatten().collect();
        catalog.sort_by(|a, b| (&a.model, a.effective_from).cmp(&(&b.model, b.effective_from)));
        let mut overrides: Vec<&Price> = self.overrides.values().collect();
        overrides.sort_by(|a, b| a.model.cmp(&b.model));
        catalog.extend(overrides);
        catalog
    }
}

/// Bedrock's cross-region inference-profile prefixes (`us.anthropic.claude-…`).
const BEDROCK_REGION_PREFIXES: [&str; 8] = [
    "us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.",
];

/// Bedrock's model-vendor prefixes (`anthropic.claude-…`, `meta.llama3-…`).
const BEDROCK_VENDOR_PREFIXES: [&str; 10] = [
    "anthropic.",
    "amazon.",
    "meta.",
    "mistral.",
    "cohere.",
    "ai21.",
    "deepseek.",
    "openai.",
    "writer.",
    "qwen.",
];

/// The names a model string is looked up under, most specific first: as given; without a
/// `provider/` prefix; a Vertex `model@date` as the dated snapshot `model-date`; a Bedrock
/// id (`us.anthropic.claude-3-5-sonnet-20240620-v1:0`) without its region prefix, vendor
/// prefix and `-v1:0` version, which leaves the dated snapshot; and last the undated model.
/// A dated snapshot comes before its alias so that a snapshot the catalog prices apart
/// (`gpt-4o-2024-05-13`) is priced as itself, not at the alias's latest price.
pub fn name_candidates(model: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut push = |name: &str| {
        let name = name.trim().to_ascii_lowercase();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    };
    push(model);
    let lowered = model.trim().to_ascii_lowercase();
    let mut base = lowered.rsplit('/').next().unwrap_or(&lowered).to_string();
    push(&base);
    if let Some((name, version)) = base.clone().split_once('@') {
        // `model@20240620` (Vertex) is the dated snapshot `model-20240620`.
        let dated = format!("{name}-{version}");
        push(&dated);
        base = dated;
    }
    if let Some(rest) = strip_bedrock_prefixes(&base) {
        // LiteLLM keys Bedrock prices by `anthropic.claude-…` (no region prefix).
        if let Some(region_free) = BEDROCK_REGION_PREFIXES
            .iter()
            .find_map(|p| base.strip_prefix(p))
        {
            push(region_free);
        }
        base = rest.to_string();
        push(&base);
    }
    let unversioned = strip_bedrock_version(&base);
    push(unversioned);
    let undated = strip_version_suffix(unversioned);
    push(undated);
    push(strip_bedrock_version(undated));
    names
}

/// `us.anthropic.claude-…` → `claude-…`; `None` when the name has no Bedrock vendor
/// prefix.
fn strip_bedrock_prefixes(name: &str) -> Option<&str> {
    let name = BEDROCK_REGION_PREFIXES
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    BEDROCK_VENDOR_PREFIXES
        .iter()
        .find_map(|p| name.strip_prefix(p))
}

/// Whether a model id is a Bedrock model id (`anthropic.claude-…-v1:0`, with or without a
/// region prefix): such a request was served and billed by Bedrock.
pub fn is_bedrock_model_id(model: &str) -> bool {
    let base = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    strip_bedrock_prefixes(&base).is_some_and(|rest| strip_bedrock_version(rest) != rest)
}

/// Providers that LiteLLM-style `provider/model` names begin with.
const PROVIDER_PREFIXES: [&str; 16] = [
    "openai",
    "azure",
    "azure_ai",
    "anthropic",
    "bedrock",
    "vertex_ai",
    "gemini",
    "mistral",
    "cohere",
    "groq",
    "together_ai",
    "fireworks_ai",
    "deepseek",
    "xai",
    "openrouter",
    "sagemaker",
];

/// The provider of a request whose log does not name one, from its model: a `provider/`
/// prefix LiteLLM uses (`bedrock/…`, `vertex_ai/…`), else `bedrock` for a Bedrock model id,
/// else the provider of the price entry that priced it (`openai` for `gpt-4o`).
pub fn provider_of_model(model: &str, price: Option<&Price>) -> Option<String> {
    let lowered = model.trim().to_ascii_lowercase();
    if let Some((prefix, _)) = lowered.split_once('/')
        && PROVIDER_PREFIXES.contains(&prefix)
    {
        return Some(prefix.to_string());
    }
    if is_bedrock_model_id(&lowered) {
        return Some("bedrock".to_string());
    }
    price.and_then(|p| p.provider.clone())
}

/// `claude-3-5-sonnet-20240620-v1:0` → `claude-3-5-sonnet-20240620`; `…-v2` → `…`.
fn strip_bedrock_version(name: &str) -> &str {
    let Some(at) = name.rfind("-v") else {
        return name;
    };
    let version = &name[at + 2..];
    let (major, minor) = version.split_once(':').unwrap_or((version, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if at > 0 && digits(major) && digits(minor) {
        &name[..at]
    } else {
        name
    }
}

/// `gpt-4o-2024-08-06` → `gpt-4o`; `claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`;
/// `gemini-2.5-pro-latest` → `gemini-2.5-pro`; `…-001` → `…`.
fn strip_version_suffix(name: &str) -> &str {
    let mut name = name.strip_suffix("-latest").unwrap_or(name);
    let bytes = name.as_bytes();
    let all_digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let n = bytes.len();
    if n > 11 && bytes[n - 11] == b'-' && bytes[n - 6] == b'-' && bytes[n - 3] == b'-' {
        let (y, m, d) = (&bytes[n - 10..n - 6], &bytes[n - 5..n - 3], &bytes[n - 2..]);
        if all_digits(y) && all_digits(m) && all_digits(d) {
            name = &name[..n - 11];
        }
    } else if n > 9 && bytes[n - 9] == b'-' && all_digits(&bytes[n - 8..]) {
        name = &name[..n - 9];
    } else if n > 4 && bytes[n - 4] == b'-' && all_digits(&bytes[n - 3..]) {
        name = &name[..n - 4];
    }
    name
}

/// Parses a decimal written in the catalog or a price file.
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str(text.trim())
        .or_else(|_| Decimal::from_scientific(text.trim()))
        .ok()
}

fn per_token(per_million: &str) -> Option<Decimal> {
    let t = per_million.trim();
    if t.is_empty() {
        return None;
    }
    parse_decimal(t).map(|d| (d / Decimal::from(1_000_000)).normalize())
}

/// Parses the catalog CSV (prices per million tokens).
pub fn parse_catalog(text: &str) -> Result<Vec<Price>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let bad = |line: u64, message: String| Error::Prices {
        path: "built-in catalog.csv".into(),
        message: format!("line {line}: {message}"),
    };
    let mut prices = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| bad(0, e.to_string()))?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let field = |i: usize| record.get(i).unwrap_or("");
        let required = |i: usize, name: &str| {
            per_token(field(i)).ok_or_else(|| bad(line, format!("{name} is not a price")))
        };
        let effective_from = NaiveDate::parse_from_str(field(2), "%Y-%m-%d")
            .map_err(|e| bad(line, format!("effective_from: {e}")))?;
        let long_context = match (per_token(field(8)), per_token(field(9))) {
            (Some(input), Some(output)) => Some(TierPrices {
                input,
                output,
                cache_read: per_token(field(10)),
                cache_write_5m: per_token(field(11)),
                cache_write_1h: per_token(field(12)),
            }),
            _ => None,
        };
        prices.push(Price {
            id: format!("catalog:{}@{}", field(0), field(2)),
            model: field(0).to_string(),
            provider: Some(field(1).to_string()),
            effective_from: Some(effective_from),
            standard: TierPrices {
                input: required(3, "input")?,
                output: required(4, "output")?,
                cache_read: per_token(field(5)),
                cache_write_5m: per_token(field(6)),
                cache_write_1h: per_token(field(7)),
            },
            long_context,
            batch_discount: parse_decimal(field(13)).filter(|_| !field(13).is_empty()),
            // priority_input, priority_output, priority_cache_read, then flex's.
            service_tiers: [("priority", 14), ("flex", 17)]
                .into_iter()
                .filter_map(|(name, at)| {
                    let (input, output) = (per_token(field(at))?, per_token(field(at + 1))?);
                    Some((
                        name.to_string(),
                        TierPrices {
                            input,
                            output,
                            cache_read: per_token(field(at + 2)),
                            cache_write_5m: None,
                            cache_write_1h: None,
                        },
                    ))
                })
                .rev()
                .collect(),
        });
    }
    Ok(prices)
}

/// Formats a per-token price as dollars per million tokens, for display.
pub fn per_million(price: Decimal) -> String {
    (price * Decimal::from(1_000_000)).normalize().to_string()
}

/// [`PriceBook::lookup`] remembered by model, provider and UTC day (what a lookup depends
/// on: an entry's `effective_from` is a day), so a log's few models are resolved once per
/// day rather than once per request.
pub struct PriceMemo<'a> {
    book: &'a PriceBook,
    /// By the hash of (model, provider, day): each key with what it found.
    found: HashMap<u64, Vec<(MemoKey, Option<&'a Price>)>>,
}

/// A remembered lookup's arguments.
#[derive(PartialEq, Eq)]
struct MemoKey {
    model: Box<str>,
    provider: Option<Box<str>>,
    day: i64,
}

impl<'a> PriceMemo<'a> {
    /// What `book.lookup(model, provider, ts_micros)` gives.
    pub fn lookup(
        &mut self,
        model: &str,
        provider: Option<&str>,
        ts_micros: i64,
    ) -> Option<&'a Price> {
        use std::hash::BuildHasher;
        const MICROS_PER_DAY: i64 = 86_400_000_000;
        let day = ts_micros.div_euclid(MICROS_PER_DAY);
        let hash = foldhash::fast::FixedState::default().hash_one((model, provider, day));
        let slot = self.found.entry(hash).or_default();
        let same = |key: &MemoKey| {
            key.day == day && &*key.model == model && key.provider.as_deref() == provider
        };
        if let Some((_, price)) = slot.iter().find(|(key, _)| same(key)) {
            return *price;
        }
        let price = self.book.lookup(model, provider, ts_micros);
        slot.push((
            MemoKey {
                model: model.into(),
                provider: provider.map(Into::into),
                day,
            },
            price,
        ));
        price
    }
}

/// A price file in the summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PriceFileSummary {
    /// Path.
    pub path: String,
    /// Entries loaded.
    pub entries: usize,
    /// Entries skipped (not token-priced).
    pub skipped: usize,
    /// Entries refused (a price or day that cannot be read), each `name: why`; the
    /// catalog prices their models.
    pub refused: Vec<String>,
}

/// The built-in catalog, overridden by the config's `[prices] file` when set. Also returns
/// what the file gave, for the run summary.
pub fn load_price_book(
    config: &crate::config::Config,
) -> Result<(PriceBook, Option<PriceFileSummary>)> {
    let mut book = PriceBook::builtin();
    let Some(file) = &config.prices.file else {
        return Ok((book, None));
    };
    let path = config.resolve(file);
    let loaded = litellm::load(&path)?;
    let entries = loaded.prices.len();
    book.add_overrides(loaded.prices);
    Ok((
        book,
        Some(PriceFileSummary {
            path: path.display().to_string(),
            entries,
            skipped: loaded.skipped,
            refused: loaded.refused,
        }),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn bill_lines_name_their_model_in_each_clouds_words() {
        // As AWS CUR (usage type), AWS FOCUS (charge description), GCP (SKU description)
        // and Azure (meter name) write them; the longest catalog name found wins.
        let book = super::PriceBook::builtin();
        for (line, model) in [
            ("USE1-Claude3.5Sonnet-input-tokens", "claude-3-5-sonnet"),
            ("Claude 3.5 Sonnet output tokens", "claude-3-5-sonnet"),
            ("Gemini 2.5 Flash Input token count", "gemini-2.5-flash"),
            ("gpt-4o-mini-0718 Input global Tokens", "gpt-4o-mini"),
        ] {
            assert_eq!(
                book.model_named_in(line).map(|p| p.model.as_str()),
                Some(model),
                "{line}"
            );
        }
        assert_eq!(book.model_named_in("Titan Text Embeddings V2"), None);
        assert_eq!(book.model_named_in("Data transfer out"), None);
    }

    use super::*;

    #[test]
    fn the_book_travels_as_json_unchanged() {
        // The catalog plus an override with every optional part set: the book read back
        // from its JSON text equals the book (PartialEq over every entry and key).
        let mut book = PriceBook::builtin();
        let mut special = book
            .lookup("gpt-4o", None, 1_790_000_000_000_000)
            .unwrap()
            .clone();
        special.model = "Acme/Special-Model".to_string();
        special.id = "litellm:acme/special-model".to_string();
        special.effective_from = None;
        special.batch_discount = Some(Decimal::from_str("0.5").unwrap());
        special.long_context = Some(special.standard.clone());
        special.standard.cache_write_1h = Some(Decimal::from_str("0.000000123456789012").unwrap());
        book.add_overrides(vec![special]);
        let text = book.to_json().to_string();
        let back = PriceBook::from_json(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back, book);
        assert!(PriceBook::from_json(&serde_json::json!({"catalog": []})).is_err());
    }

    use crate::sources::requests::extract::RequestRow;

    fn row(model: &str, ts: &str) -> RequestRow {
        let ts = chrono::DateTime::parse_from_rfc3339(ts)
            .unwrap()
            .timestamp_micros();
        RequestRow::new(model, ts)
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn catalog_parses_and_every_model_has_a_current_price() {
        let book = PriceBook::builtin();
        assert!(book.entries().len() >= 25);
        for price in book.entries() {
            assert!(price.standard.input > Decimal::ZERO, "{}", price.id);
        }
    }

    #[test]
    fn effective_dating_picks_the_price_in_force() {
        let book = PriceBook::builtin();
        let may = row("o3", "2025-05-01T00:00:00Z");
        let july = row("o3-2025-04-16", "2025-07-01T00:00:00Z");
        assert_eq!(
            book.lookup("o3", None, may.ts_micros).unwrap().id,
            "catalog:o3@2025-04-16"
        );
        assert_eq!(
            book.lookup("o3-2025-04-16", None, july.ts_micros)
                .unwrap()
                .id,
            "catalog:o3@2025-06-10"
        );
        // Before a model's first price there is no price: never a guess.
        assert!(
            book.lookup(
                "gpt-5",
                None,
                row("gpt-5", "2025-01-01T00:00:00Z").ts_micros
            )
            .is_none()
        );
    }

    #[test]
    fn the_memo_finds_what_the_book_finds_each_day() {
        // The reference is the book's own lookup. o3's price changed on 2025-06-10: the
        // memo asked on the 9th (just before midnight) and the 10th gives both entries.
        let book = PriceBook::builtin();
        let mut memo = book.memo();
        let at = |ts: &str| row("o3", ts).ts_micros;
        for (model, provider, ts) in [
            ("o3", None, at("2025-06-09T23:59:59Z")),
            ("o3", None, at("2025-06-10T00:00:00Z")),
            ("o3", None, at("2025-06-09T12:00:00Z")),
            ("openai/o3", Some("openai"), at("2025-06-10T08:00:00Z")),
            ("gpt-5", None, at("2025-01-01T00:00:00Z")),
            ("no-such-model", Some("x"), at("2025-06-10T00:00:00Z")),
        ] {
            let expected = book.lookup(model, provider, ts).map(|p| p.id.clone());
            assert_eq!(
                memo.lookup(model, provider, ts).map(|p| p.id.clone()),
                expected
            );
            // Asked again: remembered, the same.
            assert_eq!(
                memo.lookup(model, provider, ts).map(|p| p.id.clone()),
                expected
            );
        }
        assert_eq!(
            memo.lookup("o3", None, at("2025-06-09T23:59:59Z"))
                .unwrap()
                .id,
            "catalog:o3@2025-04-16"
        );
        assert_eq!(
            memo.lookup("o3", None, at("2025-06-10T00:00:00Z"))
                .unwrap()
                .id,
            "catalog:o3@2025-06-10"
        );
    }

    #[test]
    fn name_normalisation() {
        assert_eq!(strip_version_suffix("gpt-4o-2024-08-06"), "gpt-4o");
        assert_eq!(
            strip_version_suffix("claude-sonnet-4-5-20250929"),
            "claude-sonnet-4-5"
        );
        assert_eq!(
            strip_version_suffix("gemini-2.0-flash-001"),
            "gemini-2.0-flash"
        );
        assert_eq!(strip_version_suffix("gpt-4o"), "gpt-4o");
        assert_eq!(
            name_candidates("anthropic/claude-sonnet-4-5@20250929"),
            vec![
                "anthropic/claude-sonnet-4-5@20250929",
                "claude-sonnet-4-5@20250929",
                "claude-sonnet-4-5-20250929",
                "claude-sonnet-4-5"
            ]
        );
        // Bedrock ids, with and without a provider and a cross-region prefix: the LiteLLM
        // key (no region), the dated snapshot, then the model.
        assert_eq!(
            name_candidates("bedrock/us.anthropic.claude-3-5-sonnet-20240620-v1:0"),
            vec![
                "bedrock/us.anthropic.claude-3-5-sonnet-20240620-v1:0",
                "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
                "anthropic.claude-3-5-sonnet-20240620-v1:0",
                "claude-3-5-sonnet-20240620-v1:0",
                "claude-3-5-sonnet-20240620",
                "claude-3-5-sonnet"
            ]
        );
        assert!(is_bedrock_model_id(
            "anthropic.claude-3-5-sonnet-20240620-v1:0"
        ));
        assert!(is_bedrock_model_id("bedrock/meta.llama3-70b-instruct-v1:0"));
        assert!(!is_bedrock_model_id("claude-3-5-sonnet-20240620"));
        assert!(!is_bedrock_model_id("gemini-2.5-flash"));
        let book = PriceBook::builtin();
        let now = row("x", "2026-11-16T10:00:00Z").ts_micros;
        let provider = |model: &str| provider_of_model(model, book.lookup(model, None, now));
        assert_eq!(
            provider("vertex_ai/gemini-2.5-pro").as_deref(),
            Some("vertex_ai")
        );
        assert_eq!(
            provider("us.anthropic.claude-3-5-sonnet-20240620-v1:0").as_deref(),
            Some("bedrock")
        );
        assert_eq!(provider("gpt-4o-2024-05-13").as_deref(), Some("openai"));
        assert_eq!(provider("meta-llama/Llama-3.1-8B"), None);
        // Vertex's `-v2@date` names.
        assert_eq!(
            name_candidates("claude-3-5-sonnet-v2@20241022")
                .last()
                .unwrap(),
            "claude-3-5-sonnet"
        );
    }

    // Hand-computed costs ($ per million tokens from catalog.csv, divided out by hand).
    #[test]
    fn anthropic_cost_with_cache_reads_and_both_write_ttls() {
        let book = PriceBook::builtin();
        let mut r = row("claude-sonnet-4-5-20250929", "2026-11-16T10:00:00Z");
        // 50 uncached + 4000 read + 1000 written (600 at 5m, 400 at 1h), 250 output.
        r.input_tokens = 5050;
        r.cache_read_tokens = 4000;
        r.cache_write_tokens = 1000;
        r.cache_write_1h_tokens = 400;
        r.output_tokens = 250;
        let cost = book
            .lookup(r.model.as_deref().unwrap(), None, r.ts_micros)
            .unwrap()
            .cost(&r.usage());
        // 50×3 + 4000×0.30 + 600×3.75 + 400×6 + 250×15 = 150 + 1200 + 2250 + 2400 + 3750
        // = 9750 $/M-tokens → $0.00975.
        assert_eq!(cost.cost_usd, d("0.00975"));
        // Saved: 4000 × (3 − 0.30) = 10800 → $0.0108.
        assert_eq!(cost.cache_saved_usd, d("0.0108"));
        // Premium: 600 × 0.75 + 400 × 3 = 1650 → $0.00165.
        assert_eq!(cost.cache_write_premium_usd, d("0.00165"));
        // Output: 250 × 15 = 3750 → $0.00375; input is the other $0.006.
        assert_eq!(cost.output_cost_usd, d("0.00375"));
        assert_eq!(cost.price_id, "catalog:claude-sonnet-4-5@2025-09-29");
    }

    #[test]
    fn openai_cached_tokens_and_batch() {
        let book = PriceBook::builtin();
        let mut r = row("gpt-4o-mini", "2026-11-16T10:00:00Z");
        r.input_tokens = 2000;
        r.cache_read_tokens = 1536;
        r.output_tokens = 300;
        // 464×0.15 + 1536×0.075 + 300×0.60 = 69.6 + 115.2 + 180 = 364.8 → $0.0003648.
        let price = book.lookup("gpt-4o-mini", None, r.ts_micros).unwrap();
        assert_eq!(price.cost(&r.usage()).cost_usd, d("0.0003648"));
        r.batch = true;
        let batch = price.cost(&r.usage());
        assert_eq!(batch.cost_usd, d("0.0001824"));
        // Output at half price too: 300 × 0.60 / 2 = 90 → $0.00009.
        assert_eq!(batch.output_cost_usd, d("0.00009"));
        assert!(batch.price_id.ends_with("+batch"));
    }

    /// OpenAI's service tiers from the built-in catalog, by hand at the per-million rates
    /// (LiteLLM 1.110.2's table): a tier the entry prices, one it does not, and the default.
    #[test]
    fn named_service_tiers_use_their_own_prices() {
        let book = PriceBook::builtin();
        let mut r = row("gpt-4o", "2026-11-16T10:00:00Z");
        r.input_tokens = 2048;
        r.cache_read_tokens = 1536;
        r.output_tokens = 300;
        let price = book.lookup("gpt-4o", None, r.ts_micros).unwrap();
        // Standard: 512×2.50 + 1536×1.25 + 300×10 = 1280 + 1920 + 3000 = 6200 → $0.0062.
        assert_eq!(price.cost(&r.usage()).cost_usd, d("0.0062"));
        r.service_tier = Some("default".to_string());
        assert_eq!(price.cost(&r.usage()).cost_usd, d("0.0062"));
        // Priority: 512×4.25 + 1536×2.125 + 300×17 = 2176 + 3264 + 5100 = 10540 → $0.01054.
        r.service_tier = Some("priority".to_string());
        let priority = price.cost(&r.usage());
        assert_eq!(priority.cost_usd, d("0.01054"));
        assert!(priority.price_id.ends_with("+priority"));
        // gpt-4o has no flex tier: standard prices, no suffix.
        r.service_tier = Some("flex".to_string());
        assert_eq!(price.cost(&r.usage()).cost_usd, d("0.0062"));
        assert!(!price.cost(&r.usage()).price_id.contains('+'));
        // o4-mini flex: 1000×0.55 + 500×2.2 = 550 + 1100 = 1650 → $0.00165.
        let mut o = row("o4-mini", "2026-11-16T10:00:00Z");
        o.input_tokens = 1000;
        o.output_tokens = 500;
        o.service_tier = Some("flex".to_string());
        let flex = book
            .lookup("o4-mini", None, o.ts_micros)
            .unwrap()
            .cost(&o.usage());
        assert_eq!(flex.cost_usd, d("0.00165"));
        // The tiers travel with the price book to a cluster's executors.
        let back = PriceBook::from_json(&book.to_json()).unwrap();
        assert_eq!(back, book);
    }

    #[test]
    fn long_prompts_use_long_context_prices() {
        let book = PriceBook::builtin();
        let mut r = row("gemini-2.5-pro", "2026-11-16T10:00:00Z");
        r.input_tokens = 250_000;
        r.output_tokens = 1_000;
        // 250000×2.50 + 1000×15 = 625000 + 15000 = 640000 $/M → $0.64.
        let cost = book
            .lookup("gemini-2.5-pro", None, r.ts_micros)
            .unwrap()
            .cost(&r.usage());
        assert_eq!(cost.cost_usd, d("0.64"));
        assert!(cost.price_id.ends_with("+long_context"));
        r.input_tokens = 200_000;
        // At exactly 200k the standard tier applies: 200000×1.25 + 1000×10 = 260000 → $0.26.
        assert_eq!(
            book.lookup("gemini-2.5-pro", None, r.ts_micros)
                .unwrap()
                .cost(&r.usage())
                .cost_usd,
            d("0.26")
        );
    }
}
