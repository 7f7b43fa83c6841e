//! What an engine host does: the one place where Deno and Node differ. The
//! harness core, the channel, the protocol and the process handling are
//! shared; a host builds the command that runs a job inside its sandbox,
//! cleans up after it, explains its runtime's denials, and maps positions
//! in code it transpiled.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use super::process::{ProcessSession, Session};
use super::{Job, Launch, RuntimeError, Sandbox};
use crate::sourcemap::SourceMaps;

/// An engine, as the rest of memcheck sees it.
pub trait Host: Send + Sync + std::fmt::Debug {
    /// The command that runs `job`, its harness frames going to `channel`.
    fn command(&self, launch: &Launch, job: &Job, channel: &Path) -> Result<Command, RuntimeError>;

    /// Start `job`: by default a child process running [`Host::command`].
    fn start(
        &self,
        launch: &Launch,
        job: &Job,
        timeout: Duration,
    ) -> Result<Session, RuntimeError> {
        ProcessSession::start(launch, job, timeout).map(Session::Process)
    }

    /// What `job` leaves behind that must go once it has ended.
    fn leftovers(&self, _job: &Job) -> Vec<PathBuf> {
        Vec::new()
    }

    /// A runtime error that comes from the sandbox (or the engine's
    /// limits), explained with the fix; `None` for any other message.
    /// `cwd` is the test's working directory (its package's folder), which
    /// a relative path in the message is relative to.
    fn explain(&self, message: &str, sandbox: &Sandbox, cwd: &Path) -> Option<String>;

    /// A runtime's message with the advice that does not apply under
    /// memcheck (a command-line flag it does not take) put in memcheck's
    /// terms; the message itself when there is none.
    fn reword(&self, message: &str) -> String {
        message.to_owned()
    }

    /// The runtime's own report, in a test's output, of a test file that
    /// did not load (before any of it ran), as an error message.
    fn load_error(&self, output: &str) -> Option<String>;

    /// Original positions of the code the engine transpiled.
    fn source_maps(&self) -> Arc<SourceMaps>;

    /// What a test can do that this engine's sandbox cannot stop, for the
    /// baseline header; empty when nothing.
    fn sandbox_notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// Whether links out of the project are closed to tests.
    fn closes_links(&self) -> bool {
        true
    }
}

/// Advice for a test that used the DOM outside a page (Deno and Node have
/// no `document`).
pub fn no_dom(message: &str) -> Option<String> {
    const GLOBALS: [&str; 5] = [
        "document",
        "window",
        "HTMLElement",
        "customElements",
        "requestAnimationFrame",
    ];
    GLOBALS
        .iter()
        .find(|g| message.contains(&format!("ReferenceError: {g} is not defined")))
        .map(|g| {
            format!(
                "`{g}` is the browser's: DOM code runs in a page with engine = \"chromium\" under [runtime] in memcheck.toml (or `--engine chromium`)"
            )
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn dom_globals_point_at_the_chromium_engine() {
        let m = super::no_dom("ReferenceError: document is not defined\n    at a.js:1:1").unwrap();
        assert!(m.contains("engine = \"chromium\""), "{m}");
        assert_eq!(super::no_dom("ReferenceError: x is not defined"), None);
    }
}
