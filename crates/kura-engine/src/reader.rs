//! Reading snapshots: trees (ls), differences between two snapshots (diff) and file contents.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use rustic_core::{
    IndexedFullStatus, LsOptions, Repository,
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
    /// What it is (`file`, `dir`, `symlink` or `other` in JSON).
    pub kind: EntryKind,
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

/// What a snapshot tree entry is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A folder.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A device, FIFO or socket.
    Other,
}

impl EntryKind {
    /// The name used in JSON and listings: `file`, `dir`, `symlink` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "symlink",
            EntryKind::Other => "other",
        }
    }
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Comparing with the JSON name (`entry.kind == "file"`) keeps working for callers written
/// when the kind was a string.
impl PartialEq<&str> for EntryKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A node's kind as kura lists it, and its link target when it is a symlink.
pub(crate) fn kind_and_link(node: &Node) -> (EntryKind, Option<&String>) {
    match &node.node_type {
        NodeType::File => (EntryKind::File, None),
        NodeType::Dir => (EntryKind::Dir, None),
        NodeType::Symlink { linktarget, .. } => (EntryKind::Symlink, Some(linktarget)),
        _ => (EntryKind::Other, None),
    }
}

pub(crate) fn entry_of(path: &Path, node: &Node) -> TreeEntry {
    let (kind, link_target) = kind_and_link(node);
    let link_target = link_target.cloned();
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
        kind,
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
            .ok_or(Error::HandleLost("snapshot reader is closed"))
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

    pub(crate) fn node(&self, path: &str) -> Result<Node> {
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
            return Err(Error::NotAFile {
                snapshot: self.snap.id.to_string(),
                path: path.into(),
            });
        }
        let len = node.meta.size.min(max);
        let file = repo
            .open_file(&node)
            .ctx("opening a file in the snapshot")?;
        let len = usize::try_from(len).map_err(|_| Error::TooLarge { path: path.into() })?;
        let bytes = repo
            .read_file_at(&file, 0, len)
            .ctx("reading a file from the snapshot")?;
        Ok(bytes.to_vec())
    }
}

impl Repo {
    /// Open a snapshot for reading (builds the full index in memory, or reuses the one a
    /// backup kept and adds the index files written since).
    pub fn reader(&mut self, spec: &str) -> Result<SnapshotReader<'_>> {
        let snap = self.snapshot_file(spec)?;
        let kept = self.kept_index.take();
        let repo = self.take()?;
        let repo = match kept {
            Some(index) => repo.to_indexed_from(index),
            None => repo.to_indexed(),
        }
        .ctx("reading the repository index")?;
        Ok(SnapshotReader {
            owner: self,
            repo: Some(repo),
            snap,
        })
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
