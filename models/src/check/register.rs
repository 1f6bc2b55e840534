//! One key's history, prepared for the register model: completed ops with their calls and
//! returns in time order, unknown-outcome ops grouped into classes of interchangeable ones,
//! and values as dense ids.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::history::{History, Op, OpKind, OpStatus};
use super::memo::Fx;

pub(super) const NONE: u32 = u32::MAX;
pub(super) const HEAD: u32 = 0;
/// Marks a planned move of an unknown-outcome class (the rest is the class id).
pub(super) const INFO: u32 = 1 << 31;

/// A completed operation as the register model sees it; values are dense ids (0 = `null`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Read(u32),
    Write(u32),
    CasOk(u32, u32),
    /// Ran, and saw a value other than `from`.
    CasFail(u32),
}

impl Step {
    /// The register's value after this step from `s`, if the step is allowed there.
    #[inline]
    pub(super) fn apply(self, s: u32) -> Option<u32> {
        match self {
            Step::Read(v) => (s == v).then_some(s),
            Step::Write(v) => Some(v),
            Step::CasOk(from, to) => (s == from).then_some(to),
            Step::CasFail(from) => (s != from).then_some(s),
        }
    }

    /// The value it leaves behind whatever it found (plain writes only).
    pub(super) fn writes(self) -> Option<u32> {
        match self {
            Step::Write(v) | Step::CasOk(_, v) => Some(v),
            _ => None,
        }
    }
}

/// Operations of unknown outcome that do the same thing: interchangeable once invoked.
#[derive(Clone, Debug)]
pub(super) struct Class {
    /// `NONE` for a write; the cas's `from` otherwise.
    pub(super) from: u32,
    pub(super) to: u32,
    /// Unknown-outcome ops of this class, in invocation order.
    pub(super) members: Vec<u32>,
}

/// One key's history, prepared for the search.
pub(super) struct Sub {
    /// Completed ops (ok, and failed cas) in invocation order: `steps`, their index in the
    /// history, and their call and return entries.
    pub(super) steps: Vec<Step>,
    pub(super) src: Vec<u32>,
    pub(super) call_line: Vec<u32>,
    pub(super) ret_line: Vec<u32>,
    pub(super) call_entry: Vec<u32>,
    pub(super) ret_entry: Vec<u32>,
    /// Entries in time order; entry 0 is the list head. Per entry: its op, whether it is a
    /// return, and its line.
    pub(super) entry_op: Vec<u32>,
    pub(super) entry_ret: Vec<bool>,
    pub(super) entry_line: Vec<u32>,
    /// Unknown-outcome writes and cas ops, in invocation order.
    pub(super) info_src: Vec<u32>,
    pub(super) info_line: Vec<u32>,
    pub(super) info_class: Vec<u32>,
    pub(super) classes: Vec<Class>,
    /// Value id → class of unknown writes of it (or `NONE`); value id → cas classes from it.
    pub(super) write_class: Vec<u32>,
    pub(super) cas_from: Vec<Vec<u32>>,
    pub(super) cas_to: Vec<Vec<u32>>,
    /// Class ids of all unknown writes, and of all unknown cas ops.
    pub(super) write_classes: Vec<u32>,
    pub(super) cas_classes: Vec<u32>,
    /// Value id → value (`None` is `null`, id 0).
    pub(super) values: Vec<Option<i64>>,
}

impl Sub {
    pub(super) fn new(history: &History, ops: &[u32]) -> Sub {
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
                (OpKind::Cas { from, to }, OpStatus::Ok) => Some(Step::CasOk(from.map_or(0, &mut id), id(to))),
                (OpKind::Cas { from, .. }, OpStatus::Fail) => Some(Step::CasFail(from.map_or(0, &mut id))),
                (OpKind::Write(v), OpStatus::Info) => {
                    info_kind.push((NONE, id(v)));
                    None
                }
                (OpKind::Cas { from, to }, OpStatus::Info) => {
                    info_kind.push((from.map_or(0, &mut id), id(to)));
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
        let mut cas_to = vec![Vec::new(); n_values];
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
                    cas_to[to as usize].push(c);
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
            cas_to,
            write_classes,
            cas_classes,
            values,
        }
    }
}
