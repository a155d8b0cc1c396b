//! The per-file profile: a streaming pass over the bytes the backup already reads.

use serde::{Deserialize, Serialize};

use crate::format::{self, Format, HEAD_LEN, TAIL_LEN};
use crate::sketch::Sketcher;

/// What kura remembers about one file in one snapshot (about 250 bytes as JSON).
///
/// Field names are short on purpose: one profile is stored per file per snapshot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FileProfile {
    /// Size in bytes.
    pub size: u64,
    /// Shannon entropy of the byte distribution, bits per byte (0..=8).
    #[serde(rename = "ent")]
    pub entropy: f32,
    /// Pearson chi-square of the byte counts against a uniform distribution (255 degrees of
    /// freedom: uniformly random data scores about 255 ± 23 at any size).
    pub chi: f32,
    /// Format from magic bytes and structure.
    #[serde(rename = "fmt")]
    pub format: Format,
    /// Whether the format's structure checks passed (trailer, header fields, 7-bit HL7).
    #[serde(rename = "ok")]
    pub valid: bool,
    /// No byte ≥ 0x80.
    #[serde(rename = "a7")]
    pub seven_bit: bool,
    /// Share of zero bytes (0..=1).
    #[serde(rename = "z")]
    pub zero_share: f32,
    /// Bytes look like base64 of random data: almost only the base64 alphabet, used evenly.
    #[serde(rename = "b64")]
    pub base64_like: bool,
    /// Bottom-k min-hash of content-defined chunks of the first MiB, sorted.
    #[serde(rename = "sk")]
    pub sketch: Vec<u32>,
}

/// Builds a [`FileProfile`] from a file's bytes, fed in any buffer sizes. One per file; cheap
/// enough to run inside the backup's read loop (histogram + sketch of the first MiB). It holds
/// no heap memory until [`Profiler::finish`], since most files a backup reads are small.
#[derive(Clone, Debug)]
pub struct Profiler {
    // Four interleaved histograms break the store-to-load dependency on repeated bytes. u32
    // halves what a new profiler zeroes and `finish` sums; `wide` takes the counts over before
    // they could overflow (files of several GiB).
    hist: Hist,
    since_flush: u64,
    wide: Option<Box<[u64; 256]>>,
    size: u64,
    // Past SAMPLE_FROM only every other byte is counted; these keep "is there any byte ≥ 0x80 /
    // any NUL" exact over every byte (they decide whether text is text).
    high_seen: bool,
    nul_seen: bool,
    head: [u8; HEAD_LEN],
    head_len: usize,
    // The last `tail_len` bytes seen so far.
    tail: [u8; TAIL_LEN],
    tail_len: usize,
    sketch: Sketcher,
    sketching: bool,
}

/// Bytes counted into the u32 histograms before they are added to the u64 ones: each of the
/// four tables gets at most a quarter of them (plus a remainder of < 8 per update).
const FLUSH_EVERY: u64 = 1 << 31;

/// The byte histogram counts every byte of the first MiB and every other byte (even file
/// offsets) after it. Entropy, chi-square and the shares are statistics of the byte
/// distribution, and half of a large file's bytes estimate them as well as all of them; a
/// byte-level stride cannot be dodged by encrypting whole blocks, as intermittent encryption
/// does. It halves the profiler's cost on large files, the bulk of a backup's bytes.
const SAMPLE_FROM: u64 = 1 << 20;

impl Profiler {
    /// Starts a profile. `path` is accepted for symmetry with the judges and future per-path
    /// tuning; profiling does not depend on it.
    pub fn new(path: &str) -> Self {
        let _ = path;
        Profiler {
            hist: [[0; 256]; 4],
            since_flush: 0,
            wide: None,
            size: 0,
            high_seen: false,
            nul_seen: false,
            head: [0; HEAD_LEN],
            head_len: 0,
            tail: [0; TAIL_LEN],
            tail_len: 0,
            sketch: Sketcher::default(),
            sketching: true,
        }
    }

