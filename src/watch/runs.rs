//! The watch loop: one run at a time; a change asks for a run of the test
//! files it affects, which starts at once or, when a run is in progress,
//! cancels it (no test starts, its processes are killed) and follows it
//! with both runs' files. Each finished run is a line at the terminal, its
//! tests merged into the model, and the page sent to every follower.

use std::collections::{BTreeSet, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anstyle::{AnsiColor, Style};
use libtest_mimic::Arguments;

use crate::config::Config;
use crate::interrupt;
use crate::report::html::{self, Page, Place};
use crate::report::{RunReport, Status, TestReport};
use crate::run::{Outcome, Session};
use crate::{review, text};

use super::graph::{self, Affected};
use super::state::Live;

/// What the loop hears.
pub enum Event {
    /// Files were saved, created or removed (absolute paths).
    Changed(Vec<PathBuf>),
    /// Run `id` ended: its outcome, `None` when it was cancelled.
    Finished(u64, Box<anyhow::Result<Option<Outcome>>>),
    /// A proposal or pending baseline was settled from the page; the test
    /// file whose proposal was accepted, to run again.
    Settled(Option<String>),
    /// `q` at the terminal.
    Quit,
}

/// The test files to run, and the files that asked for it.
#[derive(Debug, Default, Clone)]
struct Request {
    /// `None`: every test file.
    files: Option<BTreeSet<PathBuf>>,
    triggers: Vec<String>,
}

impl Request {
    /// Both requests' files and triggers.
    fn and(self, other: Request) -> Request {
        let files = match (self.files, other.files) {
            (Some(mut a), Some(b)) => {
                a.extend(b);
                Some(a)
            }
            _ => None,
        };
        let mut triggers = self.triggers;
        for t in other.triggers {
            if !triggers.contains(&t) {
                triggers.push(t);
            }
        }
        Request { files, triggers }
    }
}

/// The run in progress.
struct Current {
    id: u64,
    request: Request,
    cancel: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    started: Instant,
}

pub struct Loop {
    session: Arc<Session>,
    /// Every session's temporary folders, removed on a signal.
    dirs: Arc<Mutex<Vec<PathBuf>>>,
    live: Arc<Live>,
    args: Arguments,
    tx: Sender<Event>,
    paint: bool,
    /// Every test's latest outcome, merged from the runs so far.
    model: Option<RunReport>,
    current: Option<Current>,
    /// What runs once the cancelled run has stopped.
    queued: Option<Request>,
    runs: u64,
}

impl Loop {
    pub fn new(
        session: Arc<Session>,
        dirs: Arc<Mutex<Vec<PathBuf>>>,
        live: Arc<Live>,
        args: Arguments,
        tx: Sender<Event>,
        paint: bool,
    ) -> Loop {
        Loop {
            session,
            dirs,
            live,
            args,
            tx,
            paint,
            model: None,
            current: None,
            queued: None,
            runs: 0,
        }
    }

    /// Run every test, then follow the events until `q` (or the end of
    /// every sender); the run in progress is stopped before it returns.
    pub fn serve(&mut self, rx: &Receiver<Event>) {
        self.start(Request::default());
        while let Ok(event) = rx.recv() {
            match event {
                Event::Changed(files) => self.changed(files),
                Event::Finished(id, outcome) => self.finished(id, *outcome),
                Event::Settled(file) => self.settled(file),
                Event::Quit => break,
            }
        }
        if let Some(current) = self.current.take() {
            stop(&current);
        }
    }

    fn changed(&mut self, files: Vec<PathBuf>) {
        let root = self.session.root().to_path_buf();
        let triggers: Vec<String> = files.iter().map(|f| relative(&root, f)).collect();
        let files = if files.iter().any(|f| f == &self.session.config().file) {
            if !self.reload() {
                return;
            }
            None
        } else {
            let tests: Vec<PathBuf> = match self.session.test_files() {
                Ok(t) => t.into_iter().map(|f| f.path).collect(),
                Err(e) => {
                    self.live.status(|s| s.error = Some(format!("{e:#}")));
                    return;
                }
            };
            match graph::affected(&files, &tests) {
                Affected::All => None,
                Affected::Files(f) if f.is_empty() => return,
                Affected::Files(f) => Some(f),
            }
        };
        self.ask(Request { files, triggers });
    }

    /// `memcheck.toml` changed: read it and prepare the engines again.
    /// Whether it could be; if not, the page and the terminal say why,
    /// and the next save tries again.
    fn reload(&mut self) -> bool {
        let file = self.session.config().file.clone();
        let session = Config::load(&file)
            .map_err(anyhow::Error::from)
            .and_then(|config| Session::new(config, self.session.options().clone()));
        match session {
            Ok(session) => {
                let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
                dirs.extend(session.run_dirs());
                self.session = Arc::new(session);
                self.live.status(|s| s.error = None);
                true
            }
            Err(e) => {
                let message = format!("{e:#}");
                eprintln!("memcheck: error: {message}");
                self.live.status(|s| s.error = Some(message));
                false
            }
        }
    }

    /// Run `request` now, or once the run in progress is cancelled.
    fn ask(&mut self, request: Request) {
        match &self.current {
            Some(current) => {
                let queued = self
                    .queued
                    .take()
                    .unwrap_or_else(|| current.request.clone());
                self.queued = Some(queued.and(request));
                cancel(current);
            }
            None => self.start(request),
        }
    }

    /// The page settled a baseline: show it, and run again the test file
    /// whose figures became its baseline, so that its verdict follows.
    fn settled(&mut self, accepted: Option<String>) {
        self.republish();
        if let Some(file) = accepted {
            let path = self.session.root().join(&file);
            self.ask(Request {
                files: Some(BTreeSet::from([path])),
                triggers: vec![format!("Accept ({file})")],
            });
        }
    }

    fn start(&mut self, request: Request) {
        let id = self.runs + 1;
        self.runs = id;
        let cancel = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let triggers = request.triggers.clone();
        self.live.status(|s| {
            s.running = true;
            s.triggers = triggers;
        });
        let (session, args, tx) = (self.session.clone(), self.args.clone(), self.tx.clone());
        let only: Option<HashSet<PathBuf>> = request.files.clone().map(|f| f.into_iter().collect());
        let (stop, finished) = (cancel.clone(), done.clone());
        std::thread::spawn(move || {
            let outcome = session.run(&args, only.as_ref(), &stop);
            finished.store(true, Ordering::SeqCst);
            let _ = tx.send(Event::Finished(id, Box::new(outcome)));
        });
        self.current = Some(Current {
            id,
            request,
            cancel,
            done,
            started: Instant::now(),
        });
    }

    fn finished(&mut self, id: u64, outcome: anyhow::Result<Option<Outcome>>) {
        let Some(current) = self.current.take_if(|c| c.id == id) else {
            return;
        };
        let took = current.started.elapsed();
        // A cancelled run's outcome, or its error (a listing killed), is
        // nobody's news.
        let cancelled = current.cancel.load(Ordering::SeqCst);
        match outcome {
            _ if cancelled => {}
            Ok(Some(outcome)) => self.show(id, &current.request, outcome, took),
            Ok(None) => {}
            Err(e) => {
                let message = format!("{e:#}");
                eprintln!("memcheck: run {id}: error: {message}");
                let triggers = current.request.triggers.clone();
                self.live.status(|s| {
                    s.running = false;
                    s.error = Some(message);
                    s.last_triggers = triggers;
                });
            }
        }
        if let Some(next) = self.queued.take() {
            self.start(next);
        }
    }

    /// A finished run: its line at the terminal, its tests into the model,
    /// the page to every follower.
    fn show(&mut self, run: u64, request: &Request, outcome: Outcome, took: Duration) {
        let Outcome {
            report,
            proposals,
            files,
        } = outcome;
        println!("{}", summary_line(run, request, &report, took, self.paint));
        let _ = std::io::stdout().flush();
        let root = self.session.root();
        let ran: Vec<String> = files.iter().map(|f| relative(root, f)).collect();
        self.live.offer(&ran, proposals);
        let model = match (self.model.take(), &request.files) {
            (Some(old), Some(_)) => merge(old, report, &files, self.session.root()),
            _ => report,
        };
        self.model = Some(model);
        self.republish();
        let triggers = request.triggers.clone();
        self.live.status(|s| {
            s.run = run;
            s.running = false;
            s.last_ms = Some(took.as_millis() as u64);
            s.last_triggers = triggers;
            s.error = None;
        });
    }

    /// Send the model's page again, with the pending baselines as they are
    /// on disk now.
    fn republish(&self) {
        let Some(model) = &self.model else { return };
        let root = self.session.root();
        let mut page = html::from_report(
            model,
            &Place {
                root,
                page_dir: root,
            },
        );
        mark_pending(&mut page, model, root, &self.live.offered());
        self.live.publish(model, page);
    }
}

/// Ask the run to stop: no test starts, and the processes of the tests
/// running are killed until the run has returned.
fn cancel(current: &Current) {
    if current.cancel.swap(true, Ordering::SeqCst) {
        return;
    }
    let done = current.done.clone();
    std::thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            interrupt::kill_all();
            std::thread::sleep(Duration::from_millis(20));
        }
    });
}

