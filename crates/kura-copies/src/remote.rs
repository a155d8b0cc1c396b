//! Remote copies: the registry of remotes (`remotes.json`, no credentials), opening a remote's
//! repository, and push, verify and lock extension.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use kura_engine::{Location, LockMode, ObjectKind, ObjectStore, ProgressReporter, Repo};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::media::write_atomic;
use crate::s3::{S3LockStore, S3Options, VerifyReport};
use crate::status::CopyKind;

/// The registry file in the state directory.
pub const REMOTES_FILE: &str = "remotes.json";

/// The storage a remote is kept on. Each kind says whether it is immutable, which is what the
/// 3-2-1-1-0 status counts (see [`CopyKind::offline_or_immutable`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RemoteKind {
    /// An S3 bucket with Object Lock in COMPLIANCE mode ([`S3LockStore`]).
    #[default]
    S3ObjectLock,
}

impl RemoteKind {
    /// The kind of copy it is in the status.
    pub fn copy_kind(self) -> CopyKind {
        match self {
            RemoteKind::S3ObjectLock => CopyKind::S3,
        }
    }
}

/// A registered remote and what kura last did with it (no credentials are stored).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteRecord {
    /// The backend (absent in registries written before kinds existed: S3 with Object Lock).
    #[serde(default)]
    pub kind: RemoteKind,
    /// How to reach the bucket.
    pub options: S3Options,
    /// The last successful push.
    pub last_push: Option<Timestamp>,
    /// The last verification.
    pub last_verify: Option<Timestamp>,
    /// Problems the last verification found.
    pub last_verify_errors: u64,
}

impl RemoteRecord {
    /// A remote that nothing has been pushed to yet.
    pub fn new(kind: RemoteKind, options: S3Options) -> Self {
        RemoteRecord {
            kind,
            options,
            last_push: None,
            last_verify: None,
            last_verify_errors: 0,
        }
    }

    /// Connect to the remote's storage (refuses a bucket without Object Lock).
    pub fn connect(&self) -> Result<Arc<S3LockStore>> {
        match self.kind {
            RemoteKind::S3ObjectLock => Ok(Arc::new(S3LockStore::connect(&self.options)?)),
        }
    }
}

/// The remotes registered in a state directory.
#[derive(Debug, Clone)]
pub struct RemoteRegistry {
    path: PathBuf,
}

impl RemoteRegistry {
    /// The registry in `state_dir` (the file is created on the first save).
    pub fn open(state_dir: &Path) -> Self {
        RemoteRegistry {
            path: state_dir.join(REMOTES_FILE),
        }
    }

    /// Every remote by name.
    pub fn load(&self) -> Result<BTreeMap<String, RemoteRecord>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| Error::RemoteRegistryDamaged {
                    path: self.path.clone(),
                    source,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(source) => Err(Error::Io {
                action: "read",
                path: self.path.clone(),
                source,
            }),
        }
    }

    fn save(&self, remotes: &BTreeMap<String, RemoteRecord>) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            action: "create",
            path: dir.to_path_buf(),
            source,
        })?;
        let bytes = serde_json::to_vec_pretty(remotes).map_err(|source| Error::Json {
            path: self.path.clone(),
            source,
        })?;
        write_atomic(&self.path, &bytes)
    }

    /// One remote by name.
    pub fn get(&self, name: &str) -> Result<RemoteRecord> {
        self.load()?
            .remove(name)
            .ok_or_else(|| Error::UnknownRemote {
                name: name.to_string(),
            })
    }

    /// Register a new remote; refuses a name that is taken.
    pub fn add(&self, name: &str, record: RemoteRecord) -> Result<()> {
        let mut remotes = self.load()?;
        if remotes.contains_key(name) {
            return Err(Error::RemoteExists {
                name: name.to_string(),
            });
        }
        remotes.insert(name.to_string(), record);
        self.save(&remotes)
    }

    /// Replace a remote's record.
    pub fn update(&self, name: &str, record: RemoteRecord) -> Result<()> {
        let mut remotes = self.load()?;
        remotes.insert(name.to_string(), record);
        self.save(&remotes)
    }

    /// Whether a remote of this name is registered.
    pub fn contains(&self, name: &str) -> Result<bool> {
        Ok(self.load()?.contains_key(name))
    }
}

