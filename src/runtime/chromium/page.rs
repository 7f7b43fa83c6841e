//! One job in a page: a fresh browser context (so storage starts empty)
//! with one page, which loads the harness's page host and the test file
//! from the project, served by [`super::serve`].
//!
//! The harness speaks the same protocol as in Deno and Node, through a
//! binding (`Runtime.addBinding`) instead of a FIFO; its messages become
//! the same [`Event`]s. A page cannot take its own heap snapshot: at each
//! checkpoint the harness stops at a `debugger` statement in its own frame,
//! and the runner takes the snapshot while the page is paused, so the
//! snapshot sees the harness's frame exactly as Deno's and Node's do. The
//! snapshot's chunks are handed on after the harness's `snapshot` message,
//! which it sends once it resumes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use super::browser::{self, Browser};
use super::cdp::CLOSED;
use super::serve::{self, Answer, ORIGIN};
use crate::runtime::process::{Event, Exit};
use crate::runtime::protocol::Message;
use crate::runtime::{Job, JobMode, Launch, RuntimeError, V8_FLAGS, file_url};

/// How long the browser may take to set up a page.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The binding the harness sends through.
pub const BINDING: &str = "__memcheckSend";
/// The harness's page host, where its checkpoints pause.
const PAGE_HOST: &str = "/__memcheck__/harness/page.js";

/// A job running in a page.
pub struct PageSession {
    browser: Arc<Browser>,
    session: String,
    context: String,
    events: Receiver<Value>,
    queue: VecDeque<Event>,
    /// The snapshot taken at the last pause, handed on after the harness's
    /// `snapshot` message.
    held: Vec<Vec<u8>>,
    snapshot_call: Option<u64>,
    taking: Vec<Vec<u8>>,
    /// The script id of the harness's page host, where checkpoints pause.
    host_script: Option<String>,
    /// A serving job stopped for its command: the call frame to set it in.
    waiting: Option<String>,
    /// The id of the last reply the page's session got.
    replied: Option<u64>,
    /// What the page printed, split where the harness marked a new test.
    segments: Vec<String>,
    deadline: Instant,
    timed_out: bool,
    ended: bool,
    crashed: Option<String>,
    /// The context was disposed already (the page was stopped early).
    disposed: bool,
    root: std::path::PathBuf,
    /// `file:///…/` of the project root, for the origin's URLs.
    file_prefix: String,
    harness: std::path::PathBuf,
    page: String,
}

impl PageSession {
    pub fn start(
        launch: &Launch,
        job: &Job,
        timeout: Duration,
        import_map: &Value,
    ) -> Result<PageSession, RuntimeError> {
        let flags: Vec<String> = V8_FLAGS
            .iter()
            .map(|f| f.to_string())
            .chain(launch.v8_flags.iter().cloned())
            .collect();
        let browser = match job.mode {
            JobMode::List | JobMode::Serve => browser::for_listing,
            _ => browser::for_thread,
        };
        let browser = browser(&launch.binary, &flags, &launch.env)?;
        let fail =
            |e: String| RuntimeError::Browser(format!("cannot open a page in the browser: {e}"));
        let conn = &browser.conn;
        let context = conn
            .call(
                "Target.createBrowserContext",
                json!({ "disposeOnDetach": true }),
                SETUP_TIMEOUT,
            )
            .map_err(fail)?["browserContextId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let target = conn
            .call(
                "Target.createTarget",
                json!({ "url": "about:blank", "browserContextId": context }),
                SETUP_TIMEOUT,
            )
            .map_err(fail)?["targetId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let session = conn
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target, "flatten": true }),
                SETUP_TIMEOUT,
            )
            .map_err(fail)?["sessionId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let events = conn.subscribe(&session);
        let page = run_page(launch, job, &browser, import_map);
        let s = Some(session.as_str());
        let setup = [
            (
                "Fetch.enable",
                json!({ "patterns": [{ "urlPattern": "*" }] }),
            ),
            ("Runtime.enable", json!({})),
            ("Runtime.addBinding", json!({ "name": BINDING })),
            ("Inspector.enable", json!({})),
            ("Debugger.enable", json!({})),
            ("HeapProfiler.enable", json!({})),
        ];
        for (method, params) in setup {
            conn.send(method, params, s).map_err(fail)?;
        }
        if launch.trace {
            conn.send(
                "HeapProfiler.startTrackingHeapObjects",
                json!({ "trackAllocations": true }),
                s,
            )
            .map_err(fail)?;
        }
        let url = format!("{ORIGIN}/__memcheck__/run.html?job={}", job.key);
        conn.send("Page.navigate", json!({ "url": url }), s)
            .map_err(fail)?;
        Ok(PageSession {
            session,
            context,
            events,
            queue: VecDeque::new(),
            held: Vec::new(),
            snapshot_call: None,
            taking: Vec::new(),
            host_script: None,
            waiting: None,
            replied: None,
            segments: vec![String::new()],
            deadline: Instant::now() + timeout,
            timed_out: false,
            ended: false,
            crashed: None,
            disposed: false,
            root: launch.sandbox.root.clone(),
            file_prefix: format!("{}/", file_url(&launch.sandbox.root)),
            harness: launch.harness.dir.clone(),
            page,
            browser,
        })
    }

