//! GPU metrics: DCGM exporter and vLLM counters, from Prometheus text-exposition snapshots
//! (`.prom`, `.txt`: `name{labels} value timestamp_ms`) or range-query dumps (CSV with
//! `timestamp, value` and label columns; JSON lines, flat or Prometheus' own
//! `{"metric": {...}, "values": [[ts, "v"], ...]}`). Every sample becomes one staged row
//! with its pool (from the host label); the SQL turns them into hourly figures.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::common::error::{Error, Result};
use crate::common::staged::{Kept, StagedFile, StagedRows};
use crate::config::{Config, GpuMetricsSource, MetricsFormat};
use crate::read::source_reading::{Counts, Item, Outcome, QuarantineWriter, SourceReading};
use crate::read::time::{TimeOptions, parse_timestamp};
use crate::read::{files, records};
use crate::sources::billing::pools::PoolMatcher;

/// One sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// UTC µs.
    pub ts_micros: i64,
    /// Metric name.
    pub metric: String,
    /// Host label value.
    pub host: Option<String>,
    /// GPU index or UUID (DCGM), or model name (vLLM): with host and metric, the series.
    pub series: String,
    /// Value.
    pub value: f64,
}

/// One sample line of the Prometheus text exposition format.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpositionLine {
    /// Metric name.
    pub name: String,
    /// Labels.
    pub labels: Map<String, Value>,
    /// Value.
    pub value: f64,
    /// Timestamp in ms, when written.
    pub ts_ms: Option<i64>,
}

/// Parses one Prometheus text-exposition line; `None` for comments and blank lines.
pub fn parse_exposition_line(line: &str) -> Option<Result<ExpositionLine, String>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    Some(parse_exposition(line))
}

fn parse_exposition(line: &str) -> Result<ExpositionLine, String> {
    let name_end = line
        .find(['{', ' ', '\t'])
        .ok_or("expected 'name{labels} value [timestamp]'")?;
    let name = line[..name_end].to_string();
    let mut labels = Map::new();
    let mut rest = &line[name_end..];
    if rest.starts_with('{') {
        let mut chars = rest.char_indices().skip(1).peekable();
        let close;
        loop {
            // key
            let mut key = String::new();
            let mut at_end = None;
            for (i, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                if c == '}' {
                    at_end = Some(i);
                    break;
                }
                if c != ',' && !c.is_whitespace() {
                    key.push(c);
                }
            }
            if let Some(i) = at_end {
                close = i;
                break;
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {key}: expected a quoted value"));
            }
            let mut value = String::new();
            let mut escaped = false;
            let mut closed = false;
            for (_, c) in chars.by_ref() {
                match (escaped, c) {
                    (true, 'n') => {
                        value.push('\n');
                        escaped = false;
                    }
                    (true, c) => {
                        value.push(c);
                        escaped = false;
                    }
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        closed = true;
                        break;
                    }
                    (false, c) => value.push(c),
                }
            }
            if !closed {
                return Err(format!("label {key}: unterminated value"));
            }
            labels.insert(key, Value::String(value));
            if let Some(&(i, '}')) = chars.peek() {
                close = i;
                break;
            }
        }
        rest = &rest[close + 1..];
    }
    let mut parts = rest.split_whitespace();
    let value: f64 = parts
        .next()
        .ok_or("missing value")?
        .parse()
        .map_err(|_| "value is not a number".to_string())?;
    let ts = match parts.next() {
        Some(t) => Some(
            t.parse::<i64>()
                .map_err(|_| format!("timestamp '{t}' is not whole milliseconds"))?,
        ),
        None => None,
    };
    Ok(ExpositionLine {
        name,
        labels,
        value,
        ts_ms: ts,
    })
}

