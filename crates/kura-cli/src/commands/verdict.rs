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
        crate::output::json(&with_previous_id(&after, &before.id)?)?;
    } else {
        ctx.say(format!(
            "snapshot {} is now {} (was {})",
            before.short_id, after.verdict, before.verdict
        ));
        ctx.say(id_changed(&before.short_id, &after.short_id));
    }
    Ok(Outcome::Ok)
}

pub fn hold(ctx: &Ctx, cmd: &HoldCmd) -> Result<Outcome> {
    if cmd.reason.trim().is_empty() {
        bail!("give a --reason: legal holds are audited and must say why");
    }
    let repo = ctx.open(LockMode::Shared)?;
    let before = repo.snapshot(&cmd.snapshot)?;
    let after = repo.set_legal_hold(&before.id, !cmd.release)?;
    ctx.note("snapshot_before", &before.id);
    ctx.note("snapshot", &after.id);
    ctx.note("hold", !cmd.release);
    ctx.note("reason", &cmd.reason);
    if ctx.global.json {
        crate::output::json(&with_previous_id(&after, &before.id)?)?;
    } else {
        let state = if cmd.release {
            "released from legal hold"
        } else {
            "under legal hold: it is never removed"
        };
        ctx.say(format!("snapshot {} {state}", before.short_id));
        ctx.say(id_changed(&before.short_id, &after.short_id));
    }
    Ok(Outcome::Ok)
}

/// Changing a verdict or hold rewrites the snapshot file, and a snapshot's id is the hash of
/// that file: say so, or the operator's notes (and scripts) keep an id that no longer exists.
fn id_changed(before: &str, after: &str) -> String {
    if before == after {
        format!("its id stays {after}")
    } else {
        format!(
            "its id changed from {before} to {after} (the snapshot was rewritten); use {after} from now on"
        )
    }
}

/// The snapshot as JSON with `previous_id` (the id before this change) and `id_changed`.
fn with_previous_id(after: &kura_engine::SnapshotInfo, before: &str) -> Result<serde_json::Value> {
    let mut doc = serde_json::to_value(after)?;
    doc["previous_id"] = before.into();
    doc["id_changed"] = (after.id != before).into();
    Ok(doc)
}
