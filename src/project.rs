//! A test file's place in the user's project: the package it belongs to
//! (the nearest folder, up to the memcheck root, holding a `package.json`
//! or a `deno.json`), which is the runtime's working directory for it and
//! whose dependencies explain an import that does not resolve.

use std::path::{Path, PathBuf};

/// The Deno configuration file names, in the order Deno looks for them.
pub const DENO_CONFIGS: [&str; 2] = ["deno.json", "deno.jsonc"];

/// The package a test file belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// Its folder; the memcheck root when no folder up to it is a package.
    pub dir: PathBuf,
    pub package_json: Option<PathBuf>,
    pub deno_json: Option<PathBuf>,
}

impl Package {
    /// The package of `file`, looking from its folder up to `root`. Its
    /// `deno_json` is the nearest Deno configuration, in its folder or
    /// above (a workspace member's `package.json` may sit under a root
    /// `deno.json`).
    pub fn of(file: &Path, root: &Path) -> Package {
        let folders: Vec<&Path> = file
            .ancestors()
            .skip(1)
            .take_while(|d| d.starts_with(root))
            .collect();
        let dir = folders
            .iter()
            .find(|d| d.join("package.json").is_file() || deno_config_in(d).is_some())
            .copied()
            .unwrap_or(root);
        Package {
            dir: dir.to_path_buf(),
            package_json: Some(dir.join("package.json")).filter(|p| p.is_file()),
            deno_json: folders.iter().find_map(|d| deno_config_in(d)),
        }
    }

    /// What to do about an import the runtime could not resolve, when it
    /// names a package: install the project's dependencies, or add it.
    pub fn explain_unresolved(&self, message: &str) -> Option<String> {
        if let Some(name) = message.split("npm package not found in cache: \"").nth(1)
            && let Some(name) = name.split('"').next()
            && let Some(deno_json) = &self.deno_json
        {
            let listed = std::fs::read_to_string(deno_json)
                .is_ok_and(|t| t.contains(&format!("\"npm:{name}")));
            return Some(if listed {
                format!(
                    "run `deno install` first: `{name}` is an npm: import that is not in Deno's cache (tests download nothing)"
                )
            } else {
                format!(
                    "`{name}` is an npm: import that is not in Deno's cache (tests download nothing): add it to deno.json, which installs it: `deno add npm:{name}`"
                )
            });
        }
        let (specifier, listed_by_runtime) = unresolved_package(message)?;
        let name = package_name(specifier);
        let listed = listed_by_runtime || self.depends_on(name);
        let installer = self.installer();
        if listed {
            let installed = self
                .dir
                .ancestors()
                .any(|d| d.join("node_modules").join(name).exists());
            if !installed {
                return Some(format!(
                    "run `{installer} install` first: `{name}` is in package.json but not installed"
                ));
            }
            return None;
        }
        Some(if self.package_json.is_some() || self.deno_json.is_none() {
            format!(
                "`{name}` is not a dependency of the project: add it to package.json ({installer} install {name}), or map it in deno.json's imports"
            )
        } else {
            format!(
                "`{name}` is not in deno.json's imports: add it (deno add npm:{name}), or install it with a package.json"
            )
        })
    }

    /// Whether `file` may be CommonJS (and `require()` things): a `.cjs` or
    /// `.cts` file, or a `.js` file whose package is not `"type": "module"`.
    pub fn may_require(&self, file: &Path) -> bool {
        match file.extension().and_then(|e| e.to_str()) {
            Some("cjs" | "cts") => true,
            Some("js" | "jsx") => self.package_json.as_ref().is_some_and(|p| {
                std::fs::read_to_string(p)
                    .ok()
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                    .is_some_and(|j| j["type"] != "module")
            }),
            _ => false,
        }
    }

    /// Whether `package.json` lists `name` among its dependencies.
    fn depends_on(&self, name: &str) -> bool {
        let Some(text) = self
            .package_json
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
        else {
            return false;
        };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
            return false;
        };
        [
            "dependencies",
            "devDependencies",
            "peerDependencies",
            "optionalDependencies",
        ]
        .iter()
        .any(|k| json[k].get(name).is_some())
    }

    /// The package manager the project uses, by its lockfile.
    fn installer(&self) -> &'static str {
        let has = |f: &str| self.dir.ancestors().any(|d| d.join(f).is_file());
        if has("pnpm-lock.yaml") {
            "pnpm"
        } else if has("yarn.lock") {
            "yarn"
        } else {
            "npm"
        }
    }
}

