//! The suite run again and again in one process, for `cargo memcheck
//! watch`: the engines are prepared once; each run lists the test files it
//! is given, runs their chosen tests on worker threads (no libtest output:
//! the caller prints one line per run), and can be cancelled: no test
//! starts after that, and the caller kills the test processes still
//! running ([`crate::interrupt::kill_all`]). A run writes nothing: what a
//! test proposes for its baseline is kept as a [`Proposal`], which the
//! user accepts (written into the baseline as `--update` writes it) or
//! rejects (dropped).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use libtest_mimic::{Arguments, Trial};

use crate::baseline::{self, BaselineFile, Recording, Target, TestBaseline, pending, update};
use crate::config::Config;
use crate::discover::{TestFile, discover};
use crate::report::RunReport;
use crate::runtime::{Launch, RuntimeInfo};
use crate::text;

use super::files::FileState;
use super::trial::{self, Context, Job, Shared};
use super::{Options, ahead, assemble, files, prepare_engines, settle, threads};

/// Engines prepared once for many runs.
pub struct Session {
    config: Config,
    opts: Options,
    launches: Vec<Launch>,
}

/// What one run gave: the model (as `--json` writes it), what its tests
/// propose for their baselines, and the test files it listed.
pub struct Outcome {
    pub report: RunReport,
    pub proposals: Vec<Proposal>,
    pub files: Vec<PathBuf>,
}

/// A test's figures, proposed for its baseline (they differ from it, or it
/// has none), kept in memory until accepted or dropped.
#[derive(Clone)]
pub struct Proposal {
    /// `deno`, `node` or `chromium`.
    pub engine: &'static str,
    /// `file::test`, as `cargo memcheck accept --exact` takes it (without
    /// the engine).
    pub name: String,
    /// The test file, relative to the project root.
    pub file: String,
    test: String,
    blocks: TestBaseline,
    runtime: RuntimeInfo,
    state: Arc<FileState>,
}

impl Proposal {
    /// Write the figures into the test's baseline, as `--update` does (and
    /// drop a pending entry an earlier run left for the test); what changed,
    /// in words.
    pub fn accept(&self) -> anyhow::Result<String> {
        let state = &self.state;
        let _lock = baseline::lock(&state.baseline_path)?;
        let loaded = BaselineFile::load(&state.baseline_path).map_err(|e| e.to_string());
        let target = Target {
            loaded: &loaded,
            ..state.target()
        };
        let writes = BTreeMap::from([(self.test.clone(), self.blocks.clone())]);
        let changes = update::update(&target, &writes, &self.runtime)?;
        let clear = BTreeMap::from([(self.test.clone(), Recording::Clear)]);
        pending::store(&target, &clear, &self.runtime)?;
        let path = text::display_path(&state.baseline_path);
        let mut summary = format!("memcheck: accepted {} into {path}", self.name);
        for change in changes.iter().flat_map(|c| &c.changes) {
            summary.push_str(&format!("\n    {change}"));
        }
        Ok(summary)
    }
}

