//! The faultline engine: simulated time, the event queue, seeded random streams, sampling
//! distributions, the failure-domain topology, the network/fault state and the trace hash.
//!
//! Invariants (see ARCHITECTURE.md): nothing here reads the wall clock, spawns a thread, does
//! I/O or iterates a hash map. Every random draw comes from a [`rng::Stream`] derived from the
//! master seed and a stable name. Events are ordered by `(time, seq)`.

pub mod dist;
pub mod engine;
pub mod keys;
pub mod lognormal;
pub mod net;
pub mod queue;
pub mod rng;
mod tables;
pub mod time;
pub mod topology;
pub mod trace;
pub mod ziggurat;

/// The tables `build.rs` computed from [`tables`].
mod built {
    include!(concat!(env!("OUT_DIR"), "/tables.rs"));
}

pub use dist::Dist;
pub use engine::{Budget, BudgetExceeded, Engine};
pub use lognormal::LogNormal;
pub use queue::EventQueue;
pub use rng::Stream;
pub use time::Nanos;
pub use topology::{NodeId, RegionId, Topology, ZoneId};
pub use trace::TraceHash;
