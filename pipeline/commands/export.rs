//! `inferledger export --focus`: a run folder's AI spend as FOCUS 1.2 rows
//! (`queries/export/focus.sql`), to CSV or Parquet, so the numbers load next to the cloud
//! bill in any FOCUS-aware tool.

use std::path::PathBuf;

use clap::Args;

use crate::commands::session::{OutputFormat, Session, print_batches};
use crate::common::error::{Error, Result};

/// The FOCUS export query.
pub const FOCUS_SQL: &str = include_str!("../../queries/export/focus.sql");

/// Options of `export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Export as FOCUS 1.2 (the only format so far).
    #[arg(long, required = true)]
    pub focus: bool,
    /// The run folder and config.
    #[command(flatten)]
    pub folder: super::RunFolderArgs,
    /// File to write: .csv or .parquet (default OUT/focus_export.csv).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

impl ExportArgs {
    /// Writes the export and says where.
    pub async fn run(self) -> Result<()> {
        let (_, out) = self.folder.resolve()?;
        if self.output.is_none() {
            // The export's default place is inside --out.
            super::local_output_dir(&out, "export")?;
        }
        let path = self
            .output
            .clone()
            .unwrap_or_else(|| out.join("focus_export.csv"));
        super::refuse_inside_tables("--output", &path, &out)?;
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => OutputFormat::Csv,
            Some("parquet") => OutputFormat::Parquet,
            _ => {
                return Err(Error::Usage(format!(
                    "{}: the export is written as .csv or .parquet",
                    path.display()
                )));
            }
        };
        let session = Session::open(&out, None, None, false, None).await?;
        let batches = session.run(FOCUS_SQL).await?.pop().unwrap_or_default();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if format == OutputFormat::Parquet {
            let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
            let schema = batches
                .first()
                .map(|b| b.schema())
                .ok_or_else(|| Error::Usage("nothing to export".to_string()))?;
            let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(file, schema, None)?;
            for batch in &batches {
                writer.write(batch)?;
            }
            writer.close()?;
        } else {
            let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
            let mut writer = std::io::BufWriter::new(file);
            print_batches(&mut writer, &batches, OutputFormat::Csv)?;
            std::io::Write::flush(&mut writer).map_err(|e| Error::io(&path, e))?;
        }
        println!("wrote {rows} FOCUS rows to {}", path.display());
        Ok(())
    }
}
