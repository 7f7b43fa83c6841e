//! The JS runtime: provisioning Deno, writing the embedded harness, and
//! running one job (list a file, or run one test) per child process, which
//! speaks over a channel of its own inside a sandbox.

mod channel;
pub mod chromium;
pub mod deno;
mod engine;
pub mod environment;
mod harness;
mod host;
mod node;
mod output;
mod process;
mod protocol;
mod provision;
pub mod sandbox;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use channel::{
    ChannelDir, Frame, FrameError, FrameReader, HeapFile, Limits, Written, heap_path,
};
pub use engine::Engine;
pub use environment::Environment;
pub use harness::{Harness, file_url, is_harness_url};
pub use host::Host;
pub use output::Captured;
pub use process::{Event, Exit, Session, spawn_lasting};
pub use protocol::{Conversation, ListedTest, Message, Mode, RuntimeInfo, Unfinished};
pub use provision::{CACHE_ENV, Provisioned, cache_dir, provision};
pub use sandbox::Sandbox;

/// V8 flags every run needs: `gc()` for checkpoints, and determinism.
pub const V8_FLAGS: &[&str] = &[
    "--expose-gc",
    "--predictable",
    "--no-lazy-feedback-allocation",
    "--max-lazy",
    "--no-flush-bytecode",
    "--sampling-heap-profiler-suppress-randomness",
    "--random-seed=1",
    "--hash-seed=1",
];

/// V8 flags added to the re-run that tracks allocations (and to every run
/// with `--trace-allocations`), after the project's own `v8_flags` so that
/// they win. V8's allocation tracker walks the physical stack: a function
/// inlined into its caller by an optimizing tier (TurboFan or Maglev) has
/// no frame there, so its allocations were charged to the caller, and the
/// same line came out as two sites once the loop that called it was
/// optimized. Without inlining every call keeps its frame, and the code
/// still gets optimized. A full GC that compacts moves objects without
/// telling V8 15's tracker (Deno 2.9), so objects a `repeat` block made
/// after a compaction lost their stacks or took those of whatever had been
/// at their address before. Neither flag changes which objects are alive.
/// All three are accepted by V8 13.6 (Node 24) and 15.0 (Deno 2.9).
pub const TRACE_FLAGS: &[&str] = &[
    "--no-turbo-inlining",
    "--no-maglev-inlining",
    "--no-compact",
];

/// Errors getting a runtime to run, worded with the fix.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "the runtime binary {binary} (from {origin}) does not exist; fix the path or unset it to use the pinned download"
    )]
    Missing { binary: PathBuf, origin: String },
    #[error(
        "no prebuilt {} {version} for {platform} is published on npm; install {} {version} and put it on PATH, or set {} to its binary",
        engine.title(), engine.title(), engine.env_var()
    )]
    Unsupported {
        engine: Engine,
        version: String,
        platform: String,
    },
    #[error(
        "cannot install {}: `npm` was not found on PATH; install Node.js with npm, or install {} {version} and set {} to its binary",
        tool.title, tool.title, tool.env_var
    )]
    NoNpm {
        tool: provision::Tool,
        version: String,
    },
    #[error(
        "cannot install {}: {message}\nfix: check that npm can reach its registry, or install it yourself and set {} to its binary",
        tool.title, tool.env_var
    )]
    Install {
        tool: provision::Tool,
        message: String,
    },
    #[error(
        "the downloaded {spec} has sha256 {actual}, but {expected} is pinned; refusing to run it"
    )]
    Digest {
        spec: String,
        expected: String,
        actual: String,
    },
    #[error("cannot write the harness into {path}: {error}")]
    Harness {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot start {binary}: {error}")]
    Spawn {
        binary: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot set up the harness's channel: {0}")]
    Channel(std::io::Error),
    #[error("cannot search {path} for links out of the project: {error}")]
    Scan {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{0} contains a comma, which the runtime's permission flags cannot express; rename it, or move the project"
    )]
    Comma(PathBuf),
    /// The project's own configuration (`deno.json`) cannot be used.
    #[error("{0}")]
    ProjectConfig(String),
    #[error(
        "no Chromium or Chrome was found for engine = \"chromium\" (tried {tried}); memcheck never downloads a browser: install one (Debian, Ubuntu: `apt-get install chromium`) or point MEMCHECK_CHROMIUM (or chromium_path under [runtime] in memcheck.toml) at an installed Chrome"
    )]
    NoBrowser { tried: String },
    /// The browser could not be driven (it died, or broke the protocol).
    #[error("{0}")]
    Browser(String),
}

