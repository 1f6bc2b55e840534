//! Generated architectures: random but valid scenarios — regions and zones, a chain of services
//! with load balancers, a cache, a sharded database and a queue in random places and settings,
//! open- and closed-loop workloads — under generated fault timelines. The catalog covers the
//! combinations someone thought of; these cover the others. Every run must build a report whose
//! bookkeeping adds up (the same checks as the catalog's, `properties::check_accounts`), run
//! the same twice, and pass the catalog's equalities: stepped or sliced, with unreached limits
//! raised, with other window sizes, and with changes that start later. Two oracles more: a
//! database acknowledging by majority loses no write (and, reading from its leader, stays
//! linearizable), and an idle saga workflow has settled every saga once its faults healed;
//! each also has a cheaper test of its own that searches more architectures.

use faultline_scenarios::{Scenario, Source, testing};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Choices taken in order from a list of numbers: shrinking the numbers towards 0 shrinks the
/// architecture towards the simplest one (every `below` and `chance` then answers 0 / false).
struct Pick<'a> {
    v: &'a [u32],
    i: usize,
}

impl Pick<'_> {
    fn below(&mut self, n: u32) -> u32 {
        let x = self.v.get(self.i).copied().unwrap_or(0);
        self.i += 1;
        x % n
    }

    fn chance(&mut self, percent: u32) -> bool {
        self.below(100) >= 100 - percent
    }

    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below(hi - lo + 1)
    }

    fn one<'s>(&mut self, of: &[&'s str]) -> &'s str {
        of[self.below(of.len() as u32) as usize]
    }
}

fn dist(p: &mut Pick, lo_ms: u32, hi_ms: u32) -> String {
    let mean_ms = p.range(lo_ms, hi_ms);
    match p.below(3) {
        0 => format!("{{ dist = \"exponential\", mean_ms = {mean_ms} }}"),
        1 => format!("{{ dist = \"lognormal\", p50_ms = {mean_ms}, p99_ms = {} }}", mean_ms * 4),
        _ => format!("{{ dist = \"constant\", value_ms = {mean_ms} }}"),
    }
}

fn retry(p: &mut Pick) -> String {
    if !p.chance(35) {
        return String::new();
    }
    let budget = if p.chance(30) { format!(", budget_ratio = 0.{}", p.range(1, 5)) } else { String::new() };
    let jitter = p.one(&["full", "equal", "none"]);
    format!(
        "retry = {{ max_attempts = {}, backoff_base_ms = {}, backoff_max_ms = 100, jitter = \"{jitter}\"{budget} }}\n",
        p.range(2, 3),
        p.range(1, 20)
    )
}

/// A call table's optional fields for a service call (`kind`-free: targets have no kinds).
fn call_extras(p: &mut Pick, timeout_ms: u32, service_target: bool) -> String {
    let mut s = String::new();
    if p.chance(20) {
        s += &format!(", breaker = {{ failures = {}, open_ms = {} }}", p.range(1, 5), p.range(50, 1000));
    }
    if service_target && p.chance(15) {
        s += &format!(", hedge_after_ms = {}", p.range(1, timeout_ms));
    }
    if p.chance(10) {
        s += &format!(", fanout = {}", p.range(2, 3));
    }
    if p.chance(20) {
        s += ", optional = true";
    }
    s
}

