//! `kura verdict` (operator override) and `kura hold` (legal hold).

use anyhow::{Result, bail};
use kura_engine::{LockMode, Verdict};
use serde_json::json;

use crate::cli::{HoldCmd, VerdictArg, VerdictCmd};
use crate::context::Ctx;
use crate::exit::Outcome;

pub fn run(ctx: &Ctx, cmd: &VerdictCmd) -> Result<Outcome> {
    if cmd.reason.trim().is_empty() {
        bail!("give a --reason: overrides are audited and must say why");
    }
    let repo = ctx.open(LockMode::Shared)?;
    let before = repo.snapshot(&cmd.snapshot)?;
    let verdict = match cmd.set {
        VerdictArg::Clean => Verdict::Clean,
        VerdictArg::Suspicious => Verdict::Suspicious,
    };
    let doc = json!({
        "verdict": verdict,
        "override": {
            "by": kura_audit::current_actor(),
            "at": jiff::Timestamp::now().to_string(),
            "reason": cmd.reason,
            "previous": before.verdict,
        }
    });
    let after = repo.set_verdict(&before.id, verdict, doc)?;
    ctx.note("snapshot_before", &before.id);
    ctx.note("snapshot", &after.id);
    ctx.note("from", before.verdict);
    ctx.note("to", verdict);
    ctx.note("reason", &cmd.reason);
    if ctx.global.json {
        crate::output::json(&after)?;
    } else {
        ctx.say(format!(
            "snapshot {} is now {} (was {}; new id {})",
            before.short_id, after.verdict, before.verdict, after.short_id
        ));
    }
    Ok(Outcome::Ok)
}

pub fn hold(ctx: &Ctx, cmd: &HoldCmd) -> Result<Outcome> {
    if cmd.reason.trim().is_empty() {
        bail!("give a --reason: legal holds are audited and must say why");
    }
    let repo = ctx.open(LockMode::Shared)?;
    let after = repo.set_legal_hold(&cmd.snapshot, !cmd.release)?;
    ctx.note("snapshot", &after.id);
    ctx.note("hold", !cmd.release);
    ctx.note("reason", &cmd.reason);
    if ctx.global.json {
        crate::output::json(&after)?;
    } else {
        let state = if cmd.release {
            "released from legal hold"
        } else {
            "under legal hold: it is never removed"
        };
        ctx.say(format!("snapshot {} {state}", after.short_id));
    }
    Ok(Outcome::Ok)
}
