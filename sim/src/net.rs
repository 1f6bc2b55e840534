//! The network and the fault state: which nodes are up, how slow they are, and what happens to
//! a message between two nodes right now.
//!
//! Faults are small rules. Node-scoped faults (outage, slowness, error rate) are folded into
//! per-node arrays when a fault starts or ends; link faults (partition, loss, added latency) are
//! kept as a short list that each message is checked against, giving a [`Verdict`].

use crate::dist::Dist;
use crate::rng::Stream;
use crate::time::Nanos;
use crate::topology::{NodeId, RegionId, Topology, ZoneId};

/// A set of nodes named by failure domain.
#[derive(Clone, Debug, PartialEq)]
pub enum Scope {
    All,
    Region(RegionId),
    Zone(ZoneId),
    Node(NodeId),
    /// An explicit set (e.g. all instances of a service).
    Nodes(Vec<NodeId>),
}

impl Scope {
    #[inline]
    pub fn contains(&self, topo: &Topology, node: NodeId) -> bool {
        match self {
            Scope::All => true,
            Scope::Region(r) => topo.node(node).region == *r,
            Scope::Zone(z) => topo.node(node).zone == *z,
            Scope::Node(n) => *n == node,
            Scope::Nodes(ns) => ns.contains(&node),
        }
    }
}

/// Two groups of nodes; a link rule applies to messages from `a` to `b`, and also from `b` to
/// `a` unless `one_way`.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub a: Vec<Scope>,
    pub b: Vec<Scope>,
    pub one_way: bool,
}

impl Link {
    #[inline]
    fn matches(&self, topo: &Topology, from: NodeId, to: NodeId) -> bool {
        let inside = |g: &[Scope], n| g.iter().any(|s| s.contains(topo, n));
        (inside(&self.a, from) && inside(&self.b, to))
            || (!self.one_way && inside(&self.b, from) && inside(&self.a, to))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    /// Nodes in scope are down: they neither send nor receive, and lose volatile state. A region
    /// outage, a zone outage and a node crash (restarted at the fault's end) are all this.
    Outage { scope: Scope },
    /// Messages across the link are dropped.
    Partition { link: Link },
    /// Each message across the link is dropped with `probability`.
    Loss { link: Link, probability: f64 },
    /// Each message across the link is delayed by an extra sample of `added` (its spread is the
    /// jitter).
    Latency { link: Link, added: Dist },
    /// Work on nodes in scope takes `factor` times longer.
    Slow { scope: Scope, factor: f64 },
    /// Service instances on nodes in scope fail each request with `probability` (a failing
    /// dependency).
    Errors { scope: Scope, probability: f64 },
    /// Caches on nodes in scope drop every entry when the fault starts (an operator flush, a
    /// cold restart); nothing happens at its end. The network ignores it; the world applies it.
    Flush { scope: Scope },
}

impl FaultKind {
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Outage { .. } => "outage",
            FaultKind::Partition { .. } => "partition",
            FaultKind::Loss { .. } => "loss",
            FaultKind::Latency { .. } => "latency",
            FaultKind::Slow { .. } => "slow",
            FaultKind::Errors { .. } => "errors",
            FaultKind::Flush { .. } => "cache-flush",
        }
    }
}

/// Why a message was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    NodeDown,
    Partitioned,
    Lost,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Deliver { delay: Nanos },
    Drop(DropReason),
}

/// Nodes whose up/down state changed when a fault started or ended.
#[derive(Debug, Default, PartialEq)]
pub struct Transitions {
    pub went_down: Vec<NodeId>,
    pub came_up: Vec<NodeId>,
}

/// Link latency by node pair, laid out for the lookup every message makes: a node's zone, and
/// the distribution of each ordered zone pair. Why: [`Topology::link_latency`] loads both
/// nodes' records and branches three ways on the link class, and which class a message takes
/// varies from message to message, so the branches mispredicted; here it is two small loads
/// and an index.
#[derive(Clone, Debug)]
struct Links {
    /// Zone of each node.
    node_zone: Vec<u16>,
    zones: usize,
    /// Index into `dists` by `zone(from) * zones + zone(to)`.
    by_zone_pair: Vec<u32>,
    /// `dists[0]` is the same-node latency; the rest are what the zone pairs name.
    dists: Vec<Dist>,
}

