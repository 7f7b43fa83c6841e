// Part 2 of 6: one test, its timeline of steps, and the head of the step
// selected.

// ---- One test -------------------------------------------------------------------
function selectTest(i) {
  state.test = i;
  state.step = 0;
  state.cls = null;
  state.filter = "";
  drawOverview();
  drawTest();
  writeHash();
}

function drawTest() {
  const test = currentTest();
  const main = $("test");
  if (!test) {
    put(main, el("p", { class: "empty", text: "This run has no tests." }));
    return;
  }
  assignColours(test);
  const hasSource = filesOf(test).length > 0;
  put(main,
    testHead(test),
    el("section", { id: "timeline", "aria-label": "Steps" }),
    el("div", { class: hasSource ? "work" : "work single" },
      el("section", { id: "detail", role: "tabpanel", "aria-labelledby": "step-title", tabindex: "-1" }),
      hasSource ? el("section", { id: "source", "aria-label": "Source" }) : null));
  drawTimeline();
  drawStep();
}

function testHead(test) {
  const where = test.file ? test.file + (test.line ? ":" + test.line : "") : null;
  return el("header", { class: "test-head" },
    el("h2", {}, isRun ? el("span", { class: "status " + test.status, text: test.status }) : null, " ",
      el("span", { text: test.name })),
    where && el("p", { class: "muted" },
      sourceLink(test.file, test.line, where, "show the test in the source")),
    live && test.pending ? pendingActions(test) : null,
    test.message && el("details", { class: "message", open: test.status === "failed" },
      el("summary", { text: "Why it failed" }), el("pre", { text: test.message })));
}

// ---- Timeline of steps --------------------------------------------------------
function drawTimeline() {
  const test = currentTest();
  const box = $("timeline");
  if (!test || !box) return;
  const scale = Math.max(1, ...test.steps.flatMap((s) => [
    sum(s.constructors, (r) => byMetric(r.new, r.alloc_size)),
    sum(s.constructors, (r) => byMetric(r.deleted, r.freed_size)),
  ]));
  keepFocus(box, () => {
    const tabs = test.steps.map((s, i) => stepCard(s, i, scale));
    put(box,
      el("h3", { class: "section-title", text: "Steps" }),
      test.steps.length
        ? el("div", { class: "steps", role: "tablist", "aria-label": "Steps of " + test.name }, tabs)
        : el("p", { class: "empty", text: "This test recorded no steps." }),
      legend(test));
  });
  // A step chosen by the URL or the keyboard may sit past the strip's edge.
  const chosen = box.querySelector('[aria-selected="true"]');
  if (chosen && chosen.scrollIntoView) chosen.scrollIntoView({ block: "nearest", inline: "nearest" });
}

const sum = (rows, f) => rows.reduce((a, r) => a + f(r), 0);

function stepCard(step, i, scale) {
  const selected = i === state.step;
  const rows = [
    ["New", (r) => byMetric(r.new, r.alloc_size)],
    ["Deleted", (r) => byMetric(r.deleted, r.freed_size)],
    ["Net", (r) => byMetric(r.delta, r.size_delta)],
  ];
  return el("button", {
    type: "button",
    role: "tab",
    id: "step-tab-" + i,
    "aria-controls": "detail",
    class: "step-card" + (step.status === "failed" ? " failed" : ""),
    "data-key": "step-" + i,
    "data-step": i,
    "aria-selected": String(selected),
    tabindex: selected ? "0" : "-1",
    onclick: () => selectStep(i),
    onkeydown: (e) => arrowKeys(e, i, currentTest().steps.length, selectStep, "ArrowLeft", "ArrowRight"),
  },
  el("span", { class: "step-top" },
    el("span", { class: "step-index", text: String(i + 1) }),
    el("span", { class: "step-name", text: step.name }),
    el("span", { class: "step-kind muted", text: kindText(step) })),
  el("span", { class: "bars" }, rows.map(([label, f]) => barRow(step, label, f, scale))),
  el("span", { class: "step-foot" + (step.status === "failed" ? " fail" : ""),
    text: (step.status === "failed" ? "failed · " : "") +
      "kept " + plural(step.retained_objects, "object") + " · " + bytes(step.retained_bytes) }),
  changeMark(currentTest(), step));
}

// What a step is, in a few words: `step from “start” · line 8`.
function kindText(step) {
  const line = step.line ? " · line " + step.line : "";
  if (step.kind === "step" && step.from) return "step from “" + step.from + "”" + line;
  if (step.kind === "run") return "run of a repeat block" + line;
  return step.kind + line;
}

function barRow(step, label, f, scale) {
  const parts = step.constructors.map((r) => [r, f(r)]).filter(([, v]) => v !== 0);
  const total = parts.reduce((a, [, v]) => a + v, 0);
  let x = 0;
  const segments = parts
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))
    .map(([r, v]) => {
      const w = (Math.abs(v) / scale) * 100;
      const rect = svg("rect", {
        x: x.toFixed(2), y: 0, width: Math.max(w, 0.6).toFixed(2), height: 8,
        class: "seg " + colourClass(r.name) + (v < 0 ? " neg" : ""),
      }, svg("title", { text: r.name + ": " + (label === "Net" ? signedMetric(v) : metricText(v)) }));
      x += w;
      return rect;
    });
  const text = label === "Net" ? signedMetric(total) : metricText(total);
  return el("span", { class: "bar-row" },
    el("span", { class: "bar-label muted", text: label }),
    svg("svg", { viewBox: "0 0 100 8", preserveAspectRatio: "none", class: "bar-track", "aria-hidden": "true" },
      svg("rect", { x: 0, y: 0, width: 100, height: 8, class: "track" }), segments),
    el("span", { class: "bar-value", text }));
}

