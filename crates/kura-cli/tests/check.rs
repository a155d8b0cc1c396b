//! End-to-end: `kura check`, damage, interrupted backups and repository locking.
mod testenv;

use std::time::{Duration, Instant};

use predicates::prelude::*;
use testenv::Env;

fn pack_files(env: &Env) -> Vec<std::path::PathBuf> {
    walkdir::WalkDir::new(env.repo().join("data"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .collect()
}

#[test]
fn corrupted_pack_is_named_by_read_data_check() {
    let (env, _) = Env::backed_up(11, 20);
    env.run(&["check", "--read-data"])
        .success()
        .stdout(predicate::str::contains("no errors"));
    let pack = pack_files(&env)
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&pack, &bytes).unwrap();
    let name = pack.file_name().unwrap().to_str().unwrap().to_string();
    let out = env.kura().args(["check", "--read-data"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains(&name[..8]),
        "check must name pack {name}: {all}"
    );
}

#[test]
fn lock_held_by_another_process_gives_busy_exit_11() {
    let env = Env::new();
    env.init();
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(env.repo().join("kura.lock"))
        .unwrap();
    lock.lock().unwrap();
    env.run(&["forget", "--keep-last", "1"])
        .code(11)
        .stderr(predicate::str::contains("busy"));
    lock.unlock().unwrap();
    lock.lock_shared().unwrap();
    // A shared holder (e.g. a running backup) still allows snapshots, but not forget.
    env.run(&["snapshots"]).success();
    env.run(&["forget", "--keep-last", "1"]).code(11);
}

#[test]
fn killed_backup_leaves_a_valid_repository_and_next_backup_works() {
    let env = Env::new();
    env.init();
    // Incompressible data large enough that the backup is still running when killed.
    for i in 0..12 {
        let data = kura_testkit::noise::incompressible(0x1234_5678 + i, 16 << 20);
        env.write(&format!("big/f{i}.bin"), &data);
    }
    let src = env.path("big");
    let mut child = env
        .kura()
        .args(["backup", src.to_str().unwrap()])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut killed = false;
    while Instant::now() < deadline {
        if pack_files(&env).len() >= 2 {
            child.kill().unwrap();
            killed = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.wait();
    assert!(
        killed,
        "backup finished before it could be killed; make the data set larger"
    );
    env.run(&["check"]).success();
    if testenv::require_tool("restic") {
        let out = std::process::Command::new("restic")
            .args(["-r", env.repo().to_str().unwrap(), "check", "--no-cache"])
            .env("RESTIC_PASSWORD", testenv::PASSWORD)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "restic check after kill: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (doc, code) = env.json(&["backup", src.to_str().unwrap()]);
    assert_eq!(code, 0, "{doc}");
    env.run(&["check", "--read-data"]).success();
    let target = env.path("out");
    env.run(&["restore", "latest", "--target", target.to_str().unwrap()])
        .success();
    assert_eq!(
        testenv::tree_contents(&src),
        testenv::tree_contents(&target.join(src.strip_prefix("/").unwrap()))
    );
}
