//! TypeScript and JSX for the page. A browser loads JavaScript only, so a
//! `.ts`, `.tsx`, `.mts` or `.jsx` module is turned into an ES module by
//! the pinned esbuild (installed from npm on first use, as the runtimes
//! are) when the page asks for it, one file at a time and never bundled:
//! each module keeps its own URL, so classes, sites and paths name the
//! files written. esbuild reads the project's `tsconfig.json` (or
//! `jsconfig.json`) for JSX settings, as Vite's dev server does.
//!
//! esbuild reprints the code, so its lines differ from the file's: each
//! output keeps an inline source map, written where [`SourceMaps`] reads
//! Deno's, and every place the page reports (`file:line` in messages,
//! stacks, the lines of blocks and steps) is moved back to the line
//! written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use crate::runtime::provision;
use crate::sourcemap::SourceMaps;

/// Extensions the page cannot load as they are.
const EXTENSIONS: [&str; 4] = ["ts", "tsx", "mts", "jsx"];

/// What a transpiling failure says first.
pub const FAILED: &str = "esbuild could not transpile it";

/// Whether `path` needs transpiling before the page loads it.
pub fn needed(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e))
}

/// A module's output, with the modification time of the file it was made
/// from.
type Output = (Option<SystemTime>, Arc<Vec<u8>>);

/// One run's transpiler: esbuild found on first use, and its outputs.
#[derive(Debug)]
pub struct Transpiler {
    cache: PathBuf,
    /// Where outputs are kept for the source maps: `gen/file/<path>.js`.
    out: PathBuf,
    esbuild: OnceLock<Result<PathBuf, String>>,
    /// Outputs by file, with the modification time they were made from.
    done: Mutex<HashMap<PathBuf, Output>>,
    maps: Arc<SourceMaps>,
}

impl Transpiler {
    /// A transpiler installing esbuild into `cache` if needed, and keeping
    /// its outputs under `out` (this run's private folder).
    pub fn new(cache: &Path, out: &Path, origin: &str, root: &Path) -> Transpiler {
        Transpiler {
            cache: cache.to_path_buf(),
            out: out.to_path_buf(),
            esbuild: OnceLock::new(),
            done: Mutex::new(HashMap::new()),
            maps: Arc::new(SourceMaps::new(out).with_origin(
                &format!("{origin}/"),
                &format!("{}/", crate::runtime::file_url(root)),
            )),
        }
    }

    /// The maps of the files transpiled so far.
    pub fn source_maps(&self) -> Arc<SourceMaps> {
        self.maps.clone()
    }

    /// `file` as an ES module, or what esbuild said was wrong with it.
    /// `file` is the path the page asked for (the key of its map); `real`
    /// is where it is (a link inside the project is read through).
    pub fn module(&self, file: &Path, real: &Path) -> Result<Arc<Vec<u8>>, String> {
        let modified = std::fs::metadata(real).and_then(|m| m.modified()).ok();
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((when, code)) = done.get(file)
            && *when == modified
        {
            return Ok(code.clone());
        }
        let code = Arc::new(self.run_esbuild(real)?);
        let kept = self
            .out
            .join(format!("gen/file{}.js", file.to_string_lossy()));
        if let Some(dir) = kept.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(&kept, code.as_slice())
            .map_err(|e| format!("cannot keep the output in {}: {e}", kept.display()))?;
        done.insert(file.to_path_buf(), (modified, code.clone()));
        Ok(code)
    }

    /// The line written for `line` of the module at `url` (a `file://`
    /// URL); `line` itself when the module was not transpiled.
    pub fn line(&self, url: &str, line: u32) -> u32 {
        self.maps.original(url, line, 1).map_or(line, |(l, _)| l)
    }

    /// `text` with every `file://…:LINE:COLUMN` in a transpiled module
    /// moved to the line and column written.
    pub fn remap(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("file://") {
            out.push_str(&rest[..start]);
            let place = &rest[start..];
            let end = place
                .find(|c: char| c.is_whitespace() || "()\"'\\<>`".contains(c))
                .unwrap_or(place.len());
            out.push_str(&self.remap_place(&place[..end]));
            rest = &place[end..];
        }
        out.push_str(rest);
        out
    }

