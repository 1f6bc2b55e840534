//! A rolling, stable 64-bit hash of everything a run applies.
//!
//! Not `std`'s `DefaultHasher` (whose algorithm may change between Rust versions): a fixed
//! multiply-xorshift fold, so the same run gives the same hash on every platform and release.

/// Rolling trace hash. Feed words with [`TraceHash::word`]; read with [`TraceHash::value`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHash {
    state: u64,
}

const K: u64 = 0x9fb2_1c65_1e98_df25;
const K1: u64 = 0xa076_1d64_78bd_642f;
const K2: u64 = 0xe703_7ed1_a0b4_28db;

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash { state: 0x6a09_e667_f3bc_c908 }
    }
}

impl TraceHash {
    #[inline]
    pub fn word(&mut self, w: u64) {
        let x = (self.state ^ w).wrapping_mul(K);
        self.state = x ^ (x >> 29) ^ w.rotate_left(23);
    }

    /// Feeds two words with one 64×64→128-bit multiply (wyhash's "mum"): half the serial
    /// multiplies of two [`TraceHash::word`]s, which matters at several words per event. The
    /// rotated old state and both words are mixed in beside the product (off the multiply's
    /// critical path), so a factor that happens to be zero cannot wipe the history or a word.
    #[inline]
    pub fn pair(&mut self, a: u64, b: u64) {
        let m = u128::from(self.state ^ a ^ K1) * u128::from(b ^ K2);
        self.state = (self.state.rotate_left(29) ^ a ^ b.rotate_left(32)).wrapping_add(m as u64 ^ (m >> 64) as u64);
    }

    pub fn bytes(&mut self, b: &[u8]) {
        for chunk in b.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.word(u64::from_le_bytes(buf));
        }
        self.word(b.len() as u64);
    }

    /// The finalised value (an avalanche of the state; feeding may continue afterwards).
    pub fn value(&self) -> u64 {
        let mut z = self.state;
        z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        z = (z ^ (z >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        z ^ (z >> 33)
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_matters_and_value_is_stable() {
        let mut a = TraceHash::default();
        a.word(1);
        a.word(2);
        let mut b = TraceHash::default();
        b.word(2);
        b.word(1);
        assert_ne!(a.value(), b.value());
        let mut c = TraceHash::default();
        c.word(1);
        c.word(2);
        assert_eq!(a, c);
    }

    #[test]
    fn pairs_see_both_words_their_order_and_the_history() {
        let h = |f: &dyn Fn(&mut TraceHash)| {
            let mut t = TraceHash::default();
            f(&mut t);
            t.value()
        };
        let base = h(&|t| t.pair(1, 2));
        assert_ne!(base, h(&|t| t.pair(2, 1)));
        assert_ne!(base, h(&|t| t.pair(1, 3)));
        assert_ne!(base, h(&|t| t.pair(0, 2)));
        // A zero factor keeps the other word and the history.
        assert_ne!(h(&|t| t.pair(1, K2)), h(&|t| t.pair(5, K2)));
        let s0 = TraceHash::default().state;
        assert_ne!(h(&|t| t.pair(s0 ^ K1, 1)), h(&|t| t.pair(s0 ^ K1, 5)));
        assert_ne!(
            h(&|t| {
                t.word(7);
                t.pair(1, K2)
            }),
            h(&|t| {
                t.word(8);
                t.pair(1, K2)
            })
        );
    }
}
