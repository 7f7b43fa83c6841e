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

/// The lines of `out` that are GitHub annotations (memcheck's other
/// workflow commands, the stop-commands region, are left out).
fn workflow_commands(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.starts_with("::error ") || l.starts_with("::warning "))
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

/// The lines GitHub's runner would take for workflow commands in `out`, in
/// order, as its parser reads them: a line (ended by `\n` or `\r`) that
/// starts with `::NAME…::` after blanks, else one that holds `##[NAME]`
/// anywhere (any name counts here, which is stricter than the runner).
/// With `honour_stops`, after `::stop-commands::TOKEN` only `::TOKEN::`
/// is read, as the runner does.
fn runner_reads(out: &[u8], honour_stops: bool) -> Vec<String> {
    let text = String::from_utf8_lossy(out);
    let mut stopped: Option<String> = None;
    let mut read = Vec::new();
    for line in text.split(['\n', '\r']) {
        let Some((name, data)) = command_in(line) else {
            continue;
        };
        match &stopped {
            Some(token) if name.eq_ignore_ascii_case(token) => stopped = None,
            Some(_) => continue,
            None if honour_stops && name.eq_ignore_ascii_case("stop-commands") => {
                stopped = Some(data.to_owned());
            }
            None => {}
        }
        read.push(line.trim_start().to_owned());
    }
    read
}

/// A workflow command's name and data, if `line` holds one.
fn command_in(line: &str) -> Option<(&str, &str)> {
    let current = line.trim_start().strip_prefix("::").and_then(|rest| {
        let (info, data) = rest.split_once("::")?;
        let name = info.split(' ').next().unwrap_or_default();
        (!name.is_empty()).then_some((name, data))
    });
    current.or_else(|| {
        let at = line.find("##[")?;
        let (info, data) = line[at + 3..].split_once(']')?;
        Some((info.split(' ').next().unwrap_or_default(), data))
    })
}

/// The commands of a GitHub run are memcheck's own: a stop-commands
/// region around everything the tests control, then one annotation per
/// failing test; returns the region's token.
fn only_memchecks_own_commands(out: &std::process::Output, failing: usize) -> String {
    let all = text(out);
    // Even without the region, no line of the tests' text is a command.
    let read = runner_reads(&out.stdout, false);
    let (first, rest) = read.split_first().expect("some commands");
    let token = first
        .strip_prefix("::stop-commands::")
        .unwrap_or_else(|| panic!("the run starts by stopping commands: {read:#?}\n{all}"));
    assert!(token.len() >= 16, "a guessable token: {token}");
    assert_eq!(
        rest.first(),
        Some(&format!("::{token}::")),
        "{read:#?}\n{all}"
    );
    let annotations = &rest[1..];
    assert_eq!(annotations.len(), failing, "{read:#?}\n{all}");
    for a in annotations {
        assert!(a.starts_with("::error file="), "{a}\n{all}");
    }
    // The runner, stopping where memcheck asks, reads the same.
    assert_eq!(runner_reads(&out.stdout, true), read, "{all}");
    assert_eq!(
        runner_reads(&out.stderr, true),
        Vec::<String>::new(),
        "{all}"
    );
    assert_eq!(
        runner_reads(&out.stderr, false),
        Vec::<String>::new(),
        "{all}"
    );
    token.to_owned()
}

/// Run `filter`'s tests of `tests/fixtures/hostile` under GitHub: they
/// fail, their commands are memcheck's own; stdout and the region's token.
fn hostile_on_github(tag: &str, filter: &str, failing: usize) -> (String, String) {
    let dir = project("hostile", tag);
    let out = memcheck_with(&dir, &[filter], &[("GITHUB_ACTIONS", "true")]);
    assert_eq!(out.status.code(), Some(101), "{}", text(&out));
    let token = only_memchecks_own_commands(&out, failing);
    (String::from_utf8_lossy(&out.stdout).into_owned(), token)
}

fn shows(stdout: &str, texts: &[&str]) {
    for shown in texts {
        assert!(stdout.contains(shown), "missing {shown:?} in:\n{stdout}");
    }
}

#[test]
fn github_runs_no_command_that_a_test_prints() {
    let (stdout, _) = hostile_on_github("gh-prints", "commands.memtest.js::prints", 1);
    // What the test printed is all there, escaped and disarmed.
    shows(
        &stdout,
        &[
            "--- output ---\n\\u{3a}:error::printed-pwned\n",
            "\n  \\u{3a}:add-mask::printed-secret\n",
            "\nprogress\\r::warning::after-a-carriage-return\n",
            "\ntext \\u{23}#[error]older-form-pwned\n",
            "\n\\u{1b}[35mmagenta\\u{1b}[0m and a bell\\u{7}\n",
            "\n\\u{3a}:stop-commands::printed-token\n",
        ],
    );
}

