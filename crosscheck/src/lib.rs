//! The engine's component models run as real async services: every actor of a world is a
//! [turmoil] host, a tokio task that receives its messages as UDP datagrams over turmoil's
//! simulated network, sleeps on tokio timers, and hands both to the very component code the
//! engine calls ([`Component::on_msg`], [`Component::on_timer`], [`Component::boot`]), with the
//! same random streams. What the component puts in its [`Outbox`] is sent as datagrams and
//! slept on as timers.
//!
//! So the same scenario and seed run twice through one model under two schedulers: the engine's
//! exact event queue, and tokio's timer wheel under turmoil's ticks. A difference beyond the
//! time rounding of the second (timers fire on the next millisecond tick, messages take whole
//! ticks) is a bug in one of them — an event the engine drops or misorders, or state a
//! component keeps outside its own rules. `tests/` compares the two.
//!
//! What this host does not do (it refuses such a scenario rather than run it differently): the
//! scenario's fault timeline and link latencies. Messages take turmoil's constant latency, nodes
//! never slow down or fail, and a scenario with `[[fault]]`s is an error.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use faultline_models::WorldSpec;
use faultline_models::msg::{ActorId, Msg, Outbox, Timer};
use faultline_models::service::NodeHealth;
use faultline_models::world::{Actor, World};
use faultline_sim::Nanos;
use turmoil::net::UdpSocket;

/// The port every actor's host listens on.
const PORT: u16 = 7000;

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
    #[error("the turmoil host does not apply fault timelines: the scenario has {0} fault(s)")]
    Faults(usize),
    #[error("turmoil: {0}")]
    Turmoil(String),
}

/// The actors as the run left them (their figures: a client's `stats`, a service's).
pub struct Outcome {
    pub actors: Vec<Actor>,
    /// Datagrams sent in all.
    pub messages: u64,
}

/// Runs `spec` with every actor a turmoil host.
pub fn run(spec: &WorldSpec, opts: &Options) -> Result<Outcome, Error> {
    if !spec.faults.is_empty() {
        return Err(Error::Faults(spec.faults.len()));
    }
    // Shared by the hosts, which all run on this thread, one at a time; each borrows only its
    // own actor, and never across an `await`.
    let actors = Rc::new(RefCell::new(World::unbooted_actors(spec, opts.seed)));
    let n = actors.borrow().len();
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
    let names: Vec<String> = (0..n).map(|i| format!("actor-{i}")).collect();
    let sent = Rc::new(RefCell::new(0u64));
    for (i, name) in names.iter().enumerate() {
        let (actors, names, sent) = (actors.clone(), names.clone(), sent.clone());
        sim.host(name.as_str(), move || host(i as u32, actors.clone(), names.clone(), sent.clone()));
    }
    // The run ends when this client does: at the scenario's end plus the drain.
    sim.client("clock", async move {
        tokio::time::sleep(end).await;
        Ok(())
    });
    sim.run().map_err(|e| Error::Turmoil(e.to_string()))?;
    drop(sim);
    let actors = Rc::try_unwrap(actors).map_err(|_| Error::Turmoil("a host outlived the run".into()))?.into_inner();
    let messages = *sent.borrow();
    Ok(Outcome { actors, messages })
}

/// Simulated time now, ns.
fn now() -> Nanos {
    turmoil::sim_elapsed().expect("inside the simulation").as_nanos() as Nanos
}

const HEALTHY: NodeHealth = NodeHealth { slow_factor: 1.0, error_rate: 0.0 };

/// One actor's service: its datagrams and its timers, in a loop, until the run ends.
async fn host(id: u32, actors: Rc<RefCell<Vec<Actor>>>, names: Vec<String>, sent: Rc<RefCell<u64>>) -> turmoil::Result {
    let sock = UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?;
    let peers: Vec<SocketAddr> = names.iter().map(|n| SocketAddr::new(turmoil::lookup(n.as_str()), PORT)).collect();
    let mut out = Outbox::default();
    // Pending timers by (due, order set): fired in that order, as the engine's queue would.
    let mut timers: BTreeMap<(Nanos, u64), Timer> = BTreeMap::new();
    let mut order = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    // Messages received and not yet handed over: (arrival time, sender, message).
    let mut inbox: VecDeque<(Nanos, u32, Msg)> = VecDeque::new();
    // The time of the component's last event: its clock never goes back (see below).
    let mut last = now();
    actors.borrow_mut()[id as usize].comp.boot(last, &mut out);
    loop {
        let t = last;
        for (after, timer) in out.timers.drain(..) {
            timers.insert((t.saturating_add(after), order), timer);
            order += 1;
        }
        for (to, msg) in out.sends.drain(..) {
            let bytes = serde_json::to_vec(&(id, msg)).expect("a message serialises");
            sock.send_to(&bytes, peers[to.0 as usize]).await?;
            *sent.borrow_mut() += 1;
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
            actors.borrow_mut()[id as usize].comp.on_timer(last, &mut out, HEALTHY, timer);
            continue;
        }
        if let Some((at, from, msg)) = inbox.pop_front() {
            last = last.max(at);
            actors.borrow_mut()[id as usize].comp.on_msg(last, &mut out, HEALTHY, ActorId(from), msg);
            continue;
        }
        let next = timers.keys().next().map(|&(due, _)| due);
        let sleep = async {
            match next {
                Some(due) => tokio::time::sleep(Duration::from_nanos(due.saturating_sub(now()))).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            got = sock.recv_from(&mut buf) => {
                let (n, _) = got?;
                let (from, msg): (u32, Msg) = serde_json::from_slice(&buf[..n])?;
                inbox.push_back((now(), from, msg));
            }
            () = sleep => {}
        }
    }
}
