//! Time series of services, balancers, caches, queues and databases, sampled at window
//! boundaries.
//!
//! Components keep cumulative counters; the world samples them when the first event at or
//! after a window boundary is about to be applied. Nothing happened between the previous
//! event and that one, so the sample is exactly the state at the boundary — no events are
//! added to the run (its trace is unchanged) and the models need no clock of their own. A
//! window's figure is the difference of two samples (counters) or the sample at its end
//! (gauges). Samples are per component as the report shows it (a database's replicas summed),
//! so their size does not grow with the number of nodes.

use faultline_sim::Nanos;

use crate::world::{Actor, Component};

/// Four figures per component; what each means depends on the kind (see [`sample`]).
pub type Row = [u64; 4];

/// Service (instances summed), first row: busy-worker and queue-length integrals over time
/// (worker·ns and request·ns, so a window's difference over its length is the window's time
/// average), downstream retries and attempt timeouts.
pub const SVC_BUSY_AREA: usize = 0;
pub const SVC_QUEUE_AREA: usize = 1;
pub const SVC_RETRIES: usize = 2;
pub const SVC_TIMEOUTS: usize = 3;
/// Service, second row ([`Layout::service_counts`]): arrivals, answered ok, answered with an
/// error (its own and injected ones), turned away (queue full or rate limited).
pub const SVC_ARRIVALS: usize = 0;
pub const SVC_OK: usize = 1;
pub const SVC_ERRORS: usize = 2;
pub const SVC_REJECTED: usize = 3;
/// Balancer: forwarded, no backend, timeouts (counters), failover tier in use + 1, 0 when no
/// backend is healthy (gauge).
pub const BAL_FORWARDED: usize = 0;
pub const BAL_NO_BACKEND: usize = 1;
pub const BAL_TIMEOUTS: usize = 2;
pub const BAL_TIER: usize = 3;
/// Balancer, second row ([`Layout::balancer_ejected`]): backends ejected by outlier detection
/// (gauge; 0 without it). Its other three figures are unused.
pub const BAL_EJECTED: usize = 0;
/// Cache, first row: hits, misses, coalesced, backend reads.
pub const CACHE_HITS: usize = 0;
pub const CACHE_MISSES: usize = 1;
pub const CACHE_COALESCED: usize = 2;
pub const CACHE_BACKEND_READS: usize = 3;
/// Cache, second row ([`Layout::cache_counts`]): requests shed (deadline propagation; 0 for a
/// cache that does not propagate deadlines). Its other three figures are unused.
pub const CACHE_SHED: usize = 0;
/// Queue: published, acked, dead-lettered (counters), backlog (gauge).
pub const QUEUE_PUBLISHED: usize = 0;
pub const QUEUE_ACKED: usize = 1;
pub const QUEUE_DEAD_LETTERED: usize = 2;
pub const QUEUE_BACKLOG: usize = 3;
/// Queue, second row ([`Layout::queue_ages`]): the age of the oldest unacknowledged message
/// (gauge, ns; 0 when there is none). Its other three figures are unused.
pub const QUEUE_OLDEST_AGE: usize = 0;
/// Database: served, turned away (unavailable, rejected, errors), redirects (counters),
/// shards without a live leader (gauge).
pub const DB_SERVED: usize = 0;
pub const DB_FAILED: usize = 1;
pub const DB_REDIRECTS: usize = 2;
pub const DB_LEADERLESS: usize = 3;

/// Samples taken at window boundaries: `samples[w]` is the state at `w × window`.
#[derive(Clone, Debug)]
pub struct Sampler {
    window: Nanos,
    next: Nanos,
    /// Component slots: services (two each), balancers (two each), caches (two each), queues (two each),
    /// databases (spec order).
    slots: usize,
    pub samples: Vec<Vec<Row>>,
    /// Requests served per database shard (all databases' shards in order), when there are at
    /// most [`MAX_SAMPLED_SHARDS`].
    pub shard_samples: Vec<Vec<u64>>,
    shards: usize,
    /// Samples kept at most: every window up to the run's end (the scenario's duration and the
    /// longest drain its requests and sagas can need), but never more than the scenario's
    /// windows plus 100 000 (what validation allows a workload's drain), so that a clock that
    /// jumps far ahead cannot allocate a sample per skipped window; later windows would then
    /// show up as one lump in the last, partial one.
    max_samples: usize,
}

/// Above this many shards in all, per-shard series are not kept (their samples would grow with
/// the size of the world).
pub const MAX_SAMPLED_SHARDS: usize = 1024;

/// Where each kind's rows start in a sample.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub services: usize,
    pub balancers: usize,
    pub caches: usize,
    pub queues: usize,
    pub databases: usize,
}

impl Layout {
    /// Slots for these component counts (databases after the rest).
    pub fn slots(&self, databases: usize) -> usize {
        self.databases + databases
    }

