//! One child process of the runtime: started in its own process group with
//! a channel of its own, its frames read by one thread and its output
//! (stdout and stderr, one pipe) by another, waited for with a deadline,
//! and killed with its group. While it runs it is registered with
//! [`crate::interrupt`], so Ctrl-C stops it too.

use std::io::PipeReader;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::channel::{Frame, FrameReader, HeapFile, Limits, Opened, Written};
use super::output::Captured;
use super::protocol::Message;
use super::{Job, JobMode, Launch, RuntimeError};
use crate::interrupt;

/// What the reader thread hands over.
#[derive(Debug)]
pub enum Event {
    Message(Message),
    Chunk(Vec<u8>),
    /// The bytes of the snapshot that the next message (its end) closes,
    /// written to the channel's heap file.
    Written(Written),
    /// The channel broke: a frame or message that could not be read. Nothing
    /// after it can be trusted.
    Garbled(String),
    /// The channel closed: the process and everything holding it are gone.
    Closed,
}

/// How the process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Killed by us after the deadline.
    TimedOut,
    /// A page that crashed, or whose browser ended, in words.
    Crashed(String),
    /// Killed by us because it (or a process of its group) sent this
    /// signal to the runner.
    SentSignal(i32),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => write!(f, "signal {s}{}", signal_name(*s)),
            Exit::TimedOut => write!(f, "timeout"),
            Exit::Crashed(why) => write!(f, "{why}"),
            Exit::SentSignal(s) => write!(
                f,
                "SIGKILL, after it sent {} to the runner",
                interrupt::name(*s)
            ),
        }
    }
}

fn signal_name(s: i32) -> &'static str {
    match s {
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGBUS => " (SIGBUS)",
        libc::SIGILL => " (SIGILL)",
        libc::SIGTRAP => " (SIGTRAP)",
        _ => "",
    }
}

/// A running job: a child process of the runtime, or a page of the
/// browser (see [`super::chromium`]).
pub enum Session {
    Process(ProcessSession),
    Page(Box<super::chromium::PageSession>),
}

impl Session {
    /// Start the harness for `job`, with a deadline, as its engine's host
    /// starts it.
    pub fn start(launch: &Launch, job: &Job, timeout: Duration) -> Result<Session, RuntimeError> {
        launch.host.start(launch, job, timeout)
    }

    /// The next event, or `None` once the deadline has passed.
    pub fn next_event(&mut self) -> Option<Event> {
        match self {
            Session::Process(p) => p.next_event(),
            Session::Page(p) => p.next_event(),
        }
    }

    /// Stop the job now.
    pub fn kill(&mut self) {
        match self {
            Session::Process(p) => p.kill(),
            Session::Page(p) => p.kill(),
        }
    }

    /// Tell a job that serves (lists, then waits) what to run, in one
    /// line (see `harness/core.js`); the job's deadline is `timeout` from
    /// now.
    pub fn command(&mut self, text: &str, timeout: Duration) -> Result<(), String> {
        self.restart_clock(timeout);
        match self {
            Session::Process(p) => p.command(text),
            Session::Page(p) => p.command(text),
        }
    }

    /// A new deadline, `timeout` from now.
    pub fn restart_clock(&mut self, timeout: Duration) {
        match self {
            Session::Process(p) => p.restart_clock(timeout),
            Session::Page(p) => p.restart_clock(timeout),
        }
    }

    /// How the job ended, with what it printed.
    pub fn finish(self) -> (Exit, String) {
        let (exit, segments) = self.finish_segments();
        (exit, segments.concat())
    }

    /// [`Session::finish`], with the output split where the harness marked
    /// the start of each test (the first part came before any).
    pub fn finish_segments(self) -> (Exit, Vec<String>) {
        match self {
            Session::Process(p) => p.finish_segments(),
            Session::Page(p) => p.finish_segments(),
        }
    }
}

/// A running harness process.
pub struct ProcessSession {
    pgid: i32,
    events: Receiver<Event>,
    waiter: Option<JoinHandle<Option<ExitStatus>>>,
    output: Option<JoinHandle<Vec<Captured>>>,
    deadline: Instant,
    timed_out: bool,
    registered: interrupt::Registered,
    cleanup: Vec<std::path::PathBuf>,
    /// A serving job's command FIFO, until the command is written.
    commands: Option<std::fs::File>,
}

