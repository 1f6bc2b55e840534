//! Log-normal sampling by a tabulated inverse CDF: one 64-bit draw, one table read, a cubic.
//!
//! Why: every network hop and most service times are log-normal, and drawing one as
//! `exp(mu + sigma·Z)` (a ziggurat normal, then `exp`) was a chain of some 70 cycles of dependent
//! float operations, a sixth of a checkout sweep's time. Here a draw is the inverse CDF of the
//! distribution evaluated at a uniform `u`, from a table built once per distribution.
//!
//! The table: take `u' = min(u, 1 - u)` (the top bit of the draw says which side of the median)
//! and split `(0, 1/2)` into octaves `[2^-(e+2), 2^-(e+1))`, each cut into 16 (`STEPS`) equal
//! intervals. Octaves keep each interval's width in `z = Φ⁻¹(u')` small all the way into the
//! tails, where equal steps in `u` would not (the interval next to the tail was 10^-3 off for a
//! typical sigma however many there were). On each interval the quantile is the cubic Hermite
//! through its exact values and derivatives at both ends (`dX/du = ±sigma·X/φ(z)`; the grid
//! `z`, `1/φ(z)` is computed at build time, src/tables.rs). Its relative error is at most
//! 1.2·10^-7 for sigma 0.6 (a p99 four times the median: a tenth of a nanosecond on 1 ms),
//! 3·10^-7 for sigma 1 and 1.4·10^-6 for sigma 2; a test measures it against the exact quantile.
//! Beyond the last octave (`u'` below 2^-25, one draw in 17 million) the quantile is computed
//! exactly.
//!
//! A draw always takes exactly one number from the stream, whatever the parameters, so variants
//! that change a distribution stay paired draw for draw. [`Stream::lognormal`] converts the
//! stream's next number one draw ahead, off the event loop's critical path.

use std::fmt;
use std::sync::Arc;

use crate::dist::{MAX_SAMPLE_NS, to_nanos};
use crate::rng::Stream;
use crate::tables::{LOG2_STEPS, OCTAVES, STEPS, normal_quantile};
use crate::time::Nanos;

/// Intervals on each side of the median.
const SIDE: usize = OCTAVES * STEPS;

/// `z = Φ⁻¹(u)` and `1/φ(z)` at the grid points, `STEPS + 1` per octave (built at build time).
static GRID_Z: [f64; OCTAVES * (STEPS + 1)] = crate::built::GRID_Z;
static GRID_DZ: [f64; OCTAVES * (STEPS + 1)] = crate::built::GRID_DZ;

/// `c[0] + c[1]·t + c[2]·t² + c[3]·t³` on one interval, `t` in `[0, 1)`; half a cache line.
#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
struct Cubic([f64; 4]);

impl Cubic {
    /// Estrin's scheme: two short chains instead of Horner's one long one.
    #[inline(always)]
    fn eval(&self, t: f64) -> f64 {
        let c = &self.0;
        (c[0] + c[1] * t) + (t * t) * (c[2] + c[3] * t)
    }
}

/// A log-normal distribution `exp(mu + sigma·Z)` with its sampling table (shared by clones).
#[derive(Clone)]
pub struct LogNormal {
    mu: f64,
    sigma: f64,
    /// The lower side's intervals (`X = exp(mu + sigma·z)`, `z < 0`), then the upper side's.
    table: Arc<[Cubic; 2 * SIDE]>,
}

impl LogNormal {
    pub fn new(mu: f64, sigma: f64) -> LogNormal {
        let mut table = Box::new([Cubic::default(); 2 * SIDE]);
        // One `exp` per grid point, shared by both sides: `X = e^mu · e^(±sigma·z)`.
        let median = libm::exp(mu);
        for e in 0..OCTAVES {
            // Interval width in u.
            let h = libm::ldexp(1.0 / STEPS as f64, -(e as i32 + 2));
            let g = e * (STEPS + 1);
            let lower: [f64; STEPS + 1] = std::array::from_fn(|k| libm::exp(sigma * GRID_Z[g + k]));
            for (side, sign) in [(0, 1.0), (1, -1.0)] {
                // X and dX/du times the width at each grid point (grouped so that no factor
                // overflows first); each is the end of one interval and the start of the next.
                let ends: [(f64, f64); STEPS + 1] = std::array::from_fn(|k| {
                    let x = if side == 0 { median * lower[k] } else { median / lower[k] };
                    (x, sign * sigma * (h * GRID_DZ[g + k]) * x)
                });
                for j in 0..STEPS {
                    let ((x0, d0), (x1, d1)) = (ends[j], ends[j + 1]);
                    let c = [x0, d0, 3.0 * (x1 - x0) - 2.0 * d0 - d1, 2.0 * (x0 - x1) + d0 + d1];
                    // Only values beyond ~10^300 ns overflow; every sample there is capped anyway.
                    table[side * SIDE + e * STEPS + j] =
                        if c.iter().all(|v| v.is_finite()) { Cubic(c) } else { Cubic([MAX_SAMPLE_NS, 0.0, 0.0, 0.0]) };
                }
            }
        }
        LogNormal { mu, sigma, table: Arc::from(table) }
    }

