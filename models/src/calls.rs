//! Outbound calls: picking a backend, per-attempt timeouts, retries with exponential backoff and
//! jitter, and a retry budget. Shared by workloads and services (one sans-IO sub-machine, so the
//! retry arithmetic is the same everywhere).

use faultline_sim::{Nanos, Stream};

use crate::msg::{ActorId, CallId, Msg, MsgKind, Outbox, Status, Timer};
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

/// A backend chooser with outstanding-request counts.
#[derive(Clone, Debug)]
pub struct Picker {
    pub backends: Vec<ActorId>,
    outstanding: Vec<u32>,
    strategy: Strategy,
    next: usize,
}

impl Picker {
    pub fn new(backends: Vec<ActorId>, strategy: Strategy) -> Picker {
        let n = backends.len();
        Picker { backends, outstanding: vec![0; n], strategy, next: 0 }
    }

    /// Index of the chosen backend, counted as outstanding until [`Picker::done`].
    #[inline]
    pub fn pick(&mut self, rng: &mut Stream) -> Option<usize> {
        let n = self.backends.len();
        if n == 0 {
            return None;
        }
        let i = match self.strategy {
            Strategy::RoundRobin => {
                let i = self.next % n;
                self.next = (i + 1) % n;
                i
            }
            Strategy::Random => rng.below(n as u64) as usize,
            Strategy::LeastOutstanding => {
                // Scan from a rotating start so ties spread instead of piling on backend 0.
                let start = self.next % n;
                self.next = (start + 1) % n;
                (0..n).map(|k| (start + k) % n).min_by_key(|&i| self.outstanding[i]).expect("n > 0")
            }
            Strategy::PowerOfTwo => {
                let a = rng.below(n as u64) as usize;
                let b = if n > 1 { (a + 1 + rng.below(n as u64 - 1) as usize) % n } else { a };
                if self.outstanding[b] < self.outstanding[a] { b } else { a }
            }
        };
        self.outstanding[i] += 1;
        Some(i)
    }

    #[inline]
    pub fn done(&mut self, i: usize) {
        self.outstanding[i] = self.outstanding[i].saturating_sub(1);
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
    /// Retry budget: each first attempt earns `ratio` tokens, each retry spends one; at most
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

/// Where a call goes: one actor (a load balancer) or a pool picked client-side.
#[derive(Clone, Debug)]
pub enum Target {
    Actor(ActorId),
    Pool(Picker),
}

#[derive(Clone, Debug)]
pub struct CallTarget {
    pub target: Target,
    /// Per-attempt deadline.
    pub timeout: Nanos,
    pub retry: RetryPolicy,
    /// Request class sent to the callee.
    pub class: u8,
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
    pub attempts: u32,
    pub started: Nanos,
    /// Which of the owner's targets this call went to.
    pub target: u16,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    pub calls: u64,
    pub attempts: u64,
    pub retries: u64,
    pub attempt_timeouts: u64,
    pub attempt_failures: u64,
    /// Retries refused because the retry budget was empty.
    pub budget_exhausted: u64,
}

#[derive(Debug)]
struct Pending {
    token: u64,
    started: Nanos,
    attempt: u32,
    target: u16,
    /// Backend index in a pool, `u32::MAX` when the target is a single actor or in backoff.
    backend: u32,
}

/// The outbound-call machine of one component.
#[derive(Debug)]
pub struct Calls {
    pub targets: Vec<CallTarget>,
    inflight: Slab<Pending>,
    rng: Stream,
    tokens: f64,
    pub stats: CallStats,
}

const NO_BACKEND: u32 = u32::MAX;

impl Calls {
    pub fn new(targets: Vec<CallTarget>, rng: Stream) -> Calls {
        Calls { targets, inflight: Slab::default(), rng, tokens: RETRY_BUDGET_CAP, stats: CallStats::default() }
    }

    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Starts a call to target `target`; the outcome comes back later from
    /// [`Calls::on_response`] or [`Calls::on_timer`] with `token`, or immediately (returned here)
    /// when there is no backend to send to.
    pub fn start(&mut self, now: Nanos, out: &mut Outbox, target: usize, token: u64) -> Option<Outcome> {
        self.stats.calls += 1;
        let t = &self.targets[target];
        if let Some(ratio) = t.retry.budget_ratio {
            self.tokens = (self.tokens + ratio).min(RETRY_BUDGET_CAP);
        }
        let id = self.inflight.insert(Pending {
            token,
            started: now,
            attempt: 1,
            target: target as u16,
            backend: NO_BACKEND,
        });
        self.send_attempt(now, out, id)
    }

    fn send_attempt(&mut self, now: Nanos, out: &mut Outbox, id: CallId) -> Option<Outcome> {
        self.stats.attempts += 1;
        let p = self.inflight.get_mut(id).expect("live call");
        let t = &mut self.targets[p.target as usize];
        let to = match &mut t.target {
            Target::Actor(a) => *a,
            Target::Pool(picker) => match picker.pick(&mut self.rng) {
                Some(i) => {
                    p.backend = i as u32;
                    picker.backends[i]
                }
                None => return self.failed(now, out, id, CallResult::Failed(Status::Unavailable)),
            },
        };
        out.send(to, Msg { call: id, kind: MsgKind::Request { class: t.class } });
        out.timer(t.timeout, Timer::CallTimeout(id));
        None
    }

    /// Releases the backend slot of the current attempt.
    fn release(&mut self, id: CallId) {
        let p = self.inflight.get_mut(id).expect("live call");
        if p.backend != NO_BACKEND {
            if let Target::Pool(picker) = &mut self.targets[p.target as usize].target {
                picker.done(p.backend as usize);
            }
            p.backend = NO_BACKEND;
        }
    }

    /// The current attempt failed: retry after a backoff if allowed, else report the failure.
    fn failed(&mut self, _now: Nanos, out: &mut Outbox, id: CallId, why: CallResult) -> Option<Outcome> {
        let p = self.inflight.get(id).expect("live call");
        let retry = &self.targets[p.target as usize].retry;
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
                let new_id = self.inflight.rekey(id).expect("live call");
                self.inflight.get_mut(new_id).expect("live").attempt += 1;
                self.stats.retries += 1;
                out.timer(wait, Timer::Retry(new_id));
                return None;
            }
        }
        let p = self.inflight.remove(id).expect("live call");
        Some(Outcome { token: p.token, result: why, attempts: p.attempt, started: p.started, target: p.target })
    }

