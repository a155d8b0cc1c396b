//! Wiring of kura-detect into backups, scans and diffs: profiles from the bytes the backup
//! already reads, previous versions from the parent snapshot, names and rates from the tree
//! diff, and the verdict recorded on the snapshot.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use kura_detect::{Baseline, ChangeCounts, FileProfile, Finding, Judgement, Profiler, TreeChanges};
use kura_engine::{
    ChangeKind, FileObserver, FileSink, Repo, SnapshotInfo, SnapshotReader, Verdict,
};

/// How much of a stored version is read to profile it (the sketch looks at the first MiB;
/// entropy over 64 MiB is representative).
const STORED_READ_LIMIT: u64 = 64 << 20;
/// Findings stored in the snapshot description (all are counted).
const STORED_FINDINGS: usize = 100;

/// Tree path of a source path (`/srv/a` → `srv/a`), as rustic stores it.
pub fn tree_path(p: &Path) -> String {
    p.to_string_lossy().trim_start_matches('/').to_string()
}

/// Profile of `path` as stored in the snapshot `reader` is on (the version a live or newer file
/// is compared with). Used by backup, scan and diff alike.
pub fn stored_profile(reader: &SnapshotReader<'_>, path: &str) -> kura_engine::Result<FileProfile> {
    reader
        .read(path, STORED_READ_LIMIT)
        .map(|bytes| FileProfile::of(&bytes))
}

/// Collects a profile of every file the backup reads.
#[derive(Default)]
pub struct ProfileCollector {
    profiles: Mutex<HashMap<String, FileProfile>>,
}

struct Sink {
    path: String,
    profiler: Profiler,
    into: Arc<ProfileCollector>,
}

impl FileSink for Sink {
    fn bytes(&mut self, buf: &[u8]) {
        self.profiler.update(buf);
    }
    fn finish(self: Box<Self>, complete: bool) {
        if complete && let Ok(mut m) = self.into.profiles.lock() {
            let Sink { path, profiler, .. } = *self;
            m.insert(path, profiler.finish());
        }
    }
}

/// The observer handed to the engine; `Arc` so the sinks can reach the collector.
pub struct Observer(pub Arc<ProfileCollector>);

impl FileObserver for Observer {
    fn open(&self, path: &Path, _size: u64) -> Option<Box<dyn FileSink>> {
        let path = tree_path(path);
        Some(Box::new(Sink {
            profiler: Profiler::new(&path),
            path,
            into: Arc::clone(&self.0),
        }))
    }
}

impl ProfileCollector {
    pub fn take(&self) -> HashMap<String, FileProfile> {
        self.profiles
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }
}

