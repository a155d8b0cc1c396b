//! End-to-end: offline disks (`kura media`), including a disk that fills up mid-export, and a
//! repository disk that fills up mid-backup.
mod testenv;

use predicates::prelude::*;
use testenv::{Env, SmallDisk, error_line, noise};

#[test]
fn export_copies_verifies_and_records_and_the_disk_restores() {
    let (env, src) = Env::backed_up(51, 20);
    let disk = env.add_disk("usb-monday", "monday");
    let (out, code) = env.json(&["media", "export", "monday", "--force"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["copied"].as_array().unwrap().len(), 1);
    assert_eq!(out["verified"], true);
    // The disk is a complete repository on its own: restore from it with kura and check with restic.
    let target = env.path("from-disk");
    let disk_repo = disk.join("kura-repository");
    env.kura()
        .env("KURA_REPOSITORY", &disk_repo)
        .args(["restore", "latest", "--target", target.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        testenv::tree_contents(&src),
        testenv::tree_contents(&target.join(src.strip_prefix("/").unwrap()))
    );
    if testenv::require_tool("restic") {
        let out = std::process::Command::new("restic")
            .args([
                "-r",
                disk_repo.to_str().unwrap(),
                "--no-cache",
                "check",
                "--read-data",
            ])
            .env("RESTIC_PASSWORD", testenv::PASSWORD)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A second export copies nothing new.
    let (again, _) = env.json(&["media", "export", "monday", "--force"]);
    assert_eq!(again["copied"].as_array().unwrap().len(), 0);
    let (list, _) = env.json(&["media", "list"]);
    assert_eq!(list[0]["label"], "monday");
    assert_eq!(list[0]["overdue"], false);
    assert_eq!(list[0]["snapshots"].as_array().unwrap().len(), 1);
}

#[test]
fn unjudged_snapshots_are_not_exported_without_force_and_wrong_disk_is_refused() {
    let env = Env::new();
    env.init();
    let src = env.sample_tree("src", 52, 3);
    env.run(&["backup", "--no-detect", src.to_str().unwrap()])
        .success();
    env.add_disk("disk-a", "a");
    let b = env.add_disk("disk-b", "b");
    // Nothing judged clean: its own exit code (22), so a nightly export alarms.
    let message = error_line(env.run(&["media", "export", "a"]), 22);
    assert_eq!(
        message,
        "no clean generation to copy: run `kura backup` first, or name snapshots with --snapshot"
    );
    let latest = env.json(&["snapshots"]).0[0]["short_id"]
        .as_str()
        .unwrap()
        .to_string();
    // A named snapshot that is not clean: refused for safety (20) until forced.
    let message = error_line(
        env.run(&["media", "export", "a", "--snapshot", &latest]),
        20,
    );
    assert_eq!(
        message,
        format!(
            "snapshot {latest} is unknown, not clean: it is not copied over clean generations (use --force to copy it anyway)"
        )
    );
    // Disk b mounted where disk a is expected: refused.
    env.run(&[
        "media",
        "export",
        "a",
        "--path",
        b.to_str().unwrap(),
        "--force",
    ])
    .code(1)
    .stderr(predicate::str::contains("b").and(predicate::str::contains("a")));
}

#[test]
fn disk_full_mid_export_is_a_clear_error_and_the_next_export_resumes() {
    let env = Env::new();
    env.init();
    env.write("src/scan1.bin", &noise(6, 1));
    env.write("src/scan2.bin", &noise(6, 2));
    env.run(&["backup", env.path("src").to_str().unwrap()])
        .success();
    let Some(disk) = SmallDisk::mount(env.path("usb"), 4) else {
        return;
    };
    env.run(&["media", "add", disk.dir.to_str().unwrap(), "--label", "usb"])
        .success();
    let out = env
        .kura()
        .args(["media", "export", "usb", "--force"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("usb") && err.contains("resumes"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
    // The disk's repository is still valid, only without the snapshot.
    let disk_repo = disk.dir.join("kura-repository");
    env.kura()
        .env("KURA_REPOSITORY", &disk_repo)
        .arg("check")
        .assert_success();
    disk.grow(64);
    env.run(&["media", "export", "usb", "--force"]).success();
    env.kura()
        .env("KURA_REPOSITORY", &disk_repo)
        .args(["check", "--read-data"])
        .assert_success();
}

#[test]
fn repository_disk_full_mid_backup_is_a_clear_error_and_nothing_is_lost() {
    let env = Env::new();
    let Some(disk) = SmallDisk::mount(env.path("repo"), 6) else {
        return;
    };
    env.init();
    env.write("src/a.txt", b"first");
    env.run(&["backup", env.path("src").to_str().unwrap()])
        .success();
    env.write("src/big.bin", &noise(10, 3));
    let out = env
        .kura()
        .args(["backup", env.path("src").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.to_lowercase().contains("space") || err.contains("os error 28"),
        "{err}"
    );
    env.run(&["check"]).success();
    assert_eq!(
        env.json(&["snapshots"]).0.as_array().unwrap().len(),
        1,
        "the first snapshot is intact"
    );
    disk.grow(64);
    env.run(&["backup", env.path("src").to_str().unwrap()])
        .success();
    env.run(&["check", "--read-data"]).success();
}

trait AssertSuccess {
    fn assert_success(&mut self);
}

impl AssertSuccess for std::process::Command {
    fn assert_success(&mut self) {
        let out = self.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn nearly_full_repository_disk_raises_one_event() {
    let env = Env::new();
    let Some(_disk) = SmallDisk::mount(env.path("repo"), 8) else {
        return;
    };
    env.init();
    let mut scan = noise(8, 4);
    scan.truncate(15 << 19); // 7.5 MiB on an 8 MiB disk: about 6% stays free
    env.write("src/scan.bin", &scan);
    let out = env
        .kura()
        .args(["backup", env.path("src").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("nearly full"));
    env.write("src/note.txt", b"small change");
    env.run(&["backup", env.path("src").to_str().unwrap()])
        .success();
    let (events, _) = env.json(&["events"]);
    let full: Vec<_> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "disk_nearly_full")
        .collect();
    assert_eq!(
        full.len(),
        1,
        "one open event, not one per backup: {events}"
    );
}

#[test]
fn restore_onto_a_full_disk_is_a_one_line_error_and_the_repository_stays_intact() {
    let env = Env::new();
    env.init();
    env.write("src/scan.bin", &noise(6, 5));
    env.run(&["backup", env.path("src").to_str().unwrap()])
        .success();
    let Some(target) = SmallDisk::mount(env.path("target"), 2) else {
        return;
    };
    let out = env
        .kura()
        .args([
            "restore",
            "latest",
            "--target",
            target.dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("restore into") && err.contains("run the restore again"),
        "{err}"
    );
    env.run(&["check", "--read-data"]).success();
}

#[test]
fn issue_17_export_honours_bandwidth_limits_and_still_verifies() {
    let (env, src) = Env::backed_up(53, 12);
    let disk = env.add_disk("nas-rotation", "nas");
    let (out, code) = env.json(&[
        "--limit-upload",
        "500000",
        "--limit-download",
        "500000",
        "media",
        "export",
        "nas",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["copied"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(out["verified"], true);
    // The paced disk is the same repository: it restores with no limit at all.
    let target = env.path("from-nas");
    env.kura()
        .env("KURA_REPOSITORY", disk.join("kura-repository"))
        .args(["restore", "latest", "--target", target.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        testenv::tree_contents(&src),
        testenv::tree_contents(&target.join(src.strip_prefix("/").unwrap()))
    );
    let (log, _) = env.json(&["audit", "log", "--action", "media"]);
    let text = log.to_string();
    assert!(text.contains("\"limit_upload_kib\":500000"), "{text}");
    assert!(text.contains("\"limit_download_kib\":500000"), "{text}");
}
