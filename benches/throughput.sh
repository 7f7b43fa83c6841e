#!/usr/bin/env bash
# Suite throughput against its floor, side by side in one run.
#
#   bash benches/throughput.sh [FILES] [TESTS_PER_FILE]   (default: 10 2)
#   ENGINES=node bash benches/throughput.sh                (default: deno node)
#   BEFORE=/path/to/cargo-memcheck bash benches/throughput.sh   (that build too)
#
# The suite: FILES files of TESTS_PER_FILE tests, each with one block that
# keeps 200 objects. The floor: the same runtime binary started once per
# test with the same V8 flags, taking two heap snapshots (gc, then
# v8.getHeapSnapshot() read to the end) and exiting: the work a memory test
# cannot avoid. For each engine, in the same run: the floor, memcheck at
# one thread (default isolation, then `isolation = "file"`), and their
# ratios to the floor. Times are medians of RUNS (default 3) runs; each
# run times the floor and each build in turn, so that a change in the
# machine's load falls on all of them. With BEFORE, that build's rows
# follow, from the same runs.
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-10}
per=${2:-2}
runs=${RUNS:-3}
engines=${ENGINES:-${ENGINE:-deno node}}
cargo build --release -q
BIN=${BIN:-$PWD/target/release/cargo-memcheck}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/suite"
for f in $(seq 1 "$files"); do
  {
    echo 'import { test } from "memcheck";'
    echo 'class Item { constructor(i) { this.i = i; } }'
    echo 'const kept = [];'
    for t in $(seq 1 "$per"); do
      echo "test(\"keeps 200 items $t\", async (t) => {"
      echo "  await t.measure(\"keep\", () => { for (let i = 0; i < 200; i++) kept.push(new Item(i)); });"
      echo "});"
    done
  } > "$work/suite/f$f.memtest.js"
done
config() { printf '[runtime]\nengine = "%s"\n%s' "$engine" "$1" > "$work/suite/memcheck.toml"; }

cache=${MEMCHECK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cargo-memcheck}
FLAGS=--expose-gc,--predictable,--no-lazy-feedback-allocation,--max-lazy,--no-flush-bytecode,--random-seed=1,--hash-seed=1
cat > "$work/bare.mjs" <<'JS'
import v8 from "node:v8";
class Item { constructor(i) { this.i = i; } }
const kept = [];
for (let k = 0; k < 2; k++) {
  gc();
  const s = v8.getHeapSnapshot();
  while (s.read() !== null);
  s.destroy();
  for (let i = 0; i < 200; i++) kept.push(new Item(i));
}
JS
bare() {
  case $engine in
    deno) "$RT" run --quiet --v8-flags=$FLAGS "$work/bare.mjs" ;;
    node) "$RT" ${FLAGS//,/ } "$work/bare.mjs" ;;
  esac
}

now() { date +%s.%N; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
timed() { local t0; t0=$(now); "$@" >/dev/null 2>&1 || true; awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }'; }
suite() { (cd "$work/suite" && "$1" --test-threads 1); }
floor() { for _ in $(seq 1 $((files * per))); do bare; done; }

echo "$files files x $per tests, one block of 200 objects each, 1 thread; medians of $runs runs; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-6s %8s %16s %16s\n" engine floor "isolation=test" "isolation=file"
builds=("$BIN")
[ -n "${BEFORE:-}" ] && builds+=("$BEFORE")
for engine in $engines; do
  case $engine in
    deno) RT=${MEMCHECK_DENO:-$(ls "$cache"/deno-*/node_modules/@deno/*/deno | head -1)} ;;
    node) RT=${MEMCHECK_NODE:-$(ls "$cache"/node-*/node_modules/node-*/bin/node | head -1)} ;;
    *) echo "unknown engine $engine" >&2; exit 2 ;;
  esac
  rm -rf "$work/suite/__memcheck__" "$work"/t-* "$work"/f-*
  config ""
  (cd "$work/suite" && "$BIN" --update >/dev/null 2>&1)
  for _ in $(seq 1 "$runs"); do
    timed floor >> "$work/floor"
    for b in "${!builds[@]}"; do
      config ""
      timed suite "${builds[$b]}" >> "$work/t-$b"
      config 'isolation = "file"'
      timed suite "${builds[$b]}" >> "$work/f-$b"
    done
  done
  floor_s=$(median < "$work/floor")
  rm -f "$work/floor"
  for b in "${!builds[@]}"; do
    ours_s=$(median < "$work/t-$b")
    file_s=$(median < "$work/f-$b")
    label=$engine
    [ "$b" -gt 0 ] && label="$engine (BEFORE)"
    awk -v e="$label" -v f="$floor_s" -v o="$ours_s" -v i="$file_s" 'BEGIN {
      printf "%-6s %7.2fs %7.2fs %5.2fx %7.2fs %5.2fx\n", e, f, o, o / f, i, i / f }'
  done
  echo "  load after $engine: $(cut -d' ' -f1-3 /proc/loadavg)"
done
