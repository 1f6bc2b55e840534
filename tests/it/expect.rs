//! Scenario expectations (`[[expect]]`) gate `run` and `sweep` with exit code 1.

use crate::bin::faultline;

const SCENARIO: &str = "tests/scenarios/expectations.toml";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn run_passes_when_every_expectation_holds_and_fails_with_the_figure_otherwise() {
    let o = faultline(&["run", SCENARIO, "--variant", "robust", "--seed", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("expectations (2 of 2 passed)"), "{}", text(&o.stdout));
    let o = faultline(&["run", SCENARIO, "--variant", "fragile", "--seed", "3", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("expectation failed: `success_rate >= 0.99` during `a down`: the figure was 0.5"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let verdicts = v["expectations"].as_array().unwrap();
    assert_eq!(verdicts.len(), 2, "the robust-only check does not apply");
    assert_eq!((verdicts[0]["passed"].as_bool(), verdicts[1]["passed"].as_bool()), (Some(true), Some(false)));
    // Without retries half the requests sent during the outage go to dead instances.
    let during = verdicts[1]["value"].as_f64().unwrap();
    assert!((during - 0.5).abs() < 0.05, "{during}");
}

#[test]
fn sweep_gates_on_expectations_over_seeds() {
    let o = faultline(&["sweep", SCENARIO, "--seeds", "1..9", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let robust = &v["variants"][0]["expectations"];
    let fragile = &v["variants"][1]["expectations"];
    assert_eq!(robust[1]["passed"], true, "{robust}");
    // 1 − (1/2)^3 of the requests sent during the outage succeed with 3 attempts.
    let mean = robust[1]["estimate"]["mean"].as_f64().unwrap();
    assert!((mean - 0.875).abs() < 0.02, "{mean}");
    assert_eq!((fragile[1]["passed"].as_bool(), fragile[1]["failing"].as_u64()), (Some(false), Some(8)));
    assert!(text(&o.stderr).contains("[fragile] `success_rate >= 0.99` during `a down` over seeds (each)"));
    let o = faultline(&["sweep", SCENARIO, "--seeds", "1..5", "--variant", "robust"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}
