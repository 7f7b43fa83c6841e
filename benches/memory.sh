#!/usr/bin/env bash
# The runner's own peak memory, and the wall time, of one test that measures
# a 10-object block on a large heap, on Deno and then on Node, side by side
# with the size of the block's "after" snapshot file and with the bare
# runtime doing the unavoidable work (building the heap, taking two heap
# snapshots and reading them to the end) in the same run.
#
#   bash benches/memory.sh [OBJECTS]    (default 1000000: ~290 MB snapshots)
#   RUNS=3 ENGINES="deno node" MEMCHECK_BIN=… bash benches/memory.sh
#
# The runner's peak is its VmHWM (peak resident set), sampled every 20 ms
# while it runs; the runtime's peak is its own VmHWM. Wall times are medians
# of RUNS runs of each, bare and memcheck alternating.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
runs=${RUNS:-3}
cargo build --release -q
# MEMCHECK_BIN: another build to measure (an earlier commit's, for a before/after).
BIN=${MEMCHECK_BIN:-$PWD/target/release/cargo-memcheck}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '[runtime]\nengines = ["deno", "node"]\ntimeout = 1800000\n' > "$work/memcheck.toml"
heap="class Item { constructor(i) { this.i = i; this.s = \"item \" + i; } }
globalThis.heap = [];
for (let i = 0; i < $n; i++) globalThis.heap.push(new Item(i));"
cat > "$work/big.memtest.js" <<JS
import { test } from "memcheck";
$heap
const keep = [];
test("ten objects on a large heap", async (t) => {
  await t.measure("ten", () => { for (let i = 0; i < 10; i++) keep.push(new Item(i)); });
});
JS
cat > "$work/bare.mjs" <<JS
import v8 from "node:v8";
$heap
const keep = [];
for (let k = 0; k < 2; k++) {
  gc();
  const s = v8.getHeapSnapshot();
  while (s.read() !== null);
  s.destroy();
  if (k === 0) for (let i = 0; i < 10; i++) keep.push(new Item(i));
}
JS

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
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || true; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

# One memcheck run: wall seconds, the runner's and the runtime's peak (KiB).
measured() {
  local engine=$1 keep=${2:-}
  local t0 runner=0 runtime=0 v p
  t0=$(now)
  (cd "$work" && CI=true exec "$BIN" --update --engine "$engine" ${keep:+--snapshots "$keep"} >"$work/out" 2>&1) &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    v=$(hwm "$pid"); [ -n "$v" ] && [ "$v" -gt "$runner" ] && runner=$v
    for p in $(pgrep -P "$pid" || true); do
      v=$(hwm "$p"); [ -n "$v" ] && [ "$v" -gt "$runtime" ] && runtime=$v
    done
    sleep 0.02
  done
  wait "$pid" || { cat "$work/out"; exit 1; }
  echo "$(echo "$(now) - $t0" | bc) $runner $runtime"
}

printf '%-6s %10s %12s %12s %8s | %8s %10s %8s\n' engine "after MiB" "runner MiB" "runtime MiB" "/file" "bare s" "memcheck s" ratio
for engine in ${ENGINES:-deno node}; do
  # The file sizes, from a run that keeps its snapshots.
  rm -rf "$work/kept"
  measured "$engine" "$work/kept" >/dev/null
  after=$(find "$work/kept" -name '*-after.heapsnapshot' -printf '%s\n' | sort -n | tail -1)
  : >"$work/bare.times"; : >"$work/ours.times"; : >"$work/runner.kb"; : >"$work/runtime.kb"
  for _ in $(seq 1 "$runs"); do
    t0=$(now); bare "$engine"; echo "$(now) - $t0" | bc >>"$work/bare.times"
    read -r secs runner runtime < <(measured "$engine")
    echo "$secs" >>"$work/ours.times"; echo "$runner" >>"$work/runner.kb"; echo "$runtime" >>"$work/runtime.kb"
  done
  b=$(median <"$work/bare.times"); o=$(median <"$work/ours.times")
  r=$(median <"$work/runner.kb"); t=$(median <"$work/runtime.kb")
  printf '%-6s %10.1f %12.1f %12.1f %7.2fx | %8.2f %10.2f %7.2fx\n' "$engine" \
    "$(echo "$after / 1048576" | bc -l)" "$(echo "$r / 1024" | bc -l)" "$(echo "$t / 1024" | bc -l)" \
    "$(echo "$r * 1024 / $after" | bc -l)" "$b" "$o" "$(echo "$o / $b" | bc -l)"
done
