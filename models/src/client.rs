//! An open-loop workload: requests arrive on their own schedule, whatever the system does
//! (so a slow system builds a backlog instead of slowing its users down).

use faultline_sim::{Dist, Nanos, Stream};

use crate::calls::{CallResult, Calls, Outcome};
use crate::metrics::{LatencyHist, TimeSeries};
use crate::msg::{Msg, MsgKind, Outbox, Req, Timer};
use crate::spec::Arrival;

#[derive(Clone, Debug)]
pub struct ClientStats {
    pub started: u64,
    pub ok: u64,
    pub failed: u64,
    pub timed_out: u64,
    /// Requests in flight when the client's own node went down.
    pub lost: u64,
    /// Latency of successful requests, first send to final response, retries included.
    pub latency: LatencyHist,
    pub series: TimeSeries,
}

#[derive(Debug)]
pub struct Client {
    arrival: Arrival,
    start: Nanos,
    stop: Nanos,
    pub calls: Calls,
    rng: Stream,
    pub stats: ClientStats,
}

impl Client {
    pub fn new(arrival: Arrival, start: Nanos, stop: Nanos, calls: Calls, rng: Stream, window: Nanos) -> Client {
        let stats = ClientStats {
            started: 0,
            ok: 0,
            failed: 0,
            timed_out: 0,
            lost: 0,
            latency: LatencyHist::default(),
            series: TimeSeries::new(window),
        };
        Client { arrival, start, stop, calls, rng, stats }
    }

    fn gap(&mut self) -> Nanos {
        match self.arrival {
            Arrival::Poisson { rate_per_s } => Dist::Exponential { mean: 1e9 / rate_per_s }.sample(&mut self.rng),
            Arrival::Constant { rate_per_s } => (1e9 / rate_per_s) as Nanos,
        }
        .max(1)
    }

    /// Schedules the first arrival (also after a restart).
    pub fn boot(&mut self, now: Nanos, out: &mut Outbox) {
        if now < self.start {
            out.timer(self.start - now, Timer::Arrival);
        } else if now < self.stop {
            let g = self.gap();
            out.timer(g, Timer::Arrival);
        }
    }

    pub fn on_timer(&mut self, now: Nanos, out: &mut Outbox, t: Timer) {
        if t == Timer::Arrival {
            if now < self.stop {
                self.stats.started += 1;
                let token = self.stats.started;
                if let Some(o) = self.calls.start(now, out, 0, token, Req::DEFAULT) {
                    self.record(now, o);
                }
                let g = self.gap();
                if now + g < self.stop {
                    out.timer(g, Timer::Arrival);
                }
            }
        } else if let Some(o) = self.calls.on_timer(now, out, t) {
            self.record(now, o);
        }
    }

    pub fn on_msg(&mut self, now: Nanos, out: &mut Outbox, msg: Msg) {
        if let MsgKind::Response(resp) = msg.kind
            && let Some(o) = self.calls.on_response(now, out, msg.call, resp)
        {
            self.record(now, o);
        }
    }

    fn record(&mut self, now: Nanos, o: Outcome) {
        let w = self.stats.series.at(now);
        match o.result {
            CallResult::Ok => {
                let l = now - o.started;
                self.stats.ok += 1;
                self.stats.latency.record(l);
                w.ok += 1;
                let _ = w.latency.record(l.clamp(1_000, 3_600_000_000_000));
            }
            CallResult::Failed(_) => {
                self.stats.failed += 1;
                w.failed += 1;
            }
            CallResult::TimedOut => {
                self.stats.timed_out += 1;
                w.timed_out += 1;
            }
        }
    }

    /// The clients' own node went down: requests in flight are lost (counted as failed).
    pub fn crash(&mut self, now: Nanos) {
        let n = self.calls.in_flight() as u64;
        self.stats.lost += n;
        self.stats.failed += n;
        self.stats.series.at(now).failed += n;
        self.calls.crash();
    }
}
