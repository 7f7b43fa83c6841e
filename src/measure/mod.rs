//! Running one test in its own runtime process and turning its checkpoints
//! into per-block comparisons.
//!
//! Each snapshot is parsed on its own thread while it streams in, so the
//! "before" snapshot of a block is parsed while the block runs. `batch`
//! runs the tests of one file in one process (`isolation = "file"`);
//! `parked`: the process that listed a file runs its first test (or batch);
//! `spare`: a process started ahead, while earlier tests run, waits the same
//! way for a test that has no such process.

mod batch;
mod clock;
mod incoming;
mod parked;
mod spare;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::diff::{Comparison, compare_step_tables, compare_tables, compare_tables_with_new};
use crate::explain::{self, AllocationSite, GrownObject, KeptAlive, RetainerPath};
use crate::repeat::{Repetition, RunDelta};
use crate::runtime::{
    Conversation, Event, Exit, Job, JobMode, Launch, ListedTest, Message, RuntimeError,
    RuntimeInfo, Session, Unfinished,
};
use crate::sourcemap::SourceMaps;
use crate::steps::{BlockKind, Chain, Names};
use crate::timings::Timings;

pub use batch::{Batched, run_file};
use clock::Clock;
pub(crate) use incoming::{Incoming, Parsed};
pub use parked::{Parked, run_parked};
pub use spare::Spare;

/// A measured block: a `t.measure` block, a test's whole body, or a step
/// between two checkpoints (see `steps`).
#[derive(Debug, Clone)]
pub struct Block {
    pub name: String,
    pub kind: BlockKind,
    /// A step's first checkpoint: its name and line in the test file.
    pub from: Option<(String, Option<u32>)>,
    /// The block's own budget, as written (a test-level budget applies when
    /// this is `None`).
    pub budget: Option<serde_json::Value>,
    pub comparison: Comparison,
    /// How the new objects of the classes that grew most are kept alive,
    /// grouped by the shape of their paths.
    pub retainers: Vec<RetainerPath>,
    /// Objects alive before and after that grew in place, and their paths.
    pub grown: Vec<GrownObject>,
    /// With `repeat`: what each run left behind, and what grew in all runs.
    pub repetition: Option<Repetition>,
    /// With `repeat`: each run's Comparison against the run before.
    pub runs: Vec<Comparison>,
    /// Bytes allocated during the block, garbage included (when the test
    /// asks for it).
    pub allocated_bytes: Option<u64>,
    /// Where the new objects of the top classes were allocated (only when
    /// the run tracked allocations).
    pub allocations: Vec<AllocationSite>,
    /// Kept `.heapsnapshot` files, with `--snapshots`.
    pub snapshots: Option<(PathBuf, PathBuf)>,
    /// The line of the test file where the block starts: its `t.measure`
    /// call (`None` when that call is in another file, or for a test's
    /// whole body, which starts at the test's own line).
    pub line: Option<u32>,
    /// Runs of the body before the first checkpoint that `warmup` asked for
    /// (0 without it; a `repeat` block's own warm-up run is not counted).
    pub warmup: u32,
}

impl Block {
    /// A block named `name` that measured nothing yet.
    pub fn named(name: String) -> Block {
        Block {
            name,
            kind: BlockKind::Block,
            from: None,
            budget: None,
            comparison: Comparison::default(),
            retainers: Vec::new(),
            grown: Vec::new(),
            repetition: None,
            runs: Vec::new(),
            allocated_bytes: None,
            allocations: Vec::new(),
            snapshots: None,
            line: None,
            warmup: 0,
        }
    }
}

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
    /// The file declares no tests.
    NoTests,
    /// The runtime exited or crashed without reporting; `during` says where
    /// the harness was.
    Crashed {
        exit: Exit,
        output: String,
        during: Unfinished,
    },
    /// The harness's messages broke the protocol (or could not be read).
    Protocol(String),
    /// The test used the API in a way that cannot be measured (a block or
    /// step name used twice), in words that name the call.
    Misuse(String),
    /// Something memcheck itself could not handle.
    Internal(String),
    /// The test's process (or one it started) sent the runner a signal,
    /// named (`SIGUSR1`); its process group was killed for it.
    SentSignal(String),
}

