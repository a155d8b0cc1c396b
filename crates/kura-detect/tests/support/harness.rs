//! Shared by `tests/integration.rs` and `examples/eval.rs`: profile a tree as the backup would,
//! diff two scans into `TreeChanges`, and judge a snapshot.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};
use std::io::Read;
use std::path::Path;

use kura_detect::{
    Baseline, ChangeCounts, FileProfile, Finding, Judgement, Profiler, TreeChanges, judge_file,
    judge_snapshot,
};

/// One scanned file: its profile and a content hash (to tell modified from unchanged).
#[derive(Clone, Debug)]
pub struct Entry {
    pub profile: FileProfile,
    pub hash: u64,
}

/// A scan of a tree: relative path ('/'-separated) → entry.
pub type Scan = BTreeMap<String, Entry>;

/// Profiles every file with a [`Profiler`] over its full bytes, in 64 KiB reads.
pub fn scan(root: &Path) -> std::io::Result<Scan> {
    let mut out = Scan::new();
    let mut buf = vec![0u8; 64 * 1024];
    for f in kura_testkit::tree::list_files(root)? {
        let rel = f
            .strip_prefix(root)
            .map_err(std::io::Error::other)?
            .to_string_lossy()
            .replace('\\', "/");
        let mut p = Profiler::new(&rel);
        let mut h = DefaultHasher::new();
        let mut file = std::fs::File::open(&f)?;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            p.update(&buf[..n]);
            h.write(&buf[..n]);
        }
        out.insert(
            rel,
            Entry {
                profile: p.finish(),
                hash: h.finish(),
            },
        );
    }
    Ok(out)
}

/// What changed from `prev` to `cur`, by path.
pub fn diff(prev: &Scan, cur: &Scan) -> TreeChanges {
    let mut c = TreeChanges::default();
    for (p, e) in cur {
        match prev.get(p) {
            None => c.added.push((p.clone(), e.profile.size)),
            Some(o) if o.hash != e.hash => c.modified.push(p.clone()),
            Some(_) => c.unchanged += 1,
        }
    }
    for (p, e) in prev {
        if !cur.contains_key(p) {
            c.deleted.push((p.clone(), e.profile.size));
        }
    }
    c
}

/// Per-file findings for every added or modified file, as the backup would produce them.
pub fn file_findings(prev: &Scan, cur: &Scan, changes: &TreeChanges) -> Vec<Finding> {
    let mut out = Vec::new();
    for (p, _) in &changes.added {
        out.extend(judge_file(p, None, &cur[p].profile));
    }
    for p in &changes.modified {
        out.extend(judge_file(p, Some(&prev[p].profile), &cur[p].profile));
    }
    out
}

/// Judges `cur` against `prev`.
pub fn judge(prev: &Scan, cur: &Scan, baseline: &Baseline) -> (Judgement, TreeChanges) {
    let changes = diff(prev, cur);
    let f = file_findings(prev, cur, &changes);
    (judge_snapshot(f, &changes, baseline), changes)
}

/// A baseline learned from a few quiet days (2% new files, 0.5% modified).
pub fn quiet_baseline(files: u64) -> Baseline {
    let mut b = Baseline::default();
    for i in 0..5 {
        b.learn(&ChangeCounts {
            files,
            added: files / 50,
            deleted: i,
            modified: files / 200 + i,
        });
    }
    b
}

/// An attack: (name, function over a dir with seed and share of files).
pub type Attack = fn(&Path, u64, f64) -> std::io::Result<Vec<std::path::PathBuf>>;

pub fn attacks() -> Vec<(&'static str, Attack)> {
    use kura_testkit::attack::*;
    vec![
        (
            "whole file + rename + notes",
            encrypt_whole_with_rename_and_notes,
        ),
        ("first 4 KiB + random extension", encrypt_head_4k_random_ext),
        ("intermittent 16/64 KiB", intermittent),
        ("header-preserving", header_preserving),
        ("encrypt to new + delete", encrypt_to_new_and_delete),
        ("base64 ciphertext", base64_ciphertext),
        ("wipe with zeros", wipe_zeros),
    ]
}

/// A benign workload over a dir with a seed.
pub type Workload = fn(&Path, u64) -> std::io::Result<()>;

pub fn workloads() -> Vec<(&'static str, Workload)> {
    use kura_testkit::tree::*;
    vec![
        ("clinic day", clinic_day),
        ("PACS ingest (1,500 images)", pacs_ingest),
        ("monthly archive", monthly_archive),
        ("new scans batch", new_scans),
        ("folder reorganisation", reorganise),
        ("database dump rewrite", db_dump_rewrite),
    ]
}

/// Copies a directory tree (to run many workloads on one generated tree).
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for f in kura_testkit::tree::list_files(from)? {
        let rel = f.strip_prefix(from).map_err(std::io::Error::other)?;
        let dst = to.join(rel);
        if let Some(p) = dst.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::copy(&f, &dst)?;
    }
    Ok(())
}
