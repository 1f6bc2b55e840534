//! One run: topology with health and load, throughput/error and latency charts, the fault
//! timeline, components, anomalies and checks, and the log.

use faultline_models::world::Component;
use faultline_scenarios::expect::show_value;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::parts::{self, bar, compact, compact_ms, fit, health_style, pct, spark};
use crate::app::{App, secs};
use crate::driver::{FaultState, Run};
use crate::health::{self, RegionView};
use crate::logpane::LogLine;

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let run = &app.runs[0];
    let [head, rest] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    parts::header(app, f, head);
    let log_h = match rest.height {
        h if h >= 40 => 10,
        h if h >= 28 => 7,
        _ => 5,
    };
    let upper_h = rest.height.saturating_sub(log_h);
    let top_h = (upper_h * 3 / 5).max(8);
    let [top, bottom, log] =
        Layout::vertical([Constraint::Length(top_h), Constraint::Fill(1), Constraint::Length(log_h)]).areas(rest);
    let topo_w = (top.width * 3 / 8).clamp(30, 56);
    let [topo, charts] = Layout::horizontal([Constraint::Length(topo_w), Constraint::Fill(1)]).areas(top);
    topology(f, topo, run);
    let w = parts::windows(&run.report);
    let [c1, c2] = Layout::vertical([Constraint::Fill(1), Constraint::Fill(1)]).areas(charts);
    parts::throughput_chart(f, c1, run, &w);
    parts::latency_chart(f, c2, run, &w);
    let [faults_a, comps_a, anom_a] =
        Layout::horizontal([Constraint::Percentage(38), Constraint::Percentage(32), Constraint::Fill(1)]).areas(bottom);
    faults(f, faults_a, run);
    components(f, comps_a, run);
    anomalies(f, anom_a, run);
    log_pane(f, log, &app.log);
}

/// Lines of the topology tree, as deep as fits: regions, zones, nodes. Columns: name, health,
/// then `up/all load` for regions and zones, a load bar and a note for nodes.
pub fn topology_lines(regions: &[RegionView], width: usize, height: usize) -> Vec<Line<'static>> {
    let zones: usize = regions.iter().map(|r| r.zones.len()).sum();
    let nodes: usize = regions.iter().flat_map(|r| &r.zones).map(|z| z.nodes.len()).sum();
    let depth = if regions.len() + zones + nodes <= height {
        3
    } else if regions.len() + zones <= height {
        2
    } else {
        1
    };
    let detail_w = if width >= 40 { 16 } else { 9 };
    let longest = regions
        .iter()
        .map(|r| r.name.chars().count())
        .chain(regions.iter().flat_map(|r| &r.zones).map(|z| z.name.chars().count() + 1))
        .chain(
            regions
                .iter()
                .flat_map(|r| &r.zones)
                .flat_map(|z| &z.nodes)
                .filter(|_| depth == 3)
                .map(|n| n.name.chars().count() + 2),
        )
        .max()
        .unwrap_or(0);
    let name_w = longest.min(width.saturating_sub(6 + detail_w)).max(4);
    let load = |l: Option<f64>| l.map_or(String::new(), pct);
    let row = |indent: usize, name: &str, h: health::Health, detail: String| {
        let w = name_w.saturating_sub(indent);
        Line::from(vec![
            Span::raw(format!("{}{:<w$} ", " ".repeat(indent), fit(name, w))),
            Span::styled(format!("{:<5}", h.word()), health_style(h)),
            Span::raw(format!(" {}", fit(&detail, detail_w))),
        ])
    };
    let mut out = Vec::new();
    for r in regions {
        out.push(
            row(0, &r.name, r.health, format!("{}/{} {}", r.up, r.nodes, load(r.load)))
                .patch_style(Style::new().add_modifier(Modifier::BOLD)),
        );
        if depth < 2 {
            continue;
        }
        for z in &r.zones {
            out.push(row(1, &z.name, z.health, format!("{}/{} {}", z.up, z.nodes.len(), load(z.load))));
            if depth < 3 {
                continue;
            }
            for n in &z.nodes {
                let detail = match n.load {
                    Some(l) => format!("{} {}", bar(l, 4), n.note),
                    None => n.note.clone(),
                };
                out.push(row(2, &n.name, n.health, detail));
            }
        }
    }
    out
}