/// Everything one test run produced.
#[derive(Debug, Default)]
pub struct TestRun {
    pub runtime: Option<RuntimeInfo>,
    pub blocks: Vec<Block>,
    pub fault: Option<Fault>,
    /// What the test printed (stdout and stderr, in order, capped).
    pub output: String,
    /// It measured no block, and must be run again as a whole-body block.
    pub needs_whole: bool,
    /// Where the time went.
    pub timings: Timings,
    /// In a shared process: the test returned with timers or handles of
    /// its own still active (a late error may be its doing).
    pub left_pending: bool,
    /// In a shared process: its fault surfaced outside its own promise
    /// chain, and may be an earlier test's.
    pub stray: bool,
}

/// What listing a file gave: the runtime that did it, and its tests or why
/// it could not be loaded, and, when asked to park, the process that
/// listed it, waiting to run its tests.
pub struct Listing {
    pub runtime: Option<RuntimeInfo>,
    pub tests: Result<Vec<ListedTest>, Fault>,
    pub parked: Option<Parked>,
}

/// List the tests of `file`; with `park`, keep the process that listed
/// them, waiting to run them (see [`Parked`]).
pub fn list(
    launch: &Launch,
    file: &Path,
    label: &str,
    timeout: Duration,
    park: bool,
) -> Result<Listing, RuntimeError> {
    let (mode, label) = match park {
        true => (JobMode::Serve, label.to_owned()),
        false => (JobMode::List, format!("listing {label}")),
    };
    let job = Job::new(mode, file, label);
    let mut session = match Session::start(launch, &job, timeout) {
        Ok(s) => s,
        Err(RuntimeError::ProjectConfig(message)) => {
            let stack = String::new();
            return Ok(Listing {
                runtime: None,
                tests: Err(Fault::Load { message, stack }),
                parked: None,
            });
        }
        Err(e) => return Err(e),
    };
    let mut talk = Conversation::new(job.protocol());
    let mut runtime = None;
    let mut result = None;
    while let Some(event) = session.next_event() {
        let message = match event {
            Event::Message(m) => m,
            Event::Closed => break,
            Event::Chunk(_) | Event::Written(_) => {
                result = Some(Err(Fault::Protocol("snapshot data while listing".into())));
                break;
            }
            Event::Garbled(g) => {
                result = Some(Err(Fault::Protocol(g)));
                break;
            }
        };
        if let Err(breach) = talk.message(&message) {
            result = Some(Err(Fault::Protocol(breach)));
            break;
        }
        match message {
            Message::Runtime(info) => runtime = Some(info),
            Message::Tests { tests } if park => {
                let parked = Parked::new(session, runtime.clone());
                return Ok(Listing {
                    runtime,
                    tests: Ok(tests),
                    parked: Some(parked),
                });
            }
            Message::Tests { tests } => result = Some(Ok(tests)),
            Message::LoadError { message, stack } => {
                result = Some(Err(Fault::Load { message, stack }))
            }
            Message::Fatal { message } | Message::Error { message, .. } => {
                result = Some(Err(Fault::Internal(message)))
            }
            _ => {}
        }
    }
    let (exit, output) = session.finish();
    let result = match result {
        _ if let Some(fault) = sent_signal(&exit) => Err(fault),
        Some(r) => r,
        None if exit == Exit::TimedOut => Err(Fault::TimedOut(timeout)),
        None => Err(ended_early(launch, exit, output, talk.unfinished())),
    };
    Ok(Listing {
        runtime,
        tests: result,
        parked: None,
    })
}

/// A process that signalled the runner fails for that, whatever else it did.
fn sent_signal(exit: &Exit) -> Option<Fault> {
    match exit {
        Exit::SentSignal(s) => Some(Fault::SentSignal(crate::interrupt::name(*s))),
        _ => None,
    }
}

