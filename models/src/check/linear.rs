//! Linearizability of register histories: Wing & Gong's search with Lowe's memoisation, as in
//! Porcupine and Knossos' `linear` algorithm, per key — plus the reductions that make 20 000-op
//! histories with unknown outcomes take milliseconds rather than forever.
//!
//! A key-value history is linearizable iff each key's sub-history is (linearizability is
//! local), so keys are checked one by one. For one key, calls and returns form a doubly linked
//! list in time order; an operation may be linearized when its call comes before the first
//! return still in the list (nothing that must precede it is missing). The search linearizes
//! one such operation at a time — lifting its call and return out of the list — and backtracks
//! when a return is reached whose operation no order could place. Every configuration reached
//! (the set of linearized operations and the register's value) is remembered, so none is
//! explored twice (`memo`).
//!
//! Unknown reads, failed reads and failed writes carry no information and are dropped. A failed
//! cas ran and saw a value other than its `from`: it is kept as an operation that changes
//! nothing and requires `value ≠ from` at its linearization point.
//!
//! Reductions (each keeps at least one linearization if there is any):
//! - **Free ops first.** A read or failed cas that the current value allows changes nothing, so
//!   placing it at once loses nothing; it is then the only move tried. Concurrent readers no
//!   longer multiply the search.
//! - **Just in time.** Moves are tried in the order of Lowe's JIT linearization: the op whose
//!   return comes first; if the value blocks it, the moves that would unblock it; then the rest.
//! - **Unknown outcomes.** Ops of unknown outcome (`info`, or never completed) have no return:
//!   they may take effect at any time after their call, or never. As ordinary candidates they
//!   would blow the search up (each is a candidate forever after), so an unknown write or cas is
//!   only placed immediately before a completed read or cas that the current value blocks, and
//!   only if it (or a chain of unknown cas ops it starts) unblocks it. Any linearization can be
//!   rewritten so: an unknown op followed by a write is erased by it, and one followed by an op
//!   that the old value also allows can move past it. Unknown ops that do the same thing are
//!   interchangeable once invoked, so the earliest invoked is used first.
//! - **Relax, then count.** Which unknown ops were used is part of a configuration, and
//!   combinations of them multiply configurations. So the search first runs with each unknown
//!   op reusable — a relaxation: no linearization there means none at all. If the one it finds
//!   uses no op twice, done; otherwise a search that counts uses but remembers configurations
//!   without them (a success is real, a failure proves nothing), and last the exact search,
//!   whose memo skips a configuration when one that used a subset of its unknown ops was seen.
//! - **Stale reads without search** (`stale`): a read of `v` that began after a write of another
//!   value ended, which itself began after every write of `v` ended, is impossible. Checked for
//!   every key before any search, so such violations are reported whatever the budget.

// The wall clock is read only for `Budget::deadline`, which offline callers (`check-history
// --timeout-s`) may set; runs check their histories with a step budget and no deadline, so
// verdicts inside a simulation depend on the history alone (ARCHITECTURE.md, "Invariants").
use std::time::Instant;

use serde::Serialize;

use super::history::{History, Key, Model, OpStatus};
use super::register::Sub;
use super::search::{Mode, Search};
use super::stale::{definite_stale, explain_stale};

/// How much work one check may do before answering [`Verdict::Unknown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Search steps over all keys (a step tries one move or takes one back). Memory grows by at
    /// most a few dozen bytes per step.
    pub max_steps: u64,
    /// Wall-clock limit. Only for offline checking: a simulation must leave it `None` so that
    /// its verdicts depend on nothing but the history.
    pub deadline: Option<Instant>,
}

impl Budget {
    /// The default step budget: up to about ten seconds of search and a few hundred megabytes
    /// (about 11 bytes per step) at worst.
    pub const DEFAULT_MAX_STEPS: u64 = 30_000_000;

    pub fn steps(max_steps: u64) -> Budget {
        Budget { max_steps, deadline: None }
    }
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::steps(Budget::DEFAULT_MAX_STEPS)
    }
}