impl Links {
    fn new(topo: &Topology) -> Links {
        let zones = topo.zones.len();
        let mut dists = vec![topo.latency.same_node.clone()];
        let mut by_zone_pair = Vec::with_capacity(zones * zones);
        for a in 0..zones {
            for b in 0..zones {
                let d = topo.zone_pair_latency(ZoneId(a as u16), ZoneId(b as u16));
                // Equal distributions sample alike, so each is stored once.
                let i = dists.iter().position(|x| x == d).unwrap_or_else(|| {
                    dists.push(d.clone());
                    dists.len() - 1
                });
                by_zone_pair.push(u32::try_from(i).expect("fewer than 2^32 link distributions"));
            }
        }
        Links { node_zone: topo.nodes.iter().map(|n| n.zone.0).collect(), zones, by_zone_pair, dists }
    }

    #[inline]
    fn dist(&self, from: NodeId, to: NodeId) -> &Dist {
        let pair =
            usize::from(self.node_zone[from.0 as usize]) * self.zones + usize::from(self.node_zone[to.0 as usize]);
        // A select, not a branch: same-node messages are mixed in with the others.
        let i = if from == to { 0 } else { self.by_zone_pair[pair] };
        &self.dists[i as usize]
    }
}

/// A sender's streams for what link faults do to its messages, one per fault: the stream of
/// the key the fault was activated with ([`Net::activate`]) under a number of the
/// sender's own (`base`), so that removing another fault, as a shrink does, leaves its draws
/// as they were. Made the first time the fault acts on one of the sender's messages.
#[derive(Clone, Debug)]
pub struct FaultStreams {
    base: u64,
    rngs: Vec<(u64, Stream)>,
}

impl FaultStreams {
    pub fn new(base: u64) -> FaultStreams {
        FaultStreams { base, rngs: Vec::new() }
    }

    /// The stream of fault `key`.
    #[inline]
    pub fn rng(&mut self, key: u64) -> &mut Stream {
        match self.rngs.iter().position(|(k, _)| *k == key) {
            Some(i) => &mut self.rngs[i].1,
            None => self.first(key),
        }
    }

    #[cold]
    #[inline(never)]
    fn first(&mut self, key: u64) -> &mut Stream {
        self.rngs.push((key, Stream::keyed(self.base, key)));
        &mut self.rngs.last_mut().expect("just pushed").1
    }
}

/// Network and fault state of one run.
#[derive(Clone, Debug)]
pub struct Net {
    /// Fixed once the net is built ([`Links`] is derived from it).
    topo: Topology,
    links: Links,
    /// Active faults in activation order, keyed by the caller's fault id.
    active: Vec<(u32, FaultKind)>,
    down: Vec<bool>,
    slow: Vec<f64>,
    errors: Vec<f64>,
    /// Each active fault's key for its draws ([`Net::activate`]), by index into `active`.
    keys: Vec<u64>,
    /// Indices into `active` of link rules, so healthy messages skip node-scoped faults.
    link_rules: Vec<usize>,
}

impl Net {
    pub fn new(topo: Topology) -> Net {
        let n = topo.nodes.len();
        Net {
            links: Links::new(&topo),
            topo,
            active: Vec::new(),
            down: vec![false; n],
            slow: vec![1.0; n],
            errors: vec![0.0; n],
            keys: Vec::new(),
            link_rules: Vec::new(),
        }
    }

    pub fn topo(&self) -> &Topology {
        &self.topo
    }

    #[inline]
    pub fn is_up(&self, node: NodeId) -> bool {
        !self.down[node.0 as usize]
    }

    /// Service-time multiplier of `node` (1.0 when healthy).
    #[inline]
    pub fn slow_factor(&self, node: NodeId) -> f64 {
        self.slow[node.0 as usize]
    }

    /// Probability that a component on `node` fails a request because of an injected error fault.
    #[inline]
    pub fn error_rate(&self, node: NodeId) -> f64 {
        self.errors[node.0 as usize]
    }

    pub fn active(&self) -> impl Iterator<Item = &(u32, FaultKind)> {
        self.active.iter()
    }

