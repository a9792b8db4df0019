//! What a run tells its readers: `run_summary.json` (every source's rows read, kept,
//! quarantined, duplicate and outside the window, unpriced models, timings, peak memory)
//! and `report.md` (headline figures with the thresholds users quote). Every figure comes
//! from the run's own tables through the SQL in `queries/report/`.

use std::fmt::Write as _;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::analyze::StepTiming;
use crate::common::arrow_util::{decimal_at, sql_batches, string_at};
use crate::common::error::Result;
use crate::publish::figures::queries;
use crate::sources::requests::SourceReport;

/// Why the window has no spend anomaly: too little history to judge any day (a day needs
/// 14 days of spend before it), or none rose above its normal level.
pub fn no_anomalies_because(history: &[RecordBatch]) -> String {
    let cell = |column: usize| {
        history
            .first()
            .filter(|b| b.num_rows() > 0)
            .and_then(|b| crate::common::arrow_util::text_at(b, column, 0))
    };
    let days: i64 = cell(2).and_then(|d| d.parse().ok()).unwrap_or(0);
    match (cell(0), cell(1)) {
        (Some(first), Some(last)) if days < 14 => format!(
            "Not enough history to look for anomalies: a day is judged against at least 14 days of spend before it, and the spend read starts {first}, {days} day{} before the window's last day ({last}). Nightly runs into this folder build the history up; from 14 days on, anomalies are looked for.",
            if days == 1 { "" } else { "s" }
        ),
        (None, _) | (_, None) => "None: no priced API spend to judge.".to_string(),
        _ => "None: no team × feature × model with 14 days of baseline rose more than 3 robust deviations and $1 above its 28-day and same-weekday medians.".to_string(),
    }
}

/// One source in the run summary.
#[derive(Debug, Clone, Serialize)]
pub struct SourceSummary {
    /// Ingest figures.
    #[serde(flatten)]
    pub ingest: SourceReport,
    /// Rows in the `requests` table from this source.
    pub rows_kept: u64,
    /// Staged rows dropped as repeats of a request_id.
    pub duplicates: u64,
    /// rows_read = rows_kept + rows_quarantined + duplicates + rows_outside_window +
    /// rows_not_requests.
    pub reconciles: bool,
}

/// Logged vs billed for one provider and month (`queries/report/reconciliation_headline.sql`).
#[derive(Debug, Clone, Serialize)]
pub struct ReconciliationHeadline {
    /// Provider.
    pub provider: String,
    /// `YYYY-MM`.
    pub month: String,
    /// The logs' requests priced at the catalog, where the provider's cost export covers.
    pub logged_cost_usd: Option<String>,
    /// What the provider's cost export billed.
    pub billed_cost_usd: Option<String>,
    /// Billed − logged.
    pub difference_usd: Option<String>,
    /// Share of the gross difference a reason explains (0–1; none without a difference).
    pub explained_share: Option<String>,
    /// The reasons found (besides `ok`).
    pub reasons: Option<String>,
}

/// The reconciliation headline rows.
pub async fn reconciliation_headline(ctx: &SessionContext) -> Result<Vec<ReconciliationHeadline>> {
    let batches = sql_batches(ctx, queries::RECONCILIATION).await?;
    let mut rows = Vec::new();
    for batch in &batches {
        let text =
            |column: usize, row: usize| crate::common::arrow_util::text_at(batch, column, row);
        for row in 0..batch.num_rows() {
            rows.push(ReconciliationHeadline {
                provider: text(0, row).unwrap_or_default(),
                month: text(1, row).unwrap_or_default(),
                logged_cost_usd: text(2, row),
                billed_cost_usd: text(3, row),
                difference_usd: text(4, row),
                explained_share: text(5, row),
                reasons: text(6, row),
            });
        }
    }
    Ok(rows)
}

/// A model without a price.
#[derive(Debug, Clone, Serialize)]
pub struct UnpricedModel {
    /// Model name (`(none)` when the log gave none).
    pub model: String,
    /// Requests.
    pub requests: i64,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
}

