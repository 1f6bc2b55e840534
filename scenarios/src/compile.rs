//! Checks a parsed scenario (references, ranges, the call graph) and turns it into a
//! [`WorldSpec`]. Collects every mistake it can find instead of stopping at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use faultline_models::WorldSpec;
use faultline_models::calls::{BreakerPolicy, Jitter, ReadFrom, RetryPolicy, Sharding, Strategy};
use faultline_models::msg::Op;
use faultline_models::saga::{Role, Stock};
use faultline_models::spec::{
    Arrival, BalancerSpec, CacheSpec, CallSpec, DatabaseSpec, Diurnal, FaultSpec, HealthCheck, Load, MixEntry,
    OutlierDetection, Phase, QueueSpec, RateShape, ReplicationSpec, ServiceSpec, StepSpec, TargetRef,
    WorkflowQueueSpec, WorkflowSpec, WorkloadSpec,
};
use faultline_models::workflow::Design;
use faultline_sim::Nanos;
use faultline_sim::keys::{KeyDist, Zipf};
use faultline_sim::net::{FaultKind, Link, Scope};
use faultline_sim::time::{from_ms, from_s};
use faultline_sim::topology::LinkLatency;
use faultline_sim::{Dist, NodeId, RegionId, Topology, ZoneId};
use toml::Spanned;

use crate::error::ScenarioError;
use crate::fault_names;
use crate::schema::*;

/// Limits that keep a scenario within memory (validation errors, not aborts).
pub const MAX_NODES: usize = 100_000;
pub const MAX_WORKERS: u32 = 1_000_000;
/// Regions and zones each (their ids are 16-bit).
pub const MAX_DOMAINS: usize = 65_535;
/// Downstream calls of one service (its stages are counted in 16 bits).
pub const MAX_CALLS: usize = 1_000;
pub const MAX_DURATION_S: f64 = 30.0 * 86_400.0;
/// Steps of one workflow.
pub const MAX_STEPS: usize = 64;
/// Items of an inventory step (two counters each).
pub const MAX_ITEMS: u32 = 10_000_000;
/// Names in a balancer's `failover` list.
pub const MAX_FAILOVER_TIERS: usize = 256;
/// Replicas of one database shard: each replica keeps per-peer state (match and next indices,
/// votes, acknowledgements) for every replica of its shard, so a shard's memory grows with the
/// square of this. Real consensus groups have 3, 5 or 7 members.
pub const MAX_REPLICAS: u32 = 32;
/// Names a call cycle's message shows, half from each end.
const CYCLE_SHOWN: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Entity {
    Region(usize),
    Zone(usize),
    Service(usize),
    Balancer(usize),
    Workload(usize),
    Cache(usize),
    Queue(usize),
    Database(usize),
    Workflow(usize),
}

impl Entity {
    fn what(self) -> &'static str {
        match self {
            Entity::Region(_) => "a region",
            Entity::Zone(_) => "a zone",
            Entity::Service(_) => "a service",
            Entity::Balancer(_) => "a load balancer",
            Entity::Workload(_) => "a workload",
            Entity::Cache(_) => "a cache",
            Entity::Queue(_) => "a queue",
            Entity::Database(_) => "a database",
            Entity::Workflow(_) => "a workflow",
        }
    }
}

pub(crate) struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    pub errors: Vec<ScenarioError>,
    names: BTreeMap<String, Entity>,
    /// Request kind names per service (empty: the service has one unnamed kind).
    kind_names: Vec<Vec<String>>,
}

/// The error for a name holding a control character or a bidirectional override (which
/// reorders how the text around it is shown), if it holds one.
pub(crate) fn control_character(name: &str) -> Option<String> {
    let c = name.chars().find(|c| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))?;
    Some(format!("expected a name without control or text-direction characters, found U+{:04X} in it", u32::from(c)))
}

fn ms(x: NonNeg) -> f64 {
    x.0 * 1e6
}

