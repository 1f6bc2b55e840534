//! Shrinking a failing run: remove faults, shorten them, weaken them, cut the workload and the
//! number of nodes — keeping each change only while the same check still fails — and hand back
//! the smallest case as a replay file and a ready-to-paste Rust test.
//!
//! The search is greedy and deterministic (a fixed order of passes, repeated until none makes
//! progress or the run budget is spent), so shrinking the same case twice gives the same result.
//! Fault removal goes by halves, then quarters, … then one at a time (delta debugging), so a
//! timeline of dozens of faults reduces in a few dozen runs.
//!
//! Cuts edit the scenario file, so the variant is first folded into it ([`fold_variant`]):
//! a cut of the base scenario would do nothing to a field the variant sets.

use faultline_models::RunReport;

use crate::expect::Expectation;
use crate::replay::Replay;
use crate::testing::{self, Fault};
use crate::{Scenario, ScenarioError, ScenarioErrors};

/// A check that fails: the expectation that must hold and does not.
#[derive(Clone, Debug)]
pub struct Failing {
    pub scenario: Scenario,
    pub variant: String,
    pub seed: u64,
    pub check: Expectation,
}

#[derive(Clone, Debug)]
pub struct Shrunk {
    pub failing: Failing,
    pub faults_before: usize,
    pub faults_after: usize,
    /// Runs made while shrinking.
    pub runs: usize,
    /// What each kept change did, in order.
    pub steps: Vec<String>,
    /// The figure of the check in the shrunk run.
    pub value: Option<f64>,
}

/// An expectation given as text (`FIGURE OP NUMBER`), checked against the scenario's `variant`
/// (the first when `None`): its figures and faults, which another variant may not have.
pub fn parse_check(
    sc: &Scenario,
    variant: Option<&str>,
    check: &str,
    during: Option<&str>,
) -> Result<Expectation, ScenarioErrors> {
    parse_check_in(sc, variant, check, during, None)
}

/// [`parse_check`] over `between_s = [FROM, TO]` seconds instead of a fault's span when given.
fn parse_check_in(
    sc: &Scenario,
    variant: Option<&str>,
    check: &str,
    during: Option<&str>,
    between_s: Option<(f64, f64)>,
) -> Result<Expectation, ScenarioErrors> {
    let mut t = toml::Table::new();
    t.insert("check".into(), check.into());
    if let Some(d) = during {
        t.insert("during".into(), d.into());
    }
    if let Some((from, to)) = between_s {
        t.insert("between_s".into(), toml::Value::Array(vec![from.into(), to.into()]));
    }
    let text = toml::to_string(&t).expect("serialises");
    let cfg: crate::schema::ExpectCfg = toml::from_str(&text)
        .map_err(|e| ScenarioErrors::from(ScenarioError::new("--check", check, None, e.message().to_owned())))?;
    let c = sc.variant(variant).map_err(|m| ScenarioErrors::from(ScenarioError::new("--check", check, None, m)))?;
    let world = faultline_models::World::new(c.spec, 0, faultline_sim::Budget::default());
    let skeleton = serde_json::to_value(RunReport::build(&world, &sc.name, c.variant)).expect("serialises");
    let faults: Vec<String> = c.spec.faults.iter().map(|f| f.name.clone()).collect();
    let variants: Vec<String> = sc.variants.iter().map(|v| v.name.clone()).collect();
    let mut errors = Vec::new();
    let mut err = |_span, msg: String, help: Option<String>| {
        let e = ScenarioError::new("--check", check, None, msg);
        errors.push(match help {
            Some(h) => e.with_help(h),
            None => e,
        });
    };
    match Expectation::parse(&cfg, std::slice::from_ref(&skeleton), &faults, &variants, &mut err) {
        Some(e) if errors.is_empty() => Ok(e),
        _ => Err(ScenarioErrors { file: "--check".into(), errors }),
    }
}

impl Failing {
    /// The check's figure in a run of this case, and whether it fails. A run that cannot be
    /// made (a budget) does not count as failing the same way.
    pub fn evaluate(&self, sc: &Scenario) -> Option<(bool, Option<f64>)> {
        let out = testing::run(sc, Some(&self.variant), self.seed).ok()?;
        let v = self.judge(&out.report);
        Some((!self.check.holds(v), v))
    }

