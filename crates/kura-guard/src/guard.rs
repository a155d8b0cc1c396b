//! The guard itself: marks, the two event loops, judgement per writer, and the trip.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use kura_detect::{
    FileProfile, Profiler, Verdict, VersionSource, canary::is_canary_name, judge_file,
};
use serde::{Deserialize, Serialize};

use crate::canaries::{self, Planted};
use crate::fan::{self, Group};
use crate::score::{Window, thresholds::*};
use crate::state::{self, BlockEntry, GuardStatus, Incident};
use crate::writer::{self, ExeHashes, Writer};
use crate::{Error, Result};

/// What the guard does to a writer it judged malicious.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// SIGSTOP the whole process group at once, then SIGKILL it (the default).
    #[default]
    Kill,
    /// SIGSTOP only: leave it frozen for forensics.
    Stop,
    /// Report only (piloting the guard).
    Alert,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Kill => "kill",
            Action::Stop => "stop",
            Action::Alert => "alert",
        }
    }
}

/// A writer that is scored and reported but never stopped (the EMR's database server, the
/// PACS receiver): its executable path and SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trusted {
    /// The executable.
    pub exe: PathBuf,
    /// Its SHA-256 (hex), so a replaced binary at the same path is not trusted.
    pub sha256: String,
}

/// How to run the guard.
#[derive(Clone, Debug)]
pub struct GuardOptions {
    /// Folders to watch.
    pub roots: Vec<PathBuf>,
    /// kura's state directory (incidents, blocklist, audit log, events).
    pub state_dir: PathBuf,
    /// What to do on a trip.
    pub action: Action,
    /// Writers never stopped.
    pub trusted: Vec<Trusted>,
    /// Run on a trip (no shell); the writer's details are in its environment.
    pub isolate_command: Option<Vec<String>>,
    /// Plant canaries in the watched trees.
    pub canaries: bool,
    /// smb.conf of the Samba server whose clients write here (for `smbcontrol -s`).
    pub smb_conf: Option<PathBuf>,
    /// Make every open in the watched folders a permission event, a new file's creating open
    /// included (`guard.check_every_open`). Off (the default), each existing file carries its
    /// own open-permission mark and a new file gets one as soon as the guard has seen it
    /// created, so writing new files (an untar, `cp -a`, a scan batch) does not wait for the
    /// guard; every open is checked anyway while the blocklist is not empty.
    pub check_every_open: bool,
}

impl GuardOptions {
    /// Defaults: kill, canaries on, nothing trusted, no isolate command.
    pub fn new(roots: Vec<PathBuf>, state_dir: PathBuf) -> Self {
        GuardOptions {
            roots,
            state_dir,
            action: Action::Kill,
            trusted: Vec::new(),
            isolate_command: None,
            canaries: true,
            smb_conf: None,
            check_every_open: false,
        }
    }
}

/// What the guard tells its caller.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Report {
    /// Every mark is in place.
    Ready {
        /// The guard's pid.
        pid: u32,
        /// Watched roots.
        roots: Vec<PathBuf>,
        /// Folders whose every open is a permission event (all of them while the blocklist
        /// is not empty or with `guard.check_every_open`, else none).
        marked_dirs: usize,
        /// Files with an open-permission mark of their own.
        marked_files: usize,
        /// Canaries planted.
        canaries: Vec<Planted>,
        /// The action on a trip.
        action: Action,
    },
    /// A writer was judged malicious.
    Tripped(Box<Incident>),
    /// The kernel's event queue overflowed: events were lost.
    Overflow {
        /// Overflows so far.
        count: u64,
    },
    /// Something the operator should know (e.g. a network filesystem).
    Warning {
        /// One line.
        message: String,
    },
}

/// A before-image: the file's profile and size when a writer opened it.
struct Before {
    key: (u64, u64, i64),
    size: u64,
    profile: Option<FileProfile>,
    at: Instant,
}

/// The guard's before-images as kura-detect's earlier version of a file (the backup's is the
/// newest clean snapshot; the guard's is the file as it was when the writer opened it).
struct BeforeImages<'a>(&'a Mutex<HashMap<PathBuf, Before>>);

impl VersionSource for BeforeImages<'_> {
    fn profile(&mut self, path: &str) -> std::result::Result<FileProfile, String> {
        lock(self.0)
            .get(Path::new(path))
            .and_then(|b| b.profile.clone())
            .filter(|p| p.size > 0)
            .ok_or_else(|| {
                "no before-image: the file was opened before its writer was active".into()
            })
    }
}

/// State shared by the two event loops.
struct Shared {
    own_pid: i32,
    own_pgid: i32,
    own_exe: Option<PathBuf>,
    stop: AtomicBool,
    busy: AtomicBool,
    /// An open waits for the notification loop (it must not nap).
    waiting: AtomicBool,
    blocked: RwLock<HashSet<String>>,
    trusted_hashes: HashSet<String>,
    denied: Mutex<HashSet<i32>>,
    active: Mutex<HashSet<i32>>,
    suspects: Mutex<HashSet<i32>>,
    /// The canaries the guard planted (their names are fixed per folder, re-planting keeps them).
    canaries: RwLock<HashSet<PathBuf>>,
    /// Writers (pid and process group) that opened a planted canary, and when.
    canary_openers: Mutex<HashMap<i32, Instant>>,
    befores: Mutex<HashMap<PathBuf, Before>>,
    roots: Vec<PathBuf>,
    /// Writers grouped by their service or scope cgroup (writer.rs), for both loops.
    cgroups: Mutex<writer::Cgroups>,
}

impl Shared {
    fn within(&self, p: &Path) -> bool {
        self.roots.iter().any(|r| p.starts_with(r))
    }

    /// Nothing seen yet: no writer denied, active, suspect or holding a canary.
    fn new(
        own_pid: i32,
        own_exe: Option<PathBuf>,
        blocked: HashSet<String>,
        trusted_hashes: HashSet<String>,
        roots: Vec<PathBuf>,
    ) -> Shared {
        Shared {
            own_pid,
            own_pgid: writer::pgid_of(own_pid).unwrap_or(own_pid),
            own_exe,
            stop: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            waiting: AtomicBool::new(false),
            blocked: RwLock::new(blocked),
            trusted_hashes,
            denied: Mutex::new(HashSet::new()),
            active: Mutex::new(HashSet::new()),
            suspects: Mutex::new(HashSet::new()),
            canaries: RwLock::new(HashSet::new()),
            canary_openers: Mutex::new(HashMap::new()),
            befores: Mutex::new(HashMap::new()),
            roots,
            cgroups: Mutex::new(writer::Cgroups::default()),
        }
    }

    /// The writer key of `pid` (in process group `pgid`) and the cgroup it is grouped by: its
    /// own pid for an `smbd` child (one SMB client per child; smbd's group must never be
    /// signalled), else its service or scope cgroup's key ([`writer::Cgroups`]), else its
    /// process group. The one key both loops use: the notification loop scores and stops a
    /// writer by it, the permission thread denies and holds its opens by it, so eight `setsid`
    /// workers of one cgroup are one writer on both paths.
    fn writer_key(&self, pid: i32, pgid: i32, smbd: bool) -> (i32, Option<String>) {
        if smbd {
            return (pid, None);
        }
        lock(&self.cgroups).key(pid, pgid)
    }

    /// kura's own processes (this one, its group, and other runs of the same binary) are never
    /// writers.
    fn is_own_exe(&self, pid: i32, pgid: Option<i32>, exe: Option<&Path>) -> bool {
        pid == self.own_pid
            || pgid == Some(self.own_pgid)
            || self.own_exe.as_deref().is_some_and(|e| exe == Some(e))
    }
}

