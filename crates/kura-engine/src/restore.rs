//! Restore of a snapshot, or of a path inside it, into a local folder.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rustic_core::{
    LocalDestination, LsOptions,
    repofile::{Node, NodeType},
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, RusticContext};
use crate::repo::Repo;

/// What a restore does with a file that already exists in the target (restic's `--overwrite`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overwrite {
    /// Rewrite every existing file whose content differs from the snapshot (existing files
    /// are read to compare).
    #[default]
    Always,
    /// Rewrite an existing file when its size or modification time differs.
    IfChanged,
    /// Rewrite an existing file only when the snapshot's copy is newer.
    IfNewer,
    /// Never touch an existing file.
    Never,
}

/// What to restore and how.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Only this path inside the snapshot (file or folder); its parents are recreated.
    pub include: Option<String>,
    /// Only these paths inside the snapshot (files or folders), all in one pass over the
    /// index and the trees; their parents are recreated. Paths the snapshot lacks are listed
    /// in [`RestoreReport::missing`] instead of failing. Takes the place of `include` when
    /// not empty.
    pub paths: Vec<String>,
    /// What to do with files that already exist.
    pub overwrite: Overwrite,
    /// Plan only: count what would be written, change nothing.
    pub dry_run: bool,
}

/// Whether `overwrite` leaves the existing `dest` in place instead of restoring `node`.
fn keep_for_overwrite(overwrite: Overwrite, dest: &Path, node: &Node) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(dest) else {
        return false;
    };
    match overwrite {
        Overwrite::Always | Overwrite::IfChanged => false,
        Overwrite::Never => true,
        Overwrite::IfNewer => {
            let existing = meta
                .modified()
                .ok()
                .and_then(|t| jiff::Timestamp::try_from(t).ok());
            let snap = node.meta.mtime;
            matches!((existing, snap), (Some(e), Some(s)) if e >= s)
        }
    }
}

/// Counts from a restore (or, with `dry_run`, what it would do).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RestoreReport {
    /// The snapshot restored.
    pub snapshot: String,
    /// Where to.
    pub target: PathBuf,
    /// Files written that did not exist in the target.
    pub files: u64,
    /// Existing files rewritten with the snapshot's content.
    pub overwritten: u64,
    /// Existing files left as they were (identical, or kept by the overwrite policy).
    pub skipped: u64,
    /// Directories created.
    pub dirs: u64,
    /// Bytes written (or to write).
    pub bytes: u64,
    /// Files and folders in the target that are not in the snapshot (left alone).
    pub unlisted: u64,
    /// The overwrite policy used.
    pub overwrite: Overwrite,
    /// Nothing was written.
    pub dry_run: bool,
    /// Seconds taken.
    pub duration_secs: f64,
    /// Of [`RestoreOptions::paths`], those the snapshot does not have (not restored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// The paths asked for, as a tree of names: `whole` marks a path to restore with everything
/// under it; the other nodes are only the way there.
#[derive(Default)]
struct Wanted {
    whole: bool,
    children: BTreeMap<OsString, Wanted>,
}

impl Wanted {
    fn of(paths: &[String]) -> Wanted {
        let mut root = Wanted::default();
        for p in paths {
            let mut at = &mut root;
            for part in Path::new(p.trim_matches('/')).components() {
                at = at
                    .children
                    .entry(part.as_os_str().to_os_string())
                    .or_default();
            }
            at.whole = true;
        }
        root
    }

    /// Every asked-for path at or under this node (for reporting what the snapshot lacks).
    fn leaves(&self, base: &Path, out: &mut Vec<String>) {
        if self.whole {
            out.push(base.to_string_lossy().into_owned());
            return;
        }
        for (name, w) in &self.children {
            w.leaves(&base.join(name), out);
        }
    }
}

/// The entries to restore for `want` under the tree `tree` (at `base`), in tree order (a
/// folder before its contents, names in byte order), each tree read once.
fn select(
    repo: &rustic_core::Repository<rustic_core::IndexedFullStatus>,
    tree: &rustic_core::TreeId,
    base: &Path,
    want: &Wanted,
    out: &mut Vec<(PathBuf, Node)>,
    missing: &mut Vec<String>,
) -> Result<()> {
    let tree = repo.get_tree(tree).ctx("reading a snapshot tree")?;
    for (name, w) in &want.children {
        let path = base.join(name);
        let found = match tree
            .nodes
            .binary_search_by(|n| (*n.name()).cmp(name.as_os_str()))
        {
            Ok(i) => Some(&tree.nodes[i]),
            Err(_) => tree.nodes.iter().find(|n| n.name() == name.as_os_str()),
        };
        let Some(node) = found else {
            w.leaves(&path, missing);
            continue;
        };
        out.push((path.clone(), node.clone()));
        if w.whole {
            if node.is_dir() {
                for item in repo
                    .ls(node, &LsOptions::default())
                    .ctx("listing the snapshot")?
                {
                    let (p, n) = item.ctx("reading a snapshot tree")?;
                    out.push((path.join(p), n));
                }
            }
        } else if let (true, Some(sub)) = (node.is_dir(), node.subtree.as_ref()) {
            select(repo, sub, &path, w, out, missing)?;
        } else {
            // A file where a folder was expected: nothing under it exists.
            out.pop();
            w.leaves(&path, missing);
        }
    }
    Ok(())
}

