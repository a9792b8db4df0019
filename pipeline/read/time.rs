//! Timestamp parsing for every shape seen in request logs: RFC 3339, naive date-times
//! (with up to 9 fractional digits, taken in the source's timezone), and epoch numbers in
//! s/ms/µs/ns, optionally as offsets from a trace's `time_origin`. All results are UTC
//! microseconds since the epoch.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use serde_json::Value;

/// Unit of numeric timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochUnit {
    /// Guess from magnitude (epoch) or milliseconds (offsets from an origin).
    Auto,
    /// Seconds.
    Seconds,
    /// Milliseconds.
    Millis,
    /// Microseconds.
    Micros,
    /// Nanoseconds.
    Nanos,
}

impl EpochUnit {
    /// Parses `s`, `ms`, `us`, `ns` or `auto`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "auto" => EpochUnit::Auto,
            "s" => EpochUnit::Seconds,
            "ms" => EpochUnit::Millis,
            "us" | "µs" => EpochUnit::Micros,
            "ns" => EpochUnit::Nanos,
            _ => return None,
        })
    }

    /// The unit's word, as messages say it.
    fn name(self) -> &'static str {
        match self {
            EpochUnit::Auto => "auto",
            EpochUnit::Seconds => "seconds",
            EpochUnit::Millis => "milliseconds",
            EpochUnit::Micros => "microseconds",
            EpochUnit::Nanos => "nanoseconds",
        }
    }

    fn micros_per_unit(self) -> f64 {
        match self {
            EpochUnit::Seconds => 1e6,
            EpochUnit::Millis => 1e3,
            EpochUnit::Micros => 1.0,
            EpochUnit::Nanos => 1e-3,
            EpochUnit::Auto => unreachable!("resolved before use"),
        }
    }
}

/// How a source's timestamps are read.
#[derive(Debug, Clone)]
pub struct TimeOptions {
    /// Offset for naive timestamps.
    pub offset: FixedOffset,
    /// Origin for offset timestamps, in UTC microseconds.
    pub origin_micros: Option<i64>,
    /// Unit for numeric timestamps.
    pub unit: EpochUnit,
    /// A chrono format tried first (e.g. `%m/%d/%Y` for Azure EA exports).
    pub format: Option<String>,
}

impl Default for TimeOptions {
    fn default() -> Self {
        TimeOptions {
            offset: FixedOffset::east_opt(0).expect("zero offset"),
            origin_micros: None,
            unit: EpochUnit::Auto,
            format: None,
        }
    }
}

/// Parses `UTC`, `Z` or `±HH:MM` into an offset.
pub fn parse_offset(text: &str) -> Option<FixedOffset> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("utc") || t == "Z" {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let seconds = h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60;
    FixedOffset::east_opt(sign * seconds)
}

/// Earliest time an epoch number whose unit is guessed from its size may give (larger
/// units than seconds): 2000-01-01T00:00:00Z, µs.
const EPOCH_GUESS_EARLIEST_MICROS: f64 = 946_684_800_000_000.0;

/// Latest timestamp accepted, µs: 2096-01-01T00:00:00Z (numeric epochs beyond it are
/// ambiguous units; text beyond it is a sentinel like 9999-12-31, not a request).
pub const LATEST_MICROS: i64 = 4_007_318_400_000_000;

/// Reads a timestamp value into UTC microseconds, or says what was expected. Times before
/// 1970 or from 2096 on are refused, whatever their form.
pub fn parse_timestamp(value: &Value, options: &TimeOptions) -> Result<i64, String> {
    let micros = parse_any_timestamp(value, options)?;
    if !(0..LATEST_MICROS).contains(&micros) {
        return Err(format!(
            "timestamp {} is outside 1970–2095",
            match value {
                Value::String(s) => format!("'{s}'"),
                other => other.to_string(),
            }
        ));
    }
    Ok(micros)
}

