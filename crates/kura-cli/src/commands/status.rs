//! `kura status`: the 3-2-1-1-0 rule over every copy.

use anyhow::Result;
use kura_copies::StatusReport;
use kura_copies::{
    CheckRecord, CopiesState, CopyKind, CopyState, Level, status::StatusOptions,
    status::Verification,
};
use kura_engine::LockMode;
use serde::Serialize;

use crate::cli::StatusCmd;
use crate::context::Ctx;
use crate::exit::Outcome;
use crate::output::{Printer, Render};

/// The last `kura check --read-data` of the main repository: the [`CheckRecord`] that `kura
/// check` wrote into its audit entry.
fn last_local_verification(ctx: &Ctx, location: &str) -> Option<Verification> {
    let filter = kura_audit::Filter {
        action: Some(CheckRecord::ACTION.into()),
        ..kura_audit::Filter::default()
    };
    let records = kura_audit::query(&ctx.audit_dir().ok()?, &filter).ok()?;
    records.into_iter().rev().find_map(|r| {
        if r.target != location {
            return None;
        }
        CheckRecord::from_details(&r.details)?.verification(r.time_utc)
    })
}

pub fn run(ctx: &Ctx, _cmd: &StatusCmd) -> Result<Outcome> {
    let repo = ctx.open(LockMode::Shared)?;
    let location = repo.location().describe();
    let snaps = repo.snapshots()?;
    let mut copies = vec![CopyState {
        name: format!("local {location}"),
        kind: CopyKind::Local,
        offsite: false,
        last_copy: snaps
            .last()
            .and_then(|s| jiff::Timestamp::from_second(s.unix_time).ok()),
        last_verification: last_local_verification(ctx, &location),
    }];
    for d in crate::commands::media::registry(ctx)?.list(jiff::Timestamp::now(), 7) {
        copies.push(CopyState {
            name: format!("disk {}", d.label),
            kind: CopyKind::Disk,
            offsite: false,
            last_copy: d.last_export,
            // Every export ends with a full read-back; a failed one is not recorded as an export.
            last_verification: d.last_export.map(|at| Verification { at, errors: 0 }),
        });
    }
    for (name, r) in crate::commands::remote::load(ctx)? {
        copies.push(CopyState {
            name: format!("s3 {name} ({})", r.options.bucket),
            // Immutability comes from the kind: a remote without Object Lock never counts.
            kind: r.kind.copy_kind(),
            offsite: true,
            last_copy: r.last_push,
            last_verification: r.last_verify.map(|at| Verification {
                at,
                errors: r.last_verify_errors,
            }),
        });
    }
    for d in crate::commands::media::registry(ctx)?.list(jiff::Timestamp::now(), 7) {
        if d.overdue {
            let message = format!(
                "offline disk {} is overdue for rotation (last export {} days ago)",
                d.label, d.age_days
            );
            ctx.raise_once(
                "rotation_overdue",
                &d.label,
                kura_audit::Severity::Warning,
                &message,
            );
        }
    }
    let mut report = kura_copies::evaluate(
        &CopiesState { copies },
        jiff::Timestamp::now(),
        &StatusOptions::default(),
    );
    crate::commands::drill::judge_status(ctx, &mut report)?;
    let guard = crate::commands::guard::status(ctx);
    ctx.emit(&StatusView {
        report: &report,
        guard,
    })?;
    Ok(if report.level == Level::Red {
        Outcome::Failed
    } else {
        Outcome::Ok
    })
}

/// The 3-2-1-1-0 status and the live guard: the report in JSON (with a `guard` key), traffic
/// lights for people.
#[derive(Serialize)]
struct StatusView<'a> {
    #[serde(flatten)]
    report: &'a StatusReport,
    guard: Option<crate::commands::guard::GuardLine>,
}

impl Render for StatusView<'_> {
    fn text(&self, p: &Printer) {
        let report = self.report;
        let mark = |l: Level| match l {
            Level::Green => "[green]",
            Level::Amber => "[amber]",
            Level::Red => "[ RED ]",
        };
        p.line(format!("3-2-1-1-0 status: {}", mark(report.level)));
        for r in &report.rules {
            p.line(format!("  {} {:<20} {}", mark(r.level), r.rule, r.message));
        }
        for c in &report.copies {
            let age = c
                .copy_age_days
                .map_or_else(|| "never".into(), |d| format!("{d} days ago"));
            p.line(format!(
                "  {} {:<40} last copy {age}",
                mark(c.level),
                c.name
            ));
            if let Some(line) = crate::commands::drill::status_line(c) {
                p.line(format!("        {line}"));
            }
            for w in &c.warnings {
                p.line(format!("        ! {w}"));
            }
        }
        p.line(crate::commands::guard::status_text(self.guard.as_ref()));
    }
}