    /// A response arrived for one of our calls (stale ids are ignored).
    pub fn on_response(&mut self, now: Nanos, out: &mut Outbox, id: CallId, status: Status) -> Option<Outcome> {
        let p = self.inflight.get(id)?;
        if p.backend == NO_BACKEND && matches!(self.targets[p.target as usize].target, Target::Pool(_)) {
            return None; // in backoff: the attempt this answers already timed out
        }
        self.release(id);
        if status == Status::Ok {
            let p = self.inflight.remove(id).expect("live call");
            return Some(Outcome {
                token: p.token,
                result: CallResult::Ok,
                attempts: p.attempt,
                started: p.started,
                target: p.target,
            });
        }
        self.stats.attempt_failures += 1;
        self.failed(now, out, id, CallResult::Failed(status))
    }

    /// Handles `CallTimeout` and `Retry` timers; other timers return `None`.
    pub fn on_timer(&mut self, now: Nanos, out: &mut Outbox, t: Timer) -> Option<Outcome> {
        match t {
            Timer::CallTimeout(id) => {
                self.inflight.get(id)?;
                self.release(id);
                self.stats.attempt_timeouts += 1;
                self.failed(now, out, id, CallResult::TimedOut)
            }
            Timer::Retry(id) => {
                self.inflight.get(id)?;
                self.send_attempt(now, out, id)
            }
            _ => None,
        }
    }

    /// A crash: every call in flight is forgotten (their ids go stale).
    pub fn crash(&mut self) {
        self.inflight.clear();
        for t in &mut self.targets {
            if let Target::Pool(p) = &mut t.target {
                p.reset();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(max_attempts: u32, budget: Option<f64>) -> Calls {
        let retry = RetryPolicy { max_attempts, jitter: Jitter::None, budget_ratio: budget, ..RetryPolicy::default() };
        Calls::new(
            vec![CallTarget { target: Target::Actor(ActorId(9)), timeout: 100, retry, class: 0 }],
            Stream::new(1, "calls"),
        )
    }

    fn last_call(out: &Outbox) -> CallId {
        out.sends.last().unwrap().1.call
    }

    #[test]
    fn retries_until_max_attempts_then_fails() {
        let mut c = calls(3, None);
        let mut out = Outbox::default();
        assert_eq!(c.start(0, &mut out, 0, 42), None);
        let mut id = last_call(&out);
        for attempt in 1..=2 {
            out = Outbox::default();
            assert_eq!(c.on_response(10, &mut out, id, Status::Error), None, "attempt {attempt} retried");
            let (wait, t) = out.timers[0];
            assert_eq!(wait, 10_000_000 << (attempt - 1), "exponential backoff");
            out = Outbox::default();
            assert_eq!(c.on_timer(20, &mut out, t), None);
            id = last_call(&out);
        }
        out = Outbox::default();
        let o = c.on_response(30, &mut out, id, Status::Error).unwrap();
        assert_eq!((o.token, o.result, o.attempts), (42, CallResult::Failed(Status::Error), 3));
        assert_eq!(c.stats.retries, 2);
        assert_eq!(c.in_flight(), 0);
    }

    #[test]
    fn late_response_to_a_timed_out_attempt_is_ignored() {
        let mut c = calls(2, None);
        let mut out = Outbox::default();
        c.start(0, &mut out, 0, 1);
        let first = last_call(&out);
        let timeout = out.timers[0].1;
        out = Outbox::default();
        assert_eq!(c.on_timer(100, &mut out, timeout), None); // retry scheduled
        assert_eq!(c.on_response(101, &mut out, first, Status::Ok), None, "stale attempt");
        let retry = out.timers[0].1;
        out = Outbox::default();
        c.on_timer(110, &mut out, retry);
        let second = last_call(&out);
        assert_ne!(first, second);
        let o = c.on_response(120, &mut out, second, Status::Ok).unwrap();
        assert_eq!((o.result, o.attempts), (CallResult::Ok, 2));
    }

    #[test]
    fn retry_budget_limits_retries() {
        let mut c = calls(2, Some(0.0));
        let mut retried = 0;
        for k in 0..20 {
            let mut out = Outbox::default();
            c.start(0, &mut out, 0, k);
            let id = last_call(&out);
            out = Outbox::default();
            if c.on_response(1, &mut out, id, Status::Error).is_none() {
                retried += 1;
            }
        }
        assert_eq!(retried, RETRY_BUDGET_CAP as usize, "only the reserve is spent with ratio 0");
        assert_eq!(c.stats.budget_exhausted, 20 - RETRY_BUDGET_CAP as u64);
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
