//! A whole `cargo memcheck` run: provision the runtime, discover and list
//! the tests, run each as a libtest trial in its own process, judge blocks
//! against budgets and baselines, then write baselines (only with
//! `--update`) and the `--json` report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use libtest_mimic::{Arguments, Failed, FormatSetting, Trial};

use crate::baseline::{self, BaselineError, BaselineFile, BlockBaseline};
use crate::budget::Budget;
use crate::config::Config;
use crate::discover::{TestFile, discover};
use crate::explain::AllocationSite;
use crate::measure::{self, Fault, TestRef};
use crate::project::Package;
use crate::report::{self, JsonBlock, JsonReport, JsonTest};
use crate::runtime::{Engine, Launch, LaunchSpec, ListedTest, RuntimeInfo, cache_dir, provision};
use crate::timings::Timings;
use crate::verdict::{self, Standard, Verdict};
use crate::{exit, interrupt};

/// What the command line asked for, beyond libtest's arguments.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Record or refresh baselines of the tests that run.
    pub update: bool,
    pub json: Option<PathBuf>,
    /// Where to write the HTML report.
    pub html: Option<PathBuf>,
    pub snapshots: Option<PathBuf>,
    /// Track allocations in every run (slow), not only to explain failures.
    pub trace_allocations: bool,
    /// Run on this engine only, whatever `memcheck.toml` says.
    pub engine: Option<Engine>,
    /// Print where each test's time went.
    pub timings: bool,
    /// After the run, show what each passing test's blocks did (libtest's
    /// `--show-output`, or `--nocapture`).
    pub show_output: bool,
}

/// One test file on one engine, with its listed tests and baseline.
struct FileState {
    file: TestFile,
    /// How the file's tests run: the engine, its binary, the sandbox.
    launch: Launch,
    /// `node:` or `deno:` before test names when a run has both engines.
    prefix: String,
    tests: Result<Vec<ListedTest>, Fault>,
    baseline_path: PathBuf,
    baseline: Result<Option<BaselineFile>, String>,
    /// The command that re-records this file's whole baseline.
    rerecord: String,
}

impl FileState {
    /// A test's name as libtest shows and filters it.
    fn full_name(&self, test: &str) -> String {
        format!(
            "{}{}",
            self.prefix,
            report::full_name(&self.file.relative, test)
        )
    }
}

/// A test's record: engine prefix and file, test name and line (two tests
/// may share a name).
type RecordKey = (String, String, Option<u32>);

/// What the trials report back.
#[derive(Default)]
struct Shared {
    records: BTreeMap<RecordKey, JsonTest>,
    /// New baselines per baseline file, per test, per block.
    updates: BTreeMap<PathBuf, BTreeMap<String, BTreeMap<String, BlockBaseline>>>,
    notes: Vec<String>,
    /// The runtime of each engine that ran.
    runtimes: BTreeMap<Engine, RuntimeInfo>,
    /// With `--show-output`: what each passing test did, by full name.
    successes: BTreeMap<String, String>,
    /// Where each test's time went, by full name.
    timings: BTreeMap<String, Timings>,
}

