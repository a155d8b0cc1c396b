//! fanotify over libc: the two groups, their marks, reading events and parsing the FID/name
//! info records.
//!
//! Why libc and not nix: nix (0.31) has `sys::fanotify` but cannot parse the info records that
//! `FAN_REPORT_DFID_NAME` appends to each event (nix PR #2552 is still open), and `fanotify-rs`
//! 0.3 has no FID support at all. The records are parsed here from the raw buffer in safe code
//! ([`parse`]); only the syscalls themselves are `unsafe`, each with a SAFETY note.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Events the notification group asks for on the whole filesystem: deletes, renames, and each
/// file closed after writing. Not `FAN_MODIFY`: it comes once per `write(2)` call (an untar is
/// several per file) and the scoring only reads a file once it is closed; canaries get
/// `FAN_MODIFY` through a mark of their own ([`CANARY_MASK`]), so a write to one trips before
/// the attacker closes it. Not `FAN_CREATE` either, by default: a new file is learned from its
/// first close after writing (one event per new file instead of two, each built in the
/// writer's context); [`CREATE_MASK`] is added while every open is checked, so that new
/// folders get their folder-wide marks at once.
pub(crate) const NOTIFY_MASK: u64 = libc::FAN_CLOSE_WRITE | libc::FAN_DELETE | libc::FAN_RENAME;

/// Added to the filesystem mark while folder-wide open marks are armed (see [`NOTIFY_MASK`]).
pub(crate) const CREATE_MASK: u64 = libc::FAN_CREATE;

/// What a planted canary's own mark asks for, on top of [`NOTIFY_MASK`].
pub(crate) const CANARY_MASK: u64 = libc::FAN_MODIFY;

/// The most fanotify marks one user may hold (`fs.fanotify.max_user_marks`).
pub(crate) fn max_user_marks() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/fanotify/max_user_marks")
        .ok()?
        .trim()
        .parse()
        .ok()
}
// FAN_RENAME (5.17) carries both names in one event, so FAN_MOVED_FROM / FAN_MOVED_TO (the
// same move as two events) are not asked for.