/// `run_summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// inferledger's version.
    pub version: String,
    /// Config file used.
    pub config: String,
    /// Output folder.
    pub out: String,
    /// The days the run covered (`--from`/`--to`, else the days of its data): only
    /// these days' partitions were replaced.
    pub window: Option<(String, String)>,
    /// Interactions, requests and history the run's figures rest on.
    pub coverage: Coverage,
    /// Things that are probably mistakes in the config (a pool matching no bill).
    pub warnings: Vec<String>,
    /// Start of the run (RFC 3339).
    pub started_at: String,
    /// End of the run.
    pub finished_at: String,
    /// Per request source.
    pub sources: Vec<SourceSummary>,
    /// Per billing source.
    pub billing: Vec<crate::sources::billing::BillingReport>,
    /// Per GPU metrics source.
    pub gpu_metrics: Vec<crate::sources::metrics::MetricsReport>,
    /// GPU spend reconciled: billed = attributed + idle + unassigned.
    pub gpu_spend: GpuSpend,
    /// The providers' usage and cost exports read.
    pub provider_usage: Vec<crate::sources::provider_usage::ProviderUsageReport>,
    /// Logged vs billed per provider and month (empty without provider exports).
    pub reconciliation: Vec<ReconciliationHeadline>,
    /// Days of the window that earlier runs had published, whose totals this run changed.
    #[serde(default)]
    pub restated: Vec<crate::read::published::Restatement>,
    /// Whole-run totals.
    pub totals: Totals,
    /// Models without a price.
    pub unpriced_models: Vec<UnpricedModel>,
    /// Price file overrides used, if any.
    pub price_file: Option<crate::prices::PriceFileSummary>,
    /// Costs rounded at 12 decimals (prices with more than 6 decimals per million tokens).
    pub rounded_costs: u64,
    /// Milliseconds per phase.
    pub timings_ms: Vec<StepTiming>,
    /// Peak resident memory of the process, bytes (Linux only).
    pub peak_rss_bytes: Option<u64>,
    /// Seconds the publication (moving files in, the Delta commits, the manifest) took;
    /// known only after `run_summary.json` is written, so not in it.
    #[serde(skip)]
    pub publish_seconds: Option<f64>,
}

/// Pools whose `resources`, `names` or `tags` rules matched no GPU billing row, when there
/// are bills: their GPU spend shows as unassigned, which is almost always a typo in a rule.
pub fn unmatched_pools(
    config: &crate::config::Config,
    matched: &std::collections::BTreeSet<String>,
) -> Vec<String> {
    if config.billing.is_empty() {
        return Vec::new();
    }
    config
        .pools
        .iter()
        .filter(|p| !(p.resources.is_empty() && p.names.is_empty() && p.tags.is_empty()))
        .filter(|p| !matched.contains(&p.name))
        .map(|p| {
            format!(
                "pool {}: its rules (resources {:?}, names {:?}, tags {:?}) match no GPU billing row of this run, so its GPU spend shows as unassigned",
                p.name, p.resources, p.names, p.tags
            )
        })
        .collect()
}

