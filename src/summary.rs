//! The human-readable summary of one run.

use std::fmt::Write;

use faultline_models::RunReport;
use faultline_models::report::{InstanceReport, ServiceReport};
use faultline_scenarios::count;
use faultline_scenarios::expect::OverSeeds;
use faultline_scenarios::sweep::{ExpectSummary, VariantSummary};

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 }
}

/// A window bound in seconds, with the decimals its window length needs (`0.01` for 10 ms
/// windows); where it is not on that grid (the run's end), as many more as it takes to show it
/// off the grid — a run ending 20 ms after 120 s ends at `120.02`, not `120.0`, which read as
/// an empty window `120–120.0`.
fn secs(t: f64, window_ms: f64) -> String {
    let grid = if window_ms >= 1000.0 {
        0
    } else if window_ms >= 100.0 {
        1
    } else if window_ms >= 10.0 {
        2
    } else {
        3
    };
    let on_grid = |x: f64| {
        let scaled = x * 10f64.powi(grid as i32);
        (scaled - scaled.round()).abs() < 1e-6
    };
    // Nanoseconds (9 decimals) are the clock's resolution.
    let decimals = if on_grid(t) {
        grid
    } else {
        (grid + 1..9).find(|&d| !on_grid(format!("{t:.d$}").parse().unwrap_or(t))).unwrap_or(9)
    };
    format!("{t:.decimals$}")
}

/// A figure to `decimals`, or `-` when it has no value (a latency where nothing succeeded).
fn opt(x: Option<f64>, decimals: usize) -> String {
    x.map_or_else(|| "-".to_owned(), |x| format!("{x:.decimals$}"))
}