fn topology(f: &mut Frame, area: Rect, run: &Run) {
    let block = Block::bordered().title(" topology ");
    let inner = block.inner(area);
    let lines = topology_lines(&health::topology(&run.world), inner.width as usize, inner.height as usize);
    f.render_widget(Paragraph::new(lines).block(block), area);
}

/// One line per fault: state, name, times, and a bar over the run's duration.
pub fn fault_lines(run: &Run, width: usize) -> Vec<Line<'static>> {
    let w = &run.world;
    let now = w.now();
    let dur = w.spec.duration.max(now).max(1);
    let scheduled = w.spec.faults.len();
    let mut out = Vec::new();
    for (i, f) in w.faults().iter().enumerate() {
        // A heal command ends a fault early.
        let healed = run.replay.commands.iter().find_map(|c| match c {
            faultline_scenarios::replay::Command::Heal { index, t_ns, .. } if *index == i => Some(*t_ns),
            _ => None,
        });
        let end = match (f.end, healed) {
            (Some(e), Some(h)) => Some(e.min(h)),
            (e, h) => e.or(h),
        };
        let (mark, style) = match run.fault_state(i) {
            FaultState::Active => ("▶", Style::new().fg(Color::Red).bold()),
            FaultState::Pending => ("·", Style::new().dim()),
            FaultState::Over => ("✓", Style::new().fg(Color::Green)),
        };
        let star = if i >= scheduled { "*" } else { " " };
        let when = match end {
            Some(e) => format!("{:.0}-{:.0}s", f.start as f64 / 1e9, e as f64 / 1e9),
            None => format!("{:.0}s-", f.start as f64 / 1e9),
        };
        // The name whole if the bar keeps 6 cells.
        let name_w = f.name.chars().count().min(width.saturating_sub(2 + when.len() + 1 + 6)).max(4);
        let bar_w = width.saturating_sub(2 + name_w + 1 + when.len() + 1);
        let bar: String = (0..bar_w)
            .map(|c| {
                let t0 = dur as u128 * c as u128 / bar_w as u128;
                let t1 = dur as u128 * (c as u128 + 1) / bar_w as u128;
                let on = (f.start as u128) < t1 && end.is_none_or(|e| e as u128 > t0);
                let here = (t0..t1).contains(&(now as u128));
                match (on, here) {
                    (_, true) => '│',
                    (true, false) => '█',
                    (false, false) => '─',
                }
            })
            .collect();
        out.push(Line::from(vec![
            Span::styled(format!("{mark}{star}"), style),
            Span::raw(format!("{:<name_w$} ", fit(&f.name, name_w))),
            Span::raw(format!("{when} ")).dim(),
            Span::styled(bar, style),
        ]));
    }
    if out.is_empty() {
        out.push(Line::from("no faults (i injects one)").dim());
    }
    out
}

fn faults(f: &mut Frame, area: Rect, run: &Run) {
    let block = Block::bordered().title(" faults (* injected) ");
    let inner = block.inner(area);
    let mut lines = fault_lines(run, inner.width as usize);
    // Keep the most recent when they do not all fit.
    let h = inner.height as usize;
    if lines.len() > h {
        lines.drain(..lines.len() - h);
    }
    f.render_widget(Paragraph::new(lines).block(block), area);
}

