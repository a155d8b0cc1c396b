//! kura-copies: the copies an attacker cannot reach.
//!
//! Owns:
//! - [`media`]: the registry of offline disks (identity files, exports, overdue rotation);
//! - [`disk`]: a disk's repository, and [`export_to_disk`] (copy, read back, record);
//! - [`remote`]: the registry of remotes over their backend kinds, and push, verify and lock
//!   extension ([`push_to_remote`], [`verify_remote`], [`extend_locks`]);
//! - [`s3`]: [`S3LockStore`], kura-engine's `ObjectStore` on an S3 bucket with Object Lock in
//!   COMPLIANCE mode (per-object retain-until dates, read back after every upload, never
//!   deleting a locked object), with its own tokio runtime;
//! - [`status`]: the 3-2-1-1-0 rule as a pure function.
//!
//! It must not: touch repository formats itself (it opens, copies and checks repositories only
//! through kura-engine and its `ObjectStore` seam), take credentials from anything but the standard AWS environment and
//! profile files, or draw on the terminal.
//!
//! ```
//! use kura_copies::status::{evaluate, CopiesState, CopyKind, CopyState, Level, StatusOptions, Verification};
//! use jiff::Timestamp;
//!
//! let now = Timestamp::from_second(1_700_000_000).unwrap();
//! let local = CopyState {
//!     name: "local".into(),
//!     kind: CopyKind::Local,
//!     offsite: false,
//!     last_copy: Some(now),
//!     last_verification: Some(Verification { at: now, errors: 0 }),
//! };
//! let report = evaluate(&CopiesState { copies: vec![local] }, now, &StatusOptions::default());
//! assert_eq!(report.level, Level::Red); // nothing off-site, nothing offline or immutable
//! ```

pub mod disk;
mod error;
pub mod media;
pub mod remote;
pub mod s3;
pub mod status;

pub use disk::{ExportOptions, ExportReport, disk_repo, export_to_disk, prepare_disk_repo};
pub use error::{Error, Result};
pub use media::{DiskRecord, DiskStatus, MediaRegistry, write_atomic};
pub use remote::{
    PushReport, RemoteAccess, RemoteKind, RemoteRecord, RemoteRegistry, RemoteVerifyReport,
    extend_locks, open_remote_repo, prepare_remote_repo, push_to_remote, verify_remote,
};
pub use s3::{ObjectLock, RetentionPolicy, S3LockStore, S3Options, VerifyProblem, VerifyReport};
pub use status::{
    CheckRecord, CopiesState, CopyKind, CopyState, DrillLine, DrillState, Level, StatusReport,
    evaluate, judge_drills,
};
