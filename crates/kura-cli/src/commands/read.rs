//! `kura ls` and `kura diff`

use anyhow::Result;
use kura_engine::{ChangeKind, LockMode};

use crate::cli::{DiffCmd, LsCmd};
use crate::context::Ctx;
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
            match &e.link_target {
                Some(t) => println!("{} -> {t}", e.path),
                None if e.kind == "dir" => println!("{}/", e.path),
                None => println!("{}", e.path),
            }
        }
    }
    Ok(Outcome::Ok)
}

pub fn diff(ctx: &Ctx, cmd: &DiffCmd) -> Result<Outcome> {
    let mut repo = ctx.open(LockMode::Shared)?;
    let changes: Vec<_> = repo
        .diff(&cmd.older, &cmd.newer)?
        .into_iter()
        .filter(|c| c.change != ChangeKind::Unchanged)
        .collect();
    if ctx.global.json {
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
