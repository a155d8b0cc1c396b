//! Opening and creating repositories, and the advisory lock that serialises prune against backup.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustic_core::{
    ConfigOptions, Credentials, GlobalIndex, KeyOptions, OpenStatus, Repository,
    RepositoryBackends, RepositoryOptions,
};

use crate::backend::StoreBackend;
use crate::error::{Error, Result, RusticContext};
use crate::progress::{ProgressAdapter, ProgressReporter};
use crate::store::ObjectStore;

/// What a repository's encryption rests on ([`Repo::encryption`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Encryption {
    /// Repository format version (2: compressed).
    pub version: u32,
    /// Key files (each opens the master key with one password).
    pub key_files: u64,
    /// The stored config is ciphertext; `None` for a repository that is not a local directory.
    pub config_ciphertext: Option<bool>,
}

/// Where a repository lives.
#[derive(Clone)]
pub enum Location {
    /// A local directory (the embedded default). Accepts `local:/path` or a bare path.
    Local(PathBuf),
    /// Any kura object store (S3 Object Lock, memory in tests).
    Store(Arc<dyn ObjectStore>),
    /// Another location with its transfers paced to average limits in KiB/s (`--limit-upload`,
    /// `--limit-download`), e.g. an offline disk behind a slow or shared link.
    Paced {
        /// The location itself (its lock and description are used as they are).
        inner: Box<Location>,
        /// Write limit, KiB/s.
        upload_kib: Option<u64>,
        /// Read limit, KiB/s.
        download_kib: Option<u64>,
    },
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Location {
    /// Parse a `-r/--repo` value that names a local directory.
    pub fn parse_local(spec: &str) -> Result<Location> {
        let path = spec.strip_prefix("local:").unwrap_or(spec);
        if path.is_empty() {
            return Err(Error::BadLocation(
                "empty repository location: give -r/--repo or KURA_REPOSITORY".into(),
            ));
        }
        if let Some((scheme, _)) = path.split_once(':')
            && !scheme.contains('/')
            && scheme.len() > 1
        {
            return Err(Error::BadLocation(format!(
                "repository scheme {scheme:?} is not handled here: use a local path, or `kura remote` for S3"
            )));
        }
        Ok(Location::Local(PathBuf::from(path)))
    }

    /// A human description without secrets.
    pub fn describe(&self) -> String {
        match self {
            Location::Local(p) => p.display().to_string(),
            Location::Store(s) => s.location(),
            Location::Paced { inner, .. } => inner.describe(),
        }
    }

    /// This location with transfers paced to the given limits (KiB/s; `None` or 0 = none).
    pub fn paced(self, upload_kib: Option<u64>, download_kib: Option<u64>) -> Location {
        let (upload_kib, download_kib) = (
            upload_kib.filter(|&k| k > 0),
            download_kib.filter(|&k| k > 0),
        );
        if upload_kib.is_none() && download_kib.is_none() {
            return self;
        }
        Location::Paced {
            inner: Box::new(self),
            upload_kib,
            download_kib,
        }
    }

    pub(crate) fn backends(&self) -> Result<RepositoryBackends> {
        let be: Arc<dyn rustic_core::WriteBackend> = match self {
            Location::Local(path) => {
                let s = path.to_str().ok_or_else(|| Error::BadTarget {
                    what: "repository path",
                    path: path.clone(),
                    problem: "not valid UTF-8",
                })?;
                Arc::new(
                    rustic_backend::local::LocalBackend::new(s, Vec::<(String, String)>::new())
                        .ctx("opening the local repository directory")?,
                )
            }
            Location::Store(store) => Arc::new(StoreBackend::new(Arc::clone(store))),
            Location::Paced {
                inner,
                upload_kib,
                download_kib,
            } => Arc::new(crate::throttle::PacedBackend::new(
                inner.backends()?.repository(),
                *upload_kib,
                *download_kib,
            )),
        };
        Ok(RepositoryBackends::new(be, None))
    }

    fn lock_path(&self) -> Option<PathBuf> {
        match self {
            // Outside restic's folders: restic ignores unknown files at the repository root.
            Location::Local(p) => Some(p.join("kura.lock")),
            Location::Store(_) => None,
            Location::Paced { inner, .. } => inner.lock_path(),
        }
    }
}

/// How a command uses the repository, for locking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Reading, or adding data (backup, copy, check, restore): many may run together, since
    /// restic's format only ever adds content-addressed files.
    Shared,
    /// Removing data (forget, prune): nothing else may run.
    Exclusive,
}