/// Baseline learned from the change counts that earlier clean snapshots recorded over one
/// backup interval (suspicious ones, and ones judged against an older generation, would teach
/// the wrong limits).
pub fn baseline(history: &[SnapshotInfo]) -> Baseline {
    let mut b = Baseline::default();
    for s in history.iter().filter(|s| s.verdict == Verdict::Clean) {
        let Some(doc) = s.document.as_ref() else {
            continue;
        };
        if doc.get("intervals").and_then(|v| v.as_u64()).unwrap_or(1) > 1 {
            continue;
        }
        if let Some(c) = doc
            .get("counts")
            .and_then(|c| serde_json::from_value::<ChangeCounts>(c.clone()).ok())
        {
            b.learn(&c);
        }
    }
    b
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

/// The outcome of judging a new snapshot.
#[derive(Debug, Clone)]
pub struct BackupJudgement {
    /// The verdict with its findings.
    pub judgement: Judgement,
    /// Change counts against the baseline.
    pub counts: ChangeCounts,
    /// What it was judged against.
    pub against: JudgedAgainst,
    /// Flagged files whose content is the same as in the (not clean) parent: what an earlier
    /// suspicious snapshot found is still there.
    pub remaining: u64,
}

/// Judge a new snapshot against the newest clean generation of its source. Files the backup read
/// come with their profiles; files that changed since the baseline but not since the parent
/// (e.g. still encrypted from an attack an earlier snapshot caught) are read back from the new
/// snapshot, so their evidence counts again.
pub fn judge_backup(
    repo: &mut Repo,
    snap: &SnapshotInfo,
    profiles: HashMap<String, FileProfile>,
    history: &[SnapshotInfo],
) -> Result<BackupJudgement> {
    let against = judged_against(history, &snap.hostname, &snap.paths);
    let mut changes = TreeChanges::default();
    let findings: Vec<Finding>;
    let mut read_back = HashSet::new();
    // Files that changed since the baseline, with the baseline's version when it was a file.
    let mut judged: Vec<(String, Option<FileProfile>)> = Vec::new();
    match (&against.clean, &snap.parent) {
        (Some(clean), _) => {
            // One index load for the diff and for reading both versions.
            let mut reader = repo.reader(&clean.id)?;
            for c in reader.diff_with(&snap.id)? {
                let (before, after) = (c.before.as_ref(), c.after.as_ref());
                let is_file =
                    |e: Option<&kura_engine::TreeEntry>| e.is_some_and(|e| e.kind == "file");
                match c.change {
                    ChangeKind::Added if is_file(after) => {
                        changes
                            .added
                            .push((c.path.clone(), after.map_or(0, |e| e.size)));
                        judged.push((c.path, None));
                    }
                    ChangeKind::Removed if is_file(before) => changes
                        .deleted
                        .push((c.path.clone(), before.map_or(0, |e| e.size))),
                    ChangeKind::Modified if is_file(after) => {
                        changes.modified.push(c.path.clone());
                        let prev = if is_file(before) {
                            stored_profile(&reader, &c.path).ok()
                        } else {
                            None
                        };
                        judged.push((c.path, prev));
                    }
                    ChangeKind::Unchanged if is_file(after) => changes.unchanged += 1,
                    _ => {}
                }
            }
            reader.switch(&snap.id)?;
            (findings, read_back) = judge_versions(&reader, &profiles, judged);
        }
        (None, None) => {
            // First backup: every file was read, so the profiles name them all (no need to load
            // the index and walk the new tree).
            changes.added = profiles
                .iter()
                .map(|(p, prof)| (p.clone(), prof.size))
                .collect();
            changes.added.sort();
            findings = profiles
                .iter()
                .flat_map(|(path, cur)| kura_detect::judge_file(path, None, cur))
                .collect();
        }
        (None, Some(_)) => {
            // Earlier snapshots exist but none is clean: nothing vouches for any file, so every
            // file of the new snapshot is judged on its own.
            let reader = repo.reader(&snap.id)?;
            reader.walk("", |e| {
                if e.kind == "file" {
                    changes.added.push((e.path.clone(), e.size));
                    judged.push((e.path, None));
                }
                Ok(())
            })?;
            (findings, read_back) = judge_versions(&reader, &profiles, judged);
        }
    }
    let counts = ChangeCounts::from(&changes);
    let baseline = baseline(history).spanning(against.intervals);
    let mut judgement = kura_detect::judge_snapshot(findings, &changes, &baseline);
    // What the backup did not read is as it was in the parent.
    let parent_not_clean = snap.parent.as_ref().and_then(|p| {
        history
            .iter()
            .find(|s| &s.id == p && s.verdict != Verdict::Clean)
    });
    let remaining = flagged_paths(&judgement)
        .filter(|p| read_back.contains(*p))
        .count() as u64;
    if let Some(parent) = parent_not_clean
        && judgement.verdict == kura_detect::Verdict::Suspicious
        && remaining > 0
    {
        judgement.reasons.insert(
            0,
            format!(
                "still suspicious: {remaining} flagged files remain as in {}",
                parent.short_id
            ),
        );
    }
    Ok(BackupJudgement {
        judgement,
        counts,
        against,
        remaining,
    })
}

/// Per-file findings for `judged` (path, baseline version). The current version comes from the
/// profiles the backup collected, or else is read back from the snapshot `reader` is on; the
/// paths read back (unchanged since the parent) are returned with the findings.
fn judge_versions(
    reader: &SnapshotReader<'_>,
    profiles: &HashMap<String, FileProfile>,
    judged: Vec<(String, Option<FileProfile>)>,
) -> (Vec<Finding>, HashSet<String>) {
    let mut findings = Vec::new();
    let mut read_back = HashSet::new();
    for (path, prev) in judged {
        let stored;
        let cur = match profiles.get(&path) {
            Some(p) => p,
            None => match stored_profile(reader, &path) {
                Ok(p) => {
                    stored = p;
                    read_back.insert(path.clone());
                    &stored
                }
                Err(e) => {
                    eprintln!("kura: warning: could not read {path} back for detection: {e}");
                    continue;
                }
            },
        };
        findings.extend(kura_detect::judge_file(&path, prev.as_ref(), cur));
    }
    (findings, read_back)
}

/// Paths whose combined findings flag them (as [`kura_detect::judge_snapshot`] counts them).
fn flagged_paths(j: &Judgement) -> impl Iterator<Item = &str> {
    let mut per_path: HashMap<&str, Vec<Finding>> = HashMap::new();
    for f in j.findings.iter().filter(|f| !f.path.is_empty()) {
        per_path.entry(&f.path).or_default().push(f.clone());
    }
    per_path
        .into_iter()
        .filter(|(_, f)| kura_detect::file_score(f) >= kura_detect::thresholds::FLAG)
        .map(|(p, _)| p)
}

/// The document stored with the verdict in the snapshot description.
pub fn verdict_document(b: &BackupJudgement) -> serde_json::Value {
    let j = &b.judgement;
    serde_json::json!({
        "baseline": b.against.clean.as_ref().map(|c| &c.id),
        "intervals": b.against.intervals,
        "remaining": b.remaining,
        "verdict": j.verdict.to_string(),
        "score": j.score,
        "reasons": j.reasons,
        "flagged_files": j.flagged_files,
        "strong_files": j.strong_files,
        "findings_total": j.findings.len(),
        "findings": j.findings.iter().take(STORED_FINDINGS).collect::<Vec<_>>(),
        "counts": b.counts,
    })
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