/// A pool whose `hosts` globs match no GPU metrics sample (a typo sends every sample to
/// no pool, and the pool's utilisation silently falls back to request timings or token
/// throughput), and a metrics source none of whose samples belongs to a pool: one warning
/// each, naming hosts the samples do have.
pub fn unmatched_pool_hosts(
    config: &crate::config::Config,
    metrics: &[crate::sources::metrics::MetricsReport],
) -> Vec<String> {
    let seen = |reports: &[&crate::sources::metrics::MetricsReport]| {
        let hosts: std::collections::BTreeSet<&String> =
            reports.iter().flat_map(|r| &r.unmatched_hosts).collect();
        if hosts.is_empty() {
            "none outside the pools".to_string()
        } else {
            hosts
                .into_iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let sampled: Vec<&crate::sources::metrics::MetricsReport> =
        metrics.iter().filter(|r| r.samples > 0).collect();
    if sampled.is_empty() {
        return Vec::new();
    }
    let mut warnings: Vec<String> = config
        .pools
        .iter()
        .filter(|p| !p.hosts.is_empty())
        .filter(|p| !sampled.iter().any(|r| r.pools_matched.contains(&p.name)))
        .map(|p| {
            format!(
                "pool {}: its hosts {:?} match no GPU metrics sample (hosts the samples name that match no pool: {}), so its utilisation is measured from request timings or token throughput, not DCGM",
                p.name,
                p.hosts,
                seen(&sampled)
            )
        })
        .collect();
    for report in &sampled {
        if report.samples_without_pool == report.samples && report.pools_matched.is_empty() {
            warnings.push(format!(
                "[[gpu_metrics]] {}: none of its {} samples belongs to a pool (hosts: {}); give the pools' `hosts` globs that match them",
                report.name,
                report.samples,
                seen(&[*report])
            ));
        }
    }
    warnings
}

/// The files the config's local input paths reach that no source reads (an unknown
/// suffix, a named pipe), one warning each, so nothing is skipped without a word.
pub fn skipped_inputs(config: &crate::config::Config) -> Vec<String> {
    let paths = config
        .requests
        .iter()
        .map(|s| ("requests", s.path.as_str()))
        .chain(config.billing.iter().map(|s| ("billing", s.path.as_str())))
        .chain(
            config
                .gpu_metrics
                .iter()
                .map(|s| ("gpu_metrics", s.path.as_str())),
        )
        .chain(
            config
                .provider_usage
                .iter()
                .map(|s| ("provider_usage", s.path.as_str())),
        );
    let mut warnings = Vec::new();
    for (block, path) in paths {
        for (file, why) in crate::read::files::skipped(&config.resolve(path)) {
            warnings.push(format!(
                "[[{block}]] path {path:?}: {} is not read: {why}",
                file.display()
            ));
        }
    }
    warnings
}

/// What the run read of history, what it left open, and what the decision tables cover.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Coverage {
    /// Requests of earlier nights read back because an interaction still open at the
    /// window's start holds them.
    pub history_requests_in_open_interactions: u64,
    /// Self-hosted requests of earlier nights still in flight at the window's start.
    pub history_requests_in_flight: u64,
    /// Requests of earlier nights whose prompt prefixes warm the ideal cache.
    pub history_requests_warming_cache: u64,
    /// Interactions still open at the end of the window (their last request less than the
    /// inactivity gap before it): reported by the run that sees them close.
    pub open_interactions: u64,
    /// First day of the decision tables' lookback.
    pub lookback_from: String,
    /// Last day of the lookback (the window's last day).
    pub lookback_to: String,
    /// Days with requests in the lookback (API figures scale by a month's days / these).
    pub request_days: u64,
    /// Hours with GPU billing in the lookback (GPU figures scale by a month's hours /
    /// these).
    pub billed_hours: u64,
    /// A month's days and hours as `month_factor` has them, for the report's text.
    #[serde(skip)]
    pub month_length: (String, String),
    /// Requests with prefix identity (hash_ids) but no block size, replayed with the
    /// documented block size of their trace (Mooncake: 512 tokens) or, with none, not
    /// replayed (their cache gap is estimated to the target hit ratio instead).
    pub prefix_without_block_size: u64,
}

/// Reads the coverage figures from a run's context after its steps.
pub async fn coverage(ctx: &SessionContext) -> Result<Coverage> {
    // An interaction is open when one of its requests ends less than the gap before the
    // horizon (interactions.sql closes it at its latest end + the gap): counted among
    // those few requests, not as every interaction less the closed ones.
    let sql = "SELECT \
        (SELECT COUNT(*) FROM requests_context WHERE in_open_session) AS c0, \
        (SELECT COUNT(*) FROM requests_context WHERE in_flight) AS c1, \
        (SELECT COUNT(*) FROM requests_context WHERE warms_cache) AS c2, \
        (SELECT COUNT(*) FROM (SELECT DISTINCT interaction_id, interaction_start FROM ( \
            SELECT interaction_id, interaction_start, ts, duration_ms FROM requests \
            UNION ALL SELECT interaction_id, interaction_start, ts, duration_ms \
            FROM requests_context WHERE in_open_session) \
          WHERE CAST(ts AS BIGINT) + COALESCE(duration_ms, 0) * 1000 \
                + (SELECT inactivity_gap_seconds FROM run_params) * 1000000 \
              >= (SELECT horizon_micros FROM run_params))) AS c3, \
        (SELECT lookback_from FROM month_factor) AS c4, (SELECT lookback_to FROM month_factor) AS c5, \
        (SELECT request_days FROM month_factor) AS c6, (SELECT billed_hours FROM month_factor) AS c7, \
        (SELECT COUNT(*) FROM requests WHERE prefix_blocks IS NOT NULL AND prefix_block_tokens IS NULL) AS c8, \
        (SELECT CAST(days_per_month AS VARCHAR) FROM month_factor) AS c9, \
        (SELECT CAST(hours_per_month AS VARCHAR) FROM month_factor) AS c10";
    let batches = sql_batches(ctx, sql).await?;
    let batch = &batches[0];
    let count = |i: usize| {
        datafusion::arrow::compute::cast(batch.column(i), &DataType::Int64)
            .ok()
            .and_then(|a| (!a.is_null(0)).then(|| a.as_primitive::<Int64Type>().value(0)))
            .unwrap_or(0)
            .max(0) as u64
    };
    Ok(Coverage {
        history_requests_in_open_interactions: count(0),
        history_requests_in_flight: count(1),
        history_requests_warming_cache: count(2),
        open_interactions: count(3),
        lookback_from: string_at(batch.column(4).as_ref(), 0).unwrap_or_default(),
        lookback_to: string_at(batch.column(5).as_ref(), 0).unwrap_or_default(),
        request_days: count(6),
        billed_hours: count(7),
        prefix_without_block_size: count(8),
        month_length: (
            string_at(batch.column(9).as_ref(), 0).unwrap_or_default(),
            string_at(batch.column(10).as_ref(), 0).unwrap_or_default(),
        ),
    })
}

/// Totals over every source.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Totals {
    /// Records read.
    pub rows_read: u64,
    /// Rows in `requests`.
    pub rows_kept: u64,
    /// Rows quarantined.
    pub rows_quarantined: u64,
    /// Duplicate rows dropped.
    pub duplicates: u64,
    /// Rows outside the window.
    pub rows_outside_window: u64,
    /// Rows that are not requests (Langfuse spans and events).
    pub rows_not_requests: u64,
    /// Exact total cost of priced requests, as a decimal string.
    pub cost_usd: String,
    /// Requests without a price.
    pub unpriced_requests: i64,
}

