//! The pending-event queue: a monotone radix heap popping in exact `(time, seq)` order.
//!
//! A discrete-event simulator never schedules into the past, so the queue only has to support
//! times `>=` the last popped one (`last`). A radix heap exploits that. Here it works in base
//! 64: an event at time `t > last` is filed under the highest 6-bit digit `d` where `t` and
//! `last` differ, and under `t`'s value `v` of that digit (which exceeds `last`'s). Every
//! event in bucket `(d, v)` is earlier than every event in a later bucket, in `(d, v)` order;
//! events due exactly at `last` sit in `now`. Popping takes `now` if non-empty, otherwise it
//! empties the first non-empty bucket around that bucket's minimum, which becomes `last`: each
//! of those events now agrees with `last` on digit `d` and above, so it drops by at least one
//! whole digit, while events in the other buckets keep their bucket. An event moves at most 11
//! times, in practice about log64 of (its distance from `last` / the gap between events).
//!
//! Layout choices, each measured in the hold benchmark (docs/performance.md):
//! - Base 64 rather than the textbook base 2 (one bucket per bit): a sixth as many moves per
//!   event (a 64-bit mask per digit still finds the first bucket in one instruction). Base 2
//!   was 10–15% slower than base 16; base 64 against base 16, same build profile: 37 against
//!   34 M events/s in the hold benchmark at 10^3 pending, 11.5 against 10.6 M at 10^6 (8.6 M
//!   in a noisy run), 3% faster on a checkout sweep, the same on the request path.
//! - Keys are the time alone, not a packed `(time << 64 | seq)` `u128`: one `u64` compare, and
//!   equal times are never split apart. Ties are FIFO for free: events with the same time
//!   always share a bucket, pushes append and redistribution drains in order, so within a time
//!   they stay in push order, which is `seq` order. `now` is a deque popped from the front.
//! - Each bucket's minimum time is cached and bitmasks mark non-empty buckets, so `peek_time`
//!   is O(1) on `&self` and redistribution is one pass (no separate min-finding scan).
//! - Bucket `Vec`s are emptied, never dropped, so steady state allocates nothing.
//! - Entries are 16 bytes `(time, slot)`; the payload stays put in a slot table (reused
//!   last-freed first, so hot slots stay in cache; the free list is threaded through the free
//!   slots themselves, so no separate stack is touched). Redistribution moves only the small
//!   entries, whatever the size of the event type: with the world's 48-byte events this cut
//!   the request-path benchmark's wall time by about a third.
//! - The sequence number is not stored: push order within a time is kept by the structure, so
//!   `seq` is only the push counter ([`EventQueue::push`] returns it). That saves 8 bytes per
//!   pending event.
//! - An event filed into one of the two lowest digits (due within 4 µs of `last`) will pop
//!   within a few events: its slot is prefetched then. With 10^6 pending the slot read at pop
//!   time was a cache miss every time; this took the hold benchmark from 8.6 M to 12.4 M events/s
//!   there, and changes nothing measurable with small pending sets.
//! - When `now` is empty and the first bucket holds a single entry (the usual case near `last`),
//!   pop takes it directly: no redistribution, no trip through `now`. About 5% fewer
//!   instructions in whole runs; the hold benchmark at 10^3 pending went from 27–29 M to
//!   33–34 M events/s.
//! - Measured and rejected: a 4-ary heap on `(time, seq)` for small pending sets (under a few
//!   thousand events) with a hand-over to the radix heap above (4% more instructions, slower
//!   on the request path with ~100 events pending); `now` as a `Vec` with a read index instead
//!   of a `VecDeque` (no measurable difference); prefetching the next event's slot at each pop
//!   (slower on the request path, no faster with 18 000 pending).

use std::collections::VecDeque;

/// Bits per digit.
const BITS: u32 = 6;
/// Values per digit, hence buckets per digit.
const BASE: usize = 1 << BITS;
/// Digits in a `u64` time.
const DIGITS: usize = 64usize.div_ceil(BITS as usize);
/// Radix buckets in all.
const BUCKETS: usize = DIGITS * BASE;

/// A place in the payload table: a pending event's payload, or a link of the free list.
enum Slot<E> {
    Full(E),
    Free { next: u32 },
}

/// End of the free list.
const NO_SLOT: u32 = u32::MAX;

/// One pending event in the radix structure: its time and the slot holding its payload.
#[derive(Clone, Copy)]
struct Entry {
    time: u64,
    slot: u32,
}

