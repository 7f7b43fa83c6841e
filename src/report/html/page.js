// The cargo memcheck HTML report, part 1 of 6: self-checks, the data, DOM
// and number helpers, the state kept in the URL, the page's frame and the
// test overview. The renderer joins page.js, steps.js, compare.js, source.js,
// live.js and main.js, in that order, into one strict-mode function (src/report/html/
// mod.rs), so they share one scope. Plain DOM, no framework, no request (but
// the live page's to its own server, live.js): every piece of data goes in as
// text (textContent, text nodes), never markup.

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

// The live page (live.js) replaces it with each new run.
let data = JSON.parse(doc.getElementById("memcheck-data").textContent);
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
  for (const r of data.runtimes) {
    if (r.name) parts.push(r.name + " " + r.version + (r.v8 ? " · V8 " + r.v8 : ""));
  }
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
      el("span", { class: "test-file muted", text: (t.engine ? t.engine + ": " : "") + t.file }),
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
  // A repeat block's runs and the checkpoint chain's steps overlap the
  // blocks: the net is the chain's when there is one, else the blocks'.
  const ofKind = (kind) => test.steps.filter((s) => s.kind === kind);
  const steps = ofKind("step"), blocks = ofKind("block");
  const net = (steps.length ? steps : blocks).reduce((sum, s) => sum + s.constructors.reduce(
    (a, r) => a + byMetric(r.delta, r.size_delta), 0), 0);
  const counted = [steps.length ? plural(steps.length, "step") : "",
    blocks.length ? plural(blocks.length, "block") : ""].filter(Boolean).join(", ");
  return el("span", { class: "spark" },
    svg("svg", { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "none", role: "img", "aria-label": label },
      svg("line", { x1: 0, x2: w, y1: h - 0.5, y2: h - 0.5, class: "axis" }), bars),
    el("span", { class: "muted spark-label",
      text: test.steps.length ? counted + " · net " + signedMetric(net) : "not run" }));
}
