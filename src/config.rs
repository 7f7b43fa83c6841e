//! `memcheck.toml`: read once, checked strictly, resolved into [`Config`].
//!
//! An empty file is a valid configuration. Every key is optional; unknown
//! keys are errors, so a typo never silently does nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::runtime::Engine;
use crate::units::Slack;

/// The file name looked for in the current directory and its parents.
pub const FILE_NAME: &str = "memcheck.toml";

/// The test-file globs used when `include` is not set.
pub const DEFAULT_INCLUDE: &str = "**/*.memtest.{js,mjs,cjs,ts,mts,jsx,tsx}";

/// Directories never searched for tests.
pub const ALWAYS_SKIPPED: [&str; 3] = ["node_modules", "target", ".git"];

/// Errors in `memcheck.toml`, worded for the person editing it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no {FILE_NAME} in {0} or any parent directory; create one (an empty file works)")]
    NotFound(PathBuf),
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    include: Option<Vec<String>>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    tolerance: RawTolerance,
    #[serde(default)]
    runtime: RawRuntime,
    #[serde(default)]
    tests: BTreeMap<String, RawTest>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawTolerance {
    objects: Option<SlackText>,
    bytes: Option<SlackText>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRuntime {
    engine: Option<String>,
    engines: Option<Vec<String>>,
    deno: Option<String>,
    node: Option<String>,
    deno_path: Option<PathBuf>,
    node_path: Option<PathBuf>,
    chromium_path: Option<PathBuf>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    v8_flags: Vec<String>,
    #[serde(default)]
    node_flags: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    pass_env: Vec<String>,
    timeout: Option<Millis>,
    isolation: Option<Isolation>,
}

/// How tests share runtime processes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// Each test in a process of its own.
    #[default]
    Test,
    /// The tests of a file one after another in one process.
    File,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTest {
    #[serde(default)]
    tolerance: RawTolerance,
    timeout: Option<Millis>,
}

/// A count or percentage written as a number or a string.
#[derive(Clone)]
enum SlackText {
    Int(u64),
    Text(String),
}

impl<'de> Deserialize<'de> for SlackText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SlackText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number, or a string like \"5%\" (or, for bytes, \"4 KiB\")")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<SlackText, E> {
                Ok(SlackText::Int(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<SlackText, E> {
                u64::try_from(n).map(SlackText::Int).map_err(|_| {
                    E::custom(format!(
                        "`{n}` is negative; a tolerance is how far a figure may grow"
                    ))
                })
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<SlackText, E> {
                Ok(SlackText::Text(s.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A timeout in milliseconds: a whole number above 0.
#[derive(Clone, Copy)]
struct Millis(u64);

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Millis;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number of milliseconds above 0, like 60000")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Millis, E> {
                if n == 0 {
                    return Err(E::custom(
                        "a timeout of 0 ms would fail every test; write milliseconds above 0, like 60000",
                    ));
                }
                Ok(Millis(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Millis, E> {
                match u64::try_from(n) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(format!(
                        "a timeout of {n} ms cannot be; write milliseconds above 0, like 60000"
                    ))),
                }
            }
            fn visit_i128<E: serde::de::Error>(self, _: i128) -> Result<Millis, E> {
                Err(E::custom(
                    "this timeout is too large; write milliseconds, like 60000",
                ))
            }
            fn visit_u128<E: serde::de::Error>(self, _: u128) -> Result<Millis, E> {
                Err(E::custom(
                    "this timeout is too large; write milliseconds, like 60000",
                ))
            }
        }
        d.deserialize_any(V)
    }
}

/// How far figures may move from their baselines.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Per constructor and per block, on counts of new objects.
    pub objects: Slack,
    /// Per block, on retained bytes.
    pub bytes: Slack,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            objects: Slack::Absolute(0),
            bytes: Slack::Percent(5.0),
        }
    }
}

/// Runtime settings.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// The engines every test runs on, in order (one unless `engines`).
    pub engines: Vec<Engine>,
    /// The pinned versions.
    pub deno: String,
    pub node: String,
    /// Explicit binaries (win over the cached download).
    pub deno_path: Option<PathBuf>,
    pub node_path: Option<PathBuf>,
    /// The browser for `engine = "chromium"`, when not found on PATH.
    pub chromium_path: Option<PathBuf>,
    /// Extra permissions (`read`, `net=localhost`…), mapped to each engine's flags.
    pub allow: Vec<String>,
    /// Extra V8 flags, added to the ones memcheck needs.
    pub v8_flags: Vec<String>,
    /// Node's own command-line options.
    pub node_flags: Vec<String>,
    /// Variables set for tests (`runtime.env`).
    pub env: BTreeMap<String, String>,
    /// The runner's variables passed to tests, by name or `PREFIX*`.
    pub pass_env: Vec<String>,
    pub timeout: Duration,
    pub isolation: Isolation,
}

