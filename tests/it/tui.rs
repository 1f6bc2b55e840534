//! The terminal UI end to end: a session driven key by key and replayed by `faultline replay`
//! to the same trace hash, and the real binary in tmux (pause, inject a region outage by key,
//! step, see the region down and errors rise, quit, terminal restored).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use faultline_scenarios::{Changes, Scenario, Source, catalog};
use faultline_tui::app::{App, Goal, Host, Options, Overlay};
use faultline_tui::event::Event;
use faultline_tui::keys::Key;
use faultline_tui::logpane::LogBuffer;

const BIN: &str = env!("CARGO_BIN_EXE_faultline");

fn temp_dir(tag: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tui-{}-{n}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Catalog scenarios; replay files written into a directory.
struct DirHost(PathBuf);

impl Host for DirHost {
    fn load(&self, name: &str, changes: &Changes) -> Result<Scenario, String> {
        let e = catalog::get(name).ok_or_else(|| format!("no catalog scenario `{name}`"))?;
        Scenario::parse_with(&Source { file: name.into(), text: e.text.into() }, changes).map_err(|e| format!("{e:?}"))
    }

    fn save(&self, path: &str, contents: &str) -> Result<(), String> {
        std::fs::write(self.0.join(path), contents).map_err(|e| e.to_string())
    }
}

fn press(app: &mut App, keys: &[Key]) {
    for k in keys {
        app.update(Event::press(*k));
    }
}

fn settle(app: &mut App) {
    while app.goal.is_some() {
        app.update(Event::Tick(Duration::from_millis(50)));
    }
}

/// Opens the fault menu and applies the entry whose label contains `label`.
fn menu(app: &mut App, label: &str) {
    press(app, &[Key::Char('i')]);
    let Some(Overlay::Menu { items, .. }) = &app.overlay else { panic!("the fault menu is open") };
    let at = items.iter().position(|i| i.label.contains(label)).unwrap_or_else(|| panic!("no `{label}` in the menu"));
    press(app, &vec![Key::Down; at]);
    press(app, &[Key::Enter]);
}

fn replay(dir: &Path, file: &str, json: bool) -> Output {
    let mut args = vec!["replay", file];
    if json {
        args.push("--json");
    }
    Command::new(BIN).args(&args).current_dir(dir).env_remove("RUST_LOG").output().unwrap()
}

#[test]
fn a_tui_session_with_injected_faults_replays_to_the_same_trace() {
    let dir = temp_dir("session");
    let host = DirHost(dir.clone());
    let sc = host.load("cross-region-outage", &Changes::default()).unwrap();
    let opts = Options { scenario: Some(sc), seed: Some(11), paused: true, compare: true, ..Options::default() };
    let mut app = App::new(opts, Box::new(host), LogBuffer::default());
    let step = |app: &mut App, n: usize| {
        for _ in 0..n {
            press(app, &[Key::Char('n')]);
            settle(app);
        }
    };
    step(&mut app, 3);
    press(&mut app, &[Key::Char('s')]); // save from here on: the file follows every command
    menu(&mut app, "take zone us-east-b down");
    press(&mut app, &[Key::Char('.'), Key::Char('.')]); // two single events
    step(&mut app, 2);
    menu(&mut app, "end `us-east-b down`");
    press(&mut app, &[Key::Char('d')]); // the next fault lasts 5 s
    menu(&mut app, "+100 ms between us-east and eu-west");
    step(&mut app, 1);
    menu(&mut app, "crash node web/2");
    press(&mut app, &[Key::Char('e')]);
    settle(&mut app);
    assert!(app.finished());
    assert_eq!(app.goal, None::<Goal>);
    for run in &app.runs {
        assert_eq!(run.replay.commands.len(), 4, "inject, heal, inject, inject");
        let injected: Vec<&str> =
            run.world.fault_log.iter().filter(|f| f.injected && f.started).map(|f| f.name.as_str()).collect();
        assert_eq!(injected, ["us-east-b down", "+100ms us-east-eu-west", "web/2 crash"], "[{}]", run.variant);
        let file = format!("faultline-cross-region-outage-{}-seed11.replay.json", run.variant);
        let o = replay(&dir, &file, true);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{err}");
        assert!(err.contains("reproduced") && !err.contains("NOT"), "{err}");
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(report["trace_hash"], run.report.trace_hash.as_str(), "[{}]", run.variant);
        assert_eq!(report["events"], run.report.events);
        assert_eq!(report["faults"].as_array().unwrap().len(), run.report.faults.len());
    }
    // The variants differ, and the injected faults changed each run.
    assert_ne!(app.runs[0].report.trace_hash, app.runs[1].report.trace_hash);
    let plain = Command::new(BIN).args(["run", "cross-region-outage", "--seed", "11", "--json"]).output().unwrap();
    let plain: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert_ne!(plain["trace_hash"], app.runs[0].report.trace_hash.as_str());
}

/// tmux on its own socket (so a user's tmux is never touched), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("run tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "tui"]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.cmd(&["send-keys", "-t", "tui", k]);
        }
    }

    /// The screen once `ok` holds (polled), or a failure showing the last screen.
    fn wait(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}; the screen:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.cmd(&["kill-server"]);
    }
}

