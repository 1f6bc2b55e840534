//! Scenario expectations (`[[expect]]`): checks on a run's figures that CI can gate on.
//!
//! `check = "FIGURE OP NUMBER"`. A figure is a derived one (`success_rate`, `error_rate`,
//! `throughput_per_s`, `p50_ms` … `max_ms`) or the dotted path of any number in the run report
//! (`requests.failed`, `anomalies.stale_read` — an anomaly never seen counts 0 —,
//! `services.api.utilisation`, `databases.kv.consistency.convergence_ms`; elements of component
//! lists are named by their `name`). With `during = "FAULT"`, the figure is taken over the
//! windows of the run's time series in which that fault was active, with `between_s = [A, B]`
//! over the windows overlapping that span (only `success_rate`, `error_rate`,
//! `throughput_per_s`, and `p50_ms`/`p99_ms` as the worst window's).
//!
//! In a sweep, `over_seeds` says how seeds combine: `each` (every seed must pass) or `mean`
//! (the default: the 95% confidence interval of the mean over seeds must lie entirely on the
//! passing side — a statistical gate that a lucky seed cannot pass and an unlucky one cannot
//! fail).

use std::ops::Range;

use faultline_models::RunReport;
use faultline_models::report::anomaly_kinds;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ScenarioError;
use crate::schema::ExpectCfg;
use crate::sweep::Estimate;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Cmp {
    fn of(op: &str) -> Option<Cmp> {
        Some(match op {
            "<" => Cmp::Lt,
            "<=" => Cmp::Le,
            ">" => Cmp::Gt,
            ">=" => Cmp::Ge,
            "==" => Cmp::Eq,
            "!=" => Cmp::Ne,
            _ => return None,
        })
    }

    fn holds(self, v: f64, t: f64) -> bool {
        match self {
            Cmp::Lt => v < t,
            Cmp::Le => v <= t,
            Cmp::Gt => v > t,
            Cmp::Ge => v >= t,
            Cmp::Eq => v == t,
            Cmp::Ne => v != t,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverSeeds {
    Each,
    Mean,
}

impl OverSeeds {
    pub fn name(self) -> &'static str {
        match self {
            OverSeeds::Each => "each",
            OverSeeds::Mean => "mean",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expectation {
    /// As written.
    pub check: String,
    pub figure: String,
    pub cmp: Cmp,
    pub threshold: f64,
    pub during: Option<String>,
    /// `between_s`, in ms.
    pub between: Option<(f64, f64)>,
    /// `None`: every variant.
    pub variants: Option<Vec<String>>,
    pub over_seeds: OverSeeds,
}

/// One expectation's outcome on one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub check: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub during: Option<String>,
    /// The figure's value (`None`: the report has no value for it, e.g. a database that had
    /// not converged, or a fault that never started).
    pub value: Option<f64>,
    pub passed: bool,
}

/// What a report skeleton says of a figure's path, from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Found {
    Number,
    NotNumber,
    UnknownAnomaly,
    Missing,
}

fn find(skeleton: &Value, figure: &str) -> Found {
    match lookup(skeleton, figure) {
        Some(Value::Number(_) | Value::Null) => Found::Number,
        Some(_) => Found::NotNumber,
        // An anomaly never seen is absent from the report, and counts 0; a kind that does not
        // exist (a typo such as `stale_reads`) would then pass every check.
        None if figure.strip_prefix("anomalies.").is_some_and(|k| anomaly_kinds().any(|a| a == k)) => Found::Number,
        None if figure.starts_with("anomalies.") => Found::UnknownAnomaly,
        None => Found::Missing,
    }
}

const DERIVED: &[&str] =
    &["success_rate", "error_rate", "throughput_per_s", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "mean_ms", "max_ms"];
const DURING: &[&str] = &["success_rate", "error_rate", "throughput_per_s", "p50_ms", "p99_ms"];

impl Expectation {
    /// Parses one `[[expect]]` table; `skeletons` are reports of the scenario (any run of it),
    /// one per variant in the order of `variants` (or one for all), to check that the figure
    /// exists in every variant the check applies to (a variant can add figures: a knob that a
    /// report shows only when set); `faults` and `variants` are the names that may be used.
    pub fn parse(
        cfg: &ExpectCfg,
        skeletons: &[Value],
        faults: &[String],
        variants: &[String],
        err: &mut dyn FnMut(Range<usize>, String, Option<String>),
    ) -> Option<Expectation> {
        let text = cfg.check.get_ref();
        let span = cfg.check.span();
        let grammar = "expected `FIGURE OP NUMBER`, e.g. `success_rate >= 0.99` or `anomalies.stale_read == 0`";
        let Some([figure, op, number]) = split_check(text) else {
            err(span, grammar.to_owned(), Some("OP is one of < <= > >= == !=".to_owned()));
            return None;
        };
        let Some(cmp) = Cmp::of(op) else {
            err(span, format!("unknown comparison `{op}`"), Some("expected one of < <= > >= == !=".to_owned()));
            return None;
        };
        let Some(threshold) = number.parse::<f64>().ok().filter(|x| x.is_finite()) else {
            err(span, format!("expected a finite number after `{op}`, found `{number}`"), None);
            return None;
        };
        if matches!(figure, "success_rate" | "error_rate") && !(0.0..=1.0).contains(&threshold) {
            // The summary shows these as percentages; a check of `>= 99` could never pass.
            err(
                span,
                format!(
                    "`{figure}` is a fraction from 0 to 1, not a percentage: {} is out of range",
                    crate::compile::short(threshold)
                ),
                Some(format!("e.g. `{figure} {op} {}`", crate::compile::short(threshold / 100.0))),
            );
            return None;
        }
        let mut during = cfg.during.as_ref().map(|d| d.get_ref().clone());
        let mut between = None;
        if let Some(b) = &cfg.between_s {
            let [from, to] = *b.get_ref();
            if cfg.during.is_some() {
                err(b.span(), "give `during` or `between_s`, not both".to_owned(), None);
                return None;
            }
            if !(from >= 0.0 && to > from) {
                err(b.span(), format!("expected `[FROM, TO]` seconds with 0 ≤ FROM < TO, found [{from}, {to}]"), None);
                return None;
            }
            if !DURING.contains(&figure) {
                err(
                    span,
                    format!("`{figure}` cannot be taken over a time span"),
                    Some(format!("with `between_s`: {}", DURING.join(", "))),
                );
                return None;
            }
            between = Some((from * 1000.0, to * 1000.0));
            during = Some(format!("{from}–{to} s"));
        }
        if let Some(d) = &cfg.during {
            if !faults.contains(d.get_ref()) {
                err(
                    d.span(),
                    format!("no fault named `{}`", d.get_ref()),
                    Some(format!("faults: {}", faults.join(", "))),
                );
                return None;
            }
            if !DURING.contains(&figure) {
                err(
                    span,
                    format!("`{figure}` cannot be taken `during` a fault"),
                    Some(format!("with `during`: {}", DURING.join(", "))),
                );
                return None;
            }
        }
        let mut only = None;
        if let Some(vs) = &cfg.variants {
            if vs.get_ref().is_empty() {
                // It would apply to no variant, and pass in silence.
                err(
                    vs.span(),
                    "`variants = []` applies to no variant".to_owned(),
                    Some(format!("name some of: {} (or leave `variants` out: all)", variants.join(", "))),
                );
                return None;
            }
            let vs = vs.get_ref();
            for v in vs {
                if !variants.contains(v.get_ref()) {
                    err(
                        v.span(),
                        format!("no variant named `{}`", v.get_ref()),
                        Some(format!("variants: {}", variants.join(", "))),
                    );
                    return None;
                }
            }
            only = Some(vs.iter().map(|v| v.get_ref().clone()).collect::<Vec<_>>());
        }
        if during.is_none() && !DERIVED.contains(&figure) {
            // The reports of the variants it applies to: each must have the figure.
            let applies =
                |i: usize| only.as_ref().is_none_or(|o: &Vec<String>| variants.get(i).is_some_and(|v| o.contains(v)));
            // Per skeleton, what it says of the figure, and its variant's name if it has its own.
            let all: Vec<(Option<&String>, Found)> = skeletons
                .iter()
                .enumerate()
                .map(|(i, sk)| (variants.get(i).filter(|_| skeletons.len() > 1), find(sk, figure)))
                .collect();
            let found: Vec<&(Option<&String>, Found)> =
                all.iter().enumerate().filter(|&(i, _)| skeletons.len() == 1 || applies(i)).map(|(_, f)| f).collect();
            let missing: Vec<&String> =
                found.iter().filter(|(_, f)| *f == Found::Missing).filter_map(|(v, _)| *v).collect();
            let worst = found.iter().map(|(_, f)| *f).max().unwrap_or(Found::Number);
            let has: Vec<&str> =
                all.iter().filter(|(_, f)| *f != Found::Missing).filter_map(|(v, _)| v.map(String::as_str)).collect();
            match worst {
                Found::Number => {}
                Found::NotNumber => {
                    err(
                        span,
                        format!("`{figure}` is not a number in the run report"),
                        Some("name a numeric field, e.g. `services.api.utilisation`".to_owned()),
                    );
                    return None;
                }
                Found::UnknownAnomaly => {
                    err(
                        span,
                        format!("no anomaly kind `{}`", &figure["anomalies.".len()..]),
                        Some(format!("expected one of: {}", anomaly_kinds().collect::<Vec<_>>().join(", "))),
                    );
                    return None;
                }
                // Some variants' reports have it (whether the check applies to them or not).
                Found::Missing if !missing.is_empty() && !has.is_empty() => {
                    let names = missing.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ");
                    err(
                        span,
                        format!(
                            "no figure `{figure}` in the run report of {} {names}",
                            if missing.len() == 1 { "variant" } else { "variants" }
                        ),
                        Some(format!(
                            "a variant's knobs can add figures; the reports that have it are those of `variants = [\"{}\"]`",
                            has.join("\", \"")
                        )),
                    );
                    return None;
                }
                Found::Missing => {
                    err(
                        span,
                        format!("no figure `{figure}` in the run report"),
                        Some(format!(
                            "a derived figure ({}) or a dotted path into the report (docs/cli.md)",
                            DERIVED.join(", ")
                        )),
                    );
                    return None;
                }
            }
        }
        let over_seeds = match cfg.over_seeds.as_ref().map(|o| (o.get_ref().as_str(), o.span())) {
            None | Some(("mean", _)) => OverSeeds::Mean,
            Some(("each", _)) => OverSeeds::Each,
            Some((other, s)) => {
                err(s, format!("unknown value `{other}`"), Some("expected one of: each, mean".to_owned()));
                return None;
            }
        };
        Some(Expectation {
            check: text.clone(),
            figure: figure.to_owned(),
            cmp,
            threshold,
            during,
            between,
            variants: only,
            over_seeds,
        })
    }

    pub fn applies_to(&self, variant: &str) -> bool {
        self.variants.as_ref().is_none_or(|v| v.iter().any(|x| x == variant))
    }

    pub fn holds(&self, v: Option<f64>) -> bool {
        v.is_some_and(|v| self.cmp.holds(v, self.threshold))
    }

    /// The figure's value in a run (`report` and the same report as JSON).
    pub fn value(&self, report: &RunReport, json: &Value) -> Option<f64> {
        if let Some((from, to)) = self.between {
            return windowed(report, from, to, &self.figure);
        }
        if let Some(fault) = &self.during {
            let start = report.faults.iter().find(|f| f.name == *fault && f.phase == "start")?.t_ms;
            let end = report
                .faults
                .iter()
                .find(|f| f.name == *fault && f.phase == "end" && f.t_ms >= start)
                .map_or(f64::INFINITY, |f| f.t_ms);
            return windowed(report, start, end, &self.figure);
        }
        let q = &report.requests;
        let l = &report.latency_ms;
        let rate = |n: u64| if q.total == 0 { None } else { Some(n as f64 / q.total as f64) };
        match self.figure.as_str() {
            "success_rate" => rate(q.ok),
            "error_rate" => rate(q.failed + q.timed_out),
            "throughput_per_s" => Some(q.ok as f64 / (report.sim_time_ns as f64 / 1e9).max(1e-9)),
            // No value when no request succeeded (a total outage has no latency).
            "p50_ms" => l.p50,
            "p90_ms" => l.p90,
            "p99_ms" => l.p99,
            "p999_ms" => l.p999,
            "mean_ms" => l.mean,
            "max_ms" => l.max,
            path => match lookup(json, path) {
                Some(Value::Number(n)) => n.as_f64(),
                None if path.starts_with("anomalies.") => Some(0.0),
                _ => None,
            },
        }
    }

    pub fn verdict(&self, report: &RunReport, json: &Value) -> Verdict {
        let value = self.value(report, json);
        Verdict { check: self.check.clone(), during: self.during.clone(), value, passed: self.holds(value) }
    }

    /// Whether a sweep passes: `values` per seed; `mean` is their estimate.
    pub fn holds_over_seeds(&self, values: &[Option<f64>], mean: Option<&Estimate>) -> bool {
        match self.over_seeds {
            OverSeeds::Each => !values.is_empty() && values.iter().all(|&v| self.holds(v)),
            OverSeeds::Mean => {
                let Some(e) = mean else { return false };
                if values.iter().any(Option::is_none) {
                    return false;
                }
                // One seed has no interval (an infinite one): it cannot show that the mean is
                // on the passing side, so the gate fails rather than trusting a lucky seed.
                if !e.ci95.is_finite() {
                    return false;
                }
                let (lo, hi) = (e.mean - e.ci95, e.mean + e.ci95);
                match self.cmp {
                    Cmp::Lt | Cmp::Le => self.cmp.holds(hi, self.threshold),
                    Cmp::Gt | Cmp::Ge => self.cmp.holds(lo, self.threshold),
                    Cmp::Eq => lo == self.threshold && hi == self.threshold,
                    Cmp::Ne => !(lo <= self.threshold && self.threshold <= hi),
                }
            }
        }
    }
}

/// A check's text as `[FIGURE, OP, NUMBER]`, written with or without spaces around the
/// comparison (`p99_ms < 70`, `p99_ms<70`); `None` when it has another shape.
fn split_check(text: &str) -> Option<[&str; 3]> {
    if let [figure, op, number] = text.split_whitespace().collect::<Vec<_>>()[..] {
        return Some([figure, op, number]);
    }
    // Written without spaces around the comparison (`p99_ms<70`): split at it.
    let ops = ["<=", ">=", "==", "!=", "<", ">"];
    let (i, op) = ops.iter().find_map(|op| text.find(op).map(|i| (i, *op)))?;
    let (figure, number) = (text[..i].trim(), text[i + op.len()..].trim());
    (![figure, number].iter().any(|p| p.is_empty() || p.contains(' '))).then_some([figure, op, number])
}

/// `x` to `digits` significant digits, without trailing zeros; the digits before the point are
/// all kept (117337, not 117300: counts stay exact).
pub fn significant(x: f64, digits: i32) -> String {
    if !x.is_finite() || x == 0.0 {
        return if x == 0.0 { "0".to_owned() } else { format!("{x}") };
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { &s };
    if s == "-0" { "0".to_owned() } else { s.to_owned() }
}

/// What follows a figure's number in text: its unit (` ms` for a `…_ms` figure, `/s` for
/// throughput), and for a fraction from 0 to 1 (`success_rate`, `error_rate`, a `…_ratio`, a
/// `…utilisation`) the same as a percentage to `digits` significant digits (` (73.29%)`).
fn decoration(figure: &str, x: f64, digits: i32) -> String {
    let last = figure.rsplit('.').next().unwrap_or(figure);
    if last.ends_with("_ms") {
        " ms".to_owned()
    } else if last.ends_with("_per_s") {
        "/s".to_owned()
    } else if last.ends_with("_rate") || last.ends_with("_ratio") || last.ends_with("utilisation") {
        format!(" ({}%)", significant(x * 100.0, digits))
    } else {
        String::new()
    }
}

/// An expectation's figure as text (`120.4 ms`, `0.7329 (73.29%)`, `117337`): four
/// significant digits — more where fewer would round it onto its threshold or across it (a
/// failed `p99_ms < 70` never reads `70 ms`) — with its unit. JSON keeps every digit.
pub fn show_value(check: &str, x: f64) -> String {
    let Some([figure, op, number]) = split_check(check) else { return format!("{x}") };
    let (cmp, threshold) = (Cmp::of(op), number.parse::<f64>().ok());
    let mut digits = 4;
    let mut s = significant(x, digits);
    if let (Some(cmp), Some(t)) = (cmp, threshold) {
        while digits < 17 {
            let shown: f64 = s.parse().unwrap_or(x);
            if cmp.holds(shown, t) == cmp.holds(x, t) && (shown != t || x == t) {
                break;
            }
            digits += 1;
            s = significant(x, digits);
        }
    }
    format!("{s}{}", decoration(figure, x, digits))
}

/// An expectation's figure over seeds as text: the mean to four significant digits ± the half
/// width of its 95% interval to two (`53.94 ± 1.2 ms`, `0.7329 ± 0.012 (73.29% ± 1.2 pp)`);
/// `no value` without one, and no interval from one seed.
/// For a mean gate that fails although its mean passes: the end of the 95% interval that lies
/// on the failing side of the threshold (`None` otherwise). The message names it, or a reader
/// sees a passing mean beside FAIL.
pub fn crossing_bound(check: &str, e: &Estimate) -> Option<f64> {
    let [_, op, number] = split_check(check)?;
    let (cmp, t) = (Cmp::of(op)?, number.parse::<f64>().ok()?);
    if e.n < 2 || !e.ci95.is_finite() || !cmp.holds(e.mean, t) {
        return None;
    }
    [e.mean + e.ci95, e.mean - e.ci95].into_iter().find(|&b| !cmp.holds(b, t))
}

pub fn show_estimate(check: &str, e: &Estimate) -> String {
    let figure = split_check(check).map_or(check, |[f, _, _]| f);
    match e.n {
        0 => "no value".to_owned(),
        1 => format!("{} (one seed: no interval)", show_value(check, e.mean)),
        _ => {
            let (mean, ci) = (significant(e.mean, 4), significant(e.ci95, 2));
            match decoration(figure, e.mean, 4) {
                d if d.starts_with(" (") => {
                    format!(
                        "{mean} ± {ci} ({}% ± {} pp)",
                        significant(e.mean * 100.0, 4),
                        significant(e.ci95 * 100.0, 2)
                    )
                }
                unit => format!("{mean} ± {ci}{unit}"),
            }
        }
    }
}

/// `a.b.c` in a JSON value; array elements by their `name` (or index).
fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match cur {
            Value::Object(m) => m.get(part)?,
            Value::Array(items) => match part.parse::<usize>() {
                Ok(i) => items.get(i)?,
                Err(_) => items.iter().find(|it| it.get("name").and_then(Value::as_str) == Some(part))?,
            },
            _ => return None,
        };
    }
    Some(cur)
}

/// A figure over the windows overlapping `[start, end)` ms.
fn windowed(report: &RunReport, start: f64, end: f64, figure: &str) -> Option<f64> {
    let ts = &report.timeseries;
    let w = ts.window_ms;
    let windows: Vec<usize> = (0..ts.t_s.len())
        .filter(|&i| {
            let t0 = ts.t_s[i] * 1000.0;
            t0 < end && t0 + w > start
        })
        .collect();
    if windows.is_empty() {
        return None;
    }
    let ok: u64 = windows.iter().map(|&i| ts.ok[i]).sum();
    let bad: u64 = windows.iter().map(|&i| ts.failed[i] + ts.timed_out[i]).sum();
    let span_s = windows.len() as f64 * w / 1000.0;
    // The worst window with a success; no value when none had one.
    let worst = |v: &Vec<Option<f64>>| windows.iter().filter_map(|&i| v[i]).reduce(f64::max);
    match figure {
        "success_rate" if ok + bad > 0 => Some(ok as f64 / (ok + bad) as f64),
        "error_rate" if ok + bad > 0 => Some(bad as f64 / (ok + bad) as f64),
        "throughput_per_s" => Some(ok as f64 / span_s),
        "p50_ms" => worst(&ts.p50_ms),
        "p99_ms" => worst(&ts.p99_ms),
        _ => None,
    }
}

/// Errors for expectations, positioned in the scenario file.
pub(crate) fn error(file: &str, text: &str, span: Range<usize>, msg: String, help: Option<String>) -> ScenarioError {
    let e = ScenarioError::new(file, text, Some(span), msg);
    match help {
        Some(h) => e.with_help(h),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expectation(check: &str, over_seeds: OverSeeds) -> Expectation {
        let parts: Vec<&str> = check.split_whitespace().collect();
        let cmp = match parts[1] {
            "<" => Cmp::Lt,
            ">=" => Cmp::Ge,
            _ => Cmp::Eq,
        };
        Expectation {
            check: check.into(),
            figure: parts[0].into(),
            cmp,
            threshold: parts[2].parse().unwrap(),
            during: None,
            between: None,
            variants: None,
            over_seeds,
        }
    }

    #[test]
    fn the_mean_gate_needs_the_whole_confidence_interval_on_the_passing_side() {
        let e = expectation("success_rate >= 0.9", OverSeeds::Mean);
        let est = |mean, ci95| Estimate { mean, ci95, n: 10 };
        let values = vec![Some(0.95); 10];
        assert!(e.holds_over_seeds(&values, Some(&est(0.95, 0.04))));
        assert!(!e.holds_over_seeds(&values, Some(&est(0.95, 0.06))), "the interval reaches below 0.9");
        assert!(!e.holds_over_seeds(&[Some(0.95), None], Some(&est(0.95, 0.0))), "a seed without a value fails");
        let e = expectation("p99_ms < 300", OverSeeds::Mean);
        assert!(e.holds_over_seeds(&values, Some(&est(250.0, 40.0))));
        assert!(!e.holds_over_seeds(&values, Some(&est(250.0, 60.0))));
        let each = expectation("success_rate >= 0.9", OverSeeds::Each);
        assert!(!each.holds_over_seeds(&[Some(0.99), Some(0.89)], Some(&est(0.94, 0.0))), "one seed fails");
        assert!(each.holds_over_seeds(&[Some(0.99), Some(0.9)], None));
        // One seed has no interval: however good its figure, the mean gate cannot pass on it.
        let one = Estimate { mean: 50.0, ci95: f64::INFINITY, n: 1 };
        assert!(!e.holds_over_seeds(&[Some(50.0)], Some(&one)));
    }

    #[test]
    fn figures_are_shown_to_four_significant_digits_with_their_unit() {
        assert_eq!(show_value("p99_ms < 70", 120.389631), "120.4 ms");
        assert_eq!(show_value("success_rate >= 0.99", 0.7329219391552813), "0.7329 (73.29%)");
        assert_eq!(show_value("success_rate >= 0.99", 0.0), "0 (0%)");
        assert_eq!(show_value("error_rate < 0.5", 1.0), "1 (100%)");
        assert_eq!(show_value("throughput_per_s > 10", 512.345), "512.3/s");
        assert_eq!(show_value("services.api.utilisation < 0.9", 0.93), "0.93 (93%)");
        // Counts keep every digit; a figure without a unit gets none.
        assert_eq!(show_value("workloads.clients.retries > 0", 117337.0), "117337");
        assert_eq!(show_value("databases.kv.consistency.convergence_ms < 10", 0.000123456), "0.0001235 ms");
        // Rounding never puts a figure on its threshold, nor on its other side.
        assert_eq!(show_value("p99_ms < 70", 70.00004), "70.00004 ms");
        assert_eq!(show_value("success_rate >= 0.99", 0.98999), "0.98999 (98.999%)");
        assert_eq!(show_value("success_rate >= 0.99", 0.99), "0.99 (99%)");
        assert_eq!(show_value("p99_ms<70", 69.99999), "69.99999 ms");
        let est = |mean, ci95, n| Estimate { mean, ci95, n };
        assert_eq!(show_estimate("p99_ms < 70", &est(53.93612, 1.23456, 5)), "53.94 ± 1.2 ms");
        assert_eq!(
            show_estimate("success_rate >= 0.99", &est(0.7329219, 0.012345, 5)),
            "0.7329 ± 0.012 (73.29% ± 1.2 pp)"
        );
        assert_eq!(show_estimate("p99_ms < 70", &est(f64::NAN, f64::NAN, 0)), "no value");
        assert_eq!(show_estimate("p99_ms < 70", &est(53.93612, f64::INFINITY, 1)), "53.94 ms (one seed: no interval)");
        // A mean on the passing side whose interval crosses the threshold: the crossing end.
        assert_eq!(crossing_bound("p99_ms < 117.3", &est(116.6, 1.1, 7)), Some(116.6 + 1.1));
        assert_eq!(crossing_bound("success_rate >= 0.99", &est(0.995, 0.01, 7)), Some(0.995 - 0.01));
        assert_eq!(crossing_bound("p99_ms < 117.3", &est(116.6, 0.5, 7)), None, "passes");
        assert_eq!(crossing_bound("p99_ms < 117.3", &est(118.0, 0.5, 7)), None, "the mean itself fails");
        assert_eq!(crossing_bound("p99_ms < 117.3", &est(116.6, f64::INFINITY, 1)), None, "one seed");
    }

    #[test]
    fn a_check_reads_the_same_with_or_without_spaces_around_its_comparison() {
        let skeleton = serde_json::to_value(empty_report()).unwrap();
        let parse = |check: &str| {
            let cfg: crate::schema::ExpectCfg = toml::from_str(&format!("check = {check:?}")).unwrap();
            let mut errors = Vec::new();
            let e = Expectation::parse(&cfg, std::slice::from_ref(&skeleton), &[], &[], &mut |_, m, _| errors.push(m));
            (e.map(|e| (e.figure, e.cmp, e.threshold)), errors)
        };
        for check in ["p99_ms<70", "p99_ms < 70", " p99_ms   <70"] {
            assert_eq!(parse(check), (Some(("p99_ms".to_owned(), Cmp::Lt, 70.0)), vec![]), "{check}");
        }
        assert_eq!(parse("success_rate>=0.9").0, Some(("success_rate".to_owned(), Cmp::Ge, 0.9)));
        for bad in ["p99_ms < NaN", "p99_ms < -inf", "p99_ms =< 3", "p99_ms", "success_rate >= 99", "error_rate < -0.1"]
        {
            let (e, errors) = parse(bad);
            assert!(e.is_none() && errors.len() == 1, "{bad}: {errors:?}");
        }
    }

    #[test]
    fn latency_without_a_success_has_no_value_so_its_checks_fail() {
        // A run where no request succeeded: its latencies are none, not 0 ms, which would pass
        // `p99_ms < 100` on a total outage.
        let mut report = empty_report();
        report.requests = faultline_models::report::Requests { total: 10, ok: 0, failed: 10, timed_out: 0 };
        let v = serde_json::to_value(&report).unwrap();
        for check in ["p99_ms < 100", "p50_ms < 100", "max_ms == 0", "mean_ms < 1"] {
            let e = expectation(check, OverSeeds::Each);
            assert_eq!((e.value(&report, &v), e.holds(e.value(&report, &v))), (None, false), "{check}");
        }
        // Over windows: the worst window that had a success; none had one, no value.
        let ts = &mut report.timeseries;
        (ts.window_ms, ts.t_s, ts.ok, ts.failed, ts.timed_out) =
            (1000.0, vec![0.0, 1.0], vec![0, 3], vec![5, 0], vec![0, 0]);
        (ts.p50_ms, ts.p99_ms) = (vec![None, Some(4.0)], vec![None, Some(9.0)]);
        assert_eq!(windowed(&report, 0.0, 2000.0, "p99_ms"), Some(9.0));
        assert_eq!(windowed(&report, 0.0, 1000.0, "p99_ms"), None, "the first window had no success");
        assert_eq!(windowed(&report, 0.0, 1000.0, "success_rate"), Some(0.0));
    }

    #[test]
    fn paths_name_array_elements_by_name_and_missing_anomalies_count_zero() {
        let v: Value =
            serde_json::json!({"services": [{"name": "a", "x": 1.5}, {"name": "b", "x": 2}], "anomalies": {}});
        assert_eq!(lookup(&v, "services.b.x"), Some(&serde_json::json!(2)));
        assert_eq!(lookup(&v, "services.0.x"), Some(&serde_json::json!(1.5)));
        assert_eq!(lookup(&v, "services.c.x"), None);
        let e = expectation("anomalies.lost_update == 0", OverSeeds::Each);
        let report = empty_report();
        assert_eq!(e.value(&report, &v), Some(0.0));
    }

    fn empty_report() -> RunReport {
        let spec = faultline_models::WorldSpec::empty(faultline_sim::Topology::default(), 1, 1);
        let w = faultline_models::World::new(&spec, 1, faultline_sim::Budget::default());
        RunReport::build(&w, "x", "y")
    }
}