impl RuntimeConfig {
    /// The pinned version of `engine`.
    pub fn version(&self, engine: Engine) -> &str {
        match engine {
            Engine::Deno => &self.deno,
            Engine::Node => &self.node,
            Engine::Chromium => "",
        }
    }

    /// The explicit binary configured for `engine`, if any.
    pub fn path(&self, engine: Engine) -> Option<&Path> {
        match engine {
            Engine::Deno => self.deno_path.as_deref(),
            Engine::Node => self.node_path.as_deref(),
            Engine::Chromium => self.chromium_path.as_deref(),
        }
    }
}

/// Settings for one test, by name or `file::name`.
#[derive(Clone, Debug, Default)]
pub struct TestConfig {
    pub tolerance: Option<Tolerance>,
    pub timeout: Option<Duration>,
}

/// The resolved configuration everything else reads.
#[derive(Clone, Debug)]
pub struct Config {
    /// The folder holding `memcheck.toml`: the project root.
    pub root: PathBuf,
    pub file: PathBuf,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub tolerance: Tolerance,
    pub runtime: RuntimeConfig,
    pub tests: BTreeMap<String, TestConfig>,
}

impl Config {
    /// Find `memcheck.toml` in `start` or its parents and load it.
    pub fn discover(start: &Path) -> Result<Config, ConfigError> {
        let mut dir = Some(start);
        while let Some(d) = dir {
            let candidate = d.join(FILE_NAME);
            if candidate.is_file() {
                return Config::load(&candidate);
            }
            dir = d.parent();
        }
        Err(ConfigError::NotFound(start.to_path_buf()))
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let root = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        Config::parse(&text, path, root)
    }

    /// Parse the text of a `memcheck.toml` at `path`.
    pub fn parse(text: &str, path: &Path, root: PathBuf) -> Result<Config, ConfigError> {
        let invalid = |span: Option<std::ops::Range<usize>>, message: String| {
            let (line, column) = line_col(text, span.map_or(0, |s| s.start));
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_owned();
            invalid(e.span(), renamed_key(&message).unwrap_or(message))
        })?;
        // Values that need checking beyond their type are found again in the
        // document to point at their line.
        let at = |needle: &str, message: String| invalid(find(text, needle), message);

