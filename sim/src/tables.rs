//! The constant tables behind sampling — `2^(j/256)` for [`crate::fastexp`] and the ziggurat
//! layers for [`crate::ziggurat`] — and how they are computed, with `libm` (pure Rust, so the
//! same bits on every platform).
//!
//! `build.rs` includes this file, computes the tables once at build time and writes them out
//! as literal bit patterns; the crate uses those as plain statics. Why not a `OnceLock` filled
//! on first use: its "is it filled yet" check sat on every draw, three per network hop. A test
//! recomputes the tables here and compares them with the built ones bit for bit.

/// Entries of the `2^(j/N)` table.
pub const EXP2_N: usize = 256;
/// Layers per ziggurat.
pub const LAYERS: usize = 256;

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

/// `2^(j / EXP2_N)` for `j` in `0..EXP2_N`.
#[allow(dead_code)] // used by build.rs and the tests
pub fn exp2_table() -> [f64; EXP2_N] {
    std::array::from_fn(|j| libm::exp2(j as f64 / EXP2_N as f64))
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
