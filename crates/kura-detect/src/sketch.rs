//! A small similarity sketch: bottom-k min-hash over content-defined chunks (gear hash).

/// Number of chunk fingerprints kept per file.
pub const SKETCH_K: usize = 16;
/// Only the first bytes of a file are sketched, so the sketch costs O(1) per large file
/// (attacks that keep the head intact are caught by the format engine).
pub const SKETCH_LIMIT: u64 = 1 << 20;

// Average chunk ≈ MIN_CHUNK + 2^MASK_BITS bytes: small, so that 1-2 KiB HL7 messages still give
// a dozen fingerprints.
const MIN_CHUNK: u32 = 32;
const MAX_CHUNK: u32 = 1024;
const MASK_BITS: u32 = 6;
// Top bits of the gear hash depend on the last 64 bytes (FastCDC uses the high bits too).
const CUT_MASK: u64 = ((1u64 << MASK_BITS) - 1) << (64 - MASK_BITS);

const fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const GEAR: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = splitmix(0x6b75_7261_0000_0000 ^ i as u64);
        i += 1;
    }
    t
};

/// Streaming sketch builder.
///
/// Holds no heap memory until [`Sketcher::finish`]: one is created per file, and most files
/// are small.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sketcher {
    hash: u64,
    chunk_len: u32,
    seen: u64,
    mins: [u32; SKETCH_K],
    n_mins: usize,
}

impl Sketcher {
    /// A sketcher that looks at no byte and finishes empty: for a file with no earlier version
    /// to compare with (the similarity engine is the only user of the sketch).
    pub fn off() -> Self {
        Sketcher {
            seen: SKETCH_LIMIT,
            ..Sketcher::default()
        }
    }

    pub fn update(&mut self, buf: &[u8]) {
        let room = SKETCH_LIMIT.saturating_sub(self.seen);
        if room == 0 {
            return;
        }
        let take = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let mut h = self.hash;
        let mut len = self.chunk_len;
        let mut groups = buf[..take].chunks_exact(4);
        for g in &mut groups {
            // Four bytes at a time: h after each of them from the h before the group, so the
            // dependency chain is one shift and one add per group instead of per byte. A group
            // that may hold a cut point is redone byte by byte (rare: a cut is ~1 in 64 bytes).
            let (g0, g1, g2, g3) = (
                GEAR[g[0] as usize],
                GEAR[g[1] as usize],
                GEAR[g[2] as usize],
                GEAR[g[3] as usize],
            );
            let h4 = (h << 4)
                .wrapping_add(g0 << 3)
                .wrapping_add(g1 << 2)
                .wrapping_add(g2 << 1)
                .wrapping_add(g3);
            let quiet = if len + 4 < MIN_CHUNK {
                true
            } else if len >= MIN_CHUNK - 1 && len + 4 < MAX_CHUNK {
                let h1 = (h << 1).wrapping_add(g0);
                let h2 = (h << 2).wrapping_add(g0 << 1).wrapping_add(g1);
                let h3 = (h << 3)
                    .wrapping_add(g0 << 2)
                    .wrapping_add(g1 << 1)
                    .wrapping_add(g2);
                (h1 & CUT_MASK != 0)
                    & (h2 & CUT_MASK != 0)
                    & (h3 & CUT_MASK != 0)
                    & (h4 & CUT_MASK != 0)
            } else {
                false
            };
            if quiet {
                h = h4;
                len += 4;
            } else {
                for &b in g {
                    self.step(&mut h, &mut len, b);
                }
            }
        }
        for &b in groups.remainder() {
            self.step(&mut h, &mut len, b);
        }
        self.hash = h;
        self.chunk_len = len;
        self.seen += take as u64;
    }

    /// One byte of the gear hash, and a cut if it ends a chunk.
    #[inline]
    fn step(&mut self, h: &mut u64, len: &mut u32, b: u8) {
        *h = (*h << 1).wrapping_add(GEAR[b as usize]);
        *len += 1;
        if (*len >= MIN_CHUNK && *h & CUT_MASK == 0) || *len >= MAX_CHUNK {
            // h is not reset: it always depends on the last 64 bytes only, so cut points
            // resynchronise right after a changed region.
            self.insert(*h);
            *len = 0;
        }
    }

    fn insert(&mut self, h: u64) {
        let fp = (splitmix(h) >> 32) as u32;
        let mins = &mut self.mins[..self.n_mins];
        if let Err(i) = mins.binary_search(&fp)
            && i < SKETCH_K
        {
            let end = (self.n_mins + 1).min(SKETCH_K);
            self.mins.copy_within(i..end - 1, i + 1);
            self.mins[i] = fp;
            self.n_mins = end;
        }
    }

