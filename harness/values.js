// Values that cross to the runner: test options checked and copied into
// plain JSON, and text made well-formed. JSON has no NaN, Infinity or
// BigInt (JSON.stringify turns the first two into null, which would read as
// "no budget") and no lone surrogates, so each is refused or escaped here,
// naming the key, rather than changing meaning on the way.

import {
  ArrayIsArray,
  ArrayPrototypeIncludes,
  ArrayPrototypeJoin,
  JSONStringify,
  NumberIsFinite,
  NumberIsInteger,
  NumberPrototypeToString,
  ObjectGetPrototypeOf,
  ObjectKeys,
  StringCtor,
  StringPrototypeIsWellFormed,
  StringPrototypeReplace,
  StringPrototypeCharCodeAt,
  TypeErrorCtor,
} from "./primordials.js";

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** `text` with each lone surrogate written out visibly as `\u{d800}`. */
export function wellFormed(text) {
  if (StringPrototypeIsWellFormed(text)) return text;
  return StringPrototypeReplace(
    text,
    LONE_SURROGATE,
    (c) => `\\u{${NumberPrototypeToString(StringPrototypeCharCodeAt(c, 0), 16)}}`,
  );
}

/** A short, safe description of any value, for messages. */
export function describeValue(value) {
  switch (typeof value) {
    case "bigint":
      return `the BigInt ${StringCtor(value)}n`;
    case "number":
      return StringCtor(value);
    case "string":
      return JSONStringify(wellFormed(value));
    case "symbol":
      return "a symbol";
    case "function":
      return "a function";
    case "undefined":
      return "undefined";
    default:
      return value === null ? "null" : ArrayIsArray(value) ? "an array" : "an object";
  }
}

/** A JSON-safe copy of `value`; throws a TypeError naming `path` otherwise. */
export function jsonValue(value, path, depth = 0) {
  if (depth > 8) throw new TypeErrorCtor(`${path} is nested too deeply`);
  switch (typeof value) {
    case "string":
      return wellFormed(value);
    case "boolean":
      return value;
    case "number":
      if (NumberIsFinite(value)) return value;
      throw new TypeErrorCtor(`${path} is ${describeValue(value)}: write a finite number, or a string like "64 KiB"`);
    case "object": {
      if (value === null) return null;
      if (ArrayIsArray(value)) {
        const out = [];
        for (let i = 0; i < value.length; i++) out[i] = jsonValue(value[i], `${path}[${i}]`, depth + 1);
        return out;
      }
      const proto = ObjectGetPrototypeOf(value);
      if (proto !== null && ObjectGetPrototypeOf(proto) !== null) {
        throw new TypeErrorCtor(`${path} must be a plain object, not ${describeValue(value)}`);
      }
      const out = {};
      const keys = ObjectKeys(value);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i];
        if (value[key] === undefined) continue;
        out[wellFormed(key)] = jsonValue(value[key], `${path}.${wellFormed(key)}`, depth + 1);
      }
      return out;
    }
    default:
      throw new TypeErrorCtor(`${path} is ${describeValue(value)}: write a number or a string`);
  }
}

/** A test's timeout option: null when unset; throws when it is not usable. */
export function timeoutOption(value) {
  if (value === undefined || value === null) return null;
  if (typeof value === "number" && NumberIsInteger(value) && value > 0 && value <= 2_147_483_647) return value;
  throw new TypeErrorCtor(
    `invalid timeout ${describeValue(value)}: write milliseconds as a whole number above 0, e.g. { timeout: 5000 }`,
  );
}

const TEST_OPTIONS = ["budget", "timeout", "ignore", "allocated"];
export const BLOCK_OPTIONS = ["budget", "repeat", "warmup"];
export const CHECKPOINT_OPTIONS = ["budget"];

/**
 * Throws on a key of `options` that is not in `known` (a typo such as
 * `budjet` would otherwise leave the test without its budget).
 */
export function knownOptions(options, known, what) {
  const keys = ObjectKeys(options);
  for (let i = 0; i < keys.length; i++) {
    if (!ArrayPrototypeIncludes(known, keys[i])) {
      throw new TypeErrorCtor(
        `unknown option ${JSONStringify(wellFormed(keys[i]))}; ${what} takes { ${ArrayPrototypeJoin(known, ", ")} } only`,
      );
    }
  }
}

/** What the runner needs to know of a declared test, checked. */
export function describeTest(entry) {
  const options = entry.options;
  const listed = {
    name: wellFormed(entry.name),
    line: entry.site?.line ?? null,
    ignore: Boolean(options.ignore),
    allocated: wantsAllocated(options),
    timeout: null,
    budget: null,
    invalid: null,
  };
  try {
    knownOptions(options, TEST_OPTIONS, "a test");
    listed.timeout = timeoutOption(options.timeout);
    listed.budget = options.budget === undefined ? null : jsonValue(options.budget, "budget");
  } catch (error) {
    listed.invalid = wellFormed(StringCtor(error?.message ?? error));
  }
  return listed;
}

/** Whether a test asks for allocated bytes (option or budget). */
export function wantsAllocated(options) {
  try {
    return Boolean(options.allocated) || (options.budget != null && options.budget.allocated !== undefined);
  } catch {
    return false;
  }
}
