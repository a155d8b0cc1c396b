//! `kura serve`: index SS-MIX2 straight out of a snapshot (no restore) and serve the viewer.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use kura_engine::{LockMode, Verdict};
use kura_ssmix::PatientIndex;
use kura_viewer::{AccessLog, Banner, ServeOptions, ViewerUser};

use crate::cli::ServeCmd;
use crate::context::Ctx;
use crate::exit::Outcome;

/// Viewer accesses go to the hash-chained audit log (who viewed which patient, when).
struct AuditAccessLog {
    log: kura_audit::AuditLog,
    snapshot: String,
}

impl AccessLog for AuditAccessLog {
    fn record(&self, actor: &str, action: &str, target: &str, outcome: &str) {
        let outcome = match outcome {
            "ok" => kura_audit::Outcome::Ok,
            "denied" | "locked" => kura_audit::Outcome::Denied,
            _ => kura_audit::Outcome::Failed,
        };
        let entry = kura_audit::Entry::new(actor, action, target, outcome)
            .with_details(serde_json::json!({ "snapshot": self.snapshot }));
        if let Err(e) = self.log.append(entry) {
            eprintln!("kura: warning: could not write the audit log: {e}");
        }
    }
}

const MAX_FILE: u64 = 16 << 20;

pub fn run(ctx: &Ctx, cmd: &ServeCmd) -> Result<Outcome> {
    if cmd.hash_password {
        let pw = match std::env::var("KURA_VIEWER_PASSWORD") {
            Ok(pw) if !pw.is_empty() => pw,
            _ => rpassword::prompt_password("viewer password: ")
                .context("cannot read the password")?,
        };
        println!("{}", kura_viewer::hash_password(&pw)?);
        return Ok(Outcome::Ok);
    }
    let users: Vec<ViewerUser> = ctx
        .config
        .viewer
        .users
        .iter()
        .map(|u| ViewerUser {
            name: u.name.clone(),
            argon2_hash: u.argon2_hash.clone(),
            totp_secret: u.totp_secret.clone(),
        })
        .collect();
    if users.is_empty() && !cmd.listen.ip().is_loopback() {
        bail!(
            "refusing to serve patient data on {} without login: add [[viewer.user]] entries (kura serve --hash-password) or listen on 127.0.0.1",
            cmd.listen
        );
    }
    let mut repo = ctx.open(LockMode::Shared)?;
    let spec = match &cmd.snapshot {
        Some(s) => s.clone(),
        None if repo
            .snapshots()?
            .iter()
            .any(|s| s.verdict == Verdict::Clean) =>
        {
            "latest-clean".into()
        }
        None => {
            eprintln!("kura: warning: no snapshot is judged clean; showing the latest one");
            "latest".into()
        }
    };
    let reader = repo.reader(&spec)?;
    let snap = reader.snapshot();
    let mut index = PatientIndex::new();
    let mut files = 0u64;
    reader.walk(cmd.root.as_deref().unwrap_or(""), |entry| {
        if entry.kind == "file" && kura_ssmix::parse_storage_path(&entry.path).is_some() {
            files += 1;
            if entry.size > MAX_FILE {
                eprintln!("kura: skipped {}: larger than 16 MiB", entry.path);
                return Ok(());
            }
            let bytes = reader.read(&entry.path, MAX_FILE)?;
            // Malformed messages are recorded by the index and listed below, never fatal.
            let _ = index.add_file(&entry.path, &bytes);
        }
        Ok(())
    })?;
    index.shrink_to_fit();
    let skipped = index.skipped().len();
    for s in index.skipped().iter().take(10) {
        eprintln!("kura: skipped {}: {}", s.path, s.reason);
    }
    let stats = index.stats();
    ctx.note("snapshot", &snap.id);
    ctx.note("listen", cmd.listen.to_string());
    let banner = Banner {
        snapshot_id: snap.short_id.clone(),
        snapshot_time: crate::output::local_time(&snap.time),
        verdict: snap.verdict.as_str().into(),
        source: format!("kura repository {}", repo_source(ctx)),
    };
    drop(reader);
    let log: Arc<dyn AccessLog> = Arc::new(AuditAccessLog {
        log: ctx.audit_log()?,
        snapshot: snap.id.clone(),
    });
    ctx.audit(
        "serve.start",
        &snap.id,
        kura_audit::Outcome::Ok,
        serde_json::json!({ "listen": cmd.listen.to_string(), "files": files, "skipped": skipped }),
    );
    let opts = ServeOptions {
        listen: cmd.listen,
        users,
    };
    let json = ctx.global.json;
    let summary = format!(
        "snapshot {} ({}, {}): {} SS-MIX2 files, {} patients, {skipped} skipped",
        snap.short_id, snap.time, snap.verdict, files, stats.patients
    );
    kura_viewer::serve_blocking(opts, Arc::new(index), banner, log, move |addr| {
        if json {
            println!(
                "{}",
                serde_json::json!({ "listening": format!("http://{addr}/"), "summary": summary })
            );
        } else {
            println!("kura viewer: http://{addr}/  ({summary})");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    })?;
    Ok(Outcome::Ok)
}

fn repo_source(ctx: &Ctx) -> String {
    ctx.location().map(|l| l.describe()).unwrap_or_default()
}
