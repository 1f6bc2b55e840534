//! The saga checker: at the end of a run (after the faults healed and the run drained), is
//! every saga either **completed** (every step in effect) or **fully compensated** (no step
//! left in effect)? Its input is the ground truth the participants hold (their durable
//! records, [`crate::saga::SagaEntry`]) plus what the saga machinery has not finished (the
//! orchestrator's log, a choreography's undelivered and dead-lettered events) and what the
//! coordinator last told users about each saga.
//!
//! Anomalies, by kind (one saga can show several):
//!
//! | kind | counted per | when |
//! |---|---|---|
//! | `orphaned_side_effect` | saga | some steps are in effect and others are not |
//! | `charge_without_order` | saga | …and a payment step is in effect: charged, but the order never completed |
//! | `reservation_leaked` | saga | …and an inventory step is in effect: stock held for an order that never completed |
//! | `double_charge` | saga | a payment step is in effect more than once |
//! | `duplicate_effect` | saga and step | any other step in effect more than once (an order created twice…) |
//! | `oversold` | unit | at some moment an item had more units reserved than its stock |
//! | `stuck_saga` | saga | the machinery never finished it: not ended in the orchestrator's log, or an event of it dead-lettered or still queued |
//! | `told_failed_but_completed` | saga | the coordinator's last definite answer to its user was `Error`, yet every step is in effect (charged for a checkout they were told failed) |
//! | `told_ok_but_not_completed` | saga | the coordinator's last definite answer was `Ok`, yet some step is not in effect |
//!
//! **Time to consistency**: the time from the last fault's heal until every saga that had
//! an effect before that heal settled for good (its last change of business state), or 0 if
//! none was affected (no faults: 0). `None` when some saga is left inconsistent or a fault
//! never healed: the business state does not become consistent in this run.

use std::collections::{BTreeMap, BTreeSet};

use faultline_sim::Nanos;

use crate::idmap::IdMap;
use crate::saga::{Role, SagaEntry};

pub const ORPHANED_SIDE_EFFECT: &str = "orphaned_side_effect";
pub const CHARGE_WITHOUT_ORDER: &str = "charge_without_order";
pub const RESERVATION_LEAKED: &str = "reservation_leaked";
pub const DOUBLE_CHARGE: &str = "double_charge";
pub const DUPLICATE_EFFECT: &str = "duplicate_effect";
pub const OVERSOLD: &str = "oversold";
pub const STUCK_SAGA: &str = "stuck_saga";
pub const TOLD_FAILED_BUT_COMPLETED: &str = "told_failed_but_completed";
pub const TOLD_OK_BUT_NOT_COMPLETED: &str = "told_ok_but_not_completed";

/// Every kind the checker can report, in report order.
pub const KINDS: [&str; 9] = [
    CHARGE_WITHOUT_ORDER,
    DOUBLE_CHARGE,
    DUPLICATE_EFFECT,
    ORPHANED_SIDE_EFFECT,
    OVERSOLD,
    RESERVATION_LEAKED,
    STUCK_SAGA,
    TOLD_FAILED_BUT_COMPLETED,
    TOLD_OK_BUT_NOT_COMPLETED,
];

/// One step's durable state, as the checker reads it.
pub struct StepView<'a> {
    pub role: Role,
    pub entries: &'a IdMap<SagaEntry>,
    /// Inventory: units per item, and the peak units reserved at once per item.
    pub stock: Option<(u32, &'a [u32])>,
}

pub struct CheckInput<'a> {
    pub steps: Vec<StepView<'a>>,
    /// Sagas the machinery has not finished.
    pub unfinished: BTreeSet<u64>,
    /// When the last fault healed: `Some(0)` without faults, `None` if one is still active.
    pub last_heal: Option<Nanos>,
    /// The coordinator's last definite answer to each saga's user (`true`: `Ok`, `false`: `Error`).
    pub told: &'a IdMap<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SagaCheck {
    /// Sagas seen by any participant or left unfinished.
    pub sagas: u64,
    pub completed: u64,
    /// No step in effect (including sagas refused at their first step).
    pub compensated: u64,
    /// Neither: some steps in effect, others not.
    pub inconsistent: u64,
    /// Effects compensated, over all steps.
    pub compensations: u64,
    /// Count per kind; every kind of [`KINDS`] is present (zeros included).
    pub anomalies: BTreeMap<&'static str, u64>,
    pub time_to_consistency: Option<Nanos>,
}

