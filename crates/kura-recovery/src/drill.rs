//! One restore drill: scratch restore, byte verification, SS-MIX2 readability, RTO phases and a
//! rolling pack read.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;

use kura_engine::{DamagedFile, PackReadReport, Repo};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How much of the snapshot a drill restores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "percent")]
pub enum DrillScope {
    /// Every file.
    Full,
    /// About this percentage of the files (at least one), chosen anew on each drill.
    Sample(f64),
}

/// The default sample: a tenth of the files.
pub const DEFAULT_SAMPLE_PERCENT: f64 = 10.0;

/// Into how many parts the packs are split for the rolling read. With daily drills every pack
/// is read within a month (restic's `--read-data-subset n/30`).
pub const DEFAULT_READ_PARTS: u32 = 30;

/// What to drill.
#[derive(Debug, Clone)]
pub struct DrillOptions {
    /// Snapshot reference (`latest-clean`, `latest` or an id prefix).
    pub snapshot: String,
    /// The copy's name as the operator gives it (`local`, `disk:LABEL`, `remote:NAME`).
    pub copy: String,
    /// Full or sample.
    pub scope: DrillScope,
    /// Where to make the scratch folder (default: the system's temporary directory). The
    /// scratch folder is always removed afterwards; nothing else under `target` is touched.
    pub target: Option<PathBuf>,
    /// Which part of the packs to read this time, `(part, of)`, 1-based.
    pub read_part: (u32, u32),
    /// Seed for the sample (differs per drill so that samples cover the data over time).
    pub seed: u64,
}

/// Pass or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DrillResult {
    /// Every chosen file restored, byte for byte, and patient data readable.
    Pass,
    /// Something could not be restored, verified or read.
    Fail,
}

/// Durations of the phases, in seconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Phases {
    /// Opening the repository and loading its index.
    pub open: f64,
    /// Finding the snapshot, walking its tree, planning the restore.
    pub locate: f64,
    /// Fetching packs and writing files.
    pub fetch_write: f64,
    /// Verifying every restored byte and reading the SS-MIX2 files.
    pub verify: f64,
    /// The rolling pack read (not part of the RTO).
    pub pack_read: f64,
}

/// SS-MIX2 files found among the restored files, and whether they could be read.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SsmixCheck {
    /// SS-MIX2 storage files read.
    pub files: u64,
    /// Patients found in them.
    pub patients: u64,
    /// Files that could not be read as HL7 (path and reason).
    pub unreadable: Vec<String>,
}

/// The outcome of one drill (the `--json` document and the history record).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrillReport {
    /// History id (set when recorded).
    #[serde(default)]
    pub id: u64,
    /// `pass` or `fail`.
    pub result: DrillResult,
    /// When the drill started (UTC).
    pub started: jiff::Timestamp,
    /// The snapshot's full id (empty when the drill could not start).
    pub snapshot: String,
    /// The snapshot's time (RFC 3339).
    #[serde(default)]
    pub snapshot_time: String,
    /// The copy drilled (`local`, `disk:LABEL`, `remote:NAME`).
    pub copy: String,
    /// Full or sample.
    pub scope: DrillScope,
    /// Seconds to a verified restore: open + locate + fetch_write + verify.
    pub rto_seconds: f64,
    /// For a sample: the estimated seconds of a full restore at the measured throughput.
    pub estimated_full_rto_seconds: f64,
    /// Bytes per second of fetch, write and verify together.
    pub throughput_bytes_per_sec: f64,
    /// Files in the snapshot.
    pub files_total: u64,
    /// Bytes in the snapshot.
    pub bytes_total: u64,
    /// Files the drill restored.
    pub files_restored: u64,
    /// Files whose bytes matched the snapshot.
    pub files_verified: u64,
    /// Bytes so verified.
    pub bytes_verified: u64,
    /// Every problem, one line each, naming packs and files.
    pub errors: Vec<String>,
    /// Files that did not match (at most [`MAX_DAMAGED_LISTED`]).
    pub damaged: Vec<DamagedFile>,
    /// Patient data readability.
    pub ssmix: SsmixCheck,
    /// The rolling pack read done by this drill.
    pub pack_read: Option<PackReadReport>,
    /// Phase durations.
    pub phases: Phases,
}

