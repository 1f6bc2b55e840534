//! What components say to each other and to the engine.

use faultline_sim::Nanos;

/// Index of a component instance in the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct ActorId(pub u32);

/// Identifies one attempt of one call, local to the caller: `(slot << 32) | generation`. The
/// callee echoes it back in its response.
pub type CallId = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Status {
    Ok,
    /// The callee failed the request (its own failure or a failed dependency).
    Error,
    /// The callee's queue was full.
    Rejected,
    /// A proxy gave up waiting (e.g. a load balancer's idle timeout).
    Timeout,
    /// No backend could take the request.
    Unavailable,
    /// A database replica that is not its shard's leader: the response's `value` is the index of
    /// the replica it believes leads (`u64::MAX` if it does not know).
    Redirect,
}

impl Status {
    pub fn code(self) -> u64 {
        self as u64
    }
}

/// Whether a request reads or changes state (caches, databases and brokers care), or is a
/// health probe (answered at once by a live instance, without a worker).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    Read,
    Write,
    Probe,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Req {
    /// Request kind, an index into the callee's kinds (per-kind service times); 0 by default.
    pub class: u8,
    pub op: Op,
    /// The key the request is about (cache and database keys, queue partition keys).
    pub key: u64,
    /// When its sender stops waiting for it ([`NO_DEADLINE`] if never): a call's attempt
    /// deadline, the earlier deadline its caller inherited (deadline propagation), or a
    /// broker delivery's visibility deadline. Services, caches, databases and workflow steps
    /// that propagate deadlines act on it; nothing else reads it, and the trace hash leaves it out
    /// (it follows from the sender's time and timeout).
    pub deadline: Nanos,
}

/// A request nobody set a deadline on.
pub const NO_DEADLINE: Nanos = Nanos::MAX;

impl Req {
    pub const DEFAULT: Req = Req::new(0, Op::Read, 0);

    /// A request without a deadline.
    pub const fn new(class: u8, op: Op, key: u64) -> Req {
        Req { class, op, key, deadline: NO_DEADLINE }
    }