pub fn render(r: &RunReport) -> String {
    let mut s = String::new();
    let q = &r.requests;
    let l = &r.latency_ms;
    let _ = writeln!(s, "{} — variant {}, seed {}", r.scenario, r.variant, r.seed);
    let _ =
        writeln!(s, "  simulated {:.1} s in {} events · trace {}", r.sim_time_ns as f64 / 1e9, r.events, r.trace_hash);
    let _ = writeln!(
        s,
        "\nrequests  {} total · {} ok ({:.2}%) · {} failed · {} timed out",
        q.total,
        q.ok,
        pct(q.ok, q.total),
        q.failed,
        q.timed_out
    );
    if q.ok == 0 {
        let _ = writeln!(s, "latency   none: no request succeeded");
    } else {
        let [mean, p50, p90, p99, p999, max] = l.fields().map(|x| opt(x, 1));
        let _ = writeln!(
            s,
            "latency   (successful requests, ms) mean {mean} · p50 {p50} · p90 {p90} · p99 {p99} · p99.9 {p999} · max {max}"
        );
    }
    if !r.faults.is_empty() {
        let _ = writeln!(s, "\nfaults");
        for f in &r.faults {
            let _ = writeln!(
                s,
                "  {:>8.1} s  {:<5}  {} ({}){}",
                f.t_ms / 1000.0,
                f.phase,
                f.name,
                f.kind,
                if f.injected { " [injected]" } else { "" }
            );
        }
    }
    let ts = &r.timeseries;
    if !ts.t_s.is_empty() {
        let _ = writeln!(s, "\nover time ({} s windows; * = a fault is active)", ts.window_ms / 1000.0);
        // The last window ends with the run, not a whole window later.
        let spans: Vec<(f64, f64)> =
            ts.t_s.iter().map(|&t0| (t0, (t0 + ts.window_ms / 1000.0).min(r.sim_time_ns as f64 / 1e9))).collect();
        let labels: Vec<(String, String)> =
            spans.iter().map(|&(t0, t1)| (secs(t0, ts.window_ms), secs(t1, ts.window_ms))).collect();
        let from_w = labels.iter().map(|l| l.0.len()).chain([6]).max().unwrap_or(6);
        let to_w = labels.iter().map(|l| l.1.len()).chain([6]).max().unwrap_or(6);
        let _ = writeln!(
            s,
            "  {:>w$}  {:>8} {:>7} {:>8} {:>6} {:>8} {:>8}",
            "t (s)",
            "ok",
            "failed",
            "timeout",
            "err%",
            "p50 ms",
            "p99 ms",
            w = from_w + 1 + to_w
        );
        for (i, ((t0, t1), (from, to))) in spans.into_iter().zip(labels).enumerate() {
            let active = fault_active(r, t0 * 1000.0, t1 * 1000.0);
            let n = ts.ok[i] + ts.failed[i] + ts.timed_out[i];
            // A window without requests has no error rate (0.0 would read as all went well).
            let err = if n == 0 { "-".to_owned() } else { format!("{:.1}", pct(ts.failed[i] + ts.timed_out[i], n)) };
            let _ = writeln!(
                s,
                "{} {from:>from_w$}–{to:<to_w$} {:>8} {:>7} {:>8} {:>6} {:>8} {:>8}",
                if active { "*" } else { " " },
                ts.ok[i],
                ts.failed[i],
                ts.timed_out[i],
                err,
                // Latency is of successful requests: a window without one has none (not 0 ms).
                opt(ts.p50_ms[i], 1),
                opt(ts.p99_ms[i], 1)
            );
        }
    }
    if !r.services.is_empty() {
        let _ = writeln!(s, "\nservices");
        let _ = writeln!(
            s,
            "  {:<16} {:>4} {:>6} {:>8} {:>6} {:>9} {:>10} {:>9} {:>7} {:>8} {:>8}",
            "name", "inst", "util", "queue", "qmax", "wait ms", "p99 resp", "rejected", "errors", "retries", "timeouts"
        );
        for v in &r.services {
            let _ = writeln!(
                s,
                "  {:<16} {:>4} {:>5.0}% {:>8.1} {:>6} {:>9} {:>10} {:>9} {:>7} {:>8} {:>8}",
                v.name,
                v.instances,
                v.utilisation * 100.0,
                v.mean_queue_len,
                v.max_queue_len,
                opt(v.mean_wait_ms, 2),
                opt(v.p99_sojourn_ms, 1),
                v.turned_away(),
                v.errors + v.injected_errors,
                v.downstream_retries,
                v.downstream_timeouts
            );
            instances(&mut s, v);
        }
    }
    if !r.balancers.is_empty() {
        let _ = writeln!(s, "\nload balancers");
        for b in &r.balancers {
            let failover = if b.failover.is_empty() {
                String::new()
            } else {
                format!(
                    " · failover {} · {}, {}",
                    b.failover.join(" → "),
                    count(b.failovers, "failover"),
                    count(b.failbacks, "failback")
                )
            };
            let ejections = match (b.ejections, b.ejected) {
                (Some(n), Some(now)) => format!(" · {} ({now} ejected at the end)", count(n, "ejection")),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "  {:<16} {} · forwarded {} · no backend {} · timeouts {} · backends marked down {}, up {}{ejections}{failover}",
                b.name, b.strategy, b.forwarded, b.no_backend, b.timeouts, b.marked_down, b.marked_up
            );
        }
    }
    if !r.caches.is_empty() {
        let _ = writeln!(s, "\ncaches");
        for c in &r.caches {
            let _ = writeln!(
                s,
                "  {:<16} hit ratio {:.1}% ({} hits, {} misses, {} coalesced) · backend reads {}, writes {} · evicted {}, expired {} · errors {}{}",
                c.name,
                c.hit_ratio * 100.0,
                c.hits,
                c.misses,
                c.coalesced,
                c.backend_reads,
                c.backend_writes,
                c.evictions,
                c.expirations,
                c.errors,
                c.shed.map_or(String::new(), |n| format!(" · shed {n}"))
            );
        }
    }
    if !r.queues.is_empty() {
        let _ = writeln!(s, "\nqueues");
        for q in &r.queues {
            let _ = writeln!(
                s,
                "  {:<16} published {} · delivered {} ({} redelivered) · acked {} (p99 {} ms after publish) · dead-lettered {} · backlog {} (max {}, oldest {:.0} ms)",
                q.name,
                q.published,
                q.delivered,
                q.redelivered,
                q.acked,
                opt(q.ack_latency_ms.p99, 1),
                q.dead_lettered,
                q.backlog,
                q.max_backlog,
                q.oldest_age_ms
            );
        }
    }
    if !r.databases.is_empty() {
        let _ = writeln!(s, "\ndatabases");
        for d in &r.databases {
            let _ = writeln!(
                s,
                "  {:<16} {} × {} · served {} · unavailable {} · leader changes {} · rolled back {} · hot-shard ratio {:.2}",
                d.name,
                count(d.shards, "shard"),
                d.replicas_per_shard,
                d.served,
                d.unavailable,
                d.leader_changes,
                d.rolled_back,
                d.hot_shard_ratio
            );
            if let Some(c) = &d.consistency {
                let conv = c.convergence_ms.map_or("-".to_owned(), |ms| format!("{ms:.0} ms"));
                let _ = writeln!(
                    s,
                    "  {:<16} history {} · {} · stale reads {} ({:.1}%, mean {:.1} versions / {:.0} ms behind) · \
                     read-your-writes {} · monotonic reads {} · lost updates {} · converged after heal {}",
                    "",
                    count(c.operations, "op"),
                    match c.linearizable {
                        Some(true) => "linearizable".to_owned(),
                        Some(false) => format!("NOT linearizable ({})", count(c.nonlinearizable_keys, "key")),
                        None => "linearizability unknown (budget)".to_owned(),
                    },
                    c.stale_reads,
                    c.stale_read_ratio * 100.0,
                    c.staleness_versions_mean,
                    c.staleness_ms_mean,
                    c.read_your_writes_violations,
                    c.monotonic_read_violations,
                    c.lost_updates,
                    conv
                );
            }
        }
    }
    for w in &r.workflows {
        let a = &w.answers;
        // Rare outcomes only when they happened (a retry taking over, no answer by the end, a
        // sync front acting on its users' deadlines).
        let rare: String = [
            (a.superseded, "superseded by a retry"),
            (a.unanswered, "never answered"),
            (w.shed, "turned away past their deadline"),
            (w.deadline_exceeded, "stopped at their deadline"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!(" · {n} {what}"))
        .collect();
        let _ = writeln!(
            s,
            "\nworkflow  {} ({}): users told {} ok · {} failed · {} still processing · {} lost in a crash{rare}",
            w.name, w.design, a.ok, a.failed, a.pending, a.lost_in_crash
        );
        let ttc = w.time_to_consistency_ms.map_or("never".to_owned(), |t| format!("{t:.0} ms after the last heal"));
        let _ = writeln!(
            s,
            "  sagas {} · completed {} · compensated {} · inconsistent {} · {} · consistent: {ttc}",
            w.sagas,
            w.completed,
            w.compensated,
            w.inconsistent,
            count(w.compensations, "compensation")
        );
        let found: Vec<String> = w.anomalies.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(s, "  anomalies: {}", if found.is_empty() { "none".to_owned() } else { found.join(", ") });
        // What each step did: a step that turns calls away (full queue, queue timeout, passed
        // deadlines) or loses them shows here, under the anomalies it leads to.
        let _ = writeln!(
            s,
            "  {:<14} {:<9} {:>9} {:>8} {:>7} {:>8} {:>8} {:>12} {:>12} {:>6}",
            "step", "role", "requests", "dos", "undos", "applied", "refused", "compensated", "turned away", "lost"
        );
        for st in &w.steps {
            let _ = writeln!(
                s,
                "  {:<14} {:<9} {:>9} {:>8} {:>7} {:>8} {:>8} {:>12} {:>12} {:>6}",
                st.name,
                st.role,
                st.arrivals,
                st.dos,
                st.undos,
                st.applied,
                st.refused,
                st.compensated,
                st.rejected + st.shed,
                st.lost_in_crash
            );
        }
    }
    let n = &r.network;
    let _ = writeln!(
        s,
        "\nnetwork   {} delivered · dropped: {} node down, {} partition, {} loss, {} on arrival",
        n.delivered, n.dropped_node_down, n.dropped_partition, n.dropped_loss, n.dropped_on_arrival
    );
    s
}

/// How many instances of an uneven service are listed (the busiest first).
const INSTANCES_SHOWN: usize = 12;

/// Under a service whose instances were not treated alike (a slow or crashed one, a balancer
/// that routed around one), one line per instance; nothing when they look alike, which is the
/// usual case and would only repeat the service's row.
fn instances(s: &mut String, v: &ServiceReport) {
    let xs = &v.per_instance;
    if xs.len() < 2 || !uneven(xs) {
        return;
    }
    let total: u64 = xs.iter().map(|i| i.arrivals).sum();
    let _ = writeln!(
        s,
        "    {:<18} {:>7} {:>6} {:>6} {:>9} {:>7} {:>7}",
        "instance", "share", "util", "qmax", "rejected", "errors", "lost"
    );
    let mut order: Vec<usize> = (0..xs.len()).collect();
    // Stable: equal utilisations keep the instances' order.
    order.sort_by(|&a, &b| xs[b].utilisation.total_cmp(&xs[a].utilisation));
    for &k in order.iter().take(INSTANCES_SHOWN) {
        let i = &xs[k];
        let _ = writeln!(
            s,
            "    {:<18} {:>6.1}% {:>5.0}% {:>6} {:>9} {:>7} {:>7}",
            i.name,
            pct(i.arrivals, total),
            i.utilisation * 100.0,
            i.max_queue_len,
            i.rejected,
            i.errors,
            i.lost_in_crash
        );
    }
    if xs.len() > INSTANCES_SHOWN {
        let _ = writeln!(s, "    … {} more, less busy", xs.len() - INSTANCES_SHOWN);
    }
}

/// Whether a service's instances differ by more than chance makes them differ: utilisations more
/// than 10 points apart, or a count (arrivals, turned away, errors, lost in crashes) whose
/// largest exceeds its smallest by more than a fifth of it and by more than 4 Poisson standard
/// deviations (4·√largest: a handful of errors spread by chance is not a story).
fn uneven(xs: &[InstanceReport]) -> bool {
    let range = |f: fn(&InstanceReport) -> f64| {
        xs.iter().map(f).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)))
    };
    let (lo, hi) = range(|i| i.utilisation);
    if hi - lo > 0.10 {
        return true;
    }
    let counts: [fn(&InstanceReport) -> f64; 4] =
        [|i| i.arrivals as f64, |i| i.rejected as f64, |i| i.errors as f64, |i| i.lost_in_crash as f64];
    counts.into_iter().any(|f| {
        let (lo, hi) = range(f);
        hi - lo > (0.2 * hi).max(4.0 * hi.sqrt())
    })
}

