//! `Ctx`: what every command needs (flags, config, how to open the repository), passed explicitly.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use kura_engine::{Location, LockMode, ProgressReporter, Repo};

use crate::cli::GlobalArgs;
use crate::config::Config;

pub struct Ctx {
    pub global: GlobalArgs,
    /// kura.toml, environment and global flags, merged once.
    pub config: Config,
    /// Details the running command adds to its audit record.
    notes: RefCell<serde_json::Map<String, serde_json::Value>>,
}

impl Ctx {
    pub fn new(global: GlobalArgs) -> Result<Ctx> {
        let config = Config::build(&global)?;
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

    /// Add every field of a typed record (a struct) to this command's audit record.
    pub fn note_record(&self, record: &impl serde::Serialize) {
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(record) {
            self.notes.borrow_mut().extend(fields);
        }
    }

    pub fn take_notes(&self) -> serde_json::Value {
        serde_json::Value::Object(std::mem::take(&mut *self.notes.borrow_mut()))
    }

    pub fn state_dir(&self) -> Result<PathBuf> {
        self.config.state_dir()
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
        Ok(main
            .select_for_copy(specs, &self.config.retention_policy(), force)?
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
    /// so that a daily check does not pile up duplicates; deliver it like [`Ctx::raise`].
    pub fn raise_once(&self, kind: &str, key: &str, severity: kura_audit::Severity, message: &str) {
        let result = self.events().and_then(|store| {
            let log = self.audit_log().ok();
            let alert = store.alert_once(
                kind,
                key,
                severity,
                message,
                &self.alert_channels(log.as_ref()),
            )?;
            Ok(alert.and_then(|a| a.delivery))
        });
        let details = serde_json::json!({ "key": key });
        self.after_alert(kind, severity, message, details, result);
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
            let log = self.audit_log().ok();
            let alert = store.alert(
                kind,
                severity,
                message,
                details.clone(),
                &self.alert_channels(log.as_ref()),
            )?;
            Ok(alert.delivery)
        });
        self.after_alert(kind, severity, message, details, result);
    }

    fn alert_channels<'a>(
        &'a self,
        log: Option<&'a kura_audit::AuditLog>,
    ) -> kura_audit::AlertChannels<'a> {
        kura_audit::AlertChannels {
            channels: &self.config.channels,
            log,
            options: kura_audit::DeliveryOptions::default(),
        }
    }

    /// Report failed deliveries; when the event list itself is unusable (e.g. the state dir is
    /// not writable), still tell the channels, which is all that can be done.
    fn after_alert(
        &self,
        kind: &str,
        severity: kura_audit::Severity,
        message: &str,
        details: serde_json::Value,
        result: Result<Option<kura_audit::DeliveryReport>>,
    ) {
        match result {
            Ok(report) => {
                for failed in report.iter().flat_map(|r| r.failed()) {
                    eprintln!(
                        "kura: warning: alert {} not delivered to {}: {}",
                        report.as_ref().map_or(0, |r| r.event_id),
                        failed.channel,
                        failed.error.as_deref().unwrap_or("unknown error")
                    );
                }
            }
            Err(e) => {
                eprintln!(
                    "kura: warning: could not record event {kind}: {}",
                    crate::exit::one_line(&e)
                );
                if !self.config.channels.is_empty() {
                    let event = kura_audit::Event::unrecorded(kind, severity, message, details);
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
    }

    pub fn location(&self) -> Result<Location> {
        self.config.location()
    }

    /// Average transfer limits in KiB/s (upload, download): the flags, else kura.toml.
    pub fn limits(&self) -> (Option<u64>, Option<u64>) {
        (self.config.limit_upload, self.config.limit_download)
    }

    pub fn password(&self) -> Result<String> {
        self.config.password()
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

    /// The output layer for this run's --json and -q.
    pub fn printer(&self) -> crate::output::Printer {
        crate::output::Printer::new(self.global.json, self.global.quiet)
    }

    /// Print a command's typed result (JSON or text).
    pub fn emit(&self, result: &impl crate::output::Render) -> Result<()> {
        self.printer().emit(result)
    }

    /// Human text goes to stderr-free stdout unless --json or -q.
    pub fn say(&self, text: impl AsRef<str>) {
        self.printer().say(text);
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
