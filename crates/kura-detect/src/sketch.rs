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
#[derive(Clone, Debug, Default)]
pub(crate) struct Sketcher {
    hash: u64,
    chunk_len: u32,
    seen: u64,
    mins: Vec<u32>,
}

impl Sketcher {
    pub fn update(&mut self, buf: &[u8]) {
        let room = SKETCH_LIMIT.saturating_sub(self.seen);
        if room == 0 {
            return;
        }
        let take = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let mut h = self.hash;
        let mut len = self.chunk_len;
        for &b in &buf[..take] {
            h = (h << 1).wrapping_add(GEAR[b as usize]);
            len += 1;
            if (len >= MIN_CHUNK && h & CUT_MASK == 0) || len >= MAX_CHUNK {
                // h is not reset: it always depends on the last 64 bytes only, so cut points
                // resynchronise right after a changed region.
                self.insert(h);
                len = 0;
            }
        }
        self.hash = h;
        self.chunk_len = len;
        self.seen += take as u64;
    }

    fn insert(&mut self, h: u64) {
        let fp = (splitmix(h) >> 32) as u32;
        match self.mins.binary_search(&fp) {
            Ok(_) => {}
            Err(i) if i < SKETCH_K => {
                self.mins.insert(i, fp);
                self.mins.truncate(SKETCH_K);
            }
            Err(_) => {}
        }
    }

    pub fn finish(mut self) -> Vec<u32> {
        // The tail chunk counts too (small files), but only if it has some substance.
        if self.chunk_len >= MIN_CHUNK {
            let h = self.hash;
            self.insert(h);
        }
        self.mins
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
