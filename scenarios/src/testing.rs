//! Property testing with faultline: proptest strategies that generate fault timelines within a
//! scenario's topology, a way to put a timeline into a scenario, and one call that runs it and
//! returns the report, the database histories and the expectations that failed.
//!
//! ```no_run
//! use faultline_scenarios::testing;
//! use proptest::prelude::*;
//!
//! let sc = testing::catalog_scenario("partition-consistency");
//! proptest!(|(faults in testing::fault_timeline(&sc, 1..6), seed in 0u64..1000)| {
//!     let sc = testing::with_faults(&sc, &faults)?;
//!     let out = testing::run(&sc, Some("strong"), seed)?;
//!     prop_assert_eq!(out.report.anomalies["lost_update"], 0);
//! });
//! ```
//!
//! Faults are kept as scenario-format tables ([`Fault`]), so a failing case prints as TOML,
//! shrinks by editing tables, and lands in a replay file unchanged (see [`crate::shrink`]).

use std::ops::Range;

use faultline_models::RunReport;
use faultline_models::consistency::HistOp;
use faultline_sim::{BudgetExceeded, NodeId};
use proptest::num::u32::BinarySearch;
use proptest::prelude::*;
use proptest::strategy::{NewTree, ValueTree};
use proptest::test_runner::TestRunner;

use crate::expect::Verdict;
use crate::fault_names;
use crate::schema::ScenarioFile;
use crate::{Scenario, ScenarioErrors, Source, catalog, runner};

/// One `[[fault]]` of the scenario format: its kind's fields, and when. Printed (`{:?}`, as
/// proptest prints a failing case) as the inline TOML table it stands for.
#[derive(Clone, PartialEq)]
pub struct Fault {
    /// The table without `start_s`, `end_s` and `duration_s` (`kind`, `name`, targets, …).
    pub table: toml::Table,
    pub start_s: f64,
    /// `None`: never heals.
    pub duration_s: Option<f64>,
}

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `toml::Table`'s own Debug is `String("…")` and `Array([…])`: 20 lines per fault.
        write!(f, "{}", toml::Value::Table(self.to_table()))
    }
}

impl Fault {
    /// The complete `[[fault]]` table.
    pub fn to_table(&self) -> toml::Table {
        let mut t = self.table.clone();
        t.insert("start_s".into(), toml::Value::Float(self.start_s));
        if let Some(d) = self.duration_s {
            t.insert("duration_s".into(), toml::Value::Float(d));
        }
        t
    }

    pub fn kind(&self) -> &str {
        self.table.get("kind").and_then(toml::Value::as_str).unwrap_or("")
    }

    fn from_table(t: &toml::Table) -> Fault {
        let mut table = t.clone();
        let num = |v: Option<toml::Value>| v.as_ref().and_then(number);
        let start_s = num(table.remove("start_s")).unwrap_or(0.0);
        let end = num(table.remove("end_s"));
        let duration = num(table.remove("duration_s"));
        Fault { table, start_s, duration_s: duration.or(end.map(|e| (e - start_s).max(0.0))) }
    }
}

/// A TOML number as `f64`: the format writes `5` and `5.0` alike.
pub fn number(v: &toml::Value) -> Option<f64> {
    v.as_float().or(v.as_integer().map(|x| x as f64))
}

/// The names faults can target in a scenario.
#[derive(Clone, Debug, Default)]
pub struct Targets {
    pub regions: Vec<String>,
    pub zones: Vec<String>,
    /// What `slow` and `errors` faults act on: services, databases (all their replicas) and
    /// workflow steps (`checkout/payments`).
    pub servers: Vec<String>,
    /// Nodes a `node-crash` takes down: service instances (`api/0`), database replicas
    /// (`db/s0/r1`), workflow steps and coordinators, load balancers, caches and brokers.
    pub crashable: Vec<String>,
    pub caches: Vec<String>,
    pub duration_s: f64,
}

