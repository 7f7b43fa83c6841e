//! Running one test in its own runtime process and turning its checkpoints
//! into per-block comparisons.
//!
//! Each snapshot is parsed on its own thread while it streams in, so the
//! "before" snapshot of a block is parsed while the block runs.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::diff::{Comparison, NewObjects, compare, compare_with_new};
use crate::retainers::RetainerTree;
use crate::runtime::{
    Event, Exit, Launch, ListedTest, Message, RuntimeError, RuntimeInfo, Session,
};
use crate::snapshot::{ParseError, Snapshot, parse};

/// A measured block.
#[derive(Debug, Clone)]
pub struct Block {
    pub name: String,
    /// The block's own budget, as written (a test-level budget applies when
    /// this is `None`).
    pub budget: Option<serde_json::Value>,
    pub comparison: Comparison,
    /// A shortest retainer path to one new object of each of the classes
    /// that grew most.
    pub retainers: Vec<RetainerPath>,
    /// With `repeat`: what each run left behind, and what grew in all runs.
    pub repetition: Option<Repetition>,
    /// Bytes allocated during the block, garbage included (when the test
    /// asks for it).
    pub allocated_bytes: Option<u64>,
    /// Where the new objects of the top classes were allocated (only when
    /// the run tracked allocations).
    pub allocations: Vec<AllocationSite>,
    /// Kept `.heapsnapshot` files, with `--snapshots`.
    pub snapshots: Option<(PathBuf, PathBuf)>,
}

/// How one new object of a class is kept alive.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RetainerPath {
    pub constructor: String,
    pub path: String,
}

/// What one run of a `repeat` block left alive, against the run before.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunDelta {
    /// Objects alive after this run minus after the one before.
    pub objects_delta: i64,
    pub bytes_delta: i64,
    /// Constructors whose count changed.
    pub constructors: Vec<NamedDelta>,
}

/// A constructor's change in count over one run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NamedDelta {
    pub name: String,
    pub delta: i64,
}

impl From<&Comparison> for RunDelta {
    fn from(c: &Comparison) -> RunDelta {
        RunDelta {
            objects_delta: c.retained_objects as i64 - c.freed_objects as i64,
            bytes_delta: c.retained_bytes as i64 - c.freed_bytes as i64,
            constructors: c
                .constructors
                .iter()
                .filter(|r| r.delta != 0)
                .map(|r| NamedDelta {
                    name: r.name.clone(),
                    delta: r.delta,
                })
                .collect(),
        }
    }
}

/// A constructor whose live count grew in every run: a leak.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Growth {
    pub name: String,
    /// Its growth in each run.
    pub deltas: Vec<i64>,
}

/// The runs of a `repeat` block.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Repetition {
    pub runs: Vec<RunDelta>,
    /// Constructors that grew in every run, most first.
    pub leaking: Vec<Growth>,
}

impl Repetition {
    pub fn from_runs(runs: Vec<RunDelta>) -> Repetition {
        let mut names: Vec<&String> = runs
            .iter()
            .flat_map(|r| r.constructors.iter().map(|c| &c.name))
            .collect();
        names.sort();
        names.dedup();
        let mut leaking: Vec<Growth> = names
            .into_iter()
            .map(|name| Growth {
                name: name.clone(),
                deltas: runs
                    .iter()
                    .map(|r| {
                        r.constructors
                            .iter()
                            .find(|c| &c.name == name)
                            .map_or(0, |c| c.delta)
                    })
                    .collect(),
            })
            .filter(|g| !g.deltas.is_empty() && g.deltas.iter().all(|&d| d > 0))
            .collect();
        leaking.sort_by(|a, b| {
            b.deltas
                .iter()
                .sum::<i64>()
                .cmp(&a.deltas.iter().sum::<i64>())
                .then_with(|| a.name.cmp(&b.name))
        });
        Repetition { runs, leaking }
    }
}

/// Where new objects of a class were allocated: the innermost frames of
/// one allocation stack, and how many of the new objects it made.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AllocationSite {
    pub constructor: String,
    pub count: u64,
    /// Innermost first: `function (file:line:column)`.
    pub stack: Vec<String>,
}

/// Allocation sites kept per class.
const SITES_PER_CLASS: usize = 3;
/// Frames kept per site.
const FRAMES_PER_SITE: usize = 3;

/// Retainer paths are found for this many classes per block, largest first.
const RETAINER_CLASSES: usize = 5;
/// Candidates looked at per class when choosing the closest sample.
const RETAINER_SAMPLES: usize = 64;

