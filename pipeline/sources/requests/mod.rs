//! The request logs: reads every `[[requests]]` source into staged canonical rows (Parquet, one file
//! per input file) and quarantined rows, pricing each request on the way, and counts what
//! happened to every row read. Deduplication and everything after it is SQL
//! (`queries/requests.sql`).

pub mod canonical;
pub mod extract;
pub mod langfuse;
#[cfg(feature = "cluster")]
pub mod on_cluster;
pub mod presets;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::common::error::{Error, Result};
use crate::common::progress::Progress;
use crate::config::Format;
use crate::config::fields::CanonicalField;
use crate::config::{Config, RequestSource};
use crate::prices::PriceBook;
use crate::read::source_reading::{Counts, Item, Outcome, QuarantineWriter, SourceReading};
use crate::read::time::{EpochUnit, TimeOptions};
use crate::read::{files, records, time};
use extract::FieldSpec;
use presets::Preset;

/// A time window a run is restricted to: `[from, to)` in UTC microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Window {
    /// Inclusive start.
    pub from_micros: i64,
    /// Exclusive end.
    pub to_micros: i64,
}

/// What happened to one input file's rows.
#[derive(Debug, Clone, Serialize, Default)]
pub struct FileReport {
    /// The file.
    pub path: String,
    /// The format it was read as (`auto` resolved).
    pub format: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Records read (blank lines and the CSV header are not records).
    pub rows_read: u64,
    /// Records sent to quarantine.
    pub rows_quarantined: u64,
    /// Records outside `--from/--to`.
    pub rows_outside_window: u64,
    /// Records that are not requests (Langfuse spans and events).
    pub rows_not_requests: u64,
    /// Records staged for the `requests` table (before deduplication).
    pub rows_staged: u64,
    /// Parts the file was read in at once (a large uncompressed JSON-lines file is split
    /// at line ends and read on every core).
    pub parts: usize,
}

/// `count(&Counts)` for a report with the five row counts (a file's, a source's).
macro_rules! takes_counts {
    ($report:ty) => {
        impl $report {
            /// Takes the counts of the rows read.
            fn count(&mut self, counts: &Counts) {
                self.rows_read = counts.read;
                self.rows_quarantined = counts.quarantined;
                self.rows_outside_window = counts.outside_window;
                self.rows_not_requests = counts.not_requests;
                self.rows_staged = counts.kept;
            }
        }
    };
}
takes_counts!(FileReport);
takes_counts!(SourceReport);

/// What happened to one source's rows.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SourceReport {
    /// Source name.
    pub name: String,
    /// Configured format.
    pub format: String,
    /// Per-file figures.
    pub files: Vec<FileReport>,
    /// Records read.
    pub rows_read: u64,
    /// Records quarantined.
    pub rows_quarantined: u64,
    /// Records outside the window.
    pub rows_outside_window: u64,
    /// Records that are not requests (Langfuse spans and events).
    pub rows_not_requests: u64,
    /// Records staged (kept + duplicates).
    pub rows_staged: u64,
    /// Commonest quarantine reasons (numbers masked), with counts.
    pub quarantine_reasons: Vec<(String, u64)>,
}

/// Deployments served by a self-hosted pool, each with the pool's price id
/// (`self-hosted:<pool>`): their requests are paid through the GPU bill, not per token.
fn self_hosted_deployments(config: &Config) -> impl Iterator<Item = (&str, String)> {
    config.pools.iter().flat_map(|p| {
        p.deployments
            .iter()
            .map(move |d| (d.as_str(), format!("self-hosted:{}", p.name)))
    })
}

/// The result of ingesting every source.
#[derive(Debug, Clone, Default)]
pub struct IngestReport {
    /// Per source.
    pub sources: Vec<SourceReport>,
    /// Costs that needed rounding at 12 decimal places.
    pub rounded_costs: u64,
    /// Folder of staged request Parquet files: one subfolder per session bucket
    /// ([`IngestReport::bucket_dir`]).
    pub staged_dir: PathBuf,
    /// Session buckets the staged rows are split into (see `common::session_buckets`).
    pub buckets: u32,
    /// Every request id staged more than once (sorted; it may hold a few ids staged once,
    /// whose 64-bit hash another id shares: ranking those alone keeps them, so the list
    /// only has to miss no duplicate). `queries/requests.sql` ranks only these ids' rows.
    pub duplicate_ids: Vec<String>,
}