#[test]
fn github_runs_no_command_that_a_test_throws() {
    let filter = "commands.memtest.js::throws";
    let (stdout, token) = hostile_on_github("gh-throws", filter, 1);
    shows(
        &stdout,
        &[
            "the test threw: Error: first line\n\\u{3a}:error::thrown-pwned\n\\u{3a}:stop-commands::thrown-token\n",
        ],
    );
    // Each run stops commands with a token of its own.
    let (_, again) = hostile_on_github("gh-throws-again", filter, 1);
    assert_ne!(again, token);
}

#[test]
fn github_runs_no_command_that_a_class_name_holds() {
    let (stdout, _) = hostile_on_github("gh-classes", "commands.memtest.js::keeps", 1);
    // In the table, the retainer paths and the allocation sites: one line
    // each, escaped.
    shows(
        &stdout,
        &[
            "\n    X\\n::error::class-pwned   ",
            "\n    X\\n::error::class-pwned ×5: (module commands.memtest.js) ::kept → Array [i] → X\\n::error::class-pwned\n",
            "\n    a\\n::add-mask::class-secret ×5: (anonymous) (commands.memtest.js:",
            "\n    Red\\u{1b}[31mClass\\u{7}   ",
        ],
    );
}

#[test]
fn github_lists_tests_inside_a_stop_commands_region() {
    let dir = project("hostile", "gh-list");
    std::fs::write(
        dir.join("::error::listed.memtest.js"),
        "import { test } from \"memcheck\";\ntest(\"t\", () => {});\n",
    )
    .unwrap();
    let out = memcheck_with(&dir, &["--list", "listed"], &[("GITHUB_ACTIONS", "true")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // libtest prints the name as it is: only the region keeps the runner
    // from reading it.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("\n::error::listed.memtest.js::t: test\n"),
        "{stdout}"
    );
    let read = runner_reads(&out.stdout, true);
    assert_eq!(read.len(), 2, "{read:#?}");
    let token = read[0].strip_prefix("::stop-commands::").expect("stopped");
    assert_eq!(read[1], format!("::{token}::"));
}

#[test]
fn a_file_name_with_a_newline_is_shown_escaped_and_fails_clearly() {
    let dir = project("hostile", "gh-newline-file");
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(
        dir.join("sub/new\n::error::file-pwned.memtest.js"),
        "import { test } from \"memcheck\";\ntest(\"in a file with a newline in its name\", () => {});\n",
    )
    .unwrap();
    let out = memcheck_with(
        &dir,
        &["sub/", "--json", "r.json"],
        &[("GITHUB_ACTIONS", "true")],
    );
    assert_eq!(out.status.code(), Some(101), "{}", text(&out));
    only_memchecks_own_commands(&out, 1);
    let t = text(&out);
    let shown = "sub/new\\n::error::file-pwned.memtest.js";
    assert!(
        t.contains(&format!("test {shown} ... FAILED")),
        "the file's trial is not named escaped:\n{t}"
    );
    assert!(
        t.contains(&format!(
            "{shown} cannot be loaded: Deno loses the newline, tab or carriage return in its name on the way to the module's URL; rename the file"
        )),
        "{t}"
    );
    assert!(
        !t.contains("sub/new\n"),
        "a raw newline in a file name:\n{t}"
    );
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

#[test]
fn junit_names_are_the_jsons_as_far_as_xml_can_carry_them() {
    let dir = project("hostile", "junit-names");
    let out = memcheck(
        &dir,
        &[
            "commands.memtest.js::",
            "--junit",
            "j.xml",
            "--json",
            "r.json",
        ],
    );
    assert_eq!(out.status.code(), Some(101), "{}", text(&out));
    let xml = std::fs::read_to_string(dir.join("j.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let junit: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter_map(|c| c.attribute("name"))
        .collect();
    let report = read_json(&dir.join("r.json"));
    // XML 1.0 cannot hold a BEL at all: it is written out, never dropped.
    let json: Vec<String> = report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().replace('\u{7}', "\\u{7}"))
        .collect();
    assert_eq!(junit, json, "{xml}");
    assert!(junit.contains(&"two\nlines \\u{7} bell"), "{xml}");
}
