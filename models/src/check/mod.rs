//! Checkers over histories of operations.
//!
//! [`history`] reads Jepsen-style histories (JSON Lines, docs/cli.md) or builds them from
//! events a run records; [`linear`] decides whether a register or key-value history is
//! linearizable and, if not, explains why with the operations and lines involved; [`synth`]
//! records histories from a simulated linearizable register for tests and benchmarks.
//!
//! The checker runs offline, outside any simulation: it may be given a wall-clock deadline
//! ([`Budget::deadline`]). With a step budget only, its answer depends on the history alone.

pub mod history;
pub mod linear;
mod memo;
mod register;
mod search;
mod stale;
pub mod synth;

pub use history::{
    Event, EventType, Func, History, HistoryBuilder, HistoryError, Key, Model, Op, OpKind, OpStatus, Value, parse,
};
pub use linear::{Budget, Exhausted, OpRef, Report, UnknownKey, Verdict, Violation, check, check_with};

#[cfg(test)]
mod tests;
