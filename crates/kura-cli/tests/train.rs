//! End-to-end: `kura train` (issue 12). A trainee works inside the sandbox with the normal
//! commands and no other setup; the grade says whether the right generation was restored.
mod testenv;

use std::path::{Path, PathBuf};
use std::process::Command;

use testenv::{Env, listing};

/// `kura` as the trainee runs it: inside the sandbox, with no repository or password in the
/// environment (the sandbox's kura.toml says everything).
fn trainee(env: &Env, sandbox: &Path) -> Command {
    let mut cmd = env.kura();
    cmd.current_dir(sandbox)
        .env_remove("KURA_REPOSITORY")
        .env_remove("KURA_PASSWORD");
    cmd
}

fn trainee_json(env: &Env, sandbox: &Path, args: &[&str]) -> (serde_json::Value, i32) {
    let out = trainee(env, sandbox)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let doc = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not JSON ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (doc, out.status.code().unwrap_or(-1))
}

fn start(env: &Env, scenario: &str, seed: &str) -> PathBuf {
    let dir = env.path(&format!("drill-{scenario}"));
    let (doc, code) = env.json(&[
        "train",
        "start",
        dir.to_str().unwrap(),
        "--scenario",
        scenario,
        "--seed",
        seed,
    ]);
    assert_eq!(code, 0, "{doc}");
    assert!(
        doc["briefing"].as_str().unwrap().contains("【状況】"),
        "{doc}"
    );
    let sheet = std::fs::read_to_string(doc["tabletop"].as_str().unwrap()).unwrap();
    assert!(
        sheet.contains("連絡先") && sheet.contains("<html"),
        "tabletop sheet"
    );
    dir
}

fn verdicts(env: &Env, sandbox: &Path) -> Vec<String> {
    let (snaps, code) = trainee_json(env, sandbox, &["snapshots"]);
    assert_eq!(code, 0, "{snaps}");
    snaps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["verdict"].as_str().unwrap().to_string())
        .collect()
}

fn restore(env: &Env, sandbox: &Path, args: &[&str]) -> i32 {
    trainee(env, sandbox)
        .args(args)
        .output()
        .unwrap()
        .status
        .code()
        .unwrap_or(-1)
}

/// The trainee restores with `args` (which must succeed), then asks for the grade.
fn restore_and_check(env: &Env, sandbox: &Path, args: &[&str]) -> (serde_json::Value, i32) {
    assert_eq!(restore(env, sandbox, args), 0, "kura {args:?} failed");
    trainee_json(env, sandbox, &["train", "check", "."])
}

fn operator_actions(env: &Env) -> Vec<String> {
    let (log, code) = env.json(&["audit", "log"]);
    assert_eq!(code, 0, "{log}");
    log.as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn issue_12_restoring_latest_clean_passes_and_is_in_the_operators_audit_log() {
    let env = Env::new();
    let sandbox = start(&env, "fast", "11");
    let v = verdicts(&env, &sandbox);
    assert_eq!(v.last().unwrap(), "suspicious", "{v:?}");
    assert!(v[..v.len() - 1].iter().all(|x| x == "clean"), "{v:?}");

    let (hint, code) = trainee_json(&env, &sandbox, &["train", "hint", "."]);
    assert_eq!(code, 0, "{hint}");
    assert!(hint["hint"].as_str().unwrap().contains("kura snapshots"));
    // Not restored yet: the check fails and says so.
    let (early, code) = trainee_json(&env, &sandbox, &["train", "check", "."]);
    assert_eq!(code, 1, "{early}");
    assert_eq!(early["passed"], false);

    let (grade, code) = restore_and_check(
        &env,
        &sandbox,
        &["restore", "latest-clean", "--target", "restore"],
    );
    assert_eq!(code, 0, "{grade}");
    assert_eq!(grade["passed"], true);
    assert_eq!(grade["hints_used"], 1);
    // 100 − 10 for the hint − 5 for the early check.
    assert_eq!(grade["score"], 85, "{grade}");
    let lost = grade["data_lost_hours"].as_f64().unwrap();
    assert!((23.0..=25.0).contains(&lost), "a day's work lost: {grade}");

    // The sandbox's own log and the operator's real one both hold the exercise.
    let actions = operator_actions(&env);
    for a in ["train.start", "train.hint", "train.check"] {
        assert!(actions.iter().any(|x| x == a), "{a} missing: {actions:?}");
    }
    let (sandbox_log, _) =
        trainee_json(&env, &sandbox, &["audit", "log", "--action", "train.check"]);
    assert!(!sandbox_log.as_array().unwrap().is_empty());
}

#[test]
fn issue_12_restoring_the_infected_latest_fails() {
    let env = Env::new();
    let sandbox = start(&env, "fast", "12");
    let (grade, code) = restore_and_check(
        &env,
        &sandbox,
        &["restore", "latest", "--target", "restore"],
    );
    assert_eq!(code, 1, "{grade}");
    assert_eq!(grade["passed"], false);
    assert_eq!(grade["score"], 0);
    assert!(
        grade["mistakes"][0]
            .as_str()
            .unwrap()
            .contains("suspicious"),
        "{grade}"
    );
}

#[test]
fn issue_12_dormant_attack_leaves_latest_clean_days_old() {
    let env = Env::new();
    let sandbox = start(&env, "dormant", "13");
    let v = verdicts(&env, &sandbox);
    // Three nights of a slow attack: every one of them suspicious, the clean ones before.
    assert_eq!(&v[v.len() - 3..], ["suspicious"; 3], "{v:?}");
    let (grade, code) = restore_and_check(
        &env,
        &sandbox,
        &["restore", "latest-clean", "--target", "restore"],
    );
    assert_eq!(code, 0, "{grade}");
    assert!(
        grade["data_lost_hours"].as_f64().unwrap() >= 96.0,
        "{grade}"
    );
}

#[test]
fn issue_12_offline_disk_scenario_can_only_be_passed_from_the_disk() {
    let env = Env::new();
    let sandbox = start(&env, "offline-disk", "14");
    // The local repository is gone: kura says so with its distinct exit code.
    let local = ["restore", "latest-clean", "--target", "restore"];
    assert_eq!(restore(&env, &sandbox, &local), 10);
    let (grade, code) = restore_and_check(
        &env,
        &sandbox,
        &[
            "-r",
            "disk/kura-repository",
            "restore",
            "latest-clean",
            "--target",
            "restore",
        ],
    );
    assert_eq!(code, 0, "{grade}");
    assert!(grade["data_lost_hours"].as_f64().unwrap() > 72.0, "{grade}");
}

#[test]
fn issue_12_start_refuses_a_folder_that_is_not_empty_and_changes_nothing() {
    let env = Env::new();
    env.init();
    let repo = env.repo();
    let before = listing(&repo);
    env.run(&["train", "start", repo.to_str().unwrap()])
        .code(1)
        .stderr(predicates::str::contains("not empty"));
    assert_eq!(before, listing(&repo), "the real repository is untouched");
    let other = env.path("notes");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("a.txt"), b"keep me").unwrap();
    env.run(&["train", "start", other.to_str().unwrap()])
        .code(1);
    assert_eq!(std::fs::read(other.join("a.txt")).unwrap(), b"keep me");
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1);
    env.run(&[
        "train",
        "start",
        env.path("x").to_str().unwrap(),
        "--scenario",
        "nope",
    ])
    .code(1)
    .stderr(predicates::str::contains("unknown scenario"));
}
