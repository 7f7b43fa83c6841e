//! Baselines: the figures a test's blocks had when someone last recorded
//! them, one TOML file per test file, committed.
//!
//! A file sits in `__memcheck__/` beside its test file, is written in a stable
//! order, and names the runtime it was recorded with. Its life cycle lives in
//! the submodules: `update` writes a run's figures (`--update`), `pending`
//! keeps the ones waiting for review (`.toml.new`), `stale` finds entries
//! whose test is gone, and `changes` lists what differs between two files.

mod changes;
pub mod pending;
pub mod stale;
pub mod update;

pub use changes::{block_changes, file_changes};
pub use update::UpdateMode;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Tolerance;
use crate::diff::Comparison;
use crate::interrupt;
use crate::runtime::{Engine, RuntimeInfo};
use crate::units::{Slack, format_bytes};

/// Folder, beside each test file, that holds the baselines.
pub const DIR: &str = "__memcheck__";

/// One test's recorded blocks, by block name.
pub type TestBaseline = BTreeMap<String, BlockBaseline>;

/// What a run proposes for one test's baseline entry.
#[derive(Clone, Debug, PartialEq)]
pub enum Recording {
    /// Write these figures to the baseline now (`--update`).
    Write(TestBaseline),
    /// Keep these figures in the pending file for review.
    Pending(TestBaseline),
    /// The test ran and proposes nothing: drop its pending entry.
    Clear,
}

/// A test file's baseline as a run sees it.
pub struct Target<'a> {
    /// The test file's name, for the header.
    pub source_name: &'a str,
    pub path: &'a Path,
    /// What loading it gave (an error in words when it cannot be read).
    pub loaded: &'a Result<Option<BaselineFile>, String>,
    /// The tests the file declares, when it could be listed.
    pub tests: Option<Vec<String>>,
    /// The command that re-records every test of the file.
    pub rerecord: &'a str,
}

/// A baseline file's contents.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineFile {
    pub runtime: String,
    pub v8: String,
    #[serde(default)]
    pub tests: BTreeMap<String, BTreeMap<String, BlockBaseline>>,
}

/// The recorded figures of one block.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockBaseline {
    pub retained_objects: u64,
    pub retained_bytes: u64,
    pub freed_objects: u64,
    pub freed_bytes: u64,
    /// Bytes allocated, garbage included, for tests that measure it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_bytes: Option<u64>,
    #[serde(default)]
    pub constructors: Vec<ConstructorBaseline>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstructorBaseline {
    pub name: String,
    pub new: u64,
    pub deleted: u64,
    pub size_delta: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("cannot read baseline {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} {path} is corrupt: {message}\n{}", kind_of(path), fix_for(path))]
    Corrupt { path: PathBuf, message: String },
    #[error("cannot write baseline {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{path} is a symbolic link: baselines are read and written only as real files in a real `__memcheck__` folder, so that no run writes outside the project; replace the link with the {what} it points to"
    )]
    Link { path: PathBuf, what: &'static str },
    #[error("cannot lock {path} to update its baselines: {error}")]
    Lock {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("interrupted: no baseline was written")]
    Interrupted,
}

/// The baseline path for a test file on `engine`: Deno's (the default
/// engine) is `__memcheck__/<file>.toml`, Node's `__memcheck__/<file>.node.toml`.
pub fn path_for(test_file: &Path, engine: Engine) -> PathBuf {
    let name = test_file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suffix = match engine {
        Engine::Deno => ".toml".to_owned(),
        other => format!(".{other}.toml"),
    };
    test_file
        .parent()
        .unwrap_or(Path::new("."))
        .join(DIR)
        .join(format!("{name}{suffix}"))
}

