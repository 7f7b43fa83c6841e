// The engine-neutral harness: loads a test file, lists its tests or runs
// one, and takes the checkpoints (full GC + heap snapshot) around its
// blocks. Everything engine-specific (how to write, exit, snapshot, reach
// the inspector) comes from a host object; see deno.js.
//
// It talks to cargo-memcheck over a channel of its own (a FIFO the host
// opens before any user module loads), never over stdout or stderr, which
// belong to the test. A frame is one kind byte ("J" a JSON message, "C" a
// piece of the heap snapshot being sent), a 32-bit little-endian length,
// and that many bytes. A host that can write files (Deno, Node) writes
// each snapshot into the channel's heap file instead (its path plus
// ".heap", made by the runner), each one where the last ended, and says how
// many bytes it wrote in the snapshot's `snapshot_end`.
//
// Snapshots are taken synchronously in the frame of the function that runs
// the block, and the event loop is drained before and after, so that
// nothing the harness allocates for one checkpoint is still alive at the
// next.

import {
  DataViewCtor,
  DataViewPrototypeSetUint32,
  ErrorCaptureStack,
  ErrorCtor,
  ErrorStack,
  JSONStringify,
  PromiseCtor,
  StringCtor,
  StringPrototypeIncludes,
  FunctionPrototypeToString,
  TextEncoderCtor,
  TextEncoderPrototypeEncode,
  TypeErrorCtor,
  TypedArrayLength,
  Uint8ArrayCtor,
  Uint8ArrayPrototypeSubarray,
  NumberCtor,
  NumberIsInteger,
  ObjectKeys,
  StringPrototypeSplit,
  ArrayPrototypeMap,
  ArrayPrototypePop,
  now,
  restoreTestBuiltins,
  setTimeoutFn,
  useOriginalBuiltins,
} from "./primordials.js";
import { declaredTests, setRunningTest } from "./memcheck.js";
import { callerSite, siteText } from "./site.js";
import {
  BLOCK_OPTIONS,
  CHECKPOINT_OPTIONS,
  describeTest,
  describeValue,
  jsonValue,
  knownOptions,
  wantsAllocated,
  wellFormed,
} from "./values.js";

const CHUNK = 1 << 20;
const KIND_JSON = 0x4a; // "J"
const KIND_CHUNK = 0x43; // "C"

let host = null;
let write = null;
// Writes to the heap file at a given offset, where the host has one.
let writeHeap = null;
let heapPath = "";
// Where the next snapshot starts in the heap file (just past the last one
// announced whole: a write that failed half-way is written over, and the
// runner's count of offsets stays the harness's), and how much of it has
// been written. Fields that hold doubles from the start, so that setting
// them allocates nothing a later snapshot could see.
const HEAP = { at: 0.5, written: 0.5 };
const encoder = new TextEncoderCtor();
const header = new Uint8ArrayCtor(5);
const headerView = new DataViewCtor(header.buffer);

function frame(kind, payload) {
  header[0] = kind;
  DataViewPrototypeSetUint32(headerView, 1, TypedArrayLength(payload), true);
  write(header);
  write(payload);
}

function send(message) {
  frame(KIND_JSON, TextEncoderPrototypeEncode(encoder, JSONStringify(message)));
}

// Let timers, microtasks and stream teardown run, so that what they allocated
// is garbage by the next snapshot.
function settle() {
  if (host.settle !== undefined) return host.settle();
  return new PromiseCtor((resolve) => setTimeoutFn(resolve, 0));
}

// The messages sent around a snapshot are made once, up front, so that
// sending them allocates nothing a later snapshot could see but garbage.
const SNAPSHOT = { type: "snapshot", label: "", took: 0.5 };
const SNAPSHOT_END = { type: "snapshot_end", label: "", bytes: null };

function sendChunk(bytes) {
  for (let off = 0; off < TypedArrayLength(bytes); off += CHUNK) {
    frame(KIND_CHUNK, Uint8ArrayPrototypeSubarray(bytes, off, off + CHUNK));
  }
}

