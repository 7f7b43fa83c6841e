//! Unreferenced baselines, as insta's `--unreferenced`: entries whose test
//! no longer exists in its file, and baseline (or pending) files whose test
//! file is gone. `--unreferenced=ignore|warn|reject|delete` says what a run
//! does about them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{BaselineError, BaselineFile, guarded, pending, remove};

/// What a run does with unreferenced baselines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unreferenced {
    Ignore,
    /// Name them after the run (the default).
    #[default]
    Warn,
    /// Name them and fail the run (exit 1).
    Reject,
    /// Remove them.
    Delete,
}

/// One unreferenced entry, or a whole file when `test` is `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stale {
    pub path: PathBuf,
    pub test: Option<String>,
}

/// The unreferenced entries among `files` (every file under a
/// `__memcheck__` folder of the project). `known` maps the baseline path of
/// each test file to the tests it declares (`None` when it could not be
/// listed: its entries cannot be judged).
pub fn find(files: &[PathBuf], known: &BTreeMap<PathBuf, Option<Vec<String>>>) -> Vec<Stale> {
    let mut stale = Vec::new();
    for path in files {
        let baseline = match pending::baseline_of(path) {
            Some(b) => b,
            None if path.extension().is_some_and(|e| e == "toml") => path.clone(),
            None => continue,
        };
        match known.get(&baseline) {
            None => stale.push(Stale {
                path: path.clone(),
                test: None,
            }),
            Some(None) => {}
            Some(Some(tests)) => stale.extend(stale_entries(path, tests)),
        }
    }
    stale
}

/// The entries of the file at `path` whose test is not among `tests` (none
/// for a file that cannot be read: it is reported as such elsewhere).
fn stale_entries(path: &Path, tests: &[String]) -> Vec<Stale> {
    let Ok(Some(file)) = BaselineFile::load(path) else {
        return Vec::new();
    };
    file.tests
        .keys()
        .filter(|t| !tests.contains(t))
        .map(|t| Stale {
            path: path.to_path_buf(),
            test: Some(t.clone()),
        })
        .collect()
}

/// Remove the unreferenced entries (a file left with no test goes too).
pub fn delete(stale: &[Stale]) -> Result<(), BaselineError> {
    let mut per_file: BTreeMap<&Path, Vec<&str>> = BTreeMap::new();
    for s in stale {
        let tests = per_file.entry(&s.path).or_default();
        match &s.test {
            Some(t) => tests.push(t),
            None => tests.clear(),
        }
    }
    for (path, tests) in per_file {
        let _lock = super::lock(path)?;
        let whole = stale.iter().any(|s| s.path == path && s.test.is_none());
        let Ok(Some(mut file)) = BaselineFile::load(path) else {
            guarded(|| remove(path))?;
            continue;
        };
        file.tests.retain(|t, _| !tests.contains(&t.as_str()));
        if whole || file.tests.is_empty() {
            guarded(|| remove(path))?;
        } else if pending::baseline_of(path).is_some() {
            guarded(|| pending::save(&file, path, &source_name(path)))?;
        } else {
            guarded(|| file.save(path, &source_name(path)))?;
        }
    }
    Ok(())
}

/// The test file's name a baseline or pending file is named after.
fn source_name(path: &Path) -> String {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let name = name.strip_suffix(".new").unwrap_or(name);
    name.strip_suffix(".toml").unwrap_or(name).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_files_and_entries_are_found_and_deleted() {
        let dir = std::env::temp_dir().join(format!("memcheck-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let text = "runtime = \"deno 2.9.6\"\nv8 = \"15\"\n\n[tests.\"kept\".\"b\"]\nretained_objects = 1\nretained_bytes = 0\nfreed_objects = 0\nfreed_bytes = 0\n\n[tests.\"gone\".\"b\"]\nretained_objects = 1\nretained_bytes = 0\nfreed_objects = 0\nfreed_bytes = 0\n";
        let (live, orphan, unlisted) = (
            dir.join("a.js.toml"),
            dir.join("deleted.js.toml"),
            dir.join("broken.js.toml"),
        );
        for p in [&live, &orphan, &unlisted] {
            std::fs::write(p, text).unwrap();
        }
        let known = BTreeMap::from([
            (live.clone(), Some(vec!["kept".to_owned()])),
            (unlisted.clone(), None),
        ]);
        let mut files = vec![live.clone(), orphan.clone(), unlisted, dir.join("x.tmp")];
        files.sort();
        let stale = find(&files, &known);
        assert_eq!(
            stale,
            [
                Stale {
                    path: live.clone(),
                    test: Some("gone".into())
                },
                Stale {
                    path: orphan.clone(),
                    test: None
                },
            ]
        );
        delete(&stale).unwrap();
        assert!(!orphan.exists());
        let left = BaselineFile::load(&live).unwrap().unwrap();
        assert_eq!(left.tests.keys().collect::<Vec<_>>(), ["kept"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
