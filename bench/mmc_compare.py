#!/usr/bin/env python3
"""Run one M/M/c workload in faultline, SimPy and Ciw; compare speed and results.

    python3 bench/mmc_compare.py [--simpy-requests N] [--ciw-requests N] [--seeds K]

The workload (λ, μ, c, duration) is read from bench/mmc.toml. The script

1. creates bench/.venv (if absent) and pip-installs the versions pinned in
   bench/requirements.txt (if not installed there yet),
2. builds faultline with `cargo build --release` (honouring CARGO_TARGET_DIR),
3. runs faultline (K seeds, whole-process wall time; simulation-only time is estimated by
   subtracting the wall time of the same scenario with a 1 ms duration), SimPy and Ciw
   (median wall time of --repeats runs each),
4. prints requests, wall time, requests/s, the speed ratios and the mean wait in queue Wq with
   a 95% confidence interval, next to the Erlang C value.

Exit status: 0 when every estimate of Wq agrees with theory and with each other (within
3 standard errors of the difference); 1 when they disagree; 2 when a step fails (cargo, pip,
a run). Speed ratios are printed, never checked: wall-clock time on a shared machine is noise.
"""

import argparse
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    sys.exit("error: bench/mmc_compare.py needs Python 3.11 or later (for tomllib)")

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SCENARIO = BENCH / "mmc.toml"
VENV = BENCH / ".venv"
REQUIREMENTS = BENCH / "requirements.txt"

BATCHES = 20  # batch means for SimPy and Ciw
# Two-sided 95% Student t quantiles t(0.975, df), for the degrees of freedom we may use.
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131,
        16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 24: 2.064, 29: 2.045}
AGREE_SE = 3.0  # estimates disagree when |a - b| > 3 standard errors of the difference


class Failed(Exception):
    """A step of the benchmark could not run (exit status 2)."""


# ---------------------------------------------------------------------------------------------
# Setup: virtualenv with SimPy and Ciw, release build of faultline
# ---------------------------------------------------------------------------------------------

def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def pinned() -> dict:
    """{package: version} from requirements.txt (lines `name==version`)."""
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def run_checked(cmd, what, **kw):
    try:
        return subprocess.run(cmd, check=True, **kw)
    except FileNotFoundError:
        raise Failed(f"{what}: `{cmd[0]}` not found")
    except subprocess.CalledProcessError as e:
        out = (e.stderr or b"")
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
        raise Failed(f"{what} failed (exit {e.returncode}): {' '.join(map(str, cmd))}\n{out[-3000:]}")


def ensure_venv() -> Path:
    """Create bench/.venv if needed and install the pinned SimPy and Ciw; return its python."""
    py = venv_python()
    if not py.exists():
        print(f"creating virtualenv {VENV.relative_to(REPO)} ...", flush=True)
        run_checked([sys.executable, "-m", "venv", str(VENV)], "python3 -m venv")
    check = ("import importlib.metadata as m, json, sys;"
             "out = {};\n"
             "for p in sys.argv[1:]:\n"
             "    try: out[p] = m.version(p)\n"
             "    except m.PackageNotFoundError: out[p] = None\n"
             "print(json.dumps(out))")
    pins = pinned()
    have = json.loads(run_checked([str(py), "-c", check, *pins], "listing venv packages",
                                  capture_output=True, text=True).stdout)
    if any(have.get(p) != v for p, v in pins.items()):
        print(f"pip install -r {REQUIREMENTS.relative_to(REPO)} ...", flush=True)
        run_checked([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                     "-r", str(REQUIREMENTS)], "pip install", capture_output=True, text=True)
    return py


