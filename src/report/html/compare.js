// Part 3 of 6: the step's Comparison table (sort, filter, baseline) and the
// class selected: its retainer path and its allocation sites.

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
  put($("compare"),
    el("div", { class: "table-tools" },
      el("h4", { text: "Comparison" }), filterInput(), el("span", { id: "row-count", class: "muted" })),
    el("div", { class: "table-wrap" },
      el("table", { class: "comparison" },
        el("caption", { class: "visually-hidden", text: "Objects of each class made and freed by this step; sort with the column headers" }),
        el("thead", {}, el("tr", {}, columns(step).map(headerCell))),
        el("tbody", { id: "rows" }))),
    baselineOnly(step),
    grownIn(step));
  drawRows();
}

// Objects alive before and after the step that grew in place (a dictionary,
// an array, a Map's table), each with its path.
function grownIn(step) {
  if (!step.grown || !step.grown.length) return null;
  return el("section", { class: "grown", "aria-label": "Grew in place" },
    el("h4", { text: "Grew in place" }),
    el("p", { class: "muted", text: "Objects alive before and after the step, with the backing stores each alone owns." }),
    el("ul", { class: "groups" }, step.grown.map((g) => el("li", {},
      el("p", { class: "group-count" }, el("code", { text: g.constructor }),
        " " + bytes(g.before) + " → " + bytes(g.after)),
      chain(g.path)))));
}

function filterInput() {
  const apply = (value) => {
    state.filter = value;
    drawRows();
    writeHash();
  };
  return el("input", {
    type: "search",
    id: "filter",
    placeholder: "Filter classes  ( / )",
    "aria-label": "Filter classes by name",
    value: state.filter,
    oninput: (e) => apply(e.target.value),
    onkeydown: (e) => {
      if (e.key === "Escape") apply(e.target.value = "");
    },
  });
}

// A column's header: a button that sorts by it, and says how it sorts.
function headerCell(c) {
  const sorted = state.sort.key === c.key;
  return el("th", {
    scope: "col",
    class: c.fmt ? "num" : "",
    "aria-sort": sorted ? (state.sort.desc ? "descending" : "ascending") : null,
  }, el("button", { type: "button", "data-key": "sort-" + c.key, onclick: () => sortBy(c.key) },
    c.label, el("span", { class: "arrow", "aria-hidden": "true",
      text: sorted ? (state.sort.desc ? "\u00a0▼" : "\u00a0▲") : "" })));
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
  const paths = step.retainers.filter((p) => p.constructor === r.name);
  put(box,
    el("h4", {}, el("span", { class: "swatch " + colourClass(r.name), "aria-hidden": "true" }),
      el("span", { text: r.name }),
      el("span", { class: "muted", text: "  " + signed(r.delta) + " · " + signedBytes(r.size_delta) })),
    el("div", { class: "explain" },
      el("section", { "aria-label": "Kept alive by" },
        el("h5", { text: "Kept alive by (paths from a GC root, grouped by shape; [i] is any index)" }),
        paths.length ? groups(paths) : el("p", { class: "muted", text: noPath(step, r) })),
      el("section", { "aria-label": "Allocated by" },
        el("h5", { text: "Allocated by (innermost project frame first)" }),
        sites(step, r))));
}

function noPath(step, r) {
  if (!r.new) return "No new object of this class is alive.";
  if (step.kind === "run") return "A run has no paths of its own: see its block, “" + step.run_of + "”.";
  return "No path recorded: memcheck finds paths for the five classes with the most new objects.";
}

// A class's groups of paths, largest first, each with how many of the
// class's new objects it holds.
function groups(paths) {
  return el("ul", { class: "groups" }, paths.map((p) => el("li", {},
    el("p", { class: "group-count",
      text: "×" + count(p.count) + (p.count === p.total ? "" : " of " + count(p.total)) }),
    chain(p.path))));
}

// A retainer path, `A .x → B [i] → C`, as boxes joined by labelled arrows.
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

// `Map (table)[i]` → node `Map`, edge `(table)[i]`: the edge starts at the
// first space outside brackets followed by `.`, `:`, `[`, `(` or, for a
// WeakMap entry (`WeakMap key Meta`), `key `.
function splitHop(part) {
  let depth = 0;
  for (let i = 0; i < part.length - 1; i++) {
    const c = part[i];
    if ("([{".includes(c)) depth++;
    else if (")]}".includes(c)) depth--;
    else if (c === " " && depth === 0 && (".:[(".includes(part[i + 1]) || part.startsWith("key ", i + 1))) {
      return { node: part.slice(0, i), edge: part.slice(i + 1) };
    }
  }
  return { node: part, edge: "" };
}

function sites(step, r) {
  const list = sitesOf(step, r.name);
  if (!r.new) return el("p", { class: "muted", text: "This step made no new object of this class." });
  if (!list.length && step.kind === "run") {
    return el("p", { class: "muted", text: "A run has no allocation sites of its own: see its block, “" + step.run_of + "”." });
  }
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
      ? el("ol", { class: "frames" }, leadingFrames(s.frames).map((f, i) => el("li", f.runtime ? { class: "runtime" } : {},
        el("span", { class: "muted", text: f.inner ? "via " : i ? "called from " : "in " }),
        f.runtime
          ? el("code", { title: f.file + ":" + f.line + ":" + f.column, text: "(" + f.runtime + ") " + f.function })
          : [el("code", { text: f.function }), " ",
            sourceLink(f.file, f.line, f.file + ":" + f.line, "show " + f.function + " in the source")])))
      : el("span", { class: "muted", text: "(no allocation stack recorded by V8)" }))));
}

// A site's frames as the failure text shows them: from the first frame in
// the project outward, then the runtime's own frames inside it, marked
// `inner` ("via"). The runtime's frames show by name, their bundled
// script's place in a tooltip.
function leadingFrames(frames) {
  const first = frames.findIndex((f) => !f.runtime);
  if (first <= 0) return frames;
  return frames.slice(first).concat(frames.slice(0, first).map((f) => Object.assign({}, f, { inner: true })));
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
