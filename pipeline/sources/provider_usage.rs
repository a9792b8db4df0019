//! The providers' own usage and cost exports (`[[provider_usage]]`): OpenAI's organisation
//! Usage API (completions) and Costs API pages, Anthropic's Admin API usage report
//! (messages) and cost report. Each result of each time bucket becomes one staged row of
//! `provider_usage_staged` (usage rows carry requests and tokens, cost rows carry dollars),
//! which `queries/reconciliation.sql` sets against what the logs say. Token counts are
//! put on the canonical footing of the `requests` table: input = every prompt token
//! (OpenAI's `input_tokens` already holds its cached ones; Anthropic's are uncached +
//! cache reads + cache writes). A result that cannot be read is quarantined with its
//! reason; the same result saved twice (overlapping exports) is counted once, and of
//! exports that overlap with different figures the latest, and the finest buckets of a day,
//! stand (the others are counted as superseded).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Decimal128Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

use crate::common::error::{Error, Result};
use crate::common::money::{money_type, to_money};
use crate::common::progress::Progress;
use crate::common::staged::{Kept, StagedFile, StagedRows};
use crate::config::{Config, ProviderUsageFormat};
use crate::read::files;
use crate::read::source_reading::{Counts, Item, Outcome, QuarantineWriter, SourceReading};
use crate::sources::requests::Window;

/// What happened to one `[[provider_usage]]` source's results.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ProviderUsageReport {
    /// Source name.
    pub name: String,
    /// Configured format.
    pub format: String,
    /// Files read.
    pub files: Vec<String>,
    /// Results read (one per bucket and group).
    pub rows_read: u64,
    /// Results staged.
    pub rows_kept: u64,
    /// Results quarantined.
    pub rows_quarantined: u64,
    /// Results seen before (the same bucket and values in two saved pages, or in a file two
    /// sources name).
    pub rows_duplicate: u64,
    /// Results another export supersedes: the same bucket exported again later (the latest
    /// export of a bucket wins), or a coarser bucket of a day finer buckets cover (a day's
    /// daily bucket beside its hourly ones). Read, not staged.
    pub rows_superseded: u64,
    /// Results whose bucket lies outside `--from/--to`.
    pub rows_outside_window: u64,
    /// Commonest quarantine reasons, with counts.
    pub quarantine_reasons: Vec<(String, u64)>,
}

/// One result of a usage or cost export, on the canonical footing.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    /// `openai` or `anthropic`.
    pub provider: &'static str,
    /// `usage` or `cost`.
    pub kind: &'static str,
    /// Bucket start, UTC µs.
    pub bucket_start: i64,
    /// Bucket end (exclusive), UTC µs.
    pub bucket_end: i64,
    /// Model as the provider names it.
    pub model: Option<String>,
    /// OpenAI project or Anthropic workspace.
    pub project_id: Option<String>,
    /// API key.
    pub api_key_id: Option<String>,
    /// Service tier (`standard`, `batch`, `priority`, `flex`, …).
    pub service_tier: Option<String>,
    /// Sent through a batch API (OpenAI's `batch`).
    pub batch: Option<bool>,
    /// For cost rows broken out by token type: `input`, `output`, `cached input`,
    /// `uncached_input_tokens`, …
    pub token_type: Option<String>,
    /// Requests (OpenAI's `num_model_requests`; Anthropic's usage report has none).
    pub requests: Option<i64>,
    /// Every prompt token: uncached + cache reads + cache writes.
    pub input_tokens: Option<i64>,
    /// Prompt tokens read from cache.
    pub cache_read_tokens: Option<i64>,
    /// Prompt tokens written to cache.
    pub cache_write_tokens: Option<i64>,
    /// Output tokens.
    pub output_tokens: Option<i64>,
    /// Cost in dollars (cost rows).
    pub cost_usd: Option<Decimal>,
    /// The provider's own words for a cost line (OpenAI's `line_item`, Anthropic's
    /// `description`).
    pub description: Option<String>,
}

impl UsageRow {
    /// A row of a bucket with nothing filled in yet.
    fn bucket(provider: &'static str, kind: &'static str, start: i64, end: i64) -> UsageRow {
        UsageRow {
            provider,
            kind,
            bucket_start: start,
            bucket_end: end,
            model: None,
            project_id: None,
            api_key_id: None,
            service_tier: None,
            batch: None,
            token_type: None,
            requests: None,
            input_tokens: None,
            cache_read_tokens: None,
            cache_write_tokens: None,
            output_tokens: None,
            cost_usd: None,
            description: None,
        }
    }
}

