//! Node's sandbox: every way out that Node's permission model leaves open
//! (the network, node:sqlite, signals to other processes) is refused by the
//! harness's guards by every route to it, a grant opens it, Deno denies the
//! same, and a signal a test sends the runner fails that test alone.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::*;

/// A copy of the node-sandbox fixture in a folder of its own (the tests
/// reach for `..`), `allow` set to `grants`.
fn sandbox(tag: &str, grants: &str) -> PathBuf {
    let outside = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("node-sandbox-{tag}"));
    let _ = std::fs::remove_dir_all(&outside);
    let dir = outside.join("project");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node-sandbox"),
        &dir,
    );
    std::fs::write(
        dir.join("memcheck.toml"),
        format!("[runtime]\nengine = \"node\"\ntimeout = 20000\nallow = [{grants}]\n"),
    )
    .unwrap();
    dir
}

/// Run memcheck with `args` (a filter among them), recording what passes;
/// the exit code, the text and the report.
fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, Value) {
    let mut all = vec!["--update", "--json", "r.json"];
    all.extend_from_slice(args);
    let out = memcheck(dir, &all);
    (
        out.status.code(),
        text(&out),
        read_json(&dir.join("r.json")),
    )
}

/// What the guards say when `api` is refused.
fn denial(what: &str, api: &str, grant: &str) -> String {
    format!(
        "the test threw: Error: memcheck: {what} ({api}) is not granted to tests; grant it in memcheck.toml: [runtime] allow = [\"{grant}\"]"
    )
}

fn assert_refused(report: &Value, test: &str, expected: &str) {
    let t = find(report, test);
    assert_eq!(t["status"], "failed", "{test}: {t}");
    let message = t["message"].as_str().unwrap();
    assert!(
        message.starts_with(expected),
        "{test}: expected {expected:?}, got:\n{message}"
    );
}

/// What the fixture's tests left next to the project (`outside.db` is the
/// integration test's own).
fn escaped(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "project" && n != "outside.db")
        .collect()
}

const CONNECT: &str = "opening a network connection";
const LISTEN: &str = "listening for network connections";

#[test]
fn node_refuses_the_network_by_every_route() {
    let dir = sandbox("net", "");
    let (code, t, report) = run(&dir, &["net.memtest.mjs::"]);
    assert_eq!(code, Some(101), "{t}");
    for (test, what, api) in [
        ("net.connect from a default import", CONNECT, "net.connect"),
        ("connect from a named import", CONNECT, "net.connect"),
        (
            "createConnection from a bare namespace import",
            CONNECT,
            "net.createConnection",
        ),
        ("net from a dynamic import", CONNECT, "net.connect"),
        ("net from createRequire", CONNECT, "net.connect"),
        ("net from process.getBuiltinModule", CONNECT, "net.connect"),
        ("a socket connects", CONNECT, "net.Socket.connect"),
        ("a Unix socket connects", CONNECT, "net.connect"),
        (
            "a socket of process.stdout's class connects",
            CONNECT,
            "net.Socket.connect",
        ),
        (
            "process.stdout's raw handle binds a Unix socket",
            LISTEN,
            // Named after the class: process.stdout and stderr share it.
            "Pipe.bind",
        ),
        ("a server listens", LISTEN, "net.Server.listen"),
        (
            "dgram sends a datagram",
            "opening a UDP socket",
            "dgram.createSocket",
        ),
        ("http.get", "making an HTTP request", "http.get"),
        ("fetch", "fetching over the network", "fetch"),
        ("WebSocket", "opening a WebSocket", "WebSocket"),
        ("dns.lookup", "resolving a host name", "dns.promises.lookup"),
    ] {
        assert_refused(&report, test, &denial(what, api, "net"));
    }
    // Node itself closes its internal bindings; the runner says so.
    assert_refused(
        &report,
        "process.binding reaches TCP",
        "Node's internal bindings (process.binding) are closed to tests by Node's permission model",
    );
    assert!(escaped(&dir).is_empty(), "{:?}", escaped(&dir));
}

