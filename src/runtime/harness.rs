//! The JS side (`harness/`), embedded in the binary and written once per
//! content hash into the cache: the engine-neutral core, the `memcheck`
//! module tests import, and one entry point per engine host.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::RuntimeError;

/// The harness's files, by name.
const FILES: &[(&str, &str)] = &[
    (
        "primordials.js",
        include_str!("../../harness/primordials.js"),
    ),
    ("site.js", include_str!("../../harness/site.js")),
    ("values.js", include_str!("../../harness/values.js")),
    ("console.js", include_str!("../../harness/console.js")),
    ("memcheck.js", include_str!("../../harness/memcheck.js")),
    ("core.js", include_str!("../../harness/core.js")),
    ("hosts.js", include_str!("../../harness/hosts.js")),
    ("deno.js", include_str!("../../harness/deno.js")),
    ("node.mjs", include_str!("../../harness/node.mjs")),
    ("page.js", include_str!("../../harness/page.js")),
    (
        "node-guards.js",
        include_str!("../../harness/node-guards.js"),
    ),
    // The harness's `.js` files are modules, for Node too.
    ("package.json", "{ \"type\": \"module\" }\n"),
];

/// The harness files on disk.
#[derive(Clone, Debug)]
pub struct Harness {
    /// Its folder.
    pub dir: PathBuf,
    /// The Deno host, preloaded before the test file.
    pub deno_entry: PathBuf,
    /// The Node host, the main module that imports the test file.
    pub node_entry: PathBuf,
    /// The module `import { test } from "memcheck"` names.
    pub module: PathBuf,
}

impl Harness {
    /// Write the harness into `cache` (unless that version is there already).
    pub fn install(cache: &Path) -> Result<Harness, RuntimeError> {
        let mut hasher = Sha256::new();
        for (name, text) in FILES {
            hasher.update(name);
            hasher.update(text);
        }
        let hash: String = hasher.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let dir = cache.join(format!("harness-{hash}"));
        let harness = Harness {
            deno_entry: dir.join("deno.js"),
            node_entry: dir.join("node.mjs"),
            module: dir.join("memcheck.js"),
            dir: dir.clone(),
        };
        if dir.join(".complete").is_file() {
            return Ok(harness);
        }
        let fail = |error| RuntimeError::Harness {
            path: dir.clone(),
            error,
        };
        let staging = cache.join(format!(".harness-{hash}-{}", std::process::id()));
        std::fs::create_dir_all(&staging).map_err(fail)?;
        for (name, text) in FILES {
            std::fs::write(staging.join(name), text).map_err(fail)?;
        }
        std::fs::write(staging.join(".complete"), "").map_err(fail)?;
        if std::fs::rename(&staging, &dir).is_err() {
            // Someone else wrote the same content first.
            let _ = std::fs::remove_dir_all(&staging);
        }
        Ok(harness)
    }
}

/// Whether `url` (a script's, as V8 names it) is one of the harness's
/// files: `…/harness-HASH/NAME`, as [`Harness::install`] writes them.
pub fn is_harness_url(url: &str) -> bool {
    let mut segments = url.rsplit('/');
    let (Some(name), Some(dir)) = (segments.next(), segments.next()) else {
        return false;
    };
    let hash = dir.strip_prefix("harness-").unwrap_or("");
    hash.len() == 16
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
        && FILES.iter().any(|(file, _)| *file == name)
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
    fn harness_files_are_told_by_their_folder_and_name() {
        let dir = "file:///root/.cache/cargo-memcheck/harness-0e3a6a9d75ab0285";
        assert!(is_harness_url(&format!("{dir}/node-guards.js")));
        assert!(is_harness_url(&format!("{dir}/core.js")));
        assert!(!is_harness_url(&format!("{dir}/mine.js")));
        assert!(!is_harness_url("file:///p/harness-0e3a6a9d75ab02/core.js"));
        assert!(!is_harness_url(
            "file:///p/harness-0e3a6a9d75ab028x/core.js"
        ));
        assert!(!is_harness_url("file:///p/src/core.js"));
        assert!(!is_harness_url("core.js"));
    }

    #[test]
    fn file_urls_are_encoded() {
        assert_eq!(file_url(Path::new("/a b/c#1.js")), "file:///a%20b/c%231.js");
    }
}