fn parse_any_timestamp(value: &Value, options: &TimeOptions) -> Result<i64, String> {
    match value {
        Value::Number(n) => {
            let number = n
                .as_f64()
                .ok_or_else(|| format!("timestamp {n} is not a number"))?;
            epoch_to_micros(number, options)
        }
        Value::String(s) => parse_timestamp_text(s.trim(), options),
        other => Err(format!(
            "timestamp must be a string or number, found {}",
            super::json_path::describe(other)
        )),
    }
}

fn epoch_to_micros(number: f64, options: &TimeOptions) -> Result<i64, String> {
    if !number.is_finite() || number < 0.0 {
        return Err(format!("timestamp {number} is not a non-negative number"));
    }
    let guessed = options.unit == EpochUnit::Auto && options.origin_micros.is_none();
    let unit = match (options.unit, options.origin_micros) {
        (EpochUnit::Auto, Some(_)) => EpochUnit::Millis,
        (EpochUnit::Auto, None) => {
            if number < 1e11 {
                EpochUnit::Seconds
            } else if number < 1e14 {
                EpochUnit::Millis
            } else if number < 1e17 {
                EpochUnit::Micros
            } else {
                EpochUnit::Nanos
            }
        }
        (unit, _) => unit,
    };
    let micros = (number * unit.micros_per_unit()).round();
    if micros > 4.0e15 {
        return Err(format!("timestamp {number} is beyond the year 2096"));
    }
    // A unit guessed from the magnitude that lands before 2000 is a number one unit larger
    // would also read: 253402300799 is 9999-12-31 in seconds and 1978-01-11 in
    // milliseconds. Neither is a request's time; say so rather than keep 1978.
    if guessed && unit != EpochUnit::Seconds && micros < EPOCH_GUESS_EARLIEST_MICROS {
        return Err(format!(
            "timestamp {number} is ambiguous: read as {} it falls before 2000, one unit larger after 2095; set time_unit = \"s\" | \"ms\" | \"us\" | \"ns\" if it is right",
            unit.name()
        ));
    }
    Ok(options.origin_micros.unwrap_or(0) + micros as i64)
}

const NAIVE_FORMATS: [&str; 4] = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y/%m/%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
];

