//! Walking the whole chain: every file, every line, every link, and the stored checkpoints.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::chain::{Checkpoint, GENESIS_HASH, check_line};
use crate::log::{Segment, read_lines, segments};

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// True when every record is intact and linked and every checkpoint matches.
    pub ok: bool,
    /// Records found intact, in order, before the first bad one (all of them when `ok`).
    pub records: u64,
    /// Log files read.
    pub files: u64,
    /// The last intact record: keep it as a new checkpoint when `ok`.
    pub head: Option<Checkpoint>,
    /// Checkpoints compared with a record.
    pub checkpoints_checked: u64,
    /// Records whose time is earlier than the record before them (the clock went backwards).
    pub clock_warnings: u64,
    /// The first problem, if any; verification stops there.
    pub first_bad: Option<BadRecord>,
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadRecord {
    /// The sequence number expected at this position (the missing one when a record was deleted).
    pub seq: u64,
    /// The file holding the bad line (for truncation: the last file).
    pub file: PathBuf,
    /// 1-based line number in `file` (for truncation: one past the last line).
    pub line: u64,
    pub reason: String,
}

/// Verifies the audit log in `dir`: each record's hash over its own bytes, the `prev` links, the sequence
/// numbers across all files, and each checkpoint (a record with its seq must exist and have its hash).
/// Without checkpoints, a log rewritten wholesale with a fresh chain, or cut short, cannot be told apart
/// from a genuine one: always pass the checkpoints kept in the backup repository and on offline copies.
///
/// I/O problems are errors; anything wrong with the log's content is in the report.
pub fn verify(dir: &Path, checkpoints: &[Checkpoint]) -> Result<VerifyReport> {
    let segments = segments(dir)?;
    let mut wanted: BTreeMap<u64, Vec<&Checkpoint>> = BTreeMap::new();
    for cp in checkpoints {
        wanted.entry(cp.seq).or_default().push(cp);
    }
    let mut report = VerifyReport {
        ok: false,
        records: 0,
        files: 0,
        head: None,
        checkpoints_checked: 0,
        clock_warnings: 0,
        first_bad: None,
    };
    for cp in wanted.get(&0).into_iter().flatten() {
        report.checkpoints_checked += 1;
        if cp.hash != GENESIS_HASH {
            report.first_bad = Some(BadRecord {
                seq: 0,
                file: dir.to_path_buf(),
                line: 0,
                reason: format!(
                    "checkpoint for seq 0 has hash {} instead of the genesis hash",
                    cp.hash
                ),
            });
            return Ok(report);
        }
    }

    let mut expected: u64 = 1;
    let mut prev = GENESIS_HASH.to_owned();
    let mut last_time: Option<Timestamp> = None;
    // Where the walk ended: (segment index, lines read in it).
    let mut last_line = (0usize, 0u64);
    let walked = read_lines(&segments, 256 * 1024, |index, segment, line_no, line| {
        report.files = index as u64 + 1;
        last_line = (index, line_no);
        let bad = |reason: String| BadRecord {
            seq: expected,
            file: segment.path.clone(),
            line: line_no,
            reason,
        };
        if line.last() != Some(&b'\n') {
            report.first_bad = Some(bad(
                "the file ends in the middle of a record (an interrupted write, or the file was cut)"
                    .to_owned(),
            ));
            return Ok(ControlFlow::Break(()));
        }
        let record = match check_line(&line[..line.len() - 1]) {
            Ok(record) => record,
            Err(reason) => {
                report.first_bad = Some(bad(reason));
                return Ok(ControlFlow::Break(()));
            }
        };
        if record.seq != expected {
            let later = seq_appears_later(&segments[index..], line_no, expected);
            let reason = if record.seq > expected && !later {
                format!(
                    "record {expected} is missing: found seq {} where {expected} was expected (deleted)",
                    record.seq
                )
            } else {
                format!(
                    "records out of order: found seq {} where {expected} was expected",
                    record.seq
                )
            };
            report.first_bad = Some(bad(reason));
            return Ok(ControlFlow::Break(()));
        }
        if record.prev != prev {
            report.first_bad = Some(bad(format!(
                "prev does not match the hash of record {}: a record before it was replaced",
                expected - 1
            )));
            return Ok(ControlFlow::Break(()));
        }
        for cp in wanted.get(&record.seq).into_iter().flatten() {
            report.checkpoints_checked += 1;
            if cp.hash != record.hash {
                report.first_bad = Some(bad(format!(
                    "hash differs from the checkpoint taken at {}: the log was rewritten at or before this record",
                    cp.time_utc
                )));
                return Ok(ControlFlow::Break(()));
            }
        }
        if last_time.is_some_and(|t| record.time_utc < t) {
            report.clock_warnings += 1;
        }
        last_time = Some(record.time_utc);
        report.records += 1;
        expected += 1;
        report.head = Some(record.checkpoint());
        prev = record.hash;
        Ok(ControlFlow::Continue(()))
    })?;
    if walked.is_break() {
        return Ok(report);
    }
    report.files = segments.len() as u64;
    // The end of the last file (an empty last file ends at its line 0).
    let last_position = match segments.last() {
        Some(seg) if last_line.0 + 1 == segments.len() => (seg.path.clone(), last_line.1),
        Some(seg) => (seg.path.clone(), 0),
        None => (dir.to_path_buf(), 0),
    };

    let last_seq = expected - 1;
    if let Some(cp) = wanted
        .range(last_seq + 1..)
        .next()
        .and_then(|(_, cps)| cps.first())
    {
        report.first_bad = Some(BadRecord {
            seq: last_seq + 1,
            file: last_position.0,
            line: last_position.1 + 1,
            reason: format!(
                "the log ends at seq {last_seq} but a checkpoint taken at {} names seq {}: records were removed from the end",
                cp.time_utc, cp.seq
            ),
        });
        return Ok(report);
    }
    report.ok = true;
    Ok(report)
}

/// Whether a record with `seq` appears after `line_no` of the first segment or in the later ones
/// (tells reordered records from deleted ones).
fn seq_appears_later(segments: &[Segment], line_no: u64, seq: u64) -> bool {
    #[derive(Deserialize)]
    struct SeqOnly {
        seq: u64,
    }
    let mut found = false;
    let _ = read_lines(segments, 8 * 1024, |index, _, n, line| {
        if index == 0 && n <= line_no {
            return Ok(ControlFlow::Continue(()));
        }
        found = serde_json::from_slice::<SeqOnly>(line).is_ok_and(|r| r.seq == seq);
        Ok(if found {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    });
    found
}
