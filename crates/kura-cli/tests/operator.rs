//! End-to-end: what an operator reads in the first hour (issue 17): messages that name things,
//! say what changed, count right, and never send people to another tool's commands.
mod testenv;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::prelude::*;
use predicates::prelude::*;
use testenv::{Env, listing};

fn stdout_of(env: &Env, args: &[&str]) -> (String, String, i32) {
    let out = env.kura().args(args).output().unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}

/// Run `kura backup --json src` as `nobody` when root (root reads everything), so that a
/// 0000 folder really cannot be read.
fn backup_as_nobody(env: &Env, src: &Path, locked: &Path) -> (serde_json::Value, String, i32) {
    let mut cmd = if is_root() {
        for e in walkdir::WalkDir::new(env.dir.path())
            .into_iter()
            .filter_map(Result::ok)
        {
            if e.path() != locked {
                let mode = if e.file_type().is_dir() { 0o777 } else { 0o666 };
                std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(mode)).unwrap();
            }
        }
        let mut c = std::process::Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_kura"),
        ]);
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_kura"))
    };
    let out = cmd
        .current_dir(env.dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", env.dir.path())
        .env("KURA_REPOSITORY", env.repo())
        .env("KURA_PASSWORD", testenv::PASSWORD)
        .args(["--json", "backup"])
        .arg(src)
        .output()
        .unwrap();
    (
        serde_json::from_slice(&out.stdout).unwrap_or_default(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn issue_17_unreadable_folder_is_named() {
    let env = Env::new();
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    env.init();
    let src = env.sample_tree("src", 3, 4);
    let locked = env.path("src/locked");
    env.write("src/locked/inside.txt", b"x");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let (doc, stderr, code) = backup_as_nobody(&env, &src, &locked);
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(code, 3, "{stderr}");
    let unreadable = doc["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1, "{doc}");
    assert_eq!(unreadable[0]["path"], locked.to_str().unwrap(), "{doc}");
    assert!(!stderr.contains("could not read ?"), "{stderr}");
}

#[test]
fn issue_17_check_during_a_backup_speaks_kura() {
    let (env, src) = Env::backed_up(12, 6);
    // A backup in progress has written packs but not yet the index that lists them: make one
    // in a copy of the repository and bring over only its packs.
    let copy = env.path("copy");
    let status = std::process::Command::new("cp")
        .args(["-a"])
        .arg(env.repo())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    env.sample_tree("src/more", 13, 6);
    env.kura()
        .env("KURA_REPOSITORY", &copy)
        .args(["backup", src.to_str().unwrap()])
        .assert()
        .success();
    let before: Vec<_> = listing(&env.repo().join("data"))
        .into_iter()
        .map(|(p, _)| p.strip_prefix(env.repo()).unwrap().to_path_buf())
        .collect();
    let mut brought = 0;
    for (p, _) in listing(&copy.join("data")) {
        let rel = p.strip_prefix(&copy).unwrap();
        if !before.iter().any(|b| b == rel) {
            std::fs::create_dir_all(env.repo().join(rel).parent().unwrap()).unwrap();
            std::fs::copy(&p, env.repo().join(rel)).unwrap();
            brought += 1;
        }
    }
    assert!(brought > 0);
    let (out, err, code) = stdout_of(&env, &["check"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("a backup is running"), "{err}");
    assert_eq!(
        err.lines().count(),
        1,
        "one warning, not one per pack: {err}"
    );
    assert!(!err.contains("rustic") && !out.contains("rustic"), "{err}");
    let (doc, _) = env.json(&["check"]);
    assert!(!doc.to_string().contains("rustic"), "{doc}");
}

#[test]
fn issue_17_hold_and_verdict_say_the_id_changed() {
    let env = Env::new();
    env.init();
    let src = env.sample_tree("src", 14, 3);
    let (b, _) = env.json(&["backup", src.to_str().unwrap()]);
    let id = b["snapshot_id"].as_str().unwrap().to_string();
    let (held, code) = env.json(&["hold", &id[..8], "--reason", "case 12"]);
    assert_eq!(code, 0);
    assert_eq!(held["previous_id"], id.as_str());
    assert_eq!(held["id_changed"], true);
    let new_id = held["id"].as_str().unwrap().to_string();
    assert_ne!(new_id, id);
    let (out, _, code) = stdout_of(
        &env,
        &["hold", &new_id[..8], "--release", "--reason", "closed"],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("its id changed from {}", &new_id[..8])),
        "{out}"
    );
    let (out, _, code) = stdout_of(
        &env,
        &[
            "verdict",
            "latest",
            "--set",
            "suspicious",
            "--reason",
            "drill",
        ],
    );
    assert_eq!(code, 0);
    assert!(out.contains("its id changed from"), "{out}");
    let (v, _) = env.json(&[
        "verdict",
        "latest",
        "--set",
        "clean",
        "--reason",
        "drill over",
    ]);
    assert_eq!(v["id_changed"], true);
    assert!(v["previous_id"].is_string());
}

#[test]
fn issue_17_canary_check_counts_and_raises_an_event() {
    let env = Env::new();
    env.init();
    let src = env.sample_tree("srv", 15, 10);
    let (planted, code) = env.json(&["canary", "plant", src.to_str().unwrap()]);
    assert_eq!(code, 0);
    let planted: Vec<String> = planted
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    env.run(&["backup", src.to_str().unwrap()]).success();
    let n = planted.len();
    env.run(&["canary", "check", src.to_str().unwrap()])
        .success()
        .stdout(predicate::str::contains(format!(
            "checked {n} canary files"
        )));
    assert!(!env.has_event("canary_touched"));
    let mut bytes = std::fs::read(&planted[0]).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&planted[0], bytes).unwrap();
    let (doc, code) = env.json(&["canary", "check", src.to_str().unwrap()]);
    assert_eq!(code, 4);
    assert_eq!(doc["canaries_checked"], n);
    assert_eq!(doc["canaries_touched"], 1);
    assert!(
        doc["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "1 canary file touched"),
        "{doc}"
    );
    assert!(env.has_event("canary_touched"));
}

#[test]
fn issue_17_ls_long_and_json_modes() {
    let env = Env::new();
    env.init();
    let f = env.write("src/a.txt", b"12345");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    env.run(&["backup", env.path("src").to_str().unwrap()])
        .success();
    let (out, _, code) = stdout_of(&env, &["ls", "-l", "latest"]);
    assert_eq!(code, 0);
    let line = out.lines().find(|l| l.ends_with("src/a.txt")).unwrap();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[0], "-rw-r-----", "{line}");
    assert_eq!(cols[1], "5", "{line}");
    assert!(
        cols[2].len() == 10 && cols[2].starts_with("20"),
        "a date: {line}"
    );
    let dir = out.lines().find(|l| l.ends_with("src/")).unwrap();
    assert!(dir.starts_with("drwx"), "{dir}");
    let (doc, _) = env.json(&["ls", "latest"]);
    let entry = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"].as_str().unwrap().ends_with("src/a.txt"))
        .unwrap();
    assert_eq!(entry["mode"], "-rw-r-----");
}

#[test]
fn issue_17_counts_are_pluralised() {
    let (env, _) = Env::backed_up(16, 2);
    env.run(&["snapshots"])
        .success()
        .stdout(predicate::str::contains("1 snapshot\n"));
}

#[test]
fn issue_17_causes_are_printed_once() {
    let env = Env::new();
    env.init();
    let (_, err, code) = stdout_of(&env, &["--password-file", "missing-password", "snapshots"]);
    assert_eq!(code, 1);
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    assert!(err.contains("missing-password"), "{err}");
}

#[test]
fn issue_17_missing_reason_does_not_claim_other_options_are_required() {
    let env = Env::new();
    env.init();
    let (_, err, code) = stdout_of(&env, &["verdict", "latest", "--set", "clean"]);
    assert_ne!(code, 0);
    assert!(err.contains("--reason"), "{err}");
    assert!(
        !err.contains("--repo") && !err.contains("--password-file"),
        "{err}"
    );
}

#[test]
fn issue_17_backup_dry_run_writes_nothing() {
    let env = Env::new();
    env.init();
    let src = env.sample_tree("src", 17, 8);
    let before = listing(&env.repo());
    let (doc, code) = env.json(&["backup", "--dry-run", src.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["files_new"], 8);
    assert!(doc["data_added"].as_u64().unwrap() > 0);
    assert_eq!(listing(&env.repo()), before, "the repository was written");
    env.run(&["backup", "--dry-run", src.to_str().unwrap()])
        .success()
        .stdout(predicate::str::contains("nothing was written"));
}

#[test]
fn issue_17_forget_prune_dry_run_estimates_space() {
    let env = Env::new();
    env.init();
    // Unjudged (--no-detect) generations: the retention policy alone decides.
    let src = env.path("src");
    env.write("src/big.bin", &testenv::noise(1, 1));
    env.run(&["backup", "--no-detect", src.to_str().unwrap()])
        .success();
    std::fs::remove_file(env.path("src/big.bin")).unwrap();
    env.write("src/small.txt", b"small");
    env.run(&["backup", "--no-detect", src.to_str().unwrap()])
        .success();
    let before = listing(&env.repo());
    let (doc, code) = env.json(&["forget", "--keep-last", "1", "--prune", "--dry-run"]);
    assert_eq!(code, 0, "{doc}");
    let freed = doc["bytes_freed"].as_u64().unwrap();
    assert!(freed >= 1024 * 1024, "about 1 MiB would be freed: {doc}");
    assert_eq!(
        listing(&env.repo()),
        before,
        "a dry run changed the repository"
    );
    let (_, _, code) = stdout_of(
        &env,
        &["forget", "--keep-last", "1", "--prune", "--dry-run"],
    );
    assert_eq!(code, 0);
    let (done, _) = env.json(&["forget", "--keep-last", "1", "--prune"]);
    assert_eq!(done["bytes_freed"].as_u64().unwrap(), freed);
}
