//! `kura ls` and `kura diff`

use std::collections::HashMap;

use anyhow::Result;
use kura_engine::{ChangeKind, EntryKind, LockMode, SnapshotReader};

use crate::cli::{DiffCmd, LsCmd};
use crate::context::Ctx;
use crate::detection::Entries;
use crate::exit::Outcome;

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
                None if e.kind == EntryKind::Dir => format!("{}/", e.path),
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

/// Run the per-file engines on every added or modified file (for incident analysis), reading
/// both versions by their entries.
fn findings(
    reader: &SnapshotReader<'_>,
    changes: &[kura_engine::Change],
) -> Result<HashMap<String, Vec<kura_detect::Finding>>> {
    let files = Entries::new(reader);
    let mut out = HashMap::new();
    for c in changes
        .iter()
        .filter(|c| matches!(c.change, ChangeKind::Modified | ChangeKind::Added))
    {
        let Some(after) = c.after.as_ref().filter(|e| e.kind == EntryKind::File) else {
            continue;
        };
        let cur = files
            .one(after)
            .map_err(|why| anyhow::anyhow!("cannot read {}: {why}", c.path))?;
        let prev = c
            .before
            .as_ref()
            .filter(|e| e.kind == EntryKind::File)
            .and_then(|e| files.one(e).ok());
        let f = kura_detect::judge_file(&c.path, prev.as_ref(), &cur);
        if !f.is_empty() {
            out.insert(c.path.clone(), f);
        }
    }
    Ok(out)
}

pub fn diff(ctx: &Ctx, cmd: &DiffCmd) -> Result<Outcome> {
    let mut repo = ctx.open(LockMode::Shared)?;
    // One index load serves the diff and the findings; only changed folders are opened.
    let mut reader = repo.reader(&cmd.older)?;
    let changes = reader.changes_to(&cmd.newer)?.changes;
    let found = if cmd.no_findings {
        HashMap::new()
    } else {
        findings(&reader, &changes)?
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
