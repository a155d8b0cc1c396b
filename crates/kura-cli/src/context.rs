//! `Ctx`: what every command needs (flags, config, how to open the repository), passed explicitly.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use kura_engine::{Location, LockMode, ProgressReporter, Repo};

use crate::cli::GlobalArgs;
use crate::config::{self, FileConfig};

pub struct Ctx {
    pub global: GlobalArgs,
    pub config: FileConfig,
}

impl Ctx {
    pub fn new(global: GlobalArgs) -> Result<Ctx> {
        let (config, _origin) = FileConfig::load(global.config.as_deref())?;
        Ok(Ctx { global, config })
    }

    pub fn location(&self) -> Result<Location> {
        let spec = self
            .global
            .repo
            .clone()
            .or_else(|| self.config.repository.clone())
            .context(
                "no repository given: use -r/--repo, KURA_REPOSITORY or `repository` in kura.toml",
            )?;
        Ok(Location::parse_local(&spec)?)
    }

    pub fn password(&self) -> Result<String> {
        config::password(
            self.global.password_file.as_deref(),
            self.config.password_file.as_deref(),
        )
    }

    /// Progress bars only on a terminal, and never with --json or -q.
    pub fn progress(&self) -> Arc<dyn ProgressReporter> {
        if self.global.json || self.global.quiet || !std::io::stderr().is_terminal() {
            kura_engine::no_progress()
        } else {
            Arc::new(crate::progress::Bars)
        }
    }

    pub fn open(&self, mode: LockMode) -> Result<Repo> {
        let location = self.location()?;
        let password = self.password()?;
        Ok(Repo::open(location, &password, mode, self.progress())?)
    }

    /// Human text goes to stderr-free stdout unless --json or -q.
    pub fn say(&self, text: impl AsRef<str>) {
        if !self.global.json && !self.global.quiet {
            println!("{}", text.as_ref());
        }
    }
}

/// Log to stderr. rustic_core's chatty INFO output stays hidden unless -v.
pub fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,rustic_core=error,rustic_backend=error",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KURA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}
