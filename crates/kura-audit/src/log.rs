//! The append side of the audit log: files, rotation, locking and the chain's tail.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use jiff::{Timestamp, Zoned};

use crate::chain::{
    Body, Checkpoint, Entry, GENESIS_HASH, Outcome, Record, check_line, encode_line,
};
use crate::clock::{Clock, SystemClock};
use crate::{Error, Result};

/// Name of the lock file every writer holds (`flock`) while it reads the tail and appends.
const LOCK_FILE: &str = "audit.lock";

/// How the log is written.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Start a new file once the current one would grow past this many bytes (default 64 MiB).
    pub max_file_bytes: u64,
    /// Start a new file when the local date changes (default true).
    pub rotate_daily: bool,
    /// Where record times come from (default [`SystemClock`]).
    pub clock: Arc<dyn Clock>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            max_file_bytes: 64 * 1024 * 1024,
            rotate_daily: true,
            clock: Arc::new(SystemClock),
        }
    }
}

/// An open audit log directory. Appending is safe from many threads and many processes at once: each
/// append takes an exclusive lock on `audit.lock` and re-reads the chain's tail under it.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    options: AuditOptions,
    host: String,
    /// The lock file; the mutex serialises threads of this process, `flock` serialises processes.
    lock: Mutex<File>,
}

/// One file of the log: `audit-YYYYMMDD-N.jsonl`, ordered by (date, N).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub path: PathBuf,
    pub date: u32,
    pub n: u32,
}

impl Segment {
    fn new(dir: &Path, date: u32, n: u32) -> Self {
        Self {
            path: dir.join(format!("audit-{date:08}-{n}.jsonl")),
            date,
            n,
        }
    }
}

/// The log's files in chain order.
pub(crate) fn segments(dir: &Path) -> Result<Vec<Segment>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("read directory", dir, e))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read directory", dir, e))?;
        let name = entry.file_name();
        if let Some((date, n)) = name.to_str().and_then(parse_segment_name) {
            found.push(Segment {
                path: entry.path(),
                date,
                n,
            });
        }
    }
    found.sort_by_key(|s| (s.date, s.n));
    Ok(found)
}

/// Reads `segments` line by line, in chain order: the one reader of `query` and `verify`.
/// `on_line` gets the segment's index, the segment, the 1-based line number and the line with
/// its newline (a torn last write has none); it stops the walk with `Break`.
pub(crate) fn read_lines(
    segments: &[Segment],
    buffer: usize,
    mut on_line: impl FnMut(usize, &Segment, u64, &[u8]) -> Result<ControlFlow<()>>,
) -> Result<ControlFlow<()>> {
    let mut buf = Vec::with_capacity(1024);
    for (index, segment) in segments.iter().enumerate() {
        let file = File::open(&segment.path).map_err(|e| Error::io("open", &segment.path, e))?;
        let mut reader = BufReader::with_capacity(buffer, file);
        let mut line_no = 0u64;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| Error::io("read", &segment.path, e))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            if on_line(index, segment, line_no, &buf)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
    }
    Ok(ControlFlow::Continue(()))
}

fn parse_segment_name(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix("audit-")?.strip_suffix(".jsonl")?;
    let (date, n) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if date.len() != 8 || !digits(date) || !digits(n) {
        return None;
    }
    Some((date.parse().ok()?, n.parse().ok()?))
}

/// The last complete line of a file, and what follows it without a newline (a torn write).
struct LastLine {
    line: Option<Vec<u8>>,
    complete_len: u64,
    torn: Vec<u8>,
}

