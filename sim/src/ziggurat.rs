//! Standard exponential and standard normal variates by the ziggurat method (Marsaglia & Tsang,
//! "The Ziggurat Method for Generating Random Variables", 2000, with Doornik's use of a full
//! 53-bit uniform per try).
//!
//! Why: inversion (`-ln U`) and Box–Muller (`ln`, `sqrt`, `cos`) put transcendental calls on
//! every exponential draw (arrival gaps, service times); the ziggurat answers about 99% of
//! draws with one `u64`, a table lookup, a multiply and a compare. Rejections redraw, so the
//! number of draws per sample varies with the draws themselves (≈ 1.01 exponential, ≈ 1.02
//! normal on average) but never with a distribution's parameters: two variants that change a
//! mean or a median still consume the same draws from the same stream, and stay paired
//! (common random numbers).
//!
//! The layer tables are computed at build time with `libm` (src/tables.rs), so they are identical
//! on every platform.

use crate::rng::Bits;
use crate::tables::{EXP_R, Layers as Table, NORM_R};

/// The layers, computed at build time (src/tables.rs).
static EXP: Table = Table { x: crate::built::EXP_X, f: crate::built::EXP_F };
static NORM: Table = Table { x: crate::built::NORM_X, f: crate::built::NORM_F };

/// 53 bits of `bits` (its top ones) as a uniform in `[0, 1)`.
#[inline(always)]
fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A standard exponential variate (mean 1).
#[inline(always)]
pub fn exp1<B: Bits>(s: &mut B) -> f64 {
    // The fast path (about 99% of draws) inline; the rest out of line, so that callers stay
    // small and the common case needs no call.
    let t = &EXP;
    let (i, x) = exp_try(s, t);
    if x < t.x[i + 1] { x } else { exp1_slow(s, t, i, x) }
}

/// One try: a layer from the low 8 bits of a draw, a position in it from the top 53 (disjoint
/// bits).
#[inline(always)]
fn exp_try<B: Bits>(s: &mut B, t: &Table) -> (usize, f64) {
    let bits = s.next_u64();
    let i = (bits & 0xff) as usize;
    (i, unit(bits) * t.x[i])
}

/// The rest of [`exp1`] after the first draw missed the fast path (layer `i`, candidate `x`).
#[cold]
#[inline(never)]
fn exp1_slow<B: Bits>(s: &mut B, t: &Table, mut i: usize, mut x: f64) -> f64 {
    let mut base = 0.0;
    loop {
        if x < t.x[i + 1] {
            return base + x;
        }
        if i == 0 {
            // The tail beyond r is r + Exp(1) (memorylessness).
            base += EXP_R;
        } else if t.f[i] + s.f64() * (t.f[i + 1] - t.f[i]) < libm::exp(-x) {
            return base + x;
        }
        (i, x) = exp_try(s, t);
    }
}

/// A standard normal variate.
#[inline(always)]
pub fn normal1<B: Bits>(s: &mut B) -> f64 {
    let t = &NORM;
    let (i, u, x) = normal_try(s, t);
    if x.abs() < t.x[i + 1] { x } else { normal1_slow(s, t, i, u, x) }
}

/// One try: a layer, a uniform in `[-1, 1)` that carries the sign, and the candidate.
#[inline(always)]
fn normal_try<B: Bits>(s: &mut B, t: &Table) -> (usize, f64, f64) {
    let bits = s.next_u64();
    let i = (bits & 0xff) as usize;
    // 2 · unit(bits) − 1, with the doubling folded into the (exact, power-of-two) scale.
    let u = (bits >> 11) as f64 * (1.0 / (1u64 << 52) as f64) - 1.0;
    (i, u, u * t.x[i])
}

