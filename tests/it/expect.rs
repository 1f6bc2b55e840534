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
    // Four significant digits, and the rate as a percentage (the JSON has every digit).
    assert!(
        err.contains("expectation failed: `success_rate >= 0.99` during `a down`: the figure was 0.5105 (51.05%)\n"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let verdicts = v["expectations"].as_array().unwrap();
    assert_eq!(verdicts.len(), 2, "the robust-only check does not apply");
    assert_eq!((verdicts[0]["passed"].as_bool(), verdicts[1]["passed"].as_bool()), (Some(true), Some(false)));
    // Without retries half the requests sent during the outage go to dead instances.
    let during = verdicts[1]["value"].as_f64().unwrap();
    assert!((during - 0.5).abs() < 0.05, "{during}");
    assert_ne!(during, 0.5105, "full precision in JSON");
}

/// In the text summary a failed expectation is named once, by its `FAIL` line, not again on
/// stderr (docs/cli.md): a terminal showed each one twice.
#[test]
fn the_summary_names_a_failed_expectation_once() {
    let o = faultline(&["run", SCENARIO, "--variant", "fragile", "--seed", "3"]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    assert!(out.contains("  FAIL success_rate >= 0.99 during `a down`: 0.5105 (51.05%)\n"), "{out}");
    assert!(out.contains("  pass services.api.utilisation < 0.5: "), "{out}");
    assert_eq!(text(&o.stderr), "", "nothing on stderr");
    let o = faultline(&["sweep", SCENARIO, "--seeds", "1..4", "--variant", "fragile"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stdout).contains("  FAIL [fragile] success_rate >= 0.99 during `a down` (each over seeds): "));
    assert_eq!(text(&o.stderr), "", "nothing on stderr");
}

/// A mean gate over one seed has no interval and fails; it says why, instead of `failing on
/// 0 seeds`.
#[test]
fn a_mean_gate_on_one_seed_says_it_needs_two() {
    let o = faultline(&["sweep", SCENARIO, "--seeds", "1..2", "--variant", "robust"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.contains("FAIL [robust] services.api.utilisation < 0.5"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("(mean over seeds): 0.06") && line.contains(" on one seed, but a mean gate needs at least two"),
        "{line}"
    );
    assert!(!line.contains("failing on"), "{line}");
    // An `each` gate decides on one seed.
    let o = faultline(&["sweep", SCENARIO, "--seeds", "1..2", "--variant", "fragile", "--json"]);
    assert!(text(&o.stderr).contains("(each over seeds): 0."), "{}", text(&o.stderr));
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
    let err = text(&o.stderr);
    assert!(
        err.contains("expectation failed: [fragile] success_rate >= 0.99 during `a down` (each over seeds): "),
        "{err}"
    );
    assert!(err.contains(", failing on 8 of 8 seeds (e.g. seed 1)\n"), "{err}");
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
    assert!(
        text(&o.stderr).contains("p99_ms < 100 (mean over seeds): no value, failing on 3 of 3"),
        "{}",
        text(&o.stderr)
    );
}

/// A knob can add figures to a variant's report (a balancer's `ejections` with
/// `outlier_detection`): a check on one is valid for the variants that have it, and an error
/// that names the others where it applies to them too.
#[test]
fn a_figure_only_some_variants_report_is_checked_where_they_have_it() {
    // The catalog scenario checks `balancers.lb.ejections` on its outlier-detection variant.
    let o = faultline(&["run", "fast-failing-instance", "--variant", "outlier-detection"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("pass balancers.lb.ejections >= 1: 2\n"), "{}", text(&o.stdout));
    let o = faultline(&["validate", "tests/malformed/expect-figure-of-another-variant.toml"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains(
            "no figure `balancers.lb.ejections` in the run report of variants `least-outstanding`, `round-robin`, \
             `client-side`"
        ),
        "{err}"
    );
    assert!(err.contains("are those of `variants = [\"outlier-detection\"]`"), "{err}");
}