    /// The check's figure in `report`.
    fn judge(&self, report: &RunReport) -> Option<f64> {
        let json = serde_json::to_value(report).expect("a report serialises");
        self.check.value(report, &json)
    }

    /// The case as a replay file.
    pub fn replay(&self) -> Replay {
        let mut r = Replay::new(&self.scenario, &self.variant, self.seed);
        if let Ok(out) = testing::run(&self.scenario, Some(&self.variant), self.seed) {
            (r.trace_hash, r.events) = (Some(out.report.trace_hash), Some(out.report.events));
        }
        r
    }
}

/// `failing`'s scenario with its variant folded in: the variant's `set` written into the
/// document, which keeps that one variant (named as before, with nothing left to set) and, of
/// the expectations, only the check's own. Every cut then edits the value the run uses — on
/// the base scenario, a cut of a field the variant sets would be overridden and do nothing —
/// and no other variant's `set` or expectation can make a cut invalid (a removed fault named
/// by one, say). A scenario without variants is left as it is.
pub fn fold_variant(failing: &Failing) -> Result<Scenario, ScenarioErrors> {
    let check = &failing.check;
    testing::edit(&failing.scenario, |doc| {
        let named = |v: &toml::Value| v.get("name").and_then(toml::Value::as_str) == Some(failing.variant.as_str());
        // No such variant: left for the first run to say so.
        if let Some(toml::Value::Array(variants)) = doc.get("variant")
            && let Some(toml::Value::Table(ours)) = variants.iter().find(|v| named(v))
        {
            let mut ours = ours.clone();
            doc.remove("variant");
            // In the order `apply_variant` applies them (the same map, from the same text).
            if let Some(toml::Value::Table(set)) = ours.remove("set") {
                for (path, value) in set {
                    crate::set_path(doc, &path, value).expect("the variant's `set` applied when it was parsed");
                }
            }
            doc.insert("variant".into(), toml::Value::Array(vec![toml::Value::Table(ours)]));
        }
        if let Some(toml::Value::Array(expects)) = doc.get_mut("expect") {
            expects.retain(|e| is_check(e, check));
            // The one variant left is the one it failed in.
            expects.iter_mut().filter_map(toml::Value::as_table_mut).for_each(|e| {
                e.remove("variants");
            });
            if expects.is_empty() {
                doc.remove("expect");
            }
        }
    })
}

/// Whether an `[[expect]]` table is `check` (same figure and threshold, same span).
fn is_check(e: &toml::Value, check: &Expectation) -> bool {
    let num = testing::number;
    let between = e.get("between_s").and_then(toml::Value::as_array).and_then(|b| match &b[..] {
        [from, to] => Some((num(from)? * 1000.0, num(to)? * 1000.0)),
        _ => None,
    });
    e.get("check").and_then(toml::Value::as_str) == Some(check.check.as_str())
        && between == check.between
        && (check.between.is_some() || e.get("during").and_then(toml::Value::as_str) == check.during.as_deref())
}

/// Why [`shrink`] could not start: the case does not run, or does not fail.
#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    /// The case itself gives no run: an invalid scenario or variant, or a run that stops at
    /// its budget (what `faultline shrink` exits 3 for: a check cannot be judged on it).
    #[error(transparent)]
    Run(#[from] testing::RunError),
    /// The case runs, and its check holds.
    #[error("`{check}` does not fail on seed {seed}: nothing to shrink")]
    NotFailing { check: String, seed: u64 },
}

impl From<ScenarioErrors> for ShrinkError {
    fn from(e: ScenarioErrors) -> Self {
        ShrinkError::Run(e.into())
    }
}

/// Shrinks `failing` (which must fail) with at most `max_runs` runs. Shrinking works on the
/// case with its variant folded in ([`fold_variant`]), which the result holds. While shrinking,
/// a candidate that stops at its budget counts as not failing (it is not kept).
pub fn shrink(mut failing: Failing, max_runs: usize) -> Result<Shrunk, ShrinkError> {
    failing.scenario = fold_variant(&failing)?;
    let faults = testing::faults_of(&failing.scenario);
    let before = faults.len();
    // Name the faults as the format names unnamed ones (the same run): removing one then leaves
    // the others their names, hence their draws, even a later twin's (` #2`).
    if faults.iter().any(|f| !f.table.contains_key("name")) {
        failing.scenario = testing::with_faults(&failing.scenario, &faults)?;
    }
    let out = testing::run(&failing.scenario, Some(&failing.variant), failing.seed)?;
    let value = failing.judge(&out.report);
    if failing.check.holds(value) {
        return Err(ShrinkError::NotFailing { check: failing.check.check.clone(), seed: failing.seed });
    }
    let mut s = Search { cur: failing, runs: 1, max_runs, steps: Vec::new(), value };
    loop {
        let progress = s.remove_faults() | s.shorten_faults() | s.weaken_faults() | s.cut_workload() | s.fewer_nodes();
        if !progress || s.runs >= s.max_runs {
            break;
        }
    }
    let after = testing::faults_of(&s.cur.scenario).len();
    Ok(Shrunk {
        faults_before: before,
        faults_after: after,
        runs: s.runs,
        steps: s.steps,
        value: s.value,
        failing: s.cur,
    })
}

