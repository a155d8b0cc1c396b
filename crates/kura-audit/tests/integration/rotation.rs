//! Rotation by size and by day, continuing the chain; clock going backwards; torn tails; queries.

use kura_audit::{AuditLog, AuditOptions, Entry, Filter, GENESIS_HASH, Outcome, query, verify};

use crate::common::{clock_at, entry, jst, log_files, log_of, open};

#[test]
fn size_rotation_continues_the_chain_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open_with(
        dir.path(),
        AuditOptions {
            max_file_bytes: 2_000,
            clock: clock_at(1, 10),
            ..AuditOptions::default()
        },
    )
    .unwrap();
    let records: Vec<_> = (0..40).map(|i| log.append(entry(i)).unwrap()).collect();
    let files = log_files(dir.path());
    assert!(files.len() >= 4, "expected several files, got {files:?}");
    for file in &files {
        assert!(
            std::fs::metadata(file).unwrap().len() <= 2_000,
            "{file:?} too big"
        );
    }
    // The first record of each later file links to the last of the previous file.
    assert_eq!(records[0].prev, GENESIS_HASH);
    for pair in records.windows(2) {
        assert_eq!(pair[1].prev, pair[0].hash);
        assert_eq!(pair[1].seq, pair[0].seq + 1);
    }
    let report = verify(dir.path(), &[log.head().unwrap(), records[10].checkpoint()]).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!((report.records, report.files), (40, files.len() as u64));
    assert_eq!(report.checkpoints_checked, 2);
}

#[test]
fn a_deleted_middle_file_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open_with(
        dir.path(),
        AuditOptions {
            max_file_bytes: 1_500,
            clock: clock_at(1, 10),
            ..AuditOptions::default()
        },
    )
    .unwrap();
    for i in 0..30 {
        log.append(entry(i)).unwrap();
    }
    let files = log_files(dir.path());
    let first_of_third = std::fs::read_to_string(&files[2]).unwrap();
    let first: kura_audit::Record =
        serde_json::from_str(first_of_third.lines().next().unwrap()).unwrap();
    std::fs::remove_file(&files[1]).unwrap();
    let bad = verify(dir.path(), &[]).unwrap().first_bad.unwrap();
    assert_eq!(bad.file, files[2]);
    assert_eq!(bad.line, 1);
    assert!(bad.seq < first.seq, "{bad:?}");
    assert!(bad.reason.contains("missing"), "{}", bad.reason);
}

#[test]
fn daily_rotation_names_files_by_local_date_and_never_goes_back() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock_at(1, 23);
    let log = open(dir.path(), clock.clone());
    log.append(entry(0)).unwrap();
    clock.set(jst(2, 0));
    log.append(entry(1)).unwrap();
    // The clock jumps back a day: the record stays in today's file and is flagged.
    clock.set(jst(1, 22));
    let back = log.append(entry(2)).unwrap();
    let names: Vec<String> = log_files(dir.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["audit-20260701-1.jsonl", "audit-20260702-1.jsonl"]);
    assert!(
        back.clock_warning
            .as_deref()
            .unwrap()
            .contains("backwards by 7200.000s")
    );
    assert_eq!(back.time_local, "2026-07-01T22:00:00+09:00");
    let report = verify(dir.path(), &[log.head().unwrap()]).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.clock_warnings, 1);
}

#[test]
fn clock_going_backwards_is_flagged_in_the_record_only_then() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock_at(1, 10);
    let log = open(dir.path(), clock.clone());
    assert!(log.append(entry(0)).unwrap().clock_warning.is_none());
    clock.set(jst(1, 11));
    assert!(log.append(entry(1)).unwrap().clock_warning.is_none());
    clock.set(jst(1, 9));
    let flagged = log.append(entry(2)).unwrap();
    let warning = flagged.clock_warning.clone().unwrap();
    assert!(warning.contains("record 2"), "{warning}");
    // The warning is part of the hashed, stored record.
    let stored = query(dir.path(), &Filter::default()).unwrap();
    assert_eq!(stored[2], flagged);
    assert_eq!(stored[2].clock, "manual");
}

#[test]
fn reopening_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (_, first) = log_of(dir.path(), 3);
    let log = open(dir.path(), clock_at(1, 12));
    let next = log.append(entry(3)).unwrap();
    assert_eq!(next.seq, 4);
    assert_eq!(next.prev, first[2].hash);
    assert!(
        verify(dir.path(), &[first[2].checkpoint(), next.checkpoint()])
            .unwrap()
            .ok
    );
}

#[test]
fn a_torn_last_line_is_repaired_and_recorded_by_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = log_of(dir.path(), 3);
    let file = log_files(dir.path()).remove(0);
    let mut bytes = std::fs::read(&file).unwrap();
    let torn = b"{\"seq\":4,\"time_utc\":\"2026-07-";
    bytes.extend_from_slice(torn);
    std::fs::write(&file, &bytes).unwrap();
    assert!(!verify(dir.path(), &[]).unwrap().ok);
    assert_eq!(log.head().unwrap().seq, 3, "head ignores the torn line");
    assert_eq!(
        query(dir.path(), &Filter::default()).unwrap().len(),
        3,
        "so does query"
    );

    let records = log.append_all(vec![entry(3)]).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].action, "audit.torn_tail");
    assert_eq!(records[0].details["discarded_bytes"], torn.len());
    assert_eq!(
        records[0].details["discarded_text"],
        "{\"seq\":4,\"time_utc\":\"2026-07-"
    );
    assert_eq!((records[0].seq, records[1].seq), (4, 5));
    let report = verify(dir.path(), &[log.head().unwrap()]).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, 5);
}

#[test]
fn empty_log_has_a_genesis_head_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(&dir.path().join("new/audit")).unwrap();
    let head = log.head().unwrap();
    assert_eq!((head.seq, head.hash.as_str()), (0, GENESIS_HASH));
    let report = verify(log.dir(), &[head]).unwrap();
    assert!(report.ok && report.records == 0, "{report:?}");
}

#[test]
fn verify_of_a_missing_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = verify(&missing, &[]).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn query_filters_by_time_actor_and_action() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock_at(1, 8);
    let log = open(dir.path(), clock.clone());
    log.append(Entry::new("alice", "backup", "/data", Outcome::Ok))
        .unwrap();
    clock.set(jst(1, 9));
    log.append(Entry::new("dr.sato", "viewer.login", "viewer", Outcome::Ok))
        .unwrap();
    log.append(Entry::new(
        "dr.sato",
        "viewer.patient_view",
        "patient 0001",
        Outcome::Ok,
    ))
    .unwrap();
    log.append(Entry::new(
        "mallory",
        "viewer.login",
        "viewer",
        Outcome::Denied,
    ))
    .unwrap();

    let all = query(dir.path(), &Filter::default()).unwrap();
    assert_eq!(all.len(), 4);
    let viewer = Filter {
        action: Some("viewer.*".into()),
        ..Filter::default()
    };
    assert_eq!(query(dir.path(), &viewer).unwrap().len(), 3);
    let sato = Filter {
        actor: Some("dr.sato".into()),
        action: Some("viewer.patient_view".into()),
        ..Filter::default()
    };
    let found = query(dir.path(), &sato).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].target, "patient 0001");
    let since = Filter {
        since: Some(jst(1, 9).timestamp()),
        ..Filter::default()
    };
    assert_eq!(query(dir.path(), &since).unwrap().len(), 3);
    let last = Filter {
        limit: Some(1),
        ..Filter::default()
    };
    assert_eq!(
        query(dir.path(), &last).unwrap()[0].outcome,
        Outcome::Denied
    );
}
