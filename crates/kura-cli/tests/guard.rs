//! `kura guard`: the live guard end to end, as root (fanotify). Attackers and benign workloads run
//! as separate processes in their own process groups (this test binary re-executed in a mode),
//! so that the guard's kill can only ever reach them. Every wait is bounded.

mod testenv;

use std::io::BufRead;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use testenv::Env;

fn root_or_skip(what: &str) -> bool {
    kura_testkit::tools::available_or_skip(
        rustix::process::geteuid().is_root(),
        &format!("{what} (the live guard needs root for fanotify)"),
        "run the tests as root (CI does)",
    )
}

/// A running `kura guard watch --json`, in its own process group, killed when dropped.
struct GuardProc {
    child: Child,
    rx: Receiver<Value>,
    seen: Vec<Value>,
    ready: Value,
}

impl GuardProc {
    fn start(env: &Env, share: &Path, extra: &[&str]) -> GuardProc {
        let mut cmd = env.kura();
        cmd.args(["--json", "guard", "watch"])
            .arg(share)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0);
        let mut child = cmd.spawn().expect("spawn kura guard watch");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Anything else on stdout breaks `--json` for its readers: report it.
                let v = serde_json::from_str::<Value>(&line)
                    .unwrap_or_else(|_| serde_json::json!({ "event": "not_json", "line": line }));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut g = GuardProc {
            child,
            rx,
            seen: Vec::new(),
            ready: Value::Null,
        };
        // The first run on a filesystem probes canary names (a few seconds on a busy disk).
        match g.wait_for("ready", Duration::from_secs(120)) {
            Some(r) => g.ready = r,
            None => panic!("the guard did not become ready: {:?}", g.seen),
        }
        g
    }

    /// The next report of this kind within `timeout` (earlier ones already seen count).
    fn wait_for(&mut self, event: &str, timeout: Duration) -> Option<Value> {
        if let Some(i) = self.seen.iter().position(|v| v["event"] == event) {
            return Some(self.seen.remove(i));
        }
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(v) if v["event"] == event => return Some(v),
                Ok(v) => self.seen.push(v),
                Err(_) => return None,
            }
        }
        None
    }

    /// Every report that arrives within `quiet` of the last one (at most `max` in all).
    fn drain(&mut self, quiet: Duration, max: Duration) -> Vec<Value> {
        let end = Instant::now() + max;
        while Instant::now() < end {
            match self.rx.recv_timeout(quiet) {
                Ok(v) => self.seen.push(v),
                Err(_) => break,
            }
        }
        std::mem::take(&mut self.seen)
    }

    /// Reads the reports still queued, stops the guard and checks that every line of its
    /// stdout was JSON (nothing else may write into the `--json` stream).
    fn finish(mut self) {
        let rest = self.drain(Duration::from_millis(500), Duration::from_secs(3));
        drop(self);
        assert!(
            rest.iter().all(|v| v["event"] != "not_json"),
            "stdout is not JSON lines: {rest:?}"
        );
    }
}

