//! `kura forget`

use anyhow::Result;
use kura_engine::{KeepPolicy, LockMode};

use crate::cli::ForgetCmd;
use crate::context::Ctx;
use crate::exit::Outcome;

fn policy(ctx: &Ctx, cmd: &ForgetCmd) -> KeepPolicy {
    let flags = KeepPolicy {
        last: cmd.keep_last,
        hourly: cmd.keep_hourly,
        daily: cmd.keep_daily,
        weekly: cmd.keep_weekly,
        monthly: cmd.keep_monthly,
        yearly: cmd.keep_yearly,
    };
    if flags.is_set() {
        flags
    } else {
        ctx.config
            .retention
            .clone()
            .unwrap_or_else(KeepPolicy::hospital_default)
    }
}

pub fn run(ctx: &Ctx, cmd: &ForgetCmd) -> Result<Outcome> {
    // A live-guard incident holds every generation (latest-clean included) until released.
    if !cmd.dry_run {
        crate::commands::guard::check_holds(ctx)?;
    }
    let mut repo = ctx.open(LockMode::Exclusive)?;
    let policy = policy(ctx, cmd);
    ctx.note("policy", &policy);
    ctx.note("dry_run", cmd.dry_run);
    let report = repo.forget(&policy, cmd.dry_run, cmd.prune)?;
    ctx.note("removed", &report.removed);
    ctx.note("pruned", report.pruned);
    if ctx.global.json {
        crate::output::json(&report)?;
        return Ok(Outcome::Ok);
    }
    for d in &report.decisions {
        let action = if d.keep {
            "keep  "
        } else if report.dry_run {
            "would remove"
        } else {
            "remove"
        };
        println!(
            "{action} {} {} {:<10} {}",
            d.snapshot.short_id,
            d.snapshot.time,
            d.snapshot.verdict.as_str(),
            d.reasons.join(", ")
        );
    }
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    ctx.say(format!(
        "{verb} {} of {}",
        report.removed.len(),
        crate::output::count(report.decisions.len() as u64, "snapshot")
    ));
    if report.pruned {
        ctx.say(format!(
            "pruned: {} deleted, {} freed",
            crate::output::count(report.packs_removed, "unused pack file"),
            crate::output::bytes(report.bytes_freed)
        ));
    } else if report.dry_run && cmd.prune {
        ctx.say(format!(
            "prune would free about {} ({}); nothing was changed",
            crate::output::bytes(report.bytes_freed),
            crate::output::count(report.packs_removed, "pack file")
        ));
    }
    Ok(Outcome::Ok)
}
