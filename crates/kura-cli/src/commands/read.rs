//! `kura ls` and `kura diff`

use std::collections::HashMap;

use anyhow::Result;
use kura_engine::{ChangeKind, LockMode, SnapshotReader};

use crate::cli::{DiffCmd, LsCmd};
use crate::context::Ctx;
use crate::detection::Stored;
use crate::exit::Outcome;
use kura_detect::VersionSource;

pub fn ls(ctx: &Ctx, cmd: &LsCmd) -> Result<Outcome> {
    let mut repo = ctx.open(LockMode::Shared)?;
    let reader = repo.reader(&cmd.snapshot)?;
    let entries = reader.entries(cmd.path.as_deref().unwrap_or(""))?;
    if ctx.global.json {
        crate::output::json(
            &serde_json::json!({ "snapshot": reader.snapshot(), "entries": entries }),
        )?;
    } else {
        for e in &entries {
            let name = match &e.link_target {
                Some(t) => format!("{} -> {t}", e.path),
                None if e.kind == "dir" => format!("{}/", e.path),
                None => e.path.clone(),
            };
            if cmd.long {
                let time = e.mtime.as_deref().map_or_else(String::new, |t| {
                    t.parse::<jiff::Timestamp>().map_or_else(
                        |_| t.to_string(),
                        |t| {
                            t.to_zoned(jiff::tz::TimeZone::system())
                                .strftime("%Y-%m-%d %H:%M")
                                .to_string()
                        },
                    )
                });
                println!(
                    "{:<10} {:>12} {:<16} {name}",
                    e.mode.as_deref().unwrap_or("-"),
                    e.size,
                    time
                );
            } else {
                println!("{name}");
            }
        }
    }
    Ok(Outcome::Ok)
}

/// Run the per-file engines on every added or modified file (for incident analysis). The
/// reader starts on the older snapshot and ends on the newer one.
fn findings(
    reader: &mut SnapshotReader<'_>,
    newer: &str,
    changes: &[kura_engine::Change],
) -> Result<HashMap<String, Vec<kura_detect::Finding>>> {
    let mut prev: HashMap<String, kura_detect::FileProfile> = HashMap::new();
    for c in changes.iter().filter(|c| c.change == ChangeKind::Modified) {
        if let Ok(p) = Stored(reader).profile(&c.path) {
            prev.insert(c.path.clone(), p);
        }
    }
    reader.switch(newer)?;
    let mut out = HashMap::new();
    for c in changes
        .iter()
        .filter(|c| matches!(c.change, ChangeKind::Modified | ChangeKind::Added))
    {
        if c.after.as_ref().is_none_or(|e| e.kind != "file") {
            continue;
        }
        let cur = Stored(reader)
            .profile(&c.path)
            .map_err(|why| anyhow::anyhow!("cannot read {} in {newer}: {why}", c.path))?;
        let f = kura_detect::judge_file(&c.path, prev.get(&c.path), &cur);
        if !f.is_empty() {
            out.insert(c.path.clone(), f);
        }
    }
    Ok(out)
}

pub fn diff(ctx: &Ctx, cmd: &DiffCmd) -> Result<Outcome> {
    let mut repo = ctx.open(LockMode::Shared)?;
    // One index load serves the diff and the findings.
    let mut reader = repo.reader(&cmd.older)?;
    let changes: Vec<_> = reader
        .diff_with(&cmd.newer)?
        .into_iter()
        .filter(|c| c.change != ChangeKind::Unchanged)
        .collect();
    let found = if cmd.no_findings {
        HashMap::new()
    } else {
        findings(&mut reader, &cmd.newer, &changes)?
    };
    if ctx.global.json {
        let changes: Vec<_> = changes
            .iter()
            .map(|c| {
                let mut v = serde_json::to_value(c).unwrap_or_default();
                v["findings"] =
                    serde_json::to_value(found.get(&c.path).cloned().unwrap_or_default())
                        .unwrap_or_default();
                v
            })
            .collect();
        crate::output::json(
            &serde_json::json!({ "older": cmd.older, "newer": cmd.newer, "changes": changes }),
        )?;
    } else {
        for c in &changes {
            let mark = match c.change {
                ChangeKind::Added => "+",
                ChangeKind::Removed => "-",
                ChangeKind::Modified => "M",
                ChangeKind::Unchanged => " ",
            };
            println!("{mark}    {}", c.path);
            for f in found.get(&c.path).into_iter().flatten() {
                println!("       ! {:?} {:.2}: {}", f.engine, f.score, f.reason);
            }
        }
        let count = |k: ChangeKind| changes.iter().filter(|c| c.change == k).count();
        ctx.say(format!(
            "{} added, {} removed, {} modified",
            count(ChangeKind::Added),
            count(ChangeKind::Removed),
            count(ChangeKind::Modified)
        ));
    }
    Ok(Outcome::Ok)
}
