//! Each catalog scenario exists to show something; these tests assert that it does.

use faultline_models::RunReport;
use faultline_scenarios::{Scenario, Source, catalog, runner};

fn run(name: &str, variant: &str, seed: u64) -> RunReport {
    let e = catalog::get(name).unwrap();
    let sc = Scenario::parse(&Source { file: name.into(), text: e.text.into() }).unwrap();
    runner::run(&sc.variant(Some(variant)).unwrap(), seed, None).unwrap().0
}

/// Fraction of requests resolved in windows [from, to) that succeeded.
fn goodput(r: &RunReport, from_s: f64, to_s: f64) -> f64 {
    let ts = &r.timeseries;
    let (mut ok, mut all) = (0, 0);
    for i in 0..ts.t_s.len() {
        if ts.t_s[i] >= from_s && ts.t_s[i] < to_s {
            ok += ts.ok[i];
            all += ts.ok[i] + ts.failed[i] + ts.timed_out[i];
        }
    }
    ok as f64 / all.max(1) as f64
}

#[test]
fn retry_storm_outlives_its_trigger_with_aggressive_retries_and_recovers_with_a_budget() {
    for seed in [1, 2] {
        let storm = run("retry-storm", "aggressive-retries", seed);
        let budget = run("retry-storm", "retry-budget", seed);
        let none = run("retry-storm", "no-retries", seed);
        // Before the trigger (0–20 s) everyone is healthy.
        for r in [&storm, &budget, &none] {
            assert!(goodput(r, 0.0, 20.0) > 0.99, "{}: {}", r.variant, goodput(r, 0.0, 20.0));
        }
        // The slowdown ends at 30 s. Thirty seconds later the storm is still raging...
        assert!(goodput(&storm, 60.0, 90.0) < 0.05, "storm: {}", goodput(&storm, 60.0, 90.0));
        // ...while the budget and no-retry designs have long recovered.
        assert!(goodput(&budget, 60.0, 90.0) > 0.99, "budget: {}", goodput(&budget, 60.0, 90.0));
        assert!(goodput(&none, 60.0, 90.0) > 0.99, "none: {}", goodput(&none, 60.0, 90.0));
        assert!(storm.workloads[0].retries > 10 * budget.workloads[0].retries);
        assert!(budget.workloads[0].retry_budget_exhausted > 0);
    }
}
