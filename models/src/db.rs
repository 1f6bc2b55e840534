//! One replica of one shard of a replicated key-value store: a Raft-style state machine (terms,
//! randomized elections, an append-only log, majority commit, leader leases), sans-IO like every
//! component. The client side (routing by key, following redirects) is
//! [`crate::calls::DbRouter`].
//!
//! # Consistency modes
//! - [`Replication::Sync`] (*strong*): a write is acknowledged once it is committed — persisted
//!   by a majority (leader included) under the Raft commit rule; the leader answers reads only
//!   while it holds a lease. Reads and writes through the leader are linearizable.
//! - [`Replication::Async`] (*eventual*): the leader applies and acknowledges a write at once and
//!   ships it to followers after a sampled lag; followers apply what they receive. A write that
//!   never left a leader that then fails is lost when another replica takes over — and rolled
//!   back on the old leader when it rejoins ([`ReplicaStats::rolled_back`]).
//!
//! # Log, versions, durability
//! Log index `i` (from 1) holds `(term, key)`; applying it sets the key's version to
//! [`version(term, i)`](version) (0 = never written), so a version names the write that produced
//! it — also across a rollback, which can reuse an index in a later term. Versions order like
//! the writes they name: along one log terms never decrease, and an entry of a higher term
//! supersedes any of a lower term at the same or a later index. Clients get the version in the
//! response to a write and to a read. A new leader appends a no-op
//! entry (key [`NOOP_KEY`]) so it can commit entries of earlier terms (Raft §5.4.2) and knows
//! when its store holds every committed write (Raft §8: it serves leader reads only from then).
//!
//! Durable, kept by [`Replica::crash`]: current term, vote, log, store, commit and applied
//! indices. Volatile: role and known leader, votes being gathered, the leader's per-follower
//! progress and lease, the request queue, requests in service and writes awaiting commit (their
//! callers time out). [`Replica::boot`] re-arms what a follower needs (its election timer).
//!
//! # Leases (Sync)
//! A follower that hears from the leader of its term restarts its election timer and, for
//! `election_timeout` (the base) after that, ignores votes for a higher term — the Raft thesis'
//! rule against disruptive servers (§4.2.3), which is also what makes leases safe; a restarted
//! replica does the same from its boot. Heartbeats carry their send time `s` in `Msg.call`;
//! followers echo it in their `AppendAck`. The leader holds a lease at `now` while a majority,
//! itself included, acknowledged in its term heartbeats sent at `s > now − election_timeout`.
//!
//! Why no other leader can exist meanwhile: a new leader needs the votes of a majority, which
//! shares a replica `p` with the lease's majority. `p` received the heartbeat at `r ≥ s`; it
//! grants no vote for a higher term before `r + election_timeout ≥ s + election_timeout`, when
//! the ack has stopped counting; and once it has voted in a higher term its later acks carry that
//! term and do not count either. A candidate campaigns only after its own election wait, at
//! least `election_timeout`, without hearing from the leader. So every election that can succeed
//! happens after the lease ran out: the lease is strictly shorter than any follower's election
//! wait. Simulated clocks do not drift; a real system would subtract a drift bound. Pre-votes
//! change no replica's state, so they leave this argument as it is; check-quorum only makes a
//! leader serve less (below).
//!
//! # Pre-vote and check-quorum
//! Both are knobs ([`ReplicaConfig::pre_vote`], [`ReplicaConfig::check_quorum`]); scenarios turn
//! them on by default, as etcd (since 3.5), CockroachDB and TiKV do.
//! - *Pre-vote* (Raft thesis §9.6). A replica whose election wait ran out does not raise its term
//!   at once: as a pre-candidate it asks the others whether they would vote for it in the next
//!   term (`PreVote`). A replica says yes under the vote's own rules — the candidate's log at
//!   least as up to date as its own, and no leader heard from within `election_timeout` (the
//!   §4.2.3 rule above) — and changes neither its term nor its vote. With a majority of yeses the
//!   pre-candidate starts a real election; without, it asks again after its next randomized
//!   wait, still in its term. A replica cut off from the majority therefore keeps its term, and
//!   when it rejoins, nothing it sends deposes the leader the others follow (without pre-vote its
//!   risen term would: the leader adopts it from the first reply and steps down). A refusal
//!   carries the refuser's term, which a pre-candidate behind it adopts (a term that exists).
//! - *Check-quorum*. At each heartbeat tick, a leader that has heard from no majority (itself
//!   included) within `election_timeout` steps down: it becomes a follower that knows no leader,
//!   its pending writes are answered `Unavailable` (outcome unknown), and — like every replica
//!   that knows no leader when check-quorum is on — it answers requests `Unavailable` (which
//!   sends clients on to the next replica; a redirect without a hint would keep them) instead
//!   of holding writes it cannot commit until they time out. "Heard from" is any acknowledgement, counted from its
//!   receipt, and a new leader counts everyone as heard when its term starts: a weaker test than
//!   the lease's (heartbeat acks counted from the heartbeat's send), so a leader that holds a
//!   lease never steps down and one that steps down had no lease left to serve under. With
//!   pre-vote the stepped-down leader keeps its term too and rejoins as a follower.
//!
//! # Replication and log repair
//! The network loses, delays and reorders messages, so replication works like a sliding-window
//! transport (one `Append` per entry):
//! - The leader keeps at most [`WINDOW`] entries outstanding per follower beyond those it knows
//!   the follower holds; acknowledgements slide the window. A down follower costs one window.
//! - A follower accepts an `Append` only if it extends a matching prefix (entry `index − 1` with
//!   `prev_term`), truncating conflicting entries (undoing them in the store if applied). An
//!   entry that arrives ahead of a gap is held ([`REORDER_WINDOW`]) until the gap fills, and
//!   answered with an acknowledgement that does not advance; after three of those the leader
//!   resends the missing entry alone (TCP's fast retransmit).
//! - A conflict, or an entry too far ahead, is refused with a hint (`matched`: the follower's last
//!   index, or the index before its run of conflicting terms, never below its commit index);
//!   the leader goes back to the hint and refills the window. Refusals repeating the previous
//!   hint come from the same gap and are ignored.
//! - Heartbeats carry the index shipped as of the previous heartbeat (entries in flight do not
//!   count) and the commit index. A follower that lacks entries answers with its hint; if it made
//!   no progress since the previous heartbeat, the leader goes back too. This is what restarts a
//!   repair whose messages were all lost.
//! - Followers apply up to the leader's commit index, but only as far as their log is known to
//!   match the leader's (Sync), or at receipt (Async).
//!
//! # `Append` on the wire
//! `DbMsg::Append` has one term field, the entry's term. A follower also needs the sender's
//! current term — a delayed `Append` from a deposed leader must not truncate anything — so the
//! leader's term travels in `Msg.call` as `APPEND_TAG | term`. Only heartbeats carry their send
//! time, so only heartbeat acks renew the lease (heartbeats are frequent: that is enough).

use std::collections::{BTreeMap, VecDeque};

use faultline_sim::{Dist, Nanos, Stream};

use crate::metrics::TimeAverage;
use crate::msg::{ActorId, CallId, DbMsg, Flag, Msg, MsgKind, Op, Outbox, Req, Resp, Status, Timer};
use crate::service::{NodeHealth, expiry};
use crate::slab::{Key, Slab};

/// How writes reach the followers.
#[derive(Clone, Debug, PartialEq)]
pub enum Replication {
    /// A write is acknowledged after a majority (leader included) persisted it.
    Sync,
    /// The leader applies and acknowledges at once and ships the entry to followers after a
    /// sampled lag (entries leave in log order).
    Async { lag: Dist },
}

#[derive(Clone, Debug)]
pub struct ReplicaConfig {
    pub shard: u32,
    /// This replica's index in `peers`.
    pub index: u16,
    /// All replicas of the shard by replica index, including this one.
    pub peers: Vec<ActorId>,
    pub workers: u32,
    pub queue_capacity: u32,
    /// A queued request that waited longer than this when a worker reaches it is answered
    /// `Rejected` without work (nothing applied, nothing logged).
    pub queue_timeout: Option<Nanos>,
    /// Act on the deadlines requests carry (deadline propagation): a request whose caller has
    /// stopped waiting is answered `Rejected` without work, on arrival or when a worker
    /// reaches it in the queue.
    pub propagate_deadlines: bool,
    /// With `propagate_deadlines`: a request with less than this left before its deadline is
    /// turned away too (0: only those past it).
    pub min_time_left: Nanos,
    pub service_time: Dist,
    pub replication: Replication,
    /// Followers answer reads from their own (possibly stale) state instead of redirecting.
    pub follower_reads: bool,
    /// A planted bug, for testing checkers and shrinking: under `Sync` the leader acknowledges a
    /// write as soon as it has appended it, before a majority has it (it still replicates and
    /// commits as usual). A leader that fails before replicating loses acknowledged writes.
    pub bug_ack_before_commit: bool,
    /// Base election timeout: each wait is `base × (1 + U[0,1))`; also the leader lease.
    pub election_timeout: Nanos,
    pub heartbeat_interval: Nanos,
    /// Pre-vote (Raft thesis §9.6): a replica whose election wait ran out first asks whether
    /// a majority would vote for it, and raises its term only if so.
    pub pre_vote: bool,
    /// Check-quorum: a leader that has not heard from a majority (itself included) within
    /// `election_timeout` steps down.
    pub check_quorum: bool,
    /// Time-averaged gauges cover `[0, horizon]`.
    pub horizon: Nanos,
}

/// The replica's random streams (named by the world after the replica and purpose).
#[derive(Clone, Debug)]
pub struct ReplicaStreams {
    /// Service times (and, through a stream seeded from it, injected errors).
    pub work: Stream,
    /// Randomized election waits.
    pub election: Stream,
    /// Replication lag samples (Async).
    pub lag: Stream,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Follower,
    /// Gathering pre-votes for the next term (a follower in every other respect).
    PreCandidate,
    Candidate,
    Leader,
}

#[derive(Clone, Debug, Default)]
pub struct ReplicaStats {
    /// Read requests received (probes excluded).
    pub reads: u64,
    /// Write requests received.
    pub writes: u64,
    /// Reads and writes answered `Ok` (this shard's load, for hot-shard detection).
    pub served: u64,
    /// Requests answered with `Redirect`.
    pub redirects: u64,
    /// Requests turned away because the queue was full.
    pub rejected: u64,
    /// Requests dropped unserved: queued longer than the queue timeout, or past their deadline
    /// (deadline propagation).
    pub shed: u64,
    /// Leader reads without a lease, writes pending when their leader stepped down, and (with
    /// check-quorum) requests to a replica that knows no leader.
    pub unavailable: u64,
    /// Requests answered `Error`: injected error faults (and writes to [`NOOP_KEY`]).
    pub errors: u64,
    /// Health probes answered.
    pub probes: u64,
    /// Requests dropped by a crash (queued, in service, or awaiting commit).
    pub lost: u64,
    /// Rounds of pre-votes asked for (each may or may not lead to an election).
    pub pre_votes_started: u64,
    pub elections_started: u64,
    pub became_leader: u64,
    /// Times this replica stepped down as leader for want of a majority (check-quorum).
    pub stepped_down: u64,
    /// Log entries this replica learned were committed.
    pub committed: u64,
    /// Log entries applied to the store.
    pub applied: u64,
    /// Applied entries undone because the leader's log replaced them (Async: lost writes).
    pub rolled_back: u64,
    /// Current term.
    pub term: u32,
    /// The last term in which this replica led (0: never) — kept across crashes, for checks:
    /// the replica with the highest one holds the shard's authoritative log.
    pub led_term: u32,
    /// Busy workers over time (utilisation = average / workers).
    pub busy: TimeAverage,
    pub queue_len: TimeAverage,
    pub queue_max: u64,
}

/// Bits of a [`version`] that hold the log index (the term is above them).
pub const INDEX_BITS: u32 = 40;

/// The version a write at log `index` in `term` gives its key: `term << 40 | index`.
#[inline]
pub fn version(term: u32, index: u64) -> u64 {
    debug_assert!(index < 1 << INDEX_BITS && term < 1 << (64 - INDEX_BITS));
    u64::from(term) << INDEX_BITS | index
}

/// `(term, index)` of a version.
#[inline]
pub fn version_parts(v: u64) -> (u32, u64) {
    ((v >> INDEX_BITS) as u32, v & ((1 << INDEX_BITS) - 1))
}

/// Key of the no-op entry a new leader appends; client writes to it are answered `Error`.
pub const NOOP_KEY: u64 = u64::MAX;
/// Entries a leader sends a follower beyond those it knows the follower has (a send window;
/// one `Append` message per entry). Also bounds a resend batch during log repair.
pub const WINDOW: u64 = 64;
/// Out-of-order entries a follower holds until the gap before them fills (a receive window).
pub const REORDER_WINDOW: u64 = WINDOW;
/// Marks `Msg.call` of an `Append` (the low 32 bits hold the leader's term); heartbeats carry
/// their send time there, which never has this bit.
const APPEND_TAG: u64 = 1 << 63;
const TAG_ELECTION: u8 = 0;
const TAG_HEARTBEAT: u8 = 1;
const TAG_SHIP: u8 = 2;

/// The name of a timer tag in a trace, and whether its argument is a key.
pub fn timer_name(tag: u8) -> (&'static str, bool) {
    match tag {
        TAG_ELECTION => ("election", false),
        TAG_HEARTBEAT => ("heartbeat", false),
        TAG_SHIP => ("ship", false),
        _ => ("timer", false),
    }
}
const NO_HINT: u64 = u64::MAX;