/// Why the runtime ended before the harness said how things went. A test
/// file that does not load (a syntax error, an import that does not
/// resolve) may end the runtime with its own report before any of the
/// file runs: that is a load fault.
fn ended_early(launch: &Launch, exit: Exit, output: String, during: Option<Unfinished>) -> Fault {
    let during = during.unwrap_or(Unfinished::Silent);
    if during == Unfinished::Loading
        && !output.contains("Top-level await promise never resolved")
        && !output.contains("unsettled top-level await")
        && let Some(message) = launch.host.load_error(&output)
    {
        return Fault::Load {
            message,
            stack: String::new(),
        };
    }
    Fault::Crashed {
        exit,
        output,
        during,
    }
}

/// Which test to run: its file, its place in the file's list and its name.
#[derive(Clone, Copy, Debug)]
pub struct TestRef<'a> {
    pub file: &'a Path,
    pub index: usize,
    pub name: &'a str,
    /// `file::name`, for messages.
    pub full_name: &'a str,
}

/// A test run in progress: the blocks measured so far and the snapshots
/// being received.
struct Receiving {
    clock: Clock,
    maps: Arc<SourceMaps>,
    /// The test file's URL, to tell its lines from other files'.
    file_url: String,
    /// The test file's name, for messages.
    file_name: String,
    block_line: Option<u32>,
    run: TestRun,
    incoming: Option<Incoming>,
    done: Vec<Incoming>,
    whole_before: Option<Incoming>,
    expect_whole: bool,
    block_budget: Option<serde_json::Value>,
    block_repeat: u32,
    block_warmup: u32,
    /// While a block is open: where its snapshots start in `done`.
    block_start: Option<usize>,
    allocated: Option<u64>,
    /// The test's checkpoints (`t.checkpoint`), which close steps.
    chain: Chain,
    /// The names of its blocks and steps so far.
    names: Names,
}

/// Run one test and measure its blocks. A test that can call `t.measure`
/// but did not is run again as one whole-body block.
pub fn run_test(
    launch: &Launch,
    test: TestRef,
    timeout: Duration,
    keep: Option<&Path>,
) -> Result<TestRun, RuntimeError> {
    let run = run_once(launch, test, false, timeout, keep)?;
    if run.needs_whole {
        return run_once(launch, test, true, timeout, keep);
    }
    Ok(run)
}

fn run_once(
    launch: &Launch,
    test: TestRef,
    whole: bool,
    timeout: Duration,
    keep: Option<&Path>,
) -> Result<TestRun, RuntimeError> {
    let mode = JobMode::Run {
        index: test.index,
        name: test.name.to_owned(),
        whole,
    };
    let job = Job::new(mode, test.file, test.full_name.to_owned());
    let session = match Session::start(launch, &job, timeout) {
        Ok(s) => s,
        Err(RuntimeError::ProjectConfig(message)) => {
            let stack = String::new();
            let fault = Some(Fault::Load { message, stack });
            return Ok(TestRun {
                fault,
                ..TestRun::default()
            });
        }
        Err(e) => return Err(e),
    };
    let talk = Conversation::new(job.protocol());
    let r = Receiving::new(launch, test.file);
    Ok(drive(launch, session, (talk, r), test, timeout, keep).0)
}

/// Take the session's events into a test run until its process ends;
/// the run, and where the harness was if it ended without a verdict.
fn drive(
    launch: &Launch,
    mut session: Session,
    (mut talk, mut r): (Conversation, Receiving),
    test: TestRef,
    timeout: Duration,
    keep: Option<&Path>,
) -> (TestRun, Option<Unfinished>) {
    while let Some(event) = session.next_event() {
        let step = r.event(event, &mut talk, test.name, keep);
        if matches!(step, Ok(false)) {
            break;
        }
        if let Err(fault) = step {
            r.run.fault = Some(fault);
            session.kill();
            break;
        }
    }
    r.abandon();
    let (exit, output) = session.finish();
    r.clock.finish(&mut r.run.timings);
    let mut run = r.run;
    run.output = output;
    if let Some(fault) = sent_signal(&exit) {
        run.fault = Some(fault);
    }
    if run.fault.is_none() && !talk.finished() {
        run.fault = Some(if exit == Exit::TimedOut {
            Fault::TimedOut(timeout)
        } else {
            ended_early(launch, exit, run.output.clone(), talk.unfinished())
        });
    }
    (run, talk.unfinished())
}

