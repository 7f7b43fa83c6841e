//! `cargo memcheck watch` on `tests/fixtures/watch`: the real binary serves
//! its live page, headless Chromium (driven over CDP on a pipe) follows it,
//! and the tests save files and read the page's DOM, `/report.json`, the
//! terminal's lines and `__memcheck__`; hostile requests are refused; a
//! save during a run cancels it; SIGINT leaves no process and exits 0.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::os::fd::FromRawFd as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{BIN, processes_in, project, provision};

/// How long a run may take on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(120);

/// A running `cargo memcheck watch`, its terminal's lines, and its port.
struct Watch {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    port: u16,
    dir: PathBuf,
}

impl Watch {
    fn start(dir: &Path, args: &[&str]) -> Watch {
        provision();
        let mut child = Command::new(BIN)
            .args(["memcheck", "watch"])
            .args(args)
            .current_dir(dir)
            .env_remove("CI")
            .env("CARGO_TERM_COLOR", "never")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let mut watch = Watch {
            child,
            lines,
            port: 0,
            dir: dir.to_path_buf(),
        };
        let line = watch.wait_line("the live report is at http://127.0.0.1:");
        let port = line.rsplit(':').next().unwrap().trim_end_matches('/');
        watch.port = port.parse().unwrap();
        watch
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The first line that contains `needle`, once there is one.
    fn wait_line(&self, needle: &str) -> String {
        let found = wait(&format!("a line with {needle:?}"), || {
            let lines = self.lines.lock().unwrap();
            lines.iter().find(|l| l.contains(needle)).cloned()
        });
        found.unwrap_or_else(|| panic!("no line with {needle:?} in:\n{}", self.log()))
    }

    fn get(&self, path: &str) -> (u16, String) {
        let host = format!("127.0.0.1:{}", self.port);
        http(
            self.port,
            &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
    }

    fn report(&self) -> Value {
        let (status, body) = self.get("/report.json");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// SIGINT, then the exit code, and no process of the project left.
    fn interrupt(mut self) {
        // SAFETY: kill(2) on the child we started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "watch did not stop: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(status.code(), Some(0), "{}", self.log());
        let left = processes_in(&self.dir);
        assert!(left.is_empty(), "processes left: {left:?}\n{}", self.log());
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `f()` until it gives something, for at most PATIENCE.
fn wait<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("gave up waiting for {what}");
    None
}

/// One request as raw text (so that tests can send any Host); the status
/// and the body.
fn http(port: u16, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn post(port: u16, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| *k == "Host") {
        request.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    http(port, &request)
}

/// The names in a folder, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn test_of<'a>(report: &'a Value, name: &str) -> &'a Value {
    let tests = report["tests"].as_array().unwrap();
    tests
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

fn step_objects(report: &Value, test: &str, step: &str) -> Option<u64> {
    let blocks = test_of(report, test)["blocks"].as_array()?;
    blocks.iter().find(|b| b["name"] == step)?["retained_objects"].as_u64()
}

// ---- A browser over CDP ------------------------------------------------------

/// Headless Chromium, driven over `--remote-debugging-pipe`, with one page.
struct Browser {
    child: Child,
    to: std::fs::File,
    from: Receiver<Value>,
    next: u64,
    session: String,
}

impl Browser {
    fn open(url: &str) -> Browser {
        let chromium = std::env::var_os("MEMCHECK_CHROMIUM")
            .map_or_else(|| PathBuf::from("chromium"), PathBuf::from);
        let profile = tempfile::tempdir().unwrap().keep();
        let (mut to_browser, mut from_browser) = ([0; 2], [0; 2]);
        // SAFETY: pipe(2) fills the arrays.
        unsafe {
            assert_eq!(libc::pipe(to_browser.as_mut_ptr()), 0);
            assert_eq!(libc::pipe(from_browser.as_mut_ptr()), 0);
        }
        let (r, w) = (to_browser[0], from_browser[1]);
        let mut cmd = Command::new(chromium);
        cmd.args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--remote-debugging-pipe",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: only dup2(2) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .expect("the watch tests need Chromium (apt-get install -y chromium)");
        // SAFETY: the parent's ends, owned from here on; the child's closed.
        let (to, from) = unsafe {
            libc::close(r);
            libc::close(w);
            (
                std::fs::File::from_raw_fd(to_browser[1]),
                std::fs::File::from_raw_fd(from_browser[0]),
            )
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(from);
            let mut message = Vec::new();
            while reader.read_until(0, &mut message).is_ok_and(|n| n > 0) {
                message.pop();
                if let Ok(v) = serde_json::from_slice(&message) {
                    let _ = tx.send(v);
                }
                message.clear();
            }
        });
        let mut browser = Browser {
            child,
            to,
            from: rx,
            next: 0,
            session: String::new(),
        };
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 900, "height": 400, "deviceScaleFactor": 1, "mobile": false }),
        );
        browser.call("Page.navigate", json!({ "url": url }));
        browser
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        loop {
            let reply = self
                .from
                .recv_timeout(Duration::from_secs(30))
                .expect("Chromium answers");
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression in the page.
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        r["result"]["value"].clone()
    }

    /// Wait until the expression is truthy in the page.
    fn until(&mut self, expression: &str) {
        let found = wait(expression, || {
            let v = self.eval(&format!("Boolean({expression})"));
            (v == json!(true)).then_some(())
        });
        if found.is_none() {
            let root = self.eval("document.documentElement.outerHTML.slice(0, 3000)");
            panic!("never true in the page: {expression}\n{root}");
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of the selected step's card.
const SELECTED_STEP: &str =
    r#"(document.querySelector('.step-card[aria-selected="true"] .step-name') || {}).textContent"#;

#[test]
fn the_live_page_follows_saves_in_place_and_accepts_a_baseline() {
    let dir = project("watch", "live");
    let watch = Watch::start(&dir, &[]);
    watch.wait_line("memcheck: run 1 (all tests): FAILED. 1 passed, 1 failed");
    let first = watch.report();
    let more = step_objects(&first, "list fills", "more").unwrap();
    assert!(more > 0, "{first}");
    let other_before = test_of(&first, "other keeps nothing").clone();

    let mut page = Browser::open(&format!("http://127.0.0.1:{}/", watch.port));
    page.until(r#"document.documentElement.dataset.ready === "true" && document.documentElement.dataset.run === "1""#);
    page.eval("window.kept = 'this page was never reloaded'");
    // Select the list test's step "more", and scroll down.
    page.eval(r#"[...document.querySelectorAll(".test-item")].find((b) => b.textContent.includes("list fills")).click()"#);
    page.eval(r#"[...document.querySelectorAll(".step-card")].find((b) => b.textContent.includes("more")).click()"#);
    assert_eq!(page.eval(SELECTED_STEP), json!("more"));
    page.eval("window.scrollTo(0, 120)");
    let scrolled = page.eval("scrollY");
    assert!(
        scrolled.as_f64().unwrap() > 0.0,
        "the page does not scroll: {scrolled}"
    );
    let kept = format!("kept {more} objects");
    page.until(&format!("document.querySelector('.step-card[aria-selected=\"true\"]').textContent.includes({kept:?})"));

    // Edit the test file: the step keeps twice the items.
    let test_file = dir.join("list.memtest.js");
    let source = std::fs::read_to_string(&test_file).unwrap();
    std::fs::write(
        &test_file,
        source.replace(
            "  fill(list);\n  await t.checkpoint(\"more\");",
            "  fill(list);\n  fill(list);\n  await t.checkpoint(\"more\");",
        ),
    )
    .unwrap();
    watch.wait_line("memcheck: run 2 (list.memtest.js): FAILED. 0 passed, 1 failed");
    let second = watch.report();
    let doubled = step_objects(&second, "list fills", "more").unwrap();
    assert!(doubled > more, "{more} → {doubled}");
    page.until(&format!(
        "document.querySelector('.step-card[aria-selected=\"true\"]').textContent.includes('kept {doubled} objects')"
    ));
    // Redrawn in place: the same document, the same step, the same scroll,
    // the step marked as grown, and the bar names the file saved.
    assert_eq!(
        page.eval("window.kept"),
        json!("this page was never reloaded")
    );
    assert_eq!(page.eval(SELECTED_STEP), json!("more"));
    assert_eq!(page.eval("scrollY"), scrolled);
    page.until(r#"document.querySelector('.step-card[aria-selected="true"] [data-change="up"]')"#);
    page.until(
        r#"document.getElementById("live").textContent.includes("triggered by list.memtest.js")"#,
    );
    page.until(r#"/took \d+\.\d\d s/.test(document.getElementById("live").textContent)"#);

    // Edit the module the test imports: only that test file runs again.
    let module = dir.join("lib/list.js");
    let code = std::fs::read_to_string(&module).unwrap();
    std::fs::write(&module, code.replace("i < 10", "i < 15")).unwrap();
    watch.wait_line("memcheck: run 3 (lib/list.js): FAILED. 0 passed, 1 failed");
    let third = watch.report();
    assert!(
        step_objects(&third, "list fills", "fill").unwrap()
            > step_objects(&second, "list fills", "fill").unwrap()
    );
    assert_eq!(
        test_of(&third, "other keeps nothing"),
        &other_before,
        "other.memtest.js ran again"
    );
    page.until(r#"document.documentElement.dataset.run === "3""#);

    // A load error shows in the page with its place, and the next save clears it.
    std::fs::write(
        &test_file,
        "import { test } from \"memcheck\";\ntest(\"list fills\", async (t) => {\n",
    )
    .unwrap();
    watch.wait_line("memcheck: run 4 (list.memtest.js): FAILED");
    let load = r#"[...document.querySelectorAll(".test-item")].find((b) => b.textContent.includes("(load)"))"#;
    page.until(&format!(
        "document.documentElement.dataset.run === \"4\" && {load}"
    ));
    page.eval(&format!("{load}.click()"));
    page.until(
        r#"document.querySelector(".message pre").textContent.includes("list.memtest.js:2")"#,
    );
    std::fs::write(&test_file, &source).unwrap();
    watch.wait_line("memcheck: run 5 (list.memtest.js): FAILED. 0 passed, 1 failed");
    page.until(&format!(
        "document.documentElement.dataset.run === \"5\" && !{load}"
    ));

    // Nothing was written until Accept; Accept writes this test's baseline,
    // and the file runs again against it.
    let baselines = dir.join("__memcheck__");
    assert_eq!(listing(&baselines), ["other.memtest.js.toml"]);
    page.eval(r#"[...document.querySelectorAll(".test-item")].find((b) => b.textContent.includes("list fills")).click()"#);
    page.until(r#"document.querySelector('[data-action="accept"]')"#);
    page.eval(r#"document.querySelector('[data-action="accept"]').click()"#);
    page.until(r#"(document.getElementById("live-note") || {}).textContent?.includes("accepted list.memtest.js::list fills")"#);
    assert_eq!(
        listing(&baselines),
        ["list.memtest.js.toml", "other.memtest.js.toml"]
    );
    let written = std::fs::read_to_string(baselines.join("list.memtest.js.toml")).unwrap();
    assert!(
        written.contains(r#"[tests."list fills"."more"]"#),
        "{written}"
    );
    watch.wait_line("memcheck: run 6 (Accept (list.memtest.js)): ok. 1 passed");
    page.until(r#"document.documentElement.dataset.run === "6" && !document.querySelector('[data-action="accept"]') && !document.querySelector(".test-item .status.failed")"#);
    assert_eq!(
        page.eval("window.kept"),
        json!("this page was never reloaded")
    );
    drop(page);
    watch.interrupt();
}

#[test]
fn hostile_requests_are_refused() {
    let dir = project("watch", "hostile");
    let watch = Watch::start(&dir, &["list.memtest.js"]);
    watch.wait_line("memcheck: run 1 (all tests): FAILED. 0 passed, 1 failed");
    let port = watch.port;
    let (status, page) = watch.get("/");
    assert_eq!(status, 200);
    let token = page
        .split(r#"{"token":""#)
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("the page holds the token")
        .to_owned();
    let body = r#"{"test":"list.memtest.js::list fills"}"#;
    // DNS rebinding: another name for the loopback, or no Host at all.
    for host in [
        "evil.example",
        "evil.example:80",
        &format!("127.0.0.1.evil.example:{port}"),
        &format!("127.0.0.1:{}", port + 1),
    ] {
        let (status, _) = http(
            port,
            &format!("GET /report.json HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(status, 403, "Host {host}");
        let (status, _) = post(
            port,
            "/accept",
            &[("Host", host), ("X-Memcheck-Token", &token)],
            body,
        );
        assert_eq!(status, 403, "Host {host}");
    }
    let (status, _) = http(port, "GET / HTTP/1.0\r\n\r\n");
    assert_eq!(status, 403, "no Host");
    // localhost by name is this server too.
    let (status, _) = http(
        port,
        &format!(
            "GET /report.json HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 200);
    // Writes: no token, a wrong one, another site's page with the right one.
    let (status, _) = post(port, "/accept", &[], body);
    assert_eq!(status, 403);
    let (status, _) = post(
        port,
        "/reject",
        &[("X-Memcheck-Token", "0".repeat(32).as_str())],
        body,
    );
    assert_eq!(status, 403);
    let (status, _) = post(
        port,
        "/accept",
        &[
            ("X-Memcheck-Token", &token),
            ("Origin", "http://evil.example"),
        ],
        body,
    );
    assert_eq!(status, 403);
    let (status, _) = post(
        port,
        "/accept",
        &[("X-Memcheck-Token", &token), ("Origin", "null")],
        body,
    );
    assert_eq!(status, 403);
    // A write is a POST.
    let (status, _) = watch.get("/accept");
    assert_eq!(status, 405);
    // No file is served by its path.
    for path in [
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2fetc%2fpasswd",
        "//etc/passwd",
        "/other.memtest.js",
        "/memcheck.toml",
        "/report.json/../memcheck.toml",
    ] {
        let (status, body) = watch.get(path);
        assert_eq!(status, 404, "{path}: {body}");
        assert!(
            !body.contains("root:") && !body.contains("memcheck"),
            "{path}: {body}"
        );
    }
    assert_eq!(
        listing(&dir.join("__memcheck__")),
        ["other.memtest.js.toml"]
    );
    // The right token from this server's page: the one write that counts.
    let origin = format!("http://127.0.0.1:{port}");
    let (status, text) = post(
        port,
        "/accept",
        &[("X-Memcheck-Token", &token), ("Origin", &origin)],
        body,
    );
    assert_eq!(status, 200, "{text}");
    assert!(dir.join("__memcheck__/list.memtest.js.toml").is_file());
    let (status, _) = post(port, "/accept", &[("X-Memcheck-Token", &token)], body);
    assert_eq!(status, 404, "accepted twice");
    watch.interrupt();
}

#[test]
fn a_save_during_a_run_cancels_it_and_runs_again() {
    let dir = project("watch", "cancel");
    let slow = dir.join("slow.memtest.js");
    let source = "import { test } from \"memcheck\";\n\ntest(\"slow\", async (t) => {\n  await t.measure(\"wait\", () => new Promise((r) => setTimeout(r, 4000)));\n});\n";
    std::fs::write(&slow, source).unwrap();
    let watch = Watch::start(&dir, &["slow.memtest.js"]);
    // A process runs the file: save it while it does.
    let running = wait("a process of slow.memtest.js", || {
        let found = processes_in(&dir);
        (!found.is_empty()).then_some(found)
    })
    .expect("the run started a process");
    std::fs::write(&slow, source.replace("4000", "3000")).unwrap();
    watch.wait_line("memcheck: run 2 (slow.memtest.js): FAILED. 0 passed, 1 failed");
    let log = watch.log();
    assert!(
        !log.contains("memcheck: run 1 "),
        "the first run was not cancelled:\n{log}"
    );
    for (pid, cmd) in &running {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "still running: {pid} {cmd}"
        );
    }
    watch.interrupt();
}

#[test]
fn q_and_enter_stop_it_with_no_process_left() {
    let dir = project("watch", "quit");
    let mut watch = Watch::start(&dir, &[]);
    // At once, while the first run is under way.
    watch
        .child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"q\n")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = watch.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "q did not stop it: {}",
            watch.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{}", watch.log());
    let left = processes_in(&dir);
    assert!(left.is_empty(), "processes left: {left:?}");
}

/// The events of `/events` as they come, (name, data), on a thread.
fn events(port: u16) -> Receiver<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let request = format!("GET /events HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut name, mut data) = (String::new(), String::new());
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("event: ") {
                name = n.to_owned();
            } else if let Some(d) = line.strip_prefix("data: ") {
                data.push_str(d);
            } else if line.is_empty()
                && !name.is_empty()
                && tx
                    .send((std::mem::take(&mut name), std::mem::take(&mut data)))
                    .is_err()
            {
                return;
            }
        }
    });
    rx
}

/// The next status event that satisfies `f`.
fn status_where(rx: &Receiver<(String, String)>, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (name, data) = rx.recv_timeout(left).expect("the status event came");
        if name == "status" {
            let status: Value = serde_json::from_str(&data).unwrap();
            if f(&status) {
                return status;
            }
        }
    }
}

#[test]
fn a_broken_memcheck_toml_shows_on_the_stream_until_it_is_fixed() {
    let dir = project("watch", "config");
    let watch = Watch::start(&dir, &["other.memtest.js"]);
    watch.wait_line("memcheck: run 1 (all tests): ok. 1 passed");
    let stream = events(watch.port);
    let config = dir.join("memcheck.toml");
    std::fs::write(&config, "[tolerance]\nobjects = \"many\"\n").unwrap();
    let broken = status_where(&stream, |s| s["error"].is_string());
    let error = broken["error"].as_str().unwrap();
    assert!(error.contains("memcheck.toml:2"), "{error}");
    watch.wait_line("memcheck: error: ");
    std::fs::write(&config, "[tolerance]\nobjects = 0\n").unwrap();
    let fixed = status_where(&stream, |s| {
        s["run"] == 2 && !s["running"].as_bool().unwrap()
    });
    assert!(fixed["error"].is_null(), "{fixed}");
    assert_eq!(fixed["last_triggers"], json!(["memcheck.toml"]));
    watch.wait_line("memcheck: run 2 (memcheck.toml): ok. 1 passed");
    watch.interrupt();
}
