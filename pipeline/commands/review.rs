//! `inferledger review --quarter 2026Q3`: the quarterly self-host review. Reads every
//! partition of a run folder's history, keeps the quarter, and writes `review.md` and the
//! same tables as Parquet (`OUT/review/<quarter>/<table>.parquet`): spend by month, cost
//! per completed interaction by month, the utilisation distribution per pool, the
//! break-even table, what-if scenarios and the top recommendations (the last two from the
//! latest run).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use clap::Args;
use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::SessionContext;

use crate::analysis;
use crate::error::{Error, Result};
use crate::output::write_atomic;
use crate::summary::markdown_table;

/// The review's sections: title, table name, SQL.
pub const SECTIONS: [(&str, &str, &str); 6] = [
    (
        "Spend by month",
        "spend_by_month",
        include_str!("../../queries/review/spend_by_month.sql"),
    ),
    (
        "Cost per completed interaction by month",
        "cost_per_completed_by_month",
        include_str!("../../queries/review/cost_per_completed_by_month.sql"),
    ),
    (
        "Utilisation per pool",
        "utilization_distribution",
        include_str!("../../queries/review/utilization_distribution.sql"),
    ),
    (
        "Self-host break-even (latest run)",
        "breakeven",
        "SELECT kind, model, feature, pool, monthly_api_cost_usd, monthly_selfhost_cost_usd, gpus_needed, \
         breakeven_tokens_per_gpu_month, breakeven_utilization, actual_utilization, verdict, monthly_saving_usd \
         FROM selfhost_breakeven ORDER BY monthly_saving_usd DESC, kind, model, feature, pool",
    ),
    (
        "What if",
        "scenarios",
        include_str!("../../queries/review/scenarios.sql"),
    ),
    (
        "Top recommendations (latest run)",
        "recommendations",
        "SELECT rule, severity, scope, est_monthly_savings_usd, finding, action FROM recommendations LIMIT 10",
    ),
];

/// Options of `review`.
#[derive(Debug, Clone, Args)]
pub struct ReviewArgs {
    /// Quarter, e.g. 2026Q3 (default: the last complete quarter).
    #[arg(long, value_parser = parse_quarter)]
    pub quarter: Option<(i32, u32)>,
    /// Output folder of the nightly runs (its whole history is read).
    #[arg(long, short, default_value = "out")]
    pub out: PathBuf,
    /// Config whose [economics] the scenarios use (defaults apply when it does not exist).
    #[arg(long, short, default_value = "inferledger.toml")]
    pub config: PathBuf,
}

/// Parses `2026Q3`.
pub fn parse_quarter(text: &str) -> std::result::Result<(i32, u32), String> {
    let upper = text.trim().to_ascii_uppercase();
    let (year, q) = upper
        .split_once('Q')
        .ok_or_else(|| format!("'{text}' is not a quarter; expected e.g. 2026Q3"))?;
    let year: i32 = year.parse().map_err(|_| format!("'{text}': bad year"))?;
    let q: u32 = q.parse().map_err(|_| format!("'{text}': bad quarter"))?;
    if !(1..=4).contains(&q) {
        return Err(format!("'{text}': the quarter is 1 to 4"));
    }
    Ok((year, q))
}

/// The last quarter that ended before `today`.
pub fn last_complete_quarter(today: NaiveDate) -> (i32, u32) {
    let q = (today.month() - 1) / 3 + 1;
    if q == 1 {
        (today.year() - 1, 4)
    } else {
        (today.year(), q - 1)
    }
}

/// First day of the quarter and first day after it.
pub fn quarter_bounds((year, q): (i32, u32)) -> (NaiveDate, NaiveDate) {
    let start = NaiveDate::from_ymd_opt(year, (q - 1) * 3 + 1, 1).expect("valid quarter");
    let end = if q == 4 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, q * 3 + 1, 1)
    }
    .expect("valid quarter");
    (start, end)
}

impl ReviewArgs {
    /// Writes the review and prints where.
    pub async fn run(self) -> Result<()> {
        let quarter = self
            .quarter
            .unwrap_or_else(|| last_complete_quarter(chrono::Utc::now().date_naive()));
        let economics = if self.config.exists() {
            super::load_config(&self.config)?.economics
        } else {
            Default::default()
        };
        let path = review(&self.out, quarter, &economics).await?;
        println!("wrote {}", path.display());
        Ok(())
    }
}