/// The error percentage in the throughput chart's title.
fn errors_pct(screen: &str) -> f64 {
    let at = screen.find(" err ").unwrap_or_else(|| panic!("no error rate on screen:\n{screen}"));
    let rest = &screen[at + 5..];
    rest[..rest.find('%').expect("a percentage")].parse().expect("a number")
}

fn line_of<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with `{needle}`:\n{screen}"))
}

#[test]
fn tui_in_tmux_injects_a_region_outage_by_key_and_restores_the_terminal() {
    assert!(
        Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()),
        "this test needs tmux (.ci/run installs it)"
    );
    let started = Instant::now();
    let dir = temp_dir("tmux");
    let t = Tmux { socket: format!("faultline-it-{}", std::process::id()) };
    let script = format!(
        "cd '{}' && '{BIN}' tui cross-region-outage --paused --save-replay session.json; echo EXIT=$?; stty -a; sleep 60",
        dir.display()
    );
    let o = t.cmd(&["-f", "/dev/null", "new-session", "-d", "-s", "tui", "-x", "80", "-y", "24", &script]);
    assert!(o.status.success(), "tmux: {}", String::from_utf8_lossy(&o.stderr));

    let s = t.wait("the first screen, paused", |s| s.contains("⏸ paused") && s.contains("t=0.000s"));
    assert!(line_of(&s, "eu-west ").contains(" up "), "{s}");
    t.keys(&["n"]);
    let s = t.wait("one window", |s| s.contains("t=1.0"));
    let before = errors_pct(&s);
    assert!(line_of(&s, "eu-west ").contains(" up "), "{s}");

    t.keys(&["i"]);
    let s = t.wait("the fault menu", |s| s.contains("faults at t="));
    let rows: Vec<&str> = s.lines().collect();
    let first = rows.iter().position(|l| l.contains("take region")).expect("region entries");
    let target = rows.iter().position(|l| l.contains("take region eu-west down")).expect("eu-west entry");
    for _ in first..target {
        t.keys(&["Down"]);
    }
    t.keys(&["Enter"]);
    t.wait("the injection in the log", |s| s.contains("injected `eu-west down`"));
    t.keys(&["n"]);
    t.wait("the next window", |s| s.contains("t=2.0"));
    t.keys(&["n"]);
    let s = t.wait("another window", |s| s.contains("t=3.0"));
    assert!(line_of(&s, "eu-west ").contains("DOWN"), "the region is shown down:\n{s}");
    assert!(line_of(&s, "eu-west-a").contains("DOWN"), "{s}");
    assert!(line_of(&s, "us-east ").contains(" up "), "{s}");
    let after = errors_pct(&s);
    assert!(after > before && after > 50.0, "errors rose: {before}% → {after}%\n{s}");
    assert!(line_of(&s, "*eu-west down").contains('▶'), "the injected fault is active in the timeline:\n{s}");

    t.keys(&["e"]);
    let s = t.wait("the end of the run", |s| s.contains("■ ended") && s.contains(", trace "));
    let at = s.find(", trace ").unwrap() + 8;
    let hash = s[at..at + 16].to_owned();
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "`{hash}` in\n{s}");

    t.keys(&["q"]);
    let s = t.wait("the exit", |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
    let alt = t.cmd(&["display-message", "-p", "-t", "tui", "#{alternate_on}"]);
    assert_eq!(String::from_utf8_lossy(&alt.stdout).trim(), "0", "the alternate screen was left");
    let s = t.wait("stty's report", |s| s.contains("icanon"));
    let flags: Vec<&str> = s.split_whitespace().collect();
    for f in ["icanon", "echo", "isig"] {
        assert!(flags.contains(&f) && !flags.contains(&format!("-{f}").as_str()), "{f}: raw mode was left:\n{s}");
    }
    assert!(!s.contains("faults at t="), "the UI is gone from the screen:\n{s}");

    // The session file followed the injection and ends with the run's trace hash.
    let o = replay(&dir, "session.json", false);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("reproduced") && err.contains(&hash) && err.contains("1 command"), "{err}");
    eprintln!("tmux session took {:.1} s", started.elapsed().as_secs_f64());
}

