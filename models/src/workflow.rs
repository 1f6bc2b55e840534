//! The coordinator of a business workflow (e.g. checkout: order → inventory → payment →
//! shipping), in one of three designs. Users call it with the saga id as the request's key
//! (a workload with `sequential` keys gives every checkout its own id; a user's retry carries
//! the same id). Participants are described in [`crate::saga`].
//!
//! - **Sync** ([`Design::Sync`]): a front calls each step in turn (with the workflow's timeout
//!   and retries) and answers the user when the chain ends. On a refusal or a failed call it
//!   cleans up best-effort — one `undo` attempt per step it saw done, in reverse order, then
//!   answers `Error`. Everything is volatile and participants have no idempotency keys: a
//!   retried call whose first attempt applied applies twice, a step whose call timed out is not
//!   undone (its outcome is unknown), a failed cleanup is never retried, and a crash of the
//!   front abandons every chain in flight. Those are the side effects the lesson is about.
//! - **Orchestrated** ([`Design::Orchestrated`]): a durable orchestrator. It appends every
//!   decision to its saga log (each append takes a `log_write` sample; a crash loses appends
//!   not yet written) and acts only once the append is written: the saga's creation, each
//!   step done, the decision to abort, each compensation done, the end. Steps are called with
//!   the saga id as idempotency key. A refused step aborts the saga: the steps before it are
//!   compensated in reverse order. A step whose call failed (retries exhausted: outcome
//!   unknown) aborts it too, and is itself compensated first (its `undo` compensates it or
//!   leaves a tombstone, so a late `do` cannot apply). A compensation whose call fails is
//!   called again after a pause (`compensation_pause`, doubling after each failed round up to
//!   30 s, with jitter), until it succeeds. After a restart the orchestrator
//!   resumes every saga of its log that has not ended, from its last written state.
//! - **Choreographed** ([`Design::Choreographed`]): the front publishes `do` to the first
//!   step's inbox topic and the participants pass the saga along (see
//!   [`crate::saga::Participant`]); the last step publishes "completed", and a refusal sends
//!   `undo` back up the chain until the first step publishes "failed", both to an outcomes
//!   topic the front consumes.
//!
//! **What the user is told** (both saga designs): `Ok` once the saga is known to complete
//! (completion written to the log; the "completed" event), `Error` once it is known to fail
//! (the abort written to the log — compensation goes on in the background; the "failed"
//! event, after the compensations of a choreography), and if neither is known within
//! `reply_within`, `Timeout`: "still processing" — the saga continues and ends later. A repeated
//! request for a saga is attached to it (orchestrator: answered at once if it has ended) rather
//! than starting it again.

use faultline_sim::{Dist, Nanos, Stream};

use crate::calls::{CallResult, Calls, Outcome};
use crate::deadlines::Deadlines;
use crate::idmap::IdMap;
use crate::msg::{ActorId, CallId, Msg, MsgKind, NO_DEADLINE, Op, Outbox, Req, Resp, Status, Timer};
use crate::saga::{DO, DONE, UNDO, event_key};
use crate::slab::Slab;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Design {
    Sync,
    Orchestrated,
    Choreographed,
}

impl Design {
    pub fn name(self) -> &'static str {
        match self {
            Design::Sync => "sync",
            Design::Orchestrated => "orchestrated",
            Design::Choreographed => "choreographed",
        }
    }

    /// Whether participants keep idempotency keys and tombstones.
    pub fn idempotent(self) -> bool {
        self != Design::Sync
    }
}

#[derive(Clone, Debug)]
pub struct CoordinatorConfig {
    pub design: Design,
    pub steps: u16,
    /// Saga designs: answer the user `Timeout` ("still processing") if the outcome is not known
    /// by then.
    pub reply_within: Option<Nanos>,
    /// Orchestrated: the time to append one record to the saga log.
    pub log_write: Dist,
    /// Orchestrated: wait before calling a compensation again after its call failed (the first
    /// time; the pause doubles after each failed round, up to [`MAX_COMPENSATION_PAUSE`]).
    pub compensation_pause: Nanos,
    /// Choreographed: the outcomes topic (its deliveries are outcome events, not user requests).
    pub outcomes: Option<ActorId>,
    /// Sync: act on the deadline a user's request carries. A request that arrives at or after
    /// it is turned away, no step starts at or after it, and the steps' `do` calls inherit it
    /// ([`Calls::start_until`]). Cleanups do not: they are the front's own duty. Sagas answer
    /// their user by `reply_within` and run on whatever the user's deadline, so the saga
    /// designs ignore it.
    pub propagate_deadlines: bool,
}

/// Where an orchestrated saga stands, as written in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Steps before this one are done; this one is being done.
    Forward(u16),
    /// Aborted: this many steps (from the first) are left to compensate, the last of them next.
    Compensate(u16),
    Completed,
    Compensated,
    /// Its creation never reached the log (the orchestrator crashed first): it never started.
    Lost,
}

impl Phase {
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Completed | Phase::Compensated | Phase::Lost)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoordinatorStats {
    /// User requests received (retries included).
    pub requests: u64,
    pub answered_ok: u64,
    pub answered_failed: u64,
    /// Answered `Timeout` at the `reply_within` deadline (the saga goes on).
    pub answered_pending: u64,
    /// User requests that were waiting for an answer when the coordinator's node went down.
    pub lost_in_crash: u64,
    /// Saga designs: user requests still waiting for their answer when the same saga was
    /// requested again (a user's retry after giving up): the newest request gets the answer,
    /// these get none.
    pub superseded: u64,
    /// Sync: chains started; orchestrated: sagas written to the log; choreographed: first
    /// events published (a user's retry publishes again).
    pub started: u64,
    /// Requests for a saga the orchestrator already had (a user's retry).
    pub repeated_requests: u64,
    /// As the coordinator saw them: sync chains that ended ok / failed; sagas whose completion
    /// / abort was written to the log; outcome events received.
    pub completed: u64,
    pub aborted: u64,
    /// `undo` calls started (sync cleanups, orchestrated compensations and their retries).
    pub compensation_calls: u64,
    /// Orchestrated: sagas taken up again after a restart.
    pub resumed: u64,
    pub log_writes: u64,
    /// Sync, propagating deadlines: requests that arrived at or after their deadline, turned
    /// away (answered `Rejected`, so also in `answered_failed`).
    pub shed: u64,
    /// Sync, propagating deadlines: chains stopped by their user's deadline: a step's call
    /// timed out at it (or a step ended at it), so no further step starts; the chain is
    /// cleaned up, then answered `Error`.
    pub deadline_exceeded: u64,
}

