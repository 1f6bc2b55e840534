//! The stale-read pass: finds, without a search, completed reads (and cas ops) that no order
//! can place because the value they need was overwritten for good before they began.

use super::history::{History, Key, show};
use super::linear::{OpRef, Violation, prefix};
use super::register::{NONE, Step, Sub};

/// A completed read or cas that is impossible whatever the order, found without a search.
#[derive(Clone, Copy, Debug)]
pub(super) struct Stale {
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
pub(super) fn definite_stale(sub: &Sub) -> Option<Stale> {
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

/// The explanation of a stale read found by `definite_stale`.
pub(super) fn explain_stale(sub: &Sub, history: &History, st: Stale, key: Option<Key>, label: String) -> Violation {
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
        // A read returns the initial value; a cas (from `null`) needs it.
        let what = if needs.is_empty() { "it returns" } else { "it needs" };
        format!("{what} the initial value, but {} completed before it was invoked", fence.op)
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