fn label_text(labels: &Value, key: &str) -> Option<String> {
    match labels.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Turns one record of a range-query dump into samples.
fn samples_of(
    record: &Value,
    host_label: &str,
    format: MetricsFormat,
) -> Result<Vec<Sample>, String> {
    let series_of = |labels: &Value| match format {
        MetricsFormat::Dcgm => label_text(labels, "UUID")
            .or_else(|| label_text(labels, "gpu"))
            .unwrap_or_default(),
        MetricsFormat::Vllm => label_text(labels, "model_name").unwrap_or_default(),
    };
    let options = TimeOptions::default();
    // Prometheus' own range-query shape.
    if let (Some(labels), Some(Value::Array(values))) = (record.get("metric"), record.get("values"))
    {
        let metric = label_text(labels, "__name__").ok_or("metric has no __name__ label")?;
        return values
            .iter()
            .map(|pair| {
                let ts = pair.get(0).ok_or("a value pair has no timestamp")?;
                let value = pair
                    .get(1)
                    .and_then(number)
                    .ok_or("a value pair has no number")?;
                Ok(Sample {
                    ts_micros: parse_timestamp(ts, &options)?,
                    metric: metric.clone(),
                    host: label_text(labels, host_label),
                    series: series_of(labels),
                    value,
                })
            })
            .collect();
    }
    let metric = ["__name__", "metric", "name"]
        .iter()
        .find_map(|k| label_text(record, k))
        .ok_or("missing metric name (__name__, metric or name)")?;
    let ts = ["timestamp", "time", "ts"]
        .iter()
        .find_map(|k| record.get(*k))
        .ok_or("missing timestamp")?;
    let value = record
        .get("value")
        .and_then(number)
        .ok_or("missing or non-numeric value")?;
    Ok(vec![Sample {
        ts_micros: parse_timestamp(ts, &options)?,
        metric,
        host: label_text(record, host_label),
        series: series_of(record),
        value,
    }])
}

/// Keeps samples whose values can be what they claim to be; otherwise says which is not.
/// DCGM's profiling ratios (`DCGM_FI_PROF_*`) lie in 0–1, `DCGM_FI_DEV_GPU_UTIL` in
/// 0–100; vLLM counters are finite and never negative.
fn in_range(
    samples: Vec<Sample>,
    format: MetricsFormat,
) -> std::result::Result<Vec<Sample>, String> {
    for sample in &samples {
        let (low, high) = match (format, sample.metric.as_str()) {
            (MetricsFormat::Dcgm, m) if m.starts_with("DCGM_FI_PROF_") => (0.0, 1.0),
            (MetricsFormat::Dcgm, "DCGM_FI_DEV_GPU_UTIL") => (0.0, 100.0),
            (MetricsFormat::Dcgm, _) => (f64::MIN, f64::MAX),
            (MetricsFormat::Vllm, _) => (0.0, f64::MAX),
        };
        if !sample.value.is_finite() || sample.value < low || sample.value > high {
            return Err(format!(
                "{} value {} is out of range (expected a finite number from {low} to {})",
                sample.metric,
                sample.value,
                if high == f64::MAX {
                    "∞".to_string()
                } else {
                    high.to_string()
                }
            ));
        }
    }
    Ok(samples)
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|v: &f64| v.is_finite())
}

/// Schema of staged samples.
pub fn staged_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        crate::common::arrow_util::utc_timestamp_field("ts", false),
        Field::new("format", DataType::Utf8, false),
        Field::new("metric", DataType::Utf8, false),
        Field::new("host", DataType::Utf8, true),
        Field::new("pool", DataType::Utf8, true),
        Field::new("series", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
        Field::new("source_file", DataType::Utf8, false),
        Field::new("source_line", DataType::Int64, false),
    ]))
}

/// What happened to one metrics source's rows.
#[derive(Debug, Clone, Serialize, Default)]
pub struct MetricsReport {
    /// Source name.
    pub name: String,
    /// Format.
    pub format: String,
    /// Records (lines) read.
    pub rows_read: u64,
    /// Samples kept.
    pub samples: u64,
    /// Samples whose host matched no pool (kept, with pool NULL).
    pub samples_without_pool: u64,
    /// The pools whose `hosts` matched a sample.
    pub pools_matched: std::collections::BTreeSet<String>,
    /// Up to 5 hosts of samples that matched no pool (for the warning that names them).
    pub unmatched_hosts: Vec<String>,
    /// Records quarantined.
    pub rows_quarantined: u64,
    /// Commonest quarantine reasons.
    pub quarantine_reasons: Vec<(String, u64)>,
}

