//! After the trials: what `--update` recorded is written, file by file.
//! What changed lands in the run model; a file that could not be updated
//! comes back as an error line (exit 1).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::baseline::{TestBaseline, update};
use crate::report::RunReport;
use crate::runtime::RuntimeInfo;

use super::files::FileState;

/// Write every file's updates; the errors, in words.
pub fn baselines(
    states: &[Arc<FileState>],
    updates: &BTreeMap<String, BTreeMap<String, TestBaseline>>,
    report: &mut RunReport,
) -> Vec<String> {
    let mut errors = Vec::new();
    for state in states {
        let Some(updates) = updates.get(&state.file.relative) else {
            continue;
        };
        let Some(runtime) = runtime_of(report, &state.file.relative) else {
            continue;
        };
        match update::update(&state.target(), updates, &runtime) {
            Ok(Some(changes)) => report.baselines.updated.push(changes),
            Ok(None) => {}
            Err(e) => errors.push(e.to_string()),
        }
    }
    errors
}

/// The runtime that ran the file's tests.
fn runtime_of(report: &RunReport, file: &str) -> Option<RuntimeInfo> {
    report
        .tests
        .iter()
        .filter(|t| t.file == file)
        .find_map(|t| t.runtime.clone())
        .or_else(|| report.runtimes.first().cloned())
}
