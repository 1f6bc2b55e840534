//! `sweep --report DIR` / `faultline report FILE.jsonl --out DIR`: one self-contained HTML page
//! with SVG charts (plotters) and the CSV behind each chart. No scripts, no external assets:
//! the page opens from disk in any browser and can be mailed as one file (its CSV links are
//! files beside it).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use faultline_models::metrics::LatencyHist;
use faultline_scenarios::count;
use faultline_scenarios::sweep::{FaultSpan, SeedRecord, SweepReport};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const W: u32 = 880;
const H: u32 = 380;

/// One chart: its SVG and the CSV of the data drawn.
struct Chart {
    id: &'static str,
    title: String,
    svg: String,
    csv: String,
}

/// How series `i` is drawn: one of seven colours, then, once they have all been used, dashed
/// and dotted lines (outlined and pale bars and markers), so 21 variants look different.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Style {
    color: RGBColor,
    pattern: usize,
}

fn style(i: usize) -> Style {
    // Colour-blind friendly (Okabe–Ito, without its yellow, too faint on white).
    const C: [RGBColor; 7] = [
        RGBColor(0, 114, 178),
        RGBColor(213, 94, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(230, 159, 0),
        RGBColor(86, 180, 233),
        RGBColor(0, 0, 0),
    ];
    Style { color: C[i % C.len()], pattern: (i / C.len()) % 3 }
}

impl Style {
    /// (dash, gap) in pixels: solid is one dash longer than any chart.
    fn dashes(self) -> (u32, u32) {
        match self.pattern {
            0 => (1 << 20, 1),
            1 => (10, 5),
            _ => (2, 4),
        }
    }

    fn line<I: IntoIterator<Item = (f64, f64)>>(self, pts: I) -> DashedLineSeries<I::IntoIter, u32>
    where
        I::IntoIter: Clone,
    {
        let (dash, gap) = self.dashes();
        DashedLineSeries::new(pts, dash, gap, self.color.stroke_width(2))
    }

    fn legend_line(self, (x, y): (i32, i32)) -> DashedPathElement<std::vec::IntoIter<(i32, i32)>, u32> {
        let (dash, gap) = self.dashes();
        DashedPathElement::new(vec![(x, y), (x + 20, y)], dash.min(20), gap, self.color.stroke_width(2))
    }

    /// Bars and markers: filled, outlined, pale.
    fn fill(self) -> ShapeStyle {
        match self.pattern {
            0 => self.color.filled(),
            1 => self.color.stroke_width(2),
            _ => self.color.mix(0.35).filled(),
        }
    }
}

fn draw_err<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing a chart: {e:?}")
}

/// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break.
fn field(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) { Cow::Owned(format!("\"{}\"", s.replace('"', "\"\""))) } else { s.into() }
}

/// A number for people: at most three decimals, no trailing zeros (`20`, `45.5`).
fn num(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A chart with nothing to draw: its title and why, instead of axes over an empty range.
fn no_data(title: &str, why: &str) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let body = root.titled(title, ("sans-serif", 18)).map_err(draw_err)?;
        note_in(&body, &format!("no data: {why}"))?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// A line of text in the middle of `area`.
fn note_in<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>, text: &str) -> Result<(), String> {
    let (w, h) = area.dim_in_pixel();
    let style = ("sans-serif", 16).into_font().color(&BLACK.mix(0.6)).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new(text.to_owned(), (w as i32 / 2, h as i32 / 2), style)).map_err(draw_err)
}

/// Records per variant, in the report's variant order, each variant's in seed order: figures
/// are summed in that order, so records read from shards in any order give the same bytes.
fn by_variant<'r>(report: &SweepReport, records: &'r [SeedRecord]) -> Vec<(String, Vec<&'r SeedRecord>)> {
    // The sweep's own grouping (by variant, then seed), so the page counts what the tables do.
    let (by, _) = faultline_scenarios::sweep::by_variant(records);
    let runs = |v: &str| by.get(v).map_or_else(Vec::new, |seeds| seeds.values().copied().collect());
    report.variants.iter().map(|v| (v.variant.clone(), runs(&v.variant))).collect()
}

fn latency_cdf(groups: &[(String, Vec<&SeedRecord>)]) -> Result<Chart, String> {
    const TITLE: &str = "Latency CDF of successful requests (all seeds pooled)";
    let mut csv = String::from("variant,latency_ms,fraction_at_or_below\n");
    let mut curves = Vec::new();
    // A latency of 0 ns cannot sit on a log axis: it is drawn at 1 ns.
    let floor_ms = 1e-6;
    let (mut lo, mut hi) = (f64::INFINITY, 0f64);
    for (v, rs) in groups {
        let mut h = LatencyHist::default();
        for r in rs {
            h.merge(&LatencyHist::from_buckets(&r.latency_buckets));
        }
        let total = h.count().max(1) as f64;
        let mut seen = 0u64;
        let mut pts = Vec::new();
        for (value_ns, n) in h.buckets() {
            seen += n;
            let (x, y) = (value_ns as f64 / 1e6, seen as f64 / total);
            pts.push((x.max(floor_ms), y));
            lo = lo.min(x.max(floor_ms));
            hi = hi.max(x);
            let _ = writeln!(csv, "{},{x},{y}", field(v));
        }
        // A variant without a successful request: one row with empty cells, so the file says so
        // rather than leaving the variant out.
        if pts.is_empty() {
            let _ = writeln!(csv, "{},,", field(v));
        }
        curves.push((v.clone(), pts));
    }
    if curves.iter().all(|(_, pts)| pts.is_empty()) {
        let svg = no_data(TITLE, "no variant has a successful request")?;
        return Ok(Chart { id: "latency-cdf", title: "Latency CDF".into(), svg, csv });
    }
    // From the fastest to the slowest request drawn, a fifth of a decade either side, and down
    // to a power of ten: plotters puts log ticks only from the first power of ten in range, so
    // an axis starting at 106 ms had no label below 1000 ms.
    let (lo, hi) = (10f64.powf((lo / 1.6).log10().floor()), hi.max(lo) * 1.6);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(TITLE, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..1.0)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_label_formatter(&log_tick)
            .x_desc("latency (ms, log scale)")
            .y_desc("fraction of requests ≤ latency")
            .draw()
            .map_err(draw_err)?;
        for (i, (v, pts)) in curves.iter().enumerate() {
            let s = style(i);
            let label = if pts.is_empty() { format!("{v} (no successful request)") } else { v.clone() };
            chart.draw_series(s.line(pts.clone())).map_err(draw_err)?.label(label).legend(move |c| s.legend_line(c));
        }
        // Bottom right: where every curve has reached the top.
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(Chart { id: "latency-cdf", title: "Latency CDF".into(), svg, csv })
}

