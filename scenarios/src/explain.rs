//! `faultline explain`: a scenario in words, for a newcomer — where things run, what the users
//! do, what each component does, what goes wrong and when, the variants and the expectations.
//! Everything comes from the compiled scenario, so the words are what will be simulated.

use std::fmt::Write;

use faultline_models::calls::{Jitter, RETRY_BUDGET_CAP, ReadFrom, RetryPolicy, Sharding};
use faultline_models::msg::Op;
use faultline_models::spec::{
    Arrival, CallSpec, Load, OutlierDetection, RateShape, ReplicationSpec, ServiceSpec, TargetRef, WorkloadSpec,
    WorldSpec,
};
use faultline_models::workflow::Design;
use faultline_sim::keys::KeyDist;
use faultline_sim::net::{FaultKind, Link, Scope};
use faultline_sim::{Dist, Nanos, Topology};

use crate::{Scenario, count};

fn ms(ns: f64) -> String {
    let ms = ns / 1e6;
    if ms >= 1000.0 && (ms / 1000.0).fract() == 0.0 {
        format!("{} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms").replace(".00 ms", " ms")
    }
}

fn secs(t: Nanos) -> String {
    let s = t as f64 / 1e9;
    if s.fract() == 0.0 { format!("{s:.0} s") } else { format!("{s:.1} s") }
}

/// A probability or share as a percentage, to three significant digits without trailing zeros:
/// "25%", "2.5%", "0.4%", "0.05%". Never "0%" for a chance that is not nil, nor "100%" for one
/// below certainty (0.4% loss is not no loss).
fn pct(p: f64) -> String {
    let x = p * 100.0;
    let trimmed = |d: usize| {
        let s = format!("{x:.d$}");
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s }
    };
    // Decimals for three significant digits (compared, not logged: the same on every platform).
    let (mut d, mut t) = (0, 100.0);
    while x > 0.0 && x < t && d < 15 {
        (d, t) = (d + 1, t / 10.0);
    }
    let mut s = trimmed(d);
    while d < 15 && ((x > 0.0 && s == "0") || (x < 100.0 && s == "100")) {
        d += 1;
        s = trimmed(d);
    }
    format!("{s}%")
}

/// A duration distribution in words.
pub fn dist(d: &Dist) -> String {
    match d {
        Dist::Constant { value } => format!("exactly {}", ms(*value)),
        Dist::Uniform { low, high } => format!("uniformly {}–{}", ms(*low), ms(*high)),
        Dist::Exponential { mean } => format!("{} on average (exponential)", ms(*mean)),
        Dist::Normal { mean, std_dev } => format!("{} ± {} (normal)", ms(*mean), ms(*std_dev)),
        Dist::LogNormal(d) => {
            let p50 = libm::exp(d.mu());
            let p99 = libm::exp(d.mu() + d.sigma() * faultline_sim::dist::Z99);
            format!("{} typically, {} at p99 (log-normal)", ms(p50), ms(p99))
        }
        Dist::Pareto { scale, shape } => format!("at least {}, heavy-tailed (Pareto, shape {shape})", ms(*scale)),
        Dist::Empirical { points } => {
            // p99.9 and the maximum too: a measured tail beyond p99 is often the point.
            let (p999, max) = (faultline_sim::dist::empirical(points, 0.999), points.last().map_or(0.0, |&(_, v)| v));
            format!(
                "{} median, {} at p99, {} at p99.9{} (measured)",
                ms(faultline_sim::dist::empirical(points, 0.5)),
                ms(faultline_sim::dist::empirical(points, 0.99)),
                ms(p999),
                if max > p999 { format!(", {} at most", ms(max)) } else { String::new() }
            )
        }
    }
}

fn target(spec: &WorldSpec, t: &TargetRef) -> String {
    match t {
        TargetRef::Balancer(b) => format!("load balancer `{}`", spec.balancers[*b].name),
        TargetRef::Service { index, strategy } => {
            format!("service `{}` directly ({} over its instances)", spec.services[*index].name, strategy.name())
        }
        TargetRef::Cache(c) => format!("cache `{}`", spec.caches[*c].name),
        TargetRef::Queue(q) => format!("queue `{}` (publishing)", spec.queues[*q].name),
        TargetRef::Database(d) => format!("database `{}`", spec.databases[*d].name),
        TargetRef::Workflow(w) => format!("workflow `{}`", spec.workflows[*w].name),
    }
}

/// The service a call to `t` reaches (through its balancer), whose request kinds it names.
fn service_of<'a>(spec: &'a WorldSpec, t: &TargetRef) -> Option<&'a ServiceSpec> {
    match t {
        TargetRef::Balancer(b) => spec.services.get(spec.balancers[*b].service),
        TargetRef::Service { index, .. } => spec.services.get(*index),
        _ => None,
    }
}

/// A service's local work: one distribution, or one per named request kind.
fn work(v: &ServiceSpec) -> String {
    if v.kinds.len() < 2 {
        return dist(&v.service_time[0]);
    }
    let each: Vec<String> =
        v.kinds.iter().zip(&v.service_time).map(|(k, d)| format!("{} for `{k}`", dist(d))).collect();
    each.join(", ")
}

/// A workload's request mix in words, after its keys ("" for a single kind of read).
fn mix(spec: &WorldSpec, w: &WorkloadSpec) -> String {
    if w.mix.len() < 2 {
        // A lone entry may be a write: say so, since nothing else would.
        let write = w.mix.first().is_some_and(|m| m.op == Op::Write);
        return if write { "; every request a write".to_owned() } else { String::new() };
    }
    let total: f64 = w.mix.iter().map(|m| m.weight).sum();
    let share = |weight: f64| pct(weight / total);
    let kinds = service_of(spec, &w.call.target).map_or(&[][..], |v| &v.kinds[..]);
    if kinds.len() < 2 {
        let writes: f64 = w.mix.iter().filter(|m| m.op == Op::Write).map(|m| m.weight).sum();
        return format!("; {} writes", share(writes));
    }
    let each: Vec<String> = w
        .mix
        .iter()
        .map(|m| {
            let op = if m.op == Op::Write { "writes" } else { "reads" };
            let name = kinds.get(usize::from(m.class)).map_or("?", String::as_str);
            format!("{} `{name}` ({op})", share(m.weight))
        })
        .collect();
    format!("; {}", each.join(", "))
}

