//! Restore drills: a restore into scratch space whose every restored byte is then checked
//! against the snapshot's blob hashes, and a rolling read of a part of the repository's packs.
//!
//! Kept apart from `ops.rs` so that restore itself can change without touching drills.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rustic_core::repofile::{Node, PackId, SnapshotFile};
use rustic_core::{
    CheckOptions, IndexedFullStatus, LocalDestination, LsOptions, ReadSubsetOption, Repository,
    RestoreOptions,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, RusticContext};
use crate::repo::Repo;
use crate::snapshots::{SnapshotInfo, info_of};

/// A file whose restored bytes do not match the snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DamagedFile {
    /// Path inside the snapshot.
    pub path: String,
    /// The packs holding the blobs that did not match (hex ids).
    pub packs: Vec<String>,
    /// What was wrong (`missing`, `size`, `content`).
    pub reason: String,
}

/// What a drill restore did, with each phase's duration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrillRestoreReport {
    /// The snapshot restored.
    pub snapshot: SnapshotInfo,
    /// Files in the snapshot.
    pub files_total: u64,
    /// Bytes of all files in the snapshot.
    pub bytes_total: u64,
    /// Files chosen for this drill.
    pub files_selected: u64,
    /// Bytes of the files chosen.
    pub bytes_selected: u64,
    /// Files whose every byte matched the snapshot.
    pub files_verified: u64,
    /// Bytes so verified.
    pub bytes_verified: u64,
    /// Files that did not match.
    pub damaged: Vec<DamagedFile>,
    /// The restore's own error, if it stopped (the verification still ran on what it wrote).
    pub restore_error: Option<String>,
    /// Seconds to load the index.
    pub index_secs: f64,
    /// Seconds to find the snapshot, walk its tree and plan the restore.
    pub locate_secs: f64,
    /// Seconds to fetch the packs and write the files.
    pub fetch_write_secs: f64,
    /// Seconds to verify every restored byte.
    pub verify_secs: f64,
}

/// The result of reading one part of the packs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackReadReport {
    /// The part read (`n` of `of`, as restic's `--read-data-subset n/t`, counted from 1).
    pub part: u32,
    /// How many parts the packs are split into.
    pub of: u32,
    /// Packs in this part.
    pub packs_read: u64,
    /// Packs in the repository.
    pub packs_total: u64,
    /// Errors found (name the pack).
    pub errors: Vec<String>,
    /// Seconds taken.
    pub secs: f64,
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Repo {
    /// Read and verify the packs whose id falls into part `part` of `of` (1-based), like
    /// restic's `check --read-data-subset part/of`: running parts 1..=of in turn reads every pack.
    pub fn read_pack_part(&self, part: u32, of: u32) -> Result<PackReadReport> {
        if of == 0 || part == 0 || part > of {
            return Err(Error::BadValue(format!(
                "pack part {part}/{of} is not valid: use 1..=n of n"
            )));
        }
        let started = Instant::now();
        let repo = self.open_repo()?;
        let packs: Vec<PackId> = repo.list::<PackId>().ctx("listing packs")?.collect();
        let n = part % of;
        let packs_read = packs.iter().filter(|p| p.as_u32() % of == n).count() as u64;
        let opts = CheckOptions::default()
            .read_data(true)
            .read_data_subset(ReadSubsetOption::IdSubSet((part, of)));
        let results = repo.check(opts).ctx("reading packs")?;
        let errors = results
            .0
            .into_iter()
            .filter(|(level, _)| format!("{level:?}") != "Warn")
            .map(|(_, e)| one_line(&e.to_string()))
            .collect();
        Ok(PackReadReport {
            part,
            of,
            packs_read,
            packs_total: packs.len() as u64,
            errors,
            secs: started.elapsed().as_secs_f64(),
        })
    }

    /// Restore snapshot `spec` into `target` (the files for which `pick` says yes, given their
    /// path inside the snapshot; directories always), then read every restored file back and
    /// compare it blob by blob with the snapshot's SHA-256 blob ids. Damage is data in the
    /// report, naming the pack; only failures to start (no snapshot, bad target) are errors.
    pub fn drill_restore(
        &mut self,
        spec: &str,
        target: &Path,
        pick: &mut dyn FnMut(&str) -> bool,
    ) -> Result<DrillRestoreReport> {
        let snap = self.snapshot_file(spec)?;
        let t0 = Instant::now();
        let repo = self
            .take()?
            .to_indexed()
            .ctx("reading the repository index")?;
        let index_secs = t0.elapsed().as_secs_f64();
        let result = drill_indexed(&repo, &snap, target, pick, index_secs);
        self.repo = Some(repo.drop_index());
        result
    }
}