/// One fanotify group (a file descriptor the kernel queues events on).
pub(crate) struct Group {
    file: File,
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

impl Group {
    fn init(flags: libc::c_uint) -> io::Result<Group> {
        let event_flags = (libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC) as libc::c_uint;
        // SAFETY: fanotify_init takes two integers and returns a new fd or -1.
        let fd = cvt(unsafe { libc::fanotify_init(flags, event_flags) })?;
        // SAFETY: `fd` was just returned by the kernel and is owned by nothing else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Group {
            file: File::from(owned),
        })
    }

    /// The notification group: file handles of the parent directory plus the entry name for
    /// every event (`FAN_REPORT_DFID_NAME`, Linux 5.9), so creates, deletes and renames carry
    /// the writer's pid. The kernel queue is bounded (16384 events): an overflow is reported.
    pub(crate) fn notification() -> io::Result<Group> {
        Self::init(
            libc::FAN_CLASS_NOTIF
                | libc::FAN_CLOEXEC
                | libc::FAN_NONBLOCK
                | libc::FAN_REPORT_DFID_NAME,
        )
    }

    /// The permission group (`FAN_CLASS_CONTENT`; it cannot be combined with FID reporting,
    /// hence a second group). Every event on it must be answered.
    pub(crate) fn permission() -> io::Result<Group> {
        Self::init(libc::FAN_CLASS_CONTENT | libc::FAN_CLOEXEC | libc::FAN_NONBLOCK)
    }

    fn mark_raw(&self, flags: libc::c_uint, mask: u64, path: &Path) -> io::Result<()> {
        self.mark_op(libc::FAN_MARK_ADD | flags, mask, path)
    }

    fn mark_op(&self, flags: libc::c_uint, mask: u64, path: &Path) -> io::Result<()> {
        let c = cpath(path)?;
        // SAFETY: the group fd is valid for `self`'s lifetime; `c` is a NUL-terminated path
        // that outlives the call; AT_FDCWD makes a relative path relative to the cwd.
        cvt(unsafe {
            libc::fanotify_mark(
                self.file.as_raw_fd(),
                flags,
                mask,
                libc::AT_FDCWD,
                c.as_ptr(),
            )
        })?;
        Ok(())
    }

    /// Marks the whole filesystem holding `path` (mount marks refuse directory-entry events).
    pub(crate) fn mark_filesystem(&self, path: &Path) -> io::Result<()> {
        self.mark_raw(
            libc::FAN_MARK_FILESYSTEM,
            NOTIFY_MASK | libc::FAN_ONDIR,
            path,
        )
    }

    /// Adds [`CREATE_MASK`] to the filesystem mark of [`Group::mark_filesystem`] (`on`), or takes
    /// it back (the rest of the mark, `FAN_ONDIR` included, stays).
    pub(crate) fn watch_creates(&self, path: &Path, on: bool) -> io::Result<()> {
        if on {
            self.mark_raw(
                libc::FAN_MARK_FILESYSTEM,
                CREATE_MASK | libc::FAN_ONDIR,
                path,
            )
        } else {
            self.mark_op(
                libc::FAN_MARK_REMOVE | libc::FAN_MARK_FILESYSTEM,
                CREATE_MASK,
                path,
            )
        }
    }

    /// Asks for open-permission events on the files directly inside directory `dir` (an inode
    /// mark, the narrowest object: nothing else on the machine waits for the guard).
    pub(crate) fn mark_dir_opens(&self, dir: &Path) -> io::Result<()> {
        self.mark_raw(
            libc::FAN_MARK_ONLYDIR,
            libc::FAN_OPEN_PERM | libc::FAN_EVENT_ON_CHILD,
            dir,
        )
    }

    /// Takes back [`Group::mark_dir_opens`] (the folder's files opened from now on are no
    /// longer permission events, unless they carry a mark of their own).
    pub(crate) fn unmark_dir_opens(&self, dir: &Path) -> io::Result<()> {
        self.mark_op(
            libc::FAN_MARK_REMOVE | libc::FAN_MARK_ONLYDIR,
            libc::FAN_OPEN_PERM | libc::FAN_EVENT_ON_CHILD,
            dir,
        )
    }

    /// Asks for open-permission events on one file (an inode mark on the file itself; it
    /// follows the file through renames and goes away with its last link). Symbolic links are
    /// not followed (`FAN_MARK_DONT_FOLLOW`): a link planted in a watched folder must not
    /// move a mark elsewhere.
    pub(crate) fn mark_file_opens(&self, file: &Path) -> io::Result<()> {
        self.mark_raw(libc::FAN_MARK_DONT_FOLLOW, libc::FAN_OPEN_PERM, file)
    }

    /// Asks for `mask` on one file (an inode mark), e.g. every write of a canary.
    pub(crate) fn mark_file(&self, file: &Path, mask: u64) -> io::Result<()> {
        self.mark_raw(libc::FAN_MARK_DONT_FOLLOW, mask, file)
    }

    /// The group's fd (for polling from another thread).
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Waits up to `timeout_ms` for events; true when some can be read.
    pub(crate) fn wait(&self, timeout_ms: i32) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, count 1.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        Ok(n > 0)
    }

    /// Reads queued events into `buf`; `Ok(0)` when none are queued.
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match (&self.file).read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Answers a permission event.
    pub(crate) fn respond(&self, fd: RawFd, allow: bool) -> io::Result<()> {
        let response: u32 = if allow {
            libc::FAN_ALLOW
        } else {
            libc::FAN_DENY
        };
        // struct fanotify_response { __s32 fd; __u32 response; }
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&fd.to_ne_bytes());
        bytes[4..].copy_from_slice(&response.to_ne_bytes());
        (&self.file).write_all(&bytes)
    }
}

