//! An exact set of blob ids whose memory does not grow by a whole id per member.
//!
//! The [`Indexer`](super::indexer::Indexer) remembers every blob it indexed in a run so that
//! identical content met later in the same run is not stored twice. Holding those ids in a
//! `BTreeSet` costs ~50 bytes per blob for the whole run (a first backup of 10 million small
//! files holds ~1.6 GB). [`SpilledIdSet`] keeps only the most recent ids in memory; older ones
//! are written, sorted, to unnamed temporary files ("runs") and merged so that there are few runs.
//! In memory stay a blocked Bloom filter over the spilled ids (12 bits per id) and one fence key
//! per 4 KiB page of each run (0.25 bytes per id), ~1.75 bytes per id in all.
//!
//! Answers are exact: "present" is only ever answered after finding the id itself, in memory or
//! in a run. The Bloom filter only decides whether the runs need to be searched. If writing a run
//! fails (e.g. the temporary directory is full), the set keeps every further id in memory (the
//! upstream behaviour); if reading a run fails, the lookup answers "absent", which at worst
//! stores a blob twice (as a repository tolerates, and prune removes).

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashSet},
    fmt,
    fs::{File, OpenOptions},
    io::{self, BufReader, BufWriter, Read, Write},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use log::warn;

/// Bytes of one id.
const ID_LEN: usize = 32;

/// A raw id. Its byte order is the order of [`crate::Id`].
type RawId = [u8; ID_LEN];

/// Tuning of a [`SpilledIdSet`].
#[derive(Debug, Clone)]
pub(crate) struct SpillConfig {
    /// Directory for the temporary run files.
    pub(crate) dir: PathBuf,
    /// Ids kept in memory before they are written as a run.
    pub(crate) memory_ids: usize,
    /// Runs of one size that are merged into one run of the next size.
    pub(crate) fan_out: usize,
    /// Ids per page of a run (one fence key in memory per page, one read per lookup in a run).
    pub(crate) page_ids: usize,
}

/// Largest page a lookup reads (4 KiB).
const MAX_PAGE_IDS: usize = 128;

impl Default for SpillConfig {
    fn default() -> Self {
        Self {
            dir: std::env::temp_dir(),
            // Debug builds (tests) spill early so that every test backup of more than a few
            // hundred blobs goes through the runs on disk. Release: 114,688 ids fill a hash set
            // of 2^17 buckets (~4.3 MiB), written as a 3.5 MiB run.
            memory_ids: if cfg!(debug_assertions) { 256 } else { 7 << 14 },
            fan_out: 8,
            page_ids: MAX_PAGE_IDS,
        }
    }
}

/// An exact set of ids held mostly in temporary files (see the module documentation).
pub(crate) struct SpilledIdSet {
    /// Tuning.
    config: SpillConfig,
    /// Ids not yet written to a run.
    recent: HashSet<RawId>,
    /// The runs, larger (older) first: levels never increase along the vector.
    runs: Vec<Run>,
    /// Every id in `runs`.
    bloom: Bloom,
    /// Ids in `runs`.
    spilled: usize,
    /// Writing a run failed: keep everything in memory from now on.
    spill_failed: bool,
}

impl fmt::Debug for SpilledIdSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpilledIdSet")
            .field("in_memory", &self.recent.len())
            .field("spilled", &self.spilled)
            .field("runs", &self.runs.len())
            .field("spill_failed", &self.spill_failed)
            .finish_non_exhaustive()
    }
}

impl Default for SpilledIdSet {
    fn default() -> Self {
        Self::new(SpillConfig::default())
    }
}

impl SpilledIdSet {
    /// Creates an empty set.
    pub(crate) fn new(mut config: SpillConfig) -> Self {
        config.memory_ids = config.memory_ids.max(1);
        config.fan_out = config.fan_out.max(2);
        config.page_ids = config.page_ids.clamp(1, MAX_PAGE_IDS);
        Self {
            config,
            recent: HashSet::new(),
            runs: Vec::new(),
            bloom: Bloom::with_capacity(0),
            spilled: 0,
            spill_failed: false,
        }
    }

