//! Outbound calls: picking a backend, per-attempt timeouts, retries with exponential backoff and
//! jitter, and a retry budget. Shared by workloads and services (one sans-IO sub-machine, so the
//! retry arithmetic is the same everywhere).

use std::collections::VecDeque;

use faultline_sim::{Nanos, Stream};

use crate::deadlines::Deadlines;
use crate::msg::{ActorId, CallId, Msg, MsgKind, NO_DEADLINE, Op, Outbox, Req, Resp, Status, Timer};
use crate::outlier::Outliers;
use crate::slab::Slab;

/// How a caller (or a load balancer) chooses among backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    RoundRobin,
    Random,
    LeastOutstanding,
    /// Two random choices, the one with fewer outstanding requests wins.
    PowerOfTwo,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round-robin",
            Strategy::Random => "random",
            Strategy::LeastOutstanding => "least-outstanding",
            Strategy::PowerOfTwo => "power-of-two",
        }
    }
}

/// A backend chooser with outstanding-request counts. Backends can be marked unhealthy (by
/// health checks) or ejected (by outlier detection); only healthy ones that are not ejected are
/// picked, or, if every healthy one is ejected, the healthy ones (Envoy's panic routing: better
/// a backend that failed than none). With failover tiers, only the backends of the most
/// preferred tier that has any are picked (active-passive).
#[derive(Clone, Debug)]
pub struct Picker {
    pub backends: Vec<ActorId>,
    outstanding: Vec<u32>,
    healthy: Vec<bool>,
    ejected: Vec<bool>,
    /// Failover tier of each backend (0 = preferred); empty = one tier for all (active-active).
    tiers: Vec<u16>,
    /// Indices of the backends that may be picked, in order: the healthy ones of the tier in
    /// use (rebuilt when health changes, which is rare, so tiers cost nothing per pick).
    live: Vec<usize>,
    strategy: Strategy,
    next: usize,
}

impl Picker {
    pub fn new(backends: Vec<ActorId>, strategy: Strategy) -> Picker {
        let n = backends.len();
        Picker {
            backends,
            outstanding: vec![0; n],
            healthy: vec![true; n],
            ejected: vec![false; n],
            tiers: Vec::new(),
            live: (0..n).collect(),
            strategy,
            next: 0,
        }
    }

    /// Gives each backend a failover tier (`tiers[i]` for backend `i`; lower is preferred).
    /// Empty keeps one tier for all.
    pub fn with_tiers(mut self, tiers: &[u16]) -> Picker {
        assert!(tiers.is_empty() || tiers.len() == self.backends.len(), "one tier per backend");
        self.tiers = tiers.to_vec();
        self.rebuild();
        self
    }

    pub fn set_healthy(&mut self, i: usize, healthy: bool) {
        if self.healthy[i] != healthy {
            self.healthy[i] = healthy;
            self.rebuild();
        }
    }

    /// Takes backend `i` out of (or puts it back into) the candidates, apart from its health.
    pub fn set_ejected(&mut self, i: usize, ejected: bool) {
        if self.ejected[i] != ejected {
            self.ejected[i] = ejected;
            self.rebuild();
        }
    }

    pub fn is_ejected(&self, i: usize) -> bool {
        self.ejected[i]
    }

    fn rebuild(&mut self) {
        let n = self.backends.len();
        let panic = !(0..n).any(|k| self.healthy[k] && !self.ejected[k]);
        let usable = |k: &usize| self.healthy[*k] && (panic || !self.ejected[*k]);
        let best = (0..n).filter(usable).filter_map(|k| self.tiers.get(k).copied()).min();
        self.live = (0..n).filter(usable).filter(|&k| best.is_none_or(|b| self.tiers[k] == b)).collect();
    }

    pub fn is_healthy(&self, i: usize) -> bool {
        self.healthy[i]
    }

    /// The failover tier traffic goes to (0 without tiers); `None` when no backend is healthy.
    pub fn active_tier(&self) -> Option<u16> {
        let &first = self.live.first()?;
        Some(self.tiers.get(first).copied().unwrap_or(0))
    }

    /// Index of the chosen backend, counted as outstanding until [`Picker::done`].
    #[inline]
    pub fn pick(&mut self, rng: &mut Stream) -> Option<usize> {
        let n = self.live.len();
        if n == 0 {
            return None;
        }
        let j = match self.strategy {
            Strategy::RoundRobin => {
                let j = self.next % n;
                self.next = (j + 1) % n;
                j
            }
            Strategy::Random => rng.below(n as u64) as usize,
            Strategy::LeastOutstanding => {
                // Scan from a rotating start so ties spread instead of piling on one backend.
                let start = self.next % n;
                self.next = (start + 1) % n;
                (0..n).map(|k| (start + k) % n).min_by_key(|&j| self.outstanding[self.live[j]]).expect("n > 0")
            }
            Strategy::PowerOfTwo => {
                let a = rng.below(n as u64) as usize;
                let b = if n > 1 { (a + 1 + rng.below(n as u64 - 1) as usize) % n } else { a };
                if self.outstanding[self.live[b]] < self.outstanding[self.live[a]] { b } else { a }
            }
        };
        let i = self.live[j];
        self.outstanding[i] += 1;
        Some(i)
    }

    #[inline]
    pub fn done(&mut self, i: usize) {
        self.outstanding[i] = self.outstanding[i].saturating_sub(1);
    }

    /// Stops counting backend `i`'s outstanding requests (its owner will not call `done` for
    /// them).
    pub fn forget(&mut self, i: usize) {
        self.outstanding[i] = 0;
    }

    #[cfg(test)]
    pub fn outstanding(&self, i: usize) -> u32 {
        self.outstanding[i]
    }

    pub fn reset(&mut self) {
        self.outstanding.iter_mut().for_each(|o| *o = 0);
        self.next = 0;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    None,
    /// Uniform in `[0, backoff]` (AWS "full jitter").
    Full,
    /// `backoff/2 + uniform[0, backoff/2]`.
    Equal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts including the first (1 = no retries).
    pub max_attempts: u32,
    pub backoff_base: Nanos,
    pub backoff_max: Nanos,
    pub jitter: Jitter,
    /// Retry budget: each first attempt earns `ratio` tokens, each retry and hedge spends one; at most
    /// `RETRY_BUDGET_CAP` tokens are kept. `None` = unlimited retries.
    pub budget_ratio: Option<f64>,
}

/// Tokens a retry budget starts with and can bank (a small reserve for isolated failures).
pub const RETRY_BUDGET_CAP: f64 = 10.0;

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 1,
            backoff_base: 10_000_000,
            backoff_max: 1_000_000_000,
            jitter: Jitter::Full,
            budget_ratio: None,
        }
    }
}

impl RetryPolicy {
    /// Backoff before attempt `attempt + 1`, given that `attempt` attempts failed (≥ 1).
    pub fn backoff(&self, attempt: u32, rng: &mut Stream) -> Nanos {
        let exp = self.backoff_base.saturating_mul(1u64 << (attempt - 1).min(62));
        let b = exp.min(self.backoff_max);
        match self.jitter {
            Jitter::None => b,
            Jitter::Full => (rng.f64() * b as f64) as Nanos,
            Jitter::Equal => b / 2 + (rng.f64() * (b / 2) as f64) as Nanos,
        }
    }
}