/// Whether any fault was active during `[t0_ms, t1_ms)`.
fn fault_active(r: &RunReport, t0_ms: f64, t1_ms: f64) -> bool {
    let mut open: Vec<(&str, f64)> = Vec::new();
    let mut spans = Vec::new();
    for f in &r.faults {
        if f.phase == "start" {
            open.push((&f.name, f.t_ms));
        } else if let Some(i) = open.iter().position(|(n, _)| *n == f.name) {
            spans.push((open.remove(i).1, f.t_ms));
        }
    }
    spans.extend(open.iter().map(|(_, t)| (*t, f64::INFINITY)));
    spans.iter().any(|&(a, b)| a < t1_ms && b > t0_ms)
}

/// The human-readable summary of a sweep: every figure of `sweep --json` a person reads per
/// variant (docs/cli.md, `sweep`), in tables that fit a terminal.
pub fn render_sweep(r: &faultline_scenarios::sweep::SweepReport) -> String {
    let mut s = String::new();
    // (mean, half-width of the interval) to `digits`: `-` where the figure is missing.
    let parts = |e: Option<&faultline_scenarios::sweep::Estimate>, k: f64, digits: usize| {
        e.map_or(("-".to_owned(), None), |e| e.parts(k, digits))
    };
    let est =
        |e: Option<&faultline_scenarios::sweep::Estimate>, k, digits| e.map_or("-".to_owned(), |e| e.cell(k, digits));
    // (figure, heading, scale, decimals) for each of `sweep::FIGURES`, in its order:
    // percentages to two decimals, milliseconds and counts (means over seeds) to one.
    let figures: [(&str, &str, f64, usize); 6] = [
        ("success_rate", "success %", 100.0, 2),
        ("latency_mean_ms", "mean ms", 1.0, 1),
        ("latency_p50_ms", "p50 ms", 1.0, 1),
        ("latency_p99_ms", "p99 ms", 1.0, 1),
        ("latency_p999_ms", "p99.9 ms", 1.0, 1),
        ("timed_out", "timed out", 1.0, 1),
    ];
    let _ = writeln!(s, "{} — sweep, mean ± 95% CI over seeds", r.scenario);
    // Every column as wide as its widest cell, with the `±` of a column's cells one above the
    // other: means right-aligned, intervals left-aligned after them.
    let name_w = r.variants.iter().map(|v| v.variant.chars().count()).chain([7]).max().unwrap_or(7);
    let seeds_w = r.variants.iter().map(|v| v.seeds.to_string().len()).chain([5]).max().unwrap_or(5);
    let cells: Vec<Vec<(String, Option<String>)>> = r
        .variants
        .iter()
        .map(|v| figures.iter().map(|&(figure, _, k, digits)| parts(v.figures.get(figure), k, digits)).collect())
        .collect();
    let widths: Vec<(usize, usize, usize)> = figures
        .iter()
        .enumerate()
        .map(|(i, (_, heading, _, _))| {
            let mean_w = cells.iter().map(|row| row[i].0.chars().count()).max().unwrap_or(0);
            let ci_w = cells.iter().filter_map(|row| row[i].1.as_ref().map(String::len)).max().unwrap_or(0);
            let body = if ci_w > 0 { mean_w + 3 + ci_w } else { mean_w };
            (mean_w, ci_w, body.max(heading.chars().count()))
        })
        .collect();
    let _ = write!(s, "\n  {:<name_w$} {:>seeds_w$}", "variant", "seeds");
    for ((_, heading, _, _), &(_, _, w)) in figures.iter().zip(&widths) {
        let _ = write!(s, "  {heading:>w$}");
    }
    s.push('\n');
    for (v, row) in r.variants.iter().zip(&cells) {
        let _ = write!(s, "  {:<name_w$} {:>seeds_w$}", v.variant, v.seeds);
        for ((mean, ci), &(mean_w, ci_w, w)) in row.iter().zip(&widths) {
            let cell = match ci {
                Some(ci) => format!("{mean:>mean_w$} ± {ci:<ci_w$}"),
                None if ci_w > 0 => format!("{mean:>mean_w$}   {:ci_w$}", ""),
                None => format!("{mean:>mean_w$}"),
            };
            let _ = write!(s, "  {cell:>w$}");
        }
        s.push('\n');
    }
    let _ = writeln!(s, "\nlatency (ms): each seed's p99, spread over seeds │ all successful requests, seeds pooled");
    let spread = ["min", "p50", "p90", "max"];
    let pooled = ["mean", "p50", "p90", "p99", "p99.9", "max"];
    let rows: Vec<Vec<String>> = r
        .variants
        .iter()
        .map(|v| {
            let o = v.p99_over_seeds;
            let spread = [o.map(|o| o.min), o.map(|o| o.p50), o.map(|o| o.p90), o.map(|o| o.max)];
            spread.iter().chain(&v.pooled_latency_ms.fields()).map(|&x| opt(x, 1)).collect()
        })
        .collect();
    let widths: Vec<usize> = spread
        .iter()
        .chain(&pooled)
        .enumerate()
        .map(|(i, h)| rows.iter().map(|row| row[i].len()).chain([h.len(), 8]).max().unwrap_or(8))
        .collect();
    let line = |name: &str, cells: &[&str]| {
        let cell = |i: usize| format!(" {:>w$}", cells[i], w = widths[i]);
        let (left, right): (String, String) = ((0..4).map(cell).collect(), (4..10).map(cell).collect());
        format!("  {name:<name_w$}{left} │{right}\n")
    };
    let headings: Vec<&str> = spread.iter().chain(&pooled).copied().collect();
    s.push_str(&line("variant", &headings));
    for (v, row) in r.variants.iter().zip(&rows) {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        s.push_str(&line(&v.variant, &cells));
    }
    let mut notes = String::new();
    for v in &r.variants {
        if !v.anomalies.is_empty() {
            let list: Vec<String> = v.anomalies.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let _ = writeln!(notes, "  anomalies in {}: {}", v.variant, list.join(", "));
        }
        for e in &v.expectations {
            let _ = writeln!(notes, "  {} {}", if e.passed { "pass" } else { "FAIL" }, sweep_verdict(v, e));
        }
        if v.inconclusive > 0 {
            let _ = writeln!(
                notes,
                "  {}: {} stopped at the event budget (partial figures)",
                v.variant,
                count(v.inconclusive, "seed")
            );
        }
    }
    if !notes.is_empty() {
        let _ = write!(s, "\n{notes}");
    }
    if !r.paired.is_empty() {
        let _ = writeln!(s, "\npaired differences (variant − baseline, paired by seed)");
        for p in &r.paired {
            let d = |figure: &str, k: f64, digits: usize| est(p.differences.get(figure), k, digits);
            let _ = writeln!(
                s,
                "  {} − {} ({}): success {} pp · mean {} ms · p50 {} ms · p99 {} ms · p99.9 {} ms · timed out {}",
                p.variant,
                p.baseline,
                count(p.seeds, "seed"),
                d("success_rate", 100.0, 2),
                d("latency_mean_ms", 1.0, 1),
                d("latency_p50_ms", 1.0, 1),
                d("latency_p99_ms", 1.0, 1),
                d("latency_p999_ms", 1.0, 1),
                d("timed_out", 1.0, 1)
            );
        }
    }
    let _ = writeln!(s, "\nworst seeds (lowest success rate, then highest p99)");
    let seed_w = r.variants.iter().flat_map(|v| &v.worst_seeds).map(|w| w.seed.to_string().len()).max().unwrap_or(0);
    let p99_w = r
        .variants
        .iter()
        .flat_map(|v| &v.worst_seeds)
        .map(|w| opt(w.latency_p99_ms, 1).len())
        .chain([8])
        .max()
        .unwrap_or(8);
    for v in &r.variants {
        for w in &v.worst_seeds {
            let _ = writeln!(
                s,
                "  {:<name_w$} seed {:<seed_w$}  success {:>6}% p99 {:>p99_w$} ms   {}",
                v.variant,
                w.seed,
                w.success_rate.map_or("-".to_owned(), |x| format!("{:.2}", x * 100.0)),
                opt(w.latency_p99_ms, 1),
                w.replay
            );
        }
    }
    s
}