        let tolerance_error = |section: &str, (m, value): (String, Option<String>)| {
            invalid(
                value
                    .and_then(|v| find(text, &v))
                    .or_else(|| find(text, section)),
                m,
            )
        };
        let tolerance = resolve_tolerance(&raw.tolerance, Tolerance::default())
            .map_err(|e| tolerance_error("[tolerance]", e))?;
        let mut tests = BTreeMap::new();
        for (name, t) in &raw.tests {
            let tol = if t.tolerance.objects.is_some() || t.tolerance.bytes.is_some() {
                Some(
                    resolve_tolerance(&t.tolerance, tolerance)
                        .map_err(|e| tolerance_error(name, e))?,
                )
            } else {
                None
            };
            tests.insert(
                name.clone(),
                TestConfig {
                    tolerance: tol,
                    timeout: t.timeout.map(|Millis(ms)| Duration::from_millis(ms)),
                },
            );
        }
        for flag in &raw.runtime.allow {
            check_permission(flag).map_err(|m| at(flag, m))?;
        }
        for name in &raw.runtime.pass_env {
            if let Some(why) = crate::runtime::environment::invalid_name(name, true) {
                return Err(at(name, format!("runtime.pass_env: {why}")));
            }
        }
        for (name, value) in &raw.runtime.env {
            if let Some(why) = crate::runtime::environment::invalid_name(name, false) {
                return Err(at(name, format!("runtime.env: {why}")));
            }
            if value.contains('\0') {
                return Err(at(
                    name,
                    format!(
                        "runtime.env: the value of `{name}` holds a NUL character, which no environment can carry"
                    ),
                ));
            }
        }
        for flag in &raw.runtime.v8_flags {
            if !flag.starts_with("--") {
                return Err(at(flag, format!("V8 flags start with `--`: `{flag}`")));
            }
        }
        let include = raw
            .include
            .unwrap_or_else(|| vec![DEFAULT_INCLUDE.to_owned()]);
        for pattern in &include {
            if let Some(why) = outside_project(pattern) {
                return Err(at(
                    pattern,
                    format!(
                        "include pattern `{pattern}` {why}: globs match files under the folder of memcheck.toml only; move memcheck.toml to a folder that holds the tests, or write the pattern relative to it"
                    ),
                ));
            }
        }
        for pattern in include.iter().chain(&raw.exclude) {
            crate::discover::glob_set(std::slice::from_ref(pattern))
                .map_err(|e| at(pattern, format!("invalid glob `{pattern}`: {}", e.kind())))?;
        }
        let engines = engines(&raw.runtime).map_err(|m| at("engine", m))?;
        let allow = rooted_paths(raw.runtime.allow, &root);
        Ok(Config {
            root,
            file: path.to_path_buf(),
            include,
            exclude: raw.exclude,
            tolerance,
            runtime: RuntimeConfig {
                engines,
                deno: raw
                    .runtime
                    .deno
                    .unwrap_or_else(|| Engine::Deno.default_version().to_owned()),
                node: raw
                    .runtime
                    .node
                    .unwrap_or_else(|| Engine::Node.default_version().to_owned()),
                deno_path: raw.runtime.deno_path,
                node_path: raw.runtime.node_path,
                chromium_path: raw.runtime.chromium_path,
                allow,
                v8_flags: raw.runtime.v8_flags,
                node_flags: raw.runtime.node_flags,
                env: raw.runtime.env,
                pass_env: raw.runtime.pass_env,
                timeout: Duration::from_millis(raw.runtime.timeout.map_or(60_000, |Millis(ms)| ms)),
                isolation: raw.runtime.isolation.unwrap_or_default(),
            },
            tests,
        })
    }

    /// The `[tests."…"]` keys that name none of `tests` (`file::name`
    /// pairs): a typo, or a test renamed since.
    pub fn unmatched_tests<'a>(&'a self, tests: &[(&str, &str)]) -> Vec<&'a str> {
        self.tests
            .keys()
            .filter(|key| {
                !tests
                    .iter()
                    .any(|(file, name)| *key == name || **key == format!("{file}::{name}"))
            })
            .map(String::as_str)
            .collect()
    }

    /// Settings for a test, matched by `file::name` first, then by name.
    pub fn test(&self, file: &str, name: &str) -> TestConfig {
        self.tests
            .get(&format!("{file}::{name}"))
            .or_else(|| self.tests.get(name))
            .cloned()
            .unwrap_or_default()
    }
}

/// The permissions `runtime.allow` may grant: Deno's names, and Node's
/// `worker` and `inspector` (each engine ignores what it cannot restrict).
const PERMISSIONS: [&str; 10] = [
    "read",
    "write",
    "net",
    "env",
    "sys",
    "run",
    "ffi",
    "import",
    "worker",
    "inspector",
];

/// `engine = "…"` or `engines = […]`, checked: one engine at least, each
/// known, none twice.
fn engines(raw: &RawRuntime) -> Result<Vec<Engine>, String> {
    let names: Vec<String> = match (&raw.engine, &raw.engines) {
        (Some(_), Some(_)) => {
            return Err("write either runtime.engine or runtime.engines, not both".into());
        }
        (Some(one), None) => vec![one.clone()],
        (None, Some(many)) if many.is_empty() => {
            return Err(
                "runtime.engines is empty; name at least one of \"deno\", \"node\", \"chromium\""
                    .into(),
            );
        }
        (None, Some(many)) => many.clone(),
        (None, None) => vec![Engine::Deno.name().to_owned()],
    };
    let mut out: Vec<Engine> = Vec::new();
    for name in names {
        let engine: Engine = name.parse()?;
        if out.contains(&engine) {
            return Err(format!("runtime.engines names {engine} twice"));
        }
        out.push(engine);
    }
    Ok(out)
}