    /// Adds an id.
    pub(crate) fn insert(&mut self, id: &crate::Id) {
        let raw = *id.as_bytes();
        if self.recent.contains(&raw) || self.in_runs(&raw) {
            return;
        }
        _ = self.recent.insert(raw);
        if self.recent.len() >= self.config.memory_ids && !self.spill_failed {
            if let Err(err) = self.spill() {
                warn!(
                    "could not write blob ids to a temporary file in {}, keeping them in memory: {err}",
                    self.config.dir.display()
                );
                self.spill_failed = true;
            }
        }
    }

    /// Whether the id was added.
    pub(crate) fn contains(&self, id: &crate::Id) -> bool {
        let raw = id.as_bytes();
        self.recent.contains(raw) || self.in_runs(raw)
    }

    /// Number of ids in the set.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.recent.len() + self.spilled
    }

    /// Whether `raw` is in a run; on a read error, warns and answers `false`.
    fn in_runs(&self, raw: &RawId) -> bool {
        if self.runs.is_empty() || !self.bloom.may_contain(raw) {
            return false;
        }
        self.runs.iter().rev().any(|run| {
            run.contains(raw, self.config.page_ids)
                .unwrap_or_else(|err| {
                    warn!("could not read blob ids from a temporary file: {err}");
                    false
                })
        })
    }

    /// Writes the in-memory ids as a run, then merges runs of equal level.
    fn spill(&mut self) -> io::Result<()> {
        let mut ids: Vec<RawId> = self.recent.iter().copied().collect();
        ids.sort_unstable();
        let mut writer = RunWriter::new(&self.config)?;
        for id in &ids {
            writer.push(id)?;
        }
        let run = writer.finish(0)?;
        for id in &ids {
            self.bloom.insert(id);
        }
        self.spilled += run.len;
        self.runs.push(run);
        self.recent.clear();
        drop(ids);
        self.grow_bloom();
        self.merge_runs()
    }

    /// Merges the last `fan_out` runs while they have the same level.
    fn merge_runs(&mut self) -> io::Result<()> {
        let fan_out = self.config.fan_out;
        while self.runs.len() >= fan_out {
            let tail = &self.runs[self.runs.len() - fan_out..];
            let level = tail[0].level;
            if tail.iter().any(|run| run.level != level) {
                break;
            }
            let merged = merge(tail, &self.config, level + 1)?;
            self.runs.truncate(self.runs.len() - fan_out);
            self.runs.push(merged);
        }
        Ok(())
    }

    /// Rebuilds the Bloom filter with room to spare once it holds more ids than it was sized
    /// for. If reading the runs fails, the old filter stays: it holds every id, it only answers
    /// "maybe" more often.
    fn grow_bloom(&mut self) {
        if self.spilled <= self.bloom.capacity {
            return;
        }
        let mut bloom = Bloom::with_capacity(self.spilled.saturating_mul(2));
        let filled = self
            .runs
            .iter()
            .try_for_each(|run| run.for_each(|id| bloom.insert(id)));
        match filled {
            Ok(()) => self.bloom = bloom,
            Err(err) => warn!("could not read blob ids from a temporary file: {err}"),
        }
    }
}

/// A sorted run of distinct ids in an unnamed temporary file.
#[derive(Debug)]
struct Run {
    /// The run's file (see [`TempFile`]).
    file: TempFile,
    /// Ids in the run.
    len: usize,
    /// 0 for a run written from memory, n + 1 for a merge of runs of level n.
    level: u32,
    /// First id of each page.
    fences: Vec<RawId>,
}

impl Run {
    /// Whether `raw` is in this run (one read of one page).
    fn contains(&self, raw: &RawId, page_ids: usize) -> io::Result<bool> {
        let page = self.fences.partition_point(|fence| fence <= raw);
        if page == 0 {
            return Ok(false);
        }
        let start = (page - 1) * page_ids;
        let count = page_ids.min(self.len - start);
        let mut buf = [0u8; MAX_PAGE_IDS * ID_LEN];
        let buf = &mut buf[..count * ID_LEN];
        read_exact_at(&self.file.file, buf, (start * ID_LEN) as u64)?;
        let mut lo = 0;
        let mut hi = count;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let id = &buf[mid * ID_LEN..(mid + 1) * ID_LEN];
            match id.cmp(raw.as_slice()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(true),
            }
        }
        Ok(false)
    }

    /// A sequential reader of the run's ids.
    fn reader(&self) -> RunReader<'_> {
        RunReader {
            reader: BufReader::with_capacity(
                64 << 10,
                ReadAt {
                    file: &self.file.file,
                    pos: 0,
                },
            ),
            left: self.len,
        }
    }

    /// Calls `f` with every id of the run, in order.
    fn for_each(&self, mut f: impl FnMut(&RawId)) -> io::Result<()> {
        let mut reader = self.reader();
        while let Some(id) = reader.next_id()? {
            f(&id);
        }
        Ok(())
    }
}

