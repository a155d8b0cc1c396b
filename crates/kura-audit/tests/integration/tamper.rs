//! Tampering with the log is detected, and the right record is named.

use std::path::Path;
use std::sync::OnceLock;

use kura_audit::{Checkpoint, verify};
use proptest::prelude::*;

use crate::common::{clock_at, entry, log_files, log_of, open};

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

/// A 10-record log and the checkpoint of its head.
fn ten(dir: &Path) -> (std::path::PathBuf, Checkpoint) {
    let (log, _) = log_of(dir, 10);
    let file = log_files(dir).remove(0);
    (file, log.head().unwrap())
}

#[test]
fn untouched_log_verifies_with_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (_, head) = ten(dir.path());
    assert_eq!(head.seq, 10);
    let report = verify(dir.path(), std::slice::from_ref(&head)).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, 10);
    assert_eq!(report.checkpoints_checked, 1);
    assert_eq!(report.head, Some(head));
    assert!(report.first_bad.is_none());
}

#[test]
fn flipped_byte_names_the_altered_record() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = ten(dir.path());
    let mut lines = lines(&file);
    lines[3] = lines[3].replacen("target-3", "target-X", 1);
    write_lines(&file, &lines);
    let report = verify(dir.path(), &[]).unwrap();
    assert!(!report.ok);
    let bad = report.first_bad.unwrap();
    assert_eq!((bad.seq, bad.line), (4, 4));
    assert_eq!(bad.file, file);
    assert!(bad.reason.contains("altered"), "{}", bad.reason);
    assert_eq!(report.records, 3);
}

#[test]
fn deleted_record_is_named_as_missing() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = ten(dir.path());
    let mut lines = lines(&file);
    lines.remove(4);
    write_lines(&file, &lines);
    let bad = verify(dir.path(), &[]).unwrap().first_bad.unwrap();
    assert_eq!((bad.seq, bad.line), (5, 5));
    assert!(bad.reason.contains("record 5 is missing"), "{}", bad.reason);
}

#[test]
fn reordered_records_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = ten(dir.path());
    let mut lines = lines(&file);
    lines.swap(2, 3);
    write_lines(&file, &lines);
    let bad = verify(dir.path(), &[]).unwrap().first_bad.unwrap();
    assert_eq!((bad.seq, bad.line), (3, 3));
    assert!(bad.reason.contains("out of order"), "{}", bad.reason);
}

#[test]
fn truncation_is_caught_by_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (file, head) = ten(dir.path());
    let lines = lines(&file);
    write_lines(&file, &lines[..7]);
    // Without a checkpoint a shorter log is indistinguishable from an older one.
    assert!(verify(dir.path(), &[]).unwrap().ok);
    let report = verify(dir.path(), &[head]).unwrap();
    assert!(!report.ok);
    assert_eq!(report.records, 7);
    let bad = report.first_bad.unwrap();
    assert_eq!((bad.seq, bad.line), (8, 8));
    assert!(
        bad.reason.contains("removed from the end"),
        "{}",
        bad.reason
    );
}

#[test]
fn cut_in_the_middle_of_a_line_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = ten(dir.path());
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len - 20)
        .unwrap();
    let bad = verify(dir.path(), &[]).unwrap().first_bad.unwrap();
    assert_eq!((bad.seq, bad.line), (10, 10));
    assert!(bad.reason.contains("middle of a record"), "{}", bad.reason);
}

#[test]
fn freshly_chained_forgery_is_caught_by_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (file, head) = ten(dir.path());
    // The attacker writes a whole new, internally consistent log (without record 7) over the real one.
    let forged_dir = tempfile::tempdir().unwrap();
    let forger = open(forged_dir.path(), clock_at(1, 10));
    for i in (0..12).filter(|i| *i != 6) {
        forger.append(entry(i)).unwrap();
    }
    std::fs::copy(log_files(forged_dir.path()).remove(0), &file).unwrap();

    assert!(
        verify(dir.path(), &[]).unwrap().ok,
        "a forgery is self-consistent"
    );
    let report = verify(dir.path(), &[head]).unwrap();
    assert!(!report.ok);
    let bad = report.first_bad.unwrap();
    assert_eq!((bad.seq, bad.line), (10, 10));
    assert!(bad.reason.contains("rewritten"), "{}", bad.reason);
}

#[test]
fn replaced_record_with_valid_own_hash_breaks_the_link() {
    // Re-hashing an edited record makes its own hash right, but the next record's prev no longer matches.
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = ten(dir.path());
    let other = tempfile::tempdir().unwrap();
    open(other.path(), clock_at(1, 10))
        .append(entry(100))
        .unwrap();
    let mut edited = lines(&file);
    edited[0] = lines_of(other.path())[0].clone();
    write_lines(&file, &edited);
    let bad = verify(dir.path(), &[]).unwrap().first_bad.unwrap();
    assert_eq!((bad.seq, bad.line), (2, 2));
    assert!(bad.reason.contains("prev does not match"), "{}", bad.reason);
}

fn lines_of(dir: &Path) -> Vec<String> {
    lines(&log_files(dir)[0])
}

/// A pristine 4-record log, built once for the property test.
fn pristine() -> &'static (Vec<u8>, Checkpoint) {
    static LOG: OnceLock<(Vec<u8>, Checkpoint)> = OnceLock::new();
    LOG.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = log_of(dir.path(), 4);
        let bytes = std::fs::read(&log_files(dir.path())[0]).unwrap();
        (bytes, log.head().unwrap())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn any_single_changed_byte_fails_verify(index in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let (bytes, head) = pristine();
        let mut bytes = bytes.clone();
        let at = index.index(bytes.len());
        bytes[at] ^= xor;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("audit-20260701-1.jsonl"), &bytes).unwrap();
        let report = verify(dir.path(), std::slice::from_ref(head)).unwrap();
        prop_assert!(!report.ok, "byte {} ^ {:#x} went unnoticed", at, xor);
        // Without the checkpoint too: a changed byte never yields a valid chain.
        prop_assert!(!verify(dir.path(), &[]).unwrap().ok);
    }
}
