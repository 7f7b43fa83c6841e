// Part 6 of 6: keyboard shortcuts, and drawing the page once every part is
// defined.

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
  if (live) startLive();
} catch (e) {
  noteProblem("error: " + (e && e.stack ? e.stack : e));
  throw e;
}
