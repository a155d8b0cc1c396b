//! `kura media add|export|list`: offline disks, one restic-format repository per disk. The disk
//! repositories and the export live in kura-copies; this wires and prints them.

use std::path::Path;

use anyhow::Result;
use kura_copies::{DiskRecord, DiskStatus, MediaRegistry};
use kura_engine::LockMode;
use serde::Serialize;

use crate::cli::MediaCmd;
use crate::context::Ctx;
use crate::exit::Outcome;
use crate::output::{Printer, Render};

pub(crate) use kura_copies::disk_repo;

pub fn registry(ctx: &Ctx) -> Result<MediaRegistry> {
    Ok(MediaRegistry::open(&ctx.state_dir()?.join("media"))?)
}

pub fn run(ctx: &Ctx, cmd: &MediaCmd) -> Result<Outcome> {
    match cmd {
        MediaCmd::Add { path, label } => add(ctx, path, label),
        MediaCmd::Export {
            label,
            path,
            snapshots,
            force,
        } => export(ctx, label, path.as_deref(), snapshots, *force),
        MediaCmd::List { overdue_days } => list(ctx, *overdue_days),
    }
}

fn add(ctx: &Ctx, path: &Path, label: &str) -> Result<Outcome> {
    let main = ctx.open(LockMode::Shared)?;
    let mut reg = registry(ctx)?;
    let record = reg.add(path, label)?;
    let repo_path = kura_copies::prepare_disk_repo(&main, path, &ctx.password()?, ctx.progress())?;
    ctx.note("label", label);
    ctx.note("disk_id", &record.disk_id);
    ctx.emit(&Added {
        record: &record,
        repo_path: &repo_path,
    })?;
    Ok(Outcome::Ok)
}

/// A registered disk: its record in JSON.
#[derive(Serialize)]
#[serde(transparent)]
struct Added<'a> {
    record: &'a DiskRecord,
    #[serde(skip)]
    repo_path: &'a Path,
}

impl Render for Added<'_> {
    fn text(&self, p: &Printer) {
        p.say(format!(
            "registered disk {} ({}) with a repository at {}",
            self.record.label,
            self.record.disk_id,
            self.repo_path.display()
        ));
    }
}

fn export(
    ctx: &Ctx,
    label: &str,
    path: Option<&Path>,
    specs: &[String],
    force: bool,
) -> Result<Outcome> {
    let mut reg = registry(ctx)?;
    let mount = match path {
        Some(p) => p.to_path_buf(),
        None => reg.disk(label)?.path_at_registration.clone(),
    };
    // Refuse a disk that is not the registered one before touching the repository.
    reg.check_identity(label, &mount)?;
    let mut main = ctx.open(LockMode::Shared)?;
    let ids = ctx.copy_selection(&mut main, specs, force)?;
    let password = ctx.password()?;
    // A disk on a shared or remote link (a NAS share used as rotation media) can be paced like
    // a remote: --limit-upload for the copy, --limit-download for the read-back verification.
    let (up, down) = ctx.limits();
    if up.is_some() || down.is_some() {
        ctx.note("limit_upload_kib", up);
        ctx.note("limit_download_kib", down);
    }
    let opts = kura_copies::ExportOptions {
        password: &password,
        limit_upload_kib: up,
        limit_download_kib: down,
        progress: ctx.progress(),
    };
    let report = kura_copies::export_to_disk(&mut reg, &mut main, label, &mount, &ids, &opts)?;
    ctx.note("label", label);
    ctx.note("copied", &report.copied);
    if !report.verified() {
        ctx.raise(
            "verify_failed",
            kura_audit::Severity::Critical,
            &format!("offline disk {label} failed verification after export"),
            serde_json::json!({ "errors": report.verify_errors }),
        );
        anyhow::bail!(
            "disk {label} failed verification after export: {}",
            report.verify_errors.join("; ")
        );
    }
    ctx.emit(&Exported {
        copied: &report.copied,
        held: &report.held,
        label,
        verified: true,
    })?;
    Ok(Outcome::Ok)
}

/// A verified export.
#[derive(Serialize)]
struct Exported<'a> {
    copied: &'a [String],
    held: &'a [String],
    label: &'a str,
    verified: bool,
}

impl Render for Exported<'_> {
    fn text(&self, p: &Printer) {
        p.say(format!(
            "disk {}: {} copied{}; it now holds {}{}; every byte verified: unmount and store it offline now",
            self.label,
            crate::output::count(self.copied.len() as u64, "snapshot"),
            short_ids(self.copied),
            crate::output::count(self.held.len() as u64, "snapshot"),
            short_ids(self.held)
        ));
    }
}

/// ` (1a2b3c4d, 5e6f7a8b)`: the short ids, for people to compare with `kura snapshots`.
fn short_ids(ids: &[String]) -> String {
    if ids.is_empty() {
        return String::new();
    }
    let short: Vec<&str> = ids.iter().map(|id| id.get(..8).unwrap_or(id)).collect();
    format!(" ({})", short.join(", "))
}

fn list(ctx: &Ctx, overdue_days: u32) -> Result<Outcome> {
    let reg = registry(ctx)?;
    ctx.emit(&DiskList(&reg.list(jiff::Timestamp::now(), overdue_days)))?;
    Ok(Outcome::Ok)
}

/// The registered disks: one line each, an array in JSON.
#[derive(Serialize)]
#[serde(transparent)]
struct DiskList<'a>(&'a [DiskStatus]);

impl Render for DiskList<'_> {
    fn text(&self, p: &Printer) {
        for d in self.0 {
            let last = d
                .last_export
                .map_or_else(|| "never".to_string(), |t| t.to_string());
            let flag = if d.overdue { "  ROTATION OVERDUE" } else { "" };
            p.line(format!(
                "{:<12} last export {last} ({}), {}{flag}",
                d.label,
                crate::output::count(d.age_days.max(0) as u64, "day"),
                crate::output::count(d.snapshots.len() as u64, "snapshot")
            ));
        }
        p.say(crate::output::count(self.0.len() as u64, "disk"));
    }
}
