//! A compiled, validated description of a world: what the scenario format turns into.
//! Everything is resolved to indices; names are kept for reports and random-stream names.

use faultline_sim::net::FaultKind;
use faultline_sim::{Dist, Nanos, NodeId, Topology};

use faultline_sim::keys::KeyDist;

use crate::calls::{BreakerPolicy, RetryPolicy, Strategy};
use crate::msg::Op;
use crate::saga::{Role, Stock};
use crate::workflow::Design;

#[derive(Clone, Debug)]
pub struct WorldSpec {
    pub topology: Topology,
    pub services: Vec<ServiceSpec>,
    pub balancers: Vec<BalancerSpec>,
    pub workloads: Vec<WorkloadSpec>,
    pub caches: Vec<CacheSpec>,
    pub queues: Vec<QueueSpec>,
    pub databases: Vec<DatabaseSpec>,
    /// Business workflows (sagas): each a coordinator, its participants and, for a
    /// choreography, its topics.
    pub workflows: Vec<WorkflowSpec>,
    pub faults: Vec<FaultSpec>,
    /// Workloads stop sending at `duration`; the run continues until every request they sent
    /// has resolved (bounded by their timeouts).
    pub duration: Nanos,
    /// Length of one time-series window.
    pub window: Nanos,
}

impl WorldSpec {
    /// A world with a topology and nothing in it.
    pub fn empty(topology: Topology, duration: Nanos, window: Nanos) -> WorldSpec {
        WorldSpec {
            topology,
            services: vec![],
            balancers: vec![],
            workloads: vec![],
            caches: vec![],
            queues: vec![],
            databases: vec![],
            workflows: vec![],
            faults: vec![],
            duration,
            window,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ServiceSpec {
    pub name: String,
    /// One instance per node, in this order.
    pub nodes: Vec<NodeId>,
    pub workers: u32,
    /// Requests waiting for a worker beyond this are rejected.
    pub queue_capacity: u32,
    /// A queued request that has waited longer than this when a worker reaches it is dropped
    /// unserved (`Rejected`); `None`: every queued request is served.
    pub queue_timeout: Option<Nanos>,
    /// Act on the deadlines requests carry (deadline propagation): shed queued requests whose
    /// deadline passed, start no downstream stage after it, and pass it on to downstream calls.
    pub propagate_deadlines: bool,
    /// With deadline propagation: requests with less than this left before their deadline are
    /// answered `Rejected` without work too (0: only those past it).
    pub min_time_left: Nanos,
    /// Service time per request kind (index = kind); at least one.
    pub service_time: Vec<Dist>,
    /// The kinds' names, by index (empty: one unnamed kind); for explanations and reports.
    pub kinds: Vec<String>,
    /// Admission limit: a token bucket refilled at this rate (requests/s) per instance, with
    /// `burst` tokens; requests finding it empty are rejected.
    pub rate_limit: Option<(f64, f64)>,
    /// Downstream calls made, in order, after the local work of each request.
    pub calls: Vec<CallSpec>,
}

#[derive(Clone, Debug)]
pub struct CallSpec {
    pub target: TargetRef,
    pub timeout: Nanos,
    pub retry: RetryPolicy,
    /// Request kind sent (index at the callee). Not used for a workload's call: its mix picks
    /// each request's kind (the world gives its call target no kind of its own).
    pub class: u8,
    /// Copies sent in parallel (to different backends where the target picks); all must succeed.
    pub fanout: u32,
    pub hedge_after: Option<Nanos>,
    pub breaker: Option<BreakerPolicy>,
    /// A failure of this call does not fail the request (graceful degradation).
    pub optional: bool,
    /// Outlier detection over the backends it picks (a service's instances only).
    pub outliers: Option<OutlierDetection>,
}

impl CallSpec {
    pub fn new(target: TargetRef, timeout: Nanos, retry: RetryPolicy) -> CallSpec {
        CallSpec {
            target,
            timeout,
            retry,
            class: 0,
            fanout: 1,
            hedge_after: None,
            breaker: None,
            optional: false,
            outliers: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum TargetRef {
    /// Through a load balancer (index into `balancers`).
    Balancer(usize),
    /// Straight to a service's instances, chosen client-side.
    Service { index: usize, strategy: Strategy },
    /// A cache server (index into `caches`).
    Cache(usize),
    /// Publish to a message queue (index into `queues`).
    Queue(usize),
    /// A sharded database (index into `databases`), routed by key.
    Database(usize),
    /// A business workflow's coordinator (index into `workflows`); the key is the saga id.
    Workflow(usize),
}

#[derive(Clone, Debug)]
pub struct CacheSpec {
    pub name: String,
    pub node: NodeId,
    /// Entries it can hold (LRU eviction beyond).
    pub capacity: u32,
    pub ttl: Option<Nanos>,
    /// Writes update the cache after the backend (true) or invalidate the key (false,
    /// cache-aside).
    pub write_through: bool,
    /// Concurrent misses on one key share one backend read.
    pub coalesce: bool,
    /// Act on the deadlines requests carry: shed what arrives too late, pass them on to the
    /// backend calls.
    pub propagate_deadlines: bool,
    /// With `propagate_deadlines`: misses and writes with less than this left before their
    /// deadline are shed too.
    pub min_time_left: Nanos,
    pub backend: CallSpec,
}

#[derive(Clone, Debug)]
pub struct QueueSpec {
    pub name: String,
    pub node: NodeId,
    pub partitions: u16,
    pub visibility_timeout: Nanos,
    /// Deliveries before a message goes to the dead-letter queue.
    pub max_attempts: u32,
    pub max_in_flight_per_partition: u32,
    pub session_timeout: Nanos,
    /// Consumer groups: each is a service whose instances share the partitions.
    pub consumer_groups: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ReplicationSpec {
    /// Acknowledge a write once a majority persisted it.
    Sync,
    /// Acknowledge at once; ship to followers after a sampled lag.
    Async { lag: Dist },
}

#[derive(Clone, Debug)]
pub struct DatabaseSpec {
    pub name: String,
    /// Replica nodes, by shard then replica index.
    pub nodes: Vec<Vec<NodeId>>,
    pub sharding: crate::calls::Sharding,
    pub replication: ReplicationSpec,
    pub read_from: crate::calls::ReadFrom,
    pub workers: u32,
    pub queue_capacity: u32,
    /// Queued requests that waited longer are answered `Rejected` without work.
    pub queue_timeout: Option<Nanos>,
    /// Requests whose deadline passed are answered `Rejected` without work.
    pub propagate_deadlines: bool,
    /// With deadline propagation: requests with less than this left before their deadline are
    /// answered `Rejected` without work too (0: only those past it).
    pub min_time_left: Nanos,
    pub service_time: Dist,
    pub election_timeout: Nanos,
    pub heartbeat_interval: Nanos,
    /// Replicas ask for pre-votes before raising their term to campaign.
    pub pre_vote: bool,
    /// A leader that hears from no majority within an election timeout steps down.
    pub check_quorum: bool,
    /// Record every client operation as a history and check it (linearizability, stale reads,
    /// session guarantees, lost updates, convergence after faults heal).
    pub record_history: bool,
    /// Planted bug (tests of the checkers): acknowledge writes before they are committed.
    pub bug_ack_before_commit: bool,
}

#[derive(Clone, Debug)]
pub struct BalancerSpec {
    pub name: String,
    pub node: NodeId,
    /// The service whose instances it spreads requests over.
    pub service: usize,
    pub strategy: Strategy,
    /// Idle timeout for a proxied request (answers `Timeout` to the caller).
    pub timeout: Nanos,
    pub health: Option<HealthCheck>,
    /// Passive health checking: backends ejected for answering with errors.
    pub outliers: Option<OutlierDetection>,
    /// Active-passive: region or zone names in order of preference (empty: every healthy
    /// instance takes traffic, active-active).
    pub failover: Vec<String>,
    /// Failover tier of each instance of the service, in instance order: the index of the first
    /// `failover` name its node is in, or `failover.len()` (the last tier) if none. Empty
    /// without `failover`.
    pub tiers: Vec<u16>,
}

/// Active health checking: a probe to every backend each `interval`; a backend is taken out
/// after `unhealthy` consecutive failed probes (no answer within `timeout`) and put back after
/// `healthy` consecutive good ones.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HealthCheck {
    pub interval: Nanos,
    pub timeout: Nanos,
    pub unhealthy: u32,
    pub healthy: u32,
}

/// Outlier detection (passive health checking, as Envoy's `consecutive_5xx`): a backend that
/// answers `consecutive_errors` requests in a row with anything but `Ok` (the balancer's own
/// timeouts of its requests included) is ejected for `base_ejection` times the number of its
/// ejections in a row (at most `max_ejection`), unless `max_ejection_percent` of the backends
/// are ejected already (one may always be).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutlierDetection {
    pub consecutive_errors: u32,
    pub base_ejection: Nanos,
    pub max_ejection: Nanos,
    pub max_ejection_percent: u32,
}

impl OutlierDetection {
    /// Backends that may be ejected at once out of `n`: Envoy's cap, ejecting while fewer than
    /// `max_ejection_percent` of them are out, and always at least one.
    pub fn max_ejected(&self, n: usize) -> usize {
        (n * self.max_ejection_percent as usize).div_ceil(100).max(1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arrival {
    /// Exponential gaps (a Poisson process).
    Poisson { rate_per_s: f64 },
    /// Evenly spaced arrivals.
    Constant { rate_per_s: f64 },
}

/// How the offered rate changes over time: `base × Π(phases in force) × (1 + a·sin(2πt/T))`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RateShape {
    pub phases: Vec<Phase>,
    pub diurnal: Option<Diurnal>,
}

/// A window of time in which the rate is multiplied (a spike, a burst, a lull).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Phase {
    pub start: Nanos,
    pub end: Nanos,
    pub multiplier: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Diurnal {
    pub period: Nanos,
    /// Relative swing, in [0, 1].
    pub amplitude: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Load {
    Open {
        arrival: Arrival,
        shape: RateShape,
    },
    /// `users` each send, wait for the outcome, think, and send again.
    Closed {
        users: u32,
        think: Dist,
    },
}

/// One kind of request in a workload's mix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MixEntry {
    pub weight: f64,
    /// Index of the kind at the target service.
    pub class: u8,
    pub op: Op,
}

#[derive(Clone, Debug)]
pub struct WorkloadSpec {
    pub name: String,
    /// Where the clients sit (their link class to the target decides latency).
    pub node: NodeId,
    pub load: Load,
    pub start: Nanos,
    pub stop: Nanos,
    pub call: CallSpec,
    pub keys: KeyDist,
    /// Empty: every request is kind 0, a read.
    pub mix: Vec<MixEntry>,
}

#[derive(Clone, Debug)]
pub struct FaultSpec {
    pub name: String,
    pub kind: FaultKind,
    pub start: Nanos,
    /// `None` = never heals.
    pub end: Option<Nanos>,
}

impl CallSpec {
    /// The longest a call can take before its caller has an outcome: every attempt times out
    /// and every backoff is at its maximum.
    pub fn worst_case(&self) -> Nanos {
        let a = u64::from(self.retry.max_attempts.max(1));
        self.timeout.saturating_mul(a).saturating_add(self.retry.backoff_max.saturating_mul(a - 1))
    }
}

/// A business workflow: a coordinator (the front or orchestrator users call) and one
/// participant per step, in order; see `models/src/workflow.rs` for the designs.
#[derive(Clone, Debug)]
pub struct WorkflowSpec {
    pub name: String,
    pub design: Design,
    /// The coordinator's node.
    pub node: NodeId,
    pub steps: Vec<StepSpec>,
    /// Deadline of each call to a participant (and of each publish).
    pub call_timeout: Nanos,
    pub retry: RetryPolicy,
    /// Saga designs: answer the user "still processing" after this long.
    pub reply_within: Option<Nanos>,
    /// Sync: act on the deadline a user's request carries (turn it away once passed, start no
    /// step after it, pass it on to the steps' `do` calls).
    pub propagate_deadlines: bool,
    /// Orchestrated: time to append one record to the saga log.
    pub log_write: Dist,
    /// How long after `duration` the run may go on for sagas to finish (it stops as soon as
    /// everything is idle).
    pub settle: Nanos,
    /// Choreographed: where its topics live and how they deliver.
    pub queue: Option<WorkflowQueueSpec>,
}

/// One step of a workflow: its participant node and business rules.
#[derive(Clone, Debug)]
pub struct StepSpec {
    pub name: String,
    pub role: Role,
    pub node: NodeId,
    pub workers: u32,
    pub queue_capacity: u32,
    /// Queued requests that waited longer are answered `Rejected` without work.
    pub queue_timeout: Option<Nanos>,
    /// Requests whose deadline passed are answered `Rejected` without work.
    pub propagate_deadlines: bool,
    /// With deadline propagation: requests with less than this left before their deadline are
    /// answered `Rejected` without work too (0: only those past it).
    pub min_time_left: Nanos,
    pub service_time: Dist,
    /// Chance that a new `do` is refused for business reasons (a declined card).
    pub refuse_probability: f64,
    /// Inventory: finite stock per item.
    pub stock: Option<Stock>,
}

/// The broker of a choreography: one topic per step (its inbox) plus an outcomes topic, all on
/// one node.
#[derive(Clone, Debug)]
pub struct WorkflowQueueSpec {
    pub node: NodeId,
    pub partitions: u16,
    pub visibility_timeout: Nanos,
    pub max_attempts: u32,
    pub max_in_flight_per_partition: u32,
    pub session_timeout: Nanos,
}
