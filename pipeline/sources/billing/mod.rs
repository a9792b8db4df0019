//! GPU billing exports: FOCUS 1.0–1.2, AWS CUR 2.0, the GCP detailed export, and a
//! generic CSV with a field mapping. Each row is read through format presets of column
//! paths (overridable in `[billing.fields]`), recognised as GPU spend from the instance
//! type table, assigned to a pool, and spread evenly over the hours it covers, with exact
//! decimal splits (the remainder lands on the last hour, so the hours add up to the row).
//! Non-GPU rows are counted and kept out of GPU figures.

mod cur;
mod focus;
mod gcp;
mod generic;
pub mod instances;
pub mod pools;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Decimal128Array, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

use crate::common::error::{Error, Result};
use crate::common::money::{money_type, to_money};
use crate::common::progress::Progress;
use crate::common::staged::{Kept, StagedFile, StagedRows};
use crate::config::{BillingFormat, CostBasis};
use crate::config::{BillingSource, Config};
use crate::prices::parse_decimal;
use crate::read::json_path::{describe, lookup};
use crate::read::source_reading::{Counts, Outcome, QuarantineWriter, SourceReading};
use crate::read::time::{TimeOptions, parse_offset, parse_timestamp};
use crate::read::{files, records};
use instances::InstanceTable;
use pools::PoolMatcher;

/// What a billing record is read for: each format's preset says where (`focus.rs`,
/// `cur.rs`, `gcp.rs`, `generic.rs`), and `[billing.fields]` can say otherwise for the
/// keys `config::FIELD_NAMES` lists.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize, Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum BillingField {
    /// The bill's currency (only USD is summed).
    Currency,
    /// Start of the charge period.
    Start,
    /// End of the charge period (an hour after the start when absent).
    End,
    /// The cost in the chosen basis.
    Cost,
    /// The billed resource's id.
    ResourceId,
    /// The billed resource's name.
    ResourceName,
    /// Text naming the instance type (a column, a description, a SKU).
    InstanceType,
    /// The GPU model, where the bill says it (generic).
    GpuModel,
    /// The GPUs of the resource, where the bill says it (generic).
    Gpus,
    /// The bill's pricing words (Standard, Dynamic, Committed…).
    PricingCategory,
    /// Hours of usage.
    UsageHours,
    /// The unit of the usage (hours or not).
    UsageUnit,
    /// CUR's usage type (`…SpotUsage…`).
    UsageType,
    /// The cloud or neocloud.
    Provider,
    /// Region.
    Region,
    /// Tags (an object, or its JSON text).
    Tags,
    /// Usage, Credit, Tax…, as the bill says.
    ChargeCategory,
    /// FOCUS's commitment discount id (set: the row is committed).
    Commitment,
    /// CUR's savings-plan / reservation end (an instant).
    CommitmentEnd,
    /// A generic bill's commitment last day (`YYYY-MM-DD`).
    CommitmentEnds,
    /// CUR's savings-plan effective cost.
    SpEffective,
    /// CUR's reservation effective cost.
    RiEffective,
    /// GCP's credits (a list of amounts).
    Credits,
    /// GCP's SKU description.
    Sku,
    /// The cloud service billed.
    Service,
    /// The line's SKU, for what an AI API line bills.
    LineSku,
    /// The line's description.
    LineDescription,
}

impl BillingField {
    /// The field named by a `[billing.fields]` key.
    pub fn from_key(key: &str) -> Option<BillingField> {
        serde_json::from_value(Value::String(key.to_string())).ok()
    }

    /// The field's name, as `[billing.fields]` keys it.
    pub fn key(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// How a billing row was bought: on demand, spot (preemptible), committed (reserved,
/// savings plans, committed use) or other (credits, fees, what the bill does not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PricingCategory {
    /// On demand.
    OnDemand,
    /// Spot, preemptible, interruptible.
    Spot,
    /// Reserved, savings plans, committed use.
    Committed,
    /// Anything else.
    Other,
}

impl PricingCategory {
    /// The name the tables carry (`on_demand`, `spot`, `committed`, `other`).
    pub fn as_str(self) -> &'static str {
        match self {
            PricingCategory::OnDemand => "on_demand",
            PricingCategory::Spot => "spot",
            PricingCategory::Committed => "committed",
            PricingCategory::Other => "other",
        }
    }
}

/// Longest charge spread over hours (400 days); longer rows are quarantined.
const MAX_HOURS: i64 = 24 * 400;
const HOUR: i64 = 3_600_000_000;

/// The column paths a format reads each field from (before `[billing.fields]`).
fn preset(format: BillingFormat, basis: CostBasis) -> BTreeMap<BillingField, Vec<&'static str>> {
    match format {
        BillingFormat::Focus => focus::preset(basis),
        BillingFormat::AwsCur => cur::preset(basis),
        BillingFormat::Gcp => gcp::preset(),
        BillingFormat::Generic => generic::preset(),
    }
    .into_iter()
    .collect()
}

/// How one billing source's records are read.
pub struct BillingReader {
    format: BillingFormat,
    basis: CostBasis,
    paths: BTreeMap<BillingField, Vec<String>>,
    time: TimeOptions,
    instances: InstanceTable,
    pools: PoolMatcher,
}