impl BaselineFile {
    /// Load a baseline; `Ok(None)` when there is none yet.
    pub fn load(path: &Path) -> Result<Option<BaselineFile>, BaselineError> {
        refuse_links(path)?;
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(BaselineError::Read {
                    path: path.to_path_buf(),
                    error,
                });
            }
        };
        let corrupt = |line: usize, message: String| BaselineError::Corrupt {
            path: path.to_path_buf(),
            message: format!("line {line}: {message}"),
        };
        let file: BaselineFile = toml::from_str(&text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(&text, s.start));
            corrupt(line, e.message().trim().to_owned())
        })?;
        if let Some((line, message)) = file.duplicate_row(&text) {
            return Err(corrupt(line, message));
        }
        Ok(Some(file))
    }

    /// A block that lists one constructor twice, as (line, message): the
    /// file was edited by hand or merged badly, and no row may silently win.
    fn duplicate_row(&self, text: &str) -> Option<(usize, String)> {
        for (test, blocks) in &self.tests {
            for (block, b) in blocks {
                let mut seen = std::collections::BTreeSet::new();
                let Some(dup) = b.constructors.iter().find(|c| !seen.insert(&c.name)) else {
                    continue;
                };
                let header = format!("[tests.{}.{}]", quote(test), quote(block));
                let start = text.find(&header).unwrap_or(0);
                let name = quote(&dup.name);
                let second = text[start..]
                    .match_indices(&name)
                    .nth(1)
                    .map_or(start, |(i, _)| start + i);
                return Some((
                    line_of(text, second),
                    format!(
                        "constructor {name} is listed twice in block {} of test {}; keep one row (re-record with `cargo memcheck --update`)",
                        quote(block),
                        quote(test)
                    ),
                ));
            }
        }
        None
    }

    pub fn recorded_with(&self) -> String {
        format!("{} (V8 {})", self.runtime, self.v8)
    }

    /// Whether this baseline was recorded with `runtime`. A browser is
    /// the one installed on the machine and updates on its own: a baseline
    /// from any version of it compares (see [`BaselineFile::browser_drift`]).
    pub fn matches_runtime(&self, runtime: &RuntimeInfo) -> bool {
        if runtime.name == "chromium" {
            return self.runtime.split(' ').next() == Some("chromium");
        }
        self.runtime == runtime_label(runtime) && self.v8 == runtime.v8
    }

    /// For a browser baseline recorded on another major version than
    /// `runtime`'s: a warning that its figures may differ.
    pub fn browser_drift(&self, runtime: &RuntimeInfo) -> Option<String> {
        let recorded = self.runtime.strip_prefix("chromium ")?;
        let major = |v: &str| v.split('.').next().map(str::to_owned);
        (runtime.name == "chromium" && major(recorded) != major(&runtime.version)).then(|| {
            format!(
                "recorded with Chromium {recorded}, run with {}: figures may differ between major versions of the browser; re-record with `cargo memcheck --update` once they are checked",
                runtime.version
            )
        })
    }

    /// The file's text: stable order, one constructor a line.
    pub fn render(&self, source_name: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# cargo-memcheck baseline for {source_name}.");
        let _ = writeln!(
            out,
            "# Written by `cargo memcheck --update`; review its diff like code."
        );
        for note in crate::runtime::baseline_notes(&self.runtime) {
            let _ = writeln!(out, "# Note: {note}.");
        }
        let _ = writeln!(out, "runtime = {}", quote(&self.runtime));
        let _ = writeln!(out, "v8 = {}", quote(&self.v8));
        for (test, blocks) in &self.tests {
            for (block, b) in blocks {
                let _ = writeln!(out, "\n[tests.{}.{}]", quote(test), quote(block));
                out.push_str(&b.render());
            }
        }
        out
    }

    /// Write the file (creating `__memcheck__/`), replacing it atomically.
    pub fn save(&self, path: &Path, source_name: &str) -> Result<(), BaselineError> {
        write_atomically(path, &self.render(source_name))
    }

    /// Load a file that may be absent, unreadable or from another runtime
    /// as a starting point to merge into: what is there when it holds
    /// `runtime`'s figures, an empty file otherwise.
    pub fn load_or_empty(path: &Path, runtime: &RuntimeInfo) -> BaselineFile {
        match BaselineFile::load(path) {
            Ok(Some(b)) if b.matches_runtime(runtime) => b,
            _ => BaselineFile::for_runtime(runtime),
        }
    }

    /// An empty file for `runtime`'s figures.
    pub fn for_runtime(runtime: &RuntimeInfo) -> BaselineFile {
        BaselineFile {
            runtime: runtime_label(runtime),
            v8: runtime.v8.clone(),
            tests: BTreeMap::new(),
        }
    }
}

