//! Serving the project to the page, through request interception: every
//! request the page makes is paused and answered by the runner, so no
//! socket is opened. The page lives at one fixed origin ([`ORIGIN`]; V8
//! puts the origin into some class names, so it must never change).
//!
//! - `/__memcheck__/run.html` is the page that runs a job: an import map
//!   and the harness's page host;
//! - `/__memcheck__/harness/…` are the harness's files;
//! - any other path is a file of the project, under the sandbox's rules:
//!   nothing outside the project, no link out of it;
//! - every request to another origin fails: a test has no network.
//!
//! A module in TypeScript or JSX is transpiled when a script asks for it
//! ([`super::transpile`]); a script's relative import resolves as a
//! bundler's would where the file named is missing: `./a.js` to `./a.ts`
//! or `./a.tsx` (TypeScript's own convention), `./a` to the first of
//! [`RESOLVED`] that exists, by a redirect, so the module's URL names the
//! file that runs.
//!
//! Bare imports resolve through an import map built from the project's
//! `node_modules`, as a bundler's browser resolution would: a package's
//! `exports` (with the `browser`, `import`, `module` and `default`
//! conditions, subpaths included), else its `browser`, `module` or `main`
//! field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::module;
use super::transpile::Transpiler;

/// The page's origin.
pub const ORIGIN: &str = "http://memcheck.localhost";
/// Where memcheck's own files are served.
pub const OURS: &str = "/__memcheck__/";

/// The conditions a browser build is chosen by, in order.
const CONDITIONS: [&str; 4] = ["browser", "import", "module", "default"];

/// The files an extensionless import may name, in the order tried.
const RESOLVED: [&str; 10] = [
    ".ts",
    ".tsx",
    ".js",
    ".jsx",
    ".mjs",
    ".mts",
    "/index.ts",
    "/index.tsx",
    "/index.js",
    "/index.jsx",
];

/// What serving needs: the project, the harness, the job's page, and the
/// run's transpiler.
pub struct Served<'a> {
    pub root: &'a Path,
    pub harness: &'a Path,
    pub page: &'a str,
    pub transpiler: &'a Transpiler,
    /// What `process.env.NODE_ENV` reads as in the page's modules.
    pub node_env: &'a str,
}

/// What a request gets.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// The body and its content type.
    File(Vec<u8>, &'static str),
    /// The module is another file: its path at the origin.
    Moved(String),
    /// The request fails (outside the project, missing, another origin).
    Refuse(String),
}

/// Answer a request for `url`; `script` when a script asked for it (a
/// module to import, rather than a file to read).
pub fn answer(url: &str, script: bool, served: &Served) -> Answer {
    let (root, harness, page) = (served.root, served.harness, served.page);
    let Some(rest) = url.strip_prefix(ORIGIN).filter(|r| r.starts_with('/')) else {
        return Answer::Refuse(
            "tests have no network; serve what the test needs from the project".into(),
        );
    };
    let path = rest.split(['?', '#']).next().unwrap_or("/");
    let path = crate::text::percent_decode(path);
    if path == "/__memcheck__/run.html" {
        return Answer::File(page.as_bytes().to_vec(), "text/html; charset=utf-8");
    }
    if let Some(name) = path.strip_prefix("/__memcheck__/harness/") {
        return file_under(harness, name, None);
    }
    let relative = path.trim_start_matches('/');
    if !script {
        return file_under(root, relative, None);
    }
    if !root.join(relative).is_file()
        && let Some(found) = resolved(root, relative)
    {
        return Answer::Moved(format!("/{found}"));
    }
    file_under(root, relative, Some(served))
}

/// The file a script's `relative` import means when it names none: the
/// TypeScript behind a `.js`, or an extensionless path completed.
fn resolved(root: &Path, relative: &str) -> Option<String> {
    let exists = |p: &str| root.join(p).is_file();
    if let Some(stem) = relative.strip_suffix(".js") {
        return [".ts", ".tsx"]
            .iter()
            .map(|e| format!("{stem}{e}"))
            .find(|p| exists(p));
    }
    let named = Path::new(relative)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["mjs", "cjs", "ts", "tsx", "jsx", "mts", "json", "css"].contains(&e));
    if named {
        return None;
    }
    RESOLVED
        .iter()
        .map(|e| format!("{}{e}", relative.trim_end_matches('/')))
        .find(|p| exists(p))
}