/// A scenario text from the choices in `v`.
pub(crate) fn architecture(v: &[u32]) -> String {
    let p = &mut Pick { v, i: 0 };
    let mut t = String::new();
    let duration = p.range(4, 30);
    t += &format!("[scenario]\nname = \"generated\"\nduration_s = {duration}\nwindow_ms = 1000\n\n");
    let mut zones = Vec::new();
    for r in 0..p.range(1, 2) {
        let zs: Vec<String> = (0..p.range(1, 2)).map(|z| format!("r{r}-{}", ["a", "b"][z as usize])).collect();
        t += &format!("[[region]]\nname = \"r{r}\"\nzones = [{}]\n\n", quoted(&zs));
        zones.extend(zs);
    }
    let zone = |p: &mut Pick| zones[p.below(zones.len() as u32) as usize].clone();
    let has_db = p.chance(40);
    let has_cache = p.chance(30);
    let has_queue = p.chance(25);
    let n = p.range(1, 3);
    // Load balancers in front of some services; what a caller of service i targets.
    let fronted: Vec<bool> = (0..n).map(|_| p.chance(50)).collect();
    let name_of = |i: u32| if fronted[i as usize] { format!("lb{i}") } else { format!("s{i}") };
    // Services with request kinds of their own (named as the workloads' mix names them).
    let kinded: Vec<bool> = (0..n).map(|_| p.chance(20)).collect();
    if has_db {
        let consistency = match p.below(3) {
            0 => "consistency = \"strong\"".to_owned(),
            1 => "consistency = \"eventual\"".to_owned(),
            _ => format!(
                "replication = \"{}\"\nread_from = \"{}\"",
                p.one(&["sync", "async"]),
                p.one(&["leader", "nearest"])
            ),
        };
        let mut range = if p.chance(30) { "sharding = \"range\"\nkey_space = 100\n".to_owned() } else { String::new() };
        if p.chance(20) {
            range += &format!("queue_timeout_ms = {}\n", p.range(5, 200));
        }
        if p.chance(20) {
            range += &propagate(p);
        }
        t += &format!(
            "[[database]]\nname = \"db\"\nzones = [{}]\nshards = {}\nreplicas = {}\n{consistency}\n{range}workers = {}\nqueue_capacity = {}\nservice_time = {}\nelection_timeout_ms = {}\nrecord_history = {}\n\n",
            quoted(&zones),
            p.range(1, 3),
            p.range(1, 3),
            p.range(1, 8),
            p.below(60),
            dist(p, 1, 3),
            p.range(200, 1000),
            p.chance(30),
        );
    }
    for i in 0..n {
        let mut calls = Vec::new();
        for j in i + 1..n {
            if p.chance(60) {
                let timeout = p.range(20, 400);
                let extras = call_extras(p, timeout, true);
                let balance =
                    if fronted[j as usize] { String::new() } else { format!(", balance = \"{}\"", strategy(p)) };
                let kind = if kinded[j as usize] && p.chance(50) { ", kind = \"write\"" } else { "" };
                calls.push(format!("{{ target = \"{}\", timeout_ms = {timeout}{balance}{kind}{extras} }}", name_of(j)));
            }
        }
        // The cache's backend and the queue's consumers may be the last service: only the
        // others call them (no cycle).
        let upstream = i + 1 < n;
        for (present, target) in [(has_db, "db"), (has_cache && upstream, "cache"), (has_queue && upstream, "q")] {
            if present && p.chance(40) {
                let timeout = p.range(20, 400);
                let extras = call_extras(p, timeout, false);
                calls.push(format!("{{ target = \"{target}\", timeout_ms = {timeout}{extras} }}"));
            }
        }
        let region = p.chance(50).then(|| p.below(2).min(region_count(&zones) - 1));
        let placement = match region {
            Some(r) => format!("region = \"r{r}\""),
            None => format!("zones = [\"{}\"]", zone(p)),
        };
        let instances = p.range(1, 3);
        let work = if kinded[i as usize] {
            format!(
                "kinds = [{{ name = \"read\", service_time = {} }}, {{ name = \"write\", service_time = {} }}]",
                dist(p, 1, 5),
                dist(p, 5, 20)
            )
        } else {
            format!("service_time = {}", dist(p, 1, 10))
        };
        let mut extra = String::new();
        if p.chance(20) {
            extra += &format!("queue_timeout_ms = {}\n", p.range(5, 200));
        }
        if p.chance(15) {
            extra += &format!("rate_limit_per_s = {}\n", p.range(20, 400));
        }
        if p.chance(20) {
            extra += &propagate(p);
        }
        t += &format!(
            "[[service]]\nname = \"s{i}\"\n{placement}\ninstances = {instances}\nworkers = {}\nqueue_capacity = {}\n{work}\n{extra}calls = [{}]\n\n",
            p.range(1, 8),
            p.below(60),
            calls.join(", ")
        );
        if fronted[i as usize] {
            let mut check = String::new();
            if p.chance(40) {
                check += "health_check = { interval_ms = 500, timeout_ms = 200, unhealthy = 2, healthy = 2 }\n";
                // Active-passive over the region's two zones, when both hold an instance.
                if let Some(r) = region
                    && instances >= 2
                    && zones.iter().filter(|z| z.starts_with(&format!("r{r}-"))).count() == 2
                    && p.chance(50)
                {
                    let order = if p.chance(50) { ["a", "b"] } else { ["b", "a"] };
                    check += &format!("failover = [\"r{r}-{}\", \"r{r}-{}\"]\n", order[0], order[1]);
                }
            }
            t += &format!(
                "[[load_balancer]]\nname = \"lb{i}\"\nzone = \"{}\"\nservice = \"s{i}\"\nstrategy = \"{}\"\ntimeout_ms = {}\n{check}\n",
                zone(p),
                strategy(p),
                p.range(500, 30_000)
            );
        }
    }
    if has_cache {
        let backend = if has_db && p.chance(60) { "db".to_owned() } else { name_of(n - 1) };
        let ttl = if p.chance(30) { format!("ttl_ms = {}\n", p.range(10, 2000)) } else { String::new() };
        t += &format!(
            "[[cache]]\nname = \"cache\"\nzone = \"{}\"\ncapacity = {}\n{ttl}write_policy = \"{}\"\ncoalesce = {}\nbackend = {{ target = \"{backend}\", timeout_ms = {} }}\n\n",
            zone(p),
            p.range(1, 500),
            p.one(&["invalidate", "write-through"]),
            p.chance(50),
            p.range(20, 400)
        );
    }
    if has_queue {
        t += &format!(
            "[[queue]]\nname = \"q\"\nzone = \"{}\"\npartitions = {}\nvisibility_timeout_ms = {}\nmax_attempts = {}\nconsumer_groups = [\"s{}\"]\n\n",
            zone(p),
            p.range(1, 4),
            p.range(100, 1000),
            p.range(1, 5),
            n - 1
        );
    }
    let has_workflow = p.chance(30);
    if has_workflow {
        let design = p.one(&["sync", "orchestrated", "choreographed"]);
        let reply = if p.chance(50) { format!("reply_within_ms = {}\n", p.range(50, 2000)) } else { String::new() };
        // A sync front acts on it; the saga designs ignore it.
        let front = if p.chance(30) { "propagate_deadlines = true\n" } else { "" };
        t += &format!(
            "[[workflow]]\nname = \"wf\"\nzone = \"{}\"\ndesign = \"{design}\"\ncall_timeout_ms = {}\n{}{reply}{front}settle_s = {}\nqueue = {{ zone = \"{}\", partitions = {}, visibility_timeout_ms = {}, max_attempts = {}, session_timeout_ms = {} }}\n\n",
            zone(p),
            p.range(20, 500),
            retry(p),
            p.range(1, 20),
            zone(p),
            p.range(1, 8),
            p.range(100, 2000),
            p.range(1, 20),
            p.range(500, 5000)
        );
        for k in 0..p.range(1, 4) {
            let role = p.one(&["order", "inventory", "payment", "shipping", "other"]);
            let stock = if role == "inventory" {
                format!("stock_per_item = {}\nitems = {}\n", p.below(20), p.range(1, 200))
            } else {
                String::new()
            };
            let mut extra = String::new();
            if p.chance(20) {
                extra += &format!("queue_timeout_ms = {}\n", p.range(5, 300));
            }
            if p.chance(30) {
                extra += &format!("refuse_probability = 0.{}\n", p.range(1, 3));
            }
            if p.chance(20) {
                extra += &propagate(p);
            }
            t += &format!(
                "[[workflow.step]]\nname = \"st{k}\"\nrole = \"{role}\"\nzone = \"{}\"\nworkers = {}\nqueue_capacity = {}\nservice_time = {}\n{stock}{extra}\n",
                zone(p),
                p.range(1, 16),
                p.below(200),
                dist(p, 1, 20)
            );
        }
    }
    let mut targets = vec![name_of(0)];
    for (present, target) in [(has_db, "db"), (has_cache, "cache"), (has_queue, "q"), (has_workflow, "wf")] {
        if present {
            targets.push(target.to_owned());
        }
    }
    for w in 0..p.range(1, 2) {
        let target = targets[p.below(targets.len() as u32) as usize].clone();
        let load = if p.chance(70) {
            let phases = if p.chance(25) {
                format!(
                    "phases = [{{ start_s = {}, end_s = {}, multiplier = {} }}]\n",
                    p.below(duration),
                    duration,
                    p.one(&["0", "0.5", "3"])
                )
            } else {
                String::new()
            };
            let diurnal = if p.chance(15) {
                format!("diurnal = {{ period_s = {}, amplitude = 0.{} }}\n", p.range(2, 20), p.range(1, 9))
            } else {
                String::new()
            };
            format!(
                "arrival = {{ process = \"{}\", rate_per_s = {} }}\n{phases}{diurnal}",
                p.one(&["poisson", "constant"]),
                p.range(10, 1500)
            )
        } else {
            format!("users = {}\nthink_time = {}\n", p.range(1, 100), dist(p, 5, 100))
        };
        let timeout = p.range(50, 1000);
        let window = if p.chance(15) {
            format!("start_s = {}\nstop_s = {}\n", p.below(duration / 2 + 1), duration / 2 + 1 + p.below(duration / 2))
        } else {
            String::new()
        };
        let hedge = if !targets[0].is_empty() && target.starts_with('s') && p.chance(15) {
            format!("hedge_after_ms = {}\n", p.range(1, timeout))
        } else {
            String::new()
        };
        let keys = if target == "wf" {
            // The key is the saga id: a retry of a checkout carries the same one.
            "keys = { distribution = \"sequential\" }\n".to_owned()
        } else if p.chance(50) {
            format!("keys = {{ count = {}, distribution = \"zipf\", s = 1.1 }}\n", p.range(1, 500))
        } else {
            format!("keys = {{ count = {} }}\n", p.range(1, 500))
        };
        let mix = if p.chance(60) {
            format!(
                "mix = [{{ kind = \"read\", op = \"read\", weight = {} }}, {{ kind = \"write\", op = \"write\", weight = 1 }}]\n",
                p.range(1, 9)
            )
        } else {
            String::new()
        };
        t += &format!(
            "[[workload]]\nname = \"w{w}\"\nzone = \"{}\"\ntarget = \"{target}\"\n{load}{window}timeout_ms = {timeout}\n{}{hedge}{keys}{mix}\n",
            zone(p),
            retry(p)
        );
    }
    t
}

