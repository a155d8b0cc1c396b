//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Zoned;
use jiff::civil::date;
use jiff::tz::{Offset, TimeZone};
use kura_audit::{AuditLog, AuditOptions, Entry, ManualClock, Outcome, Record};

/// A manual clock at `hour`:00 on 2026-07-`day`, Japan time (fixed offset: no tzdb needed).
pub fn clock_at(day: i8, hour: i8) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(jst(day, hour)))
}

pub fn jst(day: i8, hour: i8) -> Zoned {
    date(2026, 7, day)
        .at(hour, 0, 0, 0)
        .to_zoned(TimeZone::fixed(Offset::constant(9)))
        .unwrap()
}

pub fn open(dir: &Path, clock: Arc<ManualClock>) -> AuditLog {
    AuditLog::open_with(
        dir,
        AuditOptions {
            clock,
            ..AuditOptions::default()
        },
    )
    .unwrap()
}

pub fn entry(i: usize) -> Entry {
    Entry::new(
        format!("user{}", i % 3),
        if i.is_multiple_of(2) {
            "backup"
        } else {
            "viewer.patient_view"
        },
        format!("target-{i}"),
        Outcome::Ok,
    )
    .with_details(serde_json::json!({ "i": i }))
}

/// A log of `n` records in one file, with its records.
pub fn log_of(dir: &Path, n: usize) -> (AuditLog, Vec<Record>) {
    let log = open(dir, clock_at(1, 10));
    let records = (0..n).map(|i| log.append(entry(i)).unwrap()).collect();
    (log, records)
}

/// The log's files in chain order.
pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<(u32, u32, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_owned();
            let rest = name.strip_prefix("audit-")?.strip_suffix(".jsonl")?;
            let (d, n) = rest.split_once('-')?;
            Some((d.parse().ok()?, n.parse().ok()?, p))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, _, p)| p).collect()
}

/// True when the tool is there. When it is not: panics if `KURA_REQUIRE_TOOLS=1`, else prints a loud
/// SKIPPED line (the caller returns).
pub fn tool_available(available: bool, what: &str, install: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var("KURA_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{what} is required (KURA_REQUIRE_TOOLS=1) but missing: {install}");
    }
    eprintln!(
        "SKIPPED: {what} is missing ({install}); set KURA_REQUIRE_TOOLS=1 to make this a failure"
    );
    false
}
