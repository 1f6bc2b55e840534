//! Pieces shared by the screens: health colours, number formats, inline sparklines, the charts
//! of a run, its header line.

use faultline_models::RunReport;
use faultline_sim::Nanos;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph};

use crate::app::{App, Goal, secs};
use crate::driver::Run;
use crate::health::Health;

pub fn health_style(h: Health) -> Style {
    match h {
        Health::Up => Style::new().fg(Color::Green),
        Health::Degraded => Style::new().fg(Color::Yellow),
        Health::Partitioned => Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
        Health::Down => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
    }
}

/// `0.4567` → `46%`.
pub fn pct(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

/// A duration in milliseconds in at most five characters: `0ms`, `850ms`, `9.9s`, `42s`, `17m`,
/// `5.0h` (whole units from 10, as [`compact`] does for counts).
pub fn compact_ms(ms: f64) -> String {
    if ms < 999.5 {
        return format!("{ms:.0}ms");
    }
    for (unit, scale, next) in [("s", 1e3, 60.0), ("m", 60e3, 60.0), ("h", 3600e3, f64::INFINITY)] {
        let x = ms / scale;
        if x < 9.95 {
            return format!("{x:.1}{unit}");
        }
        if x < next - 0.5 {
            return format!("{x:.0}{unit}");
        }
    }
    unreachable!("hours have no next unit")
}

/// A count in at most four characters, so that a narrow pane never cuts its digits: exact
/// below 10 000, then to two or three significant digits (`12k`, `102k`, `1.2M`, `35M`).
pub fn compact(n: u64) -> String {
    if n < 10_000 {
        return n.to_string();
    }
    for (unit, scale) in [("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15)] {
        let x = n as f64 / scale;
        // One decimal below 10 (`1.2M`), none from there (`102k`); 999.6k rounds up to `1.0M`.
        let s = if x < 9.95 { format!("{x:.1}") } else { format!("{x:.0}") };
        if s.len() <= 3 {
            return format!("{s}{unit}");
        }
    }
    format!("{:.0}E", n as f64 / 1e18)
}

/// Milliseconds with a precision that fits; `-` for no value (NaN: no request succeeded).
pub fn ms(x: f64) -> String {
    if x.is_nan() {
        "-".to_owned()
    } else if x >= 100.0 {
        format!("{x:.0}ms")
    } else if x >= 10.0 {
        format!("{x:.1}ms")
    } else {
        format!("{x:.2}ms")
    }
}

/// A count per second, short.
pub fn rate(x: f64) -> String {
    if x >= 10_000.0 { format!("{:.0}k", x / 1000.0) } else { format!("{x:.0}") }
}

/// Truncates to `w` characters (with `…`).
pub fn fit(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_owned()
    } else if w == 0 {
        String::new()
    } else {
        let mut t: String = s.chars().take(w - 1).collect();
        t.push('…');
        t
    }
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `w` values as a one-line sparkline scaled to their maximum.
pub fn spark<T: Copy + Into<f64>>(values: &[T], w: usize) -> String {
    let tail = &values[values.len().saturating_sub(w)..];
    let max = tail.iter().map(|&v| v.into()).fold(0.0f64, f64::max);
    tail.iter()
        .map(|&v| {
            let v: f64 = v.into();
            if max <= 0.0 { BARS[0] } else { BARS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize] }
        })
        .collect()
}

/// A load bar of `w` cells.
pub fn bar(load: f64, w: usize) -> String {
    let filled = (load.clamp(0.0, 1.0) * w as f64).round() as usize;
    format!("{}{}", "█".repeat(filled), "·".repeat(w - filled))
}

/// Per-window figures of the whole run, as the charts and headline numbers use them.
pub struct Windows {
    /// `(t_s, per second)` of successful and failed (incl. timed-out) requests.
    pub ok: Vec<(f64, f64)>,
    pub err: Vec<(f64, f64)>,
    /// Per window; NaN where nothing succeeded (a gap in the chart).
    pub p50: Vec<(f64, f64)>,
    pub p99: Vec<(f64, f64)>,
    /// Errors over completions in the latest window with completions.
    pub err_ratio_now: f64,
    pub ok_rate_now: f64,
    /// Latency in that window: `None` before any window has completions, or when none of its
    /// requests succeeded.
    pub p50_now: Option<f64>,
    pub p99_now: Option<f64>,
}

/// The report's windows as of when it was taken (`sim_time_ns`). Not the world's clock: a live
/// run rebuilds its report once per window, and rates taken over the time since then, with the
/// counts of then, read 10–100 times too low.
pub fn windows(r: &RunReport) -> Windows {
    let now: Nanos = r.sim_time_ns;
    let ts = &r.timeseries;
    let window_s = ts.window_ms / 1000.0;
    let now_s = now as f64 / 1e9;
    let mut w = Windows {
        ok: Vec::new(),
        err: Vec::new(),
        p50: Vec::new(),
        p99: Vec::new(),
        err_ratio_now: 0.0,
        ok_rate_now: 0.0,
        p50_now: None,
        p99_now: None,
    };
    for i in 0..ts.t_s.len() {
        let t = ts.t_s[i];
        // The window in progress has only run for part of its length; until it has run for
        // half of it, its rates are too noisy to plot (a sliver with one answer in it would
        // spike, one with none would drop to zero), so it waits.
        let span = (now_s - t).clamp(0.0, window_s);
        if span < window_s / 2.0 {
            continue;
        }
        let failed = (ts.failed[i] + ts.timed_out[i]) as f64;
        let ok = ts.ok[i] as f64;
        let mid = t + span / 2.0;
        w.ok.push((mid, ok / span));
        w.err.push((mid, failed / span));
        let (p50, p99) = (ts.p50_ms[i], ts.p99_ms[i]);
        w.p50.push((mid, p50.unwrap_or(f64::NAN)));
        w.p99.push((mid, p99.unwrap_or(f64::NAN)));
        if ok + failed > 0.0 {
            w.err_ratio_now = failed / (ok + failed);
            w.ok_rate_now = ok / span;
            (w.p50_now, w.p99_now) = (p50, p99);
        }
    }
    w
}

fn top(points: &[(f64, f64)]) -> f64 {
    points.iter().map(|p| p.1).fold(0.0, f64::max)
}

/// The runs of points with a value (not NaN): each is drawn as a line of its own, so that a
/// window without a value is a gap.
pub fn segments(points: &[(f64, f64)]) -> Vec<&[(f64, f64)]> {
    points.split(|p| p.1.is_nan()).filter(|run| !run.is_empty()).collect()
}

/// A named line of `(t_s, value)` points in a colour.
type Series<'a> = (&'a str, &'a [(f64, f64)], Color);

/// A chart of two series over simulated time; axis labels only where there is room.
fn chart(
    f: &mut Frame,
    area: Rect,
    title: Line<'_>,
    series: [Series<'_>; 2],
    x_max: f64,
    y_fmt: impl Fn(f64) -> String,
) {
    let y_max = series.iter().map(|s| top(s.1)).fold(0.0, f64::max).max(1e-9) * 1.1;
    // A line through each run of windows with a value; a window without one (NaN) is a gap,
    // and a value alone between gaps a dot.
    let datasets = series
        .iter()
        .flat_map(|(name, data, color)| {
            segments(data).into_iter().map(move |run| {
                Dataset::default()
                    .name(*name)
                    .marker(Marker::Braille)
                    .graph_type(if run.len() == 1 { GraphType::Scatter } else { GraphType::Line })
                    .style(Style::new().fg(*color))
                    .data(run)
            })
        })
        .collect();
    let roomy = area.height >= 10 && area.width >= 40;
    let (mut x, mut y) = (Axis::default().bounds([0.0, x_max]), Axis::default().bounds([0.0, y_max]));
    if roomy {
        x = x.labels(vec![Span::raw("0s"), Span::raw(format!("{x_max:.0}s"))]).style(Style::new().dim());
        y = y.labels(vec![Span::raw("0"), Span::raw(y_fmt(y_max / 1.1))]).style(Style::new().dim());
    }
    let c = Chart::new(datasets).block(Block::bordered().title(title)).x_axis(x).y_axis(y).legend_position(None);
    f.render_widget(c, area);
}

/// Throughput and errors per second over simulated time.
pub fn throughput_chart(f: &mut Frame, area: Rect, run: &Run, w: &Windows) {
    let x_max = x_extent(run);
    let title = Line::from(vec![
        Span::raw(" throughput "),
        Span::styled(format!("ok {}/s ", rate(w.ok_rate_now)), Style::new().fg(Color::Green)),
        Span::styled(
            format!("err {:.1}% ", 100.0 * w.err_ratio_now),
            if w.err_ratio_now > 0.01 { Style::new().fg(Color::Red).bold() } else { Style::new().fg(Color::Red) },
        ),
    ]);
    chart(f, area, title, [("ok/s", &w.ok, Color::Green), ("err/s", &w.err, Color::Red)], x_max, rate);
}

/// p50 and p99 latency of successful requests per window.
pub fn latency_chart(f: &mut Frame, area: Rect, run: &Run, w: &Windows) {
    let x_max = x_extent(run);
    let title = Line::from(vec![
        Span::raw(" latency "),
        Span::styled(format!("p50 {} ", ms(w.p50_now.unwrap_or(f64::NAN))), Style::new().fg(Color::Cyan)),
        Span::styled(format!("p99 {} ", ms(w.p99_now.unwrap_or(f64::NAN))), Style::new().fg(Color::Magenta)),
    ]);
    chart(f, area, title, [("p50", &w.p50, Color::Cyan), ("p99", &w.p99, Color::Magenta)], x_max, ms);
}

/// The x range of charts: the scenario's duration, or further once the run drains past it.
pub fn x_extent(run: &Run) -> f64 {
    (run.world.spec.duration.max(run.world.now()) as f64 / 1e9).max(1e-3)
}

/// What the runs are doing, in a word or two.
pub fn state(app: &App) -> Span<'static> {
    if app.runs.iter().any(|r| r.stopped.is_some()) {
        return Span::styled("■ stopped", Style::new().fg(Color::Red).bold());
    }
    if app.finished() {
        return Span::styled("■ ended", Style::new().bold());
    }
    match app.goal {
        Some(Goal::End) => return Span::styled("⏩ to end", Style::new().fg(Color::Yellow).bold()),
        Some(Goal::Until(t)) => return Span::styled(format!("⏩ to {}", secs(t)), Style::new().fg(Color::Yellow)),
        None => {}
    }
    if app.paused {
        Span::styled("⏸ paused", Style::new().fg(Color::Yellow).bold())
    } else {
        Span::styled(format!("▶ {}", app.speed.label()), Style::new().fg(Color::Green).bold())
    }
}

/// The top line of a run screen. In a narrow terminal, parts give way so that the state
/// stays: first the variants when comparing (each column names its own), then the duration,
/// then the badge; the event count shows only when there is room.
pub fn header(app: &App, f: &mut Frame, area: Rect) {
    let Some(first) = app.runs.first() else { return };
    let variants: Vec<&str> = app.runs.iter().map(|r| r.variant.as_str()).collect();
    let end = first.world.spec.duration;
    let width = area.width as usize;
    let line = |variants_shown: bool, duration: bool, badge: bool| {
        let mut spans = Vec::new();
        if badge {
            spans.push(Span::styled(" faultline ", Style::new().reversed().bold()));
        }
        spans.push(Span::raw(" "));
        spans.push(Span::styled(first.scenario.name.clone(), Style::new().bold()));
        if variants_shown {
            spans.push(Span::raw(format!(" [{}]", variants.join(" vs "))));
        }
        spans.push(Span::raw(format!(" seed {}  ", app.seed)));
        let total = if duration { format!(" / {}s", end / 1_000_000_000) } else { String::new() };
        spans.push(Span::raw(format!("t={}{total}  ", secs(app.now()))));
        spans.push(state(app));
        spans
    };
    let comparing = app.runs.len() > 1;
    let fits = |spans: &Vec<Span>| spans.iter().map(|s| s.width()).sum::<usize>() <= width;
    let mut spans =
        [(true, true, true), (!comparing, true, true), (!comparing, false, true), (!comparing, false, false)]
            .into_iter()
            .map(|(v, d, b)| line(v, d, b))
            .find(fits)
            .unwrap_or_else(|| line(!comparing, false, false));
    let events: u64 = app.runs.iter().map(|r| r.world.events()).sum();
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let ev = format!("  {events} event{}", if events == 1 { "" } else { "s" });
    if used + ev.len() <= width {
        spans.push(Span::raw(ev).dim());
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_durations_fit_five_characters_and_keep_their_unit() {
        let cases =
            [(0.0, "0ms"), (0.4, "0ms"), (850.2, "850ms"), (999.6, "1.0s"), (9_929.5, "9.9s"), (42_000.0, "42s")];
        let more = [(59_600.0, "1.0m"), (1_020_000.0, "17m"), (3_570_000.0, "1.0h"), (18e6, "5.0h"), (9e8, "250h")];
        for (ms, shown) in cases.into_iter().chain(more) {
            assert_eq!(compact_ms(ms), shown, "{ms} ms");
            assert!(shown.len() <= 5 || ms >= 3.6e8, "{shown}");
        }
    }

    #[test]
    fn compact_counts_fit_four_characters_and_keep_their_magnitude() {
        let cases = [
            (0, "0"),
            (9_999, "9999"),
            (10_000, "10k"),
            (12_345, "12k"),
            (101_915, "102k"),
            (999_499, "999k"),
            (999_600, "1.0M"),
            (1_234_567, "1.2M"),
            (9_960_000, "10M"),
            (35_400_000, "35M"),
            (4_100_000_000, "4.1G"),
            (u64::MAX, "18E"),
        ];
        for (n, text) in cases {
            assert_eq!(compact(n), text, "{n}");
            assert!(compact(n).len() <= 4, "{n}");
        }
    }

    /// A live report taken just after a window boundary, at 8.001 s: the window that has just
    /// begun holds one answer. Rates come from the report's own time, so that sliver is left
    /// out and the latest rate is the full window before it (400/s). Taken over the world's
    /// clock 0.6 s later with the counts of 8.001 s, it read 1/0.6 ≈ 2/s.
    #[test]
    fn rates_are_taken_at_the_reports_time_not_the_worlds() {
        let spec = faultline_models::WorldSpec::empty(faultline_sim::Topology::default(), 1, 1);
        let w = faultline_models::World::new(&spec, 1, faultline_sim::Budget::default());
        let mut r = RunReport::build(&w, "x", "y");
        let ts = &mut r.timeseries;
        ts.window_ms = 1000.0;
        ts.t_s = (0..9).map(f64::from).collect();
        ts.ok = vec![400, 400, 400, 400, 400, 400, 400, 400, 1];
        (ts.failed, ts.timed_out) = (vec![0; 9], vec![0; 9]);
        (ts.p50_ms, ts.p99_ms) = (vec![Some(5.0); 9], vec![Some(9.0); 9]);
        r.sim_time_ns = 8_001_000_000;
        let w = windows(&r);
        assert_eq!((w.ok.len(), w.ok_rate_now), (8, 400.0));
    }

    /// Latency has a value only in windows where something succeeded. The title kept the last
    /// window with successes (`p50 415ms` beside `ok 0/s`), read `p50 0.00ms` at t=0, and the
    /// chart drew a line across windows without a value.
    #[test]
    fn windows_without_successes_have_no_latency() {
        let spec = faultline_models::WorldSpec::empty(faultline_sim::Topology::default(), 1, 1);
        let w = faultline_models::World::new(&spec, 1, faultline_sim::Budget::default());
        let mut r = RunReport::build(&w, "x", "y");
        assert_eq!((windows(&r).p50_now, windows(&r).p99_now), (None, None), "t=0");
        let ts = &mut r.timeseries;
        ts.window_ms = 1000.0;
        ts.t_s = (0..6).map(f64::from).collect();
        ts.ok = vec![400, 400, 0, 400, 400, 0];
        ts.failed = vec![0, 0, 300, 0, 0, 300];
        ts.timed_out = vec![0; 6];
        let lat = |x: f64| vec![Some(x), Some(x), None, Some(x), Some(x), None];
        (ts.p50_ms, ts.p99_ms) = (lat(5.0), lat(9.0));
        r.sim_time_ns = 6_000_000_000;
        let w = windows(&r);
        assert_eq!((w.ok_rate_now, w.err_ratio_now), (0.0, 1.0));
        assert_eq!((w.p50_now, w.p99_now), (None, None), "nothing succeeded in the latest window");
        assert_eq!(w.p50.len(), 6);
        let runs: Vec<usize> = segments(&w.p50).iter().map(|s| s.len()).collect();
        assert_eq!(runs, [2, 2], "a gap where nothing succeeded");
        r.sim_time_ns = 5_000_000_000;
        assert_eq!(windows(&r).p50_now, Some(5.0));
    }
}
