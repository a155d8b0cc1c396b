//! Writer attribution: a pid becomes its process group and session with its executable, read
//! from `/proc`. Forked workers share the group, so eight workers are one writer.
//!
//! A process in the cgroup of a systemd service or scope (cgroup v2, `/proc/PID/cgroup`) is
//! grouped by that cgroup instead, so workers that each call `setsid()` are still one writer,
//! and stopping it stops every process of the cgroup (`cgroup.freeze`, then `cgroup.kill`).
//! The rule ([`unit_cgroup`]): the deepest `*.service` or `*.scope` component of the path, never
//! the root cgroup, `init.scope`, anything under `user.slice` (`user-N.slice`, `user@N.service`
//! and `session-N.scope` hold a person's whole login: stopping them would kill an admin's
//! shell), and never the guard's own cgroup or one holding it.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Who wrote: the process group (the unit the guard scores and stops) and what it runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Writer {
    /// The process group id (the key: forked workers are one writer).
    pub pgid: i32,
    /// The session id.
    pub sid: i32,
    /// A pid seen writing (the first one).
    pub pid: i32,
    /// The executable (`/proc/PID/exe`), when it could be read.
    pub exe: Option<PathBuf>,
    /// The command name.
    pub comm: String,
    /// The user id owning the process.
    pub uid: u32,
    /// The SMB client behind an `smbd` writer (IP address), when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_ip: Option<String>,
    /// The SMB user behind an `smbd` writer (`smbstatus --json`), when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user: Option<String>,
    /// The service or scope cgroup (cgroup v2 path, e.g. `/system.slice/x.service`) the writer
    /// is grouped by: every process in it is this writer and is stopped with it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cgroup: Option<String>,
}

/// pgid and sid from `/proc/PID/stat` (fields 5 and 6, after the parenthesised comm, which may
/// itself contain spaces and parentheses).
pub(crate) fn ids_of_stat(stat: &str) -> Option<(i32, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let _state = f.next()?;
    let _ppid = f.next()?;
    let pgid = f.next()?.parse().ok()?;
    let sid = f.next()?.parse().ok()?;
    Some((pgid, sid))
}

/// Reads a writer from `/proc`; `None` when the process is already gone.
pub fn attribute(pid: i32) -> Option<Writer> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let stat = std::fs::read_to_string(proc.join("stat")).ok()?;
    let (pgid, sid) = ids_of_stat(&stat)?;
    let uid = std::fs::metadata(&proc).map(|m| m.uid()).unwrap_or(0);
    Some(Writer {
        pgid,
        sid,
        pid,
        exe: std::fs::read_link(proc.join("exe")).ok(),
        comm: std::fs::read_to_string(proc.join("comm"))
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default(),
        uid,
        ..Writer::default()
    })
}

/// The process group of `pid`, or `None` when it is gone.
pub(crate) fn pgid_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    ids_of_stat(&stat).map(|(g, _)| g)
}

/// Whether a `/proc/PID/stat` line is a process that has exited (a zombie, state `Z`, or one
/// being reaped, `X`): it still shows its group, but can no longer be stopped or killed.
pub(crate) fn exited(stat: &str) -> bool {
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    matches!(state, Some("Z" | "X" | "x"))
}

/// Whether some live process still belongs to group `pgid` (so that a signal to it cannot hit
/// a reused group id that never wrote anything). A process that has exited but was not reaped
/// yet (a zombie) is not live: a writer that finished its work before the trip is gone, and a
/// stop sent to it would be reported as done when nothing was stopped.
pub(crate) fn group_alive(pgid: i32, pids: &[i32]) -> bool {
    pids.iter().any(|&p| {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .is_ok_and(|s| !exited(&s) && ids_of_stat(&s).map(|(g, _)| g) == Some(pgid))
    })
}

/// The cgroup v2 path of `pid` (`0::/system.slice/x.service` in `/proc/PID/cgroup`).
pub(crate) fn cgroup_of(pid: i32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim_end().to_string())
}

/// The cgroup a process in `path` is grouped by (see the module doc): the path up to its
/// deepest `*.service` or `*.scope` component, or `None` (group by process group instead).
pub(crate) fn unit_cgroup(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let login = |c: &&str| {
        *c == "user.slice"
            || (c.starts_with("user-") && c.ends_with(".slice"))
            || (c.starts_with("user@") && c.ends_with(".service"))
            || (c.starts_with("session-") && c.ends_with(".scope"))
    };
    if parts.iter().any(login) {
        return None;
    }
    let unit = parts
        .iter()
        .rposition(|c| c.ends_with(".service") || c.ends_with(".scope"))?;
    if parts[unit] == "init.scope" {
        return None;
    }
    Some(format!("/{}", parts[..=unit].join("/")))
}

/// Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on
/// a hybrid setup), from `/proc/self/mountinfo`.
pub(crate) fn cgroup2_mount() -> Option<&'static Path> {
    static MOUNT: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    MOUNT
        .get_or_init(|| {
            let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
            info.lines().find_map(|l| {
                let (pre, post) = l.split_once(" - ")?;
                (post.split_whitespace().next() == Some("cgroup2"))
                    .then(|| pre.split_whitespace().nth(4).map(PathBuf::from))?
            })
        })
        .as_deref()
}

/// The folder of cgroup `cg` (a v2 path) in the mounted hierarchy.
fn cgroup_dir(cg: &str) -> Option<PathBuf> {
    Some(cgroup2_mount()?.join(cg.trim_start_matches('/')))
}

/// Every pid in cgroup `dir` and its descendants.
fn cgroup_pids(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(t) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(t.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                cgroup_pids(&e.path(), out);
            }
        }
    }
}

/// Writers keyed by cgroup: every process of a service or scope cgroup gets one key (the first
/// process group seen in it), whatever its own process group or session.
#[derive(Default)]
pub(crate) struct Cgroups {
    /// The guard's own cgroup (never a writer's group), read on first use.
    own: Option<Option<String>>,
    by_pid: HashMap<i32, Option<(i32, String)>>,
    by_cgroup: HashMap<String, i32>,
}

impl Cgroups {
    /// The writer key of `pid` in process group `pgid`, and the cgroup it is grouped by (if it
    /// is).
    pub(crate) fn key(&mut self, pid: i32, pgid: i32) -> (i32, Option<String>) {
        if let Some(k) = self.by_pid.get(&pid) {
            return k.clone().map_or((pgid, None), |(k, cg)| (k, Some(cg)));
        }
        let own = self
            .own
            .get_or_insert_with(|| cgroup_of(std::process::id() as i32))
            .clone();
        let found = cgroup2_mount()
            .and_then(|_| cgroup_of(pid))
            .and_then(|p| unit_cgroup(&p))
            .filter(|cg| {
                own.as_deref().is_none_or(|o| {
                    o != cg && !o.starts_with(&format!("{}/", cg.trim_end_matches('/')))
                })
            })
            .map(|cg| (*self.by_cgroup.entry(cg.clone()).or_insert(pgid), cg));
        if self.by_pid.len() > 65_536 {
            self.by_pid.clear();
        }
        if self.by_cgroup.len() > 4096 {
            self.by_cgroup.clear();
        }
        self.by_pid.insert(pid, found.clone());
        found.map_or((pgid, None), |(k, cg)| (k, Some(cg)))
    }
}