    pub fn mu(&self) -> f64 {
        self.mu
    }

    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// Draws one duration in ns (rounded, capped at [`MAX_SAMPLE_NS`]): one number from `s`,
    /// usually converted ahead of time ([`Stream::lognormal`]).
    #[inline(always)]
    pub fn sample(&self, s: &mut Stream) -> Nanos {
        s.lognormal(self)
    }

    /// The quantile at the uniform draw `r`: its top bit picks the side of the median, the rest
    /// (as a fraction of 2^64, halved) is `u'`, whose leading zeros are the octave.
    #[inline(always)]
    pub(crate) fn at(&self, r: u64) -> Nanos {
        let rest = r << 1;
        let e = rest.leading_zeros() as usize;
        if e >= OCTAVES {
            return self.exact(r);
        }
        // Normalised: the top bit is the octave's leading 1, the next LOG2_STEPS bits the
        // interval, the rest the position in it.
        let m = rest << e;
        let j = ((m << 1) >> (64 - LOG2_STEPS)) as usize;
        let t = ((m << (1 + LOG2_STEPS)) >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        to_nanos(self.table[(r >> 63) as usize * SIDE + e * STEPS + j].eval(t))
    }

    /// The far tails, `u'` below `2^-(OCTAVES+1)`: computed exactly.
    #[cold]
    #[inline(never)]
    fn exact(&self, r: u64) -> Nanos {
        // `rest < 2^(64 - OCTAVES)`: exact in an f64; never 0, so the quantile is finite.
        let u = (r << 1).max(1) as f64 * libm::ldexp(1.0, -65);
        let sign = if r >> 63 == 0 { 1.0 } else { -1.0 };
        to_nanos(libm::exp(self.mu + sign * self.sigma * normal_quantile(u)))
    }
}

impl PartialEq for LogNormal {
    /// The table is a function of the parameters.
    fn eq(&self, other: &LogNormal) -> bool {
        self.mu == other.mu && self.sigma == other.sigma
    }
}

impl fmt::Debug for LogNormal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogNormal").field("mu", &self.mu).field("sigma", &self.sigma).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact quantile at `u` (any `u` in (0, 1)), unrounded.
    fn exact_quantile(mu: f64, sigma: f64, u: f64) -> f64 {
        libm::exp(mu + sigma * normal_quantile(u))
    }

    /// The table's value (unrounded) at `u' = 2^-(e+2)·(1 + (j + t)/STEPS)` on `side`.
    fn table_value(d: &LogNormal, side: usize, e: usize, j: usize, t: f64) -> f64 {
        d.table[side * SIDE + e * STEPS + j].eval(t)
    }

