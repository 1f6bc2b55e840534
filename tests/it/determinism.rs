//! Determinism and stream independence, through the library (no process spawning).

use faultline_scenarios::{Scenario, Source, catalog, runner};

fn scenario(text: &str) -> Scenario {
    Scenario::parse(&Source { file: "test.toml".into(), text: text.into() })
        .unwrap_or_else(|e| panic!("{}", e.errors.iter().map(|e| e.one_line()).collect::<Vec<_>>().join("\n")))
}

/// A region with its own workload and service that never talks to the rest (also used by
/// tests/it/properties.rs).
pub(crate) const UNRELATED: &str = r#"
[[region]]
name = "ap-south"
zones = ["ap-south-a"]

[[service]]
name = "reports"
zones = ["ap-south-a"]
instances = 3
workers = 2
service_time = { dist = "exponential", mean_ms = 30 }

[[workload]]
name = "analysts"
zone = "ap-south-a"
target = "reports"
arrival = { process = "poisson", rate_per_s = 50 }
timeout_ms = 500
retry = { max_attempts = 3 }

[[fault]]
kind = "slow"
targets = ["reports"]
factor = 4
start_s = 10
end_s = 30
"#;

#[test]
fn adding_an_unrelated_component_does_not_change_the_others_draws() {
    let base_text = catalog::get("cross-region-outage").unwrap().text;
    // Insert before the first [[variant]] so variants still apply to the whole document.
    let cut = base_text.find("[[variant]]").unwrap();
    let extended_text = format!("{}{}\n{}", &base_text[..cut], UNRELATED, &base_text[cut..]);
    let base = scenario(base_text);
    let extended = scenario(&extended_text);
    for v in &base.variants {
        let (a, _) = runner::run(&base.variant(Some(&v.name)).unwrap(), 3, None).unwrap();
        let (b, _) = runner::run(&extended.variant(Some(&v.name)).unwrap(), 3, None).unwrap();
        assert_ne!(a.trace_hash, b.trace_hash, "the extended world has more events");
        let shoppers = |r: &faultline_models::RunReport| r.workloads.iter().find(|w| w.name == "shoppers").cloned();
        assert_eq!(shoppers(&a), shoppers(&b), "workload figures of variant {}", v.name);
        for name in ["web", "inventory"] {
            let svc = |r: &faultline_models::RunReport| r.services.iter().find(|s| s.name == name).cloned();
            assert_eq!(svc(&a), svc(&b), "service {name} of variant {}", v.name);
        }
        assert_eq!(a.balancers, b.balancers);
        let reports = b.services.iter().find(|s| s.name == "reports").unwrap();
        assert!(reports.arrivals > 1000, "the unrelated component really ran");
    }
}

/// An unnamed loss fault, after a fault that changes nothing (a latency of +0 ms) or without it:
/// the same drops, since an unnamed fault is named by what it is, not by its position, and a
/// link fault's draws are keyed by its name (before simulation revision 9 the loss was
/// `loss#0` alone and `loss#1` after the other, and dropped other messages).
#[test]
fn a_fault_added_before_an_unnamed_one_does_not_move_its_draws() {
    const NOTHING: &str = "[[fault]]\nkind = \"latency\"\nfrom = [\"us-east\"]\nto = [\"eu-west\"]\nadded_ms = 0\nstart_s = 1\nend_s = 2\n\n";
    const LOSS: &str = "[[fault]]\nkind = \"loss\"\nfrom = [\"us-east\"]\nto = [\"eu-west\"]\nprobability = 0.2\nstart_s = 5\nend_s = 25\n\n";
    let text = catalog::get("cross-region-outage").unwrap().text;
    let (start, end) = (text.find("[[fault]]").unwrap(), text.find("[[variant]]").unwrap());
    let with = |faults: &str| scenario(&format!("{}{faults}{}", &text[..start], &text[end..]));
    let (alone, after) = (with(LOSS), with(&format!("{NOTHING}{LOSS}")));
    for v in &alone.variants {
        let figures = |sc: &Scenario| {
            let (r, _) = runner::run(&sc.variant(Some(&v.name)).unwrap(), 3, None).unwrap();
            let mut j = serde_json::to_value(&r).unwrap();
            for k in ["faults", "events", "trace_hash"] {
                j[k] = serde_json::Value::Null;
            }
            j
        };
        let a = figures(&alone);
        assert!(a["network"]["dropped_loss"].as_u64().unwrap() > 100, "the loss must act");
        assert_eq!(a, figures(&after), "variant {}", v.name);
    }
}

