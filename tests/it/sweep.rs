//! `faultline sweep` and `merge`: thread-count independence, exact shard merging, resume.

use std::process::Command;

fn faultline(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn tmp(name: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sweep-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p.to_string_lossy().into_owned()
}

/// A copy of the records file `from` cut to its first `n` lines (a sweep interrupted there),
/// as the temporary file `name`.
fn cut_copy(from: &str, n: usize, name: &str) -> String {
    let cut = tmp(name);
    let text = std::fs::read_to_string(from).unwrap();
    std::fs::write(&cut, text.lines().take(n).map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    cut
}

const SC: &str = "cross-region-outage";
const SEEDS: &str = "1..5";

#[test]
fn sweep_output_is_identical_with_one_and_two_threads() {
    let (c1, a, _) = faultline(&["sweep", SC, "--seeds", SEEDS, "--threads", "1", "--json"]);
    let (c2, b, _) = faultline(&["sweep", SC, "--seeds", SEEDS, "--threads", "2", "--json"]);
    let (c0, z, _) = faultline(&["sweep", SC, "--seeds", SEEDS, "--threads", "0", "--json"]);
    assert_eq!((c1, c2, c0), (0, 0, 0));
    assert_eq!(a, b);
    assert_eq!(a, z, "0 threads means all cores");
    let v: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert_eq!(v["variants"].as_array().unwrap().len(), 2);
    assert_eq!(v["variants"][0]["seeds"], 4);
    assert_eq!(v["paired"][0]["seeds"], 4);
    // Paired difference = mean of per-seed differences, so it equals the difference of means.
    let d = v["paired"][0]["differences"]["latency_p99_ms"]["mean"].as_f64().unwrap();
    let m0 = v["variants"][0]["figures"]["latency_p99_ms"]["mean"].as_f64().unwrap();
    let m1 = v["variants"][1]["figures"]["latency_p99_ms"]["mean"].as_f64().unwrap();
    assert!((d - (m1 - m0)).abs() < 1e-9);
}

#[test]
fn shards_merged_equal_one_unsharded_sweep() {
    let (_, whole, _) = faultline(&["sweep", SC, "--seeds", SEEDS, "--json"]);
    let (a, b) = (tmp("shard1.jsonl"), tmp("shard2.jsonl"));
    assert_eq!(faultline(&["sweep", SC, "--seeds", SEEDS, "--shard", "1/2", "--out", &a]).0, 0);
    assert_eq!(faultline(&["sweep", SC, "--seeds", SEEDS, "--shard", "2/2", "--out", &b]).0, 0);
    let (code, merged, err) = faultline(&["merge", &a, &b, "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(merged, whole);
    assert!(!err.contains("missing"), "{err}");
    // A lost shard fails the merge: records name their sweep's plan, so even the last shard
    // (seeds above every seed held) is missed. With --partial it is a note.
    let (code, _, err) = faultline(&["merge", &a]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("the sweep of seeds 1..5 (2 variants) lacks 4 runs of its 8 (shard 2/2 has no record)"),
        "{err}"
    );
    let (code, _, err) = faultline(&["merge", &b]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("(shard 1/2 has no record)"), "{err}");
    let (code, _, err) = faultline(&["merge", &a, "--partial"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("note: the sweep of seeds 1..5 (2 variants) lacks 4 runs of its 8"), "{err}");
    // A shard cut short is named with what it lacks.
    let cut = cut_copy(&b, 3, "shard2-cut.jsonl");
    let (code, _, err) = faultline(&["merge", &a, &cut]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("(shard 2/2 lacks 1 of its 4)"), "{err}");
    // Records of earlier builds name no plan: a gap between the seeds held is still said
    // (shard 1/2 of 1..5 holds seeds 1 and 3: seed 2 is missing).
    let old = tmp("shard1-no-plan.jsonl");
    let a_text = std::fs::read_to_string(&a).unwrap();
    let stripped: String = a_text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v.as_object_mut().unwrap().remove("plan").is_some(), "a sweep's record names its plan");
            format!("{v}\n")
        })
        .collect();
    std::fs::write(&old, stripped).unwrap();
    let (code, _, err) = faultline(&["merge", &old]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("no record of 1 seed between seeds 1 and 3 (2) for any variant"), "{err}");
    // Order of the shard files does not matter either.
    assert_eq!(faultline(&["merge", &b, &a, "--json"]).1, whole);
    // Nor for shards split by variant: the scenario's first variant stays the baseline of the
    // paired differences (it was whichever file came first).
    let variants = ["retry-once", "fail-fast"];
    let by_variant: Vec<String> = variants.iter().map(|v| tmp(&format!("variant-{v}.jsonl"))).collect();
    for (v, f) in variants.iter().zip(&by_variant) {
        assert_eq!(faultline(&["sweep", SC, "--seeds", SEEDS, "--variant", v, "--out", f]).0, 0);
    }
    let (code, merged, err) = faultline(&["merge", &by_variant[1], &by_variant[0], "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(merged, whole);
}

/// The report's per-window means are summed in seed order, not in the order records are read:
/// `report` on shards, in any order, writes the files `sweep --report` does, byte for byte.
#[test]
fn a_report_of_shards_in_any_order_is_the_unsharded_sweeps_report() {
    let whole = tmp("report-whole");
    let (code, _, _) = faultline(&["sweep", "circuit-breaker", "--seeds", "1..10", "--report", &whole]);
    assert_eq!(code, 0);
    let shards: Vec<String> = (1..=3).map(|k| tmp(&format!("report-shard{k}.jsonl"))).collect();
    for (k, out) in shards.iter().enumerate() {
        let shard = format!("{}/3", k + 1);
        let (code, _, _) =
            faultline(&["sweep", "circuit-breaker", "--seeds", "1..10", "--shard", &shard, "--out", out]);
        assert_eq!(code, 0);
    }
    let merged = tmp("report-merged");
    let (code, _, _) = faultline(&["report", &shards[2], &shards[0], &shards[1], "--out", &merged]);
    assert_eq!(code, 0);
    let files = ["index.html", "latency-cdf.csv", "p99-over-time.csv", "error-rate-over-time.csv", "anomalies.csv"];
    for file in files.iter().chain(&["paired-differences.csv"]) {
        let read = |dir: &str| std::fs::read_to_string(std::path::Path::new(dir).join(file)).unwrap();
        assert!(read(&whole) == read(&merged), "{file} differs");
    }
}

#[test]
fn an_interrupted_sweep_resumes_without_redoing_or_losing_seeds() {
    let out = tmp("resume.jsonl");
    let (_, fresh, _) = faultline(&["sweep", SC, "--seeds", SEEDS, "--json"]);
    // Simulate a kill mid-write: a complete run of the first half, then half a line.
    assert_eq!(faultline(&["sweep", SC, "--seeds", "1..3", "--out", &out]).0, 0);
    let done = std::fs::read_to_string(&out).unwrap();
    let first_lines = done.lines().count();
    assert_eq!(first_lines, 4); // 2 variants × 2 seeds
    let mut f = std::fs::OpenOptions::new().append(true).open(&out).unwrap();
    std::io::Write::write_all(&mut f, &done.as_bytes()[..50]).unwrap();
    drop(f);
    let (code, resumed, err) = faultline(&["sweep", SC, "--seeds", SEEDS, "--out", &out, "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(resumed, fresh);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 8, "every (variant, seed) exactly once");
    assert!(text.starts_with(&done), "finished lines were kept, not redone");
    // Killing a real process: start a long sweep, kill it, resume, and check nothing is lost.
    let out2 = tmp("killed.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["sweep", SC, "--seeds", "1..9", "--threads", "1", "--out", &out2])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(&out2).map_or(0, |t| t.lines().count()) < 2 && t0.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = std::fs::read_to_string(&out2).unwrap();
    let (code, _, err) = faultline(&["sweep", SC, "--seeds", "1..9", "--out", &out2]);
    assert_eq!(code, 0, "{err}");
    let after = std::fs::read_to_string(&out2).unwrap();
    assert_eq!(after.lines().count(), 16);
    let complete: String = before.split_inclusive('\n').filter(|l| l.ends_with('\n')).collect();
    assert!(after.starts_with(&complete));
}

/// A shard gated its own seeds: a mean gate that passes over seeds 1..21 failed on two of their
/// three shards (wider intervals), so a CI job failed on shards of a sweep that passes. Mean gates
/// are left to `merge`; an `each` gate, which no other seed can save, still fails the shard.
#[test]
fn a_shard_leaves_mean_gates_to_merge_but_fails_each_gates() {
    let catalog =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/catalog/cross-region-outage.toml"))
            .unwrap();
    let gate = |over: &str| {
        let f = tmp(&format!("gate-{over}.toml"));
        let text = format!(
            "{catalog}\n[[expect]]\ncheck = \"p99_ms < 117.3\"\nvariants = [\"fail-fast\"]\nover_seeds = \"{over}\"\n"
        );
        std::fs::write(&f, text).unwrap();
        f
    };
    let (mean, each) = (gate("mean"), gate("each"));
    let args = |sc: &str, shard: &str, out: String| {
        let a = ["sweep", sc, "--seeds", "1..21", "--variant", "fail-fast", "--shard", shard, "--out", &out];
        faultline(&a)
    };
    let shards: Vec<String> = (1..=3).map(|k| tmp(&format!("gate-shard{k}.jsonl"))).collect();
    let mut noted = 0;
    for (k, out) in shards.iter().enumerate() {
        let (code, text, err) = args(&mean, &format!("{}/3", k + 1), out.clone());
        assert_eq!(code, 0, "shard {}: {text}\n{err}", k + 1);
        noted += usize::from(err.contains("mean gates are judged by `faultline merge`"));
    }
    assert!(noted >= 1, "the gate fails on some shard's seeds, which is the point");
    let (code, text, err) = faultline(&["merge", &shards[0], &shards[1], &shards[2]]);
    assert_eq!(code, 0, "{text}\n{err}");
    assert!(text.contains("pass [fail-fast] p99_ms < 117.3 (mean over seeds)"), "{text}");
    // Seed 4 fails the check: an `each` gate fails the shard that holds it (1/3: seeds 1, 4, …).
    let (code, text, _) = args(&each, "1/3", tmp("gate-each.jsonl"));
    assert_eq!(code, 1, "{text}");
}

#[test]
fn sweep_rejects_bad_ranges_and_shards() {
    assert_eq!(faultline(&["sweep", SC, "--seeds", "5..5"]).0, 2);
    assert_eq!(faultline(&["sweep", SC, "--seeds", "x"]).0, 2);
    assert_eq!(faultline(&["sweep", SC, "--seeds", "1..3", "--shard", "3/2"]).0, 2);
    // B is excluded, which the message says; a shard with no seed is allowed, and said.
    assert!(faultline(&["sweep", SC, "--seeds", "5..5"]).2.contains("B is excluded (`5..6` runs seed 5)"));
    let (code, _, err) = faultline(&["sweep", SC, "--seeds", "1..3", "--shard", "3/3"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("shard 3/3 of seeds 1..3 holds no seed"), "{err}");
    assert_eq!(faultline(&["sweep", SC, "--seeds", "1..3", "--variant", "nope"]).0, 2);
}

#[test]
fn records_of_another_simulation_revision_are_neither_resumed_nor_pooled() {
    let (a, b) = (tmp("rev-a.jsonl"), tmp("rev-b.jsonl"));
    assert_eq!(faultline(&["sweep", SC, "--seeds", "1..3", "--out", &a]).0, 0);
    let text = std::fs::read_to_string(&a).unwrap();
    let here = format!("\"sim_revision\":{}", faultline_models::SIM_REVISION);
    assert_eq!(text.matches(&here).count(), 4, "every record names its revision: {text}");
    // The same runs as if written by another model, and by a build before records named one.
    std::fs::write(&b, text.replace(&here, "\"sim_revision\":0")).unwrap();
    let old = tmp("rev-none.jsonl");
    std::fs::write(&old, text.replace(&format!(",{here}"), "")).unwrap();
    for f in [&b, &old] {
        let (code, _, err) = faultline(&["sweep", SC, "--seeds", "1..5", "--out", f]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("resuming would pool runs of two models"), "{err}");
        assert_eq!(std::fs::read_to_string(f).unwrap().lines().count(), 4, "the file is left as it was");
    }
    let (code, _, err) = faultline(&["merge", &a, &b]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("simulation revision 0 and simulation revision"), "{err}");
    // One revision, whichever: merged, and the report names it.
    let (code, out, err) = faultline(&["merge", &b, "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["sim_revision"], 0);
    let (code, out, _) = faultline(&["sweep", SC, "--seeds", "1..3", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["sim_revision"],
        faultline_models::SIM_REVISION
    );
}

/// `--out` resumes only from sweep records: a file that is something else (a wrong path, not
/// UTF-8, a record with garbage after it) is an error and is left as it was — never truncated
/// away as if it were a cut record. The commands that read records name the file.
#[test]
fn files_that_are_not_sweep_records_are_refused_and_left_alone() {
    let good = tmp("good.jsonl");
    assert_eq!(faultline(&["sweep", SC, "--seeds", "1..2", "--out", &good]).0, 0);
    let record = std::fs::read_to_string(&good).unwrap();
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("binary.jsonl", vec![0xff, 0xfe, 0, 1, 2, b'\n'], "line 1, column 1: expected UTF-8 text"),
        ("trailing.jsonl", format!("{record}{{\"x\":1}}\n").into_bytes(), "line 3: not a sweep record"),
        ("notes.jsonl", b"my notes\n".to_vec(), "line 1: not a sweep record"),
    ];
    for (name, bytes, want) in cases {
        let f = tmp(name);
        std::fs::write(&f, &bytes).unwrap();
        let (code, _, err) = faultline(&["sweep", SC, "--seeds", "1..3", "--out", &f]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(&f) && err.contains(want), "{name}: {err}");
        assert_eq!(std::fs::read(&f).unwrap(), bytes, "{name}: left as it was");
        let (code, _, err) = faultline(&["compare", &good, &f]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(&f) && err.contains(want), "{name}: {err}");
    }
    // Nothing but a cut record: compare and merge say the file holds no complete one.
    let cut = tmp("cut.jsonl");
    std::fs::write(&cut, &record[..100]).unwrap();
    for args in [vec!["compare", &good, &cut], vec!["merge", &cut]] {
        let (code, _, err) = faultline(&args);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(&format!("{cut}: no complete sweep record")), "{err}");
    }
}

#[test]
fn compare_gates_a_candidate_sweep_against_a_baseline() {
    // The baseline, and a candidate whose back end is slower (every service time doubled):
    // same seeds, so each pair shares its arrivals and faults.
    let text = faultline_scenarios::catalog::get(SC).unwrap().text;
    let slower = tmp("slower.toml");
    let changed = text.replace("mean_ms = 5", "mean_ms = 10");
    assert_ne!(changed, text, "the catalog scenario has a 5 ms mean service time");
    std::fs::write(&slower, changed).unwrap();
    let (base, cand) = (tmp("baseline.jsonl"), tmp("candidate.jsonl"));
    assert_eq!(faultline(&["sweep", SC, "--seeds", "1..9", "--out", &base]).0, 0);
    assert_eq!(faultline(&["sweep", &slower, "--seeds", "1..9", "--out", &cand]).0, 0);

    let (code, out, err) = faultline(&["compare", &base, &cand]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("REGRESSED") && out.contains("latency_p50_ms"), "{out}");
    let (_, json, _) = faultline(&["compare", &base, &cand, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["regressed"], true);
    let p50 = &v["variants"][0]["figures"]["latency_p50_ms"];
    assert_eq!(p50["verdict"], "regressed");
    assert_eq!(p50["difference"]["n"], 8);
    // Against itself nothing changes; the other way round the slower one improves.
    assert_eq!(faultline(&["compare", &base, &base]).0, 0);
    let (code, back, _) = faultline(&["compare", &cand, &base, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&back).unwrap();
    assert_eq!(v["variants"][0]["figures"]["latency_p50_ms"]["verdict"], "improved");
    // A tolerance wider than the change passes.
    assert_eq!(faultline(&["compare", &base, &cand, "--tolerance-pct", "99"]).0, 0);
    // Bad input: an unknown figure, a file that is not a sweep's records.
    let (code, _, err) = faultline(&["compare", &base, &cand, "--figure", "p99"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown figure `p99`"), "{err}");
    assert_eq!(faultline(&["compare", &base, &slower]).0, 2);
    // A compared seed that stopped at its event budget makes the verdict inconclusive (exit 3).
    let partial = tmp("partial.jsonl");
    let text = std::fs::read_to_string(&cand).unwrap();
    std::fs::write(&partial, text.replacen("\"status\":\"ok\"", "\"status\":\"budget\"", 1)).unwrap();
    let (code, out, _) = faultline(&["compare", &base, &partial]);
    assert_eq!(code, 3);
    // How many (the line gave the variant's name where the count belonged).
    assert!(out.contains("\n  1 paired seed stopped at the event budget on a side"), "{out}");
    // A candidate that dropped a variant of the baseline fails the gate (it passed before: the
    // variant was only listed as "not compared"); one that ran only part of its sweep says so.
    let one = tmp("candidate-one-variant.jsonl");
    assert_eq!(faultline(&["sweep", SC, "--seeds", "1..9", "--variant", "retry-once", "--out", &one]).0, 0);
    let (code, out, err) = faultline(&["compare", &base, &one]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("NOT RUN by the candidate, so not gated: fail-fast"), "{out}");
    assert!(out.ends_with("FAILED: a baseline variant was not run\n"), "{out}");
    let (_, json, _) = faultline(&["compare", &base, &one, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!((v["regressed"].as_bool(), v["dropped"][0].as_str()), (Some(false), Some("fail-fast")));
    // The other way round, a variant the candidate adds is only listed.
    let (code, out, _) = faultline(&["compare", &one, &base]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not compared (run by the candidate only): fail-fast"), "{out}");
    let cut = cut_copy(&base, 5, "candidate-cut.jsonl");
    // Its first 5 records: 5 of retry-once's 8 seeds, and no fail-fast. A sweep cut short is a
    // broken job, not a smaller sample: an error unless --partial, as for merge.
    let (code, out, err) = faultline(&["compare", &base, &cut]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!(
            "{cut}: the sweep of seeds 1..9 (2 variants) lacks 11 runs of its 16: resume the interrupted \
             sweep with the same --out (or compare what there is with --partial)"
        )),
        "{err}"
    );
    assert_eq!(faultline(&["compare", &cut, &base]).0, 2, "a baseline cut short too");
    let (code, out, err) = faultline(&["compare", &base, &cut, "--partial"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("[retry-once] 5 paired seeds (the candidate did not run 3 of the baseline's)"), "{out}");
    assert!(
        err.contains(&format!("note: {cut}: the sweep of seeds 1..9 (2 variants) lacks 11 runs of its 16")),
        "{err}"
    );
}

/// A sweep resumed after its scenario file was edited pooled the old model's seeds with the
/// new one's, and `--out` took the records of another scenario without a word; `merge`,
/// `report` and `compare` pooled or paired runs of different scenarios. Records name their
/// scenario and its fingerprint now, and all of these refuse to mix them.
#[test]
fn records_of_another_scenario_or_an_edited_one_are_neither_resumed_nor_pooled() {
    let text = faultline_scenarios::catalog::get(SC).unwrap().text;
    let file = tmp("edited.toml");
    std::fs::write(&file, text).unwrap();
    let out = tmp("edited.jsonl");
    assert_eq!(faultline(&["sweep", &file, "--seeds", "1..3", "--out", &out]).0, 0);
    let before = std::fs::read_to_string(&out).unwrap();
    // Comments and layout are not the model: resuming after such an edit goes on.
    std::fs::write(&file, format!("# the same scenario\n{}\n\n", text.replace(" = ", "  =  "))).unwrap();
    let (code, _, err) = faultline(&["sweep", &file, "--seeds", "1..4", "--out", &out]);
    assert_eq!(code, 0, "{err}");
    let kept = std::fs::read_to_string(&out).unwrap();
    assert_eq!(kept.lines().count(), 6);
    // A changed value is another model: refused, the file left as it was.
    std::fs::write(&file, text.replace("mean_ms = 5", "mean_ms = 50")).unwrap();
    let (code, _, err) = faultline(&["sweep", &file, "--seeds", "1..5", "--out", &out]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&out) && err.contains("as it was before an edit") && err.contains("another --out file"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), kept);
    // Another scenario into the same file: refused.
    let (code, _, err) = faultline(&["sweep", "circuit-breaker", "--seeds", "1..3", "--out", &out]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("runs of scenario `cross-region-outage`") && err.contains("not of `circuit-breaker`"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), kept);
    assert!(kept.starts_with(&before));

    // The edited scenario's runs, and another scenario's, are not pooled with these.
    let (edited, other) = (tmp("edited-after.jsonl"), tmp("other.jsonl"));
    assert_eq!(faultline(&["sweep", &file, "--seeds", "1..3", "--out", &edited]).0, 0);
    assert_eq!(faultline(&["sweep", "circuit-breaker", "--seeds", "1..3", "--out", &other]).0, 0);
    let (code, _, err) = faultline(&["merge", &out, &edited]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{out} and {edited}")) && err.contains("two versions of scenario"), "{err}");
    let mixed = tmp("mixed.jsonl");
    std::fs::write(&mixed, format!("{kept}{}", std::fs::read_to_string(&other).unwrap())).unwrap();
    for args in [vec!["merge", &mixed], vec!["report", &mixed, "--out", &tmp("mixed-report")]] {
        let (code, _, err) = faultline(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(&mixed) && err.contains("scenarios `circuit-breaker` and `cross-region-outage`"), "{err}");
    }
    // compare: two versions of one scenario are what it is for; two scenarios are refused.
    assert_ne!(faultline(&["compare", &out, &edited]).0, 2);
    let (code, _, err) = faultline(&["compare", &out, &other]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the candidate of `circuit-breaker`"), "{err}");

    // Records written before records carried a fingerprint: not resumed (they cannot be
    // checked), still merged among themselves.
    let old = tmp("no-fingerprint.jsonl");
    let strip = |t: &str| {
        t.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let mut m = v.as_object().unwrap().clone();
                m.remove("scenario_name");
                m.remove("fingerprint");
                serde_json::to_string(&m).unwrap() + "\n"
            })
            .collect::<String>()
    };
    std::fs::write(&old, strip(&before)).unwrap();
    let (code, _, err) = faultline(&["sweep", SC, "--seeds", "1..3", "--out", &old]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("did not record the scenario's fingerprint"), "{err}");
    let (code, _, err) = faultline(&["merge", &old]);
    assert_ne!(code, 2, "{err}");
}

/// `merge` and `report` check the expectations of the scenario the records name; when it cannot
/// be read where they run (a relative path, a moved file), they say so rather than pass the
/// gate in silence, and `--scenario` names it.
#[test]
fn merge_says_when_it_cannot_check_expectations_and_takes_the_scenario_named() {
    let lab = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/workshop/lab-1-queueing.toml");
    let (file, moved, out) = (tmp("gate.toml"), tmp("gate-moved.toml"), tmp("gate.jsonl"));
    std::fs::copy(&lab, &file).unwrap();
    assert_eq!(faultline(&["sweep", &file, "--seeds", "1..3", "--out", &out]).0, 1, "lab 1 fails its goals as shipped");
    let (code, _, err) = faultline(&["merge", &out]);
    assert_eq!(code, 1, "{err}");
    std::fs::rename(&file, &moved).unwrap();
    let (code, _, err) = faultline(&["merge", &out]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("its expectations are not checked (name it with --scenario)"), "{err}");
    let (code, text, err) = faultline(&["merge", &out, "--scenario", &moved]);
    assert_eq!(code, 1, "{err}");
    assert!(text.contains("FAIL [base] p99_ms < 70"), "{text}");
    let dir = tmp("gate-report");
    let (code, _, err) = faultline(&["report", &out, "--out", &dir, "--scenario", "no-such-scenario"]);
    assert_eq!(code, 2, "{err}");
    // Another scenario altogether is named as such, not as an edit of the records' one.
    let (code, _, err) = faultline(&["merge", &out, "--scenario", "retry-storm"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("retry-storm is scenario `retry-storm`, but these runs are of `lab-1-queueing`"), "{err}");
    // An edit of the same scenario is still said to be one.
    let edited = std::fs::read_to_string(&moved).unwrap().replace("duration_s = ", "duration_s = 1");
    std::fs::write(&moved, edited).unwrap();
    let (code, _, err) = faultline(&["merge", &out, "--scenario", &moved]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("has changed since these runs"), "{err}");
}