    /// Leaves the similarity sketch out (the profile's `sketch` is that of no bytes): for a file
    /// with no earlier version to compare with, where only the byte statistics and the format
    /// are judged. The sketch is most of the profiler's cost per byte.
    pub fn without_sketch(mut self) -> Self {
        self.sketching = false;
        self
    }

    /// Feeds the next bytes of the file.
    pub fn update(&mut self, buf: &[u8]) {
        if self.head_len < HEAD_LEN {
            let n = (HEAD_LEN - self.head_len).min(buf.len());
            self.head[self.head_len..self.head_len + n].copy_from_slice(&buf[..n]);
            self.head_len += n;
        }
        if buf.len() >= TAIL_LEN {
            self.tail.copy_from_slice(&buf[buf.len() - TAIL_LEN..]);
            self.tail_len = TAIL_LEN;
        } else {
            // Keep the newest bytes: drop from the front what no longer fits.
            let keep = self.tail_len.min(TAIL_LEN - buf.len());
            self.tail
                .copy_within(self.tail_len - keep..self.tail_len, 0);
            self.tail[keep..keep + buf.len()].copy_from_slice(buf);
            self.tail_len = keep + buf.len();
        }
        let full = usize::try_from(SAMPLE_FROM.saturating_sub(self.size))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let (head, rest) = buf.split_at(full);
        for piece in head.chunks(FLUSH_EVERY as usize / 2) {
            self.before_count(piece.len());
            count(&mut self.hist, piece);
        }
        if !rest.is_empty() {
            // Even file offsets only, wherever the buffer starts.
            let odd = (self.size + full as u64) % 2 == 1;
            let rest_even = &rest[usize::from(odd)..];
            for piece in rest_even.chunks(FLUSH_EVERY as usize / 2) {
                self.before_count(piece.len() / 2);
                count_even(&mut self.hist, piece);
            }
            // Over every byte, counted or not (both passes are vectorised).
            self.high_seen |= rest.iter().fold(0u8, |a, &b| a | b) >= 0x80;
            self.nul_seen |= rest.contains(&0);
        }
        if self.sketching {
            self.sketch.update(buf);
        }
        self.size += buf.len() as u64;
    }

    /// Makes room for `n` more counts in the u32 histograms.
    fn before_count(&mut self, n: usize) {
        if self.since_flush + n as u64 > FLUSH_EVERY {
            self.flush();
        }
        self.since_flush += n as u64 + 1;
    }

    /// Adds the u32 histograms to the u64 ones and clears them.
    fn flush(&mut self) {
        let wide = self.wide.get_or_insert_with(|| Box::new([0; 256]));
        for h in &mut self.hist {
            for (w, c) in wide.iter_mut().zip(h.iter_mut()) {
                *w += u64::from(std::mem::take(c));
            }
        }
        self.since_flush = 0;
    }

    /// Completes the profile.
    pub fn finish(self) -> FileProfile {
        let mut counts = self.wide.as_deref().copied().unwrap_or([0u64; 256]);
        for h in &self.hist {
            for (c, v) in counts.iter_mut().zip(h) {
                *c += u64::from(*v);
            }
        }
        let size = self.size;
        // What was counted (all bytes of a file up to 1 MiB, about half of the rest).
        let n: u64 = counts.iter().sum();
        let mut facts = format::hist_facts(&counts, n);
        facts.seven_bit &= !self.high_seen;
        if self.nul_seen {
            facts.nul = facts.nul.max(1);
        }
        let (format, valid) = format::detect(
            &self.head[..self.head_len],
            &self.tail[..self.tail_len],
            size,
            &facts,
        );
        FileProfile {
            size,
            entropy: round3(entropy(&counts, n)),
            chi: round3(chi_square(&counts, n)),
            format,
            valid,
            seven_bit: facts.seven_bit,
            zero_share: round3(if n == 0 {
                0.0
            } else {
                counts[0] as f64 / n as f64
            }),
            base64_like: base64_like(&counts, n),
            sketch: self.sketch.finish(),
        }
    }
}

type Hist = [[u32; 256]; 4];

