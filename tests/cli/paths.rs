//! Paths that explain growth (`tests/fixtures/paths`, on Deno and Node):
//! the largest group of paths names the leak, not what the runtime made on
//! first use; a WeakMap entry reads in words, without snapshot ids; a
//! dictionary that grew in place is named with both sizes; and the text is
//! the same run after run.

use std::path::Path;

use serde_json::{Value, json};

use crate::util::*;

const ENGINES: [&str; 2] = ["deno", "node"];

/// Run the fixture's tests that `filter` selects, on both engines, with
/// `--json`: they fail; the report.
fn run(dir: &Path, filter: &str, json: &str) -> Value {
    let out = memcheck(dir, &[filter, "--json", json]);
    assert_eq!(out.status.code(), Some(101), "{}", text(&out));
    read_json(&dir.join(json))
}

/// The test `name` as `engine` ran it.
fn on<'a>(report: &'a Value, engine: &str, name: &str) -> &'a Value {
    report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name && t["engine"] == engine)
        .unwrap_or_else(|| panic!("no {engine} test {name} in {report}"))
}

/// Whether `text` holds a V8 snapshot id (`@` and a digit).
fn has_id(text: &str) -> bool {
    text.as_bytes()
        .windows(2)
        .any(|w| w[0] == b'@' && w[1].is_ascii_digit())
}

#[test]
fn the_largest_group_of_paths_names_the_leak_not_what_first_use_made() {
    let dir = project("paths", "mixed");
    let report = run(&dir, "mixed.memtest.js", "r.json");
    let path = "(module mixed.memtest.js) ::loggers → Array [i] → Function log";
    for engine in ENGINES {
        let test = on(
            &report,
            engine,
            "loggers are kept beside what their first use made",
        );
        let message = test["message"].as_str().unwrap();
        // The stream's closures are closer to a root (the path shown before
        // was `(global) .stderr → Stream ._hook0 → Function`), but each is
        // a group of one: under 10 % of the class, not shown.
        assert!(
            message.contains(&format!(
                "  kept alive by (paths from a GC root, grouped by shape; [i] is any index):\n    Function ×2000 of 2015: {path}\n"
            )),
            "{engine}: {message}"
        );
        assert!(!message.contains(".stderr"), "{engine}: {message}");
        let functions: Vec<&Value> = block(test, "make 2000 loggers")["retainers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["constructor"] == "Function")
            .collect();
        assert_eq!(
            functions,
            [&json!({ "constructor": "Function", "path": path, "count": 2000, "total": 2015 })],
            "{engine}"
        );
    }
}

/// Objects kept by an imported module read from that module, whether its
/// array is exported (V8 keeps exports in cells of the module record) or
/// private to it (its scope, which Node reaches only through the record).
#[test]
fn what_an_imported_module_keeps_reads_from_that_module() {
    let dir = project("paths", "imported");
    let report = run(&dir, "imported.memtest.js", "r.json");
    for (name, path) in [
        (
            "kept in an imported module's exported array",
            "(module src/keep.js) (export) → Array [i] → Widget",
        ),
        (
            "kept in an imported module's private array",
            "(module src/keep.js) ::internal → Array [i] → Widget",
        ),
    ] {
        for engine in ENGINES {
            let b = block(on(&report, engine, name), "keep 3");
            assert_eq!(b["retainers"][0]["path"], path, "{engine}: {name}");
        }
    }
}

#[test]
fn a_weak_map_entry_reads_in_words_without_snapshot_ids() {
    let dir = project("paths", "weakmap");
    let report = run(&dir, "weakmap.memtest.js", "r.json");
    let path = "(module weakmap.memtest.js) ::meta → WeakMap key Object → value Map";
    for engine in ENGINES {
        let test = on(&report, engine, "metadata kept through a WeakMap");
        let message = test["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("    Map ×100: {path}\n")),
            "{engine}: {message}"
        );
        assert!(!has_id(message), "{engine}: {message}");
        let b = block(test, "tag 100 keys");
        for r in b["retainers"].as_array().unwrap() {
            let p = r["path"].as_str().unwrap();
            assert!(!has_id(p), "{engine}: {p}");
            assert!(!p.contains("part of key"), "{engine}: {p}");
        }
        assert_eq!(b["retainers"][0]["path"], path, "{engine}");
    }
}

#[test]
fn an_object_that_grew_in_place_is_named_with_both_sizes() {
    let dir = project("paths", "grown");
    let report = run(&dir, "grown.memtest.js", "r.json");
    let name = "an emitter keeps an empty array per event name";
    let path = "(module grown.memtest.js) ::emitter → Emitter ._callbacks → Object";
    let line = format!("Object grew 56 B → 48.09 KiB: {path}\n");
    for engine in ENGINES {
        let test = on(&report, engine, name);
        let message = test["message"].as_str().unwrap();
        // A failure on retained bytes says where the bytes went.
        assert!(
            message.contains("budget: retained 61.72 KiB (63200 B) > 16.00 KiB (16384 B)"),
            "{engine}: {message}"
        );
        assert!(
            message.contains(&format!(
                "  grew in place (alive before and after; with the backing stores it alone owns):\n    {line}"
            )),
            "{engine}: {message}"
        );
        let b = block(test, "1000 events on and off");
        assert_eq!(
            b["grown"],
            json!([{ "constructor": "Object", "path": path, "before": 56, "after": 49240 }]),
            "{engine}"
        );
        // An explanation, not a figure: the rows and totals are the
        // Comparison's, with no row for the dictionary.
        assert_eq!(
            rows(b),
            [
                ("Array".to_owned(), 1000, 0),
                ("(string)".to_owned(), 1000, 0)
            ],
            "{engine}"
        );
        assert_eq!(b["retained_bytes"], 63200, "{engine}");
    }

    // Passing, the block shows it with --show-output.
    let file = dir.join("grown.memtest.js");
    let source = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        source.replace(r#"{ budget: { retained: "16 KiB" } }"#, "{}"),
    )
    .unwrap();
    let out = memcheck(&dir, &["grown.memtest.js", "--update", "--show-output"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let shown = t.split_once("\nsuccesses:\n").map_or("", |(_, s)| s);
    assert_eq!(shown.matches(&line).count(), 2, "{t}");
}

#[test]
fn path_text_is_the_same_run_after_run() {
    let dir = project("paths", "again");
    let messages = |json: &str| -> Vec<(String, String, String)> {
        let report = run(&dir, "memtest", json);
        let mut all: Vec<(String, String, String)> = report["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let s = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
                (s("engine"), s("name"), s("message"))
            })
            .collect();
        all.sort();
        all
    };
    let first = messages("r0.json");
    assert_eq!(first.len(), 10, "{first:?}");
    assert_eq!(messages("r1.json"), first);
}
