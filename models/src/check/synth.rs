//! Histories recorded from a simulated linearizable register (or one register per key), for
//! property tests and benchmarks of the checker.
//!
//! Processes invoke reads, writes and cas ops; each op takes effect atomically at a random
//! moment between its invocation and its completion, so the history is linearizable by
//! construction. Some ops have their outcome hidden, the ways real clients lose track of them:
//! completed as `info` after taking effect, completed as `info` before taking effect (and then
//! taking effect later, or never), or abandoned without a completion (the process "crashes"
//! and a fresh process id takes its place, as in Jepsen). Optionally one stale read is planted:
//! all ordinary ops finish, a write of a fresh value completes, and then a read returns an older
//! value that nothing still in flight could have written — no longer linearizable.

use std::collections::BTreeSet;

use faultline_sim::Stream;

use super::history::{Event, EventType, Func, Key, Value};

/// What to generate.
#[derive(Clone, Debug)]
pub struct Params {
    /// Operations to invoke (the planted ones come on top).
    pub ops: usize,
    /// Concurrent processes.
    pub processes: u32,
    /// 0: one register, events without a key; otherwise keys `0..keys`.
    pub keys: u32,
    /// Writes and cas ops draw values from `1..=values`: small ranges repeat values, which makes
    /// checking harder.
    pub values: i64,
    /// Fractions of reads and of cas ops (the rest are writes).
    pub read: f64,
    pub cas: f64,
    /// Fraction of ops whose outcome is hidden (`info`, or never completed).
    pub info: f64,
    /// Plant a stale read once this many ops have been invoked.
    pub stale_read_at: Option<usize>,
}

impl Default for Params {
    fn default() -> Params {
        Params { ops: 1_000, processes: 8, keys: 0, values: 5, read: 0.5, cas: 0.2, info: 0.1, stale_read_at: None }
    }
}

/// A generated history.
#[derive(Clone, Debug)]
pub struct Generated {
    /// Events in time order; event `i` is line `i + 1`.
    pub events: Vec<Event>,
    /// Line of the planted stale read's completion, if one was planted.
    pub planted: Option<u32>,
}

impl Generated {
    /// The history as JSON Lines.
    pub fn to_jsonl(&self) -> String {
        let mut s = String::new();
        for e in &self.events {
            s.push_str(&e.to_json());
            s.push('\n');
        }
        s
    }
}

#[derive(Clone, Copy, Debug)]
enum Call {
    Read,
    Write(i64),
    Cas(i64, i64),
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    key: usize,
    call: Call,
    /// `Some(result)` once it took effect: the value read, or whether the cas matched.
    applied: Option<Option<i64>>,
    hidden: bool,
}

struct Gen<'a> {
    p: &'a Params,
    rng: &'a mut Stream,
    events: Vec<Event>,
    time: u64,
    state: Vec<Option<i64>>,
    /// Per process slot: the process id it runs as now, and its pending op.
    ids: Vec<i64>,
    pending: Vec<Option<Pending>>,
    next_id: i64,
    /// Hidden ops completed as `info` before taking effect: they may still take effect.
    ghosts: Vec<(usize, Call)>,
    /// Per key: values written by ok ops, and values that a hidden op may write.
    ok_values: Vec<BTreeSet<i64>>,
    maybe_values: Vec<BTreeSet<i64>>,
}

/// Generates a history from `rng` (deterministic for a given stream).
pub fn register_history(p: &Params, rng: &mut Stream) -> Generated {
    let keys = p.keys.max(1) as usize;
    let mut g = Gen {
        p,
        rng,
        events: Vec::new(),
        time: 0,
        state: vec![None; keys],
        ids: (0..i64::from(p.processes)).collect(),
        pending: vec![None; p.processes as usize],
        next_id: i64::from(p.processes),
        ghosts: Vec::new(),
        ok_values: vec![BTreeSet::new(); keys],
        maybe_values: vec![BTreeSet::new(); keys],
    };
    let mut invoked = 0;
    let mut planted = None;
    loop {
        if planted.is_none() && p.stale_read_at == Some(invoked) {
            planted = Some(g.plant());
        }
        let busy = g.pending.iter().any(|x| x.is_some_and(|x| !x.hidden));
        if invoked >= p.ops && !busy {
            break;
        }
        g.time += 10;
        if !g.ghosts.is_empty() && g.rng.chance(0.05) {
            let i = g.rng.below(g.ghosts.len() as u64) as usize;
            let (key, call) = g.ghosts.swap_remove(i);
            g.apply(key, call);
        }
        let slot = g.rng.below(u64::from(p.processes)) as usize;
        match g.pending[slot] {
            None if invoked < p.ops => {
                g.invoke(slot);
                invoked += 1;
            }
            None => {}
            // Past the end, hidden ops are left without a completion.
            Some(op) if op.hidden && invoked >= p.ops => {}
            Some(op) => g.advance(slot, op),
        }
    }
    if planted.is_none() && p.stale_read_at.is_some() {
        planted = Some(g.plant());
    }
    Generated { events: g.events, planted }
}

