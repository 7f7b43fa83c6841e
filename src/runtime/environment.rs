//! The environment a test process sees: a short list built afresh, never
//! the runner's own, so that no secret of a CI job (a token, a key) is one
//! `process.env.X` away from a test. With nothing secret left in it,
//! reading it is allowed on every engine, and packages that read
//! `NODE_ENV` or `DEBUG` on import load with an empty `memcheck.toml`.
//!
//! A test sees `NODE_ENV` (the runner's value, or `test` when it has none,
//! as Jest sets it), `TZ`, `LANG`, `LANGUAGE` and `LC_*` (figures and dates
//! that depend on them stay the user's), `PATH`, `HOME` and `TMPDIR` (what
//! a runtime and a granted child process need), then what `memcheck.toml`
//! adds: `[runtime] pass_env` names taken from the runner's environment (a
//! name, or a prefix ending in `*`), and `[runtime] env` values, which win.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::process::Command;

/// Variables passed through from the runner, by exact name.
const PASSED: [&str; 6] = ["TZ", "LANG", "LANGUAGE", "PATH", "HOME", "TMPDIR"];
/// Variables passed through from the runner, by prefix.
const PASSED_PREFIXES: [&str; 1] = ["LC_"];
/// `NODE_ENV` when the runner has none.
const DEFAULT_NODE_ENV: &str = "test";

/// The variables of a test process, in a stable order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Environment {
    vars: BTreeMap<OsString, OsString>,
}

impl Environment {
    /// The environment for tests, from the runner's variables (`outer`),
    /// `pass_env` and `env` of `memcheck.toml`.
    pub fn build(
        outer: impl IntoIterator<Item = (OsString, OsString)>,
        pass_env: &[String],
        env: &BTreeMap<String, String>,
    ) -> Environment {
        let mut vars = BTreeMap::new();
        for (name, value) in outer {
            let Some(text) = name.to_str() else { continue };
            let kept = text == "NODE_ENV"
                || PASSED.contains(&text)
                || PASSED_PREFIXES.iter().any(|p| text.starts_with(p))
                || passes(text, pass_env);
            if kept {
                vars.insert(name, value);
            }
        }
        vars.entry("NODE_ENV".into())
            .or_insert_with(|| DEFAULT_NODE_ENV.into());
        for (name, value) in env {
            vars.insert(name.into(), value.into());
        }
        Environment { vars }
    }

    /// The environment for tests of this process's own environment.
    pub fn from_runner(pass_env: &[String], env: &BTreeMap<String, String>) -> Environment {
        Environment::build(std::env::vars_os(), pass_env, env)
    }

    /// Start `cmd` from this environment alone (the host adds its own
    /// variables after).
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env_clear().envs(&self.vars);
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&OsString> {
        self.vars.get(std::ffi::OsStr::new(name))
    }
}

/// Whether `pass_env` names `name`: exactly, or by a prefix written with a
/// trailing `*`.
fn passes(name: &str, pass_env: &[String]) -> bool {
    pass_env.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == p,
    })
}

/// Why a `pass_env` entry or an `env` key is not a variable name, if it
/// is not one: letters, digits and `_`, not starting with a digit (plus a
/// trailing `*` in `pass_env`).
pub fn invalid_name(name: &str, pattern: bool) -> Option<String> {
    let bare = if pattern {
        name.strip_suffix('*').unwrap_or(name)
    } else {
        name
    };
    let valid = !bare.is_empty()
        && !bare.starts_with(|c: char| c.is_ascii_digit())
        && bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid || (pattern && name == "*") {
        if name == "*" {
            return Some(
                "`*` would pass the runner's whole environment, secrets included; name the variables (or prefixes like `DEBUG*`) a test needs".into(),
            );
        }
        return None;
    }
    Some(format!(
        "`{name}` is not an environment variable name (letters, digits and `_`{})",
        if pattern {
            ", or a prefix ending in `*`"
        } else {
            ""
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outer(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    #[test]
    fn secrets_stay_out_and_node_env_defaults_to_test() {
        let env = Environment::build(
            outer(&[
                ("GITHUB_TOKEN", "ghp_secret"),
                ("AWS_SECRET_ACCESS_KEY", "x"),
                ("PATH", "/bin"),
                ("LC_ALL", "C"),
                ("TZ", "UTC"),
            ]),
            &[],
            &BTreeMap::new(),
        );
        assert_eq!(env.get("GITHUB_TOKEN"), None);
        assert_eq!(env.get("AWS_SECRET_ACCESS_KEY"), None);
        assert_eq!(env.get("PATH").unwrap(), "/bin");
        assert_eq!(env.get("LC_ALL").unwrap(), "C");
        assert_eq!(env.get("TZ").unwrap(), "UTC");
        assert_eq!(env.get("NODE_ENV").unwrap(), "test");
    }

    #[test]
    fn pass_env_and_env_add_to_it() {
        let set = BTreeMap::from([
            ("NODE_ENV".to_owned(), "production".to_owned()),
            ("FEATURE".to_owned(), "on".to_owned()),
        ]);
        let env = Environment::build(
            outer(&[
                ("DEBUG", "app:*"),
                ("DEBUG_COLORS", "0"),
                ("MYAPP_URL", "u"),
                ("MYAPPX", "no"),
                ("NODE_ENV", "development"),
            ]),
            &["DEBUG".into(), "MYAPP_*".into()],
            &set,
        );
        assert_eq!(env.get("DEBUG").unwrap(), "app:*");
        assert_eq!(env.get("DEBUG_COLORS"), None, "a name passes only itself");
        assert_eq!(env.get("MYAPP_URL").unwrap(), "u");
        assert_eq!(env.get("MYAPPX"), None);
        assert_eq!(env.get("FEATURE").unwrap(), "on");
        assert_eq!(env.get("NODE_ENV").unwrap(), "production", "env wins");
    }

    #[test]
    fn the_runners_node_env_is_kept() {
        let env = Environment::build(outer(&[("NODE_ENV", "ci")]), &[], &BTreeMap::new());
        assert_eq!(env.get("NODE_ENV").unwrap(), "ci");
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(invalid_name("DEBUG", true), None);
        assert_eq!(invalid_name("DEBUG*", true), None);
        assert!(invalid_name("*", true).unwrap().contains("secrets"));
        assert!(invalid_name("A-B", false).is_some());
        assert!(invalid_name("A*", false).is_some());
        assert!(invalid_name("1A", false).is_some());
        assert!(invalid_name("", false).is_some());
    }
}
