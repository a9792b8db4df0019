//! The TOML configuration: which request logs to read, which prices to use, how to cut
//! interactions, and where the run writes. Parsed with `deny_unknown_fields` and checked as
//! a whole ([`Config::load`]) so that every problem is reported before any work starts.
//! Relative paths are resolved against the folder holding the config file.

pub mod fields;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

use crate::common::error::{Error, Result};
use fields::{CanonicalField, DEFAULTABLE_FIELDS};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Request-log sources, one `[[requests]]` block each.
    #[serde(default)]
    pub requests: Vec<RequestSource>,
    /// Price overrides.
    #[serde(default)]
    pub prices: PricesConfig,
    /// How requests are grouped into interactions.
    #[serde(default)]
    pub interactions: InteractionsConfig,
    /// Run-wide settings.
    #[serde(default)]
    pub run: RunConfig,
    /// GPU billing exports, one `[[billing]]` block each.
    #[serde(default)]
    pub billing: Vec<BillingSource>,
    /// Instance types added to (or overriding) the built-in GPU instance table.
    #[serde(default)]
    pub instance_types: Vec<InstanceTypeConfig>,
    /// Self-hosted serving pools.
    #[serde(default)]
    pub pools: Vec<PoolConfig>,
    /// GPU metrics (DCGM exporter, vLLM counters), one `[[gpu_metrics]]` block each.
    #[serde(default)]
    pub gpu_metrics: Vec<GpuMetricsSource>,
    /// Assumptions for break-even, volatility, cache opportunity and recommendations.
    #[serde(default)]
    pub economics: Economics,
    /// The providers' own usage and cost exports, one `[[provider_usage]]` block each.
    #[serde(default)]
    pub provider_usage: Vec<ProviderUsageSource>,
    /// How reconciliation judges a difference between the logs and the providers.
    #[serde(default)]
    pub reconcile: ReconcileConfig,
    /// Object storage settings for inputs given as URLs (`s3://…`).
    #[serde(default)]
    pub storage: StorageConfig,
    /// The folder the config was read from; relative paths are resolved against it.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The config file itself, for messages.
    #[serde(skip)]
    pub file: PathBuf,
}

/// One `[[requests]]` block: a file, folder or glob of request logs in one format.
/// (Serialized too: `run --cluster` sends it to the executors that read the logs.)
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSource {
    /// A name for messages and the run summary; defaults to `path`.
    pub name: Option<String>,
    /// A file, a folder (read recursively) or a glob. Relative to the config file's folder.
    pub path: String,
    /// `openai | anthropic | gemini | otel | litellm | langfuse | trace | auto`.
    pub format: Format,
    /// Where each canonical column is read from: a dotted JSON path or a CSV column name,
    /// or a list of them (the first one present wins). Replaces the preset's paths.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldPaths>,
    /// Values for columns the source lacks (`provider`, `model`, `team`, `feature`,
    /// `deployment`, `user_id`); used when the record has no value of its own.
    #[serde(default)]
    pub defaults: BTreeMap<String, String>,
    /// Offset applied to timestamps written without a zone: `UTC` (default) or `+HH:MM`.
    pub timezone: Option<String>,
    /// For traces whose timestamps are offsets (seconds or ms from the trace's start), the
    /// RFC 3339 instant the offsets count from. Offsets are read in `time_unit`.
    pub time_origin: Option<String>,
    /// Unit of numeric timestamps: `s`, `ms`, `us`, `ns`, or `auto` (by magnitude; default).
    pub time_unit: Option<String>,
    /// A chrono format for the source's timestamps, tried first (e.g. `%d/%m/%Y %H:%M`).
    pub time_format: Option<String>,
    /// Overrides `[run] max_bad_fraction` for this source.
    pub max_bad_fraction: Option<f64>,
}

