//! `kura init`

use anyhow::{Context, Result, bail};
use kura_engine::Repo;

use crate::cli::InitCmd;
use crate::context::Ctx;
use crate::exit::Outcome;

pub fn run(ctx: &Ctx, cmd: &InitCmd) -> Result<Outcome> {
    if let Some(path) = &cmd.write_config
        && path.exists()
    {
        bail!(
            "{} exists already; refusing to overwrite it",
            path.display()
        );
    }
    let location = ctx.location()?;
    let password = ctx.password()?;
    let repo = Repo::init(location, &password, ctx.progress())?;
    let id = repo.id()?;
    if let Some(path) = &cmd.write_config {
        std::fs::write(path, crate::config::EXAMPLE)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if ctx.global.json {
        crate::output::json(
            &serde_json::json!({ "id": id, "repository": repo.location().describe() }),
        )?;
    } else {
        ctx.say(format!(
            "created kura repository {} at {}",
            &id[..8.min(id.len())],
            repo.location().describe()
        ));
        ctx.say("keep the password safe: without it the backups cannot be read by anyone.");
    }
    Ok(Outcome::Ok)
}
