//! A cache server in front of a backend (Redis/memcached-like): LRU eviction at a capacity,
//! optional TTL, cache-aside invalidation or write-through on writes, and optional request
//! coalescing (concurrent misses on one key share one backend read — without it, a cold or
//! flushed cache sends every miss to the backend at once: a stampede).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use faultline_sim::Nanos;

use crate::calls::{CallResult, Calls, Outcome};
use crate::msg::{ActorId, CallId, Msg, MsgKind, Op, Outbox, Req, Resp, Status, Timer};
use crate::slab::Slab;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WritePolicy {
    /// Cache-aside: a write goes to the backend and the key is dropped from the cache.
    Invalidate,
    /// A write goes to the backend, then the cache stores the new value.
    WriteThrough,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CacheConfig {
    pub capacity: u32,
    pub ttl: Option<Nanos>,
    pub write_policy: WritePolicy,
    pub coalesce: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Misses that joined a backend read already in flight for the key.
    pub coalesced: u64,
    pub backend_reads: u64,
    pub backend_writes: u64,
    pub evictions: u64,
    pub expirations: u64,
    /// Requests answered with an error because the backend call failed.
    pub errors: u64,
    /// Fills not stored because the key was written while they were in flight.
    pub stale_fills_dropped: u64,
}

impl CacheStats {
    pub fn hit_ratio(&self) -> f64 {
        let n = self.hits + self.misses;
        if n == 0 { 0.0 } else { self.hits as f64 / n as f64 }
    }
}

/// A fixed, deterministic hasher for integer keys (std's default hasher is randomly seeded).
/// The maps below are only looked up, never iterated, so their order cannot reach results.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

const NIL: u32 = u32::MAX;

#[derive(Debug)]
struct Entry {
    key: u64,
    value: u64,
    stored_at: Nanos,
    prev: u32,
    next: u32,
}

/// A backend read in flight and the requests waiting for it.
#[derive(Debug)]
struct Fetch {
    key: u64,
    /// Writes to the key seen when the read started: a later write makes the result stale.
    writes_at_start: u32,
    /// First waiter (index into `waiters`), linked through `Waiter::next`.
    first: u32,
}

#[derive(Debug)]
struct Waiter {
    from: ActorId,
    call: CallId,
    next: u32,
}

#[derive(Debug)]
struct Write {
    from: ActorId,
    call: CallId,
    key: u64,
}

/// Tokens of backend writes carry this bit to tell them from fills.
const WRITE_TOKEN: u64 = 1 << 63;

#[derive(Debug)]
pub struct Cache {
    cfg: CacheConfig,
    /// LRU list in a Vec: `head` is the most recently used, `tail` the next to evict.
    entries: Vec<Entry>,
    free: Vec<u32>,
    index: KeyMap<u32>,
    head: u32,
    tail: u32,
    fetches: Slab<Fetch>,
    fetch_by_key: KeyMap<u64>,
    waiters: Vec<Waiter>,
    free_waiters: Vec<u32>,
    writes: Slab<Write>,
    /// Writes seen per key (only keys ever written).
    write_count: KeyMap<u32>,
    pub calls: Calls,
    pub stats: CacheStats,
}

impl Cache {
    pub fn new(cfg: CacheConfig, calls: Calls) -> Cache {
        Cache {
            cfg,
            entries: Vec::new(),
            free: Vec::new(),
            index: KeyMap::default(),
            head: NIL,
            tail: NIL,
            fetches: Slab::default(),
            fetch_by_key: KeyMap::default(),
            waiters: Vec::new(),
            free_waiters: Vec::new(),
            writes: Slab::default(),
            write_count: KeyMap::default(),
            calls,
            stats: CacheStats::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn unlink(&mut self, i: u32) {
        let (p, n) = (self.entries[i as usize].prev, self.entries[i as usize].next);
        if p == NIL {
            self.head = n
        } else {
            self.entries[p as usize].next = n
        }
        if n == NIL { self.tail = p } else { self.entries[n as usize].prev = p }
    }

    fn push_front(&mut self, i: u32) {
        self.entries[i as usize].prev = NIL;
        self.entries[i as usize].next = self.head;
        if self.head != NIL {
            self.entries[self.head as usize].prev = i;
        }
        self.head = i;
        if self.tail == NIL {
            self.tail = i;
        }
    }

    fn remove(&mut self, key: u64) {
        if let Some(i) = self.index.remove(&key) {
            self.unlink(i);
            self.free.push(i);
        }
    }

    /// Stores `key = value` as most recently used, evicting the least recently used if full.
    fn store(&mut self, now: Nanos, key: u64, value: u64) {
        if let Some(&i) = self.index.get(&key) {
            let e = &mut self.entries[i as usize];
            e.value = value;
            e.stored_at = now;
            self.unlink(i);
            self.push_front(i);
            return;
        }
        if self.index.len() >= self.cfg.capacity as usize && self.tail != NIL {
            let victim = self.entries[self.tail as usize].key;
            self.remove(victim);
            self.stats.evictions += 1;
        }
        let e = Entry { key, value, stored_at: now, prev: NIL, next: NIL };
        let i = match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = e;
                i
            }
            None => {
                self.entries.push(e);
                (self.entries.len() - 1) as u32
            }
        };
        self.index.insert(key, i);
        self.push_front(i);
    }

    /// The cached value of `key`, if present and fresh (refreshing its recency).
    fn lookup(&mut self, now: Nanos, key: u64) -> Option<u64> {
        let i = *self.index.get(&key)?;
        if let Some(ttl) = self.cfg.ttl
            && now >= self.entries[i as usize].stored_at.saturating_add(ttl)
        {
            self.stats.expirations += 1;
            self.remove(key);
            return None;
        }
        self.unlink(i);
        self.push_front(i);
        Some(self.entries[i as usize].value)
    }

    fn add_waiter(&mut self, from: ActorId, call: CallId, next: u32) -> u32 {
        let w = Waiter { from, call, next };
        match self.free_waiters.pop() {
            Some(i) => {
                self.waiters[i as usize] = w;
                i
            }
            None => {
                self.waiters.push(w);
                (self.waiters.len() - 1) as u32
            }
        }
    }

    pub fn on_msg(&mut self, now: Nanos, out: &mut Outbox, from: ActorId, msg: Msg) {
        match msg.kind {
            MsgKind::Request(req) => self.on_request(now, out, from, msg.call, req),
            MsgKind::Response(resp) => {
                if let Some(o) = self.calls.on_response(now, out, msg.call, resp) {
                    self.on_outcome(now, out, o);
                }
            }
            MsgKind::Db(_) => {}
        }
    }

    fn on_request(&mut self, now: Nanos, out: &mut Outbox, from: ActorId, call: CallId, req: Req) {
        match req.op {
            Op::Probe => out.send(from, Msg { call, kind: MsgKind::response(Status::Ok) }),
            Op::Read => {
                if let Some(value) = self.lookup(now, req.key) {
                    self.stats.hits += 1;
                    out.send(from, Msg { call, kind: MsgKind::Response(Resp { status: Status::Ok, value }) });
                    return;
                }
                self.stats.misses += 1;
                if self.cfg.coalesce
                    && let Some(&f) = self.fetch_by_key.get(&req.key)
                {
                    self.stats.coalesced += 1;
                    let first = self.fetches.get(f).expect("indexed fetch").first;
                    let w = self.add_waiter(from, call, first);
                    self.fetches.get_mut(f).expect("indexed fetch").first = w;
                    return;
                }
                let w = self.add_waiter(from, call, NIL);
                let writes_at_start = self.write_count.get(&req.key).copied().unwrap_or(0);
                let f = self.fetches.insert(Fetch { key: req.key, writes_at_start, first: w });
                if self.cfg.coalesce {
                    self.fetch_by_key.insert(req.key, f);
                }
                self.stats.backend_reads += 1;
                if let Some(o) = self.calls.start(now, out, 0, f, req) {
                    self.on_outcome(now, out, o);
                }
            }
            Op::Write => {
                *self.write_count.entry(req.key).or_insert(0) += 1;
                if self.cfg.write_policy == WritePolicy::Invalidate {
                    self.remove(req.key);
                }
                let token = self.writes.insert(Write { from, call, key: req.key }) | WRITE_TOKEN;
                self.stats.backend_writes += 1;
                if let Some(o) = self.calls.start(now, out, 0, token, req) {
                    self.on_outcome(now, out, o);
                }
            }
        }
    }

    pub fn on_timer(&mut self, now: Nanos, out: &mut Outbox, t: Timer) {
        if let Some(o) = self.calls.on_timer(now, out, t) {
            self.on_outcome(now, out, o);
        }
        while let Some(o) = self.calls.pop_ready() {
            self.on_outcome(now, out, o);
        }
    }

    fn on_outcome(&mut self, now: Nanos, out: &mut Outbox, o: Outcome) {
        let ok = o.result == CallResult::Ok;
        if o.token & WRITE_TOKEN != 0 {
            let Some(w) = self.writes.remove(o.token & !WRITE_TOKEN) else { return };
            if ok && self.cfg.write_policy == WritePolicy::WriteThrough {
                self.store(now, w.key, o.value);
            }
            if !ok {
                self.stats.errors += 1;
            }
            let status = if ok { Status::Ok } else { Status::Error };
            out.send(w.from, Msg { call: w.call, kind: MsgKind::Response(Resp { status, value: o.value }) });
            return;
        }
        let Some(f) = self.fetches.remove(o.token) else { return };
        if self.fetch_by_key.get(&f.key) == Some(&o.token) {
            self.fetch_by_key.remove(&f.key);
        }
        if ok {
            if self.write_count.get(&f.key).copied().unwrap_or(0) == f.writes_at_start {
                self.store(now, f.key, o.value);
            } else {
                self.stats.stale_fills_dropped += 1;
            }
        }
        let status = if ok { Status::Ok } else { Status::Error };
        let mut w = f.first;
        while w != NIL {
            let Waiter { from, call, next } = self.waiters[w as usize];
            if !ok {
                self.stats.errors += 1;
            }
            out.send(from, Msg { call, kind: MsgKind::Response(Resp { status, value: o.value }) });
            self.free_waiters.push(w);
            w = next;
        }
    }

    /// An operator flush or a cold restart: every entry goes (reads in flight still fill).
    pub fn flush(&mut self) {
        self.index.clear();
        self.entries.clear();
        self.free.clear();
        self.head = NIL;
        self.tail = NIL;
    }

    /// The node went down: a cache is volatile, everything is lost, waiters get no answer.
    pub fn crash(&mut self, _now: Nanos) {
        self.flush();
        self.fetches.clear();
        self.fetch_by_key.clear();
        self.waiters.clear();
        self.free_waiters.clear();
        self.writes.clear();
        self.calls.crash();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{CallTarget, RetryPolicy, Target};
    use faultline_sim::Stream;
    use faultline_sim::keys::{KeyDist, Zipf};

    const BACKEND: ActorId = ActorId(100);

    fn cache(capacity: u32, ttl: Option<Nanos>, write_policy: WritePolicy, coalesce: bool) -> Cache {
        let calls = Calls::new(
            vec![CallTarget::new(Target::Actor(BACKEND), 1_000_000, RetryPolicy::default())],
            Stream::new(1, "cache"),
        );
        Cache::new(CacheConfig { capacity, ttl, write_policy, coalesce }, calls)
    }

    fn read(c: &mut Cache, now: Nanos, out: &mut Outbox, from: u32, key: u64) {
        c.on_msg(
            now,
            out,
            ActorId(from),
            Msg { call: u64::from(from), kind: MsgKind::Request(Req { class: 0, op: Op::Read, key }) },
        );
    }

    /// Answers every backend request in `out` with `value`, returning the answers to clients.
    fn answer_backend(c: &mut Cache, now: Nanos, out: Outbox, value: u64) -> Vec<(ActorId, Msg)> {
        let mut clients = Vec::new();
        let mut pending: Vec<(ActorId, Msg)> = out.sends;
        while !pending.is_empty() {
            let mut next = Outbox::default();
            for (to, m) in pending {
                if to == BACKEND {
                    c.on_msg(
                        now,
                        &mut next,
                        BACKEND,
                        Msg { call: m.call, kind: MsgKind::Response(Resp { status: Status::Ok, value }) },
                    );
                } else {
                    clients.push((to, m));
                }
            }
            pending = next.sends;
        }
        clients
    }

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let mut c = cache(2, None, WritePolicy::Invalidate, false);
        for k in [1, 2] {
            let mut out = Outbox::default();
            read(&mut c, 0, &mut out, 1, k);
            answer_backend(&mut c, 0, out, 10 + k);
        }
        let mut out = Outbox::default();
        read(&mut c, 1, &mut out, 1, 1); // 1 becomes most recent
        assert_eq!(c.stats.hits, 1);
        let out2 = {
            let mut o = Outbox::default();
            read(&mut c, 2, &mut o, 1, 3);
            o
        };
        answer_backend(&mut c, 2, out2, 13); // evicts 2
        assert_eq!(c.stats.evictions, 1);
        let mut out = Outbox::default();
        read(&mut c, 3, &mut out, 1, 1);
        read(&mut c, 3, &mut out, 1, 2);
        assert_eq!((c.stats.hits, c.stats.misses), (2, 4), "1 stayed, 2 was evicted");
    }

    #[test]
    fn ttl_expiry_is_a_miss() {
        let mut c = cache(10, Some(100), WritePolicy::Invalidate, false);
        let mut out = Outbox::default();
        read(&mut c, 0, &mut out, 1, 7);
        answer_backend(&mut c, 0, out, 1);
        let mut out = Outbox::default();
        read(&mut c, 99, &mut out, 1, 7);
        assert_eq!(c.stats.hits, 1);
        read(&mut c, 100, &mut out, 1, 7);
        assert_eq!((c.stats.hits, c.stats.expirations), (1, 1));
    }

    #[test]
    fn coalescing_shares_one_backend_read_and_without_it_every_miss_goes_through() {
        for (coalesce, reads) in [(true, 1), (false, 5)] {
            let mut c = cache(10, None, WritePolicy::Invalidate, coalesce);
            let mut out = Outbox::default();
            for client in 0..5 {
                read(&mut c, 0, &mut out, client, 42);
            }
            assert_eq!(c.stats.backend_reads, reads);
            let answers = answer_backend(&mut c, 1, out, 9);
            assert_eq!(answers.len(), 5, "every waiter is answered");
            assert!(answers.iter().all(|(_, m)| m.kind == MsgKind::Response(Resp { status: Status::Ok, value: 9 })));
        }
    }

    #[test]
    fn a_write_invalidates_and_a_fill_started_before_it_is_not_stored() {
        let mut c = cache(10, None, WritePolicy::Invalidate, true);
        let mut fill = Outbox::default();
        read(&mut c, 0, &mut fill, 1, 5); // fill in flight
        let mut w = Outbox::default();
        c.on_msg(
            1,
            &mut w,
            ActorId(2),
            Msg { call: 2, kind: MsgKind::Request(Req { class: 0, op: Op::Write, key: 5 }) },
        );
        answer_backend(&mut c, 2, w, 77);
        answer_backend(&mut c, 3, fill, 76); // the old value arrives after the write
        assert_eq!(c.stats.stale_fills_dropped, 1);
        assert!(c.is_empty(), "the stale value was not cached");
    }

    #[test]
    fn write_through_stores_the_new_value() {
        let mut c = cache(10, None, WritePolicy::WriteThrough, false);
        let mut w = Outbox::default();
        c.on_msg(
            0,
            &mut w,
            ActorId(2),
            Msg { call: 2, kind: MsgKind::Request(Req { class: 0, op: Op::Write, key: 5 }) },
        );
        answer_backend(&mut c, 1, w, 8);
        let mut out = Outbox::default();
        read(&mut c, 2, &mut out, 1, 5);
        assert_eq!(
            out.sends,
            vec![(ActorId(1), Msg { call: 1, kind: MsgKind::Response(Resp { status: Status::Ok, value: 8 }) })]
        );
    }

    #[test]
    fn flush_empties_and_crash_forgets_waiters() {
        let mut c = cache(10, None, WritePolicy::Invalidate, true);
        let mut out = Outbox::default();
        read(&mut c, 0, &mut out, 1, 1);
        answer_backend(&mut c, 0, out, 1);
        c.flush();
        assert!(c.is_empty());
        let mut out = Outbox::default();
        read(&mut c, 1, &mut out, 1, 2);
        c.crash(2);
        assert!(answer_backend(&mut c, 3, out, 1).is_empty(), "no answers after a crash");
    }

    /// Che's approximation for LRU under independent Zipf references: the characteristic time
    /// T solves Σ_i (1 − e^{−p_i T}) = C, and the hit ratio is Σ_i p_i (1 − e^{−p_i T}).
    fn che(d: &KeyDist, c: f64) -> f64 {
        let n = d.keys();
        let p: Vec<f64> = (0..n).map(|k| d.probability(k)).collect();
        let occupancy = |t: f64| p.iter().map(|pi| 1.0 - (-pi * t).exp()).sum::<f64>();
        let (mut lo, mut hi) = (0.0, 1.0);
        while occupancy(hi) < c {
            hi *= 2.0;
        }
        for _ in 0..100 {
            let mid = (lo + hi) / 2.0;
            if occupancy(mid) < c { lo = mid } else { hi = mid }
        }
        p.iter().map(|pi| pi * (1.0 - (-pi * lo).exp())).sum()
    }

    #[test]
    fn lru_hit_ratio_under_zipf_matches_ches_approximation() {
        for (n, cap, s) in [(10_000u64, 100u32, 0.8), (10_000, 1000, 1.0), (10_000, 500, 1.2)] {
            let d = KeyDist::Zipf(Zipf::new(n, s));
            let mut c = cache(cap, None, WritePolicy::Invalidate, false);
            let mut rng = Stream::new(9, "che");
            let warm = 20 * cap as usize;
            let total = warm + 200_000;
            for i in 0..total {
                if i == warm {
                    c.stats = CacheStats::default();
                }
                let mut out = Outbox::default();
                read(&mut c, i as u64, &mut out, 1, d.sample(&mut rng));
                answer_backend(&mut c, i as u64, out, 1);
            }
            let measured = c.stats.hit_ratio();
            let predicted = che(&d, f64::from(cap));
            // 200 000 references: binomial standard error ≤ 0.0011, inflated ×3 for the
            // correlation between successive hits (a key stays cached for ~T references);
            // Che's approximation itself is within ~1% absolute for C ≥ 100 (Fricker, Robert &
            // Roberts 2012). Tolerance 0.015 — the three settings span hit ratios 0.16–0.81.
            println!("n={n} C={cap} s={s}: LRU hit ratio {measured:.4}, Che {predicted:.4}");
            assert!((measured - predicted).abs() < 0.015, "{measured} vs {predicted}");
        }
    }
}
