//! The `workflows` section of the run report: per business workflow, what users were told,
//! what the saga checker found in the participants' durable state, and per-step figures.

use std::collections::{BTreeMap, BTreeSet};

use faultline_sim::time::to_ms;
use serde::Serialize;

use crate::saga_check::{self, CheckInput, StepView};
use crate::world::{Component, WorkflowActors, World};

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WorkflowReport {
    pub name: String,
    /// `sync`, `orchestrated` or `choreographed`.
    pub design: &'static str,
    /// What the coordinator answered users.
    pub answers: WorkflowAnswers,
    /// Sagas seen by any participant (or left unfinished by the machinery).
    pub sagas: u64,
    /// Every step in effect.
    pub completed: u64,
    /// No step in effect (compensated, or refused at the first step).
    pub compensated: u64,
    /// Some steps in effect, others not: each is an `orphaned_side_effect`.
    pub inconsistent: u64,
    /// Effects compensated (units released, refunds, cancellations), over all steps.
    pub compensations: u64,
    /// `undo` calls the coordinator started (cleanups, compensations and their retries).
    pub compensation_calls: u64,
    /// Orchestrated: sagas taken up again from the log after the orchestrator restarted.
    pub resumed_after_crash: u64,
    /// Sync with `propagate_deadlines`: requests that arrived after their user's deadline,
    /// turned away without a step (also in `answers.failed`).
    pub shed: u64,
    /// Sync with `propagate_deadlines`: chains stopped by their user's deadline (a step's call
    /// timed out at it, or a step ended at it; cleaned up, then answered `Error`).
    pub deadline_exceeded: u64,
    /// Calls to participants and publishes (the coordinator's and the steps') whose attempt
    /// passed `call_timeout_ms` unanswered.
    pub call_timeouts: u64,
    /// Every kind the saga checker knows, zeros included.
    pub anomalies: BTreeMap<String, u64>,
    /// From the last fault's heal until every saga it caught settled; `null` when the business
    /// state is left inconsistent (or a fault never healed).
    pub time_to_consistency_ms: Option<f64>,
    pub steps: Vec<StepReport>,
}

#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct WorkflowAnswers {
    /// Requests received (users' retries included).
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    /// Saga designs: answered "still processing" at the `reply_within` deadline.
    pub pending: u64,
    /// Waiting for their answer when the coordinator's node went down.
    pub lost_in_crash: u64,
    /// Saga designs: waiting for their answer when the same saga was requested again (a
    /// user's retry): the newest request gets it.
    pub superseded: u64,
    /// Still waiting for their answer when the run ended (no `reply_within_ms`, or a `sync`
    /// chain still going).
    pub unanswered: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StepReport {
    pub name: String,
    pub role: &'static str,
    /// Requests received (health probes aside).
    pub arrivals: u64,
    pub dos: u64,
    pub undos: u64,
    /// Effects applied.
    pub applied: u64,
    /// New `do`s refused (out of stock, declined).
    pub refused: u64,
    pub compensated: u64,
    /// `undo`s that came before their `do`.
    pub tombstones: u64,
    /// Repeated `do`s answered from the record (duplicates made harmless).
    pub repeats_ignored: u64,
    /// `do`s refused because their saga was already abandoned here.
    pub late_refused: u64,
    pub rejected: u64,
    /// Requests dropped unserved: after waiting `queue_timeout_ms`, or past their deadline
    /// (`propagate_deadlines`).
    pub shed: u64,
    /// Answered `Error` by an error-rate fault, without work.
    pub injected_errors: u64,
    /// Choreographed: deliveries acknowledged once the event they led to was published, and
    /// those answered with an error because it could not be (they are redelivered).
    pub acked: u64,
    pub nacked: u64,
    pub lost_in_crash: u64,
    /// Requests queued, in work, or (choreographed) waiting on their publish when the report
    /// was taken.
    pub in_system: u64,
    /// Inventory: units left over all items at the end.
    pub stock_left: Option<u64>,
}