#[derive(Clone, Copy, Debug)]
struct Waiter {
    from: ActorId,
    call: CallId,
    /// When to answer `Timeout` (`Nanos::MAX`: never).
    deadline: Nanos,
}

#[derive(Clone, Copy, Debug)]
struct Chain {
    from: ActorId,
    call: CallId,
    saga: u64,
    step: u16,
    /// Cleaning up: steps still to undo (then answer `Error`).
    cleanup: Option<u16>,
    /// When the user stops waiting, if the front propagates deadlines ([`NO_DEADLINE`] if not).
    deadline: Nanos,
}

/// The user waiting for a saga's answer, by the id its `reply_within` deadline was set with: an
/// orchestrated saga's index in the log, a choreographed saga's id.
fn waiter(design: Design, sagas: &[Saga], waiters: &IdMap<Waiter>, arg: u64) -> Option<Waiter> {
    match design {
        Design::Orchestrated => sagas.get(arg as usize).and_then(|s| s.waiter),
        _ => waiters.get(arg).copied(),
    }
}

#[derive(Debug)]
struct Saga {
    id: u64,
    /// Durable: the last state written to the log.
    phase: Phase,
    /// Whether the creation has been written.
    durable: bool,
    /// Volatile: a transition being written.
    pending: Option<Phase>,
    waiter: Option<Waiter>,
    /// Volatile: failed rounds of calls to the current compensation.
    failed_rounds: u8,
    /// Taken up again after a restart: the written phase's step may have been called before
    /// the crash, so it may have acted whatever this incarnation's calls saw.
    resumed: bool,
}

/// Longest pause between two rounds of calls to a failing compensation.
pub const MAX_COMPENSATION_PAUSE: Nanos = 30_000_000_000;

/// Timer tags (`arg`: an orchestrated saga's index in the log; none for `DEADLINE`, the one
/// timer behind the `reply_within` deadlines).
const LOG: u8 = 1;
const DEADLINE: u8 = 2;
const RETRY: u8 = 3;

/// The name of a timer tag in a trace, and whether its argument is a key.
pub fn timer_name(tag: u8) -> (&'static str, bool) {
    match tag {
        LOG => ("log-written", false),
        DEADLINE => ("reply-deadline", false),
        RETRY => ("step-retry", false),
        _ => ("timer", false),
    }
}
/// The one timer behind the `reply_within` deadlines.
const DEADLINE_TIMER: Timer = Timer::Model { tag: DEADLINE, arg: 0 };

#[derive(Debug)]
pub struct Coordinator {
    cfg: CoordinatorConfig,
    /// Sync and orchestrated: target `2k` does step `k`, `2k + 1` undoes it. Choreographed:
    /// target 0 publishes to the first step's inbox.
    pub calls: Calls,
    rng_log: Stream,
    /// Jitter of the pauses between rounds of a failing compensation.
    rng_pause: Stream,
    chains: Slab<Chain>,
    sagas: Vec<Saga>,
    /// Orchestrated: a saga's index in `sagas`, by saga id.
    index: IdMap<u32>,
    /// Orchestrated sagas not ended (logged or being created).
    running: u32,
    waiters: IdMap<Waiter>,
    /// `reply_within` deadlines (all the same length, so in due order): an orchestrated
    /// saga's index, or a choreographed saga's id.
    replies: Deadlines,
    /// Choreographed: publishes in flight, `(saga, user call)`.
    publishes: Slab<(u64, CallId)>,
    /// The last definite answer given to a user per saga id (`true`: `Ok`, `false`: `Error`),
    /// whether or not it arrived. An observation for the saga checker, not the coordinator's
    /// state: a crash keeps it.
    told: IdMap<bool>,
    pub stats: CoordinatorStats,
}

impl Coordinator {
    pub fn new(cfg: CoordinatorConfig, mut calls: Calls, rng_log: Stream, rng_pause: Stream) -> Coordinator {
        if cfg.propagate_deadlines && cfg.design == Design::Sync {
            calls.propagate_deadlines();
        }
        Coordinator {
            cfg,
            calls,
            rng_log,
            rng_pause,
            chains: Slab::default(),
            sagas: Vec::new(),
            index: IdMap::new(),
            running: 0,
            waiters: IdMap::new(),
            replies: Deadlines::default(),
            publishes: Slab::default(),
            told: IdMap::new(),
            stats: CoordinatorStats::default(),
        }
    }

    pub fn design(&self) -> Design {
        self.cfg.design
    }

    /// User requests still waiting for their answer (at the end of a run: never answered).
    pub fn waiting(&self) -> u64 {
        let orchestrated = self.sagas.iter().filter(|s| s.waiter.is_some()).count();
        (self.chains.len() + self.waiters.len() + orchestrated) as u64
    }

    /// Chains, waiting users and sagas in progress: what it holds beyond its durable log (in
    /// O(1), for the memory budget; [`Coordinator::waiting`] walks the log).
    pub fn held(&self) -> usize {
        self.chains.len() + self.waiters.len() + self.running as usize + self.replies.len()
    }

    /// Whether nothing is in progress here: no chain, no saga that has not ended, no publish.
    pub fn idle(&self) -> bool {
        self.chains.is_empty() && self.running == 0 && self.calls.in_flight() == 0
    }

