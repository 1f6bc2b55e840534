//! The terminal UI (ratatui + crossterm): watch a run live, steer it, compare two variants side
//! by side, browse a sweep's results.
//!
//! Elm style: [`event::Event`]s go into [`App::update`], the only place state changes; the
//! [`view`] renders from `&App`. Keys become actions through one table ([`keys::KEYS`]) that
//! also writes the footer and the `?` help. Simulations run in the UI's loop, a bounded number
//! of events per tick, through [`driver::Run`] — the UI holds no simulation logic: faults go
//! through `World::inject`/`World::heal` and every figure comes from `RunReport`. Everything
//! the user injects is recorded as a replay command (`faultline replay` reproduces the session).

pub mod app;
pub mod driver;
pub mod event;
pub mod health;
pub mod keys;
pub mod logpane;
pub mod menu;
pub mod sweepview;
mod term;
pub mod view;

#[cfg(test)]
mod screens;

pub use app::{App, Host, Options};

/// Runs the UI on the terminal until the user quits; the terminal is restored afterwards, also
/// on error, panic, SIGTERM, SIGHUP or SIGINT. Tracing events go to the log pane meanwhile
/// (filtered by `RUST_LOG`, info by default). Returns the exit code: 0, or 128 + the number of
/// the signal that ended it.
pub fn run(opts: Options, host: Box<dyn Host>) -> std::io::Result<u8> {
    let logs = logpane::LogBuffer::default();
    let _sub = tracing::subscriber::set_default(logpane::subscriber(logs.clone(), logpane::default_filter()));
    let app = App::new(opts, host, logs);
    Ok(term::run(app)?.map_or(0, |sig| 128u8.saturating_add(sig as u8)))
}
