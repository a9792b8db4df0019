//! Record readers: every input layout becomes a stream of records, each with its line
//! number, its raw text (for quarantine) and either a JSON value or the reason it could
//! not be read. JSON lines are parsed one line at a time; CSV rows become objects of
//! strings keyed by header; Parquet rows go through Arrow's JSON writer, so all layouts
//! meet the same extractor. Nothing here loads a whole file (except a `.json` file that
//! holds one JSON array, which cannot be streamed line by line).

use std::fs::File;
use std::io::{BufRead, Read};
use std::path::Path;

use serde_json::{Map, Value};

use super::files::{Compression, Layout, open_text};
use crate::common::error::{Error, Result};

/// The UTF-8 byte-order mark some editors put at the start of a file.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// One record of a file: its line (1-based; for CSV the data row's physical line; for
/// Parquet the row number), its text (JSON lines: the whole line; quarantine cuts it to
/// [`MAX_RAW_BYTES`]), and the parsed record or why it could not be parsed: an item of the
/// one read loop.
pub type RawRecord = crate::read::source_reading::Item<Value>;

pub use crate::read::source_reading::{MAX_RAW_BYTES, cut};

/// A stream of records.
pub type Records = Box<dyn Iterator<Item = RawRecord> + Send>;

/// One line of a JSON-lines file, read but not parsed: the reader of the line parses it,
/// building only what it needs (`json_slots`).
#[derive(Debug, Clone)]
pub struct JsonLine {
    /// Line number in the file (1-based).
    pub line: u64,
    /// The line's text, or its raw text (cut) and why it cannot be read.
    pub text: std::result::Result<String, (String, String)>,
}

/// A stream of JSON lines.
pub type JsonLineTexts = Box<dyn Iterator<Item = JsonLine> + Send>;

/// Why a JSON text did not parse, as quarantine says it.
pub fn invalid_json(e: &serde_json::Error) -> String {
    format!(
        "invalid JSON at column {}: {}",
        e.column(),
        strip_position(e)
    )
}

impl JsonLine {
    /// The line parsed whole, as a record.
    pub fn parsed(self) -> RawRecord {
        let (raw, value) = match self.text {
            Err((raw, reason)) => (raw, Err(reason)),
            Ok(text) => {
                let value = serde_json::from_str::<Value>(&text).map_err(|e| invalid_json(&e));
                (text, value)
            }
        };
        RawRecord {
            line: self.line,
            raw,
            value,
        }
    }
}

/// Opens a JSON-lines file as unparsed lines; `None` when it holds one JSON array or
/// pretty-printed objects instead (read it with [`open`]). `wrap` sees the raw bytes (for progress).
pub fn open_json_lines(
    path: &Path,
    compression: Compression,
    wrap: impl FnOnce(Box<dyn Read + Send>) -> Box<dyn Read + Send>,
) -> Result<Option<JsonLineTexts>> {
    let mut reader = match open_text(path, compression, wrap) {
        Ok(reader) => reader,
        Err(Error::Io { error, .. }) => return Ok(Some(unreadable_lines(error))),
        Err(e) => return Err(e),
    };
    match peek_first_byte(&mut reader) {
        Ok(Some(b'[')) => Ok(None),
        Ok(_) if starts_pretty_object(&mut reader) => Ok(None),
        Ok(_) => Ok(Some(Box::new(JsonLines {
            reader,
            line: 0,
            done: false,
        }))),
        Err(e) => Ok(Some(unreadable_lines(e))),
    }
}

/// Opens a file as records. `wrap` sees the raw bytes (for progress).
pub fn open(
    path: &Path,
    layout: Layout,
    compression: Compression,
    wrap: impl FnOnce(Box<dyn Read + Send>) -> Box<dyn Read + Send>,
) -> Result<Records> {
    match layout {
        Layout::JsonLines => {
            let mut reader = match open_text(path, compression, wrap) {
                Ok(reader) => reader,
                Err(Error::Io { error, .. }) => return Ok(unreadable(error)),
                Err(e) => return Err(e),
            };
            let starts_array = match peek_first_byte(&mut reader) {
                Ok(first) => first == Some(b'['),
                Err(e) => return Ok(unreadable(e)),
            };
            if starts_array {
                json_array(path, reader)
            } else if starts_pretty_object(&mut reader) {
                Ok(Box::new(PrettyObjects {
                    lines: JsonLines {
                        reader,
                        line: 0,
                        done: false,
                    },
                    held: None,
                }))
            } else {
                Ok(Box::new(
                    JsonLines {
                        reader,
                        line: 0,
                        done: false,
                    }
                    .map(JsonLine::parsed),
                ))
            }
        }
        Layout::Csv => match open_text(path, compression, wrap) {
            Ok(reader) => csv_records(path, reader),
            Err(Error::Io { error, .. }) => Ok(unreadable(error)),
            Err(e) => Err(e),
        },
        // Parquet is read by seeking, not streamed: the caller counts its progress per file.
        Layout::Parquet => parquet_records(path),
    }
}

