//! The world: every component instance, the network, the fault timeline and the engine, and the
//! one loop that turns component effects into events.

use faultline_sim::net::{DropReason, FaultKind, FaultStreams, Net, Verdict};
use faultline_sim::rng::fnv1a64;
use faultline_sim::{Budget, BudgetExceeded, Engine, Nanos, NodeId, Stream, TraceHash};

use crate::balancer::Balancer;
use crate::broker::{Broker, BrokerConfig};
use crate::cache::{Cache, CacheConfig, WritePolicy};
use crate::calls::{CallTarget, Calls, DbRouter, OpEvent, Picker, ReadFrom, RetryPolicy, ShardRoute, Target};
use crate::client::{Client, ClientStreams};
use crate::consistency::{HistKind, HistOp, Recorder};
use crate::db::{Replica, ReplicaConfig, ReplicaStreams, Replication, version_parts};
use crate::msg::{ActorId, Msg, Op, Outbox, Timer};
use crate::outlier::Outliers;
use crate::saga::{BACKWARD, DO, FORWARD, Participant, ParticipantConfig, ParticipantStreams, UNDO};
use crate::series::{self, Layout, Row, Sampler};
use crate::service::{Instance, NodeHealth};
use crate::spec::ReplicationSpec;
use crate::spec::{CallSpec, FaultSpec, Load, TargetRef, WorkflowSpec, WorldSpec};
use crate::workflow::{Coordinator, CoordinatorConfig, Design};

// Actors live in one Vec and are handled in place; boxing the larger variant would add a
// pointer chase to every event for no memory saving worth having (a few hundred actors).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Component {
    Client(Client),
    Balancer(Balancer),
    Service(Instance),
    Cache(Cache),
    Broker(Broker),
    Replica(Replica),
    /// A step of a business workflow.
    Participant(Participant),
    /// A workflow's front, orchestrator or choreography entry.
    Coordinator(Coordinator),
}

impl Component {
    /// Names of this kind of component's [`Timer::Model`] tags, for the trace.
    fn timer_names(&self) -> fn(u8) -> (&'static str, bool) {
        match self {
            Component::Client(_) => crate::client::timer_name,
            Component::Balancer(_) => crate::balancer::timer_name,
            Component::Broker(_) => crate::broker::timer_name,
            Component::Replica(_) => crate::db::timer_name,
            Component::Participant(_) => crate::saga::timer_name,
            Component::Coordinator(_) => crate::workflow::timer_name,
            Component::Service(_) | Component::Cache(_) => |_| ("timer", false),
        }
    }

    /// A message from `from` arrives. Sans-IO: what the component wants sent or scheduled goes
    /// into `out`; the world (or another host, e.g. the turmoil cross-check) carries it out.
    #[inline(always)]
    pub fn on_msg(&mut self, now: Nanos, out: &mut Outbox, health: NodeHealth, from: ActorId, msg: Msg) {
        match self {
            Component::Client(c) => c.on_msg(now, out, msg),
            Component::Balancer(b) => b.on_msg(now, out, from, msg),
            Component::Service(s) => s.on_msg(now, out, health, from, msg),
            Component::Cache(c) => c.on_msg(now, out, from, msg),
            Component::Broker(b) => b.on_msg(now, out, from, msg),
            Component::Replica(r) => r.on_msg(now, out, health, from, msg),
            Component::Participant(p) => p.on_msg(now, out, health, from, msg),
            Component::Coordinator(c) => c.on_msg(now, out, from, msg),
        }
    }

    /// A timer it set fires.
    #[inline(always)]
    pub fn on_timer(&mut self, now: Nanos, out: &mut Outbox, health: NodeHealth, t: Timer) {
        match self {
            Component::Client(c) => c.on_timer(now, out, t),
            Component::Balancer(b) => b.on_timer(now, out, t),
            Component::Service(s) => s.on_timer(now, out, health, t),
            Component::Cache(c) => c.on_timer(now, out, t),
            Component::Broker(b) => b.on_timer(now, out, t),
            Component::Replica(r) => r.on_timer(now, out, health, t),
            Component::Participant(p) => p.on_timer(now, out, health, t),
            Component::Coordinator(c) => c.on_timer(now, out, t),
        }
    }

    /// Its node goes down: volatile state is lost, durable state kept (each kind says which).
    pub fn crash(&mut self, now: Nanos) {
        match self {
            Component::Client(c) => c.crash(now),
            Component::Balancer(b) => b.crash(),
            Component::Service(s) => s.crash(now),
            Component::Cache(c) => c.crash(now),
            Component::Broker(b) => b.crash(now),
            Component::Replica(r) => r.crash(now),
            Component::Participant(p) => p.crash(),
            Component::Coordinator(c) => c.crash(),
        }
    }

    /// It starts (at the beginning of a run, or when its node restarts): the first arrivals,
    /// health checks, elections.
    pub fn boot(&mut self, now: Nanos, out: &mut Outbox) {
        match self {
            Component::Client(c) => c.boot(now, out),
            Component::Balancer(b) => b.boot(out),
            Component::Replica(r) => r.boot(now, out),
            Component::Broker(b) => b.restart(now, out),
            Component::Coordinator(c) => c.boot(now, out),
            Component::Service(_) | Component::Cache(_) | Component::Participant(_) => {}
        }
    }
}

/// The actors of one business workflow.
#[derive(Clone, Debug, Default)]
pub struct WorkflowActors {
    pub coordinator: u32,
    /// One per step, in order.
    pub participants: Vec<u32>,
    /// Choreographed: each step's inbox topic, then the outcomes topic (brokers).
    pub topics: Vec<u32>,
}

#[derive(Debug)]
pub struct Actor {
    pub name: String,
    pub node: NodeId,
    /// Bumped at every crash: timers set before it are stale.
    pub epoch: u32,
    /// Draws for the network fate of messages this actor sends.
    net: NetRngs,
    pub comp: Component,
    /// Index of its service / balancer / workload in the spec.
    pub group: usize,
}

/// A cache-flush fault starts: every cache on a node in `scope` drops its entries (the world,
/// and the turmoil cross-check, apply it so).
pub fn flush_caches(actors: &mut [Actor], topo: &faultline_sim::topology::Topology, scope: &faultline_sim::net::Scope) {
    for a in actors {
        if let Component::Cache(c) = &mut a.comp
            && scope.contains(topo, a.node)
        {
            c.flush();
        }
    }
}

impl Actor {
    /// The fate of a message it sends to a node, drawn from its own streams as the world draws
    /// it: for running actors under another scheduler (the turmoil cross-check), where the same
    /// sends then get the same latencies.
    pub fn route(&mut self, net: &Net, to: NodeId) -> Verdict {
        net.route(self.node, to, &mut self.net.latency, &mut self.net.faults)
    }
}

