//! `faultline`: the command line. Only this crate knows about argv, stdout, files and exit
//! codes (0 ok, 1 a check failed, 2 bad input or usage, 3 a budget ran out).

/// `print!` through [`output::stdout`]: a closed pipe ends the output quietly, not in a panic.
macro_rules! out {
    ($($arg:tt)*) => {
        output::stdout(&format!($($arg)*)).map_err(Failure::BadInput)
    };
}

/// `println!` through [`output::stdout`].
macro_rules! outln {
    ($($arg:tt)*) => {
        output::stdout(&format!("{}\n", format_args!($($arg)*))).map_err(Failure::BadInput)
    };
}

/// `eprintln!` that never panics: stderr may be a closed pipe too (`2>&1 | head`), and a
/// message nobody can read is no reason to crash.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod crosscheck;
mod html;
mod output;
mod summary;

use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use faultline_models::check;
use faultline_scenarios::{
    Changes, ParseError, Scenario, ScenarioErrors, Source, catalog, count, expect, file_name_part, replay, runner,
    shrink, sweep,
};

#[derive(Parser)]
#[command(
    name = "faultline",
    version,
    long_version = concat!(env!("CARGO_PKG_VERSION"), " (simulation revision ", faultline_models::sim_revision!(), ")"),
    about = "Deterministic simulator and chaos testbed for distributed-system designs"
)]
struct Cli {
    /// More diagnostics on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one seed of a scenario (a file, or a name from `faultline list`).
    Run {
        /// A scenario file, or a name from `faultline list`.
        scenario: String,
        /// Master seed (default: the scenario's `seed`, or 1).
        #[arg(long)]
        seed: Option<u64>,
        /// Variant to run (default: the first).
        #[arg(long)]
        variant: Option<String>,
        /// Print one JSON object instead of the summary.
        #[arg(long)]
        json: bool,
        /// Write every applied event as JSON Lines to FILE.
        #[arg(long, value_name = "FILE")]
        trace: Option<String>,
        /// Stop (exit 3) after this many events (overrides the scenario's `max_events`).
        #[arg(long)]
        max_events: Option<u64>,
        /// Record every database's client operations and write them to FILE as a Jepsen-style
        /// history (JSON Lines; see `check-history`).
        #[arg(long, value_name = "FILE")]
        history: Option<String>,
        /// Write a replay file (scenario embedded, seed, variant, trace hash) to FILE.
        #[arg(long, value_name = "FILE")]
        save_replay: Option<String>,
        #[command(flatten)]
        changes: ChangeArgs,
    },
    /// Shrink a failing run: fewer, shorter, weaker faults, less workload, fewer nodes, while
    /// the same check still fails; writes the smallest case as a replay file and prints a Rust
    /// test that reproduces it.
    Shrink {
        /// A scenario (file or catalog name) or a replay file (`.json`).
        scenario: String,
        /// Master seed of the failing run (default: the scenario's `seed`, or 1; a replay
        /// file's own).
        #[arg(long)]
        seed: Option<u64>,
        /// Variant of the failing run (default: the first; a replay file's own).
        #[arg(long)]
        variant: Option<String>,
        /// The check that fails (`FIGURE OP NUMBER`, as in `[[expect]]`); default: the first of
        /// the scenario's expectations that fails.
        #[arg(long)]
        check: Option<String>,
        /// Take the check's figure during this fault.
        #[arg(long)]
        during: Option<String>,
        /// Where to write the replay file (default: shrunk-SCENARIO-VARIANT-SEED.json).
        #[arg(long, value_name = "FILE")]
        out: Option<String>,
        /// Give up after this many runs.
        #[arg(long, default_value_t = 400)]
        max_runs: usize,
        #[command(flatten)]
        changes: ChangeArgs,
    },
    /// Re-run a replay file (from `run --save-replay`, the TUI, `sweep` or `shrink`) and say
    /// whether it reproduced the recorded trace hash (exit 1 if not).
    Replay {
        /// A replay file (`.json`).
        file: String,
        /// Print the run's JSON report instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Watch and steer runs in a terminal UI (docs/tui.md): topology and health, live charts,
    /// faults injected by key (recorded for `replay`), two variants side by side, a sweep's runs.
    Tui {
        /// A scenario (file or catalog name); without one, pick from the catalog.
        scenario: Option<String>,
        /// Master seed (default: the scenario's `seed`, or 1).
        #[arg(long)]
        seed: Option<u64>,
        /// Variant to run (default: the first).
        #[arg(long)]
        variant: Option<String>,
        /// Start with the next variant side by side.
        #[arg(long)]
        compare: bool,
        /// Browse the runs of a sweep's `--out` file.
        #[arg(long, value_name = "FILE.jsonl")]
        sweep: Option<String>,
        /// Start paused.
        #[arg(long)]
        paused: bool,
        /// Simulated seconds per real second (default 2; the nearest offered speed is used).
        #[arg(long)]
        speed: Option<f64>,
        /// Keep the session in this replay file (rewritten at each command and at the end).
        #[arg(long, value_name = "FILE")]
        save_replay: Option<String>,
        #[command(flatten)]
        changes: ChangeArgs,
    },
    /// Describe a scenario in words: topology, workload, components, fault timeline, variants.
    Explain {
        /// A scenario file, or a name from `faultline list`.
        scenario: String,
        /// Describe the scenario as this variant changes it (default: the base, and what each
        /// variant changes).
        #[arg(long)]
        variant: Option<String>,
        #[command(flatten)]
        changes: ChangeArgs,
    },
    /// Check a scenario without running it.
    Validate {
        /// A scenario file, or a name from `faultline list`.
        scenario: String,
        #[command(flatten)]
        changes: ChangeArgs,
    },
    /// List the built-in scenarios.
    List,
    /// Run every variant over a range of seeds; aggregate per variant and as paired differences.
    Sweep(SweepArgs),
    /// Write the HTML report (SVG charts and their CSV data) of sweep `--out` files.
    Report {
        /// Sweep `--out` files (shards are merged).
        #[arg(required = true)]
        files: Vec<String>,
        /// Directory to write `index.html` and its CSV files into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: String,
        /// The scenario whose expectations to check (default: the file or catalog name the
        /// records give, as the sweep was run).
        #[arg(long, value_name = "SCENARIO")]
        scenario: Option<String>,
    },
    /// Gate a candidate sweep against a baseline sweep (their `--out` files), paired by seed:
    /// exit 1 when a figure regressed beyond its confidence interval (simultaneous intervals:
    /// a candidate that changed nothing fails at most 5% of the time).
    Compare {
        /// The baseline sweep's `--out` file.
        #[arg(value_name = "BASELINE.jsonl")]
        baseline: String,
        /// The candidate sweep's `--out` file (the same seeds, paired with the baseline's).
        #[arg(value_name = "CANDIDATE.jsonl")]
        candidate: String,
        /// Gate on this figure only (repeatable; default: all of success_rate, latency_mean_ms,
        /// latency_p50_ms, latency_p99_ms, latency_p999_ms, timed_out).
        #[arg(long, value_name = "NAME")]
        figure: Vec<String>,
        /// A change within this percentage of the baseline's mean is never a regression.
        #[arg(long, value_name = "PERCENT", default_value_t = 0.0)]
        tolerance_pct: f64,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        /// Compare even if runs of either side's sweep are missing (a shard's file, an
        /// interrupted sweep): by default that is an error, so that a gate cannot pass on part
        /// of its seeds.
        #[arg(long)]
        partial: bool,
    },
    /// Combine the `--out` files of sweep shards into the result one sweep would give.
    Merge {
        /// Sweep `--out` files of the shards.
        #[arg(required = true)]
        files: Vec<String>,
        /// Print one JSON object instead of the tables.
        #[arg(long)]
        json: bool,
        /// The scenario whose expectations to check (default: the file or catalog name the
        /// records give, as the sweep was run).
        #[arg(long, value_name = "SCENARIO")]
        scenario: Option<String>,
        /// Merge even if runs of the sweeps are missing (a shard's file, an interrupted sweep):
        /// by default that is an error, so that a gate cannot pass on part of its seeds.
        #[arg(long)]
        partial: bool,
    },
    /// Check a Jepsen-style history (JSON Lines) for linearizability (exit 1 if it is not).
    CheckHistory {
        /// A history in JSON Lines (docs/cli.md gives the format).
        file: String,
        /// `register`: the whole history is one register; `kv`: one register per key.
        #[arg(long, value_enum)]
        model: HistoryModel,
        /// Give up (exit 3) after this many seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
        timeout_s: f64,
        /// Give up (exit 3) after this many search steps (memory grows with them: about 11
        /// bytes each).
        #[arg(long, default_value_t = check::Budget::DEFAULT_MAX_STEPS)]
        max_steps: u64,
        /// Print one JSON object instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Run one seed through the engine and through the same components as tokio services under
    /// turmoil (docs/testing.md); print each workload's figures side by side.
    Crosscheck {
        /// A scenario file, or a name from `faultline list`.
        scenario: String,
        /// Master seed (default: the scenario's `seed`, or 1).
        #[arg(long)]
        seed: Option<u64>,
        /// Variant to run (default: the first).
        #[arg(long)]
        variant: Option<String>,
        /// Turmoil's step, ms: timers wake and messages arrive on steps.
        #[arg(long, default_value_t = 1.0)]
        tick_ms: f64,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        changes: ChangeArgs,
    },
    /// Run a seed twice and compare trace hashes; name the first differing event.
    CheckDeterminism {
        /// A scenario file, or a name from `faultline list`.
        scenario: String,
        /// Master seed (default: the scenario's `seed`, or 1).
        #[arg(long)]
        seed: Option<u64>,
        /// Variant to check (default: every variant).
        #[arg(long)]
        variant: Option<String>,
        #[command(flatten)]
        changes: ChangeArgs,
    },
}

#[derive(clap::Args)]
struct SweepArgs {
    /// A scenario file, or a name from `faultline list`.
    scenario: String,
    /// Seed range `A..B` (B excluded).
    #[arg(long)]
    seeds: String,
    /// Worker threads (default, or 0: all cores). The output does not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Only these variants (repeatable; default: all).
    #[arg(long)]
    variant: Vec<String>,
    /// Print one JSON object instead of the tables.
    #[arg(long)]
    json: bool,
    /// Append one JSON line per (variant, seed) as results complete; re-running with the same
    /// file resumes, skipping what is already there.
    #[arg(long, value_name = "FILE.jsonl")]
    out: Option<String>,
    /// Run only the K-th of N disjoint slices of the seeds (`K/N`); combine with `merge`.
    #[arg(long, value_name = "K/N")]
    shard: Option<String>,
    /// Write a replay file for each variant's worst seeds into DIR.
    #[arg(long, value_name = "DIR")]
    save_replays: Option<String>,
    /// Write an HTML report (SVG charts, CSV data) into DIR.
    #[arg(long, value_name = "DIR")]
    report: Option<String>,
    #[command(flatten)]
    changes: ChangeArgs,
}

/// Changes to the scenario made on the command line (docs/cli.md, "Changing a scenario from the
/// command line").
#[derive(clap::Args)]
struct ChangeArgs {
    /// Change the scenario as if its file said so: PATH is a `[[variant]]` `set` path
    /// (`service.api.workers`), VALUE a TOML value or a bare word (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<String>,
    /// Make one variant per value of PATH (each of the file's variants once per value); with
    /// several, one per combination.
    #[arg(long, value_name = "PATH=V1,V2,…")]
    vary: Vec<String>,
}

impl ChangeArgs {
    fn changes(self) -> Changes {
        Changes { set: self.set, vary: self.vary }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum HistoryModel {
    Register,
    Kv,
}

/// Exit codes of the contract.
const EXIT_CHECK_FAILED: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;
const EXIT_BUDGET: u8 = 3;

/// Tells glibc's allocator to keep freed memory instead of handing it back to the kernel. Why:
/// each run of a sweep builds a world of growing vectors and drops it; glibc trimmed those
/// pages and the next run faulted them in again and copied into them as its vectors grew — a
/// twentieth of a checkout sweep's CPU in the kernel (`perf`, docs/performance.md). Now the
/// next run reuses it.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets allocator parameters; called before any thread starts.
    unsafe {
        // A fixed mmap threshold (32 MiB, glibc's maximum) also stops glibc from moving it.
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}

/// A file-size limit (`ulimit -f`) kills a process that writes past it (SIGXFSZ) before it can
/// remove its temporary file: ignored, the write fails instead (EFBIG), and the command cleans
/// up and says which output it could not write.
fn fail_writes_past_the_file_size_limit() {
    #[cfg(unix)]
    // SAFETY: sets a signal's disposition to "ignore"; called before any thread starts.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

fn main() -> ExitCode {
    keep_freed_memory();
    fail_writes_past_the_file_size_limit();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_BAD_INPUT } else { 0 });
        }
    };
    init_tracing(cli.verbose);
    match dispatch(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(Failure::BadInput(msg)) => {
            note!("error: {msg}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
        Err(Failure::Scenario(errs)) => {
            report_scenario_errors(&errs);
            ExitCode::from(EXIT_BAD_INPUT)
        }
        Err(Failure::Budget(e)) => {
            note!("inconclusive: {e}");
            ExitCode::from(EXIT_BUDGET)
        }
    }
}

enum Failure {
    BadInput(String),
    Scenario(ScenarioErrors),
    Budget(faultline_sim::BudgetExceeded),
}

impl Failure {
    /// One line for a note.
    fn message(&self) -> String {
        match self {
            Failure::BadInput(m) => m.clone(),
            Failure::Scenario(errs) => errs.errors.first().map_or_else(String::new, |e| e.one_line()),
            Failure::Budget(e) => e.to_string(),
        }
    }
}

impl From<faultline_scenarios::testing::RunError> for Failure {
    fn from(e: faultline_scenarios::testing::RunError) -> Self {
        use faultline_scenarios::testing::RunError;
        match e {
            RunError::Scenario(errs) => Failure::Scenario(errs),
            RunError::Budget(b) => Failure::Budget(b),
            RunError::Other(m) => Failure::BadInput(m),
        }
    }
}

impl From<ScenarioErrors> for Failure {
    fn from(e: ScenarioErrors) -> Self {
        Failure::Scenario(e)
    }
}

impl From<faultline_sim::BudgetExceeded> for Failure {
    fn from(e: faultline_sim::BudgetExceeded) -> Self {
        Failure::Budget(e)
    }
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // No wall-clock stamps: events carry their simulated time (`t_ns`). Colours only on a
    // terminal: in a log file or a pipe the escape codes are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .without_time()
        .try_init();
}

fn report_scenario_errors(errs: &ScenarioErrors) {
    for e in &errs.errors {
        note!("error: {}", e.one_line());
    }
    let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
    for e in &errs.errors {
        let mut s = String::new();
        if handler.render_report(&mut s, e).is_ok() {
            note!("{s}");
        }
    }
}

/// A scenario argument: a path to a TOML file, or the name of a catalog entry.
/// The run's output (JSON or summary) with the scenario's expectations checked: exit 1 if one
/// fails. Each failed one is named once where a person reads the result: in the summary's
/// `FAIL` lines, or with `--json` (which only a program reads) on stderr.
fn with_expectations(sc: &Scenario, variant: &str, report: &faultline_models::RunReport, json: bool) -> (u8, String) {
    let mut value = serde_json::to_value(report).expect("report serialises");
    let verdicts: Vec<expect::Verdict> =
        sc.expectations.iter().filter(|e| e.applies_to(variant)).map(|e| e.verdict(report, &value)).collect();
    let failed = verdicts.iter().filter(|v| !v.passed).count();
    let text = if json {
        if !verdicts.is_empty() {
            value["expectations"] = serde_json::to_value(&verdicts).expect("verdicts serialise");
        }
        format!("{}\n", serde_json::to_string_pretty(&value).expect("report serialises"))
    } else {
        let mut t = summary::render(report);
        if !verdicts.is_empty() {
            t.push_str(&format!("\nexpectations ({} of {} passed)\n", verdicts.len() - failed, verdicts.len()));
            for v in &verdicts {
                let during = v.during.as_ref().map(|d| format!(" during `{d}`")).unwrap_or_default();
                let value = v.value.map_or("no value".to_owned(), |x| expect::show_value(&v.check, x));
                t.push_str(&format!("  {} {}{during}: {value}\n", if v.passed { "pass" } else { "FAIL" }, v.check));
            }
        }
        t
    };
    for v in verdicts.iter().filter(|v| !v.passed && json) {
        let during = v.during.as_ref().map(|d| format!(" during `{d}`")).unwrap_or_default();
        let value = v.value.map_or("has no value".to_owned(), |x| format!("was {}", expect::show_value(&v.check, x)));
        note!("expectation failed: `{}`{during}: the figure {value}", v.check);
    }
    (if failed > 0 { EXIT_CHECK_FAILED } else { 0 }, text)
}

/// The bytes of file `path`, or the first `limit + 1` of them if it has more: whatever is
/// bigger than the limit is an error anyway, and an endless file (`/dev/zero`, a FIFO) must not
/// be read into memory whole first.
fn read_at_most(path: &str, limit: usize) -> Result<Vec<u8>, Failure> {
    use std::io::Read;
    let bad = |e: std::io::Error| Failure::BadInput(format!("{path}: {e}"));
    let mut bytes = Vec::new();
    std::fs::File::open(path).and_then(|f| f.take(limit as u64 + 1).read_to_end(&mut bytes)).map_err(bad)?;
    Ok(bytes)
}

fn load(arg: &str, changes: &Changes) -> Result<Scenario, Failure> {
    let src = if Path::new(arg).exists() {
        // `from_bytes` says that a file holding more than the limit is too big.
        Source::from_bytes(arg, read_at_most(arg, faultline_scenarios::MAX_FILE_BYTES)?)?
    } else if let Some(entry) = catalog::get(arg) {
        Source { file: format!("catalog/{}.toml", entry.name), text: entry.text.to_owned() }
    } else {
        let names: Vec<&str> = catalog::CATALOG.iter().map(|e| e.name).collect();
        return Err(Failure::BadInput(format!(
            "{arg}: no such file, and no catalog scenario of that name (catalog: {})",
            names.join(", ")
        )));
    };
    Scenario::parse_with(&src, changes).map_err(|e| match e {
        ParseError::File(e) => Failure::Scenario(e),
        ParseError::Changes(m) => Failure::BadInput(format!("{}: {m}", src.file)),
    })
}

fn parse_pair(s: &str, sep: &str, what: &str) -> Result<(u64, u64), Failure> {
    let bad = || Failure::BadInput(format!("expected {what}, found `{s}`"));
    let (a, b) = s.split_once(sep).ok_or_else(bad)?;
    Ok((a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?))
}

fn sweep_cmd(args: SweepArgs) -> Result<u8, Failure> {
    let SweepArgs {
        scenario: arg,
        seeds,
        threads,
        variant: only,
        json,
        out,
        shard,
        save_replays,
        report: html_dir,
        changes,
    } = args;
    let (arg, seeds, save_replays) = (arg.as_str(), seeds.as_str(), save_replays.as_deref());
    let sc = load(arg, &changes.changes())?;
    // Where the outputs go, before any run.
    for dir in [save_replays, html_dir.as_deref()].into_iter().flatten() {
        output::check_directory(dir).map_err(Failure::BadInput)?;
    }
    if let Some(n) = threads.filter(|&n| n > sweep::MAX_THREADS) {
        return Err(Failure::BadInput(format!(
            "--threads {n}: expected at most {} threads (0: one per core)",
            sweep::MAX_THREADS
        )));
    }
    let (from, to) = parse_pair(seeds, "..", "a seed range A..B")?;
    if to <= from {
        return Err(Failure::BadInput(format!(
            "empty seed range {seeds}: B is excluded (`{from}..{}` runs seed {from})",
            from.saturating_add(1)
        )));
    }
    let shard = match shard {
        Some(s) => match parse_pair(&s, "/", "a shard K/N")? {
            (k, n) if n >= 1 && (1..=n).contains(&k) => (k, n),
            _ => return Err(Failure::BadInput(format!("expected a shard K/N with 1 ≤ K ≤ N, found `{s}`"))),
        },
        None => (1, 1),
    };
    let variants: Vec<String> = if only.is_empty() {
        sc.variants.iter().map(|v| v.name.clone()).collect()
    } else {
        for (i, v) in only.iter().enumerate() {
            sc.variant(Some(v)).map_err(Failure::BadInput)?;
            // Run twice, a variant would be paired with itself and written twice to `--out`.
            if only[..i].contains(v) {
                return Err(Failure::BadInput(format!("--variant `{v}` is given twice")));
            }
        }
        only
    };
    // Resume: keep what a previous run of this sweep wrote. The HTML report draws every run's
    // series; otherwise only each run's figures are kept (docs/performance.md#sweeps).
    let mut runs = sweep::Runs::new(html_dir.is_some());
    let mut file = None;
    if let Some(path) = &out {
        use std::io::{Seek, SeekFrom};
        let bad = |e: String| Failure::BadInput(format!("{path}: {e}"));
        // Read a line at a time, so a big file is not held in memory; only a missing file
        // starts empty, anything unreadable (not UTF-8, a directory) is an error, not a file to
        // truncate.
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| bad(e.to_string()))?;
        let keep = sweep::read_records_from(std::io::BufReader::new(&f), |r| {
            sweep::resumable(&r, &sc)?;
            if variants.contains(&r.variant) && sweep::in_plan(r.seed, from, to, shard) {
                runs.push(r)?;
            }
            Ok(())
        })
        .map_err(bad)?;
        f.set_len(keep).map_err(|e| bad(e.to_string()))?;
        f.seek(SeekFrom::End(0)).map_err(|e| bad(e.to_string()))?;
        file = Some(f);
    }
    if sweep::plan_len(variants.len(), from, to, shard) == 0 {
        note!("note: shard {}/{} of seeds {seeds} holds no seed (fewer seeds than shards)", shard.0, shard.1);
    }
    let resumed = runs.seeds().clone();
    let todo = sweep::plan(&variants, from, to, shard)
        .filter(move |(v, seed)| !resumed.get(v).is_some_and(|s| s.contains(seed)));
    let todo_len = sweep::plan_len(variants.len(), from, to, shard).saturating_sub(runs.records().len() as u64);
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new(todo_len)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs · {elapsed} elapsed · eta {eta}")
            .expect("valid template"),
    );
    // No more threads than runs: the others would only be started and stopped.
    let threads = threads
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(usize::try_from(todo_len).unwrap_or(usize::MAX))
        .max(1);
    let plan = sweep::Plan { from, to, shards: shard.1, variants: variants.clone() };
    sweep::run_streaming(&sc, todo, threads, |mut r| {
        r.plan = Some(plan.clone());
        if let Some(f) = file.as_mut() {
            use std::io::Write;
            let line = serde_json::to_string(&r).expect("record serialises");
            writeln!(f, "{line}").and_then(|_| f.flush()).map_err(|e| format!("writing --out: {e}"))?;
        }
        runs.push(r)?;
        bar.inc(1);
        Ok(())
    })
    .map_err(Failure::BadInput)?;
    bar.finish_and_clear();
    let records = runs.records();
    let scenario = records.first().map_or(arg.to_owned(), |r| r.scenario.clone());
    let report = runs.aggregate(&scenario, &variants, &sc.expectations);
    if let Some(dir) = save_replays {
        std::fs::create_dir_all(dir).map_err(|e| Failure::BadInput(format!("{dir}: {e}")))?;
        for v in &report.variants {
            for w in &v.worst_seeds {
                let rec =
                    records.iter().find(|r| r.variant == v.variant && r.seed == w.seed).expect("a worst seed ran");
                let mut r = replay::Replay::new(&sc, &v.variant, w.seed);
                (r.trace_hash, r.events) = (Some(rec.trace_hash.clone()), Some(rec.events));
                let (name, variant) = (file_name_part(&sc.name), file_name_part(&v.variant));
                let path = Path::new(dir).join(format!("{name}-{variant}-{}.json", w.seed));
                output::write_atomic(&path.to_string_lossy(), &r.to_json()).map_err(Failure::BadInput)?;
            }
        }
        note!("wrote replay files of the worst seeds to {dir}/");
    }
    if let Some(dir) = &html_dir {
        write_html(dir, &report, records)?;
    }
    print_sweep(&report, json)?;
    Ok(sweep_exit(&report, json, shard))
}

fn write_html(dir: &str, report: &sweep::SweepReport, records: &[sweep::SeedRecord]) -> Result<(), Failure> {
    let files = html::render(report, records).map_err(Failure::BadInput)?;
    std::fs::create_dir_all(dir).map_err(|e| Failure::BadInput(format!("{dir}: {e}")))?;
    for (name, text) in &files {
        output::write_atomic(&Path::new(dir).join(name).to_string_lossy(), text).map_err(Failure::BadInput)?;
    }
    note!("wrote {dir}/index.html and the data of its {} charts", files.len() - 1);
    Ok(())
}

/// The records of sweep `--out` files, read a line at a time: runs of one model only (one
/// simulation revision, one scenario, one version of it), or an error naming the files that
/// mix them; the record of each (variant, seed), whole or its figures only (`whole`). Two
/// records of one (variant, seed) must be the same (shards merged twice, a file given twice):
/// two different ones are an error naming both lines, not a silent choice of the first.
fn read_sweep_files(files: &[String], whole: bool) -> Result<sweep::Runs, Failure> {
    let mut runs = sweep::Runs::new(whole);
    let mut first_file = None;
    // Per (variant, seed): where its first record is, and a hash of it.
    let mut seen: std::collections::BTreeMap<(String, u64), (usize, u64, u64)> = Default::default();
    for (fi, f) in files.iter().enumerate() {
        let input = std::fs::File::open(f).map_err(|e| Failure::BadInput(format!("{f}: {e}")))?;
        // A record of another model names the file of the first record too.
        let mut mixed = None;
        sweep::read_numbered_records_from(std::io::BufReader::new(input), |line, mut r| {
            let ff = *first_file.get_or_insert(f);
            // The run, not the plan that asked for it: one seed run by two sweeps is one run.
            let plan = r.plan.take();
            let hash = faultline_sim::rng::fnv1a64(serde_json::to_string(&r).expect("a record serialises").as_bytes());
            r.plan = plan;
            let key = (r.variant.clone(), r.seed);
            // Runs of another model first: that is the message for them.
            runs.push(r).inspect_err(|e| {
                mixed = Some(if ff == f { format!("{f}: {e}") } else { format!("{ff} and {f}: {e}") })
            })?;
            match seen.entry(key) {
                std::collections::btree_map::Entry::Occupied(e) => {
                    let (&(gi, gline, ghash), (variant, seed)) = (e.get(), e.key());
                    if ghash != hash {
                        let err = format!(
                            "{}:{gline} and {f}:{line}: two different records of variant `{variant}` seed {seed} \
                             (runs of two sweeps? keep one of them)",
                            files[gi]
                        );
                        mixed = Some(err.clone());
                        return Err(err);
                    }
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert((fi, line, hash));
                }
            }
            Ok(())
        })
        .map_err(|e| Failure::BadInput(mixed.take().unwrap_or_else(|| format!("{f}: {e}"))))?;
    }
    if runs.records().is_empty() {
        return Err(Failure::BadInput(match files {
            [f] => format!("{f}: no complete sweep record (`sweep --out` writes one JSON object per line)"),
            _ => format!("none of {} holds a complete sweep record", files.join(", ")),
        }));
    }
    Ok(runs)
}

/// Aggregates records (variants in the scenario's order, as the sweep had them; in order of
/// first appearance if the scenario cannot be read) with their scenario's
/// expectations: `scenario` if given (it must load), else the one the records name (a catalog
/// name, or a path as the sweep was given it) — unless that file has been edited since (another
/// fingerprint): its expectations may no longer be the records' ones. A scenario that is not
/// there is said on stderr, never skipped in silence: a gate must not pass for want of a file.
fn aggregate_records(runs: &sweep::Runs, scenario: Option<&str>) -> Result<sweep::SweepReport, Failure> {
    let records = runs.records();
    let (named, changes) = (records[0].scenario.clone(), records[0].changes());
    let (_, order) = sweep::by_variant(records);
    let (path, sc) = match scenario {
        Some(path) => load(path, &changes).map(|sc| (path, sc))?,
        None => match load(&named, &changes) {
            Ok(sc) => (named.as_str(), sc),
            Err(e) => {
                note!(
                    "note: the records' scenario cannot be read here, so its expectations are not checked \
                     (name it with --scenario): {}",
                    e.message()
                );
                return Ok(runs.aggregate(&named, &order, &[]));
            }
        },
    };
    let expectations = if records[0].fingerprint.as_ref().is_none_or(|f| *f == sc.fingerprint) {
        sc.expectations
    } else if let Some(ran) = records[0].scenario_name.as_ref().filter(|&n| *n != sc.name) {
        note!(
            "note: {path} is scenario `{}`, but these runs are of `{ran}`: its expectations are not checked",
            sc.name
        );
        Vec::new()
    } else {
        note!("note: {path} has changed since these runs (another fingerprint): its expectations are not checked");
        Vec::new()
    };
    // The scenario's variant order, as the sweep had it (its first is the baseline of the paired
    // differences), not the order the files happen to list them in.
    let first_seen = order;
    let ours = records[0].scenario_name.as_ref().is_none_or(|n| *n == sc.name);
    let mut order: Vec<String> =
        sc.variants.iter().filter(|_| ours).map(|v| v.name.clone()).filter(|v| first_seen.contains(v)).collect();
    let unknown: Vec<String> = first_seen.into_iter().filter(|v| !order.contains(v)).collect();
    order.extend(unknown);
    Ok(runs.aggregate(&named, &order, &expectations))
}

/// What a compiled scenario holds, for `validate`: each kind of component it has, and its faults.
fn spec_shape(spec: &faultline_models::WorldSpec) -> String {
    let kinds = [
        (spec.workloads.len(), "workload"),
        (spec.balancers.len(), "load balancer"),
        (spec.services.len(), "service"),
        (spec.caches.len(), "cache"),
        (spec.queues.len(), "queue"),
        (spec.databases.len(), "database"),
        (spec.workflows.len(), "workflow"),
    ];
    let mut parts: Vec<String> = kinds.iter().filter(|(n, _)| *n > 0).map(|&(n, k)| count(n, k)).collect();
    parts.push(count(spec.faults.len(), "fault"));
    parts.join(", ")
}

/// Whether the records hold every run of the sweeps that wrote them (the plans their records
/// name: seeds, shards, variants). What is missing — a shard's file not given, a sweep cut short —
/// is an error when `strict` names the command (a gate must not pass on part of its seeds; the
/// message says how to go on with `--partial`), else a note. Records that name no plan (written by
/// earlier builds) get [`note_missing_seeds`]' gap check instead.
fn check_complete(runs: &sweep::Runs, strict: Option<&str>, file: Option<&str>) -> Result<(), Failure> {
    if !runs.has_plans() {
        note_missing_seeds(runs.seeds());
        return Ok(());
    }
    let mut lines = Vec::new();
    for (plan, sweep::Missing { runs: missing, shards }) in runs.incomplete() {
        let total = sweep::plan_len(plan.variants.len(), plan.from, plan.to, (1, 1));
        let whose = if plan.shards > 1 {
            let listed: Vec<String> = shards
                .iter()
                .map(|&(k, m, of)| {
                    if m == of {
                        format!("shard {k}/{} has no record", plan.shards)
                    } else {
                        format!("shard {k}/{} lacks {m} of its {of}", plan.shards)
                    }
                })
                .collect();
            let more = if shards.len() == 5 { "; …" } else { "" };
            format!(" ({}{more})", listed.join("; "))
        } else {
            String::new()
        };
        let hint = if plan.shards > 1 {
            "give every shard's --out file, or resume an interrupted shard with its --out"
        } else {
            "resume the interrupted sweep with the same --out"
        };
        lines.push(format!(
            "the sweep of seeds {}..{} ({}) lacks {} of its {total}{whose}: {hint}",
            plan.from,
            plan.to,
            count(plan.variants.len(), "variant"),
            count(missing, "run"),
        ));
    }
    if lines.is_empty() {
        return Ok(());
    }
    let file = file.map_or(String::new(), |f| format!("{f}: "));
    if let Some(command) = strict {
        Err(Failure::BadInput(format!("{file}{} (or {command} what there is with --partial)", lines.join("; "))))
    } else {
        for l in lines {
            note!("note: {file}{l}");
        }
        Ok(())
    }
}

/// For records written before records named their sweep's plan: a plan's seeds are one range
/// `A..B` for every variant, so a gap, or variants with different seeds, means a shard's file
/// (or part of it) is missing, which must not pass a gate unnoticed. Said on stderr.
fn note_missing_seeds(seeds: &std::collections::BTreeMap<String, std::collections::BTreeSet<u64>>) {
    let all: std::collections::BTreeSet<u64> = seeds.values().flatten().copied().collect();
    let (Some(&lo), Some(&hi)) = (all.first(), all.last()) else { return };
    // Variants missing the same seeds (the usual case: a whole shard) are named in one note.
    let mut gaps: std::collections::BTreeMap<(u64, Vec<u64>), Vec<&str>> = Default::default();
    for (variant, have) in seeds {
        let missing = (hi - lo).saturating_add(1) - have.len() as u64;
        if missing > 0 {
            let first = (lo..=hi).filter(|s| !have.contains(s)).take(5).collect();
            gaps.entry((missing, first)).or_default().push(variant);
        }
    }
    for ((missing, first), variants) in gaps {
        let first: Vec<String> = first.iter().map(u64::to_string).collect();
        let more = if missing > 5 { ", …" } else { "" };
        let whose = if variants.len() == seeds.len() {
            "any variant".to_owned()
        } else {
            variants.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
        };
        note!(
            "note: no record of {} between seeds {lo} and {hi} ({}{more}) for {whose}: is a shard's file missing?",
            count(missing, "seed"),
            first.join(", ")
        );
    }
}

/// 3 if a seed stopped at its budget, else 1 if an expectation failed, else 0 (for a shard,
/// `shard` K/N with N > 1, mean gates are left to `merge`). With `json` the failed expectations
/// are named on stderr (the text output has them in its `FAIL` lines).
fn sweep_exit(report: &sweep::SweepReport, json: bool, shard: (u64, u64)) -> u8 {
    let mut failed = false;
    for v in &report.variants {
        for e in v.expectations.iter().filter(|e| !e.passed) {
            // A shard holds some of the seeds: a mean gate over them says little about the mean
            // over all (it can fail here and pass merged), so `merge` judges it. A seed failing
            // an `each` gate fails the merged sweep too, so the shard fails now.
            if shard.1 > 1 && e.over_seeds == faultline_scenarios::expect::OverSeeds::Mean {
                note!(
                    "note: shard {}/{}: [{}] {} (mean over seeds) fails on this shard's seeds; \
                     mean gates are judged by `faultline merge` over all shards",
                    shard.0,
                    shard.1,
                    v.variant,
                    e.check
                );
                continue;
            }
            failed = true;
            if json {
                note!("expectation failed: {}", summary::sweep_verdict(v, e));
            }
        }
    }
    if report.variants.iter().any(|v| v.inconclusive > 0) {
        EXIT_BUDGET
    } else if failed {
        EXIT_CHECK_FAILED
    } else {
        0
    }
}

/// The terminal UI. Bad arguments are refused before the terminal is taken over.
fn tui_cmd(opts: faultline_tui::Options) -> Result<u8, Failure> {
    if let (Some(sc), Some(v)) = (&opts.scenario, &opts.variant) {
        sc.variant(Some(v)).map_err(Failure::BadInput)?;
    }
    if opts.scenario.is_none() {
        if opts.sweep.is_some() && (opts.seed.is_some() || opts.variant.is_some()) {
            return Err(Failure::BadInput(
                "--seed and --variant need a scenario: with --sweep alone, runs open at their record's seed and variant"
                    .into(),
            ));
        }
        // From the catalog picker: --variant applies to the scenario picked, so some must have it.
        if let Some(v) = &opts.variant {
            let has = |e: &catalog::Entry| {
                Scenario::parse(&Source { file: e.name.into(), text: e.text.into() })
                    .is_ok_and(|sc| sc.variants.iter().any(|x| &x.name == v))
            };
            if !catalog::CATALOG.iter().any(has) {
                return Err(Failure::BadInput(format!("no variant `{v}` in any catalog scenario")));
            }
        }
    }
    if let Some(s) = opts.speed
        && !(s.is_finite() && s > 0.0)
    {
        return Err(Failure::BadInput(format!(
            "--speed must be a positive number of simulated seconds per second, not {s}"
        )));
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return Err(Failure::BadInput("`faultline tui` needs a terminal: stdout is not one".into()));
    }
    faultline_tui::run(opts, Box::new(TuiHost)).map_err(|e| Failure::BadInput(format!("terminal: {e}")))
}

/// What the TUI may do outside the terminal: load scenarios and write replay files.
struct TuiHost;

impl faultline_tui::Host for TuiHost {
    fn load(&self, scenario: &str, changes: &Changes) -> Result<Scenario, String> {
        load(scenario, changes).map_err(|f| match f {
            Failure::BadInput(m) => m,
            Failure::Scenario(e) => e.errors.iter().map(|e| e.one_line()).collect::<Vec<_>>().join("; "),
            Failure::Budget(e) => e.to_string(),
        })
    }