/// One `[[billing]]` block: a cloud or neocloud billing export.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingSource {
    /// A name for messages and the summary; defaults to `path`.
    pub name: Option<String>,
    /// A file, a folder (read recursively) or a glob.
    pub path: String,
    /// `focus | aws_cur | gcp | generic`.
    pub format: BillingFormat,
    /// Which cost to use: `effective` (amortised, the default), `billed` or `list`.
    #[serde(default)]
    pub cost_basis: CostBasis,
    /// Where each billing column is read from (required for `generic`): `start`, `end`,
    /// `resource_id`, `resource_name`, `instance_type`, `gpu_model`, `gpus`,
    /// `pricing_category`, `cost`, `usage_hours`, `provider`, `region`, `tags`.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldPaths>,
    /// Offset for timestamps written without a zone: `UTC` (default) or `+HH:MM`.
    pub timezone: Option<String>,
    /// A chrono format for the source's dates, tried first (e.g. `%m/%d/%Y`).
    pub time_format: Option<String>,
    /// Overrides `[run] max_bad_fraction` for this source.
    pub max_bad_fraction: Option<f64>,
}

/// One `[[instance_types]]` block: a GPU instance type the built-in table lacks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceTypeConfig {
    /// Instance type as billing rows write it (case-insensitive), e.g. `gpu_8x_h100_sxm5`.
    pub name: String,
    /// GPU model, e.g. `H100`.
    pub gpu_model: String,
    /// GPUs per instance.
    pub gpus: i64,
}

/// One `[[pools]]` block: a self-hosted serving pool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Pool name.
    pub name: String,
    /// Billing rows whose resource id matches one of these globs belong to the pool.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Billing rows whose resource name matches one of these globs belong to the pool.
    #[serde(default)]
    pub names: Vec<String>,
    /// Billing rows whose tags hold all of these key = value-glob pairs belong to the pool.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Request `deployment` values this pool served (each deployment is one replica).
    #[serde(default)]
    pub deployments: Vec<String>,
    /// GPU metrics whose host label matches one of these globs belong to the pool.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// `production`, `staging`, `batch`…
    pub environment: Option<String>,
    /// The API model users would otherwise call for this pool's work (for break-even).
    pub api_model: Option<String>,
    /// Measured capacity per model: output tokens per second per GPU.
    #[serde(default)]
    pub tokens_per_second_per_gpu: BTreeMap<String, f64>,
    /// The last day (`YYYY-MM-DD`) of the commitment (reservation, savings plan, committed
    /// use discount) the pool's committed capacity is bought under: what it saves by giving
    /// GPUs back or moving to an API is realisable from the day after.
    pub commitment_ends: Option<String>,
}

/// One `[[gpu_metrics]]` block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuMetricsSource {
    /// A name for messages; defaults to `path`.
    pub name: Option<String>,
    /// A file, folder or glob of Prometheus text snapshots (`.prom`, `.txt`) or range-query
    /// dumps (`.csv`, `.jsonl`, `.json`).
    pub path: String,
    /// `dcgm | vllm`.
    pub format: MetricsFormat,
    /// The label naming the host (default `Hostname` for DCGM, `instance` for vLLM).
    pub host_label: Option<String>,
    /// Overrides `[run] max_bad_fraction` for this source.
    pub max_bad_fraction: Option<f64>,
}

/// One `[[provider_usage]]` block: a file, folder or glob of a provider's organisation usage
/// or cost export (API pages as saved: one JSON page per file, pages one per line, or a
/// JSON array of pages).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderUsageSource {
    /// A name for messages and the run summary; defaults to `path`.
    pub name: Option<String>,
    /// A file, folder or glob.
    pub path: String,
    /// `auto` (the default: each result says what it is), `openai_usage`, `openai_costs`,
    /// `anthropic_usage` or `anthropic_costs`.
    #[serde(default)]
    pub format: ProviderUsageFormat,
    /// Overrides `[run] max_bad_fraction` for this source.
    pub max_bad_fraction: Option<f64>,
}

/// The `format` of a `[[requests]]` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// OpenAI Chat Completions or Responses objects.
    Openai,
    /// Anthropic Messages responses.
    Anthropic,
    /// Gemini `generateContent` responses.
    Gemini,
    /// OpenTelemetry GenAI spans flattened to JSON.
    Otel,
    /// LiteLLM `LiteLLM_SpendLogs` exports (CSV or JSON).
    Litellm,
    /// Langfuse's observations export (Parquet, CSV or JSON lines).
    Langfuse,
    /// Public traces with timestamps and token counts only (Azure, Mooncake/Qwen, BurstGPT).
    Trace,
    /// Pick one of the above from each file's first record.
    Auto,
}

impl Format {
    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Openai => "openai",
            Format::Anthropic => "anthropic",
            Format::Gemini => "gemini",
            Format::Otel => "otel",
            Format::Litellm => "litellm",
            Format::Langfuse => "langfuse",
            Format::Trace => "trace",
            Format::Auto => "auto",
        }
    }
}

