//! Any bytes as sweep records (`sweep --out` files, read by `merge`, `report` and `compare`):
//! what parses is aggregated as `merge` does, and compared against itself and, split by seed
//! parity, half against half, as `compare` does — without a panic.
#![no_main]

use faultline_scenarios::{compare::compare, sweep};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok((records, _)) = sweep::read_records(text) else { return };
    if records.is_empty() {
        return;
    }
    let (_, order) = sweep::by_variant(&records);
    let _ = sweep::aggregate(&records[0].scenario, &order, &records);
    let _ = compare(&records, &records, &[], 0.0);
    let (even, odd): (Vec<_>, Vec<_>) = records.iter().cloned().partition(|r| r.seed % 2 == 0);
    let odd: Vec<_> = odd.into_iter().map(|r| sweep::SeedRecord { seed: r.seed.wrapping_sub(1), ..r }).collect();
    let _ = compare(&even, &odd, &["latency_p99_ms".into()], 0.05);
});
