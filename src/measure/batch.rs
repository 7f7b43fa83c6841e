//! `isolation = "file"`: the selected tests of one file, one after another
//! in one runtime process (start-up, module load and warm-up paid once),
//! each with its own checkpoints, deadline and output. What it gives up: a
//! test sees what earlier tests of its file left in the process (module
//! state, globals, timers), and a process that ends early takes the tests
//! after the one that ended it: they come back as `None`, to be run on
//! their own; so does the test it ended in, unless it was the first (an
//! earlier test's timer may have ended it). A process that signalled the
//! runner gives every test back to be run on its own.

use std::path::PathBuf;
use std::time::Duration;

use super::{Fault, Parked, Receiving, TestRef, TestRun, ended_early};
use crate::runtime::{Conversation, Exit, Job, JobMode, Launch, RuntimeError, Session, Unfinished};

/// One test of a batch: which, how long it may take, where its snapshots go.
pub struct Batched<'a> {
    pub test: TestRef<'a>,
    pub timeout: Duration,
    pub keep: Option<PathBuf>,
}

/// Run `tests` (all of one file) in one process: each test's run, in order,
/// or `None` for those the process did not get to.
/// The process that listed the file runs them when it is `parked` there.
pub fn run_file(
    launch: &Launch,
    label: &str,
    tests: &[Batched],
    parked: Option<Parked>,
) -> Result<Vec<Option<TestRun>>, RuntimeError> {
    let Some(first) = tests.first() else {
        return Ok(Vec::new());
    };
    let places: Vec<String> = tests.iter().map(|b| b.test.index.to_string()).collect();
    let command = format!("run-many {}", places.join(","));
    let started = parked.and_then(|p| p.start(launch, &command, first.test, first.timeout));
    let from_parked = started.is_some();
    let (mut session, mut talk, mut r) = match started {
        Some(s) => s,
        None => match start(launch, label, tests) {
            Ok(s) => s,
            Err(RuntimeError::ProjectConfig(message)) => {
                let fault = Fault::Load {
                    message,
                    stack: String::new(),
                };
                return Ok(tests.iter().map(|_| Some(faulted(fault.clone()))).collect());
            }
            Err(e) => return Err(e),
        },
    };
    let mut runs: Vec<TestRun> = Vec::new();
    while let Some(current) = tests.get(runs.len()) {
        let Some(event) = session.next_event() else {
            break;
        };
        match r.event(event, &mut talk, current.test.name, current.keep.as_deref()) {
            Ok(true) => {}
            Ok(false) => break,
            Err(fault) => {
                r.run.fault = Some(fault);
                session.kill();
                break;
            }
        }
        if talk.finished() {
            let next = Receiving::new(launch, first.test.file);
            runs.push(finish(std::mem::replace(&mut r, next)));
            if let Some(after) = tests.get(runs.len()) {
                talk = Conversation::next_test(after.test.name);
                session.restart_clock(after.timeout);
            }
        }
    }
    r.abandon();
    // A parked process that ended before its first test started: the batch
    // runs in a process of its own.
    if from_parked && runs.is_empty() && talk.unfinished() == Some(Unfinished::Loading) {
        drop(session);
        return run_file(launch, label, tests, None);
    }
    let (exit, outputs) = session.finish_segments();
    // A signal sent to the runner fails the test that sent it: each test
    // runs again on its own, to tell which.
    if matches!(exit, Exit::SentSignal(_)) {
        return Ok(tests.iter().map(|_| None).collect());
    }
    // The test the process was on when it ended, if any.
    if let Some(current) = tests.get(runs.len())
        && (r.run.fault.is_some() || runs.is_empty() || !talk.finished())
    {
        let mut run = finish(r);
        if run.fault.is_none() {
            if exit != Exit::TimedOut && !runs.is_empty() {
                // The process ended (exit, crash) during this test, but an
                // earlier test may have ended it (a timer it left): this test
                // runs again on its own, as the ones after it do.
                return Ok(pad(runs, tests.len(), outputs));
            }
            run.fault = Some(if exit == Exit::TimedOut {
                Fault::TimedOut(current.timeout)
            } else {
                ended_early(launch, exit, outputs.concat(), talk.unfinished())
            });
        }
        // A file that does not load fails every test of the batch.
        if runs.is_empty() && matches!(run.fault, Some(Fault::Load { .. })) {
            let fault = run.fault.clone().expect("a load fault");
            runs.extend(tests.iter().map(|_| faulted(fault.clone())));
        } else {
            runs.push(run);
        }
    }
    Ok(pad(runs, tests.len(), outputs))
}

/// A process of its own for the batch: the session, the conversation, and
/// the first test's run.
fn start(
    launch: &Launch,
    label: &str,
    tests: &[Batched],
) -> Result<(Session, Conversation, Receiving), RuntimeError> {
    let first = &tests[0];
    let names = tests
        .iter()
        .map(|b| (b.test.index, b.test.name.to_owned()))
        .collect();
    let job = Job::new(
        JobMode::RunMany { tests: names },
        first.test.file,
        label.to_owned(),
    );
    let session = Session::start(launch, &job, first.timeout)?;
    let talk = Conversation::new(job.protocol());
    Ok((session, talk, Receiving::new(launch, first.test.file)))
}

/// The runs in order with their runtime and output, then `None` up to
/// `count` for the tests the process did not finish.
fn pad(mut runs: Vec<TestRun>, count: usize, outputs: Vec<String>) -> Vec<Option<TestRun>> {
    // The runtime said who it is once; output: what came before the first
    // test's mark goes to the first.
    let runtime = runs.first().and_then(|r| r.runtime.clone());
    for (i, run) in runs.iter_mut().enumerate() {
        run.runtime = runtime.clone();
        let mut text = if i == 0 {
            outputs.first().cloned().unwrap_or_default()
        } else {
            String::new()
        };
        text.push_str(outputs.get(i + 1).map_or("", String::as_str));
        run.output = text;
    }
    let mut out: Vec<Option<TestRun>> = runs.into_iter().map(Some).collect();
    out.resize_with(count, || None);
    out
}

fn finish(mut r: Receiving) -> TestRun {
    r.abandon();
    r.clock.finish(&mut r.run.timings);
    r.run
}

fn faulted(fault: Fault) -> TestRun {
    TestRun {
        fault: Some(fault),
        ..TestRun::default()
    }
}
