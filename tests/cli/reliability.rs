//! The second adversarial round: no baseline write goes through a planted
//! link, two runs at once keep every entry, a late error blames the test
//! that left work behind, and bad input is refused in words.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::*;

fn message(report: &serde_json::Value, name: &str) -> String {
    find(report, name)["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The tests of a report, as (engine, name, status).
fn statuses(report: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut all: Vec<_> = report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["engine"].as_str().unwrap_or_default().to_owned(),
                t["name"].as_str().unwrap().to_owned(),
                t["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    all.sort();
    all
}

#[test]
fn a_late_error_is_charged_to_the_test_that_left_work_pending() {
    let dir = project("late", "charged");
    let out = memcheck(&dir, &["--update", "--json", "r.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    let report = read_json(&dir.join("r.json"));
    let mut expected = Vec::new();
    for engine in ["deno", "node"] {
        for (name, status) in [
            ("innocent while a promise rejects", "passed"),
            ("innocent while a timer throws", "passed"),
            ("its own rejection", "failed"),
            ("leaves a promise that rejects", "failed"),
            ("leaves a timer that throws", "failed"),
        ] {
            expected.push((engine.to_owned(), name.to_owned(), status.to_owned()));
        }
    }
    assert_eq!(statuses(&report), expected, "{t}");
    for (engine, culprit, error, innocent) in [
        (
            "deno",
            "leaves a timer that throws",
            "late timer",
            "innocent while a timer throws",
        ),
        (
            "node",
            "leaves a timer that throws",
            "late timer",
            "innocent while a timer throws",
        ),
        (
            "deno",
            "leaves a promise that rejects",
            "late rejection",
            "innocent while a promise rejects",
        ),
        (
            "node",
            "leaves a promise that rejects",
            "late rejection",
            "innocent while a promise rejects",
        ),
    ] {
        let full = format!("{engine}:late.memtest.js::{culprit}");
        let section = t
            .split(&format!("---- {full} ----\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no failure for {full}:\n{t}"));
        let first = section.lines().next().unwrap();
        assert!(first.contains(&format!("Error: {error}, after this test had ended (it surfaced while \"{innocent}\" ran in the same process, which passes on its own)")), "{first}");
    }
    assert!(
        message(&report, "its own rejection").contains("own rejection"),
        "{t}"
    );
    assert!(!t.contains("no test was charged"), "{t}");
}

#[test]
fn a_replaced_builtin_costs_nothing_to_the_harness() {
    let dir = project("reliability", "push");
    let out = memcheck(&dir, &["--update", "push", "--json", "r.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let report = read_json(&dir.join("r.json"));
    for test in report["tests"].as_array().unwrap() {
        let name = test["name"].as_str().unwrap();
        let expected = if name == "runs after it" { 20 } else { 10 };
        assert_eq!(
            news(block(test, "widgets")),
            [("Widget".to_owned(), expected)],
            "{name} on {}",
            test["engine"]
        );
    }
}

#[test]
fn a_test_that_never_settles_says_so_on_both_engines() {
    let dir = project("reliability", "stall");
    let out = memcheck(&dir, &["stall", "--json", "r.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    let report = read_json(&dir.join("r.json"));
    for test in report["tests"].as_array().unwrap() {
        assert_eq!(
            test["message"].as_str().unwrap(),
            "block \"stalls\" never finished: it awaits a promise that nothing is left to settle (no timer, no I/O), so the runtime stopped",
            "on {}",
            test["engine"]
        );
    }
}

/// A file the user can write, outside the project, that a planted link
/// points at.
fn victim(tag: &str) -> std::path::PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("victim-{tag}.sh"));
    std::fs::write(&path, "echo safe\n").unwrap();
    path
}

#[test]
fn no_baseline_is_written_through_a_planted_link() {
    let dir = project("reliability", "planted");
    let target = victim("planted");
    let folder = dir.join("__memcheck__");
    std::fs::create_dir_all(&folder).unwrap();
    // The names the old writer used for its temporary files.
    for name in [
        "pair.memtest.js.toml.tmp",
        "pair.memtest.js.toml.new.tmp",
        "pair.memtest.js.node.toml.tmp",
        "pair.memtest.js.node.toml.new.tmp",
    ] {
        std::os::unix::fs::symlink(&target, folder.join(name)).unwrap();
    }
    // A plain run leaves pending files; --update writes baselines.
    let out = memcheck(&dir, &["pair"]);
    assert_eq!(out.status.code(), Some(101), "{}", text(&out));
    assert!(folder.join("pair.memtest.js.toml.new").is_file());
    let out = memcheck(&dir, &["--update", "pair"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "echo safe\n");
    let baseline = folder.join("pair.memtest.js.toml");
    assert!(!baseline.is_symlink());
    assert!(
        std::fs::read_to_string(&baseline)
            .unwrap()
            .contains("[tests.\"second\".\"widgets\"]")
    );
    // No temporary file is left behind.
    let left: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".memcheck-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // A baseline that is itself a link is refused, not read or replaced.
    std::fs::remove_file(&baseline).unwrap();
    std::os::unix::fs::symlink(&target, &baseline).unwrap();
    let out = memcheck(&dir, &["--update", "pair"]);
    let t = text(&out);
    assert_ne!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("pair.memtest.js.toml is a symbolic link"), "{t}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "echo safe\n");
}

#[test]
fn a_linked_memcheck_folder_is_refused() {
    let dir = project("reliability", "linked-folder");
    let outside = Path::new(env!("CARGO_TARGET_TMPDIR")).join("outside-baselines");
    let _ = std::fs::remove_dir_all(&outside);
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("__memcheck__")).unwrap();
    for args in [&["pair"][..], &["--update", "pair"]] {
        let out = memcheck(&dir, args);
        let t = text(&out);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {t}");
        assert!(
            t.contains("__memcheck__ is a symbolic link: baselines are read and written only as real files in a real `__memcheck__` folder"),
            "{args:?}: {t}"
        );
        assert!(
            !t.contains("pending baseline: "),
            "no pending file is promised: {t}"
        );
    }
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn two_updates_at_once_keep_both_tests() {
    let dir = project("reliability", "concurrent");
    let baseline = dir.join("__memcheck__/pair.memtest.js.toml");
    for round in 0..3 {
        let _ = std::fs::remove_file(&baseline);
        let spawn = |test: &str| {
            provision();
            Command::new(BIN)
                .args([
                    "memcheck",
                    "--update",
                    "--engine",
                    "deno",
                    "--exact",
                    &format!("pair.memtest.js::{test}"),
                ])
                .current_dir(&dir)
                .env_remove("CI")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        let mut first = spawn("first");
        let mut second = spawn("second");
        assert!(first.wait().unwrap().success());
        assert!(second.wait().unwrap().success());
        let text = std::fs::read_to_string(&baseline).unwrap();
        for test in ["first", "second"] {
            assert!(
                text.contains(&format!("[tests.\"{test}\".\"widgets\"]")),
                "round {round}: {test} lost:\n{text}"
            );
        }
    }
}

#[test]
fn bad_input_is_refused_in_words() {
    let dir = project("reliability", "refused");
    let out = memcheck(&dir, &["--test-threads", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--test-threads must be at least 1"));

    for (pattern, why) in [
        ("../**/*.memtest.js", "climbs out of the project with `..`"),
        ("/tmp/**/*.memtest.js", "is an absolute path"),
    ] {
        std::fs::write(
            dir.join("memcheck.toml"),
            format!("include = [\"{pattern}\"]\n"),
        )
        .unwrap();
        let out = memcheck(&dir, &[]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{t}");
        assert!(t.contains("memcheck.toml:1:12: include pattern"), "{t}");
        assert!(t.contains(why), "{t}");
    }
}

#[test]
fn a_constructor_listed_twice_is_a_corrupt_baseline() {
    let dir = project("reliability", "duplicate-row");
    let out = memcheck(&dir, &["--update", "--engine", "deno", "pair"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let path = dir.join("__memcheck__/pair.memtest.js.toml");
    let text_before = std::fs::read_to_string(&path).unwrap();
    let row = "  { name = \"Widget\", new = 10, deleted = 0, size_delta = 240 },\n";
    assert!(text_before.contains(row), "{text_before}");
    let doubled = text_before.replacen(row, &format!("{row}{row}"), 1);
    std::fs::write(&path, &doubled).unwrap();
    let line = doubled[..doubled.find(row).unwrap() + row.len()]
        .matches('\n')
        .count()
        + 1;
    let out = memcheck(&dir, &["--engine", "deno", "pair"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(
        t.contains(&format!("is corrupt: line {line}: constructor \"Widget\" is listed twice in block \"widgets\" of test \"first\"")),
        "{t}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        doubled,
        "left alone"
    );
}

#[test]
fn accept_settles_its_file_and_names_a_corrupt_other_one() {
    let dir = project("reliability", "corrupt-pending");
    // Pending files for pair.memtest.js (no baseline yet)...
    let out = memcheck(&dir, &["--engine", "deno", "pair"]);
    assert_eq!(out.status.code(), Some(101), "{}", text(&out));
    // ...and an unrelated one that does not parse.
    let bad = dir.join("__memcheck__/push.memtest.js.toml.new");
    std::fs::write(&bad, "runtime = \n").unwrap();
    let out = memcheck(&dir, &["accept", "pair.memtest.js::first"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("accepted into __memcheck__/pair.memtest.js.toml"),
        "{t}"
    );
    assert!(t.contains("skipped: pending baseline"), "{t}");
    assert!(t.contains("push.memtest.js.toml.new is corrupt"), "{t}");
    assert!(
        t.contains("delete it (rm ") && !t.contains("never overwritten by a plain run"),
        "{t}"
    );
    let out = memcheck(&dir, &["reject", "pair.memtest.js::second"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("rejected the pending baseline of pair.memtest.js::second"),
        "{t}"
    );
    assert!(!dir.join("__memcheck__/pair.memtest.js.toml.new").exists());
    assert!(bad.exists(), "the corrupt file is left alone");
}
