//! A generic CSV (or JSON) bill: the column names each field is looked for under when
//! `[billing.fields]` does not name them; its pricing category is the bill's own words.

use super::BillingField;

/// Where each field is in a generic bill, by default.
pub(super) fn preset() -> Vec<(BillingField, Vec<&'static str>)> {
    vec![
        (BillingField::Currency, vec!["currency"]),
        (BillingField::Start, vec!["start", "hour", "timestamp"]),
        (BillingField::End, vec!["end"]),
        (BillingField::Cost, vec!["cost", "cost_usd"]),
        (BillingField::ResourceId, vec!["resource_id", "resource"]),
        (BillingField::ResourceName, vec!["resource_name"]),
        (BillingField::InstanceType, vec!["instance_type"]),
        (BillingField::GpuModel, vec!["gpu_type", "gpu_model"]),
        (BillingField::Gpus, vec!["gpu_count", "gpus"]),
        (BillingField::PricingCategory, vec!["pricing_category"]),
        (BillingField::UsageHours, vec!["usage_hours", "hours"]),
        (BillingField::Provider, vec!["provider"]),
        (BillingField::Region, vec!["region"]),
        (BillingField::Tags, vec!["tags"]),
        (BillingField::Service, vec!["service"]),
        (BillingField::LineDescription, vec!["description", "sku"]),
        (
            BillingField::CommitmentEnds,
            vec!["commitment_ends", "commitment_end"],
        ),
    ]
}