/// A clearer word for keys that were renamed.
fn renamed_key(message: &str) -> Option<String> {
    if message.contains("unknown field `version`") {
        return Some("runtime.version is now runtime.deno (or runtime.node): the pinned version of each engine".into());
    }
    if message.contains("unknown field `path`") {
        return Some("runtime.path is now runtime.deno_path (or runtime.node_path)".into());
    }
    None
}

/// A `runtime.allow` entry: a permission name, alone or with `=VALUES`.
fn check_permission(flag: &str) -> Result<(), String> {
    let name = flag.split_once('=').map_or(flag, |(n, _)| n);
    if name == "all" {
        return Err(format!(
            "runtime.allow: `{flag}` would switch the sandbox off; grant what the tests need, e.g. [\"net=localhost\", \"env\"]"
        ));
    }
    if !PERMISSIONS.contains(&name) {
        return Err(format!(
            "runtime.allow: `{flag}` is not a permission; write one of {} alone or with a value, e.g. \"net=localhost\"",
            PERMISSIONS.join(", ")
        ));
    }
    if let Some((_, values)) = flag.split_once('=')
        && values.split(',').any(str::is_empty)
    {
        return Err(format!(
            "runtime.allow: `{flag}` names an empty value; list them after `=`, separated by commas (\"{name}=a,b\"), or write \"{name}\" alone to grant them all"
        ));
    }
    Ok(())
}

/// `allow` with the relative paths of `read=` and `write=` made absolute
/// from the project root, as memcheck's own sandbox reads them: each test
/// runs in its own package's folder, where the runtimes would otherwise
/// resolve them. (A root whose path holds a comma, the separator, keeps
/// them as written.)
fn rooted_paths(allow: Vec<String>, root: &Path) -> Vec<String> {
    if root.to_string_lossy().contains(',') {
        return allow;
    }
    allow
        .into_iter()
        .map(|entry| match entry.split_once('=') {
            Some((name @ ("read" | "write"), values)) => {
                let paths: Vec<String> = values
                    .split(',')
                    .map(|p| root.join(p).to_string_lossy().into_owned())
                    .collect();
                format!("{name}={}", paths.join(","))
            }
            _ => entry,
        })
        .collect()
}

/// A tolerance checked; an error carries the text of the value at fault,
/// so that it can be found in the document.
fn resolve_tolerance(
    raw: &RawTolerance,
    base: Tolerance,
) -> Result<Tolerance, (String, Option<String>)> {
    let slack = |v: &Option<SlackText>, key: &str, sizes: bool, default: Slack| match v {
        None => Ok(default),
        Some(SlackText::Int(n)) => Ok(Slack::Absolute(*n)),
        Some(SlackText::Text(t)) => {
            Slack::parse(t, sizes).map_err(|e| (format!("tolerance.{key}: {e}"), Some(t.clone())))
        }
    };
    Ok(Tolerance {
        objects: slack(&raw.objects, "objects", false, base.objects)?,
        bytes: slack(&raw.bytes, "bytes", true, base.bytes)?,
    })
}

