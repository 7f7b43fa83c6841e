//! The run's test files: each listed by the runtime, with its baseline
//! loaded and the command that re-records it; settings that name no test
//! are warned about.

use std::sync::{Arc, Mutex};

use crate::baseline::{self, BaselineFile, Target};
use crate::config::Config;
use crate::discover::TestFile;
use crate::measure::{self, Fault};
use crate::report;
use crate::runtime::{Launch, ListedTest, RuntimeError};

use super::trial::Shared;

/// One test file with its listed tests and baseline.
pub struct FileState {
    pub file: TestFile,
    pub tests: Result<Vec<ListedTest>, Fault>,
    pub baseline_path: std::path::PathBuf,
    pub baseline: Result<Option<BaselineFile>, String>,
    /// The command that re-records this file's whole baseline.
    pub rerecord: String,
}

impl FileState {
    /// The file's baseline, as the baseline module sees it.
    pub fn target(&self) -> Target<'_> {
        Target {
            source_name: self.source_name(),
            path: &self.baseline_path,
            loaded: &self.baseline,
            tests: self.names(),
            rerecord: &self.rerecord,
        }
    }

    /// The names of the tests the file declares, when it could be listed.
    pub fn names(&self) -> Option<Vec<String>> {
        let tests = self.tests.as_ref().ok()?;
        Some(tests.iter().map(|t| t.name.clone()).collect())
    }

    fn source_name(&self) -> &str {
        self.file
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
    }
}

/// List every file's tests and load its baseline.
pub fn load(
    files: Vec<TestFile>,
    config: &Config,
    launch: &Launch,
    shared: &Mutex<Shared>,
) -> Result<Vec<Arc<FileState>>, RuntimeError> {
    let mut states = Vec::new();
    for file in files {
        let measure::Listing {
            runtime: info,
            tests,
        } = measure::list(launch, &file.path, &file.relative, config.runtime.timeout)?;
        if let Some(info) = info {
            shared.lock().unwrap().saw_runtime(&info);
        }
        // A file that declares no tests guards nothing: say so.
        let tests = match tests {
            Ok(t) if t.is_empty() => Err(Fault::NoTests),
            other => other,
        };
        let baseline_path = baseline::path_for(&file.path);
        let baseline = BaselineFile::load(&baseline_path).map_err(|e| e.to_string());
        states.push(FileState {
            file,
            tests,
            baseline_path,
            baseline,
            rerecord: String::new(),
        });
    }
    let commands: Vec<String> = states
        .iter()
        .map(|s| rerecord_command(s, &states))
        .collect();
    for (state, command) in states.iter_mut().zip(commands) {
        state.rerecord = command;
    }
    Ok(states.into_iter().map(Arc::new).collect())
}

/// Settings for a test that does not exist do nothing: say so, unless a
/// file could not be listed (its tests are unknown).
pub fn warn_unmatched(config: &Config, states: &[Arc<FileState>]) {
    if !states.iter().all(|s| s.tests.is_ok()) {
        return;
    }
    let listed: Vec<(&str, &str)> = states
        .iter()
        .flat_map(|s| {
            let tests = s.tests.as_deref().unwrap_or_default();
            tests
                .iter()
                .map(|t| (s.file.relative.as_str(), t.name.as_str()))
        })
        .collect();
    for key in config.unmatched_tests(&listed) {
        eprintln!(
            "memcheck: warning: {}: [tests.{key:?}] names no test; write a test's name or `FILE::NAME` as `cargo memcheck --list` prints it",
            report::display_path(&config.file)
        );
    }
}

/// The command that re-records every test of a file's baseline (ignored
/// tests too, when it has some): what a baseline from another runtime, or
/// an unreadable one, needs, since it can only be replaced whole.
fn rerecord_command(state: &FileState, states: &[FileState]) -> String {
    let ignored = match &state.tests {
        Ok(tests) if tests.iter().any(|t| t.ignore) => " --include-ignored",
        _ => "",
    };
    let files = states.iter().map(|s| s.file.relative.as_str());
    match file_filter(&state.file.relative, files) {
        Some(filter) => format!(
            "cargo memcheck --update{ignored} {}",
            report::shell_quote(&filter)
        ),
        None => format!("cargo memcheck --update{ignored}, which re-records every file"),
    }
}

/// A test filter that selects exactly the tests of `file`, if there is one:
/// libtest filters are substrings, and `a.js::` also picks `ba.js::`.
fn file_filter<'a>(file: &str, all: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let filter = format!("{file}::");
    all.into_iter()
        .all(|other| other == file || !format!("{other}::").contains(&filter))
        .then_some(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_filter_never_picks_another_file() {
        let files = ["a.memtest.js", "sub/b.memtest.js"];
        assert_eq!(
            file_filter("a.memtest.js", files).as_deref(),
            Some("a.memtest.js::")
        );
        let files = ["a.memtest.js", "ba.memtest.js"];
        assert_eq!(file_filter("a.memtest.js", files), None);
        assert_eq!(
            file_filter("ba.memtest.js", files).as_deref(),
            Some("ba.memtest.js::")
        );
    }
}