/// A running guard: marks in place, permission thread started.
pub struct Guard {
    opts: GuardOptions,
    shared: Arc<Shared>,
    notify: Group,
    perm: Arc<Group>,
    perm_thread: Option<std::thread::JoinHandle<()>>,
    mounts: Vec<([i32; 2], File)>,
    dir_cache: HashMap<Vec<u8>, Option<PathBuf>>,
    windows: HashMap<i32, Window>,
    /// Pids of tripped writers: their events still queued are not a new writer.
    tripped_pids: HashMap<i32, i32>,
    /// Writers with changes not judged yet.
    pending: BTreeSet<i32>,
    files: u64,
    planted: Vec<Planted>,
    canary_paths: HashSet<PathBuf>,
    canary_seed: HashMap<PathBuf, u64>,
    overflows: u64,
    marked_dirs: usize,
    /// The folders carrying a folder-wide open-permission mark ([`Guard::set_open_scope`]).
    folder_marks: Vec<PathBuf>,
    /// Whether files carry open-permission marks of their own (false when the tree has more
    /// files than [`file_mark_budget`] allows: then every open is checked instead).
    file_marks: bool,
    marked_files: usize,
    /// Files created in the batch being handled: marked once the batch is done (after the
    /// guard has read them back, so its own reads are not permission events).
    new_files: Vec<PathBuf>,
    /// Files born (statx birth time, ns since the epoch) before this are the ones the guard
    /// found at start (or forgot, see [`LEARNED_MAX`]).
    born_after: i128,
    /// The new files the guard has learned of (device, inode, birth time: an inode number
    /// reused by a later file is a new file again).
    learned: HashSet<(u64, u64, i128)>,
    /// Files closed after writing that were gone when the guard read the close (renamed or
    /// deleted at once): a later rename or delete of one may be of a temporary file it never
    /// saw ([`Guard::handle`]).
    vanished: HashMap<PathBuf, Instant>,
    /// Whether the filesystem mark asks for `FAN_CREATE` now ([`Guard::watch_creates`]).
    creates_watched: bool,
    /// A watched filesystem records no birth times: new files are learned from `FAN_CREATE`
    /// then, always.
    creates_always: bool,
    startup_warnings: Vec<String>,
    audit: Option<kura_audit::AuditLog>,
}

// statfs f_type values (linux/magic.h) of filesystems whose remote writers fanotify cannot see.
const REMOTE_FS: &[(i64, &str)] = &[
    (0x6969, "NFS"),
    (0xFF53_4D42, "CIFS"),
    (0xFE53_4D42, "SMB2"),
    (0x517B, "SMB"),
];

/// The network filesystem `path` is on, if it is one ([`REMOTE_FS`]); `None` for a local one or
/// when the filesystem cannot be asked.
fn remote_fs(path: &Path) -> Option<&'static str> {
    let st = rustix::fs::statfs(path).ok()?;
    // f_type is an i64 on x86_64 and aarch64, narrower on a few 32-bit targets.
    #[allow(clippy::useless_conversion)]
    remote_kind(i64::from(st.f_type))
}

fn remote_kind(f_type: i64) -> Option<&'static str> {
    // f_type is signed on some targets: compare its low 32 bits, as linux/magic.h writes them.
    let t = f_type & 0xFFFF_FFFF;
    REMOTE_FS.iter().find(|(m, _)| *m == t).map(|(_, n)| *n)
}

fn fan_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Fanotify { what, source }
}

/// Profiles a file through an open handle the way both sides of a comparison must be profiled
/// (whole up to [`PROFILE_WHOLE`], else head and tail). Without the similarity sketch unless
/// `sketch` (a file with no before-image is judged on its own, never compared).
fn profile(f: &mut File, size: u64, sketch: bool) -> Option<FileProfile> {
    let mut p = if sketch {
        Profiler::new("")
    } else {
        Profiler::without_sketch()
    };
    let mut buf = vec![0u8; 1 << 16];
    let mut feed = |f: &mut File, mut left: u64, p: &mut Profiler| -> Option<()> {
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = f.read(&mut buf[..want]).ok()?;
            if n == 0 {
                break;
            }
            p.update(&buf[..n]);
            left -= n as u64;
        }
        Some(())
    };
    f.seek(SeekFrom::Start(0)).ok()?;
    if size <= PROFILE_WHOLE {
        feed(f, size, &mut p)?;
    } else {
        feed(f, PROFILE_HEAD, &mut p)?;
        f.seek(SeekFrom::Start(size - PROFILE_TAIL)).ok()?;
        feed(f, PROFILE_TAIL, &mut p)?;
    }
    Some(p.finish())
}

/// The most new files the guard remembers ([`Guard::learned`]); beyond it, those born more than
/// [`LEARNED_KEEP_SECS`] ago are forgotten (a file created before then and closed after
/// writing only now is taken for an old one: no created entry, no open mark).
const LEARNED_MAX: usize = 1 << 20;
/// See [`LEARNED_MAX`].
const LEARNED_KEEP_SECS: i128 = 600;
/// The most paths [`Guard::vanished`] keeps (it is emptied when full, and of entries older than
/// a window once a second).
const VANISHED_MAX: usize = 4096;

/// A file's birth time (statx `btime`) in ns since the epoch, when its filesystem records one.
fn birth_ns(m: &std::fs::Metadata) -> Option<i128> {
    m.created().ok().map(birth_ns_of)
}

/// The current time in ns since the epoch (what [`birth_ns`] compares with).
fn now_ns() -> i128 {
    birth_ns_of(std::time::SystemTime::now())
}

fn birth_ns_of(t: std::time::SystemTime) -> i128 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// Whether the file `m` describes is new to the guard: born after `born_after` and not learned
/// yet. Learns it. False when the filesystem records no birth time.
fn learn_new(
    learned: &mut HashSet<(u64, u64, i128)>,
    born_after: i128,
    m: &std::fs::Metadata,
) -> bool {
    let Some(b) = birth_ns(m) else {
        return false;
    };
    b >= born_after && learned.insert((m.dev(), m.ino(), b))
}

/// Opens a regular file for reading back (never waiting on a FIFO) with its metadata.
fn open_regular(p: &Path) -> Option<(File, std::fs::Metadata)> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(p)
        .ok()?;
    let m = f.metadata().ok()?;
    m.is_file().then_some((f, m))
}

fn file_key(m: &std::fs::Metadata) -> (u64, u64, i64) {
    (
        m.ino(),
        m.size(),
        m.mtime_nsec() + m.mtime() * 1_000_000_000,
    )
}

/// The regular files directly inside `dirs`.
fn files_in(dirs: &[PathBuf]) -> Vec<PathBuf> {
    dirs.iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|rd| rd.flatten())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect()
}

/// How many files may carry an open-permission mark of their own: [`FILE_MARKS_MAX`], and at
/// most half of what fanotify allows one user (the rest for folders and other programs).
fn file_mark_budget() -> u64 {
    fan::max_user_marks().map_or(FILE_MARKS_MAX, |m| (m / 2).min(FILE_MARKS_MAX))
}

fn all_dirs(root: &Path, out: &mut Vec<PathBuf>, files: &mut u64) {
    out.push(root.to_path_buf());
    let Ok(rd) = std::fs::read_dir(root) else {
        return;
    };
    for e in rd.flatten() {
        match e.file_type() {
            Ok(t) if t.is_dir() => all_dirs(&e.path(), out, files),
            Ok(t) if t.is_file() => *files += 1,
            _ => {}
        }
    }
}

