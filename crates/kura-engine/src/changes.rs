//! What changed between two snapshots, cheaply enough to run after every backup.
//!
//! restic trees are content-addressed: a folder whose subtree id is the same in both snapshots
//! has nothing changed below it, so only folders whose tree differs are opened (a nightly backup
//! of an SS-MIX2 storage changes a few patients' folders out of tens of thousands). File
//! contents are read by their data blob ids, never by a path lookup from the root.

use std::cmp::Ordering;
use std::path::Path;

use rayon::prelude::*;
use rustic_core::repofile::{BlobType, Node};
use rustic_core::{DataId, IndexedFullStatus, LsOptions, Repository, TreeId};

use crate::error::{Error, Result, RusticContext};
use crate::reader::{
    Change, ChangeKind, EntryKind, SnapshotReader, TreeEntry, entry_of, kind_and_link, merge_diff,
};
use crate::snapshots::info_of;

/// The changes from one snapshot to another (no unchanged paths), with the unchanged files
/// counted.
#[derive(Debug, Clone, Default)]
pub struct ChangeSet {
    /// Added, removed and modified paths, folders included.
    pub changes: Vec<Change>,
    /// Regular files present and unchanged in both.
    pub unchanged_files: u64,
}

impl SnapshotReader<'_> {
    /// Changes from this snapshot to `newer`, opening only folders whose tree differs. The reader
    /// stays on this snapshot. Unchanged files are counted from the newer snapshot's summary
    /// (its files minus the changed ones, symlinks and devices included as restic counts them);
    /// a snapshot without a summary (older restic) is walked in full instead.
    pub fn changes_to(&mut self, newer: &str) -> Result<ChangeSet> {
        let here = self.snap.clone();
        self.switch(newer)?;
        let there = std::mem::replace(&mut self.snap, here);
        let Some(total) = info_of(&there)
            .counts
            .map(|c| c.files_new + c.files_changed + c.files_unmodified)
        else {
            return self.changes_by_walking(&there.id.to_hex());
        };
        let mut changes = Vec::new();
        diff_trees(
            self.repo()?,
            Path::new(""),
            Some(self.snap.tree),
            Some(there.tree),
            &mut changes,
        )?;
        // Files of the newer snapshot that are not unchanged: added or modified non-folders.
        let changed = changes
            .iter()
            .filter(|c| c.change != ChangeKind::Removed)
            .filter(|c| c.after.as_ref().is_some_and(|e| e.kind != EntryKind::Dir))
            .count() as u64;
        Ok(ChangeSet {
            changes,
            unchanged_files: total.saturating_sub(changed),
        })
    }

    fn changes_by_walking(&mut self, newer: &str) -> Result<ChangeSet> {
        let all = self.diff_with(newer)?;
        let unchanged_files = all
            .iter()
            .filter(|c| c.change == ChangeKind::Unchanged)
            .filter(|c| c.after.as_ref().is_some_and(|e| e.kind == EntryKind::File))
            .count() as u64;
        Ok(ChangeSet {
            changes: all
                .into_iter()
                .filter(|c| c.change != ChangeKind::Unchanged)
                .collect(),
            unchanged_files,
        })
    }

    /// Up to `max` bytes of the file `entry` describes (an entry of this repository's
    /// snapshots, e.g. from [`SnapshotReader::changes_to`]), read by its data blob ids.
    pub fn read_entry(&self, entry: &TreeEntry, max: u64) -> Result<Vec<u8>> {
        let len = usize::try_from(entry.size.min(max)).map_err(|_| Error::TooLarge {
            path: entry.path.clone(),
        })?;
        let mut bytes = Vec::with_capacity(len);
        self.read_entry_with(entry, max, |b| bytes.extend_from_slice(b))?;
        Ok(bytes)
    }

    /// Feeds up to `max` bytes of the file `entry` describes to `sink`, in order, without holding
    /// the file: its blobs are read and decrypted on every core, [`READ_BATCH`] at a time, so
    /// memory stays at one batch of blobs (a few MiB) whatever the file's size.
    pub fn read_entry_with(
        &self,
        entry: &TreeEntry,
        max: u64,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<()> {
        if entry.kind != EntryKind::File {
            return Err(Error::NotAFile {
                snapshot: self.snap.id.to_hex().to_string(),
                path: entry.path.clone(),
            });
        }
        // The content key is the file's data blob ids, in hex, one after the other.
        let ids = entry
            .content_key
            .as_bytes()
            .chunks(64)
            .map(|hex| {
                std::str::from_utf8(hex)
                    .ok()
                    .filter(|h| h.parse::<DataId>().is_ok())
                    .ok_or_else(|| {
                        Error::BadValue(format!(
                            "{}: content id {hex:?} is not hex",
                            entry.path,
                            hex = String::from_utf8_lossy(hex)
                        ))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let repo = self.repo()?;
        let mut left = entry.size.min(max);
        for batch in ids.chunks(READ_BATCH) {
            if left == 0 {
                break;
            }
            let blobs: Vec<_> = batch
                .par_iter()
                .map(|id| repo.cat_blob(BlobType::Data, id))
                .collect();
            for blob in blobs {
                let blob = blob.ctx("reading a file from the snapshot")?;
                let n = usize::try_from(left).map_or(blob.len(), |l| l.min(blob.len()));
                sink(&blob[..n]);
                left -= n as u64;
                if left == 0 {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// Blobs of one file read at once by [`SnapshotReader::read_entry_with`]: enough to keep every
/// core of a small server busy (chunks average 1 MiB, at most 8 MiB).
const READ_BATCH: usize = 8;

type Repo = Repository<IndexedFullStatus>;

fn nodes(repo: &Repo, tree: Option<TreeId>) -> Result<Vec<Node>> {
    let Some(id) = tree else {
        return Ok(Vec::new());
    };
    let mut nodes = repo.get_tree(&id).ctx("reading a snapshot tree")?.nodes;
    nodes.sort_by(|a, b| a.name().cmp(&b.name()));
    Ok(nodes)
}

/// Every entry at and below `node` (at `path`), as added or removed.
fn whole(
    repo: &Repo,
    path: &Path,
    node: &Node,
    kind: ChangeKind,
    out: &mut Vec<Change>,
) -> Result<()> {
    let mut push = |e: TreeEntry| {
        let (before, after) = match kind {
            ChangeKind::Removed => (Some(e.clone()), None),
            _ => (None, Some(e.clone())),
        };
        out.push(Change {
            path: e.path,
            change: kind,
            before,
            after,
        });
    };
    push(entry_of(path, node));
    if node.is_dir() {
        for item in repo
            .ls(node, &LsOptions::default())
            .ctx("listing the snapshot")?
        {
            let (p, n) = item.ctx("reading a snapshot tree")?;
            push(entry_of(&path.join(p), &n));
        }
    }
    Ok(())
}

/// Whether two non-folder nodes at the same path are unchanged by [`merge_diff`]'s rule (same
/// kind, content and link target), decided on the nodes themselves: a changed folder can hold
/// thousands of unchanged files, and building their entries (paths, hex content keys, times,
/// modes) only to drop them was the diff's cost per unchanged file.
fn same_entry(p: &Node, q: &Node) -> bool {
    // An absent content list and an empty one have the same (empty) content key.
    kind_and_link(p) == kind_and_link(q)
        && p.content.as_deref().unwrap_or_default() == q.content.as_deref().unwrap_or_default()
}

/// A piece of a folder's diff, in tree order: changes already known, or a changed subfolder
/// still to compare.
enum Part {
    Done(Vec<Change>),
    Subfolder(std::path::PathBuf, Option<TreeId>, Option<TreeId>),
}

/// The changes between trees `a` and `b` at `base`, descending only where subtree ids differ.
/// Both versions of a folder are read at once and changed subfolders are compared in parallel
/// (rayon): after a nightly backup the diff reads thousands of small trees, one at a time it
/// kept one core busy while the other idled. The output stays in tree order.
fn diff_trees(
    repo: &Repo,
    base: &Path,
    a: Option<TreeId>,
    b: Option<TreeId>,
    out: &mut Vec<Change>,
) -> Result<()> {
    let (before, after) = rayon::join(|| nodes(repo, a), || nodes(repo, b));
    let (before, after) = (before?, after?);
    let mut parts = Vec::new();
    let mut here = Vec::new();
    let (mut x, mut y) = (before.iter().peekable(), after.iter().peekable());
    loop {
        let ord = match (x.peek(), y.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(p), Some(q)) => p.name().cmp(&q.name()),
        };
        match ord {
            Ordering::Less => {
                let Some(n) = x.next() else { break };
                whole(
                    repo,
                    &base.join(n.name()),
                    n,
                    ChangeKind::Removed,
                    &mut here,
                )?;
            }
            Ordering::Greater => {
                let Some(n) = y.next() else { break };
                whole(repo, &base.join(n.name()), n, ChangeKind::Added, &mut here)?;
            }
            Ordering::Equal => {
                let (Some(p), Some(q)) = (x.next(), y.next()) else {
                    break;
                };
                let path = base.join(q.name());
                match (p.is_dir(), q.is_dir()) {
                    (true, true) if p.subtree == q.subtree => {}
                    (true, true) => {
                        parts.push(Part::Done(std::mem::take(&mut here)));
                        parts.push(Part::Subfolder(path, p.subtree, q.subtree));
                    }
                    (false, false) if same_entry(p, q) => {}
                    (false, false) => {
                        // Same rule as a full diff: kind, content and link target.
                        let pair = merge_diff(vec![entry_of(&path, p)], vec![entry_of(&path, q)]);
                        here.extend(
                            pair.into_iter()
                                .filter(|c| c.change != ChangeKind::Unchanged),
                        );
                    }
                    _ => {
                        // A folder became a file or the other way round.
                        whole(repo, &path, p, ChangeKind::Removed, &mut here)?;
                        whole(repo, &path, q, ChangeKind::Added, &mut here)?;
                    }
                }
            }
        }
    }
    parts.push(Part::Done(here));
    let done = parts
        .into_par_iter()
        .map(|part| match part {
            Part::Done(changes) => Ok(changes),
            Part::Subfolder(path, a, b) => {
                let mut sub = Vec::new();
                diff_trees(repo, &path, a, b, &mut sub)?;
                Ok(sub)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    out.extend(done.into_iter().flatten());
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use rustic_core::repofile::{Metadata, NodeType};

    use super::*;

    fn node(tpe: NodeType, content: Option<Vec<DataId>>) -> Node {
        let mut n = Node::new_node(
            OsStr::new("f"),
            tpe,
            Metadata {
                size: 7,
                ..Metadata::default()
            },
        );
        n.content = content;
        n
    }

    #[test]
    fn unchanged_nodes_are_decided_as_the_full_diff_decides() {
        let id = |b: u8| DataId::from(rustic_core::Id::new([b; 32]));
        let link = |t: &str| NodeType::from_link(Path::new(t));
        let nodes = [
            node(NodeType::File, None),
            node(NodeType::File, Some(vec![])),
            node(NodeType::File, Some(vec![id(1)])),
            node(NodeType::File, Some(vec![id(2)])),
            node(NodeType::File, Some(vec![id(1), id(2)])),
            node(link("a"), None),
            node(link("b"), None),
            node(NodeType::Fifo, None),
            node(NodeType::Socket, None),
        ];
        for p in &nodes {
            for q in &nodes {
                let path = Path::new("d/f");
                let full = merge_diff(vec![entry_of(path, p)], vec![entry_of(path, q)]);
                assert_eq!(full.len(), 1);
                assert_eq!(
                    same_entry(p, q),
                    full[0].change == ChangeKind::Unchanged,
                    "{p:?} vs {q:?}"
                );
            }
        }
    }
}