/// Why a test did not finish normally.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The file did not load (syntax error, import failure, top-level throw).
    Load {
        message: String,
        stack: String,
    },
    /// The test threw or rejected.
    Threw {
        message: String,
        stack: String,
    },
    TimedOut(Duration),
    /// The runtime exited or crashed without reporting.
    Crashed {
        exit: Exit,
        output: String,
    },
    /// Something memcheck itself could not handle.
    Internal(String),
}

/// Everything one test run produced.
#[derive(Debug, Default)]
pub struct TestRun {
    pub runtime: Option<RuntimeInfo>,
    pub blocks: Vec<Block>,
    pub fault: Option<Fault>,
    /// What the test printed, and the runtime's stderr.
    pub output: String,
}

/// Where to keep snapshots, with `--snapshots DIR`.
#[derive(Clone, Debug)]
pub struct KeepSnapshots {
    pub dir: PathBuf,
}

/// What listing a file gave: the runtime that did it, and its tests or why
/// it could not be loaded.
pub struct Listing {
    pub runtime: Option<RuntimeInfo>,
    pub tests: Result<Vec<ListedTest>, Fault>,
}

/// List the tests of `file`.
pub fn list(launch: &Launch, file: &Path, timeout: Duration) -> Result<Listing, RuntimeError> {
    let mut session = Session::start(launch, "list", file, None, timeout)?;
    let mut runtime = None;
    let mut result = None;
    while let Some(event) = session.next_event() {
        match event {
            Event::Message(Message::Runtime(info)) => runtime = Some(info),
            Event::Message(Message::Tests { tests }) => result = Some(Ok(tests)),
            Event::Message(Message::LoadError { message, stack }) => {
                result = Some(Err(Fault::Load { message, stack }))
            }
            Event::Message(Message::Fatal { message }) => {
                result = Some(Err(Fault::Internal(message)))
            }
            Event::Closed => break,
            _ => {}
        }
    }
    let (exit, output) = session.finish();
    let result = match result {
        Some(r) => r,
        None if exit == Exit::TimedOut => Err(Fault::TimedOut(timeout)),
        None => Err(Fault::Crashed { exit, output }),
    };
    Ok(Listing {
        runtime,
        tests: result,
    })
}

/// A snapshot being received and parsed.
struct Incoming {
    label: String,
    tx: Option<Sender<Vec<u8>>>,
    cancel: Arc<AtomicBool>,
    parsed: JoinHandle<Result<Snapshot, ParseError>>,
    file: Option<(PathBuf, std::fs::File)>,
}

impl Incoming {
    fn start(label: String, keep: Option<PathBuf>) -> std::io::Result<Incoming> {
        let (tx, rx) = channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let reader = ChannelReader {
            rx,
            buf: Vec::new(),
            pos: 0,
            cancel: cancel.clone(),
        };
        let parsed = std::thread::spawn(move || parse(reader));
        let file = match keep {
            Some(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let f = std::fs::File::create(&path)?;
                Some((path, f))
            }
            None => None,
        };
        Ok(Incoming {
            label,
            tx: Some(tx),
            cancel,
            parsed,
            file,
        })
    }

    fn chunk(&mut self, bytes: Vec<u8>) -> std::io::Result<()> {
        if let Some((_, f)) = &mut self.file {
            f.write_all(&bytes)?;
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(bytes);
        }
        Ok(())
    }

    fn end(&mut self) {
        self.tx = None;
    }

    fn abandon(self) {
        self.cancel.store(true, Ordering::Relaxed);
        drop(self.tx);
        if let Some((path, file)) = self.file {
            drop(file);
            let _ = std::fs::remove_file(path);
        }
    }

    fn wait(self) -> Result<(Snapshot, Option<PathBuf>), String> {
        let label = self.label;
        let snap = self
            .parsed
            .join()
            .map_err(|_| format!("the parser of snapshot {label} panicked"))?
            .map_err(|e| format!("snapshot {label} is unreadable: {e}"))?;
        Ok((snap, self.file.map(|(p, _)| p)))
    }
}