/// Where a call goes: one actor (a load balancer), a pool picked client-side, or a sharded
/// database (the client library routes by key).
#[derive(Clone, Debug)]
pub enum Target {
    Actor(ActorId),
    Pool(Picker),
    Db(DbRouter),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharding {
    /// Shard = mix(key) mod shards: even spread whatever the key order.
    Hash,
    /// Contiguous key ranges of `key_space / shards` keys: a popular range makes a hot shard.
    Range { key_space: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFrom {
    Leader,
    /// The replica closest to the caller (by link class), then the next ones on retries.
    Nearest,
}

#[derive(Clone, Debug)]
pub struct ShardRoute {
    /// The shard's replicas, by replica index.
    pub replicas: Vec<ActorId>,
    /// Replica indices from nearest to farthest from this caller.
    pub nearest_first: Vec<u16>,
    /// Where writes (and leader reads) go; learned from redirects.
    pub leader_hint: u16,
}

/// The client side of a sharded database.
#[derive(Clone, Debug)]
pub struct DbRouter {
    pub shards: Vec<ShardRoute>,
    pub sharding: Sharding,
    pub read_from: ReadFrom,
}

impl DbRouter {
    #[inline]
    pub fn shard_of(&self, key: u64) -> usize {
        shard_of(self.sharding, self.shards.len(), key)
    }

    /// (shard, replica index) for attempt `attempt` (1-based) of `req`.
    #[inline]
    fn route(&self, req: &Req, attempt: u32) -> (usize, u16) {
        let s = self.shard_of(req.key);
        let r = &self.shards[s];
        let replica = match (req.op, self.read_from) {
            (Op::Read, ReadFrom::Nearest) => r.nearest_first[(attempt as usize - 1) % r.nearest_first.len()],
            _ => r.leader_hint,
        };
        (s, replica)
    }
}

/// Which shard `key` lives on.
#[inline]
pub fn shard_of(sharding: Sharding, shards: usize, key: u64) -> usize {
    match sharding {
        Sharding::Hash => {
            let mut x = key;
            (faultline_sim::rng::splitmix64(&mut x) % shards as u64) as usize
        }
        Sharding::Range { key_space } => {
            ((u128::from(key) * shards as u128 / u128::from(key_space.max(1))) as usize).min(shards - 1)
        }
    }
}

/// Redirects followed within one attempt before it counts as failed (a leader change in
/// progress can bounce a request between replicas).
const MAX_REDIRECTS: u8 = 3;

/// Client-side circuit breaker: after `failures` consecutive failed attempts it opens and fails
/// calls at once for `open_for`; then it lets one trial call through (half-open) and closes on
/// its success or opens again on its failure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerPolicy {
    pub failures: u32,
    pub open_for: Nanos,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed {
        consecutive_failures: u32,
    },
    Open {
        until: Nanos,
    },
    /// A trial call is in flight (in this slot of the calls in flight); other calls fail fast
    /// until it resolves, and only its outcome moves the breaker.
    HalfOpen {
        trial: u32,
    },
}

/// [`BreakerState::HalfOpen`]'s trial before its call has a slot.
const NO_TRIAL: u32 = u32::MAX;

#[derive(Clone, Debug)]
pub struct CallTarget {
    pub target: Target,
    /// Per-attempt deadline.
    pub timeout: Nanos,
    pub retry: RetryPolicy,
    /// Request kind sent to the callee; `None`: each request's own (a workload's mix picks it
    /// per request). A service's call names its callee's kind, never forwarding its own.
    pub class: Option<u8>,
    /// Send a second copy of an attempt to another backend if no answer came after this long;
    /// the first answer wins.
    pub hedge_after: Option<Nanos>,
    pub breaker: Option<BreakerPolicy>,
    pub breaker_state: BreakerState,
    /// Overrides the forwarded operation (publishing to a queue is always a write).
    pub op: Option<Op>,
    /// Outlier detection over a pool's backends (client-side balancing only).
    pub outliers: Option<Box<Outliers>>,
}

impl CallTarget {
    pub fn new(target: Target, timeout: Nanos, retry: RetryPolicy) -> CallTarget {
        CallTarget {
            target,
            timeout,
            retry,
            class: Some(0),
            hedge_after: None,
            breaker: None,
            breaker_state: BreakerState::Closed { consecutive_failures: 0 },
            op: None,
            outliers: None,
        }
    }

    /// Whether the breaker lets a call through now (moving Open → HalfOpen when it is time).
    fn admit(&mut self, now: Nanos, stats: &mut CallStats) -> bool {
        let Some(_) = self.breaker else { return true };
        match self.breaker_state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if now >= until => {
                self.breaker_state = BreakerState::HalfOpen { trial: NO_TRIAL };
                stats.breaker_trials += 1;
                true
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen { .. } => false,
        }
    }

    /// The outcome of an attempt of the call in slot `slot`.
    fn record(&mut self, now: Nanos, slot: u32, ok: bool, stats: &mut CallStats) {
        let Some(b) = self.breaker else { return };
        self.breaker_state = match (self.breaker_state, ok) {
            // Calls admitted before it opened may still end while it is open, or while its trial
            // runs: it stays open for its whole time, and only the trial decides what follows.
            (BreakerState::Open { until }, _) => BreakerState::Open { until },
            (BreakerState::HalfOpen { trial }, _) if trial != slot => BreakerState::HalfOpen { trial },
            (_, true) => BreakerState::Closed { consecutive_failures: 0 },
            (BreakerState::Closed { consecutive_failures }, false) if consecutive_failures + 1 < b.failures => {
                BreakerState::Closed { consecutive_failures: consecutive_failures + 1 }
            }
            (_, false) => {
                stats.breaker_opened += 1;
                BreakerState::Open { until: now.saturating_add(b.open_for) }
            }
        };
    }
}

/// Final result of a call, after retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallResult {
    Ok,
    Failed(Status),
    TimedOut,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The owner's cookie given to [`Calls::start`].
    pub token: u64,
    pub result: CallResult,
    /// The successful response's value (0 otherwise).
    pub value: u64,
    pub attempts: u32,
    pub started: Nanos,
    /// Which of the owner's targets this call went to.
    pub target: u16,
    /// Whether the callee may have acted on the call: always for `Ok`; for a failure, unless
    /// every attempt was turned away before any work (`Rejected`: a full queue) or none was
    /// sent (an open breaker). A timed-out attempt may still have been processed, and an
    /// `Error` or `Unavailable` may come after partial work (a database leader stepping down
    /// with the write pending): those count as maybe applied.
    pub maybe_applied: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    pub calls: u64,
    /// Attempts made: each call's first (unless its breaker refused it), its retries.
    pub attempts: u64,
    /// Attempts after a call's first, counted when made: a retry whose backoff a crash cut
    /// short was never one.
    pub retries: u64,
    pub attempt_timeouts: u64,
    pub attempt_failures: u64,
    /// Retries refused because the retry budget was empty.
    pub budget_exhausted: u64,
    pub hedges: u64,
    /// Calls failed at once by an open circuit breaker.
    pub breaker_rejected: u64,
    pub breaker_opened: u64,
    pub breaker_trials: u64,
    /// Database redirects to a (new) leader followed.
    pub redirects: u64,
    /// Backends ejected by outlier detection (client-side balancing), each ejection counted.
    pub ejections: u64,
}

const NO_BACKEND: u32 = u32::MAX;

/// One step of a database operation as the client saw it: recorded, when
/// [`Calls::record_ops`] is on, for each attempt sent to a database target. Every attempt is
/// its own operation (a retry is a new one): an attempt that timed out may still have taken
/// effect, which is exactly what a history's `info` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpEvent {
    pub t: Nanos,
    /// The caller's target it went to.
    pub target: u16,
    /// The attempt's call id (the id its hedge copy also answers to); a completion names the
    /// id of its invocation.
    pub attempt: CallId,
    /// The caller's token for the call (a closed-loop workload's user: a session).
    pub token: u64,
    pub step: OpStep,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpStep {
    Invoke {
        op: Op,
        key: u64,
    },
    /// Answered `Ok` with this value (a version).
    Ok {
        value: u64,
    },
    /// Answered with a failure status (all copies).
    Failed(Status),
    /// No answer before the attempt's deadline.
    TimedOut,
}

/// 44 bytes, aligned to 4: a call slot (with the slab's 4-byte generation) is 48 bytes, not 56
/// (memory per in-flight request; see docs/performance.md). The four counters and flags share
/// one byte ([`Pending::flags`]). `attempt` comes first so that, behind the generation, the
/// 8-byte fields sit at 8-byte offsets of the slot.
#[derive(Clone, Copy, Debug)]
#[repr(C, packed(4))]
struct Pending {
    attempt: u32,
    token: u64,
    started: Nanos,
    // The request's fields, not a `Req`: its padding made a call slot 64 bytes instead of 56.
    key: u64,
    /// Backend indices (in a pool) of the attempt and of its hedge copy; `NO_BACKEND` if none.
    backend: [u32; 2],
    target: u16,
    /// Database targets: the replica the current attempt's first copy went to.
    replica: u16,
    class: u8,
    op: Op,
    /// Bits 0–1: copies of the current attempt still awaiting an answer (0 while in backoff;
    /// at most 2, so `+ 1` and `- 1` on the byte count them); [`HEDGED`], [`MAYBE_APPLIED`]
    /// (some attempt may have been processed, see [`Outcome::maybe_applied`]); bits 4–5:
    /// redirects followed in this attempt (at most [`MAX_REDIRECTS`]).
    flags: u8,
}

/// [`Pending::flags`]: the copies outstanding.
const OUTSTANDING: u8 = 0b11;
/// [`Pending::flags`]: the current attempt's hedge copy was considered.
const HEDGED: u8 = 1 << 2;
/// [`Pending::flags`]: some attempt may have been processed.
const MAYBE_APPLIED: u8 = 1 << 3;
/// [`Pending::flags`]: one redirect (the count is bits 4–5).
const REDIRECT: u8 = 1 << 4;

const _: () = assert!(MAX_REDIRECTS <= 3, "redirects are counted in two bits");

impl Pending {
    #[inline]
    fn req(&self) -> Req {
        Req::new(self.class, self.op, self.key)
    }

