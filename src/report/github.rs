//! GitHub Actions (on with `GITHUB_ACTIONS=true`, or `--github`): an
//! `::error` workflow command per failing block, at the line of its
//! `t.measure` call (the test's line for a whole-body block, or for a test
//! that failed before it measured), with the path relative to the
//! repository root; a `::warning` per unreferenced baseline entry; and the
//! Markdown summary appended to `$GITHUB_STEP_SUMMARY`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

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
}