/// The schema of `provider_usage_staged`.
pub fn staged_schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let count = |name: &str| Field::new(name, DataType::Int64, true);
    let time = |name: &str| {
        Field::new(
            name,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        )
    };
    Arc::new(Schema::new(vec![
        text("source", false),
        text("source_file", false),
        Field::new("source_line", DataType::Int64, false),
        text("provider", false),
        text("kind", false),
        time("bucket_start"),
        time("bucket_end"),
        text("model", true),
        text("project_id", true),
        text("api_key_id", true),
        text("service_tier", true),
        Field::new("batch", DataType::Boolean, true),
        text("token_type", true),
        count("requests"),
        count("input_tokens"),
        count("cache_read_tokens"),
        count("cache_write_tokens"),
        count("output_tokens"),
        Field::new("cost_usd", money_type(), true),
        text("description", true),
    ]))
}

/// Staged usage rows being buffered.
pub struct UsageColumns {
    rows: usize,
    source: String,
    source_file: String,
    line: Int64Builder,
    provider: StringBuilder,
    kind: StringBuilder,
    bucket_start: TimestampMicrosecondBuilder,
    bucket_end: TimestampMicrosecondBuilder,
    model: StringBuilder,
    project_id: StringBuilder,
    api_key_id: StringBuilder,
    service_tier: StringBuilder,
    batch: BooleanBuilder,
    token_type: StringBuilder,
    requests: Int64Builder,
    input_tokens: Int64Builder,
    cache_read_tokens: Int64Builder,
    cache_write_tokens: Int64Builder,
    output_tokens: Int64Builder,
    cost_usd: Decimal128Builder,
    description: StringBuilder,
}

impl UsageColumns {
    /// An empty buffer for the rows of one file of one source.
    pub fn new(source: &str, source_file: &str) -> Self {
        UsageColumns {
            rows: 0,
            source: source.to_string(),
            source_file: source_file.to_string(),
            line: Int64Builder::new(),
            provider: StringBuilder::new(),
            kind: StringBuilder::new(),
            bucket_start: TimestampMicrosecondBuilder::new(),
            bucket_end: TimestampMicrosecondBuilder::new(),
            model: StringBuilder::new(),
            project_id: StringBuilder::new(),
            api_key_id: StringBuilder::new(),
            service_tier: StringBuilder::new(),
            batch: BooleanBuilder::new(),
            token_type: StringBuilder::new(),
            requests: Int64Builder::new(),
            input_tokens: Int64Builder::new(),
            cache_read_tokens: Int64Builder::new(),
            cache_write_tokens: Int64Builder::new(),
            output_tokens: Int64Builder::new(),
            cost_usd: Decimal128Builder::new(),
            description: StringBuilder::new(),
        }
    }

    /// Adds a row read at `line`.
    pub fn push(&mut self, line: u64, row: &UsageRow) {
        self.rows += 1;
        self.line.append_value(line as i64);
        self.provider.append_value(row.provider);
        self.kind.append_value(row.kind);
        self.bucket_start.append_value(row.bucket_start);
        self.bucket_end.append_value(row.bucket_end);
        self.model.append_option(row.model.as_deref());
        self.project_id.append_option(row.project_id.as_deref());
        self.api_key_id.append_option(row.api_key_id.as_deref());
        self.service_tier.append_option(row.service_tier.as_deref());
        self.batch.append_option(row.batch);
        self.token_type.append_option(row.token_type.as_deref());
        self.requests.append_option(row.requests);
        self.input_tokens.append_option(row.input_tokens);
        self.cache_read_tokens.append_option(row.cache_read_tokens);
        self.cache_write_tokens
            .append_option(row.cache_write_tokens);
        self.output_tokens.append_option(row.output_tokens);
        self.cost_usd
            .append_option(row.cost_usd.map(|c| to_money(c).0));
        self.description.append_option(row.description.as_deref());
    }
}

impl StagedRows for UsageColumns {
    fn schema(&self) -> SchemaRef {
        staged_schema()
    }

    fn buffered(&self) -> usize {
        self.rows
    }

    fn take_columns(&mut self) -> Result<Vec<ArrayRef>> {
        let rows = std::mem::take(&mut self.rows);
        let repeat = |text: &str| -> ArrayRef {
            Arc::new(datafusion::arrow::array::StringArray::from(vec![
                text;
                rows
            ]))
        };
        let utc = |mut b: TimestampMicrosecondBuilder| -> ArrayRef {
            Arc::new(b.finish().with_timezone("UTC"))
        };
        Ok(vec![
            repeat(&self.source),
            repeat(&self.source_file),
            Arc::new(self.line.finish()),
            Arc::new(self.provider.finish()),
            Arc::new(self.kind.finish()),
            utc(std::mem::take(&mut self.bucket_start)),
            utc(std::mem::take(&mut self.bucket_end)),
            Arc::new(self.model.finish()),
            Arc::new(self.project_id.finish()),
            Arc::new(self.api_key_id.finish()),
            Arc::new(self.service_tier.finish()),
            Arc::new(self.batch.finish()),
            Arc::new(self.token_type.finish()),
            Arc::new(self.requests.finish()),
            Arc::new(self.input_tokens.finish()),
            Arc::new(self.cache_read_tokens.finish()),
            Arc::new(self.cache_write_tokens.finish()),
            Arc::new(self.output_tokens.finish()),
            Arc::new(self.cost_usd.finish().with_data_type(money_type())),
            Arc::new(self.description.finish()),
        ])
    }
}

