//! A sweep's results: per-variant summaries (means with 95% CIs, as `faultline sweep` prints
//! them), then one row per (variant, seed), sorted and filtered.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};

use super::parts::ms;
use crate::app::App;
use crate::sweepview::{SORTS, anomalies};

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let Some(v) = &app.sweep else { return };
    let [head, summary, table] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(v.summary.variants.len() as u16 + 3),
        Constraint::Fill(1),
    ])
    .areas(area);
    let filter = v.filter.map_or("all variants".to_owned(), |i| format!("variant {}", v.variants[i]));
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" faultline ", Style::new().reversed().bold()),
            Span::raw(format!(" sweep {}  ", v.file)),
            Span::styled(v.scenario().to_owned(), Style::new().bold()),
            Span::raw(format!(
                "  {} runs · {filter} · sorted by {}{}",
                v.records.len(),
                SORTS[v.sort],
                if v.reversed { " (reversed)" } else { "" }
            )),
        ])),
        head,
    );
    let est = |s: &faultline_scenarios::sweep::VariantSummary, k: &str, scale: f64| {
        s.figures.get(k).map_or("-".to_owned(), |e| e.cell(scale, 2))
    };
    let rows = v.summary.variants.iter().map(|s| {
        Row::new(vec![
            Cell::from(s.variant.clone()),
            Cell::from(s.seeds.to_string()),
            Cell::from(est(s, "success_rate", 100.0)),
            Cell::from(est(s, "latency_p99_ms", 1.0)),
            Cell::from(s.anomalies.values().sum::<u64>().to_string()),
            Cell::from(s.worst_seeds.first().map_or("-".to_owned(), |w| w.seed.to_string())),
        ])
    });
    let t = Table::new(
        rows,
        [
            Constraint::Fill(2),
            Constraint::Length(6),
            Constraint::Fill(2),
            Constraint::Fill(2),
            Constraint::Length(9),
            Constraint::Length(6),
        ],
    )
    .header(
        Row::new(vec!["variant", "seeds", "ok % (95% CI)", "p99 ms (95% CI)", "anomalies", "worst"])
            .style(Style::new().bold()),
    )
    .block(Block::bordered().title(" per variant "));
    f.render_widget(t, summary);
    let block = Block::bordered().title(" runs ");
    let visible = block.inner(table).height.saturating_sub(1) as usize;
    let first = v.selected.saturating_sub(visible.saturating_sub(1));
    let rows = v.rows.iter().enumerate().skip(first).take(visible).map(|(pos, &i)| {
        let r = &v.records[i];
        let row = Row::new(vec![
            Cell::from(r.variant.clone()),
            Cell::from(r.seed.to_string()),
            Cell::from(r.status.clone()),
            Cell::from(r.success_rate().map_or("-".to_owned(), |x| format!("{:.2}", 100.0 * x))),
            Cell::from(ms(r.latency_ms.p50.unwrap_or(f64::NAN))),
            Cell::from(ms(r.latency_ms.p99.unwrap_or(f64::NAN))),
            Cell::from(ms(r.latency_ms.p999.unwrap_or(f64::NAN))),
            Cell::from(r.requests.timed_out.to_string()),
            Cell::from(anomalies(r).to_string()),
        ]);
        if pos == v.selected { row.style(Style::new().reversed()) } else { row }
    });
    let t = Table::new(
        rows,
        [
            Constraint::Fill(2),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(5),
        ],
    )
    .header(
        Row::new(vec!["variant", "seed", "status", "ok %", "p50", "p99", "p99.9", "t/o", "anom"])
            .style(Style::new().bold()),
    )
    .block(block);
    f.render_widget(t, table);
}