/// A call in words; `sends_kind`: it names the request kind it sends (a workload with a mix
/// picks one per request instead).
fn call(spec: &WorldSpec, c: &CallSpec, sends_kind: bool) -> String {
    let callee = service_of(spec, &c.target).filter(|v| sends_kind && v.kinds.len() > 1);
    let kind = callee
        .and_then(|v| v.kinds.get(usize::from(c.class)))
        .map_or(String::new(), |k| format!(" with `{k}` requests"));
    let mut s = format!("{}{kind}, waiting at most {} per attempt", target(spec, &c.target), ms(c.timeout as f64));
    s.push_str(&attempts(&c.retry));
    if c.fanout > 1 {
        let _ = write!(s, "; {} copies in parallel, all needed", c.fanout);
    }
    if let Some(h) = c.hedge_after {
        // No attempt is still waiting by then: the hedge only acts before the timeout.
        let never = if h >= c.timeout { " never goes out (not before the timeout)" } else { "" };
        let _ = write!(s, "; a hedged copy after {}{never}", ms(h as f64));
    }
    if let Some(b) = c.breaker {
        let _ = write!(
            s,
            "; a circuit breaker opens after {} in a row for {}, failing calls at once, then lets one trial \
             call through (its success closes it, its failure opens it again)",
            count(b.failures, "failure"),
            ms(b.open_for as f64)
        );
    }
    if let (Some(o), Some(v)) = (&c.outliers, service_of(spec, &c.target)) {
        s.push_str(&outliers(o, v.nodes.len()));
    }
    // A hedge spends the budget as a retry does (models/src/calls.rs).
    s.push_str(&budget(&c.retry, c.hedge_after.is_some_and(|h| h < c.timeout)));
    if c.optional {
        s.push_str("; optional (the request succeeds without it)");
    }
    s
}

/// Outlier detection over `n` instances, after a balancer's or a call's other rules.
fn outliers(o: &OutlierDetection, n: usize) -> String {
    let cap = o.max_ejected(n).min(n);
    format!(
        "; ejects an instance that answers {} with anything but success (timeouts of its requests \
         included) for {}, each further ejection with no success in between lasting one more {} (at most \
         {}), at most {} of {} at once{} — this catches an instance that is up (health checks keep it) but \
         fails its work",
        if o.consecutive_errors == 1 {
            "a request".to_owned()
        } else {
            format!("{} requests in a row", o.consecutive_errors)
        },
        ms(o.base_ejection as f64),
        ms(o.base_ejection as f64),
        ms(o.max_ejection.max(o.base_ejection) as f64),
        cap,
        n,
        if cap == n { " (with every one out, they all take traffic again)" } else { "" }
    )
}

/// A retry policy's attempts and waits: ", up to 4 attempts (…)" or ", no retries".
fn attempts(r: &RetryPolicy) -> String {
    if r.max_attempts < 2 {
        return ", no retries".to_owned();
    }
    // RetryPolicy::backoff: the base doubled per failed attempt, at most the cap, then jittered.
    let first = r.backoff_base.min(r.backoff_max);
    let last = r.backoff_base.saturating_mul(1 << (r.max_attempts - 2).min(62)).min(r.backoff_max);
    if last == 0 {
        return format!(", up to {} attempts (each retry at once)", r.max_attempts);
    }
    let waits = if first == last {
        let each = if r.max_attempts == 2 { "the retry" } else { "each retry" };
        let capped = if r.backoff_base > r.backoff_max { " (its cap)" } else { "" };
        format!("a backoff of {}{capped} before {each}", ms(first as f64))
    } else if last == r.backoff_max {
        format!("backoff from {}, doubling up to its cap of {}", ms(first as f64), ms(last as f64))
    } else {
        format!(
            "backoff from {}, doubling to {} by the last retry, below its cap of {}",
            ms(first as f64),
            ms(last as f64),
            ms(r.backoff_max as f64)
        )
    };
    let jitter = match r.jitter {
        Jitter::None => "no jitter",
        Jitter::Full => "full jitter: each wait drawn uniformly from 0 to the backoff",
        Jitter::Equal => "equal jitter: each wait between half the backoff and all of it",
    };
    format!(", up to {} attempts ({waits}; {jitter})", r.max_attempts)
}

/// A retry budget in words ("" for none); `hedges`: the call hedges too, which spends it.
fn budget(r: &RetryPolicy, hedges: bool) -> String {
    let what = match (r.max_attempts > 1, hedges) {
        (true, true) => "retries and hedges",
        (false, true) => "hedges",
        (true, false) => "retries",
        (false, false) => return String::new(), // nothing spends it
    };
    r.budget_ratio.map_or(String::new(), |b| {
        format!(
            "; {what} within a retry budget of {} of calls plus a reserve of {RETRY_BUDGET_CAP} (per calling instance)",
            pct(b)
        )
    })
}

/// How many of a partition's messages its consumer holds at once, in words.
fn in_flight(n: u32, what: &str) -> String {
    if n == 1 {
        format!("one {what} of a partition at a time, in order")
    } else {
        format!("up to {n} {what}s of a partition at a time")
    }
}

/// A broker's redelivery rules in words (models/src/broker.rs): any answer but OK fails a
/// delivery at once and the partition's owner gets the message again straight away; only a
/// delivery left unanswered waits for the visibility timeout.
fn redelivery(visibility: Nanos, max_attempts: u32, what: &str) -> String {
    format!(
        "{} {what} comes back at once when a delivery of it is answered with anything but OK (an error, a \
         full queue), and after {} (the visibility timeout) when one goes unanswered; after {} failed \
         deliver{} it goes to the dead-letter queue",
        if what.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" },
        ms(visibility as f64),
        max_attempts,
        if max_attempts == 1 { "y" } else { "ies" }
    )
}

/// Consecutive probes in words: "a probe", "3 probes in a row".
fn in_a_row(n: u32) -> String {
    if n == 1 { "a probe".to_owned() } else { format!("{n} probes in a row") }
}

/// `min_time_left_ms` in words, after "drops what its callers gave up on".
fn time_left(min_time_left: Nanos) -> String {
    if min_time_left == 0 { String::new() } else { format!(" or that has under {} left", ms(min_time_left as f64)) }
}

