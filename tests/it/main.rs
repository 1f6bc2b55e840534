//! All integration and property tests, in one test binary (faster to build than many).

mod cli;
mod determinism;
mod lessons;
mod queueing;
mod saga;
mod sweep;
mod theory;
