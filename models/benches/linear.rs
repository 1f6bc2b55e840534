//! The linearizability checker on histories recorded from a simulated linearizable register
//! (`check::synth`, seeded xoshiro streams): 20 000 operations, ~10% of unknown outcome.
//!
//! Run: `cargo bench -p faultline-models --bench linear`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faultline_models::check::synth::{Params, register_history};
use faultline_models::check::{Budget, History, Model, Verdict, check, check_with, parse};
use faultline_sim::Stream;

const OPS: usize = 20_000;

/// A recorded history, parsed as the CLI would, with the verdict it must get.
struct Case {
    name: &'static str,
    text: String,
    history: History,
    want: Verdict,
    /// With the stale-read pass (the default), or the search alone.
    stale_pass: bool,
}

fn case(name: &'static str, p: Params, stale_pass: bool) -> Case {
    let g = register_history(&p, &mut Stream::new(42, name));
    let text = g.to_jsonl();
    let model = if p.keys == 0 { Model::Register } else { Model::Kv };
    let history = parse(text.as_bytes(), model).expect("a generated history parses");
    let want = if p.stale_read_at.is_some() { Verdict::NotLinearizable } else { Verdict::Linearizable };
    Case { name, text, history, want, stale_pass }
}

fn cases() -> Vec<Case> {
    let base =
        Params { ops: OPS, processes: 8, keys: 0, values: 5, read: 0.5, cas: 0.2, info: 0.1, stale_read_at: None };
    vec![
        // The target of PRODUCT.md: one register, ~8 concurrent processes, ~10% info.
        case("register/8-processes", base.clone(), true),
        case("kv/100-keys", Params { keys: 100, ..base.clone() }, true),
        // Harder: 20 processes and 100 distinct values.
        case("register/20-processes-100-values", Params { processes: 20, values: 100, ..base.clone() }, true),
        // A stale read planted half-way: found by the stale-read pass, or by exhausting the
        // search over the first half.
        case("register/stale-read", Params { stale_read_at: Some(OPS / 2), ..base.clone() }, true),
        case("register/stale-read-search-only", Params { stale_read_at: Some(OPS / 2), ..base }, false),
    ]
}

fn bench(c: &mut Criterion) {
    let cases = cases();
    let mut g = c.benchmark_group("check");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(OPS as u64));
    for k in &cases {
        // Every measured run must reach the expected verdict, not run out of budget.
        let r = check_with(&k.history, &Budget::default(), k.stale_pass);
        assert_eq!(r.verdict, k.want, "{}: {:?}", k.name, r.violations.first().map(|v| &v.message));
        eprintln!("{}: {} search steps", k.name, r.steps);
        g.bench_function(BenchmarkId::from_parameter(k.name), |b| {
            b.iter(|| check_with(black_box(&k.history), &Budget::default(), k.stale_pass))
        });
    }
    g.finish();
    // Reading the file is part of what a user waits for.
    let mut g = c.benchmark_group("parse");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(OPS as u64));
    let k = &cases[0];
    g.bench_function(BenchmarkId::from_parameter(k.name), |b| {
        b.iter(|| parse(black_box(k.text.as_bytes()), Model::Register).expect("parses"))
    });
    g.finish();
    // One end-to-end figure for the docs: parse and check, as `check-history` does.
    let mut g = c.benchmark_group("parse+check");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(OPS as u64));
    g.bench_function(BenchmarkId::from_parameter(k.name), |b| {
        b.iter(|| {
            let h = parse(black_box(k.text.as_bytes()), Model::Register).expect("parses");
            check(&h, &Budget::default())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