/// Comment lines for the header of a baseline recorded with `runtime`
/// (`"node 24.21.0"`): what that engine's sandbox could not stop.
pub fn baseline_notes(runtime: &str) -> Vec<String> {
    match runtime
        .split(' ')
        .next()
        .and_then(|n| n.parse::<Engine>().ok())
    {
        Some(Engine::Node) => node::NodeHost::new(Vec::new()).sandbox_notes(),
        _ => Vec::new(),
    }
}

/// How to start the runtime for any job of this run.
#[derive(Clone, Debug)]
pub struct Launch {
    pub engine: Engine,
    /// What differs between engines.
    pub host: Arc<dyn Host>,
    pub binary: PathBuf,
    pub harness: Harness,
    /// Extra permissions from `memcheck.toml` (`runtime.allow`).
    pub allow: Vec<String>,
    pub v8_flags: Vec<String>,
    /// Track allocations (slow): snapshots then carry allocation stacks.
    pub trace: bool,
    /// Allocation sites for every test, from a tracked re-run: in a page,
    /// tracking gives some of the page's own nodes new ids at every
    /// snapshot, so figures are measured untracked.
    pub sites_always: bool,
    /// Open the inspector for the harness (sampling allocated bytes).
    pub inspector: bool,
    pub sandbox: Arc<Sandbox>,
    /// The variables a test process sees (never the runner's own).
    pub env: Arc<Environment>,
    /// This run's private folder: channels and import maps.
    pub run_dir: Arc<ChannelDir>,
}

/// What [`Launch::prepare`] needs.
pub struct LaunchSpec<'a> {
    pub engine: Engine,
    pub binary: PathBuf,
    /// memcheck's cache (the harness is written there).
    pub cache: &'a Path,
    pub root: &'a Path,
    pub allow: Vec<String>,
    pub v8_flags: Vec<String>,
    /// Node's own command-line options (`runtime.node_flags`).
    pub node_flags: Vec<String>,
    pub env: Environment,
}

impl Launch {
    /// Install the harness, scan the sandbox and set up the engine's host.
    pub fn prepare(spec: LaunchSpec) -> Result<Launch, RuntimeError> {
        let harness = Harness::install(spec.cache)?;
        let sandbox =
            Sandbox::scan(spec.root, &spec.allow).map_err(|error| RuntimeError::Scan {
                path: spec.root.to_path_buf(),
                error,
            })?;
        let run_dir = ChannelDir::create().map_err(RuntimeError::Channel)?;
        let host: Arc<dyn Host> = match spec.engine {
            Engine::Deno => Arc::new(deno::DenoHost::new(&harness, &sandbox, run_dir.path())),
            Engine::Node => Arc::new(node::NodeHost::new(spec.node_flags)),
            Engine::Chromium => Arc::new(chromium::ChromiumHost::new(
                spec.cache,
                run_dir.path(),
                &sandbox.root,
            )),
        };
        Ok(Launch {
            engine: spec.engine,
            host,
            binary: spec.binary,
            harness,
            allow: spec.allow,
            v8_flags: spec.v8_flags,
            trace: false,
            sites_always: false,
            inspector: false,
            sandbox: Arc::new(sandbox),
            env: Arc::new(spec.env),
            run_dir: Arc::new(run_dir),
        })
    }

