//! Shared helpers: fixture copies, running the binary, reading reports.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_cargo-memcheck");

/// Copy `tests/fixtures/<name>` into a fresh temporary directory.
pub fn project(name: &str, tag: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let dst = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{tag}"));
    let _ = std::fs::remove_dir_all(&dst);
    copy_dir(&src, &dst);
    dst
}

pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
}

/// Install the runtime once, before tests run it in parallel.
pub fn provision() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = project("pass", "provision");
        let out = Command::new(BIN)
            .arg("--list")
            .current_dir(&dir)
            .env_remove("CI")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "provisioning failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

pub fn memcheck(dir: &Path, args: &[&str]) -> Output {
    memcheck_with::<&str>(dir, args, &[])
}

/// The variables that change what a run writes or how it looks: the
/// tests set the ones they need.
const HOST_ENV: [&str; 7] = [
    "CI",
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_WORKSPACE",
    "CARGO_TERM_COLOR",
    "NO_COLOR",
    "CLICOLOR_FORCE",
];

/// `memcheck` with extra environment variables.
pub fn memcheck_with<V: AsRef<OsStr>>(dir: &Path, args: &[&str], env: &[(&str, V)]) -> Output {
    provision();
    let mut cmd = Command::new(BIN);
    cmd.arg("memcheck").args(args).current_dir(dir);
    for k in HOST_ENV {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn find<'a>(report: &'a Value, test: &str) -> &'a Value {
    report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == test)
        .unwrap_or_else(|| panic!("no test {test} in {report}"))
}

pub fn block<'a>(test: &'a Value, name: &str) -> &'a Value {
    test["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == name)
        .unwrap_or_else(|| panic!("no block {name} in {test}"))
}

/// What libtest printed for a test: `ok`, `FAILED` or `ignored`.
pub fn outcome<'a>(text: &'a str, full_name: &str) -> Option<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("test "))
        .find_map(|l| {
            let (name, result) = l.rsplit_once(" ... ")?;
            (name.trim_end() == full_name).then_some(result.trim())
        })
}

/// A block's rows as (class, new, deleted), in the report's order.
pub fn rows(block: &Value) -> Vec<(String, u64, u64)> {
    block["constructors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["new"].as_u64().unwrap(),
                r["deleted"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A block's rows as (class, new) pairs, by class name.
pub fn news(block: &Value) -> Vec<(String, u64)> {
    let mut rows: Vec<(String, u64)> = rows(block)
        .into_iter()
        .map(|(n, new, _)| (n, new))
        .collect();
    rows.sort();
    rows
}

/// The processes whose command line names `dir` (the runtimes run the
/// project's files by path).
pub fn processes_in(dir: &Path) -> Vec<(u32, String)> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(&needle) && !cmd.contains("cargo-memcheck memcheck watch") {
            found.push((pid, cmd));
        }
    }
    found
}
