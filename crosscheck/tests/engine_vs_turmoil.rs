//! The same scenario and seed through the engine and through turmoil hosts (crosscheck/src).

use std::time::Duration;

use faultline_crosscheck::{Options, run};
use faultline_models::report::LatencySummary;
use faultline_models::world::{Actor, Component, World};
use faultline_scenarios::{Scenario, Source};
use faultline_sim::Budget;

/// Every link class without latency (one case adds some): the runs' only delays are their own.
macro_rules! zero_latency {
    () => {
        r#"
[topology.latency]
same_node = { dist = "constant", value_ms = 0 }
same_zone = { dist = "constant", value_ms = 0 }
cross_zone = { dist = "constant", value_ms = 0 }
cross_region = { dist = "constant", value_ms = 0 }
"#
    };
}

/// M/M/4 at ρ = 0.8, slow enough that turmoil's 1 ms steps are small against it: mean service
/// 200 ms, λ = 16/s, 400 s (about 6 400 requests).
const MMC: &str = concat!(
    r#"
[scenario]
name = "mmc-crosscheck"
duration_s = 400
seed = 1
"#,
    zero_latency!(),
    r#"
[[region]]
name = "dc"
zones = ["dc-a"]

[[service]]
name = "server"
zones = ["dc-a"]
instances = 1
workers = 4
queue_capacity = 100000
service_time = { dist = "exponential", mean_ms = 200 }

[[workload]]
name = "arrivals"
zone = "dc-a"
target = "server"
arrival = { process = "poisson", rate_per_s = 16 }
timeout_ms = 3600000
"#
);

/// Five hops and four kinds of component: users → balancer (round-robin, health checks) → two
/// api instances → an LRU cache (Zipf keys, cache-aside) → a database service behind it, with
/// timeouts and retries on every call. Slow, like `MMC`, against turmoil's 1 ms steps.
const CHAIN: &str = concat!(
    r#"
[scenario]
name = "chain-crosscheck"
duration_s = 300
seed = 1
"#,
    zero_latency!(),
    r#"
[[region]]
name = "dc"
zones = ["dc-a", "dc-b"]

[[workload]]
name = "users"
zone = "dc-a"
target = "lb"
arrival = { process = "poisson", rate_per_s = 12 }
timeout_ms = 60000
keys = { count = 2000, distribution = "zipf", s = 1.1 }
retry = { max_attempts = 2, backoff_base_ms = 1000, backoff_max_ms = 4000 }

[[load_balancer]]
name = "lb"
zone = "dc-a"
service = "api"
strategy = "round-robin"
health_check = { interval_ms = 5000, timeout_ms = 2000 }

[[service]]
name = "api"
region = "dc"
instances = 2
workers = 4
queue_capacity = 10000
service_time = { dist = "exponential", mean_ms = 150 }
calls = [{ target = "cache", timeout_ms = 30000, retry = { max_attempts = 3, backoff_base_ms = 500, backoff_max_ms = 2000 } }]

[[cache]]
name = "cache"
zone = "dc-a"
capacity = 300
backend = { target = "db", timeout_ms = 30000 }

[[service]]
name = "db"
zones = ["dc-b"]
instances = 1
workers = 4
queue_capacity = 10000
service_time = { dist = "exponential", mean_ms = 250 }
"#
);

/// `MMC` with a five-second timeout, no retries, and two faults: the users cut off from the
/// server (one way, users → server) from 100 to 130 s, and the server's node crashed from 200 to
/// 220 s (its queue and work in progress lost, then a restart with an empty queue).
fn mmc_with_faults() -> String {
    MMC.replace("timeout_ms = 3600000", "timeout_ms = 5000")
        + r#"
[[fault]]
kind = "partition"
from = ["arrivals"]
to = ["server"]
start_s = 100
end_s = 130

[[fault]]
kind = "node-crash"
node = "server/0"
start_s = 200
end_s = 220
"#
}

fn spec(text: &str) -> faultline_models::WorldSpec {
    let sc = Scenario::parse(&Source { file: "mmc.toml".into(), text: text.into() }).unwrap();
    sc.variant(None).unwrap().spec.clone()
}

