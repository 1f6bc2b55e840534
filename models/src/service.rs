//! A service instance: a pool of workers in front of a bounded FIFO queue. Each request gets
//! local work (a sampled service time) and then makes its downstream calls in order, holding its
//! worker while it waits (the thread-per-request model, which is how slow dependencies exhaust
//! a caller's workers and failures cascade).

use std::collections::VecDeque;

use faultline_sim::{Dist, Nanos, Stream};

use crate::calls::{CallResult, Calls, Outcome};
use crate::metrics::{LatencyHist, TimeAverage};
use crate::msg::{ActorId, CallId, Msg, MsgKind, NO_DEADLINE, Op, Outbox, Req, Resp, Status, Timer};
use crate::slab::{Key, Slab};

#[derive(Clone, Debug, Default)]
pub struct InstanceStats {
    pub arrivals: u64,
    /// Requests that got a worker.
    pub started: u64,
    pub ok: u64,
    /// Requests answered with an error because a downstream call failed.
    pub errors: u64,
    /// Requests failed by an injected error fault.
    pub injected_errors: u64,
    /// Requests turned away because the queue was full.
    pub rejected: u64,
    /// Requests turned away by the rate limiter.
    pub rate_limited: u64,
    /// Requests dropped unserved when a worker reached them after more than the queue timeout,
    /// or after their deadline (deadline propagation).
    pub shed: u64,
    /// Requests that got a worker and failed because their deadline passed (deadline
    /// propagation): no downstream stage starts after it, and calls stop waiting at it.
    pub deadline_exceeded: u64,
    /// Optional downstream calls that failed and were done without.
    pub degraded: u64,
    /// Health probes answered.
    pub probes: u64,
    /// Requests dropped by a crash while queued or in progress.
    pub lost: u64,
    /// Sum of waits for a worker, over started requests (ns).
    pub wait_sum_ns: f64,
    /// Sum of times from arrival to response, over answered started requests (ns).
    pub sojourn_sum_ns: f64,
    /// Allocated at the first answer: a world can hold very many idle instances. Two
    /// significant digits ([`LatencyHist::coarse`]).
    pub sojourn: Option<Box<LatencyHist>>,
    /// Busy workers over the scenario's duration (utilisation = average / workers).
    pub busy: TimeAverage,
    /// Requests waiting for a worker over time (those in the instance: this plus `busy`).
    pub queue_len: TimeAverage,
    pub queue_max: u64,
}

impl InstanceStats {
    /// Answered with an error: its own and an injected error fault's.
    pub fn all_errors(&self) -> u64 {
        self.errors + self.injected_errors
    }

    /// Turned away: queue full, rate limited, or shed after waiting too long.
    pub fn turned_away(&self) -> u64 {
        self.rejected + self.rate_limited + self.shed
    }
}

/// 44 bytes, aligned to 4: a job slot (with the slab's 4-byte generation) is 48 bytes, not 56
/// (memory per in-flight request; see docs/performance.md). `from` comes first so that, behind
/// the generation, the 8-byte fields sit at 8-byte offsets of the slot. The request's deadline
/// is kept aside ([`Instance::deadline_us`]), only by services that propagate deadlines.
#[derive(Clone, Copy, Debug)]
#[repr(C, packed(4))]
struct Job {
    from: ActorId,
    call: CallId,
    // The request's fields, not a `Req`: its padding made a job slot 64 bytes instead of 56
    // (memory per in-flight request; see docs/performance.md).
    key: u64,
    arrived: Nanos,
    /// Value of the last successful downstream answer, passed back to the caller.
    value: u64,
    /// Calls of the current stage (a fan-out) still awaiting their outcome.
    pending: u32,
    step: u16,
    class: u8,
    op: Op,
}

/// A request waiting in a worker pool's queue (a service instance's, a workflow step's).
pub(crate) trait Waiting: Copy {
    /// Who to answer, and the call to answer.
    fn caller(&self) -> (ActorId, CallId);
}

impl Waiting for Job {
    fn caller(&self) -> (ActorId, CallId) {
        (self.from, self.call)
    }
}

