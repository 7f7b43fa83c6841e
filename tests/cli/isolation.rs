//! `isolation = "file"` (the tests of a file in one process) gives the
//! figures of the default isolation, and a test that ends its process costs
//! only itself; `--timings` says where the time went.

use std::path::Path;

use serde_json::Value;

use crate::util::*;

/// Each test's status and blocks, without retainer paths and grown
/// objects: those name places in module state that earlier tests of the
/// file also filled (the figures do not change; which path holds the most
/// objects, or how much an array grew from what it held, may).
fn statuses_and_blocks(report: &Value) -> Vec<(String, String, Value)> {
    report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let mut blocks = t["blocks"].clone();
            for b in blocks.as_array_mut().unwrap() {
                let b = b.as_object_mut().unwrap();
                b.remove("retainers");
                b.remove("grown");
            }
            (
                t["name"].as_str().unwrap().to_owned(),
                t["status"].as_str().unwrap().to_owned(),
                blocks,
            )
        })
        .collect()
}

fn with_isolation(dir: &Path, isolation: &str) {
    let path = dir.join("memcheck.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = if text.contains("[runtime]") {
        text.replace(
            "[runtime]",
            &format!("[runtime]\nisolation = \"{isolation}\""),
        )
    } else {
        format!("{text}\n[runtime]\nisolation = \"{isolation}\"\n")
    };
    std::fs::write(path, text).unwrap();
}

