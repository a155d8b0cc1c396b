//! `kura backup`: back up, judge the snapshot clean or suspicious, record and alert.

use std::sync::Arc;

use anyhow::Result;
use kura_engine::{
    BackupRequest, FileObserver, LockMode, NoObserver, SnapshotCounts, Unreadable, Verdict,
};
use serde::Serialize;
use serde_json::json;

use crate::cli::BackupCmd;
use crate::context::Ctx;
use crate::detection::{self, Observer};
use crate::exit::Outcome;
use crate::output::{Printer, Render, Sorted};

pub fn run(ctx: &Ctx, cmd: &BackupCmd) -> Result<Outcome> {
    let detect = !cmd.no_detect;
    let req = BackupRequest {
        paths: ctx.config.sources(&cmd.paths),
        tags: ctx.config.tags(&cmd.tags),
        excludes: ctx.config.excludes(&cmd.excludes),
        host: cmd.host.clone(),
        // Saved as `pending` first: a kill before the verdict leaves a snapshot that is never
        // mistaken for a clean one.
        initial_verdict: detect.then_some(Verdict::Pending),
        force_full: cmd.force,
        time: cmd.time,
        document: Some(
            json!({ "audit_checkpoint": ctx.audit_log().and_then(|l| Ok(l.head()?)).ok() }),
        ),
        dry_run: cmd.dry_run,
        // Detection reads the new snapshot right after: it reuses the backup's index.
        keep_index: detect && !cmd.dry_run,
    };
    let mut repo = ctx.open(LockMode::Shared)?;
    let history = repo.snapshots()?;
    let profiles = Arc::new(detection::profiles_for(&history, &req.paths));
    let observer: Arc<dyn FileObserver> = if detect && !cmd.dry_run {
        Arc::new(Observer(Arc::clone(&profiles)))
    } else {
        Arc::new(NoObserver)
    };
    let report = repo.backup(&req, observer)?;
    if cmd.dry_run {
        return dry_run_summary(ctx, &report);
    }
    let mut snap = report.snapshot.clone();
    ctx.note("snapshot", &snap.id);
    ctx.note("unreadable", report.unreadable.len());

    let mut judgement = None;
    let judging = std::time::Instant::now();
    if detect {
        let judged = detection::judge_backup(&mut repo, &snap, profiles.take(), &history)?;
        snap = repo.set_verdict(
            &snap.id,
            detection::engine_verdict(judged.assessed.judgement.verdict),
            serde_json::to_value(judged.document())?,
        )?;
        ctx.note("snapshot", &snap.id);
        ctx.note("verdict", snap.verdict);
        ctx.note(
            "baseline",
            judged.against.clean.as_ref().map(|c| c.id.clone()),
        );
        judgement = Some(judged);
    }
    let detection_secs = detect.then(|| judging.elapsed().as_secs_f64());
    warn_if_disk_nearly_full(ctx, &repo);
    let counts = snap.counts.clone().unwrap_or_default();
    let baseline = judgement
        .as_ref()
        .and_then(|j| j.against.clean.as_ref())
        .map(|c| c.id.clone());
    let remaining = judgement.as_ref().map_or(0, |j| j.assessed.remaining);
    let judgement = judgement.map(|j| j.assessed.judgement);
    let findings = judgement
        .as_ref()
        .map(|j| j.findings.clone())
        .unwrap_or_default();
    // A clean snapshot after a suspicious parent: the tree was repaired.
    let repaired = snap
        .parent
        .as_ref()
        .and_then(|p| history.iter().find(|s| &s.id == p))
        .filter(|p| snap.verdict == Verdict::Clean && p.verdict == Verdict::Suspicious)
        .map(|p| p.short_id.clone());
    ctx.emit(&Sorted(Saved {
        baseline,
        counts,
        detection_secs,
        duration_secs: report.duration_secs,
        findings,
        parent: snap.parent.clone(),
        reasons: judgement
            .as_ref()
            .map(|j| j.reasons.clone())
            .unwrap_or_default(),
        remaining,
        repaired,
        short_id: snap.short_id.clone(),
        snapshot_id: snap.id.clone(),
        time: snap.time.clone(),
        unreadable: &report.unreadable,
        verdict: snap.verdict,
    }))?;
    if let Some(j) = judgement
        .as_ref()
        .filter(|j| j.verdict == kura_detect::Verdict::Suspicious)
    {
        let top: Vec<String> = j
            .findings
            .iter()
            .take(5)
            .map(|f| format!("{} ({:?}: {})", f.path, f.engine, f.reason).to_lowercase())
            .collect();
        let message = format!(
            "snapshot {} looks attacked: {}; {} flagged. It is quarantined; recover from latest-clean and see docs/suspicious-snapshot.md",
            snap.short_id,
            j.reasons.join("; "),
            crate::output::count(j.flagged_files, "file")
        );
        eprintln!("kura: ALERT: {message}");
        for t in &top {
            eprintln!("kura:   {t}");
        }
        ctx.raise(
            "suspicious_verdict",
            kura_audit::Severity::Critical,
            &message,
            json!({ "snapshot": snap.id, "reasons": j.reasons, "top_findings": top }),
        );
        if let Some(cmd) = &ctx.config.detect.alert_command {
            detection::run_alert_command(cmd, &snap, j);
        }
        return Ok(Outcome::Suspicious);
    }
    if !report.unreadable.is_empty() {
        eprintln!(
            "kura: warning: {} could not be read and {} missing from snapshot {}: fix their permissions and back up again",
            crate::output::count(report.unreadable.len() as u64, "file"),
            if report.unreadable.len() == 1 {
                "is"
            } else {
                "are"
            },
            snap.short_id
        );
        return Ok(Outcome::Unreadable);
    }
    Ok(Outcome::Ok)
}

