//! `kura serve`: index SS-MIX2 straight out of a snapshot (no restore) and serve the viewer.

use std::sync::Arc;

use anyhow::{Context, Result};
use kura_engine::{LockMode, Verdict};
use kura_ssmix::PatientIndex;
use kura_viewer::{AccessLog, Banner, ServeOptions, Shown, TlsIdentity, ViewerUser};
use serde::Serialize;

use crate::cli::ServeCmd;
use crate::context::Ctx;
use crate::exit::Outcome;
use crate::output::{Printer, Render};

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

/// The largest file indexed: kura-ssmix refuses larger ones, so they are not even read.
const MAX_FILE: u64 = kura_ssmix::MAX_FILE_BYTES as u64;

/// One indexed snapshot.
struct Built {
    index: PatientIndex,
    snap: kura_engine::SnapshotInfo,
    /// Files with SS-MIX2 names (current or not).
    files: u64,
    /// Other files under the root, not SS-MIX2 messages.
    other_files: u64,
}

/// The one-line description of what is shown, printed when serving starts and on refresh.
fn summary_line(b: &Built, st: kura_ssmix::IndexStats) -> String {
    let snap = &b.snap;
    let mut s = format!(
        "snapshot {} ({}, {}): {} SS-MIX2 files, {} patients, {} skipped",
        snap.short_id, snap.time, snap.verdict, b.files, st.patients, st.files_skipped
    );
    if b.other_files > 0 {
        s.push_str(&format!(
            "; {} other files without SS-MIX2 names",
            b.other_files
        ));
    }
    if st.id_mismatches > 0 || st.misfiled > 0 {
        s.push_str(&format!(
            "; shown under their storage path: {} with another PID-3, {} misfiled",
            st.id_mismatches, st.misfiled
        ));
    }
    s
}

/// Which snapshot to show: the pinned one, else latest-clean (latest when none is clean).
fn choose(ctx: &Ctx, cmd: &ServeCmd) -> Result<String> {
    if let Some(s) = cmd.snapshot.as_ref().or(cmd.snapshot_flag.as_ref()) {
        return Ok(s.clone());
    }
    let repo = ctx.open(LockMode::Shared)?;
    if repo
        .snapshots()?
        .iter()
        .any(|s| s.verdict == Verdict::Clean)
    {
        Ok("latest-clean".into())
    } else {
        Ok("latest".into())
    }
}

/// Indexes the SS-MIX2 files of snapshot `spec` straight out of the repository. Files that
/// cannot be read are recorded in the index (and shown on their patient's page), never fatal.
fn build(ctx: &Ctx, spec: &str, root: Option<&str>) -> Result<Built> {
    let mut repo = ctx.open(LockMode::Shared)?;
    let reader = repo.reader(spec)?;
    let snap = reader.snapshot();
    let mut index = PatientIndex::new();
    let (mut files, mut other_files) = (0u64, 0u64);
    reader.walk(root.unwrap_or(""), |entry| {
        if entry.kind != kura_engine::EntryKind::File {
            return Ok(());
        }
        if kura_ssmix::locate_storage_file(&entry.path).is_none() {
            other_files += 1;
            return Ok(());
        }
        files += 1;
        if entry.size > MAX_FILE {
            index.add_unreadable(&entry.path, "larger than 16 MiB, not an SS-MIX2 message");
            return Ok(());
        }
        match reader.read(&entry.path, MAX_FILE) {
            // Malformed messages are recorded by the index and listed, never fatal.
            Ok(bytes) => {
                let _ = index.add_file(&entry.path, &bytes);
            }
            Err(e) => index.add_unreadable(
                &entry.path,
                &format!("cannot read it from the snapshot: {e}"),
            ),
        }
        Ok(())
    })?;
    index.shrink_to_fit();
    for s in index.skipped().iter().take(10) {
        eprintln!("kura: could not read {}: {}", s.path, s.reason);
    }
    Ok(Built {
        index,
        snap,
        files,
        other_files,
    })
}

