//! One live run: a world advanced event by event, the commands given to it (recorded exactly as
//! `faultline replay` applies them), and the latest report built from it. No UI here, and no
//! simulation logic either: faults go through `World::inject` / `World::heal`, the same engine
//! command scheduled faults use, and every figure comes from `RunReport::build` (or, for the
//! loss counters checked at window boundaries, from the same counters it reads).

use std::rc::Rc;

use faultline_models::world::Component;
use faultline_models::{RunReport, World};
use faultline_scenarios::Scenario;
use faultline_scenarios::expect::Verdict;
use faultline_scenarios::replay::{Command, Replay};
use faultline_sim::Nanos;

/// An episode of a loss counter rising (requests lost in crashes, acknowledged writes rolled
/// back, dead letters): consecutive window checks that saw it rise are one episode. Counters
/// are checked at every window boundary — after the first event at or past it — and when the
/// run ends, whatever the pacing: the same run gives the same episodes with the same times.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// Simulated time of the first and the last check that saw it rise (the first event at or
    /// past a window boundary, or the end of the run): within a window after the rise.
    pub first: Nanos,
    pub last: Nanos,
    pub what: String,
    /// Added during the episode.
    pub added: u64,
    /// Total since the start of the run.
    pub total: u64,
    /// Index of the last check that saw it rise.
    check: u64,
}

