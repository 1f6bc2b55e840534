//! The terminal: raw mode and the alternate screen while the UI runs, restored on every way
//! out (normal exit, error, panic, SIGTERM/SIGHUP/SIGINT), and the loop that turns terminal
//! input and the passing of wall time into [`Event`]s.

use std::io::{self, Stdout, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crossterm::event::{self as ct, Event as CtEvent, KeyEventKind};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::app::App;
use crate::event::Event;
use crate::view;

/// Time between ticks (frames) while simulations run.
const TICK: Duration = Duration::from_millis(50);

fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
    let _ = io::stdout().flush();
}

/// Restores the terminal when dropped (normal exit and errors); a panic hook covers panics.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

fn setup() -> io::Result<(Guard, Terminal<CrosstermBackend<Stdout>>)> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Leave raw mode and the alternate screen first, so the panic message is readable.
        restore();
        previous(info);
    }));
    let guard = Guard;
    terminal::enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)?;
    let mut t = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    t.clear()?;
    Ok((guard, t))
}

/// Signals that end the UI like `q` (sessions saved, terminal restored), then the process
/// with 128 + the signal's number: a terminal closed (SIGHUP), `kill` (SIGTERM), `kill -INT`
/// (in raw mode ctrl-c is a key, not a signal).
const SIGNALS: [i32; 3] = [SIGTERM, SIGHUP, SIGINT];

/// Runs the UI until the user quits or a signal of [`SIGNALS`] arrives (returned). The terminal
/// is restored on return and on panic.
pub fn run(app: App) -> io::Result<Option<i32>> {
    // The handlers only set a flag; the loop below notices it within a frame.
    let caught = Arc::new(AtomicUsize::new(0));
    let mut ids = Vec::new();
    for sig in SIGNALS {
        ids.push(signal_hook::flag::register_usize(sig, caught.clone(), sig as usize)?);
    }
    let r = event_loop(app, &caught);
    for id in ids {
        signal_hook::low_level::unregister(id);
    }
    r
}

fn event_loop(mut app: App, caught: &AtomicUsize) -> io::Result<Option<i32>> {
    let (_guard, mut terminal) = setup()?;
    let (w, h) = terminal::size()?;
    app.update(Event::Resize(w, h));
    let mut last = Instant::now();
    while !app.quit {
        let sig = caught.load(Ordering::Relaxed);
        if sig != 0 {
            app.shutdown();
            return Ok(Some(sig as i32));
        }
        terminal.draw(|f| view::render(&app, f))?;
        // Input first: wait for it until the next tick is due, then take whatever else queued.
        let mut wait = TICK.saturating_sub(last.elapsed());
        while ct::poll(wait)? {
            match ct::read()? {
                CtEvent::Key(k) if k.kind != KeyEventKind::Release => app.update(Event::Key(k)),
                CtEvent::Resize(w, h) => app.update(Event::Resize(w, h)),
                _ => {}
            }
            if app.quit {
                return Ok(None);
            }
            wait = Duration::ZERO;
        }
        let dt = last.elapsed();
        if dt >= TICK {
            last = Instant::now();
            // Wall time is used for pacing only: how far the paced clock moves this frame.
            app.update(Event::Tick(dt.min(TICK * 4)));
        }
    }
    Ok(None)
}
