//! The crate's single error type.

use std::path::PathBuf;

use jiff::Timestamp;

/// Result type of kura-copies.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong with a copy: an S3 Object Lock bucket or an offline disk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The options are unusable (empty bucket, zero retention, …).
    #[error("invalid copy options: {0}")]
    InvalidOptions(String),

    /// The bucket exists but has no Object Lock; nothing is written there.
    #[error(
        "bucket {bucket} does not have s3 object lock enabled; create a new bucket with object lock \
         (it cannot be enabled safely later on every server) and point kura at it"
    )]
    BucketNotLocked {
        /// The bucket name.
        bucket: String,
    },

    /// An object is under a compliance lock; kura refuses to delete it.
    #[error(
        "{bucket}/{key} is locked (compliance) until {until}; it cannot be removed before then, by anyone"
    )]
    Locked {
        /// The bucket name.
        bucket: String,
        /// The object key.
        key: String,
        /// The retain-until date.
        until: Timestamp,
    },

    /// No such object.
    #[error("object {bucket}/{key} not found")]
    NotFound {
        /// The bucket name.
        bucket: String,
        /// The object key.
        key: String,
    },

    /// A written object did not carry the lock kura asked for.
    #[error(
        "object {bucket}/{key} is not protected as required: {detail}; check the server's object lock support"
    )]
    LockMissing {
        /// The bucket name.
        bucket: String,
        /// The object key.
        key: String,
        /// What was wrong.
        detail: String,
    },

    /// Retention may only move forward.
    #[error(
        "refusing to shorten the retention of {bucket}/{key} from {current} to {requested}; retention only moves forward"
    )]
    RetentionNotForward {
        /// The bucket name.
        bucket: String,
        /// The object key.
        key: String,
        /// The present retain-until date.
        current: Timestamp,
        /// The date asked for.
        requested: Timestamp,
    },

    /// An object's size is not what it must be.
    #[error(
        "object {bucket}/{key} has {actual} bytes but {expected} were expected; \
         an object with this id already exists with other content (possible tampering), investigate before copying again"
    )]
    SizeMismatch {
        /// The bucket name.
        bucket: String,
        /// The object key.
        key: String,
        /// Expected bytes.
        expected: u64,
        /// Bytes found.
        actual: u64,
    },

    /// A read range lies past the end of an object.
    #[error("range {offset}+{len} is past the end of {bucket}/{key} ({size} bytes)")]
    RangePastEnd {
        /// The bucket name.
        bucket: String,
        /// The object key.
        key: String,
        /// Range start.
        offset: u64,
        /// Range length.
        len: u64,
        /// Object size.
        size: u64,
    },

    /// An S3 request failed.
    #[error("s3 {op} on {bucket}/{key} failed: {message}")]
    S3 {
        /// The operation (`PutObject`, …).
        op: &'static str,
        /// The bucket name.
        bucket: String,
        /// The object key (empty for bucket operations).
        key: String,
        /// The SDK's message, without credentials.
        message: String,
    },

    /// The async runtime could not be started.
    #[error("cannot start the s3 client runtime: {0}")]
    Runtime(#[source] std::io::Error),

    /// A disk label is not in the registry.
    #[error("no disk labelled {label} is registered; register it with `kura media add`")]
    UnknownDisk {
        /// The disk label.
        label: String,
    },

    /// A label or a disk is registered already.
    #[error("disk {label} is already registered ({detail})")]
    AlreadyRegistered {
        /// The disk label.
        label: String,
        /// What clashes.
        detail: String,
    },

    /// The disk at a path has no kura disk-id file.
    #[error(
        "{path} is not a registered kura disk (no .kura-disk.json); is the right disk mounted there?"
    )]
    NotAKuraDisk {
        /// The mount path.
        path: PathBuf,
    },

    /// The disk at a path is another disk than the label says.
    #[error(
        "the disk at {path} is {found}, not {label} (expected id {expected}); \
         connect disk {label} or use its own label"
    )]
    WrongDisk {
        /// The label asked for.
        label: String,
        /// The id recorded for that label.
        expected: String,
        /// What the disk says it is.
        found: String,
        /// The mount path.
        path: PathBuf,
    },

    /// File IO on a disk or the state directory failed.
    #[error("cannot {action} {path}: {source}; check the disk is mounted read-write and not full")]
    Io {
        /// What kura tried.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// The repository engine failed while copying, opening or checking a copy.
    #[error("{context}: {source}")]
    Engine {
        /// What kura was doing, naming the copy and what to do.
        context: String,
        /// The engine's error (its kind decides the exit code).
        #[source]
        source: kura_engine::Error,
    },

    /// A step failed for a reason that needs its own explanation.
    #[error("{context}: {source}")]
    Wrapped {
        /// What it means for the operator.
        context: String,
        /// The cause.
        #[source]
        source: Box<Error>,
    },

    /// Listing a copy's objects failed.
    #[error("listing the bucket: {message}")]
    Listing {
        /// The storage layer's message.
        message: String,
    },

    /// A remote name is not in the registry.
    #[error("no remote named {name:?}: add it with `kura remote add`")]
    UnknownRemote {
        /// The name asked for.
        name: String,
    },

    /// A remote name is taken.
    #[error("a remote named {name:?} exists already")]
    RemoteExists {
        /// The name.
        name: String,
    },

    /// The remote registry cannot be parsed.
    #[error("remote registry {} is damaged: {source}", path.display())]
    RemoteRegistryDamaged {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },

    /// A JSON state file is corrupt.
    #[error("cannot parse {path}: {source}; restore it from a backup or re-register the disks")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn engine(context: impl Into<String>, source: kura_engine::Error) -> Self {
        Error::Engine {
            context: context.into(),
            source,
        }
    }
}
