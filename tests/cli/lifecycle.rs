//! The baseline life cycle, as insta's users know it: pending baselines
//! outside CI, reviewed, accepted or rejected; `--update` listing what it
//! changed; `--update=new`; unreferenced entries under each mode.

use std::path::Path;
use std::process::Command;

use crate::util::*;

const GROWN: &str = "cache.memtest.js::cache stays bounded";

fn baseline(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("__memcheck__/cache.memtest.js.toml")).unwrap()
}

fn pending(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join("__memcheck__/cache.memtest.js.toml.new")).ok()
}

#[test]
fn a_changed_test_leaves_a_pending_baseline_that_accept_moves_in() {
    let dir = project("leak", "accept");
    let committed = baseline(&dir);
    let out = memcheck(&dir, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(
        t.contains("pending baseline: __memcheck__/cache.memtest.js.toml.new (the committed baseline is unchanged)\n  review it: cargo memcheck review\n  accept it: cargo memcheck accept --exact 'cache.memtest.js::cache stays bounded'"),
        "{t}"
    );
    // The old advice still stands beside the new one.
    assert!(
        t.contains(&format!("cargo memcheck --update --exact '{GROWN}'")),
        "{t}"
    );
    assert!(
        t.contains("memcheck: pending baselines for 1 test in 1 file"),
        "{t}"
    );
    assert_eq!(
        baseline(&dir),
        committed,
        "the committed baseline is untouched"
    );
    let first = pending(&dir).expect("a pending file");
    assert!(first.contains("new = 150"), "{first}");
    // The test over its budget proposes nothing: budgets are absolute.
    assert!(!first.contains("over budget"), "{first}");

    // A second run rewrites the same pending file.
    memcheck(&dir, &[]);
    assert_eq!(pending(&dir).as_deref(), Some(first.as_str()));

    let out = memcheck(&dir, &["accept", "--exact", GROWN]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("memcheck: accepted into __memcheck__/cache.memtest.js.toml:\n    \"cache stays bounded\" › \"insert\": retained_objects 100 → 150 (grew by 50)"),
        "{t}"
    );
    assert_eq!(
        pending(&dir),
        None,
        "accepting its only test removes the file"
    );
    assert!(baseline(&dir).contains("new = 150"));
    let out = memcheck(&dir, &["--exact", GROWN]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn reject_drops_the_pending_baseline_and_ci_writes_none() {
    let dir = project("leak", "reject");
    let committed = baseline(&dir);
    provision();
    let ci = Command::new(BIN)
        .current_dir(&dir)
        .env("CI", "true")
        .output()
        .unwrap();
    assert_eq!(ci.status.code(), Some(101));
    assert!(!text(&ci).contains("pending baseline"), "{}", text(&ci));
    assert_eq!(pending(&dir), None, "CI never writes a pending baseline");

    memcheck(&dir, &[]);
    assert!(pending(&dir).is_some());
    let out = memcheck(&dir, &["reject", "no such test"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no pending baseline matches"),
        "{}",
        text(&out)
    );
    assert!(pending(&dir).is_some());
    let out = memcheck(&dir, &["reject"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains(&format!("rejected the pending baseline of {GROWN}")),
        "{t}"
    );
    assert_eq!(pending(&dir), None);
    assert_eq!(baseline(&dir), committed);

    // A pending file goes away once the figures match the baseline again.
    memcheck(&dir, &[]);
    assert!(pending(&dir).is_some());
    std::fs::write(
        dir.join("__memcheck__/cache.memtest.js.toml"),
        committed.replace("100", "150").replace("3200", "4800"),
    )
    .unwrap();
    let out = memcheck(&dir, &["--exact", GROWN]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(pending(&dir), None);
}

#[test]
fn review_asks_at_a_terminal_and_names_the_commands_elsewhere() {
    let dir = project("leak", "review");
    memcheck(&dir, &[]);
    let out = memcheck(&dir, &["review"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("cargo memcheck accept [FILTER]"), "{t}");
    assert!(t.contains("cargo memcheck reject [FILTER]"), "{t}");
    assert!(pending(&dir).is_some());

    // At a terminal (script(1) gives it one), answering `a` accepts.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("script(1) is missing: the terminal half of this test is skipped");
        return;
    }
    let shell = format!("printf 'a\\n' | script -qec '{BIN} review' /dev/null");
    let out = Command::new("sh")
        .args(["-c", &shell])
        .current_dir(&dir)
        .env_remove("CI")
        .output()
        .unwrap();
    let t = text(&out);
    assert!(t.contains(&format!("[1/1] {GROWN}")), "{t}");
    assert!(t.contains("-retained_objects = 100"), "{t}");
    assert!(t.contains("a accept, r reject, s skip, q quit"), "{t}");
    assert_eq!(pending(&dir), None, "{t}");
    assert!(baseline(&dir).contains("new = 150"), "{t}");
}

#[test]
fn update_lists_every_figure_it_changed() {
    let dir = project("leak", "update-list");
    memcheck(&dir, &[]);
    assert!(pending(&dir).is_some());
    let out = memcheck(&dir, &["--update"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "the budget still fails:\n{t}");
    for line in [
        "memcheck: updated __memcheck__/cache.memtest.js.toml:",
        "    \"cache stays bounded\" › \"insert\": retained_objects 100 → 150 (grew by 50)",
        "    \"cache stays bounded\" › \"insert\": retained_bytes 3200 → 4800 (grew by 1600)",
        "    \"cache stays bounded\" › \"insert\": CacheEntry new 100 → 150 (grew by 50)",
    ] {
        assert!(t.contains(line), "missing {line:?} in:\n{t}");
    }
    assert_eq!(
        pending(&dir),
        None,
        "the update supersedes the pending entry"
    );
    // Shrinking is listed too.
    let src = dir.join("cache.memtest.js");
    let code = std::fs::read_to_string(&src).unwrap();
    std::fs::write(
        &src,
        code.replace("const LIMIT = 150;", "const LIMIT = 120;"),
    )
    .unwrap();
    let out = memcheck(&dir, &["--update", "--exact", GROWN]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("retained_objects 150 → 120 (shrank by 30)"),
        "{t}"
    );
}

#[test]
fn update_new_records_only_tests_without_a_baseline() {
    let dir = project("pass", "update-new");
    let shapes = dir.join("__memcheck__/shapes.memtest.ts.toml");
    let tampered = std::fs::read_to_string(&shapes)
        .unwrap()
        .replace("new = 200,", "new = 210,")
        .replace("retained_objects = 200", "retained_objects = 210");
    std::fs::write(&shapes, &tampered).unwrap();
    std::fs::write(
        dir.join("fresh.memtest.js"),
        "import { test } from \"memcheck\";\nconst kept = [];\ntest(\"brand new\", () => {\n  for (let i = 0; i < 3; i++) kept.push(new Uint8Array(64));\n});\n",
    )
    .unwrap();
    let out = memcheck(&dir, &["--update=new"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("memcheck: updated __memcheck__/fresh.memtest.js.toml:\n    \"brand new\": recorded (1 block)"),
        "{t}"
    );
    let fresh = std::fs::read_to_string(dir.join("__memcheck__/fresh.memtest.js.toml")).unwrap();
    assert!(fresh.contains("name = \"Uint8Array\", new = 3,"), "{fresh}");
    assert_eq!(
        std::fs::read_to_string(&shapes).unwrap(),
        tampered,
        "an existing baseline is not rewritten"
    );
    assert!(t.contains("improved"), "{t}");
    assert!(dir.join("__memcheck__/shapes.memtest.ts.toml.new").exists());
}

#[test]
fn unreferenced_baselines_are_warned_rejected_ignored_or_deleted() {
    let dir = project("pass", "unreferenced");
    let widgets = dir.join("__memcheck__/widgets.memtest.js.toml");
    let recorded = std::fs::read_to_string(&widgets).unwrap();
    let renamed = recorded.clone()
        + "\n[tests.\"renamed away\".\"b\"]\nretained_objects = 0\nretained_bytes = 0\nfreed_objects = 0\nfreed_bytes = 0\nconstructors = []\n";
    std::fs::write(&widgets, &renamed).unwrap();
    let orphan = dir.join("__memcheck__/deleted.memtest.js.toml");
    std::fs::write(&orphan, &recorded).unwrap();
    let only_shapes = ["--skip", "widgets"];
    let run = |mode: Option<&str>| {
        let mut args = only_shapes.to_vec();
        let flag = mode.map(|m| format!("--unreferenced={m}"));
        args.extend(flag.as_deref());
        let out = memcheck(&dir, &args);
        (out.status.code(), text(&out))
    };
    let entry = "unreferenced entry in __memcheck__/widgets.memtest.js.toml: \"renamed away\" is no test of its file";
    let file =
        "unreferenced file __memcheck__/deleted.memtest.js.toml: its test file no longer exists";

    let (code, t) = run(None);
    assert_eq!(code, Some(0), "warn is the default:\n{t}");
    assert!(t.contains(&format!("memcheck: warning: {entry}")), "{t}");
    assert!(t.contains(&format!("memcheck: warning: {file}")), "{t}");
    assert!(
        t.contains("delete them: cargo memcheck --unreferenced=delete"),
        "{t}"
    );

    let (code, t) = run(Some("ignore"));
    assert_eq!(code, Some(0), "{t}");
    assert!(!t.contains("unreferenced"), "{t}");

    let (code, t) = run(Some("reject"));
    assert_eq!(code, Some(1), "{t}");
    assert!(t.contains(&format!("error: {entry}")), "{t}");
    assert!(
        t.contains("error: 2 unreferenced baseline entries (--unreferenced=reject)"),
        "{t}"
    );
    assert_eq!(std::fs::read_to_string(&widgets).unwrap(), renamed);
    assert!(orphan.exists());

    let (code, t) = run(Some("delete"));
    assert_eq!(code, Some(0), "{t}");
    assert!(t.contains(&format!("memcheck: deleted {entry}")), "{t}");
    assert!(!orphan.exists());
    assert_eq!(std::fs::read_to_string(&widgets).unwrap(), recorded);
    let (code, t) = run(None);
    assert_eq!(code, Some(0), "{t}");
    assert!(!t.contains("unreferenced"), "{t}");
}

/// On Node the pending file is `<file>.node.toml.new`: the names the run
/// printed pick its tests, and the run commands it suggests keep the engine.
#[test]
fn on_node_the_suggested_commands_settle_the_pending_baseline() {
    let dir = project("leak", "node-accept");
    let out = memcheck(&dir, &["--engine", "node"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(
        t.contains(&format!(
            "record it: cargo memcheck --engine node --update --exact '{GROWN}'"
        )),
        "{t}"
    );
    let pending = dir.join("__memcheck__/cache.memtest.js.node.toml.new");
    assert!(pending.exists(), "{t}");

    let out = memcheck(
        &dir,
        &["accept", "--exact", "cache.memtest.js::no such test"],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "nothing matched: {t}");
    assert!(
        t.contains("pending:\n  node:cache.memtest.js::cache stays bounded"),
        "{t}"
    );

    let out = memcheck(&dir, &["accept", "--exact", GROWN]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(!pending.exists(), "{t}");
    let node =
        std::fs::read_to_string(dir.join("__memcheck__/cache.memtest.js.node.toml")).unwrap();
    assert!(
        node.starts_with("# cargo-memcheck baseline for cache.memtest.js.\n"),
        "{node}"
    );
    let out = memcheck(&dir, &["--engine", "node", "--exact", GROWN]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// A test that leaks (or is over a budget) is never recorded, so it offers
/// no command to record it, and says why no pending baseline was left.
#[test]
fn a_leaking_test_offers_no_command_to_record_it() {
    let dir = project("explain", "unrecordable");
    let name = "repeat.memtest.js::memo leaks on every run";
    let out = memcheck(&dir, &["--exact", name]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(!t.contains("--update --exact"), "{t}");
    assert!(
        t.contains("no pending baseline: --update does not record a test while one of its blocks or steps is over its budget or leaks"),
        "{t}"
    );
    assert!(!dir.join("__memcheck__/repeat.memtest.js.toml.new").exists());
}
