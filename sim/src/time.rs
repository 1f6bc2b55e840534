//! Simulated time: integer nanoseconds since the start of a run.

/// A point in simulated time or a duration, in nanoseconds. `u64` covers 584 years.
pub type Nanos = u64;

pub const NS_PER_US: Nanos = 1_000;
pub const NS_PER_MS: Nanos = 1_000_000;
pub const NS_PER_S: Nanos = 1_000_000_000;

/// Converts milliseconds (as written in scenario files) to nanoseconds, rounding to the
/// nearest nanosecond. Negative and NaN inputs become 0; callers validate before this.
pub fn from_ms(ms: f64) -> Nanos {
    if ms.is_nan() || ms <= 0.0 {
        0
    } else {
        let ns = ms * NS_PER_MS as f64;
        if ns >= u64::MAX as f64 { u64::MAX } else { (ns + 0.5) as u64 }
    }
}

/// Converts seconds to nanoseconds (see [`from_ms`]).
pub fn from_s(s: f64) -> Nanos {
    from_ms(s * 1000.0)
}

/// Nanoseconds as fractional milliseconds, for reports.
pub fn to_ms(ns: Nanos) -> f64 {
    ns as f64 / NS_PER_MS as f64
}

/// Nanoseconds as fractional seconds, for reports.
pub fn to_s(ns: Nanos) -> f64 {
    ns as f64 / NS_PER_S as f64
}