    /// One `url:line:column`, or `url:line`.
    fn remap_place(&self, place: &str) -> String {
        let mut parts = place.rsplitn(3, ':');
        let (Some(last), Some(middle)) = (parts.next(), parts.next()) else {
            return place.to_owned();
        };
        let numbers = |s: &str| s.parse::<u32>().ok();
        let (url, line, column) = match (numbers(middle), numbers(last), parts.next()) {
            (Some(line), Some(column), Some(url)) => (url, line, Some(column)),
            (None, Some(line), _) => (place.rsplit_once(':').map_or(place, |(u, _)| u), line, None),
            _ => return place.to_owned(),
        };
        match self.maps.original(url, line, column.unwrap_or(1)) {
            Some((l, c)) if column.is_some() => format!("{url}:{l}:{c}"),
            Some((l, _)) => format!("{url}:{l}"),
            None => place.to_owned(),
        }
    }

    fn binary(&self) -> Result<&Path, String> {
        self.esbuild
            .get_or_init(|| {
                provision::provision_esbuild(&self.cache)
                    .map(|p| p.binary)
                    .map_err(|e| {
                        format!("TypeScript and JSX need esbuild in the page, which could not be set up: {e}")
                    })
            })
            .as_deref()
            .map_err(Clone::clone)
    }

    fn run_esbuild(&self, real: &Path) -> Result<Vec<u8>, String> {
        let esbuild = self.binary()?;
        let output = Command::new(esbuild)
            .arg(real)
            .args([
                "--format=esm",
                "--target=esnext",
                "--sourcemap=inline",
                "--charset=utf8",
                "--color=false",
                "--log-level=error",
            ])
            .current_dir(real.parent().unwrap_or(Path::new("/")))
            .stdin(Stdio::null())
            .env_clear()
            .output()
            .map_err(|e| format!("cannot run esbuild ({}): {e}", esbuild.display()))?;
        if !output.status.success() {
            return Err(format!(
                "{FAILED}:\n{}",
                String::from_utf8_lossy(&output.stderr).trim_end()
            ));
        }
        Ok(output.stdout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    /// Places in transpiled modules move to the lines written; others,
    /// and text that only looks like a place, stay as they are.
    #[test]
    fn places_move_to_the_lines_written() {
        let dir = std::env::temp_dir().join(format!("memcheck-remap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("p");
        let t = Transpiler::new(&dir, &dir.join("run"), "http://o.localhost", &root);
        // Generated line 2 comes from line 9 (columns 2 and 8).
        let json = r#"{"version":3,"sources":["a.tsx"],"mappings":"AAAA;AAQE,IAAM"}"#;
        let b64 = base64::engine::general_purpose::STANDARD.encode(json);
        let kept = dir.join(format!("run/gen/file{}/a b.tsx.js", root.display()));
        std::fs::create_dir_all(kept.parent().unwrap()).unwrap();
        std::fs::write(
            &kept,
            format!("a;\nb;\n//# sourceMappingURL=data:application/json;base64,{b64}\n"),
        )
        .unwrap();
        let url = format!("file://{}/a%20b.tsx", root.display());
        let text = format!(
            "Error: x\n    at f ({url}:2:6)\n    at {url}:2:1\n\"{url}:2\" {url} {url}:x:1 file://{}/c.js:2:6",
            root.display()
        );
        let want = format!(
            "Error: x\n    at f ({url}:9:9)\n    at {url}:9:3\n\"{url}:9\" {url} {url}:x:1 file://{}/c.js:2:6",
            root.display()
        );
        assert_eq!(t.remap(&text), want);
        assert_eq!(t.line(&url, 2), 9);
        assert_eq!(t.line(&url, 7), 7, "a line the map does not know");
        assert_eq!(
            t.line("http://o.localhost/a%20b.tsx", 2),
            9,
            "the origin's URL"
        );
        assert_eq!(t.remap("no places"), "no places");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn only_typescript_and_jsx_are_transpiled() {
        for name in ["a.ts", "b.tsx", "c.mts", "d.jsx"] {
            assert!(needed(Path::new(name)), "{name}");
        }
        for name in ["a.js", "b.mjs", "c.d", "ts", "e.json"] {
            assert!(!needed(Path::new(name)), "{name}");
        }
    }
}
