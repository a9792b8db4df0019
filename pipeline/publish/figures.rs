//! The reports' figures, loaded once: every query of `queries/report/` that report.md and
//! report.html read ([`queries::figures`]) runs one time over the run's tables, all at
//! once, and both reports render from the same rows (so they cannot disagree, and no
//! query runs twice).

use std::collections::HashMap;

use datafusion::arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;

use crate::common::arrow_util::sql_batches;
use crate::common::error::{Error, Result};

/// The rows of every report query, by its SQL.
pub struct ReportFigures {
    rows: HashMap<&'static str, Vec<RecordBatch>>,
}

impl ReportFigures {
    /// Runs every report query over `ctx`'s tables, at once; a query that fails names its
    /// file.
    pub async fn load(ctx: &SessionContext) -> Result<ReportFigures> {
        let runs = queries::figures().map(|(name, sql)| async move {
            let batches = sql_batches(ctx, sql).await.map_err(|e| match e {
                Error::DataFusion(source) => Error::Query {
                    file: format!("queries/report/{name}.sql"),
                    source,
                    hint: "",
                },
                other => other,
            })?;
            Ok::<_, Error>((*sql, batches))
        });
        Ok(ReportFigures {
            rows: futures::future::try_join_all(runs)
                .await?
                .into_iter()
                .collect(),
        })
    }

    /// The rows of one report query (one of [`queries::figures`]).
    pub fn rows(&self, sql: &'static str) -> &[RecordBatch] {
        self.rows
            .get(sql)
            .map(Vec::as_slice)
            .expect("every report query is in queries::figures()")
    }
}

