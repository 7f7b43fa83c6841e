// The harness entry point: `runner.js list FILE_URL` or `runner.js run FILE_URL TEST_NAME`.
//
// It talks to cargo-memcheck over stdout with frames: a header line
// "\x1eMC1 <kind> <len>\n" followed by <len> bytes, where kind is `json` (a
// message) or `chunk` (a piece of the heap snapshot being sent). Anything the
// test prints goes to stderr, so stdout carries frames only.
//
// Checkpoints use `v8.getHeapSnapshot()`, which needs no permission: the
// snapshot is taken synchronously inside that call, streamed to stdout, and
// the event loop is drained before and after so that nothing the harness
// allocates for one checkpoint is still alive at the next.

import v8 from "node:v8";
import { declaredTests } from "./memcheck.js";

const encoder = new TextEncoder();
const CHUNK = 1 << 20;

function writeAll(stream, bytes) {
  let off = 0;
  while (off < bytes.length) off += stream.writeSync(bytes.subarray(off));
}

function frame(kind, payload) {
  writeAll(Deno.stdout, encoder.encode(`\x1eMC1 ${kind} ${payload.length}\n`));
  writeAll(Deno.stdout, payload);
}

function send(message) {
  frame("json", encoder.encode(JSON.stringify(message)));
}

// Test output goes to stderr, so that stdout carries frames only. It is
// formatted to text at once and written synchronously: Deno's console keeps
// the values it was given (for an attached inspector), which would make
// every logged object look retained and log-heavy tests nondeterministic.
function inspect(value) {
  return typeof value === "string" ? value : Deno.inspect(value, { colors: false, depth: 4 });
}

function formatArgs(args) {
  const parts = [];
  let rest = 0;
  if (typeof args[0] === "string" && args[0].includes("%")) {
    rest = 1;
    parts.push(
      args[0].replace(/%([sdifoOjc%])/g, (spec, kind) => {
        if (kind === "%") return "%";
        if (rest >= args.length) return spec;
        const value = args[rest++];
        switch (kind) {
          case "s":
            return typeof value === "string" ? value : inspect(value);
          case "d":
          case "i":
            return typeof value === "bigint" ? `${value}n` : String(kind === "i" ? Math.trunc(Number(value)) : Number(value));
          case "f":
            return String(Number(value));
          case "c":
            return "";
          default:
            return inspect(value);
        }
      }),
    );
  }
  for (let i = rest; i < args.length; i++) parts.push(inspect(args[i]));
  return parts.join(" ");
}

function writeOutput(text) {
  writeAll(Deno.stderr, encoder.encode(text.endsWith("\n") ? text : `${text}\n`));
}

for (const method of ["log", "info", "debug", "error", "warn"]) {
  console[method] = (...args) => writeOutput(formatArgs(args));
}
console.dir = (value) => writeOutput(inspect(value));
console.trace = (...args) => {
  const stack = String(new Error().stack ?? "").split("\n").slice(2).join("\n");
  writeOutput(`Trace${args.length ? `: ${formatArgs(args)}` : ""}\n${stack}`);
};
console.table = (value) => writeOutput(inspect(value));

// Inspecting a value the first time initialises parts of the runtime (the
// Temporal namespace among them); do it now, before any checkpoint.
class Warm {}
formatArgs(["%s %d %o", "a", 1, { a: [1] }, new Warm(), new Map([[1, 2]]), new Set([1]), new Error("warm"), new Date(0), () => {}, Symbol("s"), Promise.resolve(), 1n, new Uint8Array(1), new WeakMap(), /r/]);

const gc = globalThis.gc;
if (typeof gc !== "function") {
  send({ type: "fatal", message: "the runtime was started without --expose-gc" });
  Deno.exit(3);
}

// Let timers, microtasks and stream teardown run, so that what they allocated
// is garbage by the next snapshot.
function settle() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

// The messages sent around a snapshot are made once, up front, so that
// sending them allocates nothing a later snapshot could see but garbage.
const SNAPSHOT = { type: "snapshot", label: "" };
const SNAPSHOT_END = { type: "snapshot_end", label: "" };