/// How long a shard of `replicas` goes without a leader after losing it, in words.
fn failover(replicas: usize, election_timeout: Nanos, heartbeat: Nanos) -> String {
    match replicas {
        0 | 1 => "a lost leader is not replaced (no other replica to elect) until it comes back".to_owned(),
        // A majority of two is both: the survivor cannot win a vote alone.
        2 => "a lost leader is not replaced (the other replica alone is no majority) until it comes back".to_owned(),
        // docs/scenario-format.md, "Failover time": the first of the n − 1 followers' waits,
        // each election_timeout × (1 + U[0, 1)) from the last heartbeat (models/src/db.rs), ends
        // on average election_timeout × (1 + 1/n) after it, and the failure falls on average
        // half a heartbeat after it (4/3 × election_timeout − heartbeat / 2 with three).
        n => {
            let mean = election_timeout as f64 * (1.0 + 1.0 / n as f64) - heartbeat as f64 / 2.0;
            format!("a new leader is elected on average about {} after the old one is lost", ms(mean))
        }
    }
}

/// Pre-vote and check-quorum in words (models/src/db.rs, "Pre-vote and check-quorum").
fn election_guards(pre_vote: bool, check_quorum: bool, election_timeout: Nanos) -> String {
    let pre_vote = if pre_vote {
        "with pre-vote, a replica cut off from the majority keeps its term and rejoins without deposing the leader"
    } else {
        "without pre-vote, a replica cut off from the majority raises its term in vain and deposes the leader when \
         it rejoins"
    };
    let check_quorum = if check_quorum {
        format!(
            "with check-quorum, a leader cut off from the majority steps down within about {}",
            ms(election_timeout as f64)
        )
    } else {
        "without check-quorum, a leader cut off from the majority stays leader until it hears of a newer term"
            .to_owned()
    };
    format!("{pre_vote}; {check_quorum}")
}

/// An open workload's phases and diurnal wave in words, after its base rate ("" for none).
fn rate_shape(shape: &RateShape) -> String {
    let mut parts: Vec<String> =
        shape.phases.iter().map(|p| format!("×{} from {} to {}", p.multiplier, secs(p.start), secs(p.end))).collect();
    if let Some(d) = &shape.diurnal {
        parts.push(format!("a wave of ±{} every {}", pct(d.amplitude), secs(d.period)));
    }
    if parts.is_empty() { String::new() } else { format!(", with the rate changing over time ({})", parts.join("; ")) }
}

/// A worker pool and its queue in words.
fn workers(workers: u32, queue_capacity: u32, queue_timeout: Option<Nanos>) -> String {
    format!(
        "{} and room for {}{}",
        count(workers, "worker"),
        count(queue_capacity, "waiting request"),
        queue_timeout.map_or(String::new(), |t| format!(" (dropped unserved after waiting {})", ms(t as f64)))
    )
}

fn scope(topo: &Topology, s: &Scope) -> String {
    match s {
        Scope::All => "everything".to_owned(),
        Scope::Region(r) => format!("region {}", topo.regions[r.0 as usize].name),
        Scope::Zone(z) => format!("zone {}", topo.zones[z.0 as usize].name),
        Scope::Node(n) => format!("node {}", topo.nodes[n.0 as usize].name),
        Scope::Nodes(ns) if ns.len() <= 4 => {
            ns.iter().map(|n| topo.nodes[n.0 as usize].name.clone()).collect::<Vec<_>>().join(", ")
        }
        Scope::Nodes(ns) => format!("{} nodes ({}, …)", ns.len(), topo.nodes[ns[0].0 as usize].name),
    }
}

fn scopes(topo: &Topology, v: &[Scope]) -> String {
    v.iter().map(|s| scope(topo, s)).collect::<Vec<_>>().join(" + ")
}

fn link(topo: &Topology, l: &Link) -> String {
    let arrow = if l.one_way { "→" } else { "↔" };
    format!("{} {arrow} {}", scopes(topo, &l.a), scopes(topo, &l.b))
}

fn fault(topo: &Topology, k: &FaultKind) -> String {
    match k {
        FaultKind::Outage { scope: s } => {
            format!("{} goes down (its components lose what they held in memory)", scope(topo, s))
        }
        FaultKind::Partition { link: l } => format!("the network is cut between {}", link(topo, l)),
        FaultKind::Loss { link: l, probability } => {
            format!("{} of messages between {} are lost", pct(*probability), link(topo, l))
        }
        FaultKind::Latency { link: l, added } => {
            format!("messages between {} take {} longer", link(topo, l), dist(added))
        }
        FaultKind::Slow { scope: s, factor } => format!("work on {} takes {factor}× as long", scope(topo, s)),
        FaultKind::Errors { scope: s, probability } => {
            let plural = matches!(s, Scope::Nodes(ns) if ns.len() > 1);
            let (fails, gets) = if plural { ("fail", "they get") } else { ("fails", "it gets") };
            format!("{} {fails} {} of the requests {gets}", scope(topo, s), pct(*probability))
        }
        FaultKind::Flush { scope: s } => format!("caches on {} are emptied", scope(topo, s)),
    }
}

