//! Workloads. Open loop: requests arrive on their own schedule whatever the system does (a slow
//! system builds a backlog; the rate can follow phases such as spikes, and a diurnal wave).
//! Closed loop: N users each send a request, wait for its outcome, think, and send the next (a
//! slow system slows its users down). Each request picks a kind from the mix and a key.

use std::borrow::Cow;

use faultline_sim::keys::KeyDist;
use faultline_sim::{Dist, Nanos, Stream};

use crate::calls::{CallResult, Calls, Outcome};
use crate::metrics::{LatencyHist, TimeSeries, Window};
use crate::msg::{Msg, MsgKind, Op, Outbox, Req, Timer};
use crate::spec::{Arrival, Load, MixEntry, RateShape};

#[derive(Clone, Debug)]
pub struct ClientStats {
    pub started: u64,
    pub ok: u64,
    pub failed: u64,
    pub timed_out: u64,
    /// Requests in flight when the client's own node went down.
    pub lost: u64,
    /// Latency of successful requests, first send to final response, retries included, but
    /// not the current window's in `busy` ([`ClientStats::latency`] has them all).
    latency: LatencyHist,
    /// Per-window figures; the same for latencies ([`ClientStats::merge_series_into`]).
    series: TimeSeries,
    busy: Busy,
}

/// Successes of a window past which its latencies go to one 3-digit histogram, added to the
/// overall histogram and to the window's at the window's end, instead of being recorded into
/// both: one record per sample instead of two (about 70 instructions saved), for the price of
/// folding (about 260 k: `add` scans every 3-digit counter). Below it, or in sparse windows, the
/// fold would cost more than it saves.
const BUSY: u64 = 4096;

/// The window of the last outcome, and the latencies of a busy window (see [`BUSY`]).
#[derive(Clone, Debug, Default)]
struct Busy {
    window: usize,
    /// The end of `window` (0 before the first outcome): one comparison per outcome instead of
    /// a division.
    end: Nanos,
    /// The window before `window` was busy: this one's latencies are held from the first.
    hot: bool,
    /// Latencies of `window` in neither the overall histogram nor the window's.
    held: Option<Box<LatencyHist>>,
}

impl ClientStats {
    /// Nothing counted yet, in windows of `window` ns.
    fn new(window: Nanos) -> ClientStats {
        ClientStats {
            started: 0,
            ok: 0,
            failed: 0,
            timed_out: 0,
            lost: 0,
            latency: LatencyHist::default(),
            series: TimeSeries::new(window),
            busy: Busy::default(),
        }
    }

    /// Latency of successful requests, first send to final response, retries included (a copy
    /// when a busy window's latencies are held).
    pub fn latency(&self) -> Cow<'_, LatencyHist> {
        match &self.busy.held {
            None => Cow::Borrowed(&self.latency),
            Some(h) => {
                let mut all = self.latency.clone();
                all.merge(h);
                Cow::Owned(all)
            }
        }
    }

    /// Adds the per-window figures to `into` (same window length), window by window.
    pub fn merge_series_into(&self, into: &mut TimeSeries) {
        into.merge(&self.series);
        if let Some(h) = &self.busy.held {
            into.at(self.busy.window as Nanos * into.window).add_latency(h);
        }
    }

    /// The window of `now` (at or after the last outcome's time).
    #[inline]
    fn window(&mut self, now: Nanos) -> &mut Window {
        if now >= self.busy.end {
            self.next_window(now);
        }
        &mut self.series.windows[self.busy.window]
    }

    /// Moves on to the window of `now`, folding the last one's held latencies in.
    #[inline(never)]
    fn next_window(&mut self, now: Nanos) {
        let step = self.series.window;
        let i = (now / step) as usize;
        if i == self.busy.window && !self.series.windows.is_empty() {
            return; // `end` saturated
        }
        let last = self.busy.window;
        if let Some(h) = self.busy.held.take() {
            self.latency.merge(&h);
            self.series.windows[last].add_latency(&h);
        }
        self.busy.hot = i == last + 1 && self.series.windows.get(last).is_some_and(|w| w.ok >= BUSY);
        self.busy.window = i;
        self.busy.end = (i as Nanos).saturating_add(1).saturating_mul(step);
        self.series.at(now);
    }

    #[inline]
    fn record_ok(&mut self, now: Nanos, latency: Nanos) {
        self.ok += 1;
        let hot = self.busy.hot;
        let w = self.window(now);
        w.ok += 1;
        if hot || w.ok > BUSY {
            self.busy.held.get_or_insert_with(Default::default).record(latency);
        } else {
            w.record_latency(latency);
            self.latency.record(latency);
        }
    }
}

/// The random streams of a workload (named so that each purpose draws on its own).
#[derive(Debug)]
pub struct ClientStreams {
    pub arrivals: Stream,
    pub keys: Stream,
    pub mix: Stream,
}

/// Timer tag of a closed-loop user's next request (`arg` = user index).
const USER: u8 = 1;

/// The name of a timer tag in a trace, and whether its argument is a key.
pub fn timer_name(tag: u8) -> (&'static str, bool) {
    (if tag == USER { "user-next" } else { "timer" }, false)
}