impl Session {
    /// Provision and prepare every engine (no signal handler is installed:
    /// the caller decides what a signal does).
    pub fn new(config: Config, opts: Options) -> anyhow::Result<Session> {
        let launches = prepare_engines(&config, &opts)?;
        Ok(Session {
            config,
            opts,
            launches,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The engines' temporary folders, to remove on a signal.
    pub fn run_dirs(&self) -> Vec<PathBuf> {
        let dirs = self.launches.iter().map(|l| l.run_dir.path().to_path_buf());
        dirs.collect()
    }

    /// Every test file of the project, as discovery finds them.
    pub fn test_files(&self) -> anyhow::Result<Vec<TestFile>> {
        discover(&self.config).map_err(|e| {
            anyhow::anyhow!(
                "cannot search {} for tests: {e}",
                self.config.root.display()
            )
        })
    }

    /// Run the tests `args` chooses in `only` (absolute paths; `None`:
    /// every test file). `None` when `cancel` was set before it finished.
    pub fn run(
        &self,
        args: &Arguments,
        only: Option<&HashSet<PathBuf>>,
        cancel: &AtomicBool,
    ) -> anyhow::Result<Option<Outcome>> {
        let mut files = self.test_files()?;
        if let Some(only) = only {
            files.retain(|f| only.contains(&f.path));
        }
        let listed: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
        let shared = Mutex::new(Shared::default());
        // As in a plain run, a listing process stays to run its file's
        // first test; every one left is let go when the run ends.
        let states = files::load(
            files,
            &self.config,
            &self.launches,
            &shared,
            threads::max_parked(),
        )?;
        let release = |states: &[Arc<files::FileState>]| states.iter().for_each(|s| s.release());
        if cancel.load(Ordering::SeqCst) {
            release(&states);
            return Ok(None);
        }
        let ctx = Arc::new(Context {
            config: self.config.clone(),
            opts: self.opts.clone(),
            chosen: std::sync::OnceLock::new(),
            ahead: std::sync::OnceLock::new(),
            shared,
        });
        let (jobs, chosen) = choose(args, trial::jobs(&states, &ctx));
        let _ = ctx.chosen.set(chosen.clone());
        let workers = args.test_threads.unwrap_or_else(threads::default_threads);
        let _ = ctx.ahead.set(ahead::Ahead::new(
            ahead::order(&jobs),
            workers,
            threads::max_parked(),
            self.config.runtime.timeout,
            self.config.runtime.isolation,
        ));
        for state in &states {
            let names = state.names().unwrap_or_default();
            if !names.iter().any(|n| chosen.contains(&state.full_name(n))) {
                state.release();
            }
        }
        run_jobs(jobs, workers, cancel);
        release(&states);
        if let Some(ahead) = ctx.ahead.get() {
            ahead.release();
        }
        if cancel.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let shared = std::mem::take(&mut *ctx.shared.lock().unwrap());
        let report = assemble(&states, &shared, &chosen);
        let proposals = proposals(&states, &shared.recordings, &report);
        Ok(Some(Outcome {
            report,
            proposals,
            files: listed,
        }))
    }

    pub fn root(&self) -> &Path {
        &self.config.root
    }
}

/// What each test proposes for its baseline.
fn proposals(
    states: &[Arc<FileState>],
    recordings: &BTreeMap<String, BTreeMap<String, Recording>>,
    report: &RunReport,
) -> Vec<Proposal> {
    let mut found = Vec::new();
    for state in states {
        let Some(recs) = recordings.get(&state.key()) else {
            continue;
        };
        let Some(runtime) = settle::runtime_of(report, state) else {
            continue;
        };
        for (test, recording) in recs {
            if let Recording::Pending(blocks) = recording {
                found.push(Proposal {
                    engine: state.launch.engine.name(),
                    name: text::full_name(&state.file.relative, test),
                    file: state.file.relative.clone(),
                    test: test.clone(),
                    blocks: blocks.clone(),
                    runtime: runtime.clone(),
                    state: state.clone(),
                });
            }
        }
    }
    found
}

/// The jobs `args` keeps (FILTER, `--exact`, `--skip`; ignored tests are
/// chosen, to show as ignored, but not run unless `--ignored` or
/// `--include-ignored` asks), and the full names chosen.
fn choose(args: &Arguments, jobs: Vec<Job>) -> (Vec<Job>, HashSet<String>) {
    let mut chosen = HashSet::new();
    let mut kept = Vec::new();
    for job in jobs {
        let probe = Trial::test(job.name.clone(), || Ok(())).with_ignored_flag(job.ignored);
        if args.is_filtered_out(&probe) {
            continue;
        }
        chosen.insert(job.name.clone());
        if ahead::runs(args, job.ignored) {
            kept.push(job);
        }
    }
    (kept, chosen)
}

/// Run the jobs on `workers` threads; none starts once `cancel` is set.
fn run_jobs(jobs: Vec<Job>, workers: usize, cancel: &AtomicBool) {
    let next = AtomicUsize::new(0);
    let jobs: Vec<Mutex<Option<Job>>> = jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1).min(jobs.len()) {
            scope.spawn(|| {
                loop {
                    if cancel.load(Ordering::SeqCst) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(slot) = jobs.get(i) else { break };
                    let job = slot.lock().unwrap().take();
                    if let Some(job) = job {
                        // The outcome is in the model: the job recorded it.
                        let _ = (job.work)();
                    }
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, ignored: bool) -> Job {
        Job {
            name: name.to_owned(),
            ignored,
            test: None,
            work: Box::new(|| Ok(())),
        }
    }

    #[test]
    fn the_filter_chooses_and_ignored_tests_are_shown_not_run() {
        let args = Arguments {
            filter: Some("a.js::".into()),
            ..Arguments::default()
        };
        let jobs = vec![
            job("a.js::x", false),
            job("a.js::y", true),
            job("b.js::z", false),
        ];
        let (kept, chosen) = choose(&args, jobs);
        let kept: Vec<&str> = kept.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(kept, ["a.js::x"]);
        assert!(chosen.contains("a.js::y") && !chosen.contains("b.js::z"));
    }

    #[test]
    fn no_job_starts_once_cancelled() {
        let ran = Arc::new(AtomicUsize::new(0));
        let jobs = (0..5)
            .map(|i| {
                let ran = ran.clone();
                Job {
                    name: format!("t{i}"),
                    ignored: false,
                    test: None,
                    work: Box::new(move || {
                        ran.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    }),
                }
            })
            .collect();
        run_jobs(jobs, 2, &AtomicBool::new(true));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }
}
