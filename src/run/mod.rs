//! A whole `cargo memcheck` run, orchestrated: provision the runtime, list
//! the test files (`files`), run the selected tests (`select`) as libtest
//! trials (`trial`), each next one's process started ahead (`ahead`),
//! assemble the run model, settle baselines (`settle`), and hand the model
//! to every reporter (`report`).

mod ahead;
mod files;
mod select;
mod session;
mod settle;
mod threads;
mod trial;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use libtest_mimic::{Arguments, FormatSetting};

use crate::baseline::UpdateMode;
use crate::baseline::stale::Unreferenced;
use crate::config::Config;
use crate::discover::discover;
use crate::partition::Partition;
use crate::report::{self, RunReport, Status, TestReport};
use crate::runtime::{Engine, Environment, Launch, LaunchSpec, cache_dir, provision};
use crate::{exit, interrupt, text};

use files::FileState;
pub use session::{Outcome, Proposal, Session};
use trial::{Context, Shared};

/// What the command line asked for, beyond libtest's arguments.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Record baselines (`--update`, or `--update=new`: only new tests).
    pub update: Option<UpdateMode>,
    pub json: Option<PathBuf>,
    /// Where to write the HTML report.
    pub html: Option<PathBuf>,
    /// Where to write the JUnit XML report.
    pub junit: Option<PathBuf>,
    /// Where to write the Markdown summary.
    pub markdown: Option<PathBuf>,
    /// GitHub Actions: annotations and the step summary.
    pub github: bool,
    pub snapshots: Option<PathBuf>,
    /// Track allocations in every run (slow), not only to explain failures.
    pub trace_allocations: bool,
    /// After the run, show what each passing test's blocks did (libtest's
    /// `--show-output`, or `--nocapture`).
    pub show_output: bool,
    /// Run only this shard of the selected tests.
    pub partition: Option<Partition>,
    /// What to do with baseline entries whose test is gone.
    pub unreferenced: Unreferenced,
    /// Running in CI: no pending baseline is written.
    pub ci: bool,
    /// Colour the terminal's text.
    pub color: bool,
    /// Run on this engine only, whatever `memcheck.toml` says.
    pub engine: Option<Engine>,
    /// Print where each test's time went.
    pub timings: bool,
    /// Proposals for baselines are kept in memory and settled from the
    /// live page (`watch`), not written as pending files.
    pub held: bool,
}

/// Run the suite; returns the process exit code.
pub fn run(config: &Config, args: &Arguments, opts: &Options) -> anyhow::Result<i32> {
    let launches = prepare(config, opts)?;
    let files = discover(config)
        .map_err(|e| anyhow::anyhow!("cannot search {} for tests: {e}", config.root.display()))?;
    if files.is_empty() {
        eprintln!(
            "memcheck: no test files under {} match {:?}",
            config.root.display(),
            config.include
        );
    }
    let shared = Mutex::new(Shared::default());
    // A listing process stays to run its file's first test; not when the
    // run only lists.
    let park = if args.list { 0 } else { threads::max_parked() };
    let states = files::load(files, config, &launches, &shared, park)?;
    files::warn_unmatched(config, &states);
    let ctx = Arc::new(Context {
        config: config.clone(),
        opts: opts.clone(),
        chosen: std::sync::OnceLock::new(),
        ahead: std::sync::OnceLock::new(),
        shared,
    });
    let jobs = trial::jobs(&states, &ctx);
    let listed: Vec<(String, bool, Option<ahead::Listed>)> = jobs
        .iter()
        .map(|j| (j.name.clone(), j.ignored, j.test.clone()))
        .collect();
    let trials: Vec<_> = jobs.into_iter().map(trial::Job::into_trial).collect();
    let (mut args, chosen) = select::select(args, &trials, opts.partition);
    let _ = ctx.chosen.set(chosen.clone());
    // A file none of whose tests runs lets its listing process go now.
    for state in &states {
        let names = state.names().unwrap_or_default();
        if !names.iter().any(|n| chosen.contains(&state.full_name(n))) {
            state.release();
        }
    }
    args.test_threads = args
        .test_threads
        .or_else(|| Some(threads::default_threads()));
    // The tests in the order libtest runs them, for the processes started
    // ahead of them.
    let order = listed
        .into_iter()
        .filter(|(name, ignored, _)| chosen.contains(name) && ahead::runs(&args, *ignored))
        .filter_map(|(_, _, test)| test)
        .collect();
    let _ = ctx.ahead.set(ahead::Ahead::new(
        order,
        args.test_threads.unwrap_or(1),
        threads::max_parked(),
        config.runtime.timeout,
        config.runtime.isolation,
    ));
    // Under GitHub, its runner reads no workflow command from here until
    // memcheck's own annotations: nothing the tests print or name can be one.
    let stopped = opts.github.then(report::github::stop_commands);
    let conclusion = libtest_mimic::run(&args, trials);
    // Listing processes whose file ran no test in them (each test of the
    // file measured allocated bytes, say), and spares no test took.
    for state in &states {
        state.release();
    }
    if let Some(ahead) = ctx.ahead.get() {
        ahead.release();
    }
    if args.list {
        return Ok(exit::OK);
    }
    let shared = std::mem::take(&mut *ctx.shared.lock().unwrap());
    let mut model = assemble(&states, &shared, &chosen);
    let errors = settle::baselines(
        config,
        &states,
        &shared.recordings,
        opts.unreferenced,
        &mut model,
    );
    report_run(config, &args, opts, &model, stopped)?;
    for e in &errors {
        eprintln!("error: {e}");
    }
    Ok(if conclusion.has_failed() {
        exit::TESTS_FAILED
    } else if !errors.is_empty() {
        exit::ERROR
    } else {
        exit::OK
    })
}