/// Damaged files kept in a report; the count of all of them is in `errors`.
pub const MAX_DAMAGED_LISTED: usize = 200;

impl DrillReport {
    /// A failed drill that could not start (e.g. the disk's repository did not open).
    pub fn not_started(
        copy: &str,
        scope: DrillScope,
        started: jiff::Timestamp,
        why: String,
    ) -> Self {
        DrillReport {
            id: 0,
            result: DrillResult::Fail,
            started,
            snapshot: String::new(),
            snapshot_time: String::new(),
            copy: copy.into(),
            scope,
            rto_seconds: 0.0,
            estimated_full_rto_seconds: 0.0,
            throughput_bytes_per_sec: 0.0,
            files_total: 0,
            bytes_total: 0,
            files_restored: 0,
            files_verified: 0,
            bytes_verified: 0,
            errors: vec![why],
            damaged: Vec::new(),
            ssmix: SsmixCheck::default(),
            pack_read: None,
            phases: Phases::default(),
        }
    }

    /// Whether the drill passed.
    pub fn passed(&self) -> bool {
        self.result == DrillResult::Pass
    }
}

/// A sample picker: about `percent` of paths, by a seeded hash of the path, and always the
/// first file so that a sample of a small tree is never empty.
fn sample_picker(percent: f64, seed: u64) -> impl FnMut(&str) -> bool {
    let threshold = (percent.clamp(0.0, 100.0) * 100.0) as u64;
    let mut first = true;
    move |path: &str| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut h);
        path.hash(&mut h);
        let pick = h.finish() % 10_000 < threshold;
        let pick = pick || first;
        first = false;
        pick
    }
}

/// Group damaged files by pack into one line per pack.
fn damage_lines(damaged: &[DamagedFile]) -> Vec<String> {
    let mut by_pack: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut no_pack = Vec::new();
    for d in damaged {
        match d.packs.first() {
            Some(p) => by_pack.entry(p.clone()).or_default().push(&d.path),
            None => no_pack.push(format!("file {}: {}", d.path, d.reason)),
        }
    }
    let mut out: Vec<String> = by_pack
        .into_iter()
        .map(|(pack, files)| {
            let shown: Vec<&str> = files.iter().take(10).copied().collect();
            let more = if files.len() > shown.len() {
                format!(" and {} more", files.len() - shown.len())
            } else {
                String::new()
            };
            format!(
                "pack {pack} is damaged: {} file(s) could not be restored intact: {}{more}",
                files.len(),
                shown.join(", ")
            )
        })
        .collect();
    out.extend(no_pack);
    out
}

/// Read every SS-MIX2 storage file under `root` with kura-ssmix.
fn check_ssmix(root: &Path) -> SsmixCheck {
    let mut index = kura_ssmix::PatientIndex::new();
    let mut check = SsmixCheck::default();
    for entry in walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
    {
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_string_lossy();
        if kura_ssmix::parse_storage_path(&rel).is_none() {
            continue;
        }
        check.files += 1;
        let read = std::fs::File::open(entry.path())
            .map_err(|e| e.to_string())
            .and_then(|f| index.add_reader(&rel, f).map_err(|e| e.to_string()));
        if let Err(e) = read {
            check.unreadable.push(e);
        }
    }
    check.patients = index.stats().patients as u64;
    check
}