/// Run the suite; returns the process exit code.
pub fn run(config: &Config, args: &Arguments, opts: &Options) -> anyhow::Result<i32> {
    let cache = cache_dir();
    let engines = match opts.engine {
        Some(e) => vec![e],
        None => config.runtime.engines.clone(),
    };
    let launches = engines
        .iter()
        .map(|&e| prepare_engine(config, e, &cache, opts))
        .collect::<anyhow::Result<Vec<Launch>>>()?;
    let run_dirs: Vec<PathBuf> = launches
        .iter()
        .map(|l| l.run_dir.path().to_path_buf())
        .collect();
    interrupt::install(move || {
        for dir in &run_dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    })
    .context("cannot install the signal handlers")?;
    let files = discover(config)
        .map_err(|e| anyhow::anyhow!("cannot search {} for tests: {e}", config.root.display()))?;
    if files.is_empty() {
        eprintln!(
            "memcheck: no test files under {} match {:?}",
            config.root.display(),
            config.include
        );
    }
    let shared = Arc::new(Mutex::new(Shared::default()));
    let states = list_files(config, &launches, &files, &shared)?;
    warn_unmatched(config, &states);

    let mut trials = Vec::new();
    for state in &states {
        let tests = match &state.tests {
            Ok(t) => t.clone(),
            Err(fault) => {
                let message = explain_fault(fault, &state.file, &state.launch);
                let full = format!("{}{}", state.prefix, state.file.relative);
                let who = (state.clone(), "(load)".to_owned(), None);
                trials.push(failing_trial(&shared, full, who, message));
                continue;
            }
        };
        let mut seen: BTreeMap<String, Option<u32>> = BTreeMap::new();
        for (index, test) in tests.into_iter().enumerate() {
            let full = state.full_name(&test.name);
            if let Some(first) = seen.get(&test.name) {
                let message = duplicate_name(&state.file.relative, &test, *first);
                let who = (state.clone(), test.name.clone(), test.line);
                trials.push(failing_trial(&shared, full, who, message));
                continue;
            }
            seen.insert(test.name.clone(), test.line);
            let state = state.clone();
            let shared = shared.clone();
            let config = config.clone();
            let opts = opts.clone();
            let ignore = test.ignore;
            trials.push(
                Trial::test(full, move || {
                    run_trial(&config, &state, (index, &test), &opts, &shared)
                })
                .with_ignored_flag(ignore),
            );
        }
    }

    let conclusion = libtest_mimic::run(args, trials);
    if args.list {
        return Ok(exit::OK);
    }

    let shared = shared.lock().unwrap();
    if !shared.successes.is_empty() && !matches!(args.format, Some(FormatSetting::Json)) {
        print_successes(&shared.successes);
    }
    if opts.timings {
        let rows: Vec<(String, Timings)> = shared
            .timings
            .iter()
            .map(|(n, t)| (n.clone(), *t))
            .collect();
        println!("\ntimings:\n{}", crate::timings::table(&rows));
    }
    // A baseline that could not be written is reported last, after the
    // notes and the JSON report, which it must not cost.
    let not_written = if opts.update {
        write_baselines(&states, &shared).err()
    } else {
        None
    };
    for note in &shared.notes {
        eprintln!("{note}");
    }
    if let Some(dir) = &opts.snapshots {
        eprintln!(
            "memcheck: heap snapshots kept in {} (open them in Chrome DevTools, Memory tab)",
            dir.display()
        );
    }
    if let Some(path) = &opts.json {
        let report = json_report(&states, &shared, args);
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write the JSON report to {}", path.display()))?;
    }
    if let Some(path) = &opts.html {
        report::html::write_run(&json_report(&states, &shared, args), &config.root, path)?;
        eprintln!(
            "memcheck: HTML report written to {}",
            report::display_path(path)
        );
    }
    if let Some(e) = &not_written {
        eprintln!("error: {e:#}");
    }
    Ok(if conclusion.has_failed() {
        exit::TESTS_FAILED
    } else if not_written.is_some() {
        exit::ERROR
    } else {
        exit::OK
    })
}

/// The launch of one engine: its binary (provisioned), harness and sandbox.
fn prepare_engine(
    config: &Config,
    engine: Engine,
    cache: &Path,
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
    })?;
    if !launch.host.closes_links() {
        for e in &launch.sandbox.escapes {
            eprintln!(
                "memcheck: warning: on {}, the link {} → {} stays open to tests (its permission model follows links)",
                engine.title(),
                report::display_path(&e.link),
                e.target.display()
            );
        }
    }
    Ok(if opts.trace_allocations {
        launch.traced()
    } else {
        launch
    })
}

