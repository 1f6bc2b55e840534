//! A durable message broker (Kafka/SQS-like) with at-least-once delivery: partitions chosen by
//! key, consumer groups that each get every message, push delivery with a visibility timeout,
//! redelivery at the front of the partition, a dead-letter queue, and consumer sessions with
//! rebalancing.
//!
//! Rules, in the order a message meets them:
//! - **Publish.** A `Request` with [`Op::Write`] from any actor appends the message to partition
//!   `partition_for(key)` of every consumer group and is answered at once with
//!   `Resp { Ok, value: message id }` (ids count from 1): the broker is durable, a message is
//!   persisted on receipt. A [`Op::Probe`] is answered `Ok`; a [`Op::Read`] is answered `Error`
//!   (consumers do not pull, the broker pushes).
//! - **Delivery.** Each partition of a group is owned by one live member (round-robin by
//!   partition index over the live members, in member order). The broker pushes up to
//!   `max_in_flight_per_partition` messages of a partition to its owner as
//!   `Request { class: 0, op: Write, key }` whose call id is the delivery id (a slab key), and
//!   sets a visibility timer for it. An `Ok` answer acknowledges (removes) the message; any other
//!   answer, the visibility timeout, or a revocation (below) is a failed attempt: the message is
//!   visible again at its place at the front of the partition (records stay in id order, so
//!   per-partition order holds with one in flight) and its attempt count goes up. After
//!   `max_attempts` failed attempts it moves to the dead-letter queue and the partition goes on.
//! - **Stale answers.** An answer to a delivery that already failed (or was forgotten in a
//!   crash) is ignored: the message is or will be delivered again. An `Ok` among them is
//!   counted in [`BrokerStats::late_acks`]: the consumer did the work and will see it again.
//! - **Sessions.** A member that has been sent work and has not answered anything for
//!   `session_timeout` is removed from its group's live set: its outstanding deliveries are
//!   revoked (failed attempts) and its partitions go to the remaining live members. A removed
//!   member is probed (`Op::Probe`) every `session_timeout`; any answer from it (to a probe or a
//!   late answer to an old delivery) puts it back and the group rebalances again.
//! - **Crash.** Messages are durable: queued ones survive. Deliveries in flight are forgotten
//!   and visible again with their attempt count *unchanged* — the broker lost track, the
//!   consumer did not fail, and counting it would dead-letter healthy messages when the broker
//!   flaps. Their next delivery counts as a possible duplicate. Consumer liveness is volatile
//!   too: after [`Broker::restart`] every member is presumed live.
//!
//! Storage: each group keeps, per partition, a `VecDeque` of compact records of its
//! unacknowledged messages (queued and in flight) in id order; in-flight state lives in a
//! generational slab. Nothing else allocates per message in steady state (the dead-letter queue
//! grows by one entry per dead letter; it is kept for inspection).

use std::collections::VecDeque;

use faultline_sim::Nanos;
use faultline_sim::rng::splitmix64;

use crate::deadlines::Deadlines;
use crate::metrics::{LatencyHist, TimeAverage};
use crate::msg::{ActorId, CallId, Msg, MsgKind, Op, Outbox, Req, Resp, Status, Timer};
use crate::slab::{Key, Slab};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokerConfig {
    pub partitions: u16,
    /// How long a delivery may stay unanswered before it counts as failed.
    pub visibility_timeout: Nanos,
    /// Failed deliveries of one message before it is dead-lettered (≥ 1).
    pub max_attempts: u32,
    /// Deliveries of one partition in flight at once (≥ 1); 1 = strict per-partition order.
    pub max_in_flight_per_partition: u32,
    /// How long a member with work outstanding may stay silent before it is considered gone;
    /// also the interval at which removed members are probed.
    pub session_timeout: Nanos,
}

#[derive(Clone, Debug, Default)]
pub struct BrokerStats {
    /// Messages accepted from producers (each goes to every group).
    pub published: u64,
    /// Deliveries pushed to consumers, first ones and redeliveries.
    pub delivered: u64,
    pub acked: u64,
    /// Answers other than `Ok` to live deliveries.
    pub nacked: u64,
    /// Deliveries of a message the group had been delivered before.
    pub redelivered: u64,
    /// Redeliveries whose previous delivery ended without an answer (visibility timeout,
    /// revocation, broker crash): the consumer may already have processed the message.
    pub duplicates_possible: u64,
    /// `Ok` answers to deliveries the broker had already given up on (ignored).
    pub late_acks: u64,
    /// Deliveries that ended without an ack: negative answers, visibility timeouts, revocations
    /// (a broker crash is not counted: see the module notes).
    pub failed_attempts: u64,
    pub visibility_timeouts: u64,
    /// Deliveries taken back from a member removed for silence.
    pub revoked: u64,
    /// Deliveries forgotten by a broker crash (visible again, attempt unchanged).
    pub crash_requeued: u64,
    pub dead_lettered: u64,
    /// Changes of a group's live membership (removals, rejoins, restarts that restore members).
    pub rebalances: u64,
    /// Members removed because their session timed out.
    pub sessions_expired: u64,
    /// Removed members that answered and were taken back.
    pub rejoined: u64,
    /// Probes sent to removed members.
    pub probes: u64,
    /// Highest backlog (unacknowledged messages summed over groups).
    pub max_backlog: u64,
    /// Backlog over the scenario's duration.
    pub backlog: TimeAverage,
    /// Time from publish to acknowledgement, per group and message; allocated at the first ack,
    /// like a service's sojourn histogram. Two significant digits (quantiles within 1%), so that
    /// reporting it scans a seventh of a 3-digit histogram's counters.
    pub ack_latency: Option<Box<LatencyHist>>,
}

/// A message that used up its attempts, kept for inspection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    pub group: u16,
    pub id: u64,
    pub key: u64,
    pub enqueued_at: Nanos,
    pub dead_at: Nanos,
    pub attempts: u32,
}

/// What a live delivery id stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryInfo {
    pub group: u16,
    pub partition: u16,
    pub consumer: ActorId,
    pub message: u64,
    /// Which attempt this delivery is (1 for the first).
    pub attempt: u32,
}

/// Visibility timeout of one delivery (`arg`: delivery id).
const VISIBILITY: u8 = 1;
/// The one timer behind all visibility deadlines.
const VISIBILITY_TIMER: Timer = Timer::Model { tag: VISIBILITY, arg: 0 };
/// Session check of one member (`arg`: `group << 32 | member`).
const SESSION: u8 = 2;
/// Probe round for one removed member (`arg`: `group << 32 | member`).
const PROBE: u8 = 3;