/// Deadline propagation, sometimes with room for the work.
fn propagate(p: &mut Pick) -> String {
    let margin = if p.chance(40) { format!("min_time_left_ms = {}\n", p.range(1, 50)) } else { String::new() };
    format!("propagate_deadlines = true\n{margin}")
}

fn quoted(v: &[String]) -> String {
    v.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ")
}

fn region_count(zones: &[String]) -> u32 {
    if zones.iter().any(|z| z.starts_with("r1")) { 2 } else { 1 }
}

fn strategy(p: &mut Pick) -> &'static str {
    p.one(&["round-robin", "random", "least-outstanding", "power-of-two"])
}

/// 30 architectures in CI; `FAULTLINE_ARCHITECTURES=N` searches deeper.
#[test]
fn every_generated_architecture_runs_reproducibly_and_its_report_adds_up() {
    let (mut ran, mut faulted) = (0, 0);
    each_generated("FAULTLINE_ARCHITECTURES", 30, |case, text, runner| {
        let sc = Scenario::parse(&Source { file: format!("generated-{case}.toml"), text: text.clone() })
            .unwrap_or_else(|e| panic!("generated architecture {case} does not validate: {e:?}\n{text}"));
        let faults = testing::fault_timeline(&sc, 0..5).new_tree(runner).unwrap().current();
        let with = testing::with_faults(&sc, &faults).unwrap();
        let seed = case;
        let a = testing::run(&with, None, seed).unwrap_or_else(|e| panic!("architecture {case}: {e}\n{text}"));
        let b = testing::run(&with, None, seed).unwrap().report;
        let ctx = format!("architecture {case}, faults {faults:?}\n{text}");
        assert_eq!((&a.report.trace_hash, a.report.events), (&b.trace_hash, b.events), "{ctx}");
        let spec = &with.variant(None).unwrap().spec;
        let mut groups: Vec<u64> = spec.queues.iter().map(|q| q.consumer_groups.len() as u64).collect();
        groups.resize(a.report.queues.len(), 1);
        crate::properties::check_accounts(&a.report, &groups, &ctx);
        strong_stores_stay_linearizable(spec, &a.report, &ctx);
        if let Some((how, d)) = crate::properties::driven_differently(&with, &with.variants[0].name, seed) {
            panic!("{how}: {d}\n{ctx}");
        }
        same_run_with_limits_raised(&with, &a.report, seed, &ctx);
        let variant = &with.variants[0].name;
        if let Some(d) = crate::properties::window_size_difference(&with, variant, seed) {
            panic!("{d}\n{ctx}");
        }
        let later = testing::fault_timeline(&sc, 1..2).new_tree(runner).unwrap().current();
        if let Some(changes) = crate::properties::changes_from_later(&sc, &faults, &with, seed, later) {
            for (_, d) in changes.differences_before(&with, variant, seed) {
                if let Some(d) = d {
                    panic!("{d}\n{ctx}");
                }
            }
        }
        ran += 1;
        faulted += usize::from(!faults.is_empty());
        true
    });
    assert!(faulted * 2 >= ran, "{ran} runs, {faulted} with faults");
}

