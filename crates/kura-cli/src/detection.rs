//! Wiring of kura-detect's evidence pipeline into backups, scans and diffs: snapshots as
//! [`VersionSource`]s, the engine's read tee feeding [`Profiles`], the choice of the clean
//! generation a backup is judged against, and the verdict recorded on the snapshot. The judging
//! itself is kura-detect's ([`Evidence`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use kura_detect::{
    Assessed, Baseline, Evidence, FileProfile, Judgement, Profiled, Profiler, Profiles,
    VerdictDocument, VersionSource,
};
use kura_engine::{
    ChangeKind, EntryKind, FileObserver, FileSink, Repo, SnapshotInfo, SnapshotReader, TreeEntry,
    Verdict,
};
use rayon::prelude::*;

/// How much of a stored version is read to profile it (the sketch looks at the first MiB;
/// entropy over 64 MiB is representative).
const STORED_READ_LIMIT: u64 = 64 << 20;

/// Earlier versions up to this size are read back in parallel after a backup; larger ones one at
/// a time, each with its blobs decrypted on every core.
const PARALLEL_READ_MAX: u64 = 8 << 20;

/// Tree path of a source path (`/srv/a` → `srv/a`), as rustic stores it.
pub fn tree_path(p: &Path) -> String {
    p.to_string_lossy().trim_start_matches('/').to_string()
}

/// A snapshot as one version of the tree for kura-detect: the version a live or newer file is
/// compared with, or the new snapshot's own files read back. Used by backup, scan and diff alike.
pub struct Stored<'s, 'r>(pub &'s SnapshotReader<'r>);

impl VersionSource for Stored<'_, '_> {
    fn profile(&mut self, path: &str) -> Result<FileProfile, String> {
        self.0
            .read(path, STORED_READ_LIMIT)
            .map(|bytes| FileProfile::of(&bytes))
            .map_err(|e| e.to_string())
    }
}

/// Files of a snapshot diff, read by their entries (blob ids): no path lookup from the root, and
/// any snapshot of the repository through one reader.
pub struct Entries<'s, 'r> {
    reader: &'s SnapshotReader<'r>,
    entries: HashMap<String, TreeEntry>,
}

impl<'s, 'r> Entries<'s, 'r> {
    pub fn new(reader: &'s SnapshotReader<'r>) -> Self {
        Entries {
            reader,
            entries: HashMap::new(),
        }
    }

    /// The profile of the file `entry` describes, streamed from its blobs (the file is never
    /// held whole).
    pub fn one(&self, entry: &TreeEntry) -> Result<FileProfile, String> {
        let mut profiler = Profiler::new(&entry.path);
        self.reader
            .read_entry_with(entry, STORED_READ_LIMIT, |bytes| profiler.update(bytes))
            .map_err(|e| e.to_string())?;
        Ok(profiler.finish())
    }
}

impl VersionSource for Entries<'_, '_> {
    fn profile(&mut self, path: &str) -> Result<FileProfile, String> {
        match self.entries.get(path) {
            Some(e) => self.one(e),
            None => Err("not among the changed files".into()),
        }
    }
}

/// Feeds the bytes the backup reads of one file to a profiler.
struct Sink {
    path: String,
    profiler: Profiler,
    into: Arc<Profiles>,
}

impl FileSink for Sink {
    fn bytes(&mut self, buf: &[u8]) {
        self.profiler.update(buf);
    }
    fn finish(self: Box<Self>, complete: bool) {
        if complete {
            let Sink {
                path,
                profiler,
                into,
            } = *self;
            into.add(path, profiler.finish());
        }
    }
}

/// The observer handed to the engine; `Arc` so the sinks can reach the profiles.
pub struct Observer(pub Arc<Profiles>);

impl FileObserver for Observer {
    fn open(&self, path: &Path, _size: u64) -> Option<Box<dyn FileSink>> {
        let path = tree_path(path);
        Some(Box::new(Sink {
            profiler: self.0.profiler(&path),
            path,
            into: Arc::clone(&self.0),
        }))
    }
}

/// The verdict document stored on a snapshot, if it has one (a `--no-detect` backup has none).
pub fn document_of(s: &SnapshotInfo) -> Option<VerdictDocument> {
    serde_json::from_value(s.document.clone()?).ok()
}

