//! Business workflows as sagas: compensation order and crash recovery of the orchestrator,
//! harmless duplicates in a choreography, and the lesson of the `checkout-outage` catalog
//! scenario over many seeds (sync leaves side effects behind; both sagas leave none, at a cost).

use std::collections::BTreeMap;

use faultline_models::idmap::IdMap;
use faultline_models::saga::{SagaEntry, StepState};
use faultline_models::saga_check::KINDS;
use faultline_models::world::Component;
use faultline_models::{RunReport, World};
use faultline_scenarios::sweep::Estimate;
use faultline_scenarios::{Scenario, Source, catalog, runner};

fn scenario(text: &str) -> Scenario {
    Scenario::parse(&Source { file: "test.toml".into(), text: text.into() })
        .unwrap_or_else(|e| panic!("{}", e.errors.iter().map(|e| e.one_line()).collect::<Vec<_>>().join("\n")))
}

fn run(sc: &Scenario, variant: &str, seed: u64) -> (RunReport, World) {
    runner::run(&sc.variant(Some(variant)).unwrap(), seed, None).unwrap()
}

/// The durable records of the first workflow's participants, by step.
fn records(w: &World) -> Vec<&IdMap<SagaEntry>> {
    w.workflow_actors[0]
        .participants
        .iter()
        .map(|&p| match &w.actors[p as usize].comp {
            Component::Participant(p) => p.entries(),
            _ => unreachable!("a participant"),
        })
        .collect()
}

fn anomalies(r: &RunReport) -> u64 {
    r.anomalies.values().sum()
}

/// A three-step workflow in one region; `EXTRA` is appended (faults, variants).
fn flow(design: &str, payment_refusals: f64, extra: &str) -> String {
    format!(
        r#"
[scenario]
name = "flow"
duration_s = 10

[[region]]
name = "r"
zones = ["r-a", "r-b"]

[[workload]]
name = "users"
zone = "r-a"
target = "flow"
arrival = {{ process = "poisson", rate_per_s = 100 }}
timeout_ms = 5000
keys = {{ distribution = "sequential" }}

[[workflow]]
name = "flow"
zone = "r-a"
design = "{design}"
call_timeout_ms = 100
retry = {{ max_attempts = 3, backoff_base_ms = 10, backoff_max_ms = 100 }}
queue = {{ zone = "r-b", partitions = 8, max_in_flight_per_partition = 4, visibility_timeout_ms = 200, max_attempts = 50, session_timeout_ms = 1000 }}

[[workflow.step]]
name = "order"
role = "order"
zone = "r-b"
service_time = {{ dist = "exponential", mean_ms = 2 }}

[[workflow.step]]
name = "stock"
role = "inventory"
zone = "r-b"
service_time = {{ dist = "exponential", mean_ms = 2 }}
stock_per_item = 100
items = 50

[[workflow.step]]
name = "pay"
role = "payment"
zone = "r-a"
service_time = {{ dist = "exponential", mean_ms = 20 }}
refuse_probability = {payment_refusals}
{extra}"#
    )
}

#[test]
fn orchestrator_compensates_in_reverse_order_and_resumes_its_log_after_a_crash() {
    let crash = r#"
[[fault]]
kind = "node-crash"
node = "flow"
start_s = 4
end_s = 5
"#;
    let sc = scenario(&flow("orchestrated", 0.5, crash));
    let (r, w) = run(&sc, "base", 1);
    let wf = &r.workflows[0];
    assert_eq!((wf.inconsistent, anomalies(&r)), (0, 0), "{wf:?}");
    assert!(wf.resumed_after_crash > 0, "{wf:?}");
    let [order, stock, pay] = records(&w)[..] else { panic!("three steps") };
    let mut reversed = 0;
    for (id, p) in pay.iter() {
        if p.state != StepState::Refused {
            continue;
        }
        // Refused at payment: stock released first, then the order cancelled.
        let (o, s) = (order[id], stock[id]);
        assert_eq!((o.state, s.state), (StepState::Compensated, StepState::Compensated), "saga {id}");
        assert!(
            s.last_effect < o.last_effect,
            "saga {id}: stock undone at {} after order at {}",
            s.last_effect,
            o.last_effect
        );
        reversed += 1;
    }
    assert!(reversed > 100, "{reversed} sagas compensated");
    // Some sagas were caught by the crash: a step done before it, the saga ended after the
    // restart, every step consistent (checked above).
    let (down, up) = (4_000_000_000, 5_000_000_000);
    let straddling = order
        .iter()
        .filter(|(id, o)| o.first_effect < down && pay.get(*id).is_some_and(|p| p.last_effect >= up))
        .count();
    assert!(straddling > 0, "no saga spanned the crash");
    assert!(wf.answers.lost_in_crash > 0);
}

