// The cargo memcheck HTML report: draws the view model embedded in the page
// (see src/report/html/model.rs). Plain DOM, no framework, no request. Every
// piece of data goes in as text (textContent, text nodes), never as markup.
(() => {
  "use strict";
  const doc = document;
  const root = doc.documentElement;

  // ---- Self-checks, kept on <html> for tests and the curious ----------------
  const problems = [];
  const noteProblem = (text) => {
    problems.push(String(text));
    root.dataset.problems = JSON.stringify(problems);
  };
  root.dataset.problems = "[]";
  addEventListener("error", (e) => noteProblem("error: " + e.message));
  addEventListener("unhandledrejection", (e) => noteProblem("rejection: " + e.reason));
  doc.addEventListener("securitypolicyviolation", (e) =>
    noteProblem("blocked by the page's policy: " + e.violatedDirective + " " + e.blockedURI));
  const consoleError = console.error.bind(console);
  console.error = (...args) => {
    noteProblem("console: " + args.join(" "));
    consoleError(...args);
  };
  const countRequests = () => {
    const made = performance.getEntriesByType("resource").map((r) => r.name);
    root.dataset.requests = JSON.stringify(made);
  };

  const data = JSON.parse(doc.getElementById("memcheck-data").textContent);
  // A diff compares two snapshots: there is no test to pass or fail.
  const isRun = data.kind === "run";

  // ---- DOM helpers ------------------------------------------------------------
  const SVG = "http://www.w3.org/2000/svg";

  function set(node, props) {
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    return node;
  }

  function el(tag, props, ...kids) {
    const node = set(doc.createElement(tag), props);
    node.append(...kids.flat().filter((k) => k != null && k !== false));
    return node;
  }

  function svg(tag, props, ...kids) {
    const node = set(doc.createElementNS(SVG, tag), props);
    node.append(...kids.flat().filter((k) => k != null && k !== false));
    return node;
  }

  const $ = (id) => doc.getElementById(id);
  // Replace a box's children; null and false stand for nothing.
  const put = (box, ...kids) => box.replaceChildren(...kids.flat().filter((k) => k != null && k !== false));

  // ---- Numbers ------------------------------------------------------------------
  const numbers = new Intl.NumberFormat("en-US");
  const count = (n) => numbers.format(n);
  const signed = (n) => (n > 0 ? "+" : n < 0 ? "−" : "") + numbers.format(Math.abs(n));

  function bytes(n) {
    const abs = Math.abs(n);
    if (abs < 1024) return (n < 0 ? "−" : "") + abs + " B";
    const units = ["KiB", "MiB", "GiB", "TiB"];
    let v = abs / 1024;
    let u = 0;
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    return (n < 0 ? "−" : "") + v.toFixed(2) + " " + units[u];
  }
  const signedBytes = (n) => (n > 0 ? "+" : "") + bytes(n);
  const plural = (n, word, words = word + "s") => count(n) + " " + (n === 1 ? word : words);

  // ---- State, mirrored in the URL's hash (#test=1&step=0&class=Widget) -------
  const state = {
    test: 0,
    step: 0,
    cls: null,
    sort: { key: "alloc_size", desc: true },
    filter: "",
    metric: "bytes",
    file: null,
    line: null,
  };

  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    const firstFailed = data.tests.findIndex((t) => t.status === "failed");
    const t = Number(p.get("test") ?? Math.max(firstFailed, 0));
    state.test = Number.isInteger(t) && data.tests[t] ? t : 0;
    const steps = currentTest() ? currentTest().steps : [];
    const s = Number(p.get("step") ?? 0);
    state.step = Number.isInteger(s) && steps[s] ? s : 0;
    state.cls = p.get("class");
    state.metric = p.get("metric") === "objects" ? "objects" : "bytes";
    const sort = p.get("sort") || "";
    const key = sort.replace(/^-/, "");
    if ([...COLUMNS, BASELINE_COLUMN].some((c) => c.key === key)) state.sort = { key, desc: sort.startsWith("-") };
    state.filter = p.get("filter") || "";
  }

  function writeHash() {
    const p = new URLSearchParams({ test: state.test, step: state.step });
    if (state.cls) p.set("class", state.cls);
    if (state.metric !== "bytes") p.set("metric", state.metric);
    if (state.sort.key !== "alloc_size" || !state.sort.desc) p.set("sort", (state.sort.desc ? "-" : "") + state.sort.key);
    if (state.filter) p.set("filter", state.filter);
    try {
      history.replaceState(null, "", "#" + p);
    } catch {
      // Some browsers refuse history changes on file:// pages; the view works anyway.
    }
  }

  const currentTest = () => data.tests[state.test];
  const currentStep = () => (currentTest() ? currentTest().steps[state.step] : undefined);
  const byMetric = (objects, bytesValue) => (state.metric === "objects" ? objects : bytesValue);
  const metricText = (n) => (state.metric === "objects" ? count(n) : bytes(n));
  const signedMetric = (n) => (state.metric === "objects" ? signed(n) : signedBytes(n));

  // ---- Constructor colours: the test's top classes by allocated size ----------
  const PALETTE = 7;
  let colours = new Map();

  function assignColours(test) {
    const totals = new Map();
    for (const s of test.steps) {
      for (const r of s.constructors) {
        totals.set(r.name, (totals.get(r.name) || 0) + r.alloc_size + r.freed_size);
      }
    }
    const ranked = [...totals].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    colours = new Map(ranked.slice(0, PALETTE).map(([name], i) => [name, i]));
  }
  const colourClass = (name) => "c" + (colours.has(name) ? colours.get(name) : PALETTE);

  // ---- Page frame -------------------------------------------------------------
  function drawFrame() {
    const app = $("app");
    put(app,
      el("header", { class: "top" },
        el("div", { class: "brand" },
          el("h1", { text: data.title }),
          el("p", { class: "muted", text: runtimeText() })),
        isRun ? el("p", { class: "summary", id: "summary" }) : null,
        metricSwitch()),
      el("div", { id: "hints" }),
      el("div", { class: isRun ? "layout" : "layout single" },
        isRun ? el("nav", { id: "overview", "aria-label": "Tests" }) : null,
        el("main", { id: "test" })));
    if (isRun) drawSummary();
    drawHints();
  }

  function runtimeText() {
    const parts = [data.generated_by];
    const r = data.runtime;
    if (r && r.name) parts.push(r.name + " " + r.version + (r.v8 ? " · V8 " + r.v8 : ""));
    return parts.join(" · ");
  }

  function drawSummary() {
    const counts = { passed: 0, failed: 0, ignored: 0 };
    for (const t of data.tests) counts[t.status]++;
    put($("summary"),
      plural(data.tests.length, "test") + ": ",
      el("span", { class: "pass", text: counts.passed + " passed" }), ", ",
      el("span", { class: counts.failed ? "fail" : "", text: counts.failed + " failed" }),
      counts.ignored ? ", " + counts.ignored + " ignored" : "");
  }

  function metricSwitch() {
    const option = (value, label) =>
      el("button", {
        type: "button",
        "aria-pressed": String(state.metric === value),
        "data-metric": value,
        text: label,
        onclick: () => {
          state.metric = value;
          for (const b of doc.querySelectorAll("[data-metric]")) {
            b.setAttribute("aria-pressed", String(b.dataset.metric === value));
          }
          writeHash();
          drawOverview();
          drawTimeline();
        },
      });
    return el("div", { class: "switch", role: "group", "aria-label": "Charts show" },
      el("span", { class: "muted", text: "Charts:" }), option("bytes", "Bytes"), option("objects", "Objects"));
  }

  function drawHints() {
    put($("hints"),
      ...data.hints.map((h) => el("p", { class: "hint", role: "note", text: h })));
  }

  // ---- Overview -----------------------------------------------------------------
  function drawOverview() {
    const nav = $("overview");
    if (!nav) return;
    keepFocus(nav, () => {
      const items = data.tests.map((t, i) => el("li", {},
        el("button", {
          type: "button",
          class: "test-item",
          "data-key": "test-" + i,
          "data-test": i,
          "aria-current": i === state.test ? "true" : null,
          onclick: () => selectTest(i),
          onkeydown: (e) => arrowKeys(e, i, data.tests.length, selectTest, "ArrowUp", "ArrowDown"),
        },
        el("span", { class: "test-title" },
          el("span", { class: "status " + t.status, text: t.status }),
          el("span", { class: "test-name", text: t.name })),
        el("span", { class: "test-file muted", text: t.file }),
        sparkline(t))));
      put(nav, el("h2", { text: "Tests" }), el("ul", { class: "tests" }, items));
    });
  }

  function sparkline(test) {
    const values = test.steps.map((s) => byMetric(s.retained_objects, s.retained_bytes));
    const label = "retained " + state.metric + " per step: " +
      (values.length ? values.map(metricText).join(", ") : "no steps");
    const max = Math.max(1, ...values);
    const w = 120;
    const h = 24;
    const slot = values.length ? w / values.length : w;
    const bars = values.map((v, i) => {
      const bh = v ? Math.max(2, (v / max) * (h - 2)) : 1;
      return svg("rect", {
        x: (i * slot + slot * 0.15).toFixed(1), y: (h - bh).toFixed(1),
        width: Math.max(1, slot * 0.7).toFixed(1), height: bh.toFixed(1),
        class: test.steps[i].status === "failed" ? "bar failed" : v ? "bar" : "bar zero",
      }, svg("title", { text: test.steps[i].name + ": " + metricText(v) }));
    });
    const net = test.steps.reduce((sum, s) => sum + s.constructors.reduce(
      (a, r) => a + byMetric(r.delta, r.size_delta), 0), 0);
    return el("span", { class: "spark" },
      svg("svg", { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "none", role: "img", "aria-label": label },
        svg("line", { x1: 0, x2: w, y1: h - 0.5, y2: h - 0.5, class: "axis" }), bars),
      el("span", { class: "muted spark-label",
        text: test.steps.length ? plural(test.steps.length, "step") + " · net " + signedMetric(net) : "not run" }));
  }

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
      el("span", { class: "step-kind muted", text: step.kind + (step.line ? " · line " + step.line : "") })),
    el("span", { class: "bars" }, rows.map(([label, f]) => barRow(step, label, f, scale))),
    el("span", { class: "step-foot" + (step.status === "failed" ? " fail" : ""),
      text: (step.status === "failed" ? "failed · " : "") +
        "kept " + plural(step.retained_objects, "object") + " · " + bytes(step.retained_bytes) }));
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
      step.line && test.file
        ? el("p", { class: "muted" }, "closes at ",
          sourceLink(test.file, step.line, test.file + ":" + step.line, "show where the step closes"))
        : null,
      snapshotLinks(step));
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

  // ---- Comparison table -------------------------------------------------------------
  const COLUMNS = [
    { key: "name", label: "Constructor" },
    { key: "new", label: "# New", fmt: count },
    { key: "deleted", label: "# Deleted", fmt: count },
    { key: "delta", label: "# Delta", fmt: signed },
    { key: "alloc_size", label: "Alloc. Size", fmt: count },
    { key: "freed_size", label: "Freed Size", fmt: count },
    { key: "size_delta", label: "Size Delta", fmt: signed },
  ];

  function sortedRows(step) {
    const { key, desc } = state.sort;
    const rows = step.constructors.slice();
    rows.sort((a, b) => {
      const c = key === "name" ? a.name.localeCompare(b.name) : a[key] - b[key];
      return (desc ? -c : c) || a.name.localeCompare(b.name);
    });
    return rows;
  }

  function drawCompare() {
    const step = currentStep();
    const box = $("compare");
    const filter = el("input", {
      type: "search",
      id: "filter",
      placeholder: "Filter classes  ( / )",
      "aria-label": "Filter classes by name",
      value: state.filter,
      oninput: (e) => {
        state.filter = e.target.value;
        drawRows();
        writeHash();
      },
      onkeydown: (e) => {
        if (e.key === "Escape") {
          e.target.value = state.filter = "";
          drawRows();
          writeHash();
        }
      },
    });
    const headers = columns(step).map((c) => el("th", {
      scope: "col",
      class: c.fmt ? "num" : "",
      "aria-sort": state.sort.key === c.key ? (state.sort.desc ? "descending" : "ascending") : null,
    }, el("button", { type: "button", "data-key": "sort-" + c.key, onclick: () => sortBy(c.key) },
      c.label, el("span", { class: "arrow", "aria-hidden": "true",
        text: state.sort.key === c.key ? (state.sort.desc ? "\u00a0▼" : "\u00a0▲") : "" }))));
    put(box,
      el("div", { class: "table-tools" },
        el("h4", { text: "Comparison" }), filter, el("span", { id: "row-count", class: "muted" })),
      el("div", { class: "table-wrap" },
        el("table", { class: "comparison" },
          el("caption", { class: "visually-hidden", text: "Objects of each class made and freed by this step; sort with the column headers" }),
          el("thead", {}, el("tr", {}, headers)),
          el("tbody", { id: "rows" }))),
      baselineOnly(step));
    drawRows();
  }

  const BASELINE_COLUMN = { key: "baseline_new", label: "Baseline # New", fmt: (v) => (v == null ? "—" : count(v)) };
  const columns = (step) => (step.baseline ? [...COLUMNS, BASELINE_COLUMN] : COLUMNS);

  function sortBy(key) {
    state.sort = { key, desc: state.sort.key === key ? !state.sort.desc : key !== "name" };
    writeHash();
    keepFocus($("compare"), drawCompare);
    const button = doc.querySelector(`[data-key="sort-${key}"]`);
    if (button) button.focus();
  }

  function drawRows() {
    const step = currentStep();
    const needle = state.filter.trim().toLowerCase();
    const base = new Map(((step.baseline && step.baseline.constructors) || []).map((r) => [r.name, r]));
    const rows = sortedRows(step)
      .map((r) => ({ ...r, baseline_new: base.has(r.name) ? base.get(r.name).new : null }))
      .filter((r) => !needle || r.name.toLowerCase().includes(needle));
    if (state.sort.key === "baseline_new") {
      rows.sort((a, b) => ((a.baseline_new ?? -1) - (b.baseline_new ?? -1)) * (state.sort.desc ? -1 : 1));
    }
    const body = $("rows");
    put(body, ...rows.map((r) => row(step, r)));
    if (!rows.length) {
      body.append(el("tr", {}, el("td", { colspan: columns(step).length, class: "empty",
        text: step.constructors.length ? "No class matches the filter." : "This step made and freed no objects." })));
    }
    $("row-count").textContent = plural(rows.length, "class", "classes") +
      (rows.length !== step.constructors.length ? " of " + step.constructors.length : "");
  }

  function row(step, r) {
    const selected = r.name === state.cls;
    const cells = columns(step).slice(1).map((c) => {
      const grew = c.key === "new" && r.baseline_new != null && r.new > r.baseline_new;
      return el("td", { class: "num" + (grew ? " over" : ""), "data-col": c.key, text: c.fmt(r[c.key]) });
    });
    return el("tr", { "data-class": r.name, class: selected ? "selected" : "", onclick: () => selectClass(r.name) },
      el("th", { scope: "row", "data-col": "name" }, el("div", { class: "cname" },
        el("span", { class: "swatch " + colourClass(r.name), "aria-hidden": "true" }),
        el("button", { type: "button", class: "cls", "data-key": "cls-" + r.name,
          "aria-pressed": String(selected), text: r.name }))),
      cells);
  }

  function baselineOnly(step) {
    if (!step.baseline) return null;
    const here = new Set(step.constructors.map((r) => r.name));
    const gone = step.baseline.constructors.filter((r) => !here.has(r.name));
    if (!gone.length) return null;
    return el("p", { class: "muted" }, "In the baseline only: ",
      gone.map((r) => r.name + " (" + count(r.new) + " new)").join(", "));
  }

  function selectClass(name) {
    state.cls = name;
    for (const tr of doc.querySelectorAll("#rows tr[data-class]")) {
      const on = tr.dataset.class === name;
      tr.classList.toggle("selected", on);
      const b = tr.querySelector("button.cls");
      if (b) b.setAttribute("aria-pressed", String(on));
    }
    showSiteOf(name);
    drawClass();
    drawSource();
    writeHash();
  }

  // Point the source view at the first frame of the class's sites that the
  // page holds the file of.
  function showSiteOf(name) {
    const site = sitesOf(currentStep(), name).find((s) => s.frames.some((f) => f.file in data.sources));
    const frame = site && site.frames.find((f) => f.file in data.sources);
    state.file = frame ? frame.file : null;
    state.line = frame ? frame.line : null;
  }

  // ---- One class: who keeps it, who made it ---------------------------------------
  const sitesOf = (step, name) => (step ? step.allocations.filter((s) => s.constructor === name) : []);

  function drawClass() {
    const box = $("class-detail");
    const step = currentStep();
    const r = step && step.constructors.find((c) => c.name === state.cls);
    if (!r) {
      put(box);
      return;
    }
    const path = step.retainers.find((p) => p.constructor === r.name);
    put(box,
      el("h4", {}, el("span", { class: "swatch " + colourClass(r.name), "aria-hidden": "true" }),
        el("span", { text: r.name }),
        el("span", { class: "muted", text: "  " + signed(r.delta) + " · " + signedBytes(r.size_delta) })),
      el("div", { class: "explain" },
        el("section", { "aria-label": "Kept alive by" },
          el("h5", { text: "Kept alive by (shortest path from a GC root)" }),
          path ? chain(path.path) : el("p", { class: "muted", text: r.new
            ? "No path recorded: memcheck finds one for the five classes with the most new objects."
            : "No new object of this class is alive." })),
        el("section", { "aria-label": "Allocated by" },
          el("h5", { text: "Allocated by (innermost frame first)" }),
          sites(step, r))));
  }

  // A retainer path, `A .x → B [0] → C`, as boxes joined by labelled arrows.
  function chain(text) {
    const hops = text.split(" → ").map(splitHop);
    const items = [];
    hops.forEach((hop, i) => {
      items.push(el("li", { class: "node" + (i === hops.length - 1 ? " target" : "") },
        el("span", { class: "node-name", text: hop.node })));
      if (hop.edge) {
        items.push(el("li", { class: "edge", "aria-label": "via " + hop.edge },
          el("span", { class: "edge-name", text: hop.edge }), el("span", { class: "arrow", "aria-hidden": "true", text: "→" })));
      }
    });
    return el("ol", { class: "chain", "aria-label": text }, items);
  }

  // `Map (table)[3]` → node `Map`, edge `(table)[3]`: the edge starts at the
  // first space outside brackets followed by `.`, `:`, `[` or `(`.
  function splitHop(part) {
    let depth = 0;
    for (let i = 0; i < part.length - 1; i++) {
      const c = part[i];
      if ("([{".includes(c)) depth++;
      else if (")]}".includes(c)) depth--;
      else if (c === " " && depth === 0 && ".:[(".includes(part[i + 1])) {
        return { node: part.slice(0, i), edge: part.slice(i + 1) };
      }
    }
    return { node: part, edge: "" };
  }

  function sites(step, r) {
    const list = sitesOf(step, r.name);
    if (!r.new) return el("p", { class: "muted", text: "This step made no new object of this class." });
    if (!list.length) {
      const anywhere = data.tests.some((t) => t.steps.some((s) => s.allocations.length));
      return el("p", { class: "muted", text: anywhere
        ? "No allocation site recorded for this class in this step."
        : "Not recorded: run with --trace-allocations (failing tests are re-run with tracking automatically)." });
    }
    const each = r.new ? r.alloc_size / r.new : 0;
    return el("ul", { class: "sites" }, list.map((s) => el("li", {},
      el("span", { class: "site-count", text: "×" + count(s.count) }),
      el("span", { class: "muted", text: " · " + bytes(Math.round(s.count * each)) + " kept " }),
      s.frames.length
        ? el("ol", { class: "frames" }, s.frames.map((f, i) => el("li", {},
          el("span", { class: "muted", text: i ? "called from " : "in " }),
          el("code", { text: f.function }), " ",
          sourceLink(f.file, f.line, f.file + ":" + f.line, "show " + f.function + " in the source"))))
        : el("span", { class: "muted", text: "(no allocation stack recorded by V8)" }))));
  }

  // A link-like button that opens `file` at `line` in the source view, or
  // plain text when the page does not hold that file.
  function sourceLink(file, line, label, description) {
    if (!(file in data.sources)) return el("span", { class: "loc", text: label });
    return el("button", { type: "button", class: "loc", "aria-label": description + " (" + label + ")", text: label,
      onclick: (e) => {
        e.stopPropagation();
        state.file = file;
        state.line = line;
        drawSource();
      } });
  }

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
      body.scrollTop = Math.max(0, node.offsetTop - body.clientHeight / 3);
    });
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
    if (file === test.file) {
      test.steps.forEach((s, i) => {
        if (!s.line) return;
        const m = at(s.line);
        const current = i === state.step;
        m.boundary = true;
        m.current = m.current || current;
        m.gutter.push(el("span", { class: "mark step-mark" + (current ? " current" : ""), text: "◆" + (i + 1) }));
        m.lens.push(el("span", { class: "chip step-chip" + (current ? " current" : ""),
          title: "the call that closes step " + (i + 1), text: "◆ step " + (i + 1) + " · " + s.name }));
      });
    }
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

  // The step's sites on `file`, summed per line, class and role.
  function groupSites(step, file) {
    const groups = new Map();
    for (const s of step.allocations) {
      const r = step.constructors.find((c) => c.name === s.constructor);
      const each = r && r.new ? r.alloc_size / r.new : 0;
      s.frames.forEach((f, i) => {
        if (f.file !== file) return;
        const role = i === 0 ? "alloc" : "via";
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
    const limit = Math.min(lines.length, line + 3000);
    let depth = 0;
    let parens = 0;
    let inBody = false;
    let quote = null;
    let comment = false;
    for (let l = line - 1; l < limit; l++) {
      const text = lines[l] || "";
      for (let c = l === line - 1 ? Math.max(0, column - 1) : 0; c < text.length; c++) {
        const ch = text[c];
        if (comment) {
          if (ch === "*" && text[c + 1] === "/") { comment = false; c++; }
          continue;
        }
        if (quote) {
          if (ch === "\\") c++;
          else if (ch === quote) quote = null;
          continue;
        }
        if (ch === "/" && text[c + 1] === "/") break;
        if (ch === "/" && text[c + 1] === "*") { comment = true; c++; continue; }
        if (ch === '"' || ch === "'" || ch === "`") { quote = ch; continue; }
        if (!inBody) {
          if (ch === "(") parens++;
          else if (ch === ")") parens--;
          else if (ch === "{" && parens === 0) { inBody = true; depth = 1; }
          else if (parens === 0 && (ch === ";" || ch === ",")) return l + 1;
          else if (parens === 0 && ch === "=" && text[c + 1] === ">" && !text.slice(c + 2).includes("{")) {
            return l + 1;
          }
          continue;
        }
        if (ch === "{") depth++;
        else if (ch === "}" && --depth === 0) return l + 1;
      }
      if (quote !== "`") quote = null;
    }
    return line;
  }

  // ---- Keys, start ------------------------------------------------------------------
  doc.addEventListener("keydown", (e) => {
    const typing = e.target instanceof HTMLInputElement;
    if (e.key === "/" && !typing && $("filter")) {
      e.preventDefault();
      $("filter").focus();
    }
  });

  function start() {
    readHash();
    if (state.cls) showSiteOf(state.cls);
    drawFrame();
    drawOverview();
    drawTest();
    countRequests();
    if (typeof PerformanceObserver === "function") {
      new PerformanceObserver(countRequests).observe({ type: "resource", buffered: true });
    }
    root.dataset.ready = "true";
  }

  try {
    start();
  } catch (e) {
    noteProblem("error: " + (e && e.stack ? e.stack : e));
    throw e;
  }
})();