/// An expectation over a variant's seeds, as the sweep's text and (with `--json`) stderr name
/// it: `[base] p99_ms < 70 (mean over seeds): 53.94 ± 1.2 ms, failing on 2 of 8 seeds (e.g.
/// seed 3)`. A mean gate on fewer than two seeds says that it needs two (one seed has no
/// interval: the gate fails whatever its figure).
pub fn sweep_verdict(v: &VariantSummary, e: &ExpectSummary) -> String {
    let during = e.during.as_ref().map(|d| format!(" during `{d}`")).unwrap_or_default();
    let head = format!("[{}] {}{during} ({} over seeds)", v.variant, e.check, e.over_seeds.name());
    if e.over_seeds == OverSeeds::Mean && v.seeds < 2 {
        let figure = if e.estimate.n == 0 {
            "no value".to_owned()
        } else {
            faultline_scenarios::expect::show_value(&e.check, e.estimate.mean)
        };
        let ran = if v.seeds == 1 { "on one seed" } else { "on no seed" };
        return format!(
            "{head}: {figure} {ran}, but a mean gate needs at least two (one seed has no interval); \
             sweep more seeds, or set over_seeds = \"each\""
        );
    }
    let example = e.failing_seeds.first().map(|s| format!(" (e.g. seed {s})")).unwrap_or_default();
    let reaches = (e.over_seeds == OverSeeds::Mean && !e.passed)
        .then(|| faultline_scenarios::expect::crossing_bound(&e.check, &e.estimate))
        .flatten()
        .map(|b| format!(" (its 95% interval reaches {})", faultline_scenarios::expect::show_value(&e.check, b)))
        .unwrap_or_default();
    format!(
        "{head}: {}{reaches}, failing on {} of {}{example}",
        faultline_scenarios::expect::show_estimate(&e.check, &e.estimate),
        e.failing,
        count(v.seeds, "seed")
    )
}