    #[inline]
    fn outstanding(&self) -> u8 {
        self.flags & OUTSTANDING
    }

    #[inline]
    fn redirects(&self) -> u8 {
        self.flags / REDIRECT
    }

    #[inline]
    fn maybe_applied(&self) -> bool {
        self.flags & MAYBE_APPLIED != 0
    }
}

/// The outbound-call machine of one component.
///
/// Call ids are slab keys whose generation is always even; a hedge copy of an attempt uses the
/// same id with the low bit set, so both copies find the same pending call.
///
/// Attempt deadlines: a target's timeout is fixed, so its deadlines wait in a [`Deadlines`]
/// FIFO per target behind a single engine timer, instead of one queued event per attempt.
#[derive(Debug)]
pub struct Calls {
    pub targets: Vec<CallTarget>,
    inflight: Slab<Pending>,
    rng: Stream,
    tokens: f64,
    pub stats: CallStats,
    /// Attempt deadlines, per target.
    deadlines: Vec<Deadlines>,
    /// Outcomes beyond the first produced by one timer (several deadlines can pass at once),
    /// handed out in deadline order.
    ready: VecDeque<Outcome>,
    /// Steps of database operations, when recording (drained by the world after each event).
    ops: Option<Vec<OpEvent>>,
    /// Deadline propagation, when the owner asks for it: the deadline each call inherited from
    /// the request it is made for, by slab slot (a side table, so that call slots stay 48
    /// bytes for owners that do not propagate).
    caps: Option<Vec<Nanos>>,
}

impl Calls {
    pub fn new(targets: Vec<CallTarget>, rng: Stream) -> Calls {
        let n = targets.len();
        Calls {
            targets,
            inflight: Slab::default(),
            rng,
            tokens: RETRY_BUDGET_CAP,
            stats: CallStats::default(),
            deadlines: (0..n).map(|_| Deadlines::default()).collect(),
            ready: VecDeque::new(),
            ops: None,
            caps: None,
        }
    }

    /// Propagate deadlines: calls started with [`Calls::start_until`] carry the deadline they
    /// inherit, stop waiting at it and make no retry or hedge after it.
    pub fn propagate_deadlines(&mut self) {
        self.caps.get_or_insert_with(Vec::new);
    }

    /// The deadline call `id` inherited ([`NO_DEADLINE`] when none, or when not propagating).
    #[inline]
    fn cap(&self, id: CallId) -> Nanos {
        self.caps.as_ref().map_or(NO_DEADLINE, |c| c[(id >> 32) as usize])
    }

    /// Record every attempt sent to a database target as [`OpEvent`]s.
    pub fn record_ops(&mut self) {
        self.ops.get_or_insert_with(Vec::new);
    }

    /// Moves the recorded steps into `into`, in the order they happened.
    pub fn drain_ops(&mut self, into: &mut Vec<OpEvent>) {
        if let Some(ops) = &mut self.ops {
            into.append(ops);
        }
    }

    #[inline]
    fn record_op(&mut self, now: Nanos, id: CallId, step: OpStep) {
        if let Some(ops) = &mut self.ops
            && let Some(p) = self.inflight.get(id)
            && matches!(self.targets[p.target as usize].target, Target::Db(_))
        {
            ops.push(OpEvent { t: now, target: p.target, attempt: id, token: p.token, step });
        }
    }

    /// Outcomes left over from the last [`Calls::on_timer`]; callers drain this after it.
    #[inline]
    pub fn pop_ready(&mut self) -> Option<Outcome> {
        self.ready.pop_front()
    }

    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Attempt deadlines waiting in the per-target FIFOs (met ones not yet skipped included):
    /// memory the world's budget counts too.
    pub fn deadlines_held(&self) -> usize {
        self.deadlines.iter().map(Deadlines::len).sum()
    }

    /// Starts a call of `req.op` on `req.key` to target `target` (the request kind comes from the
    /// target). The outcome comes back later from [`Calls::on_response`] or [`Calls::on_timer`]
    /// with `token`, or at once (returned here) when there is no backend or the breaker is open.
    pub fn start(&mut self, now: Nanos, out: &mut Outbox, target: usize, token: u64, req: Req) -> Option<Outcome> {
        self.start_until(now, out, target, token, req, NO_DEADLINE)
    }

    /// [`Calls::start`] for a request that must be answered by `cap` (deadline propagation,
    /// when on): the call's requests carry the earlier of their attempt's deadline and `cap`,
    /// an attempt still out at `cap` times out then, and no retry starts at or after `cap`.
    /// Without propagation `cap` is ignored.
    pub fn start_until(
        &mut self,
        now: Nanos,
        out: &mut Outbox,
        target: usize,
        token: u64,
        req: Req,
        cap: Nanos,
    ) -> Option<Outcome> {
        self.stats.calls += 1;
        let t = &mut self.targets[target];
        let req = Req { class: t.class.unwrap_or(req.class), op: t.op.unwrap_or(req.op), ..req };
        if !t.admit(now, &mut self.stats) {
            self.stats.breaker_rejected += 1;
            return Some(Outcome {
                token,
                result: CallResult::Failed(Status::Unavailable),
                value: 0,
                attempts: 0,
                started: now,
                target: target as u16,
                maybe_applied: false,
            });
        }
        if let Some(ratio) = t.retry.budget_ratio {
            self.tokens = (self.tokens + ratio).min(RETRY_BUDGET_CAP);
        }
        let id = self.inflight.insert(Pending {
            attempt: 1,
            token,
            started: now,
            key: req.key,
            backend: [NO_BACKEND; 2],
            target: target as u16,
            replica: 0,
            class: req.class,
            op: req.op,
            flags: 0,
        });
        if let BreakerState::HalfOpen { trial } = &mut self.targets[target].breaker_state
            && *trial == NO_TRIAL
        {
            *trial = (id >> 32) as u32;
        }
        if let Some(caps) = &mut self.caps {
            let slot = (id >> 32) as usize;
            if caps.len() <= slot {
                caps.resize(slot + 1, NO_DEADLINE);
            }
            caps[slot] = cap;
        }
        self.send_attempt(now, out, id)
    }

    /// Sends copy `copy` (0 = the attempt, 1 = its hedge) of the current attempt, sent at
    /// `sent`, telling the callee that we wait for it until the attempt's deadline (or the
    /// call's inherited one, if earlier).
    fn send_copy(&mut self, out: &mut Outbox, id: CallId, copy: usize, sent: Nanos) -> bool {
        let p = self.inflight.get_mut(id).expect("live call");
        let t = &mut self.targets[p.target as usize];
        let mut deadline = sent.saturating_add(t.timeout);
        if let Some(caps) = &self.caps {
            deadline = deadline.min(caps[(id >> 32) as usize]);
        }
        let to = match &mut t.target {
            Target::Actor(a) => *a,
            Target::Pool(picker) => {
                if let Some(o) = &mut t.outliers {
                    // No timer of its own: ejections due end at the next pick.
                    o.end_due(sent, picker);
                }
                match picker.pick(&mut self.rng) {
                    Some(i) => {
                        p.backend[copy] = i as u32;
                        picker.backends[i]
                    }
                    None => return false,
                }
            }
            Target::Db(router) => {
                let (s, r) = router.route(&p.req(), p.attempt + copy as u32);
                if copy == 0 {
                    p.replica = r;
                }
                router.shards[s].replicas[r as usize]
            }
        };
        debug_assert!(p.outstanding() < 2, "an attempt and its hedge at most");
        p.flags += 1; // one more copy outstanding
        // Rebuilt from its fields (`req()`): copied whole, a stored `Req` went through a stack
        // temporary that was read back misaligned to how it was written (a store-forwarding
        // stall).
        out.send(to, Msg { call: id | copy as u64, kind: MsgKind::Request(Req { deadline, ..p.req() }) });
        true
    }

