//! `kura backup`

use std::sync::Arc;

use anyhow::Result;
use kura_engine::{BackupRequest, LockMode, NoObserver};
use serde_json::json;

use crate::cli::BackupCmd;
use crate::context::Ctx;
use crate::exit::Outcome;

pub fn run(ctx: &Ctx, cmd: &BackupCmd) -> Result<Outcome> {
    let paths = if cmd.paths.is_empty() {
        ctx.config.backup.sources.clone()
    } else {
        cmd.paths.clone()
    };
    let mut excludes = ctx.config.backup.excludes.clone();
    excludes.extend(cmd.excludes.iter().cloned());
    let mut tags = ctx.config.backup.tags.clone();
    tags.extend(cmd.tags.iter().cloned());
    let req = BackupRequest {
        paths,
        tags,
        excludes,
        host: cmd.host.clone(),
        initial_verdict: None,
        force_full: cmd.force,
        document: Some(
            json!({ "audit_checkpoint": ctx.audit_log().and_then(|l| Ok(l.head()?)).ok() }),
        ),
    };
    let mut repo = ctx.open(LockMode::Shared)?;
    let report = repo.backup(&req, Arc::new(NoObserver))?;
    let snap = &report.snapshot;
    ctx.note("snapshot", &snap.id);
    ctx.note("unreadable", report.unreadable.len());
    let counts = snap.counts.clone().unwrap_or_default();
    if ctx.global.json {
        crate::output::json(&json!({
            "snapshot_id": snap.id,
            "short_id": snap.short_id,
            "parent": snap.parent,
            "time": snap.time,
            "verdict": snap.verdict,
            "findings": [],
            "unreadable": report.unreadable,
            "files_new": counts.files_new,
            "files_changed": counts.files_changed,
            "files_unmodified": counts.files_unmodified,
            "bytes_processed": counts.bytes_processed,
            "data_added": counts.data_added,
            "data_added_packed": counts.data_added_packed,
            "duration_secs": report.duration_secs,
        }))?;
    } else {
        for u in &report.unreadable {
            eprintln!(
                "kura: could not read {}: {} (not in the snapshot)",
                u.path.display(),
                u.error
            );
        }
        ctx.say(format!(
            "snapshot {} saved: {} new, {} changed, {} unmodified files; {} processed, {} added ({} stored) in {:.1}s",
            snap.short_id,
            counts.files_new,
            counts.files_changed,
            counts.files_unmodified,
            crate::output::bytes(counts.bytes_processed),
            crate::output::bytes(counts.data_added),
            crate::output::bytes(counts.data_added_packed),
            report.duration_secs
        ));
    }
    if !report.unreadable.is_empty() {
        eprintln!(
            "kura: warning: {} files could not be read and are missing from snapshot {}: fix their permissions and back up again",
            report.unreadable.len(),
            snap.short_id
        );
        return Ok(Outcome::Unreadable);
    }
    Ok(Outcome::Ok)
}
