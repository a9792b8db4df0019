//! Finding values in a JSON record by dotted path (keys may hold dots; JSON held in a text
//! field is looked into) and describing a value for messages. Shared by the request
//! presets and extraction, timestamps, billing and prices: below all of them.

use std::borrow::Cow;

use serde_json::Value;

/// Finds a dotted path in a record. Keys may themselves contain dots (OTel attributes such
/// as `gen_ai.usage.input_tokens`, CSV headers): at each level the longest matching key
/// wins. A string holding a JSON object (LiteLLM's `metadata` column in CSV) is parsed
/// and looked into. Null, empty strings and the text `NULL` count as absent.
pub fn lookup<'a>(record: &'a Value, path: &str) -> Option<Cow<'a, Value>> {
    lookup_keys(record, path).filter(|v| !is_absent(v))
}

/// `path` looked up from `value` (absent values included): the longest prefix of `path` (ending at a dot) that is a
/// key first, then the rest of the path below it. Slices of `path` are the keys, so a
/// lookup allocates nothing (except to parse JSON held in text).
pub fn lookup_keys<'a>(value: &'a Value, path: &str) -> Option<Cow<'a, Value>> {
    let map = match value {
        Value::Object(map) => map,
        Value::String(text) if text.trim_start().starts_with('{') => {
            let parsed: Value = serde_json::from_str(text).ok()?;
            return lookup_keys(&parsed, path).map(|v| Cow::Owned(v.into_owned()));
        }
        _ => return None,
    };
    let mut end = path.len();
    loop {
        if let Some(child) = map.get(&path[..end]) {
            if end == path.len() {
                return Some(Cow::Borrowed(child));
            }
            if let Some(found) = lookup_keys(child, &path[end + 1..]) {
                return Some(found);
            }
        }
        end = path[..end].rfind('.')?;
    }
}

/// Null, an empty string and the text `NULL` count as absent.
pub fn is_absent(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => {
            let t = s.trim();
            t.is_empty() || t == "NULL" || t == "null"
        }
        _ => false,
    }
}

/// A short description of a JSON value for messages.
pub fn describe(value: &Value) -> String {
    let text = value.to_string();
    let short: String = text.chars().take(40).collect();
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    if short.len() < text.len() {
        format!("{kind} {short}…")
    } else {
        format!("{kind} {short}")
    }
}