/// A log axis's labels: 1, 2 and 5 times a power of ten, without needless decimals (the ticks
/// in between crowd each other at the top of a decade).
fn log_tick(x: &f64) -> String {
    let p = (x.log10() + 1e-9).floor();
    let m = x / 10f64.powf(p);
    if [1.0, 2.0, 5.0].iter().any(|k| (m - k).abs() < 1e-6) {
        let decimals = (-p).max(0.0) as usize;
        format!("{x:.decimals$}")
    } else {
        String::new()
    }
}

/// Mean over seeds of a per-window figure, over the seeds that have it; `None` where none has
/// (e.g. no successful request in the window has no p99: drawn as a gap, not as 0 ms).
fn mean_series(rs: &[&SeedRecord], f: impl Fn(&SeedRecord, usize) -> Option<f64>) -> Vec<Option<f64>> {
    let n = rs.iter().map(|r| r.ok_per_window.len()).max().unwrap_or(0);
    (0..n)
        .map(|w| {
            let xs: Vec<f64> = rs.iter().filter_map(|r| f(r, w)).collect();
            (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
        })
        .collect()
}

/// A fault's span as the over-time charts shade it, with its label: the fault's name, and the
/// variants that had it unless every run did.
struct Shade {
    span: FaultSpan,
    label: String,
}

/// Every distinct fault span of the runs, in order of first appearance.
fn shades(groups: &[(String, Vec<&SeedRecord>)]) -> Vec<Shade> {
    let mut spans: Vec<(&FaultSpan, Vec<(&str, usize)>)> = Vec::new();
    for (v, rs) in groups {
        for r in rs {
            for f in &r.faults {
                let at = match spans.iter().position(|(s, _)| *s == f) {
                    Some(at) => at,
                    None => {
                        spans.push((f, Vec::new()));
                        spans.len() - 1
                    }
                };
                let had = &mut spans[at].1;
                match had.last_mut() {
                    Some((last, n)) if *last == v.as_str() => *n += 1,
                    _ => had.push((v, 1)),
                }
            }
        }
    }
    let runs = |v: &str| groups.iter().find(|(g, _)| g == v).map_or(0, |(_, rs)| rs.len());
    let all: usize = groups.iter().map(|(_, rs)| rs.len()).sum();
    spans
        .into_iter()
        .map(|(span, had)| {
            let label = if had.iter().map(|(_, n)| n).sum::<usize>() == all {
                format!("fault: {}", span.name)
            } else {
                let who: Vec<String> = had
                    .iter()
                    .map(|&(v, n)| if n == runs(v) { v.to_owned() } else { format!("some seeds of {v}") })
                    .collect();
                format!("fault: {} ({})", span.name, who.join(", "))
            };
            Shade { span: span.clone(), label }
        })
        .collect()
}

/// What an over-time chart draws, and how its CSV names its value.
struct OverTime<'a> {
    id: &'static str,
    title: &'a str,
    y_desc: &'a str,
    column: &'a str,
    /// Why a chart without any value has none.
    empty: &'a str,
}

/// Pixels per character of a 12-pixel sans-serif label, about (a wide one; labels are cut to fit).
const LEGEND_CHAR: u32 = 7;

/// The width of a legend beside a chart: its longest label's, within bounds.
fn legend_width(labels: &[String]) -> u32 {
    let longest = labels.iter().map(|l| l.chars().count() as u32).max().unwrap_or(0);
    (longest * LEGEND_CHAR + 50).clamp(110, 280)
}

/// Series `i`'s legend entry (its line and label) for each label, in a box at the top of `area`;
/// a label too long for the box is cut, with "…".
fn legend_beside<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    labels: &[String],
) -> Result<(), String> {
    let (w, h) = area.dim_in_pixel();
    let n = labels.len().max(1) as i32;
    let row = ((h as i32 - 60) / n).clamp(8, 18);
    let (left, top) = (4, 40);
    let fits = ((w as i32 - left - 46) / LEGEND_CHAR as i32).max(4) as usize;
    let bottom = top + row * n + 8;
    area.draw(&Rectangle::new([(left, top), (w as i32 - 6, bottom)], WHITE.filled())).map_err(draw_err)?;
    area.draw(&Rectangle::new([(left, top), (w as i32 - 6, bottom)], BLACK.stroke_width(1))).map_err(draw_err)?;
    let font = ("sans-serif", 12).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, label) in labels.iter().enumerate() {
        let y = top + 4 + row * i as i32 + row / 2;
        area.draw(&style(i).legend_line((left + 8, y))).map_err(draw_err)?;
        let text = if label.chars().count() > fits {
            format!("{}…", label.chars().take(fits - 1).collect::<String>())
        } else {
            label.clone()
        };
        area.draw(&Text::new(text, (left + 34, y), font.clone())).map_err(draw_err)?;
    }
    Ok(())
}

/// A variant's windows: their length, and the run's end (where records carry it), which ends
/// the last one.
#[derive(Clone, Copy)]
struct Windows {
    window_ms: f64,
    end_ms: Option<f64>,
}

