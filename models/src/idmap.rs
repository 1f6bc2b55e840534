//! A map from `u64` ids to values, ordered by id, for ids that are mostly dense: a workflow's
//! saga ids are sequential request keys (`start + n`), so a step's durable records are looked
//! up by an id that indexes a chunk of slots directly. Ids far beyond the dense part (a Zipf
//! key space, a huge `start`) go to a `BTreeMap` instead, so memory stays proportional to the
//! ids in use.
//!
//! Why not a `BTreeMap` alone: with 20 000 sagas per run, its lookups and inserts were a tenth of
//! a checkout run's instructions. Iteration is in id order either way (the saga checker walks
//! every step's records in step).

use std::collections::BTreeMap;

/// The dense part grows to cover a new id only while it stays at least half full on average:
/// up to `2 × len + SLACK`.
const SLACK: u64 = 4096;

/// Ids per chunk of the dense part. Chunks are allocated once and never move: one `Vec` of
/// slots grown by doubling had `realloc` copy it again and again (with 20 000 sagas, 3% of a
/// checkout run's instructions), where a chunk costs one more load from a short, cached list.
const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;

type Chunk<V> = Box<[Option<V>; CHUNK]>;

// No `PartialEq`: the same entries can be split differently between the two parts.
#[derive(Clone, Debug)]
pub struct IdMap<V> {
    /// Id `i` is slot `i % CHUNK` of chunk `i / CHUNK`.
    dense: Vec<Chunk<V>>,
    /// Ids at or beyond `dense_len()` (an invariant: growing the dense part moves them over).
    sparse: BTreeMap<u64, V>,
    len: usize,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap { dense: Vec::new(), sparse: BTreeMap::new(), len: 0 }
    }
}

fn empty_chunk<V>() -> Chunk<V> {
    // Built on the heap: a `[Option<V>; CHUNK]` on the stack first could be tens of KiB.
    let slots: Box<[Option<V>]> = (0..CHUNK).map(|_| None).collect();
    slots.try_into().unwrap_or_else(|_| unreachable!("CHUNK slots"))
}

impl<V> IdMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn slot(&self, id: u64) -> Option<&Option<V>> {
        let c = self.dense.get((id >> CHUNK_BITS) as usize)?;
        Some(&c[id as usize & (CHUNK - 1)])
    }

    #[inline]
    fn slot_mut(&mut self, id: u64) -> Option<&mut Option<V>> {
        let c = self.dense.get_mut((id >> CHUNK_BITS) as usize)?;
        Some(&mut c[id as usize & (CHUNK - 1)])
    }

    #[inline]
    pub fn get(&self, id: u64) -> Option<&V> {
        match self.slot(id) {
            Some(s) => s.as_ref(),
            None => self.sparse.get(&id),
        }
    }

    #[inline]
    pub fn get_mut(&mut self, id: u64) -> Option<&mut V> {
        // (Checked first: the borrow checker rejects falling back from `slot_mut`'s `None`.)
        if id < self.dense_len() { self.slot_mut(id).and_then(Option::as_mut) } else { self.sparse.get_mut(&id) }
    }

    pub fn contains_key(&self, id: u64) -> bool {
        self.get(id).is_some()
    }

    /// The value of `id`, inserting `make()` first if there is none.
    #[inline]
    pub fn get_or_insert_with(&mut self, id: u64, make: impl FnOnce() -> V) -> &mut V {
        if id >= self.dense_len() && !self.grow_to(id) {
            let len = &mut self.len;
            return self.sparse.entry(id).or_insert_with(|| {
                *len += 1;
                make()
            });
        }
        let len = &mut self.len;
        let slot = &mut self.dense[(id >> CHUNK_BITS) as usize][id as usize & (CHUNK - 1)];
        if slot.is_none() {
            *len += 1;
        }
        slot.get_or_insert_with(make)
    }

    /// Sets the value of `id`; returns the previous one.
    pub fn insert(&mut self, id: u64, value: V) -> Option<V> {
        if id >= self.dense_len() && !self.grow_to(id) {
            let old = self.sparse.insert(id, value);
            self.len += usize::from(old.is_none());
            return old;
        }
        let old = self.slot_mut(id).expect("covered by the dense part").replace(value);
        self.len += usize::from(old.is_none());
        old
    }

    /// Removes `id`; returns its value. The dense part keeps its length (ids are not reused
    /// in practice, and a slot costs one `Option<V>`).
    pub fn remove(&mut self, id: u64) -> Option<V> {
        let old = match self.slot_mut(id) {
            Some(s) => s.take(),
            None => self.sparse.remove(&id),
        };
        self.len -= usize::from(old.is_some());
        old
    }

    /// Removes every entry, keeping the dense part's allocation.
    pub fn clear(&mut self) {
        self.dense.iter_mut().flat_map(|c| c.iter_mut()).for_each(|v| *v = None);
        self.sparse.clear();
        self.len = 0;
    }

    /// Extends the dense part to cover `id` if that keeps it dense enough; returns whether it
    /// did.
    #[inline(never)]
    fn grow_to(&mut self, id: u64) -> bool {
        if id >= 2 * self.dense_len() + SLACK {
            return false;
        }
        while self.dense_len() <= id {
            self.dense.push(empty_chunk());
        }
        // Ids now covered by the dense part leave the sparse one.
        let new_len = self.dense_len();
        if self.sparse.first_key_value().is_some_and(|(&k, _)| k < new_len) {
            let rest = self.sparse.split_off(&new_len);
            for (k, v) in std::mem::replace(&mut self.sparse, rest) {
                *self.slot_mut(k).expect("covered by the dense part") = Some(v);
            }
        }
        true
    }

    /// `(id, value)` in ascending id order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &V)> + '_ {
        self.iter_from(0)
    }

    /// `(id, value)` for ids `>= from`, in ascending id order.
    pub fn iter_from(&self, from: u64) -> impl Iterator<Item = (u64, &V)> + '_ {
        let start = from.min(self.dense_len());
        let dense = (start..self.dense_len()).filter_map(move |id| self.get(id).map(|v| (id, v)));
        dense.chain(self.sparse.range(from..).map(|(k, v)| (*k, v)))
    }

    /// Ids below this are looked up by index: walking `0..dense_len()` with [`IdMap::get`] visits
    /// them without an iterator's per-entry bookkeeping.
    #[inline]
    pub fn dense_len(&self) -> u64 {
        (self.dense.len() as u64) << CHUNK_BITS
    }

    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }
}

