//! The HTML report in a real browser: the binary runs `tests/fixtures/html`
//! (blocks) and `tests/fixtures/steps` (`t.checkpoint` steps) with
//! `--html`, headless Chromium renders the pages, and the tests read the
//! DOM it rendered (steps, Comparison rows, annotated source lines) against
//! the `--json` report of the same run, and the page's own record of errors
//! and requests (`data-problems`, `data-requests` on `<html>`), and
//! Chromium's console log.
//!
//! Chromium is found through `MEMCHECK_CHROMIUM` or as `chromium` on PATH;
//! without it these tests fail, naming the command that installs it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use crate::util::{BIN, copy_dir};

const INSTALL: &str = "apt-get install -y chromium";
const PASSING: &str = "todos come and go";
const FAILING: &str = "over budget </script><img src=x onerror=alert(1)>";

/// One run of a fixture with `--html`, `--json` and `--snapshots`.
struct Run {
    dir: PathBuf,
    report: Value,
    page: PathBuf,
}

/// The HTML fixture, shared by the tests: one test is over its budget.
fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| fixture_run("html", &[], 101))
}

/// The steps fixture's to-do list file: `t.checkpoint` steps, blocks and a
/// `repeat` block's runs; it passes against its committed baselines.
fn steps_run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| fixture_run("steps", &["todos.memtest.js::"], 0))
}

fn fixture_run(fixture: &str, filter: &[&str], code: i32) -> Run {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("html-report-{fixture}"));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(fixture),
        &dir,
    );
    std::fs::create_dir_all(dir.join("out")).unwrap();
    let args = [
        "memcheck",
        "--trace-allocations",
        "--json",
        "report.json",
        "--snapshots",
        "snaps",
        "--html",
        "out/report.html",
    ];
    let out = Command::new(BIN)
        .args(args)
        .args(filter)
        .current_dir(&dir)
        .env_remove("CI")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{log}");
    assert!(
        log.contains("HTML report written to out/report.html"),
        "{log}"
    );
    let report =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let page = dir.join("out/report.html");
    Run { dir, report, page }
}

fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("MEMCHECK_CHROMIUM") {
        return PathBuf::from(path);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the HTML report tests need Chromium: install it ({INSTALL}) or set MEMCHECK_CHROMIUM to its binary"
            )
        })
}