/// A report query, by name.
pub mod queries {
    /// Headline figures.
    pub const HEADLINE: &str = include_str!("../../queries/report/headline.sql");
    /// The recommendations' total, each dollar counted once.
    pub const SAVINGS_TOTAL: &str = include_str!("../../queries/report/savings_total.sql");
    /// Right-sizing per pool.
    pub const RIGHTSIZING: &str = include_str!("../../queries/report/rightsizing.sql");
    /// Caching by model.
    pub const CACHE_BY_MODEL: &str = include_str!("../../queries/report/cache_by_model.sql");
    /// Interaction headline.
    pub const INTERACTIONS: &str = include_str!("../../queries/report/interactions_headline.sql");
    /// Cost per completed interaction by team and feature.
    pub const COST_PER_COMPLETED: &str =
        include_str!("../../queries/report/cost_per_completed.sql");
    /// Spend by team and feature.
    pub const SPEND_BY_TEAM: &str = include_str!("../../queries/report/spend_by_team.sql");
    /// Unpriced models.
    pub const UNPRICED: &str = include_str!("../../queries/report/unpriced_models.sql");
    /// Kept rows per source.
    pub const KEPT_BY_SOURCE: &str = include_str!("../../queries/report/kept_by_source.sql");
    /// GPU spend reconciliation.
    pub const GPU_SPEND: &str = include_str!("../../queries/report/gpu_spend.sql");
    /// Pool utilisation by hour of day.
    pub const POOL_HOUR_OF_DAY: &str = include_str!("../../queries/report/pool_hour_of_day.sql");
    /// Pools: utilisation and idle cost over the run.
    pub const POOLS: &str = include_str!("../../queries/report/pools.sql");
    /// The cost computed here next to the logs' own stated cost, by model.
    pub const LOGGED_COST_BY_MODEL: &str =
        include_str!("../../queries/report/logged_cost_by_model.sql");
    /// Logged vs billed per provider and month, from `reconciliation`.
    pub const RECONCILIATION: &str =
        include_str!("../../queries/report/reconciliation_headline.sql");
    /// The reconciliation's differences, largest first.
    pub const RECONCILIATION_FINDINGS: &str =
        include_str!("../../queries/report/reconciliation_findings.sql");
    /// The window's spend anomalies, largest impact first.
    pub const SPEND_ANOMALIES: &str = include_str!("../../queries/report/spend_anomalies.sql");
    /// The spend history the anomaly detection read (first day, last day, days between).
    pub const ANOMALY_HISTORY: &str = include_str!("../../queries/report/anomaly_history.sql");
    /// The month-end forecast of API spend.
    pub const SPEND_FORECAST: &str = include_str!("../../queries/report/spend_forecast.sql");
    /// The run's spend totals: API, GPU and both (report.html's cards).
    pub const SPEND_TOTALS: &str = include_str!("../../queries/report/spend_totals.sql");
    /// Cost per completed interaction, API hit ratio, fleet utilisation (report.html).
    pub const KPIS: &str = include_str!("../../queries/report/kpis.sql");
    /// Daily spend by team (report.html's stacked bars).
    pub const DAILY_SPEND_BY_TEAM: &str =
        include_str!("../../queries/report/daily_spend_by_team.sql");
    /// Each pool's utilisation by day and hour (report.html's heatmaps).
    pub const UTILIZATION_CELLS: &str = include_str!("../../queries/report/utilization_cells.sql");
    /// The API prompt-cache hit ratio by day (report.html).
    pub const CACHE_HIT_RATIO_BY_DAY: &str =
        include_str!("../../queries/report/cache_hit_ratio_by_day.sql");
    /// Cost per completed interaction by day and feature (report.html).
    pub const COST_PER_COMPLETED_BY_DAY: &str =
        include_str!("../../queries/report/cost_per_completed_by_day.sql");
    /// Interactions by tokens, in powers of two (report.html).
    pub const TOKENS_PER_INTERACTION: &str =
        include_str!("../../queries/report/tokens_per_interaction.sql");
    /// The recommendations as both reports list them.
    pub const RECOMMENDATIONS: &str = include_str!("../../queries/report/recommendations.sql");
    /// The queries only the reports read (besides [`VIEWS`]), by file name.
    pub const REPORT_ONLY: [(&str, &str); 9] = [
        ("anomaly_history", ANOMALY_HISTORY),
        ("spend_totals", SPEND_TOTALS),
        ("kpis", KPIS),
        ("daily_spend_by_team", DAILY_SPEND_BY_TEAM),
        ("utilization_cells", UTILIZATION_CELLS),
        ("cache_hit_ratio_by_day", CACHE_HIT_RATIO_BY_DAY),
        ("cost_per_completed_by_day", COST_PER_COMPLETED_BY_DAY),
        ("tokens_per_interaction", TOKENS_PER_INTERACTION),
        ("recommendations", RECOMMENDATIONS),
    ];
    /// Every query report.md and report.html read, by file name (`queries/report/<name>.sql`):
    /// `figures::ReportFigures` runs each once and both reports render from the rows.
    pub fn figures() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
        VIEWS.iter().chain(REPORT_ONLY.iter())
    }
    /// The report queries users get as views in `sql` (`report_<name>`).
    pub const VIEWS: [(&str, &str); 15] = [
        ("headline", HEADLINE),
        ("cache_by_model", CACHE_BY_MODEL),
        ("interactions_headline", INTERACTIONS),
        ("cost_per_completed", COST_PER_COMPLETED),
        ("spend_by_team", SPEND_BY_TEAM),
        ("unpriced_models", UNPRICED),
        ("pools", POOLS),
        ("pool_hour_of_day", POOL_HOUR_OF_DAY),
        ("savings_total", SAVINGS_TOTAL),
        ("rightsizing", RIGHTSIZING),
        ("logged_cost_by_model", LOGGED_COST_BY_MODEL),
        ("reconciliation_headline", RECONCILIATION),
        ("reconciliation_findings", RECONCILIATION_FINDINGS),
        ("spend_anomalies", SPEND_ANOMALIES),
        ("spend_forecast", SPEND_FORECAST),
    ];
}
