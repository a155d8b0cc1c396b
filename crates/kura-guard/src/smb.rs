//! Samba: behind an `smbd` child the writer is the SMB client. One child serves one client
//! session; `smbstatus --json` (Samba 4.15+) maps the child's pid to the client's address and
//! user, and when that fails, its TCP socket (`/proc/PID/fd` against `/proc/PID/net/tcp{,6}`, read in the child's
//! own network namespace) gives the client's address. Cutting a client off: `smbcontrol smbd
//! kill-client-ip`, its address in the nftables set `inet kura blocked` (with a timeout), and
//! SIGTERM of the child (never SIGKILL: smbd's shared memory could be left inconsistent).

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `exe` is Samba's file server.
pub(crate) fn is_smbd(exe: Option<&Path>) -> bool {
    exe.and_then(|e| e.file_name())
        .is_some_and(|n| n == "smbd" || n.to_string_lossy().starts_with("smbd "))
}

/// Socket inodes held by `pid`.
fn socket_inodes(pid: i32) -> HashSet<u64> {
    let mut out = HashSet::new();
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return out;
    };
    for e in rd.flatten() {
        if let Ok(l) = std::fs::read_link(e.path())
            && let Some(ino) = l
                .to_str()
                .and_then(|s| s.strip_prefix("socket:["))
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse().ok())
        {
            out.insert(ino);
        }
    }
    out
}

/// An address of `/proc/net/tcp{,6}` (`0100007F:01BD`: IPv4 in host byte order, as hex of a
/// little-endian u32; IPv6 as four such words) as text, with its port.
pub(crate) fn parse_addr(hex: &str) -> Option<(std::net::IpAddr, u16)> {
    let (ip, port) = hex.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Vec<u32> = (0..ip.len() / 8)
        .map(|i| u32::from_str_radix(&ip[8 * i..8 * i + 8], 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let ip = match words.len() {
        1 => std::net::IpAddr::from(words[0].to_le_bytes()),
        4 => {
            let mut b = [0u8; 16];
            for (i, w) in words.iter().enumerate() {
                b[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
            }
            let v6 = std::net::Ipv6Addr::from(b);
            v6.to_ipv4_mapped()
                .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4)
        }
        _ => return None,
    };
    Some((ip, port))
}

/// The remote address of an established connection in a `/proc/net/tcp` table whose socket
/// inode is in `inodes`.
pub(crate) fn remote_in_table(table: &str, inodes: &HashSet<u64>) -> Option<String> {
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 || f[3] != "01" {
            continue; // 01 = ESTABLISHED
        }
        if f[9].parse::<u64>().is_ok_and(|i| inodes.contains(&i)) {
            return parse_addr(f[2]).map(|(ip, _)| ip.to_string());
        }
    }
    None
}

/// The SMB client an `smbd` child serves.
pub(crate) fn client_ip(pid: i32) -> Option<String> {
    let inodes = socket_inodes(pid);
    if inodes.is_empty() {
        return None;
    }
    ["tcp", "tcp6"].iter().find_map(|t| {
        let table = std::fs::read_to_string(format!("/proc/{pid}/net/{t}")).ok()?;
        remote_in_table(&table, &inodes)
    })
}

/// What `smbstatus` said about a session: its address and user.
type Session = (Option<String>, Option<String>);

/// `smbstatus` lookups under way, by smbd child pid (see [`identify`]).
static LOOKUPS: std::sync::Mutex<Vec<(i32, std::sync::mpsc::Receiver<Option<Session>>)>> =
    std::sync::Mutex::new(Vec::new());

/// Starts naming the SMB client behind the `smbd` child `pid`: its address from the child's
/// TCP socket at once (a few reads in /proc), and `smbstatus --json` (Samba 4.15+: address and
/// user) on a thread of its own, so the guard never waits for it while reading events; the
/// answer is taken by [`complete`] when the writer trips.
pub(crate) fn identify(w: &mut crate::Writer, pid: i32, smb_conf: Option<&Path>) {
    w.client_ip = client_ip(pid);
    let (tx, rx) = std::sync::mpsc::channel();
    let conf = smb_conf.map(Path::to_path_buf);
    let started = std::thread::Builder::new()
        .name("kura-smbstatus".into())
        .spawn(move || {
            let _ = tx.send(smbstatus(conf.as_deref()).and_then(|doc| session_of(&doc, pid)));
        });
    if started.is_ok() {
        let mut l = LOOKUPS.lock().unwrap_or_else(|e| e.into_inner());
        if l.len() > 1024 {
            l.drain(..512);
        }
        l.push((pid, rx));
    }
}

/// Takes `smbstatus`'s answer for `pid` (waiting at most two seconds: call it once the child is
/// frozen): its address wins over the socket's, and it names the user. Without an answer the
/// socket's address stays.
pub(crate) fn complete(w: &mut crate::Writer, pid: i32) {
    let rx = {
        let mut l = LOOKUPS.lock().unwrap_or_else(|e| e.into_inner());
        let Some(i) = l.iter().position(|(p, _)| *p == pid) else {
            return;
        };
        l.swap_remove(i).1
    };
    if let Ok(Some((ip, user))) = rx.recv_timeout(Duration::from_secs(2)) {
        if ip.is_some() {
            w.client_ip = ip;
        }
        w.user = user;
    }
}

/// `smbstatus --json --brief` (sessions only), parsed; `None` when it is missing, fails, takes
/// more than two seconds or prints no JSON (Samba before 4.15).
fn smbstatus(smb_conf: Option<&Path>) -> Option<serde_json::Value> {
    let mut cmd = Command::new("smbstatus");
    if let Some(c) = smb_conf {
        cmd.arg("-s").arg(c);
    }
    cmd.args(["--json", "--brief"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().ok()?;
    let mut out = child.stdout.take()?;
    // Read on a thread so that a hung smbstatus cannot hold the guard past its deadline.
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut buf);
        buf
    });
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    serde_json::from_slice(&reader.join().ok()?).ok()
}