/// A byte range of an uncompressed JSON-lines file that can be read on its own: it starts
/// at the start of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Part {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// Smallest file worth splitting: below it, one reader is as fast.
pub const MIN_SPLIT_BYTES: u64 = 32 << 20;

/// Splits an uncompressed JSON-lines file into up to `parts` ranges of about equal size,
/// each starting at a line start (the split points are found by reading on from each
/// target to its line's end; the line numbers are counted by whoever reads the part, see
/// [`open_json_lines_part`]). A file under `min_bytes` (callers pass
/// [`MIN_SPLIT_BYTES`]), one that holds a JSON array, or `parts < 2` gives one part: the
/// whole file.
pub fn json_lines_parts(path: &Path, parts: usize, min_bytes: u64) -> Result<Vec<Part>> {
    use std::io::{Seek, SeekFrom};
    let io = |e| Error::io(path, e);
    if super::remote::is_url(path) {
        // An object is streamed from its start: one part.
        return Ok(vec![Part {
            start: 0,
            end: super::files::size(path),
        }]);
    }
    let size = std::fs::metadata(path).map_err(io)?.len();
    let whole = vec![Part {
        start: 0,
        end: size,
    }];
    if parts < 2 || size < min_bytes.max(1) {
        return Ok(whole);
    }
    let mut file = std::io::BufReader::with_capacity(1 << 16, File::open(path).map_err(io)?);
    if peek_first_byte_of(&mut file).map_err(io)? == Some(b'[')
        || first_line_is_lone_brace(file.fill_buf().map_err(io)?)
    {
        return Ok(whole);
    }
    let mut result = Vec::with_capacity(parts);
    let mut start = 0u64;
    for k in 1..parts as u64 {
        let target = (size * k / parts as u64).max(start);
        // From the target to the end of the line it falls in.
        file.seek(SeekFrom::Start(target)).map_err(io)?;
        let mut position = target;
        loop {
            let buf = file.fill_buf().map_err(io)?;
            if buf.is_empty() {
                break;
            }
            match memchr::memchr(b'\n', buf) {
                Some(i) => {
                    position += i as u64 + 1;
                    break;
                }
                None => {
                    let n = buf.len();
                    file.consume(n);
                    position += n as u64;
                }
            }
        }
        if position >= size {
            break;
        }
        if position > start {
            result.push(Part {
                start,
                end: position,
            });
            start = position;
        }
    }
    result.push(Part { start, end: size });
    Ok(result)
}

/// The number of line ends in the first `bytes` bytes of `path`.
fn line_ends_before(path: &Path, bytes: u64) -> std::io::Result<u64> {
    let mut file = File::open(path)?.take(bytes);
    let mut buffer = vec![0u8; 1 << 20];
    let mut count = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(count);
        }
        count += memchr::memchr_iter(b'\n', &buffer[..n]).count() as u64;
    }
}

/// The first byte that is not blank, without consuming anything (a file is not split when
/// its first 1 MiB is blank).
fn peek_first_byte_of(reader: &mut impl BufRead) -> std::io::Result<Option<u8>> {
    let buf = reader.fill_buf()?;
    Ok(buf.iter().find(|b| !b.is_ascii_whitespace()).copied())
}

/// Opens one part of an uncompressed JSON-lines file (see [`json_lines_parts`]) as
/// unparsed lines numbered from the part's first line. `wrap` sees the raw bytes (for
/// progress).
pub fn open_json_lines_part(
    path: &Path,
    part: Part,
    wrap: impl FnOnce(Box<dyn Read + Send>) -> Box<dyn Read + Send>,
) -> Result<JsonLineTexts> {
    use std::io::{Seek, SeekFrom};
    // The part's line numbers go on from the line ends before it, counted here, so each
    // part counts its own while the parts before it are already being read.
    let lines_before = line_ends_before(path, part.start).map_err(|e| Error::io(path, e))?;
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    file.seek(SeekFrom::Start(part.start))
        .map_err(|e| Error::io(path, e))?;
    let limited = wrap(Box::new(file)).take(part.end - part.start);
    Ok(Box::new(JsonLines {
        reader: Box::new(std::io::BufReader::with_capacity(1 << 16, limited)),
        line: lines_before,
        done: false,
    }))
}

/// A file that cannot be read from its start (an empty or corrupt .gz, a .zst cut before
/// its first block): one quarantined record saying so, so the run goes on with the
/// source's other files and the loss is counted.
fn unreadable(error: std::io::Error) -> Records {
    Box::new(std::iter::once(RawRecord {
        line: 1,
        raw: String::new(),
        value: Err(format!(
            "file unreadable from its start (empty, truncated or corrupt?): {error}"
        )),
    }))
}

/// [`unreadable`] as unparsed lines.
fn unreadable_lines(error: std::io::Error) -> JsonLineTexts {
    Box::new(std::iter::once(JsonLine {
        line: 1,
        text: Err((
            String::new(),
            format!("file unreadable from its start (empty, truncated or corrupt?): {error}"),
        )),
    }))
}