/// The `format` of a `[[provider_usage]]` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ProviderUsageFormat {
    /// Each result's own shape decides.
    #[default]
    Auto,
    /// OpenAI `GET /v1/organization/usage/completions` pages
    /// (`organization.usage.completions.result`).
    OpenaiUsage,
    /// OpenAI `GET /v1/organization/costs` pages (`organization.costs.result`).
    OpenaiCosts,
    /// Anthropic `GET /v1/organizations/usage_report/messages` pages.
    AnthropicUsage,
    /// Anthropic `GET /v1/organizations/cost_report` pages.
    AnthropicCosts,
}

impl ProviderUsageFormat {
    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            ProviderUsageFormat::Auto => "auto",
            ProviderUsageFormat::OpenaiUsage => "openai_usage",
            ProviderUsageFormat::OpenaiCosts => "openai_costs",
            ProviderUsageFormat::AnthropicUsage => "anthropic_usage",
            ProviderUsageFormat::AnthropicCosts => "anthropic_costs",
        }
    }
}

/// `[reconcile]`: when a difference between the logs and a provider's export is within
/// noise.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// Largest share of the larger side that counts as agreement (0.01 = 1%).
    pub tolerance: f64,
    /// Largest cost difference that counts as agreement whatever its share, USD.
    pub tolerance_usd: Decimal,
}

/// `[storage]`: how inputs given as URLs (`s3://bucket/prefix/`, `gs://…`, `az://…`) are
/// reached, beside the store's own environment variables (`AWS_ACCESS_KEY_ID`,
/// `AWS_REGION`, `GOOGLE_APPLICATION_CREDENTIALS`, `AZURE_STORAGE_ACCOUNT_NAME`, …).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Endpoint of an S3-compatible server (MinIO, Ceph, R2, a local test server).
    pub endpoint: Option<String>,
    /// The bucket's region (else `AWS_REGION` / `AWS_DEFAULT_REGION`).
    pub region: Option<String>,
    /// Allow plain HTTP to the endpoint (a server on localhost).
    pub allow_http: bool,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            tolerance: 0.01,
            tolerance_usd: Decimal::new(1, 2),
        }
    }
}

/// `[economics]`: the assumptions behind every decision figure, each with a default and a
/// unit. Thresholds are shares (0.30 = 30%).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Economics {
    /// USD per GPU-hour by GPU model, used when no bill gives one (decimal).
    pub gpu_hour_usd: BTreeMap<String, Decimal>,
    /// GPU model assumed for self-hosting an API workload.
    pub selfhost_gpu_model: String,
    /// Output tokens per second one GPU serves, by model (`default` for the rest).
    pub throughput_tokens_per_second: BTreeMap<String, f64>,
    /// All-in monthly cost of one owned GPU (power, space, staff share), USD.
    pub owned_gpu_month_usd: Decimal,
    /// Purchase price of one GPU, USD.
    pub gpu_purchase_usd: Decimal,
    /// Months over which a purchased GPU is written off.
    pub amortisation_months: f64,
    /// Months between ordering GPUs and serving on them.
    pub lead_time_months: f64,
    /// Cost of one engineer-month, USD (a token-saving project must beat it).
    pub engineer_month_usd: Decimal,
    /// Below this utilisation an API would have been cheaper.
    pub api_cheaper_below: f64,
    /// Above this utilisation self-hosting wins.
    pub selfhost_wins_above: f64,
    /// A prompt-cache hit ratio under this is expensive.
    pub cache_hit_low: f64,
    /// The hit ratio a reworked prompt layout can reach.
    pub cache_hit_target: f64,
    /// Spot price swing (max/min − 1) within a month above which capacity is volatile.
    pub spot_swing: f64,
    /// Share taken off by batch APIs.
    pub batch_discount: f64,
    /// Share of all API spend above which a model × feature's spend is material.
    pub material_share: f64,
    /// Share of spend on abandoned interactions above which it is a finding.
    pub abandoned_share: f64,
    /// Days of published history the decision tables (break-even, recommendations, spot
    /// volatility) look back over, ending on the run's last day.
    pub lookback_days: u32,
    /// GPUs one replica of the self-hosted stand-in for an API model needs, by API model
    /// (`default` for the rest): a 70B model in 16 bits does not fit one 80 GB GPU.
    pub replica_gpus: BTreeMap<String, u32>,
    /// Replicas kept beyond what the busiest hours need (1: N+1, a node can fail or be
    /// upgraded while serving).
    pub spare_replicas: u32,
    /// Engineer-months a month that running one self-hosted workload takes (model
    /// upgrades, on-call, capacity planning), priced at `engineer_month_usd`.
    pub selfhost_ops_engineer_months: f64,
    /// Engineer-months, once, to move one workload onto self-hosted GPUs (serving stack,
    /// evaluation, rollout), priced at `engineer_month_usd`: the payback's numerator.
    pub migration_engineer_months: f64,
}

