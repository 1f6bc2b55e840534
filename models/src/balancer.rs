//! A load balancer: a proxy that spreads requests over a service's instances, optionally
//! health-checking them (probes through the network, so partitions count too).

use faultline_sim::{Nanos, Stream};

use crate::calls::Picker;
use crate::deadlines::Deadlines;
use crate::msg::{ActorId, CallId, Msg, MsgKind, Op, Outbox, Req, Status, Timer};
use crate::slab::Slab;
use crate::spec::HealthCheck;

#[derive(Clone, Copy, Debug, Default)]
pub struct BalancerStats {
    pub forwarded: u64,
    pub responses: u64,
    pub no_backend: u64,
    pub timeouts: u64,
    /// Forwarded requests forgotten in a crash (their callers get no answer from us).
    pub lost: u64,
    pub probes: u64,
    /// Backends taken out / put back by health checks.
    pub marked_down: u64,
    pub marked_up: u64,
    /// With failover tiers: moves of the traffic to a less preferred tier (failovers) and back
    /// to a more preferred one (failbacks), as health checks take backends out or put them back.
    pub failovers: u64,
    pub failbacks: u64,
}

/// 16 bytes aligned to 4: a forwarding slot (with the slab's 4-byte generation) is 20 bytes,
/// not 24 (memory per in-flight request; see docs/performance.md).
#[derive(Clone, Copy, Debug)]
#[repr(C, packed(4))]
struct Forwarded {
    from: ActorId,
    call: CallId,
    /// [`UNCOUNTED`] once its backend was marked down.
    backend: u32,
}

/// A proxied request that no longer counts as outstanding at its backend.
const UNCOUNTED: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, Default)]
struct Health {
    ok_streak: u32,
    fail_streak: u32,
    /// Probe in flight (slab key with the low bit set), 0 if none.
    probe: u64,
}

const PROBE_ROUND: u8 = 1;
const PROBE_TIMEOUT: u8 = 2;

/// The name of a timer tag in a trace, and whether its argument is a key.
pub fn timer_name(tag: u8) -> (&'static str, bool) {
    match tag {
        PROBE_ROUND => ("probe-round", false),
        PROBE_TIMEOUT => ("probe-timeout", true),
        _ => ("timer", false),
    }
}

#[derive(Debug)]
pub struct Balancer {
    pub picker: Picker,
    fwd: Slab<Forwarded>,
    timeout: Nanos,
    check: Option<HealthCheck>,
    health: Vec<Health>,
    /// Probe ids: backend index per slot; keys get the low bit set to tell them from forwards.
    probes: Slab<u32>,
    rng: Stream,
    pub stats: BalancerStats,
    /// Idle deadlines of proxied requests (the timeout is fixed).
    deadlines: Deadlines,
    /// The failover tier traffic last went to (kept while no backend is healthy, so coming
    /// back to the same tier is no move).
    tier: u16,
}

impl Balancer {
    pub fn new(picker: Picker, timeout: Nanos, check: Option<HealthCheck>, rng: Stream) -> Balancer {
        let n = picker.backends.len();
        Balancer {
            picker,
            fwd: Slab::default(),
            timeout,
            check,
            health: vec![Health::default(); n],
            probes: Slab::default(),
            rng,
            stats: BalancerStats::default(),
            deadlines: Deadlines::default(),
            tier: 0,
        }
    }

    pub fn in_flight(&self) -> usize {
        self.fwd.len()
    }

    /// What the balancer holds for the memory budget: proxied requests, their deadlines (met
    /// ones not yet skipped included) and probes.
    pub fn held(&self) -> usize {
        self.fwd.len() + self.deadlines.len() + self.probes.len()
    }

    /// Starts health checking (at start and after a restart).
    pub fn boot(&mut self, out: &mut Outbox) {
        if let Some(c) = self.check {
            out.timer(c.interval, Timer::Model { tag: PROBE_ROUND, arg: 0 });
        }
    }

