#!/usr/bin/env bash
# Per-checkpoint cost of a real `cargo memcheck` run, side by side with the
# bare V8 snapshot (`v8.getHeapSnapshot()` read to the end) on the same heap,
# in the same runtime with the same V8 flags; on Deno, then on Node.
#
#   bash benches/checkpoint.sh [OBJECTS...]    (default: 0 100000)
#   ENGINES="node" bash benches/checkpoint.sh  (one engine)
#
# Ours: a test with K empty blocks (2 checkpoints each: settle, full GC,
# snapshot, streaming to Rust, parse, compare) minus the same test with one
# block, divided by 2(K-1). Bare: the median of K snapshots taken and read in
# one process.
set -euo pipefail
cd "$(dirname "$0")/.."
K=${K:-10}
sizes=("${@:-0}")
[ $# -gt 0 ] || sizes=(0 100000)
cargo build --release -q
BIN=$PWD/target/release/cargo-memcheck
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Provision the runtimes (and learn where they are) through the tool itself.
# A test of K blocks over a million objects outlasts the default timeout.
printf '[runtime]\nengines = ["deno", "node"]\ntimeout = 1800000\n' > "$work/memcheck.toml"
(cd "$work" && "$BIN" --list >/dev/null 2>&1)
cache=${MEMCHECK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cargo-memcheck}
DENO=${MEMCHECK_DENO:-$(ls "$cache"/deno-*/node_modules/@deno/*/deno | head -1)}
NODE=${MEMCHECK_NODE:-$(ls "$cache"/node-*/node_modules/node-*/bin/node | head -1)}
FLAGS=--expose-gc,--predictable,--no-lazy-feedback-allocation,--max-lazy,--no-flush-bytecode,--random-seed=1,--hash-seed=1

bare() {
  case $1 in
    deno) "$DENO" run --quiet --v8-flags=$FLAGS "$work/bare.mjs" ;;
    node) "$NODE" ${FLAGS//,/ } "$work/bare.mjs" ;;
  esac
}

now() { date +%s.%N; }
printf '%-6s %-10s %-14s %-16s %-8s\n' engine objects "bare (ms)" "memcheck (ms)" ratio
for engine in ${ENGINES:-deno node}; do
for n in "${sizes[@]}"; do
  heap="class Item { constructor(i) { this.i = i; } }
globalThis.heap = []; for (let i = 0; i < $n; i++) globalThis.heap.push(new Item(i));"
  cat > "$work/bare.mjs" <<JS
import v8 from "node:v8";
$heap
const times = [];
for (let k = 0; k < $K + 1; k++) {
  const t0 = performance.now();
  gc();
  const s = v8.getHeapSnapshot();
  while (s.read() !== null);
  s.destroy();
  times.push(performance.now() - t0);
  await new Promise((r) => setTimeout(r, 0));
}
times.shift();
times.sort((a, b) => a - b);
console.log(times[Math.floor(times.length / 2)].toFixed(1));
JS
  bare=$(bare "$engine")
  for blocks in 0 "$K"; do
    cat > "$work/b$blocks.memtest.js" <<JS
import { test } from "memcheck";
$heap
test("blocks", async (t) => {
  for (let k = 0; k < $blocks; k++) await t.measure("b" + k, () => {});
  if ($blocks === 0) await t.measure("none", () => {});
});
JS
  done
  # Runs with no block still measure one (the same fixed cost as a test needs);
  # the difference is K-1 blocks.
  run() { (cd "$work" && "$BIN" --engine "$engine" --update --exact "$1" >/dev/null 2>&1); }
  t0=$(now); run "b0.memtest.js::blocks"; t1=$(now)
  run "b$K.memtest.js::blocks"; t2=$(now)
  awk -v e="$engine" -v n="$n" -v bare="$bare" -v a="$t0" -v b="$t1" -v c="$t2" -v k="$K" 'BEGIN {
    ours = ((c - b) - (b - a)) * 1000 / (2 * (k - 1));
    printf "%-6s %-10s %-14s %-16.1f %-8.2f\n", e, n, bare, ours, ours / bare }'
  rm -f "$work"/b*.memtest.js
done
done
