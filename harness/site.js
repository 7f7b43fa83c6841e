// Where user code called into the harness: the first stack frame outside
// the harness's own folder, as { url, line, column }.

import {
  ArrayPrototypeSlice,
  NumberPrototypeToString,
  RegExpPrototypeExec,
  StringCtor,
  StringPrototypeIncludes,
  StringPrototypeSplit,
} from "./primordials.js";

const HARNESS_DIR = StringPrototypeSplit(import.meta.url, "/site.js")[0] + "/";
// A frame's place ends its line: `at f (URL:LINE:COLUMN)` or
// `at URL:LINE:COLUMN`; the URL is taken up to the last `:LINE:COLUMN`, so
// that one holding `(` or `)` (a folder named so) is read whole.
const FRAME = /((?:file|https?):\/\/.*?):(\d+):(\d+)\)?$/;
// A CommonJS file's frames on Node name its path, not its URL.
const PATH_FRAME = /(?:\(|at )(\/.*?):(\d+):(\d+)\)?$/;

/** The user's frame in `stack` (a V8 `Error.stack`), or null. */
export function callerSite(stack) {
  const lines = ArrayPrototypeSlice(StringPrototypeSplit(StringCtor(stack ?? ""), "\n"), 1);
  for (let i = 0; i < lines.length; i++) {
    const m = RegExpPrototypeExec(FRAME, lines[i]) ?? RegExpPrototypeExec(PATH_FRAME, lines[i]);
    if (m === null) continue;
    // The main module's URL carries the runner's job query: leave it out.
    const url = m[1][0] === "/" ? `file://${m[1]}` : StringPrototypeSplit(m[1], "?memcheck-job=")[0];
    if (StringPrototypeIncludes(url, HARNESS_DIR)) continue;
    return { url, line: Number(m[2]), column: Number(m[3]) };
  }
  return null;
}

/** `site` as `url:line`, for messages. */
export function siteText(site) {
  return site ? `${site.url}:${NumberPrototypeToString(site.line)}` : "";
}
