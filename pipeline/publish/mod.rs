//! What a run leaves for its readers: its tables as Delta Lake tables with a run manifest
//! (`delta`), the conversion of folders earlier versions wrote (`convert`), the output
//! folder's lock and staging and reading a run back (`output`), a staging copy in a bucket
//! for a cluster (`bucket`), `run_summary.json` and `report.md` (`summary`), and
//! `report.html` (`html`).

pub mod bucket;
pub mod convert;
pub mod delta;
pub mod figures;
pub mod html;
pub mod output;
pub mod summary;

/// Test hook, read only in a build with the `test-hooks` feature (`make test`): abort the
/// process (as kill -9 would) after this many publication steps (`delta::publish`: 0
/// before anything, then one per file moved in, per commit, for the manifest and per run
/// file).
pub const CRASH_ENV: &str = "INFERLEDGER_CRASH_AFTER_PUBLISH_STEPS";
/// Files of a run published beside the tables.
pub const RUN_FILES: [&str; 3] = ["report.md", "report.html", "run_summary.json"];
/// Test hook, read only in a build with the `test-hooks` feature: a file path; a run
/// creates `<path>.waiting` just before it publishes and waits until `<path>` exists (so
/// a test can publish another run in between).
pub const HOLD_ENV: &str = "INFERLEDGER_HOLD_BEFORE_PUBLISHING";
