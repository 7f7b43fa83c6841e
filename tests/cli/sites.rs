//! Allocation sites: one allocation is one site even when V8 inlines the
//! function that made it, runtime frames are marked, `warmup` leaves
//! first-use objects out, and real packages' fixed leaks fail on their
//! leaky versions only, explained by the structure that leaked.

use serde_json::Value;

use crate::util::*;

/// The test `name` of `engine` in a JSON report.
fn on<'a>(report: &'a Value, engine: &str, name: &str) -> &'a Value {
    report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["engine"] == engine && t["name"] == name)
        .unwrap_or_else(|| panic!("no {engine} test {name} in {report}"))
}

/// A block's allocation sites of `class`, as (count, first frame).
fn sites_of(block: &Value, class: &str) -> Vec<(u64, String)> {
    block["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["constructor"] == class)
        .map(|s| {
            let top = s["stack"][0].as_str().unwrap_or("").to_owned();
            (s["count"].as_u64().unwrap(), top)
        })
        .collect()
}

#[test]
fn an_inlined_allocation_is_one_site_and_tracking_keeps_the_figures() {
    let dir = project("sites", "inline");
    let out = memcheck(&dir, &["inline.memtest.js", "--json", "r.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    let report = read_json(&dir.join("r.json"));
    for engine in ["deno", "node"] {
        // `make` is inlined into `keep` once the loop is hot: the re-run
        // that tracks allocations keeps its frame.
        let hot = block(on(&report, engine, "hot loop"), "3k items");
        let sites = sites_of(hot, "Item");
        assert_eq!(sites.len(), 1, "{engine}: {sites:?}\n{t}");
        assert_eq!(sites[0].0, 3000, "{engine}: {sites:?}");
        assert!(
            sites[0].1.starts_with("make (inline.memtest.js:12:"),
            "{engine}: {sites:?}"
        );
        // Every run of a repeat block keeps its stacks, all of them `on`'s.
        let repeated = block(on(&report, engine, "repeat hot"), "300 names");
        for class in ["Array", "(string)"] {
            let sites = sites_of(repeated, class);
            assert_eq!(sites.len(), 1, "{engine} {class}: {sites:?}\n{t}");
            assert_eq!(sites[0].0, 1500, "{engine} {class}: {sites:?}");
            assert!(
                sites[0].1.starts_with("on (inline.memtest.js:28:"),
                "{engine} {class}: {sites:?}"
            );
        }
    }

    // The flags of the tracked run change where objects are charged, never
    // which are alive: a run tracked throughout has the same rows.
    let out = memcheck(
        &dir,
        &[
            "inline.memtest.js",
            "--trace-allocations",
            "--json",
            "t.json",
        ],
    );
    assert_eq!(out.status.code(), Some(101), "{}", text(&out));
    let traced = read_json(&dir.join("t.json"));
    for engine in ["deno", "node"] {
        for (name, block_name) in [("hot loop", "3k items"), ("repeat hot", "300 names")] {
            let plain = block(on(&report, engine, name), block_name);
            let tracked = block(on(&traced, engine, name), block_name);
            assert_eq!(rows(plain), rows(tracked), "{engine} {name}");
            assert_eq!(plain["retained_bytes"], tracked["retained_bytes"]);
            assert_eq!(
                plain["allocations"], tracked["allocations"],
                "{engine} {name}"
            );
        }
    }
}

#[test]
fn the_runtimes_own_frames_are_marked_and_the_project_frame_leads() {
    let dir = project("sites", "runtime");
    let out = memcheck(&dir, &["runtime.memtest.js", "--json", "r.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    let report = read_json(&dir.join("r.json"));
    // Listener records: Node's `Listener`, Deno's arrays.
    for (engine, class) in [("deno", "Array"), ("node", "Listener")] {
        let expected = format!(
            "{class} ×20: listen (runtime.memtest.js:7:16) ← (anonymous) (runtime.memtest.js:11:66) (via ({engine}) addEventListener)"
        );
        assert!(t.contains(&expected), "missing {expected:?} in:\n{t}");
        let b = block(
            on(&report, engine, "listeners on an event target"),
            "listeners on an event target",
        );
        let site = b["allocations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["constructor"] == class)
            .unwrap_or_else(|| panic!("{engine}: no {class} site in {b}"));
        // Innermost first in the JSON, the runtime's frame marked.
        assert_eq!(site["frames"][0]["runtime"], engine, "{site}");
        assert_eq!(site["frames"][0]["function"], "addEventListener", "{site}");
        let prefix = format!("({engine}) addEventListener (");
        assert!(
            site["stack"][0].as_str().unwrap().starts_with(&prefix),
            "{site}"
        );
        assert_eq!(site["frames"][1]["function"], "listen", "{site}");
        assert!(site["frames"][1].get("runtime").is_none(), "{site}");
    }
}

#[test]
fn warmup_leaves_first_use_objects_out_and_bad_values_fail_with_their_line() {
    let dir = project("sites", "warmup");
    let out = memcheck(&dir, &["warmup", "--update", "--json", "r.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    let report = read_json(&dir.join("r.json"));
    for engine in ["deno", "node"] {
        // The module-level table the first call builds shows without
        // warmup, and nothing does with it.
        let cold = on(&report, engine, "first use, measured cold");
        assert_eq!(cold["status"], "failed", "{engine}: {t}");
        let rows = news(block(cold, "format"));
        assert!(
            rows.contains(&("Pattern".to_owned(), 10)),
            "{engine}: {rows:?}"
        );
        // The project's own objects: one run cannot tell them from a leak.
        assert!(
            !cold["message"].as_str().unwrap().contains("hint:"),
            "{engine}: {}",
            cold["message"]
        );
        let warm = on(&report, engine, "first use, warmed up");
        assert_eq!(warm["status"], "passed", "{engine}: {t}");
        assert_eq!(block(warm, "format")["retained_objects"], 0, "{engine}");
        let counted = on(&report, engine, "warmup runs before the checkpoints");
        assert_eq!(counted["status"], "passed", "{engine}: {t}");

        // The runtime's own first-use objects: a hint to use warmup.
        let cold = on(&report, engine, "first crypto use, cold");
        let message = cold["message"].as_str().unwrap();
        assert_eq!(cold["status"], "failed", "{engine}: {t}");
        assert!(
            message.contains("own code made these objects"),
            "{engine}: {message}"
        );
        assert!(
            message.contains(r#"t.measure("random", { warmup: 1 }, fn)"#),
            "{engine}: {message}"
        );
        let warm = on(&report, engine, "first crypto use, warmed up");
        assert_eq!(warm["status"], "passed", "{engine}: {t}");
        assert_eq!(block(warm, "random")["retained_objects"], 0, "{engine}");

        for (name, line, why) in [
            (
                "warmup zero",
                4,
                "warmup must be true or a whole number from 1 to 100, not 0",
            ),
            (
                "warmup as text",
                8,
                r#"warmup must be true or a whole number from 1 to 100, not "1""#,
            ),
            (
                "warmup past 100",
                12,
                "warmup must be true or a whole number from 1 to 100, not 101",
            ),
            (
                "warmup misspelt",
                16,
                r#"unknown option "warmpu"; a block takes { budget, repeat, warmup } only"#,
            ),
        ] {
            let failed = on(&report, engine, name);
            let expected = format!(r#"t.measure("b") at warmup-invalid.memtest.js:{line}: {why}"#);
            assert!(
                failed["message"].as_str().unwrap().contains(&expected),
                "{engine} {name}: {}",
                failed["message"]
            );
        }
    }
}

/// The retainer path of `class` in a block, as text.
fn path_of(block: &Value, class: &str) -> String {
    block["retainers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["constructor"] == class)
        .and_then(|p| p["path"].as_str())
        .unwrap_or_else(|| panic!("no path for {class} in {block}"))
        .to_owned()
}

/// Real packages at the version before and after an upstream leak fix
/// (`tests/fixtures/npm-leaks/README.md` cites each report and fix): the
/// leaky one fails, explained by a path and a site that name what leaked;
/// the fixed one passes against its baseline. Only the words that name
/// the structure are checked, not how a path is laid out.
#[test]
fn real_packages_fail_on_their_leaky_versions_only() {
    let dir = project("npm-leaks", "suite");
    crate::projects::npm_ci(&dir);
    let out = memcheck(&dir, &["--json", "r.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    let report = read_json(&dir.join("r.json"));
    // (leaky test, fixed test, block, class, words of its path, its site)
    let cases = [
        (
            "debug 4.2.0 keeps every instance",
            "debug 4.3.0 lets them go",
            "100 loggers",
            "Function",
            ["createDebug", ".instances"],
            "createDebug (node_modules/debug-leaky/src/common.js:",
        ),
        (
            "component-emitter 1.2.1 keeps an array per event",
            "component-emitter 1.3.0 drops it",
            "100 one-off jobs",
            "Array",
            ["Emitter", "._callbacks"],
            "addEventListener (node_modules/component-emitter-leaky/index.js:",
        ),
        (
            "lru-cache 7.8.0 keeps evicted values",
            "lru-cache 7.8.1 clears them",
            "100 sets",
            "Payload",
            ["LRUCache", ".valList"],
            "(test/lru.memtest.js:23:",
        ),
    ];
    for engine in ["deno", "node"] {
        for (leaky, fixed, block_name, class, words, site) in &cases {
            let failed = on(&report, engine, leaky);
            assert_eq!(failed["status"], "failed", "{engine} {leaky}: {t}");
            let b = block(failed, block_name);
            let path = path_of(b, class);
            for word in words {
                assert!(
                    path.contains(word),
                    "{engine} {leaky}: {word:?} not in {path}"
                );
            }
            let sites = sites_of(b, class);
            assert!(
                sites.first().is_some_and(|(_, top)| top.contains(site)),
                "{engine} {leaky}: {site:?} not the first site of {class}: {sites:?}"
            );
            let message = failed["message"].as_str().unwrap();
            assert!(message.contains(site), "{engine} {leaky}: {message}");
            let passed = on(&report, engine, fixed);
            assert_eq!(passed["status"], "passed", "{engine} {fixed}: {t}");
        }
    }
}
