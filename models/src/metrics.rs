//! Measurement: HDR latency histograms, time-weighted averages, and per-window time series.

use faultline_sim::Nanos;
use hdrhistogram::{Counter, Histogram};

/// Latencies in nanoseconds, recorded with 3 significant digits from 1 µs to 1 hour
/// (values outside are clamped into that range).
///
/// Counters are `u32` until the histogram holds `u32::MAX` samples, then `u64`: a run's
/// histograms are recorded at every request, and at half the width the client's (a 3-digit
/// histogram: 24 576 counters, 96 KiB as `u32` instead of 192 KiB) misses the cache less — the
/// M/M/4 benchmark runs 1–4% faster (docs/performance.md). Below that count no bucket can
/// saturate, and widening copies the counts exactly, so the figures are the same as with `u64`
/// counters throughout.
#[derive(Clone, Debug)]
pub struct LatencyHist {
    h: Counts,
}

#[derive(Clone, Debug)]
enum Counts {
    Narrow(Histogram<u32>),
    Wide(Histogram<u64>),
}

const LOW_NS: u64 = 1_000;
const HIGH_NS: u64 = 3_600_000_000_000;

/// Samples a narrow histogram may hold: below it, every bucket is below `u32::MAX`, so
/// recording one more cannot saturate it.
const NARROW_LIMIT: u64 = u32::MAX as u64;

/// Applies the same expression to whichever histogram `$counts` holds.
macro_rules! each {
    ($counts:expr, $h:ident => $e:expr) => {
        match $counts {
            Counts::Narrow($h) => $e,
            Counts::Wide($h) => $e,
        }
    };
}

impl Default for LatencyHist {
    fn default() -> Self {
        LatencyHist::with_digits(3)
    }
}

/// The same samples with `u64` counters (exact: same bucket layout, recorded at each bucket's
/// highest equivalent value, which lands in the same bucket).
fn widen(h: &Histogram<u32>) -> Histogram<u64> {
    let mut w = Histogram::new_from(h);
    for v in h.iter_recorded() {
        w.saturating_record_n(v.value_iterated_to(), u64::from(v.count_at_value()));
    }
    w
}

impl LatencyHist {
    fn with_digits(digits: u8) -> LatencyHist {
        LatencyHist { h: Counts::Narrow(Histogram::new_with_bounds(LOW_NS, HIGH_NS, digits).expect("valid bounds")) }
    }

    /// Two significant digits (quantiles within 1%): for per-instance figures. A three-digit
    /// histogram is 96–192 KiB of counters, a two-digit one 13.5–27 KiB; with a three-digit one
    /// per service instance, recording a request at every hop missed the cache often enough to
    /// cost a tenth of a run's time.
    pub fn coarse() -> LatencyHist {
        LatencyHist::with_digits(2)
    }

    #[inline]
    pub fn record(&mut self, ns: Nanos) {
        let v = ns.clamp(LOW_NS, HIGH_NS);
        match &mut self.h {
            Counts::Narrow(h) if h.len() < NARROW_LIMIT => h.saturating_record(v),
            _ => self.wide_mut().saturating_record(v),
        }
    }

    /// The histogram with `u64` counters, widened first if need be.
    #[cold]
    fn wide_mut(&mut self) -> &mut Histogram<u64> {
        if let Counts::Narrow(h) = &self.h {
            self.h = Counts::Wide(widen(h));
        }
        match &mut self.h {
            Counts::Wide(h) => h,
            Counts::Narrow(_) => unreachable!("just widened"),
        }
    }

