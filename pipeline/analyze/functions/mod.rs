//! The pipeline's own SQL functions, for the step queries and users' SQL: row functions
//! (`session_bucket`, `utc_date`; `cost_of` and `cache_read_discount`, which carry a price
//! book, in [`udf`]) and aggregates (`interaction_spans`, `distinct_values`,
//! `first_by_time`, `last_by_time`). [`all`] is the one list a local session and a
//! cluster's processes both register.

pub mod distinct_values;
pub mod first_last;
pub mod interaction_spans;
#[cfg(test)]
mod test_support;
pub mod udf;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

/// The functions that need no run state, by kind.
pub struct Functions {
    /// Row functions.
    pub scalar: Vec<ScalarUDF>,
    /// Aggregate functions.
    pub aggregate: Vec<AggregateUDF>,
}

/// Every function of the pipeline's that needs no run state (the price book's two come
/// with the book: [`udf::register_cost_of`], [`udf::register_cache_read_discount`]).
pub fn all() -> Functions {
    Functions {
        scalar: vec![udf::session_bucket(), udf::utc_date()],
        aggregate: first_last::functions()
            .into_iter()
            .chain([
                interaction_spans::interaction_spans(),
                distinct_values::distinct_values(),
            ])
            .collect(),
    }
}

/// Registers [`all`] in `ctx`.
pub fn register_all(ctx: &SessionContext) {
    let Functions { scalar, aggregate } = all();
    for function in scalar {
        ctx.register_udf(function);
    }
    for function in aggregate {
        ctx.register_udaf(function);
    }
}