/// One billing row as read, before it is spread over hours.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    /// Start, UTC µs.
    pub start_micros: i64,
    /// End, UTC µs.
    pub end_micros: i64,
    /// Cost in the chosen basis.
    pub cost: Decimal,
    /// Cloud or neocloud.
    pub provider: Option<String>,
    /// Resource id.
    pub resource_id: Option<String>,
    /// Resource name.
    pub resource_name: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Instance type recognised.
    pub instance_type: Option<String>,
    /// GPU model, when the row is GPU spend.
    pub gpu_model: Option<String>,
    /// GPUs of the resource.
    pub gpus: i64,
    /// GPU-hours the row covers.
    pub gpu_hours: f64,
    /// `on_demand | spot | committed | other`.
    pub pricing_category: PricingCategory,
    /// Usage, Credit, Tax… as the bill says.
    pub charge_category: Option<String>,
    /// The pool the row belongs to.
    pub pool: Option<String>,
    /// The cloud service the row bills (`Amazon Bedrock`, `Vertex AI`, `AmazonEC2`, …).
    pub service: Option<String>,
    /// The row's SKU and description, for what an AI API line bills (model, tokens).
    pub line_text: Option<String>,
    /// The last day of the commitment a committed row is billed under (`YYYY-MM-DD`): from
    /// CUR's `savings_plan_end_time` / `reservation_end_time` (the instant it ends, so the
    /// day before when that is midnight), or a generic bill's `commitment_ends` (a day).
    pub commitment_ends: Option<String>,
}

/// The provider, as request logs name it, of an AI API service on a cloud bill: Amazon
/// Bedrock, Google Vertex AI (and the Gemini API), Azure OpenAI.
pub fn ai_api_provider(service: &str) -> Option<&'static str> {
    let s = service.to_ascii_lowercase();
    if s.contains("bedrock") {
        Some("bedrock")
    } else if s.contains("vertex") || s.contains("gemini api") || s.contains("generative language")
    {
        Some("vertex_ai")
    } else if s.contains("openai") {
        Some("azure")
    } else {
        None
    }
}

/// Maps a bill's pricing words (FOCUS's Standard, Dynamic, Committed; a generic bill's)
/// onto a [`PricingCategory`].
pub fn pricing_category(text: &str) -> PricingCategory {
    let t = text.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    match t.as_str() {
        "standard" | "on_demand" | "ondemand" => PricingCategory::OnDemand,
        "dynamic" | "spot" | "preemptible" | "interruptible" => PricingCategory::Spot,
        "committed" | "reserved" | "savings_plan" | "savingsplan" | "commitment" => {
            PricingCategory::Committed
        }
        _ => PricingCategory::Other,
    }
}

