//! Jepsen-style operation histories: the JSON Lines format of `faultline check-history`
//! (docs/cli.md), parsed with positions, and a builder for histories recorded by runs.
//!
//! One event per line: `{"process": 3, "type": "invoke"|"ok"|"fail"|"info", "f": "read"|"write"|
//! "cas", "key": 7 | "k", "value": null | 5 | [from, to], "time": ns, "index": n}`. Line order is
//! time order. Events pair up per process into [`Op`]s: an invocation and its completion.
//!
//! What each outcome means to the checker:
//! - `ok`: took effect, once, between its invocation and its completion;
//! - `info` (or no completion at all): may or may not have taken effect, at any time after its
//!   invocation — even after the `info` line;
//! - `fail`: did not take effect. A failed `cas` still ran its compare, so it *observed* a value
//!   other than `from`; the checker uses that as a constraint. Failed reads and writes carry no
//!   information and are ignored.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use thiserror::Error;

/// How the keys of a history are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// The whole history is one register: `key` is absent, or the same on every event.
    Register,
    /// Independent registers, one per key: every event names its key.
    Kv,
}

/// A key as written in the history: an integer or a string (`7` and `"7"` are different keys).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    Int(i64),
    Str(String),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int(i) => write!(f, "{i}"),
            // Quoted so that `"7"` and `7` read differently.
            Key::Str(s) => write!(f, "{}", serde_json::to_string(s).expect("a string serialises")),
        }
    }
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Key::Int(i) => s.serialize_i64(*i),
            Key::Str(k) => s.serialize_str(k),
        }
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
                Ok(Key::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
                int_in_range(v).map(Key::Int)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
                Err(not_an_integer(v, "an integer or a string"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key::Str(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// The `type` of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// The operation (`f`) of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Func {
    Read,
    Write,
    Cas,
}

impl Func {
    pub fn name(self) -> &'static str {
        match self {
            Func::Read => "read",
            Func::Write => "write",
            Func::Cas => "cas",
        }
    }
}

/// The `value` of an event: `null`, an integer, or `[from, to]` (`from` may be `null`: a cas
/// that expects the initial, never-written value, as Knossos's cas register allows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Pair(Option<i64>, i64),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Value::Null => s.serialize_unit(),
            Value::Int(i) => s.serialize_i64(i),
            Value::Pair(a, b) => (a, b).serialize(s),
        }
    }
}

fn int_in_range<E: de::Error>(v: u64) -> Result<i64, E> {
    i64::try_from(v).map_err(|_| E::custom(format!("{v} is out of range (integers are at most {})", i64::MAX)))
}

/// serde_json reads integers too large for 64 bits as floats, and numbers written with a point
/// or an exponent (`2.0`, `1e3`) too: say which it was.
fn not_an_integer<E: de::Error>(v: f64, expected: &str) -> E {
    // 2^63: the first whole float beyond i64 (below it, a whole float was written as one).
    if v.fract() == 0.0 && v.is_finite() && v.abs() >= 9_223_372_036_854_775_808.0 {
        E::custom(format!("{v} is out of range (integers are between {} and {})", i64::MIN, i64::MAX))
    } else if v.fract() == 0.0 && v.is_finite() {
        E::custom(format!(
            "expected {expected}, found the number {v:?} (an integer is written without a decimal point or exponent)"
        ))
    } else {
        E::custom(format!("expected {expected}, found the number {v}"))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("null, an integer or [from, to]")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                int_in_range(v).map(Value::Int)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Err(not_an_integer(v, "null, an integer or [from, to]"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let pair_msg = "a cas value is a pair [from, to]: from null or an integer, to an integer";
                let from: Option<Int> = seq.next_element()?.ok_or_else(|| de::Error::custom(pair_msg))?;
                let to: Int = seq.next_element()?.ok_or_else(|| de::Error::custom(pair_msg))?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom(pair_msg));
                }
                Ok(Value::Pair(from.map(|f| f.0), to.0))
            }
        }
        d.deserialize_any(V)
    }
}

