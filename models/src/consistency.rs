//! Recording what clients saw of a replicated database, and the checks on it that need no
//! search: stale reads and staleness, read-your-writes and monotonic-read violations. (Lost
//! updates and convergence need the replicas' logs, so the world computes those; linearizability
//! is a search, in [`crate::check`].)
//!
//! # What is recorded
//! Every attempt a client sends to a recorded database is one operation (a retry is a new
//! operation, with a new process id): `invoke` when sent; `ok` with the version the replica
//! answered; `fail` when it certainly did not take effect; `info` when it may have — a timeout,
//! or an `Unavailable` write (a leader that stepped down with the write pending may still have
//! replicated it), or no answer before the client crashed or the run ended.
//!
//! Values are versions ([`crate::db::version`]: term and log index), which name the write that
//! produced them. A write's value is not known when it is sent, so the history is assembled at
//! the end of the run: every write the leader appended is matched to the call that sent it,
//! whether or not the caller heard back. A write that was never appended gets a negative value
//! no read can return. A hedged write whose two copies were both appended is the copy whose
//! answer the client received (else the first appended), plus one more write, `info`, for the
//! other copy.
//!
//! Sessions: a closed-loop workload's user, or any other caller actor as a whole.

use std::collections::BTreeMap;

use faultline_sim::Nanos;

use crate::calls::{OpEvent, OpStep};
use crate::msg::{CallId, Op, Status};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistKind {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl HistKind {
    pub fn name(self) -> &'static str {
        match self {
            HistKind::Invoke => "invoke",
            HistKind::Ok => "ok",
            HistKind::Fail => "fail",
            HistKind::Info => "info",
        }
    }
}

/// One line of a Jepsen-style history (the format of `faultline check-history`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistOp {
    pub time: Nanos,
    pub process: u64,
    pub session: u64,
    pub kind: HistKind,
    /// `Op::Read` or `Op::Write`.
    pub f: Op,
    pub key: u64,
    /// A version; `None` = the initial, never-written value (reads) or unknown.
    pub value: Option<i64>,
}

impl HistOp {
    /// The event as the history format has it (`check::history`), with `time` and `session`.
    pub fn event(&self) -> crate::check::history::Event {
        use crate::check::history::{Event, EventType, Func, Key, Value};
        Event {
            process: self.process as i64,
            kind: match self.kind {
                HistKind::Invoke => EventType::Invoke,
                HistKind::Ok => EventType::Ok,
                HistKind::Fail => EventType::Fail,
                HistKind::Info => EventType::Info,
            },
            f: if self.f == Op::Write { Func::Write } else { Func::Read },
            key: Some(Key::Int(self.key as i64)),
            value: Some(self.value.map_or(Value::Null, Value::Int)),
            time: Some(self.time),
            index: None,
            session: Some(self.session),
        }
    }

    /// The JSON Lines form: `{"process":…,"type":…,"f":…,"key":…,"value":…,"time":…,"session":…}`.
    pub fn to_json(&self) -> String {
        self.event().to_json()
    }
}

/// Collects [`OpEvent`]s from callers and appends from leaders during a run.
#[derive(Debug, Default)]
pub struct Recorder {
    /// `(actor, database, session, event)` in the order they happened.
    steps: Vec<(u32, u16, u64, OpEvent)>,
    /// `(caller actor, attempt id)` → versions the leader appended for it (one, unless a hedge
    /// copy was appended too).
    appends: BTreeMap<(u32, CallId), Vec<u64>>,
}

impl Recorder {
    pub fn step(&mut self, actor: u32, db: u16, session: u64, e: OpEvent) {
        self.steps.push((actor, db, session, e));
    }

    /// A leader appended a write sent by `caller` as call `call` (a hedge copy has the low bit
    /// set; it belongs to the same attempt).
    pub fn append(&mut self, caller: u32, call: CallId, version: u64) {
        self.appends.entry((caller, call & !1)).or_default().push(version);
    }

    pub fn ops(&self) -> usize {
        self.steps.len()
    }

