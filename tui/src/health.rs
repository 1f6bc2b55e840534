//! Read-only views of a world for the topology pane: regions → zones → nodes with their health
//! (from the network's fault state) and load (from the components on them).

use faultline_models::World;
use faultline_models::world::Component;
use faultline_sim::net::{FaultKind, Link};
use faultline_sim::{NodeId, Topology};

/// Worst first when combined (`max`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Up,
    /// Slowed, failing requests, or behind added latency or loss.
    Degraded,
    /// Cut off from part of the world by a partition.
    Partitioned,
    Down,
}

impl Health {
    /// Four letters at most, so the topology columns line up; docs/tui.md explains them.
    pub fn word(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Degraded => "DEGR",
            Health::Partitioned => "PART",
            Health::Down => "DOWN",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    pub name: String,
    pub health: Health,
    /// Busy workers over workers of the components that have them (0–1).
    pub load: Option<f64>,
    /// Short notes: `leader`, `backlog 12`.
    pub note: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ZoneView {
    pub name: String,
    pub health: Health,
    pub nodes: Vec<NodeView>,
    pub up: usize,
    pub load: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RegionView {
    pub name: String,
    pub health: Health,
    pub zones: Vec<ZoneView>,
    pub up: usize,
    pub nodes: usize,
    pub load: Option<f64>,
}

fn in_link(topo: &Topology, link: &Link, node: NodeId) -> bool {
    link.a.iter().chain(&link.b).any(|s| s.contains(topo, node))
}

/// The health of one node under the active faults.
pub fn node_health(world: &World, node: NodeId) -> Health {
    let net = &world.net;
    if !net.is_up(node) {
        return Health::Down;
    }
    let mut h = Health::Up;
    if net.slow_factor(node) != 1.0 || net.error_rate(node) > 0.0 {
        h = Health::Degraded;
    }
    for (_, kind) in net.active() {
        match kind {
            FaultKind::Partition { link } if in_link(net.topo(), link, node) => return Health::Partitioned,
            FaultKind::Latency { link, .. } | FaultKind::Loss { link, .. } if in_link(net.topo(), link, node) => {
                h = Health::Degraded
            }
            _ => {}
        }
    }
    h
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for x in xs {
        sum += x;
        n += 1;
    }
    (n > 0).then(|| sum / n as f64)
}

/// Every region, zone and node of the world, in topology order.
pub fn topology(world: &World) -> Vec<RegionView> {
    let topo = world.net.topo();
    let mut nodes: Vec<NodeView> = topo
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| NodeView {
            name: n.name.clone(),
            health: node_health(world, NodeId(i as u32)),
            load: None,
            note: String::new(),
        })
        .collect();
    let mut loads: Vec<Vec<f64>> = vec![Vec::new(); nodes.len()];
    for a in &world.actors {
        let i = a.node.0 as usize;
        let up = nodes[i].health != Health::Down;
        match &a.comp {
            Component::Service(s) => loads[i].push(f64::from(s.busy()) / f64::from(s.workers().max(1))),
            Component::Replica(r) => {
                loads[i].push(f64::from(r.busy()) / f64::from(r.workers().max(1)));
                if r.is_leader() && up {
                    nodes[i].note = "leader".into();
                }
            }
            Component::Broker(b) => nodes[i].note = format!("backlog {}", b.backlog()),
            Component::Cache(c) => nodes[i].note = format!("{} keys", c.len()),
            Component::Participant(p) => {
                nodes[i].note = format!("{} done · {} undone", p.stats.applied, p.stats.compensated);
            }
            Component::Coordinator(_) => nodes[i].note = "saga coordinator".into(),
            Component::Balancer(_) | Component::Client(_) => {}
        }
    }
    for (n, l) in nodes.iter_mut().zip(&loads) {
        n.load = mean(l.iter().copied());
    }
    let mut zones: Vec<ZoneView> = topo
        .zones
        .iter()
        .map(|z| ZoneView { name: z.name.clone(), health: Health::Up, nodes: Vec::new(), up: 0, load: None })
        .collect();
    for (i, n) in nodes.into_iter().enumerate() {
        zones[topo.nodes[i].zone.0 as usize].nodes.push(n);
    }
    for z in &mut zones {
        summarise(&z.nodes, &mut z.health, &mut z.up, &mut z.load);
    }
    let mut regions: Vec<RegionView> = topo
        .regions
        .iter()
        .map(|r| RegionView {
            name: r.name.clone(),
            health: Health::Up,
            zones: Vec::new(),
            up: 0,
            nodes: 0,
            load: None,
        })
        .collect();
    for (i, z) in zones.into_iter().enumerate() {
        regions[topo.zones[i].region.0 as usize].zones.push(z);
    }
    for r in &mut regions {
        let all: Vec<NodeView> = r.zones.iter().flat_map(|z| z.nodes.iter().cloned()).collect();
        r.nodes = all.len();
        summarise(&all, &mut r.health, &mut r.up, &mut r.load);
    }
    regions
}

/// A group's health: down when every node is, otherwise the worst of its nodes with a down
/// node counting as degraded; its load is the mean over nodes that report one.
fn summarise(nodes: &[NodeView], health: &mut Health, up: &mut usize, load: &mut Option<f64>) {
    *up = nodes.iter().filter(|n| n.health != Health::Down).count();
    *health = if !nodes.is_empty() && *up == 0 {
        Health::Down
    } else {
        nodes
            .iter()
            .map(|n| if n.health == Health::Down { Health::Degraded } else { n.health })
            .max()
            .unwrap_or(Health::Up)
    };
    *load = mean(nodes.iter().filter_map(|n| n.load));
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_scenarios::{Scenario, Source, catalog};

    #[test]
    fn outages_and_partitions_show_where_they_act() {
        let text = catalog::get("cross-region-outage").unwrap().text;
        let sc = Scenario::parse(&Source { file: "x".into(), text: text.into() }).unwrap();
        let c = sc.variant(None).unwrap();
        let mut w = World::new(c.spec, 1, c.budget);
        w.run_until(1_000_000_000).unwrap();
        let t = topology(&w);
        assert_eq!(
            t.iter().map(|r| (r.name.as_str(), r.health)).collect::<Vec<_>>(),
            [("us-east", Health::Up), ("eu-west", Health::Up)]
        );
        assert!(t[0].load.is_some_and(|l| l > 0.0), "the front-end is busy");
        let (_, kind) = sc.fault_kind(None, r#"{ kind = "region-outage", region = "eu-west" }"#).unwrap();
        let down = w.inject("eu down", kind, None);
        let (_, kind) =
            sc.fault_kind(None, r#"{ kind = "partition", from = ["us-east-a"], to = ["us-east-b"] }"#).unwrap();
        w.inject("split", kind, None);
        w.run_until(1_100_000_000).unwrap();
        let t = topology(&w);
        assert_eq!((t[1].health, t[1].up), (Health::Down, 0));
        assert_eq!(t[0].health, Health::Partitioned);
        assert!(t[1].zones.iter().all(|z| z.health == Health::Down));
        w.heal(down);
        w.run_until(1_200_000_000).unwrap();
        assert_eq!(topology(&w)[1].health, Health::Up);
    }
}
