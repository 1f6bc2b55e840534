//! The one key table: which key does what in which context. The footer hints and the `?` help
//! are both generated from [`KEYS`], so they cannot disagree with what the keys do.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::event::Action;

/// Where a binding applies. The context of a moment is the open overlay, else the screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// Every context (quit, help).
    Global,
    /// A live run, alone or compared side by side.
    Run,
    /// The fault menu over a run.
    Menu,
    /// A sweep's results.
    Sweep,
    /// The catalog of built-in scenarios (no scenario given).
    Catalog,
    /// The help overlay.
    Help,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "everywhere",
            Context::Run => "live run and compare",
            Context::Menu => "fault menu",
            Context::Sweep => "sweep results",
            Context::Catalog => "catalog",
            Context::Help => "help",
        }
    }
}

/// A key as the table names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Ctrl(char),
    Space,
    Enter,
    Esc,
    Up,
    Down,
    PageUp,
    PageDown,
}

impl Key {
    pub fn label(self) -> String {
        match self {
            Key::Char(c) => c.to_string(),
            Key::Ctrl(c) => format!("ctrl-{c}"),
            Key::Space => "space".into(),
            Key::Enter => "enter".into(),
            Key::Esc => "esc".into(),
            Key::Up => "↑".into(),
            Key::Down => "↓".into(),
            Key::PageUp => "pgup".into(),
            Key::PageDown => "pgdn".into(),
        }
    }

    fn matches(self, k: &KeyEvent) -> bool {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match (self, k.code) {
            (Key::Ctrl(c), KeyCode::Char(d)) => ctrl && c == d.to_ascii_lowercase(),
            (Key::Char(c), KeyCode::Char(d)) => !ctrl && c == d,
            (Key::Space, KeyCode::Char(' ')) => !ctrl,
            (Key::Enter, KeyCode::Enter) => true,
            (Key::Esc, KeyCode::Esc) => true,
            (Key::Up, KeyCode::Up) => true,
            (Key::Down, KeyCode::Down) => true,
            (Key::PageUp, KeyCode::PageUp) => true,
            (Key::PageDown, KeyCode::PageDown) => true,
            _ => false,
        }
    }
}

pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    pub context: Context,
    /// Word shown in the footer; `None`: only in the help.
    pub footer: Option<&'static str>,
    pub help: &'static str,
}

impl Binding {
    pub fn key_label(&self) -> String {
        self.keys.iter().map(|k| k.label()).collect::<Vec<_>>().join("/")
    }
}

use Context::*;
use Key::*;

const fn bind(
    keys: &'static [Key],
    action: Action,
    context: Context,
    footer: Option<&'static str>,
    help: &'static str,
) -> Binding {
    Binding { keys, action, context, footer, help }
}

/// Earlier entries win when a key is bound in two applicable contexts (a screen's own keys are
/// listed before the global ones).
#[rustfmt::skip] // one binding per line reads as a table
pub const KEYS: &[Binding] = &[
    bind(&[Space], Action::TogglePause, Run, Some("pause"), "pause / resume the simulation"),
    bind(&[Char('.')], Action::StepEvent, Run, Some("step"), "pause and apply exactly one event"),
    bind(&[Char('n')], Action::StepWindow, Run, Some("window"), "pause and run to the end of the current time-series window"),
    bind(&[Char('+'), Char('=')], Action::Faster, Run, Some("faster"), "faster: more simulated seconds per real second"),
    bind(&[Char('-')], Action::Slower, Run, Some("slower"), "slower"),
    bind(&[Char('m')], Action::MaxSpeed, Run, None, "as fast as possible (again: back to the last paced speed)"),
    bind(&[Char('i')], Action::FaultMenu, Run, Some("faults"), "fault menu: inject a fault now, or heal an active one"),
    bind(&[Char('c')], Action::Compare, Run, Some("compare"), "side by side with the next variant (both restart at t=0)"),
    bind(&[Char('v')], Action::NextVariant, Run, None, "switch to the next variant (restarts at t=0)"),
    bind(&[Char('r')], Action::RestartSame, Run, None, "restart with the same seed"),
    bind(&[Char('R')], Action::RestartNext, Run, None, "restart with the next seed"),
    bind(&[Char('e')], Action::JumpEnd, Run, None, "jump to the end of the run"),
    bind(&[Char('s')], Action::Save, Run, Some("save"), "save the session as a replay file (kept up to date)"),
    bind(&[Char('w')], Action::SweepView, Run, None, "sweep results (when started with --sweep)"),
    bind(&[Up, Char('k')], Action::Up, Menu, None, "previous entry"),
    bind(&[Down, Char('j')], Action::Down, Menu, None, "next entry"),
    bind(&[PageUp], Action::PageUp, Menu, None, "previous page"),
    bind(&[PageDown], Action::PageDown, Menu, None, "next page"),
    bind(&[Enter], Action::Select, Menu, Some("apply"), "inject the selected fault (or heal it)"),
    bind(&[Char('d')], Action::CycleDuration, Menu, Some("duration"), "duration of injected faults: until healed, 5 s, 10 s, 30 s"),
    bind(&[Esc, Char('i')], Action::Back, Menu, Some("close"), "close the menu"),
    bind(&[Up, Char('k')], Action::Up, Sweep, None, "previous run"),
    bind(&[Down, Char('j')], Action::Down, Sweep, None, "next run"),
    bind(&[PageUp], Action::PageUp, Sweep, None, "previous page"),
    bind(&[PageDown], Action::PageDown, Sweep, None, "next page"),
    bind(&[Char('s')], Action::SortNext, Sweep, Some("sort"), "sort by the next figure"),
    bind(&[Char('S')], Action::SortReverse, Sweep, None, "reverse the order"),
    bind(&[Char('v')], Action::FilterVariant, Sweep, Some("variant"), "show one variant, the next, … all"),
    bind(&[Enter], Action::Select, Sweep, Some("open"), "open the selected seed as a live run"),
    bind(&[Char('W')], Action::OpenWorst, Sweep, Some("worst"), "open the worst seed (lowest success rate, then highest p99)"),
    bind(&[Esc], Action::Back, Sweep, Some("back"), "back to the live run"),
    bind(&[Up, Char('k')], Action::Up, Catalog, None, "previous scenario"),
    bind(&[Down, Char('j')], Action::Down, Catalog, None, "next scenario"),
    bind(&[Enter], Action::Select, Catalog, Some("open"), "run the selected scenario"),
    bind(&[Up, Char('k')], Action::Up, Help, None, "scroll up"),
    bind(&[Down, Char('j')], Action::Down, Help, None, "scroll down"),
    bind(&[PageUp], Action::PageUp, Help, None, "scroll a page up"),
    bind(&[PageDown], Action::PageDown, Help, None, "scroll a page down"),
    bind(&[Char('?'), Esc], Action::Help, Help, Some("close"), "close the help"),
    bind(&[Char('?')], Action::Help, Global, Some("help"), "this help"),
    bind(&[Char('q'), Ctrl('c')], Action::Quit, Global, Some("quit"), "quit (the terminal is restored)"),
];

