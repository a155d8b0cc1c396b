//! The 3-2-1-1-0 rule as a pure function: 3 copies, 2 media, 1 off-site, 1 offline or
//! immutable, 0 errors in the last verification.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Traffic-light level; ordered so the overall level is the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Fine.
    Green,
    /// Needs attention soon.
    Amber,
    /// Not protected as promised.
    Red,
}

/// Where a copy lives (its medium).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CopyKind {
    /// The kura repository on the server or a NAS.
    Local,
    /// A removable disk (USB, RDX).
    Disk,
    /// An S3 bucket with Object Lock.
    S3,
    /// A remote server without immutability (SFTP, rest-server): off-site, but whoever holds
    /// its credentials can change it. kura has no such backend yet; the rules are ready for one.
    Sftp,
}

impl CopyKind {
    /// Whether a copy of this kind is out of an attacker's reach: disconnected (an offline
    /// disk, stored away between exports) or immutable (Object Lock in COMPLIANCE mode). This is
    /// what the "1 offline/immutable" rule counts, so it is decided by the kind, never by the
    /// caller.
    pub fn offline_or_immutable(self) -> bool {
        match self {
            CopyKind::Disk | CopyKind::S3 => true,
            CopyKind::Local | CopyKind::Sftp => false,
        }
    }
}

/// What `kura check` writes into the details of its audit record, and `kura status` reads
/// back as the main repository's last verification: the contract between the two commands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    /// Whether every pack was read and verified (`check --read-data`).
    pub read_data: bool,
    /// The errors found.
    pub errors: Vec<String>,
}

impl CheckRecord {
    /// The audit action of the record.
    pub const ACTION: &'static str = "check";

    /// The record in an audit entry's details (which may hold more keys), if it is one.
    pub fn from_details(details: &serde_json::Value) -> Option<CheckRecord> {
        serde_json::from_value(details.clone()).ok()
    }

    /// The verification this check counts as, made at `at`: only a full read of the data is.
    pub fn verification(&self, at: Timestamp) -> Option<Verification> {
        self.read_data.then_some(Verification {
            at,
            errors: self.errors.len() as u64,
        })
    }
}

/// The last verification of a copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// When it ran.
    pub at: Timestamp,
    /// Errors it found (0 is the goal).
    pub errors: u64,
}

/// One backup copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyState {
    /// Name shown to the operator (`local`, `disk-a`, `s3:bucket`).
    pub name: String,
    /// The medium.
    pub kind: CopyKind,
    /// Kept in another building or site.
    pub offsite: bool,
    /// The last successful copy (or backup, for the local repository).
    pub last_copy: Option<Timestamp>,
    /// The last verification.
    pub last_verification: Option<Verification>,
}

/// Everything the status looks at. The production data itself counts as one of the 3 copies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopiesState {
    /// The backup copies.
    pub copies: Vec<CopyState>,
}

/// Age limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusOptions {
    /// A local or S3 copy older than this is amber (daily backups).
    pub max_copy_age_days: u32,
    /// A disk not rotated within this is amber (weekly rotation).
    pub disk_overdue_days: u32,
    /// A verification older than this is amber.
    pub max_verification_age_days: u32,
}

impl Default for StatusOptions {
    fn default() -> Self {
        Self {
            max_copy_age_days: 2,
            disk_overdue_days: crate::media::DEFAULT_OVERDUE_DAYS,
            max_verification_age_days: 31,
        }
    }
}

/// One rule's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleLine {
    /// `3 copies`, `2 media`, `1 off-site`, `1 offline/immutable`, `0 errors`.
    pub rule: &'static str,
    /// Its level.
    pub level: Level,
    /// What was found.
    pub message: String,
}

/// One copy's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyLine {
    /// The copy's name.
    pub name: String,
    /// Its medium.
    pub kind: CopyKind,
    /// Its level.
    pub level: Level,
    /// Whole days since the last copy.
    pub copy_age_days: Option<i64>,
    /// Whole days since the last verification.
    pub verification_age_days: Option<i64>,
    /// What needs doing.
    pub warnings: Vec<String>,
    /// The restore drills of this copy, when drills are tracked ([`judge_drills`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drill: Option<DrillLine>,
}