/// Whether a fault is yet to start, in force or over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultState {
    /// Its start is later, or due now and not applied yet (a fault injected just now).
    Pending,
    Active,
    /// Ended (its end has passed, or it was healed), or healed before it started.
    Over,
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
    /// Episodes of the loss counters rising, in the order they rose.
    pub anomalies: Vec<Anomaly>,
    /// The scenario's expectations against the report so far.
    pub verdicts: Vec<Verdict>,
    /// Why the run stopped early (its event budget ran out).
    pub stopped: Option<String>,
    /// Where the session is saved (rewritten at each command and at the end).
    pub save_path: Option<String>,
    /// Whether the UI has announced its end.
    pub announced_end: bool,
    /// The loss counters at the last check.
    seen: Vec<u64>,
    /// Checks of the loss counters so far.
    checks: u64,
    /// The window boundary at or after which the counters are checked next.
    next_check: Nanos,
    /// Whether the counters were checked at the end of the run.
    checked_end: bool,
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
            seen: Vec::new(),
            checks: 0,
            next_check: 0,
            checked_end: false,
            refreshed_at: None,
        };
        run.check_losses();
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
            let stepped = self.step_world();
            if !stepped {
                break;
            }
            n += 1;
        }
        n
    }

    /// One `World::step`, then the loss counters' check if a window boundary was reached or the
    /// run ended. Every event goes through here, so the checks fall on the same events however
    /// the run is paced.
    fn step_world(&mut self) -> bool {
        let stepped = match self.world.step() {
            Ok(stepped) => stepped,
            Err(e) => {
                self.stopped = Some(e.to_string());
                false
            }
        };
        if self.world.now() >= self.next_check || (self.finished() && !self.checked_end) {
            self.check_losses();
        }
        stepped
    }

    /// Compares the loss counters with the last check: a rise starts an episode, or extends
    /// the one the previous check saw.
    fn check_losses(&mut self) {
        let now = self.world.now();
        let window = self.world.spec.window.max(1);
        self.next_check = (now / window).saturating_add(1).saturating_mul(window);
        self.checked_end = self.finished();
        self.checks += 1;
        let counters = loss_counters(&self.world);
        self.seen.resize(counters.len(), 0);
        for (i, (what, total)) in counters.into_iter().enumerate() {
            let before = self.seen[i];
            if total <= before {
                continue;
            }
            self.seen[i] = total;
            let added = total - before;
            let check = self.checks;
            match self.anomalies.iter_mut().rev().find(|a| a.what == what) {
                Some(a) if a.check + 1 == check => {
                    (a.last, a.added, a.total, a.check) = (now, a.added + added, total, check);
                }
                _ => self.anomalies.push(Anomaly { first: now, last: now, what, added, total, check }),
            }
        }
    }

    /// Applies exactly one event (if the run has not ended).
    pub fn step_event(&mut self) -> bool {
        if self.finished() {
            return false;
        }
        self.step_world()
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

    /// Whether fault `index` is yet to start, in force or over, now.
    pub fn fault_state(&self, index: usize) -> FaultState {
        let now = self.world.now();
        if self.world.net.active().any(|(id, _)| *id as usize == index) {
            return FaultState::Active;
        }
        let ended = self.world.faults().get(index).is_none_or(|f| f.end.is_some_and(|e| e <= now));
        if ended || self.healing(index) { FaultState::Over } else { FaultState::Pending }
    }

    /// Whether a heal of fault `index` was given.
    pub fn healing(&self, index: usize) -> bool {
        self.replay.commands.iter().any(|c| matches!(c, Command::Heal { index: i, .. } if *i == index))
    }

    /// The faults a heal would end now: those in force, and those starting now (injected, their
    /// start not applied yet: a heal ends them at the same instant) — not the ones already
    /// being healed.
    pub fn healable(&self) -> Vec<usize> {
        let now = self.world.now();
        (0..self.world.faults().len())
            .filter(|&i| !self.healing(i))
            .filter(|&i| match self.fault_state(i) {
                FaultState::Active => true,
                FaultState::Pending => self.world.faults()[i].start <= now,
                FaultState::Over => false,
            })
            .collect()
    }

    /// Ends fault `index` (scheduled or injected) now. Refused, and not recorded, when the
    /// fault is not in force or starting now (it is over, has not begun, or is being healed).
    pub fn heal(&mut self, index: usize) -> Result<(), String> {
        if self.finished() {
            return Err("the run has ended".into());
        }
        let Some(f) = self.world.faults().get(index) else { return Err(format!("no fault {index}")) };
        if !self.healable().contains(&index) {
            let why = if self.healing(index) {
                "it is being healed already".to_owned()
            } else {
                match self.fault_state(index) {
                    FaultState::Over => "it is already over".to_owned(),
                    _ => format!("it has not started (it starts at t={})", crate::app::secs(f.start)),
                }
            };
            return Err(format!("nothing to heal: `{}` {why}", f.name));
        }
        self.replay.commands.push(Command::Heal { at_event: self.world.events(), t_ns: self.world.now(), index });
        self.world.heal(index);
        Ok(())
    }

    /// Rebuilds the report if events were applied since the last time — while running only
    /// once per time-series window, unless `force`d (building it checks the whole history of
    /// recorded databases, tens of milliseconds on long runs). Returns whether it rebuilt.
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

/// The counters that mean data or requests were lost or given up on, read from the world as
/// `RunReport::build` reads them (and named and ordered as [`loss_figures`] names them): they
/// only ever rise, so an episode of their rising is something that happened. Cheap (no
/// history is checked), so they can be read at every window boundary.
pub fn loss_counters(world: &World) -> Vec<(String, u64)> {
    let spec = &world.spec;
    let mut db = vec![(0u64, 0u64); spec.databases.len()];
    let mut services = vec![0u64; spec.services.len()];
    let (mut queues, mut balancers) = (Vec::new(), Vec::new());
    for a in &world.actors {
        match &a.comp {
            Component::Replica(r) => {
                db[a.group].0 += r.stats.rolled_back;
                db[a.group].1 += r.stats.lost;
            }
            Component::Broker(b) => queues.push((format!("{} dead-lettered", a.name), b.stats.dead_lettered)),
            Component::Service(s) => services[a.group] += s.stats.lost,
            Component::Balancer(b) => balancers.push((format!("{} lost requests in crashes", a.name), b.stats.lost)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (d, (rolled_back, lost)) in spec.databases.iter().zip(db) {
        out.push((format!("{} rolled back acked writes", d.name), rolled_back));
        out.push((format!("{} lost requests in crashes", d.name), lost));
    }
    out.extend(queues);
    for (s, lost) in spec.services.iter().zip(services) {
        out.push((format!("{} lost requests in crashes", s.name), lost));
    }
    out.extend(balancers);
    out
}

/// The report's figures that mean data or requests were lost or given up on.
pub fn loss_figures(r: &RunReport) -> Vec<(String, u64)> {
    let mut out = Vec::new();
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
        // The errors fault lasts 10 s: its dead letters are one episode, not one per check.
        assert!(dead[0].last - dead[0].first >= 5_000_000_000, "{:?}", dead[0]);
    }

    /// Drives a run to its end in slices of `slice` ns of at most `events` events each,
    /// refreshing after each as the UI does.
    fn drive(sc: &Rc<Scenario>, variant: &str, seed: u64, slice: Nanos, events: u64) -> Run {
        let mut run = Run::new(sc.clone(), variant, seed).unwrap();
        let mut t = 0;
        while !run.finished() {
            if run.advance(t, events) == 0 {
                t += slice;
            }
            run.refresh(false);
        }
        run.refresh(true);
        run
    }

    /// Episodes were stamped at the refresh that noticed them, so their times followed the
    /// frames: the crash losses of cross-region-outage [fail-fast] seed 7 (the outage starts at
    /// 20 s) read 20.4 s at one pace, 23.7 s or 25.4 s at others. Checked at window boundaries
    /// on the events themselves, they are the same however the run is paced.
    #[test]
    fn episodes_do_not_depend_on_pacing() {
        let sc = scenario("cross-region-outage");
        let runs = [
            drive(&sc, "fail-fast", 7, 3_700_000_000, 100_000),
            drive(&sc, "fail-fast", 7, 170_000_000, 997),
            drive(&sc, "fail-fast", 7, 60_000_000_000, u64::MAX),
        ];
        let mut stepped = Run::new(sc.clone(), "fail-fast", 7).unwrap();
        while stepped.step_event() {}
        assert!(stepped.finished());
        for r in &runs[1..] {
            assert_eq!(r.anomalies, runs[0].anomalies);
        }
        assert_eq!(stepped.anomalies, runs[0].anomalies);
        let crash: Vec<&Anomaly> =
            runs[0].anomalies.iter().filter(|a| a.what.ends_with("lost requests in crashes")).collect();
        assert!(!crash.is_empty(), "{:?}", runs[0].anomalies);
        for a in crash {
            assert!((20_000_000_000..20_100_000_000).contains(&a.first), "{a:?}");
        }
    }

    /// Mid-run the saga checker counts sagas still in flight (orphaned side effects, leaked
    /// reservations…) and those counts fall again as they finish; the UI kept the highest
    /// count it had seen (242 orphaned side effects where `faultline run` says 57), depending
    /// on how it was driven. At the end, what is shown is the final report's.
    #[test]
    fn at_the_end_the_anomalies_are_the_final_reports() {
        let sc = scenario("checkout-outage");
        for v in sc.variants.iter().map(|v| v.name.clone()) {
            let c = sc.variant(Some(&v)).unwrap();
            let (plain, _) = faultline_scenarios::runner::run(&c, 1, None).unwrap();
            for run in [drive(&sc, &v, 1, 1_000_000_000, 100_000), drive(&sc, &v, 1, 90_000_000, 3_000)] {
                assert_eq!(run.report.anomalies, plain.anomalies, "[{v}]");
                let shown = crate::view::anomaly_text(&run);
                for (kind, n) in plain.anomalies.iter().filter(|(_, n)| **n > 0) {
                    assert!(shown.contains(&format!("{kind} ={n}\n")), "[{v}] {kind} = {n}:\n{shown}");
                }
                // Loss episodes end at the report's totals.
                for (what, n) in loss_figures(&plain).into_iter().filter(|x| x.1 > 0) {
                    let last = run.anomalies.iter().rev().find(|a| a.what == what).map(|a| a.total);
                    assert_eq!(last, Some(n), "[{v}] {what}");
                }
                assert_eq!(loss_counters(&run.world), loss_figures(&run.report), "[{v}]");
            }
        }
    }

    /// The loss counters read from the world are the report's, named and ordered alike.
    #[test]
    fn loss_counters_are_the_reports() {
        for e in catalog::CATALOG {
            let sc = scenario(e.name);
            let mut run = Run::new(sc, &sc_first_variant(e.name), 1).unwrap();
            run.advance(run.world.spec.duration / 2, 300_000);
            run.refresh(true);
            assert_eq!(loss_counters(&run.world), loss_figures(&run.report), "{}", e.name);
        }
    }

    fn sc_first_variant(name: &str) -> String {
        scenario(name).variants[0].name.clone()
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