/// A `Read` over the chunks a channel delivers.
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
    cancel: Arc<AtomicBool>,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(std::io::Error::other("cancelled"));
            }
            match self.rx.recv() {
                Ok(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Run one test and measure its blocks.
pub fn run_test(
    launch: &Launch,
    file: &Path,
    test: &str,
    timeout: Duration,
    keep: Option<&Path>,
) -> Result<TestRun, RuntimeError> {
    let mut session = Session::start(launch, "run", file, Some(test), timeout)?;
    let mut run = TestRun::default();
    let mut incoming: Option<Incoming> = None;
    let mut done: Vec<Incoming> = Vec::new();
    let mut whole_before: Option<Incoming> = None;
    let mut expect_whole = false;
    let mut block_budget: Option<serde_json::Value> = None;
    let mut block_repeat = 0u32;
    let mut allocated: Option<u64> = None;
    let mut finished = false;
    let keep_path = |label: &str| keep.map(|d| d.join(format!("{}.heapsnapshot", sanitize(label))));

    while let Some(event) = session.next_event() {
        match event {
            Event::Message(Message::Runtime(info)) => run.runtime = Some(info),
            Event::Message(Message::WholeBefore) => expect_whole = true,
            Event::Message(Message::Allocated { bytes }) => allocated = Some(bytes),
            Event::Message(Message::Snapshot { label }) => {
                let path = keep_path(&label);
                match Incoming::start(format!("{test}/{label}"), path) {
                    Ok(i) => incoming = Some(i),
                    Err(e) => {
                        run.fault = Some(Fault::Internal(format!("cannot keep a snapshot: {e}")));
                        break;
                    }
                }
            }
            Event::Chunk(bytes) => {
                if let Some(i) = &mut incoming
                    && let Err(e) = i.chunk(bytes)
                {
                    run.fault = Some(Fault::Internal(format!("cannot keep a snapshot: {e}")));
                    break;
                }
            }
            Event::Message(Message::SnapshotEnd { .. }) => {
                if let Some(mut i) = incoming.take() {
                    i.end();
                    if expect_whole {
                        expect_whole = false;
                        whole_before = Some(i);
                    } else {
                        done.push(i);
                    }
                }
            }
            Event::Message(Message::Block { budget, repeat, .. }) => {
                // The test has blocks: the whole-body snapshot is not needed.
                if let Some(w) = whole_before.take() {
                    w.abandon();
                }
                block_budget = budget;
                block_repeat = repeat;
            }
            Event::Message(Message::BlockEnd { name }) => {
                let wanted = block_repeat.max(1) as usize + 1;
                if done.len() < wanted {
                    run.fault = Some(Fault::Internal(format!(
                        "block {name} ended without its {wanted} snapshots"
                    )));
                    break;
                }
                let snapshots = done.split_off(done.len() - wanted);
                match finish_block(name, block_budget.take(), snapshots) {
                    Ok(mut b) => {
                        b.allocated_bytes = allocated.take();
                        run.blocks.push(b);
                    }
                    Err(e) => {
                        run.fault = Some(Fault::Internal(e));
                        break;
                    }
                }
            }
            Event::Message(Message::WholeAfter { name }) => {
                let (Some(after), Some(before)) = (done.pop(), whole_before.take()) else {
                    run.fault = Some(Fault::Internal(
                        "the whole-test block ended without its two snapshots".into(),
                    ));
                    break;
                };
                match finish_block(name, None, vec![before, after]) {
                    Ok(mut b) => {
                        b.allocated_bytes = allocated.take();
                        run.blocks.push(b);
                    }
                    Err(e) => {
                        run.fault = Some(Fault::Internal(e));
                        break;
                    }
                }
            }
            Event::Message(Message::Passed) => finished = true,
            Event::Message(Message::Error { message, stack }) => {
                finished = true;
                run.fault = Some(Fault::Threw { message, stack });
            }
            Event::Message(Message::LoadError { message, stack }) => {
                finished = true;
                run.fault = Some(Fault::Load { message, stack });
            }
            Event::Message(Message::Fatal { message }) => {
                finished = true;
                run.fault = Some(Fault::Internal(message));
            }
            Event::Message(_) => {}
            Event::Garbled(g) => {
                run.fault = Some(Fault::Internal(format!(
                    "the harness sent something unreadable: {g}"
                )));
                break;
            }
            Event::Closed => break,
        }
    }
    for i in incoming.into_iter().chain(done).chain(whole_before) {
        i.abandon();
    }
    let (exit, output) = session.finish();
    run.output = output;
    if exit == Exit::TimedOut {
        run.fault = Some(Fault::TimedOut(timeout));
    } else if !finished && run.fault.is_none() {
        run.fault = Some(Fault::Crashed {
            exit,
            output: run.output.clone(),
        });
    }
    Ok(run)
}

/// Compare a block's checkpoints: the first against the last, and with
/// `repeat`, each run against the one before.
fn finish_block(
    name: String,
    budget: Option<serde_json::Value>,
    snapshots: Vec<Incoming>,
) -> Result<Block, String> {
    let count = snapshots.len();
    let mut paths = Vec::new();
    let mut parsed = snapshots.into_iter().map(Incoming::wait);
    let (first, first_path) = parsed.next().ok_or("a block without snapshots")??;
    let mut runs = Vec::new();
    // Each snapshot is compared with the one before, then dropped.
    let mut previous: Option<Snapshot> = None;
    for next in parsed {
        let (snap, path) = next?;
        paths.push(path);
        if count > 2 {
            let base = previous.as_ref().unwrap_or(&first);
            runs.push(RunDelta::from(&compare(base, &snap)));
        }
        previous = Some(snap);
    }
    let after = previous.ok_or("a block without its after snapshot")?;
    let (comparison, new) = compare_with_new(&first, &after);
    drop(first);
    let retainers = retainer_paths(&after, &comparison, &new);
    let allocations = allocation_sites(&after, &comparison, &new);
    let repetition = (count > 2).then(|| Repetition::from_runs(runs));
    let last_path = paths.pop().flatten();
    Ok(Block {
        name,
        budget,
        comparison,
        retainers,
        repetition,
        allocated_bytes: None,
        allocations,
        snapshots: first_path.zip(last_path),
    })
}

/// Paths to the closest new object of each of the classes with the most
/// new objects.
fn retainer_paths(
    after: &Snapshot,
    comparison: &Comparison,
    new: &NewObjects,
) -> Vec<RetainerPath> {
    let mut grown: Vec<_> = comparison
        .constructors
        .iter()
        .filter(|r| r.new > 0)
        .collect();
    grown.sort_by(|a, b| b.new.cmp(&a.new).then(b.alloc_size.cmp(&a.alloc_size)));
    grown.truncate(RETAINER_CLASSES);
    if grown.is_empty() {
        return Vec::new();
    }
    let tree = RetainerTree::build(after);
    grown
        .into_iter()
        .filter_map(|row| {
            let nodes = new.get(&row.name)?;
            let sample = nodes
                .iter()
                .take(RETAINER_SAMPLES)
                .filter_map(|&n| tree.distance(n).map(|d| (d, n)))
                .min()?
                .1;
            Some(RetainerPath {
                constructor: row.name.clone(),
                path: tree.describe(after, sample)?,
            })
        })
        .collect()
}

/// The stacks that allocated the new objects of the top classes.
fn allocation_sites(
    after: &Snapshot,
    comparison: &Comparison,
    new: &NewObjects,
) -> Vec<AllocationSite> {
    if !after.has_allocation_traces() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for row in top_grown(comparison) {
        let Some(nodes) = new.get(&row.name) else {
            continue;
        };
        let mut counts: std::collections::HashMap<Vec<String>, u64> =
            std::collections::HashMap::new();
        for &n in nodes {
            let stack: Vec<String> = after
                .allocation_stack(n)
                .into_iter()
                .filter(|f| !f.script.is_empty() && !f.script.contains("/harness-"))
                .take(FRAMES_PER_SITE)
                .map(|f| {
                    let name = if f.function.is_empty() {
                        "(anonymous)"
                    } else {
                        f.function.as_str()
                    };
                    format!(
                        "{name} ({}:{}:{})",
                        crate::report::relative_url(&f.script),
                        f.line,
                        f.column
                    )
                })
                .collect();
            if !stack.is_empty() {
                *counts.entry(stack).or_default() += 1;
            }
        }
        let mut sites: Vec<_> = counts.into_iter().collect();
        sites.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out.extend(
            sites
                .into_iter()
                .take(SITES_PER_CLASS)
                .map(|(stack, count)| AllocationSite {
                    constructor: row.name.clone(),
                    count,
                    stack,
                }),
        );
    }
    out
}

/// The classes with the most new objects, for explanations.
fn top_grown(comparison: &Comparison) -> Vec<&crate::diff::ConstructorDelta> {
    let mut grown: Vec<_> = comparison
        .constructors
        .iter()
        .filter(|r| r.new > 0)
        .collect();
    grown.sort_by(|a, b| b.new.cmp(&a.new).then(b.alloc_size.cmp(&a.alloc_size)));
    grown.truncate(RETAINER_CLASSES);
    grown
}

/// A file-name-safe version of a label.
pub fn sanitize(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}
