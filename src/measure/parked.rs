//! A file's listing process, kept: once it has listed the file's tests it
//! waits (blocked, the test file loaded) for one command, and runs the
//! first test the run gets to (or, with `isolation = "file"`, the file's
//! batch). Every file then starts once for its first test instead of twice,
//! once to be listed and once to run. A parked process that ends before
//! its test starts (the file exited, or was killed) gives the test back, to
//! be run in a process of its own as before.

use std::path::Path;
use std::time::Duration;

use super::{Receiving, TestRef, TestRun, drive, run_once};
use crate::runtime::{Conversation, Launch, RuntimeError, RuntimeInfo, Session, Unfinished};

/// A process (or page) that listed a file and waits to be told what to run.
pub struct Parked {
    session: Session,
    /// The runtime, as the process said when it started.
    runtime: Option<RuntimeInfo>,
}

impl Parked {
    pub(super) fn new(session: Session, runtime: Option<RuntimeInfo>) -> Parked {
        Parked { session, runtime }
    }

    /// Tell the process what to run (`command`, one line: see
    /// `harness/core.js`), with `timeout` for its first test; the session,
    /// the conversation about `first` (the file already loaded) and a run
    /// that knows its runtime, or `None` when the process is gone.
    pub(super) fn start(
        mut self,
        launch: &Launch,
        command: &str,
        first: TestRef,
        timeout: Duration,
    ) -> Option<(Session, Conversation, Receiving)> {
        self.session.command(command, timeout).ok()?;
        let mut r = Receiving::new(launch, first.file);
        r.run.runtime = self.runtime;
        Some((self.session, Conversation::next_test(first.name), r))
    }
}

/// Run `test` in the parked process (a whole-body re-run, when it needs one,
/// in a process of its own); `None` when the parked process ended before
/// the test started: it is then for the caller to run it on its own.
pub fn run_parked(
    parked: Parked,
    launch: &Launch,
    test: TestRef,
    timeout: Duration,
    keep: Option<&Path>,
) -> Option<Result<TestRun, RuntimeError>> {
    let command = format!("run {}", test.index);
    let (session, talk, r) = parked.start(launch, &command, test, timeout)?;
    let (run, unfinished) = drive(launch, session, (talk, r), test, timeout, keep);
    if unfinished == Some(Unfinished::Loading) {
        return None;
    }
    if run.needs_whole {
        return Some(run_once(launch, test, true, timeout, keep));
    }
    Some(Ok(run))
}
