//! Restore drills: a restore into scratch space whose every restored byte is then checked
//! against the snapshot's blob hashes, and a rolling read of a part of the repository's packs.
//!
//! Kept apart from `ops.rs` so that restore itself can change without touching drills.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use std::collections::{BTreeMap, BTreeSet};

use rustic_core::repofile::{BlobType, IndexBlob, IndexFile, Node, PackId, SnapshotFile};
use rustic_core::{
    DataId, FileType, Id, IndexedFullStatus, LocalDestination, LsOptions, Repository,
    RestoreOptions, TreeId,
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
    /// The rolling pack read done after the restore, when asked for (or why it could not run).
    #[serde(skip)]
    pub pack_read: Option<std::result::Result<PackReadReport, String>>,
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
    /// Loads the index; a drill does this inside [`Repo::drill_restore`] with the index it has.
    pub fn read_pack_part(&mut self, part: u32, of: u32) -> Result<PackReadReport> {
        check_part(part, of)?;
        let repo = self
            .take()?
            .to_indexed()
            .ctx("reading the repository index")?;
        let result = read_packs(&repo, &self.location, part, of);
        self.repo = Some(repo.drop_index());
        result
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
        read_part: Option<(u32, u32)>,
    ) -> Result<DrillRestoreReport> {
        if let Some((part, of)) = read_part {
            check_part(part, of)?;
        }
        let snap = self.snapshot_file(spec)?;
        let t0 = Instant::now();
        let repo = self
            .take()?
            .to_indexed()
            .ctx("reading the repository index")?;
        let index_secs = t0.elapsed().as_secs_f64();
        let mut result = drill_indexed(&repo, &snap, target, pick, index_secs);
        // The rolling pack read reuses the index just loaded (loading it again would cost as
        // much as the drill's open phase).
        if let (Ok(report), Some((part, of))) = (&mut result, read_part) {
            report.pack_read =
                Some(read_packs(&repo, &self.location, part, of).map_err(|e| e.to_string()));
        }
        self.repo = Some(repo.drop_index());
        result
    }
}

fn check_part(part: u32, of: u32) -> Result<()> {
    if of == 0 || part == 0 || part > of {
        return Err(Error::BadValue(format!(
            "pack part {part}/{of} is not valid: use 1..=n of n"
        )));
    }
    Ok(())
}

/// Whether pack `id` falls into part `part` of `of` (restic's and rustic's `n/m` rule).
fn in_part(id: &Id, part: u32, of: u32) -> bool {
    id.as_u32() % of == part % of
}

