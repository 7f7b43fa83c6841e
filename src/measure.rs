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

use crate::diff::{Comparison, compare, compare_with_new};
use crate::explain::{self, AllocationSite, RetainerPath};
use crate::repeat::{Repetition, RunDelta};
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
                let block = finish_block(name, block_budget.take(), snapshots);
                if !push_block(&mut run, block, allocated.take()) {
                    break;
                }
            }
            Event::Message(Message::WholeAfter { name }) => {
                let (Some(after), Some(before)) = (done.pop(), whole_before.take()) else {
                    run.fault = Some(Fault::Internal(
                        "the whole-test block ended without its two snapshots".into(),
                    ));
                    break;
                };
                let block = finish_block(name, None, vec![before, after]);
                if !push_block(&mut run, block, allocated.take()) {
                    break;
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
    if exit == Exit::TimedOut && !finished {
        run.fault = Some(Fault::TimedOut(timeout));
    } else if !finished && run.fault.is_none() {
        run.fault = Some(Fault::Crashed {
            exit,
            output: run.output.clone(),
        });
    }
    Ok(run)
}

/// Add a finished block to the run, or record why it could not be
/// measured; false when the run cannot go on.
fn push_block(run: &mut TestRun, block: Result<Block, String>, allocated: Option<u64>) -> bool {
    match block {
        Ok(mut b) => {
            b.allocated_bytes = allocated;
            run.blocks.push(b);
            true
        }
        Err(e) => {
            run.fault = Some(Fault::Internal(e));
            false
        }
    }
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
    let retainers = explain::retainer_paths(&after, &comparison, &new);
    let allocations = explain::allocation_sites(&after, &comparison, &new);
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

/// A file or folder name for `label`: unsafe characters become `_`, and a
/// label that needed that gets a short hash of itself, so that `a b` and
/// `a_b` never share a name.
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
    if safe == label && !label.is_empty() && label != "." && label != ".." {
        return safe;
    }
    // FNV-1a: stable across runs and platforms.
    let hash = label.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{safe}-{hash:08x}")
}

#[cfg(test)]
mod tests {
    use super::sanitize;

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
    }
}
