//! `sweep --report DIR` / `faultline report FILE.jsonl --out DIR`: one self-contained HTML page
//! with SVG charts (plotters) and the CSV behind each chart. No scripts, no external assets:
//! the page opens from disk in any browser and can be mailed as one file.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use faultline_models::metrics::LatencyHist;
use faultline_scenarios::sweep::{SeedRecord, SweepReport};
use plotters::prelude::*;

const W: u32 = 880;
const H: u32 = 380;

/// One chart: its SVG and the CSV of the data drawn.
struct Chart {
    id: &'static str,
    title: String,
    svg: String,
    csv: String,
}

fn color(i: usize) -> RGBColor {
    // Colour-blind friendly (Okabe–Ito).
    const C: [RGBColor; 7] = [
        RGBColor(0, 114, 178),
        RGBColor(213, 94, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(230, 159, 0),
        RGBColor(86, 180, 233),
        RGBColor(0, 0, 0),
    ];
    C[i % C.len()]
}

fn draw_err<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing a chart: {e:?}")
}

/// Records per variant, in the report's variant order.
fn by_variant<'r>(report: &SweepReport, records: &'r [SeedRecord]) -> Vec<(String, Vec<&'r SeedRecord>)> {
    report
        .variants
        .iter()
        .map(|v| (v.variant.clone(), records.iter().filter(|r| r.variant == v.variant).collect()))
        .collect()
}

fn latency_cdf(groups: &[(String, Vec<&SeedRecord>)]) -> Result<Chart, String> {
    let mut csv = String::from("variant,latency_ms,fraction_at_or_below\n");
    let mut curves = Vec::new();
    let mut max_ms: f64 = 1.0;
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
            pts.push((x.max(0.001), y));
            let _ = writeln!(csv, "{v},{x},{y}");
        }
        if let Some(&(x, _)) = pts.iter().find(|&&(_, y)| y >= 0.999) {
            max_ms = max_ms.max(x * 1.2);
        }
        curves.push((v.clone(), pts));
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Latency CDF of successful requests (all seeds pooled)", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d((0.001f64..max_ms).log_scale(), 0f64..1.0)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("latency (ms, log scale)")
            .y_desc("fraction of requests ≤ latency")
            .draw()
            .map_err(draw_err)?;
        for (i, (v, pts)) in curves.iter().enumerate() {
            let c = color(i);
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                .map_err(draw_err)?
                .label(v.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        }
        chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw().map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(Chart { id: "latency-cdf", title: "Latency CDF".into(), svg, csv })
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

fn over_time(
    groups: &[(String, Vec<&SeedRecord>)],
    id: &'static str,
    title: &str,
    y_desc: &str,
    f: impl Fn(&SeedRecord, usize) -> Option<f64>,
) -> Result<Chart, String> {
    let window_s =
        groups.iter().flat_map(|(_, rs)| rs.iter()).map(|r| r.window_ms / 1000.0).find(|&w| w > 0.0).unwrap_or(1.0);
    let series: Vec<(String, Vec<Option<f64>>)> =
        groups.iter().map(|(v, rs)| (v.clone(), mean_series(rs, &f))).collect();
    let n = series.iter().map(|(_, s)| s.len()).max().unwrap_or(0).max(1);
    let x_max = n as f64 * window_s;
    let y_max = series.iter().flat_map(|(_, s)| s.iter().flatten().copied()).fold(0.0, f64::max).max(1e-9) * 1.1;
    // An empty cell where no seed has the figure.
    let mut csv = format!("variant,window_start_s,{}\n", id.replace('-', "_"));
    for (v, s) in &series {
        for (i, y) in s.iter().enumerate() {
            let _ = writeln!(csv, "{v},{},{}", i as f64 * window_s, y.map_or(String::new(), |y| y.to_string()));
        }
    }
    // Fault windows of the first seed (every variant and seed share the fault timeline).
    let faults = groups.iter().flat_map(|(_, rs)| rs.first()).next().map(|r| r.faults.clone()).unwrap_or_default();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(draw_err)?;
        chart.configure_mesh().x_desc("simulated time (s)").y_desc(y_desc).draw().map_err(draw_err)?;
        let shade = RGBColor(200, 30, 30).mix(0.12);
        for fs in &faults {
            let (a, b) = (
                fs.start_ms / 1000.0,
                fs.end_ms.map_or(x_max, |e| e / 1000.0).max(fs.start_ms / 1000.0 + window_s / 20.0),
            );
            chart
                .draw_series(std::iter::once(Rectangle::new([(a, 0.0), (b, y_max)], shade.filled())))
                .map_err(draw_err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("fault: {}", fs.name),
                    (a, y_max * 0.97),
                    ("sans-serif", 12),
                )))
                .map_err(draw_err)?;
        }
        for (i, (v, s)) in series.iter().enumerate() {
            let c = color(i);
            // One line per run of windows that have the figure: gaps stay gaps.
            let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
            for (w, y) in s.iter().enumerate() {
                match y {
                    Some(y) => runs.last_mut().expect("non-empty").push(((w as f64 + 0.5) * window_s, *y)),
                    None if !runs.last().expect("non-empty").is_empty() => runs.push(Vec::new()),
                    None => {}
                }
            }
            for (k, run) in runs.into_iter().enumerate() {
                let drawn = chart.draw_series(LineSeries::new(run, c.stroke_width(2))).map_err(draw_err)?;
                if k == 0 {
                    drawn
                        .label(v.clone())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
                }
            }
        }
        chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw().map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(Chart { id, title: title.to_owned(), svg, csv })
}