/// Payments 18 times slower for 1.4 s, early in checkout-outage.
const PAYMENTS_BRIEFLY_SLOW: &str = r#"
[[fault]]
kind = "slow"
targets = ["checkout/payments"]
factor = 18
start_s = 3.6
duration_s = 1.4
"#;

/// The text of checkout-outage with its faults replaced by `faults`.
fn checkout_with(faults: &str) -> String {
    let text = catalog::get("checkout-outage").unwrap().text;
    let (start, end) = (text.find("[[fault]]").unwrap(), text.find("[[variant]]").unwrap());
    format!("{}{faults}\n{}", &text[..start], &text[end..])
}

#[test]
fn a_saga_resumed_after_a_restart_undoes_the_step_it_was_calling_even_if_that_step_turns_it_away() {
    // Shrunk by `faultline shrink` from a generated timeline of 6 faults: payments slow for
    // 1.4 s early on, and the orchestrator down for 0.1 s at 39.9 s. On restart every unfinished
    // saga calls at once and payments' queue turns many away; a saga whose charge was applied
    // before the crash must still have it undone (revision 3 left 36 charges without an order).
    let outage = r#"
[[fault]]
kind = "zone-outage"
zone = "eu-west-a"
start_s = 39.9
duration_s = 0.1
"#;
    let text = checkout_with(&format!("{PAYMENTS_BRIEFLY_SLOW}{outage}"))
        .replace("reply_within_ms = 2000\n", "reply_within_ms = 2000\nsettle_s = 600\n");
    let (r, _) = run(&scenario(&text), "orchestrated", 1055);
    let wf = &r.workflows[0];
    assert!(wf.resumed_after_crash > 0, "{wf:?}");
    let payments = wf.steps.iter().find(|s| s.name == "payments").unwrap();
    assert!(payments.rejected > 0, "{payments:?}");
    assert_eq!((wf.inconsistent, anomalies(&r)), (0, 0), "{wf:?}");
}

#[test]
fn compensations_keep_a_briefly_slowed_step_overloaded_when_its_queue_holds_more_than_a_timeout_of_work() {
    // Payments 18 times slower for 1.4 s. Its queue (1000 deep) fills; a full queue is about
    // 1.7 s of work (16 workers, mean 27 ms) against the orchestrator's 400 ms call timeout, so
    // every call that gets in times out and is worked on anyway. Sagas abort and their
    // compensation rounds (3 attempts each, pauses doubling towards 30 s) add far more calls
    // than payments can do: the overload lasts as long as the load does. Sync's cleanup is one
    // attempt, a choreography's steps get work at the broker's in-flight limit: both recover. A queue of 200 (0.34 s of
    // work, less than the timeout) lets the orchestrated design recover too, and so does one
    // attempt per call (no retries nested inside the compensation rounds), and so does the deep
    // queue with a queue timeout under the call timeout (payments turns away, with no charge,
    // the calls the orchestrator gave up on).
    let slow = PAYMENTS_BRIEFLY_SLOW;
    let ok_share = |sc: &Scenario, design: &str| {
        let rs: Vec<RunReport> = (1..=6).map(|seed| run(sc, design, seed).0).collect();
        rs.iter().map(|r| r.requests.ok as f64 / r.requests.total as f64).sum::<f64>() / rs.len() as f64
    };
    let deep = scenario(&checkout_with(slow));
    let payments = "refuse_probability = 0.02\n";
    let short = scenario(&checkout_with(slow).replace(payments, &format!("{payments}queue_capacity = 200\n")));
    // Or no retries inside a round: each call one attempt (the rounds are the retries).
    let retry = "retry = { max_attempts = 3,";
    let single = scenario(&checkout_with(slow).replace(retry, "retry = { max_attempts = 1,"));
    let shed = scenario(&checkout_with(slow).replace(payments, &format!("{payments}queue_timeout_ms = 300\n")));
    let stuck = ok_share(&deep, "orchestrated");
    assert!(stuck < 0.3, "orchestrated with a deep queue: {stuck}");
    for (sc, design) in [
        (&deep, "sync"),
        (&deep, "choreographed"),
        (&short, "orchestrated"),
        (&single, "orchestrated"),
        (&shed, "orchestrated"),
    ] {
        let share = ok_share(sc, design);
        // Healthy, refusals and stock outs aside (about 15% of checkouts fail for those).
        assert!(share > 0.75, "{design}: {share}");
    }
}