/// An actor's streams for the network fate of the messages it sends: link latencies
/// (`PREFIX/net`), and what each active link fault does to them (`PREFIX/net-faults` keyed by
/// the fault's name: loss, added latency), so that a fault, or a change to one, moves neither
/// the latencies drawn after it nor what other faults do.
#[derive(Debug)]
struct NetRngs {
    latency: Stream,
    faults: FaultStreams,
}

impl NetRngs {
    fn new(stream: &impl Fn(&str) -> Stream, prefix: &str) -> NetRngs {
        let base = stream(&format!("{prefix}/net-faults")).next_u64();
        NetRngs { latency: stream(&format!("{prefix}/net")), faults: FaultStreams::new(base) }
    }
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    Deliver { to: u32, from: u32, msg: Msg },
    Timer { actor: u32, epoch: u32, t: Timer },
    FaultStart(u32),
    FaultEnd(u32),
}

/// One event as applied, for `--trace` and divergence reports.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceRecord<'a> {
    pub index: u64,
    pub t: Nanos,
    pub kind: &'static str,
    pub actor: &'a str,
    /// The sender of a delivered message, `-` otherwise.
    pub peer: &'a str,
    pub detail: String,
}

/// Receives every applied event when attached (off the hot path otherwise).
pub trait TraceSink {
    fn record(&mut self, r: &TraceRecord<'_>);
}

/// A fault as it was applied.
#[derive(Clone, Debug, PartialEq)]
pub struct AppliedFault {
    pub t: Nanos,
    /// Events applied before this one (to re-inject at exactly the same point on replay).
    pub at_event: u64,
    pub name: String,
    pub kind: &'static str,
    pub started: bool,
    pub injected: bool,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct NetStats {
    pub delivered: u64,
    pub dropped_node_down: u64,
    pub dropped_partition: u64,
    pub dropped_loss: u64,
    /// Arrived at a node that had gone down while the message was in flight.
    pub dropped_on_arrival: u64,
}

/// Recording of the operations on databases with `record_history` (off the hot path otherwise).
struct Recording {
    rec: Recorder,
    /// Per actor, per call target: the recorded database the target is.
    targets: Vec<Vec<Option<u16>>>,
    /// Per actor: a closed-loop workload, whose users are sessions of their own.
    per_user: Vec<bool>,
    /// Per actor: `(database, shard)` of a recorded database's replica.
    replica_of: Vec<Option<(u16, u32)>>,
    /// Per database, per shard: its replicas' actor ids.
    shards: Vec<Vec<Vec<u32>>>,
    ops: Vec<OpEvent>,
    appends: Vec<(ActorId, crate::msg::CallId, u64)>,
    /// Per database: convergence after the last heal.
    converge: Vec<Convergence>,
}

/// Time for the replicas of every shard to agree again once no fault is active.
#[derive(Clone, Debug, Default)]
struct Convergence {
    /// When the last fault healed (`None`: no heal yet, or a fault is active again).
    healed_at: Option<Nanos>,
    /// Per shard: `(index, term)` of the last entry of the highest-term leader, taken at the
    /// heal (or, with no leader then, the first time one is seen after it; again if a later
    /// leader discarded it); every replica must have applied it.
    target: Vec<Option<(u64, u32)>>,
    /// Time from the heal until every shard agreed.
    took: Option<Nanos>,
}

impl Convergence {
    /// Notes the time since the heal if every shard's replicas agree now (and had not yet).
    fn check(&mut self, now: Nanos, shards: &[Vec<u32>], actors: &[Actor], actor_node: &[NodeId], net: &Net) {
        if let (Some(healed), None) = (self.healed_at, self.took) {
            let mut all = true;
            for (shard, ids) in shards.iter().enumerate() {
                all &= shard_agrees(actors, actor_node, net, ids, &mut self.target[shard]);
            }
            if all {
                self.took = Some(now - healed);
            }
        }
    }
}

/// Events between checks of the memory budgets: a history or the held requests overshoot
/// their limits by at most what this many events add.
const BUDGET_CHECK_EVERY: u64 = 16_384;

pub struct World {
    pub seed: u64,
    engine: Engine<Ev>,
    pub net: Net,
    pub actors: Vec<Actor>,
    /// Actors on each node.
    on_node: Vec<Vec<u32>>,
    /// Node of each actor (a copy, so routing can read it while the sender is borrowed).
    actor_node: Vec<NodeId>,
    faults: Vec<FaultSpec>,
    pub fault_log: Vec<AppliedFault>,
    pub net_stats: NetStats,
    out: Outbox,
    end: Nanos,
    pub spec: WorldSpec,
    sink: Option<Box<dyn TraceSink>>,
    recording: Option<Box<Recording>>,
    /// The event count at which the memory budgets are checked next.
    next_budget_check: u64,
    budget: Budget,
    /// Balancer, cache, queue and database figures at window boundaries.
    pub sampler: Sampler,
    pub layout: Layout,
    /// Where each database's shards start among all databases' shards.
    pub shard_base: Vec<usize>,
    /// By workflow, in `spec.workflows` order.
    pub workflow_actors: Vec<WorkflowActors>,
}

impl World {
    pub fn new(spec: &WorldSpec, seed: u64, budget: Budget) -> World {
        let mut world = World::build(spec, seed, budget);
        for (i, f) in spec.faults.iter().enumerate() {
            world.engine.schedule_at(f.start, Ev::FaultStart(i as u32));
            if let Some(e) = f.end {
                world.engine.schedule_at(e, Ev::FaultEnd(i as u32));
            }
        }
        for i in 0..world.actors.len() {
            world.boot(i as u32);
        }
        world
    }

    /// The actors of `spec` as a run of `seed` builds them, before any has booted, with the same
    /// random streams: for running them under another scheduler (the turmoil cross-check,
    /// `crosscheck/`), where [`Component::boot`] starts them.
    pub fn unbooted_actors(spec: &WorldSpec, seed: u64) -> Vec<Actor> {
        World::build(spec, seed, Budget::default()).actors
    }