/// The Deno configuration file in `dir`, if any.
pub fn deno_config_in(dir: &Path) -> Option<PathBuf> {
    DENO_CONFIGS
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// The specifier in a runtime's "cannot resolve" message, and whether the
/// runtime said it found it in a package.json.
fn unresolved_package(message: &str) -> Option<(&str, bool)> {
    // Node: `Cannot find package 'left-pad' imported from …`.
    if let Some(rest) = message.split("Cannot find package '").nth(1) {
        return Some((rest.split('\'').next()?, false));
    }
    if let Some(rest) = message.split("Could not resolve \"").nth(1)
        && message.contains("found it in a package.json")
    {
        return Some((rest.split('"').next()?, true));
    }
    let rest = message.split("Import \"").nth(1)?;
    message
        .contains("not a dependency")
        .then(|| rest.split('"').next())
        .flatten()
        .filter(|s| !s.starts_with('.') && !s.starts_with('/') && !s.contains(':'))
        .map(|s| (s, false))
}

/// The package a bare specifier names: `@scope/name` or `name`, without a
/// subpath.
fn package_name(specifier: &str) -> &str {
    let mut parts = specifier.splitn(3, '/');
    let first = parts.next().unwrap_or(specifier);
    if first.starts_with('@') {
        let second = parts.next().map_or(0, str::len);
        &specifier[..(first.len() + 1 + second).min(specifier.len())]
    } else {
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("memcheck-project-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_nearest_package_is_found_up_to_the_root() {
        let root = temp("nearest");
        std::fs::create_dir_all(root.join("packages/a/test")).unwrap();
        std::fs::write(root.join("packages/a/package.json"), "{}").unwrap();
        std::fs::create_dir_all(root.join("loose")).unwrap();
        let a = Package::of(&root.join("packages/a/test/x.memtest.js"), &root);
        assert_eq!(a.dir, root.join("packages/a"));
        assert_eq!(a.package_json, Some(root.join("packages/a/package.json")));
        let loose = Package::of(&root.join("loose/y.memtest.js"), &root);
        assert_eq!(loose.dir, root);
        assert_eq!(loose.deno_json, None);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn unresolved_imports_say_what_to_do() {
        let root = temp("explain");
        std::fs::write(
            root.join("package.json"),
            r#"{"dependencies": {"lru-cache": "11", "@scope/pkg": "1"}}"#,
        )
        .unwrap();
        std::fs::write(root.join("pnpm-lock.yaml"), "").unwrap();
        let p = Package::of(&root.join("a.memtest.js"), &root);
        let m = p
            .explain_unresolved(
                "Could not resolve \"lru-cache\", but found it in a package.json. Deno expects",
            )
            .unwrap();
        assert_eq!(
            m,
            "run `pnpm install` first: `lru-cache` is in package.json but not installed"
        );
        let m = p
            .explain_unresolved("Import \"@scope/pkg/sub\" not a dependency and not in import map")
            .unwrap();
        assert!(
            m.contains("`@scope/pkg` is in package.json but not installed"),
            "{m}"
        );
        let m = p
            .explain_unresolved(
                "Import \"left-pad\" not a dependency and not in import map from \"a.js\"",
            )
            .unwrap();
        assert!(m.starts_with("`left-pad` is not a dependency of the project: add it to package.json (pnpm install left-pad)"), "{m}");
        // Node's words for the same.
        let m = p
            .explain_unresolved("Error: Cannot find package 'lru-cache' imported from /p/a.js")
            .unwrap();
        assert!(
            m.starts_with("run `pnpm install` first: `lru-cache`"),
            "{m}"
        );
        assert_eq!(
            p.explain_unresolved("Import \"./x.js\" not a dependency"),
            None
        );
        assert_eq!(p.explain_unresolved("TypeError: boom"), None);
        std::fs::write(root.join("deno.json"), "{}").unwrap();
        let p = Package::of(&root.join("a.memtest.js"), &root);
        let m = p
            .explain_unresolved(
                "Failed loading … 0: npm package not found in cache: \"lru-cache\", --cached-only",
            )
            .unwrap();
        assert!(
            m.ends_with("add it to deno.json, which installs it: `deno add npm:lru-cache`"),
            "{m}"
        );
        std::fs::write(
            root.join("deno.json"),
            r#"{"imports": {"lru-cache": "npm:lru-cache@11"}}"#,
        )
        .unwrap();
        let m = p
            .explain_unresolved("npm package not found in cache: \"lru-cache\", --cached-only")
            .unwrap();
        assert!(
            m.starts_with("run `deno install` first: `lru-cache` is an npm: import"),
            "{m}"
        );
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn package_names_drop_subpaths() {
        assert_eq!(package_name("lru-cache"), "lru-cache");
        assert_eq!(package_name("lodash/fp"), "lodash");
        assert_eq!(package_name("@scope/pkg/deep/file.js"), "@scope/pkg");
        assert_eq!(package_name("@scope"), "@scope");
    }
}