/// List every file on every engine, with its baseline.
fn list_files(
    config: &Config,
    launches: &[Launch],
    files: &[TestFile],
    shared: &Mutex<Shared>,
) -> anyhow::Result<Vec<Arc<FileState>>> {
    // Listing is a process per file: run them side by side.
    let jobs: Vec<(&Launch, &TestFile)> = launches
        .iter()
        .flat_map(|l| files.iter().map(move |f| (l, f)))
        .collect();
    let listings = parallel(&jobs, |(launch, file)| {
        measure::list(launch, &file.path, &file.relative, config.runtime.timeout)
    });
    let mut states = Vec::new();
    for ((launch, file), listing) in jobs.into_iter().zip(listings) {
        let prefix = if launches.len() > 1 {
            format!("{}:", launch.engine)
        } else {
            String::new()
        };
        let measure::Listing {
            runtime: info,
            tests,
        } = listing?;
        if let Some(info) = info {
            shared
                .lock()
                .unwrap()
                .runtimes
                .entry(launch.engine)
                .or_insert(info);
        }
        // A file that declares no tests guards nothing: say so.
        let tests = match tests {
            Ok(t) if t.is_empty() => Err(Fault::NoTests),
            other => other,
        };
        let baseline_path = baseline::path_for(&file.path, launch.engine);
        let baseline = BaselineFile::load(&baseline_path).map_err(|e| e.to_string());
        states.push(Arc::new(FileState {
            file: file.clone(),
            launch: launch.clone(),
            prefix: prefix.clone(),
            tests,
            baseline_path,
            baseline,
            rerecord: String::new(),
        }));
    }
    let commands: Vec<String> = states
        .iter()
        .map(|s| rerecord_command(s, &states))
        .collect();
    for (state, command) in states.iter_mut().zip(commands) {
        if let Some(s) = Arc::get_mut(state) {
            s.rerecord = command;
        }
    }
    Ok(states)
}

/// `f` of every item, on as many threads as the machine has cores, in the
/// items' order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.min(items.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().unwrap()[i] = Some(r);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results
        .into_iter()
        .map(|r| r.expect("every item was done"))
        .collect()
}

/// Settings for a test that does not exist do nothing: say so, unless a
/// file could not be listed (its tests are unknown).
fn warn_unmatched(config: &Config, states: &[Arc<FileState>]) {
    if !states.iter().all(|s| s.tests.is_ok()) {
        return;
    }
    let listed: Vec<(&str, &str)> = states
        .iter()
        .flat_map(|s| {
            let tests = s.tests.as_deref().unwrap_or_default();
            tests
                .iter()
                .map(|t| (s.file.relative.as_str(), t.name.as_str()))
        })
        .collect();
    for key in config.unmatched_tests(&listed) {
        eprintln!(
            "memcheck: warning: {}: [tests.{key:?}] names no test; write a test's name or `FILE::NAME` as `cargo memcheck --list` prints it",
            report::display_path(&config.file)
        );
    }
}

