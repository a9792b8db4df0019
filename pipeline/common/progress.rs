//! Progress on stderr with indicatif: a bar per input file (bytes) and a spinner per query
//! step. Hidden when stderr is not a terminal (nightly jobs, tests, pipes) or with `--quiet`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The progress display of one command.
#[derive(Clone)]
pub struct Progress {
    multi: MultiProgress,
}

impl Progress {
    /// Progress on stderr, unless `quiet` or stderr is not a terminal.
    pub fn new(quiet: bool) -> Self {
        let target = if quiet || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        Progress {
            multi: MultiProgress::with_draw_target(target),
        }
    }

    /// A bar counting the bytes of one input file.
    pub fn file(&self, label: &str, bytes: u64) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new(bytes));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:.bold} {bar:30.cyan/blue} {bytes}/{total_bytes} {bytes_per_sec} {wide_msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix("read");
        bar.set_message(label.to_string());
        bar
    }

    /// A spinner for one step (a query, a write).
    pub fn step(&self, label: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{prefix:.bold} {spinner} {wide_msg} {elapsed}")
                .expect("valid template"),
        );
        bar.set_prefix("step");
        bar.set_message(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }
}