#[derive(Clone, Copy, Debug)]
struct Entry {
    term: u32,
    key: u64,
    /// The key's version before this entry was applied (to undo it if it is truncated).
    prev: u64,
}

/// An `Append` that arrived ahead of a gap.
#[derive(Clone, Copy, Debug)]
struct Ahead {
    index: u64,
    term: u32,
    prev_term: u32,
    key: u64,
}

#[derive(Clone, Copy, Debug)]
struct Job {
    from: ActorId,
    call: CallId,
    // What `finish` needs of the request, flat: a whole `Req` (with its padding) made the
    // slot 8 bytes larger.
    key: u64,
    op: Op,
}

#[derive(Debug)]
struct PendingWrite {
    index: u64,
    from: ActorId,
    call: CallId,
}

#[derive(Debug)]
pub struct Replica {
    cfg: ReplicaConfig,
    me: usize,
    majority: usize,
    rng_work: Stream,
    rng_errors: Stream,
    rng_election: Stream,
    rng_lag: Stream,

    // Durable.
    term: u32,
    voted_for: Option<u16>,
    log: Vec<Entry>,
    store: BTreeMap<u64, u64>,
    commit: u64,
    applied: u64,

    // Volatile: elections.
    role: Role,
    leader: Option<u16>,
    /// Last time a leader of the current term was heard from (or the boot): no votes for a
    /// higher term are granted within `election_timeout` of it.
    leader_contact: Nanos,
    /// The election wait runs from here (last leader contact, vote granted or campaign).
    timer_base: Nanos,
    election_wait: Nanos,
    election_gen: u64,
    votes: Vec<bool>,
    /// Follower: our log matches the current leader's up to here.
    leader_matched: u64,
    /// Follower: entries of the current leader received ahead of a gap.
    ahead: Vec<Ahead>,

    // Volatile: leader.
    /// Next entry to send to each follower.
    next: Vec<u64>,
    /// Entries each follower is known to hold (this term).
    matched: Vec<u64>,
    /// Start of each follower's send window: `matched`, or where repair restarted, or (at the
    /// start of the term) the leader's last index, optimistically.
    base: Vec<u64>,
    /// Acknowledgements that did not advance `matched` while entries were outstanding.
    dups: Vec<u32>,
    /// `matched` at the previous heartbeat acknowledgement (has the follower moved since?).
    progress: Vec<u64>,
    /// Latest send time of a heartbeat each follower acknowledged in this term.
    acked_at: Vec<Option<Nanos>>,
    /// When each follower was last heard from in this term (any acknowledgement), for
    /// check-quorum; a new leader counts everyone as heard at its start.
    heard_at: Vec<Nanos>,
    last_hint: Vec<u64>,
    /// Index of this term's no-op (0 for the initial leader of term 1).
    term_start: u64,
    /// Entries up to here have been sent (Async: their lag elapsed; Sync: all).
    shipped: u64,
    /// `shipped` when the last heartbeat went out: what the next heartbeat advertises, so that
    /// entries merely in flight do not look missing.
    hb_last: u64,
    /// Async: (due, index) of entries waiting for their lag, due times non-decreasing.
    ship_queue: VecDeque<(Nanos, u64)>,
    pending: VecDeque<PendingWrite>,
    scratch: Vec<u64>,

    /// When recording: `(caller, call id, version)` of every client write this replica
    /// appended as leader, drained by the world (see [`Replica::record_appends`]).
    appends: Option<Vec<(ActorId, CallId, u64)>>,

    // Volatile: request processing.
    busy: u32,
    /// Waiting requests and the instant each expires: its queue timeout, or its deadline when
    /// propagating deadlines, whichever comes first (`NO_DEADLINE`: never).
    queue: VecDeque<(Key, Nanos)>,
    jobs: Slab<Job>,

    pub stats: ReplicaStats,
}

impl Replica {
    pub fn new(cfg: ReplicaConfig, streams: ReplicaStreams) -> Replica {
        let n = cfg.peers.len();
        assert!((cfg.index as usize) < n, "replica index {} outside its {n} peers", cfg.index);
        assert!(cfg.election_timeout > 0, "election timeout must be positive");
        let me = cfg.index as usize;
        // A separate stream for injected errors, so that an error fault does not shift service
        // times: seeded from (not drawn from) the work stream, whose position is untouched.
        let rng_errors = Stream::new(streams.work.clone().next_u64(), "db/replica/errors");
        let g = TimeAverage::with_horizon(cfg.horizon);
        Replica {
            me,
            majority: n / 2 + 1,
            rng_work: streams.work,
            rng_errors,
            rng_election: streams.election,
            rng_lag: streams.lag,
            // Every replica starts in term 1, in which replica 0 was elected by everyone.
            term: 1,
            voted_for: Some(0),
            log: Vec::new(),
            store: BTreeMap::new(),
            commit: 0,
            applied: 0,
            role: if me == 0 { Role::Leader } else { Role::Follower },
            leader: Some(0),
            leader_contact: 0,
            timer_base: 0,
            election_wait: 0,
            election_gen: 0,
            votes: vec![false; n],
            leader_matched: 0,
            ahead: Vec::with_capacity(REORDER_WINDOW as usize),
            next: vec![1; n],
            matched: vec![0; n],
            base: vec![0; n],
            dups: vec![0; n],
            progress: vec![0; n],
            acked_at: vec![None; n],
            heard_at: vec![0; n],
            last_hint: vec![NO_HINT; n],
            term_start: 0,
            shipped: 0,
            hb_last: 0,
            ship_queue: VecDeque::new(),
            pending: VecDeque::new(),
            scratch: Vec::with_capacity(n),
            appends: None,
            busy: 0,
            queue: VecDeque::new(),
            jobs: Slab::default(),
            stats: ReplicaStats {
                term: 1,
                led_term: if me == 0 { 1 } else { 0 },
                busy: g,
                queue_len: g,
                ..ReplicaStats::default()
            },
            cfg,
        }
    }

    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn term(&self) -> u32 {
        self.term
    }

    /// The replica index this replica believes leads its term.
    pub fn leader(&self) -> Option<u16> {
        self.leader
    }

    pub fn commit_index(&self) -> u64 {
        self.commit
    }

    pub fn applied_index(&self) -> u64 {
        self.applied
    }

    pub fn last_index(&self) -> u64 {
        self.log.len() as u64
    }

    /// `(term, key)` of log entry `index` (from 1).
    pub fn entry(&self, index: u64) -> Option<(u32, u64)> {
        let i = usize::try_from(index.checked_sub(1)?).ok()?;
        self.log.get(i).map(|e| (e.term, e.key))
    }

    /// The log index of the write that set `key` in this replica's store (0 = never written).
    pub fn version_of(&self, key: u64) -> u64 {
        version_parts(self.stored_version(key)).1
    }

    /// The full [`version`] of `key` in this replica's store (0 = never written).
    pub fn stored_version(&self, key: u64) -> u64 {
        self.store.get(&key).copied().unwrap_or(0)
    }

    /// Keep a record of which client call produced each write this replica appends as leader,
    /// so that a history can name the value of a write whose caller never heard back.
    pub fn record_appends(&mut self) {
        self.appends.get_or_insert_with(Vec::new);
    }

    /// Moves the appends recorded since the last call, `(caller, call id, version)`, into `into`.
    pub fn drain_appends(&mut self, into: &mut Vec<(ActorId, CallId, u64)>) {
        if let Some(a) = &mut self.appends {
            into.append(a);
        }
    }

    pub fn shard(&self) -> u32 {
        self.cfg.shard
    }

    pub fn workers(&self) -> u32 {
        self.cfg.workers
    }

    /// Requests it holds: queued, in work, or written and waiting for a majority (what a crash
    /// would lose now).
    pub fn in_system(&self) -> usize {
        self.jobs.len() + self.pending.len()
    }

    /// Entries of the log (never compacted: a write, or an elected leader's no-op, each).
    pub fn log_len(&self) -> usize {
        self.log.len()
    }

    pub fn busy(&self) -> u32 {
        self.busy
    }

    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// At start and after a restart.
    pub fn boot(&mut self, now: Nanos, out: &mut Outbox) {
        // Like a follower that just heard from a leader: no vote for `election_timeout` (this is
        // what keeps a lease safe across a follower's restart), no campaign before its wait.
        self.leader_contact = now;
        self.timer_base = now;
        if self.role == Role::Leader {
            // Only the initial leader of term 1 boots as leader (a crash makes a follower). Every
            // replica starts as if it had just acknowledged it: none grants a vote within
            // `election_timeout` of its own boot, which is no earlier than this one.
            self.init_leader(now, Some(now));
            self.send_heartbeats(now, out);
            self.arm_heartbeat(out);
        } else {
            self.arm_election(now, out);
        }
        self.gauges(now);
    }

    /// The node went down: volatile state is lost, durable state kept.
    pub fn crash(&mut self, now: Nanos) {
        self.stats.lost += self.in_system() as u64;
        self.jobs.clear();
        self.queue.clear();
        self.busy = 0;
        self.pending.clear();
        self.ship_queue.clear();
        self.role = Role::Follower;
        self.leader = None;
        self.leader_matched = 0;
        self.ahead.clear();
        self.votes.iter_mut().for_each(|v| *v = false);
        self.gauges(now);
    }

    pub fn on_msg(&mut self, now: Nanos, out: &mut Outbox, health: NodeHealth, from: ActorId, msg: Msg) {
        match msg.kind {
            MsgKind::Request(req) => self.on_request(now, out, health, from, msg.call, req),
            MsgKind::Response(_) => {} // a replica makes no calls
            MsgKind::Db(d) => {
                if let Some(p) = self.cfg.peers.iter().position(|&a| a == from)
                    && p != self.me
                {
                    self.on_db(now, out, p, msg.call, d);
                }
            }
        }
    }

    pub fn on_timer(&mut self, now: Nanos, out: &mut Outbox, health: NodeHealth, t: Timer) {
        match t {
            Timer::WorkDone(key) => {
                if let Some(job) = self.jobs.remove(key) {
                    self.finish(now, out, health, job);
                }
            }
            Timer::Model { tag: TAG_ELECTION, arg } => {
                if arg != self.election_gen || self.role == Role::Leader {
                    return;
                }
                if now < self.timer_base.saturating_add(self.election_wait) {
                    self.arm_election(now, out); // heard from the leader meanwhile
                } else if self.cfg.pre_vote && self.majority > 1 {
                    self.start_pre_vote(now, out);
                } else {
                    self.start_election(now, out);
                }
            }
            Timer::Model { tag: TAG_HEARTBEAT, arg } if self.role == Role::Leader && arg == u64::from(self.term) => {
                if self.cfg.check_quorum && self.lost_quorum(now) {
                    self.resign(now, out);
                    self.stats.stepped_down += 1;
                    return;
                }
                self.send_heartbeats(now, out);
                self.arm_heartbeat(out);
            }
            Timer::Model { tag: TAG_SHIP, arg } => {
                if self.role != Role::Leader || arg != u64::from(self.term) {
                    return;
                }
                let mut upto = self.shipped;
                while let Some(&(due, index)) = self.ship_queue.front()
                    && due <= now
                {
                    self.ship_queue.pop_front();
                    upto = upto.max(index);
                }
                self.ship(out, upto);
            }
            _ => {}
        }
    }

    // ---------------------------------------------------------------- client requests

    fn respond(&mut self, out: &mut Outbox, to: ActorId, call: CallId, status: Status, value: u64) {
        match status {
            Status::Ok => self.stats.served += 1,
            Status::Redirect => self.stats.redirects += 1,
            Status::Unavailable => self.stats.unavailable += 1,
            Status::Rejected => self.stats.rejected += 1,
            Status::Error => self.stats.errors += 1,
            Status::Timeout => {}
        }
        out.send(to, Msg { call, kind: MsgKind::Response(Resp { status, value }) });
    }

    fn redirect(&mut self, out: &mut Outbox, to: ActorId, call: CallId) {
        match self.leader {
            Some(l) => self.respond(out, to, call, Status::Redirect, u64::from(l)),
            // With check-quorum a replica that knows no leader says it is unavailable (as etcd
            // answers "no leader"); without, it redirects without a hint, as before check-quorum
            // was modelled. Either sends the client on to the next replica.
            None if self.cfg.check_quorum => self.respond(out, to, call, Status::Unavailable, 0),
            None => self.respond(out, to, call, Status::Redirect, u64::MAX),
        }
    }

    fn on_request(&mut self, now: Nanos, out: &mut Outbox, health: NodeHealth, from: ActorId, call: CallId, req: Req) {
        match req.op {
            Op::Probe => {
                self.stats.probes += 1;
                out.send(from, Msg { call, kind: MsgKind::response(Status::Ok) });
                return;
            }
            Op::Read => self.stats.reads += 1,
            Op::Write => self.stats.writes += 1,
        }
        if self.role != Role::Leader && (req.op == Op::Write || !self.cfg.follower_reads) {
            self.redirect(out, from, call); // no work: the client goes to the leader
            return;
        }
        if health.error_rate > 0.0 && self.rng_errors.chance(health.error_rate) {
            self.respond(out, from, call, Status::Error, 0);
            return;
        }
        let take_up = req.take_up_until(self.cfg.propagate_deadlines, self.cfg.min_time_left);
        if now > take_up {
            self.shed_on_arrival(out, from, call);
            return;
        }
        if self.busy < self.cfg.workers {
            let key = self.jobs.insert(Job { from, call, key: req.key, op: req.op });
            self.begin(out, health, key);
        } else if self.queue.len() < self.cfg.queue_capacity as usize {
            let key = self.jobs.insert(Job { from, call, key: req.key, op: req.op });
            self.queue.push_back((key, expiry(now, self.cfg.queue_timeout, take_up)));
        } else {
            self.respond(out, from, call, Status::Rejected, 0);
        }
        self.gauges(now);
    }

