//! Any bytes as a scenario file: parsing, validation and compilation of every variant (and the
//! expectations against a report skeleton) must give a result or positioned errors, never a
//! panic, whatever the input.
#![no_main]

use faultline_scenarios::{Scenario, Source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = Source::from_bytes("fuzz.toml", data.to_vec()) else { return };
    match Scenario::parse(&src) {
        Ok(sc) => {
            for v in &sc.variants {
                let _ = sc.variant(Some(&v.name)).expect("a listed variant exists");
            }
        }
        Err(errors) => {
            for e in &errors.errors {
                let _ = e.one_line();
            }
        }
    }
});