impl Targets {
    pub fn of(sc: &Scenario) -> Targets {
        let Ok(f) = toml::from_str::<ScenarioFile>(&sc.source.text) else { return Targets::default() };
        let mut t = Targets { duration_s: f.scenario.duration_s.get_ref().0, ..Targets::default() };
        for r in &f.regions {
            t.regions.push(r.name.get_ref().clone());
            t.zones.extend(r.zones.iter().map(|z| z.get_ref().clone()));
        }
        // Targets every variant has: a fault timeline is checked against each of them, so a
        // crash of `api/2` drawn from a variant with three instances failed one with two.
        let mut all = sc.variants.iter().filter_map(|v| sc.variant(Some(&v.name)).ok()).map(|c| Self::nodes_of(c.spec));
        let (mut servers, mut crashable, mut caches) = all.next().unwrap_or_default();
        for (s, n, c) in all {
            servers.retain(|x| s.contains(x));
            crashable.retain(|x| n.contains(x));
            caches.retain(|x| c.contains(x));
        }
        (t.servers, t.crashable, t.caches) = (servers, crashable, caches);
        t
    }

    /// A compiled variant's servers, crashable nodes and caches, in declaration order.
    fn nodes_of(spec: &faultline_models::WorldSpec) -> (Vec<String>, Vec<String>, Vec<String>) {
        let (mut servers, mut crashable) = (Vec::new(), Vec::new());
        let node = |n: NodeId| spec.topology.nodes[n.0 as usize].name.clone();
        for s in &spec.services {
            servers.push(s.name.clone());
            crashable.extend(s.nodes.iter().map(|&n| node(n)));
        }
        for d in &spec.databases {
            servers.push(d.name.clone());
            crashable.extend(d.nodes.iter().flatten().map(|&n| node(n)));
        }
        for w in &spec.workflows {
            crashable.push(node(w.node));
            for step in &w.steps {
                servers.push(node(step.node));
                crashable.push(node(step.node));
            }
        }
        crashable.extend(spec.balancers.iter().map(|b| node(b.node)));
        crashable.extend(spec.caches.iter().map(|c| node(c.node)));
        crashable.extend(spec.queues.iter().map(|q| node(q.node)));
        (servers, crashable, spec.caches.iter().map(|c| c.name.clone()).collect())
    }
}

fn strings(v: &[String]) -> toml::Value {
    toml::Value::Array(v.iter().map(|s| toml::Value::String(s.clone())).collect())
}

/// One fault of any kind the scenario's topology allows, starting within its duration.
pub fn fault(targets: &Targets) -> BoxedStrategy<Fault> {
    let t = targets.clone();
    let pick = |v: &[String]| proptest::sample::select(if v.is_empty() { vec![String::new()] } else { v.to_vec() });
    let mut kinds: Vec<BoxedStrategy<toml::Table>> = Vec::new();
    let table =
        |pairs: Vec<(&str, toml::Value)>| pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<toml::Table>();
    if !t.regions.is_empty() {
        kinds.push(
            pick(&t.regions)
                .prop_map(move |r| table(vec![("kind", "region-outage".into()), ("region", r.into())]))
                .boxed(),
        );
    }
    if !t.zones.is_empty() {
        kinds.push(
            pick(&t.zones).prop_map(move |z| table(vec![("kind", "zone-outage".into()), ("zone", z.into())])).boxed(),
        );
    }
    if !t.crashable.is_empty() {
        kinds.push(
            pick(&t.crashable)
                .prop_map(move |n| table(vec![("kind", "node-crash".into()), ("node", n.into())]))
                .boxed(),
        );
    }
    // Link faults between two different groups (regions if there are several, else zones).
    let groups = if t.regions.len() >= 2 { t.regions.clone() } else { t.zones.clone() };
    if groups.len() >= 2 {
        let n = groups.len();
        let sides = (0..n, 1..n).prop_map(move |(a, d)| (a, (a + d) % n));
        let g = groups.clone();
        kinds.push(
            (sides.clone(), any::<bool>())
                .prop_map(move |((a, b), one_way)| {
                    table(vec![
                        ("kind", "partition".into()),
                        ("from", strings(&[g[a].clone()])),
                        ("to", strings(&[g[b].clone()])),
                        ("one_way", one_way.into()),
                    ])
                })
                .boxed(),
        );
        let g = groups.clone();
        kinds.push(
            (sides.clone(), 1u32..500)
                .prop_map(move |((a, b), ms)| {
                    table(vec![
                        ("kind", "latency".into()),
                        ("from", strings(&[g[a].clone()])),
                        ("to", strings(&[g[b].clone()])),
                        ("added_ms", i64::from(ms).into()),
                    ])
                })
                .boxed(),
        );
        let g = groups;
        kinds.push(
            (sides, 1u32..50)
                .prop_map(move |((a, b), pct)| {
                    table(vec![
                        ("kind", "loss".into()),
                        ("from", strings(&[g[a].clone()])),
                        ("to", strings(&[g[b].clone()])),
                        ("probability", (f64::from(pct) / 100.0).into()),
                    ])
                })
                .boxed(),
        );
    }
    if !t.servers.is_empty() {
        kinds.push(
            (pick(&t.servers), 2u32..20)
                .prop_map(move |(s, f)| {
                    table(vec![("kind", "slow".into()), ("targets", strings(&[s])), ("factor", i64::from(f).into())])
                })
                .boxed(),
        );
        kinds.push(
            (pick(&t.servers), 1u32..60)
                .prop_map(move |(s, p)| {
                    table(vec![
                        ("kind", "errors".into()),
                        ("targets", strings(&[s])),
                        ("probability", (f64::from(p) / 100.0).into()),
                    ])
                })
                .boxed(),
        );
    }
    // Only with caches: a scenario without one draws the same timelines as before the kind existed.
    if !t.caches.is_empty() {
        kinds.push(
            pick(&t.caches)
                .prop_map(move |c| table(vec![("kind", "cache-flush".into()), ("targets", strings(&[c]))]))
                .boxed(),
        );
    }
    // Whole tenths of a second keep the printed cases readable.
    let when = When { tenths: (t.duration_s.max(1.0) * 10.0) as u32 };
    (proptest::strategy::Union::new(kinds), when)
        .prop_map(|(table, (start, dur))| Fault {
            table,
            start_s: f64::from(start) / 10.0,
            duration_s: dur.map(|x| f64::from(x) / 10.0),
        })
        .boxed()
}

