//! One headless browser per test thread, reused from test to test (the
//! first thread takes over the one the files were listed in): started
//! with the pipe transport in a process group of its own (so Ctrl-C and
//! the runner's death take it down), with a profile folder of its own that
//! goes with it. A browser that died is replaced by the next test.

use std::cell::RefCell;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::cdp::Connection;
use crate::interrupt;
use crate::runtime::{Environment, RuntimeError, RuntimeInfo};

/// How long the browser may take to answer at start-up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running browser.
pub struct Browser {
    pub conn: Arc<Connection>,
    pub info: RuntimeInfo,
    child: Child,
    profile: PathBuf,
    _registered: interrupt::Registered,
    /// Contexts of pages that finished, disposed once the next page is
    /// busy (see [`Browser::retire`]).
    retired: Mutex<Vec<String>>,
}

/// What a browser was started with: the binary and its V8 flags (a
/// tracked re-run needs flags of its own).
type Key = (PathBuf, Vec<String>);

/// How many browsers a thread keeps: the run's, and a tracked re-run's.
const KEPT: usize = 2;

thread_local! {
    /// This thread's browsers, the last used first.
    static BROWSERS: RefCell<Vec<(Key, Arc<Browser>)>> = const { RefCell::new(Vec::new()) };
}

/// Browsers no test thread has taken yet: the one the files were listed in
/// (its pages waiting to run their first tests), shared while listing.
static SPARE: std::sync::Mutex<Vec<(Key, Arc<Browser>)>> = std::sync::Mutex::new(Vec::new());

/// The browsers test threads took, in the order taken: where pages opened
/// ahead of their tests go once the listing browser was taken.
static LENT: std::sync::Mutex<Vec<(Key, std::sync::Weak<Browser>)>> =
    std::sync::Mutex::new(Vec::new());

/// The browser files are listed in, shared by the threads that list them:
/// started by the first, then lent to the first test thread that needs one.
pub fn for_listing(
    binary: &Path,
    js_flags: &[String],
    env: &Environment,
) -> Result<Arc<Browser>, RuntimeError> {
    let key: Key = (binary.to_path_buf(), js_flags.to_vec());
    let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
    spare.retain(|(_, b)| b.conn.alive());
    if let Some((_, b)) = spare.iter().find(|(k, _)| *k == key) {
        return Ok(b.clone());
    }
    // Once a test thread took it, pages opened ahead of their tests go to
    // the browser it took, so that no other browser starts for them.
    let lent = LENT.lock().unwrap_or_else(|e| e.into_inner());
    let taken = lent.iter().filter(|(k, _)| *k == key);
    if let Some(b) = taken
        .filter_map(|(_, b)| b.upgrade())
        .find(|b| b.conn.alive())
    {
        return Ok(b);
    }
    drop(lent);
    let browser = Arc::new(Browser::start(binary, js_flags, env)?);
    spare.push((key, browser.clone()));
    Ok(browser)
}

/// This thread's browser for `binary` with `js_flags`: the one it used
/// last, else the one the files were listed in if no thread took it, else
/// a new one (when there is none or the last one died).
pub fn for_thread(
    binary: &Path,
    js_flags: &[String],
    env: &Environment,
) -> Result<Arc<Browser>, RuntimeError> {
    let key: Key = (binary.to_path_buf(), js_flags.to_vec());
    BROWSERS.with(|cell| {
        let mut kept = cell.borrow_mut();
        kept.retain(|(_, b)| b.conn.alive());
        if let Some(at) = kept.iter().position(|(k, _)| *k == key) {
            let entry = kept.remove(at);
            let browser = entry.1.clone();
            kept.insert(0, entry);
            return Ok(browser);
        }
        let lent = {
            let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
            let at = spare.iter().position(|(k, b)| *k == key && b.conn.alive());
            at.map(|at| spare.remove(at).1)
        };
        let browser = match lent {
            Some(b) => b,
            None => Arc::new(Browser::start(binary, js_flags, env)?),
        };
        let mut taken = LENT.lock().unwrap_or_else(|e| e.into_inner());
        taken.retain(|(k, b)| *k != key || b.strong_count() > 0);
        taken.push((key.clone(), Arc::downgrade(&browser)));
        kept.insert(0, (key, browser.clone()));
        kept.truncate(KEPT);
        Ok(browser)
    })
}