/// The folder, inside the run's staging input folder, of the staged usage and cost rows
/// (the exports', and the AI API lines of the cloud bills).
pub const STAGED_DIR: &str = "provider_usage_staged";

/// A cloud bill's AI API line (Amazon Bedrock, Vertex AI, Azure OpenAI) as provider-side
/// cost, when the line names a model the price book knows and covers a day at most.
pub fn bill_line_cost(
    provider: &'static str,
    line_text: &str,
    bucket_start: i64,
    bucket_end: i64,
    cost_usd: Decimal,
    book: &crate::prices::PriceBook,
) -> Option<UsageRow> {
    if bucket_end <= bucket_start || bucket_end - bucket_start > 86_400_000_000 {
        return None;
    }
    let price = book.model_named_in(line_text)?;
    Some(UsageRow {
        model: Some(price.model.clone()),
        cost_usd: Some(cost_usd),
        description: Some(line_text.to_string()),
        ..UsageRow::bucket(provider, "cost", bucket_start, bucket_end)
    })
}

/// One result read and not yet staged: where it came from and when that export was made.
struct Candidate {
    /// Index of its file among every file read, in reading order.
    file: usize,
    /// Line of its page.
    line: u64,
    row: UsageRow,
    /// Superseded by another export's result (a re-export of the bucket, or finer buckets
    /// covering its day).
    superseded: bool,
}

/// The identity of a result apart from its figures: one bucket of one provider's usage or
/// cost, for one group (model, project, key, tier, batch, token type, line item).
type ResultKey = (
    &'static str,
    &'static str,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<bool>,
    Option<String>,
    Option<String>,
);

fn result_key(row: &UsageRow) -> ResultKey {
    (
        row.provider,
        row.kind,
        row.bucket_start,
        row.bucket_end,
        row.model.clone(),
        row.project_id.clone(),
        row.api_key_id.clone(),
        row.service_tier.clone(),
        row.batch,
        row.token_type.clone(),
        row.description.clone(),
    )
}

/// Marks what other exports supersede, so that overlapping exports are not summed:
/// - a result exported again in a later export (another file, modified later; read later
///   at the same time) is superseded there: the latest export of a bucket wins;
/// - on a day a provider's usage (or cost) is exported in buckets of different widths
///   (daily and hourly, say), only the finest count: a day covered by finer buckets is not
///   added to its daily bucket.
///
/// `exported` holds each file's modification time, by file index.
fn mark_superseded(candidates: &mut [Candidate], exported: &[std::time::SystemTime]) {
    use std::collections::HashMap;
    let newer = |a: usize, b: usize| (exported[a], a) > (exported[b], b);
    let mut latest: HashMap<ResultKey, usize> = HashMap::new();
    for c in candidates.iter() {
        latest
            .entry(result_key(&c.row))
            .and_modify(|file| {
                if newer(c.file, *file) {
                    *file = c.file;
                }
            })
            .or_insert(c.file);
    }
    for c in candidates.iter_mut() {
        if latest[&result_key(&c.row)] != c.file {
            c.superseded = true;
        }
    }
    const DAY: i64 = 86_400_000_000;
    let mut finest: HashMap<(&'static str, &'static str, i64), i64> = HashMap::new();
    for c in candidates.iter().filter(|c| !c.superseded) {
        let width = c.row.bucket_end - c.row.bucket_start;
        finest
            .entry((
                c.row.provider,
                c.row.kind,
                c.row.bucket_start.div_euclid(DAY),
            ))
            .and_modify(|w| *w = (*w).min(width))
            .or_insert(width);
    }
    for c in candidates.iter_mut().filter(|c| !c.superseded) {
        let day = (
            c.row.provider,
            c.row.kind,
            c.row.bucket_start.div_euclid(DAY),
        );
        if c.row.bucket_end - c.row.bucket_start > finest[&day] {
            c.superseded = true;
        }
    }
}

