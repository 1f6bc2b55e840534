//! Input that must cost bounded memory and time (oversized or endless files, absurd options),
//! and outputs that are all published or none, on every way out.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::bin::{BIN, ROOT, describe, expect_code, stderr, temp_path};

/// A fresh, empty directory.
fn temp_dir(tag: &str) -> PathBuf {
    let d = temp_path(tag);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the binary with its address space limited to 1 GiB (`ulimit -v`): reading an endless
/// file whole would abort on a failed allocation instead of eating the machine's memory.
fn faultline_in_1gib(args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
        .arg(BIN)
        .args(args)
        .current_dir(ROOT)
        .env_remove("RUST_LOG")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("spawn faultline")
}

#[cfg(target_os = "linux")]
#[test]
fn an_endless_file_is_read_no_further_than_the_size_limit() {
    let dir = temp_dir("endless");
    // `shrink` and `replay` read a `.json` argument as a replay file.
    let zero_json = dir.join("zero.json");
    std::os::unix::fs::symlink("/dev/zero", &zero_json).unwrap();
    let zero_json = zero_json.to_str().unwrap();
    for args in [
        vec!["validate", "/dev/zero"],
        vec!["run", "/dev/zero"],
        vec!["sweep", "/dev/zero", "--seeds", "1..2"],
        vec!["replay", "/dev/zero"],
        vec!["shrink", zero_json],
        vec!["check-history", "/dev/zero", "--model", "kv"],
    ] {
        let o = faultline_in_1gib(&args);
        assert_eq!(o.status.code(), Some(2), "{}", describe(&args, &o));
        let err = stderr(&o);
        assert!(err.contains("file is larger than"), "{}", describe(&args, &o));
        assert!(!err.contains("panicked") && !err.contains("memory allocation"), "{}", describe(&args, &o));
    }
    // Sweep records are read a line at a time, each line bounded (a file of records may be big).
    let report = dir.join("report");
    for args in [
        vec!["merge", "/dev/zero"],
        vec!["report", "/dev/zero", "--out", report.to_str().unwrap()],
        vec!["compare", "/dev/zero", "/dev/zero"],
        vec!["sweep", "retry-storm", "--seeds", "1..2", "--out", "/dev/zero"],
    ] {
        let o = faultline_in_1gib(&args);
        assert_eq!(o.status.code(), Some(2), "{}", describe(&args, &o));
        let err = stderr(&o);
        assert!(err.contains("line 1: longer than 64 MiB"), "{}", describe(&args, &o));
        assert!(!err.contains("panicked") && !err.contains("memory allocation"), "{}", describe(&args, &o));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A small scenario that runs in milliseconds.
const MINIMAL: &str = r#"[scenario]
name = "minimal"
duration_s = 5

[[region]]
name = "us-east"
zones = ["us-east-a"]

[[service]]
name = "api"
region = "us-east"
service_time = { dist = "exponential", mean_ms = 5 }

[[workload]]
name = "users"
zone = "us-east-a"
target = "api"
arrival = { process = "poisson", rate_per_s = 200 }
timeout_ms = 500
"#;

/// `text` written to `name` in a fresh directory; its path.
fn temp_file(tag: &str, name: &str, text: &str) -> String {
    let file = temp_dir(tag).join(name);
    std::fs::write(&file, text).unwrap();
    file.to_str().unwrap().to_owned()
}

#[test]
fn sweep_threads_are_bounded_and_never_more_than_the_runs() {
    let sc = temp_file("threads", "minimal.toml", MINIMAL);
    let o = expect_code(&["sweep", &sc, "--seeds", "1..3", "--threads", "2000"], 2);
    assert!(stderr(&o).contains("at most 1024 threads"), "{}", stderr(&o));
    // The most allowed, for two runs: as fast as two threads, and the same output as one.
    let started = std::time::Instant::now();
    let many = expect_code(&["sweep", &sc, "--seeds", "1..3", "--threads", "1024", "--json"], 0);
    assert!(started.elapsed().as_secs() < 20, "1024 threads for 2 runs took {:?}", started.elapsed());
    let one = expect_code(&["sweep", &sc, "--seeds", "1..3", "--threads", "1", "--json"], 0);
    assert_eq!(many.stdout, one.stdout);
}

/// What grows with every request without being a request held: attempt deadlines waiting in
/// their FIFO until their time (a timeout of 1000 s, met after 1 ms), and a database's log
/// (each write an entry, never compacted). Both count towards `max_held`: such runs stop there.
#[test]
fn deadlines_and_log_entries_count_towards_the_memory_budget() {
    let deadlines = r#"[scenario]
name = "deadlines"
duration_s = 10
max_held = 20000

[[region]]
name = "r"
zones = ["z"]

[[service]]
name = "api"
zones = ["z"]
workers = 64
service_time = { dist = "constant", value_ms = 1 }

[[workload]]
name = "users"
zone = "z"
target = "api"
arrival = { process = "constant", rate_per_s = 10000 }
timeout_ms = 1000000
"#;
    let log = r#"[scenario]
name = "log"
duration_s = 10
max_held = 5000

[[region]]
name = "r"
zones = ["a", "b", "c"]

[[database]]
name = "kv"
zones = ["a", "b", "c"]
service_time = { dist = "constant", value_ms = 0.01 }

[[workload]]
name = "writers"
zone = "a"
target = "kv"
arrival = { process = "constant", rate_per_s = 5000 }
timeout_ms = 500
keys = { count = 100 }
mix = [{ kind = "w", weight = 1, op = "write" }]
"#;
    for (name, text) in [("deadlines.toml", deadlines), ("log.toml", log)] {
        let sc = temp_file("held", name, text);
        let o = expect_code(&["run", &sc], 3);
        assert!(stderr(&o).contains("held more than"), "{}", describe(&["run", &sc], &o));
        // With room, the same run ends.
        let roomy = temp_file("held", name, &text.replace("max_held = ", "max_held = 100"));
        expect_code(&["run", &roomy], 0);
    }
}

fn listing(d: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

const DB: &str = r#"[scenario]
name = "db"
duration_s = 5

[[region]]
name = "r"
zones = ["a", "b", "c"]

[[database]]
name = "kv"
zones = ["a", "b", "c"]
service_time = { dist = "exponential", mean_ms = 1 }

[[workload]]
name = "users"
zone = "a"
target = "kv"
arrival = { process = "poisson", rate_per_s = 200 }
timeout_ms = 500
keys = { count = 100 }
mix = [{ kind = "r", weight = 1 }, { kind = "w", weight = 1, op = "write" }]

[[expect]]
check = "success_rate >= 0.999999"
"#;

#[test]
fn an_output_that_cannot_be_written_stops_the_command_before_it_runs_and_publishes_nothing() {
    let d = temp_dir("outputs");
    let sc = temp_file("outputs-sc", "db.toml", DB);
    let p = |name: &str| d.join(name).to_str().unwrap().to_owned();
    std::fs::create_dir(d.join("sub")).unwrap();
    // One output cannot be written: none is, the run never starts.
    let args = ["run", &sc, "--trace", &p("ok.jsonl"), "--history", &p("missing/h.jsonl")];
    let o = expect_code(&args, 2);
    assert!(stderr(&o).contains("missing/h.jsonl: cannot write"), "{}", describe(&args, &o));
    assert!(o.stdout.is_empty());
    assert_eq!(listing(&d), ["sub"], "{}", describe(&args, &o));
    // A directory as a file's destination: refused, with nothing left beside it.
    for args in [
        vec!["run", &sc, "--save-replay", &p("sub")],
        vec!["run", &sc, "--trace", &p("sub")],
        vec!["shrink", &sc, "--out", &p("sub")],
    ] {
        let o = expect_code(&args, 2);
        assert!(stderr(&o).contains("is a directory"), "{}", describe(&args, &o));
        assert_eq!(listing(&d), ["sub"], "{}", describe(&args, &o));
        assert!(listing(&d.join("sub")).is_empty());
    }
    // A file where a directory is expected.
    std::fs::write(d.join("afile"), "").unwrap();
    for args in [
        vec!["sweep", &sc, "--seeds", "1..2", "--report", &p("afile")],
        vec!["sweep", &sc, "--seeds", "1..2", "--save-replays", &p("afile")],
    ] {
        let o = expect_code(&args, 2);
        assert!(stderr(&o).contains("expected a directory"), "{}", describe(&args, &o));
    }
    // All of them writable: all are written.
    let args = ["run", &sc, "--trace", &p("t.jsonl"), "--history", &p("h.jsonl"), "--save-replay", &p("r.json")];
    crate::bin::faultline(&args);
    assert_eq!(listing(&d), ["afile", "h.jsonl", "r.json", "sub", "t.jsonl"]);
    let _ = std::fs::remove_dir_all(&d);
}

/// `ulimit -f`: the trace cannot be written whole. The message names the trace, not its
/// temporary file, and nothing is left behind.
#[cfg(unix)]
#[test]
fn a_trace_cut_by_the_file_size_limit_leaves_nothing_behind() {
    let d = temp_dir("ulimit");
    let sc = temp_file("ulimit-sc", "db.toml", DB);
    let trace = d.join("tr.jsonl");
    let o = Command::new("sh")
        .arg("-c")
        .arg("ulimit -f 200 && exec \"$0\" \"$@\"")
        .arg(BIN)
        .args(["run", &sc, "--trace", trace.to_str().unwrap()])
        .current_dir(ROOT)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{}: cannot write", trace.display())), "{err}");
    assert!(!err.contains(".tmp"), "{err}");
    assert!(listing(&d).is_empty(), "left behind: {:?}", listing(&d));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn merge_refuses_two_different_records_of_one_run_and_takes_identical_ones_once() {
    let d = temp_dir("merge-dup");
    let sc = temp_file("merge-dup-sc", "minimal.toml", MINIMAL);
    let out = d.join("a.jsonl");
    let a = out.to_str().unwrap();
    expect_code(&["sweep", &sc, "--seeds", "1..3", "--out", a], 0);
    let text = std::fs::read_to_string(&out).unwrap();
    // The same file twice: the same records, merged once.
    let twice = expect_code(&["merge", a, a, "--json"], 0);
    assert_eq!(twice.stdout, expect_code(&["merge", a, "--json"], 0).stdout);
    // Another record of seed 2 (its events changed).
    let second = text.lines().nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(second).unwrap();
    let other = second
        .replace(&format!("\"events\":{}", v["events"]), &format!("\"events\":{}", v["events"].as_u64().unwrap() + 1));
    assert_ne!(other, second);
    let b = d.join("b.jsonl");
    std::fs::write(&b, format!("{other}\n")).unwrap();
    let b = b.to_str().unwrap();
    let o = expect_code(&["merge", a, b], 2);
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{a}:2 and {b}:1: two different records of variant `base` seed 2 (runs of two sweeps? keep one of them)"
        )),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_budget_of_one_step_is_one_step() {
    let h = temp_file(
        "one-step",
        "h.jsonl",
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n{\"process\":1,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n\
         {\"process\":2,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":2,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n",
    );
    let o = expect_code(&["check-history", &h, "--model", "register", "--max-steps", "1"], 3);
    let out = crate::bin::stdout(&o);
    assert!(out.contains("the step budget (1 step) ran out"), "{out}");
}