/// One parsed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub mask: u64,
    /// An open fd for permission events; `FAN_NOFD` (-1) in FID mode.
    pub fd: RawFd,
    pub pid: i32,
    pub infos: Vec<FidName>,
}

/// One `fanotify_event_info_fid` record: a file handle, with the entry name for the
/// `*DFID_NAME` kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FidName {
    pub kind: u8,
    pub fsid: [i32; 2],
    pub handle_type: i32,
    pub handle: Vec<u8>,
    pub name: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Parses a buffer returned by `read(2)` on a fanotify fd. Layout (linux/fanotify.h):
/// `fanotify_event_metadata` { event_len u32, vers u8, reserved u8, metadata_len u16,
/// mask u64, fd s32, pid s32 } followed, up to event_len, by info records each starting with
/// `fanotify_event_info_header` { info_type u8, pad u8, len u16 }. FID records continue with
/// fsid (2 × s32), `struct file_handle` { handle_bytes u32, handle_type s32, f_handle[] } and,
/// for the DFID_NAME kinds, a NUL-terminated name (padded to 4 bytes). Malformed input ends the
/// parse; it never panics.
pub(crate) fn parse(buf: &[u8]) -> Vec<Event> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 24 <= buf.len() {
        let Some(event_len) = u32_at(buf, at).map(|v| v as usize) else {
            break;
        };
        let vers = buf[at + 4];
        let Some(meta_len) = u16_at(buf, at + 6).map(usize::from) else {
            break;
        };
        if event_len < 24 || at + event_len > buf.len() || meta_len < 24 || meta_len > event_len {
            break;
        }
        if vers != libc::FANOTIFY_METADATA_VERSION {
            break;
        }
        let ev = &buf[at..at + event_len];
        let (Some(mask), Some(fd), Some(pid)) = (u64_at(ev, 8), i32_at(ev, 16), i32_at(ev, 20))
        else {
            break;
        };
        let mut infos = Vec::new();
        let mut r = meta_len;
        while r + 4 <= ev.len() {
            let kind = ev[r];
            let Some(len) = u16_at(ev, r + 2).map(usize::from) else {
                break;
            };
            if len < 4 || r + len > ev.len() {
                break;
            }
            let rec = &ev[r..r + len];
            if matches!(
                kind,
                libc::FAN_EVENT_INFO_TYPE_FID
                    | libc::FAN_EVENT_INFO_TYPE_DFID
                    | libc::FAN_EVENT_INFO_TYPE_DFID_NAME
                    | libc::FAN_EVENT_INFO_TYPE_OLD_DFID_NAME
                    | libc::FAN_EVENT_INFO_TYPE_NEW_DFID_NAME
            ) && let Some(f) = parse_fid(kind, rec)
            {
                infos.push(f);
            }
            r += len;
        }
        out.push(Event {
            mask,
            fd,
            pid,
            infos,
        });
        at += event_len;
    }
    out
}

fn parse_fid(kind: u8, rec: &[u8]) -> Option<FidName> {
    let fsid = [i32_at(rec, 4)?, i32_at(rec, 8)?];
    let hb = u32_at(rec, 12)? as usize;
    let handle_type = i32_at(rec, 16)?;
    let handle = rec.get(20..20 + hb)?.to_vec();
    let with_name = matches!(
        kind,
        libc::FAN_EVENT_INFO_TYPE_DFID_NAME
            | libc::FAN_EVENT_INFO_TYPE_OLD_DFID_NAME
            | libc::FAN_EVENT_INFO_TYPE_NEW_DFID_NAME
    );
    let name = if with_name {
        let rest = rec.get(20 + hb..)?;
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        rest[..end].to_vec()
    } else {
        Vec::new()
    };
    Some(FidName {
        kind,
        fsid,
        handle_type,
        handle,
        name,
    })
}