/// Below this share of free space on the repository's file system, an event is raised.
const FREE_SPACE_WARNING: f64 = 0.10;

fn warn_if_disk_nearly_full(ctx: &Ctx, repo: &kura_engine::Repo) {
    let Some(path) = repo.local_path() else {
        return;
    };
    let (Ok(free), Ok(total)) = (fs4::available_space(path), fs4::total_space(path)) else {
        return;
    };
    if total > 0 && (free as f64) < FREE_SPACE_WARNING * total as f64 {
        let message = format!(
            "repository disk {} is nearly full: {} free of {}; prune old generations or add space",
            path.display(),
            crate::output::bytes(free),
            crate::output::bytes(total)
        );
        eprintln!("kura: warning: {message}");
        ctx.raise_once(
            "disk_nearly_full",
            &path.display().to_string(),
            kura_audit::Severity::Warning,
            &message,
        );
    }
}

/// A saved snapshot and its verdict. In JSON the snapshot's counts (files new/changed/
/// unmodified, bytes processed and added) are top-level fields, as `backup --json` has always
/// shown them.
#[derive(Serialize)]
struct Saved<'a> {
    /// Id of the clean snapshot judged against.
    baseline: Option<String>,
    #[serde(flatten)]
    counts: SnapshotCounts,
    /// Seconds spent judging the snapshot after it was saved (the diff against the baseline,
    /// earlier versions read back, the verdict recorded); `None` with `--no-detect`. Profiling
    /// the files as they are read happens inside `duration_secs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    detection_secs: Option<f64>,
    duration_secs: f64,
    findings: Vec<kura_detect::Finding>,
    parent: Option<String>,
    reasons: Vec<String>,
    remaining: u64,
    /// Short id of the suspicious parent whose damage this clean snapshot no longer holds.
    #[serde(skip)]
    repaired: Option<String>,
    short_id: String,
    snapshot_id: String,
    time: String,
    unreadable: &'a [Unreadable],
    verdict: Verdict,
}

impl Render for Saved<'_> {
    fn text(&self, p: &Printer) {
        for u in self.unreadable {
            eprintln!(
                "kura: could not read {}: {} (not in the snapshot)",
                u.path.display(),
                u.error
            );
        }
        let counts = &self.counts;
        p.say(format!(
            "snapshot {} saved ({}): {} new, {} changed, {} unmodified files; {} of files read, {} new to the repository (file data and folder listings; {} stored after compression) in {:.1}s{}",
            self.short_id,
            self.verdict,
            counts.files_new,
            counts.files_changed,
            counts.files_unmodified,
            crate::output::bytes(counts.bytes_processed),
            crate::output::bytes(counts.data_added),
            crate::output::bytes(counts.data_added_packed),
            self.duration_secs,
            self.detection_secs
                .map(|s| format!(", judged in {s:.1}s"))
                .unwrap_or_default()
        ));
        if let Some(parent) = &self.repaired {
            p.say(format!(
                "the tree no longer holds what made snapshot {parent} suspicious: {} is the new latest-clean",
                self.short_id
            ));
        }
    }
}

/// What `backup --dry-run` would read and add (fields in alphabetical order around the counts,
/// sorted into the JSON document).
#[derive(Serialize)]
struct DryRun<'a> {
    #[serde(flatten)]
    counts: SnapshotCounts,
    dry_run: bool,
    parent: Option<String>,
    unreadable: &'a [Unreadable],
}

impl Render for DryRun<'_> {
    fn text(&self, p: &Printer) {
        for u in self.unreadable {
            eprintln!("kura: could not read {}: {}", u.path.display(), u.error);
        }
        let counts = &self.counts;
        p.say(format!(
            "dry run: a backup would read {} new, {} changed and {} unmodified files ({}) and add about {} to the repository ({} after compression); nothing was written",
            counts.files_new,
            counts.files_changed,
            counts.files_unmodified,
            crate::output::bytes(counts.bytes_processed),
            crate::output::bytes(counts.data_added),
            crate::output::bytes(counts.data_added_packed),
        ));
    }
}

/// `backup --dry-run`: what a backup would read and add; no snapshot, no verdict.
fn dry_run_summary(ctx: &Ctx, report: &kura_engine::BackupReport) -> Result<Outcome> {
    let counts = report.snapshot.counts.clone().unwrap_or_default();
    ctx.note("dry_run", true);
    ctx.emit(&Sorted(DryRun {
        counts,
        dry_run: true,
        parent: report.snapshot.parent.clone(),
        unreadable: &report.unreadable,
    }))?;
    Ok(if report.unreadable.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Unreadable
    })
}
