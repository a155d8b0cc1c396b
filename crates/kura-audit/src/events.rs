//! The event list: alerts and failures with a state and a delivery history, kept as an append-only
//! JSON Lines journal of changes (`events.jsonl`) replayed on read.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::channels::{ChannelConfig, DeliveryOptions, DeliveryReport, deliver_with};
use crate::clock::{Clock, SystemClock};
use crate::event::{ChannelDelivery, Event, EventState, Handled, Severity};
use crate::log::{AuditLog, open_lock_file};
use crate::{Error, Result};

const JOURNAL: &str = "events.jsonl";
const LOCK_FILE: &str = "events.lock";

/// One line of the journal.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Change {
    Raised { event: Box<Event> },
    Acknowledged { id: u64, by: Handled },
    Closed { id: u64, by: Handled },
    Delivery { id: u64, delivery: ChannelDelivery },
}

/// Where [`EventStore::alert`] delivers: the configured channels, the audit log that records
/// each delivery, and how hard to try.
#[derive(Debug, Clone, Default)]
pub struct AlertChannels<'a> {
    /// The channels (none: the event is only recorded).
    pub channels: &'a [ChannelConfig],
    /// The audit log for `event.notify` records.
    pub log: Option<&'a AuditLog>,
    /// Retries and backoff.
    pub options: DeliveryOptions,
}

/// A raised event and, when channels are configured, its first delivery.
#[derive(Debug, Clone)]
pub struct Alert {
    /// The event as recorded.
    pub event: Event,
    /// The delivery attempts (`None` without channels).
    pub delivery: Option<DeliveryReport>,
}

/// The event list in a directory (`events.jsonl`, `events.lock`). Safe to use from several processes.
#[derive(Debug)]
pub struct EventStore {
    path: PathBuf,
    lock_path: PathBuf,
    lock: Mutex<File>,
    clock: Arc<dyn Clock>,
    host: String,
}

