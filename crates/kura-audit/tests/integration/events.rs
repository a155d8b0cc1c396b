//! The event list: states, transitions, persistence.

use kura_audit::{Error, EventState, EventStore, Severity};

use crate::common::clock_at;

#[test]
fn events_move_from_new_to_acknowledged_to_closed_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open_with(dir.path(), clock_at(1, 10)).unwrap();
    let a = store
        .raise(
            "suspicious_verdict",
            Severity::Critical,
            "snapshot 1a2b judged suspicious",
            serde_json::json!({"snapshot": "1a2b"}),
        )
        .unwrap();
    let b = store
        .raise(
            "disk_nearly_full",
            Severity::Warning,
            "disk 93% full",
            serde_json::Value::Null,
        )
        .unwrap();
    assert_eq!((a.id, b.id), (1, 2));
    assert_eq!(a.state, EventState::New);

    let acked = store.ack(1, "alice").unwrap();
    assert_eq!(acked.state, EventState::Acknowledged);
    assert_eq!(acked.acknowledged.as_ref().unwrap().by, "alice");
    let closed = store.close(2, "bob").unwrap();
    assert_eq!(closed.state, EventState::Closed);

    drop(store);
    let store = EventStore::open(dir.path()).unwrap();
    assert_eq!(store.list(None).unwrap().len(), 2);
    let new = store.list(Some(EventState::New)).unwrap();
    assert!(new.is_empty());
    let open = store.list(Some(EventState::Acknowledged)).unwrap();
    assert_eq!(open[0].kind, "suspicious_verdict");
    assert_eq!(open[0].details["snapshot"], "1a2b");
    assert_eq!(
        store
            .raise(
                "backup_failed",
                Severity::Critical,
                "x",
                serde_json::Value::Null
            )
            .unwrap()
            .id,
        3
    );
}

#[test]
fn invalid_transitions_and_unknown_ids_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path()).unwrap();
    store
        .raise(
            "verify_failed",
            Severity::Critical,
            "check failed",
            serde_json::Value::Null,
        )
        .unwrap();
    store.close(1, "alice").unwrap();
    let err = store.ack(1, "bob").unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidTransition {
                id: 1,
                state: EventState::Closed,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "event 1 is closed; it cannot be acknowledged"
    );
    assert!(matches!(
        store.close(1, "bob"),
        Err(Error::InvalidTransition { .. })
    ));
    let err = store.ack(42, "bob").unwrap_err();
    assert!(err.to_string().contains("no event with id 42"), "{err}");
}

#[test]
fn a_torn_journal_line_is_dropped_and_the_list_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path()).unwrap();
    store
        .raise(
            "rotation_overdue",
            Severity::Warning,
            "disk B not rotated for 9 days",
            serde_json::Value::Null,
        )
        .unwrap();
    let journal = dir.path().join("events.jsonl");
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes.extend_from_slice(b"{\"op\":\"acknowledged\",\"id\":1,");
    std::fs::write(&journal, bytes).unwrap();
    let events = store.list(None).unwrap();
    assert_eq!(events[0].state, EventState::New);
    store.ack(1, "alice").unwrap();
    assert_eq!(store.list(Some(EventState::Acknowledged)).unwrap().len(), 1);
}

#[test]
fn a_damaged_journal_line_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path()).unwrap();
    store
        .raise(
            "backup_failed",
            Severity::Critical,
            "x",
            serde_json::Value::Null,
        )
        .unwrap();
    let journal = dir.path().join("events.jsonl");
    let mut text = std::fs::read_to_string(&journal).unwrap();
    text.push_str("garbage\n");
    std::fs::write(&journal, text).unwrap();
    let err = store.list(None).unwrap_err();
    assert!(err.to_string().contains("events.jsonl line 2"), "{err}");
}

#[test]
fn raise_once_keeps_one_open_event_per_subject_until_it_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open_with(dir.path(), clock_at(1, 10)).unwrap();
    let to = kura_audit::AlertChannels::default();
    let first = store
        .alert_once(
            "rotation_overdue",
            "disk-a",
            Severity::Warning,
            "disk-a overdue",
            &to,
        )
        .unwrap()
        .expect("first is raised");
    assert_eq!(first.event.details["key"], "disk-a");
    // No channels configured: recorded, nothing delivered.
    assert!(first.delivery.is_none());
    // Same subject while open (also once acknowledged): nothing new.
    let again = store
        .raise_once("rotation_overdue", "disk-a", Severity::Warning, "again")
        .unwrap();
    assert!(again.is_none());
    store.ack(first.event.id, "alice").unwrap();
    assert!(
        store
            .raise_once("rotation_overdue", "disk-a", Severity::Warning, "again")
            .unwrap()
            .is_none()
    );
    // Another subject, or another kind about the same subject: raised.
    assert!(
        store
            .raise_once("rotation_overdue", "disk-b", Severity::Warning, "b")
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .raise_once("verify_failed", "disk-a", Severity::Critical, "c")
            .unwrap()
            .is_some()
    );
    // Closed: the next occurrence is a new event.
    store.close(first.event.id, "alice").unwrap();
    let reopened = store
        .raise_once("rotation_overdue", "disk-a", Severity::Warning, "again")
        .unwrap()
        .expect("raised after close");
    assert_ne!(reopened.id, first.event.id);
    assert_eq!(store.list(None).unwrap().len(), 4);
}

#[test]
fn an_unrecorded_event_still_names_its_kind_and_host() {
    let ev = kura_audit::Event::unrecorded(
        "audit_write_failed",
        Severity::Critical,
        "gap",
        serde_json::json!({"action": "backup"}),
    );
    assert_eq!(ev.id, 0);
    assert_eq!(ev.state, EventState::New);
    assert!(!ev.host.is_empty());
    assert_eq!(ev.details["action"], "backup");
}