impl Browser {
    fn start(
        binary: &Path,
        js_flags: &[String],
        env: &Environment,
    ) -> Result<Browser, RuntimeError> {
        let fail = |error: std::io::Error| RuntimeError::Spawn {
            binary: binary.to_path_buf(),
            error,
        };
        let profile = std::env::temp_dir().join(format!(
            "memcheck-chromium-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&profile).map_err(fail)?;
        // The browser reads commands from fd 3 and writes to fd 4.
        let (to_browser_read, to_browser_write) = std::io::pipe().map_err(fail)?;
        let (from_browser_read, from_browser_write) = std::io::pipe().map_err(fail)?;
        let (read_fd, write_fd): (OwnedFd, OwnedFd) =
            (to_browser_read.into(), from_browser_write.into());
        let mut cmd = Command::new(binary);
        cmd.args(flags(&profile, js_flags));
        env.apply(&mut cmd);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let (r, w) = (read_fd.as_raw_fd(), write_fd.as_raw_fd());
        // SAFETY: only async-signal-safe calls between fork and exec: dup2
        // puts the pipe ends at fds 3 and 4 (clearing close-on-exec), and
        // prctl asks the kernel to kill the browser if the runner dies.
        unsafe {
            cmd.pre_exec(move || {
                // Out of the way first, in case either end is fd 3 or 4.
                let (r, w) = (
                    libc::fcntl(r, libc::F_DUPFD, 10),
                    libc::fcntl(w, libc::F_DUPFD, 10),
                );
                if r < 0 || w < 0 || libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                #[cfg(target_os = "linux")]
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        // From a thread that lasts: the kill on the runner's death follows
        // the thread that started the browser, and a listing thread ends
        // while its pages wait to run their tests.
        let child = crate::runtime::spawn_lasting(cmd).map_err(fail)?;
        drop(read_fd);
        drop(write_fd);
        let registered = interrupt::register(child.id() as i32, "chromium".into());
        let conn = Connection::new(
            std::fs::File::from(OwnedFd::from(to_browser_write)),
            std::fs::File::from(OwnedFd::from(from_browser_read)),
        );
        let mut browser = Browser {
            conn,
            info: RuntimeInfo::default(),
            child,
            profile,
            _registered: registered,
            retired: Mutex::new(Vec::new()),
        };
        let version = browser
            .conn
            .call("Browser.getVersion", json!({}), START_TIMEOUT)
            .map_err(|e| {
                RuntimeError::Browser(format!(
                    "{} did not start as a headless browser: {e}",
                    binary.display()
                ))
            })?;
        browser.info = info_of(&version);
        Ok(browser)
    }
}

impl Browser {
    /// Dispose of a finished page's context later, at the next page's
    /// first snapshot ([`Browser::dispose_retired`]): the browser tears
    /// the page's renderer down while the next page's is busy, instead of
    /// before the next page can start (a command sent right after a
    /// disposal waits 30 to 90 ms for it). A page that must stop now (a
    /// timeout, a navigation) is disposed of at once instead.
    pub fn retire(&self, context: String) {
        self.retired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(context);
    }

    /// Dispose of the contexts retired so far, without waiting.
    pub fn dispose_retired(&self) {
        let retired = std::mem::take(&mut *self.retired.lock().unwrap_or_else(|e| e.into_inner()));
        for context in retired {
            let _ = self.conn.send(
                "Target.disposeBrowserContext",
                json!({ "browserContextId": context }),
                None,
            );
        }
    }
}

/// `HeadlessChrome/156.0.8078.114` and `jsVersion` as the runtime's name,
/// version and V8.
fn info_of(version: &serde_json::Value) -> RuntimeInfo {
    let product = version["product"].as_str().unwrap_or_default();
    RuntimeInfo {
        name: "chromium".into(),
        version: product
            .split_once('/')
            .map_or(product, |(_, v)| v)
            .to_owned(),
        v8: version["jsVersion"].as_str().unwrap_or_default().to_owned(),
    }
}

/// The browser's command line: headless, nothing in the background, no
/// first-run work, a profile of its own, the runner's V8 flags.
fn flags(profile: &Path, js_flags: &[String]) -> Vec<String> {
    let mut flags: Vec<String> = [
        "--headless=new",
        "--remote-debugging-pipe",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-gpu",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--mute-audio",
        "--password-store=basic",
        "--use-mock-keychain",
    ]
    .map(String::from)
    .to_vec();
    flags.push(format!("--user-data-dir={}", profile.display()));
    if !js_flags.is_empty() {
        flags.push(format!("--js-flags={}", js_flags.join(" ")));
    }
    // Chromium's sandbox refuses to run as root (CI containers).
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        flags.push("--no-sandbox".into());
    }
    flags.push("about:blank".into());
    flags
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

impl Drop for Browser {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: kill(2) on the browser's own process group.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_names_the_browser_and_v8() {
        let info = info_of(&json!({
            "product": "HeadlessChrome/156.0.8078.114",
            "jsVersion": "15.6.23.8"
        }));
        assert_eq!(info.name, "chromium");
        assert_eq!(info.version, "156.0.8078.114");
        assert_eq!(info.v8, "15.6.23.8");
    }

    #[test]
    fn no_port_is_opened() {
        let f = flags(Path::new("/tmp/p"), &[]);
        assert!(f.contains(&"--remote-debugging-pipe".to_owned()));
        assert!(!f.iter().any(|f| f.starts_with("--remote-debugging-port")));
    }
}
