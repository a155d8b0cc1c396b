//! `kura drill`, `kura drill list`, `kura drill sign`: restore drills and their history.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use kura_engine::{Location, LockMode, Repo};
use kura_recovery::{DrillEntry, DrillHistory, DrillOptions, DrillReport, DrillScope, SignOff};
use serde::Serialize;

use crate::cli::{DrillAction, DrillCmd, DrillRunArgs};
use crate::context::Ctx;
use crate::exit::Outcome;
use crate::output::{Printer, Render};

/// The audit action of a drill command.
pub fn action(cmd: &DrillCmd) -> &'static str {
    match cmd.action {
        None => "drill",
        Some(DrillAction::List) => "drill.list",
        Some(DrillAction::Sign { .. }) => "drill.sign",
    }
}

/// The drill history in kura's state directory.
pub fn history(ctx: &Ctx) -> Result<DrillHistory> {
    Ok(DrillHistory::open(&ctx.state_dir()?.join("drills"))?)
}

pub fn run(ctx: &Ctx, cmd: &DrillCmd) -> Result<Outcome> {
    match &cmd.action {
        None => drill(ctx, &cmd.run),
        Some(DrillAction::List) => list(ctx),
        Some(DrillAction::Sign { id, by, role }) => sign(ctx, *id, by, role),
    }
}

/// Open the copy named by `--copy`.
fn open_copy(ctx: &Ctx, copy: &str) -> Result<Repo> {
    if copy == "local" {
        return ctx.open(LockMode::Shared);
    }
    if let Some(label) = copy.strip_prefix("disk:") {
        let reg = crate::commands::media::registry(ctx)?;
        let mount = reg.disk(label)?.path_at_registration.clone();
        // Refuse a swapped or foreign disk, as export does.
        reg.check_identity(label, &mount)
            .with_context(|| format!("disk {label} is not mounted at {}", mount.display()))?;
        let repo = Repo::open(
            Location::Local(crate::commands::media::disk_repo(&mount)),
            &ctx.password()?,
            LockMode::Shared,
            ctx.progress(),
        )
        .with_context(|| format!("cannot open the repository on disk {label}"))?;
        return Ok(repo);
    }
    if let Some(name) = copy.strip_prefix("remote:") {
        let rec = crate::commands::remote::get(ctx, name)?;
        let store = crate::commands::remote::connect(&rec)?;
        return crate::commands::remote::open_remote(ctx, &store);
    }
    bail!("unknown copy {copy:?}: use local, disk:LABEL or remote:NAME")
}