/// The 3-2-1-1-0 status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    /// The worst level of all lines.
    pub level: Level,
    /// The five rules, in order.
    pub rules: Vec<RuleLine>,
    /// One line per copy.
    pub copies: Vec<CopyLine>,
    /// All warnings, for notifications.
    pub warnings: Vec<String>,
}

fn age_days(now: Timestamp, then: Timestamp) -> i64 {
    now.as_second().saturating_sub(then.as_second()).max(0) / 86_400
}

fn copy_line(c: &CopyState, now: Timestamp, opts: &StatusOptions) -> CopyLine {
    let limit = i64::from(match c.kind {
        CopyKind::Disk => opts.disk_overdue_days,
        CopyKind::Local | CopyKind::S3 | CopyKind::Sftp => opts.max_copy_age_days,
    });
    let copy_age = c.last_copy.map(|t| age_days(now, t));
    let verification_age = c.last_verification.as_ref().map(|v| age_days(now, v.at));
    let mut level = Level::Green;
    let mut warnings = Vec::new();
    let mut raise = |l: Level, w: String| {
        level = level.max(l);
        warnings.push(w);
    };
    match copy_age {
        None => raise(Level::Red, format!("{}: no copy has been made yet", c.name)),
        Some(a) if a > limit => raise(
            Level::Amber,
            format!(
                "{}: last copy is {a} days old (limit {limit}){}",
                c.name,
                if c.kind == CopyKind::Disk {
                    "; rotate the disk"
                } else {
                    ""
                }
            ),
        ),
        Some(_) => {}
    }
    match &c.last_verification {
        None => raise(
            Level::Amber,
            format!("{}: never verified; run a verification", c.name),
        ),
        Some(v) if v.errors > 0 => raise(
            Level::Red,
            format!("{}: last verification found {} error(s)", c.name, v.errors),
        ),
        Some(v) if age_days(now, v.at) > i64::from(opts.max_verification_age_days) => raise(
            Level::Amber,
            format!(
                "{}: last verification is {} days old (limit {})",
                c.name,
                age_days(now, v.at),
                opts.max_verification_age_days
            ),
        ),
        Some(_) => {}
    }
    CopyLine {
        name: c.name.clone(),
        kind: c.kind,
        level,
        copy_age_days: copy_age,
        verification_age_days: verification_age,
        warnings,
        drill: None,
    }
}

/// The restore drills of one copy, as the drill history knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillState {
    /// The copy's name, as in [`CopyState::name`].
    pub copy: String,
    /// The id of the last drill.
    pub last_drill: u64,
    /// When the last drill ran.
    pub last_at: Timestamp,
    /// Whether it passed.
    pub last_passed: bool,
    /// When the last passing drill ran.
    pub last_pass: Option<Timestamp>,
    /// That drill's RTO in milliseconds.
    pub last_pass_rto_ms: Option<u64>,
}

/// A copy's drill verdict in the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrillLine {
    /// Green: a drill passed within the limit; amber: none did (or never drilled); red: the
    /// last drill failed.
    pub level: Level,
    /// The id of the last drill.
    pub last_drill: Option<u64>,
    /// When the last passing drill ran.
    pub last_pass: Option<Timestamp>,
    /// Whole days since then.
    pub last_pass_age_days: Option<i64>,
    /// Its RTO in milliseconds.
    pub rto_ms: Option<u64>,
}

