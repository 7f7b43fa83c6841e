//! The harness's channel: a FIFO that only the harness opens, so that
//! nothing a test prints (from its main thread, a worker or native code)
//! can garble or forge what the harness says. Frames on it are one kind
//! byte (`J` a JSON message, `C` a piece of a heap snapshot), a 32-bit
//! little-endian length and the payload; lengths are checked against
//! [`Limits`] before anything is allocated.
//!
//! Beside each FIFO, its heap file ([`HeapFile`]): a Deno or Node harness
//! writes each snapshot's text there at page-cache speed, each where the
//! last one ended, and says how many bytes it wrote, instead of sending
//! them through the FIFO, where the runner's one-thread stream parse set
//! the pace. The runner made the file and reads it through the descriptor
//! it opened then, never by its name, which the test could replace.

use std::ffi::CString;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The most a frame may carry, by kind.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub message: usize,
    pub chunk: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // The harness sends chunks of 1 MiB and messages of a few KiB (a
        // file's test list can be longer).
        Limits {
            message: 16 << 20,
            chunk: 4 << 20,
        }
    }
}

/// One unit read from the channel.
#[derive(Debug, PartialEq)]
pub enum Frame {
    Message(Vec<u8>),
    Chunk(Vec<u8>),
}

/// Why the channel cannot be read any further.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum FrameError {
    #[error("a frame of unknown kind {0:#04x}")]
    Kind(u8),
    #[error("a {kind} frame of {len} bytes, over the limit of {limit}")]
    TooLong {
        kind: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("the channel ended inside a frame ({got} of {want} bytes)")]
    Truncated { got: usize, want: usize },
    #[error("reading the channel failed: {0}")]
    Io(String),
}

/// Reads frames from the channel, one at a time.
pub struct FrameReader<R> {
    inner: R,
    limits: Limits,
}

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R, limits: Limits) -> Self {
        FrameReader { inner, limits }
    }

    /// The next frame; `Ok(None)` at a clean end between frames.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let mut header = [0u8; 5];
        let got = read_full(&mut self.inner, &mut header)?;
        if got == 0 {
            return Ok(None);
        }
        if got < header.len() {
            return Err(FrameError::Truncated {
                got,
                want: header.len(),
            });
        }
        let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let (kind, limit) = match header[0] {
            b'J' => ("message", self.limits.message),
            b'C' => ("chunk", self.limits.chunk),
            other => return Err(FrameError::Kind(other)),
        };
        if len > limit {
            return Err(FrameError::TooLong { kind, len, limit });
        }
        let mut payload = vec![0u8; len];
        let got = read_full(&mut self.inner, &mut payload)?;
        if got < len {
            return Err(FrameError::Truncated { got, want: len });
        }
        Ok(Some(if header[0] == b'J' {
            Frame::Message(payload)
        } else {
            Frame::Chunk(payload)
        }))
    }
}

/// Fill `buf` as far as the reader goes; the count read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, FrameError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e.to_string())),
        }
    }
    Ok(got)
}

/// A private folder (mode 0700) for this run's channels, removed on drop.
#[derive(Debug)]
pub struct ChannelDir {
    path: PathBuf,
    next: AtomicU64,
}

