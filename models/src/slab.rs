//! A generational slab: in-flight state without per-request allocation, with ids that go stale
//! when their slot is freed (a late response or timer for a finished call is recognised and
//! ignored). Generations are always even, so the low bit of a key is free for the owner (calls
//! use it to tell a hedge copy from the attempt it copies); lookups ignore it only when the
//! owner masks it off.

/// `(slot << 32) | generation`.
pub type Key = u64;

#[derive(Debug)]
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

/// The generation says whether the slot is in use: while it holds a value it is the key's
/// generation (even, below 2^31); once freed it is the next key's generation with the top bit
/// set ([`FREE`]), which no key has, an owner's odd key included. So no `Option` around the
/// value, whose tag took 8 bytes of a slot for values without a spare bit pattern, and a lookup
/// is still one comparison. Generations count modulo 2^31. A freed slot keeps its last value's
/// bytes until reused, which is why values are `Copy` (nothing to drop).
#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: T,
}

impl<T> Slot<T> {
    #[inline]
    fn holds(&self, key: Key) -> bool {
        self.generation == key as u32
    }

    #[inline]
    fn occupied(&self) -> bool {
        self.generation & FREE == 0
    }

    /// Frees the slot: the next key's generation, marked free.
    #[inline]
    fn free(&mut self) {
        self.generation = next(self.generation) | FREE;
    }
}

/// Marks a free slot's generation.
const FREE: u32 = 1 << 31;

/// The generation after `g` (of an occupied slot): two on, modulo 2^31.
#[inline]
fn next(g: u32) -> u32 {
    g.wrapping_add(2) & !FREE
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { slots: Vec::new(), free: Vec::new(), len: 0 }
    }
}

impl<T: Copy> Slab<T> {
    /// Bytes one slot takes (the per-item cost of a full slab), for tests that keep per-request
    /// state small.
    pub const SLOT_BYTES: usize = std::mem::size_of::<Slot<T>>();

    // Inline so that callers build the value in its slot: passed by pointer, it was written to
    // the stack field by field and read back in 16-byte pieces (a store-forwarding stall).
    #[inline]
    pub fn insert(&mut self, value: T) -> Key {
        self.len += 1;
        let (idx, generation) = match self.free.pop() {
            Some(i) => {
                let s = &mut self.slots[i as usize];
                s.generation &= !FREE;
                s.value = value;
                (i, s.generation)
            }
            None => {
                self.slots.push(Slot { generation: 0, value });
                (u32::try_from(self.slots.len() - 1).expect("slab index fits u32"), 0)
            }
        };
        (u64::from(idx) << 32) | u64::from(generation)
    }

    #[inline]
    pub fn get(&self, key: Key) -> Option<&T> {
        let s = self.slots.get((key >> 32) as usize)?;
        s.holds(key).then_some(&s.value)
    }

    #[inline]
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let s = self.slots.get_mut((key >> 32) as usize)?;
        if s.holds(key) { Some(&mut s.value) } else { None }
    }

    /// Removes the value; the key (and every earlier key of this slot) goes stale.
    pub fn remove(&mut self, key: Key) -> Option<T> {
        let s = self.slots.get_mut((key >> 32) as usize)?;
        if !s.holds(key) {
            return None;
        }
        s.free();
        self.free.push((key >> 32) as u32);
        self.len -= 1;
        Some(s.value)
    }

    /// Gives the value a fresh key (the old one goes stale) without moving it: a new attempt of
    /// the same call must not accept responses meant for the previous attempt.
    pub fn rekey(&mut self, key: Key) -> Option<Key> {
        let s = self.slots.get_mut((key >> 32) as usize)?;
        if !s.holds(key) {
            return None;
        }
        s.generation = next(s.generation);
        Some((key & !0xffff_ffff) | u64::from(s.generation))
    }

    /// Moves every value out (last slot first), keeping generations moving so old keys stay
    /// stale.
    pub fn drain_into(&mut self, out: &mut Vec<T>) {
        self.free.clear();
        for (i, s) in self.slots.iter_mut().enumerate().rev() {
            if s.occupied() {
                s.free();
                out.push(s.value);
            }
            self.free.push(i as u32);
        }
        self.len = 0;
    }

    /// The live values, in slot order (use only for order-independent summaries).
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().filter(|s| s.occupied()).map(|s| &s.value)
    }

    /// The live values, mutable, in slot order (for changes that do not depend on the order).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().filter(|s| s.occupied()).map(|s| &mut s.value)
    }

    /// Drops every value (a crash), keeping generations moving so old keys stay stale.
    pub fn clear(&mut self) {
        self.free.clear();
        for (i, s) in self.slots.iter_mut().enumerate().rev() {
            if s.occupied() {
                s.free();
            }
            self.free.push(i as u32);
        }
        self.len = 0;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_keys_are_rejected() {
        let mut s = Slab::default();
        let a = s.insert("a");
        assert_eq!(s.get(a), Some(&"a"));
        let a2 = s.rekey(a).unwrap();
        assert_eq!(s.get(a), None);
        assert_eq!(s.get(a2), Some(&"a"));
        assert_eq!(s.remove(a2), Some("a"));
        let b = s.insert("b");
        assert_eq!(b >> 32, a >> 32, "slot reused");
        assert_eq!(s.get(a2), None);
        s.clear();
        assert_eq!(s.get(b), None);
        assert!(s.is_empty());
        let c = s.insert("c");
        assert_ne!(c, b);
    }

    #[test]
    fn keys_with_the_owners_bit_set_never_match() {
        let mut s = Slab::default();
        let a = s.insert(1u8);
        assert_eq!(a & 1, 0, "generations are even");
        assert_eq!(s.get(a | 1), None, "occupied slot");
        assert_eq!(s.remove(a), Some(1));
        assert_eq!(s.get(a | 1), None, "freed slot");
        assert_eq!(s.get(a), None);
        let b = s.insert(2u8);
        assert_eq!(b, a + 2, "the freed slot again, two generations on");
        assert_eq!(s.get(b | 1), None);
        assert_eq!(s.get(b), Some(&2));
    }

    #[test]
    fn generations_wrap_and_old_keys_stay_stale() {
        let mut s = Slab::default();
        let mut k = s.insert(0u32);
        for i in 1..=(1u64 << 30) + 3 {
            let old = k;
            k = s.rekey(k).unwrap();
            if i % (1 << 27) == 0 || i > 1 << 30 {
                assert_eq!(s.get(old), None);
                assert_eq!(s.get(k), Some(&0));
            }
        }
        assert!((k as u32) < 8, "wrapped past 2^31");
    }

    #[test]
    fn drain_and_clear_free_every_slot_and_keep_keys_stale() {
        let mut s = Slab::default();
        let keys: Vec<Key> = (0..5u32).map(|v| s.insert(v)).collect();
        s.remove(keys[1]);
        let mut out = Vec::new();
        s.drain_into(&mut out);
        assert_eq!(out, vec![4, 3, 2, 0], "live values, last slot first");
        assert!(s.is_empty() && keys.iter().all(|&k| s.get(k).is_none()));
        let again: Vec<Key> = (0..5u32).map(|v| s.insert(v)).collect();
        assert!(again.iter().all(|k| !keys.contains(k)), "reused slots, new keys");
        assert_eq!(s.values().count(), 5);
        s.clear();
        assert!(s.values().next().is_none() && again.iter().all(|&k| s.get(k).is_none()));
    }
}