/// Drops the queued jobs at the head that have `expired` — waited longer than a queue timeout,
/// or past (or too near) their deadline — and returns how many. They did no work, so each is
/// answered `Rejected` like a full queue's refusal (a saga's caller relies on that). Lazily, as a worker reaches
/// them (no timer per request); until then they hold their place in the queue, as in a server
/// that checks deadlines when it dequeues. Out of line, so that the path without a queue
/// timeout or deadlines stays as it was.
#[cold]
#[inline(never)]
pub(crate) fn shed_expired<J: Waiting>(
    queue: &mut VecDeque<Key>,
    jobs: &mut Slab<J>,
    out: &mut Outbox,
    expired: impl Fn(Key, &J) -> bool,
) -> u64 {
    let mut shed = 0;
    while let Some(&next) = queue.front() {
        if !expired(next, jobs.get(next).expect("queued job")) {
            break;
        }
        queue.pop_front();
        let (from, call) = jobs.remove(next).expect("queued job").caller();
        shed += 1;
        out.send(from, Msg { call, kind: MsgKind::response(Status::Rejected) });
    }
    shed
}

/// When a request queued at `now` is dropped unserved by a holder that keeps one instant per
/// queued request (database replicas, workflow steps): after its queue timeout, or after
/// `take_up_until` ([`crate::msg::Req::take_up_until`]; `NO_DEADLINE` for a holder that does
/// not propagate deadlines), whichever comes first.
#[inline]
pub(crate) fn expiry(now: Nanos, queue_timeout: Option<Nanos>, take_up_until: Nanos) -> Nanos {
    queue_timeout.map_or(take_up_until, |l| take_up_until.min(now.saturating_add(l)))
}

/// When the caller of a job that arrived at `arrived` stops waiting, as
/// [`Instance::deadline_us`] keeps it for the job's slot `key` ([`NO_DEADLINE`] if none, or if
/// the service does not propagate deadlines: then `deadline_us` is empty).
#[inline]
fn job_deadline(deadline_us: &[u32], key: Key, arrived: Nanos) -> Nanos {
    match deadline_us.get((key >> 32) as usize) {
        Some(&us) if us != u32::MAX => arrived + Nanos::from(us) * 1000,
        _ => NO_DEADLINE,
    }
}

impl Job {
    #[inline]
    fn new(from: ActorId, call: CallId, req: Req, arrived: Nanos) -> Job {
        Job { from, call, key: req.key, arrived, value: 0, pending: 0, step: 0, class: req.class, op: req.op }
    }

    #[inline]
    fn req(&self) -> Req {
        Req::new(self.class, self.op, self.key)
    }
}

/// What the world tells an instance about its node right now (faults are the world's business).
#[derive(Clone, Copy, Debug)]
pub struct NodeHealth {
    pub slow_factor: f64,
    pub error_rate: f64,
}

impl NodeHealth {
    /// A service time on this node: `base`, stretched while a slowdown fault is active.
    #[inline(always)]
    pub fn work(self, base: Nanos) -> Nanos {
        if self.slow_factor == 1.0 { base } else { slowed(base, self.slow_factor) }
    }
}

/// Out of line and cold, so that the healthy case stays a predicted branch: inline, the
/// compiler computed both results and selected one, which put two float conversions on the
/// path of every service-time draw.
#[cold]
#[inline(never)]
fn slowed(base: Nanos, factor: f64) -> Nanos {
    (base as f64 * factor) as Nanos
}

#[derive(Debug)]
pub struct Instance {
    workers: u32,
    capacity: u32,
    service_time: Vec<Dist>,
    /// Copies per downstream stage (parallel fan-out), by stage.
    fanout: Vec<u32>,
    /// Stages whose failure is tolerated (the request goes on without them), by stage.
    optional: Vec<bool>,
    /// Token bucket: (rate per ns, burst, tokens, last refill).
    limiter: Option<(f64, f64, f64, Nanos)>,
    /// A queued request that waited longer than this when a worker reaches it is dropped
    /// unserved (answered `Rejected`): its caller has most likely given up.
    queue_timeout: Option<Nanos>,
    /// Act on the deadlines requests carry (deadline propagation).
    propagate: bool,
    /// With `propagate`: requests with less than this left before their deadline are shed too.
    min_time_left: Nanos,
    /// A queue timeout or deadline propagation: queued requests may be shed.
    sheds: bool,
    busy: u32,
    queue: VecDeque<Key>,
    jobs: Slab<Job>,
    /// With `propagate`, by job slot: microseconds from the job's arrival to its request's
    /// deadline, rounded up; `u32::MAX` for none (or one beyond 71 minutes). A side table, so
    /// that job slots stay 48 bytes for services that do not propagate (empty then).
    deadline_us: Vec<u32>,
    pub calls: Calls,
    rng_work: Stream,
    rng_errors: Stream,
    pub stats: InstanceStats,
}

