//! Running a compiled scenario: one run to a report, and the determinism check (run twice,
//! compare trace hashes, name the first event where they part).

use faultline_models::world::{TraceRecord, TraceSink};
use faultline_models::{RunReport, World};
use faultline_sim::BudgetExceeded;

use crate::Compiled;

/// Runs one seed of a variant to the end.
pub fn run(
    c: &Compiled<'_>,
    seed: u64,
    sink: Option<Box<dyn TraceSink>>,
) -> Result<(RunReport, World), BudgetExceeded> {
    let mut world = World::new(c.spec, seed, c.budget);
    if let Some(s) = sink {
        world.set_trace_sink(s);
    }
    world.run()?;
    let report = RunReport::build(&world, &c.scenario.name, c.variant);
    Ok((report, world))
}

/// Every how many events the determinism check compares hashes.
const CHECKPOINT: u64 = 4096;

#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    /// Index of the first event that differs.
    pub event: u64,
    pub first: String,
    pub second: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DeterminismReport {
    pub hashes: [String; 2],
    pub events: [u64; 2],
    pub divergence: Option<Divergence>,
}

impl DeterminismReport {
    pub fn deterministic(&self) -> bool {
        self.hashes[0] == self.hashes[1] && self.events[0] == self.events[1] && self.divergence.is_none()
    }
}

fn checkpoints(c: &Compiled<'_>, seed: u64) -> Result<(Vec<u64>, World), BudgetExceeded> {
    let mut world = World::new(c.spec, seed, c.budget);
    let mut marks = Vec::new();
    while world.step()? {
        if world.events().is_multiple_of(CHECKPOINT) {
            marks.push(world.trace_hash().value());
        }
    }
    Ok((marks, world))
}

struct Collect {
    from: u64,
    to: u64,
    out: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
}

impl TraceSink for Collect {
    fn record(&mut self, r: &TraceRecord<'_>) {
        // Event indices count from 1: block k holds events k·CHECKPOINT+1 ..= (k+1)·CHECKPOINT.
        if r.index > self.from && r.index <= self.to {
            self.out.borrow_mut().push(format!(
                "event {} at t={} ns: {} {} (from {}) {}",
                r.index, r.t, r.kind, r.actor, r.peer, r.detail
            ));
        }
    }
}

fn records(c: &Compiled<'_>, seed: u64, from: u64, to: u64) -> Result<Vec<String>, BudgetExceeded> {
    let out = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut world = World::new(c.spec, seed, c.budget);
    world.set_trace_sink(Box::new(Collect { from, to, out: out.clone() }));
    while world.events() < to && world.step()? {}
    Ok(out.take())
}

/// Runs the variant twice with the same seed and compares.
pub fn check_determinism(c: &Compiled<'_>, seed: u64) -> Result<DeterminismReport, BudgetExceeded> {
    let (a, wa) = checkpoints(c, seed)?;
    let (b, wb) = checkpoints(c, seed)?;
    let mut report = DeterminismReport {
        hashes: [wa.trace_hash().hex(), wb.trace_hash().hex()],
        events: [wa.events(), wb.events()],
        divergence: None,
    };
    if report.hashes[0] != report.hashes[1] || a != b {
        let block = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len())) as u64;
        let (from, to) = (block * CHECKPOINT, (block + 1) * CHECKPOINT);
        let (ra, rb) = (records(c, seed, from, to)?, records(c, seed, from, to)?);
        report.divergence = Some(first_divergence(&ra, &rb, from));
    }
    Ok(report)
}

/// The first position where two event descriptions differ; `start` is the number of events
/// before the first description (so the result is a 1-based event index).
pub fn first_divergence(a: &[String], b: &[String], start: u64) -> Divergence {
    let none = "(no event)".to_owned();
    let i = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    Divergence {
        event: start + 1 + i as u64,
        first: a.get(i).unwrap_or(&none).clone(),
        second: b.get(i).unwrap_or(&none).clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_divergence_names_the_first_differing_event() {
        let a = vec!["x".to_owned(), "y".to_owned(), "z".to_owned()];
        let b = vec!["x".to_owned(), "Y".to_owned(), "z".to_owned()];
        let d = first_divergence(&a, &b, 100);
        assert_eq!((d.event, d.first.as_str(), d.second.as_str()), (102, "y", "Y"));
        let d = first_divergence(&a, &a[..2], 0);
        assert_eq!((d.event, d.second.as_str()), (3, "(no event)"));
    }
}
