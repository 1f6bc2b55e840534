//! All integration and property tests, in one test binary (faster to build than many).

mod cli;
mod determinism;
mod history;
mod lessons;
mod queueing;
mod sweep;
mod theory;
