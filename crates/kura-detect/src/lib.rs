//! kura-detect: pattern-independent ransomware detection over bytes, names and counts.
//!
//! It owns the per-file [`FileProfile`] (built by a streaming [`Profiler`] fed with the bytes the
//! backup already reads), the engines that compare a snapshot with its parent (content, format,
//! similarity, names, rate, canaries), the learned [`Baseline`], the snapshot [`Verdict`], and the
//! evidence pipeline that assembles them ([`Evidence`], over any [`VersionSource`]: a snapshot, the
//! live tree or the live guard's before-images) with its stored [`VerdictDocument`].
//! It must not do I/O beyond planting canaries, depend on any kura crate, rustic_core or async
//! code, or use malware signatures: every engine is easy to evade alone, together they are not.
//!
//! ```
//! use kura_detect::{judge_file, judge_snapshot, Baseline, FileProfile, Profiler, TreeChanges, Verdict};
//!
//! let mut p = Profiler::new("notes/a.txt");
//! p.update(b"Ward 3: patient stable, allergy to penicillin noted.\n");
//! let before = p.finish();
//! let after = FileProfile::of(b"Ward 3: patient stable, allergy to penicillin noted.\nDay 2: fine.\n");
//! let findings = judge_file("notes/a.txt", Some(&before), &after);
//! let changes = TreeChanges { modified: vec!["notes/a.txt".into()], unchanged: 99, ..Default::default() };
//! let j = judge_snapshot(findings, &changes, &Baseline::default());
//! assert_eq!(j.verdict, Verdict::Clean);
//! assert_eq!(j.verdict.to_string(), "clean");
//! ```

mod assess;
pub mod canary;
mod file;
mod format;
mod names;
mod profile;
mod rate;
mod sketch;
mod verdict;

pub use assess::{
    Assessed, Evidence, JudgedAlone, Profiled, Profiles, STORED_FINDINGS, VerdictDocument,
    VersionSource,
};
pub use file::judge_file;
pub use format::Format;
pub use names::{is_known_ext, is_ransom_note_name, judge_names};
pub use profile::{FileProfile, Profiler};
pub use rate::{Baseline, ChangeCounts, ShareStats, judge_rate};
pub use sketch::similarity;
pub use verdict::{Judgement, Verdict, file_score, judge_snapshot, thresholds};

use serde::{Deserialize, Serialize};

/// Errors of this crate (only canary planting touches the file system).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Writing a file failed.
    #[error("cannot write {path}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Which engine produced a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Engine {
    /// Entropy, chi-square and character distribution against the previous version.
    Content,
    /// Magic bytes and structure per type.
    Format,
    /// Chunk overlap with the previous version.
    Similarity,
    /// Renames, extensions, ransom notes, replaced originals.
    Names,
    /// Share of files changed against the learned baseline.
    Rate,
    /// A decoy file was touched.
    Canary,
}

/// One piece of evidence.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    /// The file (`""` for snapshot-wide findings of the rate engine).
    pub path: String,
    /// The engine.
    pub engine: Engine,
    /// Strength, 0..=1.
    pub score: f64,
    /// Why, for people.
    pub reason: String,
}

/// What changed between the parent snapshot and this one, by path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeChanges {
    /// New paths with their sizes.
    pub added: Vec<(String, u64)>,
    /// Paths gone, with their sizes in the parent.
    pub deleted: Vec<(String, u64)>,
    /// Same path, changed content.
    pub modified: Vec<String>,
    /// Number of files unchanged.
    pub unchanged: u64,
}