// Take a snapshot now and send it (or drop it when `label` is null).
function capture(label) {
  gc();
  const stream = v8.getHeapSnapshot();
  if (label !== null) {
    SNAPSHOT.label = label;
    send(SNAPSHOT);
  }
  let chunk;
  while ((chunk = stream.read()) !== null) {
    if (label === null) continue;
    const bytes = typeof chunk === "string" ? encoder.encode(chunk) : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let off = 0; off < bytes.length; off += CHUNK) {
      frame("chunk", bytes.subarray(off, Math.min(off + CHUNK, bytes.length)));
    }
  }
  stream.destroy();
  if (label !== null) {
    SNAPSHOT_END.label = label;
    send(SNAPSHOT_END);
    SNAPSHOT.label = SNAPSHOT_END.label = "";
  }
}

function describe(error) {
  if (error instanceof Error) {
    return { message: `${error.name}: ${error.message}`, stack: String(error.stack ?? "") };
  }
  return { message: `a non-Error value was thrown: ${safeString(error)}`, stack: "" };
}

function safeString(value) {
  try {
    return typeof value === "string" ? JSON.stringify(value) : String(value);
  } catch {
    return "(unprintable)";
  }
}

// Run `fn` and wait for it when it returns a promise.
async function runBlockBody(fn) {
  const result = fn();
  if (result !== null && typeof result === "object" && typeof result.then === "function") {
    await result;
  }
}

// The snapshots are taken in the frame of the function that runs the block,
// never in a helper's fresh async frame: that frame would be new in "after".
// With `repeat`, the body runs once to warm up, then `repeat` times with a
// checkpoint after each run.
async function measureBlock(name, budget, repeat, fn, index) {
  const labels = [`b${index}-before`];
  for (let i = 1; i <= Math.max(repeat, 1); i++) labels.push(repeat > 0 ? `b${index}-run${i}` : `b${index}-after`);
  send({ type: "block", name, budget: budget ?? null, repeat });
  if (repeat > 0) await runBlockBody(fn);
  await settle();
  await settle();
  capture(labels[0]);
  await startSampling();
  for (let i = 1; i < labels.length; i++) {
    await settle();
    await settle();
    await runBlockBody(fn);
    if (i === labels.length - 1) await stopSampling();
    await settle();
    await settle();
    capture(labels[i]);
  }
  send({ type: "block_end", name });
}

// `repeat: true` means 5 runs; a number is the number of measured runs.
function repeatCount(name, repeat) {
  if (repeat === undefined || repeat === false) return 0;
  if (repeat === true) return 5;
  if (!Number.isInteger(repeat) || repeat < 2 || repeat > 100) {
    throw new TypeError(`t.measure(${JSON.stringify(name)}): repeat must be true or a whole number from 2 to 100`);
  }
  return repeat;
}

// With allocation tracking (a re-run that explains a failure), every object
// allocated from here on carries the stack that allocated it, and snapshots
// include those stacks. Needs --allow-sys for node:inspector.
let inspector = null;
async function post(method, params) {
  if (inspector === null) {
    const { Session } = await import("node:inspector");
    inspector = new Session();
    inspector.connect();
  }
  return await new Promise((resolve, reject) => {
    // Deno: an inspector callback alone does not keep the event loop alive.
    // A timer that never fires holds it, without allocating while we wait.
    const keepAlive = setTimeout(() => {}, 2 ** 30);
    inspector.post(method, params, (error, result) => {
      clearTimeout(keepAlive);
      if (error) reject(error);
      else resolve(result);
    });
  });
}

async function startTracking() {
  await post("HeapProfiler.enable", {});
  await post("HeapProfiler.startTrackingHeapObjects", { trackAllocations: true });
}

// Allocated bytes, garbage included: the sampling heap profiler keeps
// samples of objects that were collected too. V8 runs with
// --sampling-heap-profiler-suppress-randomness, so the figure repeats.
let sampling = false;
const ALLOCATED = { type: "allocated", bytes: 0 };

