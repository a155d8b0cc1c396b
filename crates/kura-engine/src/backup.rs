//! Backup: a `ReadSource` that tees every byte read to a kura `FileObserver` and records
//! every file that could not be read (rustic_core only logs and drops those).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustic_core::{
    BackupOptions, Excludes, LocalSource, LocalSourceFilterOptions, LocalSourceSaveOptions,
    ParentOptions, ReadSource, ReadSourceEntry, ReadSourceOpen, RusticResult, SnapshotOptions,
    repofile::{NodeType, SnapshotFile},
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, RusticContext};
use crate::repo::Repo;
use crate::snapshots::{SnapshotInfo, Verdict, info_of};

/// Receives the bytes of every file the backup reads (new or changed files only: unchanged
/// files are not opened). Called from several threads at once.
pub trait FileObserver: Send + Sync + 'static {
    /// A file is about to be read; `path` is the source path. Return `None` to ignore it.
    fn open(&self, path: &Path, size: u64) -> Option<Box<dyn FileSink>>;
}

/// Receives one file's bytes, front to back.
pub trait FileSink: Send + 'static {
    /// The next bytes.
    fn bytes(&mut self, buf: &[u8]);
    /// End of file reached (`complete`), or the read failed part-way (`!complete`).
    fn finish(self: Box<Self>, complete: bool);
}

/// An observer that ignores everything (`--no-detect`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl FileObserver for NoObserver {
    fn open(&self, _path: &Path, _size: u64) -> Option<Box<dyn FileSink>> {
        None
    }
}

/// What to back up.
#[derive(Debug, Clone, Default)]
pub struct BackupRequest {
    /// Source paths (absolute, or made absolute by the engine).
    pub paths: Vec<PathBuf>,
    /// Tags to add.
    pub tags: Vec<String>,
    /// Glob patterns to exclude (gitignore syntax, e.g. `*.tmp`, `/srv/cache`).
    pub excludes: Vec<String>,
    /// Host name to record (default: this host).
    pub host: Option<String>,
    /// Record this verdict tag on the saved snapshot (`Pending` while detection runs).
    pub initial_verdict: Option<Verdict>,
    /// Ignore the parent: read every file.
    pub force_full: bool,
    /// Record this time instead of now (restic's `backup --time`, e.g. for imports and the
    /// backdated generations of a training sandbox).
    pub time: Option<jiff::Timestamp>,
    /// kura's document stored in the snapshot description (`{"kura": …}`), e.g. the audit
    /// checkpoint; encrypted with the repository and carried along by every copy.
    pub document: Option<serde_json::Value>,
    /// Read and chunk everything, write nothing: the report says what a backup would add.
    pub dry_run: bool,
    /// Back up with the full index loaded and keep it for the next [`Repo::reader`], which then
    /// reads only the index files this backup wrote instead of the whole index again: for a
    /// caller that reads the new snapshot right away (detection). Costs the data blobs'
    /// locations in memory during the backup (the backup itself needs only their ids).
    pub keep_index: bool,
}

/// A file that could not be read and is missing from the snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Unreadable {
    /// The source path.
    pub path: PathBuf,
    /// Why.
    pub error: String,
}

/// The result of a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupReport {
    /// The saved snapshot.
    pub snapshot: SnapshotInfo,
    /// Files that could not be read (not in the snapshot).
    pub unreadable: Vec<Unreadable>,
    /// Seconds the backup took.
    pub duration_secs: f64,
}

#[derive(Default)]
struct Failures(Mutex<Vec<Unreadable>>);

impl Failures {
    fn push(&self, path: &Path, error: String) {
        if let Ok(mut v) = self.0.lock() {
            v.push(Unreadable {
                path: path.to_path_buf(),
                error,
            });
        }
    }
}

struct TeeSource {
    inner: LocalSource,
    observer: Arc<dyn FileObserver>,
    failures: Arc<Failures>,
}

struct TeeOpen {
    inner: <LocalSource as ReadSource>::Open,
    path: PathBuf,
    size: u64,
    observer: Arc<dyn FileObserver>,
    failures: Arc<Failures>,
}

struct TeeReader<R> {
    inner: R,
    sink: Option<Box<dyn FileSink>>,
    path: PathBuf,
    failures: Arc<Failures>,
}

