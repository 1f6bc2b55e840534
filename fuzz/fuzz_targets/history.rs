//! Any bytes as a Jepsen-style history (`faultline check-history`): parsed under both models,
//! and what parses checked for linearizability within a small step budget, without a panic.
#![no_main]

use faultline_models::check::{Budget, Model, check, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for model in [Model::Register, Model::Kv] {
        if let Ok(h) = parse(data, model) {
            // Every verdict must also describe itself (the messages the CLI prints).
            let r = check(&h, &Budget { max_steps: 20_000, deadline: None });
            for v in &r.violations {
                let _ = v.also_stuck.iter().map(|o| o.placed()).count();
            }
        }
    }
});
