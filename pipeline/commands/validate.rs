//! `inferledger validate`: checks the config and every input without writing anything.
//! Each file is opened, its format resolved, and its first records read through the same
//! extractor as `run`; every problem found is reported at once.

use std::path::PathBuf;

use clap::Args;

use crate::common::error::{Error, Result};
use crate::common::progress::Progress;
use crate::sources::requests::{ResolvedSource, extract, open_file};

/// Records read from each file by `validate`.
pub const SAMPLE_RECORDS: usize = 1000;

/// Options of `validate`.
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// Config file.
    #[arg(long, short, default_value = "inferledger.toml")]
    pub config: PathBuf,
}

impl ValidateArgs {
    /// Prints a line per source and file; fails if any problem was found.
    pub async fn run(self, _progress: &Progress) -> Result<()> {
        let report = validate(&self.config)?;
        print!("{}", report.text);
        if report.problems.is_empty() {
            println!("ok: config and inputs are readable");
            Ok(())
        } else {
            Err(Error::Usage(format!(
                "{} problem(s) found:\n{}",
                report.problems.len(),
                report
                    .problems
                    .iter()
                    .map(|p| format!("  - {p}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )))
        }
    }
}

/// What `validate` found.
#[derive(Debug, Default)]
pub struct ValidationReport {
    /// One line per source and file.
    pub text: String,
    /// Every problem.
    pub problems: Vec<String>,
}

/// Checks a config file and its inputs.
pub fn validate(config_path: &std::path::Path) -> Result<ValidationReport> {
    let config = super::load_config(config_path)?;
    let mut report = ValidationReport::default();
    match super::load_price_book(&config) {
        Err(e) => report.problems.push(e.to_string()),
        Ok((_, Some(file))) => {
            for entry in &file.refused {
                report.text.push_str(&format!(
                    "warning: [prices] file {}: entry refused, the catalog prices its model: {entry}\n",
                    file.path
                ));
            }
        }
        Ok(_) => {}
    }
    for source in &config.requests {
        let name = source.display_name();
        let resolved = match ResolvedSource::resolve(&config, source) {
            Ok(r) => r,
            Err(e) => {
                report.problems.push(format!("source {name}: {e}"));
                continue;
            }
        };
        report.text.push_str(&format!(
            "source {name} ({}): {} file(s)\n",
            source.format.name(),
            resolved.files.len()
        ));
        for path in &resolved.files {
            let (format, records) = match open_file(&resolved, path, |f| Box::new(f)) {
                Ok(x) => x,
                Err(e) => {
                    report.problems.push(e.to_string());
                    continue;
                }
            };
            let spec = resolved.spec(format);
            let (mut read, mut bad) = (0usize, Vec::new());
            for record in records.take(SAMPLE_RECORDS) {
                read += 1;
                let result = record
                    .value
                    .and_then(|v| extract::extract(&v, &spec, "validate"));
                if let Err(reason) = result {
                    bad.push(format!("{}:{}: {reason}", path.display(), record.line));
                }
            }
            report.text.push_str(&format!(
                "  {} as {}: {read} record(s) checked, {} unreadable\n",
                path.display(),
                format.name(),
                bad.len()
            ));
            if read > 0 && bad.len() == read {
                report.problems.push(format!(
                    "{}: none of the {read} records checked could be read as {}; first: {}",
                    path.display(),
                    format.name(),
                    bad[0]
                ));
            } else {
                let limit = source
                    .max_bad_fraction
                    .unwrap_or(config.run.max_bad_fraction);
                if read > 0 && bad.len() as f64 > limit * read as f64 {
                    report.problems.push(format!(
                        "{}: {} of the first {read} records are unreadable (above max_bad_fraction {limit}); first: {}",
                        path.display(),
                        bad.len(),
                        bad[0]
                    ));
                }
                for line in bad.iter().take(3) {
                    report.text.push_str(&format!("    {line}\n"));
                }
            }
        }
    }
    let mut pools_matched: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for source in &config.billing {
        let name = source.name.clone().unwrap_or_else(|| source.path.clone());
        let files = match crate::read::files::expand(&config.resolve(&source.path)) {
            Ok(files) => files,
            Err(e) => {
                report.problems.push(format!("billing {name}: {e}"));
                continue;
            }
        };
        report.text.push_str(&format!(
            "billing {name} ({}): {} file(s)\n",
            source.format.name(),
            files.len()
        ));
        let reader = crate::sources::billing::BillingReader::new(&config, source);
        for path in &files {
            let Some((layout, compression)) = crate::read::files::classify(path) else {
                continue;
            };
            let records =
                match crate::read::records::open(path, layout, compression, |f| Box::new(f)) {
                    Ok(r) => r,
                    Err(e) => {
                        report.problems.push(e.to_string());
                        continue;
                    }
                };
            let (mut read, mut gpu, mut bad) = (0usize, 0usize, Vec::new());
            for record in records.take(SAMPLE_RECORDS) {
                read += 1;
                match record.value.and_then(|v| reader.read(&v)) {
                    Ok(charge) => {
                        gpu += charge.gpu_model.is_some() as usize;
                        if charge.gpu_model.is_some() {
                            pools_matched.extend(charge.pool.clone());
                        }
                    }
                    Err(reason) => {
                        bad.push(format!("{}:{}: {reason}", path.display(), record.line))
                    }
                }
            }
            report.text.push_str(&format!(
                "  {}: {read} row(s) checked, {gpu} GPU, {} unreadable\n",
                path.display(),
                bad.len()
            ));
            if read > 0 && bad.len() == read {
                report.problems.push(format!(
                    "{}: none of the {read} rows checked could be read as {}; first: {}",
                    path.display(),
                    source.format.name(),
                    bad[0]
                ));
            }
            for line in bad.iter().take(3) {
                report.text.push_str(&format!("    {line}\n"));
            }
        }
    }
    for warning in crate::publish::summary::skipped_inputs(&config) {
        report.text.push_str(&format!("warning: {warning}\n"));
    }
    for warning in crate::publish::summary::unmatched_pools(&config, &pools_matched) {
        report
            .text
            .push_str(&format!("warning: {warning} (in the rows checked)\n"));
    }
    for source in &config.provider_usage {
        let name = source.name.clone().unwrap_or_else(|| source.path.clone());
        let files = match crate::read::files::expand(&config.resolve(&source.path)) {
            Ok(files) => files,
            Err(e) => {
                report.problems.push(format!("provider_usage {name}: {e}"));
                continue;
            }
        };
        report.text.push_str(&format!(
            "provider_usage {name} ({}): {} file(s)\n",
            source.format.name(),
            files.len()
        ));
        for path in &files {
            let results = match crate::sources::provider_usage::read_file(path, source.format) {
                Ok(results) => results,
                Err(e) => {
                    report.problems.push(e.to_string());
                    continue;
                }
            };
            let bad: Vec<String> = results
                .iter()
                .filter_map(|(line, row)| {
                    row.as_ref()
                        .err()
                        .map(|reason| format!("{}:{line}: {reason}", path.display()))
                })
                .collect();
            report.text.push_str(&format!(
                "  {}: {} result(s), {} unreadable\n",
                path.display(),
                results.len(),
                bad.len()
            ));
            if !results.is_empty() && bad.len() == results.len() {
                report.problems.push(format!(
                    "{}: none of its {} results could be read as {}; first: {}",
                    path.display(),
                    results.len(),
                    source.format.name(),
                    bad[0]
                ));
            }
            for line in bad.iter().take(3) {
                report.text.push_str(&format!("    {line}\n"));
            }
        }
    }
    for source in &config.gpu_metrics {
        let path = config.resolve(&source.path);
        if crate::read::remote::is_url(&path) {
            match crate::read::remote::list(&path.to_string_lossy()) {
                Ok(found) if !found.is_empty() => {}
                Ok(_) => report.problems.push(format!(
                    "gpu_metrics {}: no such object or prefix",
                    path.display()
                )),
                Err(e) => report.problems.push(format!("gpu_metrics {e}")),
            }
        } else if !path.exists() {
            report.problems.push(format!(
                "gpu_metrics {}: no such file or folder",
                path.display()
            ));
        }
    }
    Ok(report)
}
