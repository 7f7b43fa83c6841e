//! The chromium engine: test files in a page of the machine's headless
//! Chromium, DOM nodes counted per tag, detached ones named, leaks
//! explained through the listener that keeps them, and every page that
//! misbehaves failing alone.

use std::path::Path;

use crate::projects::npm_ci;
use crate::util::*;

/// The rows of every block of a report, by test and block, as text: what
/// must repeat run after run.
fn all_rows(report: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for test in report["tests"].as_array().unwrap() {
        for b in test["blocks"].as_array().unwrap() {
            out.push(format!(
                "{} / {}: {:?} retained {} {}",
                test["name"],
                b["name"],
                rows(b),
                b["retained_objects"],
                b["retained_bytes"]
            ));
        }
    }
    out
}

#[test]
fn a_vanilla_dom_app_is_counted_per_tag_and_its_leak_explained() {
    let dir = project("dom", "vanilla");
    let out = memcheck(&dir, &["--json", "r.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    let report = read_json(&dir.join("r.json"));
    assert_eq!(report["runtime"]["name"], "chromium", "{t}");

    let rows_test = find(&report, "rows added to a list are attached elements");
    assert_eq!(rows_test["status"], "passed", "{t}");
    assert_eq!(
        news(block(rows_test, "add 10")),
        [("<li>".to_owned(), 10), ("Text".to_owned(), 10)]
    );

    let fixed = find(&report, "a closed dialog that removes its listener");
    assert_eq!(fixed["status"], "passed", "{t}");
    assert_eq!(
        block(fixed, "open and close 5 dialogs")["retained_objects"],
        0
    );

    let leaky = find(&report, "a closed dialog with its listener left on window");
    assert_eq!(leaky["status"], "failed", "{t}");
    assert_eq!(
        news(block(leaky, "open and close 5 dialogs")),
        [
            ("Detached <button>".to_owned(), 5),
            ("Detached <div>".to_owned(), 5),
            ("Detached Text".to_owned(), 5),
            ("Dialog".to_owned(), 5),
            ("Function".to_owned(), 5),
        ]
    );
    for expected in [
        "budget: 25 retained objects > 0",
        "Detached <div> ×5: Window → EventListener → Function ::this → Dialog .root → Detached <div class=\"dialog\">",
        "Dialog ×5: (anonymous) (todo.memtest.js:",
    ] {
        assert!(t.contains(expected), "missing {expected:?} in:\n{t}");
    }
}

/// The DOM's first use makes prototypes once: a block that pays for it
/// fails with a hint to warm up, and the warmed-up block is 0.
#[test]
fn the_first_use_of_a_dom_api_is_named_and_warmup_removes_it() {
    let dir = project("dom-first-use", "first-use");
    let out = memcheck(&dir, &["first-use", "--json", "r.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    let report = read_json(&dir.join("r.json"));
    let cold = find(
        &report,
        "a DOM API used for the first time inside the block",
    );
    assert_eq!(cold["status"], "failed", "{t}");
    let names: Vec<String> = news(block(cold, "open a dialog"))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(
        names.contains(&"HTMLDialogElement (prototype)".to_owned()),
        "{names:?}"
    );
    assert!(
        t.contains(
            "hint: rows like `HTMLBodyElement (prototype)`, `HTMLDialogElement (prototype)`"
        ),
        "{t}"
    );
    assert!(
        t.contains("t.measure(\"open a dialog\", { warmup: 1 }, fn)"),
        "{t}"
    );
    let warm = find(&report, "the same, warmed up");
    assert_eq!(warm["status"], "passed", "{t}");
    assert_eq!(block(warm, "open a dialog")["retained_objects"], 0);
}

/// In a page, allocation tracking gives some of the page's own nodes new
/// ids: `--trace-allocations` takes sites from a tracked re-run and keeps
/// the figures of an untracked one.
#[test]
fn trace_allocations_keep_a_pages_figures() {
    let dir = project("dom", "traced");
    let plain = memcheck(&dir, &["--json", "plain.json"]);
    let traced = memcheck(&dir, &["--trace-allocations", "--json", "traced.json"]);
    let t = text(&traced);
    assert_eq!(plain.status.code(), traced.status.code(), "{t}");
    assert_eq!(
        all_rows(&read_json(&dir.join("plain.json"))),
        all_rows(&read_json(&dir.join("traced.json"))),
        "{t}"
    );
    assert!(!t.contains("<html> new"), "{t}");
    let report = read_json(&dir.join("traced.json"));
    let leaky = find(&report, "a closed dialog with its listener left on window");
    let sites = block(leaky, "open and close 5 dialogs")["allocations"]
        .as_array()
        .unwrap();
    assert!(!sites.is_empty(), "{t}");
}

/// `allocated` in a page: the sampling heap profiler, started and stopped
/// by the runner while the page is stopped, gives the block's allocated
/// bytes (garbage included), the same in every run, and its budget judges.
#[test]
fn allocated_bytes_are_sampled_in_a_page() {
    let dir = project("alloc", "chromium");
    std::fs::write(
        dir.join("memcheck.toml"),
        "[runtime]\nengine = \"chromium\"\n",
    )
    .unwrap();
    let first = memcheck(&dir, &["--update", "--json", "first.json"]);
    let again = memcheck(&dir, &["--json", "again.json"]);
    let t = text(&again);
    let bytes = |name: &str| {
        let report = read_json(&dir.join(name));
        let test = find(&report, "garbage is counted as allocated");
        assert_eq!(test["status"], "passed", "{name}: {}", text(&first));
        block(test, "10k temporary points")["allocated_bytes"].as_u64()
    };
    let sampled = bytes("first.json").expect("allocated bytes in the report");
    // 10 000 points of two fields, each at least 16 bytes, none kept.
    assert!(sampled >= 160_000, "{sampled}");
    assert_eq!(bytes("again.json"), Some(sampled), "{t}");
    assert_eq!(
        outcome(&t, "garbage.memtest.js::over the allocation budget"),
        Some("FAILED"),
        "{t}"
    );
    assert!(t.contains("budget: allocated "), "{t}");
    let baseline = dir.join("__memcheck__/garbage.memtest.js.chromium.toml");
    let recorded = std::fs::read_to_string(baseline).unwrap();
    assert!(
        recorded.contains(&format!("allocated_bytes = {sampled}")),
        "{recorded}"
    );
}

#[test]
fn ten_runs_give_one_result() {
    let dir = project("dom", "ten-runs");
    let mut seen: Vec<Vec<String>> = Vec::new();
    for _ in 0..10 {
        let out = memcheck(&dir, &["--json", "r.json"]);
        assert_eq!(out.status.code(), Some(101), "{}", text(&out));
        let rows = all_rows(&read_json(&dir.join("r.json")));
        if !seen.contains(&rows) {
            seen.push(rows);
        }
    }
    assert_eq!(seen.len(), 1, "{seen:#?}");
}

#[test]
fn a_component_library_from_npm_leaks_on_unmount_and_its_fix_passes() {
    let dir = project("preact-app", "preact");
    npm_ci(&dir);
    let out = memcheck(&dir, &["--json", "r.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    let report = read_json(&dir.join("r.json"));
    assert_eq!(
        find(&report, "a clock that removes its listener")["status"],
        "passed",
        "{t}"
    );
    assert_eq!(
        find(&report, "a clock that never removes its listener")["status"],
        "failed",
        "{t}"
    );
    for expected in [
        "leak: Detached <div> grew in every one of 5 runs (+1 +1 +1 +1 +1 per run)",
        "Detached <div> ×5: Window → EventListener → Function onResize ::element → Detached <div class=\"clock\">",
        "(src/clock.js:",
    ] {
        assert!(t.contains(expected), "missing {expected:?} in:\n{t}");
    }
}

/// The class of Preact's virtual nodes (an object literal's shape).
const PREACT_VNODE: &str =
    "{type, props, key, ref, __k, __, __b, __e, __c, constructor, __v, __i, __u}";

/// TypeScript and JSX run in the page (esbuild, one module at a time), and
/// every place reported is a line of the file written.
#[test]
fn typescript_and_jsx_run_with_the_lines_written() {
    let dir = project("preact-tsx", "tsx");
    npm_ci(&dir);
    std::fs::write(
        dir.join("broken.memtest.ts"),
        "import { test } from \"memcheck\";\n\ntest(\"x\", () => {\n  const a: number = ;\n});\n",
    )
    .unwrap();
    let out = memcheck(&dir, &["--json", "r.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    let report = read_json(&dir.join("r.json"));
    assert_eq!(
        find(&report, "a clock that removes its listener")["status"],
        "passed",
        "{t}"
    );
    let leaky = find(&report, "a clock that never removes its listener");
    assert_eq!(leaky["status"], "failed", "{t}");
    assert_eq!(
        news(block(leaky, "mount and unmount")),
        [
            ("Array".to_owned(), 4),
            ("Detached <div>".to_owned(), 5),
            ("Detached <span>".to_owned(), 5),
            ("Detached Text".to_owned(), 5),
            ("Function".to_owned(), 8),
            ("{children}".to_owned(), 1),
            ("{current}".to_owned(), 5),
            (PREACT_VNODE.to_owned(), 1),
        ]
    );
    for expected in [
        "Detached <div> ×5: Window → EventListener → Function onResize ::element → Detached <div class=\"clock\">",
        // The effect's arrow in src/Clock.tsx, and the caller in the test.
        "(anonymous) (src/Clock.tsx:18:13)",
        "mountAndUnmount (clock.memtest.tsx:10:10)",
        "at Object.fn (clock.memtest.tsx:27:9)",
        // A module esbuild cannot read fails with esbuild's words.
        "could not be transpiled for the page",
        "broken.memtest.ts:4:20",
    ] {
        assert!(t.contains(expected), "missing {expected:?} in:\n{t}");
    }
    // Declarations and blocks: lines of clock.memtest.tsx, not esbuild's.
    assert_eq!(leaky["line"], 15);
    assert_eq!(block(leaky, "mount and unmount")["line"], 16);
    let listed = find(&report, "an error names the line written");
    assert_eq!(
        (&listed["status"], &listed["line"]),
        (&"failed".into(), &25.into())
    );
}

/// Modules load as a bundler's dev server gives them: a subpath pattern
/// with a suffix, `process.env.NODE_ENV`, an imported stylesheet; a wrong
/// name fails saying which name.
#[test]
fn modules_load_as_a_bundler_serves_them_and_typos_are_named() {
    let dir = project("page-modules", "modules");
    npm_ci(&dir);
    let out = memcheck(&dir, &["--json", "r.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    let report = read_json(&dir.join("r.json"));
    for name in [
        "a store from a subpath pattern with a suffix",
        "a package that reads process.env.NODE_ENV",
        "an imported stylesheet styles the page",
    ] {
        assert_eq!(find(&report, name)["status"], "passed", "{name}: {t}");
    }
    for expected in [
        "a module does not export `createStor`: check the name imported",
        "the bare import \"zustandd\" names no package the page can load",
    ] {
        assert!(t.contains(expected), "missing {expected:?} in:\n{t}");
    }
    assert!(!t.contains("looks like CommonJS"), "{t}");
}

#[test]
fn a_page_that_misbehaves_fails_alone() {
    let dir = project("dom-hostile", "hostile");
    let out = memcheck(&dir, &["--json", "r.json", "--test-threads", "1"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    let report = read_json(&dir.join("r.json"));
    let status = |name: &str| find(&report, name)["status"].as_str().unwrap().to_owned();
    assert_eq!(
        status("nothing outside the project is fetched"),
        "passed",
        "{t}"
    );
    assert_eq!(status("runs after them"), "passed", "{t}");
    assert_eq!(status("closes its own page"), "failed");
    assert_eq!(status("crashes its page"), "failed");
    let message = |name: &str| find(&report, name)["message"].as_str().unwrap().to_owned();
    assert!(
        message("closes its own page").starts_with("the page was closed"),
        "{t}"
    );
    assert!(
        message("crashes its page").starts_with("the page crashed"),
        "{t}"
    );
    for name in ["navigates away in a block", "reloads its page"] {
        assert_eq!(status(name), "failed");
        assert!(
            message(name).starts_with("the test navigated the page away"),
            "{name}: {t}"
        );
    }
    // What the page asked for and did not get is said.
    let fetched = find(&report, "nothing outside the project is fetched")["output"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        fetched.contains("memcheck: refused https://example.com/: tests have no network"),
        "{fetched}"
    );
}

#[test]
fn a_missing_browser_names_what_was_tried_and_the_fix() {
    let dir = project("dom", "no-browser");
    let out = memcheck_with(&dir, &[], &[("MEMCHECK_CHROMIUM", "/nonexistent/chrome")]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("the browser /nonexistent/chrome (from $MEMCHECK_CHROMIUM) does not exist"),
        "{t}"
    );

    let empty = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-browser-path");
    std::fs::create_dir_all(&empty).unwrap();
    let out = memcheck_with(&dir, &[], &[("PATH", &empty)]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    for part in [
        "no Chromium or Chrome was found",
        "chromium, chromium-browser, google-chrome, chrome on PATH",
        "apt-get install chromium",
        "MEMCHECK_CHROMIUM",
    ] {
        assert!(t.contains(part), "missing {part:?} in {t}");
    }
}
