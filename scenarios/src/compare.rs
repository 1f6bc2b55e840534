//! A regression gate between two sweeps: the records of a candidate (`sweep --out`) against a
//! baseline's, per variant, paired by seed.
//!
//! Each figure of [`FIGURES`] is compared as the per-seed difference `candidate − baseline` over
//! the seeds both sides ran: its mean and a confidence interval (Student's t). A figure has
//! *regressed* when that interval lies entirely on its worse side beyond a tolerance (a share of
//! the baseline's mean): a lucky or unlucky seed can neither pass nor fail the gate alone. Pairing
//! keeps the test valid whatever the two sides have in common; when they share a scenario and a
//! simulation revision, each seed gives both the same random numbers and the interval is
//! narrow (common random numbers).
//!
//! The gate asks many questions at once (every gated figure of every variant), so each interval
//! is a simultaneous one (Bonferroni): with `k` gated comparisons, each at confidence
//! `1 − 0.05/k`, all of them cover their true difference together with probability ≥ 95%, and a
//! candidate that changed nothing fails the gate at most 5% of the time. With a plain 95% interval
//! each, two sweeps of one scenario that do not share random numbers (another simulation
//! revision, an edit that moves the draws) failed it about one time in five.

use std::collections::BTreeMap;

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::sweep::{Estimate, FIGURES, SeedRecord, by_variant, figure};

/// The chance that a candidate which changed nothing fails the gate (family-wise, over every
/// gated figure of every variant).
pub const FALSE_ALARM: f64 = 0.05;

/// Half-width of the two-sided interval of confidence `confidence` for the mean of `xs`
/// (Student's t with `n − 1` degrees of freedom; `n` ≥ 2).
fn half_width(xs: &[f64], confidence: f64) -> f64 {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let se = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
    if se == 0.0 {
        return 0.0;
    }
    let t = StudentsT::new(0.0, 1.0, n - 1.0).expect("n ≥ 2 seeds");
    t.inverse_cdf(0.5 + confidence / 2.0) * se
}

/// Whether values were lost on significantly more seeds than they were gained (an exact sign
/// test on the seeds where exactly one side has a value). With no change, a seed is as likely to
/// lose its value as to gain it. The intervals are two-sided but read on one side only, so each
/// spends half of its `1 − confidence` on the side that decides; this test, one-sided, gets the
/// other half, and the gate's false alarms stay within [`FALSE_ALARM`].
fn more_often(lost: usize, gained: usize, confidence: f64) -> bool {
    let n = lost + gained;
    if lost == 0 {
        return false;
    }
    // P(at least `lost` of `n` fair coin flips), summed in logs to stay finite for large n.
    let ln_c = |k: usize| statrs::function::factorial::ln_binomial(n as u64, k as u64);
    let p: f64 = (lost..=n).map(|k| (ln_c(k) - n as f64 * std::f64::consts::LN_2).exp()).sum();
    p <= (1.0 - confidence) / 2.0
}