impl Default for Economics {
    fn default() -> Self {
        Economics {
            gpu_hour_usd: [
                ("H100", "2.50"),
                ("H200", "3.50"),
                ("A100", "1.80"),
                ("A100-80GB", "2.00"),
                ("L40S", "1.00"),
                ("L4", "0.70"),
                ("A10G", "1.00"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Decimal::from_str(v).expect("a decimal")))
            .collect(),
            selfhost_gpu_model: "H100".to_string(),
            throughput_tokens_per_second: [("default".to_string(), 1000.0)].into_iter().collect(),
            owned_gpu_month_usd: Decimal::from(2000),
            gpu_purchase_usd: Decimal::from(30000),
            amortisation_months: 36.0,
            lead_time_months: 12.0,
            engineer_month_usd: Decimal::from(20000),
            api_cheaper_below: 0.30,
            selfhost_wins_above: 0.60,
            cache_hit_low: 0.20,
            cache_hit_target: 0.40,
            spot_swing: 0.40,
            batch_discount: 0.5,
            material_share: 0.01,
            abandoned_share: 0.10,
            lookback_days: 30,
            replica_gpus: [("default".to_string(), 1)].into_iter().collect(),
            spare_replicas: 1,
            selfhost_ops_engineer_months: 0.25,
            migration_engineer_months: 1.0,
        }
    }
}

/// A field mapping: one path or several candidates.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum FieldPaths {
    /// One dotted path or column name.
    One(String),
    /// Candidates in order; the first one present in a record is used.
    Many(Vec<String>),
}

impl FieldPaths {
    /// The candidate paths in order.
    pub fn paths(&self) -> Vec<String> {
        match self {
            FieldPaths::One(p) => vec![p.clone()],
            FieldPaths::Many(ps) => ps.clone(),
        }
    }
}

/// `[prices]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PricesConfig {
    /// A LiteLLM `model_prices_and_context_window.json` file whose entries override the
    /// built-in catalog for the models it names.
    pub file: Option<String>,
}

/// `[interactions]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractionsConfig {
    /// When a log has no interaction id, a user's requests further apart than this start a
    /// new interaction. `30m` by default; units `s`, `m`, `h`, `d`.
    #[serde(default = "default_gap")]
    pub inactivity_gap: String,
}

impl Default for InteractionsConfig {
    fn default() -> Self {
        InteractionsConfig {
            inactivity_gap: default_gap(),
        }
    }
}

fn default_gap() -> String {
    "30m".to_string()
}

/// `[run]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Output folder (overridden by `--out`). `out` by default, relative to the current
    /// directory when given on the command line, to the config's folder here.
    pub out: Option<String>,
    /// Largest share of a source's rows that may be quarantined before the run fails
    /// (exit code 2, no tables written). 0.01 by default.
    #[serde(default = "default_bad_fraction")]
    pub max_bad_fraction: f64,
    /// Memory the SQL steps may use (e.g. `4G`); sorts and aggregations spill to disk
    /// beyond it. Unbounded when unset; `--memory-limit` wins.
    pub memory_limit: Option<String>,
    /// How many session buckets the session steps (`requests`, `interactions`) run in, one
    /// at a time, so that their memory does not grow with the log. By default one per 200
    /// MiB of request logs (compressed files counted at 8× their size).
    pub session_buckets: Option<u32>,
    /// How many runs' versions of the tables are kept for `sql --as-of` and `history`
    /// (30 by default, at least 1); files only older runs needed are deleted (vacuum).
    #[serde(default = "default_keep_runs")]
    pub keep_runs: usize,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            out: None,
            max_bad_fraction: default_bad_fraction(),
            memory_limit: None,
            session_buckets: None,
            keep_runs: default_keep_runs(),
        }
    }
}

