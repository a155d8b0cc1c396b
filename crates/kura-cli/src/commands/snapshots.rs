//! `kura snapshots`

use anyhow::Result;
use kura_engine::LockMode;

use crate::cli::SnapshotsCmd;
use crate::context::Ctx;
use crate::exit::Outcome;

pub fn run(ctx: &Ctx, _cmd: &SnapshotsCmd) -> Result<Outcome> {
    let repo = ctx.open(LockMode::Shared)?;
    print(ctx, &repo.snapshots()?)
}

/// Print a snapshot list as a table or JSON.
pub fn print(ctx: &Ctx, snaps: &[kura_engine::SnapshotInfo]) -> Result<Outcome> {
    if ctx.global.json {
        crate::output::json(&snaps)?;
        return Ok(Outcome::Ok);
    }
    println!(
        "{:<9} {:<23} {:<11} {:<12} {:<20} paths",
        "id", "time", "verdict", "host", "tags"
    );
    for s in snaps {
        let hold = if s.legal_hold { " (legal hold)" } else { "" };
        println!(
            "{:<9} {:<23} {:<11} {:<12} {:<20} {}{hold}",
            s.short_id,
            crate::output::local_time(&s.time),
            s.verdict.as_str(),
            s.hostname,
            s.tags.join(","),
            s.paths.join(",")
        );
    }
    ctx.say(crate::output::count(snaps.len() as u64, "snapshot"));
    Ok(Outcome::Ok)
}