fn run_trial(
    config: &Config,
    state: &FileState,
    (index, test): (usize, &ListedTest),
    opts: &Options,
    shared: &Mutex<Shared>,
) -> Result<(), Failed> {
    let launch = &state.launch;
    let file = &state.file.relative;
    let full = state.full_name(&test.name);
    let settings = config.test(file, &test.name);
    if let Some(why) = &test.invalid {
        let m = format!("{file}{}: {why}", line_suffix(test));
        return fail(shared, state, test, Vec::new(), m);
    }
    let timeout = match &test.timeout {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => match v.as_u64().filter(|&ms| ms > 0) {
            Some(ms) => Some(Duration::from_millis(ms)),
            None => {
                let m = format!(
                    "{file}{}: invalid timeout {v}: write milliseconds as a whole number, e.g. {{ timeout: 5000 }}",
                    line_suffix(test)
                );
                return fail(shared, state, test, Vec::new(), m);
            }
        },
    };
    let timeout = timeout
        .or(settings.timeout)
        .unwrap_or(config.runtime.timeout);
    let keep = opts.snapshots.as_ref().map(|d| {
        d.join(measure::sanitize(file))
            .join(measure::sanitize(&test.name))
    });
    let sampled;
    let launch = if test.allocated {
        sampled = launch.with_inspector();
        &sampled
    } else {
        launch
    };
    let test_ref = TestRef {
        file: &state.file.path,
        index,
        name: &test.name,
        full_name: &full,
    };
    let mut run = match measure::run_test(launch, test_ref, timeout, keep.as_deref()) {
        Ok(r) => r,
        Err(e) => return fail(shared, state, test, Vec::new(), e.to_string()),
    };
    {
        let mut shared = shared.lock().unwrap();
        if let Some(info) = &run.runtime {
            shared.runtimes.entry(launch.engine).or_insert(info.clone());
        }
        shared.timings.insert(full.clone(), run.timings);
    }
    let judging = std::time::Instant::now();
    // A whole-body block starts where its test does.
    for b in &mut run.blocks {
        if b.line.is_none() && b.name == test.name {
            b.line = test.line;
        }
    }
    let blocks: Vec<JsonBlock> = run.blocks.iter().map(JsonBlock::new).collect();
    if let Some(fault) = &run.fault {
        let mut m = explain_fault(fault, &state.file, launch);
        // A crash's message already ends with the output's tail.
        if !matches!(fault, Fault::Crashed { .. }) {
            m.push_str(&output_section(&run.output));
        }
        return fail(shared, state, test, blocks, m);
    }

    let test_budget = match test.budget.as_ref().map(Budget::from_json).transpose() {
        Ok(b) => b,
        Err(e) => {
            return fail(
                shared,
                state,
                test,
                blocks,
                format!("{file}{}: {e}", line_suffix(test)),
            );
        }
    };
    let tolerance = settings.tolerance.unwrap_or(config.tolerance);
    let baseline_file = match &state.baseline {
        Ok(b) => b.as_ref(),
        Err(e) if !opts.update => return fail(shared, state, test, blocks, e.clone()),
        Err(_) => None,
    };
    let runtime = run.runtime.clone().unwrap_or_default();
    if !opts.update
        && let Some(b) = baseline_file
        && !b.matches_runtime(&runtime)
    {
        let m = format!(
            "baseline {} was recorded with {}, but this run uses {} (V8 {}); figures are not comparable across runtimes.\nre-record the file's baselines: {}",
            report::display_path(&state.baseline_path),
            b.recorded_with(),
            baseline::runtime_label(&runtime),
            runtime.v8,
            state.rerecord
        );
        return fail(shared, state, test, blocks, m);
    }
    let recorded = baseline_file.and_then(|b| b.tests.get(&test.name));
    let verdicts: Vec<Verdict> = run
        .blocks
        .iter()
        .map(|block| {
            verdict::judge(
                block,
                &Standard {
                    full_name: &full,
                    baseline_path: &state.baseline_path,
                    recorded: recorded.and_then(|t| t.get(&block.name)),
                    test_budget: test_budget.as_ref(),
                    tolerance,
                    update: opts.update,
                },
            )
        })
        .collect();

    // Explain growth with allocation stacks: re-run the test with tracking
    // (unless this run tracked already) and take its sites per block.
    let mut blocks = blocks;
    let mut sites: BTreeMap<String, Vec<AllocationSite>> = run
        .blocks
        .iter()
        .map(|b| (b.name.clone(), b.allocations.clone()))
        .collect();
    let judged = judging.elapsed();
    let explaining = std::time::Instant::now();
    if !launch.trace && verdicts.iter().any(|v| v.failed() && v.grew) {
        let traced = launch.traced();
        if let Ok(rerun) = measure::run_test(&traced, test_ref, timeout * 4, None) {
            for b in rerun.blocks {
                sites.insert(b.name.clone(), b.allocations);
            }
        }
        for b in &mut blocks {
            b.allocations = sites.get(&b.name).cloned().unwrap_or_default();
        }
    }
    if let Some(t) = shared.lock().unwrap().timings.get_mut(&full) {
        t.judge = judged;
        t.explain = explaining.elapsed();
        t.total += judged + t.explain;
    }

    let mut failures = String::new();
    let mut staged = BTreeMap::new();
    for (block, v) in run.blocks.iter().zip(&verdicts) {
        if let Some(note) = &v.improvement {
            shared.lock().unwrap().notes.push(note.clone());
        }
        if let Some(r) = &v.record {
            staged.insert(block.name.clone(), r.clone());
        }
        if v.failed() {
            let empty = Vec::new();
            failures.push_str(&verdict::render(
                block,
                v,
                sites.get(&block.name).unwrap_or(&empty),
            ));
        }
    }
    if !opts.update
        && let Some(t) = recorded
    {
        for name in t
            .keys()
            .filter(|n| !run.blocks.iter().any(|b| &&b.name == n))
        {
            let _ = writeln!(
                failures,
                "block {name:?} is in the baseline but did not run; remove it with: {}",
                report::update_command(&full)
            );
        }
    }
    if opts.update && failures.is_empty() {
        shared
            .lock()
            .unwrap()
            .updates
            .entry(state.baseline_path.clone())
            .or_default()
            .insert(test.name.clone(), staged);
    }
    if failures.is_empty() {
        if opts.show_output {
            let mut text: String = run.blocks.iter().map(verdict::summary).collect();
            let output = output_section(&run.output);
            if !output.is_empty() {
                let _ = writeln!(text, "{}", output.trim_start());
            }
            shared.lock().unwrap().successes.insert(full.clone(), text);
        }
        record(shared, state, &test.name, test.line, Ok(()), blocks);
        Ok(())
    } else {
        let message = failures.trim_end().to_owned() + &output_section(&run.output);
        fail(shared, state, test, blocks, message)
    }
}

