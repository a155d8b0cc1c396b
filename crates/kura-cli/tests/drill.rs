//! End-to-end: `kura drill` (local copy, offline disk, damaged pack, unreadable patient data),
//! `kura drill list|sign`, the audit record, and the drill state in `kura status`.
mod testenv;

use std::path::{Path, PathBuf};

use predicates::prelude::*;
use testenv::Env;

/// A source tree of `files` mixed files plus an SS-MIX2 storage of 3 patients; with
/// `malformed`, also the one SS-MIX2 file that is not HL7. Returns (root, file count).
fn hospital_tree(env: &Env, files: usize, malformed: bool) -> (PathBuf, u64) {
    let src = env.sample_tree("src/files", 71, files);
    let (ssmix, truth) = kura_testkit::ssmix::generate(72, 3);
    let mut n = files as u64;
    for f in ssmix {
        if !malformed && truth.malformed.contains(&f.path) {
            continue;
        }
        env.write(&format!("src/ssmix2/{}", f.path), &f.bytes);
        n += 1;
    }
    (src.parent().unwrap().to_path_buf(), n)
}

fn state(env: &Env) -> PathBuf {
    env.path(".local/state/kura")
}

/// The data pack: the largest file under data/ (tree packs are small).
fn largest_pack(repo: &Path) -> PathBuf {
    walkdir::WalkDir::new(repo.join("data"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .max_by_key(|e| e.metadata().unwrap().len())
        .unwrap()
        .path()
        .to_path_buf()
}

#[test]
fn full_drill_passes_on_a_clean_repository_and_counts_every_file() {
    let env = Env::new();
    env.init();
    let (src, files) = hospital_tree(&env, 30, false);
    env.run(&["backup", src.to_str().unwrap()]).success();
    let (r, code) = env.json(&["drill", "--full"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["result"], "pass");
    assert_eq!(r["copy"], "local");
    assert_eq!(r["files_total"], files);
    assert_eq!(r["files_restored"], files);
    assert_eq!(r["files_verified"], files);
    assert!(r["bytes_verified"].as_u64().unwrap() > 0);
    assert_eq!(r["errors"].as_array().unwrap().len(), 0);
    assert_eq!(r["snapshot"].as_str().unwrap().len(), 64);
    assert!(r["ssmix"]["files"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["ssmix"]["patients"], 3);
    for phase in ["open", "locate", "fetch_write", "verify", "pack_read"] {
        assert!(r["phases"][phase].as_f64().unwrap() >= 0.0, "{phase}");
    }
    let rto = r["rto_seconds"].as_f64().unwrap();
    let p = &r["phases"];
    let sum: f64 = ["open", "locate", "fetch_write", "verify"]
        .iter()
        .map(|k| p[k].as_f64().unwrap())
        .sum();
    assert!((rto - sum).abs() < 1e-6);
    assert_eq!(r["pack_read"]["part"], 1);
    assert_eq!(r["pack_read"]["of"], 30);
    // The scratch folder is gone.
    let tmp = std::env::temp_dir();
    let _ = tmp; // other tests may run drills at the same time; check our own --target instead.

    // A sample drill restores some, verifies what it restored, estimates the full restore,
    // and reads the next part of the packs.
    let scratch = env.path("scratch");
    let (s, code) = env.json(&[
        "drill",
        "--sample",
        "20",
        "--target",
        scratch.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{s}");
    let restored = s["files_restored"].as_u64().unwrap();
    assert!(restored >= 1 && restored <= files, "{s}");
    assert_eq!(s["files_verified"], restored);
    assert_eq!(s["pack_read"]["part"], 2);
    assert!(s["estimated_full_rto_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        std::fs::read_dir(&scratch).unwrap().count(),
        0,
        "scratch left behind"
    );

    // History, sign-off, audit.
    let (list, _) = env.json(&["drill", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["id"], 1);
    env.run(&[
        "drill",
        "sign",
        "1",
        "--by",
        "山田太郎",
        "--role",
        "情報システム担当",
    ])
    .success();
    let (list, _) = env.json(&["drill", "list"]);
    assert_eq!(list[0]["signoffs"][0]["by"], "山田太郎");
    assert_eq!(list[0]["signoffs"][0]["role"], "情報システム担当");
    env.run(&["drill", "list"])
        .success()
        .stdout(predicate::str::contains("signed by 山田太郎"));
    env.run(&["drill", "sign", "9", "--by", "a", "--role", "b"])
        .code(1)
        .stderr(predicate::str::contains("no drill with id 9"));
    let (log, _) = env.json(&["audit", "log", "--action", "drill*"]);
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "drill").count(),
        2,
        "{actions:?}"
    );
    assert!(actions.contains(&"drill.sign"));
    let first = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "drill")
        .unwrap();
    assert_eq!(first["details"]["result"], "pass");
    assert_eq!(first["details"]["files_verified"], files);
}

#[test]
fn drill_against_an_offline_disk() {
    let env = Env::new();
    env.init();
    let (src, files) = hospital_tree(&env, 12, false);
    env.run(&["backup", src.to_str().unwrap()]).success();
    let disk = env.add_disk("usb-monday", "monday");
    env.run(&["media", "export", "monday"]).success();
    let (r, code) = env.json(&["drill", "--copy", "disk:monday", "--full"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["result"], "pass");
    assert_eq!(r["copy"], "disk:monday");
    assert_eq!(r["files_verified"], files);
    // A disk that is not registered is an error; a registered one that is not mounted fails the
    // drill, recorded.
    env.run(&["drill", "--copy", "disk:friday"])
        .code(1)
        .stderr(predicate::str::contains("friday"));
    std::fs::rename(&disk, env.path("usb-elsewhere")).unwrap();
    let (r, code) = env.json(&["drill", "--copy", "disk:monday"]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["result"], "fail");
    assert!(r["errors"][0].as_str().unwrap().contains("monday"), "{r}");
    env.run(&["drill", "--copy", "nas"])
        .code(1)
        .stderr(predicate::str::contains("unknown copy"));
    env.run(&["drill", "--sample", "0"])
        .code(1)
        .stderr(predicate::str::contains("not a percentage"));
}

#[test]
fn a_flipped_byte_in_a_data_pack_fails_the_drill_naming_the_pack_and_files() {
    let env = Env::new();
    env.init();
    let (src, _) = hospital_tree(&env, 20, false);
    env.run(&["backup", src.to_str().unwrap()]).success();
    let pack = largest_pack(&env.repo());
    let pack_id = pack.file_name().unwrap().to_str().unwrap().to_string();
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[40] ^= 0x01;
    std::fs::write(&pack, &bytes).unwrap();
    let (r, code) = env.json(&["drill", "--full"]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["result"], "fail");
    let errors: Vec<&str> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains(&format!("pack {pack_id} is damaged"))),
        "{errors:?}"
    );
    let damaged = r["damaged"].as_array().unwrap();
    assert!(!damaged.is_empty());
    assert!(damaged.iter().all(|d| d["packs"][0] == pack_id.as_str()));
    assert!(damaged[0]["path"].as_str().unwrap().contains("src/"));
    assert!(r["files_verified"].as_u64().unwrap() < r["files_total"].as_u64().unwrap());
    // The text output names the pack too (on stderr), and an alert is raised.
    env.run(&["drill", "--full"])
        .code(1)
        .stderr(predicate::str::contains(&pack_id));
    assert!(env.has_event("drill_failed"));
}

#[test]
fn unreadable_patient_data_fails_the_drill() {
    let env = Env::new();
    env.init();
    let (src, _) = hospital_tree(&env, 5, true);
    env.run(&["backup", "--no-detect", src.to_str().unwrap()])
        .success();
    let (r, code) = env.json(&["drill", "--full", "--snapshot", "latest"]);
    assert_eq!(code, 1, "{r}");
    // The bytes restored fine; the SS-MIX2 message in them cannot be read.
    assert_eq!(r["files_verified"], r["files_total"]);
    assert!(
        r["errors"].as_array().unwrap().iter().any(|e| e
            .as_str()
            .unwrap()
            .contains("patient data cannot be read")
            && e.as_str().unwrap().contains("OMP-01")),
        "{r}"
    );
}

fn local_copy(status: &serde_json::Value) -> serde_json::Value {
    status["copies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "local")
        .unwrap()
        .clone()
}

#[test]
fn status_shows_the_last_drill_amber_when_old_red_when_failed() {
    let env = Env::new();
    env.init();
    let (src, _) = hospital_tree(&env, 6, false);
    env.run(&["backup", src.to_str().unwrap()]).success();
    // Never drilled: amber.
    let (s, _) = env.json(&["status"]);
    let local = local_copy(&s);
    assert_eq!(local["drill"]["level"], "amber", "{local}");
    assert!(local["drill"]["last_pass"].is_null());

    env.run(&["drill"]).success();
    let (s, _) = env.json(&["status"]);
    let local = local_copy(&s);
    assert_eq!(local["drill"]["level"], "green", "{local}");
    assert_eq!(local["drill"]["last_drill"], 1);
    env.run(&["status"])
        .stdout(predicate::str::contains("last drill passed"));

    // The same drill, 40 days ago (the history is plain JSON lines): amber.
    let history = state(&env).join("drills/drills.jsonl");
    let text = std::fs::read_to_string(&history).unwrap();
    let mut line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    let old = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(40 * 24);
    line["drill"]["started"] = old.to_string().into();
    std::fs::write(&history, format!("{line}\n")).unwrap();
    let (s, _) = env.json(&["status"]);
    let local = local_copy(&s);
    assert_eq!(local["drill"]["level"], "amber", "{local}");
    assert_eq!(local["level"], "amber");
    assert!(
        s["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("40 days")),
        "{s}"
    );

    // A failed drill: red, and status exits 1.
    let pack = largest_pack(&env.repo());
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[40] ^= 0x80;
    std::fs::write(&pack, &bytes).unwrap();
    env.run(&["drill", "--full"]).code(1);
    let (s, code) = env.json(&["status"]);
    let local = local_copy(&s);
    assert_eq!(local["drill"]["level"], "red", "{local}");
    assert_eq!(code, 1);
}

#[test]
fn drill_against_an_immutable_remote_in_seaweedfs() {
    let Some(sw) = kura_testkit::store::Seaweed::start("kura-cli drill --copy remote") else {
        return;
    };
    let env = Env::new();
    env.init();
    let (src, files) = hospital_tree(&env, 10, false);
    env.run(&["backup", src.to_str().unwrap()]).success();
    let credentials = sw.credentials_file().display().to_string();
    env.run(&[
        "remote",
        "add",
        "offsite",
        "--bucket",
        "kura-drill",
        "--endpoint",
        sw.endpoint(),
        "--region",
        "us-east-1",
        "--profile",
        kura_testkit::store::Seaweed::PROFILE,
        "--credentials-file",
        &credentials,
        "--create-bucket",
    ])
    .success();
    // Not pushed yet: the bucket holds an empty repository, so there is nothing to drill.
    env.run(&["drill", "--copy", "remote:offsite"])
        .code(1)
        .stderr(predicate::str::contains("snapshot"));
    env.run(&["remote", "push", "offsite"]).success();
    let (r, code) = env.json(&["drill", "--copy", "remote:offsite", "--full"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["result"], "pass");
    assert_eq!(r["copy"], "remote:offsite");
    assert_eq!(r["files_verified"], files);
    assert!(r["ssmix"]["files"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(
        r["pack_read"]["part"], 1,
        "the remote has its own rolling read"
    );
    // The remote's last drill is in the 3-2-1-1-0 status, and the report shows its lock.
    let (s, _) = env.json(&["status"]);
    let remote = s["copies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "s3")
        .unwrap()
        .clone();
    assert_eq!(remote["drill"]["level"], "green", "{remote}");
    let (report, code) = env.json(&["report"]);
    assert_eq!(code, 0, "{report}");
    let immutable = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "backup.immutable")
        .unwrap()
        .clone();
    assert_eq!(immutable["status"], "yes", "{immutable}");
    let evidence = immutable["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("COMPLIANCE") && evidence.contains("30/60 days"),
        "{evidence}"
    );
    assert_eq!(immutable["wording"], "unverified");
}