impl Drop for GuardProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This test binary again, running `attacker_or_worker` with `vars`, in its own process group.
fn helper(vars: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        "attacker_or_worker",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .process_group(0);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

/// Waits for `child` at most `timeout`; kills it (and fails) if it is still running.
fn wait_bounded(child: &mut Child, timeout: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        if Instant::now() > deadline {
            let _ = rustix::process::kill_process_group(
                rustix::process::Pid::from_child(child),
                rustix::process::Signal::KILL,
            );
            let _ = child.wait();
            panic!("{what} still running after {timeout:?}: the guard did not stop it");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// The helper process: an attacker (KURA_TEST_ATTACK) or a benign workload (KURA_TEST_BENIGN).

#[test]
fn attacker_or_worker() {
    // bench/guard: a share from kura-sim's generator.
    if let Ok(n) = std::env::var("KURA_TEST_GENERATE") {
        let share = PathBuf::from(std::env::var("KURA_TEST_SHARE").expect("share"));
        let seed = std::env::var("KURA_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        let r = kura_sim::tree::hospital_tree(&share, n.parse().expect("files"), seed);
        std::process::exit(i32::from(r.is_err()));
    }
    if let Ok(mode) = std::env::var("KURA_TEST_ATTACK") {
        attack(&mode);
        std::process::exit(0);
    }
    if let Ok(work) = std::env::var("KURA_TEST_BENIGN") {
        let share = PathBuf::from(std::env::var("KURA_TEST_SHARE").expect("share"));
        let seed = 7;
        let r = match work.as_str() {
            "clinic_day" => kura_sim::tree::clinic_day(&share, seed),
            "pacs_ingest" => kura_sim::tree::pacs_ingest(&share, seed),
            "monthly_archive" => kura_sim::tree::monthly_archive(&share, seed),
            "new_scans" => kura_sim::tree::new_scans(&share, seed),
            "reorganise" => kura_sim::tree::reorganise(&share, seed),
            "db_dump_rewrite" => kura_sim::tree::db_dump_rewrite(&share, seed),
            other => panic!("unknown workload {other}"),
        };
        std::process::exit(i32::from(r.is_err()));
    }
}

/// Files under `dir` in the walker's order: `sorted` (names at each level), `readdir` (raw
/// directory order, ext4's hash order) or `random`.
fn walk(dir: &Path, order: &str, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().collect())
        .unwrap_or_default();
    if order == "sorted" {
        entries.sort_by_key(|e| e.file_name());
    }
    for e in entries {
        match e.file_type() {
            Ok(t) if t.is_dir() => walk(&e.path(), order, out),
            Ok(t) if t.is_file() => out.push(e.path()),
            _ => {}
        }
    }
}

fn with_ext(p: &Path, ext: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn word(r: &mut ChaCha8Rng, n: usize) -> String {
    (0..n)
        .map(|_| (b'a' + r.random_range(0..26u8)) as char)
        .collect()
}

/// One attack at full speed (or one file per half second for `slow`); errors (a denied open, a
/// file gone) are skipped, as real encryptors do.
fn attack(mode: &str) {
    let share = PathBuf::from(std::env::var("KURA_TEST_SHARE").expect("share"));
    let order = std::env::var("KURA_TEST_ORDER").unwrap_or_else(|_| "random".into());
    let seed: u64 = std::env::var("KURA_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let worker = std::env::var("KURA_TEST_WORKER")
        .ok()
        .and_then(|w| w.parse::<usize>().ok());
    if std::env::var_os("KURA_TEST_OWN_GROUP").is_some() {
        rustix::process::setpgid(None, None).expect("setpgid");
    }
    if mode.starts_with("workers8") && worker.is_none() {
        // Into the test's cgroup first (the workers inherit it).
        if let Ok(cg) = std::env::var("KURA_TEST_CGROUP") {
            std::fs::write(Path::new(&cg).join("cgroup.procs"), "0").expect("join the cgroup");
        }
        // Eight forked workers in this process group (or, `workers8_setsid`, each in a session
        // of its own, inside one cgroup): one writer for the guard.
        let mut kids: Vec<Child> = (0..8)
            .map(|i| {
                let mut c = Command::new(std::env::current_exe().expect("exe"));
                c.args([
                    "attacker_or_worker",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("KURA_TEST_WORKER", i.to_string())
                .env_remove("KURA_TEST_CGROUP")
                .env_remove("KURA_TEST_OWN_GROUP")
                .stdout(Stdio::null())
                .stderr(Stdio::null());
                c.spawn().expect("worker")
            })
            .collect();
        for k in &mut kids {
            let _ = k.wait();
        }
        return;
    }
    if mode == "workers8_setsid" {
        rustix::process::setsid().expect("setsid");
    }
    let mut files = Vec::new();
    walk(&share, &order, &mut files);
    let mut r = ChaCha8Rng::seed_from_u64(seed ^ worker.unwrap_or(0) as u64);
    if order == "random" {
        files.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    }
    let ext = word(&mut r, 6);
    for (k, f) in files.iter().enumerate() {
        if worker.is_some_and(|w| k % 8 != w) {
            continue;
        }
        let Ok(mut data) = std::fs::read(f) else {
            continue;
        };
        let mut c = kura_sim::attack::Cipher::new(&mut r);
        let _ = match mode {
            "inplace_rename" | "workers8" | "workers8_setsid" => {
                c.apply(&mut data);
                std::fs::write(f, &data)
                    .and_then(|_| std::fs::rename(f, with_ext(f, &ext)))
                    .and_then(|_| {
                        std::fs::write(
                            f.with_file_name(kura_sim::attack::NOTE_NAME),
                            b"All your files are encrypted.\n",
                        )
                    })
            }
            "head4k_ext" => {
                let n = data.len().min(4096);
                c.apply(&mut data[..n]);
                let e = word(&mut r, 5);
                std::fs::write(with_ext(f, &e), &data).and_then(|_| std::fs::remove_file(f))
            }
            "new_delete" => {
                let mut iv = vec![0u8; 16];
                r.fill_bytes(&mut iv);
                c.apply(&mut data);
                iv.extend_from_slice(&data);
                let mut name = word(&mut r, 12);
                if let Some(e) = f.extension().and_then(|e| e.to_str()) {
                    name = format!("{name}.{e}");
                }
                std::fs::write(f.with_file_name(name), &iv).and_then(|_| std::fs::remove_file(f))
            }
            "intermittent" => {
                for stripe in data.chunks_mut(64 * 1024) {
                    let n = stripe.len().min(16 * 1024);
                    c.apply(&mut stripe[..n]);
                }
                std::fs::write(f, &data)
            }
            "header" => {
                let keep = if data.get(128..132) == Some(b"DICM") {
                    132
                } else {
                    16
                }
                .min(data.len());
                c.apply(&mut data[keep..]);
                std::fs::write(f, &data)
            }
            "slow" => {
                c.apply(&mut data);
                let w = std::fs::write(f, &data);
                std::thread::sleep(Duration::from_millis(500));
                w
            }
            other => panic!("unknown attack {other}"),
        };
    }
}

// ---------------------------------------------------------------------------------------------

/// The share's files and contents before the attack (canaries excluded: they are kura's).
fn inventory(share: &Path) -> Inventory {
    let mut files = Vec::new();
    walk(share, "sorted", &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|p| !kura_detect::canary::is_canary_name(p))
        .map(|p| {
            let d = std::fs::read(&p).expect("read");
            (p, d)
        })
        .collect()
}

/// [`lost`], for tests whose result variable is called `lost`.
fn changed_or_gone(inv: &Inventory) -> Vec<PathBuf> {
    lost(inv)
}

/// Files of the inventory that are gone or changed.
fn lost(inv: &Inventory) -> Vec<PathBuf> {
    inv.iter()
        .filter(|(p, d)| std::fs::read(p).ok().as_ref() != Some(d))
        .map(|(p, _)| p.clone())
        .collect()
}

fn share(env: &Env, files: usize, seed: u64) -> PathBuf {
    let s = env.path("share");
    kura_sim::tree::hospital_tree(&s, files, seed).expect("share");
    s
}

type Inventory = Vec<(PathBuf, Vec<u8>)>;

/// This test binary as the writer `mode` over the share `s` (files in `order`, seeded).
fn attacker(mode: &str, s: &Path, order: &str, seed: u64) -> Command {
    helper(&[
        ("KURA_TEST_ATTACK", mode.to_string()),
        ("KURA_TEST_SHARE", s.display().to_string()),
        ("KURA_TEST_ORDER", order.to_string()),
        ("KURA_TEST_SEED", seed.to_string()),
    ])
}

/// Runs one attack against a fresh share under a fresh guard; returns (tripped report, lost).
fn run_attack(env: &Env, mode: &str, order: &str, seed: u64) -> (Value, Vec<PathBuf>) {
    let s = share(env, 300, seed);
    let (trip, lost, _) = run_attack_on(env, &s, mode, order, seed);
    (trip, lost)
}

/// Runs one attack against `s` under a fresh guard; returns (tripped report, lost, inventory).
fn run_attack_on(
    env: &Env,
    s: &Path,
    mode: &str,
    order: &str,
    seed: u64,
) -> (Value, Vec<PathBuf>, Inventory) {
    let s = s.to_path_buf();
    let mut guard = GuardProc::start(env, &s, &[]);
    let inv = inventory(&s);
    let mut attacker = attacker(mode, &s, order, seed).spawn().expect("attacker");
    let limit = if mode == "slow" { 60 } else { 30 };
    let status = wait_bounded(&mut attacker, Duration::from_secs(limit), mode);
    let trip = guard
        .wait_for("tripped", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("{mode}/{order}: no trip; reports {:?}", guard.seen));
    assert_eq!(
        status.signal(),
        Some(9),
        "{mode}/{order}: the attacker was not killed ({status:?}); trip {trip}"
    );
    assert_eq!(trip["action"], "killed", "{trip}");
    // Let the guard read the events still queued from the stopped writer (they complete the
    // incident's damage list), then stop it: the attacker's executable (this test binary) is
    // blocklisted, so the guard denies this process too until it is gone.
    guard.finish();
    let lost = lost(&inv);
    eprintln!(
        "guard {mode}/{order}: {} of {} files lost; {}",
        lost.len(),
        inv.len(),
        trip["reasons"]
    );
    (trip, lost, inv)
}

/// What a test asserts is the stop; how many files an attack costs is measured by bench/guard
/// (median and p95 over runs; target median ≤ 5). On a loaded 2-core machine one run can lose
/// more (the header-keeping attack walking in readdir order once lost 40 of 300 during a full
/// parallel test run), so a test allows a third of the share: a guard that stopped the attacker
/// only at the end of the share still fails.
const MAX_LOST: usize = 100;

#[test]
fn guard_stops_in_place_encryption_with_rename_walking_sorted() {
    if !root_or_skip("guard_stops_in_place_encryption_with_rename_walking_sorted") {
        return;
    }
    let env = Env::new();
    let (trip, lost) = run_attack(&env, "inplace_rename", "sorted", 11);
    assert!(lost.len() <= MAX_LOST, "{} lost", lost.len());
    // Sorted walkers meet the canary first.
    assert!(trip["engines"].to_string().contains("canary"), "{trip}");
}

#[test]
fn guard_stops_head_encryption_with_random_extensions_walking_readdir() {
    if !root_or_skip("guard_stops_head_encryption_with_random_extensions_walking_readdir") {
        return;
    }
    let env = Env::new();
    let (_, lost) = run_attack(&env, "head4k_ext", "readdir", 12);
    assert!(lost.len() <= MAX_LOST, "{} lost", lost.len());
}

#[test]
fn guard_stops_new_file_and_delete_walking_random() {
    if !root_or_skip("guard_stops_new_file_and_delete_walking_random") {
        return;
    }
    let env = Env::new();
    let (_, lost) = run_attack(&env, "new_delete", "random", 13);
    assert!(lost.len() <= MAX_LOST, "{} lost", lost.len());
}

#[test]
fn guard_stops_intermittent_encryption_walking_random() {
    if !root_or_skip("guard_stops_intermittent_encryption_walking_random") {
        return;
    }
    let env = Env::new();
    let (_, lost) = run_attack(&env, "intermittent", "random", 14);
    assert!(lost.len() <= MAX_LOST, "{} lost", lost.len());
}

#[test]
fn guard_stops_header_keeping_encryption_walking_readdir() {
    if !root_or_skip("guard_stops_header_keeping_encryption_walking_readdir") {
        return;
    }
    let env = Env::new();
    let (_, lost) = run_attack(&env, "header", "readdir", 15);
    assert!(lost.len() <= MAX_LOST, "{} lost", lost.len());
}

#[test]
fn guard_stops_eight_forked_workers_as_one_writer() {
    if !root_or_skip("guard_stops_eight_forked_workers_as_one_writer") {
        return;
    }
    let env = Env::new();
    let (_, lost) = run_attack(&env, "workers8", "random", 16);
    assert!(lost.len() <= MAX_LOST, "{} lost", lost.len());
}

/// Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup`, or `…/unified` on a hybrid).
fn cgroup2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        (post.split_whitespace().next() == Some("cgroup2"))
            .then(|| pre.split_whitespace().nth(4).map(PathBuf::from))?
    })
}

/// A transient cgroup the test creates (a `.scope`, as systemd-run would), emptied with
/// `cgroup.kill` and removed when dropped.
struct TestCgroup {
    dir: PathBuf,
    /// Its path inside the hierarchy, as `/proc/PID/cgroup` names it.
    name: String,
}

impl TestCgroup {
    fn new(mount: &Path) -> TestCgroup {
        // Directly under the root of the hierarchy (this test may run in any cgroup).
        let leaf = format!("kura-test-attack-{}.scope", std::process::id());
        let dir = mount.join(&leaf);
        std::fs::create_dir(&dir).expect("create the test cgroup");
        TestCgroup {
            dir,
            name: format!("/{leaf}"),
        }
    }

    fn pids(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("cgroup.freeze"), "0");
        for _ in 0..100 {
            let _ = std::fs::write(self.dir.join("cgroup.kill"), "1");
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn guard_stops_eight_setsid_workers_in_one_cgroup_as_one_writer() {
    if !root_or_skip("guard_stops_eight_setsid_workers_in_one_cgroup_as_one_writer") {
        return;
    }
    let Some(mount) = cgroup2_mount() else {
        kura_testkit::tools::available_or_skip(
            false,
            "guard_stops_eight_setsid_workers_in_one_cgroup_as_one_writer (needs cgroup v2)",
            "mount the cgroup v2 hierarchy",
        );
        return;
    };
    let cg = TestCgroup::new(&mount);
    let env = Env::new();
    let s = share(&env, 300, 23);
    let mut guard = GuardProc::start(&env, &s, &[]);
    let inv = inventory(&s);
    let mut attacker = attacker("workers8_setsid", &s, "random", 23)
        .env("KURA_TEST_CGROUP", &cg.dir)
        .spawn()
        .expect("attacker");
    let status = wait_bounded(&mut attacker, Duration::from_secs(30), "workers8_setsid");
    let trip = guard
        .wait_for("tripped", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no trip; reports {:?}", guard.seen));
    // The parent never writes: it dies only because the whole cgroup was stopped.
    assert_eq!(
        status.signal(),
        Some(9),
        "the attacker's parent was not killed with its cgroup ({status:?}); trip {trip}"
    );
    assert_eq!(trip["action"], "killed", "{trip}");
    assert_eq!(trip["writer"]["cgroup"], cg.name.as_str(), "{trip}");
    let later = guard.drain(Duration::from_millis(500), Duration::from_secs(3));
    let trips = later.iter().filter(|v| v["event"] == "tripped").count();
    assert_eq!(trips, 0, "one writer, one trip: {later:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cg.pids().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        cg.pids(),
        Vec::<String>::new(),
        "every worker of the cgroup is gone"
    );
    drop(guard);
    let lost = lost(&inv);
    eprintln!(
        "guard workers8_setsid in a cgroup: {} of {} files lost",
        lost.len(),
        inv.len()
    );
    assert!(lost.len() <= MAX_LOST, "{} lost", lost.len());
}

#[test]
fn guard_stops_slow_encryption_one_file_per_half_second() {
    if !root_or_skip("guard_stops_slow_encryption_one_file_per_half_second") {
        return;
    }
    let env = Env::new();
    let (_, lost) = run_attack(&env, "slow", "random", 17);
    assert!(lost.len() <= 5, "{} lost", lost.len());
}

/// Every live process of group `pgid` with its state letter from `/proc/PID/stat` (`T` stopped,
/// `t` traced, `Z` exited but not reaped, `R`/`S`/`D` running or able to run).
fn group_states(pgid: i32) -> Vec<(i32, char)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 3 && f[2].parse::<i32>().ok() == Some(pgid) {
            out.push((pid, f[0].chars().next().unwrap_or('?')));
        }
    }
    out
}

/// Size and modification time of each inventory file (`None` when gone): a stat needs no open,
/// so it works while the guard denies this test binary (blocklisted as the attacker's).
fn stats(inv: &Inventory) -> Vec<Option<(u64, i64, i64)>> {
    use std::os::unix::fs::MetadataExt;
    inv.iter()
        .map(|(p, _)| {
            std::fs::symlink_metadata(p)
                .ok()
                .map(|m| (m.size(), m.mtime(), m.mtime_nsec()))
        })
        .collect()
}

/// The cgroup v2 path (`0::` line) of `pid`.
fn cgroup_of(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
}

/// `guard.action = "stop"`: the writer (eight forked workers in one process group) is left
/// frozen for forensics. It stays stopped (state `T`, or frozen in the guard's cgroup; read
/// again and again, and it uses no CPU), is not killed,
/// changes nothing in the share meanwhile, any later open by its process group is denied, and
/// the incident says `stopped`. Then the program that launched it exits: the kernel sends a
/// stopped process group that becomes orphaned SIGHUP and SIGCONT, and an attacker that
/// ignores SIGHUP ran on after a bare SIGSTOP. The guard also froze it in a cgroup of its own,
/// so it still runs nothing. Then the test ends it.
/// SHA-256 (hex) of the file at `p`.
fn sha256_hex(p: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(std::fs::read(p).expect("read"));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// kura.toml with the site's isolate hook (it writes its environment to `out`), and `trusted`
/// writers (`exe`, `sha256`).
fn isolate_config(env: &Env, out: &Path, trusted: &[(&Path, &str)]) {
    let mut toml = format!(
        "[guard]\nisolate_command = [\"/bin/sh\", \"-c\", 'env > \"$0\"; echo isolate hook ran', \"{}\"]\n",
        out.display()
    );
    for (exe, sha) in trusted {
        toml += &format!(
            "[[guard.trusted]]\nexe = \"{}\"\nsha256 = \"{sha}\"\n",
            exe.display()
        );
    }
    std::fs::write(env.path("kura.toml"), toml).expect("config");
}

#[test]
fn guard_reports_a_trusted_writer_without_stopping_it_and_isolates_an_untrusted_one() {
    if !root_or_skip(
        "guard_reports_a_trusted_writer_without_stopping_it_and_isolates_an_untrusted_one",
    ) {
        return;
    }
    let exe = std::fs::canonicalize(std::env::current_exe().expect("test binary")).expect("exe");
    let sha = sha256_hex(&exe);

    // A trusted writer (the EMR's database server, say) that rewrites the share is scored and
    // reported, but never stopped, blocklisted or isolated.
    let env = Env::new();
    let hook_out = env.path("isolated.env");
    isolate_config(&env, &hook_out, &[(&exe, &sha)]);
    let s = share(&env, 300, 61);
    let mut guard = GuardProc::start(&env, &s, &[]);
    let inv = inventory(&s);
    let mut writer = attacker("inplace_rename", &s, "sorted", 61)
        .spawn()
        .expect("writer");
    let status = wait_bounded(&mut writer, Duration::from_secs(60), "trusted writer");
    assert!(
        status.success(),
        "the trusted writer was stopped: {status:?}"
    );
    let trip = guard
        .wait_for("tripped", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no alert on a trusted writer: {:?}", guard.seen));
    assert_eq!(trip["action"], "trusted", "{trip}");
    assert_eq!(trip["sha256"], sha.as_str(), "{trip}");
    assert_eq!(trip["writer"]["exe"], exe.display().to_string(), "{trip}");
    guard.finish();
    assert!(
        lost(&inv).len() > inv.len() / 2,
        "the trusted writer did not run through the share"
    );
    assert!(
        !hook_out.exists(),
        "the isolate hook ran for a trusted writer"
    );
    let (blocked, _) = env.json(&["guard", "blocklist"]);
    assert_eq!(
        blocked,
        serde_json::json!([]),
        "a trusted writer was blocklisted"
    );

    // The same program untrusted: killed, blocklisted, and the site's hook gets the writer.
    let env = Env::new();
    let hook_out = env.path("isolated.env");
    isolate_config(&env, &hook_out, &[]);
    let (trip, _) = run_attack(&env, "inplace_rename", "sorted", 62);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&hook_out).is_ok_and(|t| t.contains("KURA_WRITER_SHA256"))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let hook_env = std::fs::read_to_string(&hook_out).expect("the isolate hook did not run");
    for (k, v) in [
        ("KURA_GUARD_INCIDENT", trip["id"].to_string()),
        ("KURA_GUARD_ACTION", "killed".to_string()),
        ("KURA_WRITER_PID", trip["writer"]["pid"].to_string()),
        ("KURA_WRITER_PGID", trip["writer"]["pgid"].to_string()),
        ("KURA_WRITER_EXE", exe.display().to_string()),
        ("KURA_WRITER_SHA256", sha.clone()),
    ] {
        assert!(
            hook_env.lines().any(|l| l == format!("{k}={v}")),
            "{k}={v} not in the hook's environment:\n{hook_env}"
        );
    }
    let (blocked, _) = env.json(&["guard", "blocklist"]);
    assert_eq!(blocked[0]["sha256"], sha.as_str(), "{blocked}");
}

#[test]
fn guard_action_stop_leaves_the_writer_frozen_and_denied() {
    if !root_or_skip("guard_action_stop_leaves_the_writer_frozen_and_denied") {
        return;
    }
    let env = Env::new();
    env.init();
    let s = share(&env, 300, 18);
    let mut guard = GuardProc::start(&env, &s, &["--action", "stop"]);
    assert_eq!(guard.ready["action"], "stop", "{}", guard.ready);
    let inv = inventory(&s);
    // A dropper (sh) launches the attacker with SIGHUP ignored, prints its pid and stays until
    // its stdin closes; the attacker puts itself into a process group of its own.
    let mut dropper = Command::new("sh");
    dropper
        .args([
            "-c",
            "trap '' HUP; \"$0\" attacker_or_worker --exact --nocapture --test-threads=1 </dev/null >/dev/null 2>&1 & echo $!; read -r _; exit 0",
        ])
        .arg(std::env::current_exe().expect("test binary"))
        .env("KURA_TEST_ATTACK", "workers8")
        .env("KURA_TEST_OWN_GROUP", "1")
        .env("KURA_TEST_SHARE", s.display().to_string())
        .env("KURA_TEST_ORDER", "random")
        .env("KURA_TEST_SEED", "18")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    let mut dropper = dropper.spawn().expect("dropper");
    let dropper_in = dropper.stdin.take().expect("stdin");
    let mut line = String::new();
    std::io::BufReader::new(dropper.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the attacker's pid");
    let pgid: i32 = line.trim().parse().expect("a pid");
    /// Ends the attacker's whole group however the test ends.
    struct KillGroup(i32);
    impl Drop for KillGroup {
        fn drop(&mut self) {
            if let Some(pid) = rustix::process::Pid::from_raw(self.0) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
        }
    }
    let _end = KillGroup(pgid);
    let trip = guard
        .wait_for("tripped", Duration::from_secs(60))
        .unwrap_or_else(|| {
            panic!(
                "no trip (attacker group {:?}); reports {:?}",
                group_states(pgid),
                guard.seen
            )
        });
    assert_eq!(trip["action"], "stopped", "{trip}");
    assert_eq!(trip["writer"]["pgid"], pgid, "{trip}");
    let mount = cgroup2_mount();
    let frozen = format!("/kura-stopped-{pgid}.scope");
    if mount.is_some() {
        assert_eq!(trip["action_errors"], serde_json::json!([]), "{trip}");
        assert_eq!(trip["writer"]["cgroup"], frozen.as_str(), "{trip}");
    }
    let live = |st: &[(i32, char)]| st.iter().filter(|(_, c)| *c != 'Z').count();
    // Held: stopped (`T`), exited (`Z`), or in the guard's frozen cgroup once it reports
    // `frozen 1` (a frozen process shows `S`: on a loaded machine the guard can freeze a worker
    // before it has acted on its SIGSTOP, and a SIGCONT leaves a frozen process frozen).
    let events = mount
        .as_ref()
        .map(|m| m.join(&frozen[1..]).join("cgroup.events"));
    let unheld = |st: &[(i32, char)]| -> Vec<(i32, char)> {
        let cgroup_frozen = events
            .as_ref()
            .and_then(|e| std::fs::read_to_string(e).ok())
            .is_some_and(|e| e.contains("frozen 1"));
        st.iter()
            .filter(|&&(p, c)| {
                !(c == 'T'
                    || c == 'Z'
                    || (cgroup_frozen && cgroup_of(p).as_deref() == Some(frozen.as_str())))
            })
            .copied()
            .collect()
    };
    // CPU the group has used (utime + stime of each process): a held writer uses none.
    let cpu = || -> u64 {
        group_states(pgid)
            .iter()
            .filter_map(|(p, _)| {
                let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
                let f: Vec<u64> = stat[stat.rfind(')')? + 1..]
                    .split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|v| v.parse().ok())
                    .collect();
                Some(f.iter().sum::<u64>())
            })
            .sum()
    };

    // A worker inside an open that waits for the guard's answer stops as soon as the open
    // returns (denied), so the first look allows a bounded wait for every process to be held.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = group_states(pgid);
        if !st.is_empty() && unheld(&st).is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stopped writer's processes are not all held: {st:?}, not held {:?}; trip {trip}",
            unheld(&st)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = stats(&inv);
    let processes = live(&group_states(pgid));
    let used = cpu();
    for look in 0..10 {
        let st = group_states(pgid);
        assert_eq!(
            unheld(&st),
            Vec::new(),
            "look {look}: a process of the stopped writer runs on: {st:?}"
        );
        assert!(
            st.iter().any(|&(p, c)| p == pgid && c != 'Z'),
            "look {look}: the attacker's parent is gone: {st:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(live(&group_states(pgid)), processes, "none was killed");
    assert_eq!(cpu(), used, "the stopped writer used CPU");

    // The dropper exits: the kernel sends the orphaned, stopped group SIGHUP (ignored) and
    // SIGCONT. The frozen cgroup holds every process anyway.
    if mount.is_some() {
        drop(dropper_in);
        let status = wait_bounded(&mut dropper, Duration::from_secs(20), "dropper");
        assert!(status.success(), "{status:?}");
        for look in 0..10 {
            let st = group_states(pgid);
            assert_eq!(
                live(&st),
                processes,
                "look {look} after SIGCONT: a process of the stopped writer ran on and exited: {st:?}"
            );
            assert_eq!(
                unheld(&st),
                Vec::new(),
                "look {look} after SIGCONT: runs on outside the frozen cgroup: {st:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(cpu(), used, "the stopped writer used CPU after SIGCONT");
    }
    assert!(
        stats(&inv) == before,
        "the share changed while the writer was stopped"
    );

    // Any later open by the writer (its process group) is denied; the same program outside it
    // is not (cat is not blocklisted: the attacker's executable is this test binary).
    let target = inv
        .iter()
        .map(|(p, _)| p)
        .find(|p| p.exists())
        .expect("a file the attacker did not reach");
    let cat = |group: i32| {
        let out = Command::new("cat")
            .arg(target)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(group)
            .output()
            .expect("cat");
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (status, err) = cat(pgid);
    assert!(
        !status.success() && err.contains("Operation not permitted"),
        "an open in the stopped writer's group was not denied: {status:?} {err}"
    );
    let (status, err) = cat(0);
    assert!(status.success(), "cat outside the writer: {status:?} {err}");

    let (list, code) = env.json(&["guard", "incidents"]);
    assert_eq!(code, 0, "{list}");
    assert_eq!(list[0]["id"], trip["id"], "{list}");
    assert_eq!(list[0]["action"], "stopped", "{list}");

    // Still there, not running; then the test ends it (SIGKILL ends a frozen process too).
    assert_eq!(live(&group_states(pgid)), processes, "none was killed");
    rustix::process::kill_process_group(
        rustix::process::Pid::from_raw(pgid).expect("pgid"),
        rustix::process::Signal::KILL,
    )
    .expect("SIGKILL the stopped writer");
    let deadline = Instant::now() + Duration::from_secs(20);
    while live(&group_states(pgid)) > 0 {
        assert!(Instant::now() < deadline, "{:?}", group_states(pgid));
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = dropper.kill();
    let _ = dropper.wait();
    if let Some(mount) = &mount {
        let dir = mount.join(&frozen[1..]);
        for _ in 0..250 {
            if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

// ---------------------------------------------------------------------------------------------
// Benign work: never a trip.

/// Runs `cmd` in its own process group to completion (bounded) and asserts it succeeded.
fn run_benign(cmd: Command, what: &str) {
    let status = run_bounded(cmd, what);
    assert!(status.success(), "{what} failed or was stopped: {status:?}");
}

fn run_bounded(mut cmd: Command, what: &str) -> std::process::ExitStatus {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    wait_bounded(&mut child, Duration::from_secs(60), what)
}

/// Runs a benign command under the guard: no trip, and it succeeds.
fn benign_under(guard: &mut GuardProc, cmd: Command, what: &str) {
    let status = run_bounded(cmd, what);
    assert_no_trip(guard, what);
    assert!(status.success(), "{what} failed: {status:?}");
}

fn assert_no_trip(guard: &mut GuardProc, what: &str) {
    let reports = guard.drain(Duration::from_millis(1500), Duration::from_secs(10));
    let trips: Vec<_> = reports.iter().filter(|r| r["event"] == "tripped").collect();
    assert!(trips.is_empty(), "false trip on {what}: {trips:?}");
}

#[test]
fn guard_never_trips_on_hospital_work() {
    if !root_or_skip("guard_never_trips_on_hospital_work") {
        return;
    }
    let env = Env::new();
    let s = share(&env, 300, 21);
    // kura-sim's workloads edit, move and delete files picked at random, decoys included,
    // which no real program does: the canaries are off here and the engines alone judge.
    std::fs::write(env.path("kura.toml"), "[guard]\ncanaries = false\n").expect("config");
    let mut guard = GuardProc::start(&env, &s, &[]);
    for work in [
        "clinic_day",
        "pacs_ingest",
        "new_scans",
        "monthly_archive",
        "reorganise",
        "db_dump_rewrite",
    ] {
        let cmd = helper(&[
            ("KURA_TEST_BENIGN", work.to_string()),
            ("KURA_TEST_SHARE", s.display().to_string()),
        ]);
        benign_under(&mut guard, cmd, work);
    }
}

#[test]
fn guard_never_trips_on_archives_copies_and_kura_itself() {
    if !root_or_skip("guard_never_trips_on_archives_copies_and_kura_itself") {
        return;
    }
    let env = Env::new();
    env.init();
    let s = share(&env, 300, 22);
    let mut guard = GuardProc::start(&env, &s, &[]);
    let dirs: Vec<PathBuf> = std::fs::read_dir(&s)
        .expect("ls")
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    let first = dirs.first().expect("a folder").clone();
    let name = first
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();

    let mut tar = Command::new("tar");
    tar.arg("czf")
        .arg(s.join("archive.tar.gz"))
        .arg("-C")
        .arg(&s)
        .arg(&name);
    benign_under(&mut guard, tar, "tar czf");

    let mut cp = Command::new("cp");
    cp.arg("-a").arg(&first).arg(s.join(format!("{name}_copy")));
    benign_under(&mut guard, cp, "cp -a");

    if kura_testkit::tools::on_path("zip") {
        // Archiving a folder into a zip, then deleting the originals.
        let mut zip = Command::new("sh");
        zip.current_dir(&s).arg("-c").arg(format!(
            "zip -qr {name}_old.zip {name}_copy && rm -r {name}_copy"
        ));
        benign_under(&mut guard, zip, "zip + delete originals");
    }

    let mut backup = env.kura();
    backup.args(["backup"]).arg(&s);
    benign_under(&mut guard, backup, "kura backup");
    let mut restore = env.kura();
    restore
        .args(["restore", "latest", "--target"])
        .arg(s.join("restored"));
    benign_under(&mut guard, restore, "kura restore");
}

// ---------------------------------------------------------------------------------------------
// Faults.

#[test]
fn guard_watch_without_root_exits_1_with_one_line() {
    if !root_or_skip("guard_watch_without_root_exits_1_with_one_line") {
        return;
    }
    // A folder every user can enter, holding the kura binary (hard link, else a copy), since
    // the build directory may sit under root's home.
    let dir = tempfile::Builder::new()
        .prefix("kura-guard-noroot")
        .tempdir()
        .expect("tempdir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let state = dir.path().join("state");
    std::fs::create_dir(&state).expect("mkdir");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let exe = dir.path().join("kura");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_kura"), &exe).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_kura"), &exe).expect("copy kura");
    }
    let out = Command::new(&exe)
        .args(["guard", "watch"])
        .arg(dir.path())
        .current_dir("/")
        .env_clear()
        .env("HOME", dir.path())
        .env("KURA_STATE_DIR", &state)
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run as nobody");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("root"), "{err}");
}

#[test]
fn guard_reports_queue_overflow_as_event_and_audit_record() {
    if !root_or_skip("guard_reports_queue_overflow_as_event_and_audit_record") {
        return;
    }
    let env = Env::new();
    let s = share(&env, 50, 31);
    let mut guard = GuardProc::start(&env, &s, &[]);
    let pid = rustix::process::Pid::from_child(&guard.child);
    // A stopped guard reads nothing: flood its queue (16384 events) from a folder on the same
    // filesystem but outside the share, so no open waits for the stopped permission thread.
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).expect("SIGSTOP guard");
    let flood = env.path("flood");
    std::fs::create_dir(&flood).expect("mkdir");
    let mut cur = flood.join("f0");
    std::fs::write(&cur, b"x").expect("write");
    for i in 1..20_000 {
        let next = flood.join(format!("f{i}"));
        std::fs::rename(&cur, &next).expect("rename");
        cur = next;
    }
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).expect("SIGCONT guard");
    let ov = guard.wait_for("overflow", Duration::from_secs(30));
    assert!(ov.is_some(), "no overflow report: {:?}", guard.seen);
    drop(guard);
    let (records, _) = env.json(&["audit", "log", "--action", "guard.queue_overflow"]);
    assert!(
        records.as_array().is_some_and(|a| !a.is_empty()),
        "{records}"
    );
    assert!(env.has_event("guard_queue_overflow"));
}

fn canaries_of(ready: &Value) -> Vec<PathBuf> {
    ready["canaries"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["files"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .collect()
}

#[test]
fn guard_trips_on_a_canary_renamed_by_a_writer_already_gone() {
    if !root_or_skip("guard_trips_on_a_canary_renamed_by_a_writer_already_gone") {
        return;
    }
    let env = Env::new();
    let s = share(&env, 50, 32);
    let mut guard = GuardProc::start(&env, &s, &[]);
    let canary = canaries_of(&guard.ready)
        .into_iter()
        .next()
        .expect("a canary");
    let pid = rustix::process::Pid::from_child(&guard.child);
    // A rename needs no open, so the stopped guard blocks nothing; the writer is gone by the
    // time the guard reads the event.
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).expect("SIGSTOP guard");
    let mut mv = Command::new("mv");
    mv.arg(&canary).arg(with_ext(&canary, "locked"));
    run_benign(mv, "mv canary");
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).expect("SIGCONT guard");
    let trip = guard
        .wait_for("tripped", Duration::from_secs(10))
        .expect("a trip");
    assert_eq!(trip["action"], "writer_gone", "{trip}");
    assert!(trip["engines"].to_string().contains("canary"), "{trip}");
    assert!(
        guard.child.try_wait().expect("wait").is_none(),
        "the guard keeps running"
    );
    // The canary is planted again.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !canary.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(canary.exists(), "canary re-planted");
}

#[test]
fn killed_guard_leaves_opens_working() {
    if !root_or_skip("killed_guard_leaves_opens_working") {
        return;
    }
    let env = Env::new();
    let s = share(&env, 20, 33);
    let mut guard = GuardProc::start(&env, &s, &[]);
    let _ = guard.child.kill();
    let _ = guard.child.wait();
    let file = {
        let mut v = Vec::new();
        walk(&s, "sorted", &mut v);
        v.into_iter().last().expect("a file")
    };
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::read(&file).is_ok() && std::fs::write(&file, b"edited").is_ok());
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)),
        Ok(true),
        "an open in the watched share hung or failed after the guard was killed"
    );
}

// ---------------------------------------------------------------------------------------------
// Which opens wait for the guard: each file's own mark, folder marks only while the blocklist is
// not empty. Read from the guard's fanotify fds in /proc (fdinfo lists every inode mark).

const FAN_OPEN_PERM: u64 = 0x0001_0000;
const FAN_EVENT_ON_CHILD: u64 = 0x0800_0000;

/// The lines of `/proc/PID/fdinfo` of every fanotify group of process `pid` (one per mark).
fn fanotify_fdinfo_lines(pid: u32) -> Vec<String> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|l| l == Path::new("anon_inode:[fanotify]"))
        })
        .flat_map(|fd| {
            let info = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
            let text = std::fs::read_to_string(info).unwrap_or_default();
            text.lines().map(str::to_string).collect::<Vec<_>>()
        })
        .collect()
}

/// The hexadecimal value of field `name` (e.g. `mask:`) of one fdinfo line.
fn fdinfo_field(line: &str, name: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name))
        .and_then(|v| u64::from_str_radix(v, 16).ok())
}

/// (inode, mask) of every inode mark of the fanotify groups of process `pid`.
fn fanotify_marks(pid: u32) -> Vec<(u64, u64)> {
    fanotify_fdinfo_lines(pid)
        .iter()
        .filter_map(|l| Some((fdinfo_field(l, "ino:")?, fdinfo_field(l, "mask:")?)))
        .collect()
}

const FAN_CREATE: u64 = 0x0000_0100;

/// The masks of the filesystem marks (`FAN_MARK_FILESYSTEM`) of the fanotify groups of `pid`.
fn filesystem_mark_masks(pid: u32) -> Vec<u64> {
    fanotify_fdinfo_lines(pid)
        .iter()
        // Inode marks print `ino:` first, mount marks `mnt_id:`: a filesystem mark starts with
        // `sdev:`.
        .filter(|l| l.starts_with("fanotify sdev:"))
        .filter_map(|l| fdinfo_field(l, "mask:"))
        .collect()
}

/// Waits (bounded) until the guard's filesystem mark asks for `FAN_CREATE` (`on`) or not.
fn creates_watched_until(guard: &GuardProc, on: bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let masks = filesystem_mark_masks(guard.child.id());
        if !masks.is_empty() && masks.iter().all(|m| (m & FAN_CREATE != 0) == on) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "filesystem mark with FAN_CREATE {on}: masks {masks:x?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ino(p: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).expect("stat"))
}

/// Waits (bounded) until `ok` holds for the guard's marks.
fn marks_until(guard: &GuardProc, what: &str, ok: impl Fn(&[(u64, u64)]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let marks = fanotify_marks(guard.child.id());
        if ok(&marks) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: marks {marks:x?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn has_open_mark(marks: &[(u64, u64)], p: &Path) -> bool {
    let i = ino(p);
    marks.iter().any(|&(n, m)| n == i && m & FAN_OPEN_PERM != 0)
}

fn has_folder_mark(marks: &[(u64, u64)], p: &Path) -> bool {
    let i = ino(p);
    marks
        .iter()
        .any(|&(n, m)| n == i && m & FAN_OPEN_PERM != 0 && m & FAN_EVENT_ON_CHILD != 0)
}

#[test]
fn guard_checks_opens_of_existing_and_new_files_without_folder_marks() {
    if !root_or_skip("guard_checks_opens_of_existing_and_new_files_without_folder_marks") {
        return;
    }
    let env = Env::new();
    let s = share(&env, 20, 51);
    let guard = GuardProc::start(&env, &s, &[]);
    assert_eq!(guard.ready["marked_dirs"], 0, "{}", guard.ready);
    assert!(
        guard.ready["marked_files"].as_u64() >= Some(20),
        "{}",
        guard.ready
    );
    // No create events while no folder-wide mark is armed: a new file is learned from its
    // close after writing alone, even one closed without a byte written (`touch`).
    creates_watched_until(&guard, false);
    let touched = s.join("touched-after-start.txt");
    run_benign(
        {
            let mut c = Command::new("touch");
            c.arg(&touched);
            c
        },
        "touch",
    );
    let mut existing = Vec::new();
    walk(&s, "sorted", &mut existing);
    // A new file, a file in a new folder, and a folder moved in from outside the share.
    let new = s.join("new-after-start.txt");
    std::fs::write(&new, b"written after the guard started").expect("write");
    std::fs::create_dir(s.join("new-folder")).expect("mkdir");
    let nested = s.join("new-folder").join("inner.txt");
    std::fs::write(&nested, b"inner").expect("write");
    let outside = env.path("outside");
    std::fs::create_dir_all(outside.join("sub")).expect("mkdir");
    std::fs::write(outside.join("sub").join("moved.txt"), b"moved in").expect("write");
    std::fs::rename(&outside, s.join("moved-in")).expect("rename");
    let moved = s.join("moved-in").join("sub").join("moved.txt");
    marks_until(
        &guard,
        "every file checked on open, no folder-wide mark",
        |m| {
            existing.iter().all(|p| has_open_mark(m, p))
                && [&new, &nested, &moved, &touched]
                    .iter()
                    .all(|p| has_open_mark(m, p))
                && !has_folder_mark(m, &s)
        },
    );
}

#[test]
fn guard_checks_every_open_while_a_writer_is_a_suspect() {
    // The SMB pattern (new ciphertext file, original deleted) by a writer the guard only
    // reports (`alert`): once it is a suspect, its creating opens must wait for the guard as
    // well, so the folder-wide open marks come on although the blocklist is empty.
    if !root_or_skip("guard_checks_every_open_while_a_writer_is_a_suspect") {
        return;
    }
    let env = Env::new();
    let s = share(&env, 20, 53);
    let mut guard = GuardProc::start(&env, &s, &["--action", "alert"]);
    assert_eq!(guard.ready["marked_dirs"], 0, "{}", guard.ready);
    let mut files = Vec::new();
    walk(&s, "sorted", &mut files);
    // Data files only: a canary would trip on its own.
    let canaries = guard.ready["canaries"].to_string();
    files.retain(|f| !canaries.contains(&*f.to_string_lossy()));
    let mut r = ChaCha8Rng::seed_from_u64(53);
    // A child process is the writer, so the test's own opens never wait on the guard.
    let mut script = String::new();
    for original in files.iter().take(3) {
        let mut data = std::fs::read(original).expect("read");
        kura_sim::attack::Cipher::new(&mut r).apply(&mut data);
        let staged = env.path(&format!("staged-{}", script.len()));
        std::fs::write(&staged, data).expect("stage");
        script.push_str(&format!(
            "cat '{}' > '{}.locked' && rm '{}'\n",
            staged.display(),
            original.display(),
            original.display()
        ));
    }
    let status = Command::new("sh")
        .args(["-c", &script])
        .status()
        .expect("sh");
    assert!(status.success());
    let trip = guard
        .wait_for("tripped", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no trip: {:?}", guard.seen));
    assert_eq!(trip["action"], "alerted", "{trip}");
    marks_until(
        &guard,
        "a folder-wide open mark while a writer is a suspect",
        |m| has_folder_mark(m, &s),
    );
}

#[test]
fn guard_denies_a_blocklisted_program_even_a_new_file_until_it_is_removed() {
    if !root_or_skip("guard_denies_a_blocklisted_program_even_a_new_file_until_it_is_removed") {
        return;
    }
    let env = Env::new();
    // A copy of dd stands for an executable stopped earlier.
    let evil = env.path("evil-dd");
    let dd = ["/usr/bin/dd", "/bin/dd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("dd");
    std::fs::copy(dd, &evil).expect("copy dd");
    let sha = kura_guard::sha256_file(&evil).expect("sha256");
    let state = env.path(".local/state/kura");
    kura_guard::block(
        &state,
        kura_guard::BlockEntry {
            sha256: sha.clone(),
            exe: Some(evil.clone()),
            incident: 1,
            added: jiff::Timestamp::now(),
        },
    )
    .expect("blocklist");
    let s = share(&env, 20, 52);
    let guard = GuardProc::start(&env, &s, &[]);
    assert!(
        guard.ready["marked_dirs"].as_u64() >= Some(1),
        "{}",
        guard.ready
    );
    // While every open is checked, create events come too (a new folder is marked at once).
    creates_watched_until(&guard, true);
    let dd_to = |target: &Path, extra: &[&str]| {
        let mut cmd = Command::new(&evil);
        cmd.arg("if=/dev/zero")
            .arg(format!("of={}", target.display()))
            .args(["bs=1k", "count=1"])
            .args(extra);
        run_bounded(cmd, "blocklisted dd")
    };
    let mut existing = Vec::new();
    walk(&s, "sorted", &mut existing);
    let victim = existing.last().expect("a file").clone();
    let before = std::fs::read(&victim).expect("read");
    assert!(!dd_to(&victim, &["conv=notrunc"]).success());
    assert_eq!(
        std::fs::read(&victim).expect("read"),
        before,
        "{}",
        victim.display()
    );
    let new = s.join("written-by-blocklisted.bin");
    assert!(!dd_to(&new, &[]).success());
    assert_eq!(
        std::fs::metadata(&new).map(|m| m.len()).unwrap_or(0),
        0,
        "a blocklisted program wrote a new file"
    );
    // Off the blocklist: within a few seconds the folder marks go and it may write again.
    env.run(&["guard", "blocklist", "--remove", &sha]).success();
    marks_until(&guard, "folder marks taken back", |m| {
        !has_folder_mark(m, &s)
    });
    creates_watched_until(&guard, false);
    let again = s.join("written-after-removal.bin");
    assert!(dd_to(&again, &[]).success());
    assert_eq!(std::fs::metadata(&again).expect("stat").len(), 1024);
}

#[test]
fn guard_trips_on_a_canary_write_before_the_writer_closes_it() {
    if !root_or_skip("guard_trips_on_a_canary_write_before_the_writer_closes_it") {
        return;
    }
    let env = Env::new();
    let s = share(&env, 20, 53);
    let mut guard = GuardProc::start(&env, &s, &[]);
    let canary = canaries_of(&guard.ready)
        .into_iter()
        .next()
        .expect("a canary");
    // One byte written through an fd that stays open: only the write itself can trip.
    let mut writer = Command::new("sh")
        .args(["-c", "exec 3<>\"$1\"; printf x >&3; exec sleep 120", "sh"])
        .arg(&canary)
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn sh");
    let trip = guard.wait_for("tripped", Duration::from_secs(60));
    assert!(trip.is_some(), "no trip: {:?}", guard.seen);
    let status = wait_bounded(&mut writer, Duration::from_secs(30), "canary writer");
    assert_eq!(status.signal(), Some(9), "killed: {status:?}");
}

// ---------------------------------------------------------------------------------------------
// After a trip: incidents, targeted restore, the hold on forget, release, blocklist, status.

/// The nightly timer around a stopped attack, over days: clean backup, attack (stopped by the
/// guard), the night's backup, the next night's, `restore latest-clean --incident` in place and
/// the attacker's files removed, release, the next backup. latest-clean must never become a
/// generation holding damaged files, and the share must end as it was before the attack.
#[test]
fn nights_after_a_stopped_attack_keep_latest_clean_before_it_and_recover_the_share() {
    if !root_or_skip(
        "nights_after_a_stopped_attack_keep_latest_clean_before_it_and_recover_the_share",
    ) {
        return;
    }
    let env = Env::new();
    env.init();
    let s = share(&env, 300, 71);
    let src = s.to_str().expect("utf-8");
    let (day0, code) = env.json(&["backup", src]);
    assert_eq!(code, 0, "{day0}");
    // The newest clean generation (its time: an id changes when kura rewrites a snapshot).
    let latest_clean = || {
        let (list, code) = env.json(&["snapshots"]);
        assert_eq!(code, 0, "{list}");
        list.as_array()
            .and_then(|a| a.iter().rev().find(|s| s["verdict"] == "clean").cloned())
            .unwrap_or_else(|| panic!("no clean generation: {list}"))
    };
    let clean = latest_clean();
    let (trip, lost, inv) = run_attack_on(&env, &s, "inplace_rename", "random", 72);
    assert!(
        !lost.is_empty(),
        "the random walker damages something first"
    );
    let id = trip["id"].as_u64().expect("id").to_string();
    for night in ["night 1", "night 2"] {
        let (doc, code) = env.json(&["backup", src]);
        eprintln!("{night}: verdict {} (exit {code})", doc["verdict"]);
        assert_eq!(
            latest_clean()["time"],
            clean["time"],
            "{night}: latest-clean moved past the attack: {doc}"
        );
    }
    let (rep, code) = env.json(&["restore", "latest-clean", "--incident", &id, "--in-place"]);
    assert_eq!(code, 0, "{rep}");
    assert_eq!(rep["snapshot"], latest_clean()["id"], "{rep}");
    for f in rep["remove"].as_array().expect("remove") {
        let _ = std::fs::remove_file(f.as_str().expect("path"));
    }
    assert!(
        changed_or_gone(&inv).is_empty(),
        "after the restore nothing of the pre-attack share is lost"
    );
    env.run(&["guard", "release", &id]).success();
    let (day3, code) = env.json(&["backup", src]);
    assert_eq!(code, 0, "the first backup after recovery is clean: {day3}");
    assert_eq!(day3["verdict"], "clean", "{day3}");
}

#[test]
fn incident_lists_damage_restores_exactly_it_and_holds_forget_until_released() {
    if !root_or_skip("incident_lists_damage_restores_exactly_it_and_holds_forget_until_released") {
        return;
    }
    let env = Env::new();
    env.init();
    // As many files as the attack tests: on a loaded CI machine a full-speed attacker once
    // finished a 150-file share before the guard had caught up with its events.
    let s = share(&env, 300, 41);
    env.run(&["backup", s.to_str().expect("utf-8")]).success();
    let (trip, lost, inv) = run_attack_on(&env, &s, "inplace_rename", "random", 42);
    assert!(
        !lost.is_empty(),
        "the random walker damages something first"
    );
    let id = trip["id"].as_u64().expect("id");
    let mut now = Vec::new();
    walk(&s, "sorted", &mut now);
    let created: Vec<PathBuf> = now
        .into_iter()
        .filter(|p| !kura_detect::canary::is_canary_name(p) && !inv.iter().any(|(q, _)| q == p))
        .collect();
    let (list, code) = env.json(&["guard", "incidents"]);
    assert_eq!(code, 0);
    let inc = &list[0];
    assert_eq!(inc["id"], id);
    let damaged: Vec<String> = serde_json::from_value(inc["damaged"].clone()).expect("list");
    for l in &lost {
        assert!(
            damaged.contains(&l.display().to_string()),
            "{} lost but not in the damage list {damaged:?}",
            l.display()
        );
    }

    let out = env.path("out");
    let (rep, code) = env.json(&[
        "restore",
        "latest",
        "--incident",
        &id.to_string(),
        "--target",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{rep}");
    let restored: Vec<String> = serde_json::from_value(rep["restored"].clone()).expect("list");
    for l in &lost {
        let rel = l.strip_prefix("/").expect("absolute");
        let orig = inv.iter().find(|(p, _)| p == l).map(|(_, d)| d.clone());
        assert_eq!(
            std::fs::read(out.join(rel)).ok(),
            orig,
            "{} restored byte for byte",
            l.display()
        );
    }
    assert!(restored.len() >= lost.len(), "{rep}");
    // Every file the attacker created (renamed copies, notes) is listed for removal. A guard
    // that stops the attacker between its first write and its rename leaves none.
    let remove: Vec<String> = serde_json::from_value(rep["remove"].clone()).expect("list");
    for c in &created {
        assert!(
            remove.contains(&c.display().to_string()),
            "{} created by the attacker but not listed for removal: {rep}",
            c.display()
        );
    }

    // Someone edits a damaged file after the incident (here: writes it again at its path).
    let edited = lost[0].clone();
    std::fs::write(&edited, b"edited after the incident").expect("edit");

    // --in-place puts exactly the damaged files back where they were, and keeps the later
    // edit aside (never deleted), under the watched root.
    let (rep, code) = env.json(&[
        "restore",
        "latest",
        "--incident",
        &id.to_string(),
        "--in-place",
    ]);
    assert_eq!(code, 0, "{rep}");
    assert!(
        changed_or_gone(&inv).is_empty(),
        "after an in-place restore nothing of the inventory is lost"
    );
    let kept = rep["kept_aside"].as_array().expect("kept_aside");
    assert_eq!(
        kept.len(),
        1,
        "only the file changed after the incident is kept aside: {rep}"
    );
    assert_eq!(kept[0]["path"], edited.display().to_string(), "{rep}");
    let at = PathBuf::from(kept[0]["kept_at"].as_str().expect("kept_at"));
    assert!(
        at.starts_with(s.join(".kura-replaced").join(id.to_string())),
        "{}",
        at.display()
    );
    assert_eq!(
        std::fs::read(&at).expect("kept file"),
        b"edited after the incident"
    );

    // forget is paused until the incident is released (audited).
    let message = testenv::error_line(env.run(&["forget", "--keep-last", "1"]), 21);
    assert!(
        message.starts_with(&format!(
            "forget and prune are paused: guard incident {id} ("
        )),
        "{message}"
    );
    assert!(
        message.ends_with(&format!("holds every generation until someone runs `kura guard release {id}` after looking at it")),
        "{message}"
    );
    env.run(&["guard", "release", &id.to_string()]).success();
    env.run(&["forget", "--keep-last", "1"]).success();
    let (records, _) = env.json(&["audit", "log", "--action", "guard.release"]);
    assert!(
        records.as_array().is_some_and(|a| a.len() == 1),
        "{records}"
    );

    // The attacker's executable (this test binary) was blocklisted; remove it.
    let (bl, _) = env.json(&["guard", "blocklist"]);
    let sha = bl[0]["sha256"].as_str().expect("blocked").to_string();
    env.run(&["guard", "blocklist", "--remove", &sha]).success();
    let (bl, _) = env.json(&["guard", "blocklist"]);
    assert_eq!(bl, serde_json::json!([]));

    let (status, _) = env.json(&["status"]);
    assert_eq!(status["guard"]["last_trip"]["incident"], id, "{status}");
    assert_eq!(status["guard"]["running"], false);
}

// ---------------------------------------------------------------------------------------------
// Samba: smbd in a network namespace of its own, the client in another (a veth pair with
// addresses that exist only inside the two namespaces).

struct SmbLab {
    srv: String,
    /// One network namespace per client, each with a veth pair of its own into `srv`.
    clis: Vec<String>,
    net: u32,
    smbd: Option<Child>,
}

impl SmbLab {
    fn ip(args: &[&str]) {
        let st = Command::new("ip").args(args).status().expect("ip");
        assert!(st.success(), "ip {args:?} failed");
    }

    /// smbd serving `share` in a namespace of its own, and `clients` client namespaces: client
    /// `i` is `10.233.NET.(4i+2)` and reaches the server at `10.233.NET.(4i+1)` (a /30 each).
    fn new(dir: &Path, share: &Path, clients: usize) -> SmbLab {
        let tag = std::process::id() % 100_000;
        let net = std::process::id() % 200 + 20;
        let mut lab = SmbLab {
            srv: format!("kg{tag}s"),
            clis: Vec::new(),
            net,
            smbd: None,
        };
        Self::ip(&["netns", "add", &lab.srv]);
        Self::ip(&["-n", &lab.srv, "link", "set", "lo", "up"]);
        let mut interfaces = Vec::new();
        for i in 0..clients {
            let cli = format!("kg{tag}c{i}");
            Self::ip(&["netns", "add", &cli]);
            lab.clis.push(cli.clone());
            let (va, vb) = (format!("kg{tag}a{i}"), format!("kg{tag}b{i}"));
            Self::ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb]);
            Self::ip(&["link", "set", &va, "netns", &lab.srv]);
            Self::ip(&["link", "set", &vb, "netns", &cli]);
            let srv_addr = format!("{}/30", lab.server_ip(i));
            Self::ip(&["-n", &lab.srv, "addr", "add", &srv_addr, "dev", &va]);
            let cli_addr = format!("{}/30", lab.client_ip(i));
            Self::ip(&["-n", &cli, "addr", "add", &cli_addr, "dev", &vb]);
            Self::ip(&["-n", &lab.srv, "link", "set", &va, "up"]);
            Self::ip(&["-n", &cli, "link", "set", &vb, "up"]);
            Self::ip(&["-n", &cli, "link", "set", "lo", "up"]);
            interfaces.push(srv_addr);
        }
        let d = |n: &str| {
            let p = dir.join(n);
            std::fs::create_dir_all(&p).expect("mkdir");
            p.display().to_string()
        };
        let conf = format!(
            "[global]\n server role = standalone server\n map to guest = Bad User\n private dir = {}\n lock directory = {}\n state directory = {}\n cache directory = {}\n pid directory = {}\n ncalrpc dir = {}\n log file = {}/log.%m\n interfaces = {}\n bind interfaces only = yes\n smb ports = 445\n disable netbios = yes\n load printers = no\n printing = bsd\n printcap name = /dev/null\n disable spoolss = yes\n[share]\n path = {}\n read only = no\n guest ok = yes\n force user = root\n",
            d("private"),
            d("lock"),
            d("state"),
            d("cache"),
            d("pid"),
            d("ncalrpc"),
            d("log"),
            interfaces.join(" "),
            share.display()
        );
        std::fs::write(dir.join("smb.conf"), conf).expect("smb.conf");
        lab.smbd = Some(
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &lab.srv,
                    "smbd",
                    "--foreground",
                    "--no-process-group",
                    "-s",
                ])
                .arg(dir.join("smb.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("smbd"),
        );
        // Bounded wait until smbd answers every client.
        let deadline = Instant::now() + Duration::from_secs(20);
        for i in 0..clients {
            loop {
                if lab.client_on(i, dir, "ls", 10).is_ok_and(|s| s.success()) {
                    break;
                }
                assert!(Instant::now() < deadline, "smbd did not start");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        lab
    }

    /// smbclient as client `i`, in its namespace, to the share (stdin and stderr up to the
    /// caller).
    fn smbclient(&self, i: usize, dir: &Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.clis[i], "smbclient"])
            .arg(format!("//{}/share", self.server_ip(i)))
            .args(["-N", "-s"])
            .arg(dir.join("smb.conf"))
            .stdout(Stdio::null())
            .process_group(0);
        cmd
    }

    /// smbclient as the first client running `commands`, bounded.
    fn client(
        &self,
        dir: &Path,
        commands: &str,
        secs: u64,
    ) -> std::io::Result<std::process::ExitStatus> {
        self.client_on(0, dir, commands, secs)
    }

    /// smbclient as client `i` running `commands`, bounded (killed after `secs`).
    fn client_on(
        &self,
        i: usize,
        dir: &Path,
        commands: &str,
        secs: u64,
    ) -> std::io::Result<std::process::ExitStatus> {
        let mut cmd = self.smbclient(i, dir);
        cmd.args(["-c", commands])
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn()?;
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = child.try_wait()? {
                return Ok(s);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return child.wait();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn server_ip(&self, i: usize) -> String {
        format!("10.233.{}.{}", self.net, 4 * i + 1)
    }

    fn client_ip(&self, i: usize) -> String {
        format!("10.233.{}.{}", self.net, 4 * i + 2)
    }

    fn net(&self) -> u32 {
        self.net
    }

    /// Whether smbd itself still runs.
    fn smbd_running(&mut self) -> bool {
        self.smbd
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// The elements of kura's nftables set in the server's namespace.
    fn blocked(&self) -> String {
        let set = Command::new("ip")
            .args([
                "netns", "exec", &self.srv, "nft", "list", "set", "inet", "kura", "blocked",
            ])
            .output()
            .expect("nft");
        String::from_utf8_lossy(&set.stdout).into_owned()
    }
}

impl Drop for SmbLab {
    fn drop(&mut self) {
        if let Some(mut s) = self.smbd.take() {
            let _ = rustix::process::kill_process_group(
                rustix::process::Pid::from_child(&s),
                rustix::process::Signal::TERM,
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            while s.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = s.kill();
            let _ = s.wait();
        }
        for ns in std::iter::once(&self.srv).chain(&self.clis) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Samba, smbclient and nftables are there (else a clear skip, a failure under
/// KURA_REQUIRE_TOOLS=1).
fn smb_tools_or_skip(name: &str) -> bool {
    let tools = ["smbd", "smbclient", "smbcontrol", "nft", "nsenter", "ip"];
    kura_testkit::tools::available_or_skip(
        tools.iter().all(|t| kura_testkit::tools::on_path(t)),
        &format!("{name} (samba, smbclient, nftables)"),
        "scripts/install-deps",
    )
}

/// A share of 100 ward notes, and in `client` the ciphertext of each (an SMB client encrypts
/// on its own machine and writes the result over SMB). Returns the share and the names.
fn smb_share_and_ciphertexts(
    env: &Env,
    client: &Path,
    r: &mut ChaCha8Rng,
) -> (PathBuf, Vec<String>) {
    let s = env.path("share");
    std::fs::create_dir_all(&s).expect("mkdir");
    std::fs::create_dir_all(client).expect("mkdir");
    let names: Vec<String> = (0..100).map(|i| format!("note_{i:03}.txt")).collect();
    for (i, n) in names.iter().enumerate() {
        let body = format!("patient {i} ward 3, allergy penicillin, stable overnight\n").repeat(80);
        std::fs::write(s.join(n), &body).expect("write");
        let mut data = body.into_bytes();
        kura_sim::attack::Cipher::new(r).apply(&mut data);
        std::fs::write(client.join(n), data).expect("write");
    }
    (s, names)
}

/// kura.toml naming the lab's smb.conf (for `smbcontrol -s`).
fn smb_config(env: &Env, smb: &Path) {
    std::fs::write(
        env.path("kura.toml"),
        format!(
            "[guard]\nsmb_conf = \"{}\"\n",
            smb.join("smb.conf").display()
        ),
    )
    .expect("config");
}

/// smbclient commands that put each ciphertext as NAME.locked and delete NAME, in a shuffled order.
fn smb_attack_commands(names: &[String], client: &Path, r: &mut ChaCha8Rng) -> String {
    let mut order = names.to_vec();
    order.shuffle(r);
    order
        .iter()
        .map(|n| format!("put {} {n}.locked; del {n}; ", client.join(n).display()))
        .collect()
}

#[test]
fn guard_names_the_smb_client_cuts_it_off_and_loses_at_most_5_files() {
    if !root_or_skip("guard_names_the_smb_client_cuts_it_off_and_loses_at_most_5_files") {
        return;
    }
    if !smb_tools_or_skip("guard_names_the_smb_client_cuts_it_off_and_loses_at_most_5_files") {
        return;
    }
    let env = Env::new();
    let mut r = ChaCha8Rng::seed_from_u64(51);
    let client = env.path("client");
    let (s, names) = smb_share_and_ciphertexts(&env, &client, &mut r);
    let mut lab = SmbLab::new(&env.path("smb"), &s, 1);
    smb_config(&env, &env.path("smb"));
    let mut guard = GuardProc::start(&env, &s, &[]);
    let inv = inventory(&s);
    let commands = smb_attack_commands(&names, &client, &mut r);
    let _ = lab
        .client(&env.path("smb"), &commands, 60)
        .expect("smbclient");
    let trip = guard
        .wait_for("tripped", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no trip: {:?}", guard.seen));
    let client_ip = format!("10.233.{}.2", lab.net());
    assert_eq!(trip["writer"]["client_ip"], client_ip.as_str(), "{trip}");
    // smbstatus --json names the session's user (a guest here: Samba's guest account).
    assert!(
        trip["writer"]["user"]
            .as_str()
            .is_some_and(|u| !u.is_empty()),
        "{trip}"
    );
    assert_eq!(trip["action"], "client_cut_off", "{trip}");
    assert_eq!(trip["action_errors"], serde_json::json!([]), "{trip}");
    drop(guard);
    let lost = lost(&inv);
    eprintln!(
        "guard smb: {} of {} files lost; {}",
        lost.len(),
        inv.len(),
        trip["reasons"]
    );
    assert!(lost.len() <= 5, "{} files lost", lost.len());
    let set = lab.blocked();
    assert!(set.contains(&client_ip), "{set}");
    // Only the client's child was ended: smbd itself keeps serving.
    assert!(lab.smbd_running(), "smbd itself keeps running");
}

/// Two SMB clients at once: client A encrypts over SMB while client B, in a namespace of its
/// own, writes ordinary letters over one long SMB session. The guard trips on A only: A's
/// address is blocked and its sessions closed, B is never tripped, B's same session still
/// writes after the trip, B can connect again, and smbd keeps serving.
#[test]
fn guard_cuts_off_only_the_encrypting_smb_client_while_another_keeps_writing() {
    let name = "guard_cuts_off_only_the_encrypting_smb_client_while_another_keeps_writing";
    if !root_or_skip(name) {
        return;
    }
    if !smb_tools_or_skip(name) {
        return;
    }
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    let env = Env::new();
    let mut r = ChaCha8Rng::seed_from_u64(61);
    let (local_a, local_b) = (env.path("client_a"), env.path("client_b"));
    std::fs::create_dir_all(&local_b).expect("mkdir");
    let (s, names) = smb_share_and_ciphertexts(&env, &local_a, &mut r);
    // B's letters (紹介状, referral letters): plain text, each different.
    let letter = |i: usize| {
        format!("Referral letter {i} (紹介状): patient seen in outpatient clinic, blood pressure stable, please continue treatment.\n")
            .repeat(20 + i % 7)
    };
    let letters = 150;
    for i in 0..=letters {
        std::fs::write(local_b.join(format!("letter_{i:03}.txt")), letter(i)).expect("write");
    }
    let smb = env.path("smb");
    let mut lab = SmbLab::new(&smb, &s, 2);
    smb_config(&env, &smb);
    let mut guard = GuardProc::start(&env, &s, &[]);
    let inv = inventory(&s);

    // B: one smbclient session fed on its stdin, a letter every 20 ms until A has tripped.
    let mut b = lab
        .smbclient(1, &smb)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("smbclient B");
    let mut b_in = b.stdin.take().expect("stdin");
    let tripped = std::sync::Arc::new(AtomicBool::new(false));
    let feeder = {
        let tripped = tripped.clone();
        let local_b = local_b.clone();
        std::thread::spawn(move || {
            let mut fed = 0;
            while fed < letters && !tripped.load(Ordering::SeqCst) {
                let l = local_b.join(format!("letter_{fed:03}.txt"));
                if writeln!(b_in, "put {} letter_{fed:03}.txt", l.display()).is_err() {
                    break;
                }
                fed += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            (b_in, fed)
        })
    };
    // A encrypts at the same time.
    let commands = smb_attack_commands(&names, &local_a, &mut r);
    let _ = lab.client_on(0, &smb, &commands, 60).expect("smbclient A");
    let trip = guard.wait_for("tripped", Duration::from_secs(10));
    tripped.store(true, Ordering::SeqCst);
    let (mut b_in, fed) = feeder.join().expect("feeder");
    let trip = trip.unwrap_or_else(|| panic!("no trip: {:?}", guard.seen));
    let (ip_a, ip_b) = (lab.client_ip(0), lab.client_ip(1));
    assert_eq!(trip["writer"]["client_ip"], ip_a.as_str(), "{trip}");
    assert_eq!(trip["action"], "client_cut_off", "{trip}");
    assert_eq!(trip["action_errors"], serde_json::json!([]), "{trip}");

    // B's same session writes one more letter after the trip, then ends.
    let after = local_b.join(format!("letter_{letters:03}.txt"));
    writeln!(b_in, "put {} after_the_trip.txt", after.display()).expect("feed B");
    writeln!(b_in, "quit").expect("feed B");
    drop(b_in);
    let status = wait_bounded(&mut b, Duration::from_secs(60), "smbclient B");
    assert!(status.success(), "B's session failed: {status:?}");
    assert_eq!(
        std::fs::read(s.join("after_the_trip.txt")).ok(),
        Some(letter(letters).into_bytes()),
        "B's session did not write after the trip"
    );
    for i in 0..fed {
        assert_eq!(
            std::fs::read(s.join(format!("letter_{i:03}.txt"))).ok(),
            Some(letter(i).into_bytes()),
            "B's letter {i} of {fed}"
        );
    }

    // One trip, on A: B never.
    let later = guard.drain(Duration::from_millis(1500), Duration::from_secs(10));
    let trips_b: Vec<_> = later
        .iter()
        .filter(|v| v["event"] == "tripped" && v["writer"]["client_ip"] != ip_a.as_str())
        .collect();
    assert!(trips_b.is_empty(), "a trip on another writer: {trips_b:?}");
    drop(guard);
    let (list, code) = env.json(&["guard", "incidents"]);
    assert_eq!(code, 0, "{list}");
    for inc in list.as_array().expect("incidents") {
        assert_eq!(inc["writer"]["client_ip"], ip_a.as_str(), "{inc}");
    }

    // A is cut off (its address in kura's set, B's not); smbd serves B on a new connection.
    let set = lab.blocked();
    assert!(set.contains(&ip_a) && !set.contains(&ip_b), "{set}");
    let again = lab.client_on(1, &smb, "ls", 30).expect("smbclient B again");
    assert!(
        again.success(),
        "B cannot connect after A's trip: {again:?}"
    );
    let cut = lab.client_on(0, &smb, "ls", 5).expect("smbclient A again");
    assert!(!cut.success(), "A still reaches the share: {cut:?}");
    assert!(lab.smbd_running(), "smbd itself keeps running");
    let lost = lost(&inv);
    eprintln!(
        "guard smb two clients: {} of {} files lost; B wrote {fed} letters; {}",
        lost.len(),
        inv.len(),
        trip["reasons"]
    );
    assert!(lost.len() <= MAX_LOST, "{} files lost", lost.len());
}
