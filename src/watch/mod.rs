//! `cargo memcheck watch`: the live memory debugger. It runs the selected
//! tests, serves the report page on `127.0.0.1` (`server`), and on each
//! save (`watcher`) runs again the test files the change affects (`graph`);
//! every open page follows the runs over a stream and redraws in place
//! (`state`, `sse`). A save during a run cancels it (no test process is
//! left) and starts the next with both runs' files. Ctrl-C, or `q` and
//! Enter, stops the watcher, the server and every test process, and exits
//! with 0.

mod graph;
mod runs;
mod server;
mod sse;
mod state;
mod watcher;

use std::io::{BufRead as _, Write as _};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};

use libtest_mimic::Arguments;

use crate::config::Config;
use crate::run::{self, Session};
use crate::{exit, interrupt};

use runs::{Event, Loop};

pub use graph::Affected;
pub use server::TOKEN_HEADER;

/// What `cargo memcheck watch` was asked for.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// The port to listen on (0: a free one).
    pub port: u16,
    /// Open the page in the user's browser.
    pub open: bool,
    /// Which tests (FILTER, `--exact`, `--skip`, `--ignored`).
    pub args: Arguments,
}

/// Watch until told to stop; the exit code (0).
pub fn watch(config: Config, opts: run::Options, watch: WatchOptions) -> anyhow::Result<i32> {
    let paint = opts.color;
    let session = Arc::new(Session::new(config, opts)?);
    let root = session.root().to_path_buf();
    let live = Arc::new(state::Live::new(server::new_token()?));
    let (tx, rx) = mpsc::channel();
    let settled = Mutex::new(tx.clone());
    let port = server::start(
        watch.port,
        server::Served {
            live: live.clone(),
            root: root.clone(),
            settled: Box::new(move |file| {
                let _ = settled.lock().unwrap().send(Event::Settled(file));
            }),
        },
    )?;
    let dirs = Arc::new(Mutex::new(session.run_dirs()));
    let removed = dirs.clone();
    interrupt::install_with(
        move || {
            for dir in removed.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                let _ = std::fs::remove_dir_all(dir);
            }
        },
        |_| exit::OK,
    )?;
    let changes = Mutex::new(tx.clone());
    watcher::start(&root, move |files| {
        let _ = changes.lock().unwrap().send(Event::Changed(files));
    })?;
    read_quit(tx.clone());
    let url = format!("http://127.0.0.1:{port}/");
    println!(
        "memcheck: watching {}; the live report is at {url}\nmemcheck: q and Enter, or Ctrl-C, to stop",
        root.display()
    );
    let _ = std::io::stdout().flush();
    if watch.open {
        open_browser(&url);
    }
    let mut watching = Loop::new(session, dirs, live, watch.args, tx, paint);
    watching.serve(&rx);
    println!("memcheck: watch stopped");
    Ok(exit::OK)
}

/// `q` and Enter at the terminal stop the watch; the end of the input
/// (no terminal) does not.
fn read_quit(tx: Sender<Event>) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            if line.trim().eq_ignore_ascii_case("q") {
                let _ = tx.send(Event::Quit);
                return;
            }
        }
    });
}

/// Open the page in the user's browser, as the desktop does.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let started = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = started {
        eprintln!(
            "memcheck: warning: cannot open the page with {opener} ({e}); open {url} yourself"
        );
    }
}
