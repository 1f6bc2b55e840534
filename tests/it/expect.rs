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

/// A service down for the whole run: nothing succeeds, so there is no latency. Latency checks
/// must fail for want of a value; read as 0 ms, `p99_ms < 100` passed on a total outage.
#[test]
fn latency_checks_fail_when_nothing_succeeds() {
    let source = std::fs::read_to_string(SCENARIO).unwrap();
    let (head, _) = source.split_once("[[fault]]").unwrap();
    let down = format!(
        "{head}[[fault]]\nname = \"all down\"\nkind = \"zone-outage\"\nzone = \"us-a\"\nstart_s = 0\n\n\
         [[fault]]\nname = \"b down\"\nkind = \"zone-outage\"\nzone = \"us-b\"\nstart_s = 0\n\n\
         [[expect]]\ncheck = \"p99_ms < 100\"\n\n[[expect]]\ncheck = \"p99_ms < 100\"\nduring = \"all down\"\n"
    );
    let dir = crate::bin::temp_path("no-latency");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("down.toml");
    std::fs::write(&file, down).unwrap();
    let file = file.to_str().unwrap();
    let o = faultline(&["run", file, "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["requests"]["ok"], 0, "{}", v["requests"]);
    assert!(v["latency_ms"].as_object().unwrap().values().all(serde_json::Value::is_null), "{}", v["latency_ms"]);
    assert!(v["timeseries"]["p99_ms"].as_array().unwrap().iter().all(serde_json::Value::is_null));
    for e in v["expectations"].as_array().unwrap() {
        assert_eq!((&e["passed"], &e["value"]), (&serde_json::json!(false), &serde_json::Value::Null), "{e}");
    }
    let err = text(&o.stderr);
    assert!(err.contains("expectation failed: `p99_ms < 100`: the figure has no value"), "{err}");
    // Over seeds: no seed has a value, so no mean either; the gate fails.
    let o = faultline(&["sweep", file, "--seeds", "1..4", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let fig = &v["variants"][0]["figures"]["latency_p99_ms"];
    assert_eq!((&fig["mean"], &fig["n"]), (&serde_json::Value::Null, &serde_json::json!(0)), "{fig}");
    assert!(text(&o.stderr).contains("`p99_ms < 100` over seeds (mean): no value"), "{}", text(&o.stderr));
}