impl Repo {
    /// Restore a snapshot (or `opts.include`, a path inside it) into the folder `target`.
    ///
    /// The layout is the same as a full restore: `target/<path in the snapshot>`, with the
    /// include's parent folders (and their metadata) recreated. `target` is always a folder.
    pub fn restore(
        &mut self,
        spec: &str,
        target: &Path,
        opts: &RestoreOptions,
    ) -> Result<RestoreReport> {
        let started = std::time::Instant::now();
        if target.exists() && !target.is_dir() {
            return Err(Error::BadTarget {
                what: "restore target",
                path: target.to_path_buf(),
                problem: "a file: give a folder (created if missing)",
            });
        }
        let reader = self.reader(spec)?;
        let repo = reader.repo()?;
        let mut report = RestoreReport {
            snapshot: reader.snap.id.to_hex().to_string(),
            target: target.to_path_buf(),
            overwrite: opts.overwrite,
            dry_run: opts.dry_run,
            ..RestoreReport::default()
        };
        if !opts.paths.is_empty() {
            let mut entries = Vec::new();
            select(
                repo,
                &reader.snap.tree,
                Path::new(""),
                &Wanted::of(&opts.paths),
                &mut entries,
                &mut report.missing,
            )?;
            // Parents shared by several paths are listed once, in tree order already.
            let stream = entries.into_iter().map(Ok);
            return restore_stream(repo, target, opts, report, stream, started);
        }
        let path = opts.include.as_deref().unwrap_or("").trim_matches('/');
        let node = reader.node(path)?;
        // The include's parent folders first, then the include itself and its subtree, all
        // with their paths from the snapshot root: the order of a full restore's stream.
        let mut head: Vec<(PathBuf, Node)> = Vec::new();
        if !path.is_empty() {
            let mut prefix = PathBuf::new();
            for part in Path::new(path).components() {
                prefix.push(part);
                let p = prefix.to_string_lossy().into_owned();
                let n = if p == path {
                    node.clone()
                } else {
                    reader.node(&p)?
                };
                head.push((prefix.clone(), n));
            }
        }
        let base = PathBuf::from(path);
        let sub = if node.is_dir() {
            Some(
                repo.ls(&node, &LsOptions::default())
                    .ctx("listing the snapshot")?,
            )
        } else {
            None
        };
        let stream = head.into_iter().map(Ok).chain(
            sub.into_iter()
                .flatten()
                .map(move |item| item.map(|(p, n)| (base.join(p), n))),
        );
        restore_stream(repo, target, opts, report, stream, started)
    }
}

/// Restores the entries of `stream` (tree order, paths from the snapshot root) into `target`.
fn restore_stream<I>(
    repo: &rustic_core::Repository<rustic_core::IndexedFullStatus>,
    target: &Path,
    opts: &RestoreOptions,
    mut report: RestoreReport,
    stream: I,
    started: std::time::Instant,
) -> Result<RestoreReport>
where
    I: Iterator<Item = rustic_core::RusticResult<(PathBuf, Node)>> + Clone,
{
    let target_str = target.to_str().ok_or_else(|| Error::BadTarget {
        what: "restore target",
        path: target.to_path_buf(),
        problem: "not valid UTF-8",
    })?;
    if opts.dry_run && !target.exists() {
        // Nothing exists yet: everything would be written (planning against a missing
        // folder would only make rustic_core log a walk error).
        for item in stream {
            let (_, n) = item.ctx("reading a snapshot tree")?;
            match n.node_type {
                NodeType::Dir => report.dirs += 1,
                NodeType::File => {
                    report.files += 1;
                    report.bytes += n.meta.size;
                }
                _ => {}
            }
        }
        report.duration_secs = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    let dest = LocalDestination::new(&format!("{target_str}/"), !opts.dry_run, false)
        .ctx("preparing the restore target")?;
    // `never` and `if-newer` leave existing files alone: drop those from the stream, and
    // count them as skipped while planning.
    let skipped = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let policy = opts.overwrite;
    let counter = skipped.clone();
    let dest_root = target.to_path_buf();
    let stream = stream.filter(move |item| {
        let Ok((p, n)) = item else { return true };
        if n.is_dir() || !keep_for_overwrite(policy, &dest_root.join(p), n) {
            return true;
        }
        counter.set(counter.get() + 1);
        false
    });
    // `always`: read every existing file and rewrite it unless its content is already the
    // snapshot's; the others trust size and modification time (as restic does).
    let rustic_opts =
        rustic_core::RestoreOptions::default().verify_existing(policy == Overwrite::Always);
    let plan = repo
        .prepare_restore(&rustic_opts, stream.clone(), &dest, opts.dry_run)
        .ctx("planning the restore")?;
    let stats = &plan.stats;
    report.files = stats.files.restore;
    report.overwritten = stats.files.modify;
    report.skipped = stats.files.unchanged + stats.files.verified + skipped.get();
    report.dirs = stats.dirs.restore;
    report.bytes = plan.restore_size;
    report.unlisted = stats.files.additional + stats.dirs.additional;
    if opts.dry_run {
        report.duration_secs = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    // A full target disk panics inside rustic_core's restorer: contained, and reported
    // as an error naming the target.
    contain_panic(|| repo.restore(plan, &rustic_opts, stream, &dest))
        .map_err(|cause| Error::Restore {
            target: target.to_path_buf(),
            cause,
        })?
        .ctx("restoring")?;
    report.duration_secs = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Runs rustic_core's restorer, containing the panics it raises inside its thread pool: it
/// unwraps read, decryption and write errors (a damaged pack, a full target disk). A panic
/// comes back as its cause on one line. Shared by `restore` and drills.
pub(crate) fn contain_panic<T>(restore: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(restore)).map_err(|panic| {
        let cause = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown failure");
        let cause = cause.rsplit("Err` value: ").next().unwrap_or(cause);
        cause.split_whitespace().collect::<Vec<_>>().join(" ")
    })
}
