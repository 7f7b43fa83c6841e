#!/usr/bin/env bash
# The crate as a user gets it from `cargo install cargo-memcheck`:
#   1. `cargo package` (with its verification build), which must print no warning;
#   2. the .crate unpacked and installed with `cargo install --locked --path`
#      into a fresh root;
#   3. a fresh project (an empty memcheck.toml, one test that keeps 100
#      objects of a class) run with the installed `cargo memcheck` on Deno and
#      on Node.js, with an empty runtime cache, so that the pinned runtimes
#      are provisioned from npm as on a new machine.
# Run by .ci/run. Usage: bash scripts/package-check.sh [--debug]
# (--debug installs a debug build, as `cargo install --debug` does).
# On failure the work folder is kept and named.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

install_flags=()
case "${1:-}" in
  "") ;;
  --debug) install_flags+=(--debug) ;;
  *) echo "usage: bash scripts/package-check.sh [--debug]" >&2; exit 2 ;;
esac

step=""
work=$(mktemp -d "${TMPDIR:-/tmp}/memcheck-package-check.XXXXXX")
on_exit() {
  local status=$?
  [ "$status" -eq 0 ] || echo "package-check: FAILED at: $step (work folder kept: $work)" >&2
}
trap on_exit EXIT
fail() {
  echo "package-check: $*" >&2
  exit 1
}
timings=()
started=$SECONDS
begin() {
  step=$1
  started=$SECONDS
  echo "package-check: $step" >&2
}
done_step() {
  timings+=("$(printf '%5ss  %s' "$((SECONDS - started))" "$step")")
}

# Package.
begin "cargo package"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || fail "no version in Cargo.toml"
# --allow-dirty: what is checked is the package's content, so a local run
# checks the working tree as it is.
cargo package --locked --allow-dirty 2>&1 | tee "$work/package.log" >&2
if grep -qi '^warning' "$work/package.log"; then
  grep -i -A3 '^warning' "$work/package.log" >&2
  fail "cargo package printed warnings (above)"
fi
crate="target/package/cargo-memcheck-$version.crate"
[ -f "$crate" ] || fail "no $crate"
tar -tzf "$crate" > "$work/contents.txt"
for file in Cargo.toml Cargo.lock README.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE \
  src/main.rs harness/core.js harness/deno.js harness/node.mjs; do
  grep -qx "cargo-memcheck-$version/$file" "$work/contents.txt" \
    || fail "$crate lacks $file"
done
if grep -q '\.png$\|/examples/\|/\.ci/' "$work/contents.txt"; then
  grep '\.png$\|/examples/\|/\.ci/' "$work/contents.txt" >&2
  fail "$crate carries files it should not (above)"
fi
echo "package-check: $crate: $(wc -l < "$work/contents.txt") files, $(wc -c < "$crate") bytes" >&2
done_step

# Install from the unpacked crate, as cargo install does from the registry.
begin "cargo install --locked --path <unpacked .crate> ${install_flags[*]:-}"
tar -xzf "$crate" -C "$work"
# Its own target folder under target/, so that a second local run is
# incremental; CI starts from a fresh clone, so there it builds from scratch.
CARGO_TARGET_DIR="$repo/target/package-check" \
  cargo install --locked ${install_flags[@]+"${install_flags[@]}"} \
  --path "$work/cargo-memcheck-$version" --root "$work/root"
[ -x "$work/root/bin/cargo-memcheck" ] || fail "cargo install put no cargo-memcheck in $work/root/bin"
done_step

# A fresh project, run by the installed binary as `cargo memcheck`, with an
# empty cache (XDG_CACHE_HOME) and no runtime named by the environment.
begin "a fresh project on Deno and Node.js"
project="$work/project"
mkdir -p "$project"
: > "$project/memcheck.toml"
cat > "$project/widgets.memtest.js" <<'JS'
import { test } from "memcheck";

class Widget {
  constructor(n) {
    this.n = n;
  }
}

const kept = [];

test("keeps 100 widgets", () => {
  for (let i = 0; i < 100; i++) kept.push(new Widget(i));
});
JS
# `run ARGS...` shows what `cargo memcheck ARGS...` printed and leaves it in
# $out; a failing run ends the script.
run() {
  local status=0
  (cd "$project" && env -u MEMCHECK_CACHE_DIR -u MEMCHECK_DENO -u MEMCHECK_NODE \
    -u GITHUB_ACTIONS CI=true XDG_CACHE_HOME="$work/cache" \
    PATH="$work/root/bin:$PATH" cargo memcheck "$@") > "$work/out.txt" 2>&1 || status=$?
  out=$(< "$work/out.txt")
  printf '%s\n' "$out" >&2
  [ "$status" -eq 0 ] || fail "cargo memcheck $* exited with $status"
}
expect() {
  grep -qF -- "$2" <<<"$1" || fail "expected \"$2\" in the output above"
}

run --version
expect "$out" "cargo-memcheck $version (Deno "
expect "$out" ", Node.js "
expect "$out" " pinned)"
deno=$(sed -n 's/.*(Deno \([^,]*\),.*/\1/p' <<<"$out")
node=$(sed -n 's/.*Node\.js \([^ ]*\) pinned.*/\1/p' <<<"$out")

for engine in deno node; do
  case $engine in
    deno) pinned=$deno baseline=widgets.memtest.js.toml ;;
    node) pinned=$node baseline=widgets.memtest.js.node.toml ;;
  esac
  run --engine "$engine" --update
  expect "$out" "memcheck: installing $engine $pinned"
  expect "$out" "test result: ok. 1 passed; 0 failed"
  [ -f "$work/cache/cargo-memcheck/$engine-$pinned/.verified" ] \
    || fail "$engine $pinned was not installed into $work/cache/cargo-memcheck"
  grep -qF '{ name = "Widget", new = 100, deleted = 0,' "$project/__memcheck__/$baseline" \
    || { cat "$project/__memcheck__/$baseline" >&2; fail "the $engine baseline does not count 100 new Widgets"; }
  # The same run against the baseline just recorded.
  run --engine "$engine"
  expect "$out" "test result: ok. 1 passed; 0 failed"
done
done_step

rm -rf "$work"
echo "package-check: ok: the packaged crate installs and runs a fresh project on Deno and Node.js" >&2
printf '  %s\n' "${timings[@]}" >&2
