//! The evidence pipeline: what changed since a trusted earlier version of a tree, each changed
//! file's earlier and current profile, and the verdict with the document stored beside it.
//!
//! Backups, scans and the live guard differ only in where the versions come from, so that is the
//! one seam, [`VersionSource`]:
//! - a backup compares the new snapshot with the newest clean one (both read from the
//!   repository), and profiles the files it reads itself on the way ([`Profiles`]);
//! - a scan compares the live files with a snapshot;
//! - the live guard compares a file with the before-image it took when a writer opened it.
//!
//! ```
//! use kura_detect::{Baseline, Evidence, FileProfile, Verdict, VersionSource};
//!
//! /// The earlier version of every file, here from memory.
//! struct Before;
//! impl VersionSource for Before {
//!     fn profile(&mut self, _path: &str) -> Result<FileProfile, String> {
//!         Ok(FileProfile::of(b"Ward 3: patient stable, allergy to penicillin noted.\n"))
//!     }
//! }
//! let mut ev = Evidence::default();
//! ev.modified_from("notes/a.txt".into(), &mut Before);
//! ev.unchanged(99);
//! let now = FileProfile::of(b"Ward 3: patient stable, allergy to penicillin noted.\nDay 2.\n");
//! let live = [("notes/a.txt".to_string(), now)].into_iter().collect();
//! ev.judge_pending(&live, &mut Before);
//! let assessed = ev.judge(&Baseline::default(), None);
//! assert_eq!(assessed.judgement.verdict, Verdict::Clean);
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::names::name_matters_alone;
use crate::verdict::judge_counted;
use crate::{
    Baseline, ChangeCounts, FileProfile, Finding, Judgement, Profiler, TreeChanges, Verdict,
    file_score, judge_file, thresholds,
};

/// Findings kept in the stored [`VerdictDocument`] (all are counted).
pub const STORED_FINDINGS: usize = 100;

/// One version of a tree that files can be read from: a snapshot, the live tree, or the guard's
/// before-images. The pipeline asks for the versions it needs and nothing more.
pub trait VersionSource {
    /// The profile of `path` in this version, or why it cannot be read (the file is then judged
    /// without it).
    fn profile(&mut self, path: &str) -> Result<FileProfile, String>;
}

/// Profiles made while the files were read (a backup's read loop, the guard's close-after-write),
/// shared between the reading threads.
///
/// When nothing earlier vouches for any file (the first backup of a source), every file is judged
/// on its own the moment its profile is done, and only what the names engine needs of the rest
/// is kept: memory stays flat however many files there are. Otherwise profiles are kept to be
/// matched with their earlier versions.
#[derive(Debug, Default)]
pub struct Profiles {
    alone: bool,
    inner: Mutex<ProfilesInner>,
}

#[derive(Debug, Default)]
struct ProfilesInner {
    kept: HashMap<String, FileProfile>,
    /// Judged alone: findings, the names that matter to the names engine, and how many files.
    findings: Vec<Finding>,
    names: Vec<(String, u64)>,
    files: u64,
}

/// What a [`Profiles`] holds once reading is over.
#[derive(Debug, Default)]
pub struct Profiled {
    /// Profiles to be matched with earlier versions, by tree path.
    pub kept: HashMap<String, FileProfile>,
    /// Files judged alone as they were read.
    pub alone: JudgedAlone,
}

/// Files that were judged on their own as they were read.
#[derive(Debug, Default)]
pub struct JudgedAlone {
    /// Per-file findings.
    pub findings: Vec<Finding>,
    /// Paths (with sizes) whose names the names engine looks at without an earlier tree: ransom
    /// notes and unknown extensions.
    pub names: Vec<(String, u64)>,
    /// Files judged.
    pub files: u64,
}

impl Profiles {
    /// Keeps every profile, to be matched with earlier versions.
    pub fn keep() -> Self {
        Profiles::default()
    }

    /// Judges every file alone as soon as its profile is done (nothing earlier to compare with).
    pub fn judge_alone() -> Self {
        Profiles {
            alone: true,
            ..Profiles::default()
        }
    }

    /// A profiler for the file at `path`, made for how this store judges it: files judged
    /// alone have no earlier version, so their profiles skip the similarity sketch (which only
    /// compares with an earlier version) and every verdict stays the same.
    pub fn profiler(&self, path: &str) -> Profiler {
        if self.alone {
            Profiler::without_sketch()
        } else {
            Profiler::new(path)
        }
    }

