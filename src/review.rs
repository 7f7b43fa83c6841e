//! `cargo memcheck review`, `accept` and `reject`: settling the pending
//! baselines (`__memcheck__/*.toml.new`) a run left, as cargo-insta settles
//! pending snapshots. `review` shows each pending test as the diff of its
//! committed entry against the pending one and asks: accept, reject or
//! skip (it needs a terminal); `accept [FILTER]` and `reject [FILTER]` do
//! the same without asking. FILTER picks tests by `file::test` as the
//! run's filter does (a substring, or the whole name with `--exact`).

use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::path::Path;

use crate::baseline::pending::{AcceptError, Pending};
use crate::baseline::{BaselineError, TestBaseline};
use crate::report::{self, FileChanges};
use crate::runtime::Engine;
use crate::{color, discover, text};

/// Which pending tests a command settles.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub filter: Option<String>,
    pub exact: bool,
}

impl Selection {
    fn picks(&self, full_name: &str) -> bool {
        match &self.filter {
            None => true,
            Some(f) if self.exact => full_name == f,
            Some(f) => full_name.contains(f.as_str()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("cannot search {root} for pending baselines: {message}")]
    Search { root: String, message: String },
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    #[error(transparent)]
    Accept(#[from] AcceptError),
    #[error("cannot talk to the terminal: {0}")]
    Io(#[from] std::io::Error),
}

/// A pending file and the full names of its tests, as `file::test`.
pub struct Found {
    pub pending: Pending,
    /// The test file, relative to the project root.
    pub source: String,
}

impl Found {
    /// The test's name as a run on its engine alone shows it: `file::test`,
    /// with the engine in front for Node (`node:file::test`).
    pub fn full_name(&self, test: &str) -> String {
        let name = text::full_name(&self.source, test);
        match self.pending.engine {
            Engine::Deno => name,
            e => format!("{e}:{name}"),
        }
    }

    /// Every pending test's full name.
    pub fn names(&self) -> Vec<String> {
        let tests = self.pending.file.tests.keys();
        tests.map(|t| self.full_name(t)).collect()
    }

    /// The tests `selection` picks, in order: by the name a run printed,
    /// `file::test`, or `engine:file::test` when it ran several engines.
    fn picked(&self, selection: &Selection) -> Vec<String> {
        let tests = self.pending.file.tests.keys();
        tests
            .filter(|t| {
                let plain = text::full_name(&self.source, t);
                let prefixed = format!("{}:{plain}", self.pending.engine);
                selection.picks(&plain) || selection.picks(&prefixed)
            })
            .cloned()
            .collect()
    }
}

/// The pending files under a project root.
#[derive(Default)]
pub struct Search {
    pub found: Vec<Found>,
    /// Pending files that cannot be read, in words: named, and left alone,
    /// so that one bad file never stops the others from being settled.
    pub unreadable: Vec<String>,
}

/// Every pending file under the project root.
pub fn find(root: &Path) -> Result<Search, ReviewError> {
    let files = discover::baseline_files(root).map_err(|message| ReviewError::Search {
        root: root.display().to_string(),
        message,
    })?;
    let mut search = Search::default();
    for path in files {
        let pending = match Pending::load(&path) {
            Ok(Some(p)) => p,
            Ok(None) => continue,
            Err(e) => {
                search.unreadable.push(e.to_string());
                continue;
            }
        };
        let test_file = path
            .parent()
            .and_then(Path::parent)
            .unwrap_or(root)
            .join(&pending.source_name);
        let source = test_file
            .strip_prefix(root)
            .unwrap_or(&test_file)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        search.found.push(Found { pending, source });
    }
    Ok(search)
}

/// What a command did, for its closing lines.
#[derive(Debug, Default)]
pub struct Outcome {
    pub accepted: Vec<FileChanges>,
    pub rejected: Vec<String>,
    pub skipped: usize,
}

/// `accept` (or, with `accept` false, `reject`) every picked test.
pub fn settle(
    found: &mut [Found],
    selection: &Selection,
    accept: bool,
) -> Result<Outcome, ReviewError> {
    let mut outcome = Outcome::default();
    for f in found {
        let tests = f.picked(selection);
        if tests.is_empty() {
            continue;
        }
        if accept {
            outcome.accepted.push(f.pending.accept(&tests)?);
        } else {
            f.pending.drop_tests(&tests)?;
            outcome
                .rejected
                .extend(tests.iter().map(|t| f.full_name(t)));
        }
    }
    Ok(outcome)
}

/// Ask about each picked test on `output`, reading answers from `input`
/// (a line each: `a` accept, `r` reject, `s` or nothing skip, `q` quit).
pub fn review(
    found: &mut [Found],
    selection: &Selection,
    paint: bool,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> Result<Outcome, ReviewError> {
    let mut outcome = Outcome::default();
    let total: usize = found.iter().map(|f| f.picked(selection).len()).sum();
    let mut seen = 0;
    for f in found.iter_mut() {
        for test in f.picked(selection) {
            seen += 1;
            let shown = show(f, &test, seen, total);
            let shown = if paint {
                color::paint_diffs(&shown)
            } else {
                shown
            };
            output.write_all(shown.as_bytes())?;
            match ask(input, output)? {
                Answer::Accept => outcome.accepted.push(f.pending.accept(&[test])?),
                Answer::Reject => {
                    f.pending.drop_tests(std::slice::from_ref(&test))?;
                    outcome.rejected.push(f.full_name(&test));
                }
                Answer::Skip => outcome.skipped += 1,
                Answer::Quit => {
                    outcome.skipped += total - seen + 1;
                    return Ok(outcome);
                }
            }
        }
    }
    Ok(outcome)
}

enum Answer {
    Accept,
    Reject,
    Skip,
    Quit,
}

fn ask(input: &mut dyn BufRead, output: &mut dyn Write) -> Result<Answer, ReviewError> {
    loop {
        output.write_all(b"  a accept, r reject, s skip, q quit: ")?;
        output.flush()?;
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            output.write_all(b"\n")?;
            return Ok(Answer::Quit);
        }
        match line.trim() {
            "a" | "accept" => return Ok(Answer::Accept),
            "r" | "reject" => return Ok(Answer::Reject),
            "s" | "skip" | "" => return Ok(Answer::Skip),
            "q" | "quit" => return Ok(Answer::Quit),
            _ => continue,
        }
    }
}

/// One pending test: its name, where it waits, and the diff.
fn show(f: &Found, test: &str, seen: usize, total: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n[{seen}/{total}] {} ({})",
        f.full_name(test),
        text::display_path(&f.pending.path)
    );
    let old = f.pending.committed(test).map(|t| render(&t));
    let new = f
        .pending
        .file
        .tests
        .get(test)
        .map(render)
        .unwrap_or_default();
    if old.is_none() {
        let _ = writeln!(out, "  no baseline yet; this run recorded:");
    }
    for line in report::text_diff(old.as_deref().unwrap_or(""), &new).lines() {
        let _ = writeln!(out, "    {line}");
    }
    out
}

/// A test's entry as the baseline file writes it, block by block.
fn render(blocks: &TestBaseline) -> String {
    let mut out = String::new();
    for (name, b) in blocks {
        let _ = writeln!(out, "[{}]", text::quote_name(name));
        out.push_str(&b.render());
    }
    out
}

/// The closing lines of `review`, `accept` or `reject`.
pub fn summary(outcome: &Outcome) -> String {
    let mut out = String::new();
    for file in &outcome.accepted {
        let _ = writeln!(out, "memcheck: accepted into {}:", file.path);
        for change in &file.changes {
            let _ = writeln!(out, "    {change}");
        }
        if file.changes.is_empty() {
            let _ = writeln!(out, "    (figures already as recorded)");
        }
    }
    for name in &outcome.rejected {
        let _ = writeln!(out, "memcheck: rejected the pending baseline of {name}");
    }
    if outcome.skipped > 0 {
        let _ = writeln!(
            out,
            "memcheck: {} pending baseline(s) left for later",
            outcome.skipped
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::{BaselineFile, BlockBaseline};

    /// A project with two pending tests of `a.memtest.js`: "old" has a
    /// committed entry of 100 objects, "new" none.
    fn project(tag: &str) -> std::path::PathBuf {
        let root =
            std::env::temp_dir().join(format!("memcheck-review-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("__memcheck__");
        let block = |n| BlockBaseline {
            retained_objects: n,
            ..BlockBaseline::default()
        };
        let mut base = BaselineFile {
            runtime: "deno 2.9.6".into(),
            v8: "15".into(),
            ..BaselineFile::default()
        };
        base.tests
            .insert("old".into(), [("b".to_owned(), block(100))].into());
        base.save(&dir.join("a.memtest.js.toml"), "a.memtest.js")
            .unwrap();
        let mut pending = base.clone();
        pending
            .tests
            .insert("old".into(), [("b".to_owned(), block(150))].into());
        pending
            .tests
            .insert("new".into(), [("b".to_owned(), block(7))].into());
        pending
            .save(&dir.join("a.memtest.js.toml.new"), "a.memtest.js")
            .unwrap();
        root
    }

    #[test]
    fn review_asks_for_each_test_and_does_what_it_is_told() {
        let root = project("ask");
        let mut found = find(&root).unwrap().found;
        assert_eq!(found[0].source, "a.memtest.js");
        let mut input: &[u8] = b"what?\nr\na\n";
        let mut output = Vec::new();
        let all = Selection::default();
        let outcome = review(&mut found, &all, false, &mut input, &mut output).unwrap();
        let shown = String::from_utf8(output).unwrap();
        assert!(shown.contains("[1/2] a.memtest.js::new"), "{shown}");
        assert!(shown.contains("no baseline yet"), "{shown}");
        assert!(
            shown.contains("    -retained_objects = 100\n    +retained_objects = 150"),
            "{shown}"
        );
        assert_eq!(outcome.rejected, ["a.memtest.js::new"]);
        assert_eq!(
            outcome.accepted[0].changes,
            ["\"old\" › \"b\": retained_objects 100 → 150 (grew by 50)"]
        );
        let base = BaselineFile::load(&root.join("__memcheck__/a.memtest.js.toml"))
            .unwrap()
            .unwrap();
        assert_eq!(base.tests["old"]["b"].retained_objects, 150);
        assert!(!base.tests.contains_key("new"));
        assert!(!root.join("__memcheck__/a.memtest.js.toml.new").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn settle_picks_by_filter() {
        let root = project("filter");
        let mut found = find(&root).unwrap().found;
        let exact = Selection {
            filter: Some("a.memtest.js::new".into()),
            exact: true,
        };
        let outcome = settle(&mut found, &exact, true).unwrap();
        assert_eq!(outcome.accepted[0].changes, ["\"new\": recorded (1 block)"]);
        let left = find(&root).unwrap().found;
        assert_eq!(
            left[0].pending.file.tests.keys().collect::<Vec<_>>(),
            ["old"]
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