impl Instance {
    /// `horizon`: time-averaged gauges cover `[0, horizon]` (the scenario's duration).
    pub fn new(
        workers: u32,
        capacity: u32,
        service_time: Vec<Dist>,
        calls: Calls,
        rng_work: Stream,
        rng_errors: Stream,
        horizon: Nanos,
    ) -> Instance {
        assert!(!service_time.is_empty(), "at least one request kind");
        let g = TimeAverage::with_horizon(horizon);
        let fanout = vec![1; calls.targets.len()];
        let optional = vec![false; calls.targets.len()];
        Instance {
            workers,
            capacity,
            service_time,
            fanout,
            optional,
            limiter: None,
            queue_timeout: None,
            propagate: false,
            sheds: false,
            min_time_left: 0,
            busy: 0,
            queue: VecDeque::new(),
            jobs: Slab::default(),
            deadline_us: Vec::new(),
            calls,
            rng_work,
            rng_errors,
            stats: InstanceStats { busy: g, queue_len: g, ..InstanceStats::default() },
        }
    }

    /// Parallel copies for each downstream stage (default 1).
    pub fn set_fanout(&mut self, fanout: Vec<u32>) {
        assert_eq!(fanout.len(), self.calls.targets.len());
        self.fanout = fanout;
    }

    /// Which downstream stages may fail without failing the request (graceful degradation).
    pub fn set_optional(&mut self, optional: Vec<bool>) {
        assert_eq!(optional.len(), self.calls.targets.len());
        self.optional = optional;
    }

    /// Admission rate limit (requests/s) with a burst allowance.
    pub fn set_rate_limit(&mut self, per_s: f64, burst: f64) {
        self.limiter = Some((per_s / 1e9, burst, burst, 0));
    }

    /// Drop queued requests that waited longer than `limit` when a worker reaches them.
    pub fn set_queue_timeout(&mut self, limit: Nanos) {
        self.queue_timeout = Some(limit);
        self.sheds = true;
    }

    /// Act on the deadlines requests carry: shed requests whose deadline passed (or that have
    /// less than `min_time_left` left) on arrival or when a worker reaches them, start no
    /// downstream stage after it, and pass it on to downstream calls, which stop waiting and
    /// retrying at it.
    pub fn propagate_deadlines(&mut self, min_time_left: Nanos) {
        self.propagate = true;
        self.min_time_left = min_time_left;
        self.sheds = true;
        self.calls.propagate_deadlines();
    }