/// Add the restore drills to a status: each copy line gets a [`DrillLine`], a warning when a
/// drill is due or failed, and the levels rise accordingly. `drills` has at most one entry per
/// copy; a copy without one has never been drilled.
pub fn judge_drills(
    report: &mut StatusReport,
    drills: &[DrillState],
    now: Timestamp,
    max_age_days: u32,
) {
    for line in &mut report.copies {
        let d = drills.iter().find(|d| d.copy == line.name);
        let age = d.and_then(|d| d.last_pass).map(|t| age_days(now, t));
        let (level, warning) = match d {
            None => (
                Level::Amber,
                Some(format!(
                    "{}: no restore drill yet; run `kura drill`",
                    line.name
                )),
            ),
            Some(d) if !d.last_passed => (
                Level::Red,
                Some(format!(
                    "{}: the last restore drill ({}) failed; see `kura drill list`",
                    line.name, d.last_drill
                )),
            ),
            Some(_) => match age {
                Some(a) if a > i64::from(max_age_days) => (
                    Level::Amber,
                    Some(format!(
                        "{}: the last passed restore drill is {a} days old (limit {max_age_days})",
                        line.name
                    )),
                ),
                _ => (Level::Green, None),
            },
        };
        line.level = line.level.max(level);
        if let Some(w) = warning {
            line.warnings.push(w.clone());
            report.warnings.push(w);
        }
        line.drill = Some(DrillLine {
            level,
            last_drill: d.map(|d| d.last_drill),
            last_pass: d.and_then(|d| d.last_pass),
            last_pass_age_days: age,
            rto_ms: d.and_then(|d| d.last_pass_rto_ms),
        });
        report.level = report.level.max(line.level);
    }
}

/// A "1 …" rule: green naming the `counted` copies that pass `test`, red with `none` if there are none.
fn at_least_one(
    rule: &'static str,
    counted: &[&CopyState],
    test: impl Fn(&CopyState) -> bool,
    none: &str,
    some: &str,
) -> RuleLine {
    let names: Vec<&str> = counted
        .iter()
        .filter(|c| test(c))
        .map(|c| c.name.as_str())
        .collect();
    if names.is_empty() {
        RuleLine {
            rule,
            level: Level::Red,
            message: none.into(),
        }
    } else {
        RuleLine {
            rule,
            level: Level::Green,
            message: format!("{some}: {}", names.join(", ")),
        }
    }
}

