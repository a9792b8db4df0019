//! Converting an output folder written before tables were Delta Lake tables, in place, on
//! the first run of this version: plain hive-partitioned Parquet folders (local, or synced
//! to a bucket), or a bucket's `versions/<v>/` with `_current.json` naming the current one.
//! Every Parquet file of the current state is added, as it is, to a new Delta table (a
//! bucket's current version is first copied inside the store to where the tables now
//! live), and a manifest names the versions made, so no row is lost and the next run's
//! history is what the old folder held.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::CommitProperties;
use deltalake_core::kernel::{Action, Add, StructType};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::common::error::{Error, Result};
use crate::read::published::{DATE_COLUMN, OutputFolder, RUNS_DIR, RunManifest, RunTotals};

/// The object a bucket folder's earlier runs named their current version with.
const LEGACY_POINTER: &str = "_current.json";
/// The folder of a bucket's earlier versions.
const LEGACY_VERSIONS: &str = "versions";
/// The journal of an earlier local publication.
const LEGACY_JOURNAL: &str = ".publish-journal.json";

/// Where the old folder's current state is: its root, or `versions/<v>/`.
async fn legacy_root(folder: &OutputFolder) -> Result<Option<String>> {
    let pointer = folder.object_path(LEGACY_POINTER);
    match folder.store().get(&pointer).await {
        Ok(found) => {
            let bytes = found
                .bytes()
                .await
                .map_err(|e| folder.storage_error(LEGACY_POINTER, e))?;
            let value: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| Error::Input {
                    path: folder.shown().join(LEGACY_POINTER),
                    message: format!("not an inferledger version pointer ({e})"),
                })?;
            let version = value["version"].as_str().ok_or_else(|| Error::Input {
                path: folder.shown().join(LEGACY_POINTER),
                message: "no \"version\" in the pointer".into(),
            })?;
            Ok(Some(format!("{LEGACY_VERSIONS}/{version}")))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(folder.storage_error(LEGACY_POINTER, e)),
    }
}