    #[test]
    fn normal_quantile_inverts_the_cdf() {
        assert!(normal_quantile(0.5).abs() < 1e-16);
        assert!((normal_quantile(0.99) - crate::dist::Z99).abs() < 1e-14);
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-14);
        for k in 1..=66 {
            let p = libm::ldexp(1.0, -k);
            let z = normal_quantile(p);
            let back = 0.5 * libm::erfc(-z * std::f64::consts::FRAC_1_SQRT_2);
            assert!((back / p - 1.0).abs() < 1e-13, "p = 2^-{k}: Φ({z}) = {back}");
            if (2..=52).contains(&k) {
                assert_eq!(normal_quantile(1.0 - p), -normal_quantile(p), "computed on the side of the smaller p");
            }
        }
    }

    #[test]
    fn grid_is_the_built_one_bit_for_bit() {
        let (z, dz) = crate::tables::quantile_grid();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&GRID_Z), bits(&z));
        assert_eq!(bits(&GRID_DZ), bits(&dz));
    }

    /// The interpolation error bound the module docs state, checked at 16 points of every
    /// interval of both sides.
    #[test]
    fn table_matches_the_exact_quantile() {
        for (sigma, bound) in [(0.05, 2e-8), (0.6, 2e-7), (1.0, 4e-7), (2.0, 2e-6), (3.0, 6e-6)] {
            let mu = 13.0;
            let d = LogNormal::new(mu, sigma);
            let mut worst: f64 = 0.0;
            for side in 0..2 {
                for e in 0..OCTAVES {
                    for j in 0..STEPS {
                        for k in 0..16 {
                            let t = k as f64 / 16.0;
                            let u = libm::ldexp(1.0 + (j as f64 + t) / STEPS as f64, -(e as i32 + 2));
                            let u = if side == 0 { u } else { 1.0 - u };
                            let rel = table_value(&d, side, e, j, t) / exact_quantile(mu, sigma, u) - 1.0;
                            worst = worst.max(rel.abs());
                        }
                    }
                }
            }
            assert!(worst < bound, "sigma {sigma}: worst relative error {worst:e}");
        }
    }

    /// The bit layout: which draws land where.
    #[test]
    fn draws_map_to_the_quantile_of_their_uniform() {
        let (mu, sigma) = (libm::log(1e6), 0.6);
        let d = LogNormal::new(mu, sigma);
        // u' = 1/4 exactly on either side: the first point of octave 0.
        let quarter = 1u64 << 62;
        assert_eq!(d.at(quarter), to_nanos(exact_quantile(mu, sigma, 0.25)));
        assert_eq!(d.at(1 << 63 | quarter), to_nanos(exact_quantile(mu, sigma, 0.75)));
        // Draws just below 2^63 are u' just below 1/2 on the lower side: the median.
        assert_eq!(d.at((1 << 63) - 1), 1_000_000);
        assert_eq!(d.at(u64::MAX), 1_000_000);
        // A sweep of draws agrees with the exact quantile to within the rounding.
        let mut s = Stream::new(3, "lognormal-layout");
        for _ in 0..100_000 {
            let r = s.next_u64();
            let rest = r << 1;
            let u = rest as f64 * libm::ldexp(1.0, -65);
            let u = if r >> 63 == 0 { u } else { 1.0 - u };
            let x = exact_quantile(mu, sigma, u);
            let got = d.at(r) as f64;
            assert!((got - x).abs() <= 0.5 + 1e-6 * x, "r = {r:#x}: {got} against {x}");
        }
        // The far tails, computed exactly: the smallest and largest draws.
        assert_eq!(d.at(0), to_nanos(exact_quantile(mu, sigma, libm::ldexp(1.0, -65))));
        assert_eq!(d.at(1 << 63), to_nanos(libm::exp(mu - sigma * normal_quantile(libm::ldexp(1.0, -65)))));
        assert!(d.at(1 << 63) > 100_000_000, "the largest draw is about 5.9 sigma up");
    }

    /// Parameters whose tail overflows an f64 still give capped, never zero, upper samples.
    #[test]
    fn overflowing_tails_are_capped() {
        let d = LogNormal::new(libm::log(1e9), 300.0);
        // u' = 2^-5: about 10^242 ns, finite in the table, capped when drawn.
        assert_eq!(d.at(1 << 63 | 1 << 59), MAX_SAMPLE_NS as Nanos);
        // u' = 2^-24: the interval's values overflow; it was made a constant at the cap.
        assert_eq!(d.at(1 << 63 | 1 << 40), MAX_SAMPLE_NS as Nanos);
        assert_eq!(d.at(1), 0, "deep lower tail");
    }

    /// Kolmogorov–Smirnov against the exact CDF: with n = 200 000 the statistic exceeds
    /// 1.95/√n (0.0044) with probability 0.001 for a correct sampler.
    #[test]
    fn samples_follow_the_lognormal_cdf() {
        let (mu, sigma) = (libm::log(2e6), 0.9);
        let d = LogNormal::new(mu, sigma);
        let mut s = Stream::new(9, "lognormal-ks");
        let n = 200_000;
        let mut v: Vec<u64> = (0..n).map(|_| d.sample(&mut s)).collect();
        v.sort_unstable();
        let cdf = |x: f64| 0.5 * libm::erfc(-(libm::log(x) - mu) / sigma * std::f64::consts::FRAC_1_SQRT_2);
        let ks = v
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let f = cdf(x as f64);
                f64::max((i + 1) as f64 / n as f64 - f, f - i as f64 / n as f64)
            })
            .fold(0.0, f64::max);
        assert!(ks < 1.95 / (n as f64).sqrt(), "KS statistic {ks}");
    }

    #[test]
    fn one_draw_per_sample_whatever_the_parameters() {
        let (a, b) = (LogNormal::new(10.0, 0.3), LogNormal::new(14.0, 2.0));
        let (mut s, mut t) = (Stream::new(4, "paired"), Stream::new(4, "paired"));
        for _ in 0..10_000 {
            a.sample(&mut s);
            b.sample(&mut t);
        }
        assert_eq!(s.next_u64(), t.next_u64());
    }
}
