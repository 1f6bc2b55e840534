//! Linearizability of register histories: Wing & Gong's search with Lowe's memoisation, as in
//! Porcupine and Knossos' `linear` algorithm, per key.
//!
//! A key-value history is linearizable iff each key's sub-history is (linearizability is
//! local), so keys are checked one by one. For one key, calls and returns form a doubly linked
//! list in time order; an operation may be linearized when its call comes before the first
//! return still in the list (nothing that must precede it is missing). The search linearizes
//! one such operation at a time — lifting its call and return out of the list — and backtracks
//! when a return is reached whose operation no order could place. Every configuration reached
//! (the set of linearized operations and the register's value) is remembered, so no
//! configuration is explored twice.
//!
//! Operations of unknown outcome (`info`, or never completed) have no return: they may take
//! effect at any time after their call, or never, so they never block anything. Treating them as
//! ordinary candidates makes the search blow up (each is a candidate forever after), so they are
//! only linearized *just in time*, and only in a canonical way that loses no solution:
//! - an unknown write or cas is placed only immediately before a completed read or cas that the
//!   current value blocks (any linearization can be rewritten so: an unknown op followed by a
//!   write is erased by it, and one followed by an op that the old value also allows can move
//!   past it); unknown cas ops may chain (`write 1`, `cas 1→2`, then `read 2`);
//! - among unknown ops of the same kind and values that are available (invoked before the first
//!   pending return), the earliest invoked is used first: they stay available forever, so they
//!   are interchangeable, and the used ones of each kind always form a prefix.
//!
//! Unknown reads, failed reads and failed writes carry no information and are dropped. A failed
//! cas ran and saw a value other than its `from`: it is kept as an operation that changes
//! nothing and requires `value ≠ from` at its linearization point.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use serde::Serialize;