fn peek_first_byte(reader: &mut Box<dyn BufRead + Send>) -> std::io::Result<Option<u8>> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => return Ok(Some(buf[i])),
            None => {
                let n = buf.len();
                // Only leading blank bytes: skip them, they are not records.
                let newlines = buf.iter().filter(|b| **b == b'\n').count();
                if newlines > 0 {
                    // Keep line numbers right by not consuming newlines here.
                    return Ok(Some(b'\n'));
                }
                reader.consume(n);
            }
        }
    }
}

/// Whether the text starts with a line holding only `{`: pretty-printed JSON objects one
/// after another (what `json.dumps(…, indent=4)` writes, as OpenTelemetry's console
/// exporter does), not one object per line.
fn first_line_is_lone_brace(buf: &[u8]) -> bool {
    let buf = buf.strip_prefix(UTF8_BOM).unwrap_or(buf);
    let Some(start) = buf.iter().position(|b| !b.is_ascii_whitespace()) else {
        return false;
    };
    let rest = &buf[start..];
    let line = match memchr::memchr(b'\n', rest) {
        Some(end) => &rest[..end],
        None => return false,
    };
    line.trim_ascii() == b"{"
}

fn starts_pretty_object(reader: &mut Box<dyn BufRead + Send>) -> bool {
    reader.fill_buf().is_ok_and(first_line_is_lone_brace)
}

/// Pretty-printed JSON objects one after another: each object, from its opening line to
/// the line that closes it, is one record numbered by its first line. An object not
/// closed before the next one opens at the start of a line (or before the file ends) is
/// quarantined as cut short; text outside any object is quarantined line by line.
struct PrettyObjects {
    lines: JsonLines,
    /// A line read past the end of an object that was cut short: the next one's first.
    held: Option<JsonLine>,
}

impl PrettyObjects {
    /// The brace depth after `text`, from `depth` and whether a string is open (`in_string`).
    fn depth_after(text: &str, mut depth: i64, in_string: &mut bool) -> i64 {
        let mut escaped = false;
        for b in text.bytes() {
            if *in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => *in_string = false,
                    _ => {}
                }
            } else {
                match b {
                    b'"' => *in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => depth -= 1,
                    _ => {}
                }
            }
        }
        depth
    }
}

impl Iterator for PrettyObjects {
    type Item = RawRecord;

    fn next(&mut self) -> Option<RawRecord> {
        let first = self.held.take().or_else(|| self.lines.next())?;
        let start = first.line;
        let mut text = match first.text {
            Ok(text) => text,
            Err((raw, reason)) => {
                return Some(RawRecord {
                    line: start,
                    raw,
                    value: Err(reason),
                });
            }
        };
        if !text.trim_start().starts_with('{') {
            return Some(
                JsonLine {
                    line: start,
                    text: Ok(text),
                }
                .parsed(),
            );
        }
        let mut in_string = false;
        let mut depth = Self::depth_after(&text, 0, &mut in_string);
        while depth > 0 {
            match self.lines.next() {
                Some(JsonLine { text: Ok(line), .. }) if line.starts_with('{') && !in_string => {
                    // A new object at the start of a line: the open one was cut short.
                    self.held = Some(JsonLine {
                        line: self.lines.line,
                        text: Ok(line),
                    });
                    return Some(RawRecord {
                        line: start,
                        raw: cut(&text),
                        value: Err(format!(
                            "JSON object not closed before line {} (cut short?)",
                            self.lines.line
                        )),
                    });
                }
                Some(JsonLine { text: Ok(line), .. }) => {
                    depth = Self::depth_after(&line, depth, &mut in_string);
                    text.push('\n');
                    text.push_str(&line);
                }
                Some(JsonLine {
                    text: Err((_, reason)),
                    line,
                }) => {
                    return Some(RawRecord {
                        line: start,
                        raw: cut(&text),
                        value: Err(format!("line {line} of the object: {reason}")),
                    });
                }
                None => {
                    return Some(RawRecord {
                        line: start,
                        raw: cut(&text),
                        value: Err(
                            "JSON object not closed before the end of the file (cut short?)"
                                .to_string(),
                        ),
                    });
                }
            }
        }
        Some(
            JsonLine {
                line: start,
                text: Ok(text),
            }
            .parsed(),
        )
    }
}

struct JsonLines {
    reader: Box<dyn BufRead + Send>,
    line: u64,
    done: bool,
}

impl Iterator for JsonLines {
    type Item = JsonLine;

    fn next(&mut self) -> Option<JsonLine> {
        let mut buf = Vec::new();
        loop {
            if self.done {
                return None;
            }
            buf.clear();
            match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => {
                    self.line += 1;
                    while matches!(buf.last(), Some(b'\n' | b'\r')) {
                        buf.pop();
                    }
                    if self.line == 1 && buf.starts_with(UTF8_BOM) {
                        buf.drain(..UTF8_BOM.len()); // a byte-order mark is not data
                    }
                    if buf.iter().all(u8::is_ascii_whitespace) {
                        continue; // blank lines are not records
                    }
                    // The line is moved, not copied, into the record's text (quarantine
                    // cuts it when it keeps it).
                    let text = String::from_utf8(std::mem::take(&mut buf)).map_err(|e| {
                        let at = e.utf8_error().valid_up_to();
                        (
                            cut(&String::from_utf8_lossy(e.as_bytes())),
                            format!("not valid UTF-8 at byte {at}"),
                        )
                    });
                    return Some(JsonLine {
                        line: self.line,
                        text,
                    });
                }
                Err(e) => {
                    self.done = true;
                    self.line += 1;
                    return Some(JsonLine {
                        line: self.line,
                        text: Err((
                            String::new(),
                            format!("file unreadable from here on (truncated or corrupt?): {e}"),
                        )),
                    });
                }
            }
        }
    }
}

fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn json_array(path: &Path, mut reader: Box<dyn BufRead + Send>) -> Result<Records> {
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .map_err(|e| Error::io(path, e))?;
    let items: Vec<Value> = serde_json::from_str(&text).map_err(|e| Error::Input {
        path: path.to_path_buf(),
        message: format!(
            "line {}, column {}: {}; expected one JSON object per line or one JSON array of objects",
            e.line(),
            e.column(),
            strip_position(&e)
        ),
    })?;
    Ok(Box::new(items.into_iter().enumerate().map(|(i, value)| {
        RawRecord {
            line: i as u64 + 1,
            raw: cut(&value.to_string()),
            value: Ok(value),
        }
    })))
}

/// The line ends a reader has passed, kept until they are asked for: what numbers a CSV
/// record by the file's own lines. The csv crate's line count runs one short after a CRLF
/// (the record starts at the '\n' it has not consumed yet) and right after a bare LF, so a
/// file mixing them cannot be corrected by one offset; counting the '\n' bytes up to a
/// record's start byte can. Only the line ends not yet asked for are held (the csv
/// reader's look-ahead), so memory does not grow with the file.
#[derive(Default)]
struct LineEnds {
    /// Byte offsets of the '\n's seen and not yet counted, in order.
    pending: std::collections::VecDeque<u64>,
    /// '\n's counted so far.
    counted: u64,
    /// Bytes passed so far.
    offset: u64,
}

impl LineEnds {
    /// The line of a record starting at byte `start`: one more than the line ends before
    /// it, counting one at `start` itself (a CRLF record's reported start is its '\n').
    fn line_at(&mut self, start: u64) -> u64 {
        while self.pending.front().is_some_and(|at| *at <= start) {
            self.pending.pop_front();
            self.counted += 1;
        }
        self.counted + 1
    }
}

/// A reader that notes every '\n' it passes in a shared [`LineEnds`].
struct CountingLines<R> {
    inner: R,
    ends: std::sync::Arc<std::sync::Mutex<LineEnds>>,
}

impl<R: Read> Read for CountingLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut ends = self.ends.lock().expect("no reader panicked");
        let base = ends.offset;
        for at in memchr::memchr_iter(b'\n', &buf[..n]) {
            ends.pending.push_back(base + at as u64);
        }
        ends.offset += n as u64;
        Ok(n)
    }
}

fn csv_records(path: &Path, reader: Box<dyn BufRead + Send>) -> Result<Records> {
    let line_ends = std::sync::Arc::new(std::sync::Mutex::new(LineEnds::default()));
    let counted = CountingLines {
        inner: reader,
        ends: line_ends.clone(),
    };
    let line_of = move |position: Option<&csv::Position>| {
        position.map_or(0, |p| {
            line_ends
                .lock()
                .expect("no reader panicked")
                .line_at(p.byte())
        })
    };
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(counted);
    let headers = match csv.headers() {
        Ok(headers) => headers.clone(),
        Err(e) if e.is_io_error() => {
            return Ok(unreadable(std::io::Error::other(e.to_string())));
        }
        Err(e) => {
            return Err(Error::Input {
                path: path.to_path_buf(),
                message: format!("line 1: cannot read the CSV header: {e}"),
            });
        }
    };
    let headers: Vec<String> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let h = if i == 0 {
                h.trim_start_matches('\u{feff}')
            } else {
                h
            };
            h.trim().to_string()
        })
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err(Error::Input {
            path: path.to_path_buf(),
            message: "line 1: the CSV file has no header row".to_string(),
        });
    }
    let mut records = csv.into_byte_records().peekable();
    let mut failed = false;
    let mut pending: std::collections::VecDeque<RawRecord> = std::collections::VecDeque::new();
    Ok(Box::new(std::iter::from_fn(move || {
        if let Some(record) = pending.pop_front() {
            return Some(record);
        }
        if failed {
            return None;
        }
        let record = records.next()?;
        Some(match record {
            Err(e) => {
                let line = line_of(e.position());
                if e.is_io_error() {
                    failed = true;
                }
                RawRecord {
                    line,
                    raw: String::new(),
                    value: Err(format!("unreadable CSV row: {e}")),
                }
            }
            Ok(row) => {
                let line = line_of(row.position());
                let mut fields: Vec<String> = row
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect();
                if records.peek().is_none()
                    && let Some(last) = fields.last_mut()
                    && last.ends_with('\n')
                {
                    // A quote open at the end of the file: its final line break ends the
                    // file, it starts no line.
                    last.pop();
                    if last.ends_with('\r') {
                        last.pop();
                    }
                }
                let raw = cut(&fields.join(","));
                let swallowed = swallowed_rows(&fields, headers.len());
                let mut count_lines_of_bad_row = |reason: &str| {
                    // A malformed row that spans lines: every physical line it took in is
                    // counted and quarantined, so the loss shows.
                    for (offset, text) in continuation_lines(&fields) {
                        pending.push_back(RawRecord {
                            line: line + offset,
                            raw: cut(text),
                            value: Err(format!("{reason} (line of the row opened on line {line})")),
                        });
                    }
                };
                let value = if swallowed {
                    count_lines_of_bad_row("row swallowed by an unterminated quote");
                    Err(format!(
                        "a quoted field is not closed: it runs over {} more line(s), some looking like whole rows (unterminated quote?)",
                        continuation_lines(&fields).len()
                    ))
                } else if fields.len() != headers.len() {
                    count_lines_of_bad_row("part of a row with the wrong number of columns");
                    Err(format!(
                        "expected {} columns ({}), found {}",
                        headers.len(),
                        headers.join(","),
                        fields.len()
                    ))
                } else if row.iter().any(|f| std::str::from_utf8(f).is_err()) {
                    Err("not valid UTF-8".to_string())
                } else {
                    let map: Map<String, Value> = headers
                        .iter()
                        .cloned()
                        .zip(fields.into_iter().map(Value::String))
                        .collect();
                    Ok(Value::Object(map))
                };
                RawRecord { line, raw, value }
            }
        })
    })))
}