    /// Attempts sent to database `db`: the invocations of its history, less the extra writes
    /// that stand for appended hedge copies (part of an attempt, not attempts of their own).
    pub fn attempts(&self, db: u16) -> u64 {
        self.steps.iter().filter(|&&(_, d, _, e)| d == db && matches!(e.step, OpStep::Invoke { .. })).count() as u64
    }

    /// Index in `steps` of each write invocation of database `db` that was answered `Ok` →
    /// the version it was answered with (the copy the client heard from).
    fn acknowledged(&self, db: u16) -> BTreeMap<usize, u64> {
        let mut acked = BTreeMap::new();
        // (actor, attempt) → its latest invocation not yet completed.
        let mut open: BTreeMap<(u32, CallId), usize> = BTreeMap::new();
        for (s, &(actor, d, _, e)) in self.steps.iter().enumerate() {
            if d != db {
                continue;
            }
            match e.step {
                OpStep::Invoke { op: Op::Write, .. } => {
                    open.insert((actor, e.attempt), s);
                }
                // A read's invocation replaces a write's still open under the same id (its
                // caller crashed): the write stays unanswered.
                OpStep::Invoke { .. } => {
                    open.remove(&(actor, e.attempt));
                }
                OpStep::Ok { value } => {
                    if let Some(i) = open.remove(&(actor, e.attempt)) {
                        acked.insert(i, value);
                    }
                }
                OpStep::Failed(_) | OpStep::TimedOut => {
                    open.remove(&(actor, e.attempt));
                }
            }
        }
        acked
    }

    /// The history of database `db`: invocations and completions in the order they happened,
    /// every invocation without a completion closed by an `info` at `end`.
    pub fn history(&self, db: u16, end: Nanos) -> Vec<HistOp> {
        let mut out = Vec::new();
        // (actor, attempt) → index of its invocation in `out`.
        let mut open: BTreeMap<(u32, CallId), usize> = BTreeMap::new();
        let mut process = 0u64;
        let mut unapplied = 0i64;
        // Invocations closed by an `info` at the end whatever happens (a hedge copy's append).
        let mut extra = Vec::new();
        let acked = self.acknowledged(db);
        for (s, &(actor, d, session, e)) in self.steps.iter().enumerate() {
            if d != db {
                continue;
            }
            match e.step {
                OpStep::Invoke { op, key } => {
                    let mut appended = self.appends.get(&(actor, e.attempt)).map_or(&[][..], Vec::as_slice).to_vec();
                    let value = match (op, acked.get(&s)) {
                        // With a hedge copy appended too, the operation is the copy whose
                        // answer the client got (the version it was told), whichever was
                        // appended first; the other is the extra write below.
                        (Op::Write, Some(&v)) => {
                            if let Some(i) = appended.iter().position(|&a| a == v) {
                                appended.remove(i);
                            }
                            Some(v as i64)
                        }
                        (Op::Write, None) if !appended.is_empty() => Some(appended.remove(0) as i64),
                        (Op::Write, None) => {
                            unapplied -= 1;
                            Some(unapplied)
                        }
                        _ => None,
                    };
                    // An attempt id still open belongs to a caller that crashed: it stays `info`.
                    if let Some(stale) = open.insert((actor, e.attempt), out.len()) {
                        let inv: HistOp = out[stale];
                        out.push(HistOp { kind: HistKind::Info, time: e.t, ..inv });
                    }
                    out.push(HistOp { time: e.t, process, session, kind: HistKind::Invoke, f: op, key, value });
                    process += 1;
                    if op == Op::Write {
                        // A hedge copy appended as well: one more write, outcome unknown.
                        for &v in &appended {
                            extra.push(out.len());
                            let value = Some(v as i64);
                            out.push(HistOp { time: e.t, process, session, kind: HistKind::Invoke, f: op, key, value });
                            process += 1;
                        }
                    }
                }
                step => {
                    let Some(i) = open.remove(&(actor, e.attempt)) else { continue };
                    let inv = out[i];
                    let (kind, value) = match (step, inv.f) {
                        (OpStep::Ok { value }, Op::Read) => (HistKind::Ok, (value != 0).then_some(value as i64)),
                        (OpStep::Ok { .. }, _) => (HistKind::Ok, inv.value),
                        (OpStep::Failed(s), Op::Write) if may_have_applied(s) => (HistKind::Info, inv.value),
                        (OpStep::TimedOut, Op::Write) => (HistKind::Info, inv.value),
                        (_, Op::Write) => (HistKind::Fail, inv.value),
                        // A read that failed or timed out observed nothing.
                        _ => (HistKind::Fail, None),
                    };
                    out.push(HistOp { time: e.t, kind, value, ..inv });
                }
            }
        }
        let mut left: Vec<usize> = open.into_values().chain(extra).collect();
        left.sort_unstable();
        for i in left {
            let inv = out[i];
            let kind = if inv.f == Op::Write { HistKind::Info } else { HistKind::Fail };
            out.push(HistOp { time: end, kind, ..inv });
        }
        out
    }
}

