#!/usr/bin/env bash
# The request path (bench/request_path.toml: 5 components, 200 000 requests) timed through the
# faultline binary: the minimum wall time of N whole `faultline run` processes (start-up and
# the JSON report included, about 2 ms), as simulated requests per second. Use it to compare
# builds; `cargo bench --bench request_path` is the criterion measurement of the same file.
#   bash bench/request_path.sh [N]                     (default 9; the plain release build)
#   FAULTLINE=$(bash bench/pgo_build.sh) bash bench/request_path.sh
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-9}
source bench/faultline_bin.sh
requests=$("$bin" run bench/request_path.toml --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"]["total"])')
best=""
for _ in $(seq "$n"); do
  start=$(date +%s%N)
  "$bin" run bench/request_path.toml --json >/dev/null
  end=$(date +%s%N)
  ms=$(( (end - start) / 1000000 ))
  if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
done
python3 -c "import sys; r, ms = int(sys.argv[1]), int(sys.argv[2]); print(f'request path: {r} requests, best of $n runs {ms} ms: {r / ms * 1000 / 1e6:.2f} M requests/s ($bin)')" "$requests" "$best"
