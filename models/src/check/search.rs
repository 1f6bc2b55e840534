//! The search for one key: Wing & Gong's backtracking over the entry list, with Lowe's
//! memoisation, the reductions described in `linear`'s documentation, and the explanation of a
//! failure.

// The wall clock is read only for `Budget::deadline`, which offline callers (`check-history
// --timeout-s`) may set; runs check their histories with a step budget and no deadline, so
// verdicts inside a simulation depend on the history alone (ARCHITECTURE.md, "Invariants").
use std::time::Instant;

use super::history::{History, Key, show};
use super::linear::{Exhausted, OpRef, Violation, plural, prefix};
use super::memo::{Conf, InfoSets, Memo, mix64};
use super::register::{HEAD, INFO, NONE, Step, Sub};

/// How a search treats unknown-outcome ops (see "Relax, then count" in `linear`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Each may be used any number of times: a relaxation, so a failure is a proof.
    Relaxed,
    /// Each at most once, but configurations are remembered without which were used: a
    /// success is a proof, a failure is not.
    Greedy,
    /// Each at most once, and remembered: exact.
    Exact,
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
    /// No move planned from here yet.
    fresh: bool,
    /// Planned moves `plans[plan..plan_end]` still to try (from `plan_start`).
    plan_start: u32,
    plan: u32,
    plan_end: u32,
    /// Candidate unknown-outcome classes, `cands[cand..cand_end]`, made when needed.
    cands_made: bool,
    cand_start: u32,
    cand: u32,
    cand_end: u32,
}

impl Frame {
    /// A frame for `mv` with nothing saved yet and no plan or candidates made.
    fn fresh(mv: Move, setter: u32) -> Frame {
        Frame {
            mv,
            prev_state: 0,
            prev_flag: false,
            prev_p: 0,
            prev_hi1: 0,
            prev_zob: 0,
            prev_info: 0,
            setter,
            frontier: 0,
            fresh: true,
            plan_start: 0,
            plan: 0,
            plan_end: 0,
            cands_made: false,
            cand_start: 0,
            cand: 0,
            cand_end: 0,
        }
    }
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

pub(super) struct Search<'s> {
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
    mode: Mode,
    used: Vec<u32>,
    info: u32,
    info_sets: InfoSets,
    frames: Vec<Frame>,
    /// Planned moves of the frames on the path (segments, last frame's on top): completed op
    /// ids, or `INFO | class`.
    plans: Vec<u32>,
    /// Scratch: the completed ops that may go next.
    minimal: Vec<u32>,
    cands: Vec<u32>,
    stamp: Vec<u32>,
    stamp_now: u32,
    /// Per value: `vstamp_now` if observable soon (see `mark_observed`).
    vstamp: Vec<u32>,
    vstamp_now: u32,
    /// Per value: `rstamp_now` if it leads to a wanted value; and those values.
    rstamp: Vec<u32>,
    rstamp_now: u32,
    reach: Vec<u32>,
    memo: Memo,
    best: Best,
    pub(super) steps: u64,
    max_steps: u64,
    deadline: Option<Instant>,
}

impl<'s> Search<'s> {
    pub(super) fn new(sub: &'s Sub, mode: Mode, max_steps: u64, deadline: Option<Instant>) -> Search<'s> {
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
            mode,
            used: vec![0; sub.classes.len()],
            info: 0,
            info_sets: InfoSets::new(sub.info_src.len()),
            frames: Vec::new(),
            plans: Vec::new(),
            minimal: Vec::new(),
            cands: Vec::new(),
            stamp: vec![0; sub.classes.len()],
            stamp_now: 0,
            vstamp: vec![0; sub.values.len()],
            vstamp_now: 0,
            rstamp: vec![0; sub.values.len()],
            rstamp_now: 0,
            reach: Vec::new(),
            memo: Memo::default(),
            best: Best { setter: NONE, last: NONE, ..Best::default() },
            steps: 0,
            max_steps,
            deadline,
        }
    }

