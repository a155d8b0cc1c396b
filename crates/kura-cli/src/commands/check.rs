//! `kura check`

use anyhow::Result;
use kura_engine::{CheckReport, LockMode};
use serde::Serialize;

use crate::cli::CheckCmd;
use crate::context::Ctx;
use crate::exit::Outcome;
use crate::output::{Printer, Render};

pub fn run(ctx: &Ctx, cmd: &CheckCmd) -> Result<Outcome> {
    let repo = ctx.open(LockMode::Shared)?;
    let report = repo.check(cmd.read_data)?;
    ctx.emit(&CheckOutcome {
        ok: report.is_ok(),
        report: &report,
    })?;
    // `kura status` reads this record back as the repository's last verification.
    ctx.note_record(&kura_copies::CheckRecord {
        read_data: cmd.read_data,
        errors: report.errors.clone(),
    });
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

/// The result of a check.
#[derive(Serialize)]
struct CheckOutcome<'a> {
    ok: bool,
    report: &'a CheckReport,
}

impl Render for CheckOutcome<'_> {
    fn text(&self, p: &Printer) {
        for w in &self.report.warnings {
            eprintln!("warning: {w}");
        }
        for e in &self.report.errors {
            eprintln!("error: {e}");
        }
        if self.ok {
            let what = if self.report.read_data {
                "structure and all data"
            } else {
                "structure"
            };
            p.say(format!("no errors were found ({what} checked)"));
        }
    }
}