    /// Everything but the faults' events and the actors' boots.
    fn build(spec: &WorldSpec, seed: u64, budget: Budget) -> World {
        let mut actors = Vec::new();
        // Actor ids, in this order: service instances, balancers, caches, queues, database
        // replicas (by database, shard, replica), workflows (each: participants, topics,
        // coordinator), workloads.
        let mut next = 0u32;
        let mut take = |n: usize| {
            let ids: Vec<ActorId> = (0..n).map(|i| ActorId(next + i as u32)).collect();
            next += n as u32;
            ids
        };
        let instance_ids: Vec<Vec<ActorId>> = spec.services.iter().map(|s| take(s.nodes.len())).collect();
        let balancer_ids = take(spec.balancers.len());
        let cache_ids = take(spec.caches.len());
        let queue_ids = take(spec.queues.len());
        let replica_ids: Vec<Vec<Vec<ActorId>>> =
            spec.databases.iter().map(|d| d.nodes.iter().map(|shard| take(shard.len())).collect()).collect();
        let workflow_actors: Vec<WorkflowActors> = spec
            .workflows
            .iter()
            .map(|w| {
                let participants = take(w.steps.len()).iter().map(|a| a.0).collect();
                let topics = if w.design == Design::Choreographed { take(w.steps.len() + 1) } else { vec![] };
                let coordinator = take(1)[0].0;
                WorkflowActors { coordinator, participants, topics: topics.iter().map(|a| a.0).collect() }
            })
            .collect();
        let stream = |name: &str| Stream::new(seed, name);
        let topo = &spec.topology;
        let call_target = |c: &CallSpec, from: NodeId| {
            let target = match &c.target {
                TargetRef::Balancer(b) => Target::Actor(balancer_ids[*b]),
                TargetRef::Service { index, strategy } => {
                    Target::Pool(Picker::new(instance_ids[*index].clone(), *strategy))
                }
                TargetRef::Cache(k) => Target::Actor(cache_ids[*k]),
                TargetRef::Queue(q) => Target::Actor(queue_ids[*q]),
                TargetRef::Workflow(w) => Target::Actor(ActorId(workflow_actors[*w].coordinator)),
                TargetRef::Database(d) => {
                    let db = &spec.databases[*d];
                    let shards = db
                        .nodes
                        .iter()
                        .zip(&replica_ids[*d])
                        .map(|(nodes, ids)| {
                            // Nearest first by mean link latency from the caller; ties by index.
                            let mut order: Vec<u16> = (0..nodes.len() as u16).collect();
                            order.sort_by(|&a, &b| {
                                let la = topo.link_latency(from, nodes[a as usize]).mean();
                                let lb = topo.link_latency(from, nodes[b as usize]).mean();
                                la.total_cmp(&lb).then(a.cmp(&b))
                            });
                            ShardRoute { replicas: ids.clone(), nearest_first: order, leader_hint: 0 }
                        })
                        .collect();
                    Target::Db(DbRouter { shards, sharding: db.sharding, read_from: db.read_from })
                }
            };
            let mut t = CallTarget::new(target, c.timeout, c.retry.clone());
            t.class = Some(c.class);
            t.hedge_after = c.hedge_after;
            t.breaker = c.breaker;
            if let (Some(o), Target::Pool(p)) = (c.outliers, &t.target) {
                t.outliers = Some(Box::new(Outliers::new(o, p.backends.len())));
            }
            if matches!(c.target, TargetRef::Queue(_)) {
                t.op = Some(Op::Write);
            }
            t
        };
        for (g, s) in spec.services.iter().enumerate() {
            for (i, &node) in s.nodes.iter().enumerate() {
                let name = format!("{}/{}", s.name, i);
                let targets = s.calls.iter().map(|c| call_target(c, node)).collect();
                let calls = Calls::new(targets, stream(&format!("service/{name}/calls")));
                let mut inst = Instance::new(
                    s.workers,
                    s.queue_capacity,
                    s.service_time.clone(),
                    calls,
                    stream(&format!("service/{name}/work")),
                    stream(&format!("service/{name}/errors")),
                    spec.duration,
                );
                inst.set_fanout(s.calls.iter().map(|c| c.fanout.max(1)).collect());
                inst.set_optional(s.calls.iter().map(|c| c.optional).collect());
                if let Some((rate, burst)) = s.rate_limit {
                    inst.set_rate_limit(rate, burst);
                }
                if let Some(limit) = s.queue_timeout {
                    inst.set_queue_timeout(limit);
                }
                if s.propagate_deadlines {
                    inst.propagate_deadlines(s.min_time_left);
                }
                actors.push(Actor {
                    net: NetRngs::new(&stream, &format!("service/{name}")),
                    name,
                    node,
                    epoch: 0,
                    comp: Component::Service(inst),
                    group: g,
                });
            }
        }
        for (g, b) in spec.balancers.iter().enumerate() {
            let picker = Picker::new(instance_ids[b.service].clone(), b.strategy).with_tiers(&b.tiers);
            actors.push(Actor {
                name: b.name.clone(),
                node: b.node,
                epoch: 0,
                net: NetRngs::new(&stream, &format!("balancer/{}", b.name)),
                comp: Component::Balancer(
                    Balancer::new(picker, b.timeout, b.health, stream(&format!("balancer/{}/pick", b.name)))
                        .with_outliers(b.outliers),
                ),
                group: g,
            });
        }
        for (g, c) in spec.caches.iter().enumerate() {
            let calls = Calls::new(vec![call_target(&c.backend, c.node)], stream(&format!("cache/{}/calls", c.name)));
            let cfg = CacheConfig {
                capacity: c.capacity,
                ttl: c.ttl,
                write_policy: if c.write_through { WritePolicy::WriteThrough } else { WritePolicy::Invalidate },
                coalesce: c.coalesce,
                propagate_deadlines: c.propagate_deadlines.then_some(c.min_time_left),
            };
            actors.push(Actor {
                name: c.name.clone(),
                node: c.node,
                epoch: 0,
                net: NetRngs::new(&stream, &format!("cache/{}", c.name)),
                comp: Component::Cache(Cache::new(cfg, calls)),
                group: g,
            });
        }
        for (g, q) in spec.queues.iter().enumerate() {
            let cfg = BrokerConfig {
                partitions: q.partitions,
                visibility_timeout: q.visibility_timeout,
                max_attempts: q.max_attempts,
                max_in_flight_per_partition: q.max_in_flight_per_partition,
                session_timeout: q.session_timeout,
            };
            let groups = q.consumer_groups.iter().map(|&s| instance_ids[s].clone()).collect();
            actors.push(Actor {
                name: q.name.clone(),
                node: q.node,
                epoch: 0,
                net: NetRngs::new(&stream, &format!("queue/{}", q.name)),
                comp: Component::Broker(Broker::new(cfg, groups, spec.duration)),
                group: g,
            });
        }
        for (g, d) in spec.databases.iter().enumerate() {
            for (shard, nodes) in d.nodes.iter().enumerate() {
                for (r, &node) in nodes.iter().enumerate() {
                    let name = format!("{}/s{shard}/r{r}", d.name);
                    let cfg = ReplicaConfig {
                        shard: shard as u32,
                        index: r as u16,
                        peers: replica_ids[g][shard].clone(),
                        workers: d.workers,
                        queue_capacity: d.queue_capacity,
                        queue_timeout: d.queue_timeout,
                        propagate_deadlines: d.propagate_deadlines,
                        min_time_left: d.min_time_left,
                        service_time: d.service_time.clone(),
                        replication: match &d.replication {
                            ReplicationSpec::Sync => Replication::Sync,
                            ReplicationSpec::Async { lag } => Replication::Async { lag: lag.clone() },
                        },
                        follower_reads: d.read_from == ReadFrom::Nearest,
                        bug_ack_before_commit: d.bug_ack_before_commit,
                        election_timeout: d.election_timeout,
                        heartbeat_interval: d.heartbeat_interval,
                        pre_vote: d.pre_vote,
                        check_quorum: d.check_quorum,
                        horizon: spec.duration,
                    };
                    let streams = ReplicaStreams {
                        work: stream(&format!("database/{name}/work")),
                        election: stream(&format!("database/{name}/election")),
                        lag: stream(&format!("database/{name}/lag")),
                    };
                    actors.push(Actor {
                        net: NetRngs::new(&stream, &format!("database/{name}")),
                        name,
                        node,
                        epoch: 0,
                        comp: Component::Replica(Replica::new(cfg, streams)),
                        group: g,
                    });
                }
            }
        }
        for (g, (w, ids)) in spec.workflows.iter().zip(&workflow_actors).enumerate() {
            workflow(&mut actors, w, ids, g, spec.duration, stream);
        }
        for (g, w) in spec.workloads.iter().enumerate() {
            // The kind of each request is the mix's pick (`Client::send`), not the call's.
            let mut target = call_target(&w.call, w.node);
            target.class = None;
            let calls = Calls::new(vec![target], stream(&format!("workload/{}/calls", w.name)));
            let streams = ClientStreams {
                arrivals: stream(&format!("workload/{}/arrivals", w.name)),
                keys: stream(&format!("workload/{}/keys", w.name)),
                mix: stream(&format!("workload/{}/mix", w.name)),
            };
            let client = Client::new(
                w.load.clone(),
                w.start,
                w.stop,
                w.keys.clone(),
                w.mix.clone(),
                calls,
                streams,
                spec.window,
            );
            actors.push(Actor {
                name: w.name.clone(),
                node: w.node,
                epoch: 0,
                net: NetRngs::new(&stream, &format!("workload/{}", w.name)),
                comp: Component::Client(client),
                group: g,
            });
        }
        let mut on_node = vec![Vec::new(); spec.topology.nodes.len()];
        for (i, a) in actors.iter().enumerate() {
            on_node[a.node.0 as usize].push(i as u32);
        }
        let actors_nodes = actors.iter().map(|a| a.node).collect();
        let drain = spec.workloads.iter().map(|w| w.call.worst_case()).max().unwrap_or(0);
        // Sagas may go on after their users gave up (compensations retry until faults heal).
        let drain = spec.workflows.iter().map(|w| w.settle).fold(drain, Nanos::max);
        let end = spec.duration.saturating_add(drain).saturating_add(1_000_000);
        // The scenario's queues and the topics of choreographed workflows: all sampled.
        let brokers = spec.queues.len() + workflow_actors.iter().map(|w| w.topics.len()).sum::<usize>();
        let layout = Layout::new(spec.services.len(), spec.balancers.len(), spec.caches.len(), brokers);
        let mut world = World {
            seed,
            engine: Engine::new(budget),
            net: Net::new(spec.topology.clone()),
            actors,
            on_node,
            actor_node: actors_nodes,
            faults: spec.faults.clone(),
            fault_log: Vec::new(),
            net_stats: NetStats::default(),
            out: Outbox::default(),
            end,
            spec: spec.clone(),
            sink: None,
            recording: None,
            next_budget_check: BUDGET_CHECK_EVERY,
            budget,
            sampler: Sampler::new(
                spec.window,
                layout.slots(spec.databases.len()),
                spec.databases.iter().map(|d| d.nodes.len()).sum(),
                spec.duration,
                end,
            ),
            layout,
            shard_base: spec
                .databases
                .iter()
                .scan(0, |base, d| {
                    let b = *base;
                    *base += d.nodes.len();
                    Some(b)
                })
                .collect(),
            workflow_actors,
        };
        if spec.databases.iter().any(|d| d.record_history) {
            world.start_recording(&replica_ids);
        }
        world
    }