    /// The same launch with allocation tracking, and V8 set up so that
    /// each allocation is charged to the function that made it
    /// ([`TRACE_FLAGS`]).
    pub fn traced(&self) -> Launch {
        let mut l = self.clone();
        l.trace = true;
        for flag in TRACE_FLAGS {
            if !l.v8_flags.iter().any(|f| f == flag) {
                l.v8_flags.push((*flag).to_owned());
            }
        }
        l
    }

    /// The same launch with the inspector open to the harness (for the
    /// sampling heap profiler).
    pub fn with_inspector(&self) -> Launch {
        let mut l = self.clone();
        l.inspector = true;
        l
    }
}

/// What a job does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobMode {
    /// List the tests of a file.
    List,
    /// Run the test at `index` of the file's list, which must be `name`;
    /// `whole`: measure its whole body as one block from the start.
    Run {
        index: usize,
        name: String,
        whole: bool,
    },
    /// Run these tests (place in the file's list, name), one after another
    /// (`isolation = "file"`).
    RunMany { tests: Vec<(usize, String)> },
    /// List the tests of a file, then wait for one command that says what
    /// to run ([`Session::command`]): the process that lists a file runs
    /// its tests too.
    Serve,
}

/// One job: one runtime process.
#[derive(Clone, Debug)]
pub struct Job {
    pub mode: JobMode,
    pub file: PathBuf,
    /// What the job is, for an interrupted run's message.
    pub label: String,
    /// Unique in this run: keys the job's storage.
    pub key: u64,
}

impl Job {
    /// The harness's arguments after the channel (and, for Node, the test
    /// file): the mode, the test's place (or places), and flags; see
    /// `harness/hosts.js`. `lock`: the harness closes the inspector to the
    /// test once it holds its own session.
    pub fn harness_args(&self, launch: &Launch, lock: bool) -> Vec<String> {
        let inspector = launch.inspector || launch.trace;
        let mut args = Vec::new();
        let flags = |whole: bool| {
            [
                (whole, "--whole"),
                (launch.trace, "--trace"),
                (inspector, "--inspector"),
                (inspector && lock, "--lock-inspector"),
            ]
            .into_iter()
            .filter(|f| f.0)
            .map(|f| f.1.to_owned())
        };
        match &self.mode {
            JobMode::List => args.push("list".to_owned()),
            JobMode::Serve => {
                let commands = self.commands(launch).to_string_lossy().into_owned();
                args.extend(["serve".to_owned(), commands]);
                args.extend(flags(false));
            }
            JobMode::RunMany { tests } => {
                args.push("run-many".to_owned());
                let places: Vec<String> = tests.iter().map(|(i, _)| i.to_string()).collect();
                args.push(places.join(","));
            }
            JobMode::Run { index, whole, .. } => {
                args.extend(["run".to_owned(), index.to_string()]);
                args.extend(flags(*whole));
            }
        }
        args
    }

    /// Where a `Serve` job reads the runner's command: a FIFO in the run's
    /// private folder.
    pub fn commands(&self, launch: &Launch) -> PathBuf {
        launch.run_dir.path().join(format!("cmd{}", self.key))
    }

    pub fn new(mode: JobMode, file: &Path, label: String) -> Job {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Job {
            mode,
            file: file.to_path_buf(),
            label,
            key: NEXT.fetch_add(1, Ordering::Relaxed) ^ (u64::from(std::process::id()) << 32),
        }
    }

    /// The protocol mode the runner expects for this job.
    pub fn protocol(&self) -> Mode {
        match &self.mode {
            JobMode::List | JobMode::Serve => Mode::List,
            JobMode::Run { name, .. } => Mode::Run { name: name.clone() },
            JobMode::RunMany { tests } => Mode::Run {
                name: tests.first().map(|t| t.1.clone()).unwrap_or_default(),
            },
        }
    }
}
