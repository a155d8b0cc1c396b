//! Writer attribution: a pid becomes its process group and session with its executable, read
//! from `/proc`. Forked workers share the group, so eight workers are one writer.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Who wrote: the process group (the unit the guard scores and stops) and what it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
        client_ip: None,
    })
}

/// The process group of `pid`, or `None` when it is gone.
pub(crate) fn pgid_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    ids_of_stat(&stat).map(|(g, _)| g)
}

/// Whether some live process still belongs to group `pgid` (so that a signal to it cannot hit
/// a reused group id that never wrote anything).
pub(crate) fn group_alive(pgid: i32, pids: &[i32]) -> bool {
    pids.iter().any(|&p| pgid_of(p) == Some(pgid))
}

/// SHA-256 (hex) of a file, read through any path (`/proc/PID/exe` works for deleted files).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
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

    #[test]
    fn stat_with_parentheses_in_comm() {
        let s = "1234 (evil) (x) y) S 1 5678 5679 0 -1 4194560 0";
        assert_eq!(ids_of_stat(s), Some((5678, 5679)));
        assert_eq!(ids_of_stat("garbage"), None);
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