impl IngestReport {
    /// The folder of one session bucket's staged files.
    pub fn bucket_dir(&self, bucket: u32) -> PathBuf {
        bucket_dir(&self.staged_dir, bucket)
    }
}

fn bucket_dir(staged_dir: &Path, bucket: u32) -> PathBuf {
    staged_dir.join(format!("bucket-{bucket:03}"))
}

/// The request ids staged so far, as 64-bit hashes, and the ids seen again.
#[derive(Debug, Default)]
struct SeenIds {
    hashes: std::collections::HashSet<u64, foldhash::fast::FixedState>,
    again: Vec<String>,
}

impl SeenIds {
    /// The hash an id is noted by: computed before taking the lock the readers share.
    fn hash(id: &str) -> u64 {
        use std::hash::BuildHasher;
        ID_HASHER.hash_one(id)
    }

    /// The ids seen more than once, sorted, each once.
    fn repeated(self) -> Vec<String> {
        let mut again = self.again;
        again.sort_unstable();
        again.dedup();
        again
    }

    /// Notes `id`, whose [`SeenIds::hash`] is `hash`.
    fn note(&mut self, hash: u64, id: &str) {
        if !self.hashes.insert(hash) {
            self.again.push(id.to_string());
        }
    }
}

/// The ids one reading thread staged since it last noted them in the shared [`SeenIds`]:
/// noted a batch at a time, so the threads reading parts of a file take the shared lock
/// once per batch, not once per row (per row, the lock's contention cost a 1M-request run
/// 0.3 s of ingest's 1.6).
#[derive(Debug, Default)]
struct PendingIds {
    hashes: Vec<u64>,
    /// The ids, one after another; `ends[i]` is where id `i` ends.
    text: String,
    ends: Vec<usize>,
}

impl PendingIds {
    /// Ids held before the batch is noted.
    const BATCH: usize = 4096;

    /// Adds `id`; notes the batch in `seen` once it is full.
    fn add(&mut self, id: &str, seen: &std::sync::Mutex<SeenIds>) {
        self.hashes.push(SeenIds::hash(id));
        self.text.push_str(id);
        self.ends.push(self.text.len());
        if self.hashes.len() >= Self::BATCH {
            self.note_all(seen);
        }
    }

    /// Notes every pending id in `seen`, in the order they were added.
    fn note_all(&mut self, seen: &std::sync::Mutex<SeenIds>) {
        if self.hashes.is_empty() {
            return;
        }
        let mut seen = seen.lock().expect("no reader panicked");
        let mut start = 0;
        for (hash, end) in self.hashes.iter().zip(&self.ends) {
            seen.note(*hash, &self.text[start..*end]);
            start = *end;
        }
        drop(seen);
        self.hashes.clear();
        self.text.clear();
        self.ends.clear();
    }
}

/// The request ids' 64-bit hash (foldhash with a fixed seed: the same ids give the same
/// hashes in every run).
const ID_HASHER: foldhash::quality::FixedState =
    foldhash::quality::FixedState::with_seed(0x1f2e_3d4c);

/// A source with everything resolved: files, field spec.
pub struct ResolvedSource {
    /// The config block.
    pub source: RequestSource,
    /// Its input files.
    pub files: Vec<PathBuf>,
    /// Field overrides by canonical field.
    pub overrides: BTreeMap<CanonicalField, Vec<String>>,
    /// Defaults by canonical field.
    pub defaults: BTreeMap<CanonicalField, String>,
    /// Timestamp options.
    pub time: TimeOptions,
}

