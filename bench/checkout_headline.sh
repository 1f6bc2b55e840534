#!/usr/bin/env bash
# The headline the product brief sets: the checkout comparison — 3 designs × SEEDS seeds ×
# 20 000 checkouts each, the saga checker on — timed as one `faultline sweep` on every core.
# The catalog's checkout-outage sends 100 checkouts/s for 40 s (4 000); this runs the same
# load and fault timeline for 200 s (20 000: the outage, then a long healthy tail), with five
# times the stock so that the shop does not sell out (a higher rate instead would overload the
# designs and measure a different system). Run on a quiet machine:
#   bash bench/checkout_headline.sh [SEEDS]        (default 1000)
# FAULTLINE=path times that binary instead of the plain release build, e.g. the PGO build:
#   FAULTLINE=$(bash bench/pgo_build.sh) bash bench/checkout_headline.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-1000}
source bench/faultline_bin.sh
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# The only changes: duration and stock (checked, so that a catalog edit cannot silently break it).
sed -e 's/^duration_s = 40$/duration_s = 200/' -e 's/^stock_per_item = 8$/stock_per_item = 40/' \
  scenarios/catalog/checkout-outage.toml > "$dir/checkout-20k.toml"
if [ "$(diff scenarios/catalog/checkout-outage.toml "$dir/checkout-20k.toml" | grep -c '^>')" != 2 ]; then
  echo "error: expected the lines duration_s = 40 and stock_per_item = 8 in checkout-outage.toml" >&2
  exit 2
fi
requests=$("$bin" run "$dir/checkout-20k.toml" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"]["total"])')
start=$(date +%s.%N)
"$bin" sweep "$dir/checkout-20k.toml" --seeds "1..$((seeds + 1))" --json > "$dir/sweep.json"
end=$(date +%s.%N)
python3 - "$dir/sweep.json" "$start" "$end" "$seeds" "$requests" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" "$bin" <<'PY'
import json, sys
path, start, end, seeds, requests, cores, load, binary = sys.argv[1:]
r = json.load(open(path))
wall = float(end) - float(start)
variants = r["variants"]
print(f"checkout headline: {len(variants)} designs × {seeds} seeds × {requests} checkouts (seed 1), "
      f"{cores} cores, load {load} at the end, {binary}")
print(f"  wall time: {wall:.1f} s (target: under 60 s)")
for v in variants:
    anomalies = sum(v.get("anomalies", {}).values())
    print(f"  {v['variant']:<14} success {v['figures']['success_rate']['mean'] * 100:.2f}% · "
          f"p99 {v['figures']['latency_p99_ms']['mean']:.1f} ms · anomalies {anomalies}")
PY
