//! `kura audit log|verify`

use anyhow::{Context, Result};
use kura_engine::LockMode;
use serde::Serialize;

use crate::cli::{AuditCmd, AuditLogCmd, AuditVerifyCmd};
use crate::context::Ctx;
use crate::exit::Outcome;
use crate::output::{Printer, Render, count};

pub fn run(ctx: &Ctx, cmd: &AuditCmd) -> Result<Outcome> {
    match cmd {
        AuditCmd::Log(c) => log(ctx, c),
        AuditCmd::Verify(c) => verify(ctx, c),
    }
}

fn parse_since(s: &str) -> Result<jiff::Timestamp> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let date: jiff::civil::Date = s
        .parse()
        .with_context(|| format!("--since {s:?} is neither RFC 3339 nor a date"))?;
    Ok(date.to_zoned(jiff::tz::TimeZone::system())?.timestamp())
}

fn log(ctx: &Ctx, cmd: &AuditLogCmd) -> Result<Outcome> {
    let filter = kura_audit::Filter {
        since: cmd.since.as_deref().map(parse_since).transpose()?,
        actor: cmd.actor.clone(),
        action: cmd.action.clone(),
        limit: cmd.limit,
        ..kura_audit::Filter::default()
    };
    let records = kura_audit::query(&ctx.audit_dir()?, &filter)?;
    ctx.emit(&RecordList(&records))?;
    Ok(Outcome::Ok)
}

/// Audit records: one line each, an array in JSON.
#[derive(Serialize)]
#[serde(transparent)]
struct RecordList<'a>(&'a [kura_audit::Record]);

impl Render for RecordList<'_> {
    fn text(&self, p: &Printer) {
        for r in self.0 {
            p.line(format!(
                "{:>6} {} {:<16} {:<20} {:<8} {} {}",
                r.seq,
                r.time_local,
                r.actor,
                r.action,
                format!("{:?}", r.outcome).to_lowercase(),
                r.target,
                r.details
            ));
        }
    }
}

/// Audit checkpoints that backups stored (encrypted) inside the repository's snapshots.
fn repo_checkpoints(ctx: &Ctx) -> Result<Vec<kura_audit::Checkpoint>> {
    let repo = ctx.open(LockMode::Shared)?;
    let mut out = Vec::new();
    for s in repo.snapshots()? {
        if let Some(cp) = s.document.as_ref().and_then(|d| d.get("audit_checkpoint"))
            && let Ok(cp) = serde_json::from_value::<kura_audit::Checkpoint>(cp.clone())
            && cp.seq > 0
        {
            out.push(cp);
        }
    }
    Ok(out)
}

/// Verify the audit chain against the checkpoints kept in the repository's snapshots (unless
/// `no_repo`): what `kura audit verify` and `kura report` check. Returns the report and the
/// number of checkpoints found.
pub(crate) fn verify_chain(ctx: &Ctx, no_repo: bool) -> Result<(kura_audit::VerifyReport, usize)> {
    let checkpoints = if no_repo || ctx.location().is_err() {
        Vec::new()
    } else {
        repo_checkpoints(ctx)?
    };
    Ok((
        kura_audit::verify(&ctx.audit_dir()?, &checkpoints)?,
        checkpoints.len(),
    ))
}

fn verify(ctx: &Ctx, cmd: &AuditVerifyCmd) -> Result<Outcome> {
    let (report, checkpoints) = verify_chain(ctx, cmd.no_repo)?;
    ctx.note("records", report.records);
    ctx.note("checkpoints", report.checkpoints_checked);
    ctx.emit(&Verified {
        report: &report,
        repository_checked: checkpoints > 0,
    })?;
    if report.ok {
        return Ok(Outcome::Ok);
    }
    let bad = report.first_bad.as_ref();
    let msg = match bad {
        Some(b) => format!(
            "audit log tampered or damaged at record {} ({} line {}): {}",
            b.seq,
            b.file.display(),
            b.line,
            b.reason
        ),
        None => "audit log verification failed".to_string(),
    };
    ctx.note("first_bad", bad);
    ctx.raise(
        "audit_chain_broken",
        kura_audit::Severity::Critical,
        &msg,
        serde_json::to_value(&report)?,
    );
    eprintln!("kura: error: {msg}");
    Ok(Outcome::Failed)
}

/// A verification of the audit log (a failure is reported by the command, with its event).
#[derive(Serialize)]
#[serde(transparent)]
struct Verified<'a> {
    report: &'a kura_audit::VerifyReport,
    #[serde(skip)]
    repository_checked: bool,
}

impl Render for Verified<'_> {
    fn text(&self, p: &Printer) {
        let report = self.report;
        if !report.ok {
            return;
        }
        p.say(format!(
            "audit log intact: {} in {}, {} from the repository matched",
            count(report.records, "record"),
            count(report.files, "file"),
            count(report.checkpoints_checked, "checkpoint")
        ));
        if !self.repository_checked {
            eprintln!(
                "kura: warning: no repository checkpoints were checked, so truncation or a rebuilt log would go unnoticed"
            );
        }
    }
}
