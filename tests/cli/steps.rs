//! Steps (`t.checkpoint`) end to end on `tests/fixtures/steps`: the to-do
//! list's three steps counted exactly in the terminal and the JSON on both
//! engines, against committed baselines; an empty step; steps around
//! blocks and a `repeat` block's runs; steps a helper takes; budgets on
//! checkpoints; and each mistake failing its own test with its line.

use serde_json::{Value, json};

use crate::util::*;

const TODOS: &str = "todo list, step by step";

/// `(kind, name)` of each entry of a test's `blocks`, in order.
fn entries(test: &Value) -> Vec<(String, String)> {
    test["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["kind"].as_str().unwrap().to_owned(),
                b["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn todo(new: u64, deleted: u64) -> Vec<(String, u64, u64)> {
    vec![("Todo".to_owned(), new, deleted)]
}

/// The to-do list's steps, as the JSON has them, on `engine`: exact, in
/// order, from checkpoint to checkpoint, and equal to the committed
/// baseline (the run passes in CI).
fn todo_steps_on(engine: &str) {
    let dir = project("steps", &format!("todos-{engine}"));
    let out = memcheck_with(
        &dir,
        &[
            "todos.memtest.js::",
            "--engine",
            engine,
            "--show-output",
            "--json",
            "r.json",
        ],
        &[("CI", "true")],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let report = read_json(&dir.join("r.json"));
    let todos = find(&report, TODOS);
    assert_eq!(todos["engine"], engine);
    assert_eq!(
        entries(todos),
        [("step", "add 100"), ("step", "clear"), ("step", "add 50")]
            .map(|(k, n)| (k.to_owned(), n.to_owned()))
    );
    let add = block(todos, "add 100");
    assert_eq!(rows(add), todo(100, 0));
    assert_eq!(rows(block(todos, "clear")), todo(0, 100));
    assert_eq!(rows(block(todos, "add 50")), todo(50, 0));
    assert_eq!(
        (add["from"].clone(), add["from_line"].clone()),
        (json!("start"), json!(6))
    );
    assert_eq!(add["line"], 8);
    assert_eq!(block(todos, "add 50")["from"], "clear");
    assert_eq!(block(todos, "clear")["budget"], "objects <= 0");
    assert_eq!(block(todos, "clear")["baseline"]["freed_objects"], 100);
    // An empty step is empty.
    let empty = block(find(&report, "an empty step"), "nothing");
    assert_eq!(
        (
            empty["retained_objects"].clone(),
            empty["freed_objects"].clone()
        ),
        (json!(0), json!(0))
    );
    assert_eq!(empty["constructors"], json!([]));

    // The terminal shows the same steps, in the same order.
    let shown = t.split_once("\nsuccesses:\n").map_or("", |(_, s)| s);
    let section = shown
        .split_once(&format!("---- todos.memtest.js::{TODOS} ----\n"))
        .map(|(_, s)| s.split("\n----").next().unwrap())
        .unwrap_or_else(|| panic!("{t}"));
    let mut lines = section
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>());
    for (head, row) in [
        (
            "step \"add 100\":",
            ["Todo", "100", "0", "+100", "4000", "0", "+4000"],
        ),
        (
            "step \"clear\":",
            ["Todo", "0", "100", "-100", "0", "4000", "-4000"],
        ),
        (
            "step \"add 50\":",
            ["Todo", "50", "0", "+50", "2000", "0", "+2000"],
        ),
    ] {
        assert!(
            lines.any(|l| l.join(" ") == head),
            "{head} missing or out of order:\n{section}"
        );
        assert!(
            lines.any(|l| l == row),
            "{row:?} missing under {head}:\n{section}"
        );
    }
}

#[test]
fn a_todo_list_in_three_steps_counts_exactly_on_deno() {
    todo_steps_on("deno");
}

#[test]
fn a_todo_list_in_three_steps_counts_exactly_on_node() {
    todo_steps_on("node");
}

#[test]
fn steps_run_around_blocks_and_a_repeat_blocks_runs_are_steps_too() {
    let dir = project("steps", "around");
    let out = memcheck_with(
        &dir,
        &["todos.memtest.js::", "--json", "r.json"],
        &[("CI", "true")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = read_json(&dir.join("r.json"));
    let around = find(&report, "steps around blocks");
    let expected = [
        ("block", "add 10"),
        ("step", "after the block"),
        ("block", "replace"),
        ("run", "replace › run 1"),
        ("run", "replace › run 2"),
        ("run", "replace › run 3"),
        ("step", "end"),
    ];
    assert_eq!(
        entries(around),
        expected.map(|(k, n)| (k.to_owned(), n.to_owned()))
    );
    assert_eq!(rows(block(around, "add 10")), todo(10, 0));
    // The step from "start" counts the block's objects too.
    assert_eq!(rows(block(around, "after the block")), todo(10, 0));
    assert_eq!(block(around, "after the block")["from"], "start");
    for run in 1..=3 {
        let r = block(around, &format!("replace › run {run}"));
        assert_eq!(rows(r), todo(1, 1), "run {run}");
        assert_eq!(r["run_of"], "replace");
        assert!(r.get("baseline").is_none(), "runs have no baseline: {r}");
    }
    assert_eq!(rows(block(around, "end")), todo(1, 10));
    // Runs stay out of the baseline: only blocks and steps are recorded.
    let baseline = std::fs::read_to_string(dir.join("__memcheck__/todos.memtest.js.toml")).unwrap();
    assert!(
        baseline.contains("[tests.\"steps around blocks\".\"end\"]"),
        "{baseline}"
    );
    assert!(!baseline.contains("run 1"), "{baseline}");

    // A helper's checkpoints, from a test whose body names neither call
    // (measured whole until its first checkpoint).
    let helper = find(&report, "steps taken by a helper");
    assert_eq!(
        entries(helper),
        [("step", "3 added"), ("step", "4 added")].map(|(k, n)| (k.to_owned(), n.to_owned()))
    );
    assert_eq!(rows(block(helper, "3 added")), todo(3, 0));
    assert_eq!(rows(block(helper, "4 added")), todo(4, 0));
}

#[test]
fn mistakes_with_checkpoints_fail_their_own_test_naming_the_line() {
    let dir = project("steps", "mistakes");
    memcheck(&dir, &["mistakes.memtest.js::", "--update"]);
    let out = memcheck(&dir, &["mistakes.memtest.js::", "--json", "r.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    for expected in [
        "t.checkpoint(\"end\") at mistakes.memtest.js:5 was called while checkpoint \"start\" (mistakes.memtest.js:4) was being taken; await each t.measure and t.checkpoint before the next (is an `await` missing?)",
        "checkpoint \"end\" was started but the test returned before it finished — is `await t.checkpoint(...)` missing? (mistakes.memtest.js:10)",
        "t.checkpoint(\"alone\") at mistakes.memtest.js:14 is the test's only checkpoint: a step runs from one checkpoint to the next; add `await t.checkpoint(label)` after the code to measure",
        "t.checkpoint(\"fill\") at mistakes.memtest.js:20: the name is already used in this test, by t.measure at mistakes.memtest.js:19; give every block and step a name of its own (names key the baseline)",
        "t.checkpoint(\"start\") at mistakes.memtest.js:24 is the test's first checkpoint: it closes no step, so its budget applies to nothing",
        "t.checkpoint(\"start\") at mistakes.memtest.js:29: this test measures allocated bytes, which only t.measure blocks can",
        "t.checkpoint(\"inner\") at mistakes.memtest.js:35 was called while block \"outer\" (mistakes.memtest.js:34) ran",
        "t.checkpoint(\"late\") at mistakes.memtest.js:40 was called after test \"takes a checkpoint after it ended\" had ended; await it inside the test body",
    ] {
        assert!(t.contains(expected), "missing {expected:?} in:\n{t}");
    }
    let report = read_json(&dir.join("r.json"));
    assert_eq!(
        find(&report, "still passes beside the mistakes")["status"],
        "passed",
        "{t}"
    );
    // A budget on a checkpoint holds the step it closes, and --update
    // cannot accept a step over it.
    let kept = find(&report, "keeps more than its step's budget");
    assert_eq!(kept["status"], "failed");
    assert_eq!(
        block(kept, "keep 10")["failures"][0],
        "budget: 10 retained objects > 5"
    );
    assert!(
        t.contains("step \"keep 10\":\n  budget: 10 retained objects > 5"),
        "{t}"
    );
    assert!(
        t.contains("--update cannot accept a step over budget"),
        "{t}"
    );
}