fn last_line(file: &mut File, path: &Path) -> Result<LastLine> {
    let len = file
        .metadata()
        .map_err(|e| Error::io("read metadata of", path, e))?
        .len();
    let mut window: u64 = 16 * 1024;
    loop {
        let w = window.min(len);
        let start = len - w;
        let mut buf = vec![0; usize::try_from(w).unwrap_or(usize::MAX)];
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_exact(&mut buf))
            .map_err(|e| Error::io("read", path, e))?;
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
            if start == 0 {
                return Ok(LastLine {
                    line: None,
                    complete_len: 0,
                    torn: buf,
                });
            }
            window *= 2;
            continue;
        };
        let line_start = match buf[..end].iter().rposition(|&b| b == b'\n') {
            Some(p) => p + 1,
            None if start == 0 => 0,
            None => {
                window *= 2;
                continue;
            }
        };
        return Ok(LastLine {
            line: Some(buf[line_start..end].to_vec()),
            complete_len: start + end as u64 + 1,
            torn: buf[end + 1..].to_vec(),
        });
    }
}

/// Line number of the last complete line, for error messages only.
fn count_lines(path: &Path) -> u64 {
    File::open(path)
        .map(|f| BufReader::new(f).split(b'\n').count() as u64)
        .unwrap_or(0)
}

/// The end of the chain as found on disk.
struct Tail {
    last: Option<Record>,
    /// The file to append to next and its length.
    current: Option<(Segment, u64)>,
    /// A torn last line in `current`: its bytes (already cut off when repairing).
    torn: Option<Vec<u8>>,
}

/// Mode of every file this crate creates: who viewed which patient is personal information
/// (MHLW guideline: access logs are access-restricted), so only the owner may read it.
pub(crate) const PRIVATE_FILE: u32 = 0o600;

/// Create `dir` (and missing parents) readable by the owner only (0700).
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Opens (creating if needed, never truncating) the lock file at `path`, to `flock` it.
pub(crate) fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .mode(PRIVATE_FILE)
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io("open lock file", path, e))
}

/// Releases the `flock` when dropped (also on error paths).
struct Flock<'a>(&'a File);

impl Drop for Flock<'_> {
    fn drop(&mut self) {
        // Closing the descriptor would release it too; the lock file stays open for the next append.
        let _ = self.0.unlock();
    }
}

impl AuditLog {
    /// Opens (creating if needed) the audit log in `dir` with default options.
    pub fn open(dir: &Path) -> Result<AuditLog> {
        Self::open_with(dir, AuditOptions::default())
    }

    /// Opens (creating if needed) the audit log in `dir`.
    pub fn open_with(dir: &Path, options: AuditOptions) -> Result<AuditLog> {
        create_private_dir(dir).map_err(|e| Error::io("create audit directory", dir, e))?;
        let lock = open_lock_file(&dir.join(LOCK_FILE))?;
        Ok(AuditLog {
            dir: dir.to_path_buf(),
            options,
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            lock: Mutex::new(lock),
        })
    }

    /// The directory holding the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one record and makes it durable (fsync) before returning it. The record's
    /// `clock_warning` is set when the clock reads earlier than the previous record.
    pub fn append(&self, entry: Entry) -> Result<Record> {
        let mut records = self.append_all(vec![entry])?;
        // One entry in gives one record out, or more when a torn tail was repaired first: ours is last.
        records.pop().ok_or_else(|| Error::Corrupt {
            file: self.dir.clone(),
            line: 0,
            reason: "append wrote no record".to_owned(),
        })
    }

    /// Appends several records under one lock and one fsync (bulk viewer access, imports, benchmarks).
    /// If the previous writer was interrupted mid-line, the torn bytes are cut off first and an
    /// `audit.torn_tail` record saying so is written before `entries`.
    pub fn append_all(&self, entries: Vec<Entry>) -> Result<Vec<Record>> {
        let lock_path = self.dir.join(LOCK_FILE);
        let lock_file = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        lock_file
            .lock()
            .map_err(|e| Error::io("lock", &lock_path, e))?;
        let _flock = Flock(&lock_file);

        let tail = self.tail(true)?;
        let mut writer = Writer {
            dir: &self.dir,
            options: &self.options,
            host: &self.host,
            last: tail.last,
            current: tail.current,
            file: None,
            created: Vec::new(),
        };
        let mut out = Vec::with_capacity(entries.len() + 1);
        if let (Some(torn), Some((segment, _))) = (tail.torn, writer.current.as_ref()) {
            let name = file_name(&segment.path);
            let shown: String = String::from_utf8_lossy(&torn).chars().take(512).collect();
            let entry = Entry::new(
                "kura-audit",
                "audit.torn_tail",
                name.clone(),
                Outcome::Failed,
            )
            .with_details(serde_json::json!({
                "file": name,
                "discarded_bytes": torn.len(),
                "discarded_text": shown,
                "why": "the previous writer stopped in the middle of a record",
            }));
            out.push(writer.write(entry)?);
        }
        for entry in entries {
            out.push(writer.write(entry)?);
        }
        writer.finish()?;
        Ok(out)
    }

