//! Real projects: dependencies installed from pinned versions with npm and
//! pnpm, `deno.json` aliases in TypeScript, a two-package monorepo. On
//! each: `--update`, a rerun that passes, then a leak put into the
//! project's own source fails, naming the class that grew.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::util::*;

/// Run an installer in `dir`; panics with its output when it fails.
fn install(dir: &Path, program: &Path, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} in {}:\n{}",
        program.display(),
        dir.display(),
        text(&out)
    );
}

pub(crate) fn npm_ci(dir: &Path) {
    install(
        dir,
        Path::new("npm"),
        &["ci", "--ignore-scripts", "--no-audit", "--no-fund"],
    );
}

/// pnpm, installed once from npm into the test's temporary folder.
fn pnpm() -> &'static Path {
    static PNPM: OnceLock<PathBuf> = OnceLock::new();
    PNPM.get_or_init(|| {
        let tools = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tools");
        let bin = tools.join("node_modules/.bin/pnpm");
        if !bin.exists() {
            std::fs::create_dir_all(&tools).unwrap();
            let prefix = tools.to_string_lossy().into_owned();
            install(
                &tools,
                Path::new("npm"),
                &[
                    "install",
                    "--no-save",
                    "--ignore-scripts",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                    &prefix,
                    "pnpm@10.34.9",
                ],
            );
        }
        bin
    })
}