/// Baseline learned from the change counts that earlier clean snapshots recorded over one
/// backup interval.
pub fn baseline(history: &[SnapshotInfo]) -> Baseline {
    let docs: Vec<VerdictDocument> = history
        .iter()
        .filter(|s| s.verdict == Verdict::Clean)
        .filter_map(document_of)
        .collect();
    Baseline::learned_from(&docs)
}

/// The generation a new snapshot is judged against, and how many backup intervals lie between.
#[derive(Debug, Clone)]
pub struct JudgedAgainst {
    /// The newest clean snapshot of the same source (host and paths); `None` when there is none
    /// yet, and then every file of the new snapshot is judged on its own.
    pub clean: Option<SnapshotInfo>,
    /// Snapshots of the same source taken after `clean`, plus the new one (1 = the parent is the
    /// clean baseline).
    pub intervals: u32,
}

/// Picks the baseline of a new snapshot of `host`/`paths` from `history` (oldest first): the
/// newest clean generation of the same source. Judging against it rather than the parent means
/// an attack that is still present keeps every later snapshot suspicious: a suspicious state
/// never becomes clean by being backed up again (issue 10).
pub fn judged_against(history: &[SnapshotInfo], host: &str, paths: &[String]) -> JudgedAgainst {
    let group: Vec<&SnapshotInfo> = history
        .iter()
        .filter(|s| s.hostname == host && s.paths == paths)
        .collect();
    let newest_clean = group.iter().rposition(|s| s.verdict == Verdict::Clean);
    let after = group.len() - newest_clean.map_or(0, |i| i + 1);
    JudgedAgainst {
        clean: newest_clean.map(|i| group[i].clone()),
        intervals: u32::try_from(after + 1).unwrap_or(u32::MAX),
    }
}

/// How the backup of `sources` should keep the profiles it makes: a source never backed up
/// before has nothing to compare with, so its files are judged as they are read and memory stays
/// flat; otherwise profiles are kept for the comparison. Matching is on the paths alone: a
/// wrong guess only costs reading files back.
pub fn profiles_for(history: &[SnapshotInfo], sources: &[std::path::PathBuf]) -> Profiles {
    let mut paths: Vec<String> = sources
        .iter()
        .filter_map(|p| std::path::absolute(p).ok())
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    paths.sort();
    let seen = history.iter().any(|s| {
        let mut sp = s.paths.clone();
        sp.sort();
        sp == paths
    });
    if seen {
        Profiles::keep()
    } else {
        Profiles::judge_alone()
    }
}

/// The outcome of judging a new snapshot.
#[derive(Debug, Clone)]
pub struct BackupJudgement {
    /// The verdict, findings, counts and what remains of a suspicious parent.
    pub assessed: Assessed,
    /// What it was judged against.
    pub against: JudgedAgainst,
}

impl BackupJudgement {
    /// The verdict document stored on the snapshot.
    pub fn document(&self) -> VerdictDocument {
        VerdictDocument::new(
            &self.assessed,
            self.against.clean.as_ref().map(|c| c.id.clone()),
            self.against.intervals,
        )
    }
}

