//! The pending-event queue: a monotone radix heap popping in exact `(time, seq)` order.
//!
//! A discrete-event simulator never schedules into the past, so the queue only has to support
//! keys `>=` the last popped one. A radix heap exploits that: bucket `b` holds the events whose
//! time first differs from `last` (the last popped time) at bit `b - 1`; bucket 0 holds those
//! due exactly at `last`. Popping takes bucket 0 if non-empty, otherwise it empties the lowest
//! non-empty bucket into strictly lower ones around that bucket's minimum. Each event moves down
//! at most 64 times, and in practice a handful (its distance from `last` shrinks each time).
//!
//! Layout choices, measured against a `u128` `(time << 64 | seq)` keyed variant (see
//! docs/performance.md):
//! - Keys are the time alone (`u64`), so every comparison is one integer compare and equal-time
//!   events are never split apart. Ties are FIFO for free: events with the same time always sit
//!   in the same bucket (they share `time ^ last`), pushes append and redistribution drains in
//!   order, so within a time they stay in push order, which is `seq` order. Bucket 0 is a deque
//!   popped from the front.
//! - Each bucket's minimum time is cached and a bitmask marks non-empty buckets, so `peek_time`
//!   is O(1) on `&self` and redistribution is a single pass (no separate min-finding scan).
//! - Bucket `Vec`s are drained, never dropped, so steady state allocates nothing.

use std::collections::VecDeque;

/// Buckets `1..=64`, indexed by the highest bit where an event's time differs from `last`.
const RADIX: usize = 64;

/// One pending event: time, tie-breaking sequence number, payload.
type Entry<E> = (u64, u64, E);

