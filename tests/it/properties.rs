//! Properties over generated fault timelines (faultline_scenarios::testing), and the shrinker
//! on a planted bug.

use faultline_scenarios::testing::{self, Fault};
use faultline_scenarios::{Scenario, Source, shrink};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn planted() -> Scenario {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scenarios/planted-bug.toml");
    Scenario::parse(&Source {
        file: "tests/scenarios/planted-bug.toml".into(),
        text: std::fs::read_to_string(path).unwrap(),
    })
    .unwrap()
}

/// Timelines drawn from a fixed generator (the same ones every run).
fn timelines(sc: &Scenario, faults: std::ops::Range<usize>, n: usize) -> Vec<Vec<Fault>> {
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let s = testing::fault_timeline(sc, faults);
    (0..n).map(|_| s.new_tree(&mut runner).unwrap().current()).collect()
}

fn lost(sc: &Scenario, variant: &str, seed: u64) -> u64 {
    testing::run(sc, Some(variant), seed).unwrap().report.anomalies["lost_update"]
}

#[test]
fn a_strong_store_loses_no_acknowledged_write_under_any_generated_timeline() {
    let sc = planted();
    let mut caught = 0;
    for (i, faults) in timelines(&sc, 1..12, 12).iter().enumerate() {
        let with = testing::with_faults(&sc, faults).unwrap();
        let fixed = testing::run(&with, Some("fixed"), i as u64).unwrap().report;
        let c = fixed.databases[0].consistency.as_ref().unwrap();
        assert_eq!(c.lost_updates, 0, "timeline {i}: {faults:#?}");
        // And every history it records is linearizable, whatever the faults.
        assert_eq!(c.linearizable, Some(true), "timeline {i}: {:?}\n{faults:#?}", c.linearizability_violation);
        // The planted bug is found by the same property on some of the same timelines.
        caught += usize::from(lost(&with, "buggy", i as u64) > 0);
    }
    assert!(caught > 0, "the lost-update check never caught the planted bug");
}

#[test]
fn the_engine_is_deterministic_under_any_generated_timeline() {
    let sc = testing::catalog_scenario("cross-region-outage");
    for (i, faults) in timelines(&sc, 1..10, 6).iter().enumerate() {
        let with = testing::with_faults(&sc, faults).unwrap();
        let a = testing::run(&with, None, i as u64).unwrap().report;
        let b = testing::run(&with, None, i as u64).unwrap().report;
        assert_eq!((a.trace_hash, a.events), (b.trace_hash, b.events), "timeline {i}");
    }
}

#[test]
fn a_planted_bug_shrinks_from_twenty_faults_to_at_most_three() {
    let sc = planted();
    let (faults, seed) = timelines(&sc, 20..28, 200)
        .into_iter()
        .enumerate()
        .map(|(i, f)| (f, i as u64))
        .find(|(f, seed)| lost(&testing::with_faults(&sc, f).unwrap(), "buggy", *seed) > 0)
        .expect("some timeline of twenty-odd faults loses acknowledged writes");
    assert!(faults.len() >= 20);
    let scenario = testing::with_faults(&sc, &faults).unwrap();
    let check = shrink::parse_check(&scenario, "anomalies.lost_update == 0", None).unwrap();
    let failing = shrink::Failing { scenario, variant: "buggy".into(), seed, check };
    let s = shrink::shrink(failing, 400).unwrap();
    assert_eq!(s.faults_before, faults.len());
    assert!(s.faults_after <= 3, "{} faults left: {:#?}", s.faults_after, s.steps);
    assert!(s.value.unwrap() > 0.0, "the shrunk case still fails");
    // The printed test is the one in tests/it/shrunk.rs (which compiles and, marked
    // `should_panic`, fails): if the shrinker's output changes, paste the new one there.
    let printed = shrink::rust_test(&s);
    let committed = include_str!("shrunk.rs");
    assert!(committed.contains(&printed), "tests/it/shrunk.rs is out of date; the shrinker now prints:\n{printed}");
}

#[test]
fn the_queue_loses_no_message_under_any_generated_timeline() {
    // At-least-once: every message the broker accepted is, for each consumer group, acknowledged,
    // dead-lettered, or still waiting at the end — whatever crashed, partitioned or slowed.
    let sc = testing::catalog_scenario("queue-dead-letters");
    for (i, faults) in timelines(&sc, 1..10, 8).iter().enumerate() {
        let with = testing::with_faults(&sc, faults).unwrap();
        let groups = with.variant(None).unwrap().spec.queues[0].consumer_groups.len() as u64;
        let q = &testing::run(&with, None, i as u64).unwrap().report.queues[0];
        assert!(q.published > 0);
        assert_eq!(q.published * groups, q.acked + q.dead_lettered + q.backlog, "timeline {i}: {q:?}\n{faults:#?}");
    }
}

#[test]
fn every_saga_ends_completed_or_compensated_once_generated_faults_heal() {
    let sc = testing::catalog_scenario("checkout-outage");
    let mut checked = 0;
    for (i, faults) in timelines(&sc, 1..8, 12).iter().enumerate() {
        // Only timelines whose faults all heal within the scenario (the property is about after).
        if faults.iter().any(|f| f.duration_s.is_none_or(|d| f.start_s + d > 50.0)) {
            continue;
        }
        let with = testing::with_faults(&sc, faults).unwrap();
        for design in ["orchestrated", "choreographed"] {
            let r = testing::run(&with, Some(design), i as u64).unwrap().report;
            let w = &r.workflows[0];
            assert!(w.sagas > 0);
            assert_eq!(w.inconsistent, 0, "{design}, timeline {i}: {:?}\n{faults:#?}", w.anomalies);
            assert!(w.anomalies.values().all(|&n| n == 0), "{design}, timeline {i}: {:?}", w.anomalies);
        }
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} timelines healed in time");
}