/// The DOM of `page#fragment` once its script ran, after checking that the
/// page drew itself, met no error and made no request.
fn render(page: &Path, fragment: &str) -> String {
    static PROFILE: AtomicUsize = AtomicUsize::new(0);
    let profile = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "chromium-profile-{}",
        PROFILE.fetch_add(1, Ordering::Relaxed)
    ));
    let url = format!("file://{}#{fragment}", page.display());
    let out = Command::new(chromium())
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
        ])
        .args([
            "--virtual-time-budget=5000",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(&url)
        .output()
        .unwrap_or_else(|e| panic!("cannot run Chromium ({INSTALL}): {e}"));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "Chromium failed on {url}: {log}");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let root = start_tag(&dom, "<html").unwrap_or_else(|| panic!("no <html> in {dom}"));
    assert!(
        root.contains(r#"data-ready="true""#),
        "the page did not draw: {root}\n{log}"
    );
    assert!(
        root.contains(r#"data-problems="[]""#),
        "errors on {url}: {root}"
    );
    assert!(
        root.contains(r#"data-requests="[]""#),
        "requests from {url}: {root}"
    );
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console output on {url}: {console:#?}");
    without_code(&dom)
}

/// The DOM without its `<script>` and `<style>` elements (the page's code,
/// data and styles), so that searches see only what was drawn.
fn without_code(dom: &str) -> String {
    let mut out = String::new();
    let mut rest = dom;
    loop {
        let next = ["script", "style"]
            .iter()
            .filter_map(|tag| rest.find(&format!("<{tag}")).map(|at| (at, *tag)))
            .min();
        let Some((start, tag)) = next else {
            return out + rest;
        };
        out.push_str(&rest[..start]);
        let close = format!("</{tag}>");
        let end = rest[start..].find(&close).expect("closed") + start;
        rest = &rest[end + close.len()..];
    }
}

/// The start tag that begins with `open`.
fn start_tag<'a>(html: &'a str, open: &str) -> Option<&'a str> {
    let at = html.find(open)?;
    Some(&html[at..at + html[at..].find('>')? + 1])
}

/// Every element whose start tag contains `marker` (an attribute, not the
/// tag's `<`), as outer HTML.
fn elements<'a>(html: &'a str, marker: &str) -> Vec<&'a str> {
    assert!(!marker.starts_with('<'), "{marker}: name an attribute");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = html[from..].find(marker) {
        let at = from + found;
        from = at + marker.len();
        let start = html[..at].rfind('<').unwrap();
        let name: String = html[start + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let (open, close) = (format!("<{name}"), format!("</{name}>"));
        let mut depth = 0;
        let mut i = start;
        loop {
            let next_open = html[i + 1..].find(&open).map(|p| p + i + 1);
            let next_close = html[i..].find(&close).map(|p| p + i).expect("closed");
            match next_open {
                Some(o) if o < next_close && is_longer_name(html, o + open.len()) => i = o,
                Some(o) if o < next_close => {
                    depth += 1;
                    i = o;
                }
                _ if depth == 0 => {
                    out.push(&html[start..next_close + close.len()]);
                    break;
                }
                _ => {
                    depth -= 1;
                    i = next_close + 1;
                }
            }
        }
    }
    out
}

/// Whether the tag name found at `at - 1` goes on (`<span` vs `<spanner`).
fn is_longer_name(html: &str, at: usize) -> bool {
    html[at..].starts_with(|c: char| c.is_ascii_alphanumeric())
}

fn element<'a>(html: &'a str, marker: &str) -> &'a str {
    elements(html, marker)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no element with {marker}"))
}

/// The text of an HTML fragment, as a reader sees it.
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", " ")
        .replace('\u{a0}', " ")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A figure as the page writes it (`+4,000`, `−100`), as a number.
fn figure(text: &str) -> i64 {
    let t = text.replace([',', '+'], "").replace('−', "-");
    t.parse()
        .unwrap_or_else(|_| panic!("not a figure: {text:?}"))
}