    fn begin(&mut self, out: &mut Outbox, health: NodeHealth, key: Key) {
        self.busy += 1;
        let base = self.cfg.service_time.sample(&mut self.rng_work);
        let work = health.work(base);
        out.timer(work, Timer::WorkDone(key));
    }

    /// A request's local work is done: answer it (or, for a write at the leader, log it).
    fn finish(&mut self, now: Nanos, out: &mut Outbox, health: NodeHealth, job: Job) {
        let Job { from, call, key, op } = job;
        match op {
            Op::Write if self.role != Role::Leader => self.redirect(out, from, call),
            Op::Write if key == NOOP_KEY => self.respond(out, from, call, Status::Error, 0),
            Op::Write => {
                let index = self.append(now, out, key);
                if let Some(a) = &mut self.appends {
                    a.push((from, call, version(self.term, index)));
                }
                match self.cfg.replication {
                    Replication::Sync if self.cfg.bug_ack_before_commit => {
                        let v = version(self.term, index);
                        self.respond(out, from, call, Status::Ok, v);
                        self.advance_commit(out);
                    }
                    Replication::Sync => {
                        self.pending.push_back(PendingWrite { index, from, call });
                        self.advance_commit(out); // a lone replica commits at once
                    }
                    Replication::Async { .. } => {
                        let v = version(self.term, index);
                        self.respond(out, from, call, Status::Ok, v);
                    }
                }
            }
            Op::Read if self.role == Role::Leader => {
                if matches!(self.cfg.replication, Replication::Sync) && !self.can_serve_reads(now) {
                    self.respond(out, from, call, Status::Unavailable, 0);
                } else {
                    let v = self.stored_version(key);
                    self.respond(out, from, call, Status::Ok, v);
                }
            }
            Op::Read if self.cfg.follower_reads => {
                let v = self.stored_version(key);
                self.respond(out, from, call, Status::Ok, v);
            }
            Op::Read => self.redirect(out, from, call),
            Op::Probe => unreachable!("probes are answered on arrival"),
        }
        self.busy -= 1;
        // Entries expire only with a queue timeout or propagated deadlines (else never).
        if self.queue.front().is_some_and(|&(_, expires)| now > expires) {
            self.shed_expired(now, out);
        }
        if let Some((next, _)) = self.queue.pop_front() {
            self.begin(out, health, next);
        }
        self.gauges(now);
    }

    /// A request whose caller has given up already: shed, as in the queue (not `respond`, which
    /// would count it rejected too). Out of line, off the path of requests in time.
    #[cold]
    #[inline(never)]
    fn shed_on_arrival(&mut self, out: &mut Outbox, from: ActorId, call: CallId) {
        self.stats.shed += 1;
        out.send(from, Msg { call, kind: MsgKind::response(Status::Rejected) });
    }

    /// Turns away the queued requests at the head that waited longer than the queue timeout
    /// (their callers have most likely given up) or whose deadline passed (they have): no
    /// work, nothing applied or logged. Out of line, off the path of requests in time.
    /// (Services and workflow steps share `service::shed_expired`; a replica keeps the instant
    /// each queued request expires, `service::expiry`, in its queue entry, since its jobs have
    /// no room for it, so it walks its own.)
    #[cold]
    #[inline(never)]
    fn shed_expired(&mut self, now: Nanos, out: &mut Outbox) {
        while let Some(&(next, expires)) = self.queue.front() {
            if now <= expires {
                return;
            }
            self.queue.pop_front();
            let job = self.jobs.remove(next).expect("queued job");
            self.stats.shed += 1;
            out.send(job.from, Msg { call: job.call, kind: MsgKind::response(Status::Rejected) });
        }
    }

    /// Whether the leader may answer a read from its store (Sync): it holds a lease and its
    /// store has every committed write (its no-op is committed).
    fn can_serve_reads(&self, now: Nanos) -> bool {
        self.role == Role::Leader && self.commit >= self.term_start && self.has_lease(now)
    }

    /// Check-quorum: the leader has heard from no majority (itself included) within an election
    /// timeout. Weaker than the lease's test (any acknowledgement, counted from its receipt; a
    /// lease counts heartbeat acks from the heartbeat's send): a leader with a lease never steps
    /// down, and one that steps down had no lease left.
    fn lost_quorum(&self, now: Nanos) -> bool {
        let window = self.cfg.election_timeout;
        let heard = self.heard_at.iter().enumerate().filter(|&(p, &h)| p != self.me && now < h.saturating_add(window));
        1 + heard.count() < self.majority
    }

    fn has_lease(&self, now: Nanos) -> bool {
        let lease = self.cfg.election_timeout;
        let fresh = self
            .acked_at
            .iter()
            .enumerate()
            .filter(|&(p, a)| p != self.me && a.is_some_and(|s| now < s.saturating_add(lease)));
        1 + fresh.count() >= self.majority
    }

    fn gauges(&mut self, now: Nanos) {
        self.stats.busy.set(now, u64::from(self.busy));
        self.stats.queue_len.change(now, self.queue.len() as u64);
        self.stats.queue_max = self.stats.queue_max.max(self.queue.len() as u64);
    }

    // ---------------------------------------------------------------- log and store

    fn term_at(&self, index: u64) -> u32 {
        if index == 0 { 0 } else { self.log.get((index - 1) as usize).map_or(0, |e| e.term) }
    }

    fn last_term(&self) -> u32 {
        self.term_at(self.last_index())
    }

    fn apply_to(&mut self, upto: u64) {
        while self.applied < upto {
            let i = self.applied + 1;
            let Entry { key, term, .. } = self.log[(i - 1) as usize];
            if key != NOOP_KEY {
                self.log[(i - 1) as usize].prev = self.store.insert(key, version(term, i)).unwrap_or(0);
            }
            self.applied = i;
            self.stats.applied += 1;
        }
    }

    /// Removes entries from `index` on, undoing those already applied (newest first).
    fn truncate_from(&mut self, index: u64) {
        debug_assert!(index > self.commit, "committed entry {index} overwritten (commit {})", self.commit);
        while self.last_index() >= index {
            let i = self.last_index();
            let e = self.log.pop().expect("non-empty log");
            if i <= self.applied {
                if e.key != NOOP_KEY {
                    if e.prev == 0 {
                        self.store.remove(&e.key);
                    } else {
                        self.store.insert(e.key, e.prev);
                    }
                    self.stats.rolled_back += 1;
                }
                self.applied = i - 1;
            }
        }
        self.leader_matched = self.leader_matched.min(index - 1);
    }

    fn push_entry(&mut self, term: u32, key: u64) -> u64 {
        self.log.push(Entry { term, key, prev: 0 });
        let index = self.last_index();
        if matches!(self.cfg.replication, Replication::Async { .. }) {
            self.apply_to(index); // Async applies at once, at the leader and at followers
        }
        index
    }

    fn set_commit(&mut self, c: u64) {
        if c > self.commit {
            self.stats.committed += c - self.commit;
            self.commit = c;
            if self.cfg.replication == Replication::Sync {
                self.apply_to(c);
            }
        }
    }

    // ---------------------------------------------------------------- leader

    fn init_leader(&mut self, now: Nanos, acked: Option<Nanos>) {
        let last = self.last_index();
        for p in 0..self.cfg.peers.len() {
            self.next[p] = last + 1;
            self.matched[p] = 0;
            self.base[p] = last;
            self.dups[p] = 0;
            self.progress[p] = 0;
            self.acked_at[p] = acked;
            self.heard_at[p] = now;
            self.last_hint[p] = NO_HINT;
        }
        self.shipped = last;
        self.hb_last = last;
        self.ship_queue.clear();
        self.term_start = 0;
    }

    fn become_leader(&mut self, now: Nanos, out: &mut Outbox) {
        self.role = Role::Leader;
        self.leader = Some(self.me as u16);
        self.stats.became_leader += 1;
        self.stats.led_term = self.term;
        self.init_leader(now, None);
        self.term_start = self.append(now, out, NOOP_KEY);
        self.send_heartbeats(now, out);
        self.arm_heartbeat(out);
        self.advance_commit(out);
    }

    /// Appends `(term, key)` at the leader and ships it (Sync) or schedules it (Async).
    fn append(&mut self, now: Nanos, out: &mut Outbox, key: u64) -> u64 {
        let index = self.push_entry(self.term, key);
        match &self.cfg.replication {
            Replication::Sync => self.ship(out, index),
            Replication::Async { lag } => {
                let lag = lag.sample(&mut self.rng_lag);
                // Entries leave in log order, like a replication stream.
                let due = self.ship_queue.back().map_or(0, |&(d, _)| d).max(now.saturating_add(lag));
                self.ship_queue.push_back((due, index));
                out.timer(due - now, Timer::Model { tag: TAG_SHIP, arg: u64::from(self.term) });
            }
        }
        index
    }

    /// Entries up to `upto` may go out: fill the followers' send windows.
    fn ship(&mut self, out: &mut Outbox, upto: u64) {
        if upto <= self.shipped {
            return;
        }
        self.shipped = upto;
        for p in 0..self.cfg.peers.len() {
            if p != self.me {
                self.fill(out, p);
            }
        }
    }

    /// Sends follower `p` what its window allows (nothing more to a follower that stopped
    /// acknowledging: a down replica costs at most one window of messages).
    fn fill(&mut self, out: &mut Outbox, p: usize) {
        let limit = self.shipped.min(self.base[p].saturating_add(WINDOW));
        while self.next[p] <= limit {
            self.send_append(out, p, self.next[p]);
            self.next[p] += 1;
        }
    }

    fn send_append(&self, out: &mut Outbox, p: usize, index: u64) {
        let e = self.log[(index - 1) as usize];
        let append = DbMsg::Append { term: e.term, prev_term: self.term_at(index - 1), index, key: e.key };
        out.send(self.cfg.peers[p], Msg { call: APPEND_TAG | u64::from(self.term), kind: MsgKind::Db(append) });
    }

    fn send_heartbeats(&mut self, now: Nanos, out: &mut Outbox) {
        let hb = DbMsg::Heartbeat { term: self.term, last: self.hb_last, commit: self.commit.min(self.shipped) };
        self.hb_last = self.shipped;
        for (p, &to) in self.cfg.peers.iter().enumerate() {
            if p != self.me {
                out.send(to, Msg { call: now, kind: MsgKind::Db(hb) });
            }
        }
    }

    fn arm_heartbeat(&self, out: &mut Outbox) {
        out.timer(self.cfg.heartbeat_interval.max(1), Timer::Model { tag: TAG_HEARTBEAT, arg: u64::from(self.term) });
    }

    /// Raft's commit rule: the highest index stored by a majority, if written in this term.
    fn advance_commit(&mut self, out: &mut Outbox) {
        if self.role != Role::Leader {
            return;
        }
        self.scratch.clear();
        for p in 0..self.cfg.peers.len() {
            self.scratch.push(if p == self.me { self.last_index() } else { self.matched[p] });
        }
        self.scratch.sort_unstable_by(|a, b| b.cmp(a));
        let n = self.scratch[self.majority - 1];
        if n > self.commit && self.term_at(n) == self.term {
            self.set_commit(n);
            while let Some(w) = self.pending.front()
                && w.index <= self.commit
            {
                let w = self.pending.pop_front().expect("front exists");
                let v = version(self.term_at(w.index), w.index);
                self.respond(out, w.from, w.call, Status::Ok, v);
            }
        }
    }

    fn on_ack(&mut self, now: Nanos, out: &mut Outbox, p: usize, call: u64, matched: u64, ok: bool) {
        let heartbeat = call & APPEND_TAG == 0;
        self.heard_at[p] = now;
        if heartbeat {
            let sent = call.min(now);
            self.acked_at[p] = Some(self.acked_at[p].map_or(sent, |a| a.max(sent)));
        }
        // Entries up to `matched[p]` match (the follower's log is durable and, within this term,
        // only this leader's entries replace its own), so a lower hint is stale or too cautious.
        let m = matched.min(self.shipped).max(self.matched[p]);
        if ok {
            if m > self.matched[p] {
                self.matched[p] = m;
                self.dups[p] = 0;
                self.advance_commit(out);
            } else if !heartbeat && m + 1 < self.next[p] {
                // The follower holds entries past a gap at m + 1: after a third such ack, resend
                // the missing entry alone (TCP's fast retransmit; mild reordering gives fewer).
                self.dups[p] += 1;
                if self.dups[p] == 3 {
                    self.send_append(out, p, m + 1);
                }
            }
            self.base[p] = self.base[p].max(m);
            self.next[p] = self.next[p].max(m + 1);
            if heartbeat {
                self.progress[p] = self.matched[p];
            }
            self.fill(out, p);
            return;
        }
        // Refused (a conflict, or too far ahead), or behind at a heartbeat without progress since
        // the previous one (one that is catching up is left alone): go back. Refusals repeating
        // the last hint come from the same gap and are ignored.
        let go_back = if heartbeat {
            let stuck = self.matched[p] == self.progress[p];
            self.progress[p] = self.matched[p];
            stuck
        } else {
            m != self.last_hint[p]
        };
        if go_back {
            self.last_hint[p] = m;
            if self.shipped > 0 {
                // At least the last entry, so a follower with an unverified log can check it.
                let from = (m + 1).min(self.shipped);
                self.next[p] = from;
                self.base[p] = from - 1;
                self.dups[p] = 0;
                self.fill(out, p);
            }
        }
    }