struct Search {
    cur: Failing,
    runs: usize,
    max_runs: usize,
    steps: Vec<String>,
    value: Option<f64>,
}

impl Search {
    /// Keeps `candidate` if it still fails; returns whether it did.
    fn try_keep(&mut self, candidate: Result<Scenario, ScenarioErrors>, what: String) -> bool {
        if self.runs >= self.max_runs {
            return false;
        }
        let Ok(sc) = candidate else { return false };
        // A check during a fault needs the fault: without it the figure has no value (which
        // fails the check vacuously) and the printed test could not even parse the check.
        if let (None, Some(fault)) = (self.cur.check.between, &self.cur.check.during)
            && !sc.variant(Some(&self.cur.variant)).is_ok_and(|c| c.spec.faults.iter().any(|f| f.name == *fault))
        {
            return false;
        }
        self.runs += 1;
        match self.cur.evaluate(&sc) {
            // A figure that a cut took away (an instance's, every success's) fails `holds` too,
            // but that is not the failure being shrunk: once the case has a value it keeps one.
            Some((true, v)) if v.is_some() || self.value.is_none() => {
                self.cur.scenario = sc;
                self.value = v;
                self.steps.push(what);
                true
            }
            _ => false,
        }
    }

    fn with_faults(&self, faults: &[Fault]) -> Result<Scenario, ScenarioErrors> {
        testing::with_faults(&self.cur.scenario, faults)
    }

