//! `kura status`: the 3-2-1-1-0 rule over every copy.

use anyhow::Result;
use kura_copies::{
    CopiesState, CopyKind, CopyState, Level, status::StatusOptions, status::Verification,
};
use kura_engine::LockMode;

use crate::cli::StatusCmd;
use crate::context::Ctx;
use crate::exit::Outcome;

/// The last `kura check --read-data` of the main repository, from the audit log.
fn last_local_verification(ctx: &Ctx, location: &str) -> Option<Verification> {
    let filter = kura_audit::Filter {
        action: Some("check".into()),
        ..kura_audit::Filter::default()
    };
    let records = kura_audit::query(&ctx.audit_dir().ok()?, &filter).ok()?;
    let last = records
        .into_iter()
        .rev()
        .find(|r| r.target == location && r.details["read_data"] == true)?;
    let errors = last.details["errors"]
        .as_array()
        .map_or(0, |a| a.len() as u64);
    Some(Verification {
        at: last.time_utc,
        errors,
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
        offline_or_immutable: false,
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
            offline_or_immutable: true,
            last_copy: d.last_export,
            // Every export ends with a full read-back; a failed one is not recorded as an export.
            last_verification: d.last_export.map(|at| Verification { at, errors: 0 }),
        });
    }
    for (name, r) in crate::commands::remote::load(ctx)? {
        copies.push(CopyState {
            name: format!("s3 {name} ({})", r.options.bucket),
            kind: CopyKind::S3,
            offsite: true,
            offline_or_immutable: true,
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
    if ctx.global.json {
        let mut doc = serde_json::to_value(&report)?;
        doc["guard"] = guard;
        crate::output::json(&doc)?;
    } else {
        let mark = |l: Level| match l {
            Level::Green => "[green]",
            Level::Amber => "[amber]",
            Level::Red => "[ RED ]",
        };
        println!("3-2-1-1-0 status: {}", mark(report.level));
        for r in &report.rules {
            println!("  {} {:<20} {}", mark(r.level), r.rule, r.message);
        }
        for c in &report.copies {
            let age = c
                .copy_age_days
                .map_or_else(|| "never".into(), |d| format!("{d} days ago"));
            println!("  {} {:<40} last copy {age}", mark(c.level), c.name);
            if let Some(line) = crate::commands::drill::status_line(c) {
                println!("        {line}");
            }
            for w in &c.warnings {
                println!("        ! {w}");
            }
        }
        println!("{}", crate::commands::guard::status_text(&guard));
    }
    Ok(if report.level == Level::Red {
        Outcome::Failed
    } else {
        Outcome::Ok
    })
}
