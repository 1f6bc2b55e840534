//! Key popularity: which key a request is about. Uniform, or Zipf(s) over `n` keys where key 0
//! is the most popular (rank r has probability ∝ 1/(r+1)^s), or sequential: the n-th request of
//! a workload gets key `start + n` (unique ids, e.g. the idempotency key of a business workflow).
//!
//! Zipf uses rejection-inversion sampling (Hörmann & Derflinger, 1996): O(1) memory and time
//! for any `n`. It draws a variable number of uniforms per key (rejections are rare); that is
//! deterministic and only moves the stream of the component that owns it.

use crate::rng::Stream;

#[derive(Clone, Debug, PartialEq)]
pub enum KeyDist {
    Uniform {
        n: u64,
    },
    Zipf(Zipf),
    /// Every request a new key: `start`, `start + 1`, … (no draws). Stateless: the caller says
    /// which request this is ([`KeyDist::sample_nth`]).
    Sequential {
        start: u64,
    },
}

impl KeyDist {
    /// A key for a request whose index is not known (the first one, for `Sequential`).
    #[inline]
    pub fn sample(&self, s: &mut Stream) -> u64 {
        self.sample_nth(0, s)
    }

    /// The key of the `n`-th request (counting from 0) of its sender.
    #[inline]
    pub fn sample_nth(&self, n: u64, s: &mut Stream) -> u64 {
        match self {
            KeyDist::Uniform { n } => s.below(*n),
            KeyDist::Zipf(z) => z.sample(s),
            KeyDist::Sequential { start } => start.wrapping_add(n),
        }
    }

    /// Number of distinct keys (`u64::MAX` for sequential keys: unbounded).
    pub fn keys(&self) -> u64 {
        match self {
            KeyDist::Uniform { n } => *n,
            KeyDist::Zipf(z) => z.n,
            KeyDist::Sequential { .. } => u64::MAX,
        }
    }

    /// Probability of key `k` (0-based); 0 for sequential keys (each is used once).
    pub fn probability(&self, k: u64) -> f64 {
        match self {
            KeyDist::Uniform { n } => 1.0 / *n as f64,
            KeyDist::Zipf(z) => z.probability(k),
            KeyDist::Sequential { .. } => 0.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Zipf {
    n: u64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    shortcut: f64,
    /// Generalised harmonic number H(n, s), for exact probabilities.
    harmonic: f64,
}

impl Zipf {
    /// `n` ≥ 1 keys, exponent `s` > 0.
    /// Number of keys.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// The exponent.
    pub fn s(&self) -> f64 {
        self.s
    }

    pub fn new(n: u64, s: f64) -> Zipf {
        assert!(n >= 1 && s > 0.0, "validated by the caller");
        let mut z = Zipf { n, s, h_integral_x1: 0.0, h_integral_n: 0.0, shortcut: 0.0, harmonic: 0.0 };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(n as f64 + 0.5);
        z.shortcut = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        // Exact sum for small n; Euler–Maclaurin tail beyond 10^6 terms (error < 1e-12 relative).
        let direct = n.min(1_000_000);
        let mut h = 0.0;
        for k in (1..=direct).rev() {
            h += libm::pow(k as f64, -s);
        }
        if n > direct {
            let (a, b) = (direct as f64 + 0.5, n as f64 + 0.5);
            h += if (s - 1.0).abs() < 1e-12 {
                libm::log(b) - libm::log(a)
            } else {
                (libm::pow(b, 1.0 - s) - libm::pow(a, 1.0 - s)) / (1.0 - s)
            };
        }
        z.harmonic = h;
        z
    }

    pub fn probability(&self, k: u64) -> f64 {
        libm::pow((k + 1) as f64, -self.s) / self.harmonic
    }

    fn h(&self, x: f64) -> f64 {
        libm::exp(-self.s * libm::log(x))
    }

    /// ∫ h, shifted so it is well-defined at s = 1.
    fn h_integral(&self, x: f64) -> f64 {
        let log_x = libm::log(x);
        helper2((1.0 - self.s) * log_x) * log_x
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        let mut t = x * (1.0 - self.s);
        if t < -1.0 {
            t = -1.0; // guards rounding at the end of the range
        }
        libm::exp(helper1(t) * x)
    }

    #[inline]
    pub fn sample(&self, s: &mut Stream) -> u64 {
        loop {
            let u = self.h_integral_n + s.f64() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = ((x + 0.5) as u64).clamp(1, self.n);
            let kf = k as f64;
            if kf - x <= self.shortcut || u >= self.h_integral(kf + 0.5) - self.h(kf) {
                return k - 1;
            }
        }
    }
}

/// log1p(x)/x, continuous at 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 { libm::log1p(x) / x } else { 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x)) }
}

/// expm1(x)/x, continuous at 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 { libm::expm1(x) / x } else { 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chi-square goodness of fit over the first 20 ranks plus the rest lumped together.
    fn chi_square(d: &KeyDist, samples: usize) -> f64 {
        let mut s = Stream::new(42, "keys");
        let bins = 21;
        let mut counts = vec![0u64; bins];
        for _ in 0..samples {
            let k = d.sample(&mut s);
            assert!(k < d.keys());
            counts[(k as usize).min(bins - 1)] += 1;
        }
        let mut expected: Vec<f64> = (0..bins - 1).map(|k| d.probability(k as u64) * samples as f64).collect();
        expected.push(samples as f64 - expected.iter().sum::<f64>());
        counts.iter().zip(&expected).filter(|(_, e)| **e > 1e-9).map(|(&o, &e)| (o as f64 - e).powi(2) / e).sum()
    }

    #[test]
    fn zipf_matches_its_probabilities() {
        // 20 degrees of freedom: the 99.9th percentile of chi-square(20) is 45.3.
        for (n, s) in [(1000, 1.0), (100_000, 0.8), (50, 1.5), (2_000_000, 1.1)] {
            let d = KeyDist::Zipf(Zipf::new(n, s));
            // For n = 2 000 000 the normalisation uses an Euler–Maclaurin tail: summing all the
            // probabilities checks it (Kahan summation; 2 M terms, well under a second).
            let (mut total, mut carry) = (0.0f64, 0.0f64);
            for k in 0..n {
                let y = d.probability(k) - carry;
                let t = total + y;
                carry = (t - total) - y;
                total = t;
            }
            assert!((total - 1.0).abs() < 1e-9, "Zipf({n}, {s}): probabilities sum to {total}");
            let x2 = chi_square(&d, 200_000);
            assert!(x2 < 45.3, "Zipf({n}, {s}): chi-square {x2}");
        }
    }

    #[test]
    fn sequential_keys_count_from_start_without_drawing() {
        let d = KeyDist::Sequential { start: 100 };
        let mut s = Stream::new(1, "keys");
        let before = s.clone().next_u64();
        let keys: Vec<u64> = (0..4).map(|n| d.sample_nth(n, &mut s)).collect();
        assert_eq!(keys, vec![100, 101, 102, 103]);
        assert_eq!(s.next_u64(), before, "no draws");
    }

    #[test]
    fn uniform_keys_are_uniform() {
        let x2 = chi_square(&KeyDist::Uniform { n: 20 }, 100_000);
        // 20 bins (the lump is empty): chi-square(19) 99.9th percentile is 43.8.
        assert!(x2 < 43.8, "{x2}");
    }
}