/// The workload's client (the scenarios here have one).
fn client(actors: &[Actor]) -> &faultline_models::client::Client {
    actors.iter().find_map(|a| if let Component::Client(c) = &a.comp { Some(c) } else { None }).expect("a client")
}

/// `spec` and `seed` through the engine, then under turmoil at 1 ms steps with no latency and
/// a minute to drain: the actors of each, as the runs left them.
fn both(spec: &faultline_models::WorldSpec, seed: u64) -> (Vec<Actor>, faultline_crosscheck::Outcome) {
    let mut world = World::new(spec, seed, Budget::default());
    world.run().unwrap();
    let opts =
        Options { seed, tick: Duration::from_millis(1), latency: Duration::ZERO, drain: Duration::from_secs(60) };
    (world.actors, run(spec, &opts).unwrap())
}

/// (started, ok, mean latency ms) of the workload's client.
fn client_figures(actors: &[faultline_models::world::Actor]) -> (u64, u64, f64) {
    let c =
        actors.iter().find_map(|a| if let Component::Client(c) = &a.comp { Some(c) } else { None }).expect("a client");
    (c.stats.started, c.stats.ok, LatencySummary::of(&c.stats.latency()).mean.unwrap())
}

/// Runs `text` through the engine and under turmoil (1 ms steps, no latency) for seeds 1 and 2
/// and checks what must hold whatever the rounding: the same requests started and answered ok,
/// and mean latencies no further apart than the rounding allows — each message hop of a request
/// (`hops` of them at most) is delayed by under two steps: its sender's timer wakes on the tick
/// after it was due (its event still happens at the due time, so nothing drawn from it moves),
/// and turmoil delivers on a tick. With `monotone` (FIFO queues fed by one sender, no choice
/// made on timing), delays only ever delay: a request's latency is at least the engine's.
fn engine_and_turmoil_agree(text: &str, hops: u32, monotone: bool) {
    let spec = spec(text);
    let tick = Duration::from_millis(1);
    for seed in [1, 2] {
        let mut world = World::new(&spec, seed, Budget::default());
        world.run().unwrap();
        let engine = client_figures(&world.actors);
        let opts = Options { seed, tick, latency: Duration::ZERO, drain: Duration::from_secs(60) };
        let t = run(&spec, &opts).unwrap();
        let turmoil = client_figures(&t.actors);
        let again = run(&spec, &opts).unwrap();
        assert_eq!((client_figures(&again.actors), again.messages), (turmoil, t.messages), "seed {seed}: rerun");
        assert_eq!((turmoil.0, turmoil.1), (engine.0, engine.1), "seed {seed}: requests started and answered ok");
        // Histogram means: exact to 0.1% (3 significant digits).
        let (d, slack) = (turmoil.2 - engine.2, 1e-3 * engine.2);
        let bound = 2.0 * tick.as_secs_f64() * 1e3 * f64::from(hops);
        let low = if monotone { -slack } else { -bound - slack };
        assert!(
            (low..=bound + slack).contains(&d),
            "seed {seed}: mean latency {} ms under turmoil, {} ms in the engine (allowed: {low:.3} to {:.3} ms)",
            turmoil.2,
            engine.2,
            bound + slack
        );
    }
}

#[test]
fn a_chain_runs_alike_in_the_engine_and_under_turmoil() {
    // A cache miss is eight hops (users → lb → api → cache → db and back). The LRU order
    // follows the order the two api instances' calls reach the cache, which the rounding can
    // swap: not monotone.
    engine_and_turmoil_agree(CHAIN, 8, false);
}