/// Sends `sig` to the whole writer: every process of its cgroup when it is grouped by one
/// (SIGSTOP also freezes the cgroup, so no worker runs or forks on; SIGKILL uses `cgroup.kill`,
/// Linux 5.14+, else signals each pid until none is left, then thaws the empty cgroup), else
/// its process group `key`.
pub(crate) fn signal_writer(w: &Writer, key: i32, sig: libc::c_int) -> std::io::Result<()> {
    let Some(dir) = w.cgroup.as_deref().and_then(cgroup_dir) else {
        return crate::fan::kill_group(key, sig);
    };
    let each = |sig| {
        let mut pids = Vec::new();
        cgroup_pids(&dir, &mut pids);
        for p in &pids {
            let _ = crate::fan::kill_pid(*p, sig);
        }
        pids.len()
    };
    match sig {
        libc::SIGSTOP => {
            let _ = std::fs::write(dir.join("cgroup.freeze"), "1");
            each(sig);
            Ok(())
        }
        libc::SIGKILL => {
            if std::fs::write(dir.join("cgroup.kill"), "1").is_err() {
                for _ in 0..20 {
                    if each(sig) == 0 {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
            let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
            Ok(())
        }
        _ => {
            each(sig);
            Ok(())
        }
    }
}

/// The live processes (not exited) of process group `pgid`, from `/proc`.
fn group_pids(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(e.path().join("stat"))
            && !exited(&stat)
            && ids_of_stat(&stat).map(|(g, _)| g) == Some(pgid)
        {
            out.push(pid);
        }
    }
    out
}

/// The prefix of the cgroups [`freeze_group`] creates.
pub(crate) const STOPPED_CGROUP: &str = "kura-stopped-";

/// What a writer that [`freeze_group`] could not freeze is left as.
const ONLY_STOPPED: &str = "the writer is only SIGSTOPped, and a SIGCONT resumes it";

/// Holds a stopped process-group writer for `guard.action = "stop"`. SIGSTOP alone does not:
/// any SIGCONT resumes it, and the kernel itself sends SIGHUP then SIGCONT to a stopped process
/// group the moment it becomes orphaned (the program that launched it exits), so an attacker
/// that ignores SIGHUP runs on. Moves every process of group `pgid` (already SIGSTOPped, so
/// none forks meanwhile) into a cgroup v2 of kura's own, `/kura-stopped-PGID.scope`, and
/// freezes it: a frozen cgroup stays frozen whatever signal arrives (SIGKILL still ends it).
/// Empty cgroups of earlier stops are removed first. Returns the cgroup's path (as
/// `/proc/PID/cgroup` names it) when it was created, and a line when something failed (then
/// the processes not moved are only SIGSTOPped).
pub(crate) fn freeze_group(pgid: i32) -> (Option<String>, Option<String>) {
    let Some(mount) = cgroup2_mount() else {
        return (
            None,
            Some(format!("no cgroup v2 hierarchy is mounted: {ONLY_STOPPED}")),
        );
    };
    if let Ok(rd) = std::fs::read_dir(mount) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(STOPPED_CGROUP) {
                let _ = std::fs::remove_dir(e.path()); // fails while it holds a process
            }
        }
    }
    let name = format!("/{STOPPED_CGROUP}{pgid}.scope");
    let dir = mount.join(&name[1..]);
    if let Err(e) = std::fs::create_dir(&dir)
        && e.kind() != std::io::ErrorKind::AlreadyExists
    {
        return (
            None,
            Some(format!("cgroup {name} not created ({e}): {ONLY_STOPPED}")),
        );
    }
    let pids = group_pids(pgid);
    let failed: Vec<String> = pids
        .iter()
        .filter(|p| std::fs::write(dir.join("cgroup.procs"), p.to_string()).is_err())
        .map(|p| p.to_string())
        .collect();
    if let Err(e) = std::fs::write(dir.join("cgroup.freeze"), "1") {
        return (
            Some(name.clone()),
            Some(format!("cgroup {name} not frozen ({e}): {ONLY_STOPPED}")),
        );
    }
    let err = (!failed.is_empty()).then(|| {
        format!(
            "pids {} of process group {pgid} not moved into the frozen cgroup {name}: they are only SIGSTOPped",
            failed.join(",")
        )
    });
    (Some(name), err)
}

/// Whether the writer still has a live process: one in its cgroup, or one of `pids` in group
/// `key`.
pub(crate) fn writer_alive(w: &Writer, key: i32, pids: &[i32]) -> bool {
    match w.cgroup.as_deref().and_then(cgroup_dir) {
        Some(dir) => {
            let mut all = Vec::new();
            cgroup_pids(&dir, &mut all);
            !all.is_empty()
        }
        None => group_alive(key, pids),
    }
}

/// SHA-256 (hex) of a file, read through any path (`/proc/PID/exe` works for deleted files).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    sha256_read(&mut std::fs::File::open(path)?)
}

/// SHA-256 (hex) of everything `f` reads.
pub(crate) fn sha256_read(f: &mut impl Read) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>())
}

/// Executable hashes cached by (device, inode, size, mtime): hashing a binary per open would
/// be far too slow for the permission path.
#[derive(Default)]
pub(crate) struct ExeHashes {
    by_file: HashMap<(u64, u64, u64, i64), String>,
}