/// Bucket of `time` relative to `last` (`time > last`): `digit * BASE + value`.
#[inline(always)]
fn bucket(time: u64, last: u64) -> usize {
    // `63 ^ lz` is `63 - lz` for the `lz <= 63` of `time != last`; masked, it is provably at
    // most 63 to the compiler too, so indexing the fixed-size bucket arrays needs no bounds
    // checks.
    let digit = ((time ^ last).leading_zeros() ^ 63) & 63;
    let digit = digit / BITS;
    let value = (time >> (digit * BITS)) as usize & (BASE - 1);
    digit as usize * BASE + value
}

/// A hint to load `p`'s cache line; no effect on results.
#[inline(always)]
fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, whatever the address; `p` is valid anyway.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>((p as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Monotone priority queue of events keyed by `(time, seq)`; see the module docs.
pub struct EventQueue<E> {
    /// Events due exactly at `last`, in `seq` order.
    now: VecDeque<Entry>,
    /// Radix buckets, indexed by [`bucket`].
    buckets: Box<[Vec<Entry>; BUCKETS]>,
    /// Payloads of pending events, by slot. A free slot holds the next free one: the free
    /// list lives in the slots themselves (the last freed on top), so freeing and reusing a
    /// slot touch only that slot, not a separate stack.
    slots: Vec<Slot<E>>,
    /// The last freed slot ([`NO_SLOT`] when none is free).
    free: u32,
    /// Minimum time in each bucket (`u64::MAX` when empty).
    mins: Box<[u64; BUCKETS]>,
    /// Per digit, bit `v` set iff bucket `(digit, v)` is non-empty.
    occupied: [u64; DIGITS],
    /// Bit `d` set iff `occupied[d] != 0`.
    digits: u32,
    /// Time of the last popped event (the radix heap's reference point).
    last: u64,
    len: usize,
    seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// `n` is a hint for the number of events due at the same instant; the radix buckets grow
    /// to their working-set size on their own and keep it.
    pub fn with_capacity(n: usize) -> Self {
        EventQueue {
            now: VecDeque::with_capacity(n),
            slots: Vec::with_capacity(n),
            free: NO_SLOT,
            buckets: Box::new(std::array::from_fn(|_| Vec::new())),
            mins: Box::new([u64::MAX; BUCKETS]),
            occupied: [0; DIGITS],
            digits: 0,
            last: 0,
            len: 0,
            seq: 0,
        }
    }

    /// Schedule `event` at `time` (ns) and return its sequence number. Ties are broken by
    /// insertion order. `time` must be `>=` the time of the last popped event; an earlier time
    /// is an engine bug (debug assertion), clamped to the last popped time in release builds.
    // Inline at its few callers, as a profile-guided build does (2% fewer instructions on the
    // checkout; wall time within noise).
    #[inline(always)]
    pub fn push(&mut self, time: u64, event: E) -> u64 {
        debug_assert!(time >= self.last, "event scheduled at {time} before the last popped time {}", self.last);
        let time = time.max(self.last);
        let seq = self.seq;
        self.seq += 1;
        self.len += 1;
        let slot = if self.free != NO_SLOT {
            let s = self.free;
            let Slot::Free { next } = std::mem::replace(&mut self.slots[s as usize], Slot::Full(event)) else {
                unreachable!("the free list holds free slots")
            };
            self.free = next;
            s
        } else {
            self.slots.push(Slot::Full(event));
            u32::try_from(self.slots.len() - 1)
                .ok()
                .filter(|&s| s != NO_SLOT)
                .expect("fewer than 2^32 - 1 pending events")
        };
        let entry = Entry { time, slot };
        if time == self.last {
            self.now.push_back(entry);
        } else {
            let b = bucket(time, self.last);
            self.file(b, entry);
        }
        seq
    }

    #[inline(always)]
    fn file(&mut self, b: usize, entry: Entry) {
        self.mins[b] = self.mins[b].min(entry.time);
        self.occupied[b / BASE] |= 1 << (b % BASE);
        self.digits |= 1 << (b / BASE);
        self.buckets[b].push(entry);
    }

    /// Remove and return the earliest event as `(time, event)`.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<(u64, E)> {
        self.pop_due(u64::MAX)
    }

    /// Remove and return the earliest event if it is due at or before `until`. One look for the
    /// first bucket, where a `peek_time` then a `pop` took two.
    #[inline(always)]
    pub fn pop_due(&mut self, until: u64) -> Option<(u64, E)> {
        let e = match self.now.front() {
            Some(_) if self.last > until => return None,
            Some(_) => self.now.pop_front().expect("non-empty"),
            None if self.digits == 0 => return None,
            None => {
                let b = self.first_bucket();
                if self.mins[b] > until {
                    return None;
                }
                if self.buckets[b].len() == 1 {
                    // A bucket of one (the common case near `last`): it is the next event;
                    // nothing to redistribute, no round trip through `now`.
                    let e = self.buckets[b].pop().expect("one entry");
                    self.last = e.time;
                    self.empty_bucket(b);
                    e
                } else {
                    self.redistribute(b);
                    self.now.pop_front().expect("the minimum went to `now`")
                }
            }
        };
        self.len -= 1;
        let Slot::Full(event) = std::mem::replace(&mut self.slots[e.slot as usize], Slot::Free { next: self.free })
        else {
            unreachable!("a pending event's slot is full")
        };
        self.free = e.slot;
        Some((e.time, event))
    }

    /// Marks bucket `b` empty (its entries have been taken).
    #[inline(always)]
    fn empty_bucket(&mut self, b: usize) {
        self.mins[b] = u64::MAX;
        let d = b / BASE;
        self.occupied[d] &= !(1 << (b % BASE));
        if self.occupied[d] == 0 {
            self.digits &= !(1 << d);
        }
    }

    /// First non-empty bucket; `self.digits != 0`.
    #[inline(always)]
    fn first_bucket(&self) -> usize {
        let d = self.digits.trailing_zeros() as usize;
        d * BASE + self.occupied[d].trailing_zeros() as usize
    }

    /// Empties bucket `b` (the first non-empty one) around its minimum, which becomes `last`.
    /// Its events land in strictly lower digits, the minimum's in `now`, all in their original
    /// order.
    #[inline(never)]
    fn redistribute(&mut self, b: usize) {
        let last = self.mins[b];
        self.last = last;
        self.empty_bucket(b);
        let mut src = std::mem::take(&mut self.buckets[b]);
        for &entry in &src {
            if entry.time == last {
                self.now.push_back(entry);
            } else {
                let nb = bucket(entry.time, last);
                if nb < 2 * BASE {
                    // Due within 4 µs of simulated time: popped within a few events. Start
                    // loading its payload now; with many pending, slots are scattered and the
                    // read at pop time was a cache miss.
                    prefetch(&self.slots[entry.slot as usize]);
                }
                self.file(nb, entry);
            }
        }
        // Give the allocation back, emptied, so the bucket keeps its capacity.
        src.clear();
        self.buckets[b] = src;
    }

    /// Time of the earliest pending event.
    #[inline]
    pub fn peek_time(&self) -> Option<u64> {
        if !self.now.is_empty() {
            Some(self.last)
        } else if self.digits != 0 {
            Some(self.mins[self.first_bucket()])
        } else {
            None
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops every pending event and resets the sequence counter and the last popped time,
    /// keeping the allocated capacity.
    pub fn clear(&mut self) {
        self.now.clear();
        self.slots.clear();
        self.free = NO_SLOT;
        for b in self.buckets.iter_mut() {
            b.clear();
        }
        self.mins.fill(u64::MAX);
        self.occupied = [0; DIGITS];
        self.digits = 0;
        self.last = 0;
        self.len = 0;
        self.seq = 0;
    }

    /// Total number of pushes so far (the next sequence number).
    #[inline]
    pub fn pushed(&self) -> u64 {
        self.seq
    }
}

#[cfg(test)]
mod tests {
    use super::EventQueue;
    use proptest::prelude::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    #[derive(Debug, Clone)]
    enum Op {
        /// Push at the last popped time plus this delta.
        Push(u64),
        Pop,
        /// Pop only what is due by the last popped time plus this delta.
        PopDue(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let delta = prop_oneof![
            3 => Just(0u64),
            3 => 0..8u64,
            2 => 0..1_000_000u64,
            1 => any::<u64>(),
        ];
        let due = prop_oneof![Just(0u64), 0..8u64, 0..1_000_000u64];
        prop_oneof![3 => delta.prop_map(Op::Push), 2 => Just(Op::Pop), 1 => due.prop_map(Op::PopDue)]
    }

    proptest! {
        // A fixed seed: CI runs the same 512 cases every time, and a failure reproduces.
        #![proptest_config(ProptestConfig {
            cases: 512,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x0071_7565_7565),
            ..ProptestConfig::default()
        })]

        #[test]
        fn pops_in_time_seq_order_like_a_binary_heap(ops in prop::collection::vec(op(), 0..400)) {
            let mut q = EventQueue::new();
            let mut reference = BinaryHeap::new();
            let mut last = 0u64;
            let mut run = |q: &mut EventQueue<u64>, reference: &mut BinaryHeap<Reverse<(u64, u64)>>, op: Op| {
                match op {
                    Op::Push(d) => {
                        let t = last.saturating_add(d);
                        let seq = q.pushed();
                        prop_assert_eq!(q.push(t, seq), seq);
                        prop_assert_eq!(seq + 1, q.pushed());
                        reference.push(Reverse((t, seq)));
                    }
                    Op::Pop => {
                        let got = q.pop();
                        let want = reference.pop().map(|Reverse(k)| k);
                        prop_assert_eq!(got, want);
                        if let Some((t, _)) = got {
                            last = t;
                        }
                    }
                    Op::PopDue(d) => {
                        let until = last.saturating_add(d);
                        let got = q.pop_due(until);
                        let due = reference.peek().is_some_and(|Reverse((t, _))| *t <= until);
                        let want = if due { reference.pop().map(|Reverse(k)| k) } else { None };
                        prop_assert_eq!(got, want);
                        if let Some((t, _)) = got {
                            last = t;
                        }
                    }
                }
                prop_assert_eq!(q.len(), reference.len());
                prop_assert_eq!(q.is_empty(), reference.is_empty());
                prop_assert_eq!(q.peek_time(), reference.peek().map(|Reverse((t, _))| *t));
                Ok(())
            };
            for o in ops {
                run(&mut q, &mut reference, o)?;
            }
            // Drain what is left.
            while !reference.is_empty() {
                run(&mut q, &mut reference, Op::Pop)?;
            }
            prop_assert_eq!(q.pop(), None);
        }
    }

    #[test]
    fn ties_are_fifo_and_seq_strictly_increases() {
        let mut q = EventQueue::new();
        let mut seqs = Vec::new();
        for i in 0..10u32 {
            seqs.push(q.push(5, i));
            seqs.push(q.push(3, 100 + i));
        }
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(q.pushed(), 20);
        let popped: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        let want: Vec<_> = (0..10u32).map(|i| (3, 100 + i)).chain((0..10u32).map(|i| (5, i))).collect();
        assert_eq!(popped, want);
        // Pushing at the current time while events at that time are pending keeps FIFO.
        q.push(7, 0);
        q.push(7, 1);
        assert_eq!(q.pop(), Some((7, 0)));
        q.push(7, 2);
        assert_eq!(q.pop(), Some((7, 1)));
        assert_eq!(q.pop(), Some((7, 2)));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn a_long_run_at_one_instant_stays_fifo_while_pushes_join_it() {
        let mut q = EventQueue::new();
        q.push(5, 0u64);
        let mut next = 1;
        let mut want = 0;
        // Each pop at t=5 pushes two more at t=5 until 20 000 have been pushed.
        while let Some((t, e)) = q.pop() {
            assert_eq!((t, e), (5, want));
            want += 1;
            for _ in 0..2 {
                if next < 20_000 {
                    q.push(5, next);
                    next += 1;
                }
            }
        }
        assert_eq!(want, 20_000);
        assert!(q.now.capacity() < 20_000, "consumed entries are dropped as the run goes");
    }

    #[test]
    fn len_peek_and_extreme_times() {
        let mut q = EventQueue::with_capacity(4);
        assert!(q.is_empty());
        assert_eq!(q.peek_time(), None);
        q.push(u64::MAX, 'c');
        q.push(0, 'a');
        q.push(1 << 63, 'b');
        assert_eq!(q.len(), 3);
        assert_eq!(q.peek_time(), Some(0));
        assert_eq!(q.pop(), Some((0, 'a')));
        assert_eq!(q.peek_time(), Some(1 << 63));
        assert_eq!(q.pop(), Some((1 << 63, 'b')));
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop(), Some((u64::MAX, 'c')));
        assert!(q.is_empty());
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn clear_resets_seq_and_last_popped_time() {
        let mut q = EventQueue::default();
        for t in [10, 20, 30] {
            q.push(t, t);
        }
        assert_eq!(q.pop(), Some((10, 10)));
        q.clear();
        assert!(q.is_empty());
        assert_eq!(q.len(), 0);
        assert_eq!(q.pushed(), 0);
        assert_eq!(q.peek_time(), None);
        // Earlier than the pre-clear last popped time: allowed again after clear.
        assert_eq!(q.push(1, 1), 0);
        assert_eq!(q.push(0, 0), 1);
        assert_eq!(q.pop(), Some((0, 0)));
        assert_eq!(q.pop(), Some((1, 1)));
        assert_eq!(q.pop(), None);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "before the last popped time")]
    fn pushing_into_the_past_is_a_bug() {
        let mut q = EventQueue::new();
        q.push(10, ());
        q.pop();
        q.push(9, ());
    }
}
