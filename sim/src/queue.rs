//! TEMPORARY placeholder written by the lead engineer so the crate compiles while the real
//! radix-heap queue is being written. The queue helper overwrites this whole file.
use std::cmp::Reverse;
use std::collections::BinaryHeap;

pub struct EventQueue<E> {
    heap: BinaryHeap<Reverse<(u64, u64, Slot<E>)>>,
    seq: u64,
}
struct Slot<E>(E);
impl<E> PartialEq for Slot<E> { fn eq(&self, _: &Self) -> bool { true } }
impl<E> Eq for Slot<E> {}
impl<E> PartialOrd for Slot<E> { fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> { Some(self.cmp(o)) } }
impl<E> Ord for Slot<E> { fn cmp(&self, _: &Self) -> std::cmp::Ordering { std::cmp::Ordering::Equal } }
impl<E> Default for EventQueue<E> { fn default() -> Self { Self::new() } }
impl<E> EventQueue<E> {
    pub fn new() -> Self { EventQueue { heap: BinaryHeap::new(), seq: 0 } }
    pub fn with_capacity(n: usize) -> Self { EventQueue { heap: BinaryHeap::with_capacity(n), seq: 0 } }
    pub fn push(&mut self, time: u64, event: E) -> u64 { let s = self.seq; self.seq += 1; self.heap.push(Reverse((time, s, Slot(event)))); s }
    pub fn pop(&mut self) -> Option<(u64, u64, E)> { self.heap.pop().map(|Reverse((t, s, e))| (t, s, e.0)) }
    pub fn peek_time(&self) -> Option<u64> { self.heap.peek().map(|r| r.0.0) }
    pub fn len(&self) -> usize { self.heap.len() }
    pub fn is_empty(&self) -> bool { self.heap.is_empty() }
    pub fn clear(&mut self) { self.heap.clear(); self.seq = 0 }
    pub fn pushed(&self) -> u64 { self.seq }
}