/// What a test printed, as a section to append to a message: empty when it
/// printed nothing.
fn output_section(output: &str) -> String {
    if output.trim().is_empty() {
        String::new()
    } else {
        format!("\n--- output ---\n{}", output.trim_end())
    }
}

/// A trial that fails with `message` without running anything (a file that
/// cannot be listed, a duplicate test name), recorded as `who`: its file,
/// its name and line.
fn failing_trial(
    shared: &Arc<Mutex<Shared>>,
    full: String,
    who: (Arc<FileState>, String, Option<u32>),
    message: String,
) -> Trial {
    let shared = shared.clone();
    Trial::test(full, move || {
        let (state, name, line) = &who;
        record(
            &shared,
            state,
            name,
            *line,
            Err(message.clone()),
            Vec::new(),
        );
        Err(Failed::from(message))
    })
}

/// libtest's "successes" section: each passing test's blocks.
fn print_successes(successes: &BTreeMap<String, String>) {
    let mut out = String::from("successes:\n");
    for (name, text) in successes {
        let _ = write!(out, "\n---- {name} ----\n{text}");
    }
    let _ = writeln!(out, "\nsuccesses:");
    for name in successes.keys() {
        let _ = writeln!(out, "    {name}");
    }
    print!("{out}");
}

/// A second `test(...)` with a name the file already used: baselines and
/// filters are keyed by name, so it cannot run.
fn duplicate_name(file: &str, test: &ListedTest, first: Option<u32>) -> String {
    let first = first.map(|l| format!(" at line {l}")).unwrap_or_default();
    format!(
        "{file}{}: test name {} is already used{first} in this file; rename one of them (baselines and filters are keyed by name)",
        line_suffix(test),
        report::quote_name(&test.name)
    )
}

/// A fault as a failure message, led by what to do about it when it comes
/// from the sandbox (what to grant) or the project (what to install).
fn explain_fault(fault: &Fault, file: &TestFile, launch: &Launch) -> String {
    let message = report::fault(fault, &file.relative);
    let package = Package::of(&file.path, &launch.sandbox.root);
    let explain = |text: &str| {
        package
            .explain_unresolved(text)
            .or_else(|| launch.host.explain(text, &launch.sandbox))
    };
    let denied = match fault {
        Fault::Load { message, stack } | Fault::Threw { message, stack } => {
            explain(message).or_else(|| explain(stack))
        }
        Fault::Crashed { output, .. } => explain(output),
        _ => None,
    };
    match denied {
        Some(why) => format!("{why}\n{message}"),
        None => message,
    }
}