/// Cancel the run and wait until it has returned.
fn stop(current: &Current) {
    current.cancel.store(true, Ordering::SeqCst);
    while !current.done.load(Ordering::SeqCst) {
        interrupt::kill_all();
        std::thread::sleep(Duration::from_millis(20));
    }
    interrupt::kill_all();
}

/// The old model with the tests of the files run again replaced, in the
/// order of the files now found.
fn merge(old: RunReport, new: RunReport, run: &[PathBuf], root: &Path) -> RunReport {
    let rerun: HashSet<String> = run.iter().map(|p| relative(root, p)).collect();
    let mut tests: Vec<TestReport> = old
        .tests
        .into_iter()
        .filter(|t| !rerun.contains(&t.file) && root.join(&t.file).is_file())
        .collect();
    tests.extend(new.tests);
    tests.sort_by(|a, b| a.file.cmp(&b.file));
    let mut runtimes = old.runtimes;
    for r in &new.runtimes {
        if !runtimes.contains(r) {
            runtimes.push(r.clone());
        }
    }
    RunReport {
        runtime: runtimes.first().cloned().unwrap_or_default(),
        runtimes,
        tests,
        baselines: new.baselines,
        notes: new.notes,
    }
}

/// Mark the tests with a proposal from this session (`offered`, as
/// (engine, `file::test`)) or a pending baseline on disk.
fn mark_pending(page: &mut Page, model: &RunReport, root: &Path, offered: &[(String, String)]) {
    let mut pending: HashSet<(String, String)> = offered.iter().cloned().collect();
    if let Ok(search) = review::find(root) {
        for f in &search.found {
            let engine = f.pending.engine.name().to_owned();
            for t in f.pending.file.tests.keys() {
                pending.insert((engine.clone(), text::full_name(&f.source, t)));
            }
        }
    }
    for (shown, test) in page.tests.iter_mut().zip(&model.tests) {
        let key = (
            test.engine.to_owned(),
            text::full_name(&test.file, &test.name),
        );
        shown.pending = pending.contains(&key);
    }
}

