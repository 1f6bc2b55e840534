//! The classic "hold" model for the event queue: keep N events pending, then repeatedly pop
//! the earliest and push one new event at its time plus an exponential increment (mean 1 ms,
//! in ns). Compared against `std::collections::BinaryHeap<Reverse<(time, seq, payload)>>`.
//!
//! Run: `cargo bench -p faultline-sim --bench queue -- --measurement-time 3 --warm-up-time 1`

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faultline_sim::EventQueue;

/// A realistic 24-byte event payload (target component, event kind, two words of data).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Payload {
    target: u32,
    kind: u32,
    a: u64,
    b: u64,
}

/// Hold operations per measured iteration.
const BATCH: u64 = 1_000;
/// Mean increment, ns (1 ms).
const MEAN_NS: f64 = 1e6;

/// splitmix64: tiny, good enough to drive a benchmark.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Exponential increments, precomputed so the measured loop pays for the queue and not for
/// `ln`: 4096 quantiles, picked by random index.
struct Increments {
    table: Vec<u64>,
    rng: Rng,
}
impl Increments {
    fn new(seed: u64) -> Self {
        let table = (0..4096).map(|i| (-MEAN_NS * (1.0 - (i as f64 + 0.5) / 4096.0).ln()) as u64).collect();
        Increments { table, rng: Rng(seed) }
    }
    #[inline]
    fn next(&mut self) -> u64 {
        self.table[(self.rng.next() >> 52) as usize]
    }
}

mod packed {
    /// Experiment: (time << 64 | seq) packed u128 keys, 128 radix buckets + bucket 0, cached mins.
    pub struct Q<E> {
        now: Vec<(u128, E)>,
        buckets: Vec<Vec<(u128, E)>>,
        mins: [u128; 128],
        occupied: u128,
        last: u128,
        seq: u64,
        len: usize,
    }
    impl<E> Q<E> {
        pub fn new() -> Self {
            Q {
                now: Vec::new(),
                buckets: (0..128).map(|_| Vec::new()).collect(),
                mins: [u128::MAX; 128],
                occupied: 0,
                last: 0,
                seq: 0,
                len: 0,
            }
        }
        pub fn len(&self) -> usize {
            self.len
        }
        #[inline]
        pub fn push(&mut self, time: u64, e: E) -> u64 {
            let seq = self.seq;
            self.seq += 1;
            self.len += 1;
            let k = (time as u128) << 64 | seq as u128;
            let d = k ^ self.last;
            if d == 0 {
                self.now.push((k, e));
            } else {
                let b = (127 - d.leading_zeros()) as usize;
                self.mins[b] = self.mins[b].min(k);
                self.occupied |= 1 << b;
                self.buckets[b].push((k, e));
            }
            seq
        }
        #[inline]
        pub fn pop(&mut self) -> Option<(u64, u64, E)> {
            if self.now.is_empty() {
                if self.occupied == 0 {
                    return None;
                }
                self.redistribute();
            }
            self.len -= 1;
            self.now.pop().map(|(k, e)| ((k >> 64) as u64, k as u64, e))
        }
        #[cold]
        #[inline(never)]
        fn redistribute(&mut self) {
            let b = self.occupied.trailing_zeros() as usize;
            let last = self.mins[b];
            self.last = last;
            self.mins[b] = u128::MAX;
            self.occupied &= !(1 << b);
            let (lower, rest) = self.buckets.split_at_mut(b);
            for (k, e) in rest[0].drain(..) {
                let d = k ^ last;
                if d == 0 {
                    self.now.push((k, e));
                } else {
                    let nb = (127 - d.leading_zeros()) as usize;
                    self.mins[nb] = self.mins[nb].min(k);
                    self.occupied |= 1 << nb;
                    lower[nb].push((k, e));
                }
            }
        }
    }
}

fn payload(i: u64) -> Payload {
    Payload { target: i as u32, kind: (i >> 32) as u32, a: i, b: !i }
}

fn hold(c: &mut Criterion) {
    let mut group = c.benchmark_group("hold");
    group.throughput(Throughput::Elements(BATCH));
    // 8 pending: an M/M/4 queue (arrival, workers' ends, messages in flight); 10^3: a busy
    // scenario; 10^6: the engine target's large pending set.
    for n in [8u64, 1_000, 1_000_000] {
        group.bench_with_input(BenchmarkId::new("radix_heap", n), &n, |bench, &n| {
            let mut inc = Increments::new(1);
            let mut q = EventQueue::with_capacity(16);
            for i in 0..n {
                q.push(inc.next(), payload(i));
            }
            bench.iter(|| {
                for _ in 0..BATCH {
                    let (t, p) = q.pop().expect("hold keeps n pending");
                    q.push(t + inc.next(), black_box(p));
                }
            });
            assert_eq!(q.len() as u64, n);
        });
        group.bench_with_input(BenchmarkId::new("packed_u128", n), &n, |bench, &n| {
            let mut inc = Increments::new(1);
            let mut q = packed::Q::new();
            for i in 0..n {
                q.push(inc.next(), payload(i));
            }
            bench.iter(|| {
                for _ in 0..BATCH {
                    let (t, _seq, p) = q.pop().expect("hold keeps n pending");
                    q.push(t + inc.next(), black_box(p));
                }
            });
            assert_eq!(q.len() as u64, n);
        });
        group.bench_with_input(BenchmarkId::new("binary_heap", n), &n, |bench, &n| {
            let mut inc = Increments::new(1);
            let mut q = BinaryHeap::with_capacity(n as usize);
            let mut seq = 0u64;
            for i in 0..n {
                q.push(Reverse((inc.next(), seq, payload(i))));
                seq += 1;
            }
            bench.iter(|| {
                for _ in 0..BATCH {
                    let Reverse((t, _seq, p)) = q.pop().expect("hold keeps n pending");
                    q.push(Reverse((t + inc.next(), seq, black_box(p))));
                    seq += 1;
                }
            });
            assert_eq!(q.len() as u64, n);
        });
    }
    group.finish();
}

criterion_group!(benches, hold);
criterion_main!(benches);
