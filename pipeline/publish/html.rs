//! `report.html`: one self-contained page (no network, no scripts, inline SVG), readable on
//! a laptop and printable. Every number and every chart mark comes from the run's tables
//! through the queries of `queries/report/` (loaded once with report.md's,
//! `publish::figures`); nothing is typed into the template.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use rust_decimal::Decimal;

use crate::common::arrow_util::{decimal_at, string_at};
use crate::common::error::Result;
use crate::publish::figures::ReportFigures;
use crate::publish::figures::queries;
use crate::publish::summary::{RunSummary, money, thousands};

const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Rows of a query as text and numbers, by column name.
struct Rows {
    batches: Vec<RecordBatch>,
}

impl Rows {
    /// The rows of one of the report's queries.
    fn of(figures: &ReportFigures, sql: &'static str) -> Rows {
        Rows {
            batches: figures.rows(sql).to_vec(),
        }
    }

    /// The distinct values of a text column, sorted (a chart's categories).
    fn distinct(&self, column: &str) -> Vec<String> {
        self.each()
            .map(|(b, r)| text(b, column, r))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    fn each(&self) -> impl Iterator<Item = (&RecordBatch, usize)> {
        self.batches
            .iter()
            .flat_map(|b| (0..b.num_rows()).map(move |r| (b, r)))
    }
}

fn text(batch: &RecordBatch, name: &str, row: usize) -> String {
    batch
        .column_by_name(name)
        .and_then(|a| string_at(a.as_ref(), row))
        .unwrap_or_else(|| "(none)".to_string())
}

fn number(batch: &RecordBatch, name: &str, row: usize) -> Option<f64> {
    let array = batch.column_by_name(name)?;
    if array.is_null(row) {
        return None;
    }
    let cast = datafusion::arrow::compute::cast(&array.slice(row, 1), &DataType::Float64).ok()?;
    Some(cast.as_primitive::<Float64Type>().value(0))
}

fn dec(batch: &RecordBatch, name: &str, row: usize) -> Option<Decimal> {
    batch
        .column_by_name(name)
        .and_then(|a| decimal_at(a.as_ref(), row))
}

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 70.0;
const BOTTOM: f64 = 40.0;
const TOP: f64 = 20.0;

/// A round top for an axis and its step: 1, 2, 2.5 or 5 × 10^k, four or five steps.
fn nice_scale(max: f64) -> (f64, f64) {
    let max = max.max(1e-9);
    let raw = max / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    ((max / step).ceil() * step, step)
}

/// Draws grid lines and labels at round values up to `max` (from [`nice_scale`]).
fn axis(svg: &mut String, max: f64, format: &dyn Fn(f64) -> String) {
    let (top, step) = nice_scale(max);
    let steps = (top / step).round() as usize;
    for i in 0..=steps {
        let value = step * i as f64;
        let y = HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * value / top;
        let _ = write!(
            svg,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{WIDTH}" y2="{y:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            escape(&format(value))
        );
    }
}

/// Draws grid lines and labels at each power of ten from `low` to `high` (a log axis).
fn log_axis(svg: &mut String, low: f64, high: f64, format: &dyn Fn(f64) -> String) {
    let (from, to) = (low.log10().floor() as i32, high.log10().ceil() as i32);
    for k in from..=to {
        let value = 10f64.powi(k);
        let y = HEIGHT
            - BOTTOM
            - (HEIGHT - BOTTOM - TOP) * f64::from(k - from) / f64::from((to - from).max(1));
        let _ = write!(
            svg,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{WIDTH}" y2="{y:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            escape(&format(value))
        );
    }
}

/// Dash patterns that tell apart lines of the same colour: the palette's colours solid
/// first, then dashed, then dotted, so up to 30 series each look different.
const DASHES: [&str; 3] = ["none", "6 3", "2 2"];

/// The colour and dash of series `i`.
fn series_style(i: usize) -> (&'static str, &'static str) {
    (
        PALETTE[i % PALETTE.len()],
        DASHES[(i / PALETTE.len()) % DASHES.len()],
    )
}

/// The legend: a swatch per series (a line sample with its dash when `as_lines`).
fn legend(svg: &mut String, names: &[String], as_lines: bool) {
    for (i, name) in names.iter().enumerate() {
        let x = LEFT + (i % 6) as f64 * 140.0;
        let y = HEIGHT + 14.0 + (i / 6) as f64 * 16.0;
        let (color, dash) = series_style(i);
        if as_lines {
            let _ = write!(
                svg,
                r#"<line x1="{x:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
                y - 4.0,
                x + 12.0,
                y - 4.0,
            );
        } else {
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="{color}"/>"#,
                y - 9.0,
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" class="tick">{}</text>"#,
            x + 14.0,
            y,
            escape(name)
        );
    }
}

/// Every how many categories an axis label is written so that labels stay at least 64
/// units apart (40 days on a 900-unit chart: every third).
fn label_every(categories: usize) -> usize {
    let band = (WIDTH - LEFT) / categories.max(1) as f64;
    ((64.0 / band).ceil() as usize).max(1)
}

/// At most as many series as the palette has colours, so no two bars share one: the
/// largest by total keep their own, the rest are summed into one "other (N)" series.
fn fold_to_palette(series: &BTreeMap<String, Vec<f64>>) -> BTreeMap<String, Vec<f64>> {
    if series.len() <= PALETTE.len() {
        return series.clone();
    }
    let mut by_total: Vec<(&String, &Vec<f64>)> = series.iter().collect();
    by_total.sort_by(|a, b| {
        let total = |v: &Vec<f64>| v.iter().sum::<f64>();
        total(b.1).total_cmp(&total(a.1)).then(a.0.cmp(b.0))
    });
    let kept = PALETTE.len() - 1;
    let mut folded: BTreeMap<String, Vec<f64>> = by_total[..kept]
        .iter()
        .map(|(name, values)| ((*name).clone(), (*values).clone()))
        .collect();
    let rest = &by_total[kept..];
    let mut other = vec![0.0; rest[0].1.len()];
    for (_, values) in rest {
        for (sum, v) in other.iter_mut().zip(values.iter()) {
            *sum += v;
        }
    }
    folded.insert(format!("other ({})", rest.len()), other);
    folded
}

fn open_svg(id: &str, title: &str, legend_rows: usize) -> String {
    let height = HEIGHT + 10.0 + legend_rows as f64 * 16.0;
    format!(
        r#"<figure><figcaption>{}</figcaption><svg id="{id}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}">"#,
        escape(title),
        escape(title)
    )
}

fn dollars(v: f64) -> String {
    money(Decimal::try_from(v).unwrap_or_default(), 0)
}

/// Stacked bars: one bar per category, one segment (mark) per non-zero value.
fn stacked_bars(
    id: &str,
    title: &str,
    categories: &[String],
    series: &BTreeMap<String, Vec<f64>>,
) -> String {
    let series = &fold_to_palette(series);
    let names: Vec<String> = series.keys().cloned().collect();
    let mut svg = open_svg(id, title, names.len().div_ceil(6));
    let every = label_every(categories.len());
    let totals: Vec<f64> = (0..categories.len())
        .map(|i| series.values().map(|v| v[i].max(0.0)).sum())
        .collect();
    let max = nice_scale(totals.iter().cloned().fold(0.0, f64::max)).0;
    axis(&mut svg, max, &dollars);
    let band = (WIDTH - LEFT) / categories.len().max(1) as f64;
    for (i, category) in categories.iter().enumerate() {
        let x = LEFT + band * i as f64 + band * 0.15;
        let mut y = HEIGHT - BOTTOM;
        for (s, (name, values)) in series.iter().enumerate() {
            let v = values[i];
            if v <= 0.0 {
                continue;
            }
            let h = (HEIGHT - BOTTOM - TOP) * v / max;
            y -= h;
            let _ = write!(
                svg,
                r#"<rect class="mark" x="{x:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{} {}: {}</title></rect>"#,
                band * 0.7,
                series_style(s).0,
                escape(category),
                escape(name),
                dollars(v)
            );
        }
        if i % every == 0 {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="middle">{}</text>"#,
                x + band * 0.35,
                HEIGHT - BOTTOM + 14.0,
                escape(category)
            );
        }
    }
    legend(&mut svg, &names, false);
    svg.push_str("</svg></figure>");
    svg
}

/// The y scale of a line chart.
#[derive(Debug, Clone, Copy)]
enum Scale {
    /// From 0 to this value (a ratio: 1).
    Fixed(f64),
    /// Powers of ten (values spanning orders of magnitude, like cost per interaction).
    Log,
}

/// Lines: one polyline per series, one circle (mark) per known point; optional bands.
fn lines(
    id: &str,
    title: &str,
    categories: &[String],
    series: &BTreeMap<String, Vec<Option<f64>>>,
    bands: &[(f64, f64, &str, &str)],
    format: &dyn Fn(f64) -> String,
    scale: Scale,
) -> String {
    let names: Vec<String> = series.keys().cloned().collect();
    let mut svg = open_svg(id, title, names.len().div_ceil(6));
    let known = || series.values().flatten().flatten().cloned();
    let max = match scale {
        Scale::Fixed(max) => max,
        Scale::Log => nice_scale(known().fold(0.0, f64::max)).0,
    };
    // A log scale spans the powers of ten around the positive values.
    let (low_k, high_k) = (
        known()
            .filter(|v| *v > 0.0)
            .fold(f64::MAX, f64::min)
            .min(max)
            .log10()
            .floor(),
        known().fold(1e-9, f64::max).log10().ceil(),
    );
    let y_of = |v: f64| match scale {
        Scale::Log => {
            let span = (high_k - low_k).max(1.0);
            HEIGHT
                - BOTTOM
                - (HEIGHT - BOTTOM - TOP) * ((v.max(1e-12).log10() - low_k) / span).clamp(0.0, 1.0)
        }
        _ => HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * (v / max).min(1.0),
    };
    for (lo, hi, label, color) in bands {
        let _ = write!(
            svg,
            r#"<rect class="band" x="{LEFT}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}" opacity="0.18"/><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"#,
            y_of(*hi),
            WIDTH - LEFT,
            (y_of(*lo) - y_of(*hi)).max(1.0),
            WIDTH - 4.0,
            y_of(*hi) + 12.0,
            escape(label)
        );
    }
    match scale {
        Scale::Log => log_axis(&mut svg, 10f64.powf(low_k), 10f64.powf(high_k), format),
        _ => axis(&mut svg, max, format),
    }
    let step = (WIDTH - LEFT) / categories.len().max(1) as f64;
    let x_of = |i: usize| LEFT + step * (i as f64 + 0.5);
    let every = label_every(categories.len());
    for (i, category) in categories.iter().enumerate().step_by(every) {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="middle">{}</text>"#,
            x_of(i),
            HEIGHT - BOTTOM + 14.0,
            escape(category)
        );
    }
    for (s, (name, values)) in series.iter().enumerate() {
        let (color, dash) = series_style(s);
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", x_of(i), y_of(v))))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="line" fill="none" stroke="{color}" stroke-dasharray="{dash}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v {
                let _ = write!(
                    svg,
                    r#"<circle class="mark" cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}"><title>{} {}: {}</title></circle>"#,
                    x_of(i),
                    y_of(*v),
                    escape(&categories[i]),
                    escape(name),
                    escape(&format(*v))
                );
            }
        }
    }
    legend(&mut svg, &names, true);
    svg.push_str("</svg></figure>");
    svg
}