fn banner(ctx: &Ctx, snap: &kura_engine::SnapshotInfo, pinned: bool) -> Banner {
    let how = if pinned {
        "pinned"
    } else {
        "follows new clean backups"
    };
    Banner {
        snapshot_id: snap.short_id.clone(),
        snapshot_time: crate::output::local_time(&snap.time),
        verdict: snap.verdict.as_str().into(),
        source: format!("kura repository {} ({how})", repo_source(ctx)),
    }
}

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
        // The viewer refuses this too; asked here, it fails before the snapshot is indexed.
        return Err(kura_viewer::Error::InsecureListen(cmd.listen).into());
    }
    // Before indexing: a bad certificate fails fast.
    let tls = tls_identity(ctx, cmd)?;
    if let Some(id) = &tls {
        id.validate()?;
    }
    let fingerprint = tls.as_ref().map(TlsIdentity::fingerprint).transpose()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let pinned = cmd.snapshot.is_some() || cmd.snapshot_flag.is_some();
    let spec = choose(ctx, cmd)?;
    if spec == "latest" {
        eprintln!("kura: warning: no snapshot is judged clean; showing the latest one");
    }
    let built = build(ctx, &spec, cmd.root.as_deref())?;
    let snap = built.snap.clone();
    ctx.note("snapshot", &snap.id);
    ctx.note("listen", cmd.listen.to_string());
    let stats = built.index.stats();
    let line = summary_line(&built, stats);
    let shown = Shown::new(Arc::new(built.index), banner(ctx, &snap, pinned));
    let log: Arc<dyn AccessLog> = Arc::new(AuditAccessLog {
        log: ctx.audit_log()?,
        snapshot: snap.id.clone(),
    });
    ctx.audit(
        "serve.start",
        &snap.id,
        kura_audit::Outcome::Ok,
        serde_json::json!({
            "listen": cmd.listen.to_string(),
            "files": built.files,
            "other_files": built.other_files,
            "skipped": stats.files_skipped,
            "id_mismatches": stats.id_mismatches,
            "misfiled": stats.misfiled,
            "tls_sha256": fingerprint,
        }),
    );
    let opts = ServeOptions {
        listen: cmd.listen,
        users,
        tls,
    };
    let printer = ctx.printer();
    let summary = format!("{}{}", line, if pinned { "; pinned" } else { "" });
    // The server runs on its own thread; this one looks for newer clean backups (Ctx is not
    // shareable across threads) until the server stops.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let server_shown = shown.clone();
    let server = std::thread::spawn(move || {
        let r = kura_viewer::serve_blocking(opts, server_shown, log, move |addr| {
            let _ = printer.event(&Listening {
                listening: format!("{scheme}://{addr}/"),
                summary,
                tls_sha256: fingerprint,
            });
        });
        let _ = done_tx.send(());
        r
    });
    let every = std::time::Duration::from_secs(cmd.refresh);
    let mut current = snap.id.clone();
    if !pinned && cmd.refresh > 0 {
        // Each timeout without the server stopping is time to look for a newer backup.
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(every) {
            match refresh(ctx, cmd, &current, &shown) {
                Ok(Some(id)) => current = id,
                Ok(None) => {}
                Err(e) => eprintln!("kura: warning: could not look for a newer backup: {e:#}"),
            }
        }
    }
    server
        .join()
        .map_err(|_| anyhow::anyhow!("the viewer server thread panicked"))??;
    Ok(Outcome::Ok)
}

/// Indexes the newest clean snapshot when it is not `current` and shows it; returns its id.
fn refresh(ctx: &Ctx, cmd: &ServeCmd, current: &str, shown: &Shown) -> Result<Option<String>> {
    let newest = {
        let repo = ctx.open(LockMode::Shared)?;
        match repo.snapshot("latest-clean") {
            Ok(s) => s,
            // No clean snapshot (yet): keep showing what we show.
            Err(_) => return Ok(None),
        }
    };
    if newest.id == current {
        return Ok(None);
    }
    let built = build(ctx, &newest.id, cmd.root.as_deref())?;
    let line = summary_line(&built, built.index.stats());
    shown.replace(Arc::new(built.index), banner(ctx, &built.snap, false));
    ctx.audit(
        "serve.refresh",
        &built.snap.id,
        kura_audit::Outcome::Ok,
        serde_json::json!({ "previous": current }),
    );
    ctx.printer().event(&NowShowing { now_showing: line })?;
    Ok(Some(built.snap.id))
}

/// `serve`'s first line: where the viewer listens, what it shows and the certificate's
/// fingerprint (staff compare it with the browser's once).
#[derive(Serialize)]
struct Listening {
    listening: String,
    summary: String,
    tls_sha256: Option<String>,
}

impl Render for Listening {
    fn text(&self, p: &Printer) {
        let tls = self
            .tls_sha256
            .as_ref()
            .map(|f| format!("  certificate SHA-256 {f}"))
            .unwrap_or_default();
        p.line(format!(
            "kura viewer: {}  ({}){tls}",
            self.listening, self.summary
        ));
    }
}

/// `serve`'s line when it switches to a newer clean backup.
#[derive(Serialize)]
struct NowShowing {
    now_showing: String,
}

impl Render for NowShowing {
    fn text(&self, p: &Printer) {
        p.line(format!("kura viewer: now showing {}", self.now_showing));
    }
}

/// The certificate to serve with: the one given, else (beyond loopback, or with `--tls`) a
/// self-signed one kept in the state directory, so its fingerprint stays the same across
/// restarts and staff can check it once.
fn tls_identity(ctx: &Ctx, cmd: &ServeCmd) -> Result<Option<TlsIdentity>> {
    if let (Some(cert), Some(key)) = (&cmd.tls_cert, &cmd.tls_key) {
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
        };
        return Ok(Some(TlsIdentity {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
        }));
    }
    if cmd.listen.ip().is_loopback() && !cmd.tls {
        return Ok(None);
    }
    let dir = ctx.state_dir()?.join("viewer-tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.exists() && key.exists() {
        return Ok(Some(TlsIdentity {
            cert_pem: std::fs::read_to_string(&cert)
                .with_context(|| format!("cannot read {}", cert.display()))?,
            key_pem: std::fs::read_to_string(&key)
                .with_context(|| format!("cannot read {}", key.display()))?,
        }));
    }
    let mut names = vec!["localhost".to_string(), cmd.listen.ip().to_string()];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        names.push(host.trim().to_string());
    }
    names.retain(|n| !n.is_empty() && n != "0.0.0.0" && n != "::");
    let id = TlsIdentity::self_signed(names)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // The private key is readable by its owner only.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key)
            .with_context(|| format!("cannot create {}", key.display()))?;
        f.write_all(id.key_pem.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::write(&cert, &id.cert_pem)
        .with_context(|| format!("cannot write {}", cert.display()))?;
    Ok(Some(id))
}

fn repo_source(ctx: &Ctx) -> String {
    ctx.location().map(|l| l.describe()).unwrap_or_default()
}