impl BillingReader {
    /// A reader for one `[[billing]]` block.
    pub fn new(config: &Config, source: &BillingSource) -> Self {
        let mut paths: BTreeMap<BillingField, Vec<String>> =
            preset(source.format, source.cost_basis)
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().map(str::to_string).collect()))
                .collect();
        // The config refused keys that name no field (`config::FIELD_NAMES`).
        for (key, value) in &source.fields {
            if let Some(field) = BillingField::from_key(key) {
                paths.insert(field, value.paths());
            }
        }
        let mut time = TimeOptions::default();
        if let Some(offset) = source.timezone.as_deref().and_then(parse_offset) {
            time.offset = offset;
        }
        time.format = source.time_format.clone();
        BillingReader {
            format: source.format,
            basis: source.cost_basis,
            paths,
            time,
            instances: InstanceTable::with_config(&config.instance_types),
            pools: PoolMatcher::new(&config.pools),
        }
    }

    /// A field's value: the first of its paths the record has.
    fn value<'a>(
        &self,
        record: &'a Value,
        field: BillingField,
    ) -> Option<std::borrow::Cow<'a, Value>> {
        self.paths
            .get(&field)?
            .iter()
            .find_map(|p| lookup(record, p))
    }

    /// A field as trimmed text (a number as written).
    fn text(&self, record: &Value, field: BillingField) -> Option<String> {
        self.value(record, field).and_then(|v| match v.as_ref() {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    }

    /// A field as an exact decimal; text that is not a number is an error naming it.
    fn decimal(&self, record: &Value, field: BillingField) -> Result<Option<Decimal>, String> {
        match self.value(record, field) {
            None => Ok(None),
            Some(v) => decimal_of(&v).map(Some).ok_or_else(|| {
                format!("{}: expected a number, found {}", field.key(), describe(&v))
            }),
        }
    }

    /// The last day of a committed row's commitment, when the bill says.
    fn commitment_ends(&self, record: &Value) -> Result<Option<String>, String> {
        if let Some(day) = self.text(record, BillingField::CommitmentEnds) {
            return chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                .map(|d| Some(d.to_string()))
                .map_err(|_| {
                    format!("commitment_ends: expected the commitment's last day as YYYY-MM-DD, found '{day}'")
                });
        }
        let Some(end) = self.value(record, BillingField::CommitmentEnd) else {
            return Ok(None);
        };
        let end_micros = parse_timestamp(&end, &self.time)
            .map_err(|e| format!("savings_plan_end_time / reservation_end_time: {e}"))?;
        // The end is an instant (exclusive): the last day is the one before it ends.
        Ok(chrono::DateTime::from_timestamp_micros(end_micros - 1)
            .map(|t| t.date_naive().to_string()))
    }

    /// Reads one billing record.
    pub fn read(&self, record: &Value) -> Result<Charge, String> {
        if !record.is_object() {
            return Err(format!("expected an object, found {}", describe(record)));
        }
        // Costs are summed in USD columns; another currency would be mixed in silently.
        if let Some(currency) = self.text(record, BillingField::Currency)
            && !currency.trim().is_empty()
            && !currency.trim().eq_ignore_ascii_case("USD")
        {
            return Err(format!(
                "billing currency {} is not USD: inferledger sums costs in USD and applies no exchange rate; export the bill in USD",
                currency.trim()
            ));
        }
        let start = self
            .value(record, BillingField::Start)
            .ok_or("missing charge start")?;
        let start_micros =
            parse_timestamp(&start, &self.time).map_err(|e| format!("start: {e}"))?;
        let end_micros = match self.value(record, BillingField::End) {
            Some(end) => parse_timestamp(&end, &self.time).map_err(|e| format!("end: {e}"))?,
            None => start_micros + HOUR,
        };
        if end_micros < start_micros {
            return Err("charge end is before its start".to_string());
        }
        let cost = self.cost(record)?;
        let charge_category = self.text(record, BillingField::ChargeCategory);
        let stated = self
            .text(record, BillingField::PricingCategory)
            .map(|t| pricing_category(&t))
            .unwrap_or(PricingCategory::Other);
        let category = match self.format {
            BillingFormat::AwsCur => cur::pricing_category(
                &self
                    .text(record, BillingField::UsageType)
                    .unwrap_or_default(),
                charge_category.as_deref().unwrap_or(""),
            ),
            BillingFormat::Gcp => {
                gcp::pricing_category(&self.text(record, BillingField::Sku).unwrap_or_default())
            }
            BillingFormat::Focus => focus::pricing_category(
                stated,
                self.text(record, BillingField::Commitment).is_some(),
            ),
            BillingFormat::Generic => stated,
        };

        let duration_hours = ((end_micros - start_micros) as f64 / HOUR as f64).max(0.0);
        let unit = self
            .text(record, BillingField::UsageUnit)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let hours_unit = !self.paths.contains_key(&BillingField::UsageUnit)
            || unit.starts_with("hour")
            || unit == "h";
        let usage_hours = match self.decimal(record, BillingField::UsageHours)? {
            Some(q) if hours_unit => q.to_string().parse::<f64>().ok(),
            _ => None,
        };

        let mut instance_type = None;
        let (gpu_model, gpus) = match (
            self.text(record, BillingField::GpuModel),
            self.text(record, BillingField::Gpus),
        ) {
            (Some(model), Some(count)) => {
                let gpus = count
                    .parse::<f64>()
                    .ok()
                    .filter(|g| *g >= 0.0 && g.fract() == 0.0)
                    .ok_or_else(|| format!("gpus: expected a whole number, found '{count}'"))?;
                (Some(model), gpus as i64)
            }
            _ => {
                let mut found = None;
                for path in self
                    .paths
                    .get(&BillingField::InstanceType)
                    .into_iter()
                    .flatten()
                {
                    if let Some(text) =
                        lookup(record, path).and_then(|v| v.as_str().map(str::to_string))
                        && let Some(hit) = self.instances.find_in_text(&text)
                    {
                        found = Some(hit);
                        break;
                    }
                }
                if found.is_none() && self.format == BillingFormat::Gcp {
                    found = self
                        .text(record, BillingField::Sku)
                        .and_then(|sku| instances::gcp_gpu_sku(&sku));
                }
                match found {
                    Some((name, model, per_instance)) => {
                        instance_type = Some(name);
                        (Some(model), per_instance)
                    }
                    None => (None, 0),
                }
            }
        };
        // GCP bills attached GPUs per GPU-hour: the usage is the GPU-hours.
        let gpcp_gpu_sku =
            self.format == BillingFormat::Gcp && instance_type.as_deref() == Some("gpu-sku");
        let gpu_hours = if gpu_model.is_none() {
            0.0
        } else if gpcp_gpu_sku {
            usage_hours.unwrap_or(duration_hours)
        } else {
            gpus as f64 * usage_hours.unwrap_or(duration_hours)
        };
        let gpus = if gpcp_gpu_sku && duration_hours > 0.0 {
            (gpu_hours / duration_hours).round().max(1.0) as i64
        } else {
            gpus
        };
        let resource_id = self.text(record, BillingField::ResourceId);
        let resource_name = self.text(record, BillingField::ResourceName);
        let tags = self
            .value(record, BillingField::Tags)
            .map(|t| tags_object(&t))
            .unwrap_or(Value::Null);
        let commitment_ends = if category == PricingCategory::Committed {
            self.commitment_ends(record)?
        } else {
            None
        };
        let pool = gpu_model
            .as_ref()
            .and_then(|_| {
                self.pools
                    .pool_for(resource_id.as_deref(), resource_name.as_deref(), &tags)
            })
            .map(str::to_string);
        Ok(Charge {
            start_micros,
            end_micros,
            cost,
            provider: self
                .text(record, BillingField::Provider)
                .or_else(|| match self.format {
                    BillingFormat::AwsCur => Some(cur::PROVIDER.to_string()),
                    BillingFormat::Gcp => Some(gcp::PROVIDER.to_string()),
                    _ => None,
                }),
            resource_id,
            resource_name,
            region: self.text(record, BillingField::Region),
            instance_type,
            gpu_model,
            gpus,
            gpu_hours,
            pricing_category: category,
            charge_category,
            pool,
            service: self.text(record, BillingField::Service),
            line_text: {
                let parts: Vec<String> = [BillingField::LineSku, BillingField::LineDescription]
                    .into_iter()
                    .filter_map(|field| self.text(record, field))
                    .collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            },
            commitment_ends,
        })
    }

    fn cost(&self, record: &Value) -> Result<Decimal, String> {
        let base = self.decimal(record, BillingField::Cost)?;
        let cost = match (self.format, self.basis) {
            (BillingFormat::AwsCur, CostBasis::Effective) => {
                cur::effective_cost(self, record, base)?
            }
            (BillingFormat::Gcp, CostBasis::Effective) => gcp::effective_cost(self, record, base)?,
            _ => base,
        };
        let cost = cost.ok_or("missing cost")?;
        if cost.abs() > Decimal::from(1_000_000_000_000i64) {
            return Err(format!("implausible cost {cost}"));
        }
        Ok(cost)
    }
}

fn decimal_of(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(Decimal::from(i)),
            None => parse_decimal(&n.as_f64()?.to_string()),
        },
        Value::String(s) => parse_decimal(s),
        _ => None,
    }
}