/// The physical lines of a record after its first (inside quoted fields), with their
/// offset from the record's first line.
fn continuation_lines(fields: &[String]) -> Vec<(u64, &str)> {
    fields
        .iter()
        .flat_map(|field| field.split('\n').skip(1))
        .enumerate()
        .map(|(i, piece)| (i as u64 + 1, piece))
        .collect()
}

/// Whether a quote left open has swallowed rows. A quoted field may hold line breaks (a
/// message's text), but a line inside it that looks like a whole row of its own (as many
/// commas as the header has, less one) means the quote was never closed.
fn swallowed_rows(fields: &[String], columns: usize) -> bool {
    columns > 1
        && continuation_lines(fields)
            .iter()
            .any(|(_, piece)| piece.matches(',').count() + 1 >= columns)
}

/// Parquet writers often store strings as BINARY without a UTF8 annotation; Arrow's JSON
/// writer would print them as hex. Byte values become text wherever they lie (top-level
/// columns, struct fields such as `metadata.team`, list items): valid UTF-8 as it reads,
/// anything else as the lowercase hex of its bytes, so no value turns into a null (an id
/// that did would be replaced by `file:line` without a word).
fn binary_as_text(
    batch: datafusion::arrow::array::RecordBatch,
) -> datafusion::arrow::array::RecordBatch {
    use datafusion::arrow::datatypes::Schema;
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| holds_binary(f.data_type()))
    {
        return batch;
    }
    let (fields, columns): (Vec<_>, Vec<_>) = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            let column = bytes_to_text(column);
            let field = field
                .as_ref()
                .clone()
                .with_data_type(column.data_type().clone());
            (field, column)
        })
        .unzip();
    datafusion::arrow::array::RecordBatch::try_new(
        std::sync::Arc::new(Schema::new(fields)),
        columns,
    )
    .unwrap_or(batch)
}

/// Whether a type holds bytes anywhere inside it.
fn holds_binary(data_type: &datafusion::arrow::datatypes::DataType) -> bool {
    use datafusion::arrow::datatypes::DataType;
    match data_type {
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => true,
        DataType::Struct(fields) => fields.iter().any(|f| holds_binary(f.data_type())),
        DataType::List(item) | DataType::LargeList(item) | DataType::Map(item, _) => {
            holds_binary(item.data_type())
        }
        _ => false,
    }
}