    /// Starts fault `id`; a link fault draws, for each sender, from the sender's stream for
    /// `key` ([`FaultStreams`]). Returns the nodes that went down.
    pub fn activate(&mut self, id: u32, key: u64, kind: FaultKind) -> Transitions {
        self.active.push((id, kind));
        self.keys.push(key);
        self.recompute()
    }

    /// Ends fault `id` (no-op if it is not active). Returns the nodes that came back up.
    pub fn deactivate(&mut self, id: u32) -> Transitions {
        if let Some(i) = self.active.iter().position(|(i, _)| *i == id) {
            self.active.remove(i);
            self.keys.remove(i);
        }
        self.recompute()
    }

    /// Rebuilds the per-node arrays from the active list, in activation order so that the
    /// floating-point products are the same in every run.
    fn recompute(&mut self) -> Transitions {
        let n = self.topo.nodes.len();
        let mut down = vec![false; n];
        self.slow.iter_mut().for_each(|s| *s = 1.0);
        self.errors.iter_mut().for_each(|e| *e = 0.0);
        self.link_rules.clear();
        for (i, (_, kind)) in self.active.iter().enumerate() {
            match kind {
                FaultKind::Outage { scope } => each_in(&self.topo, scope, |k| down[k] = true),
                FaultKind::Slow { scope, factor } => each_in(&self.topo, scope, |k| self.slow[k] *= factor),
                FaultKind::Errors { scope, probability } => {
                    // Independent error sources combine: 1 - Π(1 - p).
                    each_in(&self.topo, scope, |k| self.errors[k] = 1.0 - (1.0 - self.errors[k]) * (1.0 - probability))
                }
                FaultKind::Partition { .. } | FaultKind::Loss { .. } | FaultKind::Latency { .. } => {
                    self.link_rules.push(i)
                }
                FaultKind::Flush { .. } => {}
            }
        }
        let mut t = Transitions::default();
        for (k, (&was, &now)) in self.down.iter().zip(down.iter()).enumerate() {
            if !was && now {
                t.went_down.push(NodeId(k as u32));
            } else if was && !now {
                t.came_up.push(NodeId(k as u32));
            }
        }
        self.down = down;
        t
    }

    /// Decides the fate of one message sent now from `from` to `to`. Its link latency is drawn
    /// from the sender's stream `s`, what each active link fault does to it (loss, added
    /// latency) from the sender's stream for that fault (`f`): so a fault, or a change to one,
    /// leaves the latencies of the sender's later messages as they were, and what other faults
    /// do to them.
    // Always inlined: with a second caller (`Actor::route`, for the turmoil cross-check) the
    // optimiser outlined it from the world's send loop, +2.6% instructions on every scenario.
    #[inline(always)]
    pub fn route(&self, from: NodeId, to: NodeId, s: &mut Stream, f: &mut FaultStreams) -> Verdict {
        if self.down[from.0 as usize] || self.down[to.0 as usize] {
            return Verdict::Drop(DropReason::NodeDown);
        }
        let delay = self.links.dist(from, to).sample(s);
        if self.link_rules.is_empty() { Verdict::Deliver { delay } } else { self.link_faults(from, to, delay, f) }
    }

    /// What the active link faults do to a message that would take `delay`. Out of line: the
    /// path of a healthy network stays as it was.
    #[cold]
    #[inline(never)]
    fn link_faults(&self, from: NodeId, to: NodeId, mut delay: Nanos, f: &mut FaultStreams) -> Verdict {
        for &i in &self.link_rules {
            let key = self.keys[i];
            match &self.active[i].1 {
                FaultKind::Partition { link } if link.matches(&self.topo, from, to) => {
                    return Verdict::Drop(DropReason::Partitioned);
                }
                FaultKind::Loss { link, probability }
                    if link.matches(&self.topo, from, to) && f.rng(key).chance(*probability) =>
                {
                    return Verdict::Drop(DropReason::Lost);
                }
                FaultKind::Latency { link, added } if link.matches(&self.topo, from, to) => {
                    delay = delay.saturating_add(added.sample(f.rng(key)));
                }
                _ => {}
            }
        }
        Verdict::Deliver { delay }
    }
}

