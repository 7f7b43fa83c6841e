//! The run's test files: each listed by the runtime, with its baseline
//! loaded and the command that re-records it; settings that name no test
//! are warned about.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::baseline::{self, BaselineFile, Target};
use crate::config::Config;
use crate::discover::TestFile;
use crate::measure::{self, Fault, Parked, TestRun};
use crate::report;
use crate::runtime::{Launch, ListedTest, RuntimeError};
use crate::text;

use super::trial::Shared;

/// One test file on one engine, with its listed tests and baseline.
pub struct FileState {
    pub file: TestFile,
    /// How the file's tests run: the engine, its binary, the sandbox.
    pub launch: Launch,
    /// `deno:` or `node:` before test names when a run has both engines.
    pub prefix: String,
    pub tests: Result<Vec<ListedTest>, Fault>,
    pub baseline_path: std::path::PathBuf,
    pub baseline: Result<Option<BaselineFile>, String>,
    /// The command that re-records this file's whole baseline.
    pub rerecord: String,
    /// With `isolation = "file"`: the runs of the file's tests, by place in
    /// the list, once the first of them asked (each test takes its own).
    pub batch: Mutex<Option<BTreeMap<usize, TestRun>>>,
    /// The process that listed the file, waiting to run its first test.
    pub parked: Mutex<Option<Parked>>,
}

impl FileState {
    /// A test's name as libtest shows and filters it.
    pub fn full_name(&self, test: &str) -> String {
        format!(
            "{}{}",
            self.prefix,
            text::full_name(&self.file.relative, test)
        )
    }

    /// The file on its engine: what records and recordings are keyed by.
    pub fn key(&self) -> String {
        format!("{}{}", self.prefix, self.file.relative)
    }

    /// The file on its engine as test names show it (control characters
    /// written out): the name of the trial of a file that cannot be listed,
    /// and what filters on its tests start with.
    pub fn shown_key(&self) -> String {
        format!(
            "{}{}",
            self.prefix,
            text::escape_controls(&self.file.relative)
        )
    }

    /// The process that listed the file, for a test that can run in it
    /// (not one that measures allocated bytes: that needs the inspector,
    /// open from the start).
    pub fn take_parked(&self, allocated: bool) -> Option<Parked> {
        if allocated {
            return None;
        }
        self.parked.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Whether the process that listed the file still waits.
    pub fn has_parked(&self) -> bool {
        self.parked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Let the process that listed the file go (it ends).
    pub fn release(&self) {
        drop(self.take_parked(false));
    }

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

/// List every file's tests on every engine (side by side: listing is a
/// process per file) and load its baseline. The processes of the first
/// `park` files stay, waiting to run their file's first test.
pub fn load(
    files: Vec<TestFile>,
    config: &Config,
    launches: &[Launch],
    shared: &Mutex<Shared>,
    park: usize,
) -> Result<Vec<Arc<FileState>>, RuntimeError> {
    let jobs: Vec<(usize, &Launch, &TestFile)> = launches
        .iter()
        .flat_map(|l| files.iter().map(move |f| (l, f)))
        .enumerate()
        .map(|(i, (l, f))| (i, l, f))
        .collect();
    let listings = parallel(&jobs, |(i, launch, file)| {
        let timeout = config.runtime.timeout;
        measure::list(launch, &file.path, &file.relative, timeout, *i < park)
    });
    let mut states = Vec::new();
    for ((_, launch, file), listing) in jobs.into_iter().zip(listings) {
        let measure::Listing {
            runtime: info,
            tests,
            parked,
        } = listing?;
        if let Some(info) = info {
            shared.lock().unwrap().saw_runtime(&info);
        }
        // A file that declares no tests guards nothing: say so.
        let tests = match tests {
            Ok(t) if t.is_empty() => Err(Fault::NoTests),
            other => other,
        };
        let baseline_path = baseline::path_for(&file.path, launch.engine);
        let baseline = BaselineFile::load(&baseline_path).map_err(|e| e.to_string());
        states.push(FileState {
            file: file.clone(),
            launch: launch.clone(),
            prefix: if launches.len() > 1 {
                format!("{}:", launch.engine)
            } else {
                String::new()
            },
            tests,
            baseline_path,
            baseline,
            rerecord: String::new(),
            batch: Mutex::new(None),
            parked: Mutex::new(parked),
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

/// `f` of every item, on as many threads as the machine has cores, in the
/// items' order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.min(items.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().unwrap()[i] = Some(r);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results
        .into_iter()
        .map(|r| r.expect("every item was done"))
        .collect()
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
            text::display_path(&config.file)
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
    let keys: Vec<String> = states.iter().map(FileState::shown_key).collect();
    match file_filter(&state.shown_key(), keys.iter().map(String::as_str)) {
        Some(filter) => {
            report::run_command(&format!("--update{ignored} {}", text::shell_quote(&filter)))
        }
        None => {
            report::run_command(&format!("--update{ignored}")) + ", which re-records every file"
        }
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
