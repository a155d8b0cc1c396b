pub(crate) mod file_archiver;
pub(crate) mod parent;
pub(crate) mod tree;
pub(crate) mod tree_archiver;

use std::path::{Path, PathBuf};
use std::thread::scope;

use jiff::Zoned;
use log::warn;
use pariter::IteratorExt;

use crate::{
    Progress,
    archiver::{
        file_archiver::FileArchiver,
        parent::{ItemWithParent, Parent, ParentResult},
        tree::{TreeIterator, TreeType},
        tree_archiver::TreeArchiver,
    },
    backend::{ReadSource, ReadSourceEntry, decrypt::DecryptFullBackend, node::NodeType},
    blob::BlobType,
    error::RusticResult,
    index::{
        ReadGlobalIndex,
        indexer::{Indexer, SharedIndexer},
    },
    repofile::{configfile::ConfigFile, snapshotfile::SnapshotFile},
};

#[derive(thiserror::Error, Debug, displaydoc::Display)]
/// Tree stack empty
pub struct TreeStackEmptyError;

/// At most this many items (files, directory starts and ends) go to a file-archiver thread in
/// one batch: each hand-off between threads costs more than archiving a small file or passing
/// a directory, so items travel in batches rather than one by one.
const BATCH_MAX_ITEMS: usize = 256;

/// A batch is closed once the files in it that must be read hold this many bytes, so large
/// files still spread over the file-archiver threads.
const BATCH_MAX_BYTES: u64 = 1024 * 1024;

/// Groups the archiver's items into batches for the file-archiver threads, keeping their order.
struct Batches<I> {
    iter: I,
}

/// Adds [`Batches`] to the archiver's item iterator.
trait BatchesExt: Sized {
    fn batches(self) -> Batches<Self> {
        Batches { iter: self }
    }
}

impl<I: Iterator> BatchesExt for I {}

impl<O, I: Iterator<Item = ItemWithParent<O>>> Iterator for Batches<I> {
    type Item = Vec<ItemWithParent<O>>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        while batch.len() < BATCH_MAX_ITEMS && bytes < BATCH_MAX_BYTES {
            let Some(item) = self.iter.next() else {
                break;
            };
            bytes += bytes_to_read(&item);
            batch.push(item);
        }
        (!batch.is_empty()).then_some(batch)
    }
}

/// The bytes the file archiver will read for this item: a file's size unless it is unchanged
/// since the parent snapshot (then its content is taken from the parent).
fn bytes_to_read<O>(item: &ItemWithParent<O>) -> u64 {
    match item {
        TreeType::Other((_, node, (_, parent)))
            if node.node_type == NodeType::File && !matches!(parent, ParentResult::Matched(())) =>
        {
            node.meta.size.max(1)
        }
        _ => 0,
    }
}

/// The `Archiver` is responsible for archiving files and trees.
/// It will read the file, chunk it, and write the chunks to the backend.
///
/// # Type Parameters
///
/// * `BE` - The backend type.
/// * `I` - The index to read from.
#[allow(missing_debug_implementations)]
#[allow(clippy::struct_field_names)]
pub struct Archiver<'a, BE: DecryptFullBackend, I: ReadGlobalIndex> {
    /// The `FileArchiver` is responsible for archiving files.
    file_archiver: FileArchiver<'a, BE, I>,

    /// The `TreeArchiver` is responsible for archiving trees.
    tree_archiver: TreeArchiver<'a, BE, I>,

    /// The parent snapshot to use.
    parent: Parent,

    /// The `SharedIndexer` is used to index the data.
    indexer: SharedIndexer<BE>,

    /// The backend to write to.
    be: BE,

    /// The backend to write to.
    index: &'a I,

    /// The `SnapshotFile` to write to.
    snap: SnapshotFile,
}

impl<'a, BE: DecryptFullBackend, I: ReadGlobalIndex> Archiver<'a, BE, I> {
    /// Creates a new `Archiver`.
    ///
    /// # Arguments
    ///
    /// * `be` - The backend to write to.
    /// * `index` - The index to read from.
    /// * `config` - The config file.
    /// * `parent` - The parent snapshot to use.
    /// * `snap` - The `SnapshotFile` to write to.
    ///
    /// # Errors
    ///
    /// * If sending the message to the raw packer fails.
    /// * If converting the data length to u64 fails
    pub fn new(
        be: BE,
        index: &'a I,
        config: &ConfigFile,
        parent: Parent,
        mut snap: SnapshotFile,
    ) -> RusticResult<Self> {
        let indexer = Indexer::new(be.clone()).into_shared();
        let mut summary = snap.summary.take().unwrap_or_default();
        summary.backup_start = Zoned::now();

        let file_archiver = FileArchiver::new(be.clone(), index, indexer.clone(), config)?;
        let tree_archiver = TreeArchiver::new(be.clone(), index, indexer.clone(), config, summary)?;

        Ok(Self {
            file_archiver,
            tree_archiver,
            parent,
            indexer,
            be,
            index,
            snap,
        })
    }