/// The scenario (variant `variant`, the first when `None`) in words.
pub fn explain(sc: &Scenario, variant: Option<&str>) -> Result<String, String> {
    let c = sc.variant(variant)?;
    let spec = c.spec;
    let topo = &spec.topology;
    let mut s = String::new();
    let _ = if sc.description.is_empty() {
        writeln!(s, "{}", sc.name)
    } else {
        writeln!(s, "{} — {}", sc.name, sc.description)
    };
    let v = sc.variants.iter().find(|v| v.name == c.variant).expect("the variant exists");
    let _ = writeln!(
        s,
        "Variant `{}`{}. It simulates {} of traffic, then lets the last requests finish; figures come per {} window.",
        v.name,
        if v.description.is_empty() { String::new() } else { format!(" ({})", v.description) },
        secs(spec.duration),
        secs(spec.window)
    );

    let _ = writeln!(s, "\nWhere things run");
    for (r, region) in topo.regions.iter().enumerate() {
        let zones: Vec<(usize, &str)> = topo
            .zones
            .iter()
            .enumerate()
            .filter(|(_, z)| z.region.0 as usize == r)
            .map(|(i, z)| (i, z.name.as_str()))
            .collect();
        let _ =
            writeln!(s, "  region {} ({} zone{})", region.name, zones.len(), if zones.len() == 1 { "" } else { "s" });
        for (z, name) in zones {
            let nodes: Vec<&str> =
                topo.nodes.iter().filter(|n| n.zone.0 as usize == z).map(|n| n.name.as_str()).collect();
            let list = if nodes.len() > 8 {
                format!("{}, … ({} nodes)", nodes[..8].join(", "), nodes.len())
            } else {
                nodes.join(", ")
            };
            let _ = writeln!(s, "    zone {name}: {}", if list.is_empty() { "nothing".to_owned() } else { list });
        }
    }
    let l = &topo.latency;
    let _ = writeln!(
        s,
        "  Network: within a zone {}; across zones {}; across regions {}.",
        dist(&l.same_zone),
        dist(&l.cross_zone),
        dist(&l.cross_region)
    );
    for (a, b, d) in topo.region_pair_latencies() {
        let name = |r: faultline_sim::RegionId| topo.regions[r.0 as usize].name.as_str();
        let _ = writeln!(s, "  Between {} and {}: {}.", name(a), name(b), dist(d));
    }

    let _ = writeln!(s, "\nWhat the users do");
    for w in &spec.workloads {
        let load = match &w.load {
            Load::Open { arrival: Arrival::Poisson { rate_per_s }, shape } => {
                format!("{rate_per_s} requests/s arriving at random (Poisson){}", rate_shape(shape))
            }
            // Evenly spaced arrivals follow the phases and the wave too (models/src/client.rs).
            Load::Open { arrival: Arrival::Constant { rate_per_s }, shape } => {
                format!("{rate_per_s} requests/s, evenly spaced{}", rate_shape(shape))
            }
            Load::Closed { users, think } => {
                format!("{users} users, each sending a request, waiting for the answer, then pausing {}", dist(think))
            }
        };
        let keys = match &w.keys {
            KeyDist::Sequential { .. } => "a new key per request (a saga id)".to_owned(),
            KeyDist::Uniform { n: 1 } => "a single key".to_owned(),
            KeyDist::Uniform { n } => format!("{n} keys, all equally popular"),
            KeyDist::Zipf(z) => format!("{} keys with skewed popularity (Zipf, s = {})", z.n(), z.s()),
        };
        let mix = mix(spec, w);
        let _ = writeln!(
            s,
            "  {} (in zone {}): {load}, from {} to {}; {keys}{mix}. Calls {}.",
            w.name,
            topo.zones[topo.nodes[w.node.0 as usize].zone.0 as usize].name,
            secs(w.start),
            secs(w.stop.min(spec.duration)),
            call(spec, &w.call, w.mix.len() < 2)
        );
    }

    let _ = writeln!(s, "\nWhat each component does");
    for b in &spec.balancers {
        // Probes are answered on arrival, before the rate limit, the queue, the work and any
        // errors fault (models/src/service.rs): only an instance they cannot reach in time fails.
        let health = b.health.map_or(String::new(), |h| {
            format!(
                "; probes every instance each {}, takes one out after {} unanswered within {} and puts it back \
                 after {} answered — a live instance answers a probe at once, ahead of its queue and \
                 whatever slow or error faults do to its work, so only a down or unreachable instance is taken \
                 out, never a slow or failing one",
                ms(h.interval as f64),
                in_a_row(h.unhealthy),
                ms(h.timeout as f64),
                in_a_row(h.healthy)
            )
        });
        let outliers = b.outliers.map_or(String::new(), |o| outliers(&o, spec.services[b.service].nodes.len()));
        let failover = if b.failover.is_empty() {
            String::new()
        } else {
            let count = |t: usize| b.tiers.iter().filter(|&&x| usize::from(x) == t).count();
            let mut tiers: Vec<String> =
                b.failover.iter().enumerate().map(|(i, n)| format!("{n} ({})", count(i))).collect();
            if count(b.failover.len()) > 0 {
                tiers.push(format!("the rest ({})", count(b.failover.len())));
            }
            format!(
                "; active-passive, in order of preference: {} — only the healthy instances of the first \
                 that has any take traffic; it fails over when health checks have taken out a whole tier \
                 and fails back when one of a preferred tier's instances is healthy again",
                tiers.join(", then ")
            )
        };
        let _ = writeln!(
            s,
            "  load balancer {}: spreads requests over the {} of {} ({}), waiting at most {} for an answer{health}{outliers}{failover}.",
            b.name,
            count(spec.services[b.service].nodes.len(), "instance"),
            spec.services[b.service].name,
            b.strategy.name(),
            ms(b.timeout as f64)
        );
    }
    for v in &spec.services {
        let _ = writeln!(
            s,
            "  service {}: {}{}{}{}; local work takes {}{}.",
            v.name,
            count(v.nodes.len(), "instance"),
            if v.nodes.len() == 1 { " with " } else { ", each with " },
            workers(v.workers, v.queue_capacity, v.queue_timeout),
            v.rate_limit
                .map_or(String::new(), |(rate, burst)| format!(", admitting {rate} requests/s (bursts of {burst})")),
            work(v),
            if v.propagate_deadlines {
                format!(
                    "; it honours its callers' deadlines (drops what they gave up on{}, passes them on to its calls)",
                    time_left(v.min_time_left)
                )
            } else {
                String::new()
            }
        );
        for c in &v.calls {
            let _ = writeln!(s, "    then calls {}.", call(spec, c, true));
        }
    }
    for k in &spec.caches {
        let _ = writeln!(
            s,
            "  cache {}: holds {} entries (least recently used go first){}; writes {}; {}; misses and writes call {} (a failed backend call is answered with an error){}.",
            k.name,
            k.capacity,
            k.ttl.map_or(String::new(), |t| format!(", each for {}", ms(t as f64))),
            if k.write_through { "update it after the backend" } else { "invalidate the key" },
            if k.coalesce {
                "concurrent misses on a key share one backend read"
            } else {
                "every miss reads the backend (a stampede after a flush)"
            },
            call(spec, &k.backend, true),
            if k.propagate_deadlines {
                format!(
                    "; it honours its callers' deadlines (drops what they gave up on{}, passes them on to its backend calls{})",
                    if k.min_time_left == 0 {
                        String::new()
                    } else {
                        format!(", and misses and writes that have under {} left", ms(k.min_time_left as f64))
                    },
                    if k.coalesce {
                        "; a shared read waits until the deadline of the miss that started it"
                    } else {
                        ""
                    }
                )
            } else {
                String::new()
            }
        );
    }
    for q in &spec.queues {
        let groups: Vec<&str> = q.consumer_groups.iter().map(|&g| spec.services[g].name.as_str()).collect();
        let whose = if groups.len() > 1 { "each group gets every message, its" } else { "its" };
        let _ = writeln!(
            s,
            "  queue {}: {}, consumed by {} ({whose} instances sharing the partitions, each getting {}); {}. \
             An instance silent for {} with deliveries outstanding loses its partitions to the \
             others until it answers again.",
            q.name,
            count(q.partitions, "partition"),
            groups.join(", "),
            in_flight(q.max_in_flight_per_partition, "message"),
            redelivery(q.visibility_timeout, q.max_attempts, "message"),
            ms(q.session_timeout as f64)
        );
    }
    for d in &spec.databases {
        let mode = match (&d.replication, d.read_from) {
            // The leader serves reads only under its lease (models/src/db.rs: `can_serve_reads`).
            (ReplicationSpec::Sync, ReadFrom::Leader) => format!(
                "strong: writes wait for a majority, reads go to the leader, which serves them only under its \
                 lease (a majority acknowledged its heartbeats within the last {}; otherwise `Unavailable`)",
                ms(d.election_timeout as f64)
            ),
            (ReplicationSpec::Async { lag }, ReadFrom::Nearest) => {
                format!(
                    "eventual: the leader acknowledges writes at once and ships them after {}; reads come from the nearest replica",
                    dist(lag)
                )
            }
            (ReplicationSpec::Sync, ReadFrom::Nearest) => {
                "writes wait for a majority; reads come from the nearest replica (may be stale)".to_owned()
            }
            (ReplicationSpec::Async { lag }, ReadFrom::Leader) => {
                format!("writes acknowledged at once and shipped after {}; reads from the leader", dist(lag))
            }
        };
        // The planted bug (models/src/db.rs) breaks the sync promise the mode states.
        let mode = if d.bug_ack_before_commit && matches!(d.replication, ReplicationSpec::Sync) {
            format!(
                "{mode} — except that a planted bug (`bug_ack_before_commit`) makes the leader acknowledge a \
                 write as soon as it has appended it, before a majority has it"
            )
        } else {
            mode
        };
        let replicas = d.nodes.first().map_or(0, Vec::len);
        let sharding = match d.sharding {
            Sharding::Hash => "by hash of the key".to_owned(),
            Sharding::Range { key_space } => format!("by key range over {key_space} keys"),
        };
        let _ = writeln!(
            s,
            "  database {}: {} {sharding}, {} each; {mode}; {}.{}",
            d.name,
            count(d.nodes.len(), "shard"),
            count(replicas, "replica"),
            failover(replicas, d.election_timeout, d.heartbeat_interval),
            if d.record_history { " Clients' operations are recorded and checked." } else { "" }
        );
        let _ = writeln!(
            s,
            "    each replica: {}; a request takes {}{}.",
            workers(d.workers, d.queue_capacity, d.queue_timeout),
            dist(&d.service_time),
            if d.propagate_deadlines {
                format!("; it drops what its callers gave up on{}", time_left(d.min_time_left))
            } else {
                String::new()
            }
        );
        if replicas > 1 {
            let guards = election_guards(d.pre_vote, d.check_quorum, d.election_timeout);
            let _ = writeln!(s, "    elections: {guards}.");
            // How callers route (models/src/calls.rs: `DbRouter`, `Calls::on_response`).
            let reads = match d.read_from {
                ReadFrom::Leader => "send writes and reads",
                ReadFrom::Nearest => "send reads to the nearest replica (the next ones on retries) and writes",
            };
            let _ = writeln!(
                s,
                "    callers: {reads} to the replica they believe leads, follow a redirect that names the leader \
                 (up to 3 within one attempt), and after a timeout, `Unavailable` or a redirect that names none \
                 turn to the next replica (for a retry and the calls after it)."
            );
        }
    }
    for w in &spec.workflows {
        let how = match w.design {
            Design::Sync => {
                let mut how = "a front calls each step in turn and cleans up best effort on failure (no saga log, no \
                               idempotency keys)"
                    .to_owned();
                if w.propagate_deadlines {
                    how.push_str(
                        "; it stops a checkout when its user gives up (the steps' calls inherit the user's \
                         deadline) and cleans up, though the step it was calling is left as it is",
                    );
                }
                how
            }
            Design::Orchestrated => format!(
                "a durable orchestrator logs each decision before acting on it, a record taking {}; it calls the \
                 steps with the saga id as idempotency key, compensates in reverse order on failure and resumes \
                 its log after a restart",
                dist(&w.log_write)
            ),
            Design::Choreographed => match &w.queue {
                Some(q) => format!(
                    "the steps pass the saga along through topics on {} ({}, a step getting {}; {}); compensations travel back up the chain",
                    topo.nodes[q.node.0 as usize].name,
                    count(q.partitions, "partition"),
                    in_flight(q.max_in_flight_per_partition, "event"),
                    redelivery(q.visibility_timeout, q.max_attempts, "event")
                ),
                None => "the steps pass the saga along through topics".to_owned(),
            },
        };
        let per = if w.design == Design::Choreographed { "publish" } else { "call" };
        let retry = format!(
            "waiting at most {} per {per}{}{}",
            ms(w.call_timeout as f64),
            attempts(&w.retry),
            budget(&w.retry, false)
        );
        let reply = w.reply_within.filter(|_| w.design != Design::Sync).map_or(String::new(), |t| {
            format!("; users hear \"still processing\" after {} if the outcome is not known", ms(t as f64))
        });
        let _ = writeln!(s, "  workflow {} ({}): {how}; {retry}{reply}.", w.name, w.design.name());
        for (i, st) in w.steps.iter().enumerate() {
            let mut rules = String::new();
            if st.refuse_probability > 0.0 {
                let _ = write!(rules, "; refuses {} of sagas", pct(st.refuse_probability));
            }
            if let Some(k) = &st.stock {
                let _ = write!(rules, "; {} with {} in stock each", count(k.items, "item"), k.per_item);
            }
            if st.propagate_deadlines {
                let _ = write!(rules, "; it drops what its callers gave up on{}", time_left(st.min_time_left));
            }
            let _ = writeln!(
                s,
                "    step {} {} ({}): {}; a call takes {}{rules}.",
                i + 1,
                st.name,
                st.role.name(),
                workers(st.workers, st.queue_capacity, st.queue_timeout),
                dist(&st.service_time)
            );
        }
    }

    let _ = writeln!(s, "\nWhat goes wrong, and when");
    if spec.faults.is_empty() {
        let _ = writeln!(s, "  Nothing: no faults are scheduled.");
    }
    // By start time, as they happen (the file may list them in any order); ties as written.
    let mut faults: Vec<_> = spec.faults.iter().collect();
    faults.sort_by_key(|f| f.start);
    for f in faults {
        // A flush acts once, at its start: it has nothing to last or heal.
        let until = match f.end {
            _ if matches!(f.kind, FaultKind::Flush { .. }) => String::new(),
            Some(e) => format!(" until {} ({})", secs(e), secs(e - f.start)),
            None => " and never heals".to_owned(),
        };
        let _ = writeln!(s, "  at {}: {} — {}{until}.", secs(f.start), f.name, fault(topo, &f.kind));
    }

    if sc.variants.len() > 1 {
        let _ = writeln!(s, "\nDesigns compared (same seeds, same faults)");
        for v in &sc.variants {
            let _ = writeln!(
                s,
                "  {}{}",
                v.name,
                if v.description.is_empty() { String::new() } else { format!(": {}", v.description) }
            );
        }
    }
    if !sc.expectations.is_empty() {
        let _ = writeln!(s, "\nWhat must hold (faultline run exits 1 otherwise)");
        for e in &sc.expectations {
            let during = e.during.as_ref().map(|d| format!(" during `{d}`")).unwrap_or_default();
            let only = e.variants.as_ref().map(|v| format!(" [{}]", v.join(", "))).unwrap_or_default();
            let _ = writeln!(s, "  {}{during}{only}", e.check);
        }
    }
    let _ = writeln!(
        s,
        "\nTry: faultline run {0} · faultline sweep {0} --seeds 1..101 · faultline tui {0}",
        format!(
            "{}{}",
            crate::shell_word(
                sc.source
                    .file
                    .strip_prefix("catalog/")
                    .and_then(|f| f.strip_suffix(".toml"))
                    .unwrap_or(&sc.source.file)
            ),
            sc.changes.command_words()
        )
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_time_follows_the_election_waits_and_needs_another_replica() {
        // database-failover: 500 ms election timeout, 50 ms heartbeats, three replicas.
        assert_eq!(
            failover(3, 500_000_000, 50_000_000),
            "a new leader is elected on average about 642 ms after the old one is lost"
        );
        assert!(failover(1, 500_000_000, 50_000_000).starts_with("a lost leader is not replaced (no other replica"));
        assert!(failover(2, 500_000_000, 50_000_000).starts_with("a lost leader is not replaced (the other replica"));
    }

    #[test]
    fn elections_say_whether_pre_vote_and_check_quorum_are_on() {
        let on = election_guards(true, true, 500_000_000);
        assert!(on.contains("with pre-vote") && on.contains("steps down within about 500 ms"), "{on}");
        let off = election_guards(false, false, 500_000_000);
        assert!(off.contains("without pre-vote") && off.contains("deposes the leader"), "{off}");
        assert!(off.contains("without check-quorum"), "{off}");
    }

    #[test]
    fn explain_database_failover_description_names_the_leaders_its_outage_takes_out() {
        let e = crate::catalog::get("database-failover").unwrap();
        let sc = Scenario::parse(&crate::Source { file: e.name.into(), text: e.text.into() }).unwrap();
        let spec = sc.variant(None).unwrap().spec.clone();
        let [f] = &spec.faults[..] else { panic!("one fault") };
        let FaultKind::Outage { scope: Scope::Zone(z) } = f.kind else { panic!("a zone outage") };
        // Replica 0 of each shard starts as its leader.
        let d = &spec.databases[0];
        let hit: Vec<usize> =
            (0..d.nodes.len()).filter(|&i| spec.topology.nodes[d.nodes[i][0].0 as usize].zone == z).collect();
        assert_eq!(hit, [0, 3]);
        assert!(sc.description.contains("the leaders of shards 0 and 3 (2 of 4)"), "{}", sc.description);
    }

    /// `faultline explain` of a scenario file's text (its first variant).
    fn explained(text: &str) -> String {
        let sc = Scenario::parse(&crate::Source { file: "t.toml".into(), text: text.into() }).unwrap();
        explain(&sc, None).unwrap()
    }

    /// Users calling a service `api` that calls a database `db`: `workload` adds lines to the
    /// workload, `call` fields to `api`'s call, `database` lines to the database.
    fn world(workload: &str, call: &str, database: &str) -> String {
        format!(
            "[scenario]\nname = \"t\"\nduration_s = 30\n[[region]]\nname = \"r\"\nzones = [\"r-a\"]\n\
             [[service]]\nname = \"api\"\nregion = \"r\"\nservice_time = {{ dist = \"constant\", value_ms = 1 }}\n\
             calls = [{{ target = \"db\", timeout_ms = 100{call} }}]\n\
             [[database]]\nname = \"db\"\nzones = [\"r-a\"]\nservice_time = {{ dist = \"constant\", value_ms = 1 }}\n{database}\n\
             [[workload]]\nname = \"users\"\nzone = \"r-a\"\ntarget = \"api\"\ntimeout_ms = 500\n{workload}\n"
        )
    }

    #[test]
    fn strong_reads_are_said_to_need_the_leaders_lease() {
        let arrivals = "arrival = { process = \"poisson\", rate_per_s = 10 }";
        let out = explained(&world(arrivals, "", "consistency = \"strong\"\nelection_timeout_ms = 300"));
        let said = "reads go to the leader, which serves them only under its lease (a majority acknowledged its \
                    heartbeats within the last 300 ms; otherwise `Unavailable`)";
        assert!(out.contains(said), "{out}");
        // Eventual reads come from any replica: no lease.
        let out = explained(&world(arrivals, "", "consistency = \"eventual\""));
        assert!(!out.contains("lease"), "{out}");
    }

    #[test]
    fn database_callers_are_said_how_they_find_the_leader() {
        let out = catalog("partition-consistency", "strong");
        let said = "callers: send writes and reads to the replica they believe leads, follow a redirect that names \
                    the leader (up to 3 within one attempt), and after a timeout, `Unavailable` or a redirect that \
                    names none turn to the next replica (for a retry and the calls after it).";
        assert!(out.contains(said), "{out}");
        let out = catalog("partition-consistency", "eventual");
        assert!(
            out.contains("callers: send reads to the nearest replica (the next ones on retries) and writes to"),
            "{out}"
        );
    }

    #[test]
    fn explain_constant_arrivals_follow_their_phases() {
        let out = explained(&world(
            "arrival = { process = \"constant\", rate_per_s = 100 }\nphases = [{ start_s = 0, end_s = 20, multiplier = 0 }]",
            "",
            "",
        ));
        let said =
            "100 requests/s, evenly spaced, with the rate changing over time (×0 from 0 s to 20 s), from 0 s to 30 s";
        assert!(out.contains(said), "{out}");
    }

    #[test]
    fn explain_says_a_single_write_mix_writes() {
        let arrival = "arrival = { process = \"constant\", rate_per_s = 100 }";
        let w =
            explained(&world(&format!("{arrival}\nmix = [{{ kind = \"w\", weight = 1, op = \"write\" }}]"), "", ""));
        assert!(w.contains("a single key; every request a write."), "{w}");
        // A single read stays unsaid.
        let r = explained(&world(&format!("{arrival}\nmix = [{{ kind = \"r\", weight = 1 }}]"), "", ""));
        assert!(r.contains("a single key. Calls"), "{r}");
    }

    #[test]
    fn explain_says_a_hedge_at_or_after_the_timeout_never_fires() {
        let arrival = "arrival = { process = \"constant\", rate_per_s = 100 }";
        let late = explained(&world(arrival, ", hedge_after_ms = 200", ""));
        assert!(late.contains("; a hedged copy after 200 ms never goes out (not before the timeout)"), "{late}");
        let early = explained(&world(arrival, ", hedge_after_ms = 20", ""));
        assert!(early.contains("; a hedged copy after 20 ms."), "{early}");
    }

    #[test]
    fn explain_tells_the_planted_bug() {
        let arrival = "arrival = { process = \"constant\", rate_per_s = 100 }";
        let out = explained(&world(arrival, "", "bug_ack_before_commit = true"));
        assert!(out.contains("a planted bug (`bug_ack_before_commit`) makes the leader acknowledge"), "{out}");
        assert!(!explained(&world(arrival, "", "")).contains("planted bug"));
    }

    #[test]
    fn empirical_quantiles_are_interpolated_and_show_the_tail() {
        // tail-at-scale's leaf: 1–3 ms for 99% of the work, 80 ms for the slowest 1%.
        let d = Dist::Empirical { points: vec![(0.0, 1e6), (0.99, 3e6), (0.990_001, 80e6), (1.0, 80e6)] };
        assert_eq!(dist(&d), "2.01 ms median, 3 ms at p99, 80 ms at p99.9 (measured)");
        // A maximum beyond p99.9 is given too.
        let d = Dist::Empirical { points: vec![(0.0, 0.0), (0.5, 1e6), (1.0, 1e9)] };
        assert_eq!(dist(&d), "1 ms median, 980 ms at p99, 998 ms at p99.9, 1 s at most (measured)");
    }

    /// `faultline explain` of a catalog scenario's variant.
    fn catalog(name: &str, variant: &str) -> String {
        let e = crate::catalog::get(name).unwrap();
        let sc = Scenario::parse(&crate::Source { file: e.name.into(), text: e.text.into() }).unwrap();
        explain(&sc, Some(variant)).unwrap()
    }

    #[test]
    fn percentages_keep_small_chances_and_drop_spurious_digits() {
        for (p, said) in [
            (0.004, "0.4%"),
            (0.0005, "0.05%"),
            (0.25, "25%"),
            (0.1, "10%"),
            (0.02, "2%"),
            (0.025, "2.5%"),
            (1.0 / 3.0, "33.3%"),
            (0.0, "0%"),
            (1.0, "100%"),
            (2.0, "200%"),
            // Nor "100%" for what is not certain.
            (0.9999, "99.99%"),
            (1e-7, "0.00001%"),
        ] {
            assert_eq!(pct(p), said, "{p}");
        }
    }

    #[test]
    fn explain_gives_small_loss_and_error_chances_without_rounding_them_to_nothing() {
        let arrival = "arrival = { process = \"constant\", rate_per_s = 100 }";
        let faults = "[[fault]]\nkind = \"loss\"\nfrom = [\"r-a\"]\nto = [\"r-a\"]\nprobability = 0.004\nstart_s = 1\nend_s = 2\n\
                      [[fault]]\nkind = \"errors\"\ntargets = [\"api\"]\nprobability = 0.0005\nstart_s = 1\nend_s = 2\n";
        let out = explained(&format!("{}{faults}", world(arrival, "", "")));
        assert!(out.contains("— 0.4% of messages between zone r-a ↔ zone r-a are lost"), "{out}");
        assert!(out.contains("fails 0.05% of the requests it gets"), "{out}");
        assert!(!out.contains(" 0% "), "{out}");
    }

    #[test]
    fn explain_queue_dead_letters_says_a_nacked_message_comes_back_at_once() {
        // models/src/broker.rs: any answer but OK fails the delivery and the partition is
        // dispatched again at once; only an unanswered one waits for the visibility timeout.
        let out = catalog("queue-dead-letters", "three-attempts");
        for said in [
            "queue order-events: 8 partitions, consumed by fulfilment (its instances sharing the partitions, each \
             getting one message of a partition at a time, in order)",
            "a message comes back at once when a delivery of it is answered with anything but OK (an error, a full \
             queue), and after 2 s (the visibility timeout) when one goes unanswered; after 3 failed deliveries it \
             goes to the dead-letter queue.",
            "An instance silent for 10 s with deliveries outstanding loses its partitions to the others",
            // A list of nodes is plural.
            "warehouse/0, warehouse/1 fail 100% of the requests they get",
        ] {
            assert!(out.contains(said), "no `{said}`:\n{out}");
        }
        assert!(!out.contains("an unacknowledged message comes back after 2 s"), "{out}");
        // A choreography's topics follow the same rules.
        let out = catalog("checkout-outage", "choreographed");
        let said = "32 partitions, a step getting up to 8 events of a partition at a time; an event comes back at \
                    once when a delivery of it is answered with anything but OK";
        assert!(out.contains(said), "{out}");
        assert!(!out.contains("an unacknowledged event comes back after"), "{out}");
    }

    #[test]
    fn explain_says_what_health_checks_probe_and_why_a_slow_instance_stays_in() {
        // tests/it/lessons.rs (a_slow_instance_fails…) checks the model: never marked down.
        let out = catalog("slow-instance", "round-robin");
        let said = "load balancer lb: spreads requests over the 4 instances of api (round-robin), waiting at most \
                    30 s for an answer; probes every instance each 1 s, takes one out after 2 probes in a row \
                    unanswered within 500 ms and puts it back after 2 probes in a row answered — a live instance \
                    answers a probe at once, ahead of its queue and whatever slow or error faults do to its work, so \
                    only a down or unreachable instance is taken out, never a slow or failing one.";
        assert!(out.contains(said), "{out}");
        // The balancer's own timeout, from the compiled spec: 1 s where the file sets it.
        let out = catalog("region-failover", "active-passive");
        assert!(out.contains("(round-robin), waiting at most 1 s for an answer; probes every instance"), "{out}");
        assert!(out.contains("after 3 probes in a row unanswered within 300 ms"), "{out}");
    }

    #[test]
    fn explain_says_when_a_balancer_ejects_failing_instances() {
        let out = catalog("fast-failing-instance", "outlier-detection");
        let said = "; ejects an instance that answers 5 requests in a row with anything but success (timeouts \
                    of its requests included) for 10 s, each further ejection with no success in between \
                    lasting one more 10 s (at most 300 s), at most 1 of 4 at once — this catches an instance that \
                    is up (health checks keep it) but fails its work.";
        assert!(out.contains(said), "{out}");
        let out = catalog("fast-failing-instance", "least-outstanding");
        assert!(!out.contains("ejects an instance"), "{out}");
        // Client-side: the users' call says it.
        let out = catalog("fast-failing-instance", "client-side");
        assert!(
            out.contains(
                "Calls service `api` directly (least-outstanding over its instances), waiting at most 1 s per \
                          attempt, no retries; ejects an instance that answers 5 requests in a row"
            ),
            "{out}"
        );
    }

    #[test]
    fn explain_says_what_a_cache_calls_on_a_miss_and_that_a_flush_is_instant() {
        let out = catalog("cache-stampede", "no-coalescing");
        let said = "(a stampede after a flush); misses and writes call service `products-db` directly (round-robin \
                    over its instances), waiting at most 250 ms per attempt, no retries (a failed backend call is \
                    answered with an error).";
        assert!(out.contains(said), "{out}");
        assert!(out.contains("at 20 s: cache flush — caches on node product-cache are emptied.\n"), "{out}");
        assert!(!out.contains("until 20 s (0 s)"), "{out}");
    }

    #[test]
    fn explain_says_when_a_cache_honours_its_callers_deadlines() {
        let e = crate::catalog::get("cache-stampede").unwrap();
        let with = |knobs: &str| {
            let text = e.text.replace("capacity = 10000\n", &format!("capacity = 10000\n{knobs}\n"));
            explained(&text)
        };
        let off = with("");
        assert!(!off.contains("honours its callers' deadlines"), "{off}");
        let on = with("propagate_deadlines = true");
        let said = "(a failed backend call is answered with an error); it honours its callers' deadlines (drops \
                    what they gave up on, passes them on to its backend calls).";
        assert!(on.contains(said), "{on}");
        let on = with("propagate_deadlines = true\nmin_time_left_ms = 20\ncoalesce = true");
        let said = "it honours its callers' deadlines (drops what they gave up on, and misses and writes that \
                    have under 20 ms left, passes them on to its backend calls; a shared read waits until the \
                    deadline of the miss that started it).";
        assert!(on.contains(said), "{on}");
    }

    #[test]
    fn retries_say_their_backoff_its_cap_and_jitter() {
        let ms: Nanos = 1_000_000;
        let r = |max_attempts, base: Nanos, max: Nanos, jitter| RetryPolicy {
            max_attempts,
            backoff_base: base * ms,
            backoff_max: max * ms,
            jitter,
            budget_ratio: None,
        };
        let full = "full jitter: each wait drawn uniformly from 0 to the backoff";
        for (policy, said) in [
            (r(1, 5, 40, Jitter::Full), ", no retries".to_owned()),
            // retry-storm: 5, 10, 20 ms; the cap is never reached.
            (
                r(4, 5, 40, Jitter::Full),
                format!(
                    ", up to 4 attempts (backoff from 5 ms, doubling to 20 ms by the last retry, below its cap of \
                     40 ms; {full})"
                ),
            ),
            (
                r(8, 5, 40, Jitter::Equal),
                ", up to 8 attempts (backoff from 5 ms, doubling up to its cap of 40 ms; equal jitter: each wait \
                 between half the backoff and all of it)"
                    .to_owned(),
            ),
            (
                r(2, 20, 100, Jitter::None),
                ", up to 2 attempts (a backoff of 20 ms before the retry; no jitter)".to_owned(),
            ),
            (
                r(3, 200, 100, Jitter::None),
                ", up to 3 attempts (a backoff of 100 ms (its cap) before each retry; no jitter)".to_owned(),
            ),
            (r(3, 0, 100, Jitter::Full), ", up to 3 attempts (each retry at once)".to_owned()),
        ] {
            assert_eq!(attempts(&policy), said);
        }
        let out = catalog("retry-storm", "retry-budget");
        let said = format!(
            "up to 4 attempts (backoff from 5 ms, doubling to 20 ms by the last retry, below its cap of 40 ms; \
             {full}); retries within a retry budget of 10% of calls plus a reserve of 10 (per calling instance)."
        );
        assert!(out.contains(&said), "{out}");
        assert!(!out.contains("(backoff from 5 ms) within"), "{out}");
        // A workflow's retries too.
        let out = catalog("checkout-outage", "sync");
        assert!(out.contains("per call, up to 3 attempts (backoff from 50 ms, doubling to 100 ms"), "{out}");
    }

    #[test]
    fn explain_says_hedges_spend_a_retry_budget_without_retries() {
        let arrival = "arrival = { process = \"constant\", rate_per_s = 100 }";
        let call = ", hedge_after_ms = 20, retry = { max_attempts = 1, budget_ratio = 0.05 }";
        let out = explained(&world(arrival, call, ""));
        assert!(out.contains("; a hedged copy after 20 ms; hedges within a retry budget of 5% of calls"), "{out}");
        // Nothing spends a budget without retries or hedges: unsaid.
        let out = explained(&world(arrival, ", retry = { max_attempts = 1, budget_ratio = 0.05 }", ""));
        assert!(!out.contains("budget"), "{out}");
    }

    #[test]
    fn explain_says_a_lone_instance_has_its_workers_and_a_breaker_its_trial() {
        let out = catalog("queueing-near-saturation", "load-50");
        assert!(out.contains("service server: 1 instance with 4 workers"), "{out}");
        assert!(!out.contains("1 instance, each with"), "{out}");
        let out = catalog("circuit-breaker", "breaker");
        let said = "a circuit breaker opens after 5 failures in a row for 2 s, failing calls at once, then lets one \
                    trial call through (its success closes it, its failure opens it again)";
        assert!(out.contains(said), "{out}");
    }
}