/// The address and user of the session served by `pid` in an `smbstatus --json` document:
/// `sessions.*.server_id.pid`, the address from `hostname` (`ipv4:10.0.0.2:50000`,
/// `ipv6:[fd00::2]:50000`) or else `remote_machine` when it is an address, and `username`.
pub(crate) fn session_of(
    doc: &serde_json::Value,
    pid: i32,
) -> Option<(Option<String>, Option<String>)> {
    let pid_s = pid.to_string();
    let session = doc.get("sessions")?.as_object()?.values().find(|s| {
        let p = &s["server_id"]["pid"];
        p.as_str() == Some(pid_s.as_str()) || p.as_i64() == Some(i64::from(pid))
    })?;
    let from_hostname = session["hostname"].as_str().and_then(|h| {
        let rest = h
            .strip_prefix("ipv4:")
            .or_else(|| h.strip_prefix("ipv6:"))?;
        let addr = match rest.strip_prefix('[') {
            Some(v6) => v6.split(']').next()?,
            None => rest.rsplit_once(':').map_or(rest, |(a, _)| a),
        };
        addr.parse::<std::net::IpAddr>().ok()
    });
    let ip = from_hostname
        .or_else(|| session["remote_machine"].as_str()?.parse().ok())
        .map(|a: std::net::IpAddr| a.to_string());
    let user = session["username"]
        .as_str()
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    Some((ip, user))
}

/// Runs a command with a bounded wait; an error line when it fails.
fn run(cmd: &mut Command, stdin: Option<&str>, what: &str) -> Option<String> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Some(format!("{what} did not start: {e}")),
    };
    if let (Some(text), Some(mut i)) = (stdin, child.stdin.take()) {
        let _ = i.write_all(text.as_bytes());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return None,
            Ok(Some(s)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return Some(format!("{what} failed ({s}): {}", err.trim()));
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Some(format!("{what} timed out"));
            }
        }
    }
}

/// Hours an SMB client's address stays in `inet kura blocked`.
pub const BLOCK_HOURS: u32 = 24;

