use crate::{blob::BlobLocation, repofile::RusticTime};
use std::{cmp::Ordering, num::NonZeroU32};

use jiff::Timestamp;
use serde_derive::{Deserialize, Serialize};
use serde_with::{serde_as, skip_serializing_none};

use crate::{
    backend::FileType,
    blob::{BlobId, BlobType},
    impl_repoid,
    repofile::{RepoFile, packfile::PackHeaderRef},
};

use super::packfile::PackId;

impl_repoid!(IndexId, FileType::Index);

/// Index files describe index information about multiple `pack` files.
///
/// They are usually stored in the repository under `/index/<ID>`
#[skip_serializing_none]
#[derive(Serialize, Debug, Default)]
pub struct IndexFile {
    /// which other index files are superseded by this (not actively used)
    pub supersedes: Option<Vec<IndexId>>,
    /// Index information about used packs
    pub packs: Vec<IndexPack>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// Index information about unused packs which are already marked for deletion
    pub packs_to_delete: Vec<IndexPack>,
}

/// The current index format: an object with `packs`.
#[derive(Deserialize)]
struct CurrentIndexFile {
    supersedes: Option<Vec<IndexId>>,
    packs: Vec<IndexPack>,
    #[serde(default)]
    packs_to_delete: Vec<IndexPack>,
}

impl<'de> serde::Deserialize<'de> for IndexFile {
    /// Reads the current format (an object with `packs`) and the legacy format written by
    /// restic before 0.2 (a bare array of packs), which restic still reads. A visitor rather
    /// than `#[serde(untagged)]`, so large index files are not buffered twice.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::Deserialize as _;
        use serde::de::{
            MapAccess, SeqAccess, Visitor,
            value::{MapAccessDeserializer, SeqAccessDeserializer},
        };

        struct IndexFileVisitor;

        impl<'de> Visitor<'de> for IndexFileVisitor {
            type Value = IndexFile;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an index object or a legacy array of packs")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<IndexFile, A::Error> {
                let index = CurrentIndexFile::deserialize(MapAccessDeserializer::new(map))?;
                Ok(IndexFile {
                    supersedes: index.supersedes,
                    packs: index.packs,
                    packs_to_delete: index.packs_to_delete,
                })
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<IndexFile, A::Error> {
                let packs = Vec::<IndexPack>::deserialize(SeqAccessDeserializer::new(seq))?;
                Ok(IndexFile {
                    supersedes: None,
                    packs,
                    packs_to_delete: Vec::new(),
                })
            }
        }

        deserializer.deserialize_any(IndexFileVisitor)
    }
}

impl RepoFile for IndexFile {
    /// The [`FileType`] associated with the [`IndexFile`]
    const TYPE: FileType = FileType::Index;
    type Id = IndexId;
}

impl IndexFile {
    /// Add a new pack to the index file
    ///
    /// # Arguments
    ///
    /// * `p` - The pack to add
    /// * `delete` - If the pack should be marked for deletion
    pub(crate) fn add(&mut self, p: IndexPack, delete: bool) {
        if delete {
            self.packs_to_delete.push(p);
        } else {
            self.packs.push(p);
        }
    }

    pub(crate) fn all_packs(self) -> impl Iterator<Item = (IndexPack, bool)> {
        self.packs
            .into_iter()
            .map(|pack| (pack, false))
            .chain(self.packs_to_delete.into_iter().map(|pack| (pack, true)))
    }
}

#[serde_as]
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Default, Debug, Clone)]
/// Index information about a `pack`
pub struct IndexPack {
    /// pack Id
    pub id: PackId,
    /// Index information about contained blobs
    pub blobs: Vec<IndexBlob>,
    #[serde_as(as = "Option<RusticTime>")]
    /// The pack creation time or time when the pack was marked for deletion
    pub time: Option<Timestamp>,
    /// The pack size
    pub size: Option<u32>,
}