impl ResolvedSource {
    /// Resolves a config block (its files must exist).
    pub fn resolve(config: &Config, source: &RequestSource) -> Result<Self> {
        let files = files::expand(&config.resolve(&source.path))?;
        Ok(Self::with_files(source, files))
    }

    /// The block with its files already found.
    pub fn with_files(source: &RequestSource, files: Vec<PathBuf>) -> Self {
        let overrides = source
            .fields
            .iter()
            .filter_map(|(k, v)| CanonicalField::from_name(k).map(|f| (f, v.paths())))
            .collect();
        let defaults = source
            .defaults
            .iter()
            .filter_map(|(k, v)| CanonicalField::from_name(k).map(|f| (f, v.clone())))
            .collect();
        let mut time = TimeOptions::default();
        if let Some(offset) = source.timezone.as_deref().and_then(time::parse_offset) {
            time.offset = offset;
        }
        if let Some(origin) = &source.time_origin {
            time.origin_micros = chrono::DateTime::parse_from_rfc3339(origin)
                .ok()
                .map(|d| d.timestamp_micros());
        }
        if let Some(unit) = source.time_unit.as_deref().and_then(EpochUnit::parse) {
            time.unit = unit;
        }
        time.format = source.time_format.clone();
        ResolvedSource {
            source: source.clone(),
            files,
            overrides,
            defaults,
            time,
        }
    }

    /// The field spec for a file read as `format` (never `Auto`).
    pub fn spec(&self, format: Format) -> FieldSpec {
        let preset = Preset::of(format).expect("auto is resolved before this");
        FieldSpec::new(preset, &self.overrides, &self.defaults, self.time.clone())
    }
}

/// Opens one input file as records, resolving `auto` from its first readable record.
pub fn open_file(
    resolved: &ResolvedSource,
    path: &Path,
    wrap: impl FnOnce(Box<dyn Read + Send>) -> Box<dyn Read + Send>,
) -> Result<(Format, std::iter::Peekable<records::Records>)> {
    let (layout, compression) = files::classify(path).ok_or_else(|| Error::Input {
        path: path.to_path_buf(),
        message: "unknown file type".to_string(),
    })?;
    let mut records = records::open(path, layout, compression, wrap)?;
    let format = match resolved.source.format {
        // The first record whose shape names a format tells; records before it (unreadable,
        // or of no format's shape) are kept for the loop to quarantine. A file none of whose
        // first records names a format is refused rather than read with a guessed one.
        Format::Auto => {
            let mut head = Vec::new();
            let mut first_mismatch = None;
            let format = loop {
                let Some(record) = records.next() else {
                    if head.is_empty() {
                        break Format::Openai; // empty: any preset will do
                    }
                    break unknown_format(path, &head, first_mismatch)?;
                };
                let sniffed = record.value.as_ref().ok().map(presets::sniff);
                head.push(record);
                match sniffed {
                    Some(Ok(format)) => break format,
                    Some(Err(message)) => {
                        first_mismatch.get_or_insert(message);
                    }
                    None => {}
                }
                if head.len() >= SNIFF_RECORDS {
                    break unknown_format(path, &head, first_mismatch)?;
                }
            };
            records = Box::new(head.into_iter().chain(records));
            format
        }
        format => format,
    };
    let records = records.peekable();
    Ok((format, records))
}

/// Records `auto` reads, at most, for one it can tell the format from.
const SNIFF_RECORDS: usize = 100;

/// The error for a file none of whose first records (`head`) names a format under `auto`:
/// the first readable record's mismatch, else the first record's reason.
fn unknown_format(
    path: &Path,
    head: &[records::RawRecord],
    first_mismatch: Option<String>,
) -> Result<Format> {
    let message = match first_mismatch {
        Some(mismatch) if head.len() == 1 => mismatch,
        Some(mismatch) => format!(
            "none of the first {} record(s) has a known format's shape; the first readable one: {mismatch}",
            head.len()
        ),
        None => format!(
            "line {}: cannot tell the format: none of the first {} record(s) is readable (the first: {}); fix the file, or set format = \"openai\" | \"anthropic\" | \"gemini\" | \"otel\" | \"litellm\" | \"langfuse\" | \"trace\"",
            head[0].line,
            head.len(),
            head[0].value.as_ref().err().cloned().unwrap_or_default()
        ),
    };
    Err(Error::Input {
        path: path.to_path_buf(),
        message,
    })
}

