//! Pending baselines, kept the way insta keeps pending snapshots: outside
//! CI, a test whose figures differ from its baseline (or that has none)
//! leaves the entry it would record in `__memcheck__/<file>.toml.new`, a
//! baseline file that holds only such tests; the committed file is not
//! touched. A later run rewrites a test's entry, or drops it when the
//! figures match the baseline again. `accept` merges entries into the
//! baseline test by test, `reject` drops them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{
    BaselineError, BaselineFile, Recording, Target, TestBaseline, file_changes, guarded, remove,
    write_atomically,
};
use crate::report::{FileChanges, PendingFile};
use crate::runtime::{Engine, RuntimeInfo};
use crate::text::display_path;

/// The pending file beside a baseline file: `<baseline>.new`.
pub fn path_for(baseline: &Path) -> PathBuf {
    let mut p = baseline.as_os_str().to_owned();
    p.push(".new");
    PathBuf::from(p)
}

/// The baseline file a pending file belongs to, if `path` is one.
pub fn baseline_of(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(".toml.new")?;
    Some(path.with_file_name(&name[..name.len() - ".new".len()]))
}

/// Apply a run's proposals for the target's tests to its pending file:
/// `Pending` entries are written, `Clear` and `Write` ones dropped; the file
/// is removed once it holds nothing. Its tests afterwards, when any.
pub fn store(
    target: &Target,
    recordings: &BTreeMap<String, Recording>,
    runtime: &RuntimeInfo,
) -> Result<Option<PendingFile>, BaselineError> {
    let path = path_for(target.path);
    let before = std::fs::read_to_string(&path).ok();
    // Entries from another runtime are not comparable with this run's.
    let mut file = BaselineFile::load_or_empty(&path, runtime);
    for (test, recording) in recordings {
        match recording {
            Recording::Pending(blocks) => {
                file.tests.insert(test.clone(), blocks.clone());
            }
            Recording::Clear | Recording::Write(_) => {
                file.tests.remove(test);
            }
        }
    }
    if file.tests.is_empty() {
        if before.is_some() {
            guarded(|| remove(&path))?;
        }
        return Ok(None);
    }
    let text = render(&file, target.source_name);
    if before.as_deref() != Some(text.as_str()) {
        guarded(|| write_atomically(&path, &text))?;
    }
    Ok(Some(PendingFile {
        path: display_path(&path),
        tests: file.tests.keys().cloned().collect(),
    }))
}

/// Write a pending file.
pub(super) fn save(
    file: &BaselineFile,
    path: &Path,
    source_name: &str,
) -> Result<(), BaselineError> {
    write_atomically(path, &render(file, source_name))
}

/// A pending file's text: a baseline file, headed as pending.
fn render(file: &BaselineFile, source_name: &str) -> String {
    let text = file.render(source_name);
    let body = text
        .split_once("\nruntime = ")
        .map_or(text.as_str(), |(_, rest)| rest);
    format!(
        "# cargo-memcheck pending baseline for {source_name}: figures of the last run that differ from\n\
         # the committed baseline. Accept with `cargo memcheck accept`, or `review`; do not commit.\n\
         runtime = {body}"
    )
}

/// A pending file found on disk, with what it and its baseline hold.
#[derive(Debug)]
pub struct Pending {
    pub path: PathBuf,
    pub baseline: PathBuf,
    /// The test file's name, for the baseline's header.
    pub source_name: String,
    /// The engine the baseline is for (from its name: `<file>.node.toml`).
    pub engine: Engine,
    pub file: BaselineFile,
}