fn default_keep_runs() -> usize {
    30
}

fn default_bad_fraction() -> f64 {
    0.01
}

impl Config {
    /// The `[storage]` settings object stores are opened with.
    pub fn storage_settings(&self) -> crate::read::remote::StorageSettings {
        crate::read::remote::StorageSettings {
            endpoint: self.storage.endpoint.clone(),
            region: self.storage.region.clone(),
            allow_http: self.storage.allow_http,
        }
    }

    /// Reads and checks a config file, reporting every problem at once.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text, path)
    }

    /// Parses config text as if read from `path` (relative paths resolve against its folder).
    pub fn from_toml(text: &str, path: &Path) -> Result<Config> {
        let mut config: Config = toml::from_str(text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            problems: vec![e.to_string().trim_end().replace('\n', "\n    ")],
        })?;
        config.file = path.to_path_buf();
        // Inputs given as URLs are read with these settings, on the command's runtime.
        crate::read::remote::configure(&config.storage_settings());
        config.base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(Error::Config {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// The largest share of a source's rows that may be quarantined: the source's own
    /// `max_bad_fraction`, else `[run] max_bad_fraction`.
    pub fn bad_row_limit(&self, source_limit: Option<f64>) -> f64 {
        source_limit.unwrap_or(self.run.max_bad_fraction)
    }

    /// Every semantic problem of the config (those TOML parsing cannot see).
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.requests.is_empty() && self.billing.is_empty() {
            problems.push("no [[requests]] or [[billing]] block: nothing to read".to_string());
        }
        for (index, source) in self.requests.iter().enumerate() {
            let at = format!("[[requests]] #{} ({})", index + 1, source.path);
            for key in source.fields.keys() {
                if CanonicalField::from_name(key).is_none() {
                    problems.push(format!(
                        "{at}: unknown field '{key}' in [requests.fields]; expected one of: {}",
                        CanonicalField::all_names().join(", ")
                    ));
                }
            }
            for key in source.defaults.keys() {
                if !DEFAULTABLE_FIELDS.iter().any(|f| f.name() == key) {
                    problems.push(format!(
                        "{at}: '{key}' cannot take a default in [requests.defaults]; expected one of: {}",
                        DEFAULTABLE_FIELDS
                            .iter()
                            .map(|f| f.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            if let Some(tz) = &source.timezone
                && crate::read::time::parse_offset(tz).is_none()
            {
                problems.push(format!(
                    "{at}: timezone '{tz}' not understood; expected 'UTC' or an offset like '+02:00'"
                ));
            }
            if let Some(origin) = &source.time_origin
                && chrono::DateTime::parse_from_rfc3339(origin).is_err()
            {
                problems.push(format!(
                    "{at}: time_origin '{origin}' is not an RFC 3339 instant (e.g. 2026-11-01T00:00:00Z)"
                ));
            }
            if let Some(unit) = &source.time_unit
                && crate::read::time::EpochUnit::parse(unit).is_none()
            {
                problems.push(format!(
                    "{at}: time_unit '{unit}' not understood; expected s, ms, us, ns or auto"
                ));
            }
            if let Some(f) = source.max_bad_fraction
                && !(0.0..=1.0).contains(&f)
            {
                problems.push(format!("{at}: max_bad_fraction {f} is not between 0 and 1"));
            }
            if source.path.trim().is_empty() {
                problems.push(format!("{at}: path is empty"));
            }
        }
        for (index, source) in self.billing.iter().enumerate() {
            let at = format!("[[billing]] #{} ({})", index + 1, source.path);
            for key in source.fields.keys() {
                if !FIELD_NAMES.contains(&key.as_str()) {
                    problems.push(format!(
                        "{at}: unknown field '{key}' in [billing.fields]; expected one of: {}",
                        FIELD_NAMES.join(", ")
                    ));
                }
            }
            if source.format == BillingFormat::Generic {
                for needed in ["start", "cost"] {
                    if !source.fields.contains_key(needed) {
                        problems.push(format!(
                            "{at}: format generic needs [billing.fields] {needed}"
                        ));
                    }
                }
            }
            if let Some(tz) = &source.timezone
                && crate::read::time::parse_offset(tz).is_none()
            {
                problems.push(format!(
                    "{at}: timezone '{tz}' not understood; expected 'UTC' or '+02:00'"
                ));
            }
        }
        for (index, source) in self.provider_usage.iter().enumerate() {
            let at = format!(
                "[[provider_usage]] #{} ({})",
                index + 1,
                source.name.as_deref().unwrap_or(&source.path)
            );
            if let Err(e) = crate::read::files::expand(&self.resolve(&source.path)) {
                problems.push(format!("{at}: {e}"));
            }
            if let Some(f) = source.max_bad_fraction
                && !(0.0..=1.0).contains(&f)
            {
                problems.push(format!("{at}: max_bad_fraction {f} is not between 0 and 1"));
            }
        }
        if !(0.0..1.0).contains(&self.reconcile.tolerance) {
            problems.push(format!(
                "[reconcile] tolerance {} is not a share between 0 and 1 (0.01 = 1%)",
                self.reconcile.tolerance
            ));
        }
        if self.reconcile.tolerance_usd.is_sign_negative() {
            problems.push("[reconcile] tolerance_usd must not be negative".to_string());
        }
        for t in &self.instance_types {
            if t.gpus <= 0 {
                problems.push(format!(
                    "[[instance_types]] {}: gpus must be at least 1",
                    t.name
                ));
            }
        }
        let mut pool_names = std::collections::BTreeSet::new();
        let mut deployments = std::collections::BTreeMap::new();
        for pool in &self.pools {
            for deployment in &pool.deployments {
                if let Some(other) = deployments.insert(deployment.clone(), pool.name.clone()) {
                    problems.push(format!(
                        "[[pools]] {}: deployment '{deployment}' is already served by pool {other}",
                        pool.name
                    ));
                }
            }
            if !pool_names.insert(pool.name.clone()) {
                problems.push(format!("[[pools]] {}: the name is used twice", pool.name));
            }
            if let Some(day) = &pool.commitment_ends
                && chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").is_err()
            {
                problems.push(format!(
                    "[[pools]] {}: commitment_ends '{day}' is not a day; expected YYYY-MM-DD, e.g. 2027-03-31",
                    pool.name
                ));
            }
            if pool.resources.is_empty() && pool.names.is_empty() && pool.tags.is_empty() {
                problems.push(format!(
                    "[[pools]] {}: give resources, names or tags to say which billing rows are its",
                    pool.name
                ));
            }
            for pattern in pool
                .resources
                .iter()
                .chain(&pool.names)
                .chain(&pool.hosts)
                .chain(pool.tags.values())
            {
                if glob::Pattern::new(pattern).is_err() {
                    problems.push(format!(
                        "[[pools]] {}: '{pattern}' is not a valid glob",
                        pool.name
                    ));
                }
            }
            for (model, tps) in &pool.tokens_per_second_per_gpu {
                if !(tps.is_finite() && *tps > 0.0) {
                    problems.push(format!(
                        "[[pools]] {}: tokens_per_second_per_gpu for {model} must be positive",
                        pool.name
                    ));
                }
            }
        }
        let e = &self.economics;
        for (name, value) in [
            ("api_cheaper_below", e.api_cheaper_below),
            ("selfhost_wins_above", e.selfhost_wins_above),
            ("cache_hit_low", e.cache_hit_low),
            ("cache_hit_target", e.cache_hit_target),
            ("batch_discount", e.batch_discount),
            ("material_share", e.material_share),
            ("abandoned_share", e.abandoned_share),
        ] {
            if !(0.0..=1.0).contains(&value) {
                problems.push(format!(
                    "[economics] {name} = {value} is not a share between 0 and 1"
                ));
            }
        }
        if e.api_cheaper_below > e.selfhost_wins_above {
            problems.push("[economics] api_cheaper_below is above selfhost_wins_above".to_string());
        }
        for (name, value) in [
            ("owned_gpu_month_usd", e.owned_gpu_month_usd),
            ("gpu_purchase_usd", e.gpu_purchase_usd),
            ("engineer_month_usd", e.engineer_month_usd),
        ] {
            if value.is_sign_negative() && !value.is_zero() {
                problems.push(format!(
                    "[economics] {name} = {value} must be a non-negative amount"
                ));
            }
        }
        if e.lookback_days == 0 {
            problems.push("[economics] lookback_days must be at least 1".to_string());
        }
        for (name, value) in [
            ("amortisation_months", e.amortisation_months),
            ("lead_time_months", e.lead_time_months),
            ("spot_swing", e.spot_swing),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                problems.push(format!(
                    "[economics] {name} = {value} must be a non-negative number"
                ));
            }
        }
        for (model, v) in &e.gpu_hour_usd {
            if *v <= Decimal::ZERO {
                problems.push(format!("[economics] {model} = {v} must be positive"));
            }
        }
        for (model, v) in &e.throughput_tokens_per_second {
            if !(v.is_finite() && *v > 0.0) {
                problems.push(format!("[economics] {model} = {v} must be positive"));
            }
        }
        for (model, v) in &e.replica_gpus {
            if !(1..=1024).contains(v) {
                problems.push(format!(
                    "[economics] replica_gpus {model} = {v}: a replica needs 1 to 1,024 GPUs"
                ));
            }
        }
        for (name, value) in [
            (
                "selfhost_ops_engineer_months",
                e.selfhost_ops_engineer_months,
            ),
            ("migration_engineer_months", e.migration_engineer_months),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                problems.push(format!(
                    "[economics] {name} = {value} must be a non-negative number"
                ));
            }
        }
        if parse_duration_seconds(&self.interactions.inactivity_gap)
            .is_none_or(|seconds| seconds > MAX_INACTIVITY_GAP_SECONDS)
        {
            problems.push(format!(
                "[interactions] inactivity_gap '{}' not understood; expected a number and a unit from 1s to 30d, e.g. 30m, 90s, 2h",
                self.interactions.inactivity_gap
            ));
        }
        if self
            .run
            .session_buckets
            .is_some_and(|b| !(1..=4096).contains(&b))
        {
            problems.push("[run] session_buckets must be between 1 and 4096".to_string());
        }
        if self.run.keep_runs == 0 {
            problems.push(
                "[run] keep_runs = 0: at least the latest run is kept (its tables are the ones read); use 1 or more".to_string(),
            );
        }
        if let Some(limit) = &self.run.memory_limit
            && let Err(e) = parse_memory_size(limit)
        {
            problems.push(format!("[run] memory_limit: {e}"));
        }
        if !(0.0..=1.0).contains(&self.run.max_bad_fraction) {
            problems.push(format!(
                "[run] max_bad_fraction {} is not between 0 and 1",
                self.run.max_bad_fraction
            ));
        }
        problems
    }

    /// Resolves a path written in the config against the config's folder.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() || crate::read::remote::is_url(p) {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The config's folder, against which its relative paths resolve.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// `[run] memory_limit` in bytes, if set (checked at load; a config built otherwise
    /// gets the same error).
    pub fn memory_limit(&self) -> Result<Option<usize>> {
        self.run
            .memory_limit
            .as_deref()
            .map(parse_memory_size)
            .transpose()
            .map_err(|e| Error::Config {
                path: self.file.clone(),
                problems: vec![format!("[run] memory_limit: {e}")],
            })
    }

    /// The inactivity gap in seconds (checked at load).
    pub fn inactivity_gap_seconds(&self) -> i64 {
        parse_duration_seconds(&self.interactions.inactivity_gap).unwrap_or(1800)
    }
}

impl RequestSource {
    /// The name used in messages and the summary.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.path.clone())
    }
}

/// Longest inactivity gap accepted: 30 days (an interaction open longer is not one, and a
/// gap of 10^8 days overflowed the day arithmetic).
pub const MAX_INACTIVITY_GAP_SECONDS: i64 = 30 * 86_400;

/// Parses `90s`, `30m`, `2h`, `1d` (or a bare number of seconds) into seconds.
pub fn parse_duration_seconds(text: &str) -> Option<i64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: i64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    (n > 0).then(|| n.checked_mul(factor)).flatten()
}

/// The `format` of a `[[billing]]` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingFormat {
    /// FinOps FOCUS 1.0–1.2 (CSV or Parquet).
    Focus,
    /// AWS Cost and Usage Report 2.0 (Parquet or CSV).
    AwsCur,
    /// Google Cloud detailed billing export (CSV or JSON lines).
    Gcp,
    /// Any CSV, with `[billing.fields]` saying where each column is.
    Generic,
}

