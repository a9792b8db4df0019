//! Loads LiteLLM's `model_prices_and_context_window.json` (per-token prices keyed by model
//! name) as price overrides. Tolerates what the real file holds: the `sample_spec` entry
//! of description strings, costs written as JSON integers, nested objects, and entries
//! that are not token-priced (image, audio, search), which are counted and skipped.

use std::path::Path;

use rust_decimal::Decimal;
use serde_json::Value;

use super::{Price, TierPrices, parse_decimal};
use crate::common::error::{Error, Result};

/// What a price file gave.
#[derive(Debug, Clone)]
pub struct LoadedPrices {
    /// Token-priced entries.
    pub prices: Vec<Price>,
    /// Entries skipped because they have no per-token input and output price.
    pub skipped: usize,
    /// Entries refused because a price or `effective_from` they give cannot be read, each
    /// as `name: why` (pricing with such an entry would price its tokens at $0, or on
    /// every day).
    pub refused: Vec<String>,
}

/// Reads a LiteLLM price file.
pub fn load(path: &Path) -> Result<LoadedPrices> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut crate::read::files::open_raw(path)?, &mut text)
        .map_err(|e| Error::io(path, e))?;
    parse(&text).map_err(|message| Error::Prices {
        path: path.to_path_buf(),
        message,
    })
}

/// Parses a LiteLLM price file's text.
pub fn parse(text: &str) -> Result<LoadedPrices, String> {
    // A byte-order mark some editors write is not JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root: Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "line {}, column {}: {e}; expected LiteLLM's model_prices_and_context_window.json",
            e.line(),
            e.column()
        )
    })?;
    let Value::Object(entries) = root else {
        return Err("expected a JSON object keyed by model name".to_string());
    };
    let mut prices = Vec::new();
    let mut skipped = 0;
    let mut refused = Vec::new();
    for (name, entry) in &entries {
        if name == "sample_spec" {
            continue;
        }
        match entry_price(name, entry) {
            Ok(Some(price)) => prices.push(price),
            Ok(None) => skipped += 1,
            Err(why) => refused.push(format!("{name}: {why}")),
        }
    }
    refused.sort();
    Ok(LoadedPrices {
        prices,
        skipped,
        refused,
    })
}

/// The per-token price at `key`: `None` when the entry does not give it, an error when it
/// gives something that is not a number (`"abc"`, `"8e-06 USD"`).
fn number(entry: &Value, key: &str) -> Result<Option<Decimal>, String> {
    let unreadable = |value: &Value| format!("{key} = {value} is not a number");
    match entry.get(key) {
        None | Some(Value::Null) => Ok(None),
        // f64's Display is the shortest text that reads back to the same number, i.e. the
        // decimal the file wrote (1.25e-07 → 0.000000125), so the Decimal is exact.
        Some(value @ Value::Number(n)) => match n.as_i64() {
            Some(i) => Ok(Some(Decimal::from(i))),
            None => n
                .as_f64()
                .and_then(|f| parse_decimal(&f.to_string()))
                .map(Some)
                .ok_or_else(|| unreadable(value)),
        },
        Some(value @ Value::String(s)) => {
            parse_decimal(s).map(Some).ok_or_else(|| unreadable(value))
        }
        Some(value) => Err(unreadable(value)),
    }
}

