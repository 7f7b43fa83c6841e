// Part 5 of 6: the live page of `cargo memcheck watch`. The server renders
// this same page with its settings in #memcheck-live (null in a static
// report, where none of this runs). It follows the server's stream of runs
// and redraws in place: the test, step, class, source place and scroll
// stay; a bar says whether a run is in progress, which files started it and
// how long the last one took; each step whose figures moved since the run
// before is marked; Accept and Reject settle a pending baseline.

// ---- Live settings and what moved -------------------------------------------
const live = JSON.parse(doc.getElementById("memcheck-live").textContent);
let liveStatus = null;
let liveNote = "";
// Test key → step key → { objects, bytes } of the run before, for the steps
// whose retained figures moved.
let changes = new Map();

const testKey = (t) => (t.engine || "") + "\u0000" + t.file + "\u0000" + t.name;
const stepKey = (s) => s.kind + "\u0000" + s.name;

function changesBetween(before, after) {
  const found = new Map();
  const old = new Map(before.tests.map((t) => [testKey(t), t]));
  for (const test of after.tests) {
    const was = old.get(testKey(test));
    if (!was) continue;
    const steps = new Map(was.steps.map((s) => [stepKey(s), s]));
    const moved = new Map();
    for (const step of test.steps) {
      const s = steps.get(stepKey(step));
      if (s && (s.retained_objects !== step.retained_objects || s.retained_bytes !== step.retained_bytes)) {
        moved.set(stepKey(step), { objects: s.retained_objects, bytes: s.retained_bytes });
      }
    }
    if (moved.size) found.set(testKey(test), moved);
  }
  return found;
}

// The mark on a step card whose figures moved: ▲ up, ▼ down.
function changeMark(test, step) {
  const moved = changes.get(testKey(test));
  const was = moved && moved.get(stepKey(step));
  if (!was) return null;
  const objects = step.retained_objects - was.objects;
  const size = step.retained_bytes - was.bytes;
  const up = size > 0 || (size === 0 && objects > 0);
  return el("span", {
    class: "change " + (up ? "up" : "down"),
    "data-change": up ? "up" : "down",
    title: "kept " + plural(was.objects, "object") + " · " + bytes(was.bytes) + " in the run before",
    text: (up ? "▲ " : "▼ ") + signed(objects) + " objects · " + signedBytes(size) + " since the last run",
  });
}

// ---- The stream ---------------------------------------------------------------
function startLive() {
  const bar = el("div", { id: "live", class: "live", role: "status", "aria-live": "polite" });
  doc.body.prepend(bar);
  root.dataset.live = "connecting";
  const source = new EventSource("/events");
  source.addEventListener("open", () => {
    root.dataset.live = "open";
  });
  source.addEventListener("error", () => {
    root.dataset.live = "closed";
    drawLive();
  });
  source.addEventListener("status", (e) => {
    liveStatus = JSON.parse(e.data);
    drawLive();
  });
  source.addEventListener("page", (e) => replaceData(JSON.parse(e.data)));
  drawLive();
}

// A new run: keep the view (by test and step name, as indexes move), redraw.
function replaceData(next) {
  const test = currentTest();
  const step = currentStep();
  const wantedTest = test ? testKey(test) : null;
  const wantedStep = step ? stepKey(step) : null;
  const focused = doc.activeElement && doc.activeElement.dataset ? doc.activeElement.dataset.key : null;
  const scrolled = [...doc.querySelectorAll("[id]")]
    .filter((n) => n.scrollTop || n.scrollLeft)
    .map((n) => [n.id, n.scrollTop, n.scrollLeft]);
  const [x, y] = [scrollX, scrollY];
  changes = changesBetween(data, next);
  data = next;
  const t = data.tests.findIndex((c) => testKey(c) === wantedTest);
  state.test = t >= 0 ? t : Math.min(state.test, Math.max(data.tests.length - 1, 0));
  const steps = currentTest() ? currentTest().steps : [];
  const s = steps.findIndex((c) => stepKey(c) === wantedStep);
  state.step = s >= 0 ? s : Math.min(state.step, Math.max(steps.length - 1, 0));
  drawFrame();
  drawOverview();
  drawTest();
  writeHash();
  for (const [id, top, left] of scrolled) {
    const n = $(id);
    if (n) {
      n.scrollTop = top;
      n.scrollLeft = left;
    }
  }
  scrollTo(x, y);
  const again = focused && doc.querySelector(`[data-key="${CSS.escape(focused)}"]`);
  if (again) again.focus({ preventScroll: true });
  root.dataset.redraws = String(Number(root.dataset.redraws || 0) + 1);
}

// ---- The bar: run in progress, what started it, how long it took -----------
function drawLive() {
  const bar = $("live");
  if (!bar) return;
  const st = liveStatus;
  root.dataset.running = String(Boolean(st && st.running));
  if (st) root.dataset.run = String(st.run);
  const files = (list) => (list && list.length ? list.join(", ") : "the start");
  const parts = [];
  if (root.dataset.live === "closed") {
    parts.push(el("span", { class: "fail", text: "disconnected from cargo memcheck watch; is it still running?" }));
  } else if (!st) {
    parts.push("connecting…");
  } else if (st.running) {
    parts.push(el("span", { class: "spinner", "aria-hidden": "true" }),
      el("strong", { text: "Running" }), " · triggered by " + files(st.triggers));
  } else {
    parts.push(el("strong", { text: "Run " + st.run }),
      st.last_ms != null ? " · took " + (st.last_ms / 1000).toFixed(2) + " s" : "",
      " · triggered by " + files(st.last_triggers));
  }
  put(bar,
    el("p", {}, ...parts),
    st && st.error ? el("pre", { class: "live-error", id: "live-error", text: st.error }) : null,
    liveNote ? el("p", { class: "muted", id: "live-note", text: liveNote }) : null);
}

// ---- Accept and Reject ----------------------------------------------------------
function pendingActions(test) {
  const act = (verb, label) => el("button", {
    type: "button",
    class: "live-action",
    "data-action": verb,
    text: label,
    onclick: () => settlePending(verb, test),
  });
  return el("p", { class: "pending", id: "pending" },
    "This run proposes a new baseline for this test (nothing is written until you accept it). ",
    act("accept", "Accept"), " ", act("reject", "Reject"));
}

async function settlePending(verb, test) {
  try {
    const reply = await fetch("/" + verb, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Memcheck-Token": live.token },
      body: JSON.stringify({ test: test.full_name }),
    });
    liveNote = (reply.ok ? "" : "refused: ") + (await reply.text()).trim();
  } catch (e) {
    liveNote = "cannot reach cargo memcheck watch: " + e;
  }
  drawLive();
}
