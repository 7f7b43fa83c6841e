//! Where CI users look: JUnit XML, GitHub annotations and step summary,
//! the Markdown summary, partitions, and colour.

use std::collections::BTreeSet;
use std::path::Path;

use crate::util::*;

const GROWN: &str = "cache.memtest.js::cache stays bounded";

#[test]
fn junit_has_a_testcase_per_test_with_failure_output_and_time() {
    let dir = project("leak", "junit");
    let out = memcheck(&dir, &["--junit", "junit.xml"]);
    assert_eq!(out.status.code(), Some(101), "{}", text(&out));
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let cases: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let names: Vec<&str> = cases.iter().filter_map(|c| c.attribute("name")).collect();
    assert_eq!(names, ["cache stays bounded", "over budget"], "{xml}");
    for case in &cases {
        assert_eq!(case.attribute("classname"), Some("cache.memtest.js"));
        let time: f64 = case.attribute("time").unwrap().parse().unwrap();
        assert!(time > 0.0, "{xml}");
    }
    let failure = cases[0]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("a failure element");
    assert_eq!(
        failure.attribute("message"),
        Some("block \"insert\": retained objects: 150 > baseline 100 (tolerance 0)")
    );
    let full = failure.text().unwrap_or_default();
    assert!(full.contains("CacheEntry new: 150 > baseline 100"), "{xml}");
    assert!(full.contains("+retained_objects = 150"), "{xml}");
    let system_out = cases[0]
        .children()
        .find(|n| n.has_tag_name("system-out"))
        .and_then(|n| n.text())
        .unwrap_or_default();
    assert!(system_out.contains("cache holds 150 entries"), "{xml}");
    let over = cases[1]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert!(
        over.attribute("message")
            .unwrap()
            .contains("budget: CacheEntry new 50 > 10"),
        "{xml}"
    );
}