impl IndexPack {
    /// Add a new blob to the pack
    ///
    /// # Arguments
    ///
    /// * `id` - The blob id
    /// * `tpe` - The blob type
    /// * `offset` - The blob offset within the pack
    /// * `length` - The blob length within the pack
    /// * `uncompressed_length` - The blob uncompressed length within the pack
    pub(crate) fn add(
        &mut self,
        id: BlobId,
        tpe: BlobType,
        offset: u32,
        length: u32,
        uncompressed_length: Option<NonZeroU32>,
    ) {
        self.blobs.push(IndexBlob {
            id,
            tpe,
            location: BlobLocation {
                offset,
                length,
                uncompressed_length,
            },
        });
    }

    /// Calculate the pack size from the contained blobs
    #[must_use]
    pub fn pack_size(&self) -> u32 {
        self.size
            .unwrap_or_else(|| PackHeaderRef::from_index_pack(self).pack_size())
    }

    /// Returns the blob type of the pack.
    ///
    /// # Note
    ///
    /// Only packs with identical blob types are allowed.
    #[must_use]
    pub fn blob_type(&self) -> BlobType {
        // TODO: This is a hack to support packs without blobs (e.g. when deleting unreferenced files)
        if self.blobs.is_empty() {
            BlobType::Data
        } else {
            self.blobs[0].tpe
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Eq, PartialEq, Copy)]
/// Index information about a `blob`
pub struct IndexBlob {
    /// Blob Id
    pub id: BlobId,
    #[serde(rename = "type")]
    /// Type of the blob
    pub tpe: BlobType,

    #[serde(flatten)]
    /// Location of the blob within the `pack` file
    pub location: BlobLocation,
}

impl PartialOrd<Self> for IndexBlob {
    /// Compare two blobs by their offset
    ///
    /// # Arguments
    ///
    /// * `other` - The other blob to compare to
    ///
    /// # Returns
    ///
    /// The ordering of the two blobs
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IndexBlob {
    /// Compare two blobs by their offset
    ///
    /// # Arguments
    ///
    /// * `other` - The other blob to compare to
    ///
    /// # Returns
    ///
    /// The ordering of the two blobs
    fn cmp(&self, other: &Self) -> Ordering {
        self.location.cmp(&other.location)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_index_array_is_read_as_packs() {
        // restic before 0.2 wrote the index as a bare array of packs.
        let legacy = r#"[{"id":"d9de8b055292fe3e5c3d0c91acafb0e6884d157e2bf5c1411b45e13877931cb7",
            "blobs":[{"id":"f2ca1bb6c7e907d06dafe4687e579fce76b37e4e93b7605022da52e6ccc26fd2",
                      "type":"data","offset":0,"length":37}]}]"#;
        let index: IndexFile = serde_json::from_str(legacy).unwrap();
        assert!(index.supersedes.is_none());
        assert!(index.packs_to_delete.is_empty());
        assert_eq!(index.packs.len(), 1);
        assert_eq!(index.packs[0].blobs[0].tpe, BlobType::Data);
        assert_eq!(index.packs[0].blobs[0].location.length, 37);
    }

    #[test]
    fn current_index_object_still_reads_every_field() {
        let current = r#"{"supersedes":["9c76100d9373710373d038256df70fc0cfe2e18a9acc1ab5621b1dd10db374d2"],
            "packs":[],"packs_to_delete":[{"id":"d9de8b055292fe3e5c3d0c91acafb0e6884d157e2bf5c1411b45e13877931cb7",
            "blobs":[],"time":"2024-01-01T00:00:00Z","size":12}]}"#;
        let index: IndexFile = serde_json::from_str(current).unwrap();
        assert_eq!(index.supersedes.map(|s| s.len()), Some(1));
        assert!(index.packs.is_empty());
        assert_eq!(index.packs_to_delete[0].size, Some(12));
        assert!(serde_json::from_str::<IndexFile>("\"neither\"").is_err());
    }
}
