//! `kura remote …`: an immutable copy in an S3 bucket with Object Lock (COMPLIANCE mode). The
//! registry, push, verify and lock extension live in kura-copies; this wires and prints them.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Result, bail};
use kura_copies::{
    RemoteAccess, RemoteKind, RemoteRecord, RemoteRegistry, S3LockStore, S3Options, VerifyReport,
};
use kura_engine::{LockMode, Repo, RestoreReport};
use serde::Serialize;

use crate::cli::{RemoteAddArgs, RemoteCmd};
use crate::context::Ctx;
use crate::exit::Outcome;
use crate::output::{Printer, Render};

pub fn registry(ctx: &Ctx) -> Result<RemoteRegistry> {
    Ok(RemoteRegistry::open(&ctx.state_dir()?))
}

pub fn load(ctx: &Ctx) -> Result<BTreeMap<String, RemoteRecord>> {
    Ok(registry(ctx)?.load()?)
}

pub(crate) fn get(ctx: &Ctx, name: &str) -> Result<RemoteRecord> {
    Ok(registry(ctx)?.get(name)?)
}

pub(crate) fn connect(rec: &RemoteRecord) -> Result<Arc<S3LockStore>> {
    Ok(rec.connect()?)
}

/// How remotes are opened: the repository password, the configured pacing (recorded in the
/// audit details when set) and progress.
fn with_access<T>(ctx: &Ctx, f: impl FnOnce(&RemoteAccess<'_>) -> Result<T>) -> Result<T> {
    let password = ctx.password()?;
    // The hospital's uplink is shared: pace transfers to the configured averages.
    let (up, down) = ctx.limits();
    if up.is_some() || down.is_some() {
        ctx.note("limit_upload_kib", up);
        ctx.note("limit_download_kib", down);
    }
    f(&RemoteAccess {
        password: &password,
        limit_upload_kib: up,
        limit_download_kib: down,
        progress: ctx.progress(),
    })
}

pub(crate) fn open_remote(ctx: &Ctx, store: &Arc<S3LockStore>) -> Result<Repo> {
    with_access(ctx, |access| {
        Ok(kura_copies::open_remote_repo(store, access)?)
    })
}

pub fn run(ctx: &Ctx, cmd: &RemoteCmd) -> Result<Outcome> {
    match cmd {
        RemoteCmd::Add(a) => add(ctx, a),
        RemoteCmd::Push {
            name,
            snapshots,
            force,
        } => push(ctx, name, snapshots, *force),
        RemoteCmd::Verify { name, read_data } => verify(ctx, name, *read_data),
        RemoteCmd::Extend { name } => extend(ctx, name),
        RemoteCmd::Snapshots { name } => {
            let rec = get(ctx, name)?;
            let repo = open_remote(ctx, &connect(&rec)?)?;
            crate::commands::snapshots::print(ctx, &repo.snapshots()?)
        }
        RemoteCmd::Restore {
            name,
            snapshot,
            target,
            include,
            overwrite,
            dry_run,
        } => {
            let rec = get(ctx, name)?;
            let mut repo = open_remote(ctx, &connect(&rec)?)?;
            ctx.note("remote", name);
            ctx.note("target", target);
            let opts = kura_engine::RestoreOptions {
                include: include.clone(),
                overwrite: (*overwrite).into(),
                dry_run: *dry_run,
                ..Default::default()
            };
            let report = repo.restore(snapshot, target, &opts)?;
            ctx.emit(&Restored {
                remote: name,
                report: &report,
            })?;
            Ok(Outcome::Ok)
        }
    }
}

fn add(ctx: &Ctx, a: &RemoteAddArgs) -> Result<Outcome> {
    let options = S3Options {
        endpoint: a.endpoint.clone(),
        region: a.region.clone(),
        bucket: a.bucket.clone(),
        prefix: a.prefix.clone(),
        retention: kura_copies::RetentionPolicy {
            snapshot_days: a.snapshot_days,
            data_days: a.data_days,
        },
        profile: a.profile.clone(),
        credentials_file: a.credentials_file.clone(),
    };
    options.retention.validate()?;
    // Refuses a bucket without Object Lock.
    let store = Arc::new(if a.create_bucket {
        S3LockStore::create_bucket_and_connect(&options)?
    } else {
        S3LockStore::connect(&options)?
    });
    let registry = registry(ctx)?;
    if registry.contains(&a.name)? {
        bail!("a remote named {:?} exists already", a.name);
    }
    let main = ctx.open(LockMode::Shared)?;
    with_access(ctx, |access| {
        Ok(kura_copies::prepare_remote_repo(&store, &main, access)?)
    })?;
    registry.add(
        &a.name,
        RemoteRecord::new(RemoteKind::S3ObjectLock, options),
    )?;
    ctx.note("remote", &a.name);
    ctx.note("bucket", &a.bucket);
    ctx.say(format!(
        "remote {} added: bucket {} has Object Lock; repository ready under {:?}",
        a.name, a.bucket, a.prefix
    ));
    Ok(Outcome::Ok)
}

fn push(ctx: &Ctx, name: &str, specs: &[String], force: bool) -> Result<Outcome> {
    let registry = registry(ctx)?;
    let store = connect(&registry.get(name)?)?;
    let mut main = ctx.open(LockMode::Shared)?;
    let ids = ctx.copy_selection(&mut main, specs, force)?;
    let report = with_access(ctx, |access| {
        Ok(kura_copies::push_to_remote(
            &registry, name, &mut main, &store, access, &ids,
        )?)
    })?;
    ctx.note("remote", name);
    ctx.note("copied", &report.copied);
    ctx.emit(&Pushed {
        copied: &report.copied,
        remote: name,
        verify: &report.verify,
    })?;
    if !report.verify.is_ok() {
        bail!(
            "remote {name} failed verification after push: {} problems",
            report.verify.errors.len()
        );
    }
    Ok(Outcome::Ok)
}

fn verify(ctx: &Ctx, name: &str, read_data: bool) -> Result<Outcome> {
    let registry = registry(ctx)?;
    let store = connect(&registry.get(name)?)?;
    let result = with_access(ctx, |access| {
        Ok(kura_copies::verify_remote(
            &registry, name, &store, access, read_data,
        )?)
    })?;
    let (report, errors) = (&result.report, &result.errors);
    for w in &report.warnings {
        eprintln!(
            "kura: warning: {}: {} (a tampering attempt? the locked original is intact)",
            w.key, w.problem
        );
    }
    ctx.emit(&Verified {
        errors,
        remote: name,
        report,
    })?;
    if errors.is_empty() {
        return Ok(Outcome::Ok);
    }
    ctx.raise(
        "verify_failed",
        kura_audit::Severity::Critical,
        &format!("remote {name} failed verification"),
        serde_json::json!({ "errors": errors }),
    );
    for e in errors {
        eprintln!("error: {e}");
    }
    Ok(Outcome::Failed)
}

fn extend(ctx: &Ctx, name: &str) -> Result<Outcome> {
    let rec = get(ctx, name)?;
    let store = connect(&rec)?;
    let extended = kura_copies::extend_locks(&rec, &store, jiff::Timestamp::now())?;
    ctx.note("remote", name);
    ctx.note("extended", extended);
    ctx.say(format!(
        "remote {name}: lock extended on {extended} objects"
    ));
    Ok(Outcome::Ok)
}

/// A restore from a remote: the restore report in JSON.
#[derive(Serialize)]
#[serde(transparent)]
struct Restored<'a> {
    #[serde(skip)]
    remote: &'a str,
    report: &'a RestoreReport,
}