/// An integer inside `[from, to]`, with the same range message as a plain value.
struct Int(i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Int, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                int_in_range(v).map(Int)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int, E> {
                Err(not_an_integer(v, "an integer"))
            }
        }
        d.deserialize_any(V)
    }
}

/// One line of a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    #[serde(deserialize_with = "int")]
    pub process: i64,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub f: Func,
    /// `null` reads as absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Key>,
    /// `None`: the field is absent; `Some(Value::Null)`: it is `null`.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Nanoseconds; must not decrease from one event to the next. Otherwise unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
    /// Accepted for compatibility with Jepsen's output; unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// The client session (faultline's own histories: a closed-loop user or a caller); used by
    /// the session checks, not by linearizability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u64>,
}

fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Int::deserialize(d).map(|i| i.0)
}

/// `value: null` is present-and-null, not absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl Event {
    /// The event as one line of JSON (no newline), in the format [`parse`] reads.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an event serialises")
    }
}

/// What an operation did, with the values the checker needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// The value read (`None`: the initial, never-written value). Meaningful only when `ok`.
    Read(Option<i64>),
    Write(i64),
    /// `from: None` expects the initial, never-written value.
    Cas {
        from: Option<i64>,
        to: i64,
    },
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpStatus {
    Ok,
    Fail,
    /// Outcome unknown: an `info` completion, or no completion at all.
    Info,
}

/// An operation: an invocation and (maybe) its completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub process: i64,
    /// Dense key id, an index into [`History::keys`] (always 0 with [`Model::Register`]).
    pub key: u32,
    pub kind: OpKind,
    pub status: OpStatus,
    /// 1-based line of the invocation (for histories built in memory: the event's position).
    pub invoke_line: u32,
    /// 1-based line of the completion; `None` if the operation never completed.
    pub complete_line: Option<u32>,
}

impl Op {
    /// `read 5`, `read null`, `write 3`, `cas 1→2`.
    pub fn describe(&self) -> String {
        match self.kind {
            OpKind::Read(v) if self.status == OpStatus::Ok => format!("read {}", show(v)),
            OpKind::Read(_) => "read".to_owned(),
            OpKind::Write(v) => format!("write {v}"),
            OpKind::Cas { from, to } => format!("cas {}→{to}", show(from)),
        }
    }

    /// The line that settles the operation: its completion, else its invocation.
    pub fn line(&self) -> u32 {
        self.complete_line.unwrap_or(self.invoke_line)
    }
}

/// A register value for people: `null` for the initial one.
pub fn show(v: Option<i64>) -> String {
    v.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

/// A parsed history: operations in invocation order, and the keys in order of first appearance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    pub model: Model,
    pub ops: Vec<Op>,
    /// Key id → key. With [`Model::Register`], at most one entry (the key, if the history named
    /// one); every op has key 0.
    pub keys: Vec<Key>,
}

impl History {
    /// Number of independent registers to check.
    pub fn key_count(&self) -> usize {
        match self.model {
            Model::Register => usize::from(!self.ops.is_empty()),
            Model::Kv => self.keys.len(),
        }
    }

    /// `key 7`, `key "a"`, or `the register`.
    pub fn key_label(&self, key: u32) -> String {
        match self.model {
            Model::Kv => format!("key {}", self.keys[key as usize]),
            Model::Register => "the register".to_owned(),
        }
    }
}

/// At most this many events in one history (keeps every position and op index in a `u32`).
pub const MAX_EVENTS: usize = 100_000_000;