impl BillingFormat {
    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            BillingFormat::Focus => "focus",
            BillingFormat::AwsCur => "aws_cur",
            BillingFormat::Gcp => "gcp",
            BillingFormat::Generic => "generic",
        }
    }
}

/// Which of a bill's costs is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostBasis {
    /// What was invoiced (FOCUS BilledCost, CUR unblended, GCP cost).
    Billed,
    /// Amortised: commitments spread over the usage they cover, credits applied (FOCUS
    /// EffectiveCost, CUR Savings Plan / RI effective cost, GCP cost + credits). The right
    /// base for unit economics.
    #[default]
    Effective,
    /// Public on-demand prices (FOCUS ListCost, CUR public on-demand cost).
    List,
}

/// The billing columns `[billing.fields]` can map.
pub const FIELD_NAMES: [&str; 14] = [
    "currency",
    "start",
    "end",
    "resource_id",
    "resource_name",
    "instance_type",
    "gpu_model",
    "gpus",
    "pricing_category",
    "cost",
    "usage_hours",
    "provider",
    "region",
    "tags",
];

/// The `format` of a `[[gpu_metrics]]` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsFormat {
    /// NVIDIA DCGM exporter gauges (`DCGM_FI_DEV_GPU_UTIL` 0–100,
    /// `DCGM_FI_PROF_GR_ENGINE_ACTIVE` 0–1, …).
    Dcgm,
    /// vLLM counters (`vllm:generation_tokens_total`, `vllm:prefix_cache_hits_total`, …).
    Vllm,
}