/// Reads a run's ids in order.
struct RunReader<'a> {
    /// Buffered positional reads of the run's file.
    reader: BufReader<ReadAt<'a>>,
    /// Ids not read yet.
    left: usize,
}

impl RunReader<'_> {
    /// The next id, `None` at the end of the run.
    fn next_id(&mut self) -> io::Result<Option<RawId>> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut id = [0u8; ID_LEN];
        self.reader.read_exact(&mut id)?;
        self.left -= 1;
        Ok(Some(id))
    }
}

/// `Read` over positional reads of a shared file (runs are also searched through `&File`).
struct ReadAt<'a> {
    /// The file.
    file: &'a File,
    /// Next offset to read.
    pos: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = read_at(self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Writes a sorted run, dropping repeated ids.
struct RunWriter {
    /// The run's file.
    writer: BufWriter<TempFile>,
    /// Ids written.
    len: usize,
    /// Fence keys so far.
    fences: Vec<RawId>,
    /// Last id written.
    last: Option<RawId>,
    /// Ids per page.
    page_ids: usize,
}

impl RunWriter {
    /// Starts a run in a new temporary file.
    fn new(config: &SpillConfig) -> io::Result<Self> {
        Ok(Self {
            writer: BufWriter::with_capacity(256 << 10, TempFile::create(&config.dir)?),
            len: 0,
            fences: Vec::new(),
            last: None,
            page_ids: config.page_ids,
        })
    }

    /// Appends `id`, which must not be smaller than the last one.
    fn push(&mut self, id: &RawId) -> io::Result<()> {
        if let Some(last) = &self.last {
            debug_assert!(last <= id, "run ids must be sorted");
            if last == id {
                return Ok(());
            }
        }
        if self.len % self.page_ids == 0 {
            self.fences.push(*id);
        }
        self.writer.write_all(id)?;
        self.last = Some(*id);
        self.len += 1;
        Ok(())
    }

    /// Flushes the run.
    fn finish(self, level: u32) -> io::Result<Run> {
        let file = self
            .writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        let mut fences = self.fences;
        fences.shrink_to_fit();
        Ok(Run {
            file,
            len: self.len,
            level,
            fences,
        })
    }
}

/// Merges sorted runs into one sorted run of distinct ids.
fn merge(runs: &[Run], config: &SpillConfig, level: u32) -> io::Result<Run> {
    let mut readers: Vec<RunReader<'_>> = runs.iter().map(Run::reader).collect();
    let mut heap = BinaryHeap::with_capacity(readers.len());
    for (i, reader) in readers.iter_mut().enumerate() {
        if let Some(id) = reader.next_id()? {
            heap.push(Reverse((id, i)));
        }
    }
    let mut writer = RunWriter::new(config)?;
    while let Some(Reverse((id, i))) = heap.pop() {
        writer.push(&id)?;
        if let Some(next) = readers[i].next_id()? {
            heap.push(Reverse((next, i)));
        }
    }
    writer.finish(level)
}

/// A temporary file removed from its directory as soon as it is created (on Unix), so that
/// nothing is left behind even if the process is killed; elsewhere it is removed when dropped.
/// Written here rather than taken from the `tempfile` crate: that crate is only a
/// dev-dependency of rustic_core, and this patch should not add a runtime dependency.
#[derive(Debug)]
struct TempFile {
    /// The open file.
    file: File,
    /// Path still to remove on drop (if removing it right away failed).
    path: Option<PathBuf>,
}

impl TempFile {
    /// Creates a new, empty file in `dir`.
    fn create(dir: &Path) -> io::Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        loop {
            let name = format!(
                "rustic-blob-ids-{}-{}-{:016x}.tmp",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                rand::random::<u64>()
            );
            let path = dir.join(name);
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(file) => {
                    let path = std::fs::remove_file(&path).err().map(|_| path);
                    return Ok(Self { file, path });
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(err),
            }
        }
    }
}