/// One line per service, balancer, cache, queue and database: what it is doing now. Names
/// take at most half the width, and less (down to six columns) where a line's figures would
/// not fit beside them: a name cut short ends in `…`, and figures are never cut (see [`clip`]).
pub fn component_lines(run: &Run, width: usize) -> Vec<Line<'static>> {
    let r = &run.report;
    let names = r
        .services
        .iter()
        .map(|s| &s.name)
        .chain(r.balancers.iter().map(|b| &b.name))
        .chain(r.caches.iter().map(|c| &c.name))
        .chain(r.queues.iter().map(|q| &q.name))
        .chain(r.databases.iter().map(|d| &d.name));
    let name_w = names.map(|n| n.chars().count()).max().unwrap_or(0).min(width / 2).max(4);
    let lines = component_lines_named(run, width, name_w);
    let over = lines.iter().map(|l| l.width().saturating_sub(width)).max().unwrap_or(0);
    // Six columns still tell most names apart (`inven…`); below that, figures give way.
    let least = name_w.min(6);
    if over == 0 || name_w == least {
        return lines;
    }
    component_lines_named(run, width, name_w.saturating_sub(over).max(least))
}

/// [`component_lines`] with names in `name_w` columns.
fn component_lines_named(run: &Run, width: usize, name_w: usize) -> Vec<Line<'static>> {
    let r = &run.report;
    let name = |n: &str| format!("{:<name_w$} ", fit(n, name_w));
    let kind = |k: &'static str| Span::styled(k, Style::new().add_modifier(Modifier::DIM));
    let spark_w = width.saturating_sub(3 + name_w + 1 + 9).max(3);
    let mut out = Vec::new();
    for (g, s) in r.services.iter().enumerate() {
        // Busy workers and waiting requests over the service's instances, now.
        let (mut busy, mut workers, mut queued) = (0u64, 0u64, 0usize);
        for a in run.world.actors.iter().filter(|a| a.group == g) {
            if let Component::Service(i) = &a.comp {
                busy += u64::from(i.busy());
                workers += u64::from(i.workers());
                queued += i.queue_len();
            }
        }
        let util = busy as f64 / workers.max(1) as f64;
        out.push(Line::from(vec![
            kind("sv "),
            Span::raw(name(&s.name)),
            Span::raw(format!("{:>4}", pct(util))),
            Span::raw(format!(" q{}", compact(queued as u64))),
            Span::styled(format!(" rej {}", compact(s.turned_away())), Style::new().add_modifier(Modifier::DIM)),
        ]));
    }
    for b in &r.balancers {
        let down = recent(&b.timeseries.no_backend);
        let mut line = vec![kind("lb "), Span::raw(name(&b.name))];
        let lb = run.world.actors.iter().find(|a| a.name == b.name).and_then(|a| match &a.comp {
            Component::Balancer(lb) => Some(lb),
            _ => None,
        });
        if let Some(lb) = lb.filter(|_| !b.failover.is_empty()) {
            // Where an active-passive balancer sends traffic right now; yellow once failed over.
            let tier = lb.picker.active_tier();
            let to = match tier {
                Some(t) => b.failover.get(usize::from(t)).map_or("others", String::as_str),
                None => "none",
            };
            // First, so that a narrow pane still shows it.
            let style = if tier == Some(0) { Style::new() } else { Style::new().fg(Color::Yellow) };
            line.push(Span::styled(format!("→ {to} "), style));
        }
        line.push(Span::raw(format!("fwd {}", compact(b.forwarded))));
        line.push(Span::styled(
            format!(" nobk {}", compact(b.no_backend)),
            if down { Style::new().fg(Color::Red) } else { Style::new().add_modifier(Modifier::DIM) },
        ));
        // Outlier detection: backends ejected now, yellow while any is.
        if let Some(ejected) = b.ejected {
            line.push(Span::styled(
                format!(" ej {ejected}"),
                if ejected > 0 { Style::new().fg(Color::Yellow) } else { Style::new().add_modifier(Modifier::DIM) },
            ));
        }
        out.push(Line::from(line));
    }
    for c in &r.caches {
        let mut line =
            vec![kind("ca "), Span::raw(name(&c.name)), Span::raw(format!("hit {:>4} ", pct(recent_hit_ratio(c))))];
        // A cache that propagates deadlines: what it shed, red while it sheds ([`recent`]).
        if let Some(shed) = c.shed {
            let shedding = c.timeseries.shed.as_deref().is_some_and(recent);
            line.push(Span::styled(
                format!("shed {} ", compact(shed)),
                if shedding { Style::new().fg(Color::Red) } else { Style::new().add_modifier(Modifier::DIM) },
            ));
        }
        out.push(with_spark(line, &c.timeseries.hit_ratio, width, Color::Cyan));
    }
    for q in &r.queues {
        let backlog: Vec<f64> = q.timeseries.backlog.iter().map(|&b| b as f64).collect();
        let line = vec![
            kind("qu "),
            Span::raw(name(&q.name)),
            Span::raw(format!("bl {:<5}", compact(q.backlog))),
            // How far behind the consumers are, in time: the oldest unacknowledged message.
            Span::styled(format!("age {:<6}", compact_ms(q.oldest_age_ms)), Style::new().add_modifier(Modifier::DIM)),
        ];
        out.push(with_spark(line, &backlog, width, Color::Yellow));
    }
    for d in &r.databases {
        let leaderless = d.timeseries.leaderless_shards.last().copied().unwrap_or(0);
        // Per-shard load in the latest window with traffic.
        let last = d.timeseries.shard_served.iter().map(Vec::len).max().unwrap_or(0);
        let recent: Vec<f64> = (0..last)
            .rev()
            .map(|w| {
                d.timeseries.shard_served.iter().map(|s| s.get(w).copied().unwrap_or(0) as f64).collect::<Vec<_>>()
            })
            .find(|v| v.iter().any(|&x| x > 0.0))
            .unwrap_or_default();
        out.push(Line::from(vec![
            kind("db "),
            Span::raw(name(&d.name)),
            Span::styled(
                format!("nolead {leaderless} "),
                if leaderless > 0 { Style::new().fg(Color::Red).add_modifier(Modifier::BOLD) } else { Style::new() },
            ),
            Span::styled(spark(&recent, spark_w.saturating_sub(1)), Style::new().fg(Color::Blue)),
        ]));
    }
    out
}

