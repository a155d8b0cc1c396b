//! `Env`: a fresh temporary directory with a repository path, a password and helpers to run
//! the real `kura` binary (after sharkdp/fd's tests/testenv).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::assert::Assert;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn repo(&self) -> PathBuf {
        self.path("repo")
    }

    /// `kura` with the repository and password set through the environment, cwd = the temp dir.
    pub fn kura(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kura"));
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("KURA_REPOSITORY", self.repo())
            .env("KURA_PASSWORD", PASSWORD);
        // A debugging aid: `KURA_LOG=kura_guard=debug cargo nextest run …` reaches the binary.
        if let Ok(filter) = std::env::var("KURA_LOG") {
            cmd.env("KURA_LOG", filter);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Assert {
        assert_cmd::assert::OutputAssertExt::assert(self.kura().args(args))
    }

    pub fn init(&self) {
        self.run(&["init"]).success();
    }

    /// A fresh repository holding one backup of a sample tree at `src` (see [`Env::sample_tree`]):
    /// the start of most restore, copy and check tests.
    pub fn backed_up(seed: u64, files: usize) -> (Env, PathBuf) {
        let env = Env::new();
        env.init();
        let src = env.sample_tree("src", seed, files);
        env.run(&["backup", src.to_str().expect("utf-8 path")])
            .success();
        (env, src)
    }

    /// Register the folder `rel` (created) as the offline disk `label`; returns its path.
    pub fn add_disk(&self, rel: &str, label: &str) -> PathBuf {
        let disk = self.path(rel);
        std::fs::create_dir_all(&disk).expect("mkdir");
        self.run(&[
            "media",
            "add",
            disk.to_str().expect("utf-8 path"),
            "--label",
            label,
        ])
        .success();
        disk
    }

    /// A hospital-like tree at `rel` with canaries planted in it; returns the tree and the
    /// planted canaries (`canary plant --json`).
    pub fn hospital_with_canaries(&self, rel: &str) -> (PathBuf, serde_json::Value) {
        let src = self.path(rel);
        kura_testkit::tree::hospital_tree(&src, 60, 5).expect("hospital tree");
        let (planted, code) = self.json(&["canary", "plant", src.to_str().expect("utf-8 path")]);
        assert_eq!(code, 0, "{planted}");
        (src, planted)
    }

    /// Run with --json and parse stdout.
    pub fn json(&self, args: &[&str]) -> (serde_json::Value, i32) {
        let out = self
            .kura()
            .arg("--json")
            .args(args)
            .output()
            .expect("run kura");
        let code = out.status.code().unwrap_or(-1);
        let text = String::from_utf8_lossy(&out.stdout);
        let v = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "stdout of {args:?} is not JSON ({e}): {text}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (v, code)
    }

    /// Whether `kura events` lists an open event of this kind.
    pub fn has_event(&self, kind: &str) -> bool {
        let (events, _) = self.json(&["events"]);
        events
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["kind"] == kind))
    }

    /// Write a file (creating parents).
    pub fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, data).expect("write");
        p
    }

    /// A small mixed source tree under `rel`, deterministic from `seed`.
    pub fn sample_tree(&self, rel: &str, seed: u64, files: usize) -> PathBuf {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for i in 0..files {
            let len = rng.random_range(0..20_000);
            let mut data = vec![0u8; len];
            if i % 3 == 0 {
                rng.fill(&mut data[..]);
            } else {
                for b in &mut data {
                    *b = b"abcdefghij \n"[rng.random_range(0..12)];
                }
            }
            self.write(&format!("{rel}/d{}/f{i}.dat", i % 7), &data);
        }
        self.path(rel)
    }
}

/// Assert that the run failed with exit code `code` and printed its error as one line
/// (`kura: error: …`) and nothing else on stderr; returns the message after the prefix.
pub fn error_line(assert: Assert, code: i32) -> String {
    let out = assert.code(code).get_output().clone();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let message = stderr
        .strip_prefix("kura: error: ")
        .and_then(|m| m.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("not one error line: {stderr:?}"));
    assert!(!message.contains('\n'), "more than one line: {stderr:?}");
    message.to_string()
}

/// An absolute path as a snapshot stores it, and as it lies under a restore target: without the
/// leading `/`.
pub fn snapshot_path(path: &Path) -> String {
    path.strip_prefix("/")
        .expect("absolute path")
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

/// Every regular file under `root` (relative path → bytes), plus symlink targets.
pub fn tree_contents(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.expect("walk");
        let rel = entry
            .path()
            .strip_prefix(root)
            .expect("prefix")
            .to_path_buf();
        let ft = entry.file_type();
        if ft.is_symlink() {
            let t = std::fs::read_link(entry.path()).expect("readlink");
            out.push((rel, format!("symlink:{}", t.display()).into_bytes()));
        } else if ft.is_file() {
            out.push((rel, std::fs::read(entry.path()).expect("read")));
        } else {
            out.push((rel, b"dir".to_vec()));
        }
    }
    out
}

/// Names and sizes of every file in a directory tree (to prove a repository was untouched).
pub fn listing(root: &Path) -> Vec<(PathBuf, u64)> {
    walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().to_path_buf(),
                e.metadata().map(|m| m.len()).unwrap_or(0),
            )
        })
        .collect()
}

/// Whether a required external tool is on PATH (the shared policy of kura-testkit: fails under
/// KURA_REQUIRE_TOOLS=1, else says SKIPPED loudly).
pub fn require_tool(name: &str) -> bool {
    kura_testkit::tools::available_or_skip(
        kura_testkit::tools::on_path(name),
        name,
        "scripts/install-deps",
    )
}

/// A small tmpfs mounted at `dir` (a disk that can fill up); unmounted on drop.
pub struct SmallDisk {
    pub dir: PathBuf,
}

impl SmallDisk {
    /// Mount a tmpfs of `mb` MiB, or return None (loudly) when mounting is not permitted.
    pub fn mount(dir: PathBuf, mb: u32) -> Option<SmallDisk> {
        std::fs::create_dir_all(&dir).expect("mkdir");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            if std::env::var("KURA_REQUIRE_TOOLS").as_deref() == Ok("1") {
                panic!("cannot mount a tmpfs (needs root): the full-disk test cannot run");
            }
            eprintln!(
                "!!!!! SKIPPED: cannot mount a tmpfs (needs root); the full-disk test did not run !!!!!"
            );
            return None;
        }
        Some(SmallDisk { dir })
    }

    /// Grow the disk in place (the operator freed space).
    pub fn grow(&self, mb: u32) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={mb}m")])
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount failed");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// `n` MiB of incompressible deterministic bytes.
pub fn noise(n_mib: usize, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v = vec![0u8; n_mib << 20];
    rng.fill(&mut v[..]);
    v
}