use super::history::{History, Key, Model, Op, OpKind, OpStatus, show};

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
    /// The default step budget: tens of seconds of search and about a gigabyte of memory at
    /// worst.
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
    fn new(history: &History, index: usize) -> OpRef {
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
    fn placed(&self) -> String {
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
    fn brief(&self) -> String {
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

/// [`check`], optionally without the search-free stale-read pass (to test the search alone).
pub(super) fn check_with(history: &History, budget: &Budget, stale_pass: bool) -> Report {
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
    let mut exhausted = None;
    for (k, ops) in by_key.iter().enumerate() {
        if let Some(why) = exhausted {
            report.unknown.push(UnknownKey { key: key_of(k), label: history.key_label(k as u32), exhausted: why });
            continue;
        }
        let sub = Sub::new(history, ops);
        if stale_pass && let Some(stale) = definite_stale(&sub) {
            report.violations.push(explain_stale(&sub, history, stale, key_of(k), history.key_label(k as u32)));
            continue;
        }
        // First with unknown-outcome ops reusable: a relaxation with far fewer configurations
        // (which unknown ops were used no longer matters). No linearization there means none
        // at all; one found there is real if it used no unknown op twice.
        let mut search = Search::new(&sub, true, budget.max_steps.saturating_sub(report.steps), budget.deadline);
        let mut outcome = search.run();
        report.steps += search.steps;
        if outcome == Ok(true) && !search.path_uses_each_unknown_op_once() {
            search = Search::new(&sub, false, budget.max_steps.saturating_sub(report.steps), budget.deadline);
            outcome = search.run();
            report.steps += search.steps;
        }
        match outcome {
            Ok(true) => {}
            Ok(false) => report.violations.push(search.explain(history, key_of(k), history.key_label(k as u32))),
            Err(why) => {
                exhausted = Some(why);
                report.unknown.push(UnknownKey { key: key_of(k), label: history.key_label(k as u32), exhausted: why });
            }
        }
    }
    report.verdict = if !report.violations.is_empty() {
        Verdict::NotLinearizable
    } else if !report.unknown.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Linearizable
    };
    report
}

const NONE: u32 = u32::MAX;
const HEAD: u32 = 0;

/// A completed operation as the register model sees it; values are dense ids (0 = `null`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Read(u32),
    Write(u32),
    CasOk(u32, u32),
    /// Ran, and saw a value other than `from`.
    CasFail(u32),
}

impl Step {
    /// The register's value after this step from `s`, if the step is allowed there.
    #[inline]
    fn apply(self, s: u32) -> Option<u32> {
        match self {
            Step::Read(v) => (s == v).then_some(s),
            Step::Write(v) => Some(v),
            Step::CasOk(from, to) => (s == from).then_some(to),
            Step::CasFail(from) => (s != from).then_some(s),
        }
    }

    /// The value it leaves behind whatever it found (plain writes only).
    fn writes(self) -> Option<u32> {
        match self {
            Step::Write(v) | Step::CasOk(_, v) => Some(v),
            _ => None,
        }
    }
}

/// Operations of unknown outcome that do the same thing: interchangeable once invoked.
#[derive(Clone, Debug)]
struct Class {
    /// `NONE` for a write; the cas's `from` otherwise.
    from: u32,
    to: u32,
    /// Unknown-outcome ops of this class, in invocation order.
    members: Vec<u32>,
}

/// One key's history, prepared for the search.
struct Sub {
    /// Completed ops (ok, and failed cas) in invocation order: `steps`, their index in the
    /// history, and their call and return entries.
    steps: Vec<Step>,
    src: Vec<u32>,
    call_line: Vec<u32>,
    ret_line: Vec<u32>,
    call_entry: Vec<u32>,
    ret_entry: Vec<u32>,
    /// Entries in time order; entry 0 is the list head. Per entry: its op, whether it is a
    /// return, and its line.
    entry_op: Vec<u32>,
    entry_ret: Vec<bool>,
    entry_line: Vec<u32>,
    /// Unknown-outcome writes and cas ops, in invocation order.
    info_src: Vec<u32>,
    info_line: Vec<u32>,
    info_class: Vec<u32>,
    classes: Vec<Class>,
    /// Value id → class of unknown writes of it (or `NONE`); value id → cas classes from it.
    write_class: Vec<u32>,
    cas_from: Vec<Vec<u32>>,
    /// Class ids of all unknown writes, and of all unknown cas ops.
    write_classes: Vec<u32>,
    cas_classes: Vec<u32>,
    /// Value id → value (`None` is `null`, id 0).
    values: Vec<Option<i64>>,
}

impl Sub {
    fn new(history: &History, ops: &[u32]) -> Sub {
        // Values in order of first appearance; the map is only looked up, never iterated.
        let mut values: Vec<Option<i64>> = vec![None];
        let mut ids: HashMap<i64, u32, BuildHasherDefault<Fx>> = HashMap::default();
        let mut id = |v: i64| -> u32 {
            *ids.entry(v).or_insert_with(|| {
                values.push(Some(v));
                (values.len() - 1) as u32
            })
        };
        let mut steps = Vec::new();
        let mut src = Vec::new();
        let mut lines = Vec::new();
        let mut info_src = Vec::new();
        let mut info_line = Vec::new();
        let mut info_kind = Vec::new();
        for &i in ops {
            let op: &Op = &history.ops[i as usize];
            let step = match (op.kind, op.status) {
                (OpKind::Read(v), OpStatus::Ok) => Some(Step::Read(v.map_or(0, &mut id))),
                (OpKind::Write(v), OpStatus::Ok) => Some(Step::Write(id(v))),
                (OpKind::Cas { from, to }, OpStatus::Ok) => Some(Step::CasOk(id(from), id(to))),
                (OpKind::Cas { from, .. }, OpStatus::Fail) => Some(Step::CasFail(id(from))),
                (OpKind::Write(v), OpStatus::Info) => {
                    info_kind.push((NONE, id(v)));
                    None
                }
                (OpKind::Cas { from, to }, OpStatus::Info) => {
                    info_kind.push((id(from), id(to)));
                    None
                }
                // No effect and no observation.
                (OpKind::Read(_), OpStatus::Fail | OpStatus::Info) | (OpKind::Write(_), OpStatus::Fail) => continue,
            };
            match step {
                Some(s) => {
                    steps.push(s);
                    src.push(i);
                    lines.push((op.invoke_line, op.complete_line.expect("a completed op has a completion")));
                }
                None => {
                    info_src.push(i);
                    info_line.push(op.invoke_line);
                }
            }
        }
        let n_values = values.len();
        let mut classes: Vec<Class> = Vec::new();
        let mut class_of: HashMap<(u32, u32), u32, BuildHasherDefault<Fx>> = HashMap::default();
        let mut write_class = vec![NONE; n_values];
        let mut cas_from = vec![Vec::new(); n_values];
        let (mut write_classes, mut cas_classes) = (Vec::new(), Vec::new());
        let mut info_class = Vec::with_capacity(info_kind.len());
        for (j, &(from, to)) in info_kind.iter().enumerate() {
            let c = *class_of.entry((from, to)).or_insert_with(|| {
                let c = classes.len() as u32;
                classes.push(Class { from, to, members: Vec::new() });
                if from == NONE {
                    write_class[to as usize] = c;
                    write_classes.push(c);
                } else {
                    cas_from[from as usize].push(c);
                    cas_classes.push(c);
                }
                c
            });
            classes[c as usize].members.push(j as u32);
            info_class.push(c);
        }
        // Entries in time order: lines are unique, so sorting by line is a total order.
        let n = steps.len();
        let mut order: Vec<(u32, u32, bool)> = Vec::with_capacity(2 * n);
        for (k, &(call, ret)) in lines.iter().enumerate() {
            order.push((call, k as u32, false));
            order.push((ret, k as u32, true));
        }
        order.sort_unstable();
        let mut entry_op = vec![NONE];
        let mut entry_ret = vec![false];
        let mut entry_line = vec![0];
        let mut call_entry = vec![0; n];
        let mut ret_entry = vec![0; n];
        for (e, &(line, k, ret)) in order.iter().enumerate() {
            let e = e as u32 + 1;
            entry_op.push(k);
            entry_ret.push(ret);
            entry_line.push(line);
            if ret {
                ret_entry[k as usize] = e;
            } else {
                call_entry[k as usize] = e;
            }
        }
        Sub {
            steps,
            src,
            call_line: lines.iter().map(|l| l.0).collect(),
            ret_line: lines.iter().map(|l| l.1).collect(),
            call_entry,
            ret_entry,
            entry_op,
            entry_ret,
            entry_line,
            info_src,
            info_line,
            info_class,
            classes,
            write_class,
            cas_from,
            write_classes,
            cas_classes,
            values,
        }
    }
}

/// A completed read or cas that is impossible whatever the order, found without a search.
#[derive(Clone, Copy, Debug)]
struct Stale {
    /// The op (a read of `v`, or a cas from `v`).
    op: u32,
    /// A write of another value that ended before `op` began and began after every write of
    /// `v` that could precede `op` had ended; `NONE` if nothing writes `v` before `op` ends.
    fence: u32,
    /// The write of `v` that ended last before `fence` (`NONE`: only the initial value).
    last: u32,
}

/// The classic stale read, found in O(n log n) before any search: an op needs value `v`, but a
/// write of another value (the fence) ended before it began and began after every op that
/// can write `v` (and may come before it) had ended — so `v` is gone for good. Unknown-outcome
/// writes of `v` could take effect at any time, so one invoked before the op ends defeats the
/// argument. Sound (it never accuses a linearizable history), not complete: the search still
/// runs when it finds nothing. Among several, the one that ends first is reported.
fn definite_stale(sub: &Sub) -> Option<Stale> {
    let n = sub.steps.len();
    // Over ops in invocation order: from index k on, the write (of any value) that ends first.
    let mut first_end = vec![(u32::MAX, NONE); n + 1];
    for k in (0..n).rev() {
        first_end[k] = first_end[k + 1];
        if sub.steps[k].writes().is_some() && sub.ret_line[k] < first_end[k].0 {
            first_end[k] = (sub.ret_line[k], k as u32);
        }
    }
    // Per value: its writers in invocation order, with the running latest end and who has it.
    let mut writers: Vec<Vec<(u32, u32, u32)>> = vec![Vec::new(); sub.values.len()];
    for k in 0..n {
        if let Some(v) = sub.steps[k].writes() {
            let w = &mut writers[v as usize];
            let (end, who) = w.last().map_or((0, NONE), |l| (l.1, l.2));
            let (end, who) = if sub.ret_line[k] > end { (sub.ret_line[k], k as u32) } else { (end, who) };
            w.push((sub.call_line[k], end, who));
        }
    }
    let mut unknown_first = vec![u32::MAX; sub.values.len()];
    for (i, &c) in sub.info_class.iter().enumerate() {
        let v = sub.classes[c as usize].to as usize;
        unknown_first[v] = unknown_first[v].min(sub.info_line[i]);
    }
    let mut found: Option<Stale> = None;
    for k in 0..n {
        let v = match sub.steps[k] {
            Step::Read(v) => v,
            // A cas from v to v would be one of its own writers.
            Step::CasOk(v, to) if to != v => v,
            _ => continue,
        };
        let (call, ret) = (sub.call_line[k], sub.ret_line[k]);
        if unknown_first[v as usize] < ret || found.is_some_and(|f| sub.ret_line[f.op as usize] <= ret) {
            continue;
        }
        let ws = &writers[v as usize];
        let i = ws.partition_point(|w| w.0 < ret);
        if i == 0 && v != 0 {
            found = Some(Stale { op: k as u32, fence: NONE, last: NONE });
            continue;
        }
        // The initial value "ends" at line 0.
        let (end, last) = if i == 0 { (0, NONE) } else { (ws[i - 1].1, ws[i - 1].2) };
        let j = sub.call_line.partition_point(|&c| c <= end);
        // A fence invoked after `end` cannot be a writer of v (it would have ended by then).
        if first_end[j].0 < call {
            // Of all fences, name the one that ended last: the closest to the op, the
            // clearest explanation.
            let fence = (j..n)
                .take_while(|&f| sub.call_line[f] < call)
                .filter(|&f| sub.steps[f].writes().is_some() && sub.ret_line[f] < call)
                .max_by_key(|&f| sub.ret_line[f])
                .expect("first_end found one");
            found = Some(Stale { op: k as u32, fence: fence as u32, last });
        }
    }
    found
}

/// FxHash's mixing step: fast, fixed (no per-process random seed), good enough for lookups.
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        for &b in chunks.remainder() {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// Passes a key that is already a well-mixed hash straight through.
#[derive(Default, Clone, Copy)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut fx = Fx(self.0);
        fx.write(bytes);
        self.0 = fx.0;
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A strong 64-bit mixer (splitmix64's finaliser).
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A configuration, apart from its linearized completed ops: those are stored as `p` (every op
/// below it is linearized, `p` itself is not) and the bitset words from `p`'s word to the last
/// linearized op — ops linearized out of order all overlap op `p`, so this is short.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Conf {
    p: u32,
    /// Interned set of used unknown-outcome ops.
    info: u32,
    state: u32,
    flag: bool,
}

#[derive(Clone, Copy)]
struct MemoEntry {
    conf: Conf,
    next: u32,
    len: u32,
    off: usize,
}

/// The configurations seen, with subsumption: a configuration is skipped when one with the same
/// linearized completed ops, value and flag was seen with a *subset* of its used
/// unknown-outcome ops — having used fewer can only leave more options (module docs). Hash
/// collisions are resolved by comparing keys, so the verdict does not depend on the hash.
#[derive(Default)]
struct Memo {
    heads: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
    entries: Vec<MemoEntry>,
    words: Vec<u64>,
}

impl Memo {
    /// Same configuration except perhaps for the unknown-outcome ops used?
    fn same(&self, m: &MemoEntry, c: Conf, window: &[u64]) -> bool {
        m.conf.p == c.p
            && m.conf.state == c.state
            && m.conf.flag == c.flag
            && self.words[m.off..m.off + m.len as usize] == *window
    }

    /// Adds a configuration; false if it (or one that subsumes it) was already there. Entries
    /// the new one subsumes are unlinked: anything they would prune, it prunes.
    fn insert(&mut self, hash: u64, c: Conf, window: &[u64], sets: &InfoSets) -> bool {
        let head = self.heads.get(&hash).copied().unwrap_or(NONE);
        let mut e = head;
        while e != NONE {
            let m = self.entries[e as usize];
            if self.same(&m, c, window) && sets.subset(m.conf.info, c.info) {
                return false;
            }
            e = m.next;
        }
        let idx = self.entries.len() as u32;
        self.entries.push(MemoEntry { conf: c, next: head, len: window.len() as u32, off: self.words.len() });
        self.words.extend_from_slice(window);
        self.heads.insert(hash, idx);
        if sets.words > 0 {
            let (mut prev, mut e) = (idx, head);
            while e != NONE {
                let m = self.entries[e as usize];
                if self.same(&m, c, window) && sets.subset(c.info, m.conf.info) {
                    self.entries[prev as usize].next = m.next;
                } else {
                    prev = e;
                }
                e = m.next;
            }
        }
        true
    }
}

/// Interned sets of used unknown-outcome ops: a configuration names its set by a small id.
/// Sets change only when an unknown op is used, which is rare next to ordinary steps.
struct InfoSets {
    words: usize,
    /// Set id → its bitset (`words` words each).
    sets: Vec<u64>,
    ids: HashMap<Vec<u64>, u32, BuildHasherDefault<Fx>>,
    /// (set, op added) → resulting set.
    next: HashMap<(u32, u32), u32, BuildHasherDefault<Fx>>,
}

impl InfoSets {
    fn new(n: usize) -> InfoSets {
        let words = n.div_ceil(64);
        let mut ids: HashMap<Vec<u64>, u32, BuildHasherDefault<Fx>> = HashMap::default();
        ids.insert(vec![0; words], 0);
        InfoSets { words, sets: vec![0; words], ids, next: HashMap::default() }
    }

    fn with(&mut self, set: u32, op: u32) -> u32 {
        if let Some(&s) = self.next.get(&(set, op)) {
            return s;
        }
        let w = self.words;
        let mut bits = self.sets[set as usize * w..(set as usize + 1) * w].to_vec();
        bits[op as usize / 64] |= 1 << (op % 64);
        let id = match self.ids.get(&bits) {
            Some(&id) => id,
            None => {
                let id = (self.sets.len() / w.max(1)) as u32;
                self.sets.extend_from_slice(&bits);
                self.ids.insert(bits, id);
                id
            }
        };
        self.next.insert((set, op), id);
        id
    }

    /// Is set `a` a subset of set `b`?
    fn subset(&self, a: u32, b: u32) -> bool {
        let w = self.words;
        a == b
            || self.sets[a as usize * w..(a as usize + 1) * w]
                .iter()
                .zip(&self.sets[b as usize * w..(b as usize + 1) * w])
                .all(|(x, y)| x & !y == 0)
    }

    fn contains(&self, set: u32, op: u32) -> bool {
        self.sets[set as usize * self.words + op as usize / 64] & (1 << (op % 64)) != 0
    }
}

#[derive(Clone, Copy, Debug)]
enum Move {
    Root,
    /// A completed op.
    Normal(u32),
    /// The next unused member of an unknown-outcome class.
    Info(u32),
}

/// One configuration on the search path: how we got there (to undo it) and which alternatives
/// from it remain to try.
struct Frame {
    mv: Move,
    prev_state: u32,
    prev_flag: bool,
    prev_p: u32,
    prev_hi1: u32,
    prev_zob: u64,
    prev_info: u32,
    /// History index of the op that set the register's value on this path (`NONE`: initial).
    setter: u32,
    /// For a move of an unknown-outcome op: the line before which it had to be invoked.
    frontier: u32,
    /// Next entry to try among completed ops; `NONE` once they are exhausted.
    cursor: u32,
    /// Candidate unknown-outcome classes, `cands[cand..cand_end]`, made when needed.
    cands_made: bool,
    cand_start: u32,
    cand: u32,
    cand_end: u32,
}

/// The deepest configuration reached (most completed ops linearized), for the explanation.
#[derive(Default)]
struct Best {
    count: u32,
    state: u32,
    setter: u32,
    last: u32,
    p: u32,
    window: Vec<u64>,
    info: u32,
    /// Completed ops that could go next there, in list order (the first is the one whose
    /// return comes first).
    minimal: Vec<u32>,
}

struct Search<'s> {
    sub: &'s Sub,
    n: u32,
    next: Vec<u32>,
    prev: Vec<u32>,
    lin: Vec<u64>,
    count: u32,
    /// Lowest op index not linearized, and one past the highest linearized (0: none).
    p: u32,
    hi1: u32,
    zob: u64,
    zobrist: Vec<u64>,
    state: u32,
    /// Set right after an unknown op: the next move must observe the value (a read or cas),
    /// otherwise the unknown op would have been pointless.
    flag: bool,
    /// Unknown-outcome ops may be used any number of times (see `check`); `used` stays 0.
    relaxed: bool,
    used: Vec<u32>,
    info: u32,
    info_sets: InfoSets,
    frames: Vec<Frame>,
    cands: Vec<u32>,
    stamp: Vec<u32>,
    stamp_now: u32,
    memo: Memo,
    best: Best,
    steps: u64,
    max_steps: u64,
    deadline: Option<Instant>,
}

impl<'s> Search<'s> {
    fn new(sub: &'s Sub, relaxed: bool, max_steps: u64, deadline: Option<Instant>) -> Search<'s> {
        let n = sub.steps.len();
        let entries = sub.entry_op.len();
        let next: Vec<u32> =
            (0..entries as u32).map(|e| if e as usize + 1 == entries { HEAD } else { e + 1 }).collect();
        let prev: Vec<u32> = (0..entries as u32).map(|e| if e == 0 { entries as u32 - 1 } else { e - 1 }).collect();
        // Zobrist keys: a fixed stream, so runs are reproducible.
        let mut z = 0x5eed_5eed_0f11_ea7e_u64;
        let zobrist = (0..n)
            .map(|_| {
                z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
                mix64(z)
            })
            .collect();
        Search {
            sub,
            n: n as u32,
            next,
            prev,
            lin: vec![0; n.div_ceil(64) + 1],
            count: 0,
            p: 0,
            hi1: 0,
            zob: 0,
            zobrist,
            state: 0,
            flag: false,
            relaxed,
            used: vec![0; sub.classes.len()],
            info: 0,
            info_sets: InfoSets::new(sub.info_src.len()),
            frames: Vec::new(),
            cands: Vec::new(),
            stamp: vec![0; sub.classes.len()],
            stamp_now: 0,
            memo: Memo::default(),
            best: Best { setter: NONE, last: NONE, ..Best::default() },
            steps: 0,
            max_steps,
            deadline,
        }
    }

    /// Ok(true): linearizable; Ok(false): not; Err: the budget ran out.
    fn run(&mut self) -> Result<bool, Exhausted> {
        if self.n == 0 {
            return Ok(true);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Exhausted::Deadline);
        }
        self.frames.push(Frame {
            mv: Move::Root,
            prev_state: 0,
            prev_flag: false,
            prev_p: 0,
            prev_hi1: 0,
            prev_zob: 0,
            prev_info: 0,
            setter: NONE,
            frontier: 0,
            cursor: self.next[HEAD as usize],
            cands_made: false,
            cand_start: 0,
            cand: 0,
            cand_end: 0,
        });
        self.record_best();
        loop {
            if self.steps >= self.max_steps {
                return Err(Exhausted::Steps);
            }
            self.steps += 1;
            if self.steps.is_multiple_of(4096) && self.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Exhausted::Deadline);
            }
            match self.next_move() {
                Some(mv) => {
                    if self.apply(mv) && self.count == self.n {
                        return Ok(true);
                    }
                }
                None => {
                    let f = self.frames.pop().expect("a frame");
                    if self.frames.is_empty() {
                        return Ok(false);
                    }
                    self.undo(&f);
                }
            }
        }
    }

    /// The next alternative from the configuration on top of the path.
    fn next_move(&mut self) -> Option<Move> {
        let sub = self.sub;
        let top = self.frames.len() - 1;
        loop {
            let e = self.frames[top].cursor;
            if e == NONE {
                break;
            }
            if e == HEAD || sub.entry_ret[e as usize] {
                self.frames[top].cursor = NONE;
                break;
            }
            self.frames[top].cursor = self.next[e as usize];
            let k = sub.entry_op[e as usize];
            let step = sub.steps[k as usize];
            if self.flag && matches!(step, Step::Write(_)) {
                continue;
            }
            if step.apply(self.state).is_some() {
                return Some(Move::Normal(k));
            }
        }
        if !self.frames[top].cands_made {
            let start = self.cands.len() as u32;
            self.info_candidates();
            let f = &mut self.frames[top];
            f.cands_made = true;
            f.cand_start = start;
            f.cand = start;
            f.cand_end = self.cands.len() as u32;
        }
        let f = &mut self.frames[top];
        if f.cand < f.cand_end {
            let c = self.cands[f.cand as usize];
            f.cand += 1;
            return Some(Move::Info(c));
        }
        None
    }

    /// After a successful relaxed search: can the unknown-outcome ops on the path be given
    /// distinct members? Greedily, earliest invoked first, which is optimal because a member
    /// stays usable from its invocation on and the uses come in time order.
    fn path_uses_each_unknown_op_once(&self) -> bool {
        let mut next = vec![0usize; self.sub.classes.len()];
        self.frames.iter().all(|f| match f.mv {
            Move::Info(c) => {
                let members = &self.sub.classes[c as usize].members;
                let i = &mut next[c as usize];
                let ok = *i < members.len() && self.sub.info_line[members[*i] as usize] < f.frontier;
                *i += 1;
                ok
            }
            _ => true,
        })
    }

    /// Line of the first return still in the list: unknown ops invoked before it are usable.
    fn frontier_line(&self) -> u32 {
        let mut e = self.next[HEAD as usize];
        while e != HEAD {
            if self.sub.entry_ret[e as usize] {
                return self.sub.entry_line[e as usize];
            }
            e = self.next[e as usize];
        }
        u32::MAX
    }

    /// Is the next unused member of class `c` invoked before `frontier`?
    fn available(&self, c: u32, frontier: u32) -> bool {
        let class = &self.sub.classes[c as usize];
        let u = self.used[c as usize] as usize;
        u < class.members.len() && self.sub.info_line[class.members[u] as usize] < frontier
    }

    /// Pushes onto `cands` the unknown-outcome classes worth trying here: only when a
    /// completed read or cas that could go next is blocked by the current value (see the
    /// module documentation for why nothing else is needed).
    fn info_candidates(&mut self) {
        let sub = self.sub;
        if sub.classes.is_empty() {
            return;
        }
        let s = self.state;
        let mut blocked = false;
        let mut want_other = false;
        let frontier = self.frontier_line();
        self.stamp_now += 1;
        let mut e = self.next[HEAD as usize];
        while e != HEAD && !sub.entry_ret[e as usize] {
            match sub.steps[sub.entry_op[e as usize] as usize] {
                Step::Read(v) | Step::CasOk(v, _) if v != s => {
                    blocked = true;
                    if !self.flag && sub.write_class[v as usize] != NONE {
                        self.offer(sub.write_class[v as usize], frontier);
                    }
                }
                Step::CasFail(f) if f == s => {
                    blocked = true;
                    want_other = true;
                }
                _ => {}
            }
            e = self.next[e as usize];
        }
        if !blocked {
            return;
        }
        if !self.flag {
            if want_other {
                for &c in &sub.write_classes {
                    if sub.classes[c as usize].to != s {
                        self.offer(c, frontier);
                    }
                }
            }
            // Chains: a write that an available unknown cas can start from.
            for &c in &sub.cas_classes {
                let from = sub.classes[c as usize].from;
                if from != s && sub.write_class[from as usize] != NONE && self.available(c, frontier) {
                    self.offer(sub.write_class[from as usize], frontier);
                }
            }
        }
        for &c in &sub.cas_from[s as usize] {
            if sub.classes[c as usize].to != s {
                self.offer(c, frontier);
            }
        }
    }

    fn offer(&mut self, c: u32, frontier: u32) {
        if self.stamp[c as usize] != self.stamp_now && self.available(c, frontier) {
            self.stamp[c as usize] = self.stamp_now;
            self.cands.push(c);
        }
    }

    #[inline]
    fn bit(&self, k: u32) -> bool {
        self.lin[k as usize / 64] & (1 << (k % 64)) != 0
    }

    fn window(&self) -> &[u64] {
        if self.hi1 > self.p { &self.lin[self.p as usize / 64..=(self.hi1 as usize - 1) / 64] } else { &[] }
    }

    fn hash(&self) -> u64 {
        // Not the unknown-outcome set: configurations that differ only there must meet in one
        // chain for subsumption.
        let tag = (u64::from(self.state) << 1) ^ u64::from(self.flag);
        mix64(self.zob ^ mix64(tag.wrapping_add(0x9e37_79b9_7f4a_7c15)))
    }

    fn remember(&mut self) -> bool {
        let c = Conf { p: self.p, info: self.info, state: self.state, flag: self.flag };
        let h = self.hash();
        let window: &[u64] =
            if self.hi1 > c.p { &self.lin[c.p as usize / 64..=(self.hi1 as usize - 1) / 64] } else { &[] };
        self.memo.insert(h, c, window, &self.info_sets)
    }

    /// Makes `mv` if it leads to a configuration not seen before; pushes its frame.
    fn apply(&mut self, mv: Move) -> bool {
        let sub = self.sub;
        let parent = self.frames.last().expect("a frame");
        let mut frame = Frame {
            mv,
            prev_state: self.state,
            prev_flag: self.flag,
            prev_p: self.p,
            prev_hi1: self.hi1,
            prev_zob: self.zob,
            prev_info: self.info,
            setter: parent.setter,
            frontier: 0,
            cursor: NONE,
            cands_made: false,
            cand_start: 0,
            cand: 0,
            cand_end: 0,
        };
        match mv {
            Move::Root => unreachable!("the root is never re-entered"),
            Move::Normal(k) => {
                let step = sub.steps[k as usize];
                self.state = step.apply(self.state).expect("next_move offers allowed steps only");
                self.flag = false;
                self.lin[k as usize / 64] |= 1 << (k % 64);
                self.count += 1;
                self.zob ^= self.zobrist[k as usize];
                self.hi1 = self.hi1.max(k + 1);
                if k == self.p {
                    while self.p < self.n && self.bit(self.p) {
                        self.p += 1;
                    }
                }
                if !self.remember() {
                    self.lin[k as usize / 64] &= !(1 << (k % 64));
                    self.count -= 1;
                    self.restore(&frame);
                    return false;
                }
                self.lift(k);
                if step.writes().is_some() {
                    frame.setter = sub.src[k as usize];
                }
                frame.cursor = self.next[HEAD as usize];
                self.frames.push(frame);
                if self.count > self.best.count {
                    self.record_best();
                }
            }
            Move::Info(c) => {
                let class = &sub.classes[c as usize];
                let op = class.members[self.used[c as usize] as usize];
                self.state = class.to;
                self.flag = true;
                if !self.relaxed {
                    self.info = self.info_sets.with(self.info, op);
                }
                if !self.remember() {
                    self.restore(&frame);
                    return false;
                }
                if !self.relaxed {
                    self.used[c as usize] += 1;
                }
                frame.setter = sub.info_src[op as usize];
                frame.frontier = self.frontier_line();
                frame.cursor = self.next[HEAD as usize];
                self.frames.push(frame);
            }
        }
        true
    }

    fn restore(&mut self, f: &Frame) {
        self.state = f.prev_state;
        self.flag = f.prev_flag;
        self.p = f.prev_p;
        self.hi1 = f.prev_hi1;
        self.zob = f.prev_zob;
        self.info = f.prev_info;
    }

    fn undo(&mut self, f: &Frame) {
        match f.mv {
            Move::Root => unreachable!("the root is never undone"),
            Move::Normal(k) => {
                self.unlift(k);
                self.lin[k as usize / 64] &= !(1 << (k % 64));
                self.count -= 1;
            }
            Move::Info(c) => {
                if !self.relaxed {
                    self.used[c as usize] -= 1;
                }
            }
        }
        if f.cands_made {
            self.cands.truncate(f.cand_start as usize);
        }
        self.restore(f);
    }

    fn lift(&mut self, k: u32) {
        for e in [self.sub.call_entry[k as usize], self.sub.ret_entry[k as usize]] {
            let (p, n) = (self.prev[e as usize], self.next[e as usize]);
            self.next[p as usize] = n;
            self.prev[n as usize] = p;
        }
    }

    fn unlift(&mut self, k: u32) {
        // Reverse order of `lift`: each entry still knows its old neighbours.
        for e in [self.sub.ret_entry[k as usize], self.sub.call_entry[k as usize]] {
            let (p, n) = (self.prev[e as usize], self.next[e as usize]);
            self.next[p as usize] = e;
            self.prev[n as usize] = e;
        }
    }

    fn record_best(&mut self) {
        let top = self.frames.last().expect("a frame");
        let last = match top.mv {
            Move::Normal(k) => self.sub.src[k as usize],
            _ => NONE,
        };
        self.best.count = self.count;
        self.best.state = self.state;
        self.best.setter = top.setter;
        self.best.last = last;
        self.best.p = self.p;
        self.best.info = self.info;
        self.best.window.clear();
        let w = if self.hi1 > self.p { self.window().to_vec() } else { Vec::new() };
        self.best.window = w;
        self.best.minimal.clear();
        let mut e = self.next[HEAD as usize];
        while e != HEAD && !self.sub.entry_ret[e as usize] {
            self.best.minimal.push(self.sub.entry_op[e as usize]);
            e = self.next[e as usize];
        }
        // The op whose return is first goes first: it is the one that cannot wait.
        if e != HEAD {
            let first = self.sub.entry_op[e as usize];
            if let Some(i) = self.best.minimal.iter().position(|&k| k == first) {
                self.best.minimal[..=i].rotate_right(1);
            }
        }
    }

    /// Was completed op `k` linearized in the best configuration?
    fn best_has(&self, k: u32) -> bool {
        let b = &self.best;
        if k < b.p {
            return true;
        }
        let w = (k / 64 - b.p / 64) as usize;
        b.window.get(w).is_some_and(|word| word & (1 << (k % 64)) != 0)
    }

    /// The explanation of a failed search, from the deepest configuration it reached.
    fn explain(&self, history: &History, key: Option<Key>, label: String) -> Violation {
        let sub = self.sub;
        let b = &self.best;
        let r = |i: u32| OpRef::new(history, i as usize);
        let stuck_k = *b.minimal.first().expect("a failed search is stuck on some op");
        let stuck = r(sub.src[stuck_k as usize]);
        let stuck_ret = sub.entry_line[sub.ret_entry[stuck_k as usize] as usize];
        let x = sub.values[b.state as usize];
        let last_write = (b.setter != NONE).then(|| r(b.setter));
        let last_op = (b.last != NONE).then(|| r(b.last));
        // Ops that could still set a value before `stuck`: completed ones not yet linearized
        // and invoked before it returned, and unused unknown ones invoked before that too.
        let could_write = |ok: &dyn Fn(u32) -> bool| -> Vec<OpRef> {
            let mut v: Vec<u32> = Vec::new();
            for (k, step) in sub.steps.iter().enumerate() {
                let k = k as u32;
                if let Some(w) = step.writes()
                    && ok(w)
                    && !self.best_has(k)
                    && sub.entry_line[sub.call_entry[k as usize] as usize] < stuck_ret
                {
                    v.push(sub.src[k as usize]);
                }
            }
            for (i, &line) in sub.info_line.iter().enumerate() {
                let c = &sub.classes[sub.info_class[i] as usize];
                if ok(c.to) && line < stuck_ret && !self.info_sets.contains(b.info, i as u32) {
                    v.push(sub.info_src[i]);
                }
            }
            v.sort_unstable();
            v.into_iter().map(r).collect()
        };
        let list = |ops: &[OpRef]| -> String {
            let mut s: Vec<String> = ops.iter().take(3).map(OpRef::brief).collect();
            if ops.len() > 3 {
                s.push(format!("{} more", ops.len() - 3));
            }
            s.join(", ")
        };
        let overlapping = b.minimal.len().saturating_sub(1);
        let dead_end = |what: &str, ops: &[OpRef]| -> String {
            format!(
                "the {what} that could still come first ({}) lead{} to a dead end with the {} other operation{} \
                 overlapping it",
                list(ops),
                if ops.len() == 1 { "s" } else { "" },
                overlapping,
                if overlapping == 1 { "" } else { "s" }
            )
        };
        let reason = match sub.steps[stuck_k as usize] {
            Step::Read(v) | Step::CasOk(v, _) => {
                let want = sub.values[v as usize];
                let needs = if matches!(sub.steps[stuck_k as usize], Step::Read(_)) {
                    String::new()
                } else {
                    format!("it needs {}, but ", show(want))
                };
                let writers = could_write(&|w| w == v);
                if want.is_none() {
                    let by = last_write.as_ref().map_or("a write".to_owned(), OpRef::brief);
                    let when = match last_write.as_ref().and_then(|w| w.complete_line) {
                        Some(l) if l < stuck.invoke_line => "completed before it was invoked",
                        _ => "had to take effect before it",
                    };
                    format!("{needs}it returns the initial value, but {by} {when}")
                } else if writers.is_empty() {
                    format!("{needs}no write of {} is concurrent with it or precedes it unlinearized", show(want))
                } else {
                    format!(
                        "{needs}{}",
                        dead_end(&format!("write{} of {}", plural(writers.len()), show(want)), &writers)
                    )
                }
            }
            Step::CasFail(from) => {
                let writers = could_write(&|w| w != from);
                if writers.is_empty() {
                    format!(
                        "it saw a value other than {}, but no write of another value is concurrent with it or precedes \
                         it unlinearized",
                        show(sub.values[from as usize])
                    )
                } else {
                    format!(
                        "it saw a value other than {}, but {}",
                        show(sub.values[from as usize]),
                        dead_end(&format!("write{} of other values", plural(writers.len())), &writers)
                    )
                }
            }
            Step::Write(_) => "no order of the operations overlapping it works".to_owned(),
        };
        let holds = match x {
            Some(v) => format!("the register holds {v}"),
            None => "the register holds its initial value (null)".to_owned(),
        };
        let context = match (&last_write, &last_op) {
            (_, None) => format!("at the start {holds}"),
            (None, Some(l)) => format!("after {}, {holds}", l.brief()),
            (Some(w), Some(l)) if w.index == l.index => format!("after {}, {holds}", w.brief()),
            (Some(w), Some(l)) => format!("after {} and {}, {holds}", w.brief(), l.brief()),
        };
        let message = format!("{}{context}; {} cannot be placed: {reason}", prefix(history, &label), stuck.placed());
        Violation {
            key,
            label,
            operations: sub.steps.len(),
            linearized: Some(b.count as usize),
            state: x,
            last_write,
            last_op,
            stuck,
            also_stuck: b.minimal[1..].iter().map(|&k| r(sub.src[k as usize])).collect(),
            reason,
            message,
        }
    }
}

