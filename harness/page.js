// The page host: the harness in a page of headless Chromium, loaded by
// the page the runner serves (/__memcheck__/run.html), which names the job
// in a JSON script element. It gives the engine-neutral core (core.js)
// what differs in a browser:
// - the channel is a binding the runner added (Runtime.addBinding): each
//   message is one call, `J` + JSON; output is `O` + text, `M` marks the
//   next test's output, `I` + JSON an inspector call, `E` says the job is
//   over;
// - "serve": the runner's command is set while the page stops at a
//   `debugger` statement in `awaitCommand`;
// - a page cannot snapshot its own heap: at a checkpoint the harness stops
//   at a `debugger` statement in its own frame and the runner takes the
//   snapshot while the page is paused, then hands it on after the
//   harness's `snapshot` message;
// - allocation tracking is switched on by the runner before the page loads;
//   the sampling heap profiler (allocated bytes) is asked for with an `I`
//   message, then a stop in `inspectorCall` while the runner calls it.

import { ErrorCtor, JSONParse, JSONStringify, ReflectApply, StringCtor } from "./primordials.js";
import { installConsole } from "./console.js";
import { afterLoad, loadFailed, prepare } from "./core.js";
import { parseArgs } from "./hosts.js";

const win = globalThis;
const send = win.__memcheckSend;
// The binding is the harness's: a test cannot reach it by name.
try {
  delete win.__memcheckSend;
} catch {
  // A binding that cannot be deleted stays; the runner checks every message.
}
const TextDecoderCtor = win.TextDecoder;
const decode = TextDecoderCtor.prototype.decode;
const decoder = new TextDecoderCtor();
const addEventListener = win.addEventListener;
const gc = typeof win.gc === "function" ? win.gc : () => {};

function call(payload) {
  ReflectApply(send, win, [payload]);
}

// A value as text, for console output.
function inspect(value) {
  if (typeof value === "string") return value;
  if (value instanceof ErrorCtor) return StringCtor(value.stack ?? value);
  if (typeof value === "function") return `[Function ${value.name || "(anonymous)"}]`;
  if (value !== null && typeof value === "object") {
    try {
      const text = JSONStringify(value);
      if (text !== undefined) return text;
    } catch {
      // A cycle, a BigInt: fall back to the tag.
    }
    return StringCtor(value);
  }
  return StringCtor(value);
}

const job = JSONParse(win.document.getElementById("memcheck-job").textContent);

// A turn of the event loop through a message port whose handler lives as
// long as the page: a timer's callback would still be held by the timer
// while its task runs, and so be in the snapshot taken in that task.
const PromiseCtor = Promise;
const channel = new win.MessageChannel();
let settled = null;
channel.port1.onmessage = () => {
  const resolve = settled;
  settled = null;
  resolve();
};
const post = channel.port2.postMessage;

const host = {
  runtime: job.runtime,
  gc,
  settle() {
    return new PromiseCtor((resolve) => {
      settled = resolve;
      ReflectApply(post, channel.port2, [null]);
    });
  },
  // Frames come as a 5-byte header, then the payload.
  openChannel() {
    let kind = -1;
    return (bytes) => {
      if (kind < 0) {
        kind = bytes[0];
        return;
      }
      const k = kind;
      kind = -1;
      if (k === 0x4a) call(`J${ReflectApply(decode, decoder, [bytes])}`);
    };
  },
  takeSnapshot(label) {
    // The runner takes the snapshot here, with this frame on the stack.
    if (label !== null) debugger; // eslint-disable-line no-debugger
    return null;
  },
  // The runner's command ("serve"): the page stops in `awaitCommand`
  // until the runner has it; it sets `command` before resuming.
  commands() {
    return function awaitCommand() {
      let command = "";
      debugger; // eslint-disable-line no-debugger
      return command;
    };
  },
  warm() {},
  // The snapshot reached the runner while the page was paused.
  readSnapshot() {},
  // The inspector is the runner's session with the page: allocation
  // tracking was switched on before the page loaded; the sampling heap
  // profiler (allocated bytes) is started and stopped by the runner while
  // the page is stopped in `inspectorCall`, so nothing of the page runs
  // in between. The runner sums a stopped profile's sizes itself: what
  // the page gets back is that sum, as the profile's only node.
  async openInspector() {
    return {
      async post(method, params) {
        if (method !== "HeapProfiler.startSampling" && method !== "HeapProfiler.stopSampling") return {};
        call(`I${JSONStringify({ method, params })}`);
        const answer = inspectorCall();
        if (typeof answer === "string") throw new ErrorCtor(answer);
        if (method === "HeapProfiler.startSampling") return {};
        return { profile: { head: { selfSize: answer, children: [] } } };
      },
    };
  },
  async closeInspectorToTests() {},
  errorDetails() {
    return {};
  },
  markOutput() {
    call("M");
  },
  onStrayError(handler) {
    ReflectApply(addEventListener, win, [
      "unhandledrejection",
      (event) => {
        event.preventDefault();
        handler("an unhandled promise rejection", event.reason);
      },
    ]);
    ReflectApply(addEventListener, win, [
      "error",
      (event) => {
        event.preventDefault();
        handler("an uncaught exception", event.error);
      },
    ]);
  },
};

// Where the page stops while the runner calls the inspector for it; the
// runner sets `answer` (a number, or the browser's error as text).
function inspectorCall() {
  let answer = null;
  debugger; // eslint-disable-line no-debugger
  return answer;
}

const [mode, ...rest] = job.args;
const args = parseArgs("", mode, rest);

installConsole(
  inspect,
  (text) => call(`O${text}`),
  (text) => call(`O${text}`),
);

await prepare(host, args);
let loaded = false;
try {
  await import(job.file);
  loaded = true;
} catch (error) {
  loadFailed(error);
}
try {
  if (loaded) await afterLoad(args);
} finally {
  call("E");
}
