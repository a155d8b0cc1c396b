//! End-to-end: `kura backup` and its bad-input paths.
mod testenv;

use std::os::unix::fs::PermissionsExt;

use assert_cmd::prelude::*;
use predicates::prelude::*;
use testenv::{Env, listing};

#[test]
fn backup_then_incremental_reports_counts_in_json() {
    let env = Env::new();
    env.init();
    let src = env.sample_tree("src", 1, 40);
    let (first, code) = env.json(&["backup", src.to_str().unwrap()]);
    assert_eq!(code, 0, "{first}");
    assert_eq!(first["files_new"], 40);
    assert!(first["parent"].is_null());
    for key in [
        "snapshot_id",
        "verdict",
        "findings",
        "unreadable",
        "files_changed",
        "files_unmodified",
        "data_added",
    ] {
        assert!(first.get(key).is_some(), "missing {key} in {first}");
    }
    env.write("src/d1/f1.dat", b"changed content");
    env.write("src/new.txt", b"new");
    let (second, code) = env.json(&["backup", src.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(second["parent"], first["snapshot_id"]);
    assert_eq!(second["files_new"], 1);
    assert_eq!(second["files_changed"], 1);
    assert_eq!(second["files_unmodified"], 39);
}

#[test]
fn missing_source_fails_before_writing_anything() {
    let env = Env::new();
    env.init();
    let before = listing(&env.repo());
    env.run(&["backup", "/definitely/not/here"]).code(1).stderr(
        predicate::str::contains("/definitely/not/here")
            .and(predicate::str::contains("does not exist")),
    );
    assert_eq!(
        before,
        listing(&env.repo()),
        "the repository must be untouched"
    );
}

#[test]
fn wrong_password_exits_12_and_leaves_repository_untouched() {
    let env = Env::new();
    env.init();
    let src = env.sample_tree("src", 2, 5);
    let before = listing(&env.repo());
    let out = env
        .kura()
        .env("KURA_PASSWORD", "wrong")
        .args(["backup", src.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(12));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrong password"), "{err}");
    assert!(
        !err.contains("wrong\n") && !err.contains("=wrong"),
        "password must not be echoed: {err}"
    );
    assert_eq!(before, listing(&env.repo()));
}

#[test]
fn missing_repository_exits_10_with_init_hint() {
    let env = Env::new();
    env.run(&["snapshots"])
        .code(10)
        .stderr(predicate::str::contains("kura init"));
    let (doc, code) = env.json(&["snapshots"]);
    assert_eq!(code, 10);
    assert_eq!(doc["exit_code"], 10);
    assert!(doc["error"].as_str().unwrap().contains("no repository"));
}

#[test]
fn no_password_is_a_clear_error() {
    let env = Env::new();
    env.kura()
        .env_remove("KURA_PASSWORD")
        .arg("init")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("KURA_PASSWORD"));
}

#[test]
fn password_file_works_and_init_refuses_to_overwrite() {
    let env = Env::new();
    let pw = env.write("pw", b"from-a-file\n");
    env.kura()
        .env_remove("KURA_PASSWORD")
        .args(["init", "--password-file", pw.to_str().unwrap()])
        .assert()
        .success();
    env.kura()
        .env_remove("KURA_PASSWORD")
        .env("KURA_PASSWORD_FILE", &pw)
        .arg("snapshots")
        .assert()
        .success();
    env.kura()
        .env_remove("KURA_PASSWORD")
        .env("KURA_PASSWORD_FILE", &pw)
        .arg("init")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists"));
}

/// Root reads everything, so the unreadable-file test drops to `nobody` with setpriv.
#[test]
fn unreadable_file_is_listed_and_exits_3_but_snapshot_is_saved() {
    let env = Env::new();
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    env.init();
    let src = env.sample_tree("src", 3, 6);
    let secret = env.write("src/locked/secret.txt", b"no access");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let run_as_nobody = |json: bool| {
        let mut cmd = if is_root {
            // Everything in the temp dir must be usable by nobody except the locked file.
            std::process::Command::new("chmod")
                .args(["-R", "a+rwX"])
                .arg(env.repo())
                .status()
                .unwrap();
            for e in walkdir::WalkDir::new(&src)
                .into_iter()
                .filter_map(Result::ok)
            {
                if e.path() != secret {
                    let mode = if e.file_type().is_dir() { 0o777 } else { 0o644 };
                    std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(mode))
                        .unwrap();
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
        cmd.current_dir(env.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KURA_REPOSITORY", env.repo())
            .env("KURA_PASSWORD", testenv::PASSWORD);
        if json {
            cmd.arg("--json");
        }
        cmd.args(["backup", src.to_str().unwrap()]);
        cmd.output().unwrap()
    };
    let out = run_as_nobody(false);
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("secret.txt"));
    let out = run_as_nobody(true);
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let unreadable = doc["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1, "{doc}");
    assert!(
        unreadable[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("locked/secret.txt")
    );
    // The snapshot exists and holds the readable files.
    let (snaps, _) = env.json(&["snapshots"]);
    assert_eq!(snaps.as_array().unwrap().len(), 2);
}

#[test]
fn excludes_from_flags_and_config_are_honoured() {
    let env = Env::new();
    env.init();
    env.write("src/keep.txt", b"keep");
    env.write("src/skip.tmp", b"skip");
    env.write("src/cache/x.bin", b"skip too");
    let cfg = format!(
        "[backup]\nsources = [{:?}]\nexcludes = [\"*.tmp\"]\n",
        env.path("src").display().to_string()
    );
    env.write("kura.toml", cfg.as_bytes());
    env.run(&["backup", "--exclude", "cache"]).success();
    let (ls, _) = env.json(&["ls", "latest"]);
    let paths: Vec<String> = ls["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    assert!(paths.iter().any(|p| p.ends_with("keep.txt")), "{paths:?}");
    assert!(
        !paths
            .iter()
            .any(|p| p.ends_with("skip.tmp") || p.contains("cache")),
        "{paths:?}"
    );
}