/// The Parquet files under `relative` (below the folder), with their path below it.
async fn parquet_under(folder: &OutputFolder, relative: &str) -> Result<Vec<(String, ObjectMeta)>> {
    use futures::TryStreamExt;
    let prefix = folder.object_path(relative);
    let listed: Vec<ObjectMeta> = folder
        .store()
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| folder.storage_error(relative, e))?;
    let mut found: Vec<(String, ObjectMeta)> = listed
        .into_iter()
        .filter_map(|meta| {
            let below: Vec<String> = meta
                .location
                .prefix_match(&prefix)?
                .map(|p| p.as_ref().to_string())
                .collect();
            let name = below.last()?;
            let hidden = below
                .iter()
                .any(|p| p.starts_with('.') || p.starts_with('_'));
            (!hidden && name.ends_with(".parquet")).then(|| (below.join("/"), meta))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

/// Whether the folder holds tables an earlier version wrote (and no run manifest).
pub async fn is_legacy(folder: &OutputFolder) -> Result<bool> {
    if legacy_root(folder).await?.is_some() {
        return Ok(true);
    }
    for step in crate::analyze::published_steps() {
        if !parquet_under(folder, step.table).await?.is_empty()
            && folder.table(step.table, None).await?.is_none()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Converts an earlier version's output folder in place (see the module comment): each
/// table of `tables` (its folder below the output folder, and whether it is partitioned by
/// `date`) that holds Parquet files and no Delta log. Returns the manifest of the converted
/// state, or `None` when there was nothing to convert.
/// The manifest's id sorts just before `before_run`'s (the run converting the folder).
pub async fn convert(
    folder: &OutputFolder,
    tables: &[(String, bool)],
    before_run: &str,
) -> Result<Option<RunManifest>> {
    if let Ok(local) = folder.url().to_file_path()
        && local.join(LEGACY_JOURNAL).exists()
    {
        return Err(Error::NoRun {
            out: folder.shown().to_path_buf(),
            advice: format!(
                " holds {LEGACY_JOURNAL}, an unfinished publication of an earlier inferledger: run `sql` once with that version to finish it, then run this one"
            ),
        });
    }
    let root = legacy_root(folder).await?;
    let source = |relative: &str| match &root {
        Some(root) => format!("{root}/{relative}"),
        None => relative.to_string(),
    };
    // `<time>Z-<pid>` → `<time>Z-0-converted`: a pid never starts with 0.
    let time = before_run.split_once("Z-").map_or(before_run, |(t, _)| t);
    let run_id = format!("{time}Z-0-converted");
    let mut manifest = RunManifest {
        run_id: run_id.clone(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_at: String::new(),
        window: ["1970-01-01".into(), "1970-01-01".into()],
        config_sha256: String::new(),
        inferledger_version: env!("CARGO_PKG_VERSION").to_string(),
        tables: Default::default(),
        totals: RunTotals::default(),
        restated: Vec::new(),
    };
    let ctx = datafusion::prelude::SessionContext::new();
    let state = ctx.state();
    for (relative, partitioned) in tables {
        if folder.table(relative, None).await?.is_some() {
            continue;
        }
        let files = parquet_under(folder, &source(relative)).await?;
        if files.is_empty() {
            continue;
        }
        let now = chrono::Utc::now().timestamp_millis();
        let mut adds = Vec::new();
        let mut metas = Vec::new();
        for (below, meta) in files {
            let date = below
                .split('/')
                .find_map(|p| p.strip_prefix(&format!("{DATE_COLUMN}=")))
                .map(str::to_string);
            if *partitioned && date.is_none() {
                continue; // not in a day's folder: no reader of the old layout saw it
            }
            let target = folder.object_path(&format!("{relative}/{below}"));
            if root.is_some() {
                folder
                    .store()
                    .copy(&meta.location, &target)
                    .await
                    .map_err(|e| folder.storage_error(relative, e))?;
            }
            adds.push(Action::Add(Add {
                path: below,
                partition_values: date
                    .map(|d| HashMap::from([(DATE_COLUMN.to_string(), Some(d))]))
                    .unwrap_or_default(),
                size: meta.size as i64,
                modification_time: now,
                data_change: true,
                ..Default::default()
            }));
            metas.push(ObjectMeta {
                location: target,
                ..meta
            });
        }
        let format = ParquetFormat::default();
        let inferred = format.infer_schema(&state, folder.store(), &metas).await?;
        let mut fields: Vec<Field> = inferred
            .fields()
            .iter()
            .filter(|f| f.name() != DATE_COLUMN)
            .map(|f| f.as_ref().clone())
            .collect();
        if *partitioned {
            fields.push(Field::new(DATE_COLUMN, DataType::Utf8, true));
        }
        let schema: StructType = (&Schema::new(fields))
            .try_into_kernel()
            .map_err(|e| folder.delta_error(relative, e))?;
        let created = deltalake_core::operations::create::CreateBuilder::new()
            .with_log_store(folder.log_store(relative))
            .with_columns(schema.fields().cloned())
            .with_partition_columns(if *partitioned {
                vec![DATE_COLUMN.to_string()]
            } else {
                Vec::new()
            })
            .with_actions(adds)
            .with_commit_properties(CommitProperties::default().with_metadata([(
                "inferledger".to_string(),
                serde_json::json!({"run_id": run_id, "converted_from": source(relative)}),
            )]))
            .await
            .map_err(|e| folder.delta_error(relative, e))?;
        if let Some(version) = created.version() {
            manifest.tables.insert(relative.clone(), version);
        }
    }
    if manifest.tables.is_empty() {
        return Ok(None);
    }
    // The old run's window and totals, from its summary.
    let summary_path = folder.object_path(&source("run_summary.json"));
    if let Ok(found) = folder.store().get(&summary_path).await
        && let Ok(bytes) = found.bytes().await
        && let Ok(summary) = serde_json::from_slice::<serde_json::Value>(&bytes)
    {
        if let (Some(first), Some(last)) =
            (summary["window"][0].as_str(), summary["window"][1].as_str())
        {
            manifest.window = [first.to_string(), last.to_string()];
        }
        let totals = &summary["totals"];
        manifest.totals = RunTotals {
            rows_read: totals["rows_read"].as_u64().unwrap_or(0),
            rows_kept: totals["rows_kept"].as_u64().unwrap_or(0),
            rows_quarantined: totals["rows_quarantined"].as_u64().unwrap_or(0),
            api_cost_usd: totals["cost_usd"].as_str().unwrap_or("0").to_string(),
            gpu_billed_usd: summary["gpu_spend"]["billed_usd"]
                .as_str()
                .unwrap_or("0")
                .to_string(),
        };
        if root.is_some() {
            for name in super::RUN_FILES {
                let from = folder.object_path(&source(name));
                let _ = folder.store().copy(&from, &folder.object_path(name)).await;
            }
        }
    }
    manifest.finished_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    folder
        .store()
        .put_opts(
            &folder.object_path(&format!("{RUNS_DIR}/{run_id}.json")),
            PutPayload::from(serde_json::to_vec_pretty(&manifest)?),
            PutOptions::from(PutMode::Create),
        )
        .await
        .map_err(|e| folder.storage_error(RUNS_DIR, e))?;
    // What only the old layout used.
    if root.is_some() {
        delete_under(folder, LEGACY_VERSIONS).await?;
        let _ = folder
            .store()
            .delete(&folder.object_path(LEGACY_POINTER))
            .await;
    } else if let Ok(local) = folder.url().to_file_path() {
        let _ = std::fs::remove_dir_all(local.join(crate::analyze::INTERNAL_DIR).join("empty"));
    }
    eprintln!(
        "inferledger: converted {} to Delta tables in place ({} tables, every file kept)",
        folder.shown().display(),
        manifest.tables.len()
    );
    Ok(Some(manifest))
}

/// Deletes every object below `relative`.
async fn delete_under(folder: &OutputFolder, relative: &str) -> Result<()> {
    use futures::TryStreamExt;
    let prefix: ObjectPath = folder.object_path(relative);
    let store = Arc::clone(folder.store());
    let listed: Vec<ObjectMeta> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| folder.storage_error(relative, e))?;
    for meta in listed {
        store
            .delete(&meta.location)
            .await
            .map_err(|e| folder.storage_error(relative, e))?;
    }
    Ok(())
}
