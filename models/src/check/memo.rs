//! The search's memory: configurations seen (with subsumption), interned sets of used
//! unknown-outcome ops, and the fixed hashers they use.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::register::NONE;

/// FxHash's mixing step: fast, fixed (no per-process random seed), good enough for lookups.
#[derive(Default, Clone, Copy)]
pub(super) struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        for &b in chunks.remainder() {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// Passes a key that is already a well-mixed hash straight through.
#[derive(Default, Clone, Copy)]
pub(super) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut fx = Fx(self.0);
        fx.write(bytes);
        self.0 = fx.0;
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A strong 64-bit mixer (splitmix64's finaliser).
pub(super) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A configuration, apart from its linearized completed ops: those are stored as `p` (every op
/// below it is linearized, `p` itself is not) and the bitset words from `p`'s word to the last
/// linearized op — ops linearized out of order all overlap op `p`, so this is short.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Conf {
    pub(super) p: u32,
    /// Interned set of used unknown-outcome ops.
    pub(super) info: u32,
    pub(super) state: u32,
    pub(super) flag: bool,
}

#[derive(Clone, Copy)]
pub(super) struct MemoEntry {
    conf: Conf,
    next: u32,
    len: u32,
    off: usize,
}

/// The configurations seen, with subsumption: a configuration is skipped when one with the same
/// linearized completed ops, value and flag was seen with a *subset* of its used
/// unknown-outcome ops — having used fewer can only leave more options (module docs). Hash
/// collisions are resolved by comparing keys, so the verdict does not depend on the hash.
#[derive(Default)]
pub(super) struct Memo {
    pub(super) heads: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
    pub(super) entries: Vec<MemoEntry>,
    pub(super) words: Vec<u64>,
}

impl Memo {
    /// Same configuration except perhaps for the unknown-outcome ops used?
    pub(super) fn same(&self, m: &MemoEntry, c: Conf, window: &[u64]) -> bool {
        m.conf.p == c.p
            && m.conf.state == c.state
            && m.conf.flag == c.flag
            && self.words[m.off..m.off + m.len as usize] == *window
    }

    /// Adds a configuration; false if it (or one that subsumes it) was already there. Entries
    /// the new one subsumes are unlinked: anything they would prune, it prunes.
    pub(super) fn insert(&mut self, hash: u64, c: Conf, window: &[u64], sets: &InfoSets) -> bool {
        let head = self.heads.get(&hash).copied().unwrap_or(NONE);
        let mut e = head;
        while e != NONE {
            let m = self.entries[e as usize];
            if self.same(&m, c, window) && sets.subset(m.conf.info, c.info) {
                return false;
            }
            e = m.next;
        }
        let idx = self.entries.len() as u32;
        self.entries.push(MemoEntry { conf: c, next: head, len: window.len() as u32, off: self.words.len() });
        self.words.extend_from_slice(window);
        self.heads.insert(hash, idx);
        if sets.words > 0 {
            let (mut prev, mut e) = (idx, head);
            while e != NONE {
                let m = self.entries[e as usize];
                if self.same(&m, c, window) && sets.subset(c.info, m.conf.info) {
                    self.entries[prev as usize].next = m.next;
                } else {
                    prev = e;
                }
                e = m.next;
            }
        }
        true
    }
}

/// Interned sets of used unknown-outcome ops: a configuration names its set by a small id.
/// Sets change only when an unknown op is used, which is rare next to ordinary steps.
pub(super) struct InfoSets {
    pub(super) words: usize,
    /// Set id → its bitset (`words` words each).
    pub(super) sets: Vec<u64>,
    pub(super) ids: HashMap<Vec<u64>, u32, BuildHasherDefault<Fx>>,
    /// (set, op added) → resulting set.
    pub(super) next: HashMap<(u32, u32), u32, BuildHasherDefault<Fx>>,
}

impl InfoSets {
    pub(super) fn new(n: usize) -> InfoSets {
        let words = n.div_ceil(64);
        let mut ids: HashMap<Vec<u64>, u32, BuildHasherDefault<Fx>> = HashMap::default();
        ids.insert(vec![0; words], 0);
        InfoSets { words, sets: vec![0; words], ids, next: HashMap::default() }
    }

    pub(super) fn with(&mut self, set: u32, op: u32) -> u32 {
        if let Some(&s) = self.next.get(&(set, op)) {
            return s;
        }
        let w = self.words;
        let mut bits = self.sets[set as usize * w..(set as usize + 1) * w].to_vec();
        bits[op as usize / 64] |= 1 << (op % 64);
        let id = match self.ids.get(&bits) {
            Some(&id) => id,
            None => {
                let id = (self.sets.len() / w.max(1)) as u32;
                self.sets.extend_from_slice(&bits);
                self.ids.insert(bits, id);
                id
            }
        };
        self.next.insert((set, op), id);
        id
    }

    /// Is set `a` a subset of set `b`?
    pub(super) fn subset(&self, a: u32, b: u32) -> bool {
        let w = self.words;
        a == b
            || self.sets[a as usize * w..(a as usize + 1) * w]
                .iter()
                .zip(&self.sets[b as usize * w..(b as usize + 1) * w])
                .all(|(x, y)| x & !y == 0)
    }

    pub(super) fn contains(&self, set: u32, op: u32) -> bool {
        self.sets[set as usize * self.words + op as usize / 64] & (1 << (op % 64)) != 0
    }
}