    // ---------------------------------------------------------------- elections

    /// Samples a new election wait and arms the timer for `timer_base + wait`.
    fn arm_election(&mut self, now: Nanos, out: &mut Outbox) {
        let base = self.cfg.election_timeout;
        self.election_wait = base + (base as f64 * self.rng_election.f64()) as Nanos;
        self.election_gen += 1;
        let due = self.timer_base.saturating_add(self.election_wait);
        out.timer(due.saturating_sub(now), Timer::Model { tag: TAG_ELECTION, arg: self.election_gen });
    }

    /// Raft thesis §9.6: before raising its term (which would depose a leader the others still
    /// follow, once this replica rejoins them) ask whether a majority would vote for it in the
    /// next term. Nothing changes at the voters; without a majority this retries after the next
    /// election wait, in the same term.
    fn start_pre_vote(&mut self, now: Nanos, out: &mut Outbox) {
        self.stats.pre_votes_started += 1;
        self.role = Role::PreCandidate;
        self.votes.iter_mut().for_each(|v| *v = false);
        self.votes[self.me] = true;
        self.timer_base = now;
        self.arm_election(now, out);
        let ask = DbMsg::PreVote { term: self.term + 1, last_term: self.last_term(), last: self.last_index() };
        for (p, &to) in self.cfg.peers.iter().enumerate() {
            if p != self.me {
                out.send(to, Msg { call: 0, kind: MsgKind::Db(ask) });
            }
        }
    }

    fn start_election(&mut self, now: Nanos, out: &mut Outbox) {
        self.term += 1;
        self.stats.term = self.term;
        self.stats.elections_started += 1;
        self.voted_for = Some(self.me as u16);
        self.role = Role::Candidate;
        self.leader = None;
        self.leader_matched = 0;
        self.ahead.clear();
        self.votes.iter_mut().for_each(|v| *v = false);
        self.votes[self.me] = true;
        self.timer_base = now;
        self.arm_election(now, out);
        if self.majority == 1 {
            self.become_leader(now, out);
            return;
        }
        let vote = DbMsg::Vote { term: self.term, last_term: self.last_term(), last: self.last_index() };
        for (p, &to) in self.cfg.peers.iter().enumerate() {
            if p != self.me {
                out.send(to, Msg { call: 0, kind: MsgKind::Db(vote) });
            }
        }
    }

    /// A higher term: become its follower.
    fn adopt_term(&mut self, now: Nanos, out: &mut Outbox, term: u32) {
        if self.role == Role::Leader {
            self.resign(now, out);
        }
        self.term = term;
        self.stats.term = term;
        self.voted_for = None;
        self.role = Role::Follower;
        self.leader = None;
        self.leader_matched = 0;
        self.ahead.clear();
    }

    /// The leader becomes a follower that knows no leader (a higher term, or check-quorum). Its
    /// pending writes get `Unavailable`: their outcome is unknown — they may still commit under
    /// the next leader, or be truncated.
    fn resign(&mut self, now: Nanos, out: &mut Outbox) {
        self.role = Role::Follower;
        self.leader = None;
        while let Some(w) = self.pending.pop_front() {
            self.respond(out, w.from, w.call, Status::Unavailable, 0);
        }
        self.ship_queue.clear();
        self.timer_base = now;
        self.arm_election(now, out);
    }

    /// A leader, or a replica that heard from one within the base timeout, grants no vote (nor
    /// pre-vote) and ignores the candidate's term: this keeps leases safe (whatever term this
    /// replica has since adopted, e.g. from a late reply) and stops a rejoining replica from
    /// deposing a healthy leader through votes.
    fn led(&self, now: Nanos) -> bool {
        self.role == Role::Leader || now < self.leader_contact.saturating_add(self.cfg.election_timeout)
    }

    fn on_vote(&mut self, now: Nanos, out: &mut Outbox, c: usize, term: u32, last_term: u32, last: u64) {
        let led = self.led(now);
        if term > self.term {
            if led {
                return;
            }
            self.adopt_term(now, out, term);
        }
        let granted = !led
            && term == self.term
            && matches!(self.role, Role::Follower | Role::PreCandidate)
            && self.voted_for.is_none_or(|v| v as usize == c)
            && (last_term, last) >= (self.last_term(), self.last_index());
        if granted {
            self.voted_for = Some(c as u16);
            self.role = Role::Follower; // someone else campaigns: stop asking for pre-votes
            self.timer_base = now;
        }
        let ack = DbMsg::VoteAck { term: self.term, granted: Flag(granted) };
        out.send(self.cfg.peers[c], Msg { call: 0, kind: MsgKind::Db(ack) });
    }

    /// Would this replica vote for `c` in `term`? The vote's rules (the `led` rule, the log at
    /// least as up to date, one vote per term) without changing its term or vote. A refusal
    /// carries this replica's term, which a pre-candidate behind it adopts.
    fn on_pre_vote(&mut self, now: Nanos, out: &mut Outbox, c: usize, term: u32, last_term: u32, last: u64) {
        let granted = !self.led(now)
            && (term > self.term || term == self.term && self.voted_for.is_none_or(|v| v as usize == c))
            && (last_term, last) >= (self.last_term(), self.last_index());
        let ack = DbMsg::PreVoteAck { term: if granted { term } else { self.term }, granted: Flag(granted) };
        out.send(self.cfg.peers[c], Msg { call: 0, kind: MsgKind::Db(ack) });
    }

    // ---------------------------------------------------------------- replication (follower)

    fn on_db(&mut self, now: Nanos, out: &mut Outbox, p: usize, call: u64, d: DbMsg) {
        match d {
            DbMsg::Vote { term, last_term, last } => self.on_vote(now, out, p, term, last_term, last),
            DbMsg::PreVote { term, last_term, last } => self.on_pre_vote(now, out, p, term, last_term, last),
            DbMsg::PreVoteAck { term, granted: Flag(granted) } => {
                if granted && term == self.term + 1 && self.role == Role::PreCandidate {
                    self.votes[p] = true;
                    if self.votes.iter().filter(|&&v| v).count() >= self.majority {
                        self.start_election(now, out);
                    }
                } else if !granted && term > self.term {
                    self.adopt_term(now, out, term);
                }
            }
            DbMsg::VoteAck { term, granted: Flag(granted) } => {
                if term > self.term {
                    self.adopt_term(now, out, term);
                } else if granted && term == self.term && self.role == Role::Candidate {
                    self.votes[p] = true;
                    if self.votes.iter().filter(|&&v| v).count() >= self.majority {
                        self.become_leader(now, out);
                    }
                }
            }
            DbMsg::Append { term: entry_term, prev_term, index, key } => {
                if call & !0xffff_ffff != APPEND_TAG {
                    return; // not an Append from this protocol
                }
                let leader_term = call as u32;
                if entry_term <= leader_term && self.leader_says(now, out, p, leader_term, call) {
                    self.on_append(out, p, call, entry_term, prev_term, index, key);
                }
            }
            DbMsg::Heartbeat { term, last, commit } => {
                if self.leader_says(now, out, p, term, call) {
                    self.set_commit(commit.min(self.leader_matched));
                    let (ok, matched) = if self.leader_matched >= last {
                        (true, self.leader_matched)
                    } else {
                        (false, self.last_index().min(last))
                    };
                    self.ack(out, p, call, ok, matched);
                }
            }
            DbMsg::AppendAck { term, matched, ok: Flag(ok) } => {
                if term > self.term {
                    self.adopt_term(now, out, term);
                } else if term == self.term && self.role == Role::Leader {
                    self.on_ack(now, out, p, call, matched, ok);
                }
            }
        }
    }

    fn ack(&self, out: &mut Outbox, p: usize, call: u64, ok: bool, matched: u64) {
        let ack = DbMsg::AppendAck { term: self.term, matched, ok: Flag(ok) };
        out.send(self.cfg.peers[p], Msg { call, kind: MsgKind::Db(ack) });
    }

