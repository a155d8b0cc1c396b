//! `kura ls` and `kura diff`

use std::collections::HashMap;

use anyhow::Result;
use kura_engine::{
    Change, ChangeKind, EntryKind, LockMode, SnapshotInfo, SnapshotReader, TreeEntry,
};
use serde::Serialize;

use crate::cli::{DiffCmd, LsCmd};
use crate::context::Ctx;
use crate::detection::Entries;
use crate::exit::Outcome;
use crate::output::{Printer, Render, Sorted};

pub fn ls(ctx: &Ctx, cmd: &LsCmd) -> Result<Outcome> {
    let mut repo = ctx.open(LockMode::Shared)?;
    let reader = repo.reader(&cmd.snapshot)?;
    let entries = reader.entries(cmd.path.as_deref().unwrap_or(""))?;
    ctx.emit(&Sorted(Listing {
        entries,
        long: cmd.long,
        snapshot: reader.snapshot(),
    }))?;
    Ok(Outcome::Ok)
}

/// A folder's entries in a snapshot (JSON keys sorted at every level, as it has always printed).
#[derive(Serialize)]
struct Listing {
    entries: Vec<TreeEntry>,
    /// `ls -l`: mode, size and time in text.
    #[serde(skip)]
    long: bool,
    snapshot: SnapshotInfo,
}

impl Render for Listing {
    fn text(&self, p: &Printer) {
        for e in &self.entries {
            let name = match &e.link_target {
                Some(t) => format!("{} -> {t}", e.path),
                None if e.kind == EntryKind::Dir => format!("{}/", e.path),
                None => e.path.clone(),
            };
            if self.long {
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
                p.line(format!(
                    "{:<10} {:>12} {:<16} {name}",
                    e.mode.as_deref().unwrap_or("-"),
                    e.size,
                    time
                ));
            } else {
                p.line(name);
            }
        }
    }
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
    let mut found = found;
    let changes = changes
        .into_iter()
        .map(|change| Judged {
            findings: found.remove(&change.path).unwrap_or_default(),
            change,
        })
        .collect();
    ctx.emit(&Sorted(Diff {
        changes,
        newer: cmd.newer.clone(),
        older: cmd.older.clone(),
    }))?;
    Ok(Outcome::Ok)
}

/// The changes between two snapshots, with the per-file engines' findings (fields in
/// alphabetical order: the JSON document's keys).
#[derive(Serialize)]
struct Diff {
    changes: Vec<Judged>,
    newer: String,
    older: String,
}

/// A change and what the per-file engines found in it (an empty list when nothing).
#[derive(Serialize)]
struct Judged {
    #[serde(flatten)]
    change: Change,
    findings: Vec<kura_detect::Finding>,
}

impl Render for Diff {
    fn text(&self, p: &Printer) {
        for Judged {
            change: c,
            findings,
        } in &self.changes
        {
            let mark = match c.change {
                ChangeKind::Added => "+",
                ChangeKind::Removed => "-",
                ChangeKind::Modified => "M",
                ChangeKind::Unchanged => " ",
            };
            p.line(format!("{mark}    {}", c.path));
            for f in findings {
                p.line(format!(
                    "       ! {:?} {:.2}: {}",
                    f.engine, f.score, f.reason
                ));
            }
        }
        let count = |k: ChangeKind| self.changes.iter().filter(|c| c.change.change == k).count();
        p.say(format!(
            "{} added, {} removed, {} modified",
            count(ChangeKind::Added),
            count(ChangeKind::Removed),
            count(ChangeKind::Modified)
        ));
    }
}
