//! `kura report`: the MHLW checklist items on backup and recovery, answered with kura's evidence.

use std::path::PathBuf;

use anyhow::{Context, Result};
use kura_engine::{LockMode, Verdict};
use kura_report::{
    Attestations, AuditFact, CopyFact, CopyKind, DiskFact, DrillFact, EncryptionFact, Facts,
    Policy, RemoteFact, TrainingFact,
};
use serde::Serialize;

use crate::cli::ReportCmd;
use crate::context::Ctx;
use crate::exit::Outcome;
use crate::output::{Printer, Render};

/// Days after which an offline disk is overdue for rotation (as `kura status`).
const ROTATION_DAYS: u32 = 7;

/// kura's state, read without changing anything (the CLI's evidence source; exit codes of
/// repository errors are kept, so it returns anyhow errors rather than implementing
/// `kura_report::EvidenceSource`).
struct State<'a> {
    ctx: &'a Ctx,
}

impl State<'_> {
    fn gather(&self) -> Result<Facts> {
        let ctx = self.ctx;
        let now = jiff::Timestamp::now();
        let repo = ctx.open(LockMode::Shared)?;
        let snaps = repo.snapshots()?;
        let clean: Vec<i64> = snaps
            .iter()
            .filter(|s| s.verdict == Verdict::Clean)
            .map(|s| s.unix_time)
            .collect();
        let ts = |s: i64| jiff::Timestamp::from_second(s).ok();
        let enc = repo.encryption()?;
        drop(repo);
        let mut facts = Facts {
            clean_generations: clean.len() as u64,
            oldest_clean: clean.iter().min().and_then(|s| ts(*s)),
            newest_clean: clean.iter().max().and_then(|s| ts(*s)),
            encryption: Some(EncryptionFact {
                key_files: enc.key_files,
                config_encrypted: enc.config_ciphertext == Some(true),
                version: enc.version,
            }),
            ..Facts::default()
        };
        facts.copies.push(CopyFact {
            name: "local".into(),
            kind: CopyKind::Local,
            offline_or_immutable: false,
            last_copy: snaps.last().and_then(|s| ts(s.unix_time)),
        });
        for d in crate::commands::media::registry(ctx)?.list(now, ROTATION_DAYS) {
            facts.copies.push(CopyFact {
                name: format!("disk:{}", d.label),
                kind: CopyKind::Disk,
                offline_or_immutable: true,
                last_copy: d.last_export,
            });
            facts.disks.push(DiskFact {
                label: d.label,
                last_export: d.last_export,
                snapshots: d.snapshots.len() as u64,
            });
        }
        for (name, r) in crate::commands::remote::load(ctx)? {
            facts.copies.push(CopyFact {
                name: format!("remote:{name}"),
                kind: CopyKind::Remote,
                offline_or_immutable: true,
                last_copy: r.last_push,
            });
            facts.remotes.push(RemoteFact {
                name,
                bucket: r.options.bucket,
                // kura writes COMPLIANCE locks only, and its verification counts any object
                // without a COMPLIANCE lock in force as a problem (kura-copies' S3LockStore).
                lock_mode: "COMPLIANCE".into(),
                snapshot_days: r.options.retention.snapshot_days,
                data_days: r.options.retention.data_days,
                last_push: r.last_push,
                last_verify: r.last_verify,
                last_verify_errors: r.last_verify_errors,
            });
        }
        let drills = crate::commands::drill::history(ctx)?.list()?;
        let fact = |d: &kura_recovery::DrillEntry| DrillFact {
            id: d.report.id,
            copy: d.report.copy.clone(),
            at: d.report.started,
            passed: d.report.passed(),
            rto_seconds: d.report.rto_seconds,
            files_verified: d.report.files_verified,
        };
        facts.last_drill = drills.last().map(fact);
        facts.last_passed_drill = drills.iter().rev().find(|d| d.report.passed()).map(fact);
        let (audit, _) = crate::commands::audit::verify_chain(ctx, false)?;
        facts.audit = Some(AuditFact {
            intact: audit.ok,
            records: audit.records,
            checkpoints: audit.checkpoints_checked,
            problem: audit
                .first_bad
                .map(|b| format!("record {}: {}", b.seq, b.reason)),
        });
        facts.training = training(ctx)?;
        Ok(facts)
    }
}

