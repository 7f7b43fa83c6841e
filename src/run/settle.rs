//! After the trials, the baseline life cycle: what `--update` recorded is
//! written, pending files follow the run (outside CI), and unreferenced
//! entries are named, rejected or deleted. What was done lands in the run
//! model; what went wrong comes back as error lines (exit 1).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::baseline::stale::{self, Stale, Unreferenced};
use crate::baseline::{self, BaselineFile, Recording, Target, TestBaseline, pending, update};
use crate::config::Config;
use crate::discover;
use crate::report::{RunReport, UnreferencedEntry};
use crate::runtime::{Engine, RuntimeInfo};
use crate::text::display_path;

use super::files::FileState;

/// Settle every file's baseline; the errors, in words.
pub fn baselines(
    config: &Config,
    states: &[Arc<FileState>],
    recordings: &BTreeMap<String, BTreeMap<String, Recording>>,
    unreferenced: Unreferenced,
    report: &mut RunReport,
) -> Vec<String> {
    let mut errors = Vec::new();
    for state in states {
        let Some(recs) = recordings.get(&state.key()) else {
            continue;
        };
        let Some(runtime) = runtime_of(report, state) else {
            continue;
        };
        if let Err(e) = settle_file(state, recs, &runtime, report) {
            errors.push(e);
        }
    }
    if unreferenced != Unreferenced::Ignore {
        errors.extend(unreferenced_entries(config, states, unreferenced, report));
    }
    errors
}

/// The runtime that ran the file's tests on its engine.
pub(super) fn runtime_of(report: &RunReport, state: &FileState) -> Option<RuntimeInfo> {
    let engine = state.launch.engine.name();
    report
        .tests
        .iter()
        .filter(|t| t.file == state.file.relative && t.engine == engine)
        .find_map(|t| t.runtime.clone())
        .or_else(|| report.runtimes.iter().find(|r| r.name == engine).cloned())
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
    // Another run on this project may have written the file since it was
    // loaded: merge into what is there now, one run at a time.
    let _lock = baseline::lock(&state.baseline_path).map_err(|e| e.to_string())?;
    let loaded = BaselineFile::load(&state.baseline_path).map_err(|e| e.to_string());
    let target = Target {
        loaded: &loaded,
        ..state.target()
    };
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

/// Find unreferenced entries; delete them, or reject the run, as asked.
fn unreferenced_entries(
    config: &Config,
    states: &[Arc<FileState>],
    mode: Unreferenced,
    report: &mut RunReport,
) -> Vec<String> {
    let files = match discover::baseline_files(&config.root) {
        Ok(f) => f,
        Err(e) => return vec![format!("cannot search for baselines: {e}")],
    };
    // Every engine's baseline of a test file is its own; an engine that did
    // not run leaves its files unjudged.
    let mut known: BTreeMap<_, _> = states
        .iter()
        .flat_map(|s| {
            Engine::ALL
                .iter()
                .map(|&e| (baseline::path_for(&s.file.path, e), None))
        })
        .collect();
    known.extend(states.iter().map(|s| (s.baseline_path.clone(), s.names())));
    let found = stale::find(&files, &known);
    let mut errors = Vec::new();
    let deleted = mode == Unreferenced::Delete;
    if deleted && let Err(e) = stale::delete(&found) {
        errors.push(e.to_string());
    }
    report.baselines.unreferenced = found.iter().map(|s| entry(s, deleted)).collect();
    if mode == Unreferenced::Reject && !found.is_empty() {
        errors.push(format!(
            "{} unreferenced baseline {} (--unreferenced=reject); delete them: cargo memcheck --unreferenced=delete",
            found.len(),
            if found.len() == 1 { "entry" } else { "entries" }
        ));
    }
    errors
}

fn entry(s: &Stale, deleted: bool) -> UnreferencedEntry {
    UnreferencedEntry {
        path: display_path(&s.path),
        test: s.test.clone(),
        deleted,
    }
}
