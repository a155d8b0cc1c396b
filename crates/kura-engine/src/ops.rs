//! Reading snapshots (ls, diff, file contents), restore, check, forget/prune and copy.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use rustic_core::{
    CheckOptions, IndexedFullStatus, LocalDestination, LsOptions, PruneOptions, Repository,
    repofile::{Node, NodeType, SnapshotFile},
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, RusticContext};
use crate::repo::Repo;
use crate::snapshots::{SnapshotInfo, info_of};

/// One entry of a snapshot tree.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TreeEntry {
    /// Path inside the snapshot (e.g. `srv/records/a.txt`).
    pub path: String,
    /// `file`, `dir`, `symlink` or `other`.
    pub kind: String,
    /// Size in bytes (files).
    pub size: u64,
    /// Modification time (RFC 3339), if recorded.
    pub mtime: Option<String>,
    /// Type and permissions as `ls -l` shows them (`-rw-r--r--`, `drwxr-xr-x`), if recorded.
    pub mode: Option<String>,
    /// Symlink target.
    pub link_target: Option<String>,
    /// Content fingerprint (the data blob ids joined), for change detection; empty for non-files.
    #[serde(skip)]
    pub content_key: String,
}

pub(crate) fn entry_of(path: &Path, node: &Node) -> TreeEntry {
    let (kind, link_target) = match &node.node_type {
        NodeType::File => ("file", None),
        NodeType::Dir => ("dir", None),
        NodeType::Symlink { linktarget, .. } => ("symlink", Some(linktarget.clone())),
        _ => ("other", None),
    };
    let content_key = node
        .content
        .as_ref()
        .map(|c| {
            c.iter()
                .map(|id| id.to_hex().to_string())
                .collect::<Vec<_>>()
                .join("")
        })
        .unwrap_or_default();
    TreeEntry {
        path: path.to_string_lossy().into_owned(),
        kind: kind.into(),
        size: node.meta.size,
        mtime: node.meta.mtime.as_ref().map(|t| t.to_string()),
        mode: node.meta.mode.map(|m| mode_string(&node.node_type, m)),
        link_target,
        content_key,
    }
}

/// A restic mode (Go's `io/fs.FileMode` bits, as stored in snapshots) as `ls -l` writes it.
fn mode_string(kind: &NodeType, go_mode: u32) -> String {
    // Go io/fs: ModeSetuid 1<<23, ModeSetgid 1<<22, ModeSticky 1<<20.
    const SETUID: u32 = 1 << 23;
    const SETGID: u32 = 1 << 22;
    const STICKY: u32 = 1 << 20;
    let mut out = String::with_capacity(10);
    out.push(match kind {
        NodeType::File => '-',
        NodeType::Dir => 'd',
        NodeType::Symlink { .. } => 'l',
        NodeType::Dev { .. } => 'b',
        NodeType::Chardev { .. } => 'c',
        NodeType::Fifo => 'p',
        NodeType::Socket => 's',
    });
    let special = [(SETUID, 's'), (SETGID, 's'), (STICKY, 't')];
    for (i, (bit, letter)) in special.iter().enumerate() {
        let shift = 6 - 3 * i;
        let rwx = (go_mode >> shift) & 0o7;
        out.push(if rwx & 4 != 0 { 'r' } else { '-' });
        out.push(if rwx & 2 != 0 { 'w' } else { '-' });
        out.push(match (go_mode & bit != 0, rwx & 1 != 0) {
            (true, true) => *letter,
            (true, false) => letter.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    out
}

/// How a path differs between two snapshots.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Only in the newer snapshot.
    Added,
    /// Only in the older snapshot.
    Removed,
    /// Content differs.
    Modified,
    /// Same content; metadata may differ.
    Unchanged,
}

/// One difference between two snapshots.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    /// Path inside the snapshots.
    pub path: String,
    /// What changed.
    pub change: ChangeKind,
    /// Entry in the older snapshot.
    pub before: Option<TreeEntry>,
    /// Entry in the newer snapshot.
    pub after: Option<TreeEntry>,
}

/// Compare two sorted entry streams (paths in tree order) and report every path.
pub(crate) fn merge_diff(before: Vec<TreeEntry>, after: Vec<TreeEntry>) -> Vec<Change> {
    let mut out = Vec::new();
    let mut a = before.into_iter().peekable();
    let mut b = after.into_iter().peekable();
    loop {
        let ord = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => Path::new(&x.path).cmp(Path::new(&y.path)),
        };
        match ord {
            Ordering::Less => {
                if let Some(x) = a.next() {
                    out.push(Change {
                        path: x.path.clone(),
                        change: ChangeKind::Removed,
                        before: Some(x),
                        after: None,
                    });
                }
            }
            Ordering::Greater => {
                if let Some(y) = b.next() {
                    out.push(Change {
                        path: y.path.clone(),
                        change: ChangeKind::Added,
                        before: None,
                        after: Some(y),
                    });
                }
            }
            Ordering::Equal => {
                if let (Some(x), Some(y)) = (a.next(), b.next()) {
                    let same = x.kind == y.kind
                        && x.content_key == y.content_key
                        && x.link_target == y.link_target;
                    let change = if same {
                        ChangeKind::Unchanged
                    } else {
                        ChangeKind::Modified
                    };
                    out.push(Change {
                        path: y.path.clone(),
                        change,
                        before: Some(x),
                        after: Some(y),
                    });
                }
            }
        }
    }
    out
}

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
}

