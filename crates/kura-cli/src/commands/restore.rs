//! `kura restore`

use anyhow::Result;
use kura_engine::LockMode;

use crate::cli::RestoreCmd;
use crate::context::Ctx;
use crate::exit::Outcome;

pub fn run(ctx: &Ctx, cmd: &RestoreCmd) -> Result<Outcome> {
    let mut repo = ctx.open(LockMode::Shared)?;
    ctx.note("snapshot", &cmd.snapshot);
    ctx.note("target", &cmd.target);
    ctx.note("include", &cmd.include);
    // The engine turns a failure inside the restorer's threads into an error; keep the default
    // panic message (several lines) off the terminal meanwhile, so the user sees one line.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = repo.restore(&cmd.snapshot, &cmd.target, cmd.include.as_deref());
    std::panic::set_hook(previous);
    let report = result?;
    ctx.note("snapshot", &report.snapshot);
    ctx.note("files", report.files);
    if ctx.global.json {
        crate::output::json(&report)?;
    } else {
        ctx.say(format!(
            "restored snapshot {} to {}: {} files, {} dirs, {} in {:.1}s",
            &report.snapshot[..8],
            report.target.display(),
            report.files,
            report.dirs,
            crate::output::bytes(report.bytes),
            report.duration_secs
        ));
    }
    Ok(Outcome::Ok)
}