fn over_time(
    groups: &[(String, Vec<&SeedRecord>)],
    shades: &[Shade],
    what: OverTime,
    f: impl Fn(&SeedRecord, usize) -> Option<f64>,
) -> Result<Chart, String> {
    // Each variant on its own windows: a variant may set its own `window_ms`.
    // And its run's end, where records carry it: the end of its last, partial, window.
    let series: Vec<(String, Windows, Vec<Option<f64>>)> = groups
        .iter()
        .map(|(v, rs)| {
            let window_ms = rs.iter().map(|r| r.window_ms).find(|&w| w > 0.0).unwrap_or(1000.0);
            let end_ms = rs.iter().find_map(|r| r.end_ms);
            (v.clone(), Windows { window_ms, end_ms }, mean_series(rs, &f))
        })
        .collect();
    // An empty cell where no seed has the figure.
    let mut csv = format!("variant,window_start_s,{}\n", what.column);
    for (v, Windows { window_ms, .. }, s) in &series {
        for (i, y) in s.iter().enumerate() {
            let y = y.map_or(String::new(), |y| y.to_string());
            let _ = writeln!(csv, "{},{},{y}", field(v), i as f64 * window_ms / 1000.0);
        }
    }
    if series.iter().all(|(_, _, s)| s.iter().all(Option::is_none)) {
        return Ok(Chart { id: what.id, title: what.title.to_owned(), svg: no_data(what.title, what.empty)?, csv });
    }
    // Windows are drawn at their middle; the last one ended with the run, so at the middle of
    // what it covered — at its start where records do not say when the run ended (written by
    // earlier builds). The axis ends with the run (or where the last window starts).
    let point = |w: usize, n: usize, Windows { window_ms, end_ms }: Windows| {
        let start = w as f64 * window_ms;
        let end = if w + 1 == n { end_ms.filter(|&e| e > start).unwrap_or(start) } else { start + window_ms };
        (start + end) / 2000.0
    };
    let end = |n: usize, Windows { window_ms, end_ms }: Windows| {
        end_ms.filter(|&e| e > 0.0).unwrap_or((n - 1) as f64 * window_ms) / 1000.0
    };
    let x_max = series.iter().filter(|(_, _, s)| !s.is_empty()).map(|(_, w, s)| end(s.len(), *w)).fold(0.0, f64::max);
    let x_max =
        if x_max > 0.0 { x_max } else { series.iter().map(|(_, w, _)| w.window_ms / 1000.0).fold(0.0, f64::max) };
    let y_max = series.iter().flat_map(|(_, _, s)| s.iter().flatten().copied()).fold(0.0, f64::max).max(1e-9) * 1.1;
    let labels: Vec<String> = series
        .iter()
        .map(|(v, _, s)| if s.iter().all(Option::is_none) { format!("{v} (no data)") } else { v.clone() })
        .collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        // The legend beside the plot, not over it: lines run across the whole time axis, so no
        // corner of it is free of data (a legend inside hid a variant's line).
        let (plot, side) = root.split_horizontally(W - legend_width(&labels));
        let mut chart = ChartBuilder::on(&plot)
            .caption(what.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(draw_err)?;
        chart.configure_mesh().x_desc("simulated time (s)").y_desc(what.y_desc).draw().map_err(draw_err)?;
        let shade = RGBColor(200, 30, 30).mix(0.12);
        for (k, sh) in shades.iter().enumerate() {
            let fs = &sh.span;
            let a = fs.start_ms / 1000.0;
            let b = fs.end_ms.map_or(x_max, |e| e / 1000.0).max(a + x_max / 400.0);
            chart
                .draw_series(std::iter::once(Rectangle::new([(a, 0.0), (b, y_max)], shade.filled())))
                .map_err(draw_err)?;
            // Labels of overlapping spans one under the other.
            let y = y_max * (0.97 - 0.06 * (k % 4) as f64);
            chart
                .draw_series(std::iter::once(Text::new(sh.label.clone(), (a, y), ("sans-serif", 12))))
                .map_err(draw_err)?;
        }
        for (i, (_, window, s)) in series.iter().enumerate() {
            let st = style(i);
            // One line per run of windows that have the figure: gaps stay gaps.
            let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
            for (w, y) in s.iter().enumerate() {
                match y {
                    Some(y) => runs.last_mut().expect("non-empty").push((point(w, s.len(), *window), *y)),
                    None if !runs.last().expect("non-empty").is_empty() => runs.push(Vec::new()),
                    None => {}
                }
            }
            for run in runs {
                chart.draw_series(st.line(run)).map_err(draw_err)?;
            }
        }
        legend_beside(&side, &labels)?;
        root.present().map_err(draw_err)?;
    }
    Ok(Chart { id: what.id, title: what.title.to_owned(), svg, csv })
}

fn anomalies(report: &SweepReport) -> Result<Chart, String> {
    const TITLE: &str = "Consistency and business anomalies per variant (all seeds)";
    let kinds: Vec<String> = report
        .variants
        .iter()
        .flat_map(|v| v.anomalies.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut csv = String::from("variant,kind,count\n");
    let mut counts: BTreeMap<(usize, usize), u64> = BTreeMap::new();
    for (vi, v) in report.variants.iter().enumerate() {
        for (ki, k) in kinds.iter().enumerate() {
            let n = v.anomalies.get(k).copied().unwrap_or(0);
            counts.insert((ki, vi), n);
            let _ = writeln!(csv, "{},{},{n}", field(&v.variant), field(k));
        }
    }
    if kinds.is_empty() {
        let svg = no_data(TITLE, "no anomaly checks in this scenario")?;
        return Ok(Chart { id: "anomalies", title: "Anomalies".into(), svg, csv });
    }
    let nv = report.variants.len().max(1);
    let groups = kinds.len();
    let bar = 0.8 / nv as f64;
    // Log scale: 100 anomalies stay visible beside 80 000. Bars rise from half an anomaly;
    // above the tallest, a fifth of the height for its count.
    let base = 0.5f64;
    let top_count = counts.values().copied().max().unwrap_or(0).max(1) as f64;
    let y_max = ((top_count.ln() - 0.2 * base.ln()) / 0.8).exp();
    // Counts are written across narrow bars, up them otherwise.
    let bar_px = (W - 84) as f64 / groups as f64 * bar;
    let widest = counts.values().map(|n| n.to_string().len()).max().unwrap_or(1);
    let upright = bar_px < widest as f64 * 7.0 + 2.0;
    // Kind names wider than their group (`charge_without_order` beside `double_charge`) ran
    // into each other: they are turned upright, under a taller chart.
    let longest = kinds.iter().map(|k| k.chars().count()).max().unwrap_or(0) as f64 * 6.0;
    let turned = longest > (W - 84) as f64 / groups as f64 - 4.0;
    let label_area = if turned { longest as u32 + 36 } else { 44 };
    // Drawn by hand: the mesh centres its labels on the tick whatever the style says, which
    // puts half of an upright label inside the plot.
    let turned_style = TextStyle::from(("sans-serif", 12).into_font().transform(FontTransform::Rotate270))
        .pos(Pos::new(HPos::Right, VPos::Center));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H + label_area - 44)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(TITLE, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(label_area)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..groups as f64 - 0.5, (base..y_max).log_scale())
            .map_err(draw_err)?;
        let names = kinds.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(groups)
            .x_label_formatter(&|x| {
                let name = names.get(x.round() as usize).filter(|_| (x - x.round()).abs() < 1e-9);
                name.filter(|_| !turned).cloned().unwrap_or_default()
            })
            // Counts are whole: ticks below one anomaly have no label.
            .y_label_formatter(&|y| if *y >= 1.0 { format!("{}", y.round() as u64) } else { String::new() })
            .x_desc("anomaly kind")
            .y_desc("count (anomalies, all seeds), log scale")
            .draw()
            .map_err(draw_err)?;
        if turned {
            for (ki, kind) in kinds.iter().enumerate() {
                let (x, y) = chart.backend_coord(&(ki as f64, base));
                root.draw(&Text::new(kind.clone(), (x, y + 8), turned_style.clone())).map_err(draw_err)?;
            }
        }
        let text = if upright {
            TextStyle::from(("sans-serif", 11).into_font().transform(FontTransform::Rotate270))
                .pos(Pos::new(HPos::Left, VPos::Center))
        } else {
            TextStyle::from(("sans-serif", 11).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom))
        };
        for (vi, v) in report.variants.iter().enumerate() {
            let s = style(vi);
            let x0 = |ki: usize| ki as f64 - 0.4 + vi as f64 * bar;
            let bars = (0..kinds.len())
                .filter(|ki| counts[&(*ki, vi)] > 0)
                .map(|ki| Rectangle::new([(x0(ki), base), (x0(ki) + bar * 0.9, counts[&(ki, vi)] as f64)], s.fill()));
            chart
                .draw_series(bars)
                .map_err(draw_err)?
                .label(v.variant.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], s.fill()));
            let labels = (0..kinds.len()).map(|ki| {
                let n = counts[&(ki, vi)];
                Text::new(n.to_string(), (x0(ki) + bar * 0.45, (n as f64).max(base) * 1.08), text.clone())
            });
            chart.draw_series(labels).map_err(draw_err)?;
        }
        chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw().map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(Chart { id: "anomalies", title: "Anomalies".into(), svg, csv })
}