    /// Archives the given source.
    ///
    /// This will archive all files and trees in the given source.
    ///
    /// # Type Parameters
    ///
    /// * `R` - The type of the source.
    ///
    /// # Arguments
    ///
    /// * `index` - The index to read from.
    /// * `src` - The source to archive.
    /// * `backup_path` - The path to the backup.
    /// * `as_path` - The path to archive the backup as.
    /// * `skip_identical_parent` - skip saving of snapshot if tree is identical to parent tree.
    /// * `p` - The progress bar.
    ///
    /// # Errors
    ///
    /// * If sending the message to the raw packer fails.
    /// * If the index file could not be serialized.
    /// * If the time is not in the range of `Local::now()`.
    pub fn archive<R>(
        mut self,
        src: &R,
        backup_path: &Path,
        as_path: Option<&PathBuf>,
        skip_identical_parent: bool,
        no_scan: bool,
        p: &Progress,
    ) -> RusticResult<SnapshotFile>
    where
        R: ReadSource + 'static,
        <R as ReadSource>::Open: Send,
        <R as ReadSource>::Iter: Send,
    {
        scope(|s| -> RusticResult<_> {
            // determine backup size in parallel to running backup
            let src_size_handle = s.spawn(|| {
                if !no_scan && !p.is_hidden() {
                    match src.size() {
                        Ok(Some(size)) => p.set_length(size),
                        Ok(None) => {}
                        Err(err) => warn!("error determining backup size: {}", err.display_log()),
                    }
                }
            });

            // filter out errors and handle as_path
            let iter = src.entries().filter_map(|item| match item {
                Err(err) => {
                    warn!("ignoring error: {}", err.display_log());
                    None
                }
                Ok(ReadSourceEntry { path, node, open }) => {
                    let snapshot_path = if let Some(as_path) = as_path {
                        as_path
                            .clone()
                            .join(path.strip_prefix(backup_path).unwrap())
                    } else {
                        path
                    };
                    Some(if node.is_dir() {
                        (snapshot_path, node, open)
                    } else {
                        (
                            snapshot_path
                                .parent()
                                .expect("file path should have a parent!")
                                .to_path_buf(),
                            node,
                            open,
                        )
                    })
                }
            });
            // handle beginning and ending of trees
            let iter = TreeIterator::new(iter);

            // use parent snapshot
            iter.filter_map(
                |item| match self.parent.process(&self.be, self.index, item) {
                    Ok(item) => Some(item),
                    Err(err) => {
                        warn!("ignoring error reading parent snapshot: {err:?}");
                        None
                    }
                },
            )
            // archive files in parallel, a batch of items per hand-off
            .batches()
            .parallel_map_scoped(s, |batch| {
                batch
                    .into_iter()
                    .map(|item| self.file_archiver.process(item, p))
                    .collect::<Vec<_>>()
            })
            .readahead_scoped(s)
            .flatten()
            .filter_map(|item| match item {
                Ok(item) => Some(item),
                Err(err) => {
                    warn!("ignoring error: {}", err.display_log());
                    None
                }
            })
            .try_for_each(|item| self.tree_archiver.add(item))?;

            src_size_handle
                .join()
                .expect("Scoped Size Handler thread should not panic!");

            Ok(())
        })?;

        let stats = self.file_archiver.finalize()?;
        let (id, mut summary) = self.tree_archiver.finalize(self.parent.tree_id())?;
        stats.apply(&mut summary, BlobType::Data);
        self.snap.tree = id;

        self.indexer.write().unwrap().finalize()?;

        summary.finalize(&self.snap.time);
        self.snap.summary = Some(summary);

        if !skip_identical_parent || Some(self.snap.tree) != self.parent.tree_id() {
            let id = self.be.save_file(&self.snap)?;
            self.snap.id = id.into();
        }

        p.finish();
        Ok(self.snap)
    }
}

#[cfg(test)]
mod tests {
    use std::{ffi::OsStr, path::PathBuf};

    use super::*;
    use crate::backend::node::{Metadata, Node};

    fn file(name: &str, size: u64, parent: ParentResult<()>) -> ItemWithParent<u32> {
        let meta = Metadata {
            size,
            ..Metadata::default()
        };
        let node = Node::new_node(OsStr::new(name), NodeType::File, meta);
        TreeType::Other((PathBuf::from("/d"), node, (0, parent)))
    }

    fn names(batch: &[ItemWithParent<u32>]) -> Vec<String> {
        batch
            .iter()
            .map(|item| match item {
                TreeType::Other((_, node, _)) => node.name().to_string_lossy().into_owned(),
                TreeType::NewTree(_) => "<dir>".to_string(),
                TreeType::EndTree => "</dir>".to_string(),
            })
            .collect()
    }

    #[test]
    fn batches_keep_order_and_hold_at_most_max_items() {
        let count = 2 * BATCH_MAX_ITEMS + 3;
        let items: Vec<_> = (0..count)
            .map(|i| file(&format!("f{i:05}"), 10, ParentResult::NotFound))
            .collect();
        let expected = names(&items);
        let batches: Vec<_> = items.into_iter().batches().collect();
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![BATCH_MAX_ITEMS, BATCH_MAX_ITEMS, 3]
        );
        let flat: Vec<_> = batches.iter().flat_map(|b| names(b)).collect();
        assert_eq!(flat, expected);
    }

    #[test]
    fn a_batch_closes_at_max_bytes_to_read_unchanged_files_count_nothing() {
        let big = BATCH_MAX_BYTES / 2;
        let items = vec![
            file("a", big, ParentResult::NotFound),
            // unchanged since the parent: not read, so it does not fill the batch
            file("b", 10 * BATCH_MAX_BYTES, ParentResult::Matched(())),
            file("c", big, ParentResult::NotMatched),
            file("d", 3 * BATCH_MAX_BYTES, ParentResult::NotFound),
            TreeType::EndTree,
            file("e", 0, ParentResult::NotFound),
        ];
        let batches: Vec<_> = items.into_iter().batches().map(|b| names(&b)).collect();
        assert_eq!(
            batches,
            vec![vec!["a", "b", "c"], vec!["d"], vec!["</dir>", "e"]]
        );
    }

    #[test]
    fn no_items_no_batch() {
        let items: Vec<ItemWithParent<u32>> = Vec::new();
        assert_eq!(items.into_iter().batches().count(), 0);
    }
}
