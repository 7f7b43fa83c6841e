//! Watching the project for saves: `notify`, debounced by
//! `notify-debouncer-full` (a burst of saves is one batch; reads, which the
//! runs themselves make, are not changes), with one watch
//! per folder that discovery would enter: `.gitignore` and `.ignore` files
//! followed, hidden folders, `node_modules`, `target`, `.git` and
//! `__memcheck__` never entered; a folder that appears is watched as it
//! does. Changed files that an ignore file covers are dropped.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use notify_debouncer_full::notify::EventKind;
use notify_debouncer_full::notify::RecursiveMode;
use notify_debouncer_full::notify::event::ModifyKind;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

/// Folders never watched, wherever they are.
const SKIPPED: [&str; 4] = ["node_modules", "target", ".git", "__memcheck__"];

/// How long the files must be quiet before a batch is reported.
const QUIET: Duration = Duration::from_millis(200);

/// Start watching `root`; `changed` gets each batch of changed files
/// (absolute, sorted, at least one), on the watcher's own thread.
pub fn start(root: &Path, changed: impl Fn(Vec<PathBuf>) + Send + 'static) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::channel::<DebounceEventResult>();
    let mut debouncer = new_debouncer(QUIET, None, tx)?;
    let mut rules = Rules::new(root);
    let mut watched = HashSet::new();
    for dir in rules.folders(root) {
        if debouncer.watch(&dir, RecursiveMode::NonRecursive).is_ok() {
            watched.insert(dir);
        }
    }
    std::thread::Builder::new()
        .name("memcheck-watch".into())
        .spawn(move || {
            for batch in rx {
                let Ok(events) = batch else { continue };
                let mut files = Vec::new();
                let paths = events
                    .into_iter()
                    .filter(|e| changes_content(&e.kind))
                    .flat_map(|e| e.event.paths);
                for path in paths {
                    if path
                        .file_name()
                        .is_some_and(|n| n == ".gitignore" || n == ".ignore")
                    {
                        rules.forget();
                    }
                    if path.is_dir() {
                        for dir in rules.folders(&path) {
                            if !watched.contains(&dir)
                                && debouncer.watch(&dir, RecursiveMode::NonRecursive).is_ok()
                            {
                                watched.insert(dir);
                            }
                        }
                    } else if !rules.ignored(&path) {
                        files.push(path);
                    }
                }
                files.sort();
                files.dedup();
                if !files.is_empty() {
                    changed(files);
                }
            }
        })?;
    Ok(())
}

/// A file made, written, renamed or removed; not one opened or read, nor
/// its times or permissions changed.
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any => true,
        EventKind::Modify(m) => !matches!(m, ModifyKind::Metadata(_)),
        EventKind::Access(_) | EventKind::Other => false,
    }
}

/// What is left out of the watch: the folders never entered, and what the
/// ignore files between the root and a file cover.
struct Rules {
    root: PathBuf,
    /// Each folder's own rules, once read (`None`: it has no ignore file).
    by_folder: HashMap<PathBuf, Option<Gitignore>>,
}

impl Rules {
    fn new(root: &Path) -> Rules {
        Rules {
            root: root.to_path_buf(),
            by_folder: HashMap::new(),
        }
    }

    /// An ignore file changed: read them again.
    fn forget(&mut self) {
        self.by_folder.clear();
    }

    /// `dir` and the folders under it to watch, as discovery walks them.
    fn folders(&self, dir: &Path) -> Vec<PathBuf> {
        if self.skipped(dir) {
            return Vec::new();
        }
        let walker = ignore::WalkBuilder::new(dir)
            .require_git(false)
            .filter_entry(|e| !SKIPPED.iter().any(|s| e.file_name() == *s))
            .build();
        walker
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_some_and(|t| t.is_dir()))
            .map(ignore::DirEntry::into_path)
            .collect()
    }

    /// Under a folder never watched, or hidden, below the root.
    fn skipped(&self, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(&self.root) else {
            return true;
        };
        rel.components().any(|c| {
            let name = c.as_os_str().to_string_lossy();
            SKIPPED.contains(&name.as_ref()) || name.starts_with('.')
        })
    }

    /// A file to leave out: under a skipped or hidden folder, hidden itself
    /// (an editor's lock or swap file), or covered by an ignore file.
    fn ignored(&mut self, path: &Path) -> bool {
        if self.skipped(path) {
            return true;
        }
        let name = path.file_name().map(|n| n.to_string_lossy());
        if name.is_some_and(|n| n.ends_with('~') || n.ends_with(".swp") || n == "4913") {
            return true;
        }
        let mut dir = path.parent();
        while let Some(d) = dir {
            if let Some(Some(rules)) = self.rules_of(d)
                && rules.matched_path_or_any_parents(path, false).is_ignore()
            {
                return true;
            }
            if d == self.root {
                break;
            }
            dir = d.parent();
        }
        false
    }

    fn rules_of(&mut self, dir: &Path) -> Option<&Option<Gitignore>> {
        if !self.by_folder.contains_key(dir) {
            let mut builder = GitignoreBuilder::new(dir);
            let mut any = false;
            for name in [".gitignore", ".ignore"] {
                let file = dir.join(name);
                if file.is_file() {
                    any |= builder.add(file).is_none();
                }
            }
            let rules = any.then(|| builder.build().ok()).flatten();
            self.by_folder.insert(dir.to_path_buf(), rules);
        }
        self.by_folder.get(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_files_hidden_and_vendored_folders_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join(".gitignore"), "dist/\n*.log\n").unwrap();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/.gitignore"), "gen.js\n").unwrap();
        let mut rules = Rules::new(&root);
        for kept in ["a.js", "sub/b.js", "lib/c.ts"] {
            assert!(!rules.ignored(&root.join(kept)), "{kept}");
        }
        for left in [
            "dist/a.js",
            "x.log",
            "sub/gen.js",
            "node_modules/p/i.js",
            "__memcheck__/a.js.toml",
            "target/x",
            ".git/HEAD",
            "a.js~",
            ".hidden/a.js",
        ] {
            assert!(rules.ignored(&root.join(left)), "{left}");
        }
        assert!(rules.ignored(Path::new("/elsewhere/a.js")));
    }

    #[test]
    fn the_folders_watched_are_the_ones_discovery_enters() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        for d in ["src/lib", "node_modules/p", "dist", "__memcheck__"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join(".gitignore"), "dist/\n").unwrap();
        let mut found = Rules::new(&root).folders(&root);
        found.sort();
        let expected: Vec<PathBuf> = ["", "src", "src/lib"]
            .iter()
            .map(|d| root.join(d))
            .collect();
        let expected: Vec<PathBuf> = expected.iter().map(|p| graph_normal(p)).collect();
        let found: Vec<PathBuf> = found.iter().map(|p| graph_normal(p)).collect();
        assert_eq!(found, expected);
    }

    fn graph_normal(p: &Path) -> PathBuf {
        super::super::graph::normalize(p)
    }
}
