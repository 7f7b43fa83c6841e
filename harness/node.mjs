// The Node host: the entry point cargo-memcheck starts as
//   node … node.mjs CHANNEL TEST_FILE_URL list|run|run-many|serve [PLACES|COMMANDS] [--flags]
// (see hosts.js for the arguments).
// It gives the engine-neutral core (core.js) what differs between
// runtimes: the channel, the console, snapshots, the inspector, exiting.
// Node resolves every import from the importing file, so the test file is
// imported from here (Deno preloads its host instead, see deno.js).

import {
  ArrayPrototypeIncludes,
  ErrorCtor,
  ObjectGetPrototypeOf,
  ReflectApply,
  StringPrototypeEndsWith,
  StringPrototypeSlice,
} from "./primordials.js";
import { installConsole, formatArgs } from "./console.js";
import { afterLoad, loadFailed, prepare } from "./core.js";
import { OUTPUT_MARK, chunkBytes, inspectorPoster, parseArgs, readCommand, utf8 } from "./hosts.js";
import { installGuards } from "./node-guards.js";

const proc = process;
const FunctionCtor = Function;
const startsWith = String.prototype.startsWith;
// Builtins are taken as CommonJS code takes them, not imported: importing
// one makes its ES module copy, which reads every export, and loads what
// each lazy one needs (node:fs's `promises` loads readline and the REPL's
// history, node:util's worker_threads), into every snapshot of every test
// (a Node test's snapshot was a fifth larger than bare Node's). The
// inspector is loaded only by the tests that use it.
const getBuiltinModule = proc.getBuiltinModule;
const builtin = (id) => ReflectApply(getBuiltinModule, proc, [id]);
const fs = builtin("node:fs");
const v8 = builtin("node:v8");
const util = builtin("node:util");
const { registerHooks } = builtin("node:module");
// process.stderr is made on first read; node:util's copy used to make it
// (its diff colours read it). Made here still, before the guards and the
// test: packages that log (debug) read it, and a block that did so first
// would count the stream it made.
void proc.stderr;
const exit = proc.exit;
const openSync = fs.openSync;
const writeSync = fs.writeSync;
const readSync = fs.readSync;
const closeSync = fs.closeSync;
const utilInspect = util.inspect;
const getHeapSnapshot = v8.getHeapSnapshot;
const gc = globalThis.gc;
const on = proc.on;
const getActiveResourcesInfo = proc.getActiveResourcesInfo;

const [channel, file, mode, ...rest] = proc.argv.slice(2);
const args = parseArgs(channel, mode, rest);

// `import { test } from "memcheck"` and `require("memcheck")` both name the
// harness's module.
const MEMCHECK = new URL("./memcheck.js", import.meta.url).href;
let testUrl = null;
registerHooks({
  resolve(specifier, context, next) {
    if (specifier === "memcheck") return { url: MEMCHECK, shortCircuit: true };
    const resolved = next(specifier, context);
    // The test file's URL as Node has it (its real path, encoded as Node
    // encodes it), which the runner's need not be.
    if (specifier === file && testUrl === null) testUrl = resolved?.url ?? null;
    return resolved;
  },
  load(url, context, next) {
    const loaded = next(url, context);
    return url === testUrl && testFileIsModule(url, loaded) ? { ...loaded, format: "module" } : loaded;
  },
});

// What V8 says when a CommonJS compile meets an ES module's syntax, or a
// top-level declaration of a name that CommonJS gives every module (which
// only CommonJS refuses), as Node's own detection reads them.
const MODULE_SYNTAX = [
  "Cannot use import statement outside a module",
  "Unexpected token 'export'",
  "Cannot use 'import.meta' outside a module",
  "Identifier 'module' has already been declared",
  "Identifier 'exports' has already been declared",
  "Identifier 'require' has already been declared",
  "Identifier '__filename' has already been declared",
  "Identifier '__dirname' has already been declared",
];

// Whether the test file, which Node would load as CommonJS, is an ES
// module: a `.js` test file in a package whose package.json says
// `"type": "commonjs"` (npm init writes it) or nothing, that `import`s.
// Deno reads such a file by its syntax; Node does only when package.json
// has no "type", and otherwise fails with its syntax error. The project's
// other files load as Node loads them.
function testFileIsModule(url, loaded) {
  if (loaded.format !== "commonjs" || !StringPrototypeEndsWith(url, ".js") || loaded.source == null) return false;
  let source = typeof loaded.source === "string" ? loaded.source : new util.TextDecoder().decode(loaded.source);
  // A `#!` line is a comment only at the very start of a file.
  if (ReflectApply(startsWith, source, ["#!"])) source = `//${StringPrototypeSlice(source, 2)}`;
  try {
    // Compiled as Node compiles CommonJS (in a function of its five
    // names), not run.
    new FunctionCtor("exports", "require", "module", "__filename", "__dirname", source);
    return false;
  } catch (error) {
    return error?.name === "SyntaxError" && ArrayPrototypeIncludes(MODULE_SYNTAX, error.message);
  }
}

// All of `bytes`, at the descriptor's own offset, or at file offset `at`.
function writeAll(fd, bytes, at) {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off, at === undefined ? null : at + off);
}

function inspect(value) {
  return utilInspect(value, { colors: false, depth: 4 });
}