impl<V> FromIterator<(u64, V)> for IdMap<V> {
    fn from_iter<I: IntoIterator<Item = (u64, V)>>(items: I) -> Self {
        let mut m = IdMap::new();
        for (k, v) in items {
            m.insert(k, v);
        }
        m
    }
}

impl<V> std::ops::Index<u64> for IdMap<V> {
    type Output = V;

    fn index(&self, id: u64) -> &V {
        self.get(id).expect("no entry for this id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sequential_ids_stay_dense_and_far_ids_sparse() {
        let mut m = IdMap::new();
        for id in 0..10_000 {
            m.insert(id, id * 2);
        }
        m.insert(1 << 40, 7);
        assert_eq!((m.len(), m.dense_len(), m.sparse.len()), (10_001, 10 * 1024, 1));
        assert_eq!((m[9_999], m[1 << 40]), (19_998, 7));
        assert_eq!(m.get(10_000), None);
    }

    #[test]
    fn growing_moves_sparse_ids_into_the_dense_part() {
        let mut m = IdMap::new();
        m.insert(5_000, 'a'); // beyond 2 × 0 + SLACK: sparse
        m.insert(10_000, 'b');
        assert_eq!(m.sparse.len(), 2);
        m.insert(4_000, 'c'); // grows the dense part to 4 chunks: 4 096 ids
        *m.get_or_insert_with(6_000, || 'd') = 'e'; // to 6 chunks: 5 000 moves over
        assert_eq!((m.dense_len(), m.sparse.len(), m.len()), (6 * 1024, 1, 4));
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![(4_000, &'c'), (5_000, &'a'), (6_000, &'e'), (10_000, &'b')]);
    }

    proptest! {
        // A fixed seed: CI runs the same cases every time, and a failure reproduces.
        #![proptest_config(ProptestConfig {
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x0069_646d_6170),
            ..ProptestConfig::default()
        })]

        /// Any mix of inserts, updates and removals behaves like a `BTreeMap`, iteration order included.
        #[test]
        fn behaves_like_a_btreemap(ops in prop::collection::vec((0u64..3, 0u64..20_000, 0u32..1_000_000), 0..300)) {
            let mut m = IdMap::new();
            let mut b = BTreeMap::new();
            for (kind, id, v) in ops {
                // Some ids far out, so that both parts are exercised.
                let id = if kind == 2 { id << 20 } else { id };
                if kind == 0 {
                    prop_assert_eq!(m.insert(id, v), b.insert(id, v));
                } else if v % 4 == 0 {
                    prop_assert_eq!(m.remove(id), b.remove(&id));
                } else {
                    *m.get_or_insert_with(id, || v) += 1;
                    *b.entry(id).or_insert(v) += 1;
                }
                prop_assert_eq!(m.get(id), b.get(&id));
            }
            prop_assert_eq!(m.len(), b.len());
            prop_assert!(m.iter().eq(b.iter().map(|(k, v)| (*k, v))));
            for from in [0, m.dense_len() / 2, m.dense_len(), m.dense_len() + 1, 1 << 30] {
                prop_assert!(m.iter_from(from).eq(b.range(from..).map(|(k, v)| (*k, v))), "from {}", from);
            }
        }
    }
}
