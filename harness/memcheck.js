// The `memcheck` module that test files import: `import { test } from "memcheck"`.
//
// It only records tests; `runner.js` decides which to run and takes the heap
// snapshots. Keep this file free of work at import time: everything it
// allocates is allocated before the first checkpoint, so it never shows up
// in a block's figures.

const registry = [];

/** The tests the current file declared, in order. Used by runner.js. */
export function declaredTests() {
  return registry;
}

/**
 * Declare a memory test.
 *
 * test(name, fn) or test(name, options, fn); options: { budget, timeout, ignore }.
 * fn(t) may be async; t.measure(name, [options], fn) marks a block.
 */
export function test(name, options, fn) {
  if (typeof options === "function") {
    fn = options;
    options = {};
  }
  if (typeof name !== "string" || name.length === 0) {
    throw new TypeError("memcheck: test(name, ...) needs a non-empty string name");
  }
  if (typeof fn !== "function") {
    throw new TypeError(`memcheck: test(${JSON.stringify(name)}) needs a function as its last argument`);
  }
  if (options === null || typeof options !== "object") {
    throw new TypeError(`memcheck: the options of test(${JSON.stringify(name)}) must be an object`);
  }
  const site = callerSite(new Error().stack);
  registry.push({ name, options, fn, site });
}

// Where `test(...)` was called: the second frame of the stack, as file:line.
function callerSite(stack) {
  const lines = String(stack ?? "").split("\n").slice(1);
  const frame = lines.find((l) => !l.includes("/memcheck.js"));
  const m = frame && frame.match(/(file:\/\/[^\s)]+):(\d+):\d+/);
  return m ? { url: m[1], line: Number(m[2]) } : null;
}