#[test]
fn node_refuses_the_network_to_commonjs() {
    let dir = sandbox("require", "");
    let (code, t, report) = run(&dir, &["require.memtest.cjs::"]);
    assert_eq!(code, Some(101), "{t}");
    for (test, what, api, grant) in [
        ("net from require", CONNECT, "net.connect", "net"),
        (
            "http from require",
            "making an HTTP request",
            "http.request",
            "net",
        ),
        (
            "https from require",
            "making an HTTP request",
            "https.get",
            "net",
        ),
        ("tls from require", CONNECT, "tls.connect", "net"),
        ("http2 from require", CONNECT, "http2.connect", "net"),
        // http's Agent kept net's own createConnection: refused all the same.
        (
            "an http agent's own connection",
            CONNECT,
            "net.createConnection",
            "net",
        ),
        (
            "node:sqlite from require",
            "opening a SQLite database",
            "sqlite.DatabaseSync",
            "write",
        ),
    ] {
        assert_refused(&report, test, &denial(what, api, grant));
    }
    assert!(escaped(&dir).is_empty(), "{:?}", escaped(&dir));
}

#[test]
fn node_refuses_sqlite_outside_the_project() {
    let dir = sandbox("sqlite", "");
    // An empty file is an empty database.
    std::fs::write(dir.with_file_name("outside.db"), "").unwrap();
    let (code, t, report) = run(&dir, &["sqlite.memtest.mjs::"]);
    assert_eq!(code, Some(101), "{t}");
    let refused = denial("opening a SQLite database", "sqlite.DatabaseSync", "write");
    for test in [
        "opens a database outside the project",
        "attaches a database outside the project",
        "vacuums into a file outside the project",
        "reads a database outside the project",
        "node:sqlite from process.getBuiltinModule",
    ] {
        assert_refused(&report, test, &refused);
    }
    assert!(escaped(&dir).is_empty(), "{:?}", escaped(&dir));
}

#[test]
fn node_refuses_signals_to_other_processes() {
    let dir = sandbox("kill", "");
    let (code, t, report) = run(&dir, &["kill.memtest.mjs::"]);
    // The runner was not signalled: it reports every test.
    assert_eq!(code, Some(101), "{t}");
    let refused = |api| denial("sending a signal to another process", api, "run");
    assert_refused(
        &report,
        "sends SIGUSR1 to the runner",
        &refused("process.kill"),
    );
    assert_refused(
        &report,
        "sends SIGTERM to the runner",
        &refused("process.kill"),
    );
    assert_refused(
        &report,
        "signals the runner through process._kill",
        &refused("process._kill"),
    );
    assert_eq!(find(&report, "signals its own process")["status"], "passed");
}

#[test]
fn the_runner_survives_a_signal_from_a_test() {
    // `run` lets process.kill through: the runner is the backstop.
    let dir = sandbox("signalled", "\"run\"");
    let (code, t, report) = run(&dir, &["kill.memtest.mjs::"]);
    assert_eq!(code, Some(101), "{t}");
    for (test, signal) in [
        ("sends SIGUSR1 to the runner", "SIGUSR1"),
        ("sends SIGTERM to the runner", "SIGTERM"),
        ("signals the runner through process._kill", "SIGUSR2"),
    ] {
        assert_refused(
            &report,
            test,
            &format!("the test sent {signal} to the runner; its process group was killed"),
        );
    }
    assert_eq!(find(&report, "signals its own process")["status"], "passed");
    assert!(!t.contains("interrupted"), "{t}");
}

