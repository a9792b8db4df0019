//! The output folder: a run writes everything aside (`OUT/.staging-…`), then swaps it into
//! place with renames, so a run that fails or is killed leaves the previous tables as they
//! were. Day-partitioned tables (`date=YYYY-MM-DD/`) are replaced one partition at a time,
//! so a nightly run for one day replaces just that day.

use std::path::{Path, PathBuf};

use crate::analysis::{INTERNAL_DIR, RUN_TABLES, published_steps};
use crate::error::{Error, Result};

/// A run's private folder inside the output folder; removed when dropped.
#[derive(Debug)]
pub struct Staging {
    root: PathBuf,
}

impl Staging {
    /// Creates `out/.staging-<pid>-<nanos>/`.
    pub fn create(out: &Path) -> Result<Staging> {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let root = out.join(format!(".staging-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        Ok(Staging { root })
    }

    /// Where ingest writes staged rows.
    pub fn input_dir(&self) -> PathBuf {
        self.root.join("input")
    }

    /// Where DataFusion spills sorts that exceed the memory limit.
    pub fn spill_dir(&self) -> PathBuf {
        self.root.join("spill")
    }

    /// Where the steps write their tables.
    pub fn tables_dir(&self) -> PathBuf {
        self.root.join("tables")
    }

    /// Moves the staged tables into `out`. Partitions of partitioned tables replace the
    /// partitions of the same date; with `window_dates` (inclusive first and last day),
    /// older partitions inside the window that this run no longer produced are removed
    /// too. Run-scoped tables are replaced whole.
    pub fn publish(&self, out: &Path, window_dates: Option<(String, String)>) -> Result<()> {
        let trash = self.root.join("replaced");
        for step in published_steps().filter(|s| !s.partitioned) {
            replace_whole(
                &self.tables_dir().join(step.table),
                &out.join(step.table),
                &trash.join(step.table),
            )?;
        }
        for step in published_steps().filter(|s| s.partitioned) {
            let new_dir = self.tables_dir().join(step.table);
            let target = out.join(step.table);
            std::fs::create_dir_all(&target).map_err(|e| Error::io(&target, e))?;
            let new_partitions = partitions(&new_dir)?;
            if let Some((first, last)) = &window_dates {
                for old in partitions(&target)? {
                    let date = old.trim_start_matches("date=");
                    if date >= first.as_str()
                        && date <= last.as_str()
                        && !new_partitions.contains(&old)
                    {
                        move_aside(&target.join(&old), &trash.join(step.table).join(&old))?;
                    }
                }
            }
            for partition in &new_partitions {
                let destination = target.join(partition);
                if destination.exists() {
                    move_aside(&destination, &trash.join(step.table).join(partition))?;
                }
                rename(&new_dir.join(partition), &destination)?;
            }
        }
        for table in RUN_TABLES.into_iter().chain([INTERNAL_DIR]) {
            replace_whole(
                &self.tables_dir().join(table),
                &out.join(table),
                &trash.join(table),
            )?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Replaces a run-scoped table's folder whole.
fn replace_whole(new_dir: &Path, target: &Path, trash: &Path) -> Result<()> {
    if target.exists() {
        move_aside(target, trash)?;
    }
    if new_dir.exists() {
        rename(new_dir, target)?;
    }
    Ok(())
}

fn partitions(dir: &Path) -> Result<Vec<String>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("date=") && entry.path().is_dir() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| Error::io(to, e))
}

fn move_aside(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    rename(from, to)
}

/// Writes a file whole or not at all (write aside, then rename).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, contents).map_err(|e| Error::io(&tmp, e))?;
    rename(&tmp, path)
}
