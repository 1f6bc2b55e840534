//! The engine's component models run as real async services: every actor of a world is a
//! [turmoil] host, a tokio task that receives its messages as UDP datagrams over turmoil's
//! simulated network, sleeps on tokio timers, and hands both to the very component code the
//! engine calls ([`Component::on_msg`], [`Component::on_timer`], [`Component::boot`],
//! [`Component::crash`]), with the same random streams. What the component puts in its
//! [`Outbox`] is sent as datagrams and slept on as timers.
//!
//! So the same scenario and seed run through one model under two schedulers: the engine's exact
//! event queue, and tokio's timer wheel under turmoil's ticks. A difference beyond the time
//! rounding of the second (timers wake on the next tick, messages take whole ticks) is a bug in
//! one of them — an event the engine drops or misorders, or state a component keeps outside its
//! own rules. `tests/` compares the two.
//!
//! An actor's model can also give way to the user's own async service ([`run_with`]): a
//! future on that actor's host that reads the same datagrams from [`PORT`] and answers them
//! ([`decode`], [`encode`], [`peer`]), driven by the world's workloads and balancers and under
//! the same partitions.
//!
//! The network and the faults are the engine's own model, drawn from the same streams: each
//! send goes through [`Actor::route`] (the link's latency from the topology, and what the active
//! faults do to it: dropped across a partition or at a node that is down, lost, delayed) and
//! leaves the sender's host when its latency has passed; slowness and injected errors reach the
//! components as their node's health, as in the engine. On top, a partition is also turmoil's
//! `partition_oneway` between the hosts of every node pair it cuts (own services send their
//! answers themselves, past the model); an outage crashes every actor of the nodes it takes
//! down ([`Component::crash`]: its timers and unread messages are gone, what reaches it while it
//! is down is dropped) and boots them when they come back; a cache flush empties the caches in
//! its scope.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use faultline_models::WorldSpec;
use faultline_models::msg::{ActorId, Msg, Outbox, Timer};
use faultline_models::service::NodeHealth;
#[cfg(doc)]
use faultline_models::world::Component;
use faultline_models::world::{Actor, World, flush_caches};
use faultline_sim::net::{FaultKind, Net, Scope, Verdict};
use faultline_sim::topology::Topology;
use faultline_sim::{Nanos, NodeId};
use tokio::sync::Notify;
use turmoil::net::UdpSocket;

/// The port every actor's host listens on, own services' included.
pub const PORT: u16 = 7000;

/// A user's own service in place of an actor's model: given the actor's id, the future its host
/// runs (called again if turmoil restarts the host). It reads datagrams from [`PORT`] and
/// answers each request, probes (`Op::Probe`, a balancer's health checks) included, with a
/// response of the same `call` to its sender.
pub type OwnService = Rc<dyn Fn(ActorId) -> Pin<Box<dyn Future<Output = turmoil::Result>>>>;

/// A message as it travels: the sender's actor id and the message, as JSON.
pub fn encode(from: ActorId, msg: &Msg) -> Vec<u8> {
    serde_json::to_vec(&(from.0, msg)).expect("a message serialises")
}

/// The sender and the message of a datagram.
pub fn decode(bytes: &[u8]) -> serde_json::Result<(ActorId, Msg)> {
    serde_json::from_slice::<(u32, Msg)>(bytes).map(|(from, msg)| (ActorId(from), msg))
}

/// Where actor `id` listens (inside the simulation).
pub fn peer(id: ActorId) -> SocketAddr {
    SocketAddr::new(turmoil::lookup(host_name(id.0 as usize).as_str()), PORT)
}

fn host_name(i: usize) -> String {
    format!("actor-{i}")
}

/// How a cross-check run goes.
#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    /// Turmoil's step: simulated time advances by this much at a time.
    pub tick: Duration,
    /// Every message's latency (turmoil's minimum and maximum alike).
    pub latency: Duration,
    /// How long after the scenario's end (`duration_s`) the run goes on, for answers in flight.
    pub drain: Duration,
}

/// Why a scenario cannot be cross-checked, or the run failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no actor `{0}` to replace with an own service (actors are named like `api/0`)")]
    NoActor(String),
    #[error("fault `{name}` takes down `{actor}`, an own service: outages crash models, not own services")]
    OwnServiceDown { name: String, actor: String },
    #[error("turmoil: {0}")]
    Turmoil(String),
}