    /// Turns on operation recording for databases with `record_history` (before any event).
    fn start_recording(&mut self, replica_ids: &[Vec<Vec<ActorId>>]) {
        let spec = &self.spec;
        let recorded = |t: &TargetRef| match t {
            TargetRef::Database(d) if spec.databases[*d].record_history => Some(*d as u16),
            _ => None,
        };
        let n = self.actors.len();
        let mut r = Recording {
            rec: Recorder::default(),
            targets: vec![Vec::new(); n],
            per_user: vec![false; n],
            replica_of: vec![None; n],
            shards: replica_ids.iter().map(|d| d.iter().map(|s| s.iter().map(|a| a.0).collect()).collect()).collect(),
            ops: Vec::new(),
            appends: Vec::new(),
            converge: spec
                .databases
                .iter()
                .map(|d| Convergence { target: vec![None; d.nodes.len()], ..Convergence::default() })
                .collect(),
        };
        for (i, a) in self.actors.iter_mut().enumerate() {
            let (targets, calls) = match &mut a.comp {
                Component::Service(s) => {
                    (spec.services[a.group].calls.iter().map(|c| recorded(&c.target)).collect(), Some(&mut s.calls))
                }
                Component::Cache(c) => (vec![recorded(&spec.caches[a.group].backend.target)], Some(&mut c.calls)),
                Component::Client(c) => {
                    let w = &spec.workloads[a.group];
                    r.per_user[i] = matches!(w.load, Load::Closed { .. });
                    (vec![recorded(&w.call.target)], Some(&mut c.calls))
                }
                Component::Replica(rep) => {
                    if spec.databases[a.group].record_history {
                        rep.record_appends();
                        r.replica_of[i] = Some((a.group as u16, rep.shard()));
                    }
                    (Vec::new(), None)
                }
                // Workflow actors call steps and topics, never a database.
                Component::Balancer(_)
                | Component::Broker(_)
                | Component::Participant(_)
                | Component::Coordinator(_) => (Vec::new(), None),
            };
            if let Some(calls) = calls
                && targets.iter().any(Option::is_some)
            {
                calls.record_ops();
            }
            r.targets[i] = targets;
        }
        self.recording = Some(Box::new(r));
    }