pub fn check(input: &CheckInput<'_>) -> SagaCheck {
    let mut r = SagaCheck { anomalies: KINDS.iter().map(|k| (*k, 0)).collect(), ..SagaCheck::default() };
    // (Compensations are summed per saga below: one walk of the records, not two.)
    for s in &input.steps {
        if let Some((per_item, peaks)) = s.stock {
            *r.anomalies.get_mut(OVERSOLD).expect("kind") +=
                peaks.iter().map(|&p| u64::from(p.saturating_sub(per_item))).sum::<u64>();
        }
    }
    let heal = input.last_heal;
    let mut settled: Nanos = 0;
    let mut here: Vec<Option<&SagaEntry>> = vec![None; input.steps.len()];
    let mut unfinished = input.unfinished.iter().peekable();
    // Saga ids are usually sequential, so every step's records sit in the dense part of its
    // map: walk those ids by index (half the instructions of merging iterators).
    let dense = input.steps.iter().map(|s| s.entries.dense_len()).max().unwrap_or(0);
    for id in 0..dense {
        let mut any = false;
        for (s, slot) in input.steps.iter().zip(&mut here) {
            *slot = s.entries.get(id);
            any |= slot.is_some();
        }
        let stuck = unfinished.next_if(|k| **k == id).is_some();
        if any || stuck {
            saga(input, id, &here, stuck, &mut r, &mut settled);
        }
    }
    // Ids beyond: every map is ordered by saga id, so walk them in step, one saga at a time (the
    // union of the ids, in order, without collecting it).
    let mut heads: Vec<_> = input.steps.iter().map(|s| s.entries.iter_from(dense).peekable()).collect();
    loop {
        let next_entry = heads.iter_mut().filter_map(|h| h.peek().map(|(id, _)| *id)).min();
        let Some(id) = next_entry.into_iter().chain(unfinished.peek().map(|id| **id)).min() else { break };
        for (h, slot) in heads.iter_mut().zip(&mut here) {
            *slot = h.next_if(|(k, _)| *k == id).map(|(_, e)| e);
        }
        let stuck = unfinished.next_if(|k| **k == id).is_some();
        saga(input, id, &here, stuck, &mut r, &mut settled);
    }
    r.time_to_consistency = match heal {
        Some(_) if r.inconsistent == 0 => Some(settled),
        _ => None,
    };
    r
}

