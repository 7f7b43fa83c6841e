//! One snapshot as it arrives from the harness, parsed on threads of its
//! own while the test goes on: streamed in chunks (a browser page), or
//! written whole to the channel's heap file (Deno and Node), which is
//! parsed once its end is announced (on two threads when the test waits
//! for it). Its census table is all a Comparison needs; its graph is kept
//! only while retainer paths, allocation sites or a step's rule may need
//! it.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::diff::Table;
use crate::runtime::Written;
use crate::snapshot::{ParseError, Snapshot, parse, parse_range};

/// A snapshot being received and parsed.
pub(crate) struct Incoming {
    label: String,
    /// Where streamed chunks go, until the snapshot ends.
    tx: Option<SyncSender<Vec<u8>>>,
    cancel: Arc<AtomicBool>,
    /// The parser, once the first chunk or the written bytes came.
    /// (Its errors are worded for the user whole.)
    parsed: Option<JoinHandle<Result<Table, String>>>,
    graph: Arc<Mutex<Graph>>,
    /// `--snapshots`: where the snapshot is kept, and the file while
    /// chunks are written to it.
    keep: Option<(PathBuf, Option<std::fs::File>)>,
}

/// A parsed snapshot: its census table (all a Comparison needs), and its
/// graph while retainer paths, allocation sites or a step's rule may need
/// it.
pub(crate) struct Parsed {
    pub table: Table,
    pub graph: Option<Snapshot>,
    pub path: Option<PathBuf>,
}

impl Parsed {
    /// The graph, which a snapshot that ends a block or a step keeps.
    pub(super) fn graph(&self) -> Result<&Snapshot, String> {
        self.graph
            .as_ref()
            .ok_or_else(|| "a snapshot's graph was dropped before it was used".to_owned())
    }
}

/// Where the parser leaves a snapshot's graph, unless it is known by then
/// that nothing will need it.
struct Graph {
    wanted: bool,
    snapshot: Option<Snapshot>,
}

impl Incoming {
    pub(super) fn start(label: String, keep: Option<PathBuf>) -> std::io::Result<Incoming> {
        let keep = match keep {
            Some(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let f = std::fs::File::create(&path)?;
                Some((path, Some(f)))
            }
            None => None,
        };
        Ok(Incoming {
            label,
            tx: None,
            cancel: Arc::new(AtomicBool::new(false)),
            parsed: None,
            graph: Arc::new(Mutex::new(Graph {
                wanted: true,
                snapshot: None,
            })),
            keep,
        })
    }

    /// Parse on a thread of its own what `read` gives, then make its table
    /// and keep its graph if it is still wanted.
    fn spawn(&mut self, read: impl FnOnce() -> Result<Snapshot, String> + Send + 'static) {
        let slot = self.graph.clone();
        let cancelled = self.cancel.clone();
        self.parsed = Some(std::thread::spawn(move || {
            let snap = read()?;
            if cancelled.load(Ordering::Relaxed) {
                return Ok(Table::default());
            }
            let table = Table::of(&snap);
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            if slot.wanted {
                slot.snapshot = Some(snap);
            } else {
                drop(slot);
                drop(snap);
            }
            Ok(table)
        }));
    }

    /// A streamed piece of the snapshot.
    pub(super) fn chunk(&mut self, bytes: Vec<u8>) -> std::io::Result<()> {
        if let Some((_, Some(f))) = &mut self.keep {
            f.write_all(&bytes)?;
        }
        if self.parsed.is_none() {
            // Bounded: a parser that falls behind slows the harness down
            // rather than filling the runner's memory.
            let (tx, rx) = sync_channel(8);
            let reader = ChannelReader {
                rx,
                buf: Vec::new(),
                pos: 0,
                cancel: self.cancel.clone(),
            };
            let label = self.label.clone();
            self.spawn(move || parse(reader).map_err(|e| unreadable(&label, e)));
            self.tx = Some(tx);
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(bytes);
        }
        Ok(())
    }

    /// The whole snapshot, written to the heap file; `waited` when the
    /// test waits for it (it ends a block): parsed on two threads then,
    /// and on one otherwise, leaving the other core to V8, which is taking
    /// the next snapshot meanwhile.
    pub(super) fn written(&mut self, written: Written, waited: bool) -> Result<(), String> {
        if self.parsed.is_some() {
            return Err(format!(
                "snapshot {:?} came both in chunks and written to its file",
                self.label
            ));
        }
        let keep = self.keep.as_mut().and_then(|(_, f)| f.take());
        let label = self.label.clone();
        self.spawn(move || {
            let kept = keep.map(|file| copy_out(&written, file));
            let snap = parse_range(&written.file, written.start, written.len, waited);
            written.free();
            if let Some(Err(e)) = kept {
                return Err(format!("cannot keep a snapshot: {e}"));
            }
            snap.map_err(|e| unreadable(&label, e))
        });
        Ok(())
    }

    /// The snapshot's end: nothing more comes.
    pub(super) fn end(&mut self) {
        self.tx = None;
        if self.parsed.is_none() {
            // Nothing came: the parser says what is missing.
            let label = self.label.clone();
            self.spawn(move || parse(std::io::empty()).map_err(|e| unreadable(&label, e)));
        }
    }

    /// Nothing will need this snapshot's graph, only its table: free it
    /// now, or as soon as it is parsed.
    pub(crate) fn drop_graph(&self) {
        let snapshot = {
            let mut slot = self.graph.lock().unwrap_or_else(|e| e.into_inner());
            slot.wanted = false;
            slot.snapshot.take()
        };
        if let Some(snapshot) = snapshot {
            drop(snapshot);
            give_back_memory();
        }
    }

    pub(crate) fn abandon(self) {
        self.cancel.store(true, Ordering::Relaxed);
        self.drop_graph();
        drop(self.tx);
        if let Some((path, file)) = self.keep {
            drop(file);
            let _ = std::fs::remove_file(path);
        }
    }

    pub(crate) fn wait(self) -> Result<Parsed, String> {
        let label = self.label;
        let parsed = self
            .parsed
            .ok_or_else(|| format!("snapshot {label} never ended"))?;
        let table = parsed
            .join()
            .map_err(|_| format!("the parser of snapshot {label} panicked"))??;
        let graph = self
            .graph
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .snapshot
            .take();
        Ok(Parsed {
            table,
            graph,
            path: self.keep.map(|(p, _)| p),
        })
    }
}

fn unreadable(label: &str, e: ParseError) -> String {
    format!("snapshot {label} is unreadable: {e}")
}

/// Copy the written bytes into the file that keeps them (`--snapshots`).
fn copy_out(written: &Written, mut to: std::fs::File) -> std::io::Result<()> {
    let file = written.file.try_clone()?;
    let mut from = crate::snapshot::RangeReader::new(file, written.start, written.len);
    std::io::copy(&mut from, &mut to)?;
    to.flush()?;
    Ok(())
}

/// Hand freed memory back to the system: a dropped graph's columns below
/// the allocator's mmap threshold stay in its arenas otherwise, and count
/// in the runner's peak while the next snapshot is parsed.
fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
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
