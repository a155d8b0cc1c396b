//! End-to-end: an incident over several nights, as the nightly timer sees it (issue 10). A
//! suspicious state never becomes clean by being backed up again: every backup is judged against
//! the newest clean generation, until the tree is restored or an operator overrides.
mod testenv;

use std::path::{Path, PathBuf};

use kura_testkit::{attack, tree};
use testenv::{Env, tree_contents};

const FILES: usize = 300;

fn backup(env: &Env, src: &Path) -> (serde_json::Value, i32) {
    env.json(&["backup", src.to_str().unwrap()])
}

fn latest_clean_id(env: &Env) -> String {
    let (ls, code) = env.json(&["ls", "latest-clean"]);
    assert_eq!(code, 0, "{ls}");
    ls["snapshot"]["id"].as_str().unwrap().to_string()
}

/// A repository with one clean backup of a generated hospital tree at `srv`.
fn clean_start(seed: u64) -> (Env, PathBuf, String) {
    let env = Env::new();
    env.init();
    let src = env.path("srv");
    tree::hospital_tree(&src, FILES, seed).unwrap();
    let (doc, code) = backup(&env, &src);
    assert_eq!(code, 0, "first backup must be clean: {doc}");
    (env, src, doc["snapshot_id"].as_str().unwrap().to_string())
}

/// What an operator does: `kura restore latest-clean` into a scratch folder, then put the
/// restored tree in place of the attacked one (attacker files included, nothing of it kept).
fn restore_latest_clean_over(env: &Env, src: &Path) {
    let scratch = env.path("restore-scratch");
    env.run(&[
        "restore",
        "latest-clean",
        "--target",
        scratch.to_str().unwrap(),
    ])
    .success();
    std::fs::remove_dir_all(src).unwrap();
    std::fs::rename(scratch.join(src.strip_prefix("/").unwrap()), src).unwrap();
    std::fs::remove_dir_all(&scratch).unwrap();
}

/// attack → backup (suspicious) → backup, nothing changed (still suspicious, same baseline,
/// latest-clean unchanged) → restore latest-clean over the tree → backup (clean again).
fn nights_after(attack: impl Fn(&Path) -> std::io::Result<Vec<PathBuf>>, seed: u64) {
    let (env, src, clean_id) = clean_start(seed);
    let original = tree_contents(&src);
    assert!(!attack(&src).unwrap().is_empty());

    let (night1, code) = backup(&env, &src);
    assert_eq!(code, 4, "attack not caught: {night1}");
    assert_eq!(night1["baseline"], clean_id.as_str());

    let (night2, code) = backup(&env, &src);
    assert_eq!(
        code, 4,
        "backing the attacked tree up again must stay suspicious: {night2}"
    );
    assert_eq!(night2["verdict"], "suspicious");
    assert_eq!(night2["files_changed"], 0, "nothing changed: {night2}");
    assert_eq!(night2["baseline"], clean_id.as_str(), "{night2}");
    assert!(night2["remaining"].as_u64().unwrap() > 0, "{night2}");
    let why = night2["reasons"][0].as_str().unwrap();
    let night1_short = &night1["snapshot_id"].as_str().unwrap()[..8];
    assert!(
        why.starts_with("still suspicious") && why.contains(night1_short),
        "the output says why: {why}"
    );
    assert_eq!(latest_clean_id(&env), clean_id);

    restore_latest_clean_over(&env, &src);
    assert_eq!(
        original,
        tree_contents(&src),
        "restore brought the tree back"
    );
    let (night3, code) = backup(&env, &src);
    assert_eq!(code, 0, "restored tree must be clean again: {night3}");
    assert_eq!(night3["verdict"], "clean");
    assert_eq!(
        latest_clean_id(&env),
        night3["snapshot_id"].as_str().unwrap()
    );

    // And the night after that stays clean (the restored generation is the new baseline).
    let (night4, code) = backup(&env, &src);
    assert_eq!(code, 0, "{night4}");
    assert_eq!(night4["baseline"], night3["snapshot_id"]);
}

