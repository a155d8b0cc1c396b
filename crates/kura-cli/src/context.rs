//! `Ctx`: what every command needs (flags, config, how to open the repository), passed explicitly.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use kura_engine::{Location, LockMode, ProgressReporter, Repo};

use crate::cli::GlobalArgs;
use crate::config::{self, FileConfig};

pub struct Ctx {
    pub global: GlobalArgs,
    pub config: FileConfig,
    /// Details the running command adds to its audit record.
    notes: RefCell<serde_json::Map<String, serde_json::Value>>,
}

impl Ctx {
    pub fn new(global: GlobalArgs) -> Result<Ctx> {
        let (config, _origin) = FileConfig::load(global.config.as_deref())?;
        Ok(Ctx {
            global,
            config,
            notes: RefCell::new(serde_json::Map::new()),
        })
    }

    /// Add a detail to this command's audit record.
    pub fn note(&self, key: &str, value: impl serde::Serialize) {
        if let Ok(v) = serde_json::to_value(value) {
            self.notes.borrow_mut().insert(key.to_string(), v);
        }
    }

    pub fn take_notes(&self) -> serde_json::Value {
        serde_json::Value::Object(std::mem::take(&mut *self.notes.borrow_mut()))
    }

    pub fn state_dir(&self) -> Result<PathBuf> {
        config::state_dir(&self.config)
    }

    pub fn audit_dir(&self) -> Result<PathBuf> {
        Ok(self.state_dir()?.join("audit"))
    }

    pub fn audit_log(&self) -> Result<kura_audit::AuditLog> {
        let dir = self.audit_dir()?;
        kura_audit::AuditLog::open(&dir)
            .with_context(|| format!("cannot open the audit log in {}", dir.display()))
    }

    pub fn events(&self) -> Result<kura_audit::EventStore> {
        let dir = self.state_dir()?.join("events");
        kura_audit::EventStore::open(&dir)
            .with_context(|| format!("cannot open the event list in {}", dir.display()))
    }

    /// Ids of the snapshots to copy to a disk or remote: the named ones, or the clean
    /// generations the retention policy keeps; never a suspicious one unless forced.
    pub fn copy_selection(
        &self,
        main: &mut Repo,
        specs: &[String],
        force: bool,
    ) -> Result<Vec<String>> {
        let policy = self
            .config
            .retention
            .clone()
            .unwrap_or_else(kura_engine::KeepPolicy::hospital_default);
        Ok(main
            .select_for_copy(specs, &policy, force)?
            .into_iter()
            .map(|s| s.id)
            .collect())
    }

    /// Append one audit record; a failure is reported on stderr, never hidden.
    pub fn audit(
        &self,
        action: &str,
        target: &str,
        outcome: kura_audit::Outcome,
        details: serde_json::Value,
    ) {
        let _ = self.try_audit(action, target, outcome, details);
    }

    /// Append one audit record; a failure is reported on stderr and returned.
    pub fn try_audit(
        &self,
        action: &str,
        target: &str,
        outcome: kura_audit::Outcome,
        details: serde_json::Value,
    ) -> Result<()> {
        let entry = kura_audit::Entry::new(kura_audit::current_actor(), action, target, outcome)
            .with_details(details);
        let result = self.audit_log().and_then(|log| Ok(log.append(entry)?));
        if let Err(e) = &result {
            eprintln!(
                "kura: error: could not write the audit log: {}",
                crate::exit::one_line(e)
            );
        }
        result.map(|_| ())
    }

    /// Raise an event unless one of the same kind about the same subject (`key`) is still open,
    /// so that a daily check does not pile up duplicates.
    pub fn raise_once(&self, kind: &str, key: &str, severity: kura_audit::Severity, message: &str) {
        let open = self.events().and_then(|s| Ok(s.list(None)?)).map(|evs| {
            evs.iter().any(|e| {
                e.kind == kind
                    && e.details["key"] == key
                    && e.state != kura_audit::EventState::Closed
            })
        });
        if !matches!(open, Ok(true)) {
            self.raise(kind, severity, message, serde_json::json!({ "key": key }));
        }
    }

    /// Raise an event and deliver it to the configured channels (bounded retries; failures are
    /// recorded in the event and the audit log and retried by `kura events deliver`).
    pub fn raise(
        &self,
        kind: &str,
        severity: kura_audit::Severity,
        message: &str,
        details: serde_json::Value,
    ) {
        let result = self.events().and_then(|store| {
            let ev = store.raise(kind, severity, message, details.clone())?;
            if !self.config.channels.is_empty() {
                let log = self.audit_log().ok();
                let report = store.deliver(
                    ev.id,
                    &self.config.channels,
                    log.as_ref(),
                    &kura_audit::DeliveryOptions::default(),
                )?;
                for failed in report.results.iter().filter(|r| !r.ok) {
                    eprintln!(
                        "kura: warning: alert {} not delivered to {}: {}",
                        ev.id,
                        failed.channel,
                        failed.error.as_deref().unwrap_or("unknown error")
                    );
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            eprintln!(
                "kura: warning: could not record event {kind}: {}",
                crate::exit::one_line(&e)
            );
            // The event list is unusable (e.g. the state dir is not writable): still tell the
            // channels, which is all that can be done.
            if !self.config.channels.is_empty() {
                let event = kura_audit::Event {
                    id: 0,
                    kind: kind.to_string(),
                    severity,
                    message: message.to_string(),
                    details,
                    host: rustix::system::uname()
                        .nodename()
                        .to_string_lossy()
                        .into_owned(),
                    time_utc: jiff::Timestamp::now(),
                    state: kura_audit::EventState::New,
                    acknowledged: None,
                    closed: None,
                    deliveries: Vec::new(),
                };
                let report = kura_audit::deliver(&self.config.channels, &event, None);
                for failed in report.failed() {
                    eprintln!(
                        "kura: warning: alert {kind} not delivered to {}: {}",
                        failed.channel,
                        failed.error.as_deref().unwrap_or("unknown error")
                    );
                }
            }
        }
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
        // No colour codes in logs, journald or files: only on a terminal.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .try_init();
}
