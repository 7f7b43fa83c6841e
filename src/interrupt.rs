//! Ctrl-C, SIGTERM and SIGHUP: every running test's process group is
//! killed, the tests cut off are named, no baseline is written, and the
//! runner exits (130, 143 or 129) within about a second; a second signal
//! kills at once. Each runtime process registers here while it runs.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

static CANCELLED: AtomicBool = AtomicBool::new(false);
static NEXT: AtomicU64 = AtomicU64::new(0);

fn running() -> MutexGuard<'static, BTreeMap<u64, (i32, String)>> {
    static RUNNING: OnceLock<Mutex<BTreeMap<u64, (i32, String)>>> = OnceLock::new();
    RUNNING
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Held while files that must not be cut in half (baselines) are written.
pub fn writing() -> MutexGuard<'static, ()> {
    static WRITING: Mutex<()> = Mutex::new(());
    WRITING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether the run was interrupted.
pub fn cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

/// Once the run is interrupted, a test's thread stops here for good (the
/// signal thread ends the process), so that no test cut off is reported
/// as failed.
pub fn stop_if_cancelled() {
    while cancelled() {
        std::thread::park();
    }
}

/// A process group in the registry; leaves it on drop.
#[derive(Debug)]
pub struct Registered(u64);

impl Drop for Registered {
    fn drop(&mut self) {
        running().remove(&self.0);
    }
}

/// Register a running process group, named for the message (a test's full
/// name, or what it is doing).
pub fn register(pgid: i32, label: String) -> Registered {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    running().insert(id, (pgid, label));
    Registered(id)
}

/// Start handling SIGINT, SIGTERM and SIGHUP; `cleanup` runs before exit
/// (removing temporary files).
pub fn install(cleanup: impl Fn() + Send + 'static) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("memcheck-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                CANCELLED.store(true, Ordering::SeqCst);
                stop_all(signal, &mut signals);
                cleanup();
                let _guard = writing();
                let _ = std::io::stdout().flush();
                std::process::exit(128 + signal);
            }
        })?;
    Ok(())
}

fn stop_all(signal: i32, signals: &mut Signals) {
    let groups: Vec<(i32, String)> = running().values().cloned().collect();
    let name = match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "SIGHUP",
    };
    let mut msg = format!("\nmemcheck: interrupted by {name}");
    if groups.is_empty() {
        msg.push_str("; no test was running");
    } else {
        msg.push_str("; stopped:");
        for (_, label) in &groups {
            msg.push_str(&format!("\n    {label}"));
        }
    }
    msg.push_str("\nmemcheck: no baseline was written\n");
    let _ = std::io::stderr().write_all(msg.as_bytes());
    for (pgid, _) in &groups {
        // SAFETY: kill(2) on a process group we started.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
    }
    // A grace period for a clean exit, cut short by a second signal.
    let deadline = Instant::now() + Duration::from_millis(1000);
    while Instant::now() < deadline && groups.iter().any(|(g, _)| alive(*g)) {
        if signals.pending().next().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for (pgid, _) in &groups {
        // SAFETY: as above.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    // Exit only once they are gone (each test's thread reaps its process).
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline && groups.iter().any(|(g, _)| alive(*g)) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks that the group exists.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_lasts_as_long_as_its_guard() {
        let before = running().len();
        let guard = register(-1, "a::b".into());
        assert_eq!(running().len(), before + 1);
        drop(guard);
        assert_eq!(running().len(), before);
    }
}
