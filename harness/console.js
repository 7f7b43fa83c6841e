// `console.*` as the test sees it: each call is formatted to text at once
// and written synchronously to the process's own stdout or stderr, which
// the runner captures whole. Formatting at once matters: a runtime's
// console may keep the values it was given (for an attached inspector),
// which would make every logged object look retained.

import {
  ArrayPrototypeJoin,
  ArrayPrototypePush,
  ArrayPrototypeSlice,
  ErrorCaptureStack,
  MathTrunc,
  NumberCtor,
  StringCtor,
  StringPrototypeEndsWith,
  StringPrototypeIncludes,
  StringPrototypeReplace,
  StringPrototypeSplit,
} from "./primordials.js";

export function formatArgs(inspect, args) {
  const parts = [];
  let rest = 0;
  if (typeof args[0] === "string" && StringPrototypeIncludes(args[0], "%")) {
    rest = 1;
    ArrayPrototypePush(
      parts,
      StringPrototypeReplace(args[0], /%([sdifoOjc%])/g, (spec, kind) => {
        if (kind === "%") return "%";
        if (rest >= args.length) return spec;
        const value = args[rest++];
        switch (kind) {
          case "s":
            return typeof value === "string" ? value : inspect(value);
          case "d":
          case "i":
            if (typeof value === "bigint") return `${value}n`;
            return StringCtor(kind === "i" ? MathTrunc(NumberCtor(value)) : NumberCtor(value));
          case "f":
            return StringCtor(NumberCtor(value));
          case "c":
            return "";
          default:
            return inspect(value);
        }
      }),
    );
  }
  for (let i = rest; i < args.length; i++) ArrayPrototypePush(parts, inspect(args[i]));
  return ArrayPrototypeJoin(parts, " ");
}

/** Replace the console methods; `out` and `err` take a line of text. */
export function installConsole(inspect, out, err) {
  const line = (text) => (StringPrototypeEndsWith(text, "\n") ? text : `${text}\n`);
  const show = (value) => (typeof value === "string" ? value : inspect(value));
  for (const method of ["log", "info", "debug"]) {
    console[method] = (...args) => out(line(formatArgs(show, args)));
  }
  for (const method of ["error", "warn"]) {
    console[method] = (...args) => err(line(formatArgs(show, args)));
  }
  console.dir = (value) => out(line(show(value)));
  console.table = (value) => out(line(show(value)));
  console.trace = (...args) => {
    const stack = ArrayPrototypeJoin(ArrayPrototypeSlice(StringPrototypeSplit(ErrorCaptureStack(), "\n"), 2), "\n");
    err(line(`Trace${args.length ? `: ${formatArgs(show, args)}` : ""}\n${stack}`));
  };
}