pub(super) fn build(world: &World) -> Vec<WorkflowReport> {
    // A fault still active at the end: the business state is measured during it, not after.
    let last_heal = if world.net.active().next().is_some() {
        None
    } else {
        Some(world.fault_log.iter().filter(|f| !f.started).map(|f| f.t).max().unwrap_or(0))
    };
    world
        .workflow_actors
        .iter()
        .zip(&world.spec.workflows)
        .map(|(ids, w)| one(world, ids, &w.name, last_heal))
        .collect()
}

fn one(world: &World, ids: &WorkflowActors, name: &str, last_heal: Option<u64>) -> WorkflowReport {
    let comp = |i: u32| &world.actors[i as usize].comp;
    let Component::Coordinator(c) = comp(ids.coordinator) else { unreachable!("a coordinator") };
    let mut views = Vec::new();
    let mut steps = Vec::new();
    let mut call_timeouts = c.calls.stats.attempt_timeouts;
    for &pid in &ids.participants {
        let Component::Participant(p) = comp(pid) else { unreachable!("a participant") };
        let cfg = p.config();
        views.push(StepView {
            role: cfg.role,
            entries: p.entries(),
            stock: cfg.stock.map(|s| (s.per_item, p.peak_reserved())),
        });
        let st = &p.stats;
        call_timeouts += p.calls.stats.attempt_timeouts;
        let name = &world.actors[pid as usize].name;
        steps.push(StepReport {
            name: name.rsplit('/').next().unwrap_or(name).to_owned(),
            role: cfg.role.name(),
            dos: st.dos,
            undos: st.undos,
            applied: st.applied,
            refused: st.refused,
            compensated: st.compensated,
            tombstones: st.tombstones,
            repeats_ignored: st.repeats_ignored,
            late_refused: st.late_refused,
            arrivals: st.arrivals,
            rejected: st.rejected,
            shed: st.shed,
            injected_errors: st.injected_errors,
            acked: st.acked,
            nacked: st.nacked,
            lost_in_crash: st.lost,
            in_system: p.in_progress() as u64,
            stock_left: cfg.stock.map(|_| p.stock_left().iter().map(|&u| u64::from(u)).sum()),
        });
    }
    // What the machinery has not finished: sagas not ended in the log, events still queued or
    // dead-lettered (their key is the saga id shifted left by one).
    let mut unfinished: BTreeSet<u64> =
        c.saga_log().filter(|(_, phase)| !phase.is_terminal()).map(|(id, _)| id).collect();
    for &t in &ids.topics {
        let Component::Broker(b) = comp(t) else { unreachable!("a topic") };
        unfinished.extend(b.pending_keys().map(|k| k >> 1));
        unfinished.extend(b.dead_letter_queue().iter().map(|d| d.key >> 1));
    }
    let r = saga_check::check(&CheckInput { steps: views, unfinished, last_heal, told: c.told() });
    let st = &c.stats;
    WorkflowReport {
        name: name.to_owned(),
        design: c.design().name(),
        answers: WorkflowAnswers {
            requests: st.requests,
            ok: st.answered_ok,
            failed: st.answered_failed,
            pending: st.answered_pending,
            lost_in_crash: st.lost_in_crash,
            superseded: st.superseded,
            unanswered: c.waiting(),
        },
        sagas: r.sagas,
        completed: r.completed,
        compensated: r.compensated,
        inconsistent: r.inconsistent,
        compensations: r.compensations,
        compensation_calls: st.compensation_calls,
        resumed_after_crash: st.resumed,
        shed: st.shed,
        deadline_exceeded: st.deadline_exceeded,
        call_timeouts,
        anomalies: r.anomalies.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect(),
        time_to_consistency_ms: r.time_to_consistency.map(to_ms),
        steps,
    }
}
