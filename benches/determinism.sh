#!/usr/bin/env bash
# Run the bundled examples (or the project in $1) N times and check that every
# block's figures are identical in every run.   [ENGINE=node] bash benches/determinism.sh [DIR] [N]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.}
n=${2:-10}
cargo build --release -q
BIN=$PWD/target/release/cargo-memcheck
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for i in $(seq 1 "$n"); do
  (cd "$dir" && CI=true "$BIN" --include-ignored ${ENGINE:+--engine "$ENGINE"} --json "$out/run$i.json" >/dev/null 2>&1) || true
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps([[t["file"],t["name"],t["blocks"]] for t in r["tests"]], sort_keys=True))' "$out/run$i.json" > "$out/blocks$i"
done
distinct=$(sort -u "$out"/blocks* | wc -l)
blocks=$(python3 -c 'import json,sys; print(sum(len(t["blocks"]) for t in json.load(open(sys.argv[1]))["tests"]))' "$out/run1.json")
echo "$n runs, $blocks blocks each: $distinct distinct result(s)"
[ "$distinct" -eq 1 ]