/// SIGTERM (and SIGHUP, SIGINT) end the UI as `q` does: the terminal comes back from the
/// alternate screen and raw mode, and the exit code says which signal (143). It was left in
/// the alternate screen with the cursor hidden and -icanon -echo.
#[test]
fn tui_in_tmux_restores_the_terminal_on_sigterm() {
    assert!(
        Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()),
        "this test needs tmux (.ci/run installs it)"
    );
    let dir = temp_dir("sigterm");
    let t = Tmux { socket: format!("faultline-it-term-{}", std::process::id()) };
    let script = format!(
        "cd '{}' && '{BIN}' tui cross-region-outage --save-replay s.json; echo EXIT=$?; stty -a; sleep 60",
        dir.display()
    );
    let o = t.cmd(&["-f", "/dev/null", "new-session", "-d", "-s", "tui", "-x", "80", "-y", "24", &script]);
    assert!(o.status.success(), "tmux: {}", String::from_utf8_lossy(&o.stderr));
    t.wait("the running UI", |s| s.contains("▶ 2×"));
    let shell = t.cmd(&["display-message", "-p", "-t", "tui", "#{pane_pid}"]);
    let shell = String::from_utf8_lossy(&shell.stdout).trim().to_owned();
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap();
    let pid = children.split_whitespace().next().expect("faultline runs under the shell").to_owned();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
    let s = t.wait("the exit", |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=143"), "{s}");
    let alt = t.cmd(&["display-message", "-p", "-t", "tui", "#{alternate_on}"]);
    assert_eq!(String::from_utf8_lossy(&alt.stdout).trim(), "0", "the alternate screen was left");
    let cursor = t.cmd(&["display-message", "-p", "-t", "tui", "#{cursor_flag}"]);
    assert_eq!(String::from_utf8_lossy(&cursor.stdout).trim(), "1", "the cursor is shown");
    let s = t.wait("stty's report", |s| s.contains("icanon"));
    let flags: Vec<&str> = s.split_whitespace().collect();
    for f in ["icanon", "echo", "isig"] {
        assert!(flags.contains(&f) && !flags.contains(&format!("-{f}").as_str()), "{f}: raw mode was left:\n{s}");
    }
    // The session was written on the way out.
    assert!(dir.join("s.json").exists());
}

#[test]
fn tui_refuses_bad_arguments_before_taking_the_terminal() {
    let dir = temp_dir("bad");
    let garbage = dir.join("garbage.jsonl");
    std::fs::write(&garbage, "not json\n{}\n").unwrap();
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let records = dir.join("r.jsonl");
    let o = Command::new(BIN)
        .args(["sweep", "cross-region-outage", "--seeds", "1..2", "--out", records.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (garbage, empty, records) = (garbage.to_str().unwrap(), empty.to_str().unwrap(), records.to_str().unwrap());
    let cases: [(&[&str], &str); 9] = [
        (&["tui", "no-such-scenario"], "no such file, and no catalog scenario"),
        (&["tui", "cross-region-outage", "--variant", "nope"], "no variant `nope`"),
        // For the catalog picker: some scenario must have it.
        (&["tui", "--variant", "nonexistent"], "no variant `nonexistent` in any catalog scenario"),
        (&["tui", "--sweep", records, "--seed", "3"], "--seed and --variant need a scenario"),
        (&["tui", "--sweep", "/nonexistent/r.jsonl"], "/nonexistent/r.jsonl"),
        (&["tui", "--sweep", garbage], "line 1"),
        (&["tui", "--sweep", empty], "no complete sweep record"),
        (&["tui", "cross-region-outage", "--speed", "0"], "--speed"),
        // The tests' stdout is a pipe.
        (&["tui", "cross-region-outage"], "needs a terminal"),
    ];
    for (args, want) in cases {
        let o = Command::new(BIN).args(args).env_remove("RUST_LOG").output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "faultline {}: {err}", args.join(" "));
        assert!(err.contains(want) && !err.contains("panicked"), "faultline {}: {err}", args.join(" "));
        assert!(o.stdout.is_empty(), "nothing, not even escape codes, on stdout: {:?}", o.stdout);
    }
}