    pub fn finish(mut self) -> Vec<u32> {
        // The tail chunk counts too (small files), but only if it has some substance.
        if self.chunk_len >= MIN_CHUNK {
            let h = self.hash;
            self.insert(h);
        }
        self.mins[..self.n_mins].to_vec()
    }
}

/// Estimated Jaccard similarity of two bottom-k sketches (sorted, deduplicated).
pub fn similarity(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    // Bottom-k of the union, and how many of those are in both.
    let mut union: Vec<u32> = a.iter().chain(b).copied().collect();
    union.sort_unstable();
    union.dedup();
    union.truncate(SKETCH_K);
    let both = union
        .iter()
        .filter(|x| a.binary_search(x).is_ok() && b.binary_search(x).is_ok())
        .count();
    both as f64 / union.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch(data: &[u8]) -> Vec<u32> {
        let mut s = Sketcher::default();
        // Feed in odd pieces: the result must not depend on buffer boundaries.
        for piece in data.chunks(777) {
            s.update(piece);
        }
        s.finish()
    }

    fn text(n: usize, seed: u32) -> Vec<u8> {
        let words = [
            "patient",
            "allergy",
            "penicillin",
            "blood",
            "test",
            "ward",
            "note",
        ];
        let mut out = Vec::new();
        let mut x = seed;
        while out.len() < n {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            out.extend_from_slice(words[(x >> 16) as usize % words.len()].as_bytes());
            out.push(if x.is_multiple_of(7) { b'\n' } else { b' ' });
        }
        out
    }

    #[test]
    fn identical_data_is_fully_similar_and_chunking_is_stream_independent() {
        let d = text(20_000, 1);
        let mut whole = Sketcher::default();
        whole.update(&d);
        let whole = whole.finish();
        assert_eq!(whole, sketch(&d));
        assert_eq!(whole.len(), SKETCH_K);
        assert!((similarity(&whole, &whole) - 1.0).abs() < 1e-9);
    }

    /// The sketch as first written (byte by byte, a growing Vec): the optimised one must give
    /// exactly the same fingerprints, or profiles stored by earlier snapshots would no longer
    /// compare.
    fn reference(data: &[u8]) -> Vec<u32> {
        let (mut h, mut len, mut mins) = (0u64, 0u32, Vec::<u32>::new());
        let insert = |h: u64, mins: &mut Vec<u32>| {
            let fp = (splitmix(h) >> 32) as u32;
            if let Err(i) = mins.binary_search(&fp)
                && i < SKETCH_K
            {
                mins.insert(i, fp);
                mins.truncate(SKETCH_K);
            }
        };
        for &b in &data[..data.len().min(SKETCH_LIMIT as usize)] {
            h = (h << 1).wrapping_add(GEAR[b as usize]);
            len += 1;
            if (len >= MIN_CHUNK && h & CUT_MASK == 0) || len >= MAX_CHUNK {
                insert(h, &mut mins);
                len = 0;
            }
        }
        if len >= MIN_CHUNK {
            insert(h, &mut mins);
        }
        mins
    }

    #[test]
    fn optimised_sketch_equals_the_byte_by_byte_reference() {
        // Text (many cuts), zeros (forced cuts at MAX_CHUNK), noise, and sizes around the limit.
        let noise: Vec<u8> = (0..(SKETCH_LIMIT as u32 + 5000))
            .map(|i| (splitmix(u64::from(i)) >> 11) as u8)
            .collect();
        let mut cases = vec![text(50_000, 3), vec![0u8; 10_000], noise];
        cases.extend((0..80).map(|n| text(n, 9)));
        for d in &cases {
            assert_eq!(sketch(d), reference(d), "{} bytes", d.len());
            for piece in [1, 3, 4, 5, 64, 4096] {
                let mut s = Sketcher::default();
                for p in d.chunks(piece) {
                    s.update(p);
                }
                assert_eq!(s.finish(), reference(d), "{} bytes in {piece}s", d.len());
            }
        }
    }

    #[test]
    fn append_keeps_similarity_and_unrelated_data_has_none() {
        let d = text(20_000, 1);
        let mut e = d.clone();
        e.extend_from_slice(&text(2_000, 2));
        assert!(similarity(&sketch(&d), &sketch(&e)) > 0.6);
        let other: Vec<u8> = (0..20_000u32)
            .map(|i| (splitmix(u64::from(i)) >> 7) as u8)
            .collect();
        assert!(similarity(&sketch(&d), &sketch(&other)) < 0.05);
    }
}
