//! The one way rows are staged as Parquet before the SQL steps read them (requests,
//! billing hours, metric samples, quarantined rows): each kind of row keeps its own buffer
//! ([`StagedRows`]), and [`StagedFile`] turns the buffer into a record batch of the
//! stage's schema every [`BATCH_ROWS`] rows and writes it, so no input is ever held whole.

use std::fs::File;
use std::path::Path;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::common::error::{Error, Result};

/// Rows per record batch.
pub const BATCH_ROWS: usize = 8192;

/// How long a staged file is kept, which decides how it is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// Read once by this run, then dropped: not compressed (on the 1M-request bench, LZ4
    /// cost the run 6% of its time, writing and reading, to save disk it gives back at the
    /// end) and no dictionaries (ids are all distinct; building dictionaries costs more
    /// than it saves for one read).
    ForThisRun,
    /// Published (quarantine): zstd and dictionaries, for a small file.
    ForLater,
}

impl Kept {
    fn writer_properties(self) -> WriterProperties {
        let compression = match self {
            Kept::ForThisRun => Compression::UNCOMPRESSED,
            Kept::ForLater => Compression::ZSTD(ZstdLevel::try_new(3).expect("valid level")),
        };
        // Row groups of 16 batches: a writer holds at most one group's encoded pages, not
        // the whole file's (the default group is a million rows, and a run writes a file per
        // session bucket and input part at once).
        // Statistics only for a file kept: this run reads its staged files whole, once.
        let statistics = match self {
            Kept::ForThisRun => EnabledStatistics::None,
            Kept::ForLater => EnabledStatistics::Page,
        };
        WriterProperties::builder()
            .set_compression(compression)
            .set_dictionary_enabled(self == Kept::ForLater)
            .set_statistics_enabled(statistics)
            .set_max_row_group_row_count(Some(16 * BATCH_ROWS))
            .build()
    }
}

/// A buffer of rows of one staged table.
pub trait StagedRows {
    /// The staged table's schema.
    fn schema(&self) -> SchemaRef;
    /// Rows in the buffer.
    fn buffered(&self) -> usize;
    /// The buffered rows as the schema's columns, emptying the buffer.
    fn take_columns(&mut self) -> Result<Vec<ArrayRef>>;
}

/// One staged Parquet file being written from a row buffer.
pub struct StagedFile<R: StagedRows> {
    writer: ArrowWriter<File>,
    /// The buffer rows are added to; call [`StagedFile::row_added`] after each.
    pub rows: R,
}

impl<R: StagedRows> StagedFile<R> {
    /// Creates the file.
    pub fn create(path: &Path, rows: R, kept: Kept) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let writer = ArrowWriter::try_new(file, rows.schema(), Some(kept.writer_properties()))?;
        Ok(StagedFile { writer, rows })
    }

    /// Writes the buffer as a batch once it holds [`BATCH_ROWS`] rows.
    pub fn row_added(&mut self) -> Result<()> {
        if self.rows.buffered() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.rows.buffered() == 0 {
            return Ok(());
        }
        let columns = self.rows.take_columns()?;
        let batch = RecordBatch::try_new(self.rows.schema(), columns)?;
        self.writer.write(&batch)?;
        Ok(())
    }

    /// Writes a batch of the stage's schema made elsewhere (rows read on a cluster's
    /// executor), after the rows buffered so far.
    #[cfg(feature = "cluster")]
    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        self.flush()?;
        self.writer.write(batch)?;
        Ok(())
    }

    /// Writes what is left and closes the file; returns the buffer (for what it counted).
    pub fn finish(mut self) -> Result<R> {
        self.flush()?;
        self.writer.close()?;
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::sync::Arc;

    #[derive(Default)]
    struct Numbers(Vec<i64>);

    impl StagedRows for Numbers {
        fn schema(&self) -> SchemaRef {
            Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]))
        }
        fn buffered(&self) -> usize {
            self.0.len()
        }
        fn take_columns(&mut self) -> Result<Vec<ArrayRef>> {
            Ok(vec![Arc::new(Int64Array::from(std::mem::take(
                &mut self.0,
            )))])
        }
    }

    #[test]
    fn rows_are_written_in_batches_and_all_read_back() {
        // 20,000 rows: two full batches of 8,192 and the 3,616 left at finish; every
        // number comes back once, in order (sum 0 + … + 19,999 = 199,990,000).
        for kept in [Kept::ForThisRun, Kept::ForLater] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("n.parquet");
            let mut file = StagedFile::create(&path, Numbers::default(), kept).unwrap();
            for n in 0..20_000 {
                file.rows.0.push(n);
                file.row_added().unwrap();
                assert!(file.rows.buffered() < BATCH_ROWS);
            }
            assert_eq!(file.finish().unwrap().buffered(), 0);
            let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
                .unwrap()
                .build()
                .unwrap();
            let numbers: Vec<i64> = reader
                .flat_map(|b| {
                    b.unwrap()
                        .column(0)
                        .as_primitive::<Int64Type>()
                        .values()
                        .to_vec()
                })
                .collect();
            assert_eq!(numbers.len(), 20_000);
            assert_eq!(numbers.iter().sum::<i64>(), 199_990_000);
            assert!(numbers.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
