//! Saga participants: the services that do one step of a business workflow (create an order,
//! reserve stock, charge a card, schedule a shipment) and undo it on request. Each holds
//! **durable business state per saga id**, which survives a crash of its node; work in
//! progress (queued and running requests, publishes in flight) is volatile.
//!
//! ## Protocol
//! A direct request (from the sync front or the orchestrator) is `Req { class, op: Write, key }`
//! with `class` = [`DO`] or [`UNDO`] and `key` = the saga id. A participant that processed it
//! answers `Ok` with the business outcome in the response's `value`: [`DONE`] or [`REFUSED`]
//! (a refusal is a definitive business answer, not a transport failure, so callers must not
//! retry it — hence `Ok` at the transport level). Transport failures (timeouts, a full queue,
//! an injected error, a down node) are the usual statuses and leave the outcome unknown.
//!
//! In a choreography the participant consumes its inbox topic instead: a delivery's key is
//! [`event_key`]`(saga, undo)`. After doing the step it publishes the next event (see
//! [`Participant`]) and acknowledges the delivery only once that publish succeeded, so a crash
//! or a failed publish leads to a redelivery, never to a lost event (at-least-once end to end).
//!
//! ## Idempotency rules (saga designs)
//! Keyed by saga id, decided once and remembered durably:
//! - `do` of a new saga: the participant decides — it refuses if the item is out of stock or
//!   with `refuse_probability` (a card declined); otherwise it applies the effect. The entry
//!   becomes `Done` or `Refused`.
//! - `do` again (a retry, a duplicate delivery): answers the recorded decision — `DONE` for a
//!   `Done` saga, without a second effect; `REFUSED` for a refused one.
//! - `undo` of a `Done` saga compensates once (stock back, refund) → `Compensated`; `undo`
//!   again is a no-op answered `DONE`.
//! - `undo` before any `do` (the `do` timed out at the caller but is still in flight, or was
//!   reordered behind the `undo`) leaves a **tombstone**: nothing to compensate now, and a
//!   late `do` is refused, so it cannot apply an effect after its saga was abandoned.
//! - `do` of a `Compensated` or tombstoned saga is refused for the same reason.
//!
//! ## Without idempotency (the sync design)
//! No idempotency keys: every `do` is a new operation that decides and applies again (a retried
//! charge whose first attempt did apply charges twice); `undo` ("cancel the order for saga s")
//! reverses one application if there is one and is a no-op otherwise — it leaves no tombstone,
//! so a `do` arriving after it still applies.

use std::collections::VecDeque;

use faultline_sim::rng::splitmix64;
use faultline_sim::{Dist, Nanos, Stream};

use crate::calls::{CallResult, Calls, Outcome};
use crate::idmap::IdMap;
use crate::msg::{ActorId, CallId, Msg, MsgKind, NO_DEADLINE, Op, Outbox, Req, Resp, Status, Timer};
use crate::service::{NodeHealth, Waiting, expiry, shed_expired};
use crate::slab::{Key, Slab};

/// Request kind of a direct request: do the step.
pub const DO: u8 = 0;
/// Request kind of a direct request: compensate the step.
pub const UNDO: u8 = 1;
/// Business answer in an `Ok` response: the step is done (or undone, for an `UNDO`).
pub const DONE: u64 = 1;
/// Business answer in an `Ok` response: the step was refused (out of stock, declined, or the
/// saga was already abandoned here).
pub const REFUSED: u64 = 2;

/// Key of a choreography event: the saga id and whether it asks to compensate. In the
/// outcomes topic the low bit says whether the saga failed.
#[inline]
pub fn event_key(saga: u64, undo: bool) -> u64 {
    saga << 1 | u64::from(undo)
}

/// The item a saga buys: a fixed integer mix of its id (so every participant and the checker
/// agree without being told).
#[inline]
pub fn item_of(saga: u64, items: u32) -> u32 {
    let mut x = saga ^ 0x5a5a_17e3_9c4b_0f21;
    (splitmix64(&mut x) % u64::from(items.max(1))) as u32
}

/// What a step means to the business: decides which anomalies its leftovers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Order,
    /// Reserves one unit of the saga's item from a finite stock.
    Inventory,
    Payment,
    Shipping,
    Other,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Order => "order",
            Role::Inventory => "inventory",
            Role::Payment => "payment",
            Role::Shipping => "shipping",
            Role::Other => "other",
        }
    }
}

