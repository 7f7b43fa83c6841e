// The Deno host, preloaded before the test file, which is the main module:
//   deno run --preload deno.js … TEST_FILE CHANNEL list|run|run-many|serve [PLACES|COMMANDS] [--flags]
// (see hosts.js for the arguments).
// It gives the engine-neutral core (core.js) what differs between
// runtimes: the channel, the console, snapshots, the inspector, exiting,
// and when the main module has loaded.

import { ErrorCtor, ReflectApply } from "./primordials.js";
import v8 from "node:v8";
import { Readable } from "node:stream";
import { Buffer } from "node:buffer";
import { installConsole, formatArgs } from "./console.js";
import { afterLoad, prepare } from "./core.js";
import { OUTPUT_MARK, chunkBytes, inspectorPoster, parseArgs, readCommand, utf8 } from "./hosts.js";

const deno = Deno;
const exit = deno.exit;
const writeSync = deno.FsFile.prototype.writeSync;
const readSync = deno.FsFile.prototype.readSync;
const closeFile = deno.FsFile.prototype.close;
const seekSync = deno.FsFile.prototype.seekSync;
const seekStart = deno.SeekMode.Start;
const openSync = deno.openSync;
const denoInspect = deno.inspect;
const revoke = deno.permissions.revoke;
const permissions = deno.permissions;
const stdout = deno.stdout;
const stderr = deno.stderr;
const stdoutWrite = stdout.writeSync;
const stderrWrite = stderr.writeSync;
const getHeapSnapshot = v8.getHeapSnapshot;
const gc = globalThis.gc;
const addEventListener = globalThis.addEventListener;
const nodeProcess = globalThis.process;
const getActiveResourcesInfo = nodeProcess?.getActiveResourcesInfo;

function writeAllTo(target, method, bytes) {
  let off = 0;
  while (off < bytes.length) off += ReflectApply(method, target, [off === 0 ? bytes : bytes.subarray(off)]);
}

function inspect(value) {
  return denoInspect(value, { colors: false, depth: 4 });
}

const host = {
  runtime: { name: "deno", version: deno.version.deno, v8: deno.version.v8 },
  gc,
  openChannel(path) {
    const file = openSync(path, { write: true });
    return (bytes) => writeAllTo(file, writeSync, bytes);
  },
  // The channel's heap file, which the runner made (see core.js).
  openHeapFile(path) {
    const file = openSync(path, { write: true });
    return (bytes, at) => {
      ReflectApply(seekSync, file, [at, seekStart]);
      writeAllTo(file, writeSync, bytes);
    };
  },
  // The runner's command, from the FIFO at `path` ("serve"), opened now
  // and read (blocking) when the returned function is called.
  commands(path) {
    const file = openSync(path, { read: true });
    return function awaitCommand() {
      const command = readCommand((bytes) => ReflectApply(readSync, file, [bytes]) ?? 0);
      ReflectApply(closeFile, file, []);
      return command;
    };
  },
  // Deno takes the snapshot inside getHeapSnapshot(); the stream then
  // hands out its serialized text.
  takeSnapshot() {
    return getHeapSnapshot();
  },
  // Deno's getHeapSnapshot() hands its bytes out through
  // Readable.from(Buffer): set that path up without a snapshot's cost.
  warm() {
    const stream = Readable.from(Buffer.from("warm"));
    while (stream.read() !== null);
    stream.destroy();
  },
  readSnapshot(stream, onChunk) {
    let chunk;
    while ((chunk = stream.read()) !== null) {
      onChunk(chunkBytes(chunk));
    }
    stream.destroy();
  },
  async openInspector() {
    const { Session } = await import("node:inspector");
    const session = new Session();
    session.connect();
    return inspectorPoster(session);
  },
  // The session stays open; new ones need `sys`, which the runner granted
  // for the harness alone and which goes now, before any user module loads.
  async closeInspectorToTests() {
    if (args.lockInspector) await ReflectApply(revoke, permissions, [{ name: "sys" }]);
  },
  // Where a test's output starts, in `isolation = "file"` (the runner splits
  // the output there).
  markOutput() {
    writeAllTo(stdout, stdoutWrite, utf8(OUTPUT_MARK));
  },
  // The kinds of the timers and handles that keep the process alive.
  activeResources() {
    return getActiveResourcesInfo === undefined ? [] : ReflectApply(getActiveResourcesInfo, nodeProcess, []);
  },
  onStrayError(handler) {
    addEventListener("unhandledrejection", (event) => {
      event.preventDefault();
      handler("an unhandled promise rejection", event.reason);
    });
    addEventListener("error", (event) => {
      event.preventDefault();
      handler("an uncaught exception", event.error);
    });
  },
};

const [channel, mode, ...rest] = deno.args;
const args = parseArgs(channel, mode, rest);

// CommonJS test files `require("memcheck")`: the import map does not reach
// require(), so the name is resolved here, to the same module. Only for
// CommonJS (the runner says so): node:module makes every snapshot larger.
if (args.commonjs) {
  const { default: Module } = await import("node:module");
  const path = decodeURIComponent(new URL("./memcheck.js", import.meta.url).pathname);
  const resolveFilename = Module._resolveFilename;
  Module._resolveFilename = function (request, ...more) {
    return request === "memcheck" ? path : ReflectApply(resolveFilename, this, [request, ...more]);
  };
}

installConsole(
  inspect,
  (text) => writeAllTo(stdout, stdoutWrite, utf8(text)),
  (text) => writeAllTo(stderr, stderrWrite, utf8(text)),
);

// Inspecting a value the first time initialises parts of the runtime (the
// Temporal namespace among them); do it now, before any checkpoint.
class Warm {}
formatArgs(inspect, ["%s %d %o", "a", 1, { a: [1] }, new Warm(), new Map([[1, 2]]), new Set([1]), new ErrorCtor("warm"), new Date(0), () => {}, Symbol("s"), Promise.resolve(), 1n, new Uint8Array(1), new WeakMap(), /r/]);

if (typeof gc !== "function") {
  writeAllTo(stderr, stderrWrite, utf8("memcheck: the runtime was started without --expose-gc\n"));
  exit(3);
}

await prepare(host, args);
// When the event loop empties while the harness still awaits the test (a
// promise nothing will settle), Deno would end quietly with exit code 0:
// say what Node says in that case, which the runner turns into words.
let finished = false;
addEventListener("beforeunload", () => {
  if (!finished) writeAllTo(stderr, stderrWrite, utf8("Warning: Detected unsettled top-level await (the event loop emptied while the test awaited)\n"));
});
// Deno fires `load` once the main module (the test file) has been
// evaluated, its top-level `await`s included.
addEventListener("load", async () => {
  try {
    await afterLoad(args);
  } finally {
    finished = true;
    // Timers or servers a test left running must not keep the runtime
    // alive: everything there is to say has been sent.
    exit(0);
  }
});