impl Write for TempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            _ = std::fs::remove_file(path);
        }
    }
}

/// One positional read (does not move a file cursor, so lookups can share the file).
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_read(file, buf, offset)
    }
}

/// Fills `buf` from `offset`.
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match read_at(file, buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Bits of the Bloom filter per id it is sized for.
const BLOOM_BITS_PER_ID: usize = 12;
/// Bits set per id, all in one 512-bit block (one cache line).
const BLOOM_HASHES: usize = 8;
/// Smallest filter: room for 2^20 ids (1.5 MiB).
const BLOOM_MIN_CAPACITY: usize = 1 << 20;

/// A blocked Bloom filter over ids. Ids are SHA-256 hashes, so their bytes serve as the hash
/// functions; a skewed set of ids only makes the filter answer "maybe" more often.
struct Bloom {
    /// 512-bit blocks.
    blocks: Vec<[u64; 8]>,
    /// Ids the filter was sized for.
    capacity: usize,
}

impl Bloom {
    /// A filter sized for `capacity` ids (at least [`BLOOM_MIN_CAPACITY`]).
    fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(BLOOM_MIN_CAPACITY);
        let blocks = (capacity * BLOOM_BITS_PER_ID).div_ceil(512);
        Self {
            blocks: vec![[0; 8]; blocks],
            capacity,
        }
    }

    /// The block and the bits (0..512) of `id`.
    fn probe(&self, id: &RawId) -> (usize, [usize; BLOOM_HASHES]) {
        let h = u64::from_le_bytes(id[0..8].try_into().unwrap_or_default());
        let block = ((u128::from(h) * self.blocks.len() as u128) >> 64) as usize;
        let bits = u128::from_le_bytes(id[8..24].try_into().unwrap_or_default());
        let mut out = [0; BLOOM_HASHES];
        for (i, bit) in out.iter_mut().enumerate() {
            *bit = ((bits >> (9 * i)) & 511) as usize;
        }
        (block, out)
    }

    /// Adds `id`.
    fn insert(&mut self, id: &RawId) {
        let (block, bits) = self.probe(id);
        let block = &mut self.blocks[block];
        for bit in bits {
            block[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// `false` if `id` was never added.
    fn may_contain(&self, id: &RawId) -> bool {
        let (block, bits) = self.probe(id);
        let block = &self.blocks[block];
        bits.iter()
            .all(|bit| block[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    fn config(dir: &Path, memory_ids: usize, fan_out: usize, page_ids: usize) -> SpillConfig {
        SpillConfig {
            dir: dir.to_path_buf(),
            memory_ids,
            fan_out,
            page_ids,
        }
    }

    fn id(raw: RawId) -> crate::Id {
        crate::Id::new(raw)
    }

    fn random_ids(rng: &mut StdRng, n: usize) -> Vec<RawId> {
        (0..n).map(|_| rng.random()).collect()
    }

    #[test]
    fn every_inserted_id_is_found_and_no_other_across_runs_and_merges() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = SpilledIdSet::new(config(dir.path(), 1000, 4, 128));
        let mut rng = StdRng::seed_from_u64(14);
        let ids = random_ids(&mut rng, 50_000);
        for (i, raw) in ids.iter().enumerate() {
            set.insert(&id(*raw));
            // in-run dedup: an id added earlier (often spilled by now) is found again
            let earlier = ids[rng.random_range(0..=i)];
            assert!(set.contains(&id(earlier)));
        }
        assert_eq!(set.len(), ids.len());
        assert!(ids.iter().all(|raw| set.contains(&id(*raw))));
        let others = random_ids(&mut rng, 50_000);
        assert!(others.iter().all(|raw| !set.contains(&id(*raw))));
        // 50 runs of 1000 merged 4 at a time: at most 3 per level below the largest
        assert!(set.runs.len() <= 3 * 3 + 1, "{} runs", set.runs.len());
        assert!(set.runs.iter().any(|run| run.level >= 2));
        assert!(!set.spill_failed);
        // the run files are unlinked as soon as they are created
        #[cfg(unix)]
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn ids_sharing_long_prefixes_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = SpilledIdSet::new(config(dir.path(), 7, 2, 3));
        let mut inserted = Vec::new();
        for a in 0..40u8 {
            let mut raw = [0xab; ID_LEN];
            raw[31] = a * 2; // odd last bytes are never inserted
            set.insert(&id(raw));
            inserted.push(raw);
        }
        for a in 0..=255u8 {
            let mut raw = [0xab; ID_LEN];
            raw[31] = a;
            assert_eq!(
                set.contains(&id(raw)),
                a % 2 == 0 && a < 80,
                "last byte {a}"
            );
        }
        assert!(!set.contains(&id([0; ID_LEN])));
        assert!(!set.contains(&id([0xff; ID_LEN])));
    }

    #[test]
    fn a_directory_that_cannot_be_written_keeps_ids_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let mut set = SpilledIdSet::new(config(&missing, 10, 2, 4));
        let mut rng = StdRng::seed_from_u64(1);
        let ids = random_ids(&mut rng, 500);
        for raw in &ids {
            set.insert(&id(*raw));
        }
        assert!(set.spill_failed);
        assert!(ids.iter().all(|raw| set.contains(&id(*raw))));
        assert!(!set.contains(&id(rng.random())));
    }

    #[test]
    fn the_bloom_filter_grows_and_rarely_sends_a_lookup_to_disk() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut bloom = Bloom::with_capacity(0);
        let ids = random_ids(&mut rng, BLOOM_MIN_CAPACITY);
        for raw in &ids {
            bloom.insert(raw);
        }
        assert!(ids.iter().all(|raw| bloom.may_contain(raw)));
        let trials = 200_000;
        let false_positives = (0..trials)
            .filter(|_| bloom.may_contain(&rng.random()))
            .count();
        // 12 bits and 8 probes per id in 512-bit blocks: ~0.5% at full capacity
        assert!(
            false_positives * 100 < trials,
            "{false_positives} of {trials}"
        );

        let dir = tempfile::tempdir().unwrap();
        let mut set = SpilledIdSet::new(config(dir.path(), 100_000, 8, 128));
        let ids = random_ids(&mut rng, BLOOM_MIN_CAPACITY + 200_000);
        for raw in &ids {
            set.insert(&id(*raw));
        }
        assert!(set.bloom.capacity > BLOOM_MIN_CAPACITY);
        assert!(set.bloom.capacity >= set.spilled);
        assert!(ids.iter().all(|raw| set.contains(&id(*raw))));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(RawId),
        Contains(RawId),
    }

    fn raw_id() -> impl Strategy<Value = RawId> {
        prop_oneof![
            any::<RawId>(),
            // few distinct values: many repeats and shared prefixes
            (0u8..4, 0u8..6).prop_map(|(a, b)| {
                let mut raw = [0; ID_LEN];
                raw[0] = a;
                raw[31] = b;
                raw
            }),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_a_hash_set(
            ops in prop::collection::vec(
                prop_oneof![raw_id().prop_map(Op::Insert), raw_id().prop_map(Op::Contains)],
                0..400,
            ),
            memory_ids in 1usize..20,
            fan_out in 2usize..5,
            page_ids in 1usize..9,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut set = SpilledIdSet::new(config(dir.path(), memory_ids, fan_out, page_ids));
            let mut model = HashSet::new();
            for op in &ops {
                match op {
                    Op::Insert(raw) => {
                        set.insert(&id(*raw));
                        _ = model.insert(*raw);
                    }
                    Op::Contains(raw) => {
                        prop_assert_eq!(set.contains(&id(*raw)), model.contains(raw));
                    }
                }
            }
            prop_assert_eq!(set.len(), model.len());
            for op in &ops {
                let (Op::Insert(raw) | Op::Contains(raw)) = op;
                prop_assert_eq!(set.contains(&id(*raw)), model.contains(raw));
            }
        }
    }
}
