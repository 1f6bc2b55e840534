//! The figures of one run, as the CLI prints them and writes them as JSON (the output contract
//! in docs/cli.md). Pure data: building it reads the world, nothing else.

use std::collections::BTreeMap;

use faultline_sim::time::{to_ms, to_s};
use serde::{Deserialize, Serialize};

use crate::consistency::check_reads;
use crate::metrics::{LatencyHist, TimeSeries};
use crate::series::*;
use crate::world::{Component, World};

mod workflows;
pub use workflows::{StepReport, WorkflowAnswers, WorkflowReport};

/// Bumped whenever a field changes meaning or disappears (adding fields does not bump it).
/// 2: latencies are `null` where no request succeeded (they were 0).
pub const SCHEMA_VERSION: u32 = 2;

/// The anomaly kinds of databases that record their history, in report order.
pub const CONSISTENCY_ANOMALIES: [&str; 5] =
    ["stale_read", "read_your_writes_violation", "monotonic_read_violation", "lost_update", "nonlinearizable_key"];

/// Every anomaly kind a report can count (`anomalies`): consistency, then sagas.
pub fn anomaly_kinds() -> impl Iterator<Item = &'static str> {
    CONSISTENCY_ANOMALIES.into_iter().chain(crate::saga_check::KINDS)
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RunReport {
    pub schema_version: u32,
    /// The simulation revision that ran it ([`crate::SIM_REVISION`]).
    pub sim_revision: u32,
    pub scenario: String,
    pub variant: String,
    pub seed: u64,
    pub trace_hash: String,
    pub events: u64,
    pub sim_time_ns: u64,
    pub requests: Requests,
    pub latency_ms: LatencySummary,
    pub anomalies: BTreeMap<String, u64>,
    pub workloads: Vec<WorkloadReport>,
    pub services: Vec<ServiceReport>,
    pub balancers: Vec<BalancerReport>,
    pub caches: Vec<CacheReport>,
    pub queues: Vec<QueueReport>,
    pub databases: Vec<DatabaseReport>,
    /// Business workflows (sagas) with their checker's verdict.
    pub workflows: Vec<WorkflowReport>,
    pub network: NetworkReport,
    pub faults: Vec<FaultEvent>,
    pub timeseries: SeriesReport,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Requests {
    pub total: u64,
    pub ok: u64,
    pub failed: u64,
    pub timed_out: u64,
}

/// Latencies of the requests that succeeded. Each figure is `None` (`null` in JSON) when
/// none did: a latency of 0 ms would read as the best possible, and let a gate such as
/// `p99_ms < 100` pass on a total outage.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub max: Option<f64>,
}

impl LatencySummary {
    /// `[mean, p50, p90, p99, p999, max]`, the order reports print them in.
    pub fn fields(&self) -> [Option<f64>; 6] {
        [self.mean, self.p50, self.p90, self.p99, self.p999, self.max]
    }

