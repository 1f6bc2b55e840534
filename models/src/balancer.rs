//! A load balancer: a proxy that spreads requests over a service's instances, optionally
//! health-checking them (probes through the network, so partitions count too) and ejecting
//! those that answer with errors (outlier detection: the requests' own answers, so a backend
//! that is up and answers probes but fails its work is caught too).

use faultline_sim::{Nanos, Stream};

use crate::calls::Picker;
use crate::deadlines::Deadlines;
use crate::msg::{ActorId, CallId, Msg, MsgKind, Op, Outbox, Req, Status, Timer};
use crate::outlier::Outliers;
use crate::slab::Slab;
use crate::spec::{HealthCheck, OutlierDetection};

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
    /// Backends ejected by outlier detection (each ejection counted).
    pub ejections: u64,
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
/// The end of a backend's ejection (argument: the backend's index).
const UNEJECT: u8 = 3;

/// The name of a timer tag in a trace, and whether its argument is a key.
pub fn timer_name(tag: u8) -> (&'static str, bool) {
    match tag {
        PROBE_ROUND => ("probe-round", false),
        PROBE_TIMEOUT => ("probe-timeout", true),
        UNEJECT => ("uneject", false),
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
    outliers: Option<Outliers>,
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
            outliers: None,
        }
    }

    /// Turns on outlier detection.
    pub fn with_outliers(mut self, o: Option<OutlierDetection>) -> Balancer {
        self.outliers = o.map(|o| Outliers::new(o, self.picker.backends.len()));
        self
    }

    /// Backends ejected now (0 without outlier detection).
    pub fn ejected(&self) -> usize {
        self.outliers.as_ref().map_or(0, Outliers::ejected)
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
                    if self.outliers.is_some() {
                        self.observe(now, out, f.backend, resp.status == Status::Ok);
                    }
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

    /// Outlier detection: an answer from (or the balancer's timeout of a request to) backend
    /// `b`. Answers to requests sent before the backend was marked down are not counted (their
    /// backend is no longer known). An ejection's end comes as a timer.
    fn observe(&mut self, now: Nanos, out: &mut Outbox, b: u32, ok: bool) {
        let Some(o) = &mut self.outliers else { return };
        if b == UNCOUNTED {
            return;
        }
        if let Some(time) = o.observe(now, b as usize, ok, &mut self.picker) {
            self.stats.ejections += 1;
            self.follow_tier();
            out.timer(time, Timer::Model { tag: UNEJECT, arg: u64::from(b) });
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
                        if self.outliers.is_some() {
                            self.observe(now, out, f.backend, false);
                        }
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
            Timer::Model { tag: UNEJECT, arg } => {
                if let Some(o) = &mut self.outliers
                    && o.end(now, arg as usize, &mut self.picker)
                {
                    self.follow_tier();
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
        if let Some(o) = &mut self.outliers {
            o.reset(&mut self.picker);
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

    fn outlier_lb(n: u32, strategy: Strategy, percent: u32) -> Balancer {
        let picker = Picker::new((1..=n).map(ActorId).collect(), strategy);
        let d = OutlierDetection {
            consecutive_errors: 3,
            base_ejection: 1000,
            max_ejection: 2500,
            max_ejection_percent: percent,
        };
        Balancer::new(picker, 100, None, Stream::new(1, "lb")).with_outliers(Some(d))
    }

    /// Forwards one request at `now` and has its backend answer it with `status`; returns the
    /// backend and the timers set.
    fn exchange(b: &mut Balancer, now: Nanos, status: Status) -> (ActorId, Vec<(Nanos, Timer)>) {
        let mut out = Outbox::default();
        b.on_msg(now, &mut out, ActorId(9), Msg { call: 1, kind: MsgKind::Request(Req::DEFAULT) });
        let (to, m) = out.sends[0];
        let mut out = Outbox::default();
        b.on_msg(now, &mut out, to, Msg { call: m.call, kind: MsgKind::response(status) });
        (to, out.timers)
    }

    /// Sends requests at `now`, each answered at once by its backend (backend 1 with `bad`, the
    /// others `Ok`), until backend 1 is ejected; returns how long for.
    fn until_ejected(b: &mut Balancer, now: Nanos, bad: Status) -> Nanos {
        let before = b.stats.ejections;
        for _ in 0..100 {
            let mut out = Outbox::default();
            b.on_msg(now, &mut out, ActorId(9), Msg { call: 1, kind: MsgKind::Request(Req::DEFAULT) });
            let (to, m) = out.sends[0];
            let status = if to == ActorId(1) { bad } else { Status::Ok };
            let mut out = Outbox::default();
            b.on_msg(now, &mut out, to, Msg { call: m.call, kind: MsgKind::response(status) });
            if b.stats.ejections > before {
                assert!(b.picker.is_ejected(0), "backend 1 is the one ejected");
                assert_eq!(out.timers.len(), 1);
                let (after, t) = out.timers[0];
                assert_eq!(t, Timer::Model { tag: UNEJECT, arg: 0 });
                return after;
            }
        }
        panic!("backend 1 was never ejected");
    }

    #[test]
    fn outlier_detection_ejects_after_consecutive_errors_and_an_ok_resets_the_count() {
        let mut b = outlier_lb(2, Strategy::RoundRobin, 50);
        // Round-robin alternates: backend 1 fails twice, then answers Ok once: no ejection.
        for status in [Status::Error, Status::Error, Status::Ok, Status::Error, Status::Error] {
            let (to, _) = exchange(&mut b, 0, status);
            assert_eq!(to, ActorId(1));
            exchange(&mut b, 0, Status::Ok);
        }
        assert_eq!(b.stats.ejections, 0, "two errors since its last Ok");
        // The third in a row ejects it for the base time, with a timer at its end.
        let (to, timers) = exchange(&mut b, 0, Status::Rejected);
        assert_eq!(to, ActorId(1));
        assert_eq!((b.stats.ejections, b.ejected()), (1, 1));
        assert_eq!(timers, vec![(1000, Timer::Model { tag: UNEJECT, arg: 0 })]);
        assert!(forward(&mut b, 4).iter().all(|&a| a == ActorId(2)), "ejected: no traffic");
        // Not back before its time; back at it.
        b.on_timer(999, &mut Outbox::default(), timers[0].1);
        assert_eq!(b.ejected(), 1);
        b.on_timer(1000, &mut Outbox::default(), timers[0].1);
        assert_eq!(b.ejected(), 0);
        assert!(forward(&mut b, 4).contains(&ActorId(1)));
    }

    #[test]
    fn ejections_in_a_row_last_longer_up_to_the_maximum_and_an_ok_resets_them() {
        let mut b = outlier_lb(2, Strategy::RoundRobin, 50);
        let mut now = 0;
        let mut durations = Vec::new();
        for _ in 0..3 {
            let d = until_ejected(&mut b, now, Status::Error);
            durations.push(d);
            now += d;
            b.on_timer(now, &mut Outbox::default(), Timer::Model { tag: UNEJECT, arg: 0 });
            assert_eq!(b.ejected(), 0);
        }
        assert_eq!(durations, vec![1000, 2000, 2500], "base × ejections in a row, at most the maximum");
        // An Ok after it is back resets the multiplier.
        while exchange(&mut b, now, Status::Ok).0 != ActorId(1) {}
        assert_eq!(until_ejected(&mut b, now, Status::Error), 1000);
    }

    #[test]
    fn at_most_the_percentage_is_ejected_but_always_one_and_the_last_ones_stay_in_panic() {
        // 10% of 4 backends: one at a time.
        let mut b = outlier_lb(4, Strategy::RoundRobin, 10);
        for _ in 0..40 {
            exchange(&mut b, 0, Status::Error);
        }
        assert_eq!((b.stats.ejections, b.ejected()), (1, 1));
        // 100% of 2 backends: both, and then both take traffic again (panic routing).
        let mut b = outlier_lb(2, Strategy::RoundRobin, 100);
        for _ in 0..6 {
            exchange(&mut b, 0, Status::Error);
        }
        assert_eq!(b.ejected(), 2);
        let to = forward(&mut b, 4);
        assert!(to.contains(&ActorId(1)) && to.contains(&ActorId(2)), "every backend ejected: all take traffic");
    }

    #[test]
    fn the_balancers_own_timeouts_count_as_errors_and_answers_while_ejected_do_not() {
        let mut b = outlier_lb(2, Strategy::RoundRobin, 50);
        let mut out = Outbox::default();
        for k in 0..6 {
            b.on_msg(0, &mut out, ActorId(9), Msg { call: k, kind: MsgKind::Request(Req::DEFAULT) });
        }
        // Backend 2 answers its three; backend 1's three time out.
        for (to, m) in out.sends.clone() {
            if to == ActorId(2) {
                b.on_msg(1, &mut Outbox::default(), to, Msg { call: m.call, kind: MsgKind::response(Status::Ok) });
            }
        }
        let mut t_out = Outbox::default();
        b.on_timer(100, &mut t_out, Timer::Deadline(0));
        assert_eq!(b.stats.timeouts, 3);
        assert_eq!((b.stats.ejections, b.ejected()), (1, 1));
        assert!(b.picker.is_ejected(0));
        assert_eq!(t_out.sends.len(), 3, "each caller is told");

        // Answers that arrive while their backend is ejected do not count: an Ok then does not
        // reset its ejections in a row, so the next ejection lasts twice as long.
        let mut b = outlier_lb(2, Strategy::RoundRobin, 50);
        let mut out = Outbox::default();
        for k in 0..8 {
            b.on_msg(0, &mut out, ActorId(9), Msg { call: k, kind: MsgKind::Request(Req::DEFAULT) });
        }
        let to_1: Vec<CallId> = out.sends.iter().filter(|(to, _)| *to == ActorId(1)).map(|(_, m)| m.call).collect();
        let answer = |b: &mut Balancer, call, status| {
            b.on_msg(1, &mut Outbox::default(), ActorId(1), Msg { call, kind: MsgKind::response(status) });
        };
        for &call in &to_1[..3] {
            answer(&mut b, call, Status::Error);
        }
        assert_eq!(b.ejected(), 1);
        answer(&mut b, to_1[3], Status::Ok);
        b.on_timer(1001, &mut Outbox::default(), Timer::Model { tag: UNEJECT, arg: 0 });
        assert_eq!(b.ejected(), 0);
        assert_eq!(until_ejected(&mut b, 1001, Status::Error), 2000);
    }

    #[test]
    fn a_crash_forgets_ejections() {
        let mut b = outlier_lb(2, Strategy::RoundRobin, 50);
        for _ in 0..6 {
            exchange(&mut b, 0, Status::Error);
        }
        assert_eq!(b.ejected(), 1);
        b.crash();
        assert_eq!(b.ejected(), 0);
        assert!(!b.picker.is_ejected(0) && !b.picker.is_ejected(1));
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