fn percent(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

/// A heatmap per pool: days down, hours of day across, one cell (mark) per billed hour.
fn heatmap(id: &str, title: &str, cells: &BTreeMap<(String, u32), f64>) -> String {
    let days: Vec<String> = cells
        .keys()
        .map(|(d, _)| d.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let cell_w = (WIDTH - LEFT) / 24.0;
    let cell_h = 18.0;
    let height = TOP + cell_h * days.len() as f64 + 44.0;
    let mut svg = format!(
        r#"<figure><figcaption>{}</figcaption><svg id="{id}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0}" role="img" aria-label="{}">"#,
        escape(title),
        escape(title)
    );
    for (r, day) in days.iter().enumerate() {
        let y = TOP + cell_h * r as f64;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 13.0,
            escape(day)
        );
        for hour in 0..24u32 {
            if let Some(u) = cells.get(&(day.clone(), hour)) {
                // White (idle) to dark blue (busy).
                let shade = (255.0 - 200.0 * u.clamp(0.0, 1.0)) as u8;
                let _ = write!(
                    svg,
                    r#"<rect class="mark" x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="rgb({shade},{shade},255)" stroke="rgb(221,221,221)"><title>{day} {hour:02}:00 UTC: {}</title></rect>"#,
                    LEFT + cell_w * hour as f64,
                    cell_w - 1.0,
                    cell_h - 1.0,
                    percent(*u)
                );
            }
        }
    }
    for hour in (0..24u32).step_by(3) {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" class="tick">{hour:02}h</text>"#,
            LEFT + cell_w * hour as f64 + 2.0,
            TOP + cell_h * days.len() as f64 + 14.0
        );
    }
    // The colour legend: what each shade means.
    let legend_y = TOP + cell_h * days.len() as f64 + 22.0;
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">busy</text>"#,
        LEFT - 6.0,
        legend_y + 10.0
    );
    for (i, share) in [0.0, 0.25, 0.5, 0.75, 1.0].iter().enumerate() {
        let shade = (255.0 - 200.0 * share) as u8;
        let x = LEFT + i as f64 * 60.0;
        let _ = write!(
            svg,
            r#"<rect class="legend" x="{x:.1}" y="{legend_y:.1}" width="14" height="12" fill="rgb({shade},{shade},255)" stroke="rgb(170,170,170)"/><text x="{:.1}" y="{:.1}" class="tick">{}</text>"#,
            x + 18.0,
            legend_y + 10.0,
            percent(*share)
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

fn html_table(rows: &Rows, columns: &[(&str, &str)]) -> String {
    let mut html = String::from("<table><thead><tr>");
    for (_, title) in columns {
        let _ = write!(html, "<th>{}</th>", escape(title));
    }
    html.push_str("</tr></thead><tbody>");
    for (batch, row) in rows.each() {
        html.push_str("<tr>");
        for (name, _) in columns {
            let array = batch.column_by_name(name).expect("selected");
            let cell = match array.data_type() {
                DataType::Decimal128(..) => dec(batch, name, row)
                    .map(|d| money(d, 2))
                    .unwrap_or_else(|| "–".into()),
                DataType::Int64 => number(batch, name, row)
                    .map(|v| thousands(&(v as i64).to_string()))
                    .unwrap_or_default(),
                DataType::Float64 => number(batch, name, row)
                    .map(percent)
                    .unwrap_or_else(|| "–".into()),
                _ => escape(&text(batch, name, row)),
            };
            let numeric = matches!(
                array.data_type(),
                DataType::Decimal128(..) | DataType::Int64 | DataType::Float64
            );
            let _ = write!(
                html,
                r#"<td class="{}">{cell}</td>"#,
                if numeric { "num" } else { "text" }
            );
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    html
}

/// Builds report.html from the run's tables.
pub fn report_html(figures: &ReportFigures, summary: &RunSummary) -> Result<String> {
    // Headline figures.
    let head = Rows::of(figures, queries::SPEND_TOTALS);
    let (batch, row) = head.each().next().expect("one row");
    let (api, gpu, total) = (
        dec(batch, "api", row).unwrap_or_default(),
        dec(batch, "gpu", row).unwrap_or_default(),
        dec(batch, "total", row).unwrap_or_default(),
    );
    let other = Rows::of(figures, queries::KPIS);
    let (b2, r2) = other.each().next().expect("one row");
    let card = |label: &str, value: String, note: &str| {
        format!(
            r#"<div class="card"><div class="label">{}</div><div class="value">{}</div><div class="note">{}</div></div>"#,
            escape(label),
            escape(&value),
            escape(note)
        )
    };
    let mut cards = String::new();
    cards.push_str(&card(
        "Total AI spend",
        money(total, 2),
        "API and self-hosted GPUs",
    ));
    cards.push_str(&card("API", money(api, 2), "priced per token"));
    cards.push_str(&card(
        "Self-hosted GPUs",
        money(gpu, 2),
        "from the bills, idle included",
    ));
    cards.push_str(&card(
        "Cost per completed interaction",
        dec(b2, "per_completed", r2)
            .map(|d| money(d, 4))
            .unwrap_or_else(|| "–".into()),
        "API and GPU together; abandoned work priced in",
    ));
    let share = |name: &str| {
        number(b2, name, r2)
            .map(|v| format!("{:.1}%", v * 100.0))
            .unwrap_or_else(|| "–".into())
    };
    cards.push_str(&card(
        "Prompt-cache hit ratio",
        share("hit_ratio"),
        "under 20% expensive, 30–50% typical",
    ));
    cards.push_str(&card(
        "Fleet utilisation",
        share("fleet"),
        "busy / billed GPU-hours",
    ));

    // Daily spend stacked by team.
    let spend = Rows::of(figures, queries::DAILY_SPEND_BY_TEAM);
    let dates = spend.distinct("date");
    let mut by_team: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (b, r) in spend.each() {
        let i = dates
            .iter()
            .position(|d| *d == text(b, "date", r))
            .expect("listed");
        by_team
            .entry(text(b, "team", r))
            .or_insert_with(|| vec![0.0; dates.len()])[i] += number(b, "cost", r).unwrap_or(0.0);
    }
    let chart_spend = stacked_bars(
        "chart-daily-spend",
        "Daily spend by team (API and self-hosted GPU)",
        &dates,
        &by_team,
    );

    // Hourly utilisation heatmaps.
    let util = Rows::of(figures, queries::UTILIZATION_CELLS);
    let mut pools: BTreeMap<String, BTreeMap<(String, u32), f64>> = BTreeMap::new();
    for (b, r) in util.each() {
        pools.entry(text(b, "pool", r)).or_default().insert(
            (text(b, "date", r), number(b, "h", r).unwrap_or(0.0) as u32),
            number(b, "utilization", r).unwrap_or(0.0),
        );
    }
    let mut chart_heat = String::new();
    for (pool, cells) in &pools {
        chart_heat.push_str(&heatmap(
            &format!(
                "chart-utilization-{}",
                pool.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
            ),
            &format!("Hourly GPU utilisation, pool {pool} (hour of day × day, UTC)"),
            cells,
        ));
    }
    if pools.is_empty() {
        chart_heat.push_str("<p>No self-hosted pools in this run.</p>");
    }

    // Cache hit ratio over time with the quoted bands.
    let hits = Rows::of(figures, queries::CACHE_HIT_RATIO_BY_DAY);
    let hit_dates: Vec<String> = hits.each().map(|(b, r)| text(b, "date", r)).collect();
    let mut hit_series = BTreeMap::new();
    hit_series.insert(
        "hit ratio (API)".to_string(),
        hits.each()
            .map(|(b, r)| number(b, "ratio", r))
            .collect::<Vec<_>>(),
    );
    let chart_cache = lines(
        "chart-cache-hit-ratio",
        "Prompt-cache hit ratio by day",
        &hit_dates,
        &hit_series,
        &[
            (0.0, 0.20, "under 20%: expensive", "#e15759"),
            (0.30, 0.50, "30–50%: typical", "#59a14f"),
        ],
        &percent,
        Scale::Fixed(1.0),
    );

    // Cost per completed interaction by feature.
    let per = Rows::of(figures, queries::COST_PER_COMPLETED_BY_DAY);
    let per_dates = per.distinct("date");
    let mut per_series: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for (b, r) in per.each() {
        let i = per_dates
            .iter()
            .position(|d| *d == text(b, "date", r))
            .expect("listed");
        per_series
            .entry(text(b, "feature", r))
            .or_insert_with(|| vec![None; per_dates.len()])[i] = number(b, "per_completed", r);
    }
    let chart_per = lines(
        "chart-cost-per-completed",
        "Cost per completed interaction by feature (API and GPU; log scale: each line a power of ten)",
        &per_dates,
        &per_series,
        &[],
        &|v| {
            if v >= 1.0 {
                format!("${v:.0}")
            } else {
                format!("${v}")
            }
        },
        Scale::Log,
    );

    // Tokens per interaction: a histogram on powers of two.
    let dist = Rows::of(figures, queries::TOKENS_PER_INTERACTION);
    let found: BTreeMap<i64, f64> = dist
        .each()
        .map(|(b, r)| {
            (
                number(b, "bucket", r).unwrap_or(0.0) as i64,
                number(b, "n", r).unwrap_or(0.0),
            )
        })
        .collect();
    // Every power of two between the smallest and the largest, empty ones too, so equal
    // spacing means equal ratios.
    let buckets: Vec<(i64, f64)> = match (found.keys().next(), found.keys().last()) {
        (Some(first), Some(last)) => (*first..=*last)
            .map(|k| (k, found.get(&k).copied().unwrap_or(0.0)))
            .collect(),
        _ => Vec::new(),
    };
    let labels: Vec<String> = buckets
        .iter()
        .map(|(k, _)| match *k {
            k if k >= 20 => format!("≥{}M", 1i64 << (k - 20)),
            k if k >= 10 => format!("≥{}k", 1i64 << (k - 10)),
            k => format!("≥{}", 1i64 << k.max(0)),
        })
        .collect();
    let mut counts = BTreeMap::new();
    counts.insert(
        "interactions".to_string(),
        buckets.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
    );
    let chart_tokens = stacked_bars(
        "chart-tokens-per-interaction",
        "Tokens per interaction (interactions per bucket)",
        &labels,
        &counts,
    )
    .replace(
        r#"class="tick" text-anchor="end">$"#,
        r#"class="tick" text-anchor="end">"#,
    );

    let recommendations = Rows::of(figures, queries::RECOMMENDATIONS);
    let recs = html_table(
        &recommendations,
        &[
            ("rule", "Rule"),
            ("severity", "Severity"),
            ("scope", "Scope"),
            ("est_monthly_savings_usd", "Saves a month now"),
            ("realisable", "When"),
            ("saving_at_renewal_usd", "Saves a month from renewal"),
            ("confidence", "Confidence"),
            ("finding", "Finding"),
            ("action", "Action"),
        ],
    );

    // The column above adds alternatives and overlapping steps: the total counts each
    // dollar once (savings_by_spend), as report.md and review.md say it.
    let savings = Rows::of(figures, queries::SAVINGS_TOTAL);
    let savings_total = savings
        .each()
        .next()
        .map(|(b, r)| {
            let amount = |name: &str| money(dec(b, name, r).unwrap_or_default(), 2);
            format!(
                r#"<p id="savings-total"><strong>Together {} a month now</strong>, each dollar counted once. The rules' own figures in the column below add up to {} on the same spend ({} counted twice: alternatives, and steps that stack, on one spend); abandoned spend, an upper bound of {}, is in neither.</p>"#,
                amount("combined_monthly_savings_usd"),
                amount("rules_sum_usd"),
                amount("overlap_usd"),
                amount("upper_bound_usd"),
            )
        })
        .unwrap_or_default();

    // Logged vs billed, when the run read the providers' own exports.
    let reconciliation = if summary.provider_usage.is_empty() {
        String::new()
    } else {
        let headline = Rows::of(figures, queries::RECONCILIATION);
        let findings = Rows::of(figures, queries::RECONCILIATION_FINDINGS);
        format!(
            "<h2>Logged vs billed</h2><p>The logs' requests priced at the catalog against the providers' own cost exports (difference = billed − logged); the explained share is the part of the gross difference a reason explains.</p>{}{}",
            html_table(
                &headline,
                &[
                    ("provider", "Provider"),
                    ("month", "Month"),
                    ("logged_cost_usd", "Logged"),
                    ("billed_cost_usd", "Billed"),
                    ("difference_usd", "Difference"),
                    ("explained_share", "Explained"),
                    ("reasons", "Reasons"),
                ],
            ),
            html_table(
                &findings,
                &[
                    ("date", "Day"),
                    ("provider", "Provider"),
                    ("model", "Model"),
                    ("reason", "Reason"),
                    ("difference_usd", "Difference"),
                    ("explanation", "Why"),
                ],
            )
        )
    };

    let forecast = html_table(
        &Rows::of(figures, queries::SPEND_FORECAST),
        &[
            ("scope", "Scope"),
            ("month_to_date_usd", "Month to date"),
            ("projected_usd", "Projected"),
            ("low_usd", "Low (95%)"),
            ("high_usd", "High (95%)"),
        ],
    );
    let anomaly_rows = Rows::of(figures, queries::SPEND_ANOMALIES);
    let anomalies = if anomaly_rows.each().next().is_none() {
        format!(
            "<p>{}</p>",
            escape(&crate::publish::summary::no_anomalies_because(
                figures.rows(queries::ANOMALY_HISTORY),
            ))
        )
    } else {
        html_table(
            &anomaly_rows,
            &[
                ("date", "Day"),
                ("team", "Team"),
                ("feature", "Feature"),
                ("model", "Model"),
                ("severity", "Severity"),
                ("impact_usd", "Above normal"),
                ("explanation", "Why"),
            ],
        )
    };

    let mut html = String::new();
    let _ = write!(
        html,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><title>inferledger report</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 960px; color: #222; }}
h1 {{ font-size: 1.6rem; margin-bottom: 0.2rem; }} h2 {{ font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }}
.cards {{ display: grid; grid-template-columns: repeat(3, 1fr); gap: 0.8rem; }}
.card {{ border: 1px solid #ddd; border-radius: 6px; padding: 0.7rem; }}
.card .label {{ font-size: 0.8rem; color: #666; }} .card .value {{ font-size: 1.4rem; font-weight: 600; }} .card .note {{ font-size: 0.75rem; color: #888; }}
figure {{ margin: 1rem 0; }} figcaption {{ font-weight: 600; margin-bottom: 0.3rem; }}
svg {{ width: 100%; height: auto; }} .grid {{ stroke: #eee; }} .tick {{ font-size: 11px; fill: #555; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.85rem; }} th, td {{ border-bottom: 1px solid #eee; padding: 0.3rem 0.4rem; vertical-align: top; }}
th {{ text-align: left; }} td.num {{ text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }}
@media print {{ body {{ margin: 0; max-width: none; }} figure, table, .cards {{ page-break-inside: avoid; }} }}
</style></head><body>
<h1>inferledger report</h1>
<p>Generated {} by inferledger {}; {} request rows read, {} GPU billing rows. All figures come from this run's tables.</p>
<div class="cards">{cards}</div>
<h2>Spend</h2>{chart_spend}
<h2>Self-hosted GPU utilisation</h2>{chart_heat}
<h2>Prompt caching</h2>{chart_cache}
<h2>Interactions</h2>{chart_per}{chart_tokens}
<h2>Month-end forecast (API spend)</h2>{forecast}
<h2>Spend anomalies</h2>{anomalies}
{reconciliation}
<h2>Recommendations</h2>{savings_total}{recs}
</body></html>
"#,
        escape(&summary.finished_at),
        escape(&summary.version),
        thousands(&summary.totals.rows_read.to_string()),
        thousands(
            &summary
                .billing
                .iter()
                .map(|b| b.rows_read)
                .sum::<u64>()
                .to_string()
        ),
    );
    Ok(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forty_days_and_twelve_series_stay_legible() {
        // 40 days on 830 units of chart: 20.75 a day, so every ceil(64 / 20.75) = 4th day
        // is labelled: days 0, 4, …, 36, ten labels, none closer than 83 units.
        let days: Vec<String> = (1..=40).map(|d| format!("2026-10-{d:02}")).collect();
        assert_eq!(label_every(days.len()), 4);
        let mut per_feature: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
        for f in 0..12 {
            per_feature.insert(format!("feature-{f:02}"), vec![Some(1.0 + f as f64); 40]);
        }
        let svg = lines(
            "c",
            "t",
            &days,
            &per_feature,
            &[],
            &|v| v.to_string(),
            Scale::Log,
        );
        let day_label = r#"class="tick" text-anchor="middle">2026-10-"#;
        assert_eq!(svg.matches(day_label).count(), 10);
        // Twelve lines, twelve distinct looks: the palette's ten solid, then two dashed.
        let looks: BTreeSet<(String, String)> = svg
            .split("<polyline ")
            .skip(1)
            .map(|line| {
                let attr = |name: &str| {
                    line.split(&format!(" {name}=\""))
                        .nth(1)
                        .and_then(|rest| rest.split('"').next())
                        .unwrap_or_default()
                        .to_string()
                };
                (attr("stroke"), attr("stroke-dasharray"))
            })
            .collect();
        assert_eq!(looks.len(), 12, "{looks:?}");
        // Bars: twelve teams fold into the nine largest and "other (3)", ten colours, and
        // the folded bar keeps the three smallest teams' sum (1 + 2 + 3 = 6 a day).
        let mut per_team: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for t in 0..12 {
            per_team.insert(format!("team-{t:02}"), vec![1.0 + t as f64; 40]);
        }
        let folded = fold_to_palette(&per_team);
        assert_eq!(folded.len(), 10);
        assert_eq!(folded["other (3)"], vec![6.0; 40]);
        assert!(!folded.contains_key("team-02") && folded.contains_key("team-03"));
        let bars = stacked_bars("b", "t", &days, &per_team);
        assert_eq!(bars.matches(day_label).count(), 10);
        let colours: BTreeSet<&str> = PALETTE
            .iter()
            .copied()
            .filter(|c| bars.contains(&format!("fill=\"{c}\"")))
            .collect();
        assert_eq!(colours.len(), 10);
    }
}