impl Pending {
    /// Read the pending file at `path`.
    pub fn load(path: &Path) -> Result<Option<Pending>, BaselineError> {
        let Some(baseline) = baseline_of(path) else {
            return Ok(None);
        };
        let Some(file) = BaselineFile::load(path)? else {
            return Ok(None);
        };
        let stem = baseline
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".toml"))
            .unwrap_or_default();
        let (source_name, engine) = Engine::ALL
            .into_iter()
            .filter(|&e| e != Engine::Deno)
            .find_map(|e| Some((stem.strip_suffix(&format!(".{e}"))?, e)))
            .unwrap_or((stem, Engine::Deno));
        let source_name = source_name.to_owned();
        Ok(Some(Pending {
            path: path.to_path_buf(),
            baseline,
            source_name,
            engine,
            file,
        }))
    }

    /// The committed entry of `test`, if any (`None` for an unreadable
    /// baseline or one from another runtime).
    pub fn committed(&self, test: &str) -> Option<TestBaseline> {
        let base = BaselineFile::load(&self.baseline).ok().flatten()?;
        base.tests.get(test).cloned()
    }

    /// Move `tests`' entries into the baseline and out of the pending
    /// file; what changed in the baseline.
    pub fn accept(&mut self, tests: &[String]) -> Result<FileChanges, AcceptError> {
        let _lock = super::lock(&self.baseline)?;
        self.reload()?;
        let old = match BaselineFile::load(&self.baseline)? {
            Some(b) if b.runtime != self.file.runtime || b.v8 != self.file.v8 => {
                return Err(AcceptError::OtherRuntime {
                    baseline: display_path(&self.baseline),
                    recorded: b.recorded_with(),
                    pending: self.file.recorded_with(),
                });
            }
            Some(b) => b,
            None => BaselineFile {
                tests: BTreeMap::new(),
                ..self.file.clone()
            },
        };
        let mut merged = old.clone();
        for test in tests {
            if let Some(blocks) = self.file.tests.get(test) {
                merged.tests.insert(test.clone(), blocks.clone());
            }
        }
        guarded(|| merged.save(&self.baseline, &self.source_name))?;
        self.drop_locked(tests)?;
        Ok(FileChanges {
            path: display_path(&self.baseline),
            changes: file_changes(&old, &merged),
        })
    }

    /// Drop `tests`' entries from the pending file (removing it once empty).
    pub fn drop_tests(&mut self, tests: &[String]) -> Result<(), BaselineError> {
        let _lock = super::lock(&self.baseline)?;
        self.reload()?;
        self.drop_locked(tests)
    }

    /// Read the pending file again (another run may have changed it since
    /// it was found); the caller holds the lock.
    fn reload(&mut self) -> Result<(), BaselineError> {
        self.file.tests = BaselineFile::load(&self.path)?
            .map(|f| f.tests)
            .unwrap_or_default();
        Ok(())
    }

    fn drop_locked(&mut self, tests: &[String]) -> Result<(), BaselineError> {
        self.file.tests.retain(|t, _| !tests.contains(t));
        if self.file.tests.is_empty() {
            guarded(|| remove(&self.path))
        } else {
            guarded(|| save(&self.file, &self.path, &self.source_name))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error(
        "cannot accept into {baseline}: it was recorded with {recorded}, the pending figures with {pending}; re-record the file with `cargo memcheck --update`"
    )]
    OtherRuntime {
        baseline: String,
        recorded: String,
        pending: String,
    },
    #[error(transparent)]
    Baseline(#[from] BaselineError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::BlockBaseline;

    fn runtime() -> RuntimeInfo {
        RuntimeInfo {
            name: "deno".into(),
            version: "2.9.6".into(),
            v8: "15.0".into(),
        }
    }

    fn blocks(n: u64) -> TestBaseline {
        let b = BlockBaseline {
            retained_objects: n,
            ..BlockBaseline::default()
        };
        BTreeMap::from([("b".to_owned(), b)])
    }

    #[test]
    fn pending_entries_are_stored_cleared_and_accepted_test_by_test() {
        let dir = std::env::temp_dir().join(format!("memcheck-pending-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("__memcheck__/a.js.toml");
        let loaded = Ok(None);
        let target = Target {
            source_name: "a.js",
            path: &path,
            loaded: &loaded,
            tests: None,
            rerecord: "",
        };
        let proposals = BTreeMap::from([
            ("one".to_owned(), Recording::Pending(blocks(1))),
            ("two".to_owned(), Recording::Pending(blocks(2))),
        ]);
        let stored = store(&target, &proposals, &runtime()).unwrap().unwrap();
        assert_eq!(stored.tests, ["one", "two"]);
        assert!(!path.exists(), "the committed baseline is not touched");
        let text = std::fs::read_to_string(path_for(&path)).unwrap();
        assert!(text.starts_with("# cargo-memcheck pending baseline for a.js"));

        let mut pending = Pending::load(&path_for(&path)).unwrap().unwrap();
        let changes = pending.accept(&["one".to_owned()]).unwrap();
        assert_eq!(changes.changes, ["\"one\": recorded (1 block)"]);
        let base = BaselineFile::load(&path).unwrap().unwrap();
        assert_eq!(base.tests.keys().collect::<Vec<_>>(), ["one"]);
        assert_eq!(base.runtime, "deno 2.9.6");

        let clear = BTreeMap::from([("two".to_owned(), Recording::Clear)]);
        assert_eq!(store(&target, &clear, &runtime()).unwrap(), None);
        assert!(!path_for(&path).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_pending_path_names_its_baseline() {
        let p = Path::new("x/__memcheck__/a.memtest.js.toml.new");
        assert_eq!(path_for(&baseline_of(p).unwrap()), p);
        assert_eq!(baseline_of(Path::new("x/a.toml")), None);
    }
}
