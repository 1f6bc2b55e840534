//! The human-readable summary of one run.

use std::fmt::Write;

use faultline_models::RunReport;
use faultline_models::report::{InstanceReport, ServiceReport};
use faultline_scenarios::count;

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 }
}

/// A window bound in seconds, with the decimals its window length needs (`0.01` for 10 ms
/// windows), and a tenth more where it is not on that grid (the run's end).
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
    let scale = 10f64.powi(grid as i32);
    let decimals = if ((t * scale) - (t * scale).round()).abs() < 1e-6 { grid } else { grid + 1 };
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
        let _ = writeln!(
            s,
            "  {:>13}  {:>8} {:>7} {:>8} {:>6} {:>8} {:>8}",
            "t (s)", "ok", "failed", "timeout", "err%", "p50 ms", "p99 ms"
        );
        for i in 0..ts.t_s.len() {
            // The last window ends with the run, not a whole window later.
            let (t0, t1) = (ts.t_s[i], (ts.t_s[i] + ts.window_ms / 1000.0).min(r.sim_time_ns as f64 / 1e9));
            let active = fault_active(r, t0 * 1000.0, t1 * 1000.0);
            let n = ts.ok[i] + ts.failed[i] + ts.timed_out[i];
            let _ = writeln!(
                s,
                "{} {:>6}–{:<6} {:>8} {:>7} {:>8} {:>6.1} {:>8} {:>8}",
                if active { "*" } else { " " },
                secs(t0, ts.window_ms),
                secs(t1, ts.window_ms),
                ts.ok[i],
                ts.failed[i],
                ts.timed_out[i],
                pct(ts.failed[i] + ts.timed_out[i], n),
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
            let _ = writeln!(
                s,
                "  {:<16} {} · forwarded {} · no backend {} · timeouts {} · backends marked down {}, up {}{failover}",
                b.name, b.strategy, b.forwarded, b.no_backend, b.timeouts, b.marked_down, b.marked_up
            );
        }
    }
    if !r.caches.is_empty() {
        let _ = writeln!(s, "\ncaches");
        for c in &r.caches {
            let _ = writeln!(
                s,
                "  {:<16} hit ratio {:.1}% ({} hits, {} misses, {} coalesced) · backend reads {}, writes {} · evicted {}, expired {} · errors {}",
                c.name,
                c.hit_ratio * 100.0,
                c.hits,
                c.misses,
                c.coalesced,
                c.backend_reads,
                c.backend_writes,
                c.evictions,
                c.expirations,
                c.errors
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
    // Percentages and counts to two decimals, milliseconds to one (as in `run`'s summary).
    let est = |e: Option<&faultline_scenarios::sweep::Estimate>, k: f64, digits: usize| match e {
        // No seed has a value (e.g. a latency where nothing succeeded).
        Some(e) if e.n == 0 => "-".to_owned(),
        Some(e) if e.ci95.is_finite() => format!("{:.digits$} ± {:.digits$}", e.mean * k, e.ci95 * k),
        Some(e) => format!("{:.digits$}", e.mean * k),
        None => "-".to_owned(),
    };
    // (figure, heading, scale, decimals) for each of `sweep::FIGURES`, in its order.
    let figures: [(&str, &str, f64, usize); 6] = [
        ("success_rate", "success %", 100.0, 2),
        ("latency_mean_ms", "mean ms", 1.0, 1),
        ("latency_p50_ms", "p50 ms", 1.0, 1),
        ("latency_p99_ms", "p99 ms", 1.0, 1),
        ("latency_p999_ms", "p99.9 ms", 1.0, 1),
        ("timed_out", "timed out", 1.0, 1),
    ];
    let _ = writeln!(s, "{} — sweep, mean ± 95% CI over seeds", r.scenario);
    let _ = write!(s, "\n  {:<20} {:>6}", "variant", "seeds");
    for (_, heading, _, _) in figures {
        let _ = write!(s, " {heading:>16}");
    }
    s.push('\n');
    for v in &r.variants {
        let _ = write!(s, "  {:<20} {:>6}", v.variant, v.seeds);
        for (figure, _, k, digits) in figures {
            let _ = write!(s, " {:>16}", est(v.figures.get(figure), k, digits));
        }
        s.push('\n');
    }
    let _ = writeln!(s, "\nlatency (ms): each seed's p99, spread over seeds │ all successful requests, seeds pooled");
    let _ = writeln!(
        s,
        "  {:<20} {:>8} {:>8} {:>8} {:>8} │ {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "variant", "min", "p50", "p90", "max", "mean", "p50", "p90", "p99", "p99.9", "max"
    );
    for v in &r.variants {
        let o = v.p99_over_seeds;
        let spread = [o.map(|o| o.min), o.map(|o| o.p50), o.map(|o| o.p90), o.map(|o| o.max)];
        let cells = |xs: &[Option<f64>]| xs.iter().map(|&x| format!(" {:>8}", opt(x, 1))).collect::<String>();
        let _ = writeln!(s, "  {:<20}{} │{}", v.variant, cells(&spread), cells(&v.pooled_latency_ms.fields()));
    }
    let mut notes = String::new();
    for v in &r.variants {
        if !v.anomalies.is_empty() {
            let list: Vec<String> = v.anomalies.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let _ = writeln!(notes, "  anomalies in {}: {}", v.variant, list.join(", "));
        }
        for e in &v.expectations {
            let during = e.during.as_ref().map(|d| format!(" during `{d}`")).unwrap_or_default();
            let _ = writeln!(
                notes,
                "  {} [{}] {}{during} ({} over seeds): {}, failing on {}",
                if e.passed { "pass" } else { "FAIL" },
                v.variant,
                e.check,
                e.over_seeds.name(),
                e.estimate,
                count(e.failing, "seed")
            );
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
        let _ = writeln!(s, "\npaired differences (variant − baseline, same seeds and faults)");
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
    for v in &r.variants {
        for w in &v.worst_seeds {
            let _ = writeln!(
                s,
                "  {:<20} seed {:<6} success {:>6.2}% p99 {:>8} ms   {}",
                v.variant,
                w.seed,
                w.success_rate * 100.0,
                opt(w.latency_p99_ms, 1),
                w.replay
            );
        }
    }
    s
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
        let _ = writeln!(s, "\n[{}] {}", v.variant, count(v.seeds, "paired seed"));
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
    if !c.unmatched.is_empty() {
        let _ = writeln!(s, "\nnot compared (run by one side only): {}", c.unmatched.join(", "));
    }
    let _ = writeln!(s, "\n{}", if c.regressed { "REGRESSED" } else { "no regression" });
    s
}
