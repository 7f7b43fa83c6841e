//! Finding the browser, never downloading it: `MEMCHECK_CHROMIUM`, then
//! `[runtime] chromium_path`, then `chromium`, `chromium-browser`,
//! `google-chrome` and `chrome` on `PATH`.

use std::path::{Path, PathBuf};

use crate::runtime::{Provisioned, RuntimeError};

/// The names looked up on `PATH`, in order.
const ON_PATH: [&str; 4] = ["chromium", "chromium-browser", "google-chrome", "chrome"];

/// The browser to run page tests in; `configured` is `chromium_path` from
/// `memcheck.toml`, already joined to the project root.
pub fn find_browser(configured: Option<&Path>) -> Result<Provisioned, RuntimeError> {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    find_in(
        std::env::var_os("MEMCHECK_CHROMIUM").filter(|v| !v.is_empty()),
        configured,
        &path_var,
    )
}

fn find_in(
    from_env: Option<std::ffi::OsString>,
    configured: Option<&Path>,
    path_var: &std::ffi::OsStr,
) -> Result<Provisioned, RuntimeError> {
    if let Some(path) = from_env {
        return explicit(PathBuf::from(path), "$MEMCHECK_CHROMIUM");
    }
    if let Some(path) = configured {
        return explicit(path.to_path_buf(), "chromium_path in memcheck.toml");
    }
    for name in ON_PATH {
        for dir in std::env::split_paths(path_var) {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Ok(Provisioned {
                    binary: candidate,
                    source: format!("{name} on PATH"),
                });
            }
        }
    }
    Err(RuntimeError::NoBrowser {
        tried: format!(
            "$MEMCHECK_CHROMIUM (unset), chromium_path in memcheck.toml (unset), then {} on PATH",
            ON_PATH.join(", ")
        ),
    })
}

fn explicit(binary: PathBuf, origin: &str) -> Result<Provisioned, RuntimeError> {
    if !binary.is_file() {
        return Err(RuntimeError::Browser(format!(
            "the browser {} (from {origin}) does not exist; fix the path, or unset it to look for chromium, chromium-browser, google-chrome or chrome on PATH",
            binary.display()
        )));
    }
    Ok(Provisioned {
        binary,
        source: origin.to_owned(),
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_wins_and_must_exist() {
        let err = find_in(Some("/nonexistent/chrome".into()), None, "".as_ref())
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/chrome"), "{err}");
        assert!(err.contains("$MEMCHECK_CHROMIUM"), "{err}");
    }

    #[test]
    fn none_found_names_what_was_tried_and_the_fix() {
        let empty = std::env::temp_dir().join(format!("memcheck-nobrowser-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        let err = find_in(None, None, empty.as_os_str())
            .unwrap_err()
            .to_string();
        for part in [
            "MEMCHECK_CHROMIUM",
            "chromium_path",
            "chromium, chromium-browser, google-chrome, chrome on PATH",
            "apt-get install chromium",
        ] {
            assert!(err.contains(part), "{part}: {err}");
        }
    }

    #[test]
    fn path_is_searched_in_order() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("memcheck-browser-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let chrome = dir.join("google-chrome");
        std::fs::write(&chrome, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&chrome, std::fs::Permissions::from_mode(0o755)).unwrap();
        let found = find_in(None, None, dir.as_os_str()).unwrap();
        assert_eq!(found.binary, chrome);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