impl EventStore {
    /// Opens (creating if needed) the event list in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with(dir, Arc::new(SystemClock))
    }

    /// Opens the event list with another clock (tests).
    pub fn open_with(dir: &Path, clock: Arc<dyn Clock>) -> Result<Self> {
        crate::log::create_private_dir(dir)
            .map_err(|e| Error::io("create event directory", dir, e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = open_lock_file(&lock_path)?;
        Ok(Self {
            path: dir.join(JOURNAL),
            lock_path,
            lock: Mutex::new(lock),
            clock,
            host: gethostname::gethostname().to_string_lossy().into_owned(),
        })
    }

    /// Records a new event (state `new`). Deliver it with [`EventStore::deliver`].
    pub fn raise(
        &self,
        kind: &str,
        severity: Severity,
        message: &str,
        details: serde_json::Value,
    ) -> Result<Event> {
        self.change(|events| {
            let event = self.new_event(events, kind, severity, message, details);
            let id = event.id;
            Ok((
                vec![Change::Raised {
                    event: Box::new(event),
                }],
                id,
            ))
        })
    }

    /// Records a new event unless one of the same `kind` about the same subject (`key`, kept in
    /// its details) is still open, so that a daily check does not pile up duplicates. Returns
    /// the new event, or `None` when an open one exists. The test and the write are one step
    /// under the lock, so two processes cannot both raise it.
    pub fn raise_once(
        &self,
        kind: &str,
        key: &str,
        severity: Severity,
        message: &str,
    ) -> Result<Option<Event>> {
        self.locked(|events| {
            let open = events.values().any(|e| {
                e.kind == kind && e.details["key"] == key && e.state != EventState::Closed
            });
            if open {
                return Ok((Vec::new(), None));
            }
            let details = serde_json::json!({ "key": key });
            let event = self.new_event(events, kind, severity, message, details);
            Ok((
                vec![Change::Raised {
                    event: Box::new(event.clone()),
                }],
                Some(event),
            ))
        })
    }

    /// Raises an event and delivers it at once to the channels that want it (bounded retries;
    /// failures are in the returned report and the event's history, for
    /// [`EventStore::deliver_pending`] to retry).
    pub fn alert(
        &self,
        kind: &str,
        severity: Severity,
        message: &str,
        details: serde_json::Value,
        to: &AlertChannels<'_>,
    ) -> Result<Alert> {
        let event = self.raise(kind, severity, message, details)?;
        self.deliver_alert(event, to)
    }

    /// [`EventStore::raise_once`] and, when an event was raised, its delivery as in
    /// [`EventStore::alert`].
    pub fn alert_once(
        &self,
        kind: &str,
        key: &str,
        severity: Severity,
        message: &str,
        to: &AlertChannels<'_>,
    ) -> Result<Option<Alert>> {
        match self.raise_once(kind, key, severity, message)? {
            Some(event) => self.deliver_alert(event, to).map(Some),
            None => Ok(None),
        }
    }

    fn deliver_alert(&self, event: Event, to: &AlertChannels<'_>) -> Result<Alert> {
        if to.channels.is_empty() {
            return Ok(Alert {
                event,
                delivery: None,
            });
        }
        let report = self.deliver(event.id, to.channels, to.log, &to.options)?;
        Ok(Alert {
            event,
            delivery: Some(report),
        })
    }

    fn new_event(
        &self,
        events: &BTreeMap<u64, Event>,
        kind: &str,
        severity: Severity,
        message: &str,
        details: serde_json::Value,
    ) -> Event {
        Event::new(
            events.keys().next_back().map_or(1, |id| id + 1),
            kind,
            severity,
            message,
            details,
            self.host.clone(),
            self.clock.now().timestamp(),
        )
    }

    /// Marks a new event as being handled by `who`.
    pub fn ack(&self, id: u64, who: &str) -> Result<Event> {
        self.change(|events| {
            let event = events.get(&id).ok_or(Error::EventNotFound { id })?;
            if event.state != EventState::New {
                return Err(Error::InvalidTransition {
                    id,
                    state: event.state,
                    wanted: "acknowledged",
                });
            }
            Ok((
                vec![Change::Acknowledged {
                    id,
                    by: self.handled(who),
                }],
                id,
            ))
        })
    }

    /// Closes a new or acknowledged event.
    pub fn close(&self, id: u64, who: &str) -> Result<Event> {
        self.change(|events| {
            let event = events.get(&id).ok_or(Error::EventNotFound { id })?;
            if event.state == EventState::Closed {
                return Err(Error::InvalidTransition {
                    id,
                    state: event.state,
                    wanted: "closed",
                });
            }
            Ok((
                vec![Change::Closed {
                    id,
                    by: self.handled(who),
                }],
                id,
            ))
        })
    }

    /// One event.
    pub fn get(&self, id: u64) -> Result<Event> {
        self.change(|events| {
            events.get(&id).ok_or(Error::EventNotFound { id })?;
            Ok((Vec::new(), id))
        })
    }

    /// The events in `state` (all when `None`), oldest first.
    pub fn list(&self, state: Option<EventState>) -> Result<Vec<Event>> {
        let events = self.locked(|events| Ok((Vec::new(), events.clone())))?;
        Ok(events
            .into_values()
            .filter(|e| state.is_none_or(|s| e.state == s))
            .collect())
    }

    /// Adds a delivery report's attempts to the event's history.
    pub fn record_delivery(&self, report: &DeliveryReport) -> Result<Event> {
        let id = report.event_id;
        self.change(|events| {
            events.get(&id).ok_or(Error::EventNotFound { id })?;
            let changes = report
                .results
                .iter()
                .map(|d| Change::Delivery {
                    id,
                    delivery: d.clone(),
                })
                .collect();
            Ok((changes, id))
        })
    }

    /// Delivers event `id` to the channels that want it and have not had it, and records the outcome.
    pub fn deliver(
        &self,
        id: u64,
        channels: &[ChannelConfig],
        log: Option<&AuditLog>,
        options: &DeliveryOptions,
    ) -> Result<DeliveryReport> {
        let event = self.get(id)?;
        let pending: Vec<ChannelConfig> =
            event.undelivered(channels).into_iter().cloned().collect();
        let report = deliver_with(&pending, &event, log, options);
        self.record_delivery(&report)?;
        Ok(report)
    }

    /// Retries every event that is not closed and has channels still waiting for it.
    pub fn deliver_pending(
        &self,
        channels: &[ChannelConfig],
        log: Option<&AuditLog>,
        options: &DeliveryOptions,
    ) -> Result<Vec<DeliveryReport>> {
        let mut reports = Vec::new();
        for event in self.list(None)? {
            if event.state == EventState::Closed || event.undelivered(channels).is_empty() {
                continue;
            }
            reports.push(self.deliver(event.id, channels, log, options)?);
        }
        Ok(reports)
    }

    fn handled(&self, who: &str) -> Handled {
        Handled {
            by: who.to_owned(),
            time_utc: self.clock.now().timestamp(),
        }
    }

    /// Applies changes and returns event `id` as it is afterwards.
    fn change(
        &self,
        f: impl FnOnce(&BTreeMap<u64, Event>) -> Result<(Vec<Change>, u64)>,
    ) -> Result<Event> {
        self.locked(|events| {
            let (changes, id) = f(events)?;
            for change in &changes {
                apply(events, change);
            }
            let event = events
                .get(&id)
                .cloned()
                .ok_or(Error::EventNotFound { id })?;
            Ok((changes, event))
        })
    }

    /// Under the lock: replays the journal, lets `f` decide on changes, appends them durably.
    fn locked<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<u64, Event>) -> Result<(Vec<Change>, T)>,
    ) -> Result<T> {
        let lock_file = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        lock_file
            .lock()
            .map_err(|e| Error::io("lock", &self.lock_path, e))?;
        let result = self.locked_inner(f);
        let _ = lock_file.unlock();
        result
    }

    fn locked_inner<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<u64, Event>) -> Result<(Vec<Change>, T)>,
    ) -> Result<T> {
        let mut file = OpenOptions::new()
            .mode(crate::log::PRIVATE_FILE)
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::io("open", &self.path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::io("read", &self.path, e))?;
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        if complete < bytes.len() {
            // A writer died mid-line: its change never completed (the caller got no Event back).
            file.set_len(complete as u64)
                .map_err(|e| Error::io("cut the torn last line of", &self.path, e))?;
        }
        let mut events = BTreeMap::new();
        for (i, line) in bytes[..complete].split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let change: Change =
                serde_json::from_slice(line).map_err(|e| Error::CorruptEvents {
                    file: self.path.clone(),
                    line: i as u64 + 1,
                    reason: e.to_string(),
                })?;
            apply(&mut events, &change);
        }
        let (changes, out) = f(&mut events)?;
        if !changes.is_empty() {
            let mut buf = Vec::new();
            for change in &changes {
                serde_json::to_writer(&mut buf, change).map_err(|source| Error::Encode {
                    what: "event change",
                    source,
                })?;
                buf.push(b'\n');
            }
            file.write_all(&buf)
                .and_then(|()| file.sync_data())
                .map_err(|e| Error::io("append to", &self.path, e))?;
        }
        Ok(out)
    }
}

fn apply(events: &mut BTreeMap<u64, Event>, change: &Change) {
    match change {
        Change::Raised { event } => {
            events.insert(event.id, (**event).clone());
        }
        Change::Acknowledged { id, by } => {
            if let Some(e) = events.get_mut(id) {
                e.state = EventState::Acknowledged;
                e.acknowledged = Some(by.clone());
            }
        }
        Change::Closed { id, by } => {
            if let Some(e) = events.get_mut(id) {
                e.state = EventState::Closed;
                e.closed = Some(by.clone());
            }
        }
        Change::Delivery { id, delivery } => {
            if let Some(e) = events.get_mut(id) {
                e.deliveries.push(delivery.clone());
            }
        }
    }
}
