//! Rendering: pure functions of `&App` into a frame. Every figure shown comes from a run's
//! report or from read-only views of its world (`health`).

mod catalog;
mod compare;
mod help;
mod live;
mod menu;
mod parts;
mod sweep;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{App, Overlay, Screen};
use crate::keys;

/// Smallest terminal the screens are laid out for.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

pub fn render(app: &App, f: &mut Frame) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "terminal {}×{}: faultline needs at least {MIN_WIDTH}×{MIN_HEIGHT} (q quits)",
            area.width, area.height
        );
        f.render_widget(Paragraph::new(msg).wrap(ratatui::widgets::Wrap { trim: true }), area);
        return;
    }
    let [body, footer] = Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(area);
    match app.screen {
        Screen::Catalog => catalog::render(app, f, body),
        Screen::Run if app.runs.len() > 1 => compare::render(app, f, body),
        Screen::Run if !app.runs.is_empty() => live::render(app, f, body),
        Screen::Run => catalog::render(app, f, body),
        Screen::Sweep => sweep::render(app, f, body),
    }
    render_footer(app, f, footer);
    match &app.overlay {
        Some(Overlay::Help { scroll, .. }) => help::render(app, f, body, *scroll),
        Some(Overlay::Menu { items, selected }) => menu::render(app, f, body, items, *selected),
        None => {}
    }
}

pub use help::rows as help_rows;

/// Key hints from the key table, then the last status message if there is room.
fn render_footer(app: &App, f: &mut Frame, area: Rect) {
    let mut spans: Vec<Span> = Vec::new();
    let mut used = 0usize;
    let width = area.width as usize;
    for (key, word) in keys::footer(app.context()) {
        // `esc back` returns to a live run: none is open yet.
        if app.context() == keys::Context::Sweep && word == "back" && app.runs.is_empty() {
            continue;
        }
        let w = key.chars().count() + word.chars().count() + 2;
        if used + w > width {
            break;
        }
        spans.push(Span::styled(key, Style::new().add_modifier(Modifier::BOLD).reversed()));
        spans.push(Span::raw(format!(" {word} ")));
        used += w;
    }
    let room = width.saturating_sub(used + 1);
    if room > 8 && !app.status.is_empty() {
        let status: String = if app.status.chars().count() > room {
            let s: String = app.status.chars().take(room - 1).collect();
            format!("{s}…")
        } else {
            app.status.clone()
        };
        spans.push(Span::raw(format!("{:>room$}", status)).dim());
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The anomalies pane of a run as text, a line each (for tests).
#[cfg(test)]
pub fn anomaly_text(run: &crate::driver::Run) -> String {
    live::anomaly_lines(run)
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect::<String>() + "\n")
        .collect()
}
