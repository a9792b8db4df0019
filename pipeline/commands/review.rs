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

use crate::analyze;
use crate::common::error::{Error, Result};
use crate::publish::output::write_atomic;
use crate::publish::summary::markdown_table;

/// The review's sections: title, table name, SQL. Each section's result is registered as
/// `review_<table>` for the sections after it (`next_quarter` reads `review_plan`).
pub const SECTIONS: [(&str, &str, &str); 9] = [
    (
        "Plan: what to do, what it saves and from when, how sure",
        "plan",
        include_str!("../../queries/review/plan.sql"),
    ),
    (
        "Next quarter",
        "next_quarter",
        include_str!("../../queries/review/next_quarter.sql"),
    ),
    (
        "Spend by month",
        "spend_by_month",
        include_str!("../../queries/review/spend_by_month.sql"),
    ),
    (
        "Quarter over quarter",
        "quarter_over_quarter",
        include_str!("../../queries/review/quarter_over_quarter.sql"),
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
         CAST(round(peak_output_tokens_per_second) AS BIGINT) AS p95_hour_output_tokens_per_second, replica_gpus, \
         monthly_ops_cost_usd, migration_cost_usd, round(payback_months, 1) AS payback_months, \
         breakeven_tokens_per_gpu_month, \
         CASE WHEN breakeven_reachable = false THEN 'never (' || CAST(CAST(round(100.0 * breakeven_utilization) AS BIGINT) AS VARCHAR) || '% of a GPU)' \
              ELSE CAST(round(100.0 * breakeven_utilization, 1) AS VARCHAR) || '%' END AS breakeven_at, \
         actual_utilization, verdict, monthly_saving_usd, coverage_days, coverage_hours \
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
        "SELECT rule, severity, scope, est_monthly_savings_usd, realisable, commitment_ends, saving_at_renewal_usd, confidence, finding, action FROM recommendations ORDER BY est_monthly_savings_usd DESC, saving_at_renewal_usd DESC, rule, scope LIMIT 10",
    ),
];

/// Options of `review`.
#[derive(Debug, Clone, Args)]
pub struct ReviewArgs {
    /// Quarter, e.g. 2026Q3 (default: the quarter of the history's latest day with spend).
    #[arg(long, value_parser = parse_quarter)]
    pub quarter: Option<(i32, u32)>,
    /// The run folder and config.
    #[command(flatten)]
    pub folder: super::RunFolderArgs,
}

/// Parses `2026Q3`.
pub fn parse_quarter(text: &str) -> std::result::Result<(i32, u32), String> {
    let upper = text.trim().to_ascii_uppercase();
    let (year, q) = upper
        .split_once('Q')
        .ok_or_else(|| format!("'{text}' is not a quarter; expected e.g. 2026Q3"))?;
    let year: i32 = year.parse().map_err(|_| format!("'{text}': bad year"))?;
    if !(1970..=super::LATEST_YEAR).contains(&year) {
        return Err(format!(
            "'{text}': the year is 1970 to {}, the years inferledger reads",
            super::LATEST_YEAR
        ));
    }
    let q: u32 = q.parse().map_err(|_| format!("'{text}': bad quarter"))?;
    if !(1..=4).contains(&q) {
        return Err(format!("'{text}': the quarter is 1 to 4"));
    }
    Ok((year, q))
}

/// The quarter of the history's latest day with spend: the one worth reviewing by default
/// (the run's own clock plays no part, so the review is the same whenever it runs).
pub async fn latest_quarter_with_data(out: &std::path::Path) -> Result<(i32, u32)> {
    let ctx = analyze::new_context();
    let tables = crate::publish::output::register_output(&ctx, out, None).await?;
    if !tables.iter().any(|t| t == "cost_attribution") {
        return Err(Error::NoRun {
            out: out.to_path_buf(),
            advice: format!(
                " has no cost_attribution history to review; run `inferledger run --out {}` first, or pass --quarter",
                out.display()
            ),
        });
    }
    let batches =
        crate::common::arrow_util::sql_batches(&ctx, "SELECT MAX(date) FROM cost_attribution")
            .await?;
    let latest = batches
        .first()
        .and_then(|b| crate::common::arrow_util::string_at(b.column(0).as_ref(), 0))
        .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
        .ok_or_else(|| Error::Usage(format!("{} has no spend to review", out.display())))?;
    Ok((latest.year(), latest.month0() / 3 + 1))
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
        let (config, out) = self.folder.resolve()?;
        super::local_output_dir(&out, "review")?;
        let quarter = match self.quarter {
            Some(quarter) => quarter,
            None => latest_quarter_with_data(&out).await?,
        };
        let economics = config.map(|c| c.economics).unwrap_or_default();
        let path = review(&out, quarter, &economics).await?;
        println!("wrote {}", path.display());
        Ok(())
    }
}

