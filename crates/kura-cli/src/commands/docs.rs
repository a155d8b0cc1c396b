//! `kura completions` and `kura man`: shell completions and manual pages, generated from the
//! same clap definitions as the flags, so they cannot drift.

use std::os::unix::fs::PermissionsExt;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsCmd, ManCmd};
use crate::exit::Outcome;

pub fn completions(cmd: &CompletionsCmd) -> Result<Outcome> {
    // Into a buffer first: clap_complete panics on a write error (e.g. `| head`).
    let mut script = Vec::new();
    clap_complete::generate(cmd.shell, &mut Cli::command(), "kura", &mut script);
    std::io::Write::write_all(&mut std::io::stdout(), &script)?;
    Ok(Outcome::Ok)
}

pub fn man(cmd: &ManCmd) -> Result<Outcome> {
    std::fs::create_dir_all(&cmd.dir)
        .with_context(|| format!("cannot create {}", cmd.dir.display()))?;
    clap_mangen::generate_to(Cli::command(), &cmd.dir)
        .with_context(|| format!("cannot write manual pages into {}", cmd.dir.display()))?;
    // Manual pages are for everyone (kura's umask makes its own files private).
    for entry in std::fs::read_dir(&cmd.dir)? {
        let path = entry?.path();
        let is_page = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("kura") && n.ends_with(".1"));
        if is_page {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
                .with_context(|| format!("cannot make {} readable", path.display()))?;
        }
    }
    Ok(Outcome::Ok)
}
