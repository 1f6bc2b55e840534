//! One live run: a world advanced event by event, the commands given to it (recorded exactly as
//! `faultline replay` applies them), and the latest report built from it. No UI here, and no
//! simulation logic either: faults go through `World::inject` / `World::heal`, the same engine
//! command scheduled faults use, and every figure comes from `RunReport::build`.

use std::collections::BTreeMap;
use std::rc::Rc;

use faultline_models::{RunReport, World};
use faultline_scenarios::Scenario;
use faultline_scenarios::expect::Verdict;
use faultline_scenarios::replay::{Command, Replay};
use faultline_sim::Nanos;

/// An episode of a figure of the report rising while the run was watched: consecutive
/// refreshes that saw it rise are one episode.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// Simulated time of the first and the last refresh that saw it rise.
    pub first: Nanos,
    pub last: Nanos,
    pub what: String,
    /// Added during the episode.
    pub added: u64,
    /// Total since the start of the run.
    pub total: u64,
}

pub struct Run {
    pub scenario: Rc<Scenario>,
    pub variant: String,
    pub seed: u64,
    pub world: World,
    /// The session so far: what `faultline replay` needs to reproduce it.
    pub replay: Replay,
    /// Built at the last refresh.
    pub report: RunReport,
    /// Anomalies and data-loss figures, in the order they rose.
    pub anomalies: Vec<Anomaly>,
    /// The scenario's expectations against the report so far.
    pub verdicts: Vec<Verdict>,
    /// Why the run stopped early (its event budget ran out).
    pub stopped: Option<String>,
    /// Where the session is saved (rewritten at each command and at the end).
    pub save_path: Option<String>,
    /// Whether the UI has announced its end.
    pub announced_end: bool,
    seen: BTreeMap<String, u64>,
    /// Simulated time of the last rebuild.
    previous_refresh: Nanos,
    /// `(events, now)` at the last rebuild.
    refreshed_at: Option<(u64, Nanos)>,
}

impl Run {
    pub fn new(scenario: Rc<Scenario>, variant: &str, seed: u64) -> Result<Run, String> {
        let c = scenario.variant(Some(variant))?;
        let mut spec = c.spec.clone();
        spec.window = live_window(spec.window, spec.duration);
        let world = World::new(&spec, seed, c.budget);
        let report = RunReport::build(&world, &scenario.name, c.variant);
        let replay = Replay::new(&scenario, c.variant, seed);
        let variant = c.variant.to_owned();
        let mut run = Run {
            scenario,
            variant,
            seed,
            world,
            replay,
            report,
            anomalies: Vec::new(),
            verdicts: Vec::new(),
            stopped: None,
            save_path: None,
            announced_end: false,
            seen: BTreeMap::new(),
            previous_refresh: 0,
            refreshed_at: None,
        };
        run.refresh(true);
        Ok(run)
    }

    pub fn finished(&self) -> bool {
        self.world.finished() || self.stopped.is_some()
    }

    /// Whether a check is not decided yet: its figure has no value so far (its span of time
    /// has not begun, its fault has not started, nothing was answered in it yet) and the run
    /// goes on. At the end a figure without a value fails, as in `faultline run`.
    pub fn pending(&self, v: &Verdict) -> bool {
        v.value.is_none() && !self.finished()
    }

    /// Applies events until simulated time reaches `until` or `max_events` were applied; returns
    /// how many were. Only `World::step` moves the world, so the clock always sits on the last
    /// applied event — the state a replay reaches by counting events.
    pub fn advance(&mut self, until: Nanos, max_events: u64) -> u64 {
        let mut n = 0;
        while n < max_events && self.world.now() < until && !self.finished() {
            match self.world.step() {
                Ok(true) => n += 1,
                Ok(false) => break,
                Err(e) => self.stopped = Some(e.to_string()),
            }
        }
        n
    }

    /// Applies exactly one event (if the run has not ended).
    pub fn step_event(&mut self) -> bool {
        if self.finished() {
            return false;
        }
        match self.world.step() {
            Ok(stepped) => stepped,
            Err(e) => {
                self.stopped = Some(e.to_string());
                false
            }
        }
    }

