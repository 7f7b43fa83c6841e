//! Finding test files: the `include` globs of `memcheck.toml`, minus
//! `exclude`, under the project root. The walk follows `.gitignore` (and
//! `.ignore`) files, as ripgrep and nextest do, so a compiled copy in an
//! ignored `dist/` is not run twice; `node_modules`, `target` and `.git` are
//! never searched, git or not; and a folder with a `memcheck.toml` of its
//! own is another project, left to its own runs.

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::config::{ALWAYS_SKIPPED, Config, FILE_NAME};

/// A discovered test file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TestFile {
    /// Path relative to the project root, with `/` separators: the name
    /// shown in reports and used in baselines.
    pub relative: String,
    pub path: std::path::PathBuf,
}

/// Compile globs as `memcheck.toml` writes them: `*` stays within a
/// folder, `**` crosses folders, `{a,b}` picks one of.
pub fn glob_set(patterns: &[String]) -> Result<GlobSet, globset::Error> {
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        set.add(GlobBuilder::new(p).literal_separator(true).build()?);
    }
    set.build()
}

/// All test files of the project, sorted by relative path.
pub fn discover(config: &Config) -> Result<Vec<TestFile>, String> {
    let include = glob_set(&config.include).map_err(|e| e.to_string())?;
    let exclude = glob_set(&config.exclude).map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    for path in project_files(&config.root, true)? {
        let relative = relative_path(&config.root, &path);
        if include.is_match(&relative) && !exclude.is_match(&relative) {
            found.push(TestFile { relative, path });
        }
    }
    found.sort();
    Ok(found)
}

/// Every file in a `__memcheck__` folder of the project (baselines,
/// pending baselines), sorted. The walk is that of test files, except that
/// ignore files are not followed: pending files are often git-ignored.
pub fn baseline_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found: Vec<PathBuf> = project_files(root, false)?
        .into_iter()
        .filter(|p| {
            p.parent()
                .and_then(Path::file_name)
                .is_some_and(|d| d == crate::baseline::DIR)
        })
        .collect();
    found.sort();
    Ok(found)
}

/// The files of the project under `root`: `.gitignore` followed when
/// `ignores` is set; `node_modules`, `target`, `.git` and nested projects
/// left out.
fn project_files(root: &Path, ignores: bool) -> Result<Vec<PathBuf>, String> {
    let walker = ignore::WalkBuilder::new(root)
        .standard_filters(ignores)
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(move |e| {
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            let skipped = ALWAYS_SKIPPED.iter().any(|s| e.file_name() == *s);
            let nested = e.depth() > 0 && e.path().join(FILE_NAME).is_file();
            !(is_dir && (skipped || nested))
        })
        .build();
    let mut files = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.path().is_file() {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

/// `path` relative to `root`, with `/` separators.
fn relative_path(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_default_globs_and_skips_ignored_vendored_and_nested_projects() {
        let dir = std::env::temp_dir().join(format!("memcheck-discover-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for f in [
            "a.memtest.js",
            "lib/b.memtest.ts",
            "lib/c.memtest.mjs",
            "lib/d.js",
            "lib/e.memtest.cjs",
            "ui/f.memtest.tsx",
            "ui/g.memtest.jsx",
            "ui/h.memtest.mts",
            "node_modules/x/i.memtest.js",
            "target/j.memtest.js",
            "dist/a.memtest.js",
            "other/memcheck.toml",
            "other/k.memtest.js",
        ] {
            let p = dir.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        std::fs::write(dir.join(".gitignore"), "dist/\n").unwrap();
        let config = Config::parse(
            "exclude = [\"lib/c.*\"]",
            Path::new("memcheck.toml"),
            dir.clone(),
        )
        .unwrap();
        let found: Vec<_> = discover(&config)
            .unwrap()
            .into_iter()
            .map(|f| f.relative)
            .collect();
        assert_eq!(
            found,
            [
                "a.memtest.js",
                "lib/b.memtest.ts",
                "lib/e.memtest.cjs",
                "ui/f.memtest.tsx",
                "ui/g.memtest.jsx",
                "ui/h.memtest.mts"
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
