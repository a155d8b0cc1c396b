//! An offline disk's repository: made on registration, filled and verified by an export.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use kura_engine::{Location, LockMode, ProgressReporter, Repo};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::media::MediaRegistry;

/// The repository folder on a disk.
pub fn disk_repo(mount: &Path) -> PathBuf {
    mount.join("kura-repository")
}

/// Make the repository on a newly registered disk like `main` (same chunker parameters, so
/// generations on the disk deduplicate), or check that the one already there opens.
pub fn prepare_disk_repo(
    main: &Repo,
    mount: &Path,
    password: &str,
    progress: Arc<dyn ProgressReporter>,
) -> Result<PathBuf> {
    let repo_path = disk_repo(mount);
    if repo_path.join("config").exists() {
        Repo::open(
            Location::Local(repo_path.clone()),
            password,
            LockMode::Shared,
            progress,
        )
        .map_err(|e| {
            Error::engine(
                "the disk already holds a kura repository that does not open with this password",
                e,
            )
        })?;
    } else {
        Repo::init_like(Location::Local(repo_path.clone()), password, main, progress)
            .map_err(|e| Error::engine("creating the repository on the disk", e))?;
    }
    Ok(repo_path)
}

/// How to reach a disk for an export.
#[derive(Clone)]
pub struct ExportOptions<'a> {
    /// The repository password (the main repository's).
    pub password: &'a str,
    /// Average write limit in KiB/s: a disk on a shared link (a NAS share used as rotation
    /// media) is paced like a remote.
    pub limit_upload_kib: Option<u64>,
    /// Average read limit in KiB/s, for the read-back verification.
    pub limit_download_kib: Option<u64>,
    /// Progress reporting.
    pub progress: Arc<dyn ProgressReporter>,
}

/// What an export did.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// The disk's label.
    pub label: String,
    /// Snapshot ids copied (those already on the disk are skipped).
    pub copied: Vec<String>,
    /// Every snapshot id the disk holds afterwards (empty when the verification failed).
    pub held: Vec<String>,
    /// Errors of the read-back verification of every byte on the disk (empty: verified).
    pub verify_errors: Vec<String>,
}

impl ExportReport {
    /// Whether the disk verified without errors (only then is the export recorded).
    pub fn verified(&self) -> bool {
        self.verify_errors.is_empty()
    }
}

/// Copy snapshots `ids` from `main` to the registered disk `label` mounted at `mount`, read every
/// byte back, and record the export in `registry` when the disk verified. Refuses a disk that
/// is not the registered one (a swapped or foreign disk).
pub fn export_to_disk(
    registry: &mut MediaRegistry,
    main: &mut Repo,
    label: &str,
    mount: &Path,
    ids: &[String],
    opts: &ExportOptions<'_>,
) -> Result<ExportReport> {
    registry.check_identity(label, mount)?;
    let mut disk = Repo::open(
        Location::Local(disk_repo(mount)).paced(opts.limit_upload_kib, opts.limit_download_kib),
        opts.password,
        LockMode::Shared,
        opts.progress.clone(),
    )
    .map_err(|e| {
        Error::engine(
            format!(
                "cannot open the repository on disk {label} at {}",
                mount.display()
            ),
            e,
        )
    })?;
    let copied = main.copy_to(&mut disk, ids).map_err(|e| {
        Error::engine(
            format!("export to disk {label} stopped (disk pulled or full?); the disk's repository stays valid and the next export resumes"),
            e,
        )
    })?;
    let check = disk
        .check(true)
        .map_err(|e| Error::engine(format!("verifying disk {label}"), e))?;
    let mut report = ExportReport {
        label: label.to_string(),
        copied,
        held: Vec::new(),
        verify_errors: check.errors,
    };
    if !report.verified() {
        return Ok(report);
    }
    report.held = disk
        .snapshots()
        .map_err(|e| Error::engine(format!("listing the snapshots on disk {label}"), e))?
        .into_iter()
        .map(|s| s.id)
        .collect();
    registry.record_export(label, &report.held, Timestamp::now())?;
    Ok(report)
}