impl Receiving {
    fn new(launch: &Launch, file: &Path) -> Receiving {
        Receiving {
            clock: Clock::new(),
            maps: launch.host.source_maps(),
            file_url: crate::runtime::file_url(file),
            file_name: file
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
            block_line: None,
            run: TestRun::default(),
            incoming: None,
            done: Vec::new(),
            whole_before: None,
            expect_whole: false,
            block_budget: None,
            block_repeat: 0,
            block_warmup: 0,
            block_start: None,
            allocated: None,
            chain: Chain::default(),
            names: Names::default(),
        }
    }

    /// Take one event of the session: `Ok(false)` once the channel closed.
    fn event(
        &mut self,
        event: Event,
        talk: &mut Conversation,
        test: &str,
        keep: Option<&Path>,
    ) -> Result<bool, Fault> {
        match event {
            Event::Closed => Ok(false),
            Event::Garbled(g) => Err(Fault::Protocol(format!("the harness's channel broke: {g}"))),
            Event::Chunk(bytes) => {
                talk.chunk(bytes.len() as u64).map_err(Fault::Protocol)?;
                self.chunk(bytes).map(|()| true)
            }
            Event::Written(written) => {
                talk.chunk(written.len).map_err(Fault::Protocol)?;
                let waited = self.ends_block();
                if let Some(i) = &mut self.incoming {
                    i.written(written, waited).map_err(Fault::Protocol)?;
                }
                Ok(true)
            }
            Event::Message(m) => {
                talk.message(&m).map_err(Fault::Protocol)?;
                self.message(m, test, keep).map(|()| true)
            }
        }
    }

    /// Whether the snapshot arriving is compared as soon as it is parsed:
    /// it is not a block's first (or, with `repeat`, one before its last).
    fn ends_block(&self) -> bool {
        self.block_start.is_none_or(|start| {
            self.done.len().saturating_sub(start) >= self.block_repeat.max(1) as usize
        })
    }

    fn chunk(&mut self, bytes: Vec<u8>) -> Result<(), Fault> {
        match &mut self.incoming {
            Some(i) => i
                .chunk(bytes)
                .map_err(|e| Fault::Internal(format!("cannot keep a snapshot: {e}"))),
            None => Ok(()),
        }
    }