fn count(hist: &mut Hist, buf: &[u8]) {
    let [h0, h1, h2, h3] = hist;
    let mut chunks = buf.chunks_exact(8);
    for c in &mut chunks {
        h0[c[0] as usize] += 1;
        h1[c[1] as usize] += 1;
        h2[c[2] as usize] += 1;
        h3[c[3] as usize] += 1;
        h0[c[4] as usize] += 1;
        h1[c[5] as usize] += 1;
        h2[c[6] as usize] += 1;
        h3[c[7] as usize] += 1;
    }
    for &b in chunks.remainder() {
        h0[b as usize] += 1;
    }
}

/// Counts the bytes at even positions of `buf`.
fn count_even(hist: &mut Hist, buf: &[u8]) {
    let [h0, h1, h2, h3] = hist;
    let mut chunks = buf.chunks_exact(8);
    for c in &mut chunks {
        h0[c[0] as usize] += 1;
        h1[c[2] as usize] += 1;
        h2[c[4] as usize] += 1;
        h3[c[6] as usize] += 1;
    }
    for &b in chunks.remainder().iter().step_by(2) {
        h0[b as usize] += 1;
    }
}

impl FileProfile {
    /// Profiles a whole buffer at once (tests, small files).
    pub fn of(bytes: &[u8]) -> FileProfile {
        let mut p = Profiler::new("");
        p.update(bytes);
        p.finish()
    }

    /// Uniformly random bytes (encrypted, or at least indistinguishable from it): near-maximal
    /// entropy and a chi-square a uniform source would produce. Needs ≥ 4 KiB to mean anything.
    pub fn looks_random(&self) -> bool {
        // χ²(255): mean 255, sd 22.6; 400 is ~6 sd, so real ciphertext passes, while real
        // compressed data (JPEG, deflate) of some size is usually far above it.
        self.size >= 4096 && self.entropy >= 7.95 && self.chi < 400.0
    }
}

fn round3(x: f64) -> f32 {
    ((x * 1000.0).round() / 1000.0) as f32
}