/// Loses a fifth of what participants send to the coordinator and to the broker while it
/// lasts: answers (so callers retry), publishes and acknowledgements (so events come again).
const LOSSY: &str = r#"
[[fault]]
kind = "loss"
from = ["flow/order", "flow/stock", "flow/pay"]
to = ["flow", "flow/queue"]
probability = 0.2
start_s = 2
end_s = 8

[[variant]]
name = "choreographed"

[[variant]]
name = "orchestrated"
set = { "workflow.flow.design" = "orchestrated" }

[[variant]]
name = "sync"
set = { "workflow.flow.design" = "sync" }
"#;

#[test]
fn at_least_once_duplicates_are_harmless_with_idempotency_keys_and_not_without() {
    let sc = scenario(&flow("choreographed", 0.1, LOSSY));
    for seed in [1, 2] {
        for design in ["choreographed", "orchestrated"] {
            let (r, w) = run(&sc, design, seed);
            let wf = &r.workflows[0];
            assert_eq!((wf.inconsistent, anomalies(&r)), (0, 0), "{design}: {:?}", r.anomalies);
            assert!(wf.completed > 300 && wf.compensated > 20, "{design}: {wf:?}");
            // Duplicates did arrive, and were answered from the record.
            assert!(wf.steps.iter().all(|s| s.repeats_ignored > 0), "{design}: {:?}", wf.steps);
            for step in records(&w) {
                assert!(step.values().all(|e| e.applied <= 1), "{design}: an effect applied twice");
            }
            if design == "choreographed" {
                let redelivered: u64 = r.queues.iter().map(|q| q.redelivered).sum();
                assert!(redelivered > 50, "{:?}", r.queues);
            }
        }
        // The same losses without idempotency keys: retried calls apply twice.
        let (r, _) = run(&sc, "sync", seed);
        assert!(r.anomalies["double_charge"] + r.anomalies["duplicate_effect"] > 10, "{:?}", r.anomalies);
    }
}

#[test]
fn a_do_overtaken_by_its_undo_is_refused_by_the_tombstone() {
    // Requests to payments are delayed by 0–600 ms for a while: calls time out (100 ms, 3
    // attempts), the orchestrator compensates payments, and some `undo`s overtake their `do`s.
    let jitter = r#"
[[fault]]
kind = "latency"
from = ["flow"]
to = ["flow/pay"]
one_way = true
added_ms = 0
jitter_ms = 600
start_s = 2
end_s = 8

[[variant]]
name = "orchestrated"

[[variant]]
name = "sync"
set = { "workflow.flow.design" = "sync" }
"#;
    let sc = scenario(&flow("orchestrated", 0.0, jitter));
    let (r, w) = run(&sc, "orchestrated", 1);
    let wf = &r.workflows[0];
    let pay = &wf.steps[2];
    assert!(pay.tombstones > 5 && pay.late_refused > 5, "{pay:?}");
    assert_eq!((wf.inconsistent, anomalies(&r)), (0, 0), "{:?}", r.anomalies);
    let tombstoned = records(&w)[2].values().filter(|e| e.state == StepState::Tombstone).count();
    assert_eq!(tombstoned as u64, pay.tombstones, "no tombstoned saga was ever charged");
    // Without tombstones (sync), the late charges apply after the front gave up on them.
    let (r, _) = run(&sc, "sync", 1);
    assert!(r.anomalies["charge_without_order"] > 5, "{:?}", r.anomalies);
}

