// Part 4 of 6: the source view: the test file and the files allocation
// frames point into, with step boundaries and allocating functions marked.

// ---- Source view ----------------------------------------------------------------
// The files a test's source view offers: its own, then those its frames name.
function filesOf(test) {
  const files = new Set([test.file]);
  for (const s of test.steps) for (const a of s.allocations) for (const f of a.frames) files.add(f.file);
  return [...files].filter((f) => f in data.sources);
}

function drawSource() {
  const box = $("source");
  const test = currentTest();
  if (!box || !test) return;
  const files = filesOf(test);
  const file = files.includes(state.file) ? state.file : files[0];
  const lines = data.sources[file].split("\n");
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  const marks = annotate(test, currentStep(), file, lines);
  const target = state.file === file && state.line ? state.line : (file === test.file && currentStep() && currentStep().line);
  const body = el("div", { class: "code", tabindex: "0", "data-key": "code", "aria-label": "Source of " + file, role: "region" },
    lines.map((text, i) => line(i + 1, text, marks, target)));
  keepFocus(box, () => put(box,
    el("div", { class: "source-head" },
      el("h3", { class: "section-title", text: "Source" }),
      el("div", { class: "files", role: "group", "aria-label": "Files" }, files.map((f) => el("button", {
        type: "button", "aria-pressed": String(f === file), "data-key": "file-" + f, text: f,
        onclick: () => {
          state.file = f;
          state.line = null;
          drawSource();
        } })))),
    body,
    sourceNote(file, marks)));
  if (target) scrollToLine(body, target);
}

function line(n, text, marks, target) {
  const m = marks.get(n);
  const classes = ["src-line"];
  if (m) {
    if (m.body) classes.push("fn-body");
    if (m.start) classes.push("fn-start");
    if (m.boundary) classes.push("boundary");
    if (m.current) classes.push("current-step");
    if (m.inStep) classes.push("in-step");
    if (m.selected) classes.push("selected-fn");
  }
  if (n === target) classes.push("target");
  return el("div", { class: classes.join(" "), "data-line": n },
    m && m.lens.length ? el("div", { class: "lens" }, m.lens) : null,
    el("span", { class: "ln", "aria-hidden": "true", text: String(n) }),
    el("span", { class: "gutter", "aria-hidden": "true" }, m ? m.gutter : []),
    el("code", { class: "text", text: text || " " }));
}

function sourceNote(file, marks) {
  const annotated = [...marks.values()].some((m) => m.start);
  const anywhere = data.tests.some((t) => t.steps.some((s) => s.allocations.length));
  if (annotated) {
    return el("p", { class: "muted note", text: "V8 records the allocating function, not the statement: " +
      "the mark sits on the function's first line and its body is tinted." });
  }
  return anywhere ? null : el("p", { class: "muted note",
    text: "No allocation sites: run with --trace-allocations to see which lines allocated (failing tests are re-run with tracking automatically)." });
}

function scrollToLine(body, n) {
  const node = body.querySelector(`[data-line="${n}"]`);
  if (!node) return;
  requestAnimationFrame(() => {
    const offset = node.getBoundingClientRect().top - body.getBoundingClientRect().top;
    body.scrollTop = Math.max(0, body.scrollTop + offset - body.clientHeight / 3);
    noteView(body);
  });
}

// The lines in view, kept on the code box (`data-view="12-40"`) for tests
// and the curious.
function noteView(body) {
  const box = body.getBoundingClientRect();
  const shown = [...body.querySelectorAll(".src-line")].filter((l) => {
    const r = l.getBoundingClientRect();
    return r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
  });
  if (shown.length) body.dataset.view = shown[0].dataset.line + "-" + shown[shown.length - 1].dataset.line;
}

// What each line of `file` carries: step boundaries of the test, and the
// allocation sites of the step (the innermost frame's function marked and
// its body tinted; the callers marked "via").
function annotate(test, step, file, lines) {
  const marks = new Map();
  const at = (n) => {
    if (!marks.has(n)) marks.set(n, { lens: [], gutter: [] });
    return marks.get(n);
  };
  if (file === test.file) markSteps(test, at);
  if (!step) return marks;
  for (const [key, g] of groupSites(step, file)) {
    const role = key.split(":")[1];
    const m = at(g.line);
    const text = role === "alloc"
      ? g.name + " ×" + count(g.count) + " · " + bytes(g.bytes) + " kept"
      : "via → " + g.name + " ×" + count(g.count);
    m.lens.push(el("span", { class: "chip " + role + " " + colourClass(g.name), text }));
    if (role !== "alloc") continue;
    m.gutter.push(el("span", { class: "mark dot " + colourClass(g.name) }));
    m.start = true;
    const end = functionEnd(lines, g.line, g.column);
    for (let k = g.line; k <= end; k++) {
      at(k).body = true;
      if (g.name === state.cls) at(k).selected = true;
    }
  }
  return marks;
}

