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
const perf = performance;
const perfNow = perf.now;
/** Milliseconds, for the runner's `--timings`. */
export const now = () => apply(perfNow, perf, []);
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
