//! `inferledger prices [MODEL]`: the price catalog (built-in, plus the config's price file),
//! how a model name resolves to an entry at a date, and, over a finished run, which entry
//! priced how many requests and how much money.

use chrono::NaiveDate;
use clap::Args;

use crate::commands::session::{OutputFormat, print_batches, query};
use crate::common::error::Result;
use crate::prices::{Price, PriceBook, name_candidates, per_million};

/// Options of `prices`.
#[derive(Debug, Clone, Args)]
pub struct PricesArgs {
    /// A model name as logs write it (e.g. `gpt-4o-2024-08-06`); without it, the whole catalog.
    pub model: Option<String>,
    /// The requests' provider, for price files keyed `provider/model`.
    #[arg(long)]
    pub provider: Option<String>,
    /// Day to resolve prices at (default: today, UTC).
    #[arg(long, value_parser = super::parse_date)]
    pub at: Option<NaiveDate>,
    /// The run folder and config.
    #[command(flatten)]
    pub folder: super::RunFolderArgs,
    /// Propose price entries from what the providers billed: for each model whose
    /// reconciliation says `price` (tokens agree, cost differs), the catalog's prices scaled
    /// by billed / logged, effective from its first such day, as a LiteLLM-format price file
    /// for `[prices] file`.
    #[arg(long, conflicts_with = "model")]
    pub propose: bool,
}

/// The negotiated rates the reconciliation saw: per provider and model, billed / logged
/// over the days whose reason is `price`, and the first of them.
const PROPOSE_SQL: &str = "SELECT provider, model, MIN(date) AS first_day, \
     CAST(SUM(billed_cost_usd) AS VARCHAR) AS billed, CAST(SUM(logged_cost_usd) AS VARCHAR) AS logged, \
     COUNT(*) AS days \
     FROM reconciliation WHERE reason = 'price' AND logged_cost_usd > 0 \
     GROUP BY provider, model ORDER BY provider, model";

/// A LiteLLM-format price file proposing, for each negotiated rate in `out`'s
/// reconciliation, the catalog entry in force on its first day scaled by billed / logged.
pub async fn proposed_prices(out: &std::path::Path, book: &PriceBook) -> Result<serde_json::Value> {
    use rust_decimal::Decimal;
    let batches = query(out, PROPOSE_SQL).await?.pop().unwrap_or_default();
    let mut file = serde_json::Map::new();
    for batch in &batches {
        let text =
            |column: usize, row: usize| crate::common::arrow_util::text_at(batch, column, row);
        for row in 0..batch.num_rows() {
            let (
                Some(provider),
                Some(model),
                Some(first_day),
                Some(billed),
                Some(logged),
                Some(days),
            ) = (
                text(0, row),
                text(1, row),
                text(2, row),
                text(3, row),
                text(4, row),
                text(5, row),
            )
            else {
                continue;
            };
            let (Ok(billed), Ok(logged)) = (billed.parse::<Decimal>(), logged.parse::<Decimal>())
            else {
                continue;
            };
            let Some(day) = NaiveDate::parse_from_str(&first_day, "%Y-%m-%d").ok() else {
                continue;
            };
            let noon = day
                .and_hms_opt(12, 0, 0)
                .expect("noon")
                .and_utc()
                .timestamp_micros();
            let Some(price) = book.lookup(&model, Some(&provider), noon) else {
                continue;
            };
            let ratio = billed / logged;
            // Per-token prices to 15 decimal places (a millionth of a cent per million).
            let scaled = |p: Decimal| (p * ratio).round_dp(15).normalize();
            let number = |p: Decimal| {
                serde_json::Number::from_f64(p.to_string().parse::<f64>().unwrap_or_default())
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            };
            let mut entry = serde_json::Map::new();
            let tier = &price.standard;
            entry.insert("input_cost_per_token".into(), number(scaled(tier.input)));
            entry.insert("output_cost_per_token".into(), number(scaled(tier.output)));
            if let Some(read) = tier.cache_read {
                entry.insert("cache_read_input_token_cost".into(), number(scaled(read)));
            }
            if let Some(write) = tier.cache_write_5m {
                entry.insert(
                    "cache_creation_input_token_cost".into(),
                    number(scaled(write)),
                );
            }
            if let Some(write) = tier.cache_write_1h {
                entry.insert(
                    "cache_creation_input_token_cost_above_1hr".into(),
                    number(scaled(write)),
                );
            }
            if let Some(long) = &price.long_context {
                entry.insert(
                    "input_cost_per_token_above_200k_tokens".into(),
                    number(scaled(long.input)),
                );
                entry.insert(
                    "output_cost_per_token_above_200k_tokens".into(),
                    number(scaled(long.output)),
                );
            }
            entry.insert("litellm_provider".into(), provider.clone().into());
            entry.insert("mode".into(), "chat".into());
            entry.insert("effective_from".into(), first_day.clone().into());
            entry.insert(
                "x_inferledger_note".into(),
                format!(
                    "{} billed {}% of what {} prices over {days} days from {first_day} (reconciliation reason 'price')",
                    provider,
                    (ratio * Decimal::ONE_HUNDRED).round_dp(2).normalize(),
                    price.id
                )
                .into(),
            );
            file.insert(price.model.clone(), serde_json::Value::Object(entry));
        }
    }
    Ok(serde_json::Value::Object(file))
}

