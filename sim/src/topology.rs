//! Failure domains: regions contain zones, zones contain nodes. Link latency depends on the
//! class of a link (same node, same zone, cross zone, cross region) with per-region-pair
//! overrides.

use std::sync::LazyLock;

use crate::dist::Dist;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionId(pub u16);
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZoneId(pub u16);
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

#[derive(Clone, Debug)]
pub struct Region {
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct Zone {
    pub name: String,
    pub region: RegionId,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub zone: ZoneId,
    pub region: RegionId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkClass {
    SameNode,
    SameZone,
    CrossZone,
    CrossRegion,
}

/// One-way latency per link class.
#[derive(Clone, Debug)]
pub struct LinkLatency {
    pub same_node: Dist,
    pub same_zone: Dist,
    pub cross_zone: Dist,
    pub cross_region: Dist,
}

impl Default for LinkLatency {
    /// Typical cloud figures: ~0.1 ms inside a zone, ~0.5–1 ms across zones, 30–80 ms across
    /// regions (one way, medians and 99th percentiles).
    fn default() -> Self {
        // Built once: a log-normal's sampling table takes some 30 µs to build, and every
        // scenario parse starts from these.
        static DEFAULT: LazyLock<LinkLatency> = LazyLock::new(|| LinkLatency {
            same_node: Dist::Constant { value: 0.0 },
            same_zone: Dist::lognormal_from_p50_p99(100e3, 400e3),
            cross_zone: Dist::lognormal_from_p50_p99(600e3, 2e6),
            cross_region: Dist::lognormal_from_p50_p99(40e6, 60e6),
        });
        DEFAULT.clone()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Topology {
    pub regions: Vec<Region>,
    pub zones: Vec<Zone>,
    pub nodes: Vec<Node>,
    pub latency: LinkLatency,
    /// Cross-region latency overrides, indexed `a * regions + b` (symmetric; filled by
    /// [`Topology::set_region_pair_latency`]).
    pair_override: Vec<Option<Dist>>,
}

impl Topology {
    pub fn new(latency: LinkLatency) -> Topology {
        Topology { latency, ..Topology::default() }
    }

    pub fn add_region(&mut self, name: &str) -> RegionId {
        assert!(self.nodes.is_empty(), "add all regions before nodes");
        let id = RegionId(u16::try_from(self.regions.len()).expect("at most 65535 regions"));
        self.regions.push(Region { name: name.to_owned() });
        let n = self.regions.len();
        // Re-lay the override matrix for the new size, keeping existing entries.
        let mut m = vec![None; n * n];
        for a in 0..n - 1 {
            for b in 0..n - 1 {
                m[a * n + b] = self.pair_override[a * (n - 1) + b].take();
            }
        }
        self.pair_override = m;
        id
    }

    pub fn add_zone(&mut self, region: RegionId, name: &str) -> ZoneId {
        let id = ZoneId(u16::try_from(self.zones.len()).expect("at most 65535 zones"));
        self.zones.push(Zone { name: name.to_owned(), region });
        id
    }

    pub fn add_node(&mut self, zone: ZoneId, name: &str) -> NodeId {
        let id = NodeId(u32::try_from(self.nodes.len()).expect("at most 2^32 nodes"));
        let region = self.zones[zone.0 as usize].region;
        self.nodes.push(Node { name: name.to_owned(), zone, region });
        id
    }

    pub fn set_region_pair_latency(&mut self, a: RegionId, b: RegionId, d: Dist) {
        let n = self.regions.len();
        self.pair_override[a.0 as usize * n + b.0 as usize] = Some(d.clone());
        self.pair_override[b.0 as usize * n + a.0 as usize] = Some(d);
    }

    /// The region pairs with their own latency, each once (`a < b`), in region order.
    pub fn region_pair_latencies(&self) -> impl Iterator<Item = (RegionId, RegionId, &Dist)> {
        let n = self.regions.len();
        (0..n).flat_map(move |a| {
            (a + 1..n).filter_map(move |b| {
                self.pair_override[a * n + b].as_ref().map(|d| (RegionId(a as u16), RegionId(b as u16), d))
            })
        })
    }

    pub fn region_id(&self, name: &str) -> Option<RegionId> {
        self.regions.iter().position(|r| r.name == name).map(|i| RegionId(i as u16))
    }

    pub fn zone_id(&self, name: &str) -> Option<ZoneId> {
        self.zones.iter().position(|z| z.name == name).map(|i| ZoneId(i as u16))
    }

    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == name).map(|i| NodeId(i as u32))
    }

    #[inline]
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0 as usize]
    }

    pub fn class(&self, a: NodeId, b: NodeId) -> LinkClass {
        if a == b { LinkClass::SameNode } else { self.zone_class(self.node(a).zone, self.node(b).zone) }
    }

    /// The class of a link between distinct nodes of zones `a` and `b`.
    fn zone_class(&self, a: ZoneId, b: ZoneId) -> LinkClass {
        if a == b {
            LinkClass::SameZone
        } else if self.zones[a.0 as usize].region == self.zones[b.0 as usize].region {
            LinkClass::CrossZone
        } else {
            LinkClass::CrossRegion
        }
    }

    /// The one-way latency between distinct nodes of zones `a` and `b`.
    pub fn zone_pair_latency(&self, a: ZoneId, b: ZoneId) -> &Dist {
        match self.zone_class(a, b) {
            LinkClass::SameZone => &self.latency.same_zone,
            LinkClass::CrossZone => &self.latency.cross_zone,
            _ => {
                let n = self.regions.len();
                let (ra, rb) = (self.zones[a.0 as usize].region.0 as usize, self.zones[b.0 as usize].region.0 as usize);
                self.pair_override[ra * n + rb].as_ref().unwrap_or(&self.latency.cross_region)
            }
        }
    }

    /// The one-way latency distribution of the link from `a` to `b`.
    #[inline]
    pub fn link_latency(&self, a: NodeId, b: NodeId) -> &Dist {
        if a == b { &self.latency.same_node } else { self.zone_pair_latency(self.node(a).zone, self.node(b).zone) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_overrides() {
        let mut t = Topology::new(LinkLatency::default());
        let us = t.add_region("us");
        let eu = t.add_region("eu");
        let ap = t.add_region("ap");
        t.set_region_pair_latency(us, eu, Dist::Constant { value: 7.0 });
        let (ua, ub, ea, aa) =
            (t.add_zone(us, "us-a"), t.add_zone(us, "us-b"), t.add_zone(eu, "eu-a"), t.add_zone(ap, "ap-a"));
        let n1 = t.add_node(ua, "n1");
        let n2 = t.add_node(ua, "n2");
        let n3 = t.add_node(ub, "n3");
        let n4 = t.add_node(ea, "n4");
        let n5 = t.add_node(aa, "n5");
        assert_eq!(t.class(n1, n1), LinkClass::SameNode);
        assert_eq!(t.class(n1, n2), LinkClass::SameZone);
        assert_eq!(t.class(n1, n3), LinkClass::CrossZone);
        assert_eq!(t.class(n1, n4), LinkClass::CrossRegion);
        assert_eq!(t.link_latency(n4, n1), &Dist::Constant { value: 7.0 });
        assert_eq!(t.link_latency(n5, n1), &t.latency.cross_region);
        let pairs: Vec<_> = t.region_pair_latencies().map(|(a, b, d)| (a, b, d.clone())).collect();
        assert_eq!(pairs, vec![(us, eu, Dist::Constant { value: 7.0 })], "each pair once");
    }
}
