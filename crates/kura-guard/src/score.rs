//! Per-writer windows: what one writer did lately, judged with kura-detect's engines as if it
//! were one snapshot (its changes are a `TreeChanges` plus per-file findings).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kura_detect::{Baseline, Engine, Finding, Judgement, TreeChanges, judge_snapshot};

use crate::writer::Writer;

/// Every threshold of the live guard, in one place. The verdict rules themselves are
/// kura-detect's ([`kura_detect::thresholds`]: flagged / strong / confirmed files), applied to
/// one writer's window; the numbers here only say what a window is and how the guard reacts.
pub mod thresholds {
    /// Seconds of a writer's activity judged together. Long enough for a slow encryptor (one
    /// file every few seconds still puts several files in one window), short enough that a
    /// day of clinic work is never one window.
    pub const WINDOW_SECS: u64 = 120;
    /// Seconds a writer's changes are kept for the damage list of an incident.
    pub const HISTORY_SECS: u64 = 3600;
    /// Files up to this size are profiled whole (before and after a write).
    pub const PROFILE_WHOLE: u64 = 8 << 20;
    /// Larger files: this head and [`PROFILE_TAIL`] are profiled, the same way before and after,
    /// so the two profiles stay comparable (and the magic bytes and trailer are both seen).
    pub const PROFILE_HEAD: u64 = 1 << 20;
    /// See [`PROFILE_HEAD`].
    pub const PROFILE_TAIL: u64 = 64 << 10;
    /// A writer with a per-file finding at least this strong (kura-detect's FLAG) becomes a
    /// *suspect*: its before-images are taken on open, and its opens wait until the guard has
    /// read the events already queued (at most [`SUSPECT_WAIT_MS`]), so a fast encryptor
    /// cannot race far ahead of its judgement.
    pub const SUSPECT_FINDING: f64 = kura_detect::thresholds::FLAG;
    /// A writer's window is judged at most this often while its events stream in (and at the
    /// end of each batch read from the kernel), in milliseconds.
    pub const JUDGE_EVERY_MS: u64 = 2;
    /// A writer's next judgement waits at least this many times as long as its last one took,
    /// so judging one writer's window (which grows with bulk work: an untar of 20,000 files is
    /// a window of 20,000 paths) takes at most about a fifth of one CPU, whatever its size. A
    /// small window (an attack on a share: a few hundred paths) is judged in well under a
    /// millisecond, so [`JUDGE_EVERY_MS`] is what counts there; strong per-file evidence is
    /// judged at once anyway.
    pub const JUDGE_COST_FACTOR: u32 = 4;
    /// While no writer is a suspect or opened a canary, the notification loop naps this many
    /// microseconds after each batch, so bulk work's events are read in batches instead of one
    /// wake-up each (a wake-up costs the writer an interrupt to the guard's CPU). Any suspect,
    /// canary opener or waiting open ends the naps.
    pub const NOTIFY_BATCH_US: u64 = 500;
    /// The guard's nice value when it was started at the default 0 (the systemd unit's
    /// `Nice=`): ahead of every normal process, not real-time.
    pub const GUARD_NICE: i32 = -10;
    /// Longest wait of a suspect's open, in milliseconds (everyone else: answered at once).
    pub const SUSPECT_WAIT_MS: u64 = 50;
    /// A writer that opened a planted canary: each of its opens in the next [`CANARY_HOLD_MS`]
    /// waits (at most [`CANARY_WAIT_MS`], until the queued events are judged), so a trip on the
    /// canary lands before the next file even when the guard runs behind on a loaded machine.
    pub const CANARY_HOLD_MS: u64 = 1500;
    /// See [`CANARY_HOLD_MS`].
    pub const CANARY_WAIT_MS: u64 = 1000;
    /// A process's first opens (in each [`WINDOW_SECS`]) that get a before-image before the
    /// guard has seen it write anything: the files an encryptor reads first are compared with
    /// what they were even when the guard runs this many files behind. After it has written,
    /// every open of the writer gets one.
    pub const PROBATION_OPENS: u32 = 128;
    /// Files that may carry an open-permission mark of their own (each pins its inode in
    /// memory, about 1 KiB): a larger tree has every open in its folders checked instead, the
    /// way a non-empty blocklist does. Also at most half of `fs.fanotify.max_user_marks`.
    pub const FILE_MARKS_MAX: u64 = 500_000;
    /// Before-images and sizes remembered, at most (oldest dropped first).
    pub const MAX_REMEMBERED: usize = 200_000;
    /// Canaries are planted in the watched roots and in folders this deep below them.
    pub const CANARY_DEPTH: usize = 1;
    /// Candidate canary seeds (three names each) tried for the first place in raw readdir
    /// order: ext4 lists in hash order, and the best of 3 × 1024 names comes before each other
    /// name with probability 1 − 1/3072 (first in a folder of 300 files about 9 times in 10).
    pub const CANARY_CANDIDATES: u64 = 1024;
}