impl<R: Read> Read for TeeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(0) => {
                if let Some(sink) = self.sink.take() {
                    sink.finish(true);
                }
                Ok(0)
            }
            Ok(n) => {
                if let Some(sink) = self.sink.as_mut() {
                    sink.bytes(&buf[..n]);
                }
                Ok(n)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                // rustic_core drops a file whose read fails; record it so it is reported.
                self.failures.push(&self.path, format!("read failed: {e}"));
                if let Some(sink) = self.sink.take() {
                    sink.finish(false);
                }
                Err(e)
            }
        }
    }
}

impl ReadSourceOpen for TeeOpen {
    type Reader = Box<dyn Read + Send + 'static>;

    fn open(self) -> RusticResult<Self::Reader> {
        match self.inner.open() {
            Ok(file) => {
                let sink = self.observer.open(&self.path, self.size);
                Ok(Box::new(TeeReader {
                    inner: file,
                    sink,
                    path: self.path,
                    failures: self.failures,
                }))
            }
            Err(e) => {
                let msg = std::fs::File::open(&self.path)
                    .err()
                    .map_or_else(|| e.display_log(), |io| io.to_string());
                self.failures.push(&self.path, msg);
                Err(e)
            }
        }
    }
}

impl ReadSource for TeeSource {
    type Open = TeeOpen;
    type Iter = Box<dyn Iterator<Item = RusticResult<ReadSourceEntry<TeeOpen>>> + Send>;

    fn size(&self) -> RusticResult<Option<u64>> {
        self.inner.size()
    }

    fn entries(&self) -> Self::Iter {
        let observer = Arc::clone(&self.observer);
        let failures = Arc::clone(&self.failures);
        Box::new(self.inner.entries().map(move |entry| {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    // A directory that cannot be listed: its content is missing from the snapshot.
                    let (path, why) = walk_failure(&e);
                    failures.push(&path, why);
                    return Err(e);
                }
            };
            let size = entry.node.meta.size;
            Ok(ReadSourceEntry {
                open: entry.open.map(|inner| TeeOpen {
                    inner,
                    path: entry.path.clone(),
                    size,
                    observer: Arc::clone(&observer),
                    failures: Arc::clone(&failures),
                }),
                path: entry.path,
                node: entry.node,
            })
        }))
    }
}

/// The folder a walk error is about, and why, from the walker's error (`<path>: <io error>`)
/// under rustic_core's generic "Failed to get next entry from walk iterator".
fn walk_failure(e: &rustic_core::RusticError) -> (PathBuf, String) {
    let mut causes = Vec::new();
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        causes.push(cause.to_string());
        next = cause.source();
    }
    split_walk_error(&causes).unwrap_or_else(|| {
        let why = causes.last().cloned().unwrap_or_else(|| e.display_log());
        (PathBuf::from("(a folder under the backup sources)"), why)
    })
}

/// From the walker's causes (outermost first), `<path>: <why>` → (path, why). The walker's
/// error (the `ignore` crate's) exposes no further source, so the cause is split off the text:
/// an OS error message has no ": " in it.
fn split_walk_error(causes: &[String]) -> Option<(PathBuf, String)> {
    causes.iter().find_map(|c| {
        let (head, why) = c.rsplit_once(": ")?;
        // walkdir's I/O errors read "<path>: IO error for operation on <path>: <cause>".
        let path = head
            .rsplit_once(": IO error for operation on ")
            .map_or(head, |(_, p)| p);
        path.starts_with('/')
            .then(|| (PathBuf::from(path), why.to_string()))
    })
}

fn absolute(path: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(path)
        .map_err(|e| Error::io(format!("cannot resolve {}", path.display()), e))?;
    // Check the source exists before anything is written.
    let meta = std::fs::symlink_metadata(&abs).map_err(|e| Error::Source {
        path: abs.clone(),
        reason: match e.kind() {
            std::io::ErrorKind::NotFound => "it does not exist".into(),
            _ => e.to_string(),
        },
    })?;
    if meta.is_dir() {
        std::fs::read_dir(&abs).map_err(|e| Error::Source {
            path: abs.clone(),
            reason: e.to_string(),
        })?;
    }
    Ok(abs)
}