/// GCP `credits`: a list of `{name, amount}` (or its JSON text); the sum of the amounts.
fn credits_sum(value: &Value) -> Result<Decimal, String> {
    let parsed;
    let list = match value {
        Value::String(s) => {
            parsed =
                serde_json::from_str::<Value>(s).map_err(|e| format!("credits: not JSON: {e}"))?;
            &parsed
        }
        v => v,
    };
    let Value::Array(items) = list else {
        return Err(format!(
            "credits: expected a list, found {}",
            describe(list)
        ));
    };
    items.iter().try_fold(Decimal::ZERO, |sum, item| {
        let amount = item
            .get("amount")
            .and_then(decimal_of)
            .ok_or("credits: an entry has no amount")?;
        Ok(sum + amount)
    })
}

/// Tags as a JSON object: FOCUS writes a JSON object (or its text), GCP a list of
/// `{key, value}`, CUR a map.
fn tags_object(value: &Value) -> Value {
    let parsed = match value {
        Value::String(s) => serde_json::from_str::<Value>(s).unwrap_or(Value::Null),
        v => v.clone(),
    };
    match parsed {
        Value::Array(items) => Value::Object(
            items
                .iter()
                .filter_map(|i| {
                    Some((i.get("key")?.as_str()?.to_string(), i.get("value")?.clone()))
                })
                .collect(),
        ),
        other => other,
    }
}

/// One hour of a charge.
#[derive(Debug, Clone, PartialEq)]
pub struct HourShare {
    /// Start of the hour, UTC µs.
    pub hour_micros: i64,
    /// The hour's share of the cost.
    pub cost: Decimal,
    /// The hour's share of the GPU-hours.
    pub gpu_hours: f64,
}

/// Spreads a charge evenly over the clock hours it covers; the rounding remainder lands on
/// the last hour so that the shares add up to the charge exactly.
pub fn spread(charge: &Charge) -> Result<Vec<HourShare>, String> {
    let first = charge.start_micros.div_euclid(HOUR) * HOUR;
    let hours = ((charge.end_micros - first) + HOUR - 1)
        .div_euclid(HOUR)
        .max(1);
    if hours > MAX_HOURS {
        return Err(format!(
            "charge period of {hours} hours is longer than 400 days"
        ));
    }
    let each = (charge.cost / Decimal::from(hours))
        .round_dp_with_strategy(12, rust_decimal::RoundingStrategy::ToZero);
    let last = charge.cost - each * Decimal::from(hours - 1);
    Ok((0..hours)
        .map(|i| HourShare {
            hour_micros: first + i * HOUR,
            cost: if i == hours - 1 { last } else { each },
            gpu_hours: charge.gpu_hours / hours as f64,
        })
        .collect())
}

/// Schema of staged hourly GPU billing rows (the input of `gpu_billing_hourly.sql`).
pub fn staged_schema() -> SchemaRef {
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        crate::common::arrow_util::utc_timestamp_field("hour", false),
        text("provider"),
        text("resource_id"),
        text("resource_name"),
        text("region"),
        text("instance_type"),
        text("pool"),
        Field::new("gpu_model", DataType::Utf8, false),
        Field::new("gpus", DataType::Int64, false),
        Field::new("pricing_category", DataType::Utf8, false),
        text("charge_category"),
        Field::new("gpu_hours", DataType::Float64, false),
        Field::new("cost_usd", money_type(), false),
        Field::new("source", DataType::Utf8, false),
        Field::new("source_file", DataType::Utf8, false),
        Field::new("source_line", DataType::Int64, false),
        text("commitment_ends"),
    ]))
}

struct HourRow {
    share: HourShare,
    charge: Arc<Charge>,
    line: u64,
}

/// Hour shares of billing rows being buffered for one staged file.
struct BillingHours {
    rows: Vec<HourRow>,
    source: String,
    file: String,
}

impl StagedRows for BillingHours {
    fn schema(&self) -> SchemaRef {
        staged_schema()
    }

    fn buffered(&self) -> usize {
        self.rows.len()
    }

    fn take_columns(&mut self) -> Result<Vec<ArrayRef>> {
        let rows = std::mem::take(&mut self.rows);
        let opt = |f: fn(&Charge) -> Option<&str>| -> ArrayRef {
            Arc::new(StringArray::from(
                rows.iter().map(|r| f(&r.charge)).collect::<Vec<_>>(),
            ))
        };
        let n = rows.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(
                TimestampMicrosecondArray::from(
                    rows.iter().map(|r| r.share.hour_micros).collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            opt(|c| c.provider.as_deref()),
            opt(|c| c.resource_id.as_deref()),
            opt(|c| c.resource_name.as_deref()),
            opt(|c| c.region.as_deref()),
            opt(|c| c.instance_type.as_deref()),
            opt(|c| c.pool.as_deref()),
            opt(|c| c.gpu_model.as_deref()),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.charge.gpus).collect::<Vec<_>>(),
            )),
            opt(|c| Some(c.pricing_category.as_str())),
            opt(|c| c.charge_category.as_deref()),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.share.gpu_hours).collect::<Vec<_>>(),
            )),
            Arc::new(
                Decimal128Array::from(
                    rows.iter()
                        .map(|r| to_money(r.share.cost).0)
                        .collect::<Vec<_>>(),
                )
                .with_data_type(money_type()),
            ),
            Arc::new(StringArray::from(vec![self.source.as_str(); n])),
            Arc::new(StringArray::from(vec![self.file.as_str(); n])),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.line as i64).collect::<Vec<_>>(),
            )),
            opt(|c| c.commitment_ends.as_deref()),
        ];
        Ok(columns)
    }
}