use thresholds::*;

/// One writer's recent activity.
pub(crate) struct Window {
    pub writer: Writer,
    pub pids: BTreeSet<i32>,
    modified: BTreeMap<String, Instant>,
    added: BTreeMap<String, (u64, Instant)>,
    deleted: BTreeMap<String, (u64, Instant)>,
    findings: BTreeMap<String, (Vec<Finding>, Instant)>,
    canaries: BTreeSet<String>,
    pub last: Instant,
    pub last_judged: Instant,
    /// How long the last judgement took.
    pub judge_cost: Duration,
    pub tripped: bool,
    pub suspect: bool,
    /// An `smbd` child: the writer is its SMB client.
    pub smb: bool,
    /// The incident of a tripped writer.
    pub incident: Option<u64>,
    /// Changes recorded since the trip, not yet in the incident.
    pub changed_after_trip: bool,
}

impl Window {
    pub(crate) fn new(writer: Writer, now: Instant) -> Self {
        let mut pids = BTreeSet::new();
        pids.insert(writer.pid);
        Window {
            writer,
            pids,
            modified: BTreeMap::new(),
            added: BTreeMap::new(),
            deleted: BTreeMap::new(),
            findings: BTreeMap::new(),
            canaries: BTreeSet::new(),
            last: now,
            last_judged: now - Duration::from_secs(1),
            judge_cost: Duration::ZERO,
            tripped: false,
            suspect: false,
            smb: false,
            incident: None,
            changed_after_trip: false,
        }
    }

    /// A file's content changed (closed after writing) with these findings.
    pub(crate) fn wrote(&mut self, path: &str, size: u64, findings: Vec<Finding>, now: Instant) {
        if let Some(e) = self.added.get_mut(path) {
            *e = (size, now);
        } else {
            self.modified.insert(path.to_string(), now);
        }
        if findings.iter().any(|f| f.score >= SUSPECT_FINDING) {
            self.suspect = true;
        }
        self.findings.insert(path.to_string(), (findings, now));
        self.last = now;
    }

    /// A new directory entry (a create, or the new name of a rename).
    pub(crate) fn created(&mut self, path: &str, size: u64, now: Instant) {
        if self.deleted.remove(path).is_some() {
            // Deleted and created again: the original was replaced.
            self.modified.insert(path.to_string(), now);
        } else if !self.modified.contains_key(path) {
            self.added.insert(path.to_string(), (size, now));
        }
        self.last = now;
    }

    /// An entry removed (a delete, or the old name of a rename).
    pub(crate) fn removed(&mut self, path: &str, size: u64, now: Instant) {
        // Findings of a removed file no longer describe anything on disk ([`Window::renamed`]
        // moves them to the new name first).
        self.findings.remove(path);
        if self.added.remove(path).is_none() {
            self.modified.remove(path);
            self.deleted.insert(path.to_string(), (size, now));
        }
        self.last = now;
    }

    /// A rename: the old name goes, the new one comes, and findings about the content follow.
    pub(crate) fn renamed(&mut self, old: &str, new: &str, size: u64, now: Instant) {
        let findings = self.findings.remove(old);
        self.removed(old, size, now);
        self.created(new, size, now);
        if let Some((mut f, t)) = findings {
            for x in &mut f {
                x.path = new.to_string();
            }
            self.findings.insert(new.to_string(), (f, t));
        }
    }

    /// Whether `path` is a file the writer created in the window.
    pub(crate) fn has_added(&self, path: &str) -> bool {
        self.added.contains_key(path)
    }

    /// Paths in the window (its judging cost).
    pub(crate) fn len(&self) -> usize {
        self.modified.len() + self.added.len() + self.deleted.len()
    }

    /// Whether the window is due for judging: at most every [`JUDGE_EVERY_MS`] plus one
    /// millisecond per thousand paths, and never sooner than [`JUDGE_COST_FACTOR`] times the
    /// last judgement's duration after it.
    pub(crate) fn judge_due(&self, now: Instant) -> bool {
        let every = Duration::from_millis(JUDGE_EVERY_MS + self.len() as u64 / 1000)
            .max(self.judge_cost * JUDGE_COST_FACTOR);
        now.duration_since(self.last_judged) >= every
    }

    pub(crate) fn canary(&mut self, path: &str, now: Instant) {
        self.canaries.insert(path.to_string());
        self.last = now;
    }

