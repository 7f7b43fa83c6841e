// The builtins the harness relies on, taken before any user code runs.
//
// A test (or a library it loads) may replace `JSON.stringify`, patch
// `Array.prototype.push` or swap `globalThis.Promise`; the harness must keep
// sending the same bytes all the same. Every builtin it calls on its own
// paths is read here, once, and called through these references.

const { apply } = Reflect;
const bind = Function.prototype.bind;
const call = Function.prototype.call;

/** `method` as a plain function taking `this` first. */
const uncurry = (method) => apply(bind, call, [method]);

export const JSONStringify = JSON.stringify;
export const JSONParse = JSON.parse;
export const ObjectKeys = Object.keys;
export const ObjectFreeze = Object.freeze;
export const ObjectGetPrototypeOf = Object.getPrototypeOf;
export const NumberIsInteger = Number.isInteger;
export const NumberIsFinite = Number.isFinite;
export const StringCtor = String;
export const StringFromCharCode = String.fromCharCode;
export const NumberCtor = Number;
export const MathTrunc = Math.trunc;
export const ErrorCtor = Error;
export const TypeErrorCtor = TypeError;
export const PromiseCtor = Promise;
export const SetCtor = Set;
export const MapCtor = Map;
export const Uint8ArrayCtor = Uint8Array;
export const DataViewCtor = DataView;
export const TextEncoderCtor = TextEncoder;
export const ReflectApply = apply;
export const setTimeoutFn = setTimeout;
// Node makes `performance` on its first read, which loads perf_hooks (11
// modules, a fortieth of every snapshot): the clock there is the process's.
const onNode = typeof Deno === "undefined" && typeof process === "object";
const perf = onNode ? process : performance;
const perfNow = onNode ? process.uptime : perf.now;
const toMs = onNode ? 1000 : 1;
/** Milliseconds, for the runner's `--timings`. */
export const now = () => apply(perfNow, perf, []) * toMs;
export const clearTimeoutFn = clearTimeout;

export const ArrayIsArray = Array.isArray;
export const ArrayPrototypePush = uncurry(Array.prototype.push);
export const ArrayPrototypePop = uncurry(Array.prototype.pop);
export const ArrayPrototypeMap = uncurry(Array.prototype.map);
export const ArrayPrototypeJoin = uncurry(Array.prototype.join);
export const ArrayPrototypeSlice = uncurry(Array.prototype.slice);
export const ArrayPrototypeFind = uncurry(Array.prototype.find);
export const ArrayPrototypeIncludes = uncurry(Array.prototype.includes);
export const StringPrototypeSplit = uncurry(String.prototype.split);
export const StringPrototypeSlice = uncurry(String.prototype.slice);
export const StringPrototypeIncludes = uncurry(String.prototype.includes);
export const StringPrototypeReplace = uncurry(String.prototype.replace);
export const StringPrototypeEndsWith = uncurry(String.prototype.endsWith);
export const StringPrototypeIsWellFormed = uncurry(String.prototype.isWellFormed);
export const StringPrototypeCharCodeAt = uncurry(String.prototype.charCodeAt);
export const StringPrototypeToString = uncurry(String.prototype.toString);
export const RegExpPrototypeExec = uncurry(RegExp.prototype.exec);
export const FunctionPrototypeToString = uncurry(Function.prototype.toString);
export const SetPrototypeHas = uncurry(Set.prototype.has);
export const SetPrototypeAdd = uncurry(Set.prototype.add);
export const PromisePrototypeThen = uncurry(Promise.prototype.then);
export const TextEncoderPrototypeEncode = uncurry(TextEncoder.prototype.encode);
export const Uint8ArrayPrototypeSubarray = uncurry(Uint8Array.prototype.subarray);
export const Uint8ArrayPrototypeSet = uncurry(Uint8Array.prototype.set);
export const DataViewPrototypeSetUint32 = uncurry(DataView.prototype.setUint32);
export const NumberPrototypeToString = uncurry(Number.prototype.toString);
export const ErrorCaptureStack = () => new ErrorCtor().stack;
export const TypedArrayLength = uncurry(
  Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "byteLength").get,
);
export const ErrorStack = (error) => {
  try {
    return StringCtor(error?.stack ?? "");
  } catch {
    return "";
  }
};

// Builtins the runtimes' own code calls while a snapshot is taken and
// streamed (their stream and buffer code is JavaScript too). A test that
// replaced one would break the snapshot; around each checkpoint the
// originals are put back and the test's versions reinstated after. Only a
// test that replaced something sees any write: nothing is allocated here.
const arrayProto = Array.prototype;
const typedProto = Object.getPrototypeOf(Uint8Array.prototype);
const GUARDED = [
  [arrayProto, "push"], [arrayProto, "pop"], [arrayProto, "shift"], [arrayProto, "unshift"],
  [arrayProto, "splice"], [arrayProto, "slice"], [arrayProto, "concat"], [arrayProto, "indexOf"],
  [arrayProto, "includes"], [arrayProto, "join"], [arrayProto, "map"], [arrayProto, "forEach"],
  [arrayProto, "filter"], [arrayProto, Symbol.iterator],
  [Function.prototype, "call"], [Function.prototype, "apply"], [Function.prototype, "bind"],
  [Object, "keys"], [Object, "defineProperty"], [Object, "assign"], [Object, "create"],
  [typedProto, "subarray"], [typedProto, "set"], [typedProto, "slice"],
  [String.prototype, "slice"], [String.prototype, "indexOf"], [String.prototype, "charCodeAt"],
  [Promise.prototype, "then"],
  [Map.prototype, "get"], [Map.prototype, "set"], [Map.prototype, "has"], [Map.prototype, "delete"],
  [Set.prototype, "add"], [Set.prototype, "has"], [Set.prototype, "delete"],
  [JSON, "stringify"], [JSON, "parse"],
];
const originals = [];
const replaced = [];
for (let i = 0; i < GUARDED.length; i++) {
  originals[i] = GUARDED[i][0][GUARDED[i][1]];
  replaced[i] = undefined;
}

/** Put back every guarded builtin a test replaced (see `GUARDED`). */
export function useOriginalBuiltins() {
  for (let i = 0; i < GUARDED.length; i++) {
    const owner = GUARDED[i][0];
    const key = GUARDED[i][1];
    let current;
    try {
      current = owner[key];
    } catch {
      continue;
    }
    if (current === originals[i]) continue;
    replaced[i] = current;
    try {
      owner[key] = originals[i];
    } catch {
      replaced[i] = undefined;
    }
  }
}

/** Reinstate what the test had put in place of the guarded builtins. */
export function restoreTestBuiltins() {
  for (let i = 0; i < GUARDED.length; i++) {
    if (replaced[i] === undefined) continue;
    try {
      GUARDED[i][0][GUARDED[i][1]] = replaced[i];
    } catch {
      // A test that froze its replacement in place keeps it.
    }
    replaced[i] = undefined;
  }
}
