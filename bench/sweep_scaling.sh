#!/usr/bin/env bash
# Sweep scaling from 1 to 2 threads: the same sweep twice, wall time of each, and a check that
# the outputs are identical (they must not depend on the thread count). Run on a quiet machine:
#   bash bench/sweep_scaling.sh [SCENARIO] [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-retry-storm}
seeds=${2:-1..41}
cargo build --release --quiet
bin=target/release/faultline
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() {
  local threads=$1
  local start end
  start=$(date +%s.%N)
  "$bin" sweep "$scenario" --seeds "$seeds" --threads "$threads" --json > "$out/t$threads.json"
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }' 
}
t1=$(run 1)
t2=$(run 2)
if cmp -s "$out/t1.json" "$out/t2.json"; then same=identical; else same=DIFFERENT; fi
printf 'sweep %s --seeds %s on %s cores (load %s)\n' "$scenario" "$seeds" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)"
printf '  1 thread:  %6.2f s\n  2 threads: %6.2f s\n  speed-up:  %6.2f×\n  outputs:   %s\n' "$t1" "$t2" "$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.3f", a / b }')" "$same"
[ "$same" = identical ]
