//! The steps' uncorrelated scalar subqueries bound as literal values before their plans are
//! optimized: `(SELECT inactivity_gap_seconds FROM run_params)`, `(SELECT slot_micros FROM
//! slot_width)` and the like are run once, on their own, and their value replaces them.
//!
//! An uncorrelated scalar subquery has one value for the whole query, so the answers are
//! the same. What changes is the plan: DataFusion 55 plans such a subquery as a physical
//! subquery (or, with `enable_physical_uncorrelated_scalar_subquery` off, as a nested-loop
//! join), and an Apache Ballista cluster can run neither correctly (see docs/cluster.md).
//! With literals, the same plan runs in-process and on a cluster.
//!
//! A subquery holding another is bound after it (innermost first). The expressions that
//! held a subquery keep their names, so the plan's columns and the step's table keep theirs.

use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan, Subquery};
use datafusion::prelude::DataFrame;

/// `frame` with each of its uncorrelated scalar subqueries run and replaced by its value.
pub async fn bind_scalar_subqueries(frame: DataFrame) -> Result<DataFrame> {
    let (state, mut plan) = frame.into_parts();
    loop {
        let innermost = innermost_uncorrelated(&plan)?;
        if innermost.is_empty() {
            return Ok(DataFrame::new(state, plan));
        }
        let mut values = Vec::with_capacity(innermost.len());
        for subquery in innermost {
            let value = value_of(&state, &subquery).await?;
            values.push((subquery, value));
        }
        plan = replace(plan, &values)?;
    }
}

/// The scalar subqueries of `plan` (its own subqueries' included) that refer to no outer
/// column and hold no scalar subquery, each once.
fn innermost_uncorrelated(plan: &LogicalPlan) -> Result<Vec<Subquery>> {
    let mut found: Vec<Subquery> = Vec::new();
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::ScalarSubquery(subquery) = e
                    && subquery.outer_ref_columns.is_empty()
                    && subquery.subquery.schema().fields().len() == 1
                    && !refers_outside(&subquery.subquery)?
                    && !holds_scalar_subquery(&subquery.subquery)?
                    && !found.contains(subquery)
                {
                    found.push(subquery.clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })?;
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(found)
}

/// Whether any node of `plan` (or of its subqueries) refers to an outer query's column.
fn refers_outside(plan: &LogicalPlan) -> Result<bool> {
    any_node(plan, |node| Ok(node.contains_outer_reference()))
}

/// Whether `plan` (or one of its subqueries) holds a scalar subquery.
fn holds_scalar_subquery(plan: &LogicalPlan) -> Result<bool> {
    any_node(plan, |node| {
        let mut holds = false;
        node.apply_expressions(|expr| {
            holds = expr.exists(|e| Ok(matches!(e, Expr::ScalarSubquery(_))))?;
            Ok(if holds {
                TreeNodeRecursion::Stop
            } else {
                TreeNodeRecursion::Continue
            })
        })?;
        Ok(holds)
    })
}

