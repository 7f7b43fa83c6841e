//! Finding test files: the `include` globs of `memcheck.toml`, minus
//! `exclude`, under the project root, never inside `node_modules`, `target`
//! or `.git`.

use std::path::{Path, PathBuf};

use glob::{MatchOptions, Pattern};

use crate::config::{ALWAYS_SKIPPED, Config, expand_braces};

/// A discovered test file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TestFile {
    /// Path relative to the project root, with `/` separators: the name
    /// shown in reports and used in baselines.
    pub relative: String,
    pub path: PathBuf,
}

/// All test files of the project, sorted by relative path.
pub fn discover(config: &Config) -> std::io::Result<Vec<TestFile>> {
    let compile = |patterns: &[String]| -> Vec<Pattern> {
        patterns
            .iter()
            .flat_map(|p| expand_braces(p))
            .filter_map(|p| Pattern::new(&p).ok())
            .collect()
    };
    let include = compile(&config.include);
    let exclude = compile(&config.exclude);
    let mut found = Vec::new();
    walk(&config.root, &config.root, &mut |relative, path| {
        let opts = MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        let matches = |ps: &[Pattern]| {
            ps.iter()
                .any(|p| p.matches_with(relative, opts) || root_level(p, relative, opts))
        };
        if matches(&include) && !matches(&exclude) {
            found.push(TestFile {
                relative: relative.to_owned(),
                path: path.to_path_buf(),
            });
        }
    })?;
    found.sort();
    Ok(found)
}

/// `**/x` also matches `x` at the root.
fn root_level(p: &Pattern, relative: &str, opts: MatchOptions) -> bool {
    p.as_str()
        .strip_prefix("**/")
        .and_then(|rest| Pattern::new(rest).ok())
        .is_some_and(|rest| rest.matches_with(relative, opts))
}

fn walk(root: &Path, dir: &Path, visit: &mut dyn FnMut(&str, &Path)) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if ALWAYS_SKIPPED.iter().any(|s| name == *s) {
                continue;
            }
            walk(root, &path, visit)?;
        } else if kind.is_file() || kind.is_symlink() && path.is_file() {
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            visit(&relative, &path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_default_globs_and_skips_vendored_dirs() {
        let dir = std::env::temp_dir().join(format!("memcheck-discover-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for f in [
            "a.memtest.js",
            "lib/b.memtest.ts",
            "lib/c.memtest.mjs",
            "lib/d.js",
            "node_modules/x/e.memtest.js",
            "target/f.memtest.js",
        ] {
            let p = dir.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
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
        assert_eq!(found, vec!["a.memtest.js", "lib/b.memtest.ts"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
