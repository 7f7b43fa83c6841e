// What the engine hosts (deno.js, node.mjs) share: reading the runner's
// arguments, the inspector session's promise wrapper, snapshot chunks as
// bytes, and the line that marks where a test's output starts.

import {
  NumberCtor,
  PromiseCtor,
  StringFromCharCode,
  TextEncoderCtor,
  TextEncoderPrototypeEncode,
  clearTimeoutFn,
  setTimeoutFn,
} from "./primordials.js";

/** Written on stdout where a test's output starts (`isolation = "file"`). */
export const OUTPUT_MARK = "\x1e[memcheck: next test]\n";

const encoder = new TextEncoderCtor();

/** `text` as UTF-8 bytes. */
export function utf8(text) {
  return TextEncoderPrototypeEncode(encoder, text);
}

/** A snapshot stream's chunk (text or bytes) as bytes. */
export function chunkBytes(chunk) {
  return typeof chunk === "string" ? utf8(chunk) : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * The runner's arguments after the channel and mode: the test's place in
 * the file's list (or the places, comma-separated, for "run-many"; the
 * path the runner's command comes through, for "serve") and flags.
 */
export function parseArgs(channel, mode, rest) {
  const place = rest.find((a) => !a.startsWith("--"));
  return {
    channel,
    mode,
    index: mode === "run" ? NumberCtor(place) : -1,
    indices: mode === "run-many" ? place.split(",").map(NumberCtor) : [],
    commands: mode === "serve" ? place : "",
    trace: rest.includes("--trace"),
    whole: rest.includes("--whole"),
    inspector: rest.includes("--inspector") || rest.includes("--trace"),
    lockInspector: rest.includes("--lock-inspector"),
    commonjs: rest.includes("--commonjs"),
  };
}

/** `post(method, params)` as a promise on an inspector `session`. */
export function inspectorPoster(session) {
  return {
    post(method, params) {
      return new PromiseCtor((resolve, reject) => {
        // An inspector callback alone does not keep Deno's event loop
        // alive: a timer that never fires holds it, without allocating
        // while we wait.
        const keepAlive = setTimeoutFn(() => {}, 2 ** 30);
        session.post(method, params, (error, result) => {
          clearTimeoutFn(keepAlive);
          if (error) reject(error);
          else resolve(result);
        });
      });
    },
  };
}

/**
 * The runner's one command ("serve"): a line of ASCII read with
 * `readInto(bytes)` (the count read, 0 at the end), blocking until the
 * runner writes it or closes its end. Decoded by hand: nothing a test could
 * use later (a TextDecoder, say) is set up for the first time here.
 */
export function readCommand(readInto) {
  const commandBytes = new Uint8Array(4096);
  let text = "";
  for (;;) {
    const n = readInto(commandBytes);
    if (n === 0) return text;
    for (let i = 0; i < n; i++) {
      if (commandBytes[i] === 10) return text;
      text += StringFromCharCode(commandBytes[i]);
    }
  }
}