/// A check message from rustic_core without its advice to run rustic commands, which kura's
/// users do not have.
fn in_kura_words(line: &str) -> String {
    let line = line.replace(
        "Run prune to correct this!",
        "`kura forget --prune` corrects this.",
    );
    match line.find(" To repair: 'rustic") {
        Some(i) => line[..i].to_string(),
        None => line,
    }
}

/// The result of a check.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckReport {
    /// Whether all data was read and verified.
    pub read_data: bool,
    /// Errors (the repository is damaged).
    pub errors: Vec<String>,
    /// Warnings (integrity not affected).
    pub warnings: Vec<String>,
}

impl CheckReport {
    /// No errors.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// A retention policy (restic's keep-* options).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeepPolicy {
    /// Keep the last n snapshots.
    pub last: Option<u32>,
    /// Keep the last n hourly snapshots.
    pub hourly: Option<u32>,
    /// Keep the last n daily snapshots.
    pub daily: Option<u32>,
    /// Keep the last n weekly snapshots.
    pub weekly: Option<u32>,
    /// Keep the last n monthly snapshots.
    pub monthly: Option<u32>,
    /// Keep the last n yearly snapshots.
    pub yearly: Option<u32>,
}

impl KeepPolicy {
    /// kura's default: 7 daily, 5 weekly, 12 monthly, 5 yearly (five years of medical records).
    pub fn hospital_default() -> Self {
        KeepPolicy {
            last: None,
            hourly: None,
            daily: Some(7),
            weekly: Some(5),
            monthly: Some(12),
            yearly: Some(5),
        }
    }

    /// Whether any keep-* rule is set.
    pub fn is_set(&self) -> bool {
        [
            self.last,
            self.hourly,
            self.daily,
            self.weekly,
            self.monthly,
            self.yearly,
        ]
        .iter()
        .any(Option::is_some)
    }

    fn to_rustic(&self) -> rustic_core::KeepOptions {
        let c = |v: Option<u32>| v.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
        rustic_core::KeepOptions::default()
            .keep_last(c(self.last))
            .keep_hourly(c(self.hourly))
            .keep_daily(c(self.daily))
            .keep_weekly(c(self.weekly))
            .keep_monthly(c(self.monthly))
            .keep_yearly(c(self.yearly))
    }
}

/// The decision for one snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForgetDecision {
    /// The snapshot.
    pub snapshot: SnapshotInfo,
    /// Kept?
    pub keep: bool,
    /// Why (policy rules matched, or a protection).
    pub reasons: Vec<String>,
}