/// The name of a timer tag in a trace, and whether its argument is a key.
pub fn timer_name(tag: u8) -> (&'static str, bool) {
    match tag {
        VISIBILITY => ("visibility", false),
        SESSION => ("session-check", true),
        PROBE => ("member-probe", true),
        _ => ("timer", false),
    }
}

/// `Record::delivery` of a message that is not in flight. Slab generations are even, so an odd
/// key is never live.
const IDLE: Key = u64::MAX;
const NO_OWNER: u32 = u32::MAX;

/// The message has been delivered to this group before.
const DELIVERED: u8 = 1;
/// Its last delivery ended without an answer: the consumer may have processed it.
const UNCERTAIN: u8 = 2;

#[derive(Clone, Copy, Debug)]
struct Record {
    id: u64,
    key: u64,
    enqueued_at: Nanos,
    /// Live delivery id while in flight, else [`IDLE`].
    delivery: Key,
    /// Failed deliveries so far.
    attempt: u32,
    flags: u8,
}

#[derive(Debug, Default)]
struct Partition {
    /// Unacknowledged messages (visible and in flight), in id order.
    queue: VecDeque<Record>,
    in_flight: u32,
    /// Member index, or [`NO_OWNER`] when the group has no live member.
    owner: u32,
}

#[derive(Clone, Copy, Debug)]
struct Member {
    actor: ActorId,
    live: bool,
    /// Live deliveries sent to it.
    outstanding: u32,
    /// Since when it has owed an answer (set at the first delivery after its last answer).
    waiting_since: Option<Nanos>,
    session_armed: bool,
    probe_armed: bool,
}

#[derive(Debug)]
struct Group {
    members: Vec<Member>,
    parts: Vec<Partition>,
}

#[derive(Clone, Copy, Debug)]
struct Delivery {
    group: u16,
    partition: u16,
    member: u32,
    message: u64,
}

#[derive(Debug)]
pub struct Broker {
    cfg: BrokerConfig,
    groups: Vec<Group>,
    /// `(actor, group, member index)`, sorted: who an answer is from.
    by_actor: Vec<(ActorId, u16, u32)>,
    deliveries: Slab<Delivery>,
    /// Visibility deadlines of deliveries (the timeout is fixed), behind one timer.
    visibility: Deadlines,
    next_id: u64,
    backlog: u64,
    dead: Vec<DeadLetter>,
    /// Live member indices during a rebalance (reused).
    scratch: Vec<u32>,
    pub stats: BrokerStats,
}

/// The partition of `key` among `partitions`: a fixed integer mix, never std's hasher.
pub fn partition_for(key: u64, partitions: u16) -> u16 {
    let mut s = key;
    (splitmix64(&mut s) % u64::from(partitions.max(1))) as u16
}

fn member_arg(g: usize, m: usize) -> u64 {
    (g as u64) << 32 | m as u64
}

impl Broker {
    /// `groups`: each consumer group's members (service instances), in member order.
    /// `horizon`: the backlog's time average covers `[0, horizon]` (the scenario's duration).
    pub fn new(cfg: BrokerConfig, groups: Vec<Vec<ActorId>>, horizon: Nanos) -> Broker {
        assert!(cfg.partitions >= 1, "a broker needs a partition");
        assert!(cfg.max_attempts >= 1, "max_attempts counts deliveries: at least 1");
        assert!(cfg.max_in_flight_per_partition >= 1, "at least one delivery in flight per partition");
        assert!(groups.len() <= usize::from(u16::MAX), "group index fits u16");
        let mut by_actor = Vec::new();
        let groups: Vec<Group> = groups
            .into_iter()
            .enumerate()
            .map(|(g, actors)| {
                let members = actors
                    .iter()
                    .enumerate()
                    .map(|(m, &actor)| {
                        by_actor.push((actor, g as u16, m as u32));
                        Member {
                            actor,
                            live: true,
                            outstanding: 0,
                            waiting_since: None,
                            session_armed: false,
                            probe_armed: false,
                        }
                    })
                    .collect();
                let parts =
                    (0..cfg.partitions).map(|_| Partition { owner: NO_OWNER, ..Partition::default() }).collect();
                Group { members, parts }
            })
            .collect();
        by_actor.sort_unstable();
        let mut b = Broker {
            cfg,
            groups,
            by_actor,
            deliveries: Slab::default(),
            visibility: Deadlines::default(),
            next_id: 1,
            backlog: 0,
            dead: Vec::new(),
            scratch: Vec::new(),
            stats: BrokerStats { backlog: TimeAverage::with_horizon(horizon), ..BrokerStats::default() },
        };
        for g in 0..b.groups.len() {
            b.assign(g);
        }
        b
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.cfg
    }

    /// The partition a message with `key` goes to.
    pub fn partition_for(&self, key: u64) -> u16 {
        partition_for(key, self.cfg.partitions)
    }

    /// Messages not yet acknowledged by a group (queued or in flight), summed over groups.
    pub fn backlog(&self) -> u64 {
        self.backlog
    }

    /// Unacknowledged messages per partition, summed over groups.
    pub fn partition_backlogs(&self) -> Vec<u64> {
        let mut v = vec![0u64; usize::from(self.cfg.partitions)];
        for g in &self.groups {
            for (p, part) in g.parts.iter().enumerate() {
                v[p] += part.queue.len() as u64;
            }
        }
        v
    }

    /// Age of the oldest unacknowledged message (0 when there is none).
    pub fn oldest_age(&self, now: Nanos) -> Nanos {
        let oldest =
            self.groups.iter().flat_map(|g| &g.parts).filter_map(|p| p.queue.front()).map(|r| r.enqueued_at).min();
        oldest.map_or(0, |t| now.saturating_sub(t))
    }

