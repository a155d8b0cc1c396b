//! `ObjectStore`: kura's own narrow storage trait, adapted to rustic_core's backend traits.
//!
//! A repository is a set of immutable, content-addressed objects of a few kinds (restic's
//! layout: `config`, `keys/`, `snapshots/`, `index/`, `data/`). Anything that can store, list,
//! read and remove such objects can hold a kura repository: a local directory, an S3 bucket with
//! Object Lock (kura-copies), or memory in tests (kura-testkit). Keeping this trait ours means no
//! crate besides kura-engine ever sees rustic_core.
//!
//! Contract (checked by the conformance suite in kura-testkit):
//! - `write` of an existing object with the same id stores the same bytes (objects are immutable,
//!   so a second write may be a no-op); a write is durable when it returns `Ok`.
//! - `list` returns every stored object of that kind with its size in bytes.
//! - `read_range` reads `len` bytes at `offset`; reading past the end is an error.
//! - `remove` of a missing object is an error; a store may refuse removal (Object Lock), which
//!   is reported as an error and never silently ignored.
//! - The `Config` kind has a single object whose id is the empty string.

use std::fmt;

/// The kind of a repository object; decides the folder in restic's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    /// The repository config (one object, id `""`, path `config`).
    Config,
    /// Encrypted master keys (`keys/<id>`).
    Key,
    /// Snapshot descriptions (`snapshots/<id>`).
    Snapshot,
    /// Index files (`index/<id>`).
    Index,
    /// Pack files holding the data (`data/<id[0..2]>/<id>`).
    Pack,
}

impl ObjectKind {
    /// All kinds, in the order a copy should write them (data first, config last is not needed
    /// by restic, but snapshots last makes a partial copy invisible rather than broken).
    pub const ALL: [ObjectKind; 5] = [
        ObjectKind::Config,
        ObjectKind::Key,
        ObjectKind::Pack,
        ObjectKind::Index,
        ObjectKind::Snapshot,
    ];

    /// restic's folder name for this kind (`config` has no folder).
    pub fn dirname(self) -> &'static str {
        match self {
            ObjectKind::Config => "config",
            ObjectKind::Key => "keys",
            ObjectKind::Snapshot => "snapshots",
            ObjectKind::Index => "index",
            ObjectKind::Pack => "data",
        }
    }

    /// The object's path inside the repository, in restic's layout (`data/ab/abcd…`).
    pub fn path_of(self, id: &str) -> String {
        match self {
            ObjectKind::Config => "config".to_string(),
            ObjectKind::Pack => {
                let prefix = id.get(..2).unwrap_or(id);
                format!("data/{prefix}/{id}")
            }
            other => format!("{}/{id}", other.dirname()),
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dirname())
    }
}

/// Error type of an [`ObjectStore`]: any error, with a message that names the object.
pub type StoreError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result type of an [`ObjectStore`].
pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// A place that holds repository objects. Synchronous: rustic_core blocks, so an async client
/// (aws-sdk-s3) must run its own runtime and `block_on` inside these methods.
pub trait ObjectStore: Send + Sync + 'static {
    /// Where this store is, for messages (`s3:bucket/prefix`, `/mnt/disk1/kura`). No secrets.
    fn location(&self) -> String;

    /// Prepare an empty store (create folders or check the bucket). Idempotent.
    fn create(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Every object of `kind` with its size in bytes. Ids are lower-case hex (`""` for config).
    fn list(&self, kind: ObjectKind) -> StoreResult<Vec<(String, u64)>>;

    /// The whole object.
    fn read(&self, kind: ObjectKind, id: &str) -> StoreResult<Vec<u8>>;

    /// `len` bytes at `offset`. The default reads the whole object and slices it.
    fn read_range(
        &self,
        kind: ObjectKind,
        id: &str,
        offset: u64,
        len: u64,
    ) -> StoreResult<Vec<u8>> {
        let all = self.read(kind, id)?;
        let start = usize::try_from(offset)?;
        let end = start
            .checked_add(usize::try_from(len)?)
            .ok_or("range overflows")?;
        all.get(start..end).map(<[u8]>::to_vec).ok_or_else(|| {
            format!(
                "range {offset}+{len} past the end of {} ({} bytes)",
                kind.path_of(id),
                all.len()
            )
            .into()
        })
    }

    /// Store an object durably.
    fn write(&self, kind: ObjectKind, id: &str, data: &[u8]) -> StoreResult<()>;

    /// Remove an object. Stores that protect data (Object Lock) return an error.
    fn remove(&self, kind: ObjectKind, id: &str) -> StoreResult<()>;
}
