//! One module per command; each wires libraries and returns an `Outcome`.

mod backup;
mod check;
mod forget;
mod init;
mod read;
mod restore;
mod snapshots;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::context::Ctx;
use crate::exit::Outcome;

pub fn run(cli: Cli) -> Result<Outcome> {
    let ctx = Ctx::new(cli.global)?;
    match cli.command {
        Command::Init(c) => init::run(&ctx, &c),
        Command::Backup(c) => backup::run(&ctx, &c),
        Command::Snapshots(c) => snapshots::run(&ctx, &c),
        Command::Ls(c) => read::ls(&ctx, &c),
        Command::Diff(c) => read::diff(&ctx, &c),
        Command::Restore(c) => restore::run(&ctx, &c),
        Command::Check(c) => check::run(&ctx, &c),
        Command::Forget(c) => forget::run(&ctx, &c),
    }
}