/// The span of the first quoted occurrence of `needle`, or of it bare.
fn find(text: &str, needle: &str) -> Option<std::ops::Range<usize>> {
    let quoted = format!("\"{needle}\"");
    text.find(&quoted)
        .or_else(|| text.find(needle))
        .map(|i| i..i + needle.len())
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

/// Why an `include` glob reaches outside the project, if it does: an
/// absolute path, or a `..` component.
fn outside_project(pattern: &str) -> Option<&'static str> {
    if pattern.starts_with('/') || pattern.starts_with('\\') || pattern.get(1..3) == Some(":/") {
        return Some("is an absolute path");
    }
    pattern
        .split(['/', '\\'])
        .any(|part| part == "..")
        .then_some("climbs out of the project with `..`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_keys_that_match_nothing_are_found() {
        let c = parse("[tests.\"a.js::kept\"]\ntimeout = 5\n[tests.renamed]\ntimeout = 5\n[tests.bare]\ntimeout = 5\n")
            .unwrap();
        let listed = [("a.js", "kept"), ("b.js", "bare")];
        assert_eq!(c.unmatched_tests(&listed), ["renamed"]);
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("memcheck.toml"), PathBuf::from("/p"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.include, vec![DEFAULT_INCLUDE]);
        assert_eq!(c.tolerance, Tolerance::default());
        assert_eq!(c.runtime.deno, Engine::Deno.default_version());
        assert_eq!(c.runtime.engines, [Engine::Deno]);
        assert_eq!(c.runtime.timeout, Duration::from_secs(60));
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let err = parse("include = [\"a\"]\n\n[tolerance]\nobjets = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("memcheck.toml:4:1: "), "{err}");
        assert!(err.contains("objets"), "{err}");
    }

    #[test]
    fn bad_unit_names_line() {
        let err = parse("[tolerance]\nbytes = \"3 parsecs\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("memcheck.toml:2:9"),
            "the value's place: {err}"
        );
        assert!(err.contains("unknown unit `parsecs`"), "{err}");
        assert!(err.contains("or a percentage like \"5%\""), "{err}");
    }

    #[test]
    fn per_test_settings() {
        let c = parse("[tolerance]\nobjects = 2\n[tests.\"a::cache\"]\ntolerance = { bytes = \"10%\" }\ntimeout = 5000\n")
            .unwrap();
        let t = c.test("a", "cache");
        assert_eq!(t.timeout, Some(Duration::from_secs(5)));
        let tol = t.tolerance.unwrap();
        assert_eq!(tol.objects, Slack::Absolute(2));
        assert_eq!(tol.bytes, Slack::Percent(10.0));
        assert!(c.test("a", "other").tolerance.is_none());
    }

    #[test]
    fn engines_are_chosen() {
        let c = parse("[runtime]\nengine = \"node\"\n").unwrap();
        assert_eq!(c.runtime.engines, [Engine::Node]);
        let c = parse("[runtime]\nengines = [\"deno\", \"node\"]\n").unwrap();
        assert_eq!(c.runtime.engines, [Engine::Deno, Engine::Node]);
        for (text, want) in [
            (
                "[runtime]\nengine = \"bun\"\n",
                "memcheck.toml:2:1: `bun` is not an engine",
            ),
            ("[runtime]\nengines = []\n", "runtime.engines is empty"),
            (
                "[runtime]\nengines = [\"node\", \"node\"]\n",
                "names node twice",
            ),
            (
                "[runtime]\nversion = \"2.9.6\"\n",
                "runtime.version is now runtime.deno",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn granted_paths_are_read_from_the_project_root() {
        let c = parse(
            "[runtime]\nallow = [\"write=out,/tmp/x\", \"read=../shared\", \"net=localhost\", \"env\"]\n",
        )
        .unwrap();
        assert_eq!(
            c.runtime.allow,
            [
                "write=/p/out,/tmp/x",
                "read=/p/../shared",
                "net=localhost",
                "env"
            ]
        );
    }

    #[test]
    fn errors_speak_the_users_words() {
        for (text, want) in [
            (
                "[tolerance]\nobjects = true\n",
                "expected a whole number, or a string like \"5%\"",
            ),
            ("[tolerance]\nobjects = -3\n", "`-3` is negative"),
            (
                "[runtime]\ntimeout = 0\n",
                "a timeout of 0 ms would fail every test",
            ),
            ("[runtime]\ntimeout = -1\n", "a timeout of -1 ms cannot be"),
            (
                "[tests.x]\ntimeout = 99999999999999999999\n",
                "memcheck.toml:2:11",
            ),
            (
                "[runtime]\nallow = [\"all\"]\n",
                "would switch the sandbox off",
            ),
            (
                "[runtime]\nallow = [\"nett\"]\n",
                "`nett` is not a permission",
            ),
            (
                "[runtime]\nallow = [\"write=\"]\n",
                "memcheck.toml:2:10: runtime.allow: `write=` names an empty value",
            ),
            (
                "[runtime]\nallow = [\"read=a,\"]\n",
                "`read=a,` names an empty value",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
            for internal in ["untagged", "enum", "i128", "u64"] {
                assert!(!err.contains(internal), "{text:?}: {err}");
            }
        }
    }
}
