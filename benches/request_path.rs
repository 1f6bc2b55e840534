//! The request path through five components (client → load balancer → front → middle → back,
//! each hop over the network with latency draws, metrics on): simulated requests per second
//! of wall time; and the memory held per in-flight request with 10^6 requests in flight,
//! measured with a counting allocator. Results go in docs/performance.md.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faultline_models::World;
use faultline_scenarios::{Scenario, Source};

/// Counts live heap bytes (and the peak) so the bench can report bytes per in-flight request.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The scenario, shared with `bash bench/request_path.sh` (which times the binary on it).
const PATH: &str = include_str!("../bench/request_path.toml");

/// The same file with a variant that leaves 10^6 requests in flight: 1 000 000 requests/s for
/// 1 s, a back end that takes 10^6 ms per request (every request still in service when the
/// workload stops), workers and timeouts large enough that nothing is queued or given up.
const IN_FLIGHT: &str = r#"
[[variant]]
name = "path"

[[variant]]
name = "in-flight"
[variant.set]
"workload.clients.arrival.rate_per_s" = 1000000
"workload.clients.timeout_ms" = 100000000
"service.front.workers" = 1000000
"service.front.calls.0.timeout_ms" = 100000000
"service.middle.workers" = 1000000
"service.middle.calls.0.timeout_ms" = 100000000
"service.back.workers" = 1000000
"service.back.service_time.mean_ms" = 1e6
"#;

fn scenario(text: String) -> Scenario {
    Scenario::parse(&Source { file: "bench/request_path.toml".into(), text }).expect("valid")
}

fn request_path(c: &mut Criterion) {
    // 20 000 requests/s for 10 s: 200 000 requests through 5 components.
    let sc = scenario(PATH.to_owned());
    let v = sc.variant(None).unwrap();
    let requests = {
        let mut w = World::new(v.spec, 1, v.budget);
        w.run().unwrap();
        faultline_models::RunReport::build(&w, "", "").requests.total
    };
    let mut g = c.benchmark_group("request_path");
    g.sample_size(10);
    g.throughput(Throughput::Elements(requests));
    g.bench_function("5_components", |b| {
        b.iter(|| {
            let mut w = World::new(v.spec, 1, v.budget);
            w.run().unwrap();
            w.events()
        })
    });
    g.finish();
}

/// Not a timing: puts 10^6 requests in flight (the back end is effectively stuck) and reports
/// the heap held per in-flight request at the peak.
fn in_flight_memory(_c: &mut Criterion) {
    let sc = scenario(format!("{PATH}{IN_FLIGHT}"));
    let v = sc.variant(Some("in-flight")).unwrap();
    let mut w = World::new(v.spec, 1, v.budget);
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    w.run_until(1_000_000_000).unwrap();
    let live = LIVE.load(Ordering::Relaxed) - base;
    let in_flight: usize = w
        .actors
        .iter()
        .map(|a| match &a.comp {
            faultline_models::world::Component::Client(c) => c.calls.in_flight(),
            _ => 0,
        })
        .sum();
    println!(
        "in_flight_memory: {in_flight} requests in flight, {live} bytes live ({:.1} bytes per request), {} events pending",
        live as f64 / in_flight.max(1) as f64,
        w.pending()
    );
}

criterion_group!(benches, request_path, in_flight_memory);
criterion_main!(benches);