    pub fn count(&self) -> u64 {
        each!(&self.h, h => h.len())
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    pub fn mean_ns(&self) -> f64 {
        each!(&self.h, h => if h.is_empty() { 0.0 } else { h.mean() })
    }

    pub fn quantile_ns(&self, q: f64) -> u64 {
        each!(&self.h, h => if h.is_empty() { 0 } else { h.value_at_quantile(q) })
    }

    pub fn max_ns(&self) -> u64 {
        each!(&self.h, h => if h.is_empty() { 0 } else { h.max() })
    }

    /// The lowest value of the lowest non-empty bucket (`u64::MAX` when empty).
    fn min_nz(&self) -> u64 {
        each!(&self.h, h => h.min_nz())
    }

    /// Samples in the buckets from `low`'s to `high`'s, both included.
    fn count_between(&self, low: u64, high: u64) -> u64 {
        each!(&self.h, h => h.count_between(low, high))
    }

    /// Whether its counters are still `u32` (see the type's docs).
    #[cfg(test)]
    fn is_narrow(&self) -> bool {
        matches!(self.h, Counts::Narrow(_))
    }

    /// Adds another histogram's counts (exact: same bucket layout).
    pub fn merge(&mut self, other: &LatencyHist) {
        match (&mut self.h, &other.h) {
            (Counts::Narrow(a), Counts::Narrow(b)) if a.len() + b.len() < NARROW_LIMIT => {
                a.add(b).expect("same bounds")
            }
            (_, Counts::Wide(b)) => self.wide_mut().add(b).expect("same bounds"),
            (_, Counts::Narrow(b)) => self.wide_mut().add(widen(b)).expect("same bounds"),
        }
    }

    /// A copy with `u64` counters, for analyses that need the histogram itself.
    pub fn to_wide(&self) -> Histogram<u64> {
        match &self.h {
            Counts::Narrow(h) => widen(h),
            Counts::Wide(h) => h.clone(),
        }
    }

    /// The non-empty buckets as `(value, count)`: recording them back gives the same histogram,
    /// so histograms travel through JSON and merge exactly.
    pub fn buckets(&self) -> Vec<(u64, u64)> {
        each!(&self.h, h => h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value().as_u64())).collect())
    }

    /// A 3-digit histogram of these buckets (`u64` counters when they hold `u32::MAX` samples or
    /// more).
    pub fn from_buckets(buckets: &[(u64, u64)]) -> LatencyHist {
        let mut h = LatencyHist::default();
        if buckets.iter().map(|&(_, n)| n).fold(0u64, u64::saturating_add) >= NARROW_LIMIT {
            h.wide_mut();
        }
        for &(v, n) in buckets {
            let v = v.clamp(LOW_NS, HIGH_NS);
            match &mut h.h {
                Counts::Narrow(w) => w.saturating_record_n(v, n as u32),
                Counts::Wide(w) => w.saturating_record_n(v, n),
            }
        }
        h
    }
}

/// The time-average of a piecewise-constant quantity (queue length, busy workers) over
/// `[0, horizon]`. A fixed horizon (the scenario's duration, not the drain after it) keeps the
/// figure independent of how long other components take to finish. The area goes on past the
/// horizon ([`TimeAverage::area`]), so that per-window figures cover the drain too.
///
/// The area under the curve is an exact integer (value × ns, at most 2^64 · 2^64): no rounding
/// accumulates over millions of changes, and an update is one integer multiply instead of two
/// `u64` → `f64` conversions (it runs at every change of every service's queue).
#[derive(Clone, Copy, Debug)]
pub struct TimeAverage {
    /// Up to `last_t`.
    area: u128,
    /// Up to the horizon, once `last_t` is past it.
    at_horizon: u128,
    last_t: Nanos,
    value: u64,
    horizon: Nanos,
    /// The horizon until a change passes it, then `Nanos::MAX`: one comparison per change.
    watch: Nanos,
}

impl Default for TimeAverage {
    fn default() -> Self {
        TimeAverage::with_horizon(Nanos::MAX)
    }
}

impl TimeAverage {
    pub fn with_horizon(horizon: Nanos) -> TimeAverage {
        TimeAverage { area: 0, at_horizon: 0, last_t: 0, value: 0, horizon, watch: horizon }
    }

