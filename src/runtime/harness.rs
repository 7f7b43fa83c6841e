//! The JS side (`harness/`), embedded in the binary and written once per
//! content hash into the cache, with the import map that makes
//! `import { test } from "memcheck"` resolve to it.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::RuntimeError;

const RUNNER: &str = include_str!("../../harness/runner.js");
const MODULE: &str = include_str!("../../harness/memcheck.js");

/// The harness files on disk.
#[derive(Clone, Debug)]
pub struct Harness {
    pub runner: PathBuf,
    pub import_map: PathBuf,
}

impl Harness {
    /// Write the harness into `cache` (unless that version is there already).
    pub fn install(cache: &Path) -> Result<Harness, RuntimeError> {
        let mut hasher = Sha256::new();
        hasher.update(RUNNER);
        hasher.update(MODULE);
        let hash: String = hasher.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let dir = cache.join(format!("harness-{hash}"));
        let harness = Harness {
            runner: dir.join("runner.js"),
            import_map: dir.join("import_map.json"),
        };
        if harness.import_map.is_file() {
            return Ok(harness);
        }
        let fail = |error| RuntimeError::Harness {
            path: dir.clone(),
            error,
        };
        let staging = cache.join(format!(".harness-{hash}-{}", std::process::id()));
        std::fs::create_dir_all(&staging).map_err(fail)?;
        std::fs::write(staging.join("runner.js"), RUNNER).map_err(fail)?;
        std::fs::write(staging.join("memcheck.js"), MODULE).map_err(fail)?;
        let module_url = file_url(&dir.join("memcheck.js"));
        let map = serde_json::json!({ "imports": { "memcheck": module_url } });
        std::fs::write(staging.join("import_map.json"), map.to_string()).map_err(fail)?;
        if std::fs::rename(&staging, &dir).is_err() {
            // Someone else wrote the same content first.
            let _ = std::fs::remove_dir_all(&staging);
        }
        Ok(harness)
    }
}

/// A `file://` URL for an absolute path, percent-encoding what URLs need.
pub fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_are_encoded() {
        assert_eq!(file_url(Path::new("/a b/c#1.js")), "file:///a%20b/c%231.js");
    }
}
