//! End-to-end: `kura init` and what a first-time operator sets up (issue 17): the written
//! configuration, private files, password warnings, the state directory and its audit records.
mod testenv;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::prelude::*;
use predicates::prelude::*;
use testenv::{Env, PASSWORD};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every file and folder under `root` with a mode other than 0600 / 0700.
fn not_private(root: &Path) -> Vec<String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| {
            let want = if e.file_type().is_dir() { 0o700 } else { 0o600 };
            mode(e.path()) != want
        })
        .map(|e| format!("{} {:o}", e.path().display(), mode(e.path())))
        .collect()
}

#[test]
fn issue_17_written_config_names_the_real_repository_and_sources() {
    let env = Env::new();
    let pw = env.write("secret/password", format!("{PASSWORD}\n").as_bytes());
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let src = env.sample_tree("records", 3, 5);
    env.kura()
        .env_remove("KURA_PASSWORD")
        .env("KURA_PASSWORD_FILE", &pw)
        .args(["init", "--write-config", "kura.toml", "--source", "records"])
        .assert()
        .success()
        .stderr(predicate::str::contains("warning").not());
    let text = std::fs::read_to_string(env.path("kura.toml")).unwrap();
    assert!(
        text.contains(&format!("repository = \"{}\"", env.repo().display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("password_file = \"{}\"", pw.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("sources = [\"{}\"]", src.display())),
        "{text}"
    );
    assert!(
        !text.contains("/srv/ssmix2\"]") && text.contains("# [retention]"),
        "{text}"
    );
    // Used as written, from anywhere, with nothing else set, the next backup works.
    let mut backup = std::process::Command::new(env!("CARGO_BIN_EXE_kura"));
    backup
        .env_clear()
        .env("HOME", env.dir.path())
        .current_dir("/")
        .arg("--config")
        .arg(env.path("kura.toml"))
        .args(["--json", "backup"]);
    let out = backup.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A second init never overwrites the file.
    env.run(&["init", "--write-config", "kura.toml"])
        .code(1)
        .stderr(predicate::str::contains("refusing to overwrite"));
}

#[test]
fn issue_17_repository_and_state_are_private() {
    let (env, _) = Env::backed_up(4, 5);
    assert_eq!(not_private(&env.repo()), Vec::<String>::new());
    let state = env.path(".local/state/kura");
    assert!(state.join("audit").is_dir());
    assert_eq!(not_private(&state), Vec::<String>::new());
}

#[test]
fn issue_17_init_warns_on_a_readable_password_file_and_a_short_password() {
    let env = Env::new();
    let pw = env.write("password", b"x\n");
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = env
        .kura()
        .env_remove("KURA_PASSWORD")
        .env("KURA_PASSWORD_FILE", &pw)
        .args(["--json", "init"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "warnings do not stop init");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(stderr.contains("fewer than 12 characters"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["warnings"].as_array().unwrap().len(), 2);
}

#[test]
fn issue_17_unwritable_audit_log_fails_the_backup_and_raises_an_event() {
    let env = Env::new();
    env.init();
    let src = env.sample_tree("src", 5, 3);
    // The audit folder is a file: nothing (not even root) can write the log there.
    let audit = env.path(".local/state/kura/audit");
    std::fs::remove_dir_all(&audit).unwrap();
    std::fs::write(&audit, b"").unwrap();
    env.run(&["backup", src.to_str().unwrap()])
        .code(5)
        .stderr(predicate::str::contains("could not write the audit log"));
    std::fs::remove_file(&audit).unwrap();
    assert!(env.has_event("audit_write_failed"));
}

#[test]
fn issue_17_repeated_wrong_passwords_raise_an_event() {
    let env = Env::new();
    env.init();
    for attempt in 0..3 {
        assert!(
            !env.has_event("wrong_password_repeated"),
            "raised after {attempt}"
        );
        env.kura()
            .env("KURA_PASSWORD", "wrong")
            .arg("snapshots")
            .assert()
            .code(12);
    }
    assert!(env.has_event("wrong_password_repeated"));
}

#[test]
fn issue_17_systemd_state_directory_is_used() {
    let unit = include_str!("../../../packaging/kura-backup.service");
    assert!(unit.contains("\nStateDirectory=kura\n"), "{unit}");
    assert!(unit.contains("\nStateDirectoryMode=0700\n"), "{unit}");
    let env = Env::new();
    let state = env.path("var-lib-kura");
    env.kura()
        .env("STATE_DIRECTORY", &state)
        .arg("init")
        .assert()
        .success();
    assert!(state.join("audit").is_dir());
    assert!(!env.path(".local/state/kura").exists());
}
