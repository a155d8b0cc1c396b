//! End-to-end: every command is recorded in the hash-chained audit log; tampering is caught,
//! also by the checkpoints that backups store inside the repository.
mod testenv;

use predicates::prelude::*;
use testenv::Env;

fn audit_files(env: &Env) -> Vec<std::path::PathBuf> {
    let dir = env.path(".local/state/kura/audit");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    v.sort();
    v
}

#[test]
fn commands_are_audited_with_outcome_and_details() {
    let env = Env::new();
    env.init();
    let src = env.sample_tree("src", 41, 3);
    let (b, _) = env.json(&["backup", src.to_str().unwrap()]);
    env.kura()
        .env("KURA_PASSWORD", "wrong")
        .arg("snapshots")
        .output()
        .unwrap();
    env.run(&[
        "restore",
        "latest",
        "--target",
        env.path("out").to_str().unwrap(),
    ])
    .success();
    let (log, code) = env.json(&["audit", "log"]);
    assert_eq!(code, 0);
    let records = log.as_array().unwrap();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["init", "backup", "snapshots", "restore"]);
    assert_eq!(records[1]["details"]["snapshot"], b["snapshot_id"]);
    assert_eq!(
        records[2]["outcome"], "denied",
        "a wrong password is recorded as denied"
    );
    assert_eq!(
        records[3]["details"]["target"],
        env.path("out").to_str().unwrap()
    );
    for r in records {
        assert!(
            !r.to_string().contains(testenv::PASSWORD),
            "password leaked into the audit log"
        );
    }
    let (only, _) = env.json(&["audit", "log", "--action", "restore"]);
    assert_eq!(only.as_array().unwrap().len(), 1);
    env.run(&["audit", "verify"])
        .success()
        .stdout(predicate::str::contains("intact"));
}

#[test]
fn flipped_byte_is_named_by_verify() {
    let env = Env::new();
    env.init();
    env.run(&["snapshots"]).success();
    env.run(&["snapshots"]).success();
    let file = audit_files(&env).pop().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let tampered = text.replacen("\"action\":\"snapshots\"", "\"action\":\"snapshotz\"", 1);
    assert_ne!(text, tampered);
    std::fs::write(&file, tampered).unwrap();
    env.run(&["audit", "verify"])
        .code(1)
        .stderr(predicate::str::contains("record 2"));
    assert!(
        env.has_event("audit_chain_broken"),
        "no audit_chain_broken event"
    );
}

#[test]
fn rebuilt_log_is_caught_by_checkpoints_in_the_repository() {
    let env = Env::new();
    env.init();
    let src = env.sample_tree("src", 42, 3);
    env.run(&["snapshots"]).success();
    env.run(&["backup", src.to_str().unwrap()]).success();
    env.run(&["backup", src.to_str().unwrap()]).success();
    // The attacker deletes the whole log; kura starts a fresh, internally valid chain.
    for f in audit_files(&env) {
        std::fs::remove_file(f).unwrap();
    }
    env.run(&["snapshots"]).success();
    env.run(&["audit", "verify", "--no-repo"]).success();
    env.run(&["audit", "verify"])
        .code(1)
        .stderr(predicate::str::contains("tampered"));
}

#[test]
fn failed_check_raises_an_event_that_can_be_acknowledged_and_closed() {
    let (env, _) = Env::backed_up(43, 10);
    let pack = walkdir::WalkDir::new(env.repo().join("data"))
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_type().is_file())
        .unwrap();
    let mut bytes = std::fs::read(pack.path()).unwrap();
    bytes[10] ^= 1;
    std::fs::write(pack.path(), bytes).unwrap();
    env.run(&["check", "--read-data"]).code(1);
    let (events, _) = env.json(&["events"]);
    let ev = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "verify_failed")
        .expect("verify_failed event")
        .clone();
    assert_eq!(ev["state"], "new");
    let id = ev["id"].to_string();
    env.run(&["events", "--ack", &id]).success();
    env.run(&["events", "--close", &id]).success();
    let (open, _) = env.json(&["events"]);
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .all(|e| e["id"].as_u64().map(|n| n.to_string()).as_deref() != Some(id.as_str()))
    );
    env.run(&["events", "--ack", &id]).code(1);
}
