//! OTLP/JSON trace batches (`{"resourceSpans":[{"resource":…,"scopeSpans":[{"scope":…,
//! "spans":[…]}]}]}`, what the OpenTelemetry Collector's file exporter and
//! `opentelemetry-exporter-otlp-json-file` write, one batch per line) turned into one record
//! per span, in the shape OpenTelemetry's Python console exporter prints a span: ids as
//! hex text, `attributes` as an object of plain values (`{"key":…,"value":{"intValue":"…"}}`
//! lists decoded), the resource's attributes under `resource.attributes`, the
//! instrumentation scope under `scope`, times as nanosecond text, and `status.code` as
//! OTLP's number (0 unset, 1 ok, 2 error). So the `otel` preset reads a span the same way
//! whichever exporter wrote it.

use serde_json::{Map, Value};

/// Whether a record is an OTLP/JSON trace batch.
pub fn is_batch(record: &Value) -> bool {
    record.get("resourceSpans").is_some_and(Value::is_array)
}

/// Every span of a batch, each flattened as described above, or why the batch's layout
/// is not OTLP's (one reason for the whole record: nothing of it can be trusted).
pub fn spans(batch: &Value) -> Result<Vec<Value>, String> {
    let mut spans = Vec::new();
    let resource_spans = batch
        .get("resourceSpans")
        .and_then(Value::as_array)
        .ok_or("resourceSpans is not a list")?;
    for resource_span in resource_spans {
        let resource = attributes(resource_span.pointer("/resource/attributes"))?;
        let scope_spans = match resource_span.get("scopeSpans") {
            None | Some(Value::Null) => continue,
            Some(Value::Array(list)) => list,
            Some(_) => return Err("scopeSpans is not a list".to_string()),
        };
        for scope_span in scope_spans {
            let scope = scope_span.get("scope").cloned().unwrap_or(Value::Null);
            let list = match scope_span.get("spans") {
                None | Some(Value::Null) => continue,
                Some(Value::Array(list)) => list,
                Some(_) => return Err("spans is not a list".to_string()),
            };
            for span in list {
                spans.push(flatten(span, &resource, &scope)?);
            }
        }
    }
    Ok(spans)
}

/// One span in the console exporter's shape, with its batch's resource and scope.
fn flatten(span: &Value, resource: &Map<String, Value>, scope: &Value) -> Result<Value, String> {
    let Value::Object(fields) = span else {
        return Err("a span is not an object".to_string());
    };
    let mut out = Map::new();
    for (from, to) in [
        ("traceId", "trace_id"),
        ("spanId", "span_id"),
        ("parentSpanId", "parent_span_id"),
        ("name", "name"),
        ("kind", "kind"),
        ("startTimeUnixNano", "start_time_unix_nano"),
        ("endTimeUnixNano", "end_time_unix_nano"),
    ] {
        if let Some(value) = fields.get(from).filter(|v| !v.is_null()) {
            out.insert(to.to_string(), value.clone());
        }
    }
    out.insert(
        "attributes".to_string(),
        Value::Object(attributes(fields.get("attributes"))?),
    );
    let mut status = Map::new();
    let code = fields.get("status").and_then(|s| s.get("code"));
    status.insert(
        "code".to_string(),
        code.cloned().unwrap_or(Value::from(0)), // absent: unset, which is success
    );
    if let Some(message) = fields.get("status").and_then(|s| s.get("message")) {
        status.insert("message".to_string(), message.clone());
    }
    out.insert("status".to_string(), Value::Object(status));
    let mut resource_out = Map::new();
    resource_out.insert("attributes".to_string(), Value::Object(resource.clone()));
    out.insert("resource".to_string(), Value::Object(resource_out));
    if !scope.is_null() {
        out.insert("scope".to_string(), scope.clone());
    }
    Ok(Value::Object(out))
}

/// An OTLP attribute list (`[{"key":…,"value":{…}}]`) as an object of plain values.
fn attributes(list: Option<&Value>) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let list = match list {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(format!(
                "attributes is not a list of key/value pairs: {}",
                crate::read::json_path::describe(other)
            ));
        }
    };
    for pair in list {
        let key = pair
            .get("key")
            .and_then(Value::as_str)
            .ok_or("an attribute has no key")?;
        out.insert(key.to_string(), any_value(pair.get("value")));
    }
    Ok(out)
}

/// An OTLP `AnyValue` as a plain JSON value. `intValue` is a 64-bit integer written as
/// text (proto3 JSON): it becomes a number when it fits.
fn any_value(value: Option<&Value>) -> Value {
    let Some(Value::Object(map)) = value else {
        return Value::Null;
    };
    let Some((kind, inner)) = map.iter().next() else {
        return Value::Null;
    };
    match kind.as_str() {
        "intValue" => match inner {
            Value::String(text) => text
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| inner.clone()),
            _ => inner.clone(),
        },
        "arrayValue" => Value::Array(
            inner
                .get("values")
                .and_then(Value::as_array)
                .map(|values| values.iter().map(|v| any_value(Some(v))).collect())
                .unwrap_or_default(),
        ),
        "kvlistValue" => Value::Object(attributes(inner.get("values")).unwrap_or_default()),
        // stringValue, boolValue, doubleValue, bytesValue (base64 text)
        _ => inner.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A batch of two resources, one with two scopes, as the OTLP/JSON encoding writes
    /// them: three spans come out, each with its resource's attributes, integers as
    /// numbers, lists decoded and an absent status as unset (0).
    #[test]
    fn every_span_of_every_scope_of_every_resource() {
        let batch = json!({"resourceSpans": [
            {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "bot"}}]},
             "scopeSpans": [
                {"scope": {"name": "a"}, "spans": [
                    {"traceId": "0af7", "spanId": "b7ad", "startTimeUnixNano": "1794868200002000000",
                     "attributes": [
                        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1200"}},
                        {"key": "gen_ai.response.finish_reasons", "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}}}
                     ]}
                ]},
                {"scope": {"name": "b"}, "spans": [
                    {"traceId": "0af7", "spanId": "c8be", "status": {"code": 2, "message": "boom"}}
                ]}
             ]},
            {"resource": {"attributes": []}, "scopeSpans": [{"spans": [{"spanId": "d9cf"}]}]}
        ]});
        assert!(is_batch(&batch));
        let spans = spans(&batch).unwrap();
        assert_eq!(spans.len(), 3);
        assert_eq!(spans[0]["span_id"], "b7ad");
        assert_eq!(spans[0]["attributes"]["gen_ai.usage.input_tokens"], 1200);
        assert_eq!(
            spans[0]["attributes"]["gen_ai.response.finish_reasons"],
            json!(["stop"])
        );
        assert_eq!(spans[0]["resource"]["attributes"]["service.name"], "bot");
        assert_eq!(spans[0]["status"]["code"], 0);
        assert_eq!(spans[0]["scope"]["name"], "a");
        assert_eq!(spans[1]["status"]["code"], 2);
        assert_eq!(spans[1]["scope"]["name"], "b");
        assert_eq!(spans[2]["span_id"], "d9cf");
        assert!(
            spans[2]["resource"]["attributes"]
                .as_object()
                .unwrap()
                .is_empty()
        );
        assert!(super::spans(&json!({"resourceSpans": [{"scopeSpans": 3}]})).is_err());
    }
}