/// GPU spend, reconciled (exact decimal strings).
#[derive(Debug, Clone, Serialize, Default)]
pub struct GpuSpend {
    /// All GPU spend in the bills (the run's window).
    pub billed_usd: String,
    /// Attributed to teams, features and models.
    pub attributed_usd: String,
    /// Idle pool time.
    pub idle_usd: String,
    /// GPU spend no pool claims.
    pub unassigned_usd: String,
    /// billed = attributed + idle + unassigned.
    pub reconciles: bool,
}

/// GPU spend from the run's tables.
pub async fn gpu_spend(ctx: &SessionContext) -> Result<GpuSpend> {
    let batches = sql_batches(ctx, queries::GPU_SPEND).await?;
    let value = |name: &str| {
        batches
            .first()
            .and_then(|b| {
                b.column_by_name(name)
                    .and_then(|a| decimal_at(a.as_ref(), 0))
            })
            .unwrap_or(Decimal::ZERO)
    };
    let (billed, attributed, idle, unassigned) = (
        value("billed_usd"),
        value("attributed_usd"),
        value("idle_usd"),
        value("unassigned_usd"),
    );
    Ok(GpuSpend {
        billed_usd: billed.normalize().to_string(),
        attributed_usd: attributed.normalize().to_string(),
        idle_usd: idle.normalize().to_string(),
        unassigned_usd: unassigned.normalize().to_string(),
        reconciles: billed == attributed + idle + unassigned,
    })
}

fn int_at(batch: &RecordBatch, column: &str, row: usize) -> i64 {
    batch
        .column_by_name(column)
        .filter(|a| !a.is_null(row))
        .and_then(|a| a.as_primitive_opt::<Int64Type>().map(|p| p.value(row)))
        .unwrap_or(0)
}

/// Completes the source figures with kept and duplicate counts, from SQL.
pub async fn source_summaries(
    ctx: &SessionContext,
    sources: &[SourceReport],
) -> Result<Vec<SourceSummary>> {
    let batches = sql_batches(ctx, queries::KEPT_BY_SOURCE).await?;
    let mut kept = std::collections::HashMap::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let name = string_at(batch.column(0).as_ref(), row).unwrap_or_default();
            kept.insert(name, int_at(batch, "rows_kept", row) as u64);
        }
    }
    Ok(sources
        .iter()
        .map(|s| {
            let rows_kept = kept.get(&s.name).copied().unwrap_or(0);
            let duplicates = s.rows_staged.saturating_sub(rows_kept);
            SourceSummary {
                reconciles: s.rows_read
                    == rows_kept
                        + s.rows_quarantined
                        + duplicates
                        + s.rows_outside_window
                        + s.rows_not_requests,
                ingest: s.clone(),
                rows_kept,
                duplicates,
            }
        })
        .collect())
}

/// Unpriced models, from SQL.
pub async fn unpriced_models(ctx: &SessionContext) -> Result<Vec<UnpricedModel>> {
    let mut models = Vec::new();
    for batch in sql_batches(ctx, queries::UNPRICED).await? {
        for row in 0..batch.num_rows() {
            models.push(UnpricedModel {
                model: string_at(batch.column(0).as_ref(), row).unwrap_or_default(),
                requests: int_at(&batch, "requests", row),
                input_tokens: int_at(&batch, "input_tokens", row),
                output_tokens: int_at(&batch, "output_tokens", row),
            });
        }
    }
    Ok(models)
}

/// Total cost and unpriced requests, from SQL.
pub async fn cost_totals(ctx: &SessionContext) -> Result<(Decimal, i64)> {
    let batches = sql_batches(ctx, queries::HEADLINE).await?;
    let batch = &batches[0];
    let cost = batch
        .column_by_name("cost_usd")
        .and_then(|a| decimal_at(a.as_ref(), 0))
        .unwrap_or(Decimal::ZERO);
    Ok((cost, int_at(batch, "unpriced_requests", 0)))
}

