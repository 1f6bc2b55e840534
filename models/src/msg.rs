//! What components say to each other and to the engine.

use faultline_sim::Nanos;

/// Index of a component instance in the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActorId(pub u32);

/// Identifies one attempt of one call, local to the caller: `(slot << 32) | generation`. The
/// callee echoes it back in its response.
pub type CallId = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
}

impl Status {
    pub fn code(self) -> u64 {
        self as u64
    }
}

/// Whether a request reads or changes state (caches, databases and brokers care), or is a
/// health probe (answered at once by a live instance, without a worker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
    Probe,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Req {
    /// Request kind, an index into the callee's kinds (per-kind service times); 0 by default.
    pub class: u8,
    pub op: Op,
    /// The key the request is about (cache and database keys, queue partition keys).
    pub key: u64,
}

impl Req {
    pub const DEFAULT: Req = Req { class: 0, op: Op::Read, key: 0 };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgKind {
    Request(Req),
    Response(Resp),
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
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// An outbound call attempt's deadline.
    CallTimeout(CallId),
    /// Backoff before the next attempt of a call is over.
    Retry(CallId),
    /// Time to send a hedge copy of a call's current attempt.
    Hedge(CallId),
    /// A job finished its local work (slot, generation in the same packing as [`CallId`]).
    WorkDone(u64),
    /// A proxied request's idle timeout at a load balancer.
    ProxyTimeout(CallId),
    /// A component-specific timer: `tag` says which, `arg` is its argument.
    Model { tag: u8, arg: u64 },
}

impl Timer {
    pub fn code(self) -> (u64, u64) {
        match self {
            Timer::Arrival => (0, 0),
            Timer::CallTimeout(c) => (1, c),
            Timer::Retry(c) => (2, c),
            Timer::WorkDone(c) => (3, c),
            Timer::ProxyTimeout(c) => (4, c),
            Timer::Hedge(c) => (5, c),
            Timer::Model { tag, arg } => (0x100 | u64::from(tag), arg),
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
