//! kura-audit: the hash-chained audit log, its verification, the event list and the notification
//! channels (syslog, e-mail, webhook).
//!
//! What it owns:
//! - [`AuditLog`]: an append-only log of who did what, when (MHLW guideline 6.0 §17), one JSON line per
//!   [`Record`] in `audit-YYYYMMDD-N.jsonl` files. Every record carries the SHA-256 of the previous one, so
//!   [`verify`] finds a flipped byte, a deleted, reordered or truncated record, and, given a stored
//!   [`Checkpoint`] (see [`AuditLog::head`]), a log rewritten wholesale with a fresh chain.
//! - [`Event`] and [`EventStore`]: alerts and failures with a state (new → acknowledged → closed) and a
//!   delivery history; [`EventStore::alert`] and [`EventStore::alert_once`] raise (once per open subject)
//!   and deliver in one call.
//! - [`ChannelConfig`] and [`deliver`]: pushing an event to syslog, SMTP and webhooks, with bounded retries;
//!   every failure is recorded in the event (and the audit log), and [`EventStore::deliver_pending`] retries.
//!
//! What it must not do: depend on any other kura crate, run an async runtime, or store a secret (SMTP
//! passwords and webhook tokens are read from the environment or a file named in the config).
//!
//! ```
//! use kura_audit::{AuditLog, Entry, Outcome, verify};
//!
//! let dir = tempfile::tempdir()?;
//! let log = AuditLog::open(dir.path())?;
//! let record = log.append(Entry::new("alice", "restore", "snapshot 1a2b3c", Outcome::Ok))?;
//! assert_eq!(record.seq, 1);
//!
//! // Store the head somewhere the log's attacker cannot rewrite it (the backup repository, an offline disk).
//! let checkpoint = log.head()?;
//! let report = verify(dir.path(), &[checkpoint])?;
//! assert!(report.ok);
//! assert_eq!(report.records, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod actor;
mod chain;
mod channels;
mod clock;
mod event;
mod events;
mod log;
mod query;
mod verify;

use std::path::PathBuf;

pub use actor::current_actor;
pub use chain::{Checkpoint, Entry, GENESIS_HASH, Outcome, Record};
pub use channels::{
    ChannelConfig, DeliveryOptions, DeliveryReport, SyslogFormat, deliver, deliver_with,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use event::{ChannelDelivery, Event, EventState, Handled, Severity};
pub use events::{Alert, AlertChannels, EventStore};
pub use log::{AuditLog, AuditOptions};
pub use query::{Filter, query};
pub use verify::{BadRecord, VerifyReport, verify};

/// Everything that can go wrong in kura-audit. Delivery failures are not errors: they are data in a
/// [`DeliveryReport`] and in the event's history.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of the audit log could not be read back, so the chain cannot be continued.
    #[error(
        "audit log {file} line {line} is damaged ({reason}); run `kura audit verify` and keep a copy of the log as evidence"
    )]
    Corrupt {
        file: PathBuf,
        line: u64,
        reason: String,
    },
    /// A line of the event list could not be read back.
    #[error(
        "event list {file} line {line} is damaged ({reason}); move the file aside to start a new list"
    )]
    CorruptEvents {
        file: PathBuf,
        line: u64,
        reason: String,
    },
    /// No event has this id.
    #[error("no event with id {id}; `kura events` lists them")]
    EventNotFound { id: u64 },
    /// The event is not in a state that allows this change.
    #[error("event {id} is {state}; it cannot be {wanted}")]
    InvalidTransition {
        id: u64,
        state: EventState,
        wanted: &'static str,
    },
    /// A value could not be encoded as JSON.
    #[error("cannot encode {what} as JSON: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// The result type of kura-audit.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