/// The answer for a whole history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Linearizable,
    /// At least one key has no linearization ([`Report::violations`]).
    NotLinearizable,
    /// No violation found, but the budget ran out before every key was decided.
    Unknown,
}

/// Which budget ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exhausted {
    Steps,
    Deadline,
}

/// The result of [`check`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub verdict: Verdict,
    /// Operations in the history (invocations), and keys (registers) checked.
    pub operations: usize,
    pub keys: usize,
    /// Search steps taken over all keys.
    pub steps: u64,
    /// One per key that has no linearization, in key order (first appearance).
    pub violations: Vec<Violation>,
    /// Keys left undecided when the budget ran out, in key order.
    pub unknown: Vec<UnknownKey>,
}

/// A key the budget did not suffice for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnknownKey {
    pub key: Option<Key>,
    pub label: String,
    pub exhausted: Exhausted,
}

/// An operation of the history, as an explanation names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpRef {
    /// Index into [`History::ops`].
    pub index: usize,
    pub process: i64,
    /// `read 5`, `write 3`, `cas 1→2`.
    pub op: String,
    pub status: OpStatus,
    pub invoke_line: u32,
    pub complete_line: Option<u32>,
}

impl OpRef {
    pub(super) fn new(history: &History, index: usize) -> OpRef {
        let op = &history.ops[index];
        OpRef {
            index,
            process: op.process,
            op: op.describe(),
            status: op.status,
            invoke_line: op.invoke_line,
            complete_line: op.complete_line,
        }
    }

    /// `read 5 by p1 (line 18, invoked at line 16)`: a completed op that cannot be placed.
    pub fn placed(&self) -> String {
        format!(
            "{}{} by p{} (line {}, invoked at line {})",
            if self.status == OpStatus::Fail { "failed " } else { "" },
            self.op,
            self.process,
            self.complete_line.unwrap_or(self.invoke_line),
            self.invoke_line
        )
    }

    /// `write 3 (line 12, p2)`; unknown outcomes name their invocation.
    pub fn brief(&self) -> String {
        match (self.status, self.complete_line) {
            (OpStatus::Info, _) | (_, None) => {
                format!("{} (invoked at line {}, p{}, outcome unknown)", self.op, self.invoke_line, self.process)
            }
            (OpStatus::Fail, Some(l)) => format!("failed {} (line {l}, p{})", self.op, self.process),
            (OpStatus::Ok, Some(l)) => format!("{} (line {l}, p{})", self.op, self.process),
        }
    }
}

/// Why one key's history is not linearizable: the longest linearizable prefix the search found,
/// and the operation that could not come next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The key (`None` for a register history that names none).
    pub key: Option<Key>,
    /// `key 7`, or `the register`.
    pub label: String,
    /// Operations of this key that constrain it (completed ones and failed cas), and how many
    /// of them the longest linearizable prefix holds — `None` when `stuck` was shown
    /// impossible directly (a stale read: see `definite_stale`), without a search.
    pub operations: usize,
    pub linearized: Option<usize>,
    /// The register's value after that prefix.
    pub state: Option<i64>,
    /// The operation that gave the register that value, and the last one of the prefix.
    pub last_write: Option<OpRef>,
    pub last_op: Option<OpRef>,
    /// The first operation (by completion) that no order can place next.
    pub stuck: OpRef,
    /// Other operations that could not be placed there either.
    pub also_stuck: Vec<OpRef>,
    /// Why `stuck` cannot be placed.
    pub reason: String,
    /// The whole explanation in one paragraph.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Checks every key of `history` for linearizability against a register whose initial value
/// is `null`.
pub fn check(history: &History, budget: &Budget) -> Report {
    check_with(history, budget, true)
}

/// [`check`], optionally without the search-free stale-read pass (`definite_stale`), to test
/// or measure the search alone.
pub fn check_with(history: &History, budget: &Budget, stale_pass: bool) -> Report {
    run_checks(history, budget, stale_pass, false)
}