    /// Takes what actor `src` recorded while handling an event; checks convergence.
    #[cold]
    fn collect(&mut self, src: u32) {
        let Some(r) = &mut self.recording else { return };
        let now = self.engine.now();
        let a = &mut self.actors[src as usize];
        match &mut a.comp {
            Component::Service(s) => s.calls.drain_ops(&mut r.ops),
            Component::Cache(c) => c.calls.drain_ops(&mut r.ops),
            Component::Client(c) => c.calls.drain_ops(&mut r.ops),
            Component::Replica(rep) => rep.drain_appends(&mut r.appends),
            Component::Balancer(_) | Component::Broker(_) | Component::Participant(_) | Component::Coordinator(_) => {}
        }
        for e in r.ops.drain(..) {
            if let Some(db) = r.targets[src as usize].get(e.target as usize).copied().flatten() {
                let session =
                    if r.per_user[src as usize] { u64::from(src) << 32 | e.token } else { u64::from(src) << 32 };
                r.rec.step(src, db, session, e);
            }
        }
        for (from, call, v) in r.appends.drain(..) {
            r.rec.append(from.0, call, v);
        }
        if let Some((db, _)) = r.replica_of[src as usize] {
            r.converge[db as usize].check(now, &r.shards[db as usize], &self.actors, &self.actor_node, &self.net);
        }
    }

    /// The current figures of the sampled components (the end of the last, partial window).
    pub fn sample_now(&self) -> (Vec<Row>, Vec<u64>) {
        let up = |i: usize| self.net.is_up(self.actor_node[i]);
        let (slots, shards) = (self.sampler.slots(), self.sampler.shards());
        series::sample(self.engine.now(), slots, self.layout, &self.actors, &self.shard_base, shards, up)
    }

    /// The budgets on what a run holds in memory: a recorded history's steps and what the
    /// components hold ([`World::held`]), every [`BUDGET_CHECK_EVERY`] events. One compare per
    /// event; the sums stay off the per-event path.
    #[inline(always)]
    fn check_budgets(&mut self) -> Result<(), BudgetExceeded> {
        if self.engine.events() >= self.next_budget_check {
            self.next_budget_check = self.engine.events() + BUDGET_CHECK_EVERY;
            self.check_memory()?;
        }
        Ok(())
    }

    #[inline(never)]
    fn check_memory(&self) -> Result<(), BudgetExceeded> {
        let at = self.engine.now();
        if let Some(r) = &self.recording
            && r.rec.ops() as u64 > self.budget.max_history_steps
        {
            return Err(BudgetExceeded::History { limit: self.budget.max_history_steps, at });
        }
        if self.held() > self.budget.max_held {
            return Err(BudgetExceeded::Held { limit: self.budget.max_held, at });
        }
        Ok(())
    }

    /// Requests, messages and events held now, counted at each component that holds one (a
    /// request in flight through five components counts five times, as it takes memory at
    /// each): what a run's memory grows with. Also what grows with them unseen: deadlines
    /// waiting in FIFOs until their time (met ones included), dead letters, and database log
    /// entries (never compacted; an election storm appends a no-op per term), these last an
    /// eighth each (24 bytes, where a held request takes a few hundred).
    pub fn held(&self) -> u64 {
        let at_actors: usize = self
            .actors
            .iter()
            .map(|a| match &a.comp {
                Component::Client(c) => c.calls.in_flight() + c.calls.deadlines_held(),
                Component::Balancer(b) => b.held(),
                Component::Service(s) => s.in_system() + s.calls.deadlines_held(),
                Component::Cache(c) => c.in_flight() + c.calls.deadlines_held(),
                Component::Broker(b) => b.held(),
                Component::Replica(r) => r.in_system() + r.log_len() / 8,
                Component::Participant(p) => p.in_progress() + p.calls.deadlines_held(),
                Component::Coordinator(c) => c.held() + c.calls.deadlines_held(),
            })
            .sum();
        (at_actors + self.engine.pending()) as u64
    }

    /// Whether any database records its history.
    pub fn is_recording(&self) -> bool {
        self.recording.is_some()
    }

    /// The history of database `db` so far (empty unless it records one).
    pub fn history(&self, db: usize) -> Vec<HistOp> {
        match &self.recording {
            Some(r) if self.spec.databases[db].record_history => r.rec.history(db as u16, self.engine.now()),
            _ => Vec::new(),
        }
    }

    /// Attempts sent to database `db` while it recorded (0 unless it records): its history's
    /// operations, less the extra writes that stand for appended hedge copies.
    pub fn recorded_attempts(&self, db: usize) -> u64 {
        match &self.recording {
            Some(r) if self.spec.databases[db].record_history => r.rec.attempts(db as u16),
            _ => 0,
        }
    }

    /// Time from the last heal until the replicas of every shard of `db` agreed again (`None`:
    /// no heal, not recorded, or not converged by the end of the run).
    pub fn convergence(&self, db: usize) -> Option<Nanos> {
        self.recording.as_ref().and_then(|r| r.converge.get(db)).and_then(|c| c.took)
    }

    /// Acknowledged writes in `history` (of database `db`) that the shard's authoritative log
    /// no longer holds: lost updates.
    pub fn lost_updates(&self, db: usize, history: &[HistOp]) -> u64 {
        let Some(r) = &self.recording else { return 0 };
        let d = &self.spec.databases[db];
        let replica = |id: u32| match &self.actors[id as usize].comp {
            Component::Replica(rep) => rep,
            _ => unreachable!("shard members are replicas"),
        };
        // The authoritative log of each shard: that of the replica that led it last (in the
        // highest term anyone led). Raft's election rule puts every committed entry in it, and
        // whatever it lacks is overwritten wherever else it is.
        let logs: Vec<&Replica> = r.shards[db]
            .iter()
            .map(|ids| {
                ids.iter()
                    .map(|&id| replica(id))
                    .max_by_key(|rep| (rep.stats.led_term, rep.last_index()))
                    .expect("a shard has replicas")
            })
            .collect();
        history
            .iter()
            .filter(|o| o.kind == HistKind::Ok && o.f == Op::Write)
            .filter(|o| {
                let (term, index) = version_parts(o.value.unwrap_or(0) as u64);
                let shard = crate::calls::shard_of(d.sharding, d.nodes.len(), o.key);
                logs[shard].entry(index) != Some((term, o.key))
            })
            .count() as u64
    }

    pub fn set_trace_sink(&mut self, sink: Box<dyn TraceSink>) {
        self.sink = Some(sink);
    }

    pub fn now(&self) -> Nanos {
        self.engine.now()
    }

    /// When the run ends: the scenario's duration plus the time for the last requests to resolve.
    pub fn end(&self) -> Nanos {
        self.end
    }

