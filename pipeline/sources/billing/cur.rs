//! AWS Cost and Usage Report 2.0 exports: the columns each field is read from, how a line
//! item's pricing category is told (spot usage types, savings-plan and reservation line
//! types), and its effective cost (the savings plan's or reservation's effective cost on
//! covered usage; negations and recurring fees counted as zero, as they are amortised
//! into the covered usage).

use rust_decimal::Decimal;
use serde_json::Value;

use super::{BillingField, BillingReader, PricingCategory};
use crate::config::CostBasis;

/// The provider a CUR row bills from when the row does not say.
pub(super) const PROVIDER: &str = "AWS";

/// Where each field is in a CUR 2.0 row.
pub(super) fn preset(basis: CostBasis) -> Vec<(BillingField, Vec<&'static str>)> {
    vec![
        (BillingField::Currency, vec!["line_item_currency_code"]),
        (BillingField::Start, vec!["line_item_usage_start_date"]),
        (BillingField::End, vec!["line_item_usage_end_date"]),
        (
            BillingField::Cost,
            match basis {
                CostBasis::Billed => {
                    vec!["line_item_net_unblended_cost", "line_item_unblended_cost"]
                }
                CostBasis::Effective => {
                    vec!["line_item_net_unblended_cost", "line_item_unblended_cost"]
                }
                CostBasis::List => vec!["pricing_public_on_demand_cost"],
            },
        ),
        (BillingField::ResourceId, vec!["line_item_resource_id"]),
        (
            BillingField::ResourceName,
            vec!["resource_tags.user_Name", "resource_tags_user_name"],
        ),
        (
            BillingField::InstanceType,
            vec!["product_instance_type", "line_item_usage_type"],
        ),
        (BillingField::UsageHours, vec!["line_item_usage_amount"]),
        (BillingField::UsageType, vec!["line_item_usage_type"]),
        (BillingField::Provider, vec!["bill_billing_entity"]),
        (
            BillingField::Region,
            vec!["product_region_code", "product_region"],
        ),
        (BillingField::Tags, vec!["resource_tags"]),
        (
            BillingField::ChargeCategory,
            vec!["line_item_line_item_type"],
        ),
        (
            BillingField::SpEffective,
            vec!["savings_plan_savings_plan_effective_cost"],
        ),
        (
            BillingField::RiEffective,
            vec!["reservation_effective_cost"],
        ),
        (
            BillingField::CommitmentEnd,
            vec!["savings_plan_end_time", "reservation_end_time"],
        ),
        (
            BillingField::Service,
            vec![
                "line_item_product_code",
                "product_servicecode",
                "product_product_name",
            ],
        ),
        (BillingField::LineSku, vec!["line_item_usage_type"]),
        (
            BillingField::LineDescription,
            vec!["line_item_line_item_description"],
        ),
    ]
}

/// A line item's pricing category, from its usage type and line item type.
pub(super) fn pricing_category(usage_type: &str, line_type: &str) -> PricingCategory {
    if usage_type.contains("SpotUsage") {
        PricingCategory::Spot
    } else if matches!(
        line_type,
        "SavingsPlanCoveredUsage" | "DiscountedUsage" | "SavingsPlanNegation"
    ) {
        PricingCategory::Committed
    } else if line_type == "Usage" {
        PricingCategory::OnDemand
    } else {
        PricingCategory::Other
    }
}

/// The effective (amortised) cost of a line item, given its unblended cost.
pub(super) fn effective_cost(
    reader: &BillingReader,
    record: &Value,
    unblended: Option<Decimal>,
) -> Result<Option<Decimal>, String> {
    Ok(
        match reader.text(record, BillingField::ChargeCategory).as_deref() {
            Some("SavingsPlanCoveredUsage") => reader.decimal(record, BillingField::SpEffective)?,
            Some("DiscountedUsage") => reader.decimal(record, BillingField::RiEffective)?,
            // Negations cancel covered usage; recurring fees are amortised into it.
            Some("SavingsPlanNegation" | "SavingsPlanRecurringFee" | "RIFee") => {
                Some(Decimal::ZERO)
            }
            _ => unblended,
        },
    )
}