def build_faultline() -> Path:
    """`cargo build --release` in the repo; return the path of the faultline binary."""
    print("cargo build --release ...", flush=True)
    try:
        p = subprocess.run(["cargo", "build", "--release", "--bin", "faultline",
                            "--message-format=json-render-diagnostics"],
                           cwd=REPO, stdout=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise Failed("cargo not found: install Rust (https://rustup.rs) or put cargo on PATH")
    if p.returncode != 0:
        raise Failed(f"cargo build --release failed (exit {p.returncode}); see the errors above")
    for line in p.stdout.splitlines():
        msg = json.loads(line)
        if (msg.get("reason") == "compiler-artifact" and msg.get("executable")
                and msg["target"]["name"] == "faultline"):
            return Path(msg["executable"])
    # Fallback: the usual place (CARGO_TARGET_DIR or target/).
    exe = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release" / "faultline"
    if not exe.exists():
        raise Failed(f"cargo build succeeded but {exe} does not exist")
    return exe


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------

def erlang_c_wq(lam: float, mu: float, c: int) -> float:
    """Mean wait in queue of M/M/c (seconds), by the Erlang C formula."""
    a = lam / mu
    rho = a / c
    if rho >= 1:
        raise ValueError(f"unstable queue: ρ = {rho}")
    term, total = 1.0, 1.0  # a^k / k!, summed over k < c
    for k in range(1, c):
        term *= a / k
        total += term
    last = term * a / c / (1 - rho)  # a^c / c! / (1 - ρ)
    p_wait = last / (total + last)
    return p_wait / (c * mu - lam)


def mean_ci(values):
    """(mean, 95% half-width, standard error) of independent values (t interval)."""
    n = len(values)
    m = statistics.fmean(values)
    if n < 2:
        return m, float("nan"), float("nan")
    se = statistics.stdev(values) / math.sqrt(n)
    return m, T975.get(n - 1, 1.96) * se, se


def batch_means(waits, batches=BATCHES):
    """Mean of a (correlated) series with a 95% CI by non-overlapping batch means."""
    size = len(waits) // batches
    if size == 0:
        raise Failed(f"too few waits ({len(waits)}) for {batches} batches")
    means = [statistics.fmean(waits[i * size:(i + 1) * size]) for i in range(batches)]
    m, hw, se = mean_ci(means)
    return statistics.fmean(waits), hw, se  # point estimate over every wait


# ---------------------------------------------------------------------------------------------
# The three simulators
# ---------------------------------------------------------------------------------------------

def run_faultline(exe: Path, scenario: Path, seed: int):
    """One `faultline run --json`; returns (report, whole-process wall seconds)."""
    cmd = [str(exe), "run", str(scenario), "--seed", str(seed), "--json"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise Failed(f"faultline failed (exit {p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")
    return json.loads(p.stdout), wall


def bench_faultline(exe: Path, seeds: int, tiny_runs: int = 10):
    reports, walls = [], []
    for seed in range(1, seeds + 1):
        r, w = run_faultline(exe, SCENARIO, seed)
        reports.append(r)
        walls.append(w)
    for r in reports:
        req = r["requests"]
        if req["failed"] or req["timed_out"] or r["services"][0]["rejected"]:
            raise Failed(f"faultline seed {r['seed']}: requests failed or rejected: {req}")
    # Process start-up, parsing and report cost: the same scenario sending for 1 ms only.
    text = SCENARIO.read_text()
    tiny_text, n = re.subn(r"(?m)^duration_s\s*=.*$", "duration_s = 0.001", text)
    if n != 1:
        raise Failed(f"expected one `duration_s` line in {SCENARIO}, found {n}")
    with tempfile.TemporaryDirectory() as d:
        tiny = Path(d) / "mmc-tiny.toml"
        tiny.write_text(tiny_text)
        tiny_walls = [run_faultline(exe, tiny, 1)[1] for _ in range(tiny_runs)]
    requests = statistics.median(r["requests"]["total"] for r in reports)  # per run
    wait_ms = [r["services"][0]["mean_wait_ms"] for r in reports]
    wall = statistics.median(walls)
    startup = statistics.median(tiny_walls)
    m, hw, se = mean_ci(wait_ms)
    return {
        "requests": requests,
        "wall": wall,
        "sim_wall": max(wall - startup, 1e-9),
        "startup": startup,
        "runs": seeds,
        "events": statistics.median(r["events"] for r in reports),
        "wq_ms": m, "hw_ms": hw, "se_ms": se,
        "rate": requests / wall,
    }


SIMPY_CODE = r'''
import json, random, sys, time
import simpy

lam, mu, c, n, seed = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])

def model():
    rng = random.Random(seed)
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=c)
    waits = []

    def customer(env):
        arrived = env.now
        with server.request() as req:
            yield req
            waits.append(env.now - arrived)
            yield env.timeout(rng.expovariate(mu))

    def source(env):
        for _ in range(n):
            yield env.timeout(rng.expovariate(lam))
            env.process(customer(env))

    env.process(source(env))
    env.run()  # until every customer has left
    return waits

t0 = time.perf_counter()
waits = model()
wall = time.perf_counter() - t0
json.dump({"wall": wall, "waits": waits}, sys.stdout)
'''

CIW_CODE = r'''
import json, sys, time
import ciw

lam, mu, c, n, seed = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])

t0 = time.perf_counter()
network = ciw.create_network(
    arrival_distributions=[ciw.dists.Exponential(rate=lam)],
    service_distributions=[ciw.dists.Exponential(rate=mu)],
    number_of_servers=[c],
)
ciw.seed(seed)
sim = ciw.Simulation(network)
sim.simulate_until_max_time(n / lam)
wall = time.perf_counter() - t0
records = sorted(sim.get_all_records(), key=lambda r: r.arrival_date)
waits = [r.waiting_time for r in records if r.record_type == "service"]
json.dump({"wall": wall, "waits": waits}, sys.stdout)
'''


def bench_python(py: Path, name: str, code: str, lam, mu, c, n, seed, repeats):
    """Run a Python model in the venv `repeats` times (same seed, so the same results); the
    model times itself (simulation only) and the median wall time is kept."""
    cmd = [str(py), "-c", code, str(lam), str(mu), str(c), str(n), str(seed)]
    walls = []
    for _ in range(repeats):
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise Failed(f"{name} model failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
        out = json.loads(p.stdout)
        walls.append(out["wall"])
    waits_ms = [w * 1000.0 for w in out["waits"]]
    m, hw, se = batch_means(waits_ms)
    wall = statistics.median(walls)
    return {"requests": len(waits_ms), "wall": wall, "rate": len(waits_ms) / wall,
            "wq_ms": m, "hw_ms": hw, "se_ms": se}


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs, {cpu}, Python {platform.python_version()}"


def load() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10,
                    help="faultline replications (seeds 1..K), each the whole scenario (default 10)")
    ap.add_argument("--simpy-requests", type=int, default=100_000, help="default 100000")
    ap.add_argument("--ciw-requests", type=int, default=50_000, help="default 50000")
    ap.add_argument("--seed", type=int, default=1, help="seed of the SimPy and Ciw runs (default 1)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="timed runs of each Python model; the median wall time is kept (default 3)")
    ap.add_argument("--faultline", type=Path, metavar="PATH",
                    help="time this faultline binary instead of building the plain release one "
                         "(e.g. the PGO build: --faultline \"$(bash bench/pgo_build.sh)\")")
    args = ap.parse_args()
    if args.seeds < 2:
        ap.error("--seeds must be at least 2 (the confidence interval needs replications)")
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")

    cfg = tomllib.loads(SCENARIO.read_text())
    svc, wl = cfg["service"][0], cfg["workload"][0]
    if svc["service_time"]["dist"] != "exponential" or wl["arrival"]["process"] != "poisson":
        raise Failed(f"{SCENARIO} must have exponential service times and Poisson arrivals")
    lam = float(wl["arrival"]["rate_per_s"])
    mu = 1000.0 / float(svc["service_time"]["mean_ms"])
    c = int(svc["workers"])
    theory_ms = erlang_c_wq(lam, mu, c) * 1000.0

    py = ensure_venv()
    exe = args.faultline or build_faultline()
    if not exe.is_file():
        ap.error(f"--faultline {exe}: no such file")

    print(f"\nM/M/{c}: λ = {lam:g}/s, μ = {mu:g}/s per server, ρ = {lam / (c * mu):.3f}; "
          f"Erlang C Wq = {theory_ms:.4f} ms")
    print(f"machine: {machine()}")
    print(f"before: {load()}", flush=True)

    results = {}
    print(f"faultline: {args.seeds} runs of {SCENARIO.relative_to(REPO)} ...", flush=True)
    results["faultline"] = fl = bench_faultline(exe, args.seeds)
    print(f"simpy: {args.simpy_requests} requests, {args.repeats} times ...", flush=True)
    results["simpy"] = bench_python(py, "SimPy", SIMPY_CODE, lam, mu, c, args.simpy_requests, args.seed,
                                     args.repeats)
    print(f"ciw: about {args.ciw_requests} requests, {args.repeats} times ...", flush=True)
    results["ciw"] = bench_python(py, "Ciw", CIW_CODE, lam, mu, c, args.ciw_requests, args.seed,
                                   args.repeats)
    print(f"after: {load()}")

    sim_rate = fl["requests"] / fl["sim_wall"]
    head = (f"{'tool':<22} {'requests':>10} {'wall s':>8} {'requests/s':>12} "
            f"{'faultline ÷ tool':>17} {'(sim only)':>11}   {'mean Wq ms (95% CI)':<22} {'theory Wq ms':>12}")
    print("\n" + head)
    print("-" * len(head))

    def row(label, requests, wall, rate, wq, ratios=("—", "—")):
        print(f"{label:<22} {requests:>10,.0f} {wall:>8.3f} {rate:>12,.0f} "
              f"{ratios[0]:>17} {ratios[1]:>11}   {wq:<22} {theory_ms:>12.3f}")

    def ci(r):
        return f"{r['wq_ms']:.3f} ± {r['hw_ms']:.3f}"

    row("faultline (process)", fl["requests"], fl["wall"], fl["rate"], ci(fl))
    row("faultline (sim only)", fl["requests"], fl["sim_wall"], sim_rate, "(same runs)")
    for label, key in (("SimPy", "simpy"), ("Ciw", "ciw")):
        r = results[key]
        row(label, r["requests"], r["wall"], r["rate"], ci(r),
            (f"{fl['rate'] / r['rate']:.1f}×", f"{sim_rate / r['rate']:.1f}×"))
    print(f"\nfaultline: median over {fl['runs']} seeds of a whole `faultline run --json` process "
          f"({fl['events']:,.0f} events per run); 'sim only' subtracts {fl['startup'] * 1000:.1f} ms, "
          f"the median wall time of the same scenario sending for 1 ms. Its Wq CI is over the "
          f"{fl['runs']} seeds.")
    print(f"SimPy and Ciw: median of {args.repeats} runs, time.perf_counter around the model only "
          f"(no interpreter start-up or imports); Wq CI by {BATCHES} batch means.")

    # Statistical agreement: each estimate with theory, and each pair with each other.
    problems = []
    names = list(results)
    for name in names:
        r = results[name]
        if abs(r["wq_ms"] - theory_ms) > AGREE_SE * r["se_ms"]:
            problems.append(f"{name}: Wq {r['wq_ms']:.3f} ms vs theory {theory_ms:.3f} ms "
                            f"(> {AGREE_SE:g} standard errors, se {r['se_ms']:.3f})")
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ra, rb = results[a], results[b]
            se = math.hypot(ra["se_ms"], rb["se_ms"])
            if abs(ra["wq_ms"] - rb["wq_ms"]) > AGREE_SE * se:
                problems.append(f"{a} vs {b}: Wq {ra['wq_ms']:.3f} vs {rb['wq_ms']:.3f} ms "
                                f"(> {AGREE_SE:g} standard errors of the difference, {se:.3f})")
    if problems:
        print("\nDISAGREE:")
        for p in problems:
            print("  " + p)
        return 1
    print(f"\nagree: every Wq is within {AGREE_SE:g} standard errors of Erlang C and of each other")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
