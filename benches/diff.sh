#!/usr/bin/env bash
# `cargo memcheck diff` on one snapshot pair, this build side by side with
# the build of an earlier commit, run alternately; checks that both print
# the same table and JSON.
#
#   bash benches/diff.sh [OBJECTS] [COMMIT]
#   (defaults: 1000000, the last commit of 2026-11-24: before the step rule
#   and the census changes)
#
# The pair, made once with the pinned Deno and kept in target/bench-snapshots/
# (as `cargo bench --bench snapshots` makes it): an almost empty heap, then
# the same heap holding OBJECTS more objects. The earlier build is made in a
# temporary git worktree, its target kept in target/bench-diff/. Wall time
# is the median of RUNS runs (default 5); CPU time (user + system) is given
# beside it, as it moves less when the machine is busy.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
commit=${2:-$(git log --until=2026-11-25 -1 --format=%H)}
runs=${RUNS:-5}
root=$PWD
cargo build --release -q
NEW=$root/target/release/cargo-memcheck

old_target=$root/target/bench-diff/$commit
OLD=$old_target/release/cargo-memcheck
if [ ! -x "$OLD" ]; then
  tree=$(mktemp -d)
  git worktree add -q --detach "$tree/src" "$commit"
  (cd "$tree/src" && CARGO_TARGET_DIR=$old_target cargo build --release -q)
  git worktree remove --force "$tree/src"
  rm -rf "$tree"
fi

work=$root/target/bench-snapshots
mkdir -p "$work"
before=$work/$n-before.heapsnapshot
after=$work/$n-after.heapsnapshot
if [ ! -f "$before" ] || [ ! -f "$after" ]; then
  cache=${MEMCHECK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cargo-memcheck}
  (cd "$(mktemp -d)" && "$NEW" --list >/dev/null 2>&1 || true)
  DENO=${MEMCHECK_DENO:-$(ls "$cache"/deno-*/node_modules/@deno/*/deno | head -1)}
  cat > "$work/make.js" <<'JS'
import v8 from "node:v8";
const [n, before, after] = Deno.args;
class Item { constructor(i) { this.i = i; this.tag = "item"; } }
globalThis.items = [];
gc();
v8.writeHeapSnapshot(before);
for (let i = 0; i < Number(n); i++) globalThis.items.push(new Item(i));
gc();
v8.writeHeapSnapshot(after);
JS
  "$DENO" run --quiet --v8-flags=--expose-gc,--predictable --allow-write="$work" \
    "$work/make.js" "$n" "$before" "$after"
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for which in old new; do
  bin=$OLD; [ $which = new ] && bin=$NEW
  "$bin" diff "$before" "$after" --json "$out/$which.json" >"$out/$which.txt"
done
if ! cmp -s "$out/old.txt" "$out/new.txt" || ! cmp -s "$out/old.json" "$out/new.json"; then
  echo "note: the two builds print different tables (expected when the census rules changed in between)"
fi

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for _ in $(seq 1 "$runs"); do
  for which in old new; do
    bin=$OLD; [ $which = new ] && bin=$NEW
    /usr/bin/time -f "%e %U %S" -a -o "$out/$which.times" "$bin" diff "$before" "$after" >/dev/null
  done
done
printf 'pair: %s MiB + %s MiB, %s objects; load: %s\n' \
  "$(( $(stat -c %s "$before") >> 20 ))" "$(( $(stat -c %s "$after") >> 20 ))" "$n" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-10s %10s %10s\n' build commit "wall s" "cpu s"
for which in old new; do
  c=$commit; [ $which = new ] && c=$(git rev-parse HEAD)
  wall=$(awk '{print $1}' "$out/$which.times" | median)
  cpu=$(awk '{print $2 + $3}' "$out/$which.times" | median)
  printf '%-8s %-10s %10.3f %10.3f\n' "$which" "${c:0:10}" "$wall" "$cpu"
  eval "${which}_wall=$wall"
done
printf 'new / old: %.2fx\n' "$(echo "$new_wall / $old_wall" | bc -l)"