#[test]
fn file_isolation_gives_the_figures_of_test_isolation() {
    let dir = project("pass", "isolation");
    let out = memcheck(&dir, &["--include-ignored", "--json", "test.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    with_isolation(&dir, "file");
    let out = memcheck(&dir, &["--include-ignored", "--json", "file.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (a, b) = (
        read_json(&dir.join("test.json")),
        read_json(&dir.join("file.json")),
    );
    assert_eq!(statuses_and_blocks(&a), statuses_and_blocks(&b));
}

#[test]
fn in_file_isolation_a_test_that_ends_its_process_costs_only_itself() {
    let dir = project("faults", "isolation");
    let out = memcheck(&dir, &["--test-threads", "2", "--json", "test.json"]);
    assert_eq!(out.status.code(), Some(101), "{}", text(&out));
    with_isolation(&dir, "file");
    let out = memcheck(&dir, &["--test-threads", "2", "--json", "file.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    let outcome = |path: &str| -> Vec<(String, String)> {
        statuses_and_blocks(&read_json(&dir.join(path)))
            .into_iter()
            .map(|(n, s, _)| (n, s))
            .collect()
    };
    assert_eq!(outcome("test.json"), outcome("file.json"));
    for expected in [
        "the test threw: RangeError: the widget is out of range",
        "timed out after 1500 ms",
        "the runtime ended with exit code 7",
        "the JavaScript heap reached its limit",
    ] {
        assert!(t.contains(expected), "missing {expected:?} in:\n{t}");
    }
}

#[test]
fn timings_say_where_the_time_went() {
    let dir = project("pass", "timings");
    let out = memcheck(&dir, &["--timings", "--json", "r.json", "keeps 1000"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let header = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("total"))
        .unwrap_or_else(|| panic!("no timings table in:\n{stdout}"));
    for phase in [
        "start", "load", "warmup", "snapshot", "transfer", "parse", "compare", "body", "judge",
        "explain",
    ] {
        assert!(header.contains(phase), "{header}");
    }
    assert!(
        stdout
            .lines()
            .any(|l| l.ends_with("widgets.memtest.js::keeps 1000 widgets")),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l.ends_with("(suite)")), "{stdout}");
    let report = read_json(&dir.join("r.json"));
    let timings = &find(&report, "keeps 1000 widgets")["timings"];
    // Four blocks: eight checkpoints of V8's work, and a whole that holds the parts.
    assert!(timings["snapshot"].as_f64().unwrap() > 0.0, "{timings}");
    assert!(
        timings["total"].as_f64().unwrap() >= timings["snapshot"].as_f64().unwrap(),
        "{timings}"
    );
}

/// (class, new, deleted)
type Row = (String, u64, u64);
/// (kind, name, rows)
type Entry = (String, String, Vec<Row>);

/// Each test's entries as (kind, name, [(class, new, deleted)]): counts, not
/// sizes (V8 trims a class's objects once it has made several, which earlier
/// tests of a file may have done).
fn step_counts(report: &Value) -> Vec<(String, Vec<Entry>)> {
    report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let blocks = t["blocks"].as_array().unwrap().iter();
            let entries = blocks
                .map(|b| {
                    let kind = b["kind"].as_str().unwrap_or("block").to_owned();
                    (kind, b["name"].as_str().unwrap().to_owned(), rows(b))
                })
                .collect();
            (t["name"].as_str().unwrap().to_owned(), entries)
        })
        .collect()
}

#[test]
fn in_file_isolation_each_test_has_its_own_chain_of_steps() {
    let dir = project("steps", "isolation");
    let args = ["todos.memtest.js::", "--json"];
    let out = memcheck_with(
        &dir,
        &[&args[..], &["test.json"]].concat(),
        &[("CI", "true")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    with_isolation(&dir, "file");
    let out = memcheck_with(
        &dir,
        &[&args[..], &["file.json"]].concat(),
        &[("CI", "true")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (a, b) = (
        step_counts(&read_json(&dir.join("test.json"))),
        step_counts(&read_json(&dir.join("file.json"))),
    );
    assert_eq!(a.len(), 4, "{a:?}");
    assert_eq!(a, b);
}

/// A timer one test leaves behind may end the process during the next
/// test: that test runs again on its own before it is judged.
#[test]
fn in_file_isolation_a_process_ended_by_an_earlier_test_costs_the_next_nothing() {
    let dir = project("pass", "timer");
    std::fs::write(
        dir.join("timer.memtest.js"),
        r#"import { test } from "memcheck";
class T {}
const keep = [];
test("leaves a timer that exits", async (t) => {
  await t.measure("m", () => { keep.push(new T()); });
  setTimeout(() => Deno.exit(7), 100);
});
test("is slow", async (t) => {
  await t.measure("m", async () => {
    await new Promise((r) => setTimeout(r, 500));
    keep.push(new T());
  });
});
"#,
    )
    .unwrap();
    with_isolation(&dir, "file");
    let out = memcheck(&dir, &["timer.memtest.js::", "--update"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert_eq!(outcome(&t, "timer.memtest.js::is slow"), Some("ok"), "{t}");
}

/// Each file starts once: the process that listed it runs its first test
/// (no runtime started for that test: its timings have no start or load),
/// and with `isolation = "file"` all of the file's tests; a second test of
/// a file has a process of its own in the default isolation, started ahead
/// while the first ran (see `spares`).
#[test]
fn the_process_that_lists_a_file_runs_its_first_test() {
    for engine in ["deno", "node"] {
        let dir = project("pass", &format!("parked-{engine}"));
        let args = ["--engine", engine, "--test-threads", "1", "--update"];
        let started = |report: &Value, test: &str| -> f64 {
            let timings = &find(report, test)["timings"];
            timings["start"].as_f64().unwrap() + timings["load"].as_f64().unwrap()
        };
        let out = memcheck(&dir, &[&args[..], &["--json", "test.json"]].concat());
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let report = read_json(&dir.join("test.json"));
        assert_eq!(started(&report, "typescript works"), 0.0, "{engine}");
        assert_eq!(started(&report, "keeps 1000 widgets"), 0.0, "{engine}");
        assert_eq!(started(&report, "whole body is one block"), 0.0, "{engine}");
        with_isolation(&dir, "file");
        let out = memcheck(&dir, &[&args[..], &["--json", "file.json"]].concat());
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let batch = read_json(&dir.join("file.json"));
        for test in ["keeps 1000 widgets", "whole body is one block"] {
            assert_eq!(started(&batch, test), 0.0, "{engine}: {test}");
        }
    }
}