impl ProcessSession {
    /// Start the harness for `job` in a child process, with a deadline.
    pub fn start(
        launch: &Launch,
        job: &Job,
        timeout: Duration,
    ) -> Result<ProcessSession, RuntimeError> {
        let Opened {
            path: channel,
            read,
            hold,
            heap,
        } = launch.run_dir.open().map_err(RuntimeError::Channel)?;
        let mut cleanup = vec![channel.clone(), super::heap_path(&channel)];
        let commands = match job.mode {
            JobMode::Serve => {
                let path = job.commands(launch);
                cleanup.push(path.clone());
                let fifo = launch.run_dir.open_commands(&path);
                Some(fifo.map_err(RuntimeError::Channel)?)
            }
            _ => None,
        };
        cleanup.extend(launch.host.leftovers(job));
        let mut cmd = launch.host.command(launch, job, &channel)?;
        let (out_read, out_write) = std::io::pipe().map_err(RuntimeError::Channel)?;
        let err_write = out_write.try_clone().map_err(RuntimeError::Channel)?;
        cmd.stdin(Stdio::null())
            .stdout(out_write)
            .stderr(err_write)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; it asks the kernel to kill the
        // child if the runner dies without cleaning up (kill -9).
        #[cfg(target_os = "linux")]
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        // The kernel's kill on the runner's death (above) follows the thread
        // that started the child: a serving job outlives the thread that
        // lists its file.
        let child = match job.mode {
            JobMode::Serve => spawn_lasting(cmd),
            _ => cmd.spawn(),
        };
        let child = child.map_err(|error| RuntimeError::Spawn {
            binary: launch.binary.clone(),
            error,
        })?;
        let pgid = child.id() as i32;
        let registered = interrupt::register(pgid, job.label.clone());
        let (tx, rx) = sync_channel(16);
        spawn_frame_reader(read, heap, tx);
        let output = std::thread::spawn(move || read_output(out_read));
        // The waiter reaps the child, then lets go of our end of the
        // channel so that the reader sees its end once the pipe is drained.
        let waiter = std::thread::spawn(move || wait_and_release(child, hold));
        Ok(ProcessSession {
            pgid,
            events: rx,
            waiter: Some(waiter),
            output: Some(output),
            deadline: Instant::now() + timeout,
            timed_out: false,
            registered,
            cleanup,
            commands,
        })
    }

    /// Write the command (one line) and close the runner's end.
    fn command(&mut self, text: &str) -> Result<(), String> {
        use std::io::Write;
        let mut fifo = self
            .commands
            .take()
            .ok_or("the job was told what to run already")?;
        fifo.write_all(format!("{text}\n").as_bytes())
            .map_err(|e| format!("cannot tell the harness what to run: {e}"))
    }

    /// The next event, or `None` once the deadline has passed (the process
    /// group is then killed).
    pub fn next_event(&mut self) -> Option<Event> {
        if self.timed_out {
            return None;
        }
        let wait = self.deadline.saturating_duration_since(Instant::now());
        match self.events.recv_timeout(wait) {
            Ok(e) => Some(e),
            Err(RecvTimeoutError::Timeout) => {
                self.timed_out = true;
                self.kill();
                None
            }
            Err(RecvTimeoutError::Disconnected) => Some(Event::Closed),
        }
    }

    /// SIGTERM the process group, then SIGKILL it after a grace period.
    pub fn kill(&mut self) {
        // SAFETY: kill(2) with a negative pid signals our child's group.
        unsafe { libc::kill(-self.pgid, libc::SIGTERM) };
        let grace = Instant::now() + Duration::from_millis(500);
        while Instant::now() < grace && !self.waiter.as_ref().is_none_or(|w| w.is_finished()) {
            std::thread::sleep(Duration::from_millis(10));
        }
        // The leader may be gone while others of its group live on.
        unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
    }

    /// Give the process a new deadline, `timeout` from now (the next test
    /// of a file run in one process).
    pub fn restart_clock(&mut self, timeout: Duration) {
        self.deadline = Instant::now() + timeout;
    }