    pub fn events(&self) -> u64 {
        self.engine.events()
    }

    pub fn pending(&self) -> usize {
        self.engine.pending()
    }

    pub fn trace_hash(&self) -> TraceHash {
        self.engine.trace_hash()
    }

    pub fn finished(&self) -> bool {
        self.engine.now() >= self.end
    }

    /// Runs to the end of the scenario.
    pub fn run(&mut self) -> Result<(), BudgetExceeded> {
        self.run_until(self.end)
    }

    /// Applies every event due at or before `t` (capped at the end of the run).
    pub fn run_until(&mut self, t: Nanos) -> Result<(), BudgetExceeded> {
        let r = self.run_until_inner(t);
        self.sample_passed_boundaries();
        r
    }

    /// The clock can pass window boundaries with no event (a run idling to its end, a slice
    /// ending between events): sample those before now, as the next event would have, so that
    /// each window's integrals stop at its boundary (else the window of the last event took in
    /// all the time after it, and the windows after it got none). A boundary at now itself is
    /// left to an event there, if any: the window it starts is empty so far.
    fn sample_passed_boundaries(&mut self) {
        self.sample_through(self.engine.now().saturating_sub(1));
    }

    /// Samples every window boundary due by `t` (the check inline, the sampling out of line).
    #[inline(always)]
    fn sample_through(&mut self, t: Nanos) {
        if self.sampler.due(t) {
            let World { sampler, layout, actors, net, actor_node, shard_base, .. } = self;
            sampler.take(t, *layout, actors, shard_base, |i| net.is_up(actor_node[i]));
        }
    }

    fn run_until_inner(&mut self, t: Nanos) -> Result<(), BudgetExceeded> {
        if self.drained_out() {
            self.end = self.engine.now();
            return Ok(());
        }
        let until = t.min(self.end);
        let sending = self.spec.duration;
        if self.engine.now() < sending && until > sending {
            // In two legs, so that the end of sending is looked at even with no event due then
            // (see `next_event`), without a test per event.
            if self.apply_until(sending)? || self.ends_at_end_of_sending() {
                return Ok(());
            }
        }
        self.apply_until(until)?;
        Ok(())
    }