/// The actors as the run left them (their figures: a client's `stats`, a service's).
pub struct Outcome {
    pub actors: Vec<Actor>,
    /// Datagrams sent in all.
    pub messages: u64,
    /// Datagrams that reached an actor whose node was down.
    pub dropped_on_arrival: u64,
    /// Sends the network model dropped (a partition, a node down, loss).
    pub dropped: u64,
}

/// What the hosts and the fault controller share. They all run on this thread, one at a time,
/// and borrow it only between `await`s.
struct Shared {
    actors: Vec<Actor>,
    /// By actor: its node is down (it neither acts nor receives).
    down: Vec<bool>,
    /// By actor: it crashed since its host last looked (its timers and unread messages go).
    crashed: Vec<bool>,
    /// By actor: its node came back since its host last looked (it boots).
    boot: Vec<bool>,
    /// By actor: wakes its host after the controller changed one of the above.
    wake: Vec<Rc<Notify>>,
    /// The network and its active faults, as the engine keeps them.
    net: Net,
    messages: u64,
    dropped_on_arrival: u64,
    dropped: u64,
}

/// Runs `spec` with every actor a turmoil host.
pub fn run(spec: &WorldSpec, opts: &Options) -> Result<Outcome, Error> {
    run_with(spec, opts, BTreeMap::new())
}

/// [`run`], with the actors named in `own` (`server/0`) running the user's service instead of
/// their model (which then stays as built, unused).
pub fn run_with(spec: &WorldSpec, opts: &Options, own: BTreeMap<String, OwnService>) -> Result<Outcome, Error> {
    let actors = World::unbooted_actors(spec, opts.seed);
    let n = actors.len();
    let nodes: Vec<NodeId> = actors.iter().map(|a| a.node).collect();
    let mut services: Vec<Option<OwnService>> = vec![None; n];
    for (name, service) in own {
        let i = actors.iter().position(|a| a.name == name).ok_or_else(|| Error::NoActor(name.clone()))?;
        services[i] = Some(service);
    }
    // An outage would crash the model; an own service has none to crash.
    let mut net = Net::new(spec.topology.clone());
    for (i, f) in spec.faults.iter().enumerate() {
        if matches!(f.kind, FaultKind::Outage { .. }) {
            let down = net.activate(i as u32, 0, f.kind.clone()).went_down;
            net.deactivate(i as u32);
            if let Some(a) = (0..n).find(|&a| services[a].is_some() && down.contains(&nodes[a])) {
                return Err(Error::OwnServiceDown { name: f.name.clone(), actor: actors[a].name.clone() });
            }
        }
    }
    let shared = Rc::new(RefCell::new(Shared {
        actors,
        down: vec![false; n],
        crashed: vec![false; n],
        boot: vec![false; n],
        wake: (0..n).map(|_| Rc::new(Notify::new())).collect(),
        net: Net::new(spec.topology.clone()),
        messages: 0,
        dropped_on_arrival: 0,
        dropped: 0,
    }));
    let end = Duration::from_nanos(spec.duration) + opts.drain;
    let mut sim = turmoil::Builder::new()
        .simulation_duration(end + Duration::from_secs(1))
        .tick_duration(opts.tick)
        .min_message_latency(opts.latency)
        .max_message_latency(opts.latency)
        .udp_capacity(1 << 20)
        .epoch(std::time::UNIX_EPOCH)
        .rng_seed(opts.seed)
        .build();
    let names: Rc<Vec<String>> = Rc::new((0..n).map(host_name).collect());
    for (i, name) in names.iter().enumerate() {
        match services[i].clone() {
            Some(service) => sim.host(name.as_str(), move || service(ActorId(i as u32))),
            None => {
                let (shared, names) = (shared.clone(), names.clone());
                sim.host(name.as_str(), move || host(i as u32, shared.clone(), names.clone()));
            }
        }
    }
    // The run ends when the clients do: this one at the scenario's end plus the drain.
    sim.client("clock", async move {
        tokio::time::sleep(end).await;
        Ok(())
    });
    if !spec.faults.is_empty() {
        let (faults, topo, shared, names) = (spec.faults.clone(), spec.topology.clone(), shared.clone(), names.clone());
        sim.client("faults", controller(faults, topo, nodes, shared, names));
    }
    sim.run().map_err(|e| Error::Turmoil(e.to_string()))?;
    drop(sim);
    let shared = Rc::try_unwrap(shared).map_err(|_| Error::Turmoil("a host outlived the run".into()))?.into_inner();
    Ok(Outcome {
        actors: shared.actors,
        messages: shared.messages,
        dropped_on_arrival: shared.dropped_on_arrival,
        dropped: shared.dropped,
    })
}

