//! Snapshot tests of the screens (ratatui `TestBackend` + insta) for a fixed scenario and seed,
//! driven only through `App::update` with fixed ticks, as the terminal loop drives it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use faultline_scenarios::{Changes, ParseError, Scenario, Source, catalog, sweep};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tracing_subscriber::EnvFilter;

use crate::app::{App, Goal, Host, Options, Screen};
use crate::event::Event;
use crate::health::Health;
use crate::logpane::{self, LogBuffer};
use crate::view;

/// Loads catalog scenarios; keeps saved files in memory.
#[derive(Clone, Default)]
pub struct MemHost {
    pub files: Rc<RefCell<BTreeMap<String, String>>>,
}

impl Host for MemHost {
    fn load(&self, name: &str, changes: &Changes) -> Result<Scenario, String> {
        let e = catalog::get(name).ok_or_else(|| format!("no catalog scenario `{name}`"))?;
        Scenario::parse_with(&Source { file: format!("catalog/{name}.toml"), text: e.text.into() }, changes).map_err(
            |e| match e {
                ParseError::File(e) => e.errors[0].message.clone(),
                ParseError::Changes(m) => m,
            },
        )
    }

    fn save(&self, path: &str, contents: &str) -> Result<(), String> {
        self.files.borrow_mut().insert(path.into(), contents.into());
        Ok(())
    }

    fn exists(&self, path: &str) -> bool {
        self.files.borrow().contains_key(path)
    }
}

pub struct Fixture {
    pub app: App,
    pub host: MemHost,
    _log: tracing::subscriber::DefaultGuard,
}

pub fn scenario(name: &str) -> Scenario {
    MemHost::default().load(name, &Changes::default()).unwrap()
}

pub fn fixture(opts: Options) -> Fixture {
    let logs = LogBuffer::default();
    let guard = tracing::subscriber::set_default(logpane::subscriber(logs.clone(), EnvFilter::new("info")));
    let host = MemHost::default();
    let app = App::new(opts, Box::new(host.clone()), logs);
    Fixture { app, host, _log: guard }
}

/// cross-region-outage, seed 1, paused at t=0.
pub fn outage(compare: bool) -> Fixture {
    fixture(Options {
        scenario: Some(scenario("cross-region-outage")),
        seed: Some(1),
        paused: true,
        compare,
        ..Options::default()
    })
}