macro_rules! incident_stays_open_until_restored {
    ($name:ident, $seed:expr, $run:expr) => {
        #[test]
        fn $name() {
            nights_after($run, $seed);
        }
    };
}

incident_stays_open_until_restored!(issue_10_whole_file_encryption, 71, |d: &Path| {
    attack::encrypt_whole_with_rename_and_notes(d, 1, 0.07)
});
incident_stays_open_until_restored!(issue_10_first_4k_random_extension, 72, |d: &Path| {
    attack::encrypt_head_4k_random_ext(d, 2, 0.07)
});
incident_stays_open_until_restored!(issue_10_intermittent, 73, |d: &Path| {
    attack::intermittent(d, 3, 0.07)
});
incident_stays_open_until_restored!(issue_10_header_preserving, 74, |d: &Path| {
    attack::header_preserving(d, 4, 0.07)
});
incident_stays_open_until_restored!(issue_10_new_file_and_delete, 75, |d: &Path| {
    attack::encrypt_to_new_and_delete(d, 5, 0.07)
});
incident_stays_open_until_restored!(issue_10_base64_ciphertext, 76, |d: &Path| {
    attack::base64_ciphertext(d, 6, 0.07)
});
incident_stays_open_until_restored!(issue_10_wiping, 77, |d: &Path| attack::wipe_zeros(
    d, 7, 0.07
));
incident_stays_open_until_restored!(issue_10_slow_three_files, 78, |d: &Path| attack::slow(
    d, 8, 3
));

#[test]
fn issue_10_touched_canary_keeps_every_backup_suspicious_until_restored() {
    let env = Env::new();
    env.init();
    let (src, planted) = env.hospital_with_canaries("srv");
    let (first, code) = backup(&env, &src);
    assert_eq!(code, 0, "{first}");
    let clean_id = first["snapshot_id"].as_str().unwrap().to_string();
    let canary = planted[0].as_str().unwrap().to_string();
    let mut bytes = std::fs::read(&canary).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&canary, bytes).unwrap();
    for night in 1..=3 {
        let (doc, code) = backup(&env, &src);
        assert_eq!(
            code, 4,
            "night {night}: altered canary must keep it suspicious: {doc}"
        );
        assert_eq!(latest_clean_id(&env), clean_id, "night {night}");
    }
    restore_latest_clean_over(&env, &src);
    let (doc, code) = backup(&env, &src);
    assert_eq!(code, 0, "canary restored: clean again: {doc}");
}

#[test]
fn issue_10_slow_attack_over_three_nights_never_becomes_clean() {
    let (env, src, clean_id) = clean_start(81);
    let mut verdicts = Vec::new();
    for night in 0..3u64 {
        attack::slow(&src, 100 + night, 2).unwrap();
        let (doc, code) = backup(&env, &src);
        verdicts.push((code, doc["verdict"].clone()));
    }
    // Once caught, every later night stays suspicious, and recovery starts before the attack.
    let first_caught = verdicts.iter().position(|(c, _)| *c == 4);
    assert_eq!(first_caught, Some(0), "{verdicts:?}");
    assert!(verdicts.iter().all(|(c, _)| *c == 4), "{verdicts:?}");
    assert_eq!(latest_clean_id(&env), clean_id);
    // The third night is judged against the pre-attack generation: all six files count.
    let (snaps, _) = env.json(&["snapshots"]);
    let last = snaps.as_array().unwrap().last().unwrap().clone();
    assert!(
        last["document"]["flagged_files"].as_u64().unwrap() >= 6,
        "{last}"
    );
}