/// How many bytes the request sources will read, compressed files counted at their
/// estimated expanded size: what decides the run's session buckets.
pub fn input_bytes(config: &Config) -> Result<u64> {
    let mut total = 0u64;
    for source in &config.requests {
        for path in files::expand(&config.resolve(&source.path))? {
            let bytes = files::size(&path);
            let compressed = !matches!(files::classify(&path), Some((_, files::Compression::None)));
            total += if compressed {
                bytes * crate::common::session_buckets::COMPRESSED_EXPANSION
            } else {
                bytes
            };
        }
    }
    Ok(total)
}

/// What reading the request logs needs: the sources, the prices, the window, where to
/// stage and in how many session buckets ([`ingest`], and `on_cluster::ingest_on_cluster`
/// with the reading done on a cluster).
#[derive(Clone, Copy)]
pub struct IngestPlan<'a> {
    /// The config (its `[[requests]]` sources and `[[pools]]`).
    pub config: &'a Config,
    /// The prices each request is priced with.
    pub book: &'a PriceBook,
    /// The run's window, when it has one: rows outside it are counted, not staged.
    pub window: Option<Window>,
    /// The run's staging folder (`requests_staged/` below it).
    pub staging: &'a Path,
    /// Session buckets (at least one).
    pub buckets: u32,
}

impl IngestPlan<'_> {
    /// Creates the staged requests' folder and one folder below it per session bucket;
    /// returns the folder and the number of buckets (at least one).
    fn create_bucket_dirs(&self) -> Result<(std::path::PathBuf, u32)> {
        let buckets = self.buckets.max(1);
        let staged_dir = self.staging.join("requests_staged");
        for bucket in 0..buckets {
            let dir = bucket_dir(&staged_dir, bucket);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        Ok((staged_dir, buckets))
    }
}

