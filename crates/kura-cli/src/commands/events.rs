//! `kura events`

use anyhow::Result;
use kura_audit::{DeliveryReport, Event};
use serde::Serialize;

use crate::cli::EventsCmd;
use crate::context::Ctx;
use crate::exit::Outcome;
use crate::output::{Printer, Render, count};

pub fn run(ctx: &Ctx, cmd: &EventsCmd) -> Result<Outcome> {
    let store = ctx.events()?;
    let who = kura_audit::current_actor();
    if let Some(id) = cmd.ack {
        let event = store.ack(id, &who)?;
        ctx.note("event", id);
        ctx.emit(&Moved {
            event: &event,
            verb: "acknowledged",
        })?;
        return Ok(Outcome::Ok);
    }
    if let Some(id) = cmd.close {
        let event = store.close(id, &who)?;
        ctx.note("event", id);
        ctx.emit(&Moved {
            event: &event,
            verb: "closed",
        })?;
        return Ok(Outcome::Ok);
    }
    if cmd.deliver {
        let log = ctx.audit_log().ok();
        let reports = store.deliver_pending(
            &ctx.config.channels,
            log.as_ref(),
            &kura_audit::DeliveryOptions::default(),
        )?;
        let retried = Retried(&reports);
        ctx.emit(&retried)?;
        return Ok(if retried.failed() == 0 {
            Outcome::Ok
        } else {
            Outcome::Failed
        });
    }
    let mut events = store.list(None)?;
    if !cmd.all {
        events.retain(|e| e.state != kura_audit::EventState::Closed);
    }
    ctx.emit(&EventList(&events))?;
    Ok(Outcome::Ok)
}

/// An event acknowledged or closed.
#[derive(Serialize)]
#[serde(transparent)]
struct Moved<'a> {
    event: &'a Event,
    #[serde(skip)]
    verb: &'static str,
}

impl Render for Moved<'_> {
    fn text(&self, p: &Printer) {
        p.say(format!(
            "event {} {}: {}",
            self.event.id, self.verb, self.event.message
        ));
    }
}

/// `--deliver`: the delivery reports of the events retried.
#[derive(Serialize)]
#[serde(transparent)]
struct Retried<'a>(&'a [DeliveryReport]);

impl Retried<'_> {
    fn failed(&self) -> usize {
        self.0.iter().filter(|r| !r.ok()).count()
    }
}

impl Render for Retried<'_> {
    fn text(&self, p: &Printer) {
        p.say(format!(
            "{} retried, {} still undelivered",
            count(self.0.len() as u64, "event"),
            self.failed()
        ));
    }
}

/// The event list: one line per event, an array in JSON.
#[derive(Serialize)]
#[serde(transparent)]
struct EventList<'a>(&'a [Event]);

impl Render for EventList<'_> {
    fn text(&self, p: &Printer) {
        for e in self.0 {
            p.line(format!(
                "{:>4} {} {:<9} {:<13} {:<20} {}",
                e.id,
                e.time_utc,
                e.severity,
                e.state.to_string(),
                e.kind,
                e.message
            ));
        }
        p.say(count(self.0.len() as u64, "event"));
    }
}
