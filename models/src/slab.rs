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

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { slots: Vec::new(), free: Vec::new(), len: 0 }
    }
}

impl<T> Slab<T> {
    // Inline so that callers build the value in its slot: passed by pointer, it was written to
    // the stack field by field and read back in 16-byte pieces (a store-forwarding stall).
    #[inline]
    pub fn insert(&mut self, value: T) -> Key {
        self.len += 1;
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot { generation: 0, value: None });
                u32::try_from(self.slots.len() - 1).expect("slab index fits u32")
            }
        };
        let s = &mut self.slots[idx as usize];
        s.value = Some(value);
        (u64::from(idx) << 32) | u64::from(s.generation)
    }

    #[inline]
    fn slot(&self, key: Key) -> Option<&Slot<T>> {
        let s = self.slots.get((key >> 32) as usize)?;
        (s.generation == key as u32 && s.value.is_some()).then_some(s)
    }

    #[inline]
    pub fn get(&self, key: Key) -> Option<&T> {
        self.slot(key).and_then(|s| s.value.as_ref())
    }

    #[inline]
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let s = self.slots.get_mut((key >> 32) as usize)?;
        if s.generation == key as u32 { s.value.as_mut() } else { None }
    }

    /// Removes the value; the key (and every earlier key of this slot) goes stale.
    pub fn remove(&mut self, key: Key) -> Option<T> {
        let s = self.slots.get_mut((key >> 32) as usize)?;
        if s.generation != key as u32 {
            return None;
        }
        let v = s.value.take()?;
        s.generation = s.generation.wrapping_add(2);
        self.free.push((key >> 32) as u32);
        self.len -= 1;
        Some(v)
    }

    /// Gives the value a fresh key (the old one goes stale) without moving it: a new attempt of
    /// the same call must not accept responses meant for the previous attempt.
    pub fn rekey(&mut self, key: Key) -> Option<Key> {
        let s = self.slots.get_mut((key >> 32) as usize)?;
        if s.generation != key as u32 || s.value.is_none() {
            return None;
        }
        s.generation = s.generation.wrapping_add(2);
        Some((key & !0xffff_ffff) | u64::from(s.generation))
    }

    /// Moves every value out (in slot order), keeping generations moving so old keys stay stale.
    pub fn drain_into(&mut self, out: &mut Vec<T>) {
        self.free.clear();
        for (i, s) in self.slots.iter_mut().enumerate().rev() {
            if let Some(v) = s.value.take() {
                s.generation = s.generation.wrapping_add(2);
                out.push(v);
            }
            self.free.push(i as u32);
        }
        self.len = 0;
    }

    /// The live values, in slot order (use only for order-independent summaries).
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().filter_map(|s| s.value.as_ref())
    }

    /// Drops every value (a crash), keeping generations moving so old keys stay stale.
    pub fn clear(&mut self) {
        self.free.clear();
        for (i, s) in self.slots.iter_mut().enumerate().rev() {
            if s.value.take().is_some() {
                s.generation = s.generation.wrapping_add(2);
            }
            self.free.push(i as u32);
        }
        self.len = 0;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes one slot takes (the per-item cost of a full slab), for tests that keep per-request
    /// state small.
    pub const SLOT_BYTES: usize = std::mem::size_of::<Slot<T>>();

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
}