/// Whether a per-window count is above zero in the window under way or the one before: the
/// report is rebuilt about once a window, so the window under way has often only just begun.
fn recent(series: &[u64]) -> bool {
    series.iter().rev().take(2).any(|&n| n > 0)
}

/// `spans` closed by a sparkline of `values` that fills the line to `width` (at least 3 wide).
fn with_spark(mut spans: Vec<Span<'static>>, values: &[f64], width: usize, color: Color) -> Line<'static> {
    let used: usize = spans.iter().map(Span::width).sum();
    spans.push(Span::styled(spark(values, width.saturating_sub(used).max(3)), Style::new().fg(color)));
    Line::from(spans)
}

/// Hit ratio in the latest window with reads (the one in progress may have none yet).
fn recent_hit_ratio(c: &faultline_models::report::CacheReport) -> f64 {
    let t = &c.timeseries;
    (0..t.hits.len()).rev().find(|&w| t.hits[w] + t.misses[w] > 0).map_or(c.hit_ratio, |w| t.hit_ratio[w])
}

/// `line` cut to `width` between its spans, never inside one (a count cut to its first digits
/// reads as a smaller count): the spans that do not fit whole are left out, and `…` says so
/// where there is room for it.
fn clip(line: Line<'static>, width: usize) -> Line<'static> {
    if line.width() <= width {
        return line;
    }
    let mut kept = Vec::new();
    let mut used = 0;
    for span in line.spans {
        if used + span.width() > width {
            break;
        }
        used += span.width();
        kept.push(span);
    }
    if used < width {
        kept.push(Span::raw("…").dim());
    }
    Line::from(kept)
}

fn components(f: &mut Frame, area: Rect, run: &Run) {
    let block = Block::bordered().title(" components ");
    let inner = block.inner(area);
    let width = inner.width as usize;
    let lines: Vec<Line> = component_lines(run, width).into_iter().map(|l| clip(l, width)).collect();
    f.render_widget(Paragraph::new(lines).block(block), area);
}

/// The scenario's expectations so far, then the checkers' anomalies (stale reads, saga
/// anomalies…: final once the run has ended, provisional before), then the episodes of the
/// loss counters rising (latest first).
pub fn anomaly_lines(run: &Run) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for v in &run.verdicts {
        out.push(if run.pending(v) {
            Line::from(vec![Span::raw("· ").dim(), Span::raw(format!("{} (pending)", v.check)).dim()])
        } else if v.passed {
            Line::from(vec![Span::styled("✓ ", Style::new().fg(Color::Green)), Span::raw(v.check.clone())])
        } else {
            let value = v.value.map_or("no value".to_owned(), |x| show_value(&v.check, x));
            Line::from(vec![
                Span::styled("✗ ", Style::new().fg(Color::Red).bold()),
                Span::raw(format!("{}: {value}", v.check)),
            ])
        });
    }
    let found: Vec<(&String, &u64)> = run.report.anomalies.iter().filter(|(_, n)| **n > 0).collect();
    if run.finished() {
        for (kind, n) in found {
            out.push(Line::from(vec![Span::styled(format!("{kind} ={n}"), Style::new().fg(Color::Red).bold())]));
        }
    } else {
        // The saga checker judges business state at the end of a run: before it, every saga
        // still in flight counts as incomplete, and those counts fall again as sagas finish.
        let (sagas, history): (Vec<_>, Vec<_>) = found.into_iter().partition(|(k, _)| is_saga_kind(k));
        for (kind, n) in history {
            out.push(Line::from(vec![
                Span::styled(format!("{kind} ={n}"), Style::new().fg(Color::Yellow)),
                Span::raw(" so far").dim(),
            ]));
        }
        if !sagas.is_empty() {
            out.push(Line::from("sagas judged at the end; now, in flight ones count:").dim());
            for (kind, n) in sagas {
                out.push(Line::from(format!("  {kind} {n}")).dim());
            }
        }
    }
    for a in run.anomalies.iter().rev() {
        let when = if a.first == a.last {
            format!("{:.1}s ", a.first as f64 / 1e9)
        } else {
            format!("{:.1}-{:.1}s ", a.first as f64 / 1e9, a.last as f64 / 1e9)
        };
        out.push(Line::from(vec![
            Span::raw(when).dim(),
            Span::styled(format!("+{} {}", a.added, a.what), Style::new().fg(Color::Red)),
            Span::raw(format!(" ={}", a.total)).dim(),
        ]));
    }
    if out.is_empty() {
        out.push(Line::from(if run.finished() { "none" } else { "none so far" }).dim());
    }
    out
}

/// Whether an anomaly kind is the saga checker's.
pub fn is_saga_kind(kind: &str) -> bool {
    faultline_models::saga_check::KINDS.contains(&kind)
}

fn anomalies(f: &mut Frame, area: Rect, run: &Run) {
    let title = if run.verdicts.is_empty() { " anomalies & losses " } else { " checks, anomalies, losses " };
    let p = Paragraph::new(anomaly_lines(run)).wrap(Wrap { trim: true }).block(Block::bordered().title(title));
    f.render_widget(p, area);
}

pub fn log_pane(f: &mut Frame, area: Rect, log: &[LogLine]) {
    let block = Block::bordered().title(" log (simulated time) ");
    let h = block.inner(area).height as usize;
    let lines: Vec<Line> = log[log.len().saturating_sub(h)..]
        .iter()
        .map(|l| {
            let style = match l.level {
                tracing::Level::ERROR | tracing::Level::WARN => Style::new().fg(Color::Yellow),
                _ => Style::new(),
            };
            let run = if l.run.is_empty() { String::new() } else { format!("{} ", l.run) };
            Line::from(vec![
                Span::raw(format!("{:>9} ", secs(l.t))).dim(),
                Span::styled(format!("{run}{}", l.text), style),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(block), area);
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use faultline_scenarios::{Scenario, Source, catalog};

    use super::*;

    fn text(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    /// A check over 20–40 s has no figure before 20 s: it is pending, not failed (it read
    /// `✗ success_rate >= 0.99 (-)` at the start of the run); once decided it shows its figure.
    #[test]
    fn a_check_whose_span_has_not_begun_is_pending() {
        let source = format!(
            "{}\n[[expect]]\ncheck = \"success_rate >= 0.99\"\nbetween_s = [20, 40]\n",
            catalog::get("cross-region-outage").unwrap().text
        );
        let sc = Scenario::parse(&Source { file: "s.toml".into(), text: source }).unwrap();
        let mut run = Run::new(Rc::new(sc), "retry-once", 1).unwrap();
        run.advance(7_600_000_000, u64::MAX);
        run.refresh(true);
        assert_eq!(text(&anomaly_lines(&run)), ["· success_rate >= 0.99 (pending)"]);
        while !run.finished() {
            run.advance(u64::MAX, 1_000_000);
        }
        run.refresh(true);
        let lines = text(&anomaly_lines(&run));
        let shown = run.verdicts[0].value.map(|x| show_value("success_rate >= 0.99", x)).unwrap();
        assert_eq!(lines[0], format!("✗ success_rate >= 0.99: {shown}"), "{lines:?}");
        assert!(shown.ends_with("%)"), "{shown}");
    }

    /// A cache that propagates deadlines shows what it shed (red while it sheds), its hit-ratio
    /// sparkline narrower so that the line still fits; one that does not shows no `shed`.
    #[test]
    fn a_cache_that_propagates_deadlines_shows_what_it_shed() {
        let plain = catalog::get("cache-stampede").unwrap().text.replace("window_ms = 5000", "window_ms = 1000");
        // Every miss has less than 400 ms left (the catalog calls the cache with 300 ms): shed.
        let propagating = plain
            .replace("capacity = 10000\n", "capacity = 10000\npropagate_deadlines = true\nmin_time_left_ms = 400\n");
        assert_ne!(plain, propagating);
        for (source, sheds) in [(plain, false), (propagating, true)] {
            let sc = Scenario::parse(&Source { file: "s.toml".into(), text: source }).unwrap();
            let mut run = Run::new(Rc::new(sc), "no-coalescing", 1).unwrap();
            run.advance(30_000_000_000, u64::MAX);
            run.refresh(true);
            let lines = component_lines(&run, 50);
            let ca = lines.iter().find(|l| l.spans[0].content == "ca ").unwrap();
            let shown = text(std::slice::from_ref(ca)).remove(0);
            assert_eq!(ca.width(), 50, "{shown}");
            assert_eq!(shown.contains(" shed "), sheds, "{shown}");
            if sheds {
                let shed = ca.spans.iter().find(|s| s.content.starts_with("shed ")).unwrap();
                assert!(run.report.caches[0].shed > Some(0) && shed.style.fg == Some(Color::Red), "{shown}");
            }
        }
    }

    /// A queue shows its oldest message's age beside its backlog, its sparkline narrower so that
    /// the line still fits: seconds while its consumers are down, milliseconds otherwise.
    #[test]
    fn a_queue_shows_how_far_behind_its_consumers_are() {
        let text_of = catalog::get("queue-dead-letters").unwrap().text.to_owned();
        let sc = Scenario::parse(&Source { file: "q.toml".into(), text: text_of }).unwrap();
        let mut run = Run::new(Rc::new(sc), "three-attempts", 1).unwrap();
        for (t, in_ms) in [(35_000_000_000, true), (48_000_000_000, false)] {
            run.advance(t, u64::MAX);
            run.refresh(true);
            let lines = component_lines(&run, 50);
            let qu = lines.iter().find(|l| l.spans[0].content == "qu ").unwrap();
            let shown = text(std::slice::from_ref(qu)).remove(0);
            assert_eq!(qu.width(), 50, "{shown}");
            let age = qu.spans.iter().find(|s| s.content.starts_with("age ")).expect("an age");
            assert_eq!(age.content.trim_end().ends_with("ms"), in_ms, "at {t} ns: {shown}");
        }
    }

    /// A balancer with no backend to send to shows `nobk` in red, also when the report was
    /// rebuilt just after a window began (it read the window under way alone: dim).
    #[test]
    fn a_balancer_without_backends_shows_nobk_in_red() {
        let source = catalog::get("slow-instance")
            .unwrap()
            .text
            .replace("kind = \"slow\"\ntargets = [\"api/2\"]\nfactor = 5\n", "kind = \"node-crash\"\nnode = \"api\"\n");
        assert!(source.contains("node = \"api\""));
        let sc = Scenario::parse(&Source { file: "s.toml".into(), text: source }).unwrap();
        let mut run = Run::new(Rc::new(sc), "round-robin", 1).unwrap();
        // Every api instance down from 20 s; 30 s + 100 ns is just past a window boundary.
        run.advance(30_000_000_100, u64::MAX);
        run.refresh(true);
        let lines = component_lines(&run, 60);
        let lb = lines.iter().find(|l| l.spans[0].content == "lb ").unwrap();
        let nobk = lb.spans.iter().find(|s| s.content.starts_with(" nobk ")).unwrap();
        assert!(run.report.balancers[0].no_backend > 0, "{:?}", text(std::slice::from_ref(lb)));
        assert_eq!(nobk.style.fg, Some(Color::Red), "{:?}", text(std::slice::from_ref(lb)));
    }

    /// A balancer with outlier detection shows how many backends it has ejected, yellow while
    /// any is; one without shows nothing of it.
    #[test]
    fn a_balancer_with_outlier_detection_shows_its_ejected_backends() {
        let text_of = |variant: &str, t: u64| {
            let sc = Scenario::parse(&Source {
                file: "f.toml".into(),
                text: catalog::get("fast-failing-instance").unwrap().text.into(),
            })
            .unwrap();
            let mut run = Run::new(Rc::new(sc), variant, 1).unwrap();
            run.advance(t, u64::MAX);
            run.refresh(true);
            let lines = component_lines(&run, 60);
            let lb = lines.iter().find(|l| l.spans[0].content == "lb ").unwrap().clone();
            lb.spans.iter().find(|s| s.content.starts_with(" ej ")).map(|s| (s.content.to_string(), s.style.fg))
        };
        // api/2 fails from 20 s and is ejected at once; before, nothing is.
        assert_eq!(text_of("outlier-detection", 10_000_000_000), Some((" ej 0".to_owned(), None)));
        assert_eq!(text_of("outlier-detection", 22_000_000_000), Some((" ej 1".to_owned(), Some(Color::Yellow))));
        assert_eq!(text_of("least-outstanding", 22_000_000_000), None);
    }

    /// Lines are cut between spans, with `…` where there is room, never inside a count.
    #[test]
    fn clipped_lines_keep_whole_figures() {
        let line =
            || Line::from(vec![Span::raw("sv api "), Span::raw("100%"), Span::raw(" q3777"), Span::raw(" rej 102k")]);
        let shown = |w| text(&[clip(line(), w)]).remove(0);
        assert_eq!(shown(30), "sv api 100% q3777 rej 102k");
        assert_eq!(shown(25), "sv api 100% q3777…");
        assert_eq!(shown(17), "sv api 100% q3777");
        assert_eq!(shown(16), "sv api 100%…");
    }
}