/// Run one drill on an opened repository. `open_secs` is how long opening it took. Damage is a
/// failed report, not an error; errors are for drills that cannot run at all (no such snapshot,
/// no scratch space).
pub fn run_drill(repo: &mut Repo, open_secs: f64, opts: &DrillOptions) -> Result<DrillReport> {
    let started = jiff::Timestamp::now();
    let base = match &opts.target {
        Some(t) => {
            std::fs::create_dir_all(t).map_err(|e| Error::Scratch {
                path: t.clone(),
                source: e,
            })?;
            t.clone()
        }
        None => std::env::temp_dir(),
    };
    // Removed on drop, whatever happens below.
    let scratch = tempfile::Builder::new()
        .prefix("kura-drill-")
        .tempdir_in(&base)
        .map_err(|e| Error::Scratch {
            path: base.clone(),
            source: e,
        })?;
    let mut pick: Box<dyn FnMut(&str) -> bool> = match opts.scope {
        DrillScope::Full => Box::new(|_: &str| true),
        DrillScope::Sample(p) => Box::new(sample_picker(p, opts.seed)),
    };
    let (part, of) = opts.read_part;
    let mut restore =
        repo.drill_restore(&opts.snapshot, scratch.path(), &mut *pick, Some((part, of)))?;
    let t_ssmix = Instant::now();
    let ssmix = check_ssmix(scratch.path());
    let ssmix_secs = t_ssmix.elapsed().as_secs_f64();
    drop(scratch);

    let pack_read = restore
        .pack_read
        .take()
        .unwrap_or_else(|| Err("it did not run".into()));

    let phases = Phases {
        open: open_secs + restore.index_secs,
        locate: restore.locate_secs,
        fetch_write: restore.fetch_write_secs,
        verify: restore.verify_secs + ssmix_secs,
        pack_read: pack_read.as_ref().map_or(0.0, |p| p.secs),
    };
    let rto = phases.open + phases.locate + phases.fetch_write + phases.verify;
    let moving = phases.fetch_write + phases.verify;
    let throughput = if moving > 0.0 {
        restore.bytes_selected as f64 / moving
    } else {
        0.0
    };
    let estimated_full = match opts.scope {
        DrillScope::Full => rto,
        DrillScope::Sample(_) if restore.bytes_selected > 0 => {
            phases.open
                + phases.locate
                + moving * restore.bytes_total as f64 / restore.bytes_selected as f64
        }
        DrillScope::Sample(_) => rto,
    };

    let mut errors = Vec::new();
    if let Some(e) = &restore.restore_error {
        errors.push(format!("the restore stopped: {e}"));
    }
    errors.extend(damage_lines(&restore.damaged));
    errors.extend(
        ssmix
            .unreadable
            .iter()
            .map(|u| format!("patient data cannot be read: {u}")),
    );
    let pack_read = match pack_read {
        Ok(p) => {
            errors.extend(
                p.errors
                    .iter()
                    .map(|e| format!("rolling pack read {}/{}: {e}", p.part, p.of)),
            );
            Some(p)
        }
        Err(e) => {
            errors.push(format!("rolling pack read {part}/{of} failed: {e}"));
            None
        }
    };
    let mut damaged = restore.damaged;
    damaged.truncate(MAX_DAMAGED_LISTED);
    Ok(DrillReport {
        id: 0,
        result: if errors.is_empty() {
            DrillResult::Pass
        } else {
            DrillResult::Fail
        },
        started,
        snapshot: restore.snapshot.id.clone(),
        snapshot_time: restore.snapshot.time.clone(),
        copy: opts.copy.clone(),
        scope: opts.scope,
        rto_seconds: rto,
        estimated_full_rto_seconds: estimated_full,
        throughput_bytes_per_sec: throughput,
        files_total: restore.files_total,
        bytes_total: restore.bytes_total,
        files_restored: restore.files_selected,
        files_verified: restore.files_verified,
        bytes_verified: restore.bytes_verified,
        errors,
        damaged,
        ssmix,
        pack_read,
        phases,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_never_empty_and_roughly_the_percentage() {
        let mut pick = sample_picker(0.0, 7);
        assert!(pick("a"));
        assert!(!pick("b"));
        let mut pick = sample_picker(10.0, 7);
        let n = (0..10_000).filter(|i| pick(&format!("srv/f{i}"))).count();
        assert!((800..1200).contains(&n), "{n}");
        let mut all = sample_picker(100.0, 1);
        assert!((0..100).all(|i| all(&format!("{i}"))));
    }

    #[test]
    fn damage_is_grouped_by_pack_and_names_files() {
        let d = |p: &str, pack: &str| DamagedFile {
            path: p.into(),
            packs: vec![pack.into()],
            reason: "content".into(),
        };
        let lines = damage_lines(&[d("a", "p1"), d("b", "p1"), d("c", "p2")]);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("pack p1") && lines[0].contains("a, b"));
        assert!(lines[1].contains("pack p2") && lines[1].contains('c'));
    }
}