/// What forget did or would do.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ForgetReport {
    /// Only planned, nothing removed.
    pub dry_run: bool,
    /// One decision per snapshot, oldest first.
    pub decisions: Vec<ForgetDecision>,
    /// Ids removed.
    pub removed: Vec<String>,
    /// Whether unused data was pruned.
    pub pruned: bool,
    /// Pack files removed by prune (with `dry_run`: that would be removed).
    pub packs_removed: u64,
    /// Bytes freed by prune (with `dry_run`: an estimate).
    pub bytes_freed: u64,
}

/// Newest clean snapshot among `snaps`.
fn newest_clean<'a>(snaps: impl IntoIterator<Item = &'a SnapshotFile>) -> Option<&'a SnapshotFile> {
    snaps
        .into_iter()
        .filter(|s| crate::snapshots::verdict_of(s) == crate::Verdict::Clean)
        .max_by(|a, b| a.time.cmp(&b.time))
}

/// Why a snapshot is kept whatever the policy says. `newest_clean` holds the newest clean
/// snapshot of the whole repository (what `latest-clean` resolves to) and of the snapshot's own
/// source: while an attack on that source is unresolved, later snapshots of it are suspicious,
/// so its newest clean one is the generation recovery starts from, even when another source
/// has a newer clean snapshot.
fn protection(snap: &SnapshotFile, newest_clean: &[Option<&SnapshotFile>]) -> Option<&'static str> {
    let info = info_of(snap);
    if info.legal_hold {
        return Some("legal hold");
    }
    if newest_clean.iter().flatten().any(|c| c.id == snap.id) {
        return Some("newest clean generation");
    }
    match info.verdict {
        crate::Verdict::Suspicious => Some("quarantined (suspicious)"),
        crate::Verdict::Pending => Some("verdict pending"),
        _ => None,
    }
}

/// A reader of one snapshot's tree and files, holding the full index.
pub struct SnapshotReader<'a> {
    owner: &'a mut Repo,
    repo: Option<Repository<IndexedFullStatus>>,
    pub(crate) snap: SnapshotFile,
}

impl Drop for SnapshotReader<'_> {
    fn drop(&mut self) {
        if let Some(r) = self.repo.take() {
            self.owner.repo = Some(r.drop_index());
        }
    }
}

impl SnapshotReader<'_> {
    pub(crate) fn repo(&self) -> Result<&Repository<IndexedFullStatus>> {
        self.repo
            .as_ref()
            .ok_or_else(|| Error::Invalid("snapshot reader is closed".into()))
    }

    /// The snapshot being read.
    pub fn snapshot(&self) -> SnapshotInfo {
        info_of(&self.snap)
    }

    /// Read another snapshot of the same repository, reusing the loaded index.
    pub fn switch(&mut self, spec: &str) -> Result<()> {
        let mut snaps = self.repo()?.get_all_snapshots().ctx("listing snapshots")?;
        snaps.sort_by(|a, b| a.time.cmp(&b.time));
        self.snap = crate::snapshots::resolve(&snaps, spec)?.clone();
        Ok(())
    }

    /// Differences from this snapshot to `newer` (tree order, unchanged paths included); the
    /// reader stays on this snapshot, so previous versions can be read next.
    pub fn diff_with(&mut self, newer: &str) -> Result<Vec<Change>> {
        let here = self.snap.id.to_hex().to_string();
        let before = self.entries("")?;
        self.switch(newer)?;
        let after = self.entries("");
        self.switch(&here)?;
        Ok(merge_diff(before, after?))
    }

    fn node(&self, path: &str) -> Result<Node> {
        let repo = self.repo()?;
        repo.node_from_snapshot_and_path(&self.snap, path)
            .map_err(|_| Error::PathNotFound {
                snapshot: self.snap.id.to_hex().to_string(),
                path: path.into(),
            })
    }

    /// Walk the tree under `path` ("" = root) in tree order, calling `f` for each entry.
    pub fn walk(&self, path: &str, mut f: impl FnMut(TreeEntry) -> Result<()>) -> Result<()> {
        let repo = self.repo()?;
        let node = self.node(path)?;
        let base = PathBuf::from(path.trim_matches('/'));
        if !node.is_dir() {
            return f(entry_of(&base, &node));
        }
        for item in repo
            .ls(&node, &LsOptions::default())
            .ctx("listing the snapshot")?
        {
            let (p, n) = item.ctx("reading a snapshot tree")?;
            f(entry_of(&base.join(p), &n))?;
        }
        Ok(())
    }

    /// All entries under `path`.
    pub fn entries(&self, path: &str) -> Result<Vec<TreeEntry>> {
        let mut v = Vec::new();
        self.walk(path, |e| {
            v.push(e);
            Ok(())
        })?;
        Ok(v)
    }

    /// Read up to `max` bytes from the start of the file at `path`.
    pub fn read(&self, path: &str, max: u64) -> Result<Vec<u8>> {
        let repo = self.repo()?;
        let node = self.node(path)?;
        if !crate::backup::is_file(&node) {
            return Err(Error::Invalid(format!(
                "{path} in snapshot {} is not a file",
                self.snap.id
            )));
        }
        let len = node.meta.size.min(max);
        let file = repo
            .open_file(&node)
            .ctx("opening a file in the snapshot")?;
        let len = usize::try_from(len)
            .map_err(|_| Error::Invalid(format!("{path} is too large to read")))?;
        let bytes = repo
            .read_file_at(&file, 0, len)
            .ctx("reading a file from the snapshot")?;
        Ok(bytes.to_vec())
    }
}