pub fn key(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

pub fn code(c: KeyCode) -> Event {
    Event::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

const TICK: Event = Event::Tick(Duration::from_millis(50));

impl Fixture {
    pub fn press(&mut self, keys: &str) -> &mut Self {
        for c in keys.chars() {
            self.app.update(key(c));
        }
        self
    }

    /// Ticks until a step or jump has arrived.
    pub fn settle(&mut self) -> &mut Self {
        let mut n = 0;
        while self.app.goal.is_some() {
            self.app.update(TICK);
            n += 1;
            assert!(n < 10_000, "the goal was never reached");
        }
        self
    }

    /// Steps window by window until simulated time `t_s`.
    pub fn windows_until(&mut self, t_s: u64) -> &mut Self {
        while self.app.now() < t_s * 1_000_000_000 && !self.app.finished() {
            self.press("n").settle();
        }
        self
    }

    pub fn draw(&self, w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| view::render(&self.app, f)).unwrap();
        t.backend().to_string()
    }

    /// The screen as plain text (no quotes, no trailing spaces), as docs/tui.md shows it.
    pub fn capture(&self, w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| view::render(&self.app, f)).unwrap();
        let buf = t.backend().buffer();
        let mut out = String::new();
        for y in 0..h {
            let line: String = (0..w).map(|x| buf[(x, y)].symbol()).collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[test]
fn live_screen_before_the_outage() {
    let mut fx = outage(false);
    fx.windows_until(10);
    assert_eq!(fx.app.now() / 1_000_000_000, 10);
    insta::assert_snapshot!(fx.draw(80, 24));
}

#[test]
fn live_screen_during_a_region_outage() {
    let mut fx = outage(false);
    fx.windows_until(30);
    let screen = fx.draw(80, 24);
    let regions = crate::health::topology(&fx.app.runs[0].world);
    assert_eq!(regions[1].health, Health::Down, "eu-west is down from 20 s to 40 s");
    assert!(screen.contains("eu-west") && screen.contains("DOWN"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn live_screen_in_a_large_terminal_shows_every_node() {
    let mut fx = outage(false);
    fx.windows_until(25);
    let screen = fx.draw(140, 44);
    for n in ["web/3", "inventory/3", "inventory-lb", "shoppers"] {
        assert!(screen.contains(n), "{n} missing:\n{screen}");
    }
    insta::assert_snapshot!(screen);
}

#[test]
fn injected_region_outage_from_the_menu() {
    let mut fx = outage(false);
    fx.windows_until(5);
    fx.press("i");
    let menu = fx.draw(80, 24);
    // The second region's outage: regions come first in the menu.
    fx.app.update(code(KeyCode::Down));
    fx.app.update(code(KeyCode::Enter));
    fx.press("n").settle().press("n").settle();
    let run = &fx.app.runs[0];
    assert_eq!(run.replay.commands.len(), 1);
    assert!(run.world.fault_log.iter().any(|f| f.injected && f.name == "eu-west down" && f.started));
    assert_eq!(crate::health::topology(&run.world)[1].health, Health::Down);
    insta::assert_snapshot!("fault_menu", menu);
    insta::assert_snapshot!(fx.draw(80, 24));
}

#[test]
fn compare_view_side_by_side_during_the_outage() {
    let mut fx = outage(true);
    fx.windows_until(25);
    assert_eq!(fx.app.runs.len(), 2);
    assert_eq!(fx.app.runs[0].world.now() / 1_000_000_000, fx.app.runs[1].world.now() / 1_000_000_000);
    let screen = fx.draw(80, 24);
    assert!(screen.contains("retry-once") && screen.contains("fail-fast"), "{screen}");
    insta::assert_snapshot!(screen);
    insta::assert_snapshot!("compare_view_large", fx.draw(120, 40));
}

#[test]
fn help_is_generated_from_the_key_table() {
    let mut fx = outage(false);
    fx.press("?");
    let screen = fx.draw(80, 24);
    for b in crate::keys::KEYS.iter().filter(|b| b.context == crate::keys::Context::Run) {
        assert!(screen.contains(b.help), "`{}` missing:\n{screen}", b.help);
    }
    insta::assert_snapshot!(screen);
    fx.press("?");
    assert!(fx.app.overlay.is_none());
}

/// Sweep records of both variants of cross-region-outage, seeds 1–3.
fn sweep_records() -> Vec<sweep::SeedRecord> {
    let sc = scenario("cross-region-outage");
    let mut records = Vec::new();
    for v in ["retry-once", "fail-fast"] {
        for seed in 1..4 {
            let mut r = sweep::run_one(&sc, v, seed).unwrap();
            r.scenario = "cross-region-outage".into();
            records.push(r);
        }
    }
    records
}

#[test]
fn sweep_view_sorts_and_opens_the_worst_seed() {
    let records = sweep_records();
    let mut fx = fixture(Options { sweep: Some(("out.jsonl".into(), records.clone())), ..Options::default() });
    assert_eq!(fx.app.screen, Screen::Sweep);
    insta::assert_snapshot!(fx.draw(80, 24));
    fx.press("W");
    let worst = records.iter().min_by(|a, b| a.worst_first(b)).unwrap();
    assert_eq!(fx.app.screen, Screen::Run);
    assert_eq!((fx.app.runs[0].variant.as_str(), fx.app.runs[0].seed), (worst.variant.as_str(), worst.seed));
    fx.press("e").settle();
    assert!(fx.app.finished());
    assert_eq!(fx.app.runs[0].report.trace_hash, worst.trace_hash);
    assert!(fx.app.log.iter().any(|l| l.text.contains("same trace as the sweep record")));
}

#[test]
fn catalog_screen_opens_a_scenario() {
    let mut fx = fixture(Options { paused: true, ..Options::default() });
    insta::assert_snapshot!(fx.draw(80, 24));
    fx.press("j");
    fx.app.update(code(KeyCode::Enter));
    assert_eq!(fx.app.screen, Screen::Run);
    assert_eq!(fx.app.runs[0].scenario.name, catalog::CATALOG[1].name);
}

#[test]
fn a_too_small_terminal_says_so() {
    let fx = outage(false);
    insta::assert_snapshot!(fx.draw(50, 12));
}

#[test]
fn pacing_follows_the_speed_and_ticks() {
    let mut fx = outage(false);
    fx.press(" ");
    // 2× by default: 20 ticks of 50 ms are 1 s of wall time, 2 s simulated.
    for _ in 0..20 {
        fx.app.update(TICK);
    }
    let t = fx.app.now();
    assert!((1_990_000_000..2_010_000_000).contains(&t), "{t}");
    fx.press("+");
    for _ in 0..20 {
        fx.app.update(TICK);
    }
    assert!((6_990_000_000..7_010_000_000).contains(&fx.app.now()), "{}", fx.app.now());
    fx.press(" ");
    let paused_at = fx.app.now();
    fx.app.update(TICK);
    assert_eq!(fx.app.now(), paused_at);
    fx.press(".");
    assert_eq!(fx.app.runs[0].world.events(), fx.app.runs[0].report.events);
    fx.press("e").settle();
    assert!(fx.app.finished());
    assert_eq!(fx.app.goal, None::<Goal>);
}

#[test]
fn restart_with_the_next_seed_and_variant() {
    let mut fx = outage(false);
    fx.windows_until(5);
    fx.press("R");
    assert_eq!((fx.app.seed, fx.app.now()), (2, 0));
    fx.press("v");
    assert_eq!(fx.app.runs[0].variant, "fail-fast");
    fx.press("c");
    assert_eq!(fx.app.runs.iter().map(|r| r.variant.as_str()).collect::<Vec<_>>(), ["fail-fast", "retry-once"]);
}

#[test]
fn saving_writes_a_replay_that_is_kept_up_to_date() {
    let mut fx = outage(false);
    fx.windows_until(5);
    fx.press("s");
    let path = "faultline-cross-region-outage-retry-once-seed1.replay.json";
    let saved = |fx: &Fixture| {
        let text = fx.host.files.borrow().get(path).cloned().expect("saved");
        faultline_scenarios::replay::Replay::from_json(path, &text).unwrap()
    };
    assert_eq!((saved(&fx).commands.len(), saved(&fx).trace_hash), (0, None));
    fx.press("i");
    fx.app.update(code(KeyCode::Enter)); // the first region
    assert_eq!(saved(&fx).commands.len(), 1);
    fx.press("e").settle();
    let r = saved(&fx);
    assert_eq!(r.trace_hash.as_deref(), Some(fx.app.runs[0].report.trace_hash.as_str()));
    let (replayed, _) = faultline_scenarios::replay::run(&r, None).unwrap();
    assert_eq!(Some(replayed.trace_hash), r.trace_hash);
}

/// A restart starts a new session, and saving goes on: `r` rewrites the same file with the
/// new session, `R` saves the next seed's under its own name. The file stopped following the
/// session after a restart (the path was only kept for --save-replay).
#[test]
fn saving_goes_on_after_a_restart() {
    let mut fx = outage(false);
    fx.press("s");
    let saved = |fx: &Fixture, path: &str| {
        let text = fx.host.files.borrow().get(path).cloned().unwrap_or_else(|| panic!("{path} saved"));
        faultline_scenarios::replay::Replay::from_json(path, &text).unwrap()
    };
    let first = "faultline-cross-region-outage-retry-once-seed1.replay.json";
    fx.press("i");
    fx.app.update(code(KeyCode::Enter));
    assert_eq!(saved(&fx, first).commands.len(), 1);
    fx.press("r");
    assert_eq!(saved(&fx, first).commands.len(), 0, "the restarted session replaces the file");
    fx.press("i");
    fx.app.update(code(KeyCode::Enter));
    fx.press("i");
    fx.app.update(code(KeyCode::Down));
    fx.app.update(code(KeyCode::Enter));
    assert_eq!(saved(&fx, first).commands.len(), 2);
    fx.press("R");
    let second = "faultline-cross-region-outage-retry-once-seed2.replay.json";
    fx.press("i");
    fx.app.update(code(KeyCode::Enter));
    assert_eq!(saved(&fx, second).commands.len(), 1);
    assert_eq!(saved(&fx, first).commands.len(), 2, "the first seed's file is left as it was");
    fx.press("e").settle();
    assert!(saved(&fx, second).trace_hash.is_some());
    assert!(fx.app.log.iter().any(|l| l.text.contains(&format!("saving this session to {second}"))));
}

/// `s` over a file that is already there says it replaces it.
#[test]
fn saving_over_an_existing_file_says_so() {
    let mut fx = outage(false);
    let path = "faultline-cross-region-outage-retry-once-seed1.replay.json";
    fx.host.files.borrow_mut().insert(path.into(), "{}".into());
    fx.press("s");
    assert!(fx.app.status.contains("replacing the file that was there"), "{}", fx.app.status);
}

/// --seed, --variant and --paused apply to a scenario picked from the catalog (they gave
/// seed 1 and the first variant); a variant the scenario lacks is said, and its first runs.
#[test]
fn start_options_apply_to_a_scenario_picked_from_the_catalog() {
    let pick = |variant: &str| {
        let mut fx =
            fixture(Options { seed: Some(7), variant: Some(variant.into()), paused: true, ..Options::default() });
        let at = catalog::CATALOG.iter().position(|e| e.name == "cross-region-outage").unwrap();
        for _ in 0..at {
            fx.press("j");
        }
        fx.app.update(code(KeyCode::Enter));
        fx
    };
    let mut fx = pick("fail-fast");
    assert_eq!((fx.app.seed, fx.app.runs[0].variant.as_str(), fx.app.paused), (7, "fail-fast", true));
    fx.app.update(TICK);
    assert_eq!(fx.app.now(), 0, "paused");
    let fx = pick("no-such-variant");
    assert_eq!((fx.app.seed, fx.app.runs[0].variant.as_str()), (7, "retry-once"));
    assert!(
        fx.app.log.iter().any(|l| l.text.contains("has no variant `no-such-variant`")),
        "{:?}",
        fx.app.log.iter().map(|l| &l.text).collect::<Vec<_>>()
    );
}

/// The fault menu follows the world while it is open: a fault injected just now (its start
/// not applied yet) can be healed at once, a fault that ended loses its heal entry, and a
/// heal that no longer applies is refused rather than recorded to do nothing.
#[test]
fn the_fault_menu_follows_the_world() {
    use crate::app::Overlay;
    use crate::menu::MenuAction;
    let heals = |fx: &Fixture| match &fx.app.overlay {
        Some(Overlay::Menu { items, .. }) => {
            items.iter().filter(|i| matches!(i.action, MenuAction::Heal(_))).map(|i| i.label.clone()).collect()
        }
        _ => Vec::<String>::new(),
    };
    let mut fx = outage(false);
    fx.windows_until(2);
    fx.press("i");
    assert!(heals(&fx).is_empty());
    fx.app.update(code(KeyCode::Down));
    fx.app.update(code(KeyCode::Enter)); // eu-west down, until healed
    fx.press("i");
    assert_eq!(heals(&fx), ["end `eu-west down` (outage, injected, starting)"]);
    fx.app.update(code(KeyCode::Esc));
    // The scheduled outage: 20–40 s. Open the menu during it and let the run go on.
    fx.windows_until(39);
    fx.press(" i");
    assert_eq!(heals(&fx).len(), 2, "{:?}", heals(&fx));
    while fx.app.now() < 41_000_000_000 {
        fx.app.update(TICK);
    }
    assert_eq!(heals(&fx), ["end `eu-west down` (outage, injected)"], "the scheduled one ended");
    // A heal given after its fault ended is refused and not recorded.
    let run = &mut fx.app.runs[0];
    let e = run.heal(0).unwrap_err();
    assert!(e.contains("already over"), "{e}");
    assert_eq!(run.replay.commands.len(), 1);
}

/// Right after an injection while paused, the fault has not started: `·`, not `✓` (anything
/// not active whose start had come counted as over).
#[test]
fn a_fault_injected_while_paused_is_pending_not_over() {
    let mut fx = outage(false);
    fx.windows_until(3);
    fx.press("i");
    fx.app.update(code(KeyCode::Enter));
    let screen = fx.capture(80, 24);
    let line = screen.lines().find(|l| l.contains("*us-east down")).unwrap_or_else(|| panic!("{screen}"));
    assert!(line.contains("│·*us-east down"), "{line}");
    fx.press(".");
    let screen = fx.capture(80, 24);
    assert!(screen.contains("│▶*us-east down"), "{screen}");
}

/// The compare table's anomalies at the end are each variant's final report's (it summed the
/// episodes of figures that had risen: 395 vs 359 where `faultline run` gives 344 and 0);
/// before the end the saga checker's counts wait for it.
#[test]
fn compare_anomalies_are_the_final_reports() {
    let sc = scenario("checkout-outage");
    let mut fx = fixture(Options { scenario: Some(sc.clone()), paused: true, compare: true, ..Options::default() });
    fx.windows_until(30);
    let screen = fx.capture(120, 40);
    let row = |s: &str, name: &str| s.lines().find(|l| l.contains(&format!("│{name} "))).unwrap().to_owned();
    assert!(row(&screen, "anomalies").contains("at end"), "{screen}");
    fx.press("e").settle();
    let screen = fx.capture(120, 40);
    let sums: Vec<u64> = fx
        .app
        .runs
        .iter()
        .map(|r| {
            let c = sc.variant(Some(&r.variant)).unwrap();
            let (plain, _) = faultline_scenarios::runner::run(&c, fx.app.seed, None).unwrap();
            plain.anomalies.values().sum()
        })
        .collect();
    assert!(sums[0] > 0, "{sums:?}");
    let cells: Vec<String> = row(&screen, "anomalies").split_whitespace().map(str::to_owned).collect();
    assert_eq!(cells[1..3], [sums[0].to_string(), sums[1].to_string()], "{screen}");
}

/// Seeds of seven digits and counts of six were cut to fit fixed columns (1000000 read
/// 100000).
#[test]
fn sweep_columns_fit_their_values() {
    let mut records = sweep_records();
    for (i, r) in records.iter_mut().enumerate() {
        r.seed += 1_000_000;
        r.requests.timed_out = 1_234_567 + i as u64;
        r.anomalies.insert("stale_read".into(), 7_654_321);
    }
    let fx = fixture(Options { sweep: Some(("out.jsonl".into(), records)), ..Options::default() });
    let screen = fx.capture(80, 24);
    for want in ["1000001", "1000003", "1234567", "7654321", "22962963"] {
        assert!(screen.contains(want), "{want}:\n{screen}");
    }
}

/// The help scrolls until its last line shows, not 200 lines past it; opened over the fault
/// menu it lists the menu's keys first and closes back to the menu.
#[test]
fn help_scrolls_to_its_end_and_returns_to_the_menu() {
    use crate::app::Overlay;
    let mut fx = outage(false);
    fx.app.update(Event::Resize(80, 24));
    fx.press("i?");
    let first = fx.capture(80, 24);
    let title = first.lines().find(|l| l.contains("fault menu") || l.contains("live run")).unwrap_or("");
    assert!(title.contains("fault menu"), "the menu's keys first:\n{first}");
    for _ in 0..50 {
        fx.app.update(code(KeyCode::PageDown));
    }
    let Some(Overlay::Help { scroll, .. }) = &fx.app.overlay else { panic!("help open") };
    let rows = crate::view::help_rows(crate::keys::Context::Menu, 76);
    assert_eq!(*scroll, rows - 21, "the last line at the bottom");
    let end = fx.capture(80, 24);
    assert!(end.contains("quit (the terminal is restored)"), "{end}");
    fx.app.update(code(KeyCode::Up));
    assert!(matches!(&fx.app.overlay, Some(Overlay::Help { scroll: s, .. }) if *s == rows - 22), "one up moves");
    fx.press("?");
    assert!(matches!(fx.app.overlay, Some(Overlay::Menu { .. })), "back to the menu");
}

/// Small fixes: `1 event`, no `esc back` on a sweep with no run to go back to, the sweep's
/// order said in its header at 80 columns, and the compare header keeps its state there.
#[test]
fn headers_and_footers_say_what_applies() {
    let mut fx = outage(false);
    fx.press(".");
    assert!(fx.capture(100, 24).lines().next().unwrap().ends_with("  1 event"), "{}", fx.capture(100, 24));
    let fx = fixture(Options { sweep: Some(("out.jsonl".into(), sweep_records())), ..Options::default() });
    let screen = fx.capture(80, 24);
    let footer = screen.lines().nth(23).unwrap();
    assert!(!footer.contains("back"), "{footer}");
    assert!(screen.lines().next().unwrap().contains("sorted by worst first"), "{screen}");
    let mut fx = outage(true);
    fx.windows_until(25);
    let head = fx.capture(80, 24).lines().next().unwrap().to_owned();
    assert!(head.contains("⏸ paused") && head.contains("t=25.000s"), "{head}");
}

/// An active-passive balancer shows where it sends traffic: the preferred region, the
/// standby once health checks have failed it over (us-east is down 20–45 s), then back.
#[test]
fn live_screen_shows_the_failover_tier_in_use() {
    let mut fx = fixture(Options {
        scenario: Some(scenario("region-failover")),
        variant: Some("active-passive".into()),
        seed: Some(1),
        paused: true,
        ..Options::default()
    });
    let lb_line = |fx: &Fixture| {
        let screen = fx.draw(200, 60);
        screen.lines().find(|l| l.contains("lb global-lb")).map(str::to_owned).unwrap_or_else(|| panic!("{screen}"))
    };
    fx.windows_until(10);
    assert!(lb_line(&fx).contains("→ us-east"), "{}", lb_line(&fx));
    fx.windows_until(30);
    assert!(lb_line(&fx).contains("→ eu-west"), "{}", lb_line(&fx));
    fx.windows_until(55);
    assert!(lb_line(&fx).contains("→ us-east"), "{}", lb_line(&fx));
    // Without failover tiers there is nothing to show.
    let mut fx = fixture(Options {
        scenario: Some(scenario("region-failover")),
        variant: Some("active-active".into()),
        paused: true,
        ..Options::default()
    });
    fx.windows_until(30);
    assert!(!lb_line(&fx).contains('→'), "{}", lb_line(&fx));
}

#[test]
fn every_catalog_scenario_renders_at_every_size() {
    for e in catalog::CATALOG {
        let mut fx = fixture(Options { scenario: Some(scenario(e.name)), paused: true, ..Options::default() });
        let t = fx.app.runs[0].world.spec.duration / 3;
        fx.app.goal = Some(Goal::Until(t));
        fx.settle();
        for (w, h) in [(60, 16), (80, 24), (200, 60)] {
            let s = fx.draw(w, h);
            assert!(s.contains(e.name), "{} at {w}×{h}:\n{s}", e.name);
        }
        fx.press("i");
        assert!(fx.draw(60, 16).contains("faults at t="), "{}", e.name);
        fx.app.update(code(KeyCode::Esc));
        if fx.app.scenario.as_ref().is_some_and(|s| s.variants.len() > 1) {
            fx.press("c");
            fx.app.goal = Some(Goal::Until(t / 2));
            fx.settle();
            assert!(fx.draw(60, 16).contains("B − A"), "{}", e.name);
            assert!(fx.draw(200, 60).contains("B − A"), "{}", e.name);
        }
    }
}

/// docs/tui.md shows the key table and screens as they are: this fails (and prints what to
/// paste) when either changes.
#[test]
fn docs_show_the_current_keys_and_screens() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/tui.md");
    let doc = std::fs::read_to_string(path).unwrap().replace("\r\n", "\n");
    let keys = crate::keys::markdown();
    assert!(doc.contains(&keys), "docs/tui.md: the key table changed; it is now:\n{keys}");
    let mut captures = Vec::new();
    let mut fx = outage(false);
    fx.windows_until(5);
    fx.press("i");
    captures.push(("fault menu", fx.capture(80, 24)));
    fx.app.update(code(KeyCode::Down));
    fx.app.update(code(KeyCode::Enter));
    fx.windows_until(8);
    captures.push(("injected outage", fx.capture(80, 24)));
    let mut fx = outage(false);
    fx.windows_until(30);
    captures.push(("scheduled outage", fx.capture(80, 24)));
    let mut fx = outage(true);
    fx.windows_until(25);
    captures.push(("compare", fx.capture(80, 24)));
    let fx = fixture(Options { sweep: Some(("out.jsonl".into(), sweep_records())), ..Options::default() });
    captures.push(("sweep", fx.capture(80, 24)));
    for (what, c) in captures {
        assert!(doc.contains(&c), "docs/tui.md: the {what} capture changed; it is now:\n{c}");
    }
}

/// Whatever a user presses, in whatever order, at whatever terminal size: the UI never panics
/// (a panic would leave the user's terminal in raw mode until the guard restores it, and lose
/// the session).
mod any_input {
    use std::sync::OnceLock;

    use proptest::prelude::*;

    use super::*;

    fn records() -> Vec<sweep::SeedRecord> {
        static RECORDS: OnceLock<Vec<sweep::SeedRecord>> = OnceLock::new();
        RECORDS.get_or_init(sweep_records).clone()
    }

    fn event() -> impl Strategy<Value = Event> {
        let chars: Vec<char> =
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,+=-?/!".chars().collect();
        let codes = vec![
            KeyCode::Enter,
            KeyCode::Esc,
            KeyCode::Up,
            KeyCode::Down,
            KeyCode::Left,
            KeyCode::Right,
            KeyCode::PageUp,
            KeyCode::PageDown,
            KeyCode::Home,
            KeyCode::End,
            KeyCode::Tab,
            KeyCode::Backspace,
            KeyCode::F(1),
        ];
        prop_oneof![
            8 => proptest::sample::select(chars).prop_map(key),
            3 => proptest::sample::select(codes).prop_map(code),
            1 => Just(Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL))),
            3 => (0u64..2_000).prop_map(|ms| Event::Tick(Duration::from_millis(ms))),
            1 => (0u16..300, 0u16..100).prop_map(|(w, h)| Event::Resize(w, h)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn no_sequence_of_keys_panics_at_any_size(
            start in 0..3usize,
            events in proptest::collection::vec(event(), 0..40),
            sizes in proptest::collection::vec((1u16..200, 1u16..60), 1..4),
        ) {
            let mut fx = match start {
                0 => fixture(Options { paused: true, ..Options::default() }),
                1 => outage(true),
                _ => fixture(Options { sweep: Some(("out.jsonl".into(), records())), ..Options::default() }),
            };
            for (i, &e) in events.iter().enumerate() {
                fx.app.update(e);
                if fx.app.quit {
                    break;
                }
                let (w, h) = sizes[i % sizes.len()];
                fx.draw(w, h);
            }
        }
    }
}
