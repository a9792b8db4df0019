//! FOCUS 1.0–1.2 (FinOps Open Cost and Usage Specification) exports: the columns each field
//! is read from, and how a row's pricing category is told (its `PricingCategory`, and a
//! `CommitmentDiscountId` makes a row committed whatever the category says).

use super::{BillingField, PricingCategory};
use crate::config::CostBasis;

/// Where each field is in a FOCUS row.
pub(super) fn preset(basis: CostBasis) -> Vec<(BillingField, Vec<&'static str>)> {
    vec![
        (BillingField::Currency, vec!["BillingCurrency"]),
        (BillingField::Start, vec!["ChargePeriodStart"]),
        (BillingField::End, vec!["ChargePeriodEnd"]),
        (
            BillingField::Cost,
            vec![match basis {
                CostBasis::Billed => "BilledCost",
                CostBasis::Effective => "EffectiveCost",
                CostBasis::List => "ListCost",
            }],
        ),
        (BillingField::ResourceId, vec!["ResourceId"]),
        (BillingField::ResourceName, vec!["ResourceName"]),
        (
            BillingField::InstanceType,
            vec![
                "x_InstanceType",
                "SkuPriceDetails.InstanceType",
                "ChargeDescription",
                "SkuId",
            ],
        ),
        (BillingField::PricingCategory, vec!["PricingCategory"]),
        (BillingField::UsageHours, vec!["ConsumedQuantity"]),
        (BillingField::UsageUnit, vec!["ConsumedUnit"]),
        (BillingField::Provider, vec!["ProviderName"]),
        (BillingField::Region, vec!["RegionId"]),
        (BillingField::Tags, vec!["Tags"]),
        (BillingField::ChargeCategory, vec!["ChargeCategory"]),
        (BillingField::Commitment, vec!["CommitmentDiscountId"]),
        (BillingField::Service, vec!["ServiceName"]),
        (BillingField::LineSku, vec!["SkuId"]),
        (BillingField::LineDescription, vec!["ChargeDescription"]),
    ]
}

/// The row's pricing category: the bill's own, or committed when the row names a
/// commitment discount.
pub(super) fn pricing_category(stated: PricingCategory, has_commitment: bool) -> PricingCategory {
    if has_commitment {
        PricingCategory::Committed
    } else {
        stated
    }
}
