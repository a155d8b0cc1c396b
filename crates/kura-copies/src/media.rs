//! Offline disks: a registry of labelled disks, each identified by a disk-id file on the disk.
//!
//! Pure data and file IO; the repository copy onto a disk is the engine's job. The registry is a
//! JSON file in a state directory chosen by the caller, written atomically (temp file + rename).

use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Name of the disk-id file at the root of a registered disk.
pub const DISK_ID_FILE: &str = ".kura-disk.json";

/// Name of the registry file in the state directory.
pub const REGISTRY_FILE: &str = "disks.json";

/// A disk not exported to for this many days is overdue (weekly rotation).
pub const DEFAULT_OVERDUE_DAYS: u32 = 7;

/// The disk-id file written on the disk itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskIdFile {
    /// Random UUID (v4) of this disk.
    pub disk_id: String,
    /// The label given when it was registered.
    pub label: String,
    /// When it was registered.
    pub registered_at: Timestamp,
}

/// One export to a disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRecord {
    /// When the export finished.
    pub at: Timestamp,
    /// The snapshot ids the disk holds after this export.
    pub snapshots: Vec<String>,
}

/// A registered disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskRecord {
    /// Operator's label (`disk-a`, written on the case).
    pub label: String,
    /// The UUID in the disk-id file.
    pub disk_id: String,
    /// When it was registered.
    pub registered_at: Timestamp,
    /// Where it was mounted at registration.
    pub path_at_registration: PathBuf,
    /// Exports, oldest first.
    pub exports: Vec<ExportRecord>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    version: u32,
    disks: Vec<DiskRecord>,
}

/// A disk's state, as `kura disk list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiskStatus {
    /// The label.
    pub label: String,
    /// The disk id.
    pub disk_id: String,
    /// When it was registered.
    pub registered_at: Timestamp,
    /// The last export, if any.
    pub last_export: Option<Timestamp>,
    /// Whole days since the last export (or since registration when never exported).
    pub age_days: i64,
    /// Snapshots held after the last export.
    pub snapshots: Vec<String>,
    /// Not exported to within the overdue period (or never).
    pub overdue: bool,
}

/// The registry of offline disks.
#[derive(Debug)]
pub struct MediaRegistry {
    path: PathBuf,
    file: RegistryFile,
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// Write `bytes` to `path` atomically and durably: temp file in the same directory, fsync, rename.
/// Used for every small state file kura keeps (disk and remote registries).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err("create a file in", dir))?;
    tmp.write_all(bytes).map_err(io_err("write", path))?;
    tmp.as_file().sync_all().map_err(io_err("sync", path))?;
    tmp.persist(path).map_err(|e| Error::Io {
        action: "replace",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    // Make the rename itself durable; some filesystems cannot open a directory for sync.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A random v4 UUID (RFC 9562 §5.4: version 4, variant 10).
fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Read the disk-id file of the disk mounted at `path`.
pub fn read_disk_id(path: &Path) -> Result<DiskIdFile> {
    let file = path.join(DISK_ID_FILE);
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotAKuraDisk {
                path: path.to_path_buf(),
            });
        }
        Err(e) => {
            return Err(Error::Io {
                action: "read",
                path: file,
                source: e,
            });
        }
    };
    serde_json::from_slice(&bytes).map_err(|source| Error::Json { path: file, source })
}