/// `--update`, then a rerun that must pass; its report.
fn record_and_rerun(dir: &Path) -> Value {
    let out = memcheck(dir, &["--update"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = memcheck(dir, &["--json", "r.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    read_json(&dir.join("r.json"))
}

/// The rows of a test's block, as (class, new) pairs by class name.
fn news_of(report: &Value, test: &str, block_name: &str) -> Vec<(String, u64)> {
    news(block(find(report, test), block_name))
}

/// Replace `from` with `to` in a file of the project (the leak).
fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

/// A run after a leak: it fails, and says so in these words.
fn fails_with(dir: &Path, expected: &[&str]) -> String {
    let out = memcheck(dir, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    for e in expected {
        assert!(t.contains(e), "missing {e:?} in:\n{t}");
    }
    t
}

#[test]
fn npm_dependencies_esm_and_commonjs_load_as_deno_loads_them() {
    let dir = project("npm-project", "npm");
    // Before `npm ci`: the fix is named.
    let out = memcheck(&dir, &["store"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(t.contains("run `npm install` first: `"), "{t}");
    assert!(t.contains("` is in package.json but not installed"), "{t}");

    npm_ci(&dir);
    let report = record_and_rerun(&dir);
    // An LRU bounded at 100 keeps exactly 100 values; CommonJS code (through
    // createRequire) and a CommonJS test file count exactly too.
    // (Its keys are strings, kept with the values.)
    assert_eq!(
        news_of(&report, "lru cache stays bounded", "insert 1000"),
        [("(string)".to_owned(), 100), ("Value".to_owned(), 100)]
    );
    assert_eq!(
        news_of(&report, "commonjs code counts ticks", "tick"),
        [("Tick".to_owned(), 25)]
    );
    assert_eq!(
        news_of(&report, "a commonjs test file", "fill"),
        [("Entry".to_owned(), 10)]
    );

    edit(
        &dir,
        "src/store.js",
        "new LRUCache({ max })",
        "new LRUCache({ max: max * 10 })",
    );
    fails_with(&dir, &["Value new: 1000 > baseline 100 (tolerance 0)"]);
}

#[test]
fn a_pnpm_store_of_linked_packages_works() {
    let dir = project("pnpm-project", "pnpm");
    install(
        &dir,
        pnpm(),
        &["install", "--frozen-lockfile", "--ignore-scripts"],
    );
    assert!(
        std::fs::symlink_metadata(dir.join("node_modules/lru-cache"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "pnpm links packages into node_modules/.pnpm"
    );
    let report = record_and_rerun(&dir);
    assert_eq!(
        news_of(&report, "sessions stay bounded", "start 500"),
        [("Session".to_owned(), 100)]
    );

    edit(
        &dir,
        "src/sessions.js",
        "new LRUCache({ max })",
        "new LRUCache({ max: max * 2 })",
    );
    fails_with(&dir, &["Session new: 200 > baseline 100 (tolerance 0)"]);
}

/// The 1-based line of the first line of `file` containing `needle`.
fn line_of(dir: &Path, file: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn typescript_and_jsx_with_deno_json_aliases_name_the_lines_written() {
    let dir = project("typescript", "aliases");
    let report = record_and_rerun(&dir);
    assert_eq!(
        news_of(&report, "sessions are released", "open and close"),
        []
    );
    // JSX through deno.json's compilerOptions and an aliased runtime.
    let jsx = news_of(&report, "jsx compiles through deno.json", "render 10");
    assert!(jsx.contains(&("VNode".to_owned(), 10)), "{jsx:?}");

    edit(
        &dir,
        "src/registry.ts",
        "    this.sessions.delete(key);",
        "    void key;",
    );
    // Decorators, interfaces, an enum and type-only lines move the emitted
    // JavaScript's lines; the allocation site names the TypeScript's.
    let open = line_of(&dir, "src/registry.ts", "open(key: Key");
    let wrapper = line_of(&dir, "src/logged.ts", "return function");
    let measure = line_of(&dir, "test/registry.memtest.ts", "t.measure(");
    let site = format!(
        "Session ×50: open (src/registry.ts:{open}:3) ← (anonymous) (src/logged.ts:{wrapper}:10) ← (anonymous) (test/registry.memtest.ts:{measure}:"
    );
    fails_with(
        &dir,
        &[
            "Session new: 50 > baseline 0 (tolerance 0)",
            "Session ×50: Registry .sessions → Map (table)[i] → Session",
            &site,
        ],
    );
}

#[test]
fn each_package_of_a_monorepo_resolves_like_itself() {
    let dir = project("monorepo", "packages");
    npm_ci(&dir.join("packages/cache"));
    let report = record_and_rerun(&dir);
    assert_eq!(
        news_of(&report, "page cache stays bounded", "visit 300"),
        [("(string)".to_owned(), 100), ("Page".to_owned(), 100)]
    );
    assert_eq!(news_of(&report, "listeners are removed", "on and off"), []);

    edit(
        &dir,
        "packages/cache/src/index.js",
        "{ max: 100 }",
        "{ max: 1000 }",
    );
    edit(
        &dir,
        "packages/events/src/bus.ts",
        "    this.listeners.delete(listener);",
        "    void listener;",
    );
    fails_with(
        &dir,
        &[
            "Page new: 300 > baseline 100 (tolerance 0)",
            "Listener new: 40 > baseline 0 (tolerance 0)",
        ],
    );
}

#[test]
fn a_deno_json_that_does_not_parse_is_named_with_its_line() {
    let dir = project("typescript", "broken-config");
    std::fs::write(
        dir.join("deno.json"),
        "{\n  \"imports\": {\n    \"@/\": ,\n  }\n}\n",
    )
    .unwrap();
    let out = memcheck(&dir, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(t.contains("deno.json:3:"), "{t}");
    assert!(
        t.contains("fix the file (Deno reads it as this project's configuration)"),
        "{t}"
    );
}

/// The pinned Deno that the suite provisioned.
fn deno_binary() -> PathBuf {
    provision();
    let cache = std::env::var_os("MEMCHECK_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("cargo-memcheck"))
        })
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/cargo-memcheck")
        });
    cache.join("deno-2.9.6/node_modules/@deno/linux-x64-glibc/deno")
}

#[test]
fn npm_imports_resolve_from_a_filled_deno_cache() {
    let dir = project("deno-npm", "cache");
    let deno_dir = dir.join("private-deno-dir");
    let env = [("DENO_DIR", deno_dir.as_path())];
    // Before `deno install`, nothing is downloaded and the fix is named.
    let out = memcheck_with(&dir, &[], &env);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(101), "{t}");
    assert!(
        t.contains(
            "run `deno install` first: `lru-cache` is an npm: import that is not in Deno's cache"
        ),
        "{t}"
    );

    let out = Command::new(deno_binary())
        .arg("install")
        .current_dir(&dir)
        .env("DENO_DIR", &deno_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = memcheck_with(&dir, &["--update"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = memcheck_with(&dir, &["--json", "r.json"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = read_json(&dir.join("r.json"));
    assert_eq!(
        news_of(
            &report,
            "rows from an npm: package in Deno's cache",
            "load 200"
        ),
        [("Row".to_owned(), 20)]
    );
}