// The lines of the calls that close the test's steps (a run's block marks
// its line), the checkpoint that opens the chain, and the code between the
// two checkpoints of the step selected.
function markSteps(test, at) {
  const closing = new Set(test.steps.filter((s) => s.kind !== "run").map((s) => s.line));
  const selected = currentStep();
  if (selected && selected.kind === "step" && selected.from_line && selected.line > selected.from_line) {
    for (let k = selected.from_line + 1; k < selected.line; k++) at(k).inStep = true;
  }
  test.steps.forEach((s, i) => {
    if (s.kind === "run") return;
    const current = i === state.step;
    if (s.from_line && !closing.has(s.from_line)) {
      closing.add(s.from_line);
      const m = at(s.from_line);
      m.boundary = true;
      m.current = m.current || current;
      m.gutter.push(el("span", { class: "mark step-mark", text: "◇" }));
      m.lens.push(el("span", { class: "chip step-chip open" + (current ? " current" : ""),
        title: "the checkpoint that opens step " + (i + 1), text: "◇ " + s.from + " · opens step " + (i + 1) }));
    }
    if (!s.line) return;
    const m = at(s.line);
    m.boundary = true;
    m.current = m.current || current;
    m.gutter.push(el("span", { class: "mark step-mark" + (current ? " current" : ""), text: "◆" + (i + 1) }));
    m.lens.push(el("span", { class: "chip step-chip" + (current ? " current" : ""),
      title: "the call that closes step " + (i + 1), text: "◆ step " + (i + 1) + " · " + s.name }));
  });
}

// The step's sites on `file`, summed per line, class and role.
function groupSites(step, file) {
  const groups = new Map();
  for (const s of step.allocations) {
    const r = step.constructors.find((c) => c.name === s.constructor);
    const each = r && r.new ? r.alloc_size / r.new : 0;
    // The first frame in the project made the objects, as far as its
    // source can tell: the runtime's frames inside it have no source here.
    const lead = Math.max(0, s.frames.findIndex((f) => !f.runtime));
    s.frames.forEach((f, i) => {
      if (f.file !== file) return;
      const role = i === lead ? "alloc" : "via";
      const key = f.line + ":" + role + ":" + s.constructor;
      const g = groups.get(key) || { name: s.constructor, count: 0, bytes: 0, line: f.line, column: f.column };
      g.count += s.count;
      g.bytes += Math.round(s.count * each);
      groups.set(key, g);
    });
  }
  return groups;
}

// The last line of the function whose parameters start at (line, column),
// 1-based: braces matched, strings and comments skipped; roughly, as the
// page has no parser. An arrow with an expression body ends on its line.
function functionEnd(lines, line, column) {
  let parens = 0;
  let depth = 0;
  for (const { ch, l, text, c } of codeChars(lines, line, column, Math.min(lines.length, line + 3000))) {
    if (depth > 0) {
      if (ch === "{") depth++;
      else if (ch === "}" && --depth === 0) return l + 1;
    } else if (ch === "(") parens++;
    else if (ch === ")") parens--;
    else if (parens > 0) continue;
    else if (ch === "{") depth = 1;
    else if (ch === ";" || ch === ",") return l + 1;
    else if (ch === "=" && text[c + 1] === ">" && text.indexOf("{", c + 2) < 0) return l + 1;
  }
  return line;
}

// The characters of `lines` from (line, column), 1-based, up to line index
// `limit`, that are code: outside strings and comments.
function* codeChars(lines, line, column, limit) {
  let quote = null;
  let comment = false;
  for (let l = line - 1; l < limit; l++) {
    const text = lines[l] || "";
    for (let c = l === line - 1 ? Math.max(0, column - 1) : 0; c < text.length; c++) {
      const ch = text[c];
      if (comment) {
        if (ch === "*" && text[c + 1] === "/") [comment, c] = [false, c + 1];
      } else if (quote) {
        if (ch === "\\") c++;
        else if (ch === quote) quote = null;
      } else if (ch === "/" && text[c + 1] === "/") {
        break;
      } else if (ch === "/" && text[c + 1] === "*") {
        [comment, c] = [true, c + 1];
      } else if (ch === '"' || ch === "'" || ch === "`") {
        quote = ch;
      } else {
        yield { ch, l, text, c };
      }
    }
    if (quote !== "`") quote = null;
  }
}