impl Guard {
    /// Checks privileges, plants canaries, creates both groups and sets every mark. The guard
    /// is ready (nothing is missed from here on) when this returns.
    pub fn start(opts: GuardOptions) -> Result<Guard> {
        if fan::euid() != 0 {
            return Err(Error::NotRoot);
        }
        // Started at the default priority (by hand, or by a unit without `Nice=`): run ahead
        // of normal work as packaging/kura-guard.service asks, so a busy machine cannot starve
        // the guard while an encryptor runs. Done before any thread starts (Linux keeps the
        // nice value per thread; new threads inherit it). A priority the site set is kept.
        if fan::own_nice() == Some(0) {
            let _ = fan::set_own_nice(GUARD_NICE);
        }
        // Files born from here on are new ones (learned at their first close after writing).
        // Birth times come from the kernel's coarse clock, a tick behind this one.
        let born_after = now_ns() - 50_000_000;
        let mut roots = Vec::new();
        for r in &opts.roots {
            let c = r.canonicalize().map_err(|e| Error::BadPath {
                path: r.clone(),
                reason: e.to_string(),
            })?;
            if !c.is_dir() {
                return Err(Error::BadPath {
                    path: r.clone(),
                    reason: "not a folder".into(),
                });
            }
            roots.push(c);
        }
        if roots.is_empty() {
            return Err(Error::BadPath {
                path: PathBuf::new(),
                reason: "no folder to watch: give paths or set backup.sources in kura.toml".into(),
            });
        }
        let mut startup_warnings = Vec::new();
        for r in &roots {
            if let Some(kind) = remote_fs(r) {
                startup_warnings.push(format!(
                    "{} is on {kind}: fanotify sees only writes made on this machine, not those of other machines through the network filesystem; run the guard on the file server instead",
                    r.display()
                ));
            }
        }
        let own_pid = std::process::id() as i32;
        let blocked: HashSet<String> = state::blocklist(&opts.state_dir)?
            .into_iter()
            .map(|e| e.sha256.to_ascii_lowercase())
            .collect();
        let shared = Arc::new(Shared::new(
            own_pid,
            std::fs::read_link("/proc/self/exe").ok(),
            blocked,
            opts.trusted
                .iter()
                .map(|t| t.sha256.to_ascii_lowercase())
                .collect(),
            roots.clone(),
        ));

        // Canaries first (our own writes are never scored, but nothing to judge yet either).
        let mut planted = Vec::new();
        let mut canary_seed = HashMap::new();
        if opts.canaries {
            for r in &roots {
                // Machine-wide cache (the seed depends on the filesystem only).
                let cache = fan::fsid_of(r).ok().map(|f| {
                    PathBuf::from("/run/kura")
                        .join(format!("guard-canary-seed-{:x}-{:x}", f[0], f[1]))
                });
                let seed = canaries::best_seed(r, cache.as_deref()).map_err(|e| Error::Io {
                    path: r.clone(),
                    source: e,
                })?;
                for d in canaries::folders(r) {
                    let p = canaries::plant(&d, seed).map_err(|e| Error::Io {
                        path: d.clone(),
                        source: e,
                    })?;
                    canary_seed.insert(d.clone(), seed);
                    planted.push(p);
                }
            }
        }

        if let Ok(mut c) = shared.canaries.write() {
            c.extend(planted.iter().flat_map(|p| p.files.iter().cloned()));
        }

        let notify = Group::notification().map_err(fan_err("init (notification group)"))?;
        let perm = Arc::new(Group::permission().map_err(fan_err("init (permission group)"))?);
        let mut mounts = Vec::new();
        let mut files = 0u64;
        let mut all_folders = Vec::new();
        for r in &roots {
            let fsid = fan::fsid_of(r).map_err(fan_err(format!("statfs {}", r.display())))?;
            if !mounts.iter().any(|(f, _)| *f == fsid) {
                notify
                    .mark_filesystem(r)
                    .map_err(fan_err(format!("mark filesystem of {}", r.display())))?;
                let m = File::open(r).map_err(|e| Error::Io {
                    path: r.clone(),
                    source: e,
                })?;
                mounts.push((fsid, m));
            }
            all_dirs(r, &mut all_folders, &mut files);
        }
        for p in planted.iter().flat_map(|p| p.files.iter()) {
            notify
                .mark_file(p, fan::CANARY_MASK)
                .map_err(fan_err(format!("mark {}", p.display())))?;
        }
        // Opens: each existing file carries a mark of its own (new files get theirs as they
        // are created), unless the tree is too large for that; folder marks come on top while
        // the blocklist is not empty ([`Guard::set_open_scope`]).
        let mut file_marks = !opts.check_every_open && files <= file_mark_budget();
        let mut marked_files = 0usize;
        if !opts.check_every_open && !file_marks {
            startup_warnings.push(format!(
                "{files} files are watched, more than the {} open-permission marks the guard places one per file: every open in the watched folders waits for the guard (slower writes of new files)",
                file_mark_budget()
            ));
        }
        if file_marks {
            for d in &all_folders {
                for f in files_in(std::slice::from_ref(d)) {
                    match perm.mark_file_opens(&f) {
                        Ok(()) => marked_files += 1,
                        Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                            file_marks = false;
                            startup_warnings.push(format!(
                                "fanotify's mark limit (fs.fanotify.max_user_marks) was reached after {marked_files} files: every open in the watched folders waits for the guard (slower writes of new files)"
                            ));
                            break;
                        }
                        Err(_) => {}
                    }
                }
                if !file_marks {
                    break;
                }
            }
        }
        let audit = kura_audit::AuditLog::open(&opts.state_dir.join("audit")).ok();
        let perm_thread = {
            let shared = Arc::clone(&shared);
            let perm = Arc::clone(&perm);
            let notify_fd = notify_raw(&notify);
            std::thread::Builder::new()
                .name("kura-guard-perm".into())
                .spawn(move || permission_loop(&perm, &shared, notify_fd))
                .map_err(|e| Error::Io {
                    path: PathBuf::from("thread"),
                    source: e,
                })?
        };
        Ok(Guard {
            opts: GuardOptions {
                roots: roots.clone(),
                ..opts
            },
            shared,
            notify,
            perm,
            perm_thread: Some(perm_thread),
            mounts,
            dir_cache: HashMap::new(),
            windows: HashMap::new(),
            tripped_pids: HashMap::new(),
            pending: BTreeSet::new(),
            files,
            canary_paths: planted
                .iter()
                .flat_map(|p| p.files.iter().cloned())
                .collect(),
            planted,
            canary_seed,
            overflows: 0,
            marked_dirs: 0,
            folder_marks: Vec::new(),
            file_marks,
            marked_files,
            new_files: Vec::new(),
            born_after,
            learned: HashSet::new(),
            vanished: HashMap::new(),
            creates_watched: false,
            creates_always: roots.iter().any(|r| {
                std::fs::metadata(r)
                    .ok()
                    .and_then(|m| birth_ns(&m))
                    .is_none()
            }),
            startup_warnings,
            audit,
        }
        .with_open_scope(all_folders))
    }

    fn with_open_scope(mut self, folders: Vec<PathBuf>) -> Guard {
        let want = self.every_open_wanted();
        self.watch_creates(want);
        if want {
            self.arm_folder_marks(folders);
        }
        self
    }

    /// Asks for `FAN_CREATE` on the watched filesystems (`on`) or takes it back: wanted while
    /// folder-wide open marks are armed (a new folder gets its mark as soon as it is created),
    /// and always on a filesystem without birth times. Otherwise a new file is learned from
    /// its first close after writing ([`learn_new`]), one event per new file instead of two.
    fn watch_creates(&mut self, on: bool) {
        let on = on || self.creates_always;
        if on == self.creates_watched {
            return;
        }
        for r in &self.opts.roots {
            if let Err(e) = self.notify.watch_creates(r, on) {
                tracing::warn!("cannot change the create events of {}: {e}", r.display());
            }
        }
        self.creates_watched = on;
    }

    /// Whether every open in the watched folders must be a permission event now: asked for,
    /// files without marks of their own, executables on the blocklist (a blocklisted program
    /// must not even create a file), or a suspect writer (its creating opens wait for the
    /// guard too, so an attack that writes new files and deletes the originals, as an SMB
    /// client does, cannot race ahead of its judgement on a loaded machine).
    fn every_open_wanted(&self) -> bool {
        self.opts.check_every_open
            || !self.file_marks
            || self.shared.blocked.read().map_or(true, |b| !b.is_empty())
            || !lock(&self.shared.suspects).is_empty()
    }

    /// Puts folder-wide open-permission marks on `folders` (every open in them waits for the
    /// guard from here on).
    fn arm_folder_marks(&mut self, folders: Vec<PathBuf>) {
        for d in folders {
            if self.perm.mark_dir_opens(&d).is_ok() {
                self.folder_marks.push(d);
            }
        }
        self.marked_dirs = self.folder_marks.len();
    }

    /// Arms or takes back the folder-wide open marks as [`Guard::every_open_wanted`] says
    /// (after a trip added to the blocklist, or once a second as it is reloaded).
    fn set_open_scope(&mut self) {
        let want = self.every_open_wanted();
        if want && self.folder_marks.is_empty() {
            // Creates first: a folder made while the tree is walked is marked at its create.
            self.watch_creates(true);
            let mut folders = Vec::new();
            let mut n = 0u64;
            for r in self.opts.roots.clone() {
                all_dirs(&r, &mut folders, &mut n);
            }
            self.arm_folder_marks(folders);
        } else if !want && !self.folder_marks.is_empty() {
            for d in std::mem::take(&mut self.folder_marks) {
                let _ = self.perm.unmark_dir_opens(&d);
            }
            self.marked_dirs = 0;
        }
        if !want {
            self.watch_creates(false);
        }
    }

    /// Gives the files created in the last batch their open-permission marks (and the files
    /// below a folder moved in from outside the watched trees).
    fn mark_new_files(&mut self) {
        if !self.file_marks {
            self.new_files.clear();
            return;
        }
        for p in std::mem::take(&mut self.new_files) {
            match self.perm.mark_file_opens(&p) {
                Ok(()) => self.marked_files += 1,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                    self.file_marks = false;
                    tracing::warn!(
                        "fanotify's mark limit (fs.fanotify.max_user_marks) was reached: every open in the watched folders now waits for the guard"
                    );
                    self.set_open_scope();
                    return;
                }
                Err(_) => {}
            }
        }
    }

    /// Runs until `stop` is set, calling `sink` with each report (first `Ready`).
    pub fn run(&mut self, stop: &AtomicBool, sink: &mut dyn FnMut(Report)) -> Result<()> {
        for w in std::mem::take(&mut self.startup_warnings) {
            sink(Report::Warning { message: w });
        }
        let _ = state::write_status(
            &self.opts.state_dir,
            &GuardStatus {
                pid: std::process::id(),
                since: jiff::Timestamp::now(),
                roots: self.opts.roots.clone(),
                action: self.opts.action.as_str().into(),
            },
        );
        sink(Report::Ready {
            pid: std::process::id(),
            roots: self.opts.roots.clone(),
            marked_dirs: self.marked_dirs,
            marked_files: self.marked_files,
            canaries: self.planted.clone(),
            action: self.opts.action,
        });
        let mut buf = vec![0u8; 256 * 1024];
        let mut last_tick = Instant::now();
        let result = loop {
            if stop.load(Ordering::Relaxed) {
                break Ok(());
            }
            match self.notify.wait(100) {
                Ok(true) => loop {
                    self.shared.busy.store(true, Ordering::SeqCst);
                    let n = match self.notify.read(&mut buf) {
                        Ok(n) => n,
                        Err(e) => {
                            self.shared.busy.store(false, Ordering::SeqCst);
                            return Err(fan_err("read")(e));
                        }
                    };
                    if n == 0 {
                        self.shared.busy.store(false, Ordering::SeqCst);
                        break;
                    }
                    let events = fan::parse(&buf[..n]);
                    self.handle(events, sink);
                    if self.may_batch() {
                        // Let the next events gather: a writer's event that finds the guard
                        // asleep in poll() costs it a wake-up (an interrupt to another CPU),
                        // one that finds it busy or napping costs nothing extra.
                        std::thread::sleep(Duration::from_micros(NOTIFY_BATCH_US));
                    }
                },
                Ok(false) => {}
                Err(e) => break Err(fan_err("poll")(e)),
            }
            self.judge_pending(sink);
            if last_tick.elapsed() >= Duration::from_secs(1) {
                last_tick = Instant::now();
                self.tick(sink);
            }
        };
        self.shutdown();
        result
    }

    /// Whether the notification loop may nap between batches: only while no writer is a
    /// suspect, none opened a canary lately and no open waits for the loop.
    fn may_batch(&self) -> bool {
        !self.shared.waiting.load(Ordering::SeqCst)
            && lock(&self.shared.suspects).is_empty()
            && lock(&self.shared.canary_openers)
                .values()
                .all(|t| t.elapsed() >= Duration::from_millis(CANARY_HOLD_MS))
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.perm_thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(state::guard_dir(&self.opts.state_dir).join("status.json"));
    }

    /// Once a second: forget old activity, re-plant missing canaries, reload the blocklist.
    fn tick(&mut self, _sink: &mut dyn FnMut(Report)) {
        let now = Instant::now();
        for w in self.windows.values_mut() {
            w.prune(now);
        }
        self.windows
            .retain(|_, w| now.duration_since(w.last) < Duration::from_secs(HISTORY_SECS));
        {
            let recent = |g: &i32| {
                self.windows
                    .get(g)
                    .is_some_and(|w| now.duration_since(w.last) < Duration::from_secs(WINDOW_SECS))
            };
            lock(&self.shared.active).retain(recent);
            // A suspect that has been quiet for a window is one no longer (its opens stop
            // waiting, and the folder-wide marks go once no suspect is left).
            let mut suspects = lock(&self.shared.suspects);
            suspects.retain(recent);
            for (g, w) in &mut self.windows {
                if w.suspect && !suspects.contains(g) {
                    w.suspect = false;
                }
            }
        }
        {
            let mut b = lock(&self.shared.befores);
            b.retain(|_, v| now.duration_since(v.at) < Duration::from_secs(WINDOW_SECS));
        }
        self.vanished
            .retain(|_, t| now.duration_since(*t) < Duration::from_secs(WINDOW_SECS));
        if self.learned.len() > LEARNED_MAX {
            self.born_after = self
                .born_after
                .max(now_ns() - LEARNED_KEEP_SECS * 1_000_000_000);
            let after = self.born_after;
            self.learned.retain(|(_, _, b)| *b >= after);
        }
        self.replant();
        if let Ok(list) = state::blocklist(&self.opts.state_dir)
            && let Ok(mut b) = self.shared.blocked.write()
        {
            *b = list
                .into_iter()
                .map(|e| e.sha256.to_ascii_lowercase())
                .collect();
        }
        self.set_open_scope();
    }

    fn replant(&mut self) {
        for p in &mut self.planted {
            if p.files.iter().any(|f| !f.exists())
                && let Some(seed) = self.canary_seed.get(&p.dir)
                && let Ok(again) = canaries::plant(&p.dir, *seed)
            {
                for f in &again.files {
                    let _ = self.notify.mark_file(f, fan::CANARY_MASK);
                    if self.file_marks {
                        let _ = self.perm.mark_file_opens(f);
                    }
                }
                *p = again;
            }
        }
    }

    fn resolve(&mut self, info: &fan::FidName) -> Option<PathBuf> {
        let key: Vec<u8> = info
            .fsid
            .iter()
            .flat_map(|x| x.to_ne_bytes())
            .chain(info.handle_type.to_ne_bytes())
            .chain(info.handle.iter().copied())
            .collect();
        let dir = match self.dir_cache.get(&key) {
            Some(d) => d.clone(),
            None => {
                let (_, mount) = self.mounts.iter().find(|(f, _)| *f == info.fsid)?;
                let d = fan::dir_path(mount, info.handle_type, &info.handle)
                    .ok()
                    .filter(|d| self.shared.within(d));
                if self.dir_cache.len() > 65_536 {
                    self.dir_cache.clear();
                }
                self.dir_cache.insert(key, d.clone());
                d
            }
        }?;
        if info.name.is_empty() || info.name == b"." {
            return Some(dir);
        }
        Some(dir.join(std::ffi::OsStr::from_bytes(&info.name)))
    }

    fn handle(&mut self, events: Vec<fan::Event>, sink: &mut dyn FnMut(Report)) {
        let now = Instant::now();
        // Per pid, once per batch: (process group, an smbd child, one of kura's own processes).
        let mut keys: HashMap<i32, (Option<i32>, bool, bool)> = HashMap::new();
        for ev in events {
            if ev.mask & libc::FAN_Q_OVERFLOW != 0 {
                self.overflow(sink);
                continue;
            }
            let Some(info) = ev.infos.first() else {
                continue;
            };
            let path = self.resolve(info);
            let new_path = if ev.mask & libc::FAN_RENAME != 0 {
                ev.infos
                    .iter()
                    .find(|i| i.kind == libc::FAN_EVENT_INFO_TYPE_NEW_DFID_NAME)
                    .and_then(|i| self.resolve(i))
            } else {
                None
            };
            if path.is_none() && new_path.is_none() {
                continue;
            }
            if ev.mask & libc::FAN_ONDIR != 0 {
                // Folders: mark new ones for open permission while every open is checked;
                // give the files of a folder moved in from outside the watched trees their
                // marks; forget cached folder paths that a rename or delete made stale.
                // Folder events are not scored.
                if ev.mask & (libc::FAN_RENAME | libc::FAN_DELETE) != 0 {
                    self.dir_cache.clear();
                }
                let arrived = if ev.mask & libc::FAN_CREATE != 0 {
                    path.clone()
                } else {
                    new_path.clone()
                };
                if let Some(p) = arrived {
                    let mut dirs = Vec::new();
                    let mut n = 0;
                    if ev.mask & libc::FAN_RENAME != 0 && path.is_none() {
                        all_dirs(&p, &mut dirs, &mut n);
                        self.new_files.extend(files_in(&dirs));
                    } else {
                        dirs.push(p);
                    }
                    if !self.folder_marks.is_empty() {
                        self.arm_folder_marks(dirs);
                    }
                }
                continue;
            }
            // A new file (or one moved in) gets its own open-permission mark once this batch
            // is done; a rename within the trees keeps the mark (it is on the file). New files
            // are learned from their first close after writing ([`learn_new`]; `FAN_CREATE`
            // only comes while every open is checked): `born` is its size then, and the
            // writer's window records the file as created.
            // A file closed after writing is opened once, here: its metadata tells whether it
            // is new, and the same handle is read back below.
            let mut born = None;
            let mut opened = None;
            if ev.mask & libc::FAN_CLOSE_WRITE != 0
                && let Some(p) = &path
                && let Some((f, m)) = open_regular(p)
            {
                if ev.mask & libc::FAN_CREATE != 0 {
                    learn_new(&mut self.learned, self.born_after, &m);
                    self.new_files.push(p.clone());
                } else if learn_new(&mut self.learned, self.born_after, &m) {
                    self.new_files.push(p.clone());
                    born = Some(m.len());
                }
                opened = Some((f, m));
            } else if ev.mask & libc::FAN_CLOSE_WRITE != 0
                && let Some(p) = &path
                && std::fs::symlink_metadata(p).is_err()
            {
                if self.vanished.len() >= VANISHED_MAX {
                    self.vanished.clear();
                }
                self.vanished.insert(p.clone(), now);
            } else if ev.mask & libc::FAN_CREATE != 0
                && let Some(p) = &path
            {
                if let Ok(m) = std::fs::symlink_metadata(p) {
                    learn_new(&mut self.learned, self.born_after, &m);
                }
                self.new_files.push(p.clone());
            } else if ev.mask & libc::FAN_RENAME != 0
                && path.is_none()
                && let Some(p) = &new_path
            {
                if let Ok(m) = std::fs::symlink_metadata(p) {
                    learn_new(&mut self.learned, self.born_after, &m);
                }
                self.new_files.push(p.clone());
            }
            let shared = &self.shared;
            let (pgid, smbd, own) = *keys.entry(ev.pid).or_insert_with(|| {
                let exe = std::fs::read_link(format!("/proc/{}/exe", ev.pid)).ok();
                let pgid = writer::pgid_of(ev.pid);
                (
                    pgid,
                    crate::smb::is_smbd(exe.as_deref()),
                    shared.is_own_exe(ev.pid, pgid, exe.as_deref()),
                )
            });
            if own {
                continue;
            }
            // An smbd child is one SMB client session: keyed by its pid (all smbd children
            // share smbd's process group, which must never be signalled). Unknown group (the
            // process is already gone): keyed by its pid negated, never signalled.
            // A tripped writer's events still queued (even once it is dead) belong to its
            // incident: they complete the damage list.
            // A process in a service or scope cgroup: keyed by the cgroup (writer.rs).
            let (key, cgroup) = match (self.tripped_pids.get(&ev.pid), pgid) {
                (Some(&k), _) => (k, None),
                (None, Some(g)) => self.shared.writer_key(ev.pid, g, smbd),
                (None, None) => (-ev.pid, None),
            };
            let win = self.windows.entry(key).or_insert_with(|| {
                let mut w = writer::attribute(ev.pid).unwrap_or(Writer {
                    pgid: key,
                    sid: 0,
                    pid: ev.pid,
                    exe: None,
                    comm: String::new(),
                    uid: 0,
                    ..Writer::default()
                });
                w.cgroup = cgroup;
                if smbd {
                    crate::smb::identify(&mut w, ev.pid, self.opts.smb_conf.as_deref());
                }
                let mut win = Window::new(w, now);
                win.smb = smbd;
                win
            });
            win.pids.insert(ev.pid);
            if win.tripped {
                win.changed_after_trip = true;
            }
            lock(&self.shared.active).insert(key);
            // A canary the guard planted, written, deleted or renamed away (a copy that merely
            // carries a canary's name, e.g. from `cp -a`, is not one).
            let canary_hit = path.as_ref().is_some_and(|p| self.canary_paths.contains(p))
                && ev.mask
                    & (libc::FAN_MODIFY
                        | libc::FAN_CLOSE_WRITE
                        | libc::FAN_DELETE
                        | libc::FAN_RENAME)
                    != 0;
            let size_of = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            if canary_hit {
                if let Some(p) = &path {
                    win.canary(&p.to_string_lossy(), now);
                }
                // A canary renamed away leaves the attacker's file under the new name: it is
                // listed for removal like any other file the writer created.
                if ev.mask & libc::FAN_RENAME != 0
                    && let Some(n) = &new_path
                {
                    win.created(&n.to_string_lossy(), size_of(n), now);
                }
                self.judge_now(key, now, sink);
                continue;
            }
            // Copies of decoys (`cp -a` of a folder, then `rm -r`) are neither data nor canaries:
            // kura-detect's canary rule would count their deletion, so they are left out.
            let decoy_copy = |p: &Option<PathBuf>| {
                p.as_ref().is_some_and(|p| {
                    !self.canary_paths.contains(p) && p.file_name().is_some_and(is_canary_name)
                })
            };
            if decoy_copy(&path) && (new_path.is_none() || decoy_copy(&new_path)) {
                continue;
            }
            if ev.mask & libc::FAN_RENAME != 0 {
                let meta = new_path
                    .as_deref()
                    .and_then(|n| std::fs::symlink_metadata(n).ok());
                let size = meta.as_ref().map_or(0, |m| m.len());
                // A file born after the guard started that it has not seen yet (its close was
                // read after this rename, or it was never opened for writing) is a new file
                // under its new name; the old name was a temporary one, not an original.
                let unseen = meta.as_ref().is_some_and(|m| {
                    m.is_file() && learn_new(&mut self.learned, self.born_after, m)
                });
                match (&path, &new_path) {
                    (Some(o), Some(n)) if unseen => {
                        self.vanished.remove(o);
                        self.new_files.push(n.clone());
                        win.created(&n.to_string_lossy(), size, now)
                    }
                    (Some(o), Some(n)) => {
                        win.renamed(&o.to_string_lossy(), &n.to_string_lossy(), size, now)
                    }
                    (Some(o), None) => win.removed(&o.to_string_lossy(), size, now),
                    (None, Some(n)) => win.created(&n.to_string_lossy(), size, now),
                    (None, None) => {}
                }
                self.judge_soon(key, sink);
                continue;
            }
            let Some(path) = path else { continue };
            let ps = path.to_string_lossy().into_owned();
            if ev.mask & libc::FAN_CREATE != 0 {
                win.created(&ps, size_of(&path), now);
                self.pending.insert(key);
            }
            if ev.mask & libc::FAN_DELETE != 0 {
                let before = lock(&self.shared.befores).get(&path).map(|b| b.size);
                // Closed after writing and deleted before the guard could read it back, with no
                // before-image (so never an existing file opened by an active writer): a
                // temporary file the guard never saw, not the deletion of an original.
                let transient = self.vanished.remove(&path).is_some() && before.is_none();
                if !transient || win.has_added(&ps) {
                    win.removed(&ps, before.unwrap_or(0), now);
                    self.pending.insert(key);
                }
            }
            if let Some(size) = born {
                win.created(&ps, size, now);
                self.pending.insert(key);
            }
            if ev.mask & libc::FAN_CLOSE_WRITE != 0 && win.tripped {
                win.wrote(&ps, 0, Vec::new(), now);
            } else if ev.mask & libc::FAN_CLOSE_WRITE != 0 {
                let Some((mut f, meta)) = opened else {
                    continue;
                };
                let prev = BeforeImages(&self.shared.befores).profile(&ps).ok();
                let Some(cur) = profile(&mut f, meta.len(), prev.is_some()) else {
                    continue;
                };
                let findings = judge_file(&ps, prev.as_ref(), &cur);
                let strong = findings.iter().any(|f| f.score >= SUSPECT_FINDING);
                win.wrote(&ps, meta.len(), findings, now);
                let new_suspect = win.suspect && lock(&self.shared.suspects).insert(key);
                if strong {
                    // Judge at once: a fast encryptor must not finish the batch first.
                    self.pending.remove(&key);
                    self.judge_now(key, now, sink);
                } else {
                    self.pending.insert(key);
                }
                if new_suspect {
                    // At once, not at the end of the batch: its next creating open must wait.
                    self.set_open_scope();
                }
            }
            if self.pending.contains(&key) {
                self.judge_soon(key, sink);
            }
        }
        self.judge_pending(sink);
        self.complete_incidents();
        self.mark_new_files();
    }

    /// Adds what tripped writers did while they were being stopped to their incidents.
    fn complete_incidents(&mut self) {
        for win in self.windows.values_mut() {
            if !win.changed_after_trip {
                continue;
            }
            win.changed_after_trip = false;
            let Some(id) = win.incident else { continue };
            if let Ok(mut inc) = state::incident(&self.opts.state_dir, id) {
                (inc.damaged, inc.created) = win.damage();
                let _ = state::save_incident(&self.opts.state_dir, &inc);
            }
        }
    }

    /// Judges the writers with unjudged changes whose turn has come.
    fn judge_pending(&mut self, sink: &mut dyn FnMut(Report)) {
        let keys: Vec<i32> = self.pending.iter().copied().collect();
        for key in keys {
            self.judge_soon(key, sink);
        }
    }

    /// Judges a writer now unless it was judged recently ([`Window::judge_due`]). Often enough
    /// that a fast encryptor is judged between its files (and at once on strong evidence, see `handle`), rarely enough
    /// that bulk work (untar, `cp -a`, `rm -r` of a large folder) does not judge a growing
    /// window per file.
    fn judge_soon(&mut self, key: i32, sink: &mut dyn FnMut(Report)) {
        let now = Instant::now();
        let due = self.windows.get(&key).is_some_and(|w| w.judge_due(now));
        if due {
            self.pending.remove(&key);
            self.judge_now(key, now, sink);
        } else if self.windows.contains_key(&key) {
            self.pending.insert(key);
        }
    }

    /// Judges one writer's window and trips when it is suspicious.
    fn judge_now(&mut self, key: i32, now: Instant, sink: &mut dyn FnMut(Report)) {
        let files = self.files;
        let Some(win) = self.windows.get_mut(&key) else {
            return;
        };
        if win.tripped {
            self.pending.remove(&key);
            return;
        }
        let j = win.judge(files, now);
        win.last_judged = now;
        win.judge_cost = now.elapsed();
        let new_suspect = j.score > 0.0 && !win.suspect && {
            win.suspect = true;
            lock(&self.shared.suspects).insert(key)
        };
        if j.verdict == Verdict::Suspicious || win.touched_canary() {
            self.trip(key, j, sink);
        }
        if new_suspect {
            self.set_open_scope();
        }
    }

    fn overflow(&mut self, sink: &mut dyn FnMut(Report)) {
        self.overflows += 1;
        let msg = "the guard's fanotify queue overflowed: some file events were lost, so some writes were not judged (the machine is busier than the guard can follow; the next backup's verdict still covers them)";
        tracing::warn!("{msg}");
        if let Some(log) = &self.audit {
            let _ = log.append(
                kura_audit::Entry::new(
                    kura_audit::current_actor(),
                    "guard.queue_overflow",
                    self.roots_target(),
                    kura_audit::Outcome::Failed,
                )
                .with_details(serde_json::json!({ "count": self.overflows })),
            );
        }
        // One event per guard run (the audit log has every one).
        if self.overflows == 1
            && let Ok(store) = kura_audit::EventStore::open(&self.opts.state_dir.join("events"))
        {
            let _ = store.raise(
                "guard_queue_overflow",
                kura_audit::Severity::Warning,
                msg,
                serde_json::json!({ "roots": self.opts.roots }),
            );
        }
        sink(Report::Overflow {
            count: self.overflows,
        });
    }

    fn roots_target(&self) -> String {
        self.opts
            .roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn trip(&mut self, key: i32, j: kura_detect::Judgement, sink: &mut dyn FnMut(Report)) {
        let Some(win) = self.windows.get_mut(&key) else {
            return;
        };
        win.tripped = true;
        let w = win.writer.clone();
        let pids: Vec<i32> = win.pids.iter().copied().collect();
        if self.tripped_pids.len() > 65_536 {
            self.tripped_pids.clear();
        }
        self.tripped_pids.extend(pids.iter().map(|&p| (p, key)));
        let (damaged, created) = win.damage();
        let smb = win.smb;
        let known_group = !smb && key > 1 && writer::writer_alive(&w, key, &pids);
        let act = self.opts.action;
        if smb {
            return self.trip_smb(key, w, j, damaged, created, sink);
        }
        let exe_hash = || {
            writer::sha256_file(Path::new(&format!("/proc/{}/exe", w.pid)))
                .ok()
                .or_else(|| w.exe.as_deref().and_then(|e| writer::sha256_file(e).ok()))
        };
        // Trusted writers are never stopped, not even for a moment: hash first when any exist.
        let mut sha256 = None;
        let mut trusted = false;
        if !self.opts.trusted.is_empty() {
            sha256 = exe_hash();
            trusted = sha256.as_ref().is_some_and(|h| {
                self.opts.trusted.iter().any(|t| {
                    t.sha256.eq_ignore_ascii_case(h) && w.exe.as_ref().is_some_and(|e| *e == t.exe)
                })
            });
        }
        // Freeze first, everything else after: every millisecond counts.
        if known_group && act != Action::Alert && !trusted {
            // Stop before denying: once its opens are denied, an attacker that ignores errors
            // runs through the rest of its list and may exit before a later SIGSTOP reaches it.
            let _ = writer::signal_writer(&w, key, libc::SIGSTOP);
            lock(&self.shared.denied).insert(key);
        }
        // Kill at once, hash after: hashing a large executable takes a while (a fifth of a
        // second for a 50 MB binary on a loaded machine), time in which a writer that is not
        // stopped yet would run on. The executable stays readable through this handle once the
        // process is gone.
        let exe = sha256
            .is_none()
            .then(|| File::open(format!("/proc/{}/exe", w.pid)).ok())
            .flatten();
        let mut errors = Vec::new();
        let mut frozen = None;
        let action = if trusted {
            "trusted"
        } else if !known_group {
            "writer_gone"
        } else {
            match act {
                Action::Kill => {
                    if let Err(e) = writer::signal_writer(&w, key, libc::SIGKILL) {
                        errors.push(format!("SIGKILL of process group {key}: {e}"));
                    }
                    "killed"
                }
                Action::Stop => {
                    // A cgroup writer's cgroup is frozen already; a process group is moved
                    // into a frozen cgroup of its own, so no SIGCONT resumes it.
                    if w.cgroup.is_none() {
                        let (cgroup, err) = writer::freeze_group(key);
                        frozen = cgroup;
                        errors.extend(err);
                    }
                    "stopped"
                }
                Action::Alert => "alerted",
            }
        };
        if sha256.is_none() {
            sha256 = exe
                .and_then(|mut f| writer::sha256_read(&mut f).ok())
                .or_else(exe_hash);
        }
        let mut w = w;
        if frozen.is_some() {
            w.cgroup = frozen; // the incident names the frozen cgroup (docs: how to thaw it)
        }
        self.record_trip(
            key, w, sha256, trusted, j, damaged, created, action, errors, sink,
        );
    }

    /// Everything after the stop: incident, blocklist, isolate hook, audit record, event.
    #[allow(clippy::too_many_arguments)]
    fn record_trip(
        &mut self,
        key: i32,
        w: Writer,
        sha256: Option<String>,
        trusted: bool,
        j: kura_detect::Judgement,
        damaged: Vec<String>,
        created: Vec<String>,
        action: &str,
        mut errors: Vec<String>,
        sink: &mut dyn FnMut(Report),
    ) {
        let act = self.opts.action;
        let mut engines: Vec<String> = j
            .findings
            .iter()
            .map(|f| format!("{:?}", f.engine).to_lowercase())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if engines.is_empty() {
            engines.push("canary".into());
        }
        let mut incident = Incident {
            id: 0,
            time: jiff::Timestamp::now(),
            writer: w.clone(),
            sha256: sha256.clone(),
            engines,
            reasons: j.reasons.clone(),
            findings: j.findings.iter().take(20).cloned().collect(),
            damaged,
            created,
            action: action.into(),
            action_errors: Vec::new(),
            roots: self.opts.roots.clone(),
            released: None,
        };
        if let Err(e) = state::save_new_incident(&self.opts.state_dir, &mut incident) {
            errors.push(format!("incident not saved: {e}"));
        } else if let Some(win) = self.windows.get_mut(&key) {
            win.incident = Some(incident.id);
        }
        if let Some(h) = &sha256
            && !trusted
            && act != Action::Alert
        {
            let entry = BlockEntry {
                sha256: h.clone(),
                exe: w.exe.clone(),
                incident: incident.id,
                added: jiff::Timestamp::now(),
            };
            match state::block(&self.opts.state_dir, entry) {
                Ok(()) => {
                    if let Ok(mut b) = self.shared.blocked.write() {
                        b.insert(h.to_ascii_lowercase());
                    }
                    self.set_open_scope();
                }
                Err(e) => errors.push(format!("blocklist not updated: {e}")),
            }
        }
        if let Some(cmd) = &self.opts.isolate_command
            && !trusted
            && let Some((prog, args)) = cmd.split_first()
        {
            let spawned = std::process::Command::new(prog)
                .args(args)
                .env("KURA_GUARD_INCIDENT", incident.id.to_string())
                .env("KURA_GUARD_ACTION", action)
                .env("KURA_WRITER_PID", w.pid.to_string())
                .env("KURA_WRITER_PGID", w.pgid.to_string())
                .env("KURA_WRITER_UID", w.uid.to_string())
                .env(
                    "KURA_WRITER_EXE",
                    w.exe
                        .as_deref()
                        .map(|e| e.display().to_string())
                        .unwrap_or_default(),
                )
                .env("KURA_WRITER_SHA256", sha256.clone().unwrap_or_default())
                .env(
                    "KURA_WRITER_CLIENT_IP",
                    w.client_ip.clone().unwrap_or_default(),
                )
                .env("KURA_WRITER_USER", w.user.clone().unwrap_or_default())
                .env("KURA_WRITER_CGROUP", w.cgroup.clone().unwrap_or_default())
                .stdin(std::process::Stdio::null())
                // What the hook prints goes to the guard's stderr (its log), never into the
                // JSON lines on stdout.
                .stdout(
                    std::io::stderr()
                        .as_fd()
                        .try_clone_to_owned()
                        .map_or_else(|_| std::process::Stdio::null(), std::process::Stdio::from),
                )
                .spawn();
            match spawned {
                // Reaped in the background: the guard never waits for a site's hook.
                Ok(mut child) => {
                    std::thread::spawn(move || child.wait());
                }
                Err(e) => errors.push(format!("isolate_command {prog} did not start: {e}")),
            }
        }
        incident.action_errors = errors;
        let _ = state::save_incident(&self.opts.state_dir, &incident);
        let details = serde_json::json!({
            "incident": incident.id,
            "writer": incident.writer,
            "sha256": incident.sha256,
            "engines": incident.engines,
            "reasons": incident.reasons,
            "action": incident.action,
            "damaged": incident.damaged.len(),
            "created": incident.created.len(),
        });
        if let Some(log) = &self.audit {
            let _ = log.append(
                kura_audit::Entry::new(
                    kura_audit::current_actor(),
                    "guard.tripped",
                    self.roots_target(),
                    kura_audit::Outcome::Ok,
                )
                .with_details(details.clone()),
            );
        }
        if let Ok(store) = kura_audit::EventStore::open(&self.opts.state_dir.join("events")) {
            let _ = store.raise(
                "guard_tripped",
                kura_audit::Severity::Critical,
                &format!(
                    "the live guard stopped a writer ({} pid {}, action {action}): {}; {} files damaged; restore them with `kura restore latest-clean --incident {} --target DIR`; forget and prune are paused until `kura guard release {}`",
                    if w.comm.is_empty() { "?" } else { &w.comm },
                    w.pid,
                    incident.reasons.join("; "),
                    incident.damaged.len(),
                    incident.id,
                    incident.id
                ),
                details,
            );
        }
        self.replant();
        sink(Report::Tripped(Box::new(incident)));
    }
}

