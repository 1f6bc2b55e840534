//! The `faultline` binary end to end, as scripts and CI see it (docs/cli.md): the `run --json`
//! contract, determinism, exit codes, error positions for malformed scenarios
//! (tests/malformed/), garbled input never panicking, and outputs that are complete or absent.

use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde_json::Value;

use crate::bin::{BIN, ROOT, code, describe, expect_code, faultline, stderr, stdout, temp_path};

/// A fresh, empty directory.
fn temp_dir(tag: &str) -> PathBuf {
    let d = temp_path(tag);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `text` written to `name` in a fresh directory; its path.
fn temp_file(tag: &str, name: &str, text: impl AsRef<[u8]>) -> String {
    let file = temp_dir(tag).join(name);
    std::fs::write(&file, text).unwrap();
    file.to_str().unwrap().to_owned()
}

fn run_json(args: &[&str]) -> (Value, Vec<u8>) {
    let o = expect_code(args, 0);
    // Exactly one JSON value on stdout.
    let values: Vec<Value> = serde_json::Deserializer::from_slice(&o.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", describe(args, &o)));
    assert_eq!(values.len(), 1, "expected one JSON object:\n{}", describe(args, &o));
    (values.into_iter().next().unwrap(), o.stdout)
}

fn u(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or_else(|| panic!("`{key}` is not an unsigned integer in {v}"))
}

fn f(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or_else(|| panic!("`{key}` is not a number in {v}"))
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("`{key}` is not an array"))
        .iter()
        .map(|x| x["name"].as_str().unwrap_or_else(|| panic!("an entry of `{key}` has no name: {x}")).to_owned())
        .collect()
}

const OUTAGE: &str = "cross-region-outage";

// ---------------------------------------------------------------------------------------------
// 1–2. `run --json`: the contract fields, byte-identical reruns, the seed matters.

#[test]
fn run_json_has_the_contract_fields() {
    let (r, _) = run_json(&["run", OUTAGE, "--seed", "7", "--json"]);
    assert!(r.is_object(), "{r}");
    assert_eq!(u(&r, "schema_version"), 2);
    assert_eq!(u(&r, "sim_revision"), u64::from(faultline_models::SIM_REVISION));
    assert_eq!(r["scenario"], OUTAGE);
    assert_eq!(r["variant"], "retry-once", "the first variant is the default");
    assert_eq!(u(&r, "seed"), 7);
    let hash = r["trace_hash"].as_str().expect("trace_hash is a string");
    assert!(hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "trace_hash `{hash}`: 16 hex digits");
    assert!(u(&r, "events") > 10_000, "a 60 s run at 400 requests/s applies many events");
    // The run lasts the scenario's 60 s plus the drain of the last requests (a few seconds).
    let sim = u(&r, "sim_time_ns");
    assert!((60_000_000_000..70_000_000_000).contains(&sim), "sim_time_ns {sim}");

    let req = &r["requests"];
    let (total, ok, failed, timed_out) = (u(req, "total"), u(req, "ok"), u(req, "failed"), u(req, "timed_out"));
    assert_eq!(total, ok + failed + timed_out, "{req}");
    // 400/s for 60 s: about 24 000 requests.
    assert!((20_000..28_000).contains(&total), "total {total}");
    assert!(ok > 0 && failed + timed_out > 0, "the outage fails some requests: {req}");

    let lat = &r["latency_ms"];
    let q: Vec<f64> = ["p50", "p90", "p99", "p999", "max"].iter().map(|k| f(lat, k)).collect();
    assert!(q.windows(2).all(|w| w[0] <= w[1]), "quantiles rise: {lat}");
    let mean = f(lat, "mean");
    assert!(mean > 0.0 && mean <= q[4], "{lat}");
    // Every request crosses the region twice (≥ 2 × 40 ms one way, there and back).
    assert!(q[0] > 80.0, "p50 {} ms includes the cross-region round trip", q[0]);

    assert!(r["anomalies"].is_object(), "anomalies is an object: {}", r["anomalies"]);
    for (_, n) in r["anomalies"].as_object().unwrap() {
        assert!(n.is_u64(), "anomaly counts are integers: {}", r["anomalies"]);
    }

    // Per-component figures.
    assert_eq!(names(&r, "workloads"), ["shoppers"]);
    let mut services = names(&r, "services");
    services.sort();
    assert_eq!(services, ["inventory", "web"]);
    let mut balancers = names(&r, "balancers");
    balancers.sort();
    assert_eq!(balancers, ["inventory-lb", "web-lb"]);
    let w = &r["workloads"][0];
    assert_eq!(&w["requests"], req, "one workload: its requests are the total");
    for s in r["services"].as_array().unwrap() {
        for k in ["arrivals", "ok", "errors", "rejected", "downstream_calls"] {
            u(s, k);
        }
        for k in ["utilisation", "mean_queue_len", "mean_sojourn_ms"] {
            f(s, k);
        }
        assert_eq!(u(s, "instances"), 4, "{s}");
        assert!(u(s, "arrivals") > 0, "{s}");
    }
    for b in r["balancers"].as_array().unwrap() {
        assert!(b["strategy"].is_string(), "{b}");
        assert!(u(b, "forwarded") > 0, "{b}");
    }
    let web = r["services"].as_array().unwrap().iter().find(|s| s["name"] == "web").unwrap();
    assert!(u(web, "downstream_calls") > 0, "web calls inventory: {web}");
}

#[test]
fn run_json_is_byte_identical_across_runs_and_the_seed_changes_the_trace() {
    let args = ["run", OUTAGE, "--seed", "7", "--json"];
    let (a, bytes_a) = run_json(&args);
    let (_, bytes_b) = run_json(&args);
    assert!(bytes_a == bytes_b, "two runs of seed 7 differ:\n{}\n---\n{}", stdout_of(&bytes_a), stdout_of(&bytes_b));

    let (b, _) = run_json(&["run", OUTAGE, "--seed", "8", "--json"]);
    assert_eq!(u(&b, "seed"), 8);
    assert_ne!(a["trace_hash"], b["trace_hash"], "seeds 7 and 8 gave the same trace");

    // The scenario's own seed (1) is used without --seed, and equals an explicit --seed 1.
    let (d, bytes_d) = run_json(&["run", OUTAGE, "--json"]);
    assert_eq!(u(&d, "seed"), 1);
    let (_, bytes_e) = run_json(&["run", OUTAGE, "--json", "--seed", "1"]);
    assert!(bytes_d == bytes_e, "default seed differs from --seed 1");

    // Another variant on the same seed is another run.
    let (v, _) = run_json(&["run", OUTAGE, "--seed", "7", "--variant", "fail-fast", "--json"]);
    assert_eq!(v["variant"], "fail-fast");
    assert_ne!(a["trace_hash"], v["trace_hash"]);
}

/// The text summary has a section per kind of component, with the figures that tell its story
/// (the JSON is complete; the summary is what people read).
#[test]
fn run_summary_shows_balancers_caches_and_queues() {
    let text = |args: &[&str]| stdout(&expect_code(args, 0));
    let failover = text(&["run", "region-failover", "--variant", "active-passive"]);
    assert!(
        failover.contains("\nload balancers\n  global-lb        round-robin · forwarded ")
            && failover.contains("failover us-east → eu-west · 1 failover, 1 failback"),
        "{failover}"
    );
    let active = text(&["run", "region-failover", "--variant", "active-active"]);
    assert!(active.contains("\nload balancers\n") && !active.contains("failback"), "{active}");
    let cache = text(&["run", "cache-stampede"]);
    assert!(cache.contains("\ncaches\n") && cache.contains(" hit ratio ") && cache.contains(" coalesced)"), "{cache}");
    let queue = text(&["run", "queue-dead-letters"]);
    assert!(queue.contains("\nqueues\n") && queue.contains(" dead-lettered "), "{queue}");
    assert!(!text(&["run", "queueing-near-saturation"]).contains("\ncaches\n"));
}

/// Instances not treated alike are listed under their service, the one that stands out first;
/// instances that look alike are not (the service's row says it all).
#[test]
fn run_summary_lists_the_instances_of_a_service_only_when_they_differ() {
    let text = |args: &[&str]| stdout(&expect_code(args, 0));
    let rows = |summary: &str| -> Vec<String> {
        summary
            .lines()
            .skip_while(|l| !l.starts_with("    instance "))
            .skip(1)
            .take_while(|l| l.starts_with("    api/"))
            .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>().join(" "))
            .collect()
    };
    // Round-robin keeps sending a quarter to the slow api/2: its queue fills and turns requests
    // away (the 5× slowdown makes it the busiest).
    let rr = rows(&text(&["run", "slow-instance", "--variant", "round-robin"]));
    assert_eq!(rr.len(), 4, "{rr:?}");
    let first: Vec<&str> = rr[0].split(' ').collect();
    assert_eq!((first[0], first[1], first[3]), ("api/2", "25.0%", "400"), "{rr:?}");
    assert!(first[4].parse::<u64>().unwrap() > 1000, "{rr:?}");
    assert!(rr[1..].iter().all(|r| r.split(' ').nth(4) == Some("0")), "{rr:?}");
    // Least-outstanding routes around it: api/2 gets the smallest share and turns nobody away.
    let lo = rows(&text(&["run", "slow-instance", "--variant", "least-outstanding"]));
    let share = |r: &String| r.split(' ').nth(1).unwrap().trim_end_matches('%').parse::<f64>().unwrap();
    let slow = lo.iter().find(|r| r.starts_with("api/2 ")).expect("api/2 listed");
    assert!(lo.iter().filter(|r| !r.starts_with("api/2 ")).all(|r| share(r) > share(slow) + 4.0), "{lo:?}");
    // One instance: no table. Four that suffer alike (cross-region-outage's web instances all
    // reject and fail, evenly): none either.
    assert!(!text(&["run", "queueing-near-saturation"]).contains("    instance "));
    assert!(!text(&["run", "cross-region-outage"]).contains("    instance "));
}