#[derive(Debug)]
pub struct Client {
    load: Load,
    start: Nanos,
    stop: Nanos,
    keys: KeyDist,
    mix: Vec<MixEntry>,
    mix_total: f64,
    pub calls: Calls,
    rng: ClientStreams,
    pub stats: ClientStats,
}

impl Client {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        load: Load,
        start: Nanos,
        stop: Nanos,
        keys: KeyDist,
        mix: Vec<MixEntry>,
        calls: Calls,
        rng: ClientStreams,
        window: Nanos,
    ) -> Client {
        let stats = ClientStats::new(window);
        let mix_total = mix.iter().map(|m| m.weight).sum();
        Client { load, start, stop, keys, mix, mix_total, calls, rng, stats }
    }

    /// Time from `now` to the next open-loop arrival after `from` (≥ now), or `None` past the
    /// stop time.
    fn next_arrival(&mut self, now: Nanos, from: Nanos) -> Option<Nanos> {
        let Load::Open { arrival, shape } = &self.load else { return None };
        let mut t = from;
        loop {
            let (base, poisson) = match *arrival {
                Arrival::Poisson { rate_per_s } => (rate_per_s, true),
                Arrival::Constant { rate_per_s } => (rate_per_s, false),
            };
            if !poisson {
                // Evenly spaced at the rate in force now.
                let r = base * shape.factor(t);
                if r <= 0.0 {
                    t = shape.next_change(t)?.max(t + 1);
                    if t >= self.stop {
                        return None;
                    }
                    continue;
                }
                let gap = ((1e9 / r) as Nanos).max(1);
                let at = t.saturating_add(gap);
                return (at < self.stop).then_some(at - now);
            }
            // Thinning (Lewis & Shedler): candidates at a peak rate, each kept with probability
            // rate(t)/peak. Two draws per candidate. The peak holds between phase boundaries
            // only (the phases in force × the diurnal crest): a candidate past the next
            // boundary is dropped and drawing starts again there, which is exact since the
            // gaps are memoryless. So a phase changes nothing before it starts (a peak over
            // the whole run would thin every earlier candidate differently).
            let (factor, end) = shape.stretch(t);
            let peak = base * factor;
            if peak <= 0.0 {
                // A pause: nothing arrives until the next boundary.
                if end >= self.stop {
                    return None;
                }
                t = end;
                continue;
            }
            let gap = Dist::Exponential { mean: 1e9 / peak }.sample(&mut self.rng.arrivals).max(1);
            let next = t.saturating_add(gap);
            if next >= end {
                if end >= self.stop {
                    return None;
                }
                t = end;
                continue;
            }
            t = next;
            if t >= self.stop {
                return None;
            }
            if self.rng.arrivals.f64() * peak < base * shape.factor(t) {
                return Some(t - now);
            }
        }
    }

    /// Schedules the first arrivals (also after a restart).
    pub fn boot(&mut self, now: Nanos, out: &mut Outbox) {
        match &self.load {
            Load::Open { .. } => {
                // The first arrival comes one gap after the start (or the restart).
                if let Some(g) = self.next_arrival(now, self.start.max(now)) {
                    out.timer(g, Timer::Arrival);
                }
            }
            Load::Closed { users, think } => {
                let (users, think) = (*users, think.clone());
                let at = self.start.max(now);
                for u in 0..users {
                    let t = (at - now).saturating_add(think.sample(&mut self.rng.arrivals));
                    out.timer(t, Timer::Model { tag: USER, arg: u64::from(u) });
                }
            }
        }
    }

    fn send(&mut self, now: Nanos, out: &mut Outbox, token: u64) {
        // `started` is never reset (not even by a crash), so sequential keys never repeat.
        let key = self.keys.sample_nth(self.stats.started, &mut self.rng.keys);
        self.stats.started += 1;
        let (class, op) = if self.mix.len() <= 1 {
            self.mix.first().map_or((0, Op::Read), |m| (m.class, m.op))
        } else {
            let mut x = self.rng.mix.f64() * self.mix_total;
            let mut pick = self.mix[self.mix.len() - 1];
            for m in &self.mix {
                if x < m.weight {
                    pick = *m;
                    break;
                }
                x -= m.weight;
            }
            (pick.class, pick.op)
        };
        if let Some(o) = self.calls.start(now, out, 0, token, Req::new(class, op, key)) {
            self.record(now, out, o);
        }
    }

    pub fn on_timer(&mut self, now: Nanos, out: &mut Outbox, t: Timer) {
        match t {
            Timer::Arrival => {
                if now < self.stop {
                    self.send(now, out, 0);
                    if let Some(g) = self.next_arrival(now, now) {
                        out.timer(g, Timer::Arrival);
                    }
                }
            }
            Timer::Model { tag: USER, arg } => {
                if now < self.stop {
                    self.send(now, out, arg);
                }
            }
            _ => {
                if let Some(o) = self.calls.on_timer(now, out, t) {
                    self.record(now, out, o);
                }
                while let Some(o) = self.calls.pop_ready() {
                    self.record(now, out, o);
                }
            }
        }
    }

    pub fn on_msg(&mut self, now: Nanos, out: &mut Outbox, msg: Msg) {
        if let MsgKind::Response(resp) = msg.kind
            && let Some(o) = self.calls.on_response(now, out, msg.call, resp)
        {
            self.record(now, out, o);
        }
    }

    fn record(&mut self, now: Nanos, out: &mut Outbox, o: Outcome) {
        match o.result {
            CallResult::Ok => self.stats.record_ok(now, now - o.started),
            CallResult::Failed(_) => {
                self.stats.failed += 1;
                self.stats.window(now).failed += 1;
            }
            CallResult::TimedOut => {
                self.stats.timed_out += 1;
                self.stats.window(now).timed_out += 1;
            }
        }
        if let Load::Closed { think, .. } = &self.load {
            let t = think.sample(&mut self.rng.arrivals);
            out.timer(t, Timer::Model { tag: USER, arg: o.token });
        }
    }

    /// The clients' own node went down: requests in flight are lost (counted as failed).
    pub fn crash(&mut self, now: Nanos) {
        let n = self.calls.in_flight() as u64;
        self.stats.lost += n;
        self.stats.failed += n;
        self.stats.window(now).failed += n;
        self.calls.crash();
    }
}