/// How to open a remote's repository: its password, pacing and progress.
#[derive(Clone)]
pub struct RemoteAccess<'a> {
    /// The repository password (the main repository's).
    pub password: &'a str,
    /// Average upload limit in KiB/s (the hospital's uplink is shared).
    pub limit_upload_kib: Option<u64>,
    /// Average download limit in KiB/s.
    pub limit_download_kib: Option<u64>,
    /// Progress reporting.
    pub progress: Arc<dyn ProgressReporter>,
}

/// Open the repository in a remote's store, paced to the access limits.
pub fn open_remote_repo(store: &Arc<S3LockStore>, access: &RemoteAccess<'_>) -> Result<Repo> {
    let store: Arc<dyn ObjectStore> = store.clone();
    let (up, down) = (access.limit_upload_kib, access.limit_download_kib);
    let store: Arc<dyn ObjectStore> = if up.is_some() || down.is_some() {
        Arc::new(kura_engine::Throttled::new(store, up, down))
    } else {
        store
    };
    Repo::open(
        Location::Store(store),
        access.password,
        LockMode::Shared,
        access.progress.clone(),
    )
    .map_err(|e| Error::engine("opening the remote repository", e))
}

/// Make the repository in a new remote's store: a fresh one like `main` (same chunker, so the
/// copies deduplicate), or check that an existing one opens with the password.
pub fn prepare_remote_repo(
    store: &Arc<S3LockStore>,
    main: &Repo,
    access: &RemoteAccess<'_>,
) -> Result<()> {
    let dyn_store: Arc<dyn ObjectStore> = store.clone();
    let empty = dyn_store
        .list(ObjectKind::Config)
        .map_err(|e| Error::Listing {
            message: e.to_string(),
        })?
        .is_empty();
    if empty {
        Repo::init_like(
            Location::Store(dyn_store),
            access.password,
            main,
            access.progress.clone(),
        )
        .map_err(|e| Error::engine("creating the repository in the bucket", e))?;
    } else {
        open_remote_repo(store, access).map_err(|e| Error::Wrapped {
            context: "the bucket already holds a repository that does not open with this password"
                .into(),
            source: Box::new(e),
        })?;
    }
    Ok(())
}

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    /// Snapshot ids copied (those already on the remote are skipped).
    pub copied: Vec<String>,
    /// The lock verification that follows every push.
    pub verify: VerifyReport,
}

/// Copy snapshots `ids` from `main` to the remote `name`, verify every object's lock, and record
/// the push in `registry`. A failed verification is in the report, not an error.
pub fn push_to_remote(
    registry: &RemoteRegistry,
    name: &str,
    main: &mut Repo,
    store: &Arc<S3LockStore>,
    access: &RemoteAccess<'_>,
    ids: &[String],
) -> Result<PushReport> {
    let mut record = registry.get(name)?;
    let mut remote = open_remote_repo(store, access)?;
    let copied = main.copy_to(&mut remote, ids).map_err(|e| {
        Error::engine(
            format!("push to remote {name} stopped; run it again to resume"),
            e,
        )
    })?;
    let verify = store.verify(false)?;
    record.last_push = Some(Timestamp::now());
    record.last_verify = Some(verify.checked_at);
    record.last_verify_errors = verify.errors.len() as u64;
    registry.update(name, record)?;
    Ok(PushReport { copied, verify })
}

/// What a verification of a remote found.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteVerifyReport {
    /// The lock verification of every object.
    pub report: VerifyReport,
    /// Every problem, lock and (with `read_data`) repository check, one line each.
    pub errors: Vec<String>,
}