/// Samples (with their pool and line) being buffered for one staged file.
struct Batch {
    rows: Vec<(Sample, Option<String>, u64)>,
    format: &'static str,
    file: String,
}

impl StagedRows for Batch {
    fn schema(&self) -> SchemaRef {
        staged_schema()
    }

    fn buffered(&self) -> usize {
        self.rows.len()
    }

    fn take_columns(&mut self) -> Result<Vec<ArrayRef>> {
        let (format, file) = (self.format, self.file.as_str());
        let rows = std::mem::take(&mut self.rows);
        let n = rows.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(
                TimestampMicrosecondArray::from(
                    rows.iter().map(|r| r.0.ts_micros).collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(vec![format; n])),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0.metric.as_str()).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0.host.as_deref()).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1.as_deref()).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0.series.as_str()).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.0.value).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(vec![file; n])),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.2 as i64).collect::<Vec<_>>(),
            )),
        ];
        Ok(columns)
    }
}

/// Reads every `[[gpu_metrics]]` source into `staging/metrics_staged/`.
pub fn ingest(
    config: &Config,
    staging: &Path,
    quarantine: &mut QuarantineWriter,
) -> Result<Vec<MetricsReport>> {
    let dir = staging.join("metrics_staged");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let pools = PoolMatcher::new(&config.pools);
    let mut reports = Vec::new();
    let mut index = 0;
    for source in &config.gpu_metrics {
        let name = source.name.clone().unwrap_or_else(|| source.path.clone());
        let format_name = match source.format {
            MetricsFormat::Dcgm => "dcgm",
            MetricsFormat::Vllm => "vllm",
        };
        let host_label = host_label(source);
        let mut report = MetricsReport {
            name: name.clone(),
            format: format_name.to_string(),
            ..MetricsReport::default()
        };
        let reading = SourceReading::new(&name, &mut *quarantine);
        let mut counts = Counts::default();
        for path in expand_metrics(config, source)? {
            index += 1;
            let display = path.to_string_lossy().into_owned();
            let mut staged = StagedFile::create(
                &dir.join(format!("{index:05}.parquet")),
                Batch {
                    rows: Vec::new(),
                    format: format_name,
                    file: display.clone(),
                },
                Kept::ForThisRun,
            )?;
            let batch = &mut staged;
            let mut keep = |samples: Vec<Sample>, _raw: &str, line: u64| -> Result<Outcome> {
                let samples = match in_range(samples, source.format) {
                    Ok(samples) => samples,
                    Err(reason) => return Ok(Outcome::Bad(reason)),
                };
                for sample in samples {
                    let pool = sample
                        .host
                        .as_deref()
                        .and_then(|h| pools.pool_for_host(h))
                        .map(str::to_string);
                    report.samples += 1;
                    report.samples_without_pool += pool.is_none() as u64;
                    match (&pool, &sample.host) {
                        (Some(pool), _) => {
                            if !report.pools_matched.contains(pool) {
                                report.pools_matched.insert(pool.clone());
                            }
                        }
                        (None, Some(host)) => {
                            if report.unmatched_hosts.len() < 5
                                && !report.unmatched_hosts.contains(host)
                            {
                                report.unmatched_hosts.push(host.clone());
                            }
                        }
                        (None, None) => {}
                    }
                    batch.rows.rows.push((sample, pool, line));
                }
                batch.row_added()?;
                Ok(Outcome::Kept)
            };
            let is_text = path.extension().is_some_and(|e| e == "prom" || e == "txt");
            if is_text {
                let reader = BufReader::new(files::open_raw(&path)?);
                let mut io_error = None;
                let items = reader
                    .lines()
                    .enumerate()
                    .map_while(|(i, line)| {
                        line.map_err(|e| io_error = Some(e)).ok().map(|l| (i, l))
                    })
                    .filter_map(|(i, line)| {
                        // Comments and blank lines are not samples: not read as rows.
                        let parsed = parse_exposition_line(&line)?;
                        let value = parsed
                            .and_then(|line| exposition_samples(line, &host_label, source.format));
                        Some(Item {
                            line: i as u64 + 1,
                            raw: line,
                            value,
                        })
                    });
                counts += reading.read_items(&display, items, &mut keep)?;
                if let Some(e) = io_error {
                    return Err(Error::io(&path, e));
                }
            } else {
                let (layout, compression) =
                    files::classify(&path).expect("expand keeps known files");
                let items =
                    records::open(&path, layout, compression, |f| Box::new(f))?.map(|record| {
                        Item {
                            line: record.line,
                            value: record
                                .value
                                .and_then(|v| samples_of(&v, &host_label, source.format)),
                            raw: record.raw,
                        }
                    });
                counts += reading.read_items(&display, items, &mut keep)?;
            }
            staged.finish()?;
        }
        report.rows_read = counts.read;
        report.rows_quarantined = counts.quarantined;
        let limit = config.bad_row_limit(source.max_bad_fraction);
        report.quarantine_reasons = reading.finish(&counts, limit)?;
        reports.push(report);
    }
    Ok(reports)
}

