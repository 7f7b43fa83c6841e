#!/usr/bin/env bash
# The chromium engine against its floor, side by side in one run.
#
#   bash benches/chromium.sh [TESTS] [K]     (default: 20 10)
#
# Suite: TESTS page tests (10 files), each a block that keeps 200 objects,
# run by memcheck at one thread; the floor (benches/chromium_floor.py) is one
# browser start, then a context and a page per test that loads the same
# module, and two heap snapshots per test, over the same pipe, with the same
# V8 flags (as the Deno and Node floors of throughput.sh and checkpoint.sh);
# the floor without them is printed too.
# Checkpoint: a test of K empty blocks minus a test of one block, divided by
# 2(K-1), against the median of K bare `HeapProfiler.takeHeapSnapshot` of a
# page. Times are medians of RUNS (default 3) runs.
set -euo pipefail
cd "$(dirname "$0")/.."
tests=${1:-20}
K=${2:-10}
runs=${RUNS:-3}
browser=${MEMCHECK_CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome)}
cargo build --release -q
BIN=${BIN:-$PWD/target/release/cargo-memcheck}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/suite" "$work/cp"
files=10
per=$(( (tests + files - 1) / files ))
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
printf '[runtime]\nengine = "chromium"\n' > "$work/suite/memcheck.toml"
(cd "$work/suite" && "$BIN" --update >/dev/null 2>&1)

blocks() {
  {
    echo 'import { test } from "memcheck";'
    echo "test(\"blocks\", async (t) => {"
    for b in $(seq 1 "$1"); do echo "  await t.measure(\"b$b\", () => {});"; done
    echo "});"
  } > "$work/cp/c.memtest.js"
}
printf '[runtime]\nengine = "chromium"\n' > "$work/cp/memcheck.toml"

now() { date +%s.%N; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
timed() { local t0; t0=$(now); "$@" >/dev/null 2>&1 || true; awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }'; }
suite() { (cd "$work/suite" && "$BIN" --test-threads 1); }
cp_run() { (cd "$work/cp" && "$BIN" --update --test-threads 1); }

# memcheck's V8 flags (src/runtime/mod.rs), as the other floors take them.
FLAGS="--expose-gc --predictable --no-lazy-feedback-allocation --max-lazy --no-flush-bytecode --random-seed=1 --hash-seed=1"
floor() { JS_FLAGS=${1:+$FLAGS} python3 benches/chromium_floor.py "$browser" "$2" "$3"; }
# Alternately, so that the load of the machine falls on each alike.
: > "$work/floor" ; : > "$work/plain" ; : > "$work/ours"
for _ in $(seq 1 "$runs"); do
  floor flags suite $((files * per)) >> "$work/floor"
  timed suite >> "$work/ours"
  floor "" suite $((files * per)) >> "$work/plain"
done
floor_s=$(median < "$work/floor")
plain_s=$(median < "$work/plain")
ours_s=$(median < "$work/ours")
bare_ms=$(for _ in $(seq 1 "$runs"); do floor flags checkpoint "$K"; done | median)
blocks 1
one_s=$(for _ in $(seq 1 "$runs"); do timed cp_run; done | median)
blocks "$K"
many_s=$(for _ in $(seq 1 "$runs"); do timed cp_run; done | median)

echo "chromium ($("$browser" --version 2>/dev/null | head -1)), medians of $runs runs"
awk -v f="$floor_s" -v p="$plain_s" -v o="$ours_s" -v n="$((files * per))" -v b="$bare_ms" -v one="$one_s" -v many="$many_s" -v k="$K" 'BEGIN {
  printf "%-44s %8.2f s\n", "floor: " n " pages, 2 snapshots each", f
  printf "%-44s %8.2f s\n", "the same floor without memcheck'"'"'s V8 flags", p
  printf "%-44s %8.2f s  %5.2fx floor  (%.2fx without the flags)\n", "memcheck, " n " tests, 1 thread", o, o / f, o / p
  cp = (many - one) / (2 * (k - 1)) * 1000
  printf "%-44s %8.1f ms\n", "bare takeHeapSnapshot of a page", b
  printf "%-44s %8.1f ms  %5.2fx bare\n", "memcheck checkpoint", cp, cp / b
}'
