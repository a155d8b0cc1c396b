//! Concurrent writers (threads with their own handle, a shared handle, and separate processes) keep
//! one intact chain and lose nothing.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use kura_audit::{AuditLog, Entry, Filter, Outcome, query, verify};

const CHILD_DIR_ENV: &str = "KURA_AUDIT_TEST_CHILD_DIR";
const PER_CHILD: usize = 200;

fn assert_intact(dir: &std::path::Path, expected: usize) {
    let report = verify(dir, &[]).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, expected as u64);
    let records = query(dir, &Filter::default()).unwrap();
    let targets: BTreeSet<_> = records.iter().map(|r| r.target.clone()).collect();
    assert_eq!(targets.len(), expected, "a record was lost or duplicated");
}

#[test]
fn two_threads_with_their_own_handles_keep_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let dir = dir.path().to_path_buf();
            std::thread::spawn(move || {
                let log = AuditLog::open(&dir).unwrap();
                for i in 0..60 {
                    log.append(Entry::new(
                        format!("t{t}"),
                        "backup",
                        format!("t{t}-{i}"),
                        Outcome::Ok,
                    ))
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_intact(dir.path(), 120);
}

#[test]
fn threads_sharing_one_handle_keep_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(AuditLog::open(dir.path()).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for i in 0..25 {
                    log.append(Entry::new(
                        "svc",
                        "viewer.patient_view",
                        format!("{t}-{i}"),
                        Outcome::Ok,
                    ))
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_intact(dir.path(), 100);
}

#[test]
fn two_processes_appending_concurrently_keep_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|p| {
            Command::new(&exe)
                .args([
                    "concurrency::child_appender",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                ])
                .env(CHILD_DIR_ENV, dir.path())
                .env("KURA_AUDIT_TEST_CHILD_ID", p.to_string())
                .stdin(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Both children have started; release them together so their appends overlap.
    let mut children: Vec<_> = children;
    for child in &mut children {
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    }
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a child appender failed");
    }
    assert_intact(dir.path(), 2 * PER_CHILD);
    let records = query(dir.path(), &Filter::default()).unwrap();
    for p in 0..2 {
        assert_eq!(
            records
                .iter()
                .filter(|r| r.actor == format!("proc{p}"))
                .count(),
            PER_CHILD
        );
    }
}

/// Run by `two_processes_appending_concurrently_keep_the_chain` in child processes; does nothing when
/// run on its own.
#[test]
#[ignore = "helper: runs only as a child of two_processes_appending_concurrently_keep_the_chain"]
fn child_appender() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let id = std::env::var("KURA_AUDIT_TEST_CHILD_ID").unwrap();
    let log = AuditLog::open(std::path::Path::new(&dir)).unwrap();
    let mut go = String::new();
    std::io::stdin().lock().read_line(&mut go).unwrap();
    for i in 0..PER_CHILD {
        log.append(Entry::new(
            format!("proc{id}"),
            "backup",
            format!("p{id}-{i}"),
            Outcome::Ok,
        ))
        .unwrap();
    }
}
