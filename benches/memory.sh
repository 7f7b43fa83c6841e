#!/usr/bin/env bash
# Peak memory of one test that holds a large heap: the runner's RSS and the
# runtime's, sampled every 50 ms while `cargo memcheck` runs it.
#
#   bash benches/memory.sh [OBJECTS]    (default 3000000: a heap of ~256 MB)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-3000000}
cargo build --release -q
BIN=$PWD/target/release/cargo-memcheck
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '[runtime]\ntimeout = 600000\n' > "$work/memcheck.toml"
cat > "$work/big.memtest.js" <<JS
import { test } from "memcheck";
class Item { constructor(i) { this.i = i; this.s = "item " + i; } }
const keep = [];
test("holds a large heap", async (t) => {
  await t.measure("fill", () => { for (let i = 0; i < $n; i++) keep.push(new Item(i)); });
  console.log("heap used:", Math.round(Deno.memoryUsage().heapUsed / 2 ** 20), "MiB");
});
JS
(cd "$work" && CI=true "$BIN" --update --nocapture > "$work/out" 2>&1) &
pid=$!
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
runner=0 runtime=0
while kill -0 "$pid" 2>/dev/null; do
  for p in $(pgrep -P "$pid" -f cargo-memcheck) $(pgrep -f "$work" || true); do
    v=$(rss "$p"); v=${v:-0}
    case $(cat "/proc/$p/comm" 2>/dev/null) in
      cargo-memcheck) [ "$v" -gt "$runner" ] && runner=$v ;;
      *) [ "$v" -gt "$runtime" ] && runtime=$v ;;
    esac
  done
  sleep 0.05
done
wait "$pid" || { cat "$work/out"; exit 1; }
grep -o 'heap used: [0-9]* MiB' "$work/out"
echo "peak RSS: runner $((runner / 1024)) MiB, runtime $((runtime / 1024)) MiB"