#[test]
fn the_summary_counts_a_balancers_ejections_only_with_outlier_detection() {
    let text = |args: &[&str]| stdout(&expect_code(args, 0));
    let od = text(&["run", "fast-failing-instance", "--variant", "outlier-detection"]);
    assert!(od.contains(" · backends marked down 0, up 0 · 2 ejections (0 ejected at the end)\n"), "{od}");
    let lo = text(&["run", "fast-failing-instance", "--variant", "least-outstanding"]);
    assert!(lo.contains(" · backends marked down 0, up 0\n"), "{lo}");
    assert!(!lo.contains("ejection"), "{lo}");
}

/// A window in which no request succeeded has no latency: the report draws a gap and its CSV
/// leaves the cell empty, and the summary prints `-`, instead of a p99 of 0 ms.
#[test]
fn windows_without_a_successful_request_have_no_latency() {
    // region-failover: active-passive loses every request from 21 s to 22 s on every seed.
    let dir = temp_dir("gap-report");
    let d = dir.to_str().unwrap();
    expect_code(&["sweep", "region-failover", "--seeds", "1..3", "--report", d], 0);
    let csv = std::fs::read_to_string(dir.join("p99-over-time.csv")).unwrap();
    assert!(csv.lines().any(|l| l == "active-passive,21,"), "{csv}");
    let other = csv.lines().find(|l| l.starts_with("active-active,21,")).unwrap();
    assert!(other["active-active,21,".len()..].parse::<f64>().unwrap() > 0.0, "{other}");
    let summary = stdout(&expect_code(&["run", "region-failover", "--variant", "active-passive"], 0));
    let row = summary.lines().find(|l| l.contains(" 21–22 ")).unwrap();
    assert!(row.trim_end().ends_with("-        -"), "{row}");
}