/// The exact search alone (no stale-read pass, no relaxation first): for tests.
#[cfg(test)]
pub(super) fn check_exact(history: &History, budget: &Budget) -> Report {
    run_checks(history, budget, false, true)
}

fn run_checks(history: &History, budget: &Budget, stale_pass: bool, exact_only: bool) -> Report {
    let keys = history.key_count();
    let mut by_key: Vec<Vec<u32>> = vec![Vec::new(); keys];
    for (i, op) in history.ops.iter().enumerate() {
        by_key[op.key as usize].push(i as u32);
    }
    let mut report = Report {
        verdict: Verdict::Linearizable,
        operations: history.ops.len(),
        keys,
        steps: 0,
        violations: Vec::new(),
        unknown: Vec::new(),
    };
    let key_of = |k: usize| match history.model {
        Model::Kv => Some(history.keys[k].clone()),
        Model::Register => history.keys.first().cloned(),
    };
    let subs: Vec<Sub> = by_key.iter().map(|ops| Sub::new(history, ops)).collect();
    let mut found: Vec<(usize, Violation)> = Vec::new();
    // Stale reads first, for every key: cheap, and certain.
    let mut stale: Vec<bool> = vec![false; keys];
    if stale_pass {
        for (k, sub) in subs.iter().enumerate() {
            if let Some(st) = definite_stale(sub) {
                found.push((k, explain_stale(sub, history, st, key_of(k), history.key_label(k as u32))));
                stale[k] = true;
            }
        }
    }
    let mut exhausted = None;
    for (k, sub) in subs.iter().enumerate() {
        if stale[k] {
            continue;
        }
        if let Some(why) = exhausted {
            report.unknown.push(UnknownKey { key: key_of(k), label: history.key_label(k as u32), exhausted: why });
            continue;
        }
        // First with unknown-outcome ops reusable: a relaxation with far fewer configurations
        // (which unknown ops were used no longer matters). No linearization there means none
        // at all; one found there is real if it used no unknown op twice.
        let left = |steps: u64| budget.max_steps.saturating_sub(steps);
        let first = if exact_only { Mode::Exact } else { Mode::Relaxed };
        let mut search = Search::new(sub, first, left(report.steps), budget.deadline);
        let mut outcome = search.run();
        report.steps += search.steps;
        if outcome == Ok(true) && first == Mode::Relaxed && !search.path_uses_each_unknown_op_once() {
            // Then counting uses but remembering configurations without them: what it finds is
            // real, but its pruning may be wrong, so a failure proves nothing...
            let mut greedy = Search::new(sub, Mode::Greedy, left(report.steps), budget.deadline);
            let found = greedy.run();
            report.steps += greedy.steps;
            outcome = match found {
                Ok(true) | Err(_) => found,
                // ...and the exact search decides.
                Ok(false) => {
                    search = Search::new(sub, Mode::Exact, left(report.steps), budget.deadline);
                    let o = search.run();
                    report.steps += search.steps;
                    o
                }
            };
        }
        match outcome {
            Ok(true) => {}
            Ok(false) => found.push((k, search.explain(history, key_of(k), history.key_label(k as u32)))),
            Err(why) => {
                exhausted = Some(why);
                report.unknown.push(UnknownKey { key: key_of(k), label: history.key_label(k as u32), exhausted: why });
            }
        }
    }
    // In key order, whichever pass found them.
    found.sort_by_key(|(k, _)| *k);
    report.violations = found.into_iter().map(|(_, v)| v).collect();
    report.verdict = if !report.violations.is_empty() {
        Verdict::NotLinearizable
    } else if !report.unknown.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Linearizable
    };
    report
}

/// `key 7: ` before explanations of a key-value history; nothing for a single register.
pub(super) fn prefix(history: &History, label: &str) -> String {
    match history.model {
        Model::Kv => format!("{label}: "),
        Model::Register => String::new(),
    }
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