#[test]
fn mmc_under_a_partition_and_a_crash_runs_alike_in_the_engine_and_under_turmoil() {
    let spec = spec(&mmc_with_faults());
    for seed in [1, 2] {
        let (engine, t) = both(&spec, seed);
        let c = |actors: &[Actor]| {
            let c = client(actors);
            (c.stats.started, c.stats.ok, c.stats.failed, c.stats.timed_out)
        };
        let (e, tu) = (c(&engine), c(&t.actors));
        assert_eq!(tu.0, e.0, "seed {seed}: requests started");
        assert_eq!(tu.1 + tu.2 + tu.3, tu.0, "seed {seed}: every request ends under turmoil");
        // A request can end otherwise only if one of its events (send, start and end of work,
        // answer) falls within the rounding (two ticks) of one of the four fault edges: about
        // 16/s × 2 ms × 3 events × 4 edges ≈ 0.4 requests expected. A crash that kept the queue,
        // or a partition cutting the wrong way, moves hundreds.
        let moved = tu.1.abs_diff(e.1) + tu.3.abs_diff(e.3);
        assert!(moved <= 4, "seed {seed}: ok / timed out: engine {e:?}, turmoil {tu:?}");
        assert!(e.3 > 500 && t.dropped + t.dropped_on_arrival > 300, "seed {seed}: the faults did something: {e:?}");
    }
}

#[test]
fn mmc_runs_alike_in_the_engine_and_under_turmoil() {
    engine_and_turmoil_agree(MMC, 2, true);
}

/// `MMC` with a 5 ms link latency, a five-second timeout, no retries, and the faults that act
/// through the network model and the nodes' health: the server twice as slow from 50 to 80 s,
/// 20 ms more latency users → server from 150 to 180 s, a tenth of the messages lost from 250
/// to 280 s.
fn mmc_with_network_faults() -> String {
    MMC.replace("timeout_ms = 3600000", "timeout_ms = 5000").replace(
        r#"same_zone = { dist = "constant", value_ms = 0 }"#,
        r#"same_zone = { dist = "constant", value_ms = 5 }"#,
    ) + r#"
[[fault]]
kind = "slow"
targets = ["server"]
factor = 2
start_s = 50
end_s = 80

[[fault]]
kind = "latency"
from = ["arrivals"]
to = ["server"]
added_ms = 20
start_s = 150
end_s = 180

[[fault]]
kind = "loss"
from = ["arrivals"]
to = ["server"]
probability = 0.1
start_s = 250
end_s = 280
"#
}

#[test]
fn mmc_under_slowness_added_latency_and_loss_runs_alike_in_the_engine_and_under_turmoil() {
    let spec = spec(&mmc_with_network_faults());
    for seed in [1, 2] {
        let (engine, t) = both(&spec, seed);
        let c = |actors: &[Actor]| {
            let c = client(actors);
            (
                c.stats.started,
                c.stats.ok,
                c.stats.failed,
                c.stats.timed_out,
                LatencySummary::of(&c.stats.latency()).mean.unwrap(),
            )
        };
        let (e, tu) = (c(&engine), c(&t.actors));
        assert_eq!(tu.0, e.0, "seed {seed}: requests started");
        // Each message's fate (lost or not, its latency) is drawn from its sender's streams in
        // the same order as in the engine; only the six fault edges' rounding can move a
        // request (about 0.6 expected, as in the test above).
        let moved = tu.1.abs_diff(e.1) + tu.3.abs_diff(e.3);
        assert!(moved <= 6, "seed {seed}: ok / timed out: engine {e:?}, turmoil {tu:?}");
        // Mean latency of the ok requests: two hops' rounding (4 ms), plus a request moved in
        // or out, which weighs at most its 5 s timeout over the ok requests.
        let bound = 4.0 + moved as f64 * 5000.0 / e.1 as f64 + 1e-3 * e.4;
        assert!(
            (tu.4 - e.4).abs() <= bound,
            "seed {seed}: mean latency: engine {e:?}, turmoil {tu:?} (±{bound:.2} ms)"
        );
        assert!(e.3 > 300 && t.dropped > 50, "seed {seed}: the faults did something: {e:?}, {} dropped", t.dropped);
    }
}