    fn save(&self, path: &str, contents: &str) -> Result<(), String> {
        output::write_atomic(path, contents)
    }

    fn exists(&self, path: &str) -> bool {
        std::path::Path::new(path).exists()
    }
}

fn print_sweep(report: &sweep::SweepReport, json: bool) -> Result<(), Failure> {
    if json {
        outln!("{}", serde_json::to_string_pretty(report).expect("report serialises"))
    } else {
        out!("{}", summary::render_sweep(report))
    }
}

/// `check-history`: the verdict on stdout (0 linearizable, 1 not, 3 undecided), the time taken
/// on stderr (it is not part of the result).
/// Largest history `check-history` reads: about two million operations, a hundred times the
/// histories the checker is built for, and a bound on what a wrong path (`/dev/zero`) costs.
const MAX_HISTORY_BYTES: usize = 256 << 20;

fn check_history_cmd(
    file: &str,
    model: HistoryModel,
    timeout_s: f64,
    max_steps: u64,
    json: bool,
) -> Result<u8, Failure> {
    if timeout_s.is_nan() || timeout_s < 0.0 {
        return Err(Failure::BadInput(format!("--timeout-s must be a number of seconds ≥ 0, found {timeout_s}")));
    }
    let started = std::time::Instant::now();
    let bytes = read_at_most(file, MAX_HISTORY_BYTES)?;
    if bytes.len() > MAX_HISTORY_BYTES {
        return Err(Failure::BadInput(format!(
            "{file}: file is larger than {MAX_HISTORY_BYTES} bytes (the largest history check-history reads)"
        )));
    }
    let model = match model {
        HistoryModel::Register => check::Model::Register,
        HistoryModel::Kv => check::Model::Kv,
    };
    let history = check::parse(&bytes, model).map_err(|e| Failure::BadInput(format!("{file}:{e}")))?;
    // An infinite or huge timeout means no deadline.
    let deadline = std::time::Duration::try_from_secs_f64(timeout_s).ok().and_then(|d| started.checked_add(d));
    let report = check::check(&history, &check::Budget { max_steps, deadline });
    if json {
        let mut v = serde_json::to_value(&report).expect("report serialises");
        let obj = v.as_object_mut().expect("an object");
        obj.insert("schema_version".into(), 1.into());
        obj.insert("file".into(), file.into());
        obj.insert("model".into(), if model == check::Model::Kv { "kv" } else { "register" }.into());
        outln!("{}", serde_json::to_string_pretty(&v).expect("report serialises"))?;
    } else {
        match report.verdict {
            check::Verdict::Linearizable => {
                outln!(
                    "{file}: linearizable ({}, {})",
                    count(report.operations, "operation"),
                    count(report.keys, "key")
                )?;
            }
            check::Verdict::NotLinearizable => {
                outln!(
                    "{file}: NOT linearizable ({} of {} bad; {})",
                    report.violations.len(),
                    count(report.keys, "key"),
                    count(report.operations, "operation")
                )?;
                for v in &report.violations {
                    outln!("  {}", v.message)?;
                    if let Some(n) = v.linearized {
                        outln!("    longest linearizable prefix: {n} of its {}", count(v.operations, "operation"))?;
                    }
                    if !v.also_stuck.is_empty() {
                        let others: Vec<String> = v.also_stuck.iter().map(|o| o.placed()).collect();
                        outln!("    also stuck there: {}", others.join("; "))?;
                    }
                }
                if !report.unknown.is_empty() {
                    outln!("  {} undecided: the budget ran out", count(report.unknown.len(), "key"))?;
                }
            }
            check::Verdict::Unknown => {
                let first = &report.unknown[0];
                let what = match first.exhausted {
                    check::Exhausted::Steps => format!("the step budget ({})", count(max_steps, "step")),
                    check::Exhausted::Deadline => format!("the time budget ({timeout_s} s)"),
                };
                outln!(
                    "{file}: inconclusive — {what} ran out on {} ({} of {} undecided, no violation found)",
                    first.label,
                    report.unknown.len(),
                    count(report.keys, "key")
                )?;
            }
        }
    }
    note!("checked in {:.2} s ({})", started.elapsed().as_secs_f64(), count(report.steps, "search step"));
    Ok(match report.verdict {
        check::Verdict::Linearizable => 0,
        check::Verdict::NotLinearizable => EXIT_CHECK_FAILED,
        check::Verdict::Unknown => EXIT_BUDGET,
    })
}

fn dispatch(cmd: Command) -> Result<u8, Failure> {
    match cmd {
        Command::Run { scenario, seed, variant, json, trace, max_events, history, save_replay, changes } => {
            let sc = load(&scenario, &changes.changes())?;
            // Every output can be written, or nothing runs.
            for path in [&trace, &history, &save_replay].into_iter().flatten() {
                output::check_destination(path).map_err(Failure::BadInput)?;
            }
            let mut c = sc.variant(variant.as_deref()).map_err(Failure::BadInput)?;
            if let Some(m) = max_events {
                c.budget.max_events = m;
            }
            let recorded;
            if history.is_some() {
                if c.spec.databases.is_empty() {
                    return Err(Failure::BadInput(format!("{scenario}: `--history` needs a database to record")));
                }
                let mut spec = c.spec.clone();
                spec.databases.iter_mut().for_each(|d| d.record_history = true);
                recorded = spec;
                c.spec = &recorded;
            }
            let seed = seed.unwrap_or(sc.default_seed);
            // Outputs are published together once all are written: on any failure, none is (a
            // pending file is removed when dropped).
            let mut files = Vec::new();
            let (report, world) = match &trace {
                None => runner::run(&c, seed, None)?,
                Some(path) => {
                    let (sink, file) = output::JsonlTrace::create(path).map_err(Failure::BadInput)?;
                    let done = runner::run(&c, seed, Some(Box::new(sink)))?;
                    files.push(file);
                    done
                }
            };
            if let Some(path) = &history {
                files.push(output::write_history(path, &world).map_err(Failure::BadInput)?);
            }
            if let Some(path) = &save_replay {
                let mut r = replay::Replay::new(&sc, c.variant, seed);
                (r.trace_hash, r.events) = (Some(report.trace_hash.clone()), Some(report.events));
                files.push(output::Pending::write(path, &r.to_json()).map_err(Failure::BadInput)?);
            }
            output::commit_all(files).map_err(Failure::BadInput)?;
            let (code, text) = with_expectations(&sc, c.variant, &report, json);
            out!("{text}")?;
            Ok(code)
        }
        Command::Shrink { scenario, seed, variant, check, during, out, max_runs, changes } => {
            let changes = changes.changes();
            let (sc, seed, variant) = if scenario.ends_with(".json") && Path::new(&scenario).exists() {
                if !changes.is_empty() {
                    return Err(Failure::BadInput(format!(
                        "{scenario}: --set and --vary change a scenario, not a replay file (it embeds its own)"
                    )));
                }
                let r = replay::Replay::from_bytes(&scenario, read_at_most(&scenario, replay::MAX_FILE_BYTES)?)?;
                if !r.commands.is_empty() {
                    return Err(Failure::BadInput(format!(
                        "{scenario}: has interactively injected faults; shrinking works on scheduled ones (add them as [[fault]]s)"
                    )));
                }
                (r.scenario()?, seed.unwrap_or(r.seed), variant.unwrap_or(r.variant))
            } else {
                let sc = load(&scenario, &changes)?;
                let v = sc.variant(variant.as_deref()).map_err(Failure::BadInput)?.variant.to_owned();
                let seed = seed.unwrap_or(sc.default_seed);
                (sc, seed, v)
            };
            // Where the result goes must be writable before the runs start.
            let path = out.unwrap_or_else(|| {
                format!("shrunk-{}-{}-{seed}.json", file_name_part(&sc.name), file_name_part(&variant))
            });
            output::check_destination(&path).map_err(Failure::BadInput)?;
            let check = match check {
                Some(c) => shrink::parse_check(&sc, Some(&variant), &c, during.as_deref())?,
                None => {
                    // A run that stops at its budget is exit 3, as for `run`: there is nothing to shrink.
                    let out = faultline_scenarios::testing::run(&sc, Some(&variant), seed)?;
                    let first = out.violations.first().ok_or_else(|| {
                        Failure::BadInput(format!(
                            "{} [{variant}] seed {seed}: every expectation holds; give the failing check with --check",
                            sc.name
                        ))
                    })?;
                    sc.expectations
                        .iter()
                        .find(|e| e.check == first.check && e.during == first.during)
                        .expect("a violation is one of the expectations")
                        .clone()
                }
            };
            let failing = shrink::Failing { scenario: sc, variant, seed, check };
            let s = shrink::shrink(failing, max_runs).map_err(|e| match e {
                shrink::ShrinkError::Run(e) => Failure::from(e),
                e @ shrink::ShrinkError::NotFailing { .. } => Failure::BadInput(e.to_string()),
            })?;
            for step in &s.steps {
                note!("  {step}");
            }
            note!(
                "shrunk `{}` from {} to {} in {}; the figure {}",
                s.failing.check.check,
                count(s.faults_before, "fault"),
                s.faults_after,
                count(s.runs, "run"),
                s.value.map_or("has no value".to_owned(), |x| format!(
                    "is {}",
                    expect::show_value(&s.failing.check.check, x)
                ))
            );
            output::write_atomic(&path, &s.failing.replay().to_json()).map_err(Failure::BadInput)?;
            note!("wrote {path} (faultline replay {path})");
            out!("{}", shrink::rust_test(&s))?;
            Ok(0)
        }
        Command::Replay { file, json } => {
            let r = replay::Replay::from_bytes(&file, read_at_most(&file, replay::MAX_FILE_BYTES)?)?;
            let (report, _) = replay::run(&r, None).map_err(|e| match e {
                replay::ReplayError::Scenario(e) => Failure::Scenario(e),
                replay::ReplayError::Budget(e) => Failure::Budget(e),
            })?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&report).expect("report serialises"))?;
            } else {
                out!("{}", summary::render(&report))?;
            }
            let what = format!(
                "{} [{}] seed {} with {}: trace {} ({} events)",
                r.scenario,
                r.variant,
                r.seed,
                count(r.commands.len(), "command"),
                report.trace_hash,
                report.events
            );
            let unapplied = r.unapplied(report.events);
            if !unapplied.is_empty() {
                // Whatever the hash says, a run without all its commands is not the recorded one.
                let list: Vec<String> = unapplied
                    .iter()
                    .map(|(i, c)| match c {
                        replay::Command::Inject { at_event, fault, .. } => {
                            format!("command {} (inject `{fault}` at event {at_event})", i + 1)
                        }
                        replay::Command::Heal { at_event, index, .. } => {
                            format!("command {} (heal of fault {index} at event {at_event})", i + 1)
                        }
                    })
                    .collect();
                note!("NOT reproduced: {what}; never applied, the run having ended first: {}", list.join(", "));
                // At this build's revision a recorded session never has such a command: say so
                // rather than suspect the simulator's determinism.
                if r.sim_revision == Some(faultline_models::SIM_REVISION) {
                    note!("  (recorded at this build's simulation revision: the file was edited after it was saved)");
                } else {
                    note!("  ({})", r.mismatch_note());
                }
                return Ok(EXIT_CHECK_FAILED);
            }
            match &r.trace_hash {
                Some(h) if *h == report.trace_hash => {
                    note!("reproduced: {what}, as recorded");
                    Ok(0)
                }
                Some(h) => {
                    note!("NOT reproduced: {what}; the file recorded trace {h}");
                    note!("  ({})", r.mismatch_note());
                    Ok(EXIT_CHECK_FAILED)
                }
                None => {
                    note!("replayed: {what} (the file records no trace hash to compare)");
                    Ok(0)
                }
            }
        }
        Command::Tui { scenario, seed, variant, compare, sweep, paused, speed, save_replay, changes } => {
            let changes = changes.changes();
            if scenario.is_none() && !changes.is_empty() {
                return Err(Failure::BadInput("--set and --vary need a scenario to change".into()));
            }
            let opts = faultline_tui::Options {
                scenario: scenario.as_deref().map(|s| load(s, &changes)).transpose()?,
                variant,
                seed,
                compare,
                sweep: sweep
                    .map(|f| read_sweep_files(std::slice::from_ref(&f), true).map(|runs| (f, runs.into_records())))
                    .transpose()?,
                paused,
                speed,
                save_replay,
            };
            tui_cmd(opts)
        }
        Command::Explain { scenario, variant, changes } => {
            let sc = load(&scenario, &changes.changes())?;
            out!("{}", faultline_scenarios::explain::explain(&sc, variant.as_deref()).map_err(Failure::BadInput)?)?;
            Ok(0)
        }
        Command::Validate { scenario, changes } => {
            let sc = load(&scenario, &changes.changes())?;
            // What each variant builds; a variant that builds something else is named with it.
            let mut shapes: Vec<(String, Vec<&str>)> = Vec::new();
            for v in &sc.variants {
                let c = sc.variant(Some(&v.name)).map_err(Failure::BadInput)?;
                let shape = spec_shape(c.spec);
                match shapes.iter_mut().find(|(s, _)| *s == shape) {
                    Some((_, names)) => names.push(&v.name),
                    None => shapes.push((shape, vec![&v.name])),
                }
            }
            let first = shapes.remove(0).0;
            let others: String =
                shapes.iter().map(|(shape, names)| format!("; variant {}: {shape}", names.join(", "))).collect();
            outln!(
                "{}: ok — scenario `{}`, {}, {first}{others}",
                sc.source.file,
                sc.name,
                count(sc.variants.len(), "variant")
            )?;
            Ok(0)
        }
        Command::List => {
            for e in catalog::CATALOG {
                let sc = Scenario::parse(&Source { file: e.name.to_owned(), text: e.text.to_owned() })?;
                outln!("{:<28} {}", e.name, sc.description)?;
            }
            Ok(0)
        }
        Command::Sweep(args) => sweep_cmd(args),
        Command::Report { files, out, scenario } => {
            output::check_directory(&out).map_err(Failure::BadInput)?;
            let runs = read_sweep_files(&files, true)?;
            check_complete(&runs, None, None)?;
            let report = aggregate_records(&runs, scenario.as_deref())?;
            write_html(&out, &report, runs.records())?;
            Ok(0)
        }
        Command::Compare { baseline, candidate, figure, tolerance_pct, json, partial } => {
            let base = read_sweep_files(std::slice::from_ref(&baseline), false)?;
            let cand = read_sweep_files(std::slice::from_ref(&candidate), false)?;
            // A side missing runs of its own sweep (a lost shard, a sweep cut short) is a broken
            // job, not a smaller sample: an error, as for `merge`, unless `--partial`. A
            // candidate that ran fewer seeds than the baseline, all of them, is not.
            check_complete(&base, (!partial).then_some("compare"), Some(&baseline))?;
            check_complete(&cand, (!partial).then_some("compare"), Some(&candidate))?;
            let c =
                faultline_scenarios::compare::compare(base.records(), cand.records(), &figure, tolerance_pct / 100.0)
                    .map_err(Failure::BadInput)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&c).expect("comparison serialises"))?;
            } else {
                out!("{}", summary::render_comparison(&c, [&baseline, &candidate]))?;
            }
            Ok(if c.inconclusive() {
                EXIT_BUDGET
            } else if c.failed() {
                EXIT_CHECK_FAILED
            } else {
                0
            })
        }
        Command::Merge { files, json, scenario, partial } => {
            let runs = read_sweep_files(&files, false)?;
            check_complete(&runs, (!partial).then_some("merge"), None)?;
            let report = aggregate_records(&runs, scenario.as_deref())?;
            print_sweep(&report, json)?;
            Ok(sweep_exit(&report, json, (1, 1)))
        }
        Command::CheckHistory { file, model, timeout_s, max_steps, json } => {
            check_history_cmd(&file, model, timeout_s, max_steps, json)
        }
        Command::Crosscheck { scenario, seed, variant, tick_ms, json, changes } => {
            let sc = load(&scenario, &changes.changes())?;
            let c = sc.variant(variant.as_deref()).map_err(Failure::BadInput)?;
            if !(tick_ms.is_finite() && (0.001..=1000.0).contains(&tick_ms)) {
                return Err(Failure::BadInput(format!("--tick-ms {tick_ms}: expected 0.001 to 1000 ms")));
            }
            let seed = seed.unwrap_or(sc.default_seed);
            let r = crosscheck::run(c.spec, (&sc.name, c.variant), seed, tick_ms, c.budget).map_err(|e| match e {
                crosscheck::Error::Budget(b) => Failure::Budget(b),
                crosscheck::Error::Turmoil(m) => Failure::BadInput(format!("{scenario}: {m}")),
            })?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&r).expect("serialises"))?;
            } else {
                out!("{}", crosscheck::render(&r))?;
            }
            Ok(0)
        }
        Command::CheckDeterminism { scenario, seed, variant, changes } => {
            let sc = load(&scenario, &changes.changes())?;
            let seed = seed.unwrap_or(sc.default_seed);
            let names: Vec<String> = match variant {
                Some(v) => vec![v],
                None => sc.variants.iter().map(|v| v.name.clone()).collect(),
            };
            let mut all_ok = true;
            for v in &names {
                let c = sc.variant(Some(v)).map_err(Failure::BadInput)?;
                let r = runner::check_determinism(&c, seed)?;
                if r.deterministic() {
                    outln!(
                        "{} [{v}] seed {seed}: deterministic ({} events, trace {})",
                        sc.name,
                        r.events[0],
                        r.hashes[0]
                    )?;
                } else {
                    all_ok = false;
                    outln!("{} [{v}] seed {seed}: NOT deterministic: {} vs {}", sc.name, r.hashes[0], r.hashes[1])?;
                    if let Some(d) = &r.divergence {
                        outln!(
                            "  first difference at event {}:\n    run 1: {}\n    run 2: {}",
                            d.event,
                            d.first,
                            d.second
                        )?;
                    }
                }
            }
            Ok(if all_ok { 0 } else { EXIT_CHECK_FAILED })
        }
    }
}