async function startSampling() {
  if (!sampling) return;
  await post("HeapProfiler.startSampling", {
    samplingInterval: 512,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}

async function stopSampling() {
  if (!sampling) return;
  const { profile } = await post("HeapProfiler.getSamplingProfile", {});
  await post("HeapProfiler.stopSampling", {});
  let bytes = 0;
  const pending = [profile.head];
  while (pending.length > 0) {
    const node = pending.pop();
    bytes += node.selfSize;
    for (const child of node.children) pending.push(child);
  }
  ALLOCATED.bytes = bytes;
  send(ALLOCATED);
}

/** Whether a test asks for allocated bytes (option or budget). */
function wantsAllocated(options) {
  return Boolean(options.allocated) || options.budget?.allocated !== undefined;
}

async function runTest(entry) {
  // Warm the checkpoint path (code, feedback, stream classes) with an empty,
  // unreported block so the first real block sees none of it.
  for (let i = 0; i < 2; i++) {
    await settle();
    capture(null);
  }

  const names = new Set();
  let blocks = 0;
  let active = false;
  const t = {
    name: entry.name,
    async measure(name, options, fn) {
      if (typeof options === "function") {
        fn = options;
        options = {};
      }
      if (typeof name !== "string" || name.length === 0) {
        throw new TypeError("t.measure(name, ...) needs a non-empty string name");
      }
      if (typeof fn !== "function") {
        throw new TypeError(`t.measure(${JSON.stringify(name)}) needs a function as its last argument`);
      }
      if (names.has(name)) {
        throw new Error(`t.measure(${JSON.stringify(name)}) is used twice in this test; block names must be unique`);
      }
      if (active) {
        throw new Error(`t.measure(${JSON.stringify(name)}) was called inside another block; blocks cannot nest`);
      }
      names.add(name);
      blocks++;
      // The whole-body sampling started for a test without blocks: drop it.
      if (blocks === 1 && sampling) await post("HeapProfiler.stopSampling", {});
      active = true;
      try {
        await measureBlock(name, options?.budget, repeatCount(name, options?.repeat), fn, blocks);
      } finally {
        active = false;
      }
    },
  };

  // A test that never calls t.measure is one block spanning its body: take
  // that block's "before" now, and drop it if a block turns up.
  send({ type: "whole_before" });
  await settle();
  await settle();
  capture("whole-before");
  await settle();
  await settle();
  await startSampling();
  await entry.fn(t);
  if (blocks === 0) {
    await stopSampling();
    await settle();
    await settle();
    capture("whole-after");
    send({ type: "whole_after", name: entry.name });
  }
}

async function main() {
  const [mode, fileUrl, testName, trace] = Deno.args;
  send({ type: "runtime", name: "deno", version: Deno.version.deno, v8: Deno.version.v8 });
  try {
    await import(fileUrl);
  } catch (error) {
    send({ type: "load_error", ...describe(error) });
    return;
  }
  const tests = declaredTests();
  if (mode === "list") {
    send({
      type: "tests",
      tests: tests.map((t) => ({
        name: t.name,
        line: t.site?.url === fileUrl ? t.site.line : null,
        ignore: Boolean(t.options.ignore),
        allocated: wantsAllocated(t.options),
        timeout: t.options.timeout ?? null,
        budget: t.options.budget ?? null,
      })),
    });
    return;
  }
  const entry = tests.find((t) => t.name === testName);
  if (!entry) {
    send({ type: "error", message: `no test named ${JSON.stringify(testName)} in this file`, stack: "" });
    return;
  }
  try {
    if (trace === "trace") await startTracking();
    sampling = wantsAllocated(entry.options);
    // Open the inspector session before any checkpoint, so it is never new.
    if (sampling) await post("HeapProfiler.enable", {});
    await runTest(entry);
    send({ type: "passed" });
  } catch (error) {
    send({ type: "error", ...describe(error) });
  }
}

await main();
// Timers or servers a test left running must not keep the runtime alive:
// everything there is to say has been sent.
Deno.exit(0);