/// When a fault starts and how long it lasts, in tenths of a second of a run `tenths` long
/// (`None`: it never heals). Drawn as `(0..tenths, option::weighted(0.9, 1..tenths + 1))`
/// draws (the same runner gives the same timelines), but shrunk towards a fault that heals,
/// soon: proptest's `Option` shrinks `Some` to `None`, so a failing fault became one that never
/// ends — a larger failure, not a simpler one.
#[derive(Clone, Debug)]
struct When {
    tenths: u32,
}

impl Strategy for When {
    type Tree = WhenTree;
    type Value = (u32, Option<u32>);

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let n = self.tenths;
        let (start, duration) = (0..n, proptest::option::weighted(0.9, 1..n + 1)).new_tree(runner)?.current();
        Ok(WhenTree {
            start: BinarySearch::new(start),
            heals: duration.is_some(),
            // A fault that never heals becomes one lasting as long as the run, then shorter.
            duration: BinarySearch::new_above(1, duration.unwrap_or(n)),
            stage: WhenStage::Heal,
            last: None,
        })
    }
}

/// What a [`WhenTree`] shrinks, in order.
#[derive(Clone, Copy, Debug, PartialEq)]
enum WhenStage {
    /// A fault that never heals: try one that does.
    Heal,
    /// Towards the shortest duration (0.1 s), if it heals.
    Duration,
    /// Towards a start at 0.
    Start,
}

#[derive(Clone, Debug)]
struct WhenTree {
    start: BinarySearch,
    heals: bool,
    /// The duration once it heals (kept while it does not).
    duration: BinarySearch,
    stage: WhenStage,
    /// What the last `simplify` changed, for `complicate` to undo.
    last: Option<WhenStage>,
}

impl ValueTree for WhenTree {
    type Value = (u32, Option<u32>);

    fn current(&self) -> (u32, Option<u32>) {
        (self.start.current(), self.heals.then(|| self.duration.current()))
    }

    fn simplify(&mut self) -> bool {
        loop {
            let done = match self.stage {
                WhenStage::Heal => {
                    !self.heals && {
                        self.heals = true;
                        true
                    }
                }
                WhenStage::Duration => self.heals && self.duration.simplify(),
                WhenStage::Start => self.start.simplify(),
            };
            if done {
                self.last = Some(self.stage);
                // Healing is tried once; the others go on until they cannot.
                if self.stage == WhenStage::Heal {
                    self.stage = WhenStage::Duration;
                }
                return true;
            }
            self.stage = match self.stage {
                WhenStage::Heal => WhenStage::Duration,
                WhenStage::Duration => WhenStage::Start,
                WhenStage::Start => return false,
            };
        }
    }