#[test]
fn issue_10_five_days_of_benign_work_stay_clean_even_against_an_older_clean_generation() {
    let (env, src, clean_id) = clean_start(91);
    let workloads: [fn(&Path, u64) -> std::io::Result<()>; 5] = [
        tree::clinic_day,
        tree::new_scans,
        tree::clinic_day,
        tree::db_dump_rewrite,
        tree::clinic_day,
    ];
    // Days 1 and 2 are backed up without detection (no verdict): days 3 to 5 are judged against
    // the day-0 generation, so the work of every day in between adds up.
    for (day, work) in workloads.iter().enumerate() {
        work(&src, 200 + day as u64).unwrap();
        let args = if day < 2 {
            vec!["backup", "--no-detect", src.to_str().unwrap()]
        } else {
            vec!["backup", src.to_str().unwrap()]
        };
        let (doc, code) = env.json(&args);
        assert_eq!(code, 0, "day {}: false alarm: {doc}", day + 1);
        if day == 2 {
            assert_eq!(doc["baseline"], clean_id.as_str(), "{doc}");
            let (snaps, _) = env.json(&["snapshots"]);
            let last = snaps.as_array().unwrap().last().unwrap().clone();
            assert_eq!(last["document"]["intervals"], 3, "{last}");
        }
    }
}

#[test]
fn issue_10_operator_override_makes_the_snapshot_the_new_baseline() {
    let (env, src, _) = clean_start(101);
    attack::wipe_zeros(&src, 1, 0.1).unwrap();
    let (bad, code) = backup(&env, &src);
    assert_eq!(code, 4, "{bad}");
    let (after, code) = env.json(&[
        "verdict",
        &bad["snapshot_id"].as_str().unwrap()[..8],
        "--set",
        "clean",
        "--reason",
        "planned wipe of a retired share, ticket 7",
    ]);
    assert_eq!(code, 0, "{after}");
    let (next, code) = backup(&env, &src);
    assert_eq!(code, 0, "judged against the overridden snapshot: {next}");
    assert_eq!(next["baseline"], after["id"]);
}

#[test]
fn issue_10_forget_keeps_the_pre_attack_generation_while_the_incident_is_open() {
    let (env, src, clean_id) = clean_start(111);
    // A second source backed up cleanly after the attack on the first: it has the repository's
    // newest clean snapshot, which must not shadow the first source's recovery point.
    let other = env.sample_tree("other", 3, 12);
    attack::encrypt_whole_with_rename_and_notes(&src, 2, 0.1).unwrap();
    assert_eq!(backup(&env, &src).1, 4);
    assert_eq!(backup(&env, &src).1, 4);
    let (o, code) = backup(&env, &other);
    assert_eq!(code, 0, "{o}");
    let (plan, code) = env.json(&["forget", "--keep-last", "1"]);
    assert_eq!(code, 0, "{plan}");
    let kept = plan["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["snapshot"]["id"] == clean_id.as_str())
        .expect("pre-attack snapshot listed")
        .clone();
    assert_eq!(kept["keep"], true, "{plan}");
    assert!(
        kept["reasons"].to_string().contains("newest clean"),
        "{kept}"
    );
    assert!(plan["removed"].as_array().unwrap().is_empty(), "{plan}");
}

#[test]
fn issue_10_copies_refuse_the_snapshots_an_open_incident_left() {
    let (env, src, clean_id) = clean_start(121);
    attack::intermittent(&src, 4, 0.1).unwrap();
    assert_eq!(backup(&env, &src).1, 4);
    assert_eq!(backup(&env, &src).1, 4);
    let disk = env.add_disk("disk", "monday");
    env.run(&["media", "export", "monday", "--snapshot", "latest"])
        .code(20)
        .stderr(predicates::str::contains("suspicious"));
    let (out, code) = env.json(&["media", "export", "monday"]);
    assert_eq!(code, 0, "{out}");
    let disk_repo = disk.join("kura-repository");
    let (on_disk, code) = env.json(&["-r", disk_repo.to_str().unwrap(), "snapshots"]);
    assert_eq!(code, 0, "{on_disk}");
    let verdicts: Vec<_> = on_disk
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["verdict"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        verdicts,
        ["clean"],
        "only the pre-attack generation: {on_disk}"
    );
    let _ = clean_id;
}