fn stdout_of(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------------------------
// 3. Every catalog scenario is deterministic, and `list` agrees with scenarios/catalog/.

fn catalog_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("scenarios/catalog"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn list_matches_the_catalog_directory_and_every_entry_validates() {
    let o = expect_code(&["list"], 0);
    let mut listed: Vec<String> = stdout(&o)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    listed.sort();
    let files: Vec<String> =
        catalog_files().iter().map(|p| p.file_stem().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(listed, files, "`faultline list` and scenarios/catalog/ disagree");
    for p in catalog_files() {
        let path = p.to_string_lossy().into_owned();
        let o = expect_code(&["validate", &path], 0);
        assert!(stdout(&o).contains(": ok"), "{}", describe(&["validate", &path], &o));
    }
}

/// The benchmark scripts' scenario files are not in the catalog; a broken one would only show
/// when someone runs a benchmark.
#[test]
fn bench_scenarios_validate() {
    for f in ["bench/mmc.toml", "bench/request_path.toml"] {
        let path = Path::new(ROOT).join(f).to_string_lossy().into_owned();
        let o = expect_code(&["validate", &path], 0);
        assert!(stdout(&o).contains(": ok"), "{}", describe(&["validate", &path], &o));
    }
}

#[test]
fn check_determinism_passes_for_every_catalog_scenario() {
    let o = expect_code(&["list"], 0);
    let names: Vec<String> =
        stdout(&o).lines().filter_map(|l| l.split_whitespace().next()).map(str::to_owned).collect();
    assert!(names.len() >= 5, "the catalog has at least five scenarios: {names:?}");
    // In parallel: each check runs every variant twice.
    std::thread::scope(|s| {
        let handles: Vec<_> = names
            .iter()
            .map(|n| {
                s.spawn(move || {
                    let args = ["check-determinism", n.as_str()];
                    let o = faultline(&args);
                    (describe(&args, &o), code(&o), stdout(&o))
                })
            })
            .collect();
        for (n, h) in names.iter().zip(handles) {
            let (what, code, out) = h.join().unwrap();
            assert_eq!(code, 0, "{what}");
            assert!(!what.contains("panicked"), "{what}");
            assert!(out.contains("deterministic") && !out.contains("NOT deterministic"), "{what}");
            assert!(out.lines().all(|l| l.starts_with(n.as_str()) || l.starts_with(' ')), "{what}");
        }
    });
    // With an explicit seed and variant too.
    let o = expect_code(&["check-determinism", OUTAGE, "--seed", "7", "--variant", "fail-fast"], 0);
    assert!(stdout(&o).contains("[fail-fast] seed 7: deterministic"), "{}", stdout(&o));
}

// ---------------------------------------------------------------------------------------------
// 4. The outage shows in the time series, and recovery after it heals.

#[test]
fn the_outage_is_visible_in_the_time_series_and_heals() {
    let (r, _) = run_json(&["run", OUTAGE, "--seed", "7", "--json"]);
    let faults = r["faults"].as_array().expect("faults[]");
    let at = |phase: &str| {
        faults
            .iter()
            .find(|x| x["name"] == "eu-west down" && x["phase"] == phase)
            .map(|x| f(x, "t_ms"))
            .unwrap_or_else(|| panic!("no `{phase}` of `eu-west down` in {faults:?}"))
    };
    let (start_ms, end_ms) = (at("start"), at("end"));
    assert_eq!((start_ms, end_ms), (20_000.0, 40_000.0), "the catalog's fault window");

    let ts = &r["timeseries"];
    let win = f(ts, "window_ms");
    let col = |k: &str| -> Vec<f64> { ts[k].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect() };
    let (t_s, ok, failed, timed_out) = (col("t_s"), col("ok"), col("failed"), col("timed_out"));
    assert!(t_s.len() >= 12 && [&ok, &failed, &timed_out].iter().all(|c| c.len() == t_s.len()), "{ts}");
    // Error rate over the windows that satisfy `keep` (by window start and end, in ms).
    let rate = |keep: &dyn Fn(f64, f64) -> bool| {
        let (mut bad, mut all) = (0.0, 0.0);
        for i in 0..t_s.len() {
            let (a, b) = (t_s[i] * 1000.0, t_s[i] * 1000.0 + win);
            if keep(a, b) {
                bad += failed[i] + timed_out[i];
                all += ok[i] + failed[i] + timed_out[i];
            }
        }
        assert!(all > 500.0, "enough requests in the compared windows ({all})");
        bad / all
    };
    let before = rate(&|_, b| b <= start_ms);
    let during = rate(&|a, b| a >= start_ms && b <= end_ms);
    // One window of grace after the heal: requests sent during the outage finish (and time out)
    // then, and the balancer's backends come back.
    let after = rate(&|a, _| a >= end_ms + win);
    assert!(before < 0.01, "error rate before the outage {before:.3}");
    assert!(during > 0.5, "error rate during the outage {during:.3}: everything needs eu-west");
    assert!(after < 0.02, "error rate after the heal {after:.3}");
    // And every single window fully inside the outage is bad, not just the average.
    for i in 0..t_s.len() {
        let (a, b) = (t_s[i] * 1000.0, t_s[i] * 1000.0 + win);
        if a >= start_ms && b <= end_ms {
            let all = ok[i] + failed[i] + timed_out[i];
            assert!(all > 0.0 && (failed[i] + timed_out[i]) / all > 0.5, "window at {} s: {ts}", t_s[i]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Malformed scenarios: exit 2, `error: FILE:LINE:COL: message`, never a panic.

/// `(line, column)` from a leading `# expect: L:C` line; 1:1 for files that cannot carry one.
fn expected_position(bytes: &[u8]) -> (usize, usize) {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let first = String::from_utf8_lossy(first);
    match first.trim_end().strip_prefix("# expect: ") {
        Some(pos) => {
            let (l, c) = pos.split_once(':').unwrap_or_else(|| panic!("bad expect line `{first}`"));
            (l.trim().parse().unwrap(), c.trim().parse().unwrap())
        }
        None => (1, 1),
    }
}

fn malformed_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("tests/malformed"))
        .expect("tests/malformed/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

/// Checks one bad input given as `path` (relative to the workspace root); returns what went wrong.
fn check_bad_input(cmd: &str, path: &str, (line, col): (usize, usize)) -> Option<String> {
    let args = [cmd, path];
    let o = faultline(&args);
    let err = stderr(&o);
    let mut problems = Vec::new();
    if o.status.code() != Some(2) {
        problems.push(format!("exit code {:?}, expected 2", o.status.code()));
    }
    if err.contains("panicked") {
        problems.push("panicked".to_owned());
    }
    let want = format!("error: {path}:{line}:{col}: ");
    let first = err.lines().find(|l| l.starts_with("error: ")).unwrap_or("(no `error:` line)");
    if !first.starts_with(&want) {
        problems.push(format!("first error line is `{first}`, expected it to start with `{want}`"));
    }
    if !o.stdout.is_empty() {
        problems.push("printed on stdout".to_owned());
    }
    (!problems.is_empty()).then(|| format!("{cmd} {path}: {}\n{}", problems.join("; "), describe(&args, &o)))
}

fn rel(p: &Path) -> String {
    p.strip_prefix(ROOT).unwrap_or(p).to_string_lossy().into_owned()
}

#[test]
fn malformed_scenarios_are_rejected_with_their_position() {
    let files = malformed_files();
    assert!(files.len() >= 30, "the corpus has {} files", files.len());
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(files.len().div_ceil(4))
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|p| {
                            check_bad_input("validate", &rel(p), expected_position(&std::fs::read(p).unwrap()))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} malformed files misreported:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_malformed_file_names_its_expected_position_or_is_one_one_by_nature() {
    // Files without an `# expect:` line must be ones where 1:1 is the only possible position.
    for p in malformed_files() {
        let bytes = std::fs::read(&p).unwrap();
        if !bytes.starts_with(b"# expect: ") {
            assert!(
                bytes.iter().all(|b| b.is_ascii_whitespace()),
                "{}: every file with content starts with `# expect: LINE:COL`",
                rel(&p)
            );
        }
    }
}

#[test]
fn run_and_check_determinism_report_malformed_files_the_same_way() {
    let some = [
        "syntax-unterminated-string",
        "unknown-field-service",
        "negative-timeout",
        "call-cycle",
        "variant-invalid-value",
        "empty",
        "non-utf8-byte",
        "duplicate-zone-non-ascii",
    ];
    let mut failures = Vec::new();
    for name in some {
        let path = format!("tests/malformed/{name}.toml");
        let pos = expected_position(&std::fs::read(Path::new(ROOT).join(&path)).unwrap());
        failures.extend(check_bad_input("run", &path, pos));
        failures.extend(check_bad_input("check-determinism", &path, pos));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn generated_bad_files_are_rejected_at_one_one() {
    let dir = temp_dir("generated");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // Binary junk: not UTF-8 from the first byte.
        ("junk.toml", vec![0xff, 0xfe, 0x00, 0x9c, 0x80, 0x81, 0xc3, 0x28, 0xa0, 0xa1, 0xf0, 0x28, 0x8c, 0xbc]),
        // Larger than the 4 MiB limit (the size is checked before anything is parsed).
        ("huge.toml", {
            let mut v = b"[scenario]\nname = \"x\"\nduration_s = 1\n".to_vec();
            v.resize(5 << 20, b' ');
            v
        }),
        // A lone comment: not empty, but no [scenario] (nothing to point at).
        ("comment-only.toml", b"# just a comment\n".to_vec()),
    ];
    let mut failures = Vec::new();
    for (name, bytes) in cases {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        failures.extend(check_bad_input("validate", &p.to_string_lossy(), (1, 1)));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------------------
// 6. Garbled catalog scenarios: `validate` answers 0 or 2, never panics.

#[derive(Clone, Debug)]
enum Edit {
    Delete { at: f64, len: usize },
    Duplicate { at: f64, len: usize },
    Replace { at: f64, len: usize, with: Vec<u8> },
    Insert { at: f64, bytes: Vec<u8> },
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes that matter to TOML, plus anything at all (non-UTF-8 included).
    let byte = prop_oneof![
        3 => prop::sample::select(b"[]{}=\",.#\n'-_0123456789e+ \t\\".to_vec()),
        1 => any::<u8>(),
    ];
    let bytes = prop::collection::vec(byte, 1..12);
    prop_oneof![
        (0.0..1.0f64, 1..40usize).prop_map(|(at, len)| Edit::Delete { at, len }),
        (0.0..1.0f64, 1..200usize).prop_map(|(at, len)| Edit::Duplicate { at, len }),
        (0.0..1.0f64, 1..10usize, bytes.clone()).prop_map(|(at, len, with)| Edit::Replace { at, len, with }),
        (0.0..1.0f64, bytes).prop_map(|(at, bytes)| Edit::Insert { at, bytes }),
    ]
}

fn apply(text: &mut Vec<u8>, e: &Edit) {
    let pos = |at: f64, n: usize| ((at * n as f64) as usize).min(n);
    match e {
        Edit::Delete { at, len } => {
            let a = pos(*at, text.len());
            let b = (a + len).min(text.len());
            text.drain(a..b);
        }
        Edit::Duplicate { at, len } => {
            let a = pos(*at, text.len());
            let b = (a + len).min(text.len());
            let copy = text[a..b].to_vec();
            text.splice(b..b, copy);
        }
        Edit::Replace { at, len, with } => {
            let a = pos(*at, text.len());
            let b = (a + len).min(text.len());
            text.splice(a..b, with.iter().copied());
        }
        Edit::Insert { at, bytes } => {
            let a = pos(*at, text.len());
            text.splice(a..a, bytes.iter().copied());
        }
    }
}

proptest! {
    // Each case spawns the binary; 64 cases keep this to a second or two. No regression file
    // is written (the cases are cheap to regenerate and tests/it/ is shared). A fixed seed, so
    // that CI runs the same cases every time and a failure reproduces; fuzz/ explores further.
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x6761_7262_6c65),
        ..ProptestConfig::default()
    })]

    #[test]
    fn garbled_catalog_scenarios_never_panic(
        which in 0usize..5,
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let files = catalog_files();
        let mut text = std::fs::read(&files[which % files.len()]).unwrap();
        for e in &edits {
            apply(&mut text, e);
        }
        let p = temp_path("garbled.toml");
        std::fs::write(&p, &text).unwrap();
        let path = p.to_string_lossy().into_owned();
        let args = ["validate", path.as_str()];
        let o = faultline(&args);
        let err = stderr(&o);
        let c = code(&o);
        prop_assert!(c == 0 || c == 2, "{}", describe(&args, &o));
        prop_assert!(!err.contains("panicked"), "{}", describe(&args, &o));
        if c == 2 {
            // The one-line form, at a position inside the file.
            let prefix = format!("error: {path}:");
            let line = err.lines().find(|l| l.starts_with(&prefix));
            prop_assert!(line.is_some(), "{}", describe(&args, &o));
            let rest = &line.unwrap()[prefix.len()..];
            let mut it = rest.splitn(3, ':');
            let l: usize = it.next().unwrap().parse().unwrap();
            let col: usize = it.next().unwrap().parse().unwrap();
            let lines = text.split(|&b| b == b'\n').count();
            prop_assert!(l >= 1 && l <= lines && col >= 1, "position {l}:{col} outside the file ({lines} lines)");
        }
        let _ = std::fs::remove_file(&p);
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Budgets and output files: complete or absent.

/// Files in `dir`, temporaries included.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn an_exhausted_event_budget_is_inconclusive() {
    for args in [
        &["run", OUTAGE, "--max-events", "1000"][..],
        &["run", OUTAGE, "--max-events", "1000", "--json"][..],
        &["run", OUTAGE, "--max-events", "0", "--seed", "3"][..],
    ] {
        let o = expect_code(args, 3);
        assert!(stderr(&o).contains("inconclusive"), "{}", describe(args, &o));
        assert!(o.stdout.is_empty(), "nothing is reported for an inconclusive run:\n{}", describe(args, &o));
    }
}

/// A queue that fills without end (one worker, a capacity of 2^32, ten times its load) stops at
/// the memory budget instead of at the machine's memory; the same run with room left ends.
#[test]
fn a_run_that_holds_ever_more_requests_stops_at_its_memory_budget() {
    let scenario = |max_held: u64| {
        format!(
            "[scenario]\nname = \"flood\"\nduration_s = 10\nmax_held = {max_held}\n\n\
             [[region]]\nname = \"r\"\nzones = [\"z\"]\n\n\
             [[service]]\nname = \"api\"\nzones = [\"z\"]\ninstances = 1\nworkers = 1\nqueue_capacity = 4294967295\n\
             service_time = {{ dist = \"constant\", value_ms = 10 }}\n\n\
             [[workload]]\nname = \"users\"\nzone = \"z\"\ntarget = \"api\"\n\
             arrival = {{ process = \"constant\", rate_per_s = 10000 }}\ntimeout_ms = 100\n"
        )
    };
    let small = &temp_file("held-budget", "small.toml", scenario(20_000));
    let o = expect_code(&["run", small], 3);
    let err = stderr(&o);
    assert!(err.contains("held more than 20000 requests, messages and events"), "{}", describe(&["run", small], &o));
    assert!(o.stdout.is_empty());
    // About 99 000 requests queue up by the end of sending: with room for 200 000 the run ends.
    expect_code(&["run", &temp_file("held-budget", "room.toml", scenario(200_000))], 0);
}

#[test]
fn a_trace_is_absent_when_the_budget_runs_out() {
    let dir = temp_dir("trace-budget");
    let trace = dir.join("trace.jsonl");
    let t = trace.to_string_lossy().into_owned();
    let args = ["run", OUTAGE, "--max-events", "1000", "--trace", &t];
    let o = expect_code(&args, 3);
    assert!(stderr(&o).contains("inconclusive"), "{}", describe(&args, &o));
    assert!(!trace.exists(), "an inconclusive run left {t} behind");
    assert!(listing(&dir).is_empty(), "temporary files left behind: {:?}", listing(&dir));

    // An existing file at the destination is not replaced by a partial one.
    std::fs::write(&trace, "previous\n").unwrap();
    expect_code(&args, 3);
    assert_eq!(std::fs::read_to_string(&trace).unwrap(), "previous\n");
    assert_eq!(listing(&dir), ["trace.jsonl"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `run --seed 7 --json --trace FILE` on the outage scenario: the report and the trace's lines.
fn traced_run(tag: &str) -> (Value, Vec<Value>) {
    let dir = temp_dir(tag);
    let trace = dir.join("trace.jsonl");
    let t = trace.to_string_lossy().into_owned();
    let (r, _) = run_json(&["run", OUTAGE, "--seed", "7", "--json", "--trace", &t]);
    assert_eq!(listing(&dir), ["trace.jsonl"], "only the trace, no temporary files");
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.ends_with('\n'), "the last line is complete");
    let lines = text
        .lines()
        .enumerate()
        .map(|(i, line)| serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}: `{line}`", i + 1)))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    (r, lines)
}

#[test]
fn a_trace_of_a_complete_run_is_json_lines() {
    let (r, lines) = traced_run("trace-ok");
    assert!(lines.len() > 10_000, "{} lines", lines.len());
    let mut last = (0u64, 0u64);
    // Every event kind in a trace is one docs/cli.md lists (`run --trace FILE`).
    let docs = std::fs::read_to_string(Path::new(ROOT).join("docs/cli.md")).unwrap();
    let trace_doc = &docs[docs.find("## `run --trace FILE`").expect("docs/cli.md documents --trace")..];
    let mut faults = Vec::new();
    for (n, v) in lines.iter().enumerate() {
        for k in ["i", "t_ns", "kind", "actor", "peer", "detail"] {
            assert!(v.get(k).is_some(), "line {}: no `{k}`: {v}", n + 1);
        }
        let (i, t_ns) = (u(v, "i"), u(v, "t_ns"));
        assert!(i > last.0 && t_ns >= last.1, "line {}: index or time goes backwards: {v}", n + 1);
        last = (i, t_ns);
        let kind = v["kind"].as_str().unwrap();
        assert!(
            trace_doc.contains(&format!("`{kind}`")),
            "line {}: event kind `{kind}` is not documented in docs/cli.md (`run --trace FILE`)",
            n + 1
        );
        if kind.starts_with("fault-") {
            faults.push((kind, t_ns));
        } else {
            // A message's or timer's `detail` is words the docs list, not Rust's debug text.
            let detail = v["detail"].as_str().unwrap();
            let word = detail.split(' ').next().unwrap();
            assert!(trace_doc.contains(&format!("`{word}`")), "line {}: `{word}` is not in docs/cli.md: {v}", n + 1);
            assert!(
                !detail.contains(['{', '(', ':']) || detail.ends_with("(set before a crash)"),
                "line {}: {v}",
                n + 1
            );
        }
    }
    assert!(last.0 <= u(&r, "events") && last.1 <= u(&r, "sim_time_ns"), "the trace ends within the run");
    assert_eq!(faults, [("fault-start", 20_000_000_000), ("fault-end", 40_000_000_000)], "the outage, on time");

    // The same run without a trace has the same report.
    let (plain, _) = run_json(&["run", OUTAGE, "--seed", "7", "--json"]);
    assert_eq!(plain, r, "writing a trace changed the run");
}

#[test]
fn a_trace_has_one_line_per_applied_event() {
    // docs/cli.md: "one object per applied event"; `events` in the report counts them.
    let (r, lines) = traced_run("trace-count");
    let missing: Vec<u64> = lines
        .windows(2)
        .flat_map(|w| u(&w[0], "i") + 1..u(&w[1], "i"))
        .chain(1..lines.first().map_or(1, |v| u(v, "i")))
        .collect();
    assert!(
        missing.is_empty() && lines.len() as u64 == u(&r, "events"),
        "{} events, {} trace lines; indices missing from the trace: {missing:?} (first neighbours: {})",
        u(&r, "events"),
        lines.len(),
        missing.first().map_or(String::new(), |&m| lines
            .iter()
            .filter(|v| u(v, "i").abs_diff(m) <= 2)
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n"))
    );
}

#[test]
fn a_trace_into_a_missing_directory_is_bad_input() {
    let missing = temp_path("no-such-dir").join("trace.jsonl");
    let t = missing.to_string_lossy().into_owned();
    let o = expect_code(&["run", OUTAGE, "--trace", &t], 2);
    assert!(stderr(&o).contains("trace.jsonl"), "the message names the file: {}", stderr(&o));
    assert!(o.stdout.is_empty());
}

// ---------------------------------------------------------------------------------------------
// 8. Usage errors exit 2 (and help/version are not errors).

/// Runs `args` with stdout (and with `stderr_too`, stderr: `2>&1`) a pipe whose reader has
/// gone, as `faultline … | head` leaves it once `head` has its lines: every write fails.
fn into_closed_pipe(args: &[&str], stderr_too: bool) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(ROOT).env_remove("RUST_LOG").env("RUST_BACKTRACE", "0");
    if stderr_too {
        cmd.stderr(writer.try_clone().unwrap());
    }
    cmd.stdout(writer).output().unwrap()
}

#[test]
fn a_closed_stdout_ends_the_output_quietly_with_the_usual_exit_code() {
    let bad_key = "tests/histories/kv-one-bad-key.jsonl";
    let cases: &[&[&str]] = &[
        &["run", OUTAGE, "--seed", "1"],
        &["run", OUTAGE, "--seed", "1", "--json"],
        &["check-history", bad_key, "--model", "kv"],
        &["check-history", bad_key, "--model", "kv", "--json"],
        &["sweep", OUTAGE, "--seeds", "1..3"],
        &["check-determinism", OUTAGE, "--seed", "1"],
        &["explain", OUTAGE],
        &["validate", OUTAGE],
        &["list"],
    ];
    // The time check-history took is the one line of stderr that may differ between runs.
    let messages = |o: &std::process::Output| -> String {
        stderr(o).lines().filter(|l| !l.starts_with("checked in ")).map(|l| format!("{l}\n")).collect()
    };
    for args in cases {
        let usual = faultline(args);
        assert!(!usual.stdout.is_empty(), "{}", describe(args, &usual));
        let closed = into_closed_pipe(args, false);
        assert_eq!(code(&closed), code(&usual), "{}", describe(args, &closed));
        assert_eq!(messages(&closed), messages(&usual), "no message of its own:\n{}", describe(args, &closed));
        let both = into_closed_pipe(args, true);
        assert_eq!(code(&both), code(&usual), "stdout and stderr closed:\n{}", describe(args, &both));
    }
}

#[test]
fn a_reader_that_stops_early_ends_a_long_output_quietly() {
    // 10 ms windows over 30 s: a report of several hundred kilobytes, more than a pipe holds,
    // so the writer is still writing when the reader goes.
    let dir = temp_dir("early-reader");
    let file = dir.join("windows.toml");
    std::fs::write(
        &file,
        "[scenario]\nname = \"windows\"\nduration_s = 30\nwindow_ms = 10\n\n\
         [[region]]\nname = \"r\"\nzones = [\"r-a\"]\n\n\
         [[service]]\nname = \"api\"\nregion = \"r\"\nservice_time = { dist = \"exponential\", mean_ms = 5 }\n\n\
         [[workload]]\nname = \"users\"\nzone = \"r-a\"\ntarget = \"api\"\n\
         arrival = { process = \"poisson\", rate_per_s = 200 }\ntimeout_ms = 500\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    for args in [&["run", path, "--json"][..], &["run", path]] {
        let mut child = Command::new(BIN)
            .args(args)
            .env_remove("RUST_LOG")
            .env("RUST_BACKTRACE", "0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut head = [0u8; 100];
        std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut head).unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(code(&o), 0, "{}", describe(args, &o));
        assert_eq!(stderr(&o), "", "{}", describe(args, &o));
    }
}

#[test]
fn diagnostics_into_a_pipe_have_no_colour_codes() {
    // stderr is a pipe here, as in a CI log or `2> file`.
    let o = expect_code(&["-v", "run", OUTAGE, "--seed", "1"], 0);
    let err = stderr(&o);
    assert!(err.contains("fault") && err.contains("INFO"), "-v logs the fault timeline:\n{err}");
    assert!(!err.contains('\x1b'), "no ANSI escape codes outside a terminal:\n{err:?}");
}

#[test]
fn usage_errors_exit_two() {
    let missing = temp_path("missing.toml").to_string_lossy().into_owned();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "Usage"),
        (vec!["frobnicate"], "frobnicate"),
        (vec!["run"], "SCENARIO"),
        (vec!["run", OUTAGE, "--bogus"], "--bogus"),
        (vec!["--bogus", "list"], "--bogus"),
        (vec!["run", OUTAGE, "--seed", "seven"], "seven"),
        (vec!["run", OUTAGE, "--seed", "-1"], "-1"),
        (vec!["run", OUTAGE, "--max-events", "many"], "many"),
        (vec!["run", OUTAGE, "--variant", "nope"], "nope"),
        (vec!["check-determinism", OUTAGE, "--variant", "nope"], "nope"),
        (vec!["run", &missing], "missing.toml"),
        (vec!["validate", &missing], "missing.toml"),
        (vec!["check-determinism", &missing], "missing.toml"),
        (vec!["validate", "no-such-catalog-entry"], "no-such-catalog-entry"),
        (vec!["validate", "tests"], "tests"),
        (vec!["list", "extra"], "extra"),
        (
            vec!["sweep", OUTAGE, "--seeds", "1..3", "--variant", "fail-fast", "--variant", "fail-fast"],
            "--variant `fail-fast` is given twice",
        ),
    ];
    for (args, mention) in cases {
        let o = expect_code(&args, 2);
        assert!(stderr(&o).contains(mention), "stderr should mention `{mention}`:\n{}", describe(&args, &o));
    }
    // An unknown variant lists the known ones.
    let o = faultline(&["run", OUTAGE, "--variant", "nope"]);
    assert!(stderr(&o).contains("retry-once") && stderr(&o).contains("fail-fast"), "{}", stderr(&o));
}

#[test]
fn help_and_version_are_not_errors() {
    for args in [&["--help"][..], &["--version"][..], &["run", "--help"][..], &["help"][..]] {
        let o = expect_code(args, 0);
        assert!(!o.stdout.is_empty(), "{}", describe(args, &o));
    }
}

// ---------------------------------------------------------------------------------------------
// Valid but extreme scenarios: any answer but a panic.

const EXTREME_BASE: &str = r#"
[scenario]
name = "extreme"
duration_s = 5

[[region]]
name = "r"
zones = ["a", "b"]

[[service]]
name = "api"
region = "r"
instances = 2
workers = 4
service_time = { dist = "exponential", mean_ms = 5 }

[[workload]]
name = "users"
zone = "a"
target = "api"
timeout_ms = 500
"#;

/// Runs each `(label, scenario)` and requires exit 0, 2 or 3 without a panic.
fn never_panics(cases: &[(&str, String)]) {
    let mut failures = Vec::new();
    for (label, text) in cases {
        let p = temp_path(&format!("{label}.toml"));
        std::fs::write(&p, text).unwrap();
        let path = p.to_string_lossy().into_owned();
        for args in [vec!["validate", path.as_str()], vec!["run", path.as_str(), "--max-events", "2000000"]] {
            let o = faultline(&args);
            if !matches!(o.status.code(), Some(0 | 2 | 3)) || stderr(&o).contains("panicked") {
                failures.push(format!("[{label}]\n{text}\n{}", describe(&args, &o)));
                break;
            }
        }
        let _ = std::fs::remove_file(&p);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn extreme_but_valid_numbers_never_panic() {
    const POISSON: &str = "arrival = { process = \"poisson\", rate_per_s = 100 }";
    const WORK: &str = "service_time = { dist = \"exponential\", mean_ms = 5 }";
    // The base scenario ends inside its [[workload]]: `extra` adds workload fields (or tables).
    let with = |extra: &str| format!("{EXTREME_BASE}{extra}\n");
    let work = |dist: &str| with(POISSON).replace(WORK, &format!("service_time = {dist}"));
    let cases = [
        (
            "huge-timeout-and-retries",
            with(&format!(
                "{POISSON}\nretry = {{ max_attempts = 4294967295, backoff_base_ms = 1e300, backoff_max_ms = 1e300 }}"
            ))
            .replace("timeout_ms = 500", "timeout_ms = 1e300"),
        ),
        ("tiny-rate-poisson", with("arrival = { process = \"poisson\", rate_per_s = 1e-300 }\nstart_s = 1")),
        // A constant process at a tiny rate: the gap saturates, then `t + gap` overflowed.
        (
            "tiny-rate-constant-late-start",
            with("arrival = { process = \"constant\", rate_per_s = 1e-300 }\nstart_s = 1"),
        ),
        // A start far beyond the end (`stop_s` there is rejected, `start_s` is accepted).
        ("start-far-after-the-end", with(&format!("{POISSON}\nstart_s = 1e300"))),
        ("huge-service-time", work("{ dist = \"constant\", value_ms = 1e300 }")),
        ("pareto-tiny-shape", work("{ dist = \"pareto\", scale_ms = 1, shape = 1e-300 }")),
        ("normal-huge-spread", work("{ dist = \"normal\", mean_ms = 1, std_dev_ms = 1e300 }")),
        ("lognormal-extreme", work("{ dist = \"lognormal\", p50_ms = 1e-300, p99_ms = 1e300 }")),
        (
            "huge-latency",
            with(&format!(
                "{POISSON}\n\n[topology.latency]\nsame_zone = {{ dist = \"constant\", value_ms = 1e300 }}\n\
                 cross_zone = {{ dist = \"constant\", value_ms = 1e300 }}"
            )),
        ),
        (
            "slow-fault-forever",
            with(&format!(
                "{POISSON}\n\n[[fault]]\nkind = \"slow\"\ntargets = [\"api\"]\nfactor = 1e300\n\
                 start_s = 1\nduration_s = 1e300"
            )),
        ),
        ("diurnal-tiny-period", with(&format!("{POISSON}\ndiurnal = {{ period_s = 1e-300, amplitude = 1 }}"))),
        ("closed-loop-huge-think", with("users = 3\nthink_time = { dist = \"constant\", value_ms = 1e300 }")),
        // Queue timeouts that round to no time at all, or saturate.
        ("tiny-queue-timeout", with(POISSON).replace(WORK, &format!("{WORK}\nqueue_timeout_ms = 1e-300"))),
        ("huge-queue-timeout", with(POISSON).replace(WORK, &format!("{WORK}\nqueue_timeout_ms = 1e300"))),
    ];
    never_panics(&cases);
}

#[test]
fn a_sharded_database_target_never_panics() {
    // It validates, so `run` must not panic (it did: index out of bounds in `World::flush`, the
    // database replicas' actor ids pointing past the actors).
    let text = EXTREME_BASE.replace("target = \"api\"", "target = \"db\"")
        + "arrival = { process = \"poisson\", rate_per_s = 100 }\n\n\
           [[database]]\nname = \"db\"\nzones = [\"a\", \"b\"]\nshards = 3\nreplicas = 3\n\
           service_time = { dist = \"constant\", value_ms = 1 }\n";
    never_panics(&[("sharded-database", text)]);
}

/// The largest service validation accepts (MAX_NODES instances) must fit in memory: run it
/// for a few events under a 2 GiB address-space limit (20 KiB per instance, generous).
#[cfg(target_os = "linux")]
#[test]
fn the_largest_valid_service_fits_in_memory() {
    let text = format!(
        "[scenario]\nname = \"wide\"\nduration_s = 1\n\n[[region]]\nname = \"r\"\nzones = [\"a\"]\n\n\
         [[service]]\nname = \"api\"\nregion = \"r\"\ninstances = {}\nworkers = 1\nqueue_capacity = 0\n\
         service_time = {{ dist = \"constant\", value_ms = 1 }}\n\n[[workload]]\nname = \"users\"\nzone = \"a\"\n\
         target = \"api\"\narrival = {{ process = \"poisson\", rate_per_s = 10 }}\ntimeout_ms = 100\n",
        faultline_scenarios::MAX_NODES - 1
    );
    let p = temp_path("wide.toml");
    std::fs::write(&p, text).unwrap();
    let path = p.to_string_lossy().into_owned();
    expect_code(&["validate", &path], 0);
    let o = Command::new("sh")
        .args(["-c", "ulimit -v 2097152 && exec \"$0\" \"$@\"", BIN, "run", &path, "--max-events", "1000"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 3)) && !stderr(&o).contains("panicked"),
        "{} instances do not fit in 2 GiB:\n{}",
        faultline_scenarios::MAX_NODES - 1,
        describe(&["run", &path, "--max-events", "1000"], &o)
    );
    let _ = std::fs::remove_file(&p);
}

#[test]
fn run_saves_a_replay_that_replay_reproduces() {
    let path = temp_path("replay.json");
    let p = path.to_str().unwrap();
    let o = expect_code(&["run", "circuit-breaker", "--seed", "4", "--json", "--save-replay", p], 0);
    let hash = serde_json::from_str::<Value>(&stdout(&o)).unwrap()["trace_hash"].as_str().unwrap().to_owned();
    let o = expect_code(&["replay", p, "--json"], 0);
    assert_eq!(serde_json::from_str::<Value>(&stdout(&o)).unwrap()["trace_hash"], hash.as_str());
    assert!(stderr(&o).contains("reproduced"), "{}", stderr(&o));
    // A tampered seed is another run: exit 1, both hashes named.
    let text = std::fs::read_to_string(&path).unwrap().replace("\"seed\": 4", "\"seed\": 5");
    std::fs::write(&path, &text).unwrap();
    let o = expect_code(&["replay", p], 1);
    assert!(stderr(&o).contains("NOT reproduced") && stderr(&o).contains(&hash), "{}", stderr(&o));
    // Recorded at this build's simulation revision, so the mismatch is called a determinism bug
    // (here it is the tampered seed); at another revision, or none recorded, the model change is
    // named as the likely cause.
    let revision = format!("\"sim_revision\": {}", faultline_models::SIM_REVISION);
    assert!(text.contains(&revision), "{text}");
    assert!(stderr(&o).contains("determinism bug"), "{}", stderr(&o));
    std::fs::write(&path, text.replace(&revision, "\"sim_revision\": 0")).unwrap();
    let o = expect_code(&["replay", p], 1);
    assert!(stderr(&o).contains("recorded at simulation revision 0"), "{}", stderr(&o));
    std::fs::write(&path, text.replace(&format!("{revision},"), "")).unwrap();
    let o = expect_code(&["replay", p], 1);
    assert!(stderr(&o).contains("before replay files recorded the simulation revision"), "{}", stderr(&o));
    // Not a replay file: exit 2 with a position.
    std::fs::write(&path, "{\n  \"format\": 1,\n  \"nope\": true\n}\n").unwrap();
    let o = expect_code(&["replay", p], 2);
    assert!(stderr(&o).contains(&format!("{p}:3:")), "{}", stderr(&o));
}

#[test]
fn a_replay_whose_command_never_applied_is_not_reproduced() {
    let dir = temp_dir("replay-late-command");
    let file = dir.join("r.json");
    let path = file.to_str().unwrap();
    expect_code(&["run", OUTAGE, "--seed", "2", "--save-replay", path], 0);
    // The recorded hash is the plain run's, which is what the replay gives without the command.
    let mut r: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    r["commands"] = serde_json::json!([{
        "command": "inject", "at_event": 1_000_000_000_000u64, "t_ns": 0, "duration_ns": null,
        "fault": "{ kind = \"region-outage\", region = \"us-east\" }"
    }]);
    std::fs::write(&file, serde_json::to_string_pretty(&r).unwrap()).unwrap();
    let o = expect_code(&["replay", path], 1);
    let err = stderr(&o);
    assert!(
        err.starts_with("NOT reproduced: ")
            && err.contains("never applied, the run having ended first: command 1 (inject `{ kind = \"region-outage\"")
            && err.contains("at event 1000000000000)")
            && err.contains("the file was edited after it was saved")
            && !err.contains("determinism bug"),
        "{}",
        describe(&["replay", path], &o)
    );
    // At the run's very last event the command is not applied either (it was dropped in
    // silence, and the replay said "reproduced").
    let events = r["events"].as_u64().unwrap();
    r["commands"][0]["at_event"] = events.into();
    std::fs::write(&file, serde_json::to_string_pretty(&r).unwrap()).unwrap();
    let o = expect_code(&["replay", path], 1);
    assert!(stderr(&o).contains(&format!("at event {events})")), "{}", stderr(&o));
}

#[test]
fn a_replay_file_that_is_not_utf8_is_refused_at_its_first_bad_byte() {
    let dir = temp_dir("replay-not-utf8");
    let file = dir.join("r.json");
    let path = file.to_str().unwrap();
    expect_code(&["run", OUTAGE, "--seed", "2", "--save-replay", path], 0);
    let mut bytes = std::fs::read(&file).unwrap();
    // Line 3, column 5: in `  "faultline_version"`.
    let line3 = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(1).unwrap().0 + 1;
    bytes[line3 + 4] = 0xfe;
    std::fs::write(&file, &bytes).unwrap();
    for cmd in ["replay", "shrink"] {
        let o = expect_code(&[cmd, path], 2);
        assert!(
            stderr(&o).contains(&format!("error: {path}:3:5: expected UTF-8 text, found a byte that is not")),
            "{}",
            describe(&[cmd, path], &o)
        );
    }
}

#[test]
fn run_writes_a_history_that_lists_every_operation() {
    let path = temp_path("history.jsonl");
    let p = path.to_str().unwrap();
    let o = expect_code(&["run", "database-failover", "--json", "--history", p], 0);
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let ops = report["databases"][0]["consistency"]["operations"].as_u64().unwrap();
    let lines: Vec<Value> =
        std::fs::read_to_string(&path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len() as u64, 2 * ops, "an invocation and a completion per operation");
    for l in &lines {
        assert!(["invoke", "ok", "fail", "info"].contains(&l["type"].as_str().unwrap()), "{l}");
        assert!(["read", "write"].contains(&l["f"].as_str().unwrap()));
        assert!(l["process"].is_u64() && l["key"].is_u64() && l["time"].is_u64());
    }
    // No database: nothing to record.
    let o = expect_code(&["run", "retry-storm", "--history", p], 2);
    assert!(stderr(&o).contains("--history"), "{}", stderr(&o));
}

/// Two databases, two closed-loop workloads: their operations overlap in time all run long.
const TWO_DATABASES: &str = r#"
[scenario]
name = "two-databases"
duration_s = 10

[[region]]
name = "us"
zones = ["us-a", "us-b", "us-c"]

[[workload]]
name = "users"
zone = "us-b"
target = "kv"
users = 3
think_time = { dist = "exponential", mean_ms = 100 }
timeout_ms = 300
keys = { count = 2 }
mix = [{ kind = "read", weight = 1, op = "read" }, { kind = "write", weight = 1, op = "write" }]

[[workload]]
name = "users2"
zone = "us-c"
target = "kv2"
users = 2
think_time = { dist = "exponential", mean_ms = 100 }
timeout_ms = 300
keys = { count = 2 }
mix = [{ kind = "read", weight = 1, op = "read" }, { kind = "write", weight = 1, op = "write" }]

[[database]]
name = "kv"
zones = ["us-a", "us-b", "us-c"]
shards = 1
replicas = 3
consistency = "strong"
service_time = { dist = "exponential", mean_ms = 1 }

[[database]]
name = "kv2"
zones = ["us-a", "us-b", "us-c"]
shards = 1
replicas = 3
consistency = "strong"
service_time = { dist = "exponential", mean_ms = 1 }
"#;

/// Each database's history numbers its processes from 0; merged into one file they once kept
/// those numbers, so two databases' pending operations shared a process and `check-history`
/// rejected the file (exit 2).
#[test]
fn a_history_of_two_databases_gives_each_its_own_processes_and_passes_check_history() {
    let scenario = temp_file("two-databases", "two-databases.toml", TWO_DATABASES);
    let path = temp_path("two-databases.jsonl");
    let p = path.to_str().unwrap();
    expect_code(&["run", &scenario, "--json", "--history", p], 0);
    let lines: Vec<Value> =
        std::fs::read_to_string(&path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let processes = |db: &str| -> std::collections::BTreeSet<u64> {
        let prefix = format!("{db}/");
        lines.iter().filter(|l| l["key"].as_str().unwrap().starts_with(&prefix)).map(|l| u(l, "process")).collect()
    };
    let (kv, kv2) = (processes("kv"), processes("kv2"));
    assert!(!kv.is_empty() && !kv2.is_empty());
    assert!(kv.is_disjoint(&kv2), "the databases share processes");
    // Both are strong stores: linearizable, key by key.
    let o = expect_code(&["check-history", p, "--model", "kv"], 0);
    assert!(stdout(&o).contains("linearizable"), "{}", stdout(&o));
}

/// A check over `between_s` (lab 2's `success_rate >= 0.99` over 60–90 s): the printed test
/// gives the span (it once passed its label, `60–90 s`, as a fault's name, and panicked with
/// "bad check" whatever the model did), fails on the case and passes on a check that holds.
#[test]
fn a_shrunk_check_over_a_time_span_prints_a_test_that_can_pass() {
    let out = temp_path("lab2-shrunk.json");
    let p = out.to_str().unwrap();
    let o = expect_code(&["shrink", "docs/workshop/lab-2-retries.toml", "--out", p], 0);
    let test = stdout(&o);
    let call = "faultline_scenarios::shrink::assert_holds_between(replay, \"success_rate >= 0.99\", 60.0, 90.0);";
    assert!(test.contains(call), "{test}");
    let json = std::fs::read_to_string(&out).unwrap();
    let fails = std::panic::catch_unwind(|| {
        faultline_scenarios::shrink::assert_holds_between(&json, "success_rate >= 0.99", 60.0, 90.0)
    });
    let message = fails.expect_err("the shrunk case fails its check");
    let message = message.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("does not hold"), "{message}");
    faultline_scenarios::shrink::assert_holds_between(&json, "success_rate >= 0", 60.0, 90.0);
}

#[test]
fn shrink_writes_a_replay_and_prints_a_test() {
    // The planted bug's shrunk case (tests/it/shrunk.rs) is already minimal: shrinking it keeps
    // it failing and reproducible.
    let committed = include_str!("shrunk.rs");
    let json = &committed[committed.find("r#\"").unwrap() + 3..committed.find("\"#;").unwrap()];
    let input = temp_path("case.json");
    std::fs::write(&input, json).unwrap();
    let out = temp_path("shrunk.json");
    let (i, p) = (input.to_str().unwrap(), out.to_str().unwrap());
    let o = expect_code(&["shrink", i, "--out", p], 0);
    assert!(stdout(&o).contains("#[test]") && stdout(&o).contains("assert_holds"), "{}", stdout(&o));
    assert!(stderr(&o).contains("shrunk `anomalies.lost_update == 0`"), "{}", stderr(&o));
    expect_code(&["replay", p], 0);
    // A check that holds: nothing to shrink.
    let o = expect_code(&["shrink", i, "--check", "success_rate >= 0"], 2);
    assert!(stderr(&o).contains("nothing to shrink"), "{}", stderr(&o));
    let o = expect_code(&["shrink", i, "--check", "bogus.figure < 1"], 2);
    assert!(stderr(&o).contains("bogus.figure"), "{}", stderr(&o));
    // A failing run that stops at its event budget is exit 3, as `run` says (it was bad input, 2).
    let tiny = temp_path("tiny-budget.toml");
    let text = "[scenario]\nname = \"tiny-budget\"\nduration_s = 5\nmax_events = 100\n\n\
                [[region]]\nname = \"r\"\nzones = [\"a\"]\n\n\
                [[service]]\nname = \"s\"\nzones = [\"a\"]\ninstances = 1\nworkers = 1\n\
                service_time = { dist = \"exponential\", mean_ms = 1 }\n\n\
                [[workload]]\nname = \"w\"\nzone = \"a\"\ntarget = \"s\"\n\
                arrival = { process = \"poisson\", rate_per_s = 100 }\ntimeout_ms = 100\n\n\
                [[expect]]\ncheck = \"latency_ms.p99 < 0.001\"\n";
    std::fs::write(&tiny, text).unwrap();
    let o = expect_code(&["shrink", tiny.to_str().unwrap(), "--out", p], 3);
    assert!(stderr(&o).contains("event budget of 100 events ran out"), "{}", stderr(&o));
    // The same with the check given (no run of its own before shrinking): it was exit 2,
    // "does not fail on seed 1: nothing to shrink".
    let o = expect_code(&["shrink", tiny.to_str().unwrap(), "--check", "latency_ms.p99 < 0.001", "--out", p], 3);
    assert!(stderr(&o).contains("event budget of 100 events ran out"), "{}", stderr(&o));
}

#[test]
fn sweep_text_shows_what_its_json_does_per_variant() {
    let args = ["sweep", OUTAGE, "--seeds", "1..8"];
    let text = stdout(&expect_code(&args, 0));
    let (json, _) = run_json(&[&args[..], &["--json"]].concat());
    for heading in ["success %", "mean ms", "p50 ms", "p99 ms", "p99.9 ms", "timed out", "pooled"] {
        assert!(text.contains(heading), "no `{heading}`:\n{text}");
    }
    for v in json["variants"].as_array().unwrap() {
        let name = v["variant"].as_str().unwrap();
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with(&format!("  {name} "))).collect();
        // The figures' row, then the latency row.
        let [figures, latency] = rows[..2] else { panic!("two rows for {name}:\n{text}") };
        for (figure, k, digits) in [
            ("success_rate", 100.0, 2),
            ("latency_mean_ms", 1.0, 1),
            ("latency_p50_ms", 1.0, 1),
            ("latency_p99_ms", 1.0, 1),
            ("latency_p999_ms", 1.0, 1),
            ("timed_out", 1.0, 1),
        ] {
            let e = &v["figures"][figure];
            let shown = format!("{:.digits$} ± {:.digits$}", f(e, "mean") * k, f(e, "ci95") * k);
            assert!(figures.contains(&shown), "{figure} {shown} not in `{figures}`");
        }
        for (part, keys) in [
            ("p99_over_seeds", &["min", "p50", "p90", "max"][..]),
            ("pooled_latency_ms", &["mean", "p50", "p90", "p99", "p999", "max"]),
        ] {
            for key in keys {
                let shown = format!("{:.1}", f(&v[part], key));
                assert!(latency.contains(&shown), "{part}.{key} {shown} not in `{latency}`");
            }
        }
        let worst = v["worst_seeds"].as_array().unwrap();
        assert_eq!(worst.len(), 5, "{v}");
        for w in worst {
            let replay = w["replay"].as_str().unwrap();
            assert_eq!(text.matches(replay).count(), 1, "`{replay}` once:\n{text}");
        }
    }
}

/// The sweep's table lines up whatever its figures' widths: every line as long as the
/// heading's, each column's `±` one above the other (a 4-digit count of timeouts against a
/// 1-digit one pushed them apart).
#[test]
fn sweep_table_columns_line_up() {
    let text = stdout(&expect_code(&["sweep", OUTAGE, "--seeds", "1..4"], 0));
    let table: Vec<&str> = text.lines().skip(2).take_while(|l| !l.is_empty()).collect();
    assert_eq!(table.len(), 3, "{text}");
    let width = |l: &str| l.chars().count();
    assert!(table.iter().all(|l| width(l) == width(table[0])), "{text}");
    let plus_minus = |l: &str| l.chars().enumerate().filter(|(_, c)| *c == '±').map(|(i, _)| i).collect::<Vec<_>>();
    assert_eq!(plus_minus(table[1]).len(), 6, "{text}");
    assert_eq!(plus_minus(table[1]), plus_minus(table[2]), "{text}");
    // The timed-out column holds 2448.0 and 0.0.
    assert!(table[1].contains("2448.0 ± 0.0") && table[2].contains("   0.0 ± 0.0"), "{text}");
}

/// The over-time table: the last window of a run that ends 20 ms after a window boundary is
/// `120–120.02` (it read `120–120.0`), and a window without requests has no error rate (`-`,
/// not `0.0`).
#[test]
fn run_summary_windows_are_labelled_by_their_span_and_rate() {
    let text = stdout(&expect_code(&["run", "docs/workshop/lab-1-queueing.toml"], 1));
    let rows: Vec<&str> = text.lines().filter(|l| l.contains("120–")).collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert!(rows[0].trim_start().starts_with("120–120.02 "), "{}", rows[0]);
    let text = stdout(&expect_code(&["run", "docs/workshop/lab-8-saga-storm.toml"], 1));
    let quiet: Vec<&str> = text.lines().filter(|l| l.contains("90–93.6")).collect();
    assert_eq!(quiet.len(), 1, "{text}");
    let cells: Vec<&str> = quiet[0].split_whitespace().collect();
    assert_eq!(cells[1..], ["0", "0", "0", "-", "-", "-"], "{}", quiet[0]);
}

#[test]
fn counts_of_one_are_said_in_the_singular() {
    // cross-region-outage: two variants, one workload, two balancers, two services, one fault.
    let valid = stdout(&expect_code(&["validate", OUTAGE], 0));
    assert!(valid.contains(", 2 variants, 1 workload, 2 load balancers, 2 services, 1 fault\n"), "{valid}");
    let sweep = stdout(&expect_code(&["sweep", OUTAGE, "--seeds", "1..2"], 0));
    assert!(sweep.contains("fail-fast − retry-once (1 seed): "), "{sweep}");
    let o = expect_code(&["check-history", "tests/histories/kv-one-bad-key.jsonl", "--model", "kv"], 1);
    assert!(stdout(&o).contains("(1 of 3 keys bad; 8 operations)"), "{}", stdout(&o));
    for text in [valid, sweep, stdout(&o)] {
        assert!(!text.contains("(s)"), "{text}");
    }
}

#[test]
fn sweep_writes_replay_files_of_its_worst_seeds() {
    let dir = temp_path("worst");
    let d = dir.to_str().unwrap();
    expect_code(&["sweep", "circuit-breaker", "--seeds", "1..4", "--save-replays", d], 0);
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty());
    for f in &files {
        let o = expect_code(&["replay", f.to_str().unwrap()], 0);
        assert!(stderr(&o).contains("as recorded"), "{}", stderr(&o));
    }
}

/// Names are free text. A scenario named `../../escaped` wrote its replay files two directories
/// above `--save-replays DIR` (saying they were in DIR), a variant named `fail/fast` failed the
/// sweep after all its runs, and a worst seed's replay command with spaces in its path or
/// variant did not run as pasted.
#[cfg(unix)]
#[test]
fn odd_names_stay_in_the_replay_directory_and_replay_commands_run_as_pasted() {
    let text = std::fs::read_to_string(Path::new(ROOT).join("scenarios/catalog/cross-region-outage.toml"))
        .unwrap()
        .replace("name = \"cross-region-outage\"", "name = \"../../escaped\"")
        .replace("name = \"fail-fast\"", "name = \"fail/fast it's\"")
        .replace("variants = [\"fail-fast\"]", "variants = [\"fail/fast it's\"]");
    let root = temp_dir("odd-names");
    let work = root.join("a").join("b");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("my scenario.toml"), text).unwrap();
    let o = Command::new(BIN)
        .args(["sweep", "my scenario.toml", "--seeds", "1..3", "--save-replays", "replays", "--json"])
        .current_dir(&work)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let files: Vec<_> = std::fs::read_dir(work.join("replays")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 4, "{files:?}"); // 2 variants × 2 seeds
    assert!(files.iter().all(|f| f.to_string_lossy().starts_with(".._.._escaped-")), "{files:?}");
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 1, "only a/ in {root:?}");
    let sweep: Value = serde_json::from_slice(&o.stdout).unwrap();
    for v in sweep["variants"].as_array().unwrap() {
        let cmd = v["worst_seeds"][0]["replay"].as_str().unwrap();
        let bin_dir = Path::new(BIN).parent().unwrap().to_str().unwrap().to_owned();
        let run = Command::new("sh")
            .args(["-c", &format!("{cmd} --json")])
            .current_dir(&work)
            .env("PATH", format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default()))
            .output()
            .unwrap();
        assert!(matches!(run.status.code(), Some(0 | 1)), "{cmd}: {}", stderr(&run));
        let ran: Value = serde_json::from_slice(&run.stdout).unwrap();
        assert_eq!((&ran["variant"], &ran["seed"]), (&v["variant"], &v["worst_seeds"][0]["seed"]), "{cmd}");
    }
}

#[test]
fn explain_describes_every_catalog_scenario_in_words() {
    for e in faultline_scenarios::catalog::CATALOG {
        let o = expect_code(&["explain", e.name], 0);
        let text = stdout(&o);
        let sc = faultline_scenarios::Scenario::parse(&faultline_scenarios::Source {
            file: e.name.into(),
            text: e.text.into(),
        })
        .unwrap();
        let spec = sc.variant(None).unwrap().spec.clone();
        for name in spec.services.iter().map(|s| &s.name).chain(spec.workloads.iter().map(|w| &w.name)) {
            assert!(text.contains(name.as_str()), "{}: `{name}` not mentioned:\n{text}", e.name);
        }
        // Every component's own line, with its worker pool where it has one.
        let described = |what: String| assert!(text.contains(&what), "{}: no `{what}`:\n{text}", e.name);
        spec.caches.iter().for_each(|c| described(format!("cache {}:", c.name)));
        spec.queues.iter().for_each(|q| described(format!("queue {}:", q.name)));
        for d in &spec.databases {
            described(format!("database {}:", d.name));
            described(format!(
                "each replica: {} and room for {}",
                faultline_scenarios::count(d.workers, "worker"),
                d.queue_capacity
            ));
        }
        for w in &spec.workflows {
            described(format!("workflow {} ({}):", w.name, w.design.name()));
            for (i, st) in w.steps.iter().enumerate() {
                described(format!(
                    "step {} {} ({}): {}",
                    i + 1,
                    st.name,
                    st.role.name(),
                    faultline_scenarios::count(st.workers, "worker")
                ));
            }
        }
        // Every fault, in the order they start (whatever the file's order).
        let mut last = 0;
        for f in &spec.faults {
            let line = format!("{}: {}", secs(f.start), f.name);
            assert!(text.contains(&line), "{}: fault `{}`:\n{text}", e.name, f.name);
        }
        let mut starts: Vec<&_> = spec.faults.iter().collect();
        starts.sort_by_key(|f| f.start);
        for f in starts {
            let at = text.find(&format!("{}: {}", secs(f.start), f.name)).unwrap();
            assert!(at >= last, "{}: fault `{}` out of time order:\n{text}", e.name, f.name);
            last = at;
        }
        for v in &sc.variants {
            assert!(sc.variants.len() == 1 || text.contains(&v.name), "{}: variant {}", e.name, v.name);
        }
    }
    expect_code(&["explain", "retry-storm", "--variant", "nope"], 2);
    // A file that lists its faults out of time order is told in time order.
    let text = faultline_scenarios::catalog::get("checkout-outage").unwrap().text;
    let (head, faults) = text.split_once("[[fault]]").unwrap();
    let (first, rest) = faults.split_once("[[fault]]").unwrap();
    let (second, tail) = rest.split_once("\n[[").map_or((rest, String::new()), |(a, b)| (a, format!("\n[[{b}")));
    let swapped = format!("{head}[[fault]]{second}\n[[fault]]{first}{tail}");
    let out = stdout(&expect_code(&["explain", &temp_file("explain-order", "swapped.toml", swapped)], 0));
    let (at15, at30) = (out.find("at 15 s: ").unwrap(), out.find("at 30 s: ").unwrap());
    assert!(at15 < at30, "{out}");
}

#[test]
fn explain_names_each_request_kind_its_work_and_its_share_of_the_mix() {
    let kinds = r#"
[scenario]
name = "kinds"
duration_s = 5

[[region]]
name = "r"
zones = ["a"]

[[workload]]
name = "users"
zone = "a"
target = "api"
timeout_ms = 500
arrival = { process = "poisson", rate_per_s = 100 }
mix = [{ kind = "browse", weight = 7 }, { kind = "buy", weight = 3, op = "write" }]

[[service]]
name = "api"
zones = ["a"]
kinds = [{ name = "browse", service_time = { dist = "constant", value_ms = 2 } }, { name = "buy", service_time = { dist = "exponential", mean_ms = 20 } }]
calls = [{ target = "db", kind = "slow", timeout_ms = 100 }]

[[service]]
name = "db"
zones = ["a"]
kinds = [{ name = "fast", service_time = { dist = "constant", value_ms = 1 } }, { name = "slow", service_time = { dist = "constant", value_ms = 9 } }]
"#;
    let out = stdout(&expect_code(&["explain", &temp_file("explain-kinds", "kinds.toml", kinds)], 0));
    for said in [
        "70% `browse` (reads), 30% `buy` (writes)",
        "local work takes exactly 2 ms for `browse`, 20 ms on average (exponential) for `buy`",
        "calls service `db` directly (round-robin over its instances) with `slow` requests",
        "local work takes exactly 1 ms for `fast`, exactly 9 ms for `slow`",
    ] {
        assert!(out.contains(said), "no `{said}`:\n{out}");
    }
    // No description: the title is the name alone, not "kinds — ".
    assert!(out.starts_with("kinds\n"), "{out}");
    // The workload picks a kind per request: its call names none.
    assert!(!out.contains("`api` directly (round-robin over its instances) with"), "{out}");
}

fn secs(t: u64) -> String {
    let s = t as f64 / 1e9;
    if s.fract() == 0.0 { format!("at {s:.0} s") } else { format!("at {s:.1} s") }
}

#[test]
fn sweep_writes_a_self_contained_html_report_with_labelled_charts() {
    let dir = temp_path("report");
    let out = temp_path("records.jsonl");
    let (d, o) = (dir.to_str().unwrap(), out.to_str().unwrap());
    expect_code(&["sweep", "partition-consistency", "--seeds", "1..3", "--report", d, "--out", o], 0);
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 5, "five charts");
    for title in [
        "Latency CDF of successful requests",
        "p99 latency over simulated time",
        "Error rate over simulated time",
        "anomalies per variant",
        "Paired differences: variant − strong",
    ] {
        assert!(html.contains(title), "title `{title}`");
    }
    // Axis labels with units.
    for label in [
        "latency (ms, log scale)",
        "simulated time (s)",
        "p99 latency (ms)",
        "failed or timed out (% of requests)",
        "count (anomalies, all seeds)",
        "difference in p99 latency (ms)",
        "difference in success rate (percentage points)",
    ] {
        assert!(html.contains(label), "axis label `{label}`");
    }
    assert!(html.contains("fault: ap cut off"), "the fault window is marked");
    // Self-contained: no scripts, no external assets (only SVG's namespace URI).
    assert!(!html.contains("<script") && !html.contains("src="));
    assert!(html.replace("http://www.w3.org/2000/svg", "").find("http").is_none());
    for csv in ["latency-cdf", "p99-over-time", "error-rate-over-time", "anomalies", "paired-differences"] {
        let text = std::fs::read_to_string(dir.join(format!("{csv}.csv"))).unwrap();
        assert!(text.lines().count() > 1 && text.starts_with("variant,"), "{csv}.csv");
        assert!(html.contains(&format!("href=\"{csv}.csv\"")));
    }
    // `faultline report` from the sweep's records draws the same page.
    let again = temp_path("report2");
    expect_code(&["report", o, "--out", again.to_str().unwrap()], 0);
    assert_eq!(std::fs::read_to_string(again.join("index.html")).unwrap(), html);
}

#[test]
fn long_version_names_the_simulation_revision() {
    let o = expect_code(&["--version"], 0);
    let want = format!("(simulation revision {})", faultline_models::SIM_REVISION);
    assert!(stdout(&o).contains(&want), "{}", stdout(&o));
    // One seed: a mean without an interval (not `± 0.00`), and no `inf` or `NaN` in the data.
    let one = temp_path("report-one-seed");
    expect_code(&["sweep", "circuit-breaker", "--seeds", "5..6", "--report", one.to_str().unwrap()], 0);
    let html = std::fs::read_to_string(one.join("index.html")).unwrap();
    let cells: Vec<&str> = html.split("<td>").skip(1).map(|c| &c[..c.find("</td>").unwrap()]).collect();
    assert!(!cells.iter().any(|c| c.contains('±')), "one seed has no interval: {cells:?}");
    assert!(html.contains("on one seed (no interval)"), "the paired chart says so");
    let csv = std::fs::read_to_string(one.join("paired-differences.csv")).unwrap();
    assert!(!csv.contains("inf") && !csv.contains("NaN") && csv.lines().skip(1).all(|l| l.ends_with(',')), "{csv}");
}

/// The summary's last window ends where the run did, not a whole window later; windows shorter
/// than a second keep the decimals they need.
#[test]
fn the_summarys_windows_are_labelled_as_they_ran() {
    let (r, _) = run_json(&["run", "retry-storm", "--json"]);
    let end = u(&r, "sim_time_ns") as f64 / 1e9;
    let last = r["timeseries"]["t_s"].as_array().unwrap().last().unwrap().as_f64().unwrap();
    let text = stdout(&expect_code(&["run", "retry-storm"], 0));
    let label = format!("{last:.0}–{end:.1} ");
    assert!(end.fract() > 0.0 && text.contains(&label), "no `{label}` in:\n{text}");
    let sc = faultline_scenarios::catalog::get("retry-storm").unwrap().text.replacen(
        "window_ms = 5000",
        "window_ms = 10",
        1,
    );
    assert_ne!(sc, faultline_scenarios::catalog::get("retry-storm").unwrap().text, "retry-storm sets window_ms = 5000");
    let text = stdout(&expect_code(&["run", &temp_file("window-labels", "fine.toml", sc)], 0));
    assert!(text.contains("   0.01–0.02 "), "{}", &text[..text.len().min(3000)]);
}

/// `validate` says what each variant builds when it differs from the first.
#[test]
fn validate_names_the_variants_that_build_something_else() {
    let file = temp_file(
        "validate-variants",
        "v.toml",
        "[scenario]\nname = \"v\"\nduration_s = 10\n\n[[region]]\nname = \"r\"\nzones = [\"z\"]\n\n\
         [[service]]\nname = \"api\"\nzones = [\"z\"]\ninstances = 1\nworkers = 1\n\
         service_time = { dist = \"constant\", value_ms = 1 }\n\n\
         [[fault]]\nname = \"x\"\nkind = \"zone-outage\"\nzone = \"z\"\nstart_s = 2\n\n\
         [[variant]]\nname = \"with\"\n\n[[variant]]\nname = \"same\"\n\n\
         [[variant]]\nname = \"calm\"\nset = { \"fault\" = [] }\n",
    );
    let out = stdout(&expect_code(&["validate", &file], 0));
    assert!(
        out.ends_with("ok — scenario `v`, 3 variants, 1 service, 1 fault; variant calm: 1 service, 0 faults\n"),
        "{out}"
    );
}
