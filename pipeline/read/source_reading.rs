//! The one read loop every source (requests, bills, GPU metrics, provider exports) runs its
//! items through, and the quarantine it fills. A source turns a file into [`Item`]s (a line
//! or record: its line number, raw text, and what the source made of it, or why it could
//! not), and says per item whether it was kept, a duplicate or outside the run's window;
//! the loop counts each, quarantines the bad ones with file, line, reason and raw text,
//! tallies their reasons, and at the source's end enforces its bad-row limit. So every
//! source's counts reconcile the same way: read = kept + quarantined + duplicate + outside
//! the window.

use std::path::Path;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{ArrayRef, Int64Builder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::common::error::Result;
use crate::common::staged::{Kept, StagedFile, StagedRows};
use crate::read::bad_rows::BadRows;

/// Longest raw text kept in quarantine for one record.
pub const MAX_RAW_BYTES: usize = 16 * 1024;

/// A record's text as quarantine keeps it: at most [`MAX_RAW_BYTES`], cut at a character
/// boundary, with `…` when cut.
pub fn cut(text: &str) -> String {
    if text.len() <= MAX_RAW_BYTES {
        return text.to_string();
    }
    let mut end = MAX_RAW_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// One line or record of a file, as a source read it.
#[derive(Debug, Clone)]
pub struct Item<T> {
    /// Line in the file (1-based) where the item starts.
    pub line: u64,
    /// Its text as read, for quarantine.
    pub raw: String,
    /// What the source made of it, or why it is bad.
    pub value: std::result::Result<T, String>,
}

/// What a source did with an item it could read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Staged (or otherwise counted in the source's output).
    Kept,
    /// The same row seen before in this source: counted once.
    Duplicate,
    /// Before or after the run's window.
    OutsideWindow,
    /// Read, but not a request (a Langfuse span or event: a step of a trace that called no
    /// model): counted apart, not quarantined.
    NotARequest,
    /// Bad after all (a check that needs the parsed value): quarantined with this reason.
    Bad(String),
}

/// How many items of a source (or one file or part of it) went where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Items read (lines or records).
    pub read: u64,
    /// Kept.
    pub kept: u64,
    /// Quarantined with their reason.
    pub quarantined: u64,
    /// Repeats of a row kept before.
    pub duplicate: u64,
    /// Outside the run's window.
    pub outside_window: u64,
    /// Rows that are not requests (see [`Outcome::NotARequest`]).
    pub not_requests: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.read += other.read;
        self.kept += other.kept;
        self.quarantined += other.quarantined;
        self.duplicate += other.duplicate;
        self.outside_window += other.outside_window;
        self.not_requests += other.not_requests;
    }
}

impl Counts {
    /// Whether every item read is accounted for.
    pub fn reconciles(&self) -> bool {
        self.read
            == self.kept
                + self.quarantined
                + self.duplicate
                + self.outside_window
                + self.not_requests
    }
}

/// The reading of one source: its name, the run's quarantine and the source's bad-row tally,
/// shared by the threads that read parts of one file.
pub struct SourceReading<'q> {
    name: String,
    shared: Mutex<(&'q mut QuarantineWriter, BadRows)>,
}

impl<'q> SourceReading<'q> {
    /// The reading of source `name`, quarantining into `quarantine`.
    pub fn new(name: &str, quarantine: &'q mut QuarantineWriter) -> Self {
        SourceReading {
            name: name.to_string(),
            shared: Mutex::new((quarantine, BadRows::default())),
        }
    }

    /// The source's name, as reports and quarantine show it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The loop: reads `items` of `file`, hands each readable one to `keep` (with its raw
    /// text and line), and counts and quarantines as described above.
    pub fn read_items<T>(
        &self,
        file: &str,
        items: impl Iterator<Item = Item<T>>,
        mut keep: impl FnMut(T, &str, u64) -> Result<Outcome>,
    ) -> Result<Counts> {
        let mut counts = Counts::default();
        for item in items {
            counts.read += 1;
            let outcome = match item.value {
                Ok(value) => keep(value, &item.raw, item.line)?,
                Err(reason) => Outcome::Bad(reason),
            };
            match outcome {
                Outcome::Kept => counts.kept += 1,
                Outcome::Duplicate => counts.duplicate += 1,
                Outcome::OutsideWindow => counts.outside_window += 1,
                Outcome::NotARequest => counts.not_requests += 1,
                Outcome::Bad(reason) => {
                    counts.quarantined += 1;
                    self.quarantine(file, item.line, &reason, &item.raw)?;
                }
            }
        }
        Ok(counts)
    }

    /// Quarantines one row that is not an item of the loop (a bill's credit found bad only
    /// once the whole source is read, say).
    pub fn quarantine(&self, file: &str, line: u64, reason: &str, raw: &str) -> Result<()> {
        let mut shared = self.shared.lock().expect("no reader panicked");
        shared.1.record(reason);
        shared.0.push(&self.name, file, line, reason, raw)
    }