    /// The last instant a holder still takes it up: for one that propagates deadlines and wants
    /// `min_time_left` of them, `min_time_left` before its deadline; [`NO_DEADLINE`] if it has
    /// none, or for a holder that does not propagate.
    #[inline]
    pub fn take_up_until(&self, propagate: bool, min_time_left: Nanos) -> Nanos {
        if !propagate || self.deadline == NO_DEADLINE {
            NO_DEADLINE
        } else {
            self.deadline.saturating_sub(min_time_left)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resp {
    pub status: Status,
    /// A read's result (e.g. the version of a key); 0 when meaningless.
    pub value: u64,
}

impl Resp {
    pub fn status(status: Status) -> Resp {
        Resp { status, value: 0 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MsgKind {
    Request(Req),
    Response(Resp),
    /// Replication and election between the replicas of one database shard.
    Db(DbMsg),
}

/// A yes/no field of a replication message, four bytes wide and aligned. Why: as a plain `bool`
/// it was laid out in the byte right after the event's tag, so every copy of an event (queue
/// slot → engine → world) moved bytes 1–7 as two overlapping 4-byte stores, and reading them
/// back defeated store-to-load forwarding: a tenth of a request-path run's cycles, on every
/// event, database or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(align(4))]
pub struct Flag(pub bool);

/// The replication protocol of a database shard (Raft-style: terms, votes, an append-only log
/// whose index is also the version of the key it writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DbMsg {
    /// Leader → follower: log entry `index` (written in `term`) sets `key`; `prev_term` is the term
    /// of entry `index − 1` (consistency check).
    Append {
        term: u32,
        prev_term: u32,
        index: u64,
        key: u64,
    },
    /// Follower → leader: the follower's log matches the leader's up to `matched` (or, when
    /// `ok` is false, the append at `matched + 1` was refused and the leader should back up).
    AppendAck {
        term: u32,
        matched: u64,
        ok: Flag,
    },
    /// Leader → follower, periodically: the leader's last log index and commit index.
    Heartbeat {
        term: u32,
        last: u64,
        commit: u64,
    },
    /// Candidate → replica: vote for me in `term`; my log ends at `last` written in `last_term`.
    Vote {
        term: u32,
        last_term: u32,
        last: u64,
    },
    VoteAck {
        term: u32,
        granted: Flag,
    },
    /// Pre-candidate → replica (Raft thesis §9.6): would you vote for me in `term` (one past
    /// mine)? Changes nothing at the receiver.
    PreVote {
        term: u32,
        last_term: u32,
        last: u64,
    },
    /// The answer to a `PreVote`: the term asked for if granted, else the replica's own.
    PreVoteAck {
        term: u32,
        granted: Flag,
    },
}

impl MsgKind {
    pub fn response(status: Status) -> MsgKind {
        MsgKind::Response(Resp::status(status))
    }

    /// Two words that identify the message content for the trace hash.
    pub fn code(&self) -> (u64, u64) {
        match *self {
            MsgKind::Request(r) => (u64::from(r.class) | (r.op as u64) << 8, r.key),
            MsgKind::Response(r) => (0x1_0000 | r.status.code(), r.value),
            MsgKind::Db(d) => match d {
                // Terms are 32-bit: (tag, term) in one word, the other fields mixed into the second.
                DbMsg::Append { term, prev_term, index, key } => (
                    0x2_0000_0000 | u64::from(term),
                    index ^ key.rotate_left(32) ^ u64::from(prev_term).rotate_left(17),
                ),
                DbMsg::AppendAck { term, matched, ok: Flag(ok) } => {
                    (0x3_0000_0000 | u64::from(term), matched ^ u64::from(ok) << 63)
                }
                DbMsg::Heartbeat { term, last, commit } => {
                    (0x4_0000_0000 | u64::from(term), last ^ commit.rotate_left(32))
                }
                DbMsg::Vote { term, last_term, last } => {
                    (0x5_0000_0000 | u64::from(term), last ^ u64::from(last_term).rotate_left(40))
                }
                DbMsg::VoteAck { term, granted: Flag(granted) } => {
                    (0x6_0000_0000 | u64::from(term), u64::from(granted))
                }
                DbMsg::PreVote { term, last_term, last } => {
                    (0x7_0000_0000 | u64::from(term), last ^ u64::from(last_term).rotate_left(40))
                }
                DbMsg::PreVoteAck { term, granted: Flag(granted) } => {
                    (0x8_0000_0000 | u64::from(term), u64::from(granted))
                }
            },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Msg {
    pub call: CallId,
    pub kind: MsgKind,
}

/// Timers a component can set on itself. The world returns the tag unchanged when it fires
/// (unless the component crashed in between).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Next arrival of an open-loop workload.
    Arrival,
    /// Backoff before the next attempt of a call is over.
    Retry(CallId),
    /// Time to send a hedge copy of a call's current attempt.
    Hedge(CallId),
    /// The earliest attempt deadline of one of a caller's targets is due (index of the target).
    Deadline(u16),
    /// A job finished its local work (slot, generation in the same packing as [`CallId`]).
    WorkDone(u64),
    /// The deadline a call's owner inherited passed while this attempt was out (deadline
    /// propagation: set only when it comes before the attempt's own deadline).
    Cap(CallId),
    /// A component-specific timer: `tag` says which, `arg` is its argument.
    Model { tag: u8, arg: u64 },
}

impl Timer {
    pub fn code(self) -> (u64, u64) {
        match self {
            Timer::Arrival => (0, 0),
            Timer::Retry(c) => (2, c),
            Timer::WorkDone(c) => (3, c),
            Timer::Hedge(c) => (5, c),
            Timer::Deadline(t) => (6, u64::from(t)),
            Timer::Cap(c) => (7, c),
            Timer::Model { tag, arg } => (0x100 | u64::from(tag), arg),
        }
    }
}

/// A call id in a trace: `slot.generation`.
struct Call(CallId);

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0 >> 32, self.0 & 0xffff_ffff)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Rejected => "rejected",
            Status::Timeout => "timeout",
            Status::Unavailable => "unavailable",
            Status::Redirect => "redirect",
        })
    }
}

/// A message as a trace's `detail` says it (docs/cli.md): what it is, then its fields.
impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let yes = |b: Flag, word: &'static str| if b.0 { word } else { "not" };
        match self.kind {
            MsgKind::Request(r) => {
                let op = match r.op {
                    Op::Read => "read",
                    Op::Write => "write",
                    Op::Probe => "probe",
                };
                write!(f, "request {op} call {} kind {} key {}", Call(self.call), r.class, r.key)?;
                if r.deadline != NO_DEADLINE {
                    write!(f, " deadline {} ns", r.deadline)?;
                }
                Ok(())
            }
            MsgKind::Response(r) => write!(f, "response {} call {} value {}", r.status, Call(self.call), r.value),
            MsgKind::Db(d) => match d {
                DbMsg::Append { term, prev_term, index, key } => {
                    write!(f, "append term {term} index {index} key {key} prev_term {prev_term}")
                }
                DbMsg::AppendAck { term, matched, ok } => {
                    write!(f, "append-ack term {term} matched {matched} {}", yes(ok, "ok"))
                }
                DbMsg::Heartbeat { term, last, commit } => {
                    write!(f, "heartbeat term {term} last {last} commit {commit}")
                }
                DbMsg::Vote { term, last_term, last } => {
                    write!(f, "vote term {term} last {last} last_term {last_term}")
                }
                DbMsg::VoteAck { term, granted } => write!(f, "vote-ack term {term} {}", yes(granted, "granted")),
                DbMsg::PreVote { term, last_term, last } => {
                    write!(f, "pre-vote term {term} last {last} last_term {last_term}")
                }
                DbMsg::PreVoteAck { term, granted } => {
                    write!(f, "pre-vote-ack term {term} {}", yes(granted, "granted"))
                }
            },
        }
    }
}

