//! The scenario file format, as serde types. Every table rejects unknown fields; units are in
//! field names. docs/scenario-format.md documents each field; keep the two in step.

use serde::Deserialize;
use serde::de::{self, Deserializer};
use toml::Spanned;

/// A number that must be ≥ 0 (durations, rates). Rejected with the value's position otherwise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NonNeg(pub f64);

impl<'de> Deserialize<'de> for NonNeg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let x = f64::deserialize(d)?;
        if x.is_finite() && x >= 0.0 {
            Ok(NonNeg(x))
        } else {
            Err(de::Error::custom(format!("expected a non-negative number, found {}", crate::compile::short(x))))
        }
    }
}

/// A number that must be > 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Positive(pub f64);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let x = f64::deserialize(d)?;
        if x.is_finite() && x > 0.0 {
            Ok(Positive(x))
        } else {
            Err(de::Error::custom(format!("expected a positive number, found {}", crate::compile::short(x))))
        }
    }
}

/// A probability in `[0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Probability(pub f64);

impl<'de> Deserialize<'de> for Probability {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let x = f64::deserialize(d)?;
        if (0.0..=1.0).contains(&x) {
            Ok(Probability(x))
        } else {
            Err(de::Error::custom(format!(
                "expected a probability between 0 and 1, found {}",
                crate::compile::short(x)
            )))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub scenario: Header,
    #[serde(default)]
    pub topology: TopologyCfg,
    #[serde(default, rename = "region")]
    pub regions: Vec<RegionCfg>,
    #[serde(default, rename = "service")]
    pub services: Vec<ServiceCfg>,
    #[serde(default, rename = "load_balancer")]
    pub balancers: Vec<BalancerCfg>,
    #[serde(default, rename = "workload")]
    pub workloads: Vec<WorkloadCfg>,
    #[serde(default, rename = "cache")]
    pub caches: Vec<CacheCfg>,
    #[serde(default, rename = "queue")]
    pub queues: Vec<QueueCfg>,
    #[serde(default, rename = "database")]
    pub databases: Vec<DatabaseCfg>,
    #[serde(default, rename = "workflow")]
    pub workflows: Vec<WorkflowCfg>,
    #[serde(default, rename = "fault")]
    pub faults: Vec<Spanned<FaultCfg>>,
    #[serde(default, rename = "variant")]
    pub variants: Vec<Spanned<VariantCfg>>,
    #[serde(default, rename = "expect")]
    pub expects: Vec<ExpectCfg>,
}

/// A check on the run's figures (scenarios/src/expect.rs).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectCfg {
    /// `FIGURE OP NUMBER`.
    pub check: Spanned<String>,
    /// Take the figure over the windows in which this fault was active.
    pub during: Option<Spanned<String>>,
    /// …or over the windows overlapping `[from, to)` seconds.
    pub between_s: Option<Spanned<[f64; 2]>>,
    /// Only for these variants (default: all).
    pub variants: Option<Spanned<Vec<Spanned<String>>>>,
    /// Sweeps: `mean` (default; the 95% CI of the mean over seeds must pass) or `each`.
    pub over_seeds: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    /// How long workloads send requests (seconds of simulated time).
    pub duration_s: Spanned<Positive>,
    /// Time-series window.
    pub window_ms: Option<Spanned<Positive>>,
    /// Seed used when the command line gives none.
    pub seed: Option<u64>,
    /// Event budget: the run stops (exit code 3) after this many events.
    pub max_events: Option<u64>,
    /// Memory budget: the run stops (exit code 3) when its components hold more requests,
    /// messages and events at once.
    pub max_held: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyCfg {
    #[serde(default)]
    pub latency: LatencyCfg,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyCfg {
    pub same_node: Option<Spanned<DistCfg>>,
    pub same_zone: Option<Spanned<DistCfg>>,
    pub cross_zone: Option<Spanned<DistCfg>>,
    pub cross_region: Option<Spanned<DistCfg>>,
    #[serde(default)]
    pub between: Vec<PairLatencyCfg>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairLatencyCfg {
    pub regions: Spanned<Vec<Spanned<String>>>,
    pub latency: Spanned<DistCfg>,
}

/// A distribution of durations. `dist` picks the family; each family takes its own fields
/// (checked after parsing, with the table's position).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistCfg {
    pub dist: Spanned<String>,
    pub value_ms: Option<NonNeg>,
    pub low_ms: Option<NonNeg>,
    pub high_ms: Option<NonNeg>,
    pub mean_ms: Option<NonNeg>,
    pub std_dev_ms: Option<NonNeg>,
    pub p50_ms: Option<Positive>,
    pub p99_ms: Option<Positive>,
    pub scale_ms: Option<Positive>,
    pub shape: Option<Positive>,
    /// `[[quantile, value_ms], ...]`, quantiles from 0 to 1 ascending.
    pub points: Option<Vec<Vec<f64>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionCfg {
    pub name: Spanned<String>,
    pub zones: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceCfg {
    pub name: Spanned<String>,
    /// Place instances across all zones of this region...
    pub region: Option<Spanned<String>>,
    /// ...or across these zones (round-robin).
    pub zones: Option<Vec<Spanned<String>>>,
    pub instances: Option<Spanned<u32>>,
    pub workers: Option<Spanned<u32>>,
    pub queue_capacity: Option<u32>,
    /// Drop a queued request that waited longer than this when a worker reaches it.
    pub queue_timeout_ms: Option<Positive>,
    /// Act on the deadlines requests carry, and pass them on (deadline propagation).
    #[serde(default)]
    pub propagate_deadlines: bool,
    /// With `propagate_deadlines`: also turn away a request with less than this left before
    /// its deadline.
    pub min_time_left_ms: Option<Spanned<Positive>>,
    /// Service time of every request kind...
    pub service_time: Option<Spanned<DistCfg>>,
    /// ...or per named kind (the first is the default kind).
    pub kinds: Option<Spanned<Vec<KindCfg>>>,
    /// Admission limit per instance (token bucket).
    pub rate_limit_per_s: Option<Positive>,
    pub rate_limit_burst: Option<Spanned<Positive>>,
    #[serde(default)]
    pub calls: Vec<CallCfg>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindCfg {
    pub name: Spanned<String>,
    pub service_time: Spanned<DistCfg>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallCfg {
    /// A load balancer or a service.
    pub target: Spanned<String>,
    pub timeout_ms: Spanned<Positive>,
    pub retry: Option<RetryCfg>,
    /// Client-side balancing when the target is a service.
    pub balance: Option<Spanned<String>>,
    /// Request kind at the callee (default: its first kind).
    pub kind: Option<Spanned<String>>,
    /// Parallel copies to different backends; all must succeed.
    pub fanout: Option<Spanned<u32>>,
    /// Send a hedge copy to another backend when no answer came after this long.
    pub hedge_after_ms: Option<Spanned<Positive>>,
    pub breaker: Option<BreakerCfg>,
    /// A failure of this call does not fail the request (the caller degrades gracefully).
    pub optional: Option<bool>,
    /// Client-side balancing: eject instances that answer with errors.
    pub outlier_detection: Option<Spanned<OutlierCfg>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerCfg {
    /// Consecutive failed attempts that open the breaker.
    pub failures: Spanned<u32>,
    /// How long it stays open before a trial call.
    pub open_ms: Spanned<Positive>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckCfg {
    pub interval_ms: Spanned<Positive>,
    pub timeout_ms: Spanned<Positive>,
    pub unhealthy: Option<Spanned<u32>>,
    pub healthy: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutlierCfg {
    pub consecutive_errors: Option<Spanned<u32>>,
    pub base_ejection_ms: Option<Spanned<Positive>>,
    pub max_ejection_ms: Option<Spanned<Positive>>,
    pub max_ejection_percent: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryCfg {
    pub max_attempts: Spanned<u32>,
    pub backoff_base_ms: Option<NonNeg>,
    pub backoff_max_ms: Option<NonNeg>,
    pub jitter: Option<Spanned<String>>,
    /// Retries allowed per request on average (token bucket); absent = unlimited.
    pub budget_ratio: Option<NonNeg>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalancerCfg {
    pub name: Spanned<String>,
    pub zone: Spanned<String>,
    pub service: Spanned<String>,
    pub strategy: Option<Spanned<String>>,
    pub timeout_ms: Option<Spanned<Positive>>,
    pub health_check: Option<HealthCheckCfg>,
    /// Passive health checking: eject backends that answer with errors.
    pub outlier_detection: Option<OutlierCfg>,
    /// Active-passive: regions or zones in order of preference; traffic goes only to the
    /// healthy instances of the first that has any (unlisted instances come last).
    pub failover: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadCfg {
    pub name: Spanned<String>,
    pub zone: Spanned<String>,
    pub target: Spanned<String>,
    /// Open loop...
    pub arrival: Option<ArrivalCfg>,
    /// ...or closed loop: this many users, each thinking between requests.
    pub users: Option<Spanned<u32>>,
    pub think_time: Option<Spanned<DistCfg>>,
    /// Open loop: windows in which the rate is multiplied (spikes, lulls).
    #[serde(default)]
    pub phases: Vec<PhaseCfg>,
    /// Open loop: a sinusoidal swing of the rate.
    pub diurnal: Option<DiurnalCfg>,
    pub start_s: Option<NonNeg>,
    pub stop_s: Option<Spanned<NonNeg>>,
    pub timeout_ms: Spanned<Positive>,
    pub retry: Option<RetryCfg>,
    pub balance: Option<Spanned<String>>,
    pub keys: Option<Spanned<KeysCfg>>,
    #[serde(default)]
    pub mix: Vec<MixCfg>,
    pub hedge_after_ms: Option<Spanned<Positive>>,
    pub breaker: Option<BreakerCfg>,
    /// Client-side balancing: eject instances that answer with errors.
    pub outlier_detection: Option<Spanned<OutlierCfg>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseCfg {
    pub start_s: NonNeg,
    pub end_s: Spanned<NonNeg>,
    pub multiplier: NonNeg,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiurnalCfg {
    pub period_s: Positive,
    pub amplitude: Probability,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysCfg {
    /// Number of keys (uniform and zipf).
    pub count: Option<Spanned<u64>>,
    /// `uniform` (default), `zipf` or `sequential`.
    pub distribution: Option<Spanned<String>>,
    /// Zipf exponent.
    pub s: Option<Spanned<Positive>>,
    /// Sequential: the first key (default 0).
    pub start: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixCfg {
    /// A kind of the target service (its `kinds`), or any name if it has none.
    pub kind: Spanned<String>,
    pub weight: Positive,
    /// `read` (default) or `write`.
    pub op: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrivalCfg {
    pub process: Spanned<String>,
    pub rate_per_s: Positive,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultCfg {
    pub name: Option<Spanned<String>>,
    pub kind: Spanned<String>,
    pub start_s: NonNeg,
    /// When it heals; absent (and no `duration_s`) = never.
    pub end_s: Option<Spanned<NonNeg>>,
    pub duration_s: Option<NonNeg>,
    /// region-outage
    pub region: Option<Spanned<String>>,
    /// zone-outage
    pub zone: Option<Spanned<String>>,
    /// node-crash: a service instance (`api/0`), a balancer or a workload
    pub node: Option<Spanned<String>>,
    /// slow, errors: regions, zones, services or nodes
    pub targets: Option<Vec<Spanned<String>>>,
    /// partition, latency, loss: the two sides
    pub from: Option<Vec<Spanned<String>>>,
    pub to: Option<Vec<Spanned<String>>>,
    /// partition, latency, loss: only messages from `from` to `to` are affected
    pub one_way: Option<bool>,
    /// latency
    pub added_ms: Option<NonNeg>,
    pub jitter_ms: Option<NonNeg>,
    /// loss, errors
    pub probability: Option<Probability>,
    /// slow
    pub factor: Option<Positive>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantCfg {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    /// `"path.to.field" = value`; array tables are addressed by their `name`
    /// (`"service.api.workers" = 16`), plain arrays by index (`"service.api.calls.0.timeout_ms"`).
    #[serde(default)]
    pub set: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheCfg {
    pub name: Spanned<String>,
    pub zone: Spanned<String>,
    /// Entries held (LRU eviction beyond).
    pub capacity: Spanned<u32>,
    pub ttl_ms: Option<Positive>,
    /// `invalidate` (cache-aside, default) or `write-through`.
    pub write_policy: Option<Spanned<String>>,
    /// Concurrent misses on one key share one backend read (default false: a stampede).
    pub coalesce: Option<bool>,
    /// Act on the deadlines requests carry, and pass them on to backend calls (deadline
    /// propagation).
    #[serde(default)]
    pub propagate_deadlines: bool,
    /// With `propagate_deadlines`: also turn away a miss or write with less than this left
    /// before its deadline.
    pub min_time_left_ms: Option<Spanned<Positive>>,
    /// Where misses and writes go.
    pub backend: BackendCfg,
}

/// A cache's backend: a call without the fields that only a service's call graph gives meaning
/// (`kind`, `fanout`, `hedge_after_ms`, `optional`), so that they are rejected, not ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendCfg {
    /// A load balancer, a service or a database.
    pub target: Spanned<String>,
    pub timeout_ms: Spanned<Positive>,
    pub retry: Option<RetryCfg>,
    /// Client-side balancing when the target is a service.
    pub balance: Option<Spanned<String>>,
    pub breaker: Option<BreakerCfg>,
    /// Client-side balancing: eject instances that answer with errors.
    pub outlier_detection: Option<Spanned<OutlierCfg>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueCfg {
    pub name: Spanned<String>,
    pub zone: Spanned<String>,
    pub partitions: Option<Spanned<u16>>,
    pub visibility_timeout_ms: Spanned<Positive>,
    /// Deliveries before a message is dead-lettered.
    pub max_attempts: Option<Spanned<u32>>,
    /// 1 (default) keeps strict per-partition order.
    pub max_in_flight_per_partition: Option<Spanned<u32>>,
    pub session_timeout_ms: Option<Spanned<Positive>>,
    /// Services that consume: each is one consumer group of its instances.
    pub consumer_groups: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseCfg {
    pub name: Spanned<String>,
    /// Replicas of each shard go round-robin over these zones.
    pub zones: Vec<Spanned<String>>,
    pub shards: Option<Spanned<u32>>,
    pub replicas: Option<Spanned<u32>>,
    /// `hash` (default) or `range`.
    pub sharding: Option<Spanned<String>>,
    /// Range sharding: keys 0..key_space split into equal ranges.
    pub key_space: Option<Spanned<u64>>,
    /// `strong` (sync replication, leader reads) or `eventual` (async replication, nearest
    /// reads): a shorthand for `replication` and `read_from`, which it excludes.
    pub consistency: Option<Spanned<String>>,
    /// `sync` (default: majority-acknowledged writes) or `async`.
    pub replication: Option<Spanned<String>>,
    /// Async replication: delay before an entry ships to followers.
    pub replication_lag: Option<Spanned<DistCfg>>,
    /// `leader` (default) or `nearest`.
    pub read_from: Option<Spanned<String>>,
    pub workers: Option<Spanned<u32>>,
    pub queue_capacity: Option<u32>,
    pub queue_timeout_ms: Option<Positive>,
    /// Act on the deadlines requests carry: turn away those whose caller stopped waiting.
    #[serde(default)]
    pub propagate_deadlines: bool,
    /// With `propagate_deadlines`: also turn away a request with less than this left before
    /// its deadline.
    pub min_time_left_ms: Option<Spanned<Positive>>,
    pub service_time: Spanned<DistCfg>,
    pub election_timeout_ms: Option<Spanned<Positive>>,
    pub heartbeat_interval_ms: Option<Spanned<Positive>>,
    /// A replica asks for pre-votes before raising its term to campaign (default true).
    pub pre_vote: Option<bool>,
    /// A leader that hears from no majority within an election timeout steps down (default
    /// true).
    pub check_quorum: Option<bool>,
    /// Record clients' operations as a history and check it (default false).
    pub record_history: Option<bool>,
    /// A planted bug for testing checkers: acknowledge writes before a majority has them.
    pub bug_ack_before_commit: Option<bool>,
}

/// A business workflow (saga): a coordinator users call, and its steps in order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowCfg {
    /// Also the coordinator's node name; workloads use it as `target`.
    pub name: Spanned<String>,
    /// Where the coordinator (sync front, orchestrator, choreography entry) runs.
    pub zone: Spanned<String>,
    /// `sync`, `orchestrated` or `choreographed`.
    pub design: Spanned<String>,
    /// Deadline of each call to a step (and of each publish).
    pub call_timeout_ms: Spanned<Positive>,
    pub retry: Option<RetryCfg>,
    /// Saga designs: answer "still processing" after this long.
    pub reply_within_ms: Option<Spanned<Positive>>,
    /// Sync: act on the deadline a user's request carries and pass it on to the steps.
    #[serde(default)]
    pub propagate_deadlines: bool,
    /// Orchestrated: time to append one record to the saga log.
    pub log_write: Option<Spanned<DistCfg>>,
    /// How long after `duration_s` sagas may go on finishing.
    pub settle_s: Option<NonNeg>,
    /// Choreographed: where the topics live and how they deliver.
    pub queue: Option<WorkflowQueueCfg>,
    #[serde(default, rename = "step")]
    pub steps: Vec<Spanned<StepCfg>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepCfg {
    /// Unique in its workflow; the participant's node is `WORKFLOW/NAME`.
    pub name: Spanned<String>,
    /// `order`, `inventory`, `payment`, `shipping` or `other` (default).
    pub role: Option<Spanned<String>>,
    pub zone: Spanned<String>,
    pub workers: Option<Spanned<u32>>,
    pub queue_capacity: Option<u32>,
    pub queue_timeout_ms: Option<Positive>,
    /// Act on the deadlines requests carry: turn away those whose caller stopped waiting.
    #[serde(default)]
    pub propagate_deadlines: bool,
    /// With `propagate_deadlines`: also turn away a request with less than this left before
    /// its deadline.
    pub min_time_left_ms: Option<Spanned<Positive>>,
    pub service_time: Spanned<DistCfg>,
    /// Chance that a new `do` is refused for business reasons.
    pub refuse_probability: Option<Probability>,
    /// Inventory: units of each item, and how many items.
    pub stock_per_item: Option<Spanned<u32>>,
    pub items: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowQueueCfg {
    pub zone: Spanned<String>,
    pub partitions: Option<Spanned<u16>>,
    pub visibility_timeout_ms: Spanned<Positive>,
    pub max_attempts: Option<Spanned<u32>>,
    pub max_in_flight_per_partition: Option<Spanned<u32>>,
    pub session_timeout_ms: Option<Spanned<Positive>>,
}
