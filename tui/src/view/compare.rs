//! Two variants side by side on the same seed and fault timeline: each one's regions and
//! charts, then their key figures next to each other with the difference.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row, Table};

use super::live::{is_saga_kind, log_pane};
use super::parts::{self, fit, health_style, ms};
use crate::app::App;
use crate::driver::{Run, loss_figures};
use crate::health;

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let [head, rest] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    parts::header(app, f, head);
    // Small terminals give the charts the room of the log and of the less telling figures.
    let roomy = rest.height >= 30;
    let log_h = if roomy { 7 } else { 0 };
    let table_h = if roomy { 11 } else { 9 };
    let [cols, table, log] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(table_h), Constraint::Length(log_h)]).areas(rest);
    let [left, right] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(cols);
    for (i, col) in [left, right].into_iter().enumerate() {
        column(f, col, &app.runs[i], app.label(i));
    }
    figures(f, table, &app.runs[0], &app.runs[1], roomy);
    if roomy {
        log_pane(f, log, &app.log);
    }
}

fn column(f: &mut Frame, area: Rect, run: &Run, label: &str) {
    let block = Block::bordered().title(Line::from(vec![
        Span::styled(format!(" {label} "), Style::new().reversed().bold()),
        Span::styled(format!(" {} ", run.variant), Style::new().bold()),
    ]));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [regions, c1, c2] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1), Constraint::Fill(1)]).areas(inner);
    let mut spans = Vec::new();
    for r in health::topology(&run.world) {
        spans.push(Span::raw(format!("{} ", fit(&r.name, 12))));
        spans.push(Span::styled(format!("{}  ", r.health.word()), health_style(r.health)));
    }
    f.render_widget(Line::from(spans), regions);
    let w = parts::windows(&run.report);
    parts::throughput_chart(f, c1, run, &w);
    parts::latency_chart(f, c2, run, &w);
}

/// `(figure, A, B, B − A formatted)`; `lower_is_better` colours the difference.
fn figures(f: &mut Frame, area: Rect, a: &Run, b: &Run, all: bool) {
    let (ra, rb) = (&a.report, &b.report);
    let (wa, wb) = (parts::windows(ra), parts::windows(rb));
    let ok = |r: &faultline_models::RunReport| 100.0 * r.requests.ok as f64 / r.requests.total.max(1) as f64;
    // Losses are counters: what they say so far happened. The checkers' anomalies are final at
    // the end; before it the saga checker counts sagas in flight, so they wait for the end.
    let losses = |r: &faultline_models::RunReport| loss_figures(r).iter().map(|x| x.1).sum::<u64>() as f64;
    let anomalies = |r: &Run| {
        let sagas = r.report.anomalies.keys().any(|k| is_saga_kind(k));
        if sagas && !r.finished() { f64::NAN } else { r.report.anomalies.values().sum::<u64>() as f64 }
    };
    let nan = |x: Option<f64>| x.unwrap_or(f64::NAN);
    // (name, a, b, format, lower is better)
    type Fmt = fn(f64) -> String;
    let pctf: Fmt = |x| format!("{x:.2}%");
    let msf: Fmt = ms;
    let count: Fmt = |x| format!("{x:.0}");
    let checked: Fmt = |x| if x.is_nan() { "at end".to_owned() } else { format!("{x:.0}") };
    let rows: [(&str, f64, f64, Fmt, bool); 8] = [
        ("requests ok", ok(ra), ok(rb), pctf, false),
        ("errors now", 100.0 * wa.err_ratio_now, 100.0 * wb.err_ratio_now, pctf, true),
        // NaN: no request has succeeded yet (shown as `-`).
        ("p50", nan(ra.latency_ms.p50), nan(rb.latency_ms.p50), msf, true),
        ("p99", nan(ra.latency_ms.p99), nan(rb.latency_ms.p99), msf, true),
        ("p99.9", nan(ra.latency_ms.p999), nan(rb.latency_ms.p999), msf, true),
        ("timed out", ra.requests.timed_out as f64, rb.requests.timed_out as f64, count, true),
        ("losses", losses(ra), losses(rb), count, true),
        ("anomalies", anomalies(a), anomalies(b), checked, true),
    ];
    // In small terminals: the figures that tell designs apart most often.
    let shown = |name: &str| all || !matches!(name, "p50" | "p99.9");
    let body = rows.iter().filter(|r| shown(r.0)).map(|&(name, x, y, fmt, lower)| {
        let d = y - x;
        let style = if d == 0.0 || d.is_nan() {
            Style::new().dim()
        } else if (d < 0.0) == lower {
            Style::new().fg(Color::Green)
        } else {
            Style::new().fg(Color::Red)
        };
        let sign = if d > 0.0 { "+" } else { "" };
        Row::new(vec![
            Cell::from(name),
            Cell::from(fmt(x)),
            Cell::from(fmt(y)),
            Cell::from(Span::styled(if d.is_nan() { "-".to_owned() } else { format!("{sign}{}", fmt(d)) }, style)),
        ])
    });
    let header = Row::new(vec![
        Cell::from("figure (so far)"),
        Cell::from(format!("A {}", a.variant)),
        Cell::from(format!("B {}", b.variant)),
        Cell::from("B − A"),
    ])
    .style(Style::new().bold());
    let t = Table::new(body, [Constraint::Length(16), Constraint::Fill(1), Constraint::Fill(1), Constraint::Fill(1)])
        .header(header)
        .block(Block::bordered().title(" side by side: same seed, same faults "));
    f.render_widget(t, area);
}