    fn admit(&mut self, now: Nanos) -> bool {
        let Some((rate, burst, tokens, last)) = &mut self.limiter else { return true };
        *tokens = (*tokens + (now - *last) as f64 * *rate).min(*burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub fn workers(&self) -> u32 {
        self.workers
    }

    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    pub fn busy(&self) -> u32 {
        self.busy
    }

    /// Requests it holds: queued, in work, or waiting on downstream calls (what a crash would
    /// lose now).
    pub fn in_system(&self) -> usize {
        self.jobs.len()
    }

    fn gauges(&mut self, now: Nanos) {
        self.stats.busy.set(now, u64::from(self.busy));
        self.stats.queue_len.change(now, self.queue.len() as u64);
        self.stats.queue_max = self.stats.queue_max.max(self.queue.len() as u64);
    }

    pub fn on_msg(&mut self, now: Nanos, out: &mut Outbox, health: NodeHealth, from: ActorId, msg: Msg) {
        match msg.kind {
            MsgKind::Request(req) => self.on_request(now, out, health, from, msg.call, req),
            MsgKind::Response(resp) => {
                if let Some(o) = self.calls.on_response(now, out, msg.call, resp) {
                    self.on_outcome(now, out, health, o);
                }
            }
            MsgKind::Db(_) => {} // not a database replica
        }
    }

    fn on_request(&mut self, now: Nanos, out: &mut Outbox, health: NodeHealth, from: ActorId, call: CallId, req: Req) {
        if req.op == Op::Probe {
            self.stats.probes += 1;
            out.send(from, Msg { call, kind: MsgKind::response(Status::Ok) });
            return;
        }
        self.stats.arrivals += 1;
        if !self.admit(now) {
            self.stats.rate_limited += 1;
            out.send(from, Msg { call, kind: MsgKind::response(Status::Rejected) });
            return;
        }
        if health.error_rate > 0.0 && self.rng_errors.chance(health.error_rate) {
            self.stats.injected_errors += 1;
            out.send(from, Msg { call, kind: MsgKind::response(Status::Error) });
            return;
        }
        if self.propagate && self.arrived_too_late(now, out, from, call, req) {
            return;
        }
        if self.busy < self.workers {
            let key = self.jobs.insert(Job::new(from, call, req, now));
            if self.propagate {
                self.keep_deadline(key, now, req);
            }
            self.begin(now, out, health, key);
        } else if self.queue.len() < self.capacity as usize {
            let key = self.jobs.insert(Job::new(from, call, req, now));
            if self.propagate {
                self.keep_deadline(key, now, req);
            }
            self.queue.push_back(key);
        } else {
            self.stats.rejected += 1;
            out.send(from, Msg { call, kind: MsgKind::response(Status::Rejected) });
        }
        self.gauges(now);
    }

    /// Keeps the deadline of job `key`'s request, which arrived at `now` (to the microsecond,
    /// rounded up; one beyond 71 minutes is none). Out of line: only services that propagate
    /// deadlines ask.
    #[cold]
    #[inline(never)]
    fn keep_deadline(&mut self, key: Key, now: Nanos, req: Req) {
        let us = if req.deadline != NO_DEADLINE {
            u32::try_from(req.deadline.saturating_sub(now).div_ceil(1000)).unwrap_or(u32::MAX)
        } else {
            u32::MAX
        };
        let slot = (key >> 32) as usize;
        if self.deadline_us.len() <= slot {
            self.deadline_us.resize(slot + 1, u32::MAX);
        }
        self.deadline_us[slot] = us;
    }

    /// A request that arrived after its caller gave up (the network took the time left), or
    /// with less than `min_time_left` left, is dropped unserved, as if it had waited in the
    /// queue past its deadline. Out of line: only services that propagate deadlines ask.
    #[cold]
    #[inline(never)]
    fn arrived_too_late(&mut self, now: Nanos, out: &mut Outbox, from: ActorId, call: CallId, req: Req) -> bool {
        let late = now > req.take_up_until(self.propagate, self.min_time_left);
        if late {
            self.stats.shed += 1;
            out.send(from, Msg { call, kind: MsgKind::response(Status::Rejected) });
        }
        late
    }

    /// Gives a job a worker and starts its local work.
    fn begin(&mut self, now: Nanos, out: &mut Outbox, health: NodeHealth, key: Key) {
        let job = self.jobs.get(key).expect("queued job");
        self.busy += 1;
        self.stats.started += 1;
        self.stats.wait_sum_ns += (now - job.arrived) as f64;
        let kind = (job.class as usize).min(self.service_time.len() - 1);
        let base = self.service_time[kind].sample(&mut self.rng_work);
        let work = health.work(base);
        out.timer(work, Timer::WorkDone(key));
    }

    pub fn on_timer(&mut self, now: Nanos, out: &mut Outbox, health: NodeHealth, t: Timer) {
        match t {
            Timer::WorkDone(key) => {
                if self.jobs.get(key).is_some() {
                    self.next_step(now, out, health, key);
                }
            }
            _ => {
                if let Some(o) = self.calls.on_timer(now, out, t) {
                    self.on_outcome(now, out, health, o);
                }
                while let Some(o) = self.calls.pop_ready() {
                    self.on_outcome(now, out, health, o);
                }
            }
        }
    }

    /// Makes the job's next downstream call, or answers when there is none left.
    fn next_step(&mut self, now: Nanos, out: &mut Outbox, health: NodeHealth, key: Key) {
        let job = self.jobs.get_mut(key).expect("live job");
        let (step, req) = (job.step as usize, job.req());
        if step < self.calls.targets.len() {
            let deadline = if self.propagate { job_deadline(&self.deadline_us, key, job.arrived) } else { NO_DEADLINE };
            if now >= deadline {
                // Nobody waits for the answer any more: no more work on it.
                self.stats.deadline_exceeded += 1;
                self.finish(now, out, health, key, Status::Error);
                return;
            }
            let copies = self.fanout[step];
            job.pending = copies;
            for _ in 0..copies {
                if self.jobs.get(key).is_none() {
                    break; // an immediate failure already answered the request
                }
                if let Some(o) = self.calls.start_until(now, out, step, key, req, deadline) {
                    self.on_outcome(now, out, health, o);
                }
            }
        } else {
            self.finish(now, out, health, key, Status::Ok);
        }
    }

    fn on_outcome(&mut self, now: Nanos, out: &mut Outbox, health: NodeHealth, o: Outcome) {
        let Some(job) = self.jobs.get_mut(o.token) else { return };
        let tolerated = o.result != CallResult::Ok && self.optional[o.target as usize];
        if tolerated {
            self.stats.degraded += 1;
        }
        if o.result == CallResult::Ok || tolerated {
            if o.result == CallResult::Ok {
                job.value = o.value;
            }
            job.pending -= 1;
            if job.pending == 0 {
                job.step += 1;
                self.next_step(now, out, health, o.token);
            }
        } else {
            if self.propagate && now >= job_deadline(&self.deadline_us, o.token, job.arrived) {
                self.stats.deadline_exceeded += 1;
            }
            self.finish(now, out, health, o.token, Status::Error);
        }
    }

    fn finish(&mut self, now: Nanos, out: &mut Outbox, health: NodeHealth, key: Key, status: Status) {
        let job = self.jobs.remove(key).expect("live job");
        let value = if status == Status::Ok { job.value } else { 0 };
        out.send(job.from, Msg { call: job.call, kind: MsgKind::Response(Resp { status, value }) });
        let sojourn = now - job.arrived;
        self.stats.sojourn_sum_ns += sojourn as f64;
        self.stats.sojourn.get_or_insert_with(|| Box::new(LatencyHist::coarse())).record(sojourn);
        if status == Status::Ok {
            self.stats.ok += 1;
        } else {
            self.stats.errors += 1;
        }
        self.busy -= 1;
        if self.sheds {
            let (limit, min_left, deadline_us) = (self.queue_timeout, self.min_time_left, &self.deadline_us);
            self.stats.shed += shed_expired(&mut self.queue, &mut self.jobs, out, |key, job| {
                limit.is_some_and(|l| now - job.arrived > l)
                    || now.saturating_add(min_left) > job_deadline(deadline_us, key, job.arrived)
            });
        }
        if let Some(next) = self.queue.pop_front() {
            self.begin(now, out, health, next);
        }
        self.gauges(now);
    }

    /// The node went down: queued and running work is lost, workers are free on restart.
    pub fn crash(&mut self, now: Nanos) {
        self.stats.lost += self.in_system() as u64;
        self.jobs.clear();
        self.queue.clear();
        self.busy = 0;
        self.calls.crash();
        self.gauges(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEALTHY: NodeHealth = NodeHealth { slow_factor: 1.0, error_rate: 0.0 };

    #[test]
    fn a_job_slot_is_48_bytes() {
        // Every in-flight request holds one at each service it passes (docs/performance.md).
        assert_eq!(Slab::<Job>::SLOT_BYTES, 48);
    }

    fn instance(workers: u32, capacity: u32) -> Instance {
        Instance::new(
            workers,
            capacity,
            vec![Dist::Constant { value: 10.0 }],
            Calls::new(vec![], Stream::new(1, "c")),
            Stream::new(1, "w"),
            Stream::new(1, "e"),
            Nanos::MAX,
        )
    }

    fn req(call: u64) -> Msg {
        Msg { call, kind: MsgKind::Request(Req::DEFAULT) }
    }

    #[test]
    fn queue_then_reject_when_full() {
        let mut s = instance(1, 1);
        let mut out = Outbox::default();
        s.on_msg(0, &mut out, HEALTHY, ActorId(5), req(1));
        s.on_msg(0, &mut out, HEALTHY, ActorId(5), req(2));
        s.on_msg(0, &mut out, HEALTHY, ActorId(5), req(3));
        assert_eq!(out.sends, vec![(ActorId(5), Msg { call: 3, kind: MsgKind::response(Status::Rejected) })]);
        assert_eq!((s.busy(), s.queue_len()), (1, 1));
        let done = out.timers[0];
        assert_eq!(done.0, 10);
        out = Outbox::default();
        s.on_timer(10, &mut out, HEALTHY, done.1);
        assert_eq!(out.sends, vec![(ActorId(5), Msg { call: 1, kind: MsgKind::response(Status::Ok) })]);
        assert_eq!((s.busy(), s.queue_len()), (1, 0), "queued job started");
        assert_eq!(s.stats.wait_sum_ns, 10.0);
    }

    #[test]
    fn a_service_that_propagates_deadlines_sheds_stops_and_passes_them_on() {
        use crate::calls::{CallTarget, RetryPolicy, Target};
        let with_deadline = |call, deadline| Msg { call, kind: MsgKind::Request(Req { deadline, ..Req::DEFAULT }) };
        let mut s = Instance::new(
            1,
            10,
            vec![Dist::Constant { value: 2000.0 }],
            Calls::new(
                vec![CallTarget::new(Target::Actor(ActorId(9)), 1_000_000, RetryPolicy::default())],
                Stream::new(1, "c"),
            ),
            Stream::new(1, "w"),
            Stream::new(1, "e"),
            Nanos::MAX,
        );
        s.propagate_deadlines(0);
        let mut out = Outbox::default();
        // 1 must be answered by 10 µs, 2 by 3 µs, 3 by 1 µs (it will wait longer), 4 never.
        s.on_msg(0, &mut out, HEALTHY, ActorId(5), with_deadline(1, 10_000));
        s.on_msg(0, &mut out, HEALTHY, ActorId(5), with_deadline(2, 3_000));
        s.on_msg(0, &mut out, HEALTHY, ActorId(5), with_deadline(3, 1_000));
        s.on_msg(0, &mut out, HEALTHY, ActorId(5), req(4));
        // 1's work ends at 2 µs, before its deadline: its call goes out carrying it (the
        // attempt's own deadline, 1 ms, is later).
        let done = out.timers[0].1;
        let mut out = Outbox::default();
        s.on_timer(2000, &mut out, HEALTHY, done);
        let (to, m) = out.sends[0];
        assert_eq!((to, m.kind), (ActorId(9), MsgKind::Request(Req { deadline: 10_000, ..Req::DEFAULT })));
        assert!(out.timers.iter().any(|&(after, t)| after == 8000 && matches!(t, Timer::Cap(_))));
        // Its answer at 4 µs frees the worker: 2 and 3 waited past their deadlines and are
        // shed unserved; 4 has none and starts.
        let mut out = Outbox::default();
        s.on_msg(4000, &mut out, HEALTHY, ActorId(9), Msg { call: m.call, kind: MsgKind::response(Status::Ok) });
        let answers: Vec<_> = out.sends.iter().map(|(_, m)| (m.call, m.kind)).collect();
        assert_eq!(
            answers,
            vec![
                (1, MsgKind::response(Status::Ok)),
                (2, MsgKind::response(Status::Rejected)),
                (3, MsgKind::response(Status::Rejected))
            ]
        );
        assert_eq!((s.stats.shed, s.busy(), s.queue_len()), (2, 1, 0));
        // A request whose deadline passes during its work starts no call: it fails at once.
        let done = out.timers[0].1;
        let mut out = Outbox::default();
        s.on_timer(6000, &mut out, HEALTHY, done); // 4: no deadline, so its call goes out
        let (_, m4) = out.sends[0];
        assert_eq!(m4.kind, MsgKind::Request(Req { deadline: 6000 + 1_000_000, ..Req::DEFAULT }));
        s.on_msg(6000, &mut out, HEALTHY, ActorId(5), with_deadline(5, 7_000));
        let mut out = Outbox::default();
        s.on_msg(6500, &mut out, HEALTHY, ActorId(9), Msg { call: m4.call, kind: MsgKind::response(Status::Ok) });
        let done = out.timers.iter().find(|(_, t)| matches!(t, Timer::WorkDone(_))).unwrap().1;
        let mut out = Outbox::default();
        s.on_timer(8500, &mut out, HEALTHY, done);
        assert_eq!(out.sends, vec![(ActorId(5), Msg { call: 5, kind: MsgKind::response(Status::Error) })]);
        assert_eq!((s.stats.deadline_exceeded, s.calls.in_flight()), (1, 0));
        // One that arrives after its deadline (the network took the time left) is dropped at
        // once, though a worker is free.
        let mut out = Outbox::default();
        s.on_msg(9000, &mut out, HEALTHY, ActorId(5), with_deadline(6, 8_999));
        assert_eq!(out.sends, vec![(ActorId(5), Msg { call: 6, kind: MsgKind::response(Status::Rejected) })]);
        assert_eq!((s.stats.shed, s.busy()), (3, 0));
    }

    #[test]
    fn a_request_that_waited_beyond_the_queue_timeout_is_shed_unserved() {
        let mut s = instance(1, 10);
        s.set_queue_timeout(15);
        let mut out = Outbox::default();
        s.on_msg(0, &mut out, HEALTHY, ActorId(5), req(1));
        s.on_msg(2, &mut out, HEALTHY, ActorId(5), req(2));
        s.on_msg(6, &mut out, HEALTHY, ActorId(5), req(3));
        s.on_msg(9, &mut out, HEALTHY, ActorId(5), req(4));
        // 1 ends at 10: 2 has waited 8, within the limit, and starts.
        let done = out.timers[0].1;
        out = Outbox::default();
        s.on_timer(10, &mut out, HEALTHY, done);
        assert_eq!(out.sends, vec![(ActorId(5), Msg { call: 1, kind: MsgKind::response(Status::Ok) })]);
        assert_eq!((s.stats.shed, s.queue_len()), (0, 2));
        // 2 ends at 20: 3 has waited 14 (kept), and at 30, 4 has waited 21: shed, unserved.
        let done = out.timers[0].1;
        out = Outbox::default();
        s.on_timer(20, &mut out, HEALTHY, done);
        assert_eq!(out.timers.len(), 1, "3 started");
        let done = out.timers[0].1;
        out = Outbox::default();
        s.on_timer(30, &mut out, HEALTHY, done);
        assert_eq!(
            out.sends,
            vec![
                (ActorId(5), Msg { call: 3, kind: MsgKind::response(Status::Ok) }),
                (ActorId(5), Msg { call: 4, kind: MsgKind::response(Status::Rejected) }),
            ]
        );
        assert!(out.timers.is_empty(), "no work for a shed request");
        assert_eq!((s.stats.shed, s.stats.started, s.busy(), s.queue_len()), (1, 3, 0, 0));
        assert_eq!(s.stats.turned_away(), 1);
    }

    #[test]
    fn slow_node_stretches_work_and_crash_drops_it() {
        let mut s = instance(2, 10);
        let mut out = Outbox::default();
        s.on_msg(0, &mut out, NodeHealth { slow_factor: 3.0, error_rate: 0.0 }, ActorId(1), req(1));
        assert_eq!(out.timers[0].0, 30);
        s.crash(5);
        assert_eq!((s.busy(), s.stats.lost), (0, 1));
        out = Outbox::default();
        s.on_timer(30, &mut out, HEALTHY, Timer::WorkDone(0));
        assert!(out.sends.is_empty(), "work of a crashed instance never answers");
    }
}
