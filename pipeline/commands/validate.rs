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
            Err(Error::Invalid {
                problems: report.problems,
            })
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
    match crate::prices::load_price_book(&config) {
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
    validate_gpu_metrics(&config, &mut report);
    Ok(report)
}

/// Lists each `[[gpu_metrics]]` source and checks its files' first records as `run` reads
/// them: samples, their time span, the hosts they name and the pools those hosts belong
/// to. A host that matches no pool's `hosts` is a warning (its samples measure no pool);
/// a file none of whose records reads, or a source with no file, is a problem.
fn validate_gpu_metrics(config: &crate::config::Config, report: &mut ValidationReport) {
    use std::collections::BTreeSet;
    let pools = crate::sources::billing::pools::PoolMatcher::new(&config.pools);
    let mut pools_measured: BTreeSet<String> = BTreeSet::new();
    let mut sampled = false;
    for source in &config.gpu_metrics {
        let name = source.name.clone().unwrap_or_else(|| source.path.clone());
        let format = match source.format {
            crate::config::MetricsFormat::Dcgm => "dcgm",
            crate::config::MetricsFormat::Vllm => "vllm",
        };
        let files = match crate::sources::metrics::expand_metrics(config, source) {
            Ok(files) if !files.is_empty() => files,
            Ok(_) => {
                report.problems.push(format!(
                    "gpu_metrics {name}: no metrics file at {}",
                    config.resolve(&source.path).display()
                ));
                continue;
            }
            Err(e) => {
                report.problems.push(format!("gpu_metrics {name}: {e}"));
                continue;
            }
        };
        report.text.push_str(&format!(
            "gpu_metrics {name} ({format}, host label {}): {} file(s)\n",
            crate::sources::metrics::host_label(source),
            files.len()
        ));
        for path in &files {
            let records = match crate::sources::metrics::first_records(path, source, SAMPLE_RECORDS)
            {
                Ok(records) => records,
                Err(e) => {
                    report.problems.push(e.to_string());
                    continue;
                }
            };
            let (mut samples, mut bad) = (0usize, Vec::new());
            let (mut first, mut last) = (i64::MAX, i64::MIN);
            let mut hosts: BTreeSet<String> = BTreeSet::new();
            let mut outside: BTreeSet<String> = BTreeSet::new();
            for (line, read) in &records {
                match read {
                    Ok(found) => {
                        for sample in found {
                            samples += 1;
                            first = first.min(sample.ts_micros);
                            last = last.max(sample.ts_micros);
                            let Some(host) = sample.host.clone() else {
                                continue;
                            };
                            match pools.pool_for_host(&host) {
                                Some(pool) => {
                                    pools_measured.insert(pool.to_string());
                                }
                                None => {
                                    outside.insert(host.clone());
                                }
                            }
                            hosts.insert(host);
                        }
                    }
                    Err(reason) => bad.push(format!("{}:{line}: {reason}", path.display())),
                }
            }
            sampled |= samples > 0;
            let day = |micros: i64| {
                chrono::DateTime::from_timestamp_micros(micros)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default()
            };
            let span = if samples > 0 {
                format!(", {} to {} UTC", day(first), day(last))
            } else {
                String::new()
            };
            let list = |set: &BTreeSet<String>| {
                let shown: Vec<&str> = set.iter().take(8).map(String::as_str).collect();
                let more = set.len().saturating_sub(shown.len());
                format!(
                    "{}{}",
                    shown.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                )
            };
            report.text.push_str(&format!(
                "  {}: {} record(s) checked, {samples} sample(s){span}, {} unreadable; hosts: {}\n",
                path.display(),
                records.len(),
                bad.len(),
                if hosts.is_empty() {
                    "none".to_string()
                } else {
                    list(&hosts)
                }
            ));
            if !outside.is_empty() {
                report.text.push_str(&format!(
                    "warning: {}: hosts {} match no pool's `hosts` (their samples measure no pool)\n",
                    path.display(),
                    list(&outside)
                ));
            }
            if !records.is_empty() && bad.len() == records.len() {
                report.problems.push(format!(
                    "{}: none of the {} records checked could be read as {format} metrics; first: {}",
                    path.display(),
                    records.len(),
                    bad[0]
                ));
            }
            for line in bad.iter().take(3) {
                report.text.push_str(&format!("    {line}\n"));
            }
        }
    }
    if sampled {
        for pool in config.pools.iter().filter(|p| !p.hosts.is_empty()) {
            if !pools_measured.contains(&pool.name) {
                report.text.push_str(&format!(
                    "warning: pool {}: its hosts {:?} match no GPU metrics sample checked, so its utilisation would be measured from request timings or token throughput, not DCGM\n",
                    pool.name, pool.hosts
                ));
            }
        }
    }
}