/// `column` with every byte value inside it as text (see [`binary_as_text`]).
fn bytes_to_text(
    column: &datafusion::arrow::array::ArrayRef,
) -> datafusion::arrow::array::ArrayRef {
    use datafusion::arrow::array::{Array, AsArray, StringArray, StructArray};
    use datafusion::arrow::datatypes::{DataType, Field};
    use std::sync::Arc;
    if !holds_binary(column.data_type()) {
        return column.clone();
    }
    let text = |value: Option<&[u8]>| {
        value.map(|value| match std::str::from_utf8(value) {
            Ok(text) => text.to_string(),
            Err(_) => value.iter().map(|b| format!("{b:02x}")).collect(),
        })
    };
    match column.data_type() {
        DataType::Binary => Arc::new(
            column
                .as_binary::<i32>()
                .iter()
                .map(text)
                .collect::<StringArray>(),
        ),
        DataType::LargeBinary => Arc::new(
            column
                .as_binary::<i64>()
                .iter()
                .map(text)
                .collect::<StringArray>(),
        ),
        DataType::BinaryView => Arc::new(
            column
                .as_binary_view()
                .iter()
                .map(text)
                .collect::<StringArray>(),
        ),
        DataType::Struct(_) => {
            let array = column.as_struct();
            let (fields, columns): (Vec<_>, Vec<_>) = array
                .fields()
                .iter()
                .zip(array.columns())
                .map(|(field, child)| {
                    let child = bytes_to_text(child);
                    let field = field
                        .as_ref()
                        .clone()
                        .with_data_type(child.data_type().clone());
                    (Arc::new(field), child)
                })
                .unzip();
            match StructArray::try_new(fields.into(), columns, array.nulls().cloned()) {
                Ok(array) => Arc::new(array),
                Err(_) => column.clone(),
            }
        }
        DataType::List(item) => {
            list_to_text(column.as_list::<i32>(), item).unwrap_or_else(|| column.clone())
        }
        DataType::LargeList(item) => {
            list_to_text(column.as_list::<i64>(), item).unwrap_or_else(|| column.clone())
        }
        // ClickHouse writes `Map(String, …)` with byte keys (Langfuse's usage_details).
        DataType::Map(entries, ordered) => {
            let array = column.as_map();
            let rebuilt: datafusion::arrow::array::ArrayRef = Arc::new(array.entries().clone());
            let converted = bytes_to_text(&rebuilt);
            let entries_field = Arc::new(Field::new(
                entries.name(),
                converted.data_type().clone(),
                entries.is_nullable(),
            ));
            match datafusion::arrow::array::MapArray::try_new(
                entries_field,
                array.offsets().clone(),
                converted.as_struct().clone(),
                array.nulls().cloned(),
                *ordered,
            ) {
                Ok(array) => Arc::new(array),
                Err(_) => column.clone(),
            }
        }
        _ => column.clone(),
    }
}

/// A list column with its items' bytes as text (see [`bytes_to_text`]).
fn list_to_text<O: datafusion::arrow::array::OffsetSizeTrait>(
    array: &datafusion::arrow::array::GenericListArray<O>,
    item: &datafusion::arrow::datatypes::FieldRef,
) -> Option<datafusion::arrow::array::ArrayRef> {
    use datafusion::arrow::array::Array;
    let values = bytes_to_text(array.values());
    let item = std::sync::Arc::new(datafusion::arrow::datatypes::Field::new(
        item.name(),
        values.data_type().clone(),
        item.is_nullable(),
    ));
    datafusion::arrow::array::GenericListArray::<O>::try_new(
        item,
        array.offsets().clone(),
        values,
        array.nulls().cloned(),
    )
    .ok()
    .map(|list| std::sync::Arc::new(list) as _)
}

