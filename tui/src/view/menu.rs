//! The fault menu overlay.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::parts::fit;
use crate::app::{App, secs};
use crate::menu::{DURATIONS, MenuItem, duration_label};

pub fn render(app: &App, f: &mut Frame, area: Rect, items: &[MenuItem], selected: usize) {
    let h = (items.len() as u16 + 2).min(area.height.saturating_sub(2)).max(5);
    let box_ = area.centered(Constraint::Max(64), Constraint::Length(h));
    f.render_widget(Clear, box_);
    let block = Block::bordered()
        .title(format!(" faults at t={} ", secs(app.now())))
        .title_bottom(format!(" d duration: {} · enter applies · esc closes ", duration_label(DURATIONS[app.duration])))
        .title_style(Style::new().bold());
    let inner = block.inner(box_);
    let rows = inner.height as usize;
    let first = selected.saturating_sub(rows.saturating_sub(1));
    let lines: Vec<Line> = items
        .iter()
        .enumerate()
        .skip(first)
        .take(rows)
        .map(|(i, it)| {
            let text = fit(&it.label, (inner.width as usize).saturating_sub(15));
            let line = Line::from(vec![Span::raw(format!("{:<14} ", it.section)).dim(), Span::raw(text)]);
            if i == selected { line.style(Style::new().reversed()) } else { line }
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(block), box_);
}
