//! End-to-end: `kura restore`, `ls`, `diff` and `snapshots` on a real tree.
mod testenv;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use predicates::prelude::*;
use testenv::{Env, tree_contents};

#[test]
fn restore_is_byte_identical_with_metadata() {
    let env = Env::new();
    env.init();
    let src = env.sample_tree("src", 7, 30);
    env.write("src/日本語/カルテ.txt", "アレルギー: ペニシリン".as_bytes());
    env.write("src/empty", b"");
    std::os::unix::fs::symlink("日本語/カルテ.txt", src.join("link")).unwrap();
    std::fs::set_permissions(src.join("empty"), std::fs::Permissions::from_mode(0o640)).unwrap();
    filetime::set_file_mtime(
        src.join("empty"),
        filetime::FileTime::from_unix_time(1_600_000_000, 0),
    )
    .unwrap();
    env.run(&["backup", src.to_str().unwrap()]).success();
    let target = env.path("out");
    env.run(&["restore", "latest", "--target", target.to_str().unwrap()])
        .success();
    let restored = target.join(src.strip_prefix("/").unwrap());
    assert_eq!(tree_contents(&src), tree_contents(&restored));
    let meta = std::fs::metadata(restored.join("empty")).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o640);
    assert_eq!(meta.mtime(), 1_600_000_000);
}

#[test]
fn restore_include_restores_only_that_path() {
    let env = Env::new();
    env.init();
    let src = env.sample_tree("src", 8, 10);
    env.run(&["backup", src.to_str().unwrap()]).success();
    let inner = src.join("d1");
    let rel = inner
        .strip_prefix("/")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let target = env.path("out");
    env.run(&[
        "restore",
        "latest",
        "--target",
        target.to_str().unwrap(),
        "--include",
        &rel,
    ])
    .success();
    assert_eq!(tree_contents(&inner), tree_contents(&target));
}

#[test]
fn unknown_snapshot_is_a_clear_error() {
    let env = Env::new();
    env.init();
    env.run(&["restore", "deadbeef", "--target", "x"])
        .code(1)
        .stderr(predicate::str::contains("no snapshot matches"));
    env.run(&["ls", "latest-clean"])
        .code(1)
        .stderr(predicate::str::contains("latest-clean"));
}

#[test]
fn ls_and_diff_show_changes() {
    let env = Env::new();
    env.init();
    let src = env.sample_tree("src", 9, 5);
    let (a, _) = env.json(&["backup", src.to_str().unwrap()]);
    env.write("src/added.txt", b"+");
    std::fs::remove_file(src.join("d0/f0.dat")).unwrap();
    env.write("src/d1/f1.dat", b"modified");
    let (b, _) = env.json(&["backup", src.to_str().unwrap()]);
    let a_id = a["snapshot_id"].as_str().unwrap();
    let b_id = b["snapshot_id"].as_str().unwrap();
    let (diff, code) = env.json(&["diff", &a_id[..8], &b_id[..8]]);
    assert_eq!(code, 0);
    let changes = diff["changes"].as_array().unwrap();
    let find = |suffix: &str| {
        changes
            .iter()
            .find(|c| c["path"].as_str().unwrap().ends_with(suffix))
            .map(|c| c["change"].clone())
    };
    assert_eq!(find("added.txt"), Some("added".into()));
    assert_eq!(find("d0/f0.dat"), Some("removed".into()));
    assert_eq!(find("d1/f1.dat"), Some("modified".into()));
    assert_eq!(find("d2/f2.dat"), None, "unchanged files are not listed");
    env.run(&["ls", &b_id[..10]])
        .success()
        .stdout(predicate::str::contains("added.txt"));
}
