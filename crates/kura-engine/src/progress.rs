//! Progress reporting injected by the caller; the engine never draws on a terminal itself.

use std::sync::Arc;

use rustic_core::{Progress, ProgressBars, ProgressType, RusticProgress};

/// What a progress indicator counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressKind {
    /// No known length.
    Spinner,
    /// Items.
    Counter,
    /// Bytes.
    Bytes,
}

/// One running progress indicator.
pub trait ProgressTask: Send + Sync + 'static {
    /// Total, when known.
    fn set_length(&self, len: u64);
    /// Change the title.
    fn set_title(&self, title: &str);
    /// Advance.
    fn inc(&self, n: u64);
    /// Done.
    fn finish(&self);
    /// Whether it shows anything (hidden progress lets the engine skip the pre-scan).
    fn is_hidden(&self) -> bool;
}

/// Creates progress indicators.
pub trait ProgressReporter: Send + Sync + 'static {
    /// Start one.
    fn start(&self, kind: ProgressKind, title: &str) -> Box<dyn ProgressTask>;
}

/// Shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ProgressTask for NoProgress {
    fn set_length(&self, _len: u64) {}
    fn set_title(&self, _title: &str) {}
    fn inc(&self, _n: u64) {}
    fn finish(&self) {}
    fn is_hidden(&self) -> bool {
        true
    }
}

impl ProgressReporter for NoProgress {
    fn start(&self, _kind: ProgressKind, _title: &str) -> Box<dyn ProgressTask> {
        Box::new(NoProgress)
    }
}

/// Convenience: a shared reporter that shows nothing.
pub fn no_progress() -> Arc<dyn ProgressReporter> {
    Arc::new(NoProgress)
}

pub(crate) struct ProgressAdapter(pub(crate) Arc<dyn ProgressReporter>);

impl std::fmt::Debug for ProgressAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressAdapter")
    }
}

struct TaskAdapter(Box<dyn ProgressTask>);

impl std::fmt::Debug for TaskAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TaskAdapter")
    }
}

impl RusticProgress for TaskAdapter {
    fn is_hidden(&self) -> bool {
        self.0.is_hidden()
    }
    fn set_length(&self, len: u64) {
        self.0.set_length(len);
    }
    fn set_title(&self, title: &str) {
        self.0.set_title(title);
    }
    fn inc(&self, inc: u64) {
        self.0.inc(inc);
    }
    fn finish(&self) {
        self.0.finish();
    }
}

impl ProgressBars for ProgressAdapter {
    fn progress(&self, progress_type: ProgressType, prefix: &str) -> Progress {
        let kind = match progress_type {
            ProgressType::Spinner => ProgressKind::Spinner,
            ProgressType::Counter => ProgressKind::Counter,
            ProgressType::Bytes => ProgressKind::Bytes,
        };
        Progress::new(TaskAdapter(self.0.start(kind, prefix)))
    }
}
