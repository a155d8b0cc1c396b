//! `kura train`: a timed ransomware recovery exercise on a sandbox. The scenario (kura-sim) says
//! what happens; this file runs it with kura's own commands, confined to the sandbox folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use kura_sim::train::{self, Generation, Grade, Manifest, Scenario, Session, Step};
use serde::Serialize;

use crate::cli::TrainCmd;
use crate::context::Ctx;
use crate::exit::Outcome;
use crate::output::{Printer, Render, Sorted};

/// Files in the sandbox, all under DIR.
struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn share(&self) -> PathBuf {
        self.dir.join("share")
    }
    fn repo(&self) -> PathBuf {
        self.dir.join("repo")
    }
    fn disk(&self) -> PathBuf {
        self.dir.join("disk")
    }
    fn password(&self) -> PathBuf {
        self.dir.join("password")
    }
    fn config(&self) -> PathBuf {
        self.dir.join("kura.toml")
    }
    fn session(&self) -> PathBuf {
        self.dir.join(".train").join("session.json")
    }

    /// Run kura itself on the sandbox: its repository, password and state only, whatever the
    /// operator's environment says (a real KURA_REPOSITORY must never be touched).
    fn kura(&self, args: &[&str]) -> Result<(serde_json::Value, i32)> {
        self.kura_on(&self.repo(), args)
    }

    /// The same on another repository of the sandbox (its offline disk).
    fn kura_on(&self, repo: &Path, args: &[&str]) -> Result<(serde_json::Value, i32)> {
        let exe = std::env::current_exe().context("cannot find the kura executable")?;
        let out = Command::new(exe)
            .current_dir(&self.dir)
            .env_remove("KURA_REPOSITORY")
            .env_remove("KURA_PASSWORD")
            .env_remove("KURA_PASSWORD_FILE")
            .env_remove("KURA_STATE_DIR")
            .arg("--config")
            .arg(self.config())
            .arg("--repo")
            .arg(repo)
            .arg("--password-file")
            .arg(self.password())
            .arg("--json")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("cannot run kura for the sandbox")?;
        let code = out.status.code().unwrap_or(-1);
        let doc = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        if !matches!(code, 0 | 4) {
            bail!(
                "building the sandbox failed at `kura {}`: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok((doc, code))
    }

    /// Times (Unix seconds) of the snapshots on the sandbox's offline disk.
    fn disk_snapshot_times(&self) -> Result<Vec<i64>> {
        let disk_repo = self.disk().join("kura-repository");
        if !disk_repo.exists() {
            return Ok(Vec::new());
        }
        let (doc, _) = self.kura_on(&disk_repo, &["snapshots"])?;
        Ok(doc
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["unix_time"].as_i64())
            .collect())
    }

    fn load(&self) -> Result<Session> {
        let path = self.session();
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} is not a training sandbox (no {}): create one with `kura train start DIR`",
                self.dir.display(),
                path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))
    }

    fn save(&self, s: &Session) -> Result<()> {
        let path = self.session();
        std::fs::write(&path, serde_json::to_vec_pretty(s)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

pub fn run(ctx: &Ctx, cmd: &TrainCmd) -> Result<Outcome> {
    match cmd {
        TrainCmd::Start {
            dir,
            scenario,
            seed,
        } => start(ctx, dir, scenario, *seed),
        TrainCmd::Hint { dir } => hint(ctx, dir),
        TrainCmd::Check { dir } => check(ctx, dir),
    }
}

/// Refuse anything but an empty or new folder: training never writes over real data.
fn claim(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty: training builds its sandbox only in an empty or new folder (nothing was changed)",
                dir.display()
            );
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(std::fs::canonicalize(dir)?)
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

fn start(ctx: &Ctx, dir: &Path, scenario: &str, seed: Option<u64>) -> Result<Outcome> {
    let scenario = Scenario::from_name(scenario).ok_or_else(|| {
        anyhow!("unknown scenario {scenario:?}: use fast, dormant or offline-disk")
    })?;
    let seed = seed.unwrap_or_else(|| jiff::Timestamp::now().as_nanosecond() as u64);
    let sb = Sandbox { dir: claim(dir)? };
    let toml_path = |p: PathBuf| toml::Value::String(p.display().to_string()).to_string();
    write_private(&sb.password(), &format!("{}\n", train::sandbox_password()))?;
    write_private(
        &sb.config(),
        &format!(
            "# Training sandbox ({scenario}): every path is inside this folder.\n\
             repository = {}\npassword_file = {}\nstate_dir = {}\n\n[backup]\nsources = [{}]\n",
            toml_path(sb.repo()),
            toml_path(sb.password()),
            toml_path(sb.dir.join("state")),
            toml_path(sb.share()),
        ),
    )?;
    std::fs::create_dir_all(sb.dir.join(".train"))?;
    kura_sim::tree::hospital_tree(&sb.share(), 400, seed)
        .context("cannot generate the sandbox share")?;
    sb.kura(&["init"])?;

    let now = jiff::Timestamp::now();
    let ago = |h: u32| now - jiff::SignedDuration::from_hours(i64::from(h));
    let mut generations: Vec<Generation> = Vec::new();
    let mut attack_time = now;
    for step in scenario.timeline(seed) {
        match step {
            Step::Work { work, seed } => train::do_work(&sb.share(), work, seed)?,
            Step::Backup { hours_ago } => {
                let time = ago(hours_ago).to_string();
                let (doc, _) = sb.kura(&["backup", "--time", &time])?;
                generations.push(Generation {
                    snapshot: doc["snapshot_id"].as_str().unwrap_or_default().to_string(),
                    time: ago(hours_ago),
                    verdict: doc["verdict"].as_str().unwrap_or("unknown").to_string(),
                    reachable: true,
                    manifest: Manifest::of(&sb.share())?,
                });
            }
            Step::ExportToDisk { .. } => {
                std::fs::create_dir_all(sb.disk())?;
                let disk = sb.disk().display().to_string();
                sb.kura(&["media", "add", &disk, "--label", "offline-1"])?;
                sb.kura(&["media", "export", "offline-1"])?;
            }
            Step::Attack {
                attack,
                seed,
                hours_ago,
            } => {
                attack_time = attack_time.min(ago(hours_ago));
                train::do_attack(&sb.share(), attack, seed)?;
            }
            Step::DestroyRepository { seed } => {
                train::destroy_repository(&sb.repo(), seed)?;
                // Only what reached the offline disk can still be restored.
                let on_disk = sb.disk_snapshot_times()?;
                for g in &mut generations {
                    g.reachable = on_disk.iter().any(|t| *t == g.time.as_second());
                }
            }
        }
    }
    let session = Session {
        scenario,
        seed,
        started: jiff::Timestamp::now(),
        attack_time,
        share: sb.share(),
        generations,
        hints_used: 0,
        failed_checks: 0,
        passed_at: None,
        operator_audit_dir: ctx.audit_dir().ok(),
    };
    sb.save(&session)?;
    let sheet = sb.dir.join("tabletop.html");
    std::fs::write(&sheet, scenario.tabletop_html())?;
    ctx.note("sandbox", &sb.dir);
    ctx.note("scenario", scenario.name());
    ctx.note("seed", seed);
    ctx.emit(&Sorted(Started {
        briefing: scenario.briefing(),
        dir: sb.dir.clone(),
        scenario: scenario.name(),
        seed,
        tabletop: sheet,
    }))?;
    Ok(Outcome::Ok)
}

/// A training sandbox made ready (fields in alphabetical order: the JSON document's keys).
#[derive(Serialize)]
struct Started {
    briefing: &'static str,
    dir: PathBuf,
    scenario: &'static str,
    seed: u64,
    /// The printable tabletop sheet.
    tabletop: PathBuf,
}

impl Render for Started {
    fn text(&self, p: &Printer) {
        p.line(format!("{}\n", self.briefing));
        p.line(format!(
            "sandbox ready in {dir}: work inside it (`cd {dir}`), where kura uses the sandbox's kura.toml.\n\
             restore into {dir}/restore; `kura train hint {dir}` for a hint (counted), `kura train check {dir}` to finish.\n\
             printable tabletop sheet: {sheet}",
            dir = self.dir.display(),
            sheet = self.tabletop.display()
        ));
        for var in ["KURA_REPOSITORY", "KURA_PASSWORD", "KURA_PASSWORD_FILE"] {
            if std::env::var_os(var).is_some() {
                eprintln!(
                    "kura: warning: {var} is set in this shell and overrides the sandbox's kura.toml: `unset {var}` before the exercise"
                );
            }
        }
    }
}

/// Also record a training action in the operator's own audit log when this command's context
/// writes elsewhere (run inside the sandbox, whose kura.toml points at the sandbox's state).
fn audit_for_operator(ctx: &Ctx, session: &Session, action: &str, details: serde_json::Value) {
    let Some(dir) = &session.operator_audit_dir else {
        return;
    };
    if ctx.audit_dir().is_ok_and(|d| &d == dir) {
        return; // the command's own audit record lands there already
    }
    let entry = kura_audit::Entry::new(
        kura_audit::current_actor(),
        action,
        session.share.display().to_string(),
        kura_audit::Outcome::Ok,
    )
    .with_details(details);
    if let Err(e) = kura_audit::AuditLog::open(dir).and_then(|log| log.append(entry)) {
        eprintln!(
            "kura: warning: could not record {action} in the operator's audit log {}: {e}",
            dir.display()
        );
    }
}

fn hint(ctx: &Ctx, dir: &Path) -> Result<Outcome> {
    let sb = Sandbox {
        dir: dir.to_path_buf(),
    };
    let mut session = sb.load()?;
    let hints = session.scenario.hints();
    let idx = (session.hints_used as usize).min(hints.len().saturating_sub(1));
    let text = hints.get(idx).copied().unwrap_or_default();
    session.hints_used += 1;
    sb.save(&session)?;
    let details = serde_json::json!({ "hint": session.hints_used, "scenario": session.scenario });
    ctx.note("hint", session.hints_used);
    audit_for_operator(ctx, &session, "train.hint", details);
    ctx.emit(&Hint {
        hint: text,
        hints_used: session.hints_used,
        number: idx + 1,
        of: hints.len(),
    })?;
    Ok(Outcome::Ok)
}

/// A hint given (fields in alphabetical order: the JSON document's keys).
#[derive(Serialize)]
struct Hint {
    hint: &'static str,
    hints_used: u32,
    /// Which of the scenario's hints, from 1.
    #[serde(skip)]
    number: usize,
    #[serde(skip)]
    of: usize,
}

impl Render for Hint {
    fn text(&self, p: &Printer) {
        p.line(format!("hint {}/{}: {}", self.number, self.of, self.hint));
    }
}

fn check(ctx: &Ctx, dir: &Path) -> Result<Outcome> {
    let sb = Sandbox {
        dir: dir.to_path_buf(),
    };
    let mut session = sb.load()?;
    let now = jiff::Timestamp::now();
    let grade = train::grade(&session, &sb.dir.join("restore"), now)
        .context("cannot read the restore folder")?;
    if grade.passed {
        session.passed_at.get_or_insert(now);
    } else {
        session.failed_checks += 1;
    }
    sb.save(&session)?;
    let details = serde_json::to_value(&grade)?;
    ctx.note("passed", grade.passed);
    ctx.note("score", grade.score);
    ctx.note("scenario", session.scenario);
    audit_for_operator(ctx, &session, "train.check", details);
    ctx.emit(&Graded(&grade))?;
    Ok(if grade.passed {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

/// A training check's grade: the grade in JSON, the score and mistakes for people.
#[derive(Serialize)]
#[serde(transparent)]
struct Graded<'a>(&'a Grade);

impl Render for Graded<'_> {
    fn text(&self, p: &Printer) {
        let grade = self.0;
        let word = if grade.passed { "PASSED" } else { "not passed" };
        p.line(format!(
            "{word}: score {} / 100, {} min, {} hint(s)",
            grade.score,
            grade.elapsed_seconds / 60,
            grade.hints_used
        ));
        if let (Some(g), Some(h)) = (&grade.generation, grade.data_lost_hours) {
            p.line(format!(
                "restored generation {}: {h:.0} hours of work lost before the attack",
                &g[..g.len().min(8)]
            ));
        }
        for m in &grade.mistakes {
            p.line(format!("  - {m}"));
        }
    }
}
