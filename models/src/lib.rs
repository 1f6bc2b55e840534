//! Components as sans-IO state machines, and the world that drives them with the engine.
//!
//! A component is given the time, a message or timer, and its own random streams; it answers by
//! pushing sends and timers into an [`Outbox`]. It never sees the event queue, the network or
//! other components. [`world::World`] owns all of them and is the only place where effects turn
//! into scheduled events (ARCHITECTURE.md, "Invariants").

pub mod balancer;
pub mod broker;
pub mod cache;
pub mod calls;
pub mod check;
pub mod client;
pub mod consistency;
pub mod db;
pub mod deadlines;
pub mod idmap;
pub mod metrics;
pub mod msg;
pub mod outlier;
pub mod report;
pub mod saga;
pub mod saga_check;
pub mod series;
pub mod service;
pub mod slab;
pub mod spec;
pub mod workflow;
pub mod world;

/// The simulation revision as a literal, for `concat!` (the CLI's `--version`); see
/// [`SIM_REVISION`].
#[macro_export]
macro_rules! sim_revision {
    () => {
        16
    };
}

/// The simulation revision: bumped whenever a change makes some scenario, variant and seed run
/// differently (a different trace hash) — a new way of drawing a distribution, an engine
/// ordering fix, a changed model rule — even when the results stay statistically the same.
/// Replay files record it, so a replay that no longer reproduces says whether the model changed
/// in between (docs/determinism.md). `tests/it/determinism.rs` pins the trace hashes of the
/// catalog at this revision: it fails on any such change until the revision is bumped and the
/// new hashes are pasted with it.
pub const SIM_REVISION: u32 = sim_revision!();

pub use msg::{ActorId, Msg, Outbox, Status};
pub use report::RunReport;
pub use spec::WorldSpec;
pub use world::World;
