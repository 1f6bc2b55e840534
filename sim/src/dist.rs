//! Sampling distributions for durations (service times, link latency, backoff, think time).
//!
//! All parameters are in nanoseconds. Samples are non-negative integers of nanoseconds, capped at
//! [`MAX_SAMPLE_NS`] so that a heavy tail can never overflow the clock. Transcendental functions
//! come from `libm` (pure Rust) so results are identical on every platform. Exponential and
//! normal samples come from the ziggurat ([`crate::ziggurat`]): how many draws a sample takes
//! depends on the draws, never on the parameters, so variants that change a mean stay paired
//! draw for draw; log-normal samples ([`crate::lognormal`]: a tabulated inverse CDF) and the
//! other kinds take a fixed number.

pub use crate::lognormal::LogNormal;
use crate::rng::Stream;
use crate::time::Nanos;

/// No single sampled duration exceeds one simulated day.
pub const MAX_SAMPLE_NS: f64 = 86_400.0e9;

#[derive(Clone, Debug, PartialEq)]
pub enum Dist {
    /// Always the same value.
    Constant { value: f64 },
    /// Uniform in `[low, high]`.
    Uniform { low: f64, high: f64 },
    /// Exponential with the given mean (memoryless; service times of M/M/c, Poisson gaps).
    Exponential { mean: f64 },
    /// Normal, truncated at 0 by clamping.
    Normal { mean: f64, std_dev: f64 },
    /// Log-normal: `exp(mu + sigma * Z)`, so `exp(mu)` is the median ([`LogNormal::new`]).
    LogNormal(LogNormal),
    /// Pareto (type I): `scale * U^(-1/shape)`; heavy-tailed for small `shape`.
    Pareto { scale: f64, shape: f64 },
    /// Piecewise-linear inverse CDF through `(quantile, value)` points, quantiles ascending from
    /// 0 to 1 (e.g. measured p0/p50/p90/p99/p100 latencies).
    Empirical { points: Vec<(f64, f64)> },
}

/// z-score of the 99th percentile of the standard normal distribution.
pub const Z99: f64 = 2.326_347_874_040_841;

impl Dist {
    pub fn constant_ns(ns: Nanos) -> Dist {
        Dist::Constant { value: ns as f64 }
    }

    /// A log-normal with the given median and 99th percentile (both ns): the natural way to
    /// describe a measured latency.
    pub fn lognormal_from_p50_p99(p50: f64, p99: f64) -> Dist {
        let mu = libm::log(p50);
        let sigma = (libm::log(p99) - mu) / Z99;
        Dist::LogNormal(LogNormal::new(mu, sigma))
    }

    /// Draws one duration.
    #[inline(always)]
    pub fn sample(&self, s: &mut Stream) -> Nanos {
        // Log-normal — every link by default, and most service times — inline at the caller;
        // the other shapes out of line.
        match self {
            Dist::LogNormal(d) => d.sample(s),
            _ => self.sample_other(s),
        }
    }

    #[inline(never)]
    fn sample_other(&self, s: &mut Stream) -> Nanos {
        let x = match self {
            Dist::Constant { value } => *value,
            Dist::Uniform { low, high } => low + (high - low) * s.f64(),
            Dist::Exponential { mean } => mean * crate::ziggurat::exp1(s),
            Dist::Normal { mean, std_dev } => mean + std_dev * standard_normal(s),
            Dist::LogNormal(d) => return d.sample(s),
            Dist::Pareto { scale, shape } => scale * libm::pow(s.open01(), -1.0 / shape),
            Dist::Empirical { points } => empirical(points, s.f64()),
        };
        to_nanos(x)
    }

    /// The exact mean of the distribution (before the clamp to `[0, MAX_SAMPLE_NS]`), in ns;
    /// `f64::INFINITY` for a Pareto with shape ≤ 1.
    pub fn mean(&self) -> f64 {
        match self {
            Dist::Constant { value } => *value,
            Dist::Uniform { low, high } => (low + high) / 2.0,
            Dist::Exponential { mean } => *mean,
            Dist::Normal { mean, .. } => *mean,
            Dist::LogNormal(d) => libm::exp(d.mu() + d.sigma() * d.sigma() / 2.0),
            Dist::Pareto { scale, shape } => {
                if *shape <= 1.0 {
                    f64::INFINITY
                } else {
                    shape * scale / (shape - 1.0)
                }
            }
            Dist::Empirical { points } => points.windows(2).map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0).sum(),
        }
    }
}

#[inline]
pub(crate) fn to_nanos(x: f64) -> Nanos {
    // NaN compares false everywhere and lands on 0.
    if x > 0.0 {
        let rounded = x.min(MAX_SAMPLE_NS) + 0.5;
        // SAFETY: `rounded` is finite and in (0.5, 2^47): the truncation is exact and fits an
        // `i64`. (`as` would add a saturation and NaN fix-up on every sample.)
        unsafe { rounded.to_int_unchecked::<i64>() as Nanos }
    } else {
        0
    }
}