/// Reads every source into the plan's staging folder, each row into the staged files of
/// its session bucket, and checks each source against its bad-row limit.
pub fn ingest(
    plan: IngestPlan<'_>,
    quarantine: &mut QuarantineWriter,
    progress: &Progress,
) -> Result<IngestReport> {
    let (staged_dir, buckets) = plan.create_bucket_dirs()?;
    let IngestPlan {
        config,
        book,
        window,
        ..
    } = plan;
    let mut report = IngestReport {
        staged_dir: staged_dir.clone(),
        buckets,
        ..IngestReport::default()
    };
    let self_hosted: HashMap<&str, String> = self_hosted_deployments(config).collect();
    let mut file_index = 0usize;
    let seen = std::sync::Mutex::new(SeenIds::default());
    for source in &config.requests {
        let resolved = ResolvedSource::resolve(config, source)?;
        let name = source.display_name();
        let mut source_report = SourceReport {
            name: name.clone(),
            format: source.format.name().to_string(),
            ..SourceReport::default()
        };
        let reading = SourceReading::new(&name, &mut *quarantine);
        let mut counts = Counts::default();
        // Each file's index (its staged files' names) is fixed by its place in the list,
        // whatever order the files are read in.
        let first_index = file_index + 1;
        file_index += resolved.files.len();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // A large uncompressed JSON-lines file is read in parts on every core, each part
        // into its own staged file; anything else in one pass (no parts).
        let parts_of: Vec<Vec<records::Part>> = resolved
            .files
            .iter()
            .map(|path| file_parts(path, cores))
            .collect::<Result<_>>()?;
        let read_file = |offset: usize, path: &PathBuf| -> Result<FileRead> {
            let file_index = first_index + offset;
            let display = path.to_string_lossy().into_owned();
            let bytes = files::size(path);
            let bar = progress.file(&display, bytes);
            let reader_bar = bar.clone();
            let (format, records) =
                open_file(&resolved, path, move |f| Box::new(reader_bar.wrap_read(f)))?;
            let spec = resolved.spec(format);
            let mut file_report = FileReport {
                path: display.clone(),
                format: format.name().to_string(),
                bytes,
                ..FileReport::default()
            };
            let reading = FileReading {
                spec: &spec,
                book,
                self_hosted: &self_hosted,
                window,
                display: &display,
                // Records without an id are named by their file (relative to the config's
                // folder, so same-named files in two folders differ) and line.
                file_name: relative_to(path, config.base_dir()),
                reading: &reading,
                seen: &seen,
            };
            let parts = &parts_of[offset];
            let staged_file = |part: usize| {
                (0..buckets)
                    .map(|bucket| {
                        bucket_dir(&staged_dir, bucket)
                            .join(format!("{file_index:05}-{part:03}.parquet"))
                    })
                    .collect::<Vec<_>>()
            };
            let parts_counts: Vec<PartCounts> = if parts.len() > 1 {
                drop(records);
                bar.set_position(0);
                std::thread::scope(|scope| {
                    let handles: Vec<_> = parts
                        .iter()
                        .enumerate()
                        .map(|(i, part)| {
                            let (reading, bar, target) = (&reading, &bar, staged_file(i));
                            let resolved = &resolved;
                            scope.spawn(move || {
                                reading.read_unit(resolved, path, Some(*part), &target, bar, None)
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().expect("a reading thread panicked"))
                        .collect::<Result<Vec<_>>>()
                })?
            } else {
                vec![reading.read_unit(
                    &resolved,
                    path,
                    None,
                    &staged_file(0),
                    &bar,
                    Some(Box::new(records)),
                )?]
            };
            file_report.parts = parts_counts.len();
            let mut file_counts = Counts::default();
            let mut rounded_costs = 0;
            for part in parts_counts {
                file_counts += part.counts;
                rounded_costs += part.rounded_costs;
            }
            bar.finish_and_clear();
            file_report.count(&file_counts);
            Ok(FileRead {
                report: file_report,
                counts: file_counts,
                rounded_costs,
            })
        };
        // A file read in parts keeps every core busy alone; the others (a day's log, a
        // compressed file) are read several at once, one per core.
        let split: Vec<bool> = parts_of.iter().map(|parts| parts.len() > 1).collect();
        let mut read: Vec<Option<FileRead>> = resolved.files.iter().map(|_| None).collect();
        for (offset, path) in resolved.files.iter().enumerate() {
            if split[offset] {
                read[offset] = Some(read_file(offset, path)?);
            }
        }
        let whole: Vec<usize> = (0..resolved.files.len()).filter(|&i| !split[i]).collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..cores.min(whole.len()))
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&offset) = whole.get(at) else {
                                return Ok(done);
                            };
                            done.push((offset, read_file(offset, &resolved.files[offset])?));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a reading thread panicked"))
                .collect::<Result<Vec<Vec<(usize, FileRead)>>>>()
        })?;
        for (offset, file) in results.into_iter().flatten() {
            read[offset] = Some(file);
        }
        for file in read.into_iter().flatten() {
            counts += file.counts;
            report.rounded_costs += file.rounded_costs;
            source_report.files.push(file.report);
        }
        source_report.count(&counts);
        let limit = config.bad_row_limit(source.max_bad_fraction);
        source_report.quarantine_reasons = reading.finish(&counts, limit)?;
        report.sources.push(source_report);
    }
    report.duplicate_ids = seen.into_inner().expect("no reader panicked").repeated();
    Ok(report)
}

/// What reading one file gave: its report, its counts, and how many costs were rounded.
struct FileRead {
    report: FileReport,
    counts: Counts,
    rounded_costs: u64,
}

/// The parts a file is read in at once, up to `parts` of them: a large uncompressed
/// JSON-lines file is split at line ends (one part when it is small); anything else is
/// read whole in one pass (no parts).
fn file_parts(path: &Path, parts: usize) -> Result<Vec<records::Part>> {
    match files::classify(path) {
        Some((files::Layout::JsonLines, files::Compression::None)) => {
            records::json_lines_parts(path, parts, split_bytes())
        }
        _ => Ok(Vec::new()),
    }
}