    pub fn on_msg(&mut self, now: Nanos, out: &mut Outbox, from: ActorId, msg: Msg) {
        match msg.kind {
            MsgKind::Request(req) => match self.picker.pick(&mut self.rng) {
                Some(b) => {
                    let id = self.fwd.insert(Forwarded { from, call: msg.call, backend: b as u32 });
                    self.stats.forwarded += 1;
                    out.send(self.picker.backends[b], Msg { call: id, kind: MsgKind::Request(req) });
                    self.deadlines.set(now, self.timeout, id, out, Timer::Deadline(0));
                }
                None => {
                    self.stats.no_backend += 1;
                    out.send(from, Msg { call: msg.call, kind: MsgKind::response(Status::Unavailable) });
                }
            },
            MsgKind::Response(resp) if msg.call & 1 == 1 => {
                if let Some(b) = self.probes.remove(msg.call & !1) {
                    self.probe_result(b as usize, resp.status == Status::Ok);
                }
            }
            MsgKind::Response(resp) => {
                if let Some(f) = self.fwd.remove(msg.call) {
                    self.stats.responses += 1;
                    self.release(f);
                    out.send(f.from, Msg { call: f.call, kind: MsgKind::Response(resp) });
                }
            }
            MsgKind::Db(_) => {} // not a database replica
        }
    }

    fn probe_result(&mut self, b: usize, ok: bool) {
        let Some(c) = self.check else { return };
        let h = &mut self.health[b];
        h.probe = 0;
        if ok {
            h.ok_streak += 1;
            h.fail_streak = 0;
            if !self.picker.is_healthy(b) && h.ok_streak >= c.healthy {
                self.picker.set_healthy(b, true);
                self.stats.marked_up += 1;
                self.follow_tier();
            }
        } else {
            h.fail_streak += 1;
            h.ok_streak = 0;
            if self.picker.is_healthy(b) && h.fail_streak >= c.unhealthy {
                self.picker.set_healthy(b, false);
                self.stats.marked_down += 1;
                self.follow_tier();
                // Requests out to a backend declared dead stop counting: if it crashed they will
                // never be answered, and counting them until the balancer's own timeout would keep
                // a load-aware strategy away from it long after it is back. (They still wait for
                // an answer or that timeout, as before.)
                self.picker.forget(b);
                for f in self.fwd.values_mut().filter(|f| f.backend == b as u32) {
                    f.backend = UNCOUNTED;
                }
            }
        }
    }

    fn release(&mut self, f: Forwarded) {
        if f.backend != UNCOUNTED {
            self.picker.done(f.backend as usize);
        }
    }

    /// Counts a failover or failback if a health change moved the traffic to another tier.
    fn follow_tier(&mut self) {
        let Some(t) = self.picker.active_tier() else { return };
        if t > self.tier {
            self.stats.failovers += 1;
        } else if t < self.tier {
            self.stats.failbacks += 1;
        }
        self.tier = t;
    }

    pub fn on_timer(&mut self, now: Nanos, out: &mut Outbox, t: Timer) {
        match t {
            Timer::Deadline(_) => {
                self.deadlines.fired();
                while let Some(id) = self.deadlines.expired(now, out, t, |id| self.fwd.get(id).is_some()) {
                    if let Some(f) = self.fwd.remove(id) {
                        self.stats.timeouts += 1;
                        self.release(f);
                        out.send(f.from, Msg { call: f.call, kind: MsgKind::response(Status::Timeout) });
                    }
                }
            }
            Timer::Model { tag: PROBE_ROUND, .. } => {
                let Some(c) = self.check else { return };
                for b in 0..self.health.len() {
                    if self.health[b].probe != 0 {
                        continue; // still waiting for the last one
                    }
                    let id = self.probes.insert(b as u32) | 1;
                    self.health[b].probe = id;
                    self.stats.probes += 1;
                    let probe = Req::new(0, Op::Probe, 0);
                    out.send(self.picker.backends[b], Msg { call: id, kind: MsgKind::Request(probe) });
                    out.timer(c.timeout, Timer::Model { tag: PROBE_TIMEOUT, arg: id });
                }
                out.timer(c.interval, Timer::Model { tag: PROBE_ROUND, arg: 0 });
            }
            Timer::Model { tag: PROBE_TIMEOUT, arg } => {
                if let Some(b) = self.probes.remove(arg & !1) {
                    self.probe_result(b as usize, false);
                }
            }
            _ => {}
        }
    }

