//! `kura media add|export|list`: offline disks, one restic-format repository per disk.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kura_copies::MediaRegistry;
use kura_engine::{Location, LockMode, Repo};

use crate::cli::MediaCmd;
use crate::context::Ctx;
use crate::exit::Outcome;

/// The repository folder on a disk.
pub(crate) fn disk_repo(mount: &Path) -> PathBuf {
    mount.join("kura-repository")
}

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
    let password = ctx.password()?;
    let repo_path = disk_repo(path);
    if repo_path.join("config").exists() {
        Repo::open(
            Location::Local(repo_path.clone()),
            &password,
            LockMode::Shared,
            ctx.progress(),
        )
        .context(
            "the disk already holds a kura repository that does not open with this password",
        )?;
    } else {
        // Same chunker parameters as the main repository, so generations on the disk deduplicate.
        Repo::init_like(
            Location::Local(repo_path.clone()),
            &password,
            &main,
            ctx.progress(),
        )?;
    }
    ctx.note("label", label);
    ctx.note("disk_id", &record.disk_id);
    if ctx.global.json {
        crate::output::json(&record)?;
    } else {
        ctx.say(format!(
            "registered disk {label} ({}) with a repository at {}",
            record.disk_id,
            repo_path.display()
        ));
    }
    Ok(Outcome::Ok)
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
    // Refuse a disk that is not the registered one (a swapped or foreign disk).
    reg.check_identity(label, &mount)?;
    let mut main = ctx.open(LockMode::Shared)?;
    let ids = ctx.copy_selection(&mut main, specs, force)?;
    let password = ctx.password()?;
    // A disk on a shared or remote link (a NAS share used as rotation media) can be paced like
    // a remote: --limit-upload for the copy, --limit-download for the read-back verification.
    let (up, down) = (
        ctx.global.limit_upload.or(ctx.config.limit_upload),
        ctx.global.limit_download.or(ctx.config.limit_download),
    );
    if up.is_some() || down.is_some() {
        ctx.note("limit_upload_kib", up);
        ctx.note("limit_download_kib", down);
    }
    let mut disk = Repo::open(
        Location::Local(disk_repo(&mount)).paced(up, down),
        &password,
        LockMode::Shared,
        ctx.progress(),
    )
    .with_context(|| {
        format!(
            "cannot open the repository on disk {label} at {}",
            mount.display()
        )
    })?;
    let copied = main
        .copy_to(&mut disk, &ids)
        .with_context(|| format!("export to disk {label} stopped (disk pulled or full?); the disk's repository stays valid and the next export resumes"))?;
    let check = disk
        .check(true)
        .with_context(|| format!("verifying disk {label}"))?;
    ctx.note("label", label);
    ctx.note("copied", &copied);
    if !check.is_ok() {
        ctx.raise(
            "verify_failed",
            kura_audit::Severity::Critical,
            &format!("offline disk {label} failed verification after export"),
            serde_json::json!({ "errors": check.errors }),
        );
        anyhow::bail!(
            "disk {label} failed verification after export: {}",
            check.errors.join("; ")
        );
    }
    let held: Vec<String> = disk.snapshots()?.into_iter().map(|s| s.id).collect();
    reg.record_export(label, &held, jiff::Timestamp::now())?;
    if ctx.global.json {
        crate::output::json(
            &serde_json::json!({ "label": label, "copied": copied, "held": held, "verified": true }),
        )?;
    } else {
        ctx.say(format!(
            "disk {label}: {} copied{}; it now holds {}{}; every byte verified: unmount and store it offline now",
            crate::output::count(copied.len() as u64, "snapshot"),
            short_ids(&copied),
            crate::output::count(held.len() as u64, "snapshot"),
            short_ids(&held)
        ));
    }
    Ok(Outcome::Ok)
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
    let disks = reg.list(jiff::Timestamp::now(), overdue_days);
    if ctx.global.json {
        crate::output::json(&disks)?;
        return Ok(Outcome::Ok);
    }
    for d in &disks {
        let last = d
            .last_export
            .map_or_else(|| "never".to_string(), |t| t.to_string());
        let flag = if d.overdue { "  ROTATION OVERDUE" } else { "" };
        println!(
            "{:<12} last export {last} ({}), {}{flag}",
            d.label,
            crate::output::count(d.age_days.max(0) as u64, "day"),
            crate::output::count(d.snapshots.len() as u64, "snapshot")
        );
    }
    ctx.say(crate::output::count(disks.len() as u64, "disk"));
    Ok(Outcome::Ok)
}
