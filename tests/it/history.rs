//! `faultline check-history` end to end (docs/cli.md): exit codes 0/1/2/3 over the fixtures in
//! tests/histories/, explanations that name lines and processes, `--json`, malformed files
//! rejected with `error: FILE:LINE:COL: message`, garbled files never panicking, and a recorded
//! 20 000-operation history.

use std::path::Path;

use faultline_models::check::synth::{Params, register_history};
use faultline_sim::Stream;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde_json::Value;

use crate::bin::{ROOT, describe, expect_code, faultline, temp_path};

fn out(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Verdicts and exit codes.

#[test]
fn linearizable_histories_exit_zero_with_a_one_line_summary() {
    for (file, model, summary) in [
        ("tests/histories/linearizable-register.jsonl", "register", "linearizable (10 operations, 1 key)"),
        ("tests/histories/kv-linearizable.jsonl", "kv", "linearizable (6 operations, 2 keys)"),
    ] {
        let args = ["check-history", file, "--model", model];
        let o = expect_code(&args, 0);
        assert_eq!(out(&o.stdout), format!("{file}: {summary}\n"), "{}", describe(&args, &o));
        // The time taken goes to stderr only: stdout is the same on every machine.
        assert!(out(&o.stderr).starts_with("checked in "), "{}", describe(&args, &o));
    }
}

#[test]
fn a_stale_read_exits_one_and_is_explained_with_lines_and_processes() {
    let file = "tests/histories/stale-read.jsonl";
    let o = expect_code(&["check-history", file, "--model", "register"], 1);
    assert_eq!(
        out(&o.stdout),
        format!(
            "{file}: NOT linearizable (1 of 1 key bad; 6 operations)\n  after write 5 (line 8, p1), the register holds \
             5; read 3 by p4 (line 12, invoked at line 11) cannot be placed: every write of 3 completed before write 5 \
             was invoked (the last: write 3 (line 2, p1)), and write 5 completed before it was invoked\n"
        )
    );
}

#[test]
fn a_kv_history_with_one_bad_key_names_that_key() {
    let file = "tests/histories/kv-one-bad-key.jsonl";
    let o = expect_code(&["check-history", file, "--model", "kv"], 1);
    let s = out(&o.stdout);
    assert!(s.starts_with(&format!("{file}: NOT linearizable (1 of 3 keys bad; 8 operations)\n")), "{s}");
    assert!(
        s.contains(
            "  key 2: after write 21 (line 12, p1) and read 21 (line 9, p4), the register holds 21; read 20 by p5 \
             (line 11, invoked at line 10) cannot be placed: no write of 20 is concurrent with it or precedes it \
             unlinearized\n    longest linearizable prefix: 3 of its 4 operations\n"
        ),
        "{s}"
    );
    // The same history read as one register is a different (and still wrong) history.
    expect_code(&["check-history", file, "--model", "register"], 2);
}

#[test]
fn the_search_finds_what_the_stale_read_pass_cannot() {
    let o = expect_code(&["check-history", "tests/histories/hard.jsonl", "--model", "register"], 1);
    let s = out(&o.stdout);
    assert!(s.contains("read 2 by p20 (line 28, invoked at line 27) cannot be placed"), "{s}");
    assert!(s.contains("longest linearizable prefix: 13 of its 14 operations"), "{s}");
}

#[test]
fn an_exhausted_budget_exits_three_without_a_verdict() {
    let file = "tests/histories/hard.jsonl";
    let o = expect_code(&["check-history", file, "--model", "register", "--max-steps", "100"], 3);
    assert_eq!(
        out(&o.stdout),
        format!(
            "{file}: inconclusive — the step budget (100 steps) ran out on the register (1 of 1 key undecided, no \
             violation found)\n"
        )
    );
    let o = expect_code(&["check-history", file, "--model", "register", "--timeout-s", "0"], 3);
    assert!(out(&o.stdout).contains("the time budget (0 s) ran out"), "{}", out(&o.stdout));
    // A stale read needs no search, so no budget can hide it.
    expect_code(&["check-history", "tests/histories/stale-read.jsonl", "--model", "register", "--max-steps", "0"], 1);
}

#[test]
fn json_output_carries_the_verdict_and_the_explanation() {
    let args = ["check-history", "tests/histories/kv-one-bad-key.jsonl", "--model", "kv", "--json"];
    let o = expect_code(&args, 1);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}\n{}", describe(&args, &o)));
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["file"], "tests/histories/kv-one-bad-key.jsonl");
    assert_eq!(v["model"], "kv");
    assert_eq!(v["verdict"], "not-linearizable");
    assert_eq!((v["operations"].as_u64(), v["keys"].as_u64()), (Some(8), Some(3)));
    let bad = &v["violations"][0];
    assert_eq!(bad["key"], 2);
    assert_eq!(bad["label"], "key 2");
    assert_eq!(
        (bad["linearized"].as_u64(), bad["operations"].as_u64(), bad["state"].as_i64()),
        (Some(3), Some(4), Some(21))
    );
    assert_eq!(bad["stuck"]["process"], 5);
    assert_eq!(bad["stuck"]["op"], "read 20");
    assert_eq!((bad["stuck"]["invoke_line"].as_u64(), bad["stuck"]["complete_line"].as_u64()), (Some(10), Some(11)));
    assert_eq!(bad["last_write"]["op"], "write 21");
    assert!(bad["message"].as_str().unwrap().starts_with("key 2: after write 21"));
    assert_eq!(v["unknown"], Value::Array(Vec::new()));

    for (file, model, code, verdict) in [
        ("tests/histories/linearizable-register.jsonl", "register", 0, "linearizable"),
        ("tests/histories/hard.jsonl", "register", 3, "unknown"),
    ] {
        let args = ["check-history", file, "--model", model, "--json", "--max-steps", "50"];
        let o = expect_code(&args, code);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["verdict"], verdict, "{}", describe(&args, &o));
        if code == 3 {
            assert_eq!(v["unknown"][0]["label"], "the register");
            assert_eq!(v["unknown"][0]["exhausted"], "steps");
        }
    }
}

