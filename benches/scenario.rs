//! Whole-scenario throughput: simulated requests (and events) per second of wall time for each
//! catalog scenario, one seed per iteration. Results go in docs/performance.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faultline_scenarios::{Scenario, Source, catalog, runner};

fn scenarios(c: &mut Criterion) {
    let mut g = c.benchmark_group("scenario");
    g.sample_size(10);
    for e in catalog::CATALOG {
        let sc = Scenario::parse(&Source { file: e.name.into(), text: e.text.into() }).expect("catalog parses");
        let v = sc.variant(None).expect("default variant");
        // Throughput in requests: one run's request count (the same every iteration: same seed).
        let (report, _) = runner::run(&v, 1, None).expect("runs");
        g.throughput(Throughput::Elements(report.requests.total));
        g.bench_function(format!("{}/requests", e.name), |b| {
            b.iter(|| runner::run(&v, 1, None).expect("runs").0.events)
        });
        g.throughput(Throughput::Elements(report.events));
        g.bench_function(format!("{}/events", e.name), |b| b.iter(|| runner::run(&v, 1, None).expect("runs").0.events));
    }
    g.finish();
}

criterion_group!(benches, scenarios);
criterion_main!(benches);
