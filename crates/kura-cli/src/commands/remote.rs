//! `kura remote …`: an immutable copy in an S3 bucket with Object Lock (COMPLIANCE mode).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use kura_copies::{RetentionPolicy, S3LockStore, S3Options};
use kura_engine::{Location, LockMode, ObjectKind, ObjectStore, Repo};
use serde::{Deserialize, Serialize};

use crate::cli::{RemoteAddArgs, RemoteCmd};
use crate::context::Ctx;
use crate::exit::Outcome;

/// A registered remote and what kura last did with it (no credentials are stored).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteRecord {
    pub options: S3Options,
    pub last_push: Option<jiff::Timestamp>,
    pub last_verify: Option<jiff::Timestamp>,
    pub last_verify_errors: u64,
}

fn registry_path(ctx: &Ctx) -> Result<PathBuf> {
    Ok(ctx.state_dir()?.join("remotes.json"))
}

pub fn load(ctx: &Ctx) -> Result<BTreeMap<String, RemoteRecord>> {
    let path = registry_path(ctx)?;
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("remote registry {} is damaged", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn save(ctx: &Ctx, remotes: &BTreeMap<String, RemoteRecord>) -> Result<()> {
    let path = registry_path(ctx)?;
    let dir = path.parent().context("state dir")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    kura_copies::write_atomic(&path, &serde_json::to_vec_pretty(remotes)?)?;
    Ok(())
}

pub(crate) fn get(ctx: &Ctx, name: &str) -> Result<RemoteRecord> {
    load(ctx)?
        .remove(name)
        .with_context(|| format!("no remote named {name:?}: add it with `kura remote add`"))
}

pub(crate) fn connect(rec: &RemoteRecord) -> Result<Arc<S3LockStore>> {
    Ok(Arc::new(S3LockStore::connect(&rec.options)?))
}

pub(crate) fn open_remote(ctx: &Ctx, store: &Arc<S3LockStore>) -> Result<Repo> {
    let store: Arc<dyn ObjectStore> = store.clone();
    // The hospital's uplink is shared: pace transfers to the configured averages.
    let up = ctx.global.limit_upload.or(ctx.config.limit_upload);
    let down = ctx.global.limit_download.or(ctx.config.limit_download);
    let store: Arc<dyn ObjectStore> = if up.is_some() || down.is_some() {
        ctx.note("limit_upload_kib", up);
        ctx.note("limit_download_kib", down);
        Arc::new(kura_engine::Throttled::new(store, up, down))
    } else {
        store
    };
    Ok(Repo::open(
        Location::Store(store),
        &ctx.password()?,
        LockMode::Shared,
        ctx.progress(),
    )?)
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
            };
            let report = repo.restore(snapshot, target, &opts)?;
            if ctx.global.json {
                crate::output::json(&report)?;
            } else {
                ctx.say(format!(
                    "from remote {name}: {}",
                    crate::commands::restore::summary(&report)
                ));
            }
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
        retention: RetentionPolicy {
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
    let mut remotes = load(ctx)?;
    if remotes.contains_key(&a.name) {
        bail!("a remote named {:?} exists already", a.name);
    }
    let rec = RemoteRecord {
        options,
        last_push: None,
        last_verify: None,
        last_verify_errors: 0,
    };
    let main = ctx.open(LockMode::Shared)?;
    let dyn_store: Arc<dyn ObjectStore> = store.clone();
    if dyn_store
        .list(ObjectKind::Config)
        .map_err(|e| anyhow::anyhow!("listing the bucket: {e}"))?
        .is_empty()
    {
        Repo::init_like(
            Location::Store(dyn_store),
            &ctx.password()?,
            &main,
            ctx.progress(),
        )?;
    } else {
        open_remote(ctx, &store).context(
            "the bucket already holds a repository that does not open with this password",
        )?;
    }
    remotes.insert(a.name.clone(), rec);
    save(ctx, &remotes)?;
    ctx.note("remote", &a.name);
    ctx.note("bucket", &a.bucket);
    ctx.say(format!(
        "remote {} added: bucket {} has Object Lock; repository ready under {:?}",
        a.name, a.bucket, a.prefix
    ));
    Ok(Outcome::Ok)
}

fn push(ctx: &Ctx, name: &str, specs: &[String], force: bool) -> Result<Outcome> {
    let mut rec = get(ctx, name)?;
    let store = connect(&rec)?;
    let mut main = ctx.open(LockMode::Shared)?;
    let ids = ctx.copy_selection(&mut main, specs, force)?;
    let mut remote = open_remote(ctx, &store)?;
    let copied = main
        .copy_to(&mut remote, &ids)
        .with_context(|| format!("push to remote {name} stopped; run it again to resume"))?;
    let report = store.verify(false)?;
    rec.last_push = Some(jiff::Timestamp::now());
    rec.last_verify = Some(report.checked_at);
    rec.last_verify_errors = report.errors.len() as u64;
    let mut remotes = load(ctx)?;
    remotes.insert(name.to_string(), rec);
    save(ctx, &remotes)?;
    ctx.note("remote", name);
    ctx.note("copied", &copied);
    if ctx.global.json {
        crate::output::json(
            &serde_json::json!({ "remote": name, "copied": copied, "verify": report }),
        )?;
    } else {
        ctx.say(format!(
            "remote {name}: {} pushed; {} locked (COMPLIANCE) until at least {}",
            crate::output::count(copied.len() as u64, "snapshot"),
            crate::output::count(report.objects as u64, "object"),
            report
                .earliest_retain_until
                .map_or_else(|| "-".into(), |t| t.to_string())
        ));
    }
    if !report.is_ok() {
        bail!(
            "remote {name} failed verification after push: {} problems",
            report.errors.len()
        );
    }
    Ok(Outcome::Ok)
}

fn verify(ctx: &Ctx, name: &str, read_data: bool) -> Result<Outcome> {
    let mut rec = get(ctx, name)?;
    let store = connect(&rec)?;
    let report = store.verify(read_data)?;
    let mut errors: Vec<String> = report
        .errors
        .iter()
        .map(|p| format!("{}: {}", p.key, p.problem))
        .collect();
    if read_data {
        let repo = open_remote(ctx, &store)?;
        errors.extend(repo.check(true)?.errors);
    }
    rec.last_verify = Some(report.checked_at);
    rec.last_verify_errors = errors.len() as u64;
    let mut remotes = load(ctx)?;
    remotes.insert(name.to_string(), rec);
    save(ctx, &remotes)?;
    for w in &report.warnings {
        eprintln!(
            "kura: warning: {}: {} (a tampering attempt? the locked original is intact)",
            w.key, w.problem
        );
    }
    if ctx.global.json {
        crate::output::json(
            &serde_json::json!({ "remote": name, "report": report, "errors": errors }),
        )?;
    } else if errors.is_empty() {
        ctx.say(format!(
            "remote {name}: {} verified, all locked",
            crate::output::count(report.objects as u64, "object")
        ));
    }
    if errors.is_empty() {
        return Ok(Outcome::Ok);
    }
    ctx.raise(
        "verify_failed",
        kura_audit::Severity::Critical,
        &format!("remote {name} failed verification"),
        serde_json::json!({ "errors": errors }),
    );
    for e in &errors {
        eprintln!("error: {e}");
    }
    Ok(Outcome::Failed)
}

fn extend(ctx: &Ctx, name: &str) -> Result<Outcome> {
    let rec = get(ctx, name)?;
    let store = connect(&rec)?;
    let now = jiff::Timestamp::now();
    let mut extended = 0u64;
    // Every object still in the bucket belongs to a generation kura copied and keeps; push
    // its lock forward (never backward) to today + the retention period of its kind.
    for kind in ObjectKind::ALL {
        for (id, _) in ObjectStore::list(store.as_ref(), kind)
            .map_err(|e| anyhow::anyhow!("listing the bucket: {e}"))?
        {
            let until = rec.options.retention.retain_until(kind, now);
            if store
                .lock_of(kind, &id)?
                .retain_until
                .is_none_or(|t| t < until)
            {
                store.extend_retention(kind, &id, until)?;
                extended += 1;
            }
        }
    }
    ctx.note("remote", name);
    ctx.note("extended", extended);
    ctx.say(format!(
        "remote {name}: lock extended on {extended} objects"
    ));
    Ok(Outcome::Ok)
}
