//! Per-component time series: they add up to the run's totals, show the lessons over time, and
//! sampling them leaves the run itself unchanged.

use faultline_models::RunReport;
use faultline_scenarios::{Compiled, Scenario, Source, catalog, runner};

fn scenario(name: &str) -> Scenario {
    let e = catalog::get(name).unwrap();
    Scenario::parse(&Source { file: name.into(), text: e.text.into() }).unwrap()
}

fn run(name: &str, variant: Option<&str>, seed: u64) -> RunReport {
    runner::run(&scenario(name).variant(variant).unwrap(), seed, None).unwrap().0
}

fn sum(v: &[u64]) -> u64 {
    v.iter().sum()
}

#[test]
fn component_series_add_up_to_the_totals_in_every_catalog_scenario() {
    for e in catalog::CATALOG {
        let r = run(e.name, None, 2);
        let n = r.timeseries.t_s.len();
        assert_eq!(n, windows_of_the_run(&r), "{}", e.name);
        assert_every_series_has(&r, n, e.name);
        for b in &r.balancers {
            assert_eq!(sum(&b.timeseries.forwarded), b.forwarded, "{}: {}", e.name, b.name);
            assert_eq!(sum(&b.timeseries.no_backend), b.no_backend);
            assert_eq!(sum(&b.timeseries.timeouts), b.timeouts);
            assert_eq!(
                b.timeseries.ejected.as_ref().map(|e| *e.last().unwrap()),
                b.ejected,
                "the last window ends now"
            );
        }
        for c in &r.caches {
            assert_eq!((sum(&c.timeseries.hits), sum(&c.timeseries.misses)), (c.hits, c.misses), "{}", e.name);
            assert_eq!(sum(&c.timeseries.backend_reads), c.backend_reads);
            assert_eq!(sum(&c.timeseries.coalesced), c.coalesced);
            assert_eq!(c.timeseries.shed.as_deref().map(sum), c.shed, "{}: {}", e.name, c.name);
        }
        for q in &r.queues {
            assert_eq!(sum(&q.timeseries.published), q.published, "{}", e.name);
            assert_eq!(sum(&q.timeseries.acked), q.acked);
            assert_eq!(sum(&q.timeseries.dead_lettered), q.dead_lettered);
            assert_eq!(*q.timeseries.backlog.last().unwrap(), q.backlog, "the last window ends now");
            assert_eq!(*q.timeseries.oldest_age_ms.last().unwrap(), q.oldest_age_ms, "{}", e.name);
            assert!(q.timeseries.oldest_age_ms.iter().zip(&q.timeseries.backlog).all(|(&a, &b)| b > 0 || a == 0.0));
            assert!(q.timeseries.backlog.iter().all(|&b| b <= q.max_backlog));
        }
        for v in &r.services {
            let t = &v.timeseries;
            assert_eq!(sum(&t.retries), v.downstream_retries, "{}: {}", e.name, v.name);
            assert_eq!(sum(&t.timeouts), v.downstream_timeouts);
            // Windows of equal length over the duration: their mean is the run's time average.
            let full = (r.sim_time_ns / (r.timeseries.window_ms * 1e6) as u64) as usize;
            let covered: Vec<f64> = t.utilisation.iter().copied().take(full).collect();
            let mean = covered.iter().sum::<f64>() / covered.len().max(1) as f64;
            assert!(
                (mean - v.utilisation).abs() < 0.01 + 0.02 * v.utilisation,
                "{}: {mean} vs {}",
                e.name,
                v.utilisation
            );
        }
        for d in &r.databases {
            for (s, load) in d.shard_load.iter().enumerate() {
                assert_eq!(sum(&d.timeseries.shard_served[s]), *load, "{}: shard {s}", e.name);
            }
            assert_eq!(sum(&d.timeseries.served), d.served, "{}", e.name);
            // `failed` also counts injected error answers, which have no total of their own.
            assert!(sum(&d.timeseries.failed) >= d.unavailable + d.rejected);
            assert_eq!(sum(&d.timeseries.redirects), d.redirects);
        }
    }
}

/// Windows from 0 to the end of the run, the last one partial.
fn windows_of_the_run(r: &RunReport) -> usize {
    r.sim_time_ns.div_ceil((r.timeseries.window_ms * 1e6) as u64) as usize
}

