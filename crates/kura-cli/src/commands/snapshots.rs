//! `kura snapshots`

use anyhow::Result;
use kura_engine::{LockMode, SnapshotInfo};
use serde::Serialize;

use crate::cli::SnapshotsCmd;
use crate::context::Ctx;
use crate::exit::Outcome;
use crate::output::{Printer, Render};

pub fn run(ctx: &Ctx, _cmd: &SnapshotsCmd) -> Result<Outcome> {
    let repo = ctx.open(LockMode::Shared)?;
    print(ctx, &repo.snapshots()?)
}

/// A snapshot list: a table for people, an array in JSON.
#[derive(Serialize)]
#[serde(transparent)]
pub struct SnapshotList<'a>(pub &'a [SnapshotInfo]);

impl Render for SnapshotList<'_> {
    fn text(&self, p: &Printer) {
        p.line(format!(
            "{:<9} {:<23} {:<11} {:<12} {:<20} paths",
            "id", "time", "verdict", "host", "tags"
        ));
        for s in self.0 {
            let hold = if s.legal_hold { " (legal hold)" } else { "" };
            p.line(format!(
                "{:<9} {:<23} {:<11} {:<12} {:<20} {}{hold}",
                s.short_id,
                crate::output::local_time(&s.time),
                s.verdict.as_str(),
                s.hostname,
                s.tags.join(","),
                s.paths.join(",")
            ));
        }
        p.say(crate::output::count(self.0.len() as u64, "snapshot"));
    }
}

/// Print a snapshot list as a table or JSON.
pub fn print(ctx: &Ctx, snaps: &[SnapshotInfo]) -> Result<Outcome> {
    ctx.emit(&SnapshotList(snaps))?;
    Ok(Outcome::Ok)
}
