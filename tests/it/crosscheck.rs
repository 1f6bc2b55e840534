//! `faultline crosscheck` end to end: the engine and the turmoil hosts side by side.

use serde_json::Value;

use crate::bin::{describe, expect_code, stderr};

/// The checkout comparison's sync design (an outage, then slow payments: 40 s, 4 000 checkouts)
/// through both: the same checkouts start, and their outcomes agree but for the few whose
/// events fall within the rounding of an edge.
#[test]
fn crosscheck_runs_a_catalog_scenario_both_ways() {
    let args = ["crosscheck", "checkout-outage", "--json"];
    let o = expect_code(&args, 0);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&args, &o)));
    assert_eq!((r["variant"].as_str(), r["seed"].as_u64(), r["tick_ms"].as_f64()), (Some("sync"), Some(1), Some(1.0)));
    let w = &r["workloads"][0];
    let n = |side: &str, k: &str| w[side]["requests"][k].as_u64().unwrap();
    assert_eq!(n("engine", "total"), n("turmoil", "total"));
    assert!(n("engine", "total") > 3_000);
    for k in ["ok", "failed", "timed_out"] {
        assert!(n("engine", k).abs_diff(n("turmoil", k)) <= 10, "{k}: {w}");
    }
    assert!(r["messages"].as_u64().unwrap() > 10_000, "{r}");
    // The engine's run within the scenario's budget, as for `run`.
    expect_code(&["crosscheck", "checkout-outage", "--set", "scenario.max_events=1000"], 3);
    let o = expect_code(&["crosscheck", "checkout-outage", "--tick-ms", "0"], 2);
    assert!(stderr(&o).contains("--tick-ms 0: expected 0.001 to 1000 ms"), "{}", stderr(&o));
}