/// A staged file of billing hours.
fn staged_hours(path: &Path, source: &str, file: &str) -> Result<StagedFile<BillingHours>> {
    let hours = BillingHours {
        rows: Vec::new(),
        source: source.to_string(),
        file: file.to_string(),
    };
    StagedFile::create(path, hours, Kept::ForThisRun)
}

/// What happened to one billing source's rows.
#[derive(Debug, Clone, Serialize, Default)]
pub struct BillingReport {
    /// Source name.
    pub name: String,
    /// Format.
    pub format: String,
    /// Cost basis.
    pub cost_basis: String,
    /// Files read.
    pub files: Vec<String>,
    /// Records read.
    pub rows_read: u64,
    /// GPU rows (kept, spread over hours).
    pub rows_gpu: u64,
    /// Rows that are not GPU spend (counted, kept out of GPU figures).
    pub rows_non_gpu: u64,
    /// Of the non-GPU rows, those billing an AI API (Bedrock, Vertex AI, Azure OpenAI) by a
    /// model the price catalog names: staged for reconciliation as provider-side cost.
    pub rows_ai_api: u64,
    /// Rows quarantined.
    pub rows_quarantined: u64,
    /// Rows outside `--from/--to`.
    pub rows_outside_window: u64,
    /// Rows repeating an earlier row of the source exactly (an export saved twice, a
    /// line item repeated): counted once.
    pub rows_duplicate: u64,
    /// GPU spend read, exact.
    pub gpu_cost_usd: String,
    /// Non-GPU spend read, exact.
    pub non_gpu_cost_usd: String,
    /// rows_read = rows_gpu + rows_non_gpu + rows_quarantined + rows_outside_window +
    /// rows_duplicate.
    pub reconciles: bool,
    /// Commonest quarantine reasons.
    pub quarantine_reasons: Vec<(String, u64)>,
}

/// A billing row's identity: the hash of its whole text (every column).
fn row_identity(raw: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    raw.hash(&mut hasher);
    hasher.finish()
}

