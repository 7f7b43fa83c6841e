//! `--update`: a run's figures merged into a baseline file. Entries of
//! tests that did not run are kept; entries of tests that no longer exist
//! are dropped. A file holds one runtime's figures, and a corrupt one
//! cannot be merged: either is replaced only when the run re-recorded every
//! test it may hold, so that nothing is lost. What changed is listed.

use std::collections::BTreeMap;

use super::{BaselineError, BaselineFile, Target, TestBaseline, file_changes, guarded};
use crate::report::FileChanges;
use crate::runtime::RuntimeInfo;
use crate::text::{display_path, quote_name};

/// Update modes of `--update`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateMode {
    /// Record every test that runs (`--update`).
    All,
    /// Record only tests that have no baseline yet (`--update=new`).
    New,
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(
        "not updating {path}: {why}, and this run did not re-record {tests}; re-record the whole file ({command}) or fix it by hand"
    )]
    Refused {
        path: String,
        why: String,
        tests: String,
        command: String,
    },
    #[error(transparent)]
    Write(#[from] BaselineError),
}

/// Merge `updates` (per test) into the target's file and write it when it
/// changed; the changes, or `None` when the file already held them.
pub fn update(
    target: &Target,
    updates: &BTreeMap<String, TestBaseline>,
    runtime: &RuntimeInfo,
) -> Result<Option<FileChanges>, UpdateError> {
    let old = match target.loaded {
        Ok(Some(b)) if b.matches_runtime(runtime) => b.clone(),
        Ok(None) => BaselineFile::default(),
        other => {
            refuse_partial(target, updates, other)?;
            BaselineFile::default()
        }
    };
    let mut file = old.clone();
    file.runtime = super::runtime_label(runtime);
    file.v8 = runtime.v8.clone();
    if let Some(tests) = &target.tests {
        file.tests.retain(|name, _| tests.contains(name));
    }
    for (test, blocks) in updates {
        if blocks.is_empty() {
            file.tests.remove(test);
        } else {
            file.tests.insert(test.clone(), blocks.clone());
        }
    }
    let before = std::fs::read_to_string(target.path).ok();
    if before.as_deref() == Some(file.render(target.source_name).as_str()) {
        return Ok(None);
    }
    guarded(|| file.save(target.path, target.source_name))?;
    let mut changes = file_changes(&old, &file);
    if !old.runtime.is_empty() && (old.runtime != file.runtime || old.v8 != file.v8) {
        changes.insert(0, format!("recorded with {}", file.recorded_with()));
    }
    Ok(Some(FileChanges {
        path: display_path(target.path),
        changes,
    }))
}

/// A file from another runtime, or unreadable, may be replaced only when
/// this run re-recorded every test it may hold.
fn refuse_partial(
    target: &Target,
    updates: &BTreeMap<String, TestBaseline>,
    loaded: &Result<Option<BaselineFile>, String>,
) -> Result<(), UpdateError> {
    let old = loaded.as_ref().ok().and_then(Option::as_ref);
    let missing: Vec<String> = target
        .tests
        .iter()
        .flatten()
        .filter(|t| old.is_none_or(|b| b.tests.contains_key(*t)))
        .filter(|t| !updates.contains_key(*t))
        .map(|t| quote_name(t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let why = match old {
        Some(b) => format!("it was recorded with {}", b.recorded_with()),
        None => "it cannot be read".to_owned(),
    };
    Err(UpdateError::Refused {
        path: display_path(target.path),
        why,
        tests: missing.join(", "),
        command: target.rerecord.to_owned(),
    })
}
