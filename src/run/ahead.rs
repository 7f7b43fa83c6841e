//! Processes started ahead of their tests: the run's tests in the order
//! they start, and, as each starts, a spare process (see
//! [`crate::measure::Spare`]) for the next test that will have no process
//! waiting (its file's listing process ran an earlier test of it). While a
//! test runs, its spare starts, loads the file and warms up on the other
//! core, so that the next test begins at once. At most one spare per test
//! thread waits, and no more than the machine's memory carries beside the
//! listing processes still waiting (`threads::max_parked`). Only with
//! `isolation = "test"`, and not for a test that measures allocated bytes
//! (its inspector is opened at start). On Chromium a spare is a page, opened
//! in the browser the test thread took, so no other browser starts for it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libtest_mimic::Arguments;

use crate::config::Isolation;
use crate::measure::Spare;

use super::files::FileState;
use super::trial::Job;

/// A listed test: its file, and its place in the file's list.
pub type Listed = (Arc<FileState>, usize);

/// Whether a chosen test runs: an ignored one only with `--ignored` or
/// `--include-ignored`, the others unless `--ignored`.
pub fn runs(args: &Arguments, ignored: bool) -> bool {
    if ignored {
        args.ignored || args.include_ignored
    } else {
        !args.ignored
    }
}

/// The listed tests `jobs` run, in order (jobs that fail without running
/// anything left out).
pub fn order<'a>(jobs: impl IntoIterator<Item = &'a Job>) -> Vec<Listed> {
    jobs.into_iter().filter_map(|j| j.test.clone()).collect()
}

/// The run's tests in order, with the spares started for them.
pub struct Ahead {
    order: Vec<Listed>,
    /// Each test's place in `order`, by file and place in its list.
    places: HashMap<(String, usize), usize>,
    /// How many spares may wait at once (one per test thread).
    threads: usize,
    /// How many processes (spares and listing processes) may wait at once.
    memory: usize,
    /// How long a spare may take to list its file.
    timeout: Duration,
    isolation: Isolation,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    started: Vec<bool>,
    /// Spares by place in `order`.
    spares: BTreeMap<usize, Spare>,
}

impl Ahead {
    /// `order`: each test that will run (its file, its place in the
    /// file's list), in the order the test threads take them.
    pub fn new(
        order: Vec<Listed>,
        threads: usize,
        memory: usize,
        timeout: Duration,
        isolation: Isolation,
    ) -> Ahead {
        let places = order
            .iter()
            .enumerate()
            .map(|(place, (state, index))| ((state.key(), *index), place))
            .collect();
        let started = vec![false; order.len()];
        Ahead {
            order,
            places,
            threads: threads.max(1),
            memory,
            timeout,
            isolation,
            inner: Mutex::new(Inner {
                started,
                spares: BTreeMap::new(),
            }),
        }
    }

    /// Test `index` of `state` starts (once it has taken its file's
    /// listing process, if that was there): its spare, if one was
    /// started, and spares for the tests after it.
    pub fn starting(&self, state: &FileState, index: usize) -> Option<Spare> {
        let place = *self.places.get(&(state.key(), index))?;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.started[place] = true;
        let spare = inner.spares.remove(&place);
        self.start_spares(&mut inner);
        spare
    }

