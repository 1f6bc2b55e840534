#!/usr/bin/env bash
# Fills fuzz/corpus/ (not committed: it is rebuilt from the repository) with the fuzzers' seeds:
# every catalog scenario, workshop lab, test scenario and malformed case for `scenario`; a
# replay file of every catalog scenario's variants (written by `faultline run --save-replay`)
# for `replay`; every history of tests/histories, good and bad, for `history`; the `--out`
# records of short sweeps of three catalog scenarios (a whole file, and single lines) for `records`.
# Run from anywhere: bash fuzz/seed_corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin faultline
bin=target/release/faultline
rm -rf fuzz/corpus
mkdir -p fuzz/corpus/scenario fuzz/corpus/replay fuzz/corpus/history fuzz/corpus/records
for f in scenarios/catalog/*.toml docs/workshop/*.toml tests/scenarios/*.toml tests/malformed/*.toml; do
  cp "$f" "fuzz/corpus/scenario/$(basename "$(dirname "$f")")-$(basename "$f")"
done
for name in $("$bin" list | awk '{print $1}'); do
  "$bin" run "$name" --save-replay "fuzz/corpus/replay/$name.json" >/dev/null || true  # exit 1 (a failed [[expect]]) still writes it
done
for f in tests/histories/*.jsonl tests/histories/bad/*.jsonl; do
  cp "$f" "fuzz/corpus/history/$(basename "$(dirname "$f")")-$(basename "$f")"
done
for name in circuit-breaker cross-region-outage partition-consistency; do
  "$bin" sweep "$name" --seeds 1..4 --out "fuzz/corpus/records/$name.jsonl" >/dev/null || true  # exit 1: a failed [[expect]]
  head -n 1 "fuzz/corpus/records/$name.jsonl" >"fuzz/corpus/records/$name-one.jsonl"
done
echo "fuzz/corpus: $(ls fuzz/corpus/scenario | wc -l) scenarios, $(ls fuzz/corpus/replay | wc -l) replay files, $(ls fuzz/corpus/history | wc -l) histories, $(ls fuzz/corpus/records | wc -l) record files"