/// What a prune frees: packs deleted whole, unused parts of repacked packs, unreferenced packs.
fn bytes_freed(stats: &rustic_core::PruneStats) -> u64 {
    let size = stats.size_sum();
    size.remove + size.repackrm + stats.size_unref
}

impl Repo {
    /// Packs and bytes a prune would free once the snapshots `removed` are gone: the plan is
    /// made ignoring them, and never executed.
    fn prune_estimate(&self, snaps: &[SnapshotFile], removed: &[String]) -> Result<(u64, u64)> {
        let repo = self.open_repo()?;
        let ignore: Vec<_> = snaps
            .iter()
            .filter(|s| removed.contains(&s.id.to_hex().to_string()))
            .map(|s| s.id)
            .collect();
        let opts = PruneOptions::default().ignore_snaps(ignore);
        let plan = repo.prune_plan(&opts).ctx("estimating the prune")?;
        let packs = plan.stats.packs_to_delete.remove + plan.stats.packs_to_delete.recover;
        Ok((packs, bytes_freed(&plan.stats)))
    }

    /// Open a snapshot for reading (builds the full index in memory).
    pub fn reader(&mut self, spec: &str) -> Result<SnapshotReader<'_>> {
        let snap = self.snapshot_file(spec)?;
        let repo = self
            .take()?
            .to_indexed()
            .ctx("reading the repository index")?;
        Ok(SnapshotReader {
            owner: self,
            repo: Some(repo),
            snap,
        })
    }

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
            return Err(Error::Invalid(format!(
                "restore target {} is a file: give a folder (created if missing)",
                target.display()
            )));
        }
        let reader = self.reader(spec)?;
        let repo = reader.repo()?;
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
        let target_str = target.to_str().ok_or_else(|| {
            Error::Invalid(format!(
                "restore target {} is not valid UTF-8",
                target.display()
            ))
        })?;
        let mut report = RestoreReport {
            snapshot: reader.snap.id.to_hex().to_string(),
            target: target.to_path_buf(),
            overwrite: opts.overwrite,
            dry_run: opts.dry_run,
            ..RestoreReport::default()
        };
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
        // rustic_core's restorer unwraps write errors inside its thread pool (a full target
        // disk panics). Contain that here and report it as an error naming the target.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            repo.restore(plan, &rustic_opts, stream, &dest)
        }));
        match result {
            Ok(r) => r.ctx("restoring")?,
            Err(panic) => {
                let cause = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("unknown failure");
                let cause = cause.rsplit("Err` value: ").next().unwrap_or(cause);
                return Err(Error::Restore {
                    target: target.to_path_buf(),
                    cause: cause.split_whitespace().collect::<Vec<_>>().join(" "),
                });
            }
        }
        report.duration_secs = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// Check the repository's structure, and with `read_data` decrypt and hash every pack.
    pub fn check(&self, read_data: bool) -> Result<CheckReport> {
        let repo = self.open_repo()?;
        let results = repo
            .check(CheckOptions::default().read_data(read_data))
            .ctx("checking the repository")?;
        let mut report = CheckReport {
            read_data,
            ..CheckReport::default()
        };
        let mut unindexed = 0u64;
        for (level, err) in results.0 {
            let line = err
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            if line.contains("not referenced in index") {
                unindexed += 1;
                continue;
            }
            let line = in_kura_words(&line);
            if format!("{level:?}") == "Warn" {
                report.warnings.push(line);
            } else {
                report.errors.push(line);
            }
        }
        if unindexed > 0 {
            report.warnings.insert(
                0,
                format!(
                    "{unindexed} data pack(s) are not in the index yet: a backup is running now, or one was interrupted. This is not damage: run `kura check` again after the backup; packs an interrupted backup left behind are removed by `kura forget --prune`"
                ),
            );
        }
        Ok(report)
    }

    /// Apply a retention policy. Never removes a suspicious or pending snapshot, a snapshot under
    /// legal hold, or the newest clean snapshot (of the repository and of each source); refuses a
    /// plan that would keep nothing.
    pub fn forget(
        &mut self,
        policy: &KeepPolicy,
        dry_run: bool,
        prune: bool,
    ) -> Result<ForgetReport> {
        if !policy.is_set() {
            return Err(Error::Invalid("no retention rule given: set at least one --keep-* option (or [retention] in kura.toml)".into()));
        }
        let snaps = self.all_snapshot_files()?;
        let newest_clean_overall = newest_clean(&snaps);
        let now = rustic_core::jiff::Zoned::now();
        let grouped = rustic_core::Grouped::from_items(
            snaps.clone(),
            rustic_core::SnapshotGroupCriterion::default(),
        );
        let keep = policy.to_rustic();
        let mut decisions = Vec::new();
        let mut policy_keeps_any = false;
        for group in grouped.groups {
            let group_clean = newest_clean(&group.items).cloned();
            let protected = [newest_clean_overall, group_clean.as_ref()];
            for fs in keep
                .apply(group.items, &now)
                .ctx("applying the retention policy")?
            {
                policy_keeps_any |= fs.keep;
                let mut d = ForgetDecision {
                    snapshot: info_of(&fs.snapshot),
                    keep: fs.keep,
                    reasons: fs.reasons,
                };
                if let Some(why) = protection(&fs.snapshot, &protected) {
                    d.keep = true;
                    d.reasons.push(why.into());
                }
                decisions.push(d);
            }
        }
        // Oldest first, by the exact snapshot time (several backups can share one second).
        let order: std::collections::HashMap<String, usize> = snaps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.to_hex().to_string(), i))
            .collect();
        decisions.sort_by_key(|d| order.get(&d.snapshot.id).copied().unwrap_or(usize::MAX));
        // A policy that by itself keeps nothing is a mistake (e.g. --keep-last 0), even though
        // the protections below would still keep some snapshots.
        if !decisions.is_empty() && !policy_keeps_any {
            return Err(Error::Invalid(
                "the retention policy would remove every snapshot; nothing was removed".into(),
            ));
        }
        let removed: Vec<String> = decisions
            .iter()
            .filter(|d| !d.keep)
            .map(|d| d.snapshot.id.clone())
            .collect();
        let mut report = ForgetReport {
            dry_run,
            decisions,
            removed: removed.clone(),
            pruned: false,
            packs_removed: 0,
            bytes_freed: 0,
        };
        if dry_run {
            if prune {
                (report.packs_removed, report.bytes_freed) =
                    self.prune_estimate(&snaps, &removed)?;
            }
            return Ok(report);
        }
        let repo = self.open_repo()?;
        let ids: Vec<_> = snaps
            .iter()
            .filter(|s| removed.contains(&s.id.to_hex().to_string()))
            .map(|s| s.id)
            .collect();
        if !ids.is_empty() {
            repo.delete_snapshots(&ids).ctx("removing snapshots")?;
        }
        if prune {
            // kura holds the exclusive repository lock here, so unused packs can go at once
            // instead of after restic's 23-hour grace period.
            let opts = PruneOptions::default().instant_delete(true);
            let plan = repo.prune_plan(&opts).ctx("planning the prune")?;
            report.packs_removed =
                plan.stats.packs_to_delete.remove + plan.stats.packs_to_delete.recover;
            report.bytes_freed = bytes_freed(&plan.stats);
            repo.prune(&opts, plan).ctx("pruning unused data")?;
            report.pruned = true;
        }
        Ok(report)
    }

    /// Copy snapshots (by id) to `dest`, skipping those already there. Returns the ids copied.
    pub fn copy_to(&mut self, dest: &mut Repo, ids: &[String]) -> Result<Vec<String>> {
        let all = self.all_snapshot_files()?;
        let chosen: Vec<SnapshotFile> = all
            .into_iter()
            .filter(|s| ids.contains(&s.id.to_hex().to_string()))
            .collect();
        let src = self
            .take()?
            .to_indexed()
            .ctx("reading the repository index")?;
        let dst = match dest
            .take()
            .and_then(|d| d.to_indexed_ids().ctx("reading the destination index"))
        {
            Ok(d) => d,
            Err(e) => {
                self.repo = Some(src.drop_index());
                return Err(e);
            }
        };
        let result = dst
            .relevant_copy_snapshots(|_| true, &chosen)
            .ctx("comparing snapshots with the destination")
            .and_then(|rel| {
                let todo: Vec<SnapshotFile> = rel
                    .into_iter()
                    .filter(|c| c.relevant)
                    .map(|c| c.sn)
                    .collect();
                src.copy(&dst, todo.iter()).ctx("copying snapshots")?;
                Ok(todo.iter().map(|s| s.id.to_hex().to_string()).collect())
            });
        self.repo = Some(src.drop_index());
        dest.repo = Some(dst.drop_index());
        result
    }
}