/// Judge a new snapshot against the newest clean generation of its source. Files the backup read
/// come with their profiles; files that changed since the baseline but not since the parent
/// (e.g. still encrypted from an attack an earlier snapshot caught) are read back from the new
/// snapshot, so their evidence counts again.
pub fn judge_backup(
    repo: &mut Repo,
    snap: &SnapshotInfo,
    profiled: Profiled,
    history: &[SnapshotInfo],
) -> Result<BackupJudgement> {
    let against = judged_against(history, &snap.hostname, &snap.paths);
    // Files judged alone while read were guessed to be a first backup; if there is something to
    // compare with after all, they are read back and judged again, and those results dropped.
    let Profiled { kept, alone } = profiled;
    let mut ev = Evidence::default();
    let is_file = |e: Option<&kura_engine::TreeEntry>| e.is_some_and(|e| e.kind == EntryKind::File);
    match &against.clean {
        Some(clean) => {
            // One index load for the diff and for reading both versions; only folders whose
            // tree changed are opened, and files are read by their blob ids.
            let reader = &mut repo.reader(&clean.id)?;
            let set = reader.changes_to(&snap.id)?;
            ev.unchanged(set.unchanged_files);
            let mut now = Entries::new(reader);
            // The earlier versions of modified files are read and profiled on every core (a
            // nightly backup modifies hundreds of files): small ones side by side, large ones
            // one at a time with their blobs read in parallel, streamed into the profiler.
            let earlier_of = |c: &kura_engine::Change| {
                let before = c.before.as_ref().filter(|e| is_file(Some(e)))?;
                Some((c.path.clone(), now.one(before).ok()?))
            };
            let (small, large): (Vec<_>, Vec<_>) = set
                .changes
                .iter()
                .filter(|c| c.change == ChangeKind::Modified && is_file(c.after.as_ref()))
                .partition(|c| {
                    c.before
                        .as_ref()
                        .is_none_or(|e| e.size <= PARALLEL_READ_MAX)
                });
            let mut earlier: HashMap<String, FileProfile> =
                small.par_iter().filter_map(|c| earlier_of(c)).collect();
            earlier.extend(large.iter().filter_map(|c| earlier_of(c)));
            for c in set.changes {
                let (before, after) = (c.before.as_ref(), c.after.as_ref());
                match c.change {
                    ChangeKind::Added if is_file(after) => {
                        ev.added(c.path, after.map_or(0, |e| e.size));
                    }
                    ChangeKind::Removed if is_file(before) => {
                        ev.deleted(c.path, before.map_or(0, |e| e.size));
                    }
                    ChangeKind::Modified if is_file(after) => {
                        let previous = earlier.remove(&c.path);
                        ev.modified(c.path, previous);
                    }
                    _ => {}
                }
                if let Some(e) = c.after.filter(|e| e.kind == EntryKind::File) {
                    now.entries.insert(e.path.clone(), e);
                }
            }
            ev.judge_pending(&kept, &mut now);
        }
        None if kept.is_empty() && snap.parent.is_none() => {
            // First backup of this source, judged as it was read: nothing to list or read back.
            ev.judged_alone(alone);
        }
        None => {
            // Nothing clean vouches for any file (earlier snapshots exist but none is clean, or
            // the profiles were kept): every file of the new snapshot is judged on its own.
            let reader = repo.reader(&snap.id)?;
            let mut now = Entries::new(&reader);
            reader.walk("", |e| {
                if e.kind == EntryKind::File {
                    ev.added(e.path.clone(), e.size);
                    now.entries.insert(e.path.clone(), e);
                }
                Ok(())
            })?;
            ev.judge_pending(&kept, &mut now);
        }
    }
    let baseline = baseline(history).spanning(against.intervals);
    // What the backup did not read is as it was in the parent.
    let parent_not_clean = snap.parent.as_ref().and_then(|p| {
        history
            .iter()
            .find(|s| &s.id == p && s.verdict != Verdict::Clean)
    });
    let assessed = ev.judge(&baseline, parent_not_clean.map(|p| p.short_id.as_str()));
    for (path, why) in &assessed.unreadable {
        eprintln!("kura: warning: could not read {path} back for detection: {why}");
    }
    Ok(BackupJudgement { assessed, against })
}

pub fn engine_verdict(v: kura_detect::Verdict) -> kura_engine::Verdict {
    match v {
        kura_detect::Verdict::Clean => kura_engine::Verdict::Clean,
        kura_detect::Verdict::Suspicious => kura_engine::Verdict::Suspicious,
    }
}

/// Run the configured alert command (no shell) with the verdict in its environment.
pub fn run_alert_command(cmd: &[String], snap: &SnapshotInfo, j: &Judgement) {
    let Some((program, args)) = cmd.split_first() else {
        return;
    };
    let result = std::process::Command::new(program)
        .args(args)
        .env("KURA_SNAPSHOT", &snap.id)
        .env("KURA_VERDICT", j.verdict.to_string())
        .env("KURA_FINDINGS", j.findings.len().to_string())
        .env("KURA_REASONS", j.reasons.join("; "))
        .status();
    match result {
        Ok(s) if s.success() => {}
        Ok(s) => eprintln!("kura: warning: alert command {program} exited with {s}"),
        Err(e) => eprintln!("kura: warning: alert command {program} could not run: {e}"),
    }
}