    fn complicate(&mut self) -> bool {
        match self.last.take() {
            Some(WhenStage::Heal) => {
                self.heals = false;
                true
            }
            Some(WhenStage::Duration) => {
                self.last = Some(WhenStage::Duration);
                self.duration.complicate()
            }
            Some(WhenStage::Start) => {
                self.last = Some(WhenStage::Start);
                self.start.complicate()
            }
            None => false,
        }
    }
}

/// A timeline of a number of faults drawn from `count` (any mix of kinds) within the
/// scenario's topology. A failing timeline shrinks to as few faults as fail, none included:
/// the lower end of `count` shapes what is generated, not what it shrinks to (a property that
/// needs some faults takes [`fault_timeline_at_least`]).
pub fn fault_timeline(sc: &Scenario, count: Range<usize>) -> BoxedStrategy<Vec<Fault>> {
    fault_timeline_at_least(sc, count, 0)
}

/// [`fault_timeline`] that never shrinks below `min` faults (at most `count.start`).
pub fn fault_timeline_at_least(sc: &Scenario, count: Range<usize>, min: usize) -> BoxedStrategy<Vec<Fault>> {
    assert!(min <= count.start, "a timeline of {count:?} faults cannot keep at least {min}");
    Timeline { fault: fault(&Targets::of(sc)), count, min }.boxed()
}

/// Faults drawn as `proptest::collection::vec(fault, count)` draws them (the same runner gives
/// the same timelines), shrunk as it shrinks them — faults removed one by one, then each made
/// simpler — down to `min` faults rather than `count.start`.
#[derive(Debug)]
struct Timeline {
    fault: BoxedStrategy<Fault>,
    count: Range<usize>,
    min: usize,
}

impl Strategy for Timeline {
    type Tree = TimelineTree;
    type Value = Vec<Fault>;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        // The length draw of `vec`: its elements, `Just`s, draw nothing.
        let n = proptest::collection::vec(Just(()), self.count.clone()).new_tree(runner)?.current().len();
        let faults = (0..n).map(|_| self.fault.new_tree(runner)).collect::<Result<Vec<_>, _>>()?;
        Ok(TimelineTree { kept: vec![true; n], faults, min: self.min, stage: Shrink::Remove(0), last: None })
    }
}

struct TimelineTree {
    faults: Vec<Box<dyn ValueTree<Value = Fault>>>,
    kept: Vec<bool>,
    min: usize,
    stage: Shrink,
    /// What the last `simplify` changed, for `complicate` to undo.
    last: Option<Shrink>,
}

#[derive(Clone, Copy)]
enum Shrink {
    /// Remove the fault at this index (and then the next).
    Remove(usize),
    /// Simplify the fault at this index (and then the next).
    Simplify(usize),
}

impl ValueTree for TimelineTree {
    type Value = Vec<Fault>;

    fn current(&self) -> Vec<Fault> {
        self.faults.iter().zip(&self.kept).filter(|(_, kept)| **kept).map(|(f, _)| f.current()).collect()
    }

    fn simplify(&mut self) -> bool {
        if let Shrink::Remove(i) = self.stage {
            if i < self.faults.len() && self.kept.iter().filter(|&&k| k).count() > self.min {
                self.kept[i] = false;
                self.last = Some(self.stage);
                self.stage = Shrink::Remove(i + 1);
                return true;
            }
            self.stage = Shrink::Simplify(0);
        }
        while let Shrink::Simplify(i) = self.stage {
            if i >= self.faults.len() {
                return false;
            }
            if self.kept[i] && self.faults[i].simplify() {
                self.last = Some(self.stage);
                return true;
            }
            self.stage = Shrink::Simplify(i + 1);
        }
        unreachable!("removal moves on to simplifying")
    }

    fn complicate(&mut self) -> bool {
        match self.last {
            None => false,
            Some(Shrink::Remove(i)) => {
                self.kept[i] = true;
                self.last = None;
                true
            }
            Some(Shrink::Simplify(i)) => {
                let changed = self.faults[i].complicate();
                if !changed {
                    self.last = None;
                }
                changed
            }
        }
    }
}

