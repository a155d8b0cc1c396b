//! kura-engine: the repository engine, and the only crate that imports `rustic_core`.
//!
//! It owns restic-format repositories (init/open, backup with a byte tee for detection,
//! snapshots with verdict tags and `latest-clean`, ls/diff/read, restore, check, forget/prune
//! that never removes the newest clean generation, copy) and the [`ObjectStore`] seam through
//! which other crates provide storage. It must not draw on the terminal, know about detection
//! engines, or leak rustic_core types.
//!
//! ```no_run
//! use kura_engine::{Location, LockMode, Repo, BackupRequest, NoObserver, no_progress};
//! use std::sync::Arc;
//! # fn main() -> kura_engine::Result<()> {
//! let loc = Location::parse_local("/var/backups/kura")?;
//! let mut repo = Repo::init(loc, "secret", no_progress())?;
//! let req = BackupRequest { paths: vec!["/srv/records".into()], ..Default::default() };
//! let report = repo.backup(&req, Arc::new(NoObserver))?;
//! println!("saved {}", report.snapshot.short_id);
//! # Ok(()) }
//! ```

mod backend;
mod backup;
mod changes;
mod check;
mod copy;
mod drill;
mod error;
mod forget;
mod progress;
mod reader;
mod repo;
mod restore;
mod snapshots;
pub mod store;
mod throttle;

pub use backup::{BackupReport, BackupRequest, FileObserver, FileSink, NoObserver, Unreadable};
pub use changes::ChangeSet;
pub use check::CheckReport;
pub use drill::{DamagedFile, DrillRestoreReport, PackReadReport};
pub use error::{Error, Result};
pub use forget::{ForgetDecision, ForgetReport, KeepPolicy};
pub use progress::{NoProgress, ProgressKind, ProgressReporter, ProgressTask, no_progress};
pub use reader::{Change, ChangeKind, EntryKind, SnapshotReader, TreeEntry};
pub use repo::{Encryption, Location, LockMode, Repo, RepoLock};
pub use restore::{Overwrite, RestoreOptions, RestoreReport};
pub use snapshots::{LEGAL_HOLD_TAG, SnapshotCounts, SnapshotInfo, VERDICT_TAG_PREFIX, Verdict};
pub use store::{ObjectKind, ObjectStore, StoreError, StoreResult};
pub use throttle::{Pacer, Throttled};