    /// The quantity changed to `value` at time `now`.
    #[inline]
    pub fn set(&mut self, now: Nanos, value: u64) {
        let gained = u128::from(self.value) * u128::from(now - self.last_t);
        if now > self.watch {
            self.at_horizon = self.area + u128::from(self.value) * u128::from(self.horizon - self.last_t);
            self.watch = Nanos::MAX;
        }
        self.area += gained;
        self.last_t = now;
        self.value = value;
    }

    /// [`TimeAverage::set`], skipped when the value is unchanged: exact, as the area up to
    /// `now` is added at the next change. For a gauge that mostly stays put (a queue's length,
    /// 0 while workers are free); on one that changes at every call the test costs more.
    #[inline]
    pub fn change(&mut self, now: Nanos, value: u64) {
        if value != self.value {
            self.set(now, value);
        }
    }

    /// The end of the time it averages over.
    pub fn horizon(&self) -> Nanos {
        self.horizon
    }

    /// Average over `[0, min(now, horizon)]` (`now` at or after the last change).
    pub fn average(&self, now: Nanos) -> f64 {
        let end = now.min(self.horizon);
        if end == 0 {
            return 0.0;
        }
        let area = if self.last_t <= end {
            self.area + u128::from(self.value) * u128::from(end - self.last_t)
        } else {
            self.at_horizon
        };
        area as f64 / end as f64
    }

    /// The area under the curve over `[0, now]`, horizon or not (`now` at or after the last
    /// change).
    pub fn area(&self, now: Nanos) -> u128 {
        self.area + u128::from(self.value) * u128::from(now.saturating_sub(self.last_t))
    }
}

/// Per-window request figures, for plots and the TUI.
#[derive(Clone, Debug, Default)]
pub struct Window {
    pub ok: u64,
    pub failed: u64,
    pub timed_out: u64,
    /// Latency of the window's successful requests; allocated at the first one (empty windows,
    /// e.g. during an outage or with tiny windows, cost nothing).
    latency: Option<Box<Histogram<u32>>>,
}

impl Window {
    #[inline]
    pub fn record_latency(&mut self, ns: Nanos) {
        // Two significant digits keep a window small (~12 KB) while p99 stays within 1%.
        let h = self
            .latency
            .get_or_insert_with(|| Box::new(Histogram::new_with_bounds(LOW_NS, HIGH_NS, 2).expect("valid")));
        h.saturating_record(ns.clamp(LOW_NS, HIGH_NS));
    }

    /// Whether the window had a successful request, hence latencies.
    pub fn has_latency(&self) -> bool {
        self.latency.as_ref().is_some_and(|h| !h.is_empty())
    }

    /// Latency quantile in ns (0 when the window had no successful request).
    pub fn quantile_ns(&self, q: f64) -> u64 {
        self.latency.as_ref().filter(|h| !h.is_empty()).map_or(0, |h| h.value_at_quantile(q))
    }

    /// Adds the samples of a 3-digit histogram: the same counts as recording them one by one,
    /// as each 3-digit bucket lies within one 2-digit bucket (both start from the same lowest
    /// value and split it in powers of two). Walks the 2-digit buckets from the lowest sample to
    /// the highest, summing the 3-digit ones in each: cheaper than iterating the 3-digit
    /// histogram (`iter_recorded` costs tens of instructions per counter).
    pub fn add_latency(&mut self, h: &LatencyHist) {
        if h.is_empty() {
            return;
        }
        let w = self
            .latency
            .get_or_insert_with(|| Box::new(Histogram::new_with_bounds(LOW_NS, HIGH_NS, 2).expect("valid")));
        let (mut v, top) = (w.lowest_equivalent(h.min_nz()), h.max_ns());
        while v <= top {
            let high = w.highest_equivalent(v);
            let mut n = h.count_between(v, high);
            // `u32` counts: in steps, saturating the bucket and adding up the total as recording
            // one by one would.
            while n > 0 {
                let k = n.min(u64::from(u32::MAX));
                w.saturating_record_n(v, k as u32);
                n -= k;
            }
            v = high + 1;
        }
    }

