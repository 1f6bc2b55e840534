//! The terminal UI (ratatui + crossterm) over read-only views of a running world.
//!
//! Not built yet: this crate exists so that the dependency order of the workspace
//! (`sim` ← `models` ← `scenarios` ← `tui` ← binary) is fixed from the start. See the open
//! issue "The terminal UI: watch, steer and compare designs live".
