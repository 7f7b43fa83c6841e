//! Node.js as a second engine: the main fixtures give the same exact
//! counts on Node, faults fail alone, a Node project loads its CommonJS
//! dependencies, and a suite can run on both engines with a baseline file
//! per engine.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::*;

fn blocks_of(report: &Value) -> Value {
    Value::Array(
        report["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["blocks"].clone())
            .collect(),
    )
}

fn run_json(dir: &Path, args: &[&str], path: &str) -> (Option<i32>, String, Value) {
    let mut all = args.to_vec();
    all.extend(["--json", path]);
    let out = memcheck(dir, &all);
    (out.status.code(), text(&out), read_json(&dir.join(path)))
}

#[test]
fn the_main_fixture_counts_exactly_on_node_run_after_run() {
    let dir = project("pass", "node");
    let out = memcheck(&dir, &["--engine", "node", "--update", "--include-ignored"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let baseline =
        std::fs::read_to_string(dir.join("__memcheck__/widgets.memtest.js.node.toml")).unwrap();
    assert!(
        baseline.contains("runtime = \"node 24.21.0\""),
        "{baseline}"
    );
    assert!(
        baseline.contains("# Note: recorded on Node, whose permission model leaves links out of the project open and has no network switch (memcheck's harness refuses the network instead)."),
        "{baseline}"
    );

    let mut runs = Vec::new();
    for i in 0..3 {
        let (code, t, report) = run_json(
            &dir,
            &["--engine", "node", "--include-ignored"],
            &format!("r{i}.json"),
        );
        assert_eq!(code, Some(0), "{t}");
        runs.push(report);
    }
    let report = &runs[0];
    assert_eq!(report["runtime"]["name"], "node");
    let widgets = find(report, "keeps 1000 widgets");
    assert_eq!(widgets["engine"], "node");
    assert_eq!(block(widgets, "empty")["retained_objects"], 0);
    assert_eq!(
        news(block(widgets, "allocate")),
        [("Widget".to_owned(), 1000)]
    );
    assert_eq!(block(widgets, "async garbage")["retained_objects"], 0);
    assert_eq!(block(widgets, "logging")["retained_objects"], 0);
    // V8 13.6 records no edge for small-integer properties, so these plain
    // objects are `Object` on Node, as DevTools names them there.
    let whole = find(report, "whole body is one block");
    assert_eq!(
        news(block(whole, "whole body is one block")),
        [("Object".to_owned(), 10)]
    );
    let ts = find(report, "typescript works");
    assert_eq!(block(ts, "points")["retained_objects"], 200);
    // Five runs in all (update included) gave the same figures.
    assert_eq!(blocks_of(&runs[0]), blocks_of(&runs[1]));
    assert_eq!(blocks_of(&runs[1]), blocks_of(&runs[2]));
}

#[test]
fn a_leak_on_node_fails_with_the_diff() {
    let dir = project("leak", "node");
    std::fs::remove_dir_all(dir.join("__memcheck__")).unwrap();
    let out = memcheck(&dir, &["--engine", "node", "--update"]);
    let t = text(&out);
    assert_eq!(
        out.status.code(),
        Some(101),
        "the over-budget test fails: {t}"
    );
    assert!(t.contains("budget: CacheEntry new 50 > 10"), "{t}");
    let out = memcheck(&dir, &["--engine", "node", "cache stays"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let file = dir.join("cache.memtest.js");
    let source = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        source.replace("const LIMIT = 150;", "const LIMIT = 180;"),
    )
    .unwrap();
    let out = memcheck(&dir, &["--engine", "node", "cache stays"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(
        t.contains("CacheEntry new: 180 > baseline 150 (tolerance 0)"),
        "{t}"
    );
    assert!(
        t.contains("baseline __memcheck__/cache.memtest.js.node.toml:"),
        "{t}"
    );
    assert!(
        t.contains("CacheEntry ×180: (anonymous) (cache.memtest.js:"),
        "allocation sites on Node:\n{t}"
    );
}

#[test]
fn faults_fail_alone_on_node() {
    let dir = project("node-faults", "all");
    let out = memcheck(&dir, &["--test-threads", "2"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    for expected in [
        "the test threw: RangeError: the widget is out of range\n    at Object.fn (faults.memtest.js:7:9)",
        "the test threw: Error: rejected inside a block",
        "timed out after 1500 ms",
        "the runtime ended with exit code 7 before the test finished",
        "writing files is not granted to tests; grant it in memcheck.toml: [runtime] allow = [\"write=written.txt\"]",
        "starting a child process is not granted to tests; grant it in memcheck.toml: [runtime] allow = [\"run\"]",
        "the JavaScript heap reached its limit",
        "block \"insert\" was started but the test returned before it finished",
        "syntax.memtest.js failed to load: SyntaxError: Unexpected token ';'\n    at syntax.memtest.js:4:13",
        "pending.memtest.js did not finish loading: a top-level `await` in it (or in a module it imports) never settled",
        "Node runs TypeScript by stripping types only: an enum, a namespace or parameter properties need transforming; add node_flags = [\"--experimental-transform-types\"]",
    ] {
        assert!(t.contains(expected), "missing {expected:?} in:\n{t}");
    }
    assert!(!dir.join("written.txt").exists(), "the write was denied");
    assert!(!t.contains("node:internal"), "runtime frames shown:\n{t}");
    // The one sound test only lacks a baseline.
    assert!(t.contains("record it: cargo memcheck --update --exact 'faults.memtest.js::passes beside the faults'"), "{t}");
}

#[test]
fn a_node_project_loads_node_apis_and_commonjs_packages() {
    let dir = project("node-only", "events");
    let out = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = memcheck(&dir, &["--update"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (code, t, report) = run_json(&dir, &[], "r.json");
    assert_eq!(code, Some(0), "{t}");
    assert_eq!(
        block(
            find(&report, "finished uploads are released"),
            "ten uploads"
        )["retained_objects"],
        0
    );
    assert_eq!(
        news(block(
            find(&report, "open uploads keep their chunks"),
            "one open upload"
        )),
        [
            ("Array".to_owned(), 1),
            ("ArrayBuffer".to_owned(), 25),
            ("Buffer".to_owned(), 25),
            ("Chunk".to_owned(), 25)
        ]
    );
    let file = dir.join("src/uploads.js");
    let source = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, source.replace("    this.open.delete(id);\n", "")).unwrap();
    let out = memcheck(&dir, &["finished"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(
        t.contains("Chunk new: 40 > baseline 0 (tolerance 0)"),
        "{t}"
    );
}

#[test]
fn both_engines_run_every_test_with_a_baseline_file_each() {
    let dir = project("pass", "both");
    std::fs::write(
        dir.join("memcheck.toml"),
        "[runtime]\nengines = [\"deno\", \"node\"]\n",
    )
    .unwrap();
    let out = memcheck(&dir, &["--list"]);
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    for name in [
        "deno:widgets.memtest.js::keeps 1000 widgets: test",
        "node:widgets.memtest.js::keeps 1000 widgets: test",
    ] {
        assert!(listing.contains(name), "{listing}");
    }
    // Deno's committed baselines pass; Node has none yet, and Deno's are
    // never compared on Node.
    let deno_baseline =
        std::fs::read_to_string(dir.join("__memcheck__/widgets.memtest.js.toml")).unwrap();
    let out = memcheck(&dir, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert_eq!(
        outcome(&t, "deno:widgets.memtest.js::keeps 1000 widgets"),
        Some("ok"),
        "{t}"
    );
    assert!(t.contains("no baseline for this block; record it: cargo memcheck --update --exact 'node:widgets.memtest.js::keeps 1000 widgets'"), "{t}");

    let out = memcheck(&dir, &["--update", "node:"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        dir.join("__memcheck__/widgets.memtest.js.node.toml")
            .is_file()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("__memcheck__/widgets.memtest.js.toml")).unwrap(),
        deno_baseline
    );
    let (code, t, report) = run_json(&dir, &["--junit", "j.xml"], "r.json");
    assert_eq!(code, Some(0), "{t}");
    // JUnit: a suite per file on each engine, each test once.
    let junit = std::fs::read_to_string(dir.join("j.xml")).unwrap();
    for suite in ["deno:widgets.memtest.js", "node:widgets.memtest.js"] {
        let open = format!("<testsuite name=\"{suite}\"");
        assert_eq!(junit.matches(&open).count(), 1, "{junit}");
    }
    assert_eq!(
        junit.matches("<testcase ").count(),
        report["tests"].as_array().unwrap().len(),
        "{junit}"
    );
    let runtimes: Vec<&str> = report["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(runtimes, ["deno", "node"]);
    let engines: Vec<&str> = report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == "keeps 1000 widgets")
        .map(|t| t["engine"].as_str().unwrap())
        .collect();
    assert_eq!(engines, ["deno", "node"]);
}

/// A package as `npm init` makes it now (`"type": "commonjs"`): a `.js` test
/// file that imports loads as an ES module, as Deno would load it, one that
/// requires as CommonJS, and the paths of what CommonJS code keeps start
/// where Node holds it, not in memcheck's harness.
#[test]
fn a_commonjs_package_runs_js_test_files_that_import_or_require() {
    let dir = project("node-commonjs", "js");
    let out = memcheck(&dir, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(!t.contains("Cannot use import statement"), "{t}");
    // A CommonJS test file's place is named as an ES module's is.
    assert!(
        t.contains("is `await t.measure(...)` missing? (legacy.memtest.js:4)"),
        "{t}"
    );
    assert!(t.contains("budget: 100 retained objects > 0"), "{t}");
    assert!(
        t.contains(
            "Function Module ._cache → Object .src/registry.js → Module .exports → Object .handlers → Array [i] → Handler\n"
        ),
        "{t}"
    );
    assert!(
        !t.contains("harness-"),
        "a path starts in the harness:\n{t}"
    );
    // A `#!` line, and a top-level `__dirname` (which only CommonJS
    // refuses), leave an ES module one.
    assert!(
        t.contains("record it: cargo memcheck --update --exact 'shebang.memtest.js::a shebang and __dirname'"),
        "{t}"
    );
    // The guards patch what is loaded before the test (net, for stderr on
    // a pipe) then, not at a block's first look at process.stderr.
    let stderr = t
        .split("---- stderr.memtest.js::a first read of process.stderr keeps nothing ----")
        .nth(1)
        .and_then(|rest| rest.split("\n---- ").next())
        .unwrap_or_else(|| panic!("no stderr test in:\n{t}"));
    assert!(stderr.contains("retained: 0 objects, 0 B"), "{stderr}");
    assert!(!stderr.contains("budget:"), "{stderr}");
    // A folder whose name holds parentheses is named whole.
    assert!(
        t.contains("is `await t.measure(...)` missing? (tools (old)/legacy.memtest.js:4)"),
        "{t}"
    );
}
