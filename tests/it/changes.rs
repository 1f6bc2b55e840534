//! `--set` and `--vary` end to end (docs/cli.md, "Changing a scenario from the command line"):
//! a change runs exactly as the file edited the same way; `--vary` variants run as `--set` of
//! their value; what a sweep prints and records reproduces its runs; mistakes are exit 2.

use serde_json::Value;

use crate::bin::{ROOT, code, describe, expect_code, faultline, stderr, stdout, temp_path};

fn json(args: &[&str]) -> Value {
    let o = expect_code(args, 0);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", describe(args, &o)))
}

fn catalog_text(name: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/scenarios/catalog/{name}.toml")).unwrap()
}

/// A change is the file edited: the same run, byte for byte.
#[test]
fn set_runs_exactly_as_the_edited_file() {
    let text = catalog_text("queueing-near-saturation");
    assert!(text.contains("\nworkers = 4\n"));
    let edited = temp_path("edited.toml");
    std::fs::write(&edited, text.replace("\nworkers = 4\n", "\nworkers = 5\n")).unwrap();
    let edited = edited.to_str().unwrap();
    for variant in ["load-50", "load-95"] {
        let by_file = expect_code(&["run", edited, "--variant", variant, "--json"], 0);
        let by_set = expect_code(
            &["run", "queueing-near-saturation", "--set", "service.server.workers=5", "--variant", variant, "--json"],
            0,
        );
        assert_eq!(stdout(&by_file), stdout(&by_set), "{variant}");
        let plain = json(&["run", "queueing-near-saturation", "--variant", variant, "--json"]);
        let changed: Value = serde_json::from_slice(&by_set.stdout).unwrap();
        assert_ne!(plain["trace_hash"], changed["trace_hash"], "{variant}: the change changed nothing");
    }
}

/// Each `--vary` variant is its file variant with the value set; the sweep's records say the
/// changes, its worst seeds' commands reproduce their runs as printed, and `merge` of its
/// records gives its report.
#[test]
fn vary_variants_run_as_set_and_sweep_outputs_reproduce_them() {
    let vary = "workload.load.arrival.rate_per_s=200,300";
    let base = ["sweep", "queueing-near-saturation", "--seeds", "1..3", "--vary"];
    let err = expect_code(&[&base[..], &[vary]].concat(), 2);
    assert!(
        stderr(&err).contains("variant `load-80` sets `workload.load.arrival.rate_per_s` itself"),
        "{}",
        stderr(&err)
    );
    // Vary what the file's variants leave alone.
    let vary = "service.server.workers=4,5";
    let out = temp_path("vary.jsonl");
    let out = out.to_str().unwrap();
    let sweep = json(
        &[
            &base[..],
            &[vary, "--variant", "load-50 workers=4", "--variant", "load-95 workers=5"],
            &["--json", "--out", out],
        ]
        .concat(),
    );
    let variants: Vec<&str> =
        sweep["variants"].as_array().unwrap().iter().map(|v| v["variant"].as_str().unwrap()).collect();
    assert_eq!(variants, ["load-50 workers=4", "load-95 workers=5"]);
    let records: Vec<Value> =
        std::fs::read_to_string(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 4);
    for r in &records {
        assert_eq!(r["vary"], serde_json::json!([vary]));
        assert!(r.get("set").is_none(), "absent when empty: {r}");
        let (variant, seed) = (r["variant"].as_str().unwrap(), r["seed"].as_u64().unwrap().to_string());
        let (file_variant, value) = variant.split_once(" workers=").unwrap();
        let set = format!("service.server.workers={value}");
        let run = json(&[
            "run",
            "queueing-near-saturation",
            "--set",
            &set,
            "--variant",
            file_variant,
            "--seed",
            &seed,
            "--json",
        ]);
        assert_eq!(run["trace_hash"], r["trace_hash"], "{variant} seed {seed}");
    }
    for v in sweep["variants"].as_array().unwrap() {
        for w in v["worst_seeds"].as_array().unwrap() {
            let cmd = w["replay"].as_str().unwrap();
            assert!(cmd.contains(&format!(" --vary {vary} ")), "{cmd}");
            let line = format!("{} --json", cmd.replacen("faultline", crate::bin::BIN, 1));
            let o = std::process::Command::new("sh").args(["-c", &line]).current_dir(ROOT).output().unwrap();
            assert_eq!(code(&o), 0, "{line}\n{}", stderr(&o));
            let run: Value = serde_json::from_slice(&o.stdout).unwrap();
            let rec = records
                .iter()
                .find(|r| r["variant"] == v["variant"] && r["seed"] == w["seed"])
                .unwrap_or_else(|| panic!("no record for {line}"));
            assert_eq!(run["trace_hash"], rec["trace_hash"], "{line}");
        }
    }
    let merged = json(&["merge", out, "--json"]);
    assert_eq!(merged, sweep, "merge of the records is the sweep");
    // Resuming the file is allowed with the same changes only.
    let again = faultline(&[&base[..], &["service.server.workers=4,6", "--out", out]].concat());
    assert_eq!(code(&again), 2, "{}", describe(&["sweep", "--out", out], &again));
    assert!(stderr(&again).contains("as it was before an edit"), "{}", stderr(&again));
}

