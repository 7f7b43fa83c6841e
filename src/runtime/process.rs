//! One child process of the runtime: started in its own process group,
//! read by a thread, waited for with a deadline, and killed with its group.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::harness::{Harness, file_url};
use super::protocol::{Frame, Message, read_frames};
use super::{RuntimeError, V8_FLAGS};

/// How to start the runtime for one file.
#[derive(Clone, Debug)]
pub struct Launch {
    pub binary: PathBuf,
    pub harness: Harness,
    /// The project root: the only place tests may read by default.
    pub root: PathBuf,
    /// Extra permissions, as `--allow-<entry>`.
    pub allow: Vec<String>,
    pub v8_flags: Vec<String>,
    /// `DENO_DIR` for the runtime's own caches.
    pub deno_dir: PathBuf,
    /// Track allocations (slow): snapshots then carry allocation stacks.
    pub trace: bool,
}

impl Launch {
    /// The same launch with allocation tracking, and the one permission
    /// it needs.
    pub fn traced(&self) -> Launch {
        let mut l = self.with_inspector();
        l.trace = true;
        l
    }

    /// The same launch with the permission `node:inspector` asks for
    /// (`--allow-sys`), for tracking and sampling.
    pub fn with_inspector(&self) -> Launch {
        let mut l = self.clone();
        if !l.allow.iter().any(|a| a == "sys") {
            l.allow.push("sys".into());
        }
        l
    }
}

/// What the reader thread hands over.
#[derive(Debug)]
pub enum Event {
    Message(Message),
    Chunk(Vec<u8>),
    /// Stdout closed: the process is exiting.
    Closed,
    Garbled(String),
}

/// How the process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Killed by us after the deadline.
    TimedOut,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => write!(f, "signal {s}{}", signal_name(*s)),
            Exit::TimedOut => write!(f, "timeout"),
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

/// A running harness process.
pub struct Session {
    child: Child,
    events: Receiver<Event>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    output: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    deadline: Instant,
    timed_out: bool,
}

impl Session {
    /// Start `runner.js <args…>` for `file`, with a deadline.
    pub fn start(
        launch: &Launch,
        mode: &str,
        file: &Path,
        test: Option<&str>,
        timeout: Duration,
    ) -> Result<Session, RuntimeError> {
        let mut flags: Vec<&str> = V8_FLAGS.to_vec();
        flags.extend(launch.v8_flags.iter().map(String::as_str));
        let mut cmd = Command::new(&launch.binary);
        cmd.arg("run")
            .args(["--quiet", "--no-prompt", "--no-config", "--no-lock"])
            .arg(format!(
                "--import-map={}",
                launch.harness.import_map.display()
            ))
            .arg(format!("--allow-read={}", launch.root.display()))
            .args(launch.allow.iter().map(|a| format!("--allow-{a}")))
            .arg(format!("--v8-flags={}", flags.join(",")))
            .arg(file_url(&launch.harness.runner))
            .arg(mode)
            .arg(file_url(file));
        if let Some(t) = test {
            cmd.arg(t);
            if launch.trace {
                cmd.arg("trace");
            }
        }
        cmd.current_dir(&launch.root)
            .env("DENO_DIR", &launch.deno_dir)
            .env("NO_COLOR", "1")
            .env("DENO_NO_UPDATE_CHECK", "1")
            .env("DENO_NO_PROMPT", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().map_err(|error| RuntimeError::Spawn {
            binary: launch.binary.clone(),
            error,
        })?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = channel();
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let out = output.clone();
        std::thread::spawn(move || {
            let result = read_frames(stdout, |frame| {
                let event = match frame {
                    Frame::Message(m) => Event::Message(m),
                    Frame::Chunk(c) => Event::Chunk(c),
                    Frame::Output(bytes) => {
                        out.lock().unwrap().extend_from_slice(&bytes);
                        return true;
                    }
                    Frame::Garbled(g) => Event::Garbled(g),
                };
                tx.send(event).is_ok()
            });
            if let Err(e) = result {
                let _ = tx.send(Event::Garbled(format!(
                    "reading the runtime's output failed: {e}"
                )));
            }
            let _ = tx.send(Event::Closed);
        });
        let stderr = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            buf
        });
        Ok(Session {
            child,
            events: rx,
            stderr: Some(stderr),
            output,
            deadline: Instant::now() + timeout,
            timed_out: false,
        })
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
        let pgid = self.child.id() as i32;
        // SAFETY: kill(2) with a negative pid signals our child's group.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let grace = Instant::now() + Duration::from_millis(500);
        while Instant::now() < grace {
            if let Ok(Some(_)) = self.child.try_wait() {
                // The leader is gone; make sure the rest of the group is too.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }

    /// Wait for the process to end (killing it if it outlives the deadline
    /// or a short grace after its last message), and return how it ended
    /// with its stderr and stray stdout.
    pub fn finish(mut self) -> (Exit, String) {
        let grace = Instant::now() + Duration::from_secs(5);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None)
                    if Instant::now() < grace.min(self.deadline.max(Instant::now()))
                        && !self.timed_out =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => {
                    self.kill();
                    break self.child.wait().ok();
                }
            }
        };
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let mut text = String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned();
        text.push_str(&String::from_utf8_lossy(&stderr));
        let exit = if self.timed_out {
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
        (exit, text)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
            let _ = self.child.wait();
        }
    }
}