/// Parses a memory size: `2G`, `512M`, `1.5GiB`, or bytes.
pub fn parse_memory_size(text: &str) -> std::result::Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a memory size; expected e.g. 2G, 512M"))?;
    let factor = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "K" | "KB" | "KIB" => 1024.0,
        "M" | "MB" | "MIB" => 1024.0 * 1024.0,
        "G" | "GB" | "GIB" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("'{text}' has an unknown unit; expected K, M or G")),
    };
    let bytes = value * factor;
    if bytes < 16.0 * 1024.0 * 1024.0 {
        return Err(format!("'{text}' is too small; give at least 16M"));
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory_size("2G"), Ok(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_memory_size("512M"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_memory_size("1.5GiB"), Ok(1536 * 1024 * 1024));
        assert!(parse_memory_size("lots").is_err());
        assert!(parse_memory_size("2T").is_err());
        assert!(parse_memory_size("1K").unwrap_err().contains("too small"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_seconds("30m"), Some(1800));
        assert_eq!(parse_duration_seconds("90s"), Some(90));
        assert_eq!(parse_duration_seconds("2h"), Some(7200));
        assert_eq!(parse_duration_seconds("0m"), None);
        assert_eq!(parse_duration_seconds("soon"), None);
        // Issue 30: 10^8 days does not overflow; the config refuses it (over 30 days).
        assert_eq!(
            parse_duration_seconds("100000000d"),
            Some(8_640_000_000_000)
        );
        assert_eq!(parse_duration_seconds("200000000000000000d"), None);
    }

    #[test]
    fn unknown_keys_and_fields_are_all_reported() {
        let text = r#"
[[requests]]
path = "logs"
format = "openai"
[requests.fields]
tema = "metadata.team"
[requests.defaults]
input_tokens = "3"

[interactions]
inactivity_gap = "soon"
"#;
        let err = Config::from_toml(text, Path::new("x/inferledger.toml")).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("unknown field 'tema'"), "{message}");
        assert!(
            message.contains("'input_tokens' cannot take a default"),
            "{message}"
        );
        assert!(message.contains("inactivity_gap 'soon'"), "{message}");
    }

    #[test]
    fn unknown_format_and_key_fail_in_toml() {
        let err = Config::from_toml(
            "[[requests]]\npath='a'\nformat='cohere'\n",
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("cohere"), "{err}");
        let err = Config::from_toml(
            "[[requests]]\npath='a'\nformat='openai'\npaht='b'\n",
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("paht"), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_the_config_folder() {
        let c = Config::from_toml(
            "[[requests]]\npath='logs/a.jsonl'\nformat='openai'\n",
            Path::new("/etc/il/inferledger.toml"),
        )
        .unwrap();
        assert_eq!(
            c.resolve("logs/a.jsonl"),
            PathBuf::from("/etc/il/logs/a.jsonl")
        );
    }
}