    fn send_attempt(&mut self, now: Nanos, out: &mut Outbox, id: CallId) -> Option<Outcome> {
        self.stats.attempts += 1;
        if !self.send_copy(out, id, 0, now) {
            return self.attempt_failed(now, out, id, CallResult::Failed(Status::Unavailable));
        }
        if self.ops.is_some() {
            let req = self.inflight.get(id).expect("live call").req();
            self.record_op(now, id, OpStep::Invoke { op: req.op, key: req.key });
        }
        let p = self.inflight.get_mut(id).expect("live call");
        p.flags &= !HEDGED;
        let k = p.target as usize;
        let t = &self.targets[k];
        let cap = self.cap(id);
        if cap < now.saturating_add(t.timeout) {
            // The inherited deadline comes first: a timer of its own (the FIFO holds only
            // deadlines of the target's fixed timeout), and no FIFO entry, whose timer would
            // only fire later to find the attempt over.
            out.timer(cap.saturating_sub(now), Timer::Cap(id));
        } else {
            self.deadlines[k].set(now, t.timeout, id, out, Timer::Deadline(k as u16));
        }
        if let Some(h) = t.hedge_after
            && h < t.timeout
        {
            out.timer(h, Timer::Hedge(id));
        }
        None
    }

    /// Releases the backend slot of one copy of the current attempt. `answer`, for outlier
    /// detection: whether its backend answered `Ok` (`Some(true)`), or failed or let the
    /// attempt time out (`Some(false)`); `None` when neither says anything of the backend (a
    /// hedge's loser, a deadline the caller passed on).
    #[inline(always)]
    fn release(&mut self, now: Nanos, id: CallId, copy: usize, answer: Option<bool>) {
        let p = self.inflight.get_mut(id).expect("live call");
        if p.backend[copy] != NO_BACKEND {
            let t = &mut self.targets[p.target as usize];
            if let Target::Pool(picker) = &mut t.target {
                let b = p.backend[copy] as usize;
                picker.done(b);
                if let (Some(ok), Some(o)) = (answer, &mut t.outliers)
                    && o.observe(now, b, ok, picker).is_some()
                {
                    self.stats.ejections += 1;
                }
            }
            p.backend[copy] = NO_BACKEND;
        }
    }

    /// The current attempt failed: retry after a backoff if allowed, else report the failure.
    fn attempt_failed(&mut self, now: Nanos, out: &mut Outbox, id: CallId, why: CallResult) -> Option<Outcome> {
        if self.ops.is_some() {
            // Database targets always have a replica to send to, so every failed attempt of one
            // was sent and recorded as invoked.
            let step = match why {
                CallResult::TimedOut => OpStep::TimedOut,
                CallResult::Failed(s) => OpStep::Failed(s),
                CallResult::Ok => unreachable!("a failed attempt"),
            };
            self.record_op(now, id, step);
        }
        let p = self.inflight.get_mut(id).expect("live call");
        // No copy outstanding, no redirect; whether some attempt may have been processed.
        let applied = if why != CallResult::Failed(Status::Rejected) { MAYBE_APPLIED } else { 0 };
        p.flags = (p.flags & (HEDGED | MAYBE_APPLIED)) | applied;
        let target = p.target as usize;
        if let Target::Db(router) = &mut self.targets[target].target
            && matches!(why, CallResult::TimedOut | CallResult::Failed(Status::Unavailable | Status::Redirect))
        {
            // The replica we believed leads is gone, lost its lease, or says it does not lead
            // without naming who does (staying would send every retry back to a replica that
            // knows no leader): try the next one, which either leads or redirects to whoever
            // does (what real database clients do) — unless another call already moved the hint
            // on (many calls in flight to a dead leader time out together; each moving it would
            // spin it back round to the dead one).
            let s = router.shard_of(p.key);
            let r = &mut router.shards[s];
            if r.leader_hint == p.replica {
                r.leader_hint = (r.leader_hint + 1) % r.replicas.len() as u16;
            }
        }
        self.targets[target].record(now, (id >> 32) as u32, false, &mut self.stats);
        let p = self.inflight.get(id).expect("live call");
        let retry = &self.targets[target].retry;
        if p.attempt < retry.max_attempts {
            let budget_ok = match retry.budget_ratio {
                None => true,
                Some(_) if self.tokens >= 1.0 => {
                    self.tokens -= 1.0;
                    true
                }
                Some(_) => {
                    self.stats.budget_exhausted += 1;
                    false
                }
            };
            if budget_ok {
                let wait = retry.backoff(p.attempt, &mut self.rng);
                if now.saturating_add(wait) >= self.cap(id) {
                    // The retry would start when nobody waits for the answer any more.
                    if retry.budget_ratio.is_some() {
                        self.tokens += 1.0;
                    }
                    return self.fail(id, why);
                }
                let new_id = self.inflight.rekey(id).expect("live call");
                self.inflight.get_mut(new_id).expect("live").attempt += 1;
                out.timer(wait, Timer::Retry(new_id));
                return None;
            }
        }
        self.fail(id, why)
    }

    /// The call is over, failed with the last attempt's result.
    fn fail(&mut self, id: CallId, why: CallResult) -> Option<Outcome> {
        let p = self.inflight.remove(id).expect("live call");
        Some(Outcome {
            token: p.token,
            result: why,
            value: 0,
            attempts: p.attempt,
            started: p.started,
            target: p.target,
            maybe_applied: p.maybe_applied(),
        })
    }

    /// A response arrived for one of our calls (stale ids are ignored).
    pub fn on_response(&mut self, now: Nanos, out: &mut Outbox, id: CallId, resp: Resp) -> Option<Outcome> {
        let (primary, copy) = (id & !1, (id & 1) as usize);
        let p = self.inflight.get(primary)?;
        if p.outstanding() == 0 {
            return None; // in backoff: the attempt this answers already timed out
        }
        self.release(now, primary, copy, Some(resp.status == Status::Ok));
        if resp.status == Status::Redirect {
            let p = self.inflight.get_mut(primary).expect("live call");
            if let Target::Db(router) = &mut self.targets[p.target as usize].target {
                let s = router.shard_of(p.key);
                let route = &mut router.shards[s];
                // A named leader is learnt even past the attempt's last redirect (the next
                // attempt goes there); a redirect naming none fails the attempt below, which
                // moves on to the next replica.
                let named = (resp.value as usize) < route.replicas.len();
                if named {
                    route.leader_hint = resp.value as u16;
                }
                if named && p.redirects() < MAX_REDIRECTS {
                    p.flags += REDIRECT;
                    p.flags -= 1; // this copy is answered (and sent again below)
                    self.stats.redirects += 1;
                    // Same id: the attempt's deadline still holds (the callee is told a later
                    // one, from now: databases do not read it).
                    self.send_copy(out, primary, copy, now);
                    return None;
                }
            }
        }
        if resp.status == Status::Ok {
            if self.ops.is_some() {
                self.record_op(now, primary, OpStep::Ok { value: resp.value });
            }
            self.release(now, primary, 1 - copy, None);
            let p = self.inflight.remove(primary).expect("live call");
            self.targets[p.target as usize].record(now, (primary >> 32) as u32, true, &mut self.stats);
            return Some(Outcome {
                token: p.token,
                result: CallResult::Ok,
                value: resp.value,
                attempts: p.attempt,
                started: p.started,
                target: p.target,
                maybe_applied: true,
            });
        }
        self.stats.attempt_failures += 1;
        let p = self.inflight.get_mut(primary).expect("live call");
        p.flags -= 1; // this copy is answered
        if p.outstanding() > 0 {
            return None; // the other copy may still succeed
        }
        self.attempt_failed(now, out, primary, CallResult::Failed(resp.status))
    }

