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
pub mod report;
pub mod saga;
pub mod saga_check;
pub mod series;
pub mod service;
pub mod slab;
pub mod spec;
pub mod workflow;
pub mod world;

pub use msg::{ActorId, Msg, Outbox, Status};
pub use report::RunReport;
pub use spec::WorldSpec;
pub use world::World;