    /// The current head of the chain, to store elsewhere and pass to [`crate::verify`] later.
    /// An empty log gives seq 0 and [`GENESIS_HASH`].
    pub fn head(&self) -> Result<Checkpoint> {
        let lock_path = self.dir.join(LOCK_FILE);
        let lock_file = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        lock_file
            .lock_shared()
            .map_err(|e| Error::io("lock", &lock_path, e))?;
        let _flock = Flock(&lock_file);
        Ok(match self.tail(false)?.last {
            Some(record) => record.checkpoint(),
            None => Checkpoint {
                seq: 0,
                hash: GENESIS_HASH.to_owned(),
                time_utc: Timestamp::UNIX_EPOCH,
            },
        })
    }

    /// Reads the end of the chain. With `repair`, a torn last line is cut off (and returned).
    fn tail(&self, repair: bool) -> Result<Tail> {
        let segments = segments(&self.dir)?;
        let mut current = None;
        let mut torn = None;
        for (i, segment) in segments.iter().enumerate().rev() {
            let mut file = OpenOptions::new()
                .read(true)
                .write(repair)
                .open(&segment.path)
                .map_err(|e| Error::io("open", &segment.path, e))?;
            let last = last_line(&mut file, &segment.path)?;
            let is_newest = i + 1 == segments.len();
            if is_newest {
                if !last.torn.is_empty() && repair {
                    file.set_len(last.complete_len)
                        .and_then(|()| file.sync_all())
                        .map_err(|e| Error::io("cut the torn last line of", &segment.path, e))?;
                    torn = Some(last.torn.clone());
                }
                current = Some((segment.clone(), last.complete_len));
            } else if !last.torn.is_empty() {
                return Err(Error::Corrupt {
                    file: segment.path.clone(),
                    line: count_lines(&segment.path) + 1,
                    reason: "an older file ends in the middle of a record".to_owned(),
                });
            }
            if let Some(line) = last.line {
                let record = check_line(&line).map_err(|reason| Error::Corrupt {
                    file: segment.path.clone(),
                    line: count_lines(&segment.path),
                    reason,
                })?;
                return Ok(Tail {
                    last: Some(record),
                    current,
                    torn,
                });
            }
        }
        Ok(Tail {
            last: None,
            current,
            torn,
        })
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Appends records after `last`, rotating files as needed; `finish` makes everything durable.
struct Writer<'a> {
    dir: &'a Path,
    options: &'a AuditOptions,
    host: &'a str,
    last: Option<Record>,
    current: Option<(Segment, u64)>,
    file: Option<File>,
    created: Vec<PathBuf>,
}

impl Writer<'_> {
    fn write(&mut self, entry: Entry) -> Result<Record> {
        let now: Zoned = self.options.clock.now();
        let time_utc = now.timestamp();
        let time_local = time_utc.display_with_offset(now.offset()).to_string();
        let (seq, prev) = match &self.last {
            Some(r) => (r.seq + 1, r.hash.clone()),
            None => (1, GENESIS_HASH.to_owned()),
        };
        let clock_warning = self.last.as_ref().and_then(|r| {
            (time_utc < r.time_utc).then(|| {
                let back = time_utc.duration_until(r.time_utc);
                format!(
                    "clock went backwards by {:.3}s since record {} ({}); check the time source (NTP)",
                    back.as_secs_f64(),
                    r.seq,
                    r.time_utc
                )
            })
        });
        let body = Body {
            seq,
            time_utc,
            time_local: &time_local,
            clock: self.options.clock.source(),
            host: self.host,
            actor: &entry.actor,
            action: &entry.action,
            target: &entry.target,
            outcome: entry.outcome,
            details: &entry.details,
            clock_warning: clock_warning.as_deref(),
            prev: &prev,
        };
        let (line, hash) = encode_line(&body).map_err(|source| Error::Encode {
            what: "audit record",
            source,
        })?;

        // Never let a file's date go backwards, so (date, N) order stays chain order.
        let date = now.date();
        let today = u32::try_from(
            i32::from(date.year()) * 10_000 + i32::from(date.month()) * 100 + i32::from(date.day()),
        )
        .unwrap_or(0);
        let needs_new = match &self.current {
            None => true,
            Some((segment, len)) => {
                (self.options.rotate_daily && today > segment.date)
                    || (*len > 0 && len + line.len() as u64 > self.options.max_file_bytes)
            }
        };
        if needs_new {
            let next = match &self.current {
                None => Segment::new(self.dir, today, 1),
                Some((segment, _)) if today > segment.date => Segment::new(self.dir, today, 1),
                Some((segment, _)) => Segment::new(self.dir, segment.date, segment.n + 1),
            };
            self.sync()?;
            let file = OpenOptions::new()
                .mode(PRIVATE_FILE)
                .create_new(true)
                .append(true)
                .open(&next.path)
                .map_err(|e| Error::io("create", &next.path, e))?;
            self.created.push(next.path.clone());
            self.file = Some(file);
            self.current = Some((next, 0));
        }
        let Some((segment, len)) = self.current.as_mut() else {
            unreachable!("a current file was chosen just above")
        };
        if self.file.is_none() {
            let file = OpenOptions::new()
                .append(true)
                .open(&segment.path)
                .map_err(|e| Error::io("open for appending", &segment.path, e))?;
            self.file = Some(file);
        }
        if let Some(file) = self.file.as_mut() {
            file.write_all(&line)
                .map_err(|e| Error::io("append to", &segment.path, e))?;
        }
        *len += line.len() as u64;

        let record = Record {
            seq,
            time_utc,
            time_local,
            clock: self.options.clock.source().to_owned(),
            host: self.host.to_owned(),
            actor: entry.actor,
            action: entry.action,
            target: entry.target,
            outcome: entry.outcome,
            details: entry.details,
            clock_warning,
            prev,
            hash,
        };
        self.last = Some(record.clone());
        Ok(record)
    }

    fn sync(&mut self) -> Result<()> {
        if let (Some(file), Some((segment, _))) = (self.file.take(), &self.current) {
            file.sync_data()
                .map_err(|e| Error::io("flush to disk", &segment.path, e))?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.sync()?;
        if !self.created.is_empty() {
            // A new file's name is only durable once its directory is.
            File::open(self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io("flush to disk", self.dir, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_parse_and_sort_numerically() {
        assert_eq!(
            parse_segment_name("audit-20260701-12.jsonl"),
            Some((20260701, 12))
        );
        assert_eq!(parse_segment_name("audit-2026071-1.jsonl"), None);
        assert_eq!(parse_segment_name("audit.lock"), None);
        assert_eq!(parse_segment_name("audit-20260701-.jsonl"), None);
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "audit-20260701-10.jsonl",
            "audit-20260701-9.jsonl",
            "audit-20260630-2.jsonl",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let order: Vec<_> = segments(dir.path())
            .unwrap()
            .iter()
            .map(|s| (s.date, s.n))
            .collect();
        assert_eq!(order, [(20260630, 2), (20260701, 9), (20260701, 10)]);
    }
}
