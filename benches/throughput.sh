#!/usr/bin/env bash
# Suite throughput against its floor, side by side in one run.
#
#   bash benches/throughput.sh [FILES] [TESTS_PER_FILE]   (default: 10 2)
#   ENGINE=node bash benches/throughput.sh
#
# The suite: FILES files of TESTS_PER_FILE tests, each with one block that
# keeps 200 objects. The floor: the same runtime binary started once per
# test with the same V8 flags, taking two heap snapshots (gc, then
# v8.getHeapSnapshot() read to the end) and exiting: the work a memory test
# cannot avoid. Rows: memcheck at one thread (default isolation, then
# `isolation = "file"`), the floor, and the ratios. Times are medians of
# RUNS (default 3) runs.
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-10}
per=${2:-2}
runs=${RUNS:-3}
engine=${ENGINE:-deno}
cargo build --release -q
BIN=$PWD/target/release/cargo-memcheck
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
config ""
(cd "$work/suite" && "$BIN" --update >/dev/null 2>&1)

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
case $engine in
  deno)
    RT=${MEMCHECK_DENO:-$(ls "$cache"/deno-*/node_modules/@deno/*/deno | head -1)}
    bare() { "$RT" run --quiet --v8-flags=$FLAGS "$work/bare.mjs"; } ;;
  node)
    RT=${MEMCHECK_NODE:-$(ls "$cache"/node-*/node_modules/node-*/bin/node | head -1)}
    bare() { "$RT" ${FLAGS//,/ } "$work/bare.mjs"; } ;;
esac

now() { date +%s.%N; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
timed() { local t0; t0=$(now); "$@" >/dev/null 2>&1 || true; awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }'; }
suite() { (cd "$work/suite" && "$BIN" --test-threads 1); }
floor() { for _ in $(seq 1 $((files * per))); do bare; done; }

floor_s=$(for _ in $(seq 1 "$runs"); do timed floor; done | median)
config ""
ours_s=$(for _ in $(seq 1 "$runs"); do timed suite; done | median)
config 'isolation = "file"'
file_s=$(for _ in $(seq 1 "$runs"); do timed suite; done | median)

echo "$engine, $files files x $per tests, one block of 200 objects each; medians of $runs runs"
awk -v f="$floor_s" -v o="$ours_s" -v i="$file_s" 'BEGIN {
  printf "%-34s %8.2f s\n", "floor (bare runtime, 2 snapshots)", f
  printf "%-34s %8.2f s  %5.2fx floor\n", "memcheck, 1 thread", o, o / f
  printf "%-34s %8.2f s  %5.2fx floor\n", "memcheck, 1 thread, isolation=file", i, i / f }'