impl<'a> Checker<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Self {
        Checker { file, text, errors: Vec::new(), names: BTreeMap::new(), kind_names: Vec::new() }
    }

    /// `min_time_left_ms` (0 if absent), which acts on propagated deadlines only.
    fn min_time_left(&mut self, propagate: bool, v: Option<&Spanned<Positive>>) -> Nanos {
        let Some(v) = v else { return 0 };
        if !propagate {
            self.err(v.span(), "`min_time_left_ms` acts on propagated deadlines: set `propagate_deadlines = true` too");
        }
        from_ms(v.get_ref().0)
    }

    /// A duration in ms as integer nanoseconds, where 0 ns would stop simulated time (a timer
    /// due at once, set again when it fires; a call that fails at once, sent again): one that
    /// rounds to 0 ns is an error.
    fn nonzero_ns(&mut self, v: &Spanned<Positive>, field: &str) -> Nanos {
        let ns = from_ms(v.get_ref().0);
        if ns == 0 {
            self.err(
                v.span(),
                format!("`{field}` = {} ms rounds to 0 ns: expected at least 0.000001 ms (1 ns)", short(v.get_ref().0)),
            )
            .help("times are whole nanoseconds; at 0 simulated time would stand still");
        }
        ns.max(1)
    }

    /// Names are printed in tables, CSV files, file names and replay commands: a control
    /// character (a newline, a tab, a direction override) would break them.
    /// Whether it is; an error at the name if not.
    fn printable(&mut self, name: &Spanned<String>) -> bool {
        let Some(e) = control_character(name.get_ref()) else { return true };
        self.errors.push(ScenarioError::new(self.file, self.text, Some(name.span()), e));
        false
    }

    fn err(&mut self, span: Range<usize>, msg: impl Into<String>) -> &mut ScenarioError {
        self.errors.push(ScenarioError::new(self.file, self.text, Some(span), msg));
        self.errors.last_mut().expect("just pushed")
    }

    fn declare(&mut self, name: &Spanned<String>, e: Entity) {
        if name.get_ref().is_empty() {
            self.err(name.span(), "expected a non-empty name");
            return;
        }
        self.printable(name);
        if let Some(prev) = self.names.get(name.get_ref()) {
            let what = prev.what();
            self.err(name.span(), format!("duplicate name `{}`: already used by {what}", name.get_ref()))
                .label("second use")
                .help("names of regions, zones, services, load balancers and workloads share one namespace");
        } else {
            self.names.insert(name.get_ref().clone(), e);
        }
    }

    fn lookup(&mut self, name: &Spanned<String>, expected: &str, ok: impl Fn(Entity) -> bool) -> Option<Entity> {
        match self.names.get(name.get_ref()).copied() {
            Some(e) if ok(e) => Some(e),
            Some(e) => {
                let what = e.what();
                self.err(name.span(), format!("`{}` is {what}, expected {expected}", name.get_ref()));
                None
            }
            None => {
                let known: Vec<&str> = self.names.iter().filter(|(_, e)| ok(**e)).map(|(n, _)| n.as_str()).collect();
                let help = if known.is_empty() {
                    format!("no {expected} is defined")
                } else {
                    format!("known: {}", known.join(", "))
                };
                self.err(name.span(), format!("unknown {expected} `{}`", name.get_ref())).help(help);
                None
            }
        }
    }

    fn dist(&mut self, d: &Spanned<DistCfg>) -> Dist {
        let span = d.span();
        let c = d.get_ref();
        let kind = c.dist.get_ref().as_str();
        // Which fields each family takes: the rest must be absent.
        let (wanted, dist): (&[&str], Option<Dist>) = match kind {
            "constant" => (&["value_ms"], c.value_ms.map(|v| Dist::Constant { value: ms(v) })),
            "uniform" => (
                &["low_ms", "high_ms"],
                match (c.low_ms, c.high_ms) {
                    (Some(l), Some(h)) if h.0 >= l.0 => Some(Dist::Uniform { low: ms(l), high: ms(h) }),
                    (Some(_), Some(_)) => {
                        self.err(span.clone(), "uniform distribution needs `low_ms` ≤ `high_ms`");
                        return Dist::Constant { value: 0.0 };
                    }
                    _ => None,
                },
            ),
            "exponential" => (&["mean_ms"], c.mean_ms.map(|m| Dist::Exponential { mean: ms(m) })),
            "normal" => (
                &["mean_ms", "std_dev_ms"],
                match (c.mean_ms, c.std_dev_ms) {
                    (Some(m), Some(s)) => Some(Dist::Normal { mean: ms(m), std_dev: ms(s) }),
                    _ => None,
                },
            ),
            "lognormal" => (
                &["p50_ms", "p99_ms"],
                match (c.p50_ms, c.p99_ms) {
                    (Some(a), Some(b)) if b.0 >= a.0 => Some(Dist::lognormal_from_p50_p99(a.0 * 1e6, b.0 * 1e6)),
                    (Some(_), Some(_)) => {
                        self.err(span.clone(), "lognormal distribution needs `p50_ms` ≤ `p99_ms`");
                        return Dist::Constant { value: 0.0 };
                    }
                    _ => None,
                },
            ),
            "pareto" => (
                &["scale_ms", "shape"],
                match (c.scale_ms, c.shape) {
                    (Some(s), Some(a)) => Some(Dist::Pareto { scale: s.0 * 1e6, shape: a.0 }),
                    _ => None,
                },
            ),
            "empirical" => match &c.points {
                // Malformed points are reported by `empirical` itself.
                Some(p) => {
                    (&["points"], Some(self.empirical(span.clone(), p).unwrap_or(Dist::Constant { value: 0.0 })))
                }
                None => (&["points"], None),
            },
            other => {
                self.err(c.dist.span(), format!("unknown distribution `{other}`"))
                    .help("expected one of: constant, uniform, exponential, normal, lognormal, pareto, empirical");
                return Dist::Constant { value: 0.0 };
            }
        };
        let present: Vec<&str> = [
            ("value_ms", c.value_ms.is_some()),
            ("low_ms", c.low_ms.is_some()),
            ("high_ms", c.high_ms.is_some()),
            ("mean_ms", c.mean_ms.is_some()),
            ("std_dev_ms", c.std_dev_ms.is_some()),
            ("p50_ms", c.p50_ms.is_some()),
            ("p99_ms", c.p99_ms.is_some()),
            ("scale_ms", c.scale_ms.is_some()),
            ("shape", c.shape.is_some()),
            ("points", c.points.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, p)| p.then_some(n))
        .collect();
        let extra: Vec<&str> = present.iter().copied().filter(|n| !wanted.contains(n)).collect();
        if !extra.is_empty() {
            self.err(span.clone(), format!("{kind} distribution does not take {}", fields(&extra)))
                .help(format!("{kind} takes {}", fields(wanted)));
        }
        match dist {
            Some(d) => d,
            None => {
                self.err(span, format!("{kind} distribution needs {}", fields(wanted)));
                Dist::Constant { value: 0.0 }
            }
        }
    }

    fn empirical(&mut self, span: Range<usize>, p: &[Vec<f64>]) -> Option<Dist> {
        let ok = p.iter().all(|x| x.len() == 2)
            && p.len() >= 2
            && p[0][0] == 0.0
            && p[p.len() - 1][0] == 1.0
            && p.windows(2).all(|w| w[1][0] > w[0][0] && w[1][1] >= w[0][1])
            && p.iter().all(|x| x[1].is_finite() && x[1] >= 0.0);
        if !ok {
            self.err(span, "empirical distribution needs `points` = [[quantile, value_ms], ...]").help(
                "at least two points, quantiles rising strictly from 0 to 1, values non-negative and non-decreasing",
            );
            return None;
        }
        Some(Dist::Empirical { points: p.iter().map(|x| (x[0], x[1] * 1e6)).collect() })
    }

    fn strategy(&mut self, s: Option<&Spanned<String>>) -> Strategy {
        let Some(s) = s else { return Strategy::RoundRobin };
        match s.get_ref().as_str() {
            "round-robin" => Strategy::RoundRobin,
            "random" => Strategy::Random,
            "least-outstanding" => Strategy::LeastOutstanding,
            "power-of-two" => Strategy::PowerOfTwo,
            other => {
                self.err(s.span(), format!("unknown balancing strategy `{other}`"))
                    .help("expected one of: round-robin, random, least-outstanding, power-of-two");
                Strategy::RoundRobin
            }
        }
    }

    fn retry(&mut self, r: Option<&RetryCfg>) -> RetryPolicy {
        let d = RetryPolicy::default();
        let Some(r) = r else { return d };
        if *r.max_attempts.get_ref() == 0 {
            self.err(r.max_attempts.span(), "expected at least 1 attempt (1 = no retries)");
        }
        let jitter = match r.jitter.as_ref().map(|j| (j.get_ref().as_str(), j.span())) {
            None | Some(("full", _)) => Jitter::Full,
            Some(("none", _)) => Jitter::None,
            Some(("equal", _)) => Jitter::Equal,
            Some((other, span)) => {
                self.err(span, format!("unknown jitter `{other}`")).help("expected one of: none, full, equal");
                Jitter::Full
            }
        };
        RetryPolicy {
            max_attempts: (*r.max_attempts.get_ref()).max(1),
            backoff_base: r.backoff_base_ms.map_or(d.backoff_base, |x| from_ms(x.0)),
            backoff_max: r.backoff_max_ms.map_or(d.backoff_max, |x| from_ms(x.0)),
            jitter,
            budget_ratio: r.budget_ratio.map(|x| x.0),
        }
    }

    fn target(&mut self, t: &Spanned<String>, balance: Option<&Spanned<String>>) -> TargetRef {
        let strategy = self.strategy(balance);
        let callable = |e| {
            matches!(
                e,
                Entity::Balancer(_)
                    | Entity::Service(_)
                    | Entity::Cache(_)
                    | Entity::Queue(_)
                    | Entity::Database(_)
                    | Entity::Workflow(_)
            )
        };
        match self.lookup(t, "load balancer, service, cache, queue, database or workflow", callable) {
            Some(Entity::Balancer(b)) => {
                if let Some(bal) = balance {
                    self.err(bal.span(), "`balance` only applies when the target is a service")
                        .help("the load balancer's own `strategy` decides");
                }
                TargetRef::Balancer(b)
            }
            Some(Entity::Service(s)) => TargetRef::Service { index: s, strategy },
            Some(Entity::Cache(c)) => TargetRef::Cache(c),
            Some(Entity::Queue(q)) => TargetRef::Queue(q),
            Some(Entity::Database(d)) => TargetRef::Database(d),
            Some(Entity::Workflow(w)) => TargetRef::Workflow(w),
            _ => TargetRef::Service { index: usize::MAX, strategy },
        }
    }

    /// A group of nodes named by region, zone, component, workflow, instance (`api/0`) or replica.
    fn scope(&mut self, name: &Spanned<String>, spec: &WorldSpec) -> Option<Scope> {
        let n = name.get_ref();
        if let Some(id) = spec.topology.node_id(n)
            && !self.names.contains_key(n)
        {
            return Some(Scope::Node(id));
        }
        match self.lookup(name, "region, zone, component or node", |_| true)? {
            Entity::Region(r) => Some(Scope::Region(RegionId(r as u16))),
            Entity::Zone(z) => Some(Scope::Zone(ZoneId(z as u16))),
            Entity::Service(s) => Some(Scope::Nodes(spec.services[s].nodes.clone())),
            Entity::Balancer(b) => Some(Scope::Node(spec.balancers[b].node)),
            Entity::Workload(w) => Some(Scope::Node(spec.workloads[w].node)),
            Entity::Cache(c) => Some(Scope::Node(spec.caches[c].node)),
            Entity::Queue(q) => Some(Scope::Node(spec.queues[q].node)),
            Entity::Database(d) => Some(Scope::Nodes(spec.databases[d].nodes.iter().flatten().copied().collect())),
            // Its coordinator, like a balancer's or workload's node; steps are `NAME/STEP`.
            Entity::Workflow(w) => Some(Scope::Node(spec.workflows[w].node)),
        }
    }

    fn scopes(
        &mut self,
        names: Option<&Vec<Spanned<String>>>,
        field: &str,
        at: Range<usize>,
        spec: &WorldSpec,
    ) -> Vec<Scope> {
        match names {
            Some(v) if !v.is_empty() => v.iter().filter_map(|n| self.scope(n, spec)).collect(),
            _ => {
                self.err(at, format!("this fault needs `{field}` = [names of regions, zones, services or nodes]"));
                Vec::new()
            }
        }
    }

    fn range_u16(&mut self, v: Option<&Spanned<u16>>, default: u16, lo: u16, hi: u16) -> u16 {
        match v {
            Some(x) if *x.get_ref() < lo || *x.get_ref() > hi => {
                self.err(x.span(), format!("expected between {lo} and {hi}"));
                default
            }
            Some(x) => *x.get_ref(),
            None => default,
        }
    }

    fn choice<'s>(&mut self, v: Option<&'s Spanned<String>>, options: &[&str]) -> &'s str {
        match v {
            None => "",
            Some(x) if options.contains(&x.get_ref().as_str()) => x.get_ref().as_str(),
            Some(x) => {
                self.err(x.span(), format!("unknown value `{}`", x.get_ref()))
                    .help(format!("expected one of: {}", options.join(", ")));
                ""
            }
        }
    }

    fn database(&mut self, d: &DatabaseCfg, topo: &mut Topology) -> DatabaseSpec {
        let zones: Vec<ZoneId> = d
            .zones
            .iter()
            .filter_map(|z| match self.lookup(z, "zone", |e| matches!(e, Entity::Zone(_))) {
                Some(Entity::Zone(z)) => Some(ZoneId(z as u16)),
                _ => None,
            })
            .collect();
        if d.zones.is_empty() {
            self.err(d.name.span(), "a database needs `zones` to place its replicas");
        }
        let shards = d.shards.as_ref().map_or(1, |s| *s.get_ref());
        let replicas = d.replicas.as_ref().map_or(3, |r| *r.get_ref());
        let too_many_replicas = replicas > MAX_REPLICAS;
        if let Some(r) = d.replicas.as_ref().filter(|_| too_many_replicas) {
            self.err(r.span(), format!("expected between 1 and {MAX_REPLICAS} replicas per shard"))
                .help("every replica keeps state for each of its shard's replicas; add shards to add nodes");
        } else if shards == 0 || replicas == 0 || (shards as usize) * (replicas as usize) + topo.nodes.len() > MAX_NODES
        {
            let span = d.shards.as_ref().or(d.replicas.as_ref()).map_or(d.name.span(), |s| s.span());
            self.err(span, format!("expected at least 1 shard and 1 replica, at most {MAX_NODES} nodes in all"));
        }
        let mut nodes = Vec::new();
        if !zones.is_empty()
            && !too_many_replicas
            && (shards as usize) * (replicas as usize) + topo.nodes.len() <= MAX_NODES
        {
            for s in 0..shards as usize {
                nodes.push(
                    (0..replicas as usize)
                        .map(|r| {
                            topo.add_node(zones[(s + r) % zones.len()], &format!("{}/s{s}/r{r}", d.name.get_ref()))
                        })
                        .collect(),
                );
            }
        }
        let sharding = match self.choice(d.sharding.as_ref(), &["hash", "range"]) {
            "range" => match &d.key_space {
                Some(k) if *k.get_ref() > 0 => Sharding::Range { key_space: *k.get_ref() },
                _ => {
                    let span = d.sharding.as_ref().expect("chosen").span();
                    self.err(span, "range sharding needs `key_space` (the number of keys)");
                    Sharding::Hash
                }
            },
            _ => Sharding::Hash,
        };
        let consistency = self.choice(d.consistency.as_ref(), &["strong", "eventual"]);
        if let Some(c) = &d.consistency
            && let Some(other) = d.replication.as_ref().or(d.read_from.as_ref())
        {
            self.err(other.span(), "`consistency` already sets `replication` and `read_from`").help(format!(
                "`consistency = \"{}\"` is the same as {}; give one or the other",
                c.get_ref(),
                match consistency {
                    "eventual" => "`replication = \"async\"` with `read_from = \"nearest\"`",
                    _ => "`replication = \"sync\"` with `read_from = \"leader\"`",
                }
            ));
        }
        let replication_choice = match consistency {
            "strong" => "sync",
            "eventual" => "async",
            _ => self.choice(d.replication.as_ref(), &["sync", "async"]),
        };
        let replication = match replication_choice {
            "async" => ReplicationSpec::Async {
                lag: d.replication_lag.as_ref().map_or(Dist::Constant { value: 0.0 }, |l| self.dist(l)),
            },
            _ => {
                if let Some(l) = &d.replication_lag {
                    self.err(l.span(), "`replication_lag` applies to `replication = \"async\"`");
                }
                ReplicationSpec::Sync
            }
        };
        let read_from_choice = match consistency {
            "strong" => "leader",
            "eventual" => "nearest",
            _ => self.choice(d.read_from.as_ref(), &["leader", "nearest"]),
        };
        let read_from = match read_from_choice {
            "nearest" => ReadFrom::Nearest,
            _ => ReadFrom::Leader,
        };
        let workers = d.workers.as_ref().map_or(16, |w| *w.get_ref());
        if workers == 0 || workers > MAX_WORKERS {
            let span = d.workers.as_ref().map_or(d.name.span(), |w| w.span());
            self.err(span, format!("expected between 1 and {MAX_WORKERS} workers"));
        }
        let election_timeout =
            d.election_timeout_ms.as_ref().map_or(1_000_000_000, |t| self.nonzero_ns(t, "election_timeout_ms"));
        let heartbeat_interval = match (&d.heartbeat_interval_ms, &d.election_timeout_ms) {
            (Some(t), _) => self.nonzero_ns(t, "heartbeat_interval_ms"),
            (None, Some(e)) if election_timeout < 10 => {
                self.err(
                    e.span(),
                    format!(
                        "`election_timeout_ms` = {} ms leaves its default heartbeat (a tenth of it) at 0 ns: \
                         expected at least 0.00001 ms (10 ns), or give `heartbeat_interval_ms`",
                        short(e.get_ref().0)
                    ),
                );
                0 // reported: not also "not shorter than the election timeout"
            }
            (None, _) => election_timeout / 10,
        };
        if heartbeat_interval >= election_timeout {
            self.err(d.name.span(), "`heartbeat_interval_ms` must be shorter than `election_timeout_ms`");
        }
        DatabaseSpec {
            name: d.name.get_ref().clone(),
            nodes,
            sharding,
            replication,
            read_from,
            workers: workers.clamp(1, MAX_WORKERS),
            queue_capacity: d.queue_capacity.unwrap_or(1000),
            queue_timeout: d.queue_timeout_ms.map(|t| from_ms(t.0).max(1)),
            propagate_deadlines: d.propagate_deadlines,
            min_time_left: self.min_time_left(d.propagate_deadlines, d.min_time_left_ms.as_ref()),
            service_time: self.dist(&d.service_time),
            election_timeout,
            heartbeat_interval,
            pre_vote: d.pre_vote.unwrap_or(true),
            check_quorum: d.check_quorum.unwrap_or(true),
            record_history: d.record_history.unwrap_or(false),
            bug_ack_before_commit: d.bug_ack_before_commit.unwrap_or(false),
        }
    }

    fn zone(&mut self, z: &Spanned<String>) -> Option<ZoneId> {
        match self.lookup(z, "zone", |e| matches!(e, Entity::Zone(_))) {
            Some(Entity::Zone(z)) => Some(ZoneId(z as u16)),
            _ => None,
        }
    }

    /// A node in zone `z` named `name`, unless the zone is unknown or there are too many nodes
    /// (both already reported, or reported here).
    fn node(&mut self, z: &Spanned<String>, name: &str, topo: &mut Topology) -> NodeId {
        match self.zone(z) {
            Some(_) if topo.nodes.len() >= MAX_NODES => {
                self.err(z.span(), format!("at most {MAX_NODES} nodes in all"));
                NodeId(0)
            }
            Some(zone) => topo.add_node(zone, name),
            None => NodeId(0),
        }
    }

    fn workflow(&mut self, w: &WorkflowCfg, topo: &mut Topology) -> WorkflowSpec {
        let wname = w.name.get_ref().as_str();
        if w.settle_s.is_some_and(|s| s.0 > MAX_DURATION_S) {
            self.err(w.name.span(), "`settle_s` is at most 30 days (2 592 000 s)");
        }
        let design = match w.design.get_ref().as_str() {
            "sync" => Design::Sync,
            "orchestrated" => Design::Orchestrated,
            "choreographed" => Design::Choreographed,
            other => {
                self.err(w.design.span(), format!("unknown workflow design `{other}`"))
                    .help("expected one of: sync, orchestrated, choreographed");
                Design::Sync
            }
        };
        if w.steps.is_empty() || w.steps.len() > MAX_STEPS {
            self.err(w.name.span(), format!("a workflow needs between 1 and {MAX_STEPS} steps"))
                .help("add [[workflow.step]] tables, in the order the steps run");
        }
        let node = self.node(&w.zone, wname, topo);
        let mut names = BTreeSet::new();
        let mut steps = Vec::new();
        for st in &w.steps {
            let st = st.get_ref();
            let name = st.name.get_ref().as_str();
            let mut fresh = true;
            if name.is_empty() {
                self.err(st.name.span(), "expected a non-empty name");
                fresh = false;
            } else if !self.printable(&st.name) {
                fresh = false;
            } else if name == "queue" {
                self.err(st.name.span(), "`queue` is taken: the workflow's broker node is `WORKFLOW/queue`");
                fresh = false;
            } else if !names.insert(name) {
                self.err(st.name.span(), format!("duplicate step `{name}` in workflow `{wname}`"));
                fresh = false;
            }
            let role = match self.choice(st.role.as_ref(), &["order", "inventory", "payment", "shipping", "other"]) {
                "order" => Role::Order,
                "inventory" => Role::Inventory,
                "payment" => Role::Payment,
                "shipping" => Role::Shipping,
                _ => Role::Other,
            };
            let stock = match (role, &st.stock_per_item, &st.items) {
                (Role::Inventory, Some(per_item), Some(items)) => {
                    let items_n = *items.get_ref();
                    if items_n == 0 || items_n > MAX_ITEMS {
                        self.err(items.span(), format!("expected between 1 and {MAX_ITEMS} items"));
                    }
                    Some(Stock { per_item: *per_item.get_ref(), items: items_n.clamp(1, MAX_ITEMS) })
                }
                (Role::Inventory, _, _) => {
                    let span = st.role.as_ref().map_or(st.name.span(), |r| r.span());
                    self.err(span, "an inventory step needs `stock_per_item` and `items`")
                        .help("the item of a saga is derived from its id; each item has `stock_per_item` units");
                    None
                }
                (_, per_item, items) => {
                    if let Some(x) = per_item.as_ref().or(items.as_ref()) {
                        self.err(x.span(), "stock (`stock_per_item`, `items`) applies to `role = \"inventory\"`");
                    }
                    None
                }
            };
            let workers = st.workers.as_ref().map_or(16, |w| *w.get_ref());
            if workers == 0 || workers > MAX_WORKERS {
                let span = st.workers.as_ref().map_or(st.name.span(), |w| w.span());
                self.err(span, format!("expected between 1 and {MAX_WORKERS} workers"));
            }
            let service_time = self.dist(&st.service_time);
            let node = if fresh { self.node(&st.zone, &format!("{wname}/{name}"), topo) } else { NodeId(0) };
            steps.push(StepSpec {
                name: name.to_owned(),
                role,
                node,
                workers: workers.clamp(1, MAX_WORKERS),
                queue_capacity: st.queue_capacity.unwrap_or(1000),
                queue_timeout: st.queue_timeout_ms.map(|t| from_ms(t.0).max(1)),
                propagate_deadlines: st.propagate_deadlines,
                min_time_left: self.min_time_left(st.propagate_deadlines, st.min_time_left_ms.as_ref()),
                service_time,
                refuse_probability: st.refuse_probability.map_or(0.0, |p| p.0),
                stock,
            });
        }
        let queue = match &w.queue {
            Some(q) => Some(WorkflowQueueSpec {
                node: self.node(&q.zone, &format!("{wname}/queue"), topo),
                partitions: self.range_u16(q.partitions.as_ref(), 16, 1, 4096),
                visibility_timeout: self.nonzero_ns(&q.visibility_timeout_ms, "visibility_timeout_ms"),
                max_attempts: self.at_least_one(q.max_attempts.as_ref(), 20),
                max_in_flight_per_partition: self.at_least_one(q.max_in_flight_per_partition.as_ref(), 1),
                session_timeout: q
                    .session_timeout_ms
                    .as_ref()
                    .map_or(10_000_000_000, |t| self.nonzero_ns(t, "session_timeout_ms")),
            }),
            None => {
                if design == Design::Choreographed {
                    self.err(w.design.span(), "a choreographed workflow needs a `queue` table (where its topics live)")
                        .help("queue = { zone = \"...\", visibility_timeout_ms = 1000 }");
                }
                None
            }
        };
        WorkflowSpec {
            name: wname.to_owned(),
            design,
            node,
            steps,
            call_timeout: self.nonzero_ns(&w.call_timeout_ms, "call_timeout_ms"),
            retry: self.retry(w.retry.as_ref()),
            reply_within: w.reply_within_ms.as_ref().map(|r| self.nonzero_ns(r, "reply_within_ms")),
            propagate_deadlines: w.propagate_deadlines,
            log_write: w.log_write.as_ref().map_or(Dist::Constant { value: 1e6 }, |d| self.dist(d)),
            settle: w.settle_s.map_or(60_000_000_000, |s| from_s(s.0.min(MAX_DURATION_S))),
            queue,
        }
    }

    /// After the end, a run goes on until every request has resolved: up to `worst` (every
    /// attempt timing out, every backoff at its maximum) for a workload's request. That tail is
    /// simulated and gets time-series windows like the rest, so it is held to the same limits
    /// as the scenario itself (a timeout of years would otherwise allocate windows for all of
    /// them).
    fn check_drain(&mut self, span: Range<usize>, worst: Nanos, window: Nanos) {
        let what = if worst > from_s(MAX_DURATION_S) {
            "more than 30 days".to_owned()
        } else if worst / window > 100_000 {
            format!("{} s, more than 100000 time-series windows,", short(worst as f64 / 1e9))
        } else {
            return;
        };
        self.err(span, format!("a request can take {what} to resolve here, and the run waits for it after its end"))
            .label("with every attempt timing out")
            .help(
                "at most 30 days and 100000 windows: lower the timeout or the retries (attempts × timeout_ms \
                 + (attempts − 1) × backoff_max_ms), or make `window_ms` larger",
            );
    }

    fn at_least_one(&mut self, v: Option<&Spanned<u32>>, default: u32) -> u32 {
        match v {
            Some(x) if *x.get_ref() == 0 => {
                self.err(x.span(), "expected at least 1");
                1
            }
            Some(x) => *x.get_ref(),
            None => default,
        }
    }

    /// A balancer's `outlier_detection`, with Envoy's defaults: 5 errors in a row, 30 s base
    /// ejection, at most 300 s, at most 10% of the backends (one always).
    fn outliers(&mut self, o: &OutlierCfg) -> OutlierDetection {
        let base_ejection =
            o.base_ejection_ms.as_ref().map_or(30_000_000_000, |t| self.nonzero_ns(t, "base_ejection_ms"));
        let max_ejection =
            o.max_ejection_ms.as_ref().map_or(300_000_000_000, |t| self.nonzero_ns(t, "max_ejection_ms"));
        if max_ejection < base_ejection
            && let Some(m) = &o.max_ejection_ms
        {
            self.err(m.span(), "expected `max_ejection_ms` at least `base_ejection_ms`")
                .help("an ejection lasts `base_ejection_ms` times the backend's ejections in a row, at most `max_ejection_ms`");
        }
        let max_ejection_percent = match &o.max_ejection_percent {
            Some(p) if !(1..=100).contains(p.get_ref()) => {
                self.err(p.span(), "expected a percentage from 1 to 100").help(
                    "the share of the backends that may be ejected at once (one may always be); \
                     leave out `outlier_detection` to turn it off",
                );
                10
            }
            Some(p) => *p.get_ref(),
            None => 10,
        };
        OutlierDetection {
            consecutive_errors: self.at_least_one(o.consecutive_errors.as_ref(), 5),
            base_ejection,
            max_ejection,
            max_ejection_percent,
        }
    }

    /// A call's `outlier_detection`: only where the caller picks the instances itself.
    fn call_outliers(&mut self, o: Option<&Spanned<OutlierCfg>>, target: &TargetRef) -> Option<OutlierDetection> {
        let o = o?;
        if !matches!(target, TargetRef::Service { .. }) {
            self.err(o.span(), "`outlier_detection` on a call only applies when the target is a service")
                .help("the caller then picks the instances (client-side balancing); for a load balancer, set it on the `[[load_balancer]]`");
            return None;
        }
        Some(self.outliers(o.get_ref()))
    }

    /// A balancer's `failover` names and the tier of each instance of `svc` (both empty without
    /// it). A tier is the first listed region or zone an instance's node is in; instances in none
    /// form a last tier.
    fn failover(&mut self, b: &BalancerCfg, svc: &ServiceSpec, topo: &Topology) -> (Vec<String>, Vec<u16>) {
        let Some(list) = &b.failover else { return (vec![], vec![]) };
        if list.get_ref().is_empty() {
            return (vec![], vec![]); // the same as no list: handy to turn it off in a variant
        }
        if list.get_ref().len() > MAX_FAILOVER_TIERS {
            self.err(list.span(), format!("expected at most {MAX_FAILOVER_TIERS} regions or zones"));
            return (vec![], vec![]);
        }
        if b.health_check.is_none() {
            self.err(list.span(), "`failover` needs a `health_check`").help(
                "without health checks a dead tier is never noticed and traffic never fails over; \
                 add e.g. `health_check = { interval_ms = 1000, timeout_ms = 500 }`",
            );
        }
        // Each listed name as the regions and zones it covers.
        let mut domains: Vec<(Option<RegionId>, Option<ZoneId>)> = Vec::new();
        let mut named = Vec::new();
        for name in list.get_ref() {
            let d = match self.lookup(name, "region or zone", |e| matches!(e, Entity::Region(_) | Entity::Zone(_))) {
                Some(Entity::Region(r)) => (Some(RegionId(r as u16)), None),
                Some(Entity::Zone(z)) => (None, Some(ZoneId(z as u16))),
                _ => continue,
            };
            let covered = |&(r, z): &(Option<RegionId>, Option<ZoneId>)| match d {
                (Some(_), _) => (r, z) == d,
                (_, Some(zone)) => z == Some(zone) || r == Some(topo.zones[zone.0 as usize].region),
                _ => false,
            };
            if let Some(prev) = domains.iter().position(covered) {
                let by: &Spanned<String> = named[prev];
                let msg = if by.get_ref() == name.get_ref() {
                    format!("`{}` is listed twice in `failover`", name.get_ref())
                } else {
                    format!("zone `{}` is in region `{}`, listed before it", name.get_ref(), by.get_ref())
                };
                self.err(name.span(), msg).help("each instance goes to the first tier it is in; list each region or zone once, a zone before its region");
                continue;
            }
            domains.push(d);
            named.push(name);
        }
        let tier_of = |node: NodeId| {
            let zone = topo.nodes[node.0 as usize].zone;
            let region = topo.zones[zone.0 as usize].region;
            domains.iter().position(|&(r, z)| r == Some(region) || z == Some(zone)).unwrap_or(domains.len()) as u16
        };
        let tiers: Vec<u16> = svc.nodes.iter().map(|&n| tier_of(n)).collect();
        for (i, name) in named.iter().enumerate() {
            if !svc.nodes.is_empty() && !tiers.contains(&(i as u16)) {
                self.err(name.span(), format!("service `{}` has no instance in `{}`", svc.name, name.get_ref()))
                    .help("a failover tier needs instances of the balancer's service");
            }
        }
        (named.iter().map(|n| n.get_ref().clone()).collect(), tiers)
    }

    fn breaker(&mut self, b: Option<&BreakerCfg>) -> Option<BreakerPolicy> {
        b.map(|b| BreakerPolicy {
            failures: self.at_least_one(Some(&b.failures), 1),
            open_for: self.nonzero_ns(&b.open_ms, "open_ms"),
        })
    }

    /// Service times by kind, and the kinds' names.
    fn kinds(&mut self, s: &ServiceCfg) -> (Vec<Dist>, Vec<String>) {
        match (&s.service_time, &s.kinds) {
            (Some(d), None) => (vec![self.dist(d)], vec![]),
            (None, Some(ks)) if !ks.get_ref().is_empty() && ks.get_ref().len() <= 255 => {
                let mut names: Vec<String> = Vec::new();
                let mut dists = Vec::new();
                for k in ks.get_ref() {
                    if k.name.get_ref().is_empty() {
                        self.err(k.name.span(), "expected a non-empty name");
                    } else if self.printable(&k.name) && names.contains(k.name.get_ref()) {
                        self.err(k.name.span(), format!("duplicate kind `{}`", k.name.get_ref()));
                    }
                    names.push(k.name.get_ref().clone());
                    dists.push(self.dist(&k.service_time));
                }
                (dists, names)
            }
            (None, Some(ks)) => {
                self.err(ks.span(), "expected between 1 and 255 kinds");
                (vec![Dist::Constant { value: 0.0 }], vec![])
            }
            (Some(d), Some(_)) => {
                self.err(d.span(), "give either `service_time` or `kinds`, not both");
                (vec![Dist::Constant { value: 0.0 }], vec![])
            }
            (None, None) => {
                self.err(s.name.span(), format!("service `{}` needs `service_time` (or `kinds`)", s.name.get_ref()));
                (vec![Dist::Constant { value: 0.0 }], vec![])
            }
        }
    }

    /// The service a call target ends at.
    fn callee(&self, t: &TargetRef, balancers: &[BalancerSpec]) -> Option<usize> {
        match t {
            TargetRef::Balancer(b) => balancers.get(*b).map(|b| b.service).filter(|&s| s != usize::MAX),
            TargetRef::Service { index, .. } => Some(*index).filter(|&s| s != usize::MAX),
            TargetRef::Cache(_) | TargetRef::Queue(_) | TargetRef::Database(_) | TargetRef::Workflow(_) => None,
        }
    }

    /// Index of request kind `name` at service `callee`.
    fn class_of(&mut self, callee: Option<usize>, name: &Spanned<String>) -> u8 {
        let Some(svc) = callee else { return 0 };
        let Some(kinds) = self.kind_names.get(svc) else { return 0 };
        match kinds.iter().position(|k| k == name.get_ref()) {
            Some(i) => i as u8,
            None if kinds.is_empty() => 0,
            None => {
                let help = format!("its kinds: {}", kinds.join(", "));
                self.err(name.span(), format!("unknown request kind `{}` at the target service", name.get_ref()))
                    .help(help);
                0
            }
        }
    }

    fn op(&mut self, op: Option<&Spanned<String>>) -> Op {
        match op.map(|o| (o.get_ref().as_str(), o.span())) {
            None | Some(("read", _)) => Op::Read,
            Some(("write", _)) => Op::Write,
            Some((other, span)) => {
                self.err(span, format!("unknown op `{other}`")).help("expected `read` or `write`");
                Op::Read
            }
        }
    }

    fn keys(&mut self, k: Option<&Spanned<KeysCfg>>) -> KeyDist {
        let Some(ks) = k else { return KeyDist::Uniform { n: 1 } };
        let k = ks.get_ref();
        if k.distribution.as_ref().is_some_and(|d| d.get_ref() == "sequential") {
            if let Some(c) = &k.count {
                self.err(c.span(), "`count` does not apply to sequential keys (each request gets a new key)");
            }
            if let Some(s) = &k.s {
                self.err(s.span(), "`s` only applies to `distribution = \"zipf\"`");
            }
            return KeyDist::Sequential { start: k.start.as_ref().map_or(0, |s| *s.get_ref()) };
        }
        if let Some(s) = &k.start {
            self.err(s.span(), "`start` only applies to `distribution = \"sequential\"`");
        }
        let Some(count) = &k.count else {
            self.err(ks.span(), "`keys` needs `count` (the number of keys)")
                .help("or `distribution = \"sequential\"`: a new key for every request");
            return KeyDist::Uniform { n: 1 };
        };
        let n = *count.get_ref();
        if n == 0 || n > 1 << 40 {
            self.err(count.span(), "expected between 1 and 2^40 keys");
            return KeyDist::Uniform { n: 1 };
        }
        match k.distribution.as_ref().map(|d| (d.get_ref().as_str(), d.span())) {
            None | Some(("uniform", _)) => {
                if let Some(s) = &k.s {
                    self.err(s.span(), "`s` only applies to `distribution = \"zipf\"`");
                }
                KeyDist::Uniform { n }
            }
            Some(("zipf", span)) => match &k.s {
                Some(s) if s.get_ref().0 <= 20.0 => KeyDist::Zipf(Zipf::new(n, s.get_ref().0)),
                Some(s) => {
                    self.err(s.span(), "expected a Zipf exponent `s` up to 20");
                    KeyDist::Uniform { n }
                }
                None => {
                    self.err(span, "a zipf key distribution needs its exponent `s` (e.g. 1.0)");
                    KeyDist::Uniform { n }
                }
            },
            Some((other, span)) => {
                self.err(span, format!("unknown key distribution `{other}`"))
                    .help("expected `uniform`, `zipf` or `sequential`");
                KeyDist::Uniform { n }
            }
        }
    }

    fn load(&mut self, w: &WorkloadCfg, duration: Nanos) -> Load {
        match (&w.arrival, &w.users) {
            (Some(a), None) => {
                if let Some(t) = &w.think_time {
                    self.err(t.span(), "`think_time` applies to closed-loop workloads (`users`)");
                }
                let rate = a.rate_per_s.0;
                let arrival = match a.process.get_ref().as_str() {
                    "poisson" => Arrival::Poisson { rate_per_s: rate },
                    "constant" => Arrival::Constant { rate_per_s: rate },
                    other => {
                        self.err(a.process.span(), format!("unknown arrival process `{other}`"))
                            .help("expected one of: poisson, constant");
                        Arrival::Poisson { rate_per_s: rate }
                    }
                };
                let mut phases = Vec::new();
                for p in &w.phases {
                    if p.end_s.get_ref().0 <= p.start_s.0 {
                        self.err(p.end_s.span(), "a phase must end after it starts");
                        continue;
                    }
                    phases.push(Phase {
                        start: from_s(p.start_s.0),
                        end: from_s(p.end_s.get_ref().0).min(duration),
                        multiplier: p.multiplier.0,
                    });
                }
                let diurnal = w
                    .diurnal
                    .as_ref()
                    .map(|d| Diurnal { period: from_s(d.period_s.0).max(1), amplitude: d.amplitude.0 });
                Load::Open { arrival, shape: RateShape { phases, diurnal } }
            }
            (None, Some(u)) => {
                if !w.phases.is_empty() || w.diurnal.is_some() {
                    self.err(u.span(), "`phases` and `diurnal` apply to open-loop workloads (`arrival`)");
                }
                let users = match *u.get_ref() {
                    0 => {
                        self.err(u.span(), "expected at least 1 user");
                        1
                    }
                    n if n > 10_000_000 => {
                        self.err(u.span(), "expected at most 10^7 users");
                        1
                    }
                    n => n,
                };
                let think = match &w.think_time {
                    Some(t) => self.dist(t),
                    None => Dist::Constant { value: 0.0 },
                };
                if let Some(b) = &w.breaker
                    && think == (Dist::Constant { value: 0.0 })
                {
                    // An open breaker fails a call at once, and a user with no pause sends the
                    // next at the same instant: simulated time would never move on.
                    self.err(
                        b.failures.span(),
                        "a closed-loop workload with a `breaker` needs a `think_time` that is not always 0",
                    );
                }
                Load::Closed { users, think }
            }
            (Some(_), Some(u)) => {
                self.err(u.span(), "give either `arrival` (open loop) or `users` (closed loop), not both");
                Load::Closed { users: 1, think: Dist::Constant { value: 0.0 } }
            }
            (None, None) => {
                self.err(
                    w.name.span(),
                    format!("workload `{}` needs `arrival` (open loop) or `users` (closed loop)", w.name.get_ref()),
                );
                Load::Closed { users: 1, think: Dist::Constant { value: 0.0 } }
            }
        }
    }

    pub fn compile(&mut self, f: &ScenarioFile) -> WorldSpec {
        let h = &f.scenario;
        if h.name.get_ref().trim().is_empty() {
            // Reports, sweep records and replay commands name the scenario by it.
            self.err(h.name.span(), "expected a non-empty scenario name");
        }
        self.printable(&h.name);
        for fc in &f.faults {
            if let Some(name) = &fc.get_ref().name {
                self.printable(name);
            }
        }
        let duration_s = h.duration_s.get_ref().0;
        if duration_s > MAX_DURATION_S {
            self.err(h.duration_s.span(), format!("a run can simulate at most {MAX_DURATION_S} s (30 days)"));
        }
        let duration = from_s(duration_s.min(MAX_DURATION_S));
        let window = h.window_ms.as_ref().map_or(1_000_000_000, |w| from_ms(w.get_ref().0).max(1_000));
        if duration / window > 100_000 {
            self.err(h.window_ms.as_ref().map_or(h.duration_s.span(), |w| w.span()), "too many time-series windows")
                .help("at most 100000 windows: make `window_ms` larger");
        }

        // Topology.
        let mut latency = LinkLatency::default();
        let l = &f.topology.latency;
        for (slot, cfg) in [
            (&mut latency.same_node, &l.same_node),
            (&mut latency.same_zone, &l.same_zone),
            (&mut latency.cross_zone, &l.cross_zone),
            (&mut latency.cross_region, &l.cross_region),
        ] {
            if let Some(c) = cfg {
                *slot = self.dist(c);
            }
        }
        let mut topo = Topology::new(latency);
        if f.regions.is_empty() {
            self.errors.push(
                ScenarioError::new(self.file, self.text, Some(0..0), "a scenario needs at least one [[region]]")
                    .with_help("[[region]]\nname = \"us-east\"\nzones = [\"us-east-a\"]"),
            );
        }
        let zones: usize = f.regions.iter().map(|r| r.zones.len()).sum();
        if f.regions.len() > MAX_DOMAINS || zones > MAX_DOMAINS {
            self.err(f.regions[0].name.span(), format!("at most {MAX_DOMAINS} regions and {MAX_DOMAINS} zones"));
            return WorldSpec::empty(topo, duration, window);
        }
        for r in &f.regions {
            let id = topo.add_region(r.name.get_ref());
            self.declare(&r.name, Entity::Region(id.0 as usize));
        }
        for r in &f.regions {
            let rid = topo.region_id(r.name.get_ref()).expect("declared");
            if r.zones.is_empty() {
                self.err(r.name.span(), format!("region `{}` needs at least one zone", r.name.get_ref()));
            }
            for z in &r.zones {
                let id = topo.add_zone(rid, z.get_ref());
                self.declare(z, Entity::Zone(id.0 as usize));
            }
        }
        for p in &l.between {
            let d = self.dist(&p.latency);
            let rs = p.regions.get_ref();
            if rs.len() != 2 {
                self.err(p.regions.span(), format!("expected two region names, found {}", rs.len()));
                continue;
            }
            let a = self.lookup(&rs[0], "region", |e| matches!(e, Entity::Region(_)));
            let b = self.lookup(&rs[1], "region", |e| matches!(e, Entity::Region(_)));
            if let (Some(Entity::Region(a)), Some(Entity::Region(b))) = (a, b) {
                topo.set_region_pair_latency(RegionId(a as u16), RegionId(b as u16), d);
            }
        }

        // Declare component names first so references can point forwards.
        for (i, s) in f.services.iter().enumerate() {
            self.declare(&s.name, Entity::Service(i));
        }
        for (i, b) in f.balancers.iter().enumerate() {
            self.declare(&b.name, Entity::Balancer(i));
        }
        for (i, w) in f.workloads.iter().enumerate() {
            self.declare(&w.name, Entity::Workload(i));
        }
        for (i, c) in f.caches.iter().enumerate() {
            self.declare(&c.name, Entity::Cache(i));
        }
        for (i, q) in f.queues.iter().enumerate() {
            self.declare(&q.name, Entity::Queue(i));
        }
        for (i, d) in f.databases.iter().enumerate() {
            self.declare(&d.name, Entity::Database(i));
        }
        for (i, w) in f.workflows.iter().enumerate() {
            self.declare(&w.name, Entity::Workflow(i));
        }

        let zone_of = |c: &mut Self, z: &Spanned<String>| match c.lookup(z, "zone", |e| matches!(e, Entity::Zone(_))) {
            Some(Entity::Zone(z)) => Some(ZoneId(z as u16)),
            _ => None,
        };

        let mut services = Vec::new();
        for s in &f.services {
            let zones: Vec<ZoneId> = match (&s.region, &s.zones) {
                (Some(r), None) => match self.lookup(r, "region", |e| matches!(e, Entity::Region(_))) {
                    Some(Entity::Region(r)) => (0..topo.zones.len())
                        .filter(|&z| topo.zones[z].region == RegionId(r as u16))
                        .map(|z| ZoneId(z as u16))
                        .collect(),
                    _ => vec![],
                },
                (None, Some(zs)) if !zs.is_empty() => zs.iter().filter_map(|z| zone_of(self, z)).collect(),
                (Some(r), Some(_)) => {
                    self.err(r.span(), "give either `region` or `zones`, not both");
                    vec![]
                }
                _ => {
                    self.err(
                        s.name.span(),
                        format!("service `{}` needs `region` or `zones` to place its instances", s.name.get_ref()),
                    );
                    vec![]
                }
            };
            let instances = s.instances.as_ref().map_or(1, |i| *i.get_ref());
            if instances == 0 || instances as usize + topo.nodes.len() > MAX_NODES {
                let span = s.instances.as_ref().map_or(s.name.span(), |i| i.span());
                self.err(span, format!("expected between 1 and {MAX_NODES} instances in all"));
            }
            let workers = s.workers.as_ref().map_or(8, |w| *w.get_ref());
            if workers == 0 || workers > MAX_WORKERS {
                let span = s.workers.as_ref().map_or(s.name.span(), |w| w.span());
                self.err(span, format!("expected between 1 and {MAX_WORKERS} workers"));
            }
            let mut nodes = Vec::new();
            if !zones.is_empty() && instances as usize + topo.nodes.len() <= MAX_NODES {
                for i in 0..instances as usize {
                    nodes.push(topo.add_node(zones[i % zones.len()], &format!("{}/{}", s.name.get_ref(), i)));
                }
            }
            let (service_time, kinds) = self.kinds(s);
            self.kind_names.push(kinds.clone());
            let rate_limit = match (s.rate_limit_per_s, s.rate_limit_burst.as_ref()) {
                (Some(r), b) => {
                    if let Some(b) = b.filter(|b| b.get_ref().0 < 1.0) {
                        // A bucket that never holds a whole token turns every request away.
                        self.err(
                            b.span(),
                            format!("expected a `rate_limit_burst` of at least 1, found {}", short(b.get_ref().0)),
                        )
                        .help("a request takes one token; the bucket starts full");
                    }
                    Some((r.0, b.map_or(r.0.max(1.0), |b| b.get_ref().0)))
                }
                (None, Some(_)) => {
                    self.err(s.name.span(), "`rate_limit_burst` needs `rate_limit_per_s`");
                    None
                }
                (None, None) => None,
            };
            services.push(ServiceSpec {
                name: s.name.get_ref().clone(),
                nodes,
                workers: workers.clamp(1, MAX_WORKERS),
                queue_capacity: s.queue_capacity.unwrap_or(1000),
                queue_timeout: s.queue_timeout_ms.map(|t| from_ms(t.0).max(1)),
                propagate_deadlines: s.propagate_deadlines,
                min_time_left: self.min_time_left(s.propagate_deadlines, s.min_time_left_ms.as_ref()),
                service_time,
                kinds,
                rate_limit,
                calls: vec![],
            });
        }
        let mut balancers = Vec::new();
        for b in &f.balancers {
            let zone = zone_of(self, &b.zone);
            let service = match self.lookup(&b.service, "service", |e| matches!(e, Entity::Service(_))) {
                Some(Entity::Service(s)) => s,
                _ => usize::MAX,
            };
            let node = zone.map_or(NodeId(0), |z| topo.add_node(z, b.name.get_ref()));
            let (failover, tiers) = match services.get(service) {
                Some(svc) => self.failover(b, svc, &topo),
                None => (vec![], vec![]),
            };
            balancers.push(BalancerSpec {
                name: b.name.get_ref().clone(),
                node,
                service,
                strategy: self.strategy(b.strategy.as_ref()),
                timeout: b.timeout_ms.as_ref().map_or(30_000_000_000, |t| self.nonzero_ns(t, "timeout_ms")),
                health: b.health_check.as_ref().map(|h| HealthCheck {
                    interval: self.nonzero_ns(&h.interval_ms, "interval_ms"),
                    timeout: self.nonzero_ns(&h.timeout_ms, "timeout_ms"),
                    unhealthy: self.at_least_one(h.unhealthy.as_ref(), 2),
                    healthy: self.at_least_one(h.healthy.as_ref(), 2),
                }),
                outliers: b.outlier_detection.as_ref().map(|o| self.outliers(o)),
                failover,
                tiers,
            });
        }
        let databases = f.databases.iter().map(|d| self.database(d, &mut topo)).collect::<Vec<_>>();
        let mut queues = Vec::new();
        for q in &f.queues {
            let node = zone_of(self, &q.zone).map_or(NodeId(0), |z| topo.add_node(z, q.name.get_ref()));
            if q.consumer_groups.is_empty() {
                self.err(q.name.span(), "a queue needs `consumer_groups`: the services that consume it")
                    .help("with none, what is published is never delivered");
            }
            let mut groups: Vec<usize> = Vec::new();
            for g in &q.consumer_groups {
                if let Some(Entity::Service(s)) = self.lookup(g, "service", |e| matches!(e, Entity::Service(_))) {
                    if groups.contains(&s) {
                        self.err(g.span(), format!("`{}` is listed twice in `consumer_groups`", g.get_ref()))
                            .help("a service is one consumer group of its instances");
                    } else {
                        groups.push(s);
                    }
                }
            }
            queues.push(QueueSpec {
                name: q.name.get_ref().clone(),
                node,
                partitions: self.range_u16(q.partitions.as_ref(), 1, 1, 4096),
                visibility_timeout: self.nonzero_ns(&q.visibility_timeout_ms, "visibility_timeout_ms"),
                max_attempts: self.at_least_one(q.max_attempts.as_ref(), 5),
                max_in_flight_per_partition: self.at_least_one(q.max_in_flight_per_partition.as_ref(), 1),
                session_timeout: q
                    .session_timeout_ms
                    .as_ref()
                    .map_or(10_000_000_000, |t| self.nonzero_ns(t, "session_timeout_ms")),
                consumer_groups: groups,
            });
        }
        let mut caches = Vec::new();
        for c in &f.caches {
            let node = zone_of(self, &c.zone).map_or(NodeId(0), |z| topo.add_node(z, c.name.get_ref()));
            let capacity = *c.capacity.get_ref();
            if capacity == 0 || capacity > 100_000_000 {
                self.err(c.capacity.span(), "expected a capacity between 1 and 10^8 entries");
            }
            let write_through = match c.write_policy.as_ref().map(|w| (w.get_ref().as_str(), w.span())) {
                None | Some(("invalidate", _)) => false,
                Some(("write-through", _)) => true,
                Some((other, span)) => {
                    self.err(span, format!("unknown write policy `{other}`"))
                        .help("expected `invalidate` (cache-aside) or `write-through`");
                    false
                }
            };
            let b = &c.backend;
            let target = self.target(&b.target, b.balance.as_ref());
            let timeout = self.nonzero_ns(&b.timeout_ms, "timeout_ms");
            let mut backend = CallSpec::new(target, timeout, self.retry(b.retry.as_ref()));
            backend.breaker = self.breaker(b.breaker.as_ref());
            backend.outliers = self.call_outliers(b.outlier_detection.as_ref(), &backend.target);
            caches.push(CacheSpec {
                name: c.name.get_ref().clone(),
                node,
                capacity: capacity.clamp(1, 100_000_000),
                ttl: c.ttl_ms.map(|t| from_ms(t.0).max(1)),
                write_through,
                coalesce: c.coalesce.unwrap_or(false),
                propagate_deadlines: c.propagate_deadlines,
                min_time_left: self.min_time_left(c.propagate_deadlines, c.min_time_left_ms.as_ref()),
                backend,
            });
        }
        let workflows = f.workflows.iter().map(|w| self.workflow(w, &mut topo)).collect();
        let mut workloads = Vec::new();
        for w in &f.workloads {
            let zone = zone_of(self, &w.zone);
            let node = zone.map_or(NodeId(0), |z| topo.add_node(z, w.name.get_ref()));
            let target = self.target(&w.target, w.balance.as_ref());
            let load = self.load(w, duration);
            let start = w.start_s.map_or(0, |s| from_s(s.0));
            if start >= duration {
                self.err(
                    w.name.span(),
                    format!("workload `{}` starts at or after the end of the scenario", w.name.get_ref()),
                );
            }
            let stop = match &w.stop_s {
                Some(s) if s.get_ref().0 > duration_s => {
                    let end = short(duration_s);
                    self.err(s.span(), format!("`stop_s` is after the end of the scenario ({end} s)"));
                    duration
                }
                Some(s) => from_s(s.get_ref().0),
                None => duration,
            };
            if let Some(s) = &w.stop_s
                && stop <= start
                && start < duration
            {
                self.err(
                    s.span(),
                    format!(
                        "`stop_s` ({}) is not after `start_s`: the workload would send nothing",
                        short(s.get_ref().0)
                    ),
                );
            }
            if let Load::Open { arrival: Arrival::Poisson { rate_per_s } | Arrival::Constant { rate_per_s }, shape } =
                &load
                && rate_per_s * shape.peak_factor() * (stop.saturating_sub(start) as f64 / 1e9) > 1e9
            {
                self.err(w.name.span(), "this workload would send more than 10^9 requests")
                    .help("lower `rate_per_s` or the duration");
            }
            let timeout = self.nonzero_ns(&w.timeout_ms, "timeout_ms");
            let mut call = CallSpec::new(target.clone(), timeout, self.retry(w.retry.as_ref()));
            call.hedge_after = w.hedge_after_ms.as_ref().map(|h| self.nonzero_ns(h, "hedge_after_ms"));
            call.breaker = self.breaker(w.breaker.as_ref());
            call.outliers = self.call_outliers(w.outlier_detection.as_ref(), &call.target);
            self.check_drain(w.timeout_ms.span(), call.worst_case(), window);
            let callee = self.callee(&target, &balancers);
            let mut mix: Vec<MixEntry> = w
                .mix
                .iter()
                .map(|m| MixEntry {
                    weight: m.weight.0,
                    class: self.class_of(callee, &m.kind),
                    op: self.op(m.op.as_ref()),
                })
                .collect();
            // A request draws `u × total weight`: weights whose sum overflows (two of 1e308)
            // would draw infinity and always pick the last entry. Only then are they scaled
            // (by the largest, same proportions), so ordinary weights draw exactly as written.
            if !mix.iter().map(|m| m.weight).sum::<f64>().is_finite() {
                let max = mix.iter().map(|m| m.weight).fold(0.0, f64::max);
                mix.iter_mut().for_each(|m| m.weight /= max);
            }
            workloads.push(WorkloadSpec {
                name: w.name.get_ref().clone(),
                node,
                load,
                start,
                stop,
                call,
                keys: self.keys(w.keys.as_ref()),
                mix,
            });
        }
        // Downstream calls, now that every balancer exists.
        for (i, s) in f.services.iter().enumerate() {
            if s.calls.len() > MAX_CALLS {
                self.err(s.name.span(), format!("a service makes at most {MAX_CALLS} downstream calls"));
                continue;
            }
            let calls = s
                .calls
                .iter()
                .map(|c| {
                    let target = self.target(&c.target, c.balance.as_ref());
                    let callee = self.callee(&target, &balancers);
                    let timeout = self.nonzero_ns(&c.timeout_ms, "timeout_ms");
                    let mut spec = CallSpec::new(target, timeout, self.retry(c.retry.as_ref()));
                    spec.class = c.kind.as_ref().map_or(0, |k| self.class_of(callee, k));
                    spec.fanout = match &c.fanout {
                        Some(f) if *f.get_ref() == 0 || *f.get_ref() > 10_000 => {
                            self.err(f.span(), "expected a fan-out between 1 and 10000");
                            1
                        }
                        Some(f) => *f.get_ref(),
                        None => 1,
                    };
                    spec.hedge_after = c.hedge_after_ms.as_ref().map(|h| self.nonzero_ns(h, "hedge_after_ms"));
                    spec.breaker = self.breaker(c.breaker.as_ref());
                    spec.optional = c.optional.unwrap_or(false);
                    spec.outliers = self.call_outliers(c.outlier_detection.as_ref(), &spec.target);
                    spec
                })
                .collect();
            services[i].calls = calls;
        }
        self.check_call_graph(f, &services, &balancers, &caches);

        let mut spec = WorldSpec {
            topology: topo,
            services,
            balancers,
            workloads,
            caches,
            queues,
            databases,
            workflows,
            faults: vec![],
            duration,
            window,
        };
        fn strs(v: &Option<Vec<Spanned<String>>>) -> Vec<&str> {
            v.iter().flatten().map(|s| s.get_ref().as_str()).collect()
        }
        let names = fault_names::names(f.faults.iter().map(|fc| {
            let c = fc.get_ref();
            let on = [&c.region, &c.zone, &c.node].into_iter().flatten().map(|s| s.get_ref().as_str()).collect();
            let subject = fault_names::Subject {
                kind: c.kind.get_ref(),
                on: [on, strs(&c.targets)].concat(),
                from: strs(&c.from),
                to: strs(&c.to),
                one_way: c.one_way.unwrap_or(false),
            };
            (c.name.as_ref().map(|n| n.get_ref().as_str()), subject)
        }));
        spec.faults =
            f.faults.iter().zip(names).filter_map(|(fc, name)| self.fault(name, fc, &spec, duration_s)).collect();
        spec
    }

    /// Synchronous calls (through balancers and caches) must not loop back; publishing to a
    /// queue is asynchronous and a database calls nobody. The graph's nodes are the services,
    /// then the caches (a cache calls its backend on a miss, so it is on the path).
    fn check_call_graph(
        &mut self,
        f: &ScenarioFile,
        services: &[ServiceSpec],
        balancers: &[BalancerSpec],
        caches: &[CacheSpec],
    ) {
        let n = services.len();
        // The node a call to `t` goes to next: a service (directly or through its balancer) or
        // a cache.
        let node = |t: &TargetRef| match t {
            TargetRef::Balancer(b) => balancers.get(*b).map(|b| b.service).filter(|&s| s < n),
            TargetRef::Service { index, .. } => Some(*index).filter(|&s| s < n),
            TargetRef::Cache(c) => Some(n + *c).filter(|_| *c < caches.len()),
            _ => None,
        };
        // Depth-first search for a cycle; states: 0 new, 1 on stack, 2 done.
        fn visit(s: usize, edges: &[Vec<usize>], state: &mut [u8], stack: &mut Vec<usize>) -> Option<Vec<usize>> {
            state[s] = 1;
            stack.push(s);
            for &t in &edges[s] {
                if state[t] == 1 {
                    let from = stack.iter().position(|&x| x == t).expect("on stack");
                    let mut cyc = stack[from..].to_vec();
                    cyc.push(t);
                    return Some(cyc);
                }
                if state[t] == 0
                    && let Some(c) = visit(t, edges, state, stack)
                {
                    return Some(c);
                }
            }
            stack.pop();
            state[s] = 2;
            None
        }
        let edges: Vec<Vec<usize>> = services
            .iter()
            .map(|s| s.calls.iter().filter_map(|c| node(&c.target)).collect())
            .chain(caches.iter().map(|c| node(&c.backend.target).into_iter().collect()))
            .collect();
        let mut state = vec![0u8; edges.len()];
        for s in 0..edges.len() {
            if state[s] == 0
                && let Some(cyc) = visit(s, &edges, &mut state, &mut Vec::new())
            {
                let name = |i: usize| if i < n { services[i].name.as_str() } else { caches[i - n].name.as_str() };
                let mut names: Vec<String> = cyc.iter().map(|&i| name(i).to_owned()).collect();
                // A long cycle is named by its ends: a generated file can have thousands.
                if names.len() > CYCLE_SHOWN {
                    let hidden = names.len() - CYCLE_SHOWN;
                    names.splice(CYCLE_SHOWN / 2..names.len() - CYCLE_SHOWN / 2, [format!("… {hidden} more …")]);
                }
                let at = if cyc[0] < n { f.services[cyc[0]].name.span() } else { f.caches[cyc[0] - n].name.span() };
                self.err(at, format!("calls form a cycle: {}", names.join(" → ")))
                    .help("a request would call itself forever (a cache calls its backend on a miss)");
                return;
            }
        }
    }

    fn fault(&mut self, name: String, fc: &Spanned<FaultCfg>, spec: &WorldSpec, duration_s: f64) -> Option<FaultSpec> {
        let at = fc.span();
        let c = fc.get_ref();
        let start_s = c.start_s.0;
        if start_s > duration_s {
            self.err(
                at.clone(),
                format!(
                    "fault starts at {} s, after the end of the scenario ({} s)",
                    short(start_s),
                    short(duration_s)
                ),
            );
        }
        let end = match (&c.end_s, c.duration_s) {
            (Some(e), None) => {
                if e.get_ref().0 < start_s {
                    let (end, start) = (short(e.get_ref().0), short(start_s));
                    self.err(e.span(), format!("`end_s` ({end}) is before `start_s` ({start})"));
                }
                Some(from_s(e.get_ref().0.max(start_s)))
            }
            (None, Some(d)) => Some(from_s(start_s + d.0)),
            (Some(e), Some(_)) => {
                self.err(e.span(), "give either `end_s` or `duration_s`, not both");
                None
            }
            (None, None) => None,
        };
        let kind_s = c.kind.get_ref().as_str();
        let allowed: &[&str] = match kind_s {
            "region-outage" => &["region"],
            "zone-outage" => &["zone"],
            "node-crash" => &["node"],
            "partition" => &["from", "to", "one_way"],
            "latency" => &["from", "to", "one_way", "added_ms", "jitter_ms"],
            "loss" => &["from", "to", "one_way", "probability"],
            "slow" => &["targets", "factor"],
            "errors" => &["targets", "probability"],
            "cache-flush" => &["targets"],
            _ => &[],
        };
        let present = [
            ("region", c.region.is_some()),
            ("zone", c.zone.is_some()),
            ("node", c.node.is_some()),
            ("targets", c.targets.is_some()),
            ("from", c.from.is_some()),
            ("to", c.to.is_some()),
            ("one_way", c.one_way.is_some()),
            ("added_ms", c.added_ms.is_some()),
            ("jitter_ms", c.jitter_ms.is_some()),
            ("probability", c.probability.is_some()),
            ("factor", c.factor.is_some()),
        ];
        let extra: Vec<&str> = present.iter().filter(|(n, p)| *p && !allowed.contains(n)).map(|(n, _)| *n).collect();
        if !extra.is_empty() && !allowed.is_empty() {
            self.err(at.clone(), format!("a `{kind_s}` fault does not take {}", fields(&extra)))
                .help(format!("it takes {}", fields(allowed)));
        }
        let link = |ck: &mut Self| {
            let a = ck.scopes(c.from.as_ref(), "from", at.clone(), spec);
            let b = ck.scopes(c.to.as_ref(), "to", at.clone(), spec);
            Link { a, b, one_way: c.one_way.unwrap_or(false) }
        };
        let need = |ck: &mut Self, what: &str| {
            ck.err(at.clone(), format!("a `{kind_s}` fault needs `{what}`"));
        };
        let kind = match kind_s {
            "region-outage" => match &c.region {
                Some(r) => match self.lookup(r, "region", |e| matches!(e, Entity::Region(_))) {
                    Some(Entity::Region(r)) => FaultKind::Outage { scope: Scope::Region(RegionId(r as u16)) },
                    _ => return None,
                },
                None => {
                    need(self, "region");
                    return None;
                }
            },
            "zone-outage" => match &c.zone {
                Some(z) => match self.lookup(z, "zone", |e| matches!(e, Entity::Zone(_))) {
                    Some(Entity::Zone(z)) => FaultKind::Outage { scope: Scope::Zone(ZoneId(z as u16)) },
                    _ => return None,
                },
                None => {
                    need(self, "zone");
                    return None;
                }
            },
            "node-crash" => match &c.node {
                Some(n) => FaultKind::Outage { scope: self.scope(n, spec)? },
                None => {
                    need(self, "node");
                    return None;
                }
            },
            "partition" => FaultKind::Partition { link: link(self) },
            "latency" => {
                let Some(added) = c.added_ms else {
                    need(self, "added_ms");
                    return None;
                };
                let jitter = c.jitter_ms.map_or(0.0, ms);
                let added = if jitter > 0.0 {
                    Dist::Uniform { low: ms(added), high: ms(added) + jitter }
                } else {
                    Dist::Constant { value: ms(added) }
                };
                FaultKind::Latency { link: link(self), added }
            }
            "loss" => {
                let Some(p) = c.probability else {
                    need(self, "probability");
                    return None;
                };
                FaultKind::Loss { link: link(self), probability: p.0 }
            }
            "slow" => {
                let Some(factor) = c.factor else {
                    need(self, "factor");
                    return None;
                };
                let s = self.scopes(c.targets.as_ref(), "targets", at.clone(), spec);
                FaultKind::Slow { scope: merge_scopes(s, spec), factor: factor.0 }
            }
            "errors" => {
                let Some(p) = c.probability else {
                    need(self, "probability");
                    return None;
                };
                let s = self.scopes(c.targets.as_ref(), "targets", at.clone(), spec);
                FaultKind::Errors { scope: merge_scopes(s, spec), probability: p.0 }
            }
            "cache-flush" => {
                let s = self.scopes(c.targets.as_ref(), "targets", at.clone(), spec);
                let scope = merge_scopes(s, spec);
                if !spec.caches.iter().any(|cache| scope.contains(&spec.topology, cache.node)) {
                    self.err(at.clone(), "a `cache-flush` fault needs a cache among its `targets`")
                        .help("it empties the caches on the nodes it names; these have none");
                }
                FaultKind::Flush { scope }
            }
            other => {
                self.err(c.kind.span(), format!("unknown fault kind `{other}`")).help(
                    "expected one of: region-outage, zone-outage, node-crash, partition, latency, loss, slow, errors, \
                     cache-flush",
                );
                return None;
            }
        };
        Some(FaultSpec { name, kind, start: from_s(start_s), end })
    }
}

