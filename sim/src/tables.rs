//! The constant tables behind sampling — the ziggurat layers for [`crate::ziggurat`] and the
//! standard normal quantiles on the grid of [`crate::lognormal`] — and how they are computed,
//! with `libm` (pure Rust, so the same bits on every platform).
//!
//! `build.rs` includes this file, computes the tables once at build time and writes them out
//! as literal bit patterns; the crate uses those as plain statics. Why not a `OnceLock` filled
//! on first use: its "is it filled yet" check sat on every draw, three per network hop. A test
//! recomputes the tables here and compares them with the built ones bit for bit.

/// Layers per ziggurat.
pub const LAYERS: usize = 256;

/// Octaves of the log-normal sampler's grid: `u` in `[2^-(e+2), 2^-(e+1))` for `e` in
/// `0..OCTAVES`, each side of the median; below `2^-(OCTAVES+1)` it computes exactly.
pub const OCTAVES: usize = 24;
/// log2 of the intervals per octave.
pub const LOG2_STEPS: u32 = 4;
/// Intervals per octave.
pub const STEPS: usize = 1 << LOG2_STEPS;

/// Marsaglia & Tsang's constants for 256 layers: tail start `r` and layer area `v`.
pub const EXP_R: f64 = 7.697_117_470_131_05;
pub const EXP_V: f64 = 0.003_949_659_822_581_557;
pub const NORM_R: f64 = 3.654_152_885_361_009;
pub const NORM_V: f64 = 0.004_928_673_233_99;

/// `x[0..=LAYERS]` (the base layer's pseudo-width, then the layer edges down to 0) and
/// `f[i] = pdf(x[i])` (unnormalised).
pub struct Layers {
    pub x: [f64; LAYERS + 1],
    pub f: [f64; LAYERS + 1],
}

/// The standard normal quantile `z` with `Φ(z) = p`, for `p` in `(0, 1)`, to about machine
/// precision: Abramowitz & Stegun 26.2.23 (error < 4.5e-4) as the start, then Halley steps on
/// `Φ(z) = erfc(-z/√2)/2`. `erfc` keeps its relative precision in the lower tail, so the
/// quantile is computed on the side of the smaller probability.
pub fn normal_quantile(p: f64) -> f64 {
    if p > 0.5 {
        return -normal_quantile(1.0 - p);
    }
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    let t = libm::sqrt(-2.0 * libm::log(p));
    let mut z = -(t
        - (2.515_517 + 0.802_853 * t + 0.010_328 * t * t)
            / (1.0 + 1.432_788 * t + 0.189_269 * t * t + 0.001_308 * t * t * t));
    for _ in 0..3 {
        let e = 0.5 * libm::erfc(-z * std::f64::consts::FRAC_1_SQRT_2) - p;
        let u = e * libm::sqrt(2.0 * std::f64::consts::PI) * libm::exp(0.5 * z * z);
        z -= u / (1.0 + 0.5 * z * u);
    }
    z
}

/// The grid of the log-normal sampler, `OCTAVES × (STEPS + 1)` points, octave by octave:
/// `z = Φ⁻¹(u)` at `u = 2^-(e+2) · (1 + j/STEPS)`, and `dz/du = 1/φ(z)` there.
#[allow(dead_code)] // used by build.rs and the tests
pub fn quantile_grid() -> (Vec<f64>, Vec<f64>) {
    let mut z = Vec::with_capacity(OCTAVES * (STEPS + 1));
    let mut dz = Vec::with_capacity(OCTAVES * (STEPS + 1));
    for e in 0..OCTAVES {
        for j in 0..=STEPS {
            let u = libm::ldexp(1.0 + j as f64 / STEPS as f64, -(e as i32 + 2));
            let q = normal_quantile(u);
            z.push(q);
            dz.push(libm::sqrt(2.0 * std::f64::consts::PI) * libm::exp(0.5 * q * q));
        }
    }
    (z, dz)
}

/// The layers of the standard exponential.
#[allow(dead_code)] // used by build.rs and the tests
pub fn exp_layers() -> Layers {
    layers(EXP_R, EXP_V, |x| libm::exp(-x), |y| -libm::log(y))
}

/// The layers of the standard normal (unnormalised density `e^(-x²/2)`).
#[allow(dead_code)] // used by build.rs and the tests
pub fn norm_layers() -> Layers {
    layers(NORM_R, NORM_V, |x| libm::exp(-0.5 * x * x), |y| libm::sqrt(-2.0 * libm::log(y)))
}

/// Builds the layers of a decreasing density on `[0, ∞)` with tail start `r` and layer area `v`.
#[allow(dead_code)] // used by build.rs and the tests
fn layers(r: f64, v: f64, pdf: impl Fn(f64) -> f64, inv: impl Fn(f64) -> f64) -> Layers {
    let mut x = [0.0; LAYERS + 1];
    let mut f = [0.0; LAYERS + 1];
    x[0] = v / pdf(r);
    x[1] = r;
    for i in 2..LAYERS {
        x[i] = inv(pdf(x[i - 1]) + v / x[i - 1]);
    }
    x[LAYERS] = 0.0;
    for i in 0..=LAYERS {
        f[i] = pdf(x[i]);
    }
    Layers { x, f }
}
