//! GitHub Actions (on with `GITHUB_ACTIONS=true`, or `--github`): an
//! `::error` workflow command per failing block, at the line of its
//! `t.measure` call (the test's line for a whole-body block, or for a test
//! that failed before it measured), with the path relative to the
//! repository root; a `::warning` per unreferenced baseline entry; and the
//! Markdown summary appended to `$GITHUB_STEP_SUMMARY`.
//!
//! Nothing a test controls may become a command: the run's text is printed
//! inside a `::stop-commands::TOKEN` region (a token of the run's own), and
//! is disarmed line by line besides (`text::disarm_workflow_commands`);
//! memcheck's own commands come after the region, their text escaped.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context as _;

use super::{RunReport, TestReport, markdown};

/// Print the workflow commands and append the step summary (when GitHub
/// names a file for it).
pub fn emit(report: &RunReport, root: &Path) -> anyhow::Result<()> {
    let base = repository_root(root, std::env::var_os("GITHUB_WORKSPACE"));
    print!("{}", annotations(report, root, &base));
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open the step summary {}", path.to_string_lossy()))?;
    file.write_all(markdown::render(report).as_bytes())
        .with_context(|| format!("cannot append to {}", path.to_string_lossy()))
}

/// The token of the stop-commands region open now, if one is.
static STOPPED: Mutex<Option<String>> = Mutex::new(None);

/// Resumes workflow commands when dropped (on an error or a panic too).
#[must_use = "workflow commands resume when this is dropped"]
pub struct Resume(());

impl Drop for Resume {
    fn drop(&mut self) {
        resume_commands();
    }
}

/// Stop GitHub's runner from reading workflow commands until the guard is
/// dropped (or [`resume_commands`] is called): what the tests print or name
/// is printed in between.
pub fn stop_commands() -> Resume {
    let token = token();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "::stop-commands::{token}");
    let _ = out.flush();
    *STOPPED.lock().unwrap_or_else(|e| e.into_inner()) = Some(token);
    Resume(())
}

/// Let the runner read workflow commands again, if they were stopped; the
/// signal handler calls it too, so that an interrupted run leaves the
/// job's later steps their commands.
pub fn resume_commands() {
    let token = STOPPED.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(token) = token {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "::{token}::");
        let _ = out.flush();
    }
}

/// A token no test can know ahead: two 64-bit hashes from std's randomly
/// keyed hasher (the OS's randomness), with the process and the time mixed
/// in.
fn token() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let half = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        h.write_u128(now.as_nanos());
        h.finish()
    };
    format!("memcheck-{:016x}{:016x}", half(), half())
}

/// What paths are relative to: `GITHUB_WORKSPACE` when set, else the git
/// repository around the project, else the current directory.
pub fn repository_root(root: &Path, workspace: Option<std::ffi::OsString>) -> PathBuf {
    if let Some(w) = workspace.filter(|w| !w.is_empty()) {
        return PathBuf::from(w);
    }
    let start = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    start
        .ancestors()
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default()
}

/// One workflow command a line.
pub fn annotations(report: &RunReport, root: &Path, base: &Path) -> String {
    let mut out = String::new();
    for test in report.failed() {
        let file = relative(&root.join(&test.file), base);
        let failing: Vec<_> = test.blocks.iter().filter(|b| b.failed()).collect();
        if failing.is_empty() {
            let message = test.message.as_deref().unwrap_or_default();
            let line = test.line.or_else(|| line_in(message, &test.file));
            out.push_str(&command("error", &file, line, &title(test, None), message));
        }
        for block in failing {
            let line = block.line.or(test.line);
            let text = block.failure_text.as_deref().unwrap_or_default();
            let title = title(test, Some(&block.name));
            out.push_str(&command("error", &file, line, &title, text));
        }
    }
    for e in &report.baselines.unreferenced {
        let what = match &e.test {
            Some(t) => format!("{} is no test of its file", crate::text::quote_name(t)),
            None => "its test file no longer exists".to_owned(),
        };
        let file = relative(&root.join(&e.path), base);
        let message = format!(
            "unreferenced baseline: {what}; delete it: cargo memcheck --unreferenced=delete"
        );
        out.push_str(&command(
            "warning",
            &file,
            None,
            "memcheck: unreferenced baseline",
            &message,
        ));
    }
    out
}

