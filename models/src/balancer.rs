//! A load balancer: a proxy that spreads requests over a service's instances.

use faultline_sim::{Nanos, Stream};

use crate::calls::Picker;
use crate::msg::{ActorId, CallId, Msg, MsgKind, Outbox, Status, Timer};
use crate::slab::Slab;

#[derive(Clone, Copy, Debug, Default)]
pub struct BalancerStats {
    pub forwarded: u64,
    pub responses: u64,
    pub no_backend: u64,
    pub timeouts: u64,
}

#[derive(Debug)]
struct Forwarded {
    from: ActorId,
    call: CallId,
    backend: u32,
}

#[derive(Debug)]
pub struct Balancer {
    pub picker: Picker,
    fwd: Slab<Forwarded>,
    timeout: Nanos,
    rng: Stream,
    pub stats: BalancerStats,
}

impl Balancer {
    pub fn new(picker: Picker, timeout: Nanos, rng: Stream) -> Balancer {
        Balancer { picker, fwd: Slab::default(), timeout, rng, stats: BalancerStats::default() }
    }

    pub fn in_flight(&self) -> usize {
        self.fwd.len()
    }

    pub fn on_msg(&mut self, out: &mut Outbox, from: ActorId, msg: Msg) {
        match msg.kind {
            MsgKind::Request(req) => match self.picker.pick(&mut self.rng) {
                Some(b) => {
                    let id = self.fwd.insert(Forwarded { from, call: msg.call, backend: b as u32 });
                    self.stats.forwarded += 1;
                    out.send(self.picker.backends[b], Msg { call: id, kind: MsgKind::Request(req) });
                    out.timer(self.timeout, Timer::ProxyTimeout(id));
                }
                None => {
                    self.stats.no_backend += 1;
                    out.send(from, Msg { call: msg.call, kind: MsgKind::response(Status::Unavailable) });
                }
            },
            MsgKind::Response(resp) => {
                if let Some(f) = self.fwd.remove(msg.call) {
                    self.stats.responses += 1;
                    self.picker.done(f.backend as usize);
                    out.send(f.from, Msg { call: f.call, kind: MsgKind::Response(resp) });
                }
            }
        }
    }

    pub fn on_timer(&mut self, out: &mut Outbox, t: Timer) {
        if let Timer::ProxyTimeout(id) = t
            && let Some(f) = self.fwd.remove(id)
        {
            self.stats.timeouts += 1;
            self.picker.done(f.backend as usize);
            out.send(f.from, Msg { call: f.call, kind: MsgKind::response(Status::Timeout) });
        }
    }

    pub fn crash(&mut self) {
        self.fwd.clear();
        self.picker.reset();
    }
}