    /// Term rules for a message from the leader of `term`; whether to go on with it.
    fn leader_says(&mut self, now: Nanos, out: &mut Outbox, p: usize, term: u32, call: u64) -> bool {
        if term < self.term {
            self.ack(out, p, call, false, 0); // a deposed leader learns the current term
            return false;
        }
        if term > self.term {
            self.adopt_term(now, out, term);
        }
        match self.role {
            // Impossible (a term has at most one leader); ignored rather than trusted.
            Role::Leader => return false,
            Role::Candidate | Role::PreCandidate => self.role = Role::Follower,
            Role::Follower => {}
        }
        self.leader = Some(p as u16);
        self.leader_contact = now;
        self.timer_base = now;
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append(&mut self, out: &mut Outbox, p: usize, call: u64, term: u32, prev_term: u32, index: u64, key: u64) {
        let last = self.last_index();
        if index == 0 {
            return;
        }
        if index - 1 > last {
            // A gap: earlier entries are late or lost. Hold this one if it is close; the gap
            // fills when they arrive, or when the leader resends (prompted by heartbeats).
            if index - 1 - last <= REORDER_WINDOW && self.ahead.len() < REORDER_WINDOW as usize {
                if !self.ahead.iter().any(|a| a.index == index) {
                    self.ahead.push(Ahead { index, term, prev_term, key });
                }
                self.ack(out, p, call, true, self.leader_matched); // a duplicate ack: "still at"
            } else {
                self.ack(out, p, call, false, last);
            }
            return;
        }
        if let Err(hint) = self.accept(term, prev_term, index, key) {
            self.ack(out, p, call, false, hint);
            return;
        }
        // Held entries that now follow the log.
        while let Some(k) = self.ahead.iter().position(|a| a.index <= self.last_index() + 1) {
            let a = self.ahead.swap_remove(k);
            let _ = self.accept(a.term, a.prev_term, a.index, a.key); // a mismatch is repaired later
        }
        self.ack(out, p, call, true, self.leader_matched);
    }

    /// Appends entry `index` (at most one past the end) if entry `index − 1` has `prev_term`;
    /// otherwise returns the hint for the leader.
    fn accept(&mut self, term: u32, prev_term: u32, index: u64, key: u64) -> Result<(), u64> {
        if self.term_at(index - 1) != prev_term {
            return Err(self.conflict_hint(index - 1));
        }
        if index <= self.last_index() {
            if self.term_at(index) != term {
                self.truncate_from(index);
                self.push_entry(term, key);
            } // else: the same entry (same index and term), a duplicate
        } else {
            self.push_entry(term, key);
        }
        self.leader_matched = self.leader_matched.max(index);
        Ok(())
    }

    /// Entry `j` has the wrong term: hint the index before its run of that term (committed
    /// entries always match, so never below the commit index).
    fn conflict_hint(&self, j: u64) -> u64 {
        if j == 0 {
            return 0; // a malformed Append (index 1 with a previous term)
        }
        let t = self.term_at(j);
        let mut k = j;
        while k > self.commit + 1 && self.term_at(k - 1) == t {
            k -= 1;
        }
        k - 1
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const MS: Nanos = 1_000_000;
    const CLIENT: ActorId = ActorId(1000);
    const HEALTHY: NodeHealth = NodeHealth { slow_factor: 1.0, error_rate: 0.0 };
    const ELECTION: Nanos = 150 * MS;

    fn config(n: usize, index: usize, replication: Replication, follower_reads: bool) -> ReplicaConfig {
        ReplicaConfig {
            shard: 0,
            index: index as u16,
            peers: (0..n as u32).map(ActorId).collect(),
            workers: 4,
            queue_capacity: 100,
            queue_timeout: None,
            propagate_deadlines: false,
            min_time_left: 0,
            service_time: Dist::constant_ns(MS),
            replication,
            follower_reads,
            bug_ack_before_commit: false,
            election_timeout: ELECTION,
            heartbeat_interval: 50 * MS,
            pre_vote: false,
            check_quorum: false,
            horizon: Nanos::MAX,
        }
    }

    fn guarded(cfg: ReplicaConfig) -> ReplicaConfig {
        ReplicaConfig { pre_vote: true, check_quorum: true, ..cfg }
    }

    fn streams(seed: u64, i: usize) -> ReplicaStreams {
        ReplicaStreams {
            work: Stream::new(seed, &format!("db/test/{i}/work")),
            election: Stream::new(seed, &format!("db/test/{i}/election")),
            lag: Stream::new(seed, &format!("db/test/{i}/lag")),
        }
    }

    #[derive(Clone, Copy, Debug)]
    enum Ev {
        Deliver { from: ActorId, to: ActorId, msg: Msg },
        Fire { to: usize, epoch: u32, t: Timer },
    }

    /// Drops the replica-to-replica messages `(from, to, msg)` it matches.
    type DropRule = Box<dyn Fn(usize, usize, &Msg) -> bool>;

    /// Invocation and outcome of one client request.
    #[derive(Clone, Copy, Debug)]
    struct Call {
        op: Op,
        key: u64,
        sent: Nanos,
        done: Option<(Nanos, Resp)>,
    }

    /// A tiny deterministic world: replicas, a network with a fixed delay plus jitter, loss, cut
    /// links and down nodes, timers with crash epochs, and a client that records answers. After
    /// every event it checks the protocol's safety invariants.
    struct Sim {
        now: Nanos,
        seq: u64,
        events: BTreeMap<(Nanos, u64), Ev>,
        reps: Vec<Replica>,
        up: Vec<bool>,
        epoch: Vec<u32>,
        delay: Nanos,
        jitter: Nanos,
        loss: f64,
        net: Stream,
        /// Directed links (from, to) that drop everything.
        cut: BTreeSet<(usize, usize)>,
        /// Drops the replica-to-replica messages it matches.
        drop_if: Option<DropRule>,
        out: Outbox,
        calls: Vec<Call>,
        /// The leader seen for each term.
        leaders: BTreeMap<u32, usize>,
        /// Committed entries as first seen committed anywhere: (term, key) by index − 1.
        ledger: Vec<(u32, u64)>,
        checked: Vec<u64>,
        /// Hash of every delivered event (determinism check).
        trace: u64,
        /// `Append` messages sent, by destination.
        appends: Vec<u64>,
    }

    impl Sim {
        fn new(n: usize, replication: Replication, follower_reads: bool, seed: u64) -> Sim {
            Sim::with(seed, (0..n).map(|i| config(n, i, replication.clone(), follower_reads)).collect())
        }

        /// Sync replicas with pre-vote and check-quorum.
        fn guarded(n: usize, seed: u64) -> Sim {
            Sim::with(seed, (0..n).map(|i| guarded(config(n, i, Replication::Sync, false))).collect())
        }

        fn with(seed: u64, cfgs: Vec<ReplicaConfig>) -> Sim {
            let n = cfgs.len();
            let reps = cfgs.into_iter().enumerate().map(|(i, c)| Replica::new(c, streams(seed, i))).collect();
            let mut s = Sim {
                now: 0,
                seq: 0,
                events: BTreeMap::new(),
                reps,
                up: vec![true; n],
                epoch: vec![0; n],
                delay: MS,
                jitter: 0,
                loss: 0.0,
                net: Stream::new(seed, "db/test/net"),
                cut: BTreeSet::new(),
                drop_if: None,
                out: Outbox::default(),
                calls: Vec::new(),
                leaders: BTreeMap::new(),
                ledger: Vec::new(),
                checked: vec![0; n],
                trace: 0,
                appends: vec![0; n],
            };
            for i in 0..n {
                let mut out = std::mem::take(&mut s.out);
                s.reps[i].boot(0, &mut out);
                s.out = out;
                s.flush(i);
            }
            s
        }

        fn n(&self) -> usize {
            self.reps.len()
        }

        fn flush(&mut self, from: usize) {
            let mut out = std::mem::take(&mut self.out);
            for (to, msg) in out.sends.drain(..) {
                let delay = if to == CLIENT {
                    self.delay
                } else {
                    let j = to.0 as usize;
                    if let MsgKind::Db(DbMsg::Append { .. }) = msg.kind {
                        self.appends[j] += 1;
                    }
                    if self.cut.contains(&(from, j)) || self.drop_if.as_ref().is_some_and(|f| f(from, j, &msg)) {
                        continue;
                    }
                    if self.loss > 0.0 && self.net.chance(self.loss) {
                        continue;
                    }
                    self.delay + if self.jitter > 0 { self.net.below(self.jitter + 1) } else { 0 }
                };
                self.push(self.now + delay, Ev::Deliver { from: ActorId(from as u32), to, msg });
            }
            for (after, t) in out.timers.drain(..) {
                self.push(self.now + after, Ev::Fire { to: from, epoch: self.epoch[from], t });
            }
            self.out = out;
        }

        fn push(&mut self, at: Nanos, ev: Ev) {
            self.seq += 1;
            self.events.insert((at, self.seq), ev);
        }

        fn step(&mut self, until: Nanos) -> bool {
            let Some((&(at, seq), _)) = self.events.first_key_value() else { return false };
            if at > until {
                return false;
            }
            let ev = self.events.remove(&(at, seq)).expect("first event");
            self.now = at;
            let mut out = std::mem::take(&mut self.out);
            match ev {
                Ev::Deliver { to, msg, .. } if to == CLIENT => {
                    let c = &mut self.calls[msg.call as usize];
                    if let (None, MsgKind::Response(r)) = (c.done, msg.kind) {
                        c.done = Some((at, r));
                    }
                }
                Ev::Deliver { from, to, msg } => {
                    let j = to.0 as usize;
                    if self.up[j] {
                        let (a, b) = msg.kind.code();
                        self.mix(&[at, u64::from(from.0), u64::from(to.0), msg.call, a, b]);
                        self.reps[j].on_msg(at, &mut out, HEALTHY, from, msg);
                        self.out = out;
                        self.flush(j);
                    }
                }
                Ev::Fire { to, epoch, t } => {
                    if self.up[to] && self.epoch[to] == epoch {
                        let (a, b) = t.code();
                        self.mix(&[at, to as u64, a, b]);
                        self.reps[to].on_timer(at, &mut out, HEALTHY, t);
                        self.out = out;
                        self.flush(to);
                    }
                }
            }
            if !self.out.sends.is_empty() || !self.out.timers.is_empty() {
                unreachable!("outbox flushed");
            }
            self.check();
            true
        }

        fn mix(&mut self, words: &[u64]) {
            for &w in words {
                self.trace = (self.trace ^ w).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(7);
            }
        }

        fn run_until(&mut self, t: Nanos) {
            while self.step(t) {}
            self.now = self.now.max(t);
        }

        fn run_for(&mut self, d: Nanos) {
            self.run_until(self.now + d);
        }

        /// Sends a client request to replica `to`; returns its handle.
        fn request(&mut self, to: usize, op: Op, key: u64) -> usize {
            let id = self.calls.len();
            self.calls.push(Call { op, key, sent: self.now, done: None });
            let msg = Msg { call: id as u64, kind: MsgKind::Request(Req::new(0, op, key)) };
            self.push(self.now + self.delay, Ev::Deliver { from: CLIENT, to: ActorId(to as u32), msg });
            id
        }

        /// Sends a request and waits (up to 1 s) for its answer.
        fn call(&mut self, to: usize, op: Op, key: u64) -> Option<Resp> {
            let id = self.request(to, op, key);
            let end = self.now + 1_000 * MS;
            while self.calls[id].done.is_none() && self.step(end) {}
            self.resp(id)
        }

        /// The answer to request `id`, with versions reduced to their log index (which is what
        /// the tests reason about; redirect hints are below the index bits anyway).
        fn resp(&self, id: usize) -> Option<Resp> {
            self.calls[id].done.map(|(_, r)| match r.status {
                Status::Ok => Resp { value: version_parts(r.value).1, ..r },
                _ => r,
            })
        }

        fn crash(&mut self, i: usize) {
            self.reps[i].crash(self.now);
            self.up[i] = false;
            self.epoch[i] += 1;
        }

        fn restart(&mut self, i: usize) {
            self.up[i] = true;
            let mut out = std::mem::take(&mut self.out);
            self.reps[i].boot(self.now, &mut out);
            self.out = out;
            self.flush(i);
        }

        /// Cuts every link between `i` and the others, both ways.
        fn isolate(&mut self, i: usize) {
            for j in 0..self.n() {
                if j != i {
                    self.cut.insert((i, j));
                    self.cut.insert((j, i));
                }
            }
        }

        fn heal(&mut self) {
            self.cut.clear();
        }

        /// The live leader of the highest term, if any.
        fn leader(&self) -> Option<usize> {
            (0..self.n()).filter(|&i| self.up[i] && self.reps[i].is_leader()).max_by_key(|&i| self.reps[i].term())
        }

        /// Runs until a live replica leads a term above `above` (at most `limit`).
        fn await_leader(&mut self, above: u32, limit: Nanos) -> usize {
            let end = self.now + limit;
            loop {
                if let Some(l) = self.leader()
                    && self.reps[l].term() > above
                {
                    return l;
                }
                assert!(self.step(end), "no leader above term {above} by {} ms", end / MS);
            }
        }

        /// Safety, after every event: one leader per term; at most one replica can serve
        /// leader reads at any instant (leases); committed entries never change.
        fn check(&mut self) {
            let now = self.now;
            let mut serving = Vec::new();
            for (i, r) in self.reps.iter().enumerate() {
                if r.is_leader() {
                    let first = *self.leaders.entry(r.term()).or_insert(i);
                    assert_eq!(first, i, "two leaders in term {} at {now} ns", r.term());
                    if r.cfg.replication == Replication::Sync && r.can_serve_reads(now) {
                        serving.push(i);
                    }
                }
                for idx in self.checked[i] + 1..=r.commit_index() {
                    let e = r.entry(idx).expect("committed entries are in the log");
                    match self.ledger.get(idx as usize - 1) {
                        Some(&l) => assert_eq!(l, e, "replica {i} committed a different entry {idx}"),
                        None => self.ledger.push(e),
                    }
                }
                self.checked[i] = r.commit_index();
                assert!(r.applied_index() <= r.last_index());
            }
            assert!(serving.len() <= 1, "replicas {serving:?} all hold a lease at {now} ns");
        }

        /// Every replica's store is exactly its log applied up to its applied index.
        fn assert_stores_match_logs(&self) {
            for (i, r) in self.reps.iter().enumerate() {
                let mut rebuilt = BTreeMap::new();
                for idx in 1..=r.applied_index() {
                    let (_, key) = r.entry(idx).unwrap();
                    if key != NOOP_KEY {
                        rebuilt.insert(key, version(r.entry(idx).unwrap().0, idx));
                    }
                }
                assert_eq!(rebuilt, r.store, "replica {i}'s store differs from its log");
            }
        }

        fn log_of(&self, i: usize) -> Vec<(u32, u64)> {
            (1..=self.reps[i].last_index()).map(|k| self.reps[i].entry(k).unwrap()).collect()
        }
    }

    fn ok(value: u64) -> Option<Resp> {
        Some(Resp { status: Status::Ok, value })
    }

    fn status(status: Status, value: u64) -> Option<Resp> {
        Some(Resp { status, value })
    }

    #[test]
    fn write_commits_on_a_majority_and_is_applied_on_followers() {
        let mut s = Sim::new(3, Replication::Sync, false, 1);
        s.run_for(10 * MS);
        let w = s.request(0, Op::Write, 7);
        s.run_for(5 * MS);
        // 1 ms to the leader, 1 ms of work, 1 ms to a follower and 1 ms back, 1 ms to the client.
        assert_eq!(s.resp(w), ok(1));
        assert_eq!(s.calls[w].done.unwrap().0, 15 * MS);
        assert_eq!((s.reps[0].commit_index(), s.reps[0].version_of(7)), (1, 1));
        assert_eq!(s.reps[1].last_index(), 1, "followers persisted it");
        assert_eq!(s.reps[1].version_of(7), 0, "followers apply once they learn the commit");
        s.run_until(60 * MS); // the heartbeat at 50 ms carries the commit index
        for r in &s.reps {
            assert_eq!((r.commit_index(), r.version_of(7), r.term()), (1, 1, 1));
        }
        assert_eq!(s.call(0, Op::Read, 7), ok(1));
        assert_eq!((s.reps[0].stats.served, s.reps[0].stats.elections_started), (2, 0));
        s.assert_stores_match_logs();
    }

    #[test]
    fn sync_write_is_never_acknowledged_without_a_majority() {
        let mut s = Sim::new(3, Replication::Sync, false, 2);
        s.run_for(10 * MS);
        s.crash(1);
        s.crash(2);
        let w = s.request(0, Op::Write, 3);
        s.run_for(5_000 * MS);
        assert_eq!(s.resp(w), None, "no majority, no acknowledgement");
        assert!(s.reps[0].is_leader(), "a leader steps down only on a higher term");
        assert_eq!((s.reps[0].last_index(), s.reps[0].commit_index()), (1, 0));
        assert_eq!(s.call(0, Op::Read, 3), status(Status::Unavailable, 0), "no lease without a majority");
        // The majority returns: the write commits and is acknowledged after all.
        s.restart(1);
        s.run_for(200 * MS);
        assert_eq!(s.resp(w), ok(1));
        assert_eq!(s.call(0, Op::Read, 3), ok(1));
    }

    #[test]
    fn leader_crash_elects_a_new_leader_and_the_old_one_catches_up() {
        let mut s = Sim::new(3, Replication::Sync, false, 3);
        s.run_for(10 * MS);
        assert_eq!(s.call(0, Op::Write, 1), ok(1));
        assert_eq!(s.call(0, Op::Write, 2), ok(2));
        // The leader takes a write it cannot replicate (its links are cut), then crashes.
        s.isolate(0);
        let lost = s.request(0, Op::Write, 3);
        s.run_for(10 * MS);
        assert_eq!(s.reps[0].last_index(), 3);
        let crashed_at = s.now;
        s.crash(0);
        s.heal();
        let l = s.await_leader(1, 4 * 2 * ELECTION);
        assert!(s.now - crashed_at <= 3 * 2 * ELECTION, "elected within a few election timeouts");
        assert_eq!(s.reps[l].term(), 2);
        assert_eq!(s.reps[l].entry(3), Some((2, NOOP_KEY)), "a new leader starts its term with a no-op");
        let follower = 3 - l;
        assert_eq!(s.call(follower, Op::Write, 4), status(Status::Redirect, l as u64));
        assert_eq!(s.call(l, Op::Write, 4), ok(4));
        // The old leader returns as a follower of the term it persisted, then catches up: its
        // unreplicated entry 3 is replaced by the new leader's.
        s.restart(0);
        assert!(!s.reps[0].is_leader());
        assert_eq!((s.reps[0].term(), s.reps[0].entry(3)), (1, Some((1, 3))));
        s.run_for(300 * MS);
        assert_eq!(s.reps[0].term(), 2);
        assert_eq!(s.reps[0].leader(), Some(l as u16));
        assert_eq!(s.log_of(0), s.log_of(l));
        assert_eq!(s.reps[0].commit_index(), s.reps[l].commit_index());
        for k in 1..=4 {
            assert_eq!(s.reps[0].version_of(k), s.reps[l].version_of(k), "key {k}");
        }
        assert_eq!(s.reps[0].version_of(3), 0, "the unreplicated write never happened");
        assert_eq!(s.resp(lost), None, "its caller never heard back (the crash lost it)");
        assert_eq!(s.reps[0].stats.lost, 1);
        s.assert_stores_match_logs();
    }

    #[test]
    fn partitioned_old_leader_cannot_commit_loses_its_lease_and_steps_down() {
        let mut s = Sim::new(3, Replication::Sync, false, 4);
        s.run_for(10 * MS);
        assert_eq!(s.call(0, Op::Write, 1), ok(1));
        let t0 = s.now;
        s.isolate(0);
        // Within the lease (acks of the heartbeat sent at 0 ms) the old leader still serves reads.
        assert_eq!(s.call(0, Op::Read, 1), ok(1));
        let w = s.request(0, Op::Write, 2);
        s.run_until(t0 + 400 * MS);
        let l = s.leader().unwrap();
        assert_ne!(l, 0);
        assert_eq!(s.reps[l].term(), 2);
        assert!(s.reps[0].is_leader() && s.reps[0].term() == 1, "it has not heard of term 2 yet");
        assert_eq!(s.resp(w), None, "it cannot commit without a majority");
        assert_eq!(s.reps[0].commit_index(), 1);
        assert_eq!(s.call(0, Op::Read, 1), status(Status::Unavailable, 0), "its lease ran out");
        // The majority side serves reads and writes meanwhile (index 2 is its no-op).
        assert_eq!(s.reps[l].entry(2), Some((2, NOOP_KEY)));
        assert_eq!(s.call(l, Op::Write, 1), ok(3));
        assert_eq!(s.call(l, Op::Read, 1), ok(3));
        s.heal();
        s.run_for(100 * MS); // a heartbeat of term 2 reaches it
        assert!(!s.reps[0].is_leader());
        assert_eq!(s.reps[0].term(), 2);
        assert_eq!(s.resp(w), status(Status::Unavailable, 0), "pending write: outcome unknown");
        assert_eq!(s.call(0, Op::Read, 1), status(Status::Redirect, l as u64));
        s.run_for(100 * MS);
        assert_eq!(s.log_of(0), s.log_of(l), "its uncommitted entry was replaced");
        assert_eq!(s.reps[0].version_of(2), 0);
        assert_eq!(s.reps[0].version_of(1), 3);
        s.assert_stores_match_logs();
    }

    #[test]
    fn committed_writes_survive_successive_leader_changes() {
        let mut s = Sim::new(5, Replication::Sync, false, 5);
        s.jitter = 2 * MS;
        s.run_for(10 * MS);
        let mut acked: BTreeMap<u64, u64> = BTreeMap::new();
        let mut leader = 0;
        for round in 0..6u64 {
            for k in 0..4 {
                let key = (round * 3 + k) % 7;
                let r = s.call(leader, Op::Write, key).unwrap();
                assert_eq!(r.status, Status::Ok, "round {round}");
                acked.insert(key, r.value);
            }
            let term = s.reps[leader].term();
            s.crash(leader);
            if round > 0 {
                let back = (leader + 2) % 5;
                if !s.up[back] {
                    s.restart(back);
                }
            }
            leader = s.await_leader(term, 10 * ELECTION);
            // Its first reads wait for a lease (acks of its first heartbeats) and for its no-op to
            // commit: a round trip, or a few when a follower's log needs repair.
            let elected = s.now;
            while !s.reps[leader].can_serve_reads(s.now) {
                assert!(s.step(elected + 50 * MS), "round {round}: no leader reads within a heartbeat interval");
            }
            for (&key, &v) in &acked {
                assert_eq!(s.call(leader, Op::Read, key), ok(v), "round {round}, key {key}");
            }
        }
        for i in 0..5 {
            if !s.up[i] {
                s.restart(i);
            }
        }
        s.run_for(500 * MS);
        for i in 0..5 {
            assert_eq!(s.log_of(i), s.log_of(leader), "replica {i} converged");
            for (&key, &v) in &acked {
                assert_eq!(s.reps[i].version_of(key), v);
            }
        }
        s.assert_stores_match_logs();
    }

    #[test]
    fn async_write_acknowledged_by_a_leader_that_crashes_before_shipping_is_lost() {
        let lag = Replication::Async { lag: Dist::constant_ns(100 * MS) };
        let mut s = Sim::new(3, lag, false, 6);
        s.run_for(10 * MS);
        let t = s.now;
        assert_eq!(s.call(0, Op::Write, 9), ok(1), "acknowledged at once");
        assert_eq!(s.now - t, 3 * MS, "no replication round trip");
        assert_eq!(s.call(0, Op::Read, 9), ok(1), "the leader reads its own store");
        s.crash(0); // before the lag elapsed: nobody else has the write
        let l = s.await_leader(1, 4 * 2 * ELECTION);
        assert_eq!(s.call(l, Op::Read, 9), ok(0), "the acknowledged write is lost");
        assert_eq!(s.call(l, Op::Write, 5), ok(2));
        s.restart(0);
        s.run_for(500 * MS);
        assert_eq!(s.reps[0].version_of(9), 0, "rolled back on the old leader too");
        assert_eq!(s.reps[0].stats.rolled_back, 1);
        assert_eq!(s.reps[0].version_of(5), 2);
        assert_eq!(s.log_of(0), s.log_of(l));
        s.assert_stores_match_logs();
    }

    #[test]
    fn planted_bug_acknowledges_sync_writes_before_a_majority_has_them() {
        let cfgs = (0..3)
            .map(|i| ReplicaConfig { bug_ack_before_commit: true, ..config(3, i, Replication::Sync, false) })
            .collect();
        let mut s = Sim::with(7, cfgs);
        s.run_for(10 * MS);
        s.isolate(0);
        assert_eq!(s.call(0, Op::Write, 4), ok(1), "acknowledged without a majority");
        let l = s.await_leader(1, 4 * 2 * ELECTION);
        s.heal();
        s.run_for(2 * ELECTION);
        assert_eq!(s.call(l, Op::Read, 4), ok(0), "the acknowledged write is gone");
        assert_eq!(s.reps[0].version_of(4), 0, "the old leader's log was replaced");
    }

    #[test]
    fn async_followers_apply_after_the_lag() {
        let lag = Replication::Async { lag: Dist::constant_ns(100 * MS) };
        let mut s = Sim::new(3, lag, true, 7);
        s.run_for(10 * MS);
        assert_eq!(s.call(0, Op::Write, 4), ok(1));
        assert_eq!(s.call(1, Op::Read, 4), ok(0), "not shipped yet");
        s.run_until(120 * MS);
        assert_eq!(s.call(1, Op::Read, 4), ok(1));
        assert_eq!(s.reps[2].version_of(4), 1);
    }

    #[test]
    fn follower_reads_can_be_stale() {
        let mut s = Sim::new(3, Replication::Sync, true, 8);
        s.run_for(10 * MS);
        assert_eq!(s.call(0, Op::Write, 5), ok(1));
        // Followers learn the commit with the next heartbeat (at 50 ms).
        assert_eq!(s.call(1, Op::Read, 5), ok(0), "stale: the follower has not applied it");
        assert_eq!(s.call(0, Op::Read, 5), ok(1), "the leader has");
        s.run_until(60 * MS);
        assert_eq!(s.call(1, Op::Read, 5), ok(1));
        // A follower cut off from the leader keeps answering from its old state.
        s.cut.insert((0, 2));
        assert_eq!(s.call(0, Op::Write, 5), ok(2));
        s.run_for(100 * MS);
        assert_eq!(s.call(2, Op::Read, 5), ok(1), "stale by one version");
        assert_eq!(s.call(1, Op::Read, 5), ok(2));
        assert_eq!(s.reps[2].stats.redirects, 0);
    }

    #[test]
    fn redirect_carries_the_leader_index() {
        let mut s = Sim::new(3, Replication::Sync, false, 9);
        s.run_for(10 * MS);
        assert_eq!(s.call(1, Op::Write, 1), status(Status::Redirect, 0));
        assert_eq!(s.call(2, Op::Read, 1), status(Status::Redirect, 0), "no follower reads");
        assert_eq!(s.reps[1].stats.busy.average(s.now), 0.0, "redirected without work");
        s.crash(0);
        let l = s.await_leader(1, 4 * 2 * ELECTION);
        assert_eq!(s.call(3 - l, Op::Write, 1), status(Status::Redirect, l as u64));
        // A restarted replica does not know the leader until it hears from it.
        s.restart(0);
        assert_eq!(s.call(0, Op::Write, 1), status(Status::Redirect, u64::MAX));
        s.run_for(100 * MS);
        assert_eq!(s.call(0, Op::Write, 1), status(Status::Redirect, l as u64));
    }

    #[test]
    fn follower_refuses_gaps_accepts_duplicates_and_truncates_conflicts() {
        let mut f = Replica::new(config(3, 1, Replication::Sync, false), streams(1, 1));
        let mut out = Outbox::default();
        f.boot(0, &mut out);
        let leader = ActorId(0);
        let append = |leader_term: u32, term: u32, prev_term: u32, index: u64, key: u64| Msg {
            call: APPEND_TAG | u64::from(leader_term),
            kind: MsgKind::Db(DbMsg::Append { term, prev_term, index, key }),
        };
        let deliver = |f: &mut Replica, msg: Msg| {
            let mut out = Outbox::default();
            f.on_msg(MS, &mut out, HEALTHY, leader, msg);
            match out.sends.as_slice() {
                [(to, Msg { kind: MsgKind::Db(DbMsg::AppendAck { term, matched, ok: Flag(ok) }), .. })] => {
                    assert_eq!(*to, leader);
                    (*term, *matched, *ok)
                }
                other => panic!("expected one ack, got {other:?}"),
            }
        };
        assert_eq!(deliver(&mut f, append(1, 1, 1, 2, 20)), (1, 0, true), "held: entry 1 is missing");
        assert_eq!(f.last_index(), 0);
        assert_eq!(deliver(&mut f, append(1, 1, 0, 1, 10)), (1, 2, true), "the gap filled, 2 followed");
        assert_eq!(deliver(&mut f, append(1, 1, 1, 2, 20)), (1, 2, true));
        assert_eq!(deliver(&mut f, append(1, 1, 0, 1, 10)), (1, 2, true), "a late duplicate changes nothing");
        assert_eq!(f.last_index(), 2);
        assert_eq!(deliver(&mut f, append(1, 1, 1, 2 + REORDER_WINDOW + 2, 5)), (1, 2, false), "too far ahead");
        assert_eq!(deliver(&mut f, append(1, 1, 1, 3, 30)), (1, 3, true));
        // Term 3's leader has a different entry 2: the follower's 2 and 3 go.
        assert_eq!(deliver(&mut f, append(3, 3, 1, 2, 99)), (3, 2, true));
        assert_eq!((f.term(), f.last_index(), f.entry(2)), (3, 2, Some((3, 99))));
        // Entry 3 of term 2 after an entry 2 of term 2: refused with a hint below the run.
        assert_eq!(deliver(&mut f, append(3, 2, 2, 3, 7)), (3, 1, false));
        // A deposed leader's late message is refused and told the current term.
        assert_eq!(deliver(&mut f, append(1, 1, 1, 2, 20)), (3, 0, false));
        assert_eq!(f.entry(2), Some((3, 99)));
        // Garbage does not panic.
        deliver(&mut f, append(3, 3, 5, 1, 1));
        assert_eq!(f.entry(1), Some((1, 10)));
        f.on_msg(MS, &mut Outbox::default(), HEALTHY, leader, append(3, 3, 0, 0, 1));
        f.on_msg(
            MS,
            &mut Outbox::default(),
            HEALTHY,
            leader,
            Msg { call: 7, kind: MsgKind::Db(DbMsg::Append { term: 3, prev_term: 0, index: 1, key: 1 }) },
        );
        assert_eq!(f.last_index(), 2);
    }

    #[test]
    fn no_vote_within_the_lease_even_in_a_term_adopted_meanwhile() {
        let mut f = Replica::new(config(3, 1, Replication::Sync, false), streams(1, 1));
        let mut out = Outbox::default();
        f.boot(0, &mut out);
        let db = |d: DbMsg| Msg { call: 0, kind: MsgKind::Db(d) };
        let hb = Msg { call: 200 * MS, kind: MsgKind::Db(DbMsg::Heartbeat { term: 1, last: 0, commit: 0 }) };
        f.on_msg(200 * MS, &mut out, HEALTHY, ActorId(0), hb);
        // A late reply from some earlier exchange carries term 5: adopted, but no leader heard.
        f.on_msg(210 * MS, &mut out, HEALTHY, ActorId(2), db(DbMsg::VoteAck { term: 5, granted: Flag(false) }));
        assert_eq!(f.term(), 5);
        let vote = db(DbMsg::Vote { term: 5, last_term: 0, last: 0 });
        out = Outbox::default();
        f.on_msg(220 * MS, &mut out, HEALTHY, ActorId(2), vote);
        let refused = (ActorId(2), db(DbMsg::VoteAck { term: 5, granted: Flag(false) }));
        assert_eq!(out.sends, vec![refused], "the heartbeat at 200 ms still counts toward a lease");
        out = Outbox::default();
        f.on_msg(200 * MS + ELECTION, &mut out, HEALTHY, ActorId(2), vote);
        assert_eq!(out.sends, vec![(ActorId(2), db(DbMsg::VoteAck { term: 5, granted: Flag(true) }))]);
    }

    #[test]
    fn a_replica_cut_off_with_pre_vote_keeps_its_term_and_rejoins_without_deposing_the_leader() {
        let mut s = Sim::guarded(3, 11);
        s.run_for(10 * MS);
        assert_eq!(s.call(0, Op::Write, 1), ok(1));
        s.isolate(2);
        s.run_for(3_000 * MS);
        let r2 = &s.reps[2].stats;
        assert!(r2.pre_votes_started >= 5, "2 asks in vain, {} times", r2.pre_votes_started);
        assert_eq!((r2.elections_started, s.reps[2].term()), (0, 1), "no majority, no new term");
        assert!(s.reps[0].is_leader());
        assert_eq!(s.call(0, Op::Write, 2), ok(2));
        s.heal();
        s.run_for(2_000 * MS);
        for i in 0..3 {
            assert_eq!((s.reps[i].term(), s.reps[i].leader()), (1, Some(0)), "replica {i}");
            assert_eq!(s.reps[i].stats.elections_started, 0, "replica {i}");
        }
        assert_eq!(s.log_of(2), s.log_of(0), "it caught up from the same leader");
        assert_eq!(s.call(0, Op::Read, 2), ok(2));
    }

    #[test]
    fn pre_vote_is_granted_only_as_a_vote_would_be_and_changes_nothing() {
        let mut f = Replica::new(guarded(config(3, 1, Replication::Sync, false)), streams(1, 1));
        let mut out = Outbox::default();
        f.boot(0, &mut out);
        let db = |d: DbMsg| Msg { call: 0, kind: MsgKind::Db(d) };
        let hb = Msg { call: 200 * MS, kind: MsgKind::Db(DbMsg::Heartbeat { term: 1, last: 0, commit: 0 }) };
        f.on_msg(200 * MS, &mut out, HEALTHY, ActorId(0), hb);
        let ask = db(DbMsg::PreVote { term: 2, last_term: 0, last: 0 });
        let asked = |f: &mut Replica, at: Nanos, msg: Msg| {
            let mut out = Outbox::default();
            f.on_msg(at, &mut out, HEALTHY, ActorId(2), msg);
            assert_eq!((f.term(), f.voted_for, f.leader()), (1, Some(0), Some(0)), "nothing changed");
            out.sends
        };
        let denied = |term| vec![(ActorId(2), db(DbMsg::PreVoteAck { term, granted: Flag(false) }))];
        assert_eq!(asked(&mut f, 220 * MS, ask), denied(1), "it hears from the leader");
        let granted = vec![(ActorId(2), db(DbMsg::PreVoteAck { term: 2, granted: Flag(true) }))];
        assert_eq!(asked(&mut f, 200 * MS + ELECTION, ask), granted, "the leader fell silent");
        // Only to a log at least as up to date as its own (it now holds entry 1 of term 1).
        let append = DbMsg::Append { term: 1, prev_term: 0, index: 1, key: 5 };
        f.on_msg(400 * MS, &mut out, HEALTHY, ActorId(0), Msg { call: APPEND_TAG | 1, kind: MsgKind::Db(append) });
        assert_eq!(f.last_index(), 1);
        assert_eq!(asked(&mut f, 400 * MS + ELECTION, ask), denied(1), "its log is behind");
        let longer = db(DbMsg::PreVote { term: 2, last_term: 1, last: 1 });
        assert_eq!(asked(&mut f, 400 * MS + ELECTION, longer), granted);
        assert_eq!(
            asked(&mut f, 400 * MS + ELECTION, db(DbMsg::PreVote { term: 1, last_term: 1, last: 1 })),
            denied(1)
        );
    }

    #[test]
    fn a_pre_candidate_with_a_majority_wins_the_real_election() {
        for seed in [1, 2, 3] {
            let mut s = Sim::guarded(3, seed);
            s.run_for(10 * MS);
            assert_eq!(s.call(0, Op::Write, 1), ok(1));
            s.crash(0);
            let l = s.await_leader(1, 10 * ELECTION);
            let st = &s.reps[l].stats;
            assert!(st.pre_votes_started >= st.elections_started && st.elections_started >= 1, "seed {seed}: {st:?}");
            assert_eq!(s.call(l, Op::Write, 2), ok(3), "seed {seed}: the no-op, then the write");
            s.restart(0);
            s.run_for(500 * MS);
            assert_eq!(s.log_of(0), s.log_of(l), "seed {seed}");
        }
    }

    #[test]
    fn with_check_quorum_a_leader_cut_off_from_the_majority_steps_down() {
        let mut s = Sim::guarded(3, 4);
        s.run_for(10 * MS);
        assert_eq!(s.call(0, Op::Write, 1), ok(1));
        let t0 = s.now;
        s.isolate(0);
        let pending = s.request(0, Op::Write, 2);
        while s.reps[0].is_leader() {
            assert!(s.step(t0 + 10 * ELECTION), "still leading at {} ms", s.now / MS);
        }
        // The last acknowledgement arrives about t0 (those in flight: a round trip); the next
        // heartbeat tick an election timeout after it finds no majority heard.
        let took = s.now - t0;
        let bound = 2 * s.delay + ELECTION + s.reps[0].cfg.heartbeat_interval;
        assert!(took <= bound, "stepped down after {} ms", took / MS);
        assert_eq!((s.reps[0].stats.stepped_down, s.reps[0].term(), s.reps[0].leader()), (1, 1, None));
        s.run_for(5 * MS);
        assert_eq!(s.resp(pending), status(Status::Unavailable, 0), "pending write: outcome unknown");
        // Its clients are sent on rather than served or kept waiting.
        assert_eq!(s.call(0, Op::Read, 1), status(Status::Unavailable, 0));
        assert_eq!(s.call(0, Op::Write, 3), status(Status::Unavailable, 0));
        let l = s.await_leader(1, 10 * ELECTION);
        assert_ne!(l, 0);
        assert_eq!(s.reps[0].term(), 1, "pre-vote: the cut-off replica keeps its term");
        s.heal();
        s.run_for(300 * MS);
        assert_eq!((s.reps[0].term(), s.reps[0].leader()), (s.reps[l].term(), Some(l as u16)));
        assert_eq!(s.call(0, Op::Read, 1), status(Status::Redirect, l as u64));
        assert_eq!(s.log_of(0), s.log_of(l));
    }

    #[test]
    fn with_check_quorum_a_leader_that_hears_a_majority_stays() {
        // A lossy, jittery network and one follower down: heartbeats (a tenth of the election
        // timeout apart, as scenarios have by default) still reach a majority.
        let mut cfgs: Vec<_> = (0..3).map(|i| guarded(config(3, i, Replication::Sync, false))).collect();
        cfgs.iter_mut().for_each(|c| c.heartbeat_interval = ELECTION / 10);
        let mut s = Sim::with(5, cfgs);
        s.loss = 0.05;
        s.jitter = 5 * MS;
        s.crash(2);
        s.run_for(10_000 * MS);
        assert!(s.reps[0].is_leader() && s.reps[0].term() == 1);
        assert_eq!(s.reps[0].stats.stepped_down, 0);
    }

    /// A client's request `call` on key 3.
    fn req(call: u64, op: Op) -> Msg {
        Msg { call, kind: MsgKind::Request(Req::new(0, op, 3)) }
    }

    /// A replica's answer to the client's `call`.
    fn answer(call: u64, status: Status, value: u64) -> (ActorId, Msg) {
        (CLIENT, Msg { call, kind: MsgKind::Response(Resp { status, value }) })
    }

    /// A lone replica (its own majority) with one worker, booted at 0.
    fn lone(edit: impl FnOnce(&mut ReplicaConfig)) -> Replica {
        let mut cfg = config(1, 0, Replication::Sync, false);
        cfg.workers = 1;
        edit(&mut cfg);
        let mut r = Replica::new(cfg, streams(1, 0));
        r.boot(0, &mut Outbox::default());
        r
    }

    #[test]
    fn a_request_that_waited_beyond_the_queue_timeout_is_turned_away_unserved() {
        let mut r = lone(|c| c.queue_timeout = Some(MS + MS / 2));
        let mut out = Outbox::default();
        // One worker, 1 ms of work each: the write starts at 0, the reads queue at 0 and 0.2 ms.
        r.on_msg(0, &mut out, HEALTHY, CLIENT, req(1, Op::Write));
        r.on_msg(0, &mut out, HEALTHY, CLIENT, req(2, Op::Write));
        r.on_msg(MS / 5, &mut out, HEALTHY, CLIENT, req(3, Op::Read));
        let (_, done) = out.timers[0];
        out = Outbox::default();
        r.on_timer(MS, &mut out, HEALTHY, done); // write 2 waited 1 ms: served
        let (_, done) = out.timers[0];
        out = Outbox::default();
        r.on_timer(2 * MS, &mut out, HEALTHY, done); // read 3 waited 1.8 ms: shed
        assert_eq!(out.sends, vec![answer(2, Status::Ok, version(1, 2)), answer(3, Status::Rejected, 0)]);
        assert!(out.timers.is_empty(), "no work for the shed read");
        assert_eq!((r.stats.shed, r.stats.rejected, r.busy(), r.queue_len()), (1, 0, 0, 0));
        assert_eq!(r.last_index(), 2, "only the two served writes are logged");
    }

    #[test]
    fn a_request_whose_deadline_passed_is_turned_away_unserved_when_propagating() {
        let until = |call: u64, op: Op, deadline: Nanos| Msg {
            call,
            kind: MsgKind::Request(Req { deadline, ..Req::new(0, op, 3) }),
        };
        for propagate in [false, true] {
            let mut r = lone(|c| c.propagate_deadlines = propagate);
            let mut out = Outbox::default();
            // One worker, 1 ms of work each: write 1 starts at 0; write 2 (its caller waits
            // until 2 ms) and read 3 (until 0.5 ms) queue; read 4 arrives at 0.6 ms, past its
            // deadline of 0.5 ms.
            r.on_msg(0, &mut out, HEALTHY, CLIENT, until(1, Op::Write, 10 * MS));
            r.on_msg(0, &mut out, HEALTHY, CLIENT, until(2, Op::Write, 2 * MS));
            r.on_msg(0, &mut out, HEALTHY, CLIENT, until(3, Op::Read, MS / 2));
            r.on_msg(MS * 3 / 5, &mut out, HEALTHY, CLIENT, until(4, Op::Read, MS / 2));
            let on_arrival: Vec<_> = out.sends.clone();
            let (_, done) = out.timers[0];
            out = Outbox::default();
            r.on_timer(MS, &mut out, HEALTHY, done); // write 1 done; write 2 starts, read 3 waits
            let (_, done) = out.timers[0];
            out = Outbox::default();
            r.on_timer(2 * MS, &mut out, HEALTHY, done); // write 2 done; read 3 is next
            if propagate {
                assert_eq!(on_arrival, vec![answer(4, Status::Rejected, 0)], "past its deadline on arrival");
                assert_eq!(out.sends, vec![answer(2, Status::Ok, version(1, 2)), answer(3, Status::Rejected, 0)]);
                assert!(out.timers.is_empty(), "no work for the shed read");
                assert_eq!((r.stats.shed, r.stats.rejected, r.queue_len()), (2, 0, 0));
            } else {
                // Deadlines are not read: everything is served, however late.
                assert!(on_arrival.is_empty());
                assert_eq!(out.sends, vec![answer(2, Status::Ok, version(1, 2))]);
                assert_eq!((r.stats.shed, r.queue_len()), (0, 1));
            }
            assert_eq!(r.last_index(), 2, "the two writes are logged either way");
        }
    }

    #[test]
    fn lone_replica_commits_alone_and_its_queue_rejects_when_full() {
        let mut r = lone(|c| c.queue_capacity = 1);
        let mut out = Outbox::default();
        r.on_msg(0, &mut out, HEALTHY, CLIENT, req(1, Op::Write));
        r.on_msg(0, &mut out, HEALTHY, CLIENT, req(2, Op::Read));
        r.on_msg(0, &mut out, HEALTHY, CLIENT, req(3, Op::Read));
        r.on_msg(0, &mut out, HEALTHY, CLIENT, req(4, Op::Probe));
        assert_eq!(out.sends, vec![answer(3, Status::Rejected, 0), answer(4, Status::Ok, 0)]);
        assert_eq!((r.busy(), r.queue_len()), (1, 1));
        let (after, done) = out.timers[0];
        assert_eq!(after, MS);
        out = Outbox::default();
        r.on_timer(MS, &mut out, HEALTHY, done);
        assert_eq!(out.sends, vec![answer(1, Status::Ok, version(1, 1))], "a majority of one");
        let (_, done) = out.timers[0];
        out = Outbox::default();
        r.on_timer(2 * MS, &mut out, HEALTHY, done);
        assert_eq!(out.sends, vec![answer(2, Status::Ok, version(1, 1))]);
        // A slow node stretches the work; an error fault fails requests at once.
        out = Outbox::default();
        r.on_msg(3 * MS, &mut out, NodeHealth { slow_factor: 3.0, error_rate: 0.0 }, CLIENT, req(5, Op::Read));
        assert_eq!(out.timers[0].0, 3 * MS);
        out = Outbox::default();
        r.on_msg(3 * MS, &mut out, NodeHealth { slow_factor: 1.0, error_rate: 1.0 }, CLIENT, req(6, Op::Read));
        assert_eq!(out.sends, vec![answer(6, Status::Error, 0)]);
        r.crash(4 * MS);
        assert_eq!((r.stats.lost, r.stats.rejected, r.stats.errors, r.stats.served), (1, 1, 1, 2));
        // After a restart a lone replica elects itself.
        out = Outbox::default();
        r.boot(5 * MS, &mut out);
        assert!(!r.is_leader());
        let (after, t) = out.timers[0];
        out = Outbox::default();
        r.on_timer(5 * MS + after, &mut out, HEALTHY, t);
        assert!(r.is_leader());
        assert_eq!((r.term(), r.commit_index(), r.version_of(3)), (2, 2, 1));
    }

    #[test]
    fn catch_up_costs_about_one_append_per_missing_entry_even_with_loss() {
        let mut s = Sim::new(3, Replication::Sync, false, 13);
        s.jitter = 2 * MS;
        s.run_for(10 * MS);
        s.crash(2);
        for _ in 0..40 {
            for k in 0..25 {
                s.request(0, Op::Write, k);
            }
            s.run_for(20 * MS);
        }
        s.run_for(100 * MS);
        let missing = s.reps[0].last_index();
        assert_eq!(missing, 1000);
        let before = s.appends[2];
        s.loss = 0.05;
        s.restart(2);
        s.run_for(1_000 * MS);
        assert!(s.log_of(2) == s.log_of(0), "caught up: {} of {missing}", s.reps[2].last_index());
        let sent = s.appends[2] - before;
        assert!(sent >= missing && sent < missing * 3 / 2, "{sent} appends for {missing} missing entries");
        // Steady replication with loss and jitter: lost appends are resent, not whole windows.
        let before = s.appends[1];
        for _ in 0..20 {
            for k in 0..25 {
                s.request(0, Op::Write, k);
            }
            s.run_for(20 * MS);
        }
        s.run_for(200 * MS);
        assert!(s.log_of(1) == s.log_of(0), "{} of {}", s.reps[1].last_index(), s.reps[0].last_index());
        let sent = s.appends[1] - before;
        assert!(sent < 500 * 13 / 10, "{sent} appends for 500 entries");
    }

    #[test]
    fn a_follower_that_hears_the_leader_ignores_candidates() {
        // 2 cannot hear the leader, 1 can: 2 campaigns, 1 must not help it (or 0's lease would
        // overlap 2's leadership), so 0 stays leader and keeps serving through 1.
        let mut s = Sim::new(3, Replication::Sync, false, 11);
        s.run_for(10 * MS);
        s.cut.insert((0, 2));
        s.cut.insert((2, 0));
        s.run_for(2_000 * MS);
        assert!(s.reps[2].stats.elections_started >= 3, "2 campaigns in vain");
        assert!(s.reps[0].is_leader() && s.reps[0].term() == 1);
        assert_eq!((s.reps[1].term(), s.reps[1].leader()), (1, Some(0)), "1 ignores the candidate");
        assert_eq!(s.call(0, Op::Write, 1), ok(1));
        assert_eq!(s.call(0, Op::Read, 1), ok(1));
        // Healed, 2's higher term deposes the leader (without pre-vote): one more election,
        // which 2 cannot win without entry 1; then everyone converges.
        s.heal();
        let t2 = s.reps[2].term();
        let l = s.await_leader(t2, 10 * ELECTION);
        assert_ne!(l, 2);
        s.run_for(300 * MS);
        assert_eq!(s.log_of(2), s.log_of(l));
        assert_eq!(s.reps[2].version_of(1), 1);
    }

    #[test]
    fn an_old_term_entry_on_a_majority_is_not_committed_by_counting() {
        // Raft's Figure 8. Term 1: entry 1 reaches replicas 0 and 1 only.
        let mut s = Sim::new(5, Replication::Sync, false, 12);
        s.run_for(10 * MS);
        for j in 2..5 {
            s.cut.insert((0, j));
        }
        let w = s.request(0, Op::Write, 1);
        s.run_for(10 * MS);
        assert_eq!((s.reps[0].last_index(), s.reps[1].last_index(), s.reps[2].last_index()), (1, 1, 0));
        // Term 2: one of 2, 3, 4 wins; its no-op (entry 1 of term 2) reaches nobody; it crashes.
        s.crash(0);
        s.heal();
        s.isolate(1);
        s.drop_if = Some(Box::new(|_, _, m| matches!(m.kind, MsgKind::Db(DbMsg::Append { .. }))));
        let w2 = s.await_leader(1, 10 * ELECTION);
        assert!(w2 >= 2 && s.reps[w2].term() == 2);
        assert_eq!(s.reps[w2].entry(1), Some((2, NOOP_KEY)));
        s.crash(w2);
        // Term 3+: 0 or 1 wins (the others' logs are shorter) and copies entry 1 (term 1) to a
        // majority, but its own no-op (entry 2) reaches nobody: entry 1 must stay uncommitted.
        s.heal();
        s.restart(0);
        s.drop_if = Some(Box::new(|_, _, m| matches!(m.kind, MsgKind::Db(DbMsg::Append { index: 2, .. }))));
        let l3 = s.await_leader(2, 10 * ELECTION);
        assert!(l3 <= 1);
        s.run_for(200 * MS);
        let holders = (0..5).filter(|&i| s.reps[i].entry(1) == Some((1, 1))).count();
        assert!(holders >= 3, "entry 1 is on a majority");
        assert_eq!(s.reps[l3].commit_index(), 0, "but it is from an older term");
        // The term-2 replica returns and wins (the others can only reach it); it replaces entry 1.
        s.drop_if = None;
        let others: Vec<usize> = (0..5).filter(|&i| i != w2 && i != l3).collect();
        for &a in &others {
            for &b in &others {
                if a != b {
                    s.cut.insert((a, b));
                }
            }
        }
        s.crash(l3);
        s.restart(w2);
        let l4 = s.await_leader(s.reps[l3].term(), 20 * ELECTION);
        assert_eq!(l4, w2);
        s.run_for(200 * MS);
        s.heal();
        s.restart(l3);
        s.run_for(500 * MS);
        for i in 0..5 {
            assert_eq!(s.reps[i].entry(1), Some((2, NOOP_KEY)), "replica {i}");
            assert_eq!(s.reps[i].version_of(1), 0);
        }
        assert_eq!(s.resp(w), None, "the write was never acknowledged: losing it is allowed");
        s.assert_stores_match_logs();
    }

    /// Random faults, many seeds: crashes and restarts, partitions (some one-way, some of a single
    /// link), loss, jitter, with writes and reads throughout; `Sim::check` asserts one leader per
    /// term, one lease at a time and committed entries never changing after every event. At the
    /// end the network heals, every replica converges to the leader's log and its store matches
    /// its log; with Sync, every acknowledged write is in the log, and every read returned a
    /// version of its key no older than any write acknowledged, or read completed, before it was
    /// sent (linearizable reads of versions that only grow).
    fn chaos(seed: u64, n: usize, replication: Replication) -> u64 {
        chaos_with(seed, n, replication, false)
    }

    /// [`chaos`], optionally with pre-vote and check-quorum.
    fn chaos_with(seed: u64, n: usize, replication: Replication, guard: bool) -> u64 {
        let sync = replication == Replication::Sync;
        let cfg =
            |i| ReplicaConfig { pre_vote: guard, check_quorum: guard, ..config(n, i, replication.clone(), false) };
        let mut s = Sim::with(seed, (0..n).map(cfg).collect());
        s.jitter = 3 * MS;
        s.loss = 0.03;
        let mut rng = Stream::new(seed, "db/test/chaos");
        for _ in 0..300 {
            s.run_for(20 * MS);
            let i = rng.below(n as u64) as usize;
            // Most requests go where a client following redirects would send them.
            let to = match s.leader() {
                Some(l) if rng.chance(0.7) => l,
                _ => i,
            };
            match rng.below(100) {
                0..=39 => {
                    s.request(to, Op::Write, rng.below(6));
                }
                40..=69 => {
                    s.request(to, Op::Read, rng.below(6));
                }
                70..=72 if s.up[i] => s.crash(i),
                73..=78 if !s.up[i] => s.restart(i),
                79..=80 => {
                    s.heal();
                    let side: Vec<u64> = (0..n).map(|_| rng.below(2)).collect();
                    let one_way = rng.chance(0.3);
                    for a in 0..n {
                        for b in 0..n {
                            if side[a] == 0 && side[b] == 1 || side[a] == 1 && side[b] == 0 && !one_way {
                                s.cut.insert((a, b));
                            }
                        }
                    }
                }
                81..=84 => s.heal(),
                85..=87 => {
                    // A partial partition: one link, one way or both.
                    let j = rng.below(n as u64) as usize;
                    if i != j {
                        s.cut.insert((i, j));
                        if rng.chance(0.5) {
                            s.cut.insert((j, i));
                        }
                    }
                }
                _ => {}
            }
        }
        s.heal();
        s.loss = 0.0;
        for i in 0..n {
            if !s.up[i] {
                s.restart(i);
            }
        }
        // Converge: a leader, and every log equal to its log.
        let mut converged = false;
        for _ in 0..100 {
            s.run_for(50 * MS);
            if let Some(l) = s.leader() {
                let log = s.log_of(l);
                converged = (0..n).all(|i| s.log_of(i) == log && s.reps[i].commit_index() == s.reps[l].commit_index())
                    && s.reps[l].commit_index() == log.len() as u64;
                if converged {
                    break;
                }
            }
        }
        assert!(converged, "seed {seed}: replicas did not converge after healing");
        s.assert_stores_match_logs();
        let l = s.leader().unwrap();
        let log = s.log_of(l);
        for (i, e) in s.ledger.iter().enumerate() {
            assert_eq!(log[i], *e, "seed {seed}: committed entry {} lost", i + 1);
        }
        if sync {
            for c in s.calls.iter().filter(|c| c.op == Op::Write) {
                if let Some((_, r)) = c.done
                    && r.status == Status::Ok
                {
                    let (term, index) = version_parts(r.value);
                    assert_eq!(log.get(index as usize - 1), Some(&(term, c.key)), "seed {seed}: write lost");
                }
            }
            for c in s.calls.iter().filter(|c| c.op == Op::Read) {
                let Some((_, r)) = c.done else { continue };
                if r.status != Status::Ok {
                    continue;
                }
                let floor = s
                    .calls
                    .iter()
                    .filter(|w| w.op == Op::Write && w.key == c.key)
                    .filter_map(|w| {
                        w.done.filter(|&(t, r)| r.status == Status::Ok && t <= c.sent).map(|(_, r)| r.value)
                    })
                    .max()
                    .unwrap_or(0);
                assert!(r.value >= floor, "seed {seed}: stale leader read of key {} ({} < {floor})", c.key, r.value);
                let (term, index) = version_parts(r.value);
                assert!(
                    r.value == 0 || log[index as usize - 1] == (term, c.key),
                    "seed {seed}: read a foreign version"
                );
                // Nor older than a read of the key that completed before this one was sent.
                for e in s.calls.iter().filter(|e| e.op == Op::Read && e.key == c.key) {
                    if let Some((t, er)) = e.done
                        && er.status == Status::Ok
                        && t <= c.sent
                    {
                        assert!(r.value >= er.value, "seed {seed}: reads of key {} went back in time", c.key);
                    }
                }
            }
        }
        s.trace
    }

    #[test]
    fn random_faults_never_break_safety_sync() {
        for seed in 0..400 {
            chaos(seed, if seed % 2 == 0 { 3 } else { 5 }, Replication::Sync);
        }
    }

    #[test]
    fn random_faults_never_break_safety_async() {
        for seed in 0..200 {
            let lag = Dist::Exponential { mean: 20e6 };
            chaos(1000 + seed, if seed % 2 == 0 { 3 } else { 5 }, Replication::Async { lag });
        }
    }

    #[test]
    fn random_faults_never_break_safety_with_pre_vote_and_check_quorum() {
        for seed in 0..200 {
            chaos_with(2000 + seed, if seed % 2 == 0 { 3 } else { 5 }, Replication::Sync, true);
        }
        for seed in 0..100 {
            let lag = Dist::Exponential { mean: 20e6 };
            chaos_with(3000 + seed, if seed % 2 == 0 { 3 } else { 5 }, Replication::Async { lag }, true);
        }
    }

    #[test]
    fn same_seed_same_run() {
        assert_eq!(chaos(77, 5, Replication::Sync), chaos(77, 5, Replication::Sync));
        assert_ne!(chaos(77, 5, Replication::Sync), chaos(78, 5, Replication::Sync));
    }
}
