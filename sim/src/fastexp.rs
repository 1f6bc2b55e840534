//! `exp` for sampling: a table of `2^(j/256)` and a short polynomial, in plain IEEE arithmetic.
//!
//! Why: every log-normal draw (the default link latency, so every network hop) ends in an `exp`,
//! and `libm::exp` — correctly handling every corner of the double range — was 12% of a
//! request-path run. Sampling needs a relative error far below the resolution of a nanosecond
//! clock, not the last bit, over a small argument range. This one is within 5e-16 relative of
//! `libm::exp` (tested) for `|x| ≤ 700` and defers to `libm` outside it.
//!
//! Determinism: only `+`, `*`, comparisons, an exact round-to-integer and bit moves, which IEEE
//! 754 defines exactly; Rust never fuses them into FMAs on its own. The table is computed at
//! build time with `libm::exp2`, itself pure Rust (src/tables.rs). So the result is the same bit
//! pattern on every platform.

/// Table entries per doubling: 256 keeps the remainder small enough for a degree-4
/// polynomial (2 KiB of table, in cache on the hot path).
const N: usize = crate::tables::EXP2_N;
/// `N / ln 2`.
const INV_STEP: f64 = N as f64 / core::f64::consts::LN_2;
/// `ln 2 / N` as fdlibm's two-part `ln 2` (`0x3fe62e42_fee00000` + `0x3dea39ef_35793c76`) over
/// `N`: the high part's low 21 mantissa bits are zero, so `k * STEP_HI` is exact for the `k`
/// used here (|k| < 2^18), and the low part carries the rest to well beyond double precision.
const STEP_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000) / N as f64;
const STEP_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76) / N as f64;
/// 1.5 · 2^52: see [`exp`].
const SHIFTER: f64 = 6_755_399_441_055_744.0;

/// `2^(j/N)`, computed at build time (src/tables.rs).
static TABLE: [f64; N] = crate::built::EXP2;

/// `e^x`, within about two ulps of `libm::exp` for `|x| ≤ 700`; exactly `libm::exp` elsewhere
/// (and for NaN).
#[inline]
pub fn exp(x: f64) -> f64 {
    // One compare for both: NaN is not `<=` anything.
    if x.abs() <= 700.0 { exp_in_range(x) } else { libm::exp(x) }
}

/// [`exp`] for `|x| ≤ 700`.
#[inline(always)]
fn exp_in_range(x: f64) -> f64 {
    // x = k ln2/N + r with |r| ≤ ln2/(2N) ≈ 0.00135. Adding 1.5·2^52 rounds to the nearest
    // integer (ties to even) in plain IEEE arithmetic — no `rint` call, which the x86-64
    // baseline would make — and leaves k in the low mantissa bits (|k| < 2^18 ≪ 2^51), so the
    // integer k comes from the bits: no saturating float-to-int conversion.
    let shifted = x * INV_STEP + SHIFTER;
    let kf = shifted - SHIFTER;
    let r = (x - kf * STEP_HI) - kf * STEP_LO;
    let k = shifted.to_bits().wrapping_sub(SHIFTER.to_bits()) as i64;
    // e^r to within r^5/120 ≈ 4e-17: Taylor through r^4, grouped (Estrin) so that the
    // multiplies overlap instead of forming one chain.
    let r2 = r * r;
    let p = (1.0 + r) + r2 * ((0.5 + r * (1.0 / 6.0)) + r2 * (1.0 / 24.0));
    // 2^(j/N) · 2^(k div N), the power of two added straight into the table entry's exponent
    // bits: |k div N| ≤ 1010 keeps it normal, so this is exact, the multiply by p is the only
    // rounding, and the result equals `t * p * 2^(k div N)` bit for bit — with one multiply
    // fewer on the sample's dependency chain.
    let t = TABLE[(k & (N as i64 - 1)) as usize];
    let t = f64::from_bits(t.to_bits().wrapping_add(((k >> N.trailing_zeros()) as u64) << 52));
    t * p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_split_is_exact_enough() {
        // STEP_HI has few enough significant bits that k * STEP_HI is exact for |k| < 2^18
        // (|x| ≤ 700 gives |k| ≤ 700 · 256 / ln 2 < 2^18).
        assert_eq!(STEP_HI.to_bits() & 0x1f_ffff, 0);
        assert_eq!(STEP_HI + STEP_LO, core::f64::consts::LN_2 / N as f64);
        assert_eq!(SHIFTER, 1.5 * (1u64 << 52) as f64);
    }

    #[test]
    fn agrees_with_libm_within_a_few_ulps() {
        let mut worst: f64 = 0.0;
        let mut x = -700.0;
        while x <= 700.0 {
            let (a, b) = (exp(x), libm::exp(x));
            worst = worst.max(((a - b) / b).abs());
            x += 0.000_713_7;
        }
        assert!(worst < 5e-16, "worst relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn out_of_range_and_nan_defer_to_libm() {
        for x in [-1000.0, -745.5, 709.9, 800.0, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(exp(x).to_bits(), libm::exp(x).to_bits(), "{x}");
        }
        assert!(exp(f64::NAN).is_nan());
    }
}