/// A history that cannot be read. Positions are 1-based; columns count characters.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum HistoryError {
    /// Not JSON, a wrong type, an unknown, missing or duplicate field (serde_json's words).
    #[error("{line}:{column}: {message}")]
    Syntax { line: u32, column: u32, message: String },
    #[error("{line}:{column}: not UTF-8 text")]
    NotUtf8 { line: u32, column: u32 },
    #[error("{line}:{column}: process {process} completes an operation it never invoked (no pending invocation)")]
    NoPendingInvocation { line: u32, column: u32, process: i64 },
    #[error(
        "{line}:{column}: process {process} invokes again while its invocation at line {pending_line} is still pending"
    )]
    AlreadyPending { line: u32, column: u32, process: i64, pending_line: u32 },
    /// The completion disagrees with its invocation (`f`, key or value).
    #[error("{line}:{column}: {message}")]
    Mismatch { line: u32, column: u32, message: String },
    /// A value of the wrong shape for the operation.
    #[error("{line}:{column}: {message}")]
    BadValue { line: u32, column: u32, message: String },
    /// A key the model does not allow.
    #[error("{line}:{column}: {message}")]
    BadKey { line: u32, column: u32, message: String },
    #[error(
        "{line}:{column}: time {time} is earlier than the previous event's time {previous} (line {previous_line}); events must be in time order"
    )]
    TimeBackwards { line: u32, column: u32, time: u64, previous: u64, previous_line: u32 },
    #[error("{line}:{column}: more than {MAX_EVENTS} events")]
    TooManyEvents { line: u32, column: u32 },
}

impl HistoryError {
    pub fn line(&self) -> u32 {
        self.position().0
    }

    pub fn column(&self) -> u32 {
        self.position().1
    }

    fn position(&self) -> (u32, u32) {
        match *self {
            HistoryError::Syntax { line, column, .. }
            | HistoryError::NotUtf8 { line, column }
            | HistoryError::NoPendingInvocation { line, column, .. }
            | HistoryError::AlreadyPending { line, column, .. }
            | HistoryError::Mismatch { line, column, .. }
            | HistoryError::BadValue { line, column, .. }
            | HistoryError::BadKey { line, column, .. }
            | HistoryError::TimeBackwards { line, column, .. }
            | HistoryError::TooManyEvents { line, column } => (line, column),
        }
    }

    fn set_column(&mut self, c: u32) {
        match self {
            HistoryError::Syntax { column, .. }
            | HistoryError::NotUtf8 { column, .. }
            | HistoryError::NoPendingInvocation { column, .. }
            | HistoryError::AlreadyPending { column, .. }
            | HistoryError::Mismatch { column, .. }
            | HistoryError::BadValue { column, .. }
            | HistoryError::BadKey { column, .. }
            | HistoryError::TimeBackwards { column, .. }
            | HistoryError::TooManyEvents { column, .. } => *column = c,
        }
    }
}

/// Which field of an event an error is about (to point the column at it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Type,
    F,
    Key,
    Value,
    Time,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Type => "type",
            Field::F => "f",
            Field::Key => "key",
            Field::Value => "value",
            Field::Time => "time",
        }
    }
}

/// Builds a [`History`] from events in time order: what [`parse`] uses, and what a run that
/// records its own history would use.
#[derive(Clone, Debug)]
pub struct HistoryBuilder {
    model: Model,
    ops: Vec<Op>,
    /// Process → index of its pending op. Ordered map: nothing here may depend on hashing.
    pending: BTreeMap<i64, usize>,
    keys: Vec<Key>,
    key_ids: BTreeMap<Key, u32>,
    last_time: Option<(u64, u32)>,
    events: usize,
}

impl HistoryBuilder {
    pub fn new(model: Model) -> HistoryBuilder {
        HistoryBuilder {
            model,
            ops: Vec::new(),
            pending: BTreeMap::new(),
            keys: Vec::new(),
            key_ids: BTreeMap::new(),
            last_time: None,
            events: 0,
        }
    }

