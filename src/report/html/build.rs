//! Making a [`Page`] from what a run has: the `--json` report, the test
//! files and the files allocation frames point into (read from the project
//! root), and the committed baselines. Also the page of `cargo memcheck diff`.
//!
//! Every entry of a test's `blocks` becomes one step of the timeline, of
//! its kind: a `t.measure` block, a `t.checkpoint` step, or a run of a
//! `repeat` block.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::model::*;
use crate::baseline::BlockBaseline;
use crate::diff::Comparison;
use crate::explain::{AllocationSite, GrownObject, RetainerPath};
use crate::report::{BlockReport, RunReport, Snapshots, Status, TestReport};
use crate::steps::BlockKind;

/// Source files larger than this are not embedded.
const MAX_SOURCE_BYTES: u64 = 256 * 1024;

/// How to get allocation sites, when no step has any.
pub const TRACE_HINT: &str = "No step has allocation sites. Run with --trace-allocations to \
     record where new objects were allocated (failing tests are re-run with tracking \
     automatically).";

/// Where a run's page is made: the project root (test files are relative
/// to it) and the folder the page is written to (snapshot links are
/// relative to it).
pub struct Place<'a> {
    pub root: &'a Path,
    pub page_dir: &'a Path,
}

/// The page of a run.
pub fn from_report(report: &RunReport, place: &Place) -> Page {
    let tests: Vec<PageTest> = report.tests.iter().map(|t| test(t, place)).collect();
    let mut hints = Vec::new();
    let sources = sources(&tests, place.root, &mut hints);
    let sited = tests
        .iter()
        .flat_map(|t| &t.steps)
        .any(|s| !s.allocations.is_empty());
    let grew = tests
        .iter()
        .flat_map(|t| &t.steps)
        .any(|s| s.retained_objects > 0);
    if grew && !sited {
        hints.push(TRACE_HINT.to_owned());
    }
    let folder = place.root.file_name().map(|n| n.to_string_lossy());
    Page {
        kind: PageKind::Run,
        title: format!("cargo memcheck: {}", folder.unwrap_or_default()),
        generated_by: generated_by(),
        runtimes: report.runtimes.clone(),
        tests,
        sources,
        hints,
    }
}

/// What `cargo memcheck diff` found: the Comparison of two snapshots, and
/// why the top classes' new objects are there.
pub struct Compared<'a> {
    pub before: &'a Path,
    pub after: &'a Path,
    pub comparison: &'a Comparison,
    pub retainers: Vec<RetainerPath>,
    pub grown: Vec<GrownObject>,
    pub allocations: Vec<AllocationSite>,
}

/// The page of `cargo memcheck diff BEFORE AFTER`: one step, no source.
pub fn from_diff(d: Compared, page_dir: &Path) -> Page {
    let file_name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = format!(
        "{} → {}",
        file_name(d.before).unwrap_or_default(),
        file_name(d.after).unwrap_or_default()
    );
    let c = d.comparison;
    let block = BlockReport {
        name: name.clone(),
        line: None,
        retained_bytes: c.retained_bytes,
        retained_objects: c.retained_objects,
        freed_bytes: c.freed_bytes,
        freed_objects: c.freed_objects,
        allocated_bytes: None,
        constructors: c.constructors.clone(),
        retainers: d.retainers,
        grown: d.grown,
        allocations: d.allocations,
        repetition: None,
        snapshots: Some(Snapshots {
            before: d.before.to_path_buf(),
            after: d.after.to_path_buf(),
        }),
        ..BlockReport::default()
    };
    let place = Place {
        root: Path::new(""),
        page_dir,
    };
    Page {
        kind: PageKind::Diff,
        title: format!("cargo memcheck diff: {name}"),
        generated_by: generated_by(),
        runtimes: Vec::new(),
        tests: vec![PageTest {
            file: String::new(),
            engine: None,
            full_name: name.clone(),
            name,
            pending: false,
            status: TestStatus::Passed,
            message: None,
            line: None,
            steps: vec![step(&block, StepStatus::Passed, &place)],
        }],
        sources: BTreeMap::new(),
        hints: Vec::new(),
    }
}

fn generated_by() -> String {
    format!("cargo-memcheck {}", env!("CARGO_PKG_VERSION"))
}

fn test(t: &TestReport, place: &Place) -> PageTest {
    let status = match t.status {
        Status::Passed => TestStatus::Passed,
        Status::Ignored => TestStatus::Ignored,
        Status::Failed => TestStatus::Failed,
    };
    let steps = t
        .blocks
        .iter()
        .map(|b| {
            let status = if b.failures.is_empty() {
                StepStatus::Passed
            } else {
                StepStatus::Failed
            };
            step(b, status, place)
        })
        .collect();
    PageTest {
        file: t.file.clone(),
        engine: (!t.prefix.is_empty()).then(|| t.engine.to_owned()),
        name: t.name.clone(),
        full_name: format!("{}{}", t.prefix, crate::text::full_name(&t.file, &t.name)),
        pending: false,
        status,
        message: t.message.clone(),
        line: t.line,
        steps,
    }
}