/// The filesystem id of the filesystem holding `path` (what FID records carry).
pub(crate) fn fsid_of(path: &Path) -> io::Result<[i32; 2]> {
    let c = cpath(path)?;
    // SAFETY: statfs is plain data; all-zero is a valid value to be overwritten.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `st` a valid out pointer.
    cvt(unsafe { libc::statfs(c.as_ptr(), &mut st) })?;
    // SAFETY: fsid_t is `struct { int __val[2]; }` (its fields are private in libc), 8 bytes of
    // plain integers, so it has the layout of [i32; 2].
    Ok(unsafe { std::mem::transmute::<libc::fsid_t, [i32; 2]>(st.f_fsid) })
}

/// Turns a directory file handle into its current path, through `mount` (any open directory
/// on the same filesystem): `open_by_handle_at(O_PATH)`, then the `/proc/self/fd` link.
pub(crate) fn dir_path(mount: &File, handle_type: i32, handle: &[u8]) -> io::Result<PathBuf> {
    // struct file_handle { unsigned int handle_bytes; int handle_type; unsigned char f_handle[]; }
    // built in u32 words so that it is 4-byte aligned.
    let mut buf = vec![0u32; 2 + handle.len().div_ceil(4)];
    buf[0] = handle.len() as u32;
    buf[1] = handle_type as u32;
    for (i, chunk) in handle.chunks(4).enumerate() {
        let mut w = [0u8; 4];
        w[..chunk.len()].copy_from_slice(chunk);
        buf[2 + i] = u32::from_ne_bytes(w);
    }
    // SAFETY: `buf` holds a complete, 4-byte aligned struct file_handle whose handle_bytes
    // matches the bytes that follow; the kernel only reads it. `mount` is a valid fd.
    let fd = cvt(unsafe {
        libc::open_by_handle_at(
            mount.as_raw_fd(),
            buf.as_mut_ptr().cast::<libc::file_handle>(),
            libc::O_PATH | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `fd` was just returned by the kernel and is owned by nothing else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    fd_path(owned.as_raw_fd())
}

/// The path an fd of this process refers to.
pub(crate) fn fd_path(fd: RawFd) -> io::Result<PathBuf> {
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}"))?;
    Ok(PathBuf::from(std::ffi::OsString::from_vec(
        link.into_os_string().into_vec(),
    )))
}

/// Takes ownership of the fd a permission event carries (closed when dropped).
pub(crate) fn own_event_fd(fd: RawFd) -> Option<File> {
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel opened `fd` for this process as part of the event, and nothing else
    // owns it; it is closed exactly once, when the File is dropped.
    Some(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Sends `sig` to every process of group `pgid` (`kill(-pgid, sig)`).
pub(crate) fn kill_group(pgid: i32, sig: libc::c_int) -> io::Result<()> {
    if pgid <= 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to signal process group ≤ 1",
        ));
    }
    // SAFETY: kill takes two integers; a negative pid names a process group.
    cvt(unsafe { libc::kill(-pgid, sig) }).map(|_| ())
}

/// Sends `sig` to one process.
pub(crate) fn kill_pid(pid: i32, sig: libc::c_int) -> io::Result<()> {
    if pid <= 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to signal pid ≤ 1",
        ));
    }
    // SAFETY: kill takes two integers.
    cvt(unsafe { libc::kill(pid, sig) }).map(|_| ())
}

/// Whether `pfd` is ready now (poll without waiting).
pub(crate) fn poll_now(pfd: &mut libc::pollfd) -> bool {
    // SAFETY: one valid pollfd, count 1, no wait.
    unsafe { libc::poll(pfd, 1, 0) > 0 }
}

static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// A flag set by SIGTERM, SIGINT or SIGHUP (installed once), so the guard can finish cleanly.
pub fn stop_on_signals() -> &'static std::sync::atomic::AtomicBool {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe; the
        // function pointer has the C ABI signal(2) expects.
        unsafe {
            libc::signal(sig, on_stop_signal as *const () as libc::sighandler_t);
        }
    }
    &STOP
}

