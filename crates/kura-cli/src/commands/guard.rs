//! `kura guard watch | incidents | blocklist | release`: wiring of kura-guard.

use anyhow::{Context, Result, bail};
use kura_guard::{Action, BlockEntry, Guard, GuardOptions, Incident, Report};
use serde::Serialize;

use crate::cli::{GuardActionArg, GuardCmd};
use crate::context::Ctx;
use crate::exit::Outcome;
use crate::output::{Printer, Render, Sorted};

pub fn action(cmd: &GuardCmd) -> &'static str {
    match cmd {
        GuardCmd::Watch { .. } => "guard.watch",
        GuardCmd::Incidents => "guard.incidents",
        GuardCmd::Blocklist { remove: None } => "guard.blocklist",
        GuardCmd::Blocklist { remove: Some(_) } => "guard.unblock",
        GuardCmd::Release { .. } => "guard.release",
    }
}

pub fn run(ctx: &Ctx, cmd: &GuardCmd) -> Result<Outcome> {
    match cmd {
        GuardCmd::Watch { paths, action } => watch(ctx, paths, *action),
        GuardCmd::Incidents => incidents(ctx),
        GuardCmd::Blocklist { remove } => blocklist(ctx, remove.as_deref()),
        GuardCmd::Release { id } => release(ctx, *id),
    }
}

fn watch(
    ctx: &Ctx,
    paths: &[std::path::PathBuf],
    action: Option<GuardActionArg>,
) -> Result<Outcome> {
    let cfg = &ctx.config.guard;
    let roots = if !paths.is_empty() {
        paths.to_vec()
    } else if !cfg.paths.is_empty() {
        cfg.paths.clone()
    } else {
        ctx.config.backup.sources.clone()
    };
    let state = ctx.state_dir()?;
    let mut opts = GuardOptions::new(roots, state);
    opts.action = match action {
        Some(GuardActionArg::Kill) => Action::Kill,
        Some(GuardActionArg::Stop) => Action::Stop,
        Some(GuardActionArg::Alert) => Action::Alert,
        None => cfg.action.unwrap_or_default(),
    };
    opts.trusted = cfg.trusted.clone();
    opts.isolate_command = cfg.isolate_command.clone();
    opts.canaries = cfg.canaries.unwrap_or(true);
    opts.smb_conf = cfg.smb_conf.clone();
    opts.check_every_open = cfg.check_every_open.unwrap_or(false);
    ctx.note("roots", &opts.roots);
    ctx.note("action", opts.action);
    let mut guard = Guard::start(opts)?;
    let stop = kura_guard::stop_on_signals();
    let printer = ctx.printer();
    let mut trips = 0u64;
    guard.run(stop, &mut |report| {
        if let Report::Tripped(i) = &report {
            trips += 1;
            deliver_event(ctx, i.id);
        }
        // A closed stdout (the reader went away) must not stop the guard.
        let _ = printer.event(&Sorted(WatchEvent::of(&report)));
    })?;
    ctx.note("trips", trips);
    Ok(Outcome::Ok)
}

/// The guard raised the `guard_tripped` event in the event list; send it to the channels.
fn deliver_event(ctx: &Ctx, incident: u64) {
    if ctx.config.channels.is_empty() {
        return;
    }
    let Ok(store) = ctx.events() else { return };
    let Ok(events) = store.list(None) else { return };
    if let Some(ev) = events
        .iter()
        .rev()
        .find(|e| e.kind == "guard_tripped" && e.details["incident"] == incident)
    {
        let log = ctx.audit_log().ok();
        let _ = store.deliver(
            ev.id,
            &ctx.config.channels,
            log.as_ref(),
            &kura_audit::DeliveryOptions::default(),
        );
    }
}

/// One line of `guard watch`'s stream: the guard's report as it serializes (`event` names
/// it), and for a trip the damaged files once more as `files`. Keys sorted, as printed before.
#[derive(Serialize)]
#[serde(untagged)]
enum WatchEvent<'a> {
    Tripped {
        #[serde(flatten)]
        report: &'a Report,
        files: &'a [String],
    },
    Other(&'a Report),
}

