//! Deterministic pseudo-random bytes from a seed (xorshift64): fast, incompressible test content
//! without an RNG crate. The one copy of the generator: other crates' tests and examples use it
//! as a dev-dependency.

/// Marsaglia's xorshift64 (13, 7, 17). Not for cryptography: test data only.
#[derive(Debug, Clone)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator from `seed` (any value; zero is mapped to a non-zero state).
    pub fn new(seed: u64) -> Self {
        XorShift64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// `len` incompressible bytes from `seed`, eight per step (fast enough for files of hundreds of MB).
pub fn incompressible(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = XorShift64::new(seed);
    let mut out = vec![0u8; len];
    for chunk in out.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes()[..chunk.len()]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_and_no_repeats() {
        assert_eq!(incompressible(3, 1000), incompressible(3, 1000));
        assert_ne!(incompressible(3, 64), incompressible(4, 64));
        assert_eq!(incompressible(0, 13).len(), 13);
        let data = incompressible(7, 1 << 16);
        let zeros = data.iter().filter(|&&b| b == 0).count();
        assert!(zeros < 1 << 10, "{zeros} zero bytes");
    }
}
