//! Which test files a change affects: the changed test file itself, and
//! every test file that imports a changed module, directly or through
//! other modules. Imports are read from the source (`import … from`,
//! `export … from`, `import(…)`, `require(…)` with a literal specifier)
//! and resolved as relative paths, with the extensions and `index` files
//! Deno and Node try, and a `.js` specifier that names a `.ts` file. What
//! cannot be followed this way (a bare specifier into a workspace package,
//! a computed import, a file read at run time) is not guessed at: a change
//! to a module or data file no test reaches re-runs every test file; other
//! files no test reaches (a README, an image) re-run nothing.

use std::collections::{BTreeSet, HashSet};
use std::path::{Component, Path, PathBuf};

/// The test files to run again.
#[derive(Debug, PartialEq, Eq)]
pub enum Affected {
    /// These (absolute paths), and only these.
    Files(BTreeSet<PathBuf>),
    /// Every test file: a change no test's imports account for.
    All,
}

/// The extensions tried after a specifier, in Deno's and Node's order.
const EXTENSIONS: [&str; 9] = ["js", "mjs", "cjs", "ts", "mts", "cts", "jsx", "tsx", "json"];

/// The test files `changed` affects, among `tests` (all absolute).
pub fn affected(changed: &[PathBuf], tests: &[PathBuf]) -> Affected {
    let mut hit = BTreeSet::new();
    let mut reached_any = HashSet::new();
    let changed: HashSet<&PathBuf> = changed.iter().collect();
    for test in tests {
        let reached = closure(test);
        let touched: Vec<&PathBuf> = reached.iter().filter(|p| changed.contains(p)).collect();
        if !touched.is_empty() {
            hit.insert(test.clone());
        }
        reached_any.extend(touched.into_iter().cloned());
    }
    if changed
        .iter()
        .any(|c| !reached_any.contains(*c) && may_be_loaded(c))
    {
        return Affected::All;
    }
    Affected::Files(hit)
}

/// A file a test could load or read without an import we can follow:
/// modules and the data they commonly read.
fn may_be_loaded(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    EXTENSIONS.contains(&ext) || matches!(ext, "jsonc" | "wasm" | "node" | "html" | "css")
}

/// The file and every file it imports, transitively, that exists.
pub fn closure(file: &Path) -> HashSet<PathBuf> {
    let mut seen = HashSet::from([file.to_path_buf()]);
    let mut todo = vec![file.to_path_buf()];
    while let Some(f) = todo.pop() {
        let Ok(source) = std::fs::read_to_string(&f) else {
            continue;
        };
        let dir = f.parent().unwrap_or(Path::new("/"));
        for spec in specifiers(&source) {
            if let Some(p) = resolve(dir, &spec)
                && seen.insert(p.clone())
            {
                todo.push(p);
            }
        }
    }
    seen
}

/// The literal specifiers after `from`, `import` and `require(`: a plain
/// scan, which may also pick one from a comment (a file run again for
/// nothing, never one missed).
pub fn specifiers(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for keyword in ["from", "import", "require"] {
        let mut rest = source;
        while let Some(at) = rest.find(keyword) {
            let before = rest[..at].chars().next_back();
            let after = &rest[at + keyword.len()..];
            rest = after;
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == '.') {
                continue;
            }
            let after = after.trim_start();
            let after = after.strip_prefix('(').unwrap_or(after).trim_start();
            if let Some(spec) = quoted(after) {
                found.push(spec.to_owned());
            }
        }
    }
    found
}

/// The text of a string literal at the start of `text`.
fn quoted(text: &str) -> Option<&str> {
    let quote = text
        .chars()
        .next()
        .filter(|c| matches!(c, '"' | '\'' | '`'))?;
    let body = &text[1..];
    let end = body.find(quote)?;
    let spec = &body[..end];
    (!spec.contains(['\n', '$'])).then_some(spec)
}

/// A relative or absolute specifier as a file that exists.
fn resolve(dir: &Path, spec: &str) -> Option<PathBuf> {
    let spec = spec.strip_prefix("file://").unwrap_or(spec);
    if !(spec.starts_with("./") || spec.starts_with("../") || spec.starts_with('/')) {
        return None;
    }
    let spec = spec.split(['?', '#']).next().unwrap_or(spec);
    let base = normalize(&dir.join(spec));
    let mut tries = vec![base.clone()];
    // TypeScript imports `./a.js` to mean `./a.ts`.
    for (js, ts) in [("js", "ts"), ("mjs", "mts"), ("cjs", "cts"), ("jsx", "tsx")] {
        if base.extension().is_some_and(|e| e == js) {
            tries.push(base.with_extension(ts));
        }
    }
    for ext in EXTENSIONS {
        let mut with = base.as_os_str().to_owned();
        with.push(format!(".{ext}"));
        tries.push(PathBuf::from(with));
    }
    tries.extend(EXTENSIONS.iter().map(|e| base.join(format!("index.{e}"))));
    tries.into_iter().find(|p| p.is_file())
}

/// `a/./b/../c` as `a/c`, without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specifiers_are_read_from_every_form_of_import() {
        let source = r#"
            import { a } from "./a.js";
            import "./side.js";
            export * from './re.ts';
            const b = await import("./lazy.js");
            const c = require('./c.cjs');
            const d = import(`./tpl.js`);
            const e = import(`./${name}.js`);
            import x from "lodash";
            const fromage = 1; reimport("./no.js");
        "#;
        let mut found = specifiers(source);
        found.sort();
        assert_eq!(
            found,
            [
                "./a.js",
                "./c.cjs",
                "./lazy.js",
                "./re.ts",
                "./side.js",
                "./tpl.js",
                "lodash"
            ]
        );
    }

    /// ```text
    /// a.memtest.js → lib/x.js → lib/y.ts (imported as ./y.js)
    /// b.memtest.js → lib/z/index.js
    /// ```
    #[test]
    fn a_change_reaches_the_tests_that_import_it_and_an_unknown_one_runs_all() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |p: &str, s: &str| {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, s).unwrap();
        };
        write("a.memtest.js", "import { x } from './lib/x.js';");
        write("lib/x.js", "export * from \"./y.js\";");
        write("lib/y.ts", "export const y = 1;");
        write("b.memtest.js", "const z = require('./lib/z');");
        write("lib/z/index.js", "module.exports = 1;");
        write("other.js", "");
        write("README.md", "");
        let tests = vec![root.join("a.memtest.js"), root.join("b.memtest.js")];
        let files = |names: &[&str]| Affected::Files(names.iter().map(|n| root.join(n)).collect());
        assert_eq!(
            affected(&[root.join("lib/y.ts")], &tests),
            files(&["a.memtest.js"])
        );
        assert_eq!(
            affected(&[root.join("lib/z/index.js")], &tests),
            files(&["b.memtest.js"])
        );
        assert_eq!(
            affected(&[root.join("b.memtest.js")], &tests),
            files(&["b.memtest.js"])
        );
        assert_eq!(affected(&[root.join("other.js")], &tests), Affected::All);
        assert_eq!(affected(&[root.join("README.md")], &tests), files(&[]));
    }
}
