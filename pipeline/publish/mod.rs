//! What a run leaves for its readers: the output folder (lock, journaled publication,
//! reading a finished run back; `output`), an output folder on object storage (`bucket`),
//! `run_summary.json` and `report.md` (`summary`), and `report.html` (`html`).

pub mod bucket;
pub mod html;
pub mod output;
pub mod summary;

/// Test hook: abort the process (as kill -9 would) after this many publication steps (a
/// local folder: renames, 0 right after the journal is written; a bucket: objects written).
pub const CRASH_ENV: &str = "INFERLEDGER_CRASH_AFTER_PUBLISH_STEPS";
/// Files of a run published beside the tables.
pub const RUN_FILES: [&str; 3] = ["report.md", "report.html", "run_summary.json"];
/// Test hook: a file path; a run publishing into a bucket creates `<path>.waiting` just
/// before it replaces `_current.json` and waits until `<path>` exists (so a test can publish
/// another run in between).
pub const HOLD_ENV: &str = "INFERLEDGER_HOLD_BEFORE_POINTER";