#[test]
fn a_net_grant_opens_the_network_on_node() {
    let dir = sandbox("closed", "");
    let (code, t, report) = run(&dir, &["granted.memtest.mjs::"]);
    assert_eq!(code, Some(101), "{t}");
    assert_refused(
        &report,
        "talks to its own server",
        &denial(LISTEN, "net.Server.listen", "net"),
    );
    let dir = sandbox("granted", "\"net=127.0.0.1\"");
    let (code, t, report) = run(&dir, &["granted.memtest.mjs::"]);
    assert_eq!(code, Some(0), "{t}");
    assert_eq!(find(&report, "talks to its own server")["status"], "passed");
}

#[test]
fn deno_denies_what_nodes_guards_refuse() {
    let dir = sandbox("deno", "");
    std::fs::write(dir.with_file_name("outside.db"), "").unwrap();
    let (code, t, report) = run(&dir, &["--engine", "deno", "--skip", "granted.memtest.mjs"]);
    assert_eq!(code, Some(101), "{t}");
    // Deno's own words, or (a socket class or handle Deno does not have) a
    // TypeError; never a connection attempt.
    for (file, test) in [
        ("net.memtest.mjs", "net.connect from a default import"),
        ("net.memtest.mjs", "net from process.getBuiltinModule"),
        ("net.memtest.mjs", "a server listens"),
        ("net.memtest.mjs", "dgram sends a datagram"),
        ("net.memtest.mjs", "http.get"),
        ("net.memtest.mjs", "WebSocket"),
        ("require.memtest.cjs", "net from require"),
        ("sqlite.memtest.mjs", "opens a database outside the project"),
        ("sqlite.memtest.mjs", "reads a database outside the project"),
        ("kill.memtest.mjs", "sends SIGUSR1 to the runner"),
        ("kill.memtest.mjs", "sends SIGTERM to the runner"),
    ] {
        let found = report["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["file"] == file && r["name"] == test)
            .unwrap_or_else(|| panic!("no {file}::{test}"));
        let message = found["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("NotCapable: Requires "),
            "{test}: {message}"
        );
    }
    for test in [
        "attaches a database outside the project",
        "vacuums into a file outside the project",
    ] {
        let message = find(&report, test)["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains("too many attached databases - max 0"),
            "{test}: {message}"
        );
    }
    assert_eq!(find(&report, "signals its own process")["status"], "passed");
    assert!(escaped(&dir).is_empty(), "{:?}", escaped(&dir));
}

/// `allow = ["write"]` on Deno grants every path, and `"write=…"` the paths
/// it names, beside the channel the harness writes (Deno keeps the paths of
/// every `--allow-write=…` and drops a bare `--allow-write` beside them).
#[test]
fn deno_write_grants_reach_past_the_harnesss_own() {
    let outside = Path::new(env!("CARGO_TARGET_TMPDIR")).join("deno-write-grants");
    let _ = std::fs::remove_dir_all(&outside);
    let dir = outside.join("project");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("write.memtest.js"),
        "import { test } from \"memcheck\";\n\
         test(\"writes next to the project\", () => { Deno.writeTextFileSync(\"../named.txt\", \"x\"); });\n\
         test(\"writes elsewhere\", () => { Deno.writeTextFileSync(\"../other.txt\", \"x\"); });\n",
    )
    .unwrap();
    let config = |allow: &str| {
        std::fs::write(
            dir.join("memcheck.toml"),
            format!("[runtime]\nengine = \"deno\"\nallow = [{allow}]\n"),
        )
        .unwrap();
    };
    config("\"write=../named.txt\"");
    let (_, t, report) = run(&dir, &[]);
    assert_eq!(
        find(&report, "writes next to the project")["status"],
        "passed",
        "{t}"
    );
    assert_eq!(find(&report, "writes elsewhere")["status"], "failed", "{t}");
    assert!(outside.join("named.txt").exists() && !outside.join("other.txt").exists());
    config("\"write\"");
    let (code, t, _) = run(&dir, &[]);
    assert_eq!(code, Some(0), "{t}");
    assert!(outside.join("other.txt").exists(), "{t}");
}
