//! Canaries for the live guard: kura-detect's decoys, planted in every watched tree so that
//! they come first both in sorted order (their `0000_` prefix) and in raw `readdir` order.
//!
//! ext4 lists a directory in the order of a hash of each name, seeded per filesystem, so the
//! same name comes at the same place relative to others in every folder of that filesystem.
//! The guard plants many candidate canaries in a scratch folder once, reads it back, and keeps
//! the candidate listed first: its hash is smaller than almost any other name's.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use kura_detect::canary;

use crate::score::thresholds::{CANARY_CANDIDATES, CANARY_DEPTH};

/// The canaries planted in one folder.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Planted {
    /// The folder.
    pub dir: PathBuf,
    /// The canary files.
    pub files: Vec<PathBuf>,
    /// Whether a canary is the first entry of a raw `readdir` of the folder.
    pub first_in_readdir: bool,
}

/// The first entry of a raw `readdir` (what `ls -U` and naive walkers see first).
pub(crate) fn first_entry(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .next()
        .map(|e| e.path())
}

/// The seed whose canary names come first in raw readdir order on the filesystem of `root`
/// (cached in `cache`, one file per filesystem: the hash seed of a filesystem never changes,
/// and the probe creates a few thousand empty files, about a second on a busy disk).
pub(crate) fn best_seed(root: &Path, cache: Option<&Path>) -> io::Result<u64> {
    if let Some(c) = cache
        && let Ok(text) = std::fs::read_to_string(c)
        && let Ok(seed) = text.trim().parse()
    {
        return Ok(seed);
    }
    let scratch = root.join(format!(".kura-guard-probe-{}", std::process::id()));
    std::fs::create_dir(&scratch)?;
    let result = (|| -> io::Result<u64> {
        let mut by_name = BTreeMap::new();
        for seed in 0..CANARY_CANDIDATES {
            for p in canary::plant(&scratch, seed).map_err(io::Error::other)? {
                if let Some(n) = p.file_name() {
                    by_name.insert(n.to_os_string(), seed);
                }
            }
        }
        let first = first_entry(&scratch).and_then(|p| p.file_name().map(|n| n.to_os_string()));
        Ok(first.and_then(|n| by_name.get(&n).copied()).unwrap_or(0))
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    let seed = result?;
    if let Some(c) = cache {
        if let Some(d) = c.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        let _ = std::fs::write(c, seed.to_string());
    }
    Ok(seed)
}

/// The folders to plant in: each root and its folders down to [`CANARY_DEPTH`] (hidden folders
/// skipped).
pub(crate) fn folders(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut level = vec![root.to_path_buf()];
    for _ in 0..CANARY_DEPTH {
        let mut next = Vec::new();
        for d in &level {
            let Ok(rd) = std::fs::read_dir(d) else {
                continue;
            };
            for e in rd.flatten() {
                let hidden = e.file_name().to_string_lossy().starts_with('.');
                if !hidden && e.file_type().is_ok_and(|t| t.is_dir()) {
                    next.push(e.path());
                }
            }
        }
        next.sort();
        out.extend(next.iter().cloned());
        level = next;
    }
    out
}

/// Plants (or re-plants) the canaries named by `seed` in `dir`.
pub(crate) fn plant(dir: &Path, seed: u64) -> io::Result<Planted> {
    let files = canary::plant(dir, seed).map_err(io::Error::other)?;
    let first_in_readdir =
        first_entry(dir).is_some_and(|p| files.iter().any(|f| f.file_name() == p.file_name()));
    Ok(Planted {
        dir: dir.to_path_buf(),
        files,
        first_in_readdir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canaries_come_first_in_sorted_and_readdir_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let share = dir.path().join("share");
        std::fs::create_dir(&share).expect("mkdir");
        for i in 0..300 {
            std::fs::write(share.join(format!("file_{i}.txt")), b"x").expect("write");
        }
        let seed = best_seed(dir.path(), None).expect("probe");
        let p = plant(&share, seed).expect("plant");
        let mut names: Vec<_> = std::fs::read_dir(&share)
            .expect("ls")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        assert!(canary::is_canary_name(Path::new(&names[0])));
        // tmpfs lists in creation order; the claim is about ext4 and other hashed directories.
        let ext4 = std::process::Command::new("stat")
            .args(["-f", "-c", "%T"])
            .arg(&share)
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "ext2/ext3");
        if ext4 {
            // The best of the candidates beats a random name with probability 1 − 1/candidates,
            // so in a folder of 300 names one may still come first: the canary is among the
            // first entries, and first in most folders.
            let head: Vec<PathBuf> = std::fs::read_dir(&share)
                .expect("ls")
                .flatten()
                .take(3)
                .map(|e| e.path())
                .collect();
            assert!(
                head.iter().any(|h| p.files.contains(h)),
                "{head:?} {:?}",
                p.files
            );
        }
    }
}
