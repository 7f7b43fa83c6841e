//! A snapshot file read on two threads: while the parser reads `nodes`, a
//! second reader of the same file finds where `edges` starts and reads it.
//! The two arrays are most of a file and cost about the same to read, so
//! the parse of a large file takes little more than half as long when a
//! core is free. A stream (a snapshot arriving from V8) is read on one.
//!
//! The second reader's work is only taken when it is certainly what the
//! parser would have read: it started where the parser's `edges` starts,
//! every target is the start of a node, and anything it could not read is
//! read again by the parser, which then reports it as it always has.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use super::Snapshot;
use super::parse::{EdgeLayout, Edges, Result, edge_columns, parse_source};
use super::reader::Parser;

/// Parse the heap snapshot in `file`, its edges on a second thread. Gives
/// what [`super::parse`] gives on the same bytes.
pub fn parse_file(file: File) -> Result<Snapshot> {
    parse_source(FileSource(file))
}

/// Parse the `len` bytes of `file` from `start` (a heap file's snapshot),
/// its edges on a second thread when `ahead`. Offsets in errors count from
/// `start`.
pub fn parse_range(file: &File, start: u64, len: u64, ahead: bool) -> Result<Snapshot> {
    let mut range = RangeReader::new(file.try_clone()?, start, len);
    range.alone = !ahead;
    parse_source(range)
}

/// What the parser reads: a stream, or a file that a second reader can
/// open at any offset.
pub(super) trait Source: Read {
    /// Another reader of the same bytes, placed `at` bytes in.
    fn fork(&self, at: u64) -> Option<Box<dyn Read + Send>>;
    /// Place this reader `at` bytes in; false when it cannot.
    fn jump(&mut self, at: u64) -> bool;
    /// How many bytes there are, where `strings` may be read ahead (see
    /// `tail`).
    fn len(&self) -> Option<u64>;
}

/// A stream, read once front to back.
pub(super) struct Stream<R>(pub R);

impl<R: Read> Read for Stream<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> Source for Stream<R> {
    fn fork(&self, _: u64) -> Option<Box<dyn Read + Send>> {
        None
    }
    fn jump(&mut self, _: u64) -> bool {
        false
    }
    fn len(&self) -> Option<u64> {
        None
    }
}

pub(super) struct FileSource(pub File);

impl Read for FileSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Source for FileSource {
    fn fork(&self, at: u64) -> Option<Box<dyn Read + Send>> {
        // A pipe (`diff <(zcat a.gz) b`) or a device opened twice would
        // share its bytes between the readers.
        if !cfg!(unix) || !self.0.metadata().is_ok_and(|m| m.is_file()) {
            return None;
        }
        // The same open file, read at offsets of its own (to its end): not
        // the path again, which may name another file by now.
        let file = self.0.try_clone().ok()?;
        Some(Box::new(RangeReader::new(file, at, u64::MAX)))
    }
    fn jump(&mut self, at: u64) -> bool {
        self.0.seek(SeekFrom::Start(at)).is_ok()
    }
    fn len(&self) -> Option<u64> {
        Some(self.0.metadata().ok()?.len())
    }
}

/// `len` bytes of a file from `start` (to its end when `len` reaches past
/// it), by positioned reads: the file's own offset, which its other
/// descriptors share (the parser's reader among them), is never used.
pub struct RangeReader {
    file: File,
    start: u64,
    at: u64,
    end: u64,
    /// Read by the parser alone, on one thread.
    alone: bool,
}

impl RangeReader {
    pub fn new(file: File, start: u64, len: u64) -> RangeReader {
        RangeReader {
            file,
            start,
            at: start,
            end: start.saturating_add(len),
            alone: false,
        }
    }
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = usize::try_from(self.end - self.at).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let n = read_at(&self.file, &mut buf[..want], self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

impl Source for RangeReader {
    fn fork(&self, at: u64) -> Option<Box<dyn Read + Send>> {
        if self.alone {
            return None;
        }
        let file = self.file.try_clone().ok()?;
        let start = self.start.checked_add(at)?;
        Some(Box::new(RangeReader::new(
            file,
            start,
            self.end.checked_sub(start)?,
        )))
    }
    fn jump(&mut self, at: u64) -> bool {
        match self.start.checked_add(at) {
            Some(to) if to <= self.end => {
                self.at = to;
                true
            }
            _ => false,
        }
    }
    /// None: a heap file's range is parsed in a run, where holding all of
    /// `strings` at once (see `tail`) would raise the runner's peak memory
    /// for the tens of milliseconds it saves on a snapshot V8 took seconds
    /// to take.
    fn len(&self) -> Option<u64> {
        None
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, at)
}

/// Elsewhere a positioned read may move the shared offset: a file is read
/// by one reader (see `fork`).
#[cfg(not(unix))]
fn read_at(_: &File, _: &mut [u8], _: u64) -> std::io::Result<usize> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Edges read by the second reader, and where it found them.
pub(super) struct Read2 {
    pub edges: Edges,
    /// Offset of the `edges` value, just past its `:`.
    pub value_at: u64,
    /// Offset just past the array's `]`.
    pub end: u64,
    /// The largest target node; the parser checks it against its nodes.
    pub max_node: u32,
}

/// The second reader, started at the `[` of `nodes`. Dropped unjoined
/// (the parser failed before `edges`), it stops at its next read.
pub(super) struct Ahead {
    thread: Option<JoinHandle<Option<Read2>>>,
    stop: Arc<AtomicBool>,
}

impl Ahead {
    pub fn start(reader: Box<dyn Read + Send>, at: u64, layout: EdgeLayout) -> Ahead {
        let stop = Arc::new(AtomicBool::new(false));
        let reader = Stoppable {
            reader,
            stop: stop.clone(),
        };
        let thread =
            std::thread::spawn(move || read_ahead(Parser::at(Box::new(reader), at), layout));
        Ahead {
            thread: Some(thread),
            stop,
        }
    }

    /// What the second reader read, if it read all of `edges`.
    pub fn join(mut self) -> Option<Read2> {
        self.thread.take()?.join().ok().flatten()
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}

/// A reader that fails once `stop` is set.
struct Stoppable {
    reader: Box<dyn Read + Send>,
    stop: Arc<AtomicBool>,
}

impl Read for Stoppable {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("the parser stopped"));
        }
        self.reader.read(buf)
    }
}

