//! Sweeps: every variant of a scenario over a range of seeds, in parallel, aggregated per
//! variant (means with 95% confidence intervals, quantiles over seeds, anomaly totals, worst
//! seeds) and as paired differences between variants on the same seeds (common random numbers:
//! each seed gives every variant the same streams and, unless a variant changes a fault, the
//! same fault timeline).
//!
//! Results are collected and aggregated in (variant, seed) order, so the output is the same
//! whatever the number of threads. Per-seed records carry their latency histogram as buckets,
//! so shards merge into exactly the result of one unsharded sweep. Memory does not grow with
//! the seed range beyond a compact record per run: the plan is an iterator, runs start at most
//! a few dozen per thread ahead of the oldest unfinished one, and [`Runs`] keeps of each run
//! only what aggregation uses, pooling histograms as runs arrive.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Condvar, Mutex};

use faultline_models::metrics::LatencyHist;
use faultline_models::report::{LatencySummary, Requests};
use serde::{Deserialize, Serialize};

use crate::{Scenario, runner};

/// One (variant, seed) run, as written to `--out FILE.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SeedRecord {
    /// The scenario as named on the command line (a path or a catalog name).
    pub scenario: String,
    /// The command line's `--set` and `--vary` it ran with (absent when none): the scenario is
    /// `scenario` with them made, and what reproduces a run repeats them ([`SeedRecord::changes`]).
    /// Two fields rather than a flattened `Changes`: serde's `flatten` would buffer every
    /// record's fields on reading.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vary: Vec<String>,
    pub variant: String,
    pub seed: u64,
    /// `ok`, or `budget` when the run stopped at its event budget (its figures are partial).
    pub status: String,
    pub trace_hash: String,
    pub events: u64,
    pub requests: Requests,
    pub latency_ms: LatencySummary,
    pub anomalies: BTreeMap<String, u64>,
    /// Latency histogram of successful requests: `(value_ns, count)` buckets.
    pub latency_buckets: Vec<(u64, u64)>,
    /// The figure of each of the scenario's expectations, in file order (`null`: not for this
    /// variant, or no value in this run).
    #[serde(default)]
    pub expect: Vec<Option<f64>>,
    /// The run's time series, for reports: window length, and per window the requests
    /// answered ok, those that failed or timed out, and the p99 latency (ms).
    #[serde(default)]
    pub window_ms: f64,
    #[serde(default)]
    pub ok_per_window: Vec<u64>,
    #[serde(default)]
    pub failed_per_window: Vec<u64>,
    #[serde(default)]
    pub p99_ms_per_window: Vec<Option<f64>>,
    /// When each fault was active, as applied.
    #[serde(default)]
    pub faults: Vec<FaultSpan>,
    /// The simulation revision that ran it (absent in records written before records carried
    /// it): records of different revisions come from different models and are never pooled.
    #[serde(default)]
    pub sim_revision: Option<u32>,
    /// The scenario's `[scenario] name`, and its [`fingerprint`](crate::fingerprint) (both
    /// absent in records written before records carried them): records of two fingerprints
    /// ran two scenarios, or one scenario file before and after an edit, and are never pooled.
    #[serde(default)]
    pub scenario_name: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// The simulated time the run ended at, ms (absent in records written before records
    /// carried it): the end of the last, partial, window of the series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<f64>,
    /// The sweep that wrote the record (absent in records written before records carried it,
    /// and outside `sweep --out`): `merge` checks that every run of it is there, so that a lost
    /// shard's file cannot pass a gate unnoticed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
}

/// A sweep's plan, as its records carry it: seeds `from..to` (end exclusive) of `variants`,
/// dealt round-robin to `shards` shards. The same for every shard of one sweep (a record's
/// shard follows from its seed), so the shards' records name one plan.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Plan {
    pub from: u64,
    pub to: u64,
    pub shards: u64,
    pub variants: Vec<String>,
}

/// What records lack of their sweep's [`Plan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    /// (variant, seed) runs of the plan with no record.
    pub runs: u64,
    /// The first few shards (at most 5) missing some: `(shard, runs missing, runs it has)`.
    pub shards: Vec<(u64, u64, u64)>,
}

impl Plan {
    /// What `have` (seeds held per variant) lacks of the plan: the number of (variant, seed)
    /// runs missing, and the first few shards missing some. The work is bounded by the records
    /// held, whatever the plan's size: a shard with no record is found by walking past the
    /// shards that have some.
    pub fn missing(&self, have: &BTreeMap<String, BTreeSet<u64>>) -> Missing {
        let shards = self.shards.max(1);
        let mut held: BTreeMap<u64, u64> = BTreeMap::new();
        for v in &self.variants {
            for &seed in have.get(v).into_iter().flat_map(|s| s.range(self.from..self.to)) {
                *held.entry((seed - self.from) % shards + 1).or_default() += 1;
            }
        }
        let expected = plan_len(self.variants.len(), self.from, self.to, (1, 1));
        let missing = expected.saturating_sub(held.values().sum());
        let mut first = Vec::new();
        // Shards beyond the span hold no seed.
        let last = shards.min(self.to.saturating_sub(self.from));
        let mut k = 1;
        while missing > 0 && k <= last && first.len() < 5 {
            let of = plan_len(self.variants.len(), self.from, self.to, (k, shards));
            let got = held.get(&k).copied().unwrap_or(0);
            if got < of {
                first.push((k, of - got, of));
            }
            k += 1;
        }
        Missing { runs: missing, shards: first }
    }
}

/// A fault's active span in a run (`end_ms` absent: still active at the end).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FaultSpan {
    pub name: String,
    pub start_ms: f64,
    pub end_ms: Option<f64>,
}

impl SeedRecord {
    /// The changes to its scenario it ran with.
    pub fn changes(&self) -> crate::Changes {
        crate::Changes { set: self.set.clone(), vary: self.vary.clone() }
    }

    /// `None` when the run sent no request: no value, not 0% (nor 100%).
    pub fn success_rate(&self) -> Option<f64> {
        (self.requests.total > 0).then(|| self.requests.ok as f64 / self.requests.total as f64)
    }

