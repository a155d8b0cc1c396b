//! `kura restore`

use std::path::{Path, PathBuf};

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
        ..Default::default()
    };
    let report = restore_quietly(&mut repo, &cmd.snapshot, &target, &opts)?;
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
/// TARGET/<its path in the snapshot>, in one pass of the engine (the index is loaded once); the
/// files the attacker created are listed for removal.
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
    // Canaries are kura's own decoys: the guard plants them again.
    let wanted: Vec<String> = inc
        .damaged
        .iter()
        .filter(|p| !kura_detect::canary::is_canary_name(p))
        .cloned()
        .collect();
    let mut repo = ctx.open(LockMode::Shared)?;
    ctx.note("incident", id);
    ctx.note("target", &target);
    ctx.note("in_place", cmd.in_place);
    let mut snapshot = String::new();
    let mut missing = Vec::new();
    if !wanted.is_empty() {
        let opts = RestoreOptions {
            paths: wanted.clone(),
            overwrite: cmd.overwrite.into(),
            // An in-place dry run still stages the files (in the state directory, removed
            // below): which later edits would be kept aside depends on their content.
            dry_run: cmd.dry_run && !cmd.in_place,
            ..Default::default()
        };
        let report = restore_quietly(&mut repo, &cmd.snapshot, &target, &opts)?;
        snapshot = report.snapshot;
        missing = report.missing;
    }
    // The engine names paths from the snapshot root (no leading `/`); the incident, absolute.
    let not_in_snapshot: Vec<String> = wanted
        .iter()
        .filter(|p| missing.iter().any(|m| m == p.trim_start_matches('/')))
        .cloned()
        .collect();
    let restored: Vec<String> = wanted
        .into_iter()
        .filter(|p| !not_in_snapshot.contains(p))
        .collect();
    let mut kept_aside = Vec::new();
    if cmd.in_place {
        kept_aside = kept_aside_plan(&staging, &restored, &inc);
        let moved = if cmd.dry_run {
            Ok(())
        } else {
            put_back(&staging, &restored, &kept_aside)
        };
        let _ = std::fs::remove_dir_all(&staging);
        moved?;
    }
    ctx.note("snapshot", &snapshot);
    ctx.note("files", restored.len());
    ctx.note("not_in_snapshot", not_in_snapshot.len());
    ctx.note("kept_aside", kept_aside.len());
    ctx.emit(&Sorted(IncidentRestored {
        dry_run: cmd.dry_run,
        incident: id,
        kept_aside,
        not_in_snapshot,
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
    /// With --in-place: files changed after the incident, moved aside instead of overwritten.
    kept_aside: Vec<KeptAside>,
    /// Damaged files the snapshot does not have (created after it).
    not_in_snapshot: Vec<String>,
    /// Files the attacker created, to remove.
    remove: Vec<String>,
    restored: Vec<String>,
    snapshot: String,
    target: std::path::PathBuf,
}

/// A file found at a damaged path that changed after the incident (a later edit): moved to
/// `kept_at` before the restored version took its place.
#[derive(Serialize)]
struct KeptAside {
    kept_at: std::path::PathBuf,
    path: String,
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
        if !self.kept_aside.is_empty() {
            p.say(format!(
                "{} changed after the incident, {} aside (not overwritten):",
                count(self.kept_aside.len() as u64, "file"),
                if self.dry_run {
                    "would be kept"
                } else {
                    "kept"
                }
            ));
            for k in &self.kept_aside {
                p.say(format!("  {} -> {}", k.path, k.kept_at.display()));
            }
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

/// The files found at damaged paths that changed after the incident (a later edit, not the
/// attacker's version) and differ from their restored version (staged under `staging`), with
/// where each is to be kept (see [`aside_path`]). Computed before anything moves, so that a dry
/// run reports exactly what the real run keeps aside.
fn kept_aside_plan(
    staging: &Path,
    restored: &[String],
    inc: &kura_guard::Incident,
) -> Vec<KeptAside> {
    let mut taken = std::collections::HashSet::new();
    let mut plan = Vec::new();
    for p in restored {
        let src = staging.join(p.trim_start_matches('/'));
        let dst = Path::new(p);
        if let Ok(meta) = std::fs::symlink_metadata(dst)
            && changed_after(&meta, inc.time)
            && !same_file_content(&src, dst, &meta)
        {
            let aside = aside_path(&inc.roots, inc.id, dst, &taken);
            taken.insert(aside.clone());
            plan.push(KeptAside {
                kept_at: aside,
                path: p.clone(),
            });
        }
    }
    plan
}

/// Moves each restored file from the staging folder to its original absolute path (parent
/// folders the attacker removed are created again; nothing else is touched). The files of
/// `aside` ([`kept_aside_plan`]) are first moved to where it says, never deleted.
fn put_back(staging: &Path, restored: &[String], aside: &[KeptAside]) -> Result<()> {
    use anyhow::Context as _;
    let aside: std::collections::HashMap<&str, &KeptAside> =
        aside.iter().map(|k| (k.path.as_str(), k)).collect();
    for p in restored {
        let src = staging.join(p.trim_start_matches('/'));
        let dst = Path::new(p);
        if let Some(k) = aside.get(p.as_str()) {
            if let Some(parent) = k.kept_at.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::rename(dst, &k.kept_at).with_context(|| {
                format!(
                    "cannot move {} (changed after the incident) aside to {}; it was left as it is",
                    dst.display(),
                    k.kept_at.display()
                )
            })?;
        }
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

/// Whether a file's content or metadata changed after `t` (its ctime, which no program can
/// set back, or its mtime is later): the attacker's writes come before the trip, a person's
/// later edit after it.
fn changed_after(meta: &std::fs::Metadata, t: jiff::Timestamp) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let at = |secs: i64, nanos: i64| jiff::Timestamp::new(secs, nanos as i32).is_ok_and(|x| x > t);
    at(meta.ctime(), meta.ctime_nsec()) || at(meta.mtime(), meta.mtime_nsec())
}

/// Whether the regular file `dst` (metadata `meta`) has exactly the bytes of `src`.
fn same_file_content(src: &Path, dst: &Path, meta: &std::fs::Metadata) -> bool {
    let Ok(s) = std::fs::metadata(src) else {
        return false;
    };
    if !meta.is_file() || s.len() != meta.len() {
        return false;
    }
    match (std::fs::read(src), std::fs::read(dst)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Where a later version of `dst` is kept: `<root>/.kura-replaced/<incident>/<path under the
/// root>` for the watched root holding it, else `<dst>.kura-replaced-<incident>` beside it; a
/// numeric suffix when that name exists or is in `taken` (nothing is ever overwritten).
fn aside_path(
    roots: &[PathBuf],
    id: u64,
    dst: &Path,
    taken: &std::collections::HashSet<PathBuf>,
) -> PathBuf {
    let root = roots
        .iter()
        .filter(|r| dst.starts_with(r) && dst != r.as_path())
        .max_by_key(|r| r.components().count());
    let base = match root.and_then(|r| Some((r, dst.strip_prefix(r).ok()?))) {
        Some((r, rel)) => r.join(".kura-replaced").join(id.to_string()).join(rel),
        None => {
            let mut name = dst.as_os_str().to_os_string();
            name.push(format!(".kura-replaced-{id}"));
            PathBuf::from(name)
        }
    };
    let mut candidate = base.clone();
    let mut n = 1;
    while taken.contains(&candidate) || std::fs::symlink_metadata(&candidate).is_ok() {
        let mut name = base.as_os_str().to_os_string();
        name.push(format!(".{n}"));
        candidate = PathBuf::from(name);
        n += 1;
    }
    candidate
}

/// The engine turns a failure inside the restorer's threads into an error; keep the default
/// panic message (several lines) off the terminal meanwhile, so the user sees one line.
fn restore_quietly(
    repo: &mut kura_engine::Repo,
    snapshot: &str,
    target: &std::path::Path,
    opts: &RestoreOptions,
) -> kura_engine::Result<kura_engine::RestoreReport> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = repo.restore(snapshot, target, opts);
    std::panic::set_hook(previous);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aside_paths_go_under_the_watched_root_or_beside_the_file() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("share");
        let roots = vec![d.path().to_path_buf(), root.clone()];
        let dst = root.join("ward").join("a.txt");
        let none = std::collections::HashSet::new();
        assert_eq!(
            aside_path(&roots, 7, &dst, &none),
            root.join(".kura-replaced/7/ward/a.txt")
        );
        let taken = root.join(".kura-replaced/7/ward/a.txt");
        std::fs::create_dir_all(taken.parent().unwrap()).unwrap();
        std::fs::write(&taken, b"x").unwrap();
        assert_eq!(
            aside_path(&roots, 7, &dst, &none),
            root.join(".kura-replaced/7/ward/a.txt.1")
        );
        // A name planned for another file (a dry run moves nothing) is taken too.
        let planned = std::collections::HashSet::from([root.join(".kura-replaced/7/ward/a.txt.1")]);
        assert_eq!(
            aside_path(&roots, 7, &dst, &planned),
            root.join(".kura-replaced/7/ward/a.txt.2")
        );
        let elsewhere = Path::new("/elsewhere/b.txt");
        assert_eq!(
            aside_path(&roots, 7, elsewhere, &none),
            PathBuf::from("/elsewhere/b.txt.kura-replaced-7")
        );
    }

    #[test]
    fn a_file_changed_after_the_trip_is_seen_as_changed() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a");
        std::fs::write(&f, b"x").unwrap();
        let meta = std::fs::metadata(&f).unwrap();
        let before = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60);
        let after = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60);
        assert!(changed_after(&meta, before));
        assert!(!changed_after(&meta, after));
    }
}