fn row(price: &Price) -> String {
    let opt = |p: Option<rust_decimal::Decimal>| p.map(per_million).unwrap_or_else(|| "-".into());
    let long = price
        .long_context
        .as_ref()
        .map(|t| format!("{}/{}", per_million(t.input), per_million(t.output)))
        .unwrap_or_else(|| "-".into());
    format!(
        "{:<48} {:<10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>13} {:>6}",
        price.id,
        price.provider.as_deref().unwrap_or("-"),
        price
            .effective_from
            .map(|d| d.to_string())
            .unwrap_or_else(|| "always".into()),
        per_million(price.standard.input),
        per_million(price.standard.output),
        opt(price.standard.cache_read),
        opt(price.standard.cache_write_5m),
        opt(price.standard.cache_write_1h),
        long,
        price
            .batch_discount
            .map(|d| d.to_string())
            .unwrap_or_else(|| "-".into()),
    )
}

fn header() -> String {
    format!(
        "{:<48} {:<10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>13} {:>6}\n(prices in USD per million tokens)",
        "entry",
        "provider",
        "from",
        "input",
        "output",
        "c.read",
        "c.wr5m",
        "c.wr1h",
        ">200k in/out",
        "batch"
    )
}

/// Every entry for the model `price` is for and its dated snapshots (`gpt-4o` and
/// `gpt-4o-2024-05-13`), or for the alias of a snapshot: the entries one name can resolve to
/// over time.
fn related_entries<'a>(book: &'a PriceBook, price: &Price) -> Vec<&'a Price> {
    let family = name_candidates(&price.model)
        .pop()
        .unwrap_or_else(|| price.model.to_ascii_lowercase());
    book.entries()
        .into_iter()
        .filter(|p| name_candidates(&p.model).last() == Some(&family))
        .collect()
}

impl PricesArgs {
    /// Prints the catalog or one model's resolution.
    pub async fn run(self) -> Result<()> {
        let (config, out) = self.folder.resolve()?;
        let book = match &config {
            Some(config) => crate::prices::load_price_book(config)?.0,
            None => PriceBook::builtin(),
        };
        if self.propose {
            let proposal = proposed_prices(&out, &book).await?;
            if proposal.as_object().is_none_or(|o| o.is_empty()) {
                eprintln!(
                    "no negotiated rate to propose: no reconciliation row of {} says `price`",
                    out.display()
                );
            }
            println!("{}", serde_json::to_string_pretty(&proposal)?);
            return Ok(());
        }
        let day = self.at.unwrap_or_else(|| chrono::Utc::now().date_naive());
        let micros = day
            .and_hms_opt(12, 0, 0)
            .expect("noon")
            .and_utc()
            .timestamp_micros();
        match &self.model {
            None => {
                println!("{}", header());
                for price in book.entries() {
                    println!("{}", row(price));
                }
            }
            Some(model) => {
                println!(
                    "{model}: looked up as {}",
                    name_candidates(model).join(", then ")
                );
                match book.lookup(model, self.provider.as_deref(), micros) {
                    Some(price) => {
                        println!("priced on {day} by:\n{}\n{}", header(), row(price));
                        let history = related_entries(&book, price);
                        if history.len() > 1 {
                            println!("all entries for {}:", price.model);
                            for p in history {
                                println!("{}", row(p));
                            }
                        }
                    }
                    None => println!(
                        "no price on {day}: requests for it get cost_usd NULL and are listed as unpriced"
                    ),
                }
            }
        }
        if out.join("requests").is_dir() {
            // The requests logged under this name, and those any of its entries priced (a
            // log says `gpt-4o-2024-08-06` where the catalog says `gpt-4o`).
            let quote = |text: &str| format!("'{}'", text.replace('\'', "''"));
            let filter = match &self.model {
                Some(m) => {
                    let entries: Vec<String> = book
                        .lookup(m, self.provider.as_deref(), micros)
                        .map(|price| {
                            related_entries(&book, price)
                                .into_iter()
                                .map(|p| quote(&p.id))
                                .collect()
                        })
                        .unwrap_or_default();
                    let priced_by = if entries.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " OR split_part(price_id, '+', 1) IN ({})",
                            entries.join(", ")
                        )
                    };
                    format!("WHERE (model = {}{priced_by})", quote(m))
                }
                None => String::new(),
            };
            let sql = format!(
                "SELECT COALESCE(price_id, '(unpriced)') AS price_id, COUNT(*) AS requests, SUM(cost_usd) AS cost_usd \
                 FROM requests {filter} GROUP BY price_id ORDER BY requests DESC"
            );
            println!("\nwhich entry priced what in {}:", out.display());
            for batches in query(&out, &sql).await? {
                if batches.iter().all(|b| b.num_rows() == 0) {
                    println!("(no requests in this run folder)");
                } else {
                    print_batches(&mut std::io::stdout().lock(), &batches, OutputFormat::Table)?;
                }
            }
        }
        Ok(())
    }
}