fn drill_indexed(
    repo: &Repository<IndexedFullStatus>,
    snap: &SnapshotFile,
    target: &Path,
    pick: &mut dyn FnMut(&str) -> bool,
    index_secs: f64,
) -> Result<DrillRestoreReport> {
    let t1 = Instant::now();
    let snapshot = info_of(snap);
    let root = repo
        .node_from_snapshot_and_path(snap, "")
        .ctx("reading the snapshot's root tree")?;
    let target_str = target.to_str().ok_or_else(|| Error::BadTarget {
        what: "drill target",
        path: target.to_path_buf(),
        problem: "not valid UTF-8",
    })?;
    let dest = LocalDestination::new(
        &format!("{}/", target_str.trim_end_matches('/')),
        true,
        false,
    )
    .ctx("preparing the drill target")?;
    let (mut files_total, mut bytes_total, mut files_selected, mut bytes_selected) =
        (0u64, 0u64, 0u64, 0u64);
    let mut chosen: Vec<(PathBuf, Node)> = Vec::new();
    for item in repo
        .ls(&root, &LsOptions::default())
        .ctx("listing the snapshot")?
    {
        let (path, node) = item.ctx("reading a snapshot tree")?;
        if crate::backup::is_file(&node) {
            files_total += 1;
            bytes_total += node.meta.size;
            if !pick(&path.to_string_lossy()) {
                continue;
            }
            files_selected += 1;
            bytes_selected += node.meta.size;
        }
        chosen.push((path, node));
    }
    let opts = RestoreOptions::default();
    let plan = repo
        .prepare_restore(&opts, chosen.iter().cloned().map(Ok), &dest, false)
        .ctx("planning the restore")?;
    let locate_secs = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    // rustic_core's restorer unwraps read and decryption errors inside its thread pool; a
    // damaged pack panics there. Contain it: the verification below names the damage.
    let restored = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        repo.restore(plan, &opts, chosen.iter().cloned().map(Ok), &dest)
    }));
    let restore_error = match restored {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(one_line(&e.display_log())),
        Err(panic) => {
            let cause = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown failure");
            Some(one_line(
                cause.rsplit("Err` value: ").next().unwrap_or(cause),
            ))
        }
    };
    let fetch_write_secs = t2.elapsed().as_secs_f64();
    let t3 = Instant::now();
    let mut report = DrillRestoreReport {
        snapshot,
        files_total,
        bytes_total,
        files_selected,
        bytes_selected,
        files_verified: 0,
        bytes_verified: 0,
        damaged: Vec::new(),
        restore_error,
        index_secs,
        locate_secs,
        fetch_write_secs,
        verify_secs: 0.0,
    };
    for (path, node) in chosen.iter().filter(|(_, n)| crate::backup::is_file(n)) {
        match verify_file(repo, &target.join(path), node) {
            Ok(()) => {
                report.files_verified += 1;
                report.bytes_verified += node.meta.size;
            }
            Err((reason, packs)) => report.damaged.push(DamagedFile {
                path: path.to_string_lossy().into_owned(),
                packs,
                reason,
            }),
        }
    }
    report.verify_secs = t3.elapsed().as_secs_f64();
    Ok(report)
}

/// Compare one restored file with its node: size, then each blob's SHA-256. On a mismatch,
/// the reason and the packs of the blobs from the first bad one on.
fn verify_file(
    repo: &Repository<IndexedFullStatus>,
    restored: &Path,
    node: &Node,
) -> std::result::Result<(), (String, Vec<String>)> {
    let blobs = node.content.as_deref().unwrap_or_default();
    let packs_from = |i: usize| -> Vec<String> {
        let mut v: Vec<String> = blobs[i..]
            .iter()
            .filter_map(|b| repo.get_index_entry(b).ok())
            .map(|e| e.pack.to_hex().to_string())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let file = match File::open(restored) {
        Ok(f) => f,
        Err(_) => return Err(("missing".into(), packs_from(0))),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    if len != node.meta.size {
        return Err((
            format!("size {len} instead of {}", node.meta.size),
            packs_from(0),
        ));
    }
    let mut reader = BufReader::with_capacity(1 << 20, file);
    for (i, blob) in blobs.iter().enumerate() {
        let Ok(entry) = repo.get_index_entry(blob) else {
            return Err((
                format!("blob {} is not in the index", blob.to_hex().as_str()),
                Vec::new(),
            ));
        };
        let length = u64::from(entry.location.data_length());
        if !blob.blob_matches_reader(length, &mut reader) {
            let mut packs = vec![entry.pack.to_hex().to_string()];
            packs.extend(packs_from(i + 1));
            packs.dedup();
            return Err(("content".into(), packs));
        }
    }
    // Nothing may follow the last blob.
    let mut rest = [0u8; 1];
    if reader.read(&mut rest).unwrap_or(0) != 0 {
        return Err(("content longer than the snapshot's".into(), Vec::new()));
    }
    Ok(())
}