    /// Adds the event found at `line` (1-based; any increasing position will do). Errors carry
    /// column 1: only [`parse`] knows where a field sits in the text.
    pub fn push(&mut self, line: u32, ev: &Event) -> Result<(), HistoryError> {
        self.push_at(line, ev).map_err(|(_, e)| e)
    }

    /// The history; invocations still pending become operations of unknown outcome.
    pub fn finish(self) -> History {
        History { model: self.model, ops: self.ops, keys: self.keys }
    }

    fn push_at(&mut self, line: u32, ev: &Event) -> Result<(), (Field, HistoryError)> {
        let column = 1;
        self.events += 1;
        if self.events > MAX_EVENTS {
            return Err((Field::Type, HistoryError::TooManyEvents { line, column }));
        }
        if let Some(t) = ev.time {
            if let Some((previous, previous_line)) = self.last_time
                && t < previous
            {
                return Err((
                    Field::Time,
                    HistoryError::TimeBackwards { line, column, time: t, previous, previous_line },
                ));
            }
            self.last_time = Some((t, line));
        }
        let bad_key = |message: String| (Field::Key, HistoryError::BadKey { line, column, message });
        let bad_value = |message: String| (Field::Value, HistoryError::BadValue { line, column, message });
        let mismatch = |field, message: String| (field, HistoryError::Mismatch { line, column, message });
        match self.model {
            Model::Kv if ev.key.is_none() => {
                return Err(bad_key("this event has no `key`; with --model kv every event names its key".to_owned()));
            }
            Model::Register => {
                if let (Some(k), Some(first)) = (&ev.key, self.keys.first())
                    && k != first
                {
                    return Err(bad_key(format!(
                        "key {k} differs from key {first} seen earlier; a register history has one key \
                         (or none) — use --model kv for many"
                    )));
                }
            }
            Model::Kv => {}
        }
        if ev.kind == EventType::Invoke {
            if let Some(&i) = self.pending.get(&ev.process) {
                let pending_line = self.ops[i].invoke_line;
                return Err((
                    Field::Type,
                    HistoryError::AlreadyPending { line, column, process: ev.process, pending_line },
                ));
            }
            let kind = match (ev.f, ev.value) {
                (Func::Read, None | Some(Value::Null)) => OpKind::Read(None),
                (Func::Read, Some(v)) => {
                    return Err(bad_value(format!(
                        "a read's invocation carries no value (found {}); the value read goes on its completion",
                        value_text(v)
                    )));
                }
                (Func::Write, Some(Value::Int(v))) => OpKind::Write(v),
                (Func::Write, v) => {
                    return Err(bad_value(format!(
                        "a write's invocation needs the integer written (found {})",
                        v.map_or("no value".to_owned(), value_text)
                    )));
                }
                (Func::Cas, Some(Value::Pair(from, to))) => OpKind::Cas { from, to },
                (Func::Cas, v) => {
                    return Err(bad_value(format!(
                        "a cas invocation needs [from, to] (found {})",
                        v.map_or("no value".to_owned(), value_text)
                    )));
                }
            };
            // Dense ids in order of first appearance (a register history has one key: id 0).
            let key = match &ev.key {
                Some(k) => match self.key_ids.get(k) {
                    Some(&id) => id,
                    None => {
                        let id = self.keys.len() as u32;
                        self.keys.push(k.clone());
                        self.key_ids.insert(k.clone(), id);
                        id
                    }
                },
                None => 0,
            };
            self.pending.insert(ev.process, self.ops.len());
            self.ops.push(Op {
                process: ev.process,
                key,
                kind,
                status: OpStatus::Info,
                invoke_line: line,
                complete_line: None,
            });
            return Ok(());
        }
        let Some(&i) = self.pending.get(&ev.process) else {
            return Err((Field::Type, HistoryError::NoPendingInvocation { line, column, process: ev.process }));
        };
        let op = &self.ops[i];
        let inv = op.invoke_line;
        let f0 = match op.kind {
            OpKind::Read(_) => Func::Read,
            OpKind::Write(_) => Func::Write,
            OpKind::Cas { .. } => Func::Cas,
        };
        if ev.f != f0 {
            return Err(mismatch(
                Field::F,
                format!(
                    "this completion is a {} but process {}'s pending invocation (line {inv}) is a {}",
                    ev.f.name(),
                    ev.process,
                    f0.name()
                ),
            ));
        }
        let invoked_key = match self.model {
            Model::Kv => Some(&self.keys[op.key as usize]),
            // In a register history the invocation's own key is not kept; any key given equals
            // the first one (checked above), so only presence can differ — and that is allowed.
            Model::Register => ev.key.as_ref(),
        };
        if ev.key.as_ref() != invoked_key {
            return Err(mismatch(
                Field::Key,
                format!(
                    "this completion's key {} differs from its invocation's key {} (line {inv})",
                    ev.key.as_ref().map_or("(none)".to_owned(), Key::to_string),
                    invoked_key.map_or("(none)".to_owned(), Key::to_string),
                ),
            ));
        }
        let kind = match (op.kind, ev.value) {
            (OpKind::Read(_), Some(Value::Pair(..))) => {
                return Err(bad_value("a read returns null or an integer, not a pair".to_owned()));
            }
            (OpKind::Read(_), None) if ev.kind == EventType::Ok => {
                return Err(bad_value(
                    "an ok read must carry the value read (`\"value\": null` for the initial value)".to_owned(),
                ));
            }
            (OpKind::Read(_), v) => OpKind::Read(if ev.kind == EventType::Ok { v.and_then(value_int) } else { None }),
            (OpKind::Write(w), None | Some(Value::Null)) => OpKind::Write(w),
            (OpKind::Write(w), Some(Value::Int(v))) if v == w => OpKind::Write(w),
            (OpKind::Write(w), Some(v)) => {
                return Err(mismatch(
                    Field::Value,
                    format!(
                        "this completion's value {} differs from the write of {w} invoked at line {inv}",
                        value_text(v)
                    ),
                ));
            }
            (OpKind::Cas { from, to }, None | Some(Value::Null)) => OpKind::Cas { from, to },
            (OpKind::Cas { from, to }, Some(Value::Pair(a, b))) if (a, b) == (from, to) => OpKind::Cas { from, to },
            (OpKind::Cas { from, to }, Some(v)) => {
                return Err(mismatch(
                    Field::Value,
                    format!(
                        "this completion's value {} differs from the cas [{}, {to}] invoked at line {inv}",
                        value_text(v),
                        show(from)
                    ),
                ));
            }
        };
        self.pending.remove(&ev.process);
        let op = &mut self.ops[i];
        op.kind = kind;
        op.status = match ev.kind {
            EventType::Ok => OpStatus::Ok,
            EventType::Fail => OpStatus::Fail,
            EventType::Info => OpStatus::Info,
            EventType::Invoke => unreachable!("handled above"),
        };
        op.complete_line = Some(line);
        Ok(())
    }
}