    /// Records the finished profile of `path`.
    pub fn add(&self, path: String, profile: FileProfile) {
        let judged = self.alone.then(|| judge_file(&path, None, &profile));
        let Ok(mut m) = self.inner.lock() else {
            return;
        };
        match judged {
            Some(findings) => {
                m.files += 1;
                m.findings.extend(findings);
                if name_matters_alone(&path) {
                    m.names.push((path, profile.size));
                }
            }
            None => {
                m.kept.insert(path, profile);
            }
        }
    }

    /// Everything recorded so far (the store is empty afterwards).
    pub fn take(&self) -> Profiled {
        let Ok(mut m) = self.inner.lock() else {
            return Profiled::default();
        };
        let m = std::mem::take(&mut *m);
        Profiled {
            kept: m.kept,
            alone: JudgedAlone {
                findings: m.findings,
                names: m.names,
                files: m.files,
            },
        }
    }
}

/// Evidence about one new version of a tree, gathered change by change, then judged once.
#[derive(Debug, Default)]
pub struct Evidence {
    changes: TreeChanges,
    /// Added files not in `changes.added` (judged alone, names irrelevant).
    added_quietly: u64,
    /// Changed files waiting for their current version, with their earlier one.
    pending: Vec<(String, Option<FileProfile>)>,
    findings: Vec<Finding>,
    read_back: HashSet<String>,
    unreadable: Vec<(String, String)>,
}

/// The outcome of [`Evidence::judge`].
#[derive(Debug, Clone)]
pub struct Assessed {
    /// The verdict with its findings.
    pub judgement: Judgement,
    /// Change counts against the trusted version.
    pub counts: ChangeCounts,
    /// Flagged files whose current version was read back rather than profiled by the reader:
    /// in a backup, files unchanged since the parent, so what an earlier (suspicious) snapshot
    /// found is still there.
    pub remaining: u64,
    /// Files whose current version could not be read (path, why): judged without content.
    pub unreadable: Vec<(String, String)>,
}

impl Evidence {
    /// A file new since the trusted version; judged when its current version is known.
    pub fn added(&mut self, path: String, size: u64) {
        self.changes.added.push((path.clone(), size));
        self.pending.push((path, None));
    }

    /// A file whose content changed since the trusted version, with that version's profile
    /// (`None` when it was not a file or cannot be read).
    pub fn modified(&mut self, path: String, previous: Option<FileProfile>) {
        self.changes.modified.push(path.clone());
        self.pending.push((path, previous));
    }

    /// A file whose content changed, its earlier version read from `previous`.
    pub fn modified_from(&mut self, path: String, previous: &mut dyn VersionSource) {
        let before = previous.profile(&path).ok();
        self.modified(path, before);
    }

    /// A file gone since the trusted version, with its size there.
    pub fn deleted(&mut self, path: String, size: u64) {
        self.changes.deleted.push((path, size));
    }

    /// `n` more files unchanged since the trusted version.
    pub fn unchanged(&mut self, n: u64) {
        self.changes.unchanged += n;
    }

    /// Files that were judged alone as they were read (all of them new).
    pub fn judged_alone(&mut self, alone: JudgedAlone) {
        self.added_quietly += alone.files - alone.names.len() as u64;
        self.changes.added.extend(alone.names);
        self.findings.extend(alone.findings);
    }

    /// Judges the changed files against their earlier versions. The current version is the
    /// profile made while reading (`profiled`) or else is read from `current`.
    pub fn judge_pending(
        &mut self,
        profiled: &HashMap<String, FileProfile>,
        current: &mut dyn VersionSource,
    ) {
        for (path, before) in std::mem::take(&mut self.pending) {
            let stored;
            let now = match profiled.get(&path) {
                Some(p) => p,
                None => match current.profile(&path) {
                    Ok(p) => {
                        stored = p;
                        self.read_back.insert(path.clone());
                        &stored
                    }
                    Err(why) => {
                        self.unreadable.push((path, why));
                        continue;
                    }
                },
            };
            self.findings
                .extend(judge_file(&path, before.as_ref(), now));
        }
    }