impl ChannelDir {
    pub fn create() -> std::io::Result<ChannelDir> {
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = base.join(format!("memcheck-{}-{nanos:08x}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(ChannelDir {
            path,
            next: AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new channel: its path (to give the harness), the end we read, a
    /// write end we hold so that reading never sees an end of file before
    /// the harness has opened its own (drop it once the process is gone),
    /// and its heap file, at [`heap_path`] of the channel's.
    pub fn open(&self) -> std::io::Result<Opened> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.path.join(format!("ch{n}"));
        let heap = HeapFile::create(&heap_path(&path))?;
        let c = CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
        // SAFETY: a valid NUL-terminated path; mkfifo has no other inputs.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // Opening the read end first, without blocking, lets the write end
        // open at once too.
        let read = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)?;
        let hold = std::fs::OpenOptions::new().write(true).open(&path)?;
        set_blocking(&read)?;
        widen(&read);
        Ok(Opened {
            path,
            read,
            hold,
            heap,
        })
    }

    /// A FIFO at `path` (in this folder) for the runner's command to a
    /// harness that serves (lists, then waits), opened for reading and
    /// writing: the harness's open never blocks, and what the runner writes
    /// stays readable once it closes its end.
    pub fn open_commands(&self, path: &Path) -> std::io::Result<File> {
        let c = CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
        // SAFETY: a valid NUL-terminated path; mkfifo has no other inputs.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
    }
}

/// A channel just opened (see [`ChannelDir::open`]).
pub struct Opened {
    pub path: PathBuf,
    pub read: File,
    pub hold: File,
    pub heap: HeapFile,
}

/// Where the harness of the channel at `channel` writes its snapshots.
pub fn heap_path(channel: &Path) -> PathBuf {
    let mut name = channel.as_os_str().to_owned();
    name.push(".heap");
    PathBuf::from(name)
}

/// A channel's heap file, as the runner opened it when it made it: the
/// harness writes each snapshot where the last one ended, and
/// [`HeapFile::take`] hands out the bytes of the next one.
#[derive(Debug)]
pub struct HeapFile {
    file: File,
    next: u64,
}

/// One snapshot's bytes in a heap file: `len` bytes from `start`.
#[derive(Debug)]
pub struct Written {
    pub file: File,
    pub start: u64,
    pub len: u64,
}

impl HeapFile {
    /// Make the file (it must not exist: nothing else may have put it
    /// there) and open it for the runner, which reads it and frees what it
    /// has read.
    fn create(path: &Path) -> std::io::Result<HeapFile> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        Ok(HeapFile { file, next: 0 })
    }

    /// The next `len` bytes the harness wrote, read through a descriptor
    /// of their own.
    pub fn take(&mut self, len: u64) -> std::io::Result<Written> {
        let start = self.next;
        self.next = start
            .checked_add(len)
            .ok_or_else(|| std::io::Error::other("a snapshot's length overflows"))?;
        Ok(Written {
            file: self.file.try_clone()?,
            start,
            len,
        })
    }
}

impl Written {
    /// Give the file system back the space of these bytes once they are
    /// read (a test's snapshots would otherwise stay on disk until its
    /// process ends). Where holes cannot be punched, they stay until then.
    pub fn free(&self) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let (Ok(start), Ok(len)) = (i64::try_from(self.start), i64::try_from(self.len)) else {
                return;
            };
            // SAFETY: fallocate on a descriptor we own; a failure changes
            // nothing.
            unsafe {
                libc::fallocate(
                    self.file.as_raw_fd(),
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    start,
                    len,
                )
            };
        }
    }
}