/// Several scopes as one (node-scoped faults take a single scope).
fn merge_scopes(mut s: Vec<Scope>, spec: &WorldSpec) -> Scope {
    if s.len() == 1 {
        return s.pop().expect("one");
    }
    let nodes = (0..spec.topology.nodes.len() as u32)
        .map(NodeId)
        .filter(|&n| s.iter().any(|sc| sc.contains(&spec.topology, n)))
        .collect();
    Scope::Nodes(nodes)
}

/// A number for a message: as written when that is short (`0.5`, `2592000`), else in
/// scientific notation (`1e-300`, not a 0 followed by 299 more digits).
pub(crate) fn short(x: f64) -> String {
    let plain = format!("{x}");
    if plain.len() <= 16 { plain } else { format!("{x:e}") }
}

fn fields(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.len() {
        0 => "no fields".to_owned(),
        1 => quoted[0].clone(),
        n => format!("{} and {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use crate::{Scenario, Source};

    fn balancer(failover: &str) -> faultline_models::spec::BalancerSpec {
        let text = format!(
            r#"
[scenario]
name = "t"
duration_s = 1

[[region]]
name = "us"
zones = ["us-a", "us-b"]

[[region]]
name = "eu"
zones = ["eu-a"]

[[service]]
name = "api"
zones = ["us-a", "us-b", "eu-a"]
instances = 6
service_time = {{ dist = "constant", value_ms = 1 }}

[[load_balancer]]
name = "lb"
zone = "us-a"
service = "api"
health_check = {{ interval_ms = 1000, timeout_ms = 300 }}
{failover}
"#
        );
        let sc = Scenario::parse(&Source { file: "t.toml".into(), text }).unwrap();
        sc.variant(None).unwrap().spec.balancers[0].clone()
    }

    fn mix_weights(weights: &str) -> Vec<f64> {
        let text = format!(
            "[scenario]\nname = \"t\"\nduration_s = 1\n[[region]]\nname = \"r\"\nzones = [\"z\"]\n\
             [[service]]\nname = \"api\"\nregion = \"r\"\nservice_time = {{ dist = \"constant\", value_ms = 1 }}\n\
             [[workload]]\nname = \"w\"\nzone = \"z\"\ntarget = \"api\"\ntimeout_ms = 100\n\
             arrival = {{ process = \"poisson\", rate_per_s = 10 }}\nmix = {weights}\n"
        );
        let sc = Scenario::parse(&Source { file: "t.toml".into(), text }).unwrap();
        sc.variant(None).unwrap().spec.workloads[0].mix.iter().map(|m| m.weight).collect()
    }

    #[test]
    fn mix_weights_whose_sum_overflows_are_scaled_and_ordinary_ones_kept_bit_for_bit() {
        let huge = mix_weights(r#"[{ kind = "r", weight = 1e308 }, { kind = "w", weight = 1e308, op = "write" }]"#);
        assert_eq!(huge, vec![1.0, 1.0], "the same proportions, a finite sum");
        let odd = mix_weights(r#"[{ kind = "r", weight = 1.7e308 }, { kind = "w", weight = 0.85e308, op = "write" }]"#);
        assert!(odd.iter().sum::<f64>().is_finite() && (odd[0] / odd[1] - 2.0).abs() < 1e-12, "{odd:?}");
        let plain = mix_weights(r#"[{ kind = "r", weight = 0.1 }, { kind = "w", weight = 0.7, op = "write" }]"#);
        assert_eq!(plain.iter().map(|w| w.to_bits()).collect::<Vec<_>>(), vec![0.1f64.to_bits(), 0.7f64.to_bits()]);
    }

    #[test]
    fn a_long_call_cycle_is_named_by_its_ends() {
        let mut text =
            String::from("[scenario]\nname = \"ring\"\nduration_s = 1\n\n[[region]]\nname = \"r\"\nzones = [\"a\"]\n");
        let n = 500;
        for i in 0..n {
            text += &format!(
                "\n[[service]]\nname = \"s{i}\"\nzones = [\"a\"]\nservice_time = {{ dist = \"constant\", value_ms = 1 }}\ncalls = [{{ target = \"s{}\", timeout_ms = 10 }}]\n",
                (i + 1) % n
            );
        }
        let e = Scenario::parse(&Source { file: "ring.toml".into(), text }).unwrap_err();
        let m = &e.errors[0].message;
        assert!(m.starts_with("calls form a cycle: s0 → s1 → "), "{m}");
        assert!(m.contains(&format!("… {} more …", n + 1 - super::CYCLE_SHOWN)) && m.ends_with(" → s499 → s0"), "{m}");
        assert!(m.len() < 300, "{m}");
    }

    #[test]
    fn a_call_cycle_through_a_cache_names_the_cache() {
        for (text, cycle) in [
            (include_str!("../../tests/malformed/call-cycle-through-cache.toml"), "catalog → product-cache → catalog"),
            (
                include_str!("../../tests/malformed/call-cycle-cache-backend-itself.toml"),
                "product-cache → product-cache",
            ),
        ] {
            let e = Scenario::parse(&Source { file: "t.toml".into(), text: text.into() }).unwrap_err();
            assert_eq!(e.errors[0].message, format!("calls form a cycle: {cycle}"));
        }
    }

    #[test]
    fn numbers_in_messages_are_short() {
        assert_eq!(super::short(1e-300), "1e-300");
        assert_eq!(super::short(1e300), "1e300");
        assert_eq!(
            (super::short(0.5), super::short(2_592_000.0), super::short(-3.25)),
            ("0.5".into(), "2592000".into(), "-3.25".into())
        );
        let text = "[scenario]\nname = \"t\"\nduration_s = 1\n[[region]]\nname = \"r\"\nzones = [\"z\"]\n\
                    [[fault]]\nkind = \"zone-outage\"\nzone = \"z\"\nstart_s = 1e300\n";
        let e = Scenario::parse(&Source { file: "t.toml".into(), text: text.into() }).unwrap_err();
        assert_eq!(e.errors[0].message, "fault starts at 1e300 s, after the end of the scenario (1 s)");
    }

    #[test]
    fn failover_tiers_follow_the_first_listed_region_or_zone_and_unlisted_instances_come_last() {
        // Instances go round-robin over us-a, us-b, eu-a.
        let b = balancer(r#"failover = ["us-b", "us"]"#);
        assert_eq!(b.failover, vec!["us-b", "us"]);
        assert_eq!(b.tiers, vec![1, 0, 2, 1, 0, 2], "a zone before its region is its own tier");
        let b = balancer(r#"failover = ["eu"]"#);
        assert_eq!(b.tiers, vec![1, 1, 0, 1, 1, 0]);
        for none in ["", "failover = []"] {
            let b = balancer(none);
            assert!(b.failover.is_empty() && b.tiers.is_empty(), "`{none}` is active-active");
        }
    }
}