/// A held repository lock; released on drop.
#[derive(Debug)]
pub struct RepoLock {
    _file: Option<File>,
}

/// An open repository.
pub struct Repo {
    pub(crate) repo: Option<Repository<OpenStatus>>,
    /// The full index a backup loaded, kept for the next [`Repo::reader`] (which then reads only
    /// the index files the backup wrote); see [`crate::BackupRequest::keep_index`].
    pub(crate) kept_index: Option<GlobalIndex>,
    pub(crate) location: Location,
    _lock: RepoLock,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Repo({})", self.location.describe())
    }
}

fn repository_options() -> RepositoryOptions {
    // Local repositories need no cache; a cache of a remote would be a second copy of
    // metadata to keep consistent, which kura does not need yet.
    RepositoryOptions::default().no_cache(true)
}

fn take_lock(location: &Location, mode: LockMode) -> Result<RepoLock> {
    let Some(path) = location.lock_path() else {
        return Ok(RepoLock { _file: None });
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(format!("cannot open lock file {}", path.display()), e))?;
    let res = match mode {
        LockMode::Shared => file.try_lock_shared(),
        LockMode::Exclusive => file.try_lock(),
    };
    match res {
        Ok(()) => Ok(RepoLock { _file: Some(file) }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Busy {
            location: location.describe(),
            holder: match mode {
                LockMode::Shared => "a forget/prune is running".into(),
                LockMode::Exclusive => {
                    "another kura command (backup, copy, check or restore) is running".into()
                }
            },
        }),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(Error::io(format!("cannot lock {}", path.display()), e))
        }
    }
}

fn prepare(location: &Location, progress: Arc<dyn ProgressReporter>) -> Result<Repository<()>> {
    let backends = location.backends()?;
    Repository::new_with_progress(&repository_options(), &backends, ProgressAdapter(progress))
        .ctx("preparing the repository")
}

fn config_exists(location: &Location, repo: &Repository<()>) -> Result<bool> {
    if let Location::Local(p) = location
        && !p.join("config").is_file()
    {
        return Ok(false);
    }
    Ok(repo
        .config_id()
        .ctx("reading the repository config")?
        .is_some())
}

impl Repo {
    /// Create a new repository. Refuses when one exists already.
    pub fn init(
        location: Location,
        password: &str,
        progress: Arc<dyn ProgressReporter>,
    ) -> Result<Repo> {
        Self::init_inner(location, password, progress, None)
    }

    /// Create a new repository whose chunker parameters equal `template`'s, so that copies
    /// between the two deduplicate (offline disks).
    pub fn init_like(
        location: Location,
        password: &str,
        template: &Repo,
        progress: Arc<dyn ProgressReporter>,
    ) -> Result<Repo> {
        let mut cfg = template.open_repo()?.config().clone();
        cfg.id = rustic_core::Id::random().into();
        Self::init_inner(location, password, progress, Some(cfg))
    }

    fn init_inner(
        location: Location,
        password: &str,
        progress: Arc<dyn ProgressReporter>,
        config: Option<rustic_core::repofile::ConfigFile>,
    ) -> Result<Repo> {
        if let Location::Local(p) = &location {
            std::fs::create_dir_all(p)
                .map_err(|e| Error::io(format!("cannot create {}", p.display()), e))?;
        }
        let repo = prepare(&location, progress)?;
        if config_exists(&location, &repo)? {
            return Err(Error::AlreadyExists {
                location: location.describe(),
            });
        }
        let lock = take_lock(&location, LockMode::Exclusive)?;
        let creds = Credentials::password(password);
        let repo = match config {
            None => repo.init(&creds, &KeyOptions::default(), &ConfigOptions::default()),
            Some(cfg) => repo.init_with_config(&creds, &KeyOptions::default(), cfg),
        }
        .ctx("creating the repository")?;
        Ok(Repo {
            repo: Some(repo),
            kept_index: None,
            location,
            _lock: lock,
        })
    }