/// Judge `state` at `now`. A copy *counts* towards the rules when it has been made and its last
/// verification (if any) found no errors; stale copies still count but are amber on their own line.
pub fn evaluate(state: &CopiesState, now: Timestamp, opts: &StatusOptions) -> StatusReport {
    let copies: Vec<CopyLine> = state
        .copies
        .iter()
        .map(|c| copy_line(c, now, opts))
        .collect();
    let counted: Vec<&CopyState> = state
        .copies
        .iter()
        .filter(|c| {
            c.last_copy.is_some() && c.last_verification.as_ref().is_none_or(|v| v.errors == 0)
        })
        .collect();

    let mut rules = Vec::new();
    // 3 copies: the production data plus the backup copies.
    let total = counted.len() + 1;
    rules.push(RuleLine {
        rule: "3 copies",
        level: match total {
            0..=1 => Level::Red,
            2 => Level::Amber,
            _ => Level::Green,
        },
        message: format!(
            "{total} copies of the data (production + {} backup)",
            counted.len()
        ),
    });
    let mut media: Vec<CopyKind> = counted.iter().map(|c| c.kind).collect();
    media.sort();
    media.dedup();
    rules.push(RuleLine {
        rule: "2 media",
        level: match media.len() {
            0 => Level::Red,
            1 => Level::Amber,
            _ => Level::Green,
        },
        message: format!(
            "backup copies on {} kind(s) of media: {media:?}",
            media.len()
        ),
    });
    rules.push(at_least_one(
        "1 off-site",
        &counted,
        |c| c.offsite,
        "no copy is off-site",
        "off-site",
    ));
    rules.push(at_least_one(
        "1 offline/immutable",
        &counted,
        |c| c.kind.offline_or_immutable(),
        "no copy is offline or immutable; ransomware can reach every copy",
        "offline or immutable",
    ));
    let failed: Vec<&str> = state
        .copies
        .iter()
        .filter(|c| c.last_verification.as_ref().is_some_and(|v| v.errors > 0))
        .map(|c| c.name.as_str())
        .collect();
    let unverified: Vec<&str> = state
        .copies
        .iter()
        .filter(|c| {
            c.last_verification
                .as_ref()
                .is_none_or(|v| age_days(now, v.at) > i64::from(opts.max_verification_age_days))
        })
        .map(|c| c.name.as_str())
        .collect();
    rules.push(if !failed.is_empty() {
        RuleLine {
            rule: "0 errors",
            level: Level::Red,
            message: format!("verification errors on: {}", failed.join(", ")),
        }
    } else if state.copies.is_empty() || !unverified.is_empty() {
        RuleLine {
            rule: "0 errors",
            level: Level::Amber,
            message: format!(
                "not verified recently: {}",
                if unverified.is_empty() {
                    "no copies".to_string()
                } else {
                    unverified.join(", ")
                }
            ),
        }
    } else {
        RuleLine {
            rule: "0 errors",
            level: Level::Green,
            message: "every copy verified without errors".into(),
        }
    });

    let mut warnings: Vec<String> = rules
        .iter()
        .filter(|r| r.level != Level::Green)
        .map(|r| format!("{}: {}", r.rule, r.message))
        .collect();
    warnings.extend(copies.iter().flat_map(|c| c.warnings.iter().cloned()));
    let level = rules
        .iter()
        .map(|r| r.level)
        .chain(copies.iter().map(|c| c.level))
        .max()
        .unwrap_or(Level::Red);
    StatusReport {
        level,
        rules,
        copies,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn t(days: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + days * DAY).unwrap()
    }

    fn copy(
        name: &str,
        kind: CopyKind,
        offsite: bool,
        copied: i64,
        verified: Option<(i64, u64)>,
    ) -> CopyState {
        CopyState {
            name: name.into(),
            kind,
            offsite,
            last_copy: Some(t(copied)),
            last_verification: verified.map(|(d, errors)| Verification { at: t(d), errors }),
        }
    }

    fn full() -> CopiesState {
        CopiesState {
            copies: vec![
                copy("local", CopyKind::Local, false, 10, Some((10, 0))),
                copy("disk-a", CopyKind::Disk, true, 8, Some((8, 0))),
                copy("s3:kura", CopyKind::S3, true, 10, Some((9, 0))),
            ],
        }
    }

    #[test]
    fn full_setup_is_green() {
        let r = evaluate(&full(), t(10), &StatusOptions::default());
        assert_eq!(r.level, Level::Green, "{r:#?}");
        assert!(r.warnings.is_empty());
        assert_eq!(r.rules.len(), 5);
    }

    #[test]
    fn a_mutable_remote_does_not_satisfy_offline_or_immutable() {
        // Local plus an off-site remote that is not immutable: off-site is green, but nothing
        // is out of an attacker's reach, so the status must stay red.
        let s = CopiesState {
            copies: vec![
                copy("local", CopyKind::Local, false, 10, Some((10, 0))),
                copy("sftp:offsite", CopyKind::Sftp, true, 10, Some((10, 0))),
            ],
        };
        let r = evaluate(&s, t(10), &StatusOptions::default());
        let lv = |rule: &str| r.rules.iter().find(|l| l.rule == rule).unwrap().level;
        assert_eq!(lv("1 off-site"), Level::Green);
        assert_eq!(lv("1 offline/immutable"), Level::Red);
        assert_eq!(r.level, Level::Red);
        assert!(!CopyKind::Sftp.offline_or_immutable());
        assert!(CopyKind::S3.offline_or_immutable() && CopyKind::Disk.offline_or_immutable());
        assert!(!CopyKind::Local.offline_or_immutable());
    }

    #[test]
    fn check_records_are_read_back_from_audit_details() {
        let details = serde_json::json!({
            "read_data": true,
            "errors": ["pack 1a2b: hash mismatch"],
            "status": "failed",
        });
        let rec = CheckRecord::from_details(&details).unwrap();
        assert_eq!(rec.errors.len(), 1);
        assert_eq!(
            rec.verification(t(3)),
            Some(Verification {
                at: t(3),
                errors: 1
            })
        );
        let structure_only = CheckRecord {
            read_data: false,
            errors: vec![],
        };
        assert_eq!(structure_only.verification(t(3)), None);
        // What check writes is what status reads.
        let written = serde_json::to_value(&rec).unwrap();
        assert_eq!(CheckRecord::from_details(&written), Some(rec));
        assert_eq!(
            CheckRecord::from_details(&serde_json::json!({"x": 1})),
            None
        );
    }

    #[test]
    fn only_local_copy_is_red_on_offsite_and_immutable() {
        let s = CopiesState {
            copies: vec![full().copies[0].clone()],
        };
        let r = evaluate(&s, t(10), &StatusOptions::default());
        assert_eq!(r.level, Level::Red);
        let lv = |rule: &str| r.rules.iter().find(|l| l.rule == rule).unwrap().level;
        assert_eq!(lv("3 copies"), Level::Amber);
        assert_eq!(lv("2 media"), Level::Amber);
        assert_eq!(lv("1 off-site"), Level::Red);
        assert_eq!(lv("1 offline/immutable"), Level::Red);
        assert_eq!(lv("0 errors"), Level::Green);
    }

    #[test]
    fn overdue_disk_is_amber_with_age() {
        let r = evaluate(
            &full(),
            t(16),
            &StatusOptions {
                max_copy_age_days: 30,
                ..StatusOptions::default()
            },
        );
        let disk = r.copies.iter().find(|c| c.name == "disk-a").unwrap();
        assert_eq!(disk.level, Level::Amber);
        assert_eq!(disk.copy_age_days, Some(8));
        assert!(disk.warnings[0].contains("rotate"), "{:?}", disk.warnings);
        assert_eq!(r.level, Level::Amber);
    }

    #[test]
    fn verification_errors_are_red_and_do_not_count() {
        let mut s = full();
        s.copies[2].last_verification = Some(Verification {
            at: t(10),
            errors: 3,
        });
        let r = evaluate(&s, t(10), &StatusOptions::default());
        assert_eq!(r.level, Level::Red);
        assert_eq!(r.rules[4].level, Level::Red);
        assert!(r.rules[4].message.contains("s3:kura"));
        assert!(
            r.rules[0].message.starts_with("3 copies"),
            "{}",
            r.rules[0].message
        );
    }

    #[test]
    fn never_copied_is_red_and_json_uses_lowercase_levels() {
        let mut s = full();
        s.copies[1].last_copy = None;
        let r = evaluate(&s, t(10), &StatusOptions::default());
        assert_eq!(r.copies[1].level, Level::Red);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["level"], "red");
        assert_eq!(json["copies"][1]["kind"], "disk");
    }

    #[test]
    fn no_copies_at_all_is_red() {
        let r = evaluate(&CopiesState::default(), t(0), &StatusOptions::default());
        assert_eq!(r.level, Level::Red);
        assert_eq!(r.rules[4].level, Level::Amber);
    }

    #[test]
    fn drills_are_green_when_recent_amber_when_old_or_missing_red_when_failed() {
        let drill = |copy: &str, at: i64, passed: bool, pass: Option<i64>| DrillState {
            copy: copy.into(),
            last_drill: 7,
            last_at: t(at),
            last_passed: passed,
            last_pass: pass.map(t),
            last_pass_rto_ms: pass.map(|_| 1500),
        };
        let judge = |drills: &[DrillState]| {
            let mut r = evaluate(&full(), t(40), &StatusOptions::default());
            judge_drills(&mut r, drills, t(40), 30);
            r
        };
        let recent = [
            drill("local", 39, true, Some(39)),
            drill("disk-a", 35, true, Some(35)),
            drill("s3:kura", 20, true, Some(20)),
        ];
        let r = judge(&recent);
        let levels: Vec<Level> = r
            .copies
            .iter()
            .map(|c| c.drill.as_ref().unwrap().level)
            .collect();
        assert_eq!(levels, vec![Level::Green; 3]);
        assert_eq!(r.copies[0].drill.as_ref().unwrap().rto_ms, Some(1500));

        let r = judge(&[
            drill("local", 39, false, Some(5)),
            drill("disk-a", 5, true, Some(5)),
        ]);
        let levels: Vec<Level> = r
            .copies
            .iter()
            .map(|c| c.drill.as_ref().unwrap().level)
            .collect();
        assert_eq!(levels, vec![Level::Red, Level::Amber, Level::Amber]);
        assert_eq!(r.level, Level::Red);
        assert_eq!(
            r.copies[1].drill.as_ref().unwrap().last_pass_age_days,
            Some(35)
        );
        assert!(r.warnings.iter().any(|w| w.contains("35 days old")));
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("s3:kura: no restore drill yet"))
        );
    }
}
