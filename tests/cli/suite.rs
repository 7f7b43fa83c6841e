//! The core flow: exact counts, baselines, faults, listing, snapshots,
//! explanations.

use std::process::Command;

use serde_json::Value;

use crate::util::*;

#[test]
fn passing_suite_reports_exact_counts() {
    let dir = project("pass", "exact");
    let out = memcheck(&dir, &["--json", "report.json", "--show-output"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("test result: ok. 3 passed; 0 failed; 1 ignored"),
        "{}",
        text(&out)
    );
    // --show-output: each passing block's Comparison table, as libtest's
    // "successes" section.
    let shown = stdout.split_once("\nsuccesses:\n").map_or("", |(_, s)| s);
    assert!(
        shown.contains("---- widgets.memtest.js::keeps 1000 widgets ----\nblock \"empty\":"),
        "{stdout}"
    );
    let widget_row = ["Widget", "1000", "0", "+1000", "32000", "0", "+32000"];
    assert!(
        shown
            .lines()
            .any(|l| l.split_whitespace().eq(widget_row.iter().copied())),
        "{stdout}"
    );
    assert!(
        shown.contains("kept alive by (paths from a GC root, grouped by shape; [i] is any index):"),
        "{stdout}"
    );
    let report = read_json(&dir.join("report.json"));
    assert_eq!(report["runtime"]["name"], "deno");
    assert_eq!(report["runtime"]["version"], "2.9.6");
    let widgets = find(&report, "keeps 1000 widgets");
    assert_eq!(widgets["status"], "passed");
    assert_eq!(widgets["file"], "widgets.memtest.js");
    let empty = block(widgets, "empty");
    assert_eq!(empty["retained_objects"], 0);
    assert_eq!(empty["constructors"], serde_json::json!([]));
    let allocate = block(widgets, "allocate");
    assert_eq!(
        allocate["constructors"],
        serde_json::json!([{ "name": "Widget", "new": 1000, "deleted": 0, "delta": 1000, "alloc_size": 32000, "freed_size": 0, "size_delta": 32000 }])
    );
    assert_eq!(allocate["retained_objects"], 1000);
    assert_eq!(block(widgets, "async garbage")["retained_objects"], 0);
    assert_eq!(block(widgets, "logging")["retained_objects"], 0);
    assert!(shown.contains("Widget { id: 99 }"), "{stdout}");
    let whole = find(&report, "whole body is one block");
    let only = block(whole, "whole body is one block");
    assert_eq!(only["constructors"][0]["name"], "{x, y}");
    assert_eq!(only["constructors"][0]["new"], 10);
    assert_eq!(find(&report, "skipped unless asked")["status"], "ignored");
    let ts = find(&report, "typescript works");
    assert_eq!(block(ts, "points")["constructors"][0]["new"], 200);
    assert!(allocate.get("snapshots").is_none());
}

#[test]
fn figures_are_identical_across_runs() {
    let dir = project("pass", "repeat");
    let mut seen: Vec<Value> = Vec::new();
    for i in 0..3 {
        let path = format!("run{i}.json");
        let out = memcheck(&dir, &["--include-ignored", "--json", &path]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let report = read_json(&dir.join(&path));
        let blocks: Vec<Value> = report["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["blocks"].clone())
            .collect();
        seen.push(Value::Array(blocks));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2]);
}

#[test]
fn leak_fails_with_a_diff_naming_the_constructor() {
    let dir = project("leak", "diff");
    let baseline = dir.join("__memcheck__/cache.memtest.js.toml");
    let before = std::fs::read_to_string(&baseline).unwrap();
    let out = memcheck(&dir, &["--exact", "cache.memtest.js::cache stays bounded"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(
        t.contains("CacheEntry new: 150 > baseline 100 (tolerance 0)"),
        "{t}"
    );
    assert!(
        t.contains("-  { name = \"CacheEntry\", new = 100, deleted = 0, size_delta = 3200 },"),
        "{t}"
    );
    assert!(
        t.contains("+  { name = \"CacheEntry\", new = 150, deleted = 0, size_delta = 4800 },"),
        "{t}"
    );
    assert!(
        t.contains("cargo memcheck --update --exact 'cache.memtest.js::cache stays bounded'"),
        "{t}"
    );
    assert!(
        t.contains(
            "memcheck: warning: memcheck.toml: [tests.\"cache stays bounde\"] names no test"
        ),
        "{t}"
    );
    assert!(
        t.contains("--- output ---\ncache holds 150 entries"),
        "what the test printed is shown with its failure:\n{t}"
    );
    assert_eq!(
        std::fs::read_to_string(&baseline).unwrap(),
        before,
        "a plain run must not touch baselines"
    );
}

#[test]
fn update_cannot_bless_a_budget_overrun() {
    let dir = project("leak", "budget");
    let out = memcheck(&dir, &["--update"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(t.contains("budget: CacheEntry new 50 > 10"), "{t}");
    let baseline = std::fs::read_to_string(dir.join("__memcheck__/cache.memtest.js.toml")).unwrap();
    assert!(
        baseline.contains("new = 150"),
        "the passing test is updated:\n{baseline}"
    );
    assert!(
        !baseline.contains("over budget"),
        "the over-budget test is not recorded:\n{baseline}"
    );
}

#[test]
fn each_fault_fails_only_its_own_test() {
    let dir = project("faults", "all");
    let started = std::time::Instant::now();
    let out = memcheck(&dir, &["--test-threads", "2", "--json", "r.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    for ok in [
        "passes beside the faults",
        "leaves a timer running",
        "also passes after the faults",
    ] {
        assert!(
            t.lines()
                .filter(|l| l.starts_with(&format!("test faults.memtest.js::{ok} ")))
                .any(|l| l.ends_with("... ok")),
            "{ok}: {t}"
        );
    }
    for expected in [
        "the test threw: RangeError: the widget is out of range\n    at Object.fn (faults.memtest.js:14:9)",
        "the test threw: Error: rejected inside a block",
        "timed out after 1500 ms",
        "the runtime ended with exit code 7",
        "NotCapable: Requires read access to \"/etc/hostname\"",
        "faults.memtest.js:34: invalid budget",
        "unknown unit `parsecs`",
        "syntax.memtest.js failed to load",
        "syntax.memtest.js:4:13",
        "faults.memtest.js:43: test name \"passes beside the faults\" is already used at line 7",
        "the runtime ended with signal",
        "the JavaScript heap reached its limit",
        "faults.memtest.js:47: invalid timeout \"5s\": write milliseconds as a whole number",
        "test result: FAILED. 3 passed; 10 failed",
    ] {
        assert!(t.contains(expected), "missing {expected:?} in:\n{t}");
    }
    assert!(
        !t.contains("runner.js"),
        "harness frames leak into messages:\n{t}"
    );
    // Both tests named "passes beside the faults" are in the report.
    let report = read_json(&dir.join("r.json"));
    let statuses: Vec<&str> = report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == "passes beside the faults")
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["passed", "failed"], "{report}");
    // Nothing waits for the runtime's 20 s timeout (the message above shows
    // the hang was cut at its own 1.5 s); the margin is for a loaded machine.
    let elapsed = started.elapsed().as_secs();
    assert!(
        elapsed < 40,
        "took {elapsed} s: something waited for a timeout"
    );
}

#[test]
fn fresh_project_records_baselines_only_when_asked() {
    let dir = project("fresh", "flow");
    let baseline = dir.join("tests/__memcheck__/one.memtest.js.toml");

    let out = memcheck(&dir, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(t.contains("no baseline for this block; record it: cargo memcheck --update --exact 'tests/one.memtest.js::records a baseline'"), "{t}");
    assert!(!baseline.exists());

    let ci = Command::new(BIN)
        .current_dir(&dir)
        .env("CI", "true")
        .output()
        .unwrap();
    assert_eq!(ci.status.code(), Some(101));
    assert!(!baseline.exists(), "CI must never write baselines unasked");

    let out = memcheck(&dir, &["--update"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let recorded = std::fs::read_to_string(&baseline).unwrap();
    assert!(
        recorded.starts_with("# cargo-memcheck baseline for one.memtest.js."),
        "{recorded}"
    );
    assert!(recorded.contains("runtime = \"deno 2.9.6\""), "{recorded}");
    assert!(
        recorded.contains("{ name = \"Uint8Array\", new = 5,"),
        "{recorded}"
    );

    let out = memcheck(&dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    std::fs::write(&baseline, "runtime = \"deno 2.9.6\"\nv8 = [\n").unwrap();
    let out = memcheck(&dir, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(t.contains("one.memtest.js.toml is corrupt"), "{t}");
    assert_eq!(
        std::fs::read_to_string(&baseline).unwrap(),
        "runtime = \"deno 2.9.6\"\nv8 = [\n"
    );
}

#[test]
fn a_baseline_from_another_runtime_is_reported() {
    let dir = project("pass", "runtime");
    let path = dir.join("__memcheck__/shapes.memtest.ts.toml");
    let text_before = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text_before.replace("runtime = \"deno 2.9.6\"", "runtime = \"deno 2.1.0\""),
    )
    .unwrap();
    let out = memcheck(&dir, &["typescript"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(t.contains("was recorded with deno 2.1.0"), "{t}");
    assert!(t.contains("this run uses deno 2.9.6"), "{t}");

    // Updating part of a file recorded with another runtime (or unreadable)
    // would drop the other tests' entries: refused, the file kept as it is.
    let widgets = dir.join("__memcheck__/widgets.memtest.js.toml");
    let recorded = std::fs::read_to_string(&widgets).unwrap();
    for (old, why) in [
        (
            recorded.replace("runtime = \"deno 2.9.6\"", "runtime = \"deno 2.1.0\""),
            "it was recorded with deno 2.1.0 (V8 15.0.245.2-rusty)",
        ),
        ("runtime = [\n".to_owned(), "it cannot be read"),
    ] {
        std::fs::write(&widgets, &old).unwrap();
        let _ = std::fs::remove_file(dir.join("u.json"));
        let out = memcheck(&dir, &["--update", "keeps 1000", "--json", "u.json"]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        // The refusal costs neither the report nor the run's figures.
        let report = read_json(&dir.join("u.json"));
        assert_eq!(find(&report, "keeps 1000 widgets")["status"], "passed");
        assert!(
            t.contains(&format!("not updating __memcheck__/widgets.memtest.js.toml: {why}, and this run did not re-record \"whole body is one block\", \"skipped unless asked\"; re-record the whole file (cargo memcheck --update --include-ignored widgets.memtest.js::)")),
            "{t}"
        );
        assert_eq!(std::fs::read_to_string(&widgets).unwrap(), old);
    }
    let out = memcheck(
        &dir,
        &["--update", "--include-ignored", "widgets.memtest.js::"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&widgets).unwrap(), recorded);
}

#[test]
fn config_errors_name_file_and_line() {
    let dir = project("badconfig", "line");
    let out = memcheck(&dir, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains("memcheck.toml:4:9: tolerance.bytes: unknown unit `parsecs`"),
        "{t}"
    );

    std::fs::write(dir.join("memcheck.toml"), "[runtime]\nversoin = \"2\"\n").unwrap();
    let out = memcheck(&dir, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("memcheck.toml:2:1"), "{t}");
    assert!(t.contains("unknown field `versoin`"), "{t}");
}

#[test]
fn snapshots_are_kept_and_diffable() {
    let dir = project("pass", "snapshots");
    let out = memcheck(
        &dir,
        &[
            "--exact",
            "widgets.memtest.js::keeps 1000 widgets",
            "--snapshots",
            "snaps",
            "--json",
            "r.json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = read_json(&dir.join("r.json"));
    let allocate = block(find(&report, "keeps 1000 widgets"), "allocate");
    let before = dir.join(allocate["snapshots"]["before"].as_str().unwrap());
    let after = dir.join(allocate["snapshots"]["after"].as_str().unwrap());
    assert!(before.is_file() && after.is_file());

    let out = Command::new(BIN)
        .args(["diff"])
        .arg(&before)
        .arg(&after)
        .args(["--json", "d.json"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.lines().nth(1).unwrap().starts_with("Widget "), "{t}");
    let d = read_json(&dir.join("d.json"));
    assert_eq!(d["constructors"][0]["name"], "Widget");
    assert_eq!(d["constructors"][0]["new"], 1000);
    assert_eq!(d["retained_objects"], 1000);

    let bytes = std::fs::read(&after).unwrap();
    let cut = dir.join("cut.heapsnapshot");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = Command::new(BIN)
        .args(["diff"])
        .arg(&before)
        .arg(&cut)
        .current_dir(&dir)
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("cut.heapsnapshot: the snapshot ends early, at byte"),
        "{t}"
    );
    assert!(t.contains("truncated"), "{t}");
}

#[test]
fn list_and_filters_follow_libtest() {
    let dir = project("pass", "list");
    let out = memcheck(&dir, &["--list"]);
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("widgets.memtest.js::keeps 1000 widgets: test"),
        "{t}"
    );
    assert!(
        t.contains("shapes.memtest.ts::typescript works: test"),
        "{t}"
    );

    let out = memcheck(&dir, &["--skip", "widgets"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("1 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out"),
        "{t}"
    );

    // --ignored runs only the ignored test; the report lists only it.
    let out = memcheck(&dir, &["--ignored", "--json", "ignored.json"]);
    let t = text(&out);
    assert!(t.contains("0 ignored; 0 measured; 3 filtered out"), "{t}");
    let report = read_json(&dir.join("ignored.json"));
    let names: Vec<&str> = report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["skipped unless asked"], "{report}");
}

#[test]
fn a_missing_runtime_names_the_fix() {
    let dir = project("pass", "noruntime");
    let out = Command::new(BIN)
        .current_dir(&dir)
        .env("MEMCHECK_DENO", "/nonexistent/deno")
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("/nonexistent/deno (from $MEMCHECK_DENO) does not exist"),
        "{t}"
    );
}

#[test]
fn a_million_retained_objects_are_counted_exactly() {
    let dir = project("scale", "million");
    let out = memcheck(&dir, &["--update", "--json", "r.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = read_json(&dir.join("r.json"));
    let b = block(find(&report, "retains a million objects"), "1M");
    assert_eq!(b["constructors"][0]["name"], "Particle");
    assert_eq!(b["constructors"][0]["new"], 1_000_000);
    assert_eq!(b["retained_objects"], 1_000_000);
}

#[test]
fn failures_show_how_new_objects_are_kept_alive() {
    let dir = project("explain", "retainers");
    let out = memcheck(&dir, &["--json", "r.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    for expected in [
        "Session ×100: (global) .implicitKeep → Array [i] → Session",
        "ArrayBuffer ×1: (module leaks.memtest.js) ::handlers → Array [i] → Function ::scratch → ArrayBuffer",
        "Widget ×20: (module leaks.memtest.js) ::bus → Bus .listeners → Array [i] → Function ::this → Widget",
        "CacheEntry ×300: (module leaks.memtest.js) ::cache → Map (table)[i] → CacheEntry",
        // The cache's table, alive before the block, grew in place.
        "grew in place (alive before and after; with the backing stores it alone owns):\n    Map grew 184 B → 14.07 KiB: (module leaks.memtest.js) ::cache → Map\n",
        "Session ×100: remember (leaks.memtest.js:11:18) ← (anonymous) (leaks.memtest.js:15:",
        "ArrayBuffer ×1: makeHandler (leaks.memtest.js:21:21)",
        "Widget ×20: (anonymous) (leaks.memtest.js:47:",
        "CacheEntry ×300: lookup (leaks.memtest.js:58:16)",
        ": (anonymous) (repeat.memtest.js:14:45)",
    ] {
        assert!(t.contains(expected), "missing {expected:?} in:\n{t}");
    }
    let report = read_json(&dir.join("r.json"));
    // Every new object is accounted for: by its site, or as one V8's
    // tracker lost.
    let memo = block(find(&report, "memo leaks on every run"), "lookups");
    let entries: u64 = memo["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["constructor"] == "Entry")
        .map(|s| s["count"].as_u64().unwrap())
        .sum();
    assert_eq!(entries, 250, "{memo}");
    let b = block(find(&report, "global array grows"), "global array grows");
    assert_eq!(b["retainers"][0]["constructor"], "Session");
    assert_eq!(
        b["retainers"],
        serde_json::json!([{
            "constructor": "Session",
            "path": "(global) .implicitKeep → Array [i] → Session",
            "count": 100,
            "total": 100
        }])
    );
    assert_eq!(
        b["grown"],
        serde_json::json!([]),
        "800 B of elements: under 4 KiB"
    );
    let cache = block(
        find(&report, "map cache without eviction"),
        "map cache without eviction",
    );
    assert_eq!(
        cache["grown"],
        serde_json::json!([{
            "constructor": "Map",
            "path": "(module leaks.memtest.js) ::cache → Map",
            "before": 184,
            "after": 14408
        }])
    );
    assert_eq!(b["allocations"][0]["constructor"], "Session");
    assert_eq!(b["allocations"][0]["count"], 100);
    let top = b["allocations"][0]["stack"][0].as_str().unwrap();
    assert!(
        top.starts_with("remember (leaks.memtest.js:11:18)"),
        "{top}"
    );
}

#[test]
fn allocated_bytes_include_garbage_and_repeat() {
    let dir = project("alloc", "bytes");
    let mut figures = Vec::new();
    for i in 0..2 {
        let path = format!("r{i}.json");
        let out = memcheck(&dir, &["--json", &path]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(101), "{t}");
        assert!(t.contains("budget: allocated "), "{t}");
        assert!(t.contains("> 16.00 KiB (16384 B)"), "{t}");
        let report = read_json(&dir.join(&path));
        let garbage = find(&report, "garbage is counted as allocated");
        assert_eq!(garbage["status"], "passed", "{t}");
        let b = block(garbage, "10k temporary points");
        assert_eq!(b["retained_objects"], 0);
        let bytes = b["allocated_bytes"].as_u64().unwrap();
        assert!(
            (320_000..2_000_000).contains(&bytes),
            "10k points of 32 B: {bytes}"
        );
        let over = block(
            find(&report, "over the allocation budget"),
            "over the allocation budget",
        );
        assert_eq!(
            over["retained_objects"], 0,
            "the sampling session must not show"
        );
        figures.push((bytes, over["allocated_bytes"].clone()));
    }
    assert_eq!(
        figures[0], figures[1],
        "allocated bytes must repeat exactly"
    );
}

#[test]
fn repetition_flags_leaks_and_passes_bounded_structures() {
    let dir = project("explain", "repeat");
    let out = memcheck(&dir, &["repeat.memtest.js", "--json", "r.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(
        t.contains("leak: Entry grew in every one of 5 runs (+50 +50 +50 +50 +50 per run)"),
        "{t}"
    );
    assert!(
        t.contains("Entry ×250: (module repeat.memtest.js) ::memo → Map (table)[i] → Entry"),
        "{t}"
    );
    assert!(
        t.contains("Subscriber ×4: (module repeat.memtest.js) ::listeners → Set (table)[i] → Function ::subscriber → Subscriber"),
        "{t}"
    );
    let report = read_json(&dir.join("r.json"));
    assert!(
        t.contains("leak: Subscriber grew in every one of 4 runs (+1 +1 +1 +1 per run)"),
        "{t}"
    );
    assert!(
        t.contains("leak: Function grew in every one of 4 runs"),
        "{t}"
    );
    for (name, block_name) in [
        ("bounded ring stays flat", "pushes"),
        ("bounded lru stays flat", "inserts"),
    ] {
        let bounded = find(&report, name);
        assert_eq!(bounded["status"], "passed", "{name}: {t}");
        let rep = &block(bounded, block_name)["repetition"];
        assert_eq!(rep["leaking"], serde_json::json!([]), "{name}");
        assert_eq!(rep["runs"].as_array().unwrap().len(), 5, "{name}");
        let flat = rep["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["objects_delta"] == 0);
        assert!(flat, "{name}: {rep}");
    }
    let leaky = block(find(&report, "memo leaks on every run"), "lookups");
    assert_eq!(
        leaky["repetition"]["leaking"],
        serde_json::json!([{ "name": "Entry", "deltas": [50, 50, 50, 50, 50] }])
    );
}
