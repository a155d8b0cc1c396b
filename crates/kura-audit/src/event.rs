//! An event (alert or failure) and its vocabulary: severity, state, who handled it and the
//! history of its deliveries. The event list ([`crate::EventStore`]) and the channels both use
//! these types; neither depends on the other for them.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// How urgent an event is; channels can ask for a minimum (`min_severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        })
    }
}

/// Where an event is in its handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventState {
    New,
    Acknowledged,
    Closed,
}

impl fmt::Display for EventState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventState::New => "new",
            EventState::Acknowledged => "acknowledged",
            EventState::Closed => "closed",
        })
    }
}

/// Who moved an event on, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handled {
    pub by: String,
    pub time_utc: Timestamp,
}

/// An alert or failure: `suspicious_verdict`, `backup_failed`, `verify_failed`, `rotation_overdue`,
/// `audit_chain_broken`, `disk_nearly_full`, …
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: u64,
    pub kind: String,
    pub severity: Severity,
    pub message: String,
    pub details: serde_json::Value,
    pub host: String,
    pub time_utc: Timestamp,
    pub state: EventState,
    pub acknowledged: Option<Handled>,
    pub closed: Option<Handled>,
    /// Every delivery attempt to every channel, successful or not, oldest first.
    pub deliveries: Vec<ChannelDelivery>,
}

/// The outcome of delivering one event to one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelDelivery {
    /// [`crate::ChannelConfig::label`].
    pub channel: String,
    pub time_utc: Timestamp,
    pub ok: bool,
    pub tries: u32,
    /// The last try's error when not `ok`.
    pub error: Option<String>,
}

impl Event {
    /// Whether some attempt reached the channel with this label ([`crate::ChannelConfig::label`]).
    pub fn delivered_to(&self, label: &str) -> bool {
        self.deliveries.iter().any(|d| d.ok && d.channel == label)
    }

    /// A new event (state `new`, never delivered).
    pub(crate) fn new(
        id: u64,
        kind: &str,
        severity: Severity,
        message: &str,
        details: serde_json::Value,
        host: String,
        time_utc: Timestamp,
    ) -> Event {
        Event {
            id,
            kind: kind.to_owned(),
            severity,
            message: message.to_owned(),
            details,
            host,
            time_utc,
            state: EventState::New,
            acknowledged: None,
            closed: None,
            deliveries: Vec::new(),
        }
    }

    /// An event that could not be recorded in the event list (id 0), so that it can still be
    /// delivered to the channels: the last resort when the state directory is unusable.
    pub fn unrecorded(
        kind: &str,
        severity: Severity,
        message: &str,
        details: serde_json::Value,
    ) -> Event {
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        Event::new(0, kind, severity, message, details, host, Timestamp::now())
    }
}