/// Replace `path` with `text` atomically (creating its folder): the text
/// goes to a new file of a random name, created exclusively in the same
/// folder, which is then renamed over `path`. Nothing is written through a
/// link: a planted `x.toml.tmp` link is never opened, and the rename
/// replaces a link at `path` rather than following it.
fn write_atomically(path: &Path, text: &str) -> Result<(), BaselineError> {
    use std::io::Write as _;
    let fail = |error| BaselineError::Write {
        path: path.to_path_buf(),
        error,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(fail)?;
    refuse_links(path)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".memcheck-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(fail)?;
    tmp.write_all(text.as_bytes()).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Baselines live in a real `__memcheck__` folder and are real files: a
/// link in either place could send reads and writes outside the project.
fn refuse_links(path: &Path) -> Result<(), BaselineError> {
    let is_link = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink());
    if let Some(dir) = path.parent().filter(|d| is_link(d)) {
        return Err(BaselineError::Link {
            path: dir.to_path_buf(),
            what: "folder",
        });
    }
    if is_link(path) {
        return Err(BaselineError::Link {
            path: path.to_path_buf(),
            what: "file",
        });
    }
    Ok(())
}

/// Whether a file could be written at `path` (no link in the way, and a
/// writable folder for it), so that a message never promises a file that
/// cannot be written; why not, in words.
pub fn writable(path: &Path) -> Result<(), String> {
    refuse_links(path).map_err(|e| e.to_string())?;
    let folder = path
        .ancestors()
        .skip(1)
        .find(|d| d.as_os_str().is_empty() || d.is_dir())
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(c_path) = std::ffi::CString::new(folder.as_os_str().as_encoded_bytes()) else {
        return Err(format!("{} cannot be written", folder.display()));
    };
    // SAFETY: `c_path` is a valid NUL-terminated string for the call.
    if unsafe { libc::access(c_path.as_ptr(), libc::W_OK) } != 0 {
        return Err(format!(
            "{} is not writable ({})",
            folder.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Hold an advisory lock on the folder that holds `baseline`'s
/// `__memcheck__` while a read-merge-write of its files runs, so that two
/// runs on one project (two `--update`s, a run and an `accept`) take turns
/// and neither loses the other's entries. The lock goes with the guard.
pub fn lock(baseline: &Path) -> Result<std::fs::File, BaselineError> {
    let dir = baseline
        .parent()
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |error| BaselineError::Lock {
        path: dir.to_path_buf(),
        error,
    };
    let folder = std::fs::File::open(dir).map_err(fail)?;
    folder.lock().map_err(fail)?;
    Ok(folder)
}

/// Remove `path`; one already gone is fine.
fn remove(path: &Path) -> Result<(), BaselineError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(BaselineError::Write {
            path: path.to_path_buf(),
            error: e,
        }),
        _ => Ok(()),
    }
}

/// Run `write` unless the run was interrupted: every baseline write goes
/// through here, so that Ctrl-C writes nothing and a write under way
/// finishes before the process exits.
pub fn guarded<T>(write: impl FnOnce() -> Result<T, BaselineError>) -> Result<T, BaselineError> {
    let _writing = interrupt::writing();
    if interrupt::cancelled() {
        return Err(BaselineError::Interrupted);
    }
    write()
}

/// "baseline" or "pending baseline", by the file's name.
fn kind_of(path: &Path) -> &'static str {
    if pending::baseline_of(path).is_some() {
        "pending baseline"
    } else {
        "baseline"
    }
}

/// How to repair a corrupt file, true to what memcheck will do with it.
fn fix_for(path: &Path) -> String {
    if pending::baseline_of(path).is_some() {
        format!(
            "it holds only a run's proposals: delete it (rm {}), or let the next run of its tests rewrite it",
            crate::text::shell_quote(&path.display().to_string())
        )
    } else {
        "fix it by hand, or re-record it with `cargo memcheck --update` (it is never overwritten by a plain run)".to_owned()
    }
}

/// The 1-based line of byte `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// How a runtime is named in a baseline header.
pub fn runtime_label(runtime: &RuntimeInfo) -> String {
    format!("{} {}", runtime.name, runtime.version)
}

impl BlockBaseline {
    pub fn from_comparison(c: &Comparison, allocated_bytes: Option<u64>) -> BlockBaseline {
        let mut constructors: Vec<_> = c
            .constructors
            .iter()
            .map(|r| ConstructorBaseline {
                name: r.name.clone(),
                new: r.new,
                deleted: r.deleted,
                size_delta: r.size_delta,
            })
            .collect();
        constructors.sort_by(|a, b| a.name.cmp(&b.name));
        BlockBaseline {
            retained_objects: c.retained_objects,
            retained_bytes: c.retained_bytes,
            freed_objects: c.freed_objects,
            freed_bytes: c.freed_bytes,
            allocated_bytes,
            constructors,
        }
    }

    /// The block's lines, as stored and as diffed in failure messages.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "retained_objects = {}", self.retained_objects);
        let _ = writeln!(out, "retained_bytes = {}", self.retained_bytes);
        let _ = writeln!(out, "freed_objects = {}", self.freed_objects);
        let _ = writeln!(out, "freed_bytes = {}", self.freed_bytes);
        if let Some(a) = self.allocated_bytes {
            let _ = writeln!(out, "allocated_bytes = {a}");
        }
        if self.constructors.is_empty() {
            out.push_str("constructors = []\n");
            return out;
        }
        out.push_str("constructors = [\n");
        for c in &self.constructors {
            let _ = writeln!(
                out,
                "  {{ name = {}, new = {}, deleted = {}, size_delta = {} }},",
                quote(&c.name),
                c.new,
                c.deleted,
                c.size_delta
            );
        }
        out.push_str("]\n");
        out
    }

    /// New objects of `name` (0 when it has none).
    pub fn new_of(&self, name: &str) -> u64 {
        self.constructors
            .iter()
            .find(|c| c.name == name)
            .map_or(0, |c| c.new)
    }
}

/// The outcome of holding a block against its baseline.
#[derive(Debug, Default, PartialEq)]
pub struct Judgement {
    /// Figures above baseline plus tolerance: the block fails.
    pub regressions: Vec<String>,
    /// Figures below baseline: passes, with a hint to lock them in.
    pub improvements: Vec<String>,
    /// Constructors whose new objects exceed their baseline.
    pub grown: Vec<String>,
}

/// Compare a block's figures with its baseline under `tol`.
pub fn judge(
    base: &BlockBaseline,
    actual: &Comparison,
    allocated: Option<u64>,
    tol: &Tolerance,
) -> Judgement {
    let mut j = Judgement::default();
    let objects = |what: &str, base: u64, now: u64, j: &mut Judgement| {
        j.note(what, base, now, tol.objects.limit(base), tol.objects, |v| {
            v.to_string()
        })
    };
    objects(
        "retained objects",
        base.retained_objects,
        actual.retained_objects,
        &mut j,
    );
    j.note(
        "retained bytes",
        base.retained_bytes,
        actual.retained_bytes,
        tol.bytes.limit(base.retained_bytes),
        tol.bytes,
        |v| format!("{} ({v} B)", format_bytes(v)),
    );
    if let (Some(base), Some(now)) = (base.allocated_bytes, allocated) {
        j.note(
            "allocated bytes",
            base,
            now,
            tol.bytes.limit(base),
            tol.bytes,
            |v| format!("{} ({v} B)", format_bytes(v)),
        );
    }
    let mut names: Vec<&str> = base.constructors.iter().map(|c| c.name.as_str()).collect();
    names.extend(actual.constructors.iter().map(|c| c.name.as_str()));
    names.sort_unstable();
    names.dedup();
    for name in names {
        let now = actual.constructor(name).map_or(0, |c| c.new);
        if objects(&format!("{name} new"), base.new_of(name), now, &mut j) {
            j.grown.push(name.to_owned());
        }
    }
    j
}

impl Judgement {
    /// Record one figure; true when it is a regression.
    fn note(
        &mut self,
        what: &str,
        base: u64,
        now: u64,
        limit: u64,
        slack: Slack,
        show: impl Fn(u64) -> String,
    ) -> bool {
        if now > limit {
            self.regressions.push(format!(
                "{what}: {} > baseline {} (tolerance {slack})",
                show(now),
                show(base)
            ));
            return true;
        }
        if now < base {
            self.improvements
                .push(format!("{what}: {} < baseline {}", show(now), show(base)));
        }
        false
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::ConstructorDelta;

    fn widgets(n: u64) -> Comparison {
        Comparison {
            retained_bytes: 32 * n,
            retained_objects: n,
            freed_bytes: 0,
            freed_objects: 0,
            constructors: vec![ConstructorDelta {
                name: "Widget".into(),
                new: n,
                deleted: 0,
                delta: n as i64,
                alloc_size: 32 * n,
                freed_size: 0,
                size_delta: 32 * n as i64,
            }],
        }
    }

    #[test]
    fn render_round_trips_through_toml() {
        let mut file = BaselineFile {
            runtime: "deno 2.9.6".into(),
            v8: "15.0".into(),
            tests: BTreeMap::new(),
        };
        file.tests
            .entry("a \"quoted\" test".into())
            .or_default()
            .insert(
                "block".into(),
                BlockBaseline::from_comparison(&widgets(10), Some(4096)),
            );
        let text = file.render("x.memtest.js");
        let back: BaselineFile = toml::from_str(&text).unwrap();
        assert_eq!(back, file);
    }

    #[test]
    fn judges_growth_against_tolerance() {
        let base = BlockBaseline::from_comparison(&widgets(100), None);
        let exact = Tolerance {
            objects: Slack::Absolute(0),
            bytes: Slack::Percent(5.0),
        };
        assert_eq!(
            judge(&base, &widgets(100), None, &exact),
            Judgement::default()
        );
        let j = judge(&base, &widgets(104), None, &exact);
        assert_eq!(
            j.regressions,
            vec![
                "retained objects: 104 > baseline 100 (tolerance 0)",
                "Widget new: 104 > baseline 100 (tolerance 0)"
            ]
        );
        let loose = Tolerance {
            objects: Slack::Absolute(5),
            bytes: Slack::Percent(5.0),
        };
        assert!(
            judge(&base, &widgets(104), None, &loose)
                .regressions
                .is_empty()
        );
        let j = judge(&base, &widgets(50), None, &exact);
        assert!(j.regressions.is_empty());
        assert_eq!(j.improvements.len(), 3);
    }

    #[test]
    fn corrupt_file_is_named() {
        let p = std::env::temp_dir().join(format!("memcheck-corrupt-{}.toml", std::process::id()));
        std::fs::write(&p, "runtime = \"deno\"\nv8 = [\n").unwrap();
        let err = BaselineFile::load(&p).unwrap_err().to_string();
        assert!(
            err.contains(&p.display().to_string()) && err.contains("corrupt"),
            "{err}"
        );
        std::fs::remove_file(p).unwrap();
    }
}
