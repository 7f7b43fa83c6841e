//! A process started ahead for a test that will have none waiting: while
//! the tests before it run, it starts, loads the test file, lists it and
//! warms up on a thread of its own, then waits as a file's listing process
//! waits (see `parked`), so that its test begins at once. One that ends
//! before its test starts (the file exited, it was killed, its listing
//! failed) gives the test back, to be run in a process of its own.

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Parked, list};
use crate::runtime::Launch;

/// A process being started for one test, or waiting for it.
pub struct Spare {
    ready: Option<JoinHandle<Option<Parked>>>,
}

impl Spare {
    /// Start a process for a test of `file` (`label`: the test, for an
    /// interrupted run's message), giving it `timeout` to list the file.
    pub fn start(launch: Launch, file: PathBuf, label: String, timeout: Duration) -> Spare {
        let ready = std::thread::spawn(move || {
            let listing = list(&launch, &file, &label, timeout, true).ok()?;
            // A file that no longer lists (it exited, threw) runs its test
            // in a process of its own, which reports why.
            listing.tests.ok()?;
            listing.parked
        });
        Spare { ready: Some(ready) }
    }

    /// The process, waiting for its command once it has listed the file
    /// (this waits for that), or `None` when it ended first.
    pub fn take(mut self) -> Option<Parked> {
        self.ready.take()?.join().ok().flatten()
    }
}

impl Drop for Spare {
    /// A spare never outlives its owner: once it has listed, it is killed.
    fn drop(&mut self) {
        if let Some(ready) = self.ready.take() {
            drop(ready.join());
        }
    }
}
