//! A sweep's results: per-variant summaries (means with 95% CIs, as `faultline sweep` prints
//! them), then one row per (variant, seed), sorted and filtered.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table};

use super::parts::ms;
use crate::app::App;
use crate::sweepview::anomalies;

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let Some(v) = &app.sweep else { return };
    let [head, summary, table] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(v.summary.variants.len() as u16 + 3),
        Constraint::Fill(1),
    ])
    .areas(area);
    let filter = v.filter.map_or("all variants".to_owned(), |i| format!("variant {}", v.variants[i]));
    // In a narrow terminal the file name gives way first, then the badge: the order stays.
    let line = |file: bool, badge: bool| {
        let mut spans = Vec::new();
        if badge {
            spans.push(Span::styled(" faultline ", Style::new().reversed().bold()));
        }
        spans.push(Span::raw(if file { format!(" sweep {}  ", v.file) } else { " sweep ".to_owned() }));
        spans.push(Span::styled(v.scenario().to_owned(), Style::new().bold()));
        spans.push(Span::raw(format!("  {} runs · {filter} · sorted by {}", v.records.len(), v.order())));
        Line::from(spans)
    };
    let title = [(true, true), (false, true), (false, false)]
        .into_iter()
        .map(|(file, badge)| line(file, badge))
        .find(|l| l.width() <= head.width as usize)
        .unwrap_or_else(|| line(false, false));
    f.render_widget(Paragraph::new(title), head);
    let est = |s: &faultline_scenarios::sweep::VariantSummary, k: &str, scale: f64| {
        s.figures.get(k).map_or("-".to_owned(), |e| e.cell(scale, 2))
    };
    let cells: Vec<[String; 6]> = v
        .summary
        .variants
        .iter()
        .map(|s| {
            [
                s.variant.clone(),
                s.seeds.to_string(),
                est(s, "success_rate", 100.0),
                est(s, "latency_p99_ms", 1.0),
                s.anomalies.values().sum::<u64>().to_string(),
                s.worst_seeds.first().map_or("-".to_owned(), |w| w.seed.to_string()),
            ]
        })
        .collect();
    let head = ["variant", "seeds", "ok % (95% CI)", "p99 ms (95% CI)", "anomalies", "worst"];
    let w = widths(&head, &cells, [0, 6, 0, 0, 9, 6]);
    let t = Table::new(
        cells.into_iter().map(Row::new),
        [
            Constraint::Fill(2),
            Constraint::Length(w[1]),
            Constraint::Fill(2),
            Constraint::Fill(2),
            Constraint::Length(w[4]),
            Constraint::Length(w[5]),
        ],
    )
    .header(Row::new(head).style(Style::new().bold()))
    .block(Block::bordered().title(" per variant "));
    f.render_widget(t, summary);
    let block = Block::bordered().title(" runs ");
    let visible = block.inner(table).height.saturating_sub(1) as usize;
    let first = v.selected.saturating_sub(visible.saturating_sub(1));
    // Every row's cells, so that the columns fit the widest value (a seed or a count cut to
    // its first digits would read as another number) and keep their width while scrolling.
    let cells: Vec<[String; 9]> = v
        .rows
        .iter()
        .map(|&i| {
            let r = &v.records[i];
            [
                r.variant.clone(),
                r.seed.to_string(),
                r.status.clone(),
                r.success_rate().map_or("-".to_owned(), |x| format!("{:.2}", 100.0 * x)),
                ms(r.latency_ms.p50.unwrap_or(f64::NAN)),
                ms(r.latency_ms.p99.unwrap_or(f64::NAN)),
                ms(r.latency_ms.p999.unwrap_or(f64::NAN)),
                r.requests.timed_out.to_string(),
                anomalies(r).to_string(),
            ]
        })
        .collect();
    let head = ["variant", "seed", "status", "ok %", "p50", "p99", "p99.9", "t/o", "anom"];
    let w = widths(&head, &cells, [0, 6, 6, 7, 8, 8, 8, 6, 5]);
    let rows = cells.into_iter().enumerate().skip(first).take(visible).map(|(pos, c)| {
        let row = Row::new(c);
        if pos == v.selected { row.style(Style::new().reversed()) } else { row }
    });
    let mut constraints = vec![Constraint::Fill(2)];
    constraints.extend(w[1..].iter().map(|&x| Constraint::Length(x)));
    let t = Table::new(rows, constraints).header(Row::new(head).style(Style::new().bold())).block(block);
    f.render_widget(t, table);
}

/// The width of each column: its widest cell or header, and at least `least` (room between
/// columns when the values are short).
fn widths<const N: usize>(head: &[&str; N], cells: &[[String; N]], least: [u16; N]) -> [u16; N] {
    let mut w = head.map(|h| h.chars().count() as u16);
    for (w, l) in w.iter_mut().zip(least) {
        *w = (*w).max(l);
    }
    for row in cells {
        for (w, c) in w.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count() as u16);
        }
    }
    w
}