    /// The order of the sweep's worst seeds, worst first: lowest success rate (none, no request
    /// sent: first), then highest p99 (none, nothing succeeded: first), then seed.
    pub fn worst_first(&self, other: &SeedRecord) -> std::cmp::Ordering {
        let rate = |r: &SeedRecord| r.success_rate().unwrap_or(f64::NEG_INFINITY);
        let p99 = |r: &SeedRecord| r.latency_ms.p99.unwrap_or(f64::INFINITY);
        rate(self).total_cmp(&rate(other)).then(p99(other).total_cmp(&p99(self))).then(self.seed.cmp(&other.seed))
    }

    /// The record without what only reports draw — its per-window series, fault spans and
    /// latency histogram (pooled by [`Runs`] instead): what a sweep keeps of each run.
    pub fn figures_only(self) -> SeedRecord {
        SeedRecord {
            latency_buckets: Vec::new(),
            ok_per_window: Vec::new(),
            failed_per_window: Vec::new(),
            p99_ms_per_window: Vec::new(),
            faults: Vec::new(),
            ..self
        }
    }
}

/// Runs one seed of one variant.
pub fn run_one(sc: &Scenario, variant: &str, seed: u64) -> Result<SeedRecord, String> {
    let scenario =
        sc.source.file.strip_prefix("catalog/").and_then(|f| f.strip_suffix(".toml")).unwrap_or(&sc.source.file);
    let c = sc.variant(Some(variant))?;
    let (status, report, world) = match runner::run(&c, seed, None) {
        Ok((r, w)) => ("ok", r, w),
        Err(_) => {
            // Rerun to the budget and report what was measured, marked as partial.
            let mut w = faultline_models::World::new(c.spec, seed, c.budget);
            let _ = w.run();
            let r = faultline_models::RunReport::build(&w, &sc.name, variant);
            ("budget", r, w)
        }
    };
    let json = if sc.expectations.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::to_value(&report).map_err(|e| e.to_string())?
    };
    let expect =
        sc.expectations.iter().map(|e| if e.applies_to(variant) { e.value(&report, &json) } else { None }).collect();
    let faults = fault_spans(&report);
    let mut all = LatencyHist::default();
    for a in &world.actors {
        if let faultline_models::world::Component::Client(cl) = &a.comp {
            all.merge(&cl.stats.latency());
        }
    }
    Ok(SeedRecord {
        scenario: scenario.to_owned(),
        set: sc.changes.set.clone(),
        vary: sc.changes.vary.clone(),
        variant: variant.to_owned(),
        seed,
        status: status.to_owned(),
        trace_hash: report.trace_hash,
        events: report.events,
        requests: report.requests,
        latency_ms: report.latency_ms,
        anomalies: report.anomalies,
        latency_buckets: all.buckets(),
        expect,
        window_ms: report.timeseries.window_ms,
        ok_per_window: report.timeseries.ok.clone(),
        failed_per_window: report
            .timeseries
            .failed
            .iter()
            .zip(&report.timeseries.timed_out)
            .map(|(f, t)| f + t)
            .collect(),
        p99_ms_per_window: report.timeseries.p99_ms.clone(),
        faults,
        sim_revision: Some(faultline_models::SIM_REVISION),
        scenario_name: Some(sc.name.clone()),
        fingerprint: Some(sc.fingerprint.clone()),
        end_ms: Some(report.sim_time_ns as f64 / 1e6),
        plan: None,
    })
}

fn fault_spans(report: &faultline_models::RunReport) -> Vec<FaultSpan> {
    let mut spans: Vec<FaultSpan> = Vec::new();
    for f in &report.faults {
        if f.phase == "start" {
            spans.push(FaultSpan { name: f.name.clone(), start_ms: f.t_ms, end_ms: None });
        } else if let Some(s) = spans.iter_mut().rev().find(|s| s.name == f.name && s.end_ms.is_none()) {
            s.end_ms = Some(f.t_ms);
        }
    }
    spans
}

/// The seeds of shard `k` of `n` (1-based; dealt round-robin) of `from..to` (end exclusive),
/// rising, computed as they are asked for (no overflow at `u64::MAX`).
fn shard_seeds(from: u64, to: u64, (k, n): (u64, u64)) -> impl Iterator<Item = u64> + Clone + Send {
    let first = from.checked_add(k - 1).filter(|&s| s < to);
    std::iter::successors(first, move |&s| s.checked_add(n).filter(|&s| s < to))
}

/// Which (variant, seed) pairs a sweep covers, in plan order (a variant's seeds, rising, then
/// the next variant's): seeds `from..to` (end exclusive), every variant, keeping only shard `k`
/// of `n` (1-based; seeds are dealt round-robin). Lazy: a range of 2^64 seeds costs nothing
/// until it is run.
pub fn plan(
    variants: &[String],
    from: u64,
    to: u64,
    shard: (u64, u64),
) -> impl Iterator<Item = (String, u64)> + Clone + Send + '_ {
    variants.iter().flat_map(move |v| shard_seeds(from, to, shard).map(move |seed| (v.clone(), seed)))
}

/// How many (variant, seed) pairs [`plan`] yields (saturating).
pub fn plan_len(variants: usize, from: u64, to: u64, (k, n): (u64, u64)) -> u64 {
    let span = to.saturating_sub(from);
    let per_variant = span.saturating_sub(k - 1).div_ceil(n);
    per_variant.saturating_mul(variants as u64)
}

/// Whether `seed` is one of [`plan`]'s seeds.
pub fn in_plan(seed: u64, from: u64, to: u64, (k, n): (u64, u64)) -> bool {
    (from..to).contains(&seed) && (seed - from) % n == k - 1
}

/// Runs started beyond the oldest unfinished one, per thread. Why a bound: finished records
/// wait for that one to be handed on in plan order, and a slow seed would otherwise let the
/// other threads run ahead, and their records pile up, without limit.
const AHEAD_PER_THREAD: usize = 32;

/// Most threads a sweep runs on (`--threads`): far more than any machine's cores.
pub const MAX_THREADS: usize = 1024;

/// The jobs not yet started, and how far the handing-on has got.
struct Feed<I> {
    jobs: I,
    started: usize,
    handed_on: usize,
    stop: bool,
}

