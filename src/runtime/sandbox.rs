//! What a test may touch. By default: read the project, nothing else. A
//! symbolic link inside the project whose target lies outside it (a
//! checked-in link, `npm link`) would open a way out, so each one is found
//! here and closed (unless `memcheck.toml` grants its target), while links
//! that stay inside the project (pnpm's `node_modules/.pnpm`) keep working.

use std::path::{Path, PathBuf};

use super::RuntimeError;

/// Whether `entry` of `runtime.allow` grants `name`: `"write"` or
/// `"write=…"`.
pub fn is_grant_of(entry: &str, name: &str) -> bool {
    entry
        .strip_prefix(name)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('='))
}

/// Folders never searched for links: version control and build output
/// memcheck writes itself.
const SKIPPED: [&str; 2] = [".git", "target"];

/// A link inside the project that leads out of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Escape {
    pub link: PathBuf,
    pub target: PathBuf,
}

/// The project's read sandbox.
#[derive(Clone, Debug, Default)]
pub struct Sandbox {
    /// The project root, canonical.
    pub root: PathBuf,
    /// Extra folders `memcheck.toml` grants reading (`read=PATH`).
    pub granted: Vec<PathBuf>,
    /// Everything is readable (`allow = ["read"]`): no confinement.
    pub open: bool,
    pub escapes: Vec<Escape>,
}

impl Sandbox {
    /// Scan `root` for links that lead outside it (and outside `granted`).
    pub fn scan(root: &Path, allow: &[String]) -> std::io::Result<Sandbox> {
        let root = std::fs::canonicalize(root)?;
        let mut sandbox = Sandbox {
            open: allow.iter().any(|a| a == "read"),
            granted: granted_reads(&root, allow),
            root,
            escapes: Vec::new(),
        };
        if !sandbox.open {
            sandbox.escapes = find_escapes(&sandbox.root, &sandbox.granted);
        }
        Ok(sandbox)
    }

    /// Whether `path` (canonical) may be read.
    pub fn allows(&self, path: &Path) -> bool {
        self.open
            || path.starts_with(&self.root)
            || self.granted.iter().any(|g| path.starts_with(g))
    }
}

/// The folders that `read=A,B` entries grant, made absolute from `root`.
fn granted_reads(root: &Path, allow: &[String]) -> Vec<PathBuf> {
    allow
        .iter()
        .filter_map(|a| a.strip_prefix("read="))
        .flat_map(|list| list.split(','))
        .filter(|p| !p.is_empty())
        .map(|p| {
            let p = root.join(p);
            std::fs::canonicalize(&p).unwrap_or(p)
        })
        .collect()
}

/// Every link under `root` whose target is neither inside `root` nor
/// inside a granted folder. Links are not followed.
fn find_escapes(root: &Path, granted: &[PathBuf]) -> Vec<Escape> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                if !(dir == root && SKIPPED.iter().any(|s| entry.file_name() == *s)) {
                    pending.push(path);
                }
            } else if kind.is_symlink()
                && let Ok(target) = std::fs::canonicalize(&path)
                && !target.starts_with(root)
                && !granted.iter().any(|g| target.starts_with(g))
            {
                out.push(Escape { link: path, target });
            }
        }
    }
    out.sort_by(|a, b| a.link.cmp(&b.link));
    out
}

/// `path` as a runtime permission flag can carry it: Deno and Node split
/// permission lists on commas and have no escape for them, so a path with
/// a comma is written relative to `cwd` when that removes the comma.
pub fn flag_path(path: &Path, cwd: &Path) -> Result<String, RuntimeError> {
    let text = path.to_string_lossy();
    if !text.contains(',') {
        return Ok(text.into_owned());
    }
    if let Ok(rest) = path.strip_prefix(cwd) {
        let rest = rest.to_string_lossy();
        if !rest.contains(',') {
            return Ok(if rest.is_empty() {
                ".".to_owned()
            } else {
                format!("./{rest}")
            });
        }
    }
    Err(RuntimeError::Comma(path.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_is_its_name_alone_or_with_values() {
        assert!(is_grant_of("read", "read") && is_grant_of("read=/x", "read"));
        assert!(!is_grant_of("readx", "read") && !is_grant_of("write", "read"));
    }

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("memcheck-sandbox-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::canonicalize(dir).unwrap()
    }

    #[test]
    fn links_out_of_the_project_are_found_and_links_inside_are_not() {
        let base = temp("links");
        let root = base.join("project");
        let outside = base.join("outside");
        std::fs::create_dir_all(root.join("node_modules/.pnpm/a@1/node_modules/a")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
        std::os::unix::fs::symlink(".pnpm/a@1/node_modules/a", root.join("node_modules/a"))
            .unwrap();
        std::os::unix::fs::symlink("/nonexistent/dangling", root.join("dangling")).unwrap();
        let sandbox = Sandbox::scan(&root, &[]).unwrap();
        assert_eq!(
            sandbox.escapes,
            [Escape {
                link: root.join("out"),
                target: outside.clone()
            }]
        );
        // A grant of the target keeps the link open.
        let granted = Sandbox::scan(&root, &[format!("read={}", outside.display())]).unwrap();
        assert!(granted.escapes.is_empty());
        assert!(granted.allows(&outside.join("x")));
        assert!(!sandbox.allows(&outside.join("x")));
        std::fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn commas_are_written_relative_when_they_can_be() {
        let cwd = Path::new("/p/a,b");
        assert_eq!(flag_path(Path::new("/p/a,b"), cwd).unwrap(), ".");
        assert_eq!(flag_path(Path::new("/p/a,b/link"), cwd).unwrap(), "./link");
        assert_eq!(flag_path(Path::new("/tmp/x"), cwd).unwrap(), "/tmp/x");
        let err = flag_path(Path::new("/q/c,d"), cwd).unwrap_err().to_string();
        assert!(err.contains("/q/c,d"), "{err}");
    }
}
