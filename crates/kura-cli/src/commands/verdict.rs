//! `kura verdict` (operator override) and `kura hold` (legal hold).

use anyhow::{Result, bail};
use kura_engine::{LockMode, Verdict};
use serde::Serialize;
use serde_json::json;

use crate::cli::{HoldCmd, VerdictArg, VerdictCmd};
use crate::context::Ctx;
use crate::exit::Outcome;
use crate::output::{Printer, Render, Sorted};

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
    ctx.emit(&Changed::new(
        &before,
        &after,
        format!("is now {} (was {})", after.verdict, before.verdict),
    ))?;
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
    let state = if cmd.release {
        "released from legal hold"
    } else {
        "under legal hold: it is never removed"
    };
    ctx.emit(&Changed::new(&before, &after, state.to_string()))?;
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

/// A snapshot after a verdict or hold change. In JSON: the snapshot with `previous_id` (the id
/// before this change) and `id_changed`.
#[derive(Serialize)]
struct Changed<'a> {
    #[serde(flatten)]
    after: &'a kura_engine::SnapshotInfo,
    id_changed: bool,
    previous_id: &'a str,
    #[serde(skip)]
    previous_short_id: &'a str,
    /// What changed, for people ("is now clean (was suspicious)").
    #[serde(skip)]
    what: String,
}

impl<'a> Changed<'a> {
    fn new(
        before: &'a kura_engine::SnapshotInfo,
        after: &'a kura_engine::SnapshotInfo,
        what: String,
    ) -> Sorted<Self> {
        Sorted(Changed {
            after,
            id_changed: after.id != before.id,
            previous_id: &before.id,
            previous_short_id: &before.short_id,
            what,
        })
    }
}

impl Render for Changed<'_> {
    fn text(&self, p: &Printer) {
        p.say(format!("snapshot {} {}", self.previous_short_id, self.what));
        p.say(id_changed(self.previous_short_id, &self.after.short_id));
    }
}