    pub(crate) fn touched_canary(&self) -> bool {
        !self.canaries.is_empty()
    }

    /// Forgets what is older than the history.
    pub(crate) fn prune(&mut self, now: Instant) {
        let keep = |t: &Instant| now.duration_since(*t) < Duration::from_secs(HISTORY_SECS);
        self.modified.retain(|_, t| keep(t));
        self.added.retain(|_, (_, t)| keep(t));
        self.deleted.retain(|_, (_, t)| keep(t));
        self.findings.retain(|_, (_, t)| keep(t));
    }

    /// kura-detect's judgement of the window: the writer's changes of the last
    /// [`WINDOW_SECS`] as one `TreeChanges` among `files` files, with the per-file findings.
    pub(crate) fn judge(&self, files: u64, now: Instant) -> Judgement {
        let recent = |t: &Instant| now.duration_since(*t) < Duration::from_secs(WINDOW_SECS);
        let modified: Vec<String> = self
            .modified
            .iter()
            .filter(|(_, t)| recent(t))
            .map(|(p, _)| p.clone())
            .collect();
        let changes = TreeChanges {
            added: self
                .added
                .iter()
                .filter(|(_, (_, t))| recent(t))
                .map(|(p, (s, _))| (p.clone(), *s))
                .collect(),
            deleted: self
                .deleted
                .iter()
                .filter(|(_, (_, t))| recent(t))
                .map(|(p, (s, _))| (p.clone(), *s))
                .collect(),
            unchanged: files.saturating_sub(modified.len() as u64),
            modified,
        };
        let mut findings: Vec<Finding> = self
            .findings
            .values()
            .filter(|(_, t)| recent(t))
            .flat_map(|(f, _)| f.iter().cloned())
            .collect();
        findings.extend(self.canaries.iter().map(|p| Finding {
            path: p.clone(),
            engine: Engine::Canary,
            score: 1.0,
            reason: "canary file touched".into(),
        }));
        judge_snapshot(findings, &changes, &Baseline::default())
    }

    /// The damage: originals changed or removed (to restore), and files created (to remove).
    pub(crate) fn damage(&self) -> (Vec<String>, Vec<String>) {
        let mut damaged: BTreeSet<String> = self.modified.keys().cloned().collect();
        damaged.extend(self.deleted.keys().cloned());
        damaged.extend(self.canaries.iter().cloned());
        let created = self.added.keys().cloned().collect();
        (damaged.into_iter().collect(), created)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kura_detect::{FileProfile, Verdict, judge_file};

    fn writer() -> Writer {
        Writer {
            pgid: 10,
            sid: 10,
            pid: 10,
            exe: None,
            comm: "x".into(),
            uid: 0,
            ..Writer::default()
        }
    }

    fn text(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| b"ward notes, patient ok\n"[i % 23])
            .collect()
    }

    fn noise(n: usize) -> Vec<u8> {
        kura_testkit::noise::incompressible(0x1234_5678_9abc_def1, n)
    }

    #[test]
    fn two_encrypted_files_trip_and_a_temp_file_leaves_no_trace() {
        let now = Instant::now();
        let mut w = Window::new(writer(), now);
        w.created("/s/tmp~", 5, now);
        w.removed("/s/tmp~", 5, now);
        assert_eq!(w.damage(), (vec![], vec![]));
        assert_eq!(w.judge(300, now).verdict, Verdict::Clean);
        for p in ["/s/a.csv", "/s/b.csv"] {
            let f = judge_file(
                p,
                Some(&FileProfile::of(&text(8000))),
                &FileProfile::of(&noise(8000)),
            );
            w.wrote(p, 8000, f, now);
        }
        assert!(w.suspect);
        assert_eq!(w.judge(300, now).verdict, Verdict::Suspicious);
        w.renamed("/s/a.csv", "/s/a.csv.lck", 8000, now);
        let (damaged, created) = w.damage();
        assert_eq!(damaged, vec!["/s/a.csv".to_string(), "/s/b.csv".into()]);
        assert_eq!(created, vec!["/s/a.csv.lck".to_string()]);
    }

    #[test]
    fn ordinary_edits_stay_clean() {
        let now = Instant::now();
        let mut w = Window::new(writer(), now);
        for i in 0..50 {
            let p = format!("/s/n{i}.txt");
            let mut after = text(4000);
            after.extend_from_slice(b"one more line\n");
            let f = judge_file(
                &p,
                Some(&FileProfile::of(&text(4000))),
                &FileProfile::of(&after),
            );
            w.wrote(&p, 4014, f, now);
        }
        assert_eq!(w.judge(300, now).verdict, Verdict::Clean);
        assert!(!w.suspect);
    }
}