fn step(b: &BlockReport, status: StepStatus, place: &Place) -> PageStep {
    PageStep {
        name: b.name.clone(),
        kind: match b.kind {
            BlockKind::Block => StepKind::Block,
            BlockKind::Step => StepKind::Step,
            BlockKind::Run => StepKind::Run,
        },
        line: b.line,
        from: b.from.clone(),
        from_line: b.from_line,
        run_of: b.run_of.clone(),
        status,
        retained_objects: b.retained_objects,
        retained_bytes: b.retained_bytes,
        freed_objects: b.freed_objects,
        freed_bytes: b.freed_bytes,
        allocated_bytes: b.allocated_bytes,
        constructors: b.constructors.clone(),
        retainers: b.retainers.clone(),
        grown: b.grown.clone(),
        allocations: b.allocations.iter().map(|s| site(s, place.root)).collect(),
        baseline: b.baseline.as_ref().map(page_baseline),
        budget: b.budget.clone(),
        snapshots: b.snapshots.as_ref().map(|s| PageSnapshots {
            before: relative_path(place.page_dir, &s.before),
            after: relative_path(place.page_dir, &s.after),
        }),
    }
}

fn site(s: &AllocationSite, root: &Path) -> PageSite {
    PageSite {
        constructor: s.constructor.clone(),
        count: s.count,
        frames: s
            .frames
            .iter()
            .map(|f| PageFrame {
                function: f.function.clone(),
                file: project_path(root, &f.file).unwrap_or_else(|| f.file.clone()),
                line: f.line,
                column: f.column,
                runtime: f.runtime,
            })
            .collect(),
    }
}

/// The text of every test file and of every file an allocation frame
/// points into, by path relative to the root; files that cannot be read or
/// are too large are left out (the latter with a hint).
fn sources(tests: &[PageTest], root: &Path, hints: &mut Vec<String>) -> BTreeMap<String, String> {
    let frames = tests
        .iter()
        .flat_map(|t| &t.steps)
        .flat_map(|s| &s.allocations)
        .flat_map(|a| &a.frames)
        .map(|f| f.file.as_str());
    let mut seen = std::collections::BTreeSet::new();
    let mut out = BTreeMap::new();
    for file in tests.iter().map(|t| t.file.as_str()).chain(frames) {
        if file.is_empty() || Path::new(file).is_absolute() || !seen.insert(file) {
            continue;
        }
        let path = root.join(file);
        match std::fs::metadata(&path) {
            Ok(m) if m.len() > MAX_SOURCE_BYTES => hints.push(format!(
                "{file} is not shown: it is larger than {} KiB.",
                MAX_SOURCE_BYTES / 1024
            )),
            Ok(_) => {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    out.insert(file.to_owned(), text);
                }
            }
            Err(_) => {}
        }
    }
    out
}

fn page_baseline(b: &BlockBaseline) -> PageBaseline {
    PageBaseline {
        retained_objects: b.retained_objects,
        retained_bytes: b.retained_bytes,
        constructors: b
            .constructors
            .iter()
            .map(|c| PageBaselineRow {
                name: c.name.clone(),
                new: c.new,
                deleted: c.deleted,
                size_delta: c.size_delta,
            })
            .collect(),
    }
}

/// A frame's file (relative to the current directory, or absolute) as a
/// `/`-separated path relative to the root, when it is inside the root.
fn project_path(root: &Path, file: &str) -> Option<String> {
    let file = crate::text::percent_decode(file);
    let path = Path::new(&file);
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    let inside = absolute.strip_prefix(absolute_path(root)).ok()?;
    let parts: Vec<String> = inside
        .components()
        .map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn absolute_path(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    }
}