#[test]
fn same_seed_same_trace_hash_for_every_catalog_variant() {
    for e in catalog::CATALOG {
        let sc = scenario(e.text);
        for v in &sc.variants {
            let c = sc.variant(Some(&v.name)).unwrap();
            let (a, _) = runner::run(&c, 11, None).unwrap();
            let (b, _) = runner::run(&c, 11, None).unwrap();
            assert_eq!(a, b, "{} [{}]", e.name, v.name);
            let (d, _) = runner::run(&c, 12, None).unwrap();
            assert_ne!(a.trace_hash, d.trace_hash, "{} [{}]: seeds must matter", e.name, v.name);
        }
    }
}

/// The simulation revision the hashes below were taken at.
const PINNED_AT: u32 = 16;

/// The trace hash of every catalog scenario and variant at seed 11, at simulation revision
/// [`PINNED_AT`].
const PINNED: &[(&str, &str, &str)] = &[
    ("cache-stampede", "no-coalescing", "b5271ffadf1ef53b"),
    ("cache-stampede", "coalescing", "14eb263a8df5e195"),
    ("cache-stampede", "deadlines", "c2c185f685f28793"),
    ("checkout-outage", "sync", "db667c2a9c9ad28f"),
    ("checkout-outage", "orchestrated", "7c914a463d8445e6"),
    ("checkout-outage", "choreographed", "48c6a27d014fc775"),
    ("circuit-breaker", "no-breaker", "728ec2e901c4790d"),
    ("circuit-breaker", "breaker", "ad7ee6a465cecb2c"),
    ("cross-region-outage", "retry-once", "cebaae7a2e1d53e0"),
    ("cross-region-outage", "fail-fast", "d35f0aecbc3a772d"),
    ("database-failover", "sync-replication", "4aef510e03b49599"),
    ("database-failover", "async-replication", "b24bbf1a5da311e8"),
    ("fast-failing-instance", "least-outstanding", "0465f150cc156325"),
    ("fast-failing-instance", "round-robin", "a2d5b56b538d3db1"),
    ("fast-failing-instance", "outlier-detection", "eb9b0ae597666f08"),
    ("fast-failing-instance", "client-side", "f13854323e63d5cc"),
    ("hot-shard", "range-sharding", "49eb527bb870ff09"),
    ("hot-shard", "hash-sharding", "9bd23e4badd1808d"),
    ("partition-consistency", "strong", "df3c0ccfd8e2f184"),
    ("partition-consistency", "eventual", "ff4e5283460be317"),
    ("partition-consistency", "strong-no-pre-vote", "7bc64e63f843b22f"),
    ("queue-dead-letters", "three-attempts", "9756e4b5bca9a614"),
    ("queue-dead-letters", "patient", "c7d6c90473f0b2ec"),
    ("queueing-near-saturation", "load-50", "c96d6c02ca9637c8"),
    ("queueing-near-saturation", "load-80", "2a3c3caaeff61ebb"),
    ("queueing-near-saturation", "load-90", "203d56f2a58fac96"),
    ("queueing-near-saturation", "load-95", "be946fd75a43889c"),
    ("queueing-near-saturation", "load-99", "933c3748f2bf0ff9"),
    ("region-failover", "active-passive", "5b987a4fe29a1354"),
    ("region-failover", "active-active", "d85d94bb8b293796"),
    ("retry-storm", "aggressive-retries", "575048a51068a754"),
    ("retry-storm", "retry-budget", "7d580c9fa33135c6"),
    ("retry-storm", "no-retries", "1719d9923c77d022"),
    ("retry-storm", "queue-timeout", "43e1093c3d99710a"),
    ("retry-storm", "deadlines", "8f3414eab50dbb68"),
    ("retry-storm", "deadlines-margin", "b2af48e44ee23810"),
    ("retry-storm", "rate-limit", "be6437848c7ddb5d"),
    ("slow-instance", "round-robin", "4b9a25febcfea5fb"),
    ("slow-instance", "random", "8db8b5f40adbe79a"),
    ("slow-instance", "least-outstanding", "5ccb6e5bef8df3a9"),
    ("slow-instance", "power-of-two", "ef97c4b765154119"),
    ("tail-at-scale", "no-hedging", "40f16224280ac921"),
    ("tail-at-scale", "hedged", "a4f68bed6c06678e"),
];