/// Smallest JSON-lines file read in parallel parts: [`records::MIN_SPLIT_BYTES`], or, in
/// a build with the `test-hooks` feature, the `INFERLEDGER_SPLIT_BYTES` environment
/// variable (the tests split small files with it).
fn split_bytes() -> u64 {
    #[cfg(feature = "test-hooks")]
    if let Some(bytes) = std::env::var("INFERLEDGER_SPLIT_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return bytes;
    }
    records::MIN_SPLIT_BYTES
}

/// What a file (or a part of one) is read from.
enum Input {
    /// Records parsed whole (CSV, Parquet, a JSON array).
    Records(records::Records),
    /// JSON lines, each parsed for the fields the spec reads only.
    JsonLines(records::JsonLineTexts),
}

/// What one pass over (part of) a file counted.
#[derive(Debug, Clone, Copy, Default)]
struct PartCounts {
    counts: Counts,
    rounded_costs: u64,
}

/// A request item as the loop hands it over: the record parsed whole (CSV, Parquet, a JSON
/// array), or `None` for a JSON line (read from its text for the spec's fields only); and
/// how many records before it started on the same line.
type RequestItem = (Option<serde_json::Value>, u32);

/// Everything needed to read one input file's records into staged rows; shared by the
/// threads reading its parts (the source's reading keeps quarantine behind one lock).
struct FileReading<'a, 'q> {
    spec: &'a FieldSpec,
    book: &'a PriceBook,
    self_hosted: &'a HashMap<&'a str, String>,
    window: Option<Window>,
    display: &'a str,
    file_name: String,
    reading: &'a SourceReading<'q>,
    seen: &'a std::sync::Mutex<SeenIds>,
}

impl FileReading<'_, '_> {
    /// Reads one unit of a file into `targets` (see [`FileReading::read`]): `part` of a
    /// large uncompressed JSON-lines file, or (`None`) the whole file, whose records
    /// `opened` may already hold (parsed whole to tell the format).
    fn read_unit(
        &self,
        resolved: &ResolvedSource,
        path: &Path,
        part: Option<records::Part>,
        targets: &[PathBuf],
        bar: &indicatif::ProgressBar,
        opened: Option<records::Records>,
    ) -> Result<PartCounts> {
        let counted = |bar: &indicatif::ProgressBar| {
            let bar = bar.clone();
            move |f: Box<dyn Read + Send>| -> Box<dyn Read + Send> { Box::new(bar.wrap_read(f)) }
        };
        let reopened = || open_file(resolved, path, counted(bar)).map(|(_, r)| Box::new(r) as _);
        if let Some(part) = part {
            let lines = records::open_json_lines_part(path, part, counted(bar))?;
            return self.read(Input::JsonLines(lines), targets);
        }
        let (layout, compression) = files::classify(path).ok_or_else(|| Error::Input {
            path: path.to_path_buf(),
            message: "unknown file type".to_string(),
        })?;
        let input = if layout == files::Layout::JsonLines {
            // Read again as lines, each parsed for the fields the spec reads (the first
            // record was parsed whole to tell the format); a file holding one JSON array
            // stays records.
            drop(opened);
            bar.set_position(0);
            match records::open_json_lines(path, compression, counted(bar))? {
                Some(lines) => Input::JsonLines(lines),
                None => Input::Records(reopened()?),
            }
        } else {
            Input::Records(match opened {
                Some(records) => records,
                None => reopened()?,
            })
        };
        self.read(input, targets)
    }

