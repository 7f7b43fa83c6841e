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
use super::serve::{self, Answer, ORIGIN, Served};
use super::transpile::Transpiler;
use crate::runtime::process::{Event, Exit};
use crate::runtime::protocol::Message;
use crate::runtime::{Job, JobMode, Launch, RuntimeError, V8_FLAGS, file_url};

/// How long the browser may take to set up a page.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a page that skipped a checkpoint's pause has to say why.
const NO_PAUSE_GRACE: Duration = Duration::from_secs(2);
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
    /// The page's main frame (its target's id), and how many times a
    /// page was loaded into it: the second is a navigation.
    frame: String,
    loads: u32,
    /// The test tried to navigate the page away (stopped; it fails once
    /// it ends).
    navigation: bool,
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
    transpiler: Arc<Transpiler>,
    /// What `process.env.NODE_ENV` reads as in the page's modules.
    node_env: String,
    /// The requests refused so far, said again when a module fails to load.
    refused: Vec<String>,
    /// The job's file, as the harness names it (its listed lines are in it).
    file_url: String,
    /// The harness's call of the sampling heap profiler, in its steps.
    inspector: InspectorCall,
}

/// A call of the inspector the harness asked for (`I`): it stops in
/// `inspectorCall` while the runner makes it; the answer is set in that
/// frame, then the page resumes.
#[derive(Default)]
struct InspectorCall {
    /// The method and its parameters, as the harness asked.
    request: Option<Value>,
    /// The frame the page stopped in for it.
    frame: Option<String>,
    /// The browser's reply awaited, with the method it answers.
    call: Option<(u64, String)>,
    /// The answer being set in the frame: the page resumes on its reply.
    set: Option<u64>,
}

impl PageSession {
    pub fn start(
        launch: &Launch,
        job: &Job,
        timeout: Duration,
        import_map: &Value,
        transpiler: &Arc<Transpiler>,
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
            frame: target,
            loads: 0,
            navigation: false,
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
            transpiler: transpiler.clone(),
            refused: Vec::new(),
            node_env: launch
                .env
                .get("NODE_ENV")
                .map_or_else(|| "test".into(), |v| v.to_string_lossy().into_owned()),
            file_url: file_url(&job.file),
            inspector: InspectorCall::default(),
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
                if let Some(error) = message.get("error") {
                    return self.snapshot_failed(error);
                }
                self.held = std::mem::take(&mut self.taking);
                self.send("Debugger.resume", json!({}));
            } else if self.inspector.call.as_ref().is_some_and(|(c, _)| *c == id) {
                self.inspector_answered(&message);
            } else if Some(id) == self.inspector.set {
                self.inspector.set = None;
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
                let text = self.as_written(text);
                self.print(&format!("{text}\n"));
            }
            "Runtime.executionContextCreated" => self.context_created(&params["context"]),
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
        let payload = self.as_written(payload);
        let (kind, rest) = payload.split_at(payload.len().min(1));
        match kind {
            "J" => match serde_json::from_str::<Message>(rest) {
                Ok(mut m) => {
                    self.remap_lines(&mut m);
                    if let Message::LoadError { message, .. } = &mut m {
                        for line in &self.refused {
                            message.push('\n');
                            message.push_str(line);
                        }
                    }
                    let snapshot = matches!(m, Message::Snapshot { .. });
                    if snapshot && self.held.is_empty() {
                        return self.no_pause();
                    }
                    let ends_test = matches!(
                        m,
                        Message::Passed { .. } | Message::Error { .. } | Message::NeedsWhole
                    );
                    if ends_test && self.navigation {
                        return self.navigated();
                    }
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
            "I" => {
                self.inspector.request = serde_json::from_str(rest).ok();
                self.call_inspector();
            }
            "E" => self.ended = true,
            _ => {}
        }
    }

    /// A page was loaded into a frame: in the main frame a second time,
    /// the test navigated away (caught here if not at its request).
    fn context_created(&mut self, context: &Value) {
        let aux = &context["auxData"];
        let main = aux["isDefault"] == true && aux["frameId"].as_str() == Some(&self.frame);
        if !main || (self.loads == 0 && context["origin"] != ORIGIN) {
            return; // another frame, or about:blank before the job's page
        }
        self.loads += 1;
        if self.loads > 1 {
            self.navigated();
        }
    }

    /// The browser answered the snapshot with an error: the page went
    /// away while it was taken (a navigation), or the browser refused.
    fn snapshot_failed(&mut self, error: &Value) {
        let said = error["message"].as_str().unwrap_or("an error");
        if said.contains("navigated") || said.contains("closed") {
            return self.navigated();
        }
        self.crashed = Some(format!(
            "the browser could not take the page's heap snapshot: {said}"
        ));
        self.kill();
    }

    /// The harness reached a checkpoint but the page never stopped there,
    /// so no snapshot was taken: the page is leaving (a navigation, or
    /// `window.close()`). What it does next, within a grace period, says
    /// which.
    fn no_pause(&mut self) {
        let until = Instant::now() + NO_PAUSE_GRACE;
        let queued = self.queue.len();
        while self.crashed.is_none() && !self.navigation {
            match self
                .events
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                Ok(message) => self.handle(message),
                Err(_) => break,
            }
        }
        // What the harness said after the checkpoint it could not take
        // describes nothing that was measured.
        self.queue.truncate(queued);
        if self.navigation {
            return self.navigated();
        }
        self.crashed.get_or_insert_with(|| {
            "the page did not stop at the checkpoint, so no heap snapshot was taken (another debugger may hold the page)".into()
        });
        self.kill();
    }

