#!/usr/bin/env bash
# A profile-guided (PGO) release build of faultline, with identical results — PGO changes how
# the code is laid out and inlined, never what it computes (no fast-math anywhere). Its gain
# depends on the workload and has shrunk as the plain build got faster: from 13% on the M/M/4
# bench in earlier rounds to 3–4.5% now, and slower on the checkout headline in two runs
# (docs/performance.md).
#
#   bash bench/pgo_build.sh          → target/pgo/release/faultline (its path is the last line)
#
# Steps (the procedure of the rustc book, "Profile-guided optimization"):
#   1. `rustup component add llvm-tools` for an llvm-profdata that matches rustc's LLVM;
#   2. an instrumented build (target/pgo-gen), which writes counters when it runs;
#   3. training: a 3-seed sweep of every catalog scenario (every variant), and the M/M/c bench
#      workload — the code paths users run;
#   4. the counters merged, and the optimized build (target/pgo) reading them;
#   5. a check that the instrumented and the optimized binary give the same JSON on a
#      scenario, trace hash included.
# About 4–6 minutes on 2 cores. Needs rustup (the README's only prerequisite).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
command -v rustup >/dev/null || { echo "error: needs rustup (for llvm-tools, the llvm-profdata of rustc's LLVM)" >&2; exit 2; }
rustup component add llvm-tools >/dev/null 2>&1 || rustup component add llvm-tools-preview >/dev/null
host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
[ -x "$profdata" ] || { echo "error: $profdata not found after installing llvm-tools" >&2; exit 2; }

data="$root/target/pgo-data"
rm -rf "$data"
mkdir -p "$data"
echo "1/3 instrumented build (target/pgo-gen)" >&2
RUSTFLAGS="-Cprofile-generate=$data" CARGO_TARGET_DIR="$root/target/pgo-gen" cargo build --release --quiet
gen="$root/target/pgo-gen/release/faultline"

echo "2/3 training: every catalog scenario (3 seeds, every variant), the M/M/c workload" >&2
for f in scenarios/catalog/*.toml; do
  "$gen" sweep "$f" --seeds 1..4 --json >/dev/null
done
"$gen" run bench/mmc.toml --json >/dev/null
"$profdata" merge -o "$data/merged.profdata" "$data"/*.profraw

echo "3/3 optimized build (target/pgo)" >&2
RUSTFLAGS="-Cprofile-use=$data/merged.profdata" CARGO_TARGET_DIR="$root/target/pgo" cargo build --release --quiet
bin="$root/target/pgo/release/faultline"

a=$("$gen" run checkout-outage --seed 3 --json)
b=$("$bin" run checkout-outage --seed 3 --json)
if [ "$a" != "$b" ]; then
  echo "error: the PGO build's output differs from the instrumented build's (checkout-outage, seed 3)" >&2
  exit 1
fi
echo "$bin"