/// Reads every `[[provider_usage]]` source into `staging/provider_usage_staged/`.
///
/// Every result is read first, then what overlapping exports supersede is set aside
/// ([`mark_superseded`], counted in `rows_superseded`), and the rest is staged. The same
/// result saved twice (the same bucket and figures, in one source or two) counts once.
pub fn ingest(
    config: &Config,
    window: Option<Window>,
    staging: &Path,
    quarantine: &mut QuarantineWriter,
    progress: &Progress,
) -> Result<Vec<ProviderUsageReport>> {
    let dir = staging.join(STAGED_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut reports = Vec::new();
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut files_read: Vec<(usize, String)> = Vec::new();
    let mut exported: Vec<std::time::SystemTime> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for (source_index, source) in config.provider_usage.iter().enumerate() {
        let name = source.name.clone().unwrap_or_else(|| source.path.clone());
        let mut report = ProviderUsageReport {
            name: name.clone(),
            format: source.format.name().to_string(),
            ..ProviderUsageReport::default()
        };
        let reading = SourceReading::new(&name, &mut *quarantine);
        let mut counts = Counts::default();
        for path in files::expand(&config.resolve(&source.path))? {
            let display = path.to_string_lossy().into_owned();
            let bar = progress.file(&display, files::size(&path));
            let text = read_text(&path)?;
            let file_index = files_read.len();
            files_read.push((source_index, display.clone()));
            exported.push(
                std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH),
            );
            let pages = pages(&path, &text)?;
            // Each result of each page is an item, at its page's line.
            let items = pages.iter().flat_map(|page| {
                results(&page.value, source.format)
                    .into_iter()
                    .map(|(result, row)| Item {
                        line: page.line,
                        raw: result.to_string(),
                        value: row,
                    })
            });
            counts += reading.read_items(&display, items, |row, raw, line| {
                if window.is_some_and(|w| {
                    row.bucket_start < w.from_micros || row.bucket_start >= w.to_micros
                }) {
                    return Ok(Outcome::OutsideWindow);
                }
                if !seen.insert(format!("{}|{}|{}", row.bucket_start, row.bucket_end, raw)) {
                    return Ok(Outcome::Duplicate);
                }
                candidates.push(Candidate {
                    file: file_index,
                    line,
                    row,
                    superseded: false,
                });
                Ok(Outcome::Kept)
            })?;
            bar.finish_and_clear();
            report.files.push(display);
        }
        report.rows_read = counts.read;
        report.rows_quarantined = counts.quarantined;
        report.rows_outside_window = counts.outside_window;
        report.rows_duplicate = counts.duplicate;
        report.rows_kept = counts.kept;
        let limit = config.bad_row_limit(source.max_bad_fraction);
        report.quarantine_reasons = reading.finish(&counts, limit)?;
        reports.push(report);
    }
    mark_superseded(&mut candidates, &exported);
    // Stage what stands, one staged file per file read.
    for (file_index, (source_index, display)) in files_read.iter().enumerate() {
        let report = &mut reports[*source_index];
        let mut staged = StagedFile::create(
            &dir.join(format!("{:05}.parquet", file_index + 1)),
            UsageColumns::new(&report.name, display),
            Kept::ForThisRun,
        )?;
        for c in candidates.iter().filter(|c| c.file == file_index) {
            if c.superseded {
                report.rows_kept -= 1;
                report.rows_superseded += 1;
            } else {
                staged.rows.push(c.line, &c.row);
                staged.row_added()?;
            }
        }
        staged.finish()?;
    }
    Ok(reports)
}

/// Every result of one export file, each with its page's line and its reading (for
/// `validate`); a file that is not JSON is an error with its line and column.
pub fn read_file(
    path: &Path,
    format: ProviderUsageFormat,
) -> Result<Vec<(u64, std::result::Result<UsageRow, String>)>> {
    let text = read_text(path)?;
    Ok(pages(path, &text)?
        .iter()
        .flat_map(|page| {
            results(&page.value, format)
                .into_iter()
                .map(move |(_, row)| (page.line, row))
        })
        .collect())
}