/// The timeline with every fault healed by `end_s`: a fault that starts at or after it is
/// dropped, and one that never heals or heals later is cut short there. For properties about
/// what happens once faults are over (convergence, settling), whose generated faults would
/// otherwise often still be active at the end.
pub fn healed_by(faults: &[Fault], end_s: f64) -> Vec<Fault> {
    faults
        .iter()
        .filter(|f| f.start_s < end_s)
        .map(|f| {
            let end = f.duration_s.map_or(end_s, |d| (f.start_s + d).min(end_s));
            Fault { duration_s: Some(end - f.start_s), ..f.clone() }
        })
        .collect()
}

/// The scenario's own `[[fault]]` tables.
pub fn faults_of(sc: &Scenario) -> Vec<Fault> {
    let Ok(doc) = toml::from_str::<toml::Table>(&sc.source.text) else { return Vec::new() };
    match doc.get("fault") {
        Some(toml::Value::Array(a)) => a.iter().filter_map(toml::Value::as_table).map(Fault::from_table).collect(),
        _ => Vec::new(),
    }
}

/// The scenario with its faults replaced by `faults` (unnamed ones named by [`named`]).
pub fn with_faults(sc: &Scenario, faults: &[Fault]) -> Result<Scenario, ScenarioErrors> {
    edit(sc, |doc| {
        let tables = named(faults).iter().map(|f| toml::Value::Table(f.to_table())).collect();
        doc.insert("fault".into(), toml::Value::Array(tables));
    })
}