    /// The orchestrator's log: every saga whose creation was written, with its written phase.
    pub fn saga_log(&self) -> impl Iterator<Item = (u64, Phase)> + '_ {
        self.sagas.iter().filter(|s| s.durable).map(|s| (s.id, s.phase))
    }

    /// The last definite answer given to a user per saga id (`true`: `Ok`, `false`: `Error`).
    pub fn told(&self) -> &IdMap<bool> {
        &self.told
    }

    /// Answers a user about `saga`; a definite answer (`Ok`, `Error`) is remembered in `told`.
    fn reply(&mut self, out: &mut Outbox, w: Waiter, saga: u64, status: Status) {
        if matches!(status, Status::Ok | Status::Error) {
            self.told.insert(saga, status == Status::Ok);
        }
        match status {
            Status::Ok => self.stats.answered_ok += 1,
            Status::Timeout => self.stats.answered_pending += 1,
            _ => self.stats.answered_failed += 1,
        }
        out.send(w.from, Msg { call: w.call, kind: MsgKind::response(status) });
    }

    fn deadline(&self, now: Nanos) -> Nanos {
        self.cfg.reply_within.map_or(Nanos::MAX, |d| now.saturating_add(d))
    }

    pub fn on_msg(&mut self, now: Nanos, out: &mut Outbox, from: ActorId, msg: Msg) {
        match msg.kind {
            MsgKind::Request(req) if req.op == Op::Probe => {
                out.send(from, Msg { call: msg.call, kind: MsgKind::response(Status::Ok) });
            }
            MsgKind::Request(req) if Some(from) == self.cfg.outcomes => self.on_outcome_event(out, from, msg.call, req),
            MsgKind::Request(req) => {
                self.stats.requests += 1;
                let w = Waiter { from, call: msg.call, deadline: self.deadline(now) };
                match self.cfg.design {
                    Design::Sync => self.sync_start(now, out, w, req),
                    Design::Orchestrated => self.orch_request(now, out, w, req.key),
                    Design::Choreographed => self.choreo_request(now, out, w, req.key),
                }
            }
            MsgKind::Response(resp) => {
                if let Some(o) = self.calls.on_response(now, out, msg.call, resp) {
                    self.on_call(now, out, o);
                }
            }
            MsgKind::Db(_) => {}
        }
    }

    pub fn on_timer(&mut self, now: Nanos, out: &mut Outbox, t: Timer) {
        match t {
            Timer::Model { tag: LOG, arg } => self.orch_logged(now, out, arg as usize),
            Timer::Model { tag: RETRY, arg } => {
                if self.sagas.get(arg as usize).is_some_and(|s| s.pending.is_none() && !s.phase.is_terminal()) {
                    self.orch_act(now, out, arg as usize);
                }
            }
            Timer::Model { tag: DEADLINE, .. } => {
                self.replies.fired();
                let design = self.cfg.design;
                while let Some(arg) = self
                    .replies
                    .expired(now, out, DEADLINE_TIMER, |arg| waiter(design, &self.sagas, &self.waiters, arg).is_some())
                {
                    // A newer caller of the same saga has a later deadline (an entry of its own).
                    if waiter(design, &self.sagas, &self.waiters, arg).is_some_and(|w| w.deadline <= now) {
                        let (w, saga) = match design {
                            Design::Orchestrated => {
                                (self.sagas[arg as usize].waiter.take(), self.sagas[arg as usize].id)
                            }
                            _ => (self.waiters.remove(arg), arg),
                        };
                        self.reply(out, w.expect("waiting"), saga, Status::Timeout);
                    }
                }
            }
            _ => {
                if let Some(o) = self.calls.on_timer(now, out, t) {
                    self.on_call(now, out, o);
                }
                while let Some(o) = self.calls.pop_ready() {
                    self.on_call(now, out, o);
                }
            }
        }
    }

    fn on_call(&mut self, now: Nanos, out: &mut Outbox, o: Outcome) {
        match self.cfg.design {
            Design::Sync => self.sync_outcome(now, out, o),
            Design::Orchestrated => self.orch_outcome(out, o),
            Design::Choreographed => self.choreo_published(out, o),
        }
    }

    /// Starts a call to step `step` (`undo`: its compensation); `token` comes back in the outcome.
    /// `cap`: a deadline the call inherits ([`NO_DEADLINE`]: none; [`Calls::start_until`]).
    #[allow(clippy::too_many_arguments)]
    fn call_step(
        &mut self,
        now: Nanos,
        out: &mut Outbox,
        step: u16,
        undo: bool,
        token: u64,
        saga: u64,
        cap: Nanos,
    ) -> Option<Outcome> {
        if undo {
            self.stats.compensation_calls += 1;
        }
        // Target `2k + 1` sends `UNDO` (its request kind), `2k` sends `DO`.
        let target = 2 * usize::from(step) + usize::from(undo);
        let req = Req::new(if undo { UNDO } else { DO }, Op::Write, saga);
        self.calls.start_until(now, out, target, token, req, cap)
    }

    // ---- sync ----

    fn sync_start(&mut self, now: Nanos, out: &mut Outbox, w: Waiter, req: Req) {
        let deadline = req.take_up_until(self.cfg.propagate_deadlines, 0);
        if now >= deadline {
            // Its user has stopped waiting: no step is started for it.
            self.stats.shed += 1;
            self.reply(out, w, req.key, Status::Rejected);
            return;
        }
        self.stats.started += 1;
        let chain = Chain { from: w.from, call: w.call, saga: req.key, step: 0, cleanup: None, deadline };
        let key = self.chains.insert(chain);
        // The steps' `do`s inherit the user's deadline.
        if let Some(o) = self.call_step(now, out, 0, false, key, req.key, deadline) {
            self.sync_outcome(now, out, o);
        }
    }

    fn sync_outcome(&mut self, now: Nanos, out: &mut Outbox, o: Outcome) {
        let Some(c) = self.chains.get_mut(o.token) else { return };
        match c.cleanup {
            None => {
                if o.result == CallResult::Ok && o.value == DONE {
                    c.step += 1;
                    if c.step == self.cfg.steps {
                        let c = self.chains.remove(o.token).expect("live chain");
                        self.stats.completed += 1;
                        self.reply(out, Waiter { from: c.from, call: c.call, deadline: 0 }, c.saga, Status::Ok);
                        return;
                    }
                    let (step, saga, deadline) = (c.step, c.saga, c.deadline);
                    if now < deadline {
                        if let Some(o) = self.call_step(now, out, step, false, o.token, saga, deadline) {
                            self.sync_outcome(now, out, o);
                        }
                        return;
                    }
                }
                // Refused, failed, or its user stopped waiting (the step's call timed out at the
                // inherited deadline, or it ended then): undo what is known to be done (not a
                // step that failed: its outcome is unknown to a front without idempotency keys).
                if now >= c.deadline {
                    self.stats.deadline_exceeded += 1;
                }
                c.cleanup = Some(c.step);
            }
            Some(left) => c.cleanup = Some(left - 1), // one attempt, whatever its outcome
        }
        self.sync_cleanup(now, out, o.token);
    }

    fn sync_cleanup(&mut self, now: Nanos, out: &mut Outbox, key: u64) {
        let c = self.chains.get(key).expect("live chain");
        match c.cleanup {
            Some(0) => {
                let c = self.chains.remove(key).expect("live chain");
                self.stats.aborted += 1;
                self.reply(out, Waiter { from: c.from, call: c.call, deadline: 0 }, c.saga, Status::Error);
            }
            Some(left) => {
                let saga = c.saga;
                if let Some(o) = self.call_step(now, out, left - 1, true, key, saga, NO_DEADLINE) {
                    self.sync_outcome(now, out, o);
                }
            }
            None => unreachable!("cleaning up"),
        }
    }

    // ---- orchestrated ----

    fn orch_request(&mut self, now: Nanos, out: &mut Outbox, w: Waiter, saga: u64) {
        if let Some(&i) = self.index.get(saga) {
            self.stats.repeated_requests += 1;
            let s = &mut self.sagas[i as usize];
            match s.phase {
                Phase::Completed => self.reply(out, w, saga, Status::Ok),
                Phase::Compensated | Phase::Compensate(_) => self.reply(out, w, saga, Status::Error),
                _ => {
                    // The earlier attempt's caller gave up on it: answer the newest one.
                    if s.waiter.replace(w).is_some() {
                        self.stats.superseded += 1;
                    }
                    self.arm_deadline(now, out, i as u64);
                }
            }
            return;
        }
        let i = self.sagas.len();
        self.sagas.push(Saga {
            id: saga,
            phase: Phase::Forward(0),
            durable: false,
            pending: None,
            waiter: Some(w),
            failed_rounds: 0,
            resumed: false,
        });
        self.index.insert(saga, i as u32);
        self.running += 1;
        self.arm_deadline(now, out, i as u64);
        self.append(out, i);
    }

    fn arm_deadline(&mut self, now: Nanos, out: &mut Outbox, arg: u64) {
        if let Some(d) = self.cfg.reply_within {
            self.replies.set(now, d, arg, out, DEADLINE_TIMER);
        }
    }

    /// Starts writing saga `i`'s creation or pending transition to the log.
    fn append(&mut self, out: &mut Outbox, i: usize) {
        self.stats.log_writes += 1;
        let t = self.cfg.log_write.sample(&mut self.rng_log);
        out.timer(t, Timer::Model { tag: LOG, arg: i as u64 });
    }

    fn orch_logged(&mut self, now: Nanos, out: &mut Outbox, i: usize) {
        let Some(s) = self.sagas.get_mut(i) else { return };
        if !s.durable {
            if s.phase == Phase::Lost {
                return;
            }
            s.durable = true;
            self.stats.started += 1;
        } else {
            let Some(next) = s.pending.take() else { return };
            let aborting =
                matches!(s.phase, Phase::Forward(_)) && !matches!(next, Phase::Forward(_) | Phase::Completed);
            s.phase = next;
            let answer = match next {
                Phase::Completed => {
                    self.stats.completed += 1;
                    Some(Status::Ok)
                }
                _ if aborting => {
                    self.stats.aborted += 1;
                    Some(Status::Error)
                }
                _ => None,
            };
            if next.is_terminal() {
                self.running -= 1;
            }
            if let Some(status) = answer
                && let Some(w) = self.sagas[i].waiter.take()
            {
                let saga = self.sagas[i].id;
                self.reply(out, w, saga, status);
            }
        }
        self.orch_act(now, out, i);
    }

    /// Calls what saga `i`'s written phase asks for.
    fn orch_act(&mut self, now: Nanos, out: &mut Outbox, i: usize) {
        let s = &self.sagas[i];
        let (step, undo) = match s.phase {
            Phase::Forward(k) => (k, false),
            Phase::Compensate(j) => (j - 1, true),
            _ => return,
        };
        let saga = s.id;
        if let Some(o) = self.call_step(now, out, step, undo, i as u64, saga, NO_DEADLINE) {
            self.orch_outcome(out, o);
        }
    }

    fn orch_outcome(&mut self, out: &mut Outbox, o: Outcome) {
        let i = o.token as usize;
        let s = &mut self.sagas[i];
        let ok = o.result == CallResult::Ok;
        let next = match s.phase {
            Phase::Forward(k) if ok && o.value == DONE => {
                if k + 1 == self.cfg.steps {
                    Phase::Completed
                } else {
                    Phase::Forward(k + 1)
                }
            }
            // Refused, or turned away at every attempt (a full queue): nothing to undo at this
            // step. Undoing it anyway would send compensations to a step that is already
            // overloaded, for effects that never happened (a metastable failure: seen as
            // thousands of stuck sagas after a slow spell of payments). Not after a restart:
            // the call made before the crash may have acted (seen as charges left behind when
            // every resumed saga's call at once found payments' queue full).
            Phase::Forward(k) if ok || !(o.maybe_applied || s.resumed) => Phase::Compensate(k),
            // Outcome unknown: undo this step too.
            Phase::Forward(k) => Phase::Compensate(k + 1),
            Phase::Compensate(j) if ok => Phase::Compensate(j - 1),
            Phase::Compensate(_) => {
                // Exponential backoff between rounds, with equal jitter: a fixed pause lets the
                // compensations of many sagas keep an overloaded step overloaded forever.
                let pause = self
                    .cfg
                    .compensation_pause
                    .saturating_mul(1 << s.failed_rounds.min(20))
                    .min(MAX_COMPENSATION_PAUSE);
                s.failed_rounds = s.failed_rounds.saturating_add(1);
                let wait = pause / 2 + (self.rng_pause.f64() * (pause / 2) as f64) as Nanos;
                out.timer(wait, Timer::Model { tag: RETRY, arg: i as u64 });
                return;
            }
            _ => return,
        };
        s.failed_rounds = 0;
        s.resumed = false;
        s.pending = Some(if next == Phase::Compensate(0) { Phase::Compensated } else { next });
        self.append(out, i);
    }

    // ---- choreographed ----

    fn choreo_request(&mut self, now: Nanos, out: &mut Outbox, w: Waiter, saga: u64) {
        // A retry of a saga still running: as in the orchestrated design, the newest asks.
        if self.waiters.insert(saga, w).is_some() {
            self.stats.superseded += 1;
        }
        self.arm_deadline(now, out, saga);
        let token = self.publishes.insert((saga, w.call));
        let req = Req::new(0, Op::Write, event_key(saga, false));
        if let Some(o) = self.calls.start(now, out, 0, token, req) {
            self.choreo_published(out, o);
        }
    }

    fn choreo_published(&mut self, out: &mut Outbox, o: Outcome) {
        let Some((saga, call)) = self.publishes.remove(o.token) else { return };
        if o.result == CallResult::Ok {
            self.stats.started += 1;
        } else if self.waiters.get(saga).is_some_and(|w| w.call == call) {
            // A publish that timed out may have landed, and then the saga runs: say "still
            // processing", not "failed" (which misinformed users whose retry's publish was cut
            // off after the first one had completed the saga). `Error` only when it cannot have.
            let w = self.waiters.remove(saga).expect("present");
            let status = if o.maybe_applied { Status::Timeout } else { Status::Error };
            self.reply(out, w, saga, status);
        }
    }

    fn on_outcome_event(&mut self, out: &mut Outbox, from: ActorId, call: CallId, req: Req) {
        let (saga, failed) = (req.key >> 1, req.key & 1 == 1);
        if failed {
            self.stats.aborted += 1;
        } else {
            self.stats.completed += 1;
        }
        if let Some(w) = self.waiters.remove(saga) {
            self.reply(out, w, saga, if failed { Status::Error } else { Status::Ok });
        }
        out.send(from, Msg { call, kind: MsgKind::Response(Resp { status: Status::Ok, value: 0 }) });
    }

    // ---- crash and restart ----

    /// The node went down: everything volatile is lost (chains, calls, waiting users, log
    /// appends not yet written); the saga log survives.
    pub fn crash(&mut self) {
        self.stats.lost_in_crash += (self.chains.len() + self.waiters.len()) as u64;
        self.chains.clear();
        self.waiters.clear();
        self.replies.clear();
        self.publishes.clear();
        self.calls.crash();
        for s in &mut self.sagas {
            if s.waiter.take().is_some() {
                self.stats.lost_in_crash += 1;
            }
            s.pending = None;
            s.failed_rounds = 0;
            s.resumed = false;
            if !s.durable && s.phase != Phase::Lost {
                s.phase = Phase::Lost;
                self.index.remove(s.id);
                self.running -= 1;
            }
        }
    }

    /// Start and restart: the orchestrator resumes every saga of its log that has not ended.
    pub fn boot(&mut self, now: Nanos, out: &mut Outbox) {
        for i in 0..self.sagas.len() {
            let s = &mut self.sagas[i];
            if s.durable && !s.phase.is_terminal() {
                s.resumed = true;
                self.stats.resumed += 1;
                self.orch_act(now, out, i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{CallTarget, RetryPolicy, Target};
    use crate::saga::REFUSED;

    const USER: ActorId = ActorId(100);
    const STEPS: u16 = 3;

    /// Participant of step k is actor k.
    fn coordinator(design: Design, reply_within: Option<Nanos>) -> Coordinator {
        let targets = if design == Design::Choreographed {
            vec![CallTarget::new(Target::Actor(ActorId(50)), 100, RetryPolicy::default())]
        } else {
            // The request kind comes from the target: even targets do, odd ones undo.
            (0..2 * STEPS as u32)
                .map(|t| {
                    let mut c = CallTarget::new(Target::Actor(ActorId(t / 2)), 100, RetryPolicy::default());
                    c.class = Some((t % 2) as u8);
                    c
                })
                .collect()
        };
        let cfg = CoordinatorConfig {
            design,
            steps: STEPS,
            reply_within,
            log_write: Dist::Constant { value: 5.0 },
            compensation_pause: 1000,
            outcomes: (design == Design::Choreographed).then_some(ActorId(60)),
            propagate_deadlines: false,
        };
        Coordinator::new(cfg, Calls::new(targets, Stream::new(1, "c")), Stream::new(1, "log"), Stream::new(1, "p"))
    }

    /// A small driver: delivers effects in time order, with participants scripted by `answer`.
    struct Run<'a> {
        c: Coordinator,
        now: Nanos,
        timers: Vec<(Nanos, Timer)>,
        /// Requests sent to participants, in order: (step, undo), and when.
        calls: Vec<(u32, bool)>,
        call_times: Vec<Nanos>,
        /// The deadline each of those requests carried.
        call_deadlines: Vec<Nanos>,
        replies: Vec<Status>,
        answer: Box<dyn FnMut(u32, bool) -> Option<Resp> + 'a>,
    }

    impl<'a> Run<'a> {
        /// Participants answer `Ok` with the value `answer` gives, or never (`None`).
        fn new(c: Coordinator, mut answer: impl FnMut(u32, bool) -> Option<u64> + 'a) -> Run<'a> {
            Run::answering(c, move |step, undo| answer(step, undo).map(|value| Resp { status: Status::Ok, value }))
        }

        /// Participants answer with whatever `answer` gives, or never (`None`).
        fn answering(c: Coordinator, answer: impl FnMut(u32, bool) -> Option<Resp> + 'a) -> Run<'a> {
            Run {
                c,
                now: 0,
                timers: vec![],
                calls: vec![],
                call_times: vec![],
                call_deadlines: vec![],
                replies: vec![],
                answer: Box::new(answer),
            }
        }

        fn absorb(&mut self, out: Outbox) {
            let mut responses = vec![];
            for (to, m) in out.sends {
                match m.kind {
                    MsgKind::Response(r) if to == USER => self.replies.push(r.status),
                    MsgKind::Request(r) => {
                        self.calls.push((to.0, r.class == UNDO));
                        self.call_times.push(self.now);
                        self.call_deadlines.push(r.deadline);
                        // `None`: the participant never answers (down).
                        if let Some(resp) = (self.answer)(to.0, r.class == UNDO) {
                            responses.push((to, Msg { call: m.call, kind: MsgKind::Response(resp) }));
                        }
                    }
                    _ => {}
                }
            }
            for (at, t) in out.timers {
                self.timers.push((self.now + at, t));
            }
            for (from, m) in responses {
                let mut out = Outbox::default();
                self.c.on_msg(self.now, &mut out, from, m);
                self.absorb(out);
            }
        }

        fn request(&mut self, saga: u64) {
            self.request_until(saga, NO_DEADLINE);
        }

        /// A user request whose caller stops waiting at `deadline`.
        fn request_until(&mut self, saga: u64, deadline: Nanos) {
            let mut out = Outbox::default();
            let req = Req { deadline, ..Req::new(0, Op::Write, saga) };
            self.c.on_msg(self.now, &mut out, USER, Msg { call: saga, kind: MsgKind::Request(req) });
            self.absorb(out);
        }

        /// Fires timers in time order until `until`.
        fn run(&mut self, until: Nanos) {
            loop {
                self.timers.sort_by_key(|t| t.0);
                if self.timers.is_empty() || self.timers[0].0 > until {
                    break;
                }
                let (at, t) = self.timers.remove(0);
                self.now = at;
                let mut out = Outbox::default();
                self.c.on_timer(at, &mut out, t);
                self.absorb(out);
            }
            self.now = until;
        }
    }

    #[test]
    fn orchestrator_compensates_completed_steps_in_reverse_order_after_a_refusal() {
        let mut r =
            Run::new(coordinator(Design::Orchestrated, None), |step, _| Some(if step == 2 { REFUSED } else { DONE }));
        r.request(7);
        r.run(10_000);
        assert_eq!(r.calls, vec![(0, false), (1, false), (2, false), (1, true), (0, true)]);
        assert_eq!(r.replies, vec![Status::Error], "told once the abort is written");
        assert_eq!(r.c.saga_log().collect::<Vec<_>>(), vec![(7, Phase::Compensated)]);
        assert!(r.c.idle());
        assert_eq!((r.c.stats.aborted, r.c.stats.compensation_calls), (1, 2));
        // Every decision is written before it is acted on: creation, 2 steps, abort, 2 undos.
        assert_eq!(r.c.stats.log_writes, 6);
    }

    #[test]
    fn orchestrator_undoes_a_step_whose_outcome_is_unknown_and_retries_compensations() {
        // Step 1 never answers its do; its first undo is lost too, then it comes back.
        let mut undo1 = 0;
        let mut r = Run::new(coordinator(Design::Orchestrated, Some(50)), |step, undo| match (step, undo) {
            (1, false) => None,
            (1, true) => {
                undo1 += 1;
                (undo1 > 1).then_some(DONE)
            }
            _ => Some(DONE),
        });
        r.request(3);
        r.run(1_000_000);
        assert_eq!(r.calls, vec![(0, false), (1, false), (1, true), (1, true), (0, true)]);
        assert_eq!(r.replies, vec![Status::Timeout,], "100 ns timeout > 50 ns deadline: still processing");
        assert_eq!(r.c.saga_log().next(), Some((3, Phase::Compensated)));
    }

    /// A step that turned the saga away at every attempt (a full queue) did nothing: only the
    /// steps before it are undone. If one attempt went unanswered, it may have acted: undone too.
    #[test]
    fn orchestrator_does_not_undo_a_step_that_only_ever_rejected() {
        let rejected = Resp { status: Status::Rejected, value: 0 };
        let done = Resp { status: Status::Ok, value: DONE };
        // Step 1's do (target 2) gets a second attempt.
        let retrying = || {
            let mut c = coordinator(Design::Orchestrated, None);
            c.calls.targets[2].retry = RetryPolicy { max_attempts: 2, ..RetryPolicy::default() };
            c
        };
        let mut r = Run::answering(retrying(), |step, undo| match (step, undo) {
            (1, false) => Some(rejected),
            _ => Some(done),
        });
        r.request(5);
        r.run(1_000_000_000);
        // Two rejected dos, then only step 0's undo.
        assert_eq!(r.calls, vec![(0, false), (1, false), (1, false), (0, true)]);
        assert_eq!(r.c.saga_log().next(), Some((5, Phase::Compensated)));
        // The first attempt unanswered (timed out: it may have charged), the retry rejected.
        let mut attempts = 0;
        let mut r = Run::answering(retrying(), |step, undo| match (step, undo) {
            (1, false) => {
                attempts += 1;
                (attempts > 1).then_some(rejected)
            }
            _ => Some(done),
        });
        r.request(6);
        r.run(1_000_000_000);
        assert_eq!(r.calls, vec![(0, false), (1, false), (1, false), (1, true), (0, true)]);
        assert_eq!(r.c.saga_log().next(), Some((6, Phase::Compensated)));
    }

    #[test]
    fn pauses_between_rounds_of_a_failing_compensation_grow() {
        // Step 1's undo fails five rounds (one attempt each: 100 ns timeout), then works.
        let mut rounds = 0;
        let mut r = Run::new(coordinator(Design::Orchestrated, None), |step, undo| match (step, undo) {
            (1, true) => {
                rounds += 1;
                (rounds > 5).then_some(DONE)
            }
            (2, false) => Some(REFUSED),
            _ => Some(DONE),
        });
        r.request(1);
        r.run(1_000_000);
        let undo1: Vec<Nanos> =
            r.calls.iter().zip(&r.call_times).filter(|(c, _)| **c == (1, true)).map(|(_, t)| *t).collect();
        assert_eq!(undo1.len(), 6);
        let gaps: Vec<Nanos> = undo1.windows(2).map(|w| w[1] - w[0]).collect();
        // Each gap is the 100 ns timeout plus a pause in [p/2, p], p = 1000 · 2^round.
        for (n, g) in gaps.iter().enumerate() {
            let p = 1000 << n;
            assert!((100 + p / 2..=100 + p).contains(g), "round {n}: gap {g}");
        }
        assert_eq!(r.c.saga_log().next(), Some((1, Phase::Compensated)));
    }

    #[test]
    fn orchestrator_resumes_sagas_from_its_log_after_a_crash() {
        let mut r = Run::new(coordinator(Design::Orchestrated, None), |_, _| Some(DONE));
        r.request(1);
        r.request(2);
        // Both creations are written at t=5; the first step's outcome is being written at t=10.
        r.run(7);
        r.request(3); // creation not yet written when the crash comes
        r.c.crash();
        r.timers.clear(); // the world drops timers set before a crash
        assert_eq!(r.c.stats.lost_in_crash, 3);
        let mut out = Outbox::default();
        r.c.boot(r.now, &mut out);
        r.absorb(out);
        assert_eq!(r.c.stats.resumed, 2);
        r.run(1_000_000);
        let log: Vec<_> = r.c.saga_log().collect();
        assert_eq!(log, vec![(1, Phase::Completed), (2, Phase::Completed)], "saga 3 never started");
        assert!(r.c.idle());
        // Step 0 of sagas 1 and 2 was done before the crash and again after it (idempotent).
        assert_eq!(r.calls.iter().filter(|c| **c == (0, false)).count(), 4);
        // A retry of saga 1 is answered from the log; saga 3 starts afresh.
        r.request(1);
        r.request(3);
        r.run(2_000_000);
        assert_eq!(r.replies, vec![Status::Ok, Status::Ok]);
    }

    /// A saga resumed after a crash while its step's call was out: that call may have acted
    /// (it was delivered; only the answer was lost with the orchestrator), so the step is
    /// undone even when every attempt after the restart is turned away.
    #[test]
    fn a_resumed_step_is_undone_even_if_every_call_after_the_restart_is_rejected() {
        let rejected = Resp { status: Status::Rejected, value: 0 };
        let done = Resp { status: Status::Ok, value: DONE };
        // Step 1 gets its do and acts, but the orchestrator crashes before the answer.
        let mut r = Run::answering(coordinator(Design::Orchestrated, None), |step, undo| match (step, undo) {
            (1, false) => None,
            _ => Some(done),
        });
        r.request(4);
        // Created at 5, step 0 written at 10 and step 1 called then; its timeout is 100 ns.
        r.run(50);
        assert_eq!(r.calls, vec![(0, false), (1, false)]);
        r.c.crash();
        r.timers.clear(); // the world drops timers set before a crash
        // After the restart step 1's queue is full (every resumed saga calls at once).
        r.answer = Box::new(move |step, undo| match (step, undo) {
            (1, false) => Some(rejected),
            _ => Some(done),
        });
        let mut out = Outbox::default();
        r.c.boot(r.now, &mut out);
        r.absorb(out);
        r.run(1_000_000);
        assert_eq!(r.calls, vec![(0, false), (1, false), (1, false), (1, true), (0, true)]);
        assert_eq!(r.c.saga_log().next(), Some((4, Phase::Compensated)));
    }

    #[test]
    fn sync_front_cleans_up_known_steps_once_and_leaves_the_unknown_one() {
        let mut r = Run::new(coordinator(Design::Sync, None), |step, undo| match (step, undo) {
            (2, false) => None, // times out (may have applied)
            (0, true) => None,  // the cleanup of step 0 is lost: never retried
            _ => Some(DONE),
        });
        r.request(9);
        r.run(1_000_000);
        assert_eq!(r.calls, vec![(0, false), (1, false), (2, false), (1, true), (0, true)]);
        assert_eq!(r.replies, vec![Status::Error]);
        assert_eq!(r.c.told().get(9), Some(&false), "remembered for the saga checker");
        assert!(r.c.idle());
        let mut r = Run::new(coordinator(Design::Sync, None), |_, _| Some(DONE));
        r.request(1);
        assert_eq!(r.replies, vec![Status::Ok]);
        assert_eq!(r.calls.len(), 3);
    }

    /// A sync front that propagates deadlines passes its user's deadline on to the steps'
    /// `do`s: a step's call stops waiting at it (not at its own timeout), so no step starts
    /// after it, and the steps done are cleaned up (their `undo`s do not inherit it: the
    /// cleanup is the front's own duty). A request that arrives at its deadline starts nothing.
    #[test]
    fn a_sync_front_that_propagates_deadlines_stops_its_chain_at_its_users_deadline() {
        let propagating = || {
            let c = coordinator(Design::Sync, None);
            let cfg = CoordinatorConfig { propagate_deadlines: true, ..c.cfg };
            Coordinator::new(cfg, c.calls, c.rng_log, c.rng_pause)
        };
        // Step 2 never answers; calls time out after 100 ns, the user waits 60.
        let answer = |step, undo| if (step, undo) == (2, false) { None } else { Some(DONE) };
        let chain = vec![(0, false), (1, false), (2, false), (1, true), (0, true)];
        let mut r = Run::new(propagating(), answer);
        r.request_until(9, 60);
        r.run(59);
        assert!(r.replies.is_empty());
        r.run(60);
        assert_eq!(r.replies, vec![Status::Error], "at the user's deadline");
        assert_eq!(r.calls, chain);
        assert_eq!(r.call_deadlines, vec![60, 60, 60, 160, 160], "the undos keep their own timeout");
        assert_eq!((r.c.stats.deadline_exceeded, r.c.stats.shed), (1, 0));
        assert!(r.c.idle());
        // Without propagation the same chain waits for its call timeout.
        let mut r = Run::new(coordinator(Design::Sync, None), answer);
        r.request_until(9, 60);
        r.run(99);
        assert!(r.replies.is_empty());
        r.run(100);
        assert_eq!((r.replies.clone(), r.calls.clone()), (vec![Status::Error], chain));
        assert_eq!(r.call_deadlines, vec![100, 100, 100, 200, 200]);
        assert_eq!(r.c.stats.deadline_exceeded, 0);
        // Arriving at its deadline: turned away, no step called.
        let mut r = Run::new(propagating(), |_, _| Some(DONE));
        r.run(60);
        r.request_until(10, 60);
        assert_eq!(r.replies, vec![Status::Rejected]);
        assert!(r.calls.is_empty());
        assert_eq!((r.c.stats.shed, r.c.stats.started, r.c.stats.answered_failed), (1, 0, 1));
        assert!(r.c.idle());
    }

    #[test]
    fn choreography_front_answers_from_the_outcome_event() {
        let mut r = Run::new(coordinator(Design::Choreographed, Some(1000)), |_, _| Some(0));
        r.request(4);
        r.request(5);
        assert_eq!(r.calls, vec![(50, false), (50, false)], "published to the first inbox");
        assert_eq!(r.c.stats.started, 2);
        let mut out = Outbox::default();
        let ev = |key| Msg { call: 1, kind: MsgKind::Request(Req::new(0, Op::Write, key)) };
        r.c.on_msg(10, &mut out, ActorId(60), ev(event_key(4, false)));
        r.c.on_msg(11, &mut out, ActorId(60), ev(event_key(4, false))); // a duplicate: acked, ignored
        assert_eq!(out.sends.iter().filter(|(to, _)| *to == ActorId(60)).count(), 2, "every event is acked");
        r.absorb(out);
        r.run(5000);
        assert_eq!(r.replies, vec![Status::Ok, Status::Timeout]);
    }

    /// A publish that got no answer may have landed (the saga may run): the user hears "still
    /// processing"; one the broker turned away cannot have: the user hears that it failed.
    #[test]
    fn choreography_front_says_failed_only_when_its_publish_cannot_have_landed() {
        let unanswered = Run::answering(coordinator(Design::Choreographed, Some(1000)), |_, _| None);
        let rejected = Run::answering(coordinator(Design::Choreographed, Some(1000)), |_, _| {
            Some(Resp { status: Status::Rejected, value: 0 })
        });
        for (mut r, want) in [(unanswered, Status::Timeout), (rejected, Status::Error)] {
            r.request(4);
            r.run(500); // the publish's timeout is 100 ns, the reply deadline 1000 ns
            assert_eq!(r.replies, vec![want]);
            assert_eq!(r.c.told().get(4), (want == Status::Error).then_some(&false));
        }
    }

    /// A user's retry of a saga still running takes over its answer: the earlier request,
    /// whose caller gave up, is counted `superseded` (so the answers add up to the requests).
    #[test]
    fn a_retry_of_a_running_saga_supersedes_the_earlier_request() {
        for design in [Design::Orchestrated, Design::Choreographed] {
            // Participants (and the broker) never answer: the saga stays running.
            let mut r = Run::answering(coordinator(design, None), |_, _| None);
            r.request(7);
            r.run(50);
            r.request(7);
            r.request(8);
            let st = &r.c.stats;
            assert_eq!((st.requests, st.superseded, r.c.waiting()), (3, 1, 2), "{design:?}");
            assert!(r.replies.is_empty(), "{design:?}");
        }
    }

    /// `reply_within` deadlines wait behind one timer, and each caller still hears `Timeout`
    /// at exactly its own deadline (unless the saga ended first).
    #[test]
    fn reply_deadlines_fire_each_at_its_own_time_behind_one_timer() {
        let mut r = Run::new(coordinator(Design::Choreographed, Some(1000)), |_, _| Some(0));
        let deadline_timers = |r: &Run| r.timers.iter().filter(|(_, t)| *t == DEADLINE_TIMER).count();
        r.request(1);
        r.run(300);
        r.request(2);
        r.run(400);
        let mut out = Outbox::default();
        let ev = |key| Msg { call: 9, kind: MsgKind::Request(Req::new(0, Op::Write, key)) };
        r.c.on_msg(400, &mut out, ActorId(60), ev(event_key(2, false)));
        r.absorb(out);
        assert_eq!(r.replies, vec![Status::Ok], "saga 2 ended");
        r.run(600);
        r.request(3);
        assert_eq!(deadline_timers(&r), 1, "one timer for three deadlines");
        let mut heard = vec![];
        for t in [999, 1000, 1599, 1600] {
            r.run(t);
            assert!(deadline_timers(&r) <= 1);
            heard.push(r.replies.len());
        }
        assert_eq!(heard, vec![1, 2, 2, 3], "saga 1 at 1000, saga 3 at 1600; saga 2's deadline was met");
        assert_eq!(r.replies[1..], [Status::Timeout, Status::Timeout]);
        assert_eq!(deadline_timers(&r), 0);
    }
}