/// Peak resident memory of this process, from `/proc/self/status` (VmHWM).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `1234567` → `1,234,567`.
pub fn thousands(digits: &str) -> String {
    let (sign, digits) = digits.strip_prefix('-').map_or(("", digits), |d| ("-", d));
    let (int, frac) = digits
        .split_once('.')
        .map_or((digits, None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// Money for people: `$1,234.57` (or 4 places for per-unit figures).
pub fn money(value: Decimal, places: u32) -> String {
    // Half away from zero, as invoices and SQL's CAST to DECIMAL round: one rule everywhere.
    let rounded =
        value.round_dp_with_strategy(places, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    let text = format!("{:.*}", places as usize, rounded);
    match text.strip_prefix('-') {
        Some(t) => format!("-${}", thousands(t)),
        None => format!("${}", thousands(&text)),
    }
}

fn cell(batch: &RecordBatch, column: usize, row: usize) -> (String, bool) {
    let array = batch.column(column);
    let name = batch.schema().field(column).name().clone();
    if array.is_null(row) {
        return ("–".to_string(), true);
    }
    match array.data_type() {
        DataType::Decimal128(..) => {
            let value = decimal_at(array.as_ref(), row).unwrap_or_default();
            let places = if name.contains("per_") { 4 } else { 2 };
            (money(value, places), true)
        }
        DataType::Float64 => {
            let v = array
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                .value(row);
            if name.contains("ratio")
                || name.contains("rate")
                || name.contains("utilization")
                || name.contains("share")
            {
                (format!("{:.1}%", v * 100.0), true)
            } else {
                (thousands(&format!("{v:.1}")), true)
            }
        }
        DataType::Int64 => (thousands(&int_at(batch, &name, row).to_string()), true),
        _ => {
            let options = FormatOptions::default().with_null("–");
            let text = ArrayFormatter::try_new(array.as_ref(), &options)
                .map(|f| f.value(row).to_string())
                .unwrap_or_default();
            (markdown_text(&text), false)
        }
    }
}

/// Text from the data (team, feature, model names) made safe inside Markdown: table pipes,
/// HTML, emphasis and code marks are escaped and line breaks become spaces, so a name like
/// `a|b` or `<img …>` shows as written and breaks nothing.
pub fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// Batches as a Markdown table, numbers right-aligned with separators, money in dollars.
pub fn markdown_table(batches: &[RecordBatch], max_rows: usize) -> String {
    let Some(first) = batches.first() else {
        return "_(no rows)_\n".to_string();
    };
    let schema = first.schema();
    let mut rows: Vec<Vec<(String, bool)>> = Vec::new();
    'outer: for batch in batches {
        for row in 0..batch.num_rows() {
            if rows.len() == max_rows {
                break 'outer;
            }
            rows.push(
                (0..batch.num_columns())
                    .map(|c| cell(batch, c, row))
                    .collect(),
            );
        }
    }
    if rows.is_empty() {
        return "_(no rows)_\n".to_string();
    }
    let numeric: Vec<bool> = (0..schema.fields().len())
        .map(|c| rows.iter().all(|r| r[c].1))
        .collect();
    let mut out = String::new();
    let header: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let rule: Vec<&str> = numeric
        .iter()
        .map(|n| if *n { "---:" } else { "---" })
        .collect();
    let _ = writeln!(out, "| {} |", rule.join(" | "));
    for row in rows {
        let cells: Vec<String> = row.into_iter().map(|(t, _)| t).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

/// What users call a hit ratio (the thresholds they quote).
pub fn hit_ratio_verdict(ratio: f64) -> &'static str {
    if ratio < 0.20 {
        "expensive: under 20%, much prefill is paid again"
    } else if ratio < 0.30 {
        "below typical (20–30%)"
    } else if ratio <= 0.50 {
        "typical (30–50%)"
    } else {
        "good (above 50%)"
    }
}

/// Writes `report.md` from the run's tables.
pub fn report_markdown(
    figures: &crate::publish::figures::ReportFigures,
    summary: &RunSummary,
) -> Result<String> {
    let mut md = String::new();
    let headline = figures.rows(queries::HEADLINE);
    let h = &headline[0];
    let requests = int_at(h, "requests", 0);
    let fmt = |name: &str| {
        h.column_by_name(name)
            .map(|a| {
                ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default())
                    .map(|f| f.value(0).to_string())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    };
    let cost = h
        .column_by_name("cost_usd")
        .and_then(|a| decimal_at(a.as_ref(), 0))
        .unwrap_or_default();
    let _ = writeln!(md, "# inferledger report\n");
    let _ = writeln!(
        md,
        "Requests from {} to {} (UTC). Generated {} by inferledger {}.\n",
        fmt("first_request"),
        fmt("last_request"),
        summary.finished_at,
        summary.version
    );
    for warning in &summary.warnings {
        let _ = writeln!(md, "**Warning:** {}\n", markdown_text(warning));
    }
    if !summary.restated.is_empty() {
        let _ = writeln!(
            md,
            "## Restated since the last run

This run replaced days an earlier run had published, and these totals changed (`inferledger history` lists the runs; `sql --as-of RUN` reads the tables as an earlier run left them).

| Day | Figure | Before | Now |\n|---|---|---:|---:|"
        );
        for r in &summary.restated {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                r.day,
                markdown_text(&r.table),
                r.old_total,
                r.new_total
            );
        }
        let _ = writeln!(md);
    }
    let c = &summary.coverage;
    if let Some((from, to)) = &summary.window {
        let _ = writeln!(
            md,
            "Window {from} to {to}: only these days' partitions were replaced. Interactions are reported on the day they close (the inactivity gap after their last request); {} still open at the window's end are left for the run that sees them close. From earlier nights' history: {} requests of interactions still open, {} self-hosted requests in flight at midnight, {} requests warming the ideal cache.\n",
            c.open_interactions,
            c.history_requests_in_open_interactions,
            c.history_requests_in_flight,
            c.history_requests_warming_cache
        );
    }
    let _ = writeln!(
        md,
        "Decisions (break-even, recommendations, spot volatility) cover the published history from {} to {}: {} days with requests (API figures × {} / {}), {} hours of GPU billing (GPU figures × {} / {}).\n",
        c.lookback_from,
        c.lookback_to,
        c.request_days,
        c.month_length.0,
        c.request_days,
        c.billed_hours,
        c.month_length.1,
        c.billed_hours
    );
    if c.prefix_without_block_size > 0 {
        let _ = writeln!(
            md,
            "Note: {} requests carry prompt-prefix identity (hash_ids or prefix_hash) but no block size; set `prefix_block_tokens` in their source's [requests.defaults] to replay them in the ideal cache (their gap is estimated to the target hit ratio instead).\n",
            c.prefix_without_block_size
        );
    }
    let _ = writeln!(md, "## Headline\n");
    let _ = writeln!(
        md,
        "- **API spend:** {} over {} API requests",
        money(cost, 2),
        thousands(&requests.to_string())
    );
    let gpu = &summary.gpu_spend;
    let self_hosted = int_at(h, "self_hosted_requests", 0);
    if !summary.billing.is_empty() || self_hosted > 0 {
        let dec = |t: &str| t.parse::<Decimal>().unwrap_or_default();
        let _ = writeln!(
            md,
            "- **Self-hosted GPU spend:** {} billed: {} attributed to the {} requests the pools served, {} idle, {} on GPUs no pool claims",
            money(dec(&gpu.billed_usd), 2),
            money(dec(&gpu.attributed_usd), 2),
            thousands(&self_hosted.to_string()),
            money(dec(&gpu.idle_usd), 2),
            money(dec(&gpu.unassigned_usd), 2)
        );
    }
    if summary.totals.unpriced_requests > 0 {
        let _ = writeln!(
            md,
            "- **Unpriced:** {} requests have no price (cost unknown, not counted above): {}",
            thousands(&summary.totals.unpriced_requests.to_string()),
            summary
                .unpriced_models
                .iter()
                .map(|m| format!("{} ({})", markdown_text(&m.model), m.requests))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let hit_ratio = h
        .column_by_name("hit_ratio")
        .filter(|a| !a.is_null(0))
        .map(|a| {
            a.as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                .value(0)
        });
    if let Some(ratio) = hit_ratio {
        let saved = h
            .column_by_name("cache_saved_usd")
            .and_then(|a| decimal_at(a.as_ref(), 0))
            .unwrap_or_default();
        let premium = h
            .column_by_name("cache_write_premium_usd")
            .and_then(|a| decimal_at(a.as_ref(), 0))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "- **Prompt-cache hit ratio:** {:.1}% of input tokens ({}); caching saved {}, cache writes cost {} extra",
            ratio * 100.0,
            hit_ratio_verdict(ratio),
            money(saved, 2),
            money(premium, 2)
        );
    }
    let interactions = figures.rows(queries::INTERACTIONS);
    if let Some(i) = interactions.first() {
        let per = i
            .column_by_name("cost_per_completed_interaction")
            .and_then(|a| decimal_at(a.as_ref(), 0));
        let amount = |name: &str| {
            i.column_by_name(name)
                .and_then(|a| decimal_at(a.as_ref(), 0))
                .unwrap_or_default()
        };
        let api_share = i
            .column_by_name("api_share")
            .filter(|a| !a.is_null(0))
            .map(|a| {
                a.as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                    .value(0)
            });
        let _ = writeln!(
            md,
            "- **Interactions:** {} of {} completed; cost per completed interaction {} (API and GPU together, abandoned work priced in: {} spent on abandoned interactions); {} of the cost is API, {} GPU; the median interaction costs {}",
            thousands(&int_at(i, "completed_interactions", 0).to_string()),
            thousands(&int_at(i, "interactions", 0).to_string()),
            per.map(|p| money(p, 4)).unwrap_or_else(|| "–".to_string()),
            money(amount("abandoned_cost_usd"), 2),
            api_share.map_or("–".to_string(), |s| format!("{:.1}%", s * 100.0)),
            api_share.map_or("–".to_string(), |s| format!("{:.1}%", (1.0 - s) * 100.0)),
            money(amount("median_cost_per_interaction"), 4)
        );
    }
    let _ = writeln!(md, "\n## Prompt caching by model\n");
    let _ = writeln!(
        md,
        "Thresholds users quote: under 20% is expensive, 30–50% is typical.\n"
    );
    md.push_str(&markdown_table(figures.rows(queries::CACHE_BY_MODEL), 30));
    let _ = writeln!(
        md,
        "\n## Cost per completed interaction by team and feature\n"
    );
    md.push_str(&markdown_table(
        figures.rows(queries::COST_PER_COMPLETED),
        30,
    ));
    let _ = writeln!(md, "\n## Spend by team and feature\n");
    md.push_str(&markdown_table(figures.rows(queries::SPEND_BY_TEAM), 30));
    let logged = figures.rows(queries::LOGGED_COST_BY_MODEL);
    if logged.iter().any(|b| b.num_rows() > 0) {
        let _ = writeln!(md, "\n## Computed cost vs the logs' own cost\n");
        let _ = writeln!(
            md,
            "Some logs state what each request cost (LiteLLM's `spend`, kept as `requests.source_cost_usd`). Where the two differ, the price catalog or the log is out of date, or the log prices cache tokens differently; `difference_usd` is computed − logged over the requests both sides price.\n"
        );
        md.push_str(&markdown_table(logged, 30));
    }
    let _ = writeln!(md, "\n## Month-end forecast (API spend)\n");
    let _ = writeln!(
        md,
        "Month to date, and projected to the month's end at the observed daily mean with a 95% interval (days treated as independent; GPU bills are left out: they hold the month's commitments already).\n"
    );
    md.push_str(&markdown_table(figures.rows(queries::SPEND_FORECAST), 12));
    let anomalies = figures.rows(queries::SPEND_ANOMALIES);
    let _ = writeln!(md, "\n## Spend anomalies\n");
    if anomalies.iter().any(|b| b.num_rows() > 0) {
        let _ = writeln!(
            md,
            "Days whose API spend on a team × feature × model rose more than 3 robust deviations (and $1) above the larger of its 28-day and same-weekday medians; `impact_usd` is the spend above that level.\n"
        );
        md.push_str(&markdown_table(anomalies, 15));
    } else {
        let _ = writeln!(
            md,
            "{}",
            no_anomalies_because(figures.rows(queries::ANOMALY_HISTORY))
        );
    }
    if !summary.provider_usage.is_empty() {
        let _ = writeln!(md, "\n## Logged vs billed\n");
        let _ = writeln!(
            md,
            "The logs' requests priced at the catalog against the providers' own cost exports, over the days and providers an export covers (`difference_usd` = billed − logged). `explained_share` is the share of the gross difference a reason explains; the `reconciliation` table has each day × provider × model with its reason.\n"
        );
        md.push_str(&markdown_table(figures.rows(queries::RECONCILIATION), 30));
        let findings = figures.rows(queries::RECONCILIATION_FINDINGS);
        if findings.iter().any(|b| b.num_rows() > 0) {
            let _ = writeln!(md, "\nThe differences, largest first:\n");
            md.push_str(&markdown_table(findings, 20));
        }
    }
    if !summary.billing.is_empty() {
        let _ = writeln!(md, "\n## Self-hosted pools\n");
        let _ = writeln!(
            md,
            "Utilisation is busy GPU-hours / GPU-hours billed; `method` says how it was measured (dcgm, requests, throughput). Idle cost is the part of the bill no request used. GPU spend no pool claims: {}.\n",
            money(
                summary
                    .gpu_spend
                    .unassigned_usd
                    .parse::<Decimal>()
                    .unwrap_or_default(),
                2
            )
        );
        md.push_str(&markdown_table(figures.rows(queries::POOLS), 30));
        let _ = writeln!(
            md,
            "\n### Utilisation by hour of day (UTC)\n\nMarks users quote: many self-hosted fleets run at 15–25%; below 30% an API would likely have been cheaper; above 60% self-hosting wins.\n"
        );
        md.push_str(&markdown_table(
            figures.rows(queries::POOL_HOUR_OF_DAY),
            24 * 8,
        ));
    }
    let rightsizing = figures.rows(queries::RIGHTSIZING);
    if rightsizing.iter().any(|b| b.num_rows() > 0) {
        let _ = writeln!(md, "\n## Right-sizing the pools\n");
        let _ = writeln!(
            md,
            "GPUs needed at the target utilisation, from the busiest day at each hour (`pool_rightsizing` has every hour of the day); GPUs go back whole instances at a time.\n"
        );
        md.push_str(&markdown_table(rightsizing, 20));
    }
    let _ = writeln!(md, "\n## Recommendations\n");
    let total = figures.rows(queries::SAVINGS_TOTAL);
    let amount = |name: &str| {
        total
            .first()
            .and_then(|b| b.column_by_name(name))
            .and_then(|a| decimal_at(a.as_ref(), 0))
            .unwrap_or_default()
    };
    let _ = writeln!(
        md,
        "**Together they save {} a month**, each dollar counted once (`savings_by_spend`: steps on the same spend stack, alternatives count once); the rules' own figures add up to {}, {} of it counted twice. Abandoned interactions ({} a month) are an upper bound and not added.\n",
        money(amount("combined_monthly_savings_usd"), 2),
        money(amount("rules_sum_usd"), 2),
        money(amount("overlap_usd"), 2),
        money(amount("upper_bound_usd"), 2)
    );
    let _ = writeln!(
        md,
        "Ranked by estimated monthly savings; the whole list, with evidence, is the `recommendations` table.\n"
    );
    md.push_str(&markdown_table(figures.rows(queries::RECOMMENDATIONS), 10));
    let _ = writeln!(md, "\n## Inputs\n");
    let _ = writeln!(
        md,
        "| source | format | rows read | kept | quarantined | duplicates | outside window |"
    );
    let _ = writeln!(md, "| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for s in &summary.sources {
        let mut read_as: Vec<&str> = s.ingest.files.iter().map(|f| f.format.as_str()).collect();
        read_as.sort();
        read_as.dedup();
        let format = if s.ingest.format == "auto" {
            format!("auto → {}", read_as.join(", "))
        } else {
            s.ingest.format.clone()
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            markdown_text(&s.ingest.name),
            format,
            thousands(&s.ingest.rows_read.to_string()),
            thousands(&s.rows_kept.to_string()),
            thousands(&s.ingest.rows_quarantined.to_string()),
            thousands(&s.duplicates.to_string()),
            thousands(&s.ingest.rows_outside_window.to_string())
        );
    }
    for b in &summary.billing {
        let _ = writeln!(
            md,
            "| {} ({} GPU rows, {} not GPU) | {} | {} | {} | {} | – | {} |",
            markdown_text(&b.name),
            thousands(&b.rows_gpu.to_string()),
            thousands(&b.rows_non_gpu.to_string()),
            b.format,
            thousands(&b.rows_read.to_string()),
            thousands(&(b.rows_gpu + b.rows_non_gpu).to_string()),
            thousands(&b.rows_quarantined.to_string()),
            thousands(&b.rows_outside_window.to_string())
        );
    }
    let quarantined: u64 = summary
        .sources
        .iter()
        .map(|s| s.ingest.rows_quarantined)
        .sum::<u64>()
        + summary
            .billing
            .iter()
            .map(|b| b.rows_quarantined)
            .sum::<u64>();
    if quarantined > 0 {
        let _ = writeln!(
            md,
            "\nQuarantined rows are in `quarantine/` with file, line, reason and raw text. Commonest reasons:\n"
        );
        for s in &summary.sources {
            for (reason, n) in &s.ingest.quarantine_reasons {
                let _ = writeln!(md, "- {}: {n}× {reason}", s.ingest.name);
            }
        }
        for b in &summary.billing {
            for (reason, n) in &b.quarantine_reasons {
                let _ = writeln!(md, "- {}: {n}× {reason}", b.name);
            }
        }
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn formats_money_and_counts() {
        assert_eq!(thousands("1234567"), "1,234,567");
        assert_eq!(thousands("123"), "123");
        assert_eq!(
            money(Decimal::from_str("1234.5678").unwrap(), 2),
            "$1,234.57"
        );
        assert_eq!(money(Decimal::from_str("0.00975").unwrap(), 4), "$0.0098");
        assert_eq!(money(Decimal::from_str("-12.5").unwrap(), 2), "-$12.50");
    }
}