    /// Act on a message the conversation has already checked.
    fn message(&mut self, m: Message, test: &str, keep: Option<&Path>) -> Result<(), Fault> {
        self.clock.message(&m, &mut self.run.timings);
        match m {
            Message::Runtime(info) => self.run.runtime = Some(info),
            Message::WholeBefore => self.expect_whole = true,
            Message::Allocated { bytes } => self.allocated = Some(bytes),
            Message::Snapshot { label, .. } => {
                // A block compares its first snapshot with its last, and
                // with `repeat` each run's with the one before: by tables.
                // Only the last snapshot's graph is needed, for retainer
                // paths and allocation sites.
                if let Some(start) = self.block_start {
                    for earlier in self.done.iter().skip(start) {
                        earlier.drop_graph();
                    }
                }
                let path = keep.map(|d| d.join(format!("{}.heapsnapshot", sanitize(&label))));
                let i = Incoming::start(format!("{test}/{label}"), path)
                    .map_err(|e| Fault::Internal(format!("cannot keep a snapshot: {e}")))?;
                self.incoming = Some(i);
            }
            Message::SnapshotEnd { .. } => {
                if let Some(mut i) = self.incoming.take() {
                    i.end();
                    if std::mem::take(&mut self.expect_whole) {
                        // Compared by its table only.
                        i.drop_graph();
                        self.whole_before = Some(i);
                    } else {
                        self.done.push(i);
                    }
                }
            }
            Message::Block {
                name,
                budget,
                repeat,
                warmup,
                line,
                url,
            } => {
                self.claim(&name, "t.measure", line, url.as_deref())?;
                // The test has blocks: the whole-body snapshot is not needed.
                if let Some(w) = self.whole_before.take() {
                    w.abandon();
                }
                self.block_budget = budget;
                self.block_repeat = repeat;
                self.block_warmup = warmup;
                self.block_line = line.filter(|_| url.as_deref() == Some(self.file_url.as_str()));
                self.block_start = Some(self.done.len());
            }
            Message::Checkpoint {
                name,
                budget,
                line,
                url,
            } => {
                self.claim(&name, "t.checkpoint", line, url.as_deref())?;
                if let Some(w) = self.whole_before.take() {
                    w.abandon();
                }
                let line = line.filter(|_| url.as_deref() == Some(self.file_url.as_str()));
                self.chain.announce(name, budget, line);
            }
            Message::CheckpointEnd { .. } => {
                let snapshot = self.done.pop().ok_or_else(|| {
                    Fault::Protocol("a checkpoint ended without its snapshot".into())
                })?;
                if let Some(step) = self.chain.close(snapshot, &self.maps).transpose() {
                    self.push_block(step)?;
                }
            }
            Message::BlockEnd { name } => {
                self.block_start = None;
                let wanted = self.block_repeat.max(1) as usize + 1;
                let snapshots = self.done.split_off(self.done.len().saturating_sub(wanted));
                let warmup = std::mem::take(&mut self.block_warmup);
                let block = finish_block(name, self.block_budget.take(), snapshots, &self.maps)
                    .map(|(b, parse)| (Block { warmup, ..b }, parse));
                self.push_block(block)?;
            }
            Message::WholeAfter { name } => {
                let (Some(after), Some(before)) = (self.done.pop(), self.whole_before.take())
                else {
                    return Err(Fault::Protocol(
                        "the whole-test block ended without its two snapshots".into(),
                    ));
                };
                let block = finish_block(name, None, vec![before, after], &self.maps);
                self.push_block(block)?;
            }
            Message::Error {
                message,
                stack,
                stray,
            } => {
                self.run.stray = stray;
                self.run.fault = Some(Fault::Threw { message, stack })
            }
            Message::Passed { left_pending } => self.run.left_pending = left_pending,
            Message::LoadError { message, stack } => {
                self.run.fault = Some(Fault::Load { message, stack })
            }
            Message::Fatal { message } => self.run.fault = Some(Fault::Internal(message)),
            Message::NeedsWhole => self.run.needs_whole = true,
            _ => {}
        }
        Ok(())
    }

    /// Take a block's or step's name, given by `call` at `line` of `url`.
    fn claim(
        &mut self,
        name: &str,
        call: &str,
        line: Option<u32>,
        url: Option<&str>,
    ) -> Result<(), Fault> {
        let file = match url {
            Some(u) if u == self.file_url => self.file_name.as_str(),
            Some(u) => u,
            None => "?",
        };
        let at = format!("{file}:{}", line.map_or("?".to_owned(), |l| l.to_string()));
        self.names.claim(name, call, &at).map_err(Fault::Misuse)
    }

    /// Add a finished block to the run, or say why it could not be measured.
    fn push_block(&mut self, block: Result<(Block, Duration), String>) -> Result<(), Fault> {
        let (mut b, parse) = block.map_err(Fault::Internal)?;
        self.clock.block_done(parse, &mut self.run.timings);
        b.allocated_bytes = self.allocated.take();
        let line = self.block_line.take();
        b.line = b.line.or(line);
        self.run.blocks.push(b);
        Ok(())
    }

    /// Drop the snapshots still being received.
    fn abandon(&mut self) {
        let open = self.incoming.take().into_iter();
        for i in open
            .chain(self.done.drain(..))
            .chain(self.whole_before.take())
        {
            i.abandon();
        }
        self.chain.abandon();
    }
}