#[test]
fn sagas_that_cannot_finish_are_reported_stuck_with_their_leftovers() {
    // Payments goes down at 5 s and never comes back; sagas may settle for 2 s after 10 s.
    let gone = r#"
[[fault]]
kind = "node-crash"
node = "flow/pay"
start_s = 5

[[variant]]
name = "orchestrated"

[[variant]]
name = "choreographed"
set = { "workflow.flow.design" = "choreographed" }
"#;
    let sc = scenario(
        &flow("orchestrated", 0.0, gone)
            .replace("design = \"orchestrated\"", "design = \"orchestrated\"\nsettle_s = 2"),
    );
    for design in ["orchestrated", "choreographed"] {
        let (r, _) = run(&sc, design, 1);
        let wf = &r.workflows[0];
        // Orchestrated: compensations of payments retry forever; choreographed: the events for
        // payments wait in its topic. Either way the orders and reservations stay.
        assert!(wf.anomalies["stuck_saga"] > 100, "{design}: {:?}", wf.anomalies);
        assert!(wf.anomalies["reservation_leaked"] > 0 && wf.inconsistent > 0, "{design}: {wf:?}");
        assert_eq!(wf.time_to_consistency_ms, None, "{design}: a fault is still active");
        assert!(r.sim_time_ns >= 12_000_000_000, "{design}: ran until the limit: {}", r.sim_time_ns);
    }
}

#[test]
fn checkout_outage_is_deterministic_in_every_variant() {
    let sc = scenario(catalog::get("checkout-outage").unwrap().text);
    for v in &sc.variants {
        let d = runner::check_determinism(&sc.variant(Some(&v.name)).unwrap(), 3).unwrap();
        assert!(d.deterministic(), "{}: {:?}", v.name, d);
    }
}

/// Runs every variant of `checkout-outage` over `seeds` on two threads.
fn checkout_runs(seeds: std::ops::Range<u64>) -> BTreeMap<&'static str, Vec<RunReport>> {
    let sc = scenario(catalog::get("checkout-outage").unwrap().text);
    let variants = ["sync", "orchestrated", "choreographed"];
    let jobs: Vec<(&str, u64)> = variants.iter().flat_map(|&v| seeds.clone().map(move |s| (v, s))).collect();
    let mut results: Vec<Option<RunReport>> = vec![None; jobs.len()];
    std::thread::scope(|s| {
        for (half, out) in results.chunks_mut(jobs.len().div_ceil(2)).enumerate() {
            let (sc, jobs) = (&sc, &jobs);
            s.spawn(move || {
                for (k, slot) in out.iter_mut().enumerate() {
                    let (v, seed) = jobs[half * jobs.len().div_ceil(2) + k];
                    *slot = Some(run(sc, v, seed).0);
                }
            });
        }
    });
    let mut by = BTreeMap::new();
    for ((v, _), r) in jobs.iter().zip(results) {
        by.entry(*v).or_insert_with(Vec::new).push(r.expect("ran"));
    }
    by
}

#[test]
fn checkout_outage_sync_leaves_side_effects_behind_and_sagas_leave_none_at_a_latency_cost() {
    let runs = checkout_runs(1..41);
    let total = |v: &str, kind: &str| runs[v].iter().map(|r| r.anomalies[kind]).sum::<u64>();
    for r in &runs["sync"] {
        let wf = &r.workflows[0];
        // The front's crash abandons checkouts in flight; slow payments time out after charging.
        assert!(wf.anomalies["orphaned_side_effect"] > 0, "seed {}: {:?}", r.seed, wf.anomalies);
        assert_eq!(wf.time_to_consistency_ms, None, "seed {}: never consistent", r.seed);
    }
    for kind in ["charge_without_order", "double_charge", "reservation_leaked"] {
        assert!(total("sync", kind) > 0, "sync {kind}");
    }
    for v in ["orchestrated", "choreographed"] {
        for r in &runs[v] {
            let wf = &r.workflows[0];
            assert_eq!(r.anomalies.len(), KINDS.len(), "every kind reported");
            assert_eq!(anomalies(r), 0, "{v} seed {}: {:?}", r.seed, r.anomalies);
            assert_eq!((wf.inconsistent, wf.anomalies["stuck_saga"]), (0, 0), "{v} seed {}", r.seed);
            assert_eq!(wf.sagas, wf.completed + wf.compensated);
            assert!(wf.time_to_consistency_ms.is_some(), "{v} seed {}: settles after the heal", r.seed);
            assert!(wf.compensations > 0);
        }
    }
    // Resumed from the log after the restart of eu-west.
    assert!(runs["orchestrated"].iter().all(|r| r.workflows[0].resumed_after_crash > 0));
    // The cost: log appends and queue hops make checkouts slower (paired over seeds).
    for v in ["orchestrated", "choreographed"] {
        for q in ["p50", "p99"] {
            let pick = |r: &RunReport| if q == "p50" { r.latency_ms.p50.unwrap() } else { r.latency_ms.p99.unwrap() };
            let d: Vec<f64> = runs[v].iter().zip(&runs["sync"]).map(|(a, b)| pick(a) - pick(b)).collect();
            let e = Estimate::of(&d);
            assert!(e.mean - e.ci95 > 0.0, "{v} {q} − sync {q}: {e:?}");
        }
    }
    // A choreography only learns the outcome at the end of the chain: some shoppers are told
    // "still processing".
    assert!(runs["choreographed"].iter().map(|r| r.workflows[0].answers.pending).sum::<u64>() > 0);
}