/// The action of a key press in `context` (global bindings apply everywhere).
pub fn action(context: Context, k: &KeyEvent) -> Option<Action> {
    if k.kind == KeyEventKind::Release {
        return None;
    }
    KEYS.iter()
        .filter(|b| b.context == context || b.context == Global)
        .find(|b| b.keys.iter().any(|key| key.matches(k)))
        .map(|b| b.action)
}

/// Footer hints for `context`: `(keys, word)` in table order, the context's own first.
pub fn footer(context: Context) -> Vec<(String, &'static str)> {
    let own = KEYS.iter().filter(|b| b.context == context);
    let global = KEYS.iter().filter(|b| b.context == Global && context != Help);
    own.chain(global).filter_map(|b| b.footer.map(|w| (b.keys[0].label(), w))).collect()
}

/// The help text: every binding grouped by context, in table order.
pub fn help() -> Vec<(Context, Vec<&'static Binding>)> {
    let mut groups: Vec<(Context, Vec<&Binding>)> = Vec::new();
    for b in KEYS {
        match groups.iter_mut().find(|(c, _)| *c == b.context) {
            Some((_, v)) => v.push(b),
            None => groups.push((b.context, vec![b])),
        }
    }
    groups
}

/// The key table as Markdown, grouped like the help (docs/tui.md carries it; a test keeps the
/// two equal).
pub fn markdown() -> String {
    let mut s = String::new();
    for (c, bindings) in help() {
        s.push_str(&format!("**{}**\n\n| key | what it does |\n|---|---|\n", c.title()));
        for b in bindings {
            let keys: Vec<String> = b.keys.iter().map(|k| format!("`{}`", k.label())).collect();
            s.push_str(&format!("| {} | {} |\n", keys.join(" "), b.help));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        let contexts = [Run, Menu, Sweep, Catalog, Help];
        for c in contexts {
            let mut seen: Vec<(Key, &str)> = Vec::new();
            for b in KEYS.iter().filter(|b| b.context == c || (b.context == Global && c != Help)) {
                for k in b.keys {
                    if let Some((_, other)) = seen.iter().find(|(s, _)| s == k) {
                        panic!("{k:?} is bound to both `{other}` and `{}` in {c:?}", b.help);
                    }
                    seen.push((*k, b.help));
                }
            }
        }
    }

    #[test]
    fn help_lines_fit_an_80_column_terminal() {
        for b in KEYS {
            // 78-wide box: borders, two spaces, a 10-wide key column.
            assert!(b.help.chars().count() <= 64, "too long for the help: {}", b.help);
            assert!(b.key_label().chars().count() <= 10, "key label too long: {}", b.key_label());
        }
    }

    #[test]
    fn keys_map_to_their_actions_by_context() {
        assert_eq!(action(Run, &press(KeyCode::Char(' '))), Some(Action::TogglePause));
        assert_eq!(action(Menu, &press(KeyCode::Char(' '))), None);
        assert_eq!(action(Sweep, &press(KeyCode::Char('s'))), Some(Action::SortNext));
        assert_eq!(action(Run, &press(KeyCode::Char('s'))), Some(Action::Save));
        assert_eq!(action(Menu, &press(KeyCode::Char('q'))), Some(Action::Quit));
        assert_eq!(action(Help, &press(KeyCode::Esc)), Some(Action::Help));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action(Run, &ctrl_c), Some(Action::Quit));
        let mut release = press(KeyCode::Char(' '));
        release.kind = KeyEventKind::Release;
        assert_eq!(action(Run, &release), None);
    }

    #[test]
    fn every_bound_key_can_be_pressed_programmatically() {
        for b in KEYS {
            for k in b.keys {
                let crate::event::Event::Key(ev) = crate::event::Event::press(*k) else { unreachable!() };
                assert!(k.matches(&ev), "{k:?}");
            }
        }
    }

    #[test]
    fn footer_and_help_come_from_the_table() {
        let f = footer(Run);
        assert_eq!(f.first(), Some(&("space".to_owned(), "pause")));
        assert_eq!(f.last(), Some(&("q".to_owned(), "quit")));
        let help = help();
        let listed: usize = help.iter().map(|(_, v)| v.len()).sum();
        assert_eq!(listed, KEYS.len());
        assert!(help.iter().any(|(c, v)| *c == Run && v.iter().any(|b| b.action == Action::RestartNext)));
    }
}
