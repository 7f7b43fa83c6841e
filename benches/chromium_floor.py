"""The floor of a page memory test, for benches/chromium.sh: what driving
the same browser over the same pipe costs with nothing of memcheck's.

  python3 benches/chromium_floor.py BROWSER suite N      one browser start, then N times:
                                                         a context and a page, the page
                                                         loads a module that keeps 200
                                                         objects, two heap snapshots
  python3 benches/chromium_floor.py BROWSER checkpoint K one page, K heap snapshots;
                                                         prints the median in ms

Pages are served through request interception at one origin, as memcheck
serves them. The browser gets the V8 flags in JS_FLAGS (space-separated;
benches/chromium.sh passes memcheck's, as the other engines' floors run
with them). Prints seconds (suite) or milliseconds (checkpoint).
"""

import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

PAGE = "<!doctype html><script type=module src=/m.js></script>"
MODULE = """
class Item { constructor(i) { this.i = i; } }
window.kept = [];
for (let i = 0; i < 200; i++) kept.push(new Item(i));
"""


class Browser:
    def __init__(self, binary):
        r3, w3 = os.pipe()
        r4, w4 = os.pipe()

        def fds():
            os.dup2(r3, 3)
            os.dup2(w4, 4)

        self.profile = tempfile.mkdtemp(prefix="memcheck-floor-")
        flags = [
            "--headless=new", "--remote-debugging-pipe", "--no-first-run",
            "--no-default-browser-check", "--disable-gpu", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--mute-audio", f"--user-data-dir={self.profile}",
        ]
        if os.environ.get("JS_FLAGS"):
            flags.append(f"--js-flags={os.environ['JS_FLAGS']}")
        if os.geteuid() == 0:
            flags.append("--no-sandbox")
        self.proc = subprocess.Popen(
            [binary, *flags, "about:blank"], pass_fds=(3, 4, r3, w4), preexec_fn=fds,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(r3)
        os.close(w4)
        self.out = os.fdopen(w3, "wb", buffering=0)
        self.inp = os.fdopen(r4, "rb", buffering=0)
        self.buf = b""
        self.next_id = 0
        self.chunks = []

    def send(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.out.write(json.dumps(message).encode() + b"\0")
        return self.next_id

    def read(self):
        while b"\0" not in self.buf:
            self.buf += self.inp.read(1 << 20)
        message, self.buf = self.buf.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, params=None, session=None):
        wanted = self.send(method, params, session)
        while True:
            message = self.read()
            if message.get("id") == wanted:
                return message.get("result", {})
            self.event(message)

    def event(self, message):
        method = message.get("method")
        params = message.get("params", {})
        if method == "Fetch.requestPaused":
            url = params["request"]["url"]
            body = {"/t.html": (PAGE, "text/html"), "/m.js": (MODULE, "text/javascript")}.get(
                url.split("memcheck.localhost", 1)[-1])
            if body is None:
                self.send("Fetch.failRequest", {"requestId": params["requestId"],
                                                "errorReason": "BlockedByClient"}, message["sessionId"])
            else:
                self.send("Fetch.fulfillRequest", {
                    "requestId": params["requestId"], "responseCode": 200,
                    "responseHeaders": [{"name": "Content-Type", "value": body[1]}],
                    "body": base64.b64encode(body[0].encode()).decode()}, message["sessionId"])
        elif method == "HeapProfiler.addHeapSnapshotChunk":
            self.chunks.append(params["chunk"])
        elif method == "Page.loadEventFired":
            self.loaded = True

    def page(self):
        context = self.call("Target.createBrowserContext", {"disposeOnDetach": True})["browserContextId"]
        target = self.call("Target.createTarget", {"url": "about:blank", "browserContextId": context})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for method, params in [("Fetch.enable", {"patterns": [{"urlPattern": "*"}]}),
                               ("Page.enable", {}), ("HeapProfiler.enable", {})]:
            self.call(method, params, session)
        self.loaded = False
        self.send("Page.navigate", {"url": "http://memcheck.localhost/t.html"}, session)
        while not self.loaded:
            self.event(self.read())
        return context, session

    def snapshot(self, session):
        self.chunks = []
        self.call("HeapProfiler.takeHeapSnapshot", {"reportProgress": False}, session)
        return "".join(self.chunks)

    def close(self):
        self.proc.kill()
        self.proc.wait()


def main():
    binary, mode, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    started = time.monotonic()
    browser = Browser(binary)
    try:
        if mode == "suite":
            for _ in range(count):
                context, session = browser.page()
                browser.snapshot(session)
                browser.snapshot(session)
                browser.call("Target.disposeBrowserContext", {"browserContextId": context})
            print(f"{time.monotonic() - started:.3f}")
        else:
            _, session = browser.page()
            times = []
            for _ in range(count):
                t0 = time.monotonic()
                browser.snapshot(session)
                times.append((time.monotonic() - t0) * 1000)
            print(f"{statistics.median(times):.1f}")
    finally:
        browser.close()


if __name__ == "__main__":
    main()
