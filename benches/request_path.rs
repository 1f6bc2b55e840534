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

const PATH: &str = r#"
[scenario]
name = "request-path"
duration_s = 10
window_ms = 1000

[[region]]
name = "r"
zones = ["a", "b"]

[[workload]]
name = "clients"
zone = "a"
target = "lb"
arrival = { process = "poisson", rate_per_s = RATE }
timeout_ms = TIMEOUT

[[load_balancer]]
name = "lb"
zone = "a"
service = "front"
strategy = "least-outstanding"

[[service]]
name = "front"
region = "r"
instances = 4
workers = WORKERS
queue_capacity = 10000000
service_time = { dist = "exponential", mean_ms = 0.5 }
calls = [{ target = "middle", timeout_ms = TIMEOUT }]

[[service]]
name = "middle"
region = "r"
instances = 4
workers = WORKERS
queue_capacity = 10000000
service_time = { dist = "exponential", mean_ms = 0.5 }
calls = [{ target = "back", timeout_ms = TIMEOUT }]

[[service]]
name = "back"
region = "r"
instances = 4
workers = WORKERS
queue_capacity = 10000000
service_time = { dist = "exponential", mean_ms = BACK_MS }
"#;

fn path(rate: u64, workers: u64, back_ms: f64, timeout_ms: u64) -> Scenario {
    let text = PATH
        .replace("RATE", &rate.to_string())
        .replace("WORKERS", &workers.to_string())
        .replace("BACK_MS", &back_ms.to_string())
        .replace("TIMEOUT", &timeout_ms.to_string());
    Scenario::parse(&Source { file: "request-path".into(), text }).expect("valid")
}

fn request_path(c: &mut Criterion) {
    // 20 000 requests/s for 10 s: 200 000 requests through 5 components.
    let sc = path(20_000, 64, 0.5, 1000);
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
    // 1 000 000 requests/s for 1 s, back end 10^6 ms per request with 1 worker: nearly every
    // request is still waiting in "back"'s queue when the workload stops.
    let mut text_sc = path(1_000_000, 1_000_000, 1e6, 100_000_000);
    text_sc.name = "in-flight".into();
    let sc = text_sc;
    let v = sc.variant(None).unwrap();
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