    /// The verdict over everything gathered. `parent_not_clean`: the short id of the new
    /// version's parent when that one was not clean, so the reasons can say what still remains
    /// of it.
    pub fn judge(mut self, baseline: &Baseline, parent_not_clean: Option<&str>) -> Assessed {
        // Files never given a current version are judged on their names and counts only.
        self.pending.clear();
        let mut counts = ChangeCounts::from(&self.changes);
        counts.added += self.added_quietly;
        counts.files += self.added_quietly;
        let mut judgement = judge_counted(self.findings, &self.changes, counts, baseline);
        let remaining = judgement
            .flagged_paths()
            .filter(|p| self.read_back.contains(*p))
            .count() as u64;
        if let Some(parent) = parent_not_clean
            && judgement.verdict == Verdict::Suspicious
            && remaining > 0
        {
            judgement.reasons.insert(
                0,
                format!("still suspicious: {remaining} flagged files remain as in {parent}"),
            );
        }
        Assessed {
            judgement,
            counts,
            remaining,
            unreadable: self.unreadable,
        }
    }
}

impl Judgement {
    /// Paths whose combined findings flag them (as the verdict counts them).
    pub fn flagged_paths(&self) -> impl Iterator<Item = &str> {
        let mut per_path: HashMap<&str, Vec<Finding>> = HashMap::new();
        for f in self.findings.iter().filter(|f| !f.path.is_empty()) {
            per_path.entry(&f.path).or_default().push(f.clone());
        }
        per_path
            .into_iter()
            .filter(|(_, f)| file_score(f) >= thresholds::FLAG)
            .map(|(p, _)| p)
    }
}

/// The verdict document stored with a snapshot (in restic's snapshot description, beside other
/// keys of kura's): what a later backup learns its baseline from and what people read.
/// Every field but the verdict has a default, so documents of older kura versions still read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerdictDocument {
    /// Id of the clean snapshot this one was judged against (`None`: judged on its own).
    #[serde(default)]
    pub baseline: Option<String>,
    /// Backup intervals between the baseline and this snapshot (1: the parent was the baseline).
    #[serde(default = "one")]
    pub intervals: u32,
    /// Flagged files that remain as they were in a suspicious parent.
    #[serde(default)]
    pub remaining: u64,
    /// The verdict.
    pub verdict: Verdict,
    /// 0..=1, see [`Judgement::score`].
    #[serde(default)]
    pub score: f64,
    /// The rules that fired.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Files flagged.
    #[serde(default)]
    pub flagged_files: u64,
    /// Files with strong evidence.
    #[serde(default)]
    pub strong_files: u64,
    /// All findings, counted.
    #[serde(default)]
    pub findings_total: u64,
    /// The strongest [`STORED_FINDINGS`] findings.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Change counts against the baseline.
    #[serde(default)]
    pub counts: Option<ChangeCounts>,
}

fn one() -> u32 {
    1
}

impl VerdictDocument {
    /// The document of `assessed`, judged against `baseline` over `intervals` backups.
    pub fn new(assessed: &Assessed, baseline: Option<String>, intervals: u32) -> Self {
        let j = &assessed.judgement;
        VerdictDocument {
            baseline,
            intervals,
            remaining: assessed.remaining,
            verdict: j.verdict,
            score: j.score,
            reasons: j.reasons.clone(),
            flagged_files: j.flagged_files,
            strong_files: j.strong_files,
            findings_total: j.findings.len() as u64,
            findings: j.findings.iter().take(STORED_FINDINGS).cloned().collect(),
            counts: Some(assessed.counts),
        }
    }
}