/// Generated architectures, one after another, until `check` has checked `ci` of them (or the
/// number `var` names): it gets the case number (also the seed), the scenario text and the
/// runner (for fault timelines), and says whether the case was one it checks.
fn each_generated(var: &str, ci: usize, mut check: impl FnMut(u64, String, &mut TestRunner) -> bool) {
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let choices = proptest::collection::vec(any::<u32>(), 160);
    let want: usize = std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(ci);
    let (mut checked, mut case) = (0, 0);
    while checked < want {
        case += 1;
        let v = choices.new_tree(&mut runner).unwrap().current();
        checked += usize::from(check(case, architecture(&v), &mut runner));
    }
}

/// Generated architectures whose database acknowledges writes once a majority has them, its
/// history recorded: nothing acknowledged lost, and linearizable when it also reads from its
/// leader, under generated timelines of up to five faults. Cheaper per case
/// than the test above (one run each), so it searches more of them: 20 in CI,
/// `FAULTLINE_STRONG_STORES=N` for more.
#[test]
fn every_generated_strong_store_stays_linearizable_under_generated_faults() {
    let (mut checked, mut decided) = (0, 0);
    each_generated("FAULTLINE_STRONG_STORES", 20, |case, text, runner| {
        if !text.contains("consistency = \"strong\"") && !text.contains("replication = \"sync\"") {
            return false; // not a majority-acknowledging store
        }
        let text = text.replace("record_history = false", "record_history = true");
        let sc = Scenario::parse(&Source { file: format!("generated-{case}.toml"), text: text.clone() }).unwrap();
        let faults = testing::fault_timeline(&sc, 0..6).new_tree(runner).unwrap().current();
        let with = testing::with_faults(&sc, &faults).unwrap();
        let r = testing::run(&with, None, case).unwrap_or_else(|e| panic!("architecture {case}: {e}\n{text}")).report;
        let ctx = format!("architecture {case}, faults {faults:?}\n{text}");
        strong_stores_stay_linearizable(with.variant(None).unwrap().spec, &r, &ctx);
        checked += 1;
        decided += usize::from(r.databases[0].consistency.as_ref().is_some_and(|c| c.linearizable == Some(true)));
        true
    });
    // Undecided keys are allowed, but most histories must be decided for the test to mean much
    // (those read from the nearest replica are rightly not linearizable: a quarter at most).
    assert!(decided * 2 >= checked, "{decided} of {checked} histories linearizable");
}