fn paired(report: &SweepReport) -> Result<Chart, String> {
    // Two panels: success rate (percentage points) and p99 latency (ms).
    let figures = [
        ("success_rate", "success_rate_pp", "success rate (percentage points)", 100.0),
        ("latency_p99_ms", "latency_p99_ms", "p99 latency (ms)", 1.0),
    ];
    let mut csv = String::from("variant,baseline,figure,seeds,mean_difference,ci95_half_width\n");
    for p in &report.paired {
        for (f, name, _, k) in figures {
            if let Some(e) = p.differences.get(f) {
                // Empty where there is no value (n = 0) or no interval (one seed), not NaN or inf.
                let num = |x: f64| if x.is_finite() { (x * k).to_string() } else { String::new() };
                let _ = writeln!(
                    csv,
                    "{},{},{name},{},{},{}",
                    field(&p.variant),
                    field(&p.baseline),
                    p.seeds,
                    num(e.mean),
                    num(e.ci95)
                );
            }
        }
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let single = report.paired.first().is_some_and(|p| p.seeds < 2);
        let title = match report.paired.first() {
            Some(p) if single => format!("Paired differences: variant − {} on one seed (no interval)", p.baseline),
            Some(p) => format!("Paired differences: variant − {} on the same seeds (mean, 95% CI)", p.baseline),
            None => "Paired differences (one variant only: nothing to compare)".to_owned(),
        };
        let (top, body) = root.split_vertically(30);
        top.titled(&title, ("sans-serif", 18)).map_err(draw_err)?;
        if report.paired.is_empty() {
            note_in(&body, "no data: one variant only")?;
        }
        let panels = if report.paired.is_empty() { Vec::new() } else { body.split_evenly((1, 2)) };
        let n = report.paired.len().max(1);
        for (panel, (f, _, desc, k)) in panels.iter().zip(figures) {
            let pts: Vec<(usize, f64, f64)> = report
                .paired
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    // No point without a value; no whiskers without an interval (one seed).
                    let e = p.differences.get(f).filter(|e| e.n > 0)?;
                    Some((i, e.mean * k, if e.ci95.is_finite() { e.ci95 * k } else { 0.0 }))
                })
                .collect();
            if pts.is_empty() {
                note_in(panel, "no data: no seed where both have a value")?;
                continue;
            }
            let span = pts.iter().map(|&(_, m, c)| m.abs() + c).fold(0.0, f64::max).max(1e-6) * 1.2;
            let names: Vec<String> = report.paired.iter().map(|p| p.variant.clone()).collect();
            let mut chart = ChartBuilder::on(panel)
                .margin(12)
                .x_label_area_size(44)
                .y_label_area_size(64)
                .build_cartesian_2d(-0.5f64..n as f64 - 0.5, -span..span)
                .map_err(draw_err)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(n)
                .x_label_formatter(&|x| {
                    names.get(x.round() as usize).filter(|_| (x - x.round()).abs() < 1e-9).cloned().unwrap_or_default()
                })
                .x_desc("variant")
                .y_desc(format!("difference in {desc}"))
                .draw()
                .map_err(draw_err)?;
            chart
                .draw_series(LineSeries::new([(-0.5, 0.0), (n as f64 - 0.5, 0.0)], BLACK.mix(0.4)))
                .map_err(draw_err)?;
            for &(i, m, c) in &pts {
                let x = i as f64;
                // The variant's own style: the baseline is variant 0.
                let s = style(i + 1);
                let col = s.color.stroke_width(2);
                chart
                    .draw_series([
                        PathElement::new(vec![(x, m - c), (x, m + c)], col),
                        PathElement::new(vec![(x - 0.08, m - c), (x + 0.08, m - c)], col),
                        PathElement::new(vec![(x - 0.08, m + c), (x + 0.08, m + c)], col),
                    ])
                    .map_err(draw_err)?;
                chart.draw_series(std::iter::once(Circle::new((x, m), 5, s.fill()))).map_err(draw_err)?;
            }
        }
        root.present().map_err(draw_err)?;
    }
    Ok(Chart { id: "paired-differences", title: "Paired differences".into(), svg, csv })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Seeds as ranges (`1–10, 12`), the first few of them.
fn seed_ranges(seeds: &[u64]) -> String {
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for &s in seeds {
        match ranges.last_mut() {
            Some((_, b)) if b.checked_add(1) == Some(s) => *b = s,
            _ => ranges.push((s, s)),
        }
    }
    let mut parts: Vec<String> =
        ranges.iter().take(6).map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}–{b}") }).collect();
    if ranges.len() > 6 {
        parts.push(format!("… ({} ranges in all)", ranges.len()));
    }
    parts.join(", ")
}

/// A run's fault timeline, in words.
fn timeline(faults: &[FaultSpan]) -> String {
    if faults.is_empty() {
        return "no fault".to_owned();
    }
    let spans: Vec<String> = faults
        .iter()
        .map(|f| match f.end_ms {
            Some(e) => format!("{} {}–{} s", f.name, num(f.start_ms / 1000.0), num(e / 1000.0)),
            None => format!("{} from {} s to the end", f.name, num(f.start_ms / 1000.0)),
        })
        .collect();
    spans.join(", ")
}