/// Monotone priority queue of events keyed by `(time, seq)`; see the module docs.
pub struct EventQueue<E> {
    /// Events due exactly at `last`, in `seq` order.
    now: VecDeque<Entry<E>>,
    /// `buckets[b - 1]` is radix bucket `b`: times whose highest bit differing from `last` is
    /// bit `b - 1`.
    buckets: [Vec<Entry<E>>; RADIX],
    /// Minimum time in each of `buckets` (`u64::MAX` when empty).
    mins: [u64; RADIX],
    /// Bit `b - 1` set iff `buckets[b - 1]` is non-empty.
    occupied: u64,
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
            buckets: std::array::from_fn(|_| Vec::new()),
            mins: [u64::MAX; RADIX],
            occupied: 0,
            last: 0,
            len: 0,
            seq: 0,
        }
    }

    /// Schedule `event` at `time` (ns) and return its sequence number. Ties are broken by
    /// insertion order. `time` must be `>=` the time of the last popped event; an earlier time
    /// is an engine bug (debug assertion), clamped to the last popped time in release builds.
    #[inline]
    pub fn push(&mut self, time: u64, event: E) -> u64 {
        debug_assert!(time >= self.last, "event scheduled at {time} before the last popped time {}", self.last);
        let time = time.max(self.last);
        let seq = self.seq;
        self.seq += 1;
        self.len += 1;
        self.insert((time, seq, event));
        seq
    }

    /// Files an entry under the current `last`; `entry.0 >= self.last`.
    #[inline(always)]
    fn insert(&mut self, entry: Entry<E>) {
        let diff = entry.0 ^ self.last;
        if diff == 0 {
            self.now.push_back(entry);
        } else {
            let b = (63 - diff.leading_zeros()) as usize;
            self.mins[b] = self.mins[b].min(entry.0);
            self.occupied |= 1 << b;
            self.buckets[b].push(entry);
        }
    }

    /// Remove and return the earliest event as `(time, seq, event)`.
    #[inline]
    pub fn pop(&mut self) -> Option<(u64, u64, E)> {
        if self.now.is_empty() {
            if self.occupied == 0 {
                return None;
            }
            self.redistribute();
        }
        self.len -= 1;
        self.now.pop_front()
    }

    /// Empties the lowest non-empty bucket around its minimum, which becomes `last`. Every
    /// entry lands in a strictly lower bucket (it agrees with the new `last` on all bits above
    /// the bucket's), and the minimum's entries land in `now`, in their original order.
    #[cold]
    #[inline(never)]
    fn redistribute(&mut self) {
        let b = self.occupied.trailing_zeros() as usize;
        let last = self.mins[b];
        self.last = last;
        self.mins[b] = u64::MAX;
        self.occupied &= !(1 << b);
        let (lower, rest) = self.buckets.split_at_mut(b);
        for entry in rest[0].drain(..) {
            let diff = entry.0 ^ last;
            if diff == 0 {
                self.now.push_back(entry);
            } else {
                let nb = (63 - diff.leading_zeros()) as usize;
                self.mins[nb] = self.mins[nb].min(entry.0);
                self.occupied |= 1 << nb;
                lower[nb].push(entry);
            }
        }
    }

    /// Time of the earliest pending event.
    #[inline]
    pub fn peek_time(&self) -> Option<u64> {
        if !self.now.is_empty() {
            Some(self.last)
        } else if self.occupied != 0 {
            Some(self.mins[self.occupied.trailing_zeros() as usize])
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
        for b in &mut self.buckets {
            b.clear();
        }
        self.mins = [u64::MAX; RADIX];
        self.occupied = 0;
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
    }

    fn op() -> impl Strategy<Value = Op> {
        let delta = prop_oneof![
            3 => Just(0u64),
            3 => 0..8u64,
            2 => 0..1_000_000u64,
            1 => any::<u64>(),
        ];
        prop_oneof![3 => delta.prop_map(Op::Push), 2 => Just(Op::Pop)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn pops_in_time_seq_order_like_a_binary_heap(ops in prop::collection::vec(op(), 0..400)) {
            let mut q = EventQueue::new();
            let mut reference = BinaryHeap::new();
            let mut last = 0u64;
            let mut run = |q: &mut EventQueue<u64>, reference: &mut BinaryHeap<Reverse<(u64, u64)>>, op: Op| {
                match op {
                    Op::Push(d) => {
                        let t = last.saturating_add(d);
                        let seq = q.push(t, t ^ 0xabcd);
                        prop_assert_eq!(seq + 1, q.pushed());
                        reference.push(Reverse((t, seq)));
                    }
                    Op::Pop => {
                        let got = q.pop();
                        let want = reference.pop().map(|Reverse(k)| k);
                        prop_assert_eq!(got.map(|(t, s, _)| (t, s)), want);
                        if let Some((t, _, e)) = got {
                            prop_assert_eq!(e, t ^ 0xabcd);
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
            prop_assert_eq!(q.pop().map(|(t, s, _)| (t, s)), None);
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
        let want: Vec<_> = (0..10u32)
            .map(|i| (3, 2 * i as u64 + 1, 100 + i))
            .chain((0..10u32).map(|i| (5, 2 * i as u64, i)))
            .collect();
        assert_eq!(popped, want);
        // Pushing at the current time while events at that time are pending keeps FIFO.
        q.push(7, 0);
        q.push(7, 1);
        assert_eq!(q.pop(), Some((7, 20, 0)));
        q.push(7, 2);
        assert_eq!(q.pop(), Some((7, 21, 1)));
        assert_eq!(q.pop(), Some((7, 22, 2)));
        assert_eq!(q.pop(), None);
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
        assert_eq!(q.pop(), Some((0, 1, 'a')));
        assert_eq!(q.peek_time(), Some(1 << 63));
        assert_eq!(q.pop(), Some((1 << 63, 2, 'b')));
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop(), Some((u64::MAX, 0, 'c')));
        assert!(q.is_empty());
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn clear_resets_seq_and_last_popped_time() {
        let mut q = EventQueue::default();
        for t in [10, 20, 30] {
            q.push(t, t);
        }
        assert_eq!(q.pop(), Some((10, 0, 10)));
        q.clear();
        assert!(q.is_empty());
        assert_eq!(q.len(), 0);
        assert_eq!(q.pushed(), 0);
        assert_eq!(q.peek_time(), None);
        // Earlier than the pre-clear last popped time: allowed again after clear.
        assert_eq!(q.push(1, 1), 0);
        assert_eq!(q.push(0, 0), 1);
        assert_eq!(q.pop(), Some((0, 1, 0)));
        assert_eq!(q.pop(), Some((1, 0, 1)));
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