/// Runs `jobs` on `threads` threads. `done` is called on the calling thread with each record
/// in plan order as soon as it and all before it are finished (so an interrupted sweep has
/// written a prefix of the plan, whatever the thread count). Jobs are taken from the iterator
/// as threads get free, never more than [`AHEAD_PER_THREAD`] per thread past the oldest
/// unfinished one; after an error no new job starts.
pub fn run_streaming(
    sc: &Scenario,
    jobs: impl Iterator<Item = (String, u64)> + Send,
    threads: usize,
    mut done: impl FnMut(SeedRecord) -> Result<(), String>,
) -> Result<(), String> {
    let threads = threads.clamp(1, MAX_THREADS);
    let ahead = AHEAD_PER_THREAD * threads;
    let feed = Mutex::new(Feed { jobs, started: 0, handed_on: 0, stop: false });
    let moved = Condvar::new();
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<SeedRecord, String>)>();
    // rayon's pool runs the workers; this thread hands records on in plan order meanwhile.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| e.to_string())?;
    pool.in_place_scope(|s| {
        for _ in 0..threads {
            let (tx, feed, moved) = (tx.clone(), &feed, &moved);
            s.spawn(move |_| {
                loop {
                    let (i, (v, seed)) = {
                        let mut f = feed.lock().expect("no thread panics holding the feed");
                        while !f.stop && f.started >= f.handed_on + ahead {
                            f = moved.wait(f).expect("no thread panics holding the feed");
                        }
                        if f.stop {
                            return;
                        }
                        let Some(job) = f.jobs.next() else { return };
                        f.started += 1;
                        (f.started - 1, job)
                    };
                    if tx.send((i, run_one(sc, &v, seed))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut hand_on = || {
            let mut waiting = BTreeMap::new();
            let mut next = 0;
            for (i, r) in &rx {
                waiting.insert(i, r);
                while let Some(r) = waiting.remove(&next) {
                    done(r?)?;
                    next += 1;
                    feed.lock().expect("no thread panics holding the feed").handed_on = next;
                    moved.notify_all();
                }
            }
            Ok(())
        };
        let result = hand_on();
        if result.is_err() {
            feed.lock().expect("no thread panics holding the feed").stop = true;
            moved.notify_all();
        }
        result
    })
}

/// Mean and half-width of its 95% confidence interval (Student's t).
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    pub ci95: f64,
    pub n: usize,
}

impl Estimate {
    pub fn of(xs: &[f64]) -> Estimate {
        let n = xs.len();
        if n == 0 {
            // No value (`null` in JSON), not a mean of 0: e.g. the latency of seeds where
            // nothing succeeded.
            return Estimate { mean: f64::NAN, ci95: f64::NAN, n };
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Estimate { mean, ci95: f64::INFINITY, n };
        }
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        Estimate { mean, ci95: t975(n - 1) * (var / n as f64).sqrt(), n }
    }
}

impl Estimate {
    /// The mean and the interval's half-width scaled by `k`, to `digits` places, for a table:
    /// `-` and no interval without a value, no interval from a single seed (it is infinite).
    pub fn parts(&self, k: f64, digits: usize) -> (String, Option<String>) {
        match self.n {
            0 => ("-".to_owned(), None),
            1 => (format!("{:.digits$}", self.mean * k), None),
            _ => (format!("{:.digits$}", self.mean * k), Some(format!("{:.digits$}", self.ci95 * k))),
        }
    }

    /// [`Estimate::parts`] as one cell: `mean ± ci95`, the mean alone, or `-`.
    pub fn cell(&self, k: f64, digits: usize) -> String {
        match self.parts(k, digits) {
            (mean, Some(ci)) => format!("{mean} ± {ci}"),
            (mean, None) => mean,
        }
    }
}

/// `mean ± ci95` to the format's precision (4 places by default); `no value` without a value
/// (e.g. a latency where nothing succeeded), and no interval from a single value.
impl std::fmt::Display for Estimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = f.precision().unwrap_or(4);
        match self.n {
            0 => write!(f, "no value"),
            1 => write!(f, "{:.p$} (one seed: no interval)", self.mean),
            _ => write!(f, "{:.p$} ± {:.p$}", self.mean, self.ci95),
        }
    }
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom (Cornish–Fisher expansion
/// around the normal; exact table for small df where the expansion is poor).
pub fn t975(df: usize) -> f64 {
    const TABLE: [f64; 10] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];
    if df == 0 {
        return f64::INFINITY;
    }
    if df <= TABLE.len() {
        return TABLE[df - 1];
    }
    let z: f64 = 1.959_963_984_540_054;
    let d = df as f64;
    z + (z.powi(3) + z) / (4.0 * d)
        + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        + (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z) / (384.0 * d.powi(3))
}

/// Quantiles over seeds of a per-seed figure.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct OverSeeds {
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub max: f64,
}

impl OverSeeds {
    /// Nearest-rank quantiles: the `⌈p·n⌉`-th smallest of `n` values (the median of two is the
    /// lower; every quantile is a value some seed gave). `None` without values.
    fn of(xs: &[f64]) -> Option<OverSeeds> {
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1];
        (!v.is_empty()).then(|| OverSeeds { min: q(0.0), p50: q(0.5), p90: q(0.9), max: q(1.0) })
    }
}

/// The per-seed figures a sweep aggregates, by name (also the paired-difference figures).
pub const FIGURES: [&str; 6] =
    ["success_rate", "latency_mean_ms", "latency_p50_ms", "latency_p99_ms", "latency_p999_ms", "timed_out"];