impl RateShape {
    /// Rate multiplier at time `t`: the product of the phases in force times the diurnal wave.
    pub fn factor(&self, t: Nanos) -> f64 {
        let mut f: f64 = self.phases.iter().filter(|p| p.start <= t && t < p.end).map(|p| p.multiplier).product();
        if let Some(d) = &self.diurnal {
            let phase = (t % d.period) as f64 / d.period as f64;
            f *= 1.0 + d.amplitude * libm::sin(std::f64::consts::TAU * phase);
        }
        f.max(0.0)
    }

    /// An upper bound of [`RateShape::factor`] from `t` to the next phase boundary, and that
    /// boundary (`Nanos::MAX`: the bound holds from `t` on).
    #[inline]
    pub fn stretch(&self, t: Nanos) -> (f64, Nanos) {
        let crest = self.diurnal.as_ref().map_or(1.0, |d| 1.0 + d.amplitude.abs());
        if self.phases.is_empty() {
            return (crest, Nanos::MAX);
        }
        let in_force: f64 = self.phases.iter().filter(|p| p.start <= t && t < p.end).map(|p| p.multiplier).product();
        (in_force.max(0.0) * crest, self.next_change(t).unwrap_or(Nanos::MAX))
    }

    /// An upper bound of [`RateShape::factor`] over all time.
    pub fn peak_factor(&self) -> f64 {
        // Worst case: every phase with a multiplier above 1 overlapping.
        let phases: f64 = self.phases.iter().map(|p| p.multiplier.max(1.0)).product();
        phases * self.diurnal.as_ref().map_or(1.0, |d| 1.0 + d.amplitude.abs())
    }

    /// The next phase boundary after `t` (for constant arrivals at a zero rate).
    pub fn next_change(&self, t: Nanos) -> Option<Nanos> {
        self.phases.iter().flat_map(|p| [p.start, p.end]).filter(|&b| b > t).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The held latencies of busy windows give the same figures as recording every latency into
    /// both histograms, read mid-window or at a window's end.
    #[test]
    fn held_latencies_give_the_figures_of_recording_each_one() {
        let step = 1_000_000_000;
        let mut stats = ClientStats::new(step);
        let (mut all, mut series) = (LatencyHist::default(), TimeSeries::new(step));
        // Busy past `BUSY`, hot, sparse after a busy one, a gap, busy again, hot and cut short.
        let counts = [3 * BUSY, 2 * BUSY, 10, 0, 0, BUSY + 5, BUSY / 2];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for (i, &n) in counts.iter().enumerate() {
            for j in 0..n {
                let now = i as Nanos * step + j * (step / n);
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let l = x >> (20 + x % 32);
                stats.record_ok(now, l);
                all.record(l);
                let w = series.at(now);
                w.ok += 1;
                w.record_latency(l);
                if j == n / 2 {
                    assert_same(&stats, &all, &series);
                }
            }
            assert_same(&stats, &all, &series);
        }
        assert!(stats.busy.held.is_some());
    }

    fn assert_same(stats: &ClientStats, all: &LatencyHist, series: &TimeSeries) {
        let latency = stats.latency();
        assert_eq!(latency.buckets(), all.buckets());
        assert_eq!((latency.count(), latency.max_ns()), (all.count(), all.max_ns()));
        assert_eq!(latency.mean_ns().to_bits(), all.mean_ns().to_bits());
        let mut got = TimeSeries::new(series.window);
        stats.merge_series_into(&mut got);
        assert_eq!(got.windows.len(), series.windows.len());
        for (a, b) in got.windows.iter().zip(&series.windows) {
            assert_eq!((a.ok, a.has_latency()), (b.ok, b.has_latency()));
            for q in 0..=100 {
                assert_eq!(a.quantile_ns(f64::from(q) / 100.0), b.quantile_ns(f64::from(q) / 100.0));
            }
        }
    }
}