fn anomalies(report: &SweepReport) -> Result<Chart, String> {
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
            let _ = writeln!(csv, "{},{k},{n}", v.variant);
        }
    }
    let y_max = counts.values().copied().max().unwrap_or(0).max(1) as f64 * 1.15;
    let nv = report.variants.len().max(1);
    let groups = kinds.len().max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Consistency and business anomalies per variant (all seeds)", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..groups as f64 - 0.5, 0f64..y_max)
            .map_err(draw_err)?;
        let names = kinds.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(groups)
            .x_label_formatter(&|x| {
                names.get(x.round() as usize).filter(|_| (x - x.round()).abs() < 1e-9).cloned().unwrap_or_default()
            })
            .x_desc("anomaly kind")
            .y_desc("count (anomalies, all seeds)")
            .draw()
            .map_err(draw_err)?;
        if kinds.is_empty() {
            chart
                .draw_series(std::iter::once(Text::new(
                    "no anomaly checks in this scenario",
                    (-0.3, y_max / 2.0),
                    ("sans-serif", 16),
                )))
                .map_err(draw_err)?;
        }
        let bar = 0.8 / nv as f64;
        for (vi, v) in report.variants.iter().enumerate() {
            let c = color(vi);
            let bars = (0..kinds.len()).map(|ki| {
                let x0 = ki as f64 - 0.4 + vi as f64 * bar;
                Rectangle::new([(x0, 0.0), (x0 + bar * 0.9, counts[&(ki, vi)] as f64)], c.filled())
            });
            chart
                .draw_series(bars)
                .map_err(draw_err)?
                .label(v.variant.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled()));
        }
        chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw().map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(Chart { id: "anomalies", title: "Anomalies".into(), svg, csv })
}

fn paired(report: &SweepReport) -> Result<Chart, String> {
    // Two panels: success rate (percentage points) and p99 latency (ms).
    let figures =
        [("success_rate", "success rate (percentage points)", 100.0), ("latency_p99_ms", "p99 latency (ms)", 1.0)];
    let mut csv = String::from("variant,baseline,figure,mean_difference,ci95\n");
    for p in &report.paired {
        for (f, _, k) in figures {
            if let Some(e) = p.differences.get(f) {
                // Empty where there is no value (n = 0) or no interval (one seed), not NaN or inf.
                let num = |x: f64| if x.is_finite() { (x * k).to_string() } else { String::new() };
                let _ = writeln!(csv, "{},{},{f},{},{}", p.variant, p.baseline, num(e.mean), num(e.ci95));
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
        let panels = body.split_evenly((1, 2));
        let n = report.paired.len().max(1);
        for (panel, (f, desc, k)) in panels.iter().zip(figures) {
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
                let col = color(i + 1);
                chart
                    .draw_series([
                        PathElement::new(vec![(x, m - c), (x, m + c)], col.stroke_width(2)),
                        PathElement::new(vec![(x - 0.08, m - c), (x + 0.08, m - c)], col.stroke_width(2)),
                        PathElement::new(vec![(x - 0.08, m + c), (x + 0.08, m + c)], col.stroke_width(2)),
                    ])
                    .map_err(draw_err)?;
                chart.draw_series(std::iter::once(Circle::new((x, m), 5, col.filled()))).map_err(draw_err)?;
            }
        }
        root.present().map_err(draw_err)?;
    }
    Ok(Chart { id: "paired-differences", title: "Paired differences".into(), svg, csv })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The page and the CSV files: `(file name, contents)`, the page first (`index.html`).
pub fn render(report: &SweepReport, records: &[SeedRecord]) -> Result<Vec<(String, String)>, String> {
    let groups = by_variant(report, records);
    let charts = [
        latency_cdf(&groups)?,
        over_time(
            &groups,
            "p99-over-time",
            "p99 latency over simulated time (mean over seeds; faults shaded)",
            "p99 latency (ms)",
            |r, w| r.p99_ms_per_window.get(w).copied().flatten(),
        )?,
        over_time(
            &groups,
            "error-rate-over-time",
            "Error rate over simulated time (mean over seeds; faults shaded)",
            "failed or timed out (% of requests)",
            |r, w| {
                let (ok, bad) = (*r.ok_per_window.get(w)?, *r.failed_per_window.get(w)?);
                (ok + bad > 0).then(|| 100.0 * bad as f64 / (ok + bad) as f64)
            },
        )?,
        anomalies(report)?,
        paired(report)?,
    ];
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>faultline — {0}</title>\n<style>body{{font-family:sans-serif;max-width:940px;margin:2em auto;color:#222}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th:first-child,td:first-child{{text-align:left}}figure{{margin:1.5em 0}}figcaption{{font-size:90%;color:#555}}</style></head><body>\n<h1>{0}</h1>\n<p>Sweep over {1} per variant; every variant ran on the same seeds and the same fault timeline.</p>\n",
        escape(&report.scenario),
        faultline_scenarios::count(report.variants.first().map_or(0, |v| v.seeds), "seed")
    );
    html.push_str("<table><tr><th>variant</th><th>seeds</th><th>success %</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>anomalies</th></tr>\n");
    for v in &report.variants {
        let est = |f: &str, k: f64| v.figures.get(f).map_or("-".to_owned(), |e| e.cell(k, 2));
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&v.variant),
            v.seeds,
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
    html.push_str("<p>Made by faultline. Worst seeds and their replay commands: <code>faultline sweep … --json</code>.</p></body></html>\n");
    files.insert(0, ("index.html".to_owned(), html));
    Ok(files)
}
