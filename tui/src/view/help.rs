//! `?`: every key of the key table, grouped by where it applies, the current context first.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::app::App;
use crate::keys::{self, Context};

/// The help's lines (also what docs/tui.md lists).
pub fn lines(current: Context) -> Vec<Line<'static>> {
    let mut groups = keys::help();
    // The context the user came from first; everywhere-keys last.
    groups.sort_by_key(|(c, _)| (*c != current) as u8 + 2 * (*c == Context::Global) as u8);
    let mut out = Vec::new();
    for (c, bindings) in groups {
        out.push(Line::styled(c.title().to_owned(), Style::new().bold().underlined()));
        for b in bindings {
            out.push(Line::from(vec![
                Span::styled(format!("  {:<10}", b.key_label()), Style::new().bold()),
                Span::raw(b.help),
            ]));
        }
    }
    out
}

pub fn render(app: &App, f: &mut Frame, area: Rect, scroll: u16) {
    let from = match app.screen {
        crate::app::Screen::Catalog => Context::Catalog,
        crate::app::Screen::Run => Context::Run,
        crate::app::Screen::Sweep => Context::Sweep,
    };
    let box_ = area.centered(Constraint::Max(78), Constraint::Percentage(100));
    f.render_widget(Clear, box_);
    let p = Paragraph::new(lines(from))
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0))
        .block(Block::bordered().title(" keys — ↑/↓ scroll, ? or esc closes ").title_style(Style::new().bold()));
    f.render_widget(p, box_);
}