/// An entry's prices: `Ok(None)` for an entry that is not token-priced (image, audio,
/// search), an error naming what cannot be read.
fn entry_price(name: &str, entry: &Value) -> Result<Option<Price>, String> {
    if !entry.is_object() {
        return Ok(None);
    }
    let Some(input) = number(entry, "input_cost_per_token")? else {
        return Ok(None);
    };
    let output = number(entry, "output_cost_per_token")?.unwrap_or(Decimal::ZERO);
    // Per-token prices are fractions of a cent; anything from $1 a token up is not a token
    // price (and would not fit the money column), so the entry is skipped.
    let plausible = |p: Decimal| !p.is_sign_negative() && p < Decimal::ONE;
    if !plausible(input) || !plausible(output) {
        return Ok(None);
    }
    let long_context = match (
        number(entry, "input_cost_per_token_above_200k_tokens")?,
        number(entry, "output_cost_per_token_above_200k_tokens")?,
    ) {
        (Some(input), Some(output)) => Some(TierPrices {
            input,
            output,
            cache_read: number(entry, "cache_read_input_token_cost_above_200k_tokens")?,
            cache_write_5m: number(entry, "cache_creation_input_token_cost_above_200k_tokens")?,
            cache_write_1h: None,
        }),
        _ => None,
    };
    let batch_discount = number(entry, "input_cost_per_token_batches")?
        .filter(|_| input > Decimal::ZERO)
        .map(|batch| (Decimal::ONE - batch / input).normalize())
        .filter(|d| *d > Decimal::ZERO && *d < Decimal::ONE);
    // `effective_from` (YYYY-MM-DD) is inferledger's own key: the entry prices requests from
    // that day on, the catalog before it (a negotiated rate, `prices --propose`).
    let effective_from = match entry.get("effective_from") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_str()
                .and_then(|d| chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
                .ok_or_else(|| {
                    format!("effective_from = {value} is not a day (YYYY-MM-DD that exists)")
                })?,
        ),
    };
    let service_tiers = super::SERVICE_TIERS
        .iter()
        .map(|tier| {
            let (Some(input), Some(output)) = (
                number(entry, &format!("input_cost_per_token_{tier}"))?,
                number(entry, &format!("output_cost_per_token_{tier}"))?,
            ) else {
                return Ok(None);
            };
            Ok(Some((
                tier.to_string(),
                TierPrices {
                    input,
                    output,
                    cache_read: number(entry, &format!("cache_read_input_token_cost_{tier}"))?,
                    cache_write_5m: None,
                    cache_write_1h: None,
                },
            )))
        })
        .filter_map(Result::transpose)
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Some(Price {
        id: match effective_from {
            Some(day) => format!("litellm:{name}@{day}"),
            None => format!("litellm:{name}"),
        },
        model: name.to_string(),
        provider: entry
            .get("litellm_provider")
            .and_then(Value::as_str)
            .map(str::to_string),
        effective_from,
        standard: TierPrices {
            input,
            output,
            cache_read: number(entry, "cache_read_input_token_cost")?,
            cache_write_5m: number(entry, "cache_creation_input_token_cost")?,
            cache_write_1h: number(entry, "cache_creation_input_token_cost_above_1hr")?,
        },
        long_context,
        batch_discount,
        // `input_cost_per_token_priority`, `output_cost_per_token_flex`, … (input and
        // output both needed; cache reads at the tier's own rate where given).
        service_tiers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn an_effective_dated_entry_prices_from_its_day_and_the_catalog_before() {
        // A negotiated 90% of claude-opus-4-1's $15 input from 2026-11-16: $13.50 per
        // million that day; the catalog's $15 the day before.
        let text = r#"{"claude-opus-4-1": {"input_cost_per_token": 1.35e-05,
            "output_cost_per_token": 6.75e-05, "litellm_provider": "anthropic",
            "effective_from": "2026-11-16"}}"#;
        let mut book = crate::prices::PriceBook::builtin();
        book.add_overrides(parse(text).unwrap().prices);
        let noon = |d: &str| {
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .unwrap()
                .and_hms_opt(12, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_micros()
        };
        let on = book
            .lookup("claude-opus-4-1-20250805", None, noon("2026-11-16"))
            .unwrap();
        assert_eq!(on.id, "litellm:claude-opus-4-1@2026-11-16");
        assert_eq!(on.standard.input, Decimal::from_str("0.0000135").unwrap());
        let before = book
            .lookup("claude-opus-4-1-20250805", None, noon("2026-11-15"))
            .unwrap();
        assert_eq!(
            before.standard.input,
            Decimal::from_str("0.000015").unwrap()
        );
        assert!(before.id.starts_with("catalog:"), "{}", before.id);
    }

    #[test]
    fn tolerates_sample_spec_integers_and_non_token_entries() {
        let text = r#"{
          "sample_spec": {"input_cost_per_token": 0.0, "litellm_provider": "one of …"},
          "gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
                     "cache_read_input_token_cost": 1.25e-06, "input_cost_per_token_batches": 1.25e-06,
                     "search_context_cost_per_query": {"search_context_size_low": 0.025}},
          "free-model": {"input_cost_per_token": 0, "output_cost_per_token": 0},
          "dall-e-3": {"output_cost_per_pixel": 0.0, "mode": "image_generation"}
        }"#;
        let loaded = parse(text).unwrap();
        assert_eq!(loaded.prices.len(), 2);
        assert_eq!(loaded.skipped, 1);
        let gpt = loaded.prices.iter().find(|p| p.model == "gpt-4o").unwrap();
        assert_eq!(gpt.standard.input, Decimal::from_str("0.0000025").unwrap());
        assert_eq!(
            gpt.standard.cache_read,
            Some(Decimal::from_str("0.00000125").unwrap())
        );
        assert_eq!(gpt.batch_discount, Some(Decimal::from_str("0.5").unwrap()));
    }

    /// Issue 30: a price that is not a number, or an `effective_from` that is not a day,
    /// refuses its entry by name (it was read as $0, or as in force on every day); a
    /// byte-order mark before the JSON is no error.
    #[test]
    fn unreadable_prices_and_days_refuse_their_entry() {
        let text = "\u{feff}{\"ok\": {\"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 2e-06},
            \"abc\": {\"input_cost_per_token\": 1e-06, \"output_cost_per_token\": \"abc\"},
            \"usd\": {\"input_cost_per_token\": \"8e-06 USD\", \"output_cost_per_token\": 1e-06},
            \"cache\": {\"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 1e-06, \"cache_read_input_token_cost\": true},
            \"day\": {\"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 1e-06, \"effective_from\": \"2026-02-30\"}}";
        let loaded = parse(text).unwrap();
        assert_eq!(loaded.prices.len(), 1);
        assert_eq!(loaded.prices[0].model, "ok");
        assert_eq!(loaded.skipped, 0);
        assert_eq!(
            loaded.refused,
            [
                "abc: output_cost_per_token = \"abc\" is not a number",
                "cache: cache_read_input_token_cost = true is not a number",
                "day: effective_from = \"2026-02-30\" is not a day (YYYY-MM-DD that exists)",
                "usd: input_cost_per_token = \"8e-06 USD\" is not a number",
            ]
        );
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let err = parse("{\n  \"a\": {,}\n}").unwrap_err();
        assert!(err.starts_with("line 2, column"), "{err}");
    }
}
