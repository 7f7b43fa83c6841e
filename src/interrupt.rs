//! Ctrl-C, SIGTERM and SIGHUP: every running test's process group is
//! killed, the tests cut off are named, no baseline is written, and the
//! runner exits (130, 143 or 129) within about a second; a second signal
//! kills at once. The other signals that would end the runner (SIGUSR1,
//! SIGALRM, SIGQUIT…) do the same. A signal that a test's process (or a
//! process of its group) sends the runner stops nothing: that test's group
//! is killed and the test fails for it. Each runtime process registers
//! here while it runs.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use libc::{c_int, siginfo_t};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithRawSiginfo;
use signal_hook::low_level::signal_name;

type Signals = SignalsInfo<WithRawSiginfo>;

static CANCELLED: AtomicBool = AtomicBool::new(false);
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A running process group: its id, what it is (for messages), and the
/// signal it sent the runner, if any (0: none).
#[derive(Debug)]
struct Running {
    pgid: i32,
    label: String,
    sent: Arc<AtomicI32>,
}

fn running() -> MutexGuard<'static, BTreeMap<u64, Running>> {
    static RUNNING: OnceLock<Mutex<BTreeMap<u64, Running>>> = OnceLock::new();
    RUNNING
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// The signals that would end the runner, Ctrl-C's first: all of them are
/// handled, so that one sent by a test fails that test instead. (SIGKILL
/// and SIGSTOP cannot be; fault signals like SIGSEGV are left to mean a
/// fault; SIGPIPE is ignored.)
fn handled() -> Vec<c_int> {
    use libc::*;
    let mut signals = vec![
        SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGIO,
        SIGXCPU, SIGXFSZ,
    ];
    #[cfg(target_os = "linux")]
    {
        signals.push(SIGPWR);
        signals.extend(SIGRTMIN()..=SIGRTMAX());
    }
    signals
}

/// A signal's name (`SIGUSR1`), or its number.
pub fn name(signal: c_int) -> String {
    signal_name(signal).map_or_else(|| format!("signal {signal}"), str::to_owned)
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
pub struct Registered {
    id: u64,
    sent: Arc<AtomicI32>,
}

impl Registered {
    /// The signal this group sent the runner (it was killed for it).
    pub fn sent(&self) -> Option<c_int> {
        Some(self.sent.load(Ordering::SeqCst)).filter(|&s| s != 0)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        running().remove(&self.id);
    }
}

/// Register a running process group, named for the message (a test's full
/// name, or what it is doing).
pub fn register(pgid: i32, label: String) -> Registered {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let sent = Arc::new(AtomicI32::new(0));
    let entry = Running {
        pgid,
        label,
        sent: sent.clone(),
    };
    running().insert(id, entry);
    Registered { id, sent }
}

/// Start handling the signals that would end the runner; `cleanup` runs
/// before exit (removing temporary files).
pub fn install(cleanup: impl Fn() + Send + 'static) -> std::io::Result<()> {
    install_with(cleanup, |signal| 128 + signal)
}

/// As [`install`], exiting with `code(signal)`: `watch` ends with 0, since
/// Ctrl-C is how a user leaves it.
pub fn install_with(
    cleanup: impl Fn() + Send + 'static,
    code: fn(c_int) -> i32,
) -> std::io::Result<()> {
    let mut signals = Signals::new(handled())?;
    std::thread::Builder::new()
        .name("memcheck-signals".into())
        .spawn(move || {
            while let Some(info) = signals.forever().next() {
                if blame(&info) {
                    continue;
                }
                let signal = info.si_signo;
                CANCELLED.store(true, Ordering::SeqCst);
                stop_all(signal, &mut signals);
                cleanup();
                let _guard = writing();
                let _ = std::io::stdout().flush();
                std::process::exit(code(signal));
            }
        })?;
    Ok(())
}

/// The process that sent a signal with kill(2) or sigqueue(3) (not the
/// kernel, the terminal or a timer).
fn sender(info: &siginfo_t) -> Option<i32> {
    #[cfg(target_os = "linux")]
    let by_a_process = matches!(
        info.si_code,
        libc::SI_USER | libc::SI_QUEUE | libc::SI_TKILL
    );
    // macOS's SI_USER and SI_QUEUE.
    #[cfg(not(target_os = "linux"))]
    let by_a_process = matches!(info.si_code, 0x10001 | 0x10002);
    // SAFETY: si_pid is set for a signal a process sent.
    let pid = by_a_process.then(|| unsafe { info.si_pid() })?;
    (pid > 0).then_some(pid)
}

/// A signal sent by a running test's process, or another of its group
/// (one it started, while that still lives): that group is killed and the
/// test will fail for it. Whether it was.
fn blame(info: &siginfo_t) -> bool {
    let Some(pid) = sender(info) else {
        return false;
    };
    // SAFETY: getpgid(2) only reads; -1 if the sender is gone.
    let group = unsafe { libc::getpgid(pid) };
    let running = running();
    let Some(test) = running
        .values()
        .find(|r| r.pgid == pid || (group > 0 && r.pgid == group))
    else {
        return false;
    };
    let _ = test
        .sent
        .compare_exchange(0, info.si_signo, Ordering::SeqCst, Ordering::SeqCst);
    // SAFETY: kill(2) on a process group we started.
    unsafe { libc::kill(-test.pgid, libc::SIGKILL) };
    true
}

fn stop_all(signal: i32, signals: &mut Signals) {
    let mut groups: Vec<(i32, String)> = running()
        .values()
        .map(|r| (r.pgid, r.label.clone()))
        .collect();
    // By name: processes started ahead of their tests register in the
    // order their threads get to it.
    groups.sort_by(|a, b| a.1.cmp(&b.1));
    let name = name(signal);
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

/// Kill every registered process group at once (SIGKILL), without ending
/// the runner: `watch` cancels a run this way. Whether any was running.
pub fn kill_all() -> bool {
    let groups: Vec<i32> = running().values().map(|r| r.pgid).collect();
    for pgid in &groups {
        // SAFETY: kill(2) on a process group we started.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    !groups.is_empty()
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