/// The history as the linearizability checker reads it (a register per key).
pub fn to_check_history(history: &[HistOp]) -> crate::check::history::History {
    let mut b = crate::check::history::HistoryBuilder::new(crate::check::history::Model::Kv);
    for (i, o) in history.iter().enumerate() {
        b.push(i as u32 + 1, &o.event()).expect("a recorded history is well formed");
    }
    b.finish()
}

/// Checks a recorded history for linearizability (per key), within `max_steps` search steps.
pub fn linearizability(history: &[HistOp], max_steps: u64) -> crate::check::linear::Report {
    crate::check::linear::check(&to_check_history(history), &crate::check::linear::Budget::steps(max_steps))
}

/// A write answered with this status may still have been committed.
fn may_have_applied(s: Status) -> bool {
    matches!(s, Status::Unavailable | Status::Timeout)
}

/// Reads checked against what was acknowledged before they were sent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReadFindings {
    pub reads_ok: u64,
    pub writes_ok: u64,
    /// Reads that returned a version older than a write acknowledged before they were sent.
    pub stale_reads: u64,
    /// Over stale reads: acknowledged writes each one missed.
    pub staleness_versions_sum: u64,
    pub staleness_versions_max: u64,
    /// Over stale reads: read sent − acknowledgement of the oldest write it missed.
    pub staleness_ns_sum: u64,
    pub staleness_ns_max: u64,
    /// A session read a key older than its own acknowledged write of it.
    pub read_your_writes_violations: u64,
    /// A session read a key older than a version an earlier read of its own had returned.
    pub monotonic_read_violations: u64,
}

