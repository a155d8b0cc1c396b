//! `kura scan` and `kura canary`: the detection engines on live files, writing nothing.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use kura_detect::{Evidence, FileProfile, Finding, Judgement};
use kura_engine::{EntryKind, LockMode, TreeEntry, Verdict};
use serde::Serialize;

use crate::cli::{CanaryCmd, ScanCmd};
use crate::context::Ctx;
use crate::detection::{self, Stored, tree_path};
use crate::exit::Outcome;
use crate::output::{Printer, Render, Sorted, count};

fn mtime_of(meta: &std::fs::Metadata) -> Option<String> {
    let t = jiff::Timestamp::try_from(meta.modified().ok()?).ok()?;
    Some(t.to_string())
}

/// What a scan compared.
struct Scanned {
    judgement: Judgement,
    /// Short id of the snapshot compared with.
    base: String,
    /// Canary files under the scanned paths, live or in the snapshot.
    canaries: usize,
}

/// Compare the live files under `paths` with snapshot `against`.
fn scan(ctx: &Ctx, paths: &[PathBuf], against: Option<&str>) -> Result<Scanned> {
    let paths = if paths.is_empty() {
        ctx.config.backup.sources.clone()
    } else {
        paths.to_vec()
    };
    if paths.is_empty() {
        bail!("nothing to scan: give paths, or `sources` in kura.toml");
    }
    let mut repo = ctx.open(LockMode::Shared)?;
    let history = repo.snapshots()?;
    let spec = match against {
        Some(s) => s.to_string(),
        None if history.iter().any(|s| s.verdict == Verdict::Clean) => "latest-clean".into(),
        None => "latest".into(),
    };
    let reader = repo.reader(&spec)?;
    let base = reader.snapshot();
    let mut known: HashMap<String, TreeEntry> = HashMap::new();
    reader.walk("", |e| {
        if e.kind == EntryKind::File {
            known.insert(e.path.clone(), e);
        }
        Ok(())
    })?;
    let mut ev = Evidence::default();
    let mut roots = Vec::new();
    let mut canaries = std::collections::BTreeSet::new();
    for root in &paths {
        let root = std::path::absolute(root)
            .with_context(|| format!("cannot resolve {}", root.display()))?;
        if !root.exists() {
            bail!("scan path {} does not exist", root.display());
        }
        roots.push(tree_path(&root));
        for entry in walkdir::WalkDir::new(&root).follow_links(false) {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e.path().map_or_else(|| root.clone(), |p| p.to_path_buf());
                    let why = e
                        .io_error()
                        .map_or_else(|| e.to_string(), |io| io.to_string());
                    eprintln!("kura: could not read {}: {why}", path.display());
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let tp = tree_path(entry.path());
            if kura_detect::canary::is_canary_name(&tp) {
                canaries.insert(tp.clone());
            }
            let meta = entry.metadata().ok();
            let prev = known.remove(&tp);
            if let (Some(p), Some(m)) = (&prev, &meta)
                && p.size == m.len()
                && p.mtime.is_some()
                && p.mtime == mtime_of(m)
            {
                ev.unchanged(1);
                continue;
            }
            let bytes = match std::fs::read(entry.path()) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("kura: could not read {}: {e}", entry.path().display());
                    continue;
                }
            };
            match prev {
                Some(_) => ev.modified_from(tp.clone(), &mut Stored(&reader)),
                None => ev.added(tp.clone(), bytes.len() as u64),
            }
            // Judged at once, so only findings are held, not every live file's profile.
            let live = HashMap::from([(tp, FileProfile::of(&bytes))]);
            ev.judge_pending(&live, &mut Stored(&reader));
        }
    }
    // Files in the snapshot under the scanned roots that are gone now.
    for (path, e) in known {
        if roots.iter().any(|r| path.starts_with(r.as_str())) {
            if kura_detect::canary::is_canary_name(&path) {
                canaries.insert(path.clone());
            }
            ev.deleted(path, e.size);
        }
    }
    // Normal work since the snapshot compared with adds up over the backups taken after it.
    let since = history
        .iter()
        .skip_while(|s| s.id != base.id)
        .filter(|s| s.hostname == base.hostname && s.paths == base.paths)
        .count();
    let baseline = detection::baseline(&history).spanning(u32::try_from(since).unwrap_or(u32::MAX));
    let judgement = ev.judge(&baseline, None).judgement;
    Ok(Scanned {
        judgement,
        base: base.short_id,
        canaries: canaries.len(),
    })
}