/// A workflow step that propagates deadlines, reached over links of zero latency, sheds
/// exactly the queued requests that waited longer than its caller waits for them: the call
/// timeout of a `sync` front or an orchestrator, the visibility timeout of a choreography's
/// deliveries (a delivery carries it as its deadline). The same run, event for event, as a
/// queue timeout of that length, in each design.
#[test]
fn a_step_that_propagates_deadlines_runs_as_a_queue_timeout_of_its_callers_timeout() {
    let text = |design: &str, knob: &str| {
        instant_flow(
            30,
            2000,
            &format!(
                r#"
design = "{design}"
call_timeout_ms = 50
retry = {{ max_attempts = 2, backoff_base_ms = 5 }}
queue = {{ zone = "z", partitions = 8, max_in_flight_per_partition = 8, visibility_timeout_ms = 50, max_attempts = 5 }}

[[workflow.step]]
name = "order"
role = "order"
zone = "z"
service_time = {{ dist = "exponential", mean_ms = 1 }}

[[workflow.step]]
name = "pay"
role = "payment"
zone = "z"
workers = 1
{knob}
service_time = {{ dist = "exponential", mean_ms = 10 }}
"#
            ),
        )
    };
    let pay = |r: &RunReport| r.workflows[0].steps[1].shed;
    for design in ["sync", "orchestrated", "choreographed"] {
        for seed in [1, 2] {
            let once = |knob: &str| {
                let sc = scenario(&text(design, knob));
                runner::run(&sc.variant(None).unwrap(), seed, None).unwrap().0
            };
            let neither = once("");
            assert_eq!(pay(&neither), 0);
            // The deadline itself as a queue timeout of 50 ms; 20 ms before it as one of 30 ms.
            for (i, (knob, early)) in crate::theory::DEADLINES_AS_TIMEOUTS.into_iter().enumerate() {
                let (deadlines, timeout) = (once(knob), once(early));
                assert!(pay(&deadlines) > 100, "{design} seed {seed}: the test must shed: {}", pay(&deadlines));
                assert_eq!(
                    serde_json::to_value(&deadlines).unwrap(),
                    serde_json::to_value(&timeout).unwrap(),
                    "{design} seed {seed}: {knob}"
                );
                // Working through calls their callers gave up on, while retries (redeliveries)
                // pile on, the step lets few checkouts through; dropping them keeps it useful.
                // (Not the orchestrator's: its compensation rounds add load that a step at 95%
                // cannot carry, with or without deadlines.)
                if i == 0 && design != "orchestrated" {
                    let (with, without) = (deadlines.requests.ok, neither.requests.ok);
                    assert!(with > 10 * without, "{design} seed {seed}: {with} against {without} ok");
                }
            }
        }
    }
}