/// Registers `review_params` (quarter_start, quarter_end: the quarter's first day and the
/// first day after it; previous_quarter_start; next_quarter_start, next_quarter_end), which
/// the files in `queries/review/` read.
pub fn register_review_params(ctx: &SessionContext, quarter: (i32, u32)) -> Result<()> {
    let (start, end) = quarter_bounds(quarter);
    let previous = match quarter {
        (year, 1) => (year - 1, 4),
        (year, q) => (year, q - 1),
    };
    let next = match quarter {
        (year, 4) => (year + 1, 1),
        (year, q) => (year, q + 1),
    };
    let (next_start, next_end) = quarter_bounds(next);
    let (month_fields, month_values) = analyze::params::month_length_columns();
    let mut fields = vec![
        Field::new("quarter_start", DataType::Utf8, false),
        Field::new("quarter_end", DataType::Utf8, false),
        Field::new("previous_quarter_start", DataType::Utf8, false),
        Field::new("next_quarter_start", DataType::Utf8, false),
        Field::new("next_quarter_end", DataType::Utf8, false),
    ];
    fields.extend(month_fields);
    let schema = Arc::new(Schema::new(fields));
    crate::common::arrow_util::register_memtable(
        ctx,
        "review_params",
        schema,
        [start, end, quarter_bounds(previous).0, next_start, next_end]
            .into_iter()
            .map(|day| -> datafusion::arrow::array::ArrayRef {
                Arc::new(StringArray::from(vec![day.to_string()]))
            })
            .chain(month_values)
            .collect(),
    )
}

