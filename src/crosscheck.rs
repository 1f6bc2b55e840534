//! `faultline crosscheck`: one seed of a scenario through the engine and through turmoil hosts
//! running the same components (crosscheck/, docs/testing.md), per workload side by side.

use faultline_models::WorldSpec;
use faultline_models::metrics::LatencyHist;
use faultline_models::report::{LatencySummary, Requests};
use faultline_models::world::{Actor, Component, World};
use serde::Serialize;

/// What one workload's users saw under one scheduler.
#[derive(Debug, Serialize)]
pub struct Side {
    pub requests: Requests,
    pub latency_ms: LatencySummary,
}

#[derive(Debug, Serialize)]
pub struct Workload {
    pub name: String,
    pub engine: Side,
    pub turmoil: Side,
}

#[derive(Debug, Serialize)]
pub struct Crosscheck {
    pub scenario: String,
    pub variant: String,
    pub seed: u64,
    pub tick_ms: f64,
    pub workloads: Vec<Workload>,
    /// Datagrams the turmoil hosts sent, and those that reached a node that was down.
    pub messages: u64,
    pub dropped_on_arrival: u64,
}

/// Per workload (in the scenario's order), its clients' figures.
fn sides(spec: &WorldSpec, actors: &[Actor]) -> Vec<Side> {
    (0..spec.workloads.len())
        .map(|g| {
            let (mut requests, mut latency) = (Requests::default(), LatencyHist::default());
            for a in actors.iter().filter(|a| a.group == g) {
                if let Component::Client(c) = &a.comp {
                    requests.total += c.stats.started;
                    requests.ok += c.stats.ok;
                    requests.failed += c.stats.failed;
                    requests.timed_out += c.stats.timed_out;
                    latency.merge(&c.stats.latency());
                }
            }
            Side { requests, latency_ms: LatencySummary::of(&latency) }
        })
        .collect()
}

/// Why there is no comparison.
pub enum Error {
    /// The engine's run stopped at the scenario's budget (exit 3, as for `run`).
    Budget(faultline_sim::BudgetExceeded),
    /// The turmoil run could not be made, or failed.
    Turmoil(String),
}

/// Runs `spec` with `seed` both ways: the engine's run within the scenario's `budget`, the
/// turmoil run bounded by its simulated duration.
pub fn run(
    spec: &WorldSpec,
    names: (&str, &str),
    seed: u64,
    tick_ms: f64,
    budget: faultline_sim::Budget,
) -> Result<Crosscheck, Error> {
    let tick = std::time::Duration::from_secs_f64(tick_ms / 1e3);
    let opts = faultline_crosscheck::Options {
        seed,
        tick,
        latency: std::time::Duration::ZERO,
        // Answers in flight at the end: the longest a workload's request can take.
        drain: std::time::Duration::from_nanos(spec.workloads.iter().map(|w| w.call.worst_case()).max().unwrap_or(0)),
    };
    let mut world = World::new(spec, seed, budget);
    world.run().map_err(Error::Budget)?;
    let t = faultline_crosscheck::run(spec, &opts).map_err(|e| Error::Turmoil(e.to_string()))?;
    let workloads = spec
        .workloads
        .iter()
        .zip(sides(spec, &world.actors).into_iter().zip(sides(spec, &t.actors)))
        .map(|(w, (engine, turmoil))| Workload { name: w.name.clone(), engine, turmoil })
        .collect();
    Ok(Crosscheck {
        scenario: names.0.to_owned(),
        variant: names.1.to_owned(),
        seed,
        tick_ms,
        workloads,
        messages: t.messages,
        dropped_on_arrival: t.dropped_on_arrival,
    })
}

/// The comparison as text.
pub fn render(c: &Crosscheck) -> String {
    let ms = |x: Option<f64>| x.map_or("—".to_owned(), |v| format!("{v:.1}"));
    let line = |who: &str, s: &Side| {
        format!(
            "  {who:<8} {:>7} started · {:>7} ok · {:>6} failed · {:>6} timed out · mean {} · p50 {} · p99 {} ms\n",
            s.requests.total,
            s.requests.ok,
            s.requests.failed,
            s.requests.timed_out,
            ms(s.latency_ms.mean),
            ms(s.latency_ms.p50),
            ms(s.latency_ms.p99)
        )
    };
    let mut out = format!(
        "{} — variant {}, seed {}: the engine against the same components as turmoil hosts ({} ms steps)\n",
        c.scenario, c.variant, c.seed, c.tick_ms
    );
    for w in &c.workloads {
        out += &format!("\nworkload {}\n", w.name);
        out += &line("engine", &w.engine);
        out += &line("turmoil", &w.turmoil);
    }
    out += &format!(
        "\nturmoil: {} datagrams, {} dropped on arrival at a node that was down. Timers wake on steps and \
         messages arrive on steps, so a request takes up to two steps longer a hop; timing-sensitive choices \
         (least-outstanding picks, hedges, timeouts that nearly fire) may go otherwise (docs/testing.md).\n",
        c.messages, c.dropped_on_arrival
    );
    out
}
