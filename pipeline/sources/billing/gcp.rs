//! Google Cloud's detailed billing export: the columns each field is read from, how a row's
//! pricing category is told (its SKU: spot or preemptible, commitment), and its effective
//! cost (the cost plus its credits, which are negative).

use rust_decimal::Decimal;
use serde_json::Value;

use super::{BillingField, BillingReader, PricingCategory, credits_sum};

/// The provider a GCP row bills from when the row does not say.
pub(super) const PROVIDER: &str = "Google Cloud";

/// Where each field is in a GCP export row.
pub(super) fn preset() -> Vec<(BillingField, Vec<&'static str>)> {
    vec![
        (BillingField::Currency, vec!["currency"]),
        (BillingField::Start, vec!["usage_start_time"]),
        (BillingField::End, vec!["usage_end_time"]),
        (BillingField::Cost, vec!["cost"]),
        (
            BillingField::ResourceId,
            vec!["resource.global_name", "resource.name"],
        ),
        (BillingField::ResourceName, vec!["resource.name"]),
        (
            BillingField::InstanceType,
            vec!["sku.description", "resource.name", "system_labels"],
        ),
        (
            BillingField::UsageHours,
            vec!["usage.amount_in_pricing_units"],
        ),
        (BillingField::UsageUnit, vec!["usage.pricing_unit"]),
        (BillingField::Region, vec!["location.region"]),
        (BillingField::Tags, vec!["labels"]),
        (BillingField::ChargeCategory, vec!["cost_type"]),
        (BillingField::Credits, vec!["credits"]),
        (BillingField::Sku, vec!["sku.description"]),
        (BillingField::Service, vec!["service.description"]),
        (BillingField::LineSku, vec!["sku.id"]),
        (BillingField::LineDescription, vec!["sku.description"]),
    ]
}

/// A row's pricing category, from its SKU description.
pub(super) fn pricing_category(sku: &str) -> PricingCategory {
    let sku = sku.to_ascii_lowercase();
    if sku.contains("spot") || sku.contains("preemptible") {
        PricingCategory::Spot
    } else if sku.contains("commitment") {
        PricingCategory::Committed
    } else {
        PricingCategory::OnDemand
    }
}

/// The effective cost of a row: its cost plus its credits.
pub(super) fn effective_cost(
    reader: &BillingReader,
    record: &Value,
    cost: Option<Decimal>,
) -> Result<Option<Decimal>, String> {
    let credits = match reader.value(record, BillingField::Credits) {
        Some(v) => credits_sum(&v)?,
        None => Decimal::ZERO,
    };
    Ok(cost.map(|c| c + credits))
}