    /// Let every spare go (the run is over, or was stopped).
    pub fn release(&self) {
        let spares =
            std::mem::take(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()).spares);
        drop(spares);
    }

    /// Start spares for the next tests that will have no process waiting,
    /// within the bounds.
    fn start_spares(&self, inner: &mut Inner) {
        let waiting = self.listing_processes_waiting();
        let places: Vec<Place> = self
            .order
            .iter()
            .enumerate()
            .map(|(place, (state, index))| Place {
                file: Arc::as_ptr(state) as usize,
                open: !inner.started[place] && self.can_use_spare(state, *index),
                parked: state.has_parked(),
                spare: inner.spares.contains_key(&place),
            })
            .collect();
        let room = self
            .threads
            .min(self.memory.saturating_sub(waiting))
            .saturating_sub(inner.spares.len());
        for place in wanting_spares(&places, room) {
            let (state, index) = &self.order[place];
            let test = &state.tests.as_ref().expect("a test that runs was listed")[*index];
            let spare = Spare::start(
                state.launch.clone(),
                state.file.path.clone(),
                state.full_name(&test.name),
                self.timeout,
            );
            inner.spares.insert(place, spare);
        }
    }

    /// Whether a test can run in a spare (one that measures allocated bytes
    /// needs the inspector open from its start).
    fn can_use_spare(&self, state: &FileState, index: usize) -> bool {
        let Some(test) = state.tests.as_ref().ok().and_then(|t| t.get(index)) else {
            return false;
        };
        self.isolation == Isolation::Test && !test.allocated && test.invalid.is_none()
    }

    /// The listing processes still waiting for their file's first test.
    fn listing_processes_waiting(&self) -> usize {
        let mut seen = HashSet::new();
        self.order
            .iter()
            .filter(|(state, _)| seen.insert(Arc::as_ptr(state)) && state.has_parked())
            .count()
    }
}

/// A test in the run's order, as the spares see it.
#[derive(Clone, Copy, Debug)]
struct Place {
    /// Its file (tests of one file share it).
    file: usize,
    /// Not started yet, and able to run in a spare.
    open: bool,
    /// Its file's listing process still waits.
    parked: bool,
    /// A spare was started for it.
    spare: bool,
}

/// The places (at most `room`) that need a spare started now: the first
/// open tests that will find no process waiting. A file's listing process
/// goes to the first of its tests to start.
fn wanting_spares(places: &[Place], room: usize) -> Vec<usize> {
    let mut claimed = HashSet::new();
    let mut wanting = Vec::new();
    for (i, p) in places.iter().enumerate() {
        if wanting.len() >= room {
            break;
        }
        if !p.open || (p.parked && claimed.insert(p.file)) || p.spare {
            continue;
        }
        wanting.push(i);
    }
    wanting
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(file: usize, open: bool, parked: bool, spare: bool) -> Place {
        Place {
            file,
            open,
            parked,
            spare,
        }
    }

    /// Two files of two tests at one thread, as libtest runs them: the
    /// first test of each file runs in its listing process, the second in
    /// a spare started while an earlier test runs.
    #[test]
    fn spares_go_to_the_tests_that_find_no_process_waiting() {
        // a1 has started (it took a's listing process); b's still waits.
        let places = [
            place(0, false, false, false),
            place(0, true, false, false),
            place(1, true, true, false),
            place(1, true, true, false),
        ];
        assert_eq!(wanting_spares(&places, 1), [1]);
        assert_eq!(wanting_spares(&places, 2), [1, 3]);
        assert_eq!(wanting_spares(&places, 0), Vec::<usize>::new());
        // a2 started in its spare: b1 takes b's listing process, b2 needs one.
        let places = [
            place(0, false, false, false),
            place(0, false, false, false),
            place(1, true, true, false),
            place(1, true, true, false),
        ];
        assert_eq!(wanting_spares(&places, 1), [3]);
        // b2 has one already.
        let places = [places[0], places[1], places[2], place(1, true, true, true)];
        assert_eq!(wanting_spares(&places, 1), Vec::<usize>::new());
        // A test that cannot use a spare (allocated bytes) neither gets one
        // nor takes its file's listing process.
        let places = [place(2, false, true, false), place(2, true, true, false)];
        assert_eq!(wanting_spares(&places, 1), Vec::<usize>::new());
    }

    #[test]
    fn ignored_tests_run_only_when_asked() {
        let plain = Arguments::default();
        assert!(runs(&plain, false) && !runs(&plain, true));
        let only = Arguments {
            ignored: true,
            ..Arguments::default()
        };
        assert!(!runs(&only, false) && runs(&only, true));
        let both = Arguments {
            include_ignored: true,
            ..Arguments::default()
        };
        assert!(runs(&both, false) && runs(&both, true));
    }
}