    /// An attempt's deadline passed: unless it already finished, it timed out. `timeout`: the
    /// attempt's own timeout (for outlier detection, an error of each backend it waits for),
    /// not an inherited deadline (the caller's hurry is no fault of the backend's).
    fn expire(&mut self, now: Nanos, out: &mut Outbox, id: CallId, timeout: bool) -> Option<Outcome> {
        if self.inflight.get(id)?.outstanding() == 0 {
            return None;
        }
        let answer = if timeout { Some(false) } else { None };
        self.release(now, id, 0, answer);
        self.release(now, id, 1, answer);
        self.stats.attempt_timeouts += 1;
        self.attempt_failed(now, out, id, CallResult::TimedOut)
    }

    /// Handles `Deadline`, `Retry` and `Hedge` timers; other timers return `None`. When one
    /// timer produces several outcomes, the first is returned and the rest wait in
    /// [`Calls::pop_ready`].
    pub fn on_timer(&mut self, now: Nanos, out: &mut Outbox, t: Timer) -> Option<Outcome> {
        match t {
            Timer::Deadline(k) => {
                let k = k as usize;
                self.deadlines[k].fired();
                let mut first = None;
                // An attempt that finished, or whose call waits in backoff, is no longer live.
                while let Some(id) = self.deadlines[k]
                    .expired(now, out, t, |id| self.inflight.get(id).is_some_and(|p| p.outstanding() > 0))
                {
                    if let Some(o) = self.expire(now, out, id, true) {
                        if first.is_none() {
                            first = Some(o);
                        } else {
                            self.ready.push_back(o);
                        }
                    }
                }
                first
            }
            Timer::Cap(id) => self.expire(now, out, id, false),
            Timer::Retry(id) => {
                self.inflight.get(id)?;
                self.stats.retries += 1;
                self.send_attempt(now, out, id)
            }
            Timer::Hedge(id) => {
                let p = self.inflight.get(id)?;
                if p.outstanding() == 0 || p.flags & HEDGED != 0 {
                    return None;
                }
                let p = self.inflight.get_mut(id).expect("live");
                p.flags |= HEDGED;
                let t = &self.targets[p.target as usize];
                // The copy belongs to the attempt sent `hedge_after` ago, and shares its deadline.
                let sent = now - t.hedge_after.expect("a hedge timer");
                // A hedge is extra load on the callee as a retry is: with a retry budget it
                // needs a token too (as gRPC's retry throttling counts hedges), or is not sent.
                let budgeted = t.retry.budget_ratio.is_some();
                if budgeted {
                    if self.tokens < 1.0 {
                        self.stats.budget_exhausted += 1;
                        return None;
                    }
                    self.tokens -= 1.0;
                }
                if self.send_copy(out, id, 1, sent) {
                    self.stats.hedges += 1;
                } else if budgeted {
                    self.tokens += 1.0; // nothing was sent
                }
                None
            }
            _ => None,
        }
    }

