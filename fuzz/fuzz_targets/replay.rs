//! Any bytes as a replay file: parsed, and its embedded scenario and injected faults compiled,
//! without a panic.
#![no_main]

use faultline_scenarios::replay::{Command, Replay};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(r) = Replay::from_json("fuzz.json", text) else { return };
    let Ok(sc) = r.scenario() else { return };
    for c in &r.commands {
        if let Command::Inject { fault, .. } = c {
            let _ = sc.fault_kind(Some(&r.variant), fault);
        }
    }
});
