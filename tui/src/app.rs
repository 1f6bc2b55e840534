//! The application state and its one `update` function (Elm style: events in, state changed,
//! the view renders from `&App`). The simulation is only ever touched through [`Run`].

use std::rc::Rc;
use std::time::Duration;

use faultline_scenarios::catalog;
use faultline_scenarios::sweep::SeedRecord;
use faultline_scenarios::{Changes, Scenario};
use faultline_sim::Nanos;
use tracing::Level;

use crate::driver::Run;
use crate::event::{Action, Event};
use crate::keys::{self, Context};
use crate::logpane::{LogBuffer, LogLine};
use crate::menu::{self, DURATIONS, MenuAction, MenuItem};
use crate::sweepview::SweepView;

/// What the TUI needs from the outside world: only the binary knows files and the catalog
/// lookup rules.
pub trait Host {
    /// A scenario by the name a sweep record or the catalog gives (a path or a catalog name).
    fn load(&self, scenario: &str, changes: &Changes) -> Result<Scenario, String>;
    /// Writes a file completely (or not at all).
    fn save(&self, path: &str, contents: &str) -> Result<(), String>;
    /// Whether a file is there already (so that replacing it can be said).
    fn exists(&self, _path: &str) -> bool {
        false
    }
}

/// How the TUI starts.
#[derive(Default)]
pub struct Options {
    pub scenario: Option<Scenario>,
    pub variant: Option<String>,
    pub seed: Option<u64>,
    /// Start with the next variant side by side.
    pub compare: bool,
    /// A sweep's `--out` file and its records.
    pub sweep: Option<(String, Vec<SeedRecord>)>,
    pub paused: bool,
    /// Simulated seconds per real second (the nearest offered speed is used).
    pub speed: Option<f64>,
    /// Keep the session in this replay file from the start.
    pub save_replay: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Catalog,
    Run,
    Sweep,
}

pub enum Overlay {
    /// The help, over what was open when it was asked for (the fault menu comes back when it
    /// closes, and its keys are listed first).
    Help {
        scroll: u16,
        under: Option<Box<Overlay>>,
    },
    Menu {
        items: Vec<MenuItem>,
        selected: usize,
    },
}

/// Simulated seconds per real second offered by `+`/`-`.
pub const SPEEDS: [f64; 10] = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 100.0, 300.0];
const DEFAULT_SPEED: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speed {
    Paced(usize),
    /// As fast as possible (bounded per frame so input stays responsive).
    Max,
}

impl Speed {
    pub fn label(self) -> String {
        match self {
            Speed::Paced(i) => format!("{}×", SPEEDS[i]),
            Speed::Max => "max".into(),
        }
    }
}

/// Where the runs are headed regardless of pacing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    Until(Nanos),
    End,
}

/// Events applied per tick (over all runs): keeps a frame short on any scenario.
pub const EVENTS_PER_TICK: u64 = 100_000;
const LOG_LINES: usize = 1_000;

pub struct App {
    pub screen: Screen,
    pub overlay: Option<Overlay>,
    pub scenario: Option<Rc<Scenario>>,
    /// Index of the (first) variant in the scenario's variants.
    pub variant: usize,
    pub seed: u64,
    /// Two runs side by side: variants `variant` and the next one.
    pub comparing: bool,
    pub runs: Vec<Run>,
    pub paused: bool,
    pub speed: Speed,
    last_paced: usize,
    /// The paced simulated time the runs are brought to.
    pub clock: Nanos,
    pub goal: Option<Goal>,
    /// Index into [`DURATIONS`] for injected faults.
    pub duration: usize,
    pub log: Vec<LogLine>,
    /// The last message (shown in the footer).
    pub status: String,
    pub sweep: Option<SweepView>,
    pub catalog_selected: usize,
    /// The built-in scenarios: `(name, description)`.
    pub catalog: Vec<(String, String)>,
    /// The sweep record the current run was opened from (its trace hash is checked at the end).
    pub sweep_record: Option<SeedRecord>,
    pub quit: bool,
    /// The terminal's size, from resize events (0×0 until one arrives).
    pub size: (u16, u16),
    save_replay: Option<String>,
    /// `s` was pressed: sessions are saved (after a restart too) under their own names.
    saving: bool,
    /// `--seed` and `--variant`, for a scenario picked from the catalog.
    start_seed: Option<u64>,
    start_variant: Option<String>,
    logs: LogBuffer,
    host: Box<dyn Host>,
}