fn report(ctx: &Ctx, scanned: &Scanned, only_canaries: bool) -> Result<Outcome> {
    let (j, base) = (&scanned.judgement, scanned.base.as_str());
    let findings: Vec<&Finding> = j
        .findings
        .iter()
        .filter(|f| !only_canaries || f.engine == kura_detect::Engine::Canary)
        .collect();
    let suspicious = if only_canaries {
        !findings.is_empty()
    } else {
        j.verdict == kura_detect::Verdict::Suspicious
    };
    ctx.note("against", base);
    ctx.note("suspicious", suspicious);
    ctx.note("findings", findings.len());
    if only_canaries {
        ctx.note("canaries_checked", scanned.canaries);
    }
    // One canary can be found by several rules: count files.
    let touched = findings
        .iter()
        .map(|f| f.path.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if only_canaries && suspicious {
        ctx.raise(
            "canary_touched",
            kura_audit::Severity::Critical,
            &format!(
                "{} of {} touched since snapshot {base}: something is changing files no one should open; check now, and see docs/suspicious-snapshot.md",
                touched,
                count(scanned.canaries as u64, "canary file")
            ),
            serde_json::json!({ "against": base, "findings": findings }),
        );
    }
    ctx.emit(&Sorted(ScanResult {
        against: base,
        canaries_checked: only_canaries.then_some(scanned.canaries),
        canaries_touched: only_canaries.then_some(touched),
        findings,
        reasons: &j.reasons,
        verdict: if suspicious { "suspicious" } else { "clean" },
    }))?;
    Ok(if suspicious {
        Outcome::Suspicious
    } else {
        Outcome::Ok
    })
}

/// What `scan` or `canary check` found (JSON keys sorted at every level, as it has always
/// printed); the canary counts only for `canary check`.
#[derive(Serialize)]
struct ScanResult<'a> {
    /// Short id of the snapshot compared with.
    against: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    canaries_checked: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    canaries_touched: Option<usize>,
    findings: Vec<&'a Finding>,
    reasons: &'a [String],
    verdict: &'static str,
}

impl Render for ScanResult<'_> {
    fn text(&self, p: &Printer) {
        for f in &self.findings {
            p.line(format!(
                "{:<10} {:.2}  {}  {}",
                format!("{:?}", f.engine).to_lowercase(),
                f.score,
                f.path,
                f.reason
            ));
        }
        let base = self.against;
        let word = if self.verdict == "suspicious" {
            "SUSPICIOUS"
        } else {
            "clean"
        };
        if let (Some(checked), Some(touched)) = (self.canaries_checked, self.canaries_touched) {
            p.say(format!(
                "checked {} against snapshot {base}: {touched} touched ({word})",
                count(checked as u64, "canary file"),
            ));
            if checked == 0 {
                eprintln!(
                    "kura: warning: no canary files under the checked paths: plant them with `kura canary plant DIR`, then back up"
                );
            }
        } else {
            p.say(format!(
                "compared with snapshot {base}: {word} ({}) {}",
                count(self.findings.len() as u64, "finding"),
                self.reasons.join("; ")
            ));
        }
    }
}

/// Canary files planted: their paths, one a line.
#[derive(Serialize)]
#[serde(transparent)]
struct Planted<'a>(&'a [PathBuf]);

impl Render for Planted<'_> {
    fn text(&self, p: &Printer) {
        for f in self.0 {
            p.line(f.display().to_string());
        }
        p.say("canaries planted: back them up as usual; never open or move them");
    }
}

pub fn run(ctx: &Ctx, cmd: &ScanCmd) -> Result<Outcome> {
    let scanned = scan(ctx, &cmd.paths, cmd.against.as_deref())?;
    report(ctx, &scanned, false)
}

pub fn canary(ctx: &Ctx, cmd: &CanaryCmd) -> Result<Outcome> {
    match cmd {
        CanaryCmd::Plant { dir } => {
            let seed = jiff::Timestamp::now().as_nanosecond() as u64;
            let planted = kura_detect::canary::plant(dir, seed)?;
            ctx.note("dir", dir);
            ctx.note("planted", &planted);
            ctx.emit(&Planted(&planted))?;
            Ok(Outcome::Ok)
        }
        CanaryCmd::Check { paths } => {
            let scanned = scan(ctx, paths, None)?;
            report(ctx, &scanned, true)
        }
    }
}