/// The first `FILE:LINE` in `text` (a file that did not load names its
/// place in its error, and has no test line of its own).
fn line_in(text: &str, file: &str) -> Option<u32> {
    let needle = format!("{file}:");
    text.match_indices(&needle).find_map(|(i, _)| {
        let digits: String = text[i + needle.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

fn title(test: &TestReport, block: Option<&str>) -> String {
    match block {
        Some(b) if b != test.name => format!(
            "memcheck: {} › {}",
            test.full_name(),
            crate::text::escape_controls(b)
        ),
        _ => format!("memcheck: {}", test.full_name()),
    }
}

fn command(level: &str, file: &str, line: Option<u32>, title: &str, message: &str) -> String {
    let line = line.map(|l| format!(",line={l}")).unwrap_or_default();
    format!(
        "::{level} file={}{line},title={}::{}\n",
        property(file),
        property(title),
        data(message.trim_end())
    )
}

/// `path` relative to `base`, with `/` separators (as is when outside it).
fn relative(path: &Path, base: &Path) -> String {
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let (path, base) = (canonical(path), canonical(base));
    let shown = path.strip_prefix(&base).unwrap_or(&path);
    shown
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A workflow command's message: one line.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: one line, no `:` or `,`.
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{BlockReport, Status};

    #[test]
    fn a_file_that_did_not_load_is_annotated_at_the_line_its_error_names() {
        let text = "a.memtest.js failed to load: SyntaxError: x\n    at a.memtest.js:3:18";
        assert_eq!(line_in(text, "a.memtest.js"), Some(3));
        assert_eq!(line_in("a.memtest.js: no line", "a.memtest.js"), None);
    }

    #[test]
    fn one_line_per_failing_block_at_its_line() {
        let test = TestReport {
            file: "src/cache.memtest.js".into(),
            name: "stays, bounded".into(),
            line: Some(12),
            status: Status::Failed,
            message: Some("whole".into()),
            blocks: vec![
                BlockReport {
                    name: "insert".into(),
                    line: Some(14),
                    failures: vec!["r".into()],
                    failure_text: Some("block \"insert\":\n  100% > baseline\n".into()),
                    ..BlockReport::default()
                },
                BlockReport {
                    name: "passes".into(),
                    ..BlockReport::default()
                },
            ],
            ..TestReport::default()
        };
        let report = RunReport {
            tests: vec![test],
            ..RunReport::default()
        };
        let text = annotations(
            &report,
            Path::new("/nonexistent/repo/pkg"),
            Path::new("/nonexistent/repo"),
        );
        assert_eq!(
            text,
            "::error file=pkg/src/cache.memtest.js,line=14,title=memcheck%3A src/cache.memtest.js%3A%3Astays%2C bounded › insert::block \"insert\":%0A  100%25 > baseline\n"
        );
    }

    #[test]
    fn the_workspace_wins_then_the_git_root() {
        let w = repository_root(Path::new("/x/y"), Some("/ws".into()));
        assert_eq!(w, Path::new("/ws"));
        let dir = std::env::temp_dir().join(format!("memcheck-gh-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(".git")).unwrap();
        std::fs::create_dir_all(dir.join("pkg")).unwrap();
        let found = repository_root(&dir.join("pkg"), None);
        assert_eq!(found, dir.canonicalize().unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Whatever tests print, throw or name, the text memcheck prints under
    /// GitHub holds no workflow command (and, anywhere, no control
    /// character but newline and tab), and its own commands are one line
    /// each. Run longer with
    /// `MEMCHECK_FUZZ_ITERS=100000 cargo test --lib random_test_text`.
    #[test]
    fn random_test_text_never_becomes_a_workflow_command() {
        use crate::baseline::stale::Unreferenced;
        use crate::diff::ConstructorDelta;
        use crate::explain::{AllocationSite, GrownObject, RetainerPath};
        use crate::measure::Fault;
        use crate::report::{UnreferencedEntry, terminal};
        use crate::runtime::{Exit, Unfinished};
        use crate::text::{escape_text, has_workflow_command};

        let terminal_text = |t: &str| {
            assert!(
                !t.contains(|c: char| c.is_control() && c != '\n' && c != '\t'),
                "{t:?}"
            );
        };
        let mut next = crate::fuzz::rng();
        for i in 0..crate::fuzz::iterations(2000) {
            let mut raw = || crate::fuzz::hostile_text(&mut next);
            // A failure message as a trial builds it: what the test threw or
            // printed, then escaped.
            let fault = match i % 3 {
                0 => Fault::Threw {
                    message: raw(),
                    stack: raw(),
                },
                1 => Fault::Load {
                    message: raw(),
                    stack: raw(),
                },
                _ => Fault::Crashed {
                    exit: Exit::Code(1),
                    output: raw(),
                    during: Unfinished::Block(raw()),
                },
            };
            let message = escape_text(&format!(
                "{}\n--- output ---\n{}",
                super::super::fault(&fault, &raw()),
                raw()
            ));
            terminal_text(&message);
            for colour in [false, true] {
                let shown = terminal::failure(&message, colour, true);
                assert!(!has_workflow_command(&shown), "{shown:?}");
            }
            let row = |name: String| ConstructorDelta {
                name,
                new: 1,
                deleted: 0,
                delta: 1,
                alloc_size: 8,
                freed_size: 0,
                size_delta: 8,
            };
            let block = BlockReport {
                name: raw(),
                constructors: vec![row(raw()), row(raw())],
                retainers: vec![RetainerPath {
                    constructor: raw(),
                    path: raw(),
                    count: 1,
                    total: 2,
                }],
                grown: vec![GrownObject {
                    constructor: raw(),
                    path: raw(),
                    before: 8,
                    after: 8192,
                }],
                allocations: vec![AllocationSite {
                    constructor: raw(),
                    count: 2,
                    stack: vec![raw()],
                    frames: Vec::new(),
                }],
                failures: vec![raw()],
                failure_text: Some(raw()),
                ..BlockReport::default()
            };
            let tests = [Status::Passed, Status::Failed, Status::Failed]
                .into_iter()
                .map(|status| TestReport {
                    file: raw(),
                    name: raw(),
                    status,
                    message: Some(message.clone()),
                    output: raw(),
                    blocks: vec![block.clone()],
                    timings: Some(crate::timings::Timings::default()),
                    ..TestReport::default()
                })
                .collect();
            let report = RunReport {
                tests,
                baselines: crate::report::BaselineActivity {
                    unreferenced: vec![UnreferencedEntry {
                        path: crate::text::display_path(Path::new(&raw())),
                        test: Some(raw()),
                        deleted: false,
                    }],
                    ..Default::default()
                },
                ..RunReport::default()
            };
            for text in [
                terminal::successes(&report),
                terminal::timings(&report),
                terminal::after_run(&report, Unreferenced::Warn),
            ] {
                terminal_text(&text);
                let shown = terminal::for_github(text, true);
                assert!(!has_workflow_command(&shown), "{shown:?}");
            }
            // memcheck's own commands: one line each, read as it means them.
            let commands = annotations(&report, Path::new("/r"), Path::new("/r"));
            let lines: Vec<&str> = commands.split(['\n', '\r']).collect();
            assert_eq!(lines.len(), 2 + 1 + 1, "{commands:?}");
            assert_eq!(lines.last(), Some(&""), "{commands:?}");
            for line in &lines[..3] {
                let (info, _) = line[2..].split_once("::").expect("a command");
                let (name, properties) = info.split_once(' ').expect("properties");
                assert!(["error", "warning"].contains(&name), "{line:?}");
                assert!(!properties.contains(':'), "{line:?}");
            }
        }
    }
}
