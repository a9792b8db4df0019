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
    /// `--map gpt-4o=gpt-4.1-mini`. MODEL matches the logged models as prices do:
    /// `gpt-4o` also names `gpt-4o-2024-08-06` and `openai/gpt-4o`.
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
    /// The run folder and config.
    #[command(flatten)]
    pub folder: super::RunFolderArgs,
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

/// The models the API requests of the period name, with their request counts, most
/// requested first.
async fn logged_models(
    session: &Session,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<(String, i64)>> {
    let mut days = Vec::new();
    if let Some(from) = from {
        days.push(format!("date >= '{from}'"));
    }
    if let Some(to) = to {
        days.push(format!("date <= '{to}'"));
    }
    days.push("pool IS NULL AND model IS NOT NULL".to_string());
    let sql = format!(
        "SELECT model, COUNT(*) AS requests FROM requests WHERE {} GROUP BY model ORDER BY requests DESC, model",
        days.join(" AND ")
    );
    let batches = session.run(&sql).await?.pop().unwrap_or_default();
    let mut models = Vec::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let model = crate::common::arrow_util::text_at(batch, 0, row);
            let count = crate::common::arrow_util::text_at(batch, 1, row)
                .and_then(|n| n.parse::<i64>().ok());
            if let (Some(model), Some(count)) = (model, count) {
                models.push((model, count));
            }
        }
    }
    Ok(models)
}

/// Each `--map MODEL=SUBSTITUTE` as the logged models it names: the model itself, or every
/// logged model that prices as it (a dated snapshot, a `provider/` prefix: see
/// [`crate::prices::name_candidates`]). A MODEL no request names is an error listing the
/// logged models whose names are closest.
fn match_logged_models(
    map: &[(String, String)],
    logged: &[(String, i64)],
) -> Result<Vec<(String, String)>> {
    let mut matched = Vec::new();
    for (model, substitute) in map {
        let wanted = model.to_ascii_lowercase();
        let names: Vec<&String> = logged
            .iter()
            .map(|(name, _)| name)
            .filter(|name| *name == model || crate::prices::name_candidates(name).contains(&wanted))
            .collect();
        if names.is_empty() {
            return Err(Error::Usage(format!(
                "--map {model}={substitute}: no request names {model} in the period; logged models{}: {}",
                if logged.is_empty() {
                    ""
                } else {
                    " (closest first)"
                },
                closest_names(&wanted, logged)
            )));
        }
        matched.extend(names.into_iter().map(|n| (n.clone(), substitute.clone())));
    }
    Ok(matched)
}

/// Up to 8 logged model names, those sharing the longest start with `wanted` first (then
/// the most requested): what a user who typed `wanted` most likely meant.
fn closest_names(wanted: &str, logged: &[(String, i64)]) -> String {
    if logged.is_empty() {
        return "none (no API request in the period)".to_string();
    }
    let shared = |name: &str| {
        name.to_ascii_lowercase()
            .chars()
            .zip(wanted.chars())
            .take_while(|(a, b)| a == b)
            .count()
    };
    let mut ranked: Vec<&(String, i64)> = logged.iter().collect();
    ranked.sort_by(|a, b| shared(&b.0).cmp(&shared(&a.0)).then(b.1.cmp(&a.1)));
    ranked
        .iter()
        .take(8)
        .map(|(name, requests)| format!("{name} ({requests} requests)"))
        .collect::<Vec<_>>()
        .join(", ")
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
        let (config, out) = self.folder.resolve()?;
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            return Err(Error::Usage(format!(
                "--from {from} is after --to {to}: the period to reprice is empty"
            )));
        }
        let session = Session::open(&out, config.as_ref(), None, false, None).await?;
        let ctx = session.context();
        let logged = logged_models(&session, self.from, self.to).await?;
        let map = match_logged_models(&self.map, &logged)?;
        let mut book = match &config {
            Some(c) => crate::prices::load_price_book(c)?.0,
            None => crate::prices::PriceBook::builtin(),
        };
        if let Some(file) = &self.prices {
            book.add_overrides(crate::prices::litellm::load(file)?.prices);
        }
        crate::analyze::functions::udf::register_cost_of(ctx, book);
        crate::analyze::register_whatif_map(ctx, &map)?;
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
