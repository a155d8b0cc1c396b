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
/// enough to run inside the backup's read loop (histogram + sketch of the first MiB).
#[derive(Clone, Debug)]
pub struct Profiler {
    // Four interleaved histograms break the store-to-load dependency on repeated bytes.
    hist: [[u64; 256]; 4],
    size: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
    sketch: Sketcher,
}

impl Profiler {
    /// Starts a profile. `path` is accepted for symmetry with the judges and future per-path
    /// tuning; profiling does not depend on it.
    pub fn new(path: &str) -> Self {
        let _ = path;
        Profiler {
            hist: [[0; 256]; 4],
            size: 0,
            head: Vec::with_capacity(HEAD_LEN),
            tail: Vec::with_capacity(TAIL_LEN * 2),
            sketch: Sketcher::default(),
        }
    }

    /// Feeds the next bytes of the file.
    pub fn update(&mut self, buf: &[u8]) {
        if self.head.len() < HEAD_LEN {
            let n = (HEAD_LEN - self.head.len()).min(buf.len());
            self.head.extend_from_slice(&buf[..n]);
        }
        if buf.len() >= TAIL_LEN {
            self.tail.clear();
            self.tail.extend_from_slice(&buf[buf.len() - TAIL_LEN..]);
        } else {
            self.tail.extend_from_slice(buf);
            if self.tail.len() > TAIL_LEN {
                let cut = self.tail.len() - TAIL_LEN;
                self.tail.drain(..cut);
            }
        }
        self.count(buf);
        self.sketch.update(buf);
        self.size += buf.len() as u64;
    }

    fn count(&mut self, buf: &[u8]) {
        let [h0, h1, h2, h3] = &mut self.hist;
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

    /// Completes the profile.
    pub fn finish(self) -> FileProfile {
        let mut counts = [0u64; 256];
        for h in &self.hist {
            for (c, v) in counts.iter_mut().zip(h) {
                *c += v;
            }
        }
        let n = self.size;
        let facts = format::hist_facts(&counts, n);
        let (format, valid) = format::detect(&self.head, &self.tail, n, &facts);
        FileProfile {
            size: n,
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
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
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
