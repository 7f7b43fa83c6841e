//! Finding the Deno binary: an explicit path wins (`MEMCHECK_DENO`, then
//! `runtime.path`), otherwise the cached copy of the pinned version,
//! otherwise the pinned npm package is installed into the cache and its
//! binary's digest checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::RuntimeError;

/// Environment variable naming a Deno binary to use as is.
pub const DENO_ENV: &str = "MEMCHECK_DENO";
/// Environment variable overriding the cache directory.
pub const CACHE_ENV: &str = "MEMCHECK_CACHE_DIR";

/// SHA-256 digests of the pinned runtime binaries, per npm package.
const PINNED: &[(&str, &str, &str)] = &[(
    "2.9.6",
    "@deno/linux-x64-glibc",
    "bceb5b6a6239b0b010418406d8c77a508f67cf4337d94288f1c19fe71304aab0",
)];

/// Where the runtime came from, for messages.
#[derive(Clone, Debug)]
pub struct Provisioned {
    pub binary: PathBuf,
    pub source: String,
}

/// The cache directory: `$MEMCHECK_CACHE_DIR`, else `$XDG_CACHE_HOME/cargo-memcheck`,
/// else `~/.cache/cargo-memcheck`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("cargo-memcheck");
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    home.join(".cache").join("cargo-memcheck")
}

/// The npm package that carries Deno for this machine.
fn npm_package() -> Result<&'static str, RuntimeError> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Ok("@deno/linux-x64-glibc"),
        ("linux", "aarch64") => Ok("@deno/linux-arm64-glibc"),
        ("macos", "x86_64") => Ok("@deno/darwin-x64"),
        ("macos", "aarch64") => Ok("@deno/darwin-arm64"),
        (os, arch) => Err(RuntimeError::Unsupported(format!("{os}/{arch}"))),
    }
}

/// Resolve the runtime binary, installing it when needed.
pub fn provision(
    version: &str,
    configured: Option<&Path>,
    cache: &Path,
) -> Result<Provisioned, RuntimeError> {
    if let Some(path) = std::env::var_os(DENO_ENV).filter(|v| !v.is_empty()) {
        return explicit(PathBuf::from(path), format!("${DENO_ENV}"));
    }
    if let Some(path) = configured {
        return explicit(path.to_path_buf(), "runtime.path in memcheck.toml".into());
    }
    let package = npm_package()?;
    let dir = cache.join(format!("deno-{version}"));
    let binary = dir.join("node_modules").join(package).join("deno");
    let stamp = dir.join(".verified");
    if binary.is_file() && stamp.is_file() {
        return Ok(Provisioned {
            binary,
            source: format!("cached deno {version}"),
        });
    }
    install(version, package, &dir)?;
    Ok(Provisioned {
        binary,
        source: format!("deno {version}, installed into {}", dir.display()),
    })
}

fn explicit(binary: PathBuf, source: String) -> Result<Provisioned, RuntimeError> {
    if !binary.is_file() {
        return Err(RuntimeError::Missing {
            binary,
            origin: source,
        });
    }
    Ok(Provisioned { binary, source })
}

/// Install `package@version` with npm into `dir`, atomically.
fn install(version: &str, package: &str, dir: &Path) -> Result<(), RuntimeError> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| RuntimeError::Install(format!("cannot create {}: {e}", parent.display())))?;
    let staging = parent.join(format!(".install-{}-{}", version, std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .map_err(|e| RuntimeError::Install(format!("cannot create {}: {e}", staging.display())))?;
    eprintln!(
        "memcheck: installing deno {version} ({package}) into {}",
        dir.display()
    );
    let spec = format!("{package}@{version}");
    let output = Command::new("npm")
        .args([
            "install",
            "--no-save",
            "--no-package-lock",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
        ])
        .arg(&staging)
        .arg(&spec)
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(RuntimeError::NoNpm);
        }
        Err(e) => return Err(RuntimeError::Install(format!("cannot run npm: {e}"))),
    };
    if !output.status.success() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(RuntimeError::Install(format!(
            "`npm install {spec}` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let binary = staging.join("node_modules").join(package).join("deno");
    let digest = sha256_file(&binary).map_err(|e| {
        RuntimeError::Install(format!(
            "npm installed {spec} but {} is unreadable: {e}",
            binary.display()
        ))
    })?;
    match PINNED
        .iter()
        .find(|(v, p, _)| *v == version && *p == package)
    {
        Some((_, _, want)) if *want != digest => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(RuntimeError::Digest {
                spec,
                expected: want.to_string(),
                actual: digest,
            });
        }
        Some(_) => {}
        // Only the pinned version on the platforms listed has a known digest.
        None => eprintln!(
            "memcheck: warning: no digest is known for {spec}, so its binary (sha256 {digest}) was installed unchecked"
        ),
    }
    std::fs::write(
        staging.join(".verified"),
        format!("{spec} sha256:{digest}\n"),
    )
    .map_err(|e| RuntimeError::Install(e.to_string()))?;
    // Another process may have won the race: keep its copy.
    if std::fs::rename(&staging, dir).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
        if !dir.join(".verified").is_file() {
            return Err(RuntimeError::Install(format!(
                "cannot move the install into {}",
                dir.display()
            )));
        }
    }
    Ok(())
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_path_must_exist() {
        let err = explicit(
            PathBuf::from("/nonexistent/deno"),
            "runtime.path in memcheck.toml".into(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/deno"), "{err}");
        assert!(err.contains("runtime.path"), "{err}");
    }

    #[test]
    fn digest_of_a_file() {
        let p = std::env::temp_dir().join(format!("memcheck-sha-{}", std::process::id()));
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        std::fs::remove_file(p).unwrap();
    }
}