/// Whether `test` holds for any node of `plan` or of its subqueries.
fn any_node(plan: &LogicalPlan, test: impl Fn(&LogicalPlan) -> Result<bool>) -> Result<bool> {
    let mut found = false;
    plan.apply_with_subqueries(|node| {
        found = test(node)?;
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    Ok(found)
}

/// The subquery's value: its one row's one column, NULL (of its type) when it has no
/// row, an error when it has more than one (as DataFusion's own evaluation says).
async fn value_of(state: &SessionState, subquery: &Subquery) -> Result<ScalarValue> {
    let plan = subquery.subquery.as_ref().clone();
    let data_type = plan.schema().field(0).data_type().clone();
    let batches = DataFrame::new(state.clone(), plan).collect().await?;
    let mut rows = batches.iter().filter(|b| b.num_rows() > 0);
    match (rows.next(), rows.next()) {
        (None, _) => ScalarValue::try_from(&data_type),
        (Some(batch), None) if batch.num_rows() == 1 => {
            let value = ScalarValue::try_from_array(batch.column(0), 0)?;
            if value.data_type() == data_type {
                Ok(value)
            } else {
                value.cast_to(&data_type)
            }
        }
        _ => Err(DataFusionError::Execution(
            "Scalar subquery returned more than one row".to_string(),
        )),
    }
}

/// `plan` with every scalar subquery of `values` replaced by its value; each expression
/// that held one keeps its name.
fn replace(plan: LogicalPlan, values: &[(Subquery, ScalarValue)]) -> Result<LogicalPlan> {
    let rewritten = plan.transform_up_with_subqueries(|node| {
        let names = NamePreserver::new(&node);
        let node = node.map_expressions(|expr| {
            let saved = names.save(&expr);
            let bound = expr.transform_up(|e| match &e {
                Expr::ScalarSubquery(subquery) => {
                    match values.iter().find(|(known, _)| known == subquery) {
                        Some((_, value)) => {
                            Ok(Transformed::yes(Expr::Literal(value.clone(), None)))
                        }
                        None => Ok(Transformed::no(e)),
                    }
                }
                _ => Ok(Transformed::no(e)),
            })?;
            Ok(if bound.transformed {
                bound.update_data(|e| saved.restore(e))
            } else {
                bound
            })
        })?;
        // Types are unchanged; a literal may be non-NULL where the subquery could have been:
        // each node's schema is worked out again from its inputs.
        node.map_data(|n| n.recompute_schema())
    })?;
    Ok(rewritten.data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::prelude::SessionContext;

    async fn context() -> SessionContext {
        let ctx = SessionContext::new();
        for sql in [
            "CREATE TABLE params AS SELECT CAST(1800 AS BIGINT) AS gap, 'x' AS tag",
            "CREATE TABLE none AS SELECT CAST(1 AS BIGINT) AS v WHERE false",
            "CREATE TABLE many AS VALUES (CAST(1 AS BIGINT)), (CAST(2 AS BIGINT))",
            "CREATE TABLE t AS VALUES (CAST(1 AS BIGINT), 'a'), (CAST(2 AS BIGINT), 'b'), (CAST(3 AS BIGINT), 'a')",
        ] {
            ctx.sql(sql).await.unwrap().collect().await.unwrap();
        }
        ctx
    }

    fn scalar_subqueries(plan: &LogicalPlan) -> usize {
        let mut count = 0;
        plan.apply_with_subqueries(|node| {
            node.apply_expressions(|expr| {
                expr.apply(|e| {
                    if matches!(e, Expr::ScalarSubquery(_)) {
                        count += 1;
                    }
                    Ok(TreeNodeRecursion::Continue)
                })
            })
        })
        .unwrap();
        count
    }

    async fn bound_and_unbound(ctx: &SessionContext, sql: &str) -> (DataFrame, DataFrame) {
        let unbound = ctx.sql(sql).await.unwrap();
        let bound = bind_scalar_subqueries(unbound.clone()).await.unwrap();
        (unbound, bound)
    }

    async fn text(frame: DataFrame) -> String {
        pretty_format_batches(&frame.collect().await.unwrap())
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn subqueries_over_one_row_become_values_and_answers_stay() {
        let ctx = context().await;
        // Nested: the CTE's subquery inside another; an unaliased expression holding one.
        let sql = "WITH w AS (SELECT gap * 1000000 AS micros FROM params) \
                   SELECT column1 + (SELECT micros FROM w) / (SELECT gap FROM params), \
                          column2 \
                   FROM t WHERE column2 = (SELECT CASE WHEN (SELECT tag FROM params) = 'x' THEN 'a' END) \
                   ORDER BY column1";
        let (unbound, bound) = bound_and_unbound(&ctx, sql).await;
        assert_eq!(scalar_subqueries(unbound.logical_plan()), 4);
        assert_eq!(scalar_subqueries(bound.logical_plan()), 0);
        // The column's name is the expression's, subqueries and all, as before.
        assert_eq!(unbound.schema(), bound.schema());
        let (before, after) = (text(unbound).await, text(bound).await);
        assert_eq!(before, after);
        // 1 + 1800000000 / 1800 and 3 + 1000000: worked out by hand.
        assert!(
            after.contains("1000001") && after.contains("1000003"),
            "{after}"
        );
    }

    #[tokio::test]
    async fn no_row_is_null_and_two_rows_are_an_error() {
        let ctx = context().await;
        let (_, bound) =
            bound_and_unbound(&ctx, "SELECT (SELECT v FROM none) IS NULL AS empty").await;
        assert!(text(bound).await.contains("true"));
        let frame = ctx
            .sql("SELECT (SELECT column1 FROM many) AS v")
            .await
            .unwrap();
        let error = bind_scalar_subqueries(frame).await.unwrap_err().to_string();
        assert!(error.contains("more than one row"), "{error}");
    }

    #[tokio::test]
    async fn correlated_subqueries_are_left_to_the_planner() {
        let ctx = context().await;
        let sql = "SELECT column1, (SELECT MAX(i.column1) FROM t i WHERE i.column2 = o.column2) AS top \
                   FROM t o ORDER BY column1";
        let (unbound, bound) = bound_and_unbound(&ctx, sql).await;
        assert_eq!(scalar_subqueries(bound.logical_plan()), 1);
        assert_eq!(text(unbound).await, text(bound).await);
    }
}
