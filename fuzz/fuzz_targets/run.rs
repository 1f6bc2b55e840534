//! Any bytes as a scenario file, and what parses is *run*: every variant, for up to 20 000
//! events, to its report. A scenario that validates must run to a report or stop at its
//! budget, never panic, whatever its settings (the `scenario` target only compiles them).
#![no_main]

use faultline_scenarios::{Compiled, Scenario, Source, runner};
use faultline_sim::Budget;
use libfuzzer_sys::fuzz_target;

/// Events per variant: enough for requests to cross every component and faults to fire, few
/// enough that an input runs in milliseconds.
const EVENTS: u64 = 20_000;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = Source::from_bytes("fuzz.toml", data.to_vec()) else { return };
    let Ok(sc) = Scenario::parse(&src) else { return };
    for v in &sc.variants {
        let c = sc.variant(Some(&v.name)).expect("a listed variant exists");
        let budget = Budget { max_events: EVENTS.min(c.budget.max_events), ..c.budget };
        let _ = runner::run(&Compiled { budget, ..c }, 1, None);
    }
});
