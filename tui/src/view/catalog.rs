//! The built-in scenarios, to pick one when `faultline tui` is started without a scenario.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::parts::fit;
use crate::app::App;

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let [head, list] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" faultline ", Style::new().reversed().bold()),
            Span::raw("  pick a scenario from the catalog (or run `faultline tui FILE.toml`)"),
        ])),
        head,
    );
    let block = Block::bordered().title(" catalog ");
    let inner = block.inner(list);
    let h = inner.height as usize;
    let first = app.catalog_selected.saturating_sub(h.saturating_sub(1));
    let name_w = app.catalog.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let lines: Vec<Line> = app
        .catalog
        .iter()
        .enumerate()
        .skip(first)
        .take(h)
        .map(|(i, (name, desc))| {
            let text = fit(&format!("{name:<name_w$}  {desc}"), inner.width as usize);
            if i == app.catalog_selected { Line::styled(text, Style::new().reversed()) } else { Line::raw(text) }
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(block), list);
}