fn line_suffix(test: &ListedTest) -> String {
    test.line.map(|l| format!(":{l}")).unwrap_or_default()
}

fn fail(
    shared: &Mutex<Shared>,
    state: &FileState,
    test: &ListedTest,
    blocks: Vec<JsonBlock>,
    message: String,
) -> Result<(), Failed> {
    record(
        shared,
        state,
        &test.name,
        test.line,
        Err(message.clone()),
        blocks,
    );
    Err(message.into())
}

fn record(
    shared: &Mutex<Shared>,
    state: &FileState,
    name: &str,
    line: Option<u32>,
    outcome: Result<(), String>,
    blocks: Vec<JsonBlock>,
) {
    let (status, message) = match outcome {
        Ok(()) => ("passed", None),
        Err(m) => ("failed", Some(m)),
    };
    let file = &state.file.relative;
    shared.lock().unwrap().records.insert(
        (record_file(state), name.to_owned(), line),
        JsonTest {
            file: file.to_owned(),
            engine: state.launch.engine.name(),
            name: name.to_owned(),
            line,
            status,
            message,
            blocks,
            timings: None,
        },
    );
}

/// A record's file key: the file, after its engine prefix.
fn record_file(state: &FileState) -> String {
    format!("{}{}", state.prefix, state.file.relative)
}

/// Merge the staged baselines into their files: entries of tests that did
/// not run are kept; entries of tests that no longer exist are dropped.
fn write_baselines(states: &[Arc<FileState>], shared: &Shared) -> anyhow::Result<()> {
    let mut refused = Vec::new();
    for state in states {
        let Some(updates) = shared.updates.get(&state.baseline_path) else {
            continue;
        };
        let Some(runtime) = shared.runtimes.get(&state.launch.engine) else {
            continue;
        };
        // A file holds one runtime's figures; a corrupt one cannot be
        // merged. Either is replaced only when this run re-recorded every
        // test it may hold, so that nothing is lost.
        let mut file = match &state.baseline {
            Ok(Some(b)) if b.matches_runtime(runtime) => b.clone(),
            Ok(None) => BaselineFile::default(),
            other => {
                let missing =
                    not_rerecorded(state, updates, other.as_ref().ok().and_then(Option::as_ref));
                if !missing.is_empty() {
                    let why = match other {
                        Ok(Some(b)) => format!("it was recorded with {}", b.recorded_with()),
                        _ => "it cannot be read".to_owned(),
                    };
                    let names: Vec<String> = missing
                        .iter()
                        .map(|t| report::quote_name(&t.name))
                        .collect();
                    let command = &state.rerecord;
                    refused.push(format!(
                        "not updating {}: {why}, and this run did not re-record {}; re-record the whole file ({command}) or fix it by hand",
                        report::display_path(&state.baseline_path),
                        names.join(", "),
                    ));
                    continue;
                }
                BaselineFile::default()
            }
        };
        file.runtime = baseline::runtime_label(runtime);
        file.notes = state.launch.host.sandbox_notes();
        file.v8 = runtime.v8.clone();
        if let Ok(tests) = &state.tests {
            file.tests
                .retain(|name, _| tests.iter().any(|t| &t.name == name));
        }
        for (test, blocks) in updates {
            if blocks.is_empty() {
                file.tests.remove(test);
            } else {
                file.tests.insert(test.clone(), blocks.clone());
            }
        }
        let before = std::fs::read_to_string(&state.baseline_path).ok();
        let name = Path::new(&state.file.relative)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if before.as_deref() == Some(file.render(&name).as_str()) {
            continue;
        }
        // An interrupted run writes nothing; a write under way finishes.
        let _writing = interrupt::writing();
        if interrupt::cancelled() {
            anyhow::bail!("interrupted: no baseline was written");
        }
        file.save(&state.baseline_path, &name)
            .map_err(|e: BaselineError| anyhow::anyhow!(e))?;
        eprintln!(
            "memcheck: updated {}",
            report::display_path(&state.baseline_path)
        );
    }
    if refused.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{}", refused.join("\nerror: "))
    }
}