impl App {
    /// `logs` is the buffer the log pane's tracing subscriber fills (see `logpane`).
    pub fn new(opts: Options, host: Box<dyn Host>, logs: LogBuffer) -> App {
        let speed = opts.speed.map_or(DEFAULT_SPEED, |s| {
            (0..SPEEDS.len()).min_by(|&a, &b| (SPEEDS[a] - s).abs().total_cmp(&(SPEEDS[b] - s).abs())).unwrap_or(0)
        });
        let mut app = App {
            screen: Screen::Catalog,
            overlay: None,
            scenario: None,
            variant: 0,
            seed: 1,
            comparing: opts.compare,
            runs: Vec::new(),
            paused: opts.paused,
            speed: Speed::Paced(speed),
            last_paced: speed,
            clock: 0,
            goal: None,
            duration: 0,
            log: Vec::new(),
            status: String::new(),
            sweep: opts.sweep.map(|(file, records)| SweepView::new(&file, records)),
            catalog_selected: 0,
            catalog: catalog::CATALOG
                .iter()
                .map(|e| {
                    let src = faultline_scenarios::Source { file: e.name.to_owned(), text: e.text.to_owned() };
                    let desc = Scenario::parse(&src).map(|s| s.description).unwrap_or_default();
                    (e.name.to_owned(), desc)
                })
                .collect(),
            sweep_record: None,
            quit: false,
            size: (0, 0),
            save_replay: opts.save_replay,
            saving: false,
            start_seed: opts.seed,
            start_variant: opts.variant.clone(),
            logs,
            host,
        };
        if let Some(sc) = opts.scenario {
            app.seed = opts.seed.unwrap_or(sc.default_seed);
            match opts.variant.as_deref().map(|v| sc.variants.iter().position(|x| x.name == v)) {
                Some(None) => app.say(
                    None,
                    Level::WARN,
                    format!("no variant `{}`; using the first", opts.variant.unwrap_or_default()),
                ),
                Some(Some(i)) => app.variant = i,
                None => {}
            }
            app.scenario = Some(Rc::new(sc));
            app.screen = Screen::Run;
            app.start();
        } else if app.sweep.is_some() {
            app.screen = Screen::Sweep;
        }
        app
    }

    /// The context the help lists first: what it was opened over.
    pub fn help_context(&self) -> Context {
        match (&self.overlay, self.screen) {
            (Some(Overlay::Help { under: Some(_), .. }), _) => Context::Menu,
            (_, Screen::Catalog) => Context::Catalog,
            (_, Screen::Run) => Context::Run,
            (_, Screen::Sweep) => Context::Sweep,
        }
    }

    /// How far the help scrolls: until its last line is at the bottom of the terminal (of its
    /// last known size; before any is known, until its last line is at the top).
    fn help_max_scroll(&self) -> u16 {
        let (w, h) = self.size;
        let rows = crate::view::help_rows(self.help_context(), w.min(78).saturating_sub(2));
        // The help fills the screen above the footer, in a border.
        rows.saturating_sub(if h > 0 { h.saturating_sub(3) } else { 1 })
    }

    /// The key context of the moment: the overlay's, else the screen's.
    pub fn context(&self) -> Context {
        match (&self.overlay, self.screen) {
            (Some(Overlay::Help { .. }), _) => Context::Help,
            (Some(Overlay::Menu { .. }), _) => Context::Menu,
            (None, Screen::Catalog) => Context::Catalog,
            (None, Screen::Run) => Context::Run,
            (None, Screen::Sweep) => Context::Sweep,
        }
    }

    pub fn update(&mut self, ev: Event) {
        match ev {
            Event::Key(k) => {
                if let Some(a) = keys::action(self.context(), &k) {
                    self.act(a);
                }
            }
            Event::Resize(w, h) => self.size = (w, h),
            Event::Tick(dt) => self.tick(dt),
        }
    }

    /// Quits as `q` does (sessions being saved are written): for a signal that ends the UI.
    pub fn shutdown(&mut self) {
        self.act(Action::Quit);
    }

    pub fn finished(&self) -> bool {
        !self.runs.is_empty() && self.runs.iter().all(Run::finished)
    }

    /// Simulated time shown: the slowest run's.
    pub fn now(&self) -> Nanos {
        self.runs.iter().map(|r| r.world.now()).min().unwrap_or(0)
    }