/// A `[[expect]]` naming file variants applies to the variants `--vary` makes of them, with the
/// same verdicts when the value changes nothing they check (the windows' length here).
#[test]
fn expectations_follow_the_variants_vary_makes() {
    let sweep = |extra: &[&str]| -> Value {
        let args = [&["sweep", "fast-failing-instance", "--seeds", "1..3", "--json"][..], extra].concat();
        let o = faultline(&args);
        assert!([0, 1].contains(&code(&o)), "{}", describe(&args, &o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let plain = sweep(&[]);
    let varied = sweep(&["--vary", "scenario.window_ms=1000,2000"]);
    let expectations = |sweep: &Value, variant: &str| -> Value {
        let v = sweep["variants"].as_array().unwrap().iter().find(|v| v["variant"] == variant);
        v.unwrap_or_else(|| panic!("no variant `{variant}`"))["expectations"].clone()
    };
    for v in plain["variants"].as_array().unwrap() {
        let name = v["variant"].as_str().unwrap();
        for w in ["window_ms=1000", "window_ms=2000"] {
            assert_eq!(expectations(&varied, &format!("{name} {w}")), v["expectations"], "{name} {w}");
        }
    }
    let checks = |variant: &str| expectations(&varied, variant).as_array().unwrap().len();
    assert_eq!((checks("outlier-detection window_ms=1000"), checks("round-robin window_ms=2000")), (2, 0));
}

/// Mistakes in changes are bad input (exit 2) naming the argument, never a panic.
#[test]
fn mistaken_changes_are_exit_2_naming_the_argument() {
    let cases: [(&[&str], &str); 7] = [
        (&["--set", "service.nope.workers=3"], "--set service.nope.workers=3: no `service` named `nope`"),
        (&["--set", "service.server.workers"], "--set service.server.workers: expected PATH=VALUE"),
        (&["--set", "service.server.workers=0"], "after --set service.server.workers=0: "),
        (&["--set", "service.server.wrkers=3"], "unknown field `wrkers`"),
        (&["--vary", "scenario.seed=1,2"], "`scenario.seed` cannot be varied"),
        (&["--vary", "service.server.workers=2,{"], "`{` is not a TOML value"),
        (&["--vary", "service.server.workers=4,4"], "`4` is listed twice"),
    ];
    for (flags, want) in cases {
        for cmd in ["run", "validate", "explain"] {
            let args = [&[cmd, "queueing-near-saturation"][..], flags].concat();
            let o = expect_code(&args, 2);
            assert!(stderr(&o).contains(want), "{}", describe(&args, &o));
        }
    }
    let o = expect_code(&["validate", "queueing-near-saturation", "--vary", "service.server.workers=4,8"], 0);
    assert!(stdout(&o).contains("10 variants"), "{}", stdout(&o));
}