const host = {
  runtime: { name: "node", version: proc.versions.node, v8: proc.versions.v8 },
  gc,
  openChannel(path) {
    const fd = openSync(path, "w");
    return (bytes) => writeAll(fd, bytes);
  },
  // The channel's heap file, which the runner made (see core.js).
  openHeapFile(path) {
    const fd = openSync(path, "w");
    return (bytes, at) => writeAll(fd, bytes, at);
  },
  // The runner's command, from the FIFO at `path` ("serve"), opened now
  // and read (blocking) when the returned function is called.
  commands(path) {
    const fd = openSync(path, "r");
    return function awaitCommand() {
      const command = readCommand((bytes) => readSync(fd, bytes, 0, bytes.length, null));
      closeSync(fd);
      return command;
    };
  },
  // Node takes the snapshot when the stream is first read, and hands out
  // its serialized text synchronously.
  takeSnapshot() {
    const stream = getHeapSnapshot();
    const first = stream.read();
    return { stream, first };
  },
  // What a test's first checkpoint would otherwise set up: with the
  // inspector open (sampled allocated bytes, tracked allocations) a whole
  // snapshot, read, as where the sampling profiler samples follows the
  // heap's layout, which reading it changes; otherwise only a collection,
  // as `warmStream` did the rest before the test file loaded.
  warm() {
    gc();
    if (args.inspector) host.readSnapshot(host.takeSnapshot(), () => {});
  },
  // What a first checkpoint sets up, and its next one counts (see
  // PERFORMANCE.md), without the inspector: the native class of Node's
  // snapshot stream, instantiated with the first stream (its prototypes
  // stay), so a snapshot is taken but neither serialized nor read; and the
  // debug log a Readable's first read sets up (it replaces a getter on the
  // runtime's shared no-op). Done before the test file loads, so that the
  // snapshot is of the runtime alone (after a file that builds a large
  // heap it took seconds: a million objects, 3.4 s of a 13.7 s test).
  warmStream() {
    const stream = getHeapSnapshot();
    const ReadableCtor = ObjectGetPrototypeOf(ObjectGetPrototypeOf(stream)).constructor;
    stream.destroy();
    const readable = new ReadableCtor({ read() {} });
    readable.read(0);
    readable.destroy();
  },
  readSnapshot({ stream, first }, onChunk) {
    let chunk = first;
    while (chunk !== null) {
      onChunk(chunkBytes(chunk));
      chunk = stream.read();
    }
    stream.destroy();
  },
  async openInspector() {
    const session = new (builtin("node:inspector").Session)();
    session.connect();
    return inspectorPoster(session);
  },
  // Node cannot take a permission back: the harness's session stays open
  // and new ones are refused, so a test cannot switch the profilers off.
  async closeInspectorToTests() {
    if (!args.lockInspector) return;
    const refuse = () => {
      throw new ErrorCtor("memcheck: the inspector is the harness's while this test runs");
    };
    const inspectorModule = builtin("node:inspector");
    inspectorModule.Session.prototype.connect = refuse;
    inspectorModule.Session.prototype.connectToMainThread = refuse;
    inspectorModule.open = refuse;
  },
  errorDetails(error) {
    // A denied call names what it touched; a syntax error's place is only
    // in the text util.inspect prints above it ("file:///a.js:4").
    if (error?.code === "ERR_ACCESS_DENIED" && typeof error.resource === "string" && error.resource !== "") {
      return { note: `resource: ${error.resource}` };
    }
    return {};
  },
  // Where a test's output starts, in `isolation = "file"` (the runner splits
  // the output there).
  markOutput() {
    writeAll(1, utf8(OUTPUT_MARK));
  },
  // The kinds of the timers and handles that keep the process alive.
  activeResources() {
    return ReflectApply(getActiveResourcesInfo, proc, []);
  },
  onStrayError(handler) {
    ReflectApply(on, proc, ["unhandledRejection", (reason) => handler("an unhandled promise rejection", reason)]);
    ReflectApply(on, proc, ["uncaughtException", (error) => handler("an uncaught exception", error)]);
  },
};

// What Node's permission model leaves open (the network, node:sqlite,
// signals) is refused in JavaScript, before the test file loads, unless
// `runtime.allow` grants it (the runner passes --allow-net, --allow-write,
// --allow-run after the other flags).
installGuards({
  net: rest.includes("--allow-net"),
  write: rest.includes("--allow-write"),
  run: rest.includes("--allow-run"),
});

installConsole(
  inspect,
  (text) => writeAll(1, utf8(text)),
  (text) => writeAll(2, utf8(text)),
);

// Inspecting a value the first time initialises parts of the runtime; do
// it now, before any checkpoint.
class Warm {}
formatArgs(inspect, ["%s %d %o", "a", 1, { a: [1] }, new Warm(), new Map([[1, 2]]), new Set([1]), new ErrorCtor("warm"), new Date(0), () => {}, Symbol("s"), Promise.resolve(), 1n, new Uint8Array(1), new WeakMap(), /r/]);

if (typeof gc !== "function") {
  writeAll(2, utf8("memcheck: the runtime was started without --expose-gc\n"));
  exit(3);
}

await prepare(host, args);
if (args.mode !== "list" && !args.inspector) host.warmStream();
let loaded = false;
try {
  await import(file);
  loaded = true;
} catch (error) {
  if (error?.name === "SyntaxError" && !error?.code) {
    // Node prints a compile error with its place (file, line, caret) only
    // when nothing catches it: let it through; the runner reads it.
    proc.removeAllListeners("uncaughtException");
    proc.removeAllListeners("unhandledRejection");
    throw error;
  }
  loadFailed(error);
}
try {
  if (loaded) await afterLoad(args);
} finally {
  // Timers or servers a test left running must not keep the runtime alive:
  // everything there is to say has been sent.
  exit(0);
}