impl MediaRegistry {
    /// Open the registry in `state_dir` (created empty when absent).
    pub fn open(state_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(state_dir).map_err(io_err("create", state_dir))?;
        let path = state_dir.join(REGISTRY_FILE);
        let file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::Json {
                path: path.clone(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RegistryFile {
                version: 1,
                disks: Vec::new(),
            },
            Err(e) => {
                return Err(Error::Io {
                    action: "read",
                    path,
                    source: e,
                });
            }
        };
        Ok(Self { path, file })
    }

    fn save(&self) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.file).map_err(|source| Error::Json {
            path: self.path.clone(),
            source,
        })?;
        write_atomic(&self.path, &bytes)
    }

    /// The registered disks.
    pub fn disks(&self) -> &[DiskRecord] {
        &self.file.disks
    }

    /// The record for `label`.
    pub fn disk(&self, label: &str) -> Result<&DiskRecord> {
        self.file
            .disks
            .iter()
            .find(|d| d.label == label)
            .ok_or_else(|| Error::UnknownDisk {
                label: label.to_string(),
            })
    }

    /// Register the disk mounted at `path` as `label`: write a fresh disk-id file on it and record
    /// it. A disk already carrying the id of a registered disk is refused; one carrying an
    /// unknown id (its registry was lost) is re-adopted under its id.
    pub fn add(&mut self, path: &Path, label: &str) -> Result<DiskRecord> {
        let label = label.trim();
        if label.is_empty() || label.len() > 64 || label.chars().any(|c| c.is_control() || c == '/')
        {
            return Err(Error::InvalidOptions(format!(
                "disk label {label:?} must be 1-64 printable characters without '/'"
            )));
        }
        if self.file.disks.iter().any(|d| d.label == label) {
            return Err(Error::AlreadyRegistered {
                label: label.to_string(),
                detail: "the label is taken".into(),
            });
        }
        let meta = std::fs::metadata(path).map_err(io_err("open disk", path))?;
        if !meta.is_dir() {
            return Err(Error::Io {
                action: "use disk",
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    "not a directory (mount point expected)",
                ),
            });
        }
        let disk_id = match read_disk_id(path) {
            Ok(existing) => {
                if let Some(d) = self
                    .file
                    .disks
                    .iter()
                    .find(|d| d.disk_id == existing.disk_id)
                {
                    return Err(Error::AlreadyRegistered {
                        label: d.label.clone(),
                        detail: format!("the disk at {} is that disk", path.display()),
                    });
                }
                existing.disk_id
            }
            Err(Error::NotAKuraDisk { .. }) => uuid_v4(),
            Err(e) => return Err(e),
        };
        let now = Timestamp::now();
        let id_file = DiskIdFile {
            disk_id: disk_id.clone(),
            label: label.to_string(),
            registered_at: now,
        };
        let bytes = serde_json::to_vec_pretty(&id_file).map_err(|source| Error::Json {
            path: path.join(DISK_ID_FILE),
            source,
        })?;
        write_atomic(&path.join(DISK_ID_FILE), &bytes)?;
        let record = DiskRecord {
            label: label.to_string(),
            disk_id,
            registered_at: now,
            path_at_registration: path.to_path_buf(),
            exports: Vec::new(),
        };
        self.file.disks.push(record.clone());
        self.save()?;
        Ok(record)
    }

    /// Check that the disk mounted at `path` is the one registered as `label`.
    pub fn check_identity(&self, label: &str, path: &Path) -> Result<&DiskRecord> {
        let record = self.disk(label)?;
        let found = read_disk_id(path)?;
        if found.disk_id != record.disk_id {
            let known = self.file.disks.iter().find(|d| d.disk_id == found.disk_id);
            let found_name = match known {
                Some(d) => format!("disk {}", d.label),
                None => format!(
                    "an unregistered disk (id {}, labelled {})",
                    found.disk_id, found.label
                ),
            };
            return Err(Error::WrongDisk {
                label: label.to_string(),
                expected: record.disk_id.clone(),
                found: found_name,
                path: path.to_path_buf(),
            });
        }
        Ok(record)
    }

    /// Record that an export to `label` finished at `at`, after which the disk holds `snapshots`.
    pub fn record_export(
        &mut self,
        label: &str,
        snapshots: &[String],
        at: Timestamp,
    ) -> Result<()> {
        let disk = self
            .file
            .disks
            .iter_mut()
            .find(|d| d.label == label)
            .ok_or_else(|| Error::UnknownDisk {
                label: label.to_string(),
            })?;
        let mut snapshots = snapshots.to_vec();
        snapshots.sort();
        snapshots.dedup();
        disk.exports.push(ExportRecord { at, snapshots });
        disk.exports.sort_by_key(|e| e.at);
        self.save()
    }

    /// Every disk's state at `now`; a disk is overdue when not exported to for `overdue_days`.
    pub fn list(&self, now: Timestamp, overdue_days: u32) -> Vec<DiskStatus> {
        self.file
            .disks
            .iter()
            .map(|d| {
                let last = d.exports.last();
                let since = last.map_or(d.registered_at, |e| e.at);
                let age_secs = now.as_second().saturating_sub(since.as_second()).max(0);
                DiskStatus {
                    label: d.label.clone(),
                    disk_id: d.disk_id.clone(),
                    registered_at: d.registered_at,
                    last_export: last.map(|e| e.at),
                    age_days: age_secs / 86_400,
                    snapshots: last.map(|e| e.snapshots.clone()).unwrap_or_default(),
                    overdue: last.is_none() || age_secs > i64::from(overdue_days) * 86_400,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_version_and_variant() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(u, uuid_v4());
    }
}
