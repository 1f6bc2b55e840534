//! The built-in scenarios (`faultline list`). Each entry is a file in scenarios/catalog/; a test
//! checks that the list and the directory agree and that every entry runs.

pub struct Entry {
    pub name: &'static str,
    pub text: &'static str,
}

macro_rules! catalog {
    ($($name:literal),* $(,)?) => {
        &[$(Entry { name: $name, text: include_str!(concat!("../catalog/", $name, ".toml")) }),*]
    };
}

#[rustfmt::skip] // one name per line keeps additions reviewable
pub const CATALOG: &[Entry] = catalog![
    "cache-stampede",
    "checkout-outage",
    "circuit-breaker",
    "cross-region-outage",
    "database-failover",
    "fast-failing-instance",
    "hot-shard",
    "partition-consistency",
    "queue-dead-letters",
    "queueing-near-saturation",
    "region-failover",
    "retry-storm",
    "slow-instance",
    "tail-at-scale",
];

pub fn get(name: &str) -> Option<&'static Entry> {
    CATALOG.iter().find(|e| e.name == name)
}
