#!/usr/bin/env bash
# The whole test suite, set-up included: the HTML report's tests render
# pages in Debian's Chromium, installed here when it is missing; Deno, Node
# and the fixtures' npm packages are installed by the tool and the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "scripts/test.sh: installing Debian's chromium (for tests/cli/html.rs)" >&2
  $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null
fi
cargo test "$@"
