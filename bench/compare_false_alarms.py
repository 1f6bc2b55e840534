#!/usr/bin/env python3
"""How often `faultline compare` fails a candidate that changed nothing.

Runs one sweep of a scenario over many seeds, then splits the seeds into disjoint pairs of
blocks: the first block is the baseline, the second (relabelled with the first block's seeds)
the candidate. The two sides are the same scenario but share no random numbers, as after a
simulation revision or an edit that moves the draws, so every gate failure is a false alarm.
The gate promises at most 5% (docs/cli.md, `compare`).

    python3 bench/compare_false_alarms.py [SCENARIO] [--seeds-per-side N] [--comparisons M]
        [--faultline PATH]
"""
import argparse, collections, json, os, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("scenario", nargs="?", default="circuit-breaker")
ap.add_argument("--seeds-per-side", type=int, default=20)
ap.add_argument("--comparisons", type=int, default=100)
ap.add_argument("--faultline", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "faultline"))
a = ap.parse_args()

with tempfile.TemporaryDirectory() as tmp:
    sweep = os.path.join(tmp, "sweep.jsonl")
    seeds = 2 * a.seeds_per_side * a.comparisons
    subprocess.run([a.faultline, "sweep", a.scenario, "--seeds", f"1..{seeds + 1}", "--out", sweep],
                   check=True, stdout=subprocess.DEVNULL)
    by_seed = collections.defaultdict(list)
    for line in open(sweep):
        by_seed[json.loads(line)["seed"]].append(line)
    order = sorted(by_seed)
    n, alarms, figures = a.seeds_per_side, 0, collections.Counter()
    base_path, cand_path = os.path.join(tmp, "b.jsonl"), os.path.join(tmp, "c.jsonl")
    for k in range(a.comparisons):
        base, cand = order[2 * k * n:2 * k * n + n], order[2 * k * n + n:2 * (k + 1) * n]
        with open(base_path, "w") as f:
            for s in base:
                f.writelines(by_seed[s])
        with open(cand_path, "w") as f:
            for s, other in zip(base, cand):
                for line in by_seed[other]:
                    r = json.loads(line)
                    r["seed"] = s
                    f.write(json.dumps(r) + "\n")
        out = subprocess.run([a.faultline, "compare", base_path, cand_path, "--json"], capture_output=True, text=True)
        if out.returncode not in (0, 1):
            sys.exit(f"compare exited {out.returncode}: {out.stderr}")
        v = json.loads(out.stdout)
        alarms += v["regressed"]
        for var in v["variants"]:
            for name, ch in var["figures"].items():
                figures[name] += ch["verdict"] == "regressed"
    k = v["comparisons"]
    print(f"{a.scenario}: {a.comparisons} A/A comparisons of {n} seeds ({k} gated comparisons each, "
          f"intervals at {100 * v['confidence']:.3f}%): the gate failed {alarms} times "
          f"({100 * alarms / a.comparisons:.1f}%; promised at most 5%)")
    print("regressed verdicts by figure:", {f: c for f, c in figures.items() if c})