// In pieces of a MiB: Deno writes a snapshot of 270 MB given whole at a
// ninth of the speed.
function writeChunk(bytes) {
  for (let off = 0; off < TypedArrayLength(bytes); off += CHUNK) {
    const piece = Uint8ArrayPrototypeSubarray(bytes, off, off + CHUNK);
    writeHeap(piece, HEAP.at + HEAP.written);
    HEAP.written += TypedArrayLength(piece);
  }
}

function writeSnapshot(snapshot) {
  HEAP.written = 0;
  try {
    host.readSnapshot(snapshot, writeChunk);
  } catch (error) {
    throw new ErrorCtor(
      `memcheck could not write a heap snapshot to ${heapPath} (${StringCtor(error?.message ?? error)}); ` +
        "it needs room for a snapshot or two there: free some space, or set TMPDIR to a folder with room",
    );
  }
  SNAPSHOT_END.bytes = HEAP.written;
  HEAP.at += HEAP.written;
  HEAP.written = 0;
}

function dropChunk() {}

// Take a snapshot now and send it (or drop it when `label` is null). The
// snapshot is taken before anything is written, so that no message of
// this checkpoint is in it.
function capture(label) {
  useOriginalBuiltins();
  try {
    captureWithBuiltins(label);
  } finally {
    restoreTestBuiltins();
  }
}

function captureWithBuiltins(label) {
  const started = now();
  // V8 collects all garbage itself before it takes a heap snapshot; with
  // allocation tracking on, that collection alone sometimes leaves objects
  // of a repeat block's later runs without their stacks: a full collection
  // first keeps them, run after run.
  if (tracking) host.gc();
  const snapshot = host.takeSnapshot(label);
  SNAPSHOT.took = now() - started;
  if (label === null) {
    host.readSnapshot(snapshot, dropChunk);
    return;
  }
  SNAPSHOT.label = label;
  send(SNAPSHOT);
  if (writeHeap === null) {
    host.readSnapshot(snapshot, sendChunk);
  } else {
    writeSnapshot(snapshot);
  }
  SNAPSHOT_END.label = label;
  send(SNAPSHOT_END);
  SNAPSHOT.label = SNAPSHOT_END.label = "";
  SNAPSHOT_END.bytes = null;
}