/// `target` as a `/`-separated path relative to the folder `dir` (both
/// taken from the current directory when relative).
pub fn relative_path(dir: &Path, target: &Path) -> String {
    let normal = |p: &Path| -> Vec<String> {
        let mut parts: Vec<String> = Vec::new();
        for c in absolute_path(p).components() {
            match c {
                Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                Component::ParentDir => {
                    parts.pop();
                }
                _ => {}
            }
        }
        parts
    };
    let (from, to) = (normal(dir), normal(target));
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts = vec!["..".to_owned(); from.len() - common];
    parts.extend(to[common..].iter().cloned());
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_paths_are_relative_to_the_page() {
        let dir = Path::new("/p/out");
        assert_eq!(
            relative_path(dir, Path::new("/p/out/snaps/a.heapsnapshot")),
            "snaps/a.heapsnapshot"
        );
        assert_eq!(
            relative_path(dir, Path::new("/p/snaps/../s/a.heapsnapshot")),
            "../s/a.heapsnapshot"
        );
    }

    #[test]
    fn frame_files_become_project_paths() {
        let root = Path::new("/work/my project");
        assert_eq!(
            project_path(root, "/work/my%20project/lib/a.js").as_deref(),
            Some("lib/a.js")
        );
        assert_eq!(project_path(root, "/elsewhere/a.js"), None);
    }

    fn block(name: &str) -> BlockReport {
        BlockReport {
            name: name.to_owned(),
            line: None,
            retained_bytes: 0,
            retained_objects: 0,
            freed_bytes: 0,
            freed_objects: 0,
            allocated_bytes: None,
            constructors: Vec::new(),
            retainers: Vec::new(),
            allocations: Vec::new(),
            repetition: None,
            snapshots: None,
            ..BlockReport::default()
        }
    }

    /// A project: `t.memtest.js` calls `add` of `lib/list.ts`, whose
    /// transpiled line (3) is above its line in the source (6);
    /// `unused.js` is referred to by nothing.
    fn project(tag: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("memcheck-html-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("lib")).unwrap();
        let files = [
            (
                "t.memtest.js",
                "import { test } from \"memcheck\";\n\ntest(\"t\", async (t) => {\n  await t.measure(\"fill\", () => add(1));\n});\n",
            ),
            (
                "lib/list.ts",
                "// A list.\n\nexport interface I {}\n\nexport class L {\n  add(x: number): void {}\n}\n",
            ),
            ("unused.js", "export const u = 1;\n"),
        ];
        for (name, text) in files {
            std::fs::write(root.join(name), text).unwrap();
        }
        root
    }

    fn report(allocations: Vec<AllocationSite>) -> RunReport {
        let mut fill = block("fill");
        fill.line = Some(4);
        fill.retained_objects = 1;
        fill.allocations = allocations;
        RunReport {
            runtimes: Vec::new(),
            tests: vec![TestReport {
                file: "t.memtest.js".into(),
                name: "t".into(),
                line: Some(3),
                status: Status::Passed,
                message: None,
                blocks: vec![fill],
                ..TestReport::default()
            }],
            ..RunReport::default()
        }
    }

    #[test]
    fn a_run_embeds_only_the_files_it_refers_to_with_its_lines() {
        let root = project("lines");
        let frame = |function: &str, file: &Path, line| crate::explain::StackFrame {
            function: function.into(),
            file: file.display().to_string(),
            line,
            column: 3,
            runtime: None,
        };
        let site = AllocationSite {
            constructor: "X".into(),
            count: 1,
            stack: Vec::new(),
            frames: vec![
                frame("add", &root.join("lib/list.ts"), 6),
                frame("(anonymous)", &root.join("t.memtest.js"), 4),
            ],
        };
        let page = from_report(
            &report(vec![site]),
            &Place {
                root: &root,
                page_dir: &root,
            },
        );
        let files: Vec<&str> = page.sources.keys().map(String::as_str).collect();
        assert_eq!(files, ["lib/list.ts", "t.memtest.js"]);
        let test = &page.tests[0];
        assert_eq!((test.line, test.steps[0].line), (Some(3), Some(4)));
        let frames = &test.steps[0].allocations[0].frames;
        assert_eq!(
            (frames[0].file.as_str(), frames[0].line),
            ("lib/list.ts", 6)
        );
        assert_eq!(
            (frames[1].file.as_str(), frames[1].line),
            ("t.memtest.js", 4)
        );
        assert!(page.hints.is_empty(), "{:?}", page.hints);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_run_without_sites_says_how_to_get_them() {
        let root = project("hint");
        let page = from_report(
            &report(Vec::new()),
            &Place {
                root: &root,
                page_dir: &root,
            },
        );
        assert_eq!(page.hints, [TRACE_HINT]);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_failed_block_is_the_one_with_failures() {
        let mut grow = block("grow");
        grow.failures = vec!["retained objects: 3 > baseline 1".into()];
        let json = TestReport {
            file: "a.memtest.js".into(),
            name: "t".into(),
            line: None,
            status: Status::Failed,
            message: Some("block \"grow\":\n  retained objects: 3 > baseline 1".into()),
            blocks: vec![block("fill"), grow],
            ..TestReport::default()
        };
        let place = Place {
            root: Path::new("/p"),
            page_dir: Path::new("/p"),
        };
        let statuses: Vec<StepStatus> =
            test(&json, &place).steps.iter().map(|s| s.status).collect();
        assert_eq!(statuses, [StepStatus::Passed, StepStatus::Failed]);
    }

    #[test]
    fn steps_and_runs_keep_their_kind_and_where_they_start() {
        let mut add = block("add 100");
        add.kind = BlockKind::Step;
        add.from = Some("start".into());
        add.from_line = Some(6);
        add.line = Some(8);
        let mut run = block("fill › run 1");
        run.kind = BlockKind::Run;
        run.run_of = Some("fill".into());
        let json = TestReport {
            file: "a.memtest.js".into(),
            name: "t".into(),
            blocks: vec![block("fill"), run, add],
            ..TestReport::default()
        };
        let place = Place {
            root: Path::new("/p"),
            page_dir: Path::new("/p"),
        };
        let steps = test(&json, &place).steps;
        let kinds: Vec<StepKind> = steps.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [StepKind::Block, StepKind::Run, StepKind::Step]);
        assert_eq!(steps[1].run_of.as_deref(), Some("fill"));
        assert_eq!(
            (steps[2].from.as_deref(), steps[2].from_line, steps[2].line),
            (Some("start"), Some(6), Some(8))
        );
    }
}