fn test_index(report: &Value, name: &str) -> usize {
    report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .position(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no test {name}"))
}

/// The 1-based line of the first line of `file` (in the fixture) that
/// contains `needle`.
fn line_of(file: &str, needle: &str) -> usize {
    line_in(run(), file, needle)
}

fn line_in(run: &Run, file: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(run.dir.join(file)).unwrap();
    1 + text
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {file}"))
}

/// The Comparison rows shown, checked cell by cell against the JSON rows.
fn assert_rows_match(dom: &str, rows: &Value) {
    let rows = rows.as_array().unwrap();
    let body = element(dom, r#"id="rows""#);
    assert_eq!(elements(body, "data-class=").len(), rows.len(), "{body}");
    for r in rows {
        let name = r["name"].as_str().unwrap();
        let tr = element(body, &format!(r#"data-class="{name}""#));
        for col in [
            "new",
            "deleted",
            "delta",
            "alloc_size",
            "freed_size",
            "size_delta",
        ] {
            let cell = text(element(tr, &format!(r#"data-col="{col}""#)));
            assert_eq!(
                figure(&cell),
                r[col].as_i64().unwrap(),
                "{name} {col}: {tr}"
            );
        }
    }
}

#[test]
fn each_step_shows_its_comparison_rows() {
    let run = run();
    let index = test_index(&run.report, PASSING);
    let blocks = run.report["tests"][index]["blocks"].as_array().unwrap();
    for (i, block) in blocks.iter().enumerate() {
        let dom = render(&run.page, &format!("test={index}&step={i}"));
        let tabs: Vec<String> = elements(&dom, r#"role="tab""#)
            .iter()
            .map(|t| text(element(t, r#"class="step-name""#)))
            .collect();
        assert_eq!(tabs, ["add 100", "clear"]);
        let selected = element(&dom, r#"aria-selected="true""#);
        assert!(
            selected.contains(&format!(r#"data-step="{i}""#)),
            "{selected}"
        );
        assert_rows_match(&dom, &block["constructors"]);
    }
}

#[test]
fn a_step_shows_its_baseline_retainers_sites_and_snapshots() {
    let run = run();
    let index = test_index(&run.report, PASSING);
    let dom = render(&run.page, &format!("test={index}&step=0&class=Todo"));
    let todo = element(&dom, r#"data-class="Todo""#);
    assert_eq!(text(element(todo, r#"data-col="new""#)), "100");
    // The committed baseline, beside this run's figure.
    assert_eq!(text(element(todo, r#"data-col="baseline_new""#)), "100");
    let detail = element(&dom, r#"id="class-detail""#);
    let chain: Vec<String> = elements(detail, r#"class="node-name""#)
        .iter()
        .map(|n| text(n))
        .collect();
    assert_eq!(chain.last().map(String::as_str), Some("Todo"), "{detail}");
    assert!(chain.iter().any(|n| n == "TodoList"), "{chain:?}");
    // One group holds all 100 new to-dos.
    assert_eq!(text(element(detail, r#"class="group-count""#)), "×100");
    let add = line_of("lib/todos.ts", "add(id: number)");
    let sites = text(element(detail, r#"class="sites""#));
    assert!(sites.contains("×100"), "{sites}");
    assert!(
        sites.contains(&format!("add lib/todos.ts:{add}")),
        "{sites}"
    );
    // Snapshot links lead from the page's folder to the kept files.
    let snapshots = element(&dom, r#"class="snapshots""#);
    for link in elements(snapshots, "href=") {
        let href = link.split('"').nth(1).unwrap();
        let file = run.page.parent().unwrap().join(href);
        assert!(file.is_file(), "{href} is not a file next to the page");
    }
}

/// The paths fixture (`tests/fixtures/paths`) on Deno: a class's groups of
/// paths with their counts, a WeakMap entry in words, and the object that
/// grew in place, as boxes.
#[test]
fn paths_show_their_groups_and_the_objects_that_grew() {
    let run = fixture_run("paths", &["--engine", "deno"], 101);
    let chain_of = |html: &str| -> Vec<String> {
        elements(html, r#"class="node-name""#)
            .iter()
            .map(|n| text(n))
            .collect()
    };

    let index = test_index(
        &run.report,
        "loggers are kept beside what their first use made",
    );
    let dom = render(&run.page, &format!("test={index}&step=0&class=Function"));
    let detail = element(&dom, r#"id="class-detail""#);
    let counts: Vec<String> = elements(detail, r#"class="group-count""#)
        .iter()
        .map(|n| text(n))
        .collect();
    assert_eq!(counts, ["×2,000 of 2,015"], "{detail}");
    assert_eq!(
        chain_of(detail),
        ["(module mixed.memtest.js)", "Array", "Function log"]
    );

    let index = test_index(&run.report, "metadata kept through a WeakMap");
    let dom = render(&run.page, &format!("test={index}&step=0&class=Map"));
    let detail = element(&dom, r#"id="class-detail""#);
    assert_eq!(
        chain_of(detail),
        ["(module weakmap.memtest.js)", "WeakMap", "value Map"]
    );
    let edges: Vec<String> = elements(detail, r#"class="edge-name""#)
        .iter()
        .map(|n| text(n))
        .collect();
    assert_eq!(edges, ["::meta", "key Object"]);
    assert!(!detail.contains('@'), "{detail}");

    let index = test_index(
        &run.report,
        "an emitter keeps an empty array per event name",
    );
    let dom = render(&run.page, &format!("test={index}&step=0"));
    let grown = element(&dom, r#"class="grown""#);
    assert_eq!(
        text(element(grown, r#"class="group-count""#)),
        "Object 56 B → 48.09 KiB"
    );
    assert_eq!(
        chain_of(grown),
        ["(module grown.memtest.js)", "Emitter", "Object"]
    );
}

#[test]
fn the_source_marks_allocating_functions_and_step_boundaries() {
    let run = run();
    let index = test_index(&run.report, PASSING);
    // A class selected: its allocating function, in the TypeScript library
    // (V8 numbered the transpiled lines; the page marks the source's).
    let dom = render(&run.page, &format!("test={index}&step=0&class=Todo"));
    let pressed = element(element(&dom, r#"class="files""#), r#"aria-pressed="true""#);
    assert_eq!(text(pressed), "lib/todos.ts");
    let add = line_of("lib/todos.ts", "add(id: number)");
    let line = element(&dom, &format!(r#"data-line="{add}""#));
    assert!(
        start_tag(line, "<div").unwrap().contains("fn-start"),
        "{line}"
    );
    let lens = text(element(line, r#"class="lens""#));
    assert!(lens.contains("Todo ×100"), "{lens}");
    let body = element(&dom, &format!(r#"data-line="{}""#, add + 1));
    assert!(
        start_tag(body, "<div").unwrap().contains("fn-body"),
        "{body}"
    );

    // The test file: the t.measure calls mark where steps close, and the
    // callback that called `add` carries the count.
    let dom = render(&run.page, &format!("test={index}&step=0"));
    let measure = line_of("todos.memtest.js", r#"t.measure("add 100""#);
    let line = element(&dom, &format!(r#"data-line="{measure}""#));
    assert!(
        start_tag(line, "<div").unwrap().contains("boundary"),
        "{line}"
    );
    let lens = text(element(line, r#"class="lens""#));
    assert!(lens.contains("step 1 · add 100"), "{lens}");
    assert!(lens.contains("via → Todo ×100"), "{lens}");
    let clear = line_of("todos.memtest.js", r#"t.measure("clear""#);
    let line = element(&dom, &format!(r#"data-line="{clear}""#));
    assert!(text(line).contains("step 2 · clear"), "{line}");
}

#[test]
fn the_comparison_sorts_and_filters_as_the_url_asks() {
    let run = run();
    let index = test_index(&run.report, FAILING);
    let rows = run.report["tests"][index]["blocks"][0]["constructors"]
        .as_array()
        .unwrap();
    let shown = |dom: &str| -> Vec<String> {
        let body = element(dom, r#"id="rows""#);
        elements(body, "data-class=")
            .iter()
            .map(|tr| text(element(tr, r#"class="cls""#)))
            .collect()
    };
    let mut by_name: Vec<String> = rows
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    by_name.sort_by_key(|n| n.to_lowercase());
    assert!(by_name.len() > 1, "{rows:?}");
    let dom = render(&run.page, &format!("test={index}&step=0&sort=name"));
    assert_eq!(shown(&dom), by_name);
    let header = element(&dom, r#"aria-sort="#);
    assert!(
        header.contains(r#"aria-sort="ascending""#) && text(header).starts_with("Constructor"),
        "{header}"
    );

    let dom = render(
        &run.page,
        &format!("test={index}&step=0&sort=-new&filter=LIST"),
    );
    let mut wanted: Vec<&Value> = rows
        .iter()
        .filter(|r| r["name"].as_str().unwrap().to_lowercase().contains("list"))
        .collect();
    wanted.sort_by_key(|r| std::cmp::Reverse(r["new"].as_u64()));
    let wanted: Vec<&str> = wanted.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert!(!wanted.is_empty());
    assert_eq!(shown(&dom), wanted);
    let count = text(element(&dom, r#"id="row-count""#));
    assert_eq!(
        count,
        format!("{} of {}", plural_classes(wanted.len()), rows.len())
    );
}

fn plural_classes(n: usize) -> String {
    format!("{n} {}", if n == 1 { "class" } else { "classes" })
}

#[test]
fn a_failed_test_opens_first_with_its_message_and_its_name_as_text() {
    let run = run();
    let dom = render(&run.page, "");
    let head = text(element(&dom, r#"class="test-head""#));
    assert!(
        head.starts_with("failed over budget </script><img src=x onerror=alert(1)>"),
        "{head}"
    );
    assert!(head.contains("budget: Todo new 50 > 10"), "{head}");
    // The markup in the name stayed text: no element came of it.
    assert!(!dom.contains("<img"), "{dom}");
    let overview: Vec<String> = elements(&dom, r#"class="status "#)
        .iter()
        .take(2)
        .map(|s| text(s))
        .collect();
    assert_eq!(overview, ["passed", "failed"]);
    let card = element(&dom, r#"role="tab""#);
    assert!(
        start_tag(card, "<button").unwrap().contains("failed"),
        "{card}"
    );
}

#[test]
fn diff_html_shows_the_comparison_of_two_snapshots() {
    let run = run();
    let index = test_index(&run.report, PASSING);
    let snapshots = &run.report["tests"][index]["blocks"][0]["snapshots"];
    let page = run.dir.join("diff.html");
    let out = Command::new(BIN)
        .arg("diff")
        .arg(run.dir.join(snapshots["before"].as_str().unwrap()))
        .arg(run.dir.join(snapshots["after"].as_str().unwrap()))
        .args(["--json", "diff.json", "--html", "diff.html"])
        .current_dir(&run.dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Value =
        serde_json::from_str(&std::fs::read_to_string(run.dir.join("diff.json")).unwrap()).unwrap();
    let dom = render(&page, "");
    assert_eq!(elements(&dom, r#"role="tab""#).len(), 1);
    assert_rows_match(&dom, &rows["constructors"]);
    assert!(!dom.contains(r#"id="source""#), "a diff has no source view");
    assert!(
        !dom.contains(r#"id="overview""#),
        "a diff has no tests to list"
    );
    // The snapshots were taken with allocation tracking: the diff explains
    // the top class, as a run does.
    let todo = element(&dom, r#"data-class="Todo""#);
    assert_eq!(text(element(todo, r#"data-col="new""#)), "100");
    let detail = element(&dom, r#"id="class-detail""#);
    let chain = text(element(detail, r#"class="chain""#));
    assert!(chain.ends_with("Todo"), "{chain}");
    let sites = text(element(detail, r#"class="sites""#));
    assert!(sites.contains("×100"), "{sites}");
}

#[test]
fn the_page_is_small_and_names_no_remote_resource() {
    for run in [run(), steps_run()] {
        let html = std::fs::read_to_string(&run.page).unwrap();
        assert!(html.len() < 200 * 1024, "{} bytes", html.len());
        for needle in ["https://", "src=\"http", "href=\"http", "@import", "url("] {
            assert!(!html.contains(needle), "the page names {needle}");
        }
    }
}

// ---- Steps (t.checkpoint) -------------------------------------------------------

const STEPS: &str = "todo list, step by step";

/// The tabs of the timeline: each step's name and what the card says it is.
fn tabs(dom: &str) -> Vec<(String, String)> {
    elements(dom, r#"role="tab""#)
        .iter()
        .map(|t| {
            (
                text(element(t, r#"class="step-name""#)),
                text(element(t, r#"class="step-kind muted""#)),
            )
        })
        .collect()
}

/// The text of the table cell `col` of class `class`'s row.
fn cell(dom: &str, class: &str, col: &str) -> String {
    let tr = element(
        element(dom, r#"id="rows""#),
        &format!(r#"data-class="{class}""#),
    );
    text(element(tr, &format!(r#"data-col="{col}""#)))
}

#[test]
fn checkpoint_steps_show_in_order_with_their_comparison_rows() {
    let run = steps_run();
    let index = test_index(&run.report, STEPS);
    let blocks = run.report["tests"][index]["blocks"].as_array().unwrap();
    let add = line_in(run, "todos.memtest.js", r#"t.checkpoint("add 100")"#);
    let clear = line_in(run, "todos.memtest.js", r#"t.checkpoint("clear""#);
    let again = line_in(run, "todos.memtest.js", r#"t.checkpoint("add 50")"#);
    let figures = [("100", "0"), ("0", "100"), ("50", "0")];
    for (i, block) in blocks.iter().enumerate() {
        let dom = render(&run.page, &format!("test={index}&step={i}"));
        assert_eq!(
            tabs(&dom),
            [
                (
                    "add 100".to_owned(),
                    format!("step from “start” · line {add}")
                ),
                (
                    "clear".to_owned(),
                    format!("step from “add 100” · line {clear}")
                ),
                (
                    "add 50".to_owned(),
                    format!("step from “clear” · line {again}")
                ),
            ]
        );
        let selected = element(&dom, r#"aria-selected="true""#);
        assert!(
            selected.contains(&format!(r#"data-step="{i}""#)),
            "{selected}"
        );
        assert_rows_match(&dom, &block["constructors"]);
        let todo = (cell(&dom, "Todo", "new"), cell(&dom, "Todo", "deleted"));
        assert_eq!(
            todo,
            (figures[i].0.to_owned(), figures[i].1.to_owned()),
            "step {i}"
        );
        // The committed baseline and the budget, beside this run's figures.
        assert_eq!(cell(&dom, "Todo", "baseline_new"), figures[i].0);
        let shown = element(&dom, r#"class="figures""#);
        assert!(shown.contains("<dt>Baseline</dt>"), "{shown}");
        if i == 1 {
            assert!(
                shown.contains("<dt>Budget</dt><dd>objects &lt;= 0</dd>"),
                "{shown}"
            );
        }
    }
}

#[test]
fn the_allocating_function_is_annotated_with_its_new_todo_line_in_view() {
    let run = steps_run();
    let index = test_index(&run.report, STEPS);
    let dom = render(&run.page, &format!("test={index}&step=0&class=Todo"));
    let pressed = element(element(&dom, r#"class="files""#), r#"aria-pressed="true""#);
    assert_eq!(text(pressed), "lib/todos.js");
    let add = line_in(run, "lib/todos.js", "add(id) {");
    let line = element(&dom, &format!(r#"data-line="{add}""#));
    assert!(
        start_tag(line, "<div").unwrap().contains("fn-start"),
        "{line}"
    );
    let lens = text(element(line, r#"class="lens""#));
    assert!(lens.contains("Todo ×100 · 3.91 KiB kept"), "{lens}");
    let new_todo = line_in(run, "lib/todos.js", "new Todo(");
    let body = element(&dom, &format!(r#"data-line="{new_todo}""#));
    assert!(
        start_tag(body, "<div").unwrap().contains("fn-body"),
        "{body}"
    );
    // Scrolled there: the lines in view include `new Todo(`.
    let code = start_tag(&dom[dom.find(r#"class="code""#).unwrap() - 5..], "<div").unwrap();
    let view = code
        .split(r#"data-view=""#)
        .nth(1)
        .expect("data-view")
        .split('"')
        .next()
        .unwrap();
    let (first, last) = view.split_once('-').unwrap();
    let (first, last): (usize, usize) = (first.parse().unwrap(), last.parse().unwrap());
    assert!(
        (first..=last).contains(&new_todo),
        "{view} misses line {new_todo}"
    );
    let sites = text(element(
        element(&dom, r#"id="class-detail""#),
        r#"class="sites""#,
    ));
    assert!(
        sites.contains(&format!("add lib/todos.js:{add}")),
        "{sites}"
    );
}

#[test]
fn the_test_file_marks_checkpoints_as_step_boundaries() {
    let run = steps_run();
    let index = test_index(&run.report, STEPS);
    let dom = render(&run.page, &format!("test={index}&step=1"));
    let file = "todos.memtest.js";
    let lens = |needle: &str| {
        let n = line_in(run, file, needle);
        let line = element(&dom, &format!(r#"data-line="{n}""#));
        (
            start_tag(line, "<div").unwrap().to_owned(),
            text(element(line, r#"class="lens""#)),
        )
    };
    let (_, start) = lens(r#"t.checkpoint("start")"#);
    assert!(start.contains("◇ start · opens step 1"), "{start}");
    let (_, add) = lens(r#"t.checkpoint("add 100")"#);
    assert!(add.contains("◆ step 1 · add 100"), "{add}");
    let (tag, clear) = lens(r#"t.checkpoint("clear""#);
    assert!(clear.contains("◆ step 2 · clear"), "{clear}");
    assert!(tag.contains("current-step"), "{tag}");
    // The code of the step selected, between its two checkpoints.
    let inside = line_in(run, file, "list.clear();");
    let line = element(&dom, &format!(r#"data-line="{inside}""#));
    assert!(
        start_tag(line, "<div").unwrap().contains("in-step"),
        "{line}"
    );
    let before = line_in(run, file, "for (let i = 0; i < 100; i++)");
    let line = element(&dom, &format!(r#"data-line="{before}""#));
    assert!(
        !start_tag(line, "<div").unwrap().contains("in-step"),
        "{line}"
    );
}

#[test]
fn a_repeat_blocks_runs_are_steps_beside_blocks_and_checkpoints() {
    let run = steps_run();
    let index = test_index(&run.report, "steps around blocks");
    let dom = render(&run.page, &format!("test={index}&step=3"));
    let kinds: Vec<(String, String)> = tabs(&dom)
        .into_iter()
        .map(|(name, kind)| (name, kind.split(" · ").next().unwrap().to_owned()))
        .collect();
    let expected = [
        ("add 10", "block"),
        ("after the block", "step from “start”"),
        ("replace", "block"),
        ("replace › run 1", "run of a repeat block"),
        ("replace › run 2", "run of a repeat block"),
        ("replace › run 3", "run of a repeat block"),
        ("end", "step from “after the block”"),
    ];
    assert_eq!(kinds, expected.map(|(n, k)| (n.to_owned(), k.to_owned())));
    let head = text(element(&dom, r#"class="step-head""#));
    assert!(
        head.contains("one run of block “replace”, against the run before"),
        "{head}"
    );
    assert_eq!(cell(&dom, "Todo", "new"), "1");
    assert_eq!(cell(&dom, "Todo", "deleted"), "1");
}

#[test]
fn diff_html_of_two_checkpoints_shows_the_steps_table() {
    let run = steps_run();
    let index = test_index(&run.report, STEPS);
    let step = &run.report["tests"][index]["blocks"][0];
    let snapshots = &step["snapshots"];
    let out = Command::new(BIN)
        .arg("diff")
        .arg(run.dir.join(snapshots["before"].as_str().unwrap()))
        .arg(run.dir.join(snapshots["after"].as_str().unwrap()))
        .args(["--html", "diff.html"])
        .current_dir(&run.dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = render(&run.dir.join("diff.html"), "");
    assert_rows_match(&dom, &step["constructors"]);
    assert_eq!(cell(&dom, "Todo", "new"), "100");
    let chain = text(element(
        element(&dom, r#"id="class-detail""#),
        r#"class="chain""#,
    ));
    assert!(chain.ends_with("Todo"), "{chain}");
}

#[test]
fn runtime_frames_are_marked_and_the_project_frame_is_annotated() {
    // Deno's `addEventListener` makes the records that hold the listeners:
    // the page leads with `listen`, the project's frame, and shows the
    // runtime's own frame by name, as `via (deno) addEventListener`.
    let run = fixture_run("sites", &["--engine", "deno", "runtime.memtest.js"], 101);
    let dom = render(&run.page, "test=0&step=0&class=Array");
    let detail = element(&dom, r#"id="class-detail""#);
    let sites = element(detail, r#"class="sites""#);
    let listen = line_in(&run, "runtime.memtest.js", "function listen");
    // The text of the list's items runs together.
    let frames = text(element(sites, r#"class="frames""#));
    assert!(
        frames.starts_with(&format!(
            "in listen runtime.memtest.js:{listen}called from "
        )),
        "{frames}"
    );
    assert!(frames.ends_with("via (deno) addEventListener"), "{frames}");
    assert!(sites.contains(r#"class="runtime""#), "{sites}");
    let line = element(&dom, &format!(r#"data-line="{listen}""#));
    let lens = text(element(line, r#"class="lens""#));
    assert!(lens.contains("Array ×20"), "{lens}");
}