/// The file `relative` under `dir`, if it is really there (no `..`, no
/// link out); as a module ([`module`]) when a script imports it.
fn file_under(dir: &Path, relative: &str, script: Option<&Served>) -> Answer {
    if relative.split('/').any(|p| p == "..") {
        return Answer::Refuse("outside the project".into());
    }
    let candidate = dir.join(relative);
    let (Ok(real), Ok(base)) = (candidate.canonicalize(), dir.canonicalize()) else {
        return Answer::Refuse("no such file in the project".into());
    };
    if !real.starts_with(&base) {
        return Answer::Refuse(format!(
            "a link that leads outside the project (to {}), which tests may not read",
            real.display()
        ));
    }
    if let Some(served) = script {
        return match module::module(&candidate, &real, served.transpiler, served.node_env) {
            Ok((body, content_type)) => Answer::File(body, content_type),
            Err(e) => Answer::Refuse(e),
        };
    }
    match std::fs::read(&real) {
        Ok(bytes) => Answer::File(bytes, content_type(&real)),
        Err(e) => Answer::Refuse(e.to_string()),
    }
}

pub(super) fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "js" | "mjs" | "cjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "css" => "text/css",
        "html" | "htm" => "text/html; charset=utf-8",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The URL path of `file` under `root`, percent-encoded.
