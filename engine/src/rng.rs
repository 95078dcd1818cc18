//! The node's only source of randomness: a seeded SplitMix64 generator.
//!
//! Used for sampling (active expiry, RANDOMKEY, run ids). Seeded by the
//! runtime so the simulator can reproduce a whole run from one seed.

#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A uniform index in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// 40 lowercase hex characters, the shape of Redis's run_id / replid.
    pub fn hex40(&mut self) -> String {
        let mut s = String::with_capacity(40);
        while s.len() < 40 {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(40);
        s
    }
}
