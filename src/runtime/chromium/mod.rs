//! The Chromium host: test files run as ES modules in a page of headless
//! Chromium, driven over the DevTools protocol on a pipe.
//!
//! - `find`: the browser on this machine, never downloaded;
//! - `browser`: one browser per test thread, reused;
//! - `cdp`: the protocol over `--remote-debugging-pipe` (no port);
//! - `page`: one job in a fresh browser context and page;
//! - `serve`: the project served at one fixed origin through request
//!   interception (no socket), and the import map for bare imports;
//! - `module`: what a script importing a file gets (a bundler's dev
//!   server's answer: stylesheets as modules, `process.env.NODE_ENV`);
//! - `transpile`: TypeScript and JSX turned into modules by esbuild, and
//!   the page's places moved back to the lines written.
//!
//! The sandbox is the page's: a test reads only the project's files (the
//! runner serves nothing else), reaches no network (every other request
//! fails), and its storage starts empty (a context of its own).

mod browser;
mod cdp;
mod find;
mod module;
mod page;
mod serve;
mod transpile;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

pub use find::find_browser;
pub use page::PageSession;

use super::host::Host;
use super::process::Session;
use super::{Job, Launch, RuntimeError, Sandbox};
use crate::sourcemap::SourceMaps;
use transpile::Transpiler;

/// The Chromium host of a run.
#[derive(Debug)]
pub struct ChromiumHost {
    /// The project's import map, built once per run from `node_modules`.
    import_map: std::sync::OnceLock<serde_json::Value>,
    transpiler: Arc<Transpiler>,
}

impl ChromiumHost {
    /// The host of a run of the project at `root`: esbuild is installed
    /// into `cache` if a test needs it, and its outputs kept in `run_dir`.
    pub fn new(cache: &Path, run_dir: &Path, root: &Path) -> ChromiumHost {
        ChromiumHost {
            import_map: std::sync::OnceLock::new(),
            transpiler: Arc::new(Transpiler::new(cache, run_dir, serve::ORIGIN, root)),
        }
    }
}

impl Host for ChromiumHost {
    fn command(&self, _: &Launch, _: &Job, _: &Path) -> Result<Command, RuntimeError> {
        Err(RuntimeError::Browser(
            "a page test runs in the browser, not in a process of its own".into(),
        ))
    }

    fn start(
        &self,
        launch: &Launch,
        job: &Job,
        timeout: Duration,
    ) -> Result<Session, RuntimeError> {
        if let Some(why) = unsupported(&job.file) {
            return Err(RuntimeError::ProjectConfig(why));
        }
        let map = self
            .import_map
            .get_or_init(|| serve::import_map(&launch.sandbox.root));
        PageSession::start(launch, job, timeout, map, &self.transpiler)
            .map(|p| Session::Page(Box::new(p)))
    }

    fn explain(&self, message: &str, _sandbox: &Sandbox, _cwd: &Path) -> Option<String> {
        explain(message)
    }

    fn load_error(&self, _output: &str) -> Option<String> {
        None
    }

    fn source_maps(&self) -> Arc<SourceMaps> {
        self.transpiler.source_maps()
    }
}

/// Why a test file cannot run in the page, if it cannot.
fn unsupported(file: &Path) -> Option<String> {
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    matches!(ext, "cjs" | "cts").then(|| {
        format!(
            "{}: a CommonJS test file cannot run in a page; write it as an ES module (.js, .mjs, .ts or .tsx with import)",
            file.display()
        )
    })
}

/// The page's errors that need a word from us.
fn explain(message: &str) -> Option<String> {
    if message.contains(transpile::FAILED) {
        return Some(
            "a TypeScript or JSX module could not be transpiled for the page: esbuild's error below names the file and line".into(),
        );
    }
    if let Some(name) = between(message, "Failed to resolve module specifier \"", "\"") {
        return Some(format!(
            "the bare import \"{name}\" names no package the page can load: memcheck maps the packages in node_modules (their `exports` for the browser, `import`, `module` or `default`); check the name, or install the package (npm install)"
        ));
    }
    if message.contains("Failed to fetch dynamically imported module") {
        return Some(if message.contains("memcheck: refused") {
            "the page could not load a module: the runner serves only the project's files, and refused what the `memcheck: refused` lines below name".into()
        } else {
            "the page could not load a module (it may be one the browser does not run as a script, such as JSON without `with { type: \"json\" }`)".into()
        });
    }
    if let Some(name) = between(message, "does not provide an export named '", "'") {
        return Some(format!(
            "a module does not export `{name}`: check the name imported (a package that is CommonJS only has no named exports in a page; import its ES module build, or run this file on Deno or Node)"
        ));
    }
    if message.contains("require is not defined")
        || message.contains("module is not defined")
        || message.contains("exports is not defined")
    {
        return Some(
            "a module the test imports looks like CommonJS: the page loads ES modules as they are, with no bundler; import the package's ES module build, or run this file on Deno or Node".into(),
        );
    }
    None
}

/// The text of `message` between `start` and the next `end`.
fn between<'m>(message: &'m str, start: &str, end: &str) -> Option<&'m str> {
    let rest = &message[message.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}