#[inline]
fn standard_normal(s: &mut Stream) -> f64 {
    crate::ziggurat::normal1(s)
}

/// The value at quantile `u` of an empirical distribution's `(quantile, value)` points, linearly
/// interpolated: how it is sampled, and how `faultline explain` quotes its percentiles.
pub fn empirical(points: &[(f64, f64)], u: f64) -> f64 {
    // Points are validated: at least two, quantiles strictly ascending from 0 to 1.
    let i = points.partition_point(|&(q, _)| q <= u).clamp(1, points.len() - 1);
    let (q0, v0) = points[i - 1];
    let (q1, v1) = points[i];
    v0 + (v1 - v0) * (u - q0) / (q1 - q0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_of(d: &Dist, n: usize) -> f64 {
        let mut s = Stream::new(11, "dist-test");
        (0..n).map(|_| d.sample(&mut s) as f64).sum::<f64>() / n as f64
    }

    // With n = 200_000 samples the standard error of the mean is sd/447; the tolerances below
    // are 4 standard errors of each distribution's exact standard deviation (6 for the
    // heavy-tailed Pareto): uniform (b − a)/√12; log-normal mean·√(e^σ² − 1) with
    // σ = ln 5 / 2.326 = 0.692, 0.9955e6; Pareto(3) x_m·√3/2; the empirical one a half-half
    // mixture of U(0, 1e6) and U(1e6, 3e6), E[X²] = 2.333e12, mean 1.25e6: sd 0.878e6.
    #[test]
    fn sample_means_match_theory() {
        let n = 200_000;
        let cases = [
            (Dist::Constant { value: 5e6 }, 1e-9),
            (Dist::Uniform { low: 1e6, high: 3e6 }, 4.0 * 0.577e6 / 447.0),
            (Dist::Exponential { mean: 1e6 }, 4.0 * 1e6 / 447.0),
            (Dist::Normal { mean: 10e6, std_dev: 1e6 }, 4.0 * 1e6 / 447.0),
            (Dist::lognormal_from_p50_p99(1e6, 5e6), 4.0 * 0.9955e6 / 447.0),
            (Dist::Pareto { scale: 1e6, shape: 3.0 }, 6.0 * 0.866e6 / 447.0),
            (Dist::Empirical { points: vec![(0.0, 0.0), (0.5, 1e6), (1.0, 3e6)] }, 4.0 * 0.878e6 / 447.0),
        ];
        for (d, tol) in cases {
            let m = mean_of(&d, n);
            assert!((m - d.mean()).abs() <= f64::max(tol, 1.0), "{d:?}: sample mean {m}, theory {}", d.mean());
        }
    }

    #[test]
    fn lognormal_quantiles_match_parameters() {
        let d = Dist::lognormal_from_p50_p99(2e6, 20e6);
        let mut s = Stream::new(2, "q");
        let mut v: Vec<u64> = (0..100_000).map(|_| d.sample(&mut s)).collect();
        v.sort_unstable();
        let p50 = v[50_000] as f64;
        let p99 = v[99_000] as f64;
        assert!((p50 / 2e6 - 1.0).abs() < 0.03, "p50 {p50}");
        assert!((p99 / 20e6 - 1.0).abs() < 0.08, "p99 {p99}");
    }

    #[test]
    fn samples_are_never_negative_or_huge() {
        // A u64 cannot be negative: what must hold is that the negative half of a Normal(0, σ)
        // clamps to 0 (not wrapping to a huge value), and that a Pareto whose mean is infinite
        // stays under the cap.
        let mut s = Stream::new(1, "x");
        let d = Dist::Normal { mean: 0.0, std_dev: 1e6 };
        let p = Dist::Pareto { scale: 1e9, shape: 0.1 };
        let (n, mut zeros, mut sum) = (10_000, 0, 0.0);
        for _ in 0..n {
            let x = d.sample(&mut s);
            assert!(x as f64 <= 10e6, "a Normal(0, 1 ms) draw of {x} ns (10 σ)");
            zeros += u32::from(x == 0);
            sum += x as f64;
            assert!(p.sample(&mut s) as f64 <= MAX_SAMPLE_NS);
        }
        // Half the draws are negative (or round to 0: P(0 ≤ X < 0.5 ns) = 2·10⁻⁷): binomial
        // 5 000 ± 50, within 5 SD. The clamped mean is E[max(X, 0)] = σ/√(2π) = 398 942 ns,
        // SD of one draw σ·√(1/2 − 1/(2π)) = 584 000 ns, so ± 5 840 ns over 10 000: 5 SD.
        assert!((i64::from(zeros) - n / 2).abs() < 250, "{zeros} of {n} clamped to 0");
        let mean = sum / n as f64;
        assert!((mean - 1e6 / (2.0 * std::f64::consts::PI).sqrt()).abs() < 5.0 * 5_840.0, "clamped mean {mean}");
    }
}