/// `faults` with each unnamed one named as the scenario format names it (by its kind and what
/// it acts on: [`fault_names`]). A link fault's draws are keyed by its name
/// (docs/determinism.md), so a list whose faults will change (a shrink shortens and weakens
/// them) is named first: each fault then keeps its name, and its draws, whatever is done to it.
pub fn named(faults: &[Fault]) -> Vec<Fault> {
    let strs = |t: &toml::Table, key: &str| -> Vec<String> {
        match t.get(key) {
            Some(toml::Value::String(s)) => vec![s.clone()],
            Some(toml::Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        }
    };
    let fields: Vec<[Vec<String>; 3]> = faults
        .iter()
        .map(|f| {
            let on = ["region", "zone", "node", "targets"].iter().flat_map(|k| strs(&f.table, k)).collect();
            [on, strs(&f.table, "from"), strs(&f.table, "to")]
        })
        .collect();
    let names = fault_names::names(faults.iter().zip(&fields).map(|(f, [on, from, to])| {
        let subject = fault_names::Subject {
            kind: f.kind(),
            on: on.iter().map(String::as_str).collect(),
            from: from.iter().map(String::as_str).collect(),
            to: to.iter().map(String::as_str).collect(),
            one_way: f.table.get("one_way").and_then(toml::Value::as_bool).unwrap_or(false),
        };
        (f.table.get("name").and_then(toml::Value::as_str), subject)
    }));
    faults
        .iter()
        .zip(names)
        .map(|(f, name)| {
            let mut named = f.clone();
            named.table.insert("name".into(), name.into());
            named
        })
        .collect()
}

/// The scenario with its TOML document changed by `f` (re-validated).
pub fn edit(sc: &Scenario, f: impl FnOnce(&mut toml::Table)) -> Result<Scenario, ScenarioErrors> {
    let mut doc: toml::Table = toml::from_str(&sc.source.text).expect("a parsed scenario is TOML");
    f(&mut doc);
    let text = toml::to_string(&doc).expect("a TOML table serialises");
    Scenario::parse(&Source { file: sc.source.file.clone(), text })
}

/// Variant `variant` as a scenario of its own: its `set` entries written into the document,
/// with no variants and no expectations left (they may name variants). Its one variant runs
/// as `variant` does; a property can then edit the effective value of any field.
pub fn flatten(sc: &Scenario, variant: &str) -> Result<Scenario, ScenarioErrors> {
    edit(sc, |doc| {
        let variants = doc.remove("variant");
        doc.remove("expect");
        let set = variants
            .as_ref()
            .and_then(|v| v.as_array())
            .and_then(|vs| vs.iter().find(|v| v.get("name").and_then(|n| n.as_str()) == Some(variant)))
            .and_then(|v| v.get("set"))
            .and_then(|s| s.as_table())
            .cloned();
        for (path, value) in set.into_iter().flatten() {
            crate::set_path(doc, &path, value).expect("the variant's `set` applied when it was parsed");
        }
    })
}

/// Sets `a.b.c` in a scenario document as a variant's `set` does (arrays of tables by an
/// element's `name` or by position).
pub fn set(doc: &mut toml::Table, path: &str, value: toml::Value) -> Result<(), String> {
    crate::set_path(doc, path, value)
}

/// A built-in scenario by name.
pub fn catalog_scenario(name: &str) -> Scenario {
    let e = catalog::get(name).unwrap_or_else(|| panic!("no catalog scenario `{name}`"));
    Scenario::parse(&Source { file: format!("catalog/{name}.toml"), text: e.text.to_owned() })
        .expect("catalog scenarios parse")
}

/// What a run gives a property.
pub struct Outcome {
    pub report: RunReport,
    /// Per database (spec order): its recorded history (empty unless it records one).
    pub histories: Vec<Vec<HistOp>>,
    /// The scenario's expectations for this variant that failed.
    pub violations: Vec<Verdict>,
}

/// Why [`run`] gave no outcome — or, through `?` in a function returning it, why
/// [`with_faults`], [`edit`] or [`flatten`] gave no scenario. It reads as the message the
/// command line prints, and is a [`std::error::Error`]: a `proptest!` body can `?` it.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario is not valid: each mistake as `file:line:col: message`.
    #[error(transparent)]
    Scenario(#[from] ScenarioErrors),
    /// The run stopped at one of its budgets (events, simulated time, history steps, what
    /// components hold): what `faultline run` exits 3 for.
    #[error(transparent)]
    Budget(#[from] BudgetExceeded),
    /// Anything else: a variant the scenario does not have.
    #[error("{0}")]
    Other(String),
}

/// Runs one seed of a variant (the first when `None`).
pub fn run(sc: &Scenario, variant: Option<&str>, seed: u64) -> Result<Outcome, RunError> {
    let c = sc.variant(variant).map_err(RunError::Other)?;
    let (report, world) = runner::run(&c, seed, None)?;
    let histories = (0..c.spec.databases.len()).map(|d| world.history(d)).collect();
    let json = serde_json::to_value(&report).expect("a report serialises");
    let violations = sc
        .expectations
        .iter()
        .filter(|e| e.applies_to(c.variant))
        .map(|e| e.verdict(&report, &json))
        .filter(|v| !v.passed)
        .collect();
    Ok(Outcome { report, histories, violations })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::test_runner::{Config, TestRunner};

    fn deterministic_runner() -> TestRunner {
        TestRunner::new_with_rng(
            Config::default(),
            proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
        )
    }

    #[test]
    fn generated_timelines_are_valid_faults_of_the_scenario() {
        let sc = catalog_scenario("cross-region-outage");
        let mut runner = deterministic_runner();
        let strategy = fault_timeline(&sc, 1..12);
        let mut kinds = std::collections::BTreeSet::new();
        for _ in 0..64 {
            let faults = strategy.new_tree(&mut runner).unwrap().current();
            kinds.extend(faults.iter().map(|f| f.kind().to_owned()));
            let with = with_faults(&sc, &faults).unwrap_or_else(|e| panic!("{faults:?}: {:?}", e.errors[0].message));
            assert_eq!(faults_of(&with).len(), faults.len());
        }
        assert!(kinds.len() >= 7, "every kind shows up: {kinds:?}");
    }

    #[test]
    fn a_fault_prints_as_its_toml_table() {
        let f = Fault::from_table(
            &toml::from_str::<toml::Table>("kind = \"node-crash\"\nnode = \"api/0\"\nstart_s = 5\nend_s = 8").unwrap(),
        );
        let shown = format!("{f:?}");
        assert!(shown.starts_with('{') && !shown.contains('\n') && !shown.contains("String("), "{shown}");
        for part in ["kind = \"node-crash\"", "node = \"api/0\"", "start_s = 5", "duration_s = 3"] {
            assert!(shown.contains(part), "{part} in {shown}");
        }
    }

    /// A variant with fewer instances: crashes of the nodes only the others have were drawn
    /// (from the first variant) and failed the timeline for every variant.
    #[test]
    fn generated_timelines_fit_every_variant() {
        let sc = edit(&catalog_scenario("cross-region-outage"), |doc| {
            let v = doc["variant"].as_array_mut().unwrap()[1].as_table_mut().unwrap();
            let set = v.entry("set").or_insert_with(|| toml::Value::Table(toml::Table::new()));
            set.as_table_mut().unwrap().insert("service.web.instances".into(), 1.into());
        })
        .unwrap();
        let targets = Targets::of(&sc);
        assert!(targets.crashable.iter().any(|n| n == "web/0") && !targets.crashable.iter().any(|n| n == "web/1"));
        let mut runner = deterministic_runner();
        let strategy = fault_timeline(&sc, 4..12);
        for _ in 0..32 {
            let faults = strategy.new_tree(&mut runner).unwrap().current();
            with_faults(&sc, &faults).unwrap_or_else(|e| panic!("{faults:?}: {:?}", e.errors[0].message));
        }
    }

    /// [`named`] names a timeline's unnamed faults as the scenario format does, so a timeline
    /// named first runs as it would have unnamed.
    #[test]
    fn named_gives_unnamed_faults_the_names_the_scenario_format_gives_them() {
        let sc = catalog_scenario("cross-region-outage");
        let mut runner = deterministic_runner();
        let strategy = fault_timeline(&sc, 1..12);
        let mut repeated = 0;
        for _ in 0..64 {
            let faults = strategy.new_tree(&mut runner).unwrap().current();
            let unnamed = edit(&sc, |doc| {
                let tables = faults.iter().map(|f| toml::Value::Table(f.to_table())).collect();
                doc.insert("fault".into(), toml::Value::Array(tables));
            })
            .unwrap();
            let compiled: Vec<String> =
                unnamed.variant(None).unwrap().spec.faults.iter().map(|f| f.name.clone()).collect();
            let ours: Vec<String> =
                named(&faults).iter().map(|f| f.table["name"].as_str().unwrap().to_owned()).collect();
            assert_eq!(ours, compiled);
            repeated += compiled.iter().filter(|n| n.ends_with(" #2")).count();
        }
        assert!(repeated > 0, "some timeline has two faults alike");
    }

    /// The smallest timeline proptest shrinks a failing one to, for a property that fails
    /// when `fails` says so.
    fn shrunk(strategy: BoxedStrategy<Vec<Fault>>, fails: impl Fn(&[Fault]) -> bool) -> Vec<Fault> {
        let config = Config { failure_persistence: None, max_shrink_iters: 100_000, ..Config::default() };
        let mut runner = TestRunner::new_with_rng(
            config,
            proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
        );
        match runner.run(&strategy, |faults| {
            if fails(&faults) { Err(proptest::test_runner::TestCaseError::fail("fails")) } else { Ok(()) }
        }) {
            Err(proptest::test_runner::TestError::Fail(_, minimal)) => minimal,
            other => panic!("the property should fail: {other:?}"),
        }
    }

    /// proptest's `Option` shrinks `Some` to `None`: a fault's duration shrank to "never
    /// heals", a longer fault than the one that failed.
    #[test]
    fn a_failing_timeline_shrinks_to_one_short_fault_that_heals() {
        let sc = catalog_scenario("cross-region-outage");
        let min = shrunk(fault_timeline(&sc, 1..12), |faults| !faults.is_empty());
        assert_eq!(min.len(), 1, "{min:?}");
        assert_eq!((min[0].start_s, min[0].duration_s), (0.0, Some(0.1)), "{min:?}");
    }

    #[test]
    fn a_timeline_failing_for_a_fault_that_never_heals_keeps_one() {
        let sc = catalog_scenario("cross-region-outage");
        let min = shrunk(fault_timeline(&sc, 1..12), |faults| faults.iter().any(|f| f.duration_s.is_none()));
        assert_eq!(min.len(), 1, "{min:?}");
        assert_eq!((min[0].start_s, min[0].duration_s), (0.0, None), "{min:?}");
    }

    /// The count's lower end was also the least a failing timeline shrank to: one that fails
    /// without any fault kept `count.start` needless faults.
    #[test]
    fn a_timeline_failing_without_faults_shrinks_to_none() {
        let sc = catalog_scenario("cross-region-outage");
        assert_eq!(shrunk(fault_timeline(&sc, 1..12), |_| true), vec![]);
        assert_eq!(shrunk(fault_timeline(&sc, 12..24), |_| true), vec![]);
    }

    #[test]
    fn a_timeline_shrinks_to_no_fewer_faults_than_asked() {
        let sc = catalog_scenario("cross-region-outage");
        assert_eq!(shrunk(fault_timeline_at_least(&sc, 3..12, 1), |_| true).len(), 1);
        assert_eq!(shrunk(fault_timeline_at_least(&sc, 3..12, 3), |_| true).len(), 3);
    }

    /// Shrinking changed, not drawing: the same runner gives the timelines it gave when they
    /// were `vec(fault, count)` with `(0..n, option::weighted(0.9, 1..n + 1))` for when (the
    /// properties' CI counts of judged timelines depend on which are drawn).
    #[test]
    fn timelines_are_drawn_as_before_their_shrinking_changed() {
        let sc = catalog_scenario("cross-region-outage");
        let n = (Targets::of(&sc).duration_s * 10.0) as u32;
        let (mut ours, mut before) = (deterministic_runner(), deterministic_runner());
        let when = (0..n, proptest::option::weighted(0.9, 1..n + 1));
        for _ in 0..500 {
            let drawn = When { tenths: n }.new_tree(&mut ours).unwrap().current();
            assert_eq!(drawn, when.new_tree(&mut before).unwrap().current());
        }
        let vec = proptest::collection::vec(fault(&Targets::of(&sc)), 1..12);
        for _ in 0..64 {
            let drawn = fault_timeline(&sc, 1..12).new_tree(&mut ours).unwrap().current();
            assert_eq!(drawn, vec.new_tree(&mut before).unwrap().current());
        }
    }

    /// `?` takes a scenario's mistakes and a run's budget stop into [`RunError`], each
    /// reading as before and told apart by its variant.
    #[test]
    fn run_errors_say_what_went_wrong_and_which_kind_it_was() {
        fn lost(sc: &Scenario, faults: &[Fault], variant: &str) -> Result<u64, RunError> {
            let with = with_faults(sc, faults)?;
            Ok(run(&with, Some(variant), 1)?.report.anomalies["lost_update"])
        }
        let sc = catalog_scenario("partition-consistency");
        assert_eq!(lost(&sc, &[], "strong").unwrap(), 0);

        let crash = |node: &str| Fault {
            table: [("kind".to_owned(), "node-crash".into()), ("node".to_owned(), node.into())].into_iter().collect(),
            start_s: 1.0,
            duration_s: Some(2.0),
        };
        let e = lost(&sc, &[crash("nowhere/0")], "strong").unwrap_err();
        assert!(matches!(e, RunError::Scenario(_)), "{e:?}");
        let shown = e.to_string();
        assert!(
            shown.starts_with("1 error in catalog/partition-consistency.toml: catalog/partition-consistency.toml:")
        );
        assert!(shown.contains("nowhere/0"), "{shown}");

        let e = lost(&sc, &[], "no-such-variant").unwrap_err();
        assert!(matches!(e, RunError::Other(_)), "{e:?}");
        assert!(e.to_string().contains("has no variant `no-such-variant`"), "{e}");

        let short = edit(&sc, |doc| {
            doc["scenario"].as_table_mut().unwrap().insert("max_events".into(), 100.into());
        })
        .unwrap();
        let e = lost(&short, &[], "strong").unwrap_err();
        let RunError::Budget(budget) = &e else { panic!("{e:?}") };
        assert_eq!(e.to_string(), budget.to_string());
        assert!(e.to_string().starts_with("event budget of 100 events ran out"), "{e}");
        let e: &dyn std::error::Error = &e;
        assert!(e.source().is_none(), "transparent: the message is not repeated as its cause");
    }

    #[test]
    fn healed_by_cuts_faults_short_and_drops_the_late_ones() {
        let f = |start_s, duration_s| Fault { table: toml::Table::new(), start_s, duration_s };
        let got = healed_by(&[f(1.0, Some(2.0)), f(5.0, Some(20.0)), f(8.0, None), f(10.0, Some(1.0))], 10.0);
        assert_eq!(got, vec![f(1.0, Some(2.0)), f(5.0, Some(5.0)), f(8.0, Some(2.0))]);
    }
}