impl Drop for ChannelDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A larger pipe buffer (Linux): a snapshot then streams in fewer, larger
/// writes. The default size serves when the system refuses.
fn widen(file: &File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: fcntl on a descriptor we own; failure leaves it as it was.
        unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

fn set_blocking(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn read_all(bytes: &[u8], limits: Limits) -> (Vec<Frame>, Option<FrameError>) {
        let mut r = FrameReader::new(bytes, limits);
        let mut frames = Vec::new();
        loop {
            match r.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => return (frames, None),
                Err(e) => return (frames, Some(e)),
            }
        }
    }

    #[test]
    fn frames_round_trip() {
        let mut input = frame(b'J', br#"{"type":"passed"}"#);
        input.extend(frame(b'C', b"ab"));
        input.extend(frame(b'C', b""));
        let (frames, err) = read_all(&input, Limits::default());
        assert_eq!(err, None);
        assert_eq!(
            frames,
            [
                Frame::Message(br#"{"type":"passed"}"#.to_vec()),
                Frame::Chunk(b"ab".to_vec()),
                Frame::Chunk(Vec::new())
            ]
        );
    }

    #[test]
    fn a_huge_length_is_refused_before_allocating() {
        let mut input = vec![b'C'];
        input.extend_from_slice(&u32::MAX.to_le_bytes());
        let (_, err) = read_all(&input, Limits::default());
        assert_eq!(
            err,
            Some(FrameError::TooLong {
                kind: "chunk",
                len: u32::MAX as usize,
                limit: 4 << 20
            })
        );
    }

    #[test]
    fn unknown_kinds_and_cut_frames_are_errors() {
        let (_, err) = read_all(b"X\0\0\0\0", Limits::default());
        assert_eq!(err, Some(FrameError::Kind(b'X')));
        let mut cut = frame(b'J', b"12345");
        cut.truncate(7);
        let (_, err) = read_all(&cut, Limits::default());
        assert_eq!(err, Some(FrameError::Truncated { got: 2, want: 5 }));
        let (_, err) = read_all(b"J\x01", Limits::default());
        assert_eq!(err, Some(FrameError::Truncated { got: 2, want: 5 }));
    }

    /// Random bytes never panic the reader, never make it allocate past
    /// its limits, and always end. A fuzz run:
    /// `MEMCHECK_FUZZ_ITERS=10000000 cargo test --release --lib random_input`.
    #[test]
    fn random_input_never_panics() {
        let limits = Limits {
            message: 64,
            chunk: 64,
        };
        let mut next = crate::fuzz::rng();
        for _ in 0..crate::fuzz::iterations(20_000) {
            let len = (next() % 200) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Bias towards valid kinds so that payload paths are exercised.
            if let Some(b) = bytes.first_mut() {
                *b = [b'J', b'C', *b][(*b % 3) as usize];
            }
            let (frames, _) = read_all(&bytes, limits);
            for f in frames {
                let (Frame::Message(p) | Frame::Chunk(p)) = f;
                assert!(p.len() <= 64);
            }
        }
    }

    #[test]
    fn a_command_written_before_the_reader_opens_is_read_whole() {
        use std::io::Write;
        let dir = ChannelDir::create().unwrap();
        let path = dir.path().join("cmd0");
        let mut commands = dir.open_commands(&path).unwrap();
        let mut reader = std::fs::File::open(&path).unwrap();
        commands.write_all(b"run 3\n").unwrap();
        drop(commands);
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, "run 3\n");
    }

    #[test]
    fn a_fifo_reads_what_is_written_and_ends_when_writers_close() {
        use std::io::Write;
        let dir = ChannelDir::create().unwrap();
        let Opened {
            path, read, hold, ..
        } = dir.open().unwrap();
        let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        w.write_all(&frame(b'J', b"{}")).unwrap();
        drop(w);
        drop(hold);
        let mut r = FrameReader::new(read, Limits::default());
        assert_eq!(
            r.next_frame().unwrap(),
            Some(Frame::Message(b"{}".to_vec()))
        );
        assert_eq!(r.next_frame().unwrap(), None);
        let kept = dir.path().to_path_buf();
        drop(dir);
        assert!(!kept.exists());
    }

    fn read_range(w: &Written) -> Vec<u8> {
        let file = w.file.try_clone().unwrap();
        let mut out = Vec::new();
        crate::snapshot::RangeReader::new(file, w.start, w.len)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// The harness appends snapshot after snapshot; the runner reads each
    /// by its range, through the descriptor it opened when it made the
    /// file, whatever the name points to by then, and frees what it read.
    #[test]
    fn a_heap_file_is_read_by_ranges_through_the_runners_own_descriptor() {
        use std::io::Write;
        let dir = ChannelDir::create().unwrap();
        let Opened { path, mut heap, .. } = dir.open().unwrap();
        let named = heap_path(&path);
        let mut harness = std::fs::OpenOptions::new()
            .write(true)
            .open(&named)
            .unwrap();
        harness.write_all(b"firstsecond!").unwrap();
        let first = heap.take(5).unwrap();
        let second = heap.take(7).unwrap();
        assert_eq!((first.start, first.len), (0, 5));
        assert_eq!((second.start, second.len), (5, 7));
        std::fs::remove_file(&named).unwrap();
        std::fs::write(&named, "forged by the test").unwrap();
        assert_eq!(read_range(&first), b"first");
        assert_eq!(read_range(&second), b"second!");
        first.free();
        assert_eq!(read_range(&first), [0; 5]);
        assert_eq!(read_range(&second), b"second!");
        assert!(
            heap.take(u64::MAX).is_err(),
            "an offset past u64 is refused"
        );
    }

    /// A heap file the runner did not make (a link planted at its name)
    /// is never opened: the channel fails instead.
    #[test]
    fn a_planted_heap_file_is_refused() {
        let dir = ChannelDir::create().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "not a snapshot").unwrap();
        std::os::unix::fs::symlink(&secret, dir.path().join("ch0.heap")).unwrap();
        let err = dir.open().err().expect("a planted heap file is refused");
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&secret).unwrap(), b"not a snapshot");
    }
}