/// Reads every `[[billing]]` source into `staging/billing_staged/`.
pub fn ingest(
    config: &Config,
    book: &crate::prices::PriceBook,
    window: Option<crate::sources::requests::Window>,
    staging: &Path,
    quarantine: &mut QuarantineWriter,
    progress: &Progress,
) -> Result<Vec<BillingReport>> {
    let dir = staging.join("billing_staged");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    // AI API lines go where the providers' exports go, as provider-side cost.
    let ai_dir = staging.join(crate::sources::provider_usage::STAGED_DIR);
    std::fs::create_dir_all(&ai_dir).map_err(|e| Error::io(&ai_dir, e))?;
    let mut reports = Vec::new();
    let mut index = 0;
    for source in &config.billing {
        let reader = BillingReader::new(config, source);
        let name = source.name.clone().unwrap_or_else(|| source.path.clone());
        let mut report = BillingReport {
            name: name.clone(),
            format: source.format.name().to_string(),
            cost_basis: format!("{:?}", source.cost_basis).to_ascii_lowercase(),
            ..BillingReport::default()
        };
        let (mut gpu_cost, mut other_cost) = (Decimal::ZERO, Decimal::ZERO);
        let reading = SourceReading::new(&name, &mut *quarantine);
        let mut counts = Counts::default();
        let mut seen_rows: std::collections::HashSet<u64> = std::collections::HashSet::new();
        // Resources the bill shows as GPU instances (GPU model, GPUs, instance type), and
        // credits or refunds on a resource whose own row names no instance type ("credit
        // for downtime" on i-0…): GPU spend when the resource is a GPU instance, which is
        // known once the whole source has been read.
        let mut gpu_resources: HashMap<String, (Option<String>, i64, Option<String>)> =
            HashMap::new();
        let mut pending_credits: Vec<(Charge, Vec<HourShare>, u64, String)> = Vec::new();
        for path in files::expand(&config.resolve(&source.path))? {
            index += 1;
            let display = path.to_string_lossy().into_owned();
            let (layout, compression) = files::classify(&path).expect("expand keeps known files");
            let bar = progress.file(&display, files::size(&path));
            let reader_bar = bar.clone();
            let rows = records::open(&path, layout, compression, move |f| {
                Box::new(reader_bar.wrap_read(f))
            })?;
            let mut staged =
                staged_hours(&dir.join(format!("{index:05}.parquet")), &name, &display)?;
            let mut ai_lines = StagedFile::create(
                &ai_dir.join(format!("bill-{index:05}.parquet")),
                crate::sources::provider_usage::UsageColumns::new(&name, &display),
                crate::common::staged::Kept::ForThisRun,
            )?;
            counts += reading.read_items(&display, rows, |value, raw, line| {
                if !seen_rows.insert(row_identity(raw)) {
                    return Ok(Outcome::Duplicate);
                }
                let (charge, hours) = match reader
                    .read(&value)
                    .and_then(|charge| spread(&charge).map(|hours| (charge, hours)))
                {
                    Ok(read) => read,
                    Err(reason) => return Ok(Outcome::Bad(reason)),
                };
                if window.is_some_and(|w| {
                    charge.end_micros <= w.from_micros || charge.start_micros >= w.to_micros
                }) {
                    return Ok(Outcome::OutsideWindow);
                }
                if charge.gpu_model.is_none() {
                    if charge.cost.is_sign_negative() && charge.resource_id.is_some() {
                        pending_credits.push((charge, hours, line, display.clone()));
                        return Ok(Outcome::Kept);
                    }
                    report.rows_non_gpu += 1;
                    other_cost += charge.cost;
                    let ai_line = charge
                        .service
                        .as_deref()
                        .and_then(ai_api_provider)
                        .zip(charge.line_text.as_deref())
                        .and_then(|(provider, text)| {
                            crate::sources::provider_usage::bill_line_cost(
                                provider,
                                text,
                                charge.start_micros,
                                charge.end_micros,
                                charge.cost,
                                book,
                            )
                        });
                    if let Some(row) = ai_line {
                        report.rows_ai_api += 1;
                        ai_lines.rows.push(line, &row);
                        ai_lines.row_added()?;
                    }
                    return Ok(Outcome::Kept);
                }
                if let Some(id) = &charge.resource_id {
                    gpu_resources.entry(id.clone()).or_insert_with(|| {
                        (
                            charge.gpu_model.clone(),
                            charge.gpus,
                            charge.instance_type.clone(),
                        )
                    });
                }
                report.rows_gpu += 1;
                gpu_cost += charge.cost;
                let charge = Arc::new(charge);
                for share in hours {
                    staged.rows.rows.push(HourRow {
                        share,
                        charge: charge.clone(),
                        line,
                    });
                }
                staged.row_added()?;
                Ok(Outcome::Kept)
            })?;
            staged.finish()?;
            ai_lines.finish()?;
            bar.finish_and_clear();
            report.files.push(display);
        }
        // The credits on GPU instances, staged like the rows they credit (no GPU-hours of
        // their own); the rest are non-GPU spend.
        pending_credits.sort_by(|a, b| a.3.cmp(&b.3));
        let mut staged: Option<StagedFile<BillingHours>> = None;
        for (mut charge, hours, line, origin) in pending_credits {
            let id = charge.resource_id.as_deref().unwrap_or_default();
            let Some((gpu_model, gpus, instance_type)) = gpu_resources.get(id) else {
                report.rows_non_gpu += 1;
                other_cost += charge.cost;
                continue;
            };
            charge.gpu_model = gpu_model.clone();
            charge.gpus = *gpus;
            charge.instance_type = charge.instance_type.or_else(|| instance_type.clone());
            charge.gpu_hours = 0.0;
            report.rows_gpu += 1;
            gpu_cost += charge.cost;
            if staged.as_ref().is_some_and(|w| w.rows.file != origin) {
                staged.take().expect("checked").finish()?;
            }
            if staged.is_none() {
                index += 1;
                staged = Some(staged_hours(
                    &dir.join(format!("{index:05}.parquet")),
                    &name,
                    &origin,
                )?);
            }
            let writer = staged.as_mut().expect("just set");
            let charge = Arc::new(charge);
            for mut share in hours {
                share.gpu_hours = 0.0;
                writer.rows.rows.push(HourRow {
                    share,
                    charge: charge.clone(),
                    line,
                });
            }
            writer.row_added()?;
        }
        if let Some(done) = staged {
            done.finish()?;
        }
        report.gpu_cost_usd = gpu_cost.normalize().to_string();
        report.non_gpu_cost_usd = other_cost.normalize().to_string();
        report.rows_read = counts.read;
        report.rows_quarantined = counts.quarantined;
        report.rows_outside_window = counts.outside_window;
        report.rows_duplicate = counts.duplicate;
        // Every kept row is GPU or other spend (a credit once its resource is known).
        report.reconciles =
            counts.reconciles() && counts.kept == report.rows_gpu + report.rows_non_gpu;
        let limit = config.bad_row_limit(source.max_bad_fraction);
        report.quarantine_reasons = reading.finish(&counts, limit)?;
        reports.push(report);
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn reader(format: BillingFormat, basis: CostBasis, extra: &str) -> BillingReader {
        let text = format!(
            "[[billing]]\npath = \"x\"\nformat = \"{}\"\ncost_basis = \"{}\"\n{extra}\n[[pools]]\nname = \"chat\"\nresources = [\"i-chat-*\"]\n[[pools]]\nname = \"tagged\"\ntags = {{ pool = \"batch*\" }}\n",
            format.name(),
            format!("{basis:?}").to_ascii_lowercase()
        );
        let config = Config::from_toml(&text, Path::new("c.toml")).unwrap();
        BillingReader::new(&config, &config.billing[0])
    }

    // Three rows of the real FOCUS 1.0 sample (FOCUS-Sample-Data, CC-BY-4.0), as CSV cells.
    fn focus_row(billed: &str, effective: &str, quantity: &str, start: &str, end: &str) -> Value {
        serde_json::json!({
            "BilledCost": billed, "EffectiveCost": effective, "ListCost": "1.62400000000",
            "ChargeCategory": "Usage", "ChargeDescription": "$1.624 per On Demand Linux g5.4xlarge Instance Hour",
            "ChargeFrequency": "Usage-Based", "ChargePeriodStart": start, "ChargePeriodEnd": end,
            "CommitmentDiscountId": "NULL", "ConsumedQuantity": quantity, "ConsumedUnit": "Hours",
            "PricingCategory": "Standard", "ProviderName": "AWS", "RegionId": "us-east-1",
            "ResourceId": "i-006flle71l19b488a", "ResourceName": "NULL",
            "Tags": "{\"application\": \"BrightPathMatrix\", \"environment\": \"dev\"}"
        })
    }

    #[test]
    fn focus_gpu_rows_by_basis() {
        let row = focus_row(
            "1.62400000000",
            "2.00000000000",
            "1.000000000000000",
            "2024-09-27 15:00:00",
            "2024-09-27 16:00:00",
        );
        let effective = reader(BillingFormat::Focus, CostBasis::Effective, "")
            .read(&row)
            .unwrap();
        assert_eq!(effective.cost, d("2"));
        assert_eq!(
            (effective.gpu_model.as_deref(), effective.gpus),
            (Some("A10G"), 1)
        );
        assert_eq!(effective.instance_type.as_deref(), Some("g5.4xlarge"));
        assert_eq!(effective.pricing_category, PricingCategory::OnDemand);
        assert_eq!(effective.gpu_hours, 1.0);
        assert_eq!(effective.pool, None);
        let billed = reader(BillingFormat::Focus, CostBasis::Billed, "")
            .read(&row)
            .unwrap();
        assert_eq!(billed.cost, d("1.624"));
        // A partial hour: ConsumedQuantity 0.296111 hours of one A10G.
        let partial = focus_row(
            "0.48088426400",
            "0.00000000000",
            "0.296111000000000",
            "2024-09-21 01:00:00",
            "2024-09-21 02:00:00",
        );
        let charge = reader(BillingFormat::Focus, CostBasis::Billed, "")
            .read(&partial)
            .unwrap();
        assert!((charge.gpu_hours - 0.296111).abs() < 1e-12);
    }

    #[test]
    fn cur_spot_savings_plans_and_negations() {
        let r = reader(BillingFormat::AwsCur, CostBasis::Effective, "");
        let row = |line_type: &str, usage: &str, unblended: &str, sp: &str| {
            serde_json::json!({"line_item_usage_start_date": "2026-11-16T00:00:00Z",
                "line_item_usage_end_date": "2026-11-16T01:00:00Z", "line_item_resource_id": "i-chat-1",
                "line_item_usage_type": usage, "line_item_line_item_type": line_type,
                "line_item_unblended_cost": unblended, "line_item_usage_amount": "1",
                "savings_plan_savings_plan_effective_cost": sp, "product_instance_type": "p5.48xlarge"})
        };
        let spot = r
            .read(&row("Usage", "USE2-SpotUsage:p5.48xlarge", "41.20", ""))
            .unwrap();
        assert_eq!(
            (spot.pricing_category.as_str(), spot.cost, spot.gpus),
            ("spot", d("41.20"), 8)
        );
        assert_eq!(spot.pool.as_deref(), Some("chat"));
        assert_eq!(spot.gpu_hours, 8.0);
        let covered = r
            .read(&row(
                "SavingsPlanCoveredUsage",
                "USE2-BoxUsage:p5.48xlarge",
                "98.32",
                "61.00",
            ))
            .unwrap();
        assert_eq!(
            (covered.pricing_category.as_str(), covered.cost),
            ("committed", d("61.00"))
        );
        let negation = r
            .read(&row(
                "SavingsPlanNegation",
                "USE2-BoxUsage:p5.48xlarge",
                "-98.32",
                "",
            ))
            .unwrap();
        assert_eq!(negation.cost, Decimal::ZERO);
        let billed = reader(BillingFormat::AwsCur, CostBasis::Billed, "")
            .read(&row(
                "SavingsPlanNegation",
                "USE2-BoxUsage:p5.48xlarge",
                "-98.32",
                "",
            ))
            .unwrap();
        assert_eq!(billed.cost, d("-98.32"));
    }

    #[test]
    fn cur_commitment_terms_give_the_last_day() {
        // CUR 2.0 carries the term's end as an instant (savings_plan_end_time,
        // reservation_end_time): a plan ending at 2027-04-01T00:00:00Z has 2027-03-31 as its
        // last day; one ending mid-day has that day. Usage rows carry no term.
        let r = reader(BillingFormat::AwsCur, CostBasis::Effective, "");
        let row = |line_type: &str, column: &str, end: &str| {
            serde_json::json!({"line_item_usage_start_date": "2026-11-16T00:00:00Z",
                "line_item_usage_end_date": "2026-11-16T01:00:00Z", "line_item_resource_id": "i-chat-1",
                "line_item_usage_type": "USE2-BoxUsage:p5.48xlarge", "line_item_line_item_type": line_type,
                "line_item_unblended_cost": "98.32", "line_item_usage_amount": "1",
                "savings_plan_savings_plan_effective_cost": "61.00", "reservation_effective_cost": "50.00",
                "product_instance_type": "p5.48xlarge", column: end})
        };
        let ends = |line_type: &str, column: &str, end: &str| {
            r.read(&row(line_type, column, end))
                .map(|c| c.commitment_ends)
        };
        assert_eq!(
            ends(
                "SavingsPlanCoveredUsage",
                "savings_plan_end_time",
                "2027-04-01T00:00:00Z"
            ),
            Ok(Some("2027-03-31".to_string()))
        );
        assert_eq!(
            ends(
                "DiscountedUsage",
                "reservation_end_time",
                "2027-06-15T12:30:00.000Z"
            ),
            Ok(Some("2027-06-15".to_string()))
        );
        assert_eq!(
            ends("SavingsPlanCoveredUsage", "savings_plan_end_time", ""),
            Ok(None)
        );
        assert_eq!(
            ends("Usage", "savings_plan_end_time", "2027-04-01T00:00:00Z"),
            Ok(None)
        );
        let bad = ends("SavingsPlanCoveredUsage", "savings_plan_end_time", "soon").unwrap_err();
        assert!(bad.contains("savings_plan_end_time"), "{bad}");
        // A generic bill names the last day itself.
        let generic = reader(
            BillingFormat::Generic,
            CostBasis::Billed,
            "[billing.fields]\nstart = \"start\"\ncost = \"cost\"\n",
        );
        let charge = generic
            .read(&serde_json::json!({"start": "2026-11-16T00:00:00Z", "cost": "4.00", "gpu_model": "H100",
                "gpus": 1, "pricing_category": "committed", "commitment_ends": "2027-03-31"}))
            .unwrap();
        assert_eq!(charge.commitment_ends.as_deref(), Some("2027-03-31"));
        let bad = generic
            .read(&serde_json::json!({"start": "2026-11-16T00:00:00Z", "cost": "4.00", "gpu_model": "H100",
                "gpus": 1, "pricing_category": "committed", "commitment_ends": "2027-02-30"}))
            .unwrap_err();
        assert!(bad.contains("YYYY-MM-DD"), "{bad}");
    }

    #[test]
    fn gcp_credits_and_gpu_skus() {
        let r = reader(BillingFormat::Gcp, CostBasis::Effective, "");
        let row = serde_json::json!({"usage_start_time": "2026-11-16T00:00:00Z", "usage_end_time": "2026-11-16T01:00:00Z",
            "cost": 2.48, "credits": [{"name": "Sustained use", "amount": -0.50}],
            "sku": {"description": "Nvidia L4 GPU running in Americas"},
            "usage": {"amount_in_pricing_units": 2.0, "pricing_unit": "hour"},
            "resource": {"name": "gke-batch-node"}, "labels": [{"key": "pool", "value": "batch-a"}]});
        let charge = r.read(&row).unwrap();
        assert_eq!(charge.cost, d("1.98"));
        assert_eq!(
            (charge.gpu_model.as_deref(), charge.gpus, charge.gpu_hours),
            (Some("L4"), 2, 2.0)
        );
        assert_eq!(charge.pool.as_deref(), Some("tagged"));
    }

    #[test]
    fn generic_rows_and_bad_rows() {
        let r = reader(
            BillingFormat::Generic,
            CostBasis::Effective,
            "[billing.fields]\nstart = \"Hour\"\ncost = \"Amount\"\ngpu_model = \"GPU\"\ngpus = \"Count\"\nresource_id = \"Node\"\npricing_category = \"Tier\"\n",
        );
        let row = serde_json::json!({"Hour": "2026-11-16 03:00", "Amount": "19.92", "GPU": "H100", "Count": "8", "Node": "i-chat-9", "Tier": "Spot"});
        let charge = r.read(&row).unwrap();
        assert_eq!(
            (
                charge.cost,
                charge.gpus,
                charge.pricing_category.as_str(),
                charge.gpu_hours
            ),
            (d("19.92"), 8, "spot", 8.0)
        );
        assert_eq!(charge.pool.as_deref(), Some("chat"));
        let bad = serde_json::json!({"Hour": "2026-11-16 03:00", "Amount": "about 20", "GPU": "H100", "Count": "8"});
        assert!(
            r.read(&bad)
                .unwrap_err()
                .contains("cost: expected a number")
        );
        let no_start = serde_json::json!({"Amount": "1"});
        assert_eq!(r.read(&no_start).unwrap_err(), "missing charge start");
    }

    #[test]
    fn spreading_adds_up_exactly() {
        let r = reader(
            BillingFormat::Generic,
            CostBasis::Effective,
            "[billing.fields]\nstart = \"s\"\nend = \"e\"\ncost = \"c\"\n",
        );
        // $10 over three hours: 3.333333333333 twice and 3.333333333334 last.
        let charge = r
            .read(&serde_json::json!({"s": "2026-11-16T10:00:00Z", "e": "2026-11-16T13:00:00Z", "c": "10"}))
            .unwrap();
        let hours = spread(&charge).unwrap();
        assert_eq!(hours.len(), 3);
        assert_eq!(hours[0].cost, d("3.333333333333"));
        assert_eq!(hours[2].cost, d("3.333333333334"));
        assert_eq!(hours.iter().map(|h| h.cost).sum::<Decimal>(), d("10"));
        // A one-time charge (start = end) lands on its hour.
        let once = r
            .read(&serde_json::json!({"s": "2026-11-16T10:30:00Z", "e": "2026-11-16T10:30:00Z", "c": "-2.6137"}))
            .unwrap();
        let hours = spread(&once).unwrap();
        assert_eq!((hours.len(), hours[0].cost), (1, d("-2.6137")));
    }

    #[test]
    fn pricing_words() {
        assert_eq!(pricing_category("Standard"), PricingCategory::OnDemand);
        assert_eq!(pricing_category("Dynamic"), PricingCategory::Spot);
        assert_eq!(pricing_category("Committed"), PricingCategory::Committed);
        assert_eq!(pricing_category("Other"), PricingCategory::Other);
        assert_eq!(PricingCategory::OnDemand.as_str(), "on_demand");
    }

    /// Every key `[billing.fields]` accepts (the config checks them against
    /// `config::FIELD_NAMES`) names a field the reader reads, and names it back the same.
    #[test]
    fn every_mappable_key_is_a_billing_field() {
        for key in crate::config::FIELD_NAMES {
            let field = BillingField::from_key(key).unwrap_or_else(|| panic!("{key}"));
            assert_eq!(field.key(), key);
        }
        assert_eq!(BillingField::from_key("no_such_field"), None);
    }
}