/// `run 3 · lib/a.js · 4 passed, 1 failed · 2.31 s`, in the run's colours.
fn summary_line(
    run: u64,
    request: &Request,
    report: &RunReport,
    took: Duration,
    paint: bool,
) -> String {
    let count = |s: Status| report.tests.iter().filter(|t| t.status == s).count();
    let (passed, failed, ignored) = (
        count(Status::Passed),
        count(Status::Failed),
        count(Status::Ignored),
    );
    let paint = |style: Style, text: String| {
        if paint {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text
        }
    };
    let green = Style::new().fg_color(Some(AnsiColor::Green.into()));
    let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
    let mut counts = vec![paint(green, format!("{passed} passed"))];
    if failed > 0 {
        counts.push(paint(red, format!("{failed} failed")));
    }
    if ignored > 0 {
        counts.push(format!("{ignored} ignored"));
    }
    let why = if request.triggers.is_empty() {
        "all tests".to_owned()
    } else {
        request.triggers.join(", ")
    };
    let verdict = if failed > 0 {
        paint(red, "FAILED".into())
    } else {
        paint(green, "ok".into())
    };
    format!(
        "memcheck: run {run} ({why}): {verdict}. {} · {:.2} s",
        counts.join(", "),
        took.as_secs_f64()
    )
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(file: &str, name: &str) -> TestReport {
        TestReport {
            file: file.into(),
            name: name.into(),
            ..TestReport::default()
        }
    }

    #[test]
    fn requests_merge_their_files_and_triggers() {
        let files = |f: &[&str]| Some(f.iter().map(PathBuf::from).collect::<BTreeSet<_>>());
        let a = Request {
            files: files(&["a"]),
            triggers: vec!["x".into()],
        };
        let b = Request {
            files: files(&["b"]),
            triggers: vec!["x".into(), "y".into()],
        };
        let both = a.clone().and(b);
        assert_eq!(both.files, files(&["a", "b"]));
        assert_eq!(both.triggers, ["x", "y"]);
        let all = a.and(Request {
            files: None,
            triggers: vec![],
        });
        assert_eq!(all.files, None);
    }

    #[test]
    fn a_partial_run_replaces_only_its_files_tests() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in ["a.memtest.js", "b.memtest.js"] {
            std::fs::write(root.join(f), "").unwrap();
        }
        let old = RunReport {
            tests: vec![
                test("a.memtest.js", "old a"),
                test("b.memtest.js", "old b"),
                test("gone.memtest.js", "x"),
            ],
            ..RunReport::default()
        };
        let new = RunReport {
            tests: vec![test("a.memtest.js", "new a")],
            ..RunReport::default()
        };
        let merged = merge(old, new, &[root.join("a.memtest.js")], root);
        let names: Vec<&str> = merged.tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["new a", "old b"]);
    }

    #[test]
    fn the_summary_line_says_what_ran_and_why() {
        let report = RunReport {
            tests: vec![
                test("a.js", "t"),
                TestReport {
                    status: Status::Failed,
                    ..test("a.js", "u")
                },
            ],
            ..RunReport::default()
        };
        let request = Request {
            files: None,
            triggers: vec!["lib/x.js".into()],
        };
        assert_eq!(
            summary_line(2, &request, &report, Duration::from_millis(1234), false),
            "memcheck: run 2 (lib/x.js): FAILED. 1 passed, 1 failed · 1.23 s"
        );
    }
}
