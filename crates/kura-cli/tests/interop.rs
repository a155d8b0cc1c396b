//! Interop with the real `restic` binary (Debian package): restic must verify and restore every
//! kura repository, and kura must read repositories that restic wrote.
mod testenv;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use testenv::{Env, PASSWORD, require_tool, tree_contents};

fn restic(env: &Env, args: &[&str]) -> std::process::Output {
    Command::new("restic")
        .arg("-r")
        .arg(env.repo())
        .arg("--no-cache")
        .args(args)
        .env("RESTIC_PASSWORD", PASSWORD)
        .output()
        .expect("run restic")
}

/// mode, mtime and symlink target of every entry, keyed by relative path.
fn metadata(root: &Path) -> Vec<(String, u32, i64, Option<String>)> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            let m = e.path().symlink_metadata().unwrap();
            let link = e
                .file_type()
                .is_symlink()
                .then(|| std::fs::read_link(e.path()).unwrap().display().to_string());
            // Directory mtimes change when restic/kura create entries after setting them; compare files and links.
            let mtime = if e.file_type().is_dir() { 0 } else { m.mtime() };
            (
                e.path().strip_prefix(root).unwrap().display().to_string(),
                m.mode(),
                mtime,
                link,
            )
        })
        .collect()
}

fn hospital_like_tree(env: &Env) -> std::path::PathBuf {
    let src = env.sample_tree("src", 31, 300);
    env.write(
        "src/患者/山田太郎/アレルギー.txt",
        "ペニシリン系抗菌薬".as_bytes(),
    );
    env.write("src/émigré/naïve café.txt", b"unicode names");
    env.write("src/empty.txt", b"");
    env.write("src/empty2/zero", b"");
    std::os::unix::fs::symlink("患者/山田太郎/アレルギー.txt", src.join("allergy-link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", src.join("dangling")).unwrap();
    std::fs::set_permissions(
        src.join("empty.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    // A 200 MB file (deterministic, incompressible).
    let big = kura_testkit::noise::incompressible(1, 200 << 20);
    env.write("src/dicom/large-study.bin", &big);
    src
}

#[test]
fn restic_verifies_and_restores_a_kura_repository() {
    if !require_tool("restic") {
        return;
    }
    let env = Env::new();
    env.init();
    let src = hospital_like_tree(&env);
    env.run(&["backup", src.to_str().unwrap()]).success();
    let check = restic(&env, &["check", "--read-data"]);
    assert!(
        check.status.success(),
        "restic check --read-data failed: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let target = env.path("restic-out");
    let out = restic(
        &env,
        &["restore", "latest", "--target", target.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "restic restore failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored = target.join(src.strip_prefix("/").unwrap());
    assert_eq!(
        tree_contents(&src),
        tree_contents(&restored),
        "restic restored different bytes"
    );
    assert_eq!(
        metadata(&src),
        metadata(&restored),
        "restic restored different metadata"
    );
}

#[test]
fn kura_reads_and_restores_a_restic_repository() {
    if !require_tool("restic") {
        return;
    }
    let env = Env::new();
    let init = restic(&env, &["init"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let src = env.sample_tree("src", 32, 50);
    env.write("src/カルテ.txt", "処方: アムロジピン".as_bytes());
    std::os::unix::fs::symlink("カルテ.txt", src.join("link")).unwrap();
    let b = restic(&env, &["backup", src.to_str().unwrap()]);
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let (snaps, code) = env.json(&["snapshots"]);
    assert_eq!(code, 0);
    assert_eq!(snaps.as_array().unwrap().len(), 1);
    assert_eq!(snaps[0]["verdict"], "unknown");
    env.run(&["check", "--read-data"]).success();
    let target = env.path("kura-out");
    env.run(&["restore", "latest", "--target", target.to_str().unwrap()])
        .success();
    let restored = target.join(src.strip_prefix("/").unwrap());
    assert_eq!(tree_contents(&src), tree_contents(&restored));
    assert_eq!(metadata(&src), metadata(&restored));
    // kura can add to a restic repository, and restic still accepts it.
    env.write("src/new.txt", b"added by kura");
    env.run(&["backup", src.to_str().unwrap()]).success();
    let check = restic(&env, &["check", "--read-data"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

/// Unpack one of restic's own test repositories (see tests/fixtures/restic/README.md) as the
/// Env's repository.
fn restic_fixture(env: &Env, name: &str) {
    let archive =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/restic/{name}.tar.gz"));
    let out = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(env.dir.path())
        .output()
        .expect("run tar");
    assert!(
        out.status.success(),
        "unpacking {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `kura check --read-data` passes and every snapshot restores byte-identical (contents and
/// metadata) to what `restic restore` writes.
fn checks_and_restores_like_restic(name: &str) {
    if !require_tool("restic") {
        return;
    }
    const FIXTURE_PASSWORD: &str = "geheim";
    let env = Env::new();
    restic_fixture(&env, name);
    let kura = |args: &[&str]| {
        assert_cmd::assert::OutputAssertExt::assert(
            env.kura().env("KURA_PASSWORD", FIXTURE_PASSWORD).args(args),
        )
    };
    let restic = |args: &[&str]| {
        let out = Command::new("restic")
            .arg("-r")
            .arg(env.repo())
            .arg("--no-cache")
            .args(args)
            .env("RESTIC_PASSWORD", FIXTURE_PASSWORD)
            .output()
            .expect("run restic");
        assert!(
            out.status.success(),
            "restic {args:?} on {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    restic(&["check", "--read-data"]);
    kura(&["check", "--read-data"]).success();

    let snapshots: serde_json::Value =
        serde_json::from_slice(&restic(&["snapshots", "--json"])).unwrap();
    let ids: Vec<&str> = snapshots
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(!ids.is_empty(), "{name} has no snapshots");
    for id in ids {
        let by_restic = env.path(&format!("restic-{id}"));
        let by_kura = env.path(&format!("kura-{id}"));
        restic(&["restore", id, "--target", by_restic.to_str().unwrap()]);
        kura(&["restore", id, "--target", by_kura.to_str().unwrap()]).success();
        let contents = tree_contents(&by_restic);
        assert!(contents.len() > 1, "{name} {id}: restic restored nothing");
        assert_eq!(
            contents,
            tree_contents(&by_kura),
            "{name} {id}: kura restored different bytes"
        );
        assert_eq!(
            metadata(&by_restic),
            metadata(&by_kura),
            "{name} {id}: different metadata"
        );
    }
}

#[test]
fn mixed_pack_repository_of_restic_checks_and_restores_like_restic() {
    checks_and_restores_like_restic("repo-mixed");
}

#[test]
fn restic_0_1_repository_checks_and_restores_like_restic() {
    checks_and_restores_like_restic("small-repo");
}

#[test]
fn restic_0_5_repository_checks_and_restores_like_restic() {
    checks_and_restores_like_restic("repo-layout-default");
}

#[test]
fn legacy_index_format_checks_and_restores_like_restic() {
    checks_and_restores_like_restic("legacy-index");
}

/// An SS-MIX2-like tree: many small files, each in its own nested folders, with a few files past
/// the archiver's batch size (1 MiB) among them, empty folders and empty files. The archiver hands
/// these to its threads in batches (vendor patch 0007); the snapshot must not depend on that.
fn many_small_files(env: &Env) -> std::path::PathBuf {
    let mut written = 0;
    for i in 0..1_200_u32 {
        let pid = 10_000_000 + i / 8;
        let dir = format!(
            "src/{:03}/{:03}/{pid}/2026{:02}{:02}/OMP-01",
            pid % 1000,
            pid / 1000 % 1000,
            1 + i % 12,
            1 + i % 28
        );
        let body = format!("MSH|^~\\&|HIS|CLINIC|||20261201||OMP^O09|{i}|P|2.5\rPID|||{pid}\r")
            .repeat(1 + (i as usize % 40));
        env.write(&format!("{dir}/{pid}_OMP-01_{i:08}_1.hl7"), body.as_bytes());
        written += 1;
        if i % 400 == 17 {
            // incompressible, spread over several chunks
            let big = kura_testkit::noise::incompressible(u64::from(i), (3 << 20) / 2 + i as usize);
            env.write(&format!("{dir}/scan-{i}.bin"), &big);
            env.write(&format!("{dir}/empty-{i}.txt"), b"");
            std::fs::create_dir_all(env.path(&format!("{dir}/empty-folder-{i}"))).unwrap();
            written += 2;
        }
    }
    assert!(written > 1_200);
    env.path("src")
}

fn restic_checks_and_restores_the_same(env: &Env, src: &Path, target: &str) {
    let check = restic(env, &["check", "--read-data"]);
    assert!(
        check.status.success(),
        "restic check --read-data failed: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let out = env.path(target);
    let restore = restic(
        env,
        &["restore", "latest", "--target", out.to_str().unwrap()],
    );
    assert!(
        restore.status.success(),
        "{}",
        String::from_utf8_lossy(&restore.stderr)
    );
    let restored = out.join(src.strip_prefix("/").unwrap());
    assert_eq!(
        tree_contents(src),
        tree_contents(&restored),
        "different bytes"
    );
    assert_eq!(metadata(src), metadata(&restored), "different metadata");
}

#[test]
fn many_small_files_in_nested_folders_back_up_as_restic_reads_them() {
    if !require_tool("restic") {
        return;
    }
    let env = Env::new();
    env.init();
    let src = many_small_files(&env);
    let (first, code) = env.json(&["backup", src.to_str().unwrap(), "--no-detect"]);
    assert_eq!(code, 0, "{first}");
    let files = first["files_new"].as_u64().unwrap();
    assert_eq!(files, 1_200 + 2 * 3);
    restic_checks_and_restores_the_same(&env, &src, "first");

    // The nightly case: a few files changed, one added; the rest must match the parent.
    let mut changed = 0;
    for entry in walkdir::WalkDir::new(&src).sort_by_file_name() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with("0_1.hl7") && name.contains("_0000") && name.contains("50_1") {
            let mut data = std::fs::read(entry.path()).unwrap();
            data.extend_from_slice(b"NTE|1||changed\r");
            std::fs::write(entry.path(), data).unwrap();
            changed += 1;
        }
    }
    assert!(changed > 5, "{changed}");
    env.write("src/000/000/new/added.hl7", b"MSH|new\r");
    let (second, code) = env.json(&["backup", src.to_str().unwrap(), "--no-detect"]);
    assert_eq!(code, 0, "{second}");
    assert_eq!(second["parent"], first["snapshot_id"]);
    assert_eq!(second["files_new"], 1);
    assert_eq!(second["files_changed"], changed);
    assert_eq!(second["files_unmodified"], files - changed);
    restic_checks_and_restores_the_same(&env, &src, "second");
}

/// In-run dedup must hold once the indexer's blob ids are spilled to temporary files (debug
/// builds spill every 256 ids): copies of files stored earlier in the same first backup, after
/// two full data packs, are not stored again, and restic reads the result.
#[test]
fn identical_files_dedup_within_a_backup_after_blob_ids_spill_to_disk() {
    if !require_tool("restic") {
        return;
    }
    let env = Env::new();
    env.init();
    let mut originals = Vec::new();
    for i in 0..600_u32 {
        let body = format!("MSH|^~\\&|HIS|CLINIC|||20261201||OMP^O09|{i}|P|2.5\rPID|||{i}\r")
            .repeat(1 + (i as usize % 30))
            .into_bytes();
        originals.push((format!("{:02}/{i:04}.hl7", i / 100), body));
        if i % 9 == 0 {
            // incompressible, one blob each: 67 of them fill most of the first 32 MiB pack
            let scan = kura_testkit::noise::incompressible(u64::from(i), (400 << 10) + i as usize);
            originals.push((format!("{:02}/scan-{i:04}.bin", i / 100), scan));
        }
    }
    for (name, body) in &originals {
        env.write(&format!("src/a/{name}"), body);
        env.write(&format!("src/c/{name}"), body);
    }
    // between the originals (a/) and their copies (c/): two more packs of distinct data, so the
    // originals' ids have reached the indexer (written packs, spilled runs), not only the open
    // pack (a pack whose write lags behind is answered from the packer's in-flight set)
    for i in 0..200_u32 {
        let scan = kura_testkit::noise::incompressible(10_000 + u64::from(i), 400 << 10);
        env.write(&format!("src/b/{i:04}.bin"), &scan);
    }
    let src = env.path("src");
    let (out, code) = env.json(&["backup", src.to_str().unwrap(), "--no-detect"]);
    assert_eq!(code, 0, "{out}");

    let list = restic(&env, &["list", "blobs"]);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let list = String::from_utf8(list.stdout).unwrap();
    let data: Vec<&str> = list.lines().filter(|l| l.starts_with("data ")).collect();
    let unique: std::collections::BTreeSet<&str> = data.iter().copied().collect();
    assert_eq!(unique.len(), data.len(), "a blob was stored twice");
    // every distinct content once: 600 messages + 67 scans in a/ (c/ only copies), 200 in b/
    assert_eq!(data.len(), originals.len() + 200);
    restic_checks_and_restores_the_same(&env, &src, "restored");
}