impl Repo {
    /// Back up `req.paths`, teeing every byte read to `observer`. The snapshot is saved before
    /// this returns; unreadable files are listed in the report, not errors.
    pub fn backup(
        &mut self,
        req: &BackupRequest,
        observer: Arc<dyn FileObserver>,
    ) -> Result<BackupReport> {
        if req.paths.is_empty() {
            return Err(Error::NoSources);
        }
        let paths = req
            .paths
            .iter()
            .map(|p| absolute(p))
            .collect::<Result<Vec<_>>>()?;
        let started = std::time::Instant::now();

        let excludes = Excludes::default().globs(
            req.excludes
                .iter()
                .map(|g| format!("!{g}"))
                .collect::<Vec<_>>(),
        );
        let source = LocalSource::new(
            LocalSourceSaveOptions::default(),
            &excludes,
            &LocalSourceFilterOptions::default(),
            &paths,
        )
        .ctx("preparing the backup sources")?;
        let failures = Arc::new(Failures::default());
        let tee = TeeSource {
            inner: source,
            observer,
            failures: Arc::clone(&failures),
        };

        let description = req
            .document
            .as_ref()
            .map(|d| serde_json::json!({ "kura": d }).to_string());
        let mut snap_opts = SnapshotOptions::default()
            .host(req.host.clone())
            .description(description);
        if let Some(t) = req.time {
            // rustic_core re-exports its own jiff; cross over by Unix time.
            let t = rustic_core::jiff::Timestamp::new(t.as_second(), t.subsec_nanosecond())
                .map_err(|e| Error::BadValue(format!("backup time {t} is out of range: {e}")))?;
            snap_opts = snap_opts.time(t.to_zoned(rustic_core::jiff::tz::TimeZone::system()));
        }
        let mut tags: Vec<String> = req.tags.clone();
        if let Some(v) = req.initial_verdict
            && v != Verdict::Unknown
        {
            tags.push(format!(
                "{}{}",
                crate::snapshots::VERDICT_TAG_PREFIX,
                v.as_str()
            ));
        }
        if !tags.is_empty() {
            snap_opts = snap_opts.add_tags(&tags.join(",")).ctx("setting tags")?;
        }
        let template = SnapshotFile::from_options(&snap_opts).ctx("preparing the snapshot")?;
        let opts = BackupOptions::default()
            .parent_opts(ParentOptions::default().force(req.force_full))
            .dry_run(req.dry_run);

        // The in-memory index is not updated by a backup (RUSTIC_CORE_NOTES §2): index afresh
        // for every backup, and a kept index learns the new index files when a reader opens.
        let repo = self.take()?;
        let result = if req.keep_index {
            let repo = repo.to_indexed().ctx("reading the repository index")?;
            let result = repo.archive(&opts, &tee, template, &paths);
            let (repo, index) = repo.take_index();
            self.repo = Some(repo);
            self.kept_index = result.is_ok().then_some(index);
            result
        } else {
            let repo = repo.to_indexed_ids().ctx("reading the repository index")?;
            let result = repo.archive(&opts, &tee, template, &paths);
            self.repo = Some(repo.drop_index());
            result
        };
        let snap = result.ctx("backing up")?;

        let mut unreadable = match Arc::try_unwrap(failures) {
            Ok(f) => f.0.into_inner().unwrap_or_default(),
            Err(shared) => shared.0.lock().map(|v| v.clone()).unwrap_or_default(),
        };
        unreadable.sort_by(|a, b| a.path.cmp(&b.path));
        unreadable.dedup_by(|a, b| a.path == b.path);
        Ok(BackupReport {
            snapshot: info_of(&snap),
            unreadable,
            duration_secs: started.elapsed().as_secs_f64(),
        })
    }
}

/// Whether a tree node is a regular file (for callers walking snapshots).
pub(crate) fn is_file(node: &rustic_core::repofile::Node) -> bool {
    matches!(node.node_type, NodeType::File)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_errors_name_the_folder() {
        let causes = vec!["/srv/a: b/closed: Permission denied (os error 13)".to_string()];
        assert_eq!(
            split_walk_error(&causes),
            Some((
                PathBuf::from("/srv/a: b/closed"),
                "Permission denied (os error 13)".to_string()
            ))
        );
        let walkdir = "/srv/x: IO error for operation on /srv/x: Permission denied (os error 13)";
        assert_eq!(
            split_walk_error(&[walkdir.to_string()]),
            Some((
                PathBuf::from("/srv/x"),
                "Permission denied (os error 13)".to_string()
            ))
        );
        assert_eq!(split_walk_error(&["odd".to_string()]), None);
    }
}
