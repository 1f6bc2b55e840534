//! The fault menu: what can be injected into a world now, as `[[fault]]` tables of the scenario
//! format (so an injected fault is validated and replayed exactly like a scheduled one), and
//! which active faults can be healed.

use faultline_models::World;
use faultline_sim::Nanos;
use faultline_sim::net::FaultKind;

#[derive(Clone, Debug, PartialEq)]
pub enum MenuAction {
    /// A `[[fault]]` table as inline TOML, without times.
    Inject(String),
    /// End the fault with this index in `World::faults()`.
    Heal(usize),
}

#[derive(Clone, Debug, PartialEq)]
pub struct MenuItem {
    pub section: &'static str,
    pub label: String,
    pub action: MenuAction,
}

/// How long an injected fault lasts (cycled with `d`).
pub const DURATIONS: [Option<Nanos>; 4] = [None, Some(5_000_000_000), Some(10_000_000_000), Some(30_000_000_000)];

pub fn duration_label(d: Option<Nanos>) -> String {
    match d {
        None => "until healed".into(),
        Some(ns) => format!("{} s", ns / 1_000_000_000),
    }
}

/// Added one-way latency offered for a link.
const ADDED_MS: i64 = 100;

fn table(entries: &[(&str, toml::Value)]) -> String {
    let t: toml::Table = entries.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    toml::Value::Table(t).to_string()
}

fn s(v: &str) -> toml::Value {
    toml::Value::String(v.to_owned())
}

fn list(v: &str) -> toml::Value {
    toml::Value::Array(vec![s(v)])
}

/// The menu for `world` now: the faults of `healable` to heal first (see
/// [`crate::driver::Run::healable`]), then faults to inject (regions, zones, partitions and
/// added latency between regions — or between zones when there is one region —, node crashes).
pub fn items(world: &World, healable: &[usize]) -> Vec<MenuItem> {
    let mut out = Vec::new();
    let faults = world.faults();
    for &i in healable {
        let Some(f) = faults.get(i) else { continue };
        let how = if i >= world.spec.faults.len() { "injected" } else { "scheduled" };
        let starting = !world.net.active().any(|(id, _)| *id as usize == i);
        out.push(MenuItem {
            section: "heal",
            label: format!("end `{}` ({}, {how}{})", f.name, f.kind.name(), if starting { ", starting" } else { "" }),
            action: MenuAction::Heal(i),
        });
    }
    let topo = world.net.topo();
    for r in &topo.regions {
        out.push(MenuItem {
            section: "region outage",
            label: format!("take region {} down", r.name),
            action: MenuAction::Inject(table(&[
                ("name", s(&format!("{} down", r.name))),
                ("kind", s("region-outage")),
                ("region", s(&r.name)),
            ])),
        });
    }
    for z in &topo.zones {
        out.push(MenuItem {
            section: "zone outage",
            label: format!("take zone {} down", z.name),
            action: MenuAction::Inject(table(&[
                ("name", s(&format!("{} down", z.name))),
                ("kind", s("zone-outage")),
                ("zone", s(&z.name)),
            ])),
        });
    }
    let groups: Vec<&str> = if topo.regions.len() > 1 {
        topo.regions.iter().map(|r| r.name.as_str()).collect()
    } else {
        topo.zones.iter().map(|z| z.name.as_str()).collect()
    };
    for (i, a) in groups.iter().enumerate() {
        for b in &groups[i + 1..] {
            out.push(MenuItem {
                section: "partition",
                label: format!("partition {a} | {b}"),
                action: MenuAction::Inject(table(&[
                    ("name", s(&format!("{a} | {b}"))),
                    ("kind", s("partition")),
                    ("from", list(a)),
                    ("to", list(b)),
                ])),
            });
        }
    }
    for (i, a) in groups.iter().enumerate() {
        for b in &groups[i + 1..] {
            out.push(MenuItem {
                section: "latency",
                label: format!("+{ADDED_MS} ms between {a} and {b}"),
                action: MenuAction::Inject(table(&[
                    ("name", s(&format!("+{ADDED_MS}ms {a}-{b}"))),
                    ("kind", s("latency")),
                    ("from", list(a)),
                    ("to", list(b)),
                    ("added_ms", toml::Value::Integer(ADDED_MS)),
                ])),
            });
        }
    }
    for n in &topo.nodes {
        out.push(MenuItem {
            section: "crash",
            label: format!("crash node {}", n.name),
            action: MenuAction::Inject(table(&[
                ("name", s(&format!("{} crash", n.name))),
                ("kind", s("node-crash")),
                ("node", s(&n.name)),
            ])),
        });
    }
    out
}

/// Whether an item is an outage of exactly this region (for finding it by name).
pub fn is_region_outage(item: &MenuItem, region: &str) -> bool {
    item.section == "region outage" && item.label == format!("take region {region} down")
}

/// Indices of the faults in force.
pub fn active_ids(world: &World) -> Vec<usize> {
    world.net.active().map(|(id, _)| *id as usize).collect()
}

/// Kinds of active faults, for tests and labels.
pub fn active_kinds(world: &World) -> Vec<&'static str> {
    world.net.active().map(|(_, k): &(u32, FaultKind)| k.name()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_scenarios::{Scenario, Source, catalog};

    #[test]
    fn every_item_compiles_against_the_scenario() {
        for entry in catalog::CATALOG {
            let sc = Scenario::parse(&Source { file: entry.name.into(), text: entry.text.into() }).unwrap();
            let c = sc.variant(None).unwrap();
            let w = World::new(c.spec, 1, c.budget);
            let items = items(&w, &[]);
            assert!(items.iter().any(|i| i.section == "crash"), "{}", entry.name);
            for it in &items {
                if let MenuAction::Inject(f) = &it.action {
                    sc.fault_kind(None, f).unwrap_or_else(|e| panic!("{}: {f}: {:?}", entry.name, e.errors));
                }
            }
        }
    }

    #[test]
    fn active_faults_come_first_as_heal_entries() {
        let text = catalog::get("cross-region-outage").unwrap().text;
        let sc = Scenario::parse(&Source { file: "x".into(), text: text.into() }).unwrap();
        let c = sc.variant(None).unwrap();
        let mut w = World::new(c.spec, 1, c.budget);
        w.run_until(21_000_000_000).unwrap();
        let it = items(&w, &active_ids(&w));
        assert_eq!(it[0].action, MenuAction::Heal(0));
        assert_eq!(it[0].label, "end `eu-west down` (outage, scheduled)");
        assert_eq!(active_kinds(&w), ["outage"]);
        let eu = it.iter().find(|i| is_region_outage(i, "eu-west")).unwrap();
        assert_eq!(
            eu.action,
            MenuAction::Inject(r#"{ kind = "region-outage", name = "eu-west down", region = "eu-west" }"#.into())
        );
    }
}