function legend(test) {
  const names = [...colours.keys()];
  const more = new Set(test.steps.flatMap((s) => s.constructors.map((r) => r.name))).size - names.length;
  if (!names.length) return null;
  return el("p", { class: "legend", "aria-label": "Colours of the top classes" },
    names.map((n) => el("span", { class: "key" },
      el("span", { class: "swatch " + colourClass(n), "aria-hidden": "true" }), n)),
    more > 0 ? el("span", { class: "key" },
      el("span", { class: "swatch c" + PALETTE, "aria-hidden": "true" }), plural(more, "other class", "other classes")) : null);
}

function arrowKeys(e, i, n, select, prev, next) {
  const to = { [prev]: i - 1, [next]: i + 1, Home: 0, End: n - 1 }[e.key];
  if (to === undefined || to < 0 || to >= n) return;
  e.preventDefault();
  select(to);
}

// Redraw `box` with `draw`, keeping keyboard focus on the element with the
// same data-key, or on the newly selected one.
function keepFocus(box, draw) {
  const active = doc.activeElement;
  const had = active && box.contains(active);
  draw();
  if (!had) return;
  const target = box.querySelector('[aria-current="true"], [aria-selected="true"]') ||
    box.querySelector(`[data-key="${CSS.escape(active.dataset.key || "")}"]`);
  if (target) target.focus();
}

// ---- One step -------------------------------------------------------------------
function selectStep(i) {
  state.step = i;
  state.cls = null;
  state.file = null;
  state.line = null;
  drawTimeline();
  drawStep();
  writeHash();
}

function drawStep() {
  const step = currentStep();
  const detail = $("detail");
  if (!detail) return;
  if (!step) {
    put(detail);
    drawSource();
    return;
  }
  if (!state.cls || !step.constructors.some((r) => r.name === state.cls)) {
    state.cls = step.constructors.length ? sortedRows(step)[0].name : null;
  }
  put(detail,
    stepHead(step),
    figures(step),
    el("div", { id: "compare" }),
    el("div", { id: "class-detail", "aria-live": "polite" }));
  drawCompare();
  drawClass();
  drawSource();
}

function stepHead(step) {
  const test = currentTest();
  return el("div", { class: "step-head" },
    el("h3", { id: "step-title" },
      el("span", { class: "muted", text: "Step " + (state.step + 1) + " · " }),
      el("span", { text: step.name }),
      step.status === "failed" ? el("span", { class: "status failed", text: "failed" }) : null),
    where(step, test),
    snapshotLinks(step));
}

// Where the step is in the test file: the checkpoints around it, the
// t.measure call of a block, the block a run belongs to.
function where(step, test) {
  if (!test.file) return null;
  const at = (line, what) => (line
    ? sourceLink(test.file, line, test.file + ":" + line, "show " + what)
    : el("span", { class: "loc", text: "another file" }));
  if (step.kind === "step") {
    return el("p", { class: "muted" }, "from checkpoint “" + (step.from || "?") + "” at ",
      at(step.from_line, "where the step opens"), " to checkpoint “" + step.name + "” at ",
      at(step.line, "where the step closes"));
  }
  if (step.kind === "run") {
    return el("p", { class: "muted" }, "one run of block “" + step.run_of + "”, against the run before; the block is at ",
      at(step.line, "the block"));
  }
  return step.line ? el("p", { class: "muted" }, "t.measure at ", at(step.line, "the block")) : null;
}

function snapshotLinks(step) {
  if (!step.snapshots) return null;
  const href = (p) => p.split("/").map(encodeURIComponent).join("/");
  return el("p", { class: "snapshots" }, "Heap snapshots: ",
    el("a", { href: href(step.snapshots.before), text: "before" }), " · ",
    el("a", { href: href(step.snapshots.after), text: "after" }),
    el("span", { class: "muted", text: " — open them in Chrome DevTools, Memory tab (Load profile)" }));
}

function figures(step) {
  const items = [
    ["Retained", plural(step.retained_objects, "object") + " · " + bytes(step.retained_bytes)],
    ["Freed", plural(step.freed_objects, "object") + " · " + bytes(step.freed_bytes)],
  ];
  if (step.allocated_bytes != null) items.push(["Allocated", bytes(step.allocated_bytes) + " (garbage included)"]);
  if (step.baseline) {
    items.push(["Baseline", plural(step.baseline.retained_objects, "object") + " · " +
      bytes(step.baseline.retained_bytes) + " retained"]);
  }
  if (step.budget) items.push(["Budget", step.budget]);
  return el("dl", { class: "figures" },
    items.map(([k, v]) => el("div", { class: "figure" + (k === "Retained" && over(step) ? " over" : "") },
      el("dt", { text: k }), el("dd", { text: v }))));
}

const over = (step) => step.baseline && (step.retained_objects > step.baseline.retained_objects ||
  step.retained_bytes > step.baseline.retained_bytes);