    /// Reads records into staged files, one per session bucket (`targets[b]`): extracts,
    /// windows, prices and stages each, or quarantines it with its reason.
    fn read(&self, input: Input, targets: &[PathBuf]) -> Result<PartCounts> {
        let mut staged = targets
            .iter()
            .map(|target| canonical::staged_request_file(target))
            .collect::<Result<Vec<_>>>()?;
        let buckets = u32::try_from(staged.len()).expect("few buckets");
        // Two records can share a line (a bare CR ends a CSV record): the second is
        // `file:line+1`, and so on, so no two records share a fallback id.
        let mut last_line = 0;
        let mut on_same_line = 0u32;
        let mut same_line = move |line: u64| {
            on_same_line = if line == last_line {
                on_same_line + 1
            } else {
                0
            };
            last_line = line;
            on_same_line
        };
        // OTLP/JSON batches hold many spans: each span is a record of its own (their line
        // is the batch's). Under `otel`, every line is parsed whole for that.
        let otel = self.spec.format == Format::Otel;
        // Langfuse observations are read whole: their usage buckets are summed
        // (`langfuse::add_usage_totals`), and spans and events are not requests.
        let langfuse = self.spec.format == Format::Langfuse;
        let records: Box<dyn Iterator<Item = Item<Option<serde_json::Value>>>> = match input {
            Input::Records(records) => Box::new(records.map(|record| Item {
                line: record.line,
                raw: record.raw,
                value: record.value.map(Some),
            })),
            Input::JsonLines(lines) if otel || langfuse => Box::new(lines.map(|line| {
                let record = line.parsed();
                Item {
                    line: record.line,
                    raw: record.raw,
                    value: record.value.map(Some),
                }
            })),
            Input::JsonLines(lines) => Box::new(lines.map(|json_line| match json_line.text {
                Ok(text) => Item {
                    line: json_line.line,
                    raw: text,
                    value: Ok(None),
                },
                Err((raw, reason)) => Item {
                    line: json_line.line,
                    raw,
                    value: Err(reason),
                },
            })),
        };
        let records: Box<dyn Iterator<Item = Item<Option<serde_json::Value>>>> = if otel {
            Box::new(records.flat_map(otlp_spans))
        } else {
            records
        };
        let items = records.map(move |item| -> Item<RequestItem> {
            let nth = same_line(item.line);
            Item {
                line: item.line,
                raw: item.raw,
                value: item.value.map(|value| (value, nth)),
            }
        });
        let mut prices = self.book.memo();
        let mut pending_ids = PendingIds::default();
        let counts =
            self.reading
                .read_items(self.display, items, |(parsed, nth), raw, line| {
                    // Extracted with an empty fallback id, so a record without an id of its
                    // own comes back with an empty one, and only it is named by file and line.
                    let row = match parsed {
                        Some(mut value) if langfuse => {
                            if !langfuse::is_request(&value) {
                                return Ok(Outcome::NotARequest);
                            }
                            langfuse::add_usage_totals(&mut value);
                            extract::extract(&value, self.spec, "")
                        }
                        Some(value) => extract::extract(&value, self.spec, ""),
                        None => extract::extract_line(raw, self.spec, ""),
                    };
                    let mut row = match row {
                        Ok(row) => row,
                        Err(reason) => return Ok(Outcome::Bad(reason)),
                    };
                    if row.request_id.is_empty() {
                        row.request_id = match nth {
                            0 => format!("{}:{}", self.file_name, line),
                            n => format!("{}:{}+{n}", self.file_name, line),
                        };
                    }
                    if self.window.is_some_and(|w| {
                        row.ts_micros < w.from_micros || row.ts_micros >= w.to_micros
                    }) {
                        return Ok(Outcome::OutsideWindow);
                    }
                    let pool = row
                        .deployment
                        .as_deref()
                        .and_then(|d| self.self_hosted.get(d));
                    let price = match pool {
                        Some(_) => None,
                        None => row
                            .model
                            .as_deref()
                            .and_then(|m| prices.lookup(m, row.provider.as_deref(), row.ts_micros)),
                    };
                    if pool.is_none() && row.provider.is_none() {
                        row.provider = row
                            .model
                            .as_deref()
                            .and_then(|m| crate::prices::provider_of_model(m, price));
                    }
                    let cost = match pool {
                        Some(_) => None,
                        // A gateway's own cache answered: the provider billed nothing.
                        None if row.proxy_cache_hit => Some(crate::prices::RequestCost {
                            cost_usd: rust_decimal::Decimal::ZERO,
                            cache_saved_usd: rust_decimal::Decimal::ZERO,
                            cache_write_premium_usd: rust_decimal::Decimal::ZERO,
                            output_cost_usd: rust_decimal::Decimal::ZERO,
                            price_id: "proxy-cache-hit".to_string(),
                        }),
                        None => price.map(|price| price.cost(&row.usage())),
                    };
                    let bucket = crate::common::session_buckets::bucket_of_request(
                        row.interaction_id.as_deref(),
                        row.user_id.as_deref(),
                        row.team.as_deref(),
                        row.feature.as_deref(),
                        buckets,
                    );
                    let staged = &mut staged[bucket as usize];
                    staged.rows.push(
                        &row,
                        cost.as_ref(),
                        pool.map(String::as_str),
                        self.reading.name(),
                        self.display,
                        line,
                    )?;
                    staged.row_added()?;
                    pending_ids.add(&row.request_id, self.seen);
                    Ok(Outcome::Kept)
                })?;
        pending_ids.note_all(self.seen);
        let mut rounded_costs = 0;
        for file in staged {
            rounded_costs += file.finish()?.rounded_costs;
        }
        Ok(PartCounts {
            counts,
            rounded_costs,
        })
    }
}