impl ExeHashes {
    /// The SHA-256 of the executable `pid` runs.
    pub(crate) fn of_pid(&mut self, pid: i32) -> Option<String> {
        let exe = PathBuf::from(format!("/proc/{pid}/exe"));
        let m = std::fs::metadata(&exe).ok()?;
        let key = (m.dev(), m.ino(), m.size(), m.mtime());
        if let Some(h) = self.by_file.get(&key) {
            return Some(h.clone());
        }
        let h = sha256_file(&exe).ok()?;
        if self.by_file.len() > 4096 {
            self.by_file.clear();
        }
        self.by_file.insert(key, h.clone());
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn stat_with_parentheses_in_comm() {
        let s = "1234 (evil) (x) y) S 1 5678 5679 0 -1 4194560 0";
        assert_eq!(ids_of_stat(s), Some((5678, 5679)));
        assert_eq!(ids_of_stat("garbage"), None);
    }

    #[test]
    fn unit_cgroups_group_services_and_scopes_never_a_login() {
        let u = |p: &str| unit_cgroup(p);
        assert_eq!(
            u("/system.slice/smbd.service"),
            Some("/system.slice/smbd.service".into())
        );
        assert_eq!(
            u("/system.slice/docker-1.scope/inner"),
            Some("/system.slice/docker-1.scope".into())
        );
        assert_eq!(
            u("/kura-attack-7.scope"),
            Some("/kura-attack-7.scope".into())
        );
        assert_eq!(
            u("/system.slice/run-u42.service"),
            Some("/system.slice/run-u42.service".into())
        );
        assert_eq!(u("/"), None, "the root cgroup");
        assert_eq!(u(""), None);
        assert_eq!(u("/init.scope"), None);
        assert_eq!(u("/system.slice"), None, "a slice is not a unit");
        assert_eq!(u("/user.slice/user-1000.slice/session-3.scope"), None);
        assert_eq!(
            u("/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope"),
            None
        );
    }

    #[test]
    fn a_zombie_is_not_a_live_writer() {
        assert!(exited("1234 (evil) (x) Z 1 5678 5679 0"));
        assert!(!exited("1234 (evil) (Z) S 1 5678 5679 0"));
        // A child that exited and was not reaped yet: /proc still shows its process group.
        let mut child = std::process::Command::new("true")
            .process_group(0)
            .spawn()
            .expect("spawn true");
        let pid = child.id() as i32;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !exited(&s)) {
            assert!(std::time::Instant::now() < deadline, "true did not exit");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(pgid_of(pid), Some(pid), "the zombie still shows its group");
        assert!(!group_alive(pid, &[pid]), "a zombie is not a live writer");
        child.wait().expect("reap");
        let mut live = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .expect("spawn sleep");
        let lp = live.id() as i32;
        assert!(group_alive(lp, &[lp]));
        let _ = live.kill();
        let _ = live.wait();
    }

    /// CPU ticks (utime + stime) `pid` has used.
    fn cpu_ticks(pid: i32) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let f: Vec<&str> = stat[stat.rfind(')').expect("comm") + 1..]
            .split_whitespace()
            .collect();
        f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
    }

    /// A busy loop that ignores SIGHUP, stopped and frozen as `guard.action = "stop"` does,
    /// uses no CPU after a SIGCONT (the kernel's SIGCONT to an orphaned stopped group), stays in
    /// kura's cgroup, and still dies of SIGKILL. Root and cgroup v2 (skipped otherwise).
    #[test]
    fn a_frozen_group_stays_frozen_after_sigcont() {
        if crate::fan::euid() != 0 || cgroup2_mount().is_none() {
            eprintln!(
                "SKIPPED a_frozen_group_stays_frozen_after_sigcont: needs root and cgroup v2"
            );
            assert_ne!(
                std::env::var("KURA_REQUIRE_TOOLS").as_deref(),
                Ok("1"),
                "KURA_REQUIRE_TOOLS=1: root and cgroup v2 are required"
            );
            return;
        }
        let mut busy = std::process::Command::new("sh")
            .args(["-c", "trap '' HUP; while :; do :; done"])
            .process_group(0)
            .spawn()
            .expect("spawn sh");
        let pid = busy.id() as i32;
        crate::fan::kill_group(pid, libc::SIGSTOP).expect("SIGSTOP");
        let (name, err) = freeze_group(pid);
        let name = name.expect("a frozen cgroup");
        assert_eq!(name, format!("/kura-stopped-{pid}.scope"));
        assert_eq!(err, None);
        assert_eq!(cgroup_of(pid).as_deref(), Some(name.as_str()));
        crate::fan::kill_group(pid, libc::SIGCONT).expect("SIGCONT");
        std::thread::sleep(std::time::Duration::from_millis(100));
        let before = cpu_ticks(pid);
        std::thread::sleep(std::time::Duration::from_millis(500));
        let after = cpu_ticks(pid);
        assert_eq!(before, after, "the frozen busy loop ran after SIGCONT");
        assert_eq!(cgroup_of(pid).as_deref(), Some(name.as_str()));
        crate::fan::kill_group(pid, libc::SIGKILL).expect("SIGKILL");
        let status = busy.wait().expect("wait");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
        // The next stop removes the empty cgroup; here the test does.
        let dir = cgroup_dir(&name).expect("dir");
        for _ in 0..250 {
            if std::fs::remove_dir(&dir).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!dir.exists(), "{} left behind", dir.display());
    }

    #[test]
    fn this_process_is_attributed() {
        let me = std::process::id() as i32;
        let w = attribute(me).expect("own /proc entry");
        assert_eq!(w.pid, me);
        assert!(w.pgid > 0 && w.sid >= 0);
        assert!(w.exe.is_some());
    }
}