    /// A crash: every call in flight is forgotten (their ids go stale).
    pub fn crash(&mut self) {
        self.inflight.clear();
        self.ready.clear();
        self.deadlines.iter_mut().for_each(Deadlines::clear);
        for t in &mut self.targets {
            if let Target::Pool(p) = &mut t.target {
                p.reset();
                if let Some(o) = &mut t.outliers {
                    o.reset(p); // what it learnt of the instances was in memory
                }
            }
            t.breaker_state = BreakerState::Closed { consecutive_failures: 0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_slot_is_48_bytes() {
        // Every in-flight request holds one at each caller on its path (docs/performance.md).
        assert_eq!(Slab::<Pending>::SLOT_BYTES, 48);
    }

    fn calls(max_attempts: u32, budget: Option<f64>) -> Calls {
        let retry = RetryPolicy { max_attempts, jitter: Jitter::None, budget_ratio: budget, ..RetryPolicy::default() };
        Calls::new(vec![CallTarget::new(Target::Actor(ActorId(9)), 100, retry)], Stream::new(1, "calls"))
    }

    fn last_call(out: &Outbox) -> CallId {
        out.sends.last().unwrap().1.call
    }

    #[test]
    fn retries_until_max_attempts_then_fails() {
        let mut c = calls(3, None);
        let mut out = Outbox::default();
        assert_eq!(c.start(0, &mut out, 0, 42, Req::DEFAULT), None);
        let mut id = last_call(&out);
        for attempt in 1..=2 {
            out = Outbox::default();
            assert_eq!(c.on_response(10, &mut out, id, Resp::status(Status::Error)), None, "attempt {attempt} retried");
            let (wait, t) = out.timers[0];
            assert_eq!(wait, 10_000_000 << (attempt - 1), "exponential backoff");
            out = Outbox::default();
            assert_eq!(c.on_timer(20, &mut out, t), None);
            id = last_call(&out);
        }
        out = Outbox::default();
        let o = c.on_response(30, &mut out, id, Resp::status(Status::Error)).unwrap();
        assert_eq!((o.token, o.result, o.attempts), (42, CallResult::Failed(Status::Error), 3));
        assert_eq!(c.stats.retries, 2);
        assert_eq!(c.in_flight(), 0);
    }

    fn request_deadline(out: &Outbox) -> Nanos {
        match out.sends.last().unwrap().1.kind {
            MsgKind::Request(r) => r.deadline,
            k => panic!("not a request: {k:?}"),
        }
    }

    #[test]
    fn a_request_carries_its_attempts_deadline_or_the_earlier_one_its_call_inherited() {
        // Without propagation the inherited deadline is ignored.
        let mut c = calls(3, None);
        let mut out = Outbox::default();
        c.start_until(1000, &mut out, 0, 1, Req::DEFAULT, 1050);
        assert_eq!((request_deadline(&out), out.timers.len()), (1100, 1), "timeout 100 ns, no timer of its own");
        // With it: the request says 1050, and a timer of its own ends the attempt then.
        let mut c = calls(3, Some(1.0));
        c.propagate_deadlines();
        let mut out = Outbox::default();
        c.start_until(1000, &mut out, 0, 1, Req::DEFAULT, 1050);
        assert_eq!(request_deadline(&out), 1050);
        let &(after, cap) = out.timers.iter().find(|(_, t)| matches!(t, Timer::Cap(_))).expect("a Cap timer");
        assert_eq!((after, out.timers.len()), (50, 1), "no entry in the target's FIFO, whose timer would find nothing");
        // At 1050 the attempt times out, and no retry starts at or after the deadline: the
        // call fails at once, its retry-budget token given back.
        let tokens = c.tokens;
        let mut out = Outbox::default();
        let o = c.on_timer(1050, &mut out, cap).expect("the call ends at its deadline");
        assert_eq!((o.result, o.attempts, c.stats.retries, c.in_flight()), (CallResult::TimedOut, 1, 0, 0));
        assert_eq!((c.tokens, out.timers.len()), (tokens, 0));
        // A deadline later than the attempt's changes nothing: no timer of its own; a failure
        // is retried after its backoff (10 ms) when that ends before the deadline, not after.
        let mut out = Outbox::default();
        c.start_until(2000, &mut out, 0, 2, Req::DEFAULT, 20_002_000);
        assert!(matches!(out.timers[..], [(100, Timer::Deadline(0))]), "the FIFO's timer: {:?}", out.timers);
        assert_eq!(request_deadline(&out), 2100);
        let id = last_call(&out);
        let mut out = Outbox::default();
        assert_eq!(c.on_response(2010, &mut out, id, Resp::status(Status::Error)), None, "retried");
        let (_, retry) = out.timers[0];
        let mut out = Outbox::default();
        assert_eq!(c.on_timer(10_002_010, &mut out, retry), None);
        let id = last_call(&out);
        let mut out = Outbox::default();
        // The next backoff (20 ms) would end after the deadline.
        let o = c.on_response(10_002_020, &mut out, id, Resp::status(Status::Error)).expect("no retry past it");
        assert_eq!((o.result, o.attempts), (CallResult::Failed(Status::Error), 2));
    }

    fn db_calls() -> Calls {
        let route = ShardRoute {
            replicas: vec![ActorId(10), ActorId(11), ActorId(12)],
            nearest_first: vec![0, 1, 2],
            leader_hint: 0,
        };
        let router = DbRouter { shards: vec![route], sharding: Sharding::Hash, read_from: ReadFrom::Leader };
        let retry = RetryPolicy { max_attempts: 1, ..RetryPolicy::default() };
        Calls::new(vec![CallTarget::new(Target::Db(router), 100, retry)], Stream::new(1, "calls"))
    }

    fn hint(c: &Calls) -> u16 {
        match &c.targets[0].target {
            Target::Db(r) => r.shards[0].leader_hint,
            _ => unreachable!(),
        }
    }

    #[test]
    fn calls_timing_out_together_on_a_dead_leader_move_the_hint_once() {
        let mut c = db_calls();
        let mut out = Outbox::default();
        for k in 0..5 {
            c.start(0, &mut out, 0, k, Req { op: Op::Write, ..Req::DEFAULT });
        }
        assert!(out.sends.iter().all(|(to, _)| *to == ActorId(10)), "all to the believed leader");
        let deadline = out.timers[0].1;
        out = Outbox::default();
        c.on_timer(100, &mut out, deadline);
        while c.pop_ready().is_some() {}
        assert_eq!(hint(&c), 1, "five timeouts of replica 0 move the hint from 0 to 1, not round to 0");
        // A redirect teaches the leader; a later timeout of an attempt sent before it does not
        // move the hint off what the redirect said.
        c.start(200, &mut out, 0, 9, Req { op: Op::Write, ..Req::DEFAULT });
        let id = last_call(&out);
        c.on_response(210, &mut out, id, Resp { status: Status::Redirect, value: 2 });
        assert_eq!(hint(&c), 2);
    }

    #[test]
    fn a_redirect_without_a_hint_sends_the_next_attempt_to_the_next_replica() {
        let mut c = db_calls();
        c.targets[0].retry.max_attempts = 3;
        let mut out = Outbox::default();
        c.start(0, &mut out, 0, 1, Req { op: Op::Write, ..Req::DEFAULT });
        let id = last_call(&out);
        // Replica 0 knows no leader (a leader without check-quorum that lost it, say).
        out = Outbox::default();
        assert_eq!(c.on_response(10, &mut out, id, Resp { status: Status::Redirect, value: u64::MAX }), None);
        assert_eq!(hint(&c), 1, "moved on, as after Unavailable");
        let retry = out.timers.iter().find(|(_, t)| matches!(t, Timer::Retry(_))).expect("retried").1;
        out = Outbox::default();
        c.on_timer(20, &mut out, retry);
        assert_eq!(out.sends.last().map(|(to, _)| *to), Some(ActorId(11)), "the retry goes to replica 1");
        // Replica 1 names the leader: followed within the attempt, and learnt.
        let id = last_call(&out);
        out = Outbox::default();
        assert_eq!(c.on_response(30, &mut out, id, Resp { status: Status::Redirect, value: 2 }), None);
        assert_eq!((hint(&c), out.sends.last().map(|(to, _)| *to)), (2, Some(ActorId(12))));
        // Leadership moving under the attempt: two more redirects are followed (three in all);
        // the fourth fails the attempt, but the leader it names is learnt for the retry.
        for (t, to) in [(40, 0u64), (50, 1)] {
            let id = last_call(&out);
            out = Outbox::default();
            assert_eq!(c.on_response(t, &mut out, id, Resp { status: Status::Redirect, value: to }), None);
            assert_eq!(out.sends.last().map(|(a, _)| *a), Some(ActorId(10 + to as u32)));
        }
        let id = last_call(&out);
        out = Outbox::default();
        assert_eq!(c.on_response(60, &mut out, id, Resp { status: Status::Redirect, value: 0 }), None);
        assert!(out.sends.is_empty(), "not followed: the attempt failed");
        assert_eq!(hint(&c), 0, "but learnt (not the replica after the one that answered)");
        let retry = out.timers.iter().find(|(_, t)| matches!(t, Timer::Retry(_))).expect("retried").1;
        out = Outbox::default();
        c.on_timer(70, &mut out, retry);
        assert_eq!(out.sends.last().map(|(to, _)| *to), Some(ActorId(10)));
    }

    #[test]
    fn late_response_to_a_timed_out_attempt_is_ignored() {
        let mut c = calls(2, None);
        let mut out = Outbox::default();
        c.start(0, &mut out, 0, 1, Req::DEFAULT);
        let first = last_call(&out);
        let timeout = out.timers[0].1;
        out = Outbox::default();
        assert_eq!(c.on_timer(100, &mut out, timeout), None); // retry scheduled
        assert_eq!(c.on_response(101, &mut out, first, Resp::status(Status::Ok)), None, "stale attempt");
        let retry = out.timers[0].1;
        out = Outbox::default();
        c.on_timer(110, &mut out, retry);
        let second = last_call(&out);
        assert_ne!(first, second);
        let o = c.on_response(120, &mut out, second, Resp::status(Status::Ok)).unwrap();
        assert_eq!((o.result, o.attempts), (CallResult::Ok, 2));
    }

    #[test]
    fn retry_budget_limits_retries() {
        let mut c = calls(2, Some(0.0));
        let mut retried = 0;
        for k in 0..20 {
            let mut out = Outbox::default();
            c.start(0, &mut out, 0, k, Req::DEFAULT);
            let id = last_call(&out);
            out = Outbox::default();
            if c.on_response(1, &mut out, id, Resp::status(Status::Error)).is_none() {
                retried += 1;
            }
        }
        assert_eq!(retried, RETRY_BUDGET_CAP as usize, "only the reserve is spent with ratio 0");
        assert_eq!(c.stats.budget_exhausted, 20 - RETRY_BUDGET_CAP as u64);
    }

    /// A call names its callee's kind, whatever kind the caller serves; a workload's call
    /// (`class: None`) sends each request as its own kind (the mix's pick).
    #[test]
    fn a_call_sends_its_kind_and_a_workload_call_the_requests_own() {
        let sent = |class: Option<u8>| {
            let mut t = CallTarget::new(Target::Actor(ActorId(9)), 100, RetryPolicy::default());
            t.class = class;
            let mut c = Calls::new(vec![t], Stream::new(1, "calls"));
            let mut out = Outbox::default();
            c.start(0, &mut out, 0, 1, Req::new(2, Op::Write, 7));
            match out.sends[0].1.kind {
                MsgKind::Request(r) => (r.class, r.op, r.key),
                k => panic!("{k:?}"),
            }
        };
        assert_eq!(sent(Some(1)), (1, Op::Write, 7));
        assert_eq!(sent(Some(0)), (0, Op::Write, 7));
        assert_eq!(sent(None), (2, Op::Write, 7));
    }

    /// The backoff law: before attempt k + 1 the ceiling is `min(max, base·2^(k−1))`; `none`
    /// waits exactly that, `full` is uniform on [0, ceiling) (mean ceiling/2, variance
    /// ceiling²/12), `equal` uniform on [ceiling/2, ceiling) (mean 3/4, variance ceiling²/48).
    /// 20 000 draws per attempt put the SE of each mean at 0.2% of the ceiling; means are
    /// checked within 4.5 SE, and the ranges exactly.
    #[test]
    fn backoff_grows_exponentially_to_its_cap_with_the_jitter_law() {
        const DRAWS: u32 = 20_000;
        let (base, max) = (10_000_000, 500_000_000);
        for (jitter, lo, mean, var) in [
            (Jitter::None, 1.0, 1.0, 0.0),
            (Jitter::Full, 0.0, 0.5, 1.0 / 12.0),
            (Jitter::Equal, 0.5, 0.75, 1.0 / 48.0),
        ] {
            let p = RetryPolicy { max_attempts: 10, backoff_base: base, backoff_max: max, jitter, budget_ratio: None };
            let mut rng = Stream::new(3, "backoff");
            for k in 1..=9u32 {
                let ceiling = (base << (k - 1)).min(max);
                let xs: Vec<f64> = (0..DRAWS).map(|_| p.backoff(k, &mut rng) as f64 / ceiling as f64).collect();
                let m = xs.iter().sum::<f64>() / f64::from(DRAWS);
                let se = (var / f64::from(DRAWS)).sqrt();
                assert!(
                    (m - mean).abs() <= 4.5 * se + 1e-9,
                    "{jitter:?} attempt {k}: mean {m} of the ceiling, want {mean}"
                );
                assert!(xs.iter().all(|&x| x >= lo - 1e-9 && (x < 1.0 || jitter == Jitter::None)), "{jitter:?} {k}");
            }
        }
        // Far past the cap (and past 2^62 times the base) the ceiling stays at the cap.
        let p = RetryPolicy { jitter: Jitter::None, ..RetryPolicy::default() };
        assert_eq!(p.backoff(200, &mut Stream::new(1, "b")), p.backoff_max);
    }

    /// The budget's arithmetic: with every first attempt failing, N calls at ratio r get the
    /// reserve of 10 retries plus one per 1/r calls — 10 + r·N — and no more, however the
    /// failures are spread; a healthy stretch saves nothing beyond the bucket's 10.
    #[test]
    fn retry_budget_grants_its_reserve_plus_ratio_times_calls() {
        let fail_first = |c: &mut Calls, k: u64| -> bool {
            let mut out = Outbox::default();
            c.start(0, &mut out, 0, k, Req::DEFAULT);
            let id = last_call(&out);
            out = Outbox::default();
            c.on_response(1, &mut out, id, Resp::status(Status::Error)).is_none() // retried
        };
        for ratio in [0.1, 0.25] {
            let mut c = calls(2, Some(ratio));
            let retried = (0..1000).filter(|&k| fail_first(&mut c, k)).count() as f64;
            assert!((retried - (10.0 + ratio * 1000.0)).abs() <= 1.0, "ratio {ratio}: {retried} retries");
        }
        // 1 000 healthy calls first: the bucket is full at 10, not 110.
        let mut c = calls(2, Some(0.1));
        for k in 0..1000 {
            let mut out = Outbox::default();
            c.start(0, &mut out, 0, k, Req::DEFAULT);
            let id = last_call(&out);
            c.on_response(1, &mut Outbox::default(), id, Resp::status(Status::Ok)).unwrap();
        }
        let retried = (1000..1100).filter(|&k| fail_first(&mut c, k)).count() as f64;
        assert!((retried - 20.0).abs() <= 1.0, "{retried} retries: the reserve and 100 × 0.1");
    }

    #[test]
    fn client_side_outlier_detection_ejects_a_failing_instance_and_takes_it_back_at_its_next_pick() {
        use crate::outlier::Outliers;
        use crate::spec::OutlierDetection;
        // Two instances, round-robin, one attempt per call, a 100 ns attempt timeout.
        let pool = Picker::new(vec![ActorId(1), ActorId(2)], Strategy::RoundRobin);
        let retry = RetryPolicy { max_attempts: 1, ..RetryPolicy::default() };
        let mut t = CallTarget::new(Target::Pool(pool), 100, retry);
        let d = OutlierDetection {
            consecutive_errors: 2,
            base_ejection: 1000,
            max_ejection: 5000,
            max_ejection_percent: 50,
        };
        t.outliers = Some(Box::new(Outliers::new(d, 2)));
        let mut c = Calls::new(vec![t], Stream::new(1, "calls"));
        // Sends a call at `now`; ActorId(1) answers with an error, ActorId(2) with Ok; returns
        // where it went.
        let call = |c: &mut Calls, now: Nanos, k: u64| -> ActorId {
            let mut out = Outbox::default();
            c.start(now, &mut out, 0, k, Req::DEFAULT);
            let (to, m) = *out.sends.last().unwrap();
            let status = if to == ActorId(1) { Status::Error } else { Status::Ok };
            c.on_response(now, &mut Outbox::default(), m.call, Resp::status(status)).unwrap();
            to
        };
        let picks: Vec<ActorId> = (0..6).map(|k| call(&mut c, 0, k)).collect();
        // Two errors from ActorId(1) in a row (its picks 0 and 2): ejected; then only ActorId(2).
        assert_eq!(picks, [1, 2, 1, 2, 2, 2].map(ActorId));
        assert_eq!(c.stats.ejections, 1);
        // Not back before the end of its ejection; back at its first pick after (no timer).
        assert_eq!(call(&mut c, 999, 6), ActorId(2));
        let ok = |c: &mut Calls, now: Nanos, k: u64| -> ActorId {
            let mut out = Outbox::default();
            c.start(now, &mut out, 0, k, Req::DEFAULT);
            let (to, m) = *out.sends.last().unwrap();
            c.on_response(now, &mut Outbox::default(), m.call, Resp::status(Status::Ok)).unwrap();
            to
        };
        assert!((0..2).map(|k| ok(&mut c, 1000, 7 + k)).any(|to| to == ActorId(1)));
        // Attempt timeouts count as errors: two in a row eject it again, for twice as long.
        let mut out = Outbox::default();
        let mut timed_out = 0;
        let mut now = 1000;
        while c.stats.ejections == 1 {
            c.start(now, &mut out, 0, 100 + now, Req::DEFAULT);
            let (to, m) = *out.sends.last().unwrap();
            if to == ActorId(1) {
                now += 100;
                c.on_timer(now, &mut Outbox::default(), Timer::Deadline(0));
                timed_out += 1;
            } else {
                c.on_response(now, &mut Outbox::default(), m.call, Resp::status(Status::Ok)).unwrap();
            }
        }
        assert_eq!(timed_out, 2);
        // Its Ok after it came back reset its ejections in a row: the base time again.
        assert_eq!(call(&mut c, now + 999, 999), ActorId(2), "still ejected");
        assert_eq!(c.targets[0].outliers.as_ref().unwrap().ejected(), 1);
        assert!((0..2).map(|k| ok(&mut c, now + 1000, 1000 + k)).any(|to| to == ActorId(1)), "back after 1000 ns");

        // A deadline passed on by the caller, earlier than the attempt's timeout, is no error
        // of the backend's: four such expiries (two per instance) eject nothing.
        let pool = Picker::new(vec![ActorId(1), ActorId(2)], Strategy::RoundRobin);
        let mut t = CallTarget::new(Target::Pool(pool), 100, RetryPolicy { max_attempts: 1, ..RetryPolicy::default() });
        t.outliers = Some(Box::new(Outliers::new(d, 2)));
        let mut c = Calls::new(vec![t], Stream::new(1, "calls"));
        c.propagate_deadlines();
        for k in 0..4 {
            let mut out = Outbox::default();
            c.start_until(k * 100, &mut out, 0, k, Req::DEFAULT, k * 100 + 10);
            let cap = out.timers.iter().find(|(_, t)| matches!(t, Timer::Cap(_))).expect("a timer for the cap").1;
            assert!(c.on_timer(k * 100 + 10, &mut Outbox::default(), cap).is_some(), "the call fails");
        }
        assert_eq!(c.stats.ejections, 0);

        // A crash of the caller forgets its ejections.
        let pool = Picker::new(vec![ActorId(1), ActorId(2)], Strategy::RoundRobin);
        let mut t = CallTarget::new(Target::Pool(pool), 100, RetryPolicy { max_attempts: 1, ..RetryPolicy::default() });
        t.outliers = Some(Box::new(Outliers::new(d, 2)));
        let mut c = Calls::new(vec![t], Stream::new(1, "calls"));
        for k in 0..4 {
            call(&mut c, 0, k);
        }
        assert_eq!(c.targets[0].outliers.as_ref().unwrap().ejected(), 1);
        c.crash();
        assert_eq!(c.targets[0].outliers.as_ref().unwrap().ejected(), 0);
        assert_eq!((0..2).map(|k| call(&mut c, 0, 10 + k)).collect::<Vec<_>>(), [ActorId(1), ActorId(2)]);
    }

    #[test]
    fn breaker_opens_after_consecutive_failures_then_half_opens() {
        let mut c = calls(1, None);
        c.targets[0].breaker = Some(BreakerPolicy { failures: 3, open_for: 1000 });
        let mut out = Outbox::default();
        for k in 0..3 {
            c.start(0, &mut out, 0, k, Req::DEFAULT);
            let id = last_call(&out);
            c.on_response(1, &mut out, id, Resp::status(Status::Error)).unwrap();
        }
        assert!(matches!(c.targets[0].breaker_state, BreakerState::Open { until: 1001 }));
        let o = c.start(500, &mut out, 0, 9, Req::DEFAULT).unwrap();
        assert_eq!((o.result, o.attempts), (CallResult::Failed(Status::Unavailable), 0), "fails fast while open");
        assert_eq!(c.start(1001, &mut out, 0, 10, Req::DEFAULT), None, "trial call goes through");
        assert!(matches!(c.targets[0].breaker_state, BreakerState::HalfOpen { .. }));
        let trial = last_call(&out);
        assert!(c.start(1002, &mut out, 0, 11, Req::DEFAULT).is_some(), "only one trial at a time");
        c.on_response(1003, &mut out, trial, Resp::status(Status::Ok)).unwrap();
        assert_eq!(c.targets[0].breaker_state, BreakerState::Closed { consecutive_failures: 0 });
        assert_eq!((c.stats.breaker_opened, c.stats.breaker_rejected), (1, 2));
    }

    #[test]
    fn breaker_stays_open_for_its_time_and_only_its_trial_closes_it() {
        let mut c = calls(1, None);
        c.targets[0].breaker = Some(BreakerPolicy { failures: 1, open_for: 1000 });
        let mut out = Outbox::default();
        // Three calls out while it is closed; the first fails and opens it.
        let ids: Vec<CallId> = (0..3)
            .map(|k| {
                assert_eq!(c.start(0, &mut out, 0, k, Req::DEFAULT), None);
                last_call(&out)
            })
            .collect();
        c.on_response(10, &mut out, ids[0], Resp::status(Status::Error)).unwrap();
        assert_eq!(c.targets[0].breaker_state, BreakerState::Open { until: 1010 });
        // A call admitted before it opened succeeds late: it stays open all the same.
        c.on_response(20, &mut out, ids[1], Resp::status(Status::Ok)).unwrap();
        assert_eq!(c.targets[0].breaker_state, BreakerState::Open { until: 1010 }, "a late success");
        assert!(c.start(30, &mut out, 0, 9, Req::DEFAULT).is_some(), "still fails fast");
        // The trial: the other late call's outcome does not decide, the trial's does.
        assert_eq!(c.start(1010, &mut out, 0, 10, Req::DEFAULT), None);
        let trial = last_call(&out);
        c.on_response(1011, &mut out, ids[2], Resp::status(Status::Ok)).unwrap();
        assert!(matches!(c.targets[0].breaker_state, BreakerState::HalfOpen { .. }), "a late success mid-trial");
        assert!(c.start(1012, &mut out, 0, 11, Req::DEFAULT).is_some(), "one trial at a time");
        c.on_response(1013, &mut out, trial, Resp::status(Status::Error)).unwrap();
        assert_eq!(c.targets[0].breaker_state, BreakerState::Open { until: 2013 }, "the failed trial reopens it");
        assert_eq!((c.stats.breaker_opened, c.stats.breaker_trials, c.stats.breaker_rejected), (2, 1, 2));
    }

    #[test]
    fn hedge_copy_goes_to_another_backend_and_first_answer_wins() {
        let picker = Picker::new(vec![ActorId(1), ActorId(2)], Strategy::RoundRobin);
        let mut t = CallTarget::new(Target::Pool(picker), 100, RetryPolicy::default());
        t.hedge_after = Some(10);
        let mut c = Calls::new(vec![t], Stream::new(1, "h"));
        let mut out = Outbox::default();
        c.start(0, &mut out, 0, 7, Req::DEFAULT);
        assert_eq!(out.timers.len(), 2);
        let hedge = out.timers[1];
        assert_eq!(hedge.0, 10);
        c.on_timer(10, &mut out, hedge.1);
        assert_eq!(out.sends.len(), 2);
        let (first_to, first) = out.sends[0];
        let (second_to, second) = out.sends[1];
        assert_ne!(first_to, second_to);
        assert_eq!(second.call, first.call | 1);
        // The hedge fails, the original then succeeds: one outcome, ok.
        assert_eq!(c.on_response(12, &mut out, second.call, Resp::status(Status::Error)), None);
        let o = c.on_response(15, &mut out, first.call, Resp { status: Status::Ok, value: 42 }).unwrap();
        assert_eq!((o.token, o.result, o.value), (7, CallResult::Ok, 42));
        assert_eq!(c.stats.hedges, 1);
        assert_eq!(c.in_flight(), 0);
    }

    #[test]
    fn hedges_spend_the_retry_budget_and_stop_when_it_is_empty() {
        let picker = Picker::new(vec![ActorId(1), ActorId(2)], Strategy::RoundRobin);
        let retry = RetryPolicy { budget_ratio: Some(0.1), ..RetryPolicy::default() };
        let mut t = CallTarget::new(Target::Pool(picker), 100, retry);
        t.hedge_after = Some(10);
        let mut c = Calls::new(vec![t], Stream::new(1, "h"));
        // 20 calls, each hedged: the 10 tokens in reserve and 0.1 per call pay for 11 hedges.
        for k in 0..20 {
            let mut out = Outbox::default();
            c.start(0, &mut out, 0, k, Req::DEFAULT);
            let hedge = out.timers.iter().find(|(_, t)| matches!(t, Timer::Hedge(_))).unwrap().1;
            c.on_timer(10, &mut out, hedge);
        }
        assert_eq!((c.stats.hedges, c.stats.budget_exhausted), (11, 9));
        assert!(c.tokens < 1.0, "{} tokens left", c.tokens);
    }

    #[test]
    fn tiered_picker_sends_to_the_first_tier_with_a_healthy_backend() {
        let mut rng = Stream::new(3, "p");
        // Backends 0 and 2 in tier 0 (say us-east), 1 and 3 in tier 1 (eu-west).
        let mut p = Picker::new((1..=4).map(ActorId).collect(), Strategy::RoundRobin).with_tiers(&[0, 1, 0, 1]);
        let picks = |p: &mut Picker, rng: &mut Stream| -> Vec<usize> { (0..6).map(|_| p.pick(rng).unwrap()).collect() };
        assert_eq!(picks(&mut p, &mut rng), vec![0, 2, 0, 2, 0, 2], "no traffic to the passive tier");
        assert_eq!(p.active_tier(), Some(0));
        p.set_healthy(0, false);
        assert_eq!(picks(&mut p, &mut rng), vec![2; 6], "one healthy backend keeps the tier in use");
        p.set_healthy(2, false);
        assert_eq!(p.active_tier(), Some(1));
        assert_eq!(picks(&mut p, &mut rng), vec![1, 3, 1, 3, 1, 3], "failover");
        p.set_healthy(1, false);
        p.set_healthy(3, false);
        assert_eq!((p.pick(&mut rng), p.active_tier()), (None, None));
        p.set_healthy(3, true);
        assert_eq!(p.pick(&mut rng), Some(3));
        p.set_healthy(2, true);
        assert_eq!(p.active_tier(), Some(0));
        assert_eq!(picks(&mut p, &mut rng), vec![2; 6], "failback as soon as a preferred backend is back");
    }

    #[test]
    fn picker_without_tiers_spreads_over_every_healthy_backend() {
        let mut rng = Stream::new(3, "p");
        let mut p = Picker::new((1..=3).map(ActorId).collect(), Strategy::RoundRobin).with_tiers(&[]);
        p.set_healthy(1, false);
        assert_eq!((0..4).map(|_| p.pick(&mut rng).unwrap()).collect::<Vec<_>>(), vec![0, 2, 0, 2]);
        assert_eq!(p.active_tier(), Some(0));
    }

    #[test]
    fn pickers_follow_their_strategy() {
        let mut rng = Stream::new(3, "p");
        let mut rr = Picker::new(vec![ActorId(1), ActorId(2), ActorId(3)], Strategy::RoundRobin);
        let seq: Vec<usize> = (0..4).map(|_| rr.pick(&mut rng).unwrap()).collect();
        assert_eq!(seq, vec![0, 1, 2, 0]);
        let mut lo = Picker::new(vec![ActorId(1), ActorId(2), ActorId(3)], Strategy::LeastOutstanding);
        let a = lo.pick(&mut rng).unwrap();
        let b = lo.pick(&mut rng).unwrap();
        let c = lo.pick(&mut rng).unwrap();
        assert_eq!(
            {
                let mut v = vec![a, b, c];
                v.sort();
                v
            },
            vec![0, 1, 2]
        );
        lo.done(1);
        assert_eq!(lo.pick(&mut rng), Some(1), "the only idle backend");
        let mut p2 = Picker::new(vec![ActorId(1), ActorId(2)], Strategy::PowerOfTwo);
        p2.pick(&mut rng);
        let second = p2.pick(&mut rng).unwrap();
        let first_busy = 1 - second;
        assert_eq!(p2.outstanding[first_busy], 1, "with two backends p2c always picks the idle one");
    }
}
