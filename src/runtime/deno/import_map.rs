//! The import map a test runs with. Deno takes one map, and
//! `--import-map` replaces the project's own, so memcheck writes, per Deno
//! configuration, the project's `imports` and `scopes` (from `deno.json`,
//! its `importMap` file, and a workspace root's) merged with its own
//! entries: `memcheck` (the harness module) and the sandbox's confinement
//! of file imports. Nothing is written into the project.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value};

use crate::project::deno_config_in;
use crate::runtime::file_url;

/// The maps of one run, written into its private folder on first use.
#[derive(Debug)]
pub struct ImportMaps {
    dir: PathBuf,
    /// memcheck's own entries, which win over the project's.
    ours: Map<String, Value>,
    made: Mutex<HashMap<Option<PathBuf>, Result<PathBuf, String>>>,
}

impl ImportMaps {
    pub fn new(dir: &Path, ours: Map<String, Value>) -> ImportMaps {
        ImportMaps {
            dir: dir.to_path_buf(),
            ours,
            made: Mutex::new(HashMap::new()),
        }
    }

    /// The map for tests whose nearest Deno configuration is `config`; an
    /// error names the configuration file, line and column.
    pub fn for_config(&self, config: Option<&Path>) -> Result<PathBuf, String> {
        let key = config.map(Path::to_path_buf);
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(done) = made.get(&key) {
            return done.clone();
        }
        let path = self.dir.join(format!("import_map_{}.json", made.len()));
        let result = self.write(config, &path).map(|()| path);
        made.insert(key, result.clone());
        result
    }

    fn write(&self, config: Option<&Path>, path: &Path) -> Result<(), String> {
        let (mut imports, scopes) = match config {
            Some(c) => project_map(c)?,
            None => (Map::new(), Map::new()),
        };
        if let (Some(c), Some(theirs)) = (config, imports.get("memcheck")) {
            eprintln!(
                "memcheck: warning: {} maps `memcheck` to {theirs}; in tests, `memcheck` is the harness's module",
                c.display()
            );
        }
        imports.extend(self.ours.clone());
        let map = serde_json::json!({ "imports": imports, "scopes": scopes });
        std::fs::write(path, map.to_string())
            .map_err(|e| format!("cannot write the import map {}: {e}", path.display()))
    }
}

type Entries = Map<String, Value>;

/// The imports and scopes `config` gives its files: a workspace root's
/// first, then its own (which win), each resolved against its own folder.
fn project_map(config: &Path) -> Result<(Entries, Entries), String> {
    let mut chain = vec![config.to_path_buf()];
    if let Some(root) = workspace_root(config)? {
        chain.insert(0, root);
    }
    let mut imports = Map::new();
    let mut scopes = Map::new();
    for file in chain {
        let json = read_jsonc(&file)?;
        let (base, map) = match json.get("importMap").and_then(Value::as_str) {
            Some(rel) => {
                let path = resolve_path(&file, rel);
                (path.clone(), read_jsonc(&path)?)
            }
            None => (file.clone(), json),
        };
        if let Some(entries) = map.get("imports").and_then(Value::as_object) {
            imports.extend(resolve_entries(entries, &base));
        }
        if let Some(entries) = map.get("scopes").and_then(Value::as_object) {
            for (scope, inner) in entries {
                let inner = inner.as_object().cloned().unwrap_or_default();
                scopes.insert(
                    resolve_specifier(scope, &base),
                    Value::Object(resolve_entries(&inner, &base)),
                );
            }
        }
    }
    Ok((imports, scopes))
}

/// The configuration above `config` that declares a `workspace`, if any.
fn workspace_root(config: &Path) -> Result<Option<PathBuf>, String> {
    let Some(dir) = config.parent() else {
        return Ok(None);
    };
    for above in dir.ancestors().skip(1) {
        if let Some(candidate) = deno_config_in(above)
            && read_jsonc(&candidate)?.get("workspace").is_some()
        {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

/// A JSON-with-comments file, or an error naming its line and column.
fn read_jsonc(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    jsonc_parser::parse_to_serde_value::<Value>(&text, &Default::default()).map_err(|e| {
        format!(
            "{}:{}:{}: {}; fix the file (Deno reads it as this project's configuration)",
            path.display(),
            e.line_display(),
            e.column_display(),
            e.kind()
        )
    })
}

fn resolve_entries(entries: &Entries, base: &Path) -> Entries {
    entries
        .iter()
        .map(|(k, v)| {
            let v = match v.as_str() {
                Some(s) => Value::String(resolve_specifier(s, base)),
                None => v.clone(),
            };
            (resolve_specifier(k, base), v)
        })
        .collect()
}

/// A relative (`./`, `../`) or absolute (`/`) specifier as a file URL
/// against the file `base`; anything else (bare names, `npm:`, URLs) as is.
fn resolve_specifier(s: &str, base: &Path) -> String {
    if !(s.starts_with("./") || s.starts_with("../") || s.starts_with('/')) {
        return s.to_owned();
    }
    let mut url = file_url(&resolve_path(base, s));
    if s.ends_with('/') && !url.ends_with('/') {
        url.push('/');
    }
    url
}

/// `rel` against the folder of the file `base`, with `.` and `..` folded.
fn resolve_path(base: &Path, rel: &str) -> PathBuf {
    let joined = base.parent().unwrap_or(Path::new("/")).join(rel);
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("memcheck-map-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn ours() -> Entries {
        let mut m = Map::new();
        m.insert("memcheck".into(), "file:///h/memcheck.js".into());
        m
    }

    #[test]
    fn the_projects_map_is_merged_with_ours() {
        let dir = temp("merge");
        std::fs::create_dir_all(dir.join("packages/b")).unwrap();
        std::fs::write(
            dir.join("deno.jsonc"),
            "{\n  // a workspace\n  \"workspace\": [\"./packages/b\"],\n  \"imports\": { \"shared/\": \"./shared/\", \"x\": \"npm:x@1\" },\n}\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("packages/b/deno.json"),
            r#"{ "imports": { "@/": "./src/", "x": "../../vendor/x.ts" }, "scopes": { "./src/": { "y": "./y.ts" } } }"#,
        )
        .unwrap();
        let maps = ImportMaps::new(&dir, ours());
        let path = maps
            .for_config(Some(&dir.join("packages/b/deno.json")))
            .unwrap();
        let map: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let url = |p: &str| file_url(&dir.join(p));
        assert_eq!(map["imports"]["@/"], format!("{}/", url("packages/b/src")));
        assert_eq!(map["imports"]["shared/"], format!("{}/", url("shared")));
        assert_eq!(map["imports"]["x"], url("vendor/x.ts"));
        assert_eq!(map["imports"]["memcheck"], "file:///h/memcheck.js");
        let scope = format!("{}/", url("packages/b/src"));
        // Values resolve against the map, not the scope.
        assert_eq!(map["scopes"][&scope]["y"], url("packages/b/y.ts"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_broken_config_is_named_with_its_line() {
        let dir = temp("broken");
        std::fs::write(
            dir.join("deno.json"),
            "{\n  \"imports\": {\n    \"a\": ,\n  }\n}\n",
        )
        .unwrap();
        let maps = ImportMaps::new(&dir, ours());
        let err = maps.for_config(Some(&dir.join("deno.json"))).unwrap_err();
        assert!(err.contains("deno.json:3:"), "{err}");
        assert!(err.contains("fix the file"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
