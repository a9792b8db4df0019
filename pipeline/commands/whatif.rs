//! `inferledger whatif`: reprices a run folder's API requests with substitute models
//! (`--map gpt-4o=gpt-4.1-mini`) and/or another price file, keeping token counts, and
//! prints the difference by team × feature × model as a range (cache kept as logged, or
//! lost). The SQL is `queries/whatif/reprice.sql`.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::Args;

use super::session::{OutputFormat, Session, print_batches};
use crate::common::error::{Error, Result};

/// What-if repricing of a run folder's history.
#[derive(Debug, Args)]
pub struct WhatifArgs {
    /// A substitute model, `MODEL=SUBSTITUTE` (repeat for several), e.g.
    /// `--map gpt-4o=gpt-4.1-mini`. Models are named as `requests.model` has them.
    #[arg(long = "map", value_parser = parse_mapping)]
    pub map: Vec<(String, String)>,
    /// Reprice with this LiteLLM-format price file laid over the catalog (and the
    /// config's `[prices] file`).
    #[arg(long)]
    pub prices: Option<PathBuf>,
    /// First day to reprice (default: the history's first).
    #[arg(long, value_parser = super::parse_date)]
    pub from: Option<NaiveDate>,
    /// Last day to reprice (default: the history's last).
    #[arg(long, value_parser = super::parse_date)]
    pub to: Option<NaiveDate>,
    /// How much the substitute's tokenizer may count more or fewer tokens for the same
    /// text, as a share (0.1 = ±10%, e.g. moving between providers); widens the range.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    pub token_change: f64,
    /// Output folder of the runs (default: `[run] out` of the config, else `out`).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Config for the price file (used when it exists).
    #[arg(long, short, default_value = "inferledger.toml")]
    pub config: PathBuf,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `MODEL=SUBSTITUTE`.
fn parse_mapping(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((model, substitute)) if !model.trim().is_empty() && !substitute.trim().is_empty() => {
            Ok((model.trim().to_string(), substitute.trim().to_string()))
        }
        _ => Err(format!(
            "'{text}' is not a substitution; expected MODEL=SUBSTITUTE, e.g. gpt-4o=gpt-4.1-mini"
        )),
    }
}

/// A share between 0 and 1.
fn parse_share(text: &str) -> std::result::Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|v| (0.0..1.0).contains(v))
        .ok_or_else(|| format!("'{text}' is not a share between 0 and 1 (0.1 = 10%)"))
}

/// The repricing query.
pub const REPRICE_SQL: &str = include_str!("../../queries/whatif/reprice.sql");

impl WhatifArgs {
    /// Reprices and prints.
    pub async fn run(self) -> Result<()> {
        if self.map.is_empty() && self.prices.is_none() {
            return Err(Error::Usage(
                "nothing to try: give --map MODEL=SUBSTITUTE and/or --prices FILE".to_string(),
            ));
        }
        if matches!(self.format, OutputFormat::Parquet) {
            return Err(Error::Usage(
                "whatif prints a table, CSV or JSON (--format table|csv|json)".to_string(),
            ));
        }
        let config = if self.config.exists() {
            Some(super::load_config(&self.config)?)
        } else {
            None
        };
        let out = super::output_dir(self.out.clone(), config.as_ref());
        let session = Session::open(&out, config.as_ref(), None, false, None).await?;
        let ctx = session.context();
        let mut book = match &config {
            Some(c) => super::load_price_book(c)?.0,
            None => crate::prices::PriceBook::builtin(),
        };
        if let Some(file) = &self.prices {
            book.add_overrides(crate::prices::litellm::load(file)?.prices);
        }
        crate::analyze::udf::register_cost_of(ctx, book);
        crate::analyze::register_whatif_map(ctx, &self.map)?;
        crate::analyze::register_whatif_window(
            ctx,
            self.from.map(|d| d.to_string()),
            self.to.map(|d| d.to_string()),
            self.token_change,
        )?;
        let batches = session.run(REPRICE_SQL).await?.pop().unwrap_or_default();
        let mut stdout = std::io::stdout().lock();
        print_batches(&mut stdout, &batches, self.format)?;
        Ok(())
    }
}