/// The label naming a sample's host: the source's `host_label`, else `Hostname` (DCGM) or
/// `instance` (vLLM).
pub fn host_label(source: &GpuMetricsSource) -> String {
    source
        .host_label
        .clone()
        .unwrap_or_else(|| match source.format {
            MetricsFormat::Dcgm => "Hostname".to_string(),
            MetricsFormat::Vllm => "instance".to_string(),
        })
}

/// One sample line of a text-exposition snapshot as a sample (a snapshot's line must carry
/// its timestamp).
fn exposition_samples(
    line: ExpositionLine,
    host_label: &str,
    format: MetricsFormat,
) -> Result<Vec<Sample>, String> {
    let ExpositionLine {
        name: metric,
        labels,
        value,
        ts_ms: ts,
    } = line;
    let labels = Value::Object(labels);
    let ts = ts.ok_or("sample has no timestamp (snapshots need `value timestamp_ms`)")?;
    let ts_micros = ts
        .checked_mul(1000)
        .filter(|t| (0..crate::read::time::LATEST_MICROS).contains(t))
        .ok_or_else(|| format!("timestamp {ts} ms is outside 1970–2095"))?;
    Ok(vec![Sample {
        ts_micros,
        host: label_text(&labels, host_label),
        series: match format {
            MetricsFormat::Dcgm => label_text(&labels, "UUID")
                .or_else(|| label_text(&labels, "gpu"))
                .unwrap_or_default(),
            MetricsFormat::Vllm => label_text(&labels, "model_name").unwrap_or_default(),
        },
        metric,
        value,
    }])
}

/// One record of a metrics file: its line and its samples, or why it cannot be read.
pub type RecordSamples = (u64, std::result::Result<Vec<Sample>, String>);

/// The first `limit` records of one metrics file, read as `run` reads them: what
/// `validate` checks.
pub fn first_records(
    path: &Path,
    source: &GpuMetricsSource,
    limit: usize,
) -> Result<Vec<RecordSamples>> {
    let host_label = host_label(source);
    let mut found = Vec::new();
    if path.extension().is_some_and(|e| e == "prom" || e == "txt") {
        let reader = BufReader::new(files::open_raw(path)?);
        for (i, line) in reader.lines().enumerate() {
            let line = line.map_err(|e| Error::io(path, e))?;
            let Some(parsed) = parse_exposition_line(&line) else {
                continue;
            };
            let samples = parsed
                .and_then(|l| exposition_samples(l, &host_label, source.format))
                .and_then(|samples| in_range(samples, source.format));
            found.push((i as u64 + 1, samples));
            if found.len() >= limit {
                break;
            }
        }
        return Ok(found);
    }
    let Some((layout, compression)) = files::classify(path) else {
        return Ok(found);
    };
    for record in records::open(path, layout, compression, |f| Box::new(f))?.take(limit) {
        let samples = record
            .value
            .and_then(|v| samples_of(&v, &host_label, source.format))
            .and_then(|samples| in_range(samples, source.format));
        found.push((record.line, samples));
    }
    Ok(found)
}

