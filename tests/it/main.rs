//! All integration and property tests, in one test binary (faster to build than many).

mod architectures;
mod bin;
mod changes;
mod cli;
mod consistency;
mod crosscheck;
mod determinism;
mod expect;
mod history;
mod input;
mod lessons;
mod properties;
mod queueing;
mod saga;
mod series;
mod shrunk;
mod sweep;
mod theory;
mod tui;
mod workshop;