fn assert_every_series_has(r: &RunReport, n: usize, ctx: &str) {
    let t = &r.timeseries;
    for (what, len) in
        [("t_s", t.t_s.len()), ("ok", t.ok.len()), ("timed_out", t.timed_out.len()), ("p99", t.p99_ms.len())]
    {
        assert_eq!(len, n, "{ctx}: timeseries.{what}");
    }
    for b in &r.balancers {
        assert_eq!(b.timeseries.forwarded.len(), n, "{ctx}: {}", b.name);
        assert!(b.timeseries.tier.len() == n || b.failover.is_empty() && b.timeseries.tier.is_empty());
        assert!(b.timeseries.ejected.as_ref().is_none_or(|e| e.len() == n), "{ctx}: {}", b.name);
    }
    for v in &r.services {
        assert_eq!((v.timeseries.arrivals.len(), v.timeseries.utilisation.len()), (n, n), "{ctx}: {}", v.name);
    }
    for c in &r.caches {
        assert_eq!(c.timeseries.hits.len(), n, "{ctx}: {}", c.name);
    }
    for q in &r.queues {
        assert_eq!((q.timeseries.published.len(), q.timeseries.backlog.len()), (n, n), "{ctx}: {}", q.name);
        assert_eq!(q.timeseries.oldest_age_ms.len(), n, "{ctx}: {}", q.name);
    }
    for d in &r.databases {
        assert_eq!((d.timeseries.served.len(), d.timeseries.leaderless_shards.len()), (n, n), "{ctx}: {}", d.name);
    }
}

#[test]
fn every_series_covers_the_run_when_requests_stop_early() {
    // The shoppers of cross-region-outage go down at 44 s for good: no request ends after
    // that, yet the run lasts until the end of sending (60 s; it used to idle on to its drain
    // cap, but ended elsewhere when run in slices). Every series must still cover the whole run
    // (they used to stop at the last request's window, and a component's at the window of the
    // last event, so one fault event more late in a run changed their length;
    // `a_fault_cut_in_two_or_covered_twice_is_the_same_fault` found it).
    let sc = scenario("cross-region-outage");
    let text = format!("{}\n[[fault]]\nkind = \"node-crash\"\nnode = \"shoppers\"\nstart_s = 44\n", sc.source.text);
    let sc = Scenario::parse(&Source { file: "late-crash.toml".into(), text }).unwrap();
    let r = runner::run(&sc.variant(None).unwrap(), 31, None).unwrap().0;
    let n = windows_of_the_run(&r);
    assert_eq!((r.sim_time_ns, n as f64 * r.timeseries.window_ms), (60_000_000_000, 60_000.0), "{n} windows");
    assert_every_series_has(&r, n, "late crash");
    assert_eq!(r.timeseries.ok[n - 1], 0);
}

#[test]
fn sampling_windows_do_not_change_the_run() {
    let sc = scenario("queue-dead-letters");
    let c = sc.variant(None).unwrap();
    let a = runner::run(&c, 4, None).unwrap().0;
    let mut spec = c.spec.clone();
    spec.window = 700_000_000;
    let b = runner::run(&Compiled { spec: &spec, ..c }, 4, None).unwrap().0;
    assert_eq!((a.trace_hash, a.events), (b.trace_hash, b.events));
    assert_ne!(a.queues[0].timeseries.published.len(), b.queues[0].timeseries.published.len());
    assert_eq!(sum(&a.queues[0].timeseries.acked), sum(&b.queues[0].timeseries.acked));
}