    /// Service `g`'s first row (time integrals, downstream counters).
    pub fn service(&self, g: usize) -> usize {
        self.services + 2 * g
    }

    /// Service `g`'s second row (request counters).
    pub fn service_counts(&self, g: usize) -> usize {
        self.services + 2 * g + 1
    }

    /// Balancer `g`'s first row (forwarded, no backend, timeouts, tier).
    pub fn balancer(&self, g: usize) -> usize {
        self.balancers + 2 * g
    }

    /// Balancer `g`'s second row (backends ejected).
    pub fn balancer_ejected(&self, g: usize) -> usize {
        self.balancers + 2 * g + 1
    }

    /// Cache `g`'s first row (hits, misses, coalesced, backend reads).
    pub fn cache(&self, g: usize) -> usize {
        self.caches + 2 * g
    }

    /// Cache `g`'s second row (shed).
    pub fn cache_counts(&self, g: usize) -> usize {
        self.caches + 2 * g + 1
    }

    /// Queue `g`'s first row (published, acked, dead-lettered, backlog).
    pub fn queue(&self, g: usize) -> usize {
        self.queues + 2 * g
    }

    /// Queue `g`'s second row (the oldest message's age).
    pub fn queue_ages(&self, g: usize) -> usize {
        self.queues + 2 * g + 1
    }

    /// `queues` counts every broker: the scenario's queues, then the topics of choreographed
    /// workflows (the order of the report's `queues`, which is the order of their actors).
    pub fn new(services: usize, balancers: usize, caches: usize, queues: usize) -> Layout {
        // A service has eight figures, a balancer, a cache and a queue five: two rows each.
        let b = 2 * services;
        let c = b + 2 * balancers;
        let q = c + 2 * caches;
        Layout { services: 0, balancers: b, caches: c, queues: q, databases: q + 2 * queues }
    }
}

impl Sampler {
    /// `shard_offsets`: where each database's shards start in the per-shard samples, and the
    /// total as the last entry. `end` is the latest a run can go on to (duration and drain).
    pub fn new(window: Nanos, slots: usize, shards: usize, duration: Nanos, end: Nanos) -> Sampler {
        let shards = if shards <= MAX_SAMPLED_SHARDS { shards } else { 0 };
        // The sample at time 0 is all zeros: counters start there.
        Sampler {
            window: window.max(1),
            next: window.max(1),
            slots,
            samples: vec![vec![[0; 4]; slots]],
            shard_samples: vec![vec![0; shards]],
            shards,
            max_samples: {
                let windows = |t: Nanos| usize::try_from(t / window.max(1)).unwrap_or(usize::MAX);
                windows(end).saturating_add(2).min(windows(duration).saturating_add(100_001))
            },
        }
    }

    /// Whether a sample is due before an event at `now` is applied.
    #[inline(always)]
    pub fn due(&self, now: Nanos) -> bool {
        now >= self.next
    }

    /// Takes the samples of every boundary up to `now` (all equal: nothing happened between).
    #[cold]
    pub fn take(
        &mut self,
        now: Nanos,
        layout: Layout,
        actors: &[Actor],
        shard_base: &[usize],
        is_up: impl Fn(usize) -> bool,
    ) {
        while self.next <= now {
            if self.samples.len() >= self.max_samples {
                self.next = Nanos::MAX;
                break;
            }
            // Integrals are taken at the boundary itself (the state held since the last event).
            let (row, shards) = sample(self.next, self.slots, layout, actors, shard_base, self.shards, &is_up);
            self.samples.push(row);
            self.shard_samples.push(shards);
            self.next = self.next.saturating_add(self.window);
        }
    }

    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Per window: counter `k` of slot `slot` over `[w, w + 1)` windows, with a last, partial
    /// window ending at `now` (from the `current` state), padded to `len` windows.
    pub fn deltas(&self, slot: usize, k: usize, current: &[Row], len: usize) -> Vec<u64> {
        let at = |w: usize| self.samples.get(w).map_or(current[slot][k], |s| s[slot][k]);
        (0..len.max(self.samples.len())).map(|w| at(w + 1).saturating_sub(at(w))).collect()
    }