/// Pass `nodes` (numbers only: its first `]` ends it), then read `edges`
/// if it comes next. None where anything is not as expected: the parser
/// reads it itself.
fn read_ahead(mut p: Parser<Box<dyn Read + Send>>, l: EdgeLayout) -> Option<Read2> {
    if !p.skip_past(b']').ok()? || p.next_non_ws("").ok()? != b',' {
        return None;
    }
    if p.string("").ok()? != "edges" || p.next_non_ws("").ok()? != b':' {
        return None;
    }
    let value_at = p.offset();
    let read = edge_columns(&mut p, &l, None).ok()?;
    read.bad.is_none().then_some(Read2 {
        edges: read.edges,
        value_at,
        end: p.offset(),
        max_node: read.max_node,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes of 5 numbers; edges of type, name and target.
    const LAYOUT: EdgeLayout = EdgeLayout {
        node_width: 5,
        edge_width: 3,
        e_type: 0,
        e_name: 1,
        e_to: 2,
        hint: 0,
    };

    fn read(text: &str) -> Option<Read2> {
        let at = text.find(r#""nodes":"#).unwrap() as u64 + 8;
        let rest = std::io::Cursor::new(text.as_bytes()[at as usize..].to_vec());
        read_ahead(Parser::at(Box::new(rest), at), LAYOUT)
    }

    #[test]
    fn the_second_reader_passes_nodes_and_reads_edges() {
        let text = r#"{"nodes": [1,2,3,4,5,
6,7,8,9,10] , "edges" :[1,2,5, 3,4,0],"strings":[]}"#;
        let r = read(text).expect("edges read ahead");
        assert_eq!(r.edges.edge_type, [1, 3]);
        assert_eq!(r.edges.edge_name, [2, 4]);
        assert_eq!(r.edges.edge_to, [1, 0]);
        assert_eq!(r.max_node, 1);
        assert_eq!(r.value_at, text.find(":[1,2,5").unwrap() as u64 + 1);
        assert_eq!(r.end, text.find(r#","strings""#).unwrap() as u64);
    }

    /// The second reader reads the same open file from its own offset,
    /// and leaves the parser's where it was.
    #[cfg(unix)]
    #[test]
    fn a_fork_reads_the_same_file_at_its_own_offset() {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, b"0123456789").unwrap();
        file.seek(SeekFrom::Start(2)).unwrap();
        let mut source = FileSource(file);
        let mut fork = source.fork(6).expect("a regular file forks");
        let mut text = String::new();
        fork.read_to_string(&mut text).unwrap();
        assert_eq!(text, "6789");
        let mut rest = String::new();
        source.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "23456789");
    }

    /// A reader that never ends, as a file still being written might be:
    /// dropping the second reader unjoined (the parser failed) stops it.
    #[test]
    fn a_dropped_second_reader_stops() {
        struct Endless(Arc<AtomicBool>);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.0.store(true, Ordering::Relaxed);
                buf.fill(b'1');
                Ok(buf.len())
            }
        }
        let reading = Arc::new(AtomicBool::new(false));
        let ahead = Ahead::start(Box::new(Endless(reading.clone())), 0, LAYOUT);
        while !reading.load(Ordering::Relaxed) {
            std::thread::yield_now();
        }
        drop(ahead);
        // The thread ends, and with it the reader, which holds the flag.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while Arc::strong_count(&reading) > 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the second reader kept reading"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn anything_unexpected_is_left_to_the_parser() {
        for text in [
            r#"{"nodes":[1,2,3,4,5],"edges":[1,2,6],"strings":[]}"#,
            r#"{"nodes":[1,2,3,4,5],"edges":[1,2],"strings":[]}"#,
            r#"{"nodes":[1,2,3,4,5],"edges":[1,2,-5],"strings":[]}"#,
            r#"{"nodes":[1,2,3,4,5],"edgez":[1,2,5],"strings":[]}"#,
            r#"{"nodes":[1,2,3,4,5],"edges":[1,2,5"#,
            r#"{"nodes":[1,2,3,4,5"#,
        ] {
            assert!(read(text).is_none(), "{text}");
        }
    }
}