/// The nftables transaction that blocks `ip`: the table `inet kura` with the sets `blocked`
/// (IPv4) and `blocked6` (IPv6, with timeouts) and an input chain dropping their members. It
/// is idempotent, so a second trip changes nothing but the element's timeout: declaring an
/// existing table, set or chain is a no-op, the chain is flushed and its two rules added again
/// in the same atomic transaction (exactly one rule per family, however many trips), and the
/// element is added, deleted and added again, so it exists once with a fresh timeout.
pub(crate) fn nft_script(ip: &str) -> String {
    let set = if ip.contains(':') {
        "blocked6"
    } else {
        "blocked"
    };
    format!(
        "table inet kura {{\n set blocked {{ type ipv4_addr; flags timeout; }}\n set blocked6 {{ type ipv6_addr; flags timeout; }}\n chain input {{ type filter hook input priority -10; policy accept; }}\n}}\n\
         flush chain inet kura input\n\
         add rule inet kura input ip saddr @blocked drop\n\
         add rule inet kura input ip6 saddr @blocked6 drop\n\
         add element inet kura {set} {{ {ip} timeout {BLOCK_HOURS}h }}\n\
         delete element inet kura {set} {{ {ip} }}\n\
         add element inet kura {set} {{ {ip} timeout {BLOCK_HOURS}h }}\n"
    )
}

/// Blocks `ip` in the network namespace `netns` (e.g. `/proc/PID/ns/net`); an error line when
/// it failed.
pub(crate) fn block(ip: &str, netns: &Path) -> Option<String> {
    let mut nft = Command::new("nsenter");
    nft.arg(format!("--net={}", netns.display()))
        .args(["nft", "-f", "-"]);
    run(&mut nft, Some(&nft_script(ip)), "nft (inet kura blocked)")
}

