//! The rate engine: how much of the tree changed, against what past snapshots taught us.

use serde::{Deserialize, Serialize};

use crate::{Engine, Finding, TreeChanges};

/// Change counts of one snapshot against its parent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeCounts {
    /// Files in the new snapshot (added + modified + unchanged).
    pub files: u64,
    /// New paths.
    pub added: u64,
    /// Paths gone.
    pub deleted: u64,
    /// Same path, different content.
    pub modified: u64,
}

impl From<&TreeChanges> for ChangeCounts {
    fn from(c: &TreeChanges) -> Self {
        let added = c.added.len() as u64;
        let modified = c.modified.len() as u64;
        ChangeCounts {
            files: added + modified + c.unchanged,
            added,
            deleted: c.deleted.len() as u64,
            modified,
        }
    }
}

/// Running mean and variance (Welford) of a share.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShareStats {
    /// Snapshots seen.
    pub n: u64,
    /// Mean share.
    pub mean: f64,
    /// Sum of squared deviations.
    pub m2: f64,
    /// Largest share seen.
    pub max: f64,
}

impl ShareStats {
    fn push(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
        self.max = self.max.max(x);
    }

    fn sd(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            (self.m2 / (self.n - 1) as f64).sqrt()
        }
    }

    /// Share above which a snapshot is unusual: `floor` until 3 snapshots are known, then
    /// max(floor_learned, mean + 4 sd, 2 × largest seen).
    fn limit(&self, floor: f64, floor_learned: f64) -> f64 {
        if self.n < 3 {
            floor
        } else {
            floor_learned
                .max(self.mean + 4.0 * self.sd())
                .max(2.0 * self.max)
        }
    }
}

/// What normal change looks like for this source, learned from earlier snapshots' counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Share of files modified in place.
    pub modified: ShareStats,
    /// Share of files deleted.
    pub deleted: ShareStats,
    /// Backup intervals the judged change spans (0 and 1 both mean one). A snapshot judged
    /// against an older clean generation carries the normal work of every interval in between,
    /// so the limits grow with it.
    #[serde(default)]
    pub intervals: u32,
}

impl Baseline {
    /// Learns from one snapshot judged clean (do not learn from suspicious ones).
    pub fn learn(&mut self, counts: &ChangeCounts) {
        let files = counts.files.max(1) as f64;
        self.modified.push(counts.modified as f64 / files);
        self.deleted
            .push(counts.deleted as f64 / (files + counts.deleted as f64));
    }

    /// The same baseline for a change that spans `intervals` backup intervals (see
    /// [`Baseline::intervals`]).
    pub fn spanning(mut self, intervals: u32) -> Self {
        self.intervals = intervals;
        self
    }

    /// Limit of one share over the intervals judged (normal work adds up, at most to all files).
    fn scaled(&self, per_interval: f64) -> f64 {
        (per_interval * f64::from(self.intervals.max(1))).min(1.0)
    }
}

// Before any history: 10% of files modified, or 30% deleted, is unusual for one backup interval.
const MODIFIED_FLOOR: f64 = 0.10;
const DELETED_FLOOR: f64 = 0.30;
// With history: never below 2% / 5%, however quiet the source has been.
const MODIFIED_FLOOR_LEARNED: f64 = 0.02;
const DELETED_FLOOR_LEARNED: f64 = 0.05;
// Shares of a handful of files are noise.
const MIN_FILES: u64 = 20;

/// The rate engine. Findings have path `""` (they are about the snapshot). Bulk work is bursty in
/// hospitals (PACS ingest, archiving), so scores stay ≤ 0.7: rate corroborates, never decides.
pub fn judge_rate(counts: &ChangeCounts, baseline: &Baseline) -> Vec<Finding> {
    let mut out = Vec::new();
    let files = counts.files.max(1) as f64;
    let m = counts.modified as f64 / files;
    let lim = baseline.scaled(
        baseline
            .modified
            .limit(MODIFIED_FLOOR, MODIFIED_FLOOR_LEARNED),
    );
    if counts.modified >= MIN_FILES && m > lim {
        out.push(Finding {
            path: String::new(),
            engine: Engine::Rate,
            score: (0.5 + (m - lim)).min(0.7),
            reason: format!(
                "{:.1}% of files modified (usual limit {:.1}%)",
                m * 100.0,
                lim * 100.0
            ),
        });
    }
    let d = counts.deleted as f64 / (files + counts.deleted as f64);
    let lim = baseline.scaled(baseline.deleted.limit(DELETED_FLOOR, DELETED_FLOOR_LEARNED));
    if counts.deleted >= MIN_FILES && d > lim {
        out.push(Finding {
            path: String::new(),
            engine: Engine::Rate,
            score: 0.4,
            reason: format!(
                "{:.1}% of files deleted (usual limit {:.1}%)",
                d * 100.0,
                lim * 100.0
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(files: u64, modified: u64) -> ChangeCounts {
        ChangeCounts {
            files,
            added: 0,
            deleted: 0,
            modified,
        }
    }

    #[test]
    fn learned_quiet_source_flags_a_modification_burst() {
        let mut b = Baseline::default();
        for m in [3, 5, 4, 6] {
            b.learn(&counts(10_000, m));
        }
        assert!(judge_rate(&counts(10_000, 5), &b).is_empty());
        let f = judge_rate(&counts(10_000, 400), &b);
        assert_eq!(f.len(), 1);
        assert!(f[0].score <= 0.7);
    }

    #[test]
    fn work_of_several_intervals_is_judged_against_as_many_limits() {
        let mut b = Baseline::default();
        for m in [300, 500, 400, 600] {
            b.learn(&counts(10_000, m));
        }
        // Four days of ordinary work seen at once, against a four-day-old clean generation.
        let piled_up = counts(10_000, 1_800);
        assert_eq!(judge_rate(&piled_up, &b).len(), 1, "one interval: unusual");
        assert!(judge_rate(&piled_up, &b.clone().spanning(4)).is_empty());
        // A burst far beyond four days of work still counts.
        assert_eq!(judge_rate(&counts(10_000, 9_000), &b.spanning(4)).len(), 1);
    }

    #[test]
    fn without_history_only_large_bursts_count() {
        let b = Baseline::default();
        assert!(judge_rate(&counts(10_000, 400), &b).is_empty());
        assert_eq!(judge_rate(&counts(10_000, 2_000), &b).len(), 1);
    }
}