    /// Open an existing repository.
    pub fn open(
        location: Location,
        password: &str,
        mode: LockMode,
        progress: Arc<dyn ProgressReporter>,
    ) -> Result<Repo> {
        if let Location::Local(p) = &location
            && !p.is_dir()
        {
            return Err(Error::RepositoryNotFound {
                location: location.describe(),
            });
        }
        let repo = prepare(&location, progress)?;
        if !config_exists(&location, &repo)? {
            return Err(Error::RepositoryNotFound {
                location: location.describe(),
            });
        }
        let lock = take_lock(&location, mode)?;
        let repo = repo.open(&Credentials::password(password)).map_err(|e| {
            if e.is_incorrect_password() {
                Error::WrongPassword {
                    location: location.describe(),
                }
            } else {
                Error::rustic("opening the repository", &e)
            }
        })?;
        Ok(Repo {
            repo: Some(repo),
            kept_index: None,
            location,
            _lock: lock,
        })
    }

    /// Where the repository is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The repository id (from its config), stable across opens.
    pub fn id(&self) -> Result<String> {
        Ok(self.open_repo()?.config().id.to_hex().to_string())
    }

    /// Whether `other` uses the same chunker parameters (copies deduplicate).
    pub fn same_chunker(&self, other: &Repo) -> Result<bool> {
        Ok(self
            .open_repo()?
            .config()
            .has_same_chunker(other.open_repo()?.config()))
    }

    /// What the repository's encryption rests on (restic format: every file but the key files is
    /// AES-256-CTR + Poly1305 under the master key; each key file holds that key, encrypted with a
    /// password-derived key). Opening the repository already proved the password opens a key
    /// and the config decrypts with it; this adds what can be seen from outside.
    pub fn encryption(&self) -> Result<Encryption> {
        let repo = self.open_repo()?;
        let key_files = repo
            .list::<rustic_core::repofile::KeyId>()
            .ctx("listing the key files")?
            .count() as u64;
        // A local config file is checked byte by byte: restic's encrypted files are IV (16) +
        // ciphertext + MAC (16), never JSON text.
        let config_ciphertext = match self.local_path() {
            Some(p) => {
                let path = p.join("config");
                let bytes = std::fs::read(&path)
                    .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
                let plain = serde_json::from_slice::<serde_json::Value>(&bytes).is_ok();
                Some(!plain && bytes.len() >= 32)
            }
            None => None,
        };
        Ok(Encryption {
            version: repo.config().version,
            key_files,
            config_ciphertext,
        })
    }

    /// The local directory of a local repository.
    pub fn local_path(&self) -> Option<&Path> {
        let mut location = &self.location;
        while let Location::Paced { inner, .. } = location {
            location = inner;
        }
        match location {
            Location::Local(p) => Some(p),
            _ => None,
        }
    }

    pub(crate) fn open_repo(&self) -> Result<&Repository<OpenStatus>> {
        self.repo.as_ref().ok_or(Error::HandleLost(
            "repository handle was lost after an earlier error",
        ))
    }

    /// The repository handle, for an operation that may change the repository: a kept index
    /// is dropped (the operation could delete index files it has read).
    pub(crate) fn take(&mut self) -> Result<Repository<OpenStatus>> {
        self.kept_index = None;
        self.repo.take().ok_or(Error::HandleLost(
            "repository handle was lost after an earlier error",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::no_progress;

    #[test]
    fn a_new_repository_has_one_key_file_and_an_encrypted_config() {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::Local(dir.path().join("repo"));
        let repo = Repo::init(loc, "secret", no_progress()).unwrap();
        let enc = repo.encryption().unwrap();
        assert_eq!(enc.key_files, 1);
        assert_eq!(enc.config_ciphertext, Some(true));
        assert_eq!(enc.version, 2);
        // What the check rests on: the stored config is not readable as JSON.
        drop(repo);
        let config = dir.path().join("repo/config");
        assert!(
            serde_json::from_slice::<serde_json::Value>(&std::fs::read(&config).unwrap()).is_err()
        );
    }
}