/// The lines of `out` that are GitHub workflow commands.
fn workflow_commands(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.starts_with("::"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn github_annotates_each_failing_block_and_appends_the_summary() {
    let dir = project("leak", "gh");
    let summary = dir.join("summary.md");
    std::fs::write(&summary, "# earlier step\n").unwrap();
    let workspace = dir.parent().unwrap();
    let env = [
        ("GITHUB_ACTIONS", Path::new("true")),
        ("GITHUB_STEP_SUMMARY", summary.as_path()),
        ("GITHUB_WORKSPACE", workspace),
    ];
    let out = memcheck_with(&dir, &["--markdown", "comment.md"], &env);
    assert_eq!(out.status.code(), Some(101), "{}", text(&out));
    let commands = workflow_commands(&out.stdout);
    assert_eq!(commands.len(), 2, "{commands:#?}");
    let file = "leak-gh/cache.memtest.js";
    let grown = &commands[0];
    assert!(
        grown.starts_with(&format!(
            "::error file={file},line=14,title=memcheck%3A cache.memtest.js%3A%3Acache stays bounded › insert::block \"insert\":%0A  retained objects: 150 > baseline 100"
        )),
        "{grown}"
    );
    assert!(
        grown.contains("%0A  CacheEntry new: 150 > baseline 100"),
        "{grown}"
    );
    assert!(grown.contains("(tolerance 5%25)"), "{grown}");
    // A whole-body block is annotated at its test's line.
    assert!(
        commands[1].starts_with(&format!(
            "::error file={file},line=20,title=memcheck%3A cache.memtest.js%3A%3Aover budget::block \"over budget\":%0A  budget: CacheEntry new 50 > 10"
        )),
        "{}",
        commands[1]
    );

    let appended = std::fs::read_to_string(&summary).unwrap();
    let md = appended.strip_prefix("# earlier step\n").expect("appended");
    assert!(md.contains("### cargo memcheck: FAILED"), "{md}");
    assert!(
        md.contains("| ❌ | cache.memtest.js::cache stays bounded | insert | 150 (baseline 100, +50) | 4.69 KiB (baseline 3.12 KiB, +1.56 KiB) | CacheEntry +50 |  |"),
        "{md}"
    );
    assert!(
        md.contains("| ❌ | cache.memtest.js::over budget | over budget | 50 (no baseline) |"),
        "{md}"
    );
    assert!(md.contains("| CacheEntry &lt;= 10 |"), "{md}");
    assert!(md.contains("0 passed; 2 failed; 0 ignored"), "{md}");
    // --markdown writes the same summary, for a pull-request comment.
    assert_eq!(std::fs::read_to_string(dir.join("comment.md")).unwrap(), md);
}

#[test]
fn annotation_paths_fall_back_to_the_git_root() {
    let dir = project("leak", "ghroot");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::rename(
        dir.join("cache.memtest.js"),
        dir.join("sub/cache.memtest.js"),
    )
    .unwrap();
    std::fs::rename(dir.join("__memcheck__"), dir.join("sub/__memcheck__")).unwrap();
    std::fs::create_dir(dir.join(".git")).unwrap();
    let out = memcheck(
        &dir.join("sub"),
        &["--github", "--exact", &format!("sub/{GROWN}")],
    );
    assert_eq!(out.status.code(), Some(101), "{}", text(&out));
    let commands = workflow_commands(&out.stdout);
    assert_eq!(commands.len(), 1, "{commands:#?}");
    assert!(
        commands[0].starts_with("::error file=sub/cache.memtest.js,line=14,"),
        "{}",
        commands[0]
    );
    // Without GitHub, no workflow command is printed.
    let out = memcheck(&dir, &["--exact", &format!("sub/{GROWN}")]);
    assert_eq!(workflow_commands(&out.stdout), Vec::<String>::new());
}

/// The tests `--list` prints.
fn listed(dir: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["--list"];
    all.extend_from_slice(args);
    let out = memcheck(dir, &all);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_shards_of_a_partition_cover_every_test_once() {
    let dir = project("shards", "cover");
    let all = listed(&dir, &[]);
    assert_eq!(all.len(), 15, "{all:?}");
    for kind in ["hash", "count"] {
        let mut seen = Vec::new();
        for m in 1..=4 {
            seen.extend(listed(&dir, &["--partition", &format!("{kind}:{m}/4")]));
        }
        seen.sort();
        let mut expected = all.clone();
        expected.sort();
        assert_eq!(seen, expected, "{kind}");
    }
    // count deals round-robin, after the filter.
    assert_eq!(
        listed(&dir, &["b.memtest.js", "--partition", "count:2/2"]),
        ["b.memtest.js::b2", "b.memtest.js::b4"]
    );
    // hash is stable: a new test moves no other test to another shard.
    let before: BTreeSet<String> = listed(&dir, &["--partition", "hash:2/3"])
        .into_iter()
        .collect();
    std::fs::write(
        dir.join("d.memtest.js"),
        "import { test } from \"memcheck\";\ntest(\"d1\", () => {});\ntest(\"d2\", () => {});\n",
    )
    .unwrap();
    let after: BTreeSet<String> = listed(&dir, &["--partition", "hash:2/3"])
        .into_iter()
        .collect();
    assert!(before.is_subset(&after), "{before:?} vs {after:?}");

    let out = memcheck(&dir, &["--partition", "hash:0/3"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("write hash:M/N or count:M/N"),
        "{}",
        text(&out)
    );
}

#[test]
fn tests_of_other_shards_count_as_filtered_out() {
    let dir = project("pass", "shard");
    let out = memcheck(&dir, &["--partition", "count:2/2", "--json", "r.json"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("test result: ok. 1 passed; 0 failed; 1 ignored; 0 measured; 2 filtered out"),
        "{t}"
    );
    assert!(
        t.lines().any(
            |l| l.starts_with("test widgets.memtest.js::keeps 1000 widgets ")
                && l.ends_with("... ok")
        ),
        "{t}"
    );
    let report = read_json(&dir.join("r.json"));
    let names: Vec<&str> = report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["keeps 1000 widgets", "skipped unless asked"]);
}

#[test]
fn colour_follows_the_flag_then_the_environment() {
    let dir = project("leak", "color");
    let red_line = "\u{1b}[31m-retained_objects = 100";
    let run = |args: &[&str], env: &[(&str, &Path)]| {
        let mut all = vec!["--exact", GROWN];
        all.extend_from_slice(args);
        let out = memcheck_with(&dir, &all, env);
        assert_eq!(out.status.code(), Some(101), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let always = run(&["--color", "always"], &[]);
    assert!(always.contains(red_line), "{always}");
    assert!(
        always.contains("\u{1b}[32m+retained_objects = 150"),
        "{always}"
    );
    let plain = run(&[], &[]);
    assert!(!plain.contains('\u{1b}'), "a pipe gets no colour:\n{plain}");
    assert!(plain.contains("    -retained_objects = 100\n"), "{plain}");
    let forced = run(&[], &[("CLICOLOR_FORCE", Path::new("1"))]);
    assert!(forced.contains(red_line), "{forced}");
    let cargo = run(&[], &[("CARGO_TERM_COLOR", Path::new("always"))]);
    assert!(cargo.contains(red_line), "{cargo}");
    let never = run(
        &["--color", "never"],
        &[("CARGO_TERM_COLOR", Path::new("always"))],
    );
    assert!(!never.contains('\u{1b}'), "{never}");
    let json_report = dir.join("r.json");
    run(&["--color", "always", "--json", "r.json"], &[]);
    let json = std::fs::read_to_string(json_report).unwrap();
    assert!(!json.contains("\\u001b"), "{json}");
}

#[test]
fn escape_sequences_a_test_controls_never_reach_the_terminal() {
    let dir = project("hostile", "color-escapes");
    let out = memcheck(&dir, &["commands.memtest.js::", "--color", "always"]);
    assert_eq!(out.status.code(), Some(101), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Colour is on: libtest's own.
    assert!(stdout.contains("\u{1b}[31mFAILED"), "{stdout}");
    for shown in [
        "Red\\u{1b}[31mClass\\u{7}",
        "\\u{1b}[35mmagenta\\u{1b}[0m and a bell\\u{7}",
        "two\\nlines \\u{7} bell",
    ] {
        assert!(stdout.contains(shown), "missing {shown:?} in:\n{stdout}");
    }
    for raw in [
        "Red\u{1b}",
        "\u{1b}[35m",
        "\u{7}",
        "two\nlines",
        "X\n::error",
    ] {
        assert!(
            !stdout.contains(raw),
            "{raw:?} reached the terminal:\n{stdout}"
        );
    }
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\u{1b}'));
}