    /// Label of run `i` in the log (`A`/`B` when comparing).
    pub fn label(&self, i: usize) -> &'static str {
        match (self.runs.len(), i) {
            (1, _) => "",
            (_, 0) => "A",
            _ => "B",
        }
    }

    /// Moves captured tracing events into the log, stamped with run `run`'s simulated time.
    fn drain_logs(&mut self, run: Option<usize>) {
        let (label, now) = match run {
            Some(i) => (self.label(i).to_owned(), self.runs[i].world.now()),
            None => (String::new(), self.now()),
        };
        for c in self.logs.drain() {
            self.log.push(LogLine { t: c.t_ns.unwrap_or(now), run: label.clone(), level: c.level, text: c.text });
        }
        if self.log.len() > LOG_LINES {
            self.log.drain(..self.log.len() - LOG_LINES);
        }
    }

    /// A message from the UI itself: a tracing event (so `RUST_LOG` filters it like any
    /// other) and the footer's status.
    fn say(&mut self, run: Option<usize>, level: Level, msg: String) {
        let t_ns = run.map_or(self.now(), |i| self.runs[i].world.now());
        match level {
            Level::WARN | Level::ERROR => tracing::warn!(t_ns, "{msg}"),
            _ => tracing::info!(t_ns, "{msg}"),
        }
        self.drain_logs(run);
        self.status = msg;
    }

    /// (Re)starts the run(s) at t=0 with the current scenario, variant(s) and seed.
    fn start(&mut self) {
        let Some(sc) = self.scenario.clone() else { return };
        let n = sc.variants.len();
        if self.comparing && n < 2 {
            self.comparing = false;
            self.say(None, Level::WARN, format!("`{}` has one variant: nothing to compare", sc.name));
        }
        let mut names = vec![sc.variants[self.variant % n].name.clone()];
        if self.comparing {
            names.push(sc.variants[(self.variant + 1) % n].name.clone());
        }
        let mut runs = Vec::new();
        for v in &names {
            match Run::new(sc.clone(), v, self.seed) {
                Ok(r) => runs.push(r),
                Err(e) => {
                    self.say(None, Level::ERROR, e);
                    return;
                }
            }
        }
        if let Some(path) = &self.save_replay {
            for (i, r) in runs.iter_mut().enumerate() {
                r.save_path = Some(if i == 0 { path.clone() } else { with_suffix(path, &r.variant) });
            }
        } else if self.saving {
            // Saving goes on after a restart: each new session in its own default file (the
            // same file again for the same scenario, variant and seed).
            for r in &mut runs {
                r.save_path = Some(default_path(&sc.name, &r.variant, r.seed));
            }
        }
        self.runs = runs;
        self.clock = 0;
        self.goal = None;
        self.overlay = None;
        let what = names.join(" vs ");
        self.say(None, Level::INFO, format!("started {} [{what}] seed {}", sc.name, self.seed));
        if self.saving {
            for i in 0..self.runs.len() {
                let path = self.runs[i].save_path.clone().unwrap_or_default();
                let was = if self.host.exists(&path) { ", replacing the file there" } else { "" };
                self.say(Some(i), Level::INFO, format!("saving this session to {path}{was}"));
            }
        }
        self.write_sessions();
    }

    fn act(&mut self, a: Action) {
        match (self.context(), a) {
            (_, Action::Quit) => {
                self.write_sessions();
                self.quit = true;
            }
            (Context::Help, Action::Help) => {
                if let Some(Overlay::Help { under, .. }) = self.overlay.take() {
                    self.overlay = under.map(|o| *o);
                }
            }
            (_, Action::Help) => {
                let under = self.overlay.take().map(Box::new);
                self.overlay = Some(Overlay::Help { scroll: 0, under });
            }
            (Context::Help, _) => {
                let max = self.help_max_scroll();
                if let Some(Overlay::Help { scroll, .. }) = &mut self.overlay {
                    *scroll = match a {
                        Action::Up => scroll.saturating_sub(1),
                        Action::Down => scroll.saturating_add(1),
                        Action::PageUp => scroll.saturating_sub(10),
                        Action::PageDown => scroll.saturating_add(10),
                        _ => *scroll,
                    }
                    .min(max);
                }
            }
            (Context::Menu, _) => self.menu_action(a),
            (Context::Sweep, _) => self.sweep_action(a),
            (Context::Catalog, _) => self.catalog_action(a),
            (Context::Run, _) => self.run_action(a),
            (Context::Global, _) => {}
        }
    }

    fn run_action(&mut self, a: Action) {
        match a {
            Action::TogglePause => {
                if self.finished() {
                    self.status = "the run has ended (r restarts it)".into();
                    return;
                }
                self.paused = !self.paused;
                self.goal = None;
                self.clock = self.now();
            }
            Action::StepEvent => {
                self.paused = true;
                self.goal = None;
                if let Some(first) = self.runs.first_mut() {
                    first.step_event();
                    let t = first.world.now();
                    for r in &mut self.runs[1..] {
                        r.advance(t, EVENTS_PER_TICK);
                    }
                }
                self.after_work();
            }
            Action::StepWindow => {
                self.paused = true;
                if let Some(first) = self.runs.first() {
                    let w = first.world.spec.window.max(1);
                    self.goal = Some(Goal::Until((self.now() / w + 1).saturating_mul(w)));
                }
            }
            Action::Faster => {
                self.speed = match self.speed {
                    Speed::Paced(i) if i + 1 < SPEEDS.len() => Speed::Paced(i + 1),
                    _ => Speed::Max,
                };
                self.speed_changed();
            }
            Action::Slower => {
                self.speed = match self.speed {
                    Speed::Paced(i) => Speed::Paced(i.saturating_sub(1)),
                    Speed::Max => Speed::Paced(self.last_paced),
                };
                self.speed_changed();
            }
            Action::MaxSpeed => {
                self.speed = if self.speed == Speed::Max { Speed::Paced(self.last_paced) } else { Speed::Max };
                self.speed_changed();
            }
            Action::RestartSame => self.start(),
            Action::RestartNext => {
                self.seed = self.seed.wrapping_add(1);
                self.start();
            }
            Action::NextVariant => {
                if let Some(sc) = &self.scenario {
                    self.variant = (self.variant + 1) % sc.variants.len();
                    self.start();
                }
            }
            Action::Compare => {
                self.comparing = !self.comparing;
                self.start();
            }
            Action::JumpEnd => self.goal = Some(Goal::End),
            Action::FaultMenu => match self.runs.first() {
                Some(r) if !r.finished() => {
                    self.overlay = Some(Overlay::Menu { items: menu::items(&r.world, &r.healable()), selected: 0 })
                }
                _ => self.status = "the run has ended: nothing to inject into".into(),
            },
            Action::Save => self.save(),
            Action::SweepView => {
                if self.sweep.is_some() {
                    self.screen = Screen::Sweep;
                } else {
                    self.status = "no sweep loaded (start with --sweep FILE.jsonl)".into();
                }
            }
            _ => {}
        }
    }

    fn speed_changed(&mut self) {
        if let Speed::Paced(i) = self.speed {
            self.last_paced = i;
        }
        // Pace from where the runs are, not from where a lagging clock was.
        self.clock = self.now();
    }

    fn menu_action(&mut self, a: Action) {
        let Some(Overlay::Menu { items, selected }) = &mut self.overlay else { return };
        let n = items.len();
        match a {
            Action::Up => *selected = selected.saturating_sub(1),
            Action::Down => *selected = (*selected + 1).min(n.saturating_sub(1)),
            Action::PageUp => *selected = selected.saturating_sub(10),
            Action::PageDown => *selected = (*selected + 10).min(n.saturating_sub(1)),
            Action::CycleDuration => self.duration = (self.duration + 1) % DURATIONS.len(),
            Action::Back => self.overlay = None,
            Action::Select => {
                let Some(item) = items.get(*selected).cloned() else { return };
                self.overlay = None;
                self.apply(&item);
            }
            _ => {}
        }
    }

    /// Injects or heals in every run (the same command, compiled against each run's variant).
    fn apply(&mut self, item: &MenuItem) {
        let duration = DURATIONS[self.duration];
        for i in 0..self.runs.len() {
            let r = &mut self.runs[i];
            let t = r.world.now();
            let result = match &item.action {
                MenuAction::Inject(fault) => r.inject(fault, duration).map(|(name, _)| {
                    format!("injected `{name}` at t={} ({})", secs(t), menu::duration_label(duration))
                }),
                MenuAction::Heal(index) => {
                    let name = r.world.faults().get(*index).map(|f| f.name.clone()).unwrap_or_default();
                    r.heal(*index).map(|()| format!("healing `{name}` at t={}", secs(t)))
                }
            };
            match result {
                Ok(msg) => self.say(Some(i), Level::INFO, msg),
                Err(e) => self.say(Some(i), Level::WARN, format!("{}: {e}", item.label)),
            }
        }
        self.write_sessions();
        self.after_work();
    }

    fn sweep_action(&mut self, a: Action) {
        let Some(v) = &mut self.sweep else { return };
        let record = match a {
            Action::Up => return v.move_by(-1),
            Action::Down => return v.move_by(1),
            Action::PageUp => return v.move_by(-10),
            Action::PageDown => return v.move_by(10),
            Action::SortNext => return v.sort_next(),
            Action::SortReverse => return v.reverse(),
            Action::FilterVariant => return v.filter_next(),
            Action::Back => {
                if !self.runs.is_empty() {
                    self.screen = Screen::Run;
                }
                return;
            }
            Action::Select => v.selected_record().cloned(),
            Action::OpenWorst => v.worst().cloned(),
            _ => return,
        };
        if let Some(r) = record {
            self.open_record(r);
        }
    }

    /// Opens a sweep record as a live run of its scenario, variant and seed.
    fn open_record(&mut self, r: SeedRecord) {
        let sc = match self.host.load(&r.scenario, &r.changes()) {
            Ok(sc) => sc,
            Err(e) => return self.say(None, Level::WARN, format!("cannot open `{}`: {e}", r.scenario)),
        };
        let Some(i) = sc.variants.iter().position(|v| v.name == r.variant) else {
            return self.say(None, Level::WARN, format!("`{}` has no variant `{}`", r.scenario, r.variant));
        };
        self.scenario = Some(Rc::new(sc));
        self.variant = i;
        self.seed = r.seed;
        self.comparing = false;
        self.screen = Screen::Run;
        self.start();
        self.say(
            None,
            Level::INFO,
            format!("opened sweep run [{}] seed {} (trace {})", r.variant, r.seed, r.trace_hash),
        );
        self.sweep_record = Some(r);
    }

    fn catalog_action(&mut self, a: Action) {
        let n = catalog::CATALOG.len();
        match a {
            Action::Up => self.catalog_selected = self.catalog_selected.saturating_sub(1),
            Action::Down => self.catalog_selected = (self.catalog_selected + 1).min(n - 1),
            Action::Select => {
                let name = catalog::CATALOG[self.catalog_selected].name;
                match self.host.load(name, &Changes::default()) {
                    Ok(sc) => {
                        // --seed and --variant apply to the scenario picked.
                        self.seed = self.start_seed.unwrap_or(sc.default_seed);
                        self.variant = 0;
                        if let Some(v) = &self.start_variant {
                            match sc.variants.iter().position(|x| &x.name == v) {
                                Some(i) => self.variant = i,
                                None => {
                                    let names: Vec<&str> = sc.variants.iter().map(|x| x.name.as_str()).collect();
                                    let msg = format!(
                                        "`{}` has no variant `{v}` (--variant): running `{}` (its variants: {})",
                                        sc.name,
                                        names[0],
                                        names.join(", ")
                                    );
                                    self.say(None, Level::WARN, msg);
                                }
                            }
                        }
                        self.scenario = Some(Rc::new(sc));
                        self.screen = Screen::Run;
                        self.start();
                    }
                    Err(e) => self.say(None, Level::WARN, e),
                }
            }
            _ => {}
        }
    }

    fn tick(&mut self, dt: Duration) {
        if self.runs.is_empty() || self.finished() {
            self.goal = None;
            return;
        }
        let target = match (self.goal, self.paused, self.speed) {
            (Some(Goal::Until(t)), ..) => t,
            (Some(Goal::End), ..) | (None, false, Speed::Max) => Nanos::MAX,
            (None, true, _) => return,
            (None, false, Speed::Paced(i)) => self.clock.saturating_add((SPEEDS[i] * dt.as_nanos() as f64) as Nanos),
        };
        let budget = EVENTS_PER_TICK / self.runs.len() as u64;
        for i in 0..self.runs.len() {
            self.runs[i].advance(target, budget);
            self.drain_logs(Some(i));
        }
        // The paced clock never runs ahead of a run held back by the event budget.
        let behind = self.runs.iter().filter(|r| !r.finished()).map(|r| r.world.now()).min();
        self.clock = behind.map_or(self.now(), |b| b.min(target));
        if let Some(Goal::Until(t)) = self.goal
            && self.runs.iter().all(|r| r.finished() || r.world.now() >= t)
        {
            self.goal = None;
        }
        self.after_work();
    }

    /// Rebuilds the open fault menu's items for the world as it is now (a fault that started
    /// gets its heal entry, one that ended loses it), keeping the selected entry where it is
    /// still offered; closes the menu when the run has ended.
    fn refresh_menu(&mut self) {
        let Some(Overlay::Menu { items, selected }) = &mut self.overlay else { return };
        let Some(r) = self.runs.first().filter(|r| !r.finished()) else {
            self.overlay = None;
            self.status = "the run has ended: nothing to inject into".into();
            return;
        };
        let fresh = menu::items(&r.world, &r.healable());
        if fresh == *items {
            return;
        }
        let label = items.get(*selected).map(|i| i.label.clone());
        *selected = label
            .and_then(|l| fresh.iter().position(|i| i.label == l))
            .unwrap_or(*selected)
            .min(fresh.len().saturating_sub(1));
        *items = fresh;
    }

    /// Rebuilds reports (at every window while running, at once when stopped or stepped) and
    /// the open fault menu, and announces runs that just ended.
    fn after_work(&mut self) {
        self.refresh_menu();
        let force = self.paused && self.goal.is_none();
        let mut ended = Vec::new();
        for (i, r) in self.runs.iter_mut().enumerate() {
            r.refresh(force);
            if r.finished() && !r.announced_end {
                r.announced_end = true;
                ended.push(i);
            }
        }
        if ended.is_empty() {
            return;
        }
        for i in ended {
            let r = &self.runs[i];
            let rq = &r.report.requests;
            let mut msg = match &r.stopped {
                Some(why) => format!("stopped at t={}: {why}", secs(r.world.now())),
                // The trace first: it is what `faultline replay` compares.
                None => format!(
                    "ended at {}, trace {}: {} requests, {:.1}% ok, {} events",
                    secs(r.world.now()),
                    r.report.trace_hash,
                    rq.total,
                    100.0 * rq.ok as f64 / rq.total.max(1) as f64,
                    r.report.events
                ),
            };
            if let Some(rec) = &self.sweep_record
                && rec.variant == r.variant
                && rec.seed == r.seed
                && r.replay.commands.is_empty()
            {
                msg.push_str(if rec.trace_hash == r.report.trace_hash {
                    " — same trace as the sweep record"
                } else {
                    " — DIFFERS from the sweep record"
                });
            }
            self.say(Some(i), Level::INFO, msg);
        }
        self.write_sessions();
    }

    fn save(&mut self) {
        let Some(sc) = self.scenario.clone() else { return };
        if self.save_replay.is_none() {
            self.saving = true;
        }
        for i in 0..self.runs.len() {
            let r = &mut self.runs[i];
            // A file this session did not write is replaced: say so.
            let replaced = r.save_path.is_none() && self.host.exists(&default_path(&sc.name, &r.variant, r.seed));
            let path = r.save_path.get_or_insert_with(|| default_path(&sc.name, &r.variant, r.seed)).clone();
            let json = r.replay_json();
            let was = if replaced { ", replacing the file that was there" } else { "" };
            let (level, msg) = match self.host.save(&path, &json) {
                Ok(()) if r.finished() => (Level::INFO, format!("saved {path}{was} (faultline replay {path})")),
                Ok(()) => (
                    Level::INFO,
                    format!("saving the session to {path}{was} (rewritten at each command and at the end)"),
                ),
                Err(e) => (Level::WARN, format!("could not save {path}: {e}")),
            };
            self.say(Some(i), if replaced { Level::WARN } else { level }, msg);
        }
    }

    /// Rewrites the session files of runs being saved.
    fn write_sessions(&mut self) {
        for i in 0..self.runs.len() {
            let r = &self.runs[i];
            if let Some(path) = r.save_path.clone()
                && let Err(e) = self.host.save(&path, &r.replay_json())
            {
                self.say(Some(i), Level::WARN, format!("could not save {path}: {e}"));
            }
        }
    }
}

/// Where `s` saves a session.
fn default_path(scenario: &str, variant: &str, seed: u64) -> String {
    let (scenario, variant) =
        (faultline_scenarios::file_name_part(scenario), faultline_scenarios::file_name_part(variant));
    format!("faultline-{scenario}-{variant}-seed{seed}.replay.json")
}

/// `x.json` → `x-suffix.json`.
fn with_suffix(path: &str, suffix: &str) -> String {
    match path.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.contains('/') => format!("{stem}-{suffix}.{ext}"),
        _ => format!("{path}-{suffix}"),
    }
}

/// Simulated time in seconds with millisecond precision.
pub fn secs(t: Nanos) -> String {
    format!("{}.{:03}s", t / 1_000_000_000, t % 1_000_000_000 / 1_000_000)
}