/// The page's paragraphs on what ran: the seeds of each variant and the faults of each run,
/// saying that they are the same only where they are.
fn what_ran(groups: &[(String, Vec<&SeedRecord>)]) -> String {
    let mut s = String::new();
    let seeds: Vec<Vec<u64>> = groups.iter().map(|(_, rs)| rs.iter().map(|r| r.seed).collect()).collect();
    if seeds.windows(2).all(|w| w[0] == w[1]) {
        let n = seeds.first().map_or(0, Vec::len);
        let _ = write!(
            s,
            "<p>Seeds {} ({} per variant); every variant ran on the same seeds.",
            seed_ranges(seeds.first().map_or(&[], Vec::as_slice)),
            n
        );
    } else {
        let each: Vec<String> = groups
            .iter()
            .zip(&seeds)
            .map(|((v, _), ss)| format!("{}: seeds {} ({})", escape(v), seed_ranges(ss), ss.len()))
            .collect();
        let _ = write!(
            s,
            "<p>The variants ran on different seeds (paired differences use the seeds both ran): {}.",
            each.join("; ")
        );
    }
    let runs: Vec<&SeedRecord> = groups.iter().flat_map(|(_, rs)| rs.iter().copied()).collect();
    match runs.first() {
        Some(first) if runs.iter().all(|r| r.faults == first.faults) => {
            let _ = writeln!(s, " Every run had the same fault timeline: {}.</p>", escape(&timeline(&first.faults)));
        }
        _ => {
            // Variants with one timeline over all their seeds, grouped by it.
            let mut by: Vec<(String, Vec<&str>)> = Vec::new();
            for (v, rs) in groups {
                let t = match rs.first() {
                    Some(f) if rs.iter().all(|r| r.faults == f.faults) => timeline(&f.faults),
                    Some(_) => "differs between its seeds".to_owned(),
                    None => continue,
                };
                match by.iter_mut().find(|(u, _)| *u == t) {
                    Some((_, vs)) => vs.push(v),
                    None => by.push((t, vec![v])),
                }
            }
            let each: Vec<String> =
                by.iter().map(|(t, vs)| format!("{}: {}", escape(&vs.join(", ")), escape(t))).collect();
            let _ = writeln!(
                s,
                " <strong>The fault timelines differ</strong>, so the variants are not compared under the same \
                 faults (the charts label each fault with the variants that had it): {}.</p>",
                each.join("; ")
            );
        }
    }
    s
}

/// Expectation verdicts, and runs stopped at their event budget: what a reviewer reads first.
fn verdicts(report: &SweepReport, records: &[SeedRecord]) -> String {
    let mut s = String::new();
    for v in report.variants.iter().filter(|v| v.inconclusive > 0) {
        let _ = writeln!(
            s,
            "<p class=\"warn\">{}: {} of {} stopped at the event budget: the figures include partial runs.</p>",
            escape(&v.variant),
            v.inconclusive,
            count(v.seeds, "seed")
        );
    }
    let all: Vec<_> = report.variants.iter().flat_map(|v| v.expectations.iter().map(move |e| (v, e))).collect();
    if all.is_empty() {
        let carried = records.iter().map(|r| r.expect.len()).max().unwrap_or(0);
        if carried > 0 {
            let _ = writeln!(
                s,
                "<p class=\"warn\">No expectation verdicts: the records carry the figures of {}, but none was \
                 checked for these variants (the scenario file could not be read, has changed since these runs, \
                 or its expectations are for other variants).</p>",
                count(carried, "expectation")
            );
        }
        return s;
    }
    let passed = all.iter().filter(|(_, e)| e.passed).count();
    let _ = writeln!(s, "<h2>Expectations ({passed} of {} passed)</h2>\n<ul>", all.len());
    for (v, e) in all {
        let mark = if e.passed { "pass" } else { "<strong class=\"fail\">FAIL</strong>" };
        let _ = writeln!(s, "<li>{mark} {}</li>", escape(&crate::summary::sweep_verdict(v, e)));
    }
    s.push_str("</ul>\n");
    s
}

fn worst_seeds(report: &SweepReport) -> String {
    let mut s = String::from(
        "<h2>Worst seeds</h2>\n<table><caption>Per variant, lowest success rate first, then highest p99; each \
         command replays its run</caption>\n<tr><th>variant</th><th>seed</th><th>success %</th><th>p99 ms</th>\
         <th>replay</th></tr>\n",
    );
    for v in &report.variants {
        for w in &v.worst_seeds {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                escape(&v.variant),
                w.seed,
                w.success_rate.map_or("-".to_owned(), |x| format!("{:.2}", x * 100.0)),
                w.latency_p99_ms.map_or("-".to_owned(), |x| format!("{x:.1}")),
                escape(&w.replay)
            );
        }
    }
    s.push_str("</table>\n");
    s
}