fn entropy(counts: &[u64; 256], n: u64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

fn chi_square(counts: &[u64; 256], n: u64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let e = n as f64 / 256.0;
    counts
        .iter()
        .map(|&c| {
            let d = c as f64 - e;
            d * d / e
        })
        .sum()
}

const BASE64_ALPHABET: &[u8; 65] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";

/// RFC 4648 alphabet (standard or URL-safe) covering ≥ 98% of bytes besides line breaks, and the
/// 64 symbols used evenly (coefficient of variation < 0.35; English or HL7 text is > 1).
fn base64_like(counts: &[u64; 256], n: u64) -> bool {
    if n < 1024 {
        return false;
    }
    let newlines = counts[b'\n' as usize] + counts[b'\r' as usize];
    let body = n - newlines;
    let mut symbols: Vec<u64> = BASE64_ALPHABET[..62]
        .iter()
        .map(|&b| counts[b as usize])
        .collect();
    // '+' '/' or URL-safe '-' '_'
    symbols.push(counts[b'+' as usize] + counts[b'-' as usize]);
    symbols.push(counts[b'/' as usize] + counts[b'_' as usize]);
    let in_alphabet: u64 = symbols.iter().sum::<u64>() + counts[b'=' as usize];
    if body == 0 || (in_alphabet as f64) < 0.98 * body as f64 {
        return false;
    }
    let mean = symbols.iter().sum::<u64>() as f64 / 64.0;
    if mean == 0.0 {
        return false;
    }
    let var = symbols
        .iter()
        .map(|&c| (c as f64 - mean).powi(2))
        .sum::<f64>()
        / 64.0;
    var.sqrt() / mean < 0.35
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        kura_testkit::noise::incompressible(seed, n)
    }

    #[test]
    fn random_bytes_have_max_entropy_and_uniform_chi() {
        let p = FileProfile::of(&noise(1 << 16, 7));
        assert!(p.entropy > 7.99, "{p:?}");
        assert!(p.looks_random(), "{p:?}");
        assert_eq!(p.format, Format::Unknown);
    }

    #[test]
    fn streaming_equals_one_shot() {
        let d = noise(100_000, 3);
        let mut s = Profiler::new("x");
        for c in d.chunks(333) {
            s.update(c);
        }
        assert_eq!(s.finish(), FileProfile::of(&d));
    }

    #[test]
    fn any_feeding_and_a_histogram_flush_give_the_same_profile() {
        // Head and tail across buffer boundaries (pieces smaller and larger than TAIL_LEN), and
        // the u32 histograms handed to the u64 ones midway as a file of several GiB would.
        let mut text = b"%PDF-1.7\n".to_vec();
        text.extend(noise(5000, 4).iter().map(|b| b'a' + b % 26));
        text.extend_from_slice(b"\n%%EOF\n");
        for d in [text, noise(3000, 8), noise(700, 2), Vec::new()] {
            let whole = FileProfile::of(&d);
            for piece in [1, 2, 511, 1023, 1024, 1025, 4096] {
                let mut s = Profiler::new("x");
                for (i, c) in d.chunks(piece).enumerate() {
                    s.update(c);
                    if i % 3 == 1 {
                        s.flush();
                    }
                }
                assert_eq!(s.finish(), whole, "{} bytes in {piece}s", d.len());
            }
        }
    }

    #[test]
    fn large_files_are_sampled_but_text_facts_stay_exact() {
        let line = b"MSH|^~\\&|HIS|TOKYO|PID|12345|yamada taro|19800101|M\r";
        let text: Vec<u8> = line.iter().copied().cycle().take(3 << 20).collect();
        let p = FileProfile::of(&text);
        assert_eq!(p.size, 3 << 20);
        assert!(p.seven_bit && p.zero_share == 0.0, "{p:?}");
        // Sampling is by file offset, so buffer boundaries do not change it.
        for piece in [1000, 4095, 1 << 20] {
            let mut s = Profiler::new("x");
            for c in text.chunks(piece) {
                s.update(c);
            }
            assert_eq!(s.finish(), p, "pieces of {piece}");
        }
        // One high byte or NUL at an odd offset past the first MiB (not counted) is still seen.
        for (b, what) in [(0xe3u8, "high"), (0, "nul")] {
            let mut t = text.clone();
            t[(2 << 20) + 1] = b;
            let q = FileProfile::of(&t);
            if b == 0 {
                assert_eq!(q.zero_share, 0.0, "not counted");
            } else {
                assert!(!q.seven_bit, "{what}");
            }
            assert_ne!((q.format, q.valid), (p.format, p.valid), "{what}: {q:?}");
        }
        // Encrypting a quarter of every 64 KiB past the first MiB shows in the entropy.
        let mut inter = text.clone();
        let junk = noise(16 << 10, 11);
        for block in inter[1 << 20..].chunks_mut(64 << 10) {
            let n = block.len().min(junk.len());
            block[..n].copy_from_slice(&junk[..n]);
        }
        let q = FileProfile::of(&inter);
        assert!(q.entropy > p.entropy + 0.5, "{} → {}", p.entropy, q.entropy);
    }

    #[test]
    fn profile_json_is_compact() {
        let p = FileProfile::of(&noise(200_000, 9));
        let j = serde_json::to_string(&p).unwrap_or_default();
        assert!(!j.is_empty() && j.len() < 400, "{} bytes: {j}", j.len());
    }

    #[test]
    fn base64_of_random_is_recognised_but_text_is_not() {
        let raw = noise(6000, 5);
        let alphabet = &BASE64_ALPHABET[..64];
        let mut b64 = Vec::new();
        for (i, c) in raw.chunks(3).enumerate() {
            let v = c.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)) << (8 * (3 - c.len()));
            for k in 0..4 {
                b64.push(alphabet[((v >> (18 - 6 * k)) & 63) as usize]);
            }
            if i % 19 == 18 {
                b64.push(b'\n');
            }
        }
        assert!(FileProfile::of(&b64).base64_like);
        let text = "MSH|^~\\&|HIS|TOKYO|PID|12345|yamada taro|19800101|M\r".repeat(100);
        assert!(!FileProfile::of(text.as_bytes()).base64_like);
    }
}