/// The command that re-records every test of a file's baseline (ignored
/// tests too, when it has some): what a baseline from another runtime, or
/// an unreadable one, needs, since it can only be replaced whole.
fn rerecord_command(state: &FileState, states: &[Arc<FileState>]) -> String {
    let ignored = match &state.tests {
        Ok(tests) if tests.iter().any(|t| t.ignore) => " --include-ignored",
        _ => "",
    };
    let files = states.iter().map(|s| s.file.relative.as_str());
    match file_filter(&state.file.relative, files) {
        Some(filter) => format!(
            "cargo memcheck --update{ignored} {}",
            report::shell_quote(&filter)
        ),
        None => format!("cargo memcheck --update{ignored}, which re-records every file"),
    }
}

/// A test filter that selects exactly the tests of `file`, if there is one:
/// libtest filters are substrings, and `a.js::` also picks `ba.js::`.
fn file_filter<'a>(file: &str, all: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let filter = format!("{file}::");
    all.into_iter()
        .all(|other| other == file || !format!("{other}::").contains(&filter))
        .then_some(filter)
}

/// The tests whose entries replacing a file's baseline would lose: those
/// `old` holds (or, when it could not be read, every test of the file,
/// ignored ones too) that still exist and were not re-recorded by this run.
fn not_rerecorded<'a>(
    state: &'a FileState,
    updates: &BTreeMap<String, BTreeMap<String, BlockBaseline>>,
    old: Option<&BaselineFile>,
) -> Vec<&'a ListedTest> {
    let Ok(tests) = &state.tests else {
        return Vec::new();
    };
    tests
        .iter()
        .filter(|t| match old {
            Some(b) => b.tests.contains_key(&t.name),
            None => true,
        })
        .filter(|t| !updates.contains_key(&t.name))
        .collect()
}

fn json_report(states: &[Arc<FileState>], shared: &Shared, args: &Arguments) -> JsonReport {
    let mut tests = Vec::new();
    for state in states {
        let file = &state.file.relative;
        let listed: Vec<(String, Option<u32>, bool)> = match &state.tests {
            Ok(t) => t
                .iter()
                .map(|t| (t.name.clone(), t.line, t.ignore))
                .collect(),
            Err(_) => vec![("(load)".to_owned(), None, false)],
        };
        for (name, line, ignore) in listed {
            if let Some(r) = shared
                .records
                .get(&(record_file(state), name.clone(), line))
            {
                tests.push(r.clone());
            } else if selected(&state.full_name(&name), args) && (!args.ignored || ignore) {
                // Not run, yet chosen by the filters: ignored. (`--ignored`
                // filters out the tests not marked ignored, as libtest does.)
                tests.push(JsonTest {
                    file: file.clone(),
                    engine: state.launch.engine.name(),
                    name,
                    line,
                    status: "ignored",
                    message: None,
                    blocks: Vec::new(),
                    timings: None,
                });
            }
        }
    }
    JsonReport {
        runtime: shared.runtimes.values().next().cloned().unwrap_or_default(),
        runtimes: shared.runtimes.values().cloned().collect(),
        tests,
    }
}

/// Whether libtest's filter and `--skip` select a test name.
fn selected(name: &str, args: &Arguments) -> bool {
    let matches = |pattern: &str| {
        if args.exact {
            name == pattern
        } else {
            name.contains(pattern)
        }
    };
    args.filter.as_deref().is_none_or(matches) && !args.skip.iter().any(|s| matches(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_filter_never_picks_another_file() {
        let files = ["a.memtest.js", "sub/b.memtest.js"];
        assert_eq!(
            file_filter("a.memtest.js", files).as_deref(),
            Some("a.memtest.js::")
        );
        let files = ["a.memtest.js", "ba.memtest.js"];
        assert_eq!(file_filter("a.memtest.js", files), None);
        assert_eq!(
            file_filter("ba.memtest.js", files).as_deref(),
            Some("ba.memtest.js::")
        );
    }
}