/// Stale reads, staleness, read-your-writes and monotonic reads over a history (time order).
pub fn check_reads(history: &[HistOp]) -> ReadFindings {
    #[derive(Default)]
    struct KeyState {
        /// Acknowledged writes: (ack time, version), in ack order.
        acked: Vec<(Nanos, i64)>,
    }
    /// What a read's invocation saw, to judge its completion.
    struct Pending {
        invoked: Nanos,
        acked_before: usize,
        own_write: i64,
        own_read: i64,
    }
    let mut keys: BTreeMap<u64, KeyState> = BTreeMap::new();
    // (session, key) → (newest own acknowledged write, newest own completed read).
    let mut sessions: BTreeMap<(u64, u64), (i64, i64)> = BTreeMap::new();
    let mut pending: BTreeMap<u64, Pending> = BTreeMap::new();
    let mut f = ReadFindings::default();
    for op in history {
        let sk = (op.session, op.key);
        match (op.kind, op.f) {
            (HistKind::Invoke, Op::Read) => {
                let acked_before = keys.get(&op.key).map_or(0, |k| k.acked.len());
                let (own_write, own_read) = sessions.get(&sk).copied().unwrap_or((0, 0));
                pending.insert(op.process, Pending { invoked: op.time, acked_before, own_write, own_read });
            }
            (HistKind::Ok, Op::Write) => {
                f.writes_ok += 1;
                let v = op.value.unwrap_or(0);
                keys.entry(op.key).or_default().acked.push((op.time, v));
                let s = sessions.entry(sk).or_default();
                s.0 = s.0.max(v);
            }
            (HistKind::Ok, Op::Read) => {
                f.reads_ok += 1;
                let Some(p) = pending.remove(&op.process) else { continue };
                let v = op.value.unwrap_or(0);
                if let Some(k) = keys.get(&op.key) {
                    let missed = k.acked[..p.acked_before].iter().filter(|&&(_, w)| w > v);
                    let (n, oldest) = missed.fold((0u64, Nanos::MAX), |(n, t), &(at, _)| (n + 1, t.min(at)));
                    if n > 0 {
                        let behind = p.invoked.saturating_sub(oldest);
                        f.stale_reads += 1;
                        f.staleness_versions_sum += n;
                        f.staleness_versions_max = f.staleness_versions_max.max(n);
                        f.staleness_ns_sum += behind;
                        f.staleness_ns_max = f.staleness_ns_max.max(behind);
                    }
                }
                if v < p.own_write {
                    f.read_your_writes_violations += 1;
                }
                if v < p.own_read {
                    f.monotonic_read_violations += 1;
                }
                let s = sessions.entry(sk).or_default();
                s.1 = s.1.max(v);
            }
            (HistKind::Fail | HistKind::Info, Op::Read) => {
                pending.remove(&op.process);
            }
            _ => {}
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(time: Nanos, process: u64, session: u64, kind: HistKind, f: Op, value: Option<i64>) -> HistOp {
        HistOp { time, process, session, kind, f, key: 1, value }
    }

    #[test]
    fn a_read_older_than_an_acknowledged_write_is_stale_by_versions_and_time() {
        use HistKind::*;
        let h = [
            op(0, 0, 1, Invoke, Op::Write, Some(10)),
            op(5, 0, 1, Ok, Op::Write, Some(10)),
            op(6, 1, 1, Invoke, Op::Write, Some(20)),
            op(8, 1, 1, Ok, Op::Write, Some(20)),
            // Another session reads after both were acknowledged and gets the first.
            op(12, 2, 2, Invoke, Op::Read, None),
            op(13, 2, 2, Ok, Op::Read, Some(10)),
            // A read concurrent with nothing newer is fine.
            op(14, 3, 2, Invoke, Op::Read, None),
            op(15, 3, 2, Ok, Op::Read, Some(20)),
        ];
        let f = check_reads(&h);
        assert_eq!((f.reads_ok, f.writes_ok, f.stale_reads), (2, 2, 1));
        assert_eq!((f.staleness_versions_max, f.staleness_ns_max), (1, 4));
        assert_eq!((f.read_your_writes_violations, f.monotonic_read_violations), (0, 0));
    }

    #[test]
    fn reads_concurrent_with_a_write_may_miss_it() {
        use HistKind::*;
        let h = [
            op(0, 0, 1, Invoke, Op::Read, None),
            op(1, 1, 2, Invoke, Op::Write, Some(7)),
            op(2, 1, 2, Ok, Op::Write, Some(7)),
            op(3, 0, 1, Ok, Op::Read, None),
        ];
        assert_eq!(check_reads(&h).stale_reads, 0);
    }

    #[test]
    fn session_guarantees_are_per_session() {
        use HistKind::*;
        let h = [
            op(0, 0, 1, Invoke, Op::Write, Some(10)),
            op(1, 0, 1, Ok, Op::Write, Some(10)),
            // Session 1 then reads the initial value: stale and not its own write.
            op(2, 1, 1, Invoke, Op::Read, None),
            op(3, 1, 1, Ok, Op::Read, None),
            // Session 2 reads 10, then goes back to nothing: stale and not monotonic.
            op(4, 2, 2, Invoke, Op::Read, None),
            op(5, 2, 2, Ok, Op::Read, Some(10)),
            op(6, 3, 2, Invoke, Op::Read, None),
            op(7, 3, 2, Ok, Op::Read, None),
        ];
        let f = check_reads(&h);
        assert_eq!((f.stale_reads, f.read_your_writes_violations, f.monotonic_read_violations), (2, 1, 1));
    }

    fn ev(t: Nanos, attempt: CallId, step: OpStep) -> OpEvent {
        OpEvent { t, target: 0, attempt, token: 0, step }
    }

    #[test]
    fn history_names_the_versions_of_writes_whose_callers_never_heard_back() {
        let mut r = Recorder::default();
        r.step(4, 0, 4, ev(0, 2, OpStep::Invoke { op: Op::Write, key: 9 }));
        r.step(4, 0, 4, ev(1, 4, OpStep::Invoke { op: Op::Write, key: 9 }));
        r.step(4, 0, 4, ev(1, 6, OpStep::Invoke { op: Op::Read, key: 9 }));
        r.append(4, 2, 77);
        r.step(4, 0, 4, ev(5, 2, OpStep::TimedOut));
        r.step(4, 0, 4, ev(6, 4, OpStep::Failed(Status::Rejected)));
        r.step(4, 0, 4, ev(7, 6, OpStep::Ok { value: 77 }));
        let h = r.history(0, 100);
        let lines: Vec<(u64, HistKind, Option<i64>)> = h.iter().map(|o| (o.process, o.kind, o.value)).collect();
        assert_eq!(
            lines,
            vec![
                (0, HistKind::Invoke, Some(77)),
                (1, HistKind::Invoke, Some(-1)),
                (2, HistKind::Invoke, None),
                (0, HistKind::Info, Some(77)),
                (1, HistKind::Fail, Some(-1)),
                (2, HistKind::Ok, Some(77)),
            ]
        );
        assert_eq!(
            h[0].to_json(),
            r#"{"process":0,"type":"invoke","f":"write","key":9,"value":77,"time":0,"session":4}"#
        );
    }

    /// The client is told the version of the copy that answered first; the history once
    /// called the first copy appended the acknowledged write, so reads that missed the write
    /// the client was told of were not counted stale.
    #[test]
    fn a_hedged_write_is_acknowledged_with_the_version_the_client_was_told() {
        let mut r = Recorder::default();
        r.step(4, 0, 4, ev(0, 2, OpStep::Invoke { op: Op::Write, key: 9 }));
        // Both copies are appended, the attempt's first; the hedge copy (call 3) answers.
        r.append(4, 2, 10);
        r.append(4, 3, 20);
        r.step(4, 0, 4, ev(5, 2, OpStep::Ok { value: 20 }));
        // Another session then reads the first copy's version: older than the acknowledged one.
        r.step(5, 0, 5, ev(6, 2, OpStep::Invoke { op: Op::Read, key: 9 }));
        r.step(5, 0, 5, ev(7, 2, OpStep::Ok { value: 10 }));
        let h = r.history(0, 100);
        let lines: Vec<(u64, HistKind, Option<i64>)> = h.iter().map(|o| (o.process, o.kind, o.value)).collect();
        assert_eq!(
            lines,
            vec![
                (0, HistKind::Invoke, Some(20)),
                // The other copy: a write that may or may not have taken effect.
                (1, HistKind::Invoke, Some(10)),
                (0, HistKind::Ok, Some(20)),
                (2, HistKind::Invoke, None),
                (2, HistKind::Ok, Some(10)),
                (1, HistKind::Info, Some(10)),
            ]
        );
        assert_eq!(check_reads(&h).stale_reads, 1);
        // Two attempts, the write and the read, though the history invokes three operations.
        assert_eq!(r.attempts(0), 2);
    }

    #[test]
    fn operations_left_open_end_as_info_writes_and_failed_reads() {
        let mut r = Recorder::default();
        r.step(1, 0, 1, ev(0, 2, OpStep::Invoke { op: Op::Write, key: 1 }));
        r.step(1, 0, 1, ev(0, 4, OpStep::Invoke { op: Op::Read, key: 1 }));
        r.step(1, 1, 1, ev(0, 6, OpStep::Invoke { op: Op::Read, key: 1 }));
        let h = r.history(0, 50);
        let kinds: Vec<(HistKind, Nanos)> = h.iter().map(|o| (o.kind, o.time)).collect();
        assert_eq!(
            kinds,
            vec![(HistKind::Invoke, 0), (HistKind::Invoke, 0), (HistKind::Info, 50), (HistKind::Fail, 50)]
        );
    }
}