/// A file's text (gzip and zstd undone).
fn read_text(path: &Path) -> Result<String> {
    use std::io::Read;
    let (_, compression) = files::classify(path).ok_or_else(|| Error::Input {
        path: path.to_path_buf(),
        message: "unknown file type; expected .json or .jsonl (optionally .gz or .zst)".to_string(),
    })?;
    let mut reader = files::open_text(path, compression, |f| Box::new(f))?;
    let mut text = String::new();
    reader.read_to_string(&mut text).map_err(|e| Error::Input {
        path: path.to_path_buf(),
        message: format!("cannot be read as UTF-8 text: {e}"),
    })?;
    // A byte-order mark (Windows editors, some download tools) is not part of the JSON.
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

/// One API page as saved, with the line it starts on.
#[derive(Debug)]
struct Page {
    line: u64,
    value: Value,
}

/// The pages of a file: JSON values one after another (one page, pages one per line or
/// pretty-printed), a JSON array of pages counting as its pages. A file that is not JSON
/// fails the run with its line and column: the export is broken as a whole.
fn pages(path: &Path, text: &str) -> Result<Vec<Page>> {
    let mut pages = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut start = 0;
    loop {
        // The page starts at the first non-blank byte after the previous one.
        let skipped = text[start..]
            .find(|c: char| !c.is_whitespace())
            .map_or(text.len(), |at| start + at);
        let line = 1 + text[..skipped].matches('\n').count() as u64;
        match stream.next() {
            None => break,
            Some(Err(e)) => {
                return Err(Error::Input {
                    path: path.to_path_buf(),
                    message: format!(
                        "line {}, column {}: not a JSON page ({}); expected the API's JSON as saved",
                        e.line(),
                        e.column(),
                        crate::read::records::invalid_json(&e)
                    ),
                });
            }
            Some(Ok(Value::Array(items))) => {
                pages.extend(items.into_iter().map(|value| Page { line, value }))
            }
            Some(Ok(value)) => pages.push(Page { line, value }),
        }
        start = stream.byte_offset();
    }
    Ok(pages)
}

/// Every result of a page's buckets, each with its reading.
fn results(
    page: &Value,
    format: ProviderUsageFormat,
) -> Vec<(Value, std::result::Result<UsageRow, String>)> {
    let Some(buckets) = page.get("data").and_then(Value::as_array) else {
        return vec![(
            page.clone(),
            Err(
                "not an API page: expected an object with a `data` list of time buckets"
                    .to_string(),
            ),
        )];
    };
    let mut out = Vec::new();
    for (b, bucket) in buckets.iter().enumerate() {
        let at = |reason: String| format!("bucket {}: {reason}", b + 1);
        let span = bucket_span(bucket).map_err(at);
        let Some(results) = bucket.get("results").and_then(Value::as_array) else {
            out.push((bucket.clone(), Err(at("no `results` list".to_string()))));
            continue;
        };
        for (r, result) in results.iter().enumerate() {
            let row = span.clone().and_then(|(start, end)| {
                read_result(result, format, start, end)
                    .map_err(|reason| format!("bucket {} result {}: {reason}", b + 1, r + 1))
            });
            out.push((result.clone(), row));
        }
    }
    out
}

/// A bucket's `[start, end)` in UTC µs: OpenAI's `start_time`/`end_time` (epoch seconds) or
/// Anthropic's `starting_at`/`ending_at` (RFC 3339). A time outside 1970–2095 (the rule
/// every timestamp of every source follows, `read::time`) is refused by name.
fn bucket_span(bucket: &Value) -> std::result::Result<(i64, i64), String> {
    let plausible = |key: &str, micros: Option<i64>, shown: &dyn std::fmt::Display| match micros {
        Some(m) if (0..crate::read::time::LATEST_MICROS).contains(&m) => Ok(m),
        _ => Err(format!(
            "{key} {shown} is outside 1970–2095, the times inferledger reads"
        )),
    };
    let epoch = |key: &str| -> std::result::Result<Option<i64>, String> {
        let Some(value) = bucket.get(key).filter(|v| v.is_number()) else {
            return Ok(None);
        };
        let seconds = value.as_i64().or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        });
        match seconds {
            Some(s) => plausible(key, s.checked_mul(1_000_000), value).map(Some),
            None => Err(format!("{key} {value} is not whole epoch seconds")),
        }
    };
    let rfc3339 = |key: &str| -> std::result::Result<Option<i64>, String> {
        match bucket.get(key).and_then(Value::as_str) {
            None => Ok(None),
            Some(text) => chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| format!("{key} '{text}' is not an RFC 3339 time"))
                .and_then(|d| plausible(key, Some(d.timestamp_micros()), &text).map(Some)),
        }
    };
    let start = match epoch("start_time")? {
        Some(s) => s,
        None => rfc3339("starting_at")?
            .ok_or("no start_time (epoch seconds) or starting_at (RFC 3339)")?,
    };
    let end = match epoch("end_time")? {
        Some(e) => e,
        None => {
            rfc3339("ending_at")?.ok_or("no end_time (epoch seconds) or ending_at (RFC 3339)")?
        }
    };
    if end <= start {
        return Err("the bucket ends before it starts".to_string());
    }
    if end - start > 86_400_000_000 {
        return Err("buckets longer than a day cannot be reconciled by day; export with bucket_width 1d or less".to_string());
    }
    Ok((start, end))
}

/// Which export a result is from, by its own shape.
fn detect(result: &Value) -> Option<ProviderUsageFormat> {
    match result.get("object").and_then(Value::as_str) {
        Some("organization.usage.completions.result") => Some(ProviderUsageFormat::OpenaiUsage),
        Some("organization.costs.result") => Some(ProviderUsageFormat::OpenaiCosts),
        _ if result.get("uncached_input_tokens").is_some() => {
            Some(ProviderUsageFormat::AnthropicUsage)
        }
        _ if result.get("amount").is_some_and(Value::is_string) => {
            Some(ProviderUsageFormat::AnthropicCosts)
        }
        _ => None,
    }
}

