//! `kura check`

use anyhow::Result;
use kura_engine::LockMode;

use crate::cli::CheckCmd;
use crate::context::Ctx;
use crate::exit::Outcome;

pub fn run(ctx: &Ctx, cmd: &CheckCmd) -> Result<Outcome> {
    let repo = ctx.open(LockMode::Shared)?;
    let report = repo.check(cmd.read_data)?;
    if ctx.global.json {
        crate::output::json(&serde_json::json!({ "ok": report.is_ok(), "report": report }))?;
    } else {
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
        for e in &report.errors {
            eprintln!("error: {e}");
        }
        if report.is_ok() {
            let what = if cmd.read_data {
                "structure and all data"
            } else {
                "structure"
            };
            ctx.say(format!("no errors were found ({what} checked)"));
        }
    }
    ctx.note("read_data", cmd.read_data);
    ctx.note("errors", &report.errors);
    if report.is_ok() {
        Ok(Outcome::Ok)
    } else {
        ctx.raise(
            "verify_failed",
            kura_audit::Severity::Critical,
            &format!(
                "kura check found {} in the repository",
                crate::output::count(report.errors.len() as u64, "error")
            ),
            serde_json::json!({ "errors": report.errors }),
        );
        eprintln!(
            "kura: error: the repository has {}: restore from another copy (offline disk or remote) and run `kura check --read-data` there",
            crate::output::count(report.errors.len() as u64, "error")
        );
        Ok(Outcome::Failed)
    }
}
