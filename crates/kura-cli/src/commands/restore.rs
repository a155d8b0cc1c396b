//! `kura restore`

use anyhow::Result;
use kura_engine::{LockMode, RestoreOptions, RestoreReport};
use serde::Serialize;

use crate::cli::RestoreCmd;
use crate::context::Ctx;
use crate::exit::Outcome;
use crate::output::{Printer, Render, Sorted, bytes, count};

pub fn run(ctx: &Ctx, cmd: &RestoreCmd) -> Result<Outcome> {
    if let Some(id) = cmd.incident {
        return incident(ctx, cmd, id);
    }
    let target = cmd.target.clone().unwrap_or_default();
    let mut repo = ctx.open(LockMode::Shared)?;
    ctx.note("snapshot", &cmd.snapshot);
    ctx.note("target", &target);
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
    let result = repo.restore(&cmd.snapshot, &target, &opts);
    std::panic::set_hook(previous);
    let report = result?;
    ctx.note("snapshot", &report.snapshot);
    ctx.note("files", report.files);
    ctx.note("overwritten", report.overwritten);
    ctx.note("skipped", report.skipped);
    ctx.emit(&Restored(&report))?;
    Ok(Outcome::Ok)
}

/// A restore's report: the engine's report in JSON, one summary line for people.
#[derive(Serialize)]
#[serde(transparent)]
struct Restored<'a>(&'a RestoreReport);

impl Render for Restored<'_> {
    fn text(&self, p: &Printer) {
        p.say(summary(self.0));
    }
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

/// `--incident ID`: exactly the files a guard incident damaged, each restored to
/// TARGET/<its path in the snapshot>; the files the attacker created are listed for removal.
fn incident(ctx: &Ctx, cmd: &RestoreCmd, id: u64) -> Result<Outcome> {
    let inc = kura_guard::incident(&ctx.state_dir()?, id)?;
    // In place: restore into a staging folder first, then move each file to its own path
    // (restoring straight onto `/` would also reset the modes of every parent folder).
    let staging = ctx
        .state_dir()?
        .join("guard")
        .join(format!("restore-{id}-{}", std::process::id()));
    let target = if cmd.in_place {
        staging.clone()
    } else {
        cmd.target.clone().unwrap_or_default()
    };
    let mut repo = ctx.open(LockMode::Shared)?;
    ctx.note("incident", id);
    ctx.note("target", &target);
    ctx.note("in_place", cmd.in_place);
    let mut restored = Vec::new();
    let mut missing = Vec::new();
    let mut snapshot = String::new();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for path in &inc.damaged {
        // Canaries are kura's own decoys: the guard plants them again.
        if kura_detect::canary::is_canary_name(path) {
            continue;
        }
        let opts = RestoreOptions {
            include: Some(path.trim_start_matches('/').to_string()),
            overwrite: cmd.overwrite.into(),
            dry_run: cmd.dry_run,
        };
        match repo.restore(&cmd.snapshot, &target, &opts) {
            Ok(r) => {
                snapshot = r.snapshot;
                restored.push(path.clone());
            }
            Err(kura_engine::Error::PathNotFound { .. }) => missing.push(path.clone()),
            Err(e) => {
                std::panic::set_hook(previous);
                return Err(e.into());
            }
        }
    }
    std::panic::set_hook(previous);
    if cmd.in_place && !cmd.dry_run {
        let moved = put_back(&staging, &restored);
        let _ = std::fs::remove_dir_all(&staging);
        moved?;
    }
    ctx.note("snapshot", &snapshot);
    ctx.note("files", restored.len());
    ctx.note("not_in_snapshot", missing.len());
    ctx.emit(&Sorted(IncidentRestored {
        dry_run: cmd.dry_run,
        incident: id,
        not_in_snapshot: missing,
        remove: inc.created,
        restored,
        snapshot,
        target,
    }))?;
    Ok(Outcome::Ok)
}

/// What `restore --incident` restored (fields in alphabetical order: the JSON document's keys).
#[derive(Serialize)]
struct IncidentRestored {
    dry_run: bool,
    incident: u64,
    /// Damaged files the snapshot does not have (created after it).
    not_in_snapshot: Vec<String>,
    /// Files the attacker created, to remove.
    remove: Vec<String>,
    restored: Vec<String>,
    snapshot: String,
    target: std::path::PathBuf,
}

impl Render for IncidentRestored {
    fn text(&self, p: &Printer) {
        let verb = if self.dry_run {
            "would restore"
        } else {
            "restored"
        };
        p.say(format!(
            "{verb} {} damaged by incident {} from snapshot {} into {}",
            count(self.restored.len() as u64, "file"),
            self.incident,
            self.snapshot.get(..8).unwrap_or(&self.snapshot),
            self.target.display()
        ));
        for m in &self.not_in_snapshot {
            p.say(format!("  not in the snapshot (created after it): {m}"));
        }
        if !self.remove.is_empty() {
            p.say(format!(
                "{} created by the attacker, to remove:",
                count(self.remove.len() as u64, "file")
            ));
            for c in &self.remove {
                p.say(format!("  {c}"));
            }
        }
    }
}

/// Moves each restored file from the staging folder to its original absolute path (parent
/// folders the attacker removed are created again; nothing else is touched).
fn put_back(staging: &std::path::Path, restored: &[String]) -> Result<()> {
    use anyhow::Context as _;
    for p in restored {
        let src = staging.join(p.trim_start_matches('/'));
        let dst = std::path::Path::new(p);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        if std::fs::rename(&src, dst).is_err() {
            // Another filesystem: copy (permissions included), then drop the staged copy.
            std::fs::copy(&src, dst)
                .with_context(|| format!("cannot put {} back in place", dst.display()))?;
        }
    }
    Ok(())
}