fn drill(ctx: &Ctx, args: &DrillRunArgs) -> Result<Outcome> {
    let cfg = &ctx.config.drill;
    let scope = match (args.full, args.sample) {
        (true, _) => DrillScope::Full,
        (false, Some(p)) if !(p > 0.0 && p <= 100.0) => {
            bail!("--sample {p} is not a percentage: use a number above 0 and up to 100")
        }
        (false, Some(p)) => DrillScope::Sample(p),
        (false, None) => DrillScope::Sample(
            cfg.sample_percent
                .unwrap_or(kura_recovery::DEFAULT_SAMPLE_PERCENT),
        ),
    };
    ctx.note("copy", &args.copy);
    ctx.note("snapshot", &args.snapshot);
    let history = history(ctx)?;
    let started = jiff::Timestamp::now();
    let t0 = Instant::now();
    let report = match open_copy(ctx, &args.copy) {
        Ok(mut repo) => {
            let open_secs = t0.elapsed().as_secs_f64();
            let opts = DrillOptions {
                snapshot: args.snapshot.clone(),
                copy: args.copy.clone(),
                scope,
                target: args.target.clone(),
                read_part: history.next_read_part(
                    &args.copy,
                    cfg.read_parts.unwrap_or(kura_recovery::DEFAULT_READ_PARTS),
                )?,
                seed: started.as_nanosecond() as u64,
            };
            // A damaged pack panics inside rustic_core's restorer; the engine contains it and the
            // drill names the damage. Keep the default panic message off the terminal meanwhile.
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let result = kura_recovery::run_drill(&mut repo, open_secs, &opts);
            std::panic::set_hook(previous);
            result?
        }
        // A copy that cannot be opened (wrong disk, damaged config) is a failed drill, recorded;
        // a missing main repository or a wrong password stays an error with its own exit code.
        Err(e) if args.copy != "local" => {
            DrillReport::not_started(&args.copy, scope, started, format!("{e:#}"))
        }
        Err(e) => return Err(e),
    };
    let report = history.record(report)?;
    ctx.note("drill", report.id);
    ctx.note("result", report.result);
    ctx.note("snapshot", &report.snapshot);
    ctx.note("rto_seconds", report.rto_seconds);
    ctx.note("files_verified", report.files_verified);
    ctx.note("errors", &report.errors);
    if !report.passed() {
        ctx.raise(
            "drill_failed",
            kura_audit::Severity::Critical,
            &format!(
                "restore drill {} of copy {} failed: {}",
                report.id,
                report.copy,
                report.errors.first().map_or("", String::as_str)
            ),
            serde_json::json!({ "drill": report.id, "copy": report.copy, "errors": report.errors }),
        );
    }
    ctx.emit(&Drilled(&report))?;
    Ok(if report.passed() {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

/// A drill's report: the recorded report in JSON, a few lines for people (errors on stderr).
#[derive(Serialize)]
#[serde(transparent)]
struct Drilled<'a>(&'a DrillReport);

impl Render for Drilled<'_> {
    fn text(&self, out: &Printer) {
        let r = self.0;
        let verdict = if r.passed() { "PASS" } else { "FAIL" };
        let scope = match r.scope {
            DrillScope::Full => "full".to_string(),
            DrillScope::Sample(p) => format!("sample {p}%"),
        };
        out.say(format!(
            "drill {} {verdict}: copy {}, snapshot {} ({scope})",
            r.id,
            r.copy,
            r.snapshot.get(..8).unwrap_or("-")
        ));
        out.say(format!(
            "  verified {} of {} files restored ({}), {} files in the snapshot",
            r.files_verified,
            r.files_restored,
            crate::output::bytes(r.bytes_verified),
            r.files_total
        ));
        let p = &r.phases;
        out.say(format!(
            "  RTO {:.1}s = open {:.1}s + locate {:.1}s + fetch/write {:.1}s + verify {:.1}s",
            r.rto_seconds, p.open, p.locate, p.fetch_write, p.verify
        ));
        if matches!(r.scope, DrillScope::Sample(_)) {
            out.say(format!(
                "  estimated full restore: {:.1}s at {}/s",
                r.estimated_full_rto_seconds,
                crate::output::bytes(r.throughput_bytes_per_sec as u64)
            ));
        }
        if r.ssmix.files > 0 {
            out.say(format!(
                "  SS-MIX2: {} files of {} patients read",
                r.ssmix.files, r.ssmix.patients
            ));
        }
        if let Some(pr) = &r.pack_read {
            out.say(format!(
                "  rolling pack read {}/{}: {} of {} packs read",
                pr.part, pr.of, pr.packs_read, pr.packs_total
            ));
        }
        for e in &r.errors {
            eprintln!("kura: drill: {e}");
        }
    }
}

/// The drill key (`local`, `disk:LABEL`, `remote:NAME`) of a copy named as `kura status` names it.
fn drill_key(status_name: &str) -> Option<String> {
    if status_name.starts_with("local ") {
        return Some("local".into());
    }
    if let Some(label) = status_name.strip_prefix("disk ") {
        return Some(format!("disk:{label}"));
    }
    let rest = status_name.strip_prefix("s3 ")?;
    Some(format!("remote:{}", rest.split(" (").next()?))
}

/// Add each copy's last drill to the 3-2-1-1-0 status (amber when the last passed drill is
/// older than `drill.max_age_days`, red when the last drill failed).
pub fn judge_status(ctx: &Ctx, report: &mut kura_copies::StatusReport) -> Result<()> {
    let drills = history(ctx)?.list()?;
    let states: Vec<kura_copies::DrillState> = report
        .copies
        .iter()
        .filter_map(|c| {
            let key = drill_key(&c.name)?;
            let mine: Vec<&DrillReport> = drills
                .iter()
                .map(|d| &d.report)
                .filter(|r| r.copy == key)
                .collect();
            let last = mine.last()?;
            let pass = mine.iter().rev().find(|r| r.passed());
            Some(kura_copies::DrillState {
                copy: c.name.clone(),
                last_drill: last.id,
                last_at: last.started,
                last_passed: last.passed(),
                last_pass: pass.map(|r| r.started),
                last_pass_rto_ms: pass.map(|r| (r.rto_seconds * 1000.0).round() as u64),
            })
        })
        .collect();
    let max_age = ctx.config.drill.max_age_days.unwrap_or(30);
    kura_copies::judge_drills(report, &states, jiff::Timestamp::now(), max_age);
    Ok(())
}

/// One line about a copy's drills for `kura status`.
pub fn status_line(c: &kura_copies::status::CopyLine) -> Option<String> {
    let d = c.drill.as_ref()?;
    Some(match (d.last_pass, d.last_pass_age_days) {
        (Some(_), Some(age)) => format!(
            "last drill passed {age} days ago (RTO {:.1}s){}",
            d.rto_ms.unwrap_or(0) as f64 / 1000.0,
            if d.level == kura_copies::Level::Red {
                "; the latest drill FAILED"
            } else {
                ""
            }
        ),
        _ if d.last_drill.is_some() => "no drill has passed; the latest drill FAILED".into(),
        _ => "never drilled".into(),
    })
}

fn list(ctx: &Ctx) -> Result<Outcome> {
    let drills = history(ctx)?.list()?;
    ctx.emit(&DrillList(&drills))?;
    Ok(Outcome::Ok)
}

/// The drill history: one line a drill, an array in JSON.
#[derive(Serialize)]
#[serde(transparent)]
struct DrillList<'a>(&'a [DrillEntry]);

