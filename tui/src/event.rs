//! Everything that can happen to the UI funnels through [`Event`]; keys become [`Action`]s
//! through the key table (`keys.rs`), and [`crate::App::update`] is the only place that
//! changes the application state.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::keys::Key;

/// An input to [`crate::App::update`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Key(KeyEvent),
    /// The terminal was resized (rendering adapts on the next frame).
    Resize(u16, u16),
    /// Wall time passed: the only place the UI advances simulations while they run. The
    /// duration is measured by the terminal loop (pacing only) and given explicitly so that
    /// tests drive the UI with fixed ticks and get the same screens every time.
    Tick(Duration),
}

impl Event {
    /// A key press as the key table names it (for driving the UI without a terminal).
    pub fn press(k: Key) -> Event {
        let (code, mods) = match k {
            Key::Char(c) => (KeyCode::Char(c), KeyModifiers::NONE),
            Key::Ctrl(c) => (KeyCode::Char(c), KeyModifiers::CONTROL),
            Key::Space => (KeyCode::Char(' '), KeyModifiers::NONE),
            Key::Enter => (KeyCode::Enter, KeyModifiers::NONE),
            Key::Esc => (KeyCode::Esc, KeyModifiers::NONE),
            Key::Up => (KeyCode::Up, KeyModifiers::NONE),
            Key::Down => (KeyCode::Down, KeyModifiers::NONE),
            Key::PageUp => (KeyCode::PageUp, KeyModifiers::NONE),
            Key::PageDown => (KeyCode::PageDown, KeyModifiers::NONE),
        };
        Event::Key(KeyEvent::new(code, mods))
    }
}

/// What a key does. Each has one entry in the key table, which also drives the footer and the
/// `?` help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    TogglePause,
    StepEvent,
    StepWindow,
    Faster,
    Slower,
    MaxSpeed,
    RestartSame,
    RestartNext,
    NextVariant,
    JumpEnd,
    FaultMenu,
    Compare,
    Save,
    SweepView,
    Up,
    Down,
    PageUp,
    PageDown,
    Select,
    Back,
    CycleDuration,
    SortNext,
    SortReverse,
    FilterVariant,
    OpenWorst,
}
