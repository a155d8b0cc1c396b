//! `kura events`

use anyhow::Result;

use crate::cli::EventsCmd;
use crate::context::Ctx;
use crate::exit::Outcome;

pub fn run(ctx: &Ctx, cmd: &EventsCmd) -> Result<Outcome> {
    let store = ctx.events()?;
    let who = kura_audit::current_actor();
    if let Some(id) = cmd.ack {
        let ev = store.ack(id, &who)?;
        ctx.note("event", id);
        return show_one(ctx, &ev, "acknowledged");
    }
    if let Some(id) = cmd.close {
        let ev = store.close(id, &who)?;
        ctx.note("event", id);
        return show_one(ctx, &ev, "closed");
    }
    if cmd.deliver {
        let log = ctx.audit_log().ok();
        let reports = store.deliver_pending(
            &ctx.config.channels,
            log.as_ref(),
            &kura_audit::DeliveryOptions::default(),
        )?;
        let failed = reports.iter().filter(|r| !r.ok()).count();
        if ctx.global.json {
            crate::output::json(&reports)?;
        } else {
            ctx.say(format!(
                "{} retried, {failed} still undelivered",
                crate::output::count(reports.len() as u64, "event")
            ));
        }
        return Ok(if failed == 0 {
            Outcome::Ok
        } else {
            Outcome::Failed
        });
    }
    let mut events = store.list(None)?;
    if !cmd.all {
        events.retain(|e| e.state != kura_audit::EventState::Closed);
    }
    if ctx.global.json {
        crate::output::json(&events)?;
    } else {
        for e in &events {
            println!(
                "{:>4} {} {:<9} {:<13} {:<20} {}",
                e.id,
                e.time_utc,
                e.severity,
                format!("{:?}", e.state).to_lowercase(),
                e.kind,
                e.message
            );
        }
        ctx.say(crate::output::count(events.len() as u64, "event"));
    }
    Ok(Outcome::Ok)
}

fn show_one(ctx: &Ctx, ev: &kura_audit::Event, verb: &str) -> Result<Outcome> {
    if ctx.global.json {
        crate::output::json(ev)?;
    } else {
        ctx.say(format!("event {} {verb}: {}", ev.id, ev.message));
    }
    Ok(Outcome::Ok)
}