/// A service of the user's own in place of the model: `workers` tokio tasks' worth of
/// concurrency (a FIFO semaphore), each request taking `work` (a tokio sleep), answered `Ok`.
fn own_workers(workers: usize, work: Duration) -> faultline_crosscheck::OwnService {
    use std::sync::Arc;

    use faultline_crosscheck::{PORT, decode, encode, peer};
    use faultline_models::msg::{Msg, MsgKind, Resp, Status};
    std::rc::Rc::new(move |me| {
        Box::pin(async move {
            let sock = Arc::new(turmoil::net::UdpSocket::bind((std::net::Ipv4Addr::UNSPECIFIED, PORT)).await?);
            let permits = Arc::new(tokio::sync::Semaphore::new(workers));
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let (n, _) = sock.recv_from(&mut buf).await?;
                let (from, msg) = decode(&buf[..n])?;
                if !matches!(msg.kind, MsgKind::Request(_)) {
                    continue;
                }
                let (sock, permits) = (sock.clone(), permits.clone());
                tokio::spawn(async move {
                    let _worker = permits.acquire_owned().await.expect("never closed");
                    tokio::time::sleep(work).await;
                    let answer = Msg { call: msg.call, kind: MsgKind::Response(Resp::status(Status::Ok)) };
                    sock.send_to(&encode(me, &answer), peer(from)).await.expect("sent");
                });
            }
        })
    })
}

/// The user's own async service (tokio tasks, a semaphore, a sleep) in place of the server's
/// model, driven by the workload's model: an M/D/4 queue, bounded by the engine's own M/D/4.
#[test]
fn an_own_async_service_runs_in_place_of_the_model() {
    let mdc = |ms: u32| {
        MMC.replace(
            r#"{ dist = "exponential", mean_ms = 200 }"#,
            &format!(r#"{{ dist = "constant", value_ms = {ms} }}"#),
        )
    };
    let mdc200 = spec(&mdc(200));
    for seed in [1, 2] {
        let engine = |text: &str| {
            let mut world = World::new(&spec(text), seed, Budget::default());
            world.run().unwrap();
            client_figures(&world.actors)
        };
        let opts =
            Options { seed, tick: Duration::from_millis(1), latency: Duration::ZERO, drain: Duration::from_secs(60) };
        let own = [("server/0".to_owned(), own_workers(4, Duration::from_millis(200)))].into_iter().collect();
        let t = faultline_crosscheck::run_with(&mdc200, &opts, own).unwrap();
        // Same arrivals (the workload's model and streams), so request by request: the own
        // service's work starts when a message and a permit come (on ticks, up to two late per
        // hop) and takes 200 ms plus up to a tick (a tokio sleep wakes on the first tick at or
        // after its deadline). A FIFO queue's departures only move later with later arrivals
        // and longer work, so each latency lies between the engine's with 200 ms of work and
        // its with 201 ms plus two hops' delay (4 ms).
        let (low, high, got) = (engine(&mdc(200)), engine(&mdc(201)), client_figures(&t.actors));
        assert_eq!((got.0, got.1), (low.0, low.1), "seed {seed}: requests started and answered ok");
        let slack = 1e-3 * got.2;
        assert!(
            low.2 - slack <= got.2 && got.2 <= high.2 + 4.0 + slack,
            "seed {seed}: mean latency {} ms with the own service; engine {} ms (200 ms work) to {} ms (201 ms) + 4 ms",
            got.2,
            low.2,
            high.2
        );
    }
}

/// An own service whose node an outage would take down is refused: there is no model to crash.
#[test]
fn an_outage_of_an_own_service_is_refused() {
    let text = format!("{MMC}\n[[fault]]\nkind = \"node-crash\"\nnode = \"server/0\"\nstart_s = 10\nend_s = 20\n");
    let opts = Options { seed: 1, tick: Duration::from_millis(1), latency: Duration::ZERO, drain: Duration::ZERO };
    let own = [("server/0".to_owned(), own_workers(1, Duration::from_millis(1)))].into_iter().collect();
    let e = faultline_crosscheck::run_with(&spec(&text), &opts, own).err().expect("refused");
    assert_eq!(
        e.to_string(),
        "fault `node-crash server/0` takes down `server/0`, an own service: outages crash models, not own services"
    );
    let own = [("nobody/0".to_owned(), own_workers(1, Duration::from_millis(1)))].into_iter().collect();
    let e = faultline_crosscheck::run_with(&spec(MMC), &opts, own).err().expect("refused");
    assert!(e.to_string().starts_with("no actor `nobody/0`"), "{e}");
}