/// Finite stock: `per_item` units of each of `items` items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stock {
    pub per_item: u32,
    pub items: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepState {
    /// The effect is applied (`applied` times; more than once only without idempotency).
    Done,
    /// The step was refused; it has no effect.
    Refused,
    /// Every application was compensated.
    Compensated,
    /// An `undo` came before any `do`: no effect, and a later `do` is refused.
    Tombstone,
}

/// A participant's durable record of one saga.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SagaEntry {
    pub state: StepState,
    /// Times the effect was applied.
    pub applied: u32,
    /// Times an application was compensated.
    pub compensated: u32,
    /// When the effect was first applied, and when it last changed (applied or compensated);
    /// `Nanos::MAX` while it never had an effect.
    pub first_effect: Nanos,
    pub last_effect: Nanos,
}

impl SagaEntry {
    fn new(state: StepState) -> SagaEntry {
        SagaEntry { state, applied: 0, compensated: 0, first_effect: Nanos::MAX, last_effect: Nanos::MAX }
    }

    /// Applications still in effect.
    #[inline]
    pub fn net(&self) -> u32 {
        self.applied - self.compensated
    }

    fn touch(&mut self, now: Nanos) {
        if self.first_effect == Nanos::MAX {
            self.first_effect = now;
        }
        self.last_effect = now;
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParticipantStats {
    /// Requests received (health probes aside).
    pub arrivals: u64,
    pub dos: u64,
    pub undos: u64,
    /// Effects applied.
    pub applied: u64,
    /// `do`s refused for business reasons (stock, declines) when first decided.
    pub refused: u64,
    /// Effects compensated.
    pub compensated: u64,
    /// `undo`s that came before any `do`.
    pub tombstones: u64,
    /// Repeated `do`s answered from the record without a second effect (idempotency at work).
    pub repeats_ignored: u64,
    /// `do`s refused because their saga was already compensated or tombstoned here.
    pub late_refused: u64,
    /// `undo`s with nothing to compensate (repeats, or a refused step).
    pub undo_noops: u64,
    pub injected_errors: u64,
    /// Requests turned away by a full queue.
    pub rejected: u64,
    /// Requests dropped unserved: after waiting longer than the queue timeout, or past their
    /// deadline (deadline propagation).
    pub shed: u64,
    /// Requests lost in a crash (queued, in work, or waiting on a publish).
    pub lost: u64,
    /// Choreography: deliveries acknowledged, and those answered with an error because the
    /// next event could not be published (they will be redelivered).
    pub acked: u64,
    pub nacked: u64,
}

#[derive(Clone, Debug)]
pub struct ParticipantConfig {
    pub role: Role,
    /// Position in the workflow and the number of steps (a choreography publishes to the
    /// neighbours).
    pub step: u16,
    pub steps: u16,
    pub idempotent: bool,
    /// Consumes an inbox topic and publishes events instead of answering callers.
    pub choreographed: bool,
    pub workers: u32,
    pub queue_capacity: u32,
    /// A queued request that waited longer than this when a worker reaches it is answered
    /// `Rejected` without work (as by a full queue: it did nothing, which the orchestrator's
    /// outcome rule relies on).
    pub queue_timeout: Option<Nanos>,
    /// Act on the deadline each request carries: one that arrives, or is reached in the queue,
    /// after its caller stopped waiting is answered `Rejected` without work (deadline
    /// propagation; see [`crate::service::Instance::propagate_deadlines`]).
    pub propagate_deadlines: bool,
    /// With `propagate_deadlines`: a request with less than this left before its deadline is
    /// turned away too (0: only those past it).
    pub min_time_left: Nanos,
    pub service_time: Dist,
    pub refuse_probability: f64,
    pub stock: Option<Stock>,
}

/// A participant's random streams.
#[derive(Debug)]
pub struct ParticipantStreams {
    pub work: Stream,
    pub errors: Stream,
    /// One draw per decision (when `refuse_probability` > 0).
    pub refuse: Stream,
}

/// Publish targets of a choreographed participant (indices into its `Calls`).
pub const FORWARD: usize = 0;
pub const BACKWARD: usize = 1;

#[derive(Clone, Copy, Debug)]
struct Job {
    from: ActorId,
    call: CallId,
    saga: u64,
    undo: bool,
    /// When a worker reaching it drops it unserved: the earlier of its arrival plus the queue
    /// timeout and, if the participant propagates deadlines, its deadline ([`NO_DEADLINE`]
    /// for neither). One instant for both keeps a job slot 40 bytes.
    expires: Nanos,
}

impl Waiting for Job {
    fn caller(&self) -> (ActorId, CallId) {
        (self.from, self.call)
    }
}

/// One participant node: workers in front of a bounded FIFO queue, and the durable state. A
/// worker is held for the step's service time only.
///
/// Choreography: after a `do` that is done it publishes `do` to the next step's inbox (the
/// last step publishes "completed" to the outcomes topic); after a refusal or an `undo` it
/// publishes `undo` to the previous step's inbox (the first step publishes "failed" to the
/// outcomes topic). Target [`FORWARD`] is the next inbox (or outcomes), [`BACKWARD`] the
/// previous one (or outcomes).
#[derive(Debug)]
pub struct Participant {
    cfg: ParticipantConfig,
    entries: IdMap<SagaEntry>,
    stock_left: Vec<u32>,
    /// Highest number of units of each item reserved at once.
    peak_reserved: Vec<u32>,
    busy: u32,
    /// A queue timeout or deadline propagation: requests may be dropped unserved.
    sheds: bool,
    queue: VecDeque<Key>,
    jobs: Slab<Job>,
    pub calls: Calls,
    rng: ParticipantStreams,
    pub stats: ParticipantStats,
}

/// Timer tag: a job's work is done (`arg` = job key).
const WORK: u8 = 1;

/// The name of a timer tag in a trace, and whether its argument is a key.
pub fn timer_name(tag: u8) -> (&'static str, bool) {
    if tag == WORK { ("work-done job", true) } else { ("timer", false) }
}

impl Participant {
    pub fn new(cfg: ParticipantConfig, calls: Calls, rng: ParticipantStreams) -> Participant {
        let sheds = cfg.queue_timeout.is_some() || cfg.propagate_deadlines;
        let items = cfg.stock.map_or(0, |s| s.items as usize);
        let per_item = cfg.stock.map_or(0, |s| s.per_item);
        Participant {
            stock_left: vec![per_item; items],
            peak_reserved: vec![0; items],
            cfg,
            entries: IdMap::new(),
            busy: 0,
            sheds,
            queue: VecDeque::new(),
            jobs: Slab::default(),
            calls,
            rng,
            stats: ParticipantStats::default(),
        }
    }

    pub fn config(&self) -> &ParticipantConfig {
        &self.cfg
    }

    /// The durable record, by saga id.
    pub fn entries(&self) -> &IdMap<SagaEntry> {
        &self.entries
    }

    /// Peak units reserved at once, per item (empty without stock).
    pub fn peak_reserved(&self) -> &[u32] {
        &self.peak_reserved
    }

    /// Units left, per item (empty without stock).
    pub fn stock_left(&self) -> &[u32] {
        &self.stock_left
    }

    /// Requests queued, in work or waiting on a publish.
    pub fn in_progress(&self) -> usize {
        self.jobs.len()
    }

    pub fn on_msg(&mut self, now: Nanos, out: &mut Outbox, health: NodeHealth, from: ActorId, msg: Msg) {
        match msg.kind {
            MsgKind::Request(req) => self.on_request(now, out, health, from, msg.call, req),
            MsgKind::Response(resp) => {
                if let Some(o) = self.calls.on_response(now, out, msg.call, resp) {
                    self.on_published(out, o);
                }
            }
            MsgKind::Db(_) => {}
        }
    }

    fn on_request(&mut self, now: Nanos, out: &mut Outbox, health: NodeHealth, from: ActorId, call: CallId, req: Req) {
        if req.op == Op::Probe {
            out.send(from, Msg { call, kind: MsgKind::response(Status::Ok) });
            return;
        }
        let (saga, undo) =
            if self.cfg.choreographed { (req.key >> 1, req.key & 1 == 1) } else { (req.key, req.class == UNDO) };
        self.stats.arrivals += 1;
        if health.error_rate > 0.0 && self.rng.errors.chance(health.error_rate) {
            self.stats.injected_errors += 1;
            out.send(from, Msg { call, kind: MsgKind::response(Status::Error) });
            return;
        }
        let expires = if self.sheds {
            match self.expiry(now, &req) {
                Some(t) => t,
                None => {
                    self.stats.shed += 1;
                    out.send(from, Msg { call, kind: MsgKind::response(Status::Rejected) });
                    return;
                }
            }
        } else {
            NO_DEADLINE
        };
        let job = Job { from, call, saga, undo, expires };
        if self.busy < self.cfg.workers {
            let key = self.jobs.insert(job);
            self.begin(out, health, key);
        } else if self.queue.len() < self.cfg.queue_capacity as usize {
            let key = self.jobs.insert(job);
            self.queue.push_back(key);
        } else {
            self.stats.rejected += 1;
            out.send(from, Msg { call, kind: MsgKind::response(Status::Rejected) });
        }
    }

    /// When a request arriving at `now` expires ([`Job::expires`]); `None` if it arrived after
    /// its caller gave up (the network took the time left), or with less than `min_time_left`
    /// left, so it is dropped unserved, as if it had waited in the queue past its deadline. Out
    /// of line: only steps with a queue timeout or deadline propagation ask.
    #[cold]
    #[inline(never)]
    fn expiry(&self, now: Nanos, req: &Req) -> Option<Nanos> {
        let take_up = req.take_up_until(self.cfg.propagate_deadlines, self.cfg.min_time_left);
        (now <= take_up).then(|| expiry(now, self.cfg.queue_timeout, take_up))
    }

    fn begin(&mut self, out: &mut Outbox, health: NodeHealth, key: Key) {
        self.busy += 1;
        let base = self.cfg.service_time.sample(&mut self.rng.work);
        let work = health.work(base);
        out.timer(work, Timer::Model { tag: WORK, arg: key });
    }

    pub fn on_timer(&mut self, now: Nanos, out: &mut Outbox, health: NodeHealth, t: Timer) {
        match t {
            Timer::Model { tag: WORK, arg } => {
                let Some(job) = self.jobs.get(arg) else { return };
                let (saga, undo) = (job.saga, job.undo);
                let answer = if undo { self.undo(now, saga) } else { self.do_step(now, saga) };
                if self.cfg.choreographed {
                    // Refused or undone: compensation travels back (from the first step, as
                    // "failed" to the outcomes topic); done: the saga goes on (from the last
                    // step, as "completed").
                    let backward = undo || answer == REFUSED;
                    let target = if backward { BACKWARD } else { FORWARD };
                    let req = Req::new(0, Op::Write, event_key(saga, backward));
                    // The publish is I/O: the worker moves on, the delivery stays unacknowledged
                    // (the broker's in-flight limit is the back-pressure).
                    self.next_job(now, out, health);
                    if let Some(o) = self.calls.start(now, out, target, arg, req) {
                        self.on_published(out, o);
                    }
                } else {
                    let job = self.jobs.remove(arg).expect("live job");
                    let resp = Resp { status: Status::Ok, value: answer };
                    out.send(job.from, Msg { call: job.call, kind: MsgKind::Response(resp) });
                    self.next_job(now, out, health);
                }
            }
            _ => {
                if let Some(o) = self.calls.on_timer(now, out, t) {
                    self.on_published(out, o);
                }
                while let Some(o) = self.calls.pop_ready() {
                    self.on_published(out, o);
                }
            }
        }
    }

    /// A publish finished: acknowledge the delivery that caused it, or let it be redelivered.
    fn on_published(&mut self, out: &mut Outbox, o: Outcome) {
        let Some(job) = self.jobs.remove(o.token) else { return };
        let status = if o.result == CallResult::Ok {
            self.stats.acked += 1;
            Status::Ok
        } else {
            self.stats.nacked += 1;
            Status::Error
        };
        out.send(job.from, Msg { call: job.call, kind: MsgKind::response(status) });
    }

    fn next_job(&mut self, now: Nanos, out: &mut Outbox, health: NodeHealth) {
        self.busy -= 1;
        if self.sheds {
            self.stats.shed += shed_expired(&mut self.queue, &mut self.jobs, out, |_, job| now > job.expires);
        }
        if let Some(next) = self.queue.pop_front() {
            self.begin(out, health, next);
        }
    }

    /// Business decision for a `do` that is not answered from the record: refusal draw first
    /// (one draw per decision whenever refusals are configured), then stock.
    fn accept(&mut self, saga: u64) -> bool {
        let declined = self.cfg.refuse_probability > 0.0 && self.rng.refuse.chance(self.cfg.refuse_probability);
        if declined {
            return false;
        }
        match self.cfg.stock {
            Some(s) => self.stock_left[item_of(saga, s.items) as usize] > 0,
            None => true,
        }
    }

    fn reserve(&mut self, saga: u64, delta: i32) {
        if let Some(s) = self.cfg.stock {
            let i = item_of(saga, s.items) as usize;
            if delta > 0 {
                self.stock_left[i] -= 1;
                self.peak_reserved[i] = self.peak_reserved[i].max(s.per_item - self.stock_left[i]);
            } else {
                self.stock_left[i] += 1;
            }
        }
    }

    /// Applies a `do`; returns the business answer.
    fn do_step(&mut self, now: Nanos, saga: u64) -> u64 {
        self.stats.dos += 1;
        if self.cfg.idempotent
            && let Some(e) = self.entries.get(saga)
        {
            return match e.state {
                StepState::Done => {
                    self.stats.repeats_ignored += 1;
                    DONE
                }
                StepState::Refused => {
                    self.stats.repeats_ignored += 1;
                    REFUSED
                }
                StepState::Compensated | StepState::Tombstone => {
                    self.stats.late_refused += 1;
                    REFUSED
                }
            };
        }
        if !self.accept(saga) {
            self.stats.refused += 1;
            self.entries.get_or_insert_with(saga, || SagaEntry::new(StepState::Refused));
            return REFUSED;
        }
        self.reserve(saga, 1);
        self.stats.applied += 1;
        let e = self.entries.get_or_insert_with(saga, || SagaEntry::new(StepState::Done));
        e.state = StepState::Done;
        e.applied += 1;
        e.touch(now);
        DONE
    }

    /// Applies an `undo`; always answers `DONE` (there is nothing left to compensate).
    fn undo(&mut self, now: Nanos, saga: u64) -> u64 {
        self.stats.undos += 1;
        let idempotent = self.cfg.idempotent;
        match self.entries.get_mut(saga) {
            Some(e) if e.net() > 0 => {
                e.compensated += 1;
                if e.net() == 0 {
                    e.state = StepState::Compensated;
                }
                e.touch(now);
                self.stats.compensated += 1;
                self.reserve(saga, -1);
            }
            None if idempotent => {
                self.stats.tombstones += 1;
                self.entries.insert(saga, SagaEntry::new(StepState::Tombstone));
            }
            _ => self.stats.undo_noops += 1,
        }
        DONE
    }

    /// The node went down: queued and running work is lost (nothing of it was applied: an
    /// effect and its answer happen together when the work ends); the record and the stock
    /// survive.
    pub fn crash(&mut self) {
        self.stats.lost += self.jobs.len() as u64;
        self.jobs.clear();
        self.queue.clear();
        self.busy = 0;
        self.calls.crash();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{CallTarget, RetryPolicy, Target};

    const HEALTHY: NodeHealth = NodeHealth { slow_factor: 1.0, error_rate: 0.0 };
    const CALLER: ActorId = ActorId(7);

    fn participant(idempotent: bool, stock: Option<Stock>, refuse: f64) -> Participant {
        participant_with(idempotent, stock, refuse, |_| {})
    }

    fn participant_with(
        idempotent: bool,
        stock: Option<Stock>,
        refuse: f64,
        set: impl FnOnce(&mut ParticipantConfig),
    ) -> Participant {
        let mut cfg = ParticipantConfig {
            role: Role::Inventory,
            step: 1,
            steps: 3,
            idempotent,
            choreographed: false,
            workers: 4,
            queue_capacity: 10,
            queue_timeout: None,
            propagate_deadlines: false,
            min_time_left: 0,
            service_time: Dist::Constant { value: 1000.0 },
            refuse_probability: refuse,
            stock,
        };
        set(&mut cfg);
        let rng =
            ParticipantStreams { work: Stream::new(1, "w"), errors: Stream::new(1, "e"), refuse: Stream::new(1, "r") };
        Participant::new(cfg, Calls::new(vec![], Stream::new(1, "c")), rng)
    }

    /// Sends one direct request and runs its work; returns the business answer.
    fn call(p: &mut Participant, now: Nanos, class: u8, saga: u64) -> u64 {
        let mut out = Outbox::default();
        let req = Req::new(class, Op::Write, saga);
        p.on_msg(now, &mut out, HEALTHY, CALLER, Msg { call: 99, kind: MsgKind::Request(req) });
        let (_, t) = out.timers.pop().expect("work scheduled");
        let mut out = Outbox::default();
        p.on_timer(now + 1000, &mut out, HEALTHY, t);
        match out.sends[..] {
            [(to, Msg { call: 99, kind: MsgKind::Response(Resp { status: Status::Ok, value }) })] if to == CALLER => {
                value
            }
            _ => panic!("{out:?}"),
        }
    }

    #[test]
    fn a_do_that_waited_beyond_the_queue_timeout_is_turned_away_without_an_effect() {
        let mut p =
            participant_with(true, Some(Stock { per_item: 9, items: 1 }), 0.0, |c| c.queue_timeout = Some(1500));
        let mut out = Outbox::default();
        // Sagas 1–4 take the four workers at 0 (1000 of work each); 5 queues at 0, 6 at 600.
        for (saga, at) in [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 600)] {
            let req = Req::new(DO, Op::Write, saga);
            p.on_msg(at, &mut out, HEALTHY, CALLER, Msg { call: saga, kind: MsgKind::Request(req) });
        }
        let work: Vec<_> = out.timers.drain(..).map(|(_, t)| t).collect();
        assert_eq!(work.len(), 4);
        // A worker frees at 1000: saga 5 has waited 1000, within the limit, and starts.
        let mut out = Outbox::default();
        p.on_timer(1000, &mut out, HEALTHY, work[0]);
        assert_eq!((p.stats.shed, out.timers.len()), (0, 1));
        // The next at 2200: saga 6 has waited 1600 and is turned away, with no work and no effect.
        let mut out = Outbox::default();
        p.on_timer(2200, &mut out, HEALTHY, work[1]);
        assert!(out.timers.is_empty(), "no work for saga 6");
        assert_eq!(out.sends[1], (CALLER, Msg { call: 6, kind: MsgKind::response(Status::Rejected) }));
        assert_eq!((p.stats.shed, p.stats.applied), (1, 2));
        assert!(!p.entries().contains_key(6), "no record of saga 6: it never ran");
        assert_eq!(p.in_progress(), 3, "sagas 3, 4 and 5 still in work");
    }

    #[test]
    fn a_job_slot_is_40_bytes() {
        // Its queue timeout and deadline are kept as one instant.
        assert_eq!(Slab::<Job>::SLOT_BYTES, 40);
    }

    #[test]
    fn a_step_that_propagates_deadlines_turns_away_what_its_caller_gave_up_on() {
        let run = |propagate: bool| {
            let stock = Some(Stock { per_item: 9, items: 1 });
            let mut p = participant_with(true, stock, 0.0, |c| c.propagate_deadlines = propagate);
            let mut out = Outbox::default();
            // Sagas 1–4 take the four workers at 0 (1000 of work each); 5 queues with a
            // deadline at 2000, 6 with one at 1000; 7 arrives at 600, its deadline past (500).
            for (saga, at, deadline) in [(1, 0, 100), (2, 0, 100), (3, 0, 100), (4, 0, 100), (5, 0, 2000), (6, 0, 1000)]
            {
                let req = Req { deadline, ..Req::new(DO, Op::Write, saga) };
                p.on_msg(at, &mut out, HEALTHY, CALLER, Msg { call: saga, kind: MsgKind::Request(req) });
            }
            let req = Req { deadline: 500, ..Req::new(DO, Op::Write, 7) };
            p.on_msg(600, &mut out, HEALTHY, CALLER, Msg { call: 7, kind: MsgKind::Request(req) });
            let work: Vec<_> = out.timers.drain(..).map(|(_, t)| t).collect();
            let turned_away: Vec<_> = out.sends.drain(..).map(|(_, m)| m.call).collect();
            assert_eq!(work.len(), 4, "work once started ends, deadline or not");
            // Two workers free at 1500 (the timers fire late): 5 is within its deadline and
            // starts; 6 is past its own.
            let mut out = Outbox::default();
            p.on_timer(1500, &mut out, HEALTHY, work[0]);
            p.on_timer(1500, &mut out, HEALTHY, work[1]);
            let rejected: Vec<_> = out
                .sends
                .iter()
                .filter(|(_, m)| m.kind == MsgKind::response(Status::Rejected))
                .map(|(_, m)| m.call)
                .collect();
            (turned_away, rejected, out.timers.len(), p.stats.shed, p.stats.arrivals, p.in_progress())
        };
        // 7 on arrival, 6 when a worker reaches it; 5 and, after it, nothing else to start.
        assert_eq!(run(true), (vec![7], vec![6], 1, 2, 7, 3));
        // Without the option the deadlines are not read: 5 and 6 start, 7 queues.
        assert_eq!(run(false), (vec![], vec![], 2, 0, 7, 5));
    }

    #[test]
    fn repeated_do_answers_the_recorded_decision_without_a_second_effect() {
        let mut p = participant(true, Some(Stock { per_item: 5, items: 1 }), 0.0);
        assert_eq!(call(&mut p, 0, DO, 42), DONE);
        assert_eq!(call(&mut p, 10, DO, 42), DONE);
        let e = p.entries()[42];
        assert_eq!((e.state, e.applied, e.net()), (StepState::Done, 1, 1));
        assert_eq!(p.stock_left(), &[4], "one unit reserved, not two");
        assert_eq!(p.stats.repeats_ignored, 1);
    }

    #[test]
    fn undo_compensates_once_and_a_later_do_is_refused() {
        let mut p = participant(true, Some(Stock { per_item: 5, items: 1 }), 0.0);
        call(&mut p, 0, DO, 1);
        assert_eq!(call(&mut p, 10, UNDO, 1), DONE);
        assert_eq!(call(&mut p, 20, UNDO, 1), DONE);
        let e = p.entries()[1];
        assert_eq!((e.state, e.applied, e.compensated), (StepState::Compensated, 1, 1));
        assert_eq!(p.stock_left(), &[5], "released exactly once");
        assert_eq!((p.stats.compensated, p.stats.undo_noops), (1, 1));
        assert_eq!(call(&mut p, 30, DO, 1), REFUSED, "an abandoned saga cannot come back");
        assert_eq!(p.stock_left(), &[5]);
    }

    #[test]
    fn undo_before_do_leaves_a_tombstone_that_refuses_the_late_do() {
        let mut p = participant(true, Some(Stock { per_item: 5, items: 1 }), 0.0);
        assert_eq!(call(&mut p, 0, UNDO, 8), DONE);
        assert_eq!(p.entries()[8].state, StepState::Tombstone);
        assert_eq!(call(&mut p, 10, DO, 8), REFUSED);
        let e = p.entries()[8];
        assert_eq!((e.applied, e.first_effect), (0, Nanos::MAX), "no effect, ever");
        assert_eq!((p.stats.tombstones, p.stats.late_refused), (1, 1));
        assert_eq!(p.stock_left(), &[5]);
    }

    #[test]
    fn out_of_stock_is_refused_and_the_refusal_is_remembered() {
        let mut p = participant(true, Some(Stock { per_item: 1, items: 1 }), 0.0);
        assert_eq!(call(&mut p, 0, DO, 1), DONE);
        assert_eq!(call(&mut p, 1, DO, 2), REFUSED, "the only unit is taken");
        call(&mut p, 2, UNDO, 1);
        assert_eq!(call(&mut p, 3, DO, 2), REFUSED, "decided once: stock coming back does not change it");
        assert_eq!(call(&mut p, 4, DO, 3), DONE, "a new saga gets the released unit");
        assert_eq!(p.peak_reserved(), &[1]);
    }

    #[test]
    fn without_idempotency_a_repeated_do_applies_again_and_undo_leaves_no_tombstone() {
        let mut p = participant(false, Some(Stock { per_item: 5, items: 1 }), 0.0);
        call(&mut p, 0, DO, 1);
        call(&mut p, 1, DO, 1);
        assert_eq!(p.entries()[1].net(), 2, "a retried do applies twice");
        call(&mut p, 2, UNDO, 1);
        assert_eq!(p.entries()[1].net(), 1, "one undo reverses one application");
        assert_eq!(call(&mut p, 3, UNDO, 9), DONE);
        assert!(!p.entries().contains_key(9), "no tombstone");
        assert_eq!(call(&mut p, 4, DO, 9), DONE, "the late do applies");
        assert_eq!(p.stock_left(), &[3]);
    }

    #[test]
    fn refusals_are_drawn_once_per_decision() {
        let mut p = participant(true, None, 0.5);
        let answers: Vec<u64> = (0..200).map(|s| call(&mut p, s, DO, s)).collect();
        let refused = answers.iter().filter(|&&a| a == REFUSED).count();
        assert!((70..130).contains(&refused), "{refused}");
        // Asking again gives the same answers (no new draws decide them).
        let again: Vec<u64> = (0..200).map(|s| call(&mut p, 1000 + s, DO, s)).collect();
        assert_eq!(answers, again);
    }

    #[test]
    fn crash_loses_work_in_progress_but_not_the_record() {
        let mut p = participant(true, Some(Stock { per_item: 5, items: 1 }), 0.0);
        call(&mut p, 0, DO, 1);
        let mut out = Outbox::default();
        let req = Req::new(DO, Op::Write, 2);
        p.on_msg(10, &mut out, HEALTHY, CALLER, Msg { call: 5, kind: MsgKind::Request(req) });
        let (_, t) = out.timers[0];
        p.crash();
        let mut out = Outbox::default();
        p.on_timer(2000, &mut out, HEALTHY, t);
        assert!(out.is_empty(), "work of a crashed node never completes");
        assert_eq!((p.stats.lost, p.entries().len(), p.stock_left()[0]), (1, 1, 4));
    }

    #[test]
    fn choreographed_step_publishes_forward_or_backward_and_acks_only_after_publishing() {
        let broker = |id| CallTarget::new(Target::Actor(ActorId(id)), 100, RetryPolicy::default());
        let mut p = participant(true, Some(Stock { per_item: 1, items: 1 }), 0.0);
        p.cfg.choreographed = true;
        p.calls = Calls::new(vec![broker(20), broker(10)], Stream::new(1, "c"));
        let inbox = ActorId(3);
        let deliver = |p: &mut Participant, now, key| {
            let mut out = Outbox::default();
            let req = Req::new(0, Op::Write, key);
            p.on_msg(now, &mut out, HEALTHY, inbox, Msg { call: 77, kind: MsgKind::Request(req) });
            let (_, t) = out.timers[0];
            let mut out = Outbox::default();
            p.on_timer(now + 1000, &mut out, HEALTHY, t);
            out
        };
        // do(5): done, published forward as do(5); no ack yet.
        let out = deliver(&mut p, 0, event_key(5, false));
        let (to, m) = out.sends[0];
        assert_eq!(
            (to, m.kind),
            // A call's request carries its attempt's deadline: sent at 1000 with a 100 ns timeout.
            (ActorId(20), MsgKind::Request(Req { deadline: 1100, ..Req::new(0, Op::Write, event_key(5, false)) }))
        );
        assert_eq!(out.sends.len(), 1);
        // The publish fails: the delivery is answered with an error (to be redelivered).
        let mut o2 = Outbox::default();
        p.on_msg(2000, &mut o2, HEALTHY, ActorId(20), Msg { call: m.call, kind: MsgKind::response(Status::Error) });
        assert_eq!(o2.sends, vec![(inbox, Msg { call: 77, kind: MsgKind::response(Status::Error) })]);
        // Redelivered: answered from the record, published again, acked on success.
        let out = deliver(&mut p, 3000, event_key(5, false));
        let m = out.sends[0].1;
        let mut o3 = Outbox::default();
        p.on_msg(4000, &mut o3, HEALTHY, ActorId(20), Msg { call: m.call, kind: MsgKind::response(Status::Ok) });
        assert_eq!(o3.sends, vec![(inbox, Msg { call: 77, kind: MsgKind::response(Status::Ok) })]);
        assert_eq!((p.entries()[5].applied, p.stats.repeats_ignored), (1, 1));
        // do(6): out of stock, so compensation goes backward as undo(6).
        let out = deliver(&mut p, 5000, event_key(6, false));
        assert_eq!(out.sends[0].0, ActorId(10));
        assert_eq!(
            out.sends[0].1.kind,
            MsgKind::Request(Req { deadline: 6100, ..Req::new(0, Op::Write, event_key(6, true)) })
        );
    }
}