/// A sync front that propagates deadlines passes its user's deadline on to its steps' `do`
/// calls. Over links of zero latency, a one-step chain whose user waits 50 ms, with calls
/// that time out after 2 s, is the same run in every figure as calls that time out after
/// 50 ms (the user's deadline is the call's arrival at the front plus 50 ms, and the call
/// starts on arrival). Only the event count and the trace hash differ: an inherited deadline
/// has a timer of its own, which fires even for a call answered before it, where a call
/// timeout's FIFO has a timer only for the first call still waiting.
#[test]
fn a_sync_front_that_propagates_deadlines_runs_as_a_call_timeout_of_its_users_timeout() {
    let text = |knobs: &str| {
        instant_flow(
            20,
            50,
            &format!(
                r#"
design = "sync"
{knobs}

[[workflow.step]]
name = "pay"
role = "payment"
zone = "z"
workers = 1
service_time = {{ dist = "exponential", mean_ms = 10 }}
"#
            ),
        )
    };
    for seed in [1, 2] {
        let once = |knobs: &str| runner::run(&scenario(&text(knobs)).variant(None).unwrap(), seed, None).unwrap().0;
        let propagating = once("call_timeout_ms = 2000\npropagate_deadlines = true");
        let (plain, timeout) = (once("call_timeout_ms = 2000"), once("call_timeout_ms = 50"));
        let wf = |r: &RunReport| r.workflows[0].clone();
        assert!(wf(&propagating).deadline_exceeded > 100, "seed {seed}: the test must cut chains");
        assert_eq!(wf(&propagating).deadline_exceeded, wf(&timeout).call_timeouts, "seed {seed}");
        assert_eq!(wf(&plain).deadline_exceeded, 0);
        assert_ne!(plain.trace_hash, timeout.trace_hash, "seed {seed}: the call timeout must matter");
        assert!(propagating.events > timeout.events);
        let figures = |r: &RunReport| {
            let mut v = serde_json::to_value(r).unwrap();
            v["workflows"][0]["deadline_exceeded"] = 0.into();
            (v["events"], v["trace_hash"]) = (0.into(), "".into());
            v
        };
        assert_eq!(figures(&propagating), figures(&timeout), "seed {seed}");
    }
}

/// The lesson of a sync front that keeps calling after its user gave up: in `checkout-outage`
/// with shoppers who wait 1 s (then retry the same saga id), the front goes on with the
/// abandoned checkout while the retry runs it again, so effects apply twice and users told
/// "failed" are charged and shipped anyway. Propagating the shoppers' deadline stops the chain
/// at it and cleans up: far fewer duplicates. It does not make the chain safe: the step whose
/// call the deadline cut is left as it is (its outcome is unknown to the front), so charges
/// without an order remain. Only idempotent, compensating sagas leave nothing behind.
#[test]
fn a_sync_front_that_propagates_deadlines_stops_abandoned_checkouts_but_still_leaves_side_effects() {
    let text = catalog::get("checkout-outage").unwrap().text.replace("\ntimeout_ms = 3000\n", "\ntimeout_ms = 1000\n");
    let with = scenario(&text.replace("design = \"sync\"", "design = \"sync\"\npropagate_deadlines = true"));
    let without = scenario(&text);
    let total =
        |sc: &Scenario, f: &dyn Fn(&RunReport) -> u64| (1..=6).map(|seed| f(&run(sc, "sync", seed).0)).sum::<u64>();
    let kind = |k: &'static str| move |r: &RunReport| r.anomalies[k];
    let cut = total(&with, &|r| r.workflows[0].deadline_exceeded);
    assert!(cut > 0, "chains cut at the shoppers' deadline");
    assert_eq!(total(&without, &|r| r.workflows[0].deadline_exceeded), 0);
    for k in ["duplicate_effect", "told_failed_but_completed"] {
        let (w, wo) = (total(&with, &kind(k)), total(&without, &kind(k)));
        assert!(wo > 20 && 3 * w < wo, "{k}: {w} with, {wo} without");
    }
    assert!(total(&with, &kind("charge_without_order")) > 0);
    // `explain` says so, for the sync design only.
    let says = |sc: &Scenario, v: &str| {
        faultline_scenarios::explain::explain(sc, Some(v))
            .unwrap()
            .contains("it stops a checkout when its user gives up")
    };
    assert!(says(&with, "sync") && !says(&without, "sync") && !says(&with, "orchestrated"));
}

/// A workflow `flow` in one zone, over links of zero latency, that users call 95 times a second
/// and wait `user_timeout_ms` for; `rest` is the rest of its `[[workflow]]` table and its steps.
fn instant_flow(duration_s: u32, user_timeout_ms: u32, rest: &str) -> String {
    format!(
        r#"
[scenario]
name = "instant-flow"
duration_s = {duration_s}

[topology.latency]
same_node = {{ dist = "constant", value_ms = 0 }}
same_zone = {{ dist = "constant", value_ms = 0 }}
cross_zone = {{ dist = "constant", value_ms = 0 }}
cross_region = {{ dist = "constant", value_ms = 0 }}

[[region]]
name = "r"
zones = ["z"]

[[workload]]
name = "users"
zone = "z"
target = "flow"
arrival = {{ process = "poisson", rate_per_s = 95 }}
timeout_ms = {user_timeout_ms}
keys = {{ distribution = "sequential" }}

[[workflow]]
name = "flow"
zone = "z"
{rest}"#
    )
}