/// Read the packs of part `part`/`of` and verify each one: its whole content against its id
/// (a pack's id is the SHA-256 of its bytes, so any changed byte, header included, is found),
/// then every blob the index places in it, decrypted and hashed against the blob's id. Only
/// these packs are read: unlike rustic_core's `check`, no structural check of the index and of
/// every tree comes first (that is `kura check`'s job; the drill's restore walks its own tree).
fn read_packs(
    repo: &Repository<IndexedFullStatus>,
    location: &crate::repo::Location,
    part: u32,
    of: u32,
) -> Result<PackReadReport> {
    let started = Instant::now();
    let be = location.backends()?.repository();
    let listed = be.list_with_size(FileType::Pack).ctx("listing packs")?;
    let chosen: Vec<Id> = listed
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| in_part(id, part, of))
        .collect();
    let wanted: BTreeSet<Id> = chosen.iter().copied().collect();
    // The blobs of the chosen packs as the index lists them (a mixed pack of an old restic
    // repository is listed once per blob type: merge its parts).
    let mut blobs: BTreeMap<Id, Vec<IndexBlob>> = BTreeMap::new();
    if !wanted.is_empty() {
        for item in repo.stream_files::<IndexFile>().ctx("reading the index")? {
            let (_, file) = item.ctx("reading an index file")?;
            for pack in file.packs.into_iter().chain(file.packs_to_delete) {
                if wanted.contains(&*pack.id) {
                    blobs.entry(*pack.id).or_default().extend(pack.blobs);
                }
            }
        }
    }
    let mut errors = Vec::new();
    for id in &chosen {
        let pack = PackId::from(*id);
        let hex = id.to_hex();
        let raw = match be.read_full(FileType::Pack, id) {
            Ok(raw) => raw,
            Err(e) => {
                errors.push(format!(
                    "pack {} cannot be read: {}",
                    hex.as_str(),
                    one_line(&e.display_log())
                ));
                continue;
            }
        };
        if !id.blob_matches_reader(raw.len() as u64, &mut &raw[..]) {
            errors.push(format!(
                "pack {} is damaged: its content does not match its id (SHA-256)",
                hex.as_str()
            ));
            continue;
        }
        let mut listed_blobs = blobs.remove(id).unwrap_or_default();
        listed_blobs.sort_unstable();
        listed_blobs.dedup();
        for blob in &listed_blobs {
            // A blob stored twice is read from where the index points; verify it here only
            // when that is this pack (the pack's own hash above covers the copy here).
            let entry = match blob.tpe {
                BlobType::Tree => repo.get_index_entry(&TreeId::from(blob.id)),
                BlobType::Data => repo.get_index_entry(&DataId::from(blob.id)),
            };
            if !entry.is_ok_and(|e| e.pack == pack && e.location == blob.location) {
                continue;
            }
            let bhex = blob.id.to_hex();
            match repo.cat_blob(blob.tpe, bhex.as_str()) {
                Ok(data)
                    if blob
                        .id
                        .blob_matches_reader(data.len() as u64, &mut &data[..]) => {}
                Ok(_) => errors.push(format!(
                    "pack {} is damaged: blob {} does not match its id",
                    hex.as_str(),
                    bhex.as_str()
                )),
                Err(e) => errors.push(format!(
                    "pack {} is damaged: blob {} cannot be read: {}",
                    hex.as_str(),
                    bhex.as_str(),
                    one_line(&e.display_log())
                )),
            }
        }
    }
    Ok(PackReadReport {
        part,
        of,
        packs_read: chosen.len() as u64,
        packs_total: listed.len() as u64,
        errors,
        secs: started.elapsed().as_secs_f64(),
    })
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
    // A damaged pack panics inside rustic_core's restorer: contained, the verification below
    // names the damage.
    let restored = crate::restore::contain_panic(|| {
        repo.restore(plan, &opts, chosen.iter().cloned().map(Ok), &dest)
    });
    let restore_error = match restored {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(one_line(&e.display_log())),
        Err(cause) => Some(cause),
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
        pack_read: None,
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::backup::{BackupRequest, NoObserver};
    use crate::progress::no_progress;
    use crate::repo::Location;

    /// A repository with a few backups of distinct random files (so a few data and tree packs).
    fn repo_with_packs(dir: &Path) -> Repo {
        let mut repo =
            Repo::init(Location::Local(dir.join("repo")), "secret", no_progress()).unwrap();
        for round in 0..4 {
            let src = dir.join(format!("src{round}"));
            std::fs::create_dir_all(&src).unwrap();
            for f in 0..3 {
                let bytes = kura_testkit::noise::incompressible(round * 3 + f, 200_000);
                std::fs::write(src.join(format!("f{f}")), bytes).unwrap();
            }
            let req = BackupRequest {
                paths: vec![src],
                ..Default::default()
            };
            repo.backup(&req, Arc::new(NoObserver)).unwrap();
        }
        repo
    }

    fn packs(dir: &Path) -> Vec<PathBuf> {
        walk(&dir.join("repo/data"))
    }

    fn walk(d: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn parts_one_to_n_read_every_pack_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut repo = repo_with_packs(dir.path());
        let total = packs(dir.path()).len() as u64;
        assert!(total >= 4, "{total} packs");
        for of in [1, 3, 30] {
            let mut read = 0;
            for part in 1..=of {
                let r = repo.read_pack_part(part, of).unwrap();
                assert!(r.errors.is_empty(), "{:?}", r.errors);
                assert_eq!(r.packs_total, total);
                read += r.packs_read;
            }
            assert_eq!(read, total, "parts 1..={of}");
        }
        assert!(repo.read_pack_part(0, 3).is_err());
        assert!(repo.read_pack_part(4, 3).is_err());
    }

    #[test]
    fn a_flipped_byte_is_found_by_the_part_holding_the_pack_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut repo = repo_with_packs(dir.path());
        let pack = packs(dir.path())
            .into_iter()
            .max_by_key(|p| std::fs::metadata(p).unwrap().len())
            .unwrap();
        let name = pack.file_name().unwrap().to_str().unwrap().to_string();
        let mut bytes = std::fs::read(&pack).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        std::fs::write(&pack, &bytes).unwrap();
        let of = 3;
        let mut found = Vec::new();
        for part in 1..=of {
            let r = repo.read_pack_part(part, of).unwrap();
            if !r.errors.is_empty() {
                found.push((part, r.errors));
            }
        }
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .1
                .iter()
                .all(|e| e.contains(&format!("pack {name} is damaged"))),
            "{found:?}"
        );
    }
}