/// The files of a metrics source: text-exposition snapshots first, then record files.
pub fn expand_metrics(
    config: &Config,
    source: &GpuMetricsSource,
) -> Result<Vec<std::path::PathBuf>> {
    let path = config.resolve(&source.path);
    let exposition = |p: &std::path::Path| p.extension().is_some_and(|e| e == "prom" || e == "txt");
    if crate::read::remote::is_url(&path) {
        // On object storage: the exposition snapshots first, then the record files.
        let objects: Vec<std::path::PathBuf> = crate::read::remote::list(&path.to_string_lossy())?
            .into_iter()
            .map(|(url, _)| std::path::PathBuf::from(url))
            .collect();
        let mut found: Vec<_> = objects.iter().filter(|p| exposition(p)).cloned().collect();
        found.extend(objects.into_iter().filter(|p| files::classify(p).is_some()));
        if found.is_empty() {
            return files::expand(&path);
        }
        return Ok(found);
    }
    if path.is_file() && exposition(&path) {
        return Ok(vec![path]);
    }
    if path.is_dir() {
        let mut found: Vec<_> = std::fs::read_dir(&path)
            .map_err(|e| Error::io(&path, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "prom" || e == "txt"))
            .collect();
        if !found.is_empty() {
            found.sort();
            if let Ok(more) = files::expand(&path) {
                found.extend(more);
            }
            return Ok(found);
        }
    }
    files::expand(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_lines() {
        let ExpositionLine { name, labels, value, ts_ms: ts } = parse_exposition_line(
            r#"DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-1a",Hostname="node-1",modelName="NVIDIA H100 80GB HBM3"} 87 1794823200000"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (name.as_str(), value, ts),
            ("DCGM_FI_DEV_GPU_UTIL", 87.0, Some(1_794_823_200_000))
        );
        assert_eq!(labels["Hostname"], "node-1");
        let ExpositionLine {
            name,
            labels,
            value,
            ..
        } = parse_exposition_line(
            r#"vllm:generation_tokens_total{model_name="llama",a="x\"y"} 1.5e3"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (name.as_str(), value),
            ("vllm:generation_tokens_total", 1500.0)
        );
        assert_eq!(labels["a"], "x\"y");
        assert!(parse_exposition_line("# HELP x").is_none());
        assert!(parse_exposition_line("broken{a=\"b\" 1").unwrap().is_err());
    }

    #[test]
    fn range_dumps() {
        let prom = serde_json::json!({"metric": {"__name__": "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "Hostname": "n1", "gpu": "3"},
            "values": [[1794823200, "0.5"], [1794823260, "0.7"]]});
        let samples = samples_of(&prom, "Hostname", MetricsFormat::Dcgm).unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(
            (
                samples[1].value,
                samples[1].series.as_str(),
                samples[1].host.as_deref()
            ),
            (0.7, "3", Some("n1"))
        );
        let flat = serde_json::json!({"timestamp": "2026-11-16T10:00:00Z", "value": "12", "__name__": "DCGM_FI_DEV_GPU_UTIL", "Hostname": "n2", "gpu": "0"});
        assert_eq!(
            samples_of(&flat, "Hostname", MetricsFormat::Dcgm).unwrap()[0].ts_micros,
            1_794_823_200_000_000
        );
        assert!(
            samples_of(
                &serde_json::json!({"value": 1}),
                "Hostname",
                MetricsFormat::Dcgm
            )
            .is_err()
        );
    }
}