/// Registers `review_params` (quarter_start, quarter_end: the quarter's first day and the
/// first day after it), which the files in `queries/review/` read.
pub fn register_review_params(ctx: &SessionContext, quarter: (i32, u32)) -> Result<()> {
    let (start, end) = quarter_bounds(quarter);
    let schema = Arc::new(Schema::new(vec![
        Field::new("quarter_start", DataType::Utf8, false),
        Field::new("quarter_end", DataType::Utf8, false),
    ]));
    analysis::register_memtable(
        ctx,
        "review_params",
        schema,
        vec![
            Arc::new(StringArray::from(vec![start.to_string()])),
            Arc::new(StringArray::from(vec![end.to_string()])),
        ],
    )
}

/// Builds the review of `quarter` from the run folder `out`; returns review.md's path.
pub async fn review(
    out: &std::path::Path,
    quarter: (i32, u32),
    economics: &crate::config::Economics,
) -> Result<PathBuf> {
    let ctx = analysis::new_context();
    let tables = analysis::register_output(&ctx, out).await?;
    analysis::register_economics(&ctx, economics)?;
    register_review_params(&ctx, quarter)?;
    let (start, end) = quarter_bounds(quarter);
    let label = format!("{}Q{}", quarter.0, quarter.1);
    let dir = out.join("review").join(&label);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut md = String::new();
    let _ = writeln!(md, "# Self-host review, {label}\n");
    let _ = writeln!(
        md,
        "{start} to {end} (exclusive), from the history in `{}`. Break-even and recommendations come from the latest run. Assumptions: [economics] of the config (GPU ${:.2}/h for {} where no bill prices it, purchase ${:.0} over {:.0} months plus ${:.0}/month owned, lead time {:.0} months).\n",
        out.display(),
        economics
            .gpu_hour_usd
            .get(&economics.selfhost_gpu_model)
            .copied()
            .unwrap_or_default(),
        economics.selfhost_gpu_model,
        economics.gpu_purchase_usd,
        economics.amortisation_months,
        economics.owned_gpu_month_usd,
        economics.lead_time_months
    );
    for (title, table, sql) in SECTIONS {
        let _ = writeln!(md, "## {title}\n");
        let needed = [
            "cost_attribution",
            "interaction_costs",
            "hourly_utilization",
            "selfhost_breakeven",
            "recommendations",
        ];
        let missing = needed
            .iter()
            .any(|t| sql.contains(t) && !tables.iter().any(|have| have == t));
        if missing {
            let _ = writeln!(
                md,
                "_(no data: the runs in this folder have no table for this section)_\n"
            );
            continue;
        }
        let batches = analysis::sql_batches(&ctx, sql).await?;
        md.push_str(&markdown_table(&batches, 40));
        md.push('\n');
        if let Some(first) = batches.first() {
            let file = dir.join(format!("{table}.parquet"));
            let mut writer = ArrowWriter::try_new(
                std::fs::File::create(&file).map_err(|e| Error::io(&file, e))?,
                first.schema(),
                None,
            )?;
            for batch in &batches {
                writer.write(batch)?;
            }
            writer.close()?;
        }
    }
    let path = dir.join("review.md");
    write_atomic(&path, md.as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters() {
        assert_eq!(parse_quarter("2026Q3"), Ok((2026, 3)));
        assert_eq!(parse_quarter("2026q1"), Ok((2026, 1)));
        assert!(parse_quarter("2026Q5").is_err());
        assert!(parse_quarter("Q3").is_err());
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(last_complete_quarter(day("2026-11-27")), (2026, 3));
        assert_eq!(last_complete_quarter(day("2027-02-01")), (2026, 4));
        assert_eq!(
            quarter_bounds((2026, 4)),
            (day("2026-10-01"), day("2027-01-01"))
        );
        assert_eq!(
            quarter_bounds((2026, 1)),
            (day("2026-01-01"), day("2026-04-01"))
        );
    }
}