impl Gen<'_> {
    fn key_field(&self, key: usize) -> Option<Key> {
        (self.p.keys > 0).then_some(Key::Int(key as i64))
    }

    fn emit(&mut self, process: i64, kind: EventType, key: usize, call: Call, result: Option<Option<i64>>) {
        let (f, value) = match (call, kind) {
            (Call::Read, EventType::Ok) => (Func::Read, Some(result.flatten().map_or(Value::Null, Value::Int))),
            (Call::Read, _) => (Func::Read, Some(Value::Null)),
            (Call::Write(v), _) => (Func::Write, Some(Value::Int(v))),
            (Call::Cas(a, b), _) => (Func::Cas, Some(Value::Pair(Some(a), b))),
        };
        self.time += 1;
        let ev = Event {
            process,
            kind,
            f,
            key: self.key_field(key),
            value,
            time: Some(self.time),
            index: None,
            session: None,
        };
        self.events.push(ev);
    }

    fn value(&mut self) -> i64 {
        1 + self.rng.below(self.p.values.max(1) as u64) as i64
    }

    fn invoke(&mut self, slot: usize) {
        let key = self.rng.below(self.state.len() as u64) as usize;
        let r = self.rng.f64();
        let call = if r < self.p.read {
            Call::Read
        } else if r < self.p.read + self.p.cas {
            // Half the time compare against the current value, so that some cas ops succeed.
            let from = match self.state[key] {
                Some(v) if self.rng.chance(0.5) => v,
                _ => self.value(),
            };
            Call::Cas(from, self.value())
        } else {
            Call::Write(self.value())
        };
        let hidden = self.rng.chance(self.p.info);
        if hidden {
            match call {
                Call::Write(v) | Call::Cas(_, v) => {
                    self.maybe_values[key].insert(v);
                }
                Call::Read => {}
            }
        }
        self.emit(self.ids[slot], EventType::Invoke, key, call, None);
        self.pending[slot] = Some(Pending { key, call, applied: None, hidden });
    }

    /// Takes effect now; returns the value read or whether the cas matched (as `Some(1)`).
    fn apply(&mut self, key: usize, call: Call) -> Option<i64> {
        let s = &mut self.state[key];
        match call {
            Call::Read => *s,
            Call::Write(v) => {
                *s = Some(v);
                None
            }
            Call::Cas(from, to) => {
                if *s == Some(from) {
                    *s = Some(to);
                    Some(1)
                } else {
                    None
                }
            }
        }
    }

    fn advance(&mut self, slot: usize, mut op: Pending) {
        let id = self.ids[slot];
        if op.applied.is_none() {
            let r = self.rng.f64();
            if r < 0.5 {
                op.applied = Some(self.apply(op.key, op.call));
                self.pending[slot] = Some(op);
            } else if op.hidden && r < 0.6 {
                // Lost before taking effect: reported as info, and maybe applied later.
                self.emit(id, EventType::Info, op.key, op.call, None);
                if self.rng.chance(0.5) {
                    self.ghosts.push((op.key, op.call));
                }
                self.pending[slot] = None;
            } else if op.hidden && r < 0.65 {
                // The process crashes: no completion, a fresh process takes the slot.
                if self.rng.chance(0.5) {
                    self.ghosts.push((op.key, op.call));
                }
                self.pending[slot] = None;
                self.ids[slot] = self.next_id;
                self.next_id += 1;
            }
            return;
        }
        let result = op.applied.expect("applied");
        self.pending[slot] = None;
        if op.hidden {
            self.emit(id, EventType::Info, op.key, op.call, None);
            return;
        }
        match op.call {
            Call::Cas(_, to) if result.is_some() => {
                self.ok_values[op.key].insert(to);
                self.emit(id, EventType::Ok, op.key, op.call, None);
            }
            Call::Cas(..) => self.emit(id, EventType::Fail, op.key, op.call, None),
            Call::Write(v) => {
                self.ok_values[op.key].insert(v);
                self.emit(id, EventType::Ok, op.key, op.call, None);
            }
            Call::Read => self.emit(id, EventType::Ok, op.key, op.call, Some(result)),
        }
    }

    /// Finishes every ordinary pending op, completes a write of a fresh value, then records a
    /// read of an older value that no op still in flight can write. Returns the read's line.
    fn plant(&mut self) -> u32 {
        for slot in 0..self.pending.len() {
            if let Some(mut op) = self.pending[slot]
                && !op.hidden
            {
                if op.applied.is_none() {
                    op.applied = Some(self.apply(op.key, op.call));
                    self.pending[slot] = Some(op);
                }
                self.advance(slot, op);
            }
        }
        let key = self.rng.below(self.state.len() as u64) as usize;
        let fresh = self.p.values.max(1) + 1_000_000;
        let old: Vec<i64> = self.ok_values[key].difference(&self.maybe_values[key]).copied().collect();
        let stale = if !old.is_empty() && self.rng.chance(0.8) {
            Some(old[self.rng.below(old.len() as u64) as usize])
        } else {
            None
        };
        let (writer, reader) = (self.next_id, self.next_id + 1);
        self.next_id += 2;
        self.emit(writer, EventType::Invoke, key, Call::Write(fresh), None);
        self.apply(key, Call::Write(fresh));
        self.emit(writer, EventType::Ok, key, Call::Write(fresh), None);
        self.ok_values[key].insert(fresh);
        self.emit(reader, EventType::Invoke, key, Call::Read, None);
        self.emit(reader, EventType::Ok, key, Call::Read, Some(stale));
        self.events.len() as u32
    }
}