pub fn url_path(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap_or(file);
    let mut out = String::new();
    for part in relative.components() {
        out.push('/');
        for b in part.as_os_str().to_string_lossy().bytes() {
            if b.is_ascii_alphanumeric() || b"-._~@+".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// The import map of the project at `root`: `memcheck` and every package
/// in its `node_modules` (scoped ones included).
pub fn import_map(root: &Path) -> Value {
    let mut imports = BTreeMap::new();
    imports.insert("memcheck".to_owned(), format!("{OURS}harness/memcheck.js"));
    let modules = root.join("node_modules");
    for dir in packages(&modules) {
        let Some(name) = package_name(&modules, &dir) else {
            continue;
        };
        let base = url_path(root, &dir);
        let manifest = std::fs::read_to_string(dir.join("package.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .unwrap_or(Value::Null);
        for (specifier, target) in entries(&name, &dir, &base, &manifest) {
            imports.entry(specifier).or_insert(target);
        }
    }
    let imports: Map<String, Value> = imports.into_iter().map(|(k, v)| (k, v.into())).collect();
    serde_json::json!({ "imports": imports })
}

/// The package folders directly in `modules` (`a`, `@scope/b`).
fn packages(modules: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(modules) else {
        return out;
    };
    let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    names.sort();
    for path in names {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        if name.starts_with('@') {
            if let Ok(scoped) = std::fs::read_dir(&path) {
                let mut inner: Vec<PathBuf> = scoped.flatten().map(|e| e.path()).collect();
                inner.sort();
                out.extend(
                    inner
                        .into_iter()
                        .filter(|p| p.join("package.json").is_file()),
                );
            }
        } else if path.join("package.json").is_file() {
            out.push(path);
        }
    }
    out
}

fn package_name(modules: &Path, dir: &Path) -> Option<String> {
    let relative = dir.strip_prefix(modules).ok()?;
    Some(
        relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
    )
}

/// Files a pattern with a suffix may list, per package.
const PATTERN_FILES: usize = 2000;

/// The import-map entries of one package in `dir`, served at `base`.
fn entries(name: &str, dir: &Path, base: &str, manifest: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match manifest.get("exports") {
        Some(Value::Object(map)) if map.keys().any(|k| k.starts_with('.')) => {
            for (key, value) in map {
                let Some(target) = pick(value) else { continue };
                let Some(sub) = key.strip_prefix('.') else {
                    continue;
                };
                let target = target.trim_start_matches("./");
                if let (Some(key_dir), Some(target_dir)) =
                    (sub.strip_suffix('*'), target.strip_suffix('*'))
                {
                    // `"./*": "./dist/*"` maps a folder.
                    out.push((format!("{name}{key_dir}"), format!("{base}/{target_dir}")));
                } else if let (Some((k1, k2)), Some((t1, t2))) =
                    (sub.split_once('*'), target.split_once('*'))
                {
                    // A suffix after the star (`"./*": "./esm/*.mjs"`)
                    // cannot be said in an import map: list the files.
                    for star in matching(dir, t1, t2) {
                        out.push((
                            format!("{name}{k1}{star}{k2}"),
                            format!("{base}/{t1}{star}{t2}"),
                        ));
                    }
                } else if !sub.contains('*') {
                    out.push((format!("{name}{sub}"), format!("{base}/{target}")));
                }
            }
        }
        Some(exports) => {
            if let Some(target) = pick(exports) {
                out.push((
                    name.to_owned(),
                    format!("{base}/{}", target.trim_start_matches("./")),
                ));
            }
        }
        None => {
            let main = ["browser", "module", "main"]
                .iter()
                .find_map(|f| manifest.get(*f).and_then(Value::as_str))
                .unwrap_or("index.js");
            let main = main.trim_start_matches("./");
            let main = if Path::new(main).extension().is_none() {
                format!("{main}.js")
            } else {
                main.to_owned()
            };
            out.push((name.to_owned(), format!("{base}/{main}")));
            out.push((format!("{name}/"), format!("{base}/")));
        }
    }
    out
}

/// What `*` stands for in the files of `dir` named `prefix*suffix`
/// (`prefix` may hold folders; `*` may too), up to [`PATTERN_FILES`].
fn matching(dir: &Path, prefix: &str, suffix: &str) -> Vec<String> {
    let (folder, start) = prefix.rsplit_once('/').unwrap_or(("", prefix));
    let top = dir.join(folder);
    let mut out = Vec::new();
    let mut pending = vec![top.clone()];
    while let Some(d) = pending.pop() {
        let Ok(read) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut names: Vec<PathBuf> = read.flatten().map(|e| e.path()).collect();
        names.sort();
        for path in names {
            let Ok(relative) = path.strip_prefix(&top) else {
                continue;
            };
            let relative = relative.to_string_lossy().into_owned();
            if path.file_name().is_some_and(|n| n == "node_modules") {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if let Some(star) = relative
                .strip_prefix(start)
                .and_then(|r| r.strip_suffix(suffix))
                .filter(|s| !s.is_empty())
            {
                out.push(star.to_owned());
                if out.len() >= PATTERN_FILES {
                    return out;
                }
            }
        }
    }
    out.sort();
    out
}

/// The target an `exports` value gives a browser: a string, or the first
/// condition of [`CONDITIONS`] that leads to one.
fn pick(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        Value::Object(map) => CONDITIONS.iter().find_map(|c| map.get(*c).and_then(pick)),
        Value::Array(list) => list.iter().find_map(pick),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exports_resolve_with_browser_conditions() {
        let manifest = json!({
            "name": "preact",
            "exports": {
                ".": { "types": "./x.d.ts", "browser": "./dist/preact.module.js", "require": "./dist/preact.js" },
                "./hooks": { "import": "./hooks/dist/hooks.mjs", "require": "./hooks/dist/hooks.js" },
                "./package.json": "./package.json",
                "./*": "./*"
            }
        });
        let got = entries(
            "preact",
            Path::new("/none"),
            "/node_modules/preact",
            &manifest,
        );
        assert!(got.contains(&(
            "preact".into(),
            "/node_modules/preact/dist/preact.module.js".into()
        )));
        assert!(got.contains(&(
            "preact/hooks".into(),
            "/node_modules/preact/hooks/dist/hooks.mjs".into()
        )));
        assert!(got.contains(&("preact/".into(), "/node_modules/preact/".into())));
    }

    /// `"./*": "./esm/*.mjs"` (zustand) lists the files it matches.
    #[test]
    fn a_pattern_with_a_suffix_lists_its_files() {
        let dir = std::env::temp_dir().join(format!("memcheck-pattern-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("esm/middleware")).unwrap();
        for f in [
            "esm/vanilla.mjs",
            "esm/middleware/immer.mjs",
            "esm/index.d.mts",
        ] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let manifest = json!({
            "exports": {
                ".": { "import": "./esm/index.mjs" },
                "./*": { "types": "./esm/*.d.mts", "import": "./esm/*.mjs" }
            }
        });
        let mut got = entries("zustand", &dir, "/node_modules/zustand", &manifest);
        got.sort();
        assert_eq!(
            got,
            [
                (
                    "zustand".into(),
                    "/node_modules/zustand/esm/index.mjs".into()
                ),
                (
                    "zustand/middleware/immer".into(),
                    "/node_modules/zustand/esm/middleware/immer.mjs".into()
                ),
                (
                    "zustand/vanilla".into(),
                    "/node_modules/zustand/esm/vanilla.mjs".into()
                ),
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fields_serve_packages_without_exports() {
        let got = entries(
            "m",
            Path::new("/none"),
            "/node_modules/m",
            &json!({ "module": "./m.mjs", "main": "m.js" }),
        );
        assert_eq!(got[0], ("m".into(), "/node_modules/m/m.mjs".into()));
        let got = entries("n", Path::new("/none"), "/node_modules/n", &json!({}));
        assert_eq!(got[0], ("n".into(), "/node_modules/n/index.js".into()));
    }

    #[test]
    fn only_the_project_is_served() {
        let root = std::env::temp_dir().join(format!("memcheck-serve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/a.js"), "export {}").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
        let harness = root.join("h");
        let transpiler = Transpiler::new(&root.join("cache"), &root.join("run"), ORIGIN, &root);
        let served = Served {
            root: &root,
            harness: &harness,
            page: "<page>",
            transpiler: &transpiler,
            node_env: "test",
        };
        let get = |url: &str| answer(url, true, &served);
        assert_eq!(
            get("http://memcheck.localhost/src/a.js?x=1"),
            Answer::File(b"export {}".to_vec(), "text/javascript; charset=utf-8")
        );
        assert!(
            matches!(get("http://memcheck.localhost/out/hostname"), Answer::Refuse(m) if m.contains("leads outside the project"))
        );
        assert!(matches!(
            get("http://memcheck.localhost/src/../../etc/passwd"),
            Answer::Refuse(_)
        ));
        assert!(matches!(
            get("http://memcheck.localhost/%2e%2e/etc/passwd"),
            Answer::Refuse(_)
        ));
        assert!(
            matches!(get("https://example.com/x.js"), Answer::Refuse(m) if m.contains("no network"))
        );
        assert!(matches!(
            get("http://memcheck.localhost.evil/src/a.js"),
            Answer::Refuse(_)
        ));
        assert_eq!(
            get("http://memcheck.localhost/__memcheck__/run.html?a"),
            Answer::File(b"<page>".to_vec(), "text/html; charset=utf-8")
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A script's import resolves as a bundler's would where the file
    /// named is missing; a read (`fetch`) gets exactly the file named.
    #[test]
    fn imports_resolve_to_the_typescript_written() {
        let root = std::env::temp_dir().join(format!("memcheck-resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("src/ui")).unwrap();
        for f in ["src/a.ts", "src/b.tsx", "src/c.js", "src/ui/index.tsx"] {
            std::fs::write(root.join(f), "export {}").unwrap();
        }
        let transpiler = Transpiler::new(&root.join("cache"), &root.join("run"), ORIGIN, &root);
        let served = Served {
            root: &root,
            harness: &root,
            page: "",
            transpiler: &transpiler,
            node_env: "test",
        };
        let moved = |url: &str, script| match answer(url, script, &served) {
            Answer::Moved(to) => Some(to),
            _ => None,
        };
        let at = |p: &str| format!("{ORIGIN}{p}");
        assert_eq!(moved(&at("/src/a.js"), true), Some("/src/a.ts".into()));
        assert_eq!(moved(&at("/src/b.js"), true), Some("/src/b.tsx".into()));
        assert_eq!(moved(&at("/src/a"), true), Some("/src/a.ts".into()));
        assert_eq!(moved(&at("/src/c"), true), Some("/src/c.js".into()));
        assert_eq!(
            moved(&at("/src/ui"), true),
            Some("/src/ui/index.tsx".into())
        );
        assert_eq!(moved(&at("/src/c.js"), true), None, "the file named exists");
        assert_eq!(
            moved(&at("/src/a.js"), false),
            None,
            "a read is not an import"
        );
        assert_eq!(moved(&at("/src/d.js"), true), None);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
