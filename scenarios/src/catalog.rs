//! The built-in scenarios (`faultline list`). Each entry is a file in scenarios/catalog/; a test
//! checks that the list and the directory agree and that every entry runs.

pub struct Entry {
    pub name: &'static str,
    pub text: &'static str,
}

pub const CATALOG: &[Entry] =
    &[Entry { name: "cross-region-outage", text: include_str!("../catalog/cross-region-outage.toml") }];

pub fn get(name: &str) -> Option<&'static Entry> {
    CATALOG.iter().find(|e| e.name == name)
}