impl Timer {
    /// The timer as a trace's `detail` says it; `model` names a [`Timer::Model`] tag of the
    /// component that set it, and says whether its argument is a key (shown `slot.generation`).
    pub fn describe(self, model: impl FnOnce(u8) -> (&'static str, bool)) -> String {
        match self {
            Timer::Arrival => "arrival".to_owned(),
            Timer::Retry(c) => format!("retry call {}", Call(c)),
            Timer::Hedge(c) => format!("hedge call {}", Call(c)),
            Timer::Deadline(t) => format!("attempt-deadline target {t}"),
            Timer::WorkDone(j) => format!("work-done job {}", Call(j)),
            Timer::Cap(c) => format!("inherited-deadline call {}", Call(c)),
            Timer::Model { tag, arg } => match model(tag) {
                (name, true) => format!("{name} {}", Call(arg)),
                (name, false) => format!("{name} {arg}"),
            },
        }
    }
}

/// Effects a component asks for while handling one event. Reused between events so the hot
/// path does not allocate.
#[derive(Debug, Default)]
pub struct Outbox {
    pub sends: Vec<(ActorId, Msg)>,
    pub timers: Vec<(Nanos, Timer)>,
}

impl Outbox {
    #[inline]
    pub fn send(&mut self, to: ActorId, msg: Msg) {
        self.sends.push((to, msg));
    }

    #[inline]
    pub fn timer(&mut self, after: Nanos, t: Timer) {
        self.timers.push((after, t));
    }

    pub fn is_empty(&self) -> bool {
        self.sends.is_empty() && self.timers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_details_are_words_and_fields() {
        let call = 3 << 32 | 7;
        let req = Req { class: 1, op: Op::Write, key: 42, deadline: 5_000 };
        let said = |kind: MsgKind| Msg { call, kind }.to_string();
        assert_eq!(said(MsgKind::Request(req)), "request write call 3.7 kind 1 key 42 deadline 5000 ns");
        assert_eq!(said(MsgKind::Request(Req::DEFAULT)), "request read call 3.7 kind 0 key 0");
        assert_eq!(
            said(MsgKind::Response(Resp { status: Status::Rejected, value: 9 })),
            "response rejected call 3.7 value 9"
        );
        let db = |d: DbMsg| said(MsgKind::Db(d));
        assert_eq!(
            db(DbMsg::Append { term: 2, prev_term: 1, index: 8, key: 5 }),
            "append term 2 index 8 key 5 prev_term 1"
        );
        assert_eq!(db(DbMsg::AppendAck { term: 2, matched: 7, ok: Flag(false) }), "append-ack term 2 matched 7 not");
        assert_eq!(db(DbMsg::Heartbeat { term: 2, last: 8, commit: 6 }), "heartbeat term 2 last 8 commit 6");
        assert_eq!(db(DbMsg::Vote { term: 3, last_term: 2, last: 8 }), "vote term 3 last 8 last_term 2");
        assert_eq!(db(DbMsg::VoteAck { term: 3, granted: Flag(true) }), "vote-ack term 3 granted");
        assert_eq!(db(DbMsg::PreVote { term: 3, last_term: 2, last: 8 }), "pre-vote term 3 last 8 last_term 2");
        assert_eq!(db(DbMsg::PreVoteAck { term: 2, granted: Flag(false) }), "pre-vote-ack term 2 not");
        let none = |_| unreachable!("not a model timer");
        assert_eq!(Timer::Retry(call).describe(none), "retry call 3.7");
        assert_eq!(Timer::Deadline(2).describe(none), "attempt-deadline target 2");
        assert_eq!(Timer::WorkDone(call).describe(none), "work-done job 3.7");
        assert_eq!(Timer::Model { tag: 1, arg: call }.describe(|_| ("work-done job", true)), "work-done job 3.7");
        assert_eq!(Timer::Model { tag: 1, arg: 4 }.describe(|_| ("heartbeat", false)), "heartbeat 4");
    }
}
