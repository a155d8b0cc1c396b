//! Audit log throughput: fsync'd appends per second, and verification speed over a large log.
//!
//! `cargo run --release -p kura-audit --example audit_throughput -- [APPENDS] [VERIFY_RECORDS] [DIR]`
//! (defaults 2000, 1000000, a temporary directory under the current one).

use std::time::Instant;

use kura_audit::{AuditLog, Entry, Outcome, verify};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let appends: usize = args.next().map_or(Ok(2_000), |a| a.parse())?;
    let total: usize = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let base = args.next().unwrap_or_else(|| ".".to_owned());
    let dir = tempfile::tempdir_in(base)?;
    let entry = |i: usize| {
        Entry::new(
            "alice",
            "viewer.patient_view",
            format!("patient {i:08}"),
            Outcome::Ok,
        )
        .with_details(serde_json::json!({"ip": "192.168.10.21", "page": "summary"}))
    };

    let single = dir.path().join("single");
    let log = AuditLog::open(&single)?;
    let start = Instant::now();
    for i in 0..appends {
        log.append(entry(i))?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "append (fsync each): {appends} records in {secs:.2}s = {:.0} records/s",
        appends as f64 / secs
    );

    let big = dir.path().join("big");
    let log = AuditLog::open(&big)?;
    let start = Instant::now();
    let batch = 10_000;
    for chunk in 0..total.div_ceil(batch) {
        let n = batch.min(total - chunk * batch);
        log.append_all((0..n).map(|i| entry(chunk * batch + i)).collect())?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "append_all (fsync per {batch}): {total} records in {secs:.2}s = {:.0} records/s",
        total as f64 / secs
    );
    let bytes: u64 = std::fs::read_dir(&big)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();

    let head = log.head()?;
    let start = Instant::now();
    let report = verify(&big, &[head])?;
    let secs = start.elapsed().as_secs_f64();
    assert!(report.ok, "{report:?}");
    println!(
        "verify: {} records ({} MiB, {} files) in {secs:.2}s = {:.0} records/s",
        report.records,
        bytes / (1024 * 1024),
        report.files,
        report.records as f64 / secs
    );
    Ok(())
}