/// The node of actor `to`.
fn nodes_of(actors: &[Actor], to: ActorId) -> NodeId {
    actors[to.0 as usize].node
}

/// Simulated time now, ns.
fn now() -> Nanos {
    turmoil::sim_elapsed().expect("inside the simulation").as_nanos() as Nanos
}

/// Sleeps until simulated time `t` (or the tick after it).
async fn sleep_until(t: Nanos) {
    tokio::time::sleep(Duration::from_nanos(t.saturating_sub(now()))).await;
}

/// Carries out the fault timeline: each fault's start and end at its time, in the engine's
/// order (by time, then starts and ends as the scenario lists the faults).
async fn controller(
    faults: Vec<faultline_models::spec::FaultSpec>,
    topo: Topology,
    nodes: Vec<NodeId>,
    shared: Rc<RefCell<Shared>>,
    names: Rc<Vec<String>>,
) -> turmoil::Result {
    let mut events: Vec<(Nanos, usize, usize, bool)> = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        events.push((f.start, events.len(), i, true));
        if let Some(e) = f.end {
            events.push((e, events.len(), i, false));
        }
    }
    events.sort();
    // Partitions overlap (a pair of hosts is cut while any of them cuts it): this map counts
    // them for turmoil; the shared `Net` counts everything else as the engine's does.
    let mut cut: BTreeMap<(usize, usize), u32> = BTreeMap::new();
    let inside = |scopes: &[Scope], n: NodeId| scopes.iter().any(|s| s.contains(&topo, n));
    for (at, _, i, start) in events {
        sleep_until(at).await;
        let f = &faults[i];
        let mut s = shared.borrow_mut();
        let now = now();
        if let (true, FaultKind::Flush { scope }) = (start, &f.kind) {
            flush_caches(&mut s.actors, &topo, scope);
        }
        let t = if start {
            s.net.activate(i as u32, faultline_sim::rng::fnv1a64(f.name.as_bytes()), f.kind.clone())
        } else {
            s.net.deactivate(i as u32)
        };
        for (a, node) in nodes.iter().enumerate() {
            if t.went_down.contains(node) {
                s.down[a] = true;
                s.crashed[a] = true;
                s.actors[a].comp.crash(now);
                s.wake[a].notify_one();
            } else if t.came_up.contains(node) {
                s.down[a] = false;
                s.boot[a] = true;
                s.wake[a].notify_one();
            }
        }
        if let FaultKind::Partition { link } = &f.kind {
            for (a, &na) in nodes.iter().enumerate() {
                for (b, &nb) in nodes.iter().enumerate() {
                    let cuts = (inside(&link.a, na) && inside(&link.b, nb))
                        || (!link.one_way && inside(&link.b, na) && inside(&link.a, nb));
                    if !cuts {
                        continue;
                    }
                    let count = cut.entry((a, b)).or_default();
                    if start {
                        *count += 1;
                        if *count == 1 {
                            turmoil::partition_oneway(names[a].as_str(), names[b].as_str());
                        }
                    } else {
                        *count -= 1;
                        if *count == 0 {
                            turmoil::repair_oneway(names[a].as_str(), names[b].as_str());
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// One actor's service: its datagrams, its timers and what the fault controller did to it, in
/// a loop, until the run ends.
async fn host(id: u32, shared: Rc<RefCell<Shared>>, names: Rc<Vec<String>>) -> turmoil::Result {
    let me = id as usize;
    let sock = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?;
    let peers: Vec<SocketAddr> = names.iter().map(|n| SocketAddr::new(turmoil::lookup(n.as_str()), PORT)).collect();
    let wake = shared.borrow().wake[me].clone();
    let mut out = Outbox::default();
    // Pending timers by (due, order set): fired in that order, as the engine's queue would.
    let mut timers: BTreeMap<(Nanos, u64), Timer> = BTreeMap::new();
    let mut order = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    // Messages received and not yet handed over: (arrival time, sender, message).
    let mut inbox: VecDeque<(Nanos, u32, Msg)> = VecDeque::new();
    // Messages sent and waiting out their link's latency, by (due, order sent).
    let mut outgoing: BTreeMap<(Nanos, u64), (ActorId, Msg)> = BTreeMap::new();
    let node = shared.borrow().actors[me].node;
    let health = |s: &Shared| NodeHealth { slow_factor: s.net.slow_factor(node), error_rate: s.net.error_rate(node) };
    // The time of the component's last event: its clock never goes back (see below).
    let mut last = now();
    shared.borrow_mut().actors[me].comp.boot(last, &mut out);
    loop {
        for (after, timer) in out.timers.drain(..) {
            timers.insert((last.saturating_add(after), order), timer);
            order += 1;
        }
        {
            // Each send's fate, drawn from the actor's streams in the order it sent them.
            let mut s = shared.borrow_mut();
            let s = &mut *s;
            for (to, msg) in out.sends.drain(..) {
                let to_node = nodes_of(&s.actors, to);
                match s.actors[me].route(&s.net, to_node) {
                    Verdict::Deliver { delay } => {
                        outgoing.insert((last.saturating_add(delay), order), (to, msg));
                        order += 1;
                    }
                    Verdict::Drop(_) => s.dropped += 1,
                }
            }
        }
        while let Some(entry) = outgoing.first_entry().filter(|e| e.key().0 <= now()) {
            let (to, msg) = entry.remove();
            sock.send_to(&encode(ActorId(id), &msg), peers[to.0 as usize]).await?;
            shared.borrow_mut().messages += 1;
        }
        // What the fault controller did while this host waited (here, after the last `await`
        // before the component is called again): a crash takes its timers and unread messages
        // with it, as a crash bumps an actor's epoch in the engine; a restart boots it.
        {
            let mut s = shared.borrow_mut();
            if std::mem::take(&mut s.crashed[me]) {
                timers.clear();
                inbox.clear();
                // Sent before the crash: on their way already, as in the engine.
            }
            if std::mem::take(&mut s.boot[me]) {
                last = last.max(now());
                s.actors[me].comp.boot(last, &mut out);
                continue;
            }
        }
        // What comes first: the earliest due timer, or the earliest message received (at the
        // tick it arrived). A timer wakes on the tick after it is due, so a message of that
        // tick may be waiting too: the timer, due before it, goes first, as in the engine.
        let due = timers.keys().next().map(|&(due, _)| due).filter(|&d| d <= now());
        if let Some(due) = due.filter(|&d| inbox.front().is_none_or(|&(at, _, _)| d <= at)) {
            let timer = timers.pop_first().expect("a due timer").1;
            // Its event happens when it was due (or at the component's last event, if that
            // came in between), not when the tick woke it: otherwise every late wake-up would
            // shift what is scheduled from it (an open workload draws its next arrival from the
            // last one's time: half a tick a gap would thin the arrivals by a few percent).
            last = last.max(due);
            let mut s = shared.borrow_mut();
            let h = health(&s);
            s.actors[me].comp.on_timer(last, &mut out, h, timer);
            continue;
        }
        if let Some((at, from, msg)) = inbox.pop_front() {
            last = last.max(at);
            let mut s = shared.borrow_mut();
            let h = health(&s);
            s.actors[me].comp.on_msg(last, &mut out, h, ActorId(from), msg);
            continue;
        }
        let next = timers
            .keys()
            .next()
            .map(|&(due, _)| due)
            .into_iter()
            .chain(outgoing.keys().next().map(|&(due, _)| due))
            .min();
        let sleep = async {
            match next {
                Some(due) => sleep_until(due).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = wake.notified() => {}
            got = sock.recv_from(&mut buf) => {
                let (n, _) = got?;
                let (from, msg) = decode(&buf[..n])?;
                let mut s = shared.borrow_mut();
                if s.down[me] {
                    s.dropped_on_arrival += 1;
                } else {
                    inbox.push_back((now(), from.0, msg));
                }
            }
            () = sleep => {}
        }
    }
}