/// Whether a higher value of a figure is better (only the success rate); lower is better for
/// latencies and timeouts.
fn higher_is_better(figure: &str) -> bool {
    figure == "success_rate"
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Regressed,
    Improved,
    NoSignificantChange,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FigureChange {
    /// Means over the paired seeds.
    pub baseline: f64,
    pub candidate: f64,
    /// `candidate − baseline` per seed: mean and 95% CI (this figure alone).
    pub difference: Estimate,
    /// Half-width of the difference's simultaneous interval (at [`Comparison::confidence`]),
    /// which decides the verdict.
    pub ci_simultaneous: f64,
    /// The mean difference over the baseline's mean (`null` when that is 0).
    pub relative: Option<f64>,
    /// Paired seeds where the baseline has a value and the candidate none: a latency where
    /// nothing succeeded any more.
    pub lost_values: usize,
    /// The mirror: seeds where the candidate has a value and the baseline none.
    pub gained_values: usize,
    pub verdict: Verdict,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct VariantComparison {
    pub variant: String,
    /// Seeds run by both sides.
    pub seeds: usize,
    /// Seeds the baseline ran that the candidate did not (a shard's file or part of the
    /// sweep missing from the candidate, or a smaller seed range): fewer seeds to judge by.
    pub unpaired: usize,
    /// Of those, seeds where either side stopped at its event budget (partial figures).
    pub inconclusive: usize,
    pub figures: BTreeMap<String, FigureChange>,
}

/// One side of a comparison, as its records describe it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Side {
    pub scenario: String,
    pub records: usize,
    pub sim_revision: Option<u32>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Comparison {
    pub schema_version: u32,
    pub baseline: Side,
    pub candidate: Side,
    /// A change within this share of the baseline's mean is never a regression (e.g. 0.05).
    pub tolerance: f64,
    /// The figures gated on (all of [`FIGURES`] unless restricted).
    pub gated: Vec<String>,
    /// Gated figures × variants compared: the number of questions the gate asks at once.
    pub comparisons: usize,
    /// Confidence of each interval, `1 − 0.05 / comparisons`: together they hold at 95%.
    pub confidence: f64,
    /// Variants both sides ran, in the candidate's order.
    pub variants: Vec<VariantComparison>,
    /// Variants only one side ran.
    pub unmatched: Vec<String>,
    /// Of those, the baseline's variants the candidate did not run: the gate cannot judge
    /// them, so it fails (see [`Comparison::failed`]).
    pub dropped: Vec<String>,
    pub regressed: bool,
}

impl Comparison {
    /// Whether the gate fails: a gated figure regressed, or a variant of the baseline was not
    /// run by the candidate (a change that drops a design must not pass for want of runs).
    pub fn failed(&self) -> bool {
        self.regressed || !self.dropped.is_empty()
    }

    /// Whether some compared seed stopped at its event budget.
    pub fn inconclusive(&self) -> bool {
        self.variants.iter().any(|v| v.inconclusive > 0)
    }
}

/// Compares `candidate` against `baseline` on the figures in `gate` (all when empty) with a
/// `tolerance` in [0, 1). Errors when a figure is unknown, when the sides share no variant, or
/// when a shared variant has fewer than two seeds in common (no interval).
pub fn compare(
    baseline: &[SeedRecord],
    candidate: &[SeedRecord],
    gate: &[String],
    tolerance: f64,
) -> Result<Comparison, String> {
    if !(0.0..1.0).contains(&tolerance) {
        let pct = tolerance * 100.0;
        let pct = if pct.abs() < 1e9 { format!("{pct}") } else { format!("{pct:e}") };
        return Err(format!("the tolerance must be at least 0% and below 100%, not {pct}%"));
    }
    for (i, g) in gate.iter().enumerate() {
        if !FIGURES.contains(&g.as_str()) {
            return Err(format!("unknown figure `{g}`; expected one of: {}", FIGURES.join(", ")));
        }
        // Counted twice, it would widen every interval (a larger `comparisons`) for nothing.
        if gate[..i].contains(g) {
            return Err(format!("figure `{g}` is named twice"));
        }
    }
    let gated: Vec<String> =
        if gate.is_empty() { FIGURES.iter().map(|f| f.to_string()).collect() } else { gate.to_vec() };
    // Two versions of one scenario are what the gate compares (an edit, another build); two
    // scenarios have nothing to pair. Records written before they named their scenario pass.
    let name = |rs: &[SeedRecord]| rs.iter().find_map(|r| r.scenario_name.clone());
    if let (Some(b), Some(c)) = (name(baseline), name(candidate))
        && b != c
    {
        return Err(format!(
            "the baseline is a sweep of scenario `{b}`, the candidate of `{c}`: compare pairs the runs of \
             one scenario (before and after a change)"
        ));
    }
    let (base, base_order) = by_variant(baseline);
    let (cand, cand_order) = by_variant(candidate);
    let dropped: Vec<String> = base_order.iter().filter(|v| !cand.contains_key(v.as_str())).cloned().collect();
    let mut unmatched = dropped.clone();
    unmatched.extend(cand_order.iter().filter(|v| !base.contains_key(v.as_str())).cloned());
    let shared = cand_order.iter().filter(|v| base.contains_key(v.as_str())).count();
    let comparisons = (gated.len() * shared).max(1);
    let confidence = 1.0 - FALSE_ALARM / comparisons as f64;
    let mut variants = Vec::new();
    for v in cand_order.iter().filter(|v| base.contains_key(v.as_str())) {
        let pairs: Vec<(&SeedRecord, &SeedRecord)> =
            base[v.as_str()].iter().filter_map(|(s, &b)| cand[v.as_str()].get(s).map(|&c| (b, c))).collect();
        if pairs.len() < 2 {
            return Err(format!(
                "variant `{v}`: {} in common; a comparison needs at least 2 seeds run by both sides",
                crate::count(pairs.len(), "seed")
            ));
        }
        let figures = FIGURES
            .iter()
            .map(|&f| {
                // Latencies have no value in a run where nothing succeeded: the statistics go
                // over the seeds where both sides have one.
                let both: Vec<(f64, f64)> =
                    pairs.iter().filter_map(|(b, c)| Some((figure(b, f)?, figure(c, f)?))).collect();
                let lost_values =
                    pairs.iter().filter(|(b, c)| figure(b, f).is_some() && figure(c, f).is_none()).count();
                let gained_values =
                    pairs.iter().filter(|(b, c)| figure(b, f).is_none() && figure(c, f).is_some()).count();
                let mean = |xs: Vec<f64>| Estimate::of(&xs).mean;
                let b = mean(both.iter().map(|p| p.0).collect());
                let c = mean(both.iter().map(|p| p.1).collect());
                let diffs: Vec<f64> = both.iter().map(|(b, c)| c - b).collect();
                let difference = Estimate::of(&diffs);
                // Positive = worse, whichever way the figure goes.
                let worse = if higher_is_better(f) { -1.0 } else { 1.0 };
                let ci = if diffs.len() >= 2 { half_width(&diffs, confidence) } else { f64::INFINITY };
                let (lo, hi) = (worse * difference.mean - ci, worse * difference.mean + ci);
                let allowed = tolerance * b.abs();
                let verdict = if lo > allowed || more_often(lost_values, gained_values, confidence) {
                    Verdict::Regressed
                } else if hi < -allowed || more_often(gained_values, lost_values, confidence) {
                    Verdict::Improved
                } else {
                    Verdict::NoSignificantChange
                };
                let relative = (b != 0.0 && b.is_finite()).then(|| difference.mean / b.abs());
                (
                    f.to_owned(),
                    FigureChange {
                        baseline: b,
                        candidate: c,
                        difference,
                        ci_simultaneous: ci,
                        relative,
                        lost_values,
                        gained_values,
                        verdict,
                    },
                )
            })
            .collect();
        variants.push(VariantComparison {
            variant: v.clone(),
            seeds: pairs.len(),
            unpaired: base[v.as_str()].len() - pairs.len(),
            inconclusive: pairs.iter().filter(|(b, c)| b.status != "ok" || c.status != "ok").count(),
            figures,
        });
    }
    if variants.is_empty() {
        return Err(format!(
            "no variant in common: the baseline ran {}, the candidate {}",
            base_order.join(", "),
            cand_order.join(", ")
        ));
    }
    let regressed = variants
        .iter()
        .any(|v| v.figures.iter().any(|(f, c)| c.verdict == Verdict::Regressed && gated.iter().any(|g| g == f)));
    let side = |rs: &[SeedRecord]| Side {
        scenario: rs.first().map(|r| r.scenario.clone()).unwrap_or_default(),
        records: rs.len(),
        sim_revision: rs.first().and_then(|r| r.sim_revision),
    };
    Ok(Comparison {
        // 2: a latency where nothing succeeded has no value (`lost_values`), where it was 0.
        schema_version: 2,
        baseline: side(baseline),
        candidate: side(candidate),
        tolerance,
        gated,
        comparisons,
        confidence,
        variants,
        unmatched,
        dropped,
        regressed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_models::report::{LatencySummary, Requests};

    fn record(variant: &str, seed: u64, ok: u64, p99: f64) -> SeedRecord {
        SeedRecord {
            scenario: "s".into(),
            set: Vec::new(),
            vary: Vec::new(),
            variant: variant.into(),
            seed,
            status: "ok".into(),
            trace_hash: String::new(),
            events: 0,
            requests: Requests { total: 100, ok, failed: 100 - ok, timed_out: 0 },
            latency_ms: LatencySummary { p99: Some(p99), ..LatencySummary::default() },
            anomalies: BTreeMap::new(),
            latency_buckets: vec![],
            expect: vec![],
            window_ms: 0.0,
            ok_per_window: vec![],
            failed_per_window: vec![],
            p99_ms_per_window: vec![],
            faults: vec![],
            sim_revision: Some(1),
            scenario_name: Some("s".into()),
            fingerprint: Some("0000000000000001".into()),
            end_ms: None,
            plan: None,
        }
    }

    /// Seeds 1..=n with a small seed-dependent wobble, p99 shifted by `dp99`, ok by `dok`.
    fn side(n: u64, dok: i64, dp99: f64) -> Vec<SeedRecord> {
        (1..=n).map(|s| record("v", s, (90 + (s % 3) as i64 + dok) as u64, 100.0 + (s % 5) as f64 + dp99)).collect()
    }

    /// Compare pairs runs of one scenario: two versions of it (an edit moves the fingerprint)
    /// are compared, two scenarios are refused, whatever their files are called.
    #[test]
    fn sides_of_two_scenarios_are_refused_and_two_versions_of_one_compared() {
        let base = side(10, 0, 0.0);
        let edited: Vec<SeedRecord> =
            side(10, 0, 5.0).into_iter().map(|r| SeedRecord { fingerprint: Some("2".into()), ..r }).collect();
        assert!(compare(&base, &edited, &[], 0.0).unwrap().regressed);
        let other: Vec<SeedRecord> =
            base.iter().cloned().map(|r| SeedRecord { scenario_name: Some("t".into()), ..r }).collect();
        let err = compare(&base, &other, &[], 0.0).unwrap_err();
        assert!(err.contains("scenario `s`, the candidate of `t`"), "{err}");
        // Records of builds before records named their scenario cannot be told apart: compared.
        let old: Vec<SeedRecord> =
            other.into_iter().map(|r| SeedRecord { scenario_name: None, fingerprint: None, ..r }).collect();
        assert!(compare(&base, &old, &[], 0.0).is_ok());
    }

    fn verdict(c: &Comparison, f: &str) -> Verdict {
        c.variants[0].figures[f].verdict
    }

    #[test]
    fn a_worse_candidate_regresses_and_a_better_one_improves() {
        let base = side(20, 0, 0.0);
        let worse = compare(&base, &side(20, -2, 5.0), &[], 0.0).unwrap();
        assert_eq!(
            (verdict(&worse, "latency_p99_ms"), verdict(&worse, "success_rate")),
            (Verdict::Regressed, Verdict::Regressed)
        );
        assert!(worse.regressed);
        let d = &worse.variants[0].figures["latency_p99_ms"];
        assert_eq!((d.difference.mean, d.difference.ci95, d.difference.n), (5.0, 0.0, 20));
        let better = compare(&base, &side(20, 1, -5.0), &[], 0.0).unwrap();
        assert_eq!(
            (verdict(&better, "latency_p99_ms"), verdict(&better, "success_rate")),
            (Verdict::Improved, Verdict::Improved)
        );
        assert!(!better.regressed);
        let same = compare(&base, &base, &[], 0.0).unwrap();
        assert!(same.variants[0].figures.values().all(|c| c.verdict == Verdict::NoSignificantChange));
    }

    #[test]
    fn a_candidate_where_nothing_succeeds_regresses_its_latency_too() {
        // Down on every seed: no latency at all. Read as 0 ms, it was a 100% improvement.
        let base = side(20, 0, 0.0);
        let mut down = side(20, -90, 0.0);
        for r in &mut down {
            r.latency_ms = LatencySummary::default();
        }
        let gated = compare(&base, &down, &["latency_p99_ms".into()], 0.0).unwrap();
        let p99 = &gated.variants[0].figures["latency_p99_ms"];
        assert_eq!((p99.verdict, p99.lost_values, p99.difference.n), (Verdict::Regressed, 20, 0));
        assert!(gated.regressed);
        // Down on one seed only: no evidence on its own (a fair coin lands that way half the
        // time), and the seeds where both have a value are compared as usual.
        let mut one = base.clone();
        one[3].latency_ms = LatencySummary::default();
        let c = compare(&base, &one, &[], 0.0).unwrap();
        let p99 = &c.variants[0].figures["latency_p99_ms"];
        assert_eq!((p99.verdict, p99.lost_values, p99.difference.n), (Verdict::NoSignificantChange, 1, 19));
        // Down on 12 of 20 seeds, up on none: p = 2^-12, under (1 − 99.17%) / 2 for k = 6.
        let mut many = base.clone();
        many[..12].iter_mut().for_each(|r| r.latency_ms = LatencySummary::default());
        let c = compare(&base, &many, &[], 0.0).unwrap();
        let p99 = &c.variants[0].figures["latency_p99_ms"];
        assert_eq!((p99.verdict, p99.lost_values, p99.gained_values), (Verdict::Regressed, 12, 0));
        // ... and the mirror is an improvement.
        let c = compare(&many, &base, &[], 0.0).unwrap();
        let p99 = &c.variants[0].figures["latency_p99_ms"];
        assert_eq!((p99.verdict, p99.lost_values, p99.gained_values), (Verdict::Improved, 0, 12));
        // As many lost as gained (two sweeps that do not share random numbers, where seeds
        // without a success are common): no change.
        let mut swapped = many.clone();
        swapped[12..].iter_mut().for_each(|r| r.latency_ms = LatencySummary::default());
        swapped[..8].clone_from_slice(&base[..8]);
        let c = compare(&many, &swapped, &[], 0.0).unwrap();
        let p99 = &c.variants[0].figures["latency_p99_ms"];
        assert_eq!((p99.verdict, p99.lost_values, p99.gained_values), (Verdict::NoSignificantChange, 8, 8));
    }

    #[test]
    fn the_sign_test_is_exact() {
        // One-sided P(X ≥ k) for X ~ Binomial(n, 1/2) against (1 − confidence) / 2.
        assert!(more_often(5, 0, 1.0 - 2.0 * 0.0313)); // 2^-5 = 0.03125
        assert!(!more_often(5, 0, 1.0 - 2.0 * 0.0312));
        assert!(!more_often(0, 0, 0.0));
        // P(X ≥ 9 | n = 10) = 11/1024 = 0.01074.
        assert!(more_often(9, 1, 1.0 - 2.0 * 0.01075) && !more_often(9, 1, 1.0 - 2.0 * 0.01074));
        // Large n stays finite: 600 of 1000 is far beyond chance.
        assert!(more_often(600, 400, 1.0 - 2.0 * 1e-9) && !more_often(500, 500, 0.5));
    }

    #[test]
    fn noise_within_its_interval_or_the_tolerance_is_no_regression() {
        let base = side(20, 0, 0.0);
        // +1 ms on half the seeds, −1 ms on the others: mean 0, an interval around it.
        let mut noisy = base.clone();
        for r in &mut noisy {
            r.latency_ms.p99 = r.latency_ms.p99.map(|p| p + if r.seed % 2 == 0 { 1.0 } else { -1.0 });
        }
        assert_eq!(verdict(&compare(&base, &noisy, &[], 0.0).unwrap(), "latency_p99_ms"), Verdict::NoSignificantChange);
        // +5 ms on a mean of ~102 ms is about 4.9%: a regression at 0% or 4%, not at 5%.
        let worse = side(20, 0, 5.0);
        assert!(compare(&base, &worse, &[], 0.04).unwrap().regressed);
        assert!(!compare(&base, &worse, &[], 0.05).unwrap().regressed);
        // Gated on the success rate only, a latency regression does not fail the gate.
        let gated = compare(&base, &worse, &["success_rate".into()], 0.0).unwrap();
        assert_eq!(verdict(&gated, "latency_p99_ms"), Verdict::Regressed);
        assert!(!gated.regressed);
    }

    /// Records of three variants × `seeds` seeds whose figures are noisy around fixed means, as
    /// two sweeps that share no random numbers give: a latency factor common to a run's figures
    /// (they move together, as in a real run) plus each figure's own noise.
    fn noisy_sweep(rng: &mut faultline_sim::rng::Stream, seeds: u64, p99_shift: f64) -> Vec<SeedRecord> {
        let mut normal = || {
            let (u, v) = (rng.open01(), rng.f64());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let mut out = Vec::new();
        for variant in ["a", "b", "c"] {
            for seed in 1..=seeds {
                let g = normal();
                let mut r = record(variant, seed, 0, 0.0);
                let ok = (950.0 + 10.0 * g + 5.0 * normal()).round() as u64;
                let timed_out = (20.0 - 5.0 * g + 3.0 * normal()).round().max(0.0) as u64;
                r.requests = Requests { total: 1100, ok, failed: 1100 - ok - timed_out, timed_out };
                r.latency_ms = LatencySummary {
                    mean: Some(50.0 + 5.0 * g + 2.0 * normal()),
                    p50: Some(40.0 + 3.0 * g + 2.0 * normal()),
                    p99: Some(200.0 + 30.0 * g + 20.0 * normal() + if variant == "b" { p99_shift } else { 0.0 }),
                    p999: Some(400.0 + 50.0 * g + 60.0 * normal()),
                    ..LatencySummary::default()
                };
                out.push(r);
            }
        }
        out
    }

    #[test]
    fn a_candidate_that_changed_nothing_fails_the_gate_at_most_five_percent_of_the_time() {
        // 2 000 A/A comparisons of two independent noisy sweeps (3 variants × 6 figures = 18
        // gated comparisons of 20 seeds each). The gate's false alarms are binomial: at the
        // promised 5% their standard error over 2 000 trials is 0.49%, so 6.5% is 3 SE above.
        let mut rng = faultline_sim::rng::Stream::new(7, "compare-aa");
        let (trials, mut alarms, mut plain_alarms) = (2000, 0, 0);
        for _ in 0..trials {
            let (base, cand) = (noisy_sweep(&mut rng, 20, 0.0), noisy_sweep(&mut rng, 20, 0.0));
            let c = compare(&base, &cand, &[], 0.0).unwrap();
            assert_eq!((c.comparisons, c.variants.len()), (18, 3));
            alarms += usize::from(c.regressed);
            // What a plain 95% interval per figure would have said.
            plain_alarms += usize::from(c.variants.iter().any(|v| {
                v.figures.iter().any(|(f, ch)| {
                    let worse = if higher_is_better(f) { -1.0 } else { 1.0 };
                    worse * ch.difference.mean - ch.difference.ci95 > 0.0
                })
            }));
        }
        let (rate, plain) = (alarms as f64 / trials as f64, plain_alarms as f64 / trials as f64);
        assert!(rate <= 0.065, "false alarms {rate}");
        // The uncorrected rule is what the correction is for: it fails far more often.
        assert!(plain > 0.12, "uncorrected false alarms {plain}");
        // And the gate still sees a real change: p99 of one variant up by two of its standard
        // deviations (about 6 standard errors of a 20-seed difference).
        let caught = (0..200)
            .filter(|_| {
                let (base, cand) = (noisy_sweep(&mut rng, 20, 0.0), noisy_sweep(&mut rng, 20, 72.0));
                compare(&base, &cand, &[], 0.0).unwrap().variants[1].figures["latency_p99_ms"].verdict
                    == Verdict::Regressed
            })
            .count();
        assert!(caught >= 190, "caught {caught} of 200");
    }

    #[test]
    fn intervals_are_students_t_at_the_level_asked() {
        // Five values with standard error 1 (sd √5): t quantiles of 4 degrees of freedom from
        // tables, 2.776 (95%) and 4.604 (99%), and of 1 degree, 12.706 (95%).
        let xs = [-2.0, -1.0, 0.0, 1.0, 2.0].map(|x: f64| x * (5.0f64 / 2.5).sqrt());
        assert!((half_width(&xs, 0.95) - 2.776).abs() < 1e-3, "{}", half_width(&xs, 0.95));
        assert!((half_width(&xs, 0.99) - 4.604).abs() < 1e-3, "{}", half_width(&xs, 0.99));
        assert!((half_width(&[0.0, 2.0], 0.95) - 12.706).abs() < 1e-3);
        assert_eq!(half_width(&[3.0, 3.0, 3.0], 0.999), 0.0);
        // Three gated figures of one variant: each interval at 1 − 0.05/3.
        let c = compare(
            &side(10, 0, 0.0),
            &side(10, 0, 1.0),
            &["latency_p99_ms".into(), "success_rate".into(), "timed_out".into()],
            0.0,
        )
        .unwrap();
        assert_eq!(c.comparisons, 3);
        assert!((c.confidence - (1.0 - 0.05 / 3.0)).abs() < 1e-12);
    }

    #[test]
    fn only_common_variants_and_seeds_are_paired() {
        let mut base = side(10, 0, 0.0);
        base.push(record("old-only", 1, 90, 100.0));
        let mut cand = side(20, 0, 0.0);
        cand.push(record("new-only", 1, 90, 100.0));
        let c = compare(&base, &cand, &[], 0.0).unwrap();
        assert_eq!((c.variants.len(), c.variants[0].seeds), (1, 10));
        assert_eq!(c.unmatched, ["old-only", "new-only"]);
        // The baseline's variant the candidate dropped fails the gate; a new one does not.
        assert_eq!(c.dropped, ["old-only"]);
        assert!(!c.regressed && c.failed());
        assert_eq!(c.variants[0].unpaired, 0);
        let c = compare(&cand, &base, &[], 0.0).unwrap();
        assert_eq!(c.dropped, ["new-only"]);
        // The candidate ran 10 of the baseline's 20 seeds.
        assert_eq!(c.variants[0].unpaired, 10);
    }

    #[test]
    fn bad_requests_are_errors() {
        let base = side(10, 0, 0.0);
        assert!(compare(&base, &base, &["p99".into()], 0.0).unwrap_err().contains("unknown figure `p99`"));
        let twice = ["timed_out".to_owned(), "success_rate".into(), "timed_out".into()];
        assert_eq!(compare(&base, &base, &twice, 0.0).unwrap_err(), "figure `timed_out` is named twice");
        assert!(compare(&base, &base, &[], 1.5).unwrap_err().contains("tolerance"));
        let other: Vec<SeedRecord> = base.iter().map(|r| SeedRecord { variant: "w".into(), ..r.clone() }).collect();
        assert!(compare(&base, &other, &[], 0.0).unwrap_err().contains("no variant in common"));
        assert!(compare(&base[..1], &base[..1], &[], 0.0).unwrap_err().contains("at least 2 seeds"));
    }
}