#[test]
fn series_show_when_things_happened() {
    // The consumers of queue-dead-letters fail from 20 s to 30 s: nothing is acknowledged and
    // everything published then is dead-lettered; before and after, nothing is.
    let r = run("queue-dead-letters", None, 1);
    let (w, q) = (r.timeseries.window_ms / 1000.0, &r.queues[0].timeseries);
    let window = |t: f64| (t / w) as usize;
    assert!(q.dead_lettered[window(22.0)] > 0 && q.dead_lettered[window(2.0)] == 0);
    assert!(q.acked[window(22.0)] < q.acked[window(2.0)] / 10);
    // Its consumers crash from 40 s to 50 s: the oldest message's age then grows with the
    // outage (it is read at each window's end: 45 s and 50 s), and is back to milliseconds once
    // they return; before, it stays in milliseconds even while they fail (a failed message
    // is redelivered at once).
    let age = &q.oldest_age_ms;
    assert!((4_500.0..5_000.0).contains(&age[window(42.0)]), "{age:?}");
    assert!((9_500.0..10_000.0).contains(&age[window(47.0)]), "{age:?}");
    assert!(age[..window(40.0)].iter().chain(&age[window(52.0)..]).all(|&a| a < 100.0), "{age:?}");
    // A cache flush at 20 s: the hit ratio drops in the window after it.
    let r = run("cache-stampede", None, 1);
    let (w, c) = (r.timeseries.window_ms / 1000.0, &r.caches[0].timeseries);
    let window = |t: f64| (t / w) as usize;
    assert!(c.hit_ratio[window(21.0)] < c.hit_ratio[window(18.0)], "{:?}", c.hit_ratio);
}

#[test]
fn a_long_drain_keeps_its_windows() {
    // Requests sent during the first 10 s wait at a stuck service; the balancer gives up on each
    // 25 s after it was sent, so its timeouts fall 25–30 s in — 1 500–2 000 windows of 10 ms after
    // the end, more than the 1 000 the sampler used to keep past it (it then lumped them all into
    // the last kept window).
    let text = r#"
[scenario]
name = "long-drain"
duration_s = 10
window_ms = 10

[[region]]
name = "r"
zones = ["a"]

[[service]]
name = "stuck"
region = "r"
instances = 1
workers = 1
queue_capacity = 1000
service_time = { dist = "constant", value_ms = 15000 }

[[load_balancer]]
name = "lb"
zone = "a"
service = "stuck"
timeout_ms = 25000

[[workload]]
name = "users"
zone = "a"
target = "lb"
arrival = { process = "constant", rate_per_s = 10 }
timeout_ms = 20000
"#;
    let sc = Scenario::parse(&Source { file: "long-drain.toml".into(), text: text.into() }).unwrap();
    let r = runner::run(&sc.variant(None).unwrap(), 1, None).unwrap().0;
    let t = &r.balancers[0].timeseries.timeouts;
    assert!(r.balancers[0].timeouts > 40, "{}", r.balancers[0].timeouts);
    assert_eq!(sum(t), r.balancers[0].timeouts);
    // Each timeout in the window of its time: 25 s after a send at 0.1 s steps, one per 10 windows.
    let windows: Vec<usize> = t.iter().enumerate().filter(|&(_, &n)| n > 0).map(|(i, _)| i).collect();
    assert!(windows.iter().all(|&i| (2500..3000).contains(&i)), "{windows:?}");
    assert!(t.iter().all(|&n| n <= 1), "no window lumps several: {windows:?}");
}

#[test]
fn a_window_passed_with_no_event_ends_its_averages_at_its_boundary() {
    // One request keeps the only worker busy from 0.5 s for 100 s; nothing else happens until
    // the client's timeout at 10.5 s. Stopped at 2.5 s (as the terminal UI pauses a run), the
    // clock has passed the 2 s boundary with no event: window 1 is busy for exactly its second
    // and the partial window 2 for its half second (averaged over a whole window). Before,
    // window 1 took in the half second after its end (150% busy) and window 2 got nothing; a
    // run idling to its end had its last full window overstated the same way.
    let text = r#"
[scenario]
name = "idle"
duration_s = 1
window_ms = 1000

[topology.latency]
same_zone = { dist = "constant", value_ms = 0 }

[[region]]
name = "r"
zones = ["z"]

[[service]]
name = "s"
zones = ["z"]
workers = 1
service_time = { dist = "constant", value_ms = 100000 }

[[workload]]
name = "w"
zone = "z"
target = "s"
arrival = { process = "constant", rate_per_s = 2 }
timeout_ms = 10000
"#;
    let sc = Scenario::parse(&Source { file: "idle.toml".into(), text: text.into() }).unwrap();
    let c = sc.variant(None).unwrap();
    let mut w = faultline_models::World::new(c.spec, 1, c.budget);
    w.run_until(2_500_000_000).unwrap();
    let r = RunReport::build(&w, &sc.name, c.variant);
    let s = &r.services[0];
    assert_eq!(s.arrivals, 1);
    assert_eq!(s.timeseries.utilisation, vec![0.5, 1.0, 0.5], "stopped at 2.5 s");
    // The whole run: busy from 0.5 s until the run drains at the client's timeout, 10.5 s.
    w.run().unwrap();
    let r = RunReport::build(&w, &sc.name, c.variant);
    let u = &r.services[0].timeseries.utilisation;
    assert_eq!((r.sim_time_ns, u.len()), (10_500_000_000, 11));
    assert!(u[1..10].iter().all(|&x| x == 1.0) && u[0] == 0.5 && u[10] == 0.5, "{u:?}");
}