function describeError(error) {
  if (error instanceof ErrorCtor) {
    let message;
    try {
      message = `${StringCtor(error.name)}: ${StringCtor(error.message)}`;
    } catch {
      message = "(an error whose message cannot be read)";
    }
    // What the runtime knows beyond the message (a denied path, a syntax
    // error's place), when the host can tell.
    const more = host?.errorDetails?.(error) ?? {};
    if (more.note) message = `${message} (${more.note})`;
    return { message: wellFormed(message), stack: wellFormed(more.stack ?? ErrorStack(error)) };
  }
  return { message: `a non-Error value was thrown: ${describeValue(error)}`, stack: "" };
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
// checkpoint after each run. `warmup` runs it that many times more before
// the first checkpoint, so that what its first call sets up once (a cache,
// a lazily loaded module) is there before the block is measured.
async function measureBlock(block, fn, index) {
  const repeat = block.repeat;
  const labels = [`b${index}-before`];
  for (let i = 1; i <= (repeat > 1 ? repeat : 1); i++) labels[i] = repeat > 0 ? `b${index}-run${i}` : `b${index}-after`;
  send({ type: "block", name: block.name, budget: block.budget, repeat, warmup: block.warmup, line: block.site?.line ?? null, url: block.site?.url ?? null });
  const warmups = (repeat > 0 ? 1 : 0) + block.warmup;
  for (let i = 0; i < warmups; i++) await runBlockBody(fn);
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
  send({ type: "block_end", name: block.name });
}

// `repeat: true` means 5 runs; a number is the number of measured runs.
function repeatCount(name, repeat) {
  if (repeat === undefined || repeat === false) return 0;
  if (repeat === true) return 5;
  if (typeof repeat !== "number" || !NumberIsInteger(repeat) || repeat < 2 || repeat > 100) {
    throw new TypeErrorCtor(
      `t.measure(${JSONStringify(name)}): repeat must be true or a whole number from 2 to 100, not ${describeValue(repeat)}`,
    );
  }
  return repeat;
}

// `warmup: true` is 1 run before the first checkpoint; a number is that
// many; `false` or no key, none.
function warmupCount(warmup) {
  if (warmup === undefined || warmup === false) return 0;
  if (warmup === true) return 1;
  if (typeof warmup !== "number" || !NumberIsInteger(warmup) || warmup < 1 || warmup > 100) {
    throw new TypeErrorCtor(`warmup must be true or a whole number from 1 to 100, not ${describeValue(warmup)}`);
  }
  return warmup;
}

// Allocation tracking (a re-run that explains a failure) and the sampling
// heap profiler (allocated bytes) go through one inspector session that the
// host opens before any user module loads, and then closes to the test.
let inspector = null;

let tracking = false;

async function startTracking() {
  tracking = true;
  await inspector.post("HeapProfiler.startTrackingHeapObjects", { trackAllocations: true });
}

// Allocated bytes, garbage included: the sampling heap profiler keeps
// samples of objects that were collected too. V8 runs with
// --sampling-heap-profiler-suppress-randomness, so the figure repeats.
let sampling = false;
const ALLOCATED = { type: "allocated", bytes: 0 };

async function startSampling() {
  if (!sampling) return;
  await inspector.post("HeapProfiler.startSampling", {
    samplingInterval: 512,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}

async function stopSampling() {
  if (!sampling) return;
  // Stopping hands the profile over: nothing allocated after the block
  // (the profile's own objects among them) is sampled.
  const { profile } = await inspector.post("HeapProfiler.stopSampling", {});
  let bytes = 0;
  const pending = [profile.head];
  while (pending.length > 0) {
    const node = ArrayPrototypePop(pending);
    bytes += node.selfSize;
    for (let i = 0; i < node.children.length; i++) pending[pending.length] = node.children[i];
  }
  ALLOCATED.bytes = bytes;
  send(ALLOCATED);
}

/** Failures that happen outside the test's own promise chain. */
const stray = { error: null };

function noteStray(kind, error) {
  if (stray.error !== null) return;
  const described = describeError(error);
  stray.error = { message: `${kind}: ${described.message}`, stack: described.stack };
}

function blockOptions(name, options, site) {
  if (options === null || typeof options !== "object") {
    throw new TypeErrorCtor(`t.measure(${JSONStringify(name)}): options must be an object, not ${describeValue(options)}`);
  }
  let budget = null;
  let warmup = 0;
  try {
    knownOptions(options, BLOCK_OPTIONS, "a block");
    budget = options.budget === undefined ? null : jsonValue(options.budget, "budget");
    warmup = warmupCount(options.warmup);
  } catch (error) {
    throw new TypeErrorCtor(`t.measure(${JSONStringify(name)}) at ${siteText(site)}: ${error.message}`);
  }
  return { name: wellFormed(name), budget, repeat: repeatCount(name, options.repeat), warmup, site };
}

// Whether a test's function may call t.measure or t.checkpoint: its source
// names one. Only a test that cannot is measured as one whole-body block
// from the start (a snapshot the others would throw away); one that could
// but did not is run again as a whole-body block (see `needs_whole`).
function mayMeasure(fn) {
  try {
    const source = FunctionPrototypeToString(fn);
    return StringPrototypeIncludes(source, "measure") || StringPrototypeIncludes(source, "checkpoint");
  } catch {
    return true;
  }
}

// ---- Steps: t.checkpoint ----------------------------------------------------
// The first checkpoint of a test only opens its chain of steps; each later
// one closes a step named by its label, measured by the runner from the
// snapshot of the checkpoint before (one snapshot per checkpoint, used by
// the step it closes and the one it opens). Between two snapshots the
// harness keeps nothing new of its own alive but this call's frame, which
// the runner leaves out (see `held_across` in src/diff/census.rs): no name
// is kept, so the runner checks that names are unique (it has them all).

/** A checkpoint's label and options, checked: `{ name, budget, site }`. */
function checkpointOptions(label, options, site) {
  if (typeof label !== "string" || label.length === 0) {
    throw new TypeErrorCtor(`t.checkpoint(label, ...) needs a non-empty string label (${siteText(site)})`);
  }
  const name = wellFormed(label);
  const at = `t.checkpoint(${JSONStringify(name)}) at ${siteText(site)}`;
  if (options === undefined) return { name, budget: null, site, checkpoint: true };
  if (options === null || typeof options !== "object") {
    throw new TypeErrorCtor(`${at}: options must be an object like { budget: { objects: 0 } }, not ${describeValue(options)}`);
  }
  let budget = null;
  try {
    knownOptions(options, CHECKPOINT_OPTIONS, "a checkpoint");
    budget = options.budget === undefined ? null : jsonValue(options.budget, "budget");
  } catch (error) {
    throw new TypeErrorCtor(`${at}: ${error.message}`);
  }
  if (budget !== null && typeof budget === "object" && budget.allocated !== undefined) {
    throw new TypeErrorCtor(`${at}: budget.allocated applies to t.measure blocks only; a step cannot measure allocated bytes (measure that code with t.measure, or drop the key)`);
  }
  return { name, budget, site, checkpoint: true };
}

/** Why a checkpoint cannot be taken now, as an Error, or null. */
function checkpointRefused(step, state, testName) {
  const at = `t.checkpoint(${JSONStringify(step.name)}) at ${siteText(step.site)}`;
  if (state.ended) {
    return new ErrorCtor(`${at} was called after test ${JSONStringify(wellFormed(testName))} had ended; await it inside the test body`);
  }
  if (state.open !== null) {
    return new ErrorCtor(
      `${at} was called while ${openAt(state.open)} ${state.open.checkpoint ? "was being taken" : "ran"}; await each t.measure and t.checkpoint before the next (is an \`await\` missing?), and take checkpoints outside t.measure blocks`,
    );
  }
  if (sampling) {
    return new ErrorCtor(`${at}: this test measures allocated bytes, which only t.measure blocks can; drop \`allocated\` from the test's options and budget, or measure with t.measure`);
  }
  if (state.checkpoints === 0 && step.budget !== null) {
    return new ErrorCtor(`${at} is the test's first checkpoint: it closes no step, so its budget applies to nothing; put the budget on the checkpoint that ends the step`);
  }
  return null;
}

/** `block "name"` or `checkpoint "name"`, for messages. */
function openText(open) {
  return `${open.checkpoint ? "checkpoint" : "block"} ${JSONStringify(open.name)}`;
}

/** The open block or checkpoint with the line that started it. */
function openAt(open) {
  return `${openText(open)} (${siteText(open.site)})`;
}

let warmed = false;

async function runTest(entry, forceWhole) {
  // Warm what the first checkpoint would otherwise set up lazily (the
  // runtime's stream classes, say) so that the first block sees none of it.
  if (!warmed) {
    warmed = true;
    host.warm();
    await settle();
    await settle();
  }
  const whole = forceWhole || !mayMeasure(entry.fn);

  const state = { blocks: 0, checkpoints: 0, first: null, open: null, ended: false, late: null };
  const t = {
    name: entry.name,
    async measure(name, options, fn) {
      const site = callerSite(ErrorCaptureStack());
      if (typeof options === "function") {
        fn = options;
        options = {};
      }
      const label = typeof name === "string" ? JSONStringify(wellFormed(name)) : "(name)";
      if (state.ended) {
        const error = new ErrorCtor(
          `t.measure(${label}) was called after test ${JSONStringify(wellFormed(entry.name))} had ended (${siteText(site)}); await it inside the test body`,
        );
        state.late ??= error;
        throw error;
      }
      if (typeof name !== "string" || name.length === 0) {
        throw new TypeErrorCtor("t.measure(name, ...) needs a non-empty string name");
      }
      if (typeof fn !== "function") {
        throw new TypeErrorCtor(`t.measure(${label}) needs a function as its last argument`);
      }
      if (state.open !== null) {
        throw new ErrorCtor(
          `t.measure(${label}) was called inside ${openAt(state.open)}; blocks cannot nest (is an \`await\` missing before the first t.measure or t.checkpoint?)`,
        );
      }
      const block = blockOptions(name, options, site);
      state.blocks++;
      state.open = block;
      try {
        // The whole-body sampling started for a test without blocks: drop it.
        if (state.blocks === 1 && sampling && whole) await inspector.post("HeapProfiler.stopSampling", {});
        await measureBlock(block, fn, state.blocks);
      } finally {
        state.open = null;
      }
    },
    // The snapshot is taken in this call's frame, after the event loop has
    // drained, as a block's are; `state.open` (new since the last
    // checkpoint) is let go just before it.
    async checkpoint(label, options) {
      const step = checkpointOptions(label, options, callerSite(ErrorCaptureStack()));
      const refused = checkpointRefused(step, state, entry.name);
      if (refused !== null) {
        if (state.ended) state.late ??= refused;
        throw refused;
      }
      state.open = step;
      state.checkpoints++;
      if (state.checkpoints === 1) state.first = step;
      try {
        send({ type: "checkpoint", name: step.name, budget: step.budget, line: step.site?.line ?? null, url: step.site?.url ?? null });
        await settle();
        await settle();
        state.open = null;
        capture(`c${state.checkpoints}`);
        send({ type: "checkpoint_end", name: step.name });
      } finally {
        state.open = null;
      }
    },
  };

  // A test that never calls t.measure or t.checkpoint is one block spanning
  // its body: take that block's "before" now, and drop it if a block or a
  // checkpoint turns up.
  if (whole) {
    send({ type: "whole_before" });
    await settle();
    await settle();
    capture("whole-before");
    await settle();
    await settle();
    await startSampling();
  }
  await entry.fn(t);
  if (state.open !== null) {
    const call = state.open.checkpoint ? "t.checkpoint" : "t.measure";
    throw new ErrorCtor(
      `${openText(state.open)} was started but the test returned before it finished — is \`await ${call}(...)\` missing? (${siteText(state.open.site)})`,
    );
  }
  state.ended = true;
  if (state.checkpoints === 1) {
    throw new ErrorCtor(
      `t.checkpoint(${JSONStringify(state.first.name)}) at ${siteText(state.first.site)} is the test's only checkpoint: a step runs from one checkpoint to the next; add \`await t.checkpoint(label)\` after the code to measure`,
    );
  }
  const measured = state.blocks + state.checkpoints;
  if (measured === 0 && !whole) {
    send({ type: "needs_whole" });
    return false;
  }
  if (measured === 0) {
    await stopSampling();
    await settle();
    await settle();
    capture("whole-after");
    send({ type: "whole_after", name: wellFormed(entry.name) });
  }
  // Give a forgotten promise a turn to call t.measure late or reject.
  await settle();
  if (state.late !== null) throw state.late;
  return true;
}

function list() {
  send({ type: "tests", tests: ArrayPrototypeMap(declaredTests(), describeTest) });
}

// ---- Work left pending (isolation = "file") ---------------------------------
// A test that returns while a timer or a handle of its is still active may
// fail after it ended, in the next test's time. The runner charges such a
// late error to the test that left work pending (it says so here), and
// runs the test it surfaced in again on its own.

let many = false;
let resourcesBefore = null;

/** How many active resources (timers, handles) of each kind there are. */
function resourceCounts() {
  const counts = { __proto__: null };
  const list = host.activeResources?.() ?? [];
  for (let i = 0; i < list.length; i++) counts[list[i]] = (counts[list[i]] ?? 0) + 1;
  return counts;
}

/** Whether the test that just ended left more active resources than it found. */
function leftPending() {
  if (resourcesBefore === null) return false;
  const now = resourceCounts();
  const kinds = ObjectKeys(now);
  for (let i = 0; i < kinds.length; i++) {
    if (now[kinds[i]] > (resourcesBefore[kinds[i]] ?? 0)) return true;
  }
  return false;
}

async function runOne(index, trace, forceWhole) {
  const entry = declaredTests()[index];
  if (entry === undefined) {
    send({ type: "error", message: `the file declares no test #${index}: did it change since it was listed?`, stack: "" });
    return;
  }
  // The runner checks that this is the test it asked for.
  send({ type: "test_start", name: wellFormed(entry.name) });
  setRunningTest(wellFormed(entry.name));
  try {
    if (trace) await startTracking();
    sampling = wantsAllocated(entry.options);
    if (many) resourcesBefore = resourceCounts();
    if (!(await runTest(entry, forceWhole))) return;
    if (stray.error !== null) {
      // In a shared process, a stray error may be an earlier test's: the
      // runner finds out by running this test again on its own.
      send({ type: "error", ...stray.error, stray: many });
    } else {
      send({ type: "passed", left_pending: many && leftPending() });
    }
  } catch (error) {
    send({ type: "error", ...describeError(error) });
  }
}

/**
 * Start the harness with `host`, before the test file loads (the test file
 * is the runtime's main module, so that the project's own configuration
 * applies to it; the harness is preloaded). `args`: { mode: "list"|"run"|
 * "run-many"|"serve", channel (a path), index or indices, commands (a
 * path, for "serve"), trace, inspector }.
 */
export async function prepare(engineHost, args) {
  host = engineHost;
  write = host.openChannel(args.channel);
  if (host.openHeapFile !== undefined) {
    heapPath = `${args.channel}.heap`;
    writeHeap = host.openHeapFile(heapPath);
    HEAP.at = 0;
    HEAP.written = 0;
  }
  send({ type: "runtime", ...host.runtime });
  host.onStrayError((kind, error) => noteStray(kind, error));
  if (args.inspector) {
    inspector = await host.openInspector();
    await inspector.post("HeapProfiler.enable", {});
    await host.closeInspectorToTests();
  }
  // Whatever the first look at the active resources sets up, it does now,
  // before any checkpoint.
  if (args.mode === "run-many") host.activeResources?.();
  send({ type: "loading" });
}

/** The test file did not load (a host that imports it itself says so). */
export function loadFailed(error) {
  send({ type: "load_error", ...describeError(error) });
}

/** Once the test file has loaded: list its tests or run one. */
export async function afterLoad(args) {
  // A throw in the file's top-level code arrives as a rejection just after.
  await settle();
  if (stray.error !== null) {
    send({ type: "load_error", ...stray.error });
    return;
  }
  if (args.mode === "list") {
    list();
  } else if (args.mode === "serve") {
    await serve(args);
  } else if (args.mode === "run-many") {
    await runMany(args.indices);
  } else {
    await runOne(args.index, args.trace, args.whole);
  }
}

// List the tests and warm up, then wait for the runner's one command (once
// it has listed every file and chosen what runs): "run N" (or "run-whole N") runs
// test N as the "run" mode does, "run-many N,M,…" as "run-many"; anything
// else (the runner closed its end) runs nothing. The wait blocks the event
// loop: nothing of the test file's runs meanwhile.
async function serve(args) {
  // Open before listing: the runner may answer as soon as it has the list.
  const awaitCommand = host.commands(args.commands);
  list();
  // Warm up while the runner lists the other files (as runTest would).
  warmed = true;
  host.warm();
  await settle();
  await settle();
  const command = StringPrototypeSplit(awaitCommand(), " ");
  const verb = command[0];
  if (verb === "run" || verb === "run-whole") {
    await runOne(NumberCtor(command[1]), args.trace, verb === "run-whole");
  } else if (verb === "run-many") {
    // As `prepare` does for "run-many": before any checkpoint.
    host.activeResources?.();
    await runMany(ArrayPrototypeMap(StringPrototypeSplit(command[1], ","), NumberCtor));
  }
}

// `isolation = "file"`: the tests at `indices`, one after another in this
// process, each with its own checkpoints. A line on stdout marks where each
// test's output starts; a failure stays the test's own.
async function runMany(indices) {
  many = true;
  for (let i = 0; i < indices.length; i++) {
    host.markOutput();
    stray.error = null;
    await runOne(indices[i], false, false);
    setRunningTest(null);
  }
}
