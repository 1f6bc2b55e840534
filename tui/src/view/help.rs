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

/// Rows the help takes `width` columns wide, its lines wrapped at spaces (as the paragraph
/// wraps them; a word longer than the width is cut into pieces).
pub fn rows(current: Context, width: u16) -> u16 {
    let w = usize::from(width.max(1));
    let mut rows = 0usize;
    for line in lines(current) {
        let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
        let (mut n, mut col) = (1, 0);
        for word in text.split_inclusive(' ') {
            let len = word.chars().count();
            let visible = word.trim_end().chars().count();
            if col > 0 && col + visible > w {
                n += 1;
                col = 0;
            }
            n += (col + len).saturating_sub(1) / w;
            col = (col + len) % w;
        }
        rows += n;
    }
    u16::try_from(rows).unwrap_or(u16::MAX)
}

pub fn render(app: &App, f: &mut Frame, area: Rect, scroll: u16) {
    let from = app.help_context();
    let box_ = area.centered(Constraint::Max(78), Constraint::Percentage(100));
    f.render_widget(Clear, box_);
    let inner_h = box_.height.saturating_sub(2);
    let scroll = scroll.min(rows(from, box_.width.saturating_sub(2)).saturating_sub(inner_h));
    let p = Paragraph::new(lines(from))
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0))
        .block(Block::bordered().title(" keys — ↑/↓ scroll, ? or esc closes ").title_style(Style::new().bold()));
    f.render_widget(p, box_);
}