    /// The balancer's node went down: proxied requests and health state are forgotten (on
    /// restart every backend is presumed healthy until probes say otherwise).
    pub fn crash(&mut self) {
        self.stats.lost += self.fwd.len() as u64;
        self.fwd.clear();
        self.deadlines.clear();
        self.probes.clear();
        self.picker.reset();
        for b in 0..self.health.len() {
            self.health[b] = Health::default();
            self.picker.set_healthy(b, true);
        }
        self.tier = self.picker.active_tier().unwrap_or(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::Strategy;
    use crate::msg::Resp;

    #[test]
    fn a_forwarding_slot_is_20_bytes() {
        // Every in-flight request holds one at each balancer on its path (docs/performance.md).
        assert_eq!(Slab::<Forwarded>::SLOT_BYTES, 20);
    }

    fn lb() -> Balancer {
        let picker = Picker::new(vec![ActorId(1), ActorId(2)], Strategy::RoundRobin);
        let check = HealthCheck { interval: 100, timeout: 50, unhealthy: 2, healthy: 1 };
        Balancer::new(picker, 1000, Some(check), Stream::new(1, "lb"))
    }

    /// Runs one probe round in which backend 1 (ActorId(2)) never answers.
    fn round(b: &mut Balancer) {
        round_with(b, &[ActorId(2)]);
    }

    /// Runs one probe round in which the `silent` backends never answer.
    fn round_with(b: &mut Balancer, silent: &[ActorId]) {
        let mut out = Outbox::default();
        b.on_timer(0, &mut out, Timer::Model { tag: PROBE_ROUND, arg: 0 });
        for (to, m) in out.sends.clone() {
            if !silent.contains(&to) {
                b.on_msg(
                    0,
                    &mut Outbox::default(),
                    to,
                    Msg { call: m.call, kind: MsgKind::Response(Resp::status(Status::Ok)) },
                );
            }
        }
        for (_, t) in out.timers.iter().filter(|(_, t)| matches!(t, Timer::Model { tag: PROBE_TIMEOUT, .. })) {
            b.on_timer(0, &mut Outbox::default(), *t);
        }
    }

    #[test]
    fn health_checks_take_a_silent_backend_out_after_the_threshold_and_back() {
        let mut b = lb();
        round(&mut b);
        assert!(b.picker.is_healthy(1), "one failed probe is below the threshold");
        round(&mut b);
        assert!(!b.picker.is_healthy(1));
        assert_eq!(b.stats.marked_down, 1);
        let mut out = Outbox::default();
        for k in 0..4 {
            b.on_msg(0, &mut out, ActorId(9), Msg { call: k, kind: MsgKind::Request(Req::DEFAULT) });
        }
        assert!(out.sends.iter().all(|(to, _)| *to == ActorId(1)), "only the healthy backend gets traffic");
        // Backend 1 answers the next probe: back in (healthy threshold 1).
        let mut out = Outbox::default();
        b.on_timer(0, &mut out, Timer::Model { tag: PROBE_ROUND, arg: 0 });
        let probe = out.sends.iter().find(|(to, _)| *to == ActorId(2)).unwrap().1;
        b.on_msg(
            0,
            &mut Outbox::default(),
            ActorId(2),
            Msg { call: probe.call, kind: MsgKind::Response(Resp::status(Status::Ok)) },
        );
        assert!(b.picker.is_healthy(1));
    }

    #[test]
    fn requests_out_to_a_backend_marked_down_stop_counting_as_outstanding() {
        // Least-outstanding: requests lost in a backend's crash would otherwise count until the
        // balancer's timeout and keep traffic away from it after it is back.
        let picker = Picker::new(vec![ActorId(1), ActorId(2)], Strategy::LeastOutstanding);
        let check = HealthCheck { interval: 100, timeout: 50, unhealthy: 2, healthy: 1 };
        let mut b = Balancer::new(picker, 1000, Some(check), Stream::new(1, "lb"));
        let mut out = Outbox::default();
        for k in 0..4 {
            b.on_msg(0, &mut out, ActorId(9), Msg { call: k, kind: MsgKind::Request(Req::DEFAULT) });
        }
        let lost: Vec<CallId> = out.sends.iter().filter(|(to, _)| *to == ActorId(2)).map(|(_, m)| m.call).collect();
        assert_eq!((lost.len(), b.picker.outstanding(1)), (2, 2));
        round(&mut b);
        round(&mut b);
        assert!(!b.picker.is_healthy(1));
        assert_eq!(b.picker.outstanding(1), 0, "forgotten when marked down");
        // Back up: a new request counts; a late answer to a lost one does not uncount it.
        round_with(&mut b, &[]);
        assert!(b.picker.is_healthy(1));
        assert_eq!(forward(&mut b, 2), [ActorId(2), ActorId(2)], "backend 1 has the fewest outstanding");
        assert_eq!(b.picker.outstanding(1), 2);
        let mut out = Outbox::default();
        b.on_msg(0, &mut out, ActorId(2), Msg { call: lost[0], kind: MsgKind::Response(Resp::status(Status::Ok)) });
        assert_eq!(out.sends.len(), 1, "the late answer still reaches its caller");
        assert_eq!(b.picker.outstanding(1), 2);
        // Nor does the other lost one's timeout: when everything left times out (two to backend
        // 0, one lost, two new), only the counted ones are released.
        b.on_timer(2000, &mut Outbox::default(), Timer::Deadline(0));
        assert_eq!(b.stats.timeouts, 5);
        assert_eq!((b.picker.outstanding(0), b.picker.outstanding(1)), (0, 0));
    }

    /// Where `n` requests are forwarded.
    fn forward(b: &mut Balancer, n: u64) -> Vec<ActorId> {
        let mut out = Outbox::default();
        for k in 0..n {
            b.on_msg(0, &mut out, ActorId(9), Msg { call: k, kind: MsgKind::Request(Req::DEFAULT) });
        }
        out.sends.iter().map(|(to, _)| *to).collect()
    }

    #[test]
    fn failover_tiers_move_traffic_after_the_unhealthy_threshold_and_back_after_the_healthy_one() {
        // ActorId(1), ActorId(2): the primary tier; ActorId(3), ActorId(4): the passive one.
        let picker = Picker::new((1..=4).map(ActorId).collect(), Strategy::RoundRobin).with_tiers(&[0, 0, 1, 1]);
        let check = HealthCheck { interval: 100, timeout: 50, unhealthy: 2, healthy: 2 };
        let mut b = Balancer::new(picker, 1000, Some(check), Stream::new(1, "lb"));
        let primary = [ActorId(1), ActorId(2)];
        round_with(&mut b, &[]);
        assert!(forward(&mut b, 8).iter().all(|a| primary.contains(a)), "no traffic to the passive tier");
        // The primary tier goes dark: one failed round is below the threshold...
        round_with(&mut b, &primary);
        assert!(forward(&mut b, 8).iter().all(|a| primary.contains(a)));
        assert_eq!(b.stats.failovers, 0);
        // ...the second takes both out and the traffic fails over.
        round_with(&mut b, &primary);
        assert_eq!(forward(&mut b, 4), vec![ActorId(3), ActorId(4), ActorId(3), ActorId(4)]);
        assert_eq!((b.stats.marked_down, b.stats.failovers, b.stats.failbacks), (2, 1, 0));
        // Back: one good round is below the healthy threshold, the second fails back.
        round_with(&mut b, &[]);
        assert!(forward(&mut b, 4).iter().all(|a| !primary.contains(a)));
        round_with(&mut b, &[]);
        assert!(forward(&mut b, 8).iter().all(|a| primary.contains(a)), "failback");
        assert_eq!((b.stats.marked_up, b.stats.failovers, b.stats.failbacks), (2, 1, 1));
    }

    #[test]
    fn without_tiers_a_dead_half_is_replaced_by_the_other_half_and_counts_no_failover() {
        let picker = Picker::new((1..=4).map(ActorId).collect(), Strategy::RoundRobin);
        let check = HealthCheck { interval: 100, timeout: 50, unhealthy: 1, healthy: 1 };
        let mut b = Balancer::new(picker, 1000, Some(check), Stream::new(1, "lb"));
        assert_eq!(forward(&mut b, 4), (1..=4).map(ActorId).collect::<Vec<_>>(), "active-active");
        round_with(&mut b, &[ActorId(1), ActorId(2)]);
        assert_eq!(forward(&mut b, 4), vec![ActorId(3), ActorId(4), ActorId(3), ActorId(4)]);
        round_with(&mut b, &[]);
        assert_eq!(b.stats.marked_up, 2);
        assert_eq!((b.stats.failovers, b.stats.failbacks), (0, 0));
    }

    #[test]
    fn proxy_timeout_answers_the_caller_and_late_response_is_dropped() {
        let mut b = lb();
        let mut out = Outbox::default();
        b.on_msg(0, &mut out, ActorId(9), Msg { call: 77, kind: MsgKind::Request(Req::DEFAULT) });
        let fwd = out.sends[0].1.call;
        let (after, t) = out.timers[0];
        let mut out = Outbox::default();
        b.on_timer(after, &mut out, t);
        assert_eq!(out.sends, vec![(ActorId(9), Msg { call: 77, kind: MsgKind::response(Status::Timeout) })]);
        let mut out = Outbox::default();
        b.on_msg(0, &mut out, ActorId(1), Msg { call: fwd, kind: MsgKind::response(Status::Ok) });
        assert!(out.sends.is_empty());
    }
}