fn text(result: &Value, key: &str) -> Option<String> {
    match result.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// A token or request count: a whole number, zero or more (absent or null is none).
fn count(result: &Value, path: &[&str]) -> std::result::Result<Option<i64>, String> {
    let mut value = result;
    for key in path {
        match value.get(key) {
            Some(v) => value = v,
            None => return Ok(None),
        }
    }
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n.as_i64().filter(|n| *n >= 0).map(Some).ok_or_else(|| {
            format!(
                "{} must be a whole number, 0 or more, found {n}",
                path.join(".")
            )
        }),
        other => Err(format!(
            "{} must be a number, found {other}",
            path.join(".")
        )),
    }
}

fn read_result(
    result: &Value,
    format: ProviderUsageFormat,
    bucket_start: i64,
    bucket_end: i64,
) -> std::result::Result<UsageRow, String> {
    let detected = detect(result);
    let format = match (format, detected) {
        (ProviderUsageFormat::Auto, Some(found)) => found,
        (ProviderUsageFormat::Auto, None) => {
            return Err("not a result of a known export (OpenAI usage or costs, Anthropic usage or cost report)".to_string());
        }
        (configured, Some(found)) if configured != found => {
            return Err(format!(
                "a {} result in a source configured as {}",
                found.name(),
                configured.name()
            ));
        }
        (configured, _) => configured,
    };
    let empty = UsageRow {
        model: text(result, "model"),
        project_id: text(result, "project_id").or_else(|| text(result, "workspace_id")),
        api_key_id: text(result, "api_key_id"),
        service_tier: text(result, "service_tier"),
        batch: result.get("batch").and_then(Value::as_bool),
        ..UsageRow::bucket("openai", "usage", bucket_start, bucket_end)
    };
    let row = match format {
        ProviderUsageFormat::OpenaiUsage => {
            let input = count(result, &["input_tokens"])?.unwrap_or(0);
            let cached = count(result, &["input_cached_tokens"])?.unwrap_or(0);
            if cached > input {
                return Err(format!(
                    "input_cached_tokens ({cached}) exceed input_tokens ({input}), which counts cached tokens inside"
                ));
            }
            UsageRow {
                requests: Some(count(result, &["num_model_requests"])?.unwrap_or(0)),
                input_tokens: Some(input),
                cache_read_tokens: Some(cached),
                cache_write_tokens: Some(0),
                output_tokens: Some(count(result, &["output_tokens"])?.unwrap_or(0)),
                ..empty
            }
        }
        ProviderUsageFormat::AnthropicUsage => {
            let uncached = count(result, &["uncached_input_tokens"])?.unwrap_or(0);
            let read = count(result, &["cache_read_input_tokens"])?.unwrap_or(0);
            let write = count(result, &["cache_creation", "ephemeral_5m_input_tokens"])?
                .unwrap_or(0)
                + count(result, &["cache_creation", "ephemeral_1h_input_tokens"])?.unwrap_or(0);
            UsageRow {
                provider: "anthropic",
                input_tokens: Some(uncached + read + write),
                cache_read_tokens: Some(read),
                cache_write_tokens: Some(write),
                output_tokens: Some(count(result, &["output_tokens"])?.unwrap_or(0)),
                ..empty
            }
        }
        ProviderUsageFormat::OpenaiCosts => {
            let amount = result.get("amount").ok_or("no amount")?;
            let currency = amount
                .get("currency")
                .and_then(Value::as_str)
                .unwrap_or("usd");
            if !currency.eq_ignore_ascii_case("usd") {
                return Err(format!(
                    "currency {currency}: only USD costs are reconciled"
                ));
            }
            let value = money(amount.get("value").unwrap_or(&Value::Null))?;
            // "gpt-4o-2024-08-06, input": the model, then what the line charges for.
            let line_item = text(result, "line_item");
            let (model, token_type) = match line_item.as_deref().and_then(|l| l.rsplit_once(',')) {
                Some((model, kind)) => (
                    Some(model.trim().to_string()),
                    Some(kind.trim().to_string()),
                ),
                None => (line_item.clone(), None),
            };
            UsageRow {
                kind: "cost",
                model,
                token_type,
                cost_usd: Some(value),
                description: line_item,
                ..empty
            }
        }
        ProviderUsageFormat::AnthropicCosts => {
            let currency = text(result, "currency").unwrap_or_else(|| "USD".to_string());
            if !currency.eq_ignore_ascii_case("usd") {
                return Err(format!(
                    "currency {currency}: only USD costs are reconciled"
                ));
            }
            // A decimal string in cents: "123.45" is $1.2345.
            let cents = money(result.get("amount").unwrap_or(&Value::Null))?;
            UsageRow {
                provider: "anthropic",
                kind: "cost",
                token_type: text(result, "token_type").or_else(|| text(result, "cost_type")),
                cost_usd: Some(cents / Decimal::ONE_HUNDRED),
                description: text(result, "description"),
                ..empty
            }
        }
        ProviderUsageFormat::Auto => unreachable!("auto is resolved above"),
    };
    if row.model.is_none() {
        return Err(format!(
            "no model: export {} grouped by model (OpenAI: group_by=model, or line_item for costs; Anthropic: group_by[]=model, or description for costs) to reconcile it per model",
            if row.kind == "cost" { "costs" } else { "usage" }
        ));
    }
    Ok(row)
}