/// The rest of [`normal1`] after the first draw missed the fast path (layer `i`, sign-carrying
/// uniform `u`, candidate `x`).
#[cold]
#[inline(never)]
fn normal1_slow<B: Bits>(s: &mut B, t: &Table, mut i: usize, mut u: f64, mut x: f64) -> f64 {
    loop {
        let ax = x.abs();
        if ax < t.x[i + 1] {
            return x;
        }
        if i == 0 {
            // Marsaglia's tail: x = r + e1/r, accepted when 2·e2 ≥ (e1/r)².
            loop {
                let e1 = -libm::log(s.open01()) / NORM_R;
                let e2 = -libm::log(s.open01());
                if 2.0 * e2 >= e1 * e1 {
                    return if u < 0.0 { -(NORM_R + e1) } else { NORM_R + e1 };
                }
            }
        }
        if t.f[i] + s.f64() * (t.f[i + 1] - t.f[i]) < libm::exp(-0.5 * ax * ax) {
            return x;
        }
        (i, u, x) = normal_try(s, t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;
    use crate::tables::{EXP_V, LAYERS, NORM_V};

    #[test]
    fn built_tables_are_the_computed_ones() {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (built, computed) in [(&EXP, crate::tables::exp_layers()), (&NORM, crate::tables::norm_layers())] {
            assert_eq!(bits(&built.x), bits(&computed.x));
            assert_eq!(bits(&built.f), bits(&computed.f));
        }
    }

    #[test]
    fn layers_close_at_zero_and_have_equal_areas() {
        // The recurrence must land on the top of the density at the last edge: a wrong r or v
        // shows up as a top layer that does not reach pdf(0) = 1.
        for (t, v) in [(&EXP, EXP_V), (&NORM, NORM_V)] {
            let top = t.x[LAYERS - 1] * (1.0 - t.f[LAYERS - 1]);
            assert!((top / v - 1.0).abs() < 1e-6, "top layer area {top} vs {v}");
            assert!(t.x.windows(2).all(|w| w[0] > w[1]), "edges decrease");
        }
    }

    /// Kolmogorov–Smirnov distance of `n` samples from `cdf`.
    fn ks(mut v: Vec<f64>, cdf: impl Fn(f64) -> f64) -> f64 {
        v.sort_by(f64::total_cmp);
        let n = v.len() as f64;
        v.iter()
            .enumerate()
            .map(|(k, &x)| {
                let c = cdf(x);
                f64::max(c - k as f64 / n, (k + 1) as f64 / n - c)
            })
            .fold(0.0, f64::max)
    }

    // With n = 400 000 the KS critical value at α = 0.001 is 1.95/√n ≈ 0.0031.
    const N: usize = 400_000;
    const KS_CRIT: f64 = 1.95 / 632.455;

    #[test]
    fn exponential_matches_its_cdf_moments_and_tail() {
        let mut s = Stream::new(5, "zig-exp");
        let v: Vec<f64> = (0..N).map(|_| exp1(&mut s)).collect();
        let mean = v.iter().sum::<f64>() / N as f64;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / N as f64;
        // SE of the mean is 1/√n = 0.0016; of the variance about √(8/n) = 0.0045.
        assert!((mean - 1.0).abs() < 0.0063, "mean {mean}");
        assert!((var - 1.0).abs() < 0.018, "variance {var}");
        // P(X > 8) = e^-8 = 3.35e-4: 134 expected, sd ≈ 11.6, and beyond the tail start r.
        let tail = v.iter().filter(|&&x| x > 8.0).count() as f64;
        assert!((tail - 134.2).abs() < 4.0 * 11.6, "tail {tail}");
        let d = ks(v, |x| 1.0 - libm::exp(-x));
        assert!(d < KS_CRIT, "KS distance {d}");
    }

    #[test]
    fn normal_matches_its_cdf_moments_and_tails() {
        let mut s = Stream::new(6, "zig-norm");
        let v: Vec<f64> = (0..N).map(|_| normal1(&mut s)).collect();
        let mean = v.iter().sum::<f64>() / N as f64;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / N as f64;
        assert!(mean.abs() < 0.0063, "mean {mean}");
        assert!((var - 1.0).abs() < 0.0090, "variance {var}");
        // P(|Z| > 3.8) = 1.447e-4, beyond r: 57.9 expected, sd ≈ 7.6; both signs.
        let (lo, hi) = (v.iter().filter(|&&x| x < -3.8).count(), v.iter().filter(|&&x| x > 3.8).count());
        assert!(((lo + hi) as f64 - 57.9).abs() < 4.0 * 7.6, "tails {lo} + {hi}");
        assert!(lo > 5 && hi > 5, "both tails are drawn: {lo}, {hi}");
        let d = ks(v, |x| 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2));
        assert!(d < KS_CRIT, "KS distance {d}");
    }
}