#[test]
fn catalog_trace_hashes_are_pinned_to_the_simulation_revision() {
    let mut now = Vec::new();
    for e in catalog::CATALOG {
        let sc = scenario(e.text);
        for v in &sc.variants {
            let c = sc.variant(Some(&v.name)).unwrap();
            let (r, _) = runner::run(&c, 11, None).unwrap();
            now.push((e.name.to_owned(), v.name.clone(), r.trace_hash));
        }
    }
    let pinned: Vec<_> = PINNED.iter().map(|&(s, v, h)| (s.to_owned(), v.to_owned(), h.to_owned())).collect();
    let table: String = now.iter().map(|(s, v, h)| format!("    (\"{s}\", \"{v}\", \"{h}\"),\n")).collect();
    // Scenarios or variants added to (or removed from) the catalog change the table, not the
    // revision, as long as every pair in both has its pinned trace.
    let changed = pinned.iter().any(|(s, v, h)| now.iter().any(|(s2, v2, h2)| (s, v) == (s2, v2) && h != h2));
    assert!(
        changed || pinned == now,
        "the catalog's scenarios or variants changed, but no pinned trace did: paste this as PINNED \
         (the revision stays):\n{table}"
    );
    assert!(
        pinned == now && PINNED_AT == faultline_models::SIM_REVISION,
        "the catalog's traces at seed 11 are not the ones pinned at simulation revision {PINNED_AT} \
         (this build: revision {}). If the change is meant to make runs differ, bump SIM_REVISION \
         in models/src/lib.rs, set PINNED_AT to it and paste this as PINNED:\n{table}",
        faultline_models::SIM_REVISION
    );
}

#[test]
fn catalog_list_matches_the_catalog_directory() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/catalog");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut listed: Vec<String> = catalog::CATALOG.iter().map(|e| e.name.to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed);
    for e in catalog::CATALOG {
        assert_eq!(scenario(e.text).name, e.name, "a catalog file's [scenario] name is its file name");
    }
}

#[test]
fn cross_region_outage_shows_the_outage_and_the_fail_fast_lesson() {
    let sc = scenario(catalog::get("cross-region-outage").unwrap().text);
    let (retry, _) = runner::run(&sc.variant(Some("retry-once")).unwrap(), 1, None).unwrap();
    let (fast, _) = runner::run(&sc.variant(Some("fail-fast")).unwrap(), 1, None).unwrap();
    for r in [&retry, &fast] {
        let ts = &r.timeseries;
        let err = |i: usize| {
            let n = ts.ok[i] + ts.failed[i] + ts.timed_out[i];
            (ts.failed[i] + ts.timed_out[i]) as f64 / n.max(1) as f64
        };
        // 5 s windows: 0–20 s healthy, 20–40 s eu-west down, 45 s on recovered.
        for i in 0..4 {
            assert!(err(i) < 0.01, "{} window {i} before the outage: {}", r.variant, err(i));
        }
        for i in 5..8 {
            assert!(err(i) > 0.9, "{} window {i} during the outage: {}", r.variant, err(i));
        }
        for i in 9..12 {
            assert!(err(i) < 0.01, "{} window {i} after recovery: {}", r.variant, err(i));
        }
    }
    // Retrying a dead dependency holds workers longer: more client timeouts and a worse tail.
    assert!(retry.requests.timed_out > 10 * fast.requests.timed_out.max(1));
    assert!(retry.latency_ms.p99.unwrap() > 2.0 * fast.latency_ms.p99.unwrap());
}

#[test]
fn injected_fault_is_applied_logged_and_hashed_like_a_scheduled_one() {
    use faultline_models::World;
    use faultline_sim::net::{FaultKind, Scope};
    let sc = scenario(catalog::get("cross-region-outage").unwrap().text);
    let c = sc.variant(None).unwrap();
    let mut spec = c.spec.clone();
    spec.faults.clear();
    let run = |inject: bool| {
        let mut w = World::new(&spec, 5, c.budget);
        w.run_until(10_000_000_000).unwrap();
        if inject {
            let eu = w.net.topo().region_id("eu-west").unwrap();
            w.inject("manual eu-west outage", FaultKind::Outage { scope: Scope::Region(eu) }, Some(5_000_000_000));
        }
        w.run().unwrap();
        faultline_models::RunReport::build(&w, "x", "y")
    };
    let (plain, injected) = (run(false), run(true));
    assert_ne!(plain.trace_hash, injected.trace_hash);
    assert_eq!(injected.faults.len(), 2);
    assert!(injected.faults[0].injected && injected.faults[0].phase == "start" && injected.faults[0].t_ms == 10_000.0);
    assert_eq!(injected.faults[1].t_ms, 15_000.0);
    assert_eq!(plain.requests.failed + plain.requests.timed_out, 0);
    assert!(injected.requests.failed + injected.requests.timed_out > 1000);
    // The same injection at the same point replays to the same hash.
    assert_eq!(run(true).trace_hash, injected.trace_hash);
}
