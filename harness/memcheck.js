// The `memcheck` module that test files import: `import { test } from "memcheck"`.
//
// It only records tests; the harness core decides which to run and takes
// the heap snapshots. Keep this file free of work at import time: everything
// it allocates is allocated before the first checkpoint, so it never shows
// up in a block's figures.

import {
  ArrayPrototypePush,
  ErrorCaptureStack,
  JSONStringify,
  TypeErrorCtor,
  ErrorCtor,
} from "./primordials.js";
import { callerSite } from "./site.js";

const registry = [];
let running = null;

/** The tests the current file declared, in order. Used by the harness core. */
export function declaredTests() {
  return registry;
}

/** Called by the harness core around the test it runs. */
export function setRunningTest(name) {
  running = name;
}

/**
 * Declare a memory test.
 *
 * test(name, fn) or test(name, options, fn); options: { budget, timeout, ignore, allocated }.
 * fn(t) may be async; t.measure(name, [options], fn) marks a block.
 */
export function test(name, options, fn) {
  const site = callerSite(ErrorCaptureStack());
  if (running !== null) {
    throw new ErrorCtor(
      `test(${JSONStringify(String(name))}) was called while test ${JSONStringify(running)} runs${at(site)}; declare tests at the top level of the file`,
    );
  }
  if (typeof options === "function") {
    fn = options;
    options = {};
  }
  if (typeof name !== "string" || name.length === 0) {
    throw new TypeErrorCtor(`memcheck: test(name, ...) needs a non-empty string name${at(site)}`);
  }
  if (typeof fn !== "function") {
    throw new TypeErrorCtor(`memcheck: test(${JSONStringify(name)}) needs a function as its last argument${at(site)}`);
  }
  if (options === null || typeof options !== "object") {
    throw new TypeErrorCtor(`memcheck: the options of test(${JSONStringify(name)}) must be an object${at(site)}`);
  }
  ArrayPrototypePush(registry, { name, options, fn, site });
}

function at(site) {
  return site ? ` (${site.url}:${site.line})` : "";
}