/// A record that is an OTLP/JSON batch as one record per span (each with its batch's
/// line), or the record as it is.
fn otlp_spans(
    item: Item<Option<serde_json::Value>>,
) -> Box<dyn Iterator<Item = Item<Option<serde_json::Value>>>> {
    let batch = match &item.value {
        Ok(Some(value)) if crate::read::otlp::is_batch(value) => value,
        _ => return Box::new(std::iter::once(item)),
    };
    let line = item.line;
    match crate::read::otlp::spans(batch) {
        Ok(spans) => Box::new(spans.into_iter().map(move |span| Item {
            line,
            raw: crate::read::source_reading::cut(&span.to_string()),
            value: Ok(Some(span)),
        })),
        Err(reason) => Box::new(std::iter::once(Item {
            line,
            raw: item.raw,
            value: Err(format!("not an OTLP/JSON trace batch: {reason}")),
        })),
    }
}

/// `path` relative to `base` when it lies below it, else `path` as it is.
fn relative_to(path: &Path, base: &Path) -> String {
    // An object is named by its key in the bucket (a bucket laid out like the local
    // folders gives the same names).
    if crate::read::remote::is_url(path) {
        let text = path.to_string_lossy();
        return url::Url::parse(&text)
            .map(|url| url.path().trim_start_matches('/').to_string())
            .unwrap_or_else(|_| text.into_owned());
    }
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (path_abs, base_abs) = (absolute(path), absolute(base));
    path_abs
        .strip_prefix(&base_abs)
        .unwrap_or(&path_abs)
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids noted a batch at a time from two readers find the same repeated ids as noting
    /// each id as it comes: worked out by hand, every id that occurs twice (`id-7`, within
    /// one reader, and `id-3`, `id-5000`, `id-9000` across the two) and no other.
    #[test]
    fn batched_ids_find_every_repeat() {
        let seen = std::sync::Mutex::new(SeenIds::default());
        let (mut first, mut second) = (PendingIds::default(), PendingIds::default());
        // More ids than a batch, so both readers note in the middle of their rows too.
        for n in 0..PendingIds::BATCH + 10 {
            first.add(&format!("id-{n}"), &seen);
        }
        first.add("id-7", &seen);
        for n in [3, 5000, 9000, 20_000] {
            second.add(&format!("id-{n}"), &seen);
        }
        second.note_all(&seen);
        for n in 5000..10_000 {
            first.add(&format!("id-{n}"), &seen);
        }
        first.note_all(&seen);
        let mut again = seen.into_inner().unwrap().again;
        again.sort();
        assert_eq!(again, ["id-3", "id-5000", "id-7", "id-9000"]);
    }
}
