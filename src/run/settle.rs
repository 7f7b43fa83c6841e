//! After the trials, the baseline life cycle: what `--update` recorded is
//! written, and pending files follow the run (outside CI). What was done
//! lands in the run model; what went wrong comes back as error lines
//! (exit 1).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::baseline::{Recording, TestBaseline, pending, update};
use crate::report::RunReport;
use crate::runtime::RuntimeInfo;

use super::files::FileState;

/// Settle every file's baseline; the errors, in words.
pub fn baselines(
    states: &[Arc<FileState>],
    recordings: &BTreeMap<String, BTreeMap<String, Recording>>,
    report: &mut RunReport,
) -> Vec<String> {
    let mut errors = Vec::new();
    for state in states {
        let Some(recs) = recordings.get(&state.file.relative) else {
            continue;
        };
        let Some(runtime) = runtime_of(report, &state.file.relative) else {
            continue;
        };
        if let Err(e) = settle_file(state, recs, &runtime, report) {
            errors.push(e);
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

/// Write a file's updates, then bring its pending file up to date (a
/// pending entry that an update superseded goes, unless the update was
/// refused).
fn settle_file(
    state: &FileState,
    recs: &BTreeMap<String, Recording>,
    runtime: &RuntimeInfo,
    report: &mut RunReport,
) -> Result<(), String> {
    let target = state.target();
    let writes: BTreeMap<String, TestBaseline> = recs
        .iter()
        .filter_map(|(t, r)| match r {
            Recording::Write(b) => Some((t.clone(), b.clone())),
            _ => None,
        })
        .collect();
    let mut refused = None;
    if !writes.is_empty() {
        match update::update(&target, &writes, runtime) {
            Ok(Some(changes)) => report.baselines.updated.push(changes),
            Ok(None) => {}
            Err(e) => refused = Some(e.to_string()),
        }
    }
    let proposals: BTreeMap<String, Recording> = recs
        .iter()
        .filter(|(_, r)| refused.is_none() || !matches!(r, Recording::Write(_)))
        .map(|(t, r)| (t.clone(), r.clone()))
        .collect();
    match pending::store(&target, &proposals, runtime) {
        Ok(Some(file)) => report.baselines.pending.push(file),
        Ok(None) => {}
        Err(e) => return Err(e.to_string()),
    }
    refused.map_or(Ok(()), Err)
}