    fn merge_latency(&mut self, other: &Window) {
        if let Some(o) = &other.latency {
            match &mut self.latency {
                Some(h) => h.add(o.as_ref()).expect("same bounds"),
                None => self.latency = Some(o.clone()),
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct TimeSeries {
    pub window: Nanos,
    pub windows: Vec<Window>,
}

impl TimeSeries {
    pub fn new(window: Nanos) -> TimeSeries {
        TimeSeries { window: window.max(1), windows: Vec::new() }
    }

    #[inline]
    pub fn at(&mut self, now: Nanos) -> &mut Window {
        let i = (now / self.window) as usize;
        if i >= self.windows.len() {
            self.windows.resize_with(i + 1, Window::default);
        }
        &mut self.windows[i]
    }

    /// Adds another series window by window (same window length).
    pub fn merge(&mut self, other: &TimeSeries) {
        for (i, w) in other.windows.iter().enumerate() {
            let mine = self.at(i as Nanos * self.window);
            mine.ok += w.ok;
            mine.failed += w.failed;
            mine.timed_out += w.timed_out;
            mine.merge_latency(w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_average_weights_by_duration() {
        let mut a = TimeAverage::default();
        a.set(0, 2);
        a.set(10, 4);
        // 2 for 10 ns, 4 for 30 ns → (20 + 120) / 40 = 3.5
        assert!((a.average(40) - 3.5).abs() < 1e-12);
        let mut h = TimeAverage::with_horizon(20);
        h.set(0, 2);
        h.set(10, 4);
        h.set(30, 100);
        // Only [0, 20] counts: (20 + 40) / 20 = 3
        assert!((h.average(50) - 3.0).abs() < 1e-12);
        assert!((h.average(20) - 3.0).abs() < 1e-12);
        // The area goes on past the horizon: 20 + 80 to 30, then 100 per ns.
        assert_eq!((h.area(30), h.area(50)), (100, 2100));
        // Crossing the horizon exactly at a change, or with no change before it.
        let mut e = TimeAverage::with_horizon(20);
        e.set(20, 5);
        e.set(25, 1);
        assert_eq!((e.average(100), e.area(25)), (0.0, 25));
        let mut f = TimeAverage::with_horizon(20);
        f.set(5, 3);
        f.set(40, 0);
        assert!((f.average(40) - 45.0 / 20.0).abs() < 1e-12);
        assert_eq!(f.area(40), 105);
    }

    /// `change` skips repeated values and still gives `set`'s figures, across the horizon too.
    #[test]
    fn a_change_that_repeats_the_value_is_skipped_exactly() {
        let steps = [(0, 0), (3, 0), (7, 2), (9, 2), (15, 2), (18, 5), (22, 5), (30, 0), (41, 0), (47, 1)];
        let (mut every, mut changes) = (TimeAverage::with_horizon(20), TimeAverage::with_horizon(20));
        for &(t, v) in &steps {
            every.set(t, v);
            changes.change(t, v);
            for now in [t, t + 1, 60] {
                assert_eq!(changes.area(now), every.area(now), "at {now}");
                assert_eq!(changes.average(now).to_bits(), every.average(now).to_bits(), "at {now}");
            }
        }
    }

    #[test]
    fn buckets_round_trip_exactly() {
        let mut h = LatencyHist::default();
        for i in 1..=5000u64 {
            h.record(i * i * 997);
        }
        let back = LatencyHist::from_buckets(&h.buckets());
        assert_eq!(back.to_wide(), h.to_wide());
        assert_eq!(back.quantile_ns(0.999), h.quantile_ns(0.999));
    }

    #[test]
    fn histogram_sizes_are_the_documented_ones() {
        // 24 576 counters (96 KiB as u32) for 3 digits, 3 456 (13.5 KiB) for 2: see the docs above.
        assert_eq!(LatencyHist::default().to_wide().distinct_values(), 24_576);
        assert_eq!(LatencyHist::coarse().to_wide().distinct_values(), 3_456);
    }

    #[test]
    fn narrow_counters_widen_before_any_bucket_saturates() {
        // One bucket one sample short of u32::MAX: still narrow, and the next sample fits.
        let v = 5_000_000;
        let mut h = LatencyHist::from_buckets(&[(v, u64::from(u32::MAX) - 1)]);
        assert!(h.is_narrow());
        h.record(v);
        assert!(h.is_narrow());
        assert_eq!(h.to_wide().count_at(v), u64::from(u32::MAX));
        // The next one widens first: counted exactly, past what a u32 holds.
        h.record(v);
        assert!(!h.is_narrow());
        assert_eq!(h.count(), 1 << 32);
        assert_eq!(h.to_wide().count_at(v), 1 << 32);
        assert_eq!(h.quantile_ns(0.5), LatencyHist::from_buckets(&[(v, 1)]).quantile_ns(0.5));
    }

    #[test]
    fn merging_past_u32_counts_widens_and_stays_exact() {
        let (a_v, b_v) = (2_000_000, 90_000_000);
        let a = LatencyHist::from_buckets(&[(a_v, 3_000_000_000), (b_v, 7)]);
        let b = LatencyHist::from_buckets(&[(a_v, 3_000_000_000)]);
        assert!(a.is_narrow() && b.is_narrow());
        let mut m = a.clone();
        m.merge(&b);
        assert!(!m.is_narrow());
        assert_eq!(m.count(), 6_000_000_007);
        assert_eq!(m.to_wide().count_at(a_v), 6_000_000_000);
        assert_eq!(m.max_ns(), a.max_ns());
        // A narrow sum stays narrow, and equals the wide one's figures.
        let small = LatencyHist::from_buckets(&[(a_v, 10), (b_v, 30)]);
        let mut n = small.clone();
        n.merge(&small);
        assert!(n.is_narrow());
        let mut w = LatencyHist::from_buckets(&[(a_v, u64::from(u32::MAX))]);
        assert!(!w.is_narrow());
        w.merge(&small);
        assert_eq!(w.count(), u64::from(u32::MAX) + 40);
        assert_eq!(w.max_ns(), n.max_ns());
        assert_eq!(w.to_wide().count_at(b_v), 30);
    }

    #[test]
    fn a_window_adds_three_digit_buckets_as_the_samples_themselves() {
        // Values across the whole range, the clamped ends included.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut values = vec![0, 1, 999, 1_000, 1_001, HIGH_NS - 1, HIGH_NS, HIGH_NS + 1, u64::MAX];
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x >> (x % 64));
        }
        let (mut one_by_one, mut three) = (Window::default(), LatencyHist::default());
        for &v in &values {
            one_by_one.record_latency(v);
            three.record(v);
        }
        let mut added = Window::default();
        added.add_latency(&three);
        let (a, b) = (one_by_one.latency.unwrap(), added.latency.unwrap());
        assert_eq!(a.len(), b.len());
        assert_eq!(
            a.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect::<Vec<_>>(),
            b.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect::<Vec<_>>()
        );
        assert_eq!((a.max(), a.min_nz()), (b.max(), b.min_nz()));
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(a.value_at_quantile(q), b.value_at_quantile(q));
        }
    }

    #[test]
    fn histogram_quantiles_are_within_precision() {
        let mut h = LatencyHist::default();
        for i in 1..=1000u64 {
            h.record(i * 1_000_000);
        }
        let p99 = h.quantile_ns(0.99) as f64;
        assert!((p99 / 990e6 - 1.0).abs() < 0.002, "{p99}");
        assert_eq!(h.count(), 1000);
    }
}
