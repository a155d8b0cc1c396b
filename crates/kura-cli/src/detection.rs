//! Wiring of kura-detect into backups, scans and diffs: profiles from the bytes the backup
//! already reads, previous versions from the parent snapshot, names and rates from the tree
//! diff, and the verdict recorded on the snapshot.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use kura_detect::{Baseline, ChangeCounts, FileProfile, Finding, Judgement, Profiler, TreeChanges};
use kura_engine::{ChangeKind, FileObserver, FileSink, Repo, SnapshotInfo, SnapshotReader};

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

/// Baseline learned from the change counts earlier snapshots recorded.
pub fn baseline(history: &[SnapshotInfo]) -> Baseline {
    let mut b = Baseline::default();
    for s in history {
        if let Some(c) = s
            .document
            .as_ref()
            .and_then(|d| d.get("counts"))
            .and_then(|c| serde_json::from_value::<ChangeCounts>(c.clone()).ok())
        {
            b.learn(&c);
        }
    }
    b
}

/// Judge a new snapshot against its parent, from the profiles collected during the backup.
pub fn judge_backup(
    repo: &mut Repo,
    snap: &SnapshotInfo,
    mut profiles: HashMap<String, FileProfile>,
    history: &[SnapshotInfo],
) -> Result<(Judgement, ChangeCounts)> {
    let mut changes = TreeChanges::default();
    let mut findings: Vec<Finding> = Vec::new();
    let mut modified_prev: Vec<String> = Vec::new();
    match &snap.parent {
        Some(parent) => {
            // One index load for the diff and for reading the previous versions.
            let mut reader = repo.reader(parent)?;
            for c in reader.diff_with(&snap.id)? {
                let (before, after) = (c.before.as_ref(), c.after.as_ref());
                let is_file =
                    |e: Option<&kura_engine::TreeEntry>| e.is_some_and(|e| e.kind == "file");
                match c.change {
                    ChangeKind::Added if is_file(after) => changes
                        .added
                        .push((c.path.clone(), after.map_or(0, |e| e.size))),
                    ChangeKind::Removed if is_file(before) => changes
                        .deleted
                        .push((c.path.clone(), before.map_or(0, |e| e.size))),
                    ChangeKind::Modified if is_file(after) => {
                        changes.modified.push(c.path.clone());
                        if is_file(before) {
                            modified_prev.push(c.path.clone());
                        }
                    }
                    ChangeKind::Unchanged if is_file(after) => changes.unchanged += 1,
                    _ => {}
                }
            }
            for path in &modified_prev {
                let Some(cur) = profiles.remove(path) else {
                    continue;
                };
                let prev = stored_profile(&reader, path).ok();
                findings.extend(kura_detect::judge_file(path, prev.as_ref(), &cur));
            }
        }
        None => {
            // First backup: every file was read, so the profiles name them all (no need to load
            // the index and walk the new tree).
            changes.added = profiles
                .iter()
                .map(|(p, prof)| (p.clone(), prof.size))
                .collect();
            changes.added.sort();
        }
    }
    // Added files (and any file read without a previous version) are judged on their own.
    for (path, cur) in &profiles {
        findings.extend(kura_detect::judge_file(path, None, cur));
    }
    let counts = ChangeCounts::from(&changes);
    let judgement = kura_detect::judge_snapshot(findings, &changes, &baseline(history));
    Ok((judgement, counts))
}

/// The document stored with the verdict in the snapshot description.
pub fn verdict_document(j: &Judgement, counts: &ChangeCounts) -> serde_json::Value {
    serde_json::json!({
        "verdict": j.verdict.to_string(),
        "score": j.score,
        "reasons": j.reasons,
        "flagged_files": j.flagged_files,
        "strong_files": j.strong_files,
        "findings_total": j.findings.len(),
        "findings": j.findings.iter().take(STORED_FINDINGS).collect::<Vec<_>>(),
        "counts": counts,
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
