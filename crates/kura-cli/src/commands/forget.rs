//! `kura forget`

use anyhow::Result;
use kura_engine::{ForgetReport, KeepPolicy, LockMode};
use serde::Serialize;

use crate::cli::ForgetCmd;
use crate::context::Ctx;
use crate::exit::Outcome;
use crate::output::{Printer, Render};

fn policy(ctx: &Ctx, cmd: &ForgetCmd) -> KeepPolicy {
    ctx.config.retention(&KeepPolicy {
        last: cmd.keep_last,
        hourly: cmd.keep_hourly,
        daily: cmd.keep_daily,
        weekly: cmd.keep_weekly,
        monthly: cmd.keep_monthly,
        yearly: cmd.keep_yearly,
    })
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
    ctx.emit(&ForgetOutcome {
        report: &report,
        prune_asked: cmd.prune,
    })?;
    Ok(Outcome::Ok)
}

/// What forget did: the engine's report, and whether a prune was asked for (for the text).
#[derive(Serialize)]
#[serde(transparent)]
struct ForgetOutcome<'a> {
    report: &'a ForgetReport,
    #[serde(skip)]
    prune_asked: bool,
}

impl Render for ForgetOutcome<'_> {
    fn text(&self, p: &Printer) {
        let report = self.report;
        for d in &report.decisions {
            let action = if d.keep {
                "keep  "
            } else if report.dry_run {
                "would remove"
            } else {
                "remove"
            };
            p.line(format!(
                "{action} {} {} {:<10} {}",
                d.snapshot.short_id,
                d.snapshot.time,
                d.snapshot.verdict.as_str(),
                d.reasons.join(", ")
            ));
        }
        let verb = if report.dry_run {
            "would remove"
        } else {
            "removed"
        };
        p.say(format!(
            "{verb} {} of {}",
            report.removed.len(),
            crate::output::count(report.decisions.len() as u64, "snapshot")
        ));
        if report.pruned {
            p.say(format!(
                "pruned: {} deleted, {} freed",
                crate::output::count(report.packs_removed, "unused pack file"),
                crate::output::bytes(report.bytes_freed)
            ));
        } else if report.dry_run && self.prune_asked {
            p.say(format!(
                "prune would free about {} ({}); nothing was changed",
                crate::output::bytes(report.bytes_freed),
                crate::output::count(report.packs_removed, "pack file")
            ));
        }
    }
}