    /// Keys of the messages no group has acknowledged yet (queued or in flight).
    pub fn pending_keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.groups.iter().flat_map(|g| &g.parts).flat_map(|p| p.queue.iter().map(|r| r.key))
    }

    pub fn dead_letters(&self) -> u64 {
        self.dead.len() as u64
    }

    pub fn dead_letter_queue(&self) -> &[DeadLetter] {
        &self.dead
    }

    /// Deliveries awaiting an answer.
    pub fn in_flight(&self) -> usize {
        self.deliveries.len()
    }

    /// What the broker holds for the memory budget: messages (dead letters included),
    /// deliveries and their visibility deadlines (met ones not yet skipped included).
    pub fn held(&self) -> usize {
        self.backlog() as usize + self.deliveries.len() + self.visibility.len() + self.dead.len()
    }

    /// What a delivery id stands for, while it is live.
    pub fn delivery(&self, call: CallId) -> Option<DeliveryInfo> {
        let d = self.deliveries.get(call)?;
        let g = &self.groups[usize::from(d.group)];
        let part = &g.parts[usize::from(d.partition)];
        let rec = &part.queue[find(&part.queue, d.message)];
        Some(DeliveryInfo {
            group: d.group,
            partition: d.partition,
            consumer: g.members[d.member as usize].actor,
            message: d.message,
            attempt: rec.attempt + 1,
        })
    }

    /// The member that owns a partition of a group, if the group has a live member.
    pub fn owner(&self, group: usize, partition: u16) -> Option<ActorId> {
        let g = &self.groups[group];
        let o = g.parts[usize::from(partition)].owner;
        (o != NO_OWNER).then(|| g.members[o as usize].actor)
    }

    /// Whether `actor` is in `group`'s live set.
    pub fn is_live(&self, group: usize, actor: ActorId) -> bool {
        self.groups[group].members.iter().any(|m| m.actor == actor && m.live)
    }

    pub fn on_msg(&mut self, now: Nanos, out: &mut Outbox, from: ActorId, msg: Msg) {
        match msg.kind {
            MsgKind::Request(req) => match req.op {
                Op::Write => self.publish(now, out, from, msg.call, req.key),
                Op::Probe => out.send(from, Msg { call: msg.call, kind: MsgKind::response(Status::Ok) }),
                Op::Read => out.send(from, Msg { call: msg.call, kind: MsgKind::response(Status::Error) }),
            },
            MsgKind::Response(resp) => self.on_answer(now, out, from, msg.call, resp),
            MsgKind::Db(_) => {} // not a database replica
        }
        self.gauge(now);
    }

    fn publish(&mut self, now: Nanos, out: &mut Outbox, from: ActorId, call: CallId, key: u64) {
        let id = self.next_id;
        self.next_id += 1;
        self.stats.published += 1;
        out.send(from, Msg { call, kind: MsgKind::Response(Resp { status: Status::Ok, value: id }) });
        let p = usize::from(self.partition_for(key));
        for g in 0..self.groups.len() {
            let rec = Record { id, key, enqueued_at: now, delivery: IDLE, attempt: 0, flags: 0 };
            self.groups[g].parts[p].queue.push_back(rec);
            self.backlog += 1;
            self.dispatch(now, out, g, p);
        }
    }

    fn on_answer(&mut self, now: Nanos, out: &mut Outbox, from: ActorId, call: CallId, resp: Resp) {
        let live = self
            .deliveries
            .get(call)
            .copied()
            .filter(|d| self.groups[usize::from(d.group)].members[d.member as usize].actor == from);
        if let Some(d) = live {
            let (g, p) = (usize::from(d.group), usize::from(d.partition));
            if resp.status == Status::Ok {
                self.ack(now, call);
            } else {
                self.stats.nacked += 1;
                self.fail(now, call, false);
            }
            self.heard(now, out, from);
            self.dispatch(now, out, g, p);
        } else if self.by_actor.binary_search_by_key(&from, |e| e.0).is_ok() {
            if resp.status == Status::Ok && call & 1 == 0 {
                self.stats.late_acks += 1;
            }
            self.heard(now, out, from);
        }
    }

    fn ack(&mut self, now: Nanos, key: Key) {
        let d = self.deliveries.remove(key).expect("live delivery");
        let group = &mut self.groups[usize::from(d.group)];
        group.members[d.member as usize].outstanding -= 1;
        let part = &mut group.parts[usize::from(d.partition)];
        part.in_flight -= 1;
        // Usually the oldest message: acknowledgements mostly come in delivery order.
        let rec = if part.queue.front().is_some_and(|r| r.id == d.message) {
            part.queue.pop_front()
        } else {
            let i = find(&part.queue, d.message);
            part.queue.remove(i)
        };
        let rec = rec.expect("found");
        debug_assert_eq!(rec.delivery, key);
        self.backlog -= 1;
        self.stats.acked += 1;
        self.stats.ack_latency.get_or_insert_with(|| Box::new(LatencyHist::coarse())).record(now - rec.enqueued_at);
    }

    /// Ends a live delivery without an ack. The message is visible again with one more failed
    /// attempt, or dead-lettered. `uncertain`: no answer came (the consumer may have done it).
    /// The caller dispatches.
    fn fail(&mut self, now: Nanos, key: Key, uncertain: bool) {
        let d = self.deliveries.remove(key).expect("live delivery");
        self.stats.failed_attempts += 1;
        let group = &mut self.groups[usize::from(d.group)];
        group.members[d.member as usize].outstanding -= 1;
        let part = &mut group.parts[usize::from(d.partition)];
        part.in_flight -= 1;
        let i = find(&part.queue, d.message);
        let rec = &mut part.queue[i];
        debug_assert_eq!(rec.delivery, key);
        rec.delivery = IDLE;
        rec.attempt += 1;
        if uncertain {
            rec.flags |= UNCERTAIN;
        }
        if rec.attempt >= self.cfg.max_attempts {
            let rec = part.queue.remove(i).expect("found");
            self.backlog -= 1;
            self.stats.dead_lettered += 1;
            self.dead.push(DeadLetter {
                group: d.group,
                id: rec.id,
                key: rec.key,
                enqueued_at: rec.enqueued_at,
                dead_at: now,
                attempts: rec.attempt,
            });
        }
    }

    /// Sends a partition's next visible messages to its owner, up to the in-flight limit.
    fn dispatch(&mut self, now: Nanos, out: &mut Outbox, g: usize, p: usize) {
        let Broker { cfg, groups, deliveries, stats, .. } = self;
        let group = &mut groups[g];
        let part = &mut group.parts[p];
        if part.owner == NO_OWNER {
            return;
        }
        let m = part.owner as usize;
        let member = &mut group.members[m];
        let mut i = 0;
        while part.in_flight < cfg.max_in_flight_per_partition {
            while i < part.queue.len() && part.queue[i].delivery != IDLE {
                i += 1;
            }
            let Some(rec) = part.queue.get_mut(i) else { break };
            let key =
                deliveries.insert(Delivery { group: g as u16, partition: p as u16, member: m as u32, message: rec.id });
            rec.delivery = key;
            stats.delivered += 1;
            if rec.flags & DELIVERED != 0 {
                stats.redelivered += 1;
            }
            if rec.flags & UNCERTAIN != 0 {
                stats.duplicates_possible += 1;
            }
            rec.flags = DELIVERED;
            part.in_flight += 1;
            member.outstanding += 1;
            // It carries its visibility deadline: past it, the message goes to another
            // delivery anyway, so a consumer that propagates deadlines drops it unserved.
            let deadline = now.saturating_add(cfg.visibility_timeout);
            let req = Req { deadline, ..Req::new(0, Op::Write, rec.key) };
            out.send(member.actor, Msg { call: key, kind: MsgKind::Request(req) });
            self.visibility.set(now, cfg.visibility_timeout, key, out, VISIBILITY_TIMER);
            if member.waiting_since.is_none() {
                member.waiting_since = Some(now);
            }
            if !member.session_armed {
                member.session_armed = true;
                out.timer(cfg.session_timeout, Timer::Model { tag: SESSION, arg: member_arg(g, m) });
            }
            i += 1;
        }
    }

    fn dispatch_group(&mut self, now: Nanos, out: &mut Outbox, g: usize) {
        for p in 0..usize::from(self.cfg.partitions) {
            self.dispatch(now, out, g, p);
        }
    }

    /// An answer came from `from`: proof of life in every group it belongs to.
    fn heard(&mut self, now: Nanos, out: &mut Outbox, from: ActorId) {
        let start = self.by_actor.partition_point(|e| e.0 < from);
        let mut k = start;
        while let Some(&(actor, g, m)) = self.by_actor.get(k) {
            if actor != from {
                break;
            }
            k += 1;
            let (g, m) = (usize::from(g), m as usize);
            let member = &mut self.groups[g].members[m];
            if member.live {
                member.waiting_since = (member.outstanding > 0).then_some(now);
            } else {
                member.live = true;
                member.waiting_since = None;
                self.stats.rejoined += 1;
                self.stats.rebalances += 1;
                self.assign(g);
                self.dispatch_group(now, out, g);
            }
        }
    }

    /// Owners of a group's partitions: round-robin by partition index over live members.
    fn assign(&mut self, g: usize) {
        let group = &mut self.groups[g];
        self.scratch.clear();
        self.scratch.extend(group.members.iter().enumerate().filter(|(_, m)| m.live).map(|(i, _)| i as u32));
        for (p, part) in group.parts.iter_mut().enumerate() {
            part.owner = if self.scratch.is_empty() { NO_OWNER } else { self.scratch[p % self.scratch.len()] };
        }
    }

    /// Removes a silent member: rebalance, revoke its deliveries, probe it later.
    fn expire(&mut self, now: Nanos, out: &mut Outbox, g: usize, m: usize) {
        let member = &mut self.groups[g].members[m];
        member.live = false;
        member.waiting_since = None;
        self.stats.sessions_expired += 1;
        self.stats.rebalances += 1;
        self.assign(g);
        for p in 0..usize::from(self.cfg.partitions) {
            // Only in-flight records carry a delivery; stop once all of them have been seen.
            let mut remaining = self.groups[g].parts[p].in_flight;
            let mut i = 0;
            while remaining > 0 {
                let part = &self.groups[g].parts[p];
                let Some(rec) = part.queue.get(i) else { break };
                if rec.delivery == IDLE {
                    i += 1;
                    continue;
                }
                remaining -= 1;
                let key = rec.delivery;
                let len = part.queue.len();
                if self.deliveries.get(key).expect("in-flight record has a live delivery").member as usize == m {
                    self.stats.revoked += 1;
                    self.fail(now, key, true);
                    if self.groups[g].parts[p].queue.len() < len {
                        continue; // dead-lettered: the next record moved into slot i
                    }
                }
                i += 1;
            }
        }
        debug_assert_eq!(self.groups[g].members[m].outstanding, 0);
        self.dispatch_group(now, out, g);
        let member = &mut self.groups[g].members[m];
        if !member.probe_armed {
            member.probe_armed = true;
            out.timer(self.cfg.session_timeout, Timer::Model { tag: PROBE, arg: member_arg(g, m) });
        }
    }

    pub fn on_timer(&mut self, now: Nanos, out: &mut Outbox, t: Timer) {
        let Timer::Model { tag, arg } = t else { return };
        match tag {
            VISIBILITY => {
                self.visibility.fired();
                while let Some(key) = self.visibility.expired(now, out, t, |k| self.deliveries.get(k).is_some()) {
                    let d = *self.deliveries.get(key).expect("live");
                    self.stats.visibility_timeouts += 1;
                    self.fail(now, key, true);
                    self.dispatch(now, out, usize::from(d.group), usize::from(d.partition));
                }
            }
            SESSION => {
                let (g, m) = ((arg >> 32) as usize, arg as u32 as usize);
                let Some(member) = self.groups.get_mut(g).and_then(|g| g.members.get_mut(m)) else { return };
                member.session_armed = false;
                if !member.live {
                    return;
                }
                let Some(since) = member.waiting_since else { return };
                let due = since.saturating_add(self.cfg.session_timeout);
                if now >= due {
                    self.expire(now, out, g, m);
                } else {
                    member.session_armed = true;
                    out.timer(due - now, Timer::Model { tag: SESSION, arg });
                }
            }
            PROBE => {
                let (g, m) = ((arg >> 32) as usize, arg as u32 as usize);
                let Some(member) = self.groups.get_mut(g).and_then(|g| g.members.get_mut(m)) else { return };
                member.probe_armed = false;
                if member.live {
                    return;
                }
                member.probe_armed = true;
                self.stats.probes += 1;
                // Odd: never a live delivery id.
                let call = arg << 1 | 1;
                out.send(member.actor, Msg { call, kind: MsgKind::Request(Req::new(0, Op::Probe, 0)) });
                out.timer(self.cfg.session_timeout, Timer::Model { tag: PROBE, arg });
            }
            _ => {}
        }
        self.gauge(now);
    }

    /// The broker's node went down. Queued messages survive (durable); deliveries in flight are
    /// forgotten and become visible again with their attempt count unchanged; consumer
    /// liveness is forgotten (every member is presumed live again). Timers are dropped by the
    /// world; call [`Broker::restart`] when the node is back.
    pub fn crash(&mut self, now: Nanos) {
        self.deliveries.clear();
        self.visibility.clear();
        for group in &mut self.groups {
            let mut restored = false;
            for m in &mut group.members {
                restored |= !m.live;
                *m = Member {
                    actor: m.actor,
                    live: true,
                    outstanding: 0,
                    waiting_since: None,
                    session_armed: false,
                    probe_armed: false,
                };
            }
            if restored {
                self.stats.rebalances += 1;
            }
            for part in &mut group.parts {
                let mut remaining = part.in_flight;
                for rec in part.queue.iter_mut() {
                    if remaining == 0 {
                        break;
                    }
                    if rec.delivery != IDLE {
                        rec.delivery = IDLE;
                        rec.flags |= UNCERTAIN;
                        remaining -= 1;
                        self.stats.crash_requeued += 1;
                    }
                }
                debug_assert_eq!(remaining, 0);
                part.in_flight = 0;
            }
        }
        self.gauge(now);
    }

    /// Boot (at time 0) and restart after a crash: assigns partitions and dispatches.
    pub fn restart(&mut self, now: Nanos, out: &mut Outbox) {
        for g in 0..self.groups.len() {
            self.assign(g);
            self.dispatch_group(now, out, g);
        }
        self.gauge(now);
    }

    fn gauge(&mut self, now: Nanos) {
        self.stats.backlog.set(now, self.backlog);
        self.stats.max_backlog = self.stats.max_backlog.max(self.backlog);
    }
}