/// Provision each engine's runtime, prepare its launch, and stop cleanly
/// on signals.
fn prepare(config: &Config, opts: &Options) -> anyhow::Result<Vec<Launch>> {
    let launches = prepare_engines(config, opts)?;
    let run_dirs: Vec<PathBuf> = launches
        .iter()
        .map(|l| l.run_dir.path().to_path_buf())
        .collect();
    interrupt::install(move || {
        report::github::resume_commands();
        for dir in &run_dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    })
    .context("cannot install the signal handlers")?;
    Ok(launches)
}

/// Provision and prepare each engine's launch.
fn prepare_engines(config: &Config, opts: &Options) -> anyhow::Result<Vec<Launch>> {
    let cache = cache_dir();
    let engines = match opts.engine {
        Some(e) => vec![e],
        None => config.runtime.engines.clone(),
    };
    engines
        .into_iter()
        .map(|e| prepare_engine(config, e, &cache, opts))
        .collect()
}

/// One engine's launch: its binary (provisioned), harness and sandbox.
fn prepare_engine(
    config: &Config,
    engine: Engine,
    cache: &std::path::Path,
    opts: &Options,
) -> anyhow::Result<Launch> {
    let configured = config.runtime.path(engine).map(|p| config.root.join(p));
    let runtime = provision(
        engine,
        config.runtime.version(engine),
        configured.as_deref(),
        cache,
    )?;
    let launch = Launch::prepare(LaunchSpec {
        engine,
        binary: runtime.binary,
        cache,
        root: &config.root,
        allow: config.runtime.allow.clone(),
        v8_flags: config.runtime.v8_flags.clone(),
        node_flags: config.runtime.node_flags.clone(),
        env: Environment::from_runner(&config.runtime.pass_env, &config.runtime.env),
    })?;
    if !launch.host.closes_links() {
        for e in &launch.sandbox.escapes {
            eprintln!(
                "memcheck: warning: on {}, the link {} → {} stays open to tests (its permission model follows links)",
                engine.title(),
                text::display_path(&e.link),
                e.target.display()
            );
        }
    }
    Ok(match opts.trace_allocations {
        true if engine == Engine::Chromium => Launch {
            sites_always: true,
            ..launch
        },
        true => launch.traced(),
        false => launch,
    })
}

/// The run model: every listed test in file order, as it ran, or as
/// ignored when it was chosen but did not run.
fn assemble(states: &[Arc<FileState>], shared: &Shared, chosen: &HashSet<String>) -> RunReport {
    let mut tests = Vec::new();
    for state in states {
        let file = &state.file.relative;
        let listed: Vec<(String, Option<u32>)> = match &state.tests {
            Ok(t) => t.iter().map(|t| (t.name.clone(), t.line)).collect(),
            Err(_) => vec![("(load)".to_owned(), None)],
        };
        for (name, line) in listed {
            if let Some(r) = shared.records.get(&(state.key(), name.clone(), line)) {
                tests.push(r.clone());
            } else if chosen.contains(&state.full_name(&name)) {
                tests.push(TestReport {
                    file: file.clone(),
                    engine: state.launch.engine.name(),
                    prefix: state.prefix.clone(),
                    name,
                    line,
                    status: Status::Ignored,
                    ..TestReport::default()
                });
            }
        }
    }
    RunReport {
        runtime: shared.runtimes.first().cloned().unwrap_or_default(),
        runtimes: shared.runtimes.clone(),
        tests,
        notes: shared.notes.clone(),
        ..RunReport::default()
    }
}

/// Every reporter renders the model: the terminal's text after libtest's,
/// then each file asked for, and GitHub's annotations and summary, once
/// the runner reads commands again (`stopped` dropped).
fn report_run(
    config: &Config,
    args: &Arguments,
    opts: &Options,
    model: &RunReport,
    stopped: Option<report::github::Resume>,
) -> anyhow::Result<()> {
    let libtest_json = matches!(args.format, Some(FormatSetting::Json));
    let shown = |text: String| report::terminal::for_github(text, opts.github);
    if opts.show_output && !libtest_json {
        print!("{}", shown(report::terminal::successes(model)));
    }
    if opts.timings && !libtest_json {
        print!("{}", shown(report::terminal::timings(model)));
    }
    eprint!(
        "{}",
        shown(report::terminal::after_run(model, opts.unreferenced))
    );
    if let Some(dir) = &opts.snapshots {
        let kept = model
            .tests
            .iter()
            .flat_map(|t| &t.blocks)
            .filter(|b| b.snapshots.is_some())
            .count();
        if kept > 0 {
            eprintln!(
                "memcheck: heap snapshots kept in {} (open them in Chrome DevTools, Memory tab)",
                text::display_path(dir)
            );
        } else {
            eprintln!(
                "memcheck: no heap snapshot was kept in {} (the failures above say why)",
                text::display_path(dir)
            );
        }
    }
    if let Some(path) = &opts.json {
        report::json::write(model, path)?;
    }
    if let Some(path) = &opts.html {
        report::html::write_run(model, &config.root, path)?;
        eprintln!(
            "memcheck: HTML report written to {}",
            text::display_path(path)
        );
    }
    if let Some(path) = &opts.junit {
        report::junit::write(model, path)?;
    }
    if let Some(path) = &opts.markdown {
        report::markdown::write(model, path)?;
    }
    drop(stopped);
    // GitHub names the summary file; one it cannot take costs the summary,
    // not the run's verdict.
    if opts.github
        && let Err(e) = report::github::emit(model, &config.root)
    {
        eprintln!("memcheck: warning: {e:#}");
    }
    Ok(())
}
