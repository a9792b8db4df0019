//! What a run leaves for its readers: the output folder (lock, journaled publication,
//! reading a finished run back), `run_summary.json` and `report.md` (`summary`), and
//! `report.html` (`html`).

pub mod html;
pub mod output;
pub mod summary;