/// Judges one saga from each step's record of it (`here`, in step order) and whether the
/// machinery left it unfinished.
fn saga(
    input: &CheckInput<'_>,
    id: u64,
    here: &[Option<&SagaEntry>],
    stuck: bool,
    r: &mut SagaCheck,
    settled: &mut Nanos,
) {
    let mut in_effect = 0;
    let (mut first, mut last) = (Nanos::MAX, 0);
    let (mut charged, mut reserved) = (false, false);
    for (s, e) in input.steps.iter().zip(here) {
        let Some(e) = e else { continue };
        r.compensations += u64::from(e.compensated);
        if e.first_effect != Nanos::MAX {
            first = first.min(e.first_effect);
            last = last.max(e.last_effect);
        }
        let net = e.net();
        if net == 0 {
            continue;
        }
        in_effect += 1;
        charged |= s.role == Role::Payment;
        reserved |= s.role == Role::Inventory;
        if net > 1 {
            let kind = if s.role == Role::Payment { DOUBLE_CHARGE } else { DUPLICATE_EFFECT };
            *r.anomalies.get_mut(kind).expect("kind") += 1;
        }
    }
    r.sagas += 1;
    if stuck {
        *r.anomalies.get_mut(STUCK_SAGA).expect("kind") += 1;
    }
    let completed = in_effect == input.steps.len();
    match input.told.get(id) {
        Some(false) if completed => *r.anomalies.get_mut(TOLD_FAILED_BUT_COMPLETED).expect("kind") += 1,
        Some(true) if !completed => *r.anomalies.get_mut(TOLD_OK_BUT_NOT_COMPLETED).expect("kind") += 1,
        _ => {}
    }
    if completed {
        r.completed += 1;
    } else if in_effect == 0 {
        r.compensated += 1;
    } else {
        r.inconsistent += 1;
        *r.anomalies.get_mut(ORPHANED_SIDE_EFFECT).expect("kind") += 1;
        if charged {
            *r.anomalies.get_mut(CHARGE_WITHOUT_ORDER).expect("kind") += 1;
        }
        if reserved {
            *r.anomalies.get_mut(RESERVATION_LEAKED).expect("kind") += 1;
        }
        return;
    }
    if let Some(h) = input.last_heal
        && first < h
    {
        *settled = (*settled).max(last.saturating_sub(h));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saga::StepState;

    fn entry(applied: u32, compensated: u32, first: Nanos, last: Nanos) -> SagaEntry {
        let state = if applied == 0 {
            StepState::Tombstone
        } else if applied > compensated {
            StepState::Done
        } else {
            StepState::Compensated
        };
        SagaEntry { state, applied, compensated, first_effect: first, last_effect: last }
    }

    fn steps<'a>(maps: &'a [IdMap<SagaEntry>], roles: &[Role]) -> Vec<StepView<'a>> {
        maps.iter().zip(roles).map(|(m, &role)| StepView { role, entries: m, stock: None }).collect()
    }

    const ROLES: [Role; 3] = [Role::Order, Role::Inventory, Role::Payment];

    #[test]
    fn completed_and_compensated_sagas_are_consistent() {
        let maps = [
            IdMap::from_iter([(1, entry(1, 0, 10, 10)), (2, entry(1, 1, 10, 50))]),
            IdMap::from_iter([(1, entry(1, 0, 20, 20)), (2, entry(1, 1, 20, 40))]),
            IdMap::from_iter([(1, entry(1, 0, 30, 30)), (2, entry(0, 0, Nanos::MAX, Nanos::MAX))]),
        ];
        let r = check(&CheckInput {
            steps: steps(&maps, &ROLES),
            unfinished: BTreeSet::new(),
            last_heal: Some(0),
            told: &IdMap::new(),
        });
        assert_eq!((r.sagas, r.completed, r.compensated, r.inconsistent, r.compensations), (2, 1, 1, 0, 2));
        assert!(r.anomalies.values().all(|&n| n == 0), "{:?}", r.anomalies);
        assert_eq!(r.anomalies.len(), KINDS.len(), "every kind reported, zeros included");
        assert_eq!(r.time_to_consistency, Some(0), "nothing before the heal at 0");
    }

    #[test]
    fn leftovers_are_classified_by_role() {
        // Saga 1: order cancelled, stock still held, card still charged.
        // Saga 2: order and stock fine, charged twice, i.e. completed but double-charged.
        // Saga 3: only the order exists.
        let maps = [
            IdMap::from_iter([(1, entry(1, 1, 1, 5)), (2, entry(1, 0, 1, 1)), (3, entry(1, 0, 1, 1))]),
            IdMap::from_iter([(1, entry(1, 0, 2, 2)), (2, entry(1, 0, 2, 2))]),
            IdMap::from_iter([(1, entry(1, 0, 3, 3)), (2, entry(2, 0, 3, 4))]),
        ];
        let r = check(&CheckInput {
            steps: steps(&maps, &ROLES),
            unfinished: BTreeSet::new(),
            last_heal: Some(0),
            told: &IdMap::new(),
        });
        assert_eq!((r.completed, r.inconsistent), (1, 2));
        let want = [
            (CHARGE_WITHOUT_ORDER, 1),
            (DOUBLE_CHARGE, 1),
            (DUPLICATE_EFFECT, 0),
            (ORPHANED_SIDE_EFFECT, 2),
            (OVERSOLD, 0),
            (RESERVATION_LEAKED, 1),
            (STUCK_SAGA, 0),
            (TOLD_FAILED_BUT_COMPLETED, 0),
            (TOLD_OK_BUT_NOT_COMPLETED, 0),
        ];
        assert_eq!(r.anomalies, BTreeMap::from(want));
        assert_eq!(r.time_to_consistency, None, "inconsistent sagas never settle");
    }

    #[test]
    fn what_users_were_told_is_checked_against_what_happened() {
        // Saga 1 completed, saga 2 compensated, saga 3 half done, saga 4 never reached a step.
        let maps = [
            IdMap::from_iter([(1, entry(1, 0, 1, 1)), (2, entry(1, 1, 1, 5)), (3, entry(1, 0, 1, 1))]),
            IdMap::from_iter([(1, entry(1, 0, 2, 2)), (2, entry(1, 1, 2, 4))]),
            IdMap::from_iter([(1, entry(1, 0, 3, 3))]),
        ];
        let check_told = |told: &[(u64, bool)]| {
            let told = IdMap::from_iter(told.iter().copied());
            let r = check(&CheckInput {
                steps: steps(&maps, &ROLES),
                unfinished: BTreeSet::new(),
                last_heal: Some(0),
                told: &told,
            });
            (r.anomalies[TOLD_FAILED_BUT_COMPLETED], r.anomalies[TOLD_OK_BUT_NOT_COMPLETED])
        };
        // Told the truth (or nothing definite: saga 3's user was told "still processing").
        assert_eq!(check_told(&[(1, true), (2, false), (4, false)]), (0, 0));
        // Saga 1's user was told it failed; saga 2's and saga 3's that they succeeded.
        assert_eq!(check_told(&[(1, false), (2, true), (3, true)]), (1, 2));
    }

    #[test]
    fn oversold_counts_units_reserved_beyond_stock_and_stuck_sagas_are_reported() {
        let maps = [IdMap::from_iter([(1, entry(2, 0, 1, 2))]), IdMap::new(), IdMap::new()];
        let peaks = [3, 5, 7];
        let mut views = steps(&maps, &[Role::Inventory, Role::Order, Role::Payment]);
        views[0].stock = Some((5, &peaks));
        let r = check(&CheckInput {
            steps: views,
            unfinished: BTreeSet::from([1, 9]),
            last_heal: Some(0),
            told: &IdMap::new(),
        });
        assert_eq!(r.anomalies[OVERSOLD], 2);
        assert_eq!(r.anomalies[DUPLICATE_EFFECT], 1, "two units for one saga");
        assert_eq!(r.anomalies[STUCK_SAGA], 2);
        assert_eq!((r.sagas, r.compensated, r.inconsistent), (2, 1, 1), "saga 9 never reached a step");
    }

    #[test]
    fn sparse_ids_are_judged_like_dense_ones() {
        // The leftovers above, with sagas 2 and 3 moved far out (the maps' sparse parts), and
        // unfinished sagas on both sides: the verdicts must not depend on where an id is kept.
        let far = 1 << 40;
        let maps = [
            IdMap::from_iter([(1, entry(1, 1, 1, 5)), (far + 2, entry(1, 0, 1, 1)), (far + 3, entry(1, 0, 1, 1))]),
            IdMap::from_iter([(1, entry(1, 0, 2, 2)), (far + 2, entry(1, 0, 2, 2))]),
            IdMap::from_iter([(1, entry(1, 0, 3, 3)), (far + 2, entry(2, 0, 3, 4))]),
        ];
        let unfinished = BTreeSet::from([0, 1, far + 2, far + 9]);
        let r = check(&CheckInput { steps: steps(&maps, &ROLES), unfinished, last_heal: Some(0), told: &IdMap::new() });
        assert_eq!((r.sagas, r.completed, r.compensated, r.inconsistent), (5, 1, 2, 2));
        assert_eq!((r.anomalies[CHARGE_WITHOUT_ORDER], r.anomalies[DOUBLE_CHARGE]), (1, 1));
        assert_eq!((r.anomalies[ORPHANED_SIDE_EFFECT], r.anomalies[STUCK_SAGA]), (2, 4));
    }

    #[test]
    fn time_to_consistency_is_when_the_last_saga_caught_by_the_faults_settled() {
        let maps = [
            // Saga 1 started before the heal (100), compensated at 180; saga 2 started after it.
            IdMap::from_iter([(1, entry(1, 1, 50, 180)), (2, entry(1, 0, 150, 150))]),
            IdMap::from_iter([(2, entry(1, 0, 400, 400))]),
        ];
        let roles = [Role::Order, Role::Payment];
        let r = check(&CheckInput {
            steps: steps(&maps, &roles),
            unfinished: BTreeSet::new(),
            last_heal: Some(100),
            told: &IdMap::new(),
        });
        assert_eq!(r.time_to_consistency, Some(80));
        let r = check(&CheckInput {
            steps: steps(&maps, &roles),
            unfinished: BTreeSet::new(),
            last_heal: None,
            told: &IdMap::new(),
        });
        assert_eq!(r.time_to_consistency, None, "a fault that never heals");
    }
}