    /// Wait for the process to end (killing it if it outlives the deadline
    /// or a short grace after its channel closed), and return how it ended
    /// with what it printed, split where the harness marked each test.
    pub fn finish_segments(mut self) -> (Exit, Vec<String>) {
        let grace = Instant::now() + Duration::from_secs(5);
        while !self.waiter.as_ref().is_none_or(|w| w.is_finished()) {
            if self.timed_out || Instant::now() >= grace.min(self.deadline.max(Instant::now())) {
                self.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let status = self.waiter.take().and_then(|w| w.join().ok()).flatten();
        interrupt::stop_if_cancelled();
        // Nothing of the group may outlive the test.
        unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
        let output = self
            .output
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let exit = if let Some(signal) = self.registered.sent() {
            Exit::SentSignal(signal)
        } else if self.timed_out {
            Exit::TimedOut
        } else {
            match status {
                Some(s) => match (s.code(), s.signal()) {
                    (Some(c), _) => Exit::Code(c),
                    (None, Some(sig)) => Exit::Signal(sig),
                    _ => Exit::Code(-1),
                },
                None => Exit::Code(-1),
            }
        };
        (exit, output.iter().map(Captured::text).collect())
    }
}

impl Drop for ProcessSession {
    fn drop(&mut self) {
        if let Some(w) = self.waiter.take() {
            if !w.is_finished() {
                self.kill();
            }
            let _ = w.join();
        }
        for path in &self.cleanup {
            let _ = std::fs::remove_dir_all(path).or_else(|_| std::fs::remove_file(path));
        }
    }
}

/// A command and where its child goes.
type SpawnRequest = (Command, SyncSender<std::io::Result<Child>>);

/// Start `cmd` from a thread that lives as long as the runner.
pub fn spawn_lasting(cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: std::sync::OnceLock<std::sync::Mutex<SyncSender<SpawnRequest>>> =
        std::sync::OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = sync_channel::<SpawnRequest>(0);
        std::thread::spawn(move || {
            for (mut cmd, reply) in rx {
                let _ = reply.send(cmd.spawn());
            }
        });
        std::sync::Mutex::new(tx)
    });
    let (reply, child) = sync_channel(1);
    let sent = spawner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, reply));
    sent.map_err(|_| std::io::Error::other("the spawning thread is gone"))?;
    child
        .recv()
        .map_err(|_| std::io::Error::other("the spawning thread is gone"))?
}

fn spawn_frame_reader(read: std::fs::File, mut heap: HeapFile, tx: SyncSender<Event>) {
    std::thread::spawn(move || {
        let mut reader = FrameReader::new(read, Limits::default());
        loop {
            let event = match reader.next_frame() {
                Ok(None) => break,
                Ok(Some(Frame::Chunk(c))) => Event::Chunk(c),
                Ok(Some(Frame::Message(m))) => match serde_json::from_slice(&m) {
                    Ok(m) => Event::Message(m),
                    Err(e) => Event::Garbled(format!(
                        "a message that is not valid ({e}): {}",
                        String::from_utf8_lossy(&m[..m.len().min(200)])
                    )),
                },
                Err(e) => Event::Garbled(e.to_string()),
            };
            // A snapshot written to the heap file: its bytes go first.
            if let Event::Message(Message::SnapshotEnd {
                bytes: Some(len), ..
            }) = &event
            {
                let written = match heap.take(*len) {
                    Ok(w) => Event::Written(w),
                    Err(e) => Event::Garbled(format!("cannot read the heap file: {e}")),
                };
                let garbled = matches!(written, Event::Garbled(_));
                if tx.send(written).is_err() || garbled {
                    break;
                }
            }
            let garbled = matches!(event, Event::Garbled(_));
            if tx.send(event).is_err() || garbled {
                break;
            }
        }
        let _ = tx.send(Event::Closed);
    });
}

fn read_output(pipe: PipeReader) -> Vec<Captured> {
    Captured::read_segments(pipe)
}

fn wait_and_release(mut child: Child, hold: std::fs::File) -> Option<ExitStatus> {
    let status = child.wait().ok();
    drop(hold);
    status
}