/// This process's nice value, when it can be read.
pub(crate) fn own_nice() -> Option<i32> {
    // getpriority can return -1 as a value: clear errno first and check it after.
    // SAFETY: __errno_location returns this thread's errno; getpriority reads no memory of ours.
    unsafe {
        *libc::__errno_location() = 0;
        let n = libc::getpriority(libc::PRIO_PROCESS, 0);
        (*libc::__errno_location() == 0).then_some(n)
    }
}

/// Sets the calling thread's nice value (threads it starts afterwards inherit it).
pub(crate) fn set_own_nice(nice: i32) -> io::Result<()> {
    // SAFETY: setpriority on the calling thread (who = 0) reads no memory of ours.
    cvt(unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) }).map(|_| ())
}

/// The effective user id of this process.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and has no arguments.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(mask: u64, pid: i32, records: &[Vec<u8>]) -> Vec<u8> {
        let body: usize = records.iter().map(Vec::len).sum();
        let mut v = Vec::new();
        v.extend_from_slice(&((24 + body) as u32).to_ne_bytes());
        v.push(libc::FANOTIFY_METADATA_VERSION);
        v.push(0);
        v.extend_from_slice(&24u16.to_ne_bytes());
        v.extend_from_slice(&mask.to_ne_bytes());
        v.extend_from_slice(&(-1i32).to_ne_bytes());
        v.extend_from_slice(&pid.to_ne_bytes());
        for r in records {
            v.extend_from_slice(r);
        }
        v
    }

    fn record(kind: u8, handle: &[u8], name: &str) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&7i32.to_ne_bytes());
        body.extend_from_slice(&9i32.to_ne_bytes());
        body.extend_from_slice(&(handle.len() as u32).to_ne_bytes());
        body.extend_from_slice(&1i32.to_ne_bytes());
        body.extend_from_slice(handle);
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        while (body.len() + 4) % 4 != 0 {
            body.push(0);
        }
        let mut v = vec![kind, 0];
        v.extend_from_slice(&((body.len() + 4) as u16).to_ne_bytes());
        v.extend_from_slice(&body);
        v
    }

    #[test]
    fn parses_rename_with_old_and_new_names() {
        let mut buf = event(
            libc::FAN_RENAME,
            42,
            &[
                record(libc::FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, &[1; 8], "a.pdf"),
                record(
                    libc::FAN_EVENT_INFO_TYPE_NEW_DFID_NAME,
                    &[2; 8],
                    "a.pdf.locked",
                ),
            ],
        );
        buf.extend(event(
            libc::FAN_CLOSE_WRITE,
            43,
            &[record(libc::FAN_EVENT_INFO_TYPE_DFID_NAME, &[3; 12], "b")],
        ));
        let evs = parse(&buf);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].pid, 42);
        assert_eq!(evs[0].infos.len(), 2);
        assert_eq!(evs[0].infos[0].name, b"a.pdf");
        assert_eq!(evs[0].infos[1].name, b"a.pdf.locked");
        assert_eq!(evs[0].infos[1].fsid, [7, 9]);
        assert_eq!(evs[1].infos[0].handle, vec![3; 12]);
        assert_eq!(evs[1].mask, libc::FAN_CLOSE_WRITE);
    }

    #[test]
    fn malformed_input_never_panics() {
        let good = event(
            libc::FAN_CREATE,
            1,
            &[record(libc::FAN_EVENT_INFO_TYPE_DFID_NAME, &[1; 8], "x")],
        );
        for cut in 0..good.len() {
            let _ = parse(&good[..cut]);
        }
        let mut bad = good.clone();
        bad[0] = 200; // event_len beyond the buffer
        assert!(parse(&bad).is_empty());
        let mut x = 1u64;
        for _ in 0..2000 {
            let mut b = good.clone();
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let i = (x >> 33) as usize % b.len();
            b[i] = (x >> 13) as u8;
            let _ = parse(&b);
        }
    }
}