    pub fn of(h: &LatencyHist) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            mean: Some(round3(h.mean_ns() / 1e6)),
            p50: Some(to_ms(h.quantile_ns(0.5))),
            p90: Some(to_ms(h.quantile_ns(0.9))),
            p99: Some(to_ms(h.quantile_ns(0.99))),
            p999: Some(to_ms(h.quantile_ns(0.999))),
            max: Some(to_ms(h.max_ns())),
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WorkloadReport {
    pub name: String,
    pub requests: Requests,
    pub latency_ms: LatencySummary,
    pub attempts: u64,
    pub retries: u64,
    pub retry_budget_exhausted: u64,
    pub hedges: u64,
    pub breaker_rejected: u64,
    /// With `outlier_detection` (client-side balancing): instances ejected, each ejection
    /// counted; absent without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ejections: Option<u64>,
    /// Requests sent and not resolved yet (not in `requests`): 0 at the end of a whole run,
    /// whose end leaves every request time for its last attempt's timeout; a report taken
    /// during a run (the terminal UI's) counts those still in flight.
    pub in_flight: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ServiceReport {
    pub name: String,
    pub instances: usize,
    pub arrivals: u64,
    pub ok: u64,
    pub errors: u64,
    pub injected_errors: u64,
    pub rejected: u64,
    pub rate_limited: u64,
    /// Queued requests dropped unserved after waiting longer than `queue_timeout_ms`, or past
    /// their deadline (`propagate_deadlines`).
    pub shed: u64,
    /// Requests that got a worker and failed because their deadline passed
    /// (`propagate_deadlines`; also counted in `errors`).
    pub deadline_exceeded: u64,
    /// Requests answered without an optional downstream call that failed.
    pub degraded: u64,
    pub lost_in_crash: u64,
    /// Requests held when the report was taken (queued, in work or waiting on downstream
    /// calls; at the end of the run, for a whole run's report): with the answered, turned away
    /// and lost ones they make up `arrivals`.
    pub in_system: u64,
    /// Average busy workers / workers, over the scenario's duration.
    pub utilisation: f64,
    pub mean_queue_len: f64,
    pub max_queue_len: u64,
    /// Mean wait for a worker, over requests that got one (`None` when none did).
    pub mean_wait_ms: Option<f64>,
    /// Mean time from arrival to response, over answered requests that got a worker (`None`
    /// when none was answered).
    pub mean_sojourn_ms: Option<f64>,
    pub p99_sojourn_ms: Option<f64>,
    pub downstream_calls: u64,
    pub downstream_attempts: u64,
    pub downstream_retries: u64,
    /// Retries of downstream calls refused by an exhausted retry budget (`retry.budget_ratio`).
    pub downstream_retry_budget_exhausted: u64,
    pub downstream_timeouts: u64,
    pub downstream_hedges: u64,
    pub downstream_breaker_rejected: u64,
    pub downstream_breaker_opened: u64,
    /// With `outlier_detection` on any of its calls: instances of callees ejected; absent
    /// without.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downstream_ejections: Option<u64>,
    /// Each instance on its own, in instance order: where the traffic went.
    pub per_instance: Vec<InstanceReport>,
    /// Per window, with the window length of the top-level `timeseries` (at least as many windows).
    pub timeseries: ServiceSeries,
}

impl ServiceReport {
    /// Turned away for any reason: queue full, rate limited or shed (the per-instance
    /// `rejected` and the `rejected` series count the same).
    pub fn turned_away(&self) -> u64 {
        self.rejected + self.rate_limited + self.shed
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct InstanceReport {
    /// Its node's name (`SERVICE/i`).
    pub name: String,
    pub arrivals: u64,
    pub ok: u64,
    /// Its own and injected errors.
    pub errors: u64,
    /// Turned away: queue full, rate limited or shed.
    pub rejected: u64,
    pub lost_in_crash: u64,
    pub in_system: u64,
    /// Average busy workers / workers, over the scenario's duration.
    pub utilisation: f64,
    pub max_queue_len: u64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ServiceSeries {
    pub arrivals: Vec<u64>,
    pub ok: Vec<u64>,
    /// Answered with an error: the service's own (`errors`) and an injected error fault's
    /// (`injected_errors`) together.
    pub errors: Vec<u64>,
    /// Turned away: queue full (`rejected`), rate limited (`rate_limited`) or shed (`shed`).
    pub rejected: Vec<u64>,
    /// Time-averaged busy workers / workers in the window (instances together), the drain
    /// after the scenario's duration included; the last window, cut short by the run's end, is
    /// averaged over a whole window's length (over the covered part, the figure would depend on
    /// when the run ends, which other components decide).
    pub utilisation: Vec<f64>,
    /// Time-averaged requests waiting for a worker, summed over instances.
    pub mean_queue_len: Vec<f64>,
    /// Downstream retries and attempt timeouts.
    pub retries: Vec<u64>,
    pub timeouts: Vec<u64>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BalancerReport {
    pub name: String,
    pub strategy: &'static str,
    pub forwarded: u64,
    /// Forwarded requests whose backend answered (the answer passed back to the caller).
    pub responses: u64,
    pub no_backend: u64,
    pub timeouts: u64,
    /// Forwarded requests forgotten when the balancer's node crashed.
    pub lost_in_crash: u64,
    /// Forwarded requests awaiting their backend's answer when the report was taken:
    /// `forwarded` = `responses` + `timeouts` + `lost_in_crash` + `in_flight`.
    pub in_flight: u64,
    pub probes: u64,
    pub marked_down: u64,
    pub marked_up: u64,
    /// Its `failover` list (empty: active-active).
    pub failover: Vec<String>,
    /// Moves of the traffic to a less preferred failover tier, and back to a more preferred one.
    pub failovers: u64,
    pub failbacks: u64,
    /// With `outlier_detection`: backends ejected (each ejection counted), and how many are
    /// ejected when the report was taken; absent without it, so that other reports stay as
    /// they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ejections: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ejected: Option<u64>,
    /// Per window (the top-level `timeseries` windows).
    pub timeseries: BalancerSeries,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct BalancerSeries {
    pub forwarded: Vec<u64>,
    pub no_backend: Vec<u64>,
    pub timeouts: Vec<u64>,
    /// With `failover`: the tier traffic goes to at the end of each window (0 = the first name
    /// listed; `failover.len()` = instances in none of them), null when no backend is healthy.
    /// Empty without `failover`.
    pub tier: Vec<Option<u64>>,
    /// With `outlier_detection`: backends ejected at the end of each window; absent without.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ejected: Option<Vec<u64>>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct QueueReport {
    pub name: String,
    pub published: u64,
    pub delivered: u64,
    pub acked: u64,
    /// Deliveries of a message delivered before (at-least-once: consumers may see duplicates).
    pub redelivered: u64,
    pub failed_attempts: u64,
    pub visibility_timeouts: u64,
    pub dead_lettered: u64,
    /// Redeliveries after a delivery ended without an answer: the consumer may have processed
    /// the message already (at-least-once duplicates).
    pub duplicates_possible: u64,
    /// Consumer-group membership changes (a silent consumer removed, a rejoin).
    pub rebalances: u64,
    /// Unacknowledged messages at the end of the run, summed over consumer groups.
    pub backlog: u64,
    pub max_backlog: u64,
    /// Time-averaged backlog over the scenario's duration.
    pub mean_backlog: f64,
    /// Age of the oldest unacknowledged message at the end of the run.
    pub oldest_age_ms: f64,
    /// Time from publish to acknowledgement, one sample per consumer group's ack of a message
    /// (redeliveries included: a message's wait runs until its final ack).
    pub ack_latency_ms: LatencySummary,
    pub partition_backlogs: Vec<u64>,
    /// Per window (the top-level `timeseries` windows).
    pub timeseries: QueueSeries,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct QueueSeries {
    pub published: Vec<u64>,
    pub acked: Vec<u64>,
    pub dead_lettered: Vec<u64>,
    /// Unacknowledged messages at the end of each window.
    pub backlog: Vec<u64>,
    /// Age of the oldest unacknowledged message at the end of each window (0 when there is
    /// none): how far behind the consumers are, in time.
    pub oldest_age_ms: Vec<f64>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CacheReport {
    pub name: String,
    pub hits: u64,
    pub misses: u64,
    pub hit_ratio: f64,
    /// Misses that joined a backend read already in flight (request coalescing).
    pub coalesced: u64,
    pub backend_reads: u64,
    pub backend_writes: u64,
    pub evictions: u64,
    pub expirations: u64,
    pub errors: u64,
    /// Requests shed unserved (deadline propagation); present only for a cache that
    /// propagates deadlines, so that other reports stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shed: Option<u64>,
    /// With `outlier_detection` on its backend call: backend instances ejected; absent without.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_ejections: Option<u64>,
    pub entries: usize,
    /// Per window (the top-level `timeseries` windows).
    pub timeseries: CacheSeries,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DatabaseReport {
    pub name: String,
    pub shards: usize,
    pub replicas_per_shard: usize,
    pub reads: u64,
    pub writes: u64,
    /// Requests answered Ok.
    pub served: u64,
    pub redirects: u64,
    pub rejected: u64,
    /// Requests dropped unserved after `queue_timeout_ms`, or past their deadline
    /// (`propagate_deadlines`).
    pub shed: u64,
    /// No lease / leader stepped down with the write pending.
    pub unavailable: u64,
    /// Answered with an error: injected error faults.
    pub errors: u64,
    pub lost_in_crash: u64,
    /// Requests held when the report was taken (queued, in work, or written and waiting for a
    /// majority): with the answered and lost ones they make up `reads` + `writes`.
    pub in_system: u64,
    pub elections_started: u64,
    /// Times a replica became leader beyond the initial leaders (failovers).
    pub leader_changes: u64,
    /// Applied writes undone by a new leader's log (acknowledged writes lost under async).
    pub rolled_back: u64,
    /// Requests served per shard.
    pub shard_load: Vec<u64>,
    /// Busiest shard's load over the mean shard load (1 = perfectly even).
    pub hot_shard_ratio: f64,
    /// Shards serving more than twice the mean load.
    pub hot_shards: Vec<usize>,
    /// Busiest replica's average busy workers / workers.
    pub max_utilisation: f64,
    /// Checks of the recorded history (`record_history = true`), else null.
    pub consistency: Option<ConsistencyReport>,
    /// Per window (the top-level `timeseries` windows).
    pub timeseries: DatabaseSeries,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CacheSeries {
    pub hits: Vec<u64>,
    pub misses: Vec<u64>,
    /// Hits over reads in the window (0 without reads).
    pub hit_ratio: Vec<f64>,
    /// Misses that joined a fill already in flight (request coalescing) instead of reading
    /// the backend: where a flush or a cold start would have been a stampede.
    pub coalesced: Vec<u64>,
    pub backend_reads: Vec<u64>,
    /// Requests shed unserved (deadline propagation); present only for a cache that
    /// propagates deadlines, as the cache's `shed` total is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shed: Option<Vec<u64>>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct DatabaseSeries {
    pub served: Vec<u64>,
    /// Answered unavailable, rejected (queue full or shed) or with an error.
    pub failed: Vec<u64>,
    pub redirects: Vec<u64>,
    /// Shards with no live leader at the end of each window.
    pub leaderless_shards: Vec<u64>,
    /// Per shard, requests served per window (empty beyond 1024 shards in all databases).
    pub shard_served: Vec<Vec<u64>>,
}

/// What the checks found in a database's recorded history (see `models::consistency`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ConsistencyReport {
    /// Operations recorded: each attempt a client sent (a hedge copy is part of its attempt).
    pub operations: u64,
    pub reads_ok: u64,
    pub writes_ok: u64,
    /// Reads that returned a version older than a write acknowledged before they were sent.
    pub stale_reads: u64,
    /// Stale reads over successful reads.
    pub stale_read_ratio: f64,
    /// Over stale reads: acknowledged writes missed (mean, max).
    pub staleness_versions_mean: f64,
    pub staleness_versions_max: u64,
    /// Over stale reads: time since the oldest missed write was acknowledged (mean, max).
    pub staleness_ms_mean: f64,
    pub staleness_ms_max: f64,
    pub read_your_writes_violations: u64,
    pub monotonic_read_violations: u64,
    /// Acknowledged writes the shard's final log does not hold.
    pub lost_updates: u64,
    /// From the last heal until every shard's replicas agreed; null if no fault healed or they
    /// had not agreed by the end of the run.
    pub convergence_ms: Option<f64>,
    /// Whether every key's history is linearizable; null when the search budget ran out on a
    /// key before a violation was found.
    pub linearizable: Option<bool>,
    pub nonlinearizable_keys: u64,
    /// Keys the search could not decide within its budget.
    pub linearizability_unknown_keys: u64,
    /// The first violation, explained (line numbers refer to `run --history` of this database
    /// alone).
    pub linearizability_violation: Option<String>,
}

/// Search steps the linearizability check of one database may take in a run.
pub const LINEARIZABILITY_STEPS: u64 = 5_000_000;

#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct NetworkReport {
    pub delivered: u64,
    pub dropped_node_down: u64,
    pub dropped_partition: u64,
    pub dropped_loss: u64,
    pub dropped_on_arrival: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FaultEvent {
    pub t_ms: f64,
    pub name: String,
    pub kind: &'static str,
    pub phase: &'static str,
    pub injected: bool,
}

/// All workloads together, one entry per window.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SeriesReport {
    pub window_ms: f64,
    pub t_s: Vec<f64>,
    pub ok: Vec<u64>,
    pub failed: Vec<u64>,
    pub timed_out: Vec<u64>,
    /// Latencies of the window's successes (`None` in a window without one).
    pub p50_ms: Vec<Option<f64>>,
    pub p99_ms: Vec<Option<f64>>,
}

/// Per-service sums over its instances while building a report.
struct Acc {
    utilisation: f64,
    queue_len: f64,
    wait_sum: f64,
    started: u64,
    sojourn_sum: f64,
    answered: u64,
    sojourn: LatencyHist,
    instances: u64,
}

impl Default for Acc {
    fn default() -> Self {
        Acc {
            utilisation: 0.0,
            queue_len: 0.0,
            wait_sum: 0.0,
            started: 0,
            sojourn_sum: 0.0,
            answered: 0,
            // The instances' histograms are coarse (two digits); their sum is too.
            sojourn: LatencyHist::coarse(),
            instances: 0,
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

impl RunReport {
    pub fn build(world: &World, scenario: &str, variant: &str) -> RunReport {
        let now = world.now();
        let spec = &world.spec;
        let mut requests = Requests::default();
        let mut all = LatencyHist::default();
        let mut series = TimeSeries::new(spec.window);
        let mut workloads = Vec::new();
        let mut services: Vec<ServiceReport> = spec
            .services
            .iter()
            .map(|s| ServiceReport {
                name: s.name.clone(),
                instances: s.nodes.len(),
                arrivals: 0,
                ok: 0,
                errors: 0,
                injected_errors: 0,
                rejected: 0,
                rate_limited: 0,
                shed: 0,
                deadline_exceeded: 0,
                degraded: 0,
                lost_in_crash: 0,
                in_system: 0,
                utilisation: 0.0,
                mean_queue_len: 0.0,
                max_queue_len: 0,
                mean_wait_ms: None,
                mean_sojourn_ms: None,
                p99_sojourn_ms: None,
                downstream_calls: 0,
                downstream_attempts: 0,
                downstream_retries: 0,
                downstream_retry_budget_exhausted: 0,
                downstream_timeouts: 0,
                downstream_hedges: 0,
                downstream_breaker_rejected: 0,
                downstream_breaker_opened: 0,
                downstream_ejections: s.calls.iter().any(|c| c.outliers.is_some()).then_some(0),
                per_instance: Vec::new(),
                timeseries: ServiceSeries::default(),
            })
            .collect();
        let mut acc: Vec<Acc> = spec.services.iter().map(|_| Acc::default()).collect();
        let mut balancers = Vec::new();
        let mut caches = Vec::new();
        let mut queues = Vec::new();
        let mut databases: Vec<DatabaseReport> = spec
            .databases
            .iter()
            .map(|d| DatabaseReport {
                name: d.name.clone(),
                shards: d.nodes.len(),
                replicas_per_shard: d.nodes.first().map_or(0, Vec::len),
                reads: 0,
                writes: 0,
                served: 0,
                redirects: 0,
                rejected: 0,
                shed: 0,
                unavailable: 0,
                errors: 0,
                lost_in_crash: 0,
                in_system: 0,
                elections_started: 0,
                leader_changes: 0,
                rolled_back: 0,
                shard_load: vec![0; d.nodes.len()],
                hot_shard_ratio: 0.0,
                hot_shards: vec![],
                max_utilisation: 0.0,
                consistency: None,
                timeseries: DatabaseSeries::default(),
            })
            .collect();
        for a in &world.actors {
            match &a.comp {
                Component::Client(c) => {
                    let st = &c.stats;
                    let r = Requests {
                        total: st.ok + st.failed + st.timed_out,
                        ok: st.ok,
                        failed: st.failed,
                        timed_out: st.timed_out,
                    };
                    requests.total += r.total;
                    requests.ok += r.ok;
                    requests.failed += r.failed;
                    requests.timed_out += r.timed_out;
                    let latency = st.latency();
                    all.merge(&latency);
                    st.merge_series_into(&mut series);
                    workloads.push(WorkloadReport {
                        name: a.name.clone(),
                        requests: r,
                        latency_ms: LatencySummary::of(&latency),
                        attempts: c.calls.stats.attempts,
                        retries: c.calls.stats.retries,
                        retry_budget_exhausted: c.calls.stats.budget_exhausted,
                        hedges: c.calls.stats.hedges,
                        breaker_rejected: c.calls.stats.breaker_rejected,
                        ejections: spec.workloads[a.group].call.outliers.map(|_| c.calls.stats.ejections),
                        in_flight: c.calls.in_flight() as u64,
                    });
                }
                Component::Balancer(b) => balancers.push(BalancerReport {
                    name: a.name.clone(),
                    strategy: spec.balancers[a.group].strategy.name(),
                    forwarded: b.stats.forwarded,
                    responses: b.stats.responses,
                    no_backend: b.stats.no_backend,
                    timeouts: b.stats.timeouts,
                    lost_in_crash: b.stats.lost,
                    in_flight: b.in_flight() as u64,
                    probes: b.stats.probes,
                    marked_down: b.stats.marked_down,
                    marked_up: b.stats.marked_up,
                    failover: spec.balancers[a.group].failover.clone(),
                    failovers: b.stats.failovers,
                    failbacks: b.stats.failbacks,
                    ejections: spec.balancers[a.group].outliers.map(|_| b.stats.ejections),
                    ejected: spec.balancers[a.group].outliers.map(|_| b.ejected() as u64),
                    timeseries: BalancerSeries::default(),
                }),
                Component::Cache(c) => {
                    let st = &c.stats;
                    caches.push(CacheReport {
                        name: a.name.clone(),
                        hits: st.hits,
                        misses: st.misses,
                        hit_ratio: round3(st.hit_ratio()),
                        coalesced: st.coalesced,
                        backend_reads: st.backend_reads,
                        backend_writes: st.backend_writes,
                        evictions: st.evictions,
                        expirations: st.expirations,
                        errors: st.errors,
                        shed: c.config().propagate_deadlines.map(|_| st.shed),
                        backend_ejections: spec.caches[a.group].backend.outliers.map(|_| c.calls.stats.ejections),
                        entries: c.len(),
                        timeseries: CacheSeries::default(),
                    });
                }
                Component::Broker(b) => {
                    let st = &b.stats;
                    queues.push(QueueReport {
                        name: a.name.clone(),
                        published: st.published,
                        delivered: st.delivered,
                        acked: st.acked,
                        redelivered: st.redelivered,
                        failed_attempts: st.failed_attempts,
                        visibility_timeouts: st.visibility_timeouts,
                        dead_lettered: st.dead_lettered,
                        duplicates_possible: st.duplicates_possible,
                        rebalances: st.rebalances,
                        backlog: b.backlog(),
                        max_backlog: st.max_backlog,
                        mean_backlog: round3(st.backlog.average(now)),
                        oldest_age_ms: to_ms(b.oldest_age(now)),
                        ack_latency_ms: st
                            .ack_latency
                            .as_deref()
                            .map_or_else(LatencySummary::default, LatencySummary::of),
                        partition_backlogs: b.partition_backlogs(),
                        timeseries: QueueSeries::default(),
                    });
                }
                Component::Replica(rep) => {
                    let d = &mut databases[a.group];
                    let st = &rep.stats;
                    d.reads += st.reads;
                    d.writes += st.writes;
                    d.served += st.served;
                    d.redirects += st.redirects;
                    d.rejected += st.rejected;
                    d.shed += st.shed;
                    d.unavailable += st.unavailable;
                    d.errors += st.errors;
                    d.lost_in_crash += st.lost;
                    d.in_system += rep.in_system() as u64;
                    d.elections_started += st.elections_started;
                    d.leader_changes += st.became_leader;
                    d.rolled_back += st.rolled_back;
                    d.shard_load[rep.shard() as usize] += st.served;
                    let u = st.busy.average(now) / f64::from(rep.workers().max(1));
                    d.max_utilisation = d.max_utilisation.max(round3(u));
                }
                // Reported per workflow below.
                Component::Participant(_) | Component::Coordinator(_) => {}
                Component::Service(s) => {
                    let r = &mut services[a.group];
                    let st = &s.stats;
                    r.arrivals += st.arrivals;
                    r.ok += st.ok;
                    r.errors += st.errors;
                    r.injected_errors += st.injected_errors;
                    r.rejected += st.rejected;
                    r.rate_limited += st.rate_limited;
                    r.shed += st.shed;
                    r.deadline_exceeded += st.deadline_exceeded;
                    r.degraded += st.degraded;
                    r.lost_in_crash += st.lost;
                    r.in_system += s.in_system() as u64;
                    r.max_queue_len = r.max_queue_len.max(st.queue_max);
                    r.downstream_calls += s.calls.stats.calls;
                    r.downstream_attempts += s.calls.stats.attempts;
                    r.downstream_retries += s.calls.stats.retries;
                    r.downstream_retry_budget_exhausted += s.calls.stats.budget_exhausted;
                    r.downstream_timeouts += s.calls.stats.attempt_timeouts;
                    r.downstream_hedges += s.calls.stats.hedges;
                    r.downstream_breaker_rejected += s.calls.stats.breaker_rejected;
                    r.downstream_breaker_opened += s.calls.stats.breaker_opened;
                    if let Some(e) = &mut r.downstream_ejections {
                        *e += s.calls.stats.ejections;
                    }
                    let utilisation = st.busy.average(now) / f64::from(s.workers().max(1));
                    r.per_instance.push(InstanceReport {
                        name: a.name.clone(),
                        arrivals: st.arrivals,
                        ok: st.ok,
                        errors: st.all_errors(),
                        rejected: st.turned_away(),
                        lost_in_crash: st.lost,
                        in_system: s.in_system() as u64,
                        utilisation: round3(utilisation),
                        max_queue_len: st.queue_max,
                    });
                    let x = &mut acc[a.group];
                    x.utilisation += utilisation;
                    x.queue_len += st.queue_len.average(now);
                    x.wait_sum += st.wait_sum_ns;
                    x.started += st.started;
                    x.sojourn_sum += st.sojourn_sum_ns;
                    x.answered += st.ok + st.errors;
                    if let Some(h) = &st.sojourn {
                        x.sojourn.merge(h);
                    }
                    x.instances += 1;
                }
            }
        }
        // Every series covers the whole run, however early its last request ended: a run
        // whose last minutes see no outcome (everything down) still shows them, empty.
        let n = series.windows.len().max(world.sampler.samples.len()).max(now.div_ceil(series.window) as usize);
        series.windows.resize_with(n, Default::default);
        let (sampler, layout, (current, current_shards)) = (&world.sampler, world.layout, world.sample_now());
        let delta = |slot: usize, k: usize| sampler.deltas(slot, k, &current, n);
        let per_window =
            |v: Vec<u64>, scale: f64| -> Vec<f64> { v.iter().map(|&a| round3(a as f64 / scale)).collect() };
        for (g, (r, x)) in services.iter_mut().zip(&acc).enumerate() {
            let n = x.instances.max(1) as f64;
            r.utilisation = round3(x.utilisation / n);
            r.mean_queue_len = round3(x.queue_len / n);
            r.mean_wait_ms = (x.started > 0).then(|| round3(x.wait_sum / x.started as f64 / 1e6));
            r.mean_sojourn_ms = (x.answered > 0).then(|| round3(x.sojourn_sum / x.answered as f64 / 1e6));
            r.p99_sojourn_ms = (!x.sojourn.is_empty()).then(|| to_ms(x.sojourn.quantile_ns(0.99)));
            let (slot, counts) = (layout.service(g), layout.service_counts(g));
            let workers = f64::from(spec.services[g].workers) * spec.services[g].nodes.len() as f64;
            let window = spec.window as f64;
            r.timeseries = ServiceSeries {
                arrivals: delta(counts, SVC_ARRIVALS),
                ok: delta(counts, SVC_OK),
                errors: delta(counts, SVC_ERRORS),
                rejected: delta(counts, SVC_REJECTED),
                utilisation: per_window(delta(slot, SVC_BUSY_AREA), window * workers.max(1.0)),
                mean_queue_len: per_window(delta(slot, SVC_QUEUE_AREA), window),
                retries: delta(slot, SVC_RETRIES),
                timeouts: delta(slot, SVC_TIMEOUTS),
            };
        }
        for (g, b) in balancers.iter_mut().enumerate() {
            let slot = layout.balancer(g);
            b.timeseries = BalancerSeries {
                forwarded: delta(slot, BAL_FORWARDED),
                no_backend: delta(slot, BAL_NO_BACKEND),
                timeouts: delta(slot, BAL_TIMEOUTS),
                tier: if b.failover.is_empty() {
                    vec![]
                } else {
                    sampler.gauges(slot, BAL_TIER, &current, n).iter().map(|&t| t.checked_sub(1)).collect()
                },
                ejected: b.ejections.map(|_| sampler.gauges(layout.balancer_ejected(g), BAL_EJECTED, &current, n)),
            };
        }
        for (g, c) in caches.iter_mut().enumerate() {
            let slot = layout.cache(g);
            let (hits, misses) = (delta(slot, CACHE_HITS), delta(slot, CACHE_MISSES));
            let hit_ratio = hits.iter().zip(&misses).map(|(&h, &m)| round3(ratio(h as f64, (h + m) as f64))).collect();
            c.timeseries = CacheSeries {
                hits,
                misses,
                hit_ratio,
                coalesced: delta(slot, CACHE_COALESCED),
                backend_reads: delta(slot, CACHE_BACKEND_READS),
                shed: c.shed.map(|_| delta(layout.cache_counts(g), CACHE_SHED)),
            };
        }
        // The scenario's queues, then the topics of choreographed workflows (actor order).
        for (g, q) in queues.iter_mut().enumerate() {
            let slot = layout.queue(g);
            q.timeseries = QueueSeries {
                published: delta(slot, QUEUE_PUBLISHED),
                acked: delta(slot, QUEUE_ACKED),
                dead_lettered: delta(slot, QUEUE_DEAD_LETTERED),
                backlog: sampler.gauges(slot, QUEUE_BACKLOG, &current, n),
                oldest_age_ms: sampler
                    .gauges(layout.queue_ages(g), QUEUE_OLDEST_AGE, &current, n)
                    .into_iter()
                    .map(to_ms)
                    .collect(),
            };
        }
        for (g, d) in databases.iter_mut().enumerate() {
            let slot = layout.databases + g;
            d.timeseries = DatabaseSeries {
                served: delta(slot, DB_SERVED),
                failed: delta(slot, DB_FAILED),
                redirects: delta(slot, DB_REDIRECTS),
                leaderless_shards: sampler.gauges(slot, DB_LEADERLESS, &current, n),
                shard_served: if sampler.shards() == 0 {
                    Vec::new()
                } else {
                    (0..d.shards).map(|s| sampler.shard_deltas(world.shard_base[g] + s, &current_shards, n)).collect()
                },
            };
        }
        let mut anomalies = BTreeMap::new();
        for (i, d) in databases.iter_mut().enumerate() {
            if spec.databases[i].record_history {
                let c = consistency(world, i);
                let counts = [
                    c.stale_reads,
                    c.read_your_writes_violations,
                    c.monotonic_read_violations,
                    c.lost_updates,
                    c.nonlinearizable_keys,
                ];
                for (kind, n) in CONSISTENCY_ANOMALIES.into_iter().zip(counts) {
                    *anomalies.entry(kind.to_owned()).or_insert(0) += n;
                }
                d.consistency = Some(c);
            }
        }
        for d in &mut databases {
            let mean = d.shard_load.iter().sum::<u64>() as f64 / d.shard_load.len().max(1) as f64;
            let max = d.shard_load.iter().copied().max().unwrap_or(0) as f64;
            d.hot_shard_ratio = round3(ratio(max, mean));
            d.hot_shards = (0..d.shard_load.len()).filter(|&i| d.shard_load[i] as f64 > 2.0 * mean).collect();
        }
        let ns = &world.net_stats;
        let workflows = workflows::build(world);
        for w in &workflows {
            for (kind, n) in &w.anomalies {
                *anomalies.entry(kind.clone()).or_insert(0) += n;
            }
        }
        RunReport {
            schema_version: SCHEMA_VERSION,
            sim_revision: crate::SIM_REVISION,
            scenario: scenario.to_owned(),
            variant: variant.to_owned(),
            seed: world.seed,
            trace_hash: world.trace_hash().hex(),
            events: world.events(),
            sim_time_ns: now,
            requests,
            latency_ms: LatencySummary::of(&all),
            anomalies,
            workloads,
            services,
            balancers,
            caches,
            queues,
            databases,
            workflows,
            network: NetworkReport {
                delivered: ns.delivered,
                dropped_node_down: ns.dropped_node_down,
                dropped_partition: ns.dropped_partition,
                dropped_loss: ns.dropped_loss,
                dropped_on_arrival: ns.dropped_on_arrival,
            },
            faults: world
                .fault_log
                .iter()
                .map(|f| FaultEvent {
                    t_ms: to_ms(f.t),
                    name: f.name.clone(),
                    kind: f.kind,
                    phase: if f.started { "start" } else { "end" },
                    injected: f.injected,
                })
                .collect(),
            timeseries: SeriesReport {
                window_ms: to_ms(series.window),
                t_s: (0..series.windows.len()).map(|i| to_s(i as u64 * series.window)).collect(),
                ok: series.windows.iter().map(|w| w.ok).collect(),
                failed: series.windows.iter().map(|w| w.failed).collect(),
                timed_out: series.windows.iter().map(|w| w.timed_out).collect(),
                p50_ms: series.windows.iter().map(|w| w.has_latency().then(|| to_ms(w.quantile_ns(0.5)))).collect(),
                p99_ms: series.windows.iter().map(|w| w.has_latency().then(|| to_ms(w.quantile_ns(0.99)))).collect(),
            },
        }
    }
}

/// Runs the history checks of database `db`.
fn consistency(world: &World, db: usize) -> ConsistencyReport {
    let history = world.history(db);
    let f = check_reads(&history);
    let lin = crate::consistency::linearizability(&history, LINEARIZABILITY_STEPS);
    let stale = f.stale_reads.max(1) as f64;
    ConsistencyReport {
        operations: world.recorded_attempts(db),
        reads_ok: f.reads_ok,
        writes_ok: f.writes_ok,
        stale_reads: f.stale_reads,
        stale_read_ratio: round3(ratio(f.stale_reads as f64, f.reads_ok as f64)),
        staleness_versions_mean: round3(f.staleness_versions_sum as f64 / stale),
        staleness_versions_max: f.staleness_versions_max,
        staleness_ms_mean: round3(f.staleness_ns_sum as f64 / stale / 1e6),
        staleness_ms_max: to_ms(f.staleness_ns_max),
        read_your_writes_violations: f.read_your_writes_violations,
        monotonic_read_violations: f.monotonic_read_violations,
        lost_updates: world.lost_updates(db, &history),
        convergence_ms: world.convergence(db).map(to_ms),
        linearizable: match lin.verdict {
            crate::check::linear::Verdict::Linearizable => Some(true),
            crate::check::linear::Verdict::NotLinearizable => Some(false),
            crate::check::linear::Verdict::Unknown => None,
        },
        nonlinearizable_keys: lin.violations.len() as u64,
        linearizability_unknown_keys: lin.unknown.len() as u64,
        linearizability_violation: lin.violations.first().map(|v| v.message.clone()),
    }
}