/// Builds the review of `quarter` from the run folder `out`; returns review.md's path.
pub async fn review(
    out: &std::path::Path,
    quarter: (i32, u32),
    economics: &crate::config::Economics,
) -> Result<PathBuf> {
    let ctx = analyze::new_context();
    let tables = crate::publish::output::register_output(&ctx, out, None).await?;
    // The assumptions the run decided with (its `internal/economics`), whatever config the
    // review is given; a folder without them (an earlier version's) takes the config's.
    let recorded = ctx.table_exist("economics")?;
    if !recorded {
        analyze::register_economics(&ctx, economics)?;
    }
    register_review_params(&ctx, quarter)?;
    let (start, end) = quarter_bounds(quarter);
    let label = format!("{}Q{}", quarter.0, quarter.1);
    let dir = out.join("review").join(&label);
    super::refuse_inside_tables("the review folder", &dir, out)?;
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut md = String::new();
    let _ = writeln!(md, "# Self-host review, {label}\n");
    // The assumptions the figures used: the GPU-hour price the break-even applied and where
    // it came from (a bill, or [economics]), and the lookback it covers.
    let used = if tables.iter().any(|t| t == "selfhost_breakeven") {
        crate::common::arrow_util::sql_batches(
            &ctx,
            "SELECT CAST(gpu_hour_usd AS DECIMAL(38, 12)) AS gpu_hour_usd, gpu_hour_source, lookback_from, lookback_to, coverage_days \
             FROM selfhost_breakeven WHERE kind = 'api_workload' LIMIT 1",
        )
        .await?
    } else {
        Vec::new()
    };
    let text = |name: &str| {
        used.first()
            .and_then(|b| b.column_by_name(name))
            .and_then(|a| crate::common::arrow_util::string_at(a.as_ref(), 0))
            .unwrap_or_default()
    };
    let gpu_rate = used
        .first()
        .and_then(|b| b.column_by_name("gpu_hour_usd"))
        .and_then(|a| crate::common::arrow_util::decimal_at(a.as_ref(), 0));
    let _ = writeln!(
        md,
        "{start} to {end} (exclusive), from the history in `{}`. Break-even, right-sizing and recommendations come from the latest run, over its lookback {} to {} ({} days with requests).\n",
        out.display(),
        text("lookback_from"),
        text("lookback_to"),
        text("coverage_days"),
    );
    let assumed = crate::common::arrow_util::sql_batches(
        &ctx,
        "SELECT selfhost_gpu_model, CAST(gpu_purchase_usd AS VARCHAR) AS gpu_purchase_usd, \
         CAST(amortisation_months AS VARCHAR) AS amortisation_months, \
         CAST(owned_gpu_month_usd AS VARCHAR) AS owned_gpu_month_usd, \
         CAST(lead_time_months AS VARCHAR) AS lead_time_months, \
         CAST(selfhost_wins_above AS VARCHAR) AS target, \
         CAST(api_cheaper_below AS VARCHAR) AS api_below \
         FROM economics",
    )
    .await?;
    let assumption = |name: &str| {
        assumed
            .first()
            .and_then(|b| b.column_by_name(name))
            .and_then(|a| crate::common::arrow_util::string_at(a.as_ref(), 0))
            .unwrap_or_default()
    };
    let percent = |name: &str| {
        assumption(name)
            .parse::<f64>()
            .map_or("–".to_string(), |share| {
                let text = format!("{:.1}", 100.0 * share);
                text.trim_end_matches(".0").to_string()
            })
    };
    let number = |name: &str| {
        assumption(name)
            .parse::<f64>()
            .map_or("–".to_string(), |v| v.to_string())
    };
    let amount = |name: &str| {
        assumption(name)
            .parse::<rust_decimal::Decimal>()
            .map_or("–".to_string(), |d| crate::publish::summary::money(d, 0))
    };
    let throughput = crate::common::arrow_util::sql_batches(
        &ctx,
        "SELECT model, CAST(tokens_per_second AS VARCHAR) FROM gpu_throughput ORDER BY model = 'default', model",
    )
    .await
    .unwrap_or_default();
    let mut per_model = Vec::new();
    for batch in &throughput {
        for row in 0..batch.num_rows() {
            if let (Some(model), Some(rate)) = (
                crate::common::arrow_util::text_at(batch, 0, row),
                crate::common::arrow_util::text_at(batch, 1, row),
            ) {
                per_model.push(format!("{model} {rate}"));
            }
        }
    }
    let _ = writeln!(
        md,
        "Assumptions the run used ({}): GPU {} an hour for {} ({}); buying: purchase {} over {} months plus {} a month owned, {} months' lead time; target utilisation {}% (the API is cheaper below {}%); output tokens per second per GPU: {}.\n",
        if recorded {
            "recorded with its tables"
        } else {
            "not recorded by the version that wrote this folder: the config's"
        },
        gpu_rate.map_or("–".to_string(), |r| crate::publish::summary::money(r, 2)),
        assumption("selfhost_gpu_model"),
        if gpu_rate.is_some() {
            text("gpu_hour_source")
        } else {
            "no break-even rows".to_string()
        },
        amount("gpu_purchase_usd"),
        number("amortisation_months"),
        amount("owned_gpu_month_usd"),
        number("lead_time_months"),
        percent("target"),
        percent("api_below"),
        if per_model.is_empty() {
            "none recorded".to_string()
        } else {
            per_model.join(", ")
        }
    );
    // Decisions (break-even, what-if, recommendations) are the latest run's, over its
    // lookback: they belong to the quarter reviewed only when that lookback falls in it.
    let lookback = crate::common::arrow_util::sql_batches(
        &ctx,
        "SELECT lookback_from, lookback_to FROM run_params",
    )
    .await
    .unwrap_or_default();
    let lookback_day = |column: usize| {
        lookback
            .first()
            .filter(|b| b.num_rows() > 0)
            .and_then(|b| crate::common::arrow_util::text_at(b, column, 0))
            .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
    };
    let decisions_in_quarter = match (lookback_day(0), lookback_day(1)) {
        (Some(first), Some(last)) => first < end && last >= start,
        _ => true,
    };
    let decisions_elsewhere = format!(
        "_(not this quarter's: the latest run decided over {} to {}, outside {label}; run `inferledger run --from {start} --to {}` to decide on {label})_\n",
        lookback_day(0).map_or("–".to_string(), |d| d.to_string()),
        lookback_day(1).map_or("–".to_string(), |d| d.to_string()),
        end.pred_opt().unwrap_or(end),
    );
    if !decisions_in_quarter {
        let _ = writeln!(md, "**No decisions for {label}.** {decisions_elsewhere}");
    } else if tables.iter().any(|t| t == "savings_by_spend") {
        let total = crate::common::arrow_util::sql_batches(
            &ctx,
            crate::publish::figures::queries::SAVINGS_TOTAL,
        )
        .await?;
        let amount = |name: &str| {
            total
                .first()
                .and_then(|b| b.column_by_name(name))
                .and_then(|a| crate::common::arrow_util::decimal_at(a.as_ref(), 0))
                .unwrap_or_default()
        };
        // The part that rests on utilisation in doubt (the plan's 'after the check').
        let doubtful = crate::common::arrow_util::sql_batches(
            &ctx,
            "SELECT CAST(COALESCE(SUM(s.combined_monthly_savings_usd), 0) AS DECIMAL(38, 12)) AS doubtful_usd \
             FROM savings_by_spend s \
             JOIN (SELECT DISTINCT acts_on FROM recommendations \
                   WHERE confidence LIKE 'low: the pool''s utilisation sources disagree%') d ON d.acts_on = s.acts_on",
        )
        .await?
        .first()
        .and_then(|b| crate::common::arrow_util::decimal_at(b.column(0).as_ref(), 0))
        .unwrap_or_default();
        let _ = writeln!(
            md,
            "**The recommendations save {} a month together**, each dollar counted once; their own figures add up to {} ({} counted twice).{}\n",
            crate::publish::summary::money(amount("combined_monthly_savings_usd"), 2),
            crate::publish::summary::money(amount("rules_sum_usd"), 2),
            crate::publish::summary::money(amount("overlap_usd"), 2),
            if doubtful > rust_decimal::Decimal::ZERO {
                format!(
                    " {} of it is on pools whose utilisation sources disagree: it waits on their check (the plan).",
                    crate::publish::summary::money(doubtful, 2)
                )
            } else {
                String::new()
            }
        );
    }
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
            .any(|t| sql.contains(t) && !tables.iter().any(|have| have == t))
            || (table == "next_quarter" && !ctx.table_exist("review_plan")?);
        if missing {
            let _ = writeln!(
                md,
                "_(no data: the runs in this folder have no table for this section)_\n"
            );
            continue;
        }
        let decides = [
            "plan",
            "next_quarter",
            "breakeven",
            "scenarios",
            "recommendations",
        ]
        .contains(&table);
        if decides && !decisions_in_quarter {
            md.push_str(&decisions_elsewhere);
            md.push('\n');
            continue;
        }
        let frame = ctx.sql(sql).await.map_err(|source| Error::Query {
            file: format!("review section {table}"),
            source,
            hint: "",
        })?;
        let schema: datafusion::arrow::datatypes::SchemaRef =
            Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await?;
        let schema = batches.first().map_or(schema, |b| b.schema());
        // Later sections read this one's rows (next_quarter reads review_plan).
        ctx.register_table(
            format!("review_{table}"),
            Arc::new(datafusion::datasource::MemTable::try_new(
                schema,
                vec![batches.clone()],
            )?),
        )?;
        md.push_str(&section_introduction(table, &batches, quarter));
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

/// What a reader needs before a section's table: the plan's assumptions, and the next
/// quarter's two totals in words.
fn section_introduction(
    table: &str,
    batches: &[datafusion::arrow::array::RecordBatch],
    quarter: (i32, u32),
) -> String {
    let next = match quarter {
        (year, 4) => format!("{}Q1", year + 1),
        (year, q) => format!("{year}Q{}", q + 1),
    };
    match table {
        "plan" => format!(
            "In order: first what puts other figures in doubt, then what saves now (assumed done by {next}'s first day), then what waits on one of those checks, then what saves when a commitment ends. Each dollar is counted once (a spend's best alternative, or its stacking steps together); `next_quarter_saving_usd` is what the step saves in {next}, less any one-off migration. `confidence` says how sure: days of requests behind the figure, and whether the pool's utilisation sources agree.\n\n"
        ),
        "next_quarter" => {
            let total = batches.iter().find_map(|b| {
                (0..b.num_rows()).find_map(|row| {
                    (crate::common::arrow_util::text_at(b, 0, row).as_deref() == Some("total"))
                        .then(|| {
                            let at = |column: usize| {
                                crate::common::arrow_util::decimal_at(
                                    b.column(column).as_ref(),
                                    row,
                                )
                                .map_or("–".to_string(), |d| crate::publish::summary::money(d, 2))
                            };
                            (at(1), at(3), at(4))
                        })
                })
            });
            match total {
                Some((unchanged, planned, waiting)) => format!(
                    "**{next}: {unchanged} if nothing changes, {planned} with the plan** (API + GPU, committed GPU capacity included until it ends); the steps waiting on a check would save {waiting} more if their figures hold.\n\n"
                ),
                None => String::new(),
            }
        }
        _ => String::new(),
    }
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