/// `faultline compare`: per variant, each figure's means, paired difference and verdict.
pub fn render_comparison(c: &faultline_scenarios::compare::Comparison, files: [&str; 2]) -> String {
    use faultline_scenarios::compare::Verdict;
    let mut s = String::new();
    let revision =
        |r: Option<u32>| r.map_or_else(|| "no simulation revision".to_owned(), |r| format!("simulation revision {r}"));
    for (what, side, file) in [("baseline ", &c.baseline, files[0]), ("candidate", &c.candidate, files[1])] {
        let _ = writeln!(
            s,
            "{what} {file}: {}, {}, {}",
            side.scenario,
            count(side.records, "record"),
            revision(side.sim_revision)
        );
    }
    if c.baseline.sim_revision != c.candidate.sim_revision {
        let _ = writeln!(
            s,
            "note: the two sides come from different simulation revisions: seeds are still paired, but do not give \
             both the same random numbers (wider intervals)"
        );
    }
    let level = format!("{}%", (c.confidence * 100.0 * 1e3).floor() / 1e3);
    let _ = writeln!(
        s,
        "paired by seed: a figure regressed when the {level} interval of (candidate − baseline) lies on its worse \
         side, beyond {}% of the baseline ({} at {level} each hold together at 95%: a candidate \
         that changed nothing fails at most 5% of the time)",
        (c.tolerance * 100.0 * 1e6).round() / 1e6,
        count(c.comparisons, "gated comparison")
    );
    for v in &c.variants {
        let unpaired = if v.unpaired > 0 {
            format!(" (the candidate did not run {} of the baseline's)", v.unpaired)
        } else {
            String::new()
        };
        let _ = writeln!(s, "\n[{}] {}{unpaired}", v.variant, count(v.seeds, "paired seed"));
        let _ = writeln!(
            s,
            "  {:<18} {:>12} {:>12} {:>26} {:>8}  verdict",
            "figure",
            "baseline",
            "candidate",
            format!("difference ({level})"),
            "change"
        );
        for f in faultline_scenarios::sweep::FIGURES {
            let ch = &v.figures[f];
            let verdict = match ch.verdict {
                Verdict::Regressed if c.gated.iter().any(|g| g == f) => "REGRESSED",
                Verdict::Regressed => "regressed (not gated)",
                Verdict::Improved => "improved",
                Verdict::NoSignificantChange => "no significant change",
            };
            let d = &ch.difference;
            // Means over the seeds where both sides have a value (a latency has none where
            // nothing succeeded): `-` when there is none.
            let num = |x: f64, text: String| if x.is_nan() { "-".to_owned() } else { text };
            let _ = writeln!(
                s,
                "  {f:<18} {:>12} {:>12} {:>26} {:>8}  {verdict}",
                num(ch.baseline, format!("{:.4}", ch.baseline)),
                num(ch.candidate, format!("{:.4}", ch.candidate)),
                num(d.mean, format!("{:+.4} ± {:.4}", d.mean, ch.ci_simultaneous)),
                ch.relative.map_or_else(|| "-".to_owned(), |r| format!("{:+.1}%", r * 100.0)),
            );
            if ch.lost_values + ch.gained_values > 0 {
                let _ = writeln!(
                    s,
                    "  {:<18} nothing succeeded on {} of the candidate where the baseline had successes, \
                     and the reverse on {}",
                    "",
                    count(ch.lost_values, "seed"),
                    ch.gained_values
                );
            }
        }
        if v.inconclusive > 0 {
            let _ = writeln!(
                s,
                "  {} stopped at the event budget on a side (partial figures)",
                count(v.inconclusive, "paired seed")
            );
        }
    }
    let new: Vec<&str> = c.unmatched.iter().filter(|v| !c.dropped.contains(v)).map(String::as_str).collect();
    if !new.is_empty() {
        let _ = writeln!(s, "\nnot compared (run by the candidate only): {}", new.join(", "));
    }
    if !c.dropped.is_empty() {
        let _ = writeln!(
            s,
            "\nNOT RUN by the candidate, so not gated: {} (the gate fails; run the candidate's sweep \
             with every variant of the baseline's)",
            c.dropped.join(", ")
        );
    }
    let verdict = match (c.regressed, c.dropped.is_empty()) {
        (true, _) => "REGRESSED",
        (false, false) => "FAILED: a baseline variant was not run",
        (false, true) => "no regression",
    };
    let _ = writeln!(s, "\n{verdict}");
    s
}

#[cfg(test)]
mod tests {
    use super::secs;

    #[test]
    fn a_window_bound_off_its_grid_shows_as_off_it() {
        assert_eq!(secs(120.0, 5000.0), "120");
        assert_eq!(secs(90.418, 5000.0), "90.4");
        // The run's end 20 ms after a boundary: `120.0` read as an empty window `120–120.0`.
        assert_eq!(secs(120.0197, 5000.0), "120.02");
        assert_eq!(secs(70.000_002, 5000.0), "70.000002");
        assert_eq!(secs(0.02, 10.0), "0.02");
        assert_eq!(secs(0.0201, 10.0), "0.0201");
    }
}