impl Repo {
    /// The snapshots to copy to an offline disk or remote: the given references, or by default
    /// the clean generations that `policy` keeps. Refuses a suspicious, pending or unjudged
    /// snapshot unless `force`, so that an attacked generation never lands on a clean copy.
    pub fn select_for_copy(
        &mut self,
        specs: &[String],
        policy: &KeepPolicy,
        force: bool,
    ) -> Result<Vec<SnapshotInfo>> {
        let chosen: Vec<SnapshotInfo> = if specs.is_empty() {
            let plan = self.forget(policy, true, false)?;
            plan.decisions
                .into_iter()
                .filter(|d| d.keep && (force || d.snapshot.verdict == crate::Verdict::Clean))
                .map(|d| d.snapshot)
                .collect()
        } else {
            specs
                .iter()
                .map(|s| self.snapshot(s))
                .collect::<Result<_>>()?
        };
        if !force && let Some(bad) = chosen.iter().find(|s| s.verdict != crate::Verdict::Clean) {
            return Err(Error::Invalid(format!(
                "snapshot {} is {}, not clean: it is not copied over clean generations (use --force to copy it anyway)",
                bad.short_id, bad.verdict
            )));
        }
        if chosen.is_empty() {
            return Err(Error::Invalid(
                "no clean generation to copy: run `kura backup` first, or name snapshots with --snapshot".into(),
            ));
        }
        Ok(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_like_ls() {
        assert_eq!(mode_string(&NodeType::File, 0o644), "-rw-r--r--");
        assert_eq!(mode_string(&NodeType::Dir, (1 << 31) | 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(&NodeType::Dir, (1 << 20) | 0o777), "drwxrwxrwt");
        assert_eq!(
            mode_string(&NodeType::File, (1 << 23) | 0o644),
            "-rwSr--r--"
        );
    }
}