/// An amount as the export writes it: a JSON number (through its shortest decimal text) or
/// decimal text.
fn money(value: &Value) -> std::result::Result<Decimal, String> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        other => return Err(format!("amount must be a number, found {other}")),
    };
    Decimal::from_str_exact(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("amount '{text}' is not a decimal number"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn only(page: Value, format: ProviderUsageFormat) -> std::result::Result<UsageRow, String> {
        let mut rows = results(&page, format);
        assert_eq!(rows.len(), 1);
        rows.remove(0).1
    }

    // Each shape below is the documented one (OpenAI's API reference for
    // /organization/usage/completions and /organization/costs; Anthropic's Admin API
    // reference for usage_report/messages and cost_report), with figures chosen by hand.

    #[test]
    fn openai_usage_counts_cached_tokens_inside_input() {
        let page = json!({"object": "page", "data": [{"object": "bucket",
            "start_time": 1794787200, "end_time": 1794873600,
            "results": [{"object": "organization.usage.completions.result",
                "input_tokens": 1000, "input_cached_tokens": 800, "output_tokens": 500,
                "num_model_requests": 5, "project_id": "proj_1", "model": "gpt-4o-mini-2024-07-18",
                "batch": false, "service_tier": "default"}]}],
            "has_more": false, "next_page": null});
        let row = only(page, ProviderUsageFormat::Auto).unwrap();
        assert_eq!(
            (
                row.provider,
                row.kind,
                row.requests,
                row.input_tokens,
                row.cache_read_tokens,
                row.output_tokens
            ),
            ("openai", "usage", Some(5), Some(1000), Some(800), Some(500))
        );
        // 2026-11-16T00:00:00Z to the next midnight.
        assert_eq!(
            (row.bucket_start, row.bucket_end),
            (1_794_787_200_000_000, 1_794_873_600_000_000)
        );
        assert_eq!(row.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    }

    #[test]
    fn openai_costs_split_the_line_item() {
        let page = json!({"object": "page", "data": [{"object": "bucket",
            "start_time": 1794787200, "end_time": 1794873600,
            "results": [{"object": "organization.costs.result",
                "amount": {"value": 0.06, "currency": "usd"},
                "line_item": "gpt-4o-2024-08-06, input", "project_id": null}]}]});
        let row = only(page, ProviderUsageFormat::OpenaiCosts).unwrap();
        assert_eq!(row.kind, "cost");
        assert_eq!(row.model.as_deref(), Some("gpt-4o-2024-08-06"));
        assert_eq!(row.token_type.as_deref(), Some("input"));
        assert_eq!(row.cost_usd, Some(Decimal::new(6, 2)));
    }

    #[test]
    fn anthropic_usage_adds_cache_reads_and_writes_to_input() {
        let page = json!({"data": [{"starting_at": "2026-11-16T00:00:00Z", "ending_at": "2026-11-17T00:00:00Z",
            "results": [{"uncached_input_tokens": 1500,
                "cache_creation": {"ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 500},
                "cache_read_input_tokens": 200, "output_tokens": 500,
                "workspace_id": "wrkspc_1", "model": "claude-sonnet-4-5-20250929",
                "service_tier": "standard", "context_window": "0-200k"}]}],
            "has_more": false, "next_page": null});
        let row = only(page, ProviderUsageFormat::Auto).unwrap();
        // 1,500 uncached + 200 read + 1,500 written = 3,200 prompt tokens.
        assert_eq!(
            (
                row.provider,
                row.input_tokens,
                row.cache_read_tokens,
                row.cache_write_tokens,
                row.output_tokens,
                row.requests
            ),
            (
                "anthropic",
                Some(3200),
                Some(200),
                Some(1500),
                Some(500),
                None
            )
        );
        assert_eq!(row.project_id.as_deref(), Some("wrkspc_1"));
    }

    #[test]
    fn anthropic_cost_amounts_are_cents() {
        let page = json!({"data": [{"starting_at": "2026-11-16T00:00:00Z", "ending_at": "2026-11-17T00:00:00Z",
            "results": [{"currency": "USD", "amount": "123.45", "model": "claude-sonnet-4-5-20250929",
                "cost_type": "tokens", "token_type": "uncached_input_tokens",
                "description": "Claude Sonnet 4.5 Usage - Input Tokens", "service_tier": "standard"}]}]});
        let row = only(page, ProviderUsageFormat::AnthropicCosts).unwrap();
        assert_eq!(row.cost_usd, Some(Decimal::new(12345, 4)));
        assert_eq!(row.token_type.as_deref(), Some("uncached_input_tokens"));
    }

    #[test]
    fn unreadable_results_say_why() {
        let bucket = |result: Value| json!({"data": [{"start_time": 1794787200, "end_time": 1794873600, "results": [result]}]});
        let cases = [
            (
                json!({"object": "organization.usage.completions.result", "input_tokens": 10, "input_cached_tokens": 20, "model": "m"}),
                "exceed input_tokens",
            ),
            (
                json!({"object": "organization.usage.completions.result", "input_tokens": -1, "model": "m"}),
                "0 or more",
            ),
            (
                json!({"object": "organization.usage.completions.result", "input_tokens": 1}),
                "group_by=model",
            ),
            (
                json!({"object": "organization.costs.result", "amount": {"value": 1, "currency": "eur"}, "line_item": "m, input"}),
                "only USD",
            ),
            (json!({"something": 1}), "not a result of a known export"),
        ];
        for (result, expected) in cases {
            let reason = only(bucket(result.clone()), ProviderUsageFormat::Auto).unwrap_err();
            assert!(
                reason.contains(expected) && reason.starts_with("bucket 1 result 1: "),
                "{result}: {reason}"
            );
        }
        let wrong = only(
            bucket(json!({"object": "organization.costs.result", "amount": {"value": 1}, "line_item": "m, input"})),
            ProviderUsageFormat::OpenaiUsage,
        )
        .unwrap_err();
        assert!(wrong.contains("configured as openai_usage"), "{wrong}");
        let long = json!({"data": [{"start_time": 0, "end_time": 172800, "results": [{}]}]});
        assert!(
            only(long, ProviderUsageFormat::Auto)
                .unwrap_err()
                .contains("longer than a day")
        );
    }

    /// Issue 30: bucket times outside 1970–2095 are refused by name: a start_time whose µs
    /// overflow an i64 (it wrapped to a plausible time), 1e13 written as a float, years 9999
    /// and 1870.
    #[test]
    fn bucket_times_outside_the_readable_years_are_refused() {
        let span = |bucket: Value| bucket_span(&bucket);
        assert_eq!(
            span(json!({"start_time": 1794787200, "end_time": 1794873600})),
            Ok((1_794_787_200_000_000, 1_794_873_600_000_000))
        );
        for (bucket, named) in [
            // × 10^6 is 9.2 × 10^21 µs: past i64, it wrapped to 2,170,157,932 s (2038).
            (
                json!({"start_time": 9_225_542_194_787_200_i64, "end_time": 1794873600}),
                "start_time 9225542194787200 is outside 1970–2095",
            ),
            (
                json!({"start_time": 1e13, "end_time": 1794873600}),
                "start_time 10000000000000.0 is outside 1970–2095",
            ),
            (
                json!({"starting_at": "9999-12-31T00:00:00Z", "ending_at": "9999-12-31T01:00:00Z"}),
                "starting_at 9999-12-31T00:00:00Z is outside 1970–2095",
            ),
            (
                json!({"starting_at": "1870-01-01T00:00:00Z", "ending_at": "1870-01-01T01:00:00Z"}),
                "starting_at 1870-01-01T00:00:00Z is outside 1970–2095",
            ),
            (
                json!({"start_time": 1794787200.5, "end_time": 1794873600}),
                "start_time 1794787200.5 is not whole epoch seconds",
            ),
        ] {
            let refused = span(bucket.clone()).unwrap_err();
            assert!(refused.contains(named), "{bucket}: {refused}");
        }
    }

    /// Issue 30: an export saved with a byte-order mark reads as without one (it failed
    /// "line 1, column 1: not a JSON page").
    #[test]
    fn a_byte_order_mark_is_not_part_of_the_page() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.json");
        std::fs::write(&path, "\u{feff}{\"data\": []}\n").unwrap();
        let text = read_text(&path).unwrap();
        let found = pages(&path, &text).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, 1);
    }

    #[test]
    fn pages_one_per_line_pretty_or_in_an_array_keep_their_lines() {
        let text = "{\"data\": []}\n\n{\n  \"data\": []\n}\n[{\"data\": []}, {\"data\": []}]\n";
        let lines: Vec<u64> = pages(Path::new("x.json"), text)
            .unwrap()
            .iter()
            .map(|p| p.line)
            .collect();
        assert_eq!(lines, vec![1, 3, 6, 6]);
        let error = pages(Path::new("x.json"), "{\"data\": [}\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 1, column 11"), "{error}");
    }
}