/// Generated architectures with a saga workflow (orchestrated or choreographed), ten minutes to
/// settle, under generated timelines whose faults all heal by the end of sending: every saga
/// ends completed or compensated, with no anomaly — except that a choreography's event
/// dead-lettered after its delivery limit leaves its saga stuck (as in production until the
/// dead letters are replayed), which the checker must report, never an effect made twice.
/// 10 workflows in CI, `FAULTLINE_SAGAS=N` for more.
#[test]
fn every_generated_saga_settles_once_its_faults_heal() {
    let (mut checked, mut unsettled) = (0, 0);
    each_generated("FAULTLINE_SAGAS", 10, |case, text, runner| {
        let Some(design) =
            ["orchestrated", "choreographed"].into_iter().find(|d| text.contains(&format!("design = \"{d}\"")))
        else {
            return false;
        };
        let sc = Scenario::parse(&Source { file: format!("generated-{case}.toml"), text: text.clone() }).unwrap();
        let sc = testing::edit(&sc, |doc| {
            doc["workflow"].as_array_mut().unwrap()[0].as_table_mut().unwrap().insert("settle_s".into(), 600.into());
        })
        .unwrap();
        let duration_ns = sc.variant(None).unwrap().spec.duration;
        let duration_s = duration_ns as f64 / 1e9;
        let faults = testing::fault_timeline(&sc, 0..6).new_tree(runner).unwrap().current();
        let faults = testing::healed_by(&faults, duration_s);
        let with = testing::with_faults(&sc, &faults).unwrap();
        let r = testing::run(&with, None, case).unwrap_or_else(|e| panic!("architecture {case}: {e}\n{text}")).report;
        let w = &r.workflows[0];
        if w.sagas == 0 {
            return false; // nobody reached the workflow (e.g. every request failed before it)
        }
        // A run ends early once its workflow is idle; one that used all its settle time still had
        // sagas going (e.g. a one-partition topic delivering across regions, one message at a
        // time, drains a few a second): unfinished, not wrong, and reported as stuck.
        if r.sim_time_ns >= duration_ns + 600_000_000_000 {
            unsettled += 1;
            return false;
        }
        crate::properties::check_sagas_settled(&r, design, &format!("architecture {case}, faults {faults:?}\n{text}"));
        checked += 1;
        true
    });
    println!("{checked} workflows settled and checked, {unsettled} still going at the end of their settle time");
    assert!(unsettled <= checked, "{unsettled} workflows did not settle, {checked} did");
}