    /// Removes chunks of faults: halves, quarters, … single faults.
    fn remove_faults(&mut self) -> bool {
        let mut any = false;
        let mut faults = testing::faults_of(&self.cur.scenario);
        let mut chunk = faults.len().div_ceil(2).max(1);
        while !faults.is_empty() {
            let mut i = 0;
            while i < faults.len() {
                let end = (i + chunk).min(faults.len());
                let mut rest = faults.clone();
                let gone: Vec<Fault> = rest.drain(i..end).collect();
                let what = format!("removed {}: {}", crate::count(gone.len(), "fault"), names(&gone));
                if self.try_keep(self.with_faults(&rest), what) {
                    faults = rest;
                    any = true;
                } else {
                    i = end;
                }
            }
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
        any
    }

    /// Halves each fault's duration while it still fails (a fault that never healed gets one).
    fn shorten_faults(&mut self) -> bool {
        let mut any = false;
        let horizon = testing::Targets::of(&self.cur.scenario).duration_s;
        for i in 0..testing::faults_of(&self.cur.scenario).len() {
            for _ in 0..6 {
                let mut faults = testing::faults_of(&self.cur.scenario);
                // What the run sees: a fault lasting past the end acts until the end, so halving
                // its nominal duration there would change nothing and still be logged as a cut.
                let left = (horizon - faults[i].start_s).max(0.2);
                let d = faults[i].duration_s.map_or(left, |d| d.min(left));
                let shorter = (d / 2.0 * 10.0).round() / 10.0;
                if shorter < 0.1 || shorter >= d {
                    break;
                }
                faults[i].duration_s = Some(shorter);
                let what = format!("shortened {} to {shorter} s", name(&faults[i]));
                if !self.try_keep(self.with_faults(&faults), what) {
                    break;
                }
                any = true;
            }
        }
        any
    }

    /// Less latency, less loss, fewer errors, milder slowness.
    fn weaken_faults(&mut self) -> bool {
        let mut any = false;
        for i in 0..testing::faults_of(&self.cur.scenario).len() {
            for _ in 0..6 {
                let mut faults = testing::faults_of(&self.cur.scenario);
                let t = &faults[i].table;
                let num = testing::number;
                let (key, weaker) = match faults[i].kind() {
                    "latency" => {
                        ("added_ms", t.get("added_ms").and_then(num).map(|x| (x / 2.0).floor()).filter(|&x| x >= 1.0))
                    }
                    "loss" | "errors" => {
                        ("probability", t.get("probability").and_then(num).map(|p| p / 2.0).filter(|&p| p >= 0.01))
                    }
                    "slow" => {
                        ("factor", t.get("factor").and_then(num).map(|f| 1.0 + (f - 1.0) / 2.0).filter(|&f| f >= 1.1))
                    }
                    _ => break,
                };
                let Some(w) = weaker else { break };
                faults[i].table.insert(key.into(), toml::Value::Float(w));
                let what = format!("weakened {}: {key} = {w}", name(&faults[i]));
                if !self.try_keep(self.with_faults(&faults), what) {
                    break;
                }
                any = true;
            }
        }
        any
    }

    /// A shorter scenario (as long as every fault still starts within it) and lighter workloads.
    fn cut_workload(&mut self) -> bool {
        let mut any = false;
        let faults = testing::faults_of(&self.cur.scenario);
        let last_start = faults.iter().map(|f| f.start_s).fold(0.0, f64::max);
        let duration = testing::Targets::of(&self.cur.scenario).duration_s;
        let shorter = (duration / 2.0).ceil();
        // A check over a span needs the span within the scenario (as `between_s` does).
        let span_starts = self.cur.check.between.map_or(0.0, |(from_ms, _)| from_ms / 1000.0);
        if shorter >= 1.0 && shorter < duration && shorter > last_start && shorter > span_starts {
            let cand = testing::edit(&self.cur.scenario, |doc| {
                set(doc, &["scenario", "duration_s"], shorter);
                // A workload that stopped later now stops at the end, and one that started
                // after it is gone (a `stop_s` or `start_s` past the end is invalid, which left
                // such a scenario at its length).
                if let Some(toml::Value::Array(ws)) = doc.get_mut("workload") {
                    let num = |w: &toml::Table, k: &str| w.get(k).and_then(testing::number);
                    ws.retain(|w| w.as_table().is_none_or(|w| num(w, "start_s").is_none_or(|s| s < shorter)));
                    for w in ws.iter_mut().filter_map(toml::Value::as_table_mut) {
                        if num(w, "stop_s").is_some_and(|s| s > shorter) {
                            w.remove("stop_s");
                        }
                    }
                }
            });
            any |= self.try_keep(cand, format!("cut the scenario to {shorter} s"));
        }
        let workloads = array_len(&self.cur.scenario, "workload");
        for w in 0..workloads {
            for field in [&["arrival", "rate_per_s"][..], &["users"][..]] {
                let Some(x) = get_num(&self.cur.scenario, "workload", w, field) else { continue };
                let half = (x / 2.0).floor();
                if half < 1.0 {
                    continue;
                }
                let cand = testing::edit(&self.cur.scenario, |doc| set_in(doc, "workload", w, field, half));
                any |= self.try_keep(cand, format!("halved workload #{w} {} to {half}", field.join(".")));
            }
        }
        any
    }

    /// Fewer service instances and database shards.
    fn fewer_nodes(&mut self) -> bool {
        let mut any = false;
        for (table, field) in [("service", "instances"), ("database", "shards")] {
            for i in 0..array_len(&self.cur.scenario, table) {
                let Some(x) = get_num(&self.cur.scenario, table, i, &[field]) else { continue };
                let half = (x / 2.0).floor();
                if half < 1.0 {
                    continue;
                }
                let cand = testing::edit(&self.cur.scenario, |doc| set_in(doc, table, i, &[field], half));
                any |= self.try_keep(cand, format!("{table} #{i}: {field} = {half}"));
            }
        }
        any
    }
}

fn name(f: &Fault) -> String {
    f.table.get("name").and_then(toml::Value::as_str).map_or_else(|| f.kind().to_owned(), str::to_owned)
}

fn names(fs: &[Fault]) -> String {
    fs.iter().map(name).collect::<Vec<_>>().join(", ")
}

fn doc(sc: &Scenario) -> toml::Table {
    toml::from_str(&sc.source.text).expect("a parsed scenario is TOML")
}

fn array_len(sc: &Scenario, key: &str) -> usize {
    doc(sc).get(key).and_then(toml::Value::as_array).map_or(0, Vec::len)
}

fn get_num(sc: &Scenario, key: &str, i: usize, path: &[&str]) -> Option<f64> {
    let d = doc(sc);
    let mut v = d.get(key)?.as_array()?.get(i)?;
    for p in path {
        v = v.get(p)?;
    }
    testing::number(v)
}

/// Integers stay integers (fields like `users` reject floats).
fn number(x: f64) -> toml::Value {
    if x.fract() == 0.0 && x.abs() < 1e15 { toml::Value::Integer(x as i64) } else { toml::Value::Float(x) }
}

fn set(doc: &mut toml::Table, path: &[&str], x: f64) {
    let mut t = doc;
    for p in &path[..path.len() - 1] {
        let Some(toml::Value::Table(next)) = t.get_mut(*p) else { return };
        t = next;
    }
    t.insert(path[path.len() - 1].into(), number(x));
}

fn set_in(doc: &mut toml::Table, key: &str, i: usize, path: &[&str], x: f64) {
    if let Some(toml::Value::Array(items)) = doc.get_mut(key)
        && let Some(toml::Value::Table(t)) = items.get_mut(i)
    {
        set(t, path, x);
    }
}

/// A Rust test that reproduces the shrunk case: paste it into a test file of a crate that
/// depends on `faultline-scenarios`; it fails until the bug is fixed.
pub fn rust_test(s: &Shrunk) -> String {
    let f = &s.failing;
    let ident: String = format!("{}_{}_seed_{}", f.scenario.name, f.variant, f.seed)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .collect();
    let json = f.replay().to_json();
    let hashes =
        (0..).map(|n| "#".repeat(n)).find(|h| !json.contains(&format!("\"{h}"))).expect("a raw string delimiter");
    // A check over `between_s` is labelled `FROM–TO s` in `during`, which names no fault: the
    // test gives the span itself.
    let assert = match (f.check.between, &f.check.during) {
        (Some((from, to)), _) => {
            format!("assert_holds_between(replay, {:?}, {:?}, {:?})", f.check.check, from / 1000.0, to / 1000.0)
        }
        (None, Some(d)) => format!("assert_holds(replay, {:?}, Some({d:?}))", f.check.check),
        (None, None) => format!("assert_holds(replay, {:?}, None)", f.check.check),
    };
    format!(
        "/// Shrunk by `faultline shrink` from {} to {} ({}).\n#[test]\nfn shrunk_{ident}() {{\n    let replay = r{hashes}\"{json}\"{hashes};\n    faultline_scenarios::shrink::{assert};\n}}\n",
        crate::count(s.faults_before, "fault"),
        s.faults_after,
        crate::count(s.runs, "run"),
    )
}

/// Runs a replay file's case and panics, with the figure, if `check` (during fault `during`)
/// does not hold. What [`rust_test`] calls.
pub fn assert_holds(replay_json: &str, check: &str, during: Option<&str>) {
    holds(replay_json, check, during, None)
}

/// [`assert_holds`] for a check over `between_s = [from_s, to_s]`.
pub fn assert_holds_between(replay_json: &str, check: &str, from_s: f64, to_s: f64) {
    holds(replay_json, check, None, Some((from_s, to_s)))
}

fn holds(replay_json: &str, check: &str, during: Option<&str>, between_s: Option<(f64, f64)>) {
    let r =
        Replay::from_json("replay", replay_json).unwrap_or_else(|e| panic!("bad replay: {}", e.errors[0].one_line()));
    let sc = r.scenario().unwrap_or_else(|e| panic!("bad scenario: {}", e.errors[0].one_line()));
    let e = parse_check_in(&sc, Some(&r.variant), check, during, between_s)
        .unwrap_or_else(|e| panic!("bad check: {}", e.errors[0].message));
    let (report, _) = crate::replay::run(&r, None).unwrap_or_else(|_| panic!("the replay did not run to its end"));
    let json = serde_json::to_value(&report).expect("serialises");
    let v = e.value(&report, &json);
    assert!(
        e.holds(v),
        "`{check}` does not hold: the figure {} ({} [{}] seed {})",
        v.map_or("has no value".to_owned(), |x| format!("is {}", crate::expect::show_value(check, x))),
        r.scenario,
        r.variant,
        r.seed
    );
}