fn each_in(topo: &Topology, scope: &Scope, mut f: impl FnMut(usize)) {
    for k in 0..topo.nodes.len() {
        if scope.contains(topo, NodeId(k as u32)) {
            f(k)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::LinkLatency;

    fn two_regions() -> (Net, NodeId, NodeId, NodeId) {
        let mut t = Topology::new(LinkLatency {
            same_node: Dist::Constant { value: 0.0 },
            same_zone: Dist::Constant { value: 1.0 },
            cross_zone: Dist::Constant { value: 2.0 },
            cross_region: Dist::Constant { value: 100.0 },
        });
        let us = t.add_region("us");
        let eu = t.add_region("eu");
        let (za, zb, ze) = (t.add_zone(us, "us-a"), t.add_zone(us, "us-b"), t.add_zone(eu, "eu-a"));
        let a = t.add_node(za, "a");
        let b = t.add_node(zb, "b");
        let e = t.add_node(ze, "e");
        (Net::new(t), a, b, e)
    }

    #[test]
    fn link_table_agrees_with_the_topology() {
        // Three regions (one pair overridden), zones of one and two nodes: every class.
        let mut t = Topology::new(LinkLatency::default());
        let (us, eu, ap) = (t.add_region("us"), t.add_region("eu"), t.add_region("ap"));
        t.set_region_pair_latency(us, eu, Dist::Constant { value: 7.0 });
        t.set_region_pair_latency(eu, ap, Dist::Constant { value: 9.0 });
        let zones = [t.add_zone(us, "us-a"), t.add_zone(us, "us-b"), t.add_zone(eu, "eu-a"), t.add_zone(ap, "ap-a")];
        for (i, z) in zones.iter().enumerate() {
            for k in 0..=i % 2 {
                t.add_node(*z, &format!("n{i}{k}"));
            }
        }
        let net = Net::new(t);
        let n = net.topo().nodes.len() as u32;
        for a in (0..n).map(NodeId) {
            for b in (0..n).map(NodeId) {
                assert_eq!(net.links.dist(a, b), net.topo().link_latency(a, b), "{a:?} → {b:?}");
            }
        }
        // Each distinct distribution is stored once: same node, same zone, cross zone, cross
        // region and the two overrides.
        assert_eq!(net.links.dists.len(), 6);
    }

    #[test]
    fn outage_takes_nodes_down_and_heals() {
        let (mut net, a, _b, e) = two_regions();
        let mut s = Stream::new(1, "t");
        let mut f = FaultStreams::new(1);
        let t = net.activate(1, 1, FaultKind::Outage { scope: Scope::Region(RegionId(1)) });
        assert_eq!(t.went_down, vec![e]);
        assert_eq!(net.route(a, e, &mut s, &mut f), Verdict::Drop(DropReason::NodeDown));
        // Overlapping outages: the node stays down until both end.
        net.activate(2, 2, FaultKind::Outage { scope: Scope::Node(e) });
        assert!(net.deactivate(1).came_up.is_empty());
        assert_eq!(net.deactivate(2).came_up, vec![e]);
        assert_eq!(net.route(a, e, &mut s, &mut f), Verdict::Deliver { delay: 100 });
    }

    #[test]
    fn one_way_partition_drops_one_direction() {
        let (mut net, a, b, e) = two_regions();
        let mut s = Stream::new(1, "t");
        let mut f = FaultStreams::new(1);
        let link = Link { a: vec![Scope::Region(RegionId(0))], b: vec![Scope::Region(RegionId(1))], one_way: true };
        net.activate(7, 7, FaultKind::Partition { link });
        assert_eq!(net.route(a, e, &mut s, &mut f), Verdict::Drop(DropReason::Partitioned));
        assert_eq!(net.route(e, a, &mut s, &mut f), Verdict::Deliver { delay: 100 });
        assert_eq!(net.route(a, b, &mut s, &mut f), Verdict::Deliver { delay: 2 });
    }

    #[test]
    fn latency_adds_and_slow_and_errors_compose() {
        let (mut net, a, b, _e) = two_regions();
        let mut s = Stream::new(1, "t");
        let mut f = FaultStreams::new(1);
        let link = Link { a: vec![Scope::Node(a)], b: vec![Scope::All], one_way: false };
        net.activate(1, 1, FaultKind::Latency { link, added: Dist::Constant { value: 50.0 } });
        assert_eq!(net.route(b, a, &mut s, &mut f), Verdict::Deliver { delay: 52 });
        net.activate(2, 2, FaultKind::Slow { scope: Scope::Zone(ZoneId(0)), factor: 3.0 });
        net.activate(3, 3, FaultKind::Slow { scope: Scope::All, factor: 2.0 });
        assert_eq!(net.slow_factor(a), 6.0);
        assert_eq!(net.slow_factor(b), 2.0);
        net.activate(4, 4, FaultKind::Errors { scope: Scope::All, probability: 0.5 });
        net.activate(5, 5, FaultKind::Errors { scope: Scope::All, probability: 0.5 });
        assert_eq!(net.error_rate(b), 0.75);
    }

    #[test]
    fn loss_drops_about_the_right_fraction() {
        let (mut net, a, b, _e) = two_regions();
        let mut s = Stream::new(9, "loss");
        let mut f = FaultStreams::new(9);
        let link = Link { a: vec![Scope::All], b: vec![Scope::All], one_way: false };
        net.activate(1, 1, FaultKind::Loss { link, probability: 0.2 });
        let n = 50_000;
        let lost = (0..n).filter(|_| matches!(net.route(a, b, &mut s, &mut f), Verdict::Drop(_))).count();
        // Binomial(50000, 0.2): sd ≈ 89; allow 5 sd.
        assert!((lost as i64 - 10_000).abs() < 450, "{lost}");
    }

    #[test]
    fn a_link_fault_leaves_what_another_does_as_it_was() {
        // a sends to b and to e in turn; fault 2 loses a third of what goes to b. Whether fault
        // 1 also loses half of what goes to e changes nothing of what fault 2 does.
        let (mut net, a, b, e) = two_regions();
        let link = |to: NodeId| Link { a: vec![Scope::Node(a)], b: vec![Scope::Node(to)], one_way: true };
        net.activate(2, 2, FaultKind::Loss { link: link(b), probability: 1.0 / 3.0 });
        let to_b = |net: &Net| {
            let (mut s, mut f) = (Stream::new(5, "net"), FaultStreams::new(5));
            (0..600)
                .filter_map(|i| {
                    let to = if i % 2 == 0 { b } else { e };
                    let v = net.route(a, to, &mut s, &mut f);
                    (to == b).then_some(v)
                })
                .collect::<Vec<_>>()
        };
        let alone = to_b(&net);
        net.activate(1, 1, FaultKind::Loss { link: link(e), probability: 0.5 });
        assert_eq!(to_b(&net), alone);
        assert!(alone.iter().filter(|v| **v == Verdict::Drop(DropReason::Lost)).count() > 50);
    }

    #[test]
    fn link_faults_draw_on_their_own_stream_and_leave_the_latencies_as_they_were() {
        // Log-normal link latencies; a loss fault of probability 0 and a latency fault adding a
        // uniform draw between 0 and 0: each draws per message, yet each message is delivered
        // with the latency it had without them (their draws come from the fault stream).
        let mut t = Topology::new(LinkLatency::default());
        let r = t.add_region("r");
        let (za, zb) = (t.add_zone(r, "r-a"), t.add_zone(r, "r-b"));
        let (a, b) = (t.add_node(za, "a"), t.add_node(zb, "b"));
        let mut net = Net::new(t);
        let delays = |net: &Net| {
            let (mut s, mut f) = (Stream::new(3, "net"), FaultStreams::new(3));
            (0..1000).map(|_| net.route(a, b, &mut s, &mut f)).collect::<Vec<_>>()
        };
        let plain = delays(&net);
        let all = || Link { a: vec![Scope::All], b: vec![Scope::All], one_way: false };
        net.activate(1, 1, FaultKind::Loss { link: all(), probability: 0.0 });
        net.activate(2, 2, FaultKind::Latency { link: all(), added: Dist::Uniform { low: 0.0, high: 0.0 } });
        assert!(delays(&net) == plain, "the faults moved the latency draws");
    }
}