impl Render for DrillList<'_> {
    fn text(&self, p: &Printer) {
        for d in self.0 {
            let r = &d.report;
            let signed = d
                .signoffs
                .iter()
                .map(|s| format!("{} ({})", s.by, s.role))
                .collect::<Vec<_>>()
                .join(", ");
            p.line(format!(
                "{:>4}  {}  {:<16} {:<8} {:<4}  RTO {:>7.1}s  {:>7} files  {}",
                r.id,
                crate::output::local_time(&r.started.to_string()),
                r.copy,
                r.snapshot.get(..8).unwrap_or("-"),
                if r.passed() { "pass" } else { "FAIL" },
                r.rto_seconds,
                r.files_verified,
                if signed.is_empty() {
                    "not signed".into()
                } else {
                    format!("signed by {signed}")
                }
            ));
        }
        p.say(format!("{} drills", self.0.len()));
    }
}

fn sign(ctx: &Ctx, id: u64, by: &str, role: &str) -> Result<Outcome> {
    let s = history(ctx)?.sign(id, by, role, jiff::Timestamp::now())?;
    ctx.note("drill", id);
    ctx.note("by", by);
    ctx.note("role", role);
    ctx.emit(&Signed { id, sign_off: &s })?;
    Ok(Outcome::Ok)
}

/// A drill's sign-off: the sign-off in JSON.
#[derive(Serialize)]
#[serde(transparent)]
struct Signed<'a> {
    #[serde(skip)]
    id: u64,
    sign_off: &'a SignOff,
}

impl Render for Signed<'_> {
    fn text(&self, p: &Printer) {
        let s = self.sign_off;
        p.say(format!("drill {} signed by {} ({})", self.id, s.by, s.role));
    }
}