impl Guard {
    /// A trip on an `smbd` child: the SMB client is the writer. Its sessions are closed, its
    /// address blocked, the child ended with SIGTERM; smbd itself is never blocklisted.
    fn trip_smb(
        &mut self,
        pid: i32,
        w: Writer,
        j: kura_detect::Judgement,
        damaged: Vec<String>,
        created: Vec<String>,
        sink: &mut dyn FnMut(Report),
    ) {
        // Freeze the session first, then finish naming its client (smbstatus) while it
        // cannot write.
        let mut w = w;
        if self.opts.action != Action::Alert {
            let _ = crate::fan::kill_pid(pid, libc::SIGSTOP);
        }
        crate::smb::complete(&mut w, pid);
        let (action, errors) = match (&w.client_ip, self.opts.action) {
            (_, Action::Alert) => ("alerted", Vec::new()),
            (Some(ip), _) => (
                "client_cut_off",
                crate::smb::cut_off(ip, pid, self.opts.smb_conf.as_deref()),
            ),
            (None, _) => {
                let e = crate::fan::kill_pid(pid, libc::SIGTERM)
                    .err()
                    .map(|e| format!("SIGTERM of smbd child {pid}: {e}"));
                (
                    "smbd_child_ended",
                    e.into_iter()
                        .chain(["the SMB client's address could not be read".to_string()])
                        .collect(),
                )
            }
        };
        // smbd serves every client: it is never blocklisted.
        self.record_trip(
            pid, w, None, false, j, damaged, created, action, errors, sink,
        );
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn notify_raw(g: &Group) -> i32 {
    g.raw_fd()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data that is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether the notification queue has unread events (poll with no wait).
fn queued(fd: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    fan::poll_now(&mut pfd)
}

/// The permission thread: answers every open on the watched folders at once. Blocklisted
/// executables and tripped writers are denied; a suspect writer's open waits (bounded) until
/// the notification loop has read what is queued; before-images are taken for active writers
/// and for the first opens of everyone else ([`on_probation`]). While one open waits, the
/// guard's own opens (the notification loop re-reading a closed file) are answered at once, so
/// the wait never holds up the loop it is waiting for.
fn permission_loop(perm: &Group, shared: &Shared, notify_fd: i32) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut st = PermState::default();
    let mut backlog: VecDeque<(i32, File)> = VecDeque::new();
    while !shared.stop.load(Ordering::Relaxed) {
        if backlog.is_empty() {
            match perm.wait(100) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => break,
            }
            if read_perm(perm, shared, &mut buf, &mut backlog).is_err() {
                break;
            }
        }
        while let Some((pid, mut file)) = backlog.pop_front() {
            let mut idle = || {
                let _ = read_perm(perm, shared, &mut buf, &mut backlog);
            };
            let allow = decide(shared, &mut st, pid, &mut file, notify_fd, &mut idle);
            // Answer before anything else can go wrong; the fd closes when `file` drops.
            let _ = perm.respond(file.as_raw_fd(), allow);
        }
    }
}

/// Reads the queued permission events: the guard's own opens are allowed at once, the others
/// go to `backlog` in order.
fn read_perm(
    perm: &Group,
    shared: &Shared,
    buf: &mut [u8],
    backlog: &mut VecDeque<(i32, File)>,
) -> std::io::Result<()> {
    loop {
        let n = perm.read(buf)?;
        if n == 0 {
            return Ok(());
        }
        for ev in fan::parse(&buf[..n]) {
            let Some(file) = fan::own_event_fd(ev.fd) else {
                continue;
            };
            if ev.mask & libc::FAN_OPEN_PERM == 0 {
                continue;
            }
            if ev.pid == shared.own_pid {
                let _ = perm.respond(file.as_raw_fd(), true);
            } else {
                backlog.push_back((ev.pid, file));
            }
        }
    }
}

/// What the permission thread remembers between events.
#[derive(Default)]
struct PermState {
    hashes: ExeHashes,
    /// pid → (process group and writer key ([`Shared::writer_key`]), when looked up).
    keys: HashMap<i32, (Option<(i32, i32)>, Instant)>,
    /// pid → (opens with a before-image before it was seen writing, since when).
    probation: HashMap<i32, (u32, Instant)>,
}

/// Allow or deny one open; `idle` runs while the open waits for the notification loop.
fn decide(
    shared: &Shared,
    st: &mut PermState,
    pid: i32,
    file: &mut File,
    notify_fd: i32,
    idle: &mut dyn FnMut(),
) -> bool {
    if pid == shared.own_pid {
        return true;
    }
    let PermState {
        hashes,
        keys,
        probation,
    } = st;
    if keys.len() > 4096 {
        keys.clear();
    }
    let now = Instant::now();
    let ids = match keys.get(&pid) {
        Some((k, t)) if now.duration_since(*t) < Duration::from_secs(1) => *k,
        _ => {
            let k = writer::pgid_of(pid).map(|g| {
                let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
                (
                    g,
                    shared
                        .writer_key(pid, g, crate::smb::is_smbd(exe.as_deref()))
                        .0,
                )
            });
            keys.insert(pid, (k, now));
            k
        }
    };
    let Some((pgid, key)) = ids else { return true };
    if pgid == shared.own_pgid {
        return true;
    }
    // The writer's key, as the notification loop keys it (a tripped writer's other processes,
    // whatever their own process group); its pid too (a process of a tripped writer that the
    // notification loop keyed before it joined the writer's cgroup).
    let is = |set: &Mutex<HashSet<i32>>| {
        let s = lock(set);
        s.contains(&key) || s.contains(&pid)
    };
    if is(&shared.denied) {
        return false;
    }
    let any_blocked = shared
        .blocked
        .read()
        .map(|b| !b.is_empty())
        .unwrap_or(false);
    if any_blocked
        && let Some(h) = hashes.of_pid(pid)
        && !shared.trusted_hashes.contains(&h)
        && shared.blocked.read().is_ok_and(|b| b.contains(&h))
    {
        return false;
    }
    // A planted canary opened (the event does not say whether for writing): the writer's next
    // opens, for a short while, wait until the notification loop has judged what it did to the
    // canary, so a trip lands before the next file even on a loaded machine. A reader that only
    // copies a canary waits for the queue and nothing else.
    if fan::fd_path(file.as_raw_fd())
        .is_ok_and(|p| shared.canaries.read().is_ok_and(|c| c.contains(&p)))
    {
        let mut o = lock(&shared.canary_openers);
        if o.len() > 4096 {
            o.clear();
        }
        o.insert(pid, now);
        o.insert(key, now);
        return true;
    }
    let opened_canary = {
        let o = lock(&shared.canary_openers);
        [pid, key].iter().any(|k| {
            o.get(k)
                .is_some_and(|t| now.duration_since(*t) < Duration::from_millis(CANARY_HOLD_MS))
        })
    };
    if opened_canary {
        let deadline = Instant::now() + Duration::from_millis(CANARY_WAIT_MS);
        let pending = || queued(notify_fd) || shared.busy.load(Ordering::SeqCst);
        shared.waiting.store(true, Ordering::SeqCst);
        while Instant::now() < deadline && pending() {
            idle();
            std::thread::sleep(Duration::from_micros(200));
        }
        shared.waiting.store(false, Ordering::SeqCst);
        if is(&shared.denied) {
            return false;
        }
        // Every open in the hold waits (not only the first): an encryptor may open the canary
        // to read it, open it again to write it, and only then write, so the first wait can
        // end before anything it did to the canary is queued.
    }
    if is(&shared.suspects) {
        let deadline = Instant::now() + Duration::from_millis(SUSPECT_WAIT_MS);
        while Instant::now() < deadline && (queued(notify_fd) || shared.busy.load(Ordering::SeqCst))
        {
            shared.waiting.store(true, Ordering::SeqCst);
            idle();
            std::thread::sleep(Duration::from_micros(200));
        }
        shared.waiting.store(false, Ordering::SeqCst);
        if is(&shared.denied) {
            return false;
        }
    }
    if is(&shared.active) || on_probation(shared, hashes, probation, pid, now) {
        take_before_image(shared, file);
    }
    true
}

/// Whether an open by a process the notification loop has not seen writing yet gets a
/// before-image: its first [`PROBATION_OPENS`] opens in each [`WINDOW_SECS`] do (trusted
/// writers' never), so the first files an encryptor reads and rewrites are compared with what
/// they were even when the guard runs behind. A reader pays for a bounded number of profiles;
/// a new file (size 0) costs nothing to profile.
fn on_probation(
    shared: &Shared,
    hashes: &mut ExeHashes,
    probation: &mut HashMap<i32, (u32, Instant)>,
    pid: i32,
    now: Instant,
) -> bool {
    if probation.len() > 4096 {
        probation.clear();
    }
    let e = probation.entry(pid).or_insert((0, now));
    if now.duration_since(e.1) >= Duration::from_secs(WINDOW_SECS) {
        *e = (0, now);
    }
    if e.0 >= PROBATION_OPENS {
        return false;
    }
    if e.0 == 0
        && !shared.trusted_hashes.is_empty()
        && hashes
            .of_pid(pid)
            .is_some_and(|h| shared.trusted_hashes.contains(&h))
    {
        e.0 = PROBATION_OPENS;
        return false;
    }
    e.0 += 1;
    true
}

fn take_before_image(shared: &Shared, file: &mut File) {
    let Ok(meta) = file.metadata() else { return };
    if !meta.is_file() {
        return;
    }
    let Ok(path) = fan::fd_path(file.as_raw_fd()) else {
        return;
    };
    if !shared.within(&path) {
        return;
    }
    let key = file_key(&meta);
    {
        let b = lock(&shared.befores);
        if b.get(&path).is_some_and(|x| x.key == key) {
            return;
        }
    }
    let profile = if meta.len() == 0 {
        None
    } else {
        profile(file, meta.len(), true)
    };
    let mut b = lock(&shared.befores);
    if b.len() >= MAX_REMEMBERED {
        b.clear();
    }
    b.insert(
        path,
        Before {
            key,
            size: meta.len(),
            profile,
            at: Instant::now(),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command};

    fn shared() -> Shared {
        Shared::new(
            std::process::id() as i32,
            None,
            HashSet::new(),
            HashSet::new(),
            Vec::new(),
        )
    }

    /// A `.scope` cgroup directly under the root of the v2 hierarchy (as `systemd-run --scope`
    /// makes), with `sleep` processes in it; emptied and removed when dropped.
    struct TestScope {
        dir: PathBuf,
        name: String,
        kids: Vec<Child>,
    }

    impl Drop for TestScope {
        fn drop(&mut self) {
            for k in &mut self.kids {
                let _ = k.kill();
                let _ = k.wait();
            }
            let _ = std::fs::remove_dir(&self.dir);
        }
    }

    #[test]
    fn network_filesystems_are_named_and_local_ones_are_not() {
        let d = tempfile::tempdir().expect("tempdir");
        assert_eq!(remote_fs(d.path()), None);
        assert_eq!(remote_fs(Path::new("/proc")), None);
        assert_eq!(remote_fs(Path::new("/no/such/folder")), None);
        assert_eq!(remote_kind(0x6969), Some("NFS"));
        assert_eq!(remote_kind(0xFE53_4D42), Some("SMB2"));
        // A C library with a signed 32-bit f_type reports CIFS's magic as a negative number.
        assert_eq!(remote_kind(i64::from(0xFF53_4D42_u32 as i32)), Some("CIFS"));
        assert_eq!(remote_kind(0xEF53), None); // ext4
        assert_eq!(remote_kind(0x0102_1994), None); // tmpfs
    }

    #[test]
    fn a_new_file_is_learned_once_and_an_old_or_unborn_one_never() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = dir.path().join("old.txt");
        std::fs::write(&old, b"before the guard").expect("write");
        let meta = |p: &Path| std::fs::metadata(p).expect("stat");
        let Some(born_old) = birth_ns(&meta(&old)) else {
            eprintln!("SKIP: this filesystem records no birth times");
            return;
        };
        // The guard starts after `old` was born.
        let after = born_old + 1;
        let mut learned = HashSet::new();
        assert!(!learn_new(&mut learned, after, &meta(&old)), "an old file");
        std::thread::sleep(Duration::from_millis(20));
        let new = dir.path().join("new.txt");
        std::fs::write(&new, b"after").expect("write");
        assert!(learn_new(&mut learned, after, &meta(&new)), "a new file");
        assert!(!learn_new(&mut learned, after, &meta(&new)), "learned once");
        // Its inode number taken by a later file (another birth time): new again.
        let (dev, ino, b) = *learned.iter().next().expect("one");
        learned.clear();
        learned.insert((dev, ino, b - 1));
        assert!(
            learn_new(&mut learned, after, &meta(&new)),
            "a reused inode"
        );
    }

    /// A process in a process group of its own (as after `setsid()`).
    fn sleeper() -> Child {
        Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .expect("spawn sleep")
    }

    #[test]
    fn setsid_workers_of_one_cgroup_are_denied_as_one_writer() {
        let Some(mount) = writer::cgroup2_mount().filter(|_| fan::euid() == 0) else {
            let what =
                "setsid_workers_of_one_cgroup_are_denied_as_one_writer needs root and cgroup v2";
            assert!(
                std::env::var("KURA_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "{what} (KURA_REQUIRE_TOOLS=1)"
            );
            eprintln!("\n!!!!! SKIPPED {what}: run the tests as root (CI does) !!!!!\n");
            return;
        };
        let name = format!("kura-unit-deny-{}.scope", std::process::id());
        let dir = mount.join(&name);
        std::fs::create_dir(&dir).expect("create the test cgroup");
        let mut scope = TestScope {
            dir,
            name,
            kids: Vec::new(),
        };
        let (a, b) = (sleeper(), sleeper());
        for k in [&a, &b] {
            std::fs::write(scope.dir.join("cgroup.procs"), k.id().to_string())
                .expect("move into the test cgroup");
        }
        let outside = sleeper();
        let (pa, pb, po) = (a.id() as i32, b.id() as i32, outside.id() as i32);
        scope.kids.extend([a, b, outside]);
        let ga = writer::pgid_of(pa).expect("pgid");
        let gb = writer::pgid_of(pb).expect("pgid");
        assert_ne!(ga, gb, "two process groups");

        let shared = shared();
        // The notification loop keys (and stops) the writer by its cgroup...
        let (ka, cg) = shared.writer_key(pa, ga, false);
        assert_eq!(cg.as_deref(), Some(format!("/{}", scope.name).as_str()));
        assert_eq!(shared.writer_key(pb, gb, false).0, ka, "one writer");
        lock(&shared.denied).insert(ka);
        // ...and the permission thread denies every process of it, whatever its own group.
        let mut st = PermState::default();
        let open = || File::open("/dev/null").expect("open");
        let mut idle = || {};
        assert!(
            !decide(&shared, &mut st, pb, &mut open(), -1, &mut idle),
            "b denied"
        );
        assert!(
            !decide(&shared, &mut st, pa, &mut open(), -1, &mut idle),
            "a denied"
        );
        assert!(
            decide(&shared, &mut st, po, &mut open(), -1, &mut idle),
            "a process outside the cgroup is allowed"
        );
        // An smbd child is its own writer, never its cgroup's.
        assert_eq!(shared.writer_key(pb, gb, true), (pb, None));
    }
}