    /// The next event, or `None` once the deadline has passed.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            if self.timed_out {
                return None;
            }
            if self.ended {
                return Some(Event::Closed);
            }
            let wait = self.deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(wait) {
                Ok(message) => self.handle(message),
                Err(RecvTimeoutError::Timeout) => {
                    self.timed_out = true;
                    self.kill();
                    return None;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.browser_closed();
                }
            }
        }
    }

    fn send(&self, method: &str, params: Value) {
        let _ = self.browser.conn.send(method, params, Some(&self.session));
    }

    fn handle(&mut self, message: Value) {
        if let Some(id) = message.get("id").and_then(Value::as_u64) {
            self.replied = Some(id);
            if Some(id) == self.snapshot_call {
                self.snapshot_call = None;
                self.held = std::mem::take(&mut self.taking);
                self.send("Debugger.resume", json!({}));
            }
            return;
        }
        let params = &message["params"];
        match message["method"].as_str().unwrap_or_default() {
            "Fetch.requestPaused" => self.serve(params),
            "Runtime.bindingCalled" if params["name"] == BINDING => {
                let payload = params["payload"].as_str().unwrap_or_default().to_owned();
                self.harness_said(&payload);
            }
            "Debugger.paused" => self.paused(params),
            "Debugger.scriptParsed" => {
                let url = params["url"].as_str().unwrap_or_default();
                if url.strip_prefix(ORIGIN) == Some(PAGE_HOST) {
                    self.host_script = params["scriptId"].as_str().map(str::to_owned);
                }
            }
            "HeapProfiler.addHeapSnapshotChunk" => {
                let chunk = params["chunk"].as_str().unwrap_or_default();
                self.taking.push(chunk.as_bytes().to_vec());
            }
            "Runtime.exceptionThrown" => {
                let details = &params["exceptionDetails"];
                let text = details["exception"]["description"]
                    .as_str()
                    .or_else(|| details["text"].as_str())
                    .unwrap_or("an exception");
                self.print(&format!("{text}\n"));
            }
            "Inspector.targetCrashed" => {
                self.crashed =
                    Some("the page crashed (it ran out of memory, or its renderer died)".into());
                self.ended = true;
            }
            "Target.detachedFromTarget" => {
                self.crashed.get_or_insert_with(|| {
                    "the page was closed (window.close(), or the browser closed it)".into()
                });
                self.ended = true;
            }
            CLOSED => self.browser_closed(),
            _ => {}
        }
    }

    fn browser_closed(&mut self) {
        self.crashed
            .get_or_insert_with(|| "the browser ended; the next test starts a new one".into());
        self.ended = true;
    }

    fn print(&mut self, text: &str) {
        if let Some(last) = self.segments.last_mut() {
            last.push_str(text);
        }
    }

    /// A message of the harness: `J` a protocol message, `O` output, `M`
    /// the start of the next test's output, `E` the end.
    fn harness_said(&mut self, payload: &str) {
        // Places in the page are the project's files: say them as Deno and
        // Node do, so lines and sources are found the same way.
        let payload = payload.replace(&format!("{ORIGIN}/"), &self.file_prefix);
        let (kind, rest) = payload.split_at(payload.len().min(1));
        match kind {
            "J" => match serde_json::from_str::<Message>(rest) {
                Ok(m) => {
                    let snapshot = matches!(m, Message::Snapshot { .. });
                    self.queue.push_back(Event::Message(m));
                    if snapshot {
                        self.queue
                            .extend(std::mem::take(&mut self.held).into_iter().map(Event::Chunk));
                    }
                }
                Err(e) => self.queue.push_back(Event::Garbled(format!(
                    "a message that is not valid ({e}): {}",
                    &rest[..rest.len().min(200)]
                ))),
            },
            "O" => self.print(rest),
            "M" => self.segments.push(String::new()),
            "E" => self.ended = true,
            _ => {}
        }
    }

    /// The page stopped at a `debugger` statement: the harness's own (a
    /// checkpoint: take the snapshot now, then resume; or a serving job's
    /// wait for its command: stay) or a test's (resume).
    fn paused(&mut self, params: &Value) {
        let frame = &params["callFrames"][0];
        let script = frame["location"]["scriptId"].as_str();
        let ours = script.is_some() && script == self.host_script.as_deref();
        if ours && frame["functionName"] == "awaitCommand" {
            self.waiting = frame["callFrameId"].as_str().map(str::to_owned);
        } else if ours && self.snapshot_call.is_none() {
            self.taking.clear();
            self.held.clear();
            self.snapshot_call = self
                .browser
                .conn
                .send(
                    "HeapProfiler.takeHeapSnapshot",
                    json!({ "reportProgress": false, "captureNumericValue": false }),
                    Some(&self.session),
                )
                .ok();
            if self.snapshot_call.is_none() {
                self.browser_closed();
            }
        } else {
            self.send("Debugger.resume", json!({}));
        }
    }

    /// Answer a paused request: a file of the project, or a failure.
    fn serve(&mut self, params: &Value) {
        let id = params["requestId"].clone();
        let url = params["request"]["url"].as_str().unwrap_or_default();
        match serve::answer(url, &self.root, &self.harness, &self.page) {
            Answer::File(body, content_type) => self.send(
                "Fetch.fulfillRequest",
                json!({
                    "requestId": id,
                    "responseCode": 200,
                    "responseHeaders": [
                        { "name": "Content-Type", "value": content_type },
                        { "name": "Cache-Control", "value": "no-store" },
                    ],
                    "body": base64::engine::general_purpose::STANDARD.encode(body),
                }),
            ),
            Answer::Refuse(why) => {
                if !url.ends_with("/favicon.ico") {
                    self.print(&format!("memcheck: refused {url}: {why}\n"));
                }
                self.send(
                    "Fetch.failRequest",
                    json!({ "requestId": id, "errorReason": "BlockedByClient" }),
                );
            }
        }
    }

    /// Close the page and its context.
    pub fn kill(&mut self) {
        let conn = &self.browser.conn;
        let _ = conn.send(
            "Target.disposeBrowserContext",
            json!({ "browserContextId": self.context }),
            None,
        );
        self.disposed = true;
        self.ended = true;
    }

    pub fn restart_clock(&mut self, timeout: Duration) {
        self.deadline = Instant::now() + timeout;
    }

    /// A serving page's command: once the page stopped for it, set it in
    /// the harness's frame, and resume once that is done.
    pub fn command(&mut self, text: &str) -> Result<(), String> {
        while self.waiting.is_none() {
            self.pump("the page did not stop for its command")?;
        }
        let set = self.browser.conn.send(
            "Debugger.setVariableValue",
            json!({
                "scopeNumber": 0,
                "variableName": "command",
                "newValue": { "value": text },
                "callFrameId": self.waiting.take(),
            }),
            Some(&self.session),
        )?;
        while self.replied.take() != Some(set) {
            self.pump("the page did not take its command")?;
        }
        self.send("Debugger.resume", json!({}));
        Ok(())
    }

    /// Handle the page's next message, waiting until the deadline; `late`
    /// when it passes.
    fn pump(&mut self, late: &str) -> Result<(), String> {
        if self.ended || self.timed_out {
            return Err("the page ended before it was told what to run".into());
        }
        let wait = self.deadline.saturating_duration_since(Instant::now());
        match self.events.recv_timeout(wait) {
            Ok(message) => self.handle(message),
            Err(RecvTimeoutError::Timeout) => return Err(late.into()),
            Err(RecvTimeoutError::Disconnected) => self.browser_closed(),
        }
        Ok(())
    }

    /// How the page ended, with what it printed per test.
    pub fn finish_segments(mut self) -> (Exit, Vec<String>) {
        let exit = if self.timed_out {
            Exit::TimedOut
        } else if let Some(why) = self.crashed.take() {
            Exit::Crashed(why)
        } else {
            Exit::Code(0)
        };
        (exit, std::mem::take(&mut self.segments))
    }
}

impl Drop for PageSession {
    fn drop(&mut self) {
        self.browser.conn.unsubscribe(&self.session);
        if !self.disposed && self.browser.conn.alive() {
            let _ = self.browser.conn.call(
                "Target.disposeBrowserContext",
                json!({ "browserContextId": self.context }),
                Duration::from_secs(5),
            );
        }
    }
}

/// The page that runs `job`: the import map, the job's arguments, and the
/// harness's page host.
fn run_page(launch: &Launch, job: &Job, browser: &Browser, map: &Value) -> String {
    let args = json!({
        "file": serve::url_path(&launch.sandbox.root, &job.file),
        "args": job.harness_args(launch, false),
        "runtime": browser.info,
    });
    // `</` would end the script element early.
    let script = |v: &Value| v.to_string().replace("</", "<\\/");
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>memcheck</title>\n\
         <script type=\"importmap\">{}</script>\n\
         <script type=\"application/json\" id=\"memcheck-job\">{}</script>\n\
         <script type=\"module\" src=\"{PAGE_HOST}\"></script>\n</head><body></body></html>\n",
        script(map),
        script(&args)
    )
}