/// Compare a block's checkpoints: the first against the last, and with
/// `repeat`, each run against the one before.
fn finish_block(
    name: String,
    budget: Option<serde_json::Value>,
    snapshots: Vec<Incoming>,
    maps: &SourceMaps,
) -> Result<(Block, Duration), String> {
    let count = snapshots.len();
    let mut waited = Duration::ZERO;
    let mut parsed = snapshots.into_iter().map(|i| {
        let t = Instant::now();
        let snap = i.wait();
        waited += t.elapsed();
        snap
    });
    let mut first = parsed.next().ok_or("a block without snapshots")??;
    let mut runs = Vec::new();
    // Each snapshot is compared with the one before, then dropped.
    let mut previous: Option<Parsed> = None;
    for next in parsed.by_ref() {
        let snap = next?;
        if count > 2 {
            let base = previous.as_ref().unwrap_or(&first);
            runs.push(compare_tables(base.table.clone(), snap.table.clone()));
        }
        previous = Some(snap);
    }
    let mut after = previous.ok_or("a block without its after snapshot")?;
    let (comparison, kept, allocations) = explained(&mut first, &mut after, false, maps)?;
    let repetition =
        (count > 2).then(|| Repetition::from_runs(runs.iter().map(RunDelta::from).collect()));
    Ok((
        Block {
            budget,
            comparison,
            retainers: kept.retainers,
            grown: kept.grown,
            repetition,
            runs,
            allocations,
            snapshots: first.path.zip(after.path),
            ..Block::named(name)
        },
        waited,
    ))
}

/// The Comparison of two snapshots (a step's two checkpoints when `step`),
/// with retainer paths for the new objects of its top classes and the
/// objects that grew in place, and allocation sites: from the tables of
/// both and the graph of `after` (and of `before` for a step).
pub(crate) fn explained(
    before: &mut Parsed,
    after: &mut Parsed,
    step: bool,
    maps: &SourceMaps,
) -> Result<(Comparison, KeptAlive, Vec<AllocationSite>), String> {
    // The tables become the censuses; a step's "after" is the next step's
    // "before", and keeps its own.
    let before_table = std::mem::take(&mut before.table);
    let after_table = if step {
        after.table.clone()
    } else {
        std::mem::take(&mut after.table)
    };
    let graph = after.graph()?;
    let (comparison, changes, held) = if step {
        let (c, changes, held) =
            compare_step_tables((before.graph()?, before_table), (graph, after_table));
        (c, changes, Some(held))
    } else {
        let (c, changes) = compare_tables_with_new(before_table, after_table);
        (c, changes, None)
    };
    let kept = explain::retainer_paths(graph, &comparison, &changes, held.as_deref());
    let allocations = explain::allocation_sites(graph, &comparison, &changes.new, maps);
    Ok((comparison, kept, allocations))
}

/// A file or folder name for `label`: unsafe characters become `_`, long
/// labels are cut, and a label that needed either gets a short hash of
/// itself, so that `a b` and `a_b` never share a name.
pub fn sanitize(label: &str) -> String {
    let safe: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe == label && !label.is_empty() && label != "." && label != ".." && safe.len() <= MAX_NAME
    {
        return safe;
    }
    // FNV-1a: stable across runs and platforms.
    let hash = label.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let short: String = safe.chars().take(MAX_NAME).collect();
    format!("{short}-{hash:08x}")
}

/// The longest file name `sanitize` makes, before its hash: well under the
/// 255 bytes file systems allow.
const MAX_NAME: usize = 100;

#[cfg(test)]
mod tests {
    use super::{MAX_NAME, sanitize};

    #[test]
    fn sanitized_names_never_collide() {
        assert_eq!(sanitize("b1-before"), "b1-before");
        assert_eq!(sanitize("widgets.memtest.js"), "widgets.memtest.js");
        let spaced = sanitize("keeps 1000 widgets");
        assert!(spaced.starts_with("keeps_1000_widgets-"), "{spaced}");
        assert_ne!(sanitize("a b"), sanitize("a_b"));
        assert_ne!(sanitize("a b"), sanitize("a/b"));
        assert_ne!(sanitize(".."), "..");
        assert_eq!(sanitize("a b"), sanitize("a b"));
        let long = "x".repeat(10_000);
        assert_eq!(sanitize(&long).len(), MAX_NAME + 9);
        assert_ne!(sanitize(&long), sanitize(&"x".repeat(10_001)));
    }
}