/// Verify every object's lock in the remote `name` and, with `read_data`, read back and check
/// the whole repository; record the result in `registry`.
pub fn verify_remote(
    registry: &RemoteRegistry,
    name: &str,
    store: &Arc<S3LockStore>,
    access: &RemoteAccess<'_>,
    read_data: bool,
) -> Result<RemoteVerifyReport> {
    let mut record = registry.get(name)?;
    let report = store.verify(read_data)?;
    let mut errors: Vec<String> = report
        .errors
        .iter()
        .map(|p| format!("{}: {}", p.key, p.problem))
        .collect();
    if read_data {
        let repo = open_remote_repo(store, access)?;
        let check = repo
            .check(true)
            .map_err(|e| Error::engine("checking the remote repository", e))?;
        errors.extend(check.errors);
    }
    record.last_verify = Some(report.checked_at);
    record.last_verify_errors = errors.len() as u64;
    registry.update(name, record)?;
    Ok(RemoteVerifyReport { report, errors })
}

/// Push every object's lock in the remote forward (never backward) to `now` + the retention
/// period of its kind. Every object still in the bucket belongs to a generation kura copied
/// and keeps. Returns how many objects got a later date.
pub fn extend_locks(record: &RemoteRecord, store: &S3LockStore, now: Timestamp) -> Result<u64> {
    let mut extended = 0u64;
    for kind in ObjectKind::ALL {
        for (id, _) in ObjectStore::list(store, kind).map_err(|e| Error::Listing {
            message: e.to_string(),
        })? {
            let until = record.options.retention.retain_until(kind, now);
            if store
                .lock_of(kind, &id)?
                .retain_until
                .is_none_or(|t| t < until)
            {
                store.extend_retention(kind, &id, until)?;
                extended += 1;
            }
        }
    }
    Ok(extended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::RetentionPolicy;

    fn options() -> S3Options {
        S3Options {
            endpoint: Some("http://127.0.0.1:1".into()),
            region: "us-east-1".into(),
            bucket: "kura".into(),
            prefix: String::new(),
            retention: RetentionPolicy {
                snapshot_days: 30,
                data_days: 30,
            },
            profile: None,
            credentials_file: None,
        }
    }

    #[test]
    fn registry_round_trips_and_refuses_a_taken_name() {
        let dir = tempfile::tempdir().unwrap();
        let reg = RemoteRegistry::open(dir.path());
        assert!(reg.load().unwrap().is_empty());
        reg.add(
            "offsite",
            RemoteRecord::new(RemoteKind::S3ObjectLock, options()),
        )
        .unwrap();
        let err = reg
            .add(
                "offsite",
                RemoteRecord::new(RemoteKind::S3ObjectLock, options()),
            )
            .unwrap_err();
        assert!(matches!(err, Error::RemoteExists { .. }), "{err}");
        let mut rec = reg.get("offsite").unwrap();
        assert_eq!(rec.options.bucket, "kura");
        rec.last_verify_errors = 2;
        reg.update("offsite", rec).unwrap();
        assert_eq!(reg.get("offsite").unwrap().last_verify_errors, 2);
        let err = reg.get("other").unwrap_err();
        assert!(err.to_string().contains("kura remote add"), "{err}");
    }

    #[test]
    fn a_registry_written_before_kinds_reads_as_s3_object_lock() {
        let dir = tempfile::tempdir().unwrap();
        let mut old = serde_json::to_value(BTreeMap::from([(
            "offsite".to_string(),
            RemoteRecord::new(RemoteKind::S3ObjectLock, options()),
        )]))
        .unwrap();
        old["offsite"].as_object_mut().unwrap().remove("kind");
        std::fs::write(dir.path().join(REMOTES_FILE), old.to_string()).unwrap();
        let rec = RemoteRegistry::open(dir.path()).get("offsite").unwrap();
        assert_eq!(rec.kind, RemoteKind::S3ObjectLock);
        assert!(rec.kind.copy_kind().offline_or_immutable());
    }

    #[test]
    fn a_damaged_registry_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(REMOTES_FILE), b"{not json").unwrap();
        let err = RemoteRegistry::open(dir.path()).load().unwrap_err();
        assert!(err.to_string().contains("is damaged"), "{err}");
    }
}
