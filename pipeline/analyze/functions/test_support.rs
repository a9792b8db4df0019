//! What the aggregate functions' tests share: a session whose aggregations merge partial
//! states (or skip the partial aggregation, as DataFusion does when nearly every group
//! is new), and a query's rows as text.

use datafusion::prelude::{SessionConfig, SessionContext};

/// Small batches over two partitions, so partial states are merged; with `skip_partial`,
/// the partial aggregation passes each row on as its own state (`convert_to_state`) at
/// once.
pub fn aggregate_config(batch_size: usize, skip_partial: bool) -> SessionConfig {
    let config = SessionConfig::new()
        .with_batch_size(batch_size)
        .with_target_partitions(2);
    if !skip_partial {
        return config;
    }
    config
        .set_usize(
            "datafusion.execution.skip_partial_aggregation_probe_rows_threshold",
            1,
        )
        .set_str(
            "datafusion.execution.skip_partial_aggregation_probe_ratio_threshold",
            "0.0",
        )
}

/// The rows of `sql` as printed table lines, blanks squeezed: `| g1 | a | 2 |`.
pub async fn result_lines(ctx: &SessionContext, sql: &str) -> Vec<String> {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string()
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}