/// A front service that propagates deadlines calls a cache that does too, with
/// `min_time_left_ms = 30` of the clients' 100 ms. At 150 requests/s the front's 4 workers
/// (5 ms each: 800/s) hardly queue, so a request reaches the cache with ~95 ms left and
/// nothing is shed. From 10 s to 20 s the load is six times that (900/s): the front's queue
/// grows until it drops what waited past the deadline, so many requests wait 65–100 ms and
/// reach the cache with less than 30 ms left, where a miss is shed (measured: 1 884 and 1 645
/// on seeds 1 and 2, 100–270 in each overloaded window). Afterwards the queue drains within a
/// second. The cache's `shed` series shows when: none before the overload, some in each of its
/// windows, and the windows add up to the total.
#[test]
fn a_cache_shed_series_shows_when_it_shed() {
    let text = |knob: &str| {
        format!(
            r#"
[scenario]
name = "cache-shed"
duration_s = 30
window_ms = 1000

[topology.latency]
same_zone = {{ dist = "constant", value_ms = 0.2 }}

[[region]]
name = "r"
zones = ["z"]

[[workload]]
name = "w"
zone = "z"
target = "api"
arrival = {{ process = "poisson", rate_per_s = 150 }}
phases = [{{ start_s = 10, end_s = 20, multiplier = 6 }}]
timeout_ms = 100
keys = {{ count = 100000, distribution = "zipf", s = 0.8 }}

[[service]]
name = "api"
zones = ["z"]
workers = 4
queue_capacity = 100000
propagate_deadlines = true
service_time = {{ dist = "constant", value_ms = 5 }}
calls = [{{ target = "cache", timeout_ms = 1000 }}]

[[cache]]
name = "cache"
zone = "z"
capacity = 1000
{knob}
backend = {{ target = "db", timeout_ms = 1000 }}

[[service]]
name = "db"
zones = ["z"]
workers = 16
service_time = {{ dist = "constant", value_ms = 2 }}
"#
        )
    };
    let run = |knob: &str, seed: u64| {
        let sc = Scenario::parse(&Source { file: "cache-shed.toml".into(), text: text(knob) }).unwrap();
        runner::run(&sc.variant(None).unwrap(), seed, None).unwrap().0
    };
    for seed in [1, 2] {
        let r = run("propagate_deadlines = true\nmin_time_left_ms = 30", seed);
        let c = &r.caches[0];
        let shed = c.timeseries.shed.as_ref().expect("a cache that propagates deadlines has a shed series");
        let total = c.shed.unwrap();
        println!("seed {seed}: shed {total}, per window {shed:?}");
        assert_eq!(shed.len(), c.timeseries.hits.len());
        assert_eq!(sum(shed), total, "seed {seed}: the windows add up to the total");
        assert!(shed[..10].iter().all(|&n| n == 0), "seed {seed}: nothing shed before the overload: {shed:?}");
        assert!(shed[10..20].iter().all(|&n| n > 0), "seed {seed}: shed in every overloaded window: {shed:?}");
        assert!(sum(&shed[10..20]) > 9 * sum(&shed[20..]), "seed {seed}: shed during the overload: {shed:?}");
    }
    // Without `propagate_deadlines` the cache sheds nothing and has no shed series, as it has
    // no `shed` total: its report is as it was.
    let r = run("", 1);
    assert_eq!((r.caches[0].shed, &r.caches[0].timeseries.shed), (None, &None));
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["caches"][0]["timeseries"].get("shed").is_none(), "{}", json["caches"][0]["timeseries"]);
}
