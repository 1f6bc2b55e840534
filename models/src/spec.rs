//! A compiled, validated description of a world: what the scenario format turns into.
//! Everything is resolved to indices; names are kept for reports and random-stream names.

use faultline_sim::net::FaultKind;
use faultline_sim::{Dist, Nanos, NodeId, Topology};

use crate::calls::{RetryPolicy, Strategy};

#[derive(Clone, Debug)]
pub struct WorldSpec {
    pub topology: Topology,
    pub services: Vec<ServiceSpec>,
    pub balancers: Vec<BalancerSpec>,
    pub workloads: Vec<WorkloadSpec>,
    pub faults: Vec<FaultSpec>,
    /// Workloads stop sending at `duration`; the run continues until every request they sent
    /// has resolved (bounded by their timeouts).
    pub duration: Nanos,
    /// Length of one time-series window.
    pub window: Nanos,
}

#[derive(Clone, Debug)]
pub struct ServiceSpec {
    pub name: String,
    /// One instance per node, in this order.
    pub nodes: Vec<NodeId>,
    pub workers: u32,
    /// Requests waiting for a worker beyond this are rejected.
    pub queue_capacity: u32,
    pub service_time: Dist,
    /// Downstream calls made, in order, after the local work of each request.
    pub calls: Vec<CallSpec>,
}

#[derive(Clone, Debug)]
pub struct CallSpec {
    pub target: TargetRef,
    pub timeout: Nanos,
    pub retry: RetryPolicy,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TargetRef {
    /// Through a load balancer (index into `balancers`).
    Balancer(usize),
    /// Straight to a service's instances, chosen client-side.
    Service { index: usize, strategy: Strategy },
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
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arrival {
    /// Exponential gaps (a Poisson process).
    Poisson { rate_per_s: f64 },
    /// Evenly spaced arrivals.
    Constant { rate_per_s: f64 },
}

#[derive(Clone, Debug)]
pub struct WorkloadSpec {
    pub name: String,
    /// Where the clients sit (their link class to the target decides latency).
    pub node: NodeId,
    pub arrival: Arrival,
    pub start: Nanos,
    pub stop: Nanos,
    pub call: CallSpec,
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