    /// The test navigated the page away: it ends there.
    fn navigated(&mut self) {
        self.crashed.get_or_insert_with(|| {
            "the test navigated the page away (location.href, location.reload(), a form or a link): a test runs in one page from start to end, so a navigation ends it".into()
        });
        self.kill();
    }

    /// `text` with the page's places said as Deno and Node say them
    /// (`file://` URLs of the project's files), at the lines written.
    fn as_written(&self, text: &str) -> String {
        self.transpiler
            .remap(&text.replace(&format!("{ORIGIN}/"), &self.file_prefix))
    }

    /// The lines of a message's places, as written.
    fn remap_lines(&self, message: &mut Message) {
        let t = &self.transpiler;
        match message {
            Message::Block {
                url: Some(url),
                line: Some(line),
                ..
            }
            | Message::Checkpoint {
                url: Some(url),
                line: Some(line),
                ..
            } => *line = t.line(url, *line),
            Message::Tests { tests } => {
                for line in tests.iter_mut().filter_map(|t| t.line.as_mut()) {
                    *line = t.line(&self.file_url, *line);
                }
            }
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
        } else if ours && frame["functionName"] == "inspectorCall" {
            self.inspector.frame = frame["callFrameId"].as_str().map(str::to_owned);
            self.call_inspector();
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
                return self.browser_closed();
            }
            self.browser.dispose_retired();
        } else {
            self.send("Debugger.resume", json!({}));
        }
    }

    /// Once the harness asked and the page stopped: make its call of the
    /// sampling heap profiler (no other method is the page's to call).
    fn call_inspector(&mut self) {
        let i = &mut self.inspector;
        if i.frame.is_none() || i.call.is_some() {
            return;
        }
        let Some(request) = i.request.take() else {
            return;
        };
        let method = request["method"].as_str().unwrap_or_default().to_owned();
        if !matches!(
            method.as_str(),
            "HeapProfiler.startSampling" | "HeapProfiler.stopSampling"
        ) {
            return self.inspector_answer(json!(format!("{method} is not the page's to call")));
        }
        let sent = self
            .browser
            .conn
            .send(&method, request["params"].clone(), Some(&self.session));
        match sent {
            Ok(id) => self.inspector.call = Some((id, method)),
            Err(_) => self.browser_closed(),
        }
    }

    /// The browser's reply to the harness's call: what the page gets back
    /// is the error as text, or a stopped profile's allocated bytes.
    fn inspector_answered(&mut self, reply: &Value) {
        let Some((_, method)) = self.inspector.call.take() else {
            return;
        };
        let answer = match reply.get("error") {
            Some(e) => json!(format!(
                "the browser refused to measure allocated bytes ({method}): {}",
                e["message"].as_str().unwrap_or("an error")
            )),
            None => json!(sampled_bytes(&reply["result"]["profile"]["head"])),
        };
        self.inspector_answer(answer);
    }

    /// Set `answer` in the frame the page stopped in; it resumes once set.
    fn inspector_answer(&mut self, answer: Value) {
        let set = self.browser.conn.send(
            "Debugger.setVariableValue",
            json!({
                "scopeNumber": 0,
                "variableName": "answer",
                "newValue": { "value": answer },
                "callFrameId": self.inspector.frame.take(),
            }),
            Some(&self.session),
        );
        match set {
            Ok(id) => self.inspector.set = Some(id),
            Err(_) => self.browser_closed(),
        }
    }

    /// Answer a paused request: a file of the project, or a failure.
    fn serve(&mut self, params: &Value) {
        let id = params["requestId"].clone();
        let url = params["request"]["url"].as_str().unwrap_or_default();
        let script = params["resourceType"] == "Script";
        if params["resourceType"] == "Document"
            && params["frameId"].as_str() == Some(&self.frame)
            && self.loads > 0
        {
            // An aborted navigation leaves the page as it was, so the test
            // (and a snapshot in flight) finishes; then it fails.
            self.send(
                "Fetch.failRequest",
                json!({ "requestId": id, "errorReason": "Aborted" }),
            );
            self.navigation = true;
            return;
        }
        let served = Served {
            root: &self.root,
            harness: &self.harness,
            page: &self.page,
            transpiler: &self.transpiler,
            node_env: &self.node_env,
        };
        match serve::answer(url, script, &served) {
            Answer::Moved(path) => self.send(
                "Fetch.fulfillRequest",
                json!({
                    "requestId": id,
                    "responseCode": 302,
                    "responseHeaders": [
                        { "name": "Location", "value": format!("{ORIGIN}{path}") },
                        { "name": "Cache-Control", "value": "no-store" },
                    ],
                }),
            ),
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
                    let shown = url.strip_prefix(&format!("{ORIGIN}/")).unwrap_or(url);
                    let line = format!("memcheck: refused {shown}: {why}");
                    self.print(&format!("{line}\n"));
                    if script {
                        self.refused.push(line);
                    }
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
            self.browser.dispose_retired();
            self.browser.retire(std::mem::take(&mut self.context));
        }
    }
}

/// The bytes a sampling heap profile's tree holds (0 for no tree: the
/// answer to starting the profiler).
fn sampled_bytes(head: &Value) -> u64 {
    let mut bytes = 0;
    let mut pending = vec![head];
    while let Some(node) = pending.pop() {
        bytes += node["selfSize"].as_u64().unwrap_or(0);
        if let Some(children) = node["children"].as_array() {
            pending.extend(children);
        }
    }
    bytes
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_holds_the_sizes_of_its_whole_tree() {
        let head = json!({ "selfSize": 0, "children": [
            { "selfSize": 512, "children": [{ "selfSize": 1024, "children": [] }] },
            { "selfSize": 32, "children": [] },
        ]});
        assert_eq!(sampled_bytes(&head), 1568);
        assert_eq!(sampled_bytes(&Value::Null), 0);
    }
}