fn parquet_records(path: &Path) -> Result<Records> {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let not_parquet = |e: datafusion::parquet::errors::ParquetError| Error::Input {
        path: path.to_path_buf(),
        message: format!("not a readable Parquet file: {e}"),
    };
    // An object is fetched whole (Parquet is read from its footer), a local file by seeking.
    let builder = if super::remote::is_url(path) {
        ParquetRecordBatchReaderBuilder::try_new(super::remote::read_all(&path.to_string_lossy())?)
            .map_err(not_parquet)?
            .with_batch_size(4096)
            .build()
    } else {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(not_parquet)?
            .with_batch_size(4096)
            .build()
    };
    let reader = builder.map_err(|e| Error::Input {
        path: path.to_path_buf(),
        message: format!("not a readable Parquet file: {e}"),
    })?;
    let mut row = 0u64;
    let mut pending: std::vec::IntoIter<RawRecord> = Vec::new().into_iter();
    let mut batches = reader;
    let mut failed = false;
    Ok(Box::new(std::iter::from_fn(move || {
        loop {
            if let Some(record) = pending.next() {
                return Some(record);
            }
            if failed {
                return None;
            }
            let batch = match batches.next()? {
                Ok(batch) => batch,
                Err(e) => {
                    failed = true;
                    return Some(RawRecord {
                        line: row + 1,
                        raw: String::new(),
                        value: Err(format!("Parquet unreadable from row {} on: {e}", row + 1)),
                    });
                }
            };
            let batch = binary_as_text(batch);
            let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(Vec::new());
            let converted = writer.write(&batch).and_then(|_| writer.finish());
            let bytes = writer.into_inner();
            let mut records = Vec::with_capacity(batch.num_rows());
            match converted {
                Ok(()) => {
                    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                        row += 1;
                        let text = String::from_utf8_lossy(line);
                        records.push(RawRecord {
                            line: row,
                            raw: cut(&text),
                            value: serde_json::from_slice(line)
                                .map_err(|e| format!("row not convertible: {e}")),
                        });
                    }
                }
                Err(e) => {
                    for _ in 0..batch.num_rows() {
                        row += 1;
                        records.push(RawRecord {
                            line: row,
                            raw: String::new(),
                            value: Err(format!("row not convertible to JSON: {e}")),
                        });
                    }
                }
            }
            pending = records.into_iter();
        }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn plain(f: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
        Box::new(f)
    }

    /// Pretty-printed objects one after another (the console exporter's layout, worked
    /// out by hand): three objects starting on lines 1, 7 and 12; the second holds a
    /// brace inside a string; the fourth, opened on line 15, is cut short by a fifth at
    /// line 17, which the file ends before closing. Neither the lines nor the parts
    /// reader takes such a file as lines.
    #[test]
    fn pretty_printed_objects_are_one_record_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spans.json");
        let text = "{\n    \"a\": 1,\n    \"b\": {\n        \"c\": [1, 2]\n    }\n}\n{\n    \"name\": \"x } {\",\n    \"d\": \"\\\"}\"\n}\n\n{\n    \"e\": 3\n}\n{\n    \"f\": 1,\n{\n    \"g\": 2\n";
        std::fs::write(&path, text).unwrap();
        let records: Vec<RawRecord> = open(&path, Layout::JsonLines, Compression::None, plain)
            .unwrap()
            .collect();
        let lines: Vec<u64> = records.iter().map(|r| r.line).collect();
        assert_eq!(lines, [1, 7, 12, 15, 17]);
        assert_eq!(records[0].value.as_ref().unwrap()["b"]["c"][1], 2);
        assert_eq!(records[1].value.as_ref().unwrap()["name"], "x } {");
        assert_eq!(records[2].value.as_ref().unwrap()["e"], 3);
        assert!(
            records[3]
                .value
                .as_ref()
                .unwrap_err()
                .contains("not closed before line 17")
        );
        assert!(
            records[4]
                .value
                .as_ref()
                .unwrap_err()
                .contains("end of the file")
        );
        assert!(
            open_json_lines(&path, Compression::None, plain)
                .unwrap()
                .is_none()
        );
        assert_eq!(json_lines_parts(&path, 4, 1).unwrap().len(), 1);
    }

    /// Parquet strings stored as BINARY, inside a struct (`metadata.team`) too, read as
    /// text; a value that is not UTF-8 comes out as the hex of its bytes, not as a null.
    #[test]
    fn parquet_bytes_inside_structs_read_as_text() {
        use datafusion::arrow::array::{ArrayRef, BinaryArray, RecordBatch, StructArray};
        use datafusion::arrow::datatypes::{DataType, Field};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.parquet");
        let ids: ArrayRef = Arc::new(BinaryArray::from(vec![&b"req-1"[..], &[0xff, 0x01][..]]));
        let team: ArrayRef = Arc::new(BinaryArray::from(vec![&b"binteam"[..], &b"ops"[..]]));
        let metadata: ArrayRef = Arc::new(StructArray::from(vec![(
            Arc::new(Field::new("team", DataType::Binary, true)),
            team,
        )]));
        let batch = RecordBatch::try_from_iter([("id", ids), ("metadata", metadata)]).unwrap();
        let mut writer = datafusion::parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            batch.schema(),
            None,
        )
        .unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let records: Vec<serde_json::Value> =
            open(&path, Layout::Parquet, Compression::None, plain)
                .unwrap()
                .map(|r| r.value.unwrap())
                .collect();
        assert_eq!(records[0]["id"], "req-1");
        assert_eq!(records[0]["metadata"]["team"], "binteam");
        assert_eq!(records[1]["id"], "ff01");
        assert_eq!(records[1]["metadata"]["team"], "ops");
    }

    #[test]
    fn quarantine_text_is_cut_at_a_character_boundary() {
        // 10,000 two-byte characters (20,000 bytes): cut to at most 16 KiB, whole
        // characters only, marked with an ellipsis.
        let long = "é".repeat(10_000);
        let kept = cut(&long);
        assert!(kept.ends_with('…'));
        assert_eq!(kept.len(), MAX_RAW_BYTES + '…'.len_utf8());
        assert_eq!(cut("short"), "short");
    }

    #[test]
    fn parts_of_a_file_read_as_the_whole_file() {
        // 4,000 lines of up to 200 bytes (some blank, some bad): read in 2 and in 3 parts,
        // the records (line numbers included) are those of reading the file whole.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.jsonl");
        let mut text = String::new();
        for i in 0..4_000 {
            match i % 97 {
                0 => text.push('\n'),
                1 => text.push_str("{not json\n"),
                _ => text.push_str(&format!(
                    "{{\"i\": {i}, \"pad\": \"{}\"}}\n",
                    "x".repeat(i % 200)
                )),
            }
        }
        std::fs::write(&path, &text).unwrap();
        let summary = |records: Records| -> Vec<(u64, bool, String)> {
            records
                .map(|r| (r.line, r.value.is_ok(), r.raw.chars().take(12).collect()))
                .collect()
        };
        let whole = summary(open(&path, Layout::JsonLines, Compression::None, plain).unwrap());
        for n in [2, 3] {
            let parts = json_lines_parts(&path, n, 0).unwrap();
            assert_eq!(parts.len(), n);
            assert_eq!(parts.last().unwrap().end, text.len() as u64);
            let mut joined = Vec::new();
            for part in parts {
                joined.extend(summary(Box::new(
                    open_json_lines_part(&path, part, plain)
                        .unwrap()
                        .map(JsonLine::parsed),
                )));
            }
            assert_eq!(joined, whole, "{n} parts");
        }
    }

    #[test]
    fn json_lines_keep_line_numbers_and_flag_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        std::fs::write(&path, "{\"a\":1}\n\n{\"a\":\n{\"a\":3}").unwrap();
        let records: Vec<RawRecord> = open(&path, Layout::JsonLines, Compression::None, plain)
            .unwrap()
            .collect();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].line, 1);
        assert_eq!(records[1].line, 3);
        assert!(
            records[1]
                .value
                .as_ref()
                .unwrap_err()
                .contains("invalid JSON")
        );
        assert_eq!(records[2].line, 4, "a last line without newline is read");
        assert!(records[2].value.is_ok());
    }

    #[test]
    fn csv_line_numbers_are_the_file_lines_with_lf_or_crlf() {
        let dir = tempfile::tempdir().unwrap();
        for ending in ["\n", "\r\n"] {
            let path = dir.path().join("a.csv");
            let text = ["a,b", "1,2", "3,\"x", "y\"", "broken", "5,6", ""].join(ending);
            std::fs::write(&path, text).unwrap();
            let lines: Vec<u64> = open(&path, Layout::Csv, Compression::None, plain)
                .unwrap()
                .map(|r| r.line)
                .collect();
            // Rows start on file lines 2, 3 (a quoted field over lines 3-4), 5 and 6.
            assert_eq!(lines, [2, 3, 5, 6], "ending {ending:?}");
        }
    }

    /// Issue 30: a bare LF inside an unquoted row of a CRLF file ends a record there (as
    /// the csv crate reads it) and must not shift the later rows' lines: worked by hand,
    /// `1,2` starts on line 2, its cut-off tail `x` on line 3, `5,6` on line 4, `7,8` on 5.
    #[test]
    fn a_bare_line_feed_in_a_crlf_file_shifts_no_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(&path, "a,b\r\n1,2\nx\r\n5,6\r\n7,8\r\n").unwrap();
        let lines: Vec<u64> = open(&path, Layout::Csv, Compression::None, plain)
            .unwrap()
            .map(|r| r.line)
            .collect();
        assert_eq!(lines, [2, 3, 4, 5]);
    }

    #[test]
    fn an_unterminated_quote_does_not_swallow_rows_silently() {
        // Line 3 opens a quote that is never closed: lines 4 and 5 are whole rows it would
        // take in. All three are counted and quarantined; line 2 is kept.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(
            &path,
            "id,model,tokens\n1,gpt-4o,10\n2,\"gpt-4o,20\n3,gpt-4o,30\n4,gpt-4o,40\n",
        )
        .unwrap();
        let records: Vec<RawRecord> = open(&path, Layout::Csv, Compression::None, plain)
            .unwrap()
            .collect();
        let summary: Vec<(u64, bool)> = records.iter().map(|r| (r.line, r.value.is_ok())).collect();
        assert_eq!(summary, [(2, true), (3, false), (4, false), (5, false)]);
        assert!(
            records[1]
                .value
                .as_ref()
                .unwrap_err()
                .contains("quoted field is not closed")
        );
        assert!(
            records[2]
                .value
                .as_ref()
                .unwrap_err()
                .contains("opened on line 3")
        );
        assert_eq!(records[3].raw, "4,gpt-4o,40");
    }

    #[test]
    fn a_quoted_field_with_line_breaks_is_one_row() {
        // A message with line breaks (not rows) stays one kept row.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(
            &path,
            "id,model,message\n1,gpt-4o,\"Hello,\nhow are you\"\n2,gpt-4o,x\n",
        )
        .unwrap();
        let records: Vec<RawRecord> = open(&path, Layout::Csv, Compression::None, plain)
            .unwrap()
            .collect();
        assert_eq!(records.len(), 2);
        assert!(records.iter().all(|r| r.value.is_ok()));
        assert_eq!(records[1].line, 4);
    }

    #[test]
    fn csv_rows_become_objects_and_short_rows_are_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(
            &path,
            "\u{feff}TIMESTAMP,ContextTokens\n2023-11-16 18:15:46.6805900,374\nbroken\n",
        )
        .unwrap();
        let records: Vec<RawRecord> = open(&path, Layout::Csv, Compression::None, plain)
            .unwrap()
            .collect();
        assert_eq!(records.len(), 2);
        assert_eq!(
            records[0].value.as_ref().unwrap()["TIMESTAMP"],
            "2023-11-16 18:15:46.6805900"
        );
        assert_eq!(records[0].line, 2);
        assert!(
            records[1]
                .value
                .as_ref()
                .unwrap_err()
                .contains("expected 2 columns")
        );
        assert_eq!(records[1].line, 3);
    }

    #[test]
    fn gzip_and_truncated_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl.gz");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in 0..2000 {
            writeln!(encoder, "{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 50)).unwrap();
        }
        let bytes = encoder.finish().unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let n = open(&path, Layout::JsonLines, Compression::Gzip, plain)
            .unwrap()
            .count();
        assert_eq!(n, 2000);
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let records: Vec<RawRecord> = open(&path, Layout::JsonLines, Compression::Gzip, plain)
            .unwrap()
            .collect();
        let last = records.last().unwrap();
        assert!(
            last.value.as_ref().unwrap_err().contains("unreadable"),
            "{:?}",
            last.value
        );
    }
}