impl Baseline {
    /// Learns from the documents of earlier snapshots: only clean ones judged over one backup
    /// interval (suspicious ones, and ones judged against an older generation, would teach the
    /// wrong limits).
    pub fn learned_from<'a>(docs: impl IntoIterator<Item = &'a VerdictDocument>) -> Baseline {
        let mut b = Baseline::default();
        for d in docs {
            if d.verdict == Verdict::Clean
                && d.intervals <= 1
                && let Some(c) = &d.counts
            {
                b.learn(c);
            }
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Engine;
    use kura_testkit::noise::incompressible;

    struct Map(HashMap<String, FileProfile>);
    impl VersionSource for Map {
        fn profile(&mut self, path: &str) -> Result<FileProfile, String> {
            self.0.get(path).cloned().ok_or_else(|| "gone".into())
        }
    }

    fn text(i: usize) -> Vec<u8> {
        format!("Ward {i}: patient stable, allergy to penicillin noted. Vitals normal.\n")
            .repeat(40)
            .into_bytes()
    }

    #[test]
    fn judging_alone_as_read_matches_judging_at_the_end() {
        // The same first backup, streamed and kept: same verdict, counts and findings.
        let files: Vec<(String, Vec<u8>)> = (0..60)
            .map(|i| {
                let bytes = if i % 7 == 0 {
                    incompressible(i as u64, 4096)
                } else {
                    text(i)
                };
                let name = if i % 11 == 0 {
                    format!("d{}/f{i}.qz7k", i % 3)
                } else {
                    format!("d{}/f{i}.txt", i % 3)
                };
                (name, bytes)
            })
            .chain((0..3).map(|d| (format!("d{d}/HOW_TO_DECRYPT.txt"), b"pay".to_vec())))
            .collect();
        let streamed = Profiles::judge_alone();
        let kept = Profiles::keep();
        for (p, b) in &files {
            // Each store's own profiler, as the backup's reader uses it (judged alone: no sketch).
            for store in [&streamed, &kept] {
                let mut profiler = store.profiler(p);
                profiler.update(b);
                store.add(p.clone(), profiler.finish());
            }
        }
        let mut a = Evidence::default();
        a.judged_alone(streamed.take().alone);
        let a = a.judge(&Baseline::default(), None);

        let kept = kept.take().kept;
        let mut b = Evidence::default();
        for (p, bytes) in &files {
            b.added(p.clone(), bytes.len() as u64);
        }
        b.judge_pending(&kept, &mut Map(HashMap::new()));
        let b = b.judge(&Baseline::default(), None);

        assert_eq!(a.counts, b.counts);
        assert_eq!(a.judgement, b.judgement);
        assert_eq!(a.judgement.verdict, Verdict::Suspicious);
        assert!(
            a.judgement
                .findings
                .iter()
                .any(|f| f.engine == Engine::Names)
        );
    }

    #[test]
    fn read_back_files_count_as_remaining_and_are_named_in_the_reasons() {
        let before: HashMap<String, FileProfile> = (0..30)
            .map(|i| (format!("f{i}.txt"), FileProfile::of(&text(i))))
            .collect();
        let after: HashMap<String, FileProfile> = (0..30)
            .map(|i| {
                (
                    format!("f{i}.txt"),
                    FileProfile::of(&incompressible(i as u64 + 9, 3000)),
                )
            })
            .collect();
        let mut ev = Evidence::default();
        for i in 0..30 {
            ev.modified_from(format!("f{i}.txt"), &mut Map(before.clone()));
        }
        // Nothing profiled while reading: everything is read back from the new version.
        ev.judge_pending(&HashMap::new(), &mut Map(after));
        let a = ev.judge(&Baseline::default(), Some("4db3a637"));
        assert_eq!(a.judgement.verdict, Verdict::Suspicious);
        assert_eq!(a.remaining, 30);
        assert!(
            a.judgement.reasons[0].contains("30 flagged files remain as in 4db3a637"),
            "{:?}",
            a.judgement.reasons
        );
    }

    #[test]
    fn unreadable_current_versions_are_reported_not_judged() {
        let mut ev = Evidence::default();
        ev.added("gone.txt".into(), 10);
        ev.judge_pending(&HashMap::new(), &mut Map(HashMap::new()));
        let a = ev.judge(&Baseline::default(), None);
        assert_eq!(a.unreadable, vec![("gone.txt".into(), "gone".into())]);
        assert_eq!(a.counts.added, 1);
    }

    #[test]
    fn documents_round_trip_and_old_ones_still_read() {
        let mut ev = Evidence::default();
        ev.unchanged(10);
        let doc = VerdictDocument::new(&ev.judge(&Baseline::default(), None), None, 1);
        let back: VerdictDocument =
            serde_json::from_value(serde_json::to_value(&doc).expect("serialises"))
                .expect("reads back");
        assert_eq!(back, doc);
        // A document of an earlier kura, with other keys of kura's beside it.
        let old: VerdictDocument = serde_json::from_str(
            r#"{"verdict":"clean","counts":{"files":5,"added":0,"deleted":0,"modified":1},"audit_checkpoint":"x"}"#,
        )
        .expect("reads");
        assert_eq!(old.intervals, 1);
        let b = Baseline::learned_from([&old, &doc]);
        assert_eq!(b.modified.n, 2);
        let stale = VerdictDocument {
            intervals: 3,
            ..old.clone()
        };
        let suspicious = VerdictDocument {
            verdict: Verdict::Suspicious,
            ..old
        };
        assert_eq!(Baseline::learned_from([&stale, &suspicious]).modified.n, 0);
    }
}
