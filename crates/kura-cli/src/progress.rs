//! indicatif progress bars on stderr, plugged into the engine's progress trait.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use kura_engine::{ProgressKind, ProgressReporter, ProgressTask};

pub struct Bars;

struct Task(ProgressBar);

impl ProgressTask for Task {
    fn set_length(&self, len: u64) {
        self.0.set_length(len);
    }
    fn set_title(&self, title: &str) {
        self.0.set_prefix(title.to_string());
    }
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
    fn is_hidden(&self) -> bool {
        self.0.is_hidden()
    }
}

impl ProgressReporter for Bars {
    fn start(&self, kind: ProgressKind, title: &str) -> Box<dyn ProgressTask> {
        let (bar, template) = match kind {
            ProgressKind::Spinner => (
                ProgressBar::new_spinner(),
                "{spinner} {prefix} [{elapsed_precise}]",
            ),
            ProgressKind::Counter => (
                ProgressBar::new(0),
                "{prefix:20} [{elapsed_precise}] {bar:40.cyan/blue} {pos}/{len}",
            ),
            ProgressKind::Bytes => (
                ProgressBar::new(0),
                "{prefix:20} [{elapsed_precise}] {bar:40.cyan/blue} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_prefix(title.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Box::new(Task(bar))
    }
}