    /// The end of the source: its five commonest reasons, or [`Error::TooManyBadRows`]
    /// when more than `limit` of what it read was quarantined.
    ///
    /// [`Error::TooManyBadRows`]: crate::common::error::Error::TooManyBadRows
    pub fn finish(self, counts: &Counts, limit: f64) -> Result<Vec<(String, u64)>> {
        let (_, bad_rows) = self.shared.into_inner().expect("no reader panicked");
        bad_rows.finish(&self.name, counts.read, counts.quarantined, limit)
    }
}

/// The schema of the `quarantine` table.
pub fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("source_file", DataType::Utf8, false),
        Field::new("line", DataType::Int64, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("raw", DataType::Utf8, false),
    ]))
}

/// Quarantined rows being buffered.
#[derive(Default)]
pub struct QuarantineColumns {
    rows: usize,
    source: StringBuilder,
    source_file: StringBuilder,
    line: Int64Builder,
    reason: StringBuilder,
    raw: StringBuilder,
}

impl StagedRows for QuarantineColumns {
    fn schema(&self) -> SchemaRef {
        quarantine_schema()
    }

    fn buffered(&self) -> usize {
        self.rows
    }

    fn take_columns(&mut self) -> Result<Vec<ArrayRef>> {
        self.rows = 0;
        Ok(vec![
            Arc::new(self.source.finish()),
            Arc::new(self.source_file.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.raw.finish()),
        ])
    }
}

/// Quarantined rows written to one Parquet file as they come (it is published: zstd).
pub struct QuarantineWriter(StagedFile<QuarantineColumns>);

impl QuarantineWriter {
    /// Creates the Parquet file.
    pub fn create(path: &Path) -> Result<Self> {
        Ok(QuarantineWriter(StagedFile::create(
            path,
            QuarantineColumns::default(),
            Kept::ForLater,
        )?))
    }

    /// Appends one quarantined row, its raw text cut to what quarantine keeps.
    pub fn push(
        &mut self,
        source: &str,
        file: &str,
        line: u64,
        reason: &str,
        raw: &str,
    ) -> Result<()> {
        let rows = &mut self.0.rows;
        rows.source.append_value(source);
        rows.source_file.append_value(file);
        rows.line.append_value(line as i64);
        rows.reason.append_value(reason);
        rows.raw.append_value(cut(raw));
        rows.rows += 1;
        self.0.row_added()
    }

    /// Writes what is left and closes the file.
    pub fn finish(self) -> Result<()> {
        self.0.finish().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items of every fate through the loop, counted by hand: 6 read, 2 unreadable (one at
    /// parse, one found bad by the source), 1 duplicate, 1 outside, 2 kept.
    #[test]
    fn the_loop_counts_every_item_once_and_quarantines_the_bad() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quarantine.parquet");
        let mut quarantine = QuarantineWriter::create(&path).unwrap();
        let reading = SourceReading::new("src", &mut quarantine);
        let item = |line: u64, value: std::result::Result<&'static str, String>| Item {
            line,
            raw: format!("raw {line}"),
            value,
        };
        let items = vec![
            item(1, Ok("keep")),
            item(2, Err("not JSON".to_string())),
            item(3, Ok("again")),
            item(4, Ok("late")),
            item(5, Ok("negative")),
            item(6, Ok("keep")),
        ];
        let counts = reading
            .read_items("f.jsonl", items.into_iter(), |value, raw, line| {
                assert_eq!(raw, format!("raw {line}"));
                Ok(match value {
                    "keep" => Outcome::Kept,
                    "again" => Outcome::Duplicate,
                    "late" => Outcome::OutsideWindow,
                    _ => Outcome::Bad("tokens: negative count -3".to_string()),
                })
            })
            .unwrap();
        let expected = Counts {
            read: 6,
            kept: 2,
            quarantined: 2,
            duplicate: 1,
            outside_window: 1,
            not_requests: 0,
        };
        assert_eq!(counts, expected);
        assert!(counts.reconciles());
        // Two of six quarantined: within a limit of a half, over one of a quarter.
        let reasons = reading.finish(&counts, 0.5).unwrap();
        assert_eq!(reasons.len(), 2);
        quarantine.finish().unwrap();
        let mut over = QuarantineWriter::create(&dir.path().join("q2.parquet")).unwrap();
        let reading = SourceReading::new("src", &mut over);
        reading.quarantine("f", 1, "bad", "x").unwrap();
        let one_bad = Counts {
            read: 4,
            quarantined: 1,
            kept: 3,
            ..Counts::default()
        };
        assert!(reading.finish(&one_bad, 0.2).is_err());
    }
}