/// The page and the CSV files: `(file name, contents)`, the page first (`index.html`).
pub fn render(report: &SweepReport, records: &[SeedRecord]) -> Result<Vec<(String, String)>, String> {
    let groups = by_variant(report, records);
    let shades = shades(&groups);
    let charts = [
        latency_cdf(&groups)?,
        over_time(
            &groups,
            &shades,
            OverTime {
                id: "p99-over-time",
                title: "p99 latency over simulated time (mean over seeds; faults shaded)",
                y_desc: "p99 latency (ms)",
                column: "p99_ms",
                empty: "no successful request in any window",
            },
            |r, w| r.p99_ms_per_window.get(w).copied().flatten(),
        )?,
        over_time(
            &groups,
            &shades,
            OverTime {
                id: "error-rate-over-time",
                title: "Error rate over simulated time (mean over seeds; faults shaded)",
                y_desc: "failed or timed out (% of requests)",
                column: "error_rate_pct",
                empty: "no request in any window",
            },
            |r, w| {
                let (ok, bad) = (*r.ok_per_window.get(w)?, *r.failed_per_window.get(w)?);
                (ok + bad > 0).then(|| 100.0 * bad as f64 / (ok + bad) as f64)
            },
        )?,
        anomalies(report)?,
        paired(report)?,
    ];
    // Records of one model only: one scenario name and revision.
    let name = records.iter().find_map(|r| r.scenario_name.clone()).unwrap_or_else(|| report.scenario.clone());
    let revision = report
        .sim_revision
        .map_or("no simulation revision recorded".to_owned(), |r| format!("simulation revision {r}"));
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>faultline — {0}</title>\n<style>body{{font-family:sans-serif;max-width:940px;margin:2em auto;color:#222}}table{{border-collapse:collapse}}caption{{text-align:left;color:#555;padding:4px 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th:first-child,td:first-child{{text-align:left}}code{{font-size:90%}}figure{{margin:1.5em 0}}figcaption{{font-size:90%;color:#555}}.warn,.fail{{color:#b00}}</style></head><body>\n<h1>{0}</h1>\n<p>Sweep of <code>{1}</code>, {2}.</p>\n",
        escape(&name),
        escape(&report.scenario),
        revision
    );
    html.push_str(&what_ran(&groups));
    html.push_str(&verdicts(report, records));
    html.push_str(
        "<table><caption>Per variant: mean ± half-width of its 95% confidence interval, over seeds</caption>\n\
         <tr><th>variant</th><th>seeds</th><th>success %</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th>\
         <th>anomalies</th></tr>\n",
    );
    for v in &report.variants {
        let est = |f: &str, k: f64| v.figures.get(f).map_or("-".to_owned(), |e| e.cell(k, 2));
        let seeds =
            if v.inconclusive > 0 { format!("{} ({} partial)", v.seeds, v.inconclusive) } else { v.seeds.to_string() };
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{seeds}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&v.variant),
            est("success_rate", 100.0),
            est("latency_p50_ms", 1.0),
            est("latency_p99_ms", 1.0),
            est("latency_p999_ms", 1.0),
            v.anomalies.values().sum::<u64>()
        );
    }
    html.push_str("</table>\n");
    let mut files = Vec::new();
    for c in &charts {
        let _ = writeln!(
            html,
            "<figure id=\"{0}\">{1}<figcaption>{2} — data: <a href=\"{0}.csv\">{0}.csv</a></figcaption></figure>",
            c.id,
            c.svg,
            escape(&c.title)
        );
        files.push((format!("{}.csv", c.id), c.csv.clone()));
    }
    html.push_str(&worst_seeds(report));
    html.push_str("<p>Made by faultline. The data links are CSV files beside this page.</p></body></html>\n");
    files.insert(0, ("index.html".to_owned(), html));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use faultline_models::report::{LatencySummary, Requests};
    use faultline_scenarios::sweep::{self, Estimate, ExpectSummary, FaultSpan, SeedRecord};

    /// A run of 60.1 s in 5 s windows (the last one partial), an outage from 20 s to 40 s.
    fn rec(variant: &str, seed: u64) -> SeedRecord {
        SeedRecord {
            scenario: "dir/a.toml".into(),
            set: Vec::new(),
            vary: Vec::new(),
            variant: variant.into(),
            seed,
            status: "ok".into(),
            trace_hash: String::new(),
            events: 1,
            requests: Requests { total: 10, ok: 9, failed: 1, timed_out: 0 },
            latency_ms: LatencySummary { p99: Some(100.0), ..LatencySummary::default() },
            anomalies: BTreeMap::new(),
            // The slowest request is past the p99.9.
            latency_buckets: vec![(60_000_000, 5000), (100_000_000, 4999), (980_000_000, 1)],
            expect: Vec::new(),
            window_ms: 5000.0,
            ok_per_window: vec![9; 13],
            failed_per_window: vec![1; 13],
            p99_ms_per_window: vec![Some(100.0); 13],
            faults: vec![FaultSpan { name: "down".into(), start_ms: 20_000.0, end_ms: Some(40_000.0) }],
            sim_revision: Some(12),
            scenario_name: Some("the-scenario".into()),
            fingerprint: None,
            end_ms: Some(60_100.0),
            plan: None,
        }
    }

    fn report(records: &[SeedRecord]) -> sweep::SweepReport {
        let (_, order) = sweep::by_variant(records);
        sweep::aggregate(&records[0].scenario, &order, records)
    }

    fn files(records: &[SeedRecord]) -> BTreeMap<String, String> {
        super::render(&report(records), records).unwrap().into_iter().collect()
    }

    /// The SVG of chart `id` on the page.
    fn svg<'a>(page: &'a BTreeMap<String, String>, id: &str) -> &'a str {
        let html = &page["index.html"];
        let at = html.find(&format!("<figure id=\"{id}\">")).unwrap();
        &html[at..at + html[at..].find("</figure>").unwrap()]
    }

    /// `(x, y, text)` of each `<text>` of an SVG.
    fn texts(svg: &str) -> Vec<(f64, f64, String)> {
        let attr = |tag: &str, name: &str| {
            let at = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            tag[at..at + tag[at..].find('"').unwrap()].parse::<f64>().unwrap()
        };
        svg.split("<text")
            .skip(1)
            .map(|t| {
                let (tag, rest) = t.split_once('>').unwrap();
                (attr(tag, "x"), attr(tag, "y"), rest[..rest.find("</text>").unwrap()].trim().to_owned())
            })
            .collect()
    }

    /// The numbers labelling the x axis (below the plot, right of the y axis) of a chart.
    fn x_ticks(svg: &str) -> Vec<(f64, f64)> {
        texts(svg)
            .into_iter()
            .filter(|(x, y, _)| *x > 70.0 && (320.0..345.0).contains(y))
            .filter_map(|(x, _, t)| Some((x, t.parse().ok()?)))
            .collect()
    }

    /// A CSV file's rows (RFC 4180: quoted fields may hold commas, quotes and line breaks).
    fn csv_rows(text: &str) -> Vec<Vec<String>> {
        let (mut rows, mut row, mut cell) = (Vec::new(), Vec::new(), String::new());
        let (mut quoted, mut chars) = (false, text.chars().peekable());
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => cell.push(c),
                (false, '"') => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut cell)),
                (false, '\n') => {
                    row.push(std::mem::take(&mut cell));
                    rows.push(std::mem::take(&mut row));
                }
                (false, c) => cell.push(c),
            }
        }
        rows
    }

    #[test]
    fn each_variant_is_drawn_on_its_own_window_length() {
        let mut fine = rec("fine", 1);
        fine.window_ms = 1000.0;
        (fine.ok_per_window, fine.failed_per_window, fine.p99_ms_per_window) =
            (vec![9; 61], vec![1; 61], vec![Some(90.0); 61]);
        let page = files(&[rec("coarse", 1), fine]);
        let csv = &page["p99-over-time.csv"];
        for row in ["fine,1,90", "fine,2,90", "fine,60,90", "coarse,5,100", "coarse,60,100"] {
            assert!(csv.lines().any(|l| l == row), "no `{row}` in:\n{csv}");
        }
        // The axis spans the run (60 s), not 61 windows of 5 s.
        let ticks = x_ticks(svg(&page, "p99-over-time"));
        assert_eq!(ticks.iter().map(|t| t.1).fold(0.0, f64::max), 60.0, "{ticks:?}");
    }

    #[test]
    fn the_last_partial_window_is_drawn_within_the_run() {
        // Pixel x of the last point of the first variant's line, and of the axis' ticks.
        let last_x = |r: SeedRecord| {
            let page = files(&[r]);
            let chart = svg(&page, "p99-over-time");
            let points = chart.split("stroke=\"#0072B2\" stroke-width=\"2\" points=\"").nth(1).unwrap();
            let last = points[..points.find('"').unwrap()].split_whitespace().last().unwrap();
            let x: f64 = last.split(',').next().unwrap().parse().unwrap();
            (x, x_ticks(chart))
        };
        let tick = |ticks: &[(f64, f64)], s: f64| ticks.iter().find(|t| t.1 == s).unwrap().0;
        // The last window starts at 60 s and ends with the run: at 64 s, it is drawn at its
        // middle, 62 s (not at 62.5 s, the middle of a whole window).
        let mut r = rec("a", 1);
        r.end_ms = Some(64_000.0);
        let (x, ticks) = last_x(r);
        let (t50, t60) = (tick(&ticks, 50.0), tick(&ticks, 60.0));
        let want = t60 + (t60 - t50) * 0.2;
        assert!((x - want).abs() <= 1.0, "last point at {x} px, 62 s at {want} px");
        // A record that does not say when its run ended (an earlier build's): at its start.
        let mut r = rec("a", 1);
        r.end_ms = None;
        let (x, ticks) = last_x(r);
        let t60 = tick(&ticks, 60.0);
        assert!((x - t60).abs() <= 1.0, "last point at {x} px, 60 s at {t60} px");
    }

    #[test]
    fn fault_shading_and_the_page_say_when_variants_ran_under_other_faults() {
        let mut late = rec("late", 1);
        late.faults[0] = FaultSpan { name: "down".into(), start_ms: 45_000.0, end_ms: Some(55_000.0) };
        let page = files(&[rec("a", 1), rec("b", 1), late]);
        let html = &page["index.html"];
        assert!(!html.contains("same fault timeline"), "{html}");
        assert!(html.contains("a, b: down 20–40 s; late: down 45–55 s."), "{html}");
        let labels: Vec<String> = texts(svg(&page, "error-rate-over-time")).into_iter().map(|t| t.2).collect();
        assert!(labels.contains(&"fault: down (a, b)".to_owned()) && labels.contains(&"fault: down (late)".to_owned()));
        let same = files(&[rec("a", 1), rec("b", 1)]);
        assert!(same["index.html"].contains("Every run had the same fault timeline: down 20–40 s."));
    }

    #[test]
    fn the_page_says_every_variant_ran_on_the_same_seeds_only_when_it_did() {
        let mut records: Vec<SeedRecord> = (1..=10).map(|s| rec("a", s)).collect();
        records.extend([1, 2, 3, 7].map(|s| rec("b", s)));
        let html = &files(&records)["index.html"];
        assert!(!html.contains("every variant ran on the same seeds"), "{html}");
        assert!(html.contains("a: seeds 1–10 (10); b: seeds 1–3, 7 (4)"), "{html}");
        let page = files(&[rec("a", 1), rec("a", 2), rec("b", 1), rec("b", 2)]);
        assert!(page["index.html"].contains("Seeds 1–2 (2 per variant); every variant ran on the same seeds."));
    }

    #[test]
    fn csv_fields_with_commas_quotes_or_line_breaks_are_quoted() {
        let names = ["retry,once \"q\"", "fail\nfast"];
        let mut records = vec![rec(names[0], 1), rec(names[1], 1)];
        records[1].anomalies.insert("odd,kind".into(), 3);
        let page = files(&records);
        for (file, text) in page.iter().filter(|(f, _)| f.ends_with(".csv")) {
            let rows = csv_rows(text);
            assert!(rows[1..].iter().all(|r| r.len() == rows[0].len()), "{file}: {rows:?}");
            assert!(rows[1..].iter().all(|r| names.contains(&r[0].as_str())), "{file}: {rows:?}");
        }
        assert!(csv_rows(&page["anomalies.csv"]).contains(&vec![names[1].into(), "odd,kind".into(), "3".into()]));
    }

    #[test]
    fn the_page_shows_expectation_verdicts_and_runs_stopped_at_their_budget() {
        let mut records = vec![rec("a", 1), rec("a", 2), rec("a", 3)];
        records[1].status = "budget".into();
        let mut r = report(&records);
        r.variants[0].expectations.push(ExpectSummary {
            check: "p99_ms < 50".into(),
            during: None,
            over_seeds: faultline_scenarios::expect::OverSeeds::Mean,
            passed: false,
            estimate: Estimate::of(&[100.0, 100.0, 100.0]),
            failing_seeds: vec![1, 2, 3],
            failing: 3,
        });
        let html = &super::render(&r, &records).unwrap()[0].1;
        assert!(html.contains("<h2>Expectations (0 of 1 passed)</h2>"), "{html}");
        assert!(
            html.contains("FAIL</strong> [a] p99_ms &lt; 50 (mean over seeds): 100 ± 0 ms, failing on 3 of 3 seeds"),
            "{html}"
        );
        assert!(html.contains("a: 1 of 3 seeds stopped at the event budget"), "{html}");
        // Records that carry an expectation's figures, aggregated without it: not checked.
        records[0].expect = vec![Some(100.0)];
        let html = &files(&records)["index.html"];
        assert!(html.contains("No expectation verdicts: the records carry the figures of 1 expectation"), "{html}");
    }

    #[test]
    fn the_page_names_the_scenario_its_revision_and_worst_seeds_with_replay_commands() {
        let html = &files(&[rec("a", 1), rec("a", 2)])["index.html"];
        assert!(html.contains("<title>faultline — the-scenario</title>") && html.contains("<h1>the-scenario</h1>"));
        assert!(html.contains("Sweep of <code>dir/a.toml</code>, simulation revision 12."), "{html}");
        assert!(html.contains("<code>faultline run dir/a.toml --variant a --seed 2</code>"), "{html}");
        assert!(html.contains("mean ± half-width of its 95% confidence interval"), "{html}");
    }

    #[test]
    fn the_latency_axis_spans_the_requests_drawn() {
        let page = files(&[rec("a", 1)]);
        let ticks: Vec<f64> = x_ticks(svg(&page, "latency-cdf")).into_iter().map(|t| t.1).collect();
        // Requests took 60 to 980 ms: the axis neither starts at 0.001 ms nor cuts off the tail,
        // and a labelled tick is at or below the fastest (an axis from 106 ms had none below 1 s).
        let (lo, hi) = (ticks.iter().copied().fold(f64::INFINITY, f64::min), ticks.iter().copied().fold(0.0, f64::max));
        assert!((6.0..=60.0).contains(&lo) && hi >= 980.0, "{ticks:?}");
    }

    #[test]
    fn anomaly_counts_are_printed_whole_on_a_log_axis() {
        let mut records = vec![rec("a", 1), rec("b", 1)];
        records[0].anomalies = BTreeMap::from([("stale_read".into(), 80_000), ("monotonic".into(), 24)]);
        records[1].anomalies = BTreeMap::from([("stale_read".into(), 0), ("monotonic".into(), 1)]);
        let page = files(&records);
        let labels: Vec<String> = texts(svg(&page, "anomalies")).into_iter().map(|t| t.2).collect();
        for n in ["80000", "24", "1", "0"] {
            assert!(labels.iter().any(|l| l == n), "no count {n} in {labels:?}");
        }
        assert!(!labels.iter().any(|l| l.ends_with(".0")), "{labels:?}");
    }

    /// Kind names wider than their group ran into each other: they stand upright, each wholly
    /// below the plot (the mesh centred them on the axis), under a taller chart.
    #[test]
    fn long_anomaly_kinds_stand_upright_below_the_plot() {
        let mut r = rec("a", 1);
        let kinds = ["charge_without_order", "double_charge", "orphaned_side_effect", "told_ok_but_not_completed"];
        r.anomalies = kinds.iter().enumerate().map(|(i, k)| (k.to_string(), i as u64)).collect();
        r.anomalies.extend((0..6).map(|i| (format!("another_long_kind_{i}"), 1)));
        let page = files(&[r]);
        let chart = svg(&page, "anomalies");
        let axis_y = texts(chart).iter().filter(|t| t.2 == "1").map(|t| t.1).fold(0.0, f64::max);
        for k in kinds {
            let is =
                |t: &&str| t.split_once('>').is_some_and(|(_, rest)| rest.split("</text>").next().unwrap().trim() == k);
            let tag = chart.split("<text").find(is).expect(k);
            assert!(tag.contains("text-anchor=\"end\"") && tag.contains("rotate(270"), "{tag}");
            let (_, y, _) = texts(chart).into_iter().find(|t| t.2 == k).unwrap();
            assert!(y > axis_y, "{k} at {y}, the plot's foot near {axis_y}");
        }
        assert!(chart.contains(&format!("height=\"{}\"", super::H + 25 * 6 + 36 - 44)), "taller for the names");
    }

    #[test]
    fn twenty_one_variants_are_drawn_each_their_own_way() {
        let styles: Vec<super::Style> = (0..21).map(super::style).collect();
        for (i, a) in styles.iter().enumerate() {
            assert!(styles[i + 1..].iter().all(|b| b != a), "variant {i} looks like a later one");
        }
    }

    #[test]
    fn charts_without_data_say_so() {
        let mut dead = rec("dead", 1);
        (dead.latency_buckets, dead.p99_ms_per_window) = (Vec::new(), vec![None; 13]);
        let page = files(&[dead]);
        for id in ["latency-cdf", "p99-over-time", "paired-differences"] {
            let chart = svg(&page, id);
            assert!(chart.contains("no data"), "{id}: {chart}");
            assert!(x_ticks(chart).is_empty(), "{id}: axes over nothing");
        }
        // A variant without a successful request beside one with: the CDF's legend says so.
        let mut dead = rec("dead", 1);
        dead.latency_buckets.clear();
        let page = files(&[rec("a", 1), dead]);
        assert!(svg(&page, "latency-cdf").contains("dead (no successful request)"));
        // And its CSV has a row of empty cells for it (it had none).
        assert!(page["latency-cdf.csv"].lines().any(|l| l == "dead,,"), "{}", page["latency-cdf.csv"]);
    }

    /// The over-time charts' legend sat inside the plot, over the lines of whichever variants
    /// ran there; it is beside it now, every label right of the time axis' end, in the
    /// variants' order, a long name cut to fit.
    #[test]
    fn the_over_time_legend_is_beside_the_plot_not_over_it() {
        let long = "a-variant-whose-name-is-far-too-long-for-any-legend-box";
        let names = ["a", "b", long];
        let page = files(&names.map(|v| rec(v, 1)));
        for id in ["p99-over-time", "error-rate-over-time"] {
            let chart = svg(&page, id);
            let axis_end = x_ticks(chart).iter().map(|t| t.0).fold(0.0, f64::max);
            let legend: Vec<(f64, f64, String)> =
                texts(chart).into_iter().filter(|t| t.2 == "a" || t.2 == "b" || t.2.ends_with('…')).collect();
            assert_eq!(legend.len(), 3, "{id}: {legend:?}");
            assert!(legend.iter().all(|t| t.0 > axis_end + 10.0), "{id}: {legend:?} over a plot ending at {axis_end}");
            assert!(legend.windows(2).all(|p| p[0].1 < p[1].1), "{id}: in order, top down: {legend:?}");
            assert!(long.starts_with(legend[2].2.trim_end_matches('…')) && legend[2].2.len() < long.len());
        }
    }

    #[test]
    fn csv_columns_name_their_units() {
        let page = files(&[rec("a", 1), rec("b", 1)]);
        let headers: Vec<&str> =
            page.iter().filter(|(f, _)| f.ends_with(".csv")).map(|(_, t)| t.lines().next().unwrap()).collect();
        assert_eq!(
            headers,
            [
                "variant,kind,count",
                "variant,window_start_s,error_rate_pct",
                "variant,latency_ms,fraction_at_or_below",
                "variant,window_start_s,p99_ms",
                "variant,baseline,figure,seeds,mean_difference,ci95_half_width",
            ]
        );
        assert!(page["paired-differences.csv"].contains("\nb,a,success_rate_pp,1,"));
    }

    #[test]
    fn records_in_any_order_give_the_same_report() {
        // 0.1 + 0.2 + 0.3 and 0.3 + 0.2 + 0.1 differ in the last digit.
        let records: Vec<SeedRecord> = [0.1, 0.2, 0.3]
            .iter()
            .enumerate()
            .map(|(i, &p)| SeedRecord { p99_ms_per_window: vec![Some(p); 13], ..rec("a", i as u64 + 1) })
            .collect();
        let reversed: Vec<SeedRecord> = records.iter().rev().cloned().collect();
        assert_eq!(files(&records), files(&reversed));
    }
}
