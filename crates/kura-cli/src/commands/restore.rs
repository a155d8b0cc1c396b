//! `kura restore`

use anyhow::Result;
use kura_engine::{LockMode, RestoreOptions, RestoreReport};

use crate::cli::RestoreCmd;
use crate::context::Ctx;
use crate::exit::Outcome;
use crate::output::{bytes, count};

pub fn run(ctx: &Ctx, cmd: &RestoreCmd) -> Result<Outcome> {
    let mut repo = ctx.open(LockMode::Shared)?;
    ctx.note("snapshot", &cmd.snapshot);
    ctx.note("target", &cmd.target);
    ctx.note("include", &cmd.include);
    ctx.note("overwrite", kura_engine::Overwrite::from(cmd.overwrite));
    ctx.note("dry_run", cmd.dry_run);
    let opts = RestoreOptions {
        include: cmd.include.clone(),
        overwrite: cmd.overwrite.into(),
        dry_run: cmd.dry_run,
    };
    // The engine turns a failure inside the restorer's threads into an error; keep the default
    // panic message (several lines) off the terminal meanwhile, so the user sees one line.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = repo.restore(&cmd.snapshot, &cmd.target, &opts);
    std::panic::set_hook(previous);
    let report = result?;
    ctx.note("snapshot", &report.snapshot);
    ctx.note("files", report.files);
    ctx.note("overwritten", report.overwritten);
    ctx.note("skipped", report.skipped);
    if ctx.global.json {
        crate::output::json(&report)?;
    } else {
        ctx.say(summary(&report));
    }
    Ok(Outcome::Ok)
}

/// One line saying what a restore wrote, skipped and overwrote (or would, with --dry-run).
pub fn summary(r: &RestoreReport) -> String {
    let short = r.snapshot.get(..8).unwrap_or(&r.snapshot);
    let head = if r.dry_run {
        format!(
            "dry run: restoring snapshot {short} to {} would write",
            r.target.display()
        )
    } else {
        format!("restored snapshot {short} to {}:", r.target.display())
    };
    let mut line = format!(
        "{head} {} new, {} overwritten, {} skipped (already there or kept), {}, {}",
        count(r.files, "file"),
        r.overwritten,
        r.skipped,
        count(r.dirs, "new folder"),
        bytes(r.bytes)
    );
    if !r.dry_run {
        line.push_str(&format!(" in {:.1}s", r.duration_secs));
    }
    if r.unlisted > 0 {
        line.push_str(&format!(
            "; {} already in the target and not in the snapshot left alone",
            count(r.unlisted, "entry")
        ));
    }
    line
}