/// Index of message `id` in a partition's queue (records are in id order).
fn find(queue: &VecDeque<Record>, id: u64) -> usize {
    queue.binary_search_by_key(&id, |r| r.id).expect("unacknowledged message is queued")
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_sim::Stream;

    const PRODUCER: ActorId = ActorId(100);
    const A: ActorId = ActorId(1);
    const B: ActorId = ActorId(2);
    const C: ActorId = ActorId(3);

    fn cfg(partitions: u16) -> BrokerConfig {
        BrokerConfig {
            partitions,
            visibility_timeout: 100,
            max_attempts: 3,
            max_in_flight_per_partition: 1,
            session_timeout: 1_000,
        }
    }

    /// A key that lands in partition `p` of 2, the `n`-th such key.
    fn key_in(p: u16, n: usize) -> u64 {
        (0..).filter(|&k| partition_for(k, 2) == p).nth(n).unwrap()
    }

    fn publish(b: &mut Broker, now: Nanos, key: u64) -> (u64, Outbox) {
        let mut out = Outbox::default();
        b.on_msg(now, &mut out, PRODUCER, Msg { call: 7, kind: MsgKind::Request(Req::new(0, Op::Write, key)) });
        let (to, resp) = out.sends.remove(0);
        assert_eq!(to, PRODUCER);
        let MsgKind::Response(Resp { status: Status::Ok, value: id }) = resp.kind else { panic!("{resp:?}") };
        assert_eq!(resp.call, 7);
        (id, out)
    }

    fn answer(b: &mut Broker, now: Nanos, from: ActorId, call: CallId, status: Status) -> Outbox {
        let mut out = Outbox::default();
        b.on_msg(now, &mut out, from, Msg { call, kind: MsgKind::response(status) });
        out
    }

    /// Deliveries in an outbox: (consumer, delivery id).
    fn deliveries(out: &Outbox) -> Vec<(ActorId, CallId)> {
        out.sends
            .iter()
            .filter(|(_, m)| matches!(m.kind, MsgKind::Request(Req { op: Op::Write, .. })))
            .map(|(to, m)| (*to, m.call))
            .collect()
    }

    fn only_delivery(out: &Outbox) -> (ActorId, CallId) {
        let d = deliveries(out);
        assert_eq!(d.len(), 1, "{out:?}");
        d[0]
    }

    fn fire(b: &mut Broker, now: Nanos, t: Timer) -> Outbox {
        let mut out = Outbox::default();
        b.on_timer(now, &mut out, t);
        out
    }

    #[test]
    fn publish_deliver_ack_removes_the_message() {
        let mut b = Broker::new(cfg(2), vec![vec![A]], 1_000);
        let key = key_in(1, 0);
        let (id, out) = publish(&mut b, 0, key);
        assert_eq!(id, 1, "message ids count from 1");
        let (to, call) = only_delivery(&out);
        assert_eq!(to, A);
        // The delivery carries its visibility deadline (sent at 0, a 100 ns visibility timeout).
        assert_eq!(out.sends[0].1.kind, MsgKind::Request(Req { deadline: 100, ..Req::new(0, Op::Write, key) }));
        assert!(out.timers.contains(&(100, VISIBILITY_TIMER)));
        let info = b.delivery(call).unwrap();
        assert_eq!((info.message, info.attempt, info.partition, info.consumer), (1, 1, 1, A));
        assert_eq!((b.backlog(), b.partition_backlogs(), b.oldest_age(10)), (1, vec![0, 1], 10));

        let out = answer(&mut b, 10, A, call, Status::Ok);
        assert!(out.is_empty());
        assert_eq!((b.backlog(), b.in_flight(), b.stats.acked, b.oldest_age(20)), (0, 0, 1, 0));
        assert_eq!(b.stats.ack_latency.as_ref().map_or(0, |h| h.count()), 1);
        // The visibility timer of an acked delivery is a no-op.
        assert!(fire(&mut b, 100, VISIBILITY_TIMER).is_empty());
        assert_eq!((b.stats.visibility_timeouts, b.stats.failed_attempts), (0, 0));
        // Backlog 1 during [0, 10], then 0: average over [0, 100] is 0.1.
        assert!((b.stats.backlog.average(100) - 0.1).abs() < 1e-12);
        assert_eq!(b.stats.max_backlog, 1);
        let (id2, _) = publish(&mut b, 130, key);
        assert_eq!(id2, 2);
    }

    #[test]
    fn per_partition_order_holds_with_one_in_flight_across_redelivery() {
        let mut b = Broker::new(BrokerConfig { max_attempts: 10, ..cfg(2) }, vec![vec![A]], Nanos::MAX);
        let (k0, k1) = (key_in(0, 0), key_in(1, 0));
        let mut seen = Vec::new(); // message ids in delivery order, per partition
        let mut calls = Vec::new();
        for (n, key) in [k0, k0, k1, k0].into_iter().enumerate() {
            let (_, out) = publish(&mut b, n as Nanos, key);
            calls.extend(deliveries(&out).into_iter().map(|(_, c)| c));
        }
        assert_eq!(calls.len(), 2, "one in flight per partition: messages 1 and 3");
        let mut now = 10;
        let log = |b: &Broker, c: CallId, seen: &mut Vec<(u16, u64)>| {
            let i = b.delivery(c).unwrap();
            seen.push((i.partition, i.message));
        };
        for &c in &calls {
            log(&b, c, &mut seen);
        }
        // Partition 0's head fails by answer, then by timeout; partition 1 keeps flowing.
        let c = calls[0];
        let (_, c) = only_delivery(&answer(&mut b, now, A, c, Status::Error));
        log(&b, c, &mut seen);
        let done = answer(&mut b, now, A, calls[1], Status::Ok);
        assert!(deliveries(&done).is_empty(), "partition 1 is empty");
        now += 100;
        let (_, c) = only_delivery(&fire(&mut b, now, VISIBILITY_TIMER));
        log(&b, c, &mut seen);
        assert_eq!(b.delivery(c).unwrap().attempt, 3);
        let mut next = c;
        while b.backlog() > 0 {
            now += 1;
            let out = answer(&mut b, now, A, next, Status::Ok);
            match deliveries(&out).first() {
                Some(&(_, c)) => {
                    log(&b, c, &mut seen);
                    next = c;
                }
                None => break,
            }
        }
        assert_eq!(b.backlog(), 0);
        let p0: Vec<u64> = seen.iter().filter(|(p, _)| *p == 0).map(|(_, m)| *m).collect();
        assert_eq!(p0, vec![1, 1, 1, 2, 4], "the head is redelivered before anything behind it");
        assert_eq!(b.stats.redelivered, 2);
    }

    #[test]
    fn visibility_timeout_redelivers_with_the_next_attempt() {
        let mut b = Broker::new(cfg(1), vec![vec![A]], Nanos::MAX);
        let (_, out) = publish(&mut b, 0, 5);
        let (_, c1) = only_delivery(&out);
        assert_eq!(b.delivery(c1).unwrap().attempt, 1);
        let out = fire(&mut b, 100, VISIBILITY_TIMER);
        let (to, c2) = only_delivery(&out);
        assert_eq!(to, A);
        assert_ne!(c1, c2, "a new delivery id");
        assert_eq!(b.delivery(c2).unwrap().attempt, 2);
        assert!(out.timers.contains(&(100, VISIBILITY_TIMER)));
        assert_eq!(b.delivery(c1), None);
        let s = &b.stats;
        assert_eq!((s.visibility_timeouts, s.failed_attempts, s.redelivered, s.duplicates_possible), (1, 1, 1, 1));
        assert_eq!(s.delivered, 2);
    }

    #[test]
    fn dead_letters_after_max_attempts_then_the_next_message_flows() {
        let mut b = Broker::new(cfg(1), vec![vec![A]], Nanos::MAX);
        let (_, out) = publish(&mut b, 0, 11);
        let (_, mut c) = only_delivery(&out);
        let (_, out) = publish(&mut b, 1, 12);
        assert!(deliveries(&out).is_empty(), "message 2 waits behind message 1");
        for attempt in 1..=2 {
            assert_eq!(b.delivery(c).unwrap().attempt, attempt);
            c = only_delivery(&answer(&mut b, 10 * attempt as Nanos, A, c, Status::Error)).1;
            assert_eq!(b.delivery(c).unwrap().message, 1);
        }
        // Third failed attempt (a timeout this time): dead-lettered, message 2 goes out.
        let out = fire(&mut b, 200, VISIBILITY_TIMER);
        let (_, c2) = only_delivery(&out);
        assert_eq!(b.delivery(c2).unwrap().message, 2);
        assert_eq!(b.dead_letters(), 1);
        let dl = b.dead_letter_queue()[0];
        assert_eq!((dl.group, dl.id, dl.key, dl.attempts, dl.dead_at), (0, 1, 11, 3, 200));
        assert_eq!((b.backlog(), b.stats.dead_lettered, b.stats.failed_attempts, b.stats.nacked), (1, 1, 3, 2));
        answer(&mut b, 210, A, c2, Status::Ok);
        assert_eq!(b.backlog(), 0);
    }

    #[test]
    fn late_ack_after_redelivery_is_ignored_and_counted_as_possible_duplicate() {
        let mut b = Broker::new(cfg(1), vec![vec![A]], Nanos::MAX);
        let (_, out) = publish(&mut b, 0, 5);
        let (_, c1) = only_delivery(&out);
        let (_, c2) = only_delivery(&fire(&mut b, 100, VISIBILITY_TIMER));
        let out = answer(&mut b, 120, A, c1, Status::Ok);
        assert!(out.is_empty(), "nothing new is dispatched");
        assert_eq!((b.stats.acked, b.stats.late_acks, b.stats.duplicates_possible), (0, 1, 1));
        assert_eq!((b.backlog(), b.in_flight()), (1, 1));
        assert_eq!(b.delivery(c2).unwrap().attempt, 2, "the redelivery is still live");
        answer(&mut b, 130, A, c2, Status::Ok);
        assert_eq!((b.stats.acked, b.backlog()), (1, 0));
    }

    #[test]
    fn every_consumer_group_gets_every_message() {
        let mut b = Broker::new(cfg(2), vec![vec![A, B], vec![C]], Nanos::MAX);
        let mut got: Vec<(ActorId, u64)> = Vec::new();
        for n in 0..4 {
            let (_, out) = publish(&mut b, n, key_in(0, n as usize));
            for (to, c) in deliveries(&out) {
                let i = b.delivery(c).unwrap();
                got.push((to, i.message));
                answer(&mut b, n, to, c, Status::Ok);
            }
        }
        // Partition 0 of group 0 is A's (round-robin by partition index); group 1 has only C.
        let of = |who: ActorId| got.iter().filter(|(t, _)| *t == who).map(|(_, m)| *m).collect::<Vec<_>>();
        assert_eq!(of(A), vec![1, 2, 3, 4]);
        assert_eq!(of(C), vec![1, 2, 3, 4]);
        assert!(of(B).is_empty());
        assert_eq!((b.stats.published, b.stats.acked, b.backlog()), (4, 8, 0));
        // A group's acks do not remove the other group's copy.
        let (_, out) = publish(&mut b, 10, key_in(1, 0));
        let d = deliveries(&out);
        assert_eq!(d.iter().map(|(t, _)| *t).collect::<Vec<_>>(), vec![B, C]);
        answer(&mut b, 11, B, d[0].1, Status::Ok);
        assert_eq!((b.backlog(), b.partition_backlogs()), (1, vec![0, 1]));
    }

    #[test]
    fn silent_consumer_is_removed_after_session_timeout_and_rejoins_when_it_answers() {
        let mut b = Broker::new(BrokerConfig { visibility_timeout: 10_000, ..cfg(2) }, vec![vec![A, B]], Nanos::MAX);
        assert_eq!((b.owner(0, 0), b.owner(0, 1)), (Some(A), Some(B)));
        let (_, out) = publish(&mut b, 0, key_in(1, 0));
        let (to, _) = only_delivery(&out);
        assert_eq!(to, B);
        let session = Timer::Model { tag: SESSION, arg: 1 };
        assert!(out.timers.contains(&(1_000, session)));
        // B stays silent: at the session timeout it is removed, its delivery revoked and its
        // partition handed to A.
        let out = fire(&mut b, 1_000, session);
        assert!(!b.is_live(0, B));
        assert_eq!(b.owner(0, 1), Some(A));
        let (to, c2) = only_delivery(&out);
        assert_eq!(to, A);
        assert_eq!(b.delivery(c2).unwrap().attempt, 2);
        let s = &b.stats;
        assert_eq!((s.sessions_expired, s.rebalances, s.revoked, s.duplicates_possible), (1, 1, 1, 1));
        let probe = Timer::Model { tag: PROBE, arg: 1 };
        assert!(out.timers.contains(&(1_000, probe)));
        // B is probed every session timeout while it is out.
        let out = fire(&mut b, 2_000, probe);
        let (to, pm) = out.sends[0];
        assert_eq!((to, pm.kind), (B, MsgKind::Request(Req::new(0, Op::Probe, 0))));
        assert!(out.timers.contains(&(1_000, probe)));
        assert_eq!(b.delivery(pm.call), None, "probe ids never look like deliveries");
        // It answers: back in, partition 1 returns to it once A's delivery is done.
        answer(&mut b, 2_010, B, pm.call, Status::Ok);
        assert!(b.is_live(0, B));
        assert_eq!((b.owner(0, 1), b.stats.rebalances, b.stats.rejoined), (Some(B), 2, 1));
        assert!(deliveries(&answer(&mut b, 2_020, A, c2, Status::Ok)).is_empty());
        let (_, out) = publish(&mut b, 2_030, key_in(1, 1));
        assert_eq!(only_delivery(&out).0, B);
        assert!(fire(&mut b, 3_000, probe).is_empty(), "no probes for a live member");
    }

    #[test]
    fn a_consumer_that_answers_keeps_its_session() {
        let mut b = Broker::new(
            BrokerConfig { visibility_timeout: 10_000, max_in_flight_per_partition: 2, ..cfg(1) },
            vec![vec![A]],
            Nanos::MAX,
        );
        let (_, out1) = publish(&mut b, 0, 1);
        let (_, out2) = publish(&mut b, 0, 2);
        let session = Timer::Model { tag: SESSION, arg: 0 };
        assert_eq!(
            out1.timers.iter().chain(&out2.timers).filter(|(_, t)| *t == session).count(),
            1,
            "one session timer"
        );
        let (c1, c2) = (only_delivery(&out1).1, only_delivery(&out2).1);
        answer(&mut b, 600, A, c1, Status::Ok);
        // Message 2 is still out, but A answered at 600: its session lasts until 1600.
        let out = fire(&mut b, 1_000, session);
        assert!(b.is_live(0, A));
        assert_eq!(out.timers, vec![(600, session)]);
        let out = fire(&mut b, 1_600, session);
        assert!(!b.is_live(0, A));
        assert_eq!(b.owner(0, 0), None, "no live member: nothing is delivered");
        assert!(deliveries(&out).is_empty());
        assert_eq!((b.backlog(), b.stats.revoked), (1, 1));
        // A late answer to the revoked delivery is proof of life: A is back and gets message 2.
        let out = answer(&mut b, 1_700, A, c2, Status::Ok);
        assert_eq!(b.stats.late_acks, 1);
        let (to, c3) = only_delivery(&out);
        assert_eq!((to, b.delivery(c3).unwrap().message), (A, 2));
    }

    #[test]
    fn crash_keeps_queued_messages_and_restart_redelivers_in_flight() {
        let mut b = Broker::new(cfg(1), vec![vec![A]], Nanos::MAX);
        let (_, out) = publish(&mut b, 0, 1);
        let (_, c1) = only_delivery(&out);
        publish(&mut b, 1, 2);
        publish(&mut b, 2, 3);
        b.crash(5);
        assert_eq!((b.backlog(), b.in_flight(), b.stats.crash_requeued), (3, 0, 1));
        assert_eq!(b.oldest_age(10), 10);
        // Timers set before the crash are dropped by the world; a stale one would be a no-op.
        assert!(fire(&mut b, 40, VISIBILITY_TIMER).is_empty());
        let mut out = Outbox::default();
        b.restart(50, &mut out);
        let (_, c1b) = only_delivery(&out);
        let info = b.delivery(c1b).unwrap();
        assert_eq!((info.message, info.attempt), (1, 1), "a broker crash does not cost an attempt");
        assert_eq!(b.stats.duplicates_possible, 1);
        // The consumer's answer to the forgotten delivery is stale.
        assert!(answer(&mut b, 60, A, c1, Status::Ok).is_empty());
        assert_eq!((b.stats.acked, b.stats.late_acks), (0, 1));
        let mut c = c1b;
        for m in 1..=3 {
            assert_eq!(b.delivery(c).unwrap().message, m);
            let out = answer(&mut b, 70 + m, A, c, Status::Ok);
            if m < 3 {
                c = only_delivery(&out).1;
            }
        }
        assert_eq!((b.backlog(), b.stats.acked, b.stats.published), (0, 3, 3));
        let mut out = Outbox::default();
        publish(&mut b, 100, 4).1.sends.clear();
        b.restart(100, &mut out);
        assert_eq!(deliveries(&out).len(), 0, "restart without a crash sends nothing twice");
    }

    #[test]
    fn partition_hash_is_pinned() {
        // Changing the hash moves messages between partitions and changes every trace.
        let got: Vec<u16> = (0..8).map(|k| partition_for(k, 7)).collect();
        assert_eq!(got, PINNED.to_vec());
        assert!((0..1000).all(|k| partition_for(k, 1) == 0));
    }
    const PINNED: [u16; 8] = [2, 2, 4, 2, 6, 3, 3, 2];

    /// A tiny world for the broker: pending messages to consumers, timers in time order,
    /// broker crashes. Consumers answer, fail, stay silent or answer late at random.
    struct Harness {
        b: Broker,
        now: Nanos,
        up: bool,
        /// (due, seq, timer).
        timers: Vec<(Nanos, u64, Timer)>,
        seq: u64,
        /// Messages the broker sent, not yet answered: (consumer, call, is a probe).
        pending: Vec<(ActorId, CallId, bool)>,
        /// Deliveries the consumer sat on (may be answered late).
        dropped: Vec<(ActorId, CallId)>,
        published: u64,
        /// Per group, per message id (index id − 1): accepted acks.
        acked: Vec<Vec<u32>>,
        /// Per group and partition: last accepted ack (order check with one in flight).
        last_acked: Vec<Vec<u64>>,
        rng: Stream,
    }

    impl Harness {
        fn absorb(&mut self, out: Outbox) {
            for (to, m) in out.sends {
                match m.kind {
                    MsgKind::Request(r) => self.pending.push((to, m.call, r.op == Op::Probe)),
                    MsgKind::Response(r) => {
                        assert_eq!((to, r.status), (PRODUCER, Status::Ok));
                        self.published += 1;
                        assert_eq!(r.value, self.published, "ids count up from 1");
                    }
                    MsgKind::Db(_) => unreachable!(),
                }
            }
            if self.up {
                for (after, t) in out.timers {
                    self.seq += 1;
                    self.timers.push((self.now + after, self.seq, t));
                }
            }
        }

        fn publish(&mut self) {
            if !self.up {
                return; // dropped on arrival: the producer gets no answer
            }
            let key = self.rng.below(20);
            let mut out = Outbox::default();
            self.b.on_msg(
                self.now,
                &mut out,
                PRODUCER,
                Msg { call: 1, kind: MsgKind::Request(Req::new(0, Op::Write, key)) },
            );
            for g in &mut self.acked {
                g.push(0);
            }
            self.absorb(out);
        }

        fn answer(&mut self, to: ActorId, call: CallId, status: Status) {
            if !self.up {
                return;
            }
            if status == Status::Ok
                && let Some(i) = self.b.delivery(call).filter(|i| i.consumer == to)
            {
                self.acked[usize::from(i.group)][(i.message - 1) as usize] += 1;
                if self.b.config().max_in_flight_per_partition == 1 {
                    let last = &mut self.last_acked[usize::from(i.group)][usize::from(i.partition)];
                    assert!(i.message > *last, "acks out of order in a partition: {} after {last}", i.message);
                    *last = i.message;
                }
            }
            let mut out = Outbox::default();
            self.b.on_msg(self.now, &mut out, to, Msg { call, kind: MsgKind::response(status) });
            self.absorb(out);
        }

        fn fire_next(&mut self) -> bool {
            let Some(i) = (0..self.timers.len()).min_by_key(|&i| (self.timers[i].0, self.timers[i].1)) else {
                return false;
            };
            let (due, _, t) = self.timers.swap_remove(i);
            self.now = self.now.max(due);
            let mut out = Outbox::default();
            self.b.on_timer(self.now, &mut out, t);
            self.absorb(out);
            true
        }

        fn step(&mut self) {
            self.now += self.rng.below(30);
            match self.rng.below(100) {
                0..30 => self.publish(),
                30..70 if !self.pending.is_empty() => {
                    let (to, call, probe) =
                        self.pending.swap_remove(self.rng.below(self.pending.len() as u64) as usize);
                    match (probe, self.rng.below(10)) {
                        (true, 0..6) | (false, 0..5) => self.answer(to, call, Status::Ok),
                        (false, 5..7) => self.answer(to, call, Status::Error),
                        (false, 7) => self.answer(to, call, Status::Rejected),
                        (false, _) => self.dropped.push((to, call)),
                        (true, _) => {} // probe lost
                    }
                }
                70..75 if !self.dropped.is_empty() => {
                    let (to, call) = self.dropped.swap_remove(self.rng.below(self.dropped.len() as u64) as usize);
                    self.answer(to, call, Status::Ok);
                }
                75..97 => {
                    self.fire_next();
                }
                97..100 if self.up => {
                    self.b.crash(self.now);
                    self.up = false;
                    self.timers.clear(); // the world bumps the epoch
                }
                _ if !self.up && self.rng.chance(0.3) => self.restart(),
                _ => {}
            }
        }

        fn restart(&mut self) {
            self.up = true;
            let mut out = Outbox::default();
            self.b.restart(self.now, &mut out);
            self.absorb(out);
        }

        /// Everything heals: consumers answer everything at once, the broker is up.
        fn heal(&mut self) {
            if !self.up {
                self.restart();
            }
            for (to, call) in std::mem::take(&mut self.dropped) {
                self.pending.push((to, call, false));
            }
            for _ in 0..1_000_000 {
                if let Some((to, call, _)) = self.pending.pop() {
                    self.answer(to, call, Status::Ok);
                } else if !self.fire_next() {
                    return;
                }
            }
            panic!("did not settle");
        }
    }

    #[test]
    fn no_message_is_lost_under_random_interleavings() {
        // Summed over seeds: the interleavings must reach every path they are meant to cover.
        let mut totals = BrokerStats::default();
        for seed in 0..300 {
            let mut rng = Stream::new(seed, "broker/interleavings");
            let groups: Vec<Vec<ActorId>> = (0..1 + rng.below(2))
                .map(|g| (0..1 + rng.below(3)).map(|m| ActorId(10 * g as u32 + m as u32)).collect())
                .collect();
            let cfg = BrokerConfig {
                partitions: 1 + rng.below(4) as u16,
                visibility_timeout: 50 + rng.below(150),
                max_attempts: 1 + rng.below(4) as u32,
                max_in_flight_per_partition: 1 + rng.below(3) as u32,
                session_timeout: 100 + rng.below(300),
            };
            let n_groups = groups.len();
            let mut h = Harness {
                b: Broker::new(cfg, groups, Nanos::MAX),
                now: 0,
                up: true,
                timers: Vec::new(),
                seq: 0,
                pending: Vec::new(),
                dropped: Vec::new(),
                published: 0,
                acked: vec![Vec::new(); n_groups],
                last_acked: vec![vec![0; usize::from(cfg.partitions)]; n_groups],
                rng,
            };
            for _ in 0..400 {
                h.step();
            }
            h.heal();
            let b = &h.b;
            assert_eq!((b.backlog(), b.in_flight()), (0, 0), "seed {seed}: {cfg:?}");
            for (g, acks) in h.acked.iter().enumerate() {
                assert_eq!(acks.len() as u64, h.published);
                for (i, &n) in acks.iter().enumerate() {
                    let id = i as u64 + 1;
                    let dead = b.dead_letter_queue().iter().filter(|d| usize::from(d.group) == g && d.id == id).count();
                    assert_eq!(n as usize + dead, 1, "seed {seed}: group {g} message {id}: {n} acks, {dead} dead");
                }
            }
            let s = &b.stats;
            assert_eq!(s.published, h.published);
            assert_eq!(s.acked + s.dead_lettered, s.published * n_groups as u64, "seed {seed}");
            assert_eq!(
                s.delivered,
                s.acked + s.failed_attempts + s.crash_requeued,
                "seed {seed}: every delivery ends once"
            );
            assert!(s.redelivered >= s.duplicates_possible);
            totals.published += s.published;
            totals.dead_lettered += s.dead_lettered;
            totals.late_acks += s.late_acks;
            totals.visibility_timeouts += s.visibility_timeouts;
            totals.revoked += s.revoked;
            totals.rejoined += s.rejoined;
            totals.crash_requeued += s.crash_requeued;
            totals.nacked += s.nacked;
        }
        let t = &totals;
        for (what, n) in [
            ("dead letters", t.dead_lettered),
            ("late acks", t.late_acks),
            ("visibility timeouts", t.visibility_timeouts),
            ("revocations", t.revoked),
            ("rejoins", t.rejoined),
            ("crash requeues", t.crash_requeued),
            ("nacks", t.nacked),
        ] {
            assert!(n > 0, "no {what} in {} publishes", t.published);
        }
    }
}