    /// Per window: gauge `k` of slot `slot` at the end of each window (the current state for the
    /// last one), padded to `len` windows.
    pub fn gauges(&self, slot: usize, k: usize, current: &[Row], len: usize) -> Vec<u64> {
        (0..len.max(self.samples.len()))
            .map(|w| self.samples.get(w + 1).map_or(current[slot][k], |s| s[slot][k]))
            .collect()
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Per window: requests served by shard `i` (of all databases' shards in order).
    pub fn shard_deltas(&self, i: usize, current: &[u64], len: usize) -> Vec<u64> {
        let at = |w: usize| self.shard_samples.get(w).map_or(current[i], |s| s[i]);
        (0..len.max(self.shard_samples.len())).map(|w| at(w + 1).saturating_sub(at(w))).collect()
    }
}

/// The figures of every slot at `now` (no event between the last one applied and `now`), and
/// the per-shard served counts (empty when `shards` is 0). `shard_base[d]` is where database
/// `d`'s shards start.
pub fn sample(
    now: Nanos,
    slots: usize,
    layout: Layout,
    actors: &[Actor],
    shard_base: &[usize],
    shards: usize,
    is_up: impl Fn(usize) -> bool,
) -> (Vec<Row>, Vec<u64>) {
    let mut rows = vec![[0u64; 4]; slots];
    let mut served = vec![0u64; shards];
    // Per database, per shard: whether a live replica leads it.
    let mut led: Vec<Vec<bool>> = Vec::new();
    let mut broker = 0;
    for (i, a) in actors.iter().enumerate() {
        match &a.comp {
            Component::Balancer(b) => {
                let r = &mut rows[layout.balancer(a.group)];
                r[BAL_FORWARDED] += b.stats.forwarded;
                r[BAL_NO_BACKEND] += b.stats.no_backend;
                r[BAL_TIMEOUTS] += b.stats.timeouts;
                r[BAL_TIER] = b.picker.active_tier().map_or(0, |t| u64::from(t) + 1);
                rows[layout.balancer_ejected(a.group)][BAL_EJECTED] = b.ejected() as u64;
            }
            Component::Cache(c) => {
                let r = &mut rows[layout.cache(a.group)];
                r[CACHE_HITS] += c.stats.hits;
                r[CACHE_MISSES] += c.stats.misses;
                r[CACHE_COALESCED] += c.stats.coalesced;
                r[CACHE_BACKEND_READS] += c.stats.backend_reads;
                rows[layout.cache_counts(a.group)][CACHE_SHED] += c.stats.shed;
            }
            Component::Broker(b) => {
                // Brokers take the queue slots in actor order, as the report lists them.
                rows[layout.queue_ages(broker)][QUEUE_OLDEST_AGE] = b.oldest_age(now);
                let r = &mut rows[layout.queue(broker)];
                broker += 1;
                r[QUEUE_PUBLISHED] += b.stats.published;
                r[QUEUE_ACKED] += b.stats.acked;
                r[QUEUE_DEAD_LETTERED] += b.stats.dead_lettered;
                r[QUEUE_BACKLOG] += b.backlog();
            }
            Component::Replica(rep) => {
                let r = &mut rows[layout.databases + a.group];
                let st = &rep.stats;
                if shards > 0 {
                    served[shard_base[a.group] + rep.shard() as usize] += st.served;
                }
                r[DB_SERVED] += st.served;
                r[DB_FAILED] += st.unavailable + st.rejected + st.shed + st.errors;
                r[DB_REDIRECTS] += st.redirects;
                if led.len() <= a.group {
                    led.resize(a.group + 1, Vec::new());
                }
                let shards = &mut led[a.group];
                let s = rep.shard() as usize;
                if shards.len() <= s {
                    shards.resize(s + 1, false);
                }
                shards[s] |= rep.is_leader() && is_up(i);
            }
            Component::Service(svc) => {
                let r = &mut rows[layout.service(a.group)];
                let st = &svc.stats;
                // Saturating: u64 worker·ns is 584 worker-years.
                r[SVC_BUSY_AREA] += u64::try_from(st.busy.area(now)).unwrap_or(u64::MAX);
                r[SVC_QUEUE_AREA] += u64::try_from(st.queue_len.area(now)).unwrap_or(u64::MAX);
                r[SVC_RETRIES] += svc.calls.stats.retries;
                r[SVC_TIMEOUTS] += svc.calls.stats.attempt_timeouts;
                let c = &mut rows[layout.service_counts(a.group)];
                c[SVC_ARRIVALS] += st.arrivals;
                c[SVC_OK] += st.ok;
                c[SVC_ERRORS] += st.all_errors();
                c[SVC_REJECTED] += st.turned_away();
            }
            Component::Client(_) | Component::Participant(_) | Component::Coordinator(_) => {}
        }
    }
    for (g, shards) in led.iter().enumerate() {
        rows[layout.databases + g][DB_LEADERLESS] = shards.iter().filter(|&&l| !l).count() as u64;
    }
    (rows, served)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_and_gauges_per_window_with_a_partial_last_one() {
        let mut s = Sampler::new(10, 1, 0, 100, 100);
        s.samples.push(vec![[5, 0, 0, 7]]); // at 10
        s.samples.push(vec![[9, 0, 0, 2]]); // at 20
        let now = [[12, 0, 0, 4]];
        assert_eq!(s.deltas(0, 0, &now, 0), vec![5, 4, 3]);
        assert_eq!(s.gauges(0, 3, &now, 4), vec![7, 2, 4, 4]);
    }
}