impl<'a> WatchEvent<'a> {
    fn of(report: &'a Report) -> Self {
        match report {
            Report::Tripped(i) => WatchEvent::Tripped {
                report,
                files: &i.damaged,
            },
            _ => WatchEvent::Other(report),
        }
    }
}

impl Render for WatchEvent<'_> {
    fn text(&self, p: &Printer) {
        let report = match self {
            WatchEvent::Tripped { report, .. } | WatchEvent::Other(report) => *report,
        };
        let line = match report {
            Report::Ready {
                roots,
                marked_dirs,
                marked_files,
                canaries,
                action,
                ..
            } => format!(
                "watching {} ({} files checked on open, every open checked in {} folders, {} canary folders, action {})",
                roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                marked_files,
                marked_dirs,
                canaries.len(),
                serde_json::to_value(action)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            ),
            Report::Tripped(i) => format!(
                "TRIPPED incident {}: {} (pid {}, group {}, {}) {}: {}; {} files damaged, {} created; restore with `kura restore latest-clean --incident {} --target DIR`",
                i.id,
                i.writer.comm,
                i.writer.pid,
                i.writer.pgid,
                exe_of(i),
                i.action,
                i.reasons.join("; "),
                i.damaged.len(),
                i.created.len(),
                i.id
            ),
            Report::Overflow { count } => format!(
                "warning: the fanotify queue overflowed ({count} so far): some file events were lost"
            ),
            Report::Warning { message } => format!("warning: {message}"),
            // A report this version does not know how to word: its JSON line still says it.
            _ => return,
        };
        p.notice(format!("kura guard: {line}"));
    }
}

/// The writer's executable for people, `?` when unknown.
fn exe_of(i: &Incident) -> String {
    i.writer
        .exe
        .as_deref()
        .map(|e| e.display().to_string())
        .unwrap_or_else(|| "?".into())
}

fn incidents(ctx: &Ctx) -> Result<Outcome> {
    let list = kura_guard::incidents(&ctx.state_dir()?)?;
    ctx.emit(&Incidents(&list))?;
    Ok(Outcome::Ok)
}

/// The guard's incidents: two lines each, an array in JSON.
#[derive(Serialize)]
#[serde(transparent)]
struct Incidents<'a>(&'a [Incident]);

impl Render for Incidents<'_> {
    fn text(&self, p: &Printer) {
        if self.0.is_empty() {
            p.say("no guard incidents");
        }
        for i in self.0 {
            let held = if i.released.is_some() {
                "released"
            } else {
                "HOLD (forget/prune paused)"
            };
            p.say(format!(
                "{:>4}  {}  {:<11} {} pid {} ({})  {} damaged, {} created  {held}",
                i.id,
                i.time.strftime("%Y-%m-%d %H:%M:%S"),
                i.action,
                i.writer.comm,
                i.writer.pid,
                exe_of(i),
                i.damaged.len(),
                i.created.len()
            ));
            p.say(format!("      {}", i.reasons.join("; ")));
        }
    }
}

fn blocklist(ctx: &Ctx, remove: Option<&str>) -> Result<Outcome> {
    let state = ctx.state_dir()?;
    if let Some(sha) = remove {
        ctx.note("sha256", sha);
        if !kura_guard::unblock(&state, sha)? {
            bail!("{sha} is not on the guard's blocklist: see `kura guard blocklist`");
        }
        ctx.say(format!("removed {sha} from the blocklist"));
        return Ok(Outcome::Ok);
    }
    let list = kura_guard::blocklist(&state)?;
    ctx.emit(&Blocklist(&list))?;
    Ok(Outcome::Ok)
}

/// The executables the guard blocks: one line each, an array in JSON.
#[derive(Serialize)]
#[serde(transparent)]
struct Blocklist<'a>(&'a [BlockEntry]);

impl Render for Blocklist<'_> {
    fn text(&self, p: &Printer) {
        if self.0.is_empty() {
            p.say("the blocklist is empty");
        }
        for e in self.0 {
            p.say(format!(
                "{}  {}  incident {}",
                e.sha256,
                e.exe
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "?".into()),
                e.incident
            ));
        }
    }
}