/// A database that acknowledges a write once a majority persisted it loses none: no applied
/// write is rolled back and, its history recorded, no acknowledged write is missing from the
/// final log, whatever the architecture and the faults. Reading from its leader too, it is
/// strong: the history must be linearizable (or undecided within the search budget).
fn strong_stores_stay_linearizable(spec: &faultline_models::WorldSpec, r: &faultline_models::RunReport, ctx: &str) {
    use faultline_models::calls::ReadFrom;
    use faultline_models::spec::ReplicationSpec;
    for (d, dr) in spec.databases.iter().zip(&r.databases) {
        if !matches!(d.replication, ReplicationSpec::Sync) {
            continue;
        }
        assert_eq!(dr.rolled_back, 0, "{}: applied writes rolled back\n{ctx}", dr.name);
        if let Some(c) = &dr.consistency {
            assert_eq!(c.lost_updates, 0, "{}: acknowledged writes lost\n{ctx}", dr.name);
            if d.read_from == ReadFrom::Leader {
                assert_ne!(c.linearizable, Some(false), "{}: {:?}\n{ctx}", dr.name, c.linearizability_violation);
            }
        }
    }
}

/// Every limit the run never reached, raised (`properties::slack_limits`): the same report.
fn same_run_with_limits_raised(sc: &Scenario, r: &faultline_models::RunReport, seed: u64, ctx: &str) {
    use crate::properties::{outcome_of, raising_changes, slack_limits};
    let expected = outcome_of(sc, &sc.variants[0].name, seed);
    if let Some(d) = raising_changes(sc, &expected, seed, &slack_limits(sc, r, seed)) {
        panic!("{d}\n{ctx}");
    }
}