    /// Applies the events due by `until`; returns whether the run drained (and so ended).
    // One copy of the event loop for both legs: inlined twice, it cost 0.3% more instructions.
    #[inline(never)]
    fn apply_until(&mut self, until: Nanos) -> Result<bool, BudgetExceeded> {
        while let Some(ev) = self.engine.next_until(until)? {
            self.apply(ev);
            self.check_budgets()?;
            if self.drained_out() {
                self.end = self.engine.now();
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// At the end of sending with nothing due then: a run already drained ends here.
    fn ends_at_end_of_sending(&mut self) -> bool {
        let ended = self.drained();
        if ended {
            self.end = self.spec.duration;
        }
        ended
    }

    /// The next event due by `until`, for stepping. The run can end at the end of sending with
    /// no event due then (a run drained before it, whose workloads send nothing more: a
    /// workload's node down, say): the clock stops there, not at the next event or the cap, so
    /// that the end is the same however the run is driven (whole, stepped or in slices).
    fn next_event(&mut self, until: Nanos) -> Result<Option<Ev>, BudgetExceeded> {
        let sending = self.spec.duration;
        if self.engine.now() < sending && until > sending {
            if let Some(ev) = self.engine.next_until(sending)? {
                return Ok(Some(ev));
            }
            if self.ends_at_end_of_sending() {
                return Ok(None);
            }
        }
        self.engine.next_until(until)
    }

    /// Whether the run has ended by draining: workloads have stopped and every request they
    /// sent has resolved, so what is left (idle timers, heartbeats) cannot change any figure of
    /// the run. It ends at the instant of the event that drained it; other events due at that
    /// instant are not applied, however the run is driven (whole, in slices or stepped).
    // Always inlined: called out of line, its time test cost 1% more instructions per event.
    #[inline(always)]
    fn drained_out(&self) -> bool {
        self.engine.now() >= self.spec.duration && self.drained()
    }

    /// Whether no workload has a request in flight (workloads are the last actors) and every
    /// workflow is idle.
    fn drained(&self) -> bool {
        self.actors[self.actors.len() - self.spec.workloads.len()..].iter().all(|a| match &a.comp {
            Component::Client(c) => c.calls.in_flight() == 0,
            _ => true,
        }) && self.workflow_actors.iter().all(|w| self.workflow_idle(w))
    }

    /// No saga in progress: the coordinator has nothing in flight, no participant has work, no
    /// topic holds an event.
    fn workflow_idle(&self, w: &WorkflowActors) -> bool {
        let comp = |i: u32| &self.actors[i as usize].comp;
        matches!(comp(w.coordinator), Component::Coordinator(c) if c.idle())
            && w.participants.iter().all(|&p| matches!(comp(p), Component::Participant(p) if p.in_progress() == 0))
            && w.topics
                .iter()
                .all(|&t| matches!(comp(t), Component::Broker(b) if b.backlog() == 0 && b.in_flight() == 0))
    }

    /// Applies exactly one event if one is due before the end; returns whether it did. Stepping
    /// until it returns false is the same run as [`World::run`] (same end, same trace).
    pub fn step(&mut self) -> Result<bool, BudgetExceeded> {
        let at = self.engine.now();
        if self.drained_out() {
            self.end = at;
            return Ok(false);
        }
        match self.next_event(self.end)? {
            Some(ev) => {
                self.apply(ev);
                self.check_budgets()?;
                if self.drained_out() {
                    self.end = self.engine.now();
                }
                Ok(true)
            }
            None => {
                debug_assert!(self.engine.now() >= at);
                self.sample_passed_boundaries();
                Ok(false)
            }
        }
    }

    /// Starts a fault now (the engine command behind interactive injection). It is applied as a
    /// scheduled event at the current time, after events already due now, and recorded in the
    /// fault log and trace like any other. Returns its index.
    pub fn inject(&mut self, name: &str, kind: FaultKind, duration: Option<Nanos>) -> usize {
        let now = self.engine.now();
        let i = self.faults.len();
        self.faults.push(FaultSpec {
            name: name.to_owned(),
            kind,
            start: now,
            end: duration.map(|d| now.saturating_add(d)),
        });
        self.engine.schedule_at(now, Ev::FaultStart(i as u32));
        if let Some(d) = duration {
            self.engine.schedule_at(now.saturating_add(d), Ev::FaultEnd(i as u32));
        }
        i
    }

    /// Ends a fault now (e.g. bringing a region back from the TUI).
    pub fn heal(&mut self, index: usize) {
        self.engine.schedule_at(self.engine.now(), Ev::FaultEnd(index as u32));
    }

    pub fn faults(&self) -> &[FaultSpec] {
        &self.faults
    }

    // Inlined into the loops that pop events: passed by pointer, the event was written to the
    // stack in 8-byte pieces and read back in 16-byte ones, which stalls store forwarding.
    #[inline(always)]
    fn apply(&mut self, ev: Ev) {
        let now = self.engine.now();
        self.sample_through(now);
        match ev {
            Ev::Deliver { to, from, msg } => {
                let h = self.engine.hash_mut();
                let (k, v) = msg.kind.code();
                // Tag in the low 4 bits, then the two actor ids (distinct below 2^30 actors).
                h.pair(1 | u64::from(to) << 4 | u64::from(from) << 34, msg.call);
                h.pair(k, v);
                let a = &mut self.actors[to as usize];
                if !self.net.is_up(a.node) {
                    self.net_stats.dropped_on_arrival += 1;
                    self.trace_event("drop-on-arrival", to, from, |_| msg.to_string());
                    return;
                }
                self.net_stats.delivered += 1;
                let health =
                    NodeHealth { slow_factor: self.net.slow_factor(a.node), error_rate: self.net.error_rate(a.node) };
                a.comp.on_msg(now, &mut self.out, health, ActorId(from), msg);
                self.trace_event("deliver", to, from, |_| msg.to_string());
                self.flush(to);
            }
            Ev::Timer { actor, epoch, t } => {
                let (code, arg) = t.code();
                self.engine.hash_mut().pair(2 | u64::from(actor) << 4 | code << 34, arg);
                let a = &mut self.actors[actor as usize];
                // The component's names for its own timers, read only when tracing.
                let describe = move |w: &World| t.describe(w.actors[actor as usize].comp.timer_names());
                if a.epoch != epoch {
                    self.trace_event("stale-timer", actor, u32::MAX, |w| {
                        format!("{} (set before a crash)", describe(w))
                    });
                    return; // set before a crash
                }
                let health =
                    NodeHealth { slow_factor: self.net.slow_factor(a.node), error_rate: self.net.error_rate(a.node) };
                a.comp.on_timer(now, &mut self.out, health, t);
                self.trace_event("timer", actor, u32::MAX, describe);
                self.flush(actor);
            }
            Ev::FaultStart(i) => self.fault(i as usize, true),
            Ev::FaultEnd(i) => self.fault(i as usize, false),
        }
    }

    fn fault(&mut self, i: usize, start: bool) {
        let now = self.engine.now();
        let f = &self.faults[i];
        let kind_name = f.kind.name();
        let active = self.net.active().any(|(id, _)| *id as usize == i);
        if start == active {
            // Already started (or already healed by an earlier command): nothing changes.
            let name = f.name.clone();
            self.trace_event("fault-noop", u32::MAX, u32::MAX, |_| name);
            return;
        }
        self.engine.hash_mut().word(3 | ((i as u64) << 8) | (u64::from(start) << 40));
        tracing::info!(t_ns = now, fault = %f.name, kind = kind_name, phase = if start { "start" } else { "end" }, "fault");
        self.fault_log.push(AppliedFault {
            t: now,
            at_event: self.engine.events(),
            name: f.name.clone(),
            kind: kind_name,
            started: start,
            injected: i >= self.spec.faults.len(),
        });
        if let (true, FaultKind::Flush { scope }) = (start, &f.kind) {
            flush_caches(&mut self.actors, self.net.topo(), scope);
        }
        let transitions = if start {
            self.net.activate(i as u32, fnv1a64(f.name.as_bytes()), f.kind.clone())
        } else {
            self.net.deactivate(i as u32)
        };
        let name = f.name.clone();
        self.trace_event(if start { "fault-start" } else { "fault-end" }, u32::MAX, u32::MAX, |_| name);
        for node in transitions.went_down {
            for k in 0..self.on_node[node.0 as usize].len() {
                let id = self.on_node[node.0 as usize][k];
                let a = &mut self.actors[id as usize];
                a.epoch += 1;
                a.comp.crash(now);
            }
        }
        for node in transitions.came_up {
            for k in 0..self.on_node[node.0 as usize].len() {
                let id = self.on_node[node.0 as usize][k];
                self.boot(id);
            }
        }
        // After the restarts, so that the heal's world is whole: the convergence target is what
        // the leaders hold at the heal, and replicas that already agree took no time (checked
        // only after replica events, the time to the next one was reported).
        if let Some(r) = &mut self.recording {
            let healed = self.net.active().next().is_none();
            for (d, c) in r.converge.iter_mut().enumerate() {
                *c = Convergence { healed_at: healed.then_some(now), target: vec![None; c.target.len()], took: None };
                if self.spec.databases[d].record_history {
                    c.check(now, &r.shards[d], &self.actors, &self.actor_node, &self.net);
                }
            }
        }
    }

    /// Starts an actor's own activity (at time 0 and after a restart).
    fn boot(&mut self, id: u32) {
        let now = self.engine.now();
        self.actors[id as usize].comp.boot(now, &mut self.out);
        self.flush(id);
    }

    /// Turns the outbox of actor `src` into scheduled deliveries and timers.
    #[inline]
    fn flush(&mut self, src: u32) {
        if self.recording.is_some() {
            self.collect(src);
        }
        let World { out, actors, actor_node, net, engine, net_stats, .. } = self;
        let a = &mut actors[src as usize];
        let from_node = a.node;
        // Indexed, then cleared: fewer instructions than `drain` (its set-up and tear-down).
        for &(to, msg) in &out.sends {
            match net.route(from_node, actor_node[to.0 as usize], &mut a.net.latency, &mut a.net.faults) {
                Verdict::Deliver { delay } => engine.schedule_in(delay, Ev::Deliver { to: to.0, from: src, msg }),
                Verdict::Drop(r) => match r {
                    DropReason::NodeDown => net_stats.dropped_node_down += 1,
                    DropReason::Partitioned => net_stats.dropped_partition += 1,
                    DropReason::Lost => net_stats.dropped_loss += 1,
                },
            }
        }
        out.sends.clear();
        for &(after, t) in &out.timers {
            engine.schedule_in(after, Ev::Timer { actor: src, epoch: a.epoch, t });
        }
        out.timers.clear();
    }

    /// The check for a sink inline at every event; the recording itself out of line.
    #[inline(always)]
    fn trace_event(&mut self, kind: &'static str, actor: u32, peer: u32, detail: impl FnOnce(&World) -> String) {
        if self.sink.is_some() {
            self.trace_event_slow(kind, actor, peer, detail);
        }
    }

    #[inline(never)]
    fn trace_event_slow(&mut self, kind: &'static str, actor: u32, peer: u32, detail: impl FnOnce(&World) -> String) {
        if let Some(mut sink) = self.sink.take() {
            let name = |i: u32| if i == u32::MAX { "-" } else { self.actors[i as usize].name.as_str() };
            let r = TraceRecord {
                index: self.engine.events(),
                t: self.engine.now(),
                kind,
                actor: name(actor),
                peer: name(peer),
                detail: detail(self),
            };
            sink.record(&r);
            self.sink = Some(sink);
        }
    }
}

/// Whether every replica of a shard is up and has applied `target` (set from the highest-term
/// leader the first time there is one).
fn shard_agrees(
    actors: &[Actor],
    actor_node: &[NodeId],
    net: &Net,
    ids: &[u32],
    target: &mut Option<(u64, u32)>,
) -> bool {
    let replica = |id: u32| match &actors[id as usize].comp {
        Component::Replica(rep) => rep,
        _ => unreachable!("shard members are replicas"),
    };
    let leader = ids.iter().map(|&id| replica(id)).filter(|r| r.is_leader()).max_by_key(|r| r.term());
    // The target is the leader's last entry, taken once; but if the leader of the highest term
    // no longer holds it, it was never committed (a stale leader's tail, or a write an async
    // leader acknowledged alone) and was replaced: it can never be applied everywhere, so aim
    // at that leader's last entry instead.
    if let Some(l) = leader
        && target.is_none_or(|(index, term)| index > 0 && l.entry(index).map(|e| e.0) != Some(term))
    {
        let last = l.last_index();
        *target = Some((last, l.entry(last).map_or(0, |e| e.0)));
    }
    let Some((index, term)) = *target else { return false };
    ids.iter().all(|&id| {
        let r = replica(id);
        net.is_up(actor_node[id as usize])
            && r.applied_index() >= index
            && r.entry(index).map_or(index == 0, |e| e.0 == term)
    })
}

/// Builds one workflow's actors, in the order of their ids ([`WorkflowActors`]): participants,
/// topics (choreographed), coordinator.
fn workflow(
    actors: &mut Vec<Actor>,
    w: &WorkflowSpec,
    ids: &WorkflowActors,
    g: usize,
    horizon: Nanos,
    stream: impl Fn(&str) -> Stream,
) {
    let n = w.steps.len();
    let publish = |to: u32| {
        let mut t = CallTarget::new(Target::Actor(ActorId(to)), w.call_timeout, w.retry.clone());
        t.op = Some(Op::Write);
        t
    };
    for (k, step) in w.steps.iter().enumerate() {
        let name = format!("{}/{}", w.name, step.name);
        let cfg = ParticipantConfig {
            role: step.role,
            step: k as u16,
            steps: n as u16,
            idempotent: w.design.idempotent(),
            choreographed: w.design == Design::Choreographed,
            workers: step.workers,
            queue_capacity: step.queue_capacity,
            queue_timeout: step.queue_timeout,
            propagate_deadlines: step.propagate_deadlines,
            min_time_left: step.min_time_left,
            service_time: step.service_time.clone(),
            refuse_probability: step.refuse_probability,
            stock: step.stock,
        };
        let mut targets = Vec::new();
        if w.design == Design::Choreographed {
            // The outcomes topic is the last one: after the last step, and before the first.
            let (next, prev) = (ids.topics[k + 1], if k == 0 { ids.topics[n] } else { ids.topics[k - 1] });
            targets = vec![publish(next), publish(prev)];
            debug_assert_eq!((FORWARD, BACKWARD), (0, 1));
        }
        let streams = ParticipantStreams {
            work: stream(&format!("participant/{name}/work")),
            errors: stream(&format!("participant/{name}/errors")),
            refuse: stream(&format!("participant/{name}/refuse")),
        };
        let calls = Calls::new(targets, stream(&format!("participant/{name}/calls")));
        actors.push(Actor {
            net: NetRngs::new(&stream, &format!("participant/{name}")),
            name,
            node: step.node,
            epoch: 0,
            comp: Component::Participant(Participant::new(cfg, calls, streams)),
            group: g,
        });
    }
    if let Some(q) = &w.queue
        && w.design == Design::Choreographed
    {
        let cfg = BrokerConfig {
            partitions: q.partitions,
            visibility_timeout: q.visibility_timeout,
            max_attempts: q.max_attempts,
            max_in_flight_per_partition: q.max_in_flight_per_partition,
            session_timeout: q.session_timeout,
        };
        let consumers = ids.participants.iter().chain([&ids.coordinator]);
        let names = w.steps.iter().map(|s| s.name.as_str()).chain(["outcomes"]);
        for (&consumer, topic) in consumers.zip(names) {
            let name = format!("{}/queue/{topic}", w.name);
            actors.push(Actor {
                net: NetRngs::new(&stream, &format!("queue/{name}")),
                name,
                node: q.node,
                epoch: 0,
                comp: Component::Broker(Broker::new(cfg, vec![vec![ActorId(consumer)]], horizon)),
                group: g,
            });
        }
    }
    let targets = match w.design {
        Design::Choreographed => vec![publish(ids.topics[0])],
        Design::Sync | Design::Orchestrated => {
            let call = |to: u32, retry, class| {
                let mut t = CallTarget::new(Target::Actor(ActorId(to)), w.call_timeout, retry);
                t.class = Some(class);
                t
            };
            // Sync cleanups are one attempt, best effort; orchestrated ones retry until done.
            let undo_retry = if w.design == Design::Sync {
                RetryPolicy { max_attempts: 1, ..w.retry.clone() }
            } else {
                w.retry.clone()
            };
            ids.participants
                .iter()
                .flat_map(|&p| [call(p, w.retry.clone(), DO), call(p, undo_retry.clone(), UNDO)])
                .collect()
        }
    };
    let cfg = CoordinatorConfig {
        design: w.design,
        steps: n as u16,
        reply_within: w.reply_within,
        log_write: w.log_write.clone(),
        compensation_pause: w.retry.backoff_max.max(1),
        outcomes: ids.topics.last().map(|&t| ActorId(t)),
        propagate_deadlines: w.propagate_deadlines,
    };
    let calls = Calls::new(targets, stream(&format!("workflow/{}/calls", w.name)));
    actors.push(Actor {
        net: NetRngs::new(&stream, &format!("workflow/{}", w.name)),
        name: w.name.clone(),
        node: w.node,
        epoch: 0,
        comp: Component::Coordinator(Coordinator::new(
            cfg,
            calls,
            stream(&format!("workflow/{}/log", w.name)),
            stream(&format!("workflow/{}/pause", w.name)),
        )),
        group: g,
    });
}