fn release(ctx: &Ctx, id: u64) -> Result<Outcome> {
    let state = ctx.state_dir()?;
    ctx.note("incident", id);
    let incident = kura_guard::release(&state, id, &kura_audit::current_actor())?;
    let holds_left = kura_guard::open_holds(&state)?.len();
    ctx.emit(&Released {
        incident,
        holds_left,
    })?;
    Ok(Outcome::Ok)
}

/// An incident released: the incident in JSON.
#[derive(Serialize)]
#[serde(transparent)]
struct Released {
    incident: Incident,
    /// Incidents that still hold forget and prune.
    #[serde(skip)]
    holds_left: usize,
}

impl Render for Released {
    fn text(&self, p: &Printer) {
        p.say(format!(
            "incident {} released{}",
            self.incident.id,
            if self.holds_left == 0 {
                "; forget and prune may run again".to_string()
            } else {
                format!(
                    "; {} other incidents still hold forget and prune",
                    self.holds_left
                )
            }
        ));
    }
}

/// Refuses forget/prune while a guard incident holds them.
pub fn check_holds(ctx: &Ctx) -> Result<()> {
    let holds = kura_guard::open_holds(&ctx.state_dir()?).context("cannot read guard incidents")?;
    if let Some(i) = holds.first() {
        return Err(crate::exit::Refusal::IncidentHold {
            id: i.id.to_string(),
            time: i.time.strftime("%Y-%m-%d %H:%M").to_string(),
        }
        .into());
    }
    Ok(())
}

/// The live guard in `kura status` (fields in alphabetical order: the JSON document's keys).
#[derive(Serialize)]
pub struct GuardLine {
    last_trip: Option<LastTrip>,
    pid: Option<u32>,
    roots: Option<Vec<std::path::PathBuf>>,
    running: bool,
    since: Option<jiff::Timestamp>,
}

/// The guard's latest incident, for `kura status`.
#[derive(Serialize)]
struct LastTrip {
    action: String,
    incident: u64,
    released: bool,
    time: jiff::Timestamp,
}

/// The guard's line for `kura status` (`None`, `null` in JSON, without a state directory).
pub fn status(ctx: &Ctx) -> Option<GuardLine> {
    let state = ctx.state_dir().ok()?;
    let running = kura_guard::running(&state);
    let last = kura_guard::incidents(&state)
        .ok()
        .and_then(|v| v.into_iter().last());
    Some(GuardLine {
        last_trip: last.map(|i| LastTrip {
            action: i.action,
            incident: i.id,
            released: i.released.is_some(),
            time: i.time,
        }),
        pid: running.as_ref().map(|r| r.pid),
        roots: running.as_ref().map(|r| r.roots.clone()),
        running: running.is_some(),
        since: running.as_ref().map(|r| r.since),
    })
}

/// `status` as one line of text.
pub fn status_text(g: Option<&GuardLine>) -> String {
    let run = match g {
        Some(GuardLine {
            running: true, pid, ..
        }) => format!(
            "running (pid {})",
            pid.map_or_else(|| "null".to_string(), |p| p.to_string())
        ),
        _ => "not running".to_string(),
    };
    let last = match g.and_then(|g| g.last_trip.as_ref()) {
        None => "no trips".to_string(),
        Some(t) => format!(
            "last trip: incident {} at {} ({}{})",
            t.incident,
            t.time,
            t.action,
            if t.released {
                ", released"
            } else {
                ", HOLD on forget/prune"
            }
        ),
    };
    format!("live guard: {run}; {last}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_events_keep_their_json_field_names() {
        let warning = Report::Warning {
            message: "nfs".into(),
        };
        let line = serde_json::to_string(&Sorted(WatchEvent::of(&warning))).unwrap();
        assert_eq!(line, r#"{"event":"warning","message":"nfs"}"#);
        let overflow = Report::Overflow { count: 2 };
        let line = serde_json::to_string(&Sorted(WatchEvent::of(&overflow))).unwrap();
        assert_eq!(line, r#"{"count":2,"event":"overflow"}"#);
    }
}