    /// Ok(true): linearizable; Ok(false): not; Err: the budget ran out.
    pub(super) fn run(&mut self) -> Result<bool, Exhausted> {
        if self.n == 0 {
            return Ok(true);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Exhausted::Deadline);
        }
        self.frames.push(Frame::fresh(Move::Root, NONE));
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
        let top = self.frames.len() - 1;
        if self.frames[top].fresh {
            let start = self.plans.len() as u32;
            let forced = self.plan();
            let end = self.plans.len() as u32;
            let f = &mut self.frames[top];
            f.fresh = false;
            (f.plan_start, f.plan, f.plan_end) = (start, start, end);
            if forced {
                // Nothing else to try from here, not even unknown-outcome ops.
                f.cands_made = true;
                (f.cand_start, f.cand, f.cand_end) = (self.cands.len() as u32, 0, 0);
            }
        }
        let f = &mut self.frames[top];
        if f.plan < f.plan_end {
            let m = self.plans[f.plan as usize];
            f.plan += 1;
            return Some(if m & INFO != 0 { Move::Info(m & !INFO) } else { Move::Normal(m) });
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

    /// Pushes onto `plans` the completed ops that may go next, best bets first; returns true
    /// if one of them is forced (the only move worth trying).
    ///
    /// The order only affects speed; every allowed completed op is in the plan. First the op
    /// whose return comes first (the frontier: it cannot wait), if the value allows it; if not,
    /// the moves that would make it possible (just-in-time, as in Lowe's JIT linearization);
    /// then the rest in call order. Unknown-outcome ops come later (`info_candidates`), except
    /// those that unblock the frontier op directly.
    fn plan(&mut self) -> bool {
        let sub = self.sub;
        let x = self.state;
        let mut minimal = std::mem::take(&mut self.minimal);
        minimal.clear();
        let mut e = self.next[HEAD as usize];
        while e != HEAD && !sub.entry_ret[e as usize] {
            let k = sub.entry_op[e as usize];
            // A read or failed cas that the value allows changes nothing: placing it first
            // keeps every linearization (nothing that must precede it is missing, and the ops
            // it jumps over see the same values). So it is the only move tried — the reduction
            // that keeps many concurrent readers from multiplying the search.
            let free = match sub.steps[k as usize] {
                Step::Read(v) => v == x,
                Step::CasFail(from) => from != x,
                _ => false,
            };
            if free {
                self.plans.push(k);
                self.minimal = minimal;
                return true;
            }
            minimal.push(k);
            e = self.next[e as usize];
        }
        let flag = self.flag;
        let allowed = |k: u32| -> Option<u32> {
            let step = sub.steps[k as usize];
            if flag && matches!(step, Step::Write(_)) { None } else { step.apply(x) }
        };
        let start = self.plans.len();
        if e != HEAD {
            let f = sub.entry_op[e as usize];
            let fstep = sub.steps[f as usize];
            if allowed(f).is_some() {
                self.plans.push(f);
            } else if fstep.apply(x).is_none() {
                for &k in &minimal {
                    if k != f && allowed(k).is_some_and(|s| fstep.apply(s).is_some()) {
                        self.plans.push(k);
                    }
                }
                if !sub.classes.is_empty() {
                    let frontier = sub.entry_line[e as usize];
                    let write = match (flag, fstep) {
                        (false, Step::Read(v) | Step::CasOk(v, _)) => sub.write_class[v as usize],
                        _ => NONE,
                    };
                    let cas = sub.cas_from[x as usize].iter().copied();
                    for c in std::iter::once(write).chain(cas) {
                        if c != NONE
                            && sub.classes[c as usize].to != x
                            && fstep.apply(sub.classes[c as usize].to).is_some()
                            && self.available(c, frontier)
                        {
                            self.plans.push(INFO | c);
                        }
                    }
                }
            }
        }
        for &k in &minimal {
            if allowed(k).is_some() && !self.plans[start..].contains(&k) {
                self.plans.push(k);
            }
        }
        self.minimal = minimal;
        false
    }

    /// After a successful relaxed search: can the unknown-outcome ops on the path be given
    /// distinct members? Greedily, earliest invoked first, which is optimal because a member
    /// stays usable from its invocation on and the uses come in time order.
    pub(super) fn path_uses_each_unknown_op_once(&self) -> bool {
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
    /// completed read or cas that could go next is blocked by the current value, and only
    /// those that can unblock it — directly, or through a chain of unknown cas ops (see the
    /// module documentation for why nothing else is needed).
    fn info_candidates(&mut self) {
        let sub = self.sub;
        if sub.classes.is_empty() {
            return;
        }
        let s = self.state;
        let frontier = self.frontier_line();
        self.stamp_now += 1;
        self.rstamp_now += 1;
        // Values wanted by blocked reads and cas ops, then every value from which available
        // unknown cas ops lead to one of them.
        let mut reach = std::mem::take(&mut self.reach);
        reach.clear();
        let mut want_other = false;
        let mut e = self.next[HEAD as usize];
        while e != HEAD && !sub.entry_ret[e as usize] {
            match sub.steps[sub.entry_op[e as usize] as usize] {
                Step::Read(v) | Step::CasOk(v, _) if v != s && self.rstamp[v as usize] != self.rstamp_now => {
                    self.rstamp[v as usize] = self.rstamp_now;
                    reach.push(v);
                }
                Step::CasFail(f) if f == s => want_other = true,
                _ => {}
            }
            e = self.next[e as usize];
        }
        let mut i = 0;
        while i < reach.len() {
            for &c in &sub.cas_to[reach[i] as usize] {
                let from = sub.classes[c as usize].from;
                if self.rstamp[from as usize] != self.rstamp_now && self.available(c, frontier) {
                    self.rstamp[from as usize] = self.rstamp_now;
                    reach.push(from);
                }
            }
            i += 1;
        }
        if !self.flag {
            for &v in &reach {
                if v != s && sub.write_class[v as usize] != NONE {
                    self.offer(sub.write_class[v as usize], frontier);
                }
            }
            if want_other && self.mode == Mode::Exact {
                for &c in &sub.write_classes {
                    if sub.classes[c as usize].to != s {
                        self.offer(c, frontier);
                    }
                }
            } else if want_other {
                // Any value but `s` will do for the failed cas, and when unknown ops may be
                // reused one stands for all: whatever a different choice would let a later op
                // observe, that op can have by using the other unknown write just before it.
                // Prefer a value something will observe soon (fewer such repairs).
                self.mark_observed();
                let mut stand_in = NONE;
                for &c in &sub.write_classes {
                    let to = sub.classes[c as usize].to;
                    if to != s && self.available(c, frontier) {
                        if self.vstamp[to as usize] == self.vstamp_now {
                            stand_in = c;
                            break;
                        }
                        if stand_in == NONE {
                            stand_in = c;
                        }
                    }
                }
                if stand_in != NONE {
                    self.offer(stand_in, frontier);
                }
            }
        }
        for &c in &sub.cas_from[s as usize] {
            let to = sub.classes[c as usize].to;
            if to != s && (want_other || self.rstamp[to as usize] == self.rstamp_now) {
                self.offer(c, frontier);
            }
        }
        self.reach = reach;
    }

    /// Stamps (`vstamp`) the values that something could observe before the register is next
    /// overwritten for sure: reads and cas ops invoked before the first return of a pending
    /// plain write (everything invoked later comes after that write), and unknown cas ops
    /// invoked by then.
    fn mark_observed(&mut self) {
        let sub = self.sub;
        self.vstamp_now += 1;
        let mut until = u32::MAX;
        let mut e = self.next[HEAD as usize];
        while e != HEAD {
            let k = sub.entry_op[e as usize];
            match (sub.entry_ret[e as usize], sub.steps[k as usize]) {
                (true, Step::Write(_)) => {
                    until = sub.entry_line[e as usize];
                    break;
                }
                (false, Step::Read(v) | Step::CasOk(v, _) | Step::CasFail(v)) => {
                    self.vstamp[v as usize] = self.vstamp_now
                }
                _ => {}
            }
            e = self.next[e as usize];
        }
        for &c in &sub.cas_classes {
            let class = &sub.classes[c as usize];
            if sub.info_line[class.members[0] as usize] < until {
                self.vstamp[class.from as usize] = self.vstamp_now;
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
            prev_state: self.state,
            prev_flag: self.flag,
            prev_p: self.p,
            prev_hi1: self.hi1,
            prev_zob: self.zob,
            prev_info: self.info,
            ..Frame::fresh(mv, parent.setter)
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
                if self.mode == Mode::Exact {
                    self.info = self.info_sets.with(self.info, op);
                }
                if !self.remember() {
                    self.restore(&frame);
                    return false;
                }
                if self.mode != Mode::Relaxed {
                    self.used[c as usize] += 1;
                }
                frame.setter = sub.info_src[op as usize];
                frame.frontier = self.frontier_line();
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
                if self.mode != Mode::Relaxed {
                    self.used[c as usize] -= 1;
                }
            }
        }
        if !f.fresh {
            self.plans.truncate(f.plan_start as usize);
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
    pub(super) fn explain(&self, history: &History, key: Option<Key>, label: String) -> Violation {
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
                    // A read returns the initial value; a cas (from `null`) needs it.
                    let what = if needs.is_empty() { "it returns" } else { "it needs" };
                    format!("{what} the initial value, but {by} {when}")
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