/// Recovery exercises in the audit log: `train.start` records, and `train.check` records that
/// passed (both `kura train` commands record `passed` in their details).
fn training(ctx: &Ctx) -> Result<TrainingFact> {
    let filter = kura_audit::Filter {
        action: Some("train.*".into()),
        ..kura_audit::Filter::default()
    };
    let records = kura_audit::query(&ctx.audit_dir()?, &filter)?;
    let mut t = TrainingFact::default();
    for r in &records {
        match r.action.as_str() {
            "train.start" if r.outcome == kura_audit::Outcome::Ok => t.started += 1,
            "train.check" if r.details["passed"] == true => {
                t.passed += 1;
                t.last_passed = Some(r.time_utc);
            }
            _ => {}
        }
    }
    Ok(t)
}

pub fn run(ctx: &Ctx, cmd: &ReportCmd) -> Result<Outcome> {
    let attest = match &cmd.attest {
        Some(p) => Attestations::parse(
            &std::fs::read_to_string(p)
                .with_context(|| format!("cannot read attestation file {}", p.display()))?,
        )
        .with_context(|| format!("attestation file {}", p.display()))?,
        None => Attestations::default(),
    };
    let facts = State { ctx }.gather()?;
    let policy = Policy {
        rpo_hours: ctx.config.report.rpo_hours.unwrap_or(24),
        rotation_days: ROTATION_DAYS,
    };
    let report = kura_report::evaluate(
        &kura_report::checklist()?,
        &facts,
        &attest,
        &policy,
        jiff::Timestamp::now(),
    );
    let html = kura_report::render_html(&report);
    if let Some(out) = &cmd.out {
        write(out, html.as_bytes())?;
    }
    if let Some(pdf) = &cmd.pdf {
        print_pdf(&html, pdf)?;
    }
    ctx.note("items", report.items.len());
    let written: Vec<PathBuf> = cmd.out.iter().chain(&cmd.pdf).cloned().collect();
    ctx.emit(&Reported {
        report: &report,
        written,
    })?;
    Ok(Outcome::Ok)
}

/// The checklist answered: the report in JSON, one line an item for people.
#[derive(Serialize)]
#[serde(transparent)]
struct Reported<'a> {
    report: &'a kura_report::Report,
    /// Files the report was written to (--out, --pdf).
    #[serde(skip)]
    written: Vec<PathBuf>,
}

impl Render for Reported<'_> {
    fn text(&self, p: &Printer) {
        for i in &self.report.items {
            let status = format!("{:?}", i.status).to_lowercase();
            p.say(format!("{status:<7} {:<28} {}", i.id, i.evidence));
        }
        p.say(kura_report::NOTICE);
        for out in &self.written {
            p.say(format!("report written to {}", out.display()));
        }
    }
}

fn write(path: &PathBuf, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Print the HTML to PDF with headless Chromium: real text with the embedded Noto CJK font, and
/// no typst build (minutes of compile time on 2-core CI) inside kura.
fn print_pdf(html: &str, pdf: &std::path::Path) -> Result<()> {
    let dir = tempfile::tempdir().context("cannot create a temporary folder for the PDF")?;
    let page = dir.path().join("report.html");
    write(&page.to_path_buf(), html.as_bytes())?;
    let pdf_abs =
        std::path::absolute(pdf).with_context(|| format!("cannot resolve {}", pdf.display()))?;
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--print-to-pdf={}", pdf_abs.display()))
        .arg(format!("file://{}", page.display()))
        .output();
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "cannot print the PDF: chromium is not installed (apt-get install chromium fonts-noto-cjk), or use --out FILE.html"
        ),
        Err(e) => Err(e).context("cannot run chromium to print the PDF"),
        Ok(o) if !o.status.success() || !pdf_abs.is_file() => anyhow::bail!(
            "chromium could not print the PDF ({}); use --out FILE.html and print it from a browser",
            o.status
        ),
        Ok(_) => Ok(()),
    }
}