impl Render for Restored<'_> {
    fn text(&self, p: &Printer) {
        p.say(format!(
            "from remote {}: {}",
            self.remote,
            crate::commands::restore::summary(self.report)
        ));
    }
}

/// A push and the lock verification after it.
#[derive(Serialize)]
struct Pushed<'a> {
    copied: &'a [String],
    remote: &'a str,
    verify: &'a VerifyReport,
}

impl Render for Pushed<'_> {
    fn text(&self, p: &Printer) {
        p.say(format!(
            "remote {}: {} pushed; {} locked (COMPLIANCE) until at least {}",
            self.remote,
            crate::output::count(self.copied.len() as u64, "snapshot"),
            crate::output::count(self.verify.objects, "object"),
            self.verify
                .earliest_retain_until
                .map_or_else(|| "-".into(), |t| t.to_string())
        ));
    }
}

/// A verification of a remote (problems are printed on stderr by the command).
#[derive(Serialize)]
struct Verified<'a> {
    errors: &'a [String],
    remote: &'a str,
    report: &'a VerifyReport,
}

impl Render for Verified<'_> {
    fn text(&self, p: &Printer) {
        if self.errors.is_empty() {
            p.say(format!(
                "remote {}: {} verified, all locked",
                self.remote,
                crate::output::count(self.report.objects, "object")
            ));
        }
    }
}
