//! `kura init`

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use kura_engine::Repo;
use serde::Serialize;

use crate::cli::InitCmd;
use crate::context::Ctx;
use crate::exit::Outcome;
use crate::output::{Printer, Render};

/// Passwords shorter than this get a warning. Anyone holding a copy of the repository (a stolen
/// offline disk, a leaked bucket) can try passwords offline at their leisure; 12 characters
/// (e.g. three random words) keep that out of reach, 8 do not for long.
pub const MIN_PASSWORD_CHARS: usize = 12;

pub fn run(ctx: &Ctx, cmd: &InitCmd) -> Result<Outcome> {
    if let Some(path) = &cmd.write_config
        && path.exists()
    {
        bail!(
            "{} exists already; refusing to overwrite it",
            path.display()
        );
    }
    if !cmd.sources.is_empty() && cmd.write_config.is_none() {
        bail!(
            "--source only goes into the file written by --write-config: add --write-config FILE"
        );
    }
    let location = ctx.location()?;
    let password = ctx.password()?;
    let password_file = ctx.config.password_file_in_use();
    let mut warnings = Vec::new();
    if let Some(p) = &password_file {
        warnings.extend(readable_by_others(p));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        warnings.push(format!(
            "the password has fewer than {MIN_PASSWORD_CHARS} characters: anyone with a copy of the repository can guess it offline; use a longer one (e.g. three or four random words) before storing real data"
        ));
    }
    let repo = Repo::init(location, &password, ctx.progress())?;
    let id = repo.id()?;
    let repository = absolute(Path::new(&repo.location().describe()));
    if let Some(path) = &cmd.write_config {
        let sources: Vec<PathBuf> = cmd.sources.iter().map(|s| absolute(s)).collect();
        let text = crate::config::written(
            &repository.display().to_string(),
            password_file.as_deref().map(absolute).as_deref(),
            &sources,
        );
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    for w in &warnings {
        eprintln!("kura: warning: {w}");
    }
    ctx.note("warnings", &warnings);
    ctx.emit(&Created {
        config: cmd.write_config.as_deref(),
        id: &id,
        repository: repo.location().describe(),
        warnings: &warnings,
    })?;
    Ok(Outcome::Ok)
}

/// A new repository (and the configuration written for it).
#[derive(Serialize)]
struct Created<'a> {
    config: Option<&'a Path>,
    id: &'a str,
    repository: String,
    warnings: &'a [String],
}

impl Render for Created<'_> {
    fn text(&self, p: &Printer) {
        p.say(format!(
            "created kura repository {} at {}",
            &self.id[..8.min(self.id.len())],
            self.repository
        ));
        if let Some(path) = self.config {
            p.say(format!(
                "wrote {}: check it, then run `kura --config {} backup`",
                path.display(),
                path.display()
            ));
        }
        p.say("keep the password safe: without it the backups cannot be read by anyone.");
    }
}

/// An absolute path (relative ones are taken from the current folder), for a config read
/// from anywhere.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A warning when the password file can be read by the group or other users.
fn readable_by_others(p: &Path) -> Option<String> {
    let mode = std::fs::metadata(p).ok()?.permissions().mode();
    (mode & 0o044 != 0).then(|| {
        format!(
            "password file {} can be read by other users (mode {:04o}): run `chmod 600 {}`",
            p.display(),
            mode & 0o7777,
            p.display()
        )
    })
}