#[test]
fn a_recorded_20000_operation_history_is_checked_and_a_planted_stale_read_found() {
    for (seed, planted) in [(1u64, false), (2, true)] {
        let p = Params {
            ops: 20_000,
            processes: 8,
            info: 0.1,
            stale_read_at: planted.then_some(12_345),
            ..Params::default()
        };
        let g = register_history(&p, &mut Stream::new(seed, "it/history"));
        let path = temp_path("recorded.jsonl");
        std::fs::write(&path, g.to_jsonl()).unwrap();
        let file = path.to_string_lossy().into_owned();
        let o = expect_code(&["check-history", &file, "--model", "register"], if planted { 1 } else { 0 });
        let s = out(&o.stdout);
        if let Some(line) = g.planted {
            assert!(s.contains(&format!("(line {line}, invoked at line {})", line - 1)), "line {line}:\n{s}");
        } else {
            assert!(s.ends_with("linearizable (20000 operations, 1 key)\n"), "{s}");
        }
        let _ = std::fs::remove_file(&path);
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input: exit 2, `error: FILE:LINE:COL: message`, nothing on stdout.

#[test]
fn malformed_histories_are_rejected_with_their_position() {
    let cases = [
        ("unknown-field", "register", "2:56", "unknown field `ts`, expected one of"),
        ("syntax-unclosed-object", "register", "2:53", "EOF while parsing an object"),
        ("syntax-missing-comma", "register", "2:15", "expected `,` or `}`"),
        ("completion-without-invocation", "register", "3:24", "completes an operation it never invoked"),
        ("invoke-while-pending", "register", "3:24", "invocation at line 1 is still pending"),
        (
            "f-mismatch",
            "register",
            "2:35",
            "this completion is a cas but process 1's pending invocation (line 1) is a write",
        ),
        (
            "kv-key-mismatch",
            "kv",
            "2:51",
            "this completion's key \"b\" differs from its invocation's key \"a\" (line 1)",
        ),
        ("cas-value-not-a-pair", "register", "1:55", "a cas invocation needs [from, to] (found 3)"),
        ("float-value", "register", "1:57", "found the number 2.5"),
        // A whole number with a point is no integer either, nor out of range (it said so).
        (
            "whole-float-value",
            "register",
            "1:57",
            "found the number 2.0 (an integer is written without a decimal point",
        ),
        ("string-value", "register", "2:52", "invalid type: string \"é\""),
        ("time-goes-backwards", "register", "2:66", "time 99 is earlier than the previous event's time 100 (line 1)"),
        ("register-with-two-keys", "register", "3:54", "use --model kv"),
        ("kv-without-key", "kv", "2:1", "with --model kv every event names its key"),
        ("not-an-object", "register", "2:3", "expected a JSON object"),
        ("not-utf8", "register", "2:53", "not UTF-8 text"),
    ];
    let dir = Path::new(ROOT).join("tests/histories/bad");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = cases.iter().map(|c| c.0.to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "every file in tests/histories/bad/ has an expected position here");
    let mut failures = Vec::new();
    for (name, model, pos, words) in cases {
        let file = format!("tests/histories/bad/{name}.jsonl");
        let args = ["check-history", file.as_str(), "--model", model];
        let o = faultline(&args);
        let err = out(&o.stderr);
        let want = format!("error: {file}:{pos}: ");
        let first = err.lines().next().unwrap_or("");
        if o.status.code() != Some(2) || !first.starts_with(&want) || !first.contains(words) || !o.stdout.is_empty() {
            failures.push(format!("want `{want}…{words}…`\n{}", describe(&args, &o)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn usage_mistakes_exit_two() {
    let ok = "tests/histories/stale-read.jsonl";
    for args in [
        &["check-history", ok][..],
        &["check-history", ok, "--model", "queue"][..],
        &["check-history", "--model", "kv"][..],
        &["check-history", ok, "--model", "kv", "--timeout-s", "-1"][..],
        &["check-history", ok, "--model", "kv", "--timeout-s", "NaN"][..],
        &["check-history", ok, "--model", "kv", "--max-steps", "many"][..],
        &["check-history", "tests/histories/no-such-file.jsonl", "--model", "kv"][..],
    ] {
        let o = expect_code(args, 2);
        assert!(o.stdout.is_empty(), "{}", describe(args, &o));
        assert!(!o.stderr.is_empty(), "{}", describe(args, &o));
    }
    let o = expect_code(&["check-history", "tests/histories/no-such-file.jsonl", "--model", "kv"], 2);
    assert!(out(&o.stderr).starts_with("error: tests/histories/no-such-file.jsonl: "), "{}", out(&o.stderr));
}

// ---------------------------------------------------------------------------------------------
// Garbled histories: a verdict or a positioned error, never a panic.

proptest! {
    // Each case spawns the binary; 48 keep this to a second or two. A fixed seed, as in cli.rs.
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x6869_7374),
        ..ProptestConfig::default()
    })]

    #[test]
    fn garbled_histories_never_panic(
        which in 0usize..4,
        edits in prop::collection::vec((0.0..1.0f64, 0usize..10, prop::collection::vec(
            prop_oneof![3 => prop::sample::select(b"{}[]\":,0123456789-nul \n\\ef".to_vec()), 1 => any::<u8>()], 0..8)), 1..6),
    ) {
        let (file, model) = [
            ("linearizable-register", "register"),
            ("stale-read", "register"),
            ("kv-one-bad-key", "kv"),
            ("hard", "register"),
        ][which];
        let mut text = std::fs::read(Path::new(ROOT).join(format!("tests/histories/{file}.jsonl"))).unwrap();
        for (at, del, ins) in &edits {
            let a = ((at * text.len() as f64) as usize).min(text.len());
            let b = (a + del).min(text.len());
            text.splice(a..b, ins.iter().copied());
        }
        let p = temp_path("garbled.jsonl");
        std::fs::write(&p, &text).unwrap();
        let path = p.to_string_lossy().into_owned();
        let args = ["check-history", path.as_str(), "--model", model, "--max-steps", "200000"];
        let o = faultline(&args);
        let err = out(&o.stderr);
        let c = o.status.code();
        prop_assert!(matches!(c, Some(0..=3)), "{}", describe(&args, &o));
        prop_assert!(!err.contains("panicked"), "{}", describe(&args, &o));
        if c == Some(2) {
            let prefix = format!("error: {path}:");
            let line = err.lines().find(|l| l.starts_with(&prefix));
            prop_assert!(line.is_some(), "{}", describe(&args, &o));
            let mut it = line.unwrap()[prefix.len()..].splitn(3, ':');
            let l: usize = it.next().unwrap().parse().unwrap();
            let col: usize = it.next().unwrap().parse().unwrap();
            let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
            prop_assert!(l >= 1 && l <= lines.len(), "line {l} outside the file");
            let chars = String::from_utf8_lossy(lines[l - 1]).chars().count();
            prop_assert!(col >= 1 && col <= chars + 1, "column {col} outside line {l} ({chars} characters)");
        }
        let _ = std::fs::remove_file(&p);
    }
}