/// Cuts the SMB client `ip` off: freezes its smbd child (SIGSTOP), blocks its address in the
/// child's network namespace, ends the child (SIGTERM, never SIGKILL) and closes the client's
/// other sessions (`smbcontrol smbd kill-client-ip`). Returns one line per step that failed.
pub(crate) fn cut_off(ip: &str, smbd_pid: i32, smb_conf: Option<&Path>) -> Vec<String> {
    let mut errors = Vec::new();
    // Freeze this client's session at once (its child only: smbd and the other clients go on).
    if let Err(e) = crate::fan::kill_pid(smbd_pid, libc::SIGSTOP) {
        errors.push(format!("SIGSTOP of smbd child {smbd_pid}: {e}"));
    }
    // The block next, while the child (and so its network namespace) still exists.
    errors.extend(block(ip, Path::new(&format!("/proc/{smbd_pid}/ns/net"))));
    // End the child (SIGTERM, delivered once it continues), then close any other session of
    // the same client.
    for sig in [libc::SIGTERM, libc::SIGCONT] {
        if let Err(e) = crate::fan::kill_pid(smbd_pid, sig)
            && e.raw_os_error() != Some(libc::ESRCH)
        {
            errors.push(format!("signal {sig} to smbd child {smbd_pid}: {e}"));
        }
    }
    let mut ctl = Command::new("smbcontrol");
    if let Some(c) = smb_conf {
        ctl.arg("-s").arg(c);
    }
    ctl.args(["smbd", "kill-client-ip", ip]);
    errors.extend(run(&mut ctl, None, "smbcontrol smbd kill-client-ip"));
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smbstatus_sessions_name_the_client_and_user() {
        // The shape of Samba 4.17's `smbstatus --json --brief`.
        let doc: serde_json::Value = serde_json::from_str(
            r#"{"timestamp":"2026-12-01T20:00:00+0000","version":"4.17.12-Debian","smb_conf":"/etc/samba/smb.conf",
            "sessions":{"3614861": {"session_id":"3614861","server_id":{"pid":"4242","task_id":"0","vnn":"4294967295","unique_id":"1"},
              "uid":65534,"gid":65534,"username":"nobody","groupname":"nogroup","remote_machine":"10.233.1.2",
              "hostname":"ipv4:10.233.1.2:50312","session_dialect":"SMB3_11"},
             "99": {"server_id":{"pid":"77"},"username":"ward3","remote_machine":"PC-7","hostname":"ipv6:[fd00::2]:445"}}}"#,
        )
        .unwrap();
        assert_eq!(
            session_of(&doc, 4242),
            Some((Some("10.233.1.2".into()), Some("nobody".into())))
        );
        assert_eq!(
            session_of(&doc, 77),
            Some((Some("fd00::2".into()), Some("ward3".into())))
        );
        assert_eq!(session_of(&doc, 5), None);
        assert_eq!(session_of(&serde_json::json!({}), 5), None);
    }

    #[test]
    fn the_block_is_one_transaction_per_family() {
        let v4 = nft_script("10.233.1.2");
        assert!(v4.contains("add element inet kura blocked { 10.233.1.2 timeout 24h }"));
        assert!(v4.contains("flush chain inet kura input\n"));
        let v6 = nft_script("fd00::2");
        assert!(v6.contains("add element inet kura blocked6 { fd00::2 timeout 24h }"));
    }

    /// Two trips on the same client (and one on another) leave one drop rule per family and one
    /// element per address, in a network namespace of the test's own (root; skipped otherwise).
    #[test]
    fn blocking_twice_adds_the_rule_once() {
        if crate::fan::euid() != 0 || Command::new("nft").arg("--version").output().is_err() {
            eprintln!("SKIPPED blocking_twice_adds_the_rule_once: needs root and nft");
            assert_ne!(
                std::env::var("KURA_REQUIRE_TOOLS").as_deref(),
                Ok("1"),
                "KURA_REQUIRE_TOOLS=1: root and nft are required"
            );
            return;
        }
        let ns = format!("kura-nft-{}", std::process::id());
        let st = Command::new("ip").args(["netns", "add", &ns]).status();
        assert!(st.is_ok_and(|s| s.success()), "ip netns add");
        struct Gone(String);
        impl Drop for Gone {
            fn drop(&mut self) {
                let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
            }
        }
        let _gone = Gone(ns.clone());
        let path = std::path::PathBuf::from(format!("/run/netns/{ns}"));
        for ip in ["10.233.1.2", "10.233.1.2", "10.233.1.3", "fd00::2"] {
            assert_eq!(block(ip, &path), None, "blocking {ip}");
        }
        let out = Command::new("ip")
            .args(["netns", "exec", &ns, "nft", "list", "table", "inet", "kura"])
            .output()
            .expect("nft list");
        let table = String::from_utf8_lossy(&out.stdout);
        assert_eq!(table.matches("saddr @blocked drop").count(), 1, "{table}");
        assert_eq!(table.matches("saddr @blocked6 drop").count(), 1, "{table}");
        assert_eq!(table.matches("10.233.1.2").count(), 1, "{table}");
        assert!(
            table.contains("10.233.1.3") && table.contains("fd00::2"),
            "{table}"
        );
    }

    #[test]
    fn proc_net_tcp_addresses() {
        assert_eq!(
            parse_addr("0100007F:01BD").map(|(i, p)| (i.to_string(), p)),
            Some(("127.0.0.1".into(), 445))
        );
        assert_eq!(
            parse_addr("0000000000000000FFFF00000201E90A:C350").map(|(i, _)| i.to_string()),
            Some("10.233.1.2".into())
        );
        assert!(parse_addr("zz").is_none());
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0101E90A:01BD 0201E90A:C350 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 20 4 30 10 -1\n   1: 0101E90A:01BD 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1 0 20 4 30 10 -1\n";
        let inodes: HashSet<u64> = [4242].into_iter().collect();
        assert_eq!(remote_in_table(table, &inodes), Some("10.233.1.2".into()));
        let other: HashSet<u64> = [77].into_iter().collect();
        assert_eq!(
            remote_in_table(table, &other),
            None,
            "listening, not a client"
        );
    }
}