fn parse_timestamp_text(text: &str, options: &TimeOptions) -> Result<i64, String> {
    if text.is_empty() {
        return Err("timestamp is empty".to_string());
    }
    if let Some(format) = &options.format {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(localise(naive, false, options));
        }
        if let Ok(date) = NaiveDate::parse_from_str(text, format) {
            return Ok(localise(
                date.and_hms_opt(0, 0, 0).expect("midnight exists"),
                false,
                options,
            ));
        }
    }
    if let Ok(number) = text.parse::<f64>() {
        return epoch_to_micros(number, options);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Ok(dt.timestamp_micros());
    }
    // Postgres `timestamptz` text (what `psql \copy` writes): a zone of hours alone,
    // `2026-11-16 07:00:11.074+00` or `-05`: read as `+00:00`.
    let bytes = text.as_bytes();
    if bytes.len() > 3
        && matches!(bytes[bytes.len() - 3], b'+' | b'-')
        && bytes[bytes.len() - 2..].iter().all(u8::is_ascii_digit)
        && text[..text.len() - 3].contains(':')
    {
        return parse_timestamp_text(&format!("{text}:00"), options);
    }
    // RFC 3339 with a space instead of 'T', or a zone like "+0000" / " UTC".
    for format in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(text, format) {
            return Ok(dt.timestamp_micros());
        }
    }
    let naive_text = text
        .strip_suffix(" UTC")
        .or_else(|| text.strip_suffix('Z'))
        .map(|t| (t, true))
        .unwrap_or((text, false));
    for format in NAIVE_FORMATS {
        if let Ok(naive) = NaiveDateTime::parse_from_str(naive_text.0, format) {
            return Ok(localise(naive, naive_text.1, options));
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(naive_text.0, "%Y-%m-%d") {
        let naive = date.and_hms_opt(0, 0, 0).expect("midnight exists");
        return Ok(localise(naive, naive_text.1, options));
    }
    Err(format!(
        "timestamp '{text}' not understood; expected RFC 3339, 'YYYY-MM-DD HH:MM:SS[.fffffff]' or epoch seconds/ms"
    ))
}

fn localise(naive: NaiveDateTime, explicit_utc: bool, options: &TimeOptions) -> i64 {
    if explicit_utc {
        return naive.and_utc().timestamp_micros();
    }
    options
        .offset
        .from_local_datetime(&naive)
        .single()
        .map(|dt| dt.timestamp_micros())
        .unwrap_or_else(|| naive.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn utc(value: Value) -> Result<i64, String> {
        parse_timestamp(&value, &TimeOptions::default())
    }

    // Expected values below were computed with `date -u -d '…' +%s%6N`.
    #[test]
    fn postgres_timestamptz_text() {
        // `date -u -d '2026-11-16 07:00:11.074Z' +%s%3N` → 1794812411074 (ms).
        assert_eq!(
            utc(json!("2026-11-16 07:00:11.074+00")),
            Ok(1_794_812_411_074_000)
        );
        // Five hours behind UTC: 12:00:11.074 UTC.
        assert_eq!(
            utc(json!("2026-11-16 07:00:11.074-05")),
            Ok(1_794_812_411_074_000 + 5 * 3_600_000_000)
        );
    }

    #[test]
    fn parses_every_shape() {
        assert_eq!(
            utc(json!("2026-11-02T09:15:00Z")),
            Ok(1_793_610_900_000_000)
        );
        assert_eq!(
            utc(json!("2026-11-02T10:15:00+01:00")),
            Ok(1_793_610_900_000_000)
        );
        assert_eq!(utc(json!(1_793_610_900)), Ok(1_793_610_900_000_000));
        assert_eq!(utc(json!(1_793_610_900_123_i64)), Ok(1_793_610_900_123_000));
        assert_eq!(utc(json!("1793610900")), Ok(1_793_610_900_000_000));
        // The Azure trace: naive, seven fractional digits.
        assert_eq!(
            utc(json!("2023-11-16 18:15:46.6805900")),
            Ok(1_700_158_546_680_590)
        );
    }

    #[test]
    fn naive_times_take_the_source_offset() {
        let options = TimeOptions {
            offset: parse_offset("+02:00").unwrap(),
            ..TimeOptions::default()
        };
        assert_eq!(
            parse_timestamp(&json!("2026-11-02 11:15:00"), &options),
            Ok(1_793_610_900_000_000)
        );
    }

    #[test]
    fn offsets_from_an_origin_default_to_milliseconds() {
        let options = TimeOptions {
            origin_micros: Some(1_793_610_900_000_000),
            ..TimeOptions::default()
        };
        assert_eq!(
            parse_timestamp(&json!(1500), &options),
            Ok(1_793_610_901_500_000)
        );
    }

    #[test]
    fn a_configured_format_comes_first() {
        let options = TimeOptions {
            format: Some("%m/%d/%Y".into()),
            ..TimeOptions::default()
        };
        assert_eq!(
            parse_timestamp(&json!("11/02/2026"), &options),
            Ok(1_793_577_600_000_000)
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(
            utc(json!("yesterday"))
                .unwrap_err()
                .contains("not understood")
        );
        assert!(utc(json!(-5)).is_err());
        assert!(utc(json!(true)).is_err());
    }

    /// Issue 30: 253402300799 is 9999-12-31T23:59:59Z in seconds; its size made it
    /// milliseconds, 1978-01-11. Refused as ambiguous; a real millisecond epoch
    /// (1794868200000 = 2026-11-16T22:30:00Z) and a stated unit still read.
    #[test]
    fn an_epoch_whose_guessed_unit_lands_before_2000_is_refused() {
        let err = utc(json!(253_402_300_799_i64)).unwrap_err();
        assert!(err.contains("ambiguous"), "{err}");
        assert_eq!(utc(json!(1_794_868_200_000_i64)), Ok(1_794_868_200_000_000));
        let options = TimeOptions {
            unit: EpochUnit::Millis,
            ..TimeOptions::default()
        };
        assert_eq!(
            parse_timestamp(&json!(253_402_300_799_i64), &options),
            Ok(253_402_300_799_000)
        );
    }
}
