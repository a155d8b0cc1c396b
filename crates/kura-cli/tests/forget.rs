//! End-to-end: `kura forget` with generation policies and its protections.
mod testenv;

use testenv::{Env, error_line};

fn backups(env: &Env, n: usize) -> Vec<String> {
    let src = env.sample_tree("src", 21, 3);
    (0..n)
        .map(|i| {
            env.write("src/counter.txt", format!("{i}").as_bytes());
            let (doc, code) = env.json(&["backup", src.to_str().unwrap()]);
            assert_eq!(code, 0);
            doc["snapshot_id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn keep_last_removes_older_and_prune_frees_space() {
    let env = Env::new();
    env.init();
    let ids = backups(&env, 4);
    let (plan, code) = env.json(&["forget", "--keep-last", "2", "--dry-run"]);
    assert_eq!(code, 0);
    assert_eq!(plan["removed"].as_array().unwrap().len(), 2);
    let (snaps, _) = env.json(&["snapshots"]);
    assert_eq!(
        snaps.as_array().unwrap().len(),
        4,
        "dry run must remove nothing"
    );
    let (done, code) = env.json(&["forget", "--keep-last", "2", "--prune"]);
    assert_eq!(code, 0, "{done}");
    let removed: Vec<&str> = done["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(removed, vec![ids[0].as_str(), ids[1].as_str()]);
    assert_eq!(done["pruned"], true);
    let (snaps, _) = env.json(&["snapshots"]);
    let left: Vec<&str> = snaps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(left, vec![ids[2].as_str(), ids[3].as_str()]);
    env.run(&["check", "--read-data"]).success();
}

#[test]
fn forget_without_rules_uses_the_hospital_default_and_keeps_recent() {
    let env = Env::new();
    env.init();
    backups(&env, 3);
    let (done, code) = env.json(&["forget"]);
    assert_eq!(code, 0);
    // All three are from today: daily=7 keeps the newest of the day; the others go.
    let kept = done["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["keep"] == true)
        .count();
    assert!(kept >= 1);
}

#[test]
fn policy_that_keeps_nothing_is_refused() {
    let env = Env::new();
    env.init();
    backups(&env, 2);
    let message = error_line(env.run(&["forget", "--keep-last", "0"]), 21);
    assert_eq!(
        message,
        "the retention policy would remove every snapshot; nothing was removed"
    );
    let (snaps, _) = env.json(&["snapshots"]);
    assert_eq!(snaps.as_array().unwrap().len(), 2);
}

#[test]
fn an_empty_retention_section_is_refused_with_the_retention_code() {
    let env = Env::new();
    env.init();
    backups(&env, 1);
    env.write("kura.toml", b"[retention]\n");
    let message = error_line(env.run(&["forget", "--prune"]), 21);
    assert_eq!(
        message,
        "no retention rule given: set at least one --keep-* option (or [retention] in kura.toml)"
    );
    let (doc, code) = env.json(&["forget"]);
    assert_eq!(code, 21);
    assert_eq!(doc["exit_code"], 21);
    let (snaps, _) = env.json(&["snapshots"]);
    assert_eq!(snaps.as_array().unwrap().len(), 1);
}
