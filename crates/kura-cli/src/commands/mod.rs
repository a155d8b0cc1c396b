//! One module per command; each wires libraries and returns an `Outcome`.

mod audit;
mod backup;
mod check;
mod docs;
mod drill;
mod events;
mod forget;
mod guard;
mod init;
mod media;
mod read;
mod remote;
mod report;
mod restore;
mod scan;
mod serve;
pub mod snapshots;
mod status;
mod train;
mod verdict;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::context::Ctx;
use crate::exit::Outcome;

/// The audit action name of a command.
fn action_of(cmd: &Command) -> &'static str {
    match cmd {
        Command::Init(_) => "init",
        Command::Backup(_) => "backup",
        Command::Snapshots(_) => "snapshots",
        Command::Ls(_) => "ls",
        Command::Diff(_) => "diff",
        Command::Restore(_) => "restore",
        Command::Check(_) => "check",
        Command::Forget(_) => "forget",
        Command::Audit(_) => "audit",
        Command::Events(_) => "events",
        Command::Media(_) => "media",
        Command::Remote(_) => "remote",
        Command::Status(_) => "status",
        Command::Serve(_) => "serve",
        Command::Verdict(_) => "verdict.override",
        Command::Scan(_) => "scan",
        Command::Canary(_) => "canary",
        Command::Hold(_) => "legal_hold",
        Command::Train(crate::cli::TrainCmd::Start { .. }) => "train.start",
        Command::Train(crate::cli::TrainCmd::Hint { .. }) => "train.hint",
        Command::Train(crate::cli::TrainCmd::Check { .. }) => "train.check",
        Command::Completions(_) => "completions",
        Command::Man(_) => "man",
        Command::Drill(c) => drill::action(c),
        Command::Report(_) => "report",
        Command::Guard(c) => guard::action(c),
    }
}

/// Run one command and record it (outcome and details) in the audit log.
pub fn run(cli: Cli) -> Result<Outcome> {
    // Documentation for packaging: no configuration, repository or audit record involved.
    match &cli.command {
        Command::Completions(c) => return docs::completions(c),
        Command::Man(c) => return docs::man(c),
        _ => {}
    }
    let ctx = Ctx::new(cli.global)?;
    let action = action_of(&cli.command);
    let target = ctx.location().map(|l| l.describe()).unwrap_or_default();
    let result = dispatch(&ctx, cli.command);
    let mut details = ctx.take_notes();
    let outcome = match &result {
        Ok(Outcome::Ok) => kura_audit::Outcome::Ok,
        Ok(o) => {
            details["status"] = format!("{o:?}").to_lowercase().into();
            kura_audit::Outcome::Ok
        }
        Err(e) => {
            details["error"] = crate::exit::one_line(e).into();
            if crate::exit::is_denied(e) {
                kura_audit::Outcome::Denied
            } else {
                kura_audit::Outcome::Failed
            }
        }
    };
    let audited = ctx.try_audit(action, &target, outcome, details);
    if let Err(e) = &audited {
        ctx.raise(
            "audit_write_failed",
            kura_audit::Severity::Critical,
            &format!(
                "kura {action} ran but its audit record could not be written (a gap in the audit log): {}",
                crate::exit::one_line(e)
            ),
            serde_json::json!({ "repository": target, "action": action }),
        );
    }
    if let Err(e) = &result
        && crate::exit::is_denied(e)
    {
        raise_on_repeated_denials(&ctx, &target);
    }
    if let Err(e) = &result
        && matches!(action, "backup" | "check")
        && !crate::exit::is_denied(e)
    {
        ctx.raise(
            &format!("{action}_failed"),
            kura_audit::Severity::Critical,
            &format!("kura {action} failed: {}", crate::exit::one_line(e)),
            serde_json::json!({ "repository": target }),
        );
    }
    match (result, audited) {
        (Ok(Outcome::Ok), Err(_)) => Ok(Outcome::AuditFailed),
        (result, _) => result,
    }
}

/// Wrong passwords within [`DENIAL_WINDOW_HOURS`] that raise an event: one typo is normal,
/// three in a row is someone guessing (or a script with a stale password).
const DENIALS_FOR_EVENT: usize = 3;
const DENIAL_WINDOW_HOURS: i64 = 1;

/// Raise `wrong_password_repeated` once the audit log holds enough recent denials for `target`.
fn raise_on_repeated_denials(ctx: &Ctx, target: &str) {
    let Ok(dir) = ctx.audit_dir() else { return };
    let since = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(DENIAL_WINDOW_HOURS);
    let filter = kura_audit::Filter {
        since: Some(since),
        ..Default::default()
    };
    let Ok(records) = kura_audit::query(&dir, &filter) else {
        return;
    };
    let denials = records
        .iter()
        .filter(|r| r.outcome == kura_audit::Outcome::Denied && r.target == target)
        .count();
    if denials >= DENIALS_FOR_EVENT {
        ctx.raise_once(
            "wrong_password_repeated",
            target,
            kura_audit::Severity::Warning,
            &format!(
                "{denials} wrong repository passwords for {target} in the last hour: someone may be guessing the password, or a scheduled job uses an old one"
            ),
        );
    }
}

fn dispatch(ctx: &Ctx, command: Command) -> Result<Outcome> {
    match command {
        Command::Init(c) => init::run(ctx, &c),
        Command::Backup(c) => backup::run(ctx, &c),
        Command::Snapshots(c) => snapshots::run(ctx, &c),
        Command::Ls(c) => read::ls(ctx, &c),
        Command::Diff(c) => read::diff(ctx, &c),
        Command::Restore(c) => restore::run(ctx, &c),
        Command::Check(c) => check::run(ctx, &c),
        Command::Forget(c) => forget::run(ctx, &c),
        Command::Audit(c) => audit::run(ctx, &c),
        Command::Events(c) => events::run(ctx, &c),
        Command::Media(c) => media::run(ctx, &c),
        Command::Remote(c) => remote::run(ctx, &c),
        Command::Status(c) => status::run(ctx, &c),
        Command::Serve(c) => serve::run(ctx, &c),
        Command::Verdict(c) => verdict::run(ctx, &c),
        Command::Hold(c) => verdict::hold(ctx, &c),
        Command::Scan(c) => scan::run(ctx, &c),
        Command::Canary(c) => scan::canary(ctx, &c),
        Command::Train(c) => train::run(ctx, &c),
        Command::Completions(c) => docs::completions(&c),
        Command::Man(c) => docs::man(&c),
        Command::Drill(c) => drill::run(ctx, &c),
        Command::Report(c) => report::run(ctx, &c),
        Command::Guard(c) => guard::run(ctx, &c),
    }
}