/// Figure `name` (one of [`FIGURES`]) of one run; latencies have no value in a run where
/// nothing succeeded.
pub fn figure(r: &SeedRecord, name: &str) -> Option<f64> {
    match name {
        "success_rate" => r.success_rate(),
        "latency_mean_ms" => r.latency_ms.mean,
        "latency_p50_ms" => r.latency_ms.p50,
        "latency_p99_ms" => r.latency_ms.p99,
        "latency_p999_ms" => r.latency_ms.p999,
        "timed_out" => Some(r.requests.timed_out as f64),
        _ => unreachable!("known figure"),
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WorstSeed {
    pub seed: u64,
    /// `None` when the run sent no request.
    pub success_rate: Option<f64>,
    /// `None` when nothing succeeded.
    pub latency_p99_ms: Option<f64>,
    /// The command that replays this run.
    pub replay: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct VariantSummary {
    pub variant: String,
    pub seeds: usize,
    /// Seeds stopped by the event budget (their figures are partial).
    pub inconclusive: usize,
    pub requests: Requests,
    /// Per-seed figures: mean and 95% CI over the seeds where the figure has a value.
    pub figures: BTreeMap<String, Estimate>,
    /// Per-seed p99 latency: its spread over the seeds with a success (`None`: none had one).
    pub p99_over_seeds: Option<OverSeeds>,
    /// All successful requests of all seeds together (histograms merged exactly).
    pub pooled_latency_ms: LatencySummary,
    pub anomalies: BTreeMap<String, u64>,
    pub worst_seeds: Vec<WorstSeed>,
    /// The scenario's expectations for this variant, over its seeds.
    pub expectations: Vec<ExpectSummary>,
}

/// One expectation over a variant's seeds.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ExpectSummary {
    pub check: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub during: Option<String>,
    pub over_seeds: crate::expect::OverSeeds,
    pub passed: bool,
    /// Mean and 95% CI of the figure over the seeds that have a value.
    pub estimate: Estimate,
    /// Seeds where the figure fails the check (or has no value), lowest first, at most 10.
    pub failing_seeds: Vec<u64>,
    pub failing: usize,
}

/// `variant − baseline` per seed, then mean and 95% CI of the differences.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PairedDiff {
    pub baseline: String,
    pub variant: String,
    pub seeds: usize,
    pub differences: BTreeMap<String, Estimate>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SweepReport {
    pub schema_version: u32,
    /// The simulation revision of its records (absent: records written before they carried it).
    pub sim_revision: Option<u32>,
    pub scenario: String,
    pub variants: Vec<VariantSummary>,
    pub paired: Vec<PairedDiff>,
}

/// Aggregates records (in any order; duplicates of a (variant, seed) keep the first) for the
/// variants in `order`.
pub fn aggregate(scenario: &str, order: &[String], records: &[SeedRecord]) -> SweepReport {
    aggregate_with(scenario, order, records, &[])
}

/// [`aggregate`], checking `expectations` (the scenario's, whose figures the records carry).
pub fn aggregate_with(
    scenario: &str,
    order: &[String],
    records: &[SeedRecord],
    expectations: &[crate::expect::Expectation],
) -> SweepReport {
    let mut pooled: BTreeMap<String, LatencyHist> = BTreeMap::new();
    for (v, runs) in by_variant(records).0 {
        let h = pooled.entry(v.to_owned()).or_default();
        for r in runs.values() {
            h.merge(&LatencyHist::from_buckets(&r.latency_buckets));
        }
    }
    aggregate_pooled(scenario, order, records, &pooled, expectations)
}

/// [`aggregate_with`], each variant's latency histogram already pooled (`records` need not
/// carry theirs).
fn aggregate_pooled(
    scenario: &str,
    order: &[String],
    records: &[SeedRecord],
    pooled: &BTreeMap<String, LatencyHist>,
    expectations: &[crate::expect::Expectation],
) -> SweepReport {
    let (by_variant, _) = by_variant(records);
    let empty = BTreeMap::new();
    let no_latency = LatencyHist::default();
    let mut variants = Vec::new();
    for v in order {
        let runs = by_variant.get(v.as_str()).unwrap_or(&empty);
        let rs: Vec<&SeedRecord> = runs.values().copied().collect();
        let mut requests = Requests::default();
        let mut anomalies = BTreeMap::new();
        for r in &rs {
            requests.total += r.requests.total;
            requests.ok += r.requests.ok;
            requests.failed += r.requests.failed;
            requests.timed_out += r.requests.timed_out;
            for (k, n) in &r.anomalies {
                *anomalies.entry(k.clone()).or_insert(0) += n;
            }
        }
        let figures = FIGURES
            .iter()
            .map(|f| (f.to_string(), Estimate::of(&rs.iter().filter_map(|r| figure(r, f)).collect::<Vec<_>>())))
            .collect();
        let mut worst: Vec<&SeedRecord> = rs.clone();
        worst.sort_by(|a, b| a.worst_first(b));
        let mut checks = Vec::new();
        for (i, e) in expectations.iter().enumerate() {
            if !e.applies_to(v) {
                continue;
            }
            let values: Vec<Option<f64>> = rs.iter().map(|r| r.expect.get(i).copied().flatten()).collect();
            let present: Vec<f64> = values.iter().flatten().copied().collect();
            let estimate = Estimate::of(&present);
            let failing: Vec<u64> =
                rs.iter().zip(&values).filter(|(_, x)| !e.holds(**x)).map(|(r, _)| r.seed).collect();
            checks.push(ExpectSummary {
                check: e.check.clone(),
                during: e.during.clone(),
                over_seeds: e.over_seeds,
                passed: e.holds_over_seeds(&values, (!present.is_empty()).then_some(&estimate)),
                estimate,
                failing_seeds: failing.iter().take(10).copied().collect(),
                failing: failing.len(),
            });
        }
        variants.push(VariantSummary {
            expectations: checks,
            variant: v.clone(),
            seeds: rs.len(),
            inconclusive: rs.iter().filter(|r| r.status != "ok").count(),
            requests,
            figures,
            p99_over_seeds: OverSeeds::of(&rs.iter().filter_map(|r| r.latency_ms.p99).collect::<Vec<_>>()),
            pooled_latency_ms: LatencySummary::of(pooled.get(v).unwrap_or(&no_latency)),
            anomalies,
            worst_seeds: worst
                .iter()
                .take(5)
                .map(|r| WorstSeed {
                    seed: r.seed,
                    success_rate: r.success_rate(),
                    latency_p99_ms: r.latency_ms.p99,
                    replay: format!(
                        "faultline run {}{} --variant {} --seed {}",
                        crate::shell_word(&r.scenario),
                        r.changes().command_words(),
                        crate::shell_word(&r.variant),
                        r.seed
                    ),
                })
                .collect(),
        });
    }
    let mut paired = Vec::new();
    if let Some(base) = order.first() {
        let base_runs = by_variant.get(base.as_str()).unwrap_or(&empty);
        for v in &order[1..] {
            let runs = by_variant.get(v.as_str()).unwrap_or(&empty);
            let common: Vec<(&SeedRecord, &SeedRecord)> =
                base_runs.iter().filter_map(|(s, b)| runs.get(s).map(|r| (*b, *r))).collect();
            let differences = FIGURES
                .iter()
                .map(|f| {
                    // Over the seeds where both have a value.
                    let d: Vec<f64> = common.iter().filter_map(|(b, r)| Some(figure(r, f)? - figure(b, f)?)).collect();
                    (f.to_string(), Estimate::of(&d))
                })
                .collect();
            paired.push(PairedDiff { baseline: base.clone(), variant: v.clone(), seeds: common.len(), differences });
        }
    }
    let sim_revision = records.first().and_then(|r| r.sim_revision);
    SweepReport { schema_version: 2, sim_revision, scenario: scenario.to_owned(), variants, paired }
}

/// Records by variant, then by seed (duplicates of a (variant, seed) keep the first), and the
/// variants in order of first appearance.
pub type ByVariant<'a> = BTreeMap<&'a str, BTreeMap<u64, &'a SeedRecord>>;

pub fn by_variant(records: &[SeedRecord]) -> (ByVariant<'_>, Vec<String>) {
    let mut by: ByVariant = BTreeMap::new();
    let mut order = Vec::new();
    for r in records {
        if !by.contains_key(r.variant.as_str()) {
            order.push(r.variant.clone());
        }
        by.entry(r.variant.as_str()).or_default().entry(r.seed).or_insert(r);
    }
    (by, order)
}

/// Records to be pooled must come from one model — one simulation revision, one scenario and
/// one version of it (its fingerprint): an error saying how `a` and `b` differ otherwise.
pub fn same_model(a: &SeedRecord, b: &SeedRecord) -> Result<(), String> {
    if a.sim_revision != b.sim_revision {
        let (lo, hi) = (a.sim_revision.min(b.sim_revision), a.sim_revision.max(b.sim_revision));
        return Err(format!(
            "the records come from {} and {}: runs of different models cannot be pooled (docs/determinism.md)",
            revision_name(lo),
            revision_name(hi)
        ));
    }
    if a.fingerprint == b.fingerprint {
        return Ok(());
    }
    Err(match (&a.scenario_name, &b.scenario_name, &a.fingerprint, &b.fingerprint) {
        (Some(x), Some(y), ..) if x != y => {
            let (x, y) = (x.min(y), x.max(y));
            format!("the records come from scenarios `{x}` and `{y}`: runs of different scenarios cannot be pooled")
        }
        (Some(name), _, Some(f), Some(g)) => format!(
            "the records come from two versions of scenario `{name}` (fingerprints {} and {}: its file was \
             edited between their runs): runs of different models cannot be pooled",
            f.min(g),
            f.max(g)
        ),
        _ => "some records name their scenario's fingerprint and some, written by an older build, do not: \
              they cannot be checked to come from one scenario, and are not pooled"
            .to_owned(),
    })
}

/// Whether a record written earlier can be resumed by this build with scenario `sc`: only one
/// of its own revision and of this very scenario (its fingerprint). The error says why not and
/// what to do instead.
pub fn resumable(r: &SeedRecord, sc: &Scenario) -> Result<(), String> {
    let here = faultline_models::SIM_REVISION;
    let fresh = "write to another --out file, or delete this one to start over";
    if r.sim_revision != Some(here) {
        return Err(format!(
            "it holds runs of {}, and this build simulates revision {here}: resuming would pool runs \
             of two models; {fresh} (or finish with the build that started it)",
            revision_name(r.sim_revision)
        ));
    }
    if r.fingerprint.as_deref() == Some(sc.fingerprint.as_str()) {
        return Ok(());
    }
    Err(match (&r.scenario_name, &r.fingerprint) {
        (Some(name), _) if *name != sc.name => format!(
            "it holds runs of scenario `{name}` ({}), not of `{}`: resuming would pool runs of two \
             scenarios; {fresh}",
            r.scenario, sc.name
        ),
        (_, Some(f)) => format!(
            "it holds runs of scenario `{}` as it was before an edit (fingerprint {f}; {} now gives {}): \
             resuming would pool runs of two models; {fresh}",
            sc.name, sc.source.file, sc.fingerprint
        ),
        (_, None) => format!(
            "its runs were written by a build that did not record the scenario's fingerprint, so they \
             cannot be checked to be of `{}` as it is now; {fresh}",
            sc.name
        ),
    })
}

fn revision_name(r: Option<u32>) -> String {
    match r {
        Some(r) => format!("simulation revision {r}"),
        None => "a build that did not record its simulation revision".to_owned(),
    }
}

/// A sweep's runs as its aggregation needs them, gathered one at a time: each variant's
/// latency histogram pooled as its runs arrive, and of each run its figures only
/// ([`SeedRecord::figures_only`]: a few hundred bytes where a whole record, with its
/// per-window series, can take tens of kilobytes) unless whole records are asked for (an HTML
/// report draws their series). A record of a (variant, seed) already there is dropped (the
/// first is kept, as [`aggregate`] does); one of another model is refused ([`same_model`]).
#[derive(Debug, Default)]
pub struct Runs {
    whole: bool,
    records: Vec<SeedRecord>,
    pooled: BTreeMap<String, LatencyHist>,
    seen: BTreeMap<String, BTreeSet<u64>>,
    /// The plans the records name (kept here, not in each record).
    plans: BTreeSet<Plan>,
}

impl Runs {
    /// `whole`: keep every record as it is; otherwise its figures only.
    pub fn new(whole: bool) -> Runs {
        Runs { whole, ..Runs::default() }
    }

    pub fn push(&mut self, mut r: SeedRecord) -> Result<(), String> {
        if let Some(first) = self.records.first() {
            same_model(first, &r)?;
        }
        if let Some(plan) = r.plan.take() {
            self.plans.insert(plan);
        }
        if !self.seen.entry(r.variant.clone()).or_default().insert(r.seed) {
            return Ok(());
        }
        self.pooled.entry(r.variant.clone()).or_default().merge(&LatencyHist::from_buckets(&r.latency_buckets));
        self.records.push(if self.whole { r } else { r.figures_only() });
        Ok(())
    }

    /// The records kept, in the order they came (whole, or their figures only).
    pub fn records(&self) -> &[SeedRecord] {
        &self.records
    }

    pub fn into_records(self) -> Vec<SeedRecord> {
        self.records
    }

    /// The seeds each variant has a record of.
    pub fn seeds(&self) -> &BTreeMap<String, BTreeSet<u64>> {
        &self.seen
    }

    /// The plans of the sweeps that wrote the records pushed, each with what it lacks
    /// ([`Plan::missing`]) if it lacks some: a shard's file not given, or a sweep interrupted.
    pub fn incomplete(&self) -> Vec<(&Plan, Missing)> {
        self.plans.iter().map(|p| (p, p.missing(&self.seen))).filter(|(_, m)| m.runs > 0).collect()
    }

    /// Whether some record named its plan (records written before they did name none).
    pub fn has_plans(&self) -> bool {
        !self.plans.is_empty()
    }

    /// [`aggregate_with`] of the records pushed: the same report.
    pub fn aggregate(
        &self,
        scenario: &str,
        order: &[String],
        expectations: &[crate::expect::Expectation],
    ) -> SweepReport {
        aggregate_pooled(scenario, order, &self.records, &self.pooled, expectations)
    }
}

/// The longest line a sweep record may take, its newline included. A record holds a run's
/// figures, its latency buckets, its series (at most 100 000 windows) and its faults (of a
/// scenario file of at most 4 MiB): a few megabytes at most.
pub const MAX_RECORD_LINE: u64 = 64 << 20;

/// Reads `--out` records: one JSON object per line. A last line without its newline is a record
/// an interrupted sweep was writing: it is dropped, and the byte length of what comes before it
/// is returned so the caller can truncate it away. Any complete line that is not a record is an
/// error (a sweep writes the newline last, so it cannot have been cut short).
pub fn read_records(text: &str) -> Result<(Vec<SeedRecord>, usize), String> {
    let mut out = Vec::new();
    let good = read_records_from(text.as_bytes(), |r| {
        out.push(r);
        Ok(())
    })?;
    Ok((out, good as usize))
}

/// [`read_records`] a line at a time: each record goes to `each` as it is read (an error from
/// it stops the reading), so a file of any size takes the memory of one line.
pub fn read_records_from(
    input: impl std::io::BufRead,
    mut each: impl FnMut(SeedRecord) -> Result<(), String>,
) -> Result<u64, String> {
    read_numbered_records_from(input, |_, r| each(r))
}

/// [`read_records_from`], each record with the number of its line (from 1).
pub fn read_numbered_records_from(
    mut input: impl std::io::BufRead,
    mut each: impl FnMut(u64, SeedRecord) -> Result<(), String>,
) -> Result<u64, String> {
    use std::io::{BufRead, Read};
    let mut good = 0;
    let mut line = Vec::new();
    for i in 1.. {
        line.clear();
        // Bounded: a file that is not records (one endless line) must not take all memory.
        (&mut input).take(MAX_RECORD_LINE + 1).read_until(b'\n', &mut line).map_err(|e| format!("line {i}: {e}"))?;
        if line.len() as u64 > MAX_RECORD_LINE {
            return Err(format!(
                "line {i}: longer than {} MiB, so not a sweep record (sweep records are JSON Lines)",
                MAX_RECORD_LINE >> 20
            ));
        }
        if line.last() != Some(&b'\n') {
            break; // the end, or a last line cut short: only the last line can lack its newline
        }
        good += line.len() as u64;
        let text = std::str::from_utf8(&line).map_err(|e| {
            let good = std::str::from_utf8(&line[..e.valid_up_to()]).expect("valid up to here");
            let column = good.chars().count() + 1;
            format!("line {i}, column {column}: expected UTF-8 text, found a byte that is not (sweep records are JSON Lines)")
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let r = serde_json::from_str::<SeedRecord>(text.trim_end())
            .map_err(|e| format!("line {i}: not a sweep record: {e}"))?;
        each(i, r)?;
    }
    Ok(good)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_over_seeds_are_nearest_rank() {
        let q = |xs: &[f64]| OverSeeds::of(xs).unwrap();
        assert_eq!(q(&[7.0]), OverSeeds { min: 7.0, p50: 7.0, p90: 7.0, max: 7.0 });
        // Of two, the median is the lower (it was the higher, the max, before).
        assert_eq!(q(&[9.0, 3.0]), OverSeeds { min: 3.0, p50: 3.0, p90: 9.0, max: 9.0 });
        let ten: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        assert_eq!(q(&ten), OverSeeds { min: 1.0, p50: 5.0, p90: 9.0, max: 10.0 });
        let eleven: Vec<f64> = (1..=11).map(f64::from).collect();
        assert_eq!(q(&eleven), OverSeeds { min: 1.0, p50: 6.0, p90: 10.0, max: 11.0 });
        assert_eq!(OverSeeds::of(&[]), None);
    }

    #[test]
    fn t_quantiles_match_tables() {
        // Reference values of t(0.975).
        for (df, t) in [(1, 12.706), (5, 2.571), (11, 2.201), (20, 2.086), (30, 2.042), (100, 1.984), (1000, 1.962)] {
            assert!((t975(df) - t).abs() < 0.002, "df {df}: {} vs {t}", t975(df));
        }
    }

    #[test]
    fn estimate_of_constant_has_zero_width() {
        let e = Estimate::of(&[2.0, 2.0, 2.0]);
        assert_eq!((e.mean, e.ci95, e.n), (2.0, 0.0, 3));
    }

    #[test]
    fn plan_shards_are_disjoint_and_cover_everything() {
        let v = vec!["a".to_owned(), "b".to_owned()];
        let all: Vec<(String, u64)> = plan(&v, 10, 20, (1, 1)).collect();
        let mut union: Vec<(String, u64)> = (1..=3).flat_map(|k| plan(&v, 10, 20, (k, 3))).collect();
        union.sort();
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(union, sorted);
        assert_eq!(all.len(), 20);
        for k in 1..=3 {
            let seeds: Vec<u64> = plan(&v, 10, 20, (k, 3)).map(|(_, s)| s).collect();
            assert_eq!(plan_len(2, 10, 20, (k, 3)), seeds.len() as u64);
            assert!(seeds.iter().all(|&s| in_plan(s, 10, 20, (k, 3))));
            assert_eq!((10..20).filter(|&s| in_plan(s, 10, 20, (k, 3))).count() * 2, seeds.len());
        }
    }

    /// `sweep --seeds 0..18446744073709551615` once built its whole plan before running a seed
    /// (gigabytes in seconds): the plan is produced as it is used, and its end does not overflow.
    #[test]
    fn the_plan_of_a_huge_range_is_produced_lazily() {
        let v = vec!["a".to_owned(), "b".to_owned()];
        let mut p = plan(&v, 0, u64::MAX, (1, 1));
        assert_eq!(p.next(), Some(("a".to_owned(), 0)));
        assert_eq!(p.next(), Some(("a".to_owned(), 1)));
        assert_eq!(plan_len(2, 0, u64::MAX, (1, 1)), u64::MAX);
        let end: Vec<(String, u64)> = plan(&v, u64::MAX - 5, u64::MAX, (2, 3)).collect();
        let want = [u64::MAX - 4, u64::MAX - 1];
        assert_eq!(
            end,
            [("a", want[0]), ("a", want[1]), ("b", want[0]), ("b", want[1])].map(|(v, s)| (v.to_owned(), s))
        );
        assert_eq!(plan_len(2, u64::MAX - 5, u64::MAX, (2, 3)), 4);
    }

    #[test]
    fn a_seed_where_nothing_succeeded_has_no_latency_and_is_the_worst() {
        // Variant `a`: seeds 1 and 2 answer in 10 and 20 ms; seed 3 answers nothing. Its
        // latency is none (`null` in JSON), not 0 ms: averaged as 0 it would make the variant
        // look fastest when it was down.
        let line = |variant: &str, seed: u64, ok: u64, p99: Option<f64>| {
            let l = LatencySummary { mean: p99, p50: p99, p90: p99, p99, p999: p99, max: p99 };
            let v = serde_json::json!({"scenario": "s", "variant": variant, "seed": seed, "status": "ok",
                "trace_hash": "00", "events": 1, "requests": {"total": 4, "ok": ok, "failed": 4 - ok, "timed_out": 0},
                "latency_ms": l, "anomalies": {}, "latency_buckets": []});
            serde_json::from_value::<SeedRecord>(v).unwrap()
        };
        let records = vec![
            line("a", 1, 4, Some(10.0)),
            line("a", 2, 4, Some(20.0)),
            line("a", 3, 0, None),
            line("b", 1, 4, Some(11.0)),
            line("b", 2, 4, Some(23.0)),
            line("b", 3, 4, Some(30.0)),
        ];
        let order = ["a".to_owned(), "b".to_owned()];
        let r = aggregate("s", &order, &records);
        let p99 = r.variants[0].figures["latency_p99_ms"];
        assert_eq!((p99.mean, p99.n), (15.0, 2), "over the seeds with a value");
        assert_eq!(r.variants[0].p99_over_seeds.map(|o| (o.min, o.max)), Some((10.0, 20.0)));
        assert_eq!((r.variants[0].worst_seeds[0].seed, r.variants[0].worst_seeds[0].latency_p99_ms), (3, None));
        // Paired: over the seeds where both have one (1 and 2: +1 and +3 ms).
        let d = r.paired[0].differences["latency_p99_ms"];
        assert_eq!((d.mean, d.n), (2.0, 2));
        assert_eq!(r.paired[0].differences["success_rate"].n, 3);
        // No seed with a value: no mean (JSON `null`), not 0.
        let none = aggregate("s", &order[..1], &records[2..3]);
        let e = none.variants[0].figures["latency_p99_ms"];
        assert!(e.n == 0 && e.mean.is_nan(), "{e:?}");
        assert!(none.variants[0].p99_over_seeds.is_none());
        let json = serde_json::to_value(&none).unwrap();
        assert_eq!(json["variants"][0]["figures"]["latency_p99_ms"]["mean"], serde_json::Value::Null);
    }

    #[test]
    fn a_cut_last_line_is_dropped_on_resume() {
        let good = r#"{"scenario":"s","variant":"a","seed":1,"status":"ok","trace_hash":"00","events":1,"requests":{"total":1,"ok":1,"failed":0,"timed_out":0},"latency_ms":{"mean":1.0,"p50":1.0,"p90":1.0,"p99":1.0,"p999":1.0,"max":1.0},"anomalies":{},"latency_buckets":[[1000,1]]}"#;
        let text = format!("{good}\n{}", &good[..40]);
        let (rs, keep) = read_records(&text).unwrap();
        assert_eq!(rs.len(), 1);
        assert_eq!(keep, good.len() + 1);
        assert!(read_records(&format!("garbage\n{good}\n")).is_err());
        // A complete last line is not a cut one: garbage there is an error, not dropped.
        let err = read_records(&format!("{good}\n{{\"x\":1}}\n")).unwrap_err();
        assert!(err.starts_with("line 2: not a sweep record"), "{err}");
        assert_eq!(read_records(&format!("{good}\n\n")).unwrap().1, good.len() + 2);
    }

    /// A record of scenario `name` at fingerprint `fp` (`None`: an older build's, naming neither).
    fn rec(name: Option<&str>, fp: Option<&str>) -> SeedRecord {
        let v = serde_json::json!({
            "scenario": "s.toml", "variant": "a", "seed": 1, "status": "ok", "trace_hash": "00", "events": 1,
            "requests": {"total": 1, "ok": 1, "failed": 0, "timed_out": 0},
            "latency_ms": {"mean": 1.0, "p50": 1.0, "p90": 1.0, "p99": 1.0, "p999": 1.0, "max": 1.0},
            "anomalies": {}, "latency_buckets": [[1000, 1]], "sim_revision": faultline_models::SIM_REVISION,
            "scenario_name": name, "fingerprint": fp,
        });
        serde_json::from_value(v).unwrap()
    }

    /// A seed that sent no request has no success rate: not 0% in the mean, and among the worst.
    #[test]
    fn a_seed_without_requests_has_no_success_rate() {
        let mut rs: Vec<SeedRecord> = (1..=3).map(|s| SeedRecord { seed: s, ..rec(Some("a"), Some("01")) }).collect();
        rs[1].requests = faultline_models::report::Requests { total: 0, ok: 0, failed: 0, timed_out: 0 };
        rs[1].latency_ms = LatencySummary::default();
        rs[2].requests.failed = 1;
        rs[2].requests.total = 2;
        assert_eq!(rs[1].success_rate(), None);
        let r = aggregate("s", &["a".to_owned()], &rs);
        let v = &r.variants[0];
        assert_eq!((v.figures["success_rate"].mean, v.figures["success_rate"].n), (0.75, 2));
        let worst: Vec<(u64, Option<f64>)> = v.worst_seeds.iter().map(|w| (w.seed, w.success_rate)).collect();
        assert_eq!(worst, [(2, None), (3, Some(0.5)), (1, Some(1.0))]);
    }

    /// Records of two scenarios, or of one before and after an edit, were pooled without a word
    /// (`merge`, `report`): they are refused, saying which is which.
    #[test]
    fn records_of_two_scenarios_or_two_versions_of_one_are_not_pooled() {
        let (a, a2, b) = (rec(Some("a"), Some("01")), rec(Some("a"), Some("02")), rec(Some("b"), Some("03")));
        assert!(same_model(&a, &a.clone()).is_ok());
        let e = same_model(&b, &a).unwrap_err();
        assert!(e.contains("scenarios `a` and `b`"), "{e}");
        let e = same_model(&a2, &a).unwrap_err();
        assert!(e.contains("two versions of scenario `a` (fingerprints 01 and 02"), "{e}");
        let e = same_model(&a, &rec(None, None)).unwrap_err();
        assert!(e.contains("written by an older build"), "{e}");
        assert!(same_model(&rec(None, None), &rec(None, None)).is_ok());
    }

    /// Resuming a file of another scenario, or of this one before an edit, once pooled the two.
    #[test]
    fn only_runs_of_this_very_scenario_are_resumed() {
        let text = "[scenario]\nname = \"a\"\nduration_s = 1\n[[region]]\nname = \"r\"\nzones = [\"z\"]\n";
        let sc = Scenario::parse(&crate::Source { file: "a.toml".into(), text: text.into() }).unwrap();
        let here = sc.fingerprint.clone();
        assert!(resumable(&rec(Some("a"), Some(&here)), &sc).is_ok());
        let edited = format!("{text}# a comment, and the order of keys, change nothing\n");
        assert_eq!(Scenario::parse(&crate::Source { file: "a.toml".into(), text: edited }).unwrap().fingerprint, here);
        let e = resumable(&rec(Some("a"), Some("0123")), &sc).unwrap_err();
        assert!(
            e.contains("before an edit (fingerprint 0123; a.toml now gives") && e.contains("another --out file"),
            "{e}"
        );
        let e = resumable(&rec(Some("b"), Some("0123")), &sc).unwrap_err();
        assert!(e.contains("runs of scenario `b` (s.toml), not of `a`"), "{e}");
        let e = resumable(&rec(None, None), &sc).unwrap_err();
        assert!(e.contains("did not record the scenario's fingerprint"), "{e}");
    }

    /// A small scenario: one service, two seconds of Poisson arrivals, 10 ms windows.
    fn small() -> Scenario {
        let text = "[scenario]\nname = \"small\"\nduration_s = 2\nwindow_ms = 10\n\
            [[region]]\nname = \"r\"\nzones = [\"z\"]\n\
            [[service]]\nname = \"api\"\nregion = \"r\"\nservice_time = { dist = \"exponential\", mean_ms = 5 }\n\
            [[workload]]\nname = \"users\"\nzone = \"z\"\ntarget = \"api\"\n\
            arrival = { process = \"poisson\", rate_per_s = 200 }\ntimeout_ms = 500\n";
        Scenario::parse(&crate::Source { file: "small.toml".into(), text: text.into() }).unwrap()
    }

    /// A sweep kept every run's whole record (its per-window series and histogram: 66 KB a run
    /// in a 10 ms-window scenario) until the end. It keeps their figures, pools histograms as
    /// runs arrive, and aggregates exactly as from the whole records.
    #[test]
    fn runs_keep_only_the_figures_and_aggregate_as_whole_records_do() {
        let sc = small();
        let whole: Vec<SeedRecord> = (1..5).map(|seed| run_one(&sc, "base", seed).unwrap()).collect();
        assert!(whole.iter().all(|r| r.ok_per_window.len() > 100 && !r.latency_buckets.is_empty()));
        let mut runs = Runs::new(false);
        // A (variant, seed) seen again is dropped, as `aggregate` drops it.
        for r in whole.iter().chain(&whole[..2]) {
            runs.push(r.clone()).unwrap();
        }
        assert_eq!(runs.records().len(), 4);
        for r in runs.records() {
            assert!(r.latency_buckets.is_empty() && r.ok_per_window.is_empty() && r.failed_per_window.is_empty());
            assert!(r.p99_ms_per_window.is_empty() && r.faults.is_empty());
        }
        let order = ["base".to_owned()];
        let report = runs.aggregate("small", &order, &sc.expectations);
        assert_eq!(report, aggregate_with("small", &order, &whole, &sc.expectations));
        assert!(report.variants[0].pooled_latency_ms.max > Some(0.0));
        let mut kept = Runs::new(true);
        whole.iter().for_each(|r| kept.push(r.clone()).unwrap());
        assert_eq!(kept.records(), &whole[..]);
    }

    /// `sweep --seeds 1..100000000` built its whole plan, and every run's record, before
    /// writing one (6.5 GB in 8 s): jobs are taken from the plan as threads get free, never
    /// more than a bounded number past the oldest unfinished one, records are handed on in plan
    /// order, and an error stops the sweep.
    #[test]
    fn a_sweep_of_endless_seeds_runs_only_a_bounded_way_ahead_and_stops_at_an_error() {
        let sc = small();
        let v = ["base".to_owned()];
        let pulled = std::sync::atomic::AtomicUsize::new(0);
        let jobs = plan(&v, 0, u64::MAX, (1, 1)).inspect(|_| {
            pulled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        let mut seeds = Vec::new();
        let result = run_streaming(&sc, jobs, 2, |r| {
            seeds.push(r.seed);
            if seeds.len() == 5 { Err("enough".to_owned()) } else { Ok(()) }
        });
        assert_eq!(result, Err("enough".to_owned()));
        assert_eq!(seeds, [0, 1, 2, 3, 4]);
        let pulled = pulled.into_inner();
        assert!((5..=4 + 2 * AHEAD_PER_THREAD).contains(&pulled), "{pulled} jobs started");
    }
}