fn value_int(v: Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(i),
        _ => None,
    }
}

fn value_text(v: Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Int(i) => i.to_string(),
        Value::Pair(a, b) => format!("[{}, {b}]", show(a)),
    }
}

/// Parses a history in JSON Lines. Blank lines are skipped; `\r\n` line ends and a leading
/// byte-order mark are accepted. Never panics, whatever the bytes.
pub fn parse(bytes: &[u8], model: Model) -> Result<History, HistoryError> {
    let mut b = HistoryBuilder::new(model);
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    for (i, raw) in bytes.split(|&c| c == b'\n').enumerate() {
        let line = u32::try_from(i + 1).map_err(|_| HistoryError::TooManyEvents { line: u32::MAX, column: 1 })?;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(e) => {
                let good = std::str::from_utf8(&raw[..e.valid_up_to()]).expect("valid up to here");
                return Err(HistoryError::NotUtf8 { line, column: char_column(good, good.len()) });
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        // The format is one object per line; serde would also accept a struct as an array.
        let start = text.len() - text.trim_start().len();
        if !text[start..].starts_with('{') {
            return Err(HistoryError::Syntax {
                line,
                column: char_column(text, start),
                message: "expected a JSON object (one event per line)".to_owned(),
            });
        }
        let ev: Event = serde_json::from_str(text).map_err(|e| {
            // serde_json gives the 1-based byte column of the character it stumbled on (the
            // last one of a field's content for data errors), and appends it to its message.
            let at = match e.classify() {
                serde_json::error::Category::Eof => text.len(),
                _ => e.column().saturating_sub(1).min(text.len()),
            };
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let msg = e.to_string();
            let message = msg.strip_suffix(&suffix).unwrap_or(&msg).to_owned();
            // Point errors about a field at its start: the name for unknown or duplicate
            // fields, the value otherwise.
            let at = match e.classify() {
                serde_json::error::Category::Data => fields(text)
                    .into_iter()
                    .find(|f| f.key <= at && at < f.end)
                    .map_or(at, |f| if message.contains(" field `") { f.key } else { f.value }),
                _ => at,
            };
            HistoryError::Syntax { line, column: char_column(text, at), message }
        })?;
        b.push_at(line, &ev).map_err(|(field, mut err)| {
            if let Some(f) = fields(text).into_iter().find(|f| &text[f.key + 1..f.name_end] == field.name()) {
                err.set_column(char_column(text, f.value));
            }
            err
        })?;
    }
    Ok(b.finish())
}

/// 1-based character column of byte offset `at` in `text` (clamped to a character boundary).
fn char_column(text: &str, at: usize) -> u32 {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    u32::try_from(text[..at].chars().count() + 1).unwrap_or(u32::MAX)
}

/// Where a top-level field of a one-object line sits (byte offsets): its name's opening quote,
/// the name's closing quote, its value, and the end of its value.
struct FieldSpan {
    key: usize,
    name_end: usize,
    value: usize,
    end: usize,
}

/// The top-level fields of a line holding one JSON object, as far as it is well-formed (only
/// used to aim error columns, so stopping early is harmless).
fn fields(text: &str) -> Vec<FieldSpan> {
    let b = text.as_bytes();
    let ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    // Just past the closing quote of the string opening at `i`.
    let string_end = |mut i: usize| -> Option<usize> {
        i += 1;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'"' => return Some(i + 1),
                _ => i += 1,
            }
        }
        None
    };
    // Just past the value starting at `i`: a string, a balanced array/object, or a scalar.
    let value_end = |mut i: usize| -> Option<usize> {
        match b.get(i)? {
            b'"' => string_end(i),
            b'[' | b'{' => {
                let mut depth = 0usize;
                while i < b.len() {
                    match b[i] {
                        b'"' => {
                            i = string_end(i)?;
                            continue;
                        }
                        b'[' | b'{' => depth += 1,
                        b']' | b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                return Some(i + 1);
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                None
            }
            _ => {
                while i < b.len() && !matches!(b[i], b',' | b'}' | b']') && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                Some(i)
            }
        }
    };
    let mut out = Vec::new();
    let mut i = ws(0);
    if b.get(i) != Some(&b'{') {
        return out;
    }
    i = ws(i + 1);
    while b.get(i) == Some(&b'"') {
        let Some(key_end) = string_end(i) else { break };
        let colon = ws(key_end);
        if b.get(colon) != Some(&b':') {
            break;
        }
        let value = ws(colon + 1);
        let Some(end) = value_end(value) else { break };
        // Field names are compared raw: known names need no escapes.
        out.push(FieldSpan { key: i, name_end: key_end - 1, value, end });
        i = ws(end);
        if b.get(i) != Some(&b',') {
            break;
        }
        i = ws(i + 1);
    }
    out
}