    /// Injects a fault now: `fault` is a `[[fault]]` table of the scenario format (inline
    /// TOML, no times), compiled against this run's variant. Returns its index.
    pub fn inject(&mut self, fault: &str, duration: Option<Nanos>) -> Result<(String, usize), String> {
        if self.finished() {
            return Err("the run has ended".into());
        }
        let (name, kind) = self
            .scenario
            .fault_kind(Some(&self.variant), fault)
            .map_err(|e| e.errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; "))?;
        self.replay.commands.push(Command::Inject {
            at_event: self.world.events(),
            t_ns: self.world.now(),
            fault: fault.to_owned(),
            duration_ns: duration,
        });
        let index = self.world.inject(&name, kind, duration);
        Ok((name, index))
    }

    /// Ends fault `index` (scheduled or injected) now.
    pub fn heal(&mut self, index: usize) -> Result<(), String> {
        if self.finished() {
            return Err("the run has ended".into());
        }
        if index >= self.world.faults().len() {
            return Err(format!("no fault {index}"));
        }
        self.replay.commands.push(Command::Heal { at_event: self.world.events(), t_ns: self.world.now(), index });
        self.world.heal(index);
        Ok(())
    }

    /// Rebuilds the report if events were applied since the last time — while running only
    /// once per time-series window, unless `force`d (building it checks the whole history of
    /// recorded databases, tens of milliseconds on long runs) — and notes which anomaly
    /// figures rose. Returns whether it rebuilt.
    pub fn refresh(&mut self, force: bool) -> bool {
        let at = (self.world.events(), self.world.now());
        if self.refreshed_at == Some(at) {
            return false;
        }
        let window = self.world.spec.window.max(1);
        if let Some((_, t)) = self.refreshed_at
            && !force
            && !self.finished()
            && t / window == at.1 / window
        {
            return false;
        }
        self.refreshed_at = Some(at);
        self.report = RunReport::build(&self.world, &self.scenario.name, &self.variant);
        let now = self.world.now();
        let previous = self.previous_refresh;
        for (what, total) in anomaly_figures(&self.report) {
            let before = self.seen.get(&what).copied().unwrap_or(0);
            if total <= before {
                continue;
            }
            let added = total - before;
            match self.anomalies.iter_mut().rev().find(|a| a.what == what) {
                Some(a) if a.last == previous => {
                    (a.last, a.added, a.total) = (now, a.added + added, total);
                }
                _ => self.anomalies.push(Anomaly { first: now, last: now, what: what.clone(), added, total }),
            }
            self.seen.insert(what, total);
        }
        self.previous_refresh = now;
        let applicable: Vec<_> = self.scenario.expectations.iter().filter(|e| e.applies_to(&self.variant)).collect();
        if !applicable.is_empty() {
            let value = serde_json::to_value(&self.report).unwrap_or_default();
            self.verdicts = applicable.iter().map(|e| e.verdict(&self.report, &value)).collect();
        }
        true
    }

    /// The session as a replay file; with the trace hash once the run has ended normally (so
    /// that `faultline replay` can say whether it reproduced it).
    pub fn replay_json(&self) -> String {
        let mut r = self.replay.clone();
        if self.world.finished() && self.stopped.is_none() {
            r.trace_hash = Some(self.world.trace_hash().hex());
            r.events = Some(self.world.events());
        }
        r.to_json()
    }
}

/// Charts want about 60 points over a run: the window of a live run is the scenario's, or a
/// finer one when that gives fewer. The window only decides how figures are binned (no events,
/// no random draws depend on it), so the run and its trace are the same.
pub fn live_window(scenario: Nanos, duration: Nanos) -> Nanos {
    const MS: Nanos = 1_000_000;
    const NICE: [Nanos; 10] = [
        100 * MS,
        200 * MS,
        250 * MS,
        500 * MS,
        1000 * MS,
        2000 * MS,
        5000 * MS,
        10_000 * MS,
        30_000 * MS,
        60_000 * MS,
    ];
    let want = duration / 60;
    let nice = NICE.iter().rev().copied().find(|&w| w <= want).unwrap_or(NICE[0]);
    scenario.min(nice)
}

/// The report's anomaly counts and the figures that mean data was lost or given up on.
fn anomaly_figures(r: &RunReport) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = r.anomalies.iter().map(|(k, v)| (k.clone(), *v)).collect();
    for d in &r.databases {
        out.push((format!("{} rolled back acked writes", d.name), d.rolled_back));
        out.push((format!("{} lost requests in crashes", d.name), d.lost_in_crash));
    }
    for q in &r.queues {
        out.push((format!("{} dead-lettered", q.name), q.dead_lettered));
    }
    for s in &r.services {
        out.push((format!("{} lost requests in crashes", s.name), s.lost_in_crash));
    }
    for b in &r.balancers {
        out.push((format!("{} lost requests in crashes", b.name), b.lost_in_crash));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_scenarios::Source;
    use faultline_scenarios::catalog;

    fn scenario(name: &str) -> Rc<Scenario> {
        let text = catalog::get(name).expect("catalog entry").text;
        Rc::new(Scenario::parse(&Source { file: name.into(), text: text.into() }).expect("valid"))
    }

    #[test]
    fn advancing_in_chunks_is_the_plain_run() {
        let sc = scenario("cross-region-outage");
        let mut run = Run::new(sc.clone(), "fail-fast", 3).unwrap();
        let mut t = 0;
        while !run.finished() {
            t += 700_000_000;
            run.advance(t, 5_000);
        }
        let c = sc.variant(Some("fail-fast")).unwrap();
        let (plain, _) = faultline_scenarios::runner::run(&c, 3, None).unwrap();
        run.refresh(true);
        // The live run bins its figures in finer windows; everything else is the same run.
        assert_eq!(run.report.timeseries.window_ms, 1000.0);
        assert_eq!(plain.timeseries.window_ms, 5000.0);
        assert_eq!(run.report.trace_hash, plain.trace_hash);
        assert_eq!((run.report.events, run.report.sim_time_ns), (plain.events, plain.sim_time_ns));
        assert_eq!((run.report.requests, run.report.latency_ms), (plain.requests, plain.latency_ms));
        assert_eq!(run.report.services[0].arrivals, plain.services[0].arrivals);
        let per_window: u64 = run.report.timeseries.ok.iter().sum();
        assert_eq!(per_window, plain.requests.ok);
    }

    #[test]
    fn an_injected_session_replays_to_the_same_hash() {
        let sc = scenario("cross-region-outage");
        let mut run = Run::new(sc, "retry-once", 1).unwrap();
        run.advance(3_000_000_000, u64::MAX);
        let (name, index) =
            run.inject(r#"{ name = "us-east-b down", kind = "zone-outage", zone = "us-east-b" }"#, None).unwrap();
        assert_eq!(name, "us-east-b down");
        run.advance(6_000_000_000, u64::MAX);
        run.heal(index).unwrap();
        while !run.finished() {
            run.advance(u64::MAX, 100_000);
        }
        let saved = Replay::from_json("s", &run.replay_json()).unwrap();
        assert_eq!(saved.commands.len(), 2);
        assert_eq!(saved.trace_hash.as_deref(), Some(run.world.trace_hash().hex().as_str()));
        let (replayed, _) = faultline_scenarios::replay::run(&saved, None).unwrap();
        assert_eq!(Some(replayed.trace_hash), saved.trace_hash);
        assert!(run.inject(r#"{ kind = "zone-outage", zone = "us-east-b" }"#, None).is_err());
    }

    #[test]
    fn anomalies_are_episodes_of_rising_figures() {
        let sc = scenario("queue-dead-letters");
        let mut run = Run::new(sc, "three-attempts", 1).unwrap();
        let mut t = 0;
        while !run.finished() {
            t += 1_000_000_000;
            run.advance(t, u64::MAX);
            run.refresh(true);
        }
        let dead: Vec<&Anomaly> = run.anomalies.iter().filter(|a| a.what == "order-events dead-lettered").collect();
        assert!(!dead.is_empty(), "{:?}", run.anomalies);
        // Episodes add up to the report's total, and do not overlap.
        assert_eq!(dead.iter().map(|a| a.added).sum::<u64>(), run.report.queues[0].dead_lettered);
        assert_eq!(dead.last().unwrap().total, run.report.queues[0].dead_lettered);
        assert!(dead.windows(2).all(|w| w[0].last < w[1].first));
        // The errors fault lasts 10 s: its dead letters are one episode, not one per refresh.
        assert!(dead[0].last - dead[0].first >= 5_000_000_000, "{:?}", dead[0]);
    }

    #[test]
    fn live_windows_give_about_sixty_points() {
        const S: Nanos = 1_000_000_000;
        assert_eq!(live_window(5 * S, 60 * S), S);
        assert_eq!(live_window(5 * S, 600 * S), 5 * S);
        assert_eq!(live_window(S / 2, 60 * S), S / 2);
        assert_eq!(live_window(5 * S, S), S / 10);
        assert_eq!(live_window(5 * S, 3600 * S), 5 * S);
    }

    #[test]
    fn bad_faults_are_refused_without_touching_the_run() {
        let mut run = Run::new(scenario("cross-region-outage"), "retry-once", 1).unwrap();
        let e = run.inject(r#"{ kind = "region-outage", region = "mars" }"#, None).unwrap_err();
        assert!(e.contains("mars"), "{e}");
        assert!(run.replay.commands.is_empty());
        assert!(run.heal(99).is_err());
    }
}