/// `key 7: ` before explanations of a key-value history; nothing for a single register.
fn prefix(history: &History, label: &str) -> String {
    match history.model {
        Model::Kv => format!("{label}: "),
        Model::Register => String::new(),
    }
}

/// The explanation of a stale read found by `definite_stale`.
fn explain_stale(sub: &Sub, history: &History, st: Stale, key: Option<Key>, label: String) -> Violation {
    let r = |i: u32| OpRef::new(history, i as usize);
    let stuck = r(sub.src[st.op as usize]);
    let v = match sub.steps[st.op as usize] {
        Step::Read(v) | Step::CasOk(v, _) => v,
        _ => unreachable!("only reads and successful cas ops are checked for staleness"),
    };
    let want = show(sub.values[v as usize]);
    let needs = if matches!(sub.steps[st.op as usize], Step::Read(_)) {
        String::new()
    } else {
        format!("it needs {want}, but ")
    };
    let pre = prefix(history, &label);
    let operations = sub.steps.len();
    if st.fence == NONE {
        let reason = format!("{needs}no write of {want} is concurrent with it or precedes it");
        return Violation {
            key,
            label,
            operations,
            linearized: None,
            state: None,
            last_write: None,
            last_op: None,
            message: format!("{pre}{} cannot be placed: {reason}", stuck.placed()),
            stuck,
            also_stuck: Vec::new(),
            reason,
        };
    }
    let fence = r(sub.src[st.fence as usize]);
    let x = sub.steps[st.fence as usize].writes().expect("a fence writes");
    let state = sub.values[x as usize];
    let reason = if v == 0 {
        format!("{needs}it returns the initial value, but {} completed before it was invoked", fence.op)
    } else {
        format!(
            "{needs}every write of {want} completed before {} was invoked (the last: {}), and {} completed before \
             it was invoked",
            fence.op,
            r(sub.src[st.last as usize]).brief(),
            fence.op
        )
    };
    let message = format!(
        "{pre}after {}, the register holds {}; {} cannot be placed: {reason}",
        fence.brief(),
        show(state),
        stuck.placed()
    );
    Violation {
        key,
        label,
        operations,
        linearized: None,
        state,
        last_write: Some(fence.clone()),
        last_op: Some(fence),
        stuck,
        also_stuck: Vec::new(),
        reason,
        message,
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
